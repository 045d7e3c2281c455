/* SPDX-License-Identifier: MIT */
/*
 * list.h - circular doubly linked lists with a sentinel head (Linux's
 * list_head): O(1) insert and O(1) removal from the middle, which the buddy
 * system needs to take a free buddy off its list while coalescing.
 */
#ifndef KMEM_LIST_H
#define KMEM_LIST_H

#include <stdbool.h>

#include "compiler.h"

struct list_head {
    struct list_head *next;
    struct list_head *prev;
};

static inline void list_init(struct list_head *head)
{
    head->next = head;
    head->prev = head;
}

static inline bool list_empty(const struct list_head *head)
{
    return head->next == head;
}

static inline void list_insert_between(struct list_head *node, struct list_head *prev,
                                       struct list_head *next)
{
    node->next = next;
    node->prev = prev;
    prev->next = node;
    next->prev = node;
}

/* Insert at the front (LIFO: the most recently freed block is reused first,
 * while it is still warm in the cache). */
static inline void list_add(struct list_head *node, struct list_head *head)
{
    list_insert_between(node, head, head->next);
}

static inline void list_add_tail(struct list_head *node, struct list_head *head)
{
    list_insert_between(node, head->prev, head);
}

static inline void list_del(struct list_head *node)
{
    node->prev->next = node->next;
    node->next->prev = node->prev;
    node->next = node;
    node->prev = node;
}

#define list_entry(ptr, type, member)        container_of(ptr, type, member)
#define list_first_entry(head, type, member) list_entry((head)->next, type, member)
#define list_for_each(pos, head)             for ((pos) = (head)->next; (pos) != (head); (pos) = (pos)->next)

#endif /* KMEM_LIST_H */
