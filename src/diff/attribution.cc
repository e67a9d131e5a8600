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

int GroupRegressions(
    const Growth& growth,
    const absl::flat_hash_map<FunctionKey, std::vector<FunctionKey>>& paths,
    std::vector<FunctionDiff>* rows) {
  int regressions = 0;
  // A self-time regression of a helper X shared by several callers,
  // whose growth came through one of them (X called more from
  // render_page, its other callers unchanged), is that call's growth:
  // the caller heads the group, X is affected, as the code that changed
  // is the caller's.
  absl::flat_hash_map<FunctionKey, FunctionKey> through_one_caller;
  {
    absl::flat_hash_map<FunctionKey, std::pair<FunctionKey, double>> top;
    absl::flat_hash_map<FunctionKey, double> grown;
    absl::flat_hash_map<FunctionKey, int> callers;
    for (const auto& [caller, callees] : growth.calls) {
      for (const auto& [callee, g] : callees) {
        if (!(caller == callee)) ++callers[callee];
        if (!(g > 0) || caller == callee) continue;
        grown[callee] += g;
        auto [it, fresh] = top.try_emplace(callee, caller, g);
        if (!fresh && g > it->second.second) it->second = {caller, g};
      }
    }
    for (const FunctionDiff& d : *rows) {
      if (d.verdict != Verdict::kRegression || d.decided_by != Metric::kSelf) {
        continue;
      }
      // Only a helper shared by several callers: a function with one
      // caller that got slower is its own regression (beta +50% self,
      // not main's).
      auto t = top.find(d.key);
      if (t == top.end() || callers[d.key] < 2 ||
          t->second.second < 0.8 * grown[d.key]) {
        continue;
      }
      auto caller_path = paths.find(t->second.first);
      if (caller_path != paths.end() && caller_path->second.back() == d.key) {
        through_one_caller.emplace(d.key, t->second.first);
      }
    }
  }
  absl::flat_hash_map<FunctionKey, FunctionDiff*> head;
  for (FunctionDiff& d : *rows) {
    if (d.verdict != Verdict::kRegression) continue;
    const std::vector<FunctionKey>& path = paths.at(d.key);
    FunctionDiff*& h = head[path.back()];
    auto rank = [&](const FunctionDiff* x) {
      if (x->decided_by == Metric::kSelf) {
        return through_one_caller.contains(x->key) ? 1000 : 0;
      }
      return static_cast<int>(paths.at(x->key).size());
    };
    if (h == nullptr || rank(&d) < rank(h)) h = &d;
  }
  for (FunctionDiff& d : *rows) {
    if (d.verdict != Verdict::kRegression) continue;
    FunctionDiff* h = head.at(paths.at(d.key).back());
    if (h == &d) {
      ++regressions;
    } else {
      d.affected = true;
      d.explained_by = h->key.name;
    }
  }
  return regressions;
}

}  // namespace pystrobe::diff
