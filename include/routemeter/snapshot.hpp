// A Snapshot is one loaded configuration compiled for the data path: the
// Config, the Router built from it and every upstream server resolved to a
// socket address. Immutable; shared by all workers as shared_ptr<const Snapshot>.
// A request keeps the snapshot it started with until it ends (reload swaps
// the worker's pointer, never the object).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "routemeter/config.hpp"
#include "routemeter/net.hpp"
#include "routemeter/router.hpp"

namespace routemeter {

struct ResolvedUpstream {
  const UpstreamConfig* config = nullptr;
  std::vector<SocketAddress> servers;      // same order as config->servers
  std::vector<std::string> server_names;   // "host:port" as configured
};

class Snapshot {
 public:
  // Resolves every server; on failure returns nullptr and sets `error`.
  static std::shared_ptr<const Snapshot> build(std::shared_ptr<const Config> config,
                                               std::string* error);

  const Config& config() const { return *config_; }
  const Router& router() const { return *router_; }
  const std::vector<ResolvedUpstream>& upstreams() const { return upstreams_; }

 private:
  Snapshot() = default;
  std::shared_ptr<const Config> config_;
  std::unique_ptr<Router> router_;
  std::vector<ResolvedUpstream> upstreams_;
};

}  // namespace routemeter
