// What a proxy changes in a message head as it passes: hop-by-hop fields
// removed, X-Forwarded-* set, the framing re-decided for the next hop. Pure
// functions of their inputs (no I/O, no state): any thread. The rules and
// why: docs/http.md.
#pragma once

#include <string>
#include <string_view>

#include "routemeter/body_relay.hpp"
#include "routemeter/http.hpp"

namespace routemeter {

struct ForwardInfo {
  std::string_view client_ip;       // appended to X-Forwarded-For
  std::string_view proto = "http";  // X-Forwarded-Proto
  bool upgrade = false;             // keep Upgrade and send Connection: upgrade (a WebSocket)
};

// Whether a request asks to switch protocols: an Upgrade field and
// "upgrade" among its Connection tokens (RFC 9110 7.8).
bool asks_upgrade(const http::RequestHead& head);

// The request head to send upstream: always HTTP/1.1, `path` (the route's
// rewritten path) plus the original query, the client's end-to-end fields,
// Host and X-Forwarded-For/Proto/Host, and the body's framing as the client
// sent it (Content-Length or chunked). Replaces `out`; ends with the blank line.
void render_upstream_request(const http::RequestHead& head, std::string_view path,
                             const ForwardInfo& fwd, std::string& out);

// How a response travels to the client.
struct ResponsePlan {
  BodyRelay::Framing framing = BodyRelay::Framing::kNone;
  bool dechunk = false;            // chunked upstream, HTTP/1.0 client: payload only
  bool client_must_close = false;  // the body ends with the connection
  bool upstream_reusable = true;   // the upstream connection may carry another request
  bool tunnel = false;             // 101 to an upgrade: both connections become one byte tunnel
};
// `upgrade`: the request asked for one (a 101 then opens a tunnel).
ResponsePlan plan_response(http::Method request_method, bool client_http10,
                           const http::ResponseHead& response, bool upgrade = false);

// An interim (1xx) response for an HTTP/1.1 client: its status line and
// end-to-end fields (103 Early Hints' Link...). Replaces `out`.
void render_interim_response(const http::ResponseHead& response, std::string& out);

// The response head for the client: HTTP/1.1, the upstream's end-to-end
// fields, the framing of `plan`, and Connection: close when `close` (or
// keep-alive for a keep-alive HTTP/1.0 client). Replaces `out`.
void render_client_response(const http::ResponseHead& response, const ResponsePlan& plan,
                            bool close, bool client_http10, std::string& out);

}  // namespace routemeter
