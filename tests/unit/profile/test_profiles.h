// Profiles and helpers shared by the profile module's tests.
#ifndef PYSTROBE_TESTS_UNIT_PROFILE_TEST_PROFILES_H_
#define PYSTROBE_TESTS_UNIT_PROFILE_TEST_PROFILES_H_

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "pystrobe/profile/profile.h"

namespace pystrobe::testing {

// A small fixed profile: two threads, five functions (one whose name needs
// escaping in XML), string and numeric labels, comments, times.
//
// Flat (self) sample counts: parse 7, compute 4, <lambda> 2; cumulative:
// main 12, handle 12, worker 4 (wall: 10 ms per sample).
inline Profile SmallProfile() {
  Profile p;
  p.sample_types = {{"samples", "count"}, {"wall", "nanoseconds"}};
  p.period_type = {"wall", "nanoseconds"};
  p.period = 10'000'000;
  p.time_nanos = 1'700'000'000'000'000'000;
  p.duration_nanos = 2'000'000'000;
  p.comments = {"python 3.11.2", "command: app.py --port 80", "pystrobe 0.1.0"};
  p.default_sample_type = "wall";
  const uint64_t main =
      p.AddFunction({"<module>", "<module>", "/srv/app.py", 1});
  const uint64_t handle =
      p.AddFunction({"Server.handle", "handle", "/srv/app.py", 10});
  const uint64_t parse =
      p.AddFunction({"Parser.parse", "parse", "/srv/parse.py", 5});
  const uint64_t compute =
      p.AddFunction({"compute", "compute", "/srv/calc.py", 20});
  const uint64_t lambda = p.AddFunction(
      {"Server.handle.<locals>.<lambda>", "<lambda>", "/srv/a&b.py", 30});
  const uint64_t worker =
      p.AddFunction({"Worker.run", "run", "/srv/app.py", 40});
  const uint64_t l_main = p.AddLocation({main, 3});
  const uint64_t l_handle12 = p.AddLocation({handle, 12});
  const uint64_t l_handle14 = p.AddLocation({handle, 14});
  const uint64_t l_parse = p.AddLocation({parse, 7});
  const uint64_t l_compute22 = p.AddLocation({compute, 22});
  const uint64_t l_compute25 = p.AddLocation({compute, 25});
  const uint64_t l_lambda = p.AddLocation({lambda, 31});
  const uint64_t l_worker = p.AddLocation({worker, 41});
  auto labels = [](const std::string& name, int64_t tid) {
    return std::vector<Label>{{"thread_name", name, 0, ""},
                              {"thread_id", "", tid, ""},
                              {"pid", "", 4242, ""},
                              {"window", "", 3, "seconds"}};
  };
  const int64_t ms = 1'000'000;
  p.samples.push_back(
      {{l_parse, l_handle12, l_main}, {5, 50 * ms}, labels("MainThread", 100)});
  p.samples.push_back({{l_compute22, l_handle14, l_main},
                       {3, 30 * ms},
                       labels("MainThread", 100)});
  p.samples.push_back(
      {{l_parse, l_handle12, l_main}, {2, 20 * ms}, labels("Worker-1", 101)});
  p.samples.push_back(
      {{l_compute25, l_worker}, {1, 10 * ms}, labels("Worker-1", 101)});
  p.samples.push_back({{l_lambda, l_handle14, l_main},
                       {2, 20 * ms},
                       labels("MainThread", 100)});
  return p;
}

inline std::string ReadFileOrDie(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void WriteFileOrDie(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

// Runs `command` with sh, stdout and stderr into *output; the exit status.
inline int RunCommand(const std::string& command, std::string* output) {
  output->clear();
  FILE* f = popen((command + " 2>&1").c_str(), "r");
  if (f == nullptr) return -1;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) output->append(buf, n);
  const int status = pclose(f);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A fresh temp folder for one test.
inline std::string MakeTempDir() {
  std::string dir = "/tmp/pystrobe_profile_test.XXXXXX";
  if (mkdtemp(dir.data()) == nullptr) std::abort();
  return dir;
}

}  // namespace pystrobe::testing

#endif  // PYSTROBE_TESTS_UNIT_PROFILE_TEST_PROFILES_H_
