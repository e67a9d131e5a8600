#include "fake_python.h"

#include <cstdio>
#include <cstdlib>

#include "pystrobe/python/layout.h"

namespace pystrobe::testing {
namespace {

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "FakePython misuse: %s\n", what);
  std::abort();
}

// _PyInterpreterFrame.owner of a frame the C stack owns (3.12+).
constexpr uint8_t kOwnedByCStack = 3;

void AppendVarint(uint32_t value, std::string& out) {
  // 6-bit chunks, least significant first, bit 6: another chunk follows.
  while (value >= 64) {
    out.push_back(static_cast<char>(0x40 | (value & 63)));
    value >>= 6;
  }
  out.push_back(static_cast<char>(value));
}

void AppendSignedVarint(int value, std::string& out) {
  uint32_t v = value < 0 ? (static_cast<uint32_t>(-value) << 1) | 1u
                         : static_cast<uint32_t>(value) << 1;
  AppendVarint(v, out);
}

}  // namespace

std::vector<PythonVersion> FakeVersions() {
  return {PythonVersion{2, 7, 18, false},  PythonVersion{3, 8, 18, false},
          PythonVersion{3, 10, 13, false}, PythonVersion{3, 11, 7, false},
          PythonVersion{3, 12, 1, false},  PythonVersion{3, 13, 0, false}};
}

FakePython::FakePython(const PythonVersion& version) : version_(version) {
  const LayoutEntry* entry = FindLayout(version);
  if (entry == nullptr) Die("no layout for this version");
  layout_ = entry->layout;
  arena_.reserve(1 << 16);
}

uint64_t FakePython::Alloc(size_t size) {
  size_t offset = (arena_.size() + 15) & ~size_t{15};
  arena_.resize(offset + size, '\0');
  return kBase + offset;
}

void FakePython::CheckRange(uint64_t address, size_t size) const {
  if (address < kBase || address - kBase + size > arena_.size()) {
    Die("write outside the arena");
  }
}

void FakePython::WriteBytes(uint64_t address, std::string_view bytes) {
  CheckRange(address, bytes.size());
  if (!bytes.empty()) {
    std::memcpy(&arena_[address - kBase], bytes.data(), bytes.size());
  }
}

int32_t FakePython::FieldOffset(Field field) const {
  std::optional<int32_t> offset = layout_.Offset(field);
  if (!offset) Die(std::string(FieldName(field)).c_str());
  return *offset;
}

uint32_t FakePython::UnicodeState(int kind, bool compact, bool ascii) const {
  uint32_t state = static_cast<uint32_t>(kind & 7) << 2;
  if (compact) state |= 1u << 5;
  if (ascii) state |= 1u << 6;
  // <= 3.11: the ready bit; every string a running program has is ready.
  if (!version_.AtLeast(3, 12)) state |= 1u << 7;
  return state;
}

int NarrowestKind(std::u32string_view code_points) {
  char32_t max = 0;
  for (char32_t c : code_points) max = c > max ? c : max;
  if (max < 0x100) return 1;
  if (max < 0x10000) return 2;
  return 4;
}

std::u32string DecodeUtf8(std::string_view utf8) {
  std::u32string out;
  for (size_t i = 0; i < utf8.size();) {
    const auto b = static_cast<unsigned char>(utf8[i]);
    int extra = b < 0x80 ? 0 : b < 0xE0 ? 1 : b < 0xF0 ? 2 : 3;
    char32_t cp = extra == 0   ? b
                  : extra == 1 ? (b & 0x1F)
                  : extra == 2 ? (b & 0x0F)
                               : (b & 0x07);
    if (i + extra >= utf8.size()) Die("truncated UTF-8");
    for (int k = 1; k <= extra; ++k) {
      cp = (cp << 6) | (static_cast<unsigned char>(utf8[i + k]) & 0x3F);
    }
    out.push_back(cp);
    i += 1 + extra;
  }
  return out;
}

uint64_t FakePython::Str(std::string_view utf8, StrRepr repr) {
  if (version_.major == 2) return Bytes(utf8);
  return StrCodePoints(DecodeUtf8(utf8), repr);
}

