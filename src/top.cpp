#include "routemeter/top.hpp"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "routemeter/event_handles.hpp"

namespace routemeter {

namespace {

bool parse_port(std::string_view text, uint16_t& port) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value == 0 || value > 65535) {
    return false;
  }
  port = static_cast<uint16_t>(value);
  return true;
}

// "HOST:PORT" or "[v6]:PORT".
bool parse_admin(std::string_view text, std::string& host, uint16_t& port) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  std::string_view h = text.substr(0, colon);
  if (h.front() == '[') {
    if (h.size() < 3 || h.back() != ']') return false;
    h = h.substr(1, h.size() - 2);
  }
  host = std::string(h);
  return parse_port(text.substr(colon + 1), port);
}

// Waits for `events` on fd until `deadline`; false on timeout.
bool wait_fd(int fd, short events, std::chrono::steady_clock::time_point deadline) {
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) return false;
  }
}

bool dechunk(std::string_view in, std::string& out) {
  while (true) {
    const size_t eol = in.find("\r\n");
    if (eol == std::string_view::npos) return false;
    size_t size = 0;
    auto [end, ec] = std::from_chars(in.data(), in.data() + eol, size, 16);
    if (ec != std::errc()) return false;
    (void)end;
    in.remove_prefix(eol + 2);
    if (size == 0) return true;
    if (in.size() < size + 2) return false;
    out.append(in.substr(0, size));
    in.remove_prefix(size + 2);
  }
}

std::string fmt(const char* format, double v) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, format, v);
  return buffer;
}

std::string fmt_rate(const JsonValue& v) {
  if (!v.is_number()) return "-";
  const double r = v.number_or(0);
  return fmt(r < 10 ? "%.2f" : "%.1f", r);
}
std::string fmt_pct(const JsonValue& v) {
  return v.is_number() ? fmt("%.1f%%", 100 * v.number_or(0)) : "-";
}
std::string fmt_seconds(const JsonValue& v) {
  if (!v.is_number()) return "-";
  const double s = v.number_or(0);
  if (s >= 1) return fmt("%.2fs", s);
  return fmt(s < 0.01 ? "%.1fms" : "%.0fms", s * 1000);
}
std::string fmt_count(const JsonValue& v) {
  return v.is_number() ? fmt("%.0f", v.number_or(0)) : "-";
}

struct TopRow {
  std::vector<std::string> cells;
  double rate = -1;
  double error_ratio = -1;
  std::string name;
};

void sort_rows(std::vector<TopRow>& rows, TopSort sort) {
  std::stable_sort(rows.begin(), rows.end(), [sort](const TopRow& a, const TopRow& b) {
    if (sort == TopSort::kErrors && a.error_ratio != b.error_ratio) {
      return a.error_ratio > b.error_ratio;
    }
    if (a.rate != b.rate) return a.rate > b.rate;
    return a.name < b.name;
  });
}

void append_table(std::string& out, const std::vector<std::string>& head,
                  const std::vector<TopRow>& rows, size_t text_columns) {
  std::vector<size_t> width(head.size());
  for (size_t c = 0; c < head.size(); ++c) {
    width[c] = head[c].size();
    for (const TopRow& r : rows) width[c] = std::max(width[c], r.cells[c].size());
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string l;
    for (size_t c = 0; c < cells.size(); ++c) {
      if (c != 0) l += "  ";
      const std::string pad(width[c] - cells[c].size(), ' ');
      l += c < text_columns ? cells[c] + pad : pad + cells[c];
    }
    while (!l.empty() && l.back() == ' ') l.pop_back();
    out += l + "\n";
  };
  line(head);
  for (const TopRow& r : rows) line(r.cells);
}

TopRow make_row(const JsonValue& r, bool route) {
  const JsonValue& last = r["last"];
  const JsonValue& totals = r["totals"];
  TopRow row;
  row.name = route ? r["route"].string() : r["upstream"].string();
  row.rate = last["rate"].number_or(-1);
  row.error_ratio = last["error_ratio"].number_or(-1);
  if (route) row.cells.push_back(r["route"].string());
  row.cells.push_back(r["upstream"].string());
  row.cells.push_back(fmt_rate(last["rate"]));
  row.cells.push_back(fmt_pct(last["error_ratio"]));
  row.cells.push_back(fmt_seconds(last["p50"]));
  row.cells.push_back(fmt_seconds(last["p99"]));
  row.cells.push_back(route ? "-" : fmt_count(totals["in_flight"]));
  row.cells.push_back(fmt_count(totals["requests"]));
  row.cells.push_back(fmt_pct(totals["error_ratio"]));
  return row;
}

std::string read_token(const std::string& path, std::string& error) {
  std::ifstream in(path);
  if (!in) {
    error = "cannot read the token file " + path + ": " + std::strerror(errno);
    return {};
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string token = ss.str();
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.front()))) {
    token.erase(0, 1);
  }
  if (token.empty()) error = "the token file " + path + " is empty";
  return token;
}

std::string clock_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buffer[16];
  std::strftime(buffer, sizeof buffer, "%H:%M:%S", &tm);
  return buffer;
}

}  // namespace

