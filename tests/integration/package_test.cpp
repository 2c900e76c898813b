// The Debian package: `cpack -G DEB` on this build tree gives
// routemeter_<version>_<arch>.deb holding the binaries, the systemd unit and
// the config as a conffile, depending on the runtime libraries, and the
// binary extracted from it validates the config it ships.
//
// cpack writes its staging tree and the package under a temporary directory
// (-B), never into the build tree, so this can run next to other tests.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "harness.hpp"

using namespace routemeter::test;

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Runs a command found through PATH.
CommandResult run_tool(const std::string& tool, std::vector<std::string> args,
                       milliseconds timeout = 30s) {
  args.insert(args.begin(), {"-c", "exec \"$0\" \"$@\"", tool});
  return run_command("/bin/sh", args, timeout);
}

// `text` as a regex matching itself.
std::string regex_escape(const std::string& text) {
  return std::regex_replace(text, std::regex(R"([.+*?^$()[\]{}|\\])"), R"(\$&)");
}

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

// The version `routemeter --version` reports: "routemeter 0.1.0 (revision ...".
std::string binary_version() {
  CommandResult r = run_command(ROUTEMETER_BINARY, {"--version"});
  static const std::regex kVersion(R"(^routemeter ([0-9][0-9A-Za-z.+~-]*) )");
  std::smatch m;
  const std::string line = first_line(r.out);
  if (!std::regex_search(line, m, kVersion)) return "";
  return m[1].str();
}

// One .deb built once for every test case of this file (cpack takes seconds).
struct Package {
  TempDir dir;
  std::string deb;   // path of the .deb, empty if cpack failed
  std::string log;   // cpack's output
  std::string root;  // where it was extracted with dpkg -x
};

void build(Package& pkg) {
  // CPACK_CMAKE_GENERATOR=Ninja: the Makefile generator would first run the
  // "preinstall" target, i.e. build everything not yet built (benchmarks...)
  // in the shared build tree. The install rules themselves do not depend on
  // the generator, and integration_tests already depends on both binaries.
  CommandResult r =
      run_tool("cpack",
               {"-G", "DEB", "--config", std::string(ROUTEMETER_BUILD_DIR) + "/CPackConfig.cmake",
                "-B", pkg.dir.path() + "/out", "-D", "CPACK_CMAKE_GENERATOR=Ninja"},
               120s);
  pkg.log = r.status.text() + "\n" + r.out + r.err;
  if (!r.status.ok()) return;
  for (const auto& e : std::filesystem::directory_iterator(pkg.dir.path() + "/out")) {
    if (e.path().extension() == ".deb") pkg.deb = e.path().string();
  }
  pkg.root = pkg.dir.path() + "/root";
  CommandResult x = run_tool("dpkg", {"-x", pkg.deb, pkg.root});
  pkg.log += "dpkg -x: " + x.status.text() + x.err;
}

Package& package() {
  static Package pkg;
  static const bool built = (build(pkg), true);
  (void)built;
  return pkg;
}

}  // namespace

