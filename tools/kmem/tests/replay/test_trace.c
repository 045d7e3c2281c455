/* SPDX-License-Identifier: MIT */
/*
 * test_trace.c - the trace parser (tools/kmem/trace.c) on its own: every
 * operation under its long and its short name, comments, blanks and
 * spacing, and every kind of bad line with the reason it must give; then
 * trace_next over a file, with line numbers, the version header and the
 * byte offset the progress bar reads.
 */
#include "harness.h"

#include <kmem/types.h>

#include "trace.h"

static struct trace_rec rec;
static char err[256];

/* Parse a line that must be good. */
static bool good(const char *line)
{
    bool ok = trace_parse_line(line, &rec, err, sizeof err);
    if (!ok)
        fprintf(stderr, "unexpected error for '%s': %s\n", line, err);
    return ok;
}

/* Parse a line that must be bad, with a reason containing want. */
static bool bad(const char *line, const char *want)
{
    if (trace_parse_line(line, &rec, err, sizeof err)) {
        fprintf(stderr, "'%s' parsed, but should not\n", line);
        return false;
    }
    if (!strstr(err, want)) {
        fprintf(stderr, "'%s': reason '%s' lacks '%s'\n", line, err, want);
        return false;
    }
    return true;
}

TEST(blank_and_comment_lines)
{
    CHECK(good("") && rec.op == TR_NONE);
    CHECK(good("\n") && rec.op == TR_NONE);
    CHECK(good("   \t  \r\n") && rec.op == TR_NONE);
    CHECK(good("# a comment") && rec.op == TR_NONE);
    CHECK(good("   # indented comment kmalloc 1 2") && rec.op == TR_NONE);
    CHECK(good("# kmem trace 1") && rec.op == TR_NONE);
}

TEST(pages)
{
    CHECK(good("alloc_pages p1 3") && rec.op == TR_ALLOC_PAGES);
    CHECK_STR_EQ(rec.id, "p1");
    CHECK_EQ(rec.n, 3);
    CHECK(good("pa 0x7f00 0\n") && rec.op == TR_ALLOC_PAGES && rec.n == 0);
    CHECK(good("pa q 10") && rec.n == MAX_PAGE_ORDER);
    CHECK(good("free_pages p1") && rec.op == TR_FREE_PAGES);
    CHECK_STR_EQ(rec.id, "p1");
    CHECK(good("fp p1 # freed") && rec.op == TR_FREE_PAGES);
}

TEST(caches)
{
    CHECK(good("cache_create task 1800") && rec.op == TR_CACHE_CREATE);
    CHECK_STR_EQ(rec.name, "task");
    CHECK_EQ(rec.size, 1800);
    CHECK_EQ(rec.n, 0);
    CHECK(good("cc inode 1K 64") && rec.op == TR_CACHE_CREATE);
    CHECK_EQ(rec.size, 1024);
    CHECK_EQ(rec.n, 64);
    CHECK(good("cc big 4M 4096") && rec.size == (4u << 20) && rec.n == 4096);
    CHECK(good("cache_alloc t1 task") && rec.op == TR_CACHE_ALLOC);
    CHECK_STR_EQ(rec.id, "t1");
    CHECK_STR_EQ(rec.name, "task");
    CHECK(good("ca t2 task") && rec.op == TR_CACHE_ALLOC);
    CHECK(good("cache_free t1") && rec.op == TR_CACHE_FREE);
    CHECK(good("cf t2") && rec.op == TR_CACHE_FREE);
    CHECK(good("cache_destroy task") && rec.op == TR_CACHE_DESTROY);
    CHECK_STR_EQ(rec.name, "task");
    CHECK(good("cd task") && rec.op == TR_CACHE_DESTROY);
}

