// The plan of a launched recording made for the gate: how many runs, in
// which order the arms of an interleaved recording go (`record
// --base-command`/`--base-dir`), at which rate each run samples (the sample
// budget, `--samples`), and when `--repeat auto` stops. Pure policy, no
// process: Recording (recording.h) asks it before and after every run.
//
//   SampleBudget budget({.samples = 2000});
//   RunPlan plan({.runs = 100, .interleaved = true, .auto_runs = true});
//   do {
//     const double hz = budget.rate_hz();      // both arms of the pair
//     for (Arm arm : InterleavedOrder(plan.runs_done())) ... run at hz ...
//     budget.Observe(stats_of_the_pair);
//   } while (plan.Continue(pair_seconds, [&] { return sink->Decided(...); }));
//   std::puts(plan.Describe().c_str());   // "conclusive after 7 pairs"
#ifndef PYSTROBE_RECORDER_RUN_PLAN_H_
#define PYSTROBE_RECORDER_RUN_PLAN_H_

#include <array>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "pystrobe/sampler/sampler.h"

namespace pystrobe {

// The two versions of the code an interleaved recording runs.
enum class Arm { kNew, kBase };
// "new", "base".
const char* ArmName(Arm arm);

// The order of the arms in pair `pair`: base first when `pair` is even, new
// first when it is odd (ABBA), so that a drift of the machine's speed that
// is linear in time charges both arms alike over every two pairs.
std::array<Arm, 2> InterleavedOrder(int pair);

// Whether more runs could change the verdict, as a sink judges it
// (ProfileSink::Decided).
enum class Decision {
  kUndecided,   // more runs may decide it
  kConclusive,  // FAIL, or OK/regressions with enough power
  kOverloaded,  // a side ran on an overloaded machine: never judged
};

struct SampleBudgetOptions {
  int samples = 2000;      // wanted per run
  double first_hz = 1000;  // before any run's length is known
  double min_hz = 100;
  double max_hz = 4000;
  // A run whose achieved rate fell short of its requested one by more than
  // this share lowers the ceiling to what it achieved.
  double shortfall = 0.2;
};

// The rate per run that gives each run about `samples` samples: the first
// at `first_hz`, each later one at samples / the previous run's sampled
// seconds, within [min_hz, max_hz] and under a ceiling that falls to the
// achieved rate whenever a run fell short (the machine's wake-ups cannot
// keep up; asking more only makes ticks late). Rates are whole Hz.
class SampleBudget {
 public:
  explicit SampleBudget(SampleBudgetOptions options);

  // For the next run (both arms of the next pair).
  double rate_hz() const { return rate_hz_; }
  // After a run, or a pair (each arm's stats): the sampled seconds are
  // their mean; a shortfall of any of them lowers the ceiling.
  void Observe(const std::vector<SamplerStats>& runs);
  // The ceiling so far (max_hz until a run fell short).
  double ceiling_hz() const { return ceiling_hz_; }

 private:
  SampleBudgetOptions options_;
  double rate_hz_;
  double ceiling_hz_;
};

struct RunPlanOptions {
  // Runs (pairs when interleaved) to make; with `auto_runs`, the most.
  int runs = 1;
  bool interleaved = false;
  // --repeat auto: runs are added until the sink has decided, the budget is
  // spent or `runs` is reached.
  bool auto_runs = false;
  double budget_s = 300;
  // The sink is first asked after this many runs (fewer cannot measure
  // run-to-run noise).
  int min_runs_to_decide = 3;
};

enum class StopReason {
  kPlanned,     // the runs asked for were made (or a signal stopped them)
  kConclusive,  // the sink decided
  kOverloaded,  // the sink said a side is overloaded: never judged
  kBudget,      // the next run would have exceeded the budget
  kLimit,       // the most runs --repeat auto makes
};

class RunPlan {
 public:
  explicit RunPlan(RunPlanOptions options);

  // After a run (a pair when interleaved) that took `seconds`: whether to
  // make another. In auto mode `decided` is asked from the
  // min_runs_to_decide'th run on, before the budget is looked at.
  bool Continue(double seconds, const std::function<Decision()>& decided);

  int runs_done() const { return runs_done_; }
  double seconds_spent() const { return spent_s_; }
  StopReason reason() const { return reason_; }
  // Whether `decided` was asked and said kUndecided after the last run.
  bool undecided() const { return undecided_; }
  // Why it stopped, for the summary: "conclusive after 7 pairs", "budget of
  // 300 s spent after 41 runs: still inconclusive", ... ("" when planned).
  std::string Describe() const;
  // For the profile's comment: "conclusive", "overloaded", "budget",
  // "limit" or "planned".
  const char* ReasonName() const;

 private:
  RunPlanOptions options_;
  int runs_done_ = 0;
  double spent_s_ = 0;
  StopReason reason_ = StopReason::kPlanned;
  bool undecided_ = false;
};

// The base arm's profile beside the new one's: ".base" before the
// extension ("out.pb.gz" -> "out.base.pb.gz", "dir/app.svg" ->
// "dir/app.base.svg", "out" -> "out.base").
std::string BaseOutputPath(const std::string& output);

// The words of a command line as a shell splits simple words: blanks
// separate, '...' is literal, "..." keeps blanks (a backslash escapes " \ $
// ` there), a backslash outside quotes escapes the next character. Shell
// features are refused, not run: an unquoted | & ; < > ( ) $ or ` is an
// InvalidArgument error, as are unbalanced quotes and an empty command.
absl::StatusOr<std::vector<std::string>> SplitShellWords(
    const std::string& line);

// 16 random hex digits naming one interleaved recording (both profiles).
std::string NewInterleavedId();

}  // namespace pystrobe

#endif  // PYSTROBE_RECORDER_RUN_PLAN_H_
