/* Bounded top-k selection: a min-heap of at most k (id, score) entries whose
 * root is the worst entry kept so far. Pushing n candidates costs
 * O(n log k) and O(k) memory; tl_topk_sort() then orders the survivors best
 * first in O(k log k). Never a sort of all n candidates.
 *
 * Order ("better"): higher score first; equal scores -> lower id first, so
 * results are deterministic. NaN scores are rejected (never stored).
 *
 * Storage is supplied by the caller (stack array, arena or tl_malloc), so the
 * heap itself never allocates and cannot fail. Not thread-safe: one heap per
 * caller. */
#ifndef TL_CORE_TOPK_H
#define TL_CORE_TOPK_H

#include <stddef.h>
#include <stdint.h>

struct tl_topk_entry {
    uint32_t id;
    double score;
};

struct tl_topk {
    struct tl_topk_entry *e; /* caller-owned storage of k entries (borrowed) */
    size_t n;                /* entries in use, <= k */
    size_t k;                /* capacity; k == 0 accepts nothing */
};

/* Use `storage` (room for k entries, may be NULL when k == 0) as an empty heap. */
void tl_topk_init(struct tl_topk *h, struct tl_topk_entry *storage, size_t k);
/* 1 if a candidate with this score (and id) would be kept by tl_topk_push.
 * Cheap pre-check so callers can skip expensive work (filters) for losers. */
int tl_topk_accepts(const struct tl_topk *h, uint32_t id, double score);
/* Offer a candidate; returns 1 if it was kept (possibly evicting the worst). */
int tl_topk_push(struct tl_topk *h, uint32_t id, double score);
/* Worst kept score (the heap root); -INFINITY while the heap is not full. */
double tl_topk_threshold(const struct tl_topk *h);
/* Order the kept entries best first in place (h->e[0] is the best) and
 * return their count. The heap property is destroyed: call tl_topk_init
 * before pushing again. */
size_t tl_topk_sort(struct tl_topk *h);

/* The best k of cand[0..n) that reject(ctx, id) does not reject (reject
 * NULL: none is), best first, into out (room for k); returns how many (< k
 * only when fewer pass). reject, which may be dear (a catalog look-up), is
 * asked only of the best candidates: the top m by score (m = k, doubled
 * while fewer than k of them pass) are selected without it, then asked
 * best first. Every candidate outside the top m is worse than all inside,
 * so the first k that pass are the best k that pass; asking each candidate
 * a heap of k accepts instead means about k (1 + ln(n / k)) questions
 * where this asks about k plus the rejected. work: room for n entries. */
size_t tl_topk_best_passing(const struct tl_topk_entry *cand, size_t n, size_t k, int (*reject)(void *, uint32_t),
                            void *ctx, struct tl_topk_entry *work, struct tl_topk_entry *out);

#endif
