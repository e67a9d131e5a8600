// `pystrobe record --every S --push URL` against a real OpenTelemetry
// Collector (tests/push/build_collector.sh: the collector's OTLP receiver
// and the contrib file exporter, v0.161.0), started here on 127.0.0.1 with
// the profiles feature gate. Ground truth is what the collector decoded and
// wrote back as JSON: each window it received must hold the samples,
// function names, files, lines and labels of the pprof file pystrobe wrote
// for the same window, with the resource attributes of the target. The
// collector stopped for 20 s mid-recording and restarted loses no window
// and gets them in order (--spool). A backend answering 401 (a stand-in,
// tests/push/fake_backend.py) gives one line on stderr and counted drops;
// Pyroscope's ingest request is checked by the same stand-in against the
// published API (its server is not built here: docs/push.md).
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "record_support.h"
#include "subprocess.h"

namespace pystrobe::integration {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;
using ::testing::HasSubstr;

constexpr absl::Duration kTimeout = absl::Seconds(180);

std::string CollectorBinary() {
  if (const char* env = std::getenv("PYSTROBE_OTELCOL")) return env;
  const char* home = std::getenv("HOME");
  return absl::StrCat(home ? home : "/root",
                      "/.cache/pystrobe/otelcol-0.161.0/otelcol-pystrobe");
}

bool Accepts(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  close(fd);
  return ok;
}

// The collector, writing what it receives to `out` (JSON lines).
class Collector {
 public:
  static absl::StatusOr<Collector> Start(const std::string& dir, int port,
                                         const std::string& out) {
    const std::string config = absl::StrCat(dir, "/otelcol-", port, ".yaml");
    std::ofstream(config) << "receivers:\n  otlp:\n    protocols:\n"
                             "      http:\n        endpoint: 127.0.0.1:"
                          << port << "\nexporters:\n  file:\n    path: " << out
                          << "\nservice:\n  telemetry:\n    metrics:\n"
                             "      level: none\n  pipelines:\n"
                             "    profiles:\n      receivers: [otlp]\n"
                             "      exporters: [file]\n";
    absl::StatusOr<ChildProcess> child =
        ChildProcess::Start({CollectorBinary(), "--config=file:" + config,
                             "--feature-gates=service.profilesSupport"},
                            {}, dir + "/otelcol.log");
    if (!child.ok()) return child.status();
    Collector c(*std::move(child));
    if (!WaitFor([&] { return c.child_.HasExited() || Accepts(port); },
                 absl::Seconds(60)) ||
        c.child_.HasExited()) {
      return absl::UnavailableError("the collector did not start: " +
                                    c.child_.Log());
    }
    return c;
  }
  // SIGTERM: the file exporter flushes and closes its file.
  void Stop() {
    kill(child_.pid(), SIGTERM);
    child_.WaitForExit(absl::Seconds(30));
    child_.KillAndReap();
  }
  std::string Log() const { return child_.Log(); }

