#!/usr/bin/env python3
"""Sync benchmark: real gridsync processes on loopback.

  1. cold sync of N resident-like records (default 100,000) from one node
     to an empty one: seconds, records/s, bytes on the wire per record;
  2. live latency: a put on one node until the record is readable on a
     live-connected peer (median and worst of 20);
  3. for scale: the same bytes through a bare loopback TCP socket.

    GRIDSYNC=build-rel/cli/gridsync python3 tests/bench/bench_sync.py [N]
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


if __name__ == "__main__":
    main()
