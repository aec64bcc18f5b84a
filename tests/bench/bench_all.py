#!/usr/bin/env python3
"""Every benchmark of issue 9, side by side, printed as one table.

    bench_all.py --build BUILD [--scale 10000,100000] [--peer-max 10000]
                 [--edits 1000000] [--peer-edits 50000] [--no-peers]

Run by tests/bench/run.sh, which installs and builds what this needs.
Every figure is measured in this run; nothing is read from a file.
Ratios say how gridsync compares: above 1.00x gridsync is faster (or
smaller), below 1.00x it loses.
"""
import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_sync import bare_tcp  # noqa: E402
JS = os.path.join(HERE, "js")


def run(argv, **kw):
    p = subprocess.run(argv, capture_output=True, text=True, **kw)
    if p.returncode:
        raise SystemExit("%s failed: %s" % (" ".join(argv), p.stderr[-2000:]))
    return p.stdout


def peer(*args, timeout=3600):
    """One JSON object from peers.js, or None (reported) if it failed."""
    argv = ["node", os.path.join(JS, "peers.js")] + [str(a) for a in args]
    try:
        p = subprocess.run(argv, capture_output=True, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        print("  (peer %s timed out)" % " ".join(map(str, args)),
              file=sys.stderr)
        return None
    if p.returncode:
        print("  (peer %s failed: %s)" % (" ".join(map(str, args)),
                                         p.stderr.strip()[-300:]),
              file=sys.stderr)
        return None
    return json.loads(p.stdout.strip().splitlines()[-1])


class Proxy:
    """A loopback TCP relay counting the bytes each way (wire bytes:
    handshake, framing and encryption included)."""

    def __init__(self, target):
        host, port = target.rsplit(":", 1)
        self.target = (host, int(port))
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(16)
        self.addr = "127.0.0.1:%d" % self.srv.getsockname()[1]
        self.bytes = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            try:
                u = socket.create_connection(self.target)
            except OSError:
                c.close()
                continue
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pipe, args=(a, b),
                                 daemon=True).start()

    def _pipe(self, a, b):
        try:
            while True:
                d = a.recv(1 << 20)
                if not d:
                    break
                with self.lock:
                    self.bytes += len(d)
                b.sendall(d)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def take(self):
        with self.lock:
            n, self.bytes = self.bytes, 0
        return n

    def close(self):
        self.srv.close()


class Nodes:
    """gridsync node directories under one temporary root."""

    def __init__(self, gs):
        self.gs = gs
        self.root = tempfile.mkdtemp(prefix="gs-bench-all-")
        self.procs = []

    def dir(self, name):
        return os.path.join(self.root, name)

    def cmd(self, name, *args, input=None):
        return run([self.gs, "--dir", self.dir(name)] + list(args),
                   input=input)

    def pair(self, a, b):
        self.cmd(a, "init")
        self.cmd(b, "init")
        self.cmd(a, "network", "create", "bench")
        code = self.cmd(a, "invite", "--role", "office", "--scope",
                        "s").strip()
        self.cmd(b, "join", code)

    def serve(self, name, *peers, extra=()):
        argv = [self.gs, "--dir", self.dir(name), "serve", "--listen",
                "127.0.0.1:0"] + list(extra)
        for p in peers:
            argv += ["--peer", p]
        p = subprocess.Popen(argv, stdout=subprocess.PIPE,
                             stderr=open(self.dir(name) + ".log", "w"),
                             text=True)
        line = p.stdout.readline()
        m = re.search(r"(\d+\.\d+\.\d+\.\d+:\d+)", line)
        if not m:
            raise SystemExit("serve printed %r" % line)
        self.procs.append(p)
        return p, m.group(1)

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                p.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def proc_mem(pid):
    """Peak RSS (VmHWM) and the anonymous part of the current RSS
    (RssAnon: heap, not LMDB's file-backed map), in bytes."""
    got = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmHWM", "RssAnon"):
                got[k] = int(v.split()[0]) * 1024
    return got.get("VmHWM", 0), got.get("RssAnon", 0)


CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def record_id(k):
    """A valid 26-character record id for the number k."""
    v, out = k << 2, ""  # 130 bits of text for 128 of id
    while v:
        out = CROCKFORD[v & 31] + out
        v >>= 5
    return out.rjust(26, "0")


def residents(n):
    """Residents as the schema has them: the household is a reference."""
    return "".join(json.dumps({
        "name": "居民%d" % i, "gender": "女" if i % 2 else "男",
        "birth_year": 1930 + i % 80, "phone": "139%08d" % i,
        "building": str(1 + i % 19), "unit": str(1 + i % 3),
        "room": str(101 + i % 600),
        "note": "第%d户，独居老人，每周三上门探访。" % i,
        "tags": ["elderly"] if i % 3 else ["lives-alone"],
        "household": {"$ref": "household/" + record_id(i // 3)},
    }, ensure_ascii=False) + "\n" for i in range(n))


def tcp_mb_s(nbytes=512 << 20):
    """Loopback TCP throughput, MB/s (bench_sync's bare socket)."""
    return nbytes / bare_tcp(nbytes) / 1e6


def gs_store(build, n, durable):
    out = run([os.path.join(build, "tests/bench/bench_store"), "--durable",
               str(durable), "--bulk", str(n)])
    rates = {}
    for line in out.splitlines():
        m = re.match(r"(.+?)\s{2,}(\d+)\s+(\d+)", line)
        if m:
            rates[m.group(1).strip()] = (float(m.group(2)), int(m.group(3)))
    return {
        "durable": rates["gridsync durable put (fsync each)"][0],
        "bare_durable": rates["bare LMDB, same bytes, fsync each"][0],
        "bulk": rates["gridsync bulk (one transaction)"][0],
        "bare_bulk": rates["bare LMDB, same bytes, one txn"][0],
        "bytes_per_record": rates["gridsync bulk (one transaction)"][1],
        # CPU seconds (the figures that hold on a shared machine)
        "bulk_cpu": rates["gridsync bulk, per CPU second"][0],
        "bare_bulk_cpu": rates["bare LMDB bulk, per CPU second"][0],
        # the format's required work alone (no LMDB), per CPU second: over
        # bare_bulk_cpu, the most the bulk ratio per CPU second can reach
        "floor_cpu": rates["the format's required work, per CPU second"][0],
    }


def write_residents(path, n):
    """residents(n) into path, generated by a child process: this process
    never holds them, so that the processes it starts do not begin as
    copies of a large parent (the peak memory wait4 reports for a child
    counts what it held before its exec)."""
    with open(path, "w") as f:
        subprocess.run([sys.executable, "-c",
                        "import sys; sys.path.insert(0, %r); "
                        "from bench_all import residents; "
                        "sys.stdout.write(residents(%d))" % (HERE, n)],
                       stdout=f, check=True)


def run_rss_cpu(argv):
    """Run argv; its stdout, its peak resident memory (VmHWM of that
    process alone, from wait4's rusage), bytes, and its CPU seconds."""
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = p.stdout.read()
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode:
        raise SystemExit("%s failed: %s" % (" ".join(argv), err[-2000:]))
    return out.decode(), ru.ru_maxrss * 1024, ru.ru_utime + ru.ru_stime


def run_rss(argv):
    """run_rss_cpu without the CPU seconds."""
    out, rss, _ = run_rss_cpu(argv)
    return out, rss


def gs_sync(gs, n):
    """Load n records (CLI), cold sync to a serving peer through the
    counting proxy, live edit latency and bytes, serving peak RSS. The
    input is generated (into a file) before any clock starts."""
    nodes = Nodes(gs)
    try:
        nodes.pair("a", "b")
        src = os.path.join(nodes.root, "residents.jsonl")
        write_residents(src, n)
        t0 = time.time()
        _, load_rss, load_cpu = run_rss_cpu([gs, "--dir", nodes.dir("a"),
                                             "load", "resident", "--scope",
                                             "s/c/g01", src])
        load = n / (time.time() - t0)
        os.unlink(src)
        # a command after it: `status` (its digest reads every record,
        # so its peak is the whole map's pages, file-backed: the page
        # cache, not the heap; with the passphrase's default limits the
        # Argon2id unlock's 256 MiB would be its floor, here the bench's
        # cheap limits)
        _, unlock_rss = run_rss([gs, "--dir", nodes.dir("a"), "--json",
                                 "status"])
        # b dials no one (the live session below is a's, through the relay)
        pb, addr_b = nodes.serve("b", extra=("--no-discovery", "--gossip-ms",
                                             "86400000"))
        px = Proxy(addr_b)
        from bench_sync import cpu_s
        r0 = cpu_s(pb.pid)
        t0 = time.time()
        p = subprocess.Popen([gs, "--dir", nodes.dir("a"), "sync", px.addr],
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
        err = p.stderr.read()
        _, status, ru = os.wait4(p.pid, 0)
        cold = time.time() - t0
        if os.waitstatus_to_exitcode(status):
            raise SystemExit("sync failed: %s" % err.decode()[-2000:])
        cold_cpu = (ru.ru_utime + ru.ru_stime, cpu_s(pb.pid) - r0)
        cold_bytes = px.take()
        held = json.loads(nodes.cmd("b", "--json", "status"))["records"]
        assert held >= n, "b holds %d of %d" % (held, n)
        rss, anon = proc_mem(pb.pid)
        # one edit, then a sync session through the proxy: its bytes
        inc_bytes = []
        for i in range(5):
            nodes.cmd("a", "put", "resident", "--scope", "s/c/g01",
                      "name=增量%d" % i)
            px.take()
            nodes.cmd("a", "sync", px.addr)
            inc_bytes.append(px.take())
        # live: a serves with b as its peer, through the counting relay; a
        # put on a until readable on b (polled with `gridsync get`: a
        # process start per poll included), then the bytes of that edit
        # on the long-lived session (its CHANGES and the ACK)
        # (b's own address, learnt in the syncs, forgotten; no discovery,
        # no gossip: the one session goes through the relay)
        subprocess.run([gs, "--dir", nodes.dir("a"), "peers", "remove",
                        addr_b], capture_output=True)
        pa, _ = nodes.serve("a", px.addr,
                            extra=("--no-discovery", "--gossip-ms", "86400000"))
        time.sleep(1.5)
        lat, live_bytes = [], []
        for i in range(5):
            time.sleep(0.3)  # what the previous edit still had in flight
            px.take()
            rid = nodes.cmd("a", "put", "resident", "--scope", "s/c/g01",
                            "name=实时%d" % i).strip()
            t0 = time.time()
            while subprocess.run([gs, "--dir", nodes.dir("b"), "get",
                                  "resident", rid],
                                 capture_output=True).returncode:
                if time.time() - t0 > 20:
                    raise SystemExit("live edit not visible after 20 s")
                time.sleep(0.002)
            lat.append(time.time() - t0)
            time.sleep(0.3)  # the ACK follows the receiver's commit
            live_bytes.append(px.take())
        px.close()
        return {"load": load, "load_rss": load_rss,
                "load_cpu": n / load_cpu,
                "unlock_rss": unlock_rss, "cold_s": cold,
                "cold_cpu": cold_cpu,
                "cold_bytes": cold_bytes,
                "inc_ms": statistics.median(lat) * 1000,
                "inc_bytes": statistics.median(inc_bytes),
                "live_bytes": statistics.median(live_bytes),
                "serve_rss": rss,
                "serve_anon": anon}
    finally:
        nodes.close()


def gs_members(gs, n, members):
    """Seconds of a cold sync of n records from the admin to a serving
    member, in a network of `members` members (the admin, the receiver
    and members - 2 others, every claim witnessed and held by both)."""
    nodes = Nodes(gs)
    try:
        nodes.pair("a", "b")
        pa, addr_a = nodes.serve("a")
        for i in range(members - 2):
            m = "m%02d" % i
            nodes.cmd(m, "init")
            code = nodes.cmd("a", "invite", "--role", "leader", "--scope",
                             "s/c/g%02d" % (i + 2)).strip()
            nodes.cmd(m, "join", code)
            nodes.cmd(m, "sync", addr_a)  # the admin witnesses its claim
        pa.terminate()
        pa.wait()
        src = os.path.join(nodes.root, "residents.jsonl")
        write_residents(src, n)
        nodes.cmd("a", "load", "resident", "--scope", "s/c/g01", src)
        os.unlink(src)
        pb, addr_b = nodes.serve("b")
        t0 = time.time()
        nodes.cmd("a", "sync", addr_b)
        secs = time.time() - t0
        st = json.loads(nodes.cmd("b", "--json", "status"))
        assert st["records"] >= n, "b holds %d of %d" % (st["records"], n)
        return secs
    finally:
        nodes.close()


def gs_feeds(gs, nfeeds):
    """Bytes when two fully synced nodes holding nfeeds feeds meet."""
    nodes = Nodes(gs)
    try:
        nodes.pair("a", "b")
        for i in range(nfeeds):
            nodes.cmd("a", "put", "resident", "--scope", "s/f%04d" % i,
                      "name=居民%d" % i)
        pb, addr_b = nodes.serve("b")
        nodes.cmd("a", "sync", addr_b)
        px = Proxy(addr_b)
        t0 = time.time()
        nodes.cmd("a", "sync", px.addr)
        secs = time.time() - t0
        feeds = json.loads(nodes.cmd("b", "--json", "status"))
        meet = px.take()
        # one edit on each side: the digests differ, the vectors are
        # reconciled by ranges (the whole vectors before issue 20's
        # ranges); the sync's own bytes (handshake, the two edits) included
        nodes.cmd("a", "put", "resident", "--scope", "s/f0007", "name=甲")
        nodes.cmd("b", "put", "resident", "--scope", "s/f0008", "name=乙")
        nodes.cmd("a", "sync", px.addr)
        edits = px.take()
        px.close()
        return {"bytes": meet, "seconds": secs, "edits_bytes": edits,
                "feeds": feeds.get("feeds", nfeeds)}
    finally:
        nodes.close()


def ratio(g, o, higher_better=True):
    if not g or not o:
        return "  n/a"
    r = g / o if higher_better else o / g
    return ("%.2fx" if r >= 0.1 else "%.2gx") % r


# The goals of issue 20, measured on the 2-core reference machine at
# 1,000,000 records (memory, cold sync) or any scale (the rest).
GOAL_MERGE = 350000          # merge edits/s
GOAL_BULK_RATIO = 0.5        # bench_store bulk / bare LMDB
GOAL_LOAD_RATIO = 0.35       # gridsync load / bare LMDB
GOAL_LOAD_RSS = 300e6        # peak memory of loading 1,000,000 residents
GOAL_COLD_S = 10.0           # cold sync of 1,000,000 records
GOAL_MEET_B = 1000           # two synced nodes with 1,001 feeds meet
GOAL_EDIT_B = 300            # one edit between two synced nodes
GOAL_STORE_B = 350           # storage per record
GOAL_MEMBERS = 1.10          # 40 members vs 4, time ratio ("within noise")


def goal(text, progress):
    """The goal and how far the figure is: progress = figure / goal for
    higher-is-better figures, goal / figure for lower (1.00 and above:
    reached)."""
    return (text, progress)


def main():
    # the nodes are sealed (issue 19): a passphrase unless one is given
    os.environ.setdefault("GRIDSYNC_PASSPHRASE", "gridsync-bench-passphrase")
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--scale", default="10000,100000")
    ap.add_argument("--peer-max", type=int, default=10000)
    ap.add_argument("--edits", type=int, default=1000000)
    ap.add_argument("--peer-edits", type=int, default=50000)
    ap.add_argument("--feeds", type=int, default=1000)
    ap.add_argument("--members", type=int, default=40)
    ap.add_argument("--members-records", type=int, default=100000)
    ap.add_argument("--no-peers", action="store_true")
    a = ap.parse_args()
    gs = os.path.join(a.build, "cli", "gridsync")
    scales = [int(x) for x in a.scale.split(",") if x]
    rows = []  # (section, label, gridsync, unit, [(name, value, ratio)], goal)

    def row(section, label, g, unit, comps, gl=None):
        rows.append((section, label, g, unit, comps, gl))
        print("  %-46s %14s" % (label, fmt(g, unit)), file=sys.stderr)

    def lower(g, target):
        return target / g if g else 0

    print("== limits", file=sys.stderr)
    lim = json.loads(run([os.path.join(a.build, "tests/bench/bench_limits"),
                          "--json"]))
    tcp = tcp_mb_s()

    for n in scales:
        peers = not a.no_peers and n <= a.peer_max
        at_million = n == 1000000
        print("== %d records" % n, file=sys.stderr)
        st = gs_store(a.build, n, 300)
        am = peer("automerge", "writes", n, 100) if peers else None
        pd = peer("pouchdb", "writes", n, 300) if peers else None
        sec = "1. local writes, %d records" % n
        row(sec, "durable one-record edits (fsync each)", st["durable"],
            "/s", [("bare LMDB", st["bare_durable"], True),
                   ("Automerge", am and am["durable_per_s"], True),
                   ("PouchDB*", pd and pd["durable_per_s"], True)])
        br = st["bulk"] / st["bare_bulk"]
        row(sec, "bulk load (bench_store, one txn)", st["bulk"], "/s",
            [("bare LMDB", st["bare_bulk"], True),
             ("Automerge", am and am["bulk_per_s"], True),
             ("PouchDB", pd and pd["bulk_per_s"], True)],
            goal("%.2fx bare LMDB" % GOAL_BULK_RATIO, br / GOAL_BULK_RATIO))
        row(sec, "  the same, records per CPU second", st["bulk_cpu"], "/s",
            [("bare LMDB", st["bare_bulk_cpu"], True)])
        row(sec, "  the format's work alone (no LMDB), per CPU s",
            st["floor_cpu"], "/s", [("bare LMDB", st["bare_bulk_cpu"], True)])
        row(sec, "storage bytes per record", st["bytes_per_record"], "B",
            [("Automerge", am and am["bytes_per_record"], False),
             ("PouchDB", pd and pd["bytes_per_record"], False)],
            goal("%d B" % GOAL_STORE_B,
                 lower(st["bytes_per_record"], GOAL_STORE_B)))
        sy = gs_sync(gs, n)
        lr = sy["load"] / st["bare_bulk"]
        row(sec, "bulk load (gridsync load, JSON Lines)", sy["load"], "/s",
            [("bare LMDB", st["bare_bulk"], True)],
            goal("%.2fx bare LMDB" % GOAL_LOAD_RATIO, lr / GOAL_LOAD_RATIO))
        row(sec, "  the same, records per CPU second", sy["load_cpu"], "/s",
            [("bare LMDB", st["bare_bulk_cpu"], True)])
        row(sec, "gridsync load: peak memory (VmHWM)", sy["load_rss"], "MB",
            [], goal("300 MB", lower(sy["load_rss"], GOAL_LOAD_RSS))
            if at_million else goal("300 MB at 1000000", None))
        row(sec, "  `status` after it (the map's file pages)", sy["unlock_rss"],
            "MB", [])
        amS = peer("automerge", "sync", n) if peers else None
        pdS = peer("pouchdb", "sync", n) if peers else None
        sec = "3. cold sync over loopback, %d records" % n
        row(sec, "cold sync time", sy["cold_s"], "s",
            [("TCP same bytes", sy["cold_bytes"] / (tcp * 1e6), False),
             ("Automerge", amS and amS["cold_s"], False),
             ("PouchDB*", pdS and pdS["cold_s"], False)],
            goal("%.0f s" % GOAL_COLD_S, lower(sy["cold_s"], GOAL_COLD_S))
            if at_million else goal("10 s at 1000000", None))
        row(sec, "  CPU of the sender (gridsync sync)", sy["cold_cpu"][0],
            "s", [])
        row(sec, "  CPU of the receiver (serve)", sy["cold_cpu"][1], "s", [])
        row(sec, "bytes on the wire per record", sy["cold_bytes"] / n, "B",
            [("Automerge", amS and amS["cold_bytes"] / n, False)])
        sec = "4. incremental, %d-record pair" % n
        row(sec, "one edit: latency to visible on the peer", sy["inc_ms"],
            "ms", [("Automerge", amS and amS["inc_ms"], False),
                   ("PouchDB*", pdS and pdS["inc_ms"], False)])
        row(sec, "one edit: bytes of a `gridsync sync` session",
            sy["inc_bytes"], "B",
            [("Automerge", amS and amS["inc_bytes"], False)])
        row(sec, "one edit on a live session: bytes", sy["live_bytes"], "B",
            [("Automerge", amS and amS["inc_bytes"], False)],
            goal("%d B" % GOAL_EDIT_B, lower(sy["live_bytes"], GOAL_EDIT_B)))
        sec = "5. memory, %d records" % n
        row(sec, "peak RSS of the serving node", sy["serve_rss"], "MB",
            [("Automerge", amS and amS["serve_rss"], False),
             ("PouchDB* (2 dbs)", pdS and pdS["rss_two_dbs"], False)])
        row(sec, "  of which heap (RssAnon, not the LMDB map)",
            sy["serve_anon"], "MB", [])

    print("== merge", file=sys.stderr)
    mrec = min(max(scales), 100000)
    mg = json.loads(run([os.path.join(a.build, "tests/bench/bench_merge"),
                         "--records", str(mrec), "--edits", str(a.edits),
                         "--json"]))
    pe = min(a.peer_edits, a.edits)
    prec = min(mrec, a.peer_max)
    amM = peer("automerge", "merge", prec, pe) if not a.no_peers else None
    pdM = peer("pouchdb", "merge", prec, pe) if not a.no_peers else None
    sec = "2. merge: %d received field edits, 10%% conflicting, %d records" % (
        mg["edits"], mrec)
    row(sec, "edits applied per second (incl. final fsync)",
        mg["edits_per_s"], "/s",
        [("Automerge", amM and amM["edits_per_s"], True),
         ("PouchDB", pdM and pdM["edits_per_s"], True)],
        goal("%d/s" % GOAL_MERGE, mg["edits_per_s"] / GOAL_MERGE))

    print("== %d feeds meet" % a.feeds, file=sys.stderr)
    fd = gs_feeds(gs, a.feeds)
    sec = "4b. two synced nodes with %d feeds meet" % fd["feeds"]
    row(sec, "bytes exchanged", fd["bytes"], "B", [],
        goal("%d B, one round trip" % GOAL_MEET_B,
             lower(fd["bytes"], GOAL_MEET_B)))
    row(sec, "time", fd["seconds"], "s", [])
    row(sec, "one edit on each side, then they meet: bytes",
        fd["edits_bytes"], "B", [])

    if a.members > 4:
        mn = min(max(scales), a.members_records)
        print("== %d records, %d members vs 4" % (mn, a.members),
              file=sys.stderr)
        big = gs_members(gs, mn, a.members)
        small = gs_members(gs, mn, 4)
        sec = "6. a %d-record cold sync in a network of %d members vs 4" % (
            mn, a.members)
        row(sec, "cold sync, %d members" % a.members, big, "s",
            [("4 members", small, False)],
            goal("equal within noise (at most %.2fx the time)" % GOAL_MEMBERS,
                 GOAL_MEMBERS * small / big if big else 0))

    # sealing at rest (issue 19): the same work sealed and open, same run
    sn = min(max(scales), 100000)
    print("== sealing at rest, %d residents" % sn, file=sys.stderr)
    se = json.loads(run([os.path.join(a.build, "tests/bench/bench_seal"),
                         str(sn), "--json"]))
    sec = ("7. sealed at rest vs open (issue 19), %d residents, wall time "
           "(the goal: the time a person waits; the store seals on two "
           "threads) and CPU time (the cipher's work), best of %d"
           % (sn, se["runs"]))
    for key, label in (("bulk", "bulk load, sealed"),
                       ("sync", "cold sync (store_apply), sealed"),
                       ("merge", "merge (received edits of every resident), "
                                 "sealed"),
                       ("local", "local edit of every resident, sealed"),
                       ("durable", "durable put (fsync each), sealed")):
        f = se[key]
        row(sec, label, f["sealed_wall"] * 1000, "ms",
            [("open", f["open_wall"] * 1000, False)],
            goal("at most %.2fx the open store's wall time (this run %.2fx, "
                 "rounds %.2f..%.2f; CPU %.2fx, %.2fx less the cipher "
                 "worker's watching for work)" % (
                     se["goal"], f["wall_ratio"], f["wall_lo"], f["wall_hi"],
                     f["ratio"],
                     (f["sealed"] - f.get("sealed_watch", 0)) / f["open"]
                     if f["open"] else 0),
                 se["goal"] / f["wall_ratio"] if f["wall_ratio"] else 0))
    row(sec, "full read (state digest), sealed", se["read"]["sealed"] * 1000,
        "ms", [("open", se["read"]["open"] * 1000, False)])
    row(sec, "Argon2id unlock (node's passphrase limits)",
        se["argon2id_s"] * 1000, "ms", [])

    print()
    print("gridsync benchmarks, every figure measured in this run")
    print("limits: loopback TCP %.0f MB/s; libsodium ChaCha20-Poly1305 %.0f "
          "MB/s, Ed25519 verify %.0f/s, BLAKE2b %.0f MB/s" % (
              tcp, lim["chacha20poly1305_mb_s"], lim["ed25519_verify_per_s"],
              lim["blake2b_mb_s"]))
    if not a.no_peers:
        print("peers: Automerge and PouchDB (pouchdb-node, LevelDB adapter) "
              "at scales up to %d; merge with %d edits on %d records" % (
                  a.peer_max, pe, prec))
    print("ratio: above 1.00x gridsync is faster or smaller; below, it "
          "loses; * see notes")
    print("goal (issue 20): the figure to reach, and how far this run is "
          "(100% and above: reached)")
    last = None
    for section, label, g, unit, comps, gl in rows:
        if section != last:
            print("\n" + section)
            last = section
        cs = "  ".join("%s %s = %s" % (nm, fmt(v, unit), ratio(g, v, hb))
                       for nm, v, hb in comps if v)
        print("  %-46s %12s  %s" % (label, fmt(g, unit), cs))
        if gl:
            text, prog = gl
            print("  %-46s %12s  %s" % (
                "", "", "goal %s%s" % (text, "" if prog is None else
                                        ": at %.0f%% of it" % (prog * 100))))
    print("\n* PouchDB durable puts: LevelDB does not fsync each write; "
          "PouchDB sync is replication between two databases in one "
          "process (no wire, no bytes)")


def fmt(v, unit):
    if v is None:
        return "n/a"
    if unit == "MB":
        return "%.0f MB" % (v / 1e6)
    if unit == "s":
        return "%.2f s" % v
    if unit == "ms":
        return "%.1f ms" % v
    if unit == "B":
        return "%.0f B" % v
    return "%.0f%s" % (v, unit)


if __name__ == "__main__":
    main()
