#!/usr/bin/env python3
"""The domain as people write it (issue 16), through the gridsync CLI:
Chinese labels for allowed values, dates and phones as typed, records by
name and address, names instead of ids in what is printed.

    GRIDSYNC=build/cli/gridsync python3 tests/integration/test_domain_words.py
"""
import json
import os
import pty
import select
import subprocess
import sys
import unittest
import xml.etree.ElementTree as ET
import zipfile
from datetime import date, timedelta

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_sync import GS, Base, Node  # noqa: E402

G1 = "gongrencun/qinghejv/g01"
ROOT = "gongrencun/qinghejv"


def out(p):
    return p.stdout.strip()

NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
RELNS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"


def read_xlsx(path):
    """The sheets of an .xlsx as {name: [[cell, ...], ...]}: shared and
    inline strings as str, numbers as float, cells with a date format as
    datetime.date (read with zipfile and ElementTree only)."""
    z = zipfile.ZipFile(path)
    strings = []
    if "xl/sharedStrings.xml" in z.namelist():
        for si in ET.fromstring(z.read("xl/sharedStrings.xml")).findall("m:si", NS):
            strings.append("".join(t.text or "" for t in si.iter(
                "{%s}t" % NS["m"])))
    styles = ET.fromstring(z.read("xl/styles.xml"))
    fmts = {int(f.get("numFmtId")): f.get("formatCode")
            for f in styles.findall("m:numFmts/m:numFmt", NS)}
    xfs = [int(x.get("numFmtId", "0"))
           for x in styles.findall("m:cellXfs/m:xf", NS)]
    rels = ET.fromstring(z.read("xl/_rels/workbook.xml.rels"))
    target = {r.get("Id"): r.get("Target") for r in rels}
    book = ET.fromstring(z.read("xl/workbook.xml"))
    sheets = {}
    for sh in book.findall("m:sheets/m:sheet", NS):
        root = ET.fromstring(z.read("xl/" + target[sh.get(RELNS)]))
        rows = []
        for row in root.findall("m:sheetData/m:row", NS):
            cells = {}
            for c in row.findall("m:c", NS):
                ref = c.get("r")
                col = 0
                for ch in ref:
                    if ch.isalpha():
                        col = col * 26 + ord(ch) - 64
                v = c.find("m:v", NS)
                if c.get("t") == "s":
                    val = strings[int(v.text)]
                elif c.get("t") == "inlineStr":
                    val = "".join(t.text or "" for t in c.iter("{%s}t" % NS["m"]))
                elif v is not None:
                    val = float(v.text)
                    fmt = fmts.get(xfs[int(c.get("s", "0"))], "")
                    if "yy" in fmt:
                        val = date(1899, 12, 30) + timedelta(days=int(val))
                else:
                    val = None
                cells[col - 1] = val
            width = max(cells) + 1 if cells else 0
            rows.append([cells.get(i) for i in range(width)])
        sheets[sh.get("name")] = rows
    return sheets


