// Harness utilities: headers, hashing, the stream pattern, waiting, temp
// files, Reply builders, and reading the Prometheus text format.
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <stdexcept>

#include "harness.hpp"
#include "harness_wire.hpp"

namespace routemeter::test {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] + 32) : a[i];
    char y = b[i] >= 'A' && b[i] <= 'Z' ? static_cast<char>(b[i] + 32) : b[i];
    if (x != y) return false;
  }
  return true;
}

std::optional<std::string> Headers::get(std::string_view name) const {
  for (const auto& [n, v] : fields) {
    if (iequals(n, name)) return v;
  }
  return std::nullopt;
}

std::vector<std::string> Headers::get_all(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& [n, v] : fields) {
    if (iequals(n, name)) out.push_back(v);
  }
  return out;
}

size_t Headers::count(std::string_view name) const {
  size_t n = 0;
  for (const auto& field : fields) n += iequals(field.first, name) ? 1 : 0;
  return n;
}

uint64_t fnv1a(std::string_view data, uint64_t state) {
  for (char c : data) {
    state ^= static_cast<uint8_t>(c);
    state *= 1099511628211ull;
  }
  return state;
}

uint64_t word_digest(std::string_view data) {
  uint64_t state = kFnvOffset ^ data.size();
  size_t i = 0;
  for (; i + 8 <= data.size(); i += 8) {
    uint64_t word = 0;
    std::memcpy(&word, data.data() + i, 8);
    state = (state ^ word) * 0x9E3779B97F4A7C15ull;
    state ^= state >> 29;
  }
  return fnv1a(data.substr(i), state);
}

uint8_t pattern_byte(uint64_t offset) { return static_cast<uint8_t>(offset % 251); }

std::string pattern_bytes(uint64_t offset, size_t n) {
  std::string out;
  out.reserve(n);
  while (out.size() < n) {
    size_t piece = 0;
    const char* p = wire::pattern_block(offset + out.size(), n - out.size(), piece);
    out.append(p, piece);
  }
  return out;
}

uint64_t pattern_fnv1a(uint64_t n) {
  uint64_t state = kFnvOffset;
  for (uint64_t done = 0; done < n;) {
    size_t piece = 0;
    const char* p = wire::pattern_block(done, n - done, piece);
    state = fnv1a(std::string_view(p, piece), state);
    done += piece;
  }
  return state;
}

bool wait_until(const std::function<bool()>& predicate, milliseconds timeout,
                milliseconds interval) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    if (predicate()) return true;
    if (Clock::now() >= deadline) return predicate();
    std::this_thread::sleep_for(interval);
  }
}

uint64_t wait_until_steady(const std::function<uint64_t()>& read, int looks, milliseconds interval,
                           milliseconds timeout) {
  uint64_t last = read();
  int same = 0;
  wait_until(
      [&] {
        const uint64_t now = read();
        same = (now == last && now != 0) ? same + 1 : 0;
        last = now;
        return same >= looks;
      },
      timeout, interval);
  return last;
}

std::string fill(std::string text, const std::map<std::string, std::string>& values) {
  for (const auto& [key, value] : values) {
    std::string marker = "{{" + key + "}}";
    for (size_t pos = text.find(marker); pos != std::string::npos;
         pos = text.find(marker, pos + value.size())) {
      text.replace(pos, marker.size(), value);
    }
  }
  return text;
}

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern =
      std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/routemeter-test-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed: " + pattern);
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::write(const std::string& name, std::string_view content) const {
  std::string full = path_ + "/" + name;
  std::string tmp = full + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f.write(content.data(), static_cast<std::streamsize>(content.size()));
    if (!f) throw std::runtime_error("cannot write " + tmp);
  }
  std::filesystem::rename(tmp, full);  // readers never see half a file
  return full;
}

// ---------------------------------------------------------------- Reply builders

Reply Reply::ok(std::string body) {
  Reply r;
  r.body = std::move(body);
  return r;
}

