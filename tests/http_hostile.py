#!/usr/bin/env python3
"""http_hostile.py - hostile HTTP clients against a running carewatchd.

tests/http.sh starts the servers and the daemon and runs one scenario of
this file at a time:

    python3 tests/http_hostile.py SCENARIO

Scenarios: table, audit, slowloris, idle_flood, sse_fanout, sse_churn,
sse_slow, sse_replay, alive. Each prints one line per check ("ok: ..." or
"FAIL: ...") and exits 0 only when every check held. Everything goes to
127.0.0.1; every wait has a deadline; the standard library only.

The environment, set by http.sh:
  CW_HTTP_PORT     the daemon's HTTP port
  CW_MQ_PORT       mosquitto's port
  CW_PREFIX        the daemon's topic prefix
  CW_MSGS          file that mosquitto_sub -v fills with everything under it
  CW_PSQL          psql program;  CW_DB  its connection string
  CW_DAEMON_PID    carewatchd's pid
  CW_TOKEN_OP      operator, whole county      CW_TOKEN_AUD  auditor
  CW_TOKEN_SUP     supervisor, whole county    CW_TOKEN_FAR  operator of
                   another township (no incident of the fixture is in it)
"""

import json
import os
import resource
import selectors
import socket
import subprocess
import sys
import time

PORT = int(os.environ["CW_HTTP_PORT"])
MQ_PORT = os.environ["CW_MQ_PORT"]
PREFIX = os.environ["CW_PREFIX"]
MSGS = os.environ["CW_MSGS"]
PSQL = os.environ["CW_PSQL"]
DB = os.environ["CW_DB"]
DAEMON_PID = int(os.environ["CW_DAEMON_PID"])
TOK = {
    "op": os.environ["CW_TOKEN_OP"],
    "sup": os.environ["CW_TOKEN_SUP"],
    "aud": os.environ["CW_TOKEN_AUD"],
    "far": os.environ["CW_TOKEN_FAR"],
}
ADDR = ("127.0.0.1", PORT)

failures = 0
checks = 0


def ok(what):
    global checks
    checks += 1
    print("    ok: " + what, flush=True)


def fail(what):
    global checks, failures
    checks += 1
    failures += 1
    print("    FAIL: " + what, flush=True)


def check(cond, what, why=""):
    if cond:
        ok(what)
    else:
        fail(what + (": " + why if why else ""))
    return cond


def wait_until(secs, pred, step=0.05):
    """Polls pred until it returns a true value or secs pass; returns it."""
    end = time.monotonic() + secs
    while True:
        v = pred()
        if v or time.monotonic() >= end:
            return v
        time.sleep(step)


# --- HTTP over raw sockets ------------------------------------------------


class Reply:
    def __init__(self, raw, closed, error=None):
        self.raw = raw
        self.closed = closed  # the daemon closed the connection
        self.error = error  # reset, timeout, refused
        self.status = None
        self.headers = {}
        self.body = b""
        head, sep, body = raw.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2) if lines and lines[0] else []
        if sep and len(parts) >= 2 and parts[0].startswith(b"HTTP/"):
            try:
                self.status = int(parts[1])
            except ValueError:
                pass
            for ln in lines[1:]:
                k, _, v = ln.partition(b":")
                self.headers.setdefault(k.strip().lower().decode("latin-1"), []).append(
                    v.strip().decode("latin-1")
                )
            self.body = body

    def header(self, name):
        v = self.headers.get(name.lower())
        return v[0] if v else None

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None

    def __str__(self):
        if self.status is None:
            return "no answer (%s, %d bytes)" % (self.error or "closed", len(self.raw))
        return "%d %s" % (self.status, self.body[:160].decode("utf-8", "replace").strip())


def exchange(data, timeout=10.0):
    """Sends data and reads until the daemon closes (every answer says
    Connection: close) or timeout passes."""
    try:
        s = socket.create_connection(ADDR, timeout=timeout)
    except OSError as e:
        return Reply(b"", False, "connect: %s" % e)
    out = b""
    end = time.monotonic() + timeout
    try:
        try:
            s.sendall(data)
        except OSError as e:
            # the daemon may answer and close before it has read it all
            err = "send: %s" % e
        else:
            err = None
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return Reply(out, False, "timeout")
            s.settimeout(left)
            try:
                b = s.recv(65536)
            except socket.timeout:
                return Reply(out, False, "timeout")
            except OSError as e:
                return Reply(out, True, err or "recv: %s" % e)
            if not b:
                return Reply(out, True, err)
            out += b
    finally:
        s.close()


def request(method, path, token=None, body=None, headers=(), auth=None, version=b"HTTP/1.1"):
    """Builds one request as bytes: token becomes Authorization: Bearer,
    auth (bytes) an Authorization header of its own."""
    if isinstance(path, str):
        path = path.encode()
    h = [b"%s %s %s" % (method.encode(), path, version), b"Host: 127.0.0.1"]
    if token is not None:
        h.append(b"Authorization: Bearer " + token.encode())
    if auth is not None:
        h.append(b"Authorization: " + auth)
    if body is not None:
        if isinstance(body, str):
            body = body.encode()
        h.append(b"Content-Type: application/json")
        h.append(b"Content-Length: %d" % len(body))
    h.extend(headers)
    return b"\r\n".join(h) + b"\r\n\r\n" + (body or b"")