 private:
  explicit Collector(ChildProcess c) : child_(std::move(c)) {}
  ChildProcess child_;
};

const Value* Field(const Struct& s, const std::string& key) {
  auto it = s.fields().find(key);
  return it == s.fields().end() ? nullptr : &it->second;
}
// A number the JSON holds as a number or (64-bit) as a string; 0 if absent.
int64_t Int(const Struct& s, const std::string& key) {
  const Value* v = Field(s, key);
  if (v == nullptr) return 0;
  if (v->has_number_value()) return static_cast<int64_t>(v->number_value());
  int64_t n = 0;
  if (v->has_string_value() && absl::SimpleAtoi(v->string_value(), &n))
    return n;
  return 0;
}
const Struct& Obj(const Value& v) { return v.struct_value(); }
std::vector<const Value*> List(const Struct& s, const std::string& key) {
  std::vector<const Value*> out;
  if (const Value* v = Field(s, key)) {
    for (const Value& e : v->list_value().values()) out.push_back(&e);
  }
  return out;
}
int64_t IntValue(const Value& v) {
  if (v.has_number_value()) return static_cast<int64_t>(v.number_value());
  int64_t n = 0;
  absl::SimpleAtoi(v.string_value(), &n);
  return n;
}

// A window in a form both sides give: "TYPE|stack|labels" -> value, with
// stack "function@file:line;..." leaf first and labels "k=v" sorted.
using Canonical = std::map<std::string, int64_t>;

struct ReceivedWindow {
  int64_t time_ns = 0;
  Canonical samples;
  std::map<std::string, std::string> resource;  // attribute -> value
  std::string comments;                         // pprof.profile.comment
};

// Every window the collector wrote to `path`, in the order received.
std::vector<ReceivedWindow> ReadCollectorFile(const std::string& path) {
  std::vector<ReceivedWindow> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    absl::StatusOr<Struct> req = ParseJsonObject(line);
    EXPECT_TRUE(req.ok()) << req.status() << line.substr(0, 200);
    if (!req.ok()) continue;
    const Struct& dict = Obj(*Field(*req, "dictionary"));
    std::vector<std::string> strings;
    for (const Value* v : List(dict, "stringTable")) {
      strings.push_back(v->string_value());
    }
    auto str = [&](int64_t i) {
      return i >= 0 && static_cast<size_t>(i) < strings.size()
                 ? strings[i]
                 : std::string("<bad string index>");
    };
    const auto functions = List(dict, "functionTable");
    const auto locations = List(dict, "locationTable");
    const auto stacks = List(dict, "stackTable");
    const auto attributes = List(dict, "attributeTable");
    // An AnyValue as text: the collector may move strings (values and
    // keys) into the dictionary (stringValueStrindex, keyStrindex).
    auto value_text = [&](const Struct& kv) -> std::string {
      const Value* value = Field(kv, "value");
      if (value == nullptr) return "<no value>";
      const Struct& v = Obj(*value);
      if (const Value* sv = Field(v, "stringValue")) return sv->string_value();
      if (Field(v, "stringValueStrindex") != nullptr) {
        return str(Int(v, "stringValueStrindex"));
      }
      if (Field(v, "intValue") != nullptr) {
        return std::to_string(Int(v, "intValue"));
      }
      return "<unexpected value>";
    };
    auto key_text = [&](const Struct& kv) -> std::string {
      if (const Value* k = Field(kv, "key")) return k->string_value();
      return str(Int(kv, "keyStrindex"));
    };
    auto attribute = [&](int64_t i) {
      const Struct& a = Obj(*attributes.at(i));
      return std::make_pair(key_text(a), value_text(a));
    };
    for (const Value* rp : List(*req, "resourceProfiles")) {
      ReceivedWindow w;
      for (const Value* kv :
           List(Obj(*Field(Obj(*rp), "resource")), "attributes")) {
        w.resource[key_text(Obj(*kv))] = value_text(Obj(*kv));
      }
      for (const Value* sp : List(Obj(*rp), "scopeProfiles")) {
        for (const Value* pv : List(Obj(*sp), "profiles")) {
          const Struct& p = Obj(*pv);
          w.time_ns = Int(p, "timeUnixNano");
          const std::string type =
              str(Int(Obj(*Field(p, "sampleType")), "typeStrindex"));
          for (const Value* ai : List(p, "attributeIndices")) {
            auto [k, v] = attribute(IntValue(*ai));
            if (k == "pprof.profile.comment") w.comments = v;
          }
          for (const Value* sv : List(p, "samples")) {
            const Struct& s = Obj(*sv);
            std::vector<std::string> frames;
            for (const Value* li : List(Obj(*stacks.at(Int(s, "stackIndex"))),
                                        "locationIndices")) {
              const Struct& loc = Obj(*locations.at(IntValue(*li)));
              const Struct& l = Obj(*List(loc, "lines").at(0));
              const Struct& f = Obj(*functions.at(Int(l, "functionIndex")));
              frames.push_back(absl::StrCat(str(Int(f, "nameStrindex")), "@",
                                            str(Int(f, "filenameStrindex")),
                                            ":", Int(l, "line")));
            }
            std::vector<std::string> labels;
            for (const Value* ai : List(s, "attributeIndices")) {
              auto [k, v] = attribute(IntValue(*ai));
              labels.push_back(k + "=" + v);
            }
            std::sort(labels.begin(), labels.end());
            w.samples[absl::StrCat(type, "|", absl::StrJoin(frames, ";"), "|",
                                   absl::StrJoin(labels, ","))] +=
                IntValue(*List(s, "values").at(0));
          }
        }
      }
      out.push_back(std::move(w));
    }
  }
  return out;
}

