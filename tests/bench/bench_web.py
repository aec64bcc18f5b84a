#!/usr/bin/env python3
"""The web app's API latency on a seeded community (about 20,000 records):
median and 95th percentile of the list, search, record, status and report
calls, over keep-alive HTTP on loopback, as the app's pages make them; and
the time to first render of the residents page in Debian's chromium
(navigation start to the first row visible; tests/browser/first_render.mjs,
playwright-core from tests/browser/node_modules, installed by its run.sh).

    python3 tests/bench/bench_web.py [--build build-bench] [--rounds 200]
        [--render-rounds 30]
"""
import argparse
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
import urllib.parse


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--households", type=int, default=5235)
    ap.add_argument("--render-rounds", type=int, default=30)
    a = ap.parse_args()
    gs = os.path.join(a.build, "cli", "gridsync")
    root = tempfile.mkdtemp(prefix="gs-bench-web-")
    d = os.path.join(root, "office")
    try:
        def run(*args):
            subprocess.run([gs, "--dir", d] + list(args), check=True,
                           capture_output=True)
        run("init", "--name", "office")
        run("network", "create", "bench")
        run("demo", "seed", "--seed", "1", "--households", str(a.households),
            "--until", "2026-11-30")
        st = json.loads(subprocess.run([gs, "--dir", d, "--json", "status"],
                                       check=True, capture_output=True,
                                       text=True).stdout)
        proc = subprocess.Popen([gs, "--dir", d, "serve", "--listen",
                                 "127.0.0.1:0", "--ui", "127.0.0.1:0"],
                                stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        proc.stdout.readline()
        app = proc.stdout.readline()
        port = int(app.split("http://127.0.0.1:")[1].split("/")[0])
        host = "127.0.0.1:%d" % port
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

        def get(path):
            c.request("GET", path, headers={"Host": host})
            r = c.getresponse()
            body = r.read()
            assert r.status == 200, (path, r.status, body[:200])
            return body

        first = json.loads(get("/api/records/resident?limit=1"))
        rid = first["items"][0]["id"]
        calls = [
            ("list residents (50)", "/api/records/resident?limit=50"),
            ("list residents, page 40", "/api/records/resident?limit=50&offset=2000"),
            ("search by name (王)", "/api/records/resident?q=" +
             urllib.parse.quote("王") + "&limit=100"),
            ("search by phone", "/api/records/resident?q=139&limit=100"),
            ("open appeals", "/api/records/appeal?where=status=open&limit=500"),
            ("one record", "/api/records/resident/" + rid),
            ("status", "/api/status"),
            ("report", "/api/report"),
        ]
        print("web API on %d records (%d rounds each, keep-alive, loopback)"
              % (st["records_total"], a.rounds))
        print("%-28s %10s %10s %10s" % ("call", "median ms", "p95 ms", "bytes"))
        for name, path in calls:
            times = []
            size = 0
            for _ in range(a.rounds):
                t0 = time.perf_counter()
                size = len(get(path))
                times.append((time.perf_counter() - t0) * 1000)
            times.sort()
            p95 = times[int(0.95 * (len(times) - 1))]
            print("%-28s %10.2f %10.2f %10d" % (name, statistics.median(times),
                                                p95, size))
        c.close()
        first_render("http://%s/" % host, a.render_rounds)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def first_render(url, rounds):
    """The residents page in chromium: navigation start to the first row."""
    here = os.path.dirname(os.path.abspath(__file__))
    browser_dir = os.path.join(here, "..", "browser")
    chromium = os.environ.get("GS_CHROMIUM", "/usr/bin/chromium")
    if (not shutil.which("node") or not os.path.exists(chromium) or
            not os.path.isdir(os.path.join(browser_dir, "node_modules",
                                           "playwright-core"))):
        print("first render: skipped (needs node, %s and playwright-core: "
              "run tests/browser/run.sh once)" % chromium)
        return
    r = subprocess.run(["node", os.path.join(browser_dir, "first_render.mjs"),
                        url, str(rounds)], capture_output=True, text=True,
                       timeout=600)
    if r.returncode != 0:
        print("first render: failed: " + r.stderr[-400:])
        return
    ms = sorted(json.loads(r.stdout.strip().splitlines()[-1])["ms"])
    p95 = ms[int(0.95 * (len(ms) - 1))]
    print("%-28s %10.1f %10.1f   (chromium, %d loads, 1366x768)"
          % ("residents page first row", statistics.median(ms), p95,
             len(ms)))


if __name__ == "__main__":
    main()
