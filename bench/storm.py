#!/usr/bin/env python3
"""storm.py - one storm round for bench/storm.sh (SPEC section 9).

    storm.py CAREWATCHD CONF LOG MQ_PORT PREFIX PSQL_CONNINFO PSQL SOS_DEVICE DEV...

The daemon is down and its persistent session exists. Publishes 1,000
heartbeats from each of the devices DEV... (half of them), one SOS from
SOS_DEVICE, then the other half: all queued at the broker. Then starts
carewatchd and times, on this one clock: its broker connection
(event=mqtt_up in its log), the SOS's first offer (a subscriber on
{prefix}/dispatch/#), and the moment PostgreSQL holds every event. Prints
one JSON line; stops the daemon (SIGTERM). Every wait has a deadline.
"""
import json
import os
import subprocess
import sys
import time


def wait_for(what, pred, deadline_s, step=0.002):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise SystemExit("storm: timed out waiting for " + what)


def main():
    cwd, conf, log, port, prefix, conninfo, psql, sos_dev = sys.argv[1:9]
    devs = sys.argv[9:]
    per = 1000
    run = "%d" % int(time.time() * 1000)
    sos_id = "storm-sos-" + run

    def pub_lines(dev, n):
        lines = "".join('{"id":"hb-%s-%s-%d","type":"heartbeat"}\n' % (run, dev, i)
                        for i in range(n))
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-q", "1",
                        "-t", "%s/dev/%s/event" % (prefix, dev), "-l"],
                       input=lines.encode(), check=True, timeout=120)

    half = len(devs) // 2
    for d in devs[:half]:
        pub_lines(d, per)
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-q", "1",
                    "-t", "%s/dev/%s/event" % (prefix, sos_dev),
                    "-m", '{"id":"%s","type":"sos"}' % sos_id], check=True, timeout=30)
    for d in devs[half:]:
        pub_lines(d, per)
    total = per * len(devs) + 1

    # stdbuf: mosquitto_sub's output is a pipe, which stdio would buffer
    sub = subprocess.Popen(["stdbuf", "-oL", "mosquitto_sub", "-h", "127.0.0.1", "-p", port, "-q", "1",
                            "-t", "%s/dispatch/#" % prefix, "-v"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    os.set_blocking(sub.stdout.fileno(), False)
    time.sleep(0.3)  # the subscriber's own connection; nothing is sent yet
    logf = open(log, "ab")
    start = len(open(log, "rb").read())
    t0 = time.monotonic()
    d = subprocess.Popen([cwd, "-c", conf], stdout=logf, stderr=logf)
    got = {"up": None, "offer": None, "alarm": None, "opened": None}
    buf = b""

    def poll():
        nonlocal buf
        now = time.monotonic()
        if got["up"] is None or got["opened"] is None:
            with open(log, "rb") as f:
                f.seek(start)
                text = f.read()
            if got["up"] is None and b"event=mqtt_up" in text:
                got["up"] = now
            if got["alarm"] is None and sos_id.encode() in text:
                got["alarm"] = now
            if got["opened"] is None and b"event=offer " in text:
                got["opened"] = now
        try:
            chunk = sub.stdout.read()
        except BlockingIOError:
            chunk = None
        if chunk:
            buf += chunk
            if got["offer"] is None and sos_id.encode() in buf and b'"offer":1' in buf:
                got["offer"] = now
        return got["up"] is not None and got["offer"] is not None

    try:
        wait_for("the SOS's offer", poll, 60)
        def stored():
            out = subprocess.run([psql, "-X", "-A", "-t", "-q", conninfo, "-c",
                                  "SELECT count(*) FROM events WHERE event_id LIKE 'hb-%s-%%' OR event_id = '%s'" % (run, sos_id)],
                                 capture_output=True, text=True, timeout=30).stdout.strip()
            return out == str(total)
        wait_for("every event stored", stored, 120, step=0.02)
        t_all = time.monotonic()
        before = subprocess.run([psql, "-X", "-A", "-t", "-q", conninfo, "-c",
                                 "SELECT count(*) FROM events WHERE event_id LIKE 'hb-%s-%%' AND seq < "
                                 "(SELECT seq FROM events WHERE event_id = '%s')" % (run, sos_id)],
                                capture_output=True, text=True, timeout=30).stdout.strip()
    finally:
        d.terminate()
        try:
            d.wait(30)
        except subprocess.TimeoutExpired:
            d.kill()
        sub.kill()
    print(json.dumps({
        "events": total,
        "stored_before_sos": int(before or -1),
        "reconnect_to_offer_ms": round((got["offer"] - got["up"]) * 1000, 1),
        "start_to_offer_ms": round((got["offer"] - t0) * 1000, 1),
        "reconnect_to_alarm_logged_ms": round((got["alarm"] - got["up"]) * 1000, 1),
        "reconnect_to_offer_logged_ms": round((got["opened"] - got["up"]) * 1000, 1),
        "start_to_all_stored_ms": round((t_all - t0) * 1000, 1),
    }))


if __name__ == "__main__":
    main()
