/* Growing item sets keyed by a 64-bit hash (the customer's purchases, for
 * "also bought"): each set keeps its first TL_COOC_BASKET_MAX distinct item
 * indexes in the order they joined, which is all the co-occurrence model
 * counts of a set. Thread-safe (one mutex). */
#ifndef TL_ENGINE_ITEMSETS_H
#define TL_ENGINE_ITEMSETS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "core/map.h"
#include "model/cooc.h"

#define TL_ITEMSETS_MAX 50000000 /* sets per engine */

struct tl_itemsets {
    pthread_mutex_t mu;
    struct tl_u64map index; /* key -> slot + 1 */
    uint32_t **items;       /* slot -> [count, item...] */
    size_t n, cap;
};

void tl_itemsets_init(struct tl_itemsets *s);
void tl_itemsets_free(struct tl_itemsets *s);
/* Add item to the set of key and, when it is new to the set, count it in
 * relation rel of m against the set's earlier items. */
enum tl_rc tl_itemsets_grow(struct tl_itemsets *s, uint64_t key, uint32_t item, struct tl_cooc *m,
                            enum tl_cooc_rel rel);
/* Approximate bytes held. */
size_t tl_itemsets_memory(struct tl_itemsets *s);
/* Copy up to max items of key's set (in the order they joined) into out;
 * returns how many (0 for an unknown key). */
size_t tl_itemsets_get(struct tl_itemsets *s, uint64_t key, uint32_t *out, size_t max);

#endif
