/* SPDX-License-Identifier: MIT */
/* svg.c - placeholder: being written (svg.h). */
#include "svg.h"
