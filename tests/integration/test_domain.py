#!/usr/bin/env python3
"""The domain commands as people use them, on real gridsync processes:
human and --json output, refusals, concurrent appeal moves and time-bank
spends on two synced nodes, and the report checked against figures
computed here from the records themselves.

    GRIDSYNC=build/cli/gridsync python3 tests/integration/test_domain.py
"""
import json
import os
import statistics
import sys
import unittest
from collections import Counter, defaultdict
from datetime import date

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_sync import Base, Node  # noqa: E402

G1 = "gongrencun/qinghejv/g01"
ROOT = "gongrencun/qinghejv"


def out(p):
    return p.stdout.strip()


class DomainCommands(Base):
    def setUp(self):
        super().setUp()
        self.n = Node(self.root, "n")
        self.nodes.append(self.n)
        self.n.run("init", "--name", "青河")

    def test_resident_add_edit_find_list_show(self):
        n = self.n
        b = out(n.run("building", "add", "--scope", G1, "3号楼", "--units", "4"))
        h = out(n.run("household", "add", "--building", "3号楼", "--unit", "2",
                      "--room", "302"))
        r = out(n.run("resident", "add", "王秀英", "--gender", "女",
                      "--birth-year", "1941", "--household", h, "--tag",
                      "elderly", "--tag", "lives-alone"))
        self.assertEqual(len(r), 26)
        j = n.run("resident", "add", "王建国", "--scope", G1, "--phone",
                  "13912345678", json_out=True)
        self.assertEqual(j["collection"], "resident")
        self.assertEqual(j["done"], "added")
        other = j["id"]
        n.run("resident", "add", "张桂兰", "--scope", G1, "--tag", "elderly")
        # the household's scope was taken from the building it refers to
        rec = n.run("resident", "show", r, json_out=True)
        self.assertEqual(rec["scope"], G1)
        self.assertEqual(rec["fields"]["household"], {"$ref": "household/" + h})
        self.assertEqual(sorted(rec["fields"]["tags"]), ["elderly", "lives-alone"])
        self.assertEqual(rec["fields"]["birth_year"], 1941)
        human = out(n.run("resident", "show", r))
        self.assertIn("王秀英", human)
        self.assertIn("birth_year 1941", human)
        # find by part of a name, by phone, by building and tag
        found = n.run("resident", "find", "王", json_out=True)
        self.assertEqual({x["id"] for x in found}, {r, other})
        self.assertEqual([x["id"] for x in n.run("resident", "find", "1391234",
                                                 json_out=True)], [other])
        el = n.run("resident", "list", "--tag", "elderly", json_out=True)
        self.assertEqual(len(el), 2)
        self.assertEqual(len(n.run("resident", "find", "王", "--tag", "elderly",
                                   json_out=True)), 1)
        self.assertIn("(2 records)", out(n.run("resident", "find", "王")))
        by_h = n.run("resident", "list", "--household", h, json_out=True)
        self.assertEqual([x["id"] for x in by_h], [r])
        # edit: set, add and remove tags; a moved-out resident is deleted
        n.run("resident", "edit", r, "--phone", "13800000000", "--no-tag",
              "lives-alone", "--tag", "disabled")
        rec = n.run("resident", "show", r, json_out=True)
        self.assertEqual(sorted(rec["fields"]["tags"]), ["disabled", "elderly"])
        self.assertEqual(rec["fields"]["phone"], "13800000000")
        n.run("delete", "resident", other)
        self.assertEqual(len(n.run("resident", "find", "王", json_out=True)), 1)
        self.assertTrue(b)

    def test_schema_refusals_are_clear_and_store_nothing(self):
        n = self.n
        before = n.digest()
        cases = [
            (["resident", "add", "张三", "--scope", G1, "--tag", "rich"],
             1, "cannot be 'rich'"),
            (["resident", "add", "张三", "--scope", G1, "--birth-year", "abc"],
             2, "whole number"),
            (["resident", "add", "张三", "--scope", G1, "--colour", "red"],
             2, "no option '--colour'"),
            (["resident", "add", "--scope", G1, "--phone", "1"],
             1, "needs field 'name'"),
            (["put", "resident", "--scope", G1, "name=x", "age:=3"],
             1, "has no field 'age'"),
            (["put", "resident", "--scope", G1, "name=x", "birth_year=1950"],
             1, "whole number"),
            (["put", "people", "--scope", G1, "name=x"],
             1, "no collection 'people'"),
            (["appeal", "open", "--scope", G1, "--category", "noise", "吵"],
             1, "cannot be 'noise'"),
            (["visit", "add", "--scope", G1, "--by", "李", "--date",
              "2026-02-30"], 1, "YYYY-MM-DD"),
            (["resident", "fly", "x"], 2, "no verb 'fly'"),
            (["timebank", "spend", "nobody", "1"], 1, "no resident|unit|team"),
        ]
        for argv, code, text in cases:
            p = n.run(*argv, check=False)
            self.assertEqual(p.returncode, code, "%s: %s" % (argv, p.stderr))
            self.assertIn(text, p.stderr, argv)
            self.assertEqual(p.stdout, "", argv)
        self.assertEqual(n.digest(), before, "a refused write stored something")
        # free-form collections are still there for what the schema lacks
        n.run("put", "x_notes", "--scope", G1, "text=备忘")
        # fields lists what a collection takes
        f = n.run("appeal", "fields", json_out=True)
        self.assertIn("category", [x["name"] for x in f["fields"]])
        self.assertIn("open->accepted", out(n.run("appeal", "fields")))
        self.assertIn("resolve ID", n.run("appeal", "--help").stdout)

    def test_appeal_moves_and_refusals(self):
        n = self.n
        u = out(n.run("unit", "add", "--scope", ROOT, "--kind", "property",
                      "物业服务站"))
        r = out(n.run("resident", "add", "王秀英", "--scope", G1))
        today = out(n.run("appeal", "open", "--category", "repair",
                          "--resident", "王秀英", "单元门坏了"))
        self.assertEqual(n.run("appeal", "show", today, json_out=True)
                         ["fields"]["opened"], date.today().isoformat())
        a = out(n.run("appeal", "open", "--category", "repair", "--resident",
                      "王秀英", "--opened", "2026-10-20", "7号楼楼道灯坏了"))
        rec = n.run("appeal", "show", a, json_out=True)
        self.assertEqual(rec["fields"]["status"], "open")
        self.assertEqual(rec["fields"]["resident"], {"$ref": "resident/" + r})
        bad = n.run("appeal", "resolve", a, check=False)
        self.assertEqual(bad.returncode, 1)
        self.assertIn("this appeal is open: it cannot become resolved "
                      "(next: accepted)", bad.stderr)
        self.assertEqual(out(n.run("appeal", "accept", a)),
                         "appeal %s is now 已受理" % a)
        j = n.run("appeal", "assign", a, "--to", "物业服务站", json_out=True)
        self.assertEqual(j["status"], "assigned")
        p = n.run("appeal", "resolve", a, "--date", "2026-10-01", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("resolved date 2026-10-01 is before opened date "
                      "2026-10-20", p.stderr)
        n.run("appeal", "resolve", a, "--date", "2026-11-01")
        n.run("appeal", "close", a, "--feedback", "satisfied")
        rec = n.run("appeal", "show", a, json_out=True)["fields"]
        self.assertEqual(rec["status"], "closed")
        self.assertEqual(rec["assignee"], {"$ref": "unit/" + u})
        self.assertEqual(rec["resolved"], "2026-11-01")
        self.assertEqual(rec["feedback"], "satisfied")
        self.assertNotEqual(n.run("appeal", "accept", a, check=False).returncode, 0)
        n.run("appeal", "reopen", a, "--note", "又坏了")
        rec = n.run("appeal", "show", a, json_out=True)["fields"]
        self.assertEqual(rec["status"], "reopened")
        self.assertIsNone(rec["closed"], "reopening undoes the closing")
        self.assertIsNone(rec["feedback"])
        self.assertEqual(rec["note"], "又坏了")
        # a move through put or edit needs what the move needs
        p = n.run("appeal", "edit", today, "--status", "accepted",
                  check=False)
        self.assertIn("needs field 'accepted'", p.stderr)
        p = n.run("appeal", "accept", today, "--date", "2026-01-01",
                  "--to", check=False)
        self.assertEqual(p.returncode, 2)
        p = n.run("appeal", "reopen", a, "--date", "2026-11-02", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("keeps no date", p.stderr)
        n.run("appeal", "accept", today)
        p = n.run("appeal", "assign", today, check=False)
        self.assertIn("needs field 'assignee'", p.stderr)
        # tasks from a meeting, claimed by a unit
        m = out(n.run("meeting", "add", "--scope", G1, "--kind", "four-party",
                      "--date", "2026-11-02", "--participant", "物业",
                      "--participant", "居委会", "--appeal", a, "--decision",
                      "更换灯具", "四方议事"))
        t = out(n.run("task", "add", "--meeting", m, "--what", "更换楼道灯"))
        n.run("task", "claim", t, "--to", "物业服务站")
        n.run("task", "done", t)
        tr = n.run("task", "show", t, json_out=True)["fields"]
        self.assertEqual(tr["status"], "done")
        self.assertEqual(tr["unit"], {"$ref": "unit/" + u})
        mr = n.run("meeting", "show", m, json_out=True)["fields"]
        self.assertEqual(mr["appeals"], [{"$ref": "appeal/" + a}])

    def test_visits_and_timebank_entries_are_immutable(self):
        n = self.n
        r = out(n.run("resident", "add", "李志强", "--scope", G1))
        v = out(n.run("visit", "add", "--scope", G1, "--by", "网格员小李",
                      "--resident", r, "--finding", "hazard", "楼道堆物"))
        for argv in (["visit", "edit", v, "--by", "x"],
                     ["delete", "visit", v],
                     ["put", "visit", "--id", v, "notes=改"]):
            p = n.run(*argv, check=False)
            self.assertEqual(p.returncode, 1, argv)
            self.assertIn("immutable", p.stderr)
        p = n.run("timebank", "deposit", r, "2", "--service", "errand")
        lines = out(p).splitlines()
        self.assertEqual(len(lines[0]), 26)
        self.assertEqual(lines[1], "balance of 李志强: 2 h")
        j = n.run("timebank", "spend", r, "0.5", json_out=True)
        self.assertEqual(j["balance"], 1.5)
        p = n.run("timebank", "spend", r, "2", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("李志强 has 1.5 h; spending 2 h would overdraw", p.stderr)
        entry = j["entry"]
        p = n.run("delete", "timebank", entry, check=False)
        self.assertIn("immutable", p.stderr)
        b = n.run("timebank", "balance", "李志强", json_out=True)
        self.assertEqual((b["deposits"], b["spends"], b["entries"]), (2, 0.5, 2))
        self.assertIn("1.5 h  (deposits 2 h, spends 0.5 h, 2 entries)",
                      out(n.run("timebank", "balance", r)))
        p = n.run("timebank", "adjust", r, "1", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--note", p.stderr)


    def test_every_local_write_keeps_accounts_from_overdrawing(self):
        n = self.n
        r = out(n.run("resident", "add", "赵德明", "--scope", G1))
        n.run("timebank", "deposit", r, "2")
        ref = '{"$ref": "resident/%s"}' % r
        spend = ["person:=" + ref, "kind=spend", "hours:=5", "date=2026-11-20"]
        p = n.run("put", "timebank", "--scope", G1, *spend, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("赵德明 has 2 h; spending 5 h would overdraw", p.stderr)
        line = '{"person": %s, "kind": "spend", "hours": 1.5, ' \
               '"date": "2026-11-20"}\n' % ref
        p = n.run("load", "timebank", "--scope", G1, "-", input=line * 2,
                  check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("would overdraw", p.stderr)
        self.assertIn("nothing was stored", p.stderr)
        n.run("load", "timebank", "--scope", G1, "-", input=line)
        p = n.run("timebank", "adjust", r, "-1", "--note", "x", check=False)
        self.assertIn("would overdraw", p.stderr)
        self.assertEqual(n.run("timebank", "balance", r, json_out=True)
                         ["balance"], 0.5)
        # an entry's id is the node's to make; load adds, never rewrites
        p = n.run("put", "timebank", "--id", "06H0FEZZZZZZZZZZZZZZZZZZZ0",
                  "--scope", G1, "person:=" + ref, "kind=deposit",
                  "hours:=1", "date=2026-11-20", check=False)
        self.assertIn("gets its id from this node", p.stderr)
        entry = n.run("list", "timebank", json_out=True)[0]["id"]
        p = n.run("load", "timebank", "--scope", G1, "-", check=False,
                  input='{"$id": "%s", "person": %s, "kind": "deposit", '
                        '"hours": 9, "date": "2026-11-20"}\n' % (entry, ref))
        self.assertIn("exists: load adds new records", p.stderr)
        # hours are decimal, to 0.01 h
        for bad in ("0x10", "0.001", "inf"):
            p = n.run("timebank", "deposit", r, bad, check=False)
            self.assertNotEqual(p.returncode, 0, bad)
        self.assertEqual(n.run("timebank", "balance", r, json_out=True)
                         ["balance"], 0.5)

    def test_balances_under_a_scope_count_every_entry(self):
        n = self.n
        r = out(n.run("resident", "add", "孙凤英", "--scope", G1))
        n.run("timebank", "deposit", r, "5")
        # not in another grid: every member node there would hold it
        p = n.run("timebank", "spend", r, "3", "--scope", ROOT + "/g02",
                  check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("goes in the grid of its person", p.stderr)
        # above the person's grid, in the community: taken, and counted
        n.run("timebank", "spend", r, "3", "--scope", ROOT)
        b = n.run("timebank", "balances", "--scope", ROOT, json_out=True)
        self.assertEqual([(x["id"], x["balance"]) for x in b], [(r, 2)])
        st = n.run("status", "--scope", ROOT, json_out=True)
        self.assertEqual(st["overdrawn"], [])

    def test_odd_arguments(self):
        n = self.n
        p = n.run("resident", "find", "", check=False)
        self.assertEqual(p.returncode, 2)
        p = n.run("resident", "add", "--scope", G1, "", check=False)
        self.assertIn("cannot be empty", p.stderr)
        # after "--" everything is text, even what looks like an option
        r = out(n.run("resident", "add", "--scope", G1, "--", "--张三"))
        self.assertEqual(n.run("resident", "show", r, json_out=True)
                         ["fields"]["name"], "--张三")
        a = out(n.run("appeal", "open", "--scope", G1, "--category", "other",
                      "水费=电费？"))
        self.assertEqual(n.run("appeal", "show", a, json_out=True)
                         ["fields"]["description"], "水费=电费？")
        # a resident who moved out is not a reference for new records
        n.run("delete", "resident", r)
        p = n.run("timebank", "deposit", r, "1", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("was deleted", p.stderr)


class ConcurrentOnTwoNodes(Base):
    """An office and a leader, synced, then both act while apart."""

    def setUp(self):
        super().setUp()
        self.office, self.leader = self.network("office", "leader",
                                                role="leader", scope=G1)
        self.office.serve()
        self.r = out(self.office.run("resident", "add", "王秀英", "--scope", G1))
        self.sync()

    def sync(self):
        self.leader.run("sync", self.office.addr())

    def test_concurrent_spends_overdraw_and_are_flagged_on_both(self):
        o, l = self.office, self.leader
        o.run("timebank", "deposit", self.r, "2", "--service", "errand")
        self.sync()
        self.assertEqual(l.run("timebank", "balance", self.r,
                               json_out=True)["balance"], 2)
        # apart: each node sees 2 h and accepts a spend of 2 h
        l.run("timebank", "spend", self.r, "2", "--note", "理发")
        o.run("timebank", "spend", self.r, "1.5", "--note", "维修")
        for node in (o, l):
            st = node.run("status", json_out=True)
            self.assertEqual(st["overdrawn"], [], node.name)
        self.sync()
        for node in (o, l):
            b = node.run("timebank", "balance", self.r, json_out=True)
            self.assertEqual(b["balance"], -1.5, node.name)
            self.assertTrue(b["overdrawn"])
            self.assertEqual(b["entries"], 3, "no entry is lost")
            st = node.run("status", json_out=True)
            self.assertEqual([x["id"] for x in st["overdrawn"]], [self.r])
            self.assertTrue(any("overdrawn" in w for w in st["warnings"]))
            self.assertIn("timebank  1 account overdrawn",
                          out(node.run("status")))
            rep = node.run("report", json_out=True)
            self.assertEqual([x["id"] for x in rep["overdrawn"]], [self.r])
            self.assertIn("OVERDRAWN", out(node.run("timebank", "balances",
                                                    "--overdrawn")))
        # an admin settles it; the flag goes away everywhere
        o.run("timebank", "adjust", self.r, "1.5", "--note", "两处同时兑换，补记")
        self.sync()
        for node in (o, l):
            self.assertEqual(node.run("status", json_out=True)["overdrawn"], [])
            self.assertEqual(len(node.run("list", "timebank", json_out=True)), 4)
        self.assertEqual(o.digest(G1), l.digest(G1))

    def test_written_once_entries_name_their_author(self):
        o, l = self.office, self.leader
        # the leader's visit and time-bank entry reach the office
        v = out(l.run("visit", "add", "--scope", G1, "--by", "楼长",
                      "--resident", self.r, "上门"))
        e = l.run("timebank", "deposit", self.r, "1", "--service", "errand",
                  json_out=True)["entry"]
        self.sync()
        self.assertEqual(len(o.run("list", "visit", json_out=True)), 1)
        self.assertEqual(len(o.run("list", "timebank", json_out=True)), 1)
        # a node cannot load an entry under an id that names another node
        # (peers would refuse every change to it), nor one it holds
        for coll, rid in (("visit", v), ("timebank", e)):
            line = json.dumps({"$id": rid, "by": "x", "notes": "n",
                               "resident": {"$ref": "resident/" + self.r},
                               "date": "2026-01-01"}
                              if coll == "visit" else
                              {"$id": rid, "person":
                               {"$ref": "resident/" + self.r},
                               "hours": 5, "kind": "deposit",
                               "date": "2026-01-01"}, ensure_ascii=False)
            p = o.run("load", coll, "--scope", G1, "-", input=line + "\n",
                      check=False)
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertTrue("written once" in p.stderr or
                            "exists" in p.stderr, p.stderr)
        # nor an id that names no node (here: a resident's, made by the
        # office), on a node that does not hold it
        p = l.run("load", "visit", "--scope", G1, "-", check=False,
                  input=json.dumps({"$id": self.r, "by": "x", "resident":
                                    {"$ref": "resident/" + self.r}}) + "\n")
        self.assertEqual(p.returncode, 1)
        self.assertIn("written once", p.stderr)
        # and both nodes still agree, the entries unchanged
        self.assertEqual(o.run("timebank", "balance", self.r,
                               json_out=True)["balance"], 1)
        self.assertEqual(o.digest(G1), l.digest(G1))

    def test_concurrent_appeal_moves_converge_and_keep_history(self):
        o, l = self.office, self.leader
        a = out(l.run("appeal", "open", "--category", "repair", "--resident",
                      self.r, "下水道堵塞"))
        l.run("appeal", "accept", a)
        self.sync()
        u = out(o.run("team", "add", "--scope", G1, "维修志愿队"))
        o.run("appeal", "assign", a, "--to", "team/" + u)
        self.sync()
        l.run("appeal", "resolve", a)
        self.sync()
        # apart: the office closes it, the leader reopens it
        o.run("appeal", "close", a, "--feedback", "satisfied")
        l.run("appeal", "reopen", a, "--note", "又堵了")
        self.sync()
        so = o.run("appeal", "show", a, json_out=True)["fields"]["status"]
        sl = l.run("appeal", "show", a, json_out=True)["fields"]["status"]
        self.assertEqual(so, sl)
        self.assertIn(so, ("closed", "reopened"))
        self.assertEqual(o.digest(G1), l.digest(G1))
        # both moves are in the history, whichever won
        hist = l.run("history", "appeal", a, json_out=True)
        text = str(hist)
        self.assertIn("closed", text)
        self.assertIn("reopened", text)


def fields(rec):
    return rec["fields"]


class ReportMatchesTheRecords(Base):
    """The report's figures, recomputed here from `list --json`."""

    def setUp(self):
        super().setUp()
        self.n = Node(self.root, "office")
        self.nodes.append(self.n)
        self.n.run("init")
        p = self.n.run("--json", "demo", "seed", "--seed", "3",
                       "--households", "600", "--until", "2026-11-20",
                       timeout=300)
        self.seeded = __import__("json").loads(p.stdout)

    def expected(self, since=None, until=None):
        n = self.n
        rows = defaultdict(lambda: defaultdict(float))
        days = defaultdict(list)

        def grid(rec):
            return "/".join(rec["scope"].split("/")[:3])

        def inp(d):
            return d is not None and (since is None or d >= since) and \
                (until is None or d <= until)

        def ref_id(v):
            return v["$ref"].split("/")[1] if isinstance(v, dict) else None

        # visits: a correction replaces the findings of the visit it
        # corrects (the latest by id) and is no visit of its own
        visits = {r["id"]: r for r in n.run("list", "visit", json_out=True)}
        latest = {}
        for vid in sorted(visits):
            t = ref_id(fields(visits[vid]).get("corrects"))
            if t in visits and not fields(visits[t]).get("corrects"):
                latest[t] = vid
        hazard_visits = set()
        for vid, rec in visits.items():
            f = fields(rec)
            if f.get("corrects") or not inp(f["date"]):
                continue
            g = grid(rec)
            rows[g]["visits"] += 1
            if t := latest.get(vid):
                rows[g]["visit_corrections"] += sum(
                    1 for x in visits.values()
                    if ref_id(fields(x).get("corrects")) == vid)
            eff = fields(visits[latest.get(vid, vid)])
            if set(eff.get("findings", [])) & {"hazard", "fire-hazard"}:
                rows[g]["hazards_found"] += 1
                rows[g]["visit_hazards"] += 1
                hazard_visits.add(vid)

        for rec in n.run("list", "appeal", json_out=True):
            f, g = fields(rec), grid(rec)
            if inp(f.get("opened")):
                rows[g]["appeals"] += 1
                rows[g]["st_" + f["status"]] += 1
                rows[g]["cat_" + f["category"]] += 1
                if f["category"] == "safety" and \
                        ref_id(f.get("visit")) not in hazard_visits:
                    rows[g]["hazards_found"] += 1
                if f["category"] == "micro-wish":
                    rows[g]["wishes"] += 1
            if f["status"] in ("resolved", "closed") and inp(f.get("resolved")):
                rows[g]["resolved"] += 1
                if f["category"] == "dispute":
                    rows[g]["disputes_mediated"] += 1
                if f["category"] == "micro-wish":
                    rows[g]["wishes_fulfilled"] += 1
                d = (date.fromisoformat(f["resolved"]) -
                     date.fromisoformat(f["opened"])).days
                days[g].append(d)
        for rec in n.run("list", "activity", json_out=True):
            f, g = fields(rec), grid(rec)
            if not inp(f["date"]):
                continue
            k = f.get("count", 1)
            if f["kind"] in ("lecture", "activity"):
                rows[g][f["kind"] + "s" if f["kind"] == "lecture"
                        else "activities"] += 1
                rows[g]["attendance"] += k
            elif f["kind"] == "errand":
                rows[g]["staff_errands"] += k
            elif f["kind"] == "theft-stopped":
                rows[g]["thefts_stopped"] += k
            elif f["kind"] == "fight-stopped":
                rows[g]["fights_stopped"] += k
        for rec in n.run("list", "party_report", json_out=True):
            m = fields(rec)["month"]
            if (since is None or m >= since[:7]) and \
                    (until is None or m <= until[:7]):
                rows[grid(rec)]["party_reports"] += 1
        for rec in n.run("list", "meeting", json_out=True):
            if inp(fields(rec)["date"]):
                rows[grid(rec)]["meetings"] += 1
        for rec in n.run("list", "task", json_out=True):
            f = fields(rec)
            if f["status"] == "done" and inp(f.get("done")):
                rows[grid(rec)]["tasks_done"] += 1
        tb = {r["id"]: r for r in n.run("list", "timebank", json_out=True)}
        for rec in tb.values():
            f = fields(rec)
            if f["kind"] == "deposit" and inp(f["date"]):
                rows[grid(rec)]["volunteer_hours"] += round(f["hours"] * 100)
                if f.get("service") == "errand":
                    rows[grid(rec)]["errands_done"] += 1
        # a correction counts in its deposit's period and grid
        for rec in tb.values():
            f = fields(rec)
            t = tb.get(ref_id(f.get("corrects")))
            if f["kind"] == "adjust" and t and \
                    fields(t)["kind"] == "deposit" and inp(fields(t)["date"]):
                rows[grid(t)]["volunteer_hours"] += round(f["hours"] * 100)
                rows[grid(t)]["corrected_hours"] += round(f["hours"] * 100)
        for coll in ("resident", "household", "building"):
            for rec in n.run("list", coll, json_out=True):
                if fields(rec).get("status") in ("moved", "moved-out"):
                    continue  # out of rosters
                rows[grid(rec)][coll + "s"] += 1
        return rows, days

    def check(self, since=None, until=None, args=None):
        if args is None:
            args = ["report"] + (["--since", since] if since else []) + \
                (["--until", until] if until else [])
        rep = self.n.run(*args, json_out=True)
        rows, days = self.expected(since, until)
        got = {r["grid"]: r for r in rep["grids"]}
        want = {g for g, r in rows.items() if any(r.values())}
        self.assertEqual(set(got), want)
        self.assertGreaterEqual(len(got), 2)
        plain = ["visits", "meetings", "tasks_done", "errands_done",
                 "disputes_mediated", "hazards_found", "residents",
                 "households", "buildings", "wishes", "wishes_fulfilled",
                 "visit_hazards", "visit_corrections", "lectures",
                 "activities", "attendance", "staff_errands",
                 "thefts_stopped", "fights_stopped", "party_reports"]
        for g, r in got.items():
            e = rows[g]
            self.assertEqual(r["appeals"]["opened"], e["appeals"], g)
            self.assertEqual(r["appeals"]["resolved"], e["resolved"], g)
            for k, v in r["appeals"]["by_status"].items():
                self.assertEqual(v, e["st_" + k], (g, k))
            for k, v in r["appeals"]["by_category"].items():
                self.assertEqual(v, e["cat_" + k], (g, k))
            for k in plain:
                self.assertEqual(r[k], e[k], (g, k))
            self.assertAlmostEqual(r["volunteer_hours"],
                                   e["volunteer_hours"] / 100, places=6)
            self.assertAlmostEqual(r["corrected_hours"],
                                   e["corrected_hours"] / 100, places=6)
            med = statistics.median(days[g]) if days[g] else None
            self.assertEqual(r["appeals"]["median_days_to_resolve"], med, g)
        tot = rep["total"]
        alld = [d for v in days.values() for d in v]
        self.assertEqual(tot["appeals"]["median_days_to_resolve"],
                         statistics.median(alld) if alld else None)
        self.assertEqual(tot["visits"], sum(r["visits"] for r in rows.values()))
        self.assertEqual(tot["appeals"]["opened"],
                         sum(r["appeals"] for r in rows.values()))
        return rep

    def test_report_matches_independent_counts(self):
        rep = self.check()
        tot = rep["total"]
        # the seed made a community with activity of every kind
        for k in ("visits", "meetings", "errands_done", "hazards_found",
                  "disputes_mediated", "residents"):
            self.assertGreater(tot[k], 0, k)
        self.assertGreater(tot["appeals"]["resolved"], 0)
        gone = [r for r in self.n.run("list", "resident", json_out=True)
                if fields(r).get("status") in ("moved", "moved-out")]
        self.assertGreater(len(gone), 0, "the seed moves some residents")
        self.assertEqual(tot["residents"],
                         self.seeded["residents"] - len(gone))
        # issue 16's figures: the seed has records of every new kind
        for k in ("wishes", "wishes_fulfilled", "visit_hazards",
                  "visit_corrections", "lectures", "activities",
                  "attendance", "staff_errands", "party_reports",
                  "corrected_hours"):
            self.assertGreater(tot[k], 0, k)
        self.assertEqual(rep["overdrawn"], [])
        # since a date: only what happened from then
        rep2 = self.check("2026-09-01")
        self.assertLess(rep2["total"]["visits"], tot["visits"])
        # a period: --until, --month, --year (dates as people write them)
        rep3 = self.check("2026-03-01", "2026-06-30",
                          ["report", "--since", "2026/3/1", "--until",
                           "2026年6月30日"])
        self.assertLess(rep3["total"]["visits"], tot["visits"])
        self.assertGreater(rep3["total"]["visits"], 0)
        self.check("2026-11-01", "2026-11-30", ["report", "--month", "2026-11"])
        y = self.check("2026-01-01", "2026-12-31",
                       ["report", "--year", "2026"])
        self.assertEqual(y["until"], "2026-12-31")
        self.check("2025-01-01", "2025-12-31", ["report", "--year", "2025"])
        for bad in (["--year", "26"], ["--month", "2026-13"],
                    ["--year", "2026", "--since", "2026-01-01"],
                    ["--since", "2026-05-01", "--until", "2026-04-01"]):
            p = self.n.run("report", *bad, check=False)
            self.assertEqual(p.returncode, 2, (bad, p.stderr))
        # the report as a ledger: the .xlsx read back, a row per grid and
        # the total, Chinese headers, the same figures
        from test_domain_words import read_xlsx
        path = os.path.join(self.root, "report.xlsx")
        self.n.run("report", "--year", "2026", "--xlsx", path)
        sheets = read_xlsx(path)
        self.assertEqual(len(sheets), 1)
        rows = list(sheets.values())[0]
        head = rows[0]
        self.assertEqual(head[0], "网格")
        for h in ("诉求", "发现隐患", "微心愿", "志愿服务时长(小时)",
                  "讲座", "参与人次", "工作人员代办", "在职党员报到", "居民"):
            self.assertIn(h, head)
        col = {h: i for i, h in enumerate(head)}
        byg = {r[0]: r for r in rows[1:]}
        self.assertEqual(set(byg), {g["grid"] for g in y["grids"]} | {"合计"})
        for g in y["grids"] + [dict(y["total"], grid="合计")]:
            r = byg[g["grid"]]
            self.assertEqual(r[col["诉求"]], g["appeals"]["opened"])
            self.assertEqual(r[col["发现隐患"]], g["hazards_found"])
            self.assertEqual(r[col["微心愿"]], g["wishes"])
            self.assertAlmostEqual(r[col["志愿服务时长(小时)"]],
                                   g["volunteer_hours"], places=6)
            self.assertEqual(r[col["参与人次"]], g["attendance"])
            self.assertEqual(r[col["居民"]], g["residents"])
        csvp = os.path.join(self.root, "report.csv")
        self.n.run("report", "--month", "2026-11", "--csv", csvp)
        with open(csvp, encoding="utf-8-sig") as f:
            lines = f.read().splitlines()
        self.assertTrue(lines[0].startswith("网格,诉求,"))
        self.assertTrue(lines[-1].startswith("合计,"))
        # one grid only
        row = [r for r in rep["grids"] if r["grid"].count("/") == 2][0]
        g = row["grid"]
        one = self.n.run("report", "--scope", g, json_out=True)
        self.assertEqual([r["grid"] for r in one["grids"]], [g])
        self.assertEqual(one["total"]["visits"], row["visits"])
        self.assertEqual(one["total"]["residents"], row["residents"])
        # the human table has a row per grid and the total
        text = out(self.n.run("report"))
        for r in rep["grids"]:
            self.assertIn(r["grid"], text)
        self.assertIn("total", text)
        self.assertIn("median", text)


if __name__ == "__main__":
    unittest.main()