uint64_t FakePython::RawUnicode(int64_t length, uint32_t state,
                                std::string_view data) {
  const bool compact = (state >> 5) & 1;
  const bool ascii = (state >> 6) & 1;
  uint64_t header_size;
  if (compact) {
    header_size = FieldOffset(ascii ? Field::kSizeofAsciiObject
                                    : Field::kSizeofCompactUnicode);
  } else {
    // PyUnicodeObject: the compact header plus data.any.
    header_size = FieldOffset(Field::kUnicodeDataAny) + 8;
  }
  // The data (and its terminating NUL) follow a compact header.
  uint64_t object = Alloc(header_size + (compact ? data.size() + 4 : 0));
  Write<int64_t>(object, 1);  // ob_refcnt
  WriteField<uint64_t>(object, Field::kObType, kStrType);
  WriteField<int64_t>(object, Field::kUnicodeLength, length);
  Write<int64_t>(object + FieldOffset(Field::kUnicodeLength) + 8,
                 -1);  // hash: not yet computed
  WriteField<uint32_t>(object, Field::kUnicodeState, state);
  if (compact) {
    WriteBytes(object + header_size, data);
  } else {
    uint64_t buffer = Alloc(data.size() + 4);
    WriteBytes(buffer, data);
    WriteField<uint64_t>(object, Field::kUnicodeDataAny, buffer);
  }
  return object;
}

uint64_t FakePython::StrCodePoints(std::u32string_view code_points,
                                   StrRepr repr, int kind) {
  if (version_.major == 2) Die("3.x str on 2.7");
  if (kind == 0) kind = NarrowestKind(code_points);
  bool ascii = kind == 1 && repr != StrRepr::kCompact;
  for (char32_t c : code_points) ascii = ascii && c < 0x80;
  std::string data;
  for (char32_t c : code_points) {
    const auto v = static_cast<uint32_t>(c);
    data.append(reinterpret_cast<const char*>(&v), static_cast<size_t>(kind));
  }
  return RawUnicode(static_cast<int64_t>(code_points.size()),
                    UnicodeState(kind, repr != StrRepr::kLegacy, ascii), data);
}

uint64_t FakePython::Py2Unicode(std::u32string_view code_points) {
  if (version_.major != 2) Die("2.7 unicode on 3.x");
  const int unit = FieldOffset(Field::kSizeofPyUnicode);
  std::string data;
  for (char32_t c : code_points) {
    const auto v = static_cast<uint32_t>(c);
    data.append(reinterpret_cast<const char*>(&v), static_cast<size_t>(unit));
  }
  // PyUnicodeObject: ob_refcnt, ob_type, length, str, hash, defenc.
  uint64_t object = Alloc(48);
  uint64_t buffer = Alloc(data.size() + static_cast<size_t>(unit));
  WriteBytes(buffer, data);
  Write<int64_t>(object, 1);
  WriteField<uint64_t>(object, Field::kObType, kStrType);
  WriteField<int64_t>(object, Field::kUnicodeLength,
                      static_cast<int64_t>(code_points.size()));
  WriteField<uint64_t>(object, Field::kUnicodeStr, buffer);
  return object;
}

uint64_t FakePython::Bytes(std::string_view bytes) {
  const int32_t sval = FieldOffset(Field::kBytesSval);
  uint64_t object = Alloc(static_cast<size_t>(sval) + bytes.size() + 1);
  Write<int64_t>(object, 1);
  WriteField<uint64_t>(object, Field::kObType, kBytesType);
  WriteField<int64_t>(object, Field::kVarObSize,
                      static_cast<int64_t>(bytes.size()));
  Write<int64_t>(object + FieldOffset(Field::kVarObSize) + 8, -1);  // hash
  WriteBytes(object + static_cast<uint64_t>(sval), bytes);
  return object;
}

uint64_t FakePython::NoneObject() {
  uint64_t object = Alloc(16);
  Write<int64_t>(object, 1);
  WriteField<uint64_t>(object, Field::kObType, kNoneType);
  return object;
}

