#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# realprog.sh LIB - run real programs with and without LD_PRELOAD=LIB (a
# malloc library, libkmem-malloc.so) and compare what they print.
#
# Each program does a few seconds' worth of allocation-heavy work and prints
# a digest: python3 (PYTHONMALLOC=malloc: dicts, lists, strings, json, re),
# sqlite3 (a table of 20000 rows from a recursive CTE, group by, order by,
# join), perl (hashes and regexes), git (a repository of a few commits with
# fixed authors and dates: deterministic hashes; gc and fsck), jq (a JSON
# transform), gawk, lua5.4, gcc and clang (a generated C file of some 600
# lines at -O2: the diagnostics, the assembly's checksum, the linked program's
# output, and the errors for a broken file) and redis-server (on 127.0.0.1, a
# free port of 6390-6399, no persistence: some 10000 commands of a generated
# workload through redis-cli, then DEBUG DIGEST of the data set; only
# the server is run with the library). A program that is not installed is
# skipped.
#
# One line per program: "ok NAME (T1 s vs T2 s)", times without and with the
# library, or "FAIL NAME" and the difference. Exit status 1 if any failed.
set -u

if [ $# -ne 1 ]; then
    echo "usage: $0 LIB" >&2
    exit 2
fi
LIB=$(readlink -f -- "$1")
if [ ! -r "$LIB" ]; then
    echo "realprog.sh: $1: not a readable file" >&2
    exit 2
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/realprog.XXXXXX") || exit 2
REDIS_PID= # a redis-server of ours that is still running
cleanup() {
    if [ -n "$REDIS_PID" ]; then
        kill -9 "$REDIS_PID" 2>/dev/null
        wait "$REDIS_PID" 2>/dev/null
    fi
    [ -n "${REALPROG_KEEP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 2' INT TERM HUP

# The same environment for both runs: no user or system configuration, no
# randomised hashing, the C locale.
export LC_ALL=C TZ=UTC
export PYTHONMALLOC=malloc PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1 PYTHONNOUSERSITE=1
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
unset LD_PRELOAD MALLOC_CONF PYTHONPATH PYTHONSTARTUP

FAILED=0
LIMIT=30 # seconds per run: a hung program (a deadlock at fork) is killed

now_ns() { date +%s%N; }
seconds() { # nanoseconds -> "S.SS"
    local cs=$(($1 / 10000000))
    printf '%d.%02d' $((cs / 100)) $((cs % 100))
}

# run NAME DIR OUT PRELOAD CMD...: run CMD in DIR (made fresh), stdout to OUT,
# stderr to OUT.err; sets STATUS and ELAPSED (ns).
run() {
    local dir=$1 out=$2 preload=$3
    shift 3
    rm -rf "$dir"
    mkdir -p "$dir"
    local t0
    t0=$(now_ns)
    # (The braces take bash's own "Killed" notice.)
    if [ -n "$preload" ]; then
        { (cd "$dir" && HOME=$dir timeout -k 5 $LIMIT env LD_PRELOAD="$preload" "$@") >"$out" 2>"$out.err" </dev/null; } 2>/dev/null
    else
        { (cd "$dir" && HOME=$dir timeout -k 5 $LIMIT "$@") >"$out" 2>"$out.err" </dev/null; } 2>/dev/null
    fi
    STATUS=$?
    ELAPSED=$(($(now_ns) - t0))
}

# check NAME CMD...: the program's output and exit status with and without
# the library.
check() {
    local name=$1
    shift
    local base=$TMP/$name
    run "$base.dir" "$base.plain" "" "$@"
    local status1=$STATUS time1=$ELAPSED
    run "$base.dir" "$base.lib" "$LIB" "$@"
    report "$name" "$base" $status1 $time1 $STATUS $ELAPSED
}

# report NAME BASE STATUS1 TIME1 STATUS2 TIME2: compare BASE.plain with
# BASE.lib, the outputs without and with the library, and say ok or FAIL.
report() {
    local name=$1 base=$2 status1=$3 time1=$4 status2=$5 time2=$6
    if [ $status1 -ne 0 ]; then
        echo "FAIL $name: fails without the library too (exit status $status1); its stderr:"
        tail -n 20 "$base.plain.err" | sed 's/^/    /'
        FAILED=1
    elif [ $status2 -ne 0 ] || ! cmp -s "$base.plain" "$base.lib" ||
        grep -q 'cannot be preloaded' "$base.lib.err"; then
        local why="exit status $status1 without the library, $status2 with it"
        case $status2 in
        124 | 137) why="$why: timed out after $LIMIT s, killed" ;;
        esac
        echo "FAIL $name ($why)"
        echo "  stdout, without (---) and with (+++) LD_PRELOAD=$LIB:"
        diff -u "$base.plain" "$base.lib" | head -n 40 | sed 's/^/    /'
        echo "  stderr with the library:"
        tail -n 20 "$base.lib.err" | sed 's/^/    /'
        FAILED=1
    else
        echo "ok $name ($(seconds $time1) s vs $(seconds $time2) s)"
    fi
}

skip() {
    echo "skipped $1 (not installed)"
}

# ---- is the library loaded at all? -------------------------------------------------------
if ! maps=$(LD_PRELOAD="$LIB" cat /proc/self/maps 2>"$TMP/probe.err") ||
    ! grep -qF -- "$LIB" <<<"$maps"; then
    echo "FAIL preload: $LIB does not get loaded with LD_PRELOAD:"
    sed 's/^/    /' "$TMP/probe.err"
    exit 1
fi

# ---- python3 -------------------------------------------------------------------------------
PYTHON=
if [ -x /usr/bin/python3 ]; then
    PYTHON=/usr/bin/python3 # not a pyenv shim, which would run more programs
elif command -v python3 >/dev/null 2>&1; then
    PYTHON=$(command -v python3)
fi
cat >"$TMP/work.py" <<'EOF'
import collections, hashlib, json, random, re

random.seed(20261202)
digest = hashlib.sha256()

# dicts of lists and dicts, half deleted, rebuilt
d = {}
for i in range(60000):
    d["k%d" % i] = [i, str(i) * (i % 7), {"x": i % 13, "y": [i] * (i % 4)}]
for i in range(0, 60000, 2):
    del d["k%d" % i]
d.update({"n%d" % i: "v" * (i % 50) for i in range(50000)})

# strings and lists
words = ["".join(random.choice("abcdefghij") for _ in range(random.randint(1, 12)))
         for _ in range(30000)]
counts = collections.Counter(words)
text = " ".join(words)
found = re.findall(r"\b[a-c]+[d-j]{2,}\b", text)
swapped = re.sub(r"(a+)(b+)", r"\2\1", text)
ordered = sorted(set(words), key=lambda w: (len(w), w))
grown = bytearray()
for w in words:
    grown += w.encode() * 3

# json round trip
s = json.dumps(d, sort_keys=True)
back = json.loads(s)
assert back == d

for part in (s, swapped, " ".join(ordered), repr(counts.most_common(20)), grown.hex()[:100000]):
    digest.update(part.encode())
print(len(d), len(found), len(ordered), len(grown), counts.most_common(3))
print(digest.hexdigest())
EOF
if [ -n "$PYTHON" ]; then
    check python3 "$PYTHON" "$TMP/work.py"
else
    skip python3
fi

# ---- sqlite3 -------------------------------------------------------------------------------
cat >"$TMP/work.sql" <<'EOF'
CREATE TABLE t(id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, val REAL);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20000)
INSERT INTO t SELECT x, x % 97, 'name' || (x * 7919 % 20011), x * 1.5 FROM c;
CREATE TABLE g(grp INTEGER PRIMARY KEY, label TEXT);
WITH RECURSIVE c(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM c WHERE x < 96)
INSERT INTO g SELECT x, 'group-' || x FROM c;
CREATE INDEX t_name ON t(name);
SELECT grp, count(*), sum(val), min(name), max(name) FROM t GROUP BY grp ORDER BY grp LIMIT 10;
SELECT g.label, count(*), round(avg(t.val), 3) FROM t JOIN g ON t.grp = g.grp
  WHERE t.id % 3 = 0 GROUP BY g.label ORDER BY count(*) DESC, g.label LIMIT 10;
SELECT name FROM t ORDER BY name DESC LIMIT 5;
SELECT count(DISTINCT name), total(length(name)) FROM t;
SELECT group_concat(id) FROM (SELECT id FROM t WHERE name LIKE 'name1999%' ORDER BY id);
SELECT count(*), sum(b.val - a.val) FROM t a JOIN t b
  ON b.id BETWEEN a.id + 1 AND a.id + 100 AND a.grp = b.grp % 50;
SELECT grp, group_concat(name, '|') FROM (SELECT grp, name FROM t WHERE id < 300 ORDER BY name)
  GROUP BY grp ORDER BY grp DESC LIMIT 3;
DELETE FROM t WHERE id % 2 = 0;
VACUUM;
SELECT count(*), sum(id), max(length(name)) FROM t;
PRAGMA integrity_check;
EOF
if command -v sqlite3 >/dev/null 2>&1; then
    check sqlite3 sqlite3 test.db ".read $TMP/work.sql"
else
    skip sqlite3
fi

# ---- perl ----------------------------------------------------------------------------------
cat >"$TMP/work.pl" <<'EOF'
use strict;
use warnings;
use Digest::MD5;

my %h;
for my $i (0 .. 199999) {
    $h{"key$i"} = ("v" . ($i * 7 % 1000)) x ($i % 5 + 1);
}
delete $h{"key$_"} for grep { $_ % 3 == 0 } 0 .. 199999;
my $s = join(",", map { "$_=$h{$_}" } sort keys %h);
(my $t = $s) =~ s/(key)(\d+)/$2$1/g;
my @m = ($t =~ /(\d{3})key=v(\d+)/g);
my %count;
$count{$_}++ for map { substr($_, 0, 2) } @m;
my @top = (sort { $count{$b} <=> $count{$a} || $a cmp $b } keys %count)[0 .. 4];
my @nums = sort { $a <=> $b } map { ($_ * 7919) % 100003 } 1 .. 100000;
my $ctx = Digest::MD5->new;
$ctx->add($s, $t, join(":", @m), join(" ", @nums));
print scalar(keys %h), " ", scalar(@m), " @top ", $ctx->hexdigest, "\n";
EOF
if command -v perl >/dev/null 2>&1; then
    check perl perl "$TMP/work.pl"
else
    skip perl
fi

# ---- git -----------------------------------------------------------------------------------
cat >"$TMP/work-git.sh" <<'EOF'
set -e
export GIT_AUTHOR_NAME=kmem GIT_AUTHOR_EMAIL=kmem@example.org
export GIT_COMMITTER_NAME=kmem GIT_COMMITTER_EMAIL=kmem@example.org
git init -q repo
cd repo
git symbolic-ref HEAD refs/heads/main
for i in 1 2 3 4; do
    export GIT_AUTHOR_DATE="2026-01-0${i}T12:00:00Z" GIT_COMMITTER_DATE="2026-01-0${i}T12:00:00Z"
    seq 1 $((i * 5000)) >numbers.txt
    for j in $(seq 1 $((i * 10))); do
        printf 'file %d of commit %d\n%s\n' "$j" "$i" "$(seq -s ' ' "$j" $((j + 300)))" >"f$j.txt"
    done
    git add -A
    git commit -q -m "commit $i"
done
git log --format=%H
git rev-list --all --objects | sort | git hash-object --stdin
git diff --stat HEAD~3 HEAD | tail -n 1
git gc -q
git fsck --full --no-progress
echo "fsck: $?"
git cat-file -p HEAD:numbers.txt | tail -n 1
EOF
if command -v git >/dev/null 2>&1; then
    check git bash "$TMP/work-git.sh"
else
    skip git
fi

# ---- jq ------------------------------------------------------------------------------------
cat >"$TMP/work.jq" <<'EOF'
[range(0; 30000) | {id: ., name: "item\(.)", tags: [range(0; . % 5) | tostring], v: (. * 7 % 1000)}]
| map(select(.v % 3 != 0))
| group_by(.v % 10)
| map({k: (.[0].v % 10), n: length, s: (map(.v) | add), t: (map(.tags | length) | add),
       first: .[0].name, joined: (map(.name) | join(",") | length),
       uniq: (map(.v) | unique | length)})
| sort_by(-.n, .k)
| (., (tojson | @base64 | @base64d | length), (map(to_entries | map(.key)) | add | unique))
EOF
if command -v jq >/dev/null 2>&1; then
    check jq jq -n -c -f "$TMP/work.jq"
else
    skip jq
fi

# ---- gawk ----------------------------------------------------------------------------------
cat >"$TMP/work.awk" <<'EOF'
BEGIN {
    for (i = 0; i < 200000; i++) {
        k = "k" (i * 7919 % 100003)
        a[k] = a[k] i ","
    }
    n = asorti(a, keys)
    for (i = 1; i <= n; i += 997)
        sum += length(a[keys[i]])
    s = ""
    for (i = 0; i < 30000; i++)
        s = s sprintf("%05d", i)
    subs = gsub(/0+/, "z", s)
    m = split(s, parts, "z")
    for (i = 1; i <= m; i++)
        words[parts[i]]++
    w = asorti(words, wkeys)
    print n, sum, length(s), subs, m, w, keys[1], keys[n], wkeys[2], toupper(substr(s, 1, 20))
}
EOF
if command -v gawk >/dev/null 2>&1; then
    check gawk gawk -f "$TMP/work.awk"
else
    skip gawk
fi

# ---- lua5.4 --------------------------------------------------------------------------------
cat >"$TMP/work.lua" <<'EOF'
local t = {}
for i = 1, 200000 do
  t[i] = string.format("%d:%s", i, string.rep("x", i % 17))
end
table.sort(t)
local groups = {}
for _, s in ipairs(t) do
  local k = tonumber(s:match("^(%d+)")) % 100
  groups[k] = (groups[k] or 0) + #s
end
local parts = {}
for i = 1, 60000 do
  parts[#parts + 1] = tostring(i * 31 % 1000)
end
local s = table.concat(parts, ",")
local digits = 0
for w in s:gmatch("%d+") do
  digits = digits + #w
end
local swapped, nsub = s:gsub("(%d)(%d)", "%2%1")
local h = 0
for i = 1, #swapped, 7 do
  h = (h * 31 + swapped:byte(i)) % 4294967296
end
local m = {}
for i = 1, 100000 do
  m["key" .. i] = { i, tostring(i) }
end
for i = 1, 100000, 2 do
  m["key" .. i] = nil
end
local left = 0
for _ in pairs(m) do
  left = left + 1
end
collectgarbage()
print(#t, t[1], t[#t], groups[0], groups[99], digits, nsub, h, left)
EOF
if command -v lua5.4 >/dev/null 2>&1; then
    check lua5.4 lua5.4 "$TMP/work.lua"
else
    skip lua5.4
fi

# ---- gcc and clang: a generated C file at -O2 --------------------------------------------
cat >"$TMP/work-cc.sh" <<'EOF'
cc=$1
{
    echo '#include <stdio.h>'
    for i in $(seq 1 150); do
        echo "static unsigned long f$i(unsigned long x) { unsigned long s = $i;"
        echo "  for (unsigned long k = 0; k < (x & 31); k++) s = s * 6364136223846793005UL + (k ^ $i);"
        echo "  return s ^ (x >> ($i % 13)); }"
    done
    echo 'int main(void) { unsigned long h = 0;'
    for i in $(seq 1 150); do echo "  h = h * 31 + f$i(h + $i);"; done
    echo '  printf("%lu\n", h); return 0; }'
} >gen.c
printf 'int main(void) { return undeclared_thing + ; }\n' >bad.c
$cc -O2 -S -o gen.s gen.c && grep -v '\.ident\|\.file' gen.s | cksum
$cc -O2 -o gen gen.c && ./gen
$cc -c bad.c -o bad.o 2>&1 | grep -c 'error'
EOF
for cc in gcc clang; do
    if command -v $cc >/dev/null 2>&1; then
        check $cc bash "$TMP/work-cc.sh" $cc
    else
        skip $cc
    fi
done

# ---- redis-server: bounded load on 127.0.0.1 ----------------------------------------------
cat >"$TMP/work-redis.sh" <<'EOF'
port=
for p in 6390 6391 6392 6393 6394 6395 6396 6397 6398 6399; do
    if ! env -u LD_PRELOAD redis-cli -h 127.0.0.1 -p $p ping >/dev/null 2>&1; then
        port=$p
        break
    fi
done
[ -n "$port" ] || { echo "no free port"; exit 1; }
redis-server --bind 127.0.0.1 --port $port --save "" --appendonly no --daemonize no \
    --dir "$PWD" >server.log 2>&1 &
server=$!
trap 'kill -9 $server 2>/dev/null; wait $server 2>/dev/null' EXIT
unset LD_PRELOAD # the client runs plain: only the server is under test
for i in $(seq 1 100); do
    redis-cli -h 127.0.0.1 -p $port ping >/dev/null 2>&1 && break
    sleep 0.05
done
{
    for i in $(seq 1 2000); do
        echo "SET key:$i value-$((i * 7919 % 10007))-$(printf '%0*d' $((i % 200)) 0)"
        echo "INCRBY counter:$((i % 50)) $i"
        echo "LPUSH list:$((i % 20)) item-$i"
        echo "HSET hash:$((i % 30)) field-$i $((i * i))"
        echo "ZADD zset:$((i % 10)) $((i * 31 % 997)) member-$i"
    done
    for i in $(seq 1 7 2000); do echo "GET key:$i"; echo "DEL key:$((i + 1))"; done
    for i in $(seq 0 19); do echo "LRANGE list:$i 0 5"; echo "LTRIM list:$i 0 30"; done
    for i in $(seq 0 9); do echo "ZRANGE zset:$i 0 4 WITHSCORES"; done
    echo "DBSIZE"
} | redis-cli -h 127.0.0.1 -p $port | cksum
redis-cli -h 127.0.0.1 -p $port DEBUG DIGEST
redis-cli -h 127.0.0.1 -p $port shutdown nosave >/dev/null 2>&1
wait $server
echo "server exit $?"
EOF
if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
    check redis bash "$TMP/work-redis.sh"
else
    skip redis-server
fi

exit $FAILED
