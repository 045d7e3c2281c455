/* SPDX-License-Identifier: MIT */
/* trace.c - placeholder: being written (the trace format, trace.h). */
#include "trace.h"