// A resource attribute of a received window, "<missing>" when absent.
std::string Attr(const ReceivedWindow& w, const std::string& key) {
  auto it = w.resource.find(key);
  return it == w.resource.end() ? "<missing>" : it->second;
}

Canonical CanonicalOf(const Profile& p) {
  Canonical out;
  for (const Sample& s : p.samples) {
    std::vector<std::string> frames;
    for (uint64_t id : s.location_ids) {
      const Location& l = p.locations[id - 1];
      const Function& f = p.functions[l.function_id - 1];
      frames.push_back(absl::StrCat(f.name, "@", f.filename, ":", l.line));
    }
    std::vector<std::string> labels;
    for (const Label& l : s.labels) {
      labels.push_back(l.key + "=" +
                       (l.is_numeric() ? std::to_string(l.num) : l.str));
    }
    std::sort(labels.begin(), labels.end());
    for (size_t t = 0; t < p.sample_types.size(); ++t) {
      if (s.values[t] == 0) continue;
      out[absl::StrCat(p.sample_types[t].type, "|", absl::StrJoin(frames, ";"),
                       "|", absl::StrJoin(labels, ","))] += s.values[t];
    }
  }
  return out;
}

std::vector<std::string> WindowFiles(const std::string& dir) {
  std::vector<std::string> out;
  const std::regex re(R"(app\.\d{8}-\d{6}\.pb\.gz)");
  DIR* d = opendir(dir.c_str());
  while (d != nullptr) {
    dirent* e = readdir(d);
    if (e == nullptr) break;
    if (std::regex_match(e->d_name, re)) out.push_back(dir + "/" + e->d_name);
  }
  if (d != nullptr) closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

// "push to URL: N windows sent, R retried, S spooled, D dropped".
std::vector<int64_t> PushSummary(const std::string& output) {
  const std::regex re(
      R"(push to \S+: (\d+) windows sent, (\d+) retried, (\d+) spooled, (\d+) dropped)");
  std::smatch m;
  if (!std::regex_search(output, m, re)) return {};
  return {std::stoll(m[1]), std::stoll(m[2]), std::stoll(m[3]),
          std::stoll(m[4])};
}

int CountLines(const std::string& text, const std::string& needle) {
  int n = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.find(needle) != absl::string_view::npos) ++n;
  }
  return n;
}

// `pystrobe ARGS` run to its end on a thread of its own, stderr captured
// whole (not a terminal: no status lines), so that the test can stop and
// start the backend meanwhile.
class BackgroundRecording {
 public:
  explicit BackgroundRecording(std::vector<std::string> args) {
    args.insert(args.begin(), PystrobeBinary());
    thread_ =
        std::thread([this, args] { result_ = RunCommand(args, kTimeout); });
  }
  ~BackgroundRecording() {
    if (thread_.joinable()) thread_.join();
  }
  const CommandResult& Wait() {
    if (thread_.joinable()) thread_.join();
    return result_;
  }

