#include "routemeter/text_format.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>

namespace routemeter {
namespace {

void append_double(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v < 0 ? "-Inf" : "+Inf";
  } else {
    char buf[32];
    auto res = std::to_chars(buf, buf + sizeof buf, v);  // shortest round-trip form
    out.append(buf, res.ptr);
  }
}

void append_uint(std::string& out, uint64_t v) {
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, res.ptr);
}

void append_label_value(std::string& out, const std::string& value) {
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

// name{labels[,extra="value"]} followed by a space.
void append_head(std::string& out, const prometheus::MetricFamily& family,
                 const prometheus::ClientMetric& metric, const char* suffix,
                 const char* extra_name = nullptr, const std::string* extra_value = nullptr) {
  out += family.name;
  out += suffix;
  if (!metric.label.empty() || extra_name != nullptr) {
    out += '{';
    bool first = true;
    for (const auto& l : metric.label) {
      if (!first) out += ',';
      first = false;
      out += l.name;
      out += "=\"";
      append_label_value(out, l.value);
      out += '"';
    }
    if (extra_name != nullptr) {
      if (!first) out += ',';
      out += extra_name;
      out += "=\"";
      out += *extra_value;
      out += '"';
    }
    out += '}';
  }
  out += ' ';
}

void append_tail(std::string& out, const prometheus::ClientMetric& metric) {
  if (metric.timestamp_ms != 0) {
    out += ' ';
    out += std::to_string(metric.timestamp_ms);
  }
  out += '\n';
}

std::string number_label(double v) {
  std::string s;
  append_double(s, v);
  return s;
}

void append_metric(std::string& out, const prometheus::MetricFamily& f,
                   const prometheus::ClientMetric& m) {
  switch (f.type) {
    case prometheus::MetricType::Counter:
      append_head(out, f, m, "");
      append_double(out, m.counter.value);
      append_tail(out, m);
      break;
    case prometheus::MetricType::Gauge:
      append_head(out, f, m, "");
      append_double(out, m.gauge.value);
      append_tail(out, m);
      break;
    case prometheus::MetricType::Untyped:
      append_head(out, f, m, "");
      append_double(out, m.untyped.value);
      append_tail(out, m);
      break;
    case prometheus::MetricType::Summary: {
      const auto& s = m.summary;
      append_head(out, f, m, "_count");
      append_uint(out, s.sample_count);
      append_tail(out, m);
      append_head(out, f, m, "_sum");
      append_double(out, s.sample_sum);
      append_tail(out, m);
      for (const auto& q : s.quantile) {
        const std::string label = number_label(q.quantile);
        append_head(out, f, m, "", "quantile", &label);
        append_double(out, q.value);
        append_tail(out, m);
      }
      break;
    }
    case prometheus::MetricType::Histogram: {
      const auto& h = m.histogram;
      append_head(out, f, m, "_count");
      append_uint(out, h.sample_count);
      append_tail(out, m);
      append_head(out, f, m, "_sum");
      append_double(out, h.sample_sum);
      append_tail(out, m);
      double last = -std::numeric_limits<double>::infinity();
      for (const auto& b : h.bucket) {
        const std::string label = number_label(b.upper_bound);
        append_head(out, f, m, "_bucket", "le", &label);
        append_uint(out, b.cumulative_count);
        append_tail(out, m);
        last = b.upper_bound;
      }
      if (!std::isinf(last)) {
        const std::string inf = "+Inf";
        append_head(out, f, m, "_bucket", "le", &inf);
        append_uint(out, h.sample_count);
        append_tail(out, m);
      }
      break;
    }
  }
}

const char* type_name(prometheus::MetricType t) {
  switch (t) {
    case prometheus::MetricType::Counter:
      return "counter";
    case prometheus::MetricType::Gauge:
      return "gauge";
    case prometheus::MetricType::Summary:
      return "summary";
    case prometheus::MetricType::Histogram:
      return "histogram";
    case prometheus::MetricType::Untyped:
      return "untyped";
  }
  return "untyped";
}

void append_help(std::string& out, const std::string& help, bool escape_quotes) {
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && escape_quotes) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

// The family name OpenMetrics wants: a counter's without `_total`.
std::string_view openmetrics_name(const prometheus::MetricFamily& f) {
  std::string_view name = f.name;
  if (f.type == prometheus::MetricType::Counter && name.ends_with("_total")) {
    name.remove_suffix(6);
  }
  return name;
}

void append_exemplar(std::string& out, const BucketExemplar& e) {
  out += " # {trace_id=\"";
  append_label_value(out, e.trace_id);
  out += "\"} ";
  append_double(out, e.value);
  char ts[32];
  const int n = std::snprintf(ts, sizeof ts, " %.3f", e.timestamp);
  out.append(ts, static_cast<size_t>(std::max(n, 0)));
}

void append_openmetrics_metric(std::string& out, const prometheus::MetricFamily& f,
                               const prometheus::ClientMetric& m,
                               const HistogramExemplars& exemplars,
                               std::vector<std::optional<BucketExemplar>>& scratch) {
  switch (f.type) {
    case prometheus::MetricType::Counter:
      append_head(out, f, m, f.name.ends_with("_total") ? "" : "_total");
      append_double(out, m.counter.value);
      append_tail(out, m);
      break;
    case prometheus::MetricType::Histogram: {
      const auto& h = m.histogram;
      scratch.clear();
      if (exemplars) exemplars(f, m, scratch);
      size_t i = 0;
      bool has_inf = false;
      for (const auto& b : h.bucket) {
        const std::string label = number_label(b.upper_bound);
        append_head(out, f, m, "_bucket", "le", &label);
        append_uint(out, b.cumulative_count);
        if (i < scratch.size() && scratch[i]) append_exemplar(out, *scratch[i]);
        append_tail(out, m);
        has_inf = std::isinf(b.upper_bound);
        ++i;
      }
      if (!has_inf) {
        const std::string inf = "+Inf";
        append_head(out, f, m, "_bucket", "le", &inf);
        append_uint(out, h.sample_count);
        if (i < scratch.size() && scratch[i]) append_exemplar(out, *scratch[i]);
        append_tail(out, m);
      }
      append_head(out, f, m, "_count");
      append_uint(out, h.sample_count);
      append_tail(out, m);
      append_head(out, f, m, "_sum");
      append_double(out, h.sample_sum);
      append_tail(out, m);
      break;
    }
    default:  // gauges, summaries, untyped: as in 0.0.4
      append_metric(out, f, m);
      break;
  }
}

}  // namespace

