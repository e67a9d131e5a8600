// pprof encoding and decoding: the in-memory Profile <-> google/pprof's
// protobuf (proto/profile.proto), gzip-compressed with zlib.

#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "profile.pb.h"
#include "pystrobe/base/status_macros.h"
#include "pystrobe/profile/formats.h"
#include "pystrobe/profile/pprof_writer.h"
#include "pystrobe/profile/profile.h"

namespace pystrobe {
namespace {

namespace pb = ::perftools::profiles;

absl::Status NotAProfile(std::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(
      "not a pprof profile: ", absl::string_view(why.data(), why.size())));
}

bool IsGzip(std::string_view bytes) {
  return bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f &&
         static_cast<unsigned char>(bytes[1]) == 0x8b;
}

// Inflates one or more concatenated gzip members, refusing output beyond
// kMaxDecodedPprofBytes so a small "zip bomb" cannot exhaust memory.
absl::StatusOr<std::string> Gunzip(std::string_view in) {
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
    return absl::InternalError("inflateInit2 failed");
  }
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  std::string out;
  absl::Status status;
  constexpr size_t kChunk = size_t{256} << 10;
  while (true) {
    if (out.size() >= kMaxDecodedPprofBytes) {
      status = absl::InvalidArgumentError(
          absl::StrCat("decompressed profile is larger than ",
                       kMaxDecodedPprofBytes >> 20, " MiB"));
      break;
    }
    const size_t old_size = out.size();
    out.resize(old_size + kChunk);
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + old_size);
    zs.avail_out = kChunk;
    const int rc = inflate(&zs, Z_NO_FLUSH);
    out.resize(old_size + (kChunk - zs.avail_out));
    if (rc == Z_STREAM_END) {
      // Another member may follow (concatenated gzip files are one stream).
      std::string_view rest(reinterpret_cast<const char*>(zs.next_in),
                            zs.avail_in);
      if (IsGzip(rest)) {
        inflateReset(&zs);
        continue;
      }
      break;
    }
    if (rc == Z_OK) {
      continue;
    }
    if (rc == Z_BUF_ERROR && zs.avail_in == 0) {
      status = absl::InvalidArgumentError("truncated gzip stream");
    } else if (rc == Z_MEM_ERROR) {
      status = absl::ResourceExhaustedError("out of memory inflating profile");
    } else {
      status = absl::InvalidArgumentError(absl::StrCat(
          "corrupt gzip stream: ", zs.msg != nullptr ? zs.msg : "bad data"));
    }
    break;
  }
  inflateEnd(&zs);
  if (!status.ok()) {
    return status;
  }
  return out;
}

