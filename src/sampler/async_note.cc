#include "pystrobe/sampler/async_note.h"

#include "absl/strings/str_cat.h"

namespace pystrobe {

void AsyncReadNote::Add(const absl::Status& status) {
  if (status.ok()) read_ = true;
  if (read_) ++ticks_since_read_;
  if (status.ok()) return;
  last_failure_ = status;
  if (read_) ++failures_since_read_;
}

absl::Status AsyncReadNote::Note() const {
  if (last_failure_.ok()) return absl::OkStatus();
  if (!read_) return last_failure_;
  if (failures_since_read_ * 2 <= ticks_since_read_) return absl::OkStatus();
  return absl::Status(
      last_failure_.code(),
      absl::StrCat(last_failure_.message(), " (in ", failures_since_read_,
                   " of ", ticks_since_read_, " ticks)"));
}

}  // namespace pystrobe
