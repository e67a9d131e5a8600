// The sinks' side of an interleaved recording, without a process: where
// the two profiles go (FileSink writes BASE beside the output), what a sink
// that knows nothing of pairs does with them, how TeeSink forwards pairs
// and answers Decided, and that GateSink compares the pair in memory.
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pystrobe/recorder/file_sink.h"
#include "pystrobe/recorder/gate_sink.h"
#include "pystrobe/recorder/recording.h"
#include "test_profiles.h"

namespace pystrobe {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
}

class SinksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/pystrobe-sinks-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }
  std::string P(const std::string& name) const { return dir_ + "/" + name; }

  std::string dir_;
};

// The profile with only the samples of the thread named `thread`.
Profile OnlyThread(const std::string& thread) {
  Profile p = testing::SmallProfile();
  std::vector<Sample> kept;
  for (const Sample& s : p.samples) {
    for (const Label& l : s.labels) {
      if (l.key == "thread_name" && l.str == thread) kept.push_back(s);
    }
  }
  p.samples = kept;
  return p;
}

TEST_F(SinksTest, FileSinkWritesBaseBesideTheOutput) {
  FileSink sink(P("out.txt"), OutputFormat::kCollapsed, {});
  const Profile base = OnlyThread("MainThread");
  const Profile now = testing::SmallProfile();
  ASSERT_TRUE(sink.WritePair(base, now, /*final=*/true).ok());
  absl::StatusOr<std::string> want_base =
      RenderProfile(base, OutputFormat::kCollapsed, {});
  absl::StatusOr<std::string> want_now =
      RenderProfile(now, OutputFormat::kCollapsed, {});
  ASSERT_TRUE(want_base.ok() && want_now.ok());
  EXPECT_EQ(ReadAll(P("out.base.txt")), *want_base);
  EXPECT_EQ(ReadAll(P("out.txt")), *want_now);
  EXPECT_NE(*want_base, *want_now);
}

// Remembers what it was given.
class RecordingSink : public ProfileSink {
 public:
  explicit RecordingSink(Decision decision = Decision::kUndecided)
      : decision_(decision) {}
  absl::Status Write(const Profile& p, bool final) override {
    writes.push_back(p.samples.size());
    finals.push_back(final);
    return absl::OkStatus();
  }
  Decision Decided(const Profile*, const Profile&) override {
    ++asked;
    return decision_;
  }
  std::vector<size_t> writes;
  std::vector<bool> finals;
  int asked = 0;

 private:
  Decision decision_;
};

TEST(ProfileSinkTest, BySinksThatKnowNoPairsOnlyNewIsWritten) {
  RecordingSink sink;
  const Profile base = OnlyThread("MainThread");
  const Profile now = testing::SmallProfile();
  ASSERT_TRUE(sink.WritePair(base, now, true).ok());
  EXPECT_THAT(sink.writes, ElementsAre(now.samples.size()));
  EXPECT_EQ(sink.ProfileSink::Decided(&base, now), Decision::kUndecided);
}

TEST(TeeSinkTest, ForwardsPairsAndAnswersWithTheFirstDecision) {
  RecordingSink undecided, conclusive(Decision::kConclusive),
      overloaded(Decision::kOverloaded);
  TeeSink tee({&undecided, &conclusive, &overloaded});
  const Profile now = testing::SmallProfile();
  ASSERT_TRUE(tee.WritePair(now, now, false).ok());
  EXPECT_THAT(undecided.finals, ElementsAre(false));
  EXPECT_THAT(overloaded.finals, ElementsAre(false));
  EXPECT_EQ(tee.Decided(nullptr, now), Decision::kConclusive);
  EXPECT_EQ(undecided.asked, 1);
  EXPECT_EQ(overloaded.asked, 0);
  TeeSink none({&undecided});
  EXPECT_EQ(none.Decided(nullptr, now), Decision::kUndecided);
}

TEST(GateSinkTest, ComparesAnInterleavedPairInMemory) {
  GateOptions options;
  options.color = "never";
  GateSink gate(options, /*base=*/"", /*save_as=*/"", "out.pb.gz");
  gate.CompareWithInterleavedBase("base (interleaved: python3 bench.py)");
  const Profile p = testing::SmallProfile();
  // Checkpoints are not compared.
  ASSERT_TRUE(gate.WritePair(p, p, /*final=*/false).ok());
  EXPECT_FALSE(gate.outcome().has_value());
  ASSERT_TRUE(gate.WritePair(p, p, /*final=*/true).ok());
  ASSERT_TRUE(gate.outcome().has_value());
  EXPECT_THAT(gate.outcome()->report,
              HasSubstr("base (interleaved: python3 bench.py)"));
  EXPECT_THAT(gate.outcome()->report,
              ::testing::ContainsRegex("(OK|FAIL|INCONCLUSIVE):"));
}

TEST(GateSinkTest, WithNothingToCompareItNeverDecides) {
  GateSink gate(GateOptions{}, "", "", "out.pb.gz");
  const Profile p = testing::SmallProfile();
  EXPECT_EQ(gate.Decided(&p, p), Decision::kUndecided);
  EXPECT_EQ(gate.Decided(nullptr, p), Decision::kUndecided);
}

}  // namespace
}  // namespace pystrobe
