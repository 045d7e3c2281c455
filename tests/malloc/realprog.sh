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
# transform), gawk, lua5.4, gcc and clang (a generated C file of some 3300
# lines at -O2 -Wall -Wextra: the warnings, the assembly's checksum, the
# linked program's output, it mallocs too, and the errors for a broken file)
# and redis-server (on 127.0.0.1, a free port of 6390-6399, no persistence:
# some 10000 commands of a generated workload through redis-cli, then DEBUG
# DIGEST of the data set; only the server is run with the library). A
# program that is not installed is skipped.
#
# One line per program: "ok NAME (T1 s vs T2 s)", times without and with the
# library, or "FAIL NAME" and the difference. Exit status 1 if any failed.
set -u

if [ $# -ne 1 ]; then
    echo "usage: $0 LIB" >&2
    exit 2
fi
LIB=$1
[ "$LIB" = none ] || LIB=$(readlink -f -- "$1")
if [ "$LIB" != none ] && [ ! -r "$LIB" ]; then
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
    if [ -n "${REALPROG_BENCH:-}" ]; then
        bench_one "$name" "$base" "$@"
        return
    fi
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

# The benchmark's mode (REALPROG_BENCH=LABEL, used by bench/run.sh): each
# program once, with LIB preloaded ("none": without), timed by GNU time; one
# line "rsample NAME LABEL SECONDS PEAK_RSS_KIB CPU_SECONDS ok|MISMATCH", the
# output compared with a run without the library made once per TMP.
bench_one() {
    local name=$1 base=$2
    shift 2
    local preload=$LIB
    [ "$LIB" = none ] && preload=
    if [ ! -f "$REALPROG_REF/$name.out" ]; then
        run "$base.dir" "$REALPROG_REF/$name.out" "" "$@"
    fi
    run "$base.dir" "$base.lib" "$preload" /usr/bin/time -f '%e %M %U %S' -o "$base.time" "$@"
    local verdict=ok
    [ $STATUS -eq 0 ] && cmp -s "$REALPROG_REF/$name.out" "$base.lib" || verdict=MISMATCH
    read -r wall rss user sys <"$base.time" 2>/dev/null || { wall=0 rss=0 user=0 sys=0; }
    printf 'rsample\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$REALPROG_BENCH" "$wall" "$rss" \
        "$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')" "$verdict"
}

# ---- is the library loaded at all? -------------------------------------------------------
if [ -n "${REALPROG_BENCH:-}" ]; then
    REALPROG_REF=${REALPROG_REF:-$TMP}
    mkdir -p "$REALPROG_REF"
