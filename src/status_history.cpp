#include "routemeter/status_history.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

#include "routemeter/json.hpp"
#include "routemeter/metrics.hpp"

namespace routemeter {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string label(const prometheus::ClientMetric& m, std::string_view name) {
  for (const prometheus::ClientMetric::Label& l : m.label) {
    if (l.name == name) return l.value;
  }
  return {};
}

// A number as JSON: up to 6 significant digits; NaN and infinities as null.
void append_number(std::string& out, double v) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    out += std::to_string(static_cast<long long>(v));
    return;
  }
  char buffer[32];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, v, std::chars_format::general, 6);
  out.append(buffer, ec == std::errc() ? end : buffer);
}

// now - before for counters; a counter that went down was reset (its series
// removed and made again by a reload): its whole value is new, as in rate().
double counter_delta(double now, double before) { return now >= before ? now - before : now; }

double ratio(double part, double whole) { return whole > 0 ? part / whole : kNaN; }

}  // namespace

void StatusReading::add(const prometheus::MetricFamily& family) {
  for (const prometheus::ClientMetric& m : family.metric) {
    const std::string upstream = label(m, "upstream");
    switch (family.type) {
      case prometheus::MetricType::Counter: {
        const bool error = label(m, "code").starts_with('5');
        for (StatusCounts* c : {&routes[{label(m, "route"), upstream}], &upstreams[upstream]}) {
          c->requests += m.counter.value;
          if (error) c->errors += m.counter.value;
        }
        break;
      }
      case prometheus::MetricType::Histogram: {
        const auto& buckets = m.histogram.bucket;
        if (bounds.empty()) {
          for (const auto& b : buckets) {
            if (std::isfinite(b.upper_bound)) bounds.push_back(b.upper_bound);
          }
        }
        for (StatusCounts* c : {&routes[{label(m, "route"), upstream}], &upstreams[upstream]}) {
          c->buckets.resize(buckets.size(), 0);
          for (size_t i = 0; i < buckets.size(); ++i) {
            c->buckets[i] += static_cast<double>(buckets[i].cumulative_count);
          }
        }
        break;
      }
      case prometheus::MetricType::Gauge:
        in_flight[upstream] += m.gauge.value;
        break;
      default:
        break;
    }
  }
}

StatusReading read_status(Metrics& metrics) {
  StatusReading r;
  // In flight first, as render() does: a request no longer in flight is
  // counted in what is read after.
  for (const auto& f : metrics.requests_in_flight.Collect()) r.add(f);
  for (const auto& f : metrics.requests_total.Collect()) r.add(f);
  for (const auto& f : metrics.request_duration.Collect()) r.add(f);
  return r;
}

double histogram_quantile(double q, const std::vector<double>& bounds,
                          const std::vector<double>& cumulative) {
  if (cumulative.empty() || cumulative.back() <= 0) return kNaN;
  const double rank = q * cumulative.back();
  size_t b = 0;
  while (b + 1 < cumulative.size() && cumulative[b] < rank) ++b;
  if (b >= bounds.size()) return bounds.empty() ? kNaN : bounds.back();  // +Inf bucket
  const double lower = b == 0 ? 0 : bounds[b - 1];
  const double below = b == 0 ? 0 : cumulative[b - 1];
  const double in_bucket = cumulative[b] - below;
  if (in_bucket <= 0) return bounds[b];
  return lower + ((bounds[b] - lower) * (rank - below) / in_bucket);
}

StatusRows status_rows(const Config& config) {
  StatusRows rows;
  for (const RouteConfig& r : config.routes) rows.routes.emplace_back(r.name, r.upstream);
  rows.routes.emplace_back("unmatched", "none");
  for (const UpstreamConfig& u : config.upstreams) rows.upstreams.push_back(u.name);
  return rows;
}

StatusCounts StatusHistory::take_delta(Row& row, const StatusCounts& now) {
  StatusCounts d;
  d.requests = counter_delta(now.requests, row.last.requests);
  d.errors = std::min(counter_delta(now.errors, row.last.errors), d.requests);
  const bool reset = !row.last.buckets.empty() && !now.buckets.empty() &&
                     now.buckets.back() < row.last.buckets.back();
  d.buckets.resize(now.buckets.size(), 0);
  for (size_t i = 0; i < now.buckets.size(); ++i) {
    const double before = !reset && i < row.last.buckets.size() ? row.last.buckets[i] : 0;
    d.buckets[i] = std::max(0.0, now.buckets[i] - before);
  }
  row.last = now;
  return d;
}

