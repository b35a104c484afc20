/* Item-to-item co-occurrence of one shop, updated incrementally, for
 * "frequently bought together" (same order), "customers who bought this also
 * bought" (same customer) and "also viewed" (same session).
 *
 * Items are dense uint32 indexes from the engine's catalog
 * (0 .. TL_COOC_ITEMS_MAX-1). One struct tl_cooc holds three independent
 * relations (enum tl_cooc_rel). Per relation it counts
 *   N     number of sets (orders / customers / sessions) seen,
 *   n_i   number of sets containing item i,
 *   n_ij  number of sets containing both i and j (unordered pair).
 * A set is capped at its first TL_COOC_BASKET_MAX distinct items (see
 * cooc.c "BASKET CAP").
 *
 * Similarities (formulas also in cooc.c), for anchor i and candidate j:
 *   cosine    n_ij / sqrt(n_i * n_j)
 *   jaccard   n_ij / (n_i + n_j - n_ij)
 *   lift      N * n_ij / (n_i * n_j)
 *   cond      n_ij / (n_i * n_j^alpha)   = P(j|i) / n_j^alpha, alpha 0.5
 * Pairs with n_ij < min_support are ignored by queries.
 *
 * Thread safety: every function except tl_cooc_new/tl_cooc_free may be
 * called from any number of threads at once. One writer-preferring pthread
 * rwlock per relation: updates are exclusive, queries shared. */
#ifndef TL_MODEL_COOC_H
#define TL_MODEL_COOC_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "tailor/rc.h"

struct tl_snap_reader; /* model/model.h */
struct tl_model_ops;   /* model/model.h */

#define TL_COOC_ITEMS_MAX (1u << 24) /* item indexes must be below this */
#define TL_COOC_BASKET_MAX 100       /* distinct items of one set that count */
#define TL_COOC_K_MAX 10000          /* largest k a query accepts */
#define TL_COOC_ANCHORS_MAX 100      /* distinct anchors of tl_cooc_top_multi */
#define TL_COOC_ALPHA_MAX 4.0        /* largest popularity damping exponent */

enum tl_cooc_rel {
    TL_COOC_BOUGHT_TOGETHER = 0, /* same order */
    TL_COOC_ALSO_BOUGHT = 1,     /* same customer (over all their orders) */
    TL_COOC_ALSO_VIEWED = 2      /* same session */
};
#define TL_COOC_REL_COUNT 3

enum tl_cooc_sim {
    TL_COOC_COSINE = 0,  /* n_ij / sqrt(n_i n_j) */
    TL_COOC_JACCARD = 1, /* n_ij / (n_i + n_j - n_ij) */
    TL_COOC_LIFT = 2,    /* N n_ij / (n_i n_j) */
    TL_COOC_COND = 3     /* n_ij / (n_i n_j^alpha) */
};

struct tl_cooc_params {
    double alpha; /* 0.5: popularity damping of TL_COOC_COND, 0..TL_COOC_ALPHA_MAX */
};

struct tl_cooc_hit {
    uint32_t item;    /* recommended item */
    double score;     /* similarity (sum over anchors for tl_cooc_top_multi) */
    uint32_t anchor;  /* anchor that contributed most (ties: lowest index) */
    uint32_t support; /* n_ij of (anchor, item) */
};

struct tl_cooc;

void tl_cooc_params_defaults(struct tl_cooc_params *p);
/* TL_EINVAL with the field name when a parameter is out of range. */
enum tl_rc tl_cooc_params_check(const struct tl_cooc_params *p, struct tl_err *err);

/* New empty model; p NULL = defaults. NULL on invalid params or out of
 * memory. Caller frees with tl_cooc_free (NULL allowed). */
struct tl_cooc *tl_cooc_new(const struct tl_cooc_params *p);
void tl_cooc_free(struct tl_cooc *m);

/* Count one whole set (an order, a finished session). Duplicates inside
 * `items` count once; only the first TL_COOC_BASKET_MAX distinct items (in
 * the given order) count. An empty set (n == 0) changes nothing. Adds
 * N += 1, n_i += 1 per kept item, n_ij += 1 per kept pair (k(k-1)/2).
 * Errors, with nothing applied: TL_EINVAL (NULL model, bad rel, items NULL
 * with n > 0), TL_ETOOBIG (an item >= TL_COOC_ITEMS_MAX), TL_ENOMEM. */
enum tl_rc tl_cooc_add_basket(struct tl_cooc *m, enum tl_cooc_rel rel, const uint32_t *items, size_t n);

