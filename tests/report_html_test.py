#!/usr/bin/python3
"""report_html_test.py - the printable visit-rate page in headless Chromium.

Run by tests/report_html.sh, which renders the pages of the fixture county
(tests/lib/report_fixture.sh) and passes them through the environment:

  CW_JSON           `carewatch report visit-rate --month 2026-11 --format json`
  CW_HTML_ZH        the same as --format html (Chinese, the default)
  CW_HTML_EN        --format html --lang en
  CW_HTML_HOSTILE   --format html after a village and an elder were given
                    names made of markup
  CW_ARTIFACTS      where the PNGs and the PDF go
  CW_PROFILE        a fresh browser profile directory
  CW_CHROMIUM, CW_CHROMEDRIVER  the browser and its driver

Checks that the page asks for nothing over the network (Chromium's own
network log, the page's resource list, and its source), that every figure
on it is the JSON's (areas, categories, the not-visited list) and the
trend's hand-worked months, the header, English, escaping, and the print
layout: print media, A4 PDF with a sensible page count. Saves full-page
PNGs (zh, en) and the PDF.

Prints one line per check and, last, "scenarios: N passed, M failed".
"""

import base64
import datetime
import json
import os
import re
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

ENV = os.environ
ARTIFACTS = ENV["CW_ARTIFACTS"]

passed = 0
failed = 0


class Failed(Exception):
    pass


def check(name, fn):
    """Runs one check; a failure is counted and the run goes on."""
    global passed, failed
    t0 = time.monotonic()
    try:
        detail = fn()
    except Exception as e:  # noqa: BLE001 - any error fails the check, by name
        failed += 1
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print("FAIL: %s: %s" % (name, msg), flush=True)
        return
    passed += 1
    print("ok: %s (%.2f s)%s" % (name, time.monotonic() - t0,
                                 ": " + detail if detail else ""), flush=True)


def expect(cond, msg):
    if not cond:
        raise Failed(msg)


def expect_eq(want, got, what):
    if want != got:
        raise Failed("%s: expected %r, got %r" % (what, want, got))


def start_browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = ENV.get("CW_CHROMIUM", "/usr/bin/chromium")
    for a in ("--headless=new", "--window-size=1000,1200", "--disable-dev-shm-usage",
              "--disable-gpu", "--force-device-scale-factor=1", "--lang=zh-CN",
              "--no-first-run", "--disable-extensions", "--hide-scrollbars",
              "--user-data-dir=" + ENV["CW_PROFILE"]):
        opts.add_argument(a)
    if os.geteuid() == 0:
        opts.add_argument("--no-sandbox")
    # every request the page makes is in the performance log (CDP Network.*)
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    service = Service(executable_path=ENV.get("CW_CHROMEDRIVER", "/usr/bin/chromedriver"))
    d = webdriver.Chrome(service=service, options=opts)
    d.set_page_load_timeout(20)
    d.set_script_timeout(10)
    return d


def url_of(path):
    return "file://" + os.path.abspath(path)


def load(d, path):
    """Opens the page; returns the URLs it requested (the CDP log). The
    browser's own start page (chrome://new-tab-page, loaded when the
    browser starts) is no request of ours: its requests are left out by
    their document, nothing else is."""
    d.get("about:blank")
    d.get_log("performance")  # drop what came before
    d.get(url_of(path))
    urls = []
    for entry in d.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") != "Network.requestWillBeSent":
            continue
        if msg["params"].get("documentURL", "").startswith("chrome://new-tab-page"):
            continue
        urls.append(msg["params"]["request"]["url"])
    return urls


def pct(v):
    """A JSON rate as the page writes it: one decimal, or a dash."""
    return "\u2014" if v is None else "%.1f%%" % (float(v) * 100.0)


def cells(d, css):
    return [[td.text.strip() for td in tr.find_elements(By.TAG_NAME, "td")]
            for tr in d.find_elements(By.CSS_SELECTOR, css)]


def rate_cells(o):
    return [str(o["target"]), str(o["visited"]), pct(o["rate"]),
            str(o["target_consenting"]), str(o["visited_consenting"]),
            pct(o["rate_consenting"])]


