#!/usr/bin/env python3
"""Membership a leaked invite or a wrong clock cannot break (issue 14):
real gridsync processes on loopback.

    GRIDSYNC=build/cli/gridsync python3 tests/integration/test_member.py
"""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_sync import Base, Node  # noqa: E402

G01 = "gongrencun/q/g01"


def warnings(node):
    return node.run("status", json_out=True)["warnings"]


def has_warning(node, text):
    return any(text in w for w in warnings(node))


class MemberTest(Base):
    def node(self, name):
        n = Node(self.root, name)
        self.nodes.append(n)
        n.run("init", "--name", name)
        return n

    def invite(self, role, scope):
        return self.admin.run("invite", "--role", role, "--scope",
                              scope).stdout.strip()

    def setUp(self):
        super().setUp()
        self.admin = self.node("admin")
        self.admin.run("network", "create", "工人村街道")
        self.admin.serve()

    def tearDown(self):
        if self.admin.proc:
            self.assertEqual(self.admin.stop(), 0)
        super().tearDown()

    def sync(self, n):
        n.run("sync", self.admin.addr())

    def test_a_twice_used_invite_is_warned_and_the_admin_readmits_one(self):
        code = self.invite("leader", G01)
        mine, thief = self.node("mine"), self.node("thief")
        mine.run("join", code)
        ids = [mine.put("resident", G01, "name=居民%d" % i) for i in range(2)]
        self.sync(mine)
        self.assertEqual(len(self.admin.records("resident")), 2)
        # the same code on a second laptop
        thief.run("join", code)
        thief.put("resident", G01, "name=贼")
        self.sync(thief)
        self.assertEqual(len(self.admin.records("resident")), 2)
        self.assertTrue(has_warning(self.admin, "one invite was used by two nodes"))
        self.assertIn("one invite was used by two nodes",
                      self.admin.run("report").stdout)
        self.assertTrue(any("one invite was used by two nodes" in w for w in
                            self.admin.run("report", json_out=True)["warnings"]))
        states = {m["id"]: m["state"] for m in
                  self.admin.run("members", json_out=True)["members"]}
        mid = mine.run("id").stdout.strip()
        tid = thief.run("id").stdout.strip()
        self.assertEqual(states[mid], "leaked")
        self.assertEqual(states[tid], "leaked")
        # a fresh office that meets the admin now holds her writes back,
        # and says why
        fresh = self.node("fresh")
        fresh.run("join", self.invite("office", "gongrencun"))
        self.sync(fresh)
        self.assertEqual(len(fresh.records("resident")), 0)
        self.assertTrue(has_warning(fresh, "one invite was used by two nodes"))
        # her own node tells her what happened and what to do
        self.sync(mine)
        self.assertTrue(has_warning(mine, "used on another computer"))
        p = mine.run("put", "resident", "--scope", G01, "name=再写", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("gridsync readmit", p.stderr)
        self.assertIn("new invite to join again", p.stderr, "cut short")
        self.assertEqual(p.stderr.count("\n"), 1)
        # the admin keeps her key: her earlier writes count again everywhere
        p = self.admin.run("readmit", mid)
        self.assertIn("re-admitted", p.stdout)
        self.assertFalse(has_warning(self.admin, "one invite was used by two nodes"))
        self.sync(fresh)
        self.assertEqual(sorted(r["id"] for r in fresh.records("resident")),
                         sorted(ids))
        self.assertEqual(fresh.digest(G01), self.admin.digest(G01))
        self.sync(mine)
        mine.put("resident", G01, "name=再写")
        self.sync(mine)
        self.assertEqual(len(self.admin.records("resident")), 3)
        # the other key is void; with a fresh code of its own it joins again
        self.sync(thief)
        p = thief.run("put", "resident", "--scope", G01, "name=贼2", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("new invite", p.stderr)
        p = thief.run("join", code, check=False)
        self.assertEqual(p.returncode, 1, "the leaked code again")
        self.assertIn("ask the admin for a new invite", p.stderr)
        thief.run("join", self.invite("leader", "gongrencun/q/g02"))
        thief.put("resident", "gongrencun/q/g02", "name=新来的")
        self.sync(thief)
        self.assertEqual(len(self.admin.records("resident")), 4)
        self.assertNotIn("贼", [r["fields"]["name"]
                               for r in self.admin.records("resident")])

    def test_an_expired_invite_stays_expired_on_a_clock_set_back(self):
        code = self.admin.run("invite", "--role", "leader", "--scope", G01,
                              "--expires", "1").stdout.strip()
        late = self.node("late")
        # two days later, on a laptop whose clock was set back a year
        now = int(time.time() * 1000)
        os.environ["GRIDSYNC_NOW_MS"] = str(now - 365 * 86400000)
        try:
            late.run("join", code)
            late.put("resident", G01, "name=迟到")
        finally:
            del os.environ["GRIDSYNC_NOW_MS"]
        self.assertEqual(self.admin.stop(), 0)
        os.environ["GRIDSYNC_NOW_MS"] = str(now + 2 * 86400000)
        try:
            self.admin.serve()
            self.sync(late)
            self.sync(late)
            self.assertEqual(len(self.admin.records("resident")), 0)
            states = {m["id"]: m["state"] for m in
                      self.admin.run("members", json_out=True)["members"]}
            self.assertEqual(states[late.run("id").stdout.strip()],
                             "unconfirmed")
            self.assertTrue(has_warning(self.admin, "before the invite expired"))
            # a fresh code, used in time, lets it in with what it wrote
            late.run("join", self.invite("leader", G01))
            self.sync(late)
            self.assertEqual(len(self.admin.records("resident")), 1)
        finally:
            self.assertEqual(self.admin.stop(), 0)
            del os.environ["GRIDSYNC_NOW_MS"]

    def test_after_a_key_rotation_the_revoked_node_cannot_connect(self):
        leader, lost = self.node("leader"), self.node("lost")
        usb = self.node("usb")
        leader.run("join", self.invite("leader", G01))
        lost.run("join", self.invite("leader", "gongrencun/q/g02"))
        usb.run("join", self.invite("leader", "gongrencun/q/g03"))
        for n in (leader, lost, usb):
            self.sync(n)
        lost_id = lost.run("id").stdout.strip()
        self.admin.run("revoke", lost_id)
        out = self.admin.run("network", "rotate-key", "--grace", "1",
                             json_out=True)
        self.assertEqual(out["epoch"], 2)
        self.assertEqual(out["members"], 2)
        # during the grace period the old key still works: the leader gets
        # the new one sealed to it; the revoked node is refused by name
        self.sync(leader)
        # a member who meets nobody gets it on a USB stick (old key)
        stick = os.path.join(self.root, "during.gsb")
        self.admin.run("export", stick)
        usb.run("import", stick)
        self.assertFalse(lost.run("sync", self.admin.addr(), check=False)
                         .returncode == 0)
        # two hours later (every clock moved on)
        self.assertEqual(self.admin.stop(), 0)
        os.environ["GRIDSYNC_NOW_MS"] = str(int(time.time() * 1000) +
                                            2 * 3600000)
        try:
            self.admin.serve()
            leader.put("resident", G01, "name=新钥匙")
            self.sync(leader)
            self.assertEqual(len(self.admin.records("resident")), 1)
            p = lost.run("sync", self.admin.addr(), check=False)
            self.assertEqual(p.returncode, 1)
            self.assertIn("handshake", p.stderr)
            # a bundle of the admin's opens for the leader, not for it
            path = os.path.join(self.root, "after.gsb")
            self.admin.run("export", path)
            leader.run("import", path)
            usb.run("import", path)
            p = lost.run("import", path, check=False)
            self.assertEqual(p.returncode, 1)
            self.sync(usb)  # and it syncs on the new key
        finally:
            self.assertEqual(self.admin.stop(), 0)
            del os.environ["GRIDSYNC_NOW_MS"]


class SeededCommunityTest(Base):
    """A seeded community reaches a grid's leader whole: nothing the
    office wrote is held there (a change held at a member holds every
    later change of its author, so one is a network-wide stall)."""

    def test_every_leader_holds_nothing_of_a_seeded_community(self):
        office = Node(self.root, "office")
        self.nodes.append(office)
        office.run("init", "--name", "office")
        office.run("network", "create", "工人村街道")
        office.run("demo", "seed", "--seed", "1", "--until", "2026-11-30",
                   "--households", "1200")
        scopes = sorted({r["scope"] for r in office.records("resident")})
        self.assertGreater(len(scopes), 1)
        office.serve()
        try:
            for i, scope in enumerate(scopes):
                leader = Node(self.root, "leader%d" % i)
                self.nodes.append(leader)
                leader.run("init", "--name", "leader%d" % i)
                leader.run("join", office.run(
                    "invite", "--role", "leader", "--scope",
                    scope).stdout.strip())
                leader.run("sync", office.addr())
                st = leader.run("status", json_out=True)
                self.assertEqual(st["held"], [],
                                 "%s holds changes: %s" % (scope, st))
                mine = [r for r in office.records("resident")
                        if r["scope"] == scope]
                self.assertEqual(len(leader.records("resident")), len(mine))
        finally:
            self.assertEqual(office.stop(), 0)

    def test_a_time_bank_entry_goes_under_its_persons_scope(self):
        n = Node(self.root, "office")
        self.nodes.append(n)
        n.run("init", "--name", "office")
        n.run("network", "create", "工人村街道")
        unit = n.put("unit", "gongrencun/q", "name=华联超市")
        p = n.run("timebank", "deposit", "华联超市", "4", "--scope",
                  "gongrencun/q/g01", check=False)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("time-bank entry goes in the grid of its person",
                      p.stderr)
        self.assertEqual(n.records("timebank"), [])
        # where the unit is, it is taken
        n.run("timebank", "deposit", "华联超市", "4")
        [e] = n.records("timebank")
        self.assertEqual(e["scope"], "gongrencun/q")
        self.assertIn(unit, str(e["fields"]["person"]))

if __name__ == "__main__":
    unittest.main(verbosity=2)
