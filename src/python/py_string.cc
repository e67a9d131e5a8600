#include "py_string.h"

#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "pystrobe/base/errors.h"
#include "pystrobe/base/status_macros.h"
#include "remote_struct.h"

namespace pystrobe {
namespace {

// PyASCIIObject.state bit-field on little-endian x86-64: interned:2, kind:3,
// compact:1, ascii:1, then version-specific bits (3.3-3.15); free-threaded
// 3.14+ make `interned` a byte of its own, which moves the rest up by 6
// bits. The layout says where (kUnicode*Bit); 2, 5, 6 otherwise.
struct UnicodeState {
  unsigned kind;
  bool compact;
  bool ascii;
};

UnicodeState DecodeState(uint32_t state, const Layout& layout) {
  auto bit = [&](Field f, int fallback) {
    const int32_t b = layout.Offset(f).value_or(fallback);
    return static_cast<unsigned>(b >= 0 && b < 30 ? b : fallback);
  };
  return {(state >> bit(Field::kUnicodeKindBit, 2)) & 7u,
          ((state >> bit(Field::kUnicodeCompactBit, 5)) & 1u) != 0,
          ((state >> bit(Field::kUnicodeAsciiBit, 6)) & 1u) != 0};
}

absl::Status CheckLength(int64_t length, int64_t max, uint64_t address) {
  if (length < 0 || length > max) {
    return InconsistentError(absl::StrCat("object at 0x", absl::Hex(address),
                                          " claims length ", length));
  }
  return absl::OkStatus();
}

// Reads `length` code units of `unit_size` bytes and appends them as UTF-8.
// With `utf16` (2.7 narrow builds), 2-byte units are UTF-16: a surrogate
// pair is one code point, as 2.7's own UTF-8 encoder treats it. PEP 393
// strings never hold pairs: there each surrogate is a code point of its own.
absl::Status AppendUnits(RemoteMemory& memory, uint64_t data, int64_t length,
                         int unit_size, std::string& out, bool utf16 = false) {
  std::vector<uint8_t> raw(static_cast<size_t>(length) * unit_size);
  if (!raw.empty()) {
    PYSTROBE_RETURN_IF_ERROR(memory.Read(data, raw.data(), raw.size()));
  }
  out.reserve(out.size() + raw.size());
  for (int64_t i = 0; i < length; ++i) {
    uint32_t cp = 0;
    const uint8_t* p = raw.data() + i * unit_size;
    if (unit_size == 1) {
      cp = p[0];
    } else if (unit_size == 2) {
      uint16_t v;
      std::memcpy(&v, p, 2);
      cp = v;
      if (utf16 && v >= 0xD800 && v <= 0xDBFF && i + 1 < length) {
        uint16_t low;
        std::memcpy(&low, p + 2, 2);
        if (low >= 0xDC00 && low <= 0xDFFF) {
          cp = 0x10000 + ((static_cast<uint32_t>(v) - 0xD800) << 10) +
               (low - 0xDC00u);
          ++i;
        }
      }
    } else {
      std::memcpy(&cp, p, 4);
    }
    AppendUtf8(cp, out);
  }
  return absl::OkStatus();
}

}  // namespace

void AppendUtf8(uint32_t cp, std::string& out) {
  if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) cp = 0xFFFD;
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

absl::StatusOr<std::string> ReadPyBytes(RemoteMemory& memory,
                                        const Layout& layout,
                                        uint64_t address) {
  if (address == 0) return InconsistentError("NULL bytes object");
  PYSTROBE_ASSIGN_OR_RETURN(
      int64_t size,
      ReadField<int64_t>(memory, layout, address, Field::kVarObSize));
  PYSTROBE_RETURN_IF_ERROR(CheckLength(size, kMaxBytesLength, address));
  std::optional<int32_t> sval = layout.Offset(Field::kBytesSval);
  if (!sval) return MissingField(Field::kBytesSval);
  std::string out(static_cast<size_t>(size), '\0');
  if (size > 0) {
    PYSTROBE_RETURN_IF_ERROR(memory.Read(address + static_cast<uint64_t>(*sval),
                                         out.data(), out.size()));
  }
  return out;
}

absl::StatusOr<std::string> ReadPy2Unicode(RemoteMemory& memory,
                                           const Layout& layout,
                                           uint64_t address) {
  PYSTROBE_ASSIGN_OR_RETURN(
      int64_t length,
      ReadField<int64_t>(memory, layout, address, Field::kUnicodeLength));
  PYSTROBE_RETURN_IF_ERROR(CheckLength(length, kMaxStringLength, address));
  PYSTROBE_ASSIGN_OR_RETURN(
      uint64_t data,
      ReadField<uint64_t>(memory, layout, address, Field::kUnicodeStr));
  std::optional<int32_t> unit = layout.Offset(Field::kSizeofPyUnicode);
  if (!unit || (*unit != 2 && *unit != 4)) {
    return MissingField(Field::kSizeofPyUnicode);
  }
  std::string out;
  PYSTROBE_RETURN_IF_ERROR(
      AppendUnits(memory, data, length, *unit, out, /*utf16=*/true));
  return out;
}

absl::StatusOr<std::string> ReadPyString(RemoteMemory& memory,
                                         const Layout& layout,
                                         const PythonVersion& version,
                                         uint64_t address) {
  if (address == 0) return InconsistentError("NULL string object");
  if (version.major == 2) {
    PYSTROBE_ASSIGN_OR_RETURN(std::string bytes,
                              ReadPyBytes(memory, layout, address));
    if (static_cast<int64_t>(bytes.size()) > kMaxStringLength) {
      return InconsistentError("string too long");
    }
    return bytes;
  }
  // Header: length and state, then the data right after the struct for
  // compact strings or behind data.any for legacy ones.
  PYSTROBE_ASSIGN_OR_RETURN(
      int64_t length,
      ReadField<int64_t>(memory, layout, address, Field::kUnicodeLength));
  PYSTROBE_RETURN_IF_ERROR(CheckLength(length, kMaxStringLength, address));
  PYSTROBE_ASSIGN_OR_RETURN(
      uint32_t raw_state,
      ReadField<uint32_t>(memory, layout, address, Field::kUnicodeState));
  UnicodeState state = DecodeState(raw_state, layout);
  if (state.kind != 1 && state.kind != 2 && state.kind != 4) {
    return InconsistentError(absl::StrCat("string at 0x", absl::Hex(address),
                                          " has kind ", state.kind));
  }
  if (state.ascii && state.kind != 1) {
    return InconsistentError("ASCII string with wide kind");
  }
  uint64_t data = 0;
  if (state.compact) {
    Field header =
        state.ascii ? Field::kSizeofAsciiObject : Field::kSizeofCompactUnicode;
    std::optional<int32_t> size = layout.Offset(header);
    if (!size) return MissingField(header);
    data = address + static_cast<uint64_t>(*size);
  } else {
    PYSTROBE_ASSIGN_OR_RETURN(
        data,
        ReadField<uint64_t>(memory, layout, address, Field::kUnicodeDataAny));
    if (data == 0) return InconsistentError("legacy string without data");
  }
  std::string out;
  if (state.kind == 1 && state.ascii) {
    out.resize(static_cast<size_t>(length));
    if (length > 0) {
      PYSTROBE_RETURN_IF_ERROR(memory.Read(data, out.data(), out.size()));
    }
    return out;
  }
  PYSTROBE_RETURN_IF_ERROR(
      AppendUnits(memory, data, length, static_cast<int>(state.kind), out));
  return out;
}

}  // namespace pystrobe
