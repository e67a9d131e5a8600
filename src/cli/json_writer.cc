#include "json_writer.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

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
  out_->push_back('"');
  for (char c : value) {
    switch (c) {
      case '"':
        out_->append("\\\"");
        break;
      case '\\':
        out_->append("\\\\");
        break;
      case '\n':
        out_->append("\\n");
        break;
      case '\r':
        out_->append("\\r");
        break;
      case '\t':
        out_->append("\\t");
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          absl::StrAppendFormat(out_, "\\u%04x", static_cast<int>(c));
        } else {
          out_->push_back(c);
        }
    }
  }
  out_->push_back('"');
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

}  // namespace pystrobe