def call(method, path, token=None, body=None, headers=(), timeout=10.0):
    return exchange(request(method, path, token, body, headers), timeout)


def daemon_alive():
    try:
        with open("/proc/%d/stat" % DAEMON_PID) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def healthz_ok(timeout=2.0):
    return call("GET", "/healthz", timeout=timeout).status == 200


def metric(name):
    """The value of one sample of /metrics, e.g. 'carewatch_sse_clients'."""
    r = call("GET", "/metrics", TOK["op"])
    if r.status != 200:
        return None
    for ln in r.body.decode("utf-8", "replace").splitlines():
        if ln.startswith(name + " "):
            return float(ln.split()[1])
    return None


def sql(q):
    p = subprocess.run(
        [PSQL, "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", DB, "-c", q],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if p.returncode != 0:
        raise RuntimeError("psql: " + p.stderr.strip())
    return p.stdout.strip()


# --- MQTT through the mosquitto clients -------------------------------------

seq_base = "%x" % int(time.time() * 1000)
seq_n = 0


def event_id(tag):
    global seq_n
    seq_n += 1
    return "h-%s-%s-%d" % (tag, seq_base, seq_n)


def publish(topic, payload):
    subprocess.run(
        ["mosquitto_pub", "-h", "127.0.0.1", "-p", MQ_PORT, "-q", "1",
         "-t", PREFIX + "/" + topic, "-m", payload],
        check=True,
        timeout=30,
    )


def publish_lines(topic, lines):
    """Publishes one message per line, in one client."""
    subprocess.run(
        ["mosquitto_pub", "-h", "127.0.0.1", "-p", MQ_PORT, "-q", "1",
         "-t", PREFIX + "/" + topic, "-l"],
        input="".join(l + "\n" for l in lines).encode(),
        check=True,
        timeout=120,
    )


def offer_for(alarm):
    """(incident, responder) of the offer whose alarm is this event id."""
    try:
        with open(MSGS, "rb") as f:
            for ln in f:
                topic, _, payload = ln.decode("utf-8", "replace").partition(" ")
                if not topic.startswith(PREFIX + "/dispatch/") or alarm not in payload:
                    continue
                try:
                    o = json.loads(payload)
                except ValueError:
                    continue
                if o.get("alarm") == alarm and "offer" in o:
                    return o["incident"], topic.rsplit("/", 1)[1]
    except OSError:
        pass
    return None


def sos(device, secs=10):
    """Publishes an SOS from device; (incident, responder) of its first
    offer, or None when none came in secs."""
    eid = event_id("sos")
    publish("dev/%s/event" % device, json.dumps({"id": eid, "type": "sos"}))
    return wait_until(secs, lambda: offer_for(eid))


def resolve(inc):
    return call("POST", "/api/v1/incidents/%d/resolve" % inc, TOK["op"], '{"outcome":"test"}')


# --- the table ---------------------------------------------------------------

BIG_HEADER = [b"X-Filler: " + b"a" * 9000]
HUGE_HEADER = [b"X-Filler: " + b"a" * (100 * 1024)]


def chunked(path, token, chunks, extra=()):
    h = [b"POST %s HTTP/1.1" % path.encode(), b"Host: 127.0.0.1",
         b"Authorization: Bearer " + token.encode(), b"Transfer-Encoding: chunked"]
    h.extend(extra)
    return b"\r\n".join(h) + b"\r\n\r\n" + b"".join(chunks)


def expect_row(name, data, statuses, json_error=True, forbid=None, timeout=10.0,
               want=None):
    """One request of the table: the status must be one of statuses (a
    status of None stands for "closed without an answer"), an error
    answered by the daemon must be {"error": "..."} in JSON, forbid must
    not appear in the answer, want (a predicate of the reply) must hold."""
    r = exchange(data, timeout)
    why = []
    if r.status not in statuses:
        why.append("expected %s, got %s" % ("/".join(str(s) for s in statuses), r))
    if r.status is None and not r.closed:
        why.append("the connection was left open (%s)" % r.error)
    if json_error and r.status is not None and r.status >= 400:
        j = r.json()
        if not (isinstance(j, dict) and isinstance(j.get("error"), str) and j["error"]):
            why.append("no JSON error body: %r" % r.body[:120])
    if forbid is not None and forbid in r.raw:
        why.append("the answer holds %r" % forbid)
    if want is not None and not why and not want(r):
        why.append("unexpected answer: %s" % r)
    if why:
        fail("%s: %s" % (name, "; ".join(why)))
    else:
        ok("%s -> %s" % (name, r.status if r.status is not None else "closed"))
    return r


def s_table():
    op, aud, far, sup = TOK["op"], TOK["aud"], TOK["far"], TOK["sup"]
    # Two live incidents: A (elder E1) offered to V1, then B (elder E2),
    # which V1 cannot be offered while A's offer is out.
    a = sos("D1")
    if not check(a is not None, "SOS from D1 offered"):
        return
    b = sos("D4")
    if not check(b is not None, "SOS from D4 offered"):
        return
    A, B = a[0], b[0]
    check(a[1] == "V1" and b[1] != "V1", "A offered to V1, B to another (%s, %s)" % (a[1], b[1]))
    ia, ib = "/api/v1/incidents/%d" % A, "/api/v1/incidents/%d" % B
    nope = "/api/v1/incidents/999999"
    J = [400]

    print("  -- tokens and roles", flush=True)
    expect_row("no token", request("GET", "/api/v1/incidents"), [401])
    expect_row("bad token", request("GET", "/api/v1/incidents", "not-a-token"), [401])
    expect_row("Bearer with an empty token", request("GET", "/api/v1/me", auth=b"Bearer "), [401])
    expect_row("Bearer without a token", request("GET", "/api/v1/me", auth=b"Bearer"), [401])
    expect_row("Basic scheme", request("GET", "/api/v1/me", auth=b"Basic b3A6b3A="), [401])
    expect_row("token with trailing whitespace (OWS, not the token's)",
               request("GET", "/api/v1/me", auth=b"Bearer " + op.encode() + b" \t"), [200])
    expect_row("token with a space inside", request("GET", "/api/v1/me", auth=b"Bearer " + op.encode()[:8] + b" " + op.encode()[8:]), [401])
    expect_row("lower-case bearer is accepted", request("GET", "/api/v1/me", auth=b"bearer " + op.encode()), [200],
               want=lambda r: (r.json() or {}).get("role") == "operator")
    expect_row("upper-case BEARER is accepted", request("GET", "/api/v1/me", auth=b"BEARER " + op.encode()), [200])
    expect_row("token in the query string", request("GET", "/api/v1/incidents?token=" + op, op), J)
    expect_row("access_token in the query string", request("GET", "/api/v1/incidents?state=open&access_token=" + op), J)
    expect_row("auditor POST ack", request("POST", ia + "/ack", aud, "{}"), [403])
    expect_row("auditor POST visit", request("POST", "/api/v1/visits", aud, "{}"), [403])
    expect_row("operator reads the audit log", request("GET", "/api/v1/audit", op), [403])
    expect_row("operator of another township: GET A", request("GET", ia, far), [404])
    expect_row("operator of another township: ack A", request("POST", ia + "/ack", far, "{}"), [404])
    expect_row("operator of another township: list without A", request("GET", "/api/v1/incidents", far), [200],
               want=lambda r: (r.json() or {}).get("incidents") == [])

    print("  -- sizes", flush=True)
    expect_row("headers over 8 KiB", request("GET", "/api/v1/me", op, headers=BIG_HEADER), [431])
    expect_row("a 100 KiB header (libevent's limit)", request("GET", "/api/v1/me", op, headers=HUGE_HEADER),
               range(400, 500), json_error=False)
    expect_row("a 9 KiB URL", request("GET", "/" + "a" * 9000, op), [404, 414, 400, 431], json_error=False)
    expect_row("body over 64 KiB", request("POST", ia + "/ack", op, '{"note":"' + "x" * 70000 + '"}'), [413])
    expect_row("body of 200 KiB (libevent's limit)", request("POST", ia + "/ack", op, "x" * 200000),
               [413], json_error=False)
    expect_row("chunked body of 80 KiB", chunked(ia + "/ack", op, [b"4000\r\n" + b"a" * 0x4000 + b"\r\n"] * 5 + [b"0\r\n\r\n"]),
               [413])

    print("  -- bodies", flush=True)
    expect_row("bad JSON", request("POST", nope + "/ack", op, '{"note": '), J)
    expect_row("a JSON array instead of an object", request("POST", nope + "/ack", op, '["note"]'), J)
    expect_row("a JSON string instead of an object", request("POST", nope + "/ack", op, '"note"'), J)
    expect_row("unknown field", request("POST", nope + "/ack", op, '{"note":"x","priority":1}'), J)
    expect_row("invalid UTF-8", request("POST", nope + "/ack", op, b'{"note":"\xff\xfe\xc3"}'), J)
    expect_row("overlong UTF-8 slash", request("POST", nope + "/ack", op, b'{"note":"\xc0\xaf"}'), J)
    expect_row("wrong-typed note", request("POST", nope + "/ack", op, '{"note":5}'), J)
    expect_row("wrong-typed outcome", request("POST", nope + "/resolve", op, '{"outcome":["test"]}'), J)
    expect_row("duplicated key", request("POST", nope + "/ack", op, '{"note":"a","note":"b"}'), J)
    expect_row("an escaped NUL", request("POST", nope + "/ack", op, '{"note":"a\\u0000b"}'), J)
    expect_row("60,000 nested arrays", request("POST", nope + "/ack", op, "[" * 60000), J)
    expect_row("resolve without an outcome", request("POST", nope + "/resolve", op, "{}"), J)
    expect_row("resolve with an unknown outcome", request("POST", ia + "/resolve", op, '{"outcome":"fixed_it"}'), J)
    expect_row("dispatch without a responder", request("POST", ia + "/dispatch", op, "{}"), J)
    expect_row("visit of an unknown elder", request("POST", "/api/v1/visits", op,
               '{"id":"v1","elder":"E404","at":"2026-11-20T10:00:00+08:00","kind":"routine","in_person":true}'), J)
    expect_row("state=bogus", request("GET", "/api/v1/incidents?state=bogus", op), J)
    expect_row("audit limit=abc", request("GET", "/api/v1/audit?limit=abc", aud), J)
    expect_row("audit since=yesterday", request("GET", "/api/v1/audit?since=yesterday", aud), J)

    print("  -- transitions", flush=True)
    expect_row("dispatch A to an unknown responder", request("POST", ia + "/dispatch", op, '{"responder":"V404"}'), [409])
    expect_row("dispatch B to V1, busy with A's offer", request("POST", ib + "/dispatch", op, '{"responder":"V1"}'), [409])
    expect_row("ack A", request("POST", ia + "/ack", op, '{"note":"phoned her"}'), [200],
               want=lambda r: (((r.json() or {}).get("incident") or {}).get("ack") or {}).get("by") == "op1")
    expect_row("ack A twice", request("POST", ia + "/ack", op, "{}"), [409])
    expect_row("resolve A", request("POST", ia + "/resolve", op, '{"outcome":"false_alarm"}'), [200],
               want=lambda r: ((r.json() or {}).get("incident") or {}).get("state") == "resolved")
    expect_row("resolve A twice", request("POST", ia + "/resolve", sup, '{"outcome":"test"}'), [409])
    expect_row("ack resolved A with a 5 KB note", request("POST", ia + "/ack", op, json.dumps({"note": "n" * 5000})), [409])
    expect_row("ack an incident that never was", request("POST", nope + "/ack", op, "{}"), [404])

    print("  -- paths and methods", flush=True)
    for p in ["/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/index.html/../../x", "//etc/passwd",
              "/api/v1/../../../etc/passwd", "/..%2f..%2fetc%2fpasswd"]:
        expect_row("traversal %s with a token" % p, request("GET", p, op), [404, 400], forbid=b"root:")
        expect_row("traversal %s without a token" % p, request("GET", p), [401, 404, 400], forbid=b"root:")
    expect_row("unknown path", request("GET", "/api/v2/incidents", op), [404])
    for m in ["PUT", "DELETE", "PATCH", "OPTIONS"]:
        expect_row("%s on an incident" % m, request(m, ia, op, "{}"), [405],
                   want=lambda r: "GET" in (r.header("allow") or "") and "POST" not in r.header("allow"))
    expect_row("GET on ack", request("GET", ia + "/ack", op), [405],
               want=lambda r: (r.header("allow") or "") == "POST")
    expect_row("TRACE (not served)", request("TRACE", ia, op), [405, 501], json_error=False)
    for p in ["0", "-1", "1e3", "99999999999999999999", "01", "%d%%00" % A, "%d.0" % A, "0x10", "+5", " 1"]:
        expect_row("incident id %r" % p, request("GET", "/api/v1/incidents/" + p, op), [404, 400],
                   json_error=p != " 1", want=lambda r: b"no incident 9223372036854775807" not in r.body)

    print("  -- framing", flush=True)
    expect_row("garbage request line", b"\x16\x03\x01\x02\x00garbage\r\n\r\n", [400, None], json_error=False)
    expect_row("NUL in the request line", b"GET /api/v1/me\x00/x HTTP/1.1\r\nHost: x\r\n\r\n", [400, None], json_error=False)
    expect_row("NUL in a header", request("GET", "/api/v1/me", op, headers=[b"X-A: a\x00b"]), [200, 400], json_error=False)
    expect_row("HTTP/0.9 request", b"GET /healthz\r\n\r\n", [400, None], json_error=False)
    expect_row("HTTP/9.9", request("GET", "/healthz", version=b"HTTP/9.9"), [400, 505, None], json_error=False)
    expect_row("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", [400, 505, None], json_error=False)
    expect_row("chunk size not hex", chunked(ia + "/ack", op, [b"zz\r\n{}\r\n0\r\n\r\n"]), range(400, 500), json_error=False)
    expect_row("chunk size 2^64-1", chunked(ia + "/ack", op, [b"FFFFFFFFFFFFFFFF\r\n{}\r\n0\r\n\r\n"]),
               range(400, 500), json_error=False)
    expect_row("negative chunk size", chunked(ia + "/ack", op, [b"-5\r\n{}\r\n0\r\n\r\n"]), range(400, 500), json_error=False)
    expect_row("chunked and Content-Length", chunked(ia + "/ack", op, [b"2\r\n{}\r\n0\r\n\r\n"], [b"Content-Length: 3"]),
               [400], json_error=False)
    expect_row("duplicated Content-Length 2 and 5",
               request("POST", nope + "/ack", op, headers=[b"Content-Length: 2", b"Content-Length: 5"]) + b"{}", J)
    expect_row("negative Content-Length", request("POST", nope + "/ack", op, headers=[b"Content-Length: -1"]) + b"{}",
               [400], json_error=False)
    expect_row("Last-Event-ID garbage", request("GET", "/api/v1/events", op, headers=[b"Last-Event-ID: 12abc"]), J)
    expect_row("Last-Event-ID negative", request("GET", "/api/v1/events", op, headers=[b"Last-Event-ID: -5"]), J)
    expect_row("Last-Event-ID too large", request("GET", "/api/v1/events", op,
               headers=[b"Last-Event-ID: 99999999999999999999999"]), J)

    # Reads abandoned before their answer: the daemon answers nobody, and lives.
    socks = []
    for _ in range(50):
        s = socket.create_connection(ADDR, timeout=5)
        s.sendall(request("GET", "/api/v1/incidents?state=all", op))
        socks.append(s)
    for s in socks:
        s.close()
    check(wait_until(5, healthz_ok, 0.1), "50 reads abandoned before their answer, /healthz still 200")

    check(daemon_alive(), "the daemon is alive after the table")
    check(healthz_ok(), "/healthz 200 after the table")
    r = call("GET", ib, op)
    check(r.status == 200 and (r.json() or {}).get("state") == "offered",
          "B is still offered after the table", str(r))
    with open(os.environ.get("CW_STATE", "/dev/null"), "w") as f:
        f.write("A=%d\nB=%d\n" % (A, B))


# --- audit rows ----------------------------------------------------------------


def s_audit():
    st = {}
    with open(os.environ["CW_STATE"]) as f:
        for ln in f:
            k, _, v = ln.strip().partition("=")
            st[k] = int(v)
    A, B = st["A"], st["B"]

    def http_count(code):
        v = metric('carewatch_http_requests_total{code="%d"}' % code)
        return int(v or 0)

    # Every refused token or role is a row, as many as the daemon answered.
    for code in (401, 403):
        want = http_count(code)
        got = wait_until(10, lambda: sql("SELECT count(*) FROM audit_log WHERE status = %d" % code) == str(want) and want)
        check(got, "audit rows with status %d = the %d answers counted in /metrics" % (code, want),
              sql("SELECT count(*) FROM audit_log WHERE status = %d" % code))
    rows = [
        ("-", None, "GET /api/v1/incidents", None, 401, "no or bad token"),
        ("aud1", "auditor", "ack", A, 403, "the auditor's ack"),
        ("far1", "operator", "ack", A, 404, "the ack out of area"),
        ("op1", "operator", "dispatch", A, 409, "dispatch to an unknown responder"),
        ("op1", "operator", "dispatch", B, 409, "dispatch to a busy responder"),
        ("op1", "operator", "ack", A, 200, "the ack"),
        ("op1", "operator", "ack", A, 409, "the second ack"),
        ("op1", "operator", "resolve", A, 200, "the resolve"),
        ("sup1", "supervisor", "resolve", A, 409, "the second resolve"),
        ("op1", "operator", "resolve", A, 400, "the unknown outcome"),
    ]
    for actor, role, action, inc, status, what in rows:
        q = ("SELECT count(*) FROM audit_log WHERE actor = '%s' AND role %s AND action = '%s' "
             "AND incident_id %s AND status = %d AND source = 'http' AND peer LIKE '127.0.0.1:%%'"
             % (actor, "IS NULL" if role is None else "= '%s'" % role, action,
                "IS NULL" if inc is None else "= %d" % inc, status))
        n = wait_until(10, lambda: int(sql(q)) >= 1 and sql(q))
        check(n, "audit row for %s: %s %s -> %d" % (what, actor, action, status))
    # a body is kept in its row only when it is short, valid text
    n = sql("SELECT count(*) FROM audit_log WHERE action = 'ack' AND incident_id = %d AND status = 409 "
            "AND body = '(5012 bytes, not kept)'" % A)
    check(n == "1", "the 5 KB note is not kept in its audit row", n)
    n = sql("SELECT count(*) FROM audit_log WHERE action = 'ack' AND incident_id = %d AND status = 200 "
            "AND body = '{\"note\":\"phoned her\"}'" % A)
    check(n == "1", "the short note is kept in its audit row", n)
    # the same rows through the API, for the auditor
    r = call("GET", "/api/v1/audit?limit=10000", TOK["aud"])
    rows = (r.json() or {}).get("audit") or []
    check(r.status == 200 and any(x.get("status") == 409 and x.get("incident_id") == B for x in rows),
          "GET /api/v1/audit (auditor) shows the 409 on B", str(r))
    check(r.status == 200 and not any(TOK["op"] in json.dumps(x) for x in rows),
          "no token text in the audit rows")


# --- slow-loris ----------------------------------------------------------------


def s_slowloris():
    n, gap, limit = 50, 2.0, 12.5
    line = b"GET /api/v1/incidents HTTP/1.1\r\nX-Slow: " + b"a" * 100
    sel = selectors.DefaultSelector()
    conns = {}
    for i in range(n):
        s = socket.create_connection(ADDR, timeout=5)
        s.setblocking(False)
        conns[s] = {"t0": time.monotonic(), "sent": 0, "closed": None}
        sel.register(s, selectors.EVENT_READ)
    start = time.monotonic()
    next_byte = start
    served = None
    while time.monotonic() - start < limit + 2 and any(c["closed"] is None for c in conns.values()):
        now = time.monotonic()
        if now >= next_byte:
            for s, c in conns.items():
                if c["closed"] is None and c["sent"] < len(line):
                    try:
                        s.send(line[c["sent"]:c["sent"] + 1])
                        c["sent"] += 1
                    except OSError:
                        c["closed"] = time.monotonic() - c["t0"]
            next_byte += gap
        # a normal request while they hold their connections
        if served is None and now - start > 3:
            t = time.monotonic()
            r = call("GET", "/api/v1/me", TOK["op"], timeout=5)
            served = (r, time.monotonic() - t)
        for key, _ in sel.select(timeout=0.05):
            s = key.fileobj
            try:
                b = s.recv(4096)
            except OSError:
                b = b""
            if not b and conns[s]["closed"] is None:
                conns[s]["closed"] = time.monotonic() - conns[s]["t0"]
                sel.unregister(s)
    left = [c for c in conns.values() if c["closed"] is None]
    for s in conns:
        s.close()
    times = sorted(c["closed"] for c in conns.values() if c["closed"] is not None)
    check(served is not None and served[0].status == 200 and served[1] < 2,
          "a normal request is served during the slow-loris (%s in %.2f s)" % (served[0] if served else "-",
                                                                               served[1] if served else 0))
    check(not left and times and times[-1] <= limit,
          "the daemon closed all %d slow connections within %.1f s" % (n, limit),
          "%d still open; closed after %s s" % (len(left), times and "%.1f..%.1f" % (times[0], times[-1])))
    if times:
        check(times[0] >= 8, "none closed before it had 8 s (first after %.1f s)" % times[0])
    check(daemon_alive() and healthz_ok(), "alive and /healthz 200 after the slow-loris")


# --- 1,000 idle connections ------------------------------------------------------


def s_idle_flood():
    n = 1000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 200), hard))
    conns = []
    t = time.monotonic()
    for _ in range(n):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(ADDR)  # in progress: the kernel's backlog holds the rest
        conns.append(s)
    ok("%d connections opened at once in %.2f s" % (n, time.monotonic() - t))
    # the daemon sits at its limit, and dispatch goes on
    log = os.environ.get("CW_DAEMON_LOG")
    if log:
        check(wait_until(10, lambda: "event=http_busy" in open(log, errors="replace").read(), 0.2),
              "the daemon reached max_connections and paused its listener")
    r = sos("D1")
    check(r is not None, "an SOS during them is offered (%s)" % (r,))
    check(daemon_alive(), "alive during the flood")
    t = time.monotonic()
    for s in conns:
        s.close()
    back = wait_until(30, lambda: healthz_ok(1.0), 0.2)
    took = time.monotonic() - t
    check(back and took < 20, "/healthz 200 again %.1f s after they closed" % took)
    if r:
        rr = resolve(r[0])
        check(rr.status == 200, "the SOS resolved over HTTP", str(rr))
    # the daemon lets them all go
    check(wait_until(15, lambda: (metric("carewatch_http_connections") or 99) <= 2, 0.2),
          "carewatch_http_connections back to ~0")


