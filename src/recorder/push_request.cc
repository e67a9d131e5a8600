// What a push says to each kind of backend: the target URL, who was
// profiled, and the request that carries one window (push.h).
#include <unistd.h>

#include <cctype>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "pystrobe/profile/formats.h"
#include "pystrobe/profile/otlp.h"
#include "pystrobe/recorder/push.h"

namespace pystrobe {
namespace {

constexpr absl::string_view kOtlpProfilesPath = "/v1development/profiles";

std::string CommentValue(const Profile& p, absl::string_view key) {
  for (const std::string& c : p.comments) {
    absl::string_view v = c;
    if (absl::ConsumePrefix(&v, key) && absl::ConsumePrefix(&v, "=")) {
      return std::string(v);
    }
  }
  return "";
}

std::string BaseName(absl::string_view path) {
  const size_t slash = path.rfind('/');
  return std::string(slash == absl::string_view::npos ? path
                                                      : path.substr(slash + 1));
}

// Percent-encoding of a query value (RFC 3986 unreserved kept).
std::string QueryEscape(absl::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      absl::StrAppendFormat(&out, "%%%02X", c);
    }
  }
  return out;
}

// Pyroscope's label names and app names keep to [A-Za-z0-9_.] (and '-' in
// values); anything else becomes '_' so the name parses.
std::string PyroscopeSafe(absl::string_view s, bool value) {
  std::string out;
  for (char c : s) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '_' ||
                    c == '.' || (value && (c == '-' || c == '/' || c == ':'));
    out += ok ? c : '_';
  }
  return out.empty() ? "_" : out;
}

std::string HostName() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "";
  return name;
}

}  // namespace

absl::StatusOr<PushTarget> ParsePushTarget(const std::string& text) {
  PushTarget t;
  t.given = text;
  absl::string_view rest = text;
  if (absl::ConsumePrefix(&rest, "pyroscope+")) {
    t.protocol = PushProtocol::kPyroscope;
  } else if (absl::StrContains(rest, "+")) {
    const size_t plus = rest.find('+');
    if (plus < rest.find("://")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--push '", text,
          "': unknown backend (http[s]://HOST:PORT for an OpenTelemetry "
          "Collector, pyroscope+http[s]://HOST:PORT for Pyroscope)"));
    }
  }
  absl::StatusOr<Url> url = ParseUrl(rest);
  if (!url.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--push: ", url.status().message()));
  }
  t.url = *url;
  if (t.url.path.find('?') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--push '", text, "': no query in the URL (use --push-label)"));
  }
  if (t.protocol == PushProtocol::kOtlp && t.url.path == "/") {
    t.url.path = std::string(kOtlpProfilesPath);
  }
  if (t.protocol == PushProtocol::kPyroscope) {
    if (absl::EndsWith(t.url.path, "/")) t.url.path.pop_back();
    absl::StrAppend(&t.url.path, "/ingest");
  }
  return t;
}

std::string ServiceNameFromCommandLine(const std::string& command_line) {
  std::vector<std::string> words =
      absl::StrSplit(command_line, ' ', absl::SkipEmpty());
  if (words.empty()) return "python";
  const std::string program = BaseName(words[0]);
  if (!absl::StartsWith(program, "python")) {
    // "gunicorn: master [app]" -> "gunicorn".
    std::string name = program.substr(0, program.find(':'));
    return name.empty() ? "python" : name;
  }
  for (size_t i = 1; i < words.size(); ++i) {
    const std::string& w = words[i];
    if (w == "-m" && i + 1 < words.size()) return words[i + 1];
    if (w == "-c") return "python";
    if (absl::StartsWith(w, "-")) continue;
    std::string script = BaseName(w);
    if (absl::EndsWith(script, ".py")) script.resize(script.size() - 3);
    return script.empty() ? "python" : script;
  }
  return "python";
}

absl::StatusOr<SpooledWindow> BuildPushRequest(const PushTarget& target,
                                               const PushIdentity& who,
                                               const Profile& window) {
  const std::string command_line = CommentValue(window, "command_line");
  const std::string service = who.service.empty()
                                  ? ServiceNameFromCommandLine(command_line)
                                  : who.service;
  const std::string host = who.host.empty() ? HostName() : who.host;
  SpooledWindow w;
  const int64_t start_s = window.time_nanos / 1'000'000'000;
  const int64_t end_s =
      (window.time_nanos + window.duration_nanos) / 1'000'000'000;
  w.name = absl::StrCat("window of ", start_s, " (Unix s)");
  if (target.protocol == PushProtocol::kOtlp) {
    std::vector<OtlpAttribute> resource = {
        OtlpAttribute::String("service.name", service),
        OtlpAttribute::String("host.name", host),
        OtlpAttribute::String("process.runtime.name", "cpython"),
        OtlpAttribute::String("telemetry.sdk.name", "pystrobe"),
        OtlpAttribute::String("telemetry.sdk.version", PYSTROBE_VERSION),
    };
    if (who.pid > 0) {
      resource.push_back(OtlpAttribute::Int("process.pid", who.pid));
    }
    if (!command_line.empty()) {
      resource.push_back(
          OtlpAttribute::String("process.command_line", command_line));
    }
    const std::string python = CommentValue(window, "python_version");
    if (!python.empty()) {
      resource.push_back(
          OtlpAttribute::String("process.runtime.version", python));
    }
    for (const auto& [key, value] : who.labels) {
      resource.push_back(OtlpAttribute::String(key, value));
    }
    absl::StatusOr<std::string> body = EncodeOtlpProfiles(window, resource);
    if (!body.ok()) return body.status();
    w.target = target.url.path;
    w.content_type = "application/x-protobuf";
    w.body = *std::move(body);
    return w;
  }
  // Pyroscope: app{label=value,...}, the pprof as a multipart field.
  std::string name = PyroscopeSafe(service, false);
  std::vector<std::string> labels = {
      absl::StrCat("hostname=", PyroscopeSafe(host, true))};
  if (who.pid > 0) labels.push_back(absl::StrCat("pid=", who.pid));
  for (const auto& [key, value] : who.labels) {
    labels.push_back(absl::StrCat(PyroscopeSafe(key, false), "=",
                                  PyroscopeSafe(value, true)));
  }
  absl::StrAppend(&name, "{", absl::StrJoin(labels, ","), "}");
  const double rate_hz =
      window.period > 0 ? 1e9 / static_cast<double>(window.period) : 100;
  w.target = absl::StrCat(
      target.url.path, "?name=", QueryEscape(name), "&from=", start_s,
      "&until=", std::max(end_s, start_s + 1),
      "&format=pprof&sampleRate=", static_cast<int64_t>(rate_hz + 0.5),
      "&spyName=pystrobe");
  absl::StatusOr<std::string> pprof = EncodePprof(window);
  if (!pprof.ok()) return pprof.status();
  const std::string boundary = "pystrobe-profile-boundary-7f3a9c";
  w.content_type = absl::StrCat("multipart/form-data; boundary=", boundary);
  w.body = absl::StrCat("--", boundary,
                        "\r\nContent-Disposition: form-data; name=\"profile\"; "
                        "filename=\"profile.pprof\"\r\nContent-Type: "
                        "application/octet-stream\r\n\r\n",
                        *pprof, "\r\n--", boundary, "--\r\n");
  return w;
}

std::string FormatPushCounts(const PushCounts& c) {
  return absl::StrFormat("sent=%u retried=%u spooled=%u dropped=%u", c.sent,
                         c.retried, c.spooled, c.dropped);
}

}  // namespace pystrobe
