#!/usr/bin/env python3
"""`gridsync load` in bounded memory (issue 20), with real processes: a
bad line anywhere stores nothing, a load killed in the middle resumes
when run again (no record twice), standard input, an "$id" named twice.

    GRIDSYNC=build/cli/gridsync python3 tests/integration/test_load.py
"""
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_sync import GS, Base  # noqa: E402

SCOPE = "gongrencun/qinghejv/g07"
LINES = 200000
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def record_id(k):
    """A valid record id for the number k (the same on every run)."""
    v, out = (k + 1) << 2, ""
    while v:
        out = CROCKFORD[v & 31] + out
        v >>= 5
    return "06" + out.rjust(24, "0")


def resident(i):
    return json.dumps({"$id": record_id(i), "name": "居民%d" % i,
                       "building": str(1 + i % 19),
                       "tags": ["elderly"] if i % 3 else ["lives-alone"]},
                      ensure_ascii=False) + "\n"


def write_lines(path, n, bad_at=None):
    with open(path, "w") as f:
        for i in range(n):
            if bad_at is not None and i + 1 == bad_at:
                f.write('{"name": 5}\n')  # name takes text
            else:
                f.write(resident(i))


def held(node):
    return node.run("status", json_out=True)["records"]


def content(node):
    """What the node holds, without stamps (the store's digest covers the
    stamps, which two loads never share): a digest of id -> fields."""
    recs = node.run("list", "resident", json_out=True, timeout=600)
    h = hashlib.sha256()
    for r in sorted(recs, key=lambda r: r["id"]):
        h.update(json.dumps([r["id"], r["scope"], r["fields"]],
                            sort_keys=True, ensure_ascii=False).encode())
    return len(recs), h.hexdigest()


class LoadTest(Base):
    def setUp(self):
        super().setUp()
        (self.a,) = self.network("a")
        self.src = os.path.join(self.root, "residents.jsonl")

    def load(self, node, *args, check=True, input=None):
        return node.run("load", "resident", "--scope", SCOPE, *args,
                        check=check, input=input, timeout=900)

    def test_a_bad_line_stores_nothing_and_is_named(self):
        write_lines(self.src, LINES, bad_at=150000)
        p = self.load(self.a, self.src, check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("line 150000: field 'name' takes text", p.stderr)
        self.assertIn("nothing was stored", p.stderr)
        self.assertEqual(held(self.a), 0)
        # the same lines without the bad one load whole
        write_lines(self.src, 1000)
        self.load(self.a, self.src)
        self.assertEqual(held(self.a), 1000)

    def test_killed_in_the_middle_then_rerun_loads_each_line_once(self):
        write_lines(self.src, LINES)
        # b: the load killed (SIGKILL) after its first batches committed
        b = self.network_node("b")
        p = subprocess.Popen([GS, "--dir", b.dir, "load", "resident",
                              "--scope", SCOPE, self.src],
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        t0 = time.time()
        while p.poll() is None and time.time() - t0 < 600:
            s = b.run("status", json_out=True, check=False)
            if isinstance(s, dict) and s["records"] > 0:
                break  # a batch is committed: kill it now
            time.sleep(0.05)
        p.send_signal(signal.SIGKILL)
        p.wait()
        self.assertEqual(p.returncode, -signal.SIGKILL,
                         "the load ended before it was killed")
        part = held(b)
        self.assertGreater(part, 0, "no batch was committed")
        self.assertLess(part, LINES)
        # the same command again goes on from the mark
        r = self.load(b, self.src)
        self.assertIn("an earlier run of this load stored lines 1 to",
                      r.stderr)
        self.assertEqual(held(b), LINES)
        # a: the same file loaded uninterrupted; the same content
        self.load(self.a, self.src)
        self.assertEqual(held(self.a), LINES)
        self.assertEqual(content(b), content(self.a))
        # the mark is gone: the load is done (a new run would add again,
        # and here is refused: every "$id" is held)
        r = self.load(b, self.src, check=False)
        self.assertEqual(r.returncode, 1)
        self.assertNotIn("earlier run", r.stderr)
        self.assertIn("exists: load adds new records", r.stderr)
        self.assertEqual(held(b), LINES)

    def network_node(self, name):
        from test_sync import Node
        n = Node(self.root, name)
        self.nodes.append(n)
        n.run("init", "--name", name)
        n.run("network", "create", "工人村街道")
        return n

    def test_standard_input_and_an_id_named_twice(self):
        text = "".join(resident(i) for i in range(30))
        self.load(self.a, "-", input=text)
        self.assertEqual(held(self.a), 30)
        twice = resident(100) + resident(101) + resident(100)
        p = self.load(self.a, "-", input=twice, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("line 3", p.stderr)
        self.assertIn("named twice", p.stderr)
        self.assertEqual(held(self.a), 30)
        # a line is bounded before it is kept: 2 MiB with no newline
        p = self.load(self.a, "-", input='{"name": "' + "x" * (2 << 20),
                      check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("line 1 is longer than 1 MiB", p.stderr)
        # a NUL byte after the object is not the end of the line
        p = self.load(self.a, "-", input=resident(200)[:-1] + "\0x\n",
                      check=False)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(held(self.a), 30)
        # no working copy of the input is left in the node's directory
        self.assertEqual([f for f in os.listdir(self.a.dir)
                          if f.startswith(".load-")], [])


if __name__ == "__main__":
    unittest.main()