# --- event streams ---------------------------------------------------------------


class SSE:
    """One event-stream client over a raw socket. The stream comes in
    HTTP/1.1 chunks; they are decoded as they arrive, and complete events
    are kept."""

    def __init__(self, token, last_id=None, rcvbuf=None):
        self.s = socket.socket()
        if rcvbuf:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.s.settimeout(5)
        self.s.connect(ADDR)
        h = [b"Accept: text/event-stream"]
        if last_id is not None:
            h.append(b"Last-Event-ID: %d" % last_id)
        self.s.sendall(request("GET", "/api/v1/events", token, headers=h))
        self.s.setblocking(False)
        self.raw = b""  # received, not yet decoded
        self.head = None  # the answer's status line and headers
        self.text = b""  # decoded, not yet a whole event
        self.blocks = []  # whole blocks: events and comments
        self.evs = []
        self.nbytes = 0
        self.closed = False

    def _decode(self):
        if self.head is None:
            head, sep, rest = self.raw.partition(b"\r\n\r\n")
            if not sep:
                return
            self.head, self.raw = head, rest
        chunked = b"transfer-encoding: chunked" in self.head.lower()
        if not chunked:
            self.text += self.raw
            self.raw = b""
        if chunked:
            raw, pos, parts = self.raw, 0, []
            while True:
                nl = raw.find(b"\r\n", pos)
                if nl < 0:
                    break
                size = int(raw[pos:nl].split(b";")[0], 16)
                if len(raw) - (nl + 2) < size + 2:
                    break
                parts.append(raw[nl + 2:nl + 2 + size])
                pos = nl + 4 + size
            self.raw = raw[pos:]
            self.text += b"".join(parts)
        *whole, self.text = self.text.split(b"\n\n")
        for block in whole:
            self.blocks.append(block)
            ev = {}
            for ln in block.split(b"\n"):
                k, _, v = ln.partition(b": ")
                ev.setdefault(k.decode("latin-1"), v)
            if ev.get("event") == b"incident" and "data" in ev:
                try:
                    self.evs.append((int(ev["id"]), json.loads(ev["data"])))
                except (ValueError, KeyError):
                    pass

    def pump(self):
        """Reads what has arrived; returns False once the daemon closed it."""
        while not self.closed:
            try:
                b = self.s.recv(1 << 20)
            except BlockingIOError:
                break
            except OSError:
                b = b""
            if not b:
                self.closed = True
                break
            self.nbytes += len(b)
            self.raw += b
        self._decode()
        return not self.closed

    def status(self):
        return self.head.split(b" ")[1] if self.head else None

    def connected(self):
        return self.status() == b"200" and any(b": connected" in b for b in self.blocks)

    def has_block(self, text):
        return any(text in b for b in self.blocks)

    def events(self):
        """The incident events received so far, as (id, data)."""
        return self.evs

    def close(self):
        self.s.close()


