// A fake CPython address space for tests and fuzzers: thread states, frame
// chains, code objects, strings and line tables laid out by hand in a
// FakeMemory, following CPython's own representation for one version.
//
// Offsets come from the generated layout table (FindLayout), which the
// generator took from CPython's headers; everything else (which bits of
// PyASCIIObject.state mean what, how f_lasti counts, where the bytecode of a
// 3.11+ code object lives, frame owners) is written here from CPython's
// documented layout, independently of pystrobe's readers.
//
//   FakePython py(PythonVersion{3, 12, 1});
//   uint64_t code = py.Code({.name = "f", .filename = "/app/f.py",
//                            .first_line = 3, .line_table = ...});
//   FakeStack stack = py.Stack({{code, /*lasti=*/2}});
//   std::unique_ptr<FakeMemory> memory = py.Memory();
//
// Misuse of the builder (a field the version lacks) aborts: it is a bug in
// the test, not in the code under test. No gtest dependency, so fuzzers can
// use it.
#ifndef PYSTROBE_TESTS_UNIT_PYTHON_FAKE_PYTHON_H_
#define PYSTROBE_TESTS_UNIT_PYTHON_FAKE_PYTHON_H_

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pystrobe/process/remote_memory.h"
#include "pystrobe/python/layout.h"
#include "pystrobe/python/version.h"

namespace pystrobe::testing {

// The six versions the fake process is laid out for.
std::vector<PythonVersion> FakeVersions();

// How a 3.x str object is represented (PEP 393).
enum class StrRepr {
  kAuto,     // compact; ASCII when every code point is < 128
  kCompact,  // compact, never flagged ASCII (PyCompactUnicodeObject)
  kLegacy,   // PyUnicodeObject with its data behind data.any
};

struct FakeCode {
  std::string name;      // UTF-8
  std::string qualname;  // 3.11+; empty: same as name
  std::string filename;  // UTF-8
  int first_line = 1;
  // Raw co_lnotab (<= 3.9) or co_linetable (3.10+) bytes.
  std::string line_table;
  // Length of the bytecode in code units (ob_size of a 3.11+ code object).
  int code_units = 16;
  int first_traceable = 0;  // _co_firsttraceable (3.11+), in code units
};

struct FakeFrame {
  uint64_t code = 0;  // f_code / f_executable
  // The value CPython itself keeps: f_lasti (<= 3.9 in bytes, 3.10 in code
  // units) or, for 3.11+, _PyInterpreterFrame_LASTI (the current instruction
  // index in code units: prev_instr/instr_ptr == _PyCode_CODE(co) + lasti).
  int lasti = 0;
  uint8_t owner = 0;  // _PyInterpreterFrame.owner (3.11+)
};

struct FakeStack {
  uint64_t tstate = 0;
  std::vector<uint64_t> frames;  // innermost first, as passed to Stack()
  // 3.12-3.14: the entry frame Stack() put below them (0: none).
  uint64_t entry = 0;
};

// How Stack() ends a chain of interpreter frames.
enum class ChainEnd {
  // As CPython does: 3.12-3.14 add an entry frame (owner 3) below the
  // outermost frame unless it is one; 3.11 flags the outermost is_entry.
  // (3.15's base_frame is the test's to set.)
  kAsCPython,
  // The frames as given, the last one's `previous` NULL: a chain cut while
  // read.
  kCut,
};

class FakePython {
 public:
  // Type objects are never read by the walker, only compared by address.
  static constexpr uint64_t kCodeType = 0x7f00'0000'1000;
  static constexpr uint64_t kFrameType = 0x7f00'0000'2000;
  static constexpr uint64_t kStrType = 0x7f00'0000'3000;
  static constexpr uint64_t kBytesType = 0x7f00'0000'4000;
  static constexpr uint64_t kNoneType = 0x7f00'0000'5000;
  static constexpr uint64_t kBase = 0x5550'0000'0000;

  // Aborts if the version has no generated layout.
  explicit FakePython(const PythonVersion& version);

  const PythonVersion& version() const { return version_; }
  const Layout& layout() const { return layout_; }
  // For builds the table does not have (a UCS2 2.7: kSizeofPyUnicode 2).
  void OverrideLayout(Field field, int32_t value) { layout_.Set(field, value); }