void append_openmetrics(std::string& out, const std::vector<prometheus::MetricFamily>& families,
                        const HistogramExemplars& exemplars) {
  std::vector<std::optional<BucketExemplar>> scratch;
  for (const auto& f : families) {
    if (f.metric.empty()) continue;
    const std::string_view name = openmetrics_name(f);
    if (!f.help.empty()) {
      out += "# HELP ";
      out += name;
      out += ' ';
      append_help(out, f.help, true);
      out += '\n';
    }
    out += "# TYPE ";
    out += name;
    out += ' ';
    out += f.type == prometheus::MetricType::Untyped ? "unknown" : type_name(f.type);
    out += '\n';
    for (const auto& m : f.metric) append_openmetrics_metric(out, f, m, exemplars, scratch);
  }
  out += "# EOF\n";
}

void append_text_format(std::string& out, const std::vector<prometheus::MetricFamily>& families) {
  for (const auto& f : families) {
    if (f.metric.empty()) continue;  // a family with no series says nothing
    if (!f.help.empty()) {
      out += "# HELP ";
      out += f.name;
      out += ' ';
      append_help(out, f.help, false);
      out += '\n';
    }
    out += "# TYPE ";
    out += f.name;
    out += ' ';
    out += type_name(f.type);
    out += '\n';
    for (const auto& m : f.metric) append_metric(out, f, m);
  }
}

}  // namespace routemeter
