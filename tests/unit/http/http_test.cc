#include <random>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pystrobe/http/http.h"

namespace pystrobe {
namespace {

using State = HttpResponseParser::State;

TEST(ParseUrlTest, SchemesPortsAndPaths) {
  absl::StatusOr<Url> u = ParseUrl("http://127.0.0.1:4318");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->scheme, "http");
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 4318);
  EXPECT_EQ(u->path, "/");
  u = ParseUrl("https://otel.example/v1/x?a=b");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->path, "/v1/x?a=b");
  u = ParseUrl("http://[::1]:8080/p");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->ToString(), "http://[::1]:8080/p");
}

TEST(ParseUrlTest, RefusesWhatItCannotSend) {
  for (const char* bad : {"ftp://x", "x:4318", "http://", "http://h:0",
                          "http://h:70000", "http://h:", "http://u:p@h/",
                          "http://h /x", "http://::1/", "http://[::1"}) {
    EXPECT_FALSE(ParseUrl(bad).ok()) << bad;
  }
}

TEST(ParseHeaderLineTest, NameAndValue) {
  auto h = ParseHeaderLine("Authorization:  Bearer abc ");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->first, "Authorization");
  EXPECT_EQ(h->second, "Bearer abc");
  EXPECT_FALSE(ParseHeaderLine("no colon").ok());
  EXPECT_FALSE(ParseHeaderLine("Bad Name: x").ok());
  EXPECT_FALSE(ParseHeaderLine(": x").ok());
  EXPECT_FALSE(ParseHeaderLine(std::string("X: a\r\nEvil: 1")).ok());
}

HttpResponseParser ParseWhole(const std::string& bytes, bool close) {
  HttpResponseParser p;
  p.Feed(bytes);
  if (close) p.Close();
  return p;
}

TEST(HttpResponseParserTest, ContentLength) {
  HttpResponseParser p = ParseWhole(
      "HTTP/1.1 401 Unauthorized\r\nContent-Length: 5\r\nX-A: b\r\n\r\nnope!",
      false);
  ASSERT_EQ(p.state(), State::kDone) << p.error();
  EXPECT_EQ(p.response().status, 401);
  EXPECT_EQ(p.response().reason, "Unauthorized");
  EXPECT_EQ(p.response().body, "nope!");
  EXPECT_EQ(p.response().Header("x-a"), "b");
}

TEST(HttpResponseParserTest, ChunkedWithTrailers) {
  HttpResponseParser p = ParseWhole(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3;ext=1\r\nabc\r\nA\r\n0123456789\r\n0\r\nT: 1\r\n\r\n",
      false);
  ASSERT_EQ(p.state(), State::kDone) << p.error();
  EXPECT_EQ(p.response().body, "abc0123456789");
}

TEST(HttpResponseParserTest, BodyUntilCloseAndInterim100) {
  HttpResponseParser p = ParseWhole(
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\n\r\nall", true);
  ASSERT_EQ(p.state(), State::kDone) << p.error();
  EXPECT_EQ(p.response().status, 200);
  EXPECT_EQ(p.response().body, "all");
}

TEST(HttpResponseParserTest, NoContentHasNoBody) {
  HttpResponseParser p = ParseWhole("HTTP/1.1 204 No Content\r\n\r\n", false);
  EXPECT_EQ(p.state(), State::kDone);
}

TEST(HttpResponseParserTest, Errors) {
  for (const char* bad :
       {"SSH-2.0-OpenSSH\r\n\r\n", "HTTP/1.1 99 Low\r\n\r\n",
        "HTTP/1.1 2000 X\r\n\r\n", "HTTP/1.1 200 OK\r\nbad header\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"}) {
    EXPECT_EQ(ParseWhole(bad, false).state(), State::kError) << bad;
  }
  // Cut short by the peer.
  EXPECT_EQ(ParseWhole("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc", true)
                .state(),
            State::kError);
  EXPECT_EQ(ParseWhole("", true).state(), State::kError);
  // Headers without end are bounded.
  EXPECT_EQ(ParseWhole("HTTP/1.1 200 OK\r\n" + std::string(70000, 'a'), false)
                .state(),
            State::kError);
}

TEST(HttpResponseParserTest, BodyIsBounded) {
  const size_t n = HttpResponseParser::kMaxBody + 1000;
  HttpResponseParser p =
      ParseWhole("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(n) +
                     "\r\n\r\n" + std::string(n, 'x'),
                 false);
  ASSERT_EQ(p.state(), State::kDone);
  EXPECT_EQ(p.response().body.size(), HttpResponseParser::kMaxBody);
}

// The same response in any split gives the same result.
TEST(HttpResponseParserTest, AnySplit) {
  const std::string whole =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    HttpResponseParser p;
    size_t at = 0;
    while (at < whole.size()) {
      const size_t n = 1 + rng() % 7;
      p.Feed(whole.substr(at, n));
      at += n;
    }
    ASSERT_EQ(p.state(), State::kDone) << p.error();
    EXPECT_EQ(p.response().body, "hello world");
  }
}

// Garbage never crashes and always ends in a state (the fuzzer's job, in
// every build).
TEST(HttpResponseParserTest, RandomBytes) {
  std::mt19937 rng(11);
  const std::string alphabet = "HTTP/1. 0123456789abcdefABCDEF:\r\n;chunked-";
  for (int round = 0; round < 2000; ++round) {
    std::string bytes = "HTTP/1.1 200 OK\r\n";
    const size_t n = rng() % 200;
    for (size_t i = 0; i < n; ++i) bytes += alphabet[rng() % alphabet.size()];
    HttpResponseParser p;
    p.Feed(bytes);
    p.Close();
    EXPECT_NE(p.state(), State::kNeedMore);
  }
}

}  // namespace
}  // namespace pystrobe
