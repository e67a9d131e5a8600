// Ground truth from outside pystrobe: Go's pprof reads the files pystrobe
// writes, and pystrobe reads the files Go's runtime/pprof writes.
//
// Needs /usr/bin/go (Debian's golang-go, installed by install-deps.sh);
// without it the tests skip and say so. Go runs offline with its cache,
// HOME and GOPATH in a temp folder.

#include <unistd.h>

#include <map>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pystrobe/profile/formats.h"
#include "pystrobe/profile/profile.h"
#include "status_matchers.h"
#include "test_profiles.h"

namespace pystrobe {
namespace {

using ::pystrobe::testing::IsOk;
using ::pystrobe::testing::MakeTempDir;
using ::pystrobe::testing::ReadFileOrDie;
using ::pystrobe::testing::RunCommand;
using ::pystrobe::testing::SmallProfile;
using ::pystrobe::testing::WriteFileOrDie;
using ::testing::Contains;
using ::testing::HasSubstr;

constexpr char kGo[] = "/usr/bin/go";

class GoPprofTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access(kGo, X_OK) != 0) {
      GTEST_SKIP() << kGo << " not found: install golang-go "
                   << "(scripts/install-deps.sh) to run the go pprof tests";
    }
    dir_ = MakeTempDir();
  }
  // `go ARGS` in the temp folder, with everything Go writes kept there.
  int Go(const std::string& args, std::string* output) const {
    return RunCommand("cd " + dir_ + " && env HOME=" + dir_ +
                          " GOCACHE=" + dir_ + "/gocache GOPATH=" + dir_ +
                          "/gopath GOFLAGS=-mod=mod GOPROXY=off "
                          "GOTELEMETRY=off PPROF_TMPDIR=" +
                          dir_ + " " + kGo + " " + args,
                      output);
  }
  std::string dir_;
};

// Flat values per function name from `go tool pprof -top` output lines like
// "       7 53.85% 53.85%          7 53.85%  parse".
std::map<std::string, int64_t> FlatValues(const std::string& top) {
  std::map<std::string, int64_t> flat;
  for (absl::string_view line : absl::StrSplit(top, '\n')) {
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (fields.size() != 6 || !absl::EndsWith(fields[1], "%")) continue;
    int64_t value = 0;
    if (!absl::SimpleAtoi(fields[0], &value)) continue;
    flat[std::string(fields[5])] = value;
  }
  return flat;
}

TEST_F(GoPprofTest, GoToolPprofReadsOurFiles) {
  absl::StatusOr<std::string> gz = EncodePprof(SmallProfile());
  ASSERT_THAT(gz, IsOk());
  const std::string path = dir_ + "/small.pb.gz";
  ASSERT_THAT(WriteFileAtomically(path, *gz), IsOk());

  std::string raw;
  ASSERT_EQ(Go("tool pprof -raw " + path, &raw), 0) << raw;
  EXPECT_THAT(raw, HasSubstr("samples/count wall/nanoseconds"));
  EXPECT_THAT(raw, HasSubstr("Parser.parse /srv/parse.py:7 s=5(parse)"));
  EXPECT_THAT(raw, HasSubstr("<module> /srv/app.py:3 s=1"));
  EXPECT_THAT(raw, HasSubstr("Server.handle /srv/app.py:12 s=10(handle)"));
  EXPECT_THAT(raw, HasSubstr("wall/nanoseconds[dflt]"));
  EXPECT_THAT(raw, HasSubstr("thread_name:[MainThread]"));
  EXPECT_THAT(raw, HasSubstr("python 3.11.2"));  // a comment

  std::string top;
  ASSERT_EQ(Go("tool pprof -top -sample_index=samples " + path, &top), 0)
      << top;
  const std::map<std::string, int64_t> flat = FlatValues(top);
  EXPECT_EQ(flat, (std::map<std::string, int64_t>{
                      {"Parser.parse", 7},
                      {"compute", 4},
                      {"Server.handle.<locals>.<lambda>", 2},
                      {"Server.handle", 0},
                      {"<module>", 0},
                      {"Worker.run", 0}}))
      << top;

  std::string wall;
  ASSERT_EQ(Go("tool pprof -top -sample_index=wall " + path, &wall), 0) << wall;
  EXPECT_THAT(wall, HasSubstr("130ms total"));
}

