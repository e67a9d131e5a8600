// libFuzzer target for LineTable: arbitrary bytes decoded in every format
// must give well-formed ranges (sorted, contiguous from 0, never empty, at
// most one per table byte) and lookups that agree with them.
//
// Input: byte 0 picks the format, bytes 1-4 the first line (little endian),
// bytes 5-8 a lookup offset; the rest is the table.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "pystrobe/python/line_table.h"

namespace {

// Not assert(): fuzz builds may define NDEBUG, and a broken invariant must
// still stop the fuzzer.
void Check(bool ok) {
  if (!ok) {
    __builtin_trap();
  }
}

int32_t ReadInt32(const uint8_t* data) {
  uint32_t value = 0;
  std::memcpy(&value, data, sizeof(value));
  return static_cast<int32_t>(value);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 9) {
    return 0;
  }
  using pystrobe::LineTable;
  using pystrobe::LineTableFormat;
  constexpr LineTableFormat kFormats[] = {
      LineTableFormat::kLnotab27, LineTableFormat::kLnotab36,
      LineTableFormat::kLinetable310, LineTableFormat::kLocations311};
  const LineTableFormat format = kFormats[data[0] % 4];
  const int32_t first_line = ReadInt32(data + 1);
  const int32_t probe = ReadInt32(data + 5);
  const std::string_view bytes(reinterpret_cast<const char*>(data + 9),
                               size - 9);

  const LineTable table = LineTable::Decode(format, bytes, first_line);
  const auto& ranges = table.ranges();
  Check(ranges.size() <= bytes.size());
  Check(table.first_line() == first_line);
  for (size_t i = 0; i < ranges.size(); ++i) {
    Check(ranges[i].start < ranges[i].end);
    Check(i == 0 ? ranges[i].start == 0
                 : ranges[i].start == ranges[i - 1].end &&
                       ranges[i].line != ranges[i - 1].line);
    Check(table.LineForOffset(ranges[i].start) == ranges[i].line);
    Check(table.LineForOffset(ranges[i].end - 1) == ranges[i].line);
  }
  Check(table.LineForOffset(-1) == first_line);
  Check(table.LineForOffset(INT32_MIN) == first_line);
  const int line = table.LineForOffset(probe);
  if (probe < 0) {
    Check(line == first_line);
  }
  // Past the last range only the format's fallback answers.
  const int past = table.LineForOffset(INT32_MAX);
  if (format == LineTableFormat::kLinetable310 ||
      format == LineTableFormat::kLocations311) {
    Check(past == -1);
  }
  return 0;
}