 private:
  std::thread thread_;
  CommandResult result_;
};

class RecordPushTest : public DefaultInterpreterTest {
 protected:
  void SetUp() override {
    DefaultInterpreterTest::SetUp();
    if (IsSkipped()) return;
    if (access(CollectorBinary().c_str(), X_OK) != 0) {
      GTEST_SKIP() << "no collector at " << CollectorBinary()
                   << " (tests/push/build_collector.sh builds it)";
    }
  }
  std::string P(const std::string& name) const {
    return dir_.path() + "/" + name;
  }
  void StartTarget() {
    absl::StatusOr<ChildProcess> t =
        StartWorkload(py_, "record_windows.py", {dir_.path()}, dir_.path());
    ASSERT_TRUE(t.ok()) << t.status();
    target_.emplace(*std::move(t));
    ASSERT_TRUE(WaitForFileOrExit(P("ready"), *target_, kTimeout))
        << target_->Log();
  }
  // Every window file arrived once, in order, with the same contents.
  void ExpectWindowsArrived(const std::vector<ReceivedWindow>& received,
                            const std::string& output) {
    const std::vector<std::string> files = WindowFiles(dir_.path());
    ASSERT_GE(files.size(), 3u) << output;
    ASSERT_EQ(received.size(), files.size()) << output;
    for (size_t i = 0; i < files.size(); ++i) {
      absl::StatusOr<Profile> p = ReadProfile(files[i]);
      ASSERT_TRUE(p.ok()) << files[i] << ": " << p.status();
      const ReceivedWindow& w = received[i];
      EXPECT_EQ(w.time_ns, p->time_nanos)
          << files[i] << " (window " << i << ") arrived out of order";
      EXPECT_FALSE(w.samples.empty()) << files[i];
      EXPECT_EQ(w.samples, CanonicalOf(*p)) << files[i];
      EXPECT_EQ(w.comments, absl::StrJoin(p->comments, "\n")) << files[i];
      EXPECT_EQ(Attr(w, "process.pid"), std::to_string(target_->pid()));
      EXPECT_THAT(Attr(w, "process.command_line"),
                  HasSubstr("record_windows.py"));
      char host[256] = {};
      gethostname(host, sizeof(host) - 1);
      EXPECT_EQ(Attr(w, "host.name"), host);
      bool python_named = false;
      for (const std::string& c : p->comments) {
        if (c == "python_version=" + Attr(w, "process.runtime.version")) {
          python_named = true;
        }
      }
      EXPECT_TRUE(python_named) << files[i];
    }
  }

  std::optional<ChildProcess> target_;
};

TEST_F(RecordPushTest, EachWindowArrivesAsWritten) {
  ASSERT_NO_FATAL_FAILURE(StartTarget());
  const int port = FreePort();
  absl::StatusOr<Collector> collector =
      Collector::Start(dir_.path(), port, P("received.json"));
  ASSERT_TRUE(collector.ok()) << collector.status();
  absl::StatusOr<std::unique_ptr<Recorder>> rec = Recorder::Start(
      {"record", "--pid", std::to_string(target_->pid()), "-r", "100",
       "--every", "2", "-d", "7", "-o", P("app.pb.gz"), "--push",
       absl::StrCat("http://127.0.0.1:", port), "--service", "checkout",
       "--push-label", "deployment.environment=test"},
      dir_.path());
  ASSERT_TRUE(rec.ok()) << rec.status();
  std::optional<RecorderExit> done = (*rec)->Wait(kTimeout);
  ASSERT_TRUE(done.has_value()) << (*rec)->Output();
  ASSERT_TRUE(done->exited && done->exit_code == 0) << done->Describe() << "\n"
                                                    << (*rec)->Output();
  collector->Stop();
  const std::vector<ReceivedWindow> received =
      ReadCollectorFile(P("received.json"));
  ASSERT_NO_FATAL_FAILURE(ExpectWindowsArrived(received, (*rec)->Output()));
  for (const ReceivedWindow& w : received) {
    EXPECT_EQ(Attr(w, "service.name"), "checkout");
    EXPECT_EQ(Attr(w, "deployment.environment"), "test");
  }
  const std::vector<int64_t> counts = PushSummary((*rec)->Output());
  ASSERT_EQ(counts.size(), 4u) << (*rec)->Output();
  EXPECT_EQ(counts[0], static_cast<int64_t>(received.size()));
  EXPECT_EQ(counts[3], 0);
  EXPECT_EQ(CountLines((*rec)->Output(), "failed"), 0) << (*rec)->Output();
}

