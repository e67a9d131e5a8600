#include "native_support.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "record_support.h"

namespace pystrobe::integration {
namespace {

constexpr char kExtSource[] =
    PYSTROBE_SOURCE_DIR "/tests/workloads/native_ext.c";

}  // namespace

std::vector<Interpreter> NativeInterpreters() {
  std::vector<Interpreter> out;
  for (Interpreter& py : FindInterpreters()) {
    if (py.major == 2 || py.minor >= 6) out.push_back(std::move(py));
  }
  return out;
}

absl::StatusOr<std::string> BuildExtension(const Interpreter& py,
                                           const std::string& dir) {
  CommandResult paths = RunCommand(py.Command(
      {"-c",
       "import sysconfig; p = sysconfig.get_paths(); print(p['include']); "
       "print(p['platinclude']); "
       "print(sysconfig.get_config_var('EXT_SUFFIX'))"}));
  if (!paths.exited || paths.exit_code != 0) {
    return absl::InternalError("sysconfig: " + paths.Describe());
  }
  std::vector<std::string> lines =
      absl::StrSplit(absl::StripTrailingAsciiWhitespace(paths.out), '\n');
  if (lines.size() != 3) return absl::InternalError("sysconfig: " + paths.out);
  const std::string ext = dir + "/ext";
  mkdir(ext.c_str(), 0755);
  std::vector<std::string> gcc = {"/usr/bin/gcc", "-shared", "-fPIC", "-O1",
                                  "-g"};
  for (const std::string& include : {lines[0], lines[1]}) {
    gcc.push_back("-I" + py.root + include);
  }
  if (py.chrooted()) {
    // Debian's pyconfig.h includes <x86_64-linux-gnu/pythonX.Y/pyconfig.h>:
    // give gcc that folder of the root without the root's libc headers.
    const std::string version(std::filesystem::path(lines[0]).filename());
    const std::string multiarch = dir + "/inc/x86_64-linux-gnu";
    mkdir((dir + "/inc").c_str(), 0755);
    mkdir(multiarch.c_str(), 0755);
    symlink((py.root + "/usr/include/x86_64-linux-gnu/" + version).c_str(),
            (multiarch + "/" + version).c_str());
    gcc.push_back("-I" + dir + "/inc");
  }
  if (!FileExists(py.root + lines[0] + "/Python.h")) {
    return absl::NotFoundError("no Python.h in " + py.root + lines[0]);
  }
  // 2.7 has no EXT_SUFFIX (sysconfig says None): plain .so.
  const std::string suffix = lines[2] == "None" ? ".so" : lines[2];
  gcc.insert(gcc.end(), {kExtSource, "-o", ext + "/native_ext" + suffix});
  CommandResult built = RunCommand(gcc);
  if (!built.exited || built.exit_code != 0) {
    return absl::InternalError("gcc: " + built.Describe());
  }
  return py.TargetPath(ext);
}

absl::StatusOr<Started> StartNativeBurn(const Interpreter& py,
                                        const ScopedTempDir& dir,
                                        const std::vector<std::string>& args) {
  absl::StatusOr<std::string> ext = BuildExtension(py, dir.path());
  if (!ext.ok()) return ext.status();
  const std::string workload = StageWorkload(py, dir.path(), "native_burn.py");
  if (workload.empty()) return absl::InternalError("cannot stage workload");
  std::vector<std::string> argv = {"-S", "-E", workload, *ext};
  const std::string ready = dir.path() + "/ready";
  for (const std::string& a : args) {
    argv.push_back(a == "READY" ? py.TargetPath(ready) : a);
  }
  absl::StatusOr<ChildProcess> child = ChildProcess::Start(
      py.Command(argv), {{"LC_ALL", "C.UTF-8"}}, dir.path() + "/target.log");
  if (!child.ok()) return child.status();
  return Started{*std::move(child), ready};
}

}  // namespace pystrobe::integration
