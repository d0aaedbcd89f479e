"""python3 -m unittest discover -s contrib/ansible/tests"""
import importlib.util
import os
import tempfile
import unittest
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("junit_merge", os.path.join(HERE, "..", "junit-merge.py"))
junit_merge = importlib.util.module_from_spec(spec)
spec.loader.exec_module(junit_merge)

ONE = """<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="xfrmdiag check" tests="2" failures="1" errors="0" skipped="0" time="0.100">
  <testsuite name="host-ready" tests="2" failures="{f}" errors="0" skipped="0" time="0.100">
    <properties><property name="netns" value="(current)"/></properties>
    <testcase name="a" classname="host-ready.sysctl" time="0.001"/>
    <testcase name="b" classname="host-ready.sa" time="0.001"><failure message="no SA"/></testcase>
  </testsuite>
</testsuites>
"""


class MergeTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        for host, failures in [("gw1", 1), ("gw2", 0)]:
            os.makedirs(os.path.join(self.dir.name, host))
            with open(os.path.join(self.dir.name, host, "check.xml"), "w") as f:
                f.write(ONE.format(f=failures))

    def tearDown(self):
        self.dir.cleanup()

    def test_every_host_named_and_totals_summed(self):
        out = os.path.join(self.dir.name, "merged.xml")
        self.assertEqual(junit_merge.main([self.dir.name, "-o", out]), 0)
        root = ET.parse(out).getroot()
        names = [s.get("name") for s in root.findall("testsuite")]
        self.assertEqual(names, ["gw1: host-ready", "gw2: host-ready"])
        self.assertEqual([s.get("hostname") for s in root.findall("testsuite")], ["gw1", "gw2"])
        self.assertEqual(root.get("tests"), "4")
        self.assertEqual(root.get("failures"), "1")
        classes = {c.get("classname") for c in root.iter("testcase")}
        self.assertIn("gw2.host-ready.sa", classes)
        # Running again does not merge the merged file into itself.
        self.assertEqual(junit_merge.main([self.dir.name, "-o", out]), 0)
        self.assertEqual(len(ET.parse(out).getroot().findall("testsuite")), 2)

    def test_bad_input_is_a_clear_error(self):
        bad = os.path.join(self.dir.name, "gw1", "bad.xml")
        with open(bad, "w") as f:
            f.write("<html/>")
        out = os.path.join(self.dir.name, "m.xml")
        self.assertEqual(junit_merge.main([f"gw1={bad}", "-o", out]), 2)
        self.assertEqual(junit_merge.main([os.path.join(self.dir.name, "none"), "-o", out]), 2)


if __name__ == "__main__":
    unittest.main()
