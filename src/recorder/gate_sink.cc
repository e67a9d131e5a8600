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

absl::Status TeeSink::Write(const Profile& profile, bool final) {
  for (ProfileSink* s : sinks_) {
    absl::Status st = s->Write(profile, final);
    if (!st.ok()) return st;
  }
  return absl::OkStatus();
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
