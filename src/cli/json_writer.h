// A minimal streaming JSON writer for pystrobe's own output (dump --json).
// It escapes strings per RFC 8259 and passes UTF-8 through unchanged.
//
//   JsonWriter json(stdout);
//   json.BeginObject();
//   json.Key("pid"); json.Int(123);
//   json.EndObject();
#ifndef PYSTROBE_SRC_CLI_JSON_WRITER_H_
#define PYSTROBE_SRC_CLI_JSON_WRITER_H_

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace pystrobe {

class JsonWriter {
 public:
  explicit JsonWriter(std::string* out) : out_(out) {}

  void BeginObject() { Open('{'); }
  void EndObject() { Close('}'); }
  void BeginArray() { Open('['); }
  void EndArray() { Close(']'); }
  void Key(std::string_view key);
  void String(std::string_view value);
  void Int(int64_t value);
  void Uint(uint64_t value);
  void Bool(bool value);
  void Null();

 private:
  void Separate();
  void Open(char c);
  void Close(char c);

  std::string* out_;
  // One entry per open container: whether it already holds an element.
  std::vector<bool> has_element_;
  bool after_key_ = false;
};

}  // namespace pystrobe

#endif  // PYSTROBE_SRC_CLI_JSON_WRITER_H_