void StatusHistory::push_point(Row& row, const StatusCounts& delta, double in_flight,
                               const std::vector<double>& bounds) {
  Point p;
  p.requests = delta.requests;
  p.errors = delta.errors;
  p.p50 = histogram_quantile(0.5, bounds, delta.buckets);
  p.p99 = histogram_quantile(0.99, bounds, delta.buckets);
  p.in_flight = in_flight;
  row.points.push_back(p);
  while (row.points.size() > kPoints) row.points.pop_front();
}

namespace {

const StatusCounts& counts_of(const StatusReading& reading, const std::string& route,
                              const std::string& upstream) {
  static const StatusCounts zero;
  if (route.empty()) {
    auto it = reading.upstreams.find(upstream);
    return it == reading.upstreams.end() ? zero : it->second;
  }
  auto it = reading.routes.find({route, upstream});
  return it == reading.routes.end() ? zero : it->second;
}

}  // namespace

void StatusHistory::set_rows(const StatusRows& rows, const StatusReading& reading) {
  // Rows already known keep their history; a new row starts from `reading`.
  auto rebuild = [&reading](std::vector<Row>& rows_now, std::vector<Row> wanted) {
    for (Row& w : wanted) {
      auto it = std::find_if(rows_now.begin(), rows_now.end(), [&w](const Row& r) {
        return r.route == w.route && r.upstream == w.upstream;
      });
      if (it != rows_now.end()) {
        w = std::move(*it);
      } else {
        w.last = counts_of(reading, w.route, w.upstream);
      }
    }
    rows_now = std::move(wanted);
  };
  std::vector<Row> routes;
  for (const auto& [route, upstream] : rows.routes) routes.push_back({route, upstream, {}, {}});
  rebuild(routes_, std::move(routes));
  std::vector<Row> upstreams;
  for (const std::string& upstream : rows.upstreams) upstreams.push_back({"", upstream, {}, {}});
  rebuild(upstreams_, std::move(upstreams));
}

void StatusHistory::tick(const StatusReading& reading, double unix_s, double mono_s) {
  if (!started_) {
    started_ = true;
    last_mono_ = mono_s;
    for (Row& r : routes_) r.last = counts_of(reading, r.route, r.upstream);
    for (Row& u : upstreams_) u.last = counts_of(reading, u.route, u.upstream);
    return;
  }
  times_.push_back(unix_s);
  seconds_.push_back(mono_s - last_mono_);
  last_mono_ = mono_s;
  while (times_.size() > kPoints) {
    times_.pop_front();
    seconds_.pop_front();
  }
  // An upstream's point is the sum of its routes' deltas, not the delta of
  // its summed counters: a route removed by a reload takes its series (and
  // their counts) out of the sum, which is not new traffic.
  std::map<std::string, StatusCounts> per_upstream;
  for (Row& r : routes_) {
    const StatusCounts d = take_delta(r, counts_of(reading, r.route, r.upstream));
    push_point(r, d, kNaN, reading.bounds);
    StatusCounts& u = per_upstream[r.upstream];
    u.requests += d.requests;
    u.errors += d.errors;
    u.buckets.resize(std::max(u.buckets.size(), d.buckets.size()), 0);
    for (size_t i = 0; i < d.buckets.size(); ++i) u.buckets[i] += d.buckets[i];
  }
  for (Row& u : upstreams_) {
    auto it = reading.in_flight.find(u.upstream);
    push_point(u, per_upstream[u.upstream], it == reading.in_flight.end() ? 0 : it->second,
               reading.bounds);
  }
}

