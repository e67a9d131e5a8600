// The remedy an INCONCLUSIVE comparison prescribes: a higher rate when
// sampling noise dominates the variance (no CI time), more runs when the
// runs themselves differ, each with its cost.

#include "remedy.h"

#include <limits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pystrobe::diff {
namespace {

using ::testing::HasSubstr;

RemedyInput Need(double detectable, double variance, double sampling) {
  RemedyInput in;
  in.detectable_pct = detectable;
  in.threshold_pct = 10;
  in.variance = variance;
  in.sampling_variance = sampling;
  in.replicates = 5;
  in.rate_hz = 500;
  in.replicate_s = 0.5;
  return in;
}

TEST(RemedyTest, SamplingNoiseIsCuredByAHigherRateAtNoCost) {
  // Twice the threshold: the variance must shrink 4.4x; 90% of it is
  // sampling, which a rate k times higher divides by k.
  const Remedy r = PrescribeRemedy(Need(20, 1.0, 0.9));
  EXPECT_NEAR(r.sampling_share, 0.9, 1e-9);
  // 0.1 + 0.9 / k <= 1 / 4.4  =>  k >= 7.07: 500 Hz -> 3600 Hz.
  EXPECT_EQ(r.rate_hz, 3600);
  EXPECT_EQ(r.runs, 22);  // ceil(5 * 4.4)
  EXPECT_NEAR(r.extra_s, 17 * 0.5, 1e-9);
  EXPECT_THAT(r.text, HasSubstr("--rate 3600, +0 s of CI time"));
  EXPECT_THAT(r.text, HasSubstr("--repeat 22, +8.5 s per side"));
}

TEST(RemedyTest, RunToRunDifferencesNeedMoreRuns) {
  // Half the variance is between runs: no rate brings it under 1/4.4.
  const Remedy r = PrescribeRemedy(Need(20, 1.0, 0.5));
  EXPECT_EQ(r.rate_hz, 0);
  EXPECT_EQ(r.runs, 22);
  EXPECT_THAT(r.text, HasSubstr("record more runs: --repeat 22, +8.5 s per "
                                "side; sampling noise is 50% of the variance"));
}

TEST(RemedyTest, ARateBeyondWhatAGateSustainsIsNotPrescribed) {
  RemedyInput in = Need(20, 1.0, 0.9);
  in.rate_hz = 2000;  // would need 14,200 Hz
  const Remedy r = PrescribeRemedy(in);
  EXPECT_EQ(r.rate_hz, 0);
  EXPECT_THAT(r.text, HasSubstr("record more runs"));
}

TEST(RemedyTest, NoSpreadAtAllAsksForRuns) {
  RemedyInput in = Need(std::numeric_limits<double>::infinity(), 0, 0);
  in.replicates = 1;
  const Remedy r = PrescribeRemedy(in);
  EXPECT_EQ(r.runs, 5);
  EXPECT_EQ(r.rate_hz, 0);
  EXPECT_LT(r.sampling_share, 0);
  EXPECT_THAT(r.text, HasSubstr("--repeat 5"));
}

TEST(RemedyTest, AChangeFarBeyondReachAsksForTheMostRunsNotAnOverflow) {
  // A detectable change a million times the threshold (a fuzzed profile's
  // zero-width threshold gives +inf or NaN): the runs it would take are no
  // int; the remedy asks for the most it prescribes (100).
  EXPECT_EQ(PrescribeRemedy(Need(1e7, 1.0, 0.5)).runs, 100);
  RemedyInput zero = Need(0, 1.0, 0.5);
  zero.threshold_pct = 0;  // 0 / 0
  EXPECT_EQ(PrescribeRemedy(zero).runs, 100);
}

TEST(RemedyTest, TimeBatchesAskForALongerRecording) {
  RemedyInput in = Need(20, 1.0, 0.2);
  in.runs = false;
  in.replicate_s = 1;
  const Remedy r = PrescribeRemedy(in);
  EXPECT_THAT(r.text, HasSubstr("record longer: 22 time batches (about 22 s)"));
}

}  // namespace
}  // namespace pystrobe::diff
