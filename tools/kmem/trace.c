/* SPDX-License-Identifier: MIT */
/*
 * trace.c - reading the kmem trace format (trace.h, docs/TRACE.md).
 *
 * A line is an operation name (long or short), then its fields, separated
 * by spaces or tabs; '#' starts a comment. Each operation's fields are
 * described once, in the syntax table below, so that parsing, the error
 * messages and the usage they quote all come from one place. The parser
 * checks everything that can be checked without the allocator: field
 * counts, numbers, orders, alignments, overflow, token lengths. What needs
 * the replay's state (is this id live?) is replay.c's to check.
 */
#define _POSIX_C_SOURCE 200809L /* getline */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <kmem.h>

#include "tool.h"
#include "trace.h"

/* What a field holds, and so how it is checked. */
enum field {
    F_ID,     /* an id token */
    F_OLD,    /* realloc's old id (into id2) */
    F_NAME,   /* a cache name */
    F_SIZE,   /* bytes, with K/M/G */
    F_OBJ,    /* a cache's object size: 1 byte .. the largest block */
    F_ORDER,  /* 0 .. MAX_PAGE_ORDER */
    F_COUNT,  /* calloc's element count */
    F_ALIGN,  /* a power of two */
    F_CALIGN, /* a cache's alignment: 0 or a power of two up to a page */
};

enum { MAX_FIELDS = 3 };

struct op_syntax {
    const char *name;  /* long name */
    const char *alias; /* the short name the recorder writes */
    enum trace_op op;
    const char *usage; /* for messages: "ID ORDER" */
    unsigned char required;
    unsigned char optional;
    enum field fields[MAX_FIELDS];
};

static const struct op_syntax syntax[] = {
    {"alloc_pages", "pa", TR_ALLOC_PAGES, "ID ORDER", 2, 0, {F_ID, F_ORDER}},
    {"free_pages", "fp", TR_FREE_PAGES, "ID", 1, 0, {F_ID}},
    {"cache_create", "cc", TR_CACHE_CREATE, "NAME SIZE [ALIGN]", 2, 1, {F_NAME, F_OBJ, F_CALIGN}},
    {"cache_alloc", "ca", TR_CACHE_ALLOC, "ID NAME", 2, 0, {F_ID, F_NAME}},
    {"cache_free", "cf", TR_CACHE_FREE, "ID", 1, 0, {F_ID}},
    {"cache_destroy", "cd", TR_CACHE_DESTROY, "NAME", 1, 0, {F_NAME}},
    {"kmalloc", "km", TR_KMALLOC, "ID SIZE", 2, 0, {F_ID, F_SIZE}},
    {"kfree", "kf", TR_KFREE, "ID", 1, 0, {F_ID}},
    {"vmalloc", "vm", TR_VMALLOC, "ID SIZE", 2, 0, {F_ID, F_SIZE}},
    {"vfree", "vf", TR_VFREE, "ID", 1, 0, {F_ID}},
    {"malloc", "m", TR_MALLOC, "ID SIZE", 2, 0, {F_ID, F_SIZE}},
    {"free", "f", TR_FREE, "ID", 1, 0, {F_ID}},
    {"calloc", "c", TR_CALLOC, "ID N SIZE", 3, 0, {F_ID, F_COUNT, F_SIZE}},
    {"realloc", "r", TR_REALLOC, "OLD NEW SIZE", 3, 0, {F_OLD, F_ID, F_SIZE}},
    {"memalign", "a", TR_MEMALIGN, "ID ALIGN SIZE", 3, 0, {F_ID, F_ALIGN, F_SIZE}},
    {"mark", NULL, TR_MARK, "LABEL...", 0, 0, {F_ID}},
};

#define NR_SYNTAX (sizeof syntax / sizeof syntax[0])

/* Tokens quoted in messages are cut here, so that a line of garbage gives
 * a readable message. */
enum { QUOTE_MAX = 32, MAX_TOKENS = 1 + MAX_FIELDS + 1 };

struct token {
    const char *s;
    size_t len;
};

__attribute__((format(printf, 3, 4))) static bool fail(char *err, size_t len, const char *fmt, ...)
{
    if (len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, len, fmt, ap);
        va_end(ap);
    }
    return false;
}

