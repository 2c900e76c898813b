#include "proxy_support.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

namespace routemeter::test {

namespace {

// A TCP socket bound to 127.0.0.1:<ephemeral>, not listening; returns the fd.
int bind_ephemeral(uint16_t& port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("bind_ephemeral: socket failed");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  if (!ok) {
    ::close(fd);
    throw std::runtime_error("bind_ephemeral: bind failed");
  }
  port = ntohs(a.sin_port);
  return fd;
}

}  // namespace

uint16_t unused_port() {
  uint16_t port = 0;
  ::close(bind_ephemeral(port));
  return port;
}

RefusingPort::RefusingPort() { fd_ = bind_ephemeral(port_); }

RefusingPort::~RefusingPort() { ::close(fd_); }

std::string proxy_config(const std::string& servers, const std::string& routes,
                         const std::string& server_extra, const std::string& upstream_extra) {
  std::string cfg = "[server]\nlisten = [\"127.0.0.1:0\"]\n";
  if (server_extra.find("workers") == std::string::npos) cfg += "workers = 1\n";
  cfg += server_extra + "\n";
  cfg += "[admin]\nlisten = \"127.0.0.1:0\"\n\n[log]\naccess = \"off\"\n\n";
  cfg += "[[upstream]]\nname = \"app\"\nservers = [" + servers + "]\n" + upstream_extra + "\n";
  if (routes.empty()) {
    cfg += "[[route]]\nname = \"all\"\npath_prefix = \"/\"\nupstream = \"app\"\n";
  } else {
    cfg += routes;
  }
  return cfg;
}

std::string scrape_settled(uint16_t admin_port, milliseconds timeout) {
  std::string text;
  wait_until(
      [&] {
        text = scrape(admin_port);
        return !text.empty() && sum_metric(text, "routemeter_requests_in_flight") == 0;
      },
      timeout);
  return text;
}

std::string scrape_quiescent(uint16_t admin_port, milliseconds timeout) {
  wait_until(
      [&] {
        const std::string text = scrape(admin_port);
        return !text.empty() && sum_metric(text, "routemeter_connections_active") == 0 &&
               sum_metric(text, "routemeter_requests_in_flight") == 0;
      },
      timeout);
  return scrape(admin_port);
}

ProxyFixture::ProxyFixture(Handler handler, const std::string& routes,
                           const std::string& server_extra, const std::string& upstream_extra)
    : backend(std::move(handler)),
      proxy(proxy_config("\"" + backend.address() + "\"", routes, server_extra, upstream_extra)) {}

}  // namespace routemeter::test
