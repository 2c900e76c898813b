#include "routemeter/reply.hpp"

#include <string>

namespace routemeter {

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 417:
      return "Expectation Failed";
    case 431:
      return "Request Header Fields Too Large";
    case 499:
      return "Client Closed Request";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

size_t write_local_reply(evbuffer* out, int status, bool close, bool http10_keep_alive,
                         bool head_only, std::string_view detail) {
  std::string body = std::to_string(status);
  body += ' ';
  body += reason_phrase(status);
  if (!detail.empty()) {
    body += ": ";
    body.append(detail);
  }
  body += '\n';
  std::string head = "HTTP/1.1 " + std::to_string(status) + " ";
  head += reason_phrase(status);
  head += "\r\nServer: routemeter\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ";
  head += std::to_string(body.size());
  if (close) {
    head += "\r\nConnection: close";
  } else if (http10_keep_alive) {
    head += "\r\nConnection: keep-alive";
  }
  head += "\r\n\r\n";
  evbuffer_add(out, head.data(), head.size());
  if (head_only) return 0;
  evbuffer_add(out, body.data(), body.size());
  return body.size();
}

}  // namespace routemeter
