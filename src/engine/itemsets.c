/* Growing item sets for the co-occurrence model (see itemsets.h). A set is
 * one allocation [count, item0, item1, ...] grown by doubling up to
 * TL_COOC_BASKET_MAX items; the model ignores items past that bound, so
 * the set does too. */
#include "engine/itemsets.h"

#include <string.h>

#include "core/alloc.h"

void tl_itemsets_init(struct tl_itemsets *s)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    tl_u64map_init(&s->index);
}

void tl_itemsets_free(struct tl_itemsets *s)
{
    for (size_t i = 0; i < s->n; i++) tl_free(s->items[i]);
    tl_free(s->items);
    tl_u64map_free(&s->index);
    pthread_mutex_destroy(&s->mu);
}

static uint32_t *set_new(void)
{
    uint32_t *v = tl_malloc(5 * sizeof *v); /* count + 4 items */
    if (v) v[0] = 0;
    return v;
}

enum tl_rc tl_itemsets_grow(struct tl_itemsets *s, uint64_t key, uint32_t item, struct tl_cooc *m, enum tl_cooc_rel rel)
{
    enum tl_rc rc = TL_OK;
    pthread_mutex_lock(&s->mu);
    uint64_t slot;
    if (!tl_u64map_get(&s->index, key, &slot)) {
        if (s->n == TL_ITEMSETS_MAX) {
            rc = TL_ETOOBIG;
            goto out;
        }
        if (s->n == s->cap) {
            size_t nc = s->cap ? s->cap * 2 : 256;
            uint32_t **ni = tl_realloc(s->items, nc * sizeof *ni);
            if (!ni) {
                rc = TL_ENOMEM;
                goto out;
            }
            s->items = ni;
            s->cap = nc;
        }
        uint32_t *v = set_new();
        if (!v || (rc = tl_u64map_put(&s->index, key, s->n + 1)) != TL_OK) {
            tl_free(v);
            rc = rc ? rc : TL_ENOMEM;
            goto out;
        }
        s->items[s->n] = v;
        slot = ++s->n;
    }
    uint32_t *v = s->items[slot - 1];
    uint32_t n = v[0];
    for (uint32_t i = 0; i < n; i++)
        if (v[1 + i] == item) goto out; /* already in the set */
    if (n == TL_COOC_BASKET_MAX) goto out;
    rc = tl_cooc_add_to_set(m, rel, v + 1, n, item);
    if (rc) goto out;
    /* capacity is the next power of two >= n + 1 above 4 */
    uint32_t cap = 4;
    while (cap < n) cap *= 2;
    if (n == cap) {
        uint32_t *nv = tl_realloc(v, (1 + (size_t)cap * 2) * sizeof *nv);
        if (!nv) {
            rc = TL_ENOMEM;
            goto out;
        }
        v = s->items[slot - 1] = nv;
    }
    v[1 + n] = item;
    v[0] = n + 1;
out:
    pthread_mutex_unlock(&s->mu);
    return rc;
}

size_t tl_itemsets_memory(struct tl_itemsets *s)
{
    pthread_mutex_lock(&s->mu);
    size_t total = s->cap * sizeof *s->items + s->index.cap * 16;
    for (size_t i = 0; i < s->n; i++) {
        uint32_t cap = 4;
        while (cap < s->items[i][0]) cap *= 2;
        total += (1 + (size_t)cap) * sizeof(uint32_t);
    }
    pthread_mutex_unlock(&s->mu);
    return total;
}

size_t tl_itemsets_get(struct tl_itemsets *s, uint64_t key, uint32_t *out, size_t max)
{
    size_t n = 0;
    pthread_mutex_lock(&s->mu);
    uint64_t slot;
    if (tl_u64map_get(&s->index, key, &slot)) {
        const uint32_t *v = s->items[slot - 1];
        n = v[0] < max ? v[0] : max;
        memcpy(out, v + 1, n * sizeof *out);
    }
    pthread_mutex_unlock(&s->mu);
    return n;
}
