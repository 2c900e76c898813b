#include "routemeter/snapshot.hpp"

namespace routemeter {

std::shared_ptr<const Snapshot> Snapshot::build(std::shared_ptr<const Config> config,
                                                std::string* error) {
  std::shared_ptr<Snapshot> snap(new Snapshot());
  snap->config_ = std::move(config);
  for (const UpstreamConfig& up : snap->config_->upstreams) {
    ResolvedUpstream resolved;
    resolved.config = &up;
    for (const HostPort& server : up.servers) {
      auto addr = resolve(server, error);
      if (!addr) {
        if (error) *error = "upstream \"" + up.name + "\": " + *error;
        return nullptr;
      }
      resolved.servers.push_back(*addr);
      resolved.server_names.push_back(server.text());
    }
    snap->upstreams_.push_back(std::move(resolved));
  }
  snap->router_ = std::make_unique<Router>(*snap->config_);
  return snap;
}

}  // namespace routemeter
