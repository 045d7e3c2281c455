/* SPDX-License-Identifier: MIT */
/*
 * json.c - the tiny JSON writer of json.h, for kmem replay --json.
 *
 * Strings come from traces (labels, cache names) and may hold anything, so
 * they are escaped fully: quotes, backslashes and control characters, and
 * bytes that are not valid UTF-8 become U+FFFD, so that the document is
 * always valid JSON whatever the trace held.
 */
#include <math.h>
#include <string.h>

#include "json.h"

void json_init(struct json *j, FILE *f)
{
    memset(j, 0, sizeof *j);
    j->f = f;
}

static void newline_indent(struct json *j)
{
    fputc('\n', j->f);
    for (int i = 0; i < j->depth; i++)
        fputs("  ", j->f);
}

/* The length of the valid UTF-8 sequence at s (1..4), or 0 if invalid.
 * Overlong forms, surrogates and values beyond U+10FFFF are invalid. */
static size_t utf8_sequence(const unsigned char *s)
{
    unsigned char c = s[0];
    size_t n;
    unsigned long cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

static void write_string(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    fputc('"', f);
    while (*p) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            fputc('\\', f);
            fputc(c, f);
            p++;
        } else if (c == '\n') {
            fputs("\\n", f);
            p++;
        } else if (c == '\t') {
            fputs("\\t", f);
            p++;
        } else if (c < 0x20 || c == 0x7f) {
            fprintf(f, "\\u%04x", c);
            p++;
        } else {
            size_t n = utf8_sequence(p);
            if (n == 0) {
                fputs("\\ufffd", f);
                n = 1;
            } else {
                fwrite(p, 1, n, f);
            }
            p += n;
        }
    }
    fputc('"', f);
}

/* The comma, line break and key that go before every value. */
static void value_prefix(struct json *j, const char *key)
{
    if (j->depth > 0) {
        if (j->has_items[j->depth])
            fputc(',', j->f);
        if (j->flat[j->depth]) {
            if (j->has_items[j->depth])
                fputc(' ', j->f);
        } else {
            newline_indent(j);
        }
        j->has_items[j->depth] = true;
    }
    if (key) {
        write_string(j->f, key);
        fputs(": ", j->f);
    }
}

static void begin(struct json *j, const char *key, char open, bool flat)
{
    value_prefix(j, key);
    fputc(open, j->f);
    if (j->depth + 1 < JSON_MAX_DEPTH) {
        j->depth++;
        j->has_items[j->depth] = false;
        j->flat[j->depth] = flat || (j->depth > 1 && j->flat[j->depth - 1]);
        j->closer[j->depth] = open == '{' ? '}' : ']';
    }
}

static void end(struct json *j)
{
    char close = j->depth > 0 ? j->closer[j->depth] : '}';
    bool flat = j->flat[j->depth], items = j->has_items[j->depth];
    if (j->depth > 0)
        j->depth--;
    if (items && !flat)
        newline_indent(j);
    fputc(close, j->f);
}

void json_begin_object(struct json *j, const char *key)
{
    begin(j, key, '{', false);
}

void json_end_object(struct json *j)
{
    end(j);
}

void json_begin_array(struct json *j, const char *key)
{
    begin(j, key, '[', false);
}

void json_begin_flat_array(struct json *j, const char *key)
{
    begin(j, key, '[', true);
}

void json_end_array(struct json *j)
{
    end(j);
}

void json_string(struct json *j, const char *key, const char *value)
{
    value_prefix(j, key);
    if (value)
        write_string(j->f, value);
    else
        fputs("null", j->f);
}

void json_uint(struct json *j, const char *key, unsigned long long value)
{
    value_prefix(j, key);
    fprintf(j->f, "%llu", value);
}

void json_int(struct json *j, const char *key, long long value)
{
    value_prefix(j, key);
    fprintf(j->f, "%lld", value);
}

void json_double(struct json *j, const char *key, double value)
{
    value_prefix(j, key);
    if (isfinite(value))
        fprintf(j->f, "%.6g", value);
    else
        fputs("null", j->f);
}

void json_bool(struct json *j, const char *key, bool value)
{
    value_prefix(j, key);
    fputs(value ? "true" : "false", j->f);
}

void json_null(struct json *j, const char *key)
{
    value_prefix(j, key);
    fputs("null", j->f);
}

void json_finish(struct json *j)
{
    while (j->depth > 0)
        end(j);
    fputc('\n', j->f);
}
