#include "targets.h"

#include <unistd.h>

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "pystrobe/base/errors.h"
#include "pystrobe/base/status_macros.h"
#include "pystrobe/process/cpu_wait.h"
#include "pystrobe/process/process_tree.h"
#include "pystrobe/profile/merge.h"

namespace pystrobe {
namespace {

// Attempts at a process that may still be starting its interpreter (an
// error other than "not Python"), about 5 s at Discover's pace.
constexpr int kMaxProbes = 20;
// How long a process may look "not Python" before it is left alone.
constexpr int64_t kNotPythonAfterNs = 1'000'000'000;

// Multiplies the `batch` labels, counted in batches of `from_ns`, into
// batches of `to_ns` (a multiple: tables double their batches as they
// grow), so that batch N means the same time in every process's samples.
void RescaleBatches(int64_t from_ns, int64_t to_ns, Profile* p) {
  if (from_ns <= 0 || to_ns <= from_ns) return;
  for (Sample& s : p->samples) {
    for (Label& l : s.labels) {
      if (l.key == "batch" && l.is_numeric()) l.num = l.num * from_ns / to_ns;
    }
  }
}

// Replaces the comment "KEY=..." (or adds it).
void SetComment(const std::string& key, const std::string& value,
                std::vector<std::string>* comments) {
  const std::string prefix = key + "=";
  for (std::string& c : *comments) {
    if (absl::StartsWith(c, prefix)) {
      c = prefix + value;
      return;
    }
  }
  comments->push_back(prefix + value);
}

}  // namespace

struct TargetSet::Target {
  std::unique_ptr<PythonProcess> python;
  std::unique_ptr<Sampler> sampler;
  std::unique_ptr<CpuWaitMonitor> cpu_wait;
  uint64_t start_ticks = 0;
  std::string exe;
  size_t summary = 0;      // index into summaries_
  bool end_noted = false;  // its exit seen, its wait status read
};

TargetSet::TargetSet(SamplerOptions options, bool follow_children)
    : options_(options),
      follow_(follow_children),
      self_exe_(proc_.ExePath(getpid()).value_or("")) {}

TargetSet::~TargetSet() = default;

absl::Status TargetSet::AddRoot(pid_t pid) {
  if (std::find(roots_.begin(), roots_.end(), pid) != roots_.end()) {
    return absl::OkStatus();
  }
  absl::StatusOr<std::unique_ptr<PythonProcess>> python =
      PythonProcess::Attach(pid);
  if (!python.ok()) {
    // Followed through: a launcher or a non-Python master whose children
    // are Python. Whatever else is wrong with it is still an error.
    if (!follow_ || !IsNotPython(python.status())) return python.status();
    PYSTROBE_RETURN_IF_ERROR(proc_.CheckExists(pid));
    roots_.push_back(pid);
    const std::optional<ProcessIdentity> id = ReadIdentity(proc_, pid);
    probed_[absl::StrCat(pid, " ", id ? id->start_ticks : 0, " ",
                         proc_.ExePath(pid).value_or(""))]
        .attempts = kMaxProbes;
    return absl::OkStatus();
  }
  roots_.push_back(pid);
  Start(*std::move(python));
  return absl::OkStatus();
}

void TargetSet::Add(std::unique_ptr<PythonProcess> python) {
  roots_.push_back(python->pid());
  Start(std::move(python));
}

void TargetSet::Start(std::unique_ptr<PythonProcess> python) {
  auto t = std::make_unique<Target>();
  const pid_t pid = python->pid();
  t->start_ticks =
      ReadIdentity(proc_, pid).value_or(ProcessIdentity{}).start_ticks;
  t->exe = proc_.ExePath(pid).value_or("");
  if (python_version_.empty()) python_version_ = python->version().ToString();
  t->sampler = std::make_unique<Sampler>(python.get(), options_);
  t->cpu_wait = std::make_unique<CpuWaitMonitor>(pid);
  t->cpu_wait->Update();
  t->python = std::move(python);
  if (begun_) t->sampler->Begin(start_unix_ns_);
  t->summary = summaries_.size();
  summaries_.push_back(
      {pid, t->sampler->process(), {}, false, std::nullopt, ""});
  live_.push_back(std::move(t));
}

void TargetSet::Begin(int64_t start_unix_ns) {
  start_unix_ns_ = start_unix_ns;
  begun_ = true;
  for (auto& t : live_) t->sampler->Begin(start_unix_ns);
}

absl::Status TargetSet::Tick(int64_t elapsed_ns, int64_t wall_weight_ns) {
  for (size_t i = 0; i < live_.size();) {
    Sampler& s = *live_[i]->sampler;
    PYSTROBE_RETURN_IF_ERROR(s.Tick(elapsed_ns, wall_weight_ns));
    if (s.stats().target_exited && !live_[i]->end_noted) {
      // Now, while it may still be a zombie: once reaped, nobody can tell.
      // The sampler can see the exit before the kernel has made the
      // process a zombie (a SIGKILLed target's memory goes first, its
      // exit status a moment later): ask again for a short while.
      live_[i]->end_noted = true;
      ProcessSummary& summary = summaries_[live_[i]->summary];
      summary.wait_status = proc_.ExitStatus(summary.pid);
      for (int tries = 0; !summary.wait_status.has_value() && tries < 50;
           ++tries) {
        absl::SleepFor(absl::Milliseconds(1));
        summary.wait_status = proc_.ExitStatus(summary.pid);
      }
    }
    // One process (never more) keeps its sampler to the end: it is what
    // WriteFrom writes, and its exit ends the recording anyway.
    if (s.stats().target_exited && single() == nullptr) {
      s.Finish(elapsed_ns);
      Retire(i);
      continue;
    }
    ++i;
  }
  return absl::OkStatus();
}

void TargetSet::Retire(size_t index) {
  Target& t = *live_[index];
  summaries_[t.summary].stats = t.sampler->stats();
  summaries_[t.summary].exited = t.sampler->stats().target_exited;
  const absl::Status async = t.sampler->async_note();
  if (!async.ok()) {
    summaries_[t.summary].async_note = std::string(async.message());
  }
  Profile p = t.sampler->BuildProfile({});
  const int64_t batch_ns = t.sampler->table().batch_ns();
  const int64_t to = std::max(batch_ns, retired_batch_ns_);
  RescaleBatches(batch_ns, to, &p);
  RescaleBatches(retired_batch_ns_, to, &retired_);
  retired_batch_ns_ = to;
  AppendProfile(p, {}, &retired_);
  t.cpu_wait->Update();
  retired_cpu_ns_ += t.cpu_wait->cpu_ns();
  retired_wait_ns_ += t.cpu_wait->wait_ns();
  retired_waits_ += t.cpu_wait->waits();
  live_.erase(live_.begin() + static_cast<long>(index));
}

absl::Status TargetSet::NextWindow(
    const ScheduleStats& schedule,
    const std::function<absl::Status()>& closed) {
  for (const auto& t : live_) t->sampler->SettleWindow();
  absl::Status status = closed();
  for (const auto& t : live_) t->sampler->StartWindow();
  retired_ = Profile{};
  retired_batch_ns_ = 0;
  // Counts are cumulative (a retired process's stay in summaries_), so the
  // next window's are the difference from these.
  window_base_ = Stats(schedule);
  windowed_ = true;
  return status;
}

void TargetSet::UpdateCpuWait() {
  for (const auto& t : live_) t->cpu_wait->Update();
}

TargetSet::CpuWaitSums TargetSet::CpuWait() const {
  CpuWaitSums sums{retired_cpu_ns_, retired_wait_ns_, retired_waits_};
  for (const auto& t : live_) {
    sums.cpu_ns += t->cpu_wait->cpu_ns();
    sums.wait_ns += t->cpu_wait->wait_ns();
    sums.waits += t->cpu_wait->waits();
  }
  return sums;
}

void TargetSet::Discover(int64_t elapsed_ns) {
  if (!follow_) return;
  std::vector<pid_t> tree;
  for (pid_t root : roots_) {
    tree.push_back(root);
    for (pid_t p : Descendants(proc_, root)) tree.push_back(p);
  }
  std::sort(tree.begin(), tree.end());
  tree.erase(std::unique(tree.begin(), tree.end()), tree.end());
  // A sampled process that exec'd another program is another process now:
  // its sampler would read garbage.
  for (size_t i = 0; i < live_.size();) {
    const pid_t pid = live_[i]->python->pid();
    const bool in_tree = std::binary_search(tree.begin(), tree.end(), pid);
    if (in_tree &&
        proc_.ExePath(pid).value_or(live_[i]->exe) != live_[i]->exe) {
      live_[i]->sampler->Finish(elapsed_ns);
      Retire(i);
      continue;
    }
    ++i;
  }
  for (pid_t p : tree) {
    const bool sampled =
        std::any_of(live_.begin(), live_.end(),
                    [&](const auto& t) { return t->python->pid() == p; });
    if (sampled) continue;
    const std::optional<ProcessIdentity> id = ReadIdentity(proc_, p);
    if (!id || id->zombie) continue;
    absl::StatusOr<std::string> exe = proc_.ExePath(p);
    if (!exe.ok()) continue;
    // A fork of pystrobe itself that has not exec'd its command yet.
    if (*exe == self_exe_) continue;
    const std::string key = absl::StrCat(p, " ", id->start_ticks, " ", *exe);
    // A process retired by exec or exit keeps its key: never sampled twice.
    Probe& probe = probed_[key];
    if (probe.attempts == 0) probe.first_ns = elapsed_ns;
    int& probes = probe.attempts;
    if (probes >= kMaxProbes) continue;
    absl::StatusOr<std::unique_ptr<PythonProcess>> python =
        PythonProcess::Attach(p);
    if (python.ok()) {
      probes = kMaxProbes;
      Start(*std::move(python));
      continue;
    }
    // A version or permission that will not change: not again. Not
    // Python: not again once it has looked so for a second (a stripped
    // interpreter that has just exec'd is found only once it has set up its
    // runtime). Anything else (an interpreter still starting): a few times.
    const bool settled = IsNotPython(python.status()) &&
                         elapsed_ns - probe.first_ns >= kNotPythonAfterNs;
    if (settled || IsUnsupportedVersion(python.status()) ||
        IsNoPermission(python.status())) {
      probes = kMaxProbes;
    } else {
      ++probes;
    }
  }
}

void TargetSet::Finish(int64_t elapsed_ns) {
  for (auto& t : live_) t->sampler->Finish(elapsed_ns);
}

bool TargetSet::Done() const {
  for (const auto& t : live_) {
    if (!t->sampler->stats().target_exited) return false;
  }
  if (!follow_) return true;
  for (pid_t root : roots_) {
    const std::optional<ProcessIdentity> id = ReadIdentity(proc_, root);
    if (id && !id->zombie) return false;
  }
  return true;
}

const Sampler* TargetSet::single() const {
  if (follow_ || roots_.size() != 1 || live_.size() != 1) return nullptr;
  return live_.front()->sampler.get();
}

const PythonProcess* TargetSet::first_python() const {
  return live_.empty() ? nullptr : live_.front()->python.get();
}

Profile TargetSet::BuildProfile(const std::vector<std::string>& comments,
                                const ScheduleStats& schedule) const {
  int64_t batch_ns = retired_batch_ns_;
  for (const auto& t : live_) {
    batch_ns = std::max(batch_ns, t->sampler->table().batch_ns());
  }
  Profile out;
  // The first live process gives the header (sample types, period, its
  // comments after `comments`); the retired ones follow.
  for (const auto& t : live_) {
    Profile p = t->sampler->BuildProfile(comments);
    RescaleBatches(t->sampler->table().batch_ns(), batch_ns, &p);
    AppendProfile(p, {}, &out);
  }
  if (!retired_.samples.empty() || live_.empty()) {
    Profile r = retired_;
    RescaleBatches(retired_batch_ns_, batch_ns, &r);
    if (live_.empty()) {
      r.comments.insert(r.comments.begin(), comments.begin(), comments.end());
    }
    AppendProfile(r, {}, &out);
  }
  // Processes ran side by side: the profile lasts as long as the schedule
  // (since the window's start), and its figures are the sums.
  SamplerStats s = Stats(schedule);
  if (windowed_) s.AddCounts(window_base_, -1);
  out.duration_nanos = s.elapsed_ns;
  if (start_unix_ns_ != 0) {
    out.time_nanos =
        start_unix_ns_ + (windowed_ ? window_base_.elapsed_ns : int64_t{0});
  }
  SetComment("pystrobe.ticks", absl::StrCat(s.ticks), &out.comments);
  SetComment("pystrobe.missed", absl::StrCat(s.missed), &out.comments);
  SetComment("pystrobe.samples", absl::StrCat(s.samples), &out.comments);
  SetComment("pystrobe.errors", absl::StrCat(s.errors), &out.comments);
  SetComment("pystrobe.errors.torn", absl::StrCat(s.causes.torn),
             &out.comments);
  SetComment("pystrobe.errors.page_gone", absl::StrCat(s.causes.page_gone),
             &out.comments);
  SetComment("pystrobe.errors.thread_exited",
             absl::StrCat(s.causes.thread_exited), &out.comments);
  SetComment("pystrobe.errors.woke", absl::StrCat(s.causes.woke),
             &out.comments);
  SetComment("pystrobe.errors.task", absl::StrCat(s.causes.task),
             &out.comments);
  SetComment("pystrobe.errors.other", absl::StrCat(s.causes.other),
             &out.comments);
  if (options_.native) {
    SetComment("pystrobe.errors.native", absl::StrCat(s.causes.native),
               &out.comments);
  }
  SetComment("pystrobe.rereads", absl::StrCat(s.rereads), &out.comments);
  SetComment("pystrobe.recovered", absl::StrCat(s.recovered), &out.comments);
  SetComment("pystrobe.batch_ns", absl::StrCat(batch_ns), &out.comments);
  SetComment("pystrobe.processes", absl::StrCat(summaries_.size()),
             &out.comments);
  return out;
}

SamplerStats TargetSet::Stats(const ScheduleStats& schedule) const {
  SamplerStats sum;
  // The processes' own counts (samples, errors and their causes, native
  // ones included); the schedule's figures below replace the rest.
  for (const ProcessSummary& p : Processes()) sum.AddCounts(p.stats);
  sum.ticks = schedule.ticks;
  sum.late = schedule.late;
  sum.missed = schedule.missed;
  sum.elapsed_ns = schedule.elapsed_ns;
  sum.sampling_cpu_ns = schedule.sampling_cpu_ns;
  sum.busy_ns = schedule.busy_ns;
  sum.requested_rate_hz = schedule.requested_rate_hz;
  sum.tick_priority = schedule.tick_priority;
  sum.target_exited = Done();
  return sum;
}

std::vector<ProcessSummary> TargetSet::Processes() const {
  std::vector<ProcessSummary> out = summaries_;
  for (const auto& t : live_) {
    out[t->summary].stats = t->sampler->stats();
    out[t->summary].exited = t->sampler->stats().target_exited;
    const absl::Status async = t->sampler->async_note();
    if (!async.ok()) out[t->summary].async_note = std::string(async.message());
  }
  return out;
}

std::vector<pid_t> TargetSet::PythonDescendants(pid_t pid, size_t limit) {
  ProcFs proc;
  std::vector<pid_t> out;
  for (pid_t p : Descendants(proc, pid)) {
    if (out.size() >= limit) break;
    if (PythonProcess::Attach(p).ok()) out.push_back(p);
  }
  return out;
}

}  // namespace pystrobe
