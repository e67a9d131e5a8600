#include "pystrobe/sampler/sampler.h"

#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <time.h>
#include <cerrno>

#include <algorithm>
#include <cmath>
#include <optional>
#include <random>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "pystrobe/base/clock.h"
#include "pystrobe/base/errors.h"
#include "pystrobe/base/status_macros.h"
#include "pystrobe/process/proc_fs.h"
#include "pystrobe/process/ptrace.h"

namespace pystrobe {

Sampler::Sampler(PythonProcess* python, SamplerOptions options)
    : python_(python),
      options_(options),
      process_(ProcFs().CommandLine(python->pid()).value_or("")),
      monitor_(python->pid()),
      // Time batches of 1 s, doubled whenever a recording outgrows 32 of
      // them. pystrobe-diff estimates variance from them; shorter batches
      // (tried: 100 ms) made its A/B gate test flaky, so recordings shorter
      // than a few seconds give it little power (docs/statistics.md).
      table_(1'000'000'000) {
  if (options_.native) options_.blocking = true;
  // --blocking stops every thread at each tick, and each is scheduled in
  // again when resumed: its schedstat says more about pystrobe than about
  // the target.
  // Wall mode under --gil reads nothing of any thread per tick (that is
  // what --gil is for: docs/sampling.md); the filter would add a pread of
  // the holder's schedstat per tick, and of every former holder's.
  filter_waits_ = options_.cpu_wait && !options_.blocking &&
                  !(options_.gil_only && options_.mode != WeightMode::kCpu);
}

void Sampler::CountError(const absl::Status& status) {
  ++stats_.errors;
  if (IsInconsistent(status)) {
    ++stats_.causes.torn;
  } else if (IsTaskTorn(status)) {
    ++stats_.causes.task;
  } else if (IsMemoryGone(status)) {
    ++stats_.causes.page_gone;
  } else if (IsProcessGone(status)) {
    ++stats_.causes.thread_exited;
  } else {
    ++stats_.causes.other;
  }
}

void Sampler::CountTaskError() {
  ++stats_.errors;
  ++stats_.causes.task;
}

namespace {

// A stack that a running thread changed under the reader: worth reading
// again at once.
bool Torn(const PyThread& t) {
  return IsInconsistent(t.status) || IsMemoryGone(t.status) ||
         IsTaskTorn(t.status);
}

}  // namespace

void Sampler::RereadTorn() {
  if (std::none_of(threads_.begin(), threads_.end(), Torn)) return;
  const bool tasks = options_.async_tasks && async_status_.ok();
  // Until the stacks are whole, kMaxRereads attempts, or a quarter of the
  // sampling period spent re-reading, whichever comes first: re-reads never
  // make the next tick late. Each attempt is ~30-50 us for a busy thread
  // on a 2-core VM, so at 100 Hz the attempts run out first.
  const int64_t budget_ns = static_cast<int64_t>(0.25e9 / options_.rate_hz);
  const int64_t start_ns = ClockNs(CLOCK_MONOTONIC);
  for (int attempt = 0; attempt < kMaxRereads; ++attempt) {
    if (attempt > 0 && ClockNs(CLOCK_MONOTONIC) - start_ns > budget_ns) return;
    // A snapshot again: its first read refreshes every page the torn walk
    // used, so nothing stale is served from the page cache. Threads read
    // well the first time keep their first stack, and are not walked again:
    // walking them (every idle thread too, in wall mode) delayed the torn
    // thread's walk behind theirs and doubled the pages of the batched read
    // (busy 3.13 threads: 12-17% of samples lost to tears, 5% without).
    // A thread new since the first read is skipped too: only threads_ keep
    // what a re-read finds. With --async the torn threads' tasks are read
    // again too (a stack and its task are read together); the task reader
    // passes over a skipped thread's empty stack, as it does at the first
    // read.
    const absl::Status read =
        python_->ReadThreads(&retry_, [this](const PyThread& r) {
          auto it = std::find_if(
              threads_.begin(), threads_.end(),
              [&](const PyThread& t) { return t.tstate == r.tstate; });
          return it == threads_.end() || !Torn(*it);
        });
    if (!read.ok()) return;
    if (tasks && !python_->ApplyTaskStacks(&retry_, &retry_names_).ok()) {
      return;
    }
    for (PyThread& t : threads_) {
      if (!Torn(t)) continue;
      ++stats_.rereads;
      auto again =
          std::find_if(retry_.begin(), retry_.end(),
                       [&](const PyThread& r) { return r.tstate == t.tstate; });
      if (again == retry_.end()) continue;  // gone meanwhile: keep the error
      t.status = again->status;
      if (!again->status.ok()) continue;
      std::swap(t.frames, again->frames);
      t.holds_gil = again->holds_gil;
      if (tasks) {
        task_names_[static_cast<size_t>(&t - threads_.data())] =
            retry_names_[static_cast<size_t>(again - retry_.begin())];
      }
      ++stats_.recovered;
    }
    if (std::none_of(threads_.begin(), threads_.end(), Torn)) return;
  }
}

void Sampler::ApplyTasks(bool read_all) {
  task_names_.assign(threads_.size(), std::string());
  if (read_all) {
    // Every task first: ReadTasks finds the running ones' frames on their
    // threads' own stacks, which ApplyTaskStacks then rewrites.
    absl::Status all = python_->ReadTasks(threads_, &tasks_);
    if (!all.ok()) {
      tasks_.tasks.clear();
      if (!IsInconsistent(all) && !IsMemoryGone(all)) {
        async_status_ = all;
        async_note_.Add(async_status_);
        tasks_listed_ = false;
        return;
      }
      // asyncio's lists tore while read: this tick's waiting tasks are
      // lost, one error (their number is not known). Counted where the
      // lists were read at the tick before: a failure that lasts (a torn
      // lookup is retried after a second) counts once, not every tick.
      if (tasks_listed_) {
        CountTaskError();
      }
    }
    tasks_listed_ = all.ok();
  }
  async_status_ = python_->ApplyTaskStacks(&threads_, &task_names_);
  async_note_.Add(async_status_);
}

void Sampler::Record(pid_t tid, const HeldSample& sample, bool waiting) {
  StackKey key = sample.key;
  // The batch as numbered now: batches may have merged while it was held.
  if (sample.has_key) key.batch = table_.BatchFor(sample.elapsed_ns);
  if (options_.mode == WeightMode::kCpu) {
    ThreadClock clock = sample.clock;
    clock.at_ns = sample.elapsed_ns;
    clock.waiting_for_cpu = waiting && clock.state == 'R';
    if (!sample.has_key) {
      cpu_.Observe(tid, clock, nullptr);
      return;
    }
    if (cpu_.Observe(tid, clock, &key)) {
      ++stats_.samples;
      if (sample.unmerged) ++stats_.causes.native;
    } else if (clock.waiting_for_cpu) {
      ++stats_.cpu_wait;
    }
    return;
  }
  if (waiting) {
    key.flags |= kFlagCpuWait;
    ++stats_.cpu_wait;
  }
  table_.Add(key, 1, sample.weight_ns);
  ++stats_.samples;
  if (sample.unmerged) ++stats_.causes.native;
}

void Sampler::ReleaseHeld(int64_t elapsed_ns) {
  if (!filter_waits_) return;
  auto record = [this](pid_t tid, const HeldSample& s, bool waiting) {
    Record(tid, s, waiting);
  };
  // A last reading settles what it can; the rest goes as running.
  for (pid_t tid : waits_.ThreadsHolding()) {
    absl::StatusOr<ThreadSnapshot> acct = monitor_.ReadAccounting(tid);
    if (!acct.ok() || !acct->has_run_count) continue;
    const SchedReading reading{acct->cpu_ns, acct->wait_ns, acct->run_count};
    waits_.Observe(tid, '?', elapsed_ns, &reading, record);
  }
  waits_.Flush(record);
}

void Sampler::CloseCpuWindow() {
  cpu_.CloseWindow([this](const StackKey& key, int64_t count, int64_t cpu) {
    table_.Add(key, count, cpu);
  });
}

absl::Status Sampler::MergeNative(const PtraceSuspension& stop) {
  if (native_ == nullptr) {
    PYSTROBE_ASSIGN_OR_RETURN(
        native_,
        NativeStacks::Create(*python_, {.keep_all = options_.native_all}));
  }
  const std::vector<pid_t>& stopped = stop.threads();
  // A sleeping thread is charged no CPU: only wall mode records it.
  const bool sleepers = options_.mode != WeightMode::kCpu;
  unmerged_.clear();
  for (PyThread& t : threads_) {
    if (!t.status.ok()) continue;
    NativeOutcome outcome;
    if (std::binary_search(stopped.begin(), stopped.end(), t.native_id)) {
      outcome = native_->Merge(&t);
    } else {
      const PtraceSuspension::Sleeper* s = stop.FindSleeper(t.native_id);
      if (!sleepers || s == nullptr) continue;
      // Read after its Python frames: if it woke in between, the file
      // says "running" or names where it sleeps now (and the suspension
      // says it ran, so its sample is discarded as woke).
      absl::StatusOr<SyscallState> call = monitor_.ReadSyscall(t.native_id);
      outcome = call.ok() ? native_->MergeSleeping(&t, *call, s->run_count)
                          : NativeOutcome::kUnwindFailed;
    }
    if (outcome != NativeOutcome::kMerged) unmerged_.push_back(t.native_id);
  }
  if (sleepers) native_->KeepSleepers(stop);
  std::sort(unmerged_.begin(), unmerged_.end());
  return absl::OkStatus();
}

void Sampler::ReadStatesBeforeStacks() {
  // cpu mode judges a sample by the thread's state, and the state is a
  // moment apart from the stack. Read after the stacks (and the tasks, and
  // every other thread), it missed the work an event loop does between
  // waking and sleeping whenever the thread fell asleep in between: burn
  // read 1 to 3 points high against 7% of loop work (docs/sampling.md).
  // Read right before them (the stacks come in one batched read at the
  // start of ReadThreads), the gap is a few system calls. Threads new at
  // this tick are read after, as before.
  states_before_.clear();
  for (const PyThread& t : threads_) {
    if (t.native_id == 0) continue;
    absl::StatusOr<char> state = monitor_.ReadState(t.native_id);
    if (state.ok()) states_before_.emplace_back(t.native_id, *state);
  }
  std::sort(states_before_.begin(), states_before_.end());
}

std::optional<char> Sampler::StateBeforeStack(pid_t tid) const {
  auto it = std::lower_bound(states_before_.begin(), states_before_.end(),
                             std::make_pair(tid, '\0'));
  if (it == states_before_.end() || it->first != tid) return std::nullopt;
  return it->second;
}

absl::Status Sampler::TakeSample(int64_t elapsed_ns, int64_t wall_weight_ns) {
  elapsed_ns -= window_origin_ns_;  // time batches count from the window
  std::optional<PtraceSuspension> stop;
  if (options_.blocking) {
    // Sleeping threads are left running (interrupting their system calls
    // has effects the target can see; see ptrace.h) and vouched for below.
    absl::StatusOr<PtraceSuspension> s =
        PtraceSuspension::Suspend(python_->pid(), {.leave_sleepers = true});
    if (!s.ok()) return s.status();
    stop.emplace(*std::move(s));
  }
  // Scheduling state is read after the stacks (and after resuming in
  // blocking mode, where a thread may still read as stopped, 't': there
  // the suspension says which threads were running), except in cpu mode,
  // where it is read right before them for the threads already known.
  const bool cpu_mode = options_.mode == WeightMode::kCpu;
  if (cpu_mode && !stop) ReadStatesBeforeStacks();
  // Wall mode without --idle, not stopping the target: a thread without
  // the GIL has its state read first, and its stack is not read at all
  // when it sleeps (it would be dropped as idle). For a server whose
  // workers mostly wait in accept() or select() that walk was most of
  // the tick; the state read was made after the walk anyway. A thread
  // that falls asleep between the two reads is sampled as running, as one
  // that woke between them was dropped before.
  // With --gil (wall mode) a thread without the GIL is not wanted at
  // all: neither its state nor its stack is read.
  early_state_.clear();
  const bool gil_only = options_.gil_only;
  const bool skip_unwanted =
      !cpu_mode && !options_.blocking && (gil_only || !options_.include_idle);
  absl::Status read =
      skip_unwanted
          ? python_->ReadThreads(
                &threads_,
                [this, gil_only](const PyThread& t) {
                  if (t.holds_gil) return false;
                  if (gil_only) return true;
                  absl::StatusOr<char> state = monitor_.ReadState(t.native_id);
                  if (!state.ok()) return false;
                  early_state_.emplace_back(t.native_id, *state);
                  return *state != 'R';
                })
          : python_->ReadThreads(&threads_);
  woke_.clear();
  stopped_.clear();
  // --async: threads running an asyncio task get the task's logical stack
  // (read while the target is still stopped, with --blocking; without it
  // before torn stacks are read again, so that a thread whose task tore is
  // read again too).
  const bool tasks = options_.async_tasks && read.ok();
  if (!tasks) task_names_.assign(threads_.size(), std::string());
  const bool read_all_tasks = options_.async_waiting && !cpu_mode;
  if (stop) {
    absl::Status merged = absl::OkStatus();
    if (options_.native && read.ok()) merged = MergeNative(*stop);
    if (tasks) ApplyTasks(read_all_tasks);
    woke_ = stop->SleepersThatRan();
    // Resume() forgets them; kept in a member that keeps its capacity.
    stopped_.assign(stop->threads().begin(), stop->threads().end());
    stop->Resume();
    PYSTROBE_RETURN_IF_ERROR(merged);
  } else if (read.ok()) {
    if (tasks) ApplyTasks(read_all_tasks);
    RereadTorn();
  }
  if (!read.ok()) return read;
  ++stats_.ticks;
  if (cpu_mode) {
    // Attribution windows of at most a second, never across a time batch
    // (a batch merge renumbers the keys).
    const int64_t raw_batch = elapsed_ns / table_.batch_ns();
    if (raw_batch != cpu_window_batch_ ||
        elapsed_ns - cpu_window_start_ns_ >= 1'000'000'000) {
      CloseCpuWindow();
      cpu_window_start_ns_ = elapsed_ns;
      cpu_window_batch_ = raw_batch;
    }
  }
  const uint32_t batch = table_.BatchFor(elapsed_ns);
  size_t next_early = 0;
  // Wait-aware samples: a sample of a runnable thread is held until a later
  // schedstat reading says whether it waited for a CPU then (Record).
  const bool filter = filter_waits_;
  auto record = [this](pid_t tid, const HeldSample& s, bool waiting) {
    Record(tid, s, waiting);
  };
  for (const PyThread& t : threads_) {
    const bool woke = !woke_.empty() && std::find(woke_.begin(), woke_.end(),
                                                  t.native_id) != woke_.end();
    // One or two procfs reads per thread and tick, of what the mode needs:
    // with many threads these reads are most of a tick's cost.
    bool idle = false;
    ThreadClock clock;
    bool have_clock = false;
    // What the wait filter learns of this thread at this tick: its state
    // ('R', '?' not known, else not runnable; 0: nothing) and schedstat.
    char filter_state = 0;
    SchedReading reading;
    const SchedReading* have_reading = nullptr;
    auto read_schedstat = [&] {
      absl::StatusOr<ThreadSnapshot> acct =
          monitor_.ReadAccounting(t.native_id);
      if (acct.ok() && acct->has_run_count) {
        reading = {acct->cpu_ns, acct->wait_ns, acct->run_count};
        have_reading = &reading;
      }
    };
    if (cpu_mode) {
      if (t.native_id == 0) continue;
      absl::StatusOr<ThreadSnapshot> acct =
          monitor_.ReadAccounting(t.native_id);
      absl::StatusOr<char> state = 'S';
      if (stop) {
        state =
            std::binary_search(stopped_.begin(), stopped_.end(), t.native_id)
                ? 'R'
                : 'S';
      } else if (std::optional<char> before = StateBeforeStack(t.native_id)) {
        state = *before;
      } else {
        state = monitor_.ReadState(t.native_id);
      }
      if (!acct.ok() || !state.ok()) {
        // Exited since its stack was read.
        if (!t.status.ok()) {
          ++stats_.errors;
          ++stats_.causes.thread_exited;
        }
        continue;
      }
      clock = {*state, acct->cpu_ns, t.holds_gil};
      have_clock = true;
      // cpu mode reads schedstat anyway: the filter costs no syscall.
      filter_state = *state;
      if (acct->has_run_count) {
        reading = {acct->cpu_ns, acct->wait_ns, acct->run_count};
        have_reading = &reading;
      }
    } else if (options_.blocking) {
      // A stopped thread reads as 't'; whether it ran since the last tick
      // is what its CPU time says.
      absl::StatusOr<uint64_t> cpu = t.native_id != 0
                                         ? monitor_.ReadCpu(t.native_id)
                                         : absl::StatusOr<uint64_t>();
      if (cpu.ok()) {
        auto [it, first] = last_cpu_ns_.try_emplace(t.native_id, *cpu);
        idle = !first && *cpu == it->second;
        it->second = *cpu;
      }
    } else if (t.native_id != 0 && t.holds_gil && python_->gil_enabled()) {
      // The GIL holder runs Python (or C code that kept the GIL): not idle,
      // and no read of its state. That read (a pread of stat, ~3 us of
      // kernel time, more than the whole walk of a 100-deep stack) was a
      // third of a single-threaded target's tick. A holder blocked in the
      // kernel with the GIL held stalls every other thread: that is worth
      // seeing. The wait filter reads its schedstat (one pread): a holder
      // preempted at a system call's return waits there with the GIL.
      if (filter) {
        filter_state = 'R';
        read_schedstat();
      }
    } else if (t.skipped) {
      // Asleep when its state was read, or without the GIL under --gil:
      // its stack was not read.
      if (!options_.gil_only && next_early < early_state_.size() &&
          early_state_[next_early].first == t.native_id) {
        ++next_early;
      }
      if (filter && t.native_id != 0) {
        // Asleep: that settles its held samples without a reading. Under
        // --gil its state was not read: schedstat only if it holds some.
        const char state = options_.gil_only ? '?' : 'S';
        if (waits_.WantsReading(t.native_id, state)) read_schedstat();
        waits_.Observe(t.native_id, state, elapsed_ns, have_reading, record);
      }
      if (options_.gil_only) continue;
      idle = true;
    } else if (t.native_id != 0) {
      // early_state_ is in the threads' order.
      const bool early = next_early < early_state_.size() &&
                         early_state_[next_early].first == t.native_id;
      absl::StatusOr<char> state =
          early ? absl::StatusOr<char>(early_state_[next_early++].second)
                : monitor_.ReadState(t.native_id);
      if (!state.ok() && !t.status.ok()) {
        ++stats_.errors;
        ++stats_.causes.thread_exited;
        continue;
      }
      idle = state.ok() && *state != 'R';
      const bool wanted_here = !options_.gil_only || t.holds_gil;
      if (filter && state.ok() && wanted_here) {
        filter_state = *state;
        if (*state == 'R') read_schedstat();
      }
    }
    // A look that records no sample still tells the filter what it saw.
    auto observe_only = [&] {
      if (filter && filter_state != 0) {
        waits_.Observe(t.native_id, filter_state, elapsed_ns, have_reading,
                       record);
      }
    };
    // Which samples are wanted at all: in cpu mode the attribution decides
    // (below), in wall mode idle threads go unless --idle.
    if (!cpu_mode && idle && !options_.include_idle) {
      observe_only();
      continue;
    }
    const bool wanted = !options_.gil_only || t.holds_gil;
    bool readable = wanted && !t.frames.empty();
    if (wanted && woke) {
      ++stats_.errors;  // it ran while its stack was read: maybe torn
      ++stats_.causes.woke;
      readable = false;
    } else if (wanted && !t.status.ok()) {
      // In cpu mode only a thread that was running would have been
      // recorded; one asleep is not an error of what the profile shows.
      if (!cpu_mode || clock.state == 'R') CountError(t.status);
      readable = false;
    }
    HeldSample sample;
    sample.elapsed_ns = elapsed_ns;
    sample.weight_ns = wall_weight_ns;
    sample.clock = clock;
    if (!readable) {
      if (have_clock) {
        // Its CPU still counts, in order with the thread's other looks.
        if (filter) {
          waits_.Add(t.native_id, filter_state, have_reading, sample, record);
        } else {
          cpu_.Observe(t.native_id, clock, nullptr);
        }
      } else {
        observe_only();
      }
      continue;
    }
    const size_t index = static_cast<size_t>(&t - threads_.data());
    uint32_t thread = table_.InternThread(
        t.native_id, t.thread_id, monitor_.Name(t.native_id),
        index < task_names_.size() ? task_names_[index] : kNoTask);
    uint32_t stack = table_.InternThreadStack(thread, t.frames, options_.lines);
    uint8_t flags = (t.holds_gil ? kFlagGil : 0) | (idle ? kFlagIdle : 0);
    sample.key = StackKey{stack, thread, batch, flags};
    sample.has_key = true;
    // Recorded with its Python frames only.
    sample.unmerged =
        options_.native &&
        std::binary_search(unmerged_.begin(), unmerged_.end(), t.native_id);
    // In cpu mode recorded when the attribution window closes, with its
    // share of the CPU; in wall mode now, or when the filter lets it go.
    if (filter && filter_state != 0) {
      waits_.Add(t.native_id, filter_state, have_reading, sample, record);
    } else {
      Record(t.native_id, sample, false);
    }
  }
  if (filter) waits_.EndTick(elapsed_ns, record);
  if (options_.async_waiting && !cpu_mode && async_status_.ok()) {
    RecordWaitingTasks(batch, wall_weight_ns);
  }
  if (stats_.ticks % 64 == 0) monitor_.ForgetUnused();
  return absl::OkStatus();
}

void Sampler::RecordWaitingTasks(uint32_t batch, int64_t wall_weight_ns) {
  task_by_address_.clear();
  for (const AsyncTask& t : tasks_.tasks) task_by_address_[t.address] = &t;
  tid_by_thread_id_.clear();
  for (const PyThread& th : threads_) {
    tid_by_thread_id_[th.thread_id] = th.native_id;
  }
  for (const AsyncTask& t : tasks_.tasks) {
    if (!t.status.ok()) {
      // Its state is not known either: one error, as a thread's torn stack.
      CountTaskError();
      continue;
    }
    if (t.state != TaskState::kPending || t.frames.empty()) continue;
    // Its chain, then each awaiter's up to the root task (the first
    // awaiter where there are several; a ring ends the walk).
    waiting_stack_.assign(t.frames.begin(), t.frames.end());
    const AsyncTask* at = &t;
    bool whole = true;
    for (int hop = 0; hop < 256 && !at->awaited_by.empty(); ++hop) {
      auto it = task_by_address_.find(at->awaited_by.front());
      if (it == task_by_address_.end() || it->second == &t) break;
      at = it->second;
      if (!at->status.ok()) {
        whole = false;  // never a part of its logical stack
        break;
      }
      waiting_stack_.insert(waiting_stack_.end(), at->frames.begin(),
                            at->frames.end());
    }
    if (!whole) {
      CountTaskError();
      continue;
    }
    // Under the thread whose list holds it (0: its thread exited).
    auto found = tid_by_thread_id_.find(t.thread_id);
    const pid_t tid = found == tid_by_thread_id_.end() ? 0 : found->second;
    const uint32_t thread = table_.InternThread(
        tid, t.thread_id, tid != 0 ? monitor_.Name(tid) : kNoTask, t.name);
    const uint32_t stack = table_.InternStack(waiting_stack_, options_.lines);
    table_.Add(StackKey{stack, thread, batch, kFlagIdle}, 1, wall_weight_ns);
    ++stats_.samples;
  }
}

void Sampler::Begin(int64_t start_unix_ns) {
  start_unix_ns_ = start_unix_ns;
  stats_.requested_rate_hz = options_.rate_hz;
}

absl::Status Sampler::Tick(int64_t elapsed_ns, int64_t wall_weight_ns) {
  if (stats_.target_exited) return absl::OkStatus();
  stats_.elapsed_ns = elapsed_ns;
  absl::Status status = TakeSample(elapsed_ns, wall_weight_ns);
  if (status.ok()) return status;
  if (IsProcessGone(status)) {
    stats_.target_exited = true;
    return absl::OkStatus();
  }
  if (IsMemoryGone(status) || IsInconsistent(status)) {
    CountError(status);
    return absl::OkStatus();
  }
  return status;
}

void Sampler::Finish(int64_t elapsed_ns) {
  stats_.elapsed_ns = elapsed_ns;
  ReleaseHeld(elapsed_ns - window_origin_ns_);
  if (options_.mode == WeightMode::kCpu) {
    cpu_.Finish([this](const StackKey& key, int64_t count, int64_t cpu) {
      table_.Add(key, count, cpu);
    });
  }
}

absl::Status Sampler::Run(
    const std::atomic<bool>& stop,
    const std::function<void(const SamplerStats&)>& progress) {
  TickSchedule schedule(
      {options_.rate_hz, options_.duration_s, options_.raise_priority});
  // The schedule's figures, with this sampler's own (samples, errors,
  // ticks whose stacks were read).
  auto take = [this](const ScheduleStats& s) {
    stats_.late = s.late;
    stats_.missed = s.missed;
    stats_.elapsed_ns = s.elapsed_ns;
    stats_.sampling_cpu_ns = s.sampling_cpu_ns;
    stats_.busy_ns = s.busy_ns;
    stats_.tick_priority = s.tick_priority;
  };
  Begin(ClockNs(CLOCK_REALTIME));
  absl::Status status = schedule.Run(
      stop,
      [this](int64_t elapsed_ns, int64_t weight) -> absl::StatusOr<bool> {
        PYSTROBE_RETURN_IF_ERROR(Tick(elapsed_ns, weight));
        return !stats_.target_exited;
      },
      [&](const ScheduleStats& s) {
        take(s);
        if (progress) progress(stats_);
      });
  take(schedule.stats());
  if (!status.ok()) return status;
  Finish(schedule.stats().elapsed_ns);
  if (progress) progress(stats_);
  return absl::OkStatus();
}

absl::Status Sampler::NextWindow(
    const std::function<absl::Status(const Sampler&)>& closed) {
  SettleWindow();
  absl::Status status = closed(*this);
  StartWindow();
  return status;
}

void Sampler::SettleWindow() {
  // Held samples belong to this window.
  ReleaseHeld(stats_.elapsed_ns - window_origin_ns_);
  if (options_.mode != WeightMode::kCpu) return;
  // Settles every thread's CPU into this window; the next starts afresh
  // (at most one tick interval per thread between them goes uncounted),
  // since its keys name stacks of the table about to be replaced.
  cpu_.Finish([this](const StackKey& key, int64_t count, int64_t cpu) {
    table_.Add(key, count, cpu);
  });
  cpu_ = CpuAttribution();
  cpu_window_batch_ = -1;
}

void Sampler::StartWindow() {
  table_ = StackTable(1'000'000'000);
  window_base_ = stats_;
  window_origin_ns_ = stats_.elapsed_ns;
  start_unix_ns_ = ClockNs(CLOCK_REALTIME);
}

SamplerStats Sampler::window_stats() const {
  SamplerStats w = stats_;
  w.AddCounts(window_base_, -1);
  return w;
}

ProfileMetadata Sampler::Metadata(std::vector<std::string> comments) const {
  const SamplerStats window = window_stats();  // not the whole run's
  ProfileMetadata m;
  m.weight_type = options_.mode == WeightMode::kCpu ? "cpu" : "wall";
  m.period_ns = static_cast<int64_t>(1e9 / options_.rate_hz);
  m.start_unix_ns = start_unix_ns_;
  m.duration_ns = window.elapsed_ns;
  m.pid = python_->pid();
  m.process = process_;
  m.comments = std::move(comments);
  m.comments.push_back(
      absl::StrCat("python_version=", python_->version().ToString()));
  m.comments.push_back(absl::StrCat("pystrobe.mode=", m.weight_type));
  m.comments.push_back(absl::StrCat("pystrobe.rate_hz=", options_.rate_hz));
  m.comments.push_back(absl::StrFormat("pystrobe.achieved_rate_hz=%.1f",
                                       window.achieved_rate_hz()));
  m.comments.push_back(absl::StrCat("pystrobe.ticks=", window.ticks));
  m.comments.push_back(
      absl::StrCat("pystrobe.tick_priority=",
                   window.tick_priority == TickPriority::kRealtime ? "realtime"
                   : window.tick_priority == TickPriority::kNice   ? "nice"
                                                                   : "normal"));
  m.comments.push_back(absl::StrCat("pystrobe.missed=", window.missed));
  m.comments.push_back(absl::StrCat("pystrobe.samples=", window.samples));
  // The error breakdown, every cause even when 0, so that tools can rely on
  // the keys.
  const SampleErrors& e = window.causes;
  m.comments.push_back(absl::StrCat("pystrobe.errors=", window.errors));
  m.comments.push_back(absl::StrCat("pystrobe.errors.torn=", e.torn));
  m.comments.push_back(absl::StrCat("pystrobe.errors.page_gone=", e.page_gone));
  m.comments.push_back(
      absl::StrCat("pystrobe.errors.thread_exited=", e.thread_exited));
  m.comments.push_back(absl::StrCat("pystrobe.errors.woke=", e.woke));
  m.comments.push_back(absl::StrCat("pystrobe.errors.task=", e.task));
  m.comments.push_back(absl::StrCat("pystrobe.errors.other=", e.other));
  if (options_.native) {
    m.comments.push_back(absl::StrCat("pystrobe.native=",
                                      options_.native_all ? "all" : "folded"));
    m.comments.push_back(absl::StrCat("pystrobe.errors.native=", e.native));
  }
  m.comments.push_back(absl::StrCat("pystrobe.rereads=", window.rereads));
  m.comments.push_back(absl::StrCat("pystrobe.recovered=", window.recovered));
  if (filter_waits_) {
    // Samples of threads waiting for a CPU: labelled cpu_wait=true in a
    // wall profile, left out of a cpu profile.
    m.comments.push_back(absl::StrCat("pystrobe.cpu_wait=", window.cpu_wait));
  }
  return m;
}

Profile Sampler::BuildProfile(std::vector<std::string> comments) const {
  return table_.ToProfile(Metadata(std::move(comments)));
}

absl::StatusOr<std::string> Sampler::EncodeProfile(
    std::vector<std::string> comments) const {
  return table_.EncodePprof(Metadata(std::move(comments)));
}

Profile Sampler::BuildLeafProfile(std::vector<std::string> comments) const {
  return table_.ToLeafProfile(Metadata(std::move(comments)));
}

namespace {

// The largest of 1, 2, 5 x 10^k not above `hz` (at least 1).
double RoundRateDown(double hz) {
  double nice = 1;
  for (double decade = 1; decade <= hz; decade *= 10) {
    for (double step : {1.0, 2.0, 5.0}) {
      if (step * decade <= hz) nice = step * decade;
    }
  }
  return nice;
}

}  // namespace

std::string RateShortfall(const SamplerStats& stats) {
  const double achieved = stats.achieved_rate_hz();
  const double requested = stats.requested_rate_hz;
  // A second at least, and a few ticks, before judging.
  if (requested <= 0 || stats.elapsed_ns < 1'000'000'000 || stats.ticks < 4 ||
      achieved >= 0.9 * requested) {
    return "";
  }
  std::string line = absl::StrFormat(
      "sampled at %.1f Hz, %.0f%% of the requested %g Hz (%d periods "
      "missed)",
      achieved, 100.0 * achieved / requested, requested, stats.missed);
  const double reachable = stats.reachable_rate_hz();
  if (reachable > 0 && reachable < 0.9 * requested) {
    absl::StrAppendFormat(
        &line,
        ": a tick took %.0f us on average here, so this machine cannot "
        "sample this target faster than about %.0f Hz; ask for --rate %g "
        "or less",
        static_cast<double>(stats.busy_ns) / 1e3 /
            static_cast<double>(stats.ticks),
        reachable, RoundRateDown(reachable / 2));
  } else {
    line +=
        ": pystrobe did not get the CPU it needed on time (a loaded "
        "machine?)";
  }
  return line;
}

}  // namespace pystrobe
