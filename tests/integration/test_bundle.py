#!/usr/bin/env python3
"""Offline bundles between real gridsync processes (no network at all)."""
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_sync import GS, Base, Node  # noqa: E402


class BundleTest(Base):
    def setUp(self):
        super().setUp()
        self.office, self.a, self.b = self.network("office", "a", "b")
        self.stick = os.path.join(self.root, "usb")
        os.mkdir(self.stick)
        # the members' claims count once the admin has seen them before
        # their invites expire: a bundle to the admin and one back
        for n in (self.a, self.b):
            n.run("export", self.f("claim.gsb"))
            self.office.run("import", self.f("claim.gsb"))
        self.office.run("export", self.f("witness.gsb"))
        for n in (self.a, self.b):
            n.run("import", self.f("witness.gsb"))
        os.unlink(self.f("claim.gsb"))
        os.unlink(self.f("witness.gsb"))

    def f(self, name):
        return os.path.join(self.stick, name)

    def test_export_import_and_idempotence(self):
        ids = [self.a.put("visit", "gongrencun/q/g01", "notes=上门走访%d" % i,
                           "by=李网格员", "date=2026-11-20")
               for i in range(30)]
        out = json.loads(self.a.run("--json", "export", self.f("a.gsb")).stdout)
        self.assertGreaterEqual(out["changes"], 30)
        info = self.office.run("bundle", "info", self.f("a.gsb"), json_out=True)
        self.assertEqual(info["network"], "工人村街道")
        self.assertEqual(info["sender"], self.a.run("id").stdout.strip())
        self.assertEqual(info["changes"], out["changes"])
        r = self.office.run("import", self.f("a.gsb"), json_out=True)
        self.assertEqual(r["added"], 30)  # the claims it held already
        self.assertEqual(r["added"] + r["already_held"], out["changes"])
        got = {x["id"] for x in self.office.records("visit")}
        self.assertEqual(got, set(ids))
        d = self.office.digest()
        r = self.office.run("import", self.f("a.gsb"), json_out=True)
        self.assertEqual(r["added"], 0)
        self.assertEqual(self.office.digest(), d)
        # nothing of the contents shows in the file
        with open(self.f("a.gsb"), "rb") as fh:
            raw = fh.read()
        self.assertNotIn("上门走访".encode(), raw)
        self.assertNotIn(b"visit", raw)

    def test_order_of_bundles_does_not_matter(self):
        self.a.put("resident", "gongrencun/q/g01", "name=甲1")
        self.a.run("export", self.f("a1.gsb"))
        self.a.put("resident", "gongrencun/q/g01", "name=甲2")
        self.a.run("export", self.f("a2.gsb"))
        self.b.put("resident", "gongrencun/q/g02", "name=乙")
        self.b.run("export", self.f("b.gsb"))
        x = Node(self.root, "x")
        y = Node(self.root, "y")
        self.nodes += [x, y]
        for n in (x, y):
            n.run("init")
            n.run("join", self.office.run("invite", "--role", "reader",
                                          "--scope", "gongrencun").stdout.strip())
        for name in ("a2.gsb", "a1.gsb", "b.gsb"):   # newer before older
            x.run("import", self.f(name))
        for name in ("b.gsb", "a1.gsb", "a2.gsb"):
            y.run("import", self.f(name))
        self.assertEqual(x.digest("gongrencun"), y.digest("gongrencun"))
        self.assertEqual(len(x.records("resident")), 3)

    def test_damaged_and_foreign_bundles_are_refused_whole(self):
        for i in range(5):
            self.a.put("resident", "gongrencun/q/g01", "name=甲%d" % i)
        self.a.run("export", self.f("a.gsb"))
        with open(self.f("a.gsb"), "rb") as fh:
            good = fh.read()
        before = self.office.digest()
        rng = random.Random(7)
        positions = sorted(set([0, 4, 5, 8, 9, len(good) - 1, len(good) - 17] +
                               [rng.randrange(len(good)) for _ in range(60)]))
        for pos in positions:
            bad = bytearray(good)
            bad[pos] ^= 1 << rng.randrange(8)
            with open(self.f("bad.gsb"), "wb") as fh:
                fh.write(bad)
            p = self.office.run("import", self.f("bad.gsb"), check=False)
            self.assertEqual(p.returncode, 1, "flip at %d imported" % pos)
            self.assertEqual(p.stderr.count("\n"), 1)
        for cut in (0, 3, 9, 40, len(good) // 2, len(good) - 1):
            with open(self.f("cut.gsb"), "wb") as fh:
                fh.write(good[:cut])
            p = self.office.run("import", self.f("cut.gsb"), check=False)
            self.assertEqual(p.returncode, 1, "cut at %d imported" % cut)
        self.assertEqual(self.office.digest(), before, "a refused bundle left data")
        # a bundle of another network
        other = Node(self.root, "other")
        self.nodes.append(other)
        other.run("init")
        other.run("network", "create", "别的街道")
        other.put("resident", "x/y/z", "name=外人")
        other.run("export", self.f("other.gsb"))
        p = self.office.run("import", self.f("other.gsb"), check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("别的街道", p.stderr)
        self.assertEqual(self.office.digest(), before)
        # the good one still goes in
        self.office.run("import", self.f("a.gsb"))
        self.assertEqual(len(self.office.records("resident")), 5)

    def test_since_and_for(self):
        for i in range(3):
            self.a.put("resident", "gongrencun/q/g01", "name=甲%d" % i)
        self.a.run("export", self.f("all.gsb"))
        self.office.run("import", self.f("all.gsb"))
        self.office.run("vv", self.f("office.vv"))
        self.a.put("resident", "gongrencun/q/g01", "name=新的")
        out = json.loads(self.a.run("--json", "export", self.f("new.gsb"),
                                    "--since", self.f("office.vv")).stdout)
        self.assertEqual(out["changes"], 1)
        r = self.office.run("import", self.f("new.gsb"), json_out=True)
        self.assertEqual(r["added"], 1)
        # for a leader of g01: only g01 (and membership)
        self.office.put("resident", "gongrencun/q/g02", "name=别处")
        leader = Node(self.root, "leader")
        self.nodes.append(leader)
        leader.run("init")
        leader.run("join", self.office.run("invite", "--role", "leader", "--scope",
                                           "gongrencun/q/g01").stdout.strip())
        leader.run("export", self.f("claim.gsb"))
        self.office.run("import", self.f("claim.gsb"))
        lid = leader.run("id").stdout.strip()
        self.office.run("export", self.f("for.gsb"), "--for", lid)
        leader.run("import", self.f("for.gsb"))
        names = sorted(r["fields"]["name"] for r in leader.records("resident"))
        self.assertNotIn("别处", names)
        self.assertIn("新的", names)

    def test_a_leader_stores_only_what_its_role_may_read(self):
        """issue 14, property 9: import drops (and counts) the scopes this
        node may not read; an office's export for a leader holds only what
        the leader may read."""
        self.a.put("resident", "gongrencun/q/g01", "name=本格")
        self.a.put("resident", "gongrencun/q/g02", "name=别格")
        self.a.run("export", self.f("a.gsb"))
        self.office.run("import", self.f("a.gsb"))
        leader = Node(self.root, "leader")
        self.nodes.append(leader)
        leader.run("init")
        leader.run("join", self.office.run("invite", "--role", "leader", "--scope",
                                           "gongrencun/q/g01").stdout.strip())
        leader.run("export", self.f("claim.gsb"))
        self.office.run("import", self.f("claim.gsb"))
        lid = leader.run("id").stdout.strip()
        # the office's export for the leader holds no g02 change
        full = self.office.run("--json", "export", self.f("full.gsb"),
                               json_out=True)
        mine = self.office.run("--json", "export", self.f("for.gsb"), "--for",
                               lid, json_out=True)
        self.assertLess(mine["changes"], full["changes"])
        r = leader.run("import", self.f("for.gsb"), json_out=True)
        self.assertEqual(r["not_readable"], 0)
        self.assertEqual(r["refused"], 0)
        self.assertEqual(r["held"], 0)
        # a whole bundle (the office's full one): g02 is counted and dropped
        r = leader.run("import", self.f("full.gsb"), json_out=True)
        self.assertGreaterEqual(r["not_readable"], 1)
        p = leader.run("import", self.f("full.gsb"))
        self.assertIn("may not read", p.stdout)
        names = sorted(x["fields"]["name"] for x in leader.records("resident"))
        self.assertEqual(names, ["本格"])
        self.assertEqual(leader.digest("gongrencun/q/g01"),
                         self.office.digest("gongrencun/q/g01"))

    def test_export_is_atomic(self):
        self.a.put("resident", "gongrencun/q/g01", "name=甲")
        ro = os.path.join(self.root, "ro")
        os.mkdir(ro)
        os.chmod(ro, 0o500)
        try:
            p = self.a.run("export", os.path.join(ro, "x.gsb"), check=False)
            if os.geteuid() != 0:  # root writes anywhere
                self.assertEqual(p.returncode, 1)
                self.assertEqual(os.listdir(ro), [])
        finally:
            os.chmod(ro, 0o700)
        p = self.a.run("export", os.path.join(self.root, "nodir", "x.gsb"),
                       check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("nothing written", p.stderr)
        # replacing an old bundle leaves the old or the new, never a mix
        self.a.run("export", self.f("same.gsb"))
        self.a.put("resident", "gongrencun/q/g01", "name=乙")
        self.a.run("export", self.f("same.gsb"))
        self.assertEqual(sorted(os.listdir(self.stick)), ["same.gsb"])
        self.office.run("import", self.f("same.gsb"))
        self.assertEqual(len(self.office.records("resident")), 2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