void StatusHistory::append_row(std::string& out, const Row& row, const StatusCounts& totals,
                               double in_flight_now) const {
  out += "{";
  if (!row.route.empty()) {
    out += "\"route\": ";
    append_json_string(out, row.route);
    out += ", ";
  }
  out += "\"upstream\": ";
  append_json_string(out, row.upstream);
  out += ",\n   \"totals\": {\"requests\": ";
  append_number(out, totals.requests);
  out += ", \"errors\": ";
  append_number(out, totals.errors);
  out += ", \"error_ratio\": ";
  append_number(out, ratio(totals.errors, totals.requests));
  out += ", \"in_flight\": ";
  append_number(out, in_flight_now);
  out += "},\n   \"last\": ";
  const size_t n = times_.size();
  const size_t missing = n - std::min(n, row.points.size());  // points before the row existed
  if (row.points.empty() || n == 0) {
    out += "null";
  } else {
    const Point& p = row.points.back();
    out += "{\"requests\": ";
    append_number(out, p.requests);
    out += ", \"errors\": ";
    append_number(out, p.errors);
    out += ", \"rate\": ";
    append_number(out, p.requests / seconds_.back());
    out += ", \"error_ratio\": ";
    append_number(out, ratio(p.errors, p.requests));
    out += ", \"p50\": ";
    append_number(out, p.p50);
    out += ", \"p99\": ";
    append_number(out, p.p99);
    out += ", \"in_flight\": ";
    append_number(out, p.in_flight);
    out += "}";
  }
  out += ",\n   \"series\": {";
  struct Column {
    const char* name;
    double (*value)(const Point&, double seconds);
  };
  static constexpr Column kColumns[] = {
      {"requests", [](const Point& p, double) { return p.requests; }},
      {"errors", [](const Point& p, double) { return p.errors; }},
      {"rate", [](const Point& p, double s) { return s > 0 ? p.requests / s : kNaN; }},
      {"error_ratio", [](const Point& p, double) { return ratio(p.errors, p.requests); }},
      {"p50", [](const Point& p, double) { return p.p50; }},
      {"p99", [](const Point& p, double) { return p.p99; }},
      {"in_flight", [](const Point& p, double) { return p.in_flight; }},
  };
  bool first_column = true;
  for (const Column& c : kColumns) {
    out += first_column ? "\n    \"" : ",\n    \"";
    first_column = false;
    out += c.name;
    out += "\": [";
    for (size_t i = 0; i < n; ++i) {
      if (i != 0) out += ',';
      if (i < missing) {
        out += "null";
      } else {
        append_number(out, c.value(row.points[i - missing], seconds_[i]));
      }
    }
    out += ']';
  }
  out += "}}";
}

std::string StatusHistory::json(const StatusReading& now, double unix_s) const {
  std::string out = "{\"interval_seconds\": ";
  append_number(out, std::chrono::duration<double>(interval_).count());
  out += ", \"points_kept\": ";
  append_number(out, static_cast<double>(kPoints));
  out += ", \"time\": ";
  char buffer[32];
  auto [end, ec] =
      std::to_chars(buffer, buffer + sizeof buffer, unix_s, std::chars_format::fixed, 3);
  out.append(buffer, ec == std::errc() ? end : buffer);
  out += ",\n \"timestamps\": [";
  for (size_t i = 0; i < times_.size(); ++i) {
    if (i != 0) out += ',';
    auto [e, err] =
        std::to_chars(buffer, buffer + sizeof buffer, times_[i], std::chars_format::fixed, 3);
    out.append(buffer, err == std::errc() ? e : buffer);
  }
  out += "],\n \"routes\": [";
  static const StatusCounts zero;
  bool first = true;
  for (const Row& r : routes_) {
    out += first ? "\n  " : ",\n  ";
    first = false;
    auto it = now.routes.find({r.route, r.upstream});
    append_row(out, r, it == now.routes.end() ? zero : it->second, kNaN);
  }
  out += "],\n \"upstreams\": [";
  first = true;
  for (const Row& u : upstreams_) {
    out += first ? "\n  " : ",\n  ";
    first = false;
    auto it = now.upstreams.find(u.upstream);
    auto in = now.in_flight.find(u.upstream);
    append_row(out, u, it == now.upstreams.end() ? zero : it->second,
               in == now.in_flight.end() ? 0 : in->second);
  }
  out += "]}\n";
  return out;
}

}  // namespace routemeter
