/* SPDX-License-Identifier: MIT */
/*
 * util.c - sizes in and out, for every subcommand (tool.h).
 */
#define _POSIX_C_SOURCE 200809L /* fileno, isatty */

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

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

bool tool_isatty(FILE *f)
{
    return isatty(fileno(f)) == 1;
}
