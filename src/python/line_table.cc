#include "pystrobe/python/line_table.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <limits>
#include <string_view>
#include <vector>

namespace pystrobe {
namespace {

constexpr int64_t kMaxInt32 = std::numeric_limits<int32_t>::max();
constexpr int64_t kMinInt32 = std::numeric_limits<int32_t>::min();

bool FitsInt32(int64_t v) { return v >= kMinInt32 && v <= kMaxInt32; }

// Collects ranges in address order. Empty ranges are dropped and a range
// that continues its predecessor's line is merged into it, so the result
// never holds more ranges than the table has entries.
class RangeBuilder {
 public:
  explicit RangeBuilder(std::vector<LineTable::Range>* out) : out_(out) {}

  void Add(int64_t start, int64_t end, int64_t line) {
    if (end <= start) {
      return;
    }
    if (!out_->empty() && out_->back().end == start &&
        out_->back().line == line) {
      out_->back().end = static_cast<int32_t>(end);
      return;
    }
    out_->push_back(LineTable::Range{static_cast<int32_t>(start),
                                     static_cast<int32_t>(end),
                                     static_cast<int32_t>(line)});
  }

 private:
  std::vector<LineTable::Range>* out_;
};

// co_lnotab (2.7, 3.6-3.9): pairs (address increment, line increment); a
// pair's line increment applies from the pair's end address on. This mirrors
// PyCode_Addr2Line of those versions, which stops at the first pair whose
// end address lies past the queried offset and ignores a trailing odd byte.
void DecodeLnotab(std::string_view table, int first_line, bool signed_lines,
                  std::vector<LineTable::Range>* out) {
  RangeBuilder builder(out);
  const size_t pairs = table.size() / 2;
  int64_t addr = 0;
  int64_t line = first_line;
  for (size_t i = 0; i < pairs; ++i) {
    const auto addr_incr = static_cast<uint8_t>(table[2 * i]);
    const auto line_byte = static_cast<uint8_t>(table[2 * i + 1]);
    const int64_t line_incr =
        signed_lines ? static_cast<int8_t>(line_byte) : line_byte;
    const int64_t next_addr = addr + addr_incr;
    const int64_t next_line = line + line_incr;
    // Beyond int32 the interpreter's own int arithmetic has overflowed;
    // such a table is garbage.
    if (next_addr > kMaxInt32 || !FitsInt32(next_line)) {
      break;
    }
    builder.Add(addr, next_addr, line);
    addr = next_addr;
    line = next_line;
  }
  // Every offset past the last pair keeps the final line, as in
  // PyCode_Addr2Line. With no pairs at all the lookup falls back to
  // first_line, which keeps an empty table at zero ranges.
  if (pairs > 0) {
    builder.Add(addr, kMaxInt32, line);
  }
}

// co_linetable of 3.10: pairs (unsigned byte length, signed line delta);
// unlike co_lnotab the delta applies to the pair's own range, and -128 marks
// a range without a line that leaves the running line alone.
void DecodeLinetable310(std::string_view table, int first_line,
                        std::vector<LineTable::Range>* out) {
  RangeBuilder builder(out);
  const size_t pairs = table.size() / 2;
  int64_t addr = 0;
  int64_t line = first_line;
  for (size_t i = 0; i < pairs; ++i) {
    const auto length = static_cast<uint8_t>(table[2 * i]);
    const auto delta = static_cast<int8_t>(table[2 * i + 1]);
    int64_t range_line = -1;
    if (delta != -128) {
      line += delta;
      if (!FitsInt32(line)) {
        break;
      }
      range_line = line;
    }
    const int64_t next_addr = addr + length;
    if (next_addr > kMaxInt32) {
      break;
    }
    builder.Add(addr, next_addr, range_line);
    addr = next_addr;
  }
}

// Location entry codes of 3.11+ (PyCodeLocationInfoKind).
constexpr int kCodeOneLine0 = 10;
constexpr int kCodeOneLine2 = 12;
constexpr int kCodeNoColumns = 13;
constexpr int kCodeLong = 14;
constexpr int kCodeNone = 15;

// A 3.11 varint: 6-bit chunks, least significant first, bit 6 = more. Wraps
// in 32 bits like CPython's unsigned arithmetic; fails when it runs off the
// table or needs more chunks than a 32-bit value holds (CPython would shift
// out of range there).
bool ReadVarint(std::string_view table, size_t* pos, uint32_t* value) {
  uint32_t result = 0;
  for (int shift = 0; shift < 32; shift += 6) {
    if (*pos >= table.size()) {
      return false;
    }
    const auto byte = static_cast<uint8_t>(table[(*pos)++]);
    result |= static_cast<uint32_t>(byte & 63) << shift;
    if ((byte & 64) == 0) {
      *value = result;
      return true;
    }
  }
  return false;
}

// The location table of 3.11-3.13 (Objects/locations.md). Only the line
// matters here: columns are skipped. The next entry starts at the next byte
// with bit 7 set, exactly as CPython's advance() finds it, so a table with
// surplus payload bytes decodes the same way the interpreter reads it.
void DecodeLocations311(std::string_view table, int first_line,
                        std::vector<LineTable::Range>* out) {
  RangeBuilder builder(out);
  int64_t addr = 0;
  int64_t line = first_line;
  size_t pos = 0;
  while (pos < table.size()) {
    const auto first = static_cast<uint8_t>(table[pos]);
    if ((first & 128) == 0) {
      break;  // not an entry start: malformed
    }
    const int code = (first >> 3) & 15;
    const int length = 2 * ((first & 7) + 1);  // code units are 2 bytes
    int64_t delta = 0;
    if (code == kCodeLong || code == kCodeNoColumns) {
      size_t varint_pos = pos + 1;
      uint32_t raw = 0;
      if (!ReadVarint(table, &varint_pos, &raw)) {
        break;
      }
      delta = (raw & 1) ? -static_cast<int64_t>(raw >> 1)
                        : static_cast<int64_t>(raw >> 1);
    } else if (code >= kCodeOneLine0 && code <= kCodeOneLine2) {
      delta = code - kCodeOneLine0;
    }
    line += delta;
    const int64_t next_addr = addr + length;
    if (!FitsInt32(line) || next_addr > kMaxInt32) {
      break;
    }
    builder.Add(addr, next_addr, code == kCodeNone ? -1 : line);
    addr = next_addr;
    do {
      ++pos;
    } while (pos < table.size() &&
             (static_cast<uint8_t>(table[pos]) & 128) == 0);
  }
}

}  // namespace

LineTable LineTable::Decode(LineTableFormat format, std::string_view table,
                            int first_line) {
  LineTable result;
  result.format_ = format;
  result.first_line_ = first_line;
  switch (format) {
    case LineTableFormat::kLnotab27:
      DecodeLnotab(table, first_line, /*signed_lines=*/false, &result.ranges_);
      break;
    case LineTableFormat::kLnotab36:
      DecodeLnotab(table, first_line, /*signed_lines=*/true, &result.ranges_);
      break;
    case LineTableFormat::kLinetable310:
      DecodeLinetable310(table, first_line, &result.ranges_);
      break;
    case LineTableFormat::kLocations311:
      DecodeLocations311(table, first_line, &result.ranges_);
      break;
  }
  result.ranges_.shrink_to_fit();
  return result;
}

int LineTable::LineForOffset(int offset) const {
  if (offset < 0) {
    return first_line_;
  }
  // The first range whose start is past the offset; the one before it is
  // the candidate. Ranges are contiguous from 0, so only offsets past the
  // last range (or an empty table) miss.
  auto it = std::upper_bound(
      ranges_.begin(), ranges_.end(), offset,
      [](int value, const Range& range) { return value < range.start; });
  if (it != ranges_.begin() && offset < std::prev(it)->end) {
    return std::prev(it)->line;
  }
  // Past the end: co_lnotab keeps its running line (the lnotab decoder ends
  // with a range open to INT32_MAX), the 3.10+ formats answer -1 like
  // _PyCode_CheckLineNumber.
  switch (format_) {
    case LineTableFormat::kLnotab27:
    case LineTableFormat::kLnotab36:
      return ranges_.empty() ? first_line_ : ranges_.back().line;
    case LineTableFormat::kLinetable310:
    case LineTableFormat::kLocations311:
      return -1;
  }
  return -1;
}

}  // namespace pystrobe