class Words(Base):
    def setUp(self):
        super().setUp()
        self.n = Node(self.root, "n")
        self.nodes.append(self.n)
        self.n.run("init", "--name", "青河")

    def test_labels_in_and_out(self):
        n = self.n
        u = out(n.run("unit", "add", "--scope", ROOT, "--kind", "物业",
                      "物业服务站"))
        a = out(n.run("appeal", "open", "--scope", G1, "--category", "微心愿",
                      "楼道装一盏灯"))
        m = out(n.run("meeting", "add", "--scope", G1, "--kind", "邻里议事会",
                      "--date", "2026-11-02", "--title", "加装电梯"))
        r = out(n.run("resident", "add", "--scope", G1, "李桂芳", "--tag",
                      "独居", "--tag", "elderly"))
        # records keep the stable codes
        rec = n.run("appeal", "show", a, json_out=True)
        self.assertEqual(rec["fields"]["category"], "micro-wish")
        self.assertEqual(n.run("meeting", "show", m, json_out=True)
                         ["fields"]["kind"], "neighbours")
        self.assertEqual(sorted(n.run("resident", "show", r, json_out=True)
                                ["fields"]["tags"]), ["elderly", "lives-alone"])
        self.assertEqual(n.run("unit", "show", u, json_out=True)
                         ["fields"]["kind"], "property")
        # queries take either
        for argv in (["--tag", "独居"], ["--tag", "lives-alone"],
                     ["--where", "tags=独居"]):
            got = n.run("resident", "list", *argv, json_out=True)
            self.assertEqual([x["id"] for x in got], [r], argv)
        self.assertEqual(len(n.run("appeal", "list", "--category", "微心愿",
                                   json_out=True)), 1)
        self.assertEqual(len(n.run("meeting", "list", "--kind", "邻里议事会",
                                   json_out=True)), 1)
        # a close with the resident's feedback as a label
        n.run("appeal", "accept", a)
        n.run("appeal", "assign", a, "--to", "物业服务站")
        n.run("appeal", "resolve", a)
        self.assertEqual(out(n.run("appeal", "close", a, "--feedback",
                                   "满意")), "appeal %s is now 已关闭" % a)
        rec = n.run("appeal", "show", a, json_out=True)
        self.assertEqual(rec["fields"]["feedback"], "satisfied")
        self.assertEqual(rec["fields"]["status"], "closed")
        # human output shows labels
        human = out(n.run("appeal", "show", a))
        self.assertIn("微心愿", human)
        self.assertIn("满意", human)
        self.assertIn("已关闭", human)
        self.assertNotIn("micro-wish", human)
        lst = out(n.run("resident", "list"))
        self.assertIn("独居", lst)
        self.assertNotIn("lives-alone", lst)
        # neither a code nor a label: an error, never an empty result
        p = n.run("resident", "list", "--tag", "富", check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("no value '富'", p.stderr)
        self.assertIn("lives-alone (独居)", p.stderr)
        p = n.run("appeal", "open", "--scope", G1, "--category", "吵闹", "x",
                  check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("cannot be '吵闹'", p.stderr)

    def test_dates_as_people_write_them(self):
        n = self.n
        today = date.today()
        forms = {"2026-12-05": "2026-12-05", "2026/12/05": "2026-12-05",
                 "2026/12/5": "2026-12-05", "2026年12月5日": "2026-12-05",
                 "今天": today.isoformat(),
                 "昨天": (today - timedelta(days=1)).isoformat()}
        ids = {}
        for typed, stored in forms.items():
            v = out(n.run("visit", "add", "--scope", G1, "--by", "小李",
                          "--date", typed))
            ids[typed] = v
            self.assertEqual(n.run("visit", "show", v, json_out=True)
                             ["fields"]["date"], stored, typed)
        got = n.run("visit", "list", "--date", "2026/12/5", json_out=True)
        self.assertEqual(len(got), 4)
        got = n.run("visit", "list", "--where", "date>=昨天", json_out=True)
        self.assertEqual({x["id"] for x in got},
                         {ids["今天"], ids["昨天"]} |
                         ({ids["2026-12-05"], ids["2026/12/05"],
                           ids["2026/12/5"], ids["2026年12月5日"]}
                          if today <= date(2026, 12, 5) else set()))
        a = out(n.run("appeal", "open", "--scope", G1, "--category", "repair",
                      "--opened", "2026/11/1", "灯坏了"))
        n.run("appeal", "accept", a, "--date", "2026年11月3日")
        self.assertEqual(n.run("appeal", "show", a, json_out=True)
                         ["fields"]["accepted"], "2026-11-03")
        p = n.run("visit", "list", "--where", "date<12/5", check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("takes a date", p.stderr)
        p = n.run("visit", "add", "--scope", G1, "--by", "x", "--date",
                  "2026/2/30", check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("takes a date", p.stderr)

    def test_phones_as_typed(self):
        n = self.n
        r = out(n.run("resident", "add", "--scope", G1, "李桂芳", "--phone",
                      "138 0000 1111"))
        o = out(n.run("resident", "add", "--scope", G1, "王建国", "--phone",
                      "139-1234-5678"))
        self.assertEqual(n.run("resident", "show", r, json_out=True)
                         ["fields"]["phone"], "13800001111")
        self.assertEqual(n.run("resident", "show", o, json_out=True)
                         ["fields"]["phone"], "13912345678")
        for typed in ("138 0000", "138-0000-1111", "0000 1111", "13800001111"):
            got = n.run("resident", "find", typed, json_out=True)
            self.assertEqual([x["id"] for x in got], [r], typed)
        got = n.run("resident", "list", "--phone", "139 1234 5678",
                    json_out=True)
        self.assertEqual([x["id"] for x in got], [o])

    def seed_namesakes(self):
        n = self.n
        n.run("building", "add", "--scope", G1, "5号楼")
        n.run("building", "add", "--scope", G1, "6号楼")
        h5 = out(n.run("household", "add", "--building", "5", "--unit", "2",
                       "--room", "301"))
        h6 = out(n.run("household", "add", "--building", "6号楼", "--unit",
                       "2", "--room", "301"))
        r5 = out(n.run("resident", "add", "李桂芳", "--birth-year", "1948",
                       "--household", "5号楼2单元301"))
        r6 = out(n.run("resident", "add", "李桂芳", "--birth-year", "1955",
                       "--household", "6-2-301"))
        return h5, h6, r5, r6

    def test_names_and_addresses_not_ids(self):
        n = self.n
        h5, h6, r5, r6 = self.seed_namesakes()
        rec = n.run("resident", "show", "5号楼 李桂芳", json_out=True)
        self.assertEqual(rec["id"], r5)
        self.assertEqual(rec["fields"]["household"], {"$ref": "household/" + h5})
        self.assertEqual(n.run("household", "show", "6号楼2单元301",
                               json_out=True)["id"], h6)
        n.run("resident", "edit", "6号楼 李桂芳", "--phone", "138 0000 1111")
        self.assertEqual(n.run("resident", "show", r6, json_out=True)
                         ["fields"]["phone"], "13800001111")
        n.run("unit", "add", "--scope", ROOT, "物业服务站")
        n.run("meeting", "add", "--scope", G1, "--kind", "四方议事会",
              "--title", "加装电梯", "--date", "2026-11-02")
        a = out(n.run("appeal", "open", "--category", "repair", "--resident",
                      "6号楼 李桂芳", "--meeting", "加装电梯", "电梯"))
        n.run("appeal", "accept", a)
        n.run("appeal", "assign", a, "--to", "物业服务站")
        # ambiguous, not in a terminal: refused with the candidates
        p = n.run("appeal", "open", "--category", "repair", "--resident",
                  "李桂芳", "x", check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("2 records are named '李桂芳'", p.stderr)
        self.assertIn("5号楼2单元301", p.stderr)
        self.assertIn("6号楼2单元301", p.stderr)
        p = n.run("resident", "show", "李桂芳", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("born 1955", p.stderr)

    def run_tty(self, answer, *args):
        """Run gridsync with stdin and stderr on a pseudo-terminal; answer
        the first question with answer. Returns (code, stdout, tty text)."""
        master, slave = pty.openpty()
        p = subprocess.Popen([GS, "--dir", self.n.dir] + list(args),
                             stdin=slave, stderr=slave, stdout=subprocess.PIPE)
        os.close(slave)
        seen = b""
        answered = False
        while True:
            r, _, _ = select.select([master], [], [], 20)
            if not r:
                p.kill()
                self.fail("no prompt: %r" % seen)
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
            if not answered and b"Which one?" in seen:
                os.write(master, answer.encode() + b"\n")
                answered = True
        stdout = p.stdout.read().decode()
        p.stdout.close()
        p.wait(timeout=20)
        os.close(master)
        return p.returncode, stdout, seen.decode(errors="replace")

    def test_a_numbered_choice_in_a_terminal(self):
        h5, h6, r5, r6 = self.seed_namesakes()
        code, stdout, tty = self.run_tty("2", "appeal", "open", "--scope", G1,
                                         "--category", "微心愿", "--resident",
                                         "李桂芳", "想要一把轮椅")
        self.assertEqual(code, 0, tty)
        self.assertIn("1) 李桂芳", tty)
        self.assertIn("born 1948", tty)
        self.assertIn("2) 李桂芳", tty)
        a = stdout.strip()
        rec = self.n.run("appeal", "show", a, json_out=True)
        chosen = rec["fields"]["resident"]["$ref"].split("/")[1]
        # the second candidate listed is the one recorded
        second = tty.split("2) ")[1].split("\n")[0]
        self.assertEqual(chosen, r6 if "1955" in second else r5)
        # show by a namesake's name: choose the first
        code, stdout, tty = self.run_tty("1", "resident", "show", "李桂芳")
        self.assertEqual(code, 0, tty)
        self.assertIn("李桂芳", stdout)
        # Enter alone: nothing chosen, refused, nothing written
        before = self.n.digest()
        code, stdout, tty = self.run_tty("", "appeal", "open", "--scope", G1,
                                         "--category", "repair", "--resident",
                                         "李桂芳", "x")
        self.assertEqual(code, 1, tty)
        self.assertIn("2 records are named", tty)
        self.assertEqual(self.n.digest(), before)

    def test_listings_show_names_not_ids(self):
        n = self.n
        h5, h6, r5, r6 = self.seed_namesakes()
        n.run("resident", "add", "--scope", G1, "赵大爷", "--building", "5号楼")
        u = out(n.run("unit", "add", "--scope", ROOT, "物业服务站"))
        t = out(n.run("team", "add", "--scope", G1, "天天敲门组", "--member",
                      "5号楼 李桂芳", "--member", "6号楼 李桂芳"))
        a = out(n.run("appeal", "open", "--category", "repair", "--resident",
                      "5号楼 李桂芳", "灯坏了"))
        n.run("appeal", "accept", a)
        n.run("appeal", "assign", a, "--to", "天天敲门组")
        ids = [h5, h6, r5, r6, u, t]
        for argv, want in (
                (["household", "list"], ["building=5号楼", "building=6号楼"]),
                (["resident", "list"], ["household=5号楼2单元301",
                                        "household=6号楼2单元301"]),
                (["team", "list"], ["members=[李桂芳,李桂芳]"]),
                (["appeal", "list"], ["assignee=天天敲门组", "resident=李桂芳",
                                      "status=已交办"]),
                (["appeal", "show", a], ["天天敲门组", "by 青河"]),
                (["team", "show", "天天敲门组"], ["[李桂芳, 李桂芳]"])):
            text = out(n.run(*argv))
            for w in want:
                self.assertIn(w, text, argv)
            for i in ids:
                self.assertNotIn(i, text.split("\n", 1)[1] if "show" in argv
                                 else "\n".join(x.split("  ", 1)[1]
                                                for x in text.splitlines()
                                                if "  " in x), argv)
        # resident find/list --building: its own building or its household's
        for b in ("5", "5号楼"):
            got = n.run("resident", "list", "--building", b, json_out=True)
            self.assertEqual(len(got), 2, b)
            self.assertIn(r5, [x["id"] for x in got])
        got = n.run("resident", "find", "李", "--building", "6", json_out=True)
        self.assertEqual([x["id"] for x in got], [r6])
        # history names this node's own changes by its name
        self.assertIn("by 青河", out(n.run("history", "appeal", a)))        # time-bank balances by the person's name
        n.run("timebank", "deposit", "5号楼 李桂芳", "2", "--service",
              "清洁打扫")
        bal = out(n.run("timebank", "balances"))
        self.assertIn("李桂芳 (居民)  2 h", bal)
        self.assertNotIn(r5, bal)
        self.assertEqual(n.run("timebank", "list", json_out=True)[0]
                         ["fields"]["service"], "cleaning")
        # get, history, delete take names too
        self.assertEqual(n.run("get", "resident", "6号楼 李桂芳",
                               json_out=True)["id"], r6)
        self.assertIn("set", out(n.run("history", "household",
                                       "5号楼2单元301")))
        z = n.run("resident", "find", "赵大爷", json_out=True)[0]["id"]
        self.assertEqual(out(n.run("delete", "resident", "赵大爷")),
                         "resident %s deleted" % z)
        p = n.run("delete", "resident", "李桂芳", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("2 records are named", p.stderr)

    def test_residents_by_age(self):
        n = self.n
        year = date.today().year
        ids = {}
        for name, age in (("甲", 85), ("乙", 65), ("丙", 64)):
            ids[name] = out(n.run("resident", "add", "--scope", G1, name,
                                  "--birth-year", str(year - age)))
        got = n.run("resident", "list", "--age", ">=65", json_out=True)
        self.assertEqual({x["id"] for x in got}, {ids["甲"], ids["乙"]})
        got = n.run("resident", "list", "--birth-year", "<%d" % (year - 65),
                    json_out=True)
        self.assertEqual([x["id"] for x in got], [ids["甲"]])
        got = n.run("resident", "list", "--where", "age<65", json_out=True)
        self.assertEqual([x["id"] for x in got], [ids["丙"]])
        p = n.run("resident", "list", "--age", "老", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("whole number of years", p.stderr)

    def test_unvisited_households_and_a_contact_sheet(self):
        n = self.n
        h5, h6, r5, r6 = self.seed_namesakes()
        n.run("building", "edit", "5号楼", "--leader", "周师傅", "--phone",
              "135-1111-2222")
        h7 = out(n.run("household", "add", "--building", "5", "--unit", "1",
                       "--room", "101"))
        old = (date.today() - timedelta(days=45)).isoformat()
        n.run("visit", "add", "--by", "小李", "--household", "5号楼2单元301",
              "--date", "昨天")
        n.run("visit", "add", "--by", "小李", "--resident", "6号楼 李桂芳",
              "--date", old)
        got = n.run("household", "unvisited", "--days", "30", json_out=True)
        self.assertEqual([(x["address"], x["last_visit"]) for x in got],
                         [("5号楼1单元101", None), ("6号楼2单元301", old)])
        self.assertEqual(got[1]["days"], 45)
        got = n.run("household", "unvisited", "--days", "30", "--building",
                    "5", json_out=True)
        self.assertEqual([x["id"] for x in got], [h7])
        human = out(n.run("household", "unvisited", "--days", "60"))
        self.assertIn("5号楼1单元101  never visited", human)
        self.assertIn("(1 household not visited in 60 days)", human)
        p = n.run("household", "unvisited", "--days", "0", check=False)
        self.assertEqual(p.returncode, 2)
        sheet = n.run("building", "contacts", "5号楼", json_out=True)
        self.assertEqual(sheet["leader"], "周师傅")
        self.assertEqual(sheet["phone"], "13511112222")
        self.assertEqual([(r["address"], r["name"]) for r in sheet["rows"]],
                         [("5号楼1单元101", ""), ("5号楼2单元301", "李桂芳")])
        self.assertEqual(sheet["rows"][1]["birth_year"], 1948)
        human = out(n.run("building", "contacts", "5"))
        self.assertIn("5号楼  楼栋长 周师傅  13511112222", human)
        self.assertIn("5号楼2单元301  李桂芳", human)
        self.assertNotIn("1955", human)

    def test_ledgers_as_csv_and_xlsx(self):
        n = self.n
        G2 = "gongrencun/qinghejv/g02"
        h5, h6, r5, r6 = self.seed_namesakes()
        n.run("resident", "add", "--scope", G2, "赵四", "--birth-year", "1950",
              "--tag", "独居")
        n.run("resident", "edit", "5号楼 李桂芳", "--tag", "独居", "--tag",
              "elderly", "--note", '说"慢点", 谢谢')
        n.run("unit", "add", "--scope", ROOT, "物业服务站")
        a = out(n.run("appeal", "open", "--category", "微心愿", "--resident",
                      "5号楼 李桂芳", "--opened", "2026/11/3", "楼道装灯"))
        n.run("appeal", "accept", a, "--date", "2026/11/4")
        n.run("appeal", "assign", a, "--to", "物业服务站", "--date",
              "2026-11-05")
        # CSV: Chinese headers, names, labels; read back with the csv module
        import csv
        path = os.path.join(self.root, "r.csv")
        p = n.run("resident", "list", "--tag", "独居", "--csv", path)
        self.assertIn("wrote 2 records", p.stderr)
        with open(path, encoding="utf-8-sig", newline="") as f:
            rows = list(csv.reader(f))
        self.assertEqual(rows[0][:6], ["网格", "姓名", "性别", "出生年份",
                                       "电话", "住户"])
        by = {r[1]: dict(zip(rows[0], r)) for r in rows[1:]}
        self.assertEqual(set(by), {"李桂芳", "赵四"})
        self.assertEqual(by["李桂芳"]["住户"], "5号楼2单元301")
        self.assertEqual(set(by["李桂芳"]["标签"].split("、")), {"独居", "老年人"})
        self.assertEqual(by["李桂芳"]["备注"], '说"慢点", 谢谢')
        self.assertEqual(by["赵四"]["网格"], G2)
        # to standard output
        text = n.run("appeal", "list", "--csv", "-").stdout
        self.assertTrue(text.startswith("\ufeff网格,类别,内容,居民"), text[:40])
        self.assertIn("微心愿,楼道装灯,李桂芳", text)
        # .xlsx, read back: headers, names, dates as dates, numbers
        xp = os.path.join(self.root, "a.xlsx")
        p = n.run("--json", "appeal", "list", "--xlsx", xp, check=False)
        if p.returncode and "without libxlsxwriter" in p.stderr:
            self.skipTest("gridsync was built without libxlsxwriter "
                          "(Debian: libxlsxwriter-dev)")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)["rows"], 1)
        sheets = read_xlsx(xp)
        self.assertEqual(list(sheets), ["诉求"])
        head, row = sheets["诉求"]
        rec = dict(zip(head, row))
        self.assertEqual(rec["类别"], "微心愿")
        self.assertEqual(rec["居民"], "李桂芳")
        self.assertEqual(rec["承办"], "物业服务站")
        self.assertEqual(rec["状态"], "已交办")
        self.assertEqual(rec["登记日期"], date(2026, 11, 3))
        self.assertEqual(rec["受理日期"], date(2026, 11, 4))
        self.assertEqual(rec["交办日期"], date(2026, 11, 5))
        rp = os.path.join(self.root, "r.xlsx")
        n.run("resident", "list", "--xlsx", rp, "--per-grid")
        sheets = read_xlsx(rp)
        self.assertEqual(sorted(sheets), ["g01", "g02"])
        g1 = sheets["g01"]
        self.assertEqual(g1[0][1], "姓名")
        self.assertEqual(sorted(r[1] for r in g1[1:]), ["李桂芳", "李桂芳"])
        self.assertEqual(sorted(r[3] for r in g1[1:]), [1948.0, 1955.0])
        self.assertEqual([r[1] for r in sheets["g02"][1:]], ["赵四"])
        # refusals
        p = n.run("resident", "list", "--xlsx", "-", check=False)
        self.assertEqual(p.returncode, 2)
        p = n.run("resident", "list", "--per-grid", "--csv", path, check=False)
        self.assertEqual(p.returncode, 2)
        p = n.run("resident", "list", "--where", "nmae=x", "--csv", path,
                  check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("no field 'nmae'", p.stderr)


class DefaultScope(Base):
    def test_changes_since_yesterday_by_whom_and_where(self):
        office, leader = self.network("office", "leader", role="leader",
                                      scope=G1)
        office.run("resident", "add", "--scope", G1, "王建国")
        office.run("resident", "add", "--scope",
                   "gongrencun/qinghejv/g02", "赵四")
        leader.run("resident", "add", "李桂芳", "--phone", "138 0000 1111")
        office.serve()
        leader.run("sync", office.addr())
        got = office.run("changes", "--since", "yesterday", json_out=True)
        self.assertEqual(len(got), 3)
        by = {x["name"]: x for x in got}
        leader_key = leader.run("id", json_out=True)
        self.assertEqual(by["李桂芳"]["scope"], G1)
        self.assertEqual(by["李桂芳"]["fields"], ["name", "phone"])
        self.assertNotEqual(by["李桂芳"]["author"], "office")
        self.assertIn(by["李桂芳"]["by"], json.dumps(leader_key))
        self.assertEqual(by["王建国"]["author"], "office")
        human = out(office.run("changes", "--since", "昨天", "--scope", G1))
        self.assertIn("居民 李桂芳  (姓名, 电话)", human)
        self.assertIn("office", human)
        self.assertNotIn("赵四", human)
        self.assertIn("(2 changes)", human)
        self.assertEqual(office.run("changes", "--since", "2099-01-01",
                                    json_out=True), [])
        p = office.run("changes", "--since", "上周", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("is not a date", p.stderr)
        self.assertEqual(office.stop(), 0)

    def test_a_leader_with_one_grid_writes_there(self):
        admin, leader = self.network("admin", "leader", role="leader",
                                     scope=G1)
        r = out(leader.run("resident", "add", "李桂芳", "--tag", "独居"))
        self.assertEqual(leader.run("resident", "show", r, json_out=True)
                         ["scope"], G1)
        # the admin may write everywhere: it must still say where
        p = admin.run("resident", "add", "王", check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("--scope", p.stderr)


if __name__ == "__main__":
    unittest.main()