uint64_t FakePython::Code(const FakeCode& code) {
  const bool adaptive = layout_.Has(Field::kCodeCodeAdaptive);
  size_t size = static_cast<size_t>(FieldOffset(Field::kSizeofCode));
  if (adaptive) {
    // The bytecode is the variable part of a 3.11+ code object.
    size = static_cast<size_t>(FieldOffset(Field::kCodeCodeAdaptive)) +
           2 * static_cast<size_t>(code.code_units) + 2;
  }
  uint64_t name = Str(code.name);
  uint64_t filename = Str(code.filename);
  uint64_t table = Bytes(code.line_table);
  uint64_t qualname = 0;
  if (layout_.Has(Field::kCodeQualname)) {
    qualname = code.qualname.empty() ? name : Str(code.qualname);
  }
  uint64_t object = Alloc(size);
  Write<int64_t>(object, 1);
  WriteField<uint64_t>(object, Field::kObType, kCodeType);
  if (adaptive) {
    WriteField<int64_t>(object, Field::kVarObSize, code.code_units);
    // NOP (opcode 9 in 3.11-3.12, 27 in 3.13) with arg 0: never read by the
    // walker, but a plausible image for the fuzzers to mutate.
    const char nop = version_.AtLeast(3, 13) ? 27 : 9;
    for (int i = 0; i < code.code_units; ++i) {
      Write<char>(object + FieldOffset(Field::kCodeCodeAdaptive) + 2 * i, nop);
    }
    WriteField<int32_t>(object, Field::kCodeFirstTraceable,
                        code.first_traceable);
    WriteField<uint64_t>(object, Field::kCodeQualname, qualname);
  }
  WriteField<uint64_t>(object, Field::kCodeName, name);
  WriteField<uint64_t>(object, Field::kCodeFilename, filename);
  WriteField<int32_t>(object, Field::kCodeFirstlineno, code.first_line);
  WriteField<uint64_t>(
      object,
      version_.AtLeast(3, 10) ? Field::kCodeLinetable : Field::kCodeLnotab,
      table);
  return object;
}

FakeStack FakePython::Stack(const std::vector<FakeFrame>& given, ChainEnd end) {
  FakeStack stack;
  const bool frame_objects = layout_.Has(Field::kTstateFrame);
  // 3.12-3.14: the outermost eval call's entry frame lies below every
  // thread's chain (Python/ceval.c pushes one per call; 3.14 owns it by the
  // interpreter, value 3 too).
  std::vector<FakeFrame> frames = given;
  const bool entry_below = end == ChainEnd::kAsCPython && !frames.empty() &&
                           version_.AtLeast(3, 12) &&
                           !version_.AtLeast(3, 15) &&
                           frames.back().owner < kOwnedByCStack;
  if (entry_below) frames.push_back({0xdead0000, 0, kOwnedByCStack});
  for (const FakeFrame& f : frames) {
    if (frame_objects) {
      uint64_t frame =
          Alloc(static_cast<size_t>(FieldOffset(Field::kSizeofFrameObject)));
      Write<int64_t>(frame, 1);
      WriteField<uint64_t>(frame, Field::kObType, kFrameType);
      WriteField<uint64_t>(frame, Field::kFrameCode, f.code);
      WriteField<int32_t>(frame, Field::kFrameLasti, f.lasti);
      // f_lineno is only maintained while tracing: a walker must not use it.
      WriteField<int32_t>(frame, Field::kFrameLineno, -12345);
      stack.frames.push_back(frame);
    } else {
      // Room for a few localsplus slots after the fixed part.
      uint64_t frame = Alloc(
          static_cast<size_t>(FieldOffset(Field::kSizeofInterpreterFrame)) +
          32);
      WriteField<uint64_t>(frame, Field::kIframeCode, f.code);
      WriteField<uint8_t>(frame, Field::kIframeOwner, f.owner);
      uint64_t instr = 0;
      if (f.owner == kOwnedByCStack && version_.AtLeast(3, 12)) {
        instr = 0x1234;  // whatever the C stack left there
      } else {
        instr = f.code + FieldOffset(Field::kCodeCodeAdaptive) +
                2 * static_cast<int64_t>(f.lasti);
      }
      WriteField<uint64_t>(frame, Field::kIframeInstr, instr);
      stack.frames.push_back(frame);
    }
  }
  const Field back = frame_objects ? Field::kFrameBack : Field::kIframePrevious;
  for (size_t i = 0; i + 1 < stack.frames.size(); ++i) {
    WriteField<uint64_t>(stack.frames[i], back, stack.frames[i + 1]);
  }
  if (entry_below) {
    stack.entry = stack.frames.back();
    stack.frames.pop_back();
  }
  // 3.11: the frame each eval call starts with is flagged is_entry, so the
  // outermost frame of a thread is.
  if (end == ChainEnd::kAsCPython && !frames.empty() && !frame_objects &&
      layout_.Has(Field::kIframeIsEntry)) {
    WriteField<uint8_t>(stack.frames.back(), Field::kIframeIsEntry, 1);
  }
  const uint64_t top = stack.frames.empty() ? 0 : stack.frames[0];
  stack.tstate =
      Alloc(static_cast<size_t>(FieldOffset(Field::kSizeofThreadState)));
  if (frame_objects) {
    WriteField<uint64_t>(stack.tstate, Field::kTstateFrame, top);
  } else if (layout_.Has(Field::kTstateCframe)) {
    // _PyCFrame: 3.11 {use_tracing, current_frame, previous},
    // 3.12 {current_frame, previous}.
    uint64_t cframe = Alloc(24);
    WriteField<uint64_t>(cframe, Field::kCframeCurrentFrame, top);
    WriteField<uint64_t>(stack.tstate, Field::kTstateCframe, cframe);
  } else {
    WriteField<uint64_t>(stack.tstate, Field::kTstateCurrentFrame, top);
  }
  return stack;
}

