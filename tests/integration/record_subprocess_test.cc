// `pystrobe record` of several processes into one profile: several --pid,
// and --subprocesses following a process tree as children appear and exit.
// - gunicorn (Debian's, on /usr/bin/python3) with 4 sync workers under load
//   from wrk: one recording of the master holds every worker, the slow
//   endpoint's function at the share the app measured itself
//   (time.thread_time per function, written by each worker at exit), and
//   workers recycled by --max-requests replaced by their successors;
// - the master recorded without --subprocesses: a hint names its workers;
// - a multiprocessing pool, fork and spawn, and a launcher chain
//   (`bash -c "python3 chain.py; ..."`, children started as a script and
//   with `python -m`): every pid the workloads report has its samples, the
//   shell none;
// - --pid A --pid B and --pid A,B with --processes root frames.
// Ground truth: the workloads' own pid lists and CPU accounting; profiles
// read back by pystrobe's decoder and `go tool pprof -raw`.

#include <signal.h>
#include <unistd.h>

#include <cmath>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "record_support.h"
#include "subprocess.h"

namespace pystrobe::integration {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::Duration kTimeout = absl::Seconds(120);

std::string Workload(const std::string& name) {
  return absl::StrCat(PYSTROBE_SOURCE_DIR, "/tests/workloads/servers/", name);
}

// Whether function `name` is on the stack of `s`.
bool OnStack(const Profile& p, const Sample& s, const std::string& name) {
  for (uint64_t id : s.location_ids) {
    if (p.FunctionOf(p.LocationAt(id)).name == name) return true;
  }
  return false;
}

// Per pid label: the value `index` of the samples with `function` on the
// stack.
std::map<int64_t, int64_t> ByPid(const Profile& p, const std::string& function,
                                 int index) {
  std::map<int64_t, int64_t> out;
  for (const Sample& s : p.samples) {
    if (!OnStack(p, s, function)) continue;
    out[NumberLabel(s, "pid").value_or(-1)] += s.values[index];
  }
  return out;
}

std::set<int64_t> Keys(const std::map<int64_t, int64_t>& m) {
  std::set<int64_t> out;
  for (const auto& [k, v] : m) out.insert(k);
  return out;
}

// A JSON list of numbers, as the workloads write them ("[1, 2, 3]").
std::vector<int64_t> ReadPidList(const std::string& path) {
  std::vector<int64_t> out;
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (!text.ok()) return out;
  for (absl::string_view part :
       absl::StrSplit(*text, absl::ByAnyChar("[], "), absl::SkipEmpty())) {
    int64_t v = 0;
    if (absl::SimpleAtoi(part, &v)) out.push_back(v);
  }
  return out;
}

// Debian's gunicorn with the Flask app of tests/workloads/servers, its
// workers reporting to `dir`.
std::optional<Gunicorn> StartFlaskApp(const std::string& dir, int workers,
                                      int max_requests) {
  GunicornOptions options;
  options.config = Workload("gunicorn_conf.py");
  options.chdir = Workload("");
  options.app = "app:app";
  options.workers = workers;
  options.max_requests = max_requests;
  return Gunicorn::Start(dir, options);
}

class RecordSubprocessTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(dir_.path().empty()); }
  std::string P(const std::string& name) const {
    return dir_.path() + "/" + name;
  }
  static bool HaveServers() {
    return access("/usr/bin/gunicorn", X_OK) == 0 &&
           access("/usr/bin/wrk", X_OK) == 0 &&
           RunCommand({"/usr/bin/python3", "-c", "import flask"}).exit_code ==
               0;
  }
  // Load on both endpoints for `seconds`, 4 connections.
  CommandResult Load(int port, int seconds) {
    return RunCommand(WrkCommand(port, 4, seconds, Workload("load.lua")),
                      kTimeout);
  }

  ScopedTempDir dir_;
};

