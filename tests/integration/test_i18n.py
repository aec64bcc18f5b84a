#!/usr/bin/env python3
"""Chinese on the command line and QR codes in the CLI (issue 18).

    GRIDSYNC=build/cli/gridsync GRIDSYNC_LOCALEDIR=build/po \\
        python3 tests/integration/test_i18n.py

Chinese needs the zh_CN.UTF-8 locale: the system's when it has one, else
one made here with localedef into a temporary LOCPATH; if neither can be
had, the Chinese tests are skipped and say why.
"""
import datetime
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

GS = os.environ.get("GRIDSYNC", "build/cli/gridsync")
SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PO = os.path.join(SRC, "po")
G1 = "gongrencun/qinghejv/g01"


def zh_locale(tmp):
    """Environment additions under which LANG=zh_CN.UTF-8 works, or a
    reason it cannot."""
    out = subprocess.run(["locale", "-a"], capture_output=True, text=True)
    names = [l.strip().lower().replace("-", "") for l in out.stdout.split()]
    if "zh_cn.utf8" in names:
        return {}, None
    if not shutil.which("localedef"):
        return None, "no zh_CN.UTF-8 locale and no localedef to make one"
    d = os.path.join(tmp, "locale")
    os.makedirs(d, exist_ok=True)
    p = subprocess.run(["localedef", "-i", "zh_CN", "-f", "UTF-8",
                        os.path.join(d, "zh_CN.UTF-8")],
                       capture_output=True, text=True)
    if not os.path.isdir(os.path.join(d, "zh_CN.UTF-8")):
        return None, ("no zh_CN.UTF-8 locale and localedef cannot make one: "
                      + (p.stderr.strip() or "exit %d" % p.returncode))
    return {"LOCPATH": d}, None


