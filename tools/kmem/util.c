/* SPDX-License-Identifier: MIT */
/*
 * util.c - sizes in and out, for every subcommand (tool.h).
 */
#define _POSIX_C_SOURCE 200809L /* fileno, isatty */

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include <kmem.h>

#include "tool.h"

bool tool_parse_size(const char *text, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || end == text || *text == '-')
        return false;
    unsigned int shift = 0;
    switch (*end) {
    case 'k':
    case 'K':
        shift = 10;
        end++;
        break;
    case 'm':
    case 'M':
        shift = 20;
        end++;
        break;
    case 'g':
    case 'G':
        shift = 30;
        end++;
        break;
    default:
        break;
    }
    if (*end == 'B' || *end == 'b')
        end++;
    if (*end || (shift && v > (~0ULL >> shift)) || v > (size_t)-1 >> shift)
        return false;
    *out = (size_t)(v << shift);
    return true;
}

const char *tool_size_str(char *buf, size_t len, unsigned long long bytes)
{
    if (bytes >= (1ULL << 30) && bytes % (1ULL << 30) == 0)
        snprintf(buf, len, "%llu GB", bytes >> 30);
    else if (bytes >= (1ULL << 20) && bytes % (1ULL << 20) == 0)
        snprintf(buf, len, "%llu MB", bytes >> 20);
    else if (bytes >= 1024 && bytes % 1024 == 0)
        snprintf(buf, len, "%llu KB", bytes >> 10);
    else
        snprintf(buf, len, "%llu bytes", bytes);
    return buf;
}

void tool_print_size(FILE *f, unsigned long long bytes)
{
    char buf[32];
    fputs(tool_size_str(buf, sizeof buf, bytes), f);
}

void tool_zone_file_name(char *buf, size_t len, const char *name)
{
    size_t i = 0;
    for (; name[i] && i + 1 < len; i++) {
        char c = name[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
        buf[i] = ok ? c : '_';
    }
    if (len)
        buf[i] = '\0';
}

/* The length of the valid UTF-8 sequence at s, or 0 if it is not one
 * (overlong forms, surrogates and code points past U+10FFFF are not). */
static size_t utf8_len(const unsigned char *s)
{
    size_t n = s[0] < 0x80   ? 1
               : s[0] < 0xc2 ? 0
               : s[0] < 0xe0 ? 2
               : s[0] < 0xf0 ? 3
               : s[0] < 0xf5 ? 4
                             : 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0) ||
        (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))
        return 0;
    return n;
}

/* (tool.h) The five special characters escaped, so the text is valid in
 * XML and HTML content and quoted attributes; control characters and bytes
 * that are not UTF-8 (labels come from trace files) as '?'. */
void tool_xml_text(FILE *f, const char *text)
{
    const unsigned char *s = (const unsigned char *)text;
    while (*s) {
        size_t n = utf8_len(s);
        if (n == 0 || (*s < 0x20 && *s != '\t' && *s != '\n')) {
            fputc('?', f);
            s += n ? n : 1;
            continue;
        }
        switch (*s) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&#39;", f);
            break;
        default:
            fwrite(s, 1, n, f);
            break;
        }
        s += n;
    }
}

const char *tool_block_state_name(enum kmem_block_state state)
{
    switch (state) {
    case KMEM_BLOCK_FREE:
        return "free";
    case KMEM_BLOCK_PCP:
        return "free, on a per-CPU list";
    case KMEM_BLOCK_ALLOCATED:
        return "allocated";
    case KMEM_BLOCK_RESERVED:
        break;
    }
    return "reserved";
}

bool tool_isatty(FILE *f)
{
    return isatty(fileno(f)) == 1;
}
