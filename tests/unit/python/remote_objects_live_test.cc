// RemoteObjects (src/python/remote_objects.h) against live interpreters:
// pyenv's 3.11.7, 3.12.1 and 3.13.0, Debian's static 3.11 and its debug
// build, and the free-threaded 3.13t. The child builds dicts (str keys,
// other keys, a big one, empty ones: CPython's shared empty keys, which an
// idle process's asyncio._current_tasks has), instances with their
// attributes in each form the version keeps them in (values beside or
// inside the object, a materialized __dict__), sets, a WeakSet, weak
// references, a tuple and a list, and prints the id() of each and of what they
// hold: what pystrobe reads must be those very objects. An interpreter that is
// missing fails the test (the asyncio reader is promised on each of them).
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "pystrobe/process/remote_memory.h"
#include "pystrobe/python/layout.h"
#include "remote_objects.h"
#include "status_matchers.h"

namespace pystrobe::testing {
namespace {

struct ObjectsCase {
  std::string name;
  std::string exe;
  bool debug;
  bool free_threaded;
};

void PrintTo(const ObjectsCase& c, std::ostream* os) {
  *os << c.name << " (" << c.exe << ")";
}

std::string Home() {
  const char* home = std::getenv("HOME");
  return home != nullptr && *home ? home : "/root";
}

std::vector<ObjectsCase> Cases() {
  const char* t = std::getenv("PYSTROBE_PY313T");
  const std::string t313 = t != nullptr && *t
                               ? std::string(t)
                               : Home() + "/.cache/pystrobe/cpython-3.13t";
  const std::string pyenv = Home() + "/.pyenv/versions/";
  return {
      {"Py3_11_7", pyenv + "3.11.7/bin/python3.11", false, false},
      {"Py3_12_1", pyenv + "3.12.1/bin/python3.12", false, false},
      {"Py3_13_0", pyenv + "3.13.0/bin/python3.13", false, false},
      {"Debian3_11", "/usr/bin/python3.11", false, false},
      {"Debian3_11d", "/usr/bin/python3.11d", true, false},
      {"FreeThreaded3_13t", t313 + "/bin/python3.13t", false, true},
  };
}

// Prints "name id" lines, then "ready", then sleeps.
constexpr char kScript[] = R"PY(
import functools, os, sys, time, weakref
class Plain:
    pass
fresh = Plain()            # attributes in the values (3.11-3.13)
fresh.alpha = "one"
fresh.beta = [2]
opened = Plain()           # a materialized __dict__
opened.alpha = "two"
opened.__dict__["gamma"] = (3,)
big = {"key%d" % i: [i] for i in range(3000)}
del big["key7"]            # a deleted entry
mixed = {1: "int key", "name": "str key", (2, 3): "tuple key"}
empty = {}                 # the interpreter's shared empty keys
cleared = {"gone": 1}      # emptied by clear(): the shared empty keys too
cleared.clear()
members = {fresh, opened}
weak = weakref.WeakSet([fresh, opened])
ref = weakref.ref(fresh)
dead = weakref.ref(Plain())
tup = (fresh, opened, big)
lst = [opened, fresh]
part = functools.partial(os.getpid, fresh)  # a C type's declared slots
out = {
    "version": "%d.%d.%d" % sys.version_info[:3],
    "fresh": fresh, "opened": opened, "fresh.alpha": fresh.alpha,
    "fresh.beta": fresh.beta, "opened.alpha": opened.alpha,
    "opened.gamma": opened.gamma, "big": big, "big.key2999": big["key2999"],
    "mixed": mixed, "mixed.name": mixed["name"], "members": members,
    "empty": empty, "cleared": cleared,
    "weak": weak, "ref": ref, "dead": dead, "tup": tup, "lst": lst,
    "os": sys.modules["os"], "os.getpid": os.getpid,
    "modules": sys.modules, "module.sys": sys,
    "part": part, "part.args": part.args,
}
for name, value in out.items():
    print(name, value if name == "version" else id(value))
print("ready", flush=True)
time.sleep(120)
)PY";

class Child {
 public:
  explicit Child(const std::string& exe) {
    int fds[2];
    if (pipe(fds) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], 1);
      close(fds[0]);
      execl(exe.c_str(), exe.c_str(), "-S", "-E", "-c", kScript, nullptr);
      _exit(127);
    }
    close(fds[1]);
    std::string text;
    char buf[4096];
    while (text.find("ready\n") == std::string::npos) {
      ssize_t n = read(fds[0], buf, sizeof(buf));
      if (n <= 0) break;
      text.append(buf, static_cast<size_t>(n));
    }
    close(fds[0]);
    std::istringstream lines(text);
    std::string name, value;
    while (lines >> name) {
      if (name == "ready") {
        ready_ = true;
        break;
      }
      lines >> value;
      values_[name] = value;
    }
  }
  ~Child() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  bool ready() const { return ready_; }
  uint64_t Id(const std::string& name) const {
    auto it = values_.find(name);
    return it == values_.end() ? 0
                               : std::strtoull(it->second.c_str(), nullptr, 10);
  }
  std::string Text(const std::string& name) const {
    auto it = values_.find(name);
    return it == values_.end() ? "" : it->second;
  }

 private:
  pid_t pid_ = -1;
  bool ready_ = false;
  std::map<std::string, std::string> values_;
};

