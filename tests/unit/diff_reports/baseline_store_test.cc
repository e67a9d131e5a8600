// The baseline store on temp folders: numbering, metadata round trip,
// entries without metadata are invisible, errors name what exists, and
// threads racing to save never share a number.

#include "pystrobe/diff/baseline_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "status_matchers.h"

namespace pystrobe {
namespace {

using ::pystrobe::testing::IsOk;
using ::pystrobe::testing::StatusIs;
using ::testing::HasSubstr;

class BaselineStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/pystrobe-store-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }
  static BaselineMetadata Meta() {
    BaselineMetadata m;
    m.host = "ci-7";
    m.git_commit = "ab12cd3";
    m.git_dirty = true;
    m.python_version = "3.11.2";
    m.command_line = "python3 app.py --name \"x\"\n\tand \xff bytes";
    return m;
  }
  std::string dir_;
};

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST_F(BaselineStoreTest, SavesNumberedEntriesAndReadsMetadataBack) {
  BaselineStore store(dir_ + "/nested/baselines");
  for (int i = 1; i <= 3; ++i) {
    absl::StatusOr<BaselineEntry> e =
        store.Save("api", "profile " + std::to_string(i), Meta());
    ASSERT_THAT(e, IsOk());
    EXPECT_EQ(e->number, i);
    EXPECT_THAT(e->profile_path,
                HasSubstr("/api/000" + std::to_string(i) + "_ab12cd3_"));
  }
  absl::StatusOr<std::vector<BaselineEntry>> all = store.List("api");
  ASSERT_THAT(all, IsOk());
  ASSERT_EQ(all->size(), 3u);
  const BaselineEntry& e = (*all)[1];
  EXPECT_EQ(e.number, 2);
  EXPECT_EQ(Slurp(e.profile_path), "profile 2");
  EXPECT_EQ(e.metadata.host, "ci-7");
  EXPECT_EQ(e.metadata.git_commit, "ab12cd3");
  EXPECT_TRUE(e.metadata.git_dirty);
  EXPECT_EQ(e.metadata.python_version, "3.11.2");
  EXPECT_EQ(e.metadata.command_line,
            "python3 app.py --name \"x\"\n\tand ? bytes");
  EXPECT_THAT(e.metadata.time,
              ::testing::MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z"));

  absl::StatusOr<std::vector<BaselineEntry>> last = store.Last("api", 2);
  ASSERT_THAT(last, IsOk());
  ASSERT_EQ(last->size(), 2u);
  EXPECT_EQ((*last)[0].number, 2);
  EXPECT_EQ((*last)[1].number, 3);
  EXPECT_EQ(store.Last("api", 10)->size(), 3u);
  EXPECT_THAT(store.Names(), IsOk());
  EXPECT_EQ(*store.Names(), std::vector<std::string>{"api"});
  // No reservation files stay behind after a save.
  EXPECT_NE(access((dir_ + "/nested/baselines/api/0003.lock").c_str(), F_OK),
            0);
}

TEST_F(BaselineStoreTest, UnknownNamesAndEntriesNameWhatExists) {
  BaselineStore store(dir_);
  EXPECT_THAT(store.List("api"), StatusIs(absl::StatusCode::kNotFound));
  ASSERT_THAT(store.Save("api", "p", Meta()), IsOk());
  absl::StatusOr<std::vector<BaselineEntry>> missing = store.List("web");
  EXPECT_THAT(missing, StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("have: api"));
  absl::StatusOr<BaselineEntry> e = store.Get("api", 7);
  EXPECT_THAT(e, StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(std::string(e.status().message()), HasSubstr("entries: 1"));
  EXPECT_THAT(store.Save("../evil", "p", Meta()),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(BaselineStoreTest, EntriesWithoutMetadataAreInvisibleAndSkipped) {
  BaselineStore store(dir_);
  ASSERT_THAT(store.Save("api", "p1", Meta()), IsOk());
  // What a save killed before its metadata leaves: a reservation, a profile
  // and a temp file of the metadata.
  const std::string d = dir_ + "/api/";
  std::ofstream(d + "0002.lock") << "";
  std::ofstream(d + "0002_ab12cd3_20260101-000000.pb.gz") << "half";
  std::ofstream(d + "0002_ab12cd3_20260101-000000.json.tmp.Ab12Cd") << "{";
  absl::StatusOr<std::vector<BaselineEntry>> all = store.List("api");
  ASSERT_THAT(all, IsOk());
  ASSERT_EQ(all->size(), 1u);
  absl::StatusOr<BaselineEntry> next = store.Save("api", "p3", Meta());
  ASSERT_THAT(next, IsOk());
  EXPECT_EQ(next->number, 3);
  EXPECT_EQ(store.List("api")->size(), 2u);
}

TEST_F(BaselineStoreTest, UnwritableStoreIsAnErrorNamingThePath) {
  const std::string file = dir_ + "/a-file";
  std::ofstream(file) << "x";
  BaselineStore store(file + "/baselines");
  absl::StatusOr<BaselineEntry> e = store.Save("api", "p", Meta());
  ASSERT_FALSE(e.ok());
  EXPECT_THAT(std::string(e.status().message()), HasSubstr(file));
}

TEST_F(BaselineStoreTest, ConcurrentSavesNeverShareANumber) {
  constexpr int kSavers = 16;
  std::vector<int> numbers(kSavers, 0);
  std::vector<std::thread> threads;
  threads.reserve(kSavers);
  for (int i = 0; i < kSavers; ++i) {
    threads.emplace_back([this, i, &numbers] {
      BaselineStore store(dir_);
      absl::StatusOr<BaselineEntry> e =
          store.Save("api", "profile " + std::to_string(i), Meta());
      numbers[i] = e.ok() ? e->number : -1;
    });
  }
  for (std::thread& t : threads) t.join();
  std::set<int> distinct(numbers.begin(), numbers.end());
  EXPECT_EQ(distinct.size(), static_cast<size_t>(kSavers));
  EXPECT_EQ(distinct.count(-1), 0u);
  absl::StatusOr<std::vector<BaselineEntry>> all =
      BaselineStore(dir_).List("api");
  ASSERT_THAT(all, IsOk());
  ASSERT_EQ(all->size(), static_cast<size_t>(kSavers));
  std::set<std::string> contents;
  for (const BaselineEntry& e : *all) contents.insert(Slurp(e.profile_path));
  EXPECT_EQ(contents.size(), static_cast<size_t>(kSavers));
}

// ParseBaselineMetadata and BaselineMetadataJson, what List reads and Save
// writes (and what tests/fuzz/baseline_metadata_fuzzer.cc feeds).
TEST(BaselineMetadataTest, WhatSaveWritesReadsBack) {
  BaselineMetadata m;
  m.time = "2026-12-07T10:00:00Z";
  m.host = "ci-7";
  m.git_commit = "ab12cd3";
  m.git_dirty = true;
  m.python_version = "3.11.2";
  static constexpr char kCommand[] = "python3 \"a\"\n\t\\ \x01 \0 end";
  m.command_line = std::string(kCommand, sizeof(kCommand) - 1);
  const std::string json = BaselineMetadataJson("api", 3, "0003_x.pb.gz", m);
  absl::StatusOr<BaselineMetadata> back =
      ParseBaselineMetadata("0003_x.json", json);
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(back->time, m.time);
  EXPECT_EQ(back->host, m.host);
  EXPECT_EQ(back->git_commit, m.git_commit);
  EXPECT_TRUE(back->git_dirty);
  EXPECT_EQ(back->python_version, m.python_version);
  EXPECT_EQ(back->command_line, m.command_line);
}

TEST(BaselineMetadataTest, HandEditsReadAsEmptyOrFailNamingTheFile) {
  absl::StatusOr<BaselineMetadata> m = ParseBaselineMetadata(
      "0001_x.json", R"({"host": 7, "git_dirty": "yes", "extra": [1, {}]})");
  ASSERT_THAT(m, IsOk());
  EXPECT_EQ(m->host, "");
  EXPECT_FALSE(m->git_dirty);
  const absl::Status bad =
      ParseBaselineMetadata("0001_x.json", "{\"host\": ").status();
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.message()),
              HasSubstr("0001_x.json is not valid"));
  EXPECT_THAT(ParseBaselineMetadata("0001_x.json", "[1]"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseBaselineMetadata("0001_x.json", ""),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace pystrobe
