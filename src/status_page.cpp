#include "routemeter/status_page.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>

namespace routemeter {

namespace {

// The page. "{{NONCE}}" and "{{AUTH}}" are replaced per answer. The script
// keeps the token in memory and sessionStorage only; every number shown
// comes from /status.json (docs/status.md has the schema). Rows carry their
// raw values in data- attributes (what the browser test reads).
constexpr std::string_view kPage = R"PAGE(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>routemeter status</title>
<link rel="icon" href="data:,">
<style nonce="{{NONCE}}">
:root { --bg:#fff; --fg:#1d2330; --muted:#687083; --line:#e3e6ec; --card:#f7f8fa;
  --rate:#2f6fdb; --err:#d6453d; --p50:#1b9e77; --p99:#e08a1e; }
@media (prefers-color-scheme: dark) {
  :root { --bg:#14171d; --fg:#e6e8ee; --muted:#9aa2b2; --line:#2a2f3a; --card:#1b1f27; } }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
  background:var(--bg); color:var(--fg); }
header { display:flex; flex-wrap:wrap; align-items:baseline; gap:.4em 1em;
  padding:.8em 1em; border-bottom:1px solid var(--line); }
header h1 { font-size:1.15em; margin:0; }
#state { color:var(--muted); font-size:.9em; }
#state[data-state="error"], #state[data-state="token"] { color:var(--err); }
main { padding:0 1em 2em; max-width:1400px; margin:0 auto; }
h2 { font-size:1em; margin:1.2em 0 .5em; }
.scroll { overflow-x:auto; }
table { border-collapse:collapse; width:100%; font-variant-numeric:tabular-nums; }
th, td { padding:.35em .6em; border-bottom:1px solid var(--line); white-space:nowrap; }
th { text-align:left; color:var(--muted); font-weight:600; font-size:.85em; }
td.n, th.n { text-align:right; }
tr.bad td.err { color:var(--err); font-weight:600; }
.grid { display:grid; grid-template-columns:repeat(auto-fill,minmax(340px,1fr)); gap:1em; }
.card { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:.6em .8em; }
.card h3 { font-size:.95em; margin:0 0 .3em; }
.card h3 span { color:var(--muted); font-weight:400; }
canvas { width:100%; height:130px; display:block; }
.legend { font-size:.8em; color:var(--muted); margin:.2em 0 .6em; }
.legend i { display:inline-block; width:.8em; height:.8em; border-radius:2px; margin:0 .3em 0 .8em;
  vertical-align:-1px; }
.legend i:first-child { margin-left:0; }
.c-rate { background:var(--rate); } .c-err { background:var(--err); }
.c-p50 { background:var(--p50); } .c-p99 { background:var(--p99); }
#login { max-width:28em; margin:3em auto; padding:1.2em; border:1px solid var(--line);
  border-radius:8px; background:var(--card); }
#login input { width:100%; padding:.5em; margin:.6em 0; font:inherit; }
#login button { padding:.45em 1.2em; font:inherit; }
.note { color:var(--muted); font-size:.85em; }
[hidden] { display:none !important; }
@media (max-width:640px) {
  .wide { display:none; }
  th, td { padding:.3em .35em; }
  .grid { grid-template-columns:1fr; }
  main { padding:0 .5em 2em; }
}
</style>
</head>
<body data-auth="{{AUTH}}">
<header><h1>routemeter</h1><span id="state" data-state="loading">loading…</span></header>
<form id="login" hidden autocomplete="off">
  <strong>This admin listener needs its token.</strong>
  <div class="note">It is kept in this tab's session storage and sent as an
  Authorization: Bearer header, never in a URL.</div>
  <input id="token" type="password" autocomplete="off" placeholder="admin token"
    aria-label="admin token">
  <button type="submit">Show status</button>
  <div id="login-error" class="note"></div>
</form>
<main id="data" hidden>
  <h2>Routes</h2>
  <div class="scroll"><table id="routes"><thead><tr>
    <th>route</th><th>upstream</th><th class="n">req/s</th><th class="n">errors</th>
    <th class="n">p50</th><th class="n">p99</th><th class="n">in flight</th>
    <th class="n wide">requests</th><th class="n wide">errors (all)</th>
  </tr></thead><tbody></tbody></table></div>
  <h2>Upstreams</h2>
  <div class="scroll"><table id="upstreams"><thead><tr>
    <th>upstream</th><th class="n">req/s</th><th class="n">errors</th>
    <th class="n">p50</th><th class="n">p99</th><th class="n">in flight</th>
    <th class="n wide">requests</th><th class="n wide">errors (all)</th>
  </tr></thead><tbody></tbody></table></div>
  <p class="note" id="about"></p>
  <h2>Last 15 minutes per route</h2>
  <div class="grid" id="charts"></div>
</main>
<script nonce="{{NONCE}}">
"use strict";
(function () {
  const KEY = "routemeter-admin-token";
  let token = null;
  try { token = sessionStorage.getItem(KEY); } catch (e) { token = null; }
  const needToken = document.body.dataset.auth === "required";
  const $ = (id) => document.getElementById(id);
  let timer = null;

  function setState(state, text) { const s = $("state"); s.dataset.state = state; s.textContent = text; }
  function fmtRate(v) { return v == null ? "–" : v < 10 ? v.toFixed(2) : v.toFixed(1); }
  function fmtPct(v) { return v == null ? "–" : (100 * v).toFixed(1) + " %"; }
  function fmtSec(v) {
    if (v == null) return "–";
    return v < 1 ? (1000 * v).toFixed(v < 0.01 ? 1 : 0) + " ms" : v.toFixed(2) + " s";
  }
  function fmtInt(v) { return v == null ? "–" : String(Math.round(v)); }
  function cell(tr, text, cls) {
    const td = document.createElement("td"); td.textContent = text;
    if (cls) td.className = cls; tr.appendChild(td);
  }

  function askToken(message) {
    if (timer) { clearTimeout(timer); timer = null; }
    $("data").hidden = true; $("login").hidden = false;
    $("login-error").textContent = message || "";
    setState("token", "token required");
    $("token").focus();
  }
  $("login").addEventListener("submit", (ev) => {
    ev.preventDefault();
    token = $("token").value;
    $("token").value = "";
    try { sessionStorage.setItem(KEY, token); } catch (e) { /* memory only */ }
    $("login").hidden = true;
    refresh();
  });

  function row(tbody, r, isRoute) {
    const last = r.last || {};
    const tr = document.createElement("tr");
    tr.className = (isRoute ? "route" : "upstream") + (last.error_ratio > 0.05 ? " bad" : "");
    if (isRoute) tr.dataset.route = r.route;
    tr.dataset.upstream = r.upstream;
    tr.dataset.rate = last.rate == null ? "" : last.rate;
    tr.dataset.errorRatio = last.error_ratio == null ? "" : last.error_ratio;
    tr.dataset.requests = r.totals.requests;
    tr.dataset.totalErrorRatio = r.totals.error_ratio == null ? "" : r.totals.error_ratio;
    if (isRoute) cell(tr, r.route);
    cell(tr, r.upstream);
    cell(tr, fmtRate(last.rate), "n rate");
    cell(tr, fmtPct(last.error_ratio), "n err");
    cell(tr, fmtSec(last.p50), "n p50");
    cell(tr, fmtSec(last.p99), "n p99");
    cell(tr, isRoute ? "–" : fmtInt(r.totals.in_flight), "n inflight");
    cell(tr, fmtInt(r.totals.requests), "n wide total");
    cell(tr, fmtPct(r.totals.error_ratio), "n wide total-err");
    tbody.appendChild(tr);
  }

  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
    return 10 * p;
  }
  function hhmm(t) {
    const d = new Date(t * 1000);
    return String(d.getHours()).padStart(2, "0") + ":" + String(d.getMinutes()).padStart(2, "0") +
      ":" + String(d.getSeconds()).padStart(2, "0");
  }
  // lines: [{values, color, fill}], all aligned with times.
  function draw(canvas, times, lines, fmt, slots, step) {
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || 320, h = canvas.clientHeight || 130;
    canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr);
    const g = canvas.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    const css = getComputedStyle(document.documentElement);
    const muted = css.getPropertyValue("--muted").trim(), line = css.getPropertyValue("--line").trim();
    const left = 52, right = 6, top = 6, bottom = 18;
    const pw = w - left - right, ph = h - top - bottom;
    let max = 0;
    for (const l of lines) for (const v of l.values) if (v != null && v > max) max = v;
    max = niceMax(max);
    g.font = "11px system-ui,sans-serif"; g.fillStyle = muted; g.strokeStyle = line; g.lineWidth = 1;
    g.textAlign = "right"; g.textBaseline = "middle";
    for (let i = 0; i <= 2; ++i) {
      const y = top + ph - (ph * i) / 2;
      g.beginPath(); g.moveTo(left, y + 0.5); g.lineTo(left + pw, y + 0.5); g.stroke();
      g.fillText(fmt((max * i) / 2), left - 4, y);
    }
    const n = Math.max(slots, times.length);
    const x = (i) => left + (pw * (i + (n - times.length))) / Math.max(1, n - 1);
    const y = (v) => top + ph - (ph * v) / max;
    g.textBaseline = "top";
    if (times.length) {
      // The window's two ends: its start (slots - 1 intervals back) and the newest point.
      const newest = times[times.length - 1];
      g.textAlign = "left"; g.fillText(hhmm(newest - (n - 1) * step), left, top + ph + 4);
      g.textAlign = "right"; g.fillText(hhmm(newest), left + pw, top + ph + 4);
    }
    for (const l of lines) {
      g.strokeStyle = l.color; g.fillStyle = l.color; g.lineWidth = 1.6;
      let open = false, start = 0, prev = 0;
      const close = () => {
        if (!open) return;
        g.stroke();
        if (l.fill) {
          g.lineTo(x(prev), y(0)); g.lineTo(x(start), y(0)); g.closePath();
          g.globalAlpha = 0.25; g.fill(); g.globalAlpha = 1;
        }
        open = false;
      };
      for (let i = 0; i < l.values.length; ++i) {
        const v = l.values[i];
        if (v == null) { close(); continue; }
        if (!open) { g.beginPath(); g.moveTo(x(i), y(v)); open = true; start = i; }
        else g.lineTo(x(i), y(v));
        prev = i;
      }
      close();
      if (l.values.length === 1 && l.values[0] != null) {
        g.beginPath(); g.arc(x(0), y(l.values[0]), 2, 0, 7); g.fill();
      }
    }
  }

  function charts(data) {
    const box = $("charts"), css = getComputedStyle(document.documentElement);
    const color = (name) => css.getPropertyValue(name).trim();
    const seen = new Set();
    for (const r of data.routes) {
      if (r.route === "unmatched" && !r.totals.requests) continue;
      const id = "chart-" + r.route;
      seen.add(id);
      let card = document.getElementById(id);
      if (!card) {
        card = document.createElement("div"); card.className = "card"; card.id = id;
        const h = document.createElement("h3"); h.textContent = r.route + " ";
        const s = document.createElement("span"); s.textContent = "→ " + r.upstream; h.appendChild(s);
        card.appendChild(h);
        card.appendChild(document.createElement("canvas"));
        const l1 = document.createElement("div"); l1.className = "legend";
        l1.innerHTML = '<i class="c-rate"></i>requests/s<i class="c-err"></i>5xx/s';
        card.appendChild(l1);
        card.appendChild(document.createElement("canvas"));
        const l2 = document.createElement("div"); l2.className = "legend";
        l2.innerHTML = '<i class="c-p50"></i>p50<i class="c-p99"></i>p99';
        card.appendChild(l2);
        box.appendChild(card);
      }
      const c = card.getElementsByTagName("canvas"), s = r.series;
      const errRate = s.rate.map((v, i) => v == null || s.error_ratio[i] == null ? (v == null ? null : 0)
        : v * s.error_ratio[i]);
      draw(c[0], data.timestamps, [{ values: s.rate, color: color("--rate") },
        { values: errRate, color: color("--err"), fill: true }], fmtRate, data.points_kept,
        data.interval_seconds);
      draw(c[1], data.timestamps, [{ values: s.p50, color: color("--p50") },
        { values: s.p99, color: color("--p99") }], fmtSec, data.points_kept,
        data.interval_seconds);
    }
    for (const card of Array.from(box.children)) if (!seen.has(card.id)) card.remove();
  }

  function render(data) {
    for (const [id, rows, isRoute] of [["routes", data.routes, true], ["upstreams", data.upstreams, false]]) {
      const tbody = $(id).tBodies[0];
      tbody.textContent = "";
      for (const r of rows) {
        if (isRoute && r.route === "unmatched" && !r.totals.requests) continue;
        row(tbody, r, isRoute);
      }
    }
    $("about").textContent = "Rates, errors (5xx share) and latency quantiles are those of the last " +
      data.interval_seconds + " s interval (" + data.timestamps.length + " of " + data.points_kept +
      " points so far); p50/p99 are interpolated in the duration histogram's buckets. " +
      "In flight is counted per upstream.";
    charts(data);
  }

  async function refresh() {
    if (timer) { clearTimeout(timer); timer = null; }
    if (needToken && !token) { askToken(""); return; }
    const headers = token ? { "Authorization": "Bearer " + token } : {};
    try {
      const res = await fetch("status.json", { headers: headers, cache: "no-store" });
      if (res.status === 401) {
        token = null;
        try { sessionStorage.removeItem(KEY); } catch (e) { /* ignore */ }
        askToken("That token was refused.");
        return;
      }
      if (!res.ok) throw new Error("HTTP " + res.status);
      const data = await res.json();
      $("login").hidden = true; $("data").hidden = false;
      render(data);
      setState("ok", "updated " + hhmm(data.time) + " · every 2 s");
    } catch (e) {
      setState("error", "cannot read status.json: " + e.message + " (retrying)");
    }
    timer = setTimeout(refresh, 2000);
  }
  refresh();
})();
</script>
</body>
</html>
)PAGE";

void replace_all(std::string& text, std::string_view from, std::string_view to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

}  // namespace

std::string random_nonce() {
  std::array<unsigned char, 16> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    // Never expected; a nonce that is not secret only weakens the CSP.
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<unsigned char>(i * 37 + 11);
  }
  std::array<unsigned char, 32> text{};  // 4 * ceil(16 / 3) + 1
  const int n = EVP_EncodeBlock(text.data(), bytes.data(), static_cast<int>(bytes.size()));
  return {reinterpret_cast<const char*>(text.data()), static_cast<size_t>(n)};
}

std::string status_page_html(std::string_view nonce, bool token_required) {
  std::string page(kPage);
  replace_all(page, "{{NONCE}}", nonce);
  replace_all(page, "{{AUTH}}", token_required ? "required" : "none");
  return page;
}

std::string status_page_csp(std::string_view nonce) {
  const std::string n(nonce);
  return "default-src 'none'; script-src 'nonce-" + n + "'; style-src 'nonce-" + n +
         "'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; "
         "frame-ancestors 'none'";
}

}  // namespace routemeter
