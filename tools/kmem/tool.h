/* SPDX-License-Identifier: MIT */
/*
 * tool.h - what the kmem command's files share: the subcommands, size
 * parsing and printing, and fatal errors. The command uses kmem's public
 * interface only (it is a user of the library like any other).
 *
 * Files: kmem.c (dispatch), util.c (this header), snapshot.c (what the
 * allocator looks like now), frag.c (fragmentation measures), trace.c (the
 * trace format), replay.c and json.c (kmem replay), svg.c and html.c (pictures, kmem
 * draw), demo.c (kmem demo), stat.c (kmem stat).
 */
#ifndef KMEM_TOOL_H
#define KMEM_TOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <kmem/info.h>

/* The subcommands: argv[0] is the subcommand's name. Each returns the
 * process's exit status (0 ok, 1 failed, 2 bad usage). */
int kmem_cmd_demo(int argc, char **argv);
int kmem_cmd_buddyinfo(int argc, char **argv);
int kmem_cmd_replay(int argc, char **argv);
int kmem_cmd_draw(int argc, char **argv);
int kmem_cmd_stat(int argc, char **argv);

/* "256K", "64M", "1G", "4096", "21KB": bytes. false if text is no size. */
bool tool_parse_size(const char *text, size_t *out);

/* bytes as "256 KB", "1 MB", "3 bytes" (exact units only, as the book). */
void tool_print_size(FILE *f, unsigned long long bytes);
/* The same into buf. */
const char *tool_size_str(char *buf, size_t len, unsigned long long bytes);

/* A zone's name as it appears in file names: lower case, letters, digits,
 * '-' and '_' only ("DMA" -> "dma"). */
void tool_zone_file_name(char *buf, size_t len, const char *name);

/* text for XML or HTML (content or a quoted attribute): & < > " '
 * escaped, control characters and bytes that are not UTF-8 as '?'. */
void tool_xml_text(FILE *f, const char *text);

/* "free", "free, on a per-CPU list", "allocated", "reserved". */
const char *tool_block_state_name(enum kmem_block_state state);

/* Is f a terminal (for progress bars and colours)? */
bool tool_isatty(FILE *f);

#endif /* KMEM_TOOL_H */