std::string top_usage() {
  return "usage: routemeter top [--admin HOST:PORT] [--token-file F] [--sort rate|errors]\n"
         "                      [--once] [--interval SECONDS]\n"
         "  the RED table of GET /status.json per route and upstream, refreshed in place\n"
         "  --admin       the admin listener (default 127.0.0.1:9901)\n"
         "  --token-file  a file holding the admin token (sent as Authorization: Bearer)\n"
         "  --sort        rate (default) or errors (the 5xx share), highest first\n"
         "  --once        print the table once, plain text, and exit\n"
         "  --interval    seconds between refreshes (default 2)\n"
         "  exit codes: 0 ok, 2 usage, 3 cannot connect, 4 unauthorized (401), 5 bad answer\n";
}

TopArgsResult parse_top_args(const std::vector<std::string_view>& args) {
  TopArgsResult result;
  TopOptions options;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    std::string_view value;
    bool inline_value = false;
    if (const size_t eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      inline_value = true;
    }
    if (arg == "--help" || arg == "-h") {
      result.help = true;
      return result;
    }
    if (arg == "--once") {
      options.once = true;
      continue;
    }
    if (arg != "--admin" && arg != "--token-file" && arg != "--sort" && arg != "--interval") {
      result.error = "unknown argument \"" + std::string(args[i]) + "\"";
      return result;
    }
    if (!inline_value) {
      if (i + 1 >= args.size()) {
        result.error = std::string(arg) + " needs a value";
        return result;
      }
      value = args[++i];
    }
    if (arg == "--admin") {
      if (!parse_admin(value, options.host, options.port)) {
        result.error = "--admin: expected HOST:PORT, got \"" + std::string(value) + "\"";
        return result;
      }
    } else if (arg == "--token-file") {
      options.token_file = std::string(value);
    } else if (arg == "--sort") {
      if (value == "rate") {
        options.sort = TopSort::kRate;
      } else if (value == "errors") {
        options.sort = TopSort::kErrors;
      } else {
        result.error = "--sort: expected rate or errors, got \"" + std::string(value) + "\"";
        return result;
      }
    } else {
      const double seconds = std::strtod(std::string(value).c_str(), nullptr);
      if (!(seconds >= 0.1 && seconds <= 3600)) {
        result.error =
            "--interval: expected seconds between 0.1 and 3600, got \"" + std::string(value) + "\"";
        return result;
      }
      options.interval = std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
    }
  }
  result.options = options;
  return result;
}

AdminFetch admin_get(const std::string& host, uint16_t port, std::string_view path,
                     std::string_view token, std::chrono::milliseconds timeout) {
  AdminFetch result;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (const int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0) {
    result.error = "cannot resolve " + host + ": " + gai_strerror(rc);
    return result;
  }
  UniqueFd fd;
  std::string connect_error = "no address";
  for (addrinfo* a = found; a != nullptr && !fd; a = a->ai_next) {
    UniqueFd s(::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!s) continue;
    int rc = ::connect(s.get(), a->ai_addr, a->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      if (!wait_fd(s.get(), POLLOUT, deadline)) {
        connect_error = "connect timed out";
        continue;
      }
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(s.get(), SOL_SOCKET, SO_ERROR, &err, &len);
      rc = err == 0 ? 0 : -1;
      errno = err;
    }
    if (rc != 0) {
      connect_error = std::strerror(errno);
      continue;
    }
    fd = std::move(s);
  }
  ::freeaddrinfo(found);
  const std::string where =
      (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + service;
  if (!fd) {
    result.error = "cannot connect to " + where + ": " + connect_error;
    return result;
  }
  std::string request = "GET " + std::string(path) + " HTTP/1.1\r\nHost: " + where +
                        "\r\nUser-Agent: routemeter-top\r\nAccept: application/json\r\n"
                        "Connection: close\r\n";
  if (!token.empty()) request += "Authorization: Bearer " + std::string(token) + "\r\n";
  request += "\r\n";
  for (size_t sent = 0; sent < request.size();) {
    const ssize_t n = ::send(fd.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!wait_fd(fd.get(), POLLOUT, deadline)) {
        result.error = where + ": timed out sending the request";
        return result;
      }
    } else {
      result.error = where + ": " + std::strerror(errno);
      return result;
    }
  }
  std::string raw;
  char buffer[16384];
  while (true) {
    const ssize_t n = ::recv(fd.get(), buffer, sizeof buffer, 0);
    if (n > 0) {
      raw.append(buffer, static_cast<size_t>(n));
      if (raw.size() > (64u << 20)) {
        result.error = where + ": answer larger than 64 MiB";
        return result;
      }
    } else if (n == 0) {
      break;
    } else if (errno == EAGAIN || errno == EINTR) {
      if (!wait_fd(fd.get(), POLLIN, deadline)) {
        result.error = where + ": timed out waiting for the answer";
        return result;
      }
    } else {
      result.error = where + ": " + std::strerror(errno);
      return result;
    }
  }
  const size_t head_end = raw.find("\r\n\r\n");
  int status = 0;
  if (head_end == std::string::npos || !raw.starts_with("HTTP/1.") || raw.size() < 12 ||
      std::from_chars(raw.data() + 9, raw.data() + 12, status).ec != std::errc()) {
    result.error = where + ": not an HTTP answer";
    return result;
  }
  std::string head = raw.substr(0, head_end);
  for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string_view body = std::string_view(raw).substr(head_end + 4);
  if (head.find("\r\ntransfer-encoding: chunked") != std::string::npos) {
    if (!dechunk(body, result.body)) {
      result.error = where + ": bad chunked body";
      return result;
    }
  } else {
    result.body = std::string(body);
  }
  result.status = status;
  return result;
}

