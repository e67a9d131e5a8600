#include "pystrobe/profile/otlp.h"

#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "otlp_profiles.pb.h"

namespace pystrobe {
namespace {

namespace otlp = ::pystrobe::otlp;

// The request's dictionary: every table starts with its zero entry (index
// 0 means "none"), as the OTLP profiles spec asks.
class Dictionary {
 public:
  explicit Dictionary(otlp::ProfilesDictionary* d) : d_(d) {
    String("");
    d_->add_mapping_table();
    d_->add_location_table();
    d_->add_function_table();
    d_->add_link_table();
    d_->add_attribute_table();
    d_->add_stack_table();
  }

  int32_t String(const std::string& s) {
    auto [it, added] = strings_.try_emplace(s, d_->string_table_size());
    if (added) d_->add_string_table(s);
    return it->second;
  }

  int32_t Function(const pystrobe::Function& f) {
    auto [it, added] = functions_.try_emplace(f, d_->function_table_size());
    if (added) {
      otlp::Function* out = d_->add_function_table();
      out->set_name_strindex(String(f.name));
      out->set_system_name_strindex(String(f.system_name));
      out->set_filename_strindex(String(f.filename));
      out->set_start_line(f.start_line);
    }
    return it->second;
  }

  int32_t Mapping(const pystrobe::Mapping& m) {
    auto [it, added] = mappings_.try_emplace(m, d_->mapping_table_size());
    if (added) {
      otlp::Mapping* out = d_->add_mapping_table();
      out->set_memory_start(m.start);
      out->set_memory_limit(m.limit);
      out->set_file_offset(m.offset);
      out->set_filename_strindex(String(m.filename));
    }
    return it->second;
  }

  // Locations and stacks by the profile's own ids, computed once.
  int32_t Location(const Profile& p, uint64_t id) {
    auto [it, added] = locations_.try_emplace(id, d_->location_table_size());
    if (added) {
      const pystrobe::Location& l = p.locations[id - 1];
      const int32_t function = Function(p.functions[l.function_id - 1]);
      const int32_t mapping =
          l.mapping_id > 0 && l.mapping_id <= p.mappings.size()
              ? Mapping(p.mappings[l.mapping_id - 1])
              : 0;
      otlp::Location* out = d_->add_location_table();
      out->set_mapping_index(mapping);
      otlp::Line* line = out->add_lines();
      line->set_function_index(function);
      line->set_line(l.line);
    }
    return it->second;
  }

  int32_t Stack(const Profile& p, const std::vector<uint64_t>& ids) {
    auto found = stacks_.find(ids);
    if (found != stacks_.end()) return found->second;
    std::vector<int32_t> indices;
    indices.reserve(ids.size());
    for (uint64_t id : ids) indices.push_back(Location(p, id));
    const int32_t index = d_->stack_table_size();
    otlp::Stack* out = d_->add_stack_table();
    for (int32_t i : indices) out->add_location_indices(i);
    stacks_.emplace(ids, index);
    return index;
  }

  int32_t Attribute(const Label& label) {
    const std::string key =
        label.is_numeric()
            ? absl::StrCat("n\x1f", label.key, "\x1f", label.num, "\x1f",
                           label.num_unit)
            : absl::StrCat("s\x1f", label.key, "\x1f", label.str);
    auto [it, added] = attributes_.try_emplace(key, d_->attribute_table_size());
    if (added) {
      otlp::KeyValueAndUnit* out = d_->add_attribute_table();
      out->set_key_strindex(String(label.key));
      if (label.is_numeric()) {
        out->mutable_value()->set_int_value(label.num);
        if (!label.num_unit.empty()) {
          out->set_unit_strindex(String(label.num_unit));
        }
      } else {
        out->mutable_value()->set_string_value(label.str);
      }
    }
    return it->second;
  }