TEST(kmalloc_and_vmalloc)
{
    CHECK(good("kmalloc k1 100") && rec.op == TR_KMALLOC && rec.size == 100);
    CHECK(good("km k2 21K") && rec.op == TR_KMALLOC && rec.size == 21 * 1024);
    CHECK(good("km k3 0") && rec.size == 0);
    CHECK(good("kfree k1") && rec.op == TR_KFREE);
    CHECK(good("kf k2") && rec.op == TR_KFREE);
    CHECK(good("vmalloc v1 16M") && rec.op == TR_VMALLOC && rec.size == (16u << 20));
    CHECK(good("vm v2 1G") && rec.op == TR_VMALLOC && rec.size == (1ull << 30));
    CHECK(good("vfree v1") && rec.op == TR_VFREE);
    CHECK(good("vf v2") && rec.op == TR_VFREE);
}

TEST(malloc_family)
{
    CHECK(good("malloc 0x5591a2b0 24") && rec.op == TR_MALLOC && rec.size == 24);
    CHECK_STR_EQ(rec.id, "0x5591a2b0");
    CHECK(good("m 0x10 1") && rec.op == TR_MALLOC);
    CHECK(good("free 0x10") && rec.op == TR_FREE);
    CHECK(good("f -") && rec.op == TR_FREE && trace_id_is_null(rec.id));
    CHECK(good("calloc 0x20 16 12") && rec.op == TR_CALLOC);
    CHECK_EQ(rec.n, 16);
    CHECK_EQ(rec.size, 192);
    CHECK(good("c 0x30 0 100") && rec.op == TR_CALLOC && rec.size == 0);
    CHECK(good("realloc 0x10 0x40 300") && rec.op == TR_REALLOC);
    CHECK_STR_EQ(rec.id2, "0x10");
    CHECK_STR_EQ(rec.id, "0x40");
    CHECK_EQ(rec.size, 300);
    CHECK(good("r - 0x50 8") && trace_id_is_null(rec.id2) && !trace_id_is_null(rec.id));
    CHECK(good("r 0x50 - 0") && trace_id_is_null(rec.id) && rec.size == 0);
    CHECK(good("memalign 0x1000 64 80") && rec.op == TR_MEMALIGN);
    CHECK_EQ(rec.n, 64);
    CHECK_EQ(rec.size, 80);
    CHECK(good("a 0x2000 4K 1") && rec.op == TR_MEMALIGN && rec.n == 4096);
}

