#!/usr/bin/env python3
"""What the schema could not hold before (issue 16), through the CLI:
micro-wishes, meetings and the co-building list, time-bank corrections
and passbooks, residents moving out and to another grid, visits by teams
with their appeals and corrections, a building's squad, the offices'
tallies, reports over a year, a month or until a day. Figures are
recomputed here from what was written or listed, never by the report.

    GRIDSYNC=build/cli/gridsync python3 tests/integration/test_domain16.py
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_sync import Base, Node  # noqa: E402

ROOT = "gongrencun/qinghejv"
G1 = ROOT + "/g01"
G2 = ROOT + "/g02"


def out(p):
    return p.stdout.strip()


class Community(Base):
    """A small community typed by hand."""

    def setUp(self):
        super().setUp()
        self.n = Node(self.root, "n")
        self.nodes.append(self.n)
        self.n.run("init", "--name", "青河")
        r = self.n.run
        r("unit", "add", "--scope", ROOT, "华联超市清河店", "--kind", "企业")
        r("unit", "add", "--scope", ROOT, "清河物业服务站", "--kind", "物业")
        r("team", "add", "--scope", ROOT, "天天敲门组", "--kind", "敲门组")
        r("building", "add", "--scope", G1, "--name", "5号楼")
        r("household", "add", "--building", "5", "--unit", "2", "--room", "301")
        r("building", "add", "--scope", G2, "--name", "7号楼")
        r("household", "add", "--building", "7", "--unit", "1", "--room", "101")
        self.li = out(r("resident", "add", "李桂芳", "--household", "5-2-301",
                        "--birth-year", "1948", "--tag", "独居",
                        "--passbook", "QH000001", "--emergency-contact",
                        "李建华（儿子）", "--emergency-phone", "138 0000 1111"))
        self.zhou = out(r("resident", "add", "周大爷", "--household",
                          "5-2-301", "--birth-year", "1950"))
        r("resident", "add", "小周", "--household", "5-2-301",
          "--birth-year", "1990")

    def show(self, coll, rid):
        return self.n.run(coll, "show", rid, json_out=True)["fields"]

    def report(self, *args):
        return self.n.run("report", *args, json_out=True)["total"]

    def test_micro_wish_with_fulfiller_and_donor(self):
        n = self.n
        w = out(n.run("appeal", "open", "--scope", G1, "--category", "微心愿",
                      "楼道装一盏灯", "--fulfiller", "华联超市清河店",
                      "--donor", "爱心人士王女士", "--opened", "2026/11/3"))
        f = self.show("appeal", w)
        self.assertEqual(f["category"], "micro-wish")
        self.assertEqual(f["donor"], "爱心人士王女士")
        self.assertIn("华联超市清河店", out(n.run("appeal", "show", w)))
        n.run("appeal", "open", "--scope", G1, "--category", "微心愿", "棉被",
              "--fulfiller", "李桂芳", "--opened", "2026-11-04")
        n.run("appeal", "accept", w, "--date", "2026-11-03")
        n.run("appeal", "assign", w, "--to", "华联超市清河店", "--date",
              "2026-11-04")
        n.run("appeal", "resolve", w, "--date", "2026-11-10")
        t = self.report("--month", "2026-11")
        self.assertEqual((t["wishes"], t["wishes_fulfilled"]), (2, 1))
        # a household fulfils nothing
        p = n.run("appeal", "open", "--scope", G1, "--category", "微心愿", "x",
                  "--fulfiller", "5-2-301", check=False)
        self.assertNotEqual(p.returncode, 0)

    def test_meeting_decisions_and_co_building_list(self):
        n = self.n
        m = out(n.run("meeting", "add", "--scope", G1, "--kind", "四方议事会",
                      "--title", "加装电梯", "--date", "2026-11-02",
                      "--convener", "清河物业服务站", "--attendee",
                      "华联超市清河店", "--attendee", "李桂芳", "--attendee",
                      "天天敲门组", "--participant", "街道办 王主任"))
        f = self.show("meeting", m)
        self.assertEqual(len(f["attendees"]), 3)
        human = out(n.run("meeting", "show", m))
        for name in ("清河物业服务站", "华联超市清河店", "李桂芳", "天天敲门组"):
            self.assertIn(name, human)
        d = out(n.run("task", "add", "--kind", "会议决议", "--meeting",
                      "加装电梯", "--unit", "清河物业服务站",
                      "物业本月内完成电梯选型"))
        self.assertEqual(self.show("task", d)["kind"], "decision")
        c = out(n.run("task", "add", "--scope", ROOT, "--kind", "共建清单项目",
                      "--year", "2026", "--cost", "18000", "--resources",
                      "物业出人工", "楼道照明改造"))
        n.run("task", "claim", c, "--to", "清河物业服务站")
        n.run("task", "claim", c, "--to", "华联超市清河店")
        f = self.show("task", c)
        self.assertEqual(len(f["claimants"]), 2)
        human = out(n.run("task", "show", c))
        self.assertIn("华联超市清河店", human)
        self.assertIn("共建清单项目", human)
        self.assertEqual(len(n.run("task", "list", "--kind", "共建清单项目",
                                   "--year", "2026", json_out=True)), 1)

    def test_time_bank_correction_and_passbook(self):
        n = self.n
        dep = out(n.run("timebank", "deposit", "李桂芳", "20", "--service",
                        "清洁打扫", "--served", "周大爷", "--date",
                        "2026-11-05")).splitlines()[0]
        n.run("timebank", "spend", "李桂芳", "1", "--goods", "大米一袋",
              "--sponsor", "华联超市清河店", "--date", "2026-11-20")
        self.assertEqual(self.report("--month", "2026-11")["volunteer_hours"],
                         20)
        n.run("timebank", "adjust", "李桂芳", "-18", "--corrects", dep,
              "--note", "录入错误，应为2小时", "--date", "2026-12-01")
        t = self.report("--month", "2026-11")
        self.assertEqual(t["volunteer_hours"], 2)
        self.assertEqual(t["corrected_hours"], -18)
        self.assertEqual(self.report("--month", "2026-12")["volunteer_hours"], 0)
        # the passbook: by number or name, in date order, running balance
        pb = n.run("timebank", "passbook", "QH000001", json_out=True)
        self.assertEqual(pb["name"], "李桂芳")
        self.assertEqual(pb["balance"], 1)
        self.assertEqual([(e["date"], e["hours"], e["balance"])
                          for e in pb["entries"]],
                         [("2026-11-05", 20, 20), ("2026-11-20", -1, 19),
                          ("2026-12-01", -18, 1)])
        self.assertEqual(pb["entries"][0]["served"], "周大爷")
        self.assertEqual(pb["entries"][1]["goods"], "大米一袋")
        self.assertTrue(pb["entries"][2]["correction"])
        human = out(n.run("timebank", "passbook", "李桂芳"))
        self.assertIn("清洁打扫", human)
        self.assertIn("balance: 1 h", human)
        # a correction is an adjust
        p = n.run("timebank", "deposit", "李桂芳", "1", "--corrects", dep,
                  check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("only an adjust", p.stderr)
        # a company deposits hours: where the company is (the community),
        # not in a grid below it
        p = n.run("timebank", "deposit", "华联超市清河店", "6", "--scope", G1,
                  "--date", "2026-11-21", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("goes in the grid of its person", p.stderr)
        n.run("timebank", "deposit", "华联超市清河店", "6", "--date",
              "2026-11-21")
        self.assertEqual(self.report("--month", "2026-11")["volunteer_hours"],
                         8)

    def test_move_out_and_move_to_another_grid(self):
        n = self.n
        seniors = n.run("resident", "seniors", json_out=True)
        self.assertEqual([s["name"] for s in seniors], ["李桂芳", "周大爷"])
        self.assertEqual(seniors[0]["emergency"], "李建华（儿子） 13800001111")
        self.assertEqual(len(n.run("resident", "find", "周", "--age", ">=65",
                                   json_out=True)), 1)
        n.run("resident", "move-out", "周大爷", "--date", "2026-11-30",
              "--move-reason", "入住养老院")
        f = self.show("resident", self.zhou)
        self.assertEqual((f["status"], f["moved_out"], f["move_reason"]),
                         ("moved-out", "2026-11-30", "入住养老院"))
        self.assertEqual([s["name"] for s in
                          n.run("resident", "seniors", json_out=True)],
                         ["李桂芳"])
        sheet = out(n.run("building", "contacts", "5"))
        self.assertNotIn("周大爷", sheet)
        self.assertEqual(self.report()["residents"], 2)
        # moving to another grid: a new record, linked both ways
        before = len(n.run("history", "resident", self.li).stdout)
        new = out(n.run("resident", "move", "李桂芳", "--household", "7-1-101",
                        "--date", "2026-11-28", "--reason", "搬到女儿家"))
        self.assertNotEqual(new, self.li)
        nf = self.show("resident", new)
        self.assertEqual(nf["name"], "李桂芳")
        self.assertEqual(nf["passbook"], "QH000001")
        self.assertEqual(nf["moved_from"]["$ref"], "resident/" + self.li)
        of = self.show("resident", self.li)
        self.assertEqual(of["status"], "moved")
        self.assertEqual(of["moved_to"]["$ref"], "resident/" + new)
        self.assertEqual(of["move_reason"], "搬到女儿家")
        self.assertGreater(len(n.run("history", "resident", self.li).stdout),
                           before, "the old record keeps its history")
        rec = n.run("resident", "show", new, json_out=True)
        self.assertEqual(rec["scope"], G2)
        # the name now means the new record; the old id leads there
        a = out(n.run("appeal", "open", "--category", "维修", "门锁坏了",
                      "--resident", self.li))
        self.assertEqual(self.show("appeal", a)["resident"]["$ref"],
                         "resident/" + new)
        self.assertIn("李桂芳", out(n.run("building", "contacts", "7")))
        self.assertNotIn("李桂芳", out(n.run("building", "contacts", "5")))
        # lists and searches show the person once (the new record); the
        # old one is there when asked for
        found = n.run("resident", "find", "李桂芳", json_out=True)
        self.assertEqual([r["id"] for r in found], [new])
        listed = [r["id"] for r in n.run("resident", "list", json_out=True)]
        self.assertIn(new, listed)
        self.assertNotIn(self.li, listed)
        both = [r["id"] for r in n.run("resident", "find", "李桂芳", "--moved",
                                       json_out=True)]
        self.assertEqual(sorted(both), sorted([new, self.li]))
        old = [r["id"] for r in n.run("resident", "list", "--status", "moved",
                                      json_out=True)]
        self.assertEqual(old, [self.li])

    def test_party_member_reports(self):
        n = self.n
        n.run("resident", "add", "陈党员", "--household", "5-2-301", "--tag",
              "党员")
        n.run("party_report", "add", "--scope", G1, "--member", "陈党员",
              "--employer", "华联超市清河店", "--month", "2026-11", "--what",
              "参加楼道清扫")
        p = n.run("party_report", "add", "--scope", G1, "--member", "陈党员",
                  "--month", "2026/11", "--what", "x", check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("YYYY-MM", p.stderr)
        self.assertEqual(self.report("--month", "2026-11")["party_reports"], 1)
        self.assertEqual(self.report("--month", "2026-10")["party_reports"], 0)

    def test_visit_by_a_team_hazard_appeal_and_correction(self):
        n = self.n
        v = out(n.run("visit", "add", "--scope", G1, "--by", "王网格员",
                      "--date", "2026-11-10", "--household", "5-2-301",
                      "--team", "天天敲门组", "--visitor", "清河物业服务站",
                      "--companion", "社区民警", "--finding", "火灾隐患",
                      "--finding", "跌倒", "--notes", "楼道堆放杂物"))
        human = out(n.run("visit", "show", v))
        for s in ("天天敲门组", "社区民警", "火灾隐患", "跌倒"):
            self.assertIn(s, human)
        a = out(n.run("visit", "appeal", v))
        f = self.show("appeal", a)
        self.assertEqual((f["category"], f["source"], f["opened"]),
                         ("safety", "visit", "2026-11-10"))
        self.assertEqual(f["visit"]["$ref"], "visit/" + v)
        t = self.report("--month", "2026-11")
        self.assertEqual((t["hazards_found"], t["visit_hazards"]), (1, 1))
        # a visit that found nothing opens nothing
        v0 = out(n.run("visit", "add", "--scope", G1, "--by", "王网格员",
                       "--date", "2026-11-11", "--finding", "无异常"))
        p = n.run("visit", "appeal", v0, check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        # the author's correction: linked, the visit stays written once
        n.run("visit", "add", "--scope", G1, "--by", "王网格员", "--date",
              "2026-11-10", "--corrects", v, "--finding", "无异常", "--notes",
              "更正：杂物当场已清理")
        t = self.report("--month", "2026-11")
        self.assertEqual((t["visits"], t["visit_corrections"],
                          t["visit_hazards"]), (2, 1, 0))
        p = n.run("visit", "edit", v, "--notes", "x", check=False)
        self.assertNotEqual(p.returncode, 0)

    def test_squad_and_tallies(self):
        n = self.n
        t = out(n.run("team", "add", "--scope", G1, "5号楼119自管小组",
                      "--kind", "119自管小组", "--building", "5号楼",
                      "--member", "小周", "--outsider",
                      "物业保安 张师傅 13800001111"))
        f = self.show("team", t)
        self.assertEqual(f["kind"], "fire-squad")
        self.assertEqual(f["outsiders"], ["物业保安 张师傅 13800001111"])
        self.assertEqual(len(n.run("team", "list", "--building", "5号楼",
                                   json_out=True)), 1)
        sheet = n.run("building", "contacts", "5", json_out=True)
        self.assertEqual(sheet["squad"], "5号楼119自管小组")
        self.assertEqual(sheet["squad_members"],
                         "小周; 物业保安 张师傅 13800001111")
        self.assertIn("5号楼119自管小组: 小周", out(n.run("building",
                                                     "contacts", "5")))
        for argv in (["--kind", "讲座", "--title", "防诈骗讲座", "--date",
                      "2026-11-05", "--count", "40"],
                     ["--kind", "活动", "--title", "百家宴", "--date",
                      "2026-11-15", "--count", "85"],
                     ["--kind", "代办", "--date", "2026-11-20", "--count", "7"],
                     ["--kind", "制止盗窃", "--date", "2026-11-21"],
                     ["--kind", "制止打架", "--date", "2026-10-21"]):
            n.run("activity", "add", "--scope", G1, *argv)
        t = self.report("--month", "2026-11")
        self.assertEqual((t["lectures"], t["activities"], t["attendance"],
                          t["staff_errands"], t["thefts_stopped"],
                          t["fights_stopped"]), (1, 1, 125, 7, 1, 0))
        self.assertEqual(self.report("--year", "2026")["fights_stopped"], 1)
        self.assertEqual(self.report("--until", "2026-10-31")
                         ["fights_stopped"], 1)
        self.assertEqual(self.report("--since", "2026-11-01", "--until",
                                     "2026-11-19")["attendance"], 125)
        human = out(n.run("report", "--month", "2026-11"))
        self.assertIn("attendance 125", human)
        self.assertIn("2026-11-30", human)


class Seeded(Base):
    """The demo community: questions answered against independent counts."""

    def setUp(self):
        super().setUp()
        self.n = Node(self.root, "office")
        self.nodes.append(self.n)
        self.n.run("init")
        self.n.run("demo", "seed", "--seed", "9", "--households", "400",
                   "--until", "2026-11-20", timeout=300)

    def test_seniors_passbooks_and_the_year(self):
        n = self.n
        residents = n.run("list", "resident", json_out=True)
        living = [r for r in residents
                  if r["fields"].get("status") not in ("moved", "moved-out")]
        want = sorted(r["id"] for r in living
                      if 2026 - r["fields"].get("birth_year", 3000) >= 65)
        got = n.run("resident", "seniors", json_out=True)
        self.assertEqual(sorted(s["id"] for s in got), want)
        self.assertGreater(len(want), 50)
        # a passbook by its number: the account's entries, summed here
        holder = next(r for r in living if r["fields"].get("passbook"))
        pb = n.run("timebank", "passbook", holder["fields"]["passbook"],
                   json_out=True)
        self.assertEqual(pb["id"], holder["id"])
        entries = [e for e in n.run("list", "timebank", json_out=True)
                   if e["fields"]["person"]["$ref"] == "resident/" +
                   holder["id"]]
        total = sum(e["fields"]["hours"] * (-1 if e["fields"]["kind"] ==
                                            "spend" else 1)
                    for e in entries)
        self.assertEqual(len(pb["entries"]), len(entries))
        self.assertAlmostEqual(pb["balance"], total, places=6)
        # the year: every new kind of record shows in the report
        t = n.run("report", "--year", "2026", json_out=True)["total"]
        acts = [a for a in n.run("list", "activity", json_out=True)
                if a["fields"]["date"].startswith("2026-")]
        self.assertEqual(t["lectures"], sum(1 for a in acts
                                            if a["fields"]["kind"] ==
                                            "lecture"))
        self.assertEqual(t["staff_errands"],
                         sum(a["fields"].get("count", 1) for a in acts
                             if a["fields"]["kind"] == "errand"))
        self.assertEqual(t["party_reports"],
                         sum(1 for p in n.run("list", "party_report",
                                              json_out=True)
                             if p["fields"]["month"].startswith("2026-")))
        for k in ("wishes", "visit_hazards", "lectures", "party_reports"):
            self.assertGreater(t[k], 0, k)
        # squads of each building and the team that knocks
        teams = n.run("team", "list", json_out=True)
        squads = [x for x in teams if x["fields"].get("kind") == "fire-squad"]
        self.assertEqual(len(squads),
                         len(n.run("list", "building", json_out=True)))
        self.assertTrue(all(x["fields"].get("outsiders") for x in squads))


if __name__ == "__main__":
    unittest.main()
