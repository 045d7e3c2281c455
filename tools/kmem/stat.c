/* SPDX-License-Identifier: MIT */
/* stat.c - placeholder: being written (kmem stat). */
#include "tool.h"

int kmem_cmd_stat(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "kmem stat: not built yet\n");
    return 2;
}
