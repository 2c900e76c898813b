// The systemd side of operating routemeter: the unit files in systemd/ pass
// `systemd-analyze verify`, routemeter.service stays hardened (exposure <= 2.0
// and a syscall allow list the binary actually fits in), and the binary speaks
// the sd_notify protocol Type=notify relies on (READY=1, RELOADING=1, STOPPING=1).
//
// systemd need not be running: systemd-analyze works offline, the notify
// socket is a datagram socket the test binds itself.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "harness.hpp"

using namespace routemeter::test;

namespace {

const std::string kUnitDir = std::string(ROUTEMETER_SOURCE_DIR) + "/systemd";

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string replace_all(std::string text, std::string_view from, std::string_view to) {
  for (size_t pos = text.find(from); pos != std::string::npos;
       pos = text.find(from, pos + to.size())) {
    text.replace(pos, from.size(), to);
  }
  return text;
}

// systemd-analyze found through PATH (it lives in /usr/bin or /bin).
CommandResult systemd_analyze(std::vector<std::string> args) {
  args.insert(args.begin(), {"-c", "exec systemd-analyze \"$@\"", "systemd-analyze"});
  return run_command("/bin/sh", args);
}

// The unit files shipped in systemd/, sorted.
std::vector<std::string> unit_files() {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(kUnitDir)) {
    if (e.path().extension() == ".service") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// A copy of a unit whose ExecStart= points at this build's binaries, since
// `verify` insists the command exists. A template ("name@.service") becomes
// the instance "name@car.service": verify refuses bare templates.
std::string instantiate_for_build(const TempDir& dir, const std::string& unit_path) {
  std::string text = read_text(unit_path);
  // The longer name first: "/usr/bin/routemeter" is a prefix of it.
  text = replace_all(text, "/usr/bin/routemeter-demo-backend", ROUTEMETER_DEMO_BACKEND);
  text = replace_all(text, "/usr/bin/routemeter", ROUTEMETER_BINARY);
  std::string name = std::filesystem::path(unit_path).filename().string();
  name = replace_all(name, "@.service", "@car.service");
  return dir.write(name, text);
}

// The syscalls of a set such as "@system-service", nested sets expanded,
// from `systemd-analyze syscall-filter` (the installed systemd's own tables).
class SyscallSets {
 public:
  SyscallSets() {
    CommandResult r = systemd_analyze({"syscall-filter"});
    INFO(r.err);
    REQUIRE(r.status.ok());
    std::istringstream in(r.out);
    std::string line;
    std::string current;
    while (std::getline(in, line)) {
      if (!line.empty() && line[0] == '@') {
        current = line.substr(0, line.find_first_of(" \t"));
        continue;
      }
      const size_t start = line.find_first_not_of(" \t");
      if (current.empty() || start == std::string::npos || line[start] == '#') continue;
      sets_[current].push_back(line.substr(start, line.find_first_of(" \t", start) - start));
    }
  }
  std::set<std::string> expand(const std::string& set) const {
    std::set<std::string> out;
    expand_into(set, out, 0);
    return out;
  }

 private:
  void expand_into(const std::string& set, std::set<std::string>& out, int depth) const {
    auto it = sets_.find(set);
    if (it == sets_.end() || depth > 8) return;
    for (const std::string& member : it->second) {
      if (member[0] == '@') {
        expand_into(member, out, depth + 1);
      } else {
        out.insert(member);
      }
    }
  }
  std::map<std::string, std::vector<std::string>> sets_;
};

// A notify socket like the one systemd gives a Type=notify service.
class NotifySocket {
 public:
  explicit NotifySocket(std::string path) : path_(std::move(path)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    REQUIRE(path_.size() < sizeof addr.sun_path);
    std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
    REQUIRE(fd_ >= 0);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  }
  ~NotifySocket() {
    if (fd_ >= 0) ::close(fd_);
  }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  std::string env() const { return "NOTIFY_SOCKET=" + path_; }

  // The next datagram, or std::nullopt once `timeout` passed without one.
  std::optional<std::string> receive(milliseconds timeout = kDefaultTimeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return std::nullopt;
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0) return std::nullopt;
    return std::string(buf, static_cast<size_t>(n));
  }

 private:
  std::string path_;
  int fd_ = -1;
};

std::string minimal_config(const std::string& upstream, const std::string& access = "off") {
  return "[server]\nlisten = [\"127.0.0.1:0\"]\nworkers = 1\ndrain_timeout = \"2s\"\n"
         "[admin]\nlisten = \"127.0.0.1:0\"\n[log]\naccess = \"" +
         access + "\"\n[[upstream]]\nname = \"app\"\nservers = [\"" + upstream +
         "\"]\n[[route]]\nname = \"all\"\npath_prefix = \"/\"\nupstream = \"app\"\n";
}

}  // namespace

