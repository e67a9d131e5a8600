// The sink of `record --every S --push URL`: in front of the window files
// (windows.h), it adds the push's counts to each window's comments
// (pystrobe.push=URL sent=N retried=R spooled=S dropped=D, as they were
// when the window closed), lets the files be written, and hands each
// closed window to a Pusher (push.h), which sends it from its own thread.
// The window file and the pushed window are the same profile.
//
//   PushSink sink(&windows, pusher.get(), target, who);
//   Recording(o).Run(stop, {}, &sink);
#ifndef PYSTROBE_RECORDER_PUSH_SINK_H_
#define PYSTROBE_RECORDER_PUSH_SINK_H_

#include <string>
#include <vector>

#include "pystrobe/recorder/push.h"
#include "pystrobe/recorder/recording.h"

namespace pystrobe {

class PushSink : public ProfileSink {
 public:
  // `files` (may be null) gets every write; `pusher` the closed windows.
  PushSink(ProfileSink* files, Pusher* pusher, PushTarget target,
           PushIdentity who)
      : files_(files),
        pusher_(pusher),
        target_(std::move(target)),
        who_(std::move(who)) {}

  void WindowClosing() override;
  absl::Status Write(const Profile& profile, bool final) override;
  absl::Status WriteFrom(const Sampler& sampler,
                         const std::vector<std::string>& comments,
                         bool final) override;

  // Windows handed to the pusher, and windows that could not be encoded.
  int pushed() const { return pushed_; }
  int unencodable() const { return unencodable_; }

 private:
  std::string CountsComment() const;
  void Push(const Profile& window);

  ProfileSink* files_;
  Pusher* pusher_;
  PushTarget target_;
  PushIdentity who_;
  bool closing_ = false;
  int pushed_ = 0;
  int unencodable_ = 0;
};

}  // namespace pystrobe

#endif  // PYSTROBE_RECORDER_PUSH_SINK_H_
