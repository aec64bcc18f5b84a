#!/usr/bin/env python3
"""The web app's password (gridsync ui password) over real HTTP: beyond
loopback only with a password, a login that sets a session cookie, the
API closed without it, wrong passwords slowed down, logout.

    GRIDSYNC=build/cli/gridsync python3 tests/integration/test_web_auth.py
"""
import http.client
import json
import os
import pty
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

GS = os.environ.get("GRIDSYNC", "build/cli/gridsync")
PASSWORD = "青河 longenough"


def run(d, *args, check=True, env=None):
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run([GS, "--dir", d] + list(args), capture_output=True,
                       text=True, timeout=120, env=e, stdin=subprocess.DEVNULL)
    if check and p.returncode != 0:
        raise AssertionError("%s exited %d: %s" % (args, p.returncode,
                                                    p.stderr.strip()))
    return p


def set_password(d, pw=PASSWORD):
    return run(d, "ui", "password", env={"GRIDSYNC_UI_PASSWORD": pw},
               check=False)


def local_ipv4():
    """An IPv4 address of this computer beyond loopback, or None."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.1", 9))  # no packet is sent
        a = s.getsockname()[0]
        return None if a.startswith("127.") else a
    except OSError:
        return None
    finally:
        s.close()


class WebAuth(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="gs-webauth-")
        cls.d = os.path.join(cls.root, "office")
        run(cls.d, "init", "--name", "青河社区办公室")
        run(cls.d, "network", "create", "工人村街道")
        cls.plain = os.path.join(cls.root, "plain")
        shutil.copytree(cls.d, cls.plain,
                        ignore=shutil.ignore_patterns("lock.mdb"))
        p = set_password(cls.d)
        assert p.returncode == 0, p.stderr
        cls.log = open(os.path.join(cls.root, "serve.log"), "w")
        cls.proc = subprocess.Popen(
            [GS, "--dir", cls.d, "serve", "--listen", "127.0.0.1:0", "--ui",
             "0.0.0.0:0"], stdout=subprocess.PIPE, stderr=cls.log, text=True)
        first = cls.proc.stdout.readline()
        assert first.startswith("serving on "), first
        app = cls.proc.stdout.readline()
        assert "the app is at http://0.0.0.0:" in app, app
        cls.port = int(app.split("http://0.0.0.0:")[1].split("/")[0])
        cls.host = "127.0.0.1:%d" % cls.port

    @classmethod
    def tearDownClass(cls):
        cls.proc.send_signal(signal.SIGTERM)
        rc = cls.proc.wait(timeout=20)
        cls.proc.stdout.close()
        cls.log.close()
        shutil.rmtree(cls.root)
        assert rc == 0, "serve exited %d" % rc

    def request(self, method, path, body=None, headers=None, host=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=40)
        h = {"Host": host or self.host}
        h.update(headers or {})
        data = json.dumps(body).encode() if body is not None else None
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        text = r.read()
        c.close()
        try:
            j = json.loads(text)
        except ValueError:
            j = text
        return r.status, j, r

    def login(self, pw):
        return self.request("POST", "/api/login", {"password": pw},
                            {"Content-Type": "application/json",
                             "Origin": "http://" + self.host})

    def wait_unlocked(self):
        """Until a login is checked again (the delay after a failure)."""
        for _ in range(400):
            s, _, _ = self.request("POST", "/api/login", {"password": 1},
                                   {"Content-Type": "application/json"})
            if s != 429:
                return
            time.sleep(0.1)
        self.fail("logins stayed refused")

    def session(self):
        s, _, r = self.login(PASSWORD)
        self.assertEqual(s, 200)
        cookie = r.getheader("Set-Cookie")
        return cookie.split(";")[0]

    # ---- setting the password ----

    def test_a_short_or_empty_password_is_refused(self):
        d = os.path.join(self.root, "short")
        shutil.copytree(self.plain, d)
        for pw in ("", "1234567"):
            p = set_password(d, pw)
            self.assertEqual(p.returncode, 1)
            self.assertIn("too short", p.stderr)
            self.assertFalse(os.path.exists(os.path.join(d, "ui.password")))
        p = run(d, "ui", "password", check=False,
                env={"GRIDSYNC_UI_PASSWORD": ""})
        self.assertEqual(p.returncode, 1)

    def typed(self, d, first, second):
        """ui password in a terminal (a pty), typing first then second;
        returns (exit status, what the terminal showed)."""
        env = {k: v for k, v in os.environ.items()
               if k != "GRIDSYNC_UI_PASSWORD"}
        pid, fd = pty.fork()
        if pid == 0:
            os.execve(GS, [GS, "--dir", d, "ui", "password"], env)
        shown = b""
        for answer in (first, second):
            while b"password" not in shown.split(b"\n")[-1]:
                shown += os.read(fd, 1024)
            os.write(fd, answer.encode() + b"\n")
            shown += b"\n"
        try:
            while True:
                k = os.read(fd, 1024)
                if not k:
                    break
                shown += k
        except OSError:
            pass
        _, st = os.waitpid(pid, 0)
        os.close(fd)
        return os.waitstatus_to_exitcode(st), shown.decode(errors="replace")

    def test_typed_twice_in_a_terminal_without_echo(self):
        d = os.path.join(self.root, "typed")
        shutil.copytree(self.plain, d)
        rc, shown = self.typed(d, "one password", "another one")
        self.assertEqual(rc, 1)
        self.assertIn("differ", shown)
        self.assertFalse(os.path.exists(os.path.join(d, "ui.password")))
        rc, shown = self.typed(d, "typed password", "typed password")
        self.assertEqual(rc, 0, shown)
        self.assertNotIn("typed password", shown)  # no echo
        self.assertTrue(os.path.exists(os.path.join(d, "ui.password")))

    def test_the_hash_is_argon2id_and_only_the_owner_reads_it(self):
        f = os.path.join(self.d, "ui.password")
        self.assertEqual(os.stat(f).st_mode & 0o777, 0o600)
        with open(f) as h:
            text = h.read()
        self.assertTrue(text.startswith("$argon2id$"), text)
        self.assertNotIn(PASSWORD, text)

    def test_clear_removes_it_and_beyond_loopback_is_refused_again(self):
        d = os.path.join(self.root, "cleared")
        shutil.copytree(self.plain, d)
        self.assertEqual(set_password(d).returncode, 0)
        run(d, "ui", "password", "--clear")
        self.assertFalse(os.path.exists(os.path.join(d, "ui.password")))
        p = subprocess.run([GS, "--dir", d, "serve", "--listen",
                            "127.0.0.1:0", "--ui", "0.0.0.0:0"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertIn("only on this computer", p.stderr)
        self.assertIn("gridsync ui password", p.stderr)

    def test_without_a_password_beyond_loopback_is_refused(self):
        p = subprocess.run([GS, "--dir", self.plain, "serve", "--listen",
                            "127.0.0.1:0", "--ui", "0.0.0.0:0"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertIn("gridsync ui password", p.stderr)

    def test_a_broken_password_file_stops_the_app(self):
        d = os.path.join(self.root, "broken")
        shutil.copytree(self.plain, d)
        with open(os.path.join(d, "ui.password"), "w") as f:
            f.write("x" * 5000)
        p = subprocess.run([GS, "--dir", d, "serve", "--listen",
                            "127.0.0.1:0", "--ui", "127.0.0.1:0"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertIn("not a password hash", p.stderr)

    # ---- the server ----

    def test_pages_are_open_and_the_api_is_closed_without_a_session(self):
        self.assertEqual(self.request("GET", "/")[0], 200)
        self.assertEqual(self.request("GET", "/app.js")[0], 200)
        for path in ("/api/session", "/api/schema", "/api/events",
                     "/api/records/resident"):
            s, j, _ = self.request("GET", path)
            self.assertEqual(s, 401, path)
            self.assertIn("log in", j["error"]["text"])
        s, _, _ = self.request("GET", "/api/schema",
                               headers={"Cookie": "gs_session=" + "0" * 64})
        self.assertEqual(s, 401)

    def test_the_host_check_stays(self):
        s, _, _ = self.request("GET", "/", host="evil.example:%d" % self.port)
        self.assertEqual(s, 421)

    def test_the_host_of_this_computers_address_is_accepted(self):
        a = local_ipv4()
        if not a:
            self.skipTest("this computer has no IPv4 address beyond loopback")
        s, _, _ = self.request("GET", "/", host="%s:%d" % (a, self.port))
        self.assertEqual(s, 200)

    def test_a_login_sets_a_strict_cookie_that_opens_the_api(self):
        s, _, r = self.login(PASSWORD)
        self.assertEqual(s, 200)
        cookie = r.getheader("Set-Cookie")
        parts = [p.strip() for p in cookie.split(";")]
        name, _, value = parts[0].partition("=")
        self.assertEqual(name, "gs_session")
        self.assertRegex(value, "^[0-9a-f]{64}$")
        self.assertIn("HttpOnly", parts)
        self.assertIn("SameSite=Strict", parts)
        self.assertIn("Path=/", parts)
        s, j, _ = self.request("GET", "/api/session",
                               headers={"Cookie": parts[0]})
        self.assertEqual(s, 200)
        self.assertTrue(j["password"])
        self.assertEqual(j["node"]["name"], "青河社区办公室")
        # a write still needs the CSRF token
        s, _, _ = self.request("POST", "/api/records/task", {"title": "x"},
                               {"Cookie": parts[0],
                                "Content-Type": "application/json"})
        self.assertEqual(s, 403)

    def test_a_login_must_be_json_from_this_origin(self):
        s, _, _ = self.request("POST", "/api/login", {"password": PASSWORD},
                               {"Content-Type": "text/plain"})
        self.assertEqual(s, 403)
        s, _, _ = self.request("POST", "/api/login", {"password": PASSWORD},
                               {"Content-Type": "application/json",
                                "Origin": "http://evil.example"})
        self.assertEqual(s, 403)

    def wrong_login_meanwhile(self, pw):
        """A wrong login (pw) in a thread; meanwhile a right one. Returns
        (status of the wrong one, seconds it took, status of the right
        one tried while the wrong one waited)."""
        out = {}

        def wrong():
            t = time.monotonic()
            s, j, _ = self.login(pw)
            out["s"], out["t"], out["j"] = s, time.monotonic() - t, j

        th = threading.Thread(target=wrong)
        th.start()
        time.sleep(0.3)
        t = time.monotonic()
        right = self.login(PASSWORD)[0]
        self.assertLess(time.monotonic() - t, 0.5)  # at once, unchecked
        th.join(40)
        self.assertIn("wrong", out["j"]["error"]["text"])
        return out["s"], out["t"], right

    def test_wrong_passwords_wait_longer_each_time(self):
        self.wait_unlocked()
        s, took, right = self.wrong_login_meanwhile("not the password")
        self.assertEqual((s, right), (403, 429))
        self.assertGreater(took, 0.9)
        s, took, right = self.wrong_login_meanwhile("still not it")
        self.assertEqual((s, right), (403, 429))
        self.assertGreater(took, 1.9)
        # once answered, the next login is checked: the right one resets
        # the count
        self.assertEqual(self.login(PASSWORD)[0], 200)
        t = time.monotonic()
        self.assertEqual(self.login("wrong again")[0], 403)
        self.assertLess(time.monotonic() - t, 1.8)
        self.assertEqual(self.login(PASSWORD)[0], 200)

    def test_a_bad_login_body_is_refused(self):
        self.wait_unlocked()
        for body in ({}, {"password": 5}, {"password": "x" * 5000}):
            s, _, _ = self.login_raw(body)
            self.assertEqual(s, 400, body)

    def login_raw(self, body):
        return self.request("POST", "/api/login", body,
                            {"Content-Type": "application/json"})

    def test_logout_ends_the_session(self):
        self.wait_unlocked()
        cookie = self.session()
        s, j, _ = self.request("GET", "/api/session",
                               headers={"Cookie": cookie})
        self.assertEqual(s, 200)
        csrf = j["csrf"]
        s, _, r = self.request("POST", "/api/logout", None,
                               {"Cookie": cookie, "X-CSRF-Token": csrf})
        self.assertEqual(s, 200)
        self.assertIn("Max-Age=0", r.getheader("Set-Cookie"))
        s, _, _ = self.request("GET", "/api/session",
                               headers={"Cookie": cookie})
        self.assertEqual(s, 401)


class StopDuringDelay(unittest.TestCase):
    def test_serve_stops_cleanly_with_a_wrong_login_waiting(self):
        root = tempfile.mkdtemp(prefix="gs-webauth-stop-")
        try:
            d = os.path.join(root, "office")
            run(d, "init")
            run(d, "network", "create", "工人村街道")
            self.assertEqual(set_password(d).returncode, 0)
            proc = subprocess.Popen(
                [GS, "--dir", d, "serve", "--listen", "127.0.0.1:0", "--ui",
                 "127.0.0.2:0"], stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True)
            proc.stdout.readline()
            app = proc.stdout.readline()
            self.assertIn("http://127.0.0.2:", app)
            port = int(app.split("http://127.0.0.2:")[1].split("/")[0])
            out = {}

            def wrong(pw):
                c = http.client.HTTPConnection("127.0.0.2", port, timeout=40)
                c.request("POST", "/api/login",
                          body=json.dumps({"password": pw}).encode(),
                          headers={"Host": "127.0.0.2:%d" % port,
                                   "Content-Type": "application/json"})
                out[pw] = c.getresponse().status
                c.close()

            wrong("wrong one")  # 1 s
            th = threading.Thread(target=wrong, args=("wrong two",))
            th.start()          # 2 s: parked when serve is told to stop
            time.sleep(0.5)
            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(timeout=20)
            th.join(20)
            err = proc.stderr.read()
            proc.stdout.close()
            proc.stderr.close()
            self.assertEqual(rc, 0, err)
            self.assertEqual(out["wrong one"], 403)
            self.assertIn(out.get("wrong two"), (403, None))
        finally:
            shutil.rmtree(root)


class UiCommand(unittest.TestCase):
    """gridsync ui: finds this node's running app by ui.addr, or starts
    serve in the background and waits for it."""

    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="gs-ui-")
        self.d = os.path.join(self.root, "office")
        run(self.d, "init", "--name", "青河社区办公室")
        run(self.d, "network", "create", "工人村街道")
        self.pids = []

    def tearDown(self):
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for pid in self.pids:
            for _ in range(200):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)
        shutil.rmtree(self.root)

    def ui(self, *extra):
        env = {k: v for k, v in os.environ.items()
               if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
        p = subprocess.run([GS, "--dir", self.d, "--json", "ui",
                            "--listen", "127.0.0.1:0", "--ui",
                            "127.0.0.1:0"] + list(extra),
                           capture_output=True, text=True, timeout=60,
                           env=env, stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 0, p.stderr)
        j = json.loads(p.stdout)
        if j["pid"] not in self.pids:
            self.pids.append(j["pid"])
        return j, p.stderr

    def serves(self):
        """pids of processes serving this node directory."""
        out = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if b"serve" in argv and self.d.encode() in argv:
                out.append(int(pid))
        return out

    def test_ui_starts_a_serve_then_reuses_it(self):
        first, err = self.ui("--no-browser")
        self.assertTrue(first["started"])
        self.assertRegex(first["app"], r"^http://127\.0\.0\.1:\d+/$")
        with open(os.path.join(self.d, "ui.addr")) as f:
            self.assertEqual(f.read().split(), [first["app"],
                                                str(first["pid"])])
        # the app answers at that address
        port = int(first["app"].split(":")[2].rstrip("/"))
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", "/api/session",
                  headers={"Host": "127.0.0.1:%d" % port})
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        self.assertEqual(json.loads(r.read())["node"]["name"], "青河社区办公室")
        c.close()
        # detached: in its own session, its output in serve.log
        with open("/proc/%d/stat" % first["pid"]) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        self.assertEqual(int(fields[3]), first["pid"])  # session id
        self.assertTrue(os.path.exists(os.path.join(self.d, "serve.log")))

        second, _ = self.ui("--no-browser")
        self.assertFalse(second["started"])
        self.assertEqual((second["app"], second["pid"]),
                         (first["app"], first["pid"]))
        self.assertEqual(self.serves(), [first["pid"]])
        # no display: said so, and nothing opened
        third, err = self.ui()
        self.assertIn("no graphical display", err)
        self.assertEqual(third["pid"], first["pid"])

        # a clean stop removes ui.addr
        os.kill(first["pid"], signal.SIGTERM)
        for _ in range(200):
            if not os.path.exists(os.path.join(self.d, "ui.addr")):
                break
            time.sleep(0.05)
        self.assertFalse(os.path.exists(os.path.join(self.d, "ui.addr")))

    def test_a_stale_ui_addr_is_not_trusted(self):
        # a serve killed without cleaning up: its pid no longer runs
        p = subprocess.Popen(["true"])
        p.wait()
        with open(os.path.join(self.d, "ui.addr"), "w") as f:
            f.write("http://127.0.0.1:1/ %d\n" % p.pid)
        j, _ = self.ui("--no-browser")
        self.assertTrue(j["started"])
        self.assertNotEqual(j["app"], "http://127.0.0.1:1/")

    def test_a_serve_that_cannot_start_is_reported(self):
        p = subprocess.run([GS, "--dir", self.d, "ui", "--no-browser",
                            "--listen", "127.0.0.1:0", "--ui", "0.0.0.0:0"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 1)
        self.assertIn("serve.log", p.stderr)
        with open(os.path.join(self.d, "serve.log")) as f:
            self.assertIn("only on this computer", f.read())


if __name__ == "__main__":
    unittest.main(verbosity=2)
