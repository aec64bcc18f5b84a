#!/usr/bin/env python3
"""Store formats 3 to 6 (issue 20) with real processes. A store that
a gridsync of an older store format (GRIDSYNC_OLD, of format
GRIDSYNC_OLD_FORMAT: 2 to 5, e.g. main before format 3, 4, 5 or 6) made
and loaded is upgraded as this build opens it; killed (SIGKILL) while it
rewrites the records or the hist keys, it resumes at the next open. Both end with the
records the old build showed, squeezed by a dictionary trained from them
(format 6), and with the same state digest (from format 3: the old
build's own); the old build then refuses the store with a
clear error instead of misreading it.

    GRIDSYNC=build/cli/gridsync GRIDSYNC_OLD=/path/to/old/gridsync \
        GRIDSYNC_OLD_FORMAT=4 python3 tests/integration/test_format_old.py

Without GRIDSYNC_OLD it is skipped (the upgrade, its resumption and the
digest are proved without one by tests/unit/storage/test_store_upgrade.c).
"""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_sync import GS, Base, Node, wait_for  # noqa: E402
from test_load import write_lines  # noqa: E402

OLD = os.environ.get("GRIDSYNC_OLD")
OLD_FORMAT = int(os.environ.get("GRIDSYNC_OLD_FORMAT", "2"))
LINES = 40000


def run(exe, d, *args, check=True):
    p = subprocess.run([exe, "--dir", d] + list(args), capture_output=True,
                       text=True, timeout=600)
    if check and p.returncode != 0:
        raise AssertionError("%s %s: %d\n%s" % (exe, args, p.returncode,
                                                p.stderr))
    return p


def content(exe, d):
    recs = json.loads(run(exe, d, "--json", "list", "resident").stdout)
    h = hashlib.sha256()
    for r in sorted(recs, key=lambda r: r["id"]):
        h.update(json.dumps([r["id"], r["scope"], r["fields"]],
                            sort_keys=True, ensure_ascii=False).encode())
    return len(recs), h.hexdigest()


def meta_keys(d):
    """The meta database's keys (they are never sealed), by mdb_dump."""
    p = subprocess.run(["mdb_dump", "-p", "-s", "meta", d],
                       capture_output=True, text=True)
    if p.returncode != 0:
        return None
    lines = p.stdout.split("HEADER=END\n", 1)[-1].splitlines()
    return [lines[i].strip() for i in range(0, len(lines) - 1, 2)
            if lines[i] != "DATA=END"]


def upgrade_marks(d):
    """The upgrade's marks left in the store (records', changes', hist
    keys'): none once it is done."""
    return [k for k in meta_keys(d) or [] if k.startswith("upgrade")]


@unittest.skipUnless(OLD, "needs GRIDSYNC_OLD, a gridsync of an older store "
                     "format, to make a store of that format")
