#include "pystrobe/recorder/gate_sink.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "pystrobe/diff/profile_files.h"
#include "pystrobe/profile/formats.h"

namespace pystrobe {

GateSink::GateSink(GateOptions options, std::string base, std::string save_as,
                   std::string label)
    : options_(std::move(options)),
      base_(std::move(base)),
      save_as_(std::move(save_as)),
      label_(std::move(label)) {}

absl::Status GateSink::Check() const {
  if (base_.empty()) return absl::OkStatus();
  std::string label;
  return LoadBase(BaselineStore(options_.store), base_, options_.last, &label)
      .status();
}

absl::Status GateSink::WriteFrom(const Sampler& sampler,
                                 const std::vector<std::string>& comments,
                                 bool final) {
  // Only the final profile is compared or saved: checkpoints cost nothing.
  if (!final || (base_.empty() && save_as_.empty())) return absl::OkStatus();
  return Write(sampler.BuildProfile(comments), final);
}

void GateSink::CompareWithInterleavedBase(std::string base_label) {
  interleaved_label_ = std::move(base_label);
}

absl::Status GateSink::WritePair(const Profile& base, const Profile& now,
                                 bool final) {
  if (!final) return absl::OkStatus();
  if (!interleaved_label_.empty()) {
    LoadedProfile b;
    b.label = interleaved_label_;
    b.profile = base;
    LoadedProfile n;
    n.label = label_;
    n.profile = now;
    absl::StatusOr<GateOutcome> out =
        RunGate(options_, {std::move(b)}, interleaved_label_, n);
    if (!out.ok()) return out.status();
    outcome_ = *std::move(out);
  }
  return Save(now);
}

Decision GateSink::Decided(const Profile* base_so_far,
                           const Profile& now_so_far) {
  std::vector<LoadedProfile> bases;
  std::string base_label;
  if (base_so_far != nullptr && !interleaved_label_.empty()) {
    bases.emplace_back();
    bases.back().label = base_label = interleaved_label_;
    bases.back().profile = *base_so_far;
  } else if (!base_.empty()) {
    if (!stored_base_) {
      absl::StatusOr<std::vector<LoadedProfile>> loaded =
          LoadBase(BaselineStore(options_.store), base_, options_.last,
                   &stored_base_label_);
      // The final Write reports a bad BASE.
      if (!loaded.ok()) return Decision::kUndecided;
      stored_base_ = *std::move(loaded);
    }
    bases = *stored_base_;
    base_label = stored_base_label_;
  } else {
    return Decision::kUndecided;
  }
  LoadedProfile now;
  now.label = label_;
  now.profile = now_so_far;
  // Only the verdict is wanted: no flame graph, the shortest report.
  GateOptions quick = options_;
  quick.flamegraph.clear();
  quick.format = ReportFormat::kTable;
  quick.top = 1;
  quick.color = "never";
  absl::StatusOr<GateOutcome> out =
      RunGate(quick, std::move(bases), base_label, now);
  if (!out.ok()) return Decision::kUndecided;
  const Comparison& c = out->comparison;
  if (c.overloaded) return Decision::kOverloaded;
  if (c.failed || c.conclusive) return Decision::kConclusive;
  return Decision::kUndecided;
}

absl::Status GateSink::Write(const Profile& profile, bool final) {
  if (!final) return absl::OkStatus();
  LoadedProfile now;
  now.label = label_;
  now.profile = profile;
  if (!base_.empty()) {
    // Compare before saving, so that `--compare api --save api` compares
    // with the entries that were there before this one.
    absl::StatusOr<GateOutcome> out = RunGate(options_, base_, now);
    if (!out.ok()) return out.status();
    outcome_ = *std::move(out);
  }
  return Save(profile);
}

absl::Status GateSink::Save(const Profile& profile) {
  if (!save_as_.empty()) {
    absl::StatusOr<std::string> bytes = EncodePprof(profile);
    if (!bytes.ok()) return bytes.status();
    BaselineStore store(options_.store);
    absl::StatusOr<BaselineEntry> e =
        store.Save(save_as_, *bytes, MetadataFor(profile));
    if (!e.ok()) return e.status();
    saved_ = *std::move(e);
  }
  return absl::OkStatus();
}

void TeeSink::WindowClosing() {
  for (ProfileSink* s : sinks_) s->WindowClosing();
}

absl::Status TeeSink::Write(const Profile& profile, bool final) {
  for (ProfileSink* s : sinks_) {
    absl::Status st = s->Write(profile, final);
    if (!st.ok()) return st;
  }
  return absl::OkStatus();
}

absl::Status TeeSink::WritePair(const Profile& base, const Profile& now,
                                bool final) {
  for (ProfileSink* s : sinks_) {
    absl::Status st = s->WritePair(base, now, final);
    if (!st.ok()) return st;
  }
  return absl::OkStatus();
}

Decision TeeSink::Decided(const Profile* base_so_far,
                          const Profile& now_so_far) {
  for (ProfileSink* s : sinks_) {
    const Decision d = s->Decided(base_so_far, now_so_far);
    if (d != Decision::kUndecided) return d;
  }
  return Decision::kUndecided;
}

absl::Status TeeSink::WriteFrom(const Sampler& sampler,
                                const std::vector<std::string>& comments,
                                bool final) {
  for (ProfileSink* s : sinks_) {
    absl::Status st = s->WriteFrom(sampler, comments, final);
    if (!st.ok()) return st;
  }
  return absl::OkStatus();
}

}  // namespace pystrobe