// One recording of the master, --subprocesses, cpu mode: every worker is in
// it, under its pid and command line, and slow_work has the share of the
// endpoints' CPU the workers measured themselves.
TEST_F(RecordSubprocessTest, GunicornWorkersAllSampledAtTheirTrueShare) {
  if (!HaveServers()) GTEST_SKIP() << "gunicorn, python3-flask or wrk missing";
  std::optional<Gunicorn> g = StartFlaskApp(dir_.path(), 4, 0);
  ASSERT_TRUE(g.has_value()) << "gunicorn did not start";
  const std::set<int64_t> workers = g->Workers();
  ASSERT_EQ(workers.size(), 4u);
  const std::string out = P("workers.pb.gz");
  absl::StatusOr<std::unique_ptr<Recorder>> rec = Recorder::Start(
      {"record", "--pid", absl::StrCat(g->master()), "--subprocesses", "--mode",
       "cpu", "-r", "100", "-d", "9", "-o", out},
      dir_.path());
  ASSERT_TRUE(rec.ok()) << rec.status();
  // The status line shows once sampling runs (the workers found at start).
  ASSERT_TRUE((*rec)->WaitForSamples(0, absl::Seconds(30))) << (*rec)->Output();
  CommandResult load = Load(g->port(), 5);
  ASSERT_TRUE(load.exited && load.exit_code == 0) << load.Describe();
  std::optional<RecorderExit> done = (*rec)->Wait(kTimeout);
  ASSERT_TRUE(done.has_value() && done->exited && done->exit_code == 0)
      << (*rec)->Output();
  g->Stop();  // the workers write their times

  absl::StatusOr<Profile> p = ReadProfile(out);
  ASSERT_TRUE(p.ok()) << p.status();
  // Every worker did endpoint work, and has it under its pid.
  std::map<int64_t, int64_t> slow = ByPid(*p, "slow_work", 1);
  std::map<int64_t, int64_t> fast = ByPid(*p, "fast_work", 1);
  std::set<int64_t> seen = Keys(slow);
  for (int64_t pid : Keys(fast)) seen.insert(pid);
  EXPECT_EQ(seen, workers) << DescribeProfile(*p);
  for (const Sample& s : p->samples) {
    EXPECT_THAT(StringLabel(s, "process"), HasSubstr("gunicorn"));
  }
  // The truth: CPU in each function, from the workers' own accounting.
  double true_slow = 0;
  double true_fast = 0;
  for (const auto& [pid, path] : FilesByPid(dir_.path(), "times.")) {
    absl::StatusOr<google::protobuf::Struct> t = ReadJsonObject(path);
    ASSERT_TRUE(t.ok()) << path;
    true_slow += NumberField(*t, "slow_work");
    true_fast += NumberField(*t, "fast_work");
  }
  ASSERT_GT(true_slow + true_fast, 0.5)
      << "too little load: " << load.Describe();
  int64_t slow_ns = 0;
  int64_t fast_ns = 0;
  for (const auto& [pid, ns] : slow) slow_ns += ns;
  for (const auto& [pid, ns] : fast) fast_ns += ns;
  const double truth = true_slow / (true_slow + true_fast);
  const double measured =
      static_cast<double>(slow_ns) / static_cast<double>(slow_ns + fast_ns);
  std::cout << "slow_work share: truth " << truth << ", profile " << measured
            << " (" << (true_slow + true_fast) << " s of endpoint CPU)"
            << std::endl;
  EXPECT_NEAR(measured, truth, 0.08);
  // The profile's CPU in the endpoints against the workers' own: within
  // 25% (the workers measure a little outside the recording's window).
  const double profiled_s = static_cast<double>(slow_ns + fast_ns) / 1e9;
  EXPECT_NEAR(profiled_s, true_slow + true_fast,
              0.25 * (true_slow + true_fast));
  // Go's pprof reads it, labels included.
  CommandResult raw = GoPprof({"-raw", out}, dir_.path());
  ASSERT_TRUE(raw.exited && raw.exit_code == 0) << raw.Describe();
  for (int64_t w : workers) {
    EXPECT_THAT(raw.out, HasSubstr(absl::StrCat("pid:[", w, "]")));
  }
  EXPECT_THAT(raw.out,
              HasSubstr("process:[/usr/bin/python3 /usr/bin/gunicorn"));
  EXPECT_THAT((*rec)->Output(), HasSubstr("processes sampled"));
}

