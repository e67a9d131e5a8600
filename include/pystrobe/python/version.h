// A CPython version, as detected in the target.
#ifndef PYSTROBE_PYTHON_VERSION_H_
#define PYSTROBE_PYTHON_VERSION_H_

#include <cstdint>
#include <string>

namespace pystrobe {

struct PythonVersion {
  int major = 0;
  int minor = 0;
  int micro = 0;
  bool debug = false;  // a --with-pydebug build (Py_DEBUG)
  // A --disable-gil build (Py_GIL_DISABLED, "3.13t"): its objects have a
  // larger header, so no offset of a default build applies.
  bool free_threaded = false;

  // "3.12.1" (the flavour is not part of it, as in sys.version_info)
  std::string ToString() const;
  // PY_VERSION_HEX without the release level: 0x030C0100 for 3.12.1.
  uint32_t Hex() const {
    return (static_cast<uint32_t>(major) << 24) |
           (static_cast<uint32_t>(minor) << 16) |
           (static_cast<uint32_t>(micro) << 8);
  }
  bool AtLeast(int maj, int min) const {
    return major > maj || (major == maj && minor >= min);
  }
};

}  // namespace pystrobe

#endif  // PYSTROBE_PYTHON_VERSION_H_
