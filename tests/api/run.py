#!/usr/bin/env python3
"""Black-box API tests: start the real `tailor serve` on a free loopback port
and talk HTTP to it. Python 3 standard library only.

    python3 tests/api/run.py --bin build/tailor [--slow] [--only SUBSTR] [--keep]

Data-driven cases live in tests/api/cases/*.json. Each file is one group: a
fresh database (keys created with the CLI), one server, and its cases run in
file order, so a case can PUT items that later cases GET. A file is a JSON
array of cases (see tests/api/README.md for every field):

    {"name": "...", "method": "GET", "path": "/v1/...",
     "key": "public|secret|other_secret|none|bad|public_in_query|secret_in_query",
     "body": <JSON value, or a string sent as is>, "body_repeat": N,
     "body_prefix": "...", "body_suffix": "...", "headers": {...},
     "skip_unless_file": "web/tailor.js",
     "expect": {"status": 200, "json": <subset>, "json_contains": <subset>,
                "headers": {"Name": "value" | "re:REGEX" | null},
                "body_contains": ["..."], "body_regex": "..."}}

Scenario tests (crash with kill -9, SIGTERM drain, restart) are the
scenario_* functions below.

Output: one line per test, "ok NAME" or "FAIL NAME: why", then the single
line "N passed, M failed"; the exit status is 1 when M > 0. Every server
started is killed on exit, even when a test crashes.
"""

import argparse
import atexit
import datetime
import glob
import http.client
import json
import urllib.parse
import os
import random
import re
import resource
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

SLOW = 1.0  # timeout multiplier (--slow: ASan/valgrind builds)
PROCS = []  # every server Popen, killed at exit


def _kill_all():
    for p in PROCS:
        if p.poll() is None:
            try:
                p.kill()
                p.wait(timeout=10)
            except Exception:
                pass


atexit.register(_kill_all)


class TestFailure(Exception):
    pass


def check(cond, why):
    if not cond:
        raise TestFailure(why)


# ---------------------------------------------------------------- HTTP client

class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except Exception as e:
            raise TestFailure("response is not JSON (%s): %r" % (e, self.body[:300]))

    def text(self):
        return self.body.decode("utf-8", "replace")


def request(port, method, path, body=None, headers=None, timeout=None, conn=None):
    """One HTTP request. Bodies over 1 MiB go through send_large (stops
    sending when the server answers early, e.g. 413). With conn (an
    http.client.HTTPConnection) the connection is reused (keep-alive)."""
    timeout = timeout or 30 * SLOW
    headers = dict(headers or {})
    if body is not None and len(body) > (1 << 20):
        return send_large(port, method, path, body, headers, timeout)
    own = conn is None
    if own:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        return Response(r.status, r.getheaders(), data)
    finally:
        if own:
            conn.close()


