// The sinks of `record --compare BASE` and `record --save NAME`: the final
// profile of a recording goes through the regression gate (pystrobe/diff/
// gate.h) and/or into the baseline store, so that one command in CI records,
// compares and sets the exit status.
//
//   GateSink gate(options, "api", /*save_as=*/"", "this run");
//   TeeSink sinks({&file_sink, &gate});
//   ... Recording(o).Run(stop, progress, &sinks) ...
//   std::fputs(gate.outcome()->report.c_str(), stdout);
#ifndef PYSTROBE_RECORDER_GATE_SINK_H_
#define PYSTROBE_RECORDER_GATE_SINK_H_

#include <optional>
#include <string>
#include <vector>

#include "pystrobe/diff/baseline_store.h"
#include "pystrobe/diff/gate.h"
#include "pystrobe/recorder/recording.h"

namespace pystrobe {

class GateSink : public ProfileSink {
 public:
  // `base` empty: no comparison; `save_as` empty: no save. `label` names the
  // recording in the report.
  GateSink(GateOptions options, std::string base, std::string save_as,
           std::string label);

  // An interleaved recording (record --base-command/--base-dir): the new
  // arm's profile is compared with the base arm's (WritePair), and
  // `base_label` ("base (interleaved: CMD)") names it in the report.
  void CompareWithInterleavedBase(std::string base_label);

  // Before recording: BASE can be read (a file, or a baseline with
  // entries), so that a typo fails now and not after the runs.
  absl::Status Check() const;

  // Checkpoints are ignored; the final profile is saved (first, so that a
  // comparison with the same baseline compares with what was there before
  // only when BASE is a different name) and compared. A bad BASE is an
  // InvalidArgument error.
  absl::Status Write(const Profile& profile, bool final) override;
  absl::Status WriteFrom(const Sampler& sampler,
                         const std::vector<std::string>& comments,
                         bool final) override;
  // Interleaved: `now` is compared with `base` and saved (with --save).
  absl::Status WritePair(const Profile& base, const Profile& now,
                         bool final) override;
  // --repeat auto: the comparison of the runs so far (without its flame
  // graph), decided when it FAILs, is conclusive, or is not judged because
  // a side was overloaded. A BASE from the store is read once.
  Decision Decided(const Profile* base_so_far,
                   const Profile& now_so_far) override;

  // After the final Write: the gate's outcome (when comparing) and the
  // saved entry (when saving).
  const std::optional<GateOutcome>& outcome() const { return outcome_; }
  const std::optional<BaselineEntry>& saved() const { return saved_; }

 private:
  absl::Status Save(const Profile& profile);

  GateOptions options_;
  std::string base_;
  std::string save_as_;
  std::string label_;
  std::string interleaved_label_;  // non-empty: compare with the base arm
  // BASE from the store, read by the first Decided.
  std::optional<std::vector<LoadedProfile>> stored_base_;
  std::string stored_base_label_;
  std::optional<GateOutcome> outcome_;
  std::optional<BaselineEntry> saved_;
};

// Hands every profile to each sink in turn; stops at the first error.
class TeeSink : public ProfileSink {
 public:
  explicit TeeSink(std::vector<ProfileSink*> sinks)
      : sinks_(std::move(sinks)) {}
  absl::Status Write(const Profile& profile, bool final) override;
  absl::Status WriteFrom(const Sampler& sampler,
                         const std::vector<std::string>& comments,
                         bool final) override;
  absl::Status WritePair(const Profile& base, const Profile& now,
                         bool final) override;
  void WindowClosing() override;
  // The first sink's answer that is not kUndecided.
  Decision Decided(const Profile* base_so_far,
                   const Profile& now_so_far) override;

 private:
  std::vector<ProfileSink*> sinks_;
};

}  // namespace pystrobe

#endif  // PYSTROBE_RECORDER_GATE_SINK_H_
