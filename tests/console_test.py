#!/usr/bin/python3
"""console_test.py - the operator console (GET /) in headless Chromium.

Run by tests/console.sh, which starts PostgreSQL, mosquitto and carewatchd
with the sample county and an operator op1, and passes everything through
the environment:

  CW_URL            the console, http://127.0.0.1:PORT/
  CW_TOKEN          op1's token (carewatch user add)
  CW_MQ_PORT        the broker's port; CW_TOPIC_PREFIX the daemon's prefix
  CW_SAMPLE         the sample county's CSV directory (sql/sample)
  CW_CLI, CW_CONF   the carewatch command and the daemon's configuration
  CW_DAEMON_BIN     carewatchd; CW_DAEMON_PIDFILE holds the running pid and
                    CW_DAEMON_LOG its log (the test stops and restarts it)
  CW_ARTIFACTS      where the screenshots go
  CW_CHROMIUM, CW_CHROMEDRIVER  the browser and its driver

As a night-shift operator would: signs in with the token, sees an SOS
published over MQTT appear (timed: at most 2 s), opens it, acknowledges it
with a note, offers it by hand to another responder, resolves it as a false
alarm, and checks all of it through `carewatch incident ID --format json`.
Then stops the daemon and sees the red "disconnected" banner, and starts it
again and sees the banner go. Every wait is a WebDriverWait (or a polled
condition) with a deadline; nothing sleeps in place of synchronisation.

Prints one line per check and, last, "scenarios: N passed, M failed".
"""

import csv
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import (NoSuchElementException,
                                        StaleElementReferenceException, TimeoutException)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

ENV = os.environ
URL = ENV["CW_URL"]
ARTIFACTS = ENV["CW_ARTIFACTS"]
ROW_BUDGET_S = 2.0  # the SOS must be on screen within this of its publish

passed = 0
failed = 0


class Failed(Exception):
    pass


def note(msg):
    print("    " + msg, flush=True)


def check(name, fn):
    """Runs one check; a failure ends the run (later checks build on it)."""
    global passed, failed
    t0 = time.monotonic()
    try:
        detail = fn()
    except Exception as e:  # noqa: BLE001 - any error fails the check, by name
        failed += 1
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print("FAIL: %s: %s" % (name, msg), flush=True)
        raise Failed(name)
    passed += 1
    print("ok: %s (%.2f s)%s" % (name, time.monotonic() - t0,
                                 ": " + detail if detail else ""), flush=True)


def expect(cond, msg):
    if not cond:
        raise Failed(msg)


def wait(driver, secs, what, cond, poll=0.05):
    """Waits up to secs for cond(driver) to be truthy; returns its value. The
    page redraws what it shows at every change, so an element found may be
    gone a moment later: that is a retry, not a failure."""
    try:
        return WebDriverWait(driver, secs, poll_frequency=poll, ignored_exceptions=(
            NoSuchElementException, StaleElementReferenceException)).until(cond)
    except TimeoutException:
        raise Failed("timed out after %g s waiting for %s" % (secs, what))


def until(secs, what, cond, poll=0.1):
    """The same for conditions outside the browser."""
    deadline = time.monotonic() + secs
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise Failed("timed out after %g s waiting for %s" % (secs, what))
        time.sleep(poll)


# --- the county: the SOS button and its elder --------------------------------

def sample_sos():
    with open(os.path.join(ENV["CW_SAMPLE"], "devices.csv"), encoding="utf-8") as f:
        dev = next(r for r in csv.DictReader(f) if r["kind"] == "sos_button")
    with open(os.path.join(ENV["CW_SAMPLE"], "elders.csv"), encoding="utf-8") as f:
        elder = next(r for r in csv.DictReader(f) if r["id"] == dev["elder_id"])
    return dev["id"], elder


# --- the browser -------------------------------------------------------------

def start_browser(profile):
    opts = webdriver.ChromeOptions()
    opts.binary_location = ENV.get("CW_CHROMIUM", "/usr/bin/chromium")
    for a in ("--headless=new", "--window-size=1366,900", "--disable-dev-shm-usage",
              "--disable-gpu", "--force-device-scale-factor=1", "--lang=zh-CN",
              "--no-first-run", "--disable-extensions",
              # sound may start without a click (there is one anyway: sign-in)
              "--autoplay-policy=no-user-gesture-required",
              "--user-data-dir=" + profile):
        opts.add_argument(a)
    if os.geteuid() == 0:
        opts.add_argument("--no-sandbox")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=ENV.get("CW_CHROMEDRIVER", "/usr/bin/chromedriver"))
    d = webdriver.Chrome(service=service, options=opts)
    d.set_page_load_timeout(20)
    d.set_script_timeout(10)
    return d


