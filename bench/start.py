#!/usr/bin/env python3
"""start.py - times a carewatchd start for bench/run.sh (SPEC section 9).

  start.py CAREWATCHD CONF LOG MQTT_PORT PREFIX OFFERS TIMEOUT

Subscribes to PREFIX/dispatch/# (mosquitto_sub, line-buffered by stdbuf), and once the broker has
confirmed it, starts carewatchd -c CONF, its output to LOG. Prints RESULT
lines: milliseconds from the exec to the log's event=loaded and
event=ready, and, when OFFERS > 0, to the first republished offer and to
the OFFERS-th; then the daemon's VmRSS and VmHWM in KiB, read at ready and
again 1 s later (the larger is reported). Stops the daemon with SIGTERM.
Every wait ends by TIMEOUT seconds. Exit 1 when it never got ready."""
import os
import re
import signal
import subprocess
import sys
import threading
import time

daemon, conf, log, port, prefix, want, timeout = sys.argv[1:8]
want, timeout = int(want), float(timeout)
marks = {}
offers = []
cond = threading.Condition()


def note(key, t):
    with cond:
        marks.setdefault(key, t)
        cond.notify_all()


sub = subprocess.Popen(["stdbuf", "-oL", "mosquitto_sub", "-d", "-h", "127.0.0.1", "-p", port, "-q", "1",
                        "-t", prefix + "/dispatch/#", "-v"],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def read_sub():
    for line in sub.stdout:
        t = time.monotonic()
        if "SUBACK" in line:
            note("suback", t)
        elif line.startswith(prefix + "/dispatch/"):
            with cond:
                offers.append(t)
                cond.notify_all()


threading.Thread(target=read_sub, daemon=True).start()


def wait_for(pred, deadline):
    with cond:
        while not pred() and time.monotonic() < deadline:
            cond.wait(0.05)
        return pred()


if not wait_for(lambda: "suback" in marks, time.monotonic() + 10):
    sub.kill()
    sys.exit("start.py: mosquitto_sub got no SUBACK in 10 s")

out = open(log, "w")
t0 = time.monotonic()
proc = subprocess.Popen([daemon, "-c", conf], stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT, text=True, start_new_session=True)
loaded_ms = None


def read_log():
    global loaded_ms
    for line in proc.stdout:
        t = time.monotonic()
        out.write(line)
        out.flush()
        if "event=loaded" in line:
            m = re.search(r" ms=([0-9.]+)", line)
            loaded_ms = m and m.group(1)
            note("loaded", t)
        elif "event=ready" in line:
            note("ready", t)


reader = threading.Thread(target=read_log, daemon=True)
reader.start()
deadline = t0 + timeout


def rss():
    kb = {}
    try:
        with open("/proc/%d/status" % proc.pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM"):
                    kb[k] = int(v.split()[0])
    except OSError:
        pass
    return kb


rc = 0
if wait_for(lambda: "ready" in marks or proc.poll() is not None, deadline) and "ready" in marks:
    mem = [rss()]
    if want > 0:
        wait_for(lambda: len(offers) >= want, deadline)
    time.sleep(max(0.0, marks["ready"] + 1.0 - time.monotonic()))
    mem.append(rss())
    for k in ("loaded", "ready"):
        print("RESULT %s_ms=%.1f" % (k, (marks[k] - t0) * 1000))
    if loaded_ms:
        print("RESULT load_work_ms=%s" % loaded_ms)
    if want > 0:
        with cond:
            got = list(offers)
        print("RESULT offers=%d" % len(got))
        if got:
            print("RESULT first_offer_ms=%.1f" % ((got[0] - t0) * 1000))
        if len(got) >= want:
            print("RESULT all_offers_ms=%.1f" % ((got[want - 1] - t0) * 1000))
    for k in ("VmRSS", "VmHWM"):
        print("RESULT %s_kib=%d" % (k.lower(), max(m.get(k, 0) for m in mem)))
else:
    print("start.py: carewatchd not ready in %.0f s (see %s)" % (timeout, log), file=sys.stderr)
    rc = 1
if proc.poll() is None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
reader.join(5)
sub.terminate()
sub.wait(5)
out.close()
sys.exit(rc)
