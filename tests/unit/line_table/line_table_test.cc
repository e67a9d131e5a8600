// Hand-written line tables of every format, and a randomized differential
// test against a direct transcription of each interpreter's lookup loop.
#include "pystrobe/python/line_table.h"

#include <climits>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pystrobe {
namespace {

using ::testing::ElementsAre;
using ::testing::FieldsAre;

std::string Bytes(std::initializer_list<int> bytes) {
  std::string out;
  for (int b : bytes) {
    out.push_back(static_cast<char>(b));
  }
  return out;
}

constexpr int kOpen = INT32_MAX;  // end of co_lnotab's final range

// ---------------------------------------------------------------------------
// co_lnotab of 2.7: unsigned line increments, applied after the pair's bytes.

TEST(LineTableLnotab27, EmptyTableIsFirstLineEverywhere) {
  LineTable table = LineTable::Decode(LineTableFormat::kLnotab27, "", 7);
  EXPECT_TRUE(table.ranges().empty());
  EXPECT_EQ(table.LineForOffset(-1), 7);
  EXPECT_EQ(table.LineForOffset(0), 7);
  EXPECT_EQ(table.LineForOffset(1000), 7);
}

TEST(LineTableLnotab27, ChainedIncrementsAbove255) {
  // +1 after 3 bytes, then +255 and +2 at the same address (a jump of 257
  // lines is split into pairs whose address increment is 0), 4 more bytes.
  const std::string bytes = Bytes({3, 1, 0, 255, 4, 2});
  LineTable table = LineTable::Decode(LineTableFormat::kLnotab27, bytes, 10);
  EXPECT_THAT(table.ranges(),
              ElementsAre(FieldsAre(0, 3, 10), FieldsAre(3, 7, 266),
                          FieldsAre(7, kOpen, 268)));
  EXPECT_EQ(table.first_line(), 10);
  EXPECT_EQ(table.LineForOffset(-5), 10);
  EXPECT_EQ(table.LineForOffset(0), 10);
  EXPECT_EQ(table.LineForOffset(2), 10);
  EXPECT_EQ(table.LineForOffset(3), 266);
  EXPECT_EQ(table.LineForOffset(6), 266);
  EXPECT_EQ(table.LineForOffset(7), 268);
  EXPECT_EQ(table.LineForOffset(INT_MAX), 268);
}

TEST(LineTableLnotab27, LineIncrementsAreUnsignedAndOddByteIsIgnored) {
  const std::string bytes = Bytes({2, 200, 2, 128, 9});
  LineTable table = LineTable::Decode(LineTableFormat::kLnotab27, bytes, 1);
  EXPECT_EQ(table.LineForOffset(1), 1);
  EXPECT_EQ(table.LineForOffset(2), 201);
  EXPECT_EQ(table.LineForOffset(4), 329);
  EXPECT_EQ(table.LineForOffset(500), 329);
}

TEST(LineTableLnotab27, AddressIncrementsAbove255AreChained) {
  // 600 bytes on line 5, then line 6: (255, 0), (255, 0), (90, 1).
  const std::string bytes = Bytes({255, 0, 255, 0, 90, 1});
  LineTable table = LineTable::Decode(LineTableFormat::kLnotab27, bytes, 5);
  EXPECT_THAT(table.ranges(),
              ElementsAre(FieldsAre(0, 600, 5), FieldsAre(600, kOpen, 6)));
  EXPECT_EQ(table.LineForOffset(599), 5);
  EXPECT_EQ(table.LineForOffset(600), 6);
}

// ---------------------------------------------------------------------------
// co_lnotab of 3.6-3.9: the same, with signed line increments.

TEST(LineTableLnotab36, NegativeIncrements) {
  // 0x80 is -128 here (a real decrement, not "no line"), 0xff is -1.
  const std::string bytes = Bytes({2, 1, 4, 0x80, 2, 0xff});
  LineTable table = LineTable::Decode(LineTableFormat::kLnotab36, bytes, 300);
  EXPECT_THAT(table.ranges(),
              ElementsAre(FieldsAre(0, 2, 300), FieldsAre(2, 6, 301),
                          FieldsAre(6, 8, 173), FieldsAre(8, kOpen, 172)));
  EXPECT_EQ(table.LineForOffset(-2), 300);
  EXPECT_EQ(table.LineForOffset(1), 300);
  EXPECT_EQ(table.LineForOffset(5), 301);
  EXPECT_EQ(table.LineForOffset(6), 173);
  EXPECT_EQ(table.LineForOffset(8), 172);
  EXPECT_EQ(table.LineForOffset(10000), 172);
}

TEST(LineTableLnotab36, SameBytesDecodeUnsignedIn27) {
  const std::string bytes = Bytes({2, 0xff});
  EXPECT_EQ(
      LineTable::Decode(LineTableFormat::kLnotab36, bytes, 50).LineForOffset(2),
      49);
  EXPECT_EQ(
      LineTable::Decode(LineTableFormat::kLnotab27, bytes, 50).LineForOffset(2),
      305);
}

TEST(LineTableLnotab36, EqualNeighboursAreMerged) {
  // +1 then -1 at the same address: the line never changes where it counts,
  // so the whole table is one open range.
  const std::string bytes = Bytes({4, 1, 0, 0xff, 4, 0});
  LineTable table = LineTable::Decode(LineTableFormat::kLnotab36, bytes, 3);
  EXPECT_THAT(table.ranges(), ElementsAre(FieldsAre(0, kOpen, 3)));
  EXPECT_EQ(table.LineForOffset(4), 3);
  EXPECT_EQ(table.LineForOffset(9), 3);
}

// ---------------------------------------------------------------------------
// co_linetable of 3.10: the delta applies to its own range; -128 = no line.

TEST(LineTableLinetable310, NoLineEntriesKeepTheRunningLine) {
  const std::string bytes = Bytes({2, 0, 4, 0x80, 2, 3, 6, 0x80, 0, 1, 2, 0});
  LineTable table = LineTable::Decode(LineTableFormat::kLinetable310, bytes, 5);
  EXPECT_THAT(
      table.ranges(),
      ElementsAre(FieldsAre(0, 2, 5), FieldsAre(2, 6, -1), FieldsAre(6, 8, 8),
                  FieldsAre(8, 14, -1), FieldsAre(14, 16, 9)));
  EXPECT_EQ(table.LineForOffset(-1), 5);
  EXPECT_EQ(table.LineForOffset(0), 5);
  EXPECT_EQ(table.LineForOffset(2), -1);
  EXPECT_EQ(table.LineForOffset(7), 8);
  EXPECT_EQ(table.LineForOffset(13), -1);
  EXPECT_EQ(table.LineForOffset(14), 9);
  // Past the table the interpreter answers -1, not the last line.
  EXPECT_EQ(table.LineForOffset(16), -1);
  EXPECT_EQ(table.LineForOffset(INT_MAX), -1);
}

TEST(LineTableLinetable310, LongJumpsAndLongRanges) {
  // A jump of -300 lines (-127, -127, -46 with zero-length leading pairs)
  // and 300 bytes on one line (254 + 46, the second pair's delta 0).
  const std::string bytes = Bytes({0, 0x81, 0, 0x81, 254, 0xd2, 46, 0, 2, 1});
  LineTable table =
      LineTable::Decode(LineTableFormat::kLinetable310, bytes, 400);
  EXPECT_THAT(table.ranges(),
              ElementsAre(FieldsAre(0, 300, 100), FieldsAre(300, 302, 101)));
}

TEST(LineTableLinetable310, EmptyTableHasNoLines) {
  LineTable table = LineTable::Decode(LineTableFormat::kLinetable310, "", 3);
  EXPECT_EQ(table.LineForOffset(-1), 3);
  EXPECT_EQ(table.LineForOffset(0), -1);
}

// ---------------------------------------------------------------------------
// The 3.11+ location table.

TEST(LineTableLocations311, EveryEntryKind) {
  const std::string bytes = Bytes({
      0x80, 0x00,        // short form (code 0), 1 unit, +0
      0xd9, 0x04, 0x08,  // one-line form 1 (code 11), 2 units, +1
      0xf8,              // no location (code 15), 1 unit
      0xe8, 0x07,        // no columns (code 13), 1 unit, -3
      0xf7, 0x48, 0x03, 0x00, 0x01, 0x05,  // long (14), 8 units, +100
      0xe0, 0x01, 0x02,  // one-line form 2 (code 12), 1 unit, +2
      0xd0, 0x01, 0x02,  // one-line form 0 (code 10), 1 unit, +0
  });
  LineTable table =
      LineTable::Decode(LineTableFormat::kLocations311, bytes, 20);
  EXPECT_THAT(table.ranges(),
              ElementsAre(FieldsAre(0, 2, 20), FieldsAre(2, 6, 21),
                          FieldsAre(6, 8, -1), FieldsAre(8, 10, 18),
                          FieldsAre(10, 26, 118), FieldsAre(26, 30, 120)));
  EXPECT_EQ(table.LineForOffset(-1), 20);
  EXPECT_EQ(table.LineForOffset(INT_MIN), 20);
  EXPECT_EQ(table.LineForOffset(1), 20);
  EXPECT_EQ(table.LineForOffset(5), 21);
  EXPECT_EQ(table.LineForOffset(6), -1);
  EXPECT_EQ(table.LineForOffset(8), 18);
  EXPECT_EQ(table.LineForOffset(25), 118);
  EXPECT_EQ(table.LineForOffset(29), 120);
  EXPECT_EQ(table.LineForOffset(30), -1);
}

TEST(LineTableLocations311, SurplusPayloadBytesAreSkippedLikeCPython) {
  // CPython finds the next entry at the next byte with bit 7 set, whatever
  // the entry's own payload length.
  const std::string bytes = Bytes({0x80, 0x00, 0x11, 0x22, 0xd8, 0x00, 0x00});
  LineTable table = LineTable::Decode(LineTableFormat::kLocations311, bytes, 1);
  EXPECT_THAT(table.ranges(),
              ElementsAre(FieldsAre(0, 2, 1), FieldsAre(2, 4, 2)));
}

TEST(LineTableLocations311, MalformedEntriesEndDecoding) {
  // Not an entry start: nothing decodes.
  EXPECT_TRUE(LineTable::Decode(LineTableFormat::kLocations311,
                                Bytes({0x10, 0x80, 0x00}), 1)
                  .ranges()
                  .empty());
  // A varint that runs off the end: the entries before it stay.
  LineTable truncated = LineTable::Decode(LineTableFormat::kLocations311,
                                          Bytes({0x80, 0x00, 0xe8, 0x41}), 4);
  EXPECT_THAT(truncated.ranges(), ElementsAre(FieldsAre(0, 2, 4)));
  EXPECT_EQ(truncated.LineForOffset(2), -1);
  // A varint longer than 32 bits.
  LineTable too_long = LineTable::Decode(
      LineTableFormat::kLocations311,
      Bytes({0x80, 0x00, 0xe8, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x01}), 4);
  EXPECT_THAT(too_long.ranges(), ElementsAre(FieldsAre(0, 2, 4)));
}

TEST(LineTableLocations311, LineOverflowEndsDecoding) {
  // +2^30 from a first line near INT_MAX would overflow int.
  const std::string bytes =
      Bytes({0xe8, 0x40, 0x40, 0x40, 0x40, 0x40, 0x02, 0xe8, 0x00});
  LineTable table =
      LineTable::Decode(LineTableFormat::kLocations311, bytes, INT32_MAX - 10);
  EXPECT_TRUE(table.ranges().empty());
  EXPECT_EQ(table.LineForOffset(0), -1);
  EXPECT_EQ(table.LineForOffset(-1), INT32_MAX - 10);
}

// ---------------------------------------------------------------------------
// Randomized: decode random bytes in every format and compare every lookup
// with a per-query transcription of the interpreter's loop, which shares no
// code with the range decoder and binary search.

int ReferenceLnotab(std::string_view t, int first_line, bool is_signed,
                    int offset) {
  if (offset < 0) {
    return first_line;
  }
  int64_t line = first_line;
  int64_t addr = 0;
  for (size_t i = 0; i + 1 < t.size(); i += 2) {
    addr += static_cast<uint8_t>(t[i]);
    if (addr > offset) {
      break;
    }
    const auto b = static_cast<uint8_t>(t[i + 1]);
    line += is_signed ? static_cast<int8_t>(b) : b;
  }
  return static_cast<int>(line);
}

int ReferenceLinetable310(std::string_view t, int first_line, int offset) {
  if (offset < 0) {
    return first_line;
  }
  int64_t line = first_line;
  int64_t end = 0;
  for (size_t i = 0; i + 1 < t.size(); i += 2) {
    const int64_t start = end;
    end += static_cast<uint8_t>(t[i]);
    const auto delta = static_cast<int8_t>(t[i + 1]);
    if (delta != -128) {
      line += delta;
    }
    if (offset >= start && offset < end) {
      return delta == -128 ? -1 : static_cast<int>(line);
    }
  }
  return -1;
}

int ReferenceLocations311(std::string_view t, int first_line, int offset) {
  if (offset < 0) {
    return first_line;
  }
  int64_t line = first_line;
  int64_t end = 0;
  size_t pos = 0;
  while (pos < t.size()) {
    const auto b = static_cast<uint8_t>(t[pos]);
    if (!(b & 0x80)) {
      return -1;
    }
    const int code = (b >> 3) & 15;
    if (code == 13 || code == 14) {
      uint32_t value = 0;
      size_t p = pos + 1;
      int chunks = 0;
      while (true) {
        if (p >= t.size() || chunks == 6) {
          return -1;
        }
        const auto c = static_cast<uint8_t>(t[p++]);
        value |= static_cast<uint32_t>(c & 63) << (6 * chunks++);
        if (!(c & 64)) {
          break;
        }
      }
      line += (value & 1) ? -static_cast<int64_t>(value >> 1)
                          : static_cast<int64_t>(value >> 1);
      // Where the interpreter's int would overflow, the table is malformed.
      if (line > INT32_MAX || line < INT32_MIN) {
        return -1;
      }
    } else if (code >= 10 && code <= 12) {
      line += code - 10;
    }
    const int64_t start = end;
    end += int64_t{2} * ((b & 7) + 1);
    if (offset >= start && offset < end) {
      return code == 15 ? -1 : static_cast<int>(line);
    }
    do {
      ++pos;
    } while (pos < t.size() && !(static_cast<uint8_t>(t[pos]) & 0x80));
  }
  return -1;
}

int Reference(LineTableFormat format, std::string_view t, int first_line,
              int offset) {
  switch (format) {
    case LineTableFormat::kLnotab27:
      return ReferenceLnotab(t, first_line, false, offset);
    case LineTableFormat::kLnotab36:
      return ReferenceLnotab(t, first_line, true, offset);
    case LineTableFormat::kLinetable310:
      return ReferenceLinetable310(t, first_line, offset);
    case LineTableFormat::kLocations311:
      return ReferenceLocations311(t, first_line, offset);
  }
  return 0;
}

void ExpectWellFormed(const LineTable& table, size_t table_size) {
  const auto& ranges = table.ranges();
  ASSERT_LE(ranges.size(), table_size);
  for (size_t i = 0; i < ranges.size(); ++i) {
    ASSERT_LT(ranges[i].start, ranges[i].end) << "range " << i;
    if (i == 0) {
      ASSERT_EQ(ranges[i].start, 0);
    } else {
      ASSERT_EQ(ranges[i].start, ranges[i - 1].end) << "range " << i;
      ASSERT_NE(ranges[i].line, ranges[i - 1].line) << "range " << i;
    }
    ASSERT_EQ(table.LineForOffset(ranges[i].start), ranges[i].line);
    ASSERT_EQ(table.LineForOffset(ranges[i].end - 1), ranges[i].line);
  }
}

TEST(LineTableRandomized, GarbageDecodesSafelyAndMatchesReference) {
  std::mt19937 rng(20240611);
  auto uniform = [&rng](int lo, int hi) {
    return std::uniform_int_distribution<int>(lo, hi)(rng);
  };
  constexpr LineTableFormat kFormats[] = {
      LineTableFormat::kLnotab27, LineTableFormat::kLnotab36,
      LineTableFormat::kLinetable310, LineTableFormat::kLocations311};
  int64_t lookups = 0;
  int64_t nonempty = 0;
  for (int iteration = 0; iteration < 20000; ++iteration) {
    const int size = uniform(0, 9) == 0 ? uniform(0, 700) : uniform(0, 40);
    // Half the inputs lean towards plausible tables: entry starts with bit
    // 7 set followed by small payload bytes, so decoding gets deep before
    // it meets garbage.
    const bool plausible = uniform(0, 1) == 1;
    std::string bytes(size, '\0');
    for (char& c : bytes) {
      int b = uniform(0, 255);
      if (plausible) {
        b = uniform(0, 2) == 0 ? (b | 0x80) : (b & 0x4f);
      }
      c = static_cast<char>(b);
    }
    const bool extreme = uniform(0, 19) == 0;
    const int first_line = extreme
                               ? (uniform(0, 1) ? INT32_MAX - uniform(0, 300)
                                                : INT32_MIN + uniform(0, 300))
                               : uniform(-1000, 100000);
    for (LineTableFormat format : kFormats) {
      SCOPED_TRACE(::testing::Message()
                   << "iteration " << iteration << " format "
                   << static_cast<int>(format) << " size " << size);
      LineTable table = LineTable::Decode(format, bytes, first_line);
      ASSERT_NO_FATAL_FAILURE(ExpectWellFormed(table, bytes.size()));
      if (!table.ranges().empty()) {
        ++nonempty;
      }
      EXPECT_EQ(table.first_line(), first_line);
      EXPECT_EQ(table.LineForOffset(-1), first_line);
      EXPECT_EQ(table.LineForOffset(INT_MIN), first_line);
      if (extreme) {
        // The interpreter's int arithmetic overflows here; only safety
        // is checked.
        table.LineForOffset(INT_MAX);
        table.LineForOffset(uniform(0, 8 * size + 16));
        continue;
      }
      for (int k = 0; k < 8; ++k) {
        const int offset = k == 0 ? INT_MAX : uniform(-4, 16 * size + 16);
        ++lookups;
        ASSERT_EQ(table.LineForOffset(offset),
                  Reference(format, bytes, first_line, offset))
            << "offset " << offset;
      }
    }
  }
  // The generator must actually produce tables that decode to something.
  EXPECT_GT(nonempty, 20000);
  EXPECT_GT(lookups, 500000);
}

}  // namespace
}  // namespace pystrobe