def sse_idle():
    return metric("carewatch_sse_clients") == 0


def s_sse_fanout():
    n = 50
    check(wait_until(10, sse_idle, 0.2), "no event-stream client before")
    clients = [SSE(TOK["op"]) for _ in range(n)]
    try:
        up = wait_until(10, lambda: all(c.pump() and c.connected() for c in clients) or
                        [c for c in clients if c.closed])
        check(up is True, "%d event streams connected" % n, "closed: %s" % up)
        r = sos("D1")
        if not check(r is not None, "an SOS is offered with %d streams open" % n):
            return
        inc = r[0]

        def got_opened(c):
            c.pump()
            return any(d.get("incident") == inc and d.get("what") == "opened" for _, d in c.events())

        wait_until(10, lambda: all(got_opened(c) for c in clients), 0.1)
        have = sum(1 for c in clients if got_opened(c))
        check(have == n, "every stream received incident %d's opened event (%d of %d)" % (inc, have, n))
        ev = [d for _, d in clients[0].events() if d.get("incident") == inc and d.get("what") == "opened"]
        check(ev and ev[0].get("type") == "sos" and ev[0].get("elder_id") == "E1" and ev[0].get("priority") == 1,
              "the opened event carries type, elder and priority", str(ev[:1]))
        # and the offer follows on the same stream
        check(wait_until(5, lambda: clients[0].pump() and any(
            d.get("incident") == inc and d.get("what") == "offered" for _, d in clients[0].events())),
            "the offered event follows")
        rr = resolve(inc)
        check(rr.status == 200, "resolved over HTTP", str(rr))
        check(wait_until(5, lambda: all(c.pump() and any(d.get("incident") == inc and d.get("what") == "resolved"
                                                         for _, d in c.events()) for c in clients)),
              "every stream received the resolved event")
    finally:
        for c in clients:
            c.close()
    check(wait_until(10, sse_idle, 0.2), "the daemon let go of the %d streams" % n)