// Checks every string index of `p` once, so the mapping code below can index
// the table freely.
class Strings {
 public:
  explicit Strings(const pb::Profile& p) : p_(p) {}
  absl::Status Check(int64_t index, std::string_view what) const {
    if (index < 0 || index >= p_.string_table_size()) {
      return NotAProfile(
          absl::StrFormat("%s has string index %d, table has %d",
                          absl::string_view(what.data(), what.size()), index,
                          p_.string_table_size()));
    }
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> Get(int64_t index, std::string_view what) const {
    PYSTROBE_RETURN_IF_ERROR(Check(index, what));
    return p_.string_table(static_cast<int>(index));
  }

 private:
  const pb::Profile& p_;
};

absl::StatusOr<ValueType> ToValueType(const pb::ValueType& v,
                                      const Strings& strings,
                                      std::string_view what) {
  ValueType out;
  PYSTROBE_ASSIGN_OR_RETURN(out.type, strings.Get(v.type(), what));
  PYSTROBE_ASSIGN_OR_RETURN(out.unit, strings.Get(v.unit(), what));
  return out;
}

absl::StatusOr<Profile> FromProto(const pb::Profile& p) {
  if (p.string_table_size() == 0 || !p.string_table(0).empty()) {
    return NotAProfile("string table does not start with \"\"");
  }
  const Strings strings(p);
  Profile out;
  for (const pb::ValueType& v : p.sample_type()) {
    PYSTROBE_ASSIGN_OR_RETURN(ValueType t,
                              ToValueType(v, strings, "sample type"));
    out.sample_types.push_back(std::move(t));
  }
  out.time_nanos = p.time_nanos();
  out.duration_nanos = p.duration_nanos();
  if (p.has_period_type()) {
    PYSTROBE_ASSIGN_OR_RETURN(
        out.period_type, ToValueType(p.period_type(), strings, "period type"));
  }
  out.period = p.period();
  for (int64_t c : p.comment()) {
    PYSTROBE_ASSIGN_OR_RETURN(std::string s, strings.Get(c, "comment"));
    out.comments.push_back(std::move(s));
  }
  PYSTROBE_ASSIGN_OR_RETURN(
      out.default_sample_type,
      strings.Get(p.default_sample_type(), "default sample type"));
  PYSTROBE_RETURN_IF_ERROR(strings.Check(p.drop_frames(), "drop_frames"));
  PYSTROBE_RETURN_IF_ERROR(strings.Check(p.keep_frames(), "keep_frames"));

  absl::flat_hash_map<uint64_t, const pb::Mapping*> mappings;
  for (const pb::Mapping& m : p.mapping()) {
    if (m.id() == 0 || !mappings.try_emplace(m.id(), &m).second) {
      return NotAProfile(
          absl::StrCat("mapping id ", m.id(), " is 0 or repeated"));
    }
    PYSTROBE_RETURN_IF_ERROR(strings.Check(m.filename(), "mapping filename"));
    PYSTROBE_RETURN_IF_ERROR(strings.Check(m.build_id(), "mapping build id"));
  }

  // pprof function id -> our 1-based function id.
  absl::flat_hash_map<uint64_t, uint64_t> function_ids;
  for (const pb::Function& f : p.function()) {
    Function fn;
    PYSTROBE_ASSIGN_OR_RETURN(fn.name, strings.Get(f.name(), "function name"));
    PYSTROBE_ASSIGN_OR_RETURN(fn.system_name,
                              strings.Get(f.system_name(), "function name"));
    // EncodePprof leaves out a system name equal to the name (see there).
    if (fn.system_name.empty()) fn.system_name = fn.name;
    PYSTROBE_ASSIGN_OR_RETURN(fn.filename,
                              strings.Get(f.filename(), "function filename"));
    fn.start_line = f.start_line();
    if (f.id() == 0 ||
        !function_ids.try_emplace(f.id(), out.AddFunction(fn)).second) {
      return NotAProfile(
          absl::StrCat("function id ", f.id(), " is 0 or repeated"));
    }
  }

  // pprof location id -> our location ids, innermost first. Several for a
  // location with inlined calls: each becomes its own frame.
  absl::flat_hash_map<uint64_t, std::vector<uint64_t>> location_ids;
  for (const pb::Location& l : p.location()) {
    if (l.id() == 0 || location_ids.contains(l.id())) {
      return NotAProfile(
          absl::StrCat("location id ", l.id(), " is 0 or repeated"));
    }
    const pb::Mapping* mapping = nullptr;
    uint64_t mapping_id = 0;  // ours: 0 for pystrobe's "python" mapping
    if (l.mapping_id() != 0) {
      auto it = mappings.find(l.mapping_id());
      if (it == mappings.end()) {
        return NotAProfile(absl::StrCat("location ", l.id(),
                                        " refers to unknown mapping ",
                                        l.mapping_id()));
      }
      mapping = it->second;
      const std::string& file =
          p.string_table(static_cast<int>(mapping->filename()));
      if (file != "python") {
        mapping_id = out.AddMapping(
            {mapping->memory_start(), mapping->memory_limit(),
             mapping->file_offset(), file,
             p.string_table(static_cast<int>(mapping->build_id()))});
      }
    }
    std::vector<uint64_t>& ids = location_ids[l.id()];
    for (const pb::Line& line : l.line()) {
      auto it = function_ids.find(line.function_id());
      if (it == function_ids.end()) {
        return NotAProfile(absl::StrCat("location ", l.id(),
                                        " refers to unknown function ",
                                        line.function_id()));
      }
      ids.push_back(out.AddLocation({it->second, line.line(), mapping_id}));
    }
    if (l.line_size() == 0) {
      // Unsymbolized (e.g. a native address): name it by its address, as
      // pprof shows it, in the file of its mapping.
      Function fn;
      fn.name = absl::StrFormat("0x%x", l.address());
      fn.system_name = fn.name;
      if (mapping != nullptr) {
        fn.filename = p.string_table(static_cast<int>(mapping->filename()));
      }
      ids.push_back(out.AddLocation({out.AddFunction(fn), 0}));
    }
  }

  out.samples.reserve(p.sample_size());
  for (const pb::Sample& s : p.sample()) {
    if (s.value_size() != p.sample_type_size()) {
      return NotAProfile(absl::StrCat("a sample has ", s.value_size(),
                                      " values for ", p.sample_type_size(),
                                      " sample types"));
    }
    Sample sample;
    sample.values.assign(s.value().begin(), s.value().end());
    for (uint64_t id : s.location_id()) {
      auto it = location_ids.find(id);
      if (it == location_ids.end()) {
        return NotAProfile(
            absl::StrCat("a sample refers to unknown location ", id));
      }
      sample.location_ids.insert(sample.location_ids.end(), it->second.begin(),
                                 it->second.end());
    }
    for (const pb::Label& l : s.label()) {
      Label label;
      PYSTROBE_ASSIGN_OR_RETURN(label.key, strings.Get(l.key(), "label key"));
      PYSTROBE_ASSIGN_OR_RETURN(label.str, strings.Get(l.str(), "label value"));
      PYSTROBE_ASSIGN_OR_RETURN(label.num_unit,
                                strings.Get(l.num_unit(), "label unit"));
      label.num = l.num();
      sample.labels.push_back(std::move(label));
    }
    out.samples.push_back(std::move(sample));
  }
  return out;
}

}  // namespace

