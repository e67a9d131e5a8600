#include "binary_finder.h"

#include <cctype>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "pystrobe/base/errors.h"
#include "pystrobe/base/status_macros.h"

namespace pystrobe {
namespace {

std::string_view Basename(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// Parses "D.DD" at the start of `s`; returns the length consumed, 0 if none.
size_t ParseMajorMinor(std::string_view s, int* major, int* minor) {
  if (s.size() < 3 || !std::isdigit(static_cast<unsigned char>(s[0])) ||
      s[1] != '.' || !std::isdigit(static_cast<unsigned char>(s[2]))) {
    return 0;
  }
  *major = s[0] - '0';
  size_t i = 2;
  int m = 0;
  while (i < s.size() && i < 5 &&
         std::isdigit(static_cast<unsigned char>(s[i]))) {
    m = m * 10 + (s[i] - '0');
    ++i;
  }
  *minor = m;
  return i;
}

// Symbols only a CPython interpreter defines, in one version or another.
constexpr const char* kPythonSymbols[] = {
    "Py_Version",    "_PyRuntime",  "PyCode_Type",
    "Py_Initialize", "interp_head", "_PyThreadState_Current"};

bool HasPythonSymbols(const ElfFile& elf) {
  for (const char* name : kPythonSymbols) {
    if (elf.FindSymbol(name)) return true;
  }
  return false;
}

}  // namespace

std::optional<uint64_t> PythonBinary::SymbolAddress(
    std::string_view name) const {
  std::optional<ElfSymbol> symbol = elf.FindSymbol(name);
  if (!symbol || symbol->value == 0) return std::nullopt;
  return symbol->value + bias;
}

std::optional<std::pair<int, int>> VersionFromFileName(std::string_view path) {
  std::string_view base = Basename(path);
  for (std::string_view prefix : {"libpython", "python"}) {
    if (base.substr(0, prefix.size()) != prefix) continue;
    int major = 0;
    int minor = 0;
    if (ParseMajorMinor(base.substr(prefix.size()), &major, &minor) > 0) {
      return std::make_pair(major, minor);
    }
  }
  return std::nullopt;
}

namespace {

// Parses "MAJOR.MINOR.MICRO[suffix]" filling the whole of `s`, where the
// suffix is at most 6 letters, digits or '+' ("rc1", "+", "a2").
std::optional<PythonVersion> ParseVersionString(std::string_view s) {
  size_t i = 0;
  auto number = [&](int max_digits, int* out) {
    size_t start = i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])) &&
           i - start < static_cast<size_t>(max_digits)) {
      *out = *out * 10 + (s[i++] - '0');
    }
    return i > start;
  };
  PythonVersion v;
  if (!number(1, &v.major) || i >= s.size() || s[i++] != '.') return {};
  if (!number(2, &v.minor) || i >= s.size() || s[i++] != '.') return {};
  if (!number(3, &v.micro)) return {};
  if (s.size() - i > 6) return {};
  for (; i < s.size(); ++i) {
    if (!std::isalnum(static_cast<unsigned char>(s[i])) && s[i] != '+') {
      return {};
    }
  }
  if (v.major != 2 && v.major != 3) return {};
  return v;
}

}  // namespace

std::optional<PythonVersion> VersionFromRodata(
    std::string_view rodata, std::optional<std::pair<int, int>> major_minor) {
  // PY_VERSION is a literal such as "3.8.18", "2.7.18+" or "3.13.0rc1", but
  // the linker merges string literals by suffix, so it often exists only as
  // the tail of a longer string (".../Python-3.8.18"). Try every tail of
  // every NUL-terminated string that starts a number.
  size_t pos = 0;
  while (pos < rodata.size()) {
    size_t end = rodata.find('\0', pos);
    if (end == std::string_view::npos) end = rodata.size();
    std::string_view s = rodata.substr(pos, end - pos);
    pos = end + 1;
    if (s.size() < 5) continue;
    const size_t first = s.size() > 16 ? s.size() - 16 : 0;
    for (size_t k = first; k + 5 <= s.size(); ++k) {
      if (k > 0 && (std::isdigit(static_cast<unsigned char>(s[k - 1])) ||
                    s[k - 1] == '.')) {
        continue;
      }
      std::optional<PythonVersion> v = ParseVersionString(s.substr(k));
      if (!v) continue;
      if (major_minor &&
          (v->major != major_minor->first || v->minor != major_minor->second)) {
        continue;
      }
      return v;
    }
  }
  return std::nullopt;
}