 private:
  otlp::ProfilesDictionary* d_;
  absl::flat_hash_map<std::string, int32_t> strings_;
  absl::flat_hash_map<pystrobe::Function, int32_t> functions_;
  absl::flat_hash_map<pystrobe::Mapping, int32_t> mappings_;
  absl::flat_hash_map<uint64_t, int32_t> locations_;
  absl::flat_hash_map<std::vector<uint64_t>, int32_t> stacks_;
  absl::flat_hash_map<std::string, int32_t> attributes_;
};

void SetAttribute(otlp::KeyValue* kv, const OtlpAttribute& a) {
  kv->set_key(a.key);
  if (a.is_int) {
    kv->mutable_value()->set_int_value(a.num);
  } else {
    kv->mutable_value()->set_string_value(a.str);
  }
}

}  // namespace

absl::StatusOr<std::string> EncodeOtlpProfiles(
    const Profile& profile, const std::vector<OtlpAttribute>& resource) {
  if (profile.sample_types.empty()) {
    return absl::InvalidArgumentError("a profile without sample types");
  }
  otlp::ExportProfilesServiceRequest request;
  Dictionary dict(request.mutable_dictionary());
  otlp::ResourceProfiles* rp = request.add_resource_profiles();
  for (const OtlpAttribute& a : resource) {
    SetAttribute(rp->mutable_resource()->add_attributes(), a);
  }
  otlp::ScopeProfiles* sp = rp->add_scope_profiles();
  sp->mutable_scope()->set_name("pystrobe");
  sp->mutable_scope()->set_version(PYSTROBE_VERSION);

  // Stacks and attributes of each sample, shared by the sample types.
  std::vector<int32_t> stacks(profile.samples.size());
  std::vector<std::vector<int32_t>> attributes(profile.samples.size());
  for (size_t i = 0; i < profile.samples.size(); ++i) {
    const Sample& s = profile.samples[i];
    for (uint64_t id : s.location_ids) {
      if (id == 0 || id > profile.locations.size() ||
          profile.locations[id - 1].function_id == 0 ||
          profile.locations[id - 1].function_id > profile.functions.size()) {
        return absl::InvalidArgumentError("a sample names no location");
      }
    }
    stacks[i] = dict.Stack(profile, s.location_ids);
    for (const Label& l : s.labels) attributes[i].push_back(dict.Attribute(l));
  }
  int32_t comment = 0;
  if (!profile.comments.empty()) {
    Label c;
    c.key = "pprof.profile.comment";
    c.str = absl::StrJoin(profile.comments, "\n");
    comment = dict.Attribute(c);
  }
  for (size_t t = 0; t < profile.sample_types.size(); ++t) {
    otlp::Profile* out = sp->add_profiles();
    out->mutable_sample_type()->set_type_strindex(
        dict.String(profile.sample_types[t].type));
    out->mutable_sample_type()->set_unit_strindex(
        dict.String(profile.sample_types[t].unit));
    out->set_time_unix_nano(static_cast<uint64_t>(profile.time_nanos));
    out->set_duration_nano(static_cast<uint64_t>(profile.duration_nanos));
    out->mutable_period_type()->set_type_strindex(
        dict.String(profile.period_type.type));
    out->mutable_period_type()->set_unit_strindex(
        dict.String(profile.period_type.unit));
    out->set_period(profile.period);
    if (comment != 0) out->add_attribute_indices(comment);
    for (size_t i = 0; i < profile.samples.size(); ++i) {
      const Sample& s = profile.samples[i];
      if (t >= s.values.size() || s.values[t] == 0) continue;
      otlp::Sample* sample = out->add_samples();
      sample->set_stack_index(stacks[i]);
      for (int32_t a : attributes[i]) sample->add_attribute_indices(a);
      sample->add_values(s.values[t]);
    }
  }
  std::string bytes;
  if (!request.SerializeToString(&bytes)) {
    return absl::InternalError("cannot serialize the OTLP request");
  }
  return bytes;
}

absl::StatusOr<OtlpExportResult> ParseOtlpExportResponse(
    const std::string& body) {
  otlp::ExportProfilesServiceResponse response;
  if (!response.ParseFromString(body)) {
    return absl::InvalidArgumentError("not an ExportProfilesServiceResponse");
  }
  OtlpExportResult r;
  r.rejected_profiles = response.partial_success().rejected_profiles();
  r.error_message = response.partial_success().error_message();
  return r;
}

}  // namespace pystrobe
