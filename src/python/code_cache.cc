#include "code_cache.h"

#include <string>
#include <utility>

#include "py_string.h"
#include "pystrobe/base/errors.h"
#include "pystrobe/base/status_macros.h"

namespace pystrobe {
namespace {

LineTableFormat FormatFor(const PythonVersion& v) {
  if (v.major == 2) return LineTableFormat::kLnotab27;
  if (!v.AtLeast(3, 10)) return LineTableFormat::kLnotab36;
  if (!v.AtLeast(3, 11)) return LineTableFormat::kLinetable310;
  return LineTableFormat::kLocations311;
}

}  // namespace

CodeCache::CodeCache(const Layout* layout, const PythonVersion* version,
                     size_t max_entries)
    : layout_(layout),
      version_(version),
      max_entries_(max_entries),
      format_(FormatFor(*version)),
      linetable_field_(version->AtLeast(3, 10) ? Field::kCodeLinetable
                                               : Field::kCodeLnotab) {}

absl::StatusOr<CodeCache::Identity> CodeCache::ReadIdentity(
    const RemoteStruct& code) const {
  Identity id;
  PYSTROBE_ASSIGN_OR_RETURN(id.name,
                            code.Get<uint64_t>(*layout_, Field::kCodeName));
  PYSTROBE_ASSIGN_OR_RETURN(id.filename,
                            code.Get<uint64_t>(*layout_, Field::kCodeFilename));
  PYSTROBE_ASSIGN_OR_RETURN(id.linetable,
                            code.Get<uint64_t>(*layout_, linetable_field_));
  PYSTROBE_ASSIGN_OR_RETURN(
      id.first_line, code.Get<int32_t>(*layout_, Field::kCodeFirstlineno));
  if (layout_->Has(Field::kCodeQualname)) {
    PYSTROBE_ASSIGN_OR_RETURN(
        id.qualname, code.Get<uint64_t>(*layout_, Field::kCodeQualname));
  }
  return id;
}

absl::StatusOr<std::shared_ptr<const CodeInfo>> CodeCache::Decode(
    RemoteMemory& memory, const RemoteStruct& code, const Identity& id) const {
  auto info = std::make_shared<CodeInfo>();
  if (layout_->Has(Field::kCodeCodeAdaptive)) {
    PYSTROBE_ASSIGN_OR_RETURN(info->code_units,
                              code.Get<int64_t>(*layout_, Field::kVarObSize));
  }
  if (layout_->Has(Field::kCodeFirstTraceable)) {
    PYSTROBE_ASSIGN_OR_RETURN(
        info->first_traceable,
        code.Get<int32_t>(*layout_, Field::kCodeFirstTraceable));
  }
  PYSTROBE_ASSIGN_OR_RETURN(info->name,
                            ReadPyString(memory, *layout_, *version_, id.name));
  PYSTROBE_ASSIGN_OR_RETURN(
      info->filename, ReadPyString(memory, *layout_, *version_, id.filename));
  if (id.qualname != 0) {
    PYSTROBE_ASSIGN_OR_RETURN(
        info->qualname, ReadPyString(memory, *layout_, *version_, id.qualname));
  }
  info->first_line = id.first_line;
  PYSTROBE_ASSIGN_OR_RETURN(std::string table,
                            ReadPyBytes(memory, *layout_, id.linetable));
  info->lines = LineTable::Decode(format_, table, id.first_line);
  return info;
}

absl::StatusOr<std::shared_ptr<const CodeInfo>> CodeCache::Get(
    RemoteMemory& memory, const RemoteStruct& code) {
  PYSTROBE_ASSIGN_OR_RETURN(Identity id, ReadIdentity(code));
  auto it = entries_.find(code.address());
  if (it != entries_.end() && it->second.identity == id) {
    it->second.generation = generation_;
    return it->second.info;
  }
  PYSTROBE_ASSIGN_OR_RETURN(std::shared_ptr<const CodeInfo> info,
                            Decode(memory, code, id));
  ++decodes_;
  if (entries_.size() >= max_entries_) entries_.clear();
  entries_[code.address()] = Entry{id, info, generation_};
  return info;
}

}  // namespace pystrobe
