#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""chromium_check.py - the report of kmem draw, opened from a file in
headless Chromium: it must render (a screenshot with many colours and a fair
share of non-white pixels), and its script must work: "#0" in the address
shows the first snapshot (the DOM after load has that panel shown, the others
hidden, the label of snapshot 0 on top, the plot's marker visible).

Chromium is Debian's package; it is installed (scripts/deps.sh chromium)
when missing. If it cannot be, the test is skipped: exit 77.

usage: chromium_check.py KMEM DEPS_SH WORKDIR
"""
import html.parser
import os
import shutil
import struct
import subprocess
import sys
import zlib

SKIP = 77
WIDTH, HEIGHT = 1200, 900


def fail(msg):
    print("chromium_check: FAIL: " + msg)
    sys.exit(1)


def find_chromium(deps_sh):
    for name in ("chromium", "chromium-browser"):
        if shutil.which(name):
            return shutil.which(name)
    print("chromium_check: chromium is missing; installing it with " + deps_sh)
    try:
        subprocess.run([deps_sh, "chromium"], timeout=600, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        print("chromium_check: installing failed: %s" % e)
    return shutil.which("chromium")


def run_chromium(chromium, profile, args, url):
    """Run headless Chromium on url; its stdout. The flag that asks for
    headless mode changed over the versions: try the forms in turn."""
    last = None
    for headless in ("--headless", "--headless=new", "--headless=old"):
        cmd = [chromium, headless, "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--no-first-run", "--no-default-browser-check", "--disable-extensions",
               "--user-data-dir=" + profile] + args + [url]
        try:
            run = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 timeout=60)
        except subprocess.TimeoutExpired:
            last = "timed out: " + " ".join(cmd)
            continue
        if run.returncode == 0:
            return run.stdout
        last = "exit %d: %s\n%s" % (run.returncode, " ".join(cmd), run.stderr.decode()[-2000:])
    fail("chromium did not run: " + str(last))


def screenshot(chromium, profile, url, out):
    if os.path.exists(out):
        os.remove(out)
    run_chromium(chromium, profile, ["--screenshot=" + out,
                                     "--window-size=%d,%d" % (WIDTH, HEIGHT)], url)
    if not os.path.exists(out):
        fail("chromium wrote no screenshot " + out)


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def png_pixels(path):
    """(width, height, channels, rows of bytes) of an 8-bit RGB or RGBA PNG."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        fail(path + " is not a PNG")
    pos, idat, ihdr = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = ihdr
    if depth != 8 or colour not in (2, 6) or interlace:
        fail("%s: PNG of depth %d, colour type %d, interlace %d: not decoded here"
             % (path, depth, colour, interlace))
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif kind == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev))
        elif kind == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif kind == 4:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                upleft = prev[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + paeth(left, prev[i], upleft)) & 0xFF
        elif kind != 0:
            fail("%s: PNG filter %d" % (path, kind))
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def png_check(path):
    """The screenshot is not blank: many colours, a fair share not white."""
    width, height, bpp, rows = png_pixels(path)
    if (width, height) != (WIDTH, HEIGHT):
        fail("%s is %dx%d, not %dx%d" % (path, width, height, WIDTH, HEIGHT))
    colours, inked = set(), 0
    for row in rows:
        for x in range(0, len(row), bpp):
            r, g, b = row[x], row[x + 1], row[x + 2]
            colours.add((r, g, b))
            if r < 235 or g < 235 or b < 235:
                inked += 1
    share = inked / (width * height)
    print("chromium_check: %s: %d colours, %.1f%% not white" % (path, len(colours), 100 * share))
    if len(colours) < 16:
        fail("%s has only %d colours: blank?" % (path, len(colours)))
    if share < 0.05:
        fail("%s is %.1f%% non-white: blank?" % (path, 100 * share))


class Dom(html.parser.HTMLParser):
    """What the script did: which panels are hidden, the label shown, the
    plot's marker."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.panels = []  # (data-label, hidden)
        self.label_open = False
        self.label = ""
        self.marker = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section" and "kmem-snapshot" in (a.get("class") or ""):
            self.panels.append((a.get("data-label"), "hidden" in a))
        elif tag == "span" and a.get("id") == "kmem-label":
            self.label_open = True
        elif "kmem-frag-marker" in (a.get("class") or ""):
            self.marker = a

    def handle_endtag(self, tag):
        if tag == "span":
            self.label_open = False

    def handle_data(self, data):
        if self.label_open:
            self.label += data


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        sys.exit(2)
    kmem, deps_sh, work = sys.argv[1:]
    chromium = find_chromium(deps_sh)
    if not chromium:
        print("chromium_check: SKIPPED: chromium is not installed and could not be "
              "(scripts/deps.sh chromium needs root and Debian's packages)")
        sys.exit(SKIP)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    pics, profile = os.path.join(work, "pictures"), os.path.join(work, "profile")
    run = subprocess.run([kmem, "draw", "--last-only", "--out", pics],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if run.returncode != 0:
        fail("kmem draw exited with %d: %s" % (run.returncode, run.stderr))
    url = "file://" + os.path.abspath(os.path.join(pics, "report.html"))

    shot = os.path.join(work, "report.png")
    screenshot(chromium, profile, url, shot)
    png_check(shot)

    dom = Dom()
    dom.feed(run_chromium(chromium, profile, ["--dump-dom"], url + "#0").decode("utf-8"))
    if len(dom.panels) < 2:
        fail("the DOM has %d panels" % len(dom.panels))
    shown = [i for i, (_, hidden) in enumerate(dom.panels) if not hidden]
    if shown != [0]:
        fail("with #0 the panels shown are %s, not [0]: the script did not run?" % shown)
    if dom.label.strip() != dom.panels[0][0]:
        fail("the label on top is %r, snapshot 0's is %r" % (dom.label, dom.panels[0][0]))
    if not dom.marker or dom.marker.get("visibility") != "visible":
        fail("the plot's marker is not shown: %s" % dom.marker)
    print("chromium_check: ok: %s renders, the script shows snapshot 0 of %d with #0"
          % (url, len(dom.panels)))


if __name__ == "__main__":
    main()