TEST_F(RecordPushTest, CollectorAwayFor20SecondsLosesNoWindow) {
  ASSERT_NO_FATAL_FAILURE(StartTarget());
  const int port = FreePort();
  absl::StatusOr<Collector> first =
      Collector::Start(dir_.path(), port, P("before.json"));
  ASSERT_TRUE(first.ok()) << first.status();
  BackgroundRecording rec({"record", "--pid", std::to_string(target_->pid()),
                           "-r", "100", "--every", "2", "-d", "40", "-o",
                           P("app.pb.gz"), "--push",
                           absl::StrCat("http://127.0.0.1:", port), "--spool",
                           P("spool"), "--push-timeout", "2"});
  // Some windows reach the collector, then it goes away for 20 s.
  ASSERT_TRUE(
      WaitFor([&] { return WindowFiles(dir_.path()).size() >= 3; }, kTimeout));
  first->Stop();
  const size_t before_outage = WindowFiles(dir_.path()).size();
  sleep(20);
  const size_t after_outage = WindowFiles(dir_.path()).size();
  absl::StatusOr<Collector> second =
      Collector::Start(dir_.path(), port, P("after.json"));
  ASSERT_TRUE(second.ok()) << second.status();
  const CommandResult& done = rec.Wait();
  ASSERT_TRUE(done.exited && done.exit_code == 0) << done.Describe();
  second->Stop();
  std::vector<ReceivedWindow> received = ReadCollectorFile(P("before.json"));
  const size_t got_before = received.size();
  for (ReceivedWindow& w : ReadCollectorFile(P("after.json"))) {
    received.push_back(std::move(w));
  }
  std::cout << "windows: " << before_outage << " closed before the outage, "
            << after_outage << " by its end; " << got_before
            << " received before it, " << received.size() << " in all\n"
            << done.err << std::endl;
  // Not vacuous: windows closed while the collector was away.
  EXPECT_GE(after_outage, before_outage + 3);
  ASSERT_NO_FATAL_FAILURE(ExpectWindowsArrived(received, done.err));
  const std::vector<int64_t> counts = PushSummary(done.err);
  ASSERT_EQ(counts.size(), 4u) << done.err;
  EXPECT_EQ(counts[0], static_cast<int64_t>(received.size()));
  EXPECT_GE(counts[1], 1) << "retried";
  EXPECT_GE(counts[2], 3) << "spooled";
  EXPECT_EQ(counts[3], 0) << "dropped";
  // One line per kind of trouble, not one per attempt (several attempts
  // with backoff in 20 s), and one when it came back.
  const int failures = CountLines(done.err, " failed: ");
  EXPECT_GE(failures, 1) << done.err;
  EXPECT_LE(failures, 3) << done.err;
  EXPECT_EQ(CountLines(done.err, "the backend is back"), 1) << done.err;
  // Nothing left waiting in the spool.
  int spooled_left = 0;
  if (DIR* d = opendir(P("spool").c_str())) {
    while (dirent* e = readdir(d)) {
      if (absl::EndsWith(e->d_name, ".window")) ++spooled_left;
    }
    closedir(d);
  }
  EXPECT_EQ(spooled_left, 0);
}