TEST_CASE("every unit in systemd/ passes systemd-analyze verify without a warning", "[systemd]") {
  const std::vector<std::string> units = unit_files();
  REQUIRE(std::count(units.begin(), units.end(), kUnitDir + "/routemeter.service") == 1);
  TempDir dir;
  for (const std::string& unit : units) {
    const std::string copy = instantiate_for_build(dir, unit);
    CommandResult r = systemd_analyze({"verify", "--man=no", copy});
    INFO(unit << " as " << copy << "\nstdout: " << r.out << "\nstderr: " << r.err);
    CHECK(r.status.ok());
    CHECK(r.err.empty());  // unknown keys and bad values are only warnings
  }
}

TEST_CASE("systemd-analyze verify rejects a unit whose command does not exist", "[systemd]") {
  // Guards the test above: verify must actually look at ExecStart=.
  TempDir dir;
  std::string text = read_text(kUnitDir + "/routemeter.service");
  const std::string path = dir.write(
      "routemeter.service", replace_all(text, "/usr/bin/routemeter", dir.path() + "/missing"));
  CommandResult r = systemd_analyze({"verify", "--man=no", path});
  CHECK_FALSE(r.status.ok());
  CHECK(r.err.find("is not executable") != std::string::npos);
}

TEST_CASE("routemeter.service is hardened to an exposure level of at most 2.0", "[systemd]") {
  CommandResult r = systemd_analyze(
      {"security", "--offline=true", "--no-pager", kUnitDir + "/routemeter.service"});
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  // Exit status is 0 unless the level exceeds --threshold (default 100).
  REQUIRE(r.status.ok());
  static const std::regex kLevel(R"(Overall exposure level for routemeter\.service: ([0-9.]+))");
  std::smatch m;
  REQUIRE(std::regex_search(r.out, m, kLevel));
  const double level = std::stod(m[1].str());
  CHECK(level <= 2.0);
  CHECK(level > 0.0);
  // The protections docs/operations.md ("Hardening lines") names are passed checks.
  for (const char* check :
       {"\xE2\x9C\x93 User=/DynamicUser=", "\xE2\x9C\x93 NoNewPrivileges=",
        "\xE2\x9C\x93 ProtectSystem=", "\xE2\x9C\x93 ProtectHome=",
        "\xE2\x9C\x93 CapabilityBoundingSet=~CAP_SYS_ADMIN",
        "\xE2\x9C\x93 SystemCallFilter=~@mount", "\xE2\x9C\x93 MemoryDenyWriteExecute=",
        "\xE2\x9C\x93 RestrictAddressFamilies=~AF_NETLINK"}) {
    INFO(check);
    CHECK(r.out.find(check) != std::string::npos);
  }
}

TEST_CASE("routemeter.service keeps the settings its operation depends on", "[systemd]") {
  const std::string unit = read_text(kUnitDir + "/routemeter.service");
  for (const char* line : {
           "Type=notify\n",
           "NotifyAccess=main\n",
           "ExecStart=/usr/bin/routemeter --config /etc/routemeter/routemeter.toml\n",
           "ExecReload=/bin/kill -HUP $MAINPID\n",
           "Restart=on-failure\n",
           "KillSignal=SIGTERM\n",
           "TimeoutStopSec=35s\n",  // above the default drain_timeout of 30s
           "AmbientCapabilities=CAP_NET_BIND_SERVICE\n",
           "CapabilityBoundingSet=CAP_NET_BIND_SERVICE\n",
           "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX\n",  // AF_UNIX: sd_notify
           "LogsDirectory=routemeter\n",
           "LimitNOFILE=65536\n",
       }) {
    INFO(line);
    CHECK(unit.find(line) != std::string::npos);
  }
  // ProcSubset=pid would hide /proc/stat, which process_start_time_seconds needs.
  CHECK(unit.find("ProcSubset=") == std::string::npos);
}