absl::StatusOr<PythonBinary> FindPythonBinary(
    const ProcFs& proc, pid_t pid, const std::vector<MemoryMapping>& maps) {
  PYSTROBE_ASSIGN_OR_RETURN(std::string exe, proc.ExePath(pid));
  constexpr std::string_view kDeleted = " (deleted)";
  if (exe.size() > kDeleted.size() &&
      exe.compare(exe.size() - kDeleted.size(), kDeleted.size(),
                  kDeleted.data(), kDeleted.size()) == 0) {
    exe.resize(exe.size() - kDeleted.size());
  }
  // libpython first: a shared build maps it into a small executable. Else
  // the interpreter is linked into the executable itself.
  std::string wanted = exe;
  for (const MemoryMapping& m : maps) {
    if (Basename(m.path).substr(0, 9) == "libpython" &&
        VersionFromFileName(m.path)) {
      wanted = m.path;
      break;
    }
  }
  const MemoryMapping* candidate = nullptr;
  for (const MemoryMapping& m : maps) {
    if (m.path == wanted && (!candidate || m.offset < candidate->offset)) {
      candidate = &m;
    }
  }
  if (candidate == nullptr) {
    return NotPythonError(absl::StrFormat(
        "process %d (%s) is not a CPython process: no libpython is mapped "
        "and its executable is not mapped either",
        pid, exe));
  }
  PYSTROBE_ASSIGN_OR_RETURN(ElfFile elf, OpenMappedElf(proc, pid, *candidate));
  if (!HasPythonSymbols(elf)) {
    return NotPythonError(absl::StrFormat(
        "process %d (%s) is not a CPython process: no libpython is mapped "
        "and %s has no Python runtime symbols",
        pid, exe, candidate->path));
  }
  PYSTROBE_ASSIGN_OR_RETURN(uint64_t bias, elf.LoadBias(maps, candidate->path));
  PythonBinary binary{candidate->path, std::move(elf), bias,
                      VersionFromFileName(candidate->path)};
  return binary;
}

absl::StatusOr<PythonVersion> DetectVersion(const PythonBinary& binary,
                                            RemoteMemory& memory) {
  PythonVersion version;
  bool found = false;
  if (std::optional<uint64_t> address = binary.SymbolAddress("Py_Version")) {
    // const unsigned long Py_Version = PY_VERSION_HEX (3.11+).
    uint64_t hex = 0;
    PYSTROBE_RETURN_IF_ERROR(memory.Read(*address, &hex, sizeof(hex)));
    version.major = static_cast<int>((hex >> 24) & 0xFF);
    version.minor = static_cast<int>((hex >> 16) & 0xFF);
    version.micro = static_cast<int>((hex >> 8) & 0xFF);
    found = version.major == 3;
  }
  if (!found) {
    PYSTROBE_ASSIGN_OR_RETURN(std::string rodata,
                              binary.elf.SectionBytes(".rodata"));
    std::optional<PythonVersion> v =
        VersionFromRodata(rodata, binary.name_version);
    if (!v && binary.name_version) {
      // No version string: the file name still tells major.minor.
      v = PythonVersion{binary.name_version->first, binary.name_version->second,
                        0, false};
    }
    if (!v) {
      return NotPythonError(
          absl::StrCat("cannot tell the CPython version of ", binary.path,
                       ": no Py_Version symbol and no version string"));
    }
    version = *v;
  }
  // Reference-count debugging symbols exist only in --with-pydebug builds.
  version.debug = binary.elf.FindSymbol("_Py_NegativeRefcount").has_value() ||
                  binary.elf.FindSymbol("_Py_RefTotal").has_value();
  return version;
}

}  // namespace pystrobe
