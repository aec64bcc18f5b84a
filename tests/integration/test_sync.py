#!/usr/bin/env python3
"""Integration tests: real gridsync processes on loopback.

Each test makes node directories under a temporary directory, forms a
network with `network create` / `invite` / `join`, and runs `serve`,
`sync` and the record commands as a person would.

    GRIDSYNC=build/cli/gridsync python3 tests/integration/test_sync.py
"""
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

GS = os.environ.get("GRIDSYNC", "build/cli/gridsync")
TAGS = ["elderly", "lives-alone", "disabled", "low-income"]


class Node:
    def __init__(self, root, name):
        self.dir = os.path.join(root, name)
        self.name = name
        self.proc = None
        self.port = None
        self.log = None

    def run(self, *args, check=True, json_out=False, input=None, timeout=120):
        argv = [GS, "--dir", self.dir] + (["--json"] if json_out else []) + list(args)
        p = subprocess.run(argv, capture_output=True, text=True, input=input,
                           timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError("%s: %s exited %d: %s" % (
                self.name, " ".join(args), p.returncode, p.stderr.strip()))
        if json_out and p.returncode == 0:
            return json.loads(p.stdout)
        return p

    def put(self, coll, scope, *fields, rid=None):
        args = ["put", coll] + (["--id", rid] if rid else []) + \
            (["--scope", scope] if scope else [])
        return self.run(*args, *fields).stdout.strip()

    def digest(self, scope=None):
        args = ["status"] + (["--scope", scope] if scope else [])
        return self.run(*args, json_out=True)["digest"]

    def records(self, coll):
        return self.run("list", coll, "--deleted", json_out=True)

    def serve(self, *peers, gossip_ms=None, ports=()):
        argv = [GS, "--dir", self.dir, "serve", "--listen", "127.0.0.1:0"]
        for p in peers:
            argv += ["--peer", "127.0.0.1:%d" % p.port]
        for port in ports:
            argv += ["--peer", "127.0.0.1:%d" % port]
        if gossip_ms:
            argv += ["--gossip-ms", str(gossip_ms)]
        self.log = open(self.dir + ".log", "a")
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                     stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("serving on "):
            raise AssertionError("%s: serve said %r" % (self.name, line))
        self.port = int(line.split()[2].rsplit(":", 1)[1])
        return self

    def stop(self, sig=signal.SIGTERM):
        if not self.proc:
            return None
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
            raise AssertionError("%s did not stop on %s" % (self.name, sig))
        self.proc.stdout.close()
        self.log.close()
        self.proc = None
        return rc

    def addr(self):
        return "127.0.0.1:%d" % self.port


class FaultProxy:
    """A TCP proxy on loopback that, while faulty, drops connections,
    delays chunks and cuts streams mid-frame (bounded: it stops by itself
    when the test ends)."""

    def __init__(self, target_port, seed):
        self.target = target_port
        self.rng = random.Random(seed)
        self.faulty = True
        self.stopped = False
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.lsock.settimeout(0.2)
        self.port = self.lsock.getsockname()[1]
        self.conns = []
        self.faults = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped:
            try:
                c, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                u = socket.create_connection(("127.0.0.1", self.target), timeout=2)
            except OSError:
                c.close()
                continue
            pair = [c, u]
            self.conns.append(pair)
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pump, args=(a, b, pair),
                                 daemon=True).start()

    def _pump(self, src, dst, pair):
        try:
            src.settimeout(0.5)
            while not self.stopped:
                try:
                    data = src.recv(65536)
                except socket.timeout:
                    continue
                if not data:
                    break
                if self.faulty:
                    r = self.rng.random()
                    if r < 0.03:        # cut mid-stream, part of a frame sent
                        dst.sendall(data[:max(1, len(data) // 2)])
                        self.faults += 1
                        break
                    if r < 0.06:        # drop the connection
                        self.faults += 1
                        break
                    if r < 0.20:        # delay
                        time.sleep(self.rng.random() * 0.2)
                dst.sendall(data)
        except OSError:
            pass
        for s in pair:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def stop(self):
        self.stopped = True
        self.lsock.close()


def wait_for(cond, timeout=15.0, what="condition"):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if cond():
            return time.time() - t0
        time.sleep(0.05)
    raise AssertionError("timed out after %.0f s waiting for %s" % (timeout, what))


class Base(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="gs-int-")
        self.nodes = []

    def tearDown(self):
        for n in self.nodes:
            if n.proc:
                n.proc.kill()
                n.proc.wait()
                n.proc.stdout.close()
                n.log.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def network(self, *names, role="office", scope="gongrencun"):
        """First name is the admin; the others join with role/scope."""
        nodes = [Node(self.root, n) for n in names]
        self.nodes += nodes
        for n in nodes:
            n.run("init", "--name", n.name)
        nodes[0].run("network", "create", "工人村街道")
        for n in nodes[1:]:
            code = nodes[0].run("invite", "--role", role, "--scope",
                                scope).stdout.strip()
            n.run("join", code)
        return nodes


class SyncTest(Base):
    def test_two_nodes_converge_with_concurrent_edits(self):
        a, b = self.network("a", "b")
        shared = a.put("resident", "gongrencun/q/g01", "name=王秀英", "tags+=elderly")
        a.serve()
        b.run("sync", a.addr())
        self.assertEqual(b.records("resident")[0]["fields"]["name"], "王秀英")
        # concurrent edits to the same record and to different ones
        for i in range(30):
            a.put("resident", "gongrencun/q/g01", "name=甲%d" % i)
            b.put("resident", "gongrencun/q/g02", "name=乙%d" % i)
        a.put("resident", None, "phone=111", "tags+=lives-alone", rid=shared)
        b.put("resident", None, "phone=222", "tags-=elderly", "tags+=disabled",
              rid=shared)
        self.assertNotEqual(a.digest(), b.digest())
        out = b.run("--json", "sync", a.addr())
        report = json.loads(out.stdout)
        self.assertEqual(report["sent"], 31)
        self.assertEqual(report["received"], 31)
        wait_for(lambda: a.digest() == b.digest(), 5, "equal digests")
        rec = a.run("get", "resident", shared, json_out=True)
        self.assertIn(rec["fields"]["phone"], ("111", "222"))
        # add-wins set: elderly removed by b only, the adds of both kept
        self.assertEqual(sorted(rec["fields"]["tags"]), ["disabled", "lives-alone"])
        self.assertEqual(len(a.records("resident")), 61)
        self.assertEqual(a.stop(), 0)

    def test_relay_through_the_office(self):
        office, a, b = self.network("office", "a", "b")
        office.serve()
        ids = [a.put("appeal", "gongrencun/q/g01", "category=repair",
                     "description=楼道灯坏了 %d" % i, "opened=2026-11-20") for i in range(20)]
        a.run("sync", office.addr())
        # a goes home; later b meets the office, never a
        b.put("visit", "gongrencun/q/g02", "notes=上门走访", "by=李网格员",
              "date=2026-11-20")
        b.run("sync", office.addr())
        got = {r["id"] for r in b.records("appeal")}
        self.assertEqual(got, set(ids), "b lacks a's appeals")
        a.run("sync", office.addr())
        st = a.run("status", json_out=True)
        self.assertEqual([p["addr"] for p in st["peers"]], [office.addr()])
        self.assertNotEqual(st["peers"][0]["last_sync"], "never")
        self.assertEqual(st["behind_changes"], 0)
        self.assertIn("last sync", a.run("status").stdout)
        self.assertEqual(a.digest(), b.digest())
        self.assertEqual(a.digest(), office.digest())
        self.assertEqual(office.stop(), 0)

    def test_live_push_between_serving_nodes(self):
        a, b = self.network("a", "b")
        a.serve()
        b.serve(a)
        rid = a.put("resident", "gongrencun/q/g01", "name=刘德明")

        def b_has():
            p = b.run("get", "resident", rid, check=False)
            return p.returncode == 0
        secs = wait_for(b_has, 10, "the record on b")
        print("live: visible on the peer after %.2f s" % secs, file=sys.stderr)
        rid2 = b.put("resident", "gongrencun/q/g02", "name=赵桂兰")
        wait_for(lambda: a.run("get", "resident", rid2, check=False).returncode == 0,
                 10, "b's record on a")
        self.assertEqual(b.stop(), 0)
        self.assertEqual(a.stop(), 0)
        self.assertEqual(a.digest(), b.digest())

    def test_wrong_network_is_refused(self):
        a, b = self.network("a", "b")
        c = Node(self.root, "c")
        self.nodes.append(c)
        c.run("init")
        c.run("network", "create", "另一个网络")
        c.put("resident", "x/y/z", "name=外人")
        a.serve()
        p = c.run("sync", a.addr(), check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("sync with", p.stderr)
        self.assertEqual(len(a.records("resident")), 0)
        # and a node without any network is told what to do
        d = Node(self.root, "d")
        self.nodes.append(d)
        d.run("init")
        p = d.run("sync", a.addr(), check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("no network", p.stderr)
        self.assertEqual(a.stop(), 0)

    def test_a_leader_receives_its_grid_only(self):
        office = self.network("office")[0]
        leader = Node(self.root, "leader")
        self.nodes.append(leader)
        leader.run("init")
        code = office.run("invite", "--role", "leader", "--scope",
                          "gongrencun/q/g01").stdout.strip()
        leader.run("join", code)
        office.put("resident", "gongrencun/q/g01", "name=本网格")
        office.put("resident", "gongrencun/q/g02", "name=别的网格")
        office.serve()
        leader.run("sync", office.addr())
        names = [r["fields"]["name"] for r in leader.records("resident")]
        self.assertEqual(names, ["本网格"])
        # and what it may not write is refused locally, with the reason
        p = leader.run("put", "resident", "--scope", "gongrencun/q/g02",
                       "name=越权", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("may not write gongrencun/q/g02", p.stderr)
        self.assertEqual(office.stop(), 0)

    def test_peers_by_name(self):
        a, b = self.network("a", "b")
        a.serve()
        b.put("resident", "gongrencun/q/g01", "name=按名字")
        b.run("sync", "localhost:%d" % a.port)
        self.assertEqual(len(a.records("resident")), 1)
        p = b.run("sync", "no-such-host.invalid:7070", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("cannot resolve", p.stderr)
        p = b.run("sync", "no-port", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertEqual(a.stop(), 0)

    def test_stalled_handshakes_do_not_lock_members_out(self):
        a, b = self.network("a", "b")
        a.serve()
        port = a.port
        # a host (127.0.0.2) that opens connections and never speaks
        stalled = []
        for _ in range(70):
            s = socket.socket()
            s.bind(("127.0.0.2", 0))
            try:
                s.connect(("127.0.0.1", port))
            except OSError:
                s.close()
                continue
            stalled.append(s)
        b.put("resident", "gongrencun/q/g01", "name=照常")
        t0 = time.time()
        b.run("sync", a.addr())
        self.assertLess(time.time() - t0, 5)
        self.assertEqual(len(a.records("resident")), 1)
        for s in stalled:
            s.close()
        self.assertEqual(a.stop(), 0)

    def test_a_revoked_node_is_shut_out(self):
        admin, lost = self.network("admin", "lost")
        admin.serve()
        lost.put("resident", "gongrencun/q/g01", "name=丢失前")
        lost.run("sync", admin.addr())
        self.assertEqual(len(admin.records("resident")), 1)
        lost_id = lost.run("id").stdout.strip()
        out = admin.run("revoke", lost_id)
        self.assertIn("revoked", out.stdout)
        lost.put("resident", "gongrencun/q/g01", "name=丢失后")
        p = lost.run("sync", admin.addr(), check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("revoked", p.stderr)
        self.assertEqual(len(admin.records("resident")), 1)
        # a non-admin cannot revoke
        p = lost.run("revoke", admin.run("id").stdout.strip(), check=False)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(admin.stop(), 0)

    def test_killed_during_a_large_sync_then_completes(self):
        a, b = self.network("a", "b")
        # about 15 MB of changes: several of the receiver's groups (at most
        # 4 MiB each), so that the kill lands between two of their commits
        # (load's changes hold up to about 60 KB each, issue 20), and
        # enough that a poll of the receiver's status catches it part-way
        # (at 20,000 the whole sync took under two polls once in a while)
        N = 50000
        lines = "".join(
            json.dumps({"name": "居民%d" % i, "room": str(i),
                        "note": "独居老人，每周三上门探访" * 3}, ensure_ascii=False) + "\n"
            for i in range(N))
        a.run("load", "resident", "--scope", "gongrencun/q/g01", "-", input=lines)
        b.serve()
        killed = False
        p = subprocess.Popen([GS, "--dir", a.dir, "sync", b.addr()],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # kill the serving node as soon as it holds part of the data
        t0 = time.time()
        while time.time() - t0 < 30 and p.poll() is None:
            st = b.run("status", "--scope", "gongrencun", json_out=True)
            if st["records"] > 0:
                b.stop(signal.SIGKILL)
                killed = True
                break
            time.sleep(0.02)
        p.wait(timeout=60)
        p.stderr.close()
        self.assertTrue(killed, "the sync finished before the kill")
        held = b.run("status", "--scope", "gongrencun", json_out=True)["records"]
        self.assertLess(held, N, "nothing left to resume")
        b.serve()  # restarts on the same directory
        out = json.loads(a.run("--json", "sync", b.addr()).stdout)
        self.assertEqual(b.run("status", "--scope", "gongrencun",
                               json_out=True)["records"], N)
        self.assertEqual(a.digest(), b.digest())
        self.assertEqual(out["received"], 0)
        self.assertEqual(b.stop(), 0)

    def test_cold_sync_with_the_sender_killed_resumes_and_ends_equal(self):
        # issue 20: the sender sends changes as its store keeps them
        # (FRAMES); killed part-way, the next sync brings the rest, and
        # both nodes end with the same state
        a, b = self.network("a", "b")
        lines = "".join(
            json.dumps({"name": "居民%d" % i, "room": str(100 + i % 600),
                        "phone": "139%08d" % i,
                        "note": "第%d户，独居老人，每周三上门探访。" % i},
                       ensure_ascii=False) + "\n" for i in range(50000))
        a.run("load", "resident", "--scope", "gongrencun/q/g01", "-",
              input=lines)
        b.serve()
        p = subprocess.Popen([GS, "--dir", a.dir, "sync", b.addr()],
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        killed = False
        t0 = time.time()
        while time.time() - t0 < 60 and p.poll() is None:
            st = b.run("status", "--scope", "gongrencun", json_out=True)
            if st["records"] > 0:
                p.kill()
                killed = True
                break
            time.sleep(0.02)
        p.wait(timeout=60)
        self.assertTrue(killed, "the sync finished before the kill")
        held = b.run("status", "--scope", "gongrencun",
                     json_out=True)["records"]
        self.assertLess(held, 50000, "nothing left to resume")
        out = json.loads(a.run("--json", "sync", b.addr()).stdout)
        self.assertGreater(out["sent"], 0)
        self.assertEqual(b.run("status", "--scope", "gongrencun",
                               json_out=True)["records"], 50000)
        self.assertEqual(a.digest(), b.digest())
        self.assertEqual(a.digest("gongrencun/q/g01"),
                         b.digest("gongrencun/q/g01"))
        self.assertEqual(b.stop(), 0)


class TopologyTest(Base):
    def topology(self, edges, n=5, seed=1, writes=12):
        """Nodes 0..n-1; each (a, b) edge: a dials b through a faulty
        proxy. Random writes everywhere while faults happen; then the
        faults stop and every node must converge."""
        names = ["n%d" % i for i in range(n)]
        nodes = self.network(*names)
        rng = random.Random(seed)
        # serve every node first (so ports exist), then restart the
        # dialing ones with their proxied peers
        started = {}
        order = sorted(set(b for _, b in edges) | set(a for a, _ in edges))
        for i in range(n):
            if not any(a == i for a, _ in edges):
                nodes[i].serve(gossip_ms=300)
                started[i] = True
        proxies = []
        pending = [i for i in range(n) if i not in started]
        while pending:
            for i in list(pending):
                targets = [b for a, b in edges if a == i]
                if all(t in started for t in targets):
                    ports = []
                    for t in targets:
                        px = FaultProxy(nodes[t].port, rng.random())
                        proxies.append(px)
                        ports.append(px.port)
                    nodes[i].serve(gossip_ms=300, ports=ports)
                    started[i] = True
                    pending.remove(i)
        written = []
        for round_ in range(writes):
            for i, node in enumerate(nodes):
                rid = node.put("resident", "gongrencun/q/g%02d" % i,
                               "name=居民%d-%d" % (i, round_),
                               "tags+=" + rng.choice(TAGS))
                written.append(rid)
            time.sleep(rng.random() * 0.1)
        # a shared record edited everywhere at once
        shared = written[0]
        for i, node in enumerate(nodes):
            # the record may not have reached this node yet: same id and
            # scope make the edits land on one record all the same (a
            # node that lacks it writes it whole: the schema wants a name)
            node.put("resident", "gongrencun/q/g00", "name=共享%d" % i,
                     "note=from n%d" % i, rid=shared)
        time.sleep(1.0)
        for px in proxies:
            px.faulty = False
        faults = sum(px.faults for px in proxies)

        def converged():
            ds = {node.digest() for node in nodes}
            return len(ds) == 1
        secs = wait_for(converged, 60, "convergence after the faults stop")
        print("%d faults injected; converged %.1f s after they stopped"
              % (faults, secs), file=sys.stderr)
        for node in nodes:
            ids = {r["id"] for r in node.records("resident")}
            self.assertTrue(set(written) <= ids, "%s lacks records" % node.name)
        for node in nodes:
            self.assertEqual(node.stop(), 0)
        for px in proxies:
            px.stop()

    def test_five_nodes_in_a_line_through_faulty_links(self):
        self.topology([(0, 1), (1, 2), (2, 3), (3, 4)], seed=11)

    def test_five_nodes_in_a_star_through_faulty_links(self):
        self.topology([(1, 0), (2, 0), (3, 0), (4, 0)], seed=12)

    def test_a_node_rotates_through_more_peers_than_its_slots(self):
        # the hub keeps 3 outgoing connections but knows 5 peers: over time
        # it meets all of them
        nodes = self.network("hub", "p1", "p2", "p3", "p4", "p5")
        hub, peers = nodes[0], nodes[1:]
        for p in peers:
            p.serve(gossip_ms=100000)
        hub.serve(*peers, gossip_ms=150)

        def met_all():
            book = hub.run("peers", json_out=True)
            return sum(1 for p in book if p["last_sync"] != "never") == 5
        wait_for(met_all, 30, "the hub to sync with all five peers")
        for n in nodes:
            self.assertEqual(n.stop(), 0)

    def test_addresses_are_learnt_from_peers(self):
        a, b, c = self.network("a", "b", "c")
        a.serve(gossip_ms=200)
        b.serve(a, gossip_ms=200)
        c.serve(a, gossip_ms=200)

        def b_knows_c():
            return any(p["addr"] == c.addr() for p in b.run("peers", json_out=True))
        try:
            wait_for(b_knows_c, 20, "b to learn c's address through a")
        except AssertionError:
            for n in (a, b, c):
                with open(n.dir + ".log") as f:
                    print(n.name, f.read()[-3000:], file=sys.stderr)
                print(n.run("peers").stdout, file=sys.stderr)
            raise
        rid = c.put("resident", "gongrencun/q/g03", "name=丙")
        wait_for(lambda: b.run("get", "resident", rid, check=False).returncode == 0,
                 20, "c's record on b")
        for n in (c, b, a):
            self.assertEqual(n.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
