// Shared setup for the proxy integration tests: a config template with one
// upstream per in-test backend, and a fixture starting both.
#pragma once

#include <map>
#include <string>

#include "harness.hpp"

namespace routemeter::test {

// A routemeter config on ephemeral loopback ports with one upstream "app"
// (servers = `servers`, a TOML list body such as "\"127.0.0.1:1234\"") and the
// given [[route]] tables (default: one prefix route "all" on "/"). `extra`
// is inserted into [server].
std::string proxy_config(const std::string& servers, const std::string& routes = "",
                         const std::string& server_extra = "",
                         const std::string& upstream_extra = "");

// A loopback port with nothing listening on it (port 0 bound, read back and
// closed): connections to it are refused until something else takes it, so
// it is only for a program that binds it at once (and retries on a clash).
uint16_t unused_port();

// A loopback port held bound but never listening for as long as this lives:
// connections to it are refused, and no other socket (another test's
// listener, a client's ephemeral port) can take it meanwhile.
class RefusingPort {
 public:
  RefusingPort();
  ~RefusingPort();
  RefusingPort(const RefusingPort&) = delete;
  RefusingPort& operator=(const RefusingPort&) = delete;
  uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

// /metrics once no request is in flight any more (a request is recorded just
// after its last byte is written, so a client may see the answer a moment
// before the scrape does). Waits with a deadline; returns the last scrape.
std::string scrape_settled(uint16_t admin_port, milliseconds timeout = kDefaultTimeout);

// /metrics once no client connection is open and no request is in flight,
// from a scrape started after that was seen. A connection is retired only
// after its last request was recorded, so this never sees a request half
// recorded (scrape_settled can: a worker may decrement requests_in_flight a
// moment before it counts the request). For tests whose clients have all
// closed their connections (http_get, "Connection: close").
std::string scrape_quiescent(uint16_t admin_port, milliseconds timeout = kDefaultTimeout);

// One backend, one proxy in front of it (1 worker unless `workers` is given).
struct ProxyFixture {
  explicit ProxyFixture(Handler handler = nullptr, const std::string& routes = "",
                        const std::string& server_extra = "",
                        const std::string& upstream_extra = "");
  TestBackend backend;
  Routemeter proxy;
  uint16_t port() const { return proxy.proxy_port(); }
  std::string metrics() const { return scrape_settled(proxy.admin_port()); }
};

}  // namespace routemeter::test
