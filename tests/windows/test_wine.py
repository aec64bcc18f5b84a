#!/usr/bin/env python3
"""The Windows build under wine, against the Linux build (issue 22).

    GRIDSYNC=build/cli/gridsync GRIDSYNC_EXE=build-win/cli/gridsync.exe \
      WINEPREFIX=... python3 tests/windows/test_wine.py

Checks, with real processes on loopback (ports chosen by the OS):
- a node directory with a Chinese name, and Chinese text in and out;
- the default node directory is %APPDATA%/gridsync;
- a Windows node and a Linux node of one network sync both ways (each
  side serving once) and converge on each other's records and digest;
- the Windows build's web app answers /api/status on 127.0.0.1 with the
  right Host, and refuses another Host; a write by another process reaches
  its event stream; `ui` starts serve detached;
- backup while serve runs, restore, compact (refused while in use), doctor;
- the zip's catalogue gives Chinese messages under LANG=zh_CN.
"""
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

GS = os.environ.get("GRIDSYNC", "build/cli/gridsync")
EXE = os.environ.get("GRIDSYNC_EXE", "build-win/cli/gridsync.exe")
WINE = os.environ.get("WINE", "wine")
PREFIX = os.environ["WINEPREFIX"]
TIMEOUT = 120


def wine_path(unix):
    """A Unix path inside the prefix's drive C: as Windows names it."""
    drive_c = os.path.join(PREFIX, "drive_c")
    assert unix.startswith(drive_c), unix
    return "C:" + unix[len(drive_c):]


class Node:
    def __init__(self, argv0, dir, display):
        self.argv0, self.dir, self.display = argv0, dir, display
        self.proc = None

    def run(self, *args, json_out=False, check=True, env=None, dir=True):
        argv = self.argv0 + (["--dir", self.dir] if dir else []) + \
            (["--json"] if json_out else []) + list(args)
        # output through files: under wine a process this one starts holds
        # the unix end of inherited pipes (docs/WINDOWS.md)
        with tempfile.TemporaryFile() as fo, tempfile.TemporaryFile() as fe:
            p = subprocess.run(argv, stdout=fo, stderr=fe, timeout=TIMEOUT,
                               env=env)
            fo.seek(0)
            fe.seek(0)
            out = fo.read().decode("utf-8").replace("\r\n", "\n")
            err = fe.read().decode("utf-8", "replace")
        if check and p.returncode != 0:
            raise AssertionError("%s %s exited %d: %s" % (
                self.display, " ".join(args), p.returncode, err))
        return json.loads(out) if json_out and p.returncode == 0 else out

    def run_rc(self, *args):
        """(exit status, output, errors) of a command."""
        argv = self.argv0 + ["--dir", self.dir] + list(args)
        with tempfile.TemporaryFile() as fo, tempfile.TemporaryFile() as fe:
            p = subprocess.run(argv, stdout=fo, stderr=fe, timeout=TIMEOUT)
            fo.seek(0)
            fe.seek(0)
            return (p.returncode,
                    fo.read().decode("utf-8").replace("\r\n", "\n"),
                    fe.read().decode("utf-8", "replace"))

    def serve(self, *extra):
        argv = self.argv0 + ["--dir", self.dir, "serve", "--listen",
                             "127.0.0.1:0"] + list(extra)
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL)
        lines = []
        want = 1 if "--no-ui" in extra else 2  # "serving on", the app's line
        while len(lines) < want:
            line = self.proc.stdout.readline().decode().strip()
            if not line:
                break
            lines.append(line)
        port = app = None
        for line in lines:
            if line.startswith("serving on "):
                port = int(line.split()[2].rsplit(":", 1)[1])
            if "app is at" in line:
                app = int(line.split("http://", 1)[1].split("/")[0]
                          .rsplit(":", 1)[1])
        if port is None:
            raise AssertionError("%s: serve said %r" % (self.display, lines))
        return port, app

    def stop(self):
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc.stdout.close()
            self.proc = None


