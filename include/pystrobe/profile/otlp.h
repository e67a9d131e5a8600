// A profile as OpenTelemetry's OTLP profiles signal: the body of a POST to
// a collector's /v1development/profiles (proto/otlp_profiles.proto, the
// version the pinned collector accepts). One resource (who was profiled),
// one scope (pystrobe), and one OTLP profile per sample type of `profile`
// (OTLP's profiles carry one value type each), sharing one dictionary of
// strings, functions, locations, stacks and attributes. Sample labels
// become sample attributes (numeric ones with their unit); the comments
// one profile attribute, pprof.profile.comment.
//
//   std::vector<OtlpAttribute> resource = {
//       OtlpAttribute::String("service.name", "checkout"),
//       OtlpAttribute::Int("process.pid", 4242)};
//   ASSIGN_OR_RETURN(std::string body, EncodeOtlpProfiles(profile, resource));
#ifndef PYSTROBE_PROFILE_OTLP_H_
#define PYSTROBE_PROFILE_OTLP_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "pystrobe/profile/profile.h"

namespace pystrobe {

struct OtlpAttribute {
  std::string key;
  std::string str;
  int64_t num = 0;
  bool is_int = false;
  static OtlpAttribute String(std::string key, std::string value) {
    return {std::move(key), std::move(value), 0, false};
  }
  static OtlpAttribute Int(std::string key, int64_t value) {
    return {std::move(key), "", value, true};
  }
};

// The serialized ExportProfilesServiceRequest (not compressed). An error
// only for a profile without sample types.
absl::StatusOr<std::string> EncodeOtlpProfiles(
    const Profile& profile, const std::vector<OtlpAttribute>& resource);

// What a collector said in a successful (2xx) answer to an export: an
// ExportProfilesServiceResponse. OTLP's partial success: profiles it
// rejected (not to be sent again) and a message, or, with none rejected, a
// warning in the message. An empty body is full success.
struct OtlpExportResult {
  int64_t rejected_profiles = 0;
  std::string error_message;
};

// InvalidArgument when `body` is not such a response (e.g. a JSON body).
absl::StatusOr<OtlpExportResult> ParseOtlpExportResponse(
    const std::string& body);

}  // namespace pystrobe

#endif  // PYSTROBE_PROFILE_OTLP_H_
