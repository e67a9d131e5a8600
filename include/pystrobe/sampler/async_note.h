// --async: whether a process's asyncio tasks could be read, tick after
// tick, and the one line the user is told when they could not.
//
// A reader's failure means different things at different times. While a
// process's tasks have never been read, it is why they cannot be (an
// interpreter pystrobe does not read tasks of, asyncio not imported yet, a
// container it cannot take apart): the user is told. Once they have been
// read, a failure is a moment: a torn read, or the interpreter clearing
// its modules as the process exits (every recycled gunicorn worker's last
// ticks). The next tick reads them again; the user is told only when most
// ticks since the first read failed.
//
//   AsyncReadNote note;
//   note.Add(python->ApplyTaskStacks(&threads, &names));  // every tick
//   ...
//   if (!note.Note().ok()) puts(note.Note().message());
#ifndef PYSTROBE_SAMPLER_ASYNC_NOTE_H_
#define PYSTROBE_SAMPLER_ASYNC_NOTE_H_

#include <cstdint>

#include "absl/status/status.h"

namespace pystrobe {

class AsyncReadNote {
 public:
  // The outcome of one tick's read of the tasks.
  void Add(const absl::Status& status);
  // OK when there is nothing to tell: the tasks were read (or never
  // tried). Else the last failure's status, its message the line to show;
  // once tasks were read, only when most ticks since then failed, with
  // how many ("... (in 80 of 100 ticks)").
  absl::Status Note() const;

 private:
  bool read_ = false;             // some tick read the tasks
  int64_t ticks_since_read_ = 0;  // ticks since the first read, it included
  int64_t failures_since_read_ = 0;
  absl::Status last_failure_;
};

}  // namespace pystrobe

#endif  // PYSTROBE_SAMPLER_ASYNC_NOTE_H_