class FormatOld(Base):
    def test_old_store_upgraded_killed_and_resumed(self):
        if not shutil.which("mdb_dump"):
            self.skipTest("needs mdb_dump (lmdb-utils) to see the upgrade "
                          "mark")
        a = os.path.join(self.root, "a")
        run(OLD, a, "init")
        lines = os.path.join(self.root, "lines.jsonl")
        write_lines(lines, LINES)
        run(OLD, a, "load", "resident", "--scope", "gongrencun/qinghejv/g07",
            lines)
        rid = json.loads(run(OLD, a, "--json", "list", "resident").stdout)[7]["id"]
        for i in range(3):  # a history of four changes, by hlc
            run(OLD, a, "put", "resident", "--id", rid, "--scope",
                "gongrencun/qinghejv/g07", "note=改%d" % i)
        before = content(OLD, a)
        self.assertEqual(before[0], LINES)
        digest_old = json.loads(run(OLD, a, "--json", "status").stdout)["digest"]
        hist_before = run(OLD, a, "--json", "history", "resident", rid).stdout
        self.assertEqual(len(json.loads(hist_before)), 4)
        orig = os.path.join(self.root, "orig")
        shutil.copytree(a, orig)
        b = os.path.join(self.root, "b")

        # a: upgraded in one open, saying so as it goes
        p = run(GS, a, "status")
        self.assertIn("upgrading the store to this version's format:",
                      p.stderr)
        self.assertIn("compacting the store", p.stderr)
        self.assertLess(p.stderr.index("upgrading"),
                        p.stderr.index("compacting"))
        self.assertEqual(upgrade_marks(a), [])
        self.assertIn("zdict:1", meta_keys(a),
                      "a dictionary trained from the records (format 6)")
        self.assertEqual(content(GS, a), before)
        self.assertEqual(
            run(GS, a, "--json", "history", "resident", rid).stdout,
            hist_before, "its history, through hist keys without the hlc")
        digest_a = json.loads(run(GS, a, "--json", "status").stdout)["digest"]
        if OLD_FORMAT >= 3:  # the digest hashes version-3 bytes since
            self.assertEqual(digest_a, digest_old,
                             "the old build's digest: peers compare equal")

        # b: killed while it rewrites (an upgrade's mark is there), then
        # opened again
        killed = False
        for _ in range(5):
            if os.path.exists(b):
                shutil.rmtree(b)
            shutil.copytree(orig, b)
            p = subprocess.Popen([GS, "--dir", b, "status"],
                                 stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            deadline = time.time() + 120
            while p.poll() is None and time.time() < deadline:
                if upgrade_marks(b):
                    p.send_signal(signal.SIGKILL)
                    killed = True
                    break
                time.sleep(0.002)
            p.wait()
            if killed:
                break
        if killed:
            self.assertTrue(upgrade_marks(b), "killed half-way")
            p = run(OLD, b, "status", check=False)
            self.assertNotEqual(p.returncode, 0,
                                "the old build refuses the upgraded store")
        run(GS, b, "status")
        self.assertEqual(upgrade_marks(b), [])
        self.assertEqual(content(GS, b), before)
        self.assertEqual(
            run(GS, b, "--json", "history", "resident", rid).stdout,
            hist_before)
        digest_b = json.loads(run(GS, b, "--json", "status").stdout)["digest"]
        self.assertEqual(digest_a, digest_b,
                         "upgraded at once or killed and resumed: one state")
        if not killed:
            self.skipTest("the upgrade finished before it could be killed "
                          "(the rest was checked)")

    def test_old_changes_verify_and_chain_on_in_the_new_format(self):
        # changes of format version 1 (the old build's: its membership and
        # its records), upgraded in place, then a version-2 change on the
        # same feed (its prev the version-1 change's hash), all received
        # by a new node, which verifies every signature and the chain
        a = Node(self.root, "a")
        self.nodes.append(a)
        s = "gongrencun/qinghejv/g07"
        run(OLD, a.dir, "init")
        run(OLD, a.dir, "network", "create", "工人村街道")
        rid = run(OLD, a.dir, "put", "resident", "--scope", s,
                  "name=王秀英").stdout.strip()
        run(OLD, a.dir, "put", "resident", "--id", rid, "--scope", s,
            "note=旧版本写的")
        run(GS, a.dir, "status")  # upgraded
        run(GS, a.dir, "put", "resident", "--id", rid, "--scope", s,
            "phone=13900001111")
        code = run(GS, a.dir, "invite", "--role", "office", "--scope",
                   "gongrencun").stdout.strip()
        c = Node(self.root, "c")
        self.nodes.append(c)
        c.run("init")
        c.run("join", code)
        a.serve()
        out = json.loads(c.run("--json", "sync", a.addr()).stdout)
        self.assertGreaterEqual(out["received"], 3, out)
        rec = c.run("get", "resident", rid, json_out=True)
        self.assertEqual(rec["fields"]["name"], "王秀英")
        self.assertEqual(rec["fields"]["note"], "旧版本写的")
        self.assertEqual(rec["fields"]["phone"], "13900001111")
        wait_for(lambda: a.digest() == c.digest(), 10, "equal digests")
        st = c.run("status", json_out=True)
        self.assertIn("quarantined", st)
        self.assertFalse(st["quarantined"], "no feed refused: %s" % st)
        self.assertEqual(st["refused"]["count"], 0, st)
        self.assertEqual(st["forks"], 0, st)

    def test_old_build_refuses_a_new_store(self):
        d = os.path.join(self.root, "new")
        run(GS, d, "init")
        p = run(OLD, d, "status", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertTrue(p.stderr.strip(), "an error is said")
        self.assertEqual(run(GS, d, "status").returncode, 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
