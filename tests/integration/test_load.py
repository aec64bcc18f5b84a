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


# A command's peak memory (ru_maxrss, KiB), printed last. Run from a small
# process of its own: at exec, a child spawned by vfork takes its
# parent's high-water mark as its own, so a test's large strings would
# count as the command's.
PEAK = ("import os, subprocess, sys\n"
        "p = subprocess.Popen(sys.argv[1:])\n"
        "_, st, ru = os.wait4(p.pid, 0)\n"
        "print(ru.ru_maxrss)\n"
        "sys.exit(os.waitstatus_to_exitcode(st))\n")


def sanitized():
    """Is GS built with AddressSanitizer?"""
    with open(GS, "rb") as f:
        return b"__asan_init" in f.read()


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

    def test_the_first_bad_line_is_named_whoever_finds_it(self):
        """The lines are read and parsed on a thread of their own, blocks
        ahead of the checks: a failure it meets first, further on, must
        still wait for the lines before it, and the first bad line is the
        one named, whichever part finds it."""
        good = [resident(i) for i in range(12000)]
        cases = [
            # a check failure early, broken JSON far ahead
            ({700: '{"name": 5}\n', 9000: '{"name": \n'},
             "line 700: field 'name' takes text"),
            # broken JSON early, a check failure far ahead
            ({700: '{"name": \n', 9000: '{"name": 5}\n'}, "line 700: "),
            # a line over 1 MiB early, a check failure far ahead
            ({3000: '{"name": "' + "x" * (1 << 20) + '"}\n',
              9000: '{"name": 5}\n'}, "line 3000 is longer than 1 MiB"),
            # a check failure early, a line over 1 MiB far ahead
            ({3000: '{"name": 5}\n',
              9000: '{"name": "' + "x" * (1 << 20) + '"}\n'},
             "line 3000: field 'name' takes text"),
        ]
        for bad, want in cases:
            lines = list(good)
            for at, text in bad.items():
                lines[at - 1] = text
            with open(self.src, "w") as f:
                f.write("".join(lines))
            p = self.load(self.a, self.src, check=False)
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertIn(want, p.stderr)
            self.assertNotIn("line 9000", p.stderr)
            self.assertIn("nothing was stored", p.stderr)
            self.assertEqual(held(self.a), 0)

    def test_long_and_blank_lines_in_bounded_memory(self):
        """Long lines (1,000 members each: a parser of some 70 KB) among
        short ones and blank lines, placed so that each of the reading
        thread's 4 blocks x 64 parsers meets one: every record is stored
        as its line says, and a parser grown by a long line is not kept
        for the short ones after it (else the 256 parsers would hold the
        longest line each met: 25 MB and more here). The placing follows
        cli/cmd_load.c's blocks (FEED_LINES lines or FEED_BYTES bytes);
        with other sizes the test still checks the records and a bound,
        but may no longer reach every parser."""
        feed_lines, feed_bytes, feed_blocks = 64, 256 << 10, 4
        fields = ", ".join('"f%04d": %d' % (i, i) for i in range(1000))
        want, seen = {}, set()
        k = block = n = size = 0
        coll = "x_longline"
        with open(self.src, "w") as f:  # written as made: this process
            while len(seen) < feed_blocks * feed_lines:  # stays small
                slot = (block % feed_blocks, n)
                if slot in seen:
                    line = resident(k)
                else:
                    seen.add(slot)
                    line = '{"$id": "%s", "name": "长%d", %s}\n' % (
                        record_id(k), k, fields)
                want[record_id(k)] = json.loads(line)["name"]
                f.write(line)
                k += 1
                n, size = n + 1, size + len(line.encode())
                if n == feed_lines or size >= feed_bytes:
                    block, n, size = block + 1, 0, 0
                if k % 97 == 0:
                    f.write("\n")
        p = subprocess.run([sys.executable, "-c", PEAK, GS, "--dir",
                            self.a.dir, "load", coll, "--scope", SCOPE,
                            self.src], capture_output=True, text=True,
                           timeout=900)
        self.assertEqual(p.returncode, 0, p.stderr)
        peak_mb = int(p.stdout.split()[-1]) / 1024
        recs = self.a.run("list", coll, json_out=True, timeout=600)
        self.assertEqual({r["id"]: r["fields"]["name"] for r in recs}, want)
        longs = [r for r in recs if r["fields"]["name"].startswith("长")]
        self.assertEqual(len(longs), feed_blocks * feed_lines)
        self.assertEqual(longs[0]["fields"]["f0999"], 999)
        if sanitized():
            self.skipTest("the records are checked; the memory bound is "
                          "not, under AddressSanitizer (its shadow memory "
                          "and quarantine are the most of it)")
        print("long lines: %d lines, the load's peak memory %.0f MB"
              % (k, peak_mb), file=sys.stderr)
        # 23 MB here (debug and release builds); 41 MB when each parser
        # keeps what a long line grew it to
        self.assertLess(peak_mb, 32)

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
