/* SPDX-License-Identifier: MIT */
/*
 * json.h - a tiny streaming JSON writer: values are written as they come,
 * so a document of any length needs no memory; the writer only remembers,
 * per open container, whether a comma is due. Objects and arrays nest up
 * to JSON_MAX_DEPTH. Output is indented two spaces a level; an array begun
 * flat keeps its elements on one line (for rows of numbers).
 *
 * Every value function takes key: the member's name inside an object, NULL
 * inside an array or at the top.
 */
#ifndef KMEM_TOOL_JSON_H
#define KMEM_TOOL_JSON_H

#include <stdbool.h>
#include <stdio.h>

enum { JSON_MAX_DEPTH = 16 };

struct json {
    FILE *f;
    int depth;
    bool has_items[JSON_MAX_DEPTH]; /* a member was written: the next needs a comma */
    bool flat[JSON_MAX_DEPTH];      /* this container stays on one line */
    char closer[JSON_MAX_DEPTH];    /* '}' or ']' */
};

void json_init(struct json *j, FILE *f);

void json_begin_object(struct json *j, const char *key);
void json_end_object(struct json *j);
void json_begin_array(struct json *j, const char *key);
void json_begin_flat_array(struct json *j, const char *key);
void json_end_array(struct json *j);

void json_string(struct json *j, const char *key, const char *value); /* NULL: null */
void json_uint(struct json *j, const char *key, unsigned long long value);
void json_int(struct json *j, const char *key, long long value);
void json_double(struct json *j, const char *key, double value); /* NaN, inf: null */
void json_bool(struct json *j, const char *key, bool value);
void json_null(struct json *j, const char *key);

/* End the document: close what is still open, then a newline. */
void json_finish(struct json *j);

#endif /* KMEM_TOOL_JSON_H */