/* Grow an open set (a session gains a view, a customer buys a new item).
 * `existing` is the set before the addition, in the order its items joined
 * (duplicates ignored). If new_item is already in it, or the set already
 * holds TL_COOC_BASKET_MAX distinct items, nothing changes. Otherwise
 * new_item pairs once with each existing distinct item, n_new += 1, and
 * N += 1 if the set was empty. Adding a set's items one at a time therefore
 * gives exactly what tl_cooc_add_basket of the final set gives. Errors as
 * tl_cooc_add_basket (existing NULL with n_existing > 0 is TL_EINVAL). */
enum tl_rc tl_cooc_add_to_set(struct tl_cooc *m, enum tl_cooc_rel rel, const uint32_t *existing, size_t n_existing,
                              uint32_t new_item);

/* Up to k neighbours of `anchor`, best first (ties: lower item index first),
 * with n_ij >= min_support (0 is treated as 1), skipping items for which
 * skip(ctx, item) != 0 (skip may be NULL; it is called under the relation's
 * read lock and must not call back into this model). `out` has room for k
 * hits; *n receives the count. An anchor never seen gives *n = 0 and TL_OK.
 * Cost O(degree(anchor) log k). TL_EINVAL: NULL model/n, out NULL with
 * k > 0, bad rel or sim, k > TL_COOC_K_MAX; TL_ETOOBIG: anchor >=
 * TL_COOC_ITEMS_MAX. */
enum tl_rc tl_cooc_top(struct tl_cooc *m, enum tl_cooc_rel rel, uint32_t anchor, enum tl_cooc_sim sim, size_t k,
                       uint32_t min_support, int (*skip)(void *ctx, uint32_t item), void *ctx, struct tl_cooc_hit *out,
                       size_t *n);

/* Cart complements: score(j) = sum over distinct anchors a of sim(a, j),
 * counting only pairs with n_aj >= min_support; anchors themselves are never
 * returned; each hit names the anchor with the largest term and that pair's
 * support. Duplicated anchors count once. Extra errors: anchors NULL with
 * n_anchors > 0 (TL_EINVAL), more than TL_COOC_ANCHORS_MAX distinct anchors
 * (TL_ETOOBIG), TL_ENOMEM for the per-query accumulator. */
enum tl_rc tl_cooc_top_multi(struct tl_cooc *m, enum tl_cooc_rel rel, const uint32_t *anchors, size_t n_anchors,
                             enum tl_cooc_sim sim, size_t k, uint32_t min_support,
                             int (*skip)(void *ctx, uint32_t item), void *ctx, struct tl_cooc_hit *out, size_t *n);

/* Counters (0 for a NULL model, bad rel or unknown items). */
uint64_t tl_cooc_sets(struct tl_cooc *m, enum tl_cooc_rel rel);                               /* N */
uint32_t tl_cooc_item_count(struct tl_cooc *m, enum tl_cooc_rel rel, uint32_t i);             /* n_i */
uint32_t tl_cooc_pair_count(struct tl_cooc *m, enum tl_cooc_rel rel, uint32_t i, uint32_t j); /* n_ij, 0 if i == j */
uint64_t tl_cooc_pairs(struct tl_cooc *m, enum tl_cooc_rel rel); /* distinct unordered pairs */

/* Bytes held by the model (all relations). */
size_t tl_cooc_memory(const struct tl_cooc *m);

/* Snapshot of one relation, appended to out (format, little-endian):
 *   u64 N, u32 n_nodes (items 0..n_nodes-1 have a node), then per node:
 *   u32 n_i, u32 degree, degree x (u32 neighbour, u32 n_ij).
 * Each pair appears in both of its items' lists. TL_EINVAL, TL_ENOMEM. */
enum tl_rc tl_cooc_save_rel(struct tl_cooc *m, enum tl_cooc_rel rel, struct tl_buf *out);
/* Read what tl_cooc_save_rel wrote from data[0..len) into an empty
 * relation of m; *used receives the bytes read. TL_EPARSE (relation left
 * empty) when the bytes run out or break an invariant: n_nodes >
 * TL_COOC_ITEMS_MAX, n_i > N, a neighbour out of range, itself or listed
 * twice, n_ij = 0 or > n_i, or n_ij != n_ji. */
enum tl_rc tl_cooc_load_rel(struct tl_cooc *m, enum tl_cooc_rel rel, const void *data, size_t len, size_t *used,
                            struct tl_err *err);

/* The counts of one relation as a trained model, "cooc" in the registry
 * (parameters, candidates and snapshot format in cooc_model.c). */
extern const struct tl_model_ops tl_cooc_ops;

#endif