def send_large(port, method, path, body, headers, timeout):
    """Send headers, then the body in chunks while watching for an early
    answer; read the answer. Used for oversized bodies: the server answers
    413 from the headers and closes without reading the body."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        head = "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n" % (method, path, len(body))
        for k, v in headers.items():
            head += "%s: %s\r\n" % (k, v)
        s.sendall((head + "\r\n").encode("latin-1"))
        off, chunk = 0, 1 << 16
        while off < len(body):
            r, _, _ = select.select([s], [], [], 0)
            if r:
                break  # the server answered before reading everything
            try:
                off += s.send(body[off:off + chunk])
            except (BrokenPipeError, ConnectionResetError):
                break
        resp = http.client.HTTPResponse(s, method=method)
        resp.begin()
        data = resp.read()
        return Response(resp.status, resp.getheaders(), data)
    finally:
        s.close()


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---------------------------------------------------------------- server

class Server:
    """A `tailor serve` process over a database in a temporary directory."""

    def __init__(self, binary, workdir, db=None):
        self.bin = binary
        self.dir = workdir
        self.db = db or os.path.join(workdir, "t.db")
        self.proc = None
        self.port = None
        self.keys = {}
        self.log_path = os.path.join(workdir, "server.log")
        self.config = None  # path of a --config file, if any

    def cli(self, *args):
        p = subprocess.run([self.bin] + list(args) + ["--db", self.db], cwd=REPO, capture_output=True,
                           text=True, timeout=120 * SLOW)
        if p.returncode != 0:
            raise TestFailure("tailor %s failed (%d): %s" % (" ".join(args), p.returncode, p.stderr.strip()))
        return p.stdout.strip()

    def make_keys(self):
        self.keys["public"] = self.cli("keys", "create", "--scope", "public")
        self.keys["secret"] = self.cli("keys", "create", "--scope", "secret")
        self.cli("shops", "create", "other")
        self.keys["other_secret"] = self.cli("keys", "create", "--scope", "secret", "--shop", "other")
        for k, v in self.keys.items():
            check(v and "\n" not in v and " " not in v, "keys create --scope %s printed %r" % (k, v))

    def start(self):
        self.port = free_port()
        log = open(self.log_path, "ab")
        extra = ["--config", self.config] if self.config else []
        self.proc = subprocess.Popen([self.bin, "serve", "--port", str(self.port), "--db", self.db] + extra, cwd=REPO,
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()
        PROCS.append(self.proc)
        deadline = time.time() + 20 * SLOW
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise TestFailure("server exited with %d at start: %s" % (self.proc.returncode, self.log_tail()))
            try:
                r = request(self.port, "GET", "/healthz", timeout=2 * SLOW)
                if r.status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise TestFailure("server did not answer /healthz within %ds: %s" % (20 * SLOW, self.log_tail()))

    def stop(self, sig=signal.SIGTERM, timeout=None):
        """Send sig and wait; returns the exit code (None if killed after
        the timeout)."""
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout or 60 * SLOW)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def sanitizer_errors(self):
        """First sanitizer report line in the server log, or None."""
        try:
            with open(self.log_path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return None
        m = re.search(r"^.*(ERROR: (Address|Leak|Thread|Memory)Sanitizer|runtime error:|SUMMARY: \w+Sanitizer).*$",
                      text, re.M)
        return m.group(0).strip() if m else None

    def log_tail(self, n=15):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            return " | ".join(lines[-n:])
        except OSError:
            return "(no log)"

    def auth_headers(self, key):
        if key in ("public", "secret", "other_secret"):
            return {"Authorization": "Bearer " + self.keys[key]}
        if key == "bad":
            return {"Authorization": "Bearer tl_not_a_real_key_0000000000"}
        return {}

    def call(self, method, path, body=None, key="secret", headers=None, conn=None):
        h = self.auth_headers(key)
        h.update(headers or {})
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        if isinstance(body, str):
            body = body.encode("utf-8")
        return request(self.port, method, path, body, h, conn=conn)


# ---------------------------------------------------------------- matching

def iso(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (dt.microsecond // 1000)


def substitutions():
    now = datetime.datetime.now(datetime.timezone.utc)
    return {
        "{{now_iso}}": iso(now),
        "{{recent_iso}}": iso(now - datetime.timedelta(hours=1)),
        "{{future_iso}}": iso(now + datetime.timedelta(days=3)),
        "{{now_ms}}": str(int(now.timestamp() * 1000)),
    }


def substitute(v, subs):
    if isinstance(v, str):
        for k, s in subs.items():
            v = v.replace(k, s)
        return v
    if isinstance(v, list):
        return [substitute(x, subs) for x in v]
    if isinstance(v, dict):
        return {k: substitute(x, subs) for k, x in v.items()}
    return v


MATCHERS = {
    "$any": lambda a: True,
    "$string": lambda a: isinstance(a, str),
    "$nonempty": lambda a: a not in (None, "", [], {}),
    "$number": lambda a: isinstance(a, (int, float)) and not isinstance(a, bool),
    "$int": lambda a: isinstance(a, int) and not isinstance(a, bool),
    "$bool": lambda a: isinstance(a, bool),
    "$array": lambda a: isinstance(a, list),
    "$object": lambda a: isinstance(a, dict),
}


def match(exp, act, path="$", contains=False):
    """Return None when act matches exp, else a description of the first
    mismatch. Objects: every expected key must match ("$absent" = key must
    be missing). Arrays: same length, element by element; with contains,
    every expected element must match some actual element. Strings starting
    with '$' are matchers (MATCHERS), "re:..." a regex."""
    if isinstance(exp, str) and exp in MATCHERS:
        return None if MATCHERS[exp](act) else "%s: expected %s, got %r" % (path, exp, act)
    if isinstance(exp, str) and exp.startswith("re:"):
        if isinstance(act, str) and re.search(exp[3:], act):
            return None
        return "%s: %r does not match /%s/" % (path, act, exp[3:])
    if isinstance(exp, dict):
        if not isinstance(act, dict):
            return "%s: expected an object, got %r" % (path, act)
        for k, v in exp.items():
            if v == "$absent":
                if k in act:
                    return "%s.%s: expected absent, got %r" % (path, k, act[k])
                continue
            if k not in act:
                return "%s.%s: missing (have %s)" % (path, k, sorted(act))
            why = match(v, act[k], "%s.%s" % (path, k), contains)
            if why:
                return why
        return None
    if isinstance(exp, list):
        if not isinstance(act, list):
            return "%s: expected an array, got %r" % (path, act)
        if contains:
            for i, e in enumerate(exp):
                if not any(match(e, a, path, contains) is None for a in act):
                    return "%s: no element matches %r (got %s)" % (path, e, json.dumps(act)[:300])
            return None
        if len(exp) != len(act):
            return "%s: expected %d elements, got %d: %s" % (path, len(exp), len(act), json.dumps(act)[:300])
        for i, (e, a) in enumerate(zip(exp, act)):
            why = match(e, a, "%s[%d]" % (path, i), contains)
            if why:
                return why
        return None
    if isinstance(exp, float) or isinstance(act, float):
        if isinstance(act, (int, float)) and not isinstance(act, bool) and abs(exp - act) <= 1e-9 * max(1, abs(exp)):
            return None
    if exp == act and type(exp) == type(act):
        return None
    return "%s: expected %r, got %r" % (path, exp, act)


def check_response(r, exp):
    if "status" in exp:
        check(r.status == exp["status"], "status %d, expected %d; body: %s" % (r.status, exp["status"],
                                                                               r.text()[:400]))
    for name, want in (exp.get("headers") or {}).items():
        got = r.headers.get(name.lower())
        if want is None:
            check(got is None, "header %s should be absent, got %r" % (name, got))
        elif isinstance(want, str) and want.startswith("re:"):
            check(got is not None and re.search(want[3:], got), "header %s = %r, expected /%s/" % (name, got,
                                                                                                  want[3:]))
        else:
            check(got == want, "header %s = %r, expected %r" % (name, got, want))
    if "json" in exp or "json_contains" in exp:
        body = r.json()
        if "json" in exp:
            why = match(exp["json"], body)
            check(why is None, "%s; body: %s" % (why, r.text()[:400]))
        if "json_contains" in exp:
            why = match(exp["json_contains"], body, contains=True)
            check(why is None, "%s; body: %s" % (why, r.text()[:400]))
    for s in exp.get("body_contains") or []:
        check(s in r.text(), "body does not contain %r; body: %s" % (s, r.text()[:400]))
    for s in exp.get("body_not_contains") or []:
        check(s not in r.text(), "body contains %r" % s)
    if "body_regex" in exp:
        check(re.search(exp["body_regex"], r.text(), re.M), "body does not match /%s/" % exp["body_regex"])


# ---------------------------------------------------------------- runner

class Runner:
    def __init__(self, binary, only, keep):
        self.bin = binary
        self.only = only
        self.keep = keep
        self.passed = 0
        self.failed = 0

    def report(self, name, why=None):
        if why is None:
            self.passed += 1
            print("ok " + name, flush=True)
        else:
            self.failed += 1
            print("FAIL %s: %s" % (name, why), flush=True)

    def selected(self, name):
        return not self.only or self.only in name

    def tmpdir(self):
        return tempfile.mkdtemp(prefix="tailor-api-")

    def cleanup(self, d):
        if self.keep:
            print("# kept " + d, flush=True)
            return
        subprocess.run(["rm", "-rf", d])

    def run_case_file(self, path):
        group = os.path.splitext(os.path.basename(path))[0]
        try:
            with open(path) as f:
                cases = json.load(f)
            check(isinstance(cases, list), "a case file must be a JSON array of cases")
        except (OSError, ValueError, TestFailure) as e:
            self.report(group, "cannot load %s: %s" % (path, e))
            return
        names = ["%s/%s" % (group, c.get("name", "case%d" % i)) for i, c in enumerate(cases)]
        if not any(self.selected(n) for n in names):
            return
        d = self.tmpdir()
        srv = Server(self.bin, d)
        try:
            try:
                srv.make_keys()
                srv.start()
            except TestFailure as e:
                self.report(group + "/start", str(e))
                return
            for case, name in zip(cases, names):
                if not self.selected(name):
                    continue
                try:
                    self.run_case(srv, case)
                    self.report(name)
                except TestFailure as e:
                    self.report(name, str(e))
                except (OSError, http.client.HTTPException) as e:
                    self.report(name, "%s: %s (server: %s)" % (type(e).__name__, e, srv.log_tail(5)))
            code = srv.stop()
            if self.selected(group + "/clean_exit"):
                san = srv.sanitizer_errors()
                if code != 0:
                    self.report(group + "/clean_exit", "SIGTERM exit code %r: %s" % (code, srv.log_tail()))
                elif san:
                    self.report(group + "/clean_exit", "sanitizer: " + san)
                else:
                    self.report(group + "/clean_exit")
        finally:
            srv.stop(signal.SIGKILL)
            self.cleanup(d)

    def run_case(self, srv, case):
        unknown = set(case) - {"name", "method", "path", "key", "body", "body_repeat", "body_prefix",
                               "body_suffix", "headers", "expect", "skip_unless_file", "comment"}
        check(not unknown, "unknown case fields %s" % sorted(unknown))
        if case.get("skip_unless_file") and not os.path.exists(os.path.join(REPO, case["skip_unless_file"])):
            return
        subs = substitutions()
        method = case.get("method", "GET")
        path = substitute(case["path"], subs)
        key = case.get("key", "none")
        check(key in ("public", "secret", "other_secret", "none", "bad", "public_in_query", "secret_in_query"),
              "unknown key mode %r" % key)
        headers = srv.auth_headers(key)
        if key in ("public_in_query", "secret_in_query"):
            k = srv.keys[key.split("_")[0]]
            path += ("&" if "?" in path else "?") + "key=" + k
        body = None
        if "body" in case:
            b = substitute(case["body"], subs)
            text = b if isinstance(b, str) else json.dumps(b)
            n = case.get("body_repeat", 1)
            body = (case.get("body_prefix", "") + text * n + case.get("body_suffix", "")).encode("utf-8")
            if not isinstance(b, str):
                headers["Content-Type"] = "application/json"
        headers.update(case.get("headers") or {})
        r = request(srv.port, method, path, body, headers)
        check_response(r, substitute(case.get("expect", {}), subs))

    def scenario(self, name, fn):
        if not self.selected(name):
            return
        d = self.tmpdir()
        servers = []
        try:
            fn(self, d, servers)
            for s in servers:
                s.stop()
                san = s.sanitizer_errors()
                check(san is None, "sanitizer: %s" % san)
            self.report(name)
        except TestFailure as e:
            self.report(name, str(e))
        except (OSError, http.client.HTTPException, subprocess.SubprocessError) as e:
            tail = servers[-1].log_tail(5) if servers else ""
            self.report(name, "%s: %s %s" % (type(e).__name__, e, tail))
        finally:
            for s in servers:
                s.stop(signal.SIGKILL)
            self.cleanup(d)


# ---------------------------------------------------------------- scenarios

def events_batch(tag, n, user="u1", with_ids=True, item_prefix="sku-"):
    out = []
    for i in range(n):
        ev = {"type": "product_view", "user_id": "%s-%s" % (user, i % 7), "item_id": "%s%d" % (item_prefix, i % 13)}
        if with_ids:
            ev["event_id"] = "%s-%06d" % (tag, i)
        out.append(ev)
    return out


def stats_total(srv):
    r = srv.call("GET", "/v1/admin/stats", key="secret")
    check(r.status == 200, "stats: %d %s" % (r.status, r.text()[:200]))
    ev = r.json().get("events")
    check(isinstance(ev, dict) and isinstance(ev.get("total"), int), "stats has no events.total: %s" % r.text())
    return ev["total"]


def scenario_crash_kill9(run, d, servers):
    """Acknowledged events survive kill -9; re-posting them is all duplicates."""
    srv = Server(run.bin, d)
    servers.append(srv)
    srv.make_keys()
    srv.start()
    batches = [events_batch("crash%d" % b, 50) for b in range(6)]
    for i, b in enumerate(batches):
        r = srv.call("POST", "/v1/events", b, key="public")
        check(r.status == 200, "batch %d: %d %s" % (i, r.status, r.text()[:200]))
        check(r.json().get("accepted") == 50, "batch %d: %s" % (i, r.text()[:200]))
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait(timeout=30 * SLOW)
    srv.start()
    total = stats_total(srv)
    check(total == 300, "after kill -9 the store has %d events, 300 were acknowledged" % total)
    for i, b in enumerate(batches):
        r = srv.call("POST", "/v1/events", b, key="public")
        check(r.status == 200, "re-post %d: %d %s" % (i, r.status, r.text()[:200]))
        j = r.json()
        check(j.get("accepted") == 0 and j.get("duplicates") == 50, "re-post %d after restart: %s" % (i, j))
    check(stats_total(srv) == 300, "duplicates were stored")
    check(srv.stop() == 0, "exit code after SIGTERM")


def scenario_sigterm_drain(run, d, servers):
    """A large POST in flight when SIGTERM arrives completes with 200, the
    server exits 0, and its events are there after a restart."""
    srv = Server(run.bin, d)
    servers.append(srv)
    srv.make_keys()
    srv.start()
    n = 5000
    body = json.dumps(events_batch("drain", n)).encode()
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=60 * SLOW)
    try:
        head = ("POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (srv.keys["public"], len(body)))
        s.sendall(head.encode() + body)
        srv.proc.send_signal(signal.SIGTERM)
        resp = http.client.HTTPResponse(s, method="POST")
        resp.begin()
        data = resp.read()
    finally:
        s.close()
    check(resp.status == 200, "in-flight POST during SIGTERM answered %d: %r" % (resp.status, data[:200]))
    check(json.loads(data).get("accepted") == n, "in-flight POST: %r" % data[:200])
    try:
        code = srv.proc.wait(timeout=60 * SLOW)
    except subprocess.TimeoutExpired:
        raise TestFailure("server still running 60 s after SIGTERM")
    check(code == 0, "exit code %r after SIGTERM: %s" % (code, srv.log_tail()))
    srv.start()
    total = stats_total(srv)
    check(total == n, "after SIGTERM and restart the store has %d events, %d were acknowledged" % (total, n))


def scenario_restart_keeps_state(run, d, servers):
    """Items, profiles and identities survive a clean restart."""
    srv = Server(run.bin, d)
    servers.append(srv)
    srv.make_keys()
    srv.start()
    items = [{"id": "keep-%d" % i, "title": "Kept item %d" % i, "price": 10 + i, "currency": "EUR"}
             for i in range(3)]
    r = srv.call("PUT", "/v1/items", items)
    check(r.status == 200 and r.json().get("upserted") == 3, "PUT items: %d %s" % (r.status, r.text()[:200]))
    evs = [{"type": "product_view", "anonymous_id": "anon-keep", "item_id": "keep-1", "event_id": "k1"},
           {"type": "product_view", "anonymous_id": "anon-keep", "item_id": "keep-2", "event_id": "k2"}]
    r = srv.call("POST", "/v1/events", evs, key="public")
    check(r.status == 200, "POST events: %d %s" % (r.status, r.text()[:200]))
    r = srv.call("POST", "/v1/identify", {"anonymous_id": "anon-keep", "user_id": "cust-keep"}, key="public")
    check(r.status == 200, "identify: %d %s" % (r.status, r.text()[:200]))
    check(srv.stop() == 0, "exit code after SIGTERM: %s" % srv.log_tail())
    srv.start()
    r = srv.call("GET", "/v1/items/keep-1")
    check(r.status == 200, "item after restart: %d %s" % (r.status, r.text()[:200]))
    why = match({"id": "keep-1", "title": "Kept item 1"}, r.json())
    check(why is None, "item after restart: %s" % why)
    r = srv.call("GET", "/v1/users/cust-keep/profile")
    check(r.status == 200, "profile after restart: %d %s" % (r.status, r.text()[:200]))
    why = match({"user_id": "cust-keep", "recently_viewed": [{"item_id": "keep-1"}, {"item_id": "keep-2"}]},
                r.json(), contains=True)
    check(why is None, "profile after restart: %s; %s" % (why, r.text()[:400]))
    r = srv.call("POST", "/v1/events", evs, key="public")
    check(r.json().get("duplicates") == 2, "event ids forgotten after restart: %s" % r.text()[:200])


def scenario_keepalive(run, d, servers):
    """Many requests on one HTTP/1.1 connection: the server keeps it open
    (responses are queued on the second handler call), errors included."""
    srv = Server(run.bin, d)
    servers.append(srv)
    srv.make_keys()
    srv.start()
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30 * SLOW)
    try:
        seen = set()
        sock = None
        for i in range(30):
            path, key, want = [("/healthz", "none", 200), ("/v1/recommendations?type=popular&limit=3", "public", 200),
                               ("/v1/nope", "none", 404), ("/v1/admin/stats", "public", 403),
                               ("/v1/recommendations?type=popular&limit=0", "public", 400)][i % 5]
            r = srv.call("GET", path, key=key, conn=conn)
            check(r.status == want, "%s: %d, expected %d" % (path, r.status, want))
            check(r.headers.get("connection", "").lower() != "close", "%s closed the connection" % path)
            if sock is None:
                sock = conn.sock
            check(conn.sock is sock and sock is not None, "request %d used a new connection" % i)
            rid = r.headers.get("x-request-id")
            check(rid and rid not in seen, "X-Request-Id missing or repeated: %r" % rid)
            seen.add(rid)
        for i in range(5):
            r = srv.call("POST", "/v1/events", [{"type": "page_view", "anonymous_id": "ka%d" % i}], key="public",
                         conn=conn)
            check(r.status == 200, "POST on keep-alive connection: %d %s" % (r.status, r.text()[:200]))
            check(conn.sock is sock, "POST %d used a new connection" % i)
    finally:
        conn.close()


def scenario_concurrent_posts(run, d, servers):
    """Parallel event posts from several threads are all acknowledged and
    all counted (group commit under concurrency)."""
    import threading
    srv = Server(run.bin, d)
    servers.append(srv)
    srv.make_keys()
    srv.start()
    errors = []

    def worker(t):
        try:
            for b in range(10):
                r = srv.call("POST", "/v1/events", events_batch("c%d-%d" % (t, b), 20), key="public")
                if r.status != 200 or r.json().get("accepted") != 20:
                    errors.append("thread %d batch %d: %d %s" % (t, b, r.status, r.text()[:200]))
        except Exception as e:  # reported below
            errors.append("thread %d: %s" % (t, e))

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check(not errors, "; ".join(errors[:3]))
    total = stats_total(srv)
    check(total == 8 * 10 * 20, "stats count %d events, %d acknowledged" % (total, 1600))
    r = request(srv.port, "GET", "/metrics")
    m = re.search(r'^tailor_http_requests_total\{route="/v1/events",status="200"\} (\d+)$', r.text(), re.M)
    check(m and int(m.group(1)) == 80, "metrics count of POST /v1/events: %s" % (m.group(0) if m else None))



def run_cli(srv, *args):
    """Run a tailor command on srv's db; returns (exit code, stdout, stderr)."""
    p = subprocess.run([srv.bin] + list(args) + ["--db", srv.db], cwd=REPO, capture_output=True, text=True,
                       timeout=120 * SLOW)
    return p.returncode, p.stdout, p.stderr


def stats(srv):
    r = srv.call("GET", "/v1/admin/stats", key="secret")
    check(r.status == 200, "stats: %d %s" % (r.status, r.text()[:200]))
    return r.json()


