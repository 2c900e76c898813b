// GET /status (docs/status.md): one self-contained HTML page, inline CSS and
// JavaScript and nothing else (the admin listener may have no internet),
// that fetches /status.json every 2 s and draws a RED table per route and
// upstream and, per route, charts of the last points on <canvas>. The page
// holds no data: with an admin token it asks for the token, keeps it in
// sessionStorage and sends it as "Authorization: Bearer" on its fetches,
// never in a URL. Stateless; any thread.
#pragma once

#include <string>
#include <string_view>

namespace routemeter {

// A fresh random nonce (16 bytes, base64) for one answer's inline script and style.
std::string random_nonce();

// The page with `nonce` on its <script> and <style>; `token_required`: the
// page asks for the token before its first fetch.
std::string status_page_html(std::string_view nonce, bool token_required);

// The Content-Security-Policy of the page: nothing but its own nonce-tagged
// script and style, fetches to the same origin, no form submission, no framing.
std::string status_page_csp(std::string_view nonce);

}  // namespace routemeter
