// The push path without a backend: target URLs, service names, the
// requests each backend gets, the spool's bound and order, and a Pusher
// whose backend is unreachable (nothing listens on the port): windows wait
// in the spool, in order, and a later Pusher with the same spool sends
// them first. The real collector is tests/integration/record_push_test.cc.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "otlp_profiles.pb.h"
#include "pystrobe/profile/formats.h"
#include "pystrobe/profile/otlp.h"
#include "pystrobe/recorder/push.h"
#include "pystrobe/recorder/spool.h"

namespace pystrobe {
namespace {

using ::testing::HasSubstr;

// A fresh folder under /tmp, removed with its contents.
class ScopedTempDir {
 public:
  ScopedTempDir() {
    char tmpl[] = "/tmp/pystrobe-push-test-XXXXXX";
    const char* d = mkdtemp(tmpl);
    path_ = d == nullptr ? "" : d;
  }
  ~ScopedTempDir() {
    if (!path_.empty()) std::filesystem::remove_all(path_);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

Profile TwoFrameProfile() {
  Profile p;
  p.sample_types = {{"samples", "count"}, {"wall", "nanoseconds"}};
  p.period_type = {"wall", "nanoseconds"};
  p.period = 10'000'000;
  p.time_nanos = 1'700'000'000'000'000'000;
  p.duration_nanos = 30'000'000'000;
  const uint64_t f =
      p.AddFunction({"Server.handle", "handle", "/srv/app.py", 10});
  const uint64_t g = p.AddFunction({"main", "main", "/srv/app.py", 1});
  const uint64_t l1 = p.AddLocation({f, 12});
  const uint64_t l2 = p.AddLocation({g, 3});
  Sample s1{{l1, l2}, {3, 30'000'000}, {}};
  s1.labels.push_back({"thread_name", "MainThread", 0, ""});
  s1.labels.push_back({"pid", "", 4242, ""});
  Sample s2{{l2}, {1, 10'000'000}, {}};
  s2.labels.push_back({"thread_name", "MainThread", 0, ""});
  p.samples = {s1, s2};
  p.comments = {"command_line=/usr/bin/python3 /srv/app.py --port 80",
                "python_version=3.11.2"};
  return p;
}

TEST(ParsePushTargetTest, Backends) {
  absl::StatusOr<PushTarget> t = ParsePushTarget("http://127.0.0.1:4318");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->protocol, PushProtocol::kOtlp);
  EXPECT_EQ(t->url.path, "/v1development/profiles");
  t = ParsePushTarget("https://otel:4318/custom/profiles");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->url.path, "/custom/profiles");
  t = ParsePushTarget("pyroscope+http://pyro:4040");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->protocol, PushProtocol::kPyroscope);
  EXPECT_EQ(t->url.path, "/ingest");
  EXPECT_FALSE(ParsePushTarget("parca+http://x:1").ok());
  EXPECT_FALSE(ParsePushTarget("otel:4318").ok());
  EXPECT_FALSE(ParsePushTarget("http://x:1/p?q=1").ok());
}

TEST(ServiceNameTest, FromCommandLines) {
  EXPECT_EQ(ServiceNameFromCommandLine("/usr/bin/python3 -u /srv/app.py -v"),
            "app");
  EXPECT_EQ(ServiceNameFromCommandLine("python3.11 -m http.server 80"),
            "http.server");
  EXPECT_EQ(ServiceNameFromCommandLine("gunicorn: master [app:app]"),
            "gunicorn");
  EXPECT_EQ(ServiceNameFromCommandLine("python -c pass"), "python");
  EXPECT_EQ(ServiceNameFromCommandLine(""), "python");
}

// The OTLP body decodes (with our proto) to the same stacks, lines, values
// and labels, one profile per sample type, tables starting with a zero
// entry.
TEST(EncodeOtlpTest, SameSamplesAsTheProfile) {
  const Profile p = TwoFrameProfile();
  absl::StatusOr<std::string> body =
      EncodeOtlpProfiles(p, {OtlpAttribute::String("service.name", "app"),
                             OtlpAttribute::Int("process.pid", 4242)});
  ASSERT_TRUE(body.ok()) << body.status();
  otlp::ExportProfilesServiceRequest req;
  ASSERT_TRUE(req.ParseFromString(*body));
  const otlp::ProfilesDictionary& d = req.dictionary();
  ASSERT_GE(d.string_table_size(), 1);
  EXPECT_EQ(d.string_table(0), "");
  ASSERT_EQ(req.resource_profiles_size(), 1);
  const auto& attrs = req.resource_profiles(0).resource().attributes();
  ASSERT_EQ(attrs.size(), 2);
  EXPECT_EQ(attrs[1].value().int_value(), 4242);
  const auto& profiles = req.resource_profiles(0).scope_profiles(0).profiles();
  ASSERT_EQ(profiles.size(), 2);
  for (int t = 0; t < 2; ++t) {
    const otlp::Profile& op = profiles[t];
    EXPECT_EQ(d.string_table(op.sample_type().type_strindex()),
              p.sample_types[t].type);
    EXPECT_EQ(op.time_unix_nano(), static_cast<uint64_t>(p.time_nanos));
    ASSERT_EQ(op.samples_size(), 2);
    for (int i = 0; i < 2; ++i) {
      const otlp::Sample& s = op.samples(i);
      EXPECT_EQ(s.values(0), p.samples[i].values[t]);
      const otlp::Stack& st = d.stack_table(s.stack_index());
      ASSERT_EQ(st.location_indices_size(),
                static_cast<int>(p.samples[i].location_ids.size()));
      for (int k = 0; k < st.location_indices_size(); ++k) {
        const otlp::Location& loc = d.location_table(st.location_indices(k));
        const Location& want = p.locations[p.samples[i].location_ids[k] - 1];
        ASSERT_EQ(loc.lines_size(), 1);
        EXPECT_EQ(loc.lines(0).line(), want.line);
        EXPECT_EQ(d.string_table(d.function_table(loc.lines(0).function_index())
                                     .name_strindex()),
                  p.functions[want.function_id - 1].name);
      }
      ASSERT_EQ(s.attribute_indices_size(),
                static_cast<int>(p.samples[i].labels.size()));
      const otlp::KeyValueAndUnit& a =
          d.attribute_table(s.attribute_indices(0));
      EXPECT_EQ(d.string_table(a.key_strindex()), "thread_name");
      EXPECT_EQ(a.value().string_value(), "MainThread");
    }
  }
}

// A collector's answer to an export: partial success as the collector's
// own message class writes it, an empty body, and a body that is no
// ExportProfilesServiceResponse.
TEST(ParseOtlpExportResponseTest, PartialSuccessEmptyAndForeign) {
  otlp::ExportProfilesServiceResponse response;
  response.mutable_partial_success()->set_rejected_profiles(2);
  response.mutable_partial_success()->set_error_message("no wall here");
  absl::StatusOr<OtlpExportResult> r =
      ParseOtlpExportResponse(response.SerializeAsString());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->rejected_profiles, 2);
  EXPECT_EQ(r->error_message, "no wall here");

