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

}  // namespace

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
  return found;
}

const Interpreter* NewestInterpreter(const std::vector<Interpreter>& all) {
  const Interpreter* best = nullptr;
  auto key = [](const Interpreter& py) {
    bool debug =
        absl::EndsWith(py.path, "d") || absl::EndsWith(py.path, "-dbg");
    return std::make_tuple(py.major, py.minor, !debug);
  };
  for (const Interpreter& py : all) {
    if (py.major < 3) continue;
    if (best == nullptr || key(py) > key(*best)) best = &py;
  }
  return best;
}

std::string DescribeInterpreters(const std::vector<Interpreter>& all) {
  return absl::StrJoin(all, " ", [](std::string* out, const Interpreter& py) {
    absl::StrAppend(out, py.name, "=", py.path);
  });
}

}  // namespace pystrobe::integration
