#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""check_pictures.py - run a command that writes kmem's pictures into a
directory, then check what it wrote: every .svg is well-formed XML whose root
is an SVG element with a size and a viewBox (and, with --max-bytes, not too
big); report.html parses, has the snapshot slider and one panel per snapshot
(each with its pictures and /proc texts, only one shown); with --paths, the
command printed exactly the files it wrote.

usage: check_pictures.py --dir DIR [--mkdir] [--max-bytes N] [--expect NAME]...
                         [--text TEXT]... [--min-panels N] [--paths] -- COMMAND...
"""
import argparse
import html.parser
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

SVG = "{http://www.w3.org/2000/svg}"


def fail(msg):
    print("check_pictures: FAIL: " + msg)
    sys.exit(1)


def check_svg(path, max_bytes):
    size = os.path.getsize(path)
    if max_bytes and size > max_bytes:
        fail("%s is %d bytes, more than %d" % (path, size, max_bytes))
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        fail("%s is not well-formed XML: %s" % (path, e))
    if root.tag != SVG + "svg":
        fail("%s: root element is %s, not an SVG <svg>" % (path, root.tag))
    for attr in ("width", "height", "viewBox"):
        if attr not in root.attrib:
            fail("%s: <svg> has no %s" % (path, attr))
    with open(path, "rb") as f:
        if not f.read(64).startswith(b"<?xml version="):
            fail("%s has no XML declaration" % path)
    return "".join("".join(e.itertext()) for e in root.iter(SVG + "text"))


class Report(html.parser.HTMLParser):
    """The parts of report.html the checks need."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.slider = None
        self.panels = []  # per panel: [hidden, svgs, pres]
        self.depth_in_panel = None
        self.depth = 0
        self.scripts = 0
        self.text = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag not in ("input", "meta", "br", "img", "link"):
            self.depth += 1
        if tag == "input" and a.get("type") == "range":
            self.slider = a
        elif tag == "section" and "kmem-snapshot" in (a.get("class") or "").split():
            self.panels.append(["hidden" in a, 0, 0])
            self.depth_in_panel = self.depth
        elif tag == "svg" and self.depth_in_panel is not None:
            self.panels[-1][1] += 1
        elif tag == "pre" and self.depth_in_panel is not None:
            self.panels[-1][2] += 1
        elif tag == "script":
            self.scripts += 1

    def handle_endtag(self, tag):
        if tag == "section" and self.depth_in_panel == self.depth:
            self.depth_in_panel = None
        if tag not in ("input", "meta", "br", "img", "link"):
            self.depth -= 1

    def handle_data(self, data):
        self.text.append(data)


def check_html(path, min_panels):
    with open(path, "rb") as f:
        raw = f.read()
    try:
        page = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        fail("%s is not UTF-8: %s" % (path, e))
    if not page.startswith("<!DOCTYPE html>"):
        fail("%s does not start with <!DOCTYPE html>" % path)
    if "http://" in page.replace("http://www.w3.org/2000/svg", "") or "https://" in page:
        fail("%s refers to the network" % path)
    r = Report()
    r.feed(page)
    r.close()
    if r.slider is None:
        fail("%s has no <input type=range> slider" % path)
    n = int(r.slider.get("max", "-1")) + 1
    if len(r.panels) != n:
        fail("%s: %d snapshot panels, the slider has %d positions" % (path, len(r.panels), n))
    if n < min_panels:
        fail("%s: %d panels, expected at least %d" % (path, n, min_panels))
    shown = [i for i, p in enumerate(r.panels) if not p[0]]
    if shown != [n - 1]:
        fail("%s: panels shown without script: %s (want only the last)" % (path, shown))
    for i, (_, svgs, pres) in enumerate(r.panels):
        if svgs < 2 or pres != 2:
            fail("%s: panel %d has %d pictures and %d texts" % (path, i, svgs, pres))
    if r.scripts != 1:
        fail("%s: %d scripts" % (path, r.scripts))
    return "".join(r.text), n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--mkdir", action="store_true", help="create DIR for the command")
    ap.add_argument("--max-bytes", type=int, default=0)
    ap.add_argument("--expect", action="append", default=[])
    ap.add_argument("--text", action="append", default=[])
    ap.add_argument("--min-panels", type=int, default=1)
    ap.add_argument("--paths", action="store_true")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    shutil.rmtree(args.dir, ignore_errors=True)
    if args.mkdir:
        os.makedirs(args.dir)
    run = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if run.returncode != 0:
        fail("%s exited with %d:\n%s" % (" ".join(cmd), run.returncode, run.stderr))
    files = sorted(os.listdir(args.dir))
    for name in args.expect:
        if name not in files:
            fail("%s was not written (the directory has %s)" % (name, files))
    if args.paths:
        printed = sorted(os.path.basename(line) for line in run.stdout.splitlines() if line)
        if printed != files:
            fail("printed paths %s, but the directory has %s" % (printed, files))
    texts = []
    for name in files:
        path = os.path.join(args.dir, name)
        if name.endswith(".svg"):
            texts.append(check_svg(path, args.max_bytes))
    panels = 0
    if "report.html" in files:
        text, panels = check_html(os.path.join(args.dir, "report.html"), args.min_panels)
        texts.append(text)
    for want in args.text:
        if not any(want in t for t in texts):
            fail("no picture has the text %r" % want)
    svgs = sum(name.endswith(".svg") for name in files)
    biggest = max((os.path.getsize(os.path.join(args.dir, n)) for n in files), default=0)
    print("check_pictures: ok: %d SVG files, report with %d panels, largest file %d bytes"
          % (svgs, panels, biggest))


if __name__ == "__main__":
    main()