// Workers recycled by --max-requests mid-recording: their successors are in
// the profile too, each worker that served requests under its own pid.
TEST_F(RecordSubprocessTest, RecycledWorkersAreReplacedBySuccessors) {
  if (!HaveServers()) GTEST_SKIP() << "gunicorn, python3-flask or wrk missing";
  std::optional<Gunicorn> g = StartFlaskApp(dir_.path(), 4, 40);
  ASSERT_TRUE(g.has_value()) << "gunicorn did not start";
  const std::string out = P("recycled.pb.gz");
  absl::StatusOr<std::unique_ptr<Recorder>> rec =
      Recorder::Start({"record", "--pid", absl::StrCat(g->master()),
                       "--subprocesses", "-r", "100", "-d", "10", "-o", out},
                      dir_.path());
  ASSERT_TRUE(rec.ok()) << rec.status();
  ASSERT_TRUE((*rec)->WaitForSamples(0, absl::Seconds(30))) << (*rec)->Output();
  CommandResult load = Load(g->port(), 6);
  ASSERT_TRUE(load.exited && load.exit_code == 0) << load.Describe();
  std::optional<RecorderExit> done = (*rec)->Wait(kTimeout);
  ASSERT_TRUE(done.has_value() && done->exited && done->exit_code == 0)
      << (*rec)->Output();
  g->Stop();

  absl::StatusOr<Profile> p = ReadProfile(out);
  ASSERT_TRUE(p.ok()) << p.status();
  std::set<int64_t> profiled = Keys(ByPid(*p, "slow_work", 0));
  for (int64_t pid : Keys(ByPid(*p, "fast_work", 0))) profiled.insert(pid);
  // Workers that served a good number of requests (their own count) each
  // have samples: 10 requests are >= 40 ms of endpoint CPU, 4 samples.
  std::set<int64_t> busy;
  for (const auto& [pid, path] : FilesByPid(dir_.path(), "times.")) {
    absl::StatusOr<google::protobuf::Struct> t = ReadJsonObject(path);
    ASSERT_TRUE(t.ok()) << path;
    if (NumberField(*t, "requests") >= 10) busy.insert(pid);
  }
  std::cout << g->Workers().size() << " workers in all, " << busy.size()
            << " busy, " << profiled.size() << " in the profile" << std::endl;
  ASSERT_GT(g->Workers().size(), 4u) << "no worker was recycled";
  EXPECT_GT(profiled.size(), 4u) << DescribeProfile(*p);
  for (int64_t pid : busy) {
    EXPECT_TRUE(profiled.count(pid)) << "worker " << pid << " missing";
  }
  for (int64_t pid : profiled) {
    EXPECT_TRUE(g->Workers().count(pid)) << pid << " is not a worker";
  }
}

// The master alone has no Python work: the summary says its children are
// Python and suggests --subprocesses.
TEST_F(RecordSubprocessTest, AMasterWithoutPythonWorkGetsAHint) {
  if (!HaveServers()) GTEST_SKIP() << "gunicorn, python3-flask or wrk missing";
  std::optional<Gunicorn> g = StartFlaskApp(dir_.path(), 2, 0);
  ASSERT_TRUE(g.has_value()) << "gunicorn did not start";
  CommandResult r = RunCommand(
      {PystrobeBinary(), "record", "--pid", absl::StrCat(g->master()), "-d",
       "1.5", "-o", P("master.pb.gz")},
      kTimeout);
  ASSERT_TRUE(r.exited && r.exit_code == 0) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("record them too with --subprocesses"));
  for (int64_t w : g->Workers()) {
    EXPECT_THAT(r.err, HasSubstr(absl::StrCat(w))) << r.err;
  }
}

class RecordTreeTest : public ::testing::TestWithParam<std::string> {};

// A pyenv interpreter (multiprocessing's spawn runs sys.executable).
std::optional<Interpreter> TreeInterpreter() {
  std::vector<Interpreter> all = FindInterpreters();
  for (const Interpreter& py : all) {
    if (py.major == 3 && py.minor == 12 && !py.chrooted()) return py;
  }
  const Interpreter* newest = NewestInterpreter(all);
  if (newest == nullptr) return std::nullopt;
  return *newest;
}

// A pool's workers, forked or spawned, each with the samples of its tasks.
TEST_P(RecordTreeTest, MultiprocessingPoolWorkersAreSampled) {
  std::optional<Interpreter> py = TreeInterpreter();
  if (!py) GTEST_SKIP() << "no CPython 3 found";
  std::cout << "interpreter: " << py->name << " " << py->path << std::endl;
  ScopedTempDir dir;
  const std::string out = dir.path() + "/pool.pb.gz";
  const std::string pids = dir.path() + "/pids.json";
  CommandResult r = RunCommand(
      {PystrobeBinary(), "record", "--subprocesses", "-r", "200", "-o", out,
       "--", py->path, Workload("pool.py"), GetParam(), pids},
      kTimeout);
  ASSERT_TRUE(r.exited && r.exit_code == 0) << r.Describe();
  const std::vector<int64_t> reported = ReadPidList(pids);
  ASSERT_EQ(reported.size(), 3u) << "the pool's own list of workers";
  absl::StatusOr<Profile> p = ReadProfile(out);
  ASSERT_TRUE(p.ok()) << p.status();
  const std::map<int64_t, int64_t> burn = ByPid(*p, "burn_task", 0);
  EXPECT_EQ(Keys(burn), std::set<int64_t>(reported.begin(), reported.end()))
      << DescribeProfile(*p);
  for (const auto& [pid, n] : burn) {
    // 6 tasks of 0.25 s CPU each at 200 Hz: ~300 samples; wall mode on a
    // loaded machine gives more, never far fewer.
    EXPECT_GE(n, 100) << "worker " << pid;
  }
  EXPECT_THAT(r.err, HasSubstr("processes sampled"));
}

