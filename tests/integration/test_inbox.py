#!/usr/bin/env python3
"""The conflict inbox on real gridsync processes: an office and a leader,
synced, act while apart (a close and a reopen of one appeal, two spends of
one account); `gridsync inbox` lists both with what to do, in text and
--json, GET /api/inbox gives the same items, and settling them empties it.

    GRIDSYNC=build/cli/gridsync python3 tests/integration/test_inbox.py
"""
import http.client
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_sync import GS, Base  # noqa: E402

G1 = "gongrencun/qinghejv/g01"
G2 = "gongrencun/qinghejv/g02"


def out(p):
    return p.stdout.strip()


class Inbox(Base):
    def setUp(self):
        super().setUp()
        self.office, self.leader = self.network("office", "leader",
                                                role="leader", scope=G1)
        self.office.serve()
        self.r = out(self.office.run("resident", "add", "王秀英", "--scope", G1))
        self.sync()

    def sync(self):
        self.leader.run("sync", self.office.addr())

    def api_inbox(self, node, query=""):
        """GET /api/inbox from a second serve of node with its web app."""
        log = open(node.dir + ".web.log", "a")
        p = subprocess.Popen([GS, "--dir", node.dir, "serve", "--listen",
                              "127.0.0.1:0", "--ui", "127.0.0.1:0"],
                             stdout=subprocess.PIPE, stderr=log, text=True)
        try:
            first = p.stdout.readline()
            self.assertTrue(first.startswith("serving on "), first)
            app = p.stdout.readline()
            self.assertIn("the app is at http://127.0.0.1:", app)
            port = int(app.split("http://127.0.0.1:")[1].split("/")[0])
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", "/api/inbox" + query,
                      headers={"Host": "127.0.0.1:%d" % port})
            r = c.getresponse()
            body = json.loads(r.read())
            c.close()
            return r.status, body
        finally:
            p.terminate()
            p.wait(timeout=20)
            p.stdout.close()
            log.close()

    def test_nothing_to_decide(self):
        self.assertEqual(out(self.leader.run("inbox")), "(nothing to decide)")
        self.assertEqual(self.leader.run("inbox", json_out=True),
                         {"items": []})
        p = self.leader.run("inbox", "--scope", "bad scope!", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("is not a scope", p.stderr)

    def test_a_race_and_an_overdraft_are_listed_and_settled(self):
        o, l = self.office, self.leader
        a = out(l.run("appeal", "open", "--category", "repair", "--resident",
                      self.r, "下水道堵塞"))
        l.run("appeal", "accept", a)
        self.sync()
        t = out(o.run("team", "add", "--scope", G1, "维修志愿队"))
        o.run("appeal", "assign", a, "--to", "team/" + t)
        self.sync()
        l.run("appeal", "resolve", a)
        o.run("timebank", "deposit", self.r, "2", "--service", "errand")
        self.sync()
        # a plain workflow across two nodes is nothing to decide
        self.assertEqual(out(o.run("inbox")), "(nothing to decide)")
        # apart: the office closes it, the leader reopens it; both spend
        o.run("appeal", "close", a, "--feedback", "satisfied")
        l.run("appeal", "reopen", a, "--note", "又堵了")
        o.run("timebank", "spend", self.r, "1.5", "--note", "维修")
        l.run("timebank", "spend", self.r, "2", "--note", "理发")
        self.sync()
        for node in (o, l):
            text = out(node.run("inbox"))
            lines = text.splitlines()
            self.assertTrue(lines[0].startswith("1. [status_race] "), text)
            self.assertIn("下水道堵塞", lines[0])
            self.assertIn("set the status again", lines[1])
            self.assertTrue(lines[2].startswith("2. [overdrawn] "), text)
            self.assertIn("王秀英", lines[2])
            self.assertIn("timebank adjust resident/%s 1.5" % self.r,
                          lines[3])
            j = node.run("inbox", json_out=True)["items"]
            self.assertEqual([x["kind"] for x in j],
                             ["status_race", "overdrawn"])
            self.assertEqual(j[0]["refs"], [{"collection": "appeal", "id": a,
                                             "name": "下水道堵塞"}])
            self.assertEqual(j[1]["refs"][0]["id"], self.r)
            self.assertEqual(node.run("inbox", "--scope", G2,
                                      json_out=True)["items"], [])
        status, body = self.api_inbox(l)
        self.assertEqual(status, 200)
        self.assertEqual(body, l.run("inbox", json_out=True))
        status, body = self.api_inbox(l, "?scope=" + G2)
        self.assertEqual((status, body["items"]), (200, []))
        # settled: the status set again, the account adjusted
        o.run("appeal", "accept", a)
        o.run("timebank", "adjust", self.r, "1.5", "--note", "两处同时兑换")
        self.sync()
        for node in (o, l):
            self.assertEqual(out(node.run("inbox")), "(nothing to decide)")


if __name__ == "__main__":
    unittest.main()
