// The version of xplain-fast, defined here once: CMake's project version, the Python package's
// version (pyproject.toml reads these three lines) and xplain_fast.__version__ (the compiled
// module reports it) all come from it.
#pragma once

#define XPLAIN_VERSION_MAJOR 0
#define XPLAIN_VERSION_MINOR 1
#define XPLAIN_VERSION_PATCH 0

#define XPLAIN_STRINGIFY_DIGITS(x) #x
#define XPLAIN_STRINGIFY(x) XPLAIN_STRINGIFY_DIGITS(x)
/// "MAJOR.MINOR.PATCH"
#define XPLAIN_VERSION_STRING \
  XPLAIN_STRINGIFY(XPLAIN_VERSION_MAJOR) "." XPLAIN_STRINGIFY(XPLAIN_VERSION_MINOR) "." XPLAIN_STRINGIFY(XPLAIN_VERSION_PATCH)

namespace xplain {

/// The version as a number, MAJOR * 10000 + MINOR * 100 + PATCH, for compile-time comparisons.
inline constexpr int kVersion = XPLAIN_VERSION_MAJOR * 10000 + XPLAIN_VERSION_MINOR * 100 + XPLAIN_VERSION_PATCH;

}  // namespace xplain
