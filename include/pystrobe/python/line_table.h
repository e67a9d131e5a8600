// Line numbers from a code object's line table, for every format CPython has
// used:
//   - kLnotab27:    co_lnotab of 2.7 (unsigned line increments)
//   - kLnotab36:    co_lnotab of 3.6-3.9 (signed line increments)
//   - kLinetable310: co_linetable of 3.10 (start deltas, signed line deltas,
//                    -128 = no line)
//   - kLocations311: the location table of 3.11+ (varint-coded entries)
//
// A table is decoded once into sorted address ranges and then answers
// lookups by binary search, so a cached code object costs no decoding:
//
//   LineTable table = LineTable::Decode(LineTableFormat::kLocations311,
//                                       linetable_bytes, co_firstlineno);
//   int line = table.LineForOffset(2 * instruction_index);
//
// Garbage input never crashes: decoding stops at the first malformed entry
// and is bounded by the table's length.
#ifndef PYSTROBE_PYTHON_LINE_TABLE_H_
#define PYSTROBE_PYTHON_LINE_TABLE_H_

#include <cstdint>
#include <string_view>
#include <vector>

namespace pystrobe {

enum class LineTableFormat {
  kLnotab27,
  kLnotab36,
  kLinetable310,
  kLocations311
};

class LineTable {
 public:
  // Ranges are sorted, contiguous from offset 0 and never empty; neighbours
  // have different lines. For co_lnotab the last range is open-ended (its
  // end is INT32_MAX): the interpreter keeps the final line for any offset.
  struct Range {
    int32_t start;  // byte offset into the bytecode, inclusive
    int32_t end;    // exclusive
    int32_t line;   // -1: no line (3.10+)
  };

  LineTable() = default;

  // Decodes `table` (co_lnotab for kLnotab*, co_linetable otherwise) once.
  // Never fails: a malformed entry ends the decoding, and what was decoded
  // before it stays usable. Holds at most one range per table byte.
  static LineTable Decode(LineTableFormat format, std::string_view table,
                          int first_line);

  // The line of the instruction at byte offset `offset` into the bytecode,
  // as the interpreter itself computes it (PyCode_Addr2Line). -1 when the
  // instruction has no line. Offsets before 0 give the first line (a frame
  // that has not started yet). Offsets past the table: the final line for
  // co_lnotab, -1 for the 3.10+ formats, again as the interpreter answers.
  // O(log ranges), no allocation.
  int LineForOffset(int offset) const;

  int first_line() const { return first_line_; }
  const std::vector<Range>& ranges() const { return ranges_; }

 private:
  LineTableFormat format_ = LineTableFormat::kLnotab36;
  int first_line_ = 0;
  std::vector<Range> ranges_;
};

}  // namespace pystrobe

#endif  // PYSTROBE_PYTHON_LINE_TABLE_H_
