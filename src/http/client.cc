// One HTTP/1.1 exchange on its own connection, within one deadline; TLS by
// OpenSSL (libssl-dev: its static archives link into the static build).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "pystrobe/base/clock.h"
#include "pystrobe/base/scoped_fd.h"
#include "pystrobe/base/status_macros.h"
#include "pystrobe/http/http.h"

namespace pystrobe {
namespace {

struct SslCtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct SslFree {
  void operator()(SSL* s) const { SSL_free(s); }
};

std::string SslError(absl::string_view what) {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return std::string(what);
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  return absl::StrCat(what, ": ", buf);
}

// The connection, plain or TLS, with a deadline on every wait.
class Connection {
 public:
  Connection(const Url& url, int64_t deadline_ns)
      : url_(url), deadline_ns_(deadline_ns) {}

  absl::Status Open(const HttpOptions& options) {
    PYSTROBE_RETURN_IF_ERROR(Connect());
    if (url_.scheme == "https") return StartTls(options);
    return absl::OkStatus();
  }

  absl::Status WriteAll(absl::string_view data) {
    while (!data.empty()) {
      ssize_t n = 0;
      if (ssl_) {
        const int r =
            SSL_write(ssl_.get(), data.data(),
                      static_cast<int>(std::min<size_t>(data.size(), 1 << 20)));
        if (r <= 0) {
          PYSTROBE_RETURN_IF_ERROR(WaitSsl(r, "sending"));
          continue;
        }
        n = r;
      } else {
        n = send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL);
        if (n < 0) {
          if (errno == EAGAIN || errno == EINTR) {
            PYSTROBE_RETURN_IF_ERROR(Wait(POLLOUT, "sending"));
            continue;
          }
          return absl::UnavailableError(
              absl::StrCat("sending: ", std::strerror(errno)));
        }
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return absl::OkStatus();
  }

  // Some bytes into `buf`; 0 at the end of the stream.
  absl::StatusOr<size_t> Read(char* buf, size_t size) {
    for (;;) {
      if (ssl_) {
        const int r = SSL_read(ssl_.get(), buf, static_cast<int>(size));
        if (r > 0) return static_cast<size_t>(r);
        const int e = SSL_get_error(ssl_.get(), r);
        if (e == SSL_ERROR_ZERO_RETURN) return 0;
        if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) return 0;
        PYSTROBE_RETURN_IF_ERROR(WaitSsl(r, "receiving"));
        continue;
      }
      const ssize_t n = recv(fd_.get(), buf, size, 0);
      if (n >= 0) return static_cast<size_t>(n);
      if (errno == EAGAIN || errno == EINTR) {
        PYSTROBE_RETURN_IF_ERROR(Wait(POLLIN, "receiving"));
        continue;
      }
      return absl::UnavailableError(
          absl::StrCat("receiving: ", std::strerror(errno)));
    }
  }

  ~Connection() {
    if (ssl_) SSL_shutdown(ssl_.get());
  }

 private:
  absl::Status Wait(short events, absl::string_view what) {
    for (;;) {
      const int64_t left_ms =
          (deadline_ns_ - ClockNs(CLOCK_MONOTONIC)) / 1'000'000;
      if (left_ms <= 0) {
        return absl::DeadlineExceededError(absl::StrCat("timed out ", what));
      }
      pollfd p{fd_.get(), events, 0};
      const int r = poll(&p, 1, static_cast<int>(left_ms));
      if (r > 0) return absl::OkStatus();
      if (r < 0 && errno != EINTR) {
        return absl::UnavailableError(
            absl::StrCat(what, ": ", std::strerror(errno)));
      }
    }
  }

  absl::Status WaitSsl(int result, absl::string_view what) {
    const int e = SSL_get_error(ssl_.get(), result);
    if (e == SSL_ERROR_WANT_READ) return Wait(POLLIN, what);
    if (e == SSL_ERROR_WANT_WRITE) return Wait(POLLOUT, what);
    return absl::UnavailableError(SslError(absl::StrCat("TLS ", what)));
  }

  absl::Status Connect() {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    const std::string port = std::to_string(url_.port);
    if (int r = getaddrinfo(url_.host.c_str(), port.c_str(), &hints, &found);
        r != 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot resolve ", url_.host, ": ", gai_strerror(r)));
    }
    std::unique_ptr<addrinfo, void (*)(addrinfo*)> owner(found, freeaddrinfo);
    std::string last = "no address";
    for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
      ScopedFd fd(socket(a->ai_family,
                         a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                         a->ai_protocol));
      if (!fd) {
        last = std::strerror(errno);
        continue;
      }
      if (connect(fd.get(), a->ai_addr, a->ai_addrlen) != 0) {
        if (errno != EINPROGRESS) {
          last = std::strerror(errno);
          continue;
        }
        fd_ = std::move(fd);
        if (absl::Status s = Wait(POLLOUT, "connecting"); !s.ok()) return s;
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
          last = std::strerror(err);
          fd_.reset();
          continue;
        }
      } else {
        fd_ = std::move(fd);
      }
      return absl::OkStatus();
    }
    return absl::UnavailableError(absl::StrCat("cannot connect to ", url_.host,
                                               ":", url_.port, ": ", last));
  }

