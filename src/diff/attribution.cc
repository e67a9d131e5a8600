#include "attribution.h"

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace pystrobe::diff {
namespace {

double SelfGrowth(const Growth& g, const FunctionKey& f) {
  auto it = g.self.find(f);
  return it == g.self.end() ? 0 : it->second;
}

}  // namespace

Explanation ExplainGrowth(const FunctionKey& f, Metric decided_by,
                          const Growth& growth) {
  if (decided_by == Metric::kSelf) {
    return {absl::StrCat("self time grew in ", f.name), {f}};
  }
  std::vector<const FunctionKey*> path = {&f};
  absl::flat_hash_set<FunctionKey> visited = {f};
  const FunctionKey* current = &f;
  // Bounded: a path longer than this is a recursion the visited set missed.
  for (int depth = 0; depth < 64; ++depth) {
    const double own = SelfGrowth(growth, *current);
    const FunctionKey* next = nullptr;
    double best = 0;
    auto it = growth.calls.find(*current);
    if (it != growth.calls.end()) {
      for (const auto& [callee, grew] : it->second) {
        if (grew > best && !visited.contains(callee)) {
          best = grew;
          next = &callee;
        }
      }
    }
    if (next == nullptr || own >= best) break;
    visited.insert(*next);
    path.push_back(next);
    current = next;
  }
  std::vector<FunctionKey> keys;
  keys.reserve(path.size());
  for (const FunctionKey* k : path) keys.push_back(*k);
  if (path.size() == 1) {
    return {absl::StrCat("self time grew in ", f.name), std::move(keys)};
  }
  std::string out = absl::StrCat("time grew in ", path.back()->name,
                                 " called from ", path[path.size() - 2]->name);
  if (path.size() > 2) {
    std::vector<std::string> names;
    names.reserve(path.size());
    for (const FunctionKey* k : path) names.push_back(k->name);
    absl::StrAppend(&out, " (", absl::StrJoin(names, " -> "), ")");
  }
  return {std::move(out), std::move(keys)};
}

}  // namespace pystrobe::diff