def by_id(d, i):
    return d.find_element(By.ID, i)


# Read in one script call, so that a redraw in between cannot make them stale.
def text(d, i):
    return d.execute_script("var e = document.getElementById(arguments[0]);"
                            " return e ? e.innerText : null", i)


def attr(d, selector, name):
    return d.execute_script("var e = document.querySelector(arguments[0]);"
                            " return e ? e.getAttribute(arguments[1]) : null", selector, name)


def visible(d, i):
    return bool(d.execute_script("var e = document.getElementById(arguments[0]);"
                                 " return !!e && e.getClientRects().length > 0"
                                 " && getComputedStyle(e).visibility !== 'hidden'", i))


def row(d, inc):
    els = d.find_elements(By.CSS_SELECTOR, 'tr[data-incident-id="%s"]' % inc)
    return els[0] if els else None


def row_ids(d):
    return d.execute_script("return Array.from(document.querySelectorAll("
                            "'tr[data-incident-id]'), e => e.dataset.incidentId)")


def click_row(d, inc):
    wait(d, 5, "row %s to click" % inc, lambda d: row(d, inc).click() or True)


def row_attr(d, inc, name):
    return attr(d, 'tr[data-incident-id="%s"]' % inc, name)


def screenshot(d, name):
    path = os.path.join(ARTIFACTS, name)
    expect(d.save_screenshot(path), "screenshot " + path)
    return path


# --- the daemon --------------------------------------------------------------

def daemon_pid():
    with open(ENV["CW_DAEMON_PIDFILE"]) as f:
        return int(f.read().strip())


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def daemon_stop():
    pid = daemon_pid()
    os.kill(pid, signal.SIGTERM)
    until(20, "carewatchd %d to stop after SIGTERM" % pid, lambda: not alive(pid))


def daemon_start():
    log = open(ENV["CW_DAEMON_LOG"], "ab")
    p = subprocess.Popen([ENV["CW_DAEMON_BIN"], "-c", ENV["CW_CONF"]], stdout=log,
                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True)
    log.close()
    with open(ENV["CW_DAEMON_PIDFILE"], "w") as f:
        f.write("%d\n" % p.pid)
    return p


def cli_incident(inc):
    out = subprocess.run([ENV["CW_CLI"], "-c", ENV["CW_CONF"], "incident", str(inc),
                          "--format", "json"], capture_output=True, text=True, timeout=30)
    expect(out.returncode == 0, "carewatch incident %s: %s" % (inc, out.stderr.strip()))
    return json.loads(out.stdout)


# --- the run -----------------------------------------------------------------

