// Proxy-made answers (404, 400, 502, 504, ...) and status reason phrases.
#pragma once

#include <event2/buffer.h>

#include <string_view>

namespace routemeter {

std::string_view reason_phrase(int status);

// Appends a complete short text/plain response for `status` to `out`.
// `close` adds "Connection: close"; `http10_keep_alive` adds
// "Connection: keep-alive" for a 1.0 client that keeps the connection.
// `head_only`: a response to HEAD carries no body. `detail`, if any, follows
// the reason phrase in the body. Returns the body size.
size_t write_local_reply(evbuffer* out, int status, bool close, bool http10_keep_alive,
                         bool head_only, std::string_view detail = {});

}  // namespace routemeter