class RemoteObjectsLiveTest : public ::testing::TestWithParam<ObjectsCase> {};

TEST_P(RemoteObjectsLiveTest, ReadsTheObjectsTheTargetNames) {
  const ObjectsCase& c = GetParam();
  ASSERT_EQ(access(c.exe.c_str(), X_OK), 0)
      << c.exe << " is missing (pyenv, apt python3.11-dbg, or "
      << "scripts/install-deps.sh for 3.13t)";
  Child child(c.exe);
  ASSERT_TRUE(child.ready()) << c.exe << " did not start";
  PythonVersion version;
  ASSERT_EQ(std::sscanf(child.Text("version").c_str(), "%d.%d.%d",
                        &version.major, &version.minor, &version.micro),
            3);
  version.debug = c.debug;
  version.free_threaded = c.free_threaded;
  const LayoutEntry* entry = FindLayout(version);
  ASSERT_NE(entry, nullptr);
  ASSERT_TRUE(RemoteObjects::Supports(entry->layout))
      << "the layout table lacks fields for " << version.ToString();
  absl::StatusOr<std::unique_ptr<RemoteMemory>> memory =
      OpenRemoteMemory(child.pid());
  ASSERT_THAT(memory, IsOk());
  RemoteObjects objects(memory->get(), &entry->layout, &version);

  EXPECT_THAT(objects.TypeName(child.Id("big")), IsOkAndHolds("dict"));
  EXPECT_THAT(objects.TypeName(child.Id("weak")), IsOkAndHolds("WeakSet"));
  EXPECT_THAT(objects.IsInstance(child.Id("fresh"), "object"),
              IsOkAndHolds(true));
  EXPECT_THAT(objects.IsInstance(child.Id("fresh"), "dict"),
              IsOkAndHolds(false));

  // Dicts: every entry but the deleted one, in order; a str key's value.
  std::vector<std::pair<uint64_t, uint64_t>> items;
  ASSERT_THAT(objects.DictItems(child.Id("big"), 1 << 20, &items), IsOk());
  EXPECT_EQ(items.size(), 2999u);
  EXPECT_THAT(objects.Str(items.front().first), IsOkAndHolds("key0"));
  EXPECT_THAT(objects.Str(items.back().first), IsOkAndHolds("key2999"));
  EXPECT_THAT(objects.DictGet(child.Id("big"), "key2999"),
              IsOkAndHolds(child.Id("big.key2999")));
  EXPECT_THAT(objects.DictGet(child.Id("big"), "key7"), IsOkAndHolds(0u));
  // A bound below the size is an error, never a partial answer.
  EXPECT_FALSE(objects.DictItems(child.Id("big"), 100, &items).ok());
  EXPECT_THAT(objects.DictGet(child.Id("mixed"), "name"),
              IsOkAndHolds(child.Id("mixed.name")));
  ASSERT_THAT(objects.DictItems(child.Id("mixed"), 10, &items), IsOk());
  EXPECT_EQ(items.size(), 3u);
  // Empty dicts (CPython's shared empty keys): nothing, not an error.
  for (const char* name : {"empty", "cleared"}) {
    items.clear();
    EXPECT_THAT(objects.DictItems(child.Id(name), 10, &items), IsOk()) << name;
    EXPECT_TRUE(items.empty()) << name;
    EXPECT_THAT(objects.DictGet(child.Id(name), "gone"), IsOkAndHolds(0u))
        << name;
  }
  // Not a dict: refused.
  EXPECT_FALSE(objects.DictItems(child.Id("lst"), 10, &items).ok());

  // Instance attributes, in values and in a materialized dict.
  EXPECT_THAT(objects.Attribute(child.Id("fresh"), "alpha"),
              IsOkAndHolds(child.Id("fresh.alpha")));
  EXPECT_THAT(objects.Attribute(child.Id("fresh"), "beta"),
              IsOkAndHolds(child.Id("fresh.beta")));
  EXPECT_THAT(objects.Attribute(child.Id("fresh"), "gamma"), IsOkAndHolds(0u));
  EXPECT_THAT(objects.Attribute(child.Id("opened"), "alpha"),
              IsOkAndHolds(child.Id("opened.alpha")));
  EXPECT_THAT(objects.Attribute(child.Id("opened"), "gamma"),
              IsOkAndHolds(child.Id("opened.gamma")));

  // Sets, and a WeakSet's set of weak references.
  std::vector<uint64_t> keys;
  ASSERT_THAT(objects.SetItems(child.Id("members"), 10, &keys), IsOk());
  std::sort(keys.begin(), keys.end());
  std::vector<uint64_t> want = {child.Id("fresh"), child.Id("opened")};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(keys, want);
  absl::StatusOr<uint64_t> data = objects.Attribute(child.Id("weak"), "data");
  ASSERT_THAT(data, IsOk());
  ASSERT_THAT(objects.SetItems(*data, 10, &keys), IsOk());
  std::vector<uint64_t> targets;
  for (uint64_t ref : keys) {
    absl::StatusOr<uint64_t> target = objects.WeakrefTarget(ref);
    ASSERT_THAT(target, IsOk());
    targets.push_back(*target);
  }
  std::sort(targets.begin(), targets.end());
  EXPECT_EQ(targets, want);
  EXPECT_THAT(objects.WeakrefTarget(child.Id("ref")),
              IsOkAndHolds(child.Id("fresh")));
  absl::StatusOr<uint64_t> dead = objects.WeakrefTarget(child.Id("dead"));
  ASSERT_THAT(dead, IsOk());
  EXPECT_THAT(objects.TypeName(*dead), IsOkAndHolds("NoneType"));
  EXPECT_FALSE(objects.WeakrefTarget(child.Id("fresh")).ok());

  // Tuples and lists.
  ASSERT_THAT(objects.SequenceItems(child.Id("tup"), 10, &keys), IsOk());
  EXPECT_EQ(keys, (std::vector<uint64_t>{child.Id("fresh"), child.Id("opened"),
                                         child.Id("big")}));
  ASSERT_THAT(objects.SequenceItems(child.Id("lst"), 10, &keys), IsOk());
  EXPECT_EQ(keys,
            (std::vector<uint64_t>{child.Id("opened"), child.Id("fresh")}));
  EXPECT_FALSE(objects.SequenceItems(child.Id("tup"), 2, &keys).ok());

  // Modules, through sys.modules as the asyncio reader goes.
  EXPECT_THAT(objects.DictGet(child.Id("modules"), "sys"),
              IsOkAndHolds(child.Id("module.sys")));
  absl::StatusOr<uint64_t> os_dict = objects.ModuleDict(child.Id("os"));
  ASSERT_THAT(os_dict, IsOk());
  EXPECT_THAT(objects.DictGet(*os_dict, "getpid"),
              IsOkAndHolds(child.Id("os.getpid")));
  EXPECT_FALSE(objects.ModuleDict(child.Id("big")).ok());

  // functools.partial's slots, from its type's own member table.
  EXPECT_THAT(objects.TypeName(child.Id("part")),
              IsOkAndHolds("functools.partial"));
  EXPECT_THAT(objects.Member(child.Id("part"), "func"),
              IsOkAndHolds(child.Id("os.getpid")));
  EXPECT_THAT(objects.Member(child.Id("part"), "args"),
              IsOkAndHolds(child.Id("part.args")));
  // Read again: the offsets come from the cache.
  EXPECT_THAT(objects.Member(child.Id("part"), "args"),
              IsOkAndHolds(child.Id("part.args")));
  EXPECT_FALSE(objects.Member(child.Id("part"), "no_such_member").ok());
  EXPECT_FALSE(objects.Member(child.Id("fresh"), "alpha").ok());
}

std::string CaseName(const ::testing::TestParamInfo<ObjectsCase>& info) {
  return info.param.name;
}

INSTANTIATE_TEST_SUITE_P(Interpreters, RemoteObjectsLiveTest,
                         ::testing::ValuesIn(Cases()), CaseName);

}  // namespace
}  // namespace pystrobe::testing
