#!/usr/bin/python3
"""Runs every PromQL expression of a Grafana dashboard and of a rule file
against a Prometheus server, and fails unless each one parses and returns
data (docs/grafana.md, "Every query is proven").

  scripts/check-grafana-queries.py --prometheus http://127.0.0.1:9090 \\
      [--dashboard conf/grafana/routemeter.json] [--rules conf/rules.yml] \\
      [--wait SECONDS] [--allow-empty FILE]

The expressions:
  - the dashboard's template variables of type "query", in their order:
    label_values(SELECTOR, LABEL) is asked as Grafana does
    (/api/v1/label/LABEL/values?match[]=SELECTOR); its values become the
    variable's "All" for the variables and panels after it;
  - every panel's targets[].expr (rows and collapsed rows included);
  - every rule (recording and alerting) Prometheus loaded, from
    /api/v1/rules: the server must have been started with --rules' file,
    and it must hold as many rules as the file has `expr:` keys.

Variables are substituted as Grafana does for a Prometheus data source:
a multi-value or include-all variable set to All becomes its allValue if it
has one, else the regex-escaped values joined as (a|b|c); $__rate_interval,
$__interval and $__range (and their _s/_ms forms) become --rate-interval,
--interval and --range. An expression left with a `$` is an error.

"Returns data" means: status success, and at least one sample whose value
is a finite number (a panel of NaN shows nothing). Each metric name an
expression uses (routemeter_*, process_*, and level:metric:operation
recording-rule names) must also be a series name the server knows.

The dashboard itself must import and lay out: uid, title, tags,
schemaVersion, panels and templating present; panel ids unique; every
gridPos inside the 24 columns and overlapping no other; every panel on the
${datasource} variable, with targets.

An --allow-empty file lists expressions (one per line, exactly as in the
dashboard or as Prometheus prints the rule; `#` comments) that must parse
but may return no data. With --wait, every expression is retried until all
pass or the time is up; the report is of the last attempt. Exit status 0
when every expression passes, 1 otherwise, 2 for a usage error.
"""
import argparse
import json
import math
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


def fetch(base, path, params):
    url = base.rstrip("/") + path + "?" + urllib.parse.urlencode(params, doseq=True)
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:  # 400/422: a parse or execution error
        try:
            return json.load(e)
        except ValueError:
            return {"status": "error", "error": f"HTTP {e.code}"}
    except (urllib.error.URLError, OSError, ValueError) as e:
        return {"status": "error", "error": str(e)}


def finite_samples(data):
    """How many samples of a query's `data` are finite numbers."""
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar":
        pairs = [result]
    elif kind == "vector":
        pairs = [s["value"] for s in result]
    elif kind == "matrix":
        pairs = [v for s in result for v in s["values"]]
    else:  # string
        return 0
    return sum(1 for _, v in pairs if math.isfinite(float(v)))


# Grafana's prometheusSpecialRegexEscape: a value inside a =~ regex.
def regex_escape(value):
    return re.sub(r"([$^*{}\[\]'+?.()|])", r"\\\\\1", value.replace("\\", "\\\\\\\\"))


