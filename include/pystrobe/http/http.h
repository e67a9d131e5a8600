// A small HTTP/1.1 client for pushing profiles to a fleet's backend
// (recorder/push.h): one request per connection, a deadline for the whole
// exchange, TLS through OpenSSL for https (the system's CA store, or one CA
// file). Why not libcurl: docs/push.md (Debian 12's libcurl cannot be
// linked into the fully static build).
//
//   ASSIGN_OR_RETURN(Url url, ParseUrl("http://127.0.0.1:4318/v1/x"));
//   HttpRequest req;
//   req.url = url;
//   req.headers = {{"Content-Type", "application/x-protobuf"}};
//   req.body = bytes;
//   ASSIGN_OR_RETURN(HttpResponse r, SendHttp(req, {/*timeout_s=*/10}));
//   if (r.status / 100 != 2) ...
#ifndef PYSTROBE_HTTP_HTTP_H_
#define PYSTROBE_HTTP_HTTP_H_

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace pystrobe {

struct Url {
  std::string scheme;  // "http" or "https"
  std::string host;    // a name, an IPv4 address, or an IPv6 one without []
  int port = 0;        // the scheme's default when the URL has none
  std::string path;    // with its query; "/" at least
  std::string ToString() const;  // scheme://host:port/path
};

// "http://host[:port][/path]" or https; anything else (another scheme, user
// info, a bad port, spaces) is an InvalidArgument naming what is wrong.
absl::StatusOr<Url> ParseUrl(absl::string_view text);

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

// "Name: value" (a --push-header) -> {"Name", "value"}; InvalidArgument for
// a name that is not an HTTP token, or a value with CR/LF.
absl::StatusOr<std::pair<std::string, std::string>> ParseHeaderLine(
    absl::string_view line);

struct HttpResponse {
  int status = 0;
  std::string reason;
  HttpHeaders headers;  // names as sent
  std::string body;     // at most HttpResponseParser::kMaxBody bytes kept
  // The first value of header `name` (case-insensitive), or "".
  std::string Header(absl::string_view name) const;
};

// Parses an HTTP/1.1 response as its bytes arrive: status line, headers,
// and a body framed by Content-Length, chunked encoding or the end of the
// connection. Bounded: headers beyond kMaxHeaderBytes are an error; body
// bytes beyond kMaxBody are read and discarded.
class HttpResponseParser {
 public:
  static constexpr size_t kMaxHeaderBytes = 64 * 1024;
  static constexpr size_t kMaxBody = 1024 * 1024;

  enum class State { kNeedMore, kDone, kError };

  // The next bytes of the connection. Once kDone or kError, later bytes
  // are ignored.
  State Feed(absl::string_view data);
  // The peer closed the connection: completes a body framed by the close;
  // anything else unfinished is an error.
  State Close();

  State state() const { return state_; }
  const std::string& error() const { return error_; }
  const HttpResponse& response() const { return response_; }

  // A response to a HEAD request, or a 1xx/204/304, has no body.
  void set_no_body(bool no_body) { no_body_ = no_body; }

 private:
  enum class Phase {
    kHead,
    kLength,
    kChunkSize,
    kChunkData,
    kChunkCrlf,
    kTrailers,
    kUntilClose
  };
  State Fail(std::string message);
  State ParseHead(absl::string_view head);
  void KeepBody(absl::string_view bytes);
  State Run();

  State state_ = State::kNeedMore;
  Phase phase_ = Phase::kHead;
  std::string buffer_;  // bytes not consumed yet
  std::string error_;
  HttpResponse response_;
  size_t remaining_ = 0;  // of the body (kLength) or of a chunk
  bool no_body_ = false;
};

struct HttpRequest {
  std::string method = "POST";
  Url url;
  HttpHeaders headers;  // Host, Content-Length, Connection added
  std::string body;
};

struct HttpOptions {
  double timeout_s = 10;  // connect, send and receive together
  std::string ca_file;    // https: trust this CA file instead of the system's
};

// Sends `request` on a new connection and reads the response. Errors: the
// name does not resolve, the connection is refused or times out, TLS fails
// (the certificate does not verify), the response is not HTTP. A response
// of any status is OK here; the caller judges it.
absl::StatusOr<HttpResponse> SendHttp(const HttpRequest& request,
                                      const HttpOptions& options);

}  // namespace pystrobe

#endif  // PYSTROBE_HTTP_HTTP_H_
