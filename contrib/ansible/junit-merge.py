#!/usr/bin/env python3
"""Merges the JUnit files of many hosts into one, each host's suites named after the host.

    junit-merge.py RESULTS_DIR -o merged.xml      # RESULTS_DIR/HOST/*.xml (as the playbook fetches)
    junit-merge.py HOST=FILE ... -o merged.xml

Every <testsuite> gets the host in its name ("gw1: host-ready"), its `hostname` attribute and
a `host` property; every <testcase> classname is prefixed with the host, so CI servers show
one entry per host and check. Exit 0 when merged, 2 on bad input (message on stderr).
"""
import argparse
import os
import sys
import xml.etree.ElementTree as ET


def inputs_from(args):
    """(host, path) pairs from HOST=FILE arguments or RESULTS_DIR/HOST/*.xml."""
    pairs = []
    for arg in args.inputs:
        if "=" in arg and not os.path.isdir(arg):
            host, path = arg.split("=", 1)
            pairs.append((host, path))
        elif os.path.isdir(arg):
            for host in sorted(os.listdir(arg)):
                hostdir = os.path.join(arg, host)
                if not os.path.isdir(hostdir):
                    continue
                for name in sorted(os.listdir(hostdir)):
                    if name.endswith(".xml"):
                        pairs.append((host, os.path.join(hostdir, name)))
        else:
            raise ValueError(f"{arg}: neither a results directory nor HOST=FILE")
    if not pairs:
        raise ValueError("no JUnit files found: give RESULTS_DIR/HOST/*.xml or HOST=FILE")
    return pairs


def suites_of(path):
    root = ET.parse(path).getroot()
    if root.tag == "testsuite":
        return [root]
    if root.tag == "testsuites":
        return list(root.findall("testsuite"))
    raise ValueError(f"{path}: not JUnit XML (root element <{root.tag}>)")


def merge(pairs):
    merged = ET.Element("testsuites", name="xfrmdiag fleet check")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    time = 0.0
    for host, path in pairs:
        try:
            suites = suites_of(path)
        except ET.ParseError as e:
            raise ValueError(f"{path}: not valid XML ({e})") from e
        for suite in suites:
            suite.set("name", f"{host}: {suite.get('name', '')}")
            suite.set("hostname", host)
            props = suite.find("properties")
            if props is None:
                props = ET.Element("properties")
                suite.insert(0, props)
            ET.SubElement(props, "property", name="host", value=host)
            for case in suite.iter("testcase"):
                case.set("classname", f"{host}.{case.get('classname', '')}")
            for key in totals:
                totals[key] += int(suite.get(key, "0") or 0)
            time += float(suite.get("time", "0") or 0)
            merged.append(suite)
    for key, value in totals.items():
        merged.set(key, str(value))
    merged.set("time", f"{time:.3f}")
    return merged


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inputs", nargs="+", help="RESULTS_DIR or HOST=FILE")
    parser.add_argument("-o", "--output", required=True, help="merged JUnit file to write")
    args = parser.parse_args(argv)
    try:
        out = os.path.abspath(args.output)
        pairs = [(h, p) for h, p in inputs_from(args) if os.path.abspath(p) != out]
        tree = ET.ElementTree(merge(pairs))
    except (OSError, ValueError) as e:
        print(f"junit-merge: {e}", file=sys.stderr)
        return 2
    ET.indent(tree)
    tree.write(args.output, encoding="UTF-8", xml_declaration=True)
    hosts = sorted({h for h, _ in pairs})
    print(f"merged {len(pairs)} JUnit file(s) from {len(hosts)} host(s) into {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