INSTANTIATE_TEST_SUITE_P(StartMethods, RecordTreeTest,
                         ::testing::Values("fork", "spawn"));

// bash -c "python3 chain.py; ..." (the shell forks, since a command
// follows): chain.py's children, one a script and one `python -m`, are
// sampled under their pids; the shell is followed through, not sampled.
TEST(RecordChainTest, ALauncherChainIsFollowedToEveryPython) {
  std::optional<Interpreter> py = TreeInterpreter();
  if (!py) GTEST_SKIP() << "no CPython 3 found";
  ScopedTempDir dir;
  const std::string out = dir.path() + "/chain.pb.gz";
  const std::string pids = dir.path() + "/pids.json";
  const std::string shell_pid = dir.path() + "/shell";
  CommandResult r =
      RunCommand({PystrobeBinary(), "record", "--subprocesses", "--idle", "-r",
                  "200", "-o", out, "--", "/bin/bash", "-c",
                  absl::StrCat("echo $$ > ", shell_pid, "; ", py->path, " ",
                               Workload("chain.py"), " ", pids, "; true")},
                 kTimeout);
  ASSERT_TRUE(r.exited && r.exit_code == 0) << r.Describe();
  const std::vector<int64_t> children = ReadPidList(pids);
  ASSERT_EQ(children.size(), 2u);
  const std::vector<int64_t> shell = ReadPidList(shell_pid);
  ASSERT_EQ(shell.size(), 1u);
  absl::StatusOr<Profile> p = ReadProfile(out);
  ASSERT_TRUE(p.ok()) << p.status();
  const std::map<int64_t, int64_t> work = ByPid(*p, "child_work", 0);
  EXPECT_EQ(Keys(work), std::set<int64_t>(children.begin(), children.end()))
      << DescribeProfile(*p);
  std::set<int64_t> all;
  bool module_child = false;
  for (const Sample& s : p->samples) {
    all.insert(NumberLabel(s, "pid").value_or(-1));
    if (absl::StrContains(StringLabel(s, "process"), "-m chain_child")) {
      module_child = true;
    }
  }
  EXPECT_TRUE(module_child) << "no sample of the `python -m` child";
  EXPECT_FALSE(all.count(shell[0])) << "the shell was sampled";
  // chain.py itself, waiting for its children (--idle keeps it).
  EXPECT_EQ(all.size(), 3u);
}

// Several --pid, repeated or comma-separated: one profile with both, and
// with --processes a root frame "PID COMMAND" per process.
TEST(RecordPidsTest, SeveralPidsGoIntoOneProfile) {
  std::optional<Interpreter> py = TreeInterpreter();
  if (!py) GTEST_SKIP() << "no CPython 3 found";
  ScopedTempDir dir;
  std::vector<ChildProcess> targets;
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<ChildProcess> c =
        ChildProcess::Start({py->path, Workload("chain_child.py"), "inf"}, {},
                            dir.path() + "/target.log");
    ASSERT_TRUE(c.ok()) << c.status();
    targets.push_back(std::move(*c));
  }
  const std::string a = absl::StrCat(targets[0].pid());
  const std::string b = absl::StrCat(targets[1].pid());
  // Started, and in child_work.
  absl::SleepFor(absl::Milliseconds(500));
  const std::string out = dir.path() + "/two.pb.gz";
  CommandResult r = RunCommand({PystrobeBinary(), "record", "--pid", a, "--pid",
                                b, "-d", "1.5", "-o", out},
                               kTimeout);
  ASSERT_TRUE(r.exited && r.exit_code == 0) << r.Describe();
  absl::StatusOr<Profile> p = ReadProfile(out);
  ASSERT_TRUE(p.ok()) << p.status();
  const std::map<int64_t, int64_t> work = ByPid(*p, "child_work", 0);
  EXPECT_EQ(Keys(work),
            (std::set<int64_t>{targets[0].pid(), targets[1].pid()}));
  for (const Sample& s : p->samples) {
    EXPECT_THAT(StringLabel(s, "process"), HasSubstr("chain_child.py inf"));
  }
  EXPECT_THAT(r.err, HasSubstr("2 processes sampled"));

  const std::string folded = dir.path() + "/two.txt";
  r = RunCommand({PystrobeBinary(), "record", "--pid", absl::StrCat(a, ",", b),
                  "-d", "1.5", "-f", "collapsed", "--processes", "-o", folded},
                 kTimeout);
  ASSERT_TRUE(r.exited && r.exit_code == 0) << r.Describe();
  absl::StatusOr<std::string> text = ReadFileToString(folded);
  ASSERT_TRUE(text.ok());
  std::set<std::string> roots;
  for (absl::string_view line :
       absl::StrSplit(*text, '\n', absl::SkipEmpty())) {
    roots.insert(std::string(line.substr(0, line.find(';'))));
  }
  const std::string command =
      absl::StrCat(py->path, " ", Workload("chain_child.py"), " inf");
  EXPECT_EQ(roots, (std::set<std::string>{absl::StrCat(a, " ", command),
                                          absl::StrCat(b, " ", command)}))
      << *text;
  for (ChildProcess& t : targets) t.KillAndReap();
}

