// Every installed interpreter is the reference: dump_line_tables.py compiles
// a corpus under it and prints each code object's line table with the line
// the interpreter itself reports for every instruction offset; LineTable
// must give the same answer everywhere.
#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ostream>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "pystrobe/python/line_table.h"

namespace pystrobe {
namespace {

struct Interpreter {
  std::string path;
  std::string test_name;  // for the parameterized test's name
  // A root file system the interpreter runs chrooted in (the Debian forky
  // root of scripts/install-deps.sh, with CPython 3.14 and 3.15), or "".
  std::string root;
};

std::string CacheDir() {
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr ? home : "/root") + "/.cache/pystrobe";
}

std::string EnvOr(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v ? std::string(v) : fallback;
}

// The shell command that runs `interpreter` on the dump script, fed on
// standard input so that a chrooted one needs no copy of it. A chrooted one
// gets its own /proc in a private mount namespace (gone when it exits).
std::string DumpCommand(const Interpreter& interpreter) {
  std::string prefix;
  if (!interpreter.root.empty()) {
    prefix =
        "/usr/bin/unshare --mount --propagation private /bin/sh -c "
        "'mount -t proc proc \"$0/proc\" && exec /usr/sbin/chroot "
        "\"$0\" \"$@\"' '" +
        interpreter.root + "' ";
  }
  return prefix + "'" + interpreter.path + "' - < '" LINE_TABLE_DUMP_SCRIPT "'";
}

bool IsInterpreterName(std::string_view base) {
  // python2.7, python3.11, python3.11d; not python3.11-config or -gdb.py.
  if (base.substr(0, 6) != "python" || base.size() < 9) {
    return false;
  }
  for (char c : base.substr(6)) {
    if (!(c == '.' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z'))) {
      return false;
    }
  }
  return base[6] == '2' || base[6] == '3';
}

std::string TestName(const std::string& path) {
  // ~/.pyenv/versions/3.11.7/bin/python3.11 -> pyenv_3_11_7_python3_11
  std::string name;
  const size_t versions = path.find("/versions/");
  if (versions != std::string::npos) {
    const size_t start = versions + 10;
    name = "pyenv_" + path.substr(start, path.find('/', start) - start) + "_";
  } else {
    name = "system_";
  }
  name += path.substr(path.rfind('/') + 1);
  for (char& c : name) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
          (c >= 'A' && c <= 'Z'))) {
      c = '_';
    }
  }
  return name;
}

std::vector<Interpreter> FindInterpreters() {
  std::vector<std::string> patterns = {"/usr/bin/python3.1[0-9]",
                                       "/usr/bin/python3.11d"};
  if (const char* home = std::getenv("HOME")) {
    patterns.insert(patterns.begin(), std::string(home) +
                                          "/.pyenv/versions/*/bin/"
                                          "python[23].[0-9]*");
  }
  std::vector<Interpreter> found;
  std::set<std::pair<dev_t, ino_t>> seen;  // python3.6m is python3.6
  for (const std::string& pattern : patterns) {
    glob_t matches{};
    if (glob(pattern.c_str(), 0, nullptr, &matches) == 0) {
      for (size_t i = 0; i < matches.gl_pathc; ++i) {
        const std::string path = matches.gl_pathv[i];
        struct stat st {};
        if (!IsInterpreterName(path.substr(path.rfind('/') + 1)) ||
            stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) ||
            access(path.c_str(), X_OK) != 0 ||
            !seen.insert({st.st_dev, st.st_ino}).second) {
          continue;
        }
        found.push_back({path, TestName(path), ""});
      }
    }
    globfree(&matches);
  }
  // The free-threaded 3.13t and Debian forky's 3.14 and 3.15 (chrooted),
  // when scripts/install-deps.sh has set them up.
  const std::string t313 =
      EnvOr("PYSTROBE_PY313T", CacheDir() + "/cpython-3.13t");
  if (access((t313 + "/.pystrobe-ready").c_str(), F_OK) == 0) {
    found.push_back(
        {t313 + "/bin/python3.13t", "free_threaded_python3_13t", ""});
  }
  const std::string forky =
      EnvOr("PYSTROBE_FORKY_ROOT", CacheDir() + "/forky-root");
  if (access((forky + "/.pystrobe-ready").c_str(), F_OK) == 0) {
    for (const char* name :
         {"python3.14", "python3.14d", "python3.15", "python3.15d"}) {
      std::string test_name = std::string("forky_") + name;
      for (char& c : test_name) {
        if (c == '.') c = '_';
      }
      found.push_back({std::string("/usr/bin/") + name, test_name, forky});
    }
  }
  return found;
}

const std::vector<Interpreter>& Interpreters() {
  static const auto* const interpreters =
      new std::vector<Interpreter>(FindInterpreters());
  return *interpreters;
}

