// The process tree read from fake /proc trees built in a temp folder: with
// the kernel's task/TID/children files (a child listed under the thread
// that forked it) and without them (parents from every stat file), and
// the identity (start time, zombie) that tells a pid from its reuse.

#include "pystrobe/process/process_tree.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pystrobe/process/proc_fs.h"

namespace pystrobe {
namespace {

using ::testing::ElementsAre;

class FakeTree {
 public:
  FakeTree() {
    char tmpl[] = "/tmp/pystrobe-tree-XXXXXX";
    root_ = mkdtemp(tmpl);
  }
  ~FakeTree() { std::system(absl::StrCat("rm -rf ", root_).c_str()); }

  // Process `pid` with parent `ppid`, state `state`, start time `start`;
  // its threads `tids` with their children lists ("" for no file).
  void Add(int pid, int ppid, char state, int start,
           const std::vector<std::pair<int, std::string>>& tids) {
    const std::string dir = absl::StrCat(root_, "/", pid);
    mkdir(dir.c_str(), 0755);
    mkdir((dir + "/task").c_str(), 0755);
    // Fields: pid (comm) state ppid ... field 22 is the start time.
    std::string stat =
        absl::StrCat(pid, " (a (b) c) ", std::string(1, state), " ", ppid);
    for (int field = 5; field < 22; ++field) stat += " 0";
    absl::StrAppend(&stat, " ", start, " 0 0\n");
    Write(dir + "/stat", stat);
    for (const auto& [tid, children] : tids) {
      const std::string task = absl::StrCat(dir, "/task/", tid);
      mkdir(task.c_str(), 0755);
      if (children != "-") Write(task + "/children", children);
    }
  }
  const std::string& root() const { return root_; }

 private:
  static void Write(const std::string& path, const std::string& text) {
    std::FILE* f = std::fopen(path.c_str(), "w");
    std::fputs(text.c_str(), f);
    std::fclose(f);
  }
  std::string root_;
};

TEST(ProcessTreeTest, ChildrenFilesOfEveryThreadMakeTheTree) {
  FakeTree t;
  t.Add(100, 1, 'S', 5, {{100, "101 "}, {103, "104 102 "}});
  t.Add(101, 100, 'S', 6, {{101, "105 "}});
  t.Add(102, 100, 'R', 7, {{102, ""}});
  t.Add(104, 100, 'S', 8, {{104, ""}});
  t.Add(105, 101, 'S', 9, {{105, ""}});
  t.Add(200, 1, 'S', 9, {{200, "201 "}});  // another tree
  ProcFs proc(t.root());
  EXPECT_THAT(ReadChildren(proc, 100).value(), ElementsAre(101, 102, 104));
  EXPECT_THAT(ReadChildren(proc, 999).value(), ElementsAre());  // gone
  EXPECT_THAT(Descendants(proc, 100), ElementsAre(101, 102, 104, 105));
}

TEST(ProcessTreeTest, WithoutChildrenFilesParentsComeFromStat) {
  FakeTree t;
  t.Add(100, 1, 'S', 5, {{100, "-"}});
  t.Add(101, 100, 'S', 6, {{101, "-"}});
  t.Add(105, 101, 'S', 9, {{105, "-"}});
  t.Add(200, 1, 'S', 9, {{200, "-"}});
  ProcFs proc(t.root());
  EXPECT_FALSE(ReadChildren(proc, 100).has_value());
  EXPECT_THAT(Descendants(proc, 100), ElementsAre(101, 105));
}

TEST(ProcessTreeTest, IdentityIsStartTimeAndZombieState) {
  FakeTree t;
  t.Add(100, 1, 'S', 12345, {{100, ""}});
  t.Add(101, 100, 'Z', 777, {{101, ""}});
  ProcFs proc(t.root());
  std::optional<ProcessIdentity> a = ReadIdentity(proc, 100);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->start_ticks, 12345u);
  EXPECT_FALSE(a->zombie);
  std::optional<ProcessIdentity> z = ReadIdentity(proc, 101);
  ASSERT_TRUE(z.has_value());
  EXPECT_EQ(z->start_ticks, 777u);
  EXPECT_TRUE(z->zombie);
  EXPECT_FALSE(ReadIdentity(proc, 999).has_value());
}

// The real /proc: this process's own forked child is its descendant.
TEST(ProcessTreeTest, ARealChildIsFound) {
  const pid_t child = fork();
  if (child == 0) {
    pause();
    _exit(0);
  }
  ASSERT_GT(child, 0);
  ProcFs proc;
  const std::vector<pid_t> below = Descendants(proc, getpid());
  EXPECT_THAT(below, ::testing::Contains(child));
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
}

}  // namespace
}  // namespace pystrobe
