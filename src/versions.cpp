#include "routemeter/versions.hpp"

#include <event2/event.h>
#include <openssl/crypto.h>
#include <toml++/toml.h>
#include <zlib.h>

#include "routemeter/build_info.hpp"

namespace routemeter {
namespace {

std::string or_unknown(std::string_view version) {
  return version.empty() ? std::string("unknown") : std::string(version);
}

}  // namespace

std::vector<LibraryVersion> library_versions() {
  return {
      {"libevent", or_unknown(event_get_version())},
      {"prometheus-cpp", or_unknown(build::kPrometheusCppVersion)},
      {"tomlplusplus", std::to_string(TOML_LIB_MAJOR) + "." + std::to_string(TOML_LIB_MINOR) + "." +
                           std::to_string(TOML_LIB_PATCH)},
      {"zlib", or_unknown(zlibVersion())},
      {"libsystemd", or_unknown(build::kLibsystemdVersion)},
      {"openssl", or_unknown(OpenSSL_version(OPENSSL_VERSION_STRING))},
  };
}

}  // namespace routemeter