# The twelve months of report_visit_trend worked out by hand (report_html.sh).
TREND = [("2025-12", 6, 0, "0.0%"), ("2026-01", 6, 0, "0.0%"), ("2026-02", 6, 0, "0.0%"),
         ("2026-03", 6, 0, "0.0%"), ("2026-04", 6, 0, "0.0%"), ("2026-05", 6, 0, "0.0%"),
         ("2026-06", 6, 0, "0.0%"), ("2026-07", 6, 0, "0.0%"), ("2026-08", 6, 0, "0.0%"),
         ("2026-09", 6, 0, "0.0%"), ("2026-10", 6, 1, "16.7%"), ("2026-11", 7, 4, "57.1%")]


def full_png(d, path):
    """A PNG of the whole page, not just the window (CDP)."""
    m = d.execute_cdp_cmd("Page.getLayoutMetrics", {})
    size = m.get("cssContentSize") or m["contentSize"]
    shot = d.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"],
                 "scale": 1}})
    with open(path, "wb") as f:
        f.write(base64.b64decode(shot["data"]))
    return "%s (%dx%d)" % (path, size["width"], size["height"])


def main():
    with open(ENV["CW_JSON"], encoding="utf-8") as f:
        doc = json.load(f)
    d = start_browser()
    try:
        run(d, doc)
    finally:
        d.quit()
    print("scenarios: %d passed, %d failed" % (passed, failed), flush=True)
    return 1 if failed else 0