/* A token as a C string for messages, shortened with "..." if long. */
static const char *quote(char *buf, size_t len, struct token t)
{
    size_t n = t.len < QUOTE_MAX ? t.len : QUOTE_MAX;
    snprintf(buf, len, "%.*s%s", (int)n, t.s, t.len > n ? "..." : "");
    return buf;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* The line up to its comment, as at most MAX_TOKENS tokens (one more than
 * any operation takes, so that an extra field is seen). Returns how many
 * there are; *rest is where the text after the first token starts (for
 * mark's label), *end where the line's text ends. */
static size_t tokenize(const char *line, struct token *tok, const char **rest, const char **end)
{
    const char *stop = line + strcspn(line, "#");
    size_t n = 0;
    const char *p = line;
    *rest = stop;
    *end = stop;
    while (n < MAX_TOKENS) {
        while (p < stop && is_blank(*p))
            p++;
        if (p == stop)
            break;
        const char *start = p;
        while (p < stop && !is_blank(*p))
            p++;
        tok[n].s = start;
        tok[n].len = (size_t)(p - start);
        if (n++ == 0)
            *rest = p;
    }
    return n;
}

static const struct op_syntax *syntax_find(struct token t)
{
    for (size_t i = 0; i < NR_SYNTAX; i++) {
        const struct op_syntax *s = &syntax[i];
        if ((strlen(s->name) == t.len && !memcmp(s->name, t.s, t.len)) ||
            (s->alias && strlen(s->alias) == t.len && !memcmp(s->alias, t.s, t.len)))
            return s;
    }
    return NULL;
}

/* The token as a NUL-terminated string of at most max - 1 characters. */
static bool copy_token(char *dst, size_t max, struct token t, const char *what, char *err,
                       size_t len)
{
    char q[QUOTE_MAX + 4];
    if (t.len >= max)
        return fail(err, len, "%s '%s' is longer than %zu characters", what, quote(q, sizeof q, t),
                    max - 1);
    memcpy(dst, t.s, t.len);
    dst[t.len] = '\0';
    return true;
}

/* A plain decimal number (orders and counts take no suffix). */
static bool parse_decimal(const char *s, unsigned long long *out)
{
    if (*s < '0' || *s > '9')
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

static bool parse_bytes(const char *s, unsigned long long *out)
{
    size_t v;
    if (!tool_parse_size(s, &v))
        return false;
    *out = v;
    return true;
}

static bool is_power_of_2(unsigned long long v)
{
    return v && !(v & (v - 1));
}

/* Check one numeric field and store it where its kind belongs. */
static bool parse_number(enum field f, const char *s, struct trace_rec *rec,
                         unsigned long long *count, char *err, size_t len)
{
    unsigned long long v;
    switch (f) {
    case F_SIZE:
        if (!parse_bytes(s, &v))
            return fail(err, len, "size '%s' is not a number (bytes, or with K, M or G)", s);
        rec->size = v;
        return true;
    case F_OBJ:
        if (!parse_bytes(s, &v))
            return fail(err, len, "size '%s' is not a number (bytes, or with K, M or G)", s);
        if (v == 0 || v > (PAGE_SIZE << MAX_PAGE_ORDER))
            return fail(err, len, "object size %s is not 1 byte .. %lu bytes (the largest block)",
                        s, PAGE_SIZE << MAX_PAGE_ORDER);
        rec->size = v;
        return true;
    case F_ORDER:
        if (!parse_decimal(s, &v))
            return fail(err, len, "order '%s' is not a number", s);
        if (v > MAX_PAGE_ORDER)
            return fail(err, len, "order %s is larger than MAX_PAGE_ORDER (%d)", s, MAX_PAGE_ORDER);
        rec->n = v;
        return true;
    case F_COUNT:
        if (!parse_decimal(s, &v))
            return fail(err, len, "count '%s' is not a number", s);
        *count = v;
        return true;
    case F_ALIGN:
        if (!parse_bytes(s, &v))
            return fail(err, len, "alignment '%s' is not a number", s);
        if (!is_power_of_2(v))
            return fail(err, len, "alignment %s is not a power of two", s);
        rec->n = v;
        return true;
    case F_CALIGN:
        if (!parse_bytes(s, &v))
            return fail(err, len, "alignment '%s' is not a number", s);
        if (v && !is_power_of_2(v))
            return fail(err, len, "alignment %s is not a power of two", s);
        if (v > PAGE_SIZE)
            return fail(err, len, "cache alignment %s is larger than a page (%lu)", s, PAGE_SIZE);
        rec->n = v;
        return true;
    default:
        return fail(err, len, "internal error: field %d is no number", (int)f);
    }
}

static bool parse_field(enum field f, struct token t, struct trace_rec *rec,
                        unsigned long long *count, char *err, size_t len)
{
    char num[TRACE_TOKEN_MAX];
    switch (f) {
    case F_ID:
        return copy_token(rec->id, sizeof rec->id, t, "id", err, len);
    case F_OLD:
        return copy_token(rec->id2, sizeof rec->id2, t, "id", err, len);
    case F_NAME:
        return copy_token(rec->name, TRACE_NAME_MAX, t, "cache name", err, len);
    default:
        /* Numbers longer than a token are no numbers anyway. */
        if (!copy_token(num, sizeof num, t, "number", err, len))
            return false;
        return parse_number(f, num, rec, count, err, len);
    }
}

/* mark's label: the rest of the line, trimmed, cut to fit. */
static void parse_label(const char *rest, const char *end, struct trace_rec *rec)
{
    while (rest < end && is_blank(*rest))
        rest++;
    while (end > rest && is_blank(end[-1]))
        end--;
    size_t n = (size_t)(end - rest);
    if (n >= sizeof rec->name)
        n = sizeof rec->name - 1;
    memcpy(rec->name, rest, n);
    rec->name[n] = '\0';
}

static bool parse_fields(const struct op_syntax *s, const struct token *tok, size_t ntok,
                         struct trace_rec *rec, char *err, size_t len)
{
    char q[QUOTE_MAX + 4];
    size_t nfields = ntok - 1;
    if (nfields < s->required)
        return fail(err, len, "%s takes %s: %s", s->name, s->usage,
                    nfields ? "a field is missing" : "the fields are missing");
    if (nfields > (size_t)s->required + s->optional)
        return fail(err, len, "%s takes %s: extra field '%s'", s->name, s->usage,
                    quote(q, sizeof q, tok[1 + s->required + s->optional]));
    unsigned long long count = 0;
    for (size_t i = 0; i < nfields; i++)
        if (!parse_field(s->fields[i], tok[1 + i], rec, &count, err, len))
            return false;
    if (s->op == TR_CALLOC) {
        unsigned long long bytes;
        if (__builtin_mul_overflow(count, rec->size, &bytes) || bytes > (size_t)-1)
            return fail(err, len, "calloc of %llu * %llu bytes overflows", count, rec->size);
        rec->n = count;
        rec->size = bytes;
    }
    return true;
}

bool trace_parse_line(const char *line, struct trace_rec *rec, char *err, size_t len)
{
    struct token tok[MAX_TOKENS];
    const char *rest, *end;
    char q[QUOTE_MAX + 4];
    memset(rec, 0, sizeof *rec);
    if (len)
        err[0] = '\0';
    size_t ntok = tokenize(line, tok, &rest, &end);
    if (ntok == 0) {
        rec->op = TR_NONE;
        return true;
    }
    const struct op_syntax *s = syntax_find(tok[0]);
    if (!s)
        return fail(err, len, "unknown operation '%s'", quote(q, sizeof q, tok[0]));
    rec->op = s->op;
    if (s->op == TR_MARK) {
        parse_label(rest, end, rec);
        return true;
    }
    if (!parse_fields(s, tok, ntok, rec, err, len)) {
        rec->op = TR_NONE;
        return false;
    }
    return true;
}

/* The optional first line "# kmem trace VERSION ...": a trace of another
 * version is refused rather than misread. */
static bool check_header(const char *line, char *err, size_t len)
{
    static const char magic[] = "# kmem trace ";
    if (strncmp(line, magic, sizeof magic - 1))
        return true;
    const char *v = line + sizeof magic - 1;
    char *end;
    unsigned long version = strtoul(v, &end, 10);
    /* The recorder writes "# kmem trace 1: PROGRAM (pid N)". */
    if (end == v || isalnum((unsigned char)*end) || *end == '.')
        return fail(err, len, "the header's version '%.*s' is not a number",
                    (int)strcspn(v, " \t\r\n"), v);
    if (version != TRACE_VERSION)
        return fail(err, len, "trace format version %lu is not supported (this kmem reads %d)",
                    version, TRACE_VERSION);
    return true;
}

int trace_next(struct trace_reader *r, struct trace_rec *rec, char *err, size_t len)
{
    for (;;) {
        errno = 0;
        ssize_t n = getline(&r->buf, &r->cap, r->f);
        if (n < 0) {
            if (ferror(r->f)) {
                fail(err, len, "read error: %s", strerror(errno ? errno : EIO));
                return -1;
            }
            return 0;
        }
        r->line_no++;
        r->offset += (unsigned long long)n;
        /* A NUL would end the line early and silently: a binary file. */
        if (strlen(r->buf) != (size_t)n) {
            fail(err, len, "the line holds a NUL byte (not a text file?)");
            return -1;
        }
        if (r->line_no == 1 && !check_header(r->buf, err, len))
            return -1;
        if (!trace_parse_line(r->buf, rec, err, len))
            return -1;
        if (rec->op != TR_NONE)
            return 1;
    }
}

void trace_reader_close(struct trace_reader *r)
{
    free(r->buf);
    r->buf = NULL;
    r->cap = 0;
}

const char *trace_op_name(enum trace_op op)
{
    for (size_t i = 0; i < NR_SYNTAX; i++)
        if (syntax[i].op == op)
            return syntax[i].name;
    return "";
}

bool trace_id_is_null(const char *id)
{
    return id[0] == '-' && id[1] == '\0';
}