Reply Reply::with_status(int status, std::string body) {
  Reply r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

Reply Reply::chunked(int status, std::string body, size_t chunk_size) {
  Reply r = with_status(status, std::move(body));
  r.framing = Framing::kChunked;
  r.chunk_size = chunk_size;
  return r;
}

Reply Reply::raw_bytes(std::string bytes, bool keep_open) {
  Reply r;
  r.kind = Kind::kRaw;
  r.raw = std::move(bytes);
  r.keep_open = keep_open;
  return r;
}

Reply Reply::close_immediately() {
  Reply r;
  r.kind = Kind::kCloseImmediately;
  return r;
}

Reply Reply::reset() {
  Reply r;
  r.kind = Kind::kReset;
  return r;
}

Reply Reply::never_answer() {
  Reply r;
  r.kind = Kind::kNeverAnswer;
  return r;
}

Reply Reply::partial_body_then_close(uint64_t declared_length, uint64_t sent_bytes) {
  Reply r;
  r.kind = Kind::kPartialBodyThenClose;
  r.stream_bytes = declared_length;
  r.partial_bytes = sent_bytes;
  return r;
}

Reply Reply::stream(uint64_t n, Framing framing) {
  Reply r;
  r.kind = Kind::kStream;
  r.stream_bytes = n;
  r.framing = framing;
  return r;
}

// ---------------------------------------------------------------- metrics text

namespace {

// Splits one sample line into its series ("name{...}") and value text.
bool split_sample(std::string_view line, std::string_view& series, std::string_view& value) {
  if (line.empty() || line.front() == '#') return false;
  size_t end = line.find('{');
  if (end != std::string_view::npos) {
    bool quoted = false;
    for (size_t i = end + 1; i < line.size(); ++i) {
      if (quoted && line[i] == '\\') {
        ++i;
      } else if (line[i] == '"') {
        quoted = !quoted;
      } else if (!quoted && line[i] == '}') {
        end = i + 1;
        break;
      }
    }
  } else {
    end = line.find(' ');
  }
  if (end == std::string_view::npos || end >= line.size() || line[end] != ' ') return false;
  series = line.substr(0, end);
  value = line.substr(end + 1);
  value = value.substr(0, value.find(' '));  // drop a timestamp
  return true;
}

double parse_value(std::string_view v) {
  std::string s(v);
  char* end = nullptr;
  double d = std::strtod(s.c_str(), &end);
  if (end == s.c_str()) return std::numeric_limits<double>::quiet_NaN();
  return d;
}

// name{a="x",b="y"} -> name and labels (escapes \\ \" \n decoded).
bool parse_series(std::string_view series, std::string& name,
                  std::map<std::string, std::string>& labels) {
  size_t brace = series.find('{');
  name.assign(series.substr(0, brace));
  if (brace == std::string_view::npos) return true;
  size_t i = brace + 1;
  while (i < series.size() && series[i] != '}') {
    size_t eq = series.find('=', i);
    if (eq == std::string_view::npos || eq + 1 >= series.size() || series[eq + 1] != '"') {
      return false;
    }
    std::string key(series.substr(i, eq - i));
    std::string value;
    size_t j = eq + 2;
    for (; j < series.size() && series[j] != '"'; ++j) {
      if (series[j] == '\\' && j + 1 < series.size()) {
        ++j;
        value += series[j] == 'n' ? '\n' : series[j];
      } else {
        value += series[j];
      }
    }
    labels[key] = value;
    i = j + 1;
    if (i < series.size() && series[i] == ',') ++i;
  }
  return true;
}

template <typename F>
void for_each_sample(std::string_view text, F&& f) {
  while (!text.empty()) {
    size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    std::string_view series;
    std::string_view value;
    if (split_sample(line, series, value)) f(series, value);
  }
}

}  // namespace

std::optional<double> find_metric(std::string_view text, std::string_view series) {
  std::optional<double> found;
  for_each_sample(text, [&](std::string_view s, std::string_view v) {
    if (!found && s == series) found = parse_value(v);
  });
  return found;
}

std::optional<double> find_metric(std::string_view text, std::string_view name,
                                  const std::map<std::string, std::string>& labels) {
  std::optional<double> found;
  for_each_sample(text, [&](std::string_view s, std::string_view v) {
    std::string n;
    std::map<std::string, std::string> l;
    if (!found && parse_series(s, n, l) && n == name && l == labels) found = parse_value(v);
  });
  return found;
}

double metric_value(std::string_view text, std::string_view series) {
  return find_metric(text, series).value_or(std::numeric_limits<double>::quiet_NaN());
}

double sum_metric(std::string_view text, std::string_view name,
                  const std::map<std::string, std::string>& labels) {
  double sum = 0;
  for_each_sample(text, [&](std::string_view s, std::string_view v) {
    std::string n;
    std::map<std::string, std::string> l;
    if (!parse_series(s, n, l) || n != name) return;
    for (const auto& [key, value] : labels) {
      auto it = l.find(key);
      if (it == l.end() || it->second != value) return;
    }
    sum += parse_value(v);
  });
  return sum;
}

}  // namespace routemeter::test
