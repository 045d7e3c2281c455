/* SPDX-License-Identifier: MIT */
/* draw.c - placeholder: being written (kmem draw). */
#include "tool.h"

int kmem_cmd_draw(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "kmem draw: not built yet\n");
    return 2;
}
