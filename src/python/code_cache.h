// Decoded code objects, cached across snapshots by address.
//
// Names, file names and line tables are immutable for the life of a code
// object, so each is decoded once. An address can be reused by a new code
// object after the old one is freed, so every lookup compares the object's
// identity fields (pointers to its name, qualname, file name and line table,
// and its first line) with the cached entry's; the code struct itself comes
// from the per-snapshot page cache, so the check usually costs no syscall.
// A new code object at a reused address with all of those identical would
// have to reuse the very same name and file objects: its decoded info is then
// the same anyway.
#ifndef PYSTROBE_SRC_PYTHON_CODE_CACHE_H_
#define PYSTROBE_SRC_PYTHON_CODE_CACHE_H_

#include <cstdint>
#include <memory>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "pystrobe/process/remote_memory.h"
#include "pystrobe/python/layout.h"
#include "pystrobe/python/python_process.h"
#include "pystrobe/python/version.h"
#include "remote_struct.h"

namespace pystrobe {

class CodeCache {
 public:
  // `layout` and `version` must outlive the cache. Beyond `max_entries` the
  // cache starts over, which bounds memory on targets that create code
  // objects endlessly (exec, lambdas in eval).
  CodeCache(const Layout* layout, const PythonVersion* version,
            size_t max_entries = 1 << 16);

  // Info for the code object whose struct is `code` (already copied).
  absl::StatusOr<std::shared_ptr<const CodeInfo>> Get(RemoteMemory& memory,
                                                      const RemoteStruct& code);

  // Starts a new snapshot: code objects validated before must be checked
  // again.
  void NewSnapshot() { ++generation_; }
  // The current snapshot's number (increases with every NewSnapshot()).
  uint64_t snapshot() const { return generation_; }
  // The info of the code object at `address` if Get() validated it earlier
  // in this snapshot (deep recursion runs one code object in many frames:
  // it is loaded and checked once), else nullptr.
  const std::shared_ptr<const CodeInfo>* ValidatedThisSnapshot(
      uint64_t address) const {
    auto it = entries_.find(address);
    if (it == entries_.end() || it->second.generation != generation_) {
      return nullptr;
    }
    return &it->second.info;
  }

  size_t size() const { return entries_.size(); }
  uint64_t decodes() const { return decodes_; }

 private:
  struct Identity {
    uint64_t name = 0;
    uint64_t qualname = 0;
    uint64_t filename = 0;
    uint64_t linetable = 0;
    int32_t first_line = 0;
    bool operator==(const Identity& o) const {
      return name == o.name && qualname == o.qualname &&
             filename == o.filename && linetable == o.linetable &&
             first_line == o.first_line;
    }
  };
  struct Entry {
    Identity identity;
    std::shared_ptr<const CodeInfo> info;
    uint64_t generation = 0;  // snapshot in which it was last validated
  };

  absl::StatusOr<Identity> ReadIdentity(const RemoteStruct& code) const;
  absl::StatusOr<std::shared_ptr<const CodeInfo>> Decode(
      RemoteMemory& memory, const RemoteStruct& code,
      const Identity& identity) const;

  const Layout* layout_;
  const PythonVersion* version_;
  size_t max_entries_;
  LineTableFormat format_;
  Field linetable_field_;
  absl::flat_hash_map<uint64_t, Entry> entries_;
  uint64_t decodes_ = 0;
  uint64_t generation_ = 1;
};

}  // namespace pystrobe

#endif  // PYSTROBE_SRC_PYTHON_CODE_CACHE_H_
