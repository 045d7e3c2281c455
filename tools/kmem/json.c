/* SPDX-License-Identifier: MIT */
/* json.c - placeholder: being written (JSON output of kmem replay). */
#include "tool.h"