TEST(mark)
{
    CHECK(good("mark after the 21 KB request") && rec.op == TR_MARK);
    CHECK_STR_EQ(rec.name, "after the 21 KB request");
    CHECK(good("mark   spaced\tout  # and a comment") && rec.op == TR_MARK);
    CHECK_STR_EQ(rec.name, "spaced\tout");
    CHECK(good("mark") && rec.op == TR_MARK && rec.name[0] == '\0');
    /* A long label is cut, not refused. */
    CHECK(good("mark aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
    CHECK_EQ(strlen(rec.name), TRACE_TOKEN_MAX - 1);
}

TEST(spacing)
{
    CHECK(good("\t kmalloc \t k1    100  \r\n") && rec.op == TR_KMALLOC && rec.size == 100);
    CHECK_STR_EQ(rec.id, "k1");
    CHECK(good("km k1 100# no space before the comment") && rec.size == 100);
}

TEST(bad_lines)
{
    CHECK(bad("kmaloc k1 100", "unknown operation 'kmaloc'"));
    CHECK(bad("KMALLOC k1 100", "unknown operation"));
    CHECK(bad("kmalloc k1", "kmalloc takes ID SIZE: a field is missing"));
    CHECK(bad("kmalloc", "kmalloc takes ID SIZE: the fields are missing"));
    CHECK(bad("kmalloc k1 100 200", "kmalloc takes ID SIZE: extra field '200'"));
    CHECK(bad("kfree k1 k2", "kfree takes ID: extra field 'k2'"));
    CHECK(bad("cc task 100 8 9", "extra field '9'"));
    CHECK(bad("realloc 0x10 0x20", "realloc takes OLD NEW SIZE"));
    CHECK(bad("kmalloc k1 12x", "size '12x' is not a number"));
    CHECK(bad("kmalloc k1 -5", "size '-5' is not a number"));
    CHECK(bad("m 0x1 lots", "size 'lots' is not a number"));
    CHECK(bad("alloc_pages p1 11", "order 11 is larger than MAX_PAGE_ORDER (10)"));
    CHECK(bad("pa p1 x", "order 'x' is not a number"));
    CHECK(bad("pa p1 1K", "order '1K' is not a number"));
    CHECK(bad("c 0x1 4294967296 4294967296", "calloc of 4294967296 * 4294967296 bytes overflows"));
    CHECK(bad("c 0x1 many 8", "count 'many' is not a number"));
    CHECK(bad("a 0x1 3 10", "alignment 3 is not a power of two"));
    CHECK(bad("a 0x1 0 10", "alignment 0 is not a power of two"));
    CHECK(bad("a 0x1 x 10", "alignment 'x' is not a number"));
    CHECK(bad("cc task 100 24", "alignment 24 is not a power of two"));
    CHECK(bad("cc task 100 8K", "cache alignment 8K is larger than a page (4096)"));
    CHECK(bad("cc task 0", "object size 0 is not 1 byte"));
    CHECK(bad("cc task 5M", "object size 5M is not 1 byte"));
    CHECK(bad("km 0123456789012345678901234567890123456789012345678 1",
              "id '01234567890123456789012345678901...' is longer than 47 characters"));
    CHECK(bad("cc a_cache_name_that_is_far_too_long 64",
              "cache name 'a_cache_name_that_is_far_too_lon...' is longer than 31 characters"));
    CHECK(bad("ca t1 a_cache_name_that_is_far_too_long", "is longer than 31 characters"));
    CHECK(bad("km k1 123456789012345678901234567890123456789012345678901234567890",
              "is longer than 47 characters"));
    /* The longest id and name fit. */
    CHECK(good("km 01234567890123456789012345678901234567890123456 1"));
    CHECK_EQ(strlen(rec.id), TRACE_TOKEN_MAX - 1);
    CHECK(good("cc a_cache_name_that_is_31_chars 64"));
}

TEST(op_names)
{
    CHECK_STR_EQ(trace_op_name(TR_ALLOC_PAGES), "alloc_pages");
    CHECK_STR_EQ(trace_op_name(TR_MEMALIGN), "memalign");
    CHECK_STR_EQ(trace_op_name(TR_MARK), "mark");
    CHECK_STR_EQ(trace_op_name(TR_NONE), "");
    CHECK(!trace_id_is_null("--"));
    CHECK(!trace_id_is_null("0"));
}

/* trace_next over text put in a temporary file. */
static FILE *text_file(const char *text)
{
    FILE *f = tmpfile();
    if (f) {
        fputs(text, f);
        rewind(f);
    }
    return f;
}

TEST(reader_lines_and_offsets)
{
    const char *text = "# kmem trace 1 written by hand\n"
                       "\n"
                       "kmalloc k1 100\n"
                       "   # comment\n"
                       "kf k1";
    FILE *f = text_file(text);
    REQUIRE(f);
    struct trace_reader r = {.f = f};
    CHECK_EQ(trace_next(&r, &rec, err, sizeof err), 1);
    CHECK_EQ(rec.op, TR_KMALLOC);
    CHECK_EQ(r.line_no, 3);
    CHECK_EQ(trace_next(&r, &rec, err, sizeof err), 1);
    CHECK_EQ(rec.op, TR_KFREE);
    CHECK_EQ(r.line_no, 5); /* the last line has no newline */
    CHECK_EQ(r.offset, strlen(text));
    CHECK_EQ(trace_next(&r, &rec, err, sizeof err), 0);
    trace_reader_close(&r);
    fclose(f);
}

TEST(reader_bad_line_number)
{
    FILE *f = text_file("km k1 1\n\nkm k2 1\nkmalloc k3\nkm k4 1\n");
    REQUIRE(f);
    struct trace_reader r = {.f = f};
    CHECK_EQ(trace_next(&r, &rec, err, sizeof err), 1);
    CHECK_EQ(trace_next(&r, &rec, err, sizeof err), 1);
    CHECK_EQ(trace_next(&r, &rec, err, sizeof err), -1);
    CHECK_EQ(r.line_no, 4);
    CHECK(strstr(err, "a field is missing") != NULL);
    trace_reader_close(&r);
    fclose(f);
}

TEST(reader_version_header)
{
    FILE *f = text_file("# kmem trace 2\nkm k1 1\n");
    REQUIRE(f);
    struct trace_reader r = {.f = f};
    CHECK_EQ(trace_next(&r, &rec, err, sizeof err), -1);
    CHECK_EQ(r.line_no, 1);
    CHECK(strstr(err, "trace format version 2 is not supported") != NULL);
    trace_reader_close(&r);
    fclose(f);

    f = text_file("# kmem trace one\n");
    REQUIRE(f);
    r = (struct trace_reader){.f = f};
    CHECK_EQ(trace_next(&r, &rec, err, sizeof err), -1);
    CHECK(strstr(err, "version 'one' is not a number") != NULL);
    trace_reader_close(&r);
    fclose(f);

    /* The recorder's header. */
    f = text_file("# kmem trace 1: /usr/bin/python3 (pid 4242)\nm 55d0c0a010 24\n");
    REQUIRE(f);
    r = (struct trace_reader){.f = f};
    CHECK_EQ(trace_next(&r, &rec, err, sizeof err), 1);
    CHECK_EQ(rec.op, TR_MALLOC);
    CHECK_STR_EQ(rec.id, "55d0c0a010");
    trace_reader_close(&r);
    fclose(f);

    f = text_file("# kmem trace 1.5\n");
    REQUIRE(f);
    r = (struct trace_reader){.f = f};
    CHECK_EQ(trace_next(&r, &rec, err, sizeof err), -1);
    trace_reader_close(&r);
    fclose(f);

    /* Only the first line is a header; later it is a comment. */
    f = text_file("km k1 1\n# kmem trace 2\n");
    REQUIRE(f);
    r = (struct trace_reader){.f = f};
    CHECK_EQ(trace_next(&r, &rec, err, sizeof err), 1);
    CHECK_EQ(trace_next(&r, &rec, err, sizeof err), 0);
    trace_reader_close(&r);
    fclose(f);
}

TEST(reader_nul_byte)
{
    FILE *f = tmpfile();
    REQUIRE(f);
    fwrite("km k1 1\nkm\0k2 1\n", 1, 17, f);
    rewind(f);
    struct trace_reader r = {.f = f};
    CHECK_EQ(trace_next(&r, &rec, err, sizeof err), 1);
    CHECK_EQ(trace_next(&r, &rec, err, sizeof err), -1);
    CHECK_EQ(r.line_no, 2);
    CHECK(strstr(err, "NUL byte") != NULL);
    trace_reader_close(&r);
    fclose(f);
}

TEST(long_line)
{
    /* getline grows its buffer: a line of any length is read whole. */
    size_t n = 100000;
    char *line = malloc(n + 16);
    REQUIRE(line);
    memcpy(line, "mark ", 5);
    memset(line + 5, 'x', n);
    strcpy(line + 5 + n, "\nkm k 1\n");
    FILE *f = text_file(line);
    free(line);
    REQUIRE(f);
    struct trace_reader r = {.f = f};
    CHECK_EQ(trace_next(&r, &rec, err, sizeof err), 1);
    CHECK_EQ(rec.op, TR_MARK);
    CHECK_EQ(trace_next(&r, &rec, err, sizeof err), 1);
    CHECK_EQ(rec.op, TR_KMALLOC);
    CHECK_EQ(r.line_no, 2);
    trace_reader_close(&r);
    fclose(f);
}

int main(void)
{
    RUN(blank_and_comment_lines);
    RUN(pages);
    RUN(caches);
    RUN(kmalloc_and_vmalloc);
    RUN(malloc_family);
    RUN(mark);
    RUN(spacing);
    RUN(bad_lines);
    RUN(op_names);
    RUN(reader_lines_and_offsets);
    RUN(reader_bad_line_number);
    RUN(reader_version_header);
    RUN(reader_nul_byte);
    RUN(long_line);
    return harness_report();
}
