// libFuzzer target for /proc/PID/maps: ParseMaps (what ProcFs::ReadMaps
// returns for every target) and ModuleMap::FindModules (the modules the
// native unwinder reports to libdwfl from those mappings). Any text must
// give mappings or one InvalidArgument naming the line; the mappings and
// modules must be well formed.
//
// Seeds: tests/fuzz/corpus/proc_maps/ (maps of real Python processes: a
// shared libpython, a static interpreter, a container's).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "module_map.h"
#include "pystrobe/process/proc_fs.h"

namespace {

// Not assert(): fuzz builds may define NDEBUG.
void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "maps fuzzer invariant broken: %s\n", what);
    __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using pystrobe::MemoryMapping;
  using pystrobe::ModuleMap;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::vector<MemoryMapping>> maps = pystrobe::ParseMaps(text);
  if (!maps.ok()) {
    Check(maps.status().code() == absl::StatusCode::kInvalidArgument,
          "bad maps text is not InvalidArgument");
    Check(maps.status().message().find("maps line ") == 0,
          "the error does not name the line");
    return 0;
  }
  Check(maps->size() <= size / 2 + 1, "more mappings than lines");
  for (const MemoryMapping& m : *maps) {
    Check(m.start <= m.end, "a mapping ends before it starts");
    Check(m.path.find('\n') == std::string::npos, "a path spans lines");
    Check(m.path.size() <= size, "a path longer than the text");
  }
  const std::vector<ModuleMap::FoundModule> modules =
      ModuleMap::FindModules(*maps);
  Check(modules.size() <= maps->size(), "more modules than mappings");
  for (size_t i = 0; i < modules.size(); ++i) {
    const ModuleMap::FoundModule& module = modules[i];
    Check(module.first_mapping < maps->size(), "a module past the maps");
    const MemoryMapping& first = (*maps)[module.first_mapping];
    Check(module.range.start == first.start && module.range.path == first.path,
          "a module does not start at its first mapping");
    Check(module.range.end >= module.range.start, "a module ends too early");
    Check(!module.range.path.empty(), "a module without a file");
    Check(i == 0 || modules[i - 1].first_mapping < module.first_mapping,
          "modules out of order");
  }
  return 0;
}
