#include "json_writer.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "pystrobe/base/text.h"

namespace pystrobe {

void JsonWriter::Separate() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!has_element_.empty()) {
    if (has_element_.back()) out_->push_back(',');
    has_element_.back() = true;
  }
}

void JsonWriter::Open(char c) {
  Separate();
  out_->push_back(c);
  has_element_.push_back(false);
}

void JsonWriter::Close(char c) {
  has_element_.pop_back();
  out_->push_back(c);
}

void JsonWriter::Key(std::string_view key) {
  String(key);
  out_->push_back(':');
  after_key_ = true;
}

void JsonWriter::String(std::string_view value) {
  Separate();
  out_->append(JsonQuoted(value));
}

void JsonWriter::Int(int64_t value) {
  Separate();
  absl::StrAppend(out_, value);
}

void JsonWriter::Uint(uint64_t value) {
  Separate();
  absl::StrAppend(out_, value);
}

void JsonWriter::Bool(bool value) {
  Separate();
  out_->append(value ? "true" : "false");
}

void JsonWriter::Null() {
  Separate();
  out_->append("null");
}

}  // namespace pystrobe
