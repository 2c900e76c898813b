// Process, run_command, promtool and Routemeter: child processes for tests.
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "harness.hpp"

extern char** environ;

namespace routemeter::test {
namespace {

constexpr size_t kCaptureLimit = 256 * 1024 * 1024;  // per stream; beyond it bytes are counted

ExitStatus decode_status(int status) {
  ExitStatus s;
  if (WIFEXITED(status)) {
    s.exited = true;
    s.code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    s.signal = WTERMSIG(status);
  }
  return s;
}

}  // namespace

std::string ExitStatus::text() const {
  return exited ? "exit " + std::to_string(code) : "signal " + std::to_string(signal);
}

Process::Process(std::string binary, std::vector<std::string> args,
                 std::vector<std::string> extra_env, uint64_t max_open_files)
    : binary_(std::move(binary)) {
  const char* verbose = std::getenv("ROUTEMETER_TEST_VERBOSE");
  echo_ = verbose != nullptr && *verbose != '\0' && *verbose != '0';
  // Everything the child needs is built before fork: after it, only
  // async-signal-safe calls (this process has threads).
  std::vector<std::string> argv_store;
  argv_store.push_back(binary_);
  for (auto& a : args) argv_store.push_back(std::move(a));
  std::vector<char*> argv;
  for (auto& a : argv_store) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_store;
  for (char** e = environ; *e != nullptr; ++e) env_store.emplace_back(*e);
  for (auto& e : extra_env) env_store.push_back(std::move(e));
  std::vector<char*> envp;
  for (auto& e : env_store) envp.push_back(e.data());
  envp.push_back(nullptr);

  int out[2];
  int err[2];
  if (pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  if (pipe2(err, O_CLOEXEC) != 0) {
    ::close(out[0]);
    ::close(out[1]);
    throw std::runtime_error("pipe2 failed");
  }
  pid_t parent = getpid();
  pid_ = fork();
  if (pid_ == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // the parent died before prctl
    dup2(out[1], STDOUT_FILENO);
    dup2(err[1], STDERR_FILENO);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    // No inherited sockets: a stopped TestBackend's port must refuse connections.
    syscall(SYS_close_range, 3U, ~0U, 0U);
    ::signal(SIGPIPE, SIG_DFL);  // SIG_IGN (set by TestBackend) would survive exec
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    if (max_open_files != 0) {
      const rlimit limit{max_open_files, max_open_files};
      if (setrlimit(RLIMIT_NOFILE, &limit) != 0) _exit(127);
    }
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  ::close(out[1]);
  ::close(err[1]);
  if (pid_ < 0) {
    ::close(out[0]);
    ::close(err[0]);
    throw std::runtime_error("fork failed");
  }
  out_fd_ = out[0];
  err_fd_ = err[0];
  wake_fd_ = eventfd(0, EFD_CLOEXEC);
  reader_ = std::thread([this] { drain(); });
}

Process::~Process() {
  if (!exit_) stop(2s);
  if (wake_fd_ >= 0) {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof(one));
  }
  if (reader_.joinable()) reader_.join();
  for (int fd : {out_fd_, err_fd_, wake_fd_}) {
    if (fd >= 0) ::close(fd);
  }
}

void Process::drain() {
  bool out_open = true;
  bool err_open = true;
  char buf[65536];
  while (out_open || err_open) {
    pollfd fds[3] = {{out_open ? out_fd_ : -1, POLLIN, 0},
                     {err_open ? err_fd_ : -1, POLLIN, 0},
                     {wake_fd_, POLLIN, 0}};
    if (poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if ((fds[2].revents & POLLIN) != 0) break;  // the owner is going away
    for (int i = 0; i < 2; ++i) {
      if (fds[i].revents == 0) continue;
      ssize_t n = read(fds[i].fd, buf, sizeof(buf));
      if (n <= 0) {
        (i == 0 ? out_open : err_open) = false;
        continue;
      }
      if (i == 1 && echo_) {
        [[maybe_unused]] size_t w = fwrite(buf, 1, static_cast<size_t>(n), stderr);
      }
      std::lock_guard lock(mutex_);
      Stream& s = i == 0 ? out_ : err_;
      size_t room = kCaptureLimit - std::min(kCaptureLimit, s.text.size());
      size_t keep = std::min(room, static_cast<size_t>(n));
      s.text.append(buf, keep);
      s.dropped += static_cast<size_t>(n) - keep;
    }
    cv_.notify_all();
  }
  std::lock_guard lock(mutex_);
  eof_ = true;
  cv_.notify_all();
}

std::optional<std::string> Process::wait_for_line(
    const Stream& stream, const std::function<bool(std::string_view)>& match,
    milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  size_t scanned = 0;  // complete lines before this offset were checked
  std::unique_lock lock(mutex_);
  for (;;) {
    for (size_t eol = stream.text.find('\n', scanned); eol != std::string::npos;
         eol = stream.text.find('\n', scanned)) {
      std::string_view line(stream.text.data() + scanned, eol - scanned);
      scanned = eol + 1;
      if (match(line)) return std::string(line);
    }
    if (eof_) return std::nullopt;
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && Clock::now() >= deadline) {
      return std::nullopt;
    }
  }
}

std::optional<std::string> Process::wait_for_stderr_line(const std::regex& re,
                                                         milliseconds timeout) {
  return wait_for_line(
      err_, [&](std::string_view l) { return std::regex_search(l.begin(), l.end(), re); }, timeout);
}

std::optional<std::string> Process::wait_for_stderr(std::string_view substring,
                                                    milliseconds timeout) {
  return wait_for_line(
      err_, [&](std::string_view l) { return l.find(substring) != std::string_view::npos; },
      timeout);
}

std::optional<std::string> Process::wait_for_stdout_line(const std::regex& re,
                                                         milliseconds timeout) {
  return wait_for_line(
      out_, [&](std::string_view l) { return std::regex_search(l.begin(), l.end(), re); }, timeout);
}

bool Process::wait_output_closed(milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return cv_.wait_for(lock, timeout, [this] { return eof_; });
}

std::string Process::stdout_text() const {
  std::lock_guard lock(mutex_);
  return out_.text;
}

std::string Process::stderr_text() const {
  std::lock_guard lock(mutex_);
  return err_.text;
}

size_t Process::stdout_line_count() const {
  std::lock_guard lock(mutex_);
  size_t n = 0;
  for (char c : out_.text) n += c == '\n' ? 1 : 0;
  return n;
}

bool Process::running() {
  if (exit_) return false;
  int status = 0;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) exit_ = decode_status(status);
  return !exit_;
}

bool Process::signal(int sig) { return !exit_ && kill(pid_, sig) == 0; }

std::optional<ExitStatus> Process::wait_exit(milliseconds timeout) {
  // waitpid has no timeout: poll with short sleeps, bounded by the deadline.
  wait_until([this] { return !running(); }, timeout, 2ms);
  return exit_;
}

ExitStatus Process::stop(milliseconds grace) {
  if (running()) {
    signal(SIGTERM);
    if (!wait_exit(grace)) {
      kill(pid_, SIGKILL);
      int status = 0;
      if (waitpid(pid_, &status, 0) == pid_) exit_ = decode_status(status);
    }
  }
  return exit_.value_or(ExitStatus{});
}

std::optional<MemoryStatus> Process::memory() const {
  std::ifstream f("/proc/" + std::to_string(pid_) + "/status");
  if (!f || exit_) return std::nullopt;
  MemoryStatus m;
  bool seen = false;
  for (std::string line; std::getline(f, line);) {
    uint64_t* dst = line.rfind("VmRSS:", 0) == 0   ? &m.vm_rss_kib
                    : line.rfind("VmHWM:", 0) == 0 ? &m.vm_hwm_kib
                                                   : nullptr;
    if (dst != nullptr) {
      *dst = std::strtoull(line.c_str() + 6, nullptr, 10);
      seen = true;
    }
  }
  if (!seen) return std::nullopt;  // a zombie has no memory lines
  return m;
}

CommandResult run_command(const std::string& binary, const std::vector<std::string>& args,
                          milliseconds timeout) {
  Process p(binary, args);
  CommandResult r;
  auto status = p.wait_exit(timeout);
  r.status = status ? *status : p.stop(1s);
  p.wait_output_closed(2s);
  r.out = p.stdout_text();
  r.err = p.stderr_text();
  return r;
}

CommandResult promtool_check_metrics(std::string_view text) {
  TempDir dir;
  std::string file = dir.write("metrics.txt", text);
  return run_command("/bin/sh", {"-c", "exec promtool check metrics < \"$0\"", file});
}

// ---------------------------------------------------------------- Routemeter

bool parse_listening_line(std::string_view line, std::vector<uint16_t>& proxy_ports,
                          uint16_t& admin_port, int& workers) {
  static const std::regex re(
      R"(routemeter: info: listening proxy=(\S+) admin=\S*:(\d+) workers=(\d+))");
  std::match_results<std::string_view::const_iterator> m;
  if (!std::regex_search(line.begin(), line.end(), m, re)) return false;
  proxy_ports.clear();
  std::string list = m[1].str();
  std::stringstream ss(list);
  for (std::string item; std::getline(ss, item, ',');) {
    size_t colon = item.rfind(':');
    if (colon == std::string::npos) return false;
    proxy_ports.push_back(static_cast<uint16_t>(std::stoul(item.substr(colon + 1))));
  }
  admin_port = static_cast<uint16_t>(std::stoul(m[2].str()));
  workers = std::stoi(m[3].str());
  return !proxy_ports.empty();
}

std::vector<uint16_t> parse_tls_ports(std::string_view line) {
  static const std::regex re(R"( tls=(\S+))");
  std::match_results<std::string_view::const_iterator> m;
  std::vector<uint16_t> ports;
  if (!std::regex_search(line.begin(), line.end(), m, re)) return ports;
  std::stringstream ss(m[1].str());
  for (std::string item; std::getline(ss, item, ',');) {
    ports.push_back(static_cast<uint16_t>(std::stoul(item.substr(item.rfind(':') + 1))));
  }
  return ports;
}

Routemeter::Routemeter(std::string config_toml, Options options) {
  config_path_ = dir_.write("routemeter.toml", config_toml);
  std::vector<std::string> args = {"--config", config_path_};
  for (auto& a : options.extra_args) args.push_back(std::move(a));
  process_ = std::make_unique<Process>(ROUTEMETER_BINARY, std::move(args),
                                       std::move(options.extra_env), options.max_open_files);
  auto line = process_->wait_for_stderr("routemeter: info: listening ", options.start_timeout);
  if (line) tls_ports_ = parse_tls_ports(*line);
  if (!line || !parse_listening_line(*line, proxy_ports_, admin_port_, workers_)) {
    bool alive = process_->running();
    throw std::runtime_error(
        "routemeter did not report \"routemeter: info: listening proxy=... admin=... "
        "workers=N\" (" +
        (alive ? std::string("still running") : process_->stop().text()) + "); config:\n" +
        config_toml + "\nstderr:\n" + process_->stderr_text());
  }
}

void Routemeter::write_config(std::string_view config_toml) {
  dir_.write("routemeter.toml", config_toml);
}

}  // namespace routemeter::test
