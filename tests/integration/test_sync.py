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
import subprocess
import sys
import tempfile
import time
import unittest

GS = os.environ.get("GRIDSYNC", "build/cli/gridsync")


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
        args = ["put", coll] + (["--id", rid] if rid else ["--scope", scope])
        return self.run(*args, *fields).stdout.strip()

    def digest(self, scope=None):
        args = ["status"] + (["--scope", scope] if scope else [])
        return self.run(*args, json_out=True)["digest"]

    def records(self, coll):
        return self.run("list", coll, "--deleted", json_out=True)

    def serve(self, *peers, gossip_ms=None):
        argv = [GS, "--dir", self.dir, "serve", "--listen", "127.0.0.1:0"]
        for p in peers:
            argv += ["--peer", "127.0.0.1:%d" % p.port]
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


def wait_for(cond, timeout=15.0, what="condition"):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if cond():
            return time.time() - t0
        time.sleep(0.05)
    raise AssertionError("timed out after %.0f s waiting for %s" % (timeout, what))


class SyncTest(unittest.TestCase):
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
                     "desc=楼道灯坏了 %d" % i) for i in range(20)]
        a.run("sync", office.addr())
        # a goes home; later b meets the office, never a
        b.put("visit", "gongrencun/q/g02", "notes=上门走访")
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

    def test_killed_during_a_large_sync_then_completes(self):
        a, b = self.network("a", "b")
        lines = "".join(
            json.dumps({"name": "居民%d" % i, "room": i,
                        "note": "独居老人，每周三上门探访" * 3}, ensure_ascii=False) + "\n"
            for i in range(20000))
        a.run("load", "resident", "--scope", "gongrencun/q/g01", "-", input=lines)
        b.serve()
        killed = False
        p = subprocess.Popen([GS, "--dir", a.dir, "sync", b.addr()],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # kill the serving node as soon as it holds part of the data
        t0 = time.time()
        while time.time() - t0 < 30 and p.poll() is None:
            st = b.run("status", json_out=True)
            if st["records"] > 0:
                b.stop(signal.SIGKILL)
                killed = True
                break
            time.sleep(0.02)
        p.wait(timeout=60)
        p.stderr.close()
        self.assertTrue(killed, "the sync finished before the kill")
        held = b.run("status", json_out=True)["records"]
        self.assertLess(held, 20000, "nothing left to resume")
        b.serve()  # restarts on the same directory
        out = json.loads(a.run("--json", "sync", b.addr()).stdout)
        self.assertEqual(b.run("status", json_out=True)["records"], 20000)
        self.assertEqual(a.digest(), b.digest())
        self.assertEqual(out["received"], 0)
        self.assertEqual(b.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
