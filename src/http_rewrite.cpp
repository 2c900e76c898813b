#include "routemeter/http_rewrite.hpp"

#include "routemeter/reply.hpp"

namespace routemeter {
namespace {

void append_field(std::string& h, std::string_view name, std::string_view value) {
  h.append(name);
  h += ": ";
  h.append(value);
  h += "\r\n";
}

// Fields of the client's request that the proxy replaces or re-derives.
bool replaced_on_request(std::string_view name) {
  return http::iequals(name, "host") || http::iequals(name, "content-length") ||
         http::iequals(name, "expect") || http::iequals(name, "x-forwarded-proto") ||
         http::iequals(name, "x-forwarded-host") || http::iequals(name, "x-forwarded-for");
}

}  // namespace

bool asks_upgrade(const http::RequestHead& head) {
  if (!head.framing.upgrade) return false;
  for (const http::Header& f : head.headers) {
    if (http::iequals(f.name, "connection") && http::connection_lists(f.value, "upgrade")) {
      return true;
    }
  }
  return false;
}

void render_upstream_request(const http::RequestHead& head, std::string_view path,
                             const ForwardInfo& fwd, std::string& out) {
  std::string& h = out;
  h.clear();
  h.append(head.method_token);
  h += ' ';
  h.append(path);
  if (!head.query.empty() || head.target.find('?') != std::string_view::npos) {
    h += '?';
    h.append(head.query);
  }
  h += " HTTP/1.1\r\n";
  const http::HopByHop hop(head.headers);
  bool has_xff = false;
  for (const http::Header& f : head.headers) {
    if (fwd.upgrade && http::iequals(f.name, "upgrade")) {
      append_field(h, f.name, f.value);  // hop-by-hop, but the upgrade goes on to the upstream
      continue;
    }
    if (hop.contains(f.name)) continue;
    if (replaced_on_request(f.name)) {
      has_xff = has_xff || http::iequals(f.name, "x-forwarded-for");
      continue;
    }
    append_field(h, f.name, f.value);
  }
  if (!head.host.empty()) append_field(h, "Host", head.host);
  h += "X-Forwarded-For: ";
  if (has_xff) {
    // Every X-Forwarded-For field received forms one list, in order; we add ours.
    for (const http::Header& f : head.headers) {
      if (http::iequals(f.name, "x-forwarded-for")) {
        h.append(f.value);
        h += ", ";
      }
    }
  }
  h.append(fwd.client_ip);
  h += "\r\n";
  append_field(h, "X-Forwarded-Proto", fwd.proto);
  if (!head.host.empty()) append_field(h, "X-Forwarded-Host", head.host);
  if (fwd.upgrade) h += "Connection: upgrade\r\n";
  if (head.framing.chunked) {
    // Streamed as it arrives, framing checked on the way: the length is unknown.
    h += "Transfer-Encoding: chunked\r\n";
  } else if (head.framing.has_content_length) {
    append_field(h, "Content-Length", std::to_string(head.framing.content_length));
  }
  h += "\r\n";
}

ResponsePlan plan_response(http::Method request_method, bool client_http10,
                           const http::ResponseHead& response, bool upgrade) {
  ResponsePlan plan;
  if (response.status == 101 && upgrade) {
    plan.tunnel = true;
    plan.upstream_reusable = false;
    plan.client_must_close = true;  // the connection is the tunnel's from now on
    return plan;
  }
  const http::Framing& f = response.framing;
  plan.upstream_reusable =
      response.version_minor >= 1 ? !f.connection_close : f.connection_keep_alive;
  if (http::response_has_no_body(request_method, response.status)) {
    plan.framing = BodyRelay::Framing::kNone;
  } else if (f.chunked) {
    plan.framing = BodyRelay::Framing::kChunked;
    plan.dechunk = client_http10;  // a 1.0 client can't read chunked
  } else if (f.has_content_length) {
    plan.framing = BodyRelay::Framing::kLength;
  } else {
    plan.framing = BodyRelay::Framing::kUntilClose;
    plan.upstream_reusable = false;
  }
  plan.client_must_close = plan.framing == BodyRelay::Framing::kUntilClose || plan.dechunk;
  return plan;
}

// "HTTP/1.1 <status> <reason>\r\n", replacing `out`: every response head we send.
static void status_line(const http::ResponseHead& response, std::string& out) {
  out.assign("HTTP/1.1 ");
  out += std::to_string(response.status);
  out += ' ';
  out.append(response.reason.empty() ? reason_phrase(response.status) : response.reason);
  out += "\r\n";
}

void render_interim_response(const http::ResponseHead& response, std::string& out) {
  status_line(response, out);
  const http::HopByHop hop(response.headers);
  for (const http::Header& f : response.headers) {
    if (!hop.contains(f.name)) append_field(out, f.name, f.value);
  }
  out += "\r\n";
}

void render_client_response(const http::ResponseHead& response, const ResponsePlan& plan,
                            bool close, bool client_http10, std::string& out) {
  const http::ResponseHead& r = response;
  std::string& h = out;
  status_line(r, h);
  const http::HopByHop hop(r.headers);
  for (const http::Header& f : r.headers) {
    if (plan.tunnel && http::iequals(f.name, "upgrade")) {
      append_field(h, f.name, f.value);  // the protocol switched to
      continue;
    }
    if (hop.contains(f.name) || http::iequals(f.name, "content-length")) continue;
    append_field(h, f.name, f.value);
  }
  if (plan.tunnel) {
    h += "Connection: upgrade\r\n\r\n";
    return;
  }
  if (r.framing.has_content_length &&
      (plan.framing == BodyRelay::Framing::kLength || plan.framing == BodyRelay::Framing::kNone)) {
    append_field(h, "Content-Length", std::to_string(r.framing.content_length));
  }
  if (plan.framing == BodyRelay::Framing::kChunked && !plan.dechunk) {
    h += "Transfer-Encoding: chunked\r\n";
  }
  if (close || plan.client_must_close) {
    h += "Connection: close\r\n";
  } else if (client_http10) {
    h += "Connection: keep-alive\r\n";
  }
  h += "\r\n";
}

}  // namespace routemeter