def main():
    os.makedirs(ARTIFACTS, exist_ok=True)
    device, elder = sample_sos()
    profile = tempfile.mkdtemp(prefix="cw-chromium.")
    d = start_browser(profile)
    shots = []
    state = {}
    try:
        run(d, device, elder, shots, state)
    except Failed:
        try:
            shots.append(screenshot(d, "console-failure.png"))
        except Exception:
            pass
        dump_logs(d)
    finally:
        try:
            # uncaught script errors and CSP refusals fail the run even when
            # every check passed: the page must run clean under the CSP
            bad = [e for e in browser_log(d) if e.get("source") in ("javascript", "security")]
            if bad:
                global failed
                failed += 1
                print("FAIL: the page logged script or CSP errors:")
                for e in bad:
                    print("    " + e.get("message", "")[:300])
        finally:
            d.quit()
            subprocess.run(["rm", "-rf", profile], check=False)
    for s in shots:
        print("screenshot: " + s)
    if "row_ms" in state:
        print("SOS publish to row on screen: %d ms (budget %d ms)"
              % (state["row_ms"], ROW_BUDGET_S * 1000))
    print()
    print("scenarios: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


LOGS = []


def browser_log(d):
    try:
        LOGS.extend(d.get_log("browser"))
    except Exception:
        pass
    return LOGS


def dump_logs(d):
    for e in browser_log(d)[-30:]:
        print("    browser: %s %s" % (e.get("level"), e.get("message", "")[:300]))


def run(d, device, elder, shots, state):
    token = ENV["CW_TOKEN"]
    prefix = ENV["CW_TOPIC_PREFIX"]

    def served_as_promised():
        with urllib.request.urlopen(URL, timeout=10) as r:
            ctype = r.headers.get("Content-Type", "")
            csp = r.headers.get("Content-Security-Policy", "")
            body = r.read()
        expect(re.match(r"text/html;\s*charset=utf-8", ctype, re.I), "Content-Type: " + ctype)
        for want in ("default-src 'self'", "connect-src 'self'", "script-src 'self' 'unsafe-inline'"):
            expect(want in csp, "CSP lacks %s: %s" % (want, csp))
        expect(b"console_html" not in body and body.startswith(b"<!DOCTYPE html>"), "the page")
        # nothing on the page comes from anywhere else
        expect(not re.search(rb"https?://|(src|href)\s*=\s*\"(?!data:)", body), "an external URL")
        return "%d bytes, %s" % (len(body), ctype)
    check("GET / serves the page as text/html under the CSP", served_as_promised)

    def login_page():
        d.get(URL)
        wait(d, 10, "the login form", lambda d: visible(d, "login-token"))
        expect(d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN", "lang zh-CN")
        expect(text(d, "login-btn") == "登录", "Chinese by default")
    check("the login form, in Chinese", login_page)

    def bad_token():
        by_id(d, "login-token").send_keys("not-a-token")
        by_id(d, "login-btn").click()
        wait(d, 5, "the refusal", lambda d: "令牌无效" in text(d, "login-error"))
        expect(visible(d, "login-token"), "still on the login form")
        return text(d, "login-error")
    check("a wrong token is refused on the form", bad_token)

    def sign_in():
        by_id(d, "login-token").clear()
        by_id(d, "login-token").send_keys(token)
        by_id(d, "login-btn").click()
        wait(d, 5, "the console", lambda d: visible(d, "incident-table"))
        who = wait(d, 5, "the user's name", lambda d: text(d, "user-info"))
        expect("op1" in who and "值班员" in who, "user info: " + who)
        # the live stream is up before anything is published: the row must
        # arrive through it, not by chance of the poll
        wait(d, 5, "the live stream", lambda d: "up" in by_id(d, "live-state").get_attribute("class"))
        expect(not visible(d, "disconnected-banner"), "no disconnected banner")
        stored = d.execute_script("return [sessionStorage.getItem('carewatch.token'),"
                                  " localStorage.getItem('carewatch.token')]")
        expect(stored == [token, None], "the token in sessionStorage only")
        return who
    check("sign in with op1's token: name, role, area; live stream up", sign_in)

    before = set(row_ids(d))

    def sos_row():
        payload = json.dumps({"id": "console-%d" % time.time_ns(), "type": "sos"})
        t0 = time.monotonic()
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", ENV["CW_MQ_PORT"], "-q", "1",
                        "-t", "%s/dev/%s/event" % (prefix, device), "-m", payload],
                       check=True, timeout=10)

        def new_row(d):
            return next((i for i in row_ids(d) if i not in before), None)
        state["inc"] = wait(d, 10, "the SOS row", new_row, poll=0.02)
        ms = (time.monotonic() - t0) * 1000
        state["row_ms"] = ms
        expect(ms <= ROW_BUDGET_S * 1000, "the row took %d ms" % ms)
        return "incident %s after %d ms" % (state["inc"], ms)
    check("an SOS over MQTT is on screen within %g s" % ROW_BUDGET_S, sos_row)
    inc = state["inc"]

    def p1_alert():
        expect(row_attr(d, inc, "data-priority") == "1", "priority 1")
        expect("flash" in row_attr(d, inc, "class"), "the row flashes")
        wait(d, 3, "the elder's name in the row", lambda d: elder["name"] in d.execute_script(
            "return document.querySelector(arguments[0]).innerText",
            'tr[data-incident-id="%s"]' % inc))
        wait(d, 3, "the alert banner", lambda d: visible(d, "p1-alert")
             and elder["name"] in text(d, "p1-alert"))
        beeps = wait(d, 3, "the sound", lambda d: int(
            d.find_element(By.TAG_NAME, "body").get_attribute("data-beeps") or 0))
        return "banner, flashing row, %d beep(s)" % beeps
    check("a new priority-1 incident: banner, flashing row, sound", p1_alert)

    def detail():
        click_row(d, inc)
        wait(d, 5, "the detail", lambda d: d.find_elements(By.ID, "detail-state"))
        wait(d, 5, "the elder's name", lambda d: text(d, "detail-elder-name") == elder["name"])
        page = d.execute_script("return document.body.innerText")
        idn = elder["id_number"]
        expect(idn not in page, "the full id number is on the page")
        masked = [t for t in d.execute_script(
            "return Array.from(document.querySelectorAll('#detail-elder dd'), e => e.innerText)")
            if re.fullmatch(r"\d{4}\*+\d{3}[\dX]", t)]
        expect(masked and masked[0][:4] == idn[:4] and masked[0][-4:] == idn[-4:],
               "the masked id number")
        expect(elder["phone"] in text(d, "detail-elder"), "the elder's phone")
        wait(d, 5, "responders on the map",
             lambda d: d.find_elements(By.CSS_SELECTOR, "#map g[data-responder-id]"))
        wait(d, 5, "the first offer", lambda d: d.find_elements(
            By.CSS_SELECTOR, "#detail-offers tr[data-offer]"))
        n = len(d.find_elements(By.CSS_SELECTOR, "#map g[data-responder-id]"))
        return "masked %s, %d responders on the map" % (masked[0], n)
    check("the detail: elder, masked id number, phone, offers, map", detail)

    def screenshots():
        shots.append(screenshot(d, "console-zh-CN.png"))
        by_id(d, "lang-toggle").click()
        wait(d, 3, "English", lambda d: d.find_element(By.TAG_NAME, "html")
             .get_attribute("lang") == "en" and text(d, "btn-ack") == "Ack")
        # the language is remembered, and a reload keeps the session
        d.refresh()
        wait(d, 10, "the console after a reload", lambda d: row(d, inc) is not None)
        expect(d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en", "still English")
        expect(not visible(d, "login-token"), "still signed in")
        click_row(d, inc)
        wait(d, 5, "the detail", lambda d: text(d, "detail-elder-name") == elder["name"])
        wait(d, 5, "the map", lambda d: d.find_elements(By.CSS_SELECTOR, "#map g[data-responder-id]"))
        shots.append(screenshot(d, "console-en.png"))
        by_id(d, "lang-toggle").click()
        wait(d, 3, "Chinese", lambda d: d.find_element(By.TAG_NAME, "html")
             .get_attribute("lang") == "zh-CN" and text(d, "btn-ack") == "确认")
        return ", ".join(shots)
    check("screenshots in Chinese and English; language and session survive a reload", screenshots)

    def ack():
        by_id(d, "btn-ack").click()
        wait(d, 3, "the note field", lambda d: visible(d, "ack-note"))
        by_id(d, "ack-note").send_keys("已电话联系老人，无应答，已通知邻居")
        by_id(d, "btn-ack-submit").click()
        wait(d, 10, "the acknowledgement", lambda d: visible(d, "action-error")
             or attr(d, "#detail-ack", "data-acked") == "true")
        expect(not visible(d, "action-error"), "refused: %s" % text(d, "action-error"))
        wait(d, 5, "the row's mark", lambda d: row_attr(d, inc, "data-acked") == "true")
        expect("op1" in text(d, "detail-ack"), "acked by op1: " + text(d, "detail-ack"))
        wait(d, 3, "the alert to end", lambda d: not visible(d, "p1-alert"))
        wait(d, 3, "the row to stop flashing", lambda d: "flash" not in row_attr(d, inc, "class"))
        return text(d, "detail-ack")
    check("确认 with a note: acked by op1, the alert ends", ack)

    def refused_inline():
        # Two operators press 确认 at once: the slower one's page still
        # offered the button. Emulated by enabling it again on this page.
        d.execute_script("document.getElementById('btn-ack').disabled = false;")
        by_id(d, "btn-ack").click()
        wait(d, 3, "the note field", lambda d: visible(d, "ack-note"))
        by_id(d, "ack-note").send_keys("第二次确认")
        by_id(d, "btn-ack-submit").click()
        wait(d, 10, "the refusal", lambda d: visible(d, "action-error"))
        msg = text(d, "action-error")
        expect("409" in msg and "op1" in msg, "the daemon's error shown: " + msg)
        wait(d, 5, "确认 disabled again", lambda d: attr(d, "#btn-ack", "disabled") is not None)
        return msg
    check("a refused action (409) shows the daemon's {\"error\"} inline", refused_inline)

    def dispatch():
        by_id(d, "btn-dispatch").click()
        wait(d, 3, "the responder picker", lambda d: visible(d, "dispatch-picker"))
        free = d.execute_script(
            "return Array.from(document.querySelectorAll('#dispatch-picker label[data-available=yes]'),"
            " e => e.dataset.responderId)")
        expect(free, "an available responder in the picker")
        pick = free[-1]
        wait(d, 3, "the pick", lambda d: d.find_element(
            By.CSS_SELECTOR, '#dispatch-picker input[value="%s"]' % pick).click() or True)
        by_id(d, "btn-dispatch-submit").click()
        wait(d, 10, "the manual offer", lambda d: visible(d, "action-ok") or visible(d, "action-error"))
        expect(not visible(d, "action-error"), "refused: %s" % text(d, "action-error"))
        wait(d, 10, "the offer in the detail", lambda d: d.find_elements(
            By.CSS_SELECTOR, '#detail-offers tr[data-responder-id="%s"]' % pick))
        state["manual"] = pick
        return "offered to %s" % pick
    check("手动派单 from the picker: a manual offer", dispatch)

    def resolve():
        by_id(d, "btn-resolve").click()
        wait(d, 3, "the outcome select", lambda d: visible(d, "resolve-outcome"))
        labels = [o.text for o in Select(by_id(d, "resolve-outcome")).options if o.get_attribute("value")]
        expect(len(labels) == 6, "six outcomes: %s" % labels)
        # without an outcome: refused on the spot, nothing sent
        by_id(d, "btn-resolve-submit").click()
        wait(d, 3, "the inline error", lambda d: visible(d, "action-error"))
        Select(by_id(d, "resolve-outcome")).select_by_value("false_alarm")
        by_id(d, "resolve-note").send_keys("老人误按")
        by_id(d, "btn-resolve-submit").click()
        wait(d, 10, "resolved", lambda d: visible(d, "action-error")
             or attr(d, "#detail-state", "data-state") == "resolved")
        expect(not visible(d, "action-error"), "refused: %s" % text(d, "action-error"))
        wait(d, 5, "the row to leave the open list", lambda d: row(d, inc) is None)
        expect(attr(d, "#btn-resolve", "disabled") is not None, "no actions on a resolved incident")
        return text(d, "detail-state")
    check("处置完成 as 误报 (false_alarm): resolved, off the open list", resolve)

    def cli():
        j = cli_incident(inc)
        ack = j.get("ack") or {}
        expect(j.get("state") == "resolved", "state %s" % j.get("state"))
        expect(j.get("outcome") == "false_alarm", "outcome %s" % j.get("outcome"))
        expect(ack.get("by") == "op1", "ack by %s" % ack.get("by"))
        expect("无应答" in (ack.get("note") or ""), "ack note %r" % ack.get("note"))
        offers = j.get("offers") or []
        expect(any(o.get("responder") == state["manual"] for o in offers),
               "the manual offer to %s" % state["manual"])
        return "state resolved, outcome false_alarm, ack by op1 at %s" % ack.get("at")
    check("carewatch incident %s --format json agrees" % inc, cli)

    def disconnected():
        daemon_stop()
        t0 = time.monotonic()
        wait(d, 8, "the disconnected banner", lambda d: visible(d, "disconnected-banner"))
        ms = (time.monotonic() - t0) * 1000
        banner = text(d, "disconnected-banner")
        expect("连接中断" in banner, "the banner says 连接中断: " + banner)
        return "after %d ms: %s" % (ms, " ".join(banner.split()))
    check("carewatchd stopped: the red 连接中断 banner", disconnected)

    def reconnected():
        daemon_start()
        t0 = time.monotonic()
        # the stream retries with a backoff of at most 15 s
        wait(d, 40, "the banner to go", lambda d: not visible(d, "disconnected-banner")
             and "up" in by_id(d, "live-state").get_attribute("class"), poll=0.2)
        return "after %.1f s" % (time.monotonic() - t0)
    check("carewatchd back: the banner goes, the stream is up again", reconnected)

    def logout():
        by_id(d, "logout-btn").click()
        wait(d, 3, "the login form", lambda d: visible(d, "login-token"))
        expect(d.execute_script("return sessionStorage.getItem('carewatch.token')") is None,
               "the token forgotten")
    check("退出 forgets the token", logout)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failed:
        sys.exit(1)