  r = ParseOtlpExportResponse("");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->rejected_profiles, 0);
  EXPECT_EQ(r->error_message, "");

  EXPECT_FALSE(ParseOtlpExportResponse("{\"partialSuccess\": {}}").ok());
}

TEST(BuildPushRequestTest, PyroscopeIngest) {
  absl::StatusOr<PushTarget> t = ParsePushTarget("pyroscope+http://pyro:4040");
  ASSERT_TRUE(t.ok());
  PushIdentity who;
  who.host = "web-1";
  who.labels = {{"env", "staging"}};
  absl::StatusOr<SpooledWindow> w =
      BuildPushRequest(*t, who, TwoFrameProfile());
  ASSERT_TRUE(w.ok()) << w.status();
  // app{hostname=web-1,env=staging}, percent-encoded.
  EXPECT_THAT(
      w->target,
      HasSubstr("/ingest?name=app%7Bhostname%3Dweb-1%2Cenv%3Dstaging%7D"));
  EXPECT_THAT(w->target, HasSubstr("&from=1700000000&until=1700000030"));
  EXPECT_THAT(w->target, HasSubstr("&format=pprof&sampleRate=100"));
  EXPECT_THAT(w->content_type, HasSubstr("multipart/form-data; boundary="));
  EXPECT_THAT(w->body, HasSubstr("name=\"profile\""));
}