// The stand-in backend of tests/push/fake_backend.py, started in `dir`.
absl::StatusOr<std::pair<ChildProcess, int>> StartFakeBackend(
    const Interpreter& py, const std::string& dir,
    const std::vector<std::string>& args) {
  std::vector<std::string> argv = {
      py.path, std::string(PYSTROBE_SOURCE_DIR) + "/tests/push/fake_backend.py",
      dir};
  argv.insert(argv.end(), args.begin(), args.end());
  absl::StatusOr<ChildProcess> child =
      ChildProcess::Start(argv, {}, dir + "/backend.log");
  if (!child.ok()) return child.status();
  const std::string port_file = dir + "/port";
  if (!WaitFor([&] { return FileExists(port_file) || child->HasExited(); },
               absl::Seconds(60)) ||
      child->HasExited()) {
    return absl::UnavailableError("the stand-in backend did not start: " +
                                  child->Log());
  }
  int port = 0;
  absl::StatusOr<std::string> text = ReadFileToString(port_file);
  if (!text.ok() || !absl::SimpleAtoi(*text, &port)) {
    return absl::UnavailableError("no port from the stand-in backend");
  }
  return std::make_pair(*std::move(child), port);
}

TEST_F(RecordPushTest, UnauthorizedIsOneLineAndCountedDrops) {
  ASSERT_NO_FATAL_FAILURE(StartTarget());
  ScopedTempDir backend_dir;
  auto backend = StartFakeBackend(py_, backend_dir.path(), {"--status", "401"});
  ASSERT_TRUE(backend.ok()) << backend.status();
  const std::string header_file = P("header");
  std::ofstream(header_file) << "Authorization: Bearer not-the-right-one\n";
  BackgroundRecording rec({"record", "--pid", std::to_string(target_->pid()),
                           "-r", "100", "--every", "1", "-d", "4.5", "-o",
                           P("app.pb.gz"), "--push",
                           absl::StrCat("http://127.0.0.1:", backend->second),
                           "--push-header", "@" + header_file});
  const CommandResult& done = rec.Wait();
  ASSERT_TRUE(done.exited && done.exit_code == 0) << done.Describe();
  const std::string out = done.err;
  const size_t windows = WindowFiles(dir_.path()).size();
  ASSERT_GE(windows, 3u) << out;
  // "HTTP 401", not "401": the backend's port may contain 401 (46401 did
  // in CI) and the summary line names it.
  EXPECT_EQ(CountLines(out, "HTTP 401"), 1) << out;
  EXPECT_THAT(out, HasSubstr("--push-header"));
  // The secret is never printed.
  EXPECT_THAT(out, ::testing::Not(HasSubstr("not-the-right-one")));
  const std::vector<int64_t> counts = PushSummary(out);
  ASSERT_EQ(counts.size(), 4u) << out;
  EXPECT_EQ(counts[0], 0);
  EXPECT_EQ(counts[3], static_cast<int64_t>(windows));
  // The backend saw every window, once, with the header from the file.
  absl::StatusOr<std::string> log =
      ReadFileToString(backend_dir.path() + "/requests.jsonl");
  ASSERT_TRUE(log.ok());
  EXPECT_EQ(CountLines(*log, "Bearer not-the-right-one"),
            static_cast<int>(windows));
}

