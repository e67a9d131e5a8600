#include "pystrobe/sampler/stack_table.h"

#include <algorithm>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "pystrobe/profile/pprof_writer.h"

namespace pystrobe {

StackTable::StackTable(int64_t batch_ns) : batch_ns_(batch_ns) {}

uint32_t StackTable::InternStack(const std::vector<Frame>& frames,
                                 bool with_lines) {
  scratch_.clear();
  for (const Frame& f : frames) {
    FrameKey key{f.code.get(), with_lines ? f.line : 0};
    auto [it, inserted] =
        frame_ids_.try_emplace(key, static_cast<uint32_t>(frames_.size()));
    if (inserted) frames_.push_back(FrameEntry{f.code, key.line});
    scratch_.push_back(it->second);
  }
  auto it = stack_ids_.find(absl::MakeConstSpan(scratch_));
  if (it != stack_ids_.end()) return it->second;
  auto inserted =
      stack_ids_.emplace(scratch_, static_cast<uint32_t>(stacks_.size()));
  stacks_.push_back(&inserted.first->first);
  return inserted.first->second;
}

uint32_t StackTable::InternThreadStack(uint32_t thread,
                                       const std::vector<Frame>& frames,
                                       bool with_lines) {
  if (thread >= last_by_thread_.size()) last_by_thread_.resize(thread + 1);
  LastStack& last = last_by_thread_[thread];
  auto same = [with_lines](const std::pair<const CodeInfo*, int>& seen,
                           const Frame& f) {
    return seen.first == f.code.get() &&
           seen.second == (with_lines ? f.line : 0);
  };
  if (last.valid && last.frames.size() == frames.size() &&
      std::equal(last.frames.begin(), last.frames.end(), frames.begin(),
                 same)) {
    return last.id;
  }
  last.id = InternStack(frames, with_lines);
  last.frames.clear();
  for (const Frame& f : frames) {
    last.frames.emplace_back(f.code.get(), with_lines ? f.line : 0);
  }
  last.valid = true;
  return last.id;
}

uint32_t StackTable::InternThread(pid_t tid, uint64_t thread_id,
                                  const std::string& name,
                                  const std::string& task) {
  auto [it, inserted] = thread_ids_.try_emplace(
      std::make_pair(tid, task), static_cast<uint32_t>(threads_.size()));
  if (inserted) threads_.push_back(ThreadLabel{tid, thread_id, name, task});
  return it->second;
}

uint32_t StackTable::BatchFor(int64_t elapsed_ns) {
  if (elapsed_ns < 0) elapsed_ns = 0;
  while (elapsed_ns / batch_ns_ >= kMaxBatches) {
    // Merge batches pairwise: batch b becomes b / 2 at twice the length.
    absl::flat_hash_map<StackKey, StackValue> merged;
    merged.reserve(values_.size());
    for (const auto& [key, value] : values_) {
      StackKey k = key;
      k.batch /= 2;
      StackValue& v = merged[k];
      v.count += value.count;
      v.weight_ns += value.weight_ns;
    }
    values_.swap(merged);
    batch_ns_ *= 2;
  }
  return static_cast<uint32_t>(elapsed_ns / batch_ns_);
}

void StackTable::Add(const StackKey& key, int64_t count, int64_t weight_ns) {
  StackValue& v = values_[key];
  v.count += count;
  v.weight_ns += weight_ns;
}

size_t StackTable::ApproximateBytes() const {
  size_t bytes = frames_.size() * (sizeof(FrameEntry) + sizeof(FrameKey) + 8) +
                 values_.size() * (sizeof(StackKey) + sizeof(StackValue) + 8) +
                 threads_.size() * sizeof(ThreadLabel);
  for (const std::vector<uint32_t>* s : stacks_) {
    bytes +=
        sizeof(std::vector<uint32_t>) + s->capacity() * sizeof(uint32_t) + 16;
  }
  return bytes;
}

std::vector<const std::pair<const StackKey, StackValue>*>
StackTable::SortedEntries() const {
  // Deterministic order: by stack, then thread, batch, flags. Pointers into
  // the map, which nothing changes meanwhile: a third of a copy's size.
  std::vector<const std::pair<const StackKey, StackValue>*> entries;
  entries.reserve(values_.size());
  for (const auto& entry : values_) entries.push_back(&entry);
  std::sort(entries.begin(), entries.end(), [](const auto* a, const auto* b) {
    const StackKey& x = a->first;
    const StackKey& y = b->first;
    return std::tie(x.stack, x.thread, x.batch, x.flags) <
           std::tie(y.stack, y.thread, y.batch, y.flags);
  });
  return entries;
}

Mapping StackTable::MappingOf(const CodeInfo& code) {
  return Mapping{code.native_start, code.native_limit, code.native_offset,
                 code.native_module, code.native_build_id};
}

Function StackTable::FunctionOf(const FrameEntry& frame) {
  const CodeInfo& code = *frame.code;
  // pprof viewers show Function.name: the qualified name reads best
  // ("Server.handle"); system_name keeps co_name.
  return Function{code.qualname.empty() ? code.name : code.qualname, code.name,
                  code.filename, code.first_line};
}

Profile StackTable::ToProfile(const ProfileMetadata& metadata) const {
  Profile p;
  p.sample_types = {{"samples", "count"},
                    {metadata.weight_type, "nanoseconds"}};
  p.default_sample_type = metadata.weight_type;
  p.period_type = {metadata.weight_type, "nanoseconds"};
  p.period = metadata.period_ns;
  p.time_nanos = metadata.start_unix_ns;
  p.duration_nanos = metadata.duration_ns;
  p.comments = metadata.comments;
  p.comments.push_back(absl::StrCat("pystrobe.batch_ns=", batch_ns_));

  std::vector<uint64_t> location_of_frame(frames_.size());
  for (size_t i = 0; i < frames_.size(); ++i) {
    const CodeInfo& code = *frames_[i].code;
    location_of_frame[i] = p.AddLocation(
        Location{p.AddFunction(FunctionOf(frames_[i])),
                 std::max<int64_t>(frames_[i].line, 0),
                 code.is_native() ? p.AddMapping(MappingOf(code)) : 0});
  }
  const auto entries = SortedEntries();
  p.samples.reserve(entries.size());
  for (const auto* entry : entries) {
    const StackKey& key = entry->first;
    const StackValue& value = entry->second;
    Sample s;
    // Exact sizes: a long recording has one sample per stack and batch,
    // and vectors grown by push_back would hold up to twice their size.
    const std::vector<uint32_t>& stack = *stacks_[key.stack];
    s.location_ids.reserve(stack.size());
    for (uint32_t frame : stack) {
      s.location_ids.push_back(location_of_frame[frame]);
    }
    s.values = {value.count, value.weight_ns};
    const ThreadLabel& t = threads_[key.thread];
    s.labels.reserve(6 + ((key.flags & kFlagGil) ? 1 : 0) +
                     ((key.flags & kFlagIdle) ? 1 : 0) +
                     ((key.flags & kFlagCpuWait) ? 1 : 0));
    s.labels.push_back(
        Label{"thread_name", t.name.empty() ? "?" : t.name, 0, ""});
    s.labels.push_back(Label{"thread_id", "", static_cast<int64_t>(t.tid), ""});
    s.labels.push_back(Label{"pid", "", metadata.pid, ""});
    if (!metadata.process.empty()) {
      s.labels.push_back(Label{"process", metadata.process, 0, ""});
    }
    s.labels.push_back(Label{"batch", "", static_cast<int64_t>(key.batch), ""});
    if (key.flags & kFlagGil) s.labels.push_back(Label{"gil", "true", 0, ""});
    if (key.flags & kFlagIdle) s.labels.push_back(Label{"idle", "true", 0, ""});
    if (key.flags & kFlagCpuWait) {
      s.labels.push_back(Label{"cpu_wait", "true", 0, ""});
    }
    if (!t.task.empty()) s.labels.push_back(Label{"task", t.task, 0, ""});
    p.samples.push_back(std::move(s));
  }
  return p;
}

absl::StatusOr<std::string> StackTable::EncodePprof(
    const ProfileMetadata& metadata) const {
  // The same profile as EncodePprof(ToProfile(metadata)), streamed: what is
  // held besides the table is the sorted list of keys, one stack's location
  // ids and the compressed output.
  PprofWriter w;
  w.AddSampleType({"samples", "count"});
  w.AddSampleType({metadata.weight_type, "nanoseconds"});
  // Functions and locations interned as ToProfile does (Profile's helpers
  // keep only the small per-frame tables).
  Profile ids;
  std::vector<uint64_t> location_of_frame(frames_.size());
  for (size_t i = 0; i < frames_.size(); ++i) {
    const size_t functions = ids.functions.size();
    const uint64_t function = ids.AddFunction(FunctionOf(frames_[i]));
    if (ids.functions.size() != functions) {
      w.AddFunction(function, ids.functions.back());
    }
    const CodeInfo& code = *frames_[i].code;
    uint64_t mapping = 0;
    if (code.is_native()) {
      const size_t mappings = ids.mappings.size();
      mapping = ids.AddMapping(MappingOf(code));
      // pprof mapping 1 is the Python frames' (PprofWriter::Finish).
      if (ids.mappings.size() != mappings) {
        w.AddMapping(mapping + 1, ids.mappings.back());
      }
    }
    const size_t locations = ids.locations.size();
    const int64_t line = std::max<int64_t>(frames_[i].line, 0);
    location_of_frame[i] = ids.AddLocation(Location{function, line, mapping});
    if (ids.locations.size() != locations) {
      w.AddLocation(location_of_frame[i], function, line, mapping + 1);
    }
  }
  const int64_t thread_name = w.String("thread_name");
  const int64_t thread_id = w.String("thread_id");
  const int64_t pid = w.String("pid");
  const int64_t process = metadata.process.empty() ? 0 : w.String("process");
  const int64_t process_name =
      metadata.process.empty() ? 0 : w.String(metadata.process);
  const int64_t batch = w.String("batch");
  const int64_t gil = w.String("gil");
  const int64_t idle = w.String("idle");
  const int64_t yes = w.String("true");
  // Interned at its first use: profiles without such samples keep the
  // string table they had.
  int64_t cpu_wait = 0;
  int64_t task = 0;
  std::vector<int64_t> task_names(threads_.size(), 0);
  std::vector<int64_t> thread_names(threads_.size());
  for (size_t i = 0; i < threads_.size(); ++i) {
    thread_names[i] =
        w.String(threads_[i].name.empty() ? "?" : threads_[i].name);
  }
  std::vector<uint64_t> locations;
  std::vector<PprofLabel> labels;
  for (const auto* entry : SortedEntries()) {
    const StackKey& key = entry->first;
    const StackValue& value = entry->second;
    locations.clear();
    for (uint32_t frame : *stacks_[key.stack]) {
      locations.push_back(location_of_frame[frame]);
    }
    const int64_t values[] = {value.count, value.weight_ns};
    const ThreadLabel& t = threads_[key.thread];
    labels.clear();
    labels.push_back({thread_name, thread_names[key.thread], 0, 0});
    labels.push_back({thread_id, 0, static_cast<int64_t>(t.tid), 0});
    labels.push_back({pid, 0, metadata.pid, 0});
    if (process != 0) labels.push_back({process, process_name, 0, 0});
    labels.push_back({batch, 0, static_cast<int64_t>(key.batch), 0});
    if (key.flags & kFlagGil) labels.push_back({gil, yes, 0, 0});
    if (key.flags & kFlagIdle) labels.push_back({idle, yes, 0, 0});
    if (key.flags & kFlagCpuWait) {
      if (cpu_wait == 0) cpu_wait = w.String("cpu_wait");
      labels.push_back({cpu_wait, yes, 0, 0});
    }
    if (!t.task.empty()) {
      if (task == 0) task = w.String("task");
      if (task_names[key.thread] == 0) {
        task_names[key.thread] = w.String(t.task);
      }
      labels.push_back({task, task_names[key.thread], 0, 0});
    }
    w.AddSample(locations, values, labels);
  }
  PprofHeader header;
  header.time_nanos = metadata.start_unix_ns;
  header.duration_nanos = metadata.duration_ns;
  header.period_type = {metadata.weight_type, "nanoseconds"};
  header.period = metadata.period_ns;
  header.comments = metadata.comments;
  header.comments.push_back(absl::StrCat("pystrobe.batch_ns=", batch_ns_));
  header.default_sample_type = metadata.weight_type;
  return w.Finish(header);
}

Profile StackTable::ToLeafProfile(const ProfileMetadata& metadata) const {
  Profile p;
  p.sample_types = {{"samples", "count"},
                    {metadata.weight_type, "nanoseconds"}};
  p.default_sample_type = metadata.weight_type;
  p.period_type = {metadata.weight_type, "nanoseconds"};
  p.period = metadata.period_ns;
  p.time_nanos = metadata.start_unix_ns;
  p.duration_nanos = metadata.duration_ns;
  p.comments = metadata.comments;
  absl::flat_hash_map<uint64_t, size_t> sample_of_function;
  for (const auto& [key, value] : values_) {
    const std::vector<uint32_t>& stack = *stacks_[key.stack];
    if (stack.empty()) continue;
    const uint64_t function = p.AddFunction(FunctionOf(frames_[stack[0]]));
    auto [it, inserted] =
        sample_of_function.try_emplace(function, p.samples.size());
    if (inserted) {
      p.samples.push_back(
          Sample{{p.AddLocation(Location{function, 0})}, {0, 0}, {}});
    }
    Sample& s = p.samples[it->second];
    s.values[0] += value.count;
    s.values[1] += value.weight_ns;
  }
  return p;
}

}  // namespace pystrobe