bool RunAndCapture(const std::string& command, std::string* out) {
  FILE* pipe = popen(command.c_str(), "re");
  if (pipe == nullptr) {
    return false;
  }
  char buffer[1 << 16];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) {
    out->append(buffer, n);
  }
  return pclose(pipe) == 0;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  while (!s.empty()) {
    const size_t at = s.find(sep);
    if (at != 0) {
      parts.push_back(s.substr(0, at));
    }
    if (at == std::string_view::npos) {
      break;
    }
    s.remove_prefix(at + 1);
  }
  return parts;
}

bool ParseInt(std::string_view s, int64_t* value) {
  const auto result = std::from_chars(s.data(), s.data() + s.size(), *value);
  return result.ec == std::errc() && result.ptr == s.data() + s.size();
}

bool ParseHex(std::string_view hex, std::string* bytes) {
  if (hex == "-") {
    return true;
  }
  if (hex.size() % 2 != 0) {
    return false;
  }
  for (size_t i = 0; i < hex.size(); i += 2) {
    unsigned value = 0;
    const auto result =
        std::from_chars(hex.data() + i, hex.data() + i + 2, value, 16);
    if (result.ec != std::errc() || result.ptr != hex.data() + i + 2) {
      return false;
    }
    bytes->push_back(static_cast<char>(value));
  }
  return true;
}

bool ParseFormat(std::string_view name, LineTableFormat* format) {
  if (name == "lnotab27") {
    *format = LineTableFormat::kLnotab27;
  } else if (name == "lnotab36") {
    *format = LineTableFormat::kLnotab36;
  } else if (name == "linetable310") {
    *format = LineTableFormat::kLinetable310;
  } else if (name == "locations311") {
    *format = LineTableFormat::kLocations311;
  } else {
    return false;
  }
  return true;
}

// What the corpus exercised, so that a corpus that stops reaching the hard
// cases fails instead of passing vacuously.
struct Coverage {
  int forward_jumps_over_255 = 0;  // adjacent ranges > 255 lines apart
  int backward_jumps_over_255 = 0;
  int ranges_over_255_bytes = 0;  // > 255 bytes of bytecode on one line
  int no_line_ranges = 0;         // line -1 (3.10+)
  int entry_kinds[16] = {};       // 3.11+ location entry codes seen
};

void CountEntryKinds(std::string_view table, Coverage* coverage) {
  for (char c : table) {
    const auto b = static_cast<uint8_t>(c);
    if (b & 0x80) {
      ++coverage->entry_kinds[(b >> 3) & 15];
    }
  }
}

// Names the interpreter in failure messages instead of a byte dump.
void PrintTo(const Interpreter& interpreter, std::ostream* os) {
  *os << interpreter.path;
}

class LineTableInterpreterTest : public ::testing::TestWithParam<Interpreter> {
};

