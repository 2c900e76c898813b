// The Server is routemeter's main thread: it binds the proxy listeners (one
// SO_REUSEPORT socket per worker and address) and the admin listener, starts
// the workers, handles signals (SIGTERM/SIGINT drain, SIGHUP reload) and runs
// the admin endpoints. Created and run by main(); not thread-safe itself.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "routemeter/config.hpp"
#include "routemeter/event_handles.hpp"
#include "routemeter/snapshot.hpp"
#include "routemeter/worker.hpp"

struct evhttp;
struct evhttp_request;

namespace routemeter {

class Server {
 public:
  explicit Server(std::string config_path);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Loads the config, binds, serves until drained. Returns the exit code.
  int run();

 private:
  bool bind_listeners(const Config& config, size_t workers, std::string* error);
  bool bind_admin(const Config& config, std::string* error);
  void on_signal(int signo);
  void begin_drain();
  void poll_workers();
  void handle_admin(evhttp_request* req);

  std::string config_path_;
  std::shared_ptr<const Snapshot> snapshot_;
  EventBasePtr base_;
  std::vector<EventPtr> signal_events_;
  EventPtr poll_ev_;
  evhttp* admin_ = nullptr;
  std::vector<std::vector<UniqueFd>> worker_fds_;  // [worker][listener]
  std::vector<std::string> proxy_addresses_;
  std::string admin_address_;
  std::vector<std::unique_ptr<Worker>> workers_;
  bool draining_ = false;
};

}  // namespace routemeter
