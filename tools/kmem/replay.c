/* SPDX-License-Identifier: MIT */
/* replay.c - placeholder: being written (kmem replay). */
#include "tool.h"

int kmem_cmd_replay(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "kmem replay: not built yet\n");
    return 2;
}
