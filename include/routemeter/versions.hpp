// The versions of the libraries routemeter runs with, as `routemeter --version`
// and GET /version report them. libevent and zlib say theirs at run time (the
// shared library actually loaded); toml++ through its headers' version macros;
// prometheus-cpp and libsystemd expose no version in their headers, so CMake
// takes it from their packages at configure time (build_info.hpp). Stateless;
// any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace routemeter {

struct LibraryVersion {
  std::string_view name;  // "libevent", "prometheus-cpp", "tomlplusplus", "zlib", "libsystemd"
  std::string version;
};

// In that order, every entry non-empty ("unknown" when the build could not tell).
std::vector<LibraryVersion> library_versions();

}  // namespace routemeter