  // Zero-filled, 16-byte aligned memory in the arena.
  uint64_t Alloc(size_t size);
  template <typename T>
  void Write(uint64_t address, T value) {
    CheckRange(address, sizeof(T));
    std::memcpy(&arena_[address - kBase], &value, sizeof(T));
  }
  void WriteBytes(uint64_t address, std::string_view bytes);
  // Writes `value` at `object` + the layout's offset of `field`.
  template <typename T>
  void WriteField(uint64_t object, Field field, T value) {
    Write<T>(object + FieldOffset(field), value);
  }
  int32_t FieldOffset(Field field) const;

  // A str from UTF-8 text: 2.7 PyStringObject (the UTF-8 bytes), 3.x PEP 393
  // object with the narrowest kind that holds every code point.
  uint64_t Str(std::string_view utf8, StrRepr repr = StrRepr::kAuto);
  // A 3.x str from code points, with `kind` (1, 2, 4; 0: narrowest).
  uint64_t StrCodePoints(std::u32string_view code_points,
                         StrRepr repr = StrRepr::kAuto, int kind = 0);
  // A 3.x str object with an arbitrary header, for malformed strings: data
  // follows the header for a compact state, else is behind data.any.
  uint64_t RawUnicode(int64_t length, uint32_t state, std::string_view data);
  // A 2.7 unicode object of Py_UNICODE units of the layout's width: each
  // element of `units` is one unit (a narrow build's caller passes UTF-16).
  uint64_t Py2Unicode(std::u32string_view units);
  // A bytes object (2.7: str).
  uint64_t Bytes(std::string_view bytes);
  // A code object whose ob_type is kCodeType.
  uint64_t Code(const FakeCode& code);
  // An object of type kNoneType (a non-code f_executable on 3.13).
  uint64_t NoneObject();

  // Frames linked innermost first (f_back / previous), each its own
  // allocation, ended as `end` says, and a thread state whose frame
  // (<= 3.10), cframe -> current_frame (3.11, 3.12) or current_frame
  // (3.13+) is the first.
  FakeStack Stack(const std::vector<FakeFrame>& frames,
                  ChainEnd end = ChainEnd::kAsCPython);

  // PEP 393 state word: interned:2, kind:3, compact:1, ascii:1, then
  // ready:1 (<= 3.11) / statically_allocated:1 (3.12+).
  uint32_t UnicodeState(int kind, bool compact, bool ascii) const;

  // A fresh FakeMemory holding the arena as one range.
  std::unique_ptr<FakeMemory> Memory() const;
  std::string& arena() { return arena_; }
  const std::string& arena() const { return arena_; }

 private:
  void CheckRange(uint64_t address, size_t size) const;

  PythonVersion version_;
  Layout layout_;
  std::string arena_;
};

// The PEP 393 narrowest kind for `code_points` (1, 2 or 4).
int NarrowestKind(std::u32string_view code_points);
// UTF-8 to code points (the input must be valid UTF-8).
std::u32string DecodeUtf8(std::string_view utf8);

// Hand encoders for each line-table format. Each entry gives a range length
// and a line delta; the encoders write CPython's documented bytes.
struct LineEntry {
  int length;            // bytes (lnotab, 3.10) or code units (3.11+)
  int delta;             // line increment
  bool no_line = false;  // 3.10 (-128) and 3.11+ (code 15) only
};
// co_lnotab pairs (address increment, line increment); increments must fit
// a byte each (unsigned for 2.7, signed for 3.6-3.9).
std::string EncodeLnotab(const std::vector<LineEntry>& entries);
// co_linetable of 3.10: (length, delta or -128).
std::string EncodeLinetable310(const std::vector<LineEntry>& entries);
// 3.11+ location table with "no column" entries (code 13, svarint delta),
// or code 15 for no_line; lengths of 1-8 code units.
std::string EncodeLocations311(const std::vector<LineEntry>& entries);

// The line CPython gives for byte offset `offset` of a table of `entries`,
// transcribed from each version's PyCode_Addr2Line (<= 3.9), the 3.10
// linetable notes, and the 3.11 locations notes. -1: no line.
int ExpectedLine(const PythonVersion& version,
                 const std::vector<LineEntry>& entries, int first_line,
                 int offset);
// The table bytes for `version`'s format.
std::string EncodeLineTable(const PythonVersion& version,
                            const std::vector<LineEntry>& entries);
// The byte offset of the current instruction for a frame's lasti.
int LastiToByteOffset(const PythonVersion& version, int lasti);

}  // namespace pystrobe::testing

#endif  // PYSTROBE_TESTS_UNIT_PYTHON_FAKE_PYTHON_H_