// dump --subprocesses of a shell running two Python children: both dumped
// (the shell passed over), in JSON as {"processes": [...]}.
TEST(DumpTreeTest, DumpSubprocessesShowsEveryPythonChild) {
  std::optional<Interpreter> py = TreeInterpreter();
  if (!py) GTEST_SKIP() << "no CPython 3 found";
  ScopedTempDir dir;
  const std::string child =
      absl::StrCat(py->path, " ", Workload("chain_child.py"), " inf");
  absl::StatusOr<ChildProcess> shell = ChildProcess::Start(
      {"/bin/bash", "-c", absl::StrCat(child, " & ", child, " & wait")}, {},
      dir.path() + "/shell.log");
  ASSERT_TRUE(shell.ok()) << shell.status();
  const std::string children_file =
      absl::StrCat("/proc/", shell->pid(), "/task/", shell->pid(), "/children");
  std::vector<int64_t> kids;
  // The children outlive the shell when it is killed: kill them first (this
  // goes before `shell`), whatever the test's outcome.
  struct KillChildren {
    const std::string& file;
    ~KillChildren() {
      for (int64_t k : ReadPidList(file)) kill(static_cast<pid_t>(k), SIGKILL);
    }
  } kill_children{children_file};
  ASSERT_TRUE(WaitFor(
      [&] {
        kids = ReadPidList(children_file);
        return kids.size() == 2;
      },
      absl::Seconds(30)));
  auto kill_kids = [&] {
    for (int64_t k : kids) kill(static_cast<pid_t>(k), SIGKILL);
  };
  // Both interpreters running their loop.
  absl::SleepFor(absl::Milliseconds(500));
  CommandResult r = RunCommand({PystrobeBinary(), "dump", "--subprocesses",
                                "--json", "--pid", absl::StrCat(shell->pid())},
                               kTimeout);
  CommandResult text = RunCommand({PystrobeBinary(), "dump", "--subprocesses",
                                   "--pid", absl::StrCat(shell->pid())},
                                  kTimeout);
  kill_kids();
  ASSERT_TRUE(r.exited && r.exit_code == 0) << r.Describe();
  absl::StatusOr<google::protobuf::Struct> doc = ParseJsonObject(r.out);
  ASSERT_TRUE(doc.ok()) << doc.status() << r.out;
  const auto& list = doc->fields().at("processes").list_value();
  ASSERT_EQ(list.values_size(), 2) << r.out;
  std::set<int64_t> dumped;
  for (const auto& v : list.values()) {
    dumped.insert(static_cast<int64_t>(
        v.struct_value().fields().at("pid").number_value()));
  }
  EXPECT_EQ(dumped, std::set<int64_t>(kids.begin(), kids.end()));
  EXPECT_THAT(r.out, HasSubstr("\"function\":\"child_work\""));
  ASSERT_TRUE(text.exited && text.exit_code == 0) << text.Describe();
  for (int64_t k : kids) {
    EXPECT_THAT(text.out, HasSubstr(absl::StrCat("Process ", k, ": ")));
  }
  EXPECT_THAT(text.out, Not(HasSubstr(absl::StrCat("Process ", shell->pid()))));
}

}  // namespace
}  // namespace pystrobe::integration
