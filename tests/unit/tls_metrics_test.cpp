// The TLS metrics: routemeter_tls_handshakes_total{result} counted through
// handles resolved up front, and routemeter_tls_certificate_expiry_timestamp_seconds
// collected from the current snapshot's TLS contexts, equal to each
// certificate's not-after.
#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "routemeter/config.hpp"
#include "routemeter/metrics.hpp"
#include "routemeter/server_collectors.hpp"
#include "routemeter/snapshot.hpp"
#include "test_certificates.hpp"

using namespace routemeter;
using namespace routemeter::testing;

namespace {

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}

}  // namespace

TEST_CASE("tls metrics: handshakes are counted by result, both exposed from the start",
          "[tls][metrics]") {
  Metrics metrics(MetricsConfig{}, 2);
  std::string text = metrics.render();
  INFO(text);
  CHECK(has_line(text, "# TYPE routemeter_tls_handshakes_total counter"));
  CHECK(has_line(text, "routemeter_tls_handshakes_total{result=\"ok\"} 0"));
  CHECK(has_line(text, "routemeter_tls_handshakes_total{result=\"failed\"} 0"));

  metrics.count_tls_handshake(TlsHandshakeResult::kOk);
  metrics.count_tls_handshake(TlsHandshakeResult::kOk);
  metrics.count_tls_handshake(TlsHandshakeResult::kFailed);
  text = metrics.render();
  CHECK(has_line(text, "routemeter_tls_handshakes_total{result=\"ok\"} 2"));
  CHECK(has_line(text, "routemeter_tls_handshakes_total{result=\"failed\"} 1"));

  // A worker counts through its snapshot's binding: the same series.
  ConfigLoadResult loaded = parse_config("", "t.toml");
  REQUIRE(loaded.ok());
  MetricsBinding binding(metrics, *loaded.config);
  binding.count_tls_handshake(TlsHandshakeResult::kFailed);
  CHECK(has_line(metrics.render(), "routemeter_tls_handshakes_total{result=\"failed\"} 2"));
}

TEST_CASE("tls metrics: the expiry gauge is each certificate's not-after", "[tls][metrics]") {
  TempDir dir;
  const int64_t shop_not_after = unix_now() + (47 * 86400) + 3;
  const TestCertificate shop =
      make_certificate({.dns_names = {"shop.example.test"}, .not_after = shop_not_after});
  const TestCertificate expired = make_certificate(
      {.dns_names = {"old.example.test"}, .not_before = 1600000000, .not_after = 1700000000});
  const std::string toml =
      "[server]\nlisten = [\"127.0.0.1:0\"]\n[tls]\nlisten = [\"127.0.0.1:0\"]\n"
      "[[tls.certificate]]\ncert = \"" +
      dir.write("shop.pem", shop.cert_pem) + "\"\nkey = \"" + dir.write("shop.key", shop.key_pem) +
      "\"\n[[tls.certificate]]\ncert = \"" + dir.write("old.pem", expired.cert_pem) +
      "\"\nkey = \"" + dir.write("old.key", expired.key_pem) + "\"\n";
  ConfigLoadResult loaded = parse_config(toml, "t.toml");
  REQUIRE(loaded.ok());
  CHECK(loaded.warnings.size() == 1);  // the expired one loads, with a warning
  std::string error;
  std::shared_ptr<const Snapshot> snap = Snapshot::build(loaded.config, nullptr, nullptr, &error);
  INFO(error);
  REQUIRE(snap);
  REQUIRE(snap->tls());

  TlsExpiryCollector collector("routemeter", [&snap] { return snap; });
  std::vector<prometheus::MetricFamily> families = collector.Collect();
  REQUIRE(families.size() == 1);
  const prometheus::MetricFamily& f = families[0];
  CHECK(f.name == "routemeter_tls_certificate_expiry_timestamp_seconds");
  CHECK(f.type == prometheus::MetricType::Gauge);
  REQUIRE(f.metric.size() == 2);
  CHECK(f.metric[0].label.at(0).name == "name");
  CHECK(f.metric[0].label.at(0).value == "shop.example.test");
  CHECK(f.metric[0].gauge.value == static_cast<double>(shop_not_after));
  CHECK(f.metric[0].gauge.value == static_cast<double>(shop.not_after));
  CHECK(f.metric[1].label.at(0).value == "old.example.test");
  CHECK(f.metric[1].gauge.value == 1700000000.0);

  // Without [tls]: the family has no series (and is left out of /metrics).
  ConfigLoadResult plain = parse_config("", "t.toml");
  std::shared_ptr<const Snapshot> plain_snap =
      Snapshot::build(plain.config, nullptr, nullptr, &error);
  REQUIRE(plain_snap);
  TlsExpiryCollector none("routemeter", [&plain_snap] { return plain_snap; });
  CHECK(none.Collect().at(0).metric.empty());
}