// OTLP's partial success: a collector that answers 200 but rejected the
// window's profiles (its exporter refused them, say) has lost them; each is
// a counted drop, said in one line with the collector's own message. A 200
// carrying only a warning is a window sent, and the warning said once.
TEST_F(RecordPushTest, ProfilesACollectorRejectedAreCountedDropsInOneLine) {
  ASSERT_NO_FATAL_FAILURE(StartTarget());
  for (const bool rejected : {true, false}) {
    SCOPED_TRACE(rejected ? "rejected" : "warning");
    ScopedTempDir backend_dir;
    auto backend = StartFakeBackend(
        py_, backend_dir.path(),
        {"--partial", rejected ? "1" : "0",
         rejected ? "sample type wall is not accepted here"
                  : "attribute limit reached, 3 attributes dropped"});
    ASSERT_TRUE(backend.ok()) << backend.status();
    ScopedTempDir out_dir;
    BackgroundRecording rec(
        {"record", "--pid", std::to_string(target_->pid()), "-r", "100",
         "--every", "1", "-d", "3.5", "-o", out_dir.path() + "/app.pb.gz",
         "--push", absl::StrCat("http://127.0.0.1:", backend->second)});
    const CommandResult& done = rec.Wait();
    ASSERT_TRUE(done.exited && done.exit_code == 0) << done.Describe();
    const std::string out = done.err;
    const size_t windows = WindowFiles(out_dir.path()).size();
    ASSERT_GE(windows, 2u) << out;
    const std::vector<int64_t> counts = PushSummary(out);
    ASSERT_EQ(counts.size(), 4u) << out;
    if (rejected) {
      EXPECT_EQ(CountLines(out, "sample type wall is not accepted here"), 1)
          << out;
      EXPECT_EQ(CountLines(out, "rejected 1 of its profiles"), 1) << out;
      EXPECT_EQ(counts[0], 0);
      EXPECT_EQ(counts[3], static_cast<int64_t>(windows));
    } else {
      EXPECT_EQ(CountLines(out, "attribute limit reached"), 1) << out;
      EXPECT_EQ(counts[0], static_cast<int64_t>(windows));
      EXPECT_EQ(counts[3], 0);
    }
  }
}

// A CA and a certificate for 127.0.0.1 it signed, made with the openssl
// command in `dir`: ca.pem, server.pem, server.key.
bool MakeCertificates(const std::string& dir) {
  std::ofstream(dir + "/ext.cnf") << "subjectAltName=IP:127.0.0.1\n";
  for (const std::vector<std::string>& argv :
       std::vector<std::vector<std::string>>{
           {"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
            "-keyout", dir + "/ca.key", "-out", dir + "/ca.pem", "-days", "2",
            "-subj", "/CN=pystrobe test CA"},
           {"openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout",
            dir + "/server.key", "-out", dir + "/server.csr", "-subj",
            "/CN=127.0.0.1"},
           {"openssl", "x509", "-req", "-in", dir + "/server.csr", "-CA",
            dir + "/ca.pem", "-CAkey", dir + "/ca.key", "-CAcreateserial",
            "-out", dir + "/server.pem", "-days", "2", "-extfile",
            dir + "/ext.cnf"}}) {
    std::vector<std::string> full = argv;
    full[0] = "/usr/bin/openssl";
    CommandResult r = RunCommand(full);
    if (!r.exited || r.exit_code != 0) {
      ADD_FAILURE() << r.Describe();
      return false;
    }
  }
  return true;
}