std::string format_top_table(const JsonValue& status, TopSort sort, std::string_view title) {
  std::string out(title);
  out += "\n\n";
  std::vector<TopRow> routes;
  for (const JsonValue& r : status["routes"].items()) {
    if (r["route"].string() == "unmatched" && r["totals"]["requests"].number_or(0) == 0) continue;
    routes.push_back(make_row(r, true));
  }
  sort_rows(routes, sort);
  append_table(
      out,
      {"ROUTE", "UPSTREAM", "REQ/S", "ERRORS", "P50", "P99", "IN-FLIGHT", "REQUESTS", "ERR(ALL)"},
      routes, 2);
  std::vector<TopRow> upstreams;
  for (const JsonValue& u : status["upstreams"].items()) upstreams.push_back(make_row(u, false));
  sort_rows(upstreams, sort);
  out += "\n";
  append_table(out,
               {"UPSTREAM", "REQ/S", "ERRORS", "P50", "P99", "IN-FLIGHT", "REQUESTS", "ERR(ALL)"},
               upstreams, 1);
  return out;
}

int run_top(const std::vector<std::string_view>& args, std::ostream& out, std::ostream& err) {
  const TopArgsResult parsed = parse_top_args(args);
  if (parsed.help) {
    out << top_usage();
    return kTopOk;
  }
  if (!parsed.options) {
    err << "routemeter top: " << parsed.error << "\n" << top_usage();
    return kTopUsage;
  }
  const TopOptions& o = *parsed.options;
  std::string token;
  if (!o.token_file.empty()) {
    std::string error;
    token = read_token(o.token_file, error);
    if (!error.empty()) {
      err << "routemeter top: " << error << "\n";
      return kTopUsage;
    }
  }
  const std::string admin = (o.host.find(':') != std::string::npos ? "[" + o.host + "]" : o.host) +
                            ":" + std::to_string(o.port);
  bool shown = false;
  while (true) {
    const AdminFetch f = admin_get(o.host, o.port, "/status.json", token, std::chrono::seconds(5));
    std::string problem;
    int code = kTopOk;
    std::optional<JsonValue> status;
    if (f.status == 0) {
      problem = f.error;
      code = kTopUnreachable;
    } else if (f.status == 401) {
      problem = "http://" + admin + "/status.json answered 401: " +
                (token.empty() ? "the admin listener has a token; "
                                 "give it with --token-file"
                               : "the token was refused");
      code = kTopUnauthorized;
    } else if (f.status != 200) {
      problem = "http://" + admin + "/status.json answered " + std::to_string(f.status);
      code = kTopBadAnswer;
    } else {
      std::string error;
      status = JsonValue::parse(f.body, &error);
      if (!status || status->type() != JsonValue::Type::kObject ||
          (*status)["routes"].type() != JsonValue::Type::kArray) {
        problem = "http://" + admin;
        problem += "/status.json: not the JSON of /status.json (";
        problem += error;
        problem += ")";
        code = kTopBadAnswer;
        status.reset();
      }
    }
    // Errors end the command, except a failure to connect once the table is
    // up (a restart): shown in place and tried again.
    if (code != kTopOk && (o.once || !shown || code != kTopUnreachable)) {
      if (shown) out << "\n";
      err << "routemeter top: " << problem << "\n";
      return code;
    }
    const std::string points =
        status ? fmt("%g", (*status)["interval_seconds"].number_or(0)) + " s points" : "";
    std::string title = "routemeter top  " + admin + "  ";
    if (status) {
      title += points + ", sorted by " + (o.sort == TopSort::kRate ? "rate" : "errors") + "  " +
               clock_now();
    }
    if (o.once) {
      out << format_top_table(*status, o.sort, title) << std::flush;
      return kTopOk;
    }
    std::string screen;
    if (status) {
      screen = format_top_table(*status, o.sort, title);
    } else {
      screen = title;
      screen += clock_now();
      screen += "  ";
      screen += problem;
      screen += " (retrying)\n";
    }
    // Home, each line cleared to its end, then everything below: no flicker.
    std::string ansi = "\x1b[H";
    for (size_t at = 0; at < screen.size();) {
      const size_t nl = screen.find('\n', at);
      ansi += screen.substr(at, nl - at) + "\x1b[K\n";
      at = nl == std::string::npos ? screen.size() : nl + 1;
    }
    ansi += "\x1b[J";
    if (!shown) out << "\x1b[2J";
    out << ansi << std::flush;
    shown = true;
    std::this_thread::sleep_for(o.interval);
  }
}

}  // namespace routemeter