class I18nTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="gs-i18n-")
        cls.zh_env, cls.zh_skip = zh_locale(cls.tmp)
        cls.dir = os.path.join(cls.tmp, "n")
        cls.gs("C", "init", "--name", "办公室")
        cls.gs("C", "network", "create", "工人村街道")
        cls.gid = cls.gs("C", "grid", "add", "--name", "第一网格", "--scope",
                         G1).stdout.strip().split()[-1]
        cls.gs("C", "appeal", "open", "--category", "repair", "--scope", G1,
               "楼道灯坏了")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def gs(cls, lang, *args, check=True, tz="UTC", extra=None):
        env = dict(os.environ)
        for k in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LOCPATH"):
            env.pop(k, None)
        env["LANG"] = lang
        env["TZ"] = tz
        if lang.startswith("zh"):
            if cls.zh_skip:
                raise unittest.SkipTest(cls.zh_skip)
            env.update(cls.zh_env)
        env.update(extra or {})
        p = subprocess.run([GS, "--dir", cls.dir] + list(args), env=env,
                           capture_output=True, text=True, timeout=120)
        if check and p.returncode != 0:
            raise AssertionError("%s exited %d: %s" % (" ".join(args),
                                                       p.returncode, p.stderr))
        return p

    # ---- Chinese and English ----
    def test_help_is_chinese_under_zh_cn_and_english_under_c(self):
        zh = self.gs("zh_CN.UTF-8", "--help").stdout
        self.assertIn("用法：gridsync", zh)
        self.assertIn("创建节点目录和身份", zh)
        self.assertIn("和一个对等节点双向同步一次", zh)
        en = self.gs("C", "--help").stdout
        self.assertIn("usage: gridsync", en)
        self.assertIn("create the node directory and identity", en)
        self.assertNotIn("用法", en)
        self.assertNotIn("创建节点", en)
        sub = self.gs("zh_CN.UTF-8", "help", "invite").stdout
        self.assertIn("生成一个邀请码", sub)

    def test_a_refusal_is_chinese(self):
        p = self.gs("zh_CN.UTF-8", "grid", "add", "--name", "x", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("新记录需要一个范围", p.stderr)
        self.assertIn("请给出 --scope", p.stderr)
        p = self.gs("C", "grid", "add", "--name", "x", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("a new record needs a scope", p.stderr)
        # a gs_strerror text and a node/ reason of the permission layer
        p = self.gs("zh_CN.UTF-8", "get", "grid", "0" * 26, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertRegex(p.stderr, "[\u4e00-\u9fff]")
        self.assertNotIn("no grid", p.stderr)

    def test_a_listing_has_chinese_headers_and_labels(self):
        zh = self.gs("zh_CN.UTF-8", "report").stdout
        for word in ("报表", "网格", "诉求", "合计", "诉求按状态", "待受理 1",
                     "维修 1"):
            self.assertIn(word, zh)
        en = self.gs("C", "report").stdout
        for word in ("appeals", "total", "appeals by status", "open 1",
                     "repair 1"):
            self.assertIn(word, en)
        self.assertNotIn("待受理", en)
        # the fields' allowed values carry the schema's labels
        self.assertIn("repair(维修)", self.gs("zh_CN.UTF-8", "appeal",
                                              "fields").stdout)

    def test_times_are_local_and_without_z(self):
        hist = self.gs("C", "--json", "history", "grid", self.gid).stdout
        iso = re.search(r'"time": "([0-9T:.\-]+)Z"', hist).group(1)
        utc = datetime.datetime.fromisoformat(iso[:19])
        want = (utc + datetime.timedelta(hours=8)).strftime("%Y-%m-%d %H:%M")
        out = self.gs("zh_CN.UTF-8", "history", "grid", self.gid,
                      tz="Asia/Shanghai").stdout
        self.assertIn(want, out)
        self.assertNotRegex(out, r"\d\dZ")
        st = self.gs("zh_CN.UTF-8", "status", tz="Asia/Shanghai").stdout
        m = re.search(r"时钟\s+(\d{4}-\d\d-\d\d \d\d:\d\d)\n", st)
        self.assertIsNotNone(m, st)
        self.assertGreaterEqual(m.group(1), want)
        utc_st = self.gs("C", "status", tz="UTC").stdout
        m2 = re.search(r"clock\s+(\d{4}-\d\d-\d\d \d\d:\d\d)\n", utc_st)
        self.assertIsNotNone(m2, utc_st)
        self.assertNotEqual(m.group(1), m2.group(1))  # the zone is applied
        # JSON keeps the machine form
        self.assertRegex(self.gs("C", "--json", "invite", "--role", "reader",
                                 "--scope", G1).stdout,
                         r'"expires": "\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"')

    def test_c_utf8_with_language_zh_cn(self):
        """glibc takes LANGUAGE when the locale is not "C": C.UTF-8 plus
        LANGUAGE=zh_CN gives Chinese; LANG=C ignores LANGUAGE."""
        p = self.gs("C.UTF-8", "--help", extra={"LANGUAGE": "zh_CN"})
        self.assertIn("用法：gridsync", p.stdout)
        p = self.gs("C", "--help", extra={"LANGUAGE": "zh_CN"})
        self.assertIn("usage: gridsync", p.stdout)

    def test_schema_help_verbs_and_doctor_are_chinese(self):
        """The schema's help texts (fields, verbs, collections), the verb
        lines' placeholders and the doctor's lines are translated; under
        LANG=C they stay English."""
        zh = self.gs("zh_CN.UTF-8", "resident", "fields").stdout
        self.assertIn("居民；迁出后记录仍保留", zh)
        self.assertIn("（紧急情况下联系谁）", zh)
        self.assertNotIn("who to call", zh)
        en = self.gs("C", "resident", "fields").stdout
        self.assertIn("(who to call in an emergency)", en)
        zh = self.gs("zh_CN.UTF-8", "appeal", "help").stdout
        self.assertIn("assign 编号 --to 单位 [--date 日期]", zh)
        self.assertIn("交给一个共建单位或志愿队", zh)
        self.assertNotRegex(zh, r"DATE|UNIT|WHY|hand it to")
        en = self.gs("C", "appeal", "help").stdout
        self.assertIn("assign ID --to UNIT [--date DATE]  (hand it to a unit",
                      en)
        p = self.gs("zh_CN.UTF-8", "doctor", check=False)
        self.assertIn(p.returncode, (0, 1), p.stderr)
        self.assertIn("数据可以打开", p.stdout)
        self.assertNotIn("  ok ", p.stdout)
        p = self.gs("C", "doctor", check=False)
        self.assertIn("  ok  The store opens", p.stdout)

    # ---- the catalogue ----
    def test_every_file_with_marks_is_in_potfiles(self):
        files = {l.strip() for l in read(os.path.join(PO, "POTFILES.in")).split("\n")
                 if l.strip() and not l.startswith("#")}
        marked = set()
        for d in ("cli", "crdt", "net", "node", "storage", "web"):
            for name in sorted(os.listdir(os.path.join(SRC, d))):
                if not name.endswith((".c", ".h")) or name.startswith("gs_i18n"):
                    continue
                if re.search(r'\bN?_\("', read(os.path.join(SRC, d, name))):
                    marked.add(d + "/" + name)
        self.assertEqual(sorted(marked - files), [],
                         "marked messages in files missing from po/POTFILES.in")

    def test_the_catalogue_has_no_untranslated_or_fuzzy_message(self):
        if not shutil.which("msgfmt"):
            self.skipTest("msgfmt (gettext) is not installed")
        p = subprocess.run(["msgfmt", "--check", "--statistics", "-o",
                            os.devnull, os.path.join(PO, "zh_CN.po")],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stderr, r"^\d+ translated messages\.\n?$")
        self.assertNotIn("untranslated", p.stderr)
        self.assertNotIn("fuzzy", p.stderr)

    def test_every_marked_message_is_in_zh_cn_po(self):
        if not shutil.which("xgettext"):
            self.skipTest("xgettext (gettext) is not installed")
        # the keywords are po/meson.build's (one source)
        meson = read(os.path.join(PO, "meson.build"))
        args = re.findall(r"'(--(?:keyword|flag)=[^']+)'", meson)
        self.assertIn("--keyword=node_reason_set:3", args)
        files = [l.strip() for l in read(os.path.join(PO, "POTFILES.in")).split("\n")
                 if l.strip() and not l.startswith("#")]
        pot = os.path.join(self.tmp, "x.pot")
        p = subprocess.run(["xgettext", "--from-code=UTF-8", "--keyword=_",
                            "--keyword=N_", "-o", pot] + args + files,
                           cwd=SRC, capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        wanted = msgids(read(pot))
        self.assertGreater(len(wanted), 400)
        have = msgids(read(os.path.join(PO, "zh_CN.po")), translated=True)
        missing = sorted(wanted - have)
        self.assertEqual(missing, [], "marked but not translated in "
                         "po/zh_CN.po (ninja -C build gridsync-update-po)")

    # ---- QR ----
    def zbar(self, path):
        if not shutil.which("zbarimg"):
            self.skipTest("zbarimg (zbar-tools) is not installed")
        p = subprocess.run(["zbarimg", "--raw", "-q", "-Sdisable",
                            "-Sqrcode.enable", path],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout.rstrip("\n")

    def test_invite_qr_file_decodes_to_the_printed_code(self):
        png = os.path.join(self.tmp, "invite.png")
        p = self.gs("C", "invite", "--role", "leader", "--scope", G1,
                    "--qr-file", png)
        code = p.stdout.strip()
        self.assertGreater(len(code), 100)
        self.assertEqual(os.stat(png).st_mode & 0o777, 0o600)
        self.assertEqual(self.zbar(png), code)
        svg = os.path.join(self.tmp, "invite.svg")
        self.gs("C", "invite", "--role", "leader", "--scope", G1,
                "--qr-file", svg)
        self.assertTrue(read(svg).startswith("<svg"))
        p = self.gs("C", "invite", "--role", "leader", "--scope", G1,
                    "--qr-file", os.path.join(self.tmp, "x.gif"), check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn(".png or .svg", p.stderr)

    def test_id_qr_file_and_terminal_qr(self):
        nid = self.gs("C", "id").stdout.strip()
        png = os.path.join(self.tmp, "id.png")
        self.assertEqual(self.gs("C", "id", "--qr-file", png).stdout.strip(), nid)
        self.assertEqual(self.zbar(png), nid)
        out = self.gs("C", "id", "--qr").stdout.splitlines()
        self.assertEqual(out[-1], nid)
        art = "\n".join(out[:-1])
        self.assertGreater(len(out), 10)
        self.assertTrue("▀" in art and "▄" in art and "█" in art)
        out = self.gs("C", "invite", "--role", "reader", "--scope", G1,
                      "--qr").stdout.splitlines()
        self.assertRegex(out[-1], r"^\S{100,}$")
        self.assertIn("▀", "".join(out[:-1]))


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def msgids(text, translated=False):
    out = set()
    for e in text.split("\n\n"):
        m = re.search(r'^msgid ((?:".*"\n?)+)msgstr ((?:".*"\n?)+)', e, re.M)
        if not m or e.lstrip().startswith("#~"):
            continue
        mid = "".join(re.findall(r'"(.*)"', m.group(1)))
        mstr = "".join(re.findall(r'"(.*)"', m.group(2)))
        if mid and (mstr or not translated) and "#, fuzzy" not in e:
            out.add(mid)
    return out


if __name__ == "__main__":
    unittest.main(verbosity=2)