def s_sse_churn():
    """A stream that ends and another that starts at once: the second may
    get the first one's memory, and must not be taken for it when the
    first connection is let go."""
    rounds, lost = 40, []
    for i in range(rounds):
        a = SSE(TOK["op"])
        if not wait_until(5, lambda: a.pump() and a.connected()):
            fail("round %d: stream A did not connect" % i)
            return
        a.close()
        b = SSE(TOK["op"])
        up = wait_until(5, lambda: b.pump() and b.connected())
        # A's connection let go (only B and this /metrics request left)
        gone = wait_until(5, lambda: metric("carewatch_http_connections") == 2, 0.05)
        n = metric("carewatch_sse_clients")
        if not (up and gone and n == 1 and b.pump()):
            lost.append("round %d: connected=%s released=%s sse_clients=%s open=%s"
                        % (i, bool(up), bool(gone), n, not b.closed))
        b.close()
        if not wait_until(5, sse_idle, 0.05):
            lost.append("round %d: B not let go" % i)
            break
        if not daemon_alive():
            break
    check(not lost, "%d rounds of one stream ending as the next starts: the new one is kept" % rounds,
          "; ".join(lost[:3]))
    check(daemon_alive() and healthz_ok(), "alive and /healthz 200 after the churn")


def s_sse_slow():
    """A client that never reads is closed once its unsent bytes pass the
    limit, and the daemon serves the others meanwhile."""
    dropped0 = metric("carewatch_sse_dropped_total")
    if not check(dropped0 is not None, "carewatch_sse_dropped_total is in /metrics"):
        return
    r = sos("D1")
    if not check(r is not None, "an SOS to attach alarms to"):
        return
    inc = r[0]
    slow = SSE(TOK["op"], rcvbuf=4096)  # and never pumped
    fast = SSE(TOK["op"])
    check(wait_until(5, lambda: fast.pump() and fast.connected()), "a reading stream beside it")

    def alarms():
        return sum(1 for _, d in fast.events() if d.get("incident") == inc and d.get("what") == "alarm")

    def dropped():
        return (metric("carewatch_sse_dropped_total") or 0) > dropped0

    sent = 0
    t = time.monotonic()
    for round_ in range(8):  # at most 32,000 alarms of ~350 bytes on each stream
        lines = "".join(json.dumps({"id": event_id("flood%d" % round_), "type": "sos"}) + "\n"
                        for _ in range(4000))
        p = subprocess.Popen(["mosquitto_pub", "-h", "127.0.0.1", "-p", MQ_PORT, "-q", "1",
                              "-t", PREFIX + "/dev/D1/event", "-l"], stdin=subprocess.PIPE)
        p.stdin.write(lines.encode())
        p.stdin.close()
        # the reading stream reads all along
        wait_until(60, lambda: fast.pump() is not None and p.poll() is not None, 0.02)
        if p.poll() is None:
            p.kill()
            p.wait()
        sent += 4000
        if wait_until(5, lambda: fast.pump() is not None and (dropped() or alarms() >= sent), 0.1) and dropped():
            break
    check(dropped(), "the stream that never reads is closed (%d alarms, %.1f s)" % (sent, time.monotonic() - t))
    check(healthz_ok(), "/healthz 200 meanwhile")
    wait_until(30, lambda: fast.pump() and alarms() >= sent, 0.1)
    check(alarms() >= sent and not fast.closed,
          "the reading stream got all %d alarm events and stays open (%d)" % (sent, alarms()))
    slow.close()
    fast.close()
    check(wait_until(10, sse_idle, 0.2), "no stream left")
    rr = resolve(inc)
    check(rr.status == 200, "resolved over HTTP", str(rr))


