/* SPDX-License-Identifier: MIT */
/* html.c - placeholder: being written (html.h). */
#include "html.h"
