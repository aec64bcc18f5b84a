#!/usr/bin/env python3
"""Integration test of "changes not yet passed on" (issue 17): status's
`unsent` counts this node's own changes that no peer is known to hold; a
peer's acknowledgement of the changes sent to it in a sync brings it to 0
(the version vector a peer sends at the start of a session cannot: it
predates them).

    GRIDSYNC=build/cli/gridsync python3 tests/integration/test_unsent.py
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_sync import Base  # noqa: E402


class UnsentTest(Base):
    def test_unsent_falls_to_zero_after_a_sync(self):
        a, b = self.network("a", "b")
        a.put("appeal", "gongrencun/q/g02", "category=repair",
              "description=楼道灯坏了", "opened=2026-11-20")
        self.assertEqual(a.run("status", json_out=True)["unsent"], 1)
        # the joiner's own claim is not passed on yet either
        before = b.run("status", json_out=True)["unsent"]
        b.put("resident", "gongrencun/q/g01", "name=王秀英")
        b.put("resident", "gongrencun/q/g01", "name=李桂兰")
        self.assertEqual(b.run("status", json_out=True)["unsent"], before + 2)
        self.assertIn("unsent    %d" % (before + 2), b.run("status").stdout)
        a.serve()
        out = b.run("sync", a.addr(), json_out=True)
        self.assertGreaterEqual(out["sent"], 2)
        # b's changes went to a and a acknowledged them; a's went to b
        # in the same session, acknowledged by b
        self.assertEqual(b.run("status", json_out=True)["unsent"], 0)
        self.assertEqual(a.run("status", json_out=True)["unsent"], 0)
        self.assertIn("unsent    none", b.run("status").stdout)
        # a new edit is not passed on until the next sync
        b.put("resident", "gongrencun/q/g01", "name=赵德明")
        self.assertEqual(b.run("status", json_out=True)["unsent"], 1)
        b.run("sync", a.addr())
        self.assertEqual(b.run("status", json_out=True)["unsent"], 0)
        self.assertEqual(a.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