def s_sse_replay():
    """Last-Event-ID: every change after it first, even more than the
    slow-client limit's worth; beyond SSE_REPLAY_MAX rows a reset."""
    top = int(sql("SELECT max(seq) FROM incident_history"))
    n = 3000  # ~1 MB of events, over the 512 KiB a slow client may hold
    if not check(top > n, "history has more than %d rows (%d)" % (n, top)):
        return
    dropped0 = metric("carewatch_sse_dropped_total")
    c = SSE(TOK["op"], last_id=top - n)
    try:
        wait_until(15, lambda: (not c.pump()) or len(c.events()) >= n, 0.1)
        ids = [i for i, _ in c.events()]
        check(not c.closed, "the replaying stream is not closed", "closed after %d bytes" % c.nbytes)
        check(ids == list(range(top - n + 1, top + 1)),
              "it received the %d rows after Last-Event-ID in order" % n,
              "got %d events%s" % (len(ids), ", from %d to %d" % (ids[0], ids[-1]) if ids else ""))
        check(metric("carewatch_sse_dropped_total") == dropped0, "no stream counted as dropped")
    finally:
        c.close()
    if top > 5000:
        c = SSE(TOK["op"], last_id=0)
        try:
            wait_until(10, lambda: (not c.pump()) or c.has_block(b"event: reset"), 0.1)
            check(c.has_block(b"event: reset") and not c.closed, "Last-Event-ID: 0 with %d rows after it -> reset" % top)
        finally:
            c.close()
    # a stream scoped to another township is sent nothing of this county
    c = SSE(TOK["far"], last_id=top - 100)
    try:
        wait_until(2, lambda: not c.pump())
        check(c.connected() and c.events() == [], "another township's replay is empty")
    finally:
        c.close()


# --- at the end ------------------------------------------------------------------


def s_alive():
    check(daemon_alive(), "carewatchd (pid %d) is alive" % DAEMON_PID)
    check(healthz_ok(), "/healthz 200")
    r = sos("D1")
    check(r is not None, "an SOS still gets its offer (%s)" % (r,))
    if r:
        rr = resolve(r[0])
        check(rr.status == 200, "and is resolved over HTTP", str(rr))


SCENARIOS = {
    "table": s_table,
    "audit": s_audit,
    "slowloris": s_slowloris,
    "idle_flood": s_idle_flood,
    "sse_fanout": s_sse_fanout,
    "sse_churn": s_sse_churn,
    "sse_slow": s_sse_slow,
    "sse_replay": s_sse_replay,
    "alive": s_alive,
}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in SCENARIOS:
        sys.exit("usage: http_hostile.py " + "|".join(SCENARIOS))
    try:
        SCENARIOS[sys.argv[1]]()
    except Exception as e:  # a harness error fails the scenario, visibly
        fail("%s: %s" % (type(e).__name__, e))
    print("    %d checks, %d failed" % (checks, failures), flush=True)
    sys.exit(1 if failures or not checks else 0)
