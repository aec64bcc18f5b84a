#!/usr/bin/env python3
"""Integration tests of issue 14 with real gridsync processes on loopback:
a member whose clock is days ahead, two offices holding different
branches of a forked feed, and a session showing nothing to a node
without a valid claim.

    GRIDSYNC=build/cli/gridsync python3 tests/integration/test_guard.py
"""
import contextlib
import os
import shutil
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_sync import Base, Node, wait_for  # noqa: E402

DAY_MS = 24 * 3600 * 1000


@contextlib.contextmanager
def clock(ms):
    """Processes started inside see this wall clock (GRIDSYNC_NOW_MS)."""
    old = os.environ.get("GRIDSYNC_NOW_MS")
    os.environ["GRIDSYNC_NOW_MS"] = str(int(ms))
    try:
        yield
    finally:
        if old is None:
            del os.environ["GRIDSYNC_NOW_MS"]
        else:
            os.environ["GRIDSYNC_NOW_MS"] = old


def date_of(ms):
    return time.strftime("%Y-%m-%d", time.gmtime(ms / 1000))


class GuardTest(Base):
    def test_a_member_with_a_clock_days_ahead_is_held_not_applied(self):
        office, m, c = self.network("office", "m", "c")
        now = int(time.time() * 1000)
        ahead = now + 3 * DAY_MS
        with clock(ahead):
            rid = m.put("resident", "gongrencun/q/g01", "name=未来人")
            # an ordinary write of the office, before and after
        office.put("resident", "gongrencun/q/g02", "name=办公室")
        office.serve()
        with clock(ahead):
            m.run("sync", office.addr())
        st = office.run("status", json_out=True)
        mid = m.run("id").stdout.strip()
        self.assertGreaterEqual(len(st["held"]), 1, st["held"])
        self.assertIn(mid, st["clock_ahead"])
        self.assertTrue(all(h["author"] == mid for h in st["held"]))
        # not applied: the office does not hold the record
        self.assertNotEqual(office.run("get", "resident", rid,
                                       check=False).returncode, 0)
        # nor relayed: another member syncing with the office lacks it
        c.run("sync", office.addr())
        self.assertNotEqual(c.run("get", "resident", rid,
                                  check=False).returncode, 0)
        self.assertEqual(c.run("status", json_out=True)["held"], [])
        # the office's clock did not move into the future, and it writes
        self.assertLess(st["clock"]["ahead_ms"], 60 * 1000)
        office.put("resident", "gongrencun/q/g02", "name=照常写")
        # both were told plainly, with both dates
        self.assertIsNotNone(st["peer_clock"])
        warn = " ".join(st["warnings"])
        self.assertIn("this computer's date is %s" % date_of(now), warn)
        self.assertIn(date_of(ahead), warn)
        self.assertIn("clock ahead", office.run("status").stdout)
        with clock(ahead):
            mst = m.run("status", json_out=True)
        self.assertIn("this computer's date is %s" % date_of(ahead),
                      " ".join(mst["warnings"]))
        # the member got the office's records (only its own were held)
        with clock(ahead):
            names = [r["fields"]["name"] for r in m.records("resident")]
        self.assertIn("办公室", names)
        self.assertEqual(office.stop(), 0)
        # three days later (the office's clock caught up): applied
        with clock(ahead + 1000):
            office.serve()
            wait_for(lambda: office.run("get", "resident", rid,
                                        check=False).returncode == 0,
                     10, "the held record applied")
            st = office.run("status", json_out=True)
            self.assertEqual(st["held"], [])
            self.assertEqual(office.stop(), 0)

    def test_two_offices_with_a_forked_feed_report_it_and_sync_the_rest(self):
        o1, o2, m = self.network("o1", "o2", "m")
        m.put("resident", "gongrencun/q/g01", "name=分叉前")
        m.run("sync", self.served(o1))
        o1.stop()
        # the laptop is restored from a backup onto a second one: both go
        # on writing with the same key (an equal-length fork)
        m2 = Node(self.root, "m2")
        self.nodes.append(m2)
        shutil.copytree(m.dir, m2.dir)
        m.put("resident", "gongrencun/q/g01", "name=分支一")
        m2.put("resident", "gongrencun/q/g01", "name=分支二")
        m.run("sync", self.served(o1))
        o1.stop()
        m2.run("sync", self.served(o2))
        o2.stop()
        # each office writes its own work too
        r1 = o1.put("resident", "gongrencun/q/g05", "name=一办")
        r2 = o2.put("resident", "gongrencun/q/g06", "name=二办")
        o2.serve()
        p = o1.run("sync", o2.addr(), check=False)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(o2.stop(), 0)
        mid = m.run("id").stdout.strip()
        for o in (o1, o2):
            st = o.run("status", json_out=True)
            bad = [b for b in st["quarantined"] if b["author"] == mid]
            self.assertEqual(len(bad), 1, (o.name, st["quarantined"]))
            self.assertTrue(bad[0]["frozen"])
            self.assertIn("fork", bad[0]["reason"])
            self.assertGreaterEqual(st["forks"], 1)
            self.assertIn("bad feed", o.run("status").stdout)
            # everything else synced both ways
            self.assertEqual(o.run("get", "resident", r1,
                                   check=False).returncode, 0)
            self.assertEqual(o.run("get", "resident", r2,
                                   check=False).returncode, 0)
        # and a later sync still works (no "broken hash chain" forever)
        r3 = o2.put("resident", "gongrencun/q/g06", "name=之后")
        o2.serve()
        p = o1.run("sync", o2.addr(), check=False)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(o1.run("get", "resident", r3,
                                check=False).returncode, 0)
        self.assertEqual(o2.stop(), 0)

    def test_a_node_without_a_valid_claim_is_shown_nothing(self):
        office, a = self.network("office", "a")
        office.put("resident", "gongrencun/q/g01", "name=保密")
        # an invite used on two laptops: both claims are held until the
        # admin re-admits one of the keys
        code = office.run("invite", "--role", "office", "--scope",
                          "gongrencun").stdout.strip()
        x, y = Node(self.root, "x"), Node(self.root, "y")
        self.nodes += [x, y]
        for n in (x, y):
            n.run("init")
            n.run("join", code)
        a.run("sync", self.served(office))
        x.run("sync", office.addr(), check=False)
        y.run("sync", office.addr(), check=False)
        office.stop()
        # y meets the office again: its claim counts for nothing yet, so it
        # is shown no record; the membership records it is shown (that is
        # how the admin's re-admission would reach it), and its node says
        # what happened
        y.run("sync", self.served(office), check=False)
        self.assertEqual(office.stop(), 0)
        self.assertEqual(y.records("resident"), [])
        st = y.run("status", json_out=True)
        self.assertTrue(any("used on another computer" in w
                            for w in st["warnings"]), st["warnings"])
        # while a valid member (a) holds x's and its own
        self.assertGreaterEqual(len(a.records("member")), 1)
        # a valid member (a) received the office's records besides its own
        self.assertEqual(len(a.records("resident")), 1)

    def test_stalled_handshakes_from_four_addresses_do_not_lock_out(self):
        a, b = self.network("a", "b")
        a.serve()
        stalled = []
        # four hosts, each filling its share of handshake slots and more
        for host in ("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"):
            for _ in range(6):
                s = socket.socket()
                s.bind((host, 0))
                try:
                    s.connect(("127.0.0.1", a.port))
                except OSError:
                    s.close()
                    continue
                stalled.append(s)
        time.sleep(0.3)
        b.put("resident", "gongrencun/q/g01", "name=照常")
        t0 = time.time()
        b.run("sync", a.addr())
        self.assertLess(time.time() - t0, 4)
        self.assertEqual(len(a.records("resident")), 1)
        for s in stalled:
            s.close()
        self.assertEqual(a.stop(), 0)

    def test_stalled_handshakes_from_the_members_own_address(self):
        # a shared NAT: 16 stalled handshakes from the member's address
        # (as many as one address may hold); a newcomer of a full address
        # takes the place of its oldest handshake that sent no valid first
        # message, so the member's own gets through
        a, b = self.network("a", "b")
        a.serve()
        stalled = []
        for _ in range(16):
            s = socket.socket()
            try:
                s.connect(("127.0.0.1", a.port))
            except OSError:
                s.close()
                continue
            stalled.append(s)
        time.sleep(0.3)
        b.put("resident", "gongrencun/q/g01", "name=照常")
        t0 = time.time()
        b.run("sync", a.addr())
        self.assertLess(time.time() - t0, 4)
        self.assertEqual(len(a.records("resident")), 1)
        for s in stalled:
            s.close()
        self.assertEqual(a.stop(), 0)

    def test_two_new_members_who_never_met_the_admin_sync(self):
        # both joined by invite only: they show each other their claims and
        # hold (never refuse) what no admin or office has confirmed yet;
        # once one of them meets the admin, who confirms both claims,
        # everything flows to the other too
        admin, o1, o2 = self.network("admin", "o1", "o2")
        r1 = o1.put("resident", "gongrencun/q/g01", "name=一号")
        r2 = o2.put("resident", "gongrencun/q/g02", "name=二号")
        o1.serve()
        o2.run("sync", o1.addr())
        st = o2.run("status", json_out=True)
        self.assertEqual(st["refused"]["count"], 0, "held, never refused")
        self.assertNotEqual(o2.run("get", "resident", r1,
                                   check=False).returncode, 0)
        admin.run("sync", o1.addr())   # the admin confirms both claims
        o2.run("sync", o1.addr())
        self.assertEqual(o2.run("get", "resident", r1,
                                check=False).returncode, 0)
        self.assertEqual(o1.run("get", "resident", r2,
                                check=False).returncode, 0)
        self.assertEqual(o1.digest(), o2.digest())
        self.assertEqual(o1.stop(), 0)

    def served(self, node):
        node.serve()
        return node.addr()


if __name__ == "__main__":
    unittest.main(verbosity=2)
