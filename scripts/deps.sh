#!/bin/bash
# scripts/deps.sh PACKAGE... - install the Debian packages that are missing,
# with apt-get (as root, or through sudo when it is there). Packages already
# installed are skipped, so this is quick and offline when nothing is needed.
set -eu
missing=()
for pkg in "$@"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
run=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "deps: need root to install ${missing[*]}" >&2; exit 1; }
  run=(sudo)
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${run[@]}" apt-get update -qq >/dev/null || true
"${run[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
