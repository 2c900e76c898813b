// Library versions for --version and GET /version come from the libraries.
#include "routemeter/versions.hpp"

#include <event2/event.h>
#include <openssl/crypto.h>
#include <toml++/toml.h>
#include <zlib.h>

#include <catch2/catch.hpp>
#include <string>

using namespace routemeter;

TEST_CASE("versions: every library, in order, each with a version", "[versions]") {
  const std::vector<LibraryVersion> libs = library_versions();
  const char* const names[] = {"libevent", "prometheus-cpp", "tomlplusplus",
                               "zlib",     "libsystemd",     "openssl"};
  REQUIRE(libs.size() == std::size(names));
  for (size_t i = 0; i < libs.size(); ++i) {
    INFO(names[i]);
    CHECK(libs[i].name == names[i]);
    CHECK_FALSE(libs[i].version.empty());
  }
}

TEST_CASE("versions: run-time versions are the loaded libraries' own", "[versions]") {
  const std::vector<LibraryVersion> libs = library_versions();
  CHECK(libs[0].version == event_get_version());
  CHECK(libs[2].version == std::to_string(TOML_LIB_MAJOR) + "." + std::to_string(TOML_LIB_MINOR) +
                               "." + std::to_string(TOML_LIB_PATCH));
  CHECK(libs[3].version == zlibVersion());
  CHECK(libs[5].version == OpenSSL_version(OPENSSL_VERSION_STRING));
  // Configure-time versions: found on a Debian build, never a placeholder.
  CHECK(libs[1].version != "unknown");
  CHECK(libs[4].version != "unknown");
}
