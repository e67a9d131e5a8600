#include "pystrobe/recorder/push_sink.h"

#include <cstdio>

#include "absl/strings/str_cat.h"

namespace pystrobe {

void PushSink::WindowClosing() {
  closing_ = true;
  if (files_ != nullptr) files_->WindowClosing();
}

std::string PushSink::CountsComment() const {
  return absl::StrCat("pystrobe.push=", target_.given, " ",
                      FormatPushCounts(pusher_->counts()));
}

void PushSink::Push(const Profile& window) {
  absl::StatusOr<SpooledWindow> request =
      BuildPushRequest(target_, who_, window);
  if (!request.ok()) {
    ++unencodable_;
    std::fprintf(stderr, "pystrobe: push: a window could not be encoded: %s\n",
                 std::string(request.status().message()).c_str());
    return;
  }
  pusher_->Enqueue(*std::move(request));
  ++pushed_;
}

absl::Status PushSink::Write(const Profile& profile, bool final) {
  const bool window_ends = closing_ || final;
  closing_ = false;
  Profile with_counts = profile;
  with_counts.comments.push_back(CountsComment());
  if (files_ != nullptr) {
    if (absl::Status s = files_->Write(with_counts, final); !s.ok()) return s;
  }
  // The end of a recording right after a window closed: nothing to add.
  if (window_ends && !(final && profile.samples.empty() && pushed_ > 0)) {
    Push(with_counts);
  }
  return absl::OkStatus();
}

absl::Status PushSink::WriteFrom(const Sampler& sampler,
                                 const std::vector<std::string>& comments,
                                 bool final) {
  const bool window_ends = closing_ || final;
  closing_ = false;
  std::vector<std::string> with_counts = comments;
  with_counts.push_back(CountsComment());
  if (files_ != nullptr) {
    if (absl::Status s = files_->WriteFrom(sampler, with_counts, final);
        !s.ok()) {
      return s;
    }
  }
  if (window_ends &&
      !(final && sampler.window_stats().ticks == 0 && pushed_ > 0)) {
    Push(sampler.BuildProfile(with_counts));
  }
  return absl::OkStatus();
}

}  // namespace pystrobe
