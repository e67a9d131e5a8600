#include <cctype>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "pystrobe/http/http.h"

namespace pystrobe {

std::string Url::ToString() const {
  const bool v6 = host.find(':') != std::string::npos;
  return absl::StrCat(scheme, "://", v6 ? "[" : "", host, v6 ? "]" : "", ":",
                      port, path);
}

absl::StatusOr<Url> ParseUrl(absl::string_view text) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad URL '", text, "': ", why));
  };
  Url url;
  absl::string_view rest = text;
  if (absl::ConsumePrefix(&rest, "http://")) {
    url.scheme = "http";
    url.port = 80;
  } else if (absl::ConsumePrefix(&rest, "https://")) {
    url.scheme = "https";
    url.port = 443;
  } else {
    return bad("it must start with http:// or https://");
  }
  for (char c : rest) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
      return bad("it has a space or a control character");
    }
  }
  const size_t slash = rest.find_first_of("/?");
  absl::string_view authority = rest.substr(0, slash);
  url.path =
      slash == absl::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (url.path[0] == '?') url.path = "/" + url.path;
  if (authority.find('@') != absl::string_view::npos) {
    return bad("user info in the URL is not supported (use --push-header)");
  }
  absl::string_view port;
  if (absl::ConsumePrefix(&authority, "[")) {
    const size_t close = authority.find(']');
    if (close == absl::string_view::npos) return bad("an unclosed [");
    url.host = std::string(authority.substr(0, close));
    authority.remove_prefix(close + 1);
    if (!authority.empty()) {
      if (!absl::ConsumePrefix(&authority, ":")) return bad("junk after ]");
      port = authority;
      if (port.empty()) return bad("an empty port");
    }
  } else {
    const size_t colon = authority.rfind(':');
    url.host = std::string(authority.substr(0, colon));
    if (colon != absl::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) return bad("an empty port");
    }
    if (url.host.find(':') != std::string::npos) {
      return bad("an IPv6 address must be in brackets");
    }
  }
  if (url.host.empty()) return bad("no host");
  if (!port.empty()) {
    int p = 0;
    if (!absl::SimpleAtoi(port, &p) || p < 1 || p > 65535) {
      return bad(absl::StrCat("port '", port, "' is not 1-65535"));
    }
    url.port = p;
  }
  return url;
}

absl::StatusOr<std::pair<std::string, std::string>> ParseHeaderLine(
    absl::string_view line) {
  const size_t colon = line.find(':');
  if (colon == absl::string_view::npos || colon == 0) {
    return absl::InvalidArgumentError(
        "a header is 'Name: value' (e.g. 'Authorization: Bearer TOKEN')");
  }
  absl::string_view name = line.substr(0, colon);
  for (char c : name) {
    const bool token =
        std::isalnum(static_cast<unsigned char>(c)) ||
        absl::string_view("!#$%&'*+-.^_`|~").find(c) != absl::string_view::npos;
    if (!token) {
      return absl::InvalidArgumentError(absl::StrCat(
          "header name '", name, "' has a character HTTP does not allow"));
    }
  }
  absl::string_view value = absl::StripAsciiWhitespace(line.substr(colon + 1));
  for (char c : value) {
    if (c == '\r' || c == '\n' || c == '\0') {
      return absl::InvalidArgumentError(
          absl::StrCat("the value of header '", name, "' has a line break"));
    }
  }
  return std::make_pair(std::string(name), std::string(value));
}

std::string HttpResponse::Header(absl::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (absl::EqualsIgnoreCase(key, name)) return value;
  }
  return "";
}

}  // namespace pystrobe
