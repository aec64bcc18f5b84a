#!/usr/bin/env python3
"""Backups that never fork, restore, compact and doctor (issue 21), with
real gridsync processes on loopback.

    GRIDSYNC=build/cli/gridsync python3 tests/integration/test_backup.py
"""
import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_sync import GS, Base, Node, wait_for  # noqa: E402

SCOPE = "gongrencun/qinghejv/g07"
NOTE = "行动不便，需定期探访"


def status(node):
    return node.run("status", json_out=True)


def no_forks(node):
    """Forks refused and feeds set apart, as status reports them."""
    s = status(node)
    return s["forks"], s.get("quarantined") or []


def write_jsonl(path, n, pad=300):
    with open(path, "w") as f:
        for i in range(n):
            f.write(json.dumps({"text": "记录 %d " % i + "x" * pad}) + "\n")


class BackupTest(Base):
    def backup(self, node, path, check=True):
        return node.run("backup", path, check=check)

    def restore(self, path, dest, check=True):
        p = subprocess.run([GS, "--json", "restore", path, dest],
                           capture_output=True, text=True, timeout=120)
        if check and p.returncode != 0:
            raise AssertionError("restore %s %s exited %d: %s" % (
                path, dest, p.returncode, p.stderr.strip()))
        return p

    def test_backup_while_syncing_then_restore_never_forks(self):
        a, b = self.network("a", "b")
        a.serve()
        b.serve(a)
        for i in range(5):
            a.put("x_note", SCOPE, "text=a%d" % i)
            b.put("x_note", SCOPE, "text=b%d" % i)
        wait_for(lambda: a.digest() == b.digest(), what="a and b converge")

        # backups of b while a keeps writing and b receives it live
        stop = threading.Event()
        written = []

        def writer():
            k = 0
            while not stop.is_set() and k < 200:
                written.append(a.put("x_note", SCOPE, "text=live%d" % k))
                k += 1

        t = threading.Thread(target=writer)
        t.start()
        mid = []
        try:
            for k in range(3):
                path = os.path.join(self.root, "mid%d.gsb" % k)
                self.backup(b, path)
                mid.append(path)
                time.sleep(0.05)
        finally:
            stop.set()
            t.join()
        self.assertGreater(len(written), 0)
        for path in mid:
            self.assertTrue(os.path.exists(path))
            self.assertFalse(os.path.exists(path + ".part"))
        wait_for(lambda: a.digest() == b.digest(), what="b catches up")

        # a backup of the settled, still-running b restores to its state
        full = os.path.join(self.root, "full.gsb")
        self.backup(b, full)
        b_status = status(b)
        c_dir = os.path.join(self.root, "c")
        r = json.loads(self.restore(full, c_dir).stdout)
        c = Node(self.root, "c")
        self.nodes.append(c)
        self.assertEqual(c.digest(), b_status["digest"])
        self.assertEqual(status(c)["records"], b_status["records"])
        c_id = c.run("id").stdout.strip()
        b_id = b.run("id").stdout.strip()
        self.assertNotEqual(c_id, b_id, "a restored node has a new origin")
        self.assertEqual(r["node"], c_id)
        self.assertEqual(r["restored_from"], b_id)
        self.assertTrue(r["must_join"])
        # every feed of b, its own included, is held by c as it was
        self.assertEqual(status(c)["feeds"], b_status["feeds"])

        # a backup taken mid-stream is consistent: it restores and opens
        m_dir = os.path.join(self.root, "m")
        self.restore(mid[1], m_dir)
        m = Node(self.root, "m")
        self.nodes.append(m)
        self.assertLessEqual(status(m)["records"], b_status["records"])

        # the restored node joins again, and then b (still alive), c and a
        # all write and sync: no fork anywhere
        code = a.run("invite", "--role", "office", "--scope",
                     "gongrencun").stdout.strip()
        c.run("join", code)
        for i in range(3):
            b.put("x_note", SCOPE, "text=old-b-after%d" % i)
            c.put("x_note", SCOPE, "text=restored-c%d" % i)
            a.put("x_note", SCOPE, "text=a-after%d" % i)
        c.serve(a)
        code = a.run("invite", "--role", "office", "--scope",
                     "gongrencun").stdout.strip()
        m.run("join", code)
        m.put("x_note", SCOPE, "text=restored-m")
        m.run("sync", a.addr())
        wait_for(lambda: a.digest() == b.digest() == c.digest(),
                 timeout=30, what="a, b and c converge")
        m.run("sync", a.addr())
        self.assertEqual(m.digest(), a.digest())
        for n in (a, b, c, m):
            forks, quar = no_forks(n)
            self.assertEqual(forks, 0, "%s reports a fork" % n.name)
            self.assertEqual(quar, [], "%s set feeds apart" % n.name)
            inbox = n.run("inbox", json_out=True)
            self.assertNotIn("fork", json.dumps(inbox).lower(),
                             "%s's inbox mentions a fork" % n.name)

        # restoring the same backup again: never over c (refused, c
        # untouched); into a new directory it is a third, distinct node
        p = self.restore(full, c_dir, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("already holds files", p.stderr)
        self.assertEqual(c.run("id").stdout.strip(), c_id)
        d_dir = os.path.join(self.root, "d")
        r2 = json.loads(self.restore(full, d_dir).stdout)
        self.assertNotIn(r2["node"], (b_id, c_id))
        self.assertEqual(r2["backup_id"], r["backup_id"])

    def test_kill_during_backup_leaves_no_complete_file(self):
        n = Node(self.root, "big")
        self.nodes.append(n)
        n.run("init")
        src = os.path.join(self.root, "big.jsonl")
        write_jsonl(src, 20000)
        n.run("load", "x_note", "--scope", SCOPE, src, "--fast")
        good = os.path.join(self.root, "good.gsb")
        self.backup(n, good)
        size = os.path.getsize(good)
        self.assertGreater(size, 4 << 20)

        # kill -9 while the .part file grows, as soon as it has some bytes
        out = os.path.join(self.root, "killed.gsb")
        landed = 0
        for attempt in range(20):
            p = subprocess.Popen([GS, "--dir", n.dir, "backup", out],
                                 stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            part = out + ".part"
            while p.poll() is None:
                try:
                    if os.path.getsize(part) > 0:
                        break
                except OSError:
                    pass
            p.send_signal(signal.SIGKILL)
            p.wait()
            if p.returncode != -signal.SIGKILL:
                os.unlink(out)  # it finished first: try again
                continue
            self.assertFalse(os.path.exists(out),
                             "a killed backup left a file named as whole")
            if os.path.exists(part) and 0 < os.path.getsize(part) < size:
                landed += 1
                r = self.restore(part, os.path.join(self.root, "r%d" % attempt),
                                 check=False)
                self.assertEqual(r.returncode, 1)
                self.assertIn("cut short", r.stderr)
                self.assertFalse(os.path.exists(
                    os.path.join(self.root, "r%d" % attempt)))
            if landed >= 3:
                break
        self.assertGreater(landed, 0, "no kill landed during a backup")

        # a whole backup cut anywhere is refused, and leaves nothing
        with open(good, "rb") as f:
            data = f.read()
        for cut in (0, 7, 100, 4096, len(data) // 2, len(data) - 49,
                    len(data) - 1):
            path = os.path.join(self.root, "cut.gsb")
            with open(path, "wb") as f:
                f.write(data[:cut])
            dest = os.path.join(self.root, "cut-%d" % cut)
            r = self.restore(path, dest, check=False)
            self.assertEqual(r.returncode, 1, "cut at %d restored" % cut)
            self.assertFalse(os.path.exists(dest))
            self.assertEqual([x for x in os.listdir(self.root)
                              if ".restore-" in x], [])
        # one flipped byte in the store: the checksum says so
        bad = bytearray(data)
        bad[len(bad) // 2] ^= 1
        path = os.path.join(self.root, "flipped.gsb")
        with open(path, "wb") as f:
            f.write(bad)
        r = self.restore(path, os.path.join(self.root, "flipped"), check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("checksum", r.stderr)
        # the good one restores, whole
        self.restore(good, os.path.join(self.root, "whole"))
        w = Node(self.root, "whole")
        self.assertEqual(w.digest(), n.digest())

    def test_backup_holds_the_key_files_sealed_as_on_disk(self):
        a, = self.network("a")
        a.put("x_note", SCOPE, "text=hello")
        path = os.path.join(self.root, "a.gsb")
        self.backup(a, path)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        with open(path, "rb") as f:
            blob = f.read()
        for name in ("identity.key", "network.key"):
            with open(os.path.join(a.dir, name), "rb") as f:
                key = f.read()
            # carried byte for byte: as sealed as the node keeps it
            self.assertIn(name.encode(), blob)
            self.assertIn(key, blob)
        r = json.loads(self.restore(path, os.path.join(self.root, "r")).stdout)
        self.assertTrue(r["had_network"])
        rd = os.path.join(self.root, "r")
        self.assertFalse(os.path.exists(os.path.join(rd, "network.key")))
        with open(os.path.join(a.dir, "identity.key"), "rb") as f:
            old_key = f.read()
        with open(os.path.join(rd, "identity.key"), "rb") as f:
            self.assertNotEqual(f.read(), old_key, "a new identity")
        for name in os.listdir(rd):
            if name.endswith(".key"):
                self.assertEqual(
                    stat.S_IMODE(os.stat(os.path.join(rd, name)).st_mode),
                    0o600)

    def test_crafted_backups_are_refused(self):
        """A backup file is hostile input: bounded before anything is
        allocated, no path escapes the new directory, nothing is left."""
        import hashlib
        import struct

        def craft(files, store=b"", nfiles=None, good_sum=True):
            head = b"GSBACKUP" + bytes([1, 0, 0, 0]) + b"\x01" * 16 + \
                struct.pack(">Q", 0) + b"\x02" * 32 + \
                struct.pack(">H", len(files) if nfiles is None else nfiles)
            body = head
            for name, data, size in files:
                body += bytes([len(name)]) + name + \
                    struct.pack(">I", len(data) if size is None else size) + data
            body += store + struct.pack(">Q", len(store))
            h = hashlib.blake2b(body, digest_size=32).digest()
            if not good_sum:
                h = bytes(32)
            return body + h + b"GSBKEND1"

        cases = {
            "escape": craft([(b"../evil.key", b"x", None)]),
            "slash": craft([(b"a/b", b"x", None)]),
            "dot": craft([(b".hidden", b"x", None)]),
            "store-name": craft([(b"data.mdb", b"x", None)]),
            "many": craft([], nfiles=65535),
            "huge-file": craft([(b"big.key", b"", 0xFFFFFFFF)]),
            "long-file": craft([(b"a.key", b"", 1 << 20)]),
            "bad-sum": craft([(b"a.key", b"x", None)], store=b"\0" * 4096,
                             good_sum=False),
            "not-lmdb": craft([(b"a.key", b"x", None)], store=b"\0" * 4096),
        }
        for name, blob in cases.items():
            path = os.path.join(self.root, name + ".gsb")
            with open(path, "wb") as f:
                f.write(blob)
            dest = os.path.join(self.root, "out-" + name)
            r = self.restore(path, dest, check=False)
            self.assertEqual(r.returncode, 1, "%s: %s" % (name, r.stderr))
            self.assertNotIn("AddressSanitizer", r.stderr)
            self.assertFalse(os.path.exists(dest), name)
        self.assertFalse(os.path.exists(os.path.join(self.root, "evil.key")))
        self.assertEqual([x for x in os.listdir(self.root)
                          if ".restore-" in x], [])

    def test_a_backup_whose_store_was_altered_is_refused(self):
        """A backup's store altered and its checksum made again (anyone can
        compute a BLAKE2b): the restore reads the whole store back, in a
        child process, before taking it; a damaged page or a changed
        sealed value is refused, with no crash and nothing left."""
        import hashlib
        a, = self.network("a")
        for i in range(300):
            a.put("x_note", SCOPE, "text=%s %d" % (NOTE, i))
        path = os.path.join(self.root, "good.gsb")
        self.backup(a, path)
        with open(path, "rb") as f:
            blob = f.read()
        tail = 8 + 32 + 8  # store length, checksum, end mark
        self.assertEqual(blob[-8:], b"GSBKEND1")
        n = int.from_bytes(blob[-tail:-tail + 8], "big")
        start = len(blob) - tail - n
        self.assertEqual(blob[start:start + 0], b"")
        # the good backup restores
        self.restore(path, os.path.join(self.root, "out-good"))

        def altered(name, change):
            store = bytearray(blob[start:start + n])
            change(store)
            body = blob[:start] + bytes(store) + blob[-tail:-tail + 8]
            h = hashlib.blake2b(body, digest_size=32).digest()
            out = os.path.join(self.root, name + ".gsb")
            with open(out, "wb") as f:
                f.write(body + h + b"GSBKEND1")
            return out

        page = 4096
        npages = n // page

        def flip_values(store):
            # a byte in the middle of every page past the meta pages: the
            # sealed values there no longer open
            for p in range(2, npages):
                store[p * page + page // 2] ^= 0x40

        def garbage_pages(store):
            # every page past the meta pages overwritten: B-tree nonsense
            for p in range(2, npages):
                store[p * page:(p + 1) * page] = bytes([0xA5]) * page

        for name, change in (("flipped", flip_values),
                             ("garbage", garbage_pages)):
            bad = altered(name, change)
            dest = os.path.join(self.root, "out-" + name)
            r = self.restore(bad, dest, check=False)
            self.assertEqual(r.returncode, 1, "%s: %s" % (name, r.stderr))
            self.assertNotIn("AddressSanitizer", r.stderr)
            self.assertNotIn("runtime error", r.stderr)
            self.assertFalse(os.path.exists(dest), name)
        self.assertEqual([x for x in os.listdir(self.root)
                          if ".restore-" in x], [])

    def test_restore_keeps_its_record_form(self):
        a, = self.network("a")
        rid = a.put("x_note", SCOPE, "text=gone")
        a.run("delete", "x_note", rid)
        self.assertTrue(a.run("get", "x_note", rid, json_out=True)["deleted"])
        a.run("restore", "x_note", rid)
        self.assertFalse(a.run("get", "x_note", rid, json_out=True)["deleted"])
        p = a.run("help", "restore")
        self.assertIn("restore BACKUP DIR", p.stdout)
        # a missing backup file is named as such, not as a collection
        p = a.run("restore", "./nothing.gsb", os.path.join(self.root, "z"),
                  check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("no such file", p.stderr)

    def test_compact_offline_with_progress(self):
        n, = self.network("n")
        src = os.path.join(self.root, "n.jsonl")
        write_jsonl(src, 5000)
        n.run("load", "x_note", "--scope", SCOPE, src)
        before = n.digest()
        n.serve()
        p = n.run("compact", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("in use", p.stderr)
        n.stop()
        p = n.run("compact")
        self.assertIn("compacting:", p.stderr)
        self.assertIn("(100%)", p.stderr)
        r = n.run("compact", json_out=True)
        self.assertLessEqual(r["bytes_after"], r["bytes_before"])
        self.assertEqual(n.digest(), before)
        self.assertFalse(os.path.exists(
            os.path.join(n.dir, "data.mdb.compact.part")))
        n.put("x_note", SCOPE, "text=after compaction")

    def test_kill_during_compact_keeps_the_store(self):
        n = Node(self.root, "n")
        self.nodes.append(n)
        n.run("init")
        src = os.path.join(self.root, "n.jsonl")
        write_jsonl(src, 20000)
        n.run("load", "x_note", "--scope", SCOPE, src, "--fast")
        before = n.digest()
        part = os.path.join(n.dir, "data.mdb.compact.part")
        landed = 0
        for attempt in range(20):
            p = subprocess.Popen([GS, "--dir", n.dir, "compact"],
                                 stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            while p.poll() is None:
                try:
                    if os.path.getsize(part) > 0:
                        break
                except OSError:
                    pass
            p.send_signal(signal.SIGKILL)
            p.wait()
            if p.returncode == -signal.SIGKILL and os.path.exists(part):
                landed += 1
                self.assertEqual(n.digest(), before)
                if landed >= 2:
                    break
        self.assertGreater(landed, 0, "no kill landed during a compaction")
        n.run("compact")
        self.assertFalse(os.path.exists(part))
        self.assertEqual(n.digest(), before)


    def test_sealed_backup_holds_no_resident_in_clear(self):
        """Issue 19 + 21: a backup of a sealed node is as sealed as the
        node: no resident's name, phone or note in it, its key files
        carried sealed with seal.key, never the unlock socket or the seal
        lock; the restored node's new identity.key is sealed too."""
        a, = self.network("a")
        people = [("欧阳秀英", "13912345678"), ("司马桂兰", "13811112222")]
        for name, phone in people:
            a.put("resident", SCOPE, "name=" + name, "phone=" + phone,
                  "note=" + NOTE)
        a.serve()  # unlock.sock exists while it runs
        self.assertTrue(os.path.exists(os.path.join(a.dir, "unlock.sock")))
        self.assertTrue(os.path.exists(os.path.join(a.dir, "seal.lock")))
        path = os.path.join(self.root, "a.gsb")
        out = a.run("backup", path, json_out=True)
        self.assertTrue(out["sealed"])
        self.assertIn("seal.key", out["files"])
        self.assertNotIn("unlock.sock", out["files"])
        self.assertNotIn("seal.lock", out["files"])
        with open(path, "rb") as f:
            blob = f.read()
        for name, phone in people:
            for s in (name, phone):
                self.assertNotIn(s.encode(), blob, "%s in the backup" % s)
        self.assertNotIn(NOTE.encode(), blob)
        self.assertNotIn(b"unlock.sock", blob)
        self.assertNotIn(b"seal.lock", blob)
        for name in ("identity.key", "network.key"):
            with open(os.path.join(a.dir, name), "rb") as f:
                key = f.read()
            self.assertTrue(key.startswith(b"GSSEALF1"), name)
            self.assertIn(key, blob)
        a.stop()
        digest = a.digest()

        rd = os.path.join(self.root, "r")
        r = json.loads(self.restore(path, rd).stdout)
        self.assertTrue(r["sealed"])
        with open(os.path.join(rd, "identity.key"), "rb") as f:
            ident = f.read()
        self.assertTrue(ident.startswith(b"GSSEALF1"),
                        "the new identity.key is sealed")
        for name in os.listdir(rd):
            p = os.path.join(rd, name)
            if os.path.isfile(p):
                with open(p, "rb") as f:
                    data = f.read()
                for pname, phone in people:
                    self.assertNotIn(pname.encode(), data, name)
                    self.assertNotIn(phone.encode(), data, name)
        rn = Node(self.root, "r")
        self.assertEqual(rn.digest(), digest)
        got = sorted(x["fields"]["name"] for x in rn.records("resident"))
        self.assertEqual(got, sorted(n for n, _ in people))
        # it is sealed under the backed-up node's passphrase: none, none
        env = dict(os.environ)
        env.pop("GRIDSYNC_PASSPHRASE", None)
        p = subprocess.run([GS, "--dir", rd, "status"], capture_output=True,
                           text=True, env=env, stdin=subprocess.DEVNULL,
                           timeout=60)
        self.assertEqual(p.returncode, 1)
        self.assertIn("locked", p.stderr)

    def test_restore_needs_the_backed_up_passphrase(self):
        a, = self.network("a")
        a.put("resident", SCOPE, "name=东方红梅", "phone=13700001111")
        path = os.path.join(self.root, "a.gsb")
        self.backup(a, path)
        env = dict(os.environ)
        for name, pw in (("wrong", "not-the-passphrase"), ("none", None)):
            e = dict(env)
            e.pop("GRIDSYNC_PASSPHRASE", None)
            if pw:
                e["GRIDSYNC_PASSPHRASE"] = pw
            dest = os.path.join(self.root, "r-" + name)
            p = subprocess.run([GS, "restore", path, dest],
                               capture_output=True, text=True, env=e,
                               stdin=subprocess.DEVNULL, timeout=60)
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertIn("wrong passphrase" if pw else "is sealed",
                          p.stderr)
            self.assertIn("nothing was written", p.stderr)
            self.assertFalse(os.path.exists(dest))
            self.assertEqual([x for x in os.listdir(self.root)
                              if ".restore-" in x], [])
        # a passphrase file works as for every command
        pf = os.path.join(self.root, "pass.txt")
        with open(pf, "w") as f:
            f.write(env["GRIDSYNC_PASSPHRASE"] + "\n")
        e = dict(env)
        e.pop("GRIDSYNC_PASSPHRASE", None)
        dest = os.path.join(self.root, "r-file")
        subprocess.run([GS, "--passphrase-file", pf, "restore", path, dest],
                       check=True, capture_output=True, env=e,
                       stdin=subprocess.DEVNULL, timeout=60)
        self.assertEqual(Node(self.root, "r-file").digest(), a.digest())

    def test_restore_refuses_a_seal_key_of_another_node(self):
        """A backup whose seal.key was swapped for another node's (same
        passphrase, checksum made good again) is refused: its data key
        does not open the store, and nothing is left."""
        import hashlib
        a, = self.network("a")
        a.put("resident", SCOPE, "name=东方红梅")
        b = Node(self.root, "b")
        self.nodes.append(b)
        b.run("init")
        path = os.path.join(self.root, "a.gsb")
        self.backup(a, path)
        with open(path, "rb") as f:
            blob = f.read()
        with open(os.path.join(a.dir, "seal.key"), "rb") as f:
            mine = f.read()
        with open(os.path.join(b.dir, "seal.key"), "rb") as f:
            theirs = f.read()
        self.assertEqual(blob.count(mine), 1)
        body = blob[:-40].replace(mine, theirs)
        swapped = body + hashlib.blake2b(body, digest_size=32).digest() + \
            b"GSBKEND1"
        bad = os.path.join(self.root, "swapped.gsb")
        with open(bad, "wb") as f:
            f.write(swapped)
        dest = os.path.join(self.root, "r")
        r = self.restore(bad, dest, check=False)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("nothing was written", r.stderr)
        self.assertFalse(os.path.exists(dest))
        self.assertEqual([x for x in os.listdir(self.root)
                          if ".restore-" in x], [])

    def test_backup_of_an_open_node_says_so(self):
        n = Node(self.root, "open")
        self.nodes.append(n)
        n.run("init", "--no-passphrase")
        n.put("x_note", SCOPE, "text=hello")
        path = os.path.join(self.root, "open.gsb")
        p = n.run("backup", path)
        self.assertIn("no passphrase", p.stdout)
        self.assertFalse(n.run("backup", path, json_out=True)["sealed"])
        r = json.loads(self.restore(path, os.path.join(self.root, "r")).stdout)
        self.assertFalse(r["sealed"])
        self.assertEqual(Node(self.root, "r").digest(), n.digest())


    @unittest.skipUnless(os.environ.get("GRIDSYNC_OLD"),
                         "needs GRIDSYNC_OLD, a gridsync of a build before "
                         "sealing (issue 19), to make an unsealed directory")
    def test_earlier_build_directory_doctor_then_compact_seals_it(self):
        old = os.environ["GRIDSYNC_OLD"]
        d = os.path.join(self.root, "old")
        subprocess.run([old, "--dir", d, "init"], check=True,
                       capture_output=True)
        for i in range(30):
            subprocess.run([old, "--dir", d, "put", "resident", "--scope",
                            SCOPE, "name=上官秀英%d" % i,
                            "phone=1395555%04d" % i], check=True,
                           capture_output=True)
        n = Node(self.root, "old")
        # the doctor says it is not sealed, and leaves it as it is
        doc = DoctorTest.doctor(self, n)
        f = [c for c in doc["checks"] if c["check"] == "passphrase"][0]
        self.assertFalse(f["ok"])
        self.assertIn("not sealed yet", f["text"])
        self.assertFalse(os.path.exists(os.path.join(d, "seal.key")))
        # compact seals it first, showing the sealing's progress
        p = n.run("compact")
        self.assertIn("sealing", p.stderr)
        self.assertIn("compacting:", p.stderr)
        self.assertTrue(os.path.exists(os.path.join(d, "seal.key")))
        with open(os.path.join(d, "data.mdb"), "rb") as fh:
            self.assertNotIn("上官秀英".encode(), fh.read())
        self.assertEqual(len(n.records("resident")), 30)


class DoctorTest(Base):
    def doctor(self, node, env=None):
        e = dict(os.environ)
        e.update(env or {})
        for k, v in (env or {}).items():
            if v is None:
                e.pop(k, None)
        p = subprocess.run([GS, "--dir", node.dir, "--json", "doctor"],
                           capture_output=True, text=True, timeout=60,
                           env={k: v for k, v in e.items() if v is not None},
                           stdin=subprocess.DEVNULL)
        doc = json.loads(p.stdout)
        self.assertEqual(p.returncode, 0 if doc["ok"] else 1)
        return doc

    def finding(self, doc, check):
        found = [c for c in doc["checks"] if c["check"] == check]
        self.assertTrue(found, "no %s check in %r" % (check, doc))
        return found[0]

    def test_all_well(self):
        a, = self.network("a")
        doc = self.doctor(a)
        self.assertTrue(doc["ok"], doc)
        for check in ("passphrase", "store", "key_mode", "disk_space",
                      "serve", "clock", "network"):
            self.assertTrue(self.finding(doc, check)["ok"])
        p = a.run("doctor")
        self.assertIn("all is well", p.stdout)

    def test_no_node(self):
        n = Node(self.root, "none")
        doc = self.doctor(n)
        self.assertFalse(doc["ok"])
        f = self.finding(doc, "store")
        self.assertFalse(f["ok"])
        self.assertIn("gridsync init", f["fix"])

    def test_key_file_readable_by_others(self):
        a, = self.network("a")
        os.chmod(os.path.join(a.dir, "network.key"), 0o644)
        doc = self.doctor(a)
        self.assertFalse(doc["ok"])
        f = self.finding(doc, "key_mode")
        self.assertFalse(f["ok"])
        self.assertIn("network.key", f["text"])
        self.assertIn("chmod 600", f["fix"])
        p = a.run("doctor", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("chmod 600", p.stdout)

    def test_directory_readable_by_others(self):
        a, = self.network("a")
        os.chmod(a.dir, 0o755)
        f = self.finding(self.doctor(a), "dir_mode")
        self.assertFalse(f["ok"])
        self.assertIn("chmod 700", f["fix"])

    def test_stale_ui_addr(self):
        a, = self.network("a")
        dead = subprocess.Popen(["true"])
        dead.wait()
        path = os.path.join(a.dir, "ui.addr")
        with open(path, "w") as f:
            f.write("http://127.0.0.1:7080/ %d\n" % dead.pid)
        f = self.finding(self.doctor(a), "ui_addr")
        self.assertFalse(f["ok"])
        self.assertIn("rm " + path, f["fix"])

    def test_serve_running(self):
        a, = self.network("a")
        argv = [GS, "--dir", a.dir, "serve", "--listen", "127.0.0.1:0",
                "--ui", "127.0.0.1:0"]
        a.log = open(a.dir + ".log", "a")
        a.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=a.log,
                                  text=True)
        wait_for(lambda: os.path.exists(os.path.join(a.dir, "ui.addr")),
                 what="serve writes ui.addr")
        doc = self.doctor(a)
        self.assertTrue(doc["ok"], doc)
        f = self.finding(doc, "serve")
        self.assertIn(str(a.proc.pid), f["text"])

    def test_clock_before_2024(self):
        a, = self.network("a")
        f = self.finding(self.doctor(a, {"GRIDSYNC_NOW_MS": "1600000000000"}),
                         "clock")
        self.assertFalse(f["ok"])
        self.assertIn("date and time", f["fix"])

    def test_clock_against_a_peer(self):
        a, b = self.network("a", "b")
        ahead = int(time.time() * 1000) + 3 * 86400 * 1000
        argv = [GS, "--dir", a.dir, "serve", "--listen", "127.0.0.1:0",
                "--no-ui"]
        env = dict(os.environ, GRIDSYNC_NOW_MS=str(ahead))
        a.log = open(a.dir + ".log", "a")
        a.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=a.log,
                                  text=True, env=env)
        a.port = int(a.proc.stdout.readline().split()[2].rsplit(":", 1)[1])
        b.run("sync", a.addr(), check=False)
        f = self.finding(self.doctor(b), "clock")
        self.assertFalse(f["ok"], f)
        self.assertIn("127.0.0.1", f["text"])

    def test_interrupted_compaction(self):
        a, = self.network("a")
        part = os.path.join(a.dir, "data.mdb.compact.part")
        with open(part, "wb") as f:
            f.write(b"\0" * 4096)
        f = self.finding(self.doctor(a), "leftover")
        self.assertFalse(f["ok"])
        self.assertIn("rm " + part, f["fix"])
        os.unlink(part)
        self.assertTrue(self.doctor(a)["ok"])

    def test_restored_node_says_so(self):
        a, = self.network("a")
        path = os.path.join(self.root, "a.gsb")
        a.run("backup", path)
        subprocess.run([GS, "restore", path, os.path.join(self.root, "r")],
                       check=True, capture_output=True)
        r = Node(self.root, "r")
        doc = self.doctor(r)
        self.assertTrue(doc["ok"], doc)
        f = self.finding(doc, "restored")
        self.assertIn(a.run("id").stdout.strip(), f["text"])

    def test_passphrase_sealed(self):
        a, = self.network("a")
        f = self.finding(self.doctor(a), "passphrase")
        self.assertTrue(f["ok"])
        self.assertFalse(f["warning"])
        self.assertIn("sealed", f["text"])

    def test_passphrase_open_node_warns(self):
        n = Node(self.root, "open")
        self.nodes.append(n)
        n.run("init", "--no-passphrase")
        doc = self.doctor(n)
        self.assertTrue(doc["ok"], doc)
        f = self.finding(doc, "passphrase")
        self.assertTrue(f["ok"])
        self.assertTrue(f["warning"])
        self.assertIn("no passphrase", f["text"])
        self.assertIn("gridsync --dir %s passphrase" % n.dir, f["fix"])
        p = n.run("doctor")
        self.assertIn("WARN", p.stdout)
        self.assertIn("warnings above", p.stdout)
        self.assertTrue(self.finding(doc, "clock")["ok"])

    def test_passphrase_locked(self):
        """No passphrase, no terminal, no serve: doctor does not prompt
        or hang, says how to give it, and still checks what it can."""
        a, = self.network("a")
        os.chmod(os.path.join(a.dir, "network.key"), 0o644)
        t0 = time.monotonic()
        doc = self.doctor(a, {"GRIDSYNC_PASSPHRASE": None})
        self.assertLess(time.monotonic() - t0, 30)
        self.assertFalse(doc["ok"])
        f = self.finding(doc, "passphrase")
        self.assertFalse(f["ok"])
        self.assertIn("no passphrase was given", f["text"])
        self.assertIn("--passphrase-file", f["fix"])
        self.assertIn("GRIDSYNC_PASSPHRASE", f["fix"])
        self.assertFalse(self.finding(doc, "key_mode")["ok"])
        self.assertTrue(self.finding(doc, "disk_space")["ok"])
        self.assertTrue(self.finding(doc, "serve")["ok"])
        self.assertNotIn("store", [c["check"] for c in doc["checks"]])
        os.chmod(os.path.join(a.dir, "network.key"), 0o600)
        # a wrong one is told apart
        f = self.finding(self.doctor(a, {"GRIDSYNC_PASSPHRASE": "wrong-one!"}),
                         "passphrase")
        self.assertFalse(f["ok"])
        self.assertIn("not this node's", f["text"])
        self.assertIn("join the network again", f["fix"])

    def test_passphrase_from_the_running_serve(self):
        a, = self.network("a")
        a.serve()
        doc = self.doctor(a, {"GRIDSYNC_PASSPHRASE": None})
        self.assertTrue(doc["ok"], doc)
        self.assertTrue(self.finding(doc, "passphrase")["ok"])
        self.assertTrue(self.finding(doc, "store")["ok"])
        self.assertTrue(self.finding(doc, "network")["ok"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
