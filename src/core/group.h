/* Grouping records by key: an order of n records in which records with
 * equal keys are adjacent. Groups come in the order of their first record,
 * and the records of a group in their own order, so the result is the
 * stable sort of the records by "first appearance of their key".
 *
 * Used by the events import to apply a window of events profile by profile
 * (engine/import_events.c): each profile is then read from memory once per
 * window instead of once per event.
 *
 * Keys are given by a 64-bit hash per record and an equality callback that
 * is asked only about records whose hashes are equal. Open addressing with
 * linear probing over a power-of-two table of at least 2n slots (load at
 * most 1/2); O(n) expected time. The memory is kept between calls (a
 * window after another reuses it). Not thread-safe: one per caller. */
#ifndef TL_CORE_GROUP_H
#define TL_CORE_GROUP_H

#include <stddef.h>
#include <stdint.h>

#include "tailor/rc.h"

struct tl_group {
    /* results of the last tl_group_by_key */
    uint32_t *order;  /* n record indexes, group after group */
    uint32_t *starts; /* n_groups + 1: group g is order[starts[g] .. starts[g + 1]) */
    size_t n_groups;
    /* work memory */
    uint32_t *slots; /* table of group + 1 (0 = empty) */
    uint64_t *gh;    /* hash of each group */
    uint32_t *head, *tail, *next;
    size_t cap_n, cap_slots;
};

void tl_group_init(struct tl_group *g);
void tl_group_free(struct tl_group *g);

/* Equal keys of records a and b (called only when their hashes are equal). */
typedef int (*tl_group_same_fn)(const void *ctx, size_t a, size_t b);

/* Group records 0..n-1 with hashes hash[0..n) (n < 2^31). TL_OK with
 * g->order, g->starts and g->n_groups set, or TL_ENOMEM (g keeps its earlier
 * memory and no result). */
enum tl_rc tl_group_by_key(struct tl_group *g, const uint64_t *hash, size_t n, tl_group_same_fn same, const void *ctx);

#endif