TEST_CASE("every syscall routemeter makes is inside the unit's SystemCallFilter", "[systemd]") {
  // A syscall outside the unit's filter fails with EPERM under systemd.
  // strace records what the binary calls through start, a proxied request,
  // /metrics, a reload, a log reopen and a drain.
  if (run_command("/bin/sh", {"-c", "command -v strace"}).status.code != 0) {
    WARN("strace is not installed: syscall filter not checked");
    return;
  }
  // The allow list as the unit's SystemCallFilter= lines build it: allowed
  // entries add, "~" entries remove (systemd applies them in this order).
  SyscallSets sets;
  std::set<std::string> allowed;
  std::istringstream unit(read_text(kUnitDir + "/routemeter.service"));
  for (std::string line; std::getline(unit, line);) {
    constexpr std::string_view kKey = "SystemCallFilter=";
    if (line.rfind(kKey, 0) != 0) continue;
    std::string value = line.substr(kKey.size());
    const bool deny = !value.empty() && value[0] == '~';
    std::istringstream names(deny ? value.substr(1) : value);
    for (std::string name; names >> name;) {
      std::set<std::string> members =
          name[0] == '@' ? sets.expand(name) : std::set<std::string>{name};
      for (const std::string& m : members) {
        if (deny) {
          allowed.erase(m);
        } else {
          allowed.insert(m);
        }
      }
    }
  }
  REQUIRE(allowed.count("read") == 1);       // @system-service is allowed
  REQUIRE(allowed.count("setrlimit") == 0);  // @resources is not

  TempDir dir;
  TestBackend backend;
  const std::string trace = dir.path() + "/trace";
  const std::string config =
      dir.write("routemeter.toml", minimal_config(backend.address(), dir.path() + "/access.log"));
  // LeakSanitizer cannot run under ptrace: in sanitizer builds it would make
  // the exit status fail, so it is off for the traced process.
  Process proxy("/bin/sh",
                {"-c",
                 "exec strace -f -qq -E ASAN_OPTIONS=detect_leaks=0 -o \"$0\" \"$1\" --config "
                 "\"$2\"",
                 trace, ROUTEMETER_BINARY, config});
  std::vector<uint16_t> ports;
  uint16_t admin = 0;
  int workers = 0;
  auto line = proxy.wait_for_stderr("routemeter: info: listening ", 15s);
  INFO("stderr: " << proxy.stderr_text());
  REQUIRE(line.has_value());
  REQUIRE(parse_listening_line(*line, ports, admin, workers));
  // Signals go to routemeter itself, the tracer's only child.
  std::istringstream children(read_text("/proc/" + std::to_string(proxy.pid()) + "/task/" +
                                        std::to_string(proxy.pid()) + "/children"));
  pid_t traced = 0;
  REQUIRE(children >> traced);
  CHECK(http_get(ports.at(0), "/x").status == 200);
  CHECK(!scrape(admin).empty());
  REQUIRE(::kill(traced, SIGHUP) == 0);
  REQUIRE(proxy.wait_for_stderr("config reloaded", 5s).has_value());
  REQUIRE(::kill(traced, SIGUSR1) == 0);
  REQUIRE(proxy.wait_for_stderr("access log reopened", 5s).has_value());
  REQUIRE(::kill(traced, SIGTERM) == 0);
  auto status = proxy.wait_exit(15s);
  REQUIRE(status.has_value());
  INFO(status->text() << "; stderr: " << proxy.stderr_text());
  CHECK(status->ok());

  // Lines look like "1234  name(args) = result" or "1234  <... name resumed>".
  static const std::regex kCall(R"(^\d+\s+([a-z0-9_]+)\()");
  std::istringstream in(read_text(trace));
  std::set<std::string> used;
  std::string l;
  while (std::getline(in, l)) {
    std::smatch m;
    if (std::regex_search(l, m, kCall)) used.insert(m[1].str());
  }
  CHECK(used.count("epoll_wait") == 1);  // the trace really covers the event loop
  std::string outside;
  for (const std::string& s : used) {
    if (allowed.count(s) == 0) outside += s + " ";
  }
  INFO("syscalls used: " << used.size());
  CHECK(outside == "");
}

TEST_CASE("routemeter tells systemd it is ready, reloading, ready again and stopping",
          "[systemd]") {
  TempDir dir;
  NotifySocket notify(dir.path() + "/notify");
  TestBackend backend;
  Routemeter proxy(minimal_config(backend.address()), Routemeter::Options{{}, {notify.env()}, 10s});
  // READY=1 comes once the listeners are bound: the admin port answers.
  CHECK(notify.receive() == "READY=1\nSTATUS=serving");
  CHECK(http_get(proxy.admin_port(), "/readyz").status == 200);

  SECTION("SIGHUP with a valid file") {
    REQUIRE(proxy.reload());
    CHECK(notify.receive() == "RELOADING=1");
    CHECK(notify.receive() == "READY=1\nSTATUS=serving");
  }
  SECTION("SIGHUP with an invalid file keeps serving and says so") {
    proxy.write_config("[server]\nlisten = 8080\n");
    REQUIRE(proxy.reload());
    CHECK(notify.receive() == "RELOADING=1");
    CHECK(notify.receive() == "READY=1\nSTATUS=serving (last reload failed)");
    CHECK(http_get(proxy.proxy_port(), "/x").status == 200);
  }
  SECTION("POST /-/reload") {
    HttpClient admin(proxy.admin_port());
    CHECK(admin.request("POST", "/-/reload").status == 200);
    CHECK(notify.receive() == "RELOADING=1");
    CHECK(notify.receive() == "READY=1\nSTATUS=serving");
  }

  REQUIRE(proxy.process().signal(SIGTERM));
  CHECK(notify.receive() == "STOPPING=1");
  auto status = proxy.process().wait_exit(10s);
  REQUIRE(status.has_value());
  INFO(status->text() << "; stderr: " << proxy.process().stderr_text());
  CHECK(status->ok());
  CHECK(notify.receive(0ms) == std::nullopt);  // nothing after STOPPING=1
}
