// routemeter-demo-backend --service car|shop --listen HOST:PORT [--seed N]
// The simulated services of the reference setup; see routemeter/demo_backend.hpp.
#include <event2/event.h>

#include <csignal>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "routemeter/demo_backend.hpp"
#include "routemeter/event_handles.hpp"

namespace {

void on_signal(evutil_socket_t, short, void* arg) {
  event_base_loopexit(static_cast<event_base*>(arg), nullptr);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  routemeter::demo::DemoArgsResult parsed = routemeter::demo::parse_demo_args(args);
  if (parsed.help) {
    std::fputs(routemeter::demo::demo_usage().c_str(), stdout);
    return 0;
  }
  if (!parsed.options) {
    std::fprintf(stderr, "routemeter-demo-backend: %s\n%s", parsed.error.c_str(),
                 routemeter::demo::demo_usage().c_str());
    return 2;
  }

  std::signal(SIGPIPE, SIG_IGN);
  routemeter::EventBasePtr base(event_base_new());
  if (!base) {
    std::fputs("routemeter-demo-backend: event_base_new failed\n", stderr);
    return 1;
  }
  routemeter::demo::DemoBackend backend(*base, *parsed.options);
  std::string error;
  if (!backend.start(&error)) {
    std::fprintf(stderr, "routemeter-demo-backend: %s\n", error.c_str());
    return 1;
  }
  routemeter::EventPtr term(evsignal_new(base.get(), SIGTERM, &on_signal, base.get()));
  routemeter::EventPtr intr(evsignal_new(base.get(), SIGINT, &on_signal, base.get()));
  if (!term || !intr || evsignal_add(term.get(), nullptr) != 0 ||
      evsignal_add(intr.get(), nullptr) != 0) {
    std::fputs("routemeter-demo-backend: cannot install signal handlers\n", stderr);
    return 1;
  }

  std::fprintf(stderr, "routemeter-demo-backend: listening service=%s addr=%s\n",
               parsed.options->service.c_str(), backend.bound_address().c_str());
  std::fflush(stderr);
  event_base_dispatch(base.get());
  std::fprintf(stderr, "routemeter-demo-backend: stopped service=%s\n",
               parsed.options->service.c_str());
  return 0;
}
