// Every --help against what the parsers accept, so that they cannot drift:
// the texts are golden files (tests/data/help, UPDATE_GOLDEN=1 rewrites
// them); every option a parser compares an argument with (read from its
// source) appears in the help; every option a help defines is one the
// command does not call unknown; pystrobe --help names the CPython versions
// the README names.
#include <cstdlib>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "diff_support.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "subprocess.h"

namespace pystrobe::integration {
namespace {

using ::testing::HasSubstr;

struct HelpCase {
  std::string name;                // golden file: tests/data/help/NAME.txt
  bool diff;                       // pystrobe-diff, else pystrobe
  std::vector<std::string> words;  // before --help ("record")
  // The parser's sources, relative to the source tree.
  std::vector<std::string> sources;
};

const std::vector<HelpCase>& Cases() {
  static const auto* cases = new std::vector<HelpCase>{
      {"pystrobe", false, {}, {}},
      {"record",
       false,
       {"record"},
       {"src/cli/record.cc", "src/cli/recording_args.cc",
        "src/cli/push_args.cc", "src/diff/gate.cc"}},
      {"dump", false, {"dump"}, {"src/cli/dump.cc"}},
      {"top", false, {"top"}, {"src/cli/top.cc", "src/cli/recording_args.cc"}},
      {"pystrobe-diff", true, {}, {}},
      {"compare",
       true,
       {"compare"},
       {"tools/diff/compare_command.cc", "src/diff/gate.cc"}},
      // save and list take --store only (ParseCommon); show's own options
      // are in the same file.
      {"save", true, {"save"}, {}},
      {"list", true, {"list"}, {}},
      {"show", true, {"show"}, {"tools/diff/store_commands.cc"}},
  };
  return *cases;
}

std::string ReadSource(const std::string& relative) {
  std::ifstream in(std::string(PYSTROBE_SOURCE_DIR) + "/" + relative);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

CommandResult RunCase(const HelpCase& c, std::vector<std::string> extra) {
  std::vector<std::string> argv = {c.diff ? PystrobeDiffBinary()
                                          : PystrobeBinary()};
  argv.insert(argv.end(), c.words.begin(), c.words.end());
  argv.insert(argv.end(), extra.begin(), extra.end());
  return RunCommand(argv, absl::Seconds(30));
}

std::string Help(const HelpCase& c) {
  CommandResult r = RunCase(c, {"--help"});
  EXPECT_TRUE(r.exited && r.exit_code == 0) << c.name << ": " << r.Describe();
  EXPECT_EQ(r.err, "") << c.name;
  return r.out;
}

// Options the parser compares arguments with: `a == "--x"`, `a != "-p"`,
// `Option("--x", ...)`, `Option(args, i, "--x", ...)`, `rfind("--x=")`.
std::set<std::string> ParsedOptions(const HelpCase& c) {
  static const std::regex kCompared(
      R"re((?:==|!=|Option\w*\([^"()]*?|rfind\()\s*"(-{1,2}[a-z][a-z0-9-]*)=?")re");
  std::set<std::string> out;
  for (const std::string& file : c.sources) {
    const std::string text = ReadSource(file);
    EXPECT_FALSE(text.empty()) << file;
    for (auto it = std::sregex_iterator(text.begin(), text.end(), kCompared);
         it != std::sregex_iterator(); ++it) {
      out.insert((*it)[1]);
    }
  }
  if (c.name == "save" || c.name == "list" || c.name == "show") {
    out.insert("--store");
  }
  out.erase("-h");
  out.erase("--help");
  return out;
}

// The options a help text defines: those of its usage lines, and the
// lines "  -x, --xx ..." / "  --xx".
std::set<std::string> DefinedOptions(const std::string& help) {
  static const std::regex kDefined(
      R"re(^  (?:(-[a-zA-Z]), )?(--[a-z][a-z0-9-]*))re");
  static const std::regex kInUsage(R"re((?:^|[\s\[(|])(--?[a-z][a-z0-9-]*))re");
  std::set<std::string> out;
  bool usage = false;  // in the usage block, up to the first empty line
  for (absl::string_view line : absl::StrSplit(help, '\n')) {
    const std::string l(line);
    usage = absl::StartsWith(l, "usage:") || (usage && !l.empty());
    if (usage) {
      for (auto it = std::sregex_iterator(l.begin(), l.end(), kInUsage);
           it != std::sregex_iterator(); ++it) {
        out.insert((*it)[1]);
      }
      continue;
    }
    std::smatch m;
    if (std::regex_search(l, m, kDefined)) {
      if (m[1].matched) out.insert(m[1]);
      out.insert(m[2]);
    }
  }
  return out;
}

// Whether `option` appears in `help` as a word of its own.
bool Mentions(const std::string& help, const std::string& option) {
  const std::regex word("(^|[^a-z0-9-])" + option + "([^a-z0-9-]|$)");
  return std::regex_search(help, word);
}

TEST(HelpTest, MatchesTheGoldenFiles) {
  const bool update = std::getenv("UPDATE_GOLDEN") != nullptr;
  for (const HelpCase& c : Cases()) {
    const std::string help = Help(c);
    const std::string path = std::string(PYSTROBE_SOURCE_DIR) +
                             "/tests/data/help/" + c.name + ".txt";
    if (update) {
      std::ofstream(path) << help;
      continue;
    }
    std::ifstream in(path);
    std::stringstream golden;
    golden << in.rdbuf();
    EXPECT_EQ(help, golden.str()) << c.name << " --help differs from " << path
                                  << " (UPDATE_GOLDEN=1 rewrites it)";
  }
}

TEST(HelpTest, EveryOptionTheParserAcceptsIsInTheHelp) {
  for (const HelpCase& c : Cases()) {
    const std::string help = Help(c);
    const std::set<std::string> parsed = ParsedOptions(c);
    if (!c.sources.empty()) {
      EXPECT_GE(parsed.size(), 2u) << c.name << ": no options read from "
                                   << absl::StrJoin(c.sources, ", ");
    }
    for (const std::string& option : parsed) {
      EXPECT_TRUE(Mentions(help, option))
          << c.name << " accepts " << option << " but its --help lacks it";
    }
  }
}

TEST(HelpTest, EveryOptionTheHelpDefinesIsAccepted) {
  for (const HelpCase& c : Cases()) {
    if (c.words.empty()) continue;  // the command lists, not options
    ScopedTempDir dir;
    const std::set<std::string> defined = DefinedOptions(Help(c));
    EXPECT_FALSE(defined.empty()) << c.name << " --help defines no option";
    for (const std::string& option : defined) {
      // Alone, each fails for want of a target or a value, never as unknown.
      std::vector<std::string> args = {option};
      if (c.diff) args = {"--store", dir.path() + "/store", option};
      CommandResult r = RunCase(c, args);
      EXPECT_THAT(r.err, ::testing::Not(
                             HasSubstr("unknown argument '" + option + "'")));
      EXPECT_THAT(r.err,
                  ::testing::Not(HasSubstr("unknown option '" + option + "'")))
          << c.name << " " << option << ": " << r.Describe();
    }
  }
}

TEST(HelpTest, CommandsAreAllListed) {
  const std::regex kCommand(R"re(command == "([a-z]+)")re");
  for (const auto& [name, main] :
       {std::pair<std::string, std::string>{"pystrobe", "src/cli/main.cc"},
        {"pystrobe-diff", "tools/diff/main.cc"}}) {
    const HelpCase& c = name == "pystrobe" ? Cases()[0] : Cases()[4];
    const std::string help = Help(c);
    const std::string text = ReadSource(main);
    int commands = 0;
    for (auto it = std::sregex_iterator(text.begin(), text.end(), kCommand);
         it != std::sregex_iterator(); ++it, ++commands) {
      EXPECT_THAT(help, HasSubstr("  " + (*it)[1].str() + " "))
          << name << " --help does not list " << (*it)[1];
    }
    EXPECT_GE(commands, 3) << main;
  }
}

TEST(HelpTest, PystrobeNamesTheVersionsTheReadmeNames) {
  const std::string readme = ReadSource("README.md");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      readme, m, std::regex(R"re(CPython 2\.7\s+and 3\.6 to 3\.(\d+))re")))
      << "README.md no longer says which versions";
  EXPECT_THAT(Help(Cases()[0]),
              HasSubstr("CPython 2.7 and 3.6-3." + m[1].str()));
}

TEST(HelpTest, DiffListsEveryExitStatusCompareHas) {
  EXPECT_THAT(Help(Cases()[4]), HasSubstr("3 inconclusive"));
  EXPECT_THAT(Help(Cases()[5]), HasSubstr("3 inconclusive"));
}

}  // namespace
}  // namespace pystrobe::integration