def run(d, doc):
    zh, en, hostile = ENV["CW_HTML_ZH"], ENV["CW_HTML_EN"], ENV["CW_HTML_HOSTILE"]
    total = next(a for a in doc["areas"] if a["level"] == "total")

    def source_clean():
        for path in (zh, en, hostile):
            with open(path, encoding="utf-8") as f:
                src = f.read()
            for bad in ("http", "//", "url(", "data:", "@import", "src=", "href="):
                # the hostile page holds one as escaped text, never as markup
                n = src.count(bad)
                if path == hostile and bad == "src=":
                    n -= src.count("&lt;img src=")
                expect(n == 0, "%s in %s" % (bad, os.path.basename(path)))
            expect("1233" not in src and "id_number" not in src,
                   "an id number in " + os.path.basename(path))
        return "no http, //, url(, data:, src= or href= in the three pages; no id number"
    check("the source names no URL of any kind", source_clean)

    def no_requests():
        me = url_of(zh)
        urls = load(d, zh)
        expect(me in urls, "the log saw the page itself (%r): it works" % urls)
        others = [u for u in urls if u != me]
        expect(not others, "requests besides the file: %r" % others)
        res = d.execute_script("return performance.getEntriesByType('resource').length")
        expect_eq(0, res, "resource timing entries")
        return "1 request (the file), 0 resources"
    check("opening the page requests nothing but the file", no_requests)

    def header():
        expect_eq("zh-CN", d.find_element(By.TAG_NAME, "html").get_attribute("lang"), "lang")
        title = d.find_element(By.ID, "title").text
        expect(title.startswith("黎城县"), "the county in the title: " + title)
        expect_eq("2026年11月", d.find_element(By.ID, "month").text, "the month")
        expect_eq("黎城县", d.find_element(By.ID, "meta-area").text, "the area")
        expect_eq("2026-test", d.find_element(By.ID, "meta-rule").text, "rule version")
        expect_eq("Asia/Shanghai", d.find_element(By.ID, "meta-tz").text, "timezone")
        produced = d.find_element(By.ID, "meta-produced").text
        at = datetime.datetime.strptime(produced, "%Y-%m-%d %H:%M")
        now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) \
            + datetime.timedelta(hours=8)
        expect(abs((now - at).total_seconds()) < 180,
               "produced %s is not now in Shanghai (%s)" % (produced, now))
        expect_eq(pct(total["rate"]), d.find_element(By.ID, "sum-rate").text, "summary rate")
        expect_eq(pct(total["rate_consenting"]), d.find_element(By.ID, "sum-rate-c").text,
                  "summary rate without the declined")
        expect_eq(str(len(doc["not_visited"])), d.find_element(By.ID, "sum-missing").text,
                  "summary not visited")
        expect_eq("2", d.find_element(By.ID, "sum-declined").text, "summary declined (B1, B3)")
        return "%s; %s; produced %s (Shanghai)" % (title, d.find_element(By.ID, "month").text,
                                                  produced)
    check("the header: county, month, rule, zone, time produced, summary", header)

    def areas():
        rows = d.find_elements(By.CSS_SELECTOR, "table.areas tbody tr")
        expect_eq(len(doc["areas"]), len(rows), "area rows")
        for a, tr in zip(doc["areas"], rows):
            expect_eq(a["level"], tr.get_attribute("data-level"), "level")
            expect_eq(a["code"] or "", tr.get_attribute("data-code"), "code")
            tds = [td.text.strip() for td in tr.find_elements(By.TAG_NAME, "td")]
            name = "合计" if a["level"] == "total" else a["name"]
            expect_eq([name] + rate_cells(a), [tds[0]] + tds[2:], "row %s" % (a["code"],))
        # the chart: one bar per area but the total (one county: the same)
        bars = d.find_elements(By.CSS_SELECTOR, "section.areas svg rect")
        expect_eq(len(doc["areas"]) - 1, len(bars), "bars")
        vals = [t.text for t in d.find_elements(By.CSS_SELECTOR, "section.areas svg text.val")]
        expect_eq([pct(a["rate"]) for a in doc["areas"] if a["level"] != "total"], vals,
                  "bar values")
        widths = [float(b.get_attribute("width")) for b in bars]
        want = [450 * float(a["rate"]) for a in doc["areas"] if a["level"] != "total"]
        expect(all(abs(w - x) < 0.11 for w, x in zip(widths, want)),
               "bar lengths %r, not %r" % (widths, want))
        expect(d.find_elements(By.CSS_SELECTOR, "section.areas svg line.target"),
               "the 100 % target line")
        return "%d rows, %d bars: %s" % (len(rows), len(bars), " ".join(vals))
    check("rate by area: table and chart are the JSON's", areas)

    def categories():
        rows = d.find_elements(By.CSS_SELECTOR, "table.categories tbody tr")
        expect_eq([c["category"] for c in doc["categories"]],
                  [r.get_attribute("data-category") for r in rows], "categories")
        for c, tr in zip(doc["categories"], rows):
            tds = [td.text.strip() for td in tr.find_elements(By.TAG_NAME, "td")]
            expect_eq(rate_cells(c), tds[1:], c["category"])
        names = {r.get_attribute("data-category"): r.find_element(By.TAG_NAME, "td").text
                 for r in rows}
        expect_eq("特困人员", names["extreme_poverty"], "a category's name")
        expect_eq("80周岁及以上", names["age_80_plus"], "the derived age category")
        bars = d.find_elements(By.CSS_SELECTOR, "section.categories svg rect")
        expect_eq(len(doc["categories"]), len(bars), "category bars")
        return "%d categories" % len(rows)
    check("categories: table and chart are the JSON's", categories)

    def trend():
        got = []
        months = [c.text for c in d.find_elements(By.CSS_SELECTOR, "table.trend thead th")][1:]
        body = cells(d, "table.trend tbody tr")
        for i, m in enumerate(months):
            got.append((m, int(body[0][i]), int(body[1][i]), body[2][i]))
        expect_eq([(m[2:], t, v, r) for m, t, v, r in TREND], got, "the 12 months")
        expect_eq(pct(total["rate"]), body[2][-1], "the last month is the report's total")
        pts = d.find_elements(By.CSS_SELECTOR, "section.trend svg circle")
        expect_eq(12, len(pts), "12 points")
        expect(d.find_elements(By.CSS_SELECTOR, "section.trend svg polyline.trend"), "a line")
        return " ".join(r for _, _, _, r in got)
    check("the 12 months' trend, by hand", trend)

    def missing():
        rows = d.find_elements(By.CSS_SELECTOR, "table.missing tbody tr")
        expect_eq([e["elder_id"] for e in doc["not_visited"]],
                  [r.get_attribute("data-elder-id") for r in rows], "not-visited ids")
        want = [[str(i + 1), e["elder_id"], e["name"],
                 {"140426100000": "黎侯镇", "140426101000": "上遥镇"}[e["township"]],
                 e["village_name"], e["station_name"] or "\u2014",
                 e["last_visit"] or "无记录", "是" if e["consent"] else "否"]
                for i, e in enumerate(doc["not_visited"])]
        expect_eq(want, cells(d, "table.missing tbody tr"), "the list")
        return ", ".join(e["elder_id"] for e in doc["not_visited"])
    check("the not-visited list is the JSON's (no id number)", missing)

    def png_zh():
        return full_png(d, os.path.join(ARTIFACTS, "visit-rate-zh.png"))
    check("a full-page PNG (Chinese)", png_zh)

    def printed():
        d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
        try:
            st = d.execute_script(
                "const s = getComputedStyle(document.querySelector('.sheet'));"
                "const a = getComputedStyle(document.querySelector('.appendix'));"
                "const h = getComputedStyle(document.querySelector('table.areas thead'));"
                "return [s.paddingTop, s.boxShadow, a.breakBefore, h.display,"
                " document.querySelector('table.areas').getBoundingClientRect().width]")
        finally:
            d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
        expect_eq(["0px", "none", "page", "table-header-group"], st[:4], "print styles")
        expect(st[4] > 500, "the table collapsed in print: %r px" % st[4])
        pdf = base64.b64decode(d.execute_cdp_cmd("Page.printToPDF", {
            "preferCSSPageSize": True, "printBackground": True})["data"])
        path = os.path.join(ARTIFACTS, "visit-rate-zh.pdf")
        with open(path, "wb") as f:
            f.write(pdf)
        pages = len(re.findall(rb"/Type\s*/Page(?![a-z])", pdf))
        boxes = re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf)
        expect(boxes, "no page size in the PDF")
        w, h = float(boxes[0][0]), float(boxes[0][1])
        # A4 is 595.3 x 841.9 pt
        expect(abs(w - 595.3) < 2 and abs(h - 841.9) < 2, "page %g x %g pt, not A4" % (w, h))
        # the report (header, areas, categories, trend, signatures) on two
        # pages, the list of the not visited on its own
        expect(2 <= pages <= 4, "%d pages" % pages)
        return "%d A4 pages, %s" % (pages, path)
    check("print: A4 styles, the PDF's page size and count", printed)

    def english():
        urls = load(d, en)
        expect_eq([url_of(en)], urls, "requests")
        expect_eq("en", d.find_element(By.TAG_NAME, "html").get_attribute("lang"), "lang")
        title = d.find_element(By.ID, "title").text
        expect(title.startswith("Monthly visit rate report") and "黎城县" in title, title)
        expect_eq("November 2026", d.find_element(By.ID, "month").text, "month")
        rows = cells(d, "table.areas tbody tr")
        expect_eq(["Total", "Total"] + rate_cells(total), rows[-1], "the total row")
        cats = {r.get_attribute("data-category"): r.find_element(By.TAG_NAME, "td").text
                for r in d.find_elements(By.CSS_SELECTOR, "table.categories tbody tr")}
        expect_eq("Aged 80 or over", cats["age_80_plus"], "age category")
        expect_eq(["yes", "no", "yes"],
                  [r[-1] for r in cells(d, "table.missing tbody tr")], "consent")
        expect("的" not in d.find_element(By.TAG_NAME, "body").text.replace("黎城县", ""),
               "Chinese prose on the English page")
        full_png(d, os.path.join(ARTIFACTS, "visit-rate-en.png"))
        return title
    check("--lang en: English labels, the same figures", english)

    def escaped():
        load(d, hostile)
        n = d.execute_script("return document.querySelectorAll('script, img').length")
        expect_eq(0, n, "script or img elements")
        names = [r[2] for r in cells(d, "table.missing tbody tr")]
        expect("<img src=x onerror=alert(2)>&amp;\"'" in names, "the name as text: %r" % names)
        ids = [r.get_attribute("data-elder-id")
               for r in d.find_elements(By.CSS_SELECTOR, "table.missing tbody tr")]
        expect('X"1' in ids, "the id in its attribute: %r" % ids)
        areas = [r[0] for r in cells(d, "table.areas tbody tr")]
        expect("南村<script>alert(1)</script>" in areas, "the village as text: %r" % areas)
        return "markup in a village's and an elder's name shown as text"
    check("names from the database are escaped", escaped)


if __name__ == "__main__":
    sys.exit(main())
