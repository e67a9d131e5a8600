// Text helpers shared by every writer of JSON (dump --json, speedscope,
// pystrobe-diff reports, baseline metadata) and XML (flame graphs).
//
// Names read from a target are not always valid UTF-8 (2.7 file names are
// bytes; surrogate-escaped names exist), and JSON and XML require it: invalid
// sequences become U+FFFD.
//
//   std::string json = "{\"name\": " + JsonQuoted(name) + "}";
#ifndef PYSTROBE_BASE_TEXT_H_
#define PYSTROBE_BASE_TEXT_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace pystrobe {

inline constexpr std::string_view kUtf8Replacement = "\xEF\xBF\xBD";  // U+FFFD

// Length of the valid UTF-8 sequence starting at s[i] (1 to 4), or 0 when
// it is invalid (bad lead byte, truncated, overlong, surrogate, > U+10FFFF).
size_t Utf8SequenceLength(std::string_view s, size_t i);

// Appends `s` escaped for the inside of a JSON string (no quotes added).
void AppendJsonEscaped(std::string_view s, std::string* out);

// `s` as a quoted JSON string.
std::string JsonQuoted(std::string_view s);

// The last component of a path ("libpython3.12.so.1.0" of
// "/usr/lib/libpython3.12.so.1.0"); the path itself when it has no slash.
std::string_view Basename(std::string_view path);

// Command lines: if args[*i] is option `name` with a value ("--name V" or
// "--name=V"), stores the value, leaves *i on the option's last word and
// returns true; `*error` says when the value is missing. False otherwise.
bool MatchOptionValue(const std::vector<std::string>& args, size_t* i,
                      const char* name, std::string* value, std::string* error);

}  // namespace pystrobe

#endif  // PYSTROBE_BASE_TEXT_H_