def duration_seconds(text):
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    total, pos = 0.0, 0
    for m in re.finditer(r"(\d+)(ms|s|m|h|d|w|y)", text):
        if m.start() != pos:
            break
        total += int(m.group(1)) * units[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise ValueError(f"not a duration: {text!r}")
    return total


def substitute(expr, values, builtins):
    def one(name):
        if name in builtins:
            return builtins[name]
        if name in values:
            return values[name]
        return None

    def repl(m):
        name = m.group(1) or m.group(2) or m.group(3)
        got = one(name)
        return m.group(0) if got is None else got

    # ${name}, ${name:format} is not used here; [[name]] is the old syntax.
    return re.sub(r"\$\{(\w+)\}|\$(\w+)|\[\[(\w+)\]\]", repl, expr)


def all_value(var, values):
    if var.get("allValue"):
        return var["allValue"]
    escaped = [regex_escape(v) for v in values]
    if len(escaped) == 1:
        return escaped[0]
    return "(" + "|".join(escaped) + ")"


STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
RANGE = re.compile(r"\[[^\]]*\]")
NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def metric_names(expr):
    """routemeter_*, process_* and recording-rule names the expression reads."""
    bare = RANGE.sub(" ", STRING.sub(" ", expr))
    names = set()
    for token in NAME.findall(bare):
        if token.startswith(("routemeter_", "process_")) or token.count(":") == 2:
            names.add(token)
    return names


def lint_dashboard(d):
    """What keeps a dashboard from importing or laying out: the fields
    Grafana's import needs, ids, and panels that overlap or leave the 24
    grid columns."""
    problems = []
    for key in ("uid", "title", "schemaVersion", "panels", "templating"):
        if key not in d:
            problems.append(f"dashboard: no {key}")
    if not isinstance(d.get("tags"), list) or not d.get("tags"):
        problems.append("dashboard: no tags")
    ids, cells = set(), {}
    flat = []
    for p in d.get("panels", []):
        flat.append(p)
        flat.extend(p.get("panels") or [])
    for p in flat:
        name = f"panel {p.get('id')} \"{p.get('title')}\""
        if p.get("id") in ids:
            problems.append(f"{name}: id used twice")
        ids.add(p.get("id"))
        g = p.get("gridPos") or {}
        if not all(isinstance(g.get(k), int) for k in ("h", "w", "x", "y")):
            problems.append(f"{name}: gridPos needs integer h, w, x, y")
            continue
        if g["x"] < 0 or g["w"] < 1 or g["x"] + g["w"] > 24 or g["h"] < 1:
            problems.append(f"{name}: gridPos {g} is outside the 24 columns")
        mine = {(cx, cy) for cx in range(g["x"], g["x"] + g["w"])
                for cy in range(g["y"], g["y"] + g["h"])}
        clash = sorted({cells[c] for c in mine if c in cells}, key=str)
        if clash:
            problems.append(f"{name}: overlaps panel {', '.join(map(str, clash))}")
        cells.update({c: p.get("id") for c in mine})
        if p.get("type") != "row":
            ds = p.get("datasource") or {}
            if ds.get("uid") != "${datasource}":
                problems.append(f"{name}: datasource is not ${{datasource}}")
            if not p.get("targets"):
                problems.append(f"{name}: no targets")
    return problems


def panel_exprs(panels, where=""):
    for p in panels:
        title = where + (p.get("title") or f"panel {p.get('id')}")
        for t in p.get("targets") or []:
            if t.get("expr"):
                yield f"panel \"{title}\" {t.get('refId', '')}", t["expr"]
        # A collapsed row keeps its panels inside it.
        yield from panel_exprs(p.get("panels") or [], title + " / ")


class Check:
    def __init__(self, args):
        self.args = args
        self.base = args.prometheus
        self.allow_empty = set()
        if args.allow_empty:
            with open(args.allow_empty, encoding="utf-8") as f:
                for line in f:
                    line = line.split("#", 1)[0].strip()
                    if line:
                        self.allow_empty.add(line)
        rate = args.rate_interval
        self.builtins = {
            "__rate_interval": rate,
            "__interval": args.interval,
            "__interval_ms": str(int(duration_seconds(args.interval) * 1000)),
            "__range": args.range,
            "__range_s": str(int(duration_seconds(args.range))),
            "__range_ms": str(int(duration_seconds(args.range) * 1000)),
        }

    def run_query(self, what, expr, names, problems, lines):
        if "$" in expr:
            problems.append(f"{what}: a variable is left after substitution: {expr}")
            return
        answer = fetch(self.base, "/api/v1/query", {"query": expr})
        if answer.get("status") != "success":
            problems.append(f"{what}: {answer.get('errorType', '')} {answer.get('error')}: {expr}")
            return
        unknown = sorted(n for n in metric_names(expr) if n not in names)
        if unknown:
            problems.append(f"{what}: no series named {', '.join(unknown)}: {expr}")
            return
        finite = finite_samples(answer["data"])
        if finite == 0 and expr not in self.allow_empty:
            problems.append(f"{what}: no data ({answer['data']['resultType']} "
                            f"{json.dumps(answer['data']['result'])[:200]}): {expr}")
            return
        lines.append(f"ok {finite:3d} {what}: {' '.join(expr.split())[:150]}")

    def attempt(self, dashboard, rules_expected):
        problems, lines = [], []
        names_answer = fetch(self.base, "/api/v1/label/__name__/values", {})
        names = set(names_answer.get("data") or [])
        counts = {"variables": 0, "panels": 0, "rules": 0}

        values = {}
        if dashboard is not None:
            problems.extend(lint_dashboard(dashboard))
            for var in dashboard.get("templating", {}).get("list", []):
                if var.get("type") in ("datasource", "constant", "textbox", "adhoc", "interval"):
                    continue
                if var.get("type") != "query":
                    problems.append(f"variable {var.get('name')}: type {var.get('type')} "
                                    "is not supported by this check")
                    continue
                counts["variables"] += 1
                query = var.get("query")
                if isinstance(query, dict):
                    query = query.get("query", "")
                query = substitute(query, values, self.builtins)
                m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\s*\)\s*", query, re.S)
                if not m:
                    problems.append(f"variable {var['name']}: only label_values(selector, label) "
                                    f"is supported: {query}")
                    continue
                selector, label = m.group(1), m.group(2)
                if "$" in selector:
                    problems.append(f"variable {var['name']}: a variable is left: {selector}")
                    continue
                answer = fetch(self.base, f"/api/v1/label/{label}/values", {"match[]": selector})
                got = answer.get("data") or []
                if answer.get("status") != "success" or not got:
                    problems.append(f"variable {var['name']}: {answer.get('error') or 'no values'}: "
                                    f"label_values({selector}, {label})")
                    continue
                if var.get("regex"):
                    got = [v for v in got if re.search(var["regex"], v)]
                values[var["name"]] = all_value(var, got) if (var.get("multi") or var.get(
                    "includeAll")) else got[0]
                lines.append(f"ok {len(got):3d} variable {var['name']} = {values[var['name']]}")
                # The selector itself, as an instant query: it must have data too.
                self.run_query(f"variable {var['name']} selector", selector, names, problems, lines)

            for what, expr in panel_exprs(dashboard.get("panels", [])):
                counts["panels"] += 1
                self.run_query(what, substitute(expr, values, self.builtins), names, problems,
                               lines)

        if rules_expected is not None:
            answer = fetch(self.base, "/api/v1/rules", {})
            loaded = []
            for group in (answer.get("data") or {}).get("groups", []):
                for rule in group.get("rules", []):
                    loaded.append((group["name"], rule))
            if len(loaded) != rules_expected:
                problems.append(f"rules: Prometheus has {len(loaded)} rules loaded, "
                                f"the file has {rules_expected} expr keys")
            for group, rule in loaded:
                counts["rules"] += 1
                what = f"rule {group}/{rule.get('name')}"
                if rule.get("health") not in ("ok", "unknown"):
                    problems.append(f"{what}: health {rule.get('health')}: {rule.get('lastError')}")
                self.run_query(what, rule["query"], names, problems, lines)
        return problems, lines, counts

    def main(self):
        dashboard = None
        if self.args.dashboard:
            with open(self.args.dashboard, encoding="utf-8") as f:
                dashboard = json.load(f)
        rules_expected = None
        if self.args.rules:
            with open(self.args.rules, encoding="utf-8") as f:
                rules_expected = len(re.findall(r"^\s*(?:-\s+)?expr:", f.read(), re.M))
        deadline = time.monotonic() + self.args.wait
        attempts = 0
        while True:
            attempts += 1
            problems, lines, counts = self.attempt(dashboard, rules_expected)
            if not problems or time.monotonic() >= deadline:
                break
            time.sleep(1)
        for line in lines:
            print(line)
        for p in problems:
            print("FAIL " + p)
        total = counts["variables"] + counts["panels"] + counts["rules"]
        print(f"{counts['variables']} variable queries, {counts['panels']} panel queries, "
              f"{counts['rules']} rules: {total - len(problems)} of {total} returned data "
              f"(attempt {attempts}; {len(self.allow_empty)} allowed empty)")
        return 0 if not problems and total > 0 else 1


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--prometheus", required=True, help="base URL, e.g. http://127.0.0.1:9090")
    p.add_argument("--dashboard", help="Grafana dashboard JSON")
    p.add_argument("--rules", help="the rule file the server loaded")
    p.add_argument("--rate-interval", default="1m", help="$__rate_interval (default 1m)")
    p.add_argument("--interval", default="15s", help="$__interval (default 15s)")
    p.add_argument("--range", default="1h", help="$__range (default 1h)")
    p.add_argument("--wait", type=float, default=0, help="retry for this many seconds")
    p.add_argument("--allow-empty", help="expressions that may return no data")
    args = p.parse_args()
    if not args.dashboard and not args.rules:
        p.error("give --dashboard, --rules or both")
    for d in (args.rate_interval, args.interval, args.range):
        try:
            duration_seconds(d)
        except ValueError as e:
            p.error(str(e))
    return Check(args).main()


if __name__ == "__main__":
    sys.exit(main())