// One test case, so that ctest runs cpack once (each TEST_CASE is its own
// ctest process; the package is built once per process).
TEST_CASE("cpack builds a .deb that installs and runs routemeter", "[package]") {
  Package& pkg = package();
  INFO(pkg.log);
  REQUIRE(!pkg.deb.empty());
  SECTION("cpack builds routemeter_<version>_<arch>.deb from the build tree") {
    const std::string version = binary_version();
    REQUIRE(!version.empty());
    const std::string arch = first_line(run_tool("dpkg", {"--print-architecture"}).out);
    CHECK(std::filesystem::path(pkg.deb).filename().string() ==
          "routemeter_" + version + "_" + arch + ".deb");

    CommandResult field =
        run_tool("dpkg-deb", {"-f", pkg.deb, "Package", "Version", "Section", "Architecture"});
    CHECK(field.out == "Package: routemeter\nVersion: " + version + "\nSection: net\n" +
                           "Architecture: " + arch + "\n");
  }
  SECTION("the package holds the binaries, the unit, the config, docs and examples") {
    CommandResult r = run_tool("dpkg-deb", {"-c", pkg.deb});
    REQUIRE(r.status.ok());
    INFO(r.out);
    // "-rwxr-xr-x root/root  1234 2024-01-01 00:00 ./usr/bin/routemeter"
    auto entry = [&](const std::string& mode, const std::string& path) {
      const std::regex re("(^|\n)" + mode + R"( root/root +\d+ [0-9-]+ [0-9:]+ \.)" + path + "\n");
      return std::regex_search(r.out, re);
    };
    CHECK(entry("-rwxr-xr-x", "/usr/bin/routemeter"));
    CHECK(entry("-rwxr-xr-x", "/usr/bin/routemeter-demo-backend"));
    CHECK(entry("-rw-r--r--", "/lib/systemd/system/routemeter\\.service"));
    // Every unit in systemd/ is shipped.
    for (const auto& e :
         std::filesystem::directory_iterator(std::string(ROUTEMETER_SOURCE_DIR) + "/systemd")) {
      if (e.path().extension() != ".service") continue;
      const std::string name = e.path().filename().string();
      INFO(name);
      CHECK(std::regex_search(
          r.out, std::regex(R"( \./lib/systemd/system/)" + regex_escape(name) + "\n")));
    }
    CHECK(entry("-rw-r--r--", "/etc/routemeter/routemeter\\.toml"));
    CHECK(entry("-rw-r--r--", "/usr/share/routemeter/routemeter\\.toml"));
    CHECK(entry("-rw-r--r--", "/usr/share/doc/routemeter/configuration\\.md"));
    CHECK(entry("-rw-r--r--", "/usr/share/doc/routemeter/operations\\.md"));

    // What was packaged is what is in the source tree.
    const std::string src = ROUTEMETER_SOURCE_DIR;
    CHECK(read_text(pkg.root + "/lib/systemd/system/routemeter.service") ==
          read_text(src + "/systemd/routemeter.service"));
    CHECK(read_text(pkg.root + "/etc/routemeter/routemeter.toml") ==
          read_text(src + "/conf/routemeter.toml"));
  }
  SECTION("the package depends on the runtime libraries and keeps the config as a conffile") {
    CommandResult depends = run_tool("dpkg-deb", {"-f", pkg.deb, "Depends"});
    INFO(depends.out);
    for (const char* lib :
         {"libc6", "libstdc++6", "libgcc-s1", "libevent-2.1-7", "libprometheus-cpp-core1.0",
          "libtomlplusplus3", "libsystemd0", "zlib1g"}) {
      INFO(lib);
      CHECK(
          std::regex_search(depends.out, std::regex("(^|, )" + regex_escape(lib) + "( |,|\n|$)")));
    }
    CommandResult conffiles = run_tool("dpkg-deb", {"-I", pkg.deb, "conffiles"});
    CHECK(conffiles.out == "/etc/routemeter/routemeter.toml\n");
    CommandResult info = run_tool("dpkg-deb", {"-I", pkg.deb});
    INFO(info.out);
    // "     452 bytes,    12 lines   *  postinst             #!/bin/sh" (* = executable)
    for (const char* member :
         {R"(\* +postinst )", R"(\* +prerm )", R"(\* +postrm )", R"(lines +conffiles )"}) {
      INFO(member);
      CHECK(std::regex_search(info.out, std::regex(member)));
    }
  }
  SECTION("the packaged binary accepts the packaged config") {
    const std::string config = pkg.root + "/etc/routemeter/routemeter.toml";
    CommandResult r =
        run_command(pkg.root + "/usr/bin/routemeter", {"--check-config", "--config", config});
    INFO(r.err);
    CHECK(r.status.ok());
    // "PATH: ok", then the series bound of the config (cardinality.hpp).
    CHECK(r.out.rfind(config + ": ok\nseries bound (", 0) == 0);
    CHECK(r.out.find("\n  total ") != std::string::npos);
    CommandResult v = run_command(pkg.root + "/usr/bin/routemeter", {"--version"});
    CHECK(first_line(v.out).rfind("routemeter " + binary_version() + " (revision ", 0) == 0);
  }
}
