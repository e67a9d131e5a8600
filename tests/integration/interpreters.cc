#include "interpreters.h"

#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <tuple>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "subprocess.h"

namespace pystrobe::integration {
namespace {

std::vector<std::string> Glob(const std::string& pattern) {
  std::vector<std::string> paths;
  glob_t g{};
  if (glob(pattern.c_str(), 0, nullptr, &g) == 0) {
    for (size_t i = 0; i < g.gl_pathc; ++i) paths.push_back(g.gl_pathv[i]);
  }
  globfree(&g);
  return paths;
}

bool IsElfExecutable(const std::string& path) {
  if (access(path.c_str(), X_OK) != 0) return false;
  std::ifstream file(path, std::ios::binary);
  char magic[4] = {};
  file.read(magic, sizeof(magic));
  return file.gcount() == 4 && std::string(magic, 4) ==
                                   "\x7f"
                                   "ELF";
}

std::string Sanitize(const std::string& s) {
  std::string out;
  for (char c : s) {
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 (c >= '0' && c <= '9');
    out.push_back(alnum ? c : '_');
  }
  return out;
}

// "python3.11d" -> 3, 11; false if the name carries no version.
bool VersionFromFileName(const std::string& file_name, int* major, int* minor) {
  absl::string_view name = file_name;
  if (!absl::ConsumePrefix(&name, "python")) return false;
  std::vector<absl::string_view> parts = absl::StrSplit(name, '.');
  if (parts.size() != 2) return false;
  absl::string_view minor_text = parts[1];
  while (!minor_text.empty() &&
         !(minor_text.back() >= '0' && minor_text.back() <= '9')) {
    minor_text.remove_suffix(1);  // ABI flags: 3.11d, 3.6m
  }
  return absl::SimpleAtoi(parts[0], major) &&
         absl::SimpleAtoi(minor_text, minor);
}

// Pyenv builds are named by their full version, the distribution's by the
// file name, anything else by a "Custom" prefix and its file name.
std::string NameFor(const std::string& path) {
  std::filesystem::path p(path);
  std::string file_name = p.filename().string();
  std::filesystem::path bin = p.parent_path();
  if (bin.filename() == "bin" &&
      bin.parent_path().parent_path().filename() == "versions") {
    return "Py" + Sanitize(bin.parent_path().filename().string());
  }
  if (absl::StartsWith(path, "/usr/")) {
    absl::string_view version = file_name;
    absl::ConsumePrefix(&version, "python");
    return "Debian" + Sanitize(std::string(version));
  }
  return "Custom_" + Sanitize(file_name);
}

std::string CacheDir() {
  const char* xdg = getenv("XDG_CACHE_HOME");
  if (xdg != nullptr && *xdg) return std::string(xdg) + "/pystrobe";
  const char* home = getenv("HOME");
  return std::string(home != nullptr ? home : "") + "/.cache/pystrobe";
}

std::string EnvOr(const char* name, const std::string& fallback) {
  const char* v = getenv(name);
  return v != nullptr && *v ? std::string(v) : fallback;
}

constexpr char kStamp[] = "/.pystrobe-ready";

}  // namespace

std::string ForkyRoot() {
  return EnvOr("PYSTROBE_FORKY_ROOT", CacheDir() + "/forky-root");
}
std::string Py313tPrefix() {
  return EnvOr("PYSTROBE_PY313T", CacheDir() + "/cpython-3.13t");
}
bool ForkyRootReady() { return FileExists(ForkyRoot() + kStamp); }
bool Py313tReady() { return FileExists(Py313tPrefix() + kStamp); }

std::vector<std::string> Interpreter::Command(
    const std::vector<std::string>& args) const {
  std::vector<std::string> argv;
  if (chrooted()) {
    // $0 is the root; the rest is the interpreter and its arguments.
    argv = {"/usr/bin/unshare",
            "--mount",
            "--propagation",
            "private",
            "/bin/sh",
            "-c",
            "mount -t proc proc \"$0/proc\" && exec /usr/sbin/chroot \"$0\" "
            "\"$@\"",
            root};
  }
  argv.push_back(path);
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

std::string Interpreter::TargetPath(const std::string& host_path) const {
  if (!chrooted() || !absl::StartsWith(host_path, root + "/")) {
    return host_path;
  }
  return host_path.substr(root.size());
}

std::string Interpreter::TempParent() const {
  return chrooted() ? root + "/tmp" : "";
}

std::string StageWorkload(const Interpreter& py, const std::string& dir,
                          const std::string& name) {
  const std::string source = PYSTROBE_SOURCE_DIR "/tests/workloads/" + name;
  if (!py.chrooted()) return source;
  std::error_code ec;
  std::filesystem::copy_file(source, dir + "/" + name,
                             std::filesystem::copy_options::overwrite_existing,
                             ec);
  if (ec) return "";
  return py.TargetPath(dir + "/" + name);
}

std::vector<Interpreter> FindInterpreters() {
  std::vector<std::string> candidates;
  if (const char* home = getenv("HOME"); home != nullptr && *home) {
    for (const char* pattern : {"/.pyenv/versions/*/bin/python2.*",
                                "/.pyenv/versions/*/bin/python3.*"}) {
      for (std::string& path : Glob(std::string(home) + pattern)) {
        candidates.push_back(std::move(path));
      }
    }
  }
  for (std::string& path : Glob("/usr/bin/python3.[0-9]*")) {
    candidates.push_back(std::move(path));
  }
  if (const char* extra = getenv("PYSTROBE_PYTHONS"); extra != nullptr) {
    for (absl::string_view path :
         absl::StrSplit(extra, ':', absl::SkipEmpty())) {
      candidates.emplace_back(path);
    }
  }

  std::vector<Interpreter> found;
  std::set<std::string> real_paths, names;
  std::set<std::pair<dev_t, ino_t>> inodes;
  for (const std::string& path : candidates) {
    if (absl::EndsWith(path, "-config") || absl::EndsWith(path, ".py") ||
        !IsElfExecutable(path)) {
      continue;
    }
    std::error_code ec;
    std::string real = std::filesystem::canonical(path, ec).string();
    struct stat st;
    if (ec || stat(real.c_str(), &st) != 0) continue;
    if (!real_paths.insert(real).second ||
        !inodes.insert({st.st_dev, st.st_ino}).second) {
      continue;
    }
    // Named after the binary itself: python3.11-dbg is python3.11d.
    Interpreter py;
    py.path = real;
    py.name = NameFor(real);
    VersionFromFileName(std::filesystem::path(real).filename().string(),
                        &py.major, &py.minor);
    for (int i = 2; !names.insert(py.name).second; ++i) {
      py.name = absl::StrCat(NameFor(real), "_", i);
    }
    found.push_back(std::move(py));
  }

  // The free-threaded 3.13t, on the machine's root.
  const std::string t313 = Py313tPrefix() + "/bin/python3.13t";
  if (Py313tReady() && IsElfExecutable(t313)) {
    found.push_back(Interpreter{"FreeThreaded3_13t", t313, 3, 13, ""});
  }
  // Debian forky's, chrooted: named Forky + the file name.
  if (ForkyRootReady()) {
    const std::string root = ForkyRoot();
    for (const char* file :
         {"/usr/bin/python3.13", "/usr/bin/python3.14", "/usr/bin/python3.14d",
          "/usr/local/bin/python3.14-pie", "/usr/bin/python3.15",
          "/usr/bin/python3.15d"}) {
      if (!IsElfExecutable(root + file)) continue;
      Interpreter py;
      py.root = root;
      py.path = file;
      const std::string file_name = std::filesystem::path(file).filename();
      VersionFromFileName(file_name.substr(0, file_name.find('-')), &py.major,
                          &py.minor);
      absl::string_view version = file_name;
      absl::ConsumePrefix(&version, "python");
      py.name = "Forky" + Sanitize(std::string(version));
      found.push_back(std::move(py));
    }
  }
  return found;
}

std::string GateTestPython() {
  if (access("/usr/bin/python3", X_OK) == 0) return "/usr/bin/python3";
  static const std::vector<Interpreter> all = FindInterpreters();
  const Interpreter* py = NewestInterpreter(all);
  return py == nullptr ? "" : py->path;
}

const Interpreter* NewestInterpreter(const std::vector<Interpreter>& all) {
  const Interpreter* best = nullptr;
  auto key = [](const Interpreter& py) {
    bool debug =
        absl::EndsWith(py.path, "d") || absl::EndsWith(py.path, "-dbg");
    return std::make_tuple(py.major, py.minor, !debug);
  };
  for (const Interpreter& py : all) {
    if (py.major < 3 || py.chrooted()) continue;
    if (best == nullptr || key(py) > key(*best)) best = &py;
  }
  return best;
}

std::string DescribeInterpreters(const std::vector<Interpreter>& all) {
  return absl::StrJoin(all, " ", [](std::string* out, const Interpreter& py) {
    absl::StrAppend(out, py.name, "=", py.chrooted() ? py.root : "", py.path,
                    py.chrooted() ? " (chroot)" : "");
  });
}

}  // namespace pystrobe::integration