elif ! maps=$(LD_PRELOAD="$LIB" cat /proc/self/maps 2>"$TMP/probe.err") ||
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
cat >"$TMP/gen.awk" <<'EOF'
# gen.awk -v n=N: a C program of N generated functions of four shapes
# (switches, qsort of structs, strings grown by realloc, binary trees), with
# two warnings (f0, f1); it prints a checksum for every 16 functions.
function shape0(i) {
    printf "static unsigned long f%d(unsigned long x)\n{\n", i
    printf "    unsigned long acc = %du;\n", i * 2654435761 % 1000003
    if (i == 0)
        printf "    int unused_here;\n"
    printf "    for (unsigned j = 0; j < %d; j++) {\n", 200 + i % 57
    printf "        switch ((x + j) %% 8) {\n"
    for (c = 0; c < 8; c++)
        printf "        case %d: acc = mix(acc, x * %d + j); break;\n", c, (i * 31 + c * 17) % 251 + 1
    printf "        }\n    }\n    return acc ^ (acc >> %d);\n}\n\n", i % 29 + 3
}
function shape1(i) {
    printf "static int cmp%d(const void *a, const void *b)\n{\n", i
    printf "    const struct rec *p = a, *q = b;\n"
    printf "    if (p->key != q->key) return p->key < q->key ? -1 : 1;\n"
    printf "    return strcmp(p->name, q->name);\n}\n\n"
    printf "static unsigned long f%d(unsigned long x)\n{\n", i
    printf "    size_t n = %d + x %% 97;\n", 300 + i % 200
    printf "    struct rec *r = calloc(n, sizeof *r);\n"
    printf "    if (!r) abort();\n"
    printf "    for (size_t j = 0; j < n; j++) {\n"
    printf "        r[j].key = (long)((j * %d + x) %% %d);\n", i % 89 + 7, i % 41 + 13
    printf "        snprintf(r[j].name, sizeof r[j].name, \"n%%zu_%d\", j * %d %% 1009);\n", i, i % 13 + 3
    printf "    }\n"
    printf "    qsort(r, n, sizeof *r, cmp%d);\n", i
    if (i == 1)
        printf "    int count = -1;\n    if (count < n) count = 0;\n"
    printf "    unsigned long h = n;\n"
    printf "    for (size_t j = 0; j < n; j++) h = mix(h, (unsigned long)r[j].key + r[j].name[1]);\n"
    printf "    free(r);\n    return h;\n}\n\n"
}
function shape2(i) {
    printf "static unsigned long f%d(unsigned long x)\n{\n", i
    printf "    size_t cap = 16, len = 0;\n    char *s = malloc(cap);\n    if (!s) abort();\n"
    printf "    for (unsigned j = 0; j < %d; j++) {\n", 150 + i % 100
    printf "        char part[48];\n"
    printf "        int k = snprintf(part, sizeof part, \"%%lu-%d-%%u;\", x * j %% 9973, j);\n", i
    printf "        if (len + (size_t)k + 1 > cap) {\n"
    printf "            cap = cap * 2 + (size_t)k;\n"
    printf "            char *t = realloc(s, cap);\n            if (!t) abort();\n            s = t;\n        }\n"
    printf "        memcpy(s + len, part, (size_t)k + 1);\n        len += (size_t)k;\n    }\n"
    printf "    unsigned long h = strhash(s) ^ len;\n"
    printf "    char *dup = strdup(s + len / %d);\n", i % 5 + 2
    printf "    h = mix(h, strhash(dup));\n    free(dup);\n    free(s);\n    return h;\n}\n\n"
}
function shape3(i) {
    printf "static unsigned long f%d(unsigned long x)\n{\n", i
    printf "    struct node *root = NULL;\n"
    printf "    for (unsigned j = 0; j < %d; j++)\n", 400 + i % 300
    printf "        root = insert(root, (j * %du + x) %% %du);\n", i % 101 * 2 + 1, 5000 + i % 777
    printf "    unsigned long h = walk(root, %du);\n", i
    printf "    release(root);\n    return h;\n}\n\n"
}
BEGIN {
    print "/* generated by realprog.sh: the same for every run */"
    print "#include <stdio.h>"
    print "#include <stdlib.h>"
    print "#include <string.h>"
    print ""
    print "struct rec { long key; char name[24]; };"
    print "struct node { struct node *l, *r; unsigned v; unsigned n; };"
    print ""
    print "static inline unsigned long mix(unsigned long a, unsigned long b)"
    print "{"
    print "    a ^= b + 0x9e3779b97f4a7c15ul + (a << 6) + (a >> 2);"
    print "    return a * 0xff51afd7ed558ccdul;"
    print "}"
    print ""
    print "static unsigned long strhash(const char *s)"
    print "{"
    print "    unsigned long h = 5381;"
    print "    while (*s) h = h * 33 + (unsigned char)*s++;"
    print "    return h;"
    print "}"
    print ""
    print "static struct node *insert(struct node *t, unsigned v)"
    print "{"
    print "    struct node **p = &t;"
    print "    while (*p) {"
    print "        if ((*p)->v == v) { (*p)->n++; return t; }"
    print "        p = v < (*p)->v ? &(*p)->l : &(*p)->r;"
    print "    }"
    print "    *p = calloc(1, sizeof **p);"
    print "    if (!*p) abort();"
    print "    (*p)->v = v;"
    print "    (*p)->n = 1;"
    print "    return t;"
    print "}"
    print ""
    print "static unsigned long walk(const struct node *t, unsigned long h)"
    print "{"
    print "    if (!t) return h;"
    print "    h = walk(t->l, h);"
    print "    h = mix(h, t->v * 3u + t->n);"
    print "    return walk(t->r, h);"
    print "}"
    print ""
    print "static void release(struct node *t)"
    print "{"
    print "    if (!t) return;"
    print "    release(t->l);"
    print "    release(t->r);"
    print "    free(t);"
    print "}"
    print ""
    for (i = 0; i < n; i++) {
        s = i % 4
        if (s == 0) shape0(i); else if (s == 1) shape1(i); else if (s == 2) shape2(i); else shape3(i)
    }
    print "typedef unsigned long (*fn)(unsigned long);"
    printf "static const fn table[%d] = {\n", n
    for (i = 0; i < n; i++)
        printf "    f%d,\n", i
    print "};"
    print ""
    print "int main(void)"
    print "{"
    print "    unsigned long total = 0, line = 0;"
    printf "    for (unsigned i = 0; i < %d; i++) {\n", n
    print "        unsigned long h = table[i](i * 7919ul);"
    print "        total = mix(total, h);"
    print "        line ^= h;"
    print "        if (i % 16 == 15) {"
    print "            printf(\"%u %016lx\\n\", i, line);"
    print "            line = 0;"
    print "        }"
    print "    }"
    print "    printf(\"total %016lx\\n\", total);"
    print "    return 0;"
    print "}"
}
EOF
cat >"$TMP/bad.c" <<'EOF'
int f(void)
{
    return undeclared + 1
}
struct s { int a; } g = { .b = 1 };
EOF
# work-cc.sh CC GEN.C BAD.C: everything the compiler says goes to stdout, with
# each step's exit status; exit status 1 if a step that should work failed.
cat >"$TMP/work-cc.sh" <<'EOF'
cc=$1
bad=0
cp "$2" prog.c
cp "$3" bad.c
"$cc" -O2 -Wall -Wextra -S prog.c -o prog.s 2>&1 || bad=1
echo "compile: $?"
grep -v '^[[:space:]]*\.\(ident\|file\)' prog.s | cksum
"$cc" prog.s -o prog 2>&1 || bad=1
echo "link: $?"
./prog || bad=1
echo "run: $?"
"$cc" -O2 -Wall -c bad.c 2>&1 && bad=1
echo "broken file: $?"
exit $bad
EOF
awk -v n=160 -f "$TMP/gen.awk" >"$TMP/gen.c"
for cc in gcc clang; do
    if command -v $cc >/dev/null 2>&1; then
        check $cc bash "$TMP/work-cc.sh" $cc "$TMP/gen.c" "$TMP/bad.c"
    else
        skip $cc
    fi
