#include "pystrobe/profile/pprof_writer.h"

#include <zlib.h>

#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace pystrobe {
namespace {

// Protobuf wire format, as much of it as profile.proto needs.
enum WireType : uint32_t { kVarint = 0, kLengthDelimited = 2 };

void PutVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void PutTag(std::string& out, uint32_t field, WireType type) {
  PutVarint(out, (static_cast<uint64_t>(field) << 3) | type);
}

// A varint field; proto3 leaves zeros out.
void PutInt(std::string& out, uint32_t field, int64_t v) {
  if (v == 0) return;
  PutTag(out, field, kVarint);
  PutVarint(out, static_cast<uint64_t>(v));
}

void PutBytes(std::string& out, uint32_t field, std::string_view bytes) {
  PutTag(out, field, kLengthDelimited);
  PutVarint(out, bytes.size());
  out.append(bytes.data(), bytes.size());
}

// Profile's field numbers (proto/profile.proto).
constexpr uint32_t kSampleType = 1, kSample = 2, kMapping = 3, kLocation = 4,
                   kFunction = 5, kStringTable = 6, kTimeNanos = 9,
                   kDurationNanos = 10, kPeriodType = 11, kPeriod = 12,
                   kComment = 13, kDefaultSampleType = 14;

constexpr size_t kFlushBytes = size_t{64} << 10;

}  // namespace

struct PprofWriter::Stream {
  z_stream zs{};
  bool ok = false;
  std::string out;
};

PprofWriter::PprofWriter() : stream_(std::make_unique<Stream>()) {
  // 16 + MAX_WBITS: a gzip header and trailer instead of zlib's.
  stream_->ok = deflateInit2(&stream_->zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED,
                             16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK;
  failed_ = !stream_->ok;
  String("");
}

PprofWriter::~PprofWriter() {
  if (stream_->ok) deflateEnd(&stream_->zs);
}

int64_t PprofWriter::String(std::string_view s) {
  auto it = string_ids_.find(s);
  if (it != string_ids_.end()) return it->second;
  const auto index = static_cast<int64_t>(strings_.size());
  strings_.emplace_back(s);
  string_ids_.emplace(strings_.back(), index);
  return index;
}

void PprofWriter::Put(std::string_view bytes) {
  buffer_.append(bytes.data(), bytes.size());
  if (buffer_.size() >= kFlushBytes) Flush(false);
}

void PprofWriter::Flush(bool finish) {
  if (failed_) return;
  z_stream& zs = stream_->zs;
  // zlib's API is not const-correct; it never writes through next_in.
  zs.next_in = reinterpret_cast<Bytef*>(buffer_.data());
  zs.avail_in = static_cast<uInt>(buffer_.size());
  std::string& out = stream_->out;
  int rc;
  do {
    const size_t used = out.size();
    const size_t room = std::max<size_t>(deflateBound(&zs, zs.avail_in), 4096);
    out.resize(used + room);
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + used);
    zs.avail_out = static_cast<uInt>(room);
    rc = deflate(&zs, finish ? Z_FINISH : Z_NO_FLUSH);
    out.resize(used + (room - zs.avail_out));
    if (rc == Z_STREAM_ERROR) {
      failed_ = true;
      return;
    }
  } while (zs.avail_in > 0 || (finish && rc != Z_STREAM_END));
  buffer_.clear();
}

void PprofWriter::AddSampleType(const ValueType& type) {
  scratch_.clear();
  PutInt(scratch_, 1, String(type.type));
  PutInt(scratch_, 2, String(type.unit));
  std::string field;
  PutBytes(field, kSampleType, scratch_);
  Put(field);
}

void PprofWriter::AddFunction(uint64_t id, const Function& f) {
  scratch_.clear();
  PutInt(scratch_, 1, static_cast<int64_t>(id));
  PutInt(scratch_, 2, String(f.name));
  if (f.system_name != f.name) PutInt(scratch_, 3, String(f.system_name));
  PutInt(scratch_, 4, String(f.filename));
  PutInt(scratch_, 5, f.start_line);
  std::string field;
  PutBytes(field, kFunction, scratch_);
  Put(field);
}

