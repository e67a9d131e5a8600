// EncodePprof/DecodePprof: round trips, interning, and bad input of every
// kind the diff tool can be handed (it must fail with one line, never crash).

#include <zlib.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pystrobe/profile/formats.h"
#include "pystrobe/profile/profile.h"
#include "status_matchers.h"
#include "test_profiles.h"

namespace pystrobe {
namespace {

using ::pystrobe::testing::IsOk;
using ::pystrobe::testing::SmallProfile;
using ::pystrobe::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

std::string GzipBytes(const std::string& raw) {
  z_stream zs{};
  EXPECT_EQ(
      deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
      Z_OK);
  std::string out(deflateBound(&zs, raw.size()) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  zs.avail_in = static_cast<uInt>(raw.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::string GunzipBytes(const std::string& gz) {
  z_stream zs{};
  EXPECT_EQ(inflateInit2(&zs, 16 + MAX_WBITS), Z_OK);
  std::string out(64 << 20, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  zs.avail_in = static_cast<uInt>(gz.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(inflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  inflateEnd(&zs);
  return out;
}

// Appends a protobuf varint.
void Varint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

void LengthDelimited(int field, const std::string& bytes, std::string* out) {
  Varint((static_cast<uint64_t>(field) << 3) | 2, out);
  Varint(bytes.size(), out);
  out->append(bytes);
}

TEST(ProfileTest, AddFunctionAndLocationIntern) {
  Profile p;
  const uint64_t a = p.AddFunction({"f", "A.f", "a.py", 1});
  const uint64_t b = p.AddFunction({"g", "A.g", "a.py", 5});
  EXPECT_EQ(a, 1u);
  EXPECT_EQ(b, 2u);
  EXPECT_EQ(p.AddFunction({"f", "A.f", "a.py", 1}), a);
  EXPECT_EQ(p.AddFunction({"f", "A.f", "b.py", 1}), 3u);
  EXPECT_EQ(p.AddLocation({a, 2}), 1u);
  EXPECT_EQ(p.AddLocation({a, 3}), 2u);
  EXPECT_EQ(p.AddLocation({a, 2}), 1u);
  EXPECT_EQ(p.AddLocation({b, 2}), 3u);
  EXPECT_EQ(p.functions.size(), 3u);
  EXPECT_EQ(p.locations.size(), 3u);
  EXPECT_EQ(p.FunctionOf(p.LocationAt(3)).name, "g");
  // Entries added directly are found too.
  p.functions.push_back({"h", "", "c.py", 0});
  EXPECT_EQ(p.AddFunction({"h", "", "c.py", 0}), 4u);
}

TEST(ProfileTest, SampleTypeIndex) {
  const Profile p = SmallProfile();
  EXPECT_EQ(p.SampleTypeIndex("samples"), 0);
  EXPECT_EQ(p.SampleTypeIndex("wall"), 1);
  EXPECT_EQ(p.SampleTypeIndex("cpu"), -1);
}

void ExpectSameLabels(const std::vector<Label>& a,
                      const std::vector<Label>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].key, b[i].key);
    EXPECT_EQ(a[i].str, b[i].str);
    EXPECT_EQ(a[i].num, b[i].num);
    EXPECT_EQ(a[i].num_unit, b[i].num_unit);
  }
}

void ExpectSameProfile(const Profile& a, const Profile& b) {
  EXPECT_EQ(a.sample_types, b.sample_types);
  EXPECT_EQ(a.functions, b.functions);
  EXPECT_EQ(a.locations, b.locations);
  ASSERT_EQ(a.samples.size(), b.samples.size());
  for (size_t i = 0; i < a.samples.size(); ++i) {
    EXPECT_EQ(a.samples[i].location_ids, b.samples[i].location_ids);
    EXPECT_EQ(a.samples[i].values, b.samples[i].values);
    ExpectSameLabels(a.samples[i].labels, b.samples[i].labels);
  }
  EXPECT_EQ(a.time_nanos, b.time_nanos);
  EXPECT_EQ(a.duration_nanos, b.duration_nanos);
  EXPECT_EQ(a.period_type, b.period_type);
  EXPECT_EQ(a.period, b.period);
  EXPECT_EQ(a.comments, b.comments);
  EXPECT_EQ(a.default_sample_type, b.default_sample_type);
}

TEST(PprofTest, RoundTrip) {
  const Profile p = SmallProfile();
  absl::StatusOr<std::string> gz = EncodePprof(p);
  ASSERT_THAT(gz, IsOk());
  ASSERT_GE(gz->size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>((*gz)[0]), 0x1f);  // gzip magic
  EXPECT_EQ(static_cast<unsigned char>((*gz)[1]), 0x8b);
  absl::StatusOr<Profile> back = DecodePprof(*gz);
  ASSERT_THAT(back, IsOk());
  ExpectSameProfile(p, *back);

  // Uncompressed protobuf is accepted too.
  absl::StatusOr<Profile> raw = DecodePprof(GunzipBytes(*gz));
  ASSERT_THAT(raw, IsOk());
  ExpectSameProfile(p, *raw);
}

// Native frames (--native) keep their Mapping through a round trip, and
// Python frames stay in pystrobe's own mapping (model id 0).
TEST(PprofTest, NativeMappingsRoundTrip) {
  Profile p;
  p.sample_types = {{"samples", "count"}};
  const uint64_t py =
      p.AddLocation({p.AddFunction({"main", "main", "a.py", 1}), 3});
  const Mapping libc{0x7f0000000000, 0x7f0000200000, 0x1000,
                     "/usr/lib/x86_64-linux-gnu/libc.so.6", "a1b2c3"};
  const uint64_t m = p.AddMapping(libc);
  EXPECT_EQ(p.AddMapping(libc), m);  // interned
  const uint64_t c =
      p.AddLocation({p.AddFunction({"read", "read",
                                    "/usr/lib/x86_64-linux-gnu/libc.so.6", 0}),
                     0, m});
  p.samples.push_back({{c, py}, {1}, {}});
  absl::StatusOr<std::string> gz = EncodePprof(p);
  ASSERT_THAT(gz, IsOk());
  absl::StatusOr<Profile> back = DecodePprof(*gz);
  ASSERT_THAT(back, IsOk());
  ASSERT_EQ(back->mappings.size(), 1u);
  EXPECT_EQ(back->mappings[0], libc);
  const Sample& s = back->samples.at(0);
  EXPECT_EQ(back->LocationAt(s.location_ids[0]).mapping_id, 1u);
  EXPECT_EQ(back->LocationAt(s.location_ids[1]).mapping_id, 0u);
  EXPECT_EQ(back->FunctionOf(back->LocationAt(s.location_ids[0])).name, "read");
  // A location naming a mapping the profile does not have is refused.
  p.locations[0].mapping_id = 7;
  EXPECT_FALSE(EncodePprof(p).ok());
}

TEST(PprofTest, StringTableIsDeduplicatedWithEmptyFirst) {
  const Profile p = SmallProfile();
  absl::StatusOr<std::string> gz = EncodePprof(p);
  ASSERT_THAT(gz, IsOk());
  const std::string raw = GunzipBytes(*gz);
  // "/srv/app.py" is the file of three functions but is stored once.
  size_t count = 0;
  for (size_t pos = raw.find("/srv/app.py"); pos != std::string::npos;
       pos = raw.find("/srv/app.py", pos + 1)) {
    ++count;
  }
  EXPECT_EQ(count, 1u);
  // The first string table entry (field 6) is empty: tag 0x32, length 0.
  EXPECT_THAT(raw, HasSubstr(std::string("\x32\x00", 2)));
}

TEST(PprofTest, EmptyProfileRoundTrips) {
  Profile p;
  p.sample_types = {{"samples", "count"}};
  absl::StatusOr<std::string> gz = EncodePprof(p);
  ASSERT_THAT(gz, IsOk());
  absl::StatusOr<Profile> back = DecodePprof(*gz);
  ASSERT_THAT(back, IsOk());
  EXPECT_TRUE(back->samples.empty());  // not an error: the caller decides
  EXPECT_EQ(back->sample_types, p.sample_types);
}

TEST(PprofTest, EncodeRejectsInconsistentProfile) {
  Profile p = SmallProfile();
  p.samples[0].values.pop_back();
  EXPECT_THAT(EncodePprof(p), StatusIs(absl::StatusCode::kInvalidArgument));
  p = SmallProfile();
  p.samples[0].location_ids.push_back(99);
  EXPECT_THAT(EncodePprof(p), StatusIs(absl::StatusCode::kInvalidArgument));
}

// The message of a bad-input error: one line, InvalidArgument.
void ExpectOneLineError(const absl::StatusOr<Profile>& result,
                        const std::string& expected) {
  ASSERT_THAT(result, StatusIs(absl::StatusCode::kInvalidArgument));
  const std::string message(result.status().message());
  EXPECT_THAT(message, HasSubstr(expected));
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

TEST(PprofTest, RejectsBadInput) {
  absl::StatusOr<std::string> gz = EncodePprof(SmallProfile());
  ASSERT_THAT(gz, IsOk());
  std::mt19937 rng(7);
  std::string random(4096, '\0');
  for (char& c : random) c = static_cast<char>(rng());
  random[0] = 0x08;  // not the gzip magic

  ExpectOneLineError(DecodePprof(""), "not a pprof profile: empty input");
  ExpectOneLineError(DecodePprof("this is some text, not a profile\n"),
                     "not a pprof profile");
  ExpectOneLineError(DecodePprof(random), "not a pprof profile");
  ExpectOneLineError(DecodePprof(gz->substr(0, gz->size() / 2)),
                     "truncated gzip stream");
  ExpectOneLineError(DecodePprof(GzipBytes(random)), "not a pprof profile");
  std::string corrupt = *gz;
  corrupt[corrupt.size() / 2] ^= 0x55;
  corrupt[corrupt.size() / 2 + 1] ^= 0x55;
  EXPECT_THAT(DecodePprof(corrupt),
              StatusIs(absl::StatusCode::kInvalidArgument));

  // A valid protobuf that is not a profile: a message with a string field 1
  // and a varint field 2 (like a FileDescriptorProto's name and package).
  std::string other;
  LengthDelimited(1, "google/protobuf/empty.proto", &other);
  Varint((2 << 3) | 0, &other);
  Varint(7, &other);
  ExpectOneLineError(DecodePprof(GzipBytes(other)), "not a pprof profile");
}

TEST(PprofTest, RejectsDanglingReferences) {
  // Each case: a string table and one broken reference.
  std::string strings;
  LengthDelimited(6, "", &strings);
  LengthDelimited(6, "samples", &strings);
  LengthDelimited(6, "count", &strings);
  std::string sample_type;
  Varint(1 << 3, &sample_type);
  Varint(1, &sample_type);
  Varint(2 << 3, &sample_type);
  Varint(2, &sample_type);

  {  // String index past the table.
    std::string bad_type;
    Varint(1 << 3, &bad_type);
    Varint(99, &bad_type);
    std::string p = strings;
    LengthDelimited(1, bad_type, &p);
    ExpectOneLineError(DecodePprof(p), "string index 99");
  }
  {  // A sample pointing at a location that does not exist.
    std::string sample;
    Varint(1 << 3, &sample);  // location_id
    Varint(5, &sample);
    Varint(2 << 3, &sample);  // value
    Varint(1, &sample);
    std::string p = strings;
    LengthDelimited(1, sample_type, &p);
    LengthDelimited(2, sample, &p);
    ExpectOneLineError(DecodePprof(p), "unknown location 5");
  }
  {  // A location whose line names a function that does not exist.
    std::string line;
    Varint(1 << 3, &line);
    Varint(3, &line);
    std::string location;
    Varint(1 << 3, &location);
    Varint(1, &location);
    LengthDelimited(4, line, &location);
    std::string p = strings;
    LengthDelimited(4, location, &p);
    ExpectOneLineError(DecodePprof(p), "unknown function 3");
  }
  {  // Value count differs from the sample type count.
    std::string sample;
    Varint(2 << 3, &sample);
    Varint(1, &sample);
    Varint(2 << 3, &sample);
    Varint(1, &sample);
    std::string p = strings;
    LengthDelimited(1, sample_type, &p);
    LengthDelimited(2, sample, &p);
    ExpectOneLineError(DecodePprof(p), "2 values for 1 sample types");
  }
}

TEST(PprofTest, InlinedLinesBecomeFramesInnermostFirst) {
  // One location with two Line entries (callee inlined into caller), as Go
  // writes them.
  std::string p;
  for (const char* s : {"", "samples", "count", "callee", "caller", "x.go"}) {
    LengthDelimited(6, s, &p);
  }
  std::string sample_type;
  Varint(1 << 3, &sample_type);
  Varint(1, &sample_type);
  Varint(2 << 3, &sample_type);
  Varint(2, &sample_type);
  LengthDelimited(1, sample_type, &p);
  for (uint64_t id : {1, 2}) {
    std::string f;
    Varint(1 << 3, &f);
    Varint(id, &f);
    Varint(2 << 3, &f);
    Varint(id + 2, &f);  // name: "callee" or "caller"
    Varint(4 << 3, &f);
    Varint(5, &f);
    LengthDelimited(5, f, &p);
  }
  std::string location;
  Varint(1 << 3, &location);
  Varint(7, &location);
  for (uint64_t id : {1, 2}) {
    std::string line;
    Varint(1 << 3, &line);
    Varint(id, &line);
    Varint(2 << 3, &line);
    Varint(10 * id, &line);
    LengthDelimited(4, line, &location);
  }
  LengthDelimited(4, location, &p);
  std::string sample;
  Varint(1 << 3, &sample);
  Varint(7, &sample);
  Varint(2 << 3, &sample);
  Varint(3, &sample);
  LengthDelimited(2, sample, &p);

  absl::StatusOr<Profile> decoded = DecodePprof(p);
  ASSERT_THAT(decoded, IsOk());
  ASSERT_EQ(decoded->samples.size(), 1u);
  const Sample& s = decoded->samples[0];
  ASSERT_EQ(s.location_ids.size(), 2u);
  EXPECT_EQ(decoded->FunctionOf(decoded->LocationAt(s.location_ids[0])).name,
            "callee");
  EXPECT_EQ(decoded->LocationAt(s.location_ids[0]).line, 10);
  EXPECT_EQ(decoded->FunctionOf(decoded->LocationAt(s.location_ids[1])).name,
            "caller");
  EXPECT_THAT(s.values, ElementsAre(3));
}

// Random mutations of a valid file, compressed and not: decoding must never
// crash (run under ASan in the sanitizer build), and whatever decodes must
// render and re-encode.
TEST(PprofTest, RandomMutationsNeverCrash) {
  absl::StatusOr<std::string> gz = EncodePprof(SmallProfile());
  ASSERT_THAT(gz, IsOk());
  const std::string raw = GunzipBytes(*gz);
  std::mt19937 rng(12345);
  int decoded = 0;
  for (int i = 0; i < 5000; ++i) {
    std::string bytes = raw;
    const int mutations = 1 + static_cast<int>(rng() % 8);
    for (int m = 0; m < mutations && !bytes.empty(); ++m) {
      const size_t pos = rng() % bytes.size();
      switch (rng() % 5) {
        case 0:
          bytes[pos] = static_cast<char>(bytes[pos] ^ (1u << (rng() % 8)));
          break;
        case 1:
          bytes[pos] = static_cast<char>(rng());
          break;
        case 2:
          bytes.resize(pos);
          break;
        case 3:
          bytes.insert(pos, 1 + rng() % 4, static_cast<char>(rng()));
          break;
        default:
          bytes.erase(pos, 1 + rng() % 4);
          break;
      }
    }
    if (i % 4 == 0) bytes = GzipBytes(bytes);
    absl::StatusOr<Profile> p = DecodePprof(bytes);
    if (!p.ok()) {
      EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument)
          << p.status();
      continue;
    }
    ++decoded;
    EXPECT_THAT(EncodePprof(*p), IsOk());
    RenderOptions threads;
    threads.per_thread = true;
    RenderCollapsed(*p, threads);
    RenderSpeedscope(*p);
    RenderFlameGraph(*p, threads);
  }
  // Some mutations keep the file valid (they hit a value): the rendering
  // half of this test ran.
  EXPECT_GT(decoded, 0);
}

}  // namespace
}  // namespace pystrobe