def scenario_imports(run, d, servers):
    """CLI imports: a bad file imports nothing and names file:line:column;
    --skip-bad imports the rest and reports what it skipped; re-importing
    orders or events adds nothing (duplicates are counted); a truncated gzip
    file is an error that imports nothing."""
    import gzip
    srv = Server(run.bin, d)
    servers.append(srv)
    srv.make_keys()
    fx = os.path.join(REPO, "tests", "fixtures", "import")
    code, out, err = run_cli(srv, "import", "catalog", os.path.join(fx, "bad_types_catalog.csv"))
    check(code == 1, "bad catalog exit %d: %s" % (code, err))
    check(re.search(r"bad_types_catalog\.csv:3:3: field 'price'", err), "bad catalog message: %r" % err)
    code, out, err = run_cli(srv, "import", "catalog", os.path.join(fx, "bad_types_catalog.csv"), "--skip-bad")
    check(code == 0, "skip-bad catalog exit %d: %s" % (code, err))
    check(re.search(r"[1-9][0-9]* skipped", out) and "line 3" in out, "skip-bad summary: %r" % out)
    code, out, err = run_cli(srv, "import", "orders", os.path.join(fx, "online_retail_200.csv"),
                             "--format", "online-retail")
    check(code == 0, "orders exit %d: %s" % (code, err))
    code, out2, err = run_cli(srv, "import", "orders", os.path.join(fx, "online_retail_200.csv"),
                              "--format", "online-retail")
    check(code == 0 and re.search(r"[1-9][0-9]* duplicates", out2), "re-import of orders: %r %r" % (out2, err))

    ev = os.path.join(d, "events.ndjson")
    good = [{"type": "product_view", "user_id": "imp%d" % i, "item_id": "ok-1", "event_id": "imp-%d" % i}
            for i in range(3)]
    with open(ev, "w") as f:
        f.write(json.dumps(good[0]) + "\n" + json.dumps(good[1]) + "\n")
        f.write('{"type":"product_view","user_id":"imp9","item_id":"ok-1","timestamp":"2099-01-01T00:00:00Z"}\n')
        f.write("\n" + json.dumps(good[2]) + "\n")
    code, out, err = run_cli(srv, "import", "events", ev)
    check(code == 1 and re.search(r"events\.ndjson:3:.*timestamp", err), "bad events file: %d %r" % (code, err))
    gz = os.path.join(d, "trunc.ndjson.gz")
    with open(gz, "wb") as f:
        f.write(gzip.compress(("\n".join(json.dumps(dict(g, event_id="t%d" % i)) for i, g in
                                         enumerate(good * 50)) + "\n").encode())[:-40])
    code, out, err = run_cli(srv, "import", "events", gz)
    check(code == 1, "truncated gzip import exit %d: %r %r" % (code, out, err))
    srv.start()
    code, out, err = run_cli(srv, "import", "events", ev, "--skip-bad")
    check(code == 1 and "in use by tailor serve" in err, "import into a served db: %d %r" % (code, err))
    st = stats(srv)
    check(st["events"]["total"] == 0, "a failed events import stored %d events" % st["events"]["total"])
    orders = st["orders"] + st["returns"]
    check(orders > 0, "orders import stored nothing: %s" % st)
    check(srv.stop() == 0, "exit after SIGTERM")
    code, out, err = run_cli(srv, "import", "events", ev, "--skip-bad")
    check(code == 0 and "3 events" in out and "1 skipped" in out, "skip-bad events: %d %r %r" % (code, out, err))
    code, out, err = run_cli(srv, "import", "events", ev, "--skip-bad")
    check(code == 0 and "0 events" in out and "3 duplicates" in out, "re-import events: %r" % out)
    srv.start()
    st = stats(srv)
    check(st["events"]["total"] == 3, "events after imports: %s" % st["events"])
    check(st["orders"] + st["returns"] == orders, "re-imported orders were stored twice: %s" % st)
    r = srv.call("GET", "/v1/users/imp1/profile")
    check(r.status == 200 and r.json()["counts"]["product_view"] == 1, "imported profile: %s" % r.text()[:300])
    check(srv.stop() == 0, "exit after SIGTERM")
    # Shop platform exports and customers land in the store and the API.
    for fmt, f in (("shopify", "shopify_products.csv"), ("woocommerce", "woocommerce_products.csv")):
        code, out, err = run_cli(srv, "import", "catalog", os.path.join(fx, f), "--format", fmt)
        check(code == 0 and re.search(r"[1-9][0-9]* items", out), "%s import: %d %r %r" % (fmt, code, out, err))
    code, out, err = run_cli(srv, "import", "customers", os.path.join(fx, "customers.csv"))
    check(code == 0 and "3 customers" in out, "customers import: %d %r %r" % (code, out, err))
    items_before = st["items"]
    srv.start()
    st = stats(srv)
    check(st["items"] >= items_before + 10, "platform catalogs were not stored: %s" % st)
    r = srv.call("GET", "/v1/users/cust-1/profile")
    check(r.status == 200 and r.json().get("country") == "GB", "customer country in the profile: %s" % r.text()[:300])
    # --time-shift-days replays an old history as recent (make run does it
    # for the demo store); a shift into the future is refused, nothing stored
    check(srv.stop() == 0, "exit after SIGTERM")
    shifted = Server(run.bin, os.path.join(d, "shift"))
    servers.append(shifted)
    os.makedirs(shifted.dir, exist_ok=True)
    code, out, err = run_cli(shifted, "import", "orders", os.path.join(fx, "orders.csv"), "--time-shift-days", "10")
    check(code == 0, "shifted import: %d %r %r" % (code, out, err))
    code, out, err = run_cli(shifted, "import", "orders", os.path.join(fx, "orders.csv"), "--time-shift-days", "1000")
    check(code == 1 and "future" in err, "shift into the future: %d %r" % (code, err))
    code, out, err = run_cli(shifted, "import", "catalog", os.path.join(fx, "catalog.csv"), "--time-shift-days", "3")
    check(code == 2 and "orders only" in err, "shift of a catalog: %d %r" % (code, err))
    shifted.make_keys()
    shifted.start()
    r = shifted.call("GET", "/v1/users/cust-1/profile")
    check(r.status == 200 and r.json()["purchases"]["first_at"] == "2024-05-11T10:00:00.000Z",
          "shifted order time: %s" % r.text()[:400])


def write_views(path, n, user, users, items, eid, ts):
    """An NDJSON file of n product views: user<i % users>, sku-<i % items>,
    event ids eid<i>, all at timestamp ts."""
    with open(path, "w") as f:
        for i in range(n):
            f.write('{"type":"product_view","user_id":"%s%d","item_id":"sku-%d","event_id":"%s%d",'
                    '"timestamp":"%s"}\n' % (user, i % users, i % items, eid, i, ts))


def scenario_import_killed(run, d, servers):
    """kill -9 in the middle of an events import leaves nothing of it (one
    transaction), releases the database, and the same file then imports
    completely."""
    srv = Server(run.bin, d)
    servers.append(srv)
    srv.make_keys()
    ev = os.path.join(d, "big.ndjson")
    n = 200000
    write_views(ev, n, "k", 5000, 3000, "kill-", "2026-01-01T00:00:00Z")
    p = subprocess.Popen([srv.bin, "import", "events", ev, "--db", srv.db], cwd=REPO,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    PROCS.append(p)
    time.sleep(0.4 * SLOW)
    finished_first = p.poll() is not None
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=30 * SLOW)
    srv.start()
    total = stats_total(srv)
    # All or nothing: the kill lands before the commit (0 events) or, on a
    # slow machine, after it while the process is closing (all of them).
    check(total in (0, n), "a killed import left %d of %d events behind" % (total, n))
    if finished_first:
        check(total == n, "import finished before the kill but stored %d of %d" % (total, n))
    code = srv.stop()
    check(code == 0, "exit after SIGTERM: %r (%s events stored): %s" % (code, total, srv.log_tail()))
    code, out, err = run_cli(srv, "import", "events", ev)
    check(code == 0, "import after the kill: %d %r" % (code, err))
    check(("%s events" % format(n, ",")) in out or total == n, "second import: %r" % out)
    srv.start()
    check(stats_total(srv) == n, "after the second import the store has %d events" % stats_total(srv))