// https: with --push-ca the backend's certificate verifies and every window
// is sent; without it (a CA the system does not trust) the first window
// says so in one line, and every window is a counted drop.
TEST_F(RecordPushTest, HttpsVerifiesTheBackendWithPushCa) {
  if (access("/usr/bin/openssl", X_OK) != 0) {
    GTEST_SKIP() << "no /usr/bin/openssl to make test certificates";
  }
  ASSERT_NO_FATAL_FAILURE(StartTarget());
  ScopedTempDir backend_dir;
  const std::string certs = backend_dir.path();
  ASSERT_TRUE(MakeCertificates(certs));
  auto backend =
      StartFakeBackend(py_, backend_dir.path(),
                       {"--tls", certs + "/server.pem", certs + "/server.key"});
  ASSERT_TRUE(backend.ok()) << backend.status();
  const std::string url = absl::StrCat("https://127.0.0.1:", backend->second);
  for (bool trusted : {true, false}) {
    SCOPED_TRACE(trusted ? "--push-ca" : "no --push-ca");
    ScopedTempDir out;
    std::vector<std::string> args = {"record",
                                     "--pid",
                                     std::to_string(target_->pid()),
                                     "-r",
                                     "100",
                                     "--every",
                                     "1",
                                     "-d",
                                     "3.5",
                                     "-o",
                                     out.path() + "/app.pb.gz",
                                     "--push",
                                     url};
    if (trusted) {
      args.push_back("--push-ca");
      args.push_back(certs + "/ca.pem");
    }
    BackgroundRecording rec(args);
    const CommandResult& done = rec.Wait();
    ASSERT_TRUE(done.exited && done.exit_code == 0) << done.Describe();
    const int64_t windows =
        static_cast<int64_t>(WindowFiles(out.path()).size());
    ASSERT_GE(windows, 3) << done.err;
    const std::vector<int64_t> counts = PushSummary(done.err);
    ASSERT_EQ(counts.size(), 4u) << done.err;
    EXPECT_EQ(counts[0], trusted ? windows : 0) << done.err;
    EXPECT_EQ(counts[3], trusted ? 0 : windows) << done.err;
    EXPECT_EQ(CountLines(done.err, "does not verify"), trusted ? 0 : 1)
        << done.err;
  }
}

TEST_F(RecordPushTest, PyroscopeIngestRequestsCarryTheWindows) {
  ASSERT_NO_FATAL_FAILURE(StartTarget());
  ScopedTempDir backend_dir;
  auto backend = StartFakeBackend(py_, backend_dir.path(), {"--pyroscope"});
  ASSERT_TRUE(backend.ok()) << backend.status();
  absl::StatusOr<std::unique_ptr<Recorder>> rec = Recorder::Start(
      {"record", "--pid", std::to_string(target_->pid()), "-r", "100",
       "--every", "2", "-d", "7", "-o", P("app.pb.gz"), "--push",
       absl::StrCat("pyroscope+http://127.0.0.1:", backend->second),
       "--service", "checkout", "--push-label", "env=test"},
      dir_.path());
  ASSERT_TRUE(rec.ok()) << rec.status();
  std::optional<RecorderExit> done = (*rec)->Wait(kTimeout);
  ASSERT_TRUE(done.has_value()) << (*rec)->Output();
  ASSERT_TRUE(done->exited && done->exit_code == 0) << done->Describe() << "\n"
                                                    << (*rec)->Output();
  const std::vector<std::string> files = WindowFiles(dir_.path());
  ASSERT_GE(files.size(), 3u);
  absl::StatusOr<std::string> log =
      ReadFileToString(backend_dir.path() + "/requests.jsonl");
  ASSERT_TRUE(log.ok());
  std::vector<std::string> lines =
      absl::StrSplit(*log, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), files.size()) << *log;
  for (size_t i = 0; i < files.size(); ++i) {
    absl::StatusOr<Struct> r = ParseJsonObject(lines[i]);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_TRUE(List(*r, "problems").empty()) << lines[i];
    const Struct& q = Obj(*Field(*r, "query"));
    EXPECT_THAT(Field(q, "name")->string_value(),
                ::testing::StartsWith("checkout{"));
    EXPECT_THAT(Field(q, "name")->string_value(), HasSubstr("env=test"));
    absl::StatusOr<Profile> sent = ReadProfile(
        absl::StrCat(backend_dir.path(), "/ingest-", i + 1, ".pb.gz"));
    absl::StatusOr<Profile> written = ReadProfile(files[i]);
    ASSERT_TRUE(sent.ok() && written.ok()) << files[i];
    EXPECT_EQ(Field(q, "from")->string_value(),
              std::to_string(written->time_nanos / 1'000'000'000));
    EXPECT_EQ(CanonicalOf(*sent), CanonicalOf(*written)) << files[i];
  }
}

}  // namespace
}  // namespace pystrobe::integration
