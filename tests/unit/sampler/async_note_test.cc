// AsyncReadNote: what the user is told about a process's asyncio tasks
// after a recording, from each tick's outcome.
#include "pystrobe/sampler/async_note.h"

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pystrobe {
namespace {

using ::testing::HasSubstr;

absl::Status Unsupported() {
  return absl::UnimplementedError("process 7 has not imported asyncio");
}
absl::Status Torn() {
  return absl::DataLossError("dict keys header does not validate");
}

TEST(AsyncReadNoteTest, NothingToTellWithoutFailures) {
  AsyncReadNote note;
  EXPECT_TRUE(note.Note().ok());
  for (int i = 0; i < 10; ++i) note.Add(absl::OkStatus());
  EXPECT_TRUE(note.Note().ok());
}

// Never read: the last reason, as it is (one line for the user).
TEST(AsyncReadNoteTest, TasksNeverReadSayWhy) {
  AsyncReadNote note;
  note.Add(Torn());
  note.Add(Unsupported());
  EXPECT_EQ(note.Note(), Unsupported());
}

// A process whose modules are cleared as it exits (a recycled worker):
// its last ticks fail, after a life of reads. Nothing to tell.
TEST(AsyncReadNoteTest, FailuresAsTheProcessExitsAreNotANote) {
  AsyncReadNote note;
  note.Add(Unsupported());  // before it imported asyncio
  for (int i = 0; i < 100; ++i) note.Add(absl::OkStatus());
  for (int i = 0; i < 5; ++i) note.Add(Torn());
  EXPECT_TRUE(note.Note().ok()) << note.Note();
  // Torn reads now and then: nothing either.
  for (int i = 0; i < 100; ++i)
    note.Add(i % 10 == 0 ? Torn() : absl::OkStatus());
  EXPECT_TRUE(note.Note().ok()) << note.Note();
}

// Read once, then failing most of the time: told, with how often.
TEST(AsyncReadNoteTest, MostlyFailingAfterAReadIsTold) {
  AsyncReadNote note;
  note.Add(absl::OkStatus());
  for (int i = 0; i < 9; ++i) note.Add(Torn());
  const absl::Status told = note.Note();
  EXPECT_EQ(told.code(), Torn().code());
  EXPECT_THAT(std::string(told.message()),
              HasSubstr("dict keys header does not validate (in 9 of 10 "
                        "ticks)"));
  // Reads again: half the ticks since the first read failed, no more.
  for (int i = 0; i < 8; ++i) note.Add(absl::OkStatus());
  EXPECT_TRUE(note.Note().ok()) << note.Note();
}

}  // namespace
}  // namespace pystrobe