absl::StatusOr<std::string> EncodePprof(const Profile& profile) {
  // Streamed (PprofWriter): no protobuf message and no uncompressed copy of
  // the profile are ever held.
  PprofWriter w;
  for (const ValueType& v : profile.sample_types) w.AddSampleType(v);
  for (size_t i = 0; i < profile.functions.size(); ++i) {
    // pprof takes a function whose name equals its system name for one
    // still to demangle, and a name with <...> in it for demangled C++: it
    // strips the "template arguments", and "<module>" or "<lambda>" become
    // "", shown as the mapping's name ("[python]") in -top, -traces, -tree.
    // It leaves alone a name that differs from its system name, so the
    // writer leaves out a system name equal to the name (DecodePprof
    // restores it).
    w.AddFunction(i + 1, profile.functions[i]);
  }
  // pprof mapping 1 is the Python frames' (PprofWriter::Finish); the
  // profile's mappings (native frames) follow.
  for (size_t i = 0; i < profile.mappings.size(); ++i) {
    w.AddMapping(i + 2, profile.mappings[i]);
  }
  for (size_t i = 0; i < profile.locations.size(); ++i) {
    const Location& l = profile.locations[i];
    if (l.function_id == 0 || l.function_id > profile.functions.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "location ", i + 1, " refers to unknown function ", l.function_id));
    }
    if (l.mapping_id > profile.mappings.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "location ", i + 1, " refers to unknown mapping ", l.mapping_id));
    }
    w.AddLocation(i + 1, l.function_id, l.line, l.mapping_id + 1);
  }
  std::vector<PprofLabel> labels;
  for (const Sample& s : profile.samples) {
    if (s.values.size() != profile.sample_types.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("a sample has ", s.values.size(), " values for ",
                       profile.sample_types.size(), " sample types"));
    }
    for (uint64_t id : s.location_ids) {
      if (id == 0 || id > profile.locations.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("a sample refers to unknown location ", id));
      }
    }
    labels.clear();
    for (const Label& l : s.labels) {
      PprofLabel label{w.String(l.key), 0, 0, 0};
      if (l.is_numeric()) {
        label.num = l.num;
        if (!l.num_unit.empty()) label.num_unit = w.String(l.num_unit);
      } else {
        label.str = w.String(l.str);
      }
      labels.push_back(label);
    }
    w.AddSample(s.location_ids, s.values, labels);
  }
  PprofHeader header;
  header.time_nanos = profile.time_nanos;
  header.duration_nanos = profile.duration_nanos;
  header.period_type = profile.period_type;
  header.period = profile.period;
  header.comments = profile.comments;
  header.default_sample_type = profile.default_sample_type;
  return w.Finish(header);
}

absl::StatusOr<Profile> DecodePprof(std::string_view bytes) {
  if (bytes.empty()) {
    return NotAProfile("empty input");
  }
  std::string inflated;
  if (IsGzip(bytes)) {
    PYSTROBE_ASSIGN_OR_RETURN(inflated, Gunzip(bytes));
    bytes = inflated;
  } else if (bytes.size() > kMaxDecodedPprofBytes) {
    return absl::InvalidArgumentError("profile is larger than 1 GiB");
  }
  pb::Profile p;
  if (!p.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return NotAProfile(IsGzip(inflated) || !inflated.empty()
                           ? "gzip content is not a protobuf profile"
                           : "neither gzip nor a protobuf profile");
  }
  return FromProto(p);
}

}  // namespace pystrobe
