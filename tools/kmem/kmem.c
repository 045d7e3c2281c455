/* SPDX-License-Identifier: MIT */
/*
 * kmem - the command: look inside kmem running on a machine of your choosing.
 *
 *   kmem demo [--mem SIZE] [--request SIZE]     the book's walkthrough (demo.c)
 *   kmem replay [options] TRACE                 replay a trace (replay.c)
 *   kmem draw [options]                         pictures of a scene (draw.c)
 *   kmem stat [options] -- PROGRAM [ARGS]       look inside a program (stat.c)
 *   kmem buddyinfo [--mem SIZE]                 /proc/buddyinfo of a new machine
 *
 * Each subcommand has its own --help. Uses the public interface only.
 */
#include <string.h>

#include "tool.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *what;
} commands[] = {
    {"demo", kmem_cmd_demo, "the book's buddy-system and slab example, step by step"},
    {"replay", kmem_cmd_replay, "replay an allocation trace; buddyinfo, slabinfo, fragmentation"},
    {"draw", kmem_cmd_draw, "pictures (SVG, HTML) of the book's scenes"},
    {"stat", kmem_cmd_stat, "buddyinfo and slabinfo of a program run on libkmem-malloc.so"},
    {"buddyinfo", kmem_cmd_buddyinfo, "/proc/buddyinfo of a new machine"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: kmem COMMAND [options]   (kmem COMMAND --help for its options)\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].what);
    fprintf(out, "SIZE arguments: bytes, or with K, M or G (256K, 64M, 1G).\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "kmem: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