// Python's own names in <...> (<module>, <lambda>, comprehensions, genexprs)
// look like C++ templates to pprof, which strips them to "" and shows the
// mapping instead ("[python]") unless the file says the name needs no
// demangling. Every view must show every name.
TEST_F(GoPprofTest, AngleBracketNamesShowInEveryView) {
  Profile p;
  p.sample_types = {{"samples", "count"}, {"cpu", "nanoseconds"}};
  p.default_sample_type = "cpu";
  const char* const names[] = {"<module>",  "<lambda>",   "<listcomp>",
                               "<genexpr>", "<dictcomp>", "<setcomp>"};
  const uint64_t root =
      p.AddLocation({p.AddFunction({"<module>", "<module>", "/a.py", 1}), 2});
  int64_t n = 1;
  for (const char* name : names) {
    const uint64_t leaf =
        p.AddLocation({p.AddFunction({name, name, "/b.py", 10}), 11});
    const uint64_t middle = p.AddLocation(
        {p.AddFunction({"Outer.<locals>.run", "run", "/b.py", 5}), 6});
    p.samples.push_back({{leaf, middle, root}, {n, n * 1'000'000}, {}});
    ++n;
  }
  absl::StatusOr<std::string> gz = EncodePprof(p);
  ASSERT_THAT(gz, IsOk());
  const std::string path = dir_ + "/names.pb.gz";
  ASSERT_THAT(WriteFileAtomically(path, *gz), IsOk());
  for (const char* view : {"-top", "-traces", "-tree", "-dot"}) {
    std::string out;
    ASSERT_EQ(Go(std::string("tool pprof ") + view + " " + path, &out), 0)
        << out;
    EXPECT_THAT(out, ::testing::Not(HasSubstr("[python]"))) << view << out;
    for (const char* name : names) {
      EXPECT_THAT(out, HasSubstr(name)) << view << "\n" << out;
    }
    EXPECT_THAT(out, HasSubstr("Outer.<locals>.run")) << view;
  }
  std::string top;
  ASSERT_EQ(Go("tool pprof -top -sample_index=samples " + path, &top), 0);
  const std::map<std::string, int64_t> flat = FlatValues(top);
  EXPECT_EQ(flat.at("<setcomp>"), 6) << top;
  EXPECT_EQ(flat.at("<module>"), 1) << top;
  // pystrobe reads its own file back with the system names it had.
  absl::StatusOr<Profile> back = DecodePprof(*gz);
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(back->functions, p.functions);
}

TEST_F(GoPprofTest, DecodesProfilesWrittenByGo) {
  WriteFileOrDie(dir_ + "/main.go", R"go(package main

import (
	"os"
	"runtime"
	"runtime/pprof"
	"time"
)

var sink []byte

//go:noinline
func burnCycles(n int) int {
	x := 0
	for i := 0; i < n; i++ {
		x = x*31 + i
	}
	return x
}

//go:noinline
func allocateBuffers() {
	for i := 0; i < 1000; i++ {
		sink = make([]byte, 1024)
	}
}

func main() {
	runtime.MemProfileRate = 1
	cpu, err := os.Create(os.Args[1])
	if err != nil {
		panic(err)
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		panic(err)
	}
	deadline := time.Now().Add(1500 * time.Millisecond)
	x := 0
	for time.Now().Before(deadline) {
		x += burnCycles(1000000)
	}
	pprof.StopCPUProfile()
	cpu.Close()
	allocateBuffers()
	runtime.GC()
	heap, err := os.Create(os.Args[2])
	if err != nil {
		panic(err)
	}
	if err := pprof.Lookup("heap").WriteTo(heap, 0); err != nil {
		panic(err)
	}
	heap.Close()
	if x == 42 {
		println(x)
	}
}
)go");
  std::string output;
  ASSERT_EQ(Go("run main.go cpu.pb.gz heap.pb.gz", &output), 0) << output;

  absl::StatusOr<Profile> cpu = DecodePprof(ReadFileOrDie(dir_ + "/cpu.pb.gz"));
  ASSERT_THAT(cpu, IsOk());
  EXPECT_EQ(cpu->SampleTypeIndex("cpu"), 1);
  std::vector<std::string> cpu_names;
  for (const Function& f : cpu->functions) cpu_names.push_back(f.name);
  EXPECT_THAT(cpu_names, Contains("main.burnCycles"));
  EXPECT_THAT(RenderCollapsed(*cpu), HasSubstr("main.burnCycles"));

  absl::StatusOr<Profile> heap =
      DecodePprof(ReadFileOrDie(dir_ + "/heap.pb.gz"));
  ASSERT_THAT(heap, IsOk());
  std::vector<std::string> heap_names;
  for (const Function& f : heap->functions) heap_names.push_back(f.name);
  EXPECT_THAT(heap_names, Contains("main.allocateBuffers"));
  EXPECT_GE(heap->SampleTypeIndex("alloc_space"), 0);

  // What we decoded from Go, written back by us, is still pprof to Go.
  absl::StatusOr<std::string> again = EncodePprof(*heap);
  ASSERT_THAT(again, IsOk());
  ASSERT_THAT(WriteFileAtomically(dir_ + "/again.pb.gz", *again), IsOk());
  std::string top;
  ASSERT_EQ(Go("tool pprof -top -sample_index=alloc_space again.pb.gz", &top),
            0)
      << top;
  EXPECT_THAT(top, HasSubstr("main.allocateBuffers"));
}

}  // namespace
}  // namespace pystrobe