void PprofWriter::AddMapping(uint64_t id, const Mapping& m) {
  scratch_.clear();
  PutInt(scratch_, 1, static_cast<int64_t>(id));
  PutInt(scratch_, 2, static_cast<int64_t>(m.start));
  PutInt(scratch_, 3, static_cast<int64_t>(m.limit));
  PutInt(scratch_, 4, static_cast<int64_t>(m.offset));
  PutInt(scratch_, 5, String(m.filename));
  PutInt(scratch_, 6, String(m.build_id));
  PutInt(scratch_, 7, 1);  // has_functions
  PutInt(scratch_, 8, 1);  // has_filenames
  PutInt(scratch_, 9, 1);  // has_line_numbers
  std::string field;
  PutBytes(field, kMapping, scratch_);
  Put(field);
}

void PprofWriter::AddLocation(uint64_t id, uint64_t function_id, int64_t line,
                              uint64_t mapping_id) {
  std::string line_message;
  PutInt(line_message, 1, static_cast<int64_t>(function_id));
  PutInt(line_message, 2, line);
  scratch_.clear();
  PutInt(scratch_, 1, static_cast<int64_t>(id));
  PutInt(scratch_, 2, static_cast<int64_t>(mapping_id));
  PutBytes(scratch_, 4, line_message);
  std::string field;
  PutBytes(field, kLocation, scratch_);
  Put(field);
}

void PprofWriter::AddSample(absl::Span<const uint64_t> location_ids,
                            absl::Span<const int64_t> values,
                            absl::Span<const PprofLabel> labels) {
  scratch_.clear();
  std::string packed;
  if (!location_ids.empty()) {
    for (uint64_t id : location_ids) PutVarint(packed, id);
    PutBytes(scratch_, 1, packed);
  }
  if (!values.empty()) {
    packed.clear();
    for (int64_t v : values) PutVarint(packed, static_cast<uint64_t>(v));
    PutBytes(scratch_, 2, packed);
  }
  std::string label_message;
  for (const PprofLabel& l : labels) {
    label_message.clear();
    PutInt(label_message, 1, l.key);
    PutInt(label_message, 2, l.str);
    PutInt(label_message, 3, l.num);
    PutInt(label_message, 4, l.num_unit);
    PutBytes(scratch_, 3, label_message);
  }
  std::string field;
  PutTag(field, kSample, kLengthDelimited);
  PutVarint(field, scratch_.size());
  Put(field);
  Put(scratch_);
}

absl::StatusOr<std::string> PprofWriter::Finish(const PprofHeader& header) {
  // One mapping that claims full symbol information, so that pprof never
  // tries to symbolize Python frames against a binary.
  std::string mapping;
  PutInt(mapping, 1, 1);
  PutInt(mapping, 5, String("python"));
  PutInt(mapping, 7, 1);
  PutInt(mapping, 8, 1);
  PutInt(mapping, 9, 1);
  std::string tail;
  PutBytes(tail, kMapping, mapping);
  PutInt(tail, kTimeNanos, header.time_nanos);
  PutInt(tail, kDurationNanos, header.duration_nanos);
  if (!header.period_type.type.empty() || !header.period_type.unit.empty()) {
    std::string type;
    PutInt(type, 1, String(header.period_type.type));
    PutInt(type, 2, String(header.period_type.unit));
    PutBytes(tail, kPeriodType, type);
  }
  PutInt(tail, kPeriod, header.period);
  if (!header.comments.empty()) {
    std::string packed;
    for (const std::string& c : header.comments) {
      PutVarint(packed, static_cast<uint64_t>(String(c)));
    }
    PutBytes(tail, kComment, packed);
  }
  if (!header.default_sample_type.empty()) {
    PutInt(tail, kDefaultSampleType, String(header.default_sample_type));
  }
  Put(tail);
  for (const std::string& s : strings_) {
    std::string field;
    PutBytes(field, kStringTable, s);
    Put(field);
  }
  Flush(/*finish=*/true);
  if (failed_) return absl::InternalError("gzip compression failed");
  return std::move(stream_->out);
}

}  // namespace pystrobe