  absl::Status StartTls(const HttpOptions& options) {
    ctx_.reset(SSL_CTX_new(TLS_client_method()));
    if (!ctx_) return absl::InternalError(SslError("TLS set-up"));
    SSL_CTX_set_min_proto_version(ctx_.get(), TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx_.get(), SSL_VERIFY_PEER, nullptr);
    int loaded = 0;
    if (!options.ca_file.empty()) {
      loaded = SSL_CTX_load_verify_locations(ctx_.get(),
                                             options.ca_file.c_str(), nullptr);
    } else {
      // OpenSSL's own default (Debian's /usr/lib/ssl, or SSL_CERT_FILE),
      // and the bundle where this host keeps it: the static binary runs on
      // distributions whose OpenSSL directory is elsewhere.
      loaded = SSL_CTX_set_default_verify_paths(ctx_.get());
      for (const char* bundle :
           {"/etc/ssl/certs/ca-certificates.crt",
            "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/ca-bundle.pem",
            "/etc/ssl/cert.pem"}) {
        if (access(bundle, R_OK) == 0 &&
            SSL_CTX_load_verify_locations(ctx_.get(), bundle, nullptr) == 1) {
          loaded = 1;
          break;
        }
      }
      ERR_clear_error();
    }
    if (loaded != 1) {
      return absl::FailedPreconditionError(SslError(
          options.ca_file.empty()
              ? std::string("cannot load the system's CA certificates")
              : absl::StrCat("cannot load CA file ", options.ca_file)));
    }
    ssl_.reset(SSL_new(ctx_.get()));
    if (!ssl_) return absl::InternalError(SslError("TLS set-up"));
    SSL_set_fd(ssl_.get(), fd_.get());
    // The certificate must name the host: its IP address for an address
    // (no SNI then, RFC 6066), else its DNS name.
    in6_addr ip{};
    const bool is_ip = inet_pton(AF_INET, url_.host.c_str(), &ip) == 1 ||
                       inet_pton(AF_INET6, url_.host.c_str(), &ip) == 1;
    if (is_ip) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_.get()),
                                    url_.host.c_str());
    } else {
      SSL_set_tlsext_host_name(ssl_.get(), url_.host.c_str());
      SSL_set1_host(ssl_.get(), url_.host.c_str());
    }
    for (;;) {
      const int r = SSL_connect(ssl_.get());
      if (r == 1) return absl::OkStatus();
      const int e = SSL_get_error(ssl_.get(), r);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        PYSTROBE_RETURN_IF_ERROR(
            Wait(e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
                 "in the TLS handshake"));
        continue;
      }
      const long verify = SSL_get_verify_result(ssl_.get());
      if (verify != X509_V_OK) {
        ERR_clear_error();
        // Not a passing trouble: retrying would not make it verify.
        return absl::FailedPreconditionError(
            absl::StrCat("TLS: the server's certificate does not verify: ",
                         X509_verify_cert_error_string(verify)));
      }
      return absl::UnavailableError(SslError("TLS handshake failed"));
    }
  }

  const Url& url_;
  int64_t deadline_ns_;
  ScopedFd fd_;
  std::unique_ptr<SSL_CTX, SslCtxFree> ctx_;
  std::unique_ptr<SSL, SslFree> ssl_;
};

}  // namespace

absl::StatusOr<HttpResponse> SendHttp(const HttpRequest& request,
                                      const HttpOptions& options) {
  const int64_t deadline =
      ClockNs(CLOCK_MONOTONIC) + static_cast<int64_t>(options.timeout_s * 1e9);
  Connection conn(request.url, deadline);
  if (absl::Status s = conn.Open(options); !s.ok()) return s;
  const bool default_port =
      (request.url.scheme == "http" && request.url.port == 80) ||
      (request.url.scheme == "https" && request.url.port == 443);
  const bool v6 = request.url.host.find(':') != std::string::npos;
  std::string head = absl::StrCat(
      request.method, " ", request.url.path,
      " HTTP/1.1\r\nHost: ", v6 ? "[" : "", request.url.host, v6 ? "]" : "",
      default_port ? "" : absl::StrCat(":", request.url.port),
      "\r\nConnection: close\r\nUser-Agent: pystrobe/" PYSTROBE_VERSION
      "\r\nContent-Length: ",
      request.body.size(), "\r\n");
  for (const auto& [name, value] : request.headers) {
    absl::StrAppend(&head, name, ": ", value, "\r\n");
  }
  head += "\r\n";
  if (absl::Status s = conn.WriteAll(head); !s.ok()) return s;
  if (absl::Status s = conn.WriteAll(request.body); !s.ok()) return s;
  HttpResponseParser parser;
  parser.set_no_body(request.method == "HEAD");
  char buf[16384];
  while (parser.state() == HttpResponseParser::State::kNeedMore) {
    absl::StatusOr<size_t> n = conn.Read(buf, sizeof(buf));
    if (!n.ok()) return n.status();
    if (*n == 0) {
      parser.Close();
    } else {
      parser.Feed(absl::string_view(buf, *n));
    }
  }
  if (parser.state() == HttpResponseParser::State::kError) {
    return absl::UnavailableError(
        absl::StrCat("bad response from ", request.url.host, ":",
                     request.url.port, ": ", parser.error()));
  }
  return parser.response();
}

}  // namespace pystrobe
