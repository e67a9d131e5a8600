// Typed, bounds-checked access to CPython structs in the target.
//
// A struct is read once (through the page cache, so usually without a
// syscall, and without a copy when it lies inside one cached page: the
// struct then views the page until the cache's next sample); its fields are
// then read by Layout field, each checked against the bytes actually read. A
// field the version lacks, or that lies outside the struct, is an error rather
// than a wild read:
//
//   RemoteStruct frame;
//   RETURN_IF_ERROR(frame.Load(memory, layout, address,
//                              Field::kSizeofInterpreterFrame));
//   ASSIGN_OR_RETURN(uint64_t previous, frame.Get<uint64_t>(
//                                           Field::kIframePrevious));
#ifndef PYSTROBE_SRC_PYTHON_REMOTE_STRUCT_H_
#define PYSTROBE_SRC_PYTHON_REMOTE_STRUCT_H_

#include <array>
#include <cstdint>
#include <cstring>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "pystrobe/base/errors.h"
#include "pystrobe/base/status_macros.h"
#include "pystrobe/process/remote_memory.h"
#include "pystrobe/python/layout.h"

namespace pystrobe {

// _PyStackRef (3.14+): the low bits of a frame's f_executable and of its
// localsplus slots are tags (Py_TAG_BITS is 3 with the GIL, 1 without;
// Include/internal/pycore_stackref.h); objects are 8-aligned, so clearing
// both bits is right for either build, and for the plain PyObject* of
// 3.11-3.13.
inline constexpr uint64_t kStackRefTagBits = 3;

// Error for a field the layout does not have: a pystrobe bug or an
// unexpected build, never the target's fault.
inline absl::Status MissingField(Field field) {
  return absl::InternalError(
      absl::StrCat("layout has no ", std::string(FieldName(field))));
}

class RemoteStruct {
 public:
  // Structs pystrobe copies whole are all well under this (PyThreadState,
  // frames, code objects); bigger ones are read field by field (ReadField).
  static constexpr size_t kMaxSize = 1024;

  // Copies the struct at `address`, `size_field` (a kSizeof* field) bytes
  // long, capped at kMaxSize.
  absl::Status Load(RemoteMemory& memory, const Layout& layout,
                    uint64_t address, Field size_field) {
    std::optional<int32_t> size = layout.Offset(size_field);
    if (!size) return MissingField(size_field);
    return LoadBytes(memory, address, static_cast<size_t>(*size));
  }

  absl::Status LoadBytes(RemoteMemory& memory, uint64_t address, size_t size) {
    size_ = 0;  // nothing readable if the read fails
    address_ = address;
    const size_t wanted = size < kMaxSize ? size : kMaxSize;
    PYSTROBE_ASSIGN_OR_RETURN(data_,
                              memory.View(address, wanted, bytes_.data()));
    size_ = wanted;
    return absl::OkStatus();
  }

  RemoteStruct() = default;
  // data_ may point into bytes_: a copy would view the original's buffer.
  RemoteStruct(const RemoteStruct&) = delete;
  RemoteStruct& operator=(const RemoteStruct&) = delete;

  template <typename T>
  absl::StatusOr<T> Get(const Layout& layout, Field field) const {
    std::optional<int32_t> offset = layout.Offset(field);
    if (!offset) return MissingField(field);
    return GetAt<T>(static_cast<size_t>(*offset));
  }

  template <typename T>
  absl::StatusOr<T> GetAt(size_t offset) const {
    if (offset + sizeof(T) > size_) {
      return InconsistentError(absl::StrCat("field at offset ", offset,
                                            " lies outside a struct of ", size_,
                                            " bytes"));
    }
    T value;
    std::memcpy(&value, data_ + offset, sizeof(T));
    return value;
  }

  uint64_t address() const { return address_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  uint64_t address_ = 0;
  size_t size_ = 0;
  const uint8_t* data_ = nullptr;  // bytes_ or a cached page
  std::array<uint8_t, kMaxSize> bytes_{};
};

// Reads one field of a struct too large to copy whole (PyInterpreterState,
// _PyRuntimeState).
template <typename T>
absl::StatusOr<T> ReadField(RemoteMemory& memory, const Layout& layout,
                            uint64_t base, Field field) {
  std::optional<int32_t> offset = layout.Offset(field);
  if (!offset) return MissingField(field);
  T value;
  PYSTROBE_RETURN_IF_ERROR(
      memory.Read(base + static_cast<uint64_t>(*offset), &value, sizeof(T)));
  return value;
}

}  // namespace pystrobe

#endif  // PYSTROBE_SRC_PYTHON_REMOTE_STRUCT_H_
