#!/usr/bin/env python3
"""Residents' data sealed at rest (issue 19), with real gridsync processes.

A community of a few hundred residents (names, phones, the note
"行动不便，需定期探访") is loaded on the office, synced to a leader's
laptop, edited there and synced back: no name, phone or note appears in
any file of either node directory (data.mdb, lock.mdb, the key files,
everything), nor in `mdb_dump -a` of their stores. A wrong passphrase is
refused with a clear error and nothing written.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_sync import GS, Base  # noqa: E402

NOTE = "行动不便，需定期探访"
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = "秀英桂英玉兰建国建华淑珍凤英志强桂兰"
SCOPE = "gongrencun/qinghejv/g07"


def residents(n):
    out = []
    for i in range(n):
        name = SURNAMES[i % len(SURNAMES)] + GIVEN[(i * 7) % len(GIVEN)] + \
            GIVEN[(i * 3 + 1) % len(GIVEN)] + "%03d" % i
        out.append({"name": name, "phone": "139%08d" % (31337000 + i * 17),
                    "note": NOTE + "（%s）" % name, "birth_year": 1930 + i % 60})
    return out


def files_of(d):
    for root, _, names in os.walk(d):
        for n in names:
            yield os.path.join(root, n)


class SealedTest(Base):
    def assert_no_plaintext(self, node, people, extra=()):
        needles = [NOTE.encode()] + [s.encode() for s in extra]
        for p in people:
            needles += [p["name"].encode(), p["phone"].encode()]
        for path in files_of(node.dir):
            with open(path, "rb") as fh:
                raw = fh.read()
            for s in needles:
                self.assertNotIn(s, raw, "%s holds %s in plain" % (
                    path, s.decode()))
        if not shutil.which("mdb_dump"):
            self.skipTest("mdb_dump (lmdb-utils) is not installed")
        dump = subprocess.run(["mdb_dump", "-a", node.dir], capture_output=True,
                              check=True).stdout
        # mdb_dump prints values as hex (or printable text with -p): look
        # for both forms
        text = dump.decode("latin-1")
        for s in needles:
            self.assertNotIn(s.hex(), text.replace("\n", "").replace(" ", ""))
            self.assertNotIn(s.decode("latin-1"), text)

    def test_community_synced_and_edited_leaves_no_plaintext(self):
        office, leader = self.network("office", "leader", scope="gongrencun")
        people = residents(300)
        src = os.path.join(self.root, "residents.jsonl")
        with open(src, "w", encoding="utf-8") as fh:
            for p in people:
                fh.write(json.dumps(p, ensure_ascii=False) + "\n")
        office.run("load", "resident", "--scope", SCOPE, src)
        os.unlink(src)
        office.serve()
        leader.run("sync", office.addr())
        self.assertEqual(len(leader.records("resident")), 300)
        # edits on the laptop, synced back
        recs = leader.records("resident")
        for r in recs[:20]:
            leader.put("resident", None, "phone=13700000000",
                       "note=" + NOTE + "，独居", rid=r["id"])
        leader.run("sync", office.addr())
        self.assertEqual(office.digest(), leader.digest())
        self.assertEqual(office.stop(), 0)
        # the data reads back through the passphrase...
        got = {r["fields"]["name"] for r in office.records("resident")}
        self.assertEqual(got, {p["name"] for p in people})
        # ...and nowhere in the files
        for n in (office, leader):
            self.assert_no_plaintext(n, people, extra=["13700000000"])

    def test_wrong_passphrase_is_refused_and_writes_nothing(self):
        (a,) = self.network("a")
        a.put("resident", SCOPE, "name=欧阳秀英", "phone=13912345678")

        def snapshot():
            out = {}
            for path in files_of(a.dir):
                if not path.endswith("lock.mdb"):
                    with open(path, "rb") as fh:
                        out[path] = hashlib.sha256(fh.read()).hexdigest()
            return out
        before = snapshot()
        env = dict(os.environ, GRIDSYNC_PASSPHRASE="not-the-passphrase")
        for args in (["put", "resident", "--scope", SCOPE, "name=x"],
                     ["status"], ["passphrase"]):
            p = subprocess.run([GS, "--dir", a.dir] + args, env=env,
                               capture_output=True, text=True)
            self.assertEqual(p.returncode, 1, args)
            self.assertIn("wrong passphrase", p.stderr)
        self.assertEqual(snapshot(), before)
        # no passphrase at all, no terminal: locked, said plainly
        env = {k: v for k, v in os.environ.items()
               if k != "GRIDSYNC_PASSPHRASE"}
        p = subprocess.run([GS, "--dir", a.dir, "status"], env=env,
                           capture_output=True, text=True,
                           stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 1)
        self.assertIn("locked", p.stderr)
        # a passphrase file works, and a changed passphrase too
        pf = os.path.join(self.root, "pass")
        with open(pf, "w") as fh:
            fh.write(os.environ["GRIDSYNC_PASSPHRASE"] + "\n")
        npf = os.path.join(self.root, "newpass")
        with open(npf, "w") as fh:
            fh.write("一个新的口令很长\n")
        p = subprocess.run([GS, "--dir", a.dir, "--passphrase-file", pf,
                            "--new-passphrase-file", npf, "passphrase"],
                           env=env, capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        p = subprocess.run([GS, "--dir", a.dir, "--passphrase-file", npf,
                            "--json", "list", "resident"], env=env,
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)[0]["fields"]["name"], "欧阳秀英")

    def test_open_node_is_warned_about(self):
        from test_sync import Node
        n = Node(self.root, "open")
        self.nodes.append(n)
        p = n.run("init", "--no-passphrase")
        self.assertIn("no passphrase", p.stderr)
        env = {k: v for k, v in os.environ.items()
               if k != "GRIDSYNC_PASSPHRASE"}
        p = subprocess.run([GS, "--dir", n.dir, "status"], env=env,
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("no passphrase", p.stdout)

    def test_bundles_are_sealed_under_the_network_key(self):
        office, leader = self.network("office", "leader")
        office.put("resident", SCOPE, "name=司马桂兰", "phone=13811112222",
                   "note=" + NOTE)
        path = os.path.join(self.root, "out.gsb")
        office.run("export", path)
        with open(path, "rb") as fh:
            raw = fh.read()
        for s in ("司马桂兰", "13811112222", NOTE, "resident"):
            self.assertNotIn(s.encode(), raw)
        leader.run("import", path)
        self.assertEqual(leader.records("resident")[0]["fields"]["name"],
                         "司马桂兰")
        self.assert_no_plaintext(leader, [], extra=["司马桂兰", "13811112222"])

    def test_serving_node_unlocks_this_users_commands(self):
        (a,) = self.network("a")
        a.put("resident", SCOPE, "name=东方红梅")
        a.serve()
        sock = os.path.join(a.dir, "unlock.sock")
        import stat
        st = os.lstat(sock)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(st.st_mode & 0o777, 0o600)
        self.assertEqual(os.stat(a.dir).st_mode & 0o777, 0o700)
        # no passphrase, no terminal: the running node gives the key
        env = {k: v for k, v in os.environ.items()
               if k != "GRIDSYNC_PASSPHRASE"}
        p = subprocess.run([GS, "--dir", a.dir, "--json", "list", "resident"],
                           env=env, capture_output=True, text=True,
                           stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)[0]["fields"]["name"], "东方红梅")
        p = subprocess.run([GS, "--dir", a.dir, "put", "resident", "--scope",
                            SCOPE, "name=西门秀兰"], env=env,
                           capture_output=True, text=True,
                           stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(a.stop(), 0)
        self.assertFalse(os.path.exists(sock), "the socket goes with serve")
        p = subprocess.run([GS, "--dir", a.dir, "status"], env=env,
                           capture_output=True, text=True,
                           stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 1)
        self.assertIn("locked", p.stderr)
        # a socket of another (fake) process answering a wrong key is not
        # believed: the command falls back to the passphrase
        import socket
        import threading
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(sock)
        srv.listen(1)

        def answer():
            c, _ = srv.accept()
            c.sendall(b"\x01" * 32)
            c.close()
        t = threading.Thread(target=answer)
        t.start()
        p = subprocess.run([GS, "--dir", a.dir, "--json", "list", "resident"],
                           capture_output=True, text=True,
                           stdin=subprocess.DEVNULL)
        t.join()
        srv.close()
        os.unlink(sock)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len(json.loads(p.stdout)), 2)

    def test_ui_hands_the_passphrase_to_its_detached_serve(self):
        (a,) = self.network("a")
        pf = os.path.join(self.root, "pass")
        with open(pf, "w") as fh:
            fh.write(os.environ["GRIDSYNC_PASSPHRASE"] + "\n")
        env = {k: v for k, v in os.environ.items()
               if k not in ("GRIDSYNC_PASSPHRASE", "DISPLAY",
                            "WAYLAND_DISPLAY")}
        p = subprocess.run([GS, "--dir", a.dir, "--passphrase-file", pf,
                            "--json", "ui", "--no-browser", "--listen",
                            "127.0.0.1:0", "--ui", "127.0.0.1:0"], env=env,
                           capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 0, p.stderr)
        pid = json.loads(p.stdout)["pid"]
        try:
            # the serve runs unlocked: a command without any passphrase
            # gets the key from it
            q = subprocess.run([GS, "--dir", a.dir, "id"], env=env,
                               capture_output=True, text=True,
                               stdin=subprocess.DEVNULL)
            self.assertEqual(q.returncode, 0, q.stderr)
        finally:
            os.kill(pid, 15)
            import time
            for _ in range(200):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)

    @unittest.skipUnless(os.environ.get("GRIDSYNC_OLD"),
                         "needs GRIDSYNC_OLD, a gridsync of an earlier build, "
                         "to make an unsealed store (the in-place upgrade "
                         "and its SIGKILL resumption are proved by "
                         "tests/unit/storage/test_store_seal.c)")
    def test_old_unsealed_store_is_upgraded(self):
        old = os.environ["GRIDSYNC_OLD"]
        d = os.path.join(self.root, "old")
        subprocess.run([old, "--dir", d, "init"], check=True)
        subprocess.run([old, "--dir", d, "put", "resident", "--scope", SCOPE,
                        "name=欧阳建国", "phone=13955556666", "note=" + NOTE],
                       check=True, capture_output=True)
        subprocess.run([old, "--dir", d, "network", "create", "工人村街道"],
                       check=True, capture_output=True)
        for i in range(50):
            subprocess.run([old, "--dir", d, "put", "resident", "--scope",
                            SCOPE, "name=上官秀英%d" % i], check=True,
                           capture_output=True)
        # what it holds (not its digest: store format 3 hashes another
        # encoding, under "gridsync-digest-v3")
        before = sorted(json.dumps([r["id"], r["fields"]], sort_keys=True)
                        for r in json.loads(subprocess.run(
                            [old, "--dir", d, "--json", "list", "resident"],
                            check=True, capture_output=True,
                            text=True).stdout))
        with open(os.path.join(d, "data.mdb"), "rb") as fh:
            self.assertIn("欧阳建国".encode(), fh.read(),
                          "the old store holds it in plain (the search works)")
        p = subprocess.run([GS, "--dir", d, "--json", "status"],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("sealing", p.stderr)
        self.assertIn("compacting", p.stderr)
        after = sorted(json.dumps([r["id"], r["fields"]], sort_keys=True)
                       for r in json.loads(subprocess.run(
                           [GS, "--dir", d, "--json", "list", "resident"],
                           check=True, capture_output=True,
                           text=True).stdout))
        self.assertEqual(after, before)
        from test_sync import Node
        n = Node(self.root, "old")
        self.assert_no_plaintext(n, [], extra=["欧阳建国", "13955556666",
                                               "上官秀英"])
        # and it reads back whole
        p = subprocess.run([GS, "--dir", d, "--json", "list", "resident"],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len(json.loads(p.stdout)), 51)


if __name__ == "__main__":
    unittest.main(verbosity=2)
