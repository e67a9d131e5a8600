#include "pystrobe/python/version.h"

#include "absl/strings/str_format.h"

namespace pystrobe {

std::string PythonVersion::ToString() const {
  return absl::StrFormat("%d.%d.%d", major, minor, micro);
}

}  // namespace pystrobe
