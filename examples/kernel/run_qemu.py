#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""run_qemu.py - boot the example kernel in qemu and check what it reports.

Boots KERNEL (the 32-bit ELF that qemu's Multiboot loader takes) with
qemu-system-x86_64 -m MEM under TCG, the serial port on stdout and the
isa-debug-exit device, keeps the serial log in LOG, and runs check_boot.py
on the log and qemu's exit status. qemu-system-x86 is installed with
scripts/deps.sh when it is missing; if that fails the test is skipped with
status 77 (ctest's SKIP_RETURN_CODE). On any failure the log is printed.
"""
import argparse
import os
import shutil
import subprocess
import sys
import time

SKIP = 77


def find_qemu(deps):
    qemu = shutil.which("qemu-system-x86_64")
    if qemu or not deps:
        return qemu
    print(f"run_qemu: qemu-system-x86_64 not found; installing qemu-system-x86 with {deps}",
          flush=True)
    subprocess.run([deps, "qemu-system-x86"], check=False)
    return shutil.which("qemu-system-x86_64")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--mem", default="64M")
    ap.add_argument("--deps", help="scripts/deps.sh, to install qemu when missing")
    ap.add_argument("--check", help="check_boot.py (default: next to this script)")
    ap.add_argument("--log", help="where to keep the serial log")
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--append", help="the kernel's command line (qemu -append)")
    ap.add_argument("--expect-status", type=int,
                    help="a misuse run: expect this exit status and --expect text, not a pass")
    ap.add_argument("--expect", action="append", default=[],
                    help="text the serial log must hold (with --expect-status)")
    args = ap.parse_args()

    qemu = find_qemu(args.deps)
    if not qemu:
        print("run_qemu: SKIP: qemu-system-x86_64 is not installed and could not be "
              "(apt-get install qemu-system-x86)")
        return SKIP
    cmd = [qemu, "-kernel", args.kernel, "-m", args.mem, "-accel", "tcg", "-display", "none",
           "-serial", "stdio", "-monitor", "none", "-no-reboot",
           "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
    if args.append:
        cmd += ["-append", args.append]
    print("run_qemu:", " ".join(cmd), flush=True)
    start = time.monotonic()
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, timeout=args.timeout)
        status, out = proc.returncode, proc.stdout
    except subprocess.TimeoutExpired as e:
        status, out = None, e.stdout or b""
    took = time.monotonic() - start
    log = out.decode("utf-8", "replace")
    if args.log:
        with open(args.log, "w") as f:
            f.write(log)
    print(f"run_qemu: qemu exited with {status} after {took:.1f} s" if status is not None else
          f"run_qemu: qemu timed out after {took:.1f} s")

    if args.expect_status is not None:
        missing = [t for t in args.expect if t not in log]
        if status != args.expect_status or missing:
            print(f"run_qemu: FAILED: wanted status {args.expect_status}, got {status}; "
                  f"missing from the log: {missing}")
            print(log)
            return 1
        print(f"run_qemu: the misuse stopped the machine as expected (status {status})")
        return 0

    check = args.check or os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                       "check_boot.py")
    sys.path.insert(0, os.path.dirname(check))
    import check_boot  # noqa: E402

    problems = check_boot.check(log, status)
    if problems:
        print("run_qemu: FAILED; serial log follows" + (f" (kept in {args.log})" if args.log else ""))
        print(log)
        for p in problems:
            print("check_boot: " + p)
        return 1
    print(f"run_qemu: pass ({args.mem}, {took:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
