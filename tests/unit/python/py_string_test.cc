// String and bytes decoding over hand-laid PEP 393, 2.7 str/unicode and
// bytes objects. Expected UTF-8 is written as literal bytes.
#include "py_string.h"

#include <string>

#include "fake_python.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pystrobe/base/errors.h"
#include "status_matchers.h"

namespace pystrobe::testing {
namespace {

using ::testing::Eq;

constexpr char kCafe[] = "caf\xc3\xa9";                // 'café'
constexpr char kKansu[] = "\xe9\x96\xa2\xe6\x95\xb0";  // '関数'
constexpr char kCjkX[] = "\xf0\xa0\x80\x80x";          // '𠀀x'
constexpr char kReplacement[] = "\xef\xbf\xbd";        // U+FFFD

class Py3StringTest : public ::testing::TestWithParam<PythonVersion> {
 protected:
  Py3StringTest() : py_(GetParam()) {}

  absl::StatusOr<std::string> Read(uint64_t address) {
    auto memory = py_.Memory();
    return ReadPyString(*memory, py_.layout(), py_.version(), address);
  }

  FakePython py_;
};

TEST_P(Py3StringTest, CompactAscii) {
  uint64_t s = py_.StrCodePoints(U"hello_world");
  EXPECT_THAT(Read(s), IsOkAndHolds(Eq("hello_world")));
  EXPECT_THAT(Read(py_.StrCodePoints(U"")), IsOkAndHolds(Eq("")));
}

TEST_P(Py3StringTest, CompactUcs1) {
  EXPECT_THAT(Read(py_.StrCodePoints(U"caf\u00e9")), IsOkAndHolds(Eq(kCafe)));
  // ASCII text stored as a non-ASCII compact UCS1 string reads the same.
  EXPECT_THAT(Read(py_.StrCodePoints(U"abc", StrRepr::kCompact)),
              IsOkAndHolds(Eq("abc")));
}

TEST_P(Py3StringTest, CompactUcs2) {
  EXPECT_THAT(Read(py_.StrCodePoints(U"\u95a2\u6570")),
              IsOkAndHolds(Eq(kKansu)));
}

TEST_P(Py3StringTest, CompactUcs4) {
  EXPECT_THAT(Read(py_.StrCodePoints(U"\U00020000x")), IsOkAndHolds(Eq(kCjkX)));
}

TEST_P(Py3StringTest, Legacy) {
  EXPECT_THAT(Read(py_.StrCodePoints(U"legacy", StrRepr::kLegacy)),
              IsOkAndHolds(Eq("legacy")));
  EXPECT_THAT(Read(py_.StrCodePoints(U"\u95a2\u6570", StrRepr::kLegacy)),
              IsOkAndHolds(Eq(kKansu)));
  EXPECT_THAT(Read(py_.StrCodePoints(U"\U00020000x", StrRepr::kLegacy)),
              IsOkAndHolds(Eq(kCjkX)));
}

TEST_P(Py3StringTest, LegacyWithoutDataIsAnError) {
  uint64_t s = py_.RawUnicode(3, py_.UnicodeState(1, false, true), "abc");
  py_.WriteField<uint64_t>(s, Field::kUnicodeDataAny, 0);
  EXPECT_FALSE(Read(s).ok());
}

TEST_P(Py3StringTest, LoneSurrogateBecomesReplacementCharacter) {
  std::u32string text = U"a";
  text.push_back(0xD800);
  text.push_back(U'b');
  EXPECT_THAT(Read(py_.StrCodePoints(text)),
              IsOkAndHolds(Eq(std::string("a") + kReplacement + "b")));
  std::u32string wide = U"\U00020000";
  wide.push_back(0xDFFF);
  EXPECT_THAT(Read(py_.StrCodePoints(wide)),
              IsOkAndHolds(Eq(std::string("\xf0\xa0\x80\x80") + kReplacement)));
}

TEST_P(Py3StringTest, SurrogatesInUcs2AreNotPaired) {
  // PEP 393 UCS2 holds code points, not UTF-16: '\ud840\udc00' is two lone
  // surrogates (a real U+20000 would be a UCS4 string).
  std::u32string text;
  text.push_back(0xD840);
  text.push_back(0xDC00);
  EXPECT_THAT(Read(py_.StrCodePoints(text)),
              IsOkAndHolds(Eq(std::string(kReplacement) + kReplacement)));
}

TEST_P(Py3StringTest, CodePointBeyondUnicodeBecomesReplacementCharacter) {
  std::string data("\x00\x00\x11\x00", 4);  // 0x110000
  uint64_t s = py_.RawUnicode(1, py_.UnicodeState(4, true, false), data);
  EXPECT_THAT(Read(s), IsOkAndHolds(Eq(kReplacement)));
}

TEST_P(Py3StringTest, HugeLengthIsAnError) {
  uint64_t s =
      py_.RawUnicode(int64_t{1} << 40, py_.UnicodeState(1, true, true), "abc");
  EXPECT_TRUE(IsInconsistent(Read(s).status()));
  uint64_t negative =
      py_.RawUnicode(-1, py_.UnicodeState(1, true, true), "abc");
  EXPECT_TRUE(IsInconsistent(Read(negative).status()));
}

TEST_P(Py3StringTest, LengthPastMappedMemoryIsAnError) {
  // Under kMaxStringLength, but the arena ends long before.
  uint64_t s = py_.RawUnicode(60000, py_.UnicodeState(2, true, false), "ab");
  EXPECT_FALSE(Read(s).ok());
}

TEST_P(Py3StringTest, BadKindIsAnError) {
  for (int kind : {0, 3, 5, 7}) {
    uint64_t s = py_.RawUnicode(2, py_.UnicodeState(kind, true, false), "abcd");
    EXPECT_TRUE(IsInconsistent(Read(s).status())) << kind;
  }
  // ASCII flag with a wide kind.
  uint64_t s = py_.RawUnicode(2, py_.UnicodeState(2, true, true), "abcd");
  EXPECT_TRUE(IsInconsistent(Read(s).status()));
}

TEST_P(Py3StringTest, NullIsAnError) {
  EXPECT_TRUE(IsInconsistent(Read(0).status()));
  auto memory = py_.Memory();
  EXPECT_TRUE(IsInconsistent(ReadPyBytes(*memory, py_.layout(), 0).status()));
}

TEST_P(Py3StringTest, UnmappedIsMemoryGone) {
  EXPECT_TRUE(IsMemoryGone(Read(0x1000).status()));
}

TEST_P(Py3StringTest, Bytes) {
  std::string table("\x00\x01\xff\x80zz", 6);
  uint64_t b = py_.Bytes(table);
  uint64_t empty = py_.Bytes("");
  auto memory = py_.Memory();
  EXPECT_THAT(ReadPyBytes(*memory, py_.layout(), b), IsOkAndHolds(Eq(table)));
  EXPECT_THAT(ReadPyBytes(*memory, py_.layout(), empty), IsOkAndHolds(Eq("")));
}

TEST_P(Py3StringTest, BytesWithHugeSizeIsAnError) {
  uint64_t b = py_.Bytes("abc");
  py_.WriteField<int64_t>(b, Field::kVarObSize, int64_t{1} << 40);
  uint64_t negative = py_.Bytes("abc");
  py_.WriteField<int64_t>(negative, Field::kVarObSize, -5);
  auto memory = py_.Memory();
  EXPECT_TRUE(IsInconsistent(ReadPyBytes(*memory, py_.layout(), b).status()));
  EXPECT_TRUE(
      IsInconsistent(ReadPyBytes(*memory, py_.layout(), negative).status()));
}

INSTANTIATE_TEST_SUITE_P(
    Versions, Py3StringTest,
    ::testing::Values(PythonVersion{3, 8, 18, false},
                      PythonVersion{3, 10, 13, false},
                      PythonVersion{3, 11, 7, false},
                      PythonVersion{3, 12, 1, false},
                      PythonVersion{3, 13, 0, false}),
    [](const ::testing::TestParamInfo<PythonVersion>& param_info) {
      return "Py3" + std::to_string(param_info.param.minor);
    });

class Py27StringTest : public ::testing::Test {
 protected:
  Py27StringTest() : py_(PythonVersion{2, 7, 18, false}) {}
  FakePython py_;
};

TEST_F(Py27StringTest, StrIsItsBytes) {
  uint64_t name = py_.Str("run");
  uint64_t utf8 = py_.Str(kCafe);
  auto memory = py_.Memory();
  EXPECT_THAT(ReadPyString(*memory, py_.layout(), py_.version(), name),
              IsOkAndHolds(Eq("run")));
  EXPECT_THAT(ReadPyString(*memory, py_.layout(), py_.version(), utf8),
              IsOkAndHolds(Eq(kCafe)));
  EXPECT_THAT(ReadPyBytes(*memory, py_.layout(), utf8),
              IsOkAndHolds(Eq(kCafe)));
}

TEST_F(Py27StringTest, StrLongerThanMaxIsAnError) {
  uint64_t s = py_.Bytes(std::string(kMaxStringLength + 1, 'a'));
  auto memory = py_.Memory();
  EXPECT_TRUE(IsInconsistent(
      ReadPyString(*memory, py_.layout(), py_.version(), s).status()));
}

TEST_F(Py27StringTest, UnicodeUcs4) {
  ASSERT_EQ(py_.layout().Offset(Field::kSizeofPyUnicode), 4);
  uint64_t a = py_.Py2Unicode(U"caf\u00e9");
  uint64_t b = py_.Py2Unicode(U"\u95a2\u6570");
  uint64_t c = py_.Py2Unicode(U"\U00020000x");
  auto memory = py_.Memory();
  EXPECT_THAT(ReadPy2Unicode(*memory, py_.layout(), a),
              IsOkAndHolds(Eq(kCafe)));
  EXPECT_THAT(ReadPy2Unicode(*memory, py_.layout(), b),
              IsOkAndHolds(Eq(kKansu)));
  EXPECT_THAT(ReadPy2Unicode(*memory, py_.layout(), c),
              IsOkAndHolds(Eq(kCjkX)));
}

// A narrow (UCS2, the configure default) 2.7 build stores a character
// outside the BMP as a surrogate pair, which u'...'.encode('utf-8') turns
// into one 4-byte sequence. A lone surrogate stays an error character.
TEST_F(Py27StringTest, UnicodeUcs2SurrogatePairs) {
  py_.OverrideLayout(Field::kSizeofPyUnicode, 2);
  uint64_t pair = py_.Py2Unicode(U"\xd840\xdc00x");
  uint64_t bmp = py_.Py2Unicode(U"\u95a2\u6570");
  uint64_t lone = py_.Py2Unicode(U"\xdc00\xd840");
  auto memory = py_.Memory();
  EXPECT_THAT(ReadPy2Unicode(*memory, py_.layout(), bmp),
              IsOkAndHolds(Eq(kKansu)));
  EXPECT_THAT(ReadPy2Unicode(*memory, py_.layout(), pair),
              IsOkAndHolds(Eq(kCjkX)));
  EXPECT_THAT(ReadPy2Unicode(*memory, py_.layout(), lone),
              IsOkAndHolds(Eq(std::string(kReplacement) + kReplacement)));
}

TEST_F(Py27StringTest, UnicodeHugeLengthIsAnError) {
  uint64_t a = py_.Py2Unicode(U"abc");
  py_.WriteField<int64_t>(a, Field::kUnicodeLength, kMaxStringLength + 1);
  auto memory = py_.Memory();
  EXPECT_TRUE(
      IsInconsistent(ReadPy2Unicode(*memory, py_.layout(), a).status()));
}

}  // namespace
}  // namespace pystrobe::testing
