// HTTP/1.1 response framing (RFC 9112): what a backend's answer to a push
// looks like on the wire. Fuzzed: tests/fuzz/http_response_fuzzer.cc.
#include <cctype>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "pystrobe/http/http.h"

namespace pystrobe {
namespace {

// A chunk size line's number: hex digits, an optional extension after ';'.
bool ParseChunkSize(absl::string_view line, size_t* size) {
  line = line.substr(0, line.find(';'));
  line = absl::StripAsciiWhitespace(line);
  if (line.empty() || line.size() > 15) return false;
  size_t n = 0;
  for (char c : line) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
    n = n * 16 + static_cast<size_t>(std::isdigit(static_cast<unsigned char>(c))
                                         ? c - '0'
                                         : std::tolower(c) - 'a' + 10);
  }
  *size = n;
  return true;
}

}  // namespace

HttpResponseParser::State HttpResponseParser::Fail(std::string message) {
  error_ = std::move(message);
  state_ = State::kError;
  buffer_.clear();
  return state_;
}

void HttpResponseParser::KeepBody(absl::string_view bytes) {
  const size_t room = kMaxBody - std::min(kMaxBody, response_.body.size());
  response_.body.append(bytes.data(), std::min(room, bytes.size()));
}

HttpResponseParser::State HttpResponseParser::ParseHead(
    absl::string_view head) {
  std::vector<absl::string_view> lines = absl::StrSplit(head, "\r\n");
  // Status line: HTTP/1.x SP 3DIGIT [SP reason].
  absl::string_view status_line = lines[0];
  if (!absl::ConsumePrefix(&status_line, "HTTP/1.") || status_line.size() < 5 ||
      !std::isdigit(static_cast<unsigned char>(status_line[0])) ||
      status_line[1] != ' ') {
    return Fail("not an HTTP/1.x response");
  }
  absl::string_view code = status_line.substr(2, 3);
  int status = 0;
  if (!absl::SimpleAtoi(code, &status) || status < 100 || status > 599 ||
      (status_line.size() > 5 && status_line[5] != ' ')) {
    return Fail("a bad status code in the response");
  }
  response_.status = status;
  response_.reason = std::string(absl::StripAsciiWhitespace(
      status_line.size() > 6 ? status_line.substr(6) : ""));
  bool chunked = false;
  bool has_length = false;
  size_t length = 0;
  for (size_t i = 1; i < lines.size(); ++i) {
    absl::string_view line = lines[i];
    if (line.empty()) continue;
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos || colon == 0) {
      return Fail("a response header without a colon");
    }
    std::string name(absl::StripAsciiWhitespace(line.substr(0, colon)));
    std::string value(absl::StripAsciiWhitespace(line.substr(colon + 1)));
    if (absl::EqualsIgnoreCase(name, "Content-Length")) {
      size_t n = 0;
      if (!absl::SimpleAtoi(value, &n) || (has_length && n != length)) {
        return Fail("a bad Content-Length in the response");
      }
      has_length = true;
      length = n;
    } else if (absl::EqualsIgnoreCase(name, "Transfer-Encoding")) {
      chunked = absl::StrContains(absl::AsciiStrToLower(value), "chunked");
    }
    response_.headers.emplace_back(std::move(name), std::move(value));
  }
  // An interim 1xx (100 Continue) is followed by the real response.
  if (status < 200) {
    response_ = HttpResponse();
    phase_ = Phase::kHead;
    return State::kNeedMore;
  }
  if (no_body_ || status == 204 || status == 304) {
    state_ = State::kDone;
  } else if (chunked) {
    phase_ = Phase::kChunkSize;
  } else if (has_length) {
    remaining_ = length;
    phase_ = Phase::kLength;
    if (length == 0) state_ = State::kDone;
  } else {
    phase_ = Phase::kUntilClose;
  }
  return state_;
}

HttpResponseParser::State HttpResponseParser::Run() {
  while (state_ == State::kNeedMore) {
    switch (phase_) {
      case Phase::kHead: {
        const size_t end = buffer_.find("\r\n\r\n");
        if (end == std::string::npos) {
          if (buffer_.size() > kMaxHeaderBytes) {
            return Fail("response headers larger than 64 KiB");
          }
          return state_;
        }
        if (end > kMaxHeaderBytes) {
          return Fail("response headers larger than 64 KiB");
        }
        std::string head = buffer_.substr(0, end);
        buffer_.erase(0, end + 4);
        ParseHead(head);
        break;
      }
      case Phase::kLength: {
        const size_t n = std::min(remaining_, buffer_.size());
        KeepBody(absl::string_view(buffer_).substr(0, n));
        buffer_.erase(0, n);
        remaining_ -= n;
        if (remaining_ == 0) {
          state_ = State::kDone;
        } else {
          return state_;
        }
        break;
      }
      case Phase::kUntilClose:
        KeepBody(buffer_);
        buffer_.clear();
        return state_;
      case Phase::kChunkSize: {
        const size_t end = buffer_.find("\r\n");
        if (end == std::string::npos) {
          if (buffer_.size() > 1024) return Fail("a bad chunk size line");
          return state_;
        }
        size_t size = 0;
        if (!ParseChunkSize(absl::string_view(buffer_).substr(0, end), &size)) {
          return Fail("a bad chunk size in the response");
        }
        buffer_.erase(0, end + 2);
        remaining_ = size;
        phase_ = size == 0 ? Phase::kTrailers : Phase::kChunkData;
        break;
      }
      case Phase::kChunkData: {
        const size_t n = std::min(remaining_, buffer_.size());
        KeepBody(absl::string_view(buffer_).substr(0, n));
        buffer_.erase(0, n);
        remaining_ -= n;
        if (remaining_ > 0) return state_;
        phase_ = Phase::kChunkCrlf;
        break;
      }
      case Phase::kChunkCrlf:
        if (buffer_.size() < 2) return state_;
        if (buffer_.compare(0, 2, "\r\n") != 0) {
          return Fail("a chunk not followed by CRLF");
        }
        buffer_.erase(0, 2);
        phase_ = Phase::kChunkSize;
        break;
      case Phase::kTrailers: {
        // Trailer lines up to an empty one.
        const size_t end = buffer_.find("\r\n");
        if (end == std::string::npos) {
          if (buffer_.size() > kMaxHeaderBytes) {
            return Fail("response trailers larger than 64 KiB");
          }
          return state_;
        }
        buffer_.erase(0, end + 2);
        if (end == 0) state_ = State::kDone;
        break;
      }
    }
  }
  return state_;
}

HttpResponseParser::State HttpResponseParser::Feed(absl::string_view data) {
  if (state_ != State::kNeedMore) return state_;
  buffer_.append(data.data(), data.size());
  return Run();
}

HttpResponseParser::State HttpResponseParser::Close() {
  if (state_ != State::kNeedMore) return state_;
  if (phase_ == Phase::kUntilClose) {
    state_ = State::kDone;
    return state_;
  }
  return Fail(phase_ == Phase::kHead && buffer_.empty() && response_.status == 0
                  ? "the connection closed without a response"
                  : "the connection closed in the middle of the response");
}

}  // namespace pystrobe