def scenario_import_sole_use(run, d, servers):
    """An import has the database to itself (it holds the claim): it writes
    into the file without the log, and leaves it in WAL mode with no journal
    behind. A server started meanwhile is refused at once, naming the
    import; `keys create` waits for it and works. With another connection open on the file (a reporting tool,
    say), the import stays in WAL mode and still imports everything."""
    import sqlite3
    srv = Server(run.bin, d)
    servers.append(srv)
    srv.make_keys()

    def journal_mode():
        c = sqlite3.connect(srv.db)
        try:
            return c.execute("PRAGMA journal_mode").fetchone()[0]
        finally:
            c.close()

    big = os.path.join(d, "sole.ndjson")
    n = 200000
    write_views(big, n, "so", 20000, 3000, "sole-", "2026-01-01T00:00:00Z")
    p = subprocess.Popen([srv.bin, "import", "events", big, "--db", srv.db], cwd=REPO,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    PROCS.append(p)
    # a server started while the import runs: refused at once, by name
    deadline = time.time() + 20 * SLOW
    while not os.path.exists(srv.db + "-journal") and p.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    in_sole_use = p.poll() is None and os.path.exists(srv.db + "-journal")
    wal_meanwhile = os.path.exists(srv.db + "-wal")
    q = None
    if in_sole_use:
        # a short command meanwhile waits for the import's locks, then works
        kc = subprocess.Popen([srv.bin, "keys", "create", "--scope", "public", "--db", srv.db], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        PROCS.append(kc)
        t0 = time.time()
        try:
            q = subprocess.run([srv.bin, "serve", "--port", str(free_port()), "--db", srv.db], cwd=REPO,
                               capture_output=True, text=True, timeout=30 * SLOW)
        except subprocess.TimeoutExpired:
            pass
        refused_in = time.time() - t0
    out, err = p.communicate(timeout=120 * SLOW)
    check(p.returncode == 0 and ("%s events" % format(n, ",")) in out, "import: %d %r %r" % (p.returncode, out, err))
    check(in_sole_use and not wal_meanwhile, "the import did not write with a rollback journal instead of the log")
    kout, kerr = kc.communicate(timeout=60 * SLOW)
    check(kc.returncode == 0 and kout.startswith("tl_pk_"), "keys create during the import: %d %r %r"
          % (kc.returncode, kout, kerr))
    check(q is not None and q.returncode != 0 and "in use by tailor import" in q.stderr and refused_in < 5 * SLOW,
          "serve during the import: %r after %.1fs %r" % (q and q.returncode, refused_in, q and q.stderr[-300:]))
    check(not os.path.exists(srv.db + "-journal"), "a journal was left behind")
    check(journal_mode() == "wal", "after the import the file is in %s mode" % journal_mode())

    # another connection open on the file: WAL all along, everything imported
    second = os.path.join(d, "second.ndjson")
    write_views(second, 5000, "sec", 50, 30, "second-", "2026-01-02T00:00:00Z")
    other = sqlite3.connect(srv.db)
    other.execute("SELECT count(*) FROM shops").fetchone()
    env = dict(os.environ, TAILOR_LOG="debug")
    r = subprocess.run([srv.bin, "import", "events", second, "--db", srv.db], cwd=REPO, capture_output=True,
                       text=True, timeout=120 * SLOW, env=env)
    check(r.returncode == 0 and "5,000 events" in r.stdout, "import beside a reader: %d %r %r"
          % (r.returncode, r.stdout, r.stderr))
    check("stays shared" in r.stderr, "the import did not say it stayed in WAL mode: %r" % r.stderr[-500:])
    check(other.execute("PRAGMA journal_mode").fetchone()[0] == "wal", "the mode changed under a reader")
    other.close()
    srv.start()
    check(stats_total(srv) == n + 5000, "events after both imports: %d" % stats_total(srv))
    r = srv.call("GET", "/v1/users/so7/profile")
    check(r.status == 200 and r.json()["counts"]["product_view"] == n // 20000, "so7: %s" % r.text()[:200])
    r = srv.call("GET", "/v1/users/sec7/profile")
    check(r.status == 200 and r.json()["counts"]["product_view"] == 5000 // 50, "sec7: %s" % r.text()[:200])
    check(srv.stop() == 0, "exit after SIGTERM")


def scenario_import_disk_full(run, d, servers):
    """An import whose commit cannot be written (the file size limit of the
    process stands in for a full disk) fails with a clear message and leaves
    nothing behind: no event, no profile (its profiles were serialized
    beside the commit and are dropped), no checkpoint past the last good
    import; the same file then imports completely."""
    srv = Server(run.bin, d)
    servers.append(srv)
    srv.make_keys()
    first = os.path.join(d, "first.ndjson")
    write_views(first, 500, "f", 50, 30, "first-", "2026-01-01T00:00:00Z")
    code, out, err = run_cli(srv, "import", "events", first)
    check(code == 0, "first import: %d %r" % (code, err))
    second = os.path.join(d, "second.ndjson")
    n = 30000
    write_views(second, n, "s", 5, 300, "second-", "2026-01-02T00:00:00Z")

    def limited():
        # writes past 160 KiB fail with EFBIG instead of raising SIGXFSZ:
        # the commit of 30,000 events fails, while the profiles of its five
        # shoppers would fit (so writing them after a failed commit shows)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (163840, 163840))
    p = subprocess.run([srv.bin, "import", "events", second, "--db", srv.db], cwd=REPO, capture_output=True,
                       text=True, timeout=120 * SLOW, preexec_fn=limited)
    check(p.returncode == 1 and "import could not be committed" in p.stderr and "disk I/O error" in p.stderr,
          "import on a full disk: %d %r %r" % (p.returncode, p.stdout, p.stderr))
    check("imported" not in p.stdout, "a failed import printed a summary: %r" % p.stdout)
    srv.start()
    check(stats_total(srv) == 500, "a failed import left %d events" % (stats_total(srv) - 500))
    r = srv.call("GET", "/v1/users/s1/profile")
    check(r.status == 404, "a failed import left a profile: %d %s" % (r.status, r.text()[:200]))
    r = srv.call("GET", "/v1/users/f1/profile")
    check(r.status == 200 and r.json()["counts"]["product_view"] == 10, "profile of the first import: %s" % r.text()[:200])
    with open(srv.log_path, errors="replace") as f:
        log = f.read()
    check(re.search(r"replayed 0 events after checkpoint 500\b", log), "start after the failed import: %r" % log[-500:])
    check(srv.stop() == 0, "exit after SIGTERM")
    code, out, err = run_cli(srv, "import", "events", second)
    check(code == 0 and ("%s events" % format(n, ",")) in out and "0 duplicates" in out,
          "the same file after the failure: %d %r %r" % (code, out, err))
    srv.start()
    check(stats_total(srv) == 500 + n, "after the second try: %d" % stats_total(srv))
    r = srv.call("GET", "/v1/users/s1/profile")
    check(r.status == 200 and r.json()["counts"]["product_view"] == n // 5, "s1 after the second try: %s" % r.text()[:200])


def scenario_import_batches(run, d, servers):
    """An events import across many of its internal batches: lines of very
    different sizes (a batch ends early when the next line would not fit its
    scratch; a line of almost 1 MB gets a scratch of its own), events the
    fast path declines (escaped strings: jansson), repeated event ids far
    apart in the file, then a bad line late in a file: nothing of that file
    is stored, and --skip-bad stores the rest."""
    srv = Server(run.bin, d)
    servers.append(srv)
    srv.make_keys()
    ev = os.path.join(d, "batches.ndjson")
    n, users = 6000, 100
    views = [0] * users
    with open(ev, "w") as f:
        for i in range(n):
            u = i % users
            o = {"type": "product_view", "user_id": "b%d" % u, "item_id": "sku-%d" % (i % 37),
                 "event_id": "bt-%d" % i, "timestamp": "2026-01-01T00:00:00Z"}
            if i % 500 == 7:
                o["context"] = {"note": "x" * 20000}
            if i == 3001:
                o["context"] = {"note": "y" * 1000000}
            if i % 250 == 3:
                o = {"type": "search", "anonymous_id": "q%d" % u, "query": "a \"quoted\" query",
                     "event_id": "bt-%d" % i, "timestamp": "2026-01-01T00:00:00Z"}
            else:
                views[u] += 1
            f.write(json.dumps(o, separators=(",", ":")) + "\n")
        for i in range(100):  # ids of the first lines again, batches later
            f.write(json.dumps({"type": "product_view", "user_id": "b0", "item_id": "sku-0",
                                "event_id": "bt-%d" % i}) + "\n")
    code, out, err = run_cli(srv, "import", "events", ev)
    check(code == 0, "batches import: %d %r %r" % (code, out, err))
    check(("%s events" % format(n, ",")) in out and "100 duplicates" in out, "batches summary: %r" % out)
    # the import's commit left copying its log into the database for later
    # (done beside writing the profiles): at exit all of it is in the file
    check(not os.path.exists(srv.db + "-wal"), "the import left its write-ahead log behind")
    srv.start()
    check(stats_total(srv) == n, "stored %d of %d events" % (stats_total(srv), n))
    # the profiles were checkpointed right after the import committed: the
    # server starts from that checkpoint with nothing to replay
    with open(srv.log_path, errors="replace") as f:
        log = f.read()
    check(re.search(r"replayed 0 events after checkpoint %d\b" % n, log), "start after import: %r" % log[-500:])
    for u in (0, 1, 99):
        r = srv.call("GET", "/v1/users/b%d/profile" % u)
        check(r.status == 200 and r.json()["counts"]["product_view"] == views[u],
              "b%d views: %s (want %d)" % (u, r.text()[:200], views[u]))
    check(srv.stop() == 0, "exit after SIGTERM")
    bad = os.path.join(d, "late_bad.ndjson")
    with open(bad, "w") as f:
        for i in range(5000):
            ts = "2099-01-01T00:00:00Z" if i == 4500 else "2026-01-02T00:00:00Z"
            f.write(json.dumps({"type": "product_view", "user_id": "c%d" % (i % 10), "item_id": "sku-1",
                                "event_id": "late-%d" % i, "timestamp": ts}) + "\n")
    code, out, err = run_cli(srv, "import", "events", bad)
    check(code == 1 and re.search(r"late_bad\.ndjson:4501:.*timestamp", err), "late bad line: %d %r" % (code, err))
    srv.start()
    check(stats_total(srv) == n, "a failed import stored %d events" % (stats_total(srv) - n))
    r = srv.call("GET", "/v1/users/c0/profile")
    check(r.status == 404, "a failed import left a profile: %d %s" % (r.status, r.text()[:200]))
    r = srv.call("GET", "/v1/users/b0/profile")
    check(r.status == 200 and r.json()["counts"]["product_view"] == views[0], "b0 after a failed import: %s" % r.text()[:200])
    check(srv.stop() == 0, "exit after SIGTERM")
    code, out, err = run_cli(srv, "import", "events", bad, "--skip-bad")
    check(code == 0 and "4,999 events" in out and "1 skipped" in out, "skip-bad late line: %d %r" % (code, out))
    srv.start()
    check(stats_total(srv) == n + 4999, "after --skip-bad: %d" % stats_total(srv))


def scenario_import_logins(run, d, servers):
    """An event that names both ids is a login in `tailor import events` as
    in POST /v1/events: the same events imported for one shopper and posted
    for another give the same profile (anonymous history merged, later
    anonymous events reaching the customer, the link kept across a restart);
    a login in a file that fails to import links nothing."""
    srv = Server(run.bin, d)
    servers.append(srv)
    srv.make_keys()

    def events(cust, anon, tag):
        t = "2026-03-01T10:%02d:00Z"
        return [
            {"type": "product_view", "anonymous_id": anon, "item_id": "sku-a", "event_id": tag + "1", "timestamp": t % 1},
            {"type": "product_view", "anonymous_id": anon, "item_id": "sku-b", "event_id": tag + "2", "timestamp": t % 2},
            {"type": "page_view", "anonymous_id": anon, "user_id": cust, "event_id": tag + "3", "timestamp": t % 3},
            {"type": "product_view", "anonymous_id": anon, "item_id": "sku-c", "event_id": tag + "4", "timestamp": t % 4},
            {"type": "product_view", "user_id": cust, "item_id": "sku-d", "event_id": tag + "5", "timestamp": t % 5},
        ]
    ev = os.path.join(d, "logins.ndjson")
    with open(ev, "w") as f:
        for o in events("imp-c", "imp-v", "i"):
            f.write(json.dumps(o) + "\n")
    code, out, err = run_cli(srv, "import", "events", ev)
    check(code == 0 and "5 events" in out, "logins import: %d %r %r" % (code, out, err))
    srv.start()
    r = srv.call("POST", "/v1/events", events("post-c", "post-v", "p"), key="public")
    check(r.status == 200, "post logins: %d %s" % (r.status, r.text()[:200]))

    def shape(user):
        r = srv.call("GET", "/v1/users/%s/profile" % user)
        check(r.status == 200, "profile %s: %d %s" % (user, r.status, r.text()[:200]))
        p = r.json()
        return (p["anonymous_ids"], [v["item_id"] for v in p["recently_viewed"]], p["counts"])
    imp = shape("imp-c")
    check(imp[0] == ["imp-v"] and imp[1] == ["sku-d", "sku-c", "sku-b", "sku-a"],
          "imported login: %r" % (imp,))
    post = shape("post-c")
    check(post[0] == ["post-v"] and imp[1:] == post[1:], "import %r against POST %r" % (imp, post))
    # a later anonymous event reaches the customer, before and after a restart
    r = srv.call("POST", "/v1/events", [{"type": "product_view", "anonymous_id": "imp-v", "item_id": "sku-e"}],
                 key="public")
    check(r.status == 200, "post after import: %d %s" % (r.status, r.text()[:200]))
    check(shape("imp-c")[1][0] == "sku-e", "anonymous event after the imported login: %r" % (shape("imp-c"),))
    check(srv.stop() == 0, "exit after SIGTERM")
    srv.start()
    check(shape("imp-c")[1][:2] == ["sku-e", "sku-d"], "after a restart: %r" % (shape("imp-c"),))
    check(srv.stop() == 0, "exit after SIGTERM")
    # a file that fails after its login: nothing of it, the link neither
    bad = os.path.join(d, "logins_bad.ndjson")
    with open(bad, "w") as f:
        for o in events("bad-c", "bad-v", "b"):
            f.write(json.dumps(o) + "\n")
        f.write('{"type": "product_view", "anonymous_id": "bad-v", "item_id": "x", "timestamp": "2099-01-01T00:00:00Z"}\n')
    code, out, err = run_cli(srv, "import", "events", bad)
    check(code == 1 and "logins_bad.ndjson:6:" in err and "timestamp" in err, "bad logins import: %d %r" % (code, err))
    srv.start()
    r = srv.call("GET", "/v1/users/bad-c/profile")
    check(r.status == 404, "a failed import linked a login: %d %s" % (r.status, r.text()[:200]))
    r = srv.call("POST", "/v1/events", [{"type": "product_view", "anonymous_id": "bad-v", "item_id": "sku-f"}],
                 key="public")
    check(r.status == 200, "post after the failed import: %d" % r.status)
    r = srv.call("GET", "/v1/users/bad-c/profile")
    check(r.status == 404, "the anonymous id of a failed import reached the customer: %d" % r.status)


def grouped_import_events(n, customers, rng):
    """n events of `customers` shoppers, interleaved as in a real stream:
    views with dwell and scroll, category views, searches, carts, purchases,
    anonymous visitors who log in part way (after which their anonymous id
    reaches the customer). One second apart from 2026-02-01."""
    t0 = datetime.datetime(2026, 2, 1, tzinfo=datetime.timezone.utc)
    login_at = {rng.randrange(n): c for c in range(customers) if c % 3 == 0}
    out = []
    for i in range(n):
        c = login_at.get(i, rng.randrange(customers))
        e = {"event_id": "gw-%d" % i, "timestamp": iso(t0 + datetime.timedelta(seconds=i))}
        anon = "gw-a%d" % c
        if i in login_at:
            e.update(type="page_view", anonymous_id=anon, user_id="gw-c%d" % c)
            out.append(e)
            continue
        if c % 2 and rng.random() < 0.5:
            e["anonymous_id"] = anon
        else:
            e["user_id"] = "gw-c%d" % c
        r = rng.random()
        item = "gw-sku-%d" % int(rng.paretovariate(1.2) * 3 % 120)
        if r < 0.55:
            e.update(type="product_view", item_id=item)
            if rng.random() < 0.5:
                e["dwell_ms"] = rng.randrange(100, 60000)
            if rng.random() < 0.3:
                e["scroll_depth"] = round(rng.random(), 2)
        elif r < 0.65:
            e.update(type="category_view", category=rng.choice(["Mugs", "Toys", "Garden", "Lamps"]))
        elif r < 0.72:
            e.update(type="search", query=rng.choice(["red mug", "lamp", "toy car"]))
        elif r < 0.85:
            e.update(type="add_to_cart", item_id=item, quantity=rng.randrange(1, 4))
        elif r < 0.90:
            e.update(type="remove_from_cart", item_id=item)
        elif r < 0.95:
            lines = [{"item_id": "gw-sku-%d" % rng.randrange(120), "quantity": rng.randrange(1, 3),
                      "price": rng.randrange(100, 5000) / 100} for _ in range(rng.randrange(1, 4))]
            kind = rng.random()  # orders: most with their own id, some without (stored as event:<seq>),
            if kind < 0.7:       # some under an id used before (replaced), some returns
                e.update(type="purchase", order_id="gw-o%d" % i, items=lines)
            elif kind < 0.85:
                e.update(type="purchase", items=lines)
            elif kind < 0.95:
                e.update(type="purchase", order_id="gw-o%d" % rng.randrange(max(i, 1)), items=lines)
            else:
                e.update(type="return", order_id="gw-r%d" % i, items=lines)
        else:
            e.update(type="page_view")
        if rng.random() < 0.2:
            e["country"] = rng.choice(["GB", "DE", "FR"])
        out.append(e)
    return out


def same_json(a, b):
    """a == b, but numbers within a relative 1e-5: affinity scores are
    decayed to the time of the request and printed to 6 digits."""
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and abs(a - b) <= 1e-5 * max(abs(a), abs(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b))
    return a == b


def scenario_import_grouped(run, d, servers):
    """`tailor import events` applies a file's events to profiles in
    windows of 32,768, grouped by shopper (engine/import_events.c): 70,000
    interleaved events of 300 shoppers (three windows; logins part way)
    give every customer the same profile as the same events posted one
    request after another to another server, which applies them in order.
    So does a third import with 16 profiles in memory (--config:
    import_profiles_max and profiles_max 16), where shoppers are evicted
    and loaded back all the time, and the file imported in two halves: the
    first import finds no stored profile and looks none up
    (tl_engine_profile_load_via), the second continues the profiles the
    first stored."""
    rng = random.Random(11)
    events = grouped_import_events(70000, 300, rng)
    cat = os.path.join(d, "grouped_catalog.ndjson")
    with open(cat, "w") as f:
        for k in range(120):
            f.write(json.dumps({"id": "gw-sku-%d" % k, "title": "Item %d" % k, "price": 1 + k % 40,
                                "category": ["Mugs", "Toys", "Garden > Tools", "Lamps"][k % 4],
                                "brand": "B%d" % (k % 7)}) + "\n")
    ev = os.path.join(d, "grouped.ndjson")
    with open(ev, "w") as f:
        for e in events:
            f.write(json.dumps(e, separators=(",", ":")) + "\n")
    made = []
    half = len(events) // 2
    halves = []
    for k, part in enumerate((events[:half], events[half:])):
        halves.append(os.path.join(d, "grouped_half%d.ndjson" % k))
        with open(halves[-1], "w") as f:
            for e in part:
                f.write(json.dumps(e, separators=(",", ":")) + "\n")
    for name in ("imported", "posted", "evicting", "halves"):
        sub = os.path.join(d, name)
        os.makedirs(sub)
        srv = Server(run.bin, sub)
        servers.append(srv)
        srv.make_keys()
        code, out, err = run_cli(srv, "import", "catalog", cat, "--format", "ndjson")
        check(code == 0, "catalog import: %d %r %r" % (code, out, err))
        made.append(srv)
    imp, post, evi, hal = made
    code, out, err = run_cli(imp, "import", "events", ev)
    check(code == 0 and "70,000 events" in out, "grouped import: %d %r %r" % (code, out, err))
    small = os.path.join(d, "small_cache.json")
    with open(small, "w") as f:
        json.dump({"profiles_max": 16, "import_profiles_max": 16}, f)
    code, out, err = run_cli(evi, "import", "events", ev, "--config", small)
    check(code == 0 and "70,000 events" in out, "import with 16 profiles in memory: %d %r %r" % (code, out, err))
    for k, path in enumerate(halves):
        code, out, err = run_cli(hal, "import", "events", path)
        check(code == 0 and "35,000 events" in out, "import of half %d: %d %r %r" % (k, code, out, err))
    imp.start()
    post.start()
    evi.start()
    hal.start()
    for k in range(0, len(events), 5000):
        r = post.call("POST", "/v1/events", events[k:k + 5000], key="public")
        check(r.status == 200, "post %d: %d %s" % (k, r.status, r.text()[:200]))

    def profile(srv, user):
        r = srv.call("GET", "/v1/users/%s/profile" % user)
        check(r.status == 200, "profile %s: %d %s" % (user, r.status, r.text()[:200]))
        p = r.json()
        p.get("session", {}).pop("active", None)
        return p
    linked = 0
    for c in range(300):
        a, b = profile(imp, "gw-c%d" % c), profile(post, "gw-c%d" % c)
        diff = {k: (a.get(k), b.get(k)) for k in set(a) | set(b) if not same_json(a.get(k), b.get(k))}
        check(not diff, "gw-c%d, imported against posted: %s" % (c, json.dumps(diff)[:1500]))
        e = profile(evi, "gw-c%d" % c)
        diff = {k: (e.get(k), b.get(k)) for k in set(e) | set(b) if not same_json(e.get(k), b.get(k))}
        check(not diff, "gw-c%d, imported with 16 in memory against posted: %s" % (c, json.dumps(diff)[:1500]))
        h = profile(hal, "gw-c%d" % c)
        diff = {k: (h.get(k), b.get(k)) for k in set(h) | set(b) if not same_json(h.get(k), b.get(k))}
        check(not diff, "gw-c%d, imported in two halves against posted: %s" % (c, json.dumps(diff)[:1500]))
        linked += bool(a.get("anonymous_ids"))
    check(linked >= 80, "only %d customers with a login" % linked)
    # The orders the import stored (several to a statement) are the ones the
    # posted events stored (one by one), ids "event:<seq>" included.
    import sqlite3

    def orders(srv):
        c = sqlite3.connect(srv.db)
        rows = c.execute("SELECT o.id, o.customer_id, o.ts_ms, o.country, o.is_return, o.total, l.line_no,"
                         " l.item_id, l.quantity, l.price FROM orders o JOIN order_lines l"
                         " ON l.shop_id = o.shop_id AND l.order_id = o.id ORDER BY o.id, l.line_no").fetchall()
        c.close()
        return rows
    a, b = orders(imp), orders(post)
    check(len(a) > 3000 and any(r[0].startswith("event:") for r in a) and any(r[4] for r in a),
          "orders of the imported events: %d rows" % len(a))
    diff = [(x, y) for x, y in zip(a, b) if x != y]
    check(len(a) == len(b) and not diff, "imported orders against posted: %d / %d rows, first differences %s" %
          (len(a), len(b), diff[:3]))


def wait_trained(srv, before=None, timeout=90):
    """Poll GET /v1/admin/train until a snapshot other than `before` exists
    and the trainer is idle."""
    deadline = time.time() + timeout * SLOW
    last = None
    while time.time() < deadline:
        r = srv.call("GET", "/v1/admin/train")
        check(r.status == 200, "GET /v1/admin/train: %d %s" % (r.status, r.text()[:200]))
        last = r.json()
        snap = last.get("snapshot")
        if snap and snap.get("trained_at") != before and last.get("state") == "idle":
            return last
        time.sleep(0.2)
    raise TestFailure("no new model snapshot within %ds: %s" % (timeout * SLOW, json.dumps(last)[:400]))


def scenario_models(run, d, servers):
    """Trained models end to end: two groups of shoppers with distinct tastes;
    POST /v1/admin/train trains in the background (202); for_you follows a
    customer's group and never repeats a purchase; a first-time visitor gets
    trending in their country; one product view changes the next answer;
    similar stays in the anchor's group; bad requests are 400; the snapshot
    survives a restart without retraining; `tailor train` is refused while
    the server holds the database and works once it stopped."""
    srv = Server(run.bin, d)
    servers.append(srv)
    srv.make_keys()
    srv.start()
    items = [{"id": "%s%d" % (g, i), "title": "%s item %d" % ("Garden" if g == "a" else "Kitchen", i),
              "category": "Garden" if g == "a" else "Kitchen", "price": 5 + i, "currency": "EUR"}
             for g in "ab" for i in range(10)]
    r = srv.call("PUT", "/v1/items", items)
    check(r.status == 200, "PUT items: %d %s" % (r.status, r.text()[:200]))
    r = srv.call("GET", "/v1/admin/train")
    check(r.status == 200 and r.json().get("snapshot") is None, "before training: %s" % r.text()[:300])
    rng = __import__("random").Random(7)
    evs = []
    for c in range(40):
        g = "a" if c < 20 else "b"
        picks = rng.sample(range(10), 4)
        for o in range(2):
            lines = [{"item_id": "%s%d" % (g, x), "quantity": 1, "price": 5 + x} for x in picks[o * 2:o * 2 + 2]]
            evs.append({"type": "purchase", "user_id": "c%d" % c, "order_id": "o%d-%d" % (c, o), "items": lines,
                        "country": "DE" if g == "a" else "FR"})
    r = srv.call("POST", "/v1/events", evs, key="public")
    check(r.status == 200, "POST purchases: %d %s" % (r.status, r.text()[:300]))
    r = srv.call("POST", "/v1/admin/train", key="public")
    check(r.status == 403, "train with a public key: %d" % r.status)
    r = srv.call("POST", "/v1/admin/train")
    check(r.status == 202 and r.json().get("state") in ("queued", "training", "idle"),
          "POST /v1/admin/train: %d %s" % (r.status, r.text()[:300]))
    st = wait_trained(srv)
    names = [m["name"] for m in st["snapshot"]["models"]]
    check("itemknn" in names and st["snapshot"]["orders"] == 80, "snapshot: %s" % json.dumps(st)[:400])
    # every order arrived at one moment: no shopper has an earlier history to
    # validate on, so the offline check is null (not made-up numbers)
    check("validation" in st["snapshot"] and st["snapshot"]["validation"] is None,
          "validation: %s" % json.dumps(st["snapshot"].get("validation"))[:300])

    def recs(q):
        r = srv.call("GET", "/v1/recommendations?" + q, key="public")
        check(r.status == 200, "GET recommendations?%s: %d %s" % (q, r.status, r.text()[:300]))
        return r.json()

    out = recs("type=for_you&user_id=c3&limit=5")
    ids = [x["id"] for x in out["items"]]
    check(len(ids) == 5, "for_you c3: %s" % ids)
    model_items = [x for x in out["items"] if x["reason"].get("model") == "for_you"]
    check(len(model_items) >= 3 and all(x["id"].startswith("a") for x in model_items),
          "for_you for a garden shopper: %s" % json.dumps(out["items"])[:600])
    bought = set()
    for e in evs:
        if e["user_id"] == "c3":
            bought.update(l["item_id"] for l in e["items"])
    check(not bought & set(ids), "for_you repeats purchases %s in %s" % (bought, ids))
    check(all(x["reason"].get("source") and x["reason"].get("anchor") for x in model_items),
          "reasons: %s" % [x["reason"] for x in model_items])
    out = recs("type=for_you&anonymous_id=newcomer&country=FR&limit=4")
    check(out.get("fallback") == "trending" and out["items"] and
          all(x["reason"]["model"] == "trending" for x in out["items"]),
          "first-time visitor: %s" % json.dumps(out)[:400])
    before = [x["id"] for x in out["items"]]
    r = srv.call("POST", "/v1/events", {"type": "product_view", "anonymous_id": "newcomer", "item_id": "b3"},
                 key="public")
    check(r.status == 200, "view: %d" % r.status)
    out = recs("type=for_you&anonymous_id=newcomer&country=FR&limit=4")
    after = [x["id"] for x in out["items"]]
    check(after != before and "fallback" not in out, "one view did not change for_you: %s -> %s" % (before, after))
    check(all(i.startswith("b") for i in after[:3]) and "b3" not in after,
          "for_you after viewing b3: %s" % json.dumps(out["items"])[:500])
    check(out["items"][0]["reason"].get("anchor") == "b3", "anchor: %s" % out["items"][0]["reason"])
    out = recs("type=similar&item_id=a1&limit=5")
    sims = [x["id"] for x in out["items"]]
    check(sims and "a1" not in sims and all(i.startswith("a") for i in sims[:3]), "similar a1: %s" % sims)
    out = recs("type=session&anonymous_id=newcomer&limit=3")
    check(len(out["items"]) == 3 and "b3" not in [x["id"] for x in out["items"]], "session: %s" % out)
    # an experiment arm with another similar blend: its shoppers get content
    # similarity only, the control the configured blend; only similar
    # requests expose shoppers (the arms change nothing else)
    exp = {"status": "running", "arms": [{"name": "control", "share": 0.5},
                                          {"name": "content", "share": 0.5, "changes": {"similar_blend": "content:1"}}]}
    check(srv.call("PUT", "/v1/experiments/sim-1", exp).status == 200, "PUT experiment sim-1")
    arm_of = {}
    for i in range(30):
        v = "sv%d" % i
        recs("type=for_you&anonymous_id=%s&limit=3" % v)
        a = srv.call("GET", "/v1/experiments/assignments?anonymous_id=" + v, key="public").json()["assignments"]
        arm_of[v] = a[0]["arm"]
    rep = srv.call("GET", "/v1/experiments/sim-1").json()
    check(rep["units"] == 0, "for_you does not expose shoppers to a similar-only experiment: %s" % rep["units"])
    for v, arm in arm_of.items():
        out = recs("type=similar&item_id=a1&limit=5&anonymous_id=" + v)
        srcs = {x["reason"].get("source") for x in out["items"] if x["reason"].get("model") == "similar"}
        if arm == "content":
            check(srcs == {"content"}, "%s in the content arm got sources %s" % (v, srcs))
        else:
            check(srcs and srcs != {"content"}, "%s in the control got sources %s" % (v, srcs))
    rep = srv.call("GET", "/v1/experiments/sim-1").json()
    check(rep["units"] == 30 and sorted(a["visitors"] for a in rep["arms"]) ==
          sorted([sum(1 for a in arm_of.values() if a == "control"), sum(1 for a in arm_of.values() if a == "content")]),
          "similar requests expose every shopper once: %s" % json.dumps(rep["arms"])[:300])
    check(srv.call("DELETE", "/v1/experiments/sim-1").status == 200, "DELETE sim-1")
    for q, field in (("type=similar", "item_id"), ("type=for_you&limit=0", "limit"), ("type=nearby", "type")):
        r = srv.call("GET", "/v1/recommendations?" + q, key="public")
        check(r.status == 400 and r.json()["error"].get("field") == field, "%s: %d %s" % (q, r.status, r.text()))
    code, out_, err = run_cli(srv, "train")
    check(code == 1 and "in use" in err, "tailor train beside a server: %d %s" % (code, err))
    trained_at = st["snapshot"]["trained_at"]
    check(srv.stop() == 0, "exit after SIGTERM: %s" % srv.log_tail())
    srv.start()
    r = srv.call("GET", "/v1/admin/train")
    check((r.json().get("snapshot") or {}).get("trained_at") == trained_at,
          "snapshot after restart: %s" % r.text()[:300])
    out = recs("type=for_you&user_id=c25&limit=3")
    check(all(x["id"].startswith("b") for x in out["items"]), "for_you after restart: %s" % out["items"])
    check(srv.stop() == 0, "exit after SIGTERM: %s" % srv.log_tail())
    code, out_, err = run_cli(srv, "train")
    check(code == 0 and json.loads(out_)["snapshot"]["trained_at"] != trained_at,
          "tailor train: %d %s %s" % (code, out_[:300], err[-300:]))


def scenario_merch_rules(run, d, servers):
    """Merchandising rules from the config file: exclude by brand, boost a
    category, bury a tag, pin an item at a position (only for the types it
    names); reasons name the rule; an invalid rule stops the server at start
    with a message naming the rule and field."""
    srv = Server(run.bin, d)
    servers.append(srv)
    srv.make_keys()
    cfg = os.path.join(d, "tailor.json")
    with open(cfg, "w") as f:
        json.dump({"merch_rules": [
            {"action": "exclude", "brand": "Hidden"},
            {"action": "boost", "category": "Sale", "factor": 1000},
            {"action": "bury", "tag": "clearance"},
            {"action": "pin", "item": "m6", "position": 2, "types": ["popular"]}]}, f)
    srv.config = cfg
    srv.start()
    items = [{"id": "m1", "title": "One", "price": 1, "category": "Home"},
             {"id": "m2", "title": "Two", "price": 1, "category": "Home", "tags": ["clearance"]},
             {"id": "m3", "title": "Three", "price": 1, "category": "Sale > Summer"},
             {"id": "m4", "title": "Four", "price": 1, "brand": "hidden"},
             {"id": "m5", "title": "Five", "price": 1},
             {"id": "m6", "title": "Six", "price": 1}]
    check(srv.call("PUT", "/v1/items", items).status == 200, "PUT items")
    # views: m2 most popular, then m4, m1, m5, m3 (m6 never viewed)
    evs = []
    for item, n in (("m2", 9), ("m4", 7), ("m1", 5), ("m5", 3), ("m3", 1)):
        evs += [{"type": "product_view", "anonymous_id": "v%d" % i, "item_id": item} for i in range(n)]
    check(srv.call("POST", "/v1/events", evs, key="public").status == 200, "POST views")
    r = srv.call("GET", "/v1/recommendations?type=popular&limit=10", key="public")
    ids = [x["id"] for x in r.json()["items"]]
    check(ids == ["m3", "m6", "m1", "m5", "m2"], "popular with rules: %s" % ids)
    reasons = {x["id"]: x["reason"] for x in r.json()["items"]}
    check(reasons["m3"].get("rule") == 1 and reasons["m2"].get("rule") == 2 and
          reasons["m6"] == {"model": "rule", "action": "pin", "rule": 3}, "reasons: %s" % reasons)
    r = srv.call("GET", "/v1/recommendations?type=trending&limit=10", key="public")
    ids = [x["id"] for x in r.json()["items"]]
    check("m6" not in ids and "m4" not in ids and ids and ids[-1] == "m2",
          "trending (pin is for popular only; m2 buried): %s" % ids)
    r = srv.call("GET", "/v1/recommendations?type=popular&limit=10&category=Home", key="public")
    ids = [x["id"] for x in r.json()["items"]]
    check(ids == ["m1", "m2"], "a pin does not override the request's category filter: %s" % ids)
    check(srv.stop() == 0, "exit after SIGTERM")
    with open(cfg, "w") as f:
        json.dump({"merch_rules": [{"action": "bury", "item": "m1", "factor": 3}]}, f)
    code, out, err = run_cli(srv, "serve", "--port", str(free_port()), "--config", cfg)
    check(code != 0 and "merch_rules[0].factor" in err, "bad rule at start: %d %s" % (code, err[-300:]))


def scenario_feedback(run, d, servers):
    """Feedback: an item shown to a shopper more than demote_after (3) times
    without a click is demoted for that shopper only; a click lifts it again;
    a purchase after a click is attributed to the recommendation type named
    by the recommendation id; the counters are rebuilt from the stored events
    after a restart."""
    srv = Server(run.bin, d)
    servers.append(srv)
    srv.make_keys()
    srv.start()
    items = [{"id": "f%d" % i, "title": "F%d" % i, "price": 10} for i in range(1, 5)]
    check(srv.call("PUT", "/v1/items", items).status == 200, "PUT items")
    evs = []
    for item, n in (("f1", 12), ("f2", 11), ("f3", 10), ("f4", 9)):
        evs += [{"type": "product_view", "anonymous_id": "w%d" % i, "item_id": item} for i in range(n)]
    check(srv.call("POST", "/v1/events", evs, key="public").status == 200, "POST views")

    def popular(who):
        r = srv.call("GET", "/v1/recommendations?type=popular&limit=4&anonymous_id=" + who, key="public")
        check(r.status == 200, "popular: %d %s" % (r.status, r.text()[:200]))
        return r.json()

    out = popular("fbu")
    rid = out["recommendation_id"]
    check(rid.startswith("r_po_"), "recommendation id names the type: %s" % rid)
    check([x["id"] for x in out["items"]] == ["f1", "f2", "f3", "f4"], "popular: %s" % out["items"])
    imp = [{"type": "recommendation_impression", "anonymous_id": "fbu", "recommendation_id": rid,
            "items": ["f1"]} for _ in range(5)]
    check(srv.call("POST", "/v1/events", imp, key="public").status == 200, "impressions")
    out = popular("fbu")
    ids = [x["id"] for x in out["items"]]
    check(ids[-1] == "f1", "f1 shown 5 times without a click is demoted: %s" % ids)
    check({x["id"]: x["reason"] for x in out["items"]}["f1"].get("demoted") == 5, "reason: %s" % out["items"])
    check([x["id"] for x in popular("other")["items"]][0] == "f1", "demotion is per shopper")
    click = {"type": "recommendation_click", "anonymous_id": "fbu", "recommendation_id": rid, "item_id": "f1"}
    check(srv.call("POST", "/v1/events", click, key="public").status == 200, "click")
    check([x["id"] for x in popular("fbu")["items"]][0] == "f1", "a click lifts the demotion")
    buy = {"type": "purchase", "anonymous_id": "fbu", "order_id": "fb-1",
           "items": [{"item_id": "f1", "quantity": 2, "price": 10}, {"item_id": "f3", "quantity": 1, "price": 10}]}
    check(srv.call("POST", "/v1/events", buy, key="public").status == 200, "purchase")
    st = stats(srv)["recommendations"]["popular"]
    check(st["served"] >= 4 and st["impressions"] == 5 and st["clicks"] == 1 and st["attributed_lines"] == 1
          and abs(st["attributed_revenue"] - 20.0) < 1e-9 and abs(st["ctr"] - 0.2) < 1e-9, "stats: %s" % st)
    check(srv.stop() == 0, "exit after SIGTERM")
    srv.start()
    st = stats(srv)["recommendations"]["popular"]
    check(st["impressions"] == 5 and st["clicks"] == 1 and st["attributed_lines"] == 1, "after restart: %s" % st)


def scenario_demo_key(run, d, servers):
    """The demo storefront's key: /demo/config.js publishes the public key
    given with --demo-key (null without one); a secret key or a key this
    database does not know stops the server at start, naming demo_key."""
    srv = Server(run.bin, d)
    servers.append(srv)
    srv.make_keys()
    srv.start()
    r = srv.call("GET", "/demo/config.js", key="none")
    check(r.status == 200 and '"key": null' in r.text() and
          r.headers.get("content-type", "").startswith("text/javascript"), "no demo key: %s" % r.text())
    check(srv.stop() == 0, "exit after SIGTERM")
    for bad in (srv.keys["secret"], "pk_notakey"):
        code, out, err = run_cli(srv, "serve", "--port", str(free_port()), "--demo-key", bad)
        check(code != 0 and "demo_key" in err, "bad demo key at start: %d %s" % (code, err[-300:]))
    cfg = os.path.join(d, "demo.json")
    with open(cfg, "w") as f:
        json.dump({"demo_key": srv.keys["public"]}, f)
    srv.config = cfg
    srv.start()
    r = srv.call("GET", "/demo/config.js", key="none")
    check(r.status == 200 and ('"key": "%s"' % srv.keys["public"]) in r.text(), "demo key served: %s" % r.text())
    check(srv.stop() == 0, "exit after SIGTERM")


def scenario_search(run, d, servers):
    """Search: synonyms from the config; the shopper's tastes reorder
    matches (never adding a non-matching item); what shoppers clicked after
    a query lifts that product for the next shopper; zero-result queries and
    click-through show in the analytics; after a restart the index is loaded
    from its file and the learning is rebuilt from the stored events."""
    srv = Server(run.bin, d)
    servers.append(srv)
    srv.make_keys()
    cfg = os.path.join(d, "tailor.json")
    with open(cfg, "w") as f:
        json.dump({"search_synonyms": "tv,television", "train_interval_s": 0}, f)
    srv.config = cfg
    srv.start()
    items = [{"id": "brass", "title": "Brass lamp", "category": "Lighting > Desk", "brand": "Lux", "price": 40},
             {"id": "glass", "title": "Glass lamp", "category": "Lighting > Floor", "brand": "Glo", "price": 40},
             {"id": "rug", "title": "Floor rug", "category": "Lighting > Floor", "brand": "Glo", "price": 40},
             {"id": "tv", "title": "Oak television stand", "category": "Furniture", "price": 150},
             {"id": "night", "title": "Night light", "category": "Lighting > Kids", "price": 10},
             {"id": "reading", "title": "Reading light for the garden shed, clamp-on, battery powered",
              "category": "Lighting > Outdoor", "price": 15}]
    items += [{"id": "f%d" % i, "title": "Floor thing %d" % i, "category": "Lighting > Floor", "brand": "Glo",
               "price": 40} for i in range(4)]
    items += [{"id": "d%d" % i, "title": "Desk thing %d" % i, "category": "Lighting > Desk", "brand": "Lux",
               "price": 40} for i in range(4)]
    check(srv.call("PUT", "/v1/items", items).status == 200, "PUT items")

    def search(q, **kw):
        qs = "&".join("%s=%s" % (k, urllib.parse.quote(str(v))) for k, v in kw.items())
        r = srv.call("GET", "/v1/search?q=%s&%s" % (urllib.parse.quote(q), qs), key="public")
        check(r.status == 200, "search %s: %d %s" % (q, r.status, r.text()[:200]))
        return r.json()

    ids = [x["id"] for x in search("tv")["items"]]
    check(ids == ["tv"], "synonym tv -> television: %s" % ids)
    evs = [{"type": "product_view", "user_id": "floorfan", "item_id": "f%d" % i} for i in range(4)]
    evs += [{"type": "product_view", "user_id": "deskfan", "item_id": "d%d" % i} for i in range(4)]
    check(srv.call("POST", "/v1/events", evs, key="public").status == 200, "POST views")
    a = [x["id"] for x in search("lamp", user_id="floorfan")["items"]]
    b = [x["id"] for x in search("lamp", user_id="deskfan")["items"]]
    check(a == ["glass", "brass"] and b == ["brass", "glass"], "personal order: floorfan %s, deskfan %s" % (a, b))
    check(search("lamp", user_id="floorfan")["personalized"] is True, "personalized flag")

    base = [x["id"] for x in search("light")["items"]]
    check(base[:2] == ["night", "reading"], "text order before learning: %s" % base)
    for i in range(5):
        search("light", user_id="learner%d" % i)
        check(srv.call("POST", "/v1/events", {"type": "product_view", "user_id": "learner%d" % i,
                                              "item_id": "reading"}, key="public").status == 200, "click")
    learned = [x["id"] for x in search("light", anonymous_id="newcomer")["items"]]
    check(learned[:2] == ["reading", "night"], "after 5 shoppers chose reading: %s" % learned)
    search("qqqzzz", user_id="learner0")
    rep = srv.call("GET", "/v1/admin/search", key="secret").json()["analytics"]
    top = {x["query"]: x for x in rep["top"]}
    # 5 learners and the newcomer searched; the 5 learners clicked
    check(top.get("light", {}).get("searches") == 6 and top["light"]["clicked_searches"] == 5 and
          abs(top["light"]["ctr"] - 5 / 6) < 1e-3, "analytics for light: %s" % top.get("light"))
    check(any(z["query"] == "qqqzzz" for z in rep["zero_results"]), "zero results: %s" % rep["zero_results"])
    sug = srv.call("GET", "/v1/search/suggest?q=li", key="public").json()
    check([q["query"] for q in sug["queries"]] == ["light"], "completions: %s" % sug)

    check(srv.stop() == 0, "exit after SIGTERM: %s" % srv.log_tail())
    srv.start()
    check("search index loaded" in srv.log_tail(), "index loaded from its file: %s" % srv.log_tail())
    learned = [x["id"] for x in search("light", anonymous_id="newcomer2")["items"]]
    check(learned[:2] == ["reading", "night"], "learning after restart: %s" % learned)
    rep = srv.call("GET", "/v1/admin/search", key="secret").json()["analytics"]
    top = {x["query"]: x for x in rep["top"]}
    check(top.get("light", {}).get("searches") == 7, "searches counted after restart: %s" % top.get("light"))
    check(srv.stop() == 0, "exit after SIGTERM")


def scenario_experiments(run, d, servers):
    """A running 50/50 experiment, personalization off vs on: each visitor
    gets one arm for good (the OFF arm is served bestsellers for for_you),
    keeps it after logging in, and the report counts visitors, conversions
    and revenue per arm exactly as sent; after a restart the same numbers
    come back from the stored events."""
    srv = Server(run.bin, d)
    servers.append(srv)
    srv.make_keys()
    srv.start()
    items = [{"id": "x%d" % i, "title": "Thing %d" % i, "price": 10} for i in range(6)]
    check(srv.call("PUT", "/v1/items", items).status == 200, "PUT items")
    evs = [{"type": "product_view", "anonymous_id": "seed%d" % i, "item_id": "x%d" % (i % 6)} for i in range(30)]
    check(srv.call("POST", "/v1/events", evs, key="public").status == 200, "seed views")
    exp = {"status": "running", "arms": [{"name": "off", "share": 0.5, "changes": {"personalization": False}},
                                          {"name": "on", "share": 0.5}]}
    check(srv.call("PUT", "/v1/experiments/p1", exp).status == 200, "PUT experiment")
    arms, tally = {}, {"off": [0, 0, 0.0], "on": [0, 0, 0.0]}
    for i in range(40):
        v = "v%d" % i
        a = srv.call("GET", "/v1/experiments/assignments?anonymous_id=" + v, key="public").json()["assignments"]
        arm = a[0]["arm"]
        arms[v] = arm
        r = srv.call("GET", "/v1/recommendations?type=for_you&anonymous_id=%s&limit=3" % v, key="public").json()
        check(r["type"] == ("popular" if arm == "off" else "for_you"), "%s in %s got %s" % (v, arm, r["type"]))
        tally[arm][0] += 1
        if i % 3 == 0:
            ev = {"type": "purchase", "anonymous_id": v, "order_id": "o%d" % i,
                  "items": [{"item_id": "x1", "quantity": 2, "price": 10}]}
            check(srv.call("POST", "/v1/events", ev, key="public").status == 200, "purchase")
            tally[arm][1] += 1
            tally[arm][2] += 20.0
    check(tally["off"][0] > 5 and tally["on"][0] > 5, "both arms used: %s" % tally)
    again = srv.call("GET", "/v1/experiments/assignments?anonymous_id=v7", key="public").json()["assignments"]
    check(again[0]["arm"] == arms["v7"], "sticky for the visitor")
    login = {"type": "page_view", "anonymous_id": "v7", "user_id": "cust7"}
    check(srv.call("POST", "/v1/events", login, key="public").status == 200, "login")
    as_cust = srv.call("GET", "/v1/experiments/assignments?user_id=cust7", key="public").json()["assignments"]
    check(as_cust and as_cust[0]["arm"] == arms["v7"], "sticky after login: %s vs %s" % (as_cust, arms["v7"]))

    def report():
        rep = srv.call("GET", "/v1/experiments/p1").json()
        return {a["name"]: (a["visitors"], a["conversions"], round(a["revenue"], 2)) for a in rep["arms"]}, rep
    want = {k: (v[0], v[1], v[2]) for k, v in tally.items()}
    got, rep = report()
    check(got == want, "per-arm metrics %s, sent %s" % (got, want))
    on = [a for a in rep["arms"] if a["name"] == "on"][0]
    check("vs_control" in on and 0 <= on["vs_control"]["conversion"]["p_value"] <= 1 and
          0 <= on["vs_control"]["conversion"]["sequential_p_value"] <= 1 and rep["srm"] is not None,
          "statistics present: %s" % json.dumps(on)[:400])
    weeks = on["vs_control"]["roi_weekly"]
    check(sum(w["visitors"] for w in weeks) == tally["on"][0] and
          sum(w["control_visitors"] for w in weeks) == tally["off"][0], "weekly ROI cohorts: %s" % weeks)
    check(srv.stop() == 0, "exit after SIGTERM")
    srv.start()
    got2, _ = report()
    check(got2 == want, "after restart %s, want %s" % (got2, want))
    check(srv.stop() == 0, "exit after SIGTERM")


def scenario_analytics_restart(run, d, servers):
    """The KPI roll-ups and the seasonal audit are rebuilt from the stored
    events after a restart: the same report before and after."""
    srv = Server(run.bin, d)
    servers.append(srv)
    srv.make_keys()
    srv.start()
    items = [{"id": "k%d" % i, "title": "Thing %d" % i, "price": 10 + i} for i in range(4)]
    check(srv.call("PUT", "/v1/items", items).status == 200, "PUT items")
    evs = []
    for u in range(6):
        rid = "r_fy_%016x" % (u + 1)
        a = "a%d" % u
        evs += [{"type": "recommendation_impression", "anonymous_id": a, "recommendation_id": rid,
                 "items": ["k0", "k1", "k2"], "context": {"placement": "home", "device": "desktop"}},
                {"type": "recommendation_click", "anonymous_id": a, "recommendation_id": rid, "item_id": "k%d" % (u % 3)}]
        if u % 2 == 0:
            evs += [{"type": "add_to_cart", "anonymous_id": a, "item_id": "k%d" % (u % 3)},
                    {"type": "purchase", "anonymous_id": a, "order_id": "o%d" % u,
                     "items": [{"item_id": "k%d" % (u % 3), "quantity": 1, "price": 10 + u % 3}]}]
    check(srv.call("POST", "/v1/events", evs, key="public").status == 200, "POST events")
    paths = ["/v1/admin/kpis?by=widget", "/v1/admin/kpis?by=placement", "/v1/admin/seasonal"]
    before = [srv.call("GET", p).json() for p in paths]
    row = before[0]["rows"][0]
    check(row["key"] == "for_you" and row["impressions"] == 18 and row["clicks"] == 6 and row["orders"] == 3 and
          abs(row["revenue"] - 33.0) < 1e-9, "kpis: %s" % row)
    # Bodies the start-up reads with the fast parser and bodies it leaves to
    # jansson (an escape in a field: quote, \u escape), for the search report
    # and a shopper's profile too.
    def extras(tag):
        return [{"type": "search", "anonymous_id": "s" + tag, "query": "lamp " + tag},
                {"type": "search", "anonymous_id": "s" + tag, "query": 'red "lamp" ' + tag},
                {"type": "purchase", "user_id": 'buyer"%s\u00e9' % tag, "order_id": 'o"%s' % tag,
                 "items": [{"item_id": "k3", "quantity": 2, "price": 13}, {"item_id": "k1", "quantity": 1, "price": 11}]},
                {"type": "purchase", "user_id": "plain" + tag, "order_id": "p" + tag, "items": [{"item_id": "k2", "price": 12}],
                 "context": {"placement": "cart", "device": "phone"}},
                {"type": "recommendation_click", "anonymous_id": "c" + tag, "recommendation_id": "r_fy_%s" % tag,
                 "item_id": "k1", "context": {"placement": 'we"ird', "device": "desktop"}}]
    r = srv.call("POST", "/v1/events", extras("1"), key="public")
    check(r.status == 200, "POST events with escapes: %s" % r.text()[:300])
    paths.append("/v1/admin/search")  # its "analytics" (the index's bytes depend on how it was built)

    def get(p):
        j = srv.call("GET", p).json()
        return j.get("analytics") if p == "/v1/admin/search" else j

    shopper = "/v1/users/%s/profile" % urllib.parse.quote('buyer"1\u00e9', safe="")
    before = [get(p) for p in paths] + [get(shopper)]
    pur = (before[-1] or {}).get("purchases") or {}
    check(pur.get("orders") == 1 and pur.get("units") == 3 and abs(pur.get("monetary", 0) - 37.0) < 1e-9,
          "escaped buyer's profile: %s" % json.dumps(before[-1])[:300])
    top = {q["query"]: q["searches"] for q in before[len(paths) - 1]["top"]}
    check(top.get("lamp 1") == 1 and top.get('red "lamp" 1') == 1, "search report: %s" % top)
    check(srv.stop() == 0, "exit after SIGTERM")
    srv.start()
    after = [get(p) for p in paths] + [get(shopper)]
    for p, b, a in zip(paths + [shopper], before, after):
        check(b == a, "%s after restart: %s vs %s" % (p, json.dumps(a)[:300], json.dumps(b)[:300]))
    # the same after a crash: events after the last checkpoint are replayed
    check(srv.call("POST", "/v1/events", extras("2"), key="public").status == 200, "POST more events")
    shopper2 = "/v1/users/%s/profile" % urllib.parse.quote('buyer"2\u00e9', safe="")
    before = [get(p) for p in paths + [shopper, shopper2]]
    srv.stop(sig=signal.SIGKILL)
    srv.start()
    after = [get(p) for p in paths + [shopper, shopper2]]
    for p, b, a in zip(paths + [shopper, shopper2], before, after):
        check(b == a, "%s after kill -9: %s vs %s" % (p, json.dumps(a)[:300], json.dumps(b)[:300]))
    check(srv.stop() == 0, "exit after SIGTERM")

def scenario_segments(run, d, servers):
    """Micro-segments end to end: three planted groups of shoppers (recent big
    spenders on Garden, one-time Kitchen buyers of long ago, Toys browsers)
    plus a few one-view visitors; after POST /v1/admin/train the report has
    one segment per group with the exact sizes, names that say what they
    are, top products from the group's own category; every shopper's profile
    names their group's segment; new visitors are counted apart; a live
    shopper moves into a segment as they behave; KPIs break down by segment
    (and come back the same after a restart, with the segments loaded from
    their file)."""
    srv = Server(run.bin, d)
    servers.append(srv)
    srv.make_keys()
    cfg = os.path.join(d, "tailor.json")
    with open(cfg, "w") as f:
        json.dump({"segments_k": 3, "train_interval_s": 0}, f)
    srv.config = cfg
    srv.start()
    r = srv.call("GET", "/v1/admin/segments")
    check(r.status == 200 and r.json()["status"] == "not_trained" and r.json()["segments"] == [],
          "before training: %s" % r.text()[:300])
    check(srv.call("GET", "/v1/admin/segments", key="public").status == 403, "public key refused")
    cats = {"g": "Garden > Tools", "k": "Kitchen", "t": "Toys & Games"}
    items = [{"id": "%s%d" % (g, i), "title": "%s %d" % (c, i), "category": c, "price": 50 if g == "g" else 5,
              "currency": "EUR"} for g, c in cats.items() for i in range(8)]
    check(srv.call("PUT", "/v1/items", items).status == 200, "PUT items")
    now = int(time.time() * 1000)
    day = 86400000
    evs = []
    for c in range(12):  # recent big spenders on Garden: 6 orders each, last 1-3 days ago
        for o in range(6):
            ts = now - (1 + (c + o) % 3) * day - o * 3600000
            evs.append({"type": "purchase", "user_id": "big%d" % c, "order_id": "big%d-%d" % (c, o),
                        "timestamp": ts, "country": "DE",
                        "items": [{"item_id": "g%d" % ((c + o) % 8), "quantity": 3, "price": 50}]})
    for c in range(12):  # one-time Kitchen buyers, 200-210 days ago
        evs.append({"type": "purchase", "user_id": "once%d" % c, "order_id": "once%d" % c, "country": "FR",
                    "timestamp": now - (200 + c % 10) * day,
                    "items": [{"item_id": "k%d" % (c % 8), "quantity": 1, "price": 5}]})
    for c in range(12):  # Toys browsers: 5 views today, no order
        for v in range(5):
            evs.append({"type": "product_view", "anonymous_id": "br%d" % c, "item_id": "t%d" % ((c + v) % 8),
                        "timestamp": now - 3600000 + v * 1000})
    for c in range(5):  # one view: new visitors
        evs.append({"type": "product_view", "anonymous_id": "nv%d" % c, "item_id": "t1"})
    r = srv.call("POST", "/v1/events", evs, key="public")
    check(r.status == 200, "POST events: %d %s" % (r.status, r.text()[:200]))
    check(srv.call("POST", "/v1/admin/train").status == 202, "POST /v1/admin/train")
    wait_trained(srv)
    deadline = time.time() + 30 * SLOW
    while time.time() < deadline:
        rep = srv.call("GET", "/v1/admin/segments").json()
        if rep["status"] == "trained":
            break
        time.sleep(0.2)
    check(rep["status"] == "trained" and rep["k"] == 3 and rep["shoppers"] == 36 and rep["new_visitors"] == 5,
          "report: %s" % json.dumps(rep)[:500])
    by_name = {}
    for sg in rep["segments"]:
        check(sg["id"] in ("s1", "s2", "s3") and sg["shoppers"] == 12 and abs(sg["share"] - 1 / 3) < 1e-9 and
              sg["description"] and sg["top_products"], "segment %s" % json.dumps(sg)[:400])
        by_name[sg["name"]] = sg
    big = [s for n, s in by_name.items() if "oyal big spenders" in n]
    once = [s for n, s in by_name.items() if n.startswith("Lapsed one-time buyers")]
    brow = [s for n, s in by_name.items() if "rowsers" in n]
    check(len(big) == 1 and len(once) == 1 and len(brow) == 1, "names: %s" % list(by_name))
    check(big[0]["name"].endswith("Tools") and brow[0]["name"].endswith("Toys & Games") and
          once[0]["name"].endswith("Kitchen"), "category in names: %s" % list(by_name))
    check(all(p["item_id"].startswith("g") for p in big[0]["top_products"]) and
          all(p["item_id"].startswith("t") for p in brow[0]["top_products"]), "top products from the group's category")
    check(big[0]["countries"][0]["country"] == "DE" and big[0]["countries"][0]["shoppers"] == 12 and
          "Mostly from DE (100%)" in big[0]["description"], "countries: %s" % big[0]["countries"])
    check(big[0]["medians"]["orders"] == 6 and once[0]["medians"]["orders"] == 1 and
          brow[0]["medians"]["orders"] == 0 and brow[0]["medians"]["views"] == 5, "medians")

    def seg_of(path):
        r = srv.call("GET", path)
        check(r.status == 200, "GET %s: %d %s" % (path, r.status, r.text()[:200]))
        return r.json().get("segment")
    for c in range(12):
        check(seg_of("/v1/users/big%d/profile" % c)["id"] == big[0]["id"], "big%d segment" % c)
        check(seg_of("/v1/users/once%d/profile" % c)["name"] == once[0]["name"], "once%d segment" % c)
    # a new visitor moves into the browsers' segment as they browse Toys
    r = srv.call("POST", "/v1/events", {"type": "product_view", "user_id": "newc", "item_id": "t1"}, key="public")
    check(r.status == 200, "first view: %d %s" % (r.status, r.text()[:200]))
    check(seg_of("/v1/users/newc/profile") == {"id": "new", "name": "New visitors"}, "one view: new visitor")
    for v in range(4):
        srv.call("POST", "/v1/events", {"type": "product_view", "user_id": "newc", "item_id": "t%d" % v}, key="public")
    check(seg_of("/v1/users/newc/profile")["id"] == brow[0]["id"], "after browsing Toys: the browsers' segment")
    # KPIs by segment: a click and a purchase by a big spender
    rid = "r_fy_%016x" % 77
    kev = [{"type": "recommendation_impression", "user_id": "big0", "recommendation_id": rid, "items": ["g1", "g2"]},
           {"type": "recommendation_click", "user_id": "big0", "recommendation_id": rid, "item_id": "g1"},
           {"type": "purchase", "user_id": "big0", "order_id": "kpi1",
            "items": [{"item_id": "g1", "quantity": 1, "price": 50}]}]
    check(srv.call("POST", "/v1/events", kev, key="public").status == 200, "KPI events")
    k1 = srv.call("GET", "/v1/admin/kpis?by=segment").json()
    row = [x for x in k1["rows"] if x["key"] == big[0]["name"]]
    check(row and row[0]["clicks"] == 1 and row[0]["impressions"] == 2 and abs(row[0]["revenue"] - 50) < 1e-9,
          "kpis by segment: %s" % json.dumps(k1)[:500])
    check(srv.stop() == 0, "exit after SIGTERM")
    srv.start()
    rep2 = srv.call("GET", "/v1/admin/segments").json()
    check(rep2 == rep, "segments after restart: %s" % json.dumps(rep2)[:300])
    check(seg_of("/v1/users/big3/profile")["id"] == big[0]["id"], "profile segment after restart")
    k2 = srv.call("GET", "/v1/admin/kpis?by=segment").json()
    diff = [(a, b) for a, b in zip(k1["days"], k2["days"]) if a != b]
    check(k2 == k1, "kpis by segment after restart: rows %s vs %s, days differing %s" % (
        k2["rows"], k1["rows"], diff[:3]))
    check(srv.stop() == 0, "exit after SIGTERM")


def scenario_attribution_across_login(run, d, servers):
    """A guest clicks a recommendation and logs in to buy: the purchase is
    attributed to the click in the KPI roll-ups and in /v1/admin/stats, and
    the guest and the customer count as one visitor, whether the login comes
    with the purchase event (both ids) or as POST /v1/identify before a
    purchase that names the customer only. A restart (which replays the
    events with the links known from the start) gives the same numbers."""
    srv = Server(run.bin, d)
    servers.append(srv)
    srv.make_keys()
    srv.start()
    items = [{"id": "L%d" % i, "title": "Lamp %d" % i, "price": 30} for i in range(3)]
    check(srv.call("PUT", "/v1/items", items).status == 200, "PUT items")
    evs = []
    for g in (1, 2):
        rid = "r_fy_%016x" % (100 + g)
        evs += [{"type": "recommendation_impression", "anonymous_id": "guest%d" % g, "recommendation_id": rid,
                 "items": ["L0", "L1"], "session_id": "s%d" % g},
                {"type": "recommendation_click", "anonymous_id": "guest%d" % g, "recommendation_id": rid,
                 "item_id": "L%d" % (g - 1), "session_id": "s%d" % g}]
    check(srv.call("POST", "/v1/events", evs, key="public").status == 200, "guest clicks")
    # guest1 logs in at checkout: the purchase names both ids
    buy1 = {"type": "purchase", "anonymous_id": "guest1", "user_id": "cust1", "order_id": "x1", "session_id": "s1",
            "items": [{"item_id": "L0", "quantity": 1, "price": 30}]}
    check(srv.call("POST", "/v1/events", buy1, key="public").status == 200, "purchase 1")
    # guest2 logs in first, then buys as the customer
    r = srv.call("POST", "/v1/identify", {"anonymous_id": "guest2", "user_id": "cust2"}, key="public")
    check(r.status == 200, "identify: %d %s" % (r.status, r.text()[:200]))
    buy2 = {"type": "purchase", "user_id": "cust2", "order_id": "x2", "session_id": "s2",
            "items": [{"item_id": "L1", "quantity": 2, "price": 30}]}
    check(srv.call("POST", "/v1/events", buy2, key="public").status == 200, "purchase 2")

    def numbers():
        k = srv.call("GET", "/v1/admin/kpis?by=widget").json()
        row = [x for x in k["rows"] if x["key"] == "for_you"]
        st = stats(srv)["recommendations"].get("for_you", {})
        day = k["days"][-1]
        return (row[0] if row else None, st.get("attributed_lines"), st.get("attributed_revenue"), day["visitors"],
                day["converted"], day["orders"])
    row, lines, revenue, visitors, converted, orders = numbers()
    check(row and row["clicks"] == 2 and row["orders"] == 2 and abs(row["revenue"] - 90) < 1e-9,
          "KPI row for_you: %s" % row)
    check(lines == 2 and abs(revenue - 90) < 1e-9, "stats attribution: %s lines, %s revenue" % (lines, revenue))
    check(visitors == 2 and converted == 2 and orders == 2, "two shoppers, not four: visitors %s converted %s orders %s" %
          (visitors, converted, orders))
    before = numbers()
    check(srv.stop() == 0, "exit after SIGTERM")
    srv.start()
    after = numbers()
    check(after == before, "after restart %s, before %s" % (after, before))
    check(srv.stop() == 0, "exit after SIGTERM")


SCENARIOS = [
    ("scenario/crash_kill9", scenario_crash_kill9),
    ("scenario/sigterm_drain", scenario_sigterm_drain),
    ("scenario/restart_keeps_state", scenario_restart_keeps_state),
    ("scenario/keepalive", scenario_keepalive),
    ("scenario/concurrent_posts", scenario_concurrent_posts),
    ("scenario/imports", scenario_imports),
    ("scenario/import_killed", scenario_import_killed),
    ("scenario/import_disk_full", scenario_import_disk_full),
    ("scenario/import_sole_use", scenario_import_sole_use),
    ("scenario/import_batches", scenario_import_batches),
    ("scenario/import_logins", scenario_import_logins),
    ("scenario/import_grouped", scenario_import_grouped),
    ("scenario/models", scenario_models),
    ("scenario/merch_rules", scenario_merch_rules),
    ("scenario/feedback", scenario_feedback),
    ("scenario/demo_key", scenario_demo_key),
    ("scenario/search", scenario_search),
    ("scenario/experiments", scenario_experiments),
    ("scenario/analytics_restart", scenario_analytics_restart),
    ("scenario/segments", scenario_segments),
    ("scenario/attribution_across_login", scenario_attribution_across_login),
]


def main():
    global SLOW
    ap = argparse.ArgumentParser(description="Tailor black-box API tests")
    ap.add_argument("--bin", required=True, help="path of the tailor binary")
    ap.add_argument("--slow", action="store_true", help="longer timeouts (sanitizer builds)")
    ap.add_argument("--only", default="", help="run only tests whose name contains this")
    ap.add_argument("--keep", action="store_true", help="keep temporary directories")
    args = ap.parse_args()
    if args.slow:
        SLOW = 5.0
    binary = os.path.abspath(args.bin)
    run = Runner(binary, args.only, args.keep)
    if not os.access(binary, os.X_OK):
        run.report("setup", "%s is not an executable" % binary)
    else:
        for path in sorted(glob.glob(os.path.join(HERE, "cases", "*.json"))):
            run.run_case_file(path)
        for name, fn in SCENARIOS:
            run.scenario(name, fn)
    _kill_all()
    print("%d passed, %d failed" % (run.passed, run.failed), flush=True)
    return 1 if run.failed else 0


if __name__ == "__main__":
    sys.exit(main())
