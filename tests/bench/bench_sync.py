#!/usr/bin/env python3
"""Sync benchmark: real gridsync processes on loopback.

  1. cold sync of N resident-like records (default 100,000) from one node
     to an empty one: seconds, records/s, bytes on the wire per record;
  2. live latency: a put on one node until the record is readable on a
     live-connected peer (median and worst of 20);
  3. for scale: the same bytes through a bare loopback TCP socket.

    GRIDSYNC=build-rel/cli/gridsync python3 tests/bench/bench_sync.py [N]

The cold sync alone (issue 20's row), repeated, with each side's CPU:

    bench_sync.py --cold N [--runs 3] [--gs BUILD/cli/gridsync ...]
                  [--keep DIR] [--perf DIR] [--strace]

loads N residents once (the input generated into a file before any
clock), keeps the loaded sender and the empty joined receiver as
templates, then for each run and each gridsync given (alternating) copies
both, serves the receiver, times `gridsync sync` from the sender, and
prints the wall seconds, the CPU seconds of the sender (wait4) and of the
receiver (/proc/PID/stat), and with --strace the receiver's fsyncs, with
--perf a perf record -g of each side.
"""
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

GS = os.environ.get("GRIDSYNC", "build/cli/gridsync")
# perf record: call graphs by DWARF (release builds keep no frame pointers)
PERF_OPTS = os.environ.get("PERF_OPTS", "-F 250 --call-graph dwarf,16384").split()


def gs(d, *args, input=None):
    p = subprocess.run([GS, "--dir", d] + list(args), capture_output=True,
                       text=True, input=input)
    if p.returncode:
        raise SystemExit("gridsync %s: %s" % (" ".join(args), p.stderr))
    return p.stdout


def serve(d, *peers):
    argv = [GS, "--dir", d, "serve", "--listen", "127.0.0.1:0"]
    for p in peers:
        argv += ["--peer", p]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=open(d + ".log", "w"),
                         text=True)
    line = p.stdout.readline()
    return p, line.split()[2]