class WineTest(unittest.TestCase):
    def setUp(self):
        self.lroot = tempfile.mkdtemp(prefix="gs-wine-linux-")
        self.wroot = tempfile.mkdtemp(prefix="gs-wine-",
                                      dir=os.path.join(PREFIX, "drive_c"))
        wdir = os.path.join(self.wroot, "工人村", "一号楼")
        self.lin = Node([GS], os.path.join(self.lroot, "office"), "linux")
        self.win = Node([WINE, EXE], wine_path(wdir), "windows")
        self.win_unix = wdir

    def tearDown(self):
        self.lin.stop()
        self.win.stop()
        shutil.rmtree(self.lroot, ignore_errors=True)
        shutil.rmtree(self.wroot, ignore_errors=True)

    def network(self):
        self.lin.run("init", "--name", "office")
        self.win.run("init", "--name", "一号楼")
        self.lin.run("network", "create", "工人村街道")
        code = self.lin.run("invite", "--role", "office", "--scope",
                            "gongrencun").strip()
        self.win.run("join", code)

    def test_chinese_directory_and_text(self):
        self.win.run("init", "--name", "一号楼")
        self.assertTrue(os.path.isfile(os.path.join(self.win_unix,
                                                    "identity.key")))
        rid = self.win.run("put", "resident", "--scope", "gongrencun/q/g01",
                           "name=王秀英").strip()
        rec = self.win.run("get", "resident", rid, json_out=True)
        self.assertEqual(rec["fields"]["name"], "王秀英")
        self.assertIn("王秀英", self.win.run("get", "resident", rid))

    def test_the_zips_catalogue_speaks_chinese(self):
        """The zip carries po/zh_CN.po's catalogue beside gridsync.exe
        (locale/zh_CN/LC_MESSAGES): under LANG=zh_CN a message comes out
        as the catalogue translates it, in UTF-8."""
        import gettext
        import zipfile
        z = os.path.join(os.path.dirname(EXE), "..",
                         "gridsync-windows-x86_64.zip")
        if not os.path.exists(z):
            self.skipTest("no zip (build.sh zip) next to the build")
        with zipfile.ZipFile(z) as f:
            f.extractall(self.wroot)
        mo = os.path.join(self.wroot, "gridsync", "locale", "zh_CN",
                          "LC_MESSAGES", "gridsync.mo")
        with open(mo, "rb") as f:
            zh = gettext.GNUTranslations(f)
        msgid = ("no node in %s (create one with 'gridsync init', or "
                 "choose another with --dir)")
        want = zh.gettext(msgid)
        self.assertNotEqual(want, msgid, "the catalogue translates it")
        env = dict(os.environ, LANG="zh_CN.UTF-8")
        env.pop("LANGUAGE", None)
        env.pop("LC_ALL", None)
        exe = os.path.join(self.wroot, "gridsync", "gridsync.exe")
        zipped = Node([WINE, exe], wine_path(os.path.join(self.wroot, "无")),
                      "zip")
        with tempfile.TemporaryFile() as fe:
            p = subprocess.run(zipped.argv0 + ["--dir", zipped.dir,
                                               "status"],
                               stdout=subprocess.DEVNULL, stderr=fe,
                               env=env, timeout=TIMEOUT)
            fe.seek(0)
            err = fe.read().decode("utf-8")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(want % zipped.dir, err)

    def test_default_directory_is_appdata(self):
        env = dict(os.environ)
        env.pop("GRIDSYNC_DIR", None)
        env.pop("XDG_DATA_HOME", None)
        appdata = os.path.join(PREFIX, "drive_c", "users")
        out = self.win.run("init", "--name", "默认", dir=False, env=env,
                           check=False)
        made = [os.path.join(r, "gridsync") for r, ds, _ in os.walk(appdata)
                if r.endswith(os.path.join("AppData", "Roaming"))
                and "gridsync" in ds]
        for m in made:
            shutil.rmtree(m, ignore_errors=True)
        self.assertTrue(made, "no AppData/Roaming/gridsync: %s" % out)
        self.assertIn("AppData/Roaming/gridsync", out.replace("\\", "/"))

    def test_sync_both_ways_with_linux(self):
        self.network()
        wid = self.win.run("put", "resident", "--scope", "gongrencun/q/g01",
                           "name=王秀英", "phone=13800000001").strip()
        lid = self.lin.run("put", "resident", "--scope", "gongrencun/q/g02",
                           "name=李建国").strip()
        # the Windows node serves, the Linux node syncs to it
        port, _ = self.win.serve("--no-ui")
        self.lin.run("sync", "127.0.0.1:%d" % port)
        self.win.stop()
        self.assertEqual(self.lin.run("get", "resident", wid,
                                      json_out=True)["fields"]["name"],
                         "王秀英")
        self.assertEqual(self.win.run("get", "resident", lid,
                                      json_out=True)["fields"]["name"],
                         "李建国")
        # an edit on Windows, then the Linux node serves
        self.win.run("put", "resident", "--id", lid, "--scope",
                     "gongrencun/q/g02", "name=李建国", "phone=13900000002")
        port, _ = self.lin.serve("--no-ui")
        self.win.run("sync", "127.0.0.1:%d" % port)
        self.lin.stop()
        self.assertEqual(self.lin.run("get", "resident", lid,
                                      json_out=True)["fields"]["phone"],
                         "13900000002")
        self.assertEqual(self.lin.run("status", json_out=True)["digest"],
                         self.win.run("status", json_out=True)["digest"])

    def test_backup_restore_compact_doctor(self):
        """node/admin.c on Windows: a backup while serve runs (the copy
        through a pipe, to LMDB as a HANDLE), its restore into a new
        directory, compaction refused while the store is in use (LMDB's
        LockFileEx lock) and done after, and the doctor's checks (DACL,
        GetDiskFreeSpaceExW, OpenProcess)."""
        self.network()
        rid = self.win.run("put", "resident", "--scope", "gongrencun/q/g01",
                           "name=备份里的人").strip()
        digest = self.win.run("status", json_out=True)["digest"]
        self.win.serve("--no-ui")
        bak = os.path.join(self.wroot, "备份.gsbak")
        self.win.run("backup", wine_path(bak))
        self.assertGreater(os.path.getsize(bak), 0)
        rc, _, err = self.win.run_rc("compact")
        self.assertEqual(rc, 1, "compact while serve runs: " + err)
        self.assertIn("in use", err)
        checks = self.doctor()
        self.assertTrue(checks["serve"], "serve runs (OpenProcess)")
        self.win.stop()
        rc, _, err = self.win.run_rc("compact")
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.win.run("status", json_out=True)["digest"],
                         digest)
        dest = os.path.join(self.wroot, "恢复")
        back = Node([WINE, EXE], wine_path(dest), "restored")
        back.run("restore", wine_path(bak), wine_path(dest), dir=False)
        self.assertEqual(back.run("get", "resident", rid,
                                  json_out=True)["fields"]["name"],
                         "备份里的人")
        self.assertEqual(back.run("status", json_out=True)["digest"], digest)
        checks = self.doctor()
        for check in ("store", "key_mode", "disk_space"):
            self.assertTrue(checks[check], check)

    def doctor(self):
        rc, out, err = self.win.run_rc("--json", "doctor")
        doc = json.loads(out)
        self.assertEqual(rc, 0 if doc["ok"] else 1, err)
        return {c["check"]: c["ok"] for c in doc["checks"]}

    def test_web_app_answers_on_loopback(self):
        self.network()
        _, app = self.win.serve("--ui", "127.0.0.1:0")
        self.assertIsNotNone(app, "no app line")
        c = http.client.HTTPConnection("127.0.0.1", app, timeout=30)
        c.request("GET", "/api/status", headers={"Host": "127.0.0.1:%d" % app})
        r = c.getresponse()
        body = r.read()
        self.assertEqual(r.status, 200, body)
        status = json.loads(body)
        self.assertEqual((status["node"], status["network"]),
                         ("一号楼", "工人村街道"))
        c.close()
        c = http.client.HTTPConnection("127.0.0.1", app, timeout=30)
        c.request("GET", "/api/status", headers={"Host": "evil.example:80"})
        r = c.getresponse()
        r.read()
        self.assertGreaterEqual(r.status, 400, "another Host is refused")
        c.close()
        # ui.addr tells `gridsync ui` where the app is, and which process
        with open(os.path.join(self.win_unix, "ui.addr")) as f:
            url, pid = f.read().split()
        self.assertEqual(url, "http://127.0.0.1:%d/" % app)
        self.assertGreater(int(pid), 0)
        out = self.win.run("ui", "--no-browser", json_out=True)
        self.assertEqual((out["app"], out["started"]), (url, False))
        self.win.stop()

    def test_a_write_by_another_process_reaches_an_event_stream(self):
        """The store watched on Windows (uv_fs_event, the look as fallback):
        a record written by another Windows process reaches the app's
        open event stream."""
        self.network()
        _, app = self.win.serve("--ui", "127.0.0.1:0")
        sock = socket.create_connection(("127.0.0.1", app), timeout=30)
        sock.sendall(("GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                      "\r\n" % app).encode())
        got = b""
        while b"\r\n\r\n" not in got:
            got += sock.recv(4096)
        self.assertIn(b"text/event-stream", got)
        buf = got.split(b"\r\n\r\n", 1)[1]
        self.win.run("put", "resident", "--scope", "gongrencun/q/g01",
                     "name=从另一个进程")
        while b"event: change" not in buf:
            more = sock.recv(4096)
            self.assertTrue(more, "the stream ended without a change")
            buf += more
        sock.close()
        self.win.stop()

    def test_ui_starts_serve_detached(self):
        """No fork on Windows: ui starts serve with CreateProcessW."""
        self.network()
        out = self.win.run("ui", "--no-browser", "--listen", "127.0.0.1:0",
                           "--ui", "127.0.0.1:0", json_out=True)
        self.assertTrue(out["started"])
        try:
            port = int(out["app"].rsplit(":", 1)[1].strip("/"))
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            c.request("GET", "/api/status",
                      headers={"Host": "127.0.0.1:%d" % port})
            self.assertEqual(c.getresponse().status, 200)
            c.close()
        finally:  # the started serve, by its Windows pid
            subprocess.run([WINE, "taskkill", "/F", "/PID", str(out["pid"])],
                           capture_output=True, timeout=TIMEOUT)
        log = os.path.join(self.win_unix, "serve.log")
        with open(log, encoding="utf-8") as f:
            self.assertIn("the app is at", f.read())


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    bad = len(result.failures) + len(result.errors)
    print("wine: %d passed, %d failed, %d skipped" % (
        result.testsRun - bad - len(result.skipped), bad,
        len(result.skipped)))
    sys.exit(1 if bad else 0)