done

# ---- redis-server: bounded load on 127.0.0.1 ----------------------------------------------
cat >"$TMP/redis.awk" <<'EOF'
# redis.awk -v n=N: N rounds of strings, counters, lists, hashes, sorted sets
# and sets, a Lua script now and then, UNLINKs (freed by a background thread)
# and at the end DEBUG DIGEST, FLUSHALL ASYNC. Each reply is deterministic:
# nothing lists a hash table's order (HGETALL, SMEMBERS, KEYS).
BEGIN {
    for (i = 1; i <= n; i++) {
        v = sprintf("v%d-", i)
        for (r = i % 23; r > 0; r--)
            v = v "abcdefghij"
        printf "SET k:%d %s\n", i, v
        printf "GET k:%d\n", int(i * 2 / 3) + 1
        printf "INCRBY c:%d %d\n", i % 50, i
        if (i % 3 == 0) printf "APPEND k:%d %s\n", i / 3, v
        printf "LPUSH l:%d item%d\n", i % 20, i
        if (i % 2 == 0) printf "RPUSH l:%d tail%d x%d\n", i % 20, i, i * 3
        if (i % 25 == 0) printf "LRANGE l:%d %d %d\n", i % 20, i % 7, i % 7 + 12
        if (i % 40 == 0) printf "LTRIM l:%d 0 %d\n", i % 20, 30 + i % 50
        printf "HSET h:%d f%d %s f%d n%d\n", i % 30, i, v, i % 200, i
        if (i % 10 == 0) printf "HGET h:%d f%d\n", i % 30, i - 30
        if (i % 100 == 0) printf "HLEN h:%d\n", i % 30
        printf "ZADD z:%d %d m%d\n", i % 10, (i * 7919) % 1000, i
        if (i % 5 == 0) printf "ZINCRBY z:%d %d m%d\n", i % 10, i % 13, i - 5
        if (i % 30 == 0) printf "ZRANGE z:%d 0 9 WITHSCORES\n", i % 10
        if (i % 45 == 0) printf "ZRANGEBYSCORE z:%d %d %d LIMIT 0 10\n", i % 10, i % 500, i % 500 + 100
        if (i % 70 == 0) printf "ZREM z:%d m%d m%d\n", i % 10, i - 10, i - 20
        printf "SADD s:%d %d m%d\n", i % 15, i % 400, i
        if (i % 50 == 0) printf "SINTERCARD 2 s:%d s:%d\n", i % 15, (i + 1) % 15
        if (i % 60 == 0) printf "SORT s:%d ALPHA LIMIT 0 8\n", i % 15
        if (i % 200 == 0) printf "EVAL \"local t = {} for j = 1, tonumber(ARGV[1]) do t[j] = tostring(j * 7) end return #table.concat(t, ',')\" 0 %d\n", i * 5
        if (i % 90 == 0) printf "UNLINK k:%d k:%d h:%d\n", i - 50, i - 60, (i / 90) % 30
        if (i % 120 == 0) printf "DEL l:%d\n", (i / 120) % 20
    }
    print "DBSIZE"
    for (j = 0; j < 10; j++)
        printf "ZCARD z:%d\n", j
    print "DEBUG DIGEST"
    print "FLUSHALL ASYNC"
    print "DBSIZE"
}
EOF
# work-redis.sh CMDS: a server on 127.0.0.1 (a free port of 6390-6399; with
# the LD_PRELOAD this script was given, which nothing else gets), the commands
# through redis-cli, SHUTDOWN NOSAVE; the replies and both exit statuses.
# Exit status 1 if the server does not start or does not end well.
# (Debian's redis-server links libjemalloc; the preloaded library still
# takes its malloc, calloc, realloc, free and malloc_usable_size: jemalloc
# keeps only nallocx and mallctl, which redis asks for sizes and statistics.)
cat >"$TMP/work-redis.sh" <<'EOF'
cmds=$1
preload=${LD_PRELOAD:-}
unset LD_PRELOAD # the client runs plain: only the server is under test
port= server=
trap '[ -z "$server" ] || kill -9 $server 2>/dev/null' EXIT
for p in 6390 6391 6392 6393 6394 6395 6396 6397 6398 6399; do
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue # taken
    ${preload:+env LD_PRELOAD="$preload"} redis-server --bind 127.0.0.1 --port $p \
        --protected-mode yes --save "" --appendonly no --daemonize no --dir "$PWD" \
        --logfile "$PWD/server.log" --enable-debug-command local </dev/null >server.out 2>&1 &
    server=$!
    for i in $(seq 100); do
        kill -0 $server 2>/dev/null || break # it could not listen there
        # Ours, not one that took the port meanwhile: its dir is ours.
        if redis-cli -p $p CONFIG GET dir 2>/dev/null | grep -qxF -- "$PWD"; then
            port=$p
            break
        fi
        sleep 0.05
    done
    [ -n "$port" ] && break
    kill -9 $server 2>/dev/null
    wait $server 2>/dev/null
    server=
done
if [ -z "$port" ]; then
    echo "redis-server did not start on a free port of 6390-6399"
    cat server.out server.log >&2 2>/dev/null
    exit 1
fi
redis-cli -p $port <"$cmds"
echo "client: $?"
redis-cli -p $port SHUTDOWN NOSAVE >/dev/null 2>&1
wait $server
status=$?
server=
echo "server: $status"
if [ $status -ne 0 ]; then
    tail -n 40 server.log >&2
    exit 1
fi
EOF
if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
    awk -v n=1200 -f "$TMP/redis.awk" >"$TMP/redis.cmds"
    check redis bash "$TMP/work-redis.sh" "$TMP/redis.cmds"
else
    skip redis-server
fi

exit $FAILED
