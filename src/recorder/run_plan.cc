#include "pystrobe/recorder/run_plan.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "pystrobe/recorder/windows.h"

namespace pystrobe {

const char* ArmName(Arm arm) { return arm == Arm::kBase ? "base" : "new"; }

std::array<Arm, 2> InterleavedOrder(int pair) {
  if (pair % 2 == 0) return {Arm::kBase, Arm::kNew};
  return {Arm::kNew, Arm::kBase};
}

SampleBudget::SampleBudget(SampleBudgetOptions options)
    : options_(options),
      rate_hz_(std::round(
          std::clamp(options.first_hz, options.min_hz, options.max_hz))),
      ceiling_hz_(options.max_hz) {}

void SampleBudget::Observe(const std::vector<SamplerStats>& runs) {
  double seconds = 0;
  int counted = 0;
  for (const SamplerStats& s : runs) {
    if (s.elapsed_ns <= 0) continue;
    seconds += static_cast<double>(s.elapsed_ns) / 1e9;
    ++counted;
    const double achieved = s.achieved_rate_hz();
    if (s.requested_rate_hz > 0 &&
        achieved < (1 - options_.shortfall) * s.requested_rate_hz) {
      // What the machine delivered is what asking for more would deliver.
      ceiling_hz_ = std::max(options_.min_hz, std::min(ceiling_hz_, achieved));
    }
  }
  if (counted == 0) return;  // nothing sampled: keep the rate
  seconds /= counted;
  const double wanted =
      seconds > 0 ? options_.samples / seconds : options_.max_hz;
  rate_hz_ = std::round(std::clamp(wanted, options_.min_hz,
                                   std::max(options_.min_hz, ceiling_hz_)));
}

RunPlan::RunPlan(RunPlanOptions options) : options_(options) {}

bool RunPlan::Continue(double seconds,
                       const std::function<Decision()>& decided) {
  ++runs_done_;
  spent_s_ += seconds;
  undecided_ = false;
  if (!options_.auto_runs) return runs_done_ < options_.runs;
  if (runs_done_ >= options_.min_runs_to_decide && decided) {
    switch (decided()) {
      case Decision::kConclusive:
        reason_ = StopReason::kConclusive;
        return false;
      case Decision::kOverloaded:
        reason_ = StopReason::kOverloaded;
        return false;
      case Decision::kUndecided:
        undecided_ = true;
        break;
    }
  }
  if (runs_done_ >= options_.runs) {
    reason_ = StopReason::kLimit;
    return false;
  }
  const double mean = spent_s_ / runs_done_;
  if (spent_s_ + mean > options_.budget_s) {
    reason_ = StopReason::kBudget;
    return false;
  }
  return true;
}

const char* RunPlan::ReasonName() const {
  switch (reason_) {
    case StopReason::kPlanned:
      return "planned";
    case StopReason::kConclusive:
      return "conclusive";
    case StopReason::kOverloaded:
      return "overloaded";
    case StopReason::kBudget:
      return "budget";
    case StopReason::kLimit:
      return "limit";
  }
  return "planned";
}

std::string RunPlan::Describe() const {
  const std::string runs =
      absl::StrCat(runs_done_, " ", options_.interleaved ? "pair" : "run",
                   runs_done_ == 1 ? "" : "s");
  const std::string still =
      undecided_ ? ": still inconclusive"
                 : absl::StrCat(" (a verdict needs ",
                                options_.min_runs_to_decide, ")");
  switch (reason_) {
    case StopReason::kPlanned:
      return "";
    case StopReason::kConclusive:
      return absl::StrCat("conclusive after ", runs);
    case StopReason::kOverloaded:
      return absl::StrCat("stopped after ", runs,
                          ": the machine is overloaded, and an overloaded "
                          "recording is not judged however many runs it has");
    case StopReason::kBudget:
      return absl::StrCat("budget of ",
                          absl::StrFormat("%g", options_.budget_s),
                          " s spent after ", runs, still);
    case StopReason::kLimit:
      return absl::StrCat("limit of ", options_.runs, " ",
                          options_.interleaved ? "pairs" : "runs",
                          " reached: still inconclusive");
  }
  return "";
}

std::string BaseOutputPath(const std::string& output) {
  return InsertBeforeExtension(output, "base");
}

absl::StatusOr<std::vector<std::string>> SplitShellWords(
    const std::string& line) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;  // also true for an empty quoted word ('')
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else if (c == '\'') {
      const size_t end = line.find('\'', i + 1);
      if (end == std::string::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("unbalanced ' in '", line, "'"));
      }
      word.append(line, i + 1, end - i - 1);
      in_word = true;
      i = end;
    } else if (c == '"') {
      size_t j = i + 1;
      for (; j < line.size() && line[j] != '"'; ++j) {
        if (line[j] == '\\' && j + 1 < line.size() &&
            std::string_view("\"\\$`\n").find(line[j + 1]) !=
                std::string_view::npos) {
          ++j;
          if (line[j] != '\n') word.push_back(line[j]);
        } else if (line[j] == '$' || line[j] == '`') {
          return absl::InvalidArgumentError(absl::StrCat(
              "'", line,
              "' asks for a shell's expansion ($ or `), which is not run: "
              "escape it, or use sh -c '...'"));
        } else {
          word.push_back(line[j]);
        }
      }
      if (j >= line.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("unbalanced \" in '", line, "'"));
      }
      in_word = true;
      i = j;
    } else if (c == '\\') {
      if (i + 1 < line.size()) {
        ++i;
        if (line[i] != '\n') word.push_back(line[i]);
      } else {
        word.push_back(c);
      }
      in_word = true;
    } else if (std::string_view("|&;<>()$`").find(c) !=
               std::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", line, "' uses the shell's '", std::string(1, c),
          "', but the command runs without a shell: quote it, or use "
          "sh -c '...'"));
    } else {
      word.push_back(c);
      in_word = true;
    }
  }
  if (in_word) words.push_back(std::move(word));
  if (words.empty()) return absl::InvalidArgumentError("an empty command");
  return words;
}

std::string NewInterleavedId() {
  std::random_device device;
  const uint64_t id = (static_cast<uint64_t>(device()) << 32) ^ device();
  return absl::StrFormat("%016x", id);
}

}  // namespace pystrobe