def bare_tcp(nbytes):
    """Seconds to push nbytes through a loopback socket."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]

    def sink():
        c, _ = srv.accept()
        while c.recv(1 << 20):
            pass
        c.close()
    t = threading.Thread(target=sink)
    t.start()
    c = socket.create_connection(("127.0.0.1", port))
    chunk = b"x" * (1 << 20)
    t0 = time.time()
    left = nbytes
    while left > 0:
        c.sendall(chunk[:min(left, len(chunk))])
        left -= len(chunk)
    c.close()
    t.join()
    srv.close()
    return time.time() - t0


def main():
    N = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
    root = tempfile.mkdtemp(prefix="gs-bench-")
    a, b = os.path.join(root, "a"), os.path.join(root, "b")
    try:
        gs(a, "init")
        gs(b, "init")
        gs(a, "network", "create", "bench")
        code = gs(a, "invite", "--role", "office", "--scope", "s").strip()
        gs(b, "join", code)
        lines = "".join(json.dumps({
            "name": "居民%d" % i, "gender": "女" if i % 2 else "男",
            "birth_year": 1930 + i % 80, "phone": "139%08d" % i,
            "building": str(1 + i % 19), "unit": str(1 + i % 3),
            "room": str(101 + i % 600),
            "note": "第%d户，独居老人，每周三上门探访。" % i,
            "tags": ["elderly"] if i % 3 else ["lives-alone"],
        }, ensure_ascii=False) + "\n" for i in range(N))
        t0 = time.time()
        gs(a, "load", "resident", "--scope", "s/c/g01", "-", input=lines)
        load_s = time.time() - t0

        pb, addr_b = serve(b)
        t0 = time.time()
        out = json.loads(gs(a, "--json", "sync", addr_b))
        cold_s = time.time() - t0
        wire = out["bytes_sent"] + out["bytes_received"]
        held = json.loads(gs(b, "--json", "status", "--scope",
                             "s/c/g01"))["records"]  # not membership
        assert held == N, "b holds %d of %d" % (held, N)

        # live latency: a serves with b as its peer; puts on a
        pa, addr_a = serve(a, addr_b)
        time.sleep(1.0)
        lat = []
        for i in range(20):
            rid = gs(a, "put", "resident", "--scope", "s/c/g01",
                     "name=实时%d" % i).strip()
            t0 = time.time()
            while subprocess.run([GS, "--dir", b, "get", "resident", rid],
                                 capture_output=True).returncode != 0:
                if time.time() - t0 > 10:
                    raise SystemExit("record not visible after 10 s")
                time.sleep(0.005)
            lat.append(time.time() - t0)
        for p in (pa, pb):
            p.terminate()
            p.wait()
        tcp_s = bare_tcp(wire)

        print("gridsync sync benchmark (%d records)" % N)
        print("%-40s %12s" % ("workload", "figure"))
        print("%-40s %10.0f/s" % ("bulk load (load, one transaction)", N / load_s))
        print("%-40s %10.2f s" % ("cold sync, both ways", cold_s))
        print("%-40s %10.0f/s" % ("cold sync records", N / cold_s))
        print("%-40s %10.0f B" % ("bytes on the wire per record", wire / N))
        print("%-40s %10.2f s  (gridsync is %.0fx slower)" % (
            "bare loopback TCP, same bytes", tcp_s, cold_s / max(tcp_s, 1e-9)))
        print("%-40s %10.0f ms (worst %.0f ms, includes a CLI get per poll)" % (
            "live put -> readable on the peer, median",
            statistics.median(lat) * 1000, max(lat) * 1000))
    finally:
        if os.environ.get("KEEP"):
            print("kept", root)
        else:
            shutil.rmtree(root, ignore_errors=True)


def cpu_s(pid):
    """User + system CPU seconds of a live process so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cold_templates(gs_bin, n, root):
    """A loaded sender and an empty joined receiver under root."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_all import write_residents
    a, b = os.path.join(root, "a"), os.path.join(root, "b")

    def cmd(d, *args):
        subprocess.run([gs_bin, "--dir", d] + list(args), check=True,
                       capture_output=True)
    cmd(a, "init")
    cmd(b, "init")
    cmd(a, "network", "create", "bench")
    code = subprocess.run([gs_bin, "--dir", a, "invite", "--role", "office",
                           "--scope", "s"], check=True, capture_output=True,
                          text=True).stdout.strip()
    cmd(b, "join", code)
    src = os.path.join(root, "residents.jsonl")
    write_residents(src, n)
    t0 = time.time()
    cmd(a, "load", "resident", "--scope", "s/c/g01", src)
    os.unlink(src)
    print("loaded %d residents in %.1f s" % (n, time.time() - t0),
          file=sys.stderr)
    return a, b


def cold_once(gs_bin, a0, b0, work, perf=None, strace=False, tag=""):
    """One cold sync of copies of the templates: a dict of figures."""
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    a, b = os.path.join(work, "a"), os.path.join(work, "b")
    shutil.copytree(a0, a)
    shutil.copytree(b0, b)
    argv = [gs_bin, "--dir", b, "serve", "--listen", "127.0.0.1:0",
            "--no-discovery", "--gossip-ms", "86400000"]
    if strace:
        # -w: the wall time spent in each (epoll_wait: waiting for the peer)
        argv = ["strace", "-c", "-w", "-f", "-e",
                "trace=fdatasync,fsync,msync,epoll_wait",
                "-o", os.path.join(work, "strace.txt")] + argv
    pb = subprocess.Popen(argv, stdout=subprocess.PIPE,
                          stderr=open(b + ".log", "w"), text=True)
    line = pb.stdout.readline()
    addr = line.split()[2]
    rpid = pb.pid
    if strace:  # the traced child is the node
        time.sleep(0.2)
        kids = open("/proc/%d/task/%d/children" % (pb.pid, pb.pid)).read()
        rpid = int(kids.split()[0])
    rperf = None
    if perf:
        rperf = subprocess.Popen(["perf", "record"] + PERF_OPTS + ["-q", "-o",
                                  os.path.join(perf, "recv%s.data" % tag),
                                  "-p", str(rpid)],
                                 stderr=subprocess.DEVNULL)
        time.sleep(0.5)
    r0 = cpu_s(rpid)
    sargv = [gs_bin, "--dir", a, "--json", "sync", addr]
    if perf:
        sargv = ["perf", "record"] + PERF_OPTS + ["-q", "-o",
                 os.path.join(perf, "send%s.data" % tag), "--"] + sargv
    so, se = (open(os.path.join(work, f), "w+b") for f in ("out", "err"))
    t0 = time.time()
    p = subprocess.Popen(sargv, stdout=so, stderr=se)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.time() - t0
    r1 = cpu_s(rpid)
    so.seek(0)
    se.seek(0)
    if os.waitstatus_to_exitcode(status):
        raise SystemExit("sync failed: %s" % se.read().decode()[-2000:])
    if rperf:
        rperf.send_signal(2)
        rperf.wait()
    # the sender's CPU: its rusage (with perf's own when profiled)
    res = {"wall_s": wall, "recv_cpu_s": r1 - r0,
           "send_cpu_s": ru.ru_utime + ru.ru_stime,
           "sync": json.loads(so.read().decode())}
    os.kill(rpid, 15)  # the node (strace's child when traced)
    pb.wait()
    if strace:
        txt = open(os.path.join(work, "strace.txt")).read()
        rows = [l.split() for l in txt.splitlines()
                if l.strip().endswith(("fdatasync", "fsync", "msync",
                                       "epoll_wait"))]
        res["fsyncs"] = sum(int(r[3]) for r in rows if r[-1] != "epoll_wait")
        res["fsync_s"] = sum(float(r[1]) for r in rows
                             if r[-1] != "epoll_wait")
        res["wait_s"] = sum(float(r[1]) for r in rows
                            if r[-1] == "epoll_wait")
    held = json.loads(subprocess.run(
        [gs_bin, "--dir", b, "--json", "status"], check=True,
        capture_output=True, text=True).stdout)["records"]
    dig = [subprocess.run([gs_bin, "--dir", d, "--json", "status"],
                          check=True, capture_output=True, text=True).stdout
           for d in (a, b)]
    res["held"] = held
    res["status"] = dig
    return res


def cold_main(argv):
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--cold", type=int, required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--gs", action="append")
    ap.add_argument("--keep")
    ap.add_argument("--perf")
    ap.add_argument("--strace", action="store_true")
    a = ap.parse_args(argv)
    builds = a.gs or [GS]
    root = a.keep or tempfile.mkdtemp(prefix="gs-bench-cold-")
    try:
        if os.path.isdir(os.path.join(root, "a")):
            a0, b0 = os.path.join(root, "a"), os.path.join(root, "b")
        else:
            os.makedirs(root, exist_ok=True)
            a0, b0 = cold_templates(builds[0], a.cold, root)
        figs = {g: [] for g in builds}
        for r in range(a.runs):
            for i, g in enumerate(builds):
                res = cold_once(g, a0, b0, os.path.join(root, "run"),
                                perf=a.perf, strace=a.strace,
                                tag="-%d-%d" % (i, r))
                figs[g].append(res)
                print("run %d %s: %.2f s wall, sender CPU %s, receiver CPU "
                      "%.2f s%s, held %d" % (
                          r + 1, g, res["wall_s"],
                          "%.2f s" % res["send_cpu_s"]
                          if res["send_cpu_s"] is not None else "-",
                          res["recv_cpu_s"],
                          ", %d fsyncs (%.2f s), %.2f s in epoll_wait" % (
                              res["fsyncs"], res["fsync_s"], res["wait_s"])
                          if "fsyncs" in res else "", res["held"]),
                      flush=True)
        print("cold sync of %d records, %d runs" % (a.cold, a.runs))
        for g in builds:
            w = [x["wall_s"] for x in figs[g]]
            c = [x["recv_cpu_s"] for x in figs[g]]
            s = [x["send_cpu_s"] or 0 for x in figs[g]]
            print("  %s: wall %s s (%.2f-%.2f); receiver CPU %s; sender "
                  "CPU %s; goal 10 s" % (
                      g, " / ".join("%.2f" % x for x in w), min(w), max(w),
                      " / ".join("%.2f" % x for x in c),
                      " / ".join("%.2f" % x for x in s)))
    finally:
        if not a.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    if "--cold" in sys.argv[1:]:
        cold_main(sys.argv[1:])
    else:
        main()