TEST_P(LineTableInterpreterTest, MatchesInterpreterAtEveryOffset) {
  const Interpreter& interpreter = GetParam();
  std::string output;
  ASSERT_TRUE(RunAndCapture(DumpCommand(interpreter), &output))
      << interpreter.root << interpreter.path << " failed to run "
      << LINE_TABLE_DUMP_SCRIPT;

  std::string version;
  LineTableFormat format = LineTableFormat::kLnotab36;
  bool have_format = false;
  int64_t code_objects = 0;
  int64_t offsets = 0;
  int64_t mismatches = 0;
  int64_t addr2line_checked = -1;
  int64_t reported_code_objects = -1;
  Coverage coverage;

  // The current code object, from its C line until its E line.
  std::string name;
  LineTable table;
  int64_t code_length = 0;
  int64_t step = 1;

  for (std::string_view line : Split(output, '\n')) {
    const std::vector<std::string_view> f = Split(line, ' ');
    ASSERT_FALSE(f.empty());
    if (f[0] == "V") {
      ASSERT_EQ(f.size(), 3u) << line;
      version = std::string(f[1]);
      ASSERT_TRUE(ParseFormat(f[2], &format)) << line;
      have_format = true;
    } else if (f[0] == "C") {
      ASSERT_TRUE(have_format) << "no V line before " << line;
      ASSERT_EQ(f.size(), 6u) << line;
      name = std::string(f[1]);
      int64_t first_line = 0;
      std::string bytes;
      ASSERT_TRUE(ParseInt(f[2], &first_line)) << line;
      ASSERT_TRUE(ParseInt(f[3], &code_length)) << line;
      ASSERT_TRUE(ParseInt(f[4], &step) && step > 0) << line;
      ASSERT_TRUE(ParseHex(f[5], &bytes)) << line;
      table = LineTable::Decode(format, bytes, static_cast<int>(first_line));
      ++code_objects;
      if (format == LineTableFormat::kLocations311) {
        CountEntryKinds(bytes, &coverage);
      }
      const auto& ranges = table.ranges();
      for (size_t i = 0; i < ranges.size(); ++i) {
        const int64_t end = std::min<int64_t>(ranges[i].end, code_length);
        if (end - ranges[i].start > 255) {
          ++coverage.ranges_over_255_bytes;
        }
        if (ranges[i].line == -1) {
          ++coverage.no_line_ranges;
        }
        if (i > 0 && ranges[i].line != -1 && ranges[i - 1].line != -1) {
          const int64_t jump =
              int64_t{ranges[i].line} - int64_t{ranges[i - 1].line};
          if (jump > 255) {
            ++coverage.forward_jumps_over_255;
          }
          if (jump < -255) {
            ++coverage.backward_jumps_over_255;
          }
        }
      }
    } else if (f[0] == "E") {
      ASSERT_FALSE(name.empty()) << "E line without a C line";
      int64_t offset = 0;
      for (size_t i = 1; i < f.size(); ++i) {
        const size_t x = f[i].rfind('x');
        int64_t expected = 0;
        int64_t count = 0;
        ASSERT_TRUE(x != std::string_view::npos &&
                    ParseInt(f[i].substr(0, x), &expected) &&
                    ParseInt(f[i].substr(x + 1), &count))
            << f[i];
        for (int64_t k = 0; k < count; ++k, offset += step) {
          const int got = table.LineForOffset(static_cast<int>(offset));
          ++offsets;
          if (got != expected && ++mismatches <= 20) {
            ADD_FAILURE() << interpreter.path << " (" << version
                          << "): " << name << " offset " << offset
                          << ": expected " << expected << ", got " << got;
          }
        }
      }
      EXPECT_EQ(offset, (code_length + step - 1) / step * step)
          << name << ": the E line does not cover the bytecode";
      name.clear();
    } else if (f[0] == "X") {
      ADD_FAILURE() << interpreter.path << ": the interpreter's Python-level "
                    << "lines disagree with its PyCode_Addr2Line: " << line;
    } else if (f[0] == "A") {
      ASSERT_EQ(f.size(), 2u) << line;
      ASSERT_TRUE(ParseInt(f[1], &addr2line_checked)) << line;
    } else if (f[0] == "Z") {
      ASSERT_EQ(f.size(), 2u) << line;
      ASSERT_TRUE(ParseInt(f[1], &reported_code_objects)) << line;
    } else {
      FAIL() << "unexpected line: " << line;
    }
  }
  EXPECT_EQ(mismatches, 0) << "mismatches in " << interpreter.path;
  EXPECT_EQ(reported_code_objects, code_objects) << "truncated output";
  EXPECT_GT(code_objects, 300);

  // The corpus must reach the cases that need the long and chained forms.
  EXPECT_GT(coverage.forward_jumps_over_255, 0);
  EXPECT_GT(coverage.ranges_over_255_bytes, 0);
  // Compilers before 3.8 only let the line rise within a statement (2.7's
  // co_lnotab cannot even say otherwise); their signed decrements are
  // covered by line_table_test.
  const bool lines_go_back = format != LineTableFormat::kLnotab27 &&
                             version.rfind("3.6.", 0) != 0 &&
                             version.rfind("3.7.", 0) != 0;
  if (lines_go_back) {
    EXPECT_GT(coverage.backward_jumps_over_255, 0);
  }
  if (format == LineTableFormat::kLinetable310) {
    EXPECT_GT(coverage.no_line_ranges, 0);
  }
  if (format == LineTableFormat::kLocations311) {
    EXPECT_GT(coverage.no_line_ranges, 0);
    for (int code : {0, 10, 11, 12, 13, 14, 15}) {
      EXPECT_GT(coverage.entry_kinds[code], 0) << "entry code " << code;
    }
  }

  // One line per interpreter, so the log shows what was tested.
  std::printf(
      "[ line_table ] %s (Python %s): %lld code objects, %lld offsets "
      "compared, %lld of them also against PyCode_Addr2Line via ctypes\n",
      interpreter.path.c_str(), version.c_str(),
      static_cast<long long>(code_objects), static_cast<long long>(offsets),
      static_cast<long long>(addr2line_checked));
}

INSTANTIATE_TEST_SUITE_P(
    Installed, LineTableInterpreterTest, ::testing::ValuesIn(Interpreters()),
    [](const ::testing::TestParamInfo<Interpreter>& param_info) {
      return param_info.param.test_name;
    });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(LineTableInterpreterTest);

TEST(LineTableInterpreters, SomeInterpreterIsInstalled) {
  if (Interpreters().empty()) {
    GTEST_SKIP() << "no Python interpreter found under ~/.pyenv/versions or "
                    "/usr/bin; the line tables were not checked against any";
  }
  for (const Interpreter& interpreter : Interpreters()) {
    std::printf("[ line_table ] found %s\n", interpreter.path.c_str());
  }
}

}  // namespace
}  // namespace pystrobe