TEST(SpoolTest, BoundDropsTheOldestAndKeepsOrderAcrossReopen) {
  ScopedTempDir tmp;
  const std::string dir = tmp.path() + "/spool";
  SpooledWindow w{"/v1development/profiles", "application/x-protobuf", "w0",
                  std::string(1000, 'x')};
  const int64_t one = static_cast<int64_t>(EncodeSpooledWindow(w).size());
  absl::StatusOr<Spool> s = Spool::Open(dir, 3 * one);
  ASSERT_TRUE(s.ok()) << s.status();
  int dropped = 0;
  for (int i = 0; i < 5; ++i) {
    w.name = absl::StrCat("w", i);
    ASSERT_TRUE(s->Add(w, &dropped).ok());
    EXPECT_EQ(dropped, i < 3 ? 0 : 1) << i;
  }
  EXPECT_EQ(s->size(), 3u);
  absl::StatusOr<Spool> again = Spool::Open(dir, 3 * one);
  ASSERT_TRUE(again.ok());
  for (const char* want : {"w2", "w3", "w4"}) {
    absl::StatusOr<SpooledWindow> got = again->Oldest();
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->name, want);
    EXPECT_EQ(got->body, w.body);
    again->RemoveOldest();
  }
  EXPECT_TRUE(again->empty());
  EXPECT_FALSE(Spool::Open("/nonexistent-parent/x", one).ok());
}

// A port nothing listens on: bound, then closed.
int DeadPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

// Waits (up to a minute) until `n` windows went to the spool.
bool WaitForSpooled(const Pusher& p, uint64_t n) {
  for (int i = 0; i < 6000; ++i) {
    if (p.counts().spooled >= n) return true;
    usleep(10'000);
  }
  return false;
}

TEST(PusherTest, UnreachableBackendSpoolsInOrderWithOneLine) {
  ScopedTempDir tmp;
  const std::string dir = tmp.path() + "/spool";
  PushOptions o;
  o.target = *ParsePushTarget(absl::StrCat("http://127.0.0.1:", DeadPort()));
  o.spool_dir = dir;
  o.backoff_initial_s = 0.05;
  o.backoff_max_s = 0.1;
  std::vector<std::string> lines;
  std::mutex mu;
  absl::StatusOr<std::unique_ptr<Pusher>> p =
      Pusher::Start(o, [&](const std::string& l) {
        std::lock_guard<std::mutex> lock(mu);
        lines.push_back(l);
      });
  ASSERT_TRUE(p.ok()) << p.status();
  for (int i = 0; i < 4; ++i) {
    (*p)->Enqueue({"/v1development/profiles", "application/x-protobuf",
                   absl::StrCat("w", i), "body"});
  }
  ASSERT_TRUE(WaitForSpooled(**p, 4));
  const PushCounts c = (*p)->Finish(0.2);
  EXPECT_EQ(c.sent, 0u);
  EXPECT_EQ(c.dropped, 0u);
  EXPECT_EQ(c.spooled, 4u);
  EXPECT_EQ(c.waiting, 4u);
  ASSERT_EQ(lines.size(), 1u) << testing::PrintToString(lines);
  EXPECT_THAT(lines[0], HasSubstr("failed"));
  EXPECT_THAT(lines[0], HasSubstr("refused"));
  absl::StatusOr<Spool> left = Spool::Open(dir, 64 << 20);
  ASSERT_TRUE(left.ok());
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(left->Oldest()->name, absl::StrCat("w", i));
    left->RemoveOldest();
  }
}

}  // namespace
}  // namespace pystrobe