std::unique_ptr<FakeMemory> FakePython::Memory() const {
  auto memory = std::make_unique<FakeMemory>();
  memory->Add(kBase, arena_);
  return memory;
}

std::string EncodeLnotab(const std::vector<LineEntry>& entries) {
  std::string out;
  for (const LineEntry& e : entries) {
    out.push_back(static_cast<char>(static_cast<uint8_t>(e.length)));
    out.push_back(static_cast<char>(static_cast<uint8_t>(e.delta)));
  }
  return out;
}

std::string EncodeLinetable310(const std::vector<LineEntry>& entries) {
  std::string out;
  for (const LineEntry& e : entries) {
    out.push_back(static_cast<char>(static_cast<uint8_t>(e.length)));
    out.push_back(static_cast<char>(e.no_line ? -128 : e.delta));
  }
  return out;
}

std::string EncodeLocations311(const std::vector<LineEntry>& entries) {
  std::string out;
  for (const LineEntry& e : entries) {
    if (e.length < 1 || e.length > 8) Die("location entry length");
    const int code = e.no_line ? 15 : 13;
    out.push_back(static_cast<char>(0x80 | (code << 3) | (e.length - 1)));
    if (!e.no_line) AppendSignedVarint(e.delta, out);
  }
  return out;
}

std::string EncodeLineTable(const PythonVersion& version,
                            const std::vector<LineEntry>& entries) {
  if (!version.AtLeast(3, 10)) return EncodeLnotab(entries);
  if (!version.AtLeast(3, 11)) return EncodeLinetable310(entries);
  return EncodeLocations311(entries);
}

int LastiToByteOffset(const PythonVersion& version, int lasti) {
  return version.AtLeast(3, 10) ? 2 * lasti : lasti;
}

int ExpectedLine(const PythonVersion& version,
                 const std::vector<LineEntry>& entries, int first_line,
                 int offset) {
  if (!version.AtLeast(3, 10)) {
    // PyCode_Addr2Line of 2.7-3.9 (2.7 adds unsigned increments).
    int line = first_line;
    int addr = 0;
    for (const LineEntry& e : entries) {
      addr += static_cast<uint8_t>(e.length);
      if (addr > offset) break;
      line += version.major == 2 ? static_cast<uint8_t>(e.delta)
                                 : static_cast<int8_t>(e.delta);
    }
    return line;
  }
  if (offset < 0) return first_line;
  const int unit = version.AtLeast(3, 11) ? 2 : 1;
  int line = first_line;
  int addr = 0;
  for (const LineEntry& e : entries) {
    if (!e.no_line) line += e.delta;
    const int end = addr + unit * e.length;
    if (offset >= addr && offset < end) return e.no_line ? -1 : line;
    addr = end;
  }
  return -1;
}

}  // namespace pystrobe::testing
