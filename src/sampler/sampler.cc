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

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "pystrobe/base/errors.h"
#include "pystrobe/base/status_macros.h"
#include "pystrobe/process/ptrace.h"

namespace pystrobe {
namespace {

int64_t Now(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// The sampling thread's scheduling class while it samples. On a machine
// with more runnable threads than CPUs a normal thread wakes late, and later
// when the target itself holds a CPU: its ticks then fall less often in the
// target's busy phases (measured: a function with 17% of the wall time got
// 11% of the samples at 1 kHz on 2 loaded cores). SCHED_FIFO (or else nice
// -20) wakes it on time. Put back when destroyed, or by Drop() when the
// sampler turns out to be busy most of the time (a rate the machine cannot
// reach), so that it never hogs a CPU at a high priority.
class ScopedTickPriority {
 public:
  explicit ScopedTickPriority(bool raise) {
    if (!raise) return;
    tid_ = static_cast<id_t>(syscall(SYS_gettid));
    policy_ = sched_getscheduler(0);
    if (policy_ < 0 || sched_getparam(0, &param_) != 0) return;
    errno = 0;
    nice_ = getpriority(PRIO_PROCESS, tid_);
    if (errno != 0) return;
    if (policy_ == SCHED_OTHER || policy_ == SCHED_BATCH) {
      sched_param fifo{};
      fifo.sched_priority = 1;
      if (sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &fifo) == 0) {
        raised_ = TickPriority::kRealtime;
        return;
      }
    }
    if (nice_ > -20 && setpriority(PRIO_PROCESS, tid_, -20) == 0) {
      raised_ = TickPriority::kNice;
    }
  }
  ~ScopedTickPriority() { Drop(); }
  ScopedTickPriority(const ScopedTickPriority&) = delete;
  ScopedTickPriority& operator=(const ScopedTickPriority&) = delete;

  void Drop() {
    if (raised_ == TickPriority::kRealtime) {
      sched_setscheduler(0, policy_, &param_);
    } else if (raised_ == TickPriority::kNice) {
      setpriority(PRIO_PROCESS, tid_, nice_);
    }
    raised_ = TickPriority::kNormal;
  }
  TickPriority raised() const { return raised_; }

 private:
  TickPriority raised_ = TickPriority::kNormal;
  id_t tid_ = 0;
  int policy_ = -1;
  sched_param param_{};
  int nice_ = 0;
};

void SleepUntil(int64_t deadline_ns) {
  timespec ts{static_cast<time_t>(deadline_ns / 1'000'000'000),
              static_cast<long>(deadline_ns % 1'000'000'000)};
  // EINTR (SIGINT to stop) just ends the sleep early: the caller checks its
  // stop flag before the next tick.
  clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
}

}  // namespace

Sampler::Sampler(PythonProcess* python, SamplerOptions options)
    : python_(python),
      options_(options),
      monitor_(python->pid()),
      // Time batches of 1 s, doubled whenever a recording outgrows 32 of
      // them. pystrobe-diff estimates variance from them; shorter batches
      // (tried: 100 ms) made its A/B gate test flaky, so recordings shorter
      // than a few seconds give it little power (docs/statistics.md).
      table_(1'000'000'000) {}

void Sampler::CountError(const absl::Status& status) {
  ++stats_.errors;
  if (IsInconsistent(status)) {
    ++stats_.causes.torn;
  } else if (IsMemoryGone(status)) {
    ++stats_.causes.page_gone;
  } else if (IsProcessGone(status)) {
    ++stats_.causes.thread_exited;
  } else {
    ++stats_.causes.other;
  }
}

namespace {

// A stack that a running thread changed under the reader: worth reading
// again at once.
bool Torn(const PyThread& t) {
  return IsInconsistent(t.status) || IsMemoryGone(t.status);
}

}  // namespace

void Sampler::RereadTorn() {
  for (int attempt = 0; attempt < kMaxRereads; ++attempt) {
    if (std::none_of(threads_.begin(), threads_.end(), Torn)) return;
    // A whole snapshot again: its first read refreshes every page the torn
    // walk used, so nothing stale is served from the page cache. Threads
    // read well the first time keep their first stack.
    if (!python_->ReadThreads(&retry_).ok()) return;
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
      ++stats_.recovered;
    }
  }
}

void Sampler::CloseCpuWindow() {
  cpu_.CloseWindow([this](const StackKey& key, int64_t count, int64_t cpu) {
    table_.Add(key, count, cpu);
  });
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
  // the suspension says which threads were running).
  const bool cpu_mode = options_.mode == WeightMode::kCpu;
  absl::Status read = python_->ReadThreads(&threads_);
  woke_.clear();
  std::vector<pid_t> stopped;
  if (stop) {
    woke_ = stop->SleepersThatRan();
    stopped = stop->threads();
    stop->Resume();
  } else if (read.ok()) {
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
  for (const PyThread& t : threads_) {
    const bool woke = !woke_.empty() && std::find(woke_.begin(), woke_.end(),
                                                  t.native_id) != woke_.end();
    // One or two procfs reads per thread and tick, of what the mode needs:
    // with many threads these reads are most of a tick's cost.
    bool idle = false;
    ThreadClock clock;
    bool have_clock = false;
    if (cpu_mode) {
      if (t.native_id == 0) continue;
      absl::StatusOr<ThreadSnapshot> acct =
          monitor_.ReadAccounting(t.native_id);
      absl::StatusOr<char> state =
          stop ? absl::StatusOr<char>(std::binary_search(stopped.begin(),
                                                         stopped.end(),
                                                         t.native_id)
                                          ? 'R'
                                          : 'S')
               : monitor_.ReadState(t.native_id);
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
    } else if (t.native_id != 0) {
      absl::StatusOr<char> state = monitor_.ReadState(t.native_id);
      if (!state.ok() && !t.status.ok()) {
        ++stats_.errors;
        ++stats_.causes.thread_exited;
        continue;
      }
      idle = state.ok() && *state != 'R';
    }
    // Which samples are wanted at all: in cpu mode the attribution decides
    // (below), in wall mode idle threads go unless --idle.
    if (!cpu_mode && idle && !options_.include_idle) continue;
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
    if (!readable) {
      if (have_clock) cpu_.Observe(t.native_id, clock, nullptr);
      continue;
    }
    uint32_t thread = table_.InternThread(t.native_id, t.thread_id,
                                          monitor_.Name(t.native_id));
    uint32_t stack = table_.InternThreadStack(thread, t.frames, options_.lines);
    uint8_t flags = (t.holds_gil ? kFlagGil : 0) | (idle ? kFlagIdle : 0);
    const StackKey key{stack, thread, batch, flags};
    if (cpu_mode) {
      // Recorded when the window closes, with its share of the CPU.
      if (cpu_.Observe(t.native_id, clock, &key)) ++stats_.samples;
      continue;
    }
    table_.Add(key, 1, wall_weight_ns);
    ++stats_.samples;
  }
  if (stats_.ticks % 64 == 0) monitor_.ForgetUnused();
  return absl::OkStatus();
}

absl::Status Sampler::Run(
    const std::atomic<bool>& stop,
    const std::function<void(const SamplerStats&)>& progress) {
  const int64_t period =
      std::max<int64_t>(1, static_cast<int64_t>(1e9 / options_.rate_hz));
  const int64_t end = options_.duration_s > 0
                          ? static_cast<int64_t>(options_.duration_s * 1e9)
                          : INT64_MAX;
  stats_.requested_rate_hz = options_.rate_hz;
  std::mt19937_64 rng(std::random_device{}());
  // Where inside its period a tick falls: uniform, drawn afresh each time.
  std::uniform_int_distribution<int64_t> phase(0, period - 1);

  // The kernel may fire a sleeping thread's timer up to its timer slack
  // late (50 us by default, so that wakeups coalesce): at 10 kHz that is
  // half a period. Ask for at most 1/50 of a period; it only affects this
  // thread.
  prctl(PR_SET_TIMERSLACK,
        static_cast<unsigned long>(std::clamp<int64_t>(period / 50, 1, 50'000)),
        0, 0, 0);
  ScopedTickPriority priority(options_.raise_priority);
  stats_.tick_priority = priority.raised();
  start_unix_ns_ = Now(CLOCK_REALTIME);
  const int64_t start = Now(CLOCK_MONOTONIC);
  int64_t next_duty_check = start + 250'000'000;
  int64_t busy_at_check = 0;
  const int64_t cpu_start = Now(CLOCK_THREAD_CPUTIME_ID);
  int64_t next_progress = start;
  int64_t k = 0;  // the period of the next tick
  int64_t planned = start + phase(rng);
  int64_t periods_covered = 1;  // by the next tick: 1 + periods skipped
  while (!stop.load(std::memory_order_relaxed)) {
    if (end != INT64_MAX && planned - start >= end) {
      SleepUntil(start + end);
      break;
    }
    SleepUntil(planned);
    if (stop.load(std::memory_order_relaxed)) break;
    const int64_t now = Now(CLOCK_MONOTONIC);
    stats_.elapsed_ns = now - start;
    if (stats_.elapsed_ns >= end) break;
    if (now - planned > period / 2) ++stats_.late;
    // In wall mode each sample stands for the periods since the previous
    // tick: the period it was drawn in, plus any skipped before it. (The
    // time since the previous tick would favour whatever the target does
    // late in each period when its work is periodic.)
    absl::Status status =
        TakeSample(stats_.elapsed_ns, periods_covered * period);
    if (!status.ok()) {
      if (IsProcessGone(status)) {
        stats_.target_exited = true;
        break;
      }
      if (IsMemoryGone(status) || IsInconsistent(status)) {
        CountError(status);
      } else {
        return status;
      }
    }
    const int64_t after = Now(CLOCK_MONOTONIC);
    stats_.busy_ns += after - now;
    if (after >= next_duty_check) {
      // Busy more than half of the last quarter second: give the priority
      // back for the rest of the recording.
      if (priority.raised() != TickPriority::kNormal &&
          2 * (stats_.busy_ns - busy_at_check) > 250'000'000) {
        priority.Drop();
        stats_.tick_priority = TickPriority::kNormal;
      }
      busy_at_check = stats_.busy_ns;
      next_duty_check = after + 250'000'000;
    }
    if (progress && now >= next_progress) {
      // Read at the progress rate, not per tick: a syscall per tick shows
      // in the cost per sample.
      stats_.sampling_cpu_ns = Now(CLOCK_THREAD_CPUTIME_ID) - cpu_start;
      progress(stats_);
      next_progress = now + 250'000'000;
    }
    // The next tick: at a random point of the next period. Periods whose
    // point has already passed are skipped (and counted), never bunched up.
    ++k;
    const int64_t behind = (after - start) / period;
    periods_covered = 1;
    if (behind > k) {
      stats_.missed += static_cast<uint64_t>(behind - k);
      periods_covered += behind - k;
      k = behind;
    }
    planned = start + k * period + phase(rng);
    if (planned < after) {
      ++stats_.missed;
      ++periods_covered;
      ++k;
      planned = start + k * period + phase(rng);
    }
  }
  stats_.elapsed_ns = Now(CLOCK_MONOTONIC) - start;
  stats_.sampling_cpu_ns = Now(CLOCK_THREAD_CPUTIME_ID) - cpu_start;
  if (options_.mode == WeightMode::kCpu) {
    cpu_.Finish([this](const StackKey& key, int64_t count, int64_t cpu) {
      table_.Add(key, count, cpu);
    });
  }
  if (progress) progress(stats_);
  return absl::OkStatus();
}

absl::Status Sampler::NextWindow(
    const std::function<absl::Status(const Sampler&)>& closed) {
  if (options_.mode == WeightMode::kCpu) {
    // Settles every thread's CPU into this window; the next starts afresh
    // (at most one tick interval per thread between them goes uncounted),
    // since its keys name stacks of the table about to be replaced.
    cpu_.Finish([this](const StackKey& key, int64_t count, int64_t cpu) {
      table_.Add(key, count, cpu);
    });
    cpu_ = CpuAttribution();
    cpu_window_batch_ = -1;
  }
  absl::Status status = closed(*this);
  table_ = StackTable(1'000'000'000);
  window_base_ = stats_;
  window_origin_ns_ = stats_.elapsed_ns;
  start_unix_ns_ = Now(CLOCK_REALTIME);
  return status;
}

SamplerStats Sampler::window_stats() const {
  SamplerStats w = stats_;
  const SamplerStats& b = window_base_;
  w.ticks -= b.ticks;
  w.samples -= b.samples;
  w.late -= b.late;
  w.missed -= b.missed;
  w.errors -= b.errors;
  w.causes.torn -= b.causes.torn;
  w.causes.page_gone -= b.causes.page_gone;
  w.causes.thread_exited -= b.causes.thread_exited;
  w.causes.woke -= b.causes.woke;
  w.causes.other -= b.causes.other;
  w.rereads -= b.rereads;
  w.recovered -= b.recovered;
  w.elapsed_ns -= b.elapsed_ns;
  w.sampling_cpu_ns -= b.sampling_cpu_ns;
  w.busy_ns -= b.busy_ns;
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
  m.comments.push_back(absl::StrCat("pystrobe.errors.other=", e.other));
  m.comments.push_back(absl::StrCat("pystrobe.rereads=", window.rereads));
  m.comments.push_back(absl::StrCat("pystrobe.recovered=", window.recovered));
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
