/* Grouping records by key (group.h). */
#include "core/group.h"

#include <string.h>

#include "core/alloc.h"

void tl_group_init(struct tl_group *g) { memset(g, 0, sizeof *g); }

void tl_group_free(struct tl_group *g)
{
    tl_free(g->slots);
    tl_free(g->gh); /* the block of every per-record array (reserve) */
    tl_group_init(g);
}

/* Slots of the table for n records: a power of two >= 2n (load <= 1/2). */
static size_t table_slots(size_t n)
{
    size_t slots = 16;
    while (slots < 2 * n) slots *= 2;
    return slots;
}

/* Room for n records and their table. The per-record arrays share one
 * block: gh (8-byte entries) first, then the 4-byte ones. */
static enum tl_rc reserve(struct tl_group *g, size_t n)
{
    size_t slots = table_slots(n);
    if (slots > g->cap_slots) {
        uint32_t *s = tl_malloc(slots * sizeof *s);
        if (!s) return TL_ENOMEM;
        tl_free(g->slots);
        g->slots = s;
        g->cap_slots = slots;
    }
    if (n > g->cap_n || !g->gh) { /* starts has n + 1 entries, so even n = 0 needs the block */
        size_t cap = g->cap_n ? g->cap_n : 64;
        while (cap < n) cap *= 2;
        uint64_t *gh = tl_malloc(cap * sizeof *gh + (5 * cap + 1) * sizeof(uint32_t));
        if (!gh) return TL_ENOMEM;
        tl_free(g->gh);
        g->gh = gh;
        g->order = (uint32_t *)(void *)(gh + cap);
        g->head = g->order + cap;
        g->tail = g->head + cap;
        g->next = g->tail + cap;
        g->starts = g->next + cap; /* cap + 1 */
        g->cap_n = cap;
    }
    return TL_OK;
}

#define NONE UINT32_MAX /* end of a group's chain */

enum tl_rc tl_group_by_key(struct tl_group *g, const uint64_t *hash, size_t n, tl_group_same_fn same, const void *ctx)
{
    g->n_groups = 0;
    if (n >= (size_t)1 << 31) return TL_ENOMEM;
    enum tl_rc rc = reserve(g, n);
    if (rc) return rc;
    size_t slots = table_slots(n), mask = slots - 1;
    memset(g->slots, 0, slots * sizeof *g->slots);
    uint32_t ng = 0;
    /* Chains: head/tail of each group, next of each record, in record order. */
    for (size_t i = 0; i < n; i++) {
        uint64_t h = hash[i];
        size_t s = (size_t)(h >> 32 ^ h) & mask; /* the hash folded to 32 bits picks the first slot */
        uint32_t grp = NONE;
        for (;; s = (s + 1) & mask) {
            uint32_t v = g->slots[s];
            if (!v) break;
            if (g->gh[v - 1] == h && same(ctx, g->head[v - 1], i)) {
                grp = v - 1;
                break;
            }
        }
        g->next[i] = NONE;
        if (grp == NONE) {
            grp = ng++;
            g->slots[s] = grp + 1;
            g->gh[grp] = h;
            g->head[grp] = (uint32_t)i;
        } else {
            g->next[g->tail[grp]] = (uint32_t)i;
        }
        g->tail[grp] = (uint32_t)i;
    }
    size_t k = 0;
    for (uint32_t grp = 0; grp < ng; grp++) {
        g->starts[grp] = (uint32_t)k;
        for (uint32_t i = g->head[grp]; i != NONE; i = g->next[i]) g->order[k++] = i;
    }
    g->starts[ng] = (uint32_t)k;
    g->n_groups = ng;
    return TL_OK;
}
