/* Item-to-item co-occurrence counts and similarity queries (see cooc.h for
 * the API): "frequently bought together" (sets = orders), "customers who
 * bought this also bought" (sets = a customer's items over all orders) and
 * "also viewed" (sets = a session's viewed items).
 *
 * COUNTS (per relation)
 *   N     sets seen (uint64),
 *   n_i   sets containing item i (uint32, saturating at UINT32_MAX),
 *   n_ij  sets containing both i and j, i != j (uint32, saturating).
 *   Invariants: n_ij <= min(n_i, n_j) <= N; n_ij == n_ji; a pair is present
 *   in the structure iff n_ij >= 1.
 *
 * STORAGE: PER-ITEM ADJACENCY HASH TABLES
 *   Every item has a node { n_i, table } where table is a small
 *   open-addressing hash (linear probing, power-of-two capacity >= 4, load
 *   factor <= 3/4, slot = { neighbour uint32, n_ij uint32 }, neighbour
 *   UINT32_MAX = empty, hash = the low 32 bits of tl_hash_u64(neighbour), splitmix64). Each unordered
 *   pair is stored twice (in i's and in j's table) with the same count, so
 *   that table IS the adjacency list a query walks: neighbours of an anchor
 *   are read in O(capacity) = O(degree) without scanning other pairs, and an
 *   update finds a pair in O(1) expected. Measured on Online Retail
 *   (20,541 orders, 2.32M distinct bought-together pairs): 71 MB, i.e. 31 B
 *   per pair (2 x 8 B slots at ~0.52 average load). The alternative, a
 *   global (min,max) -> count tl_u64map (load <= 0.7: 4M slots x 16 B =
 *   67 MB) plus per-item neighbour vectors for queries (2 x 2.32M x 8 B =
 *   37 MB, more with vector slack), would need ~104 MB and two structures
 *   to keep in step (computed from the same counts, not built; see
 *   tests/unit/model/test_cooc.c online_retail and docs/recommendations.md). The node array grows by doubling up to the
 *   highest item index seen (24 B per item).
 *
 * BASKET CAP
 *   A set counts with its first TL_COOC_BASKET_MAX = 100 distinct items in
 *   the order given (for orders: line order; for open sets: the order items
 *   joined); later items are ignored entirely (no n_i, no pairs), which
 *   keeps n_ij <= n_i and bounds an update to 100*99/2 = 4,950 pair
 *   increments (Online Retail has an order of 1,114 lines, which would be
 *   ~620,000 pairs). tl_cooc_add_to_set ignores a new item once the set
 *   already holds 100 distinct items, so growing a set one item at a time
 *   equals counting the final set with tl_cooc_add_basket.
 *
 * UPDATE (all-or-nothing)
 *   Under the relation's write lock: (1) for each kept item, count the
 *   partners not yet in its table and grow the table to hold them (the only
 *   step that allocates; growing changes no count, so a failure leaves the
 *   counts untouched and returns TL_ENOMEM); (2) apply N += 1, n_i += 1,
 *   n_ij += 1 in both tables. Cost O(k^2) expected for k kept items.
 *
 * SIMILARITIES (anchor i, candidate j)
 *   cosine   s = n_ij / sqrt(n_i n_j)                 in (0, 1]
 *   jaccard  s = n_ij / (n_i + n_j - n_ij)            in (0, 1]
 *   lift     s = N n_ij / (n_i n_j)                   1 = independent
 *   cond     s = P(j|i) / n_j^alpha = n_ij / (n_i n_j^alpha), alpha = 0.5
 *            (alpha 0 = plain confidence P(j|i), which favours best sellers;
 *            alpha 1 = n_ij / (n_i n_j) = lift / N, which favours rare items).
 *   min_support: pairs with n_ij < min_support are ignored (0 acts as 1).
 *   Lift and jaccard of rare pairs are noisy (one shared order of two
 *   once-sold items gives lift N); callers should pass min_support >= 3 or
 *   so for lift.
 *
 * QUERIES
 *   Single anchor: walk the anchor's table, score each neighbour, keep the
 *   best k in a bounded heap (src/core/topk.h; tl_topk_accepts before the
 *   skip callback, so skip is only called for would-be winners):
 *   O(degree log k). Multi anchor (cart): accumulate sum_a s(a, j), the
 *   largest single term and its anchor in a per-query hash table sized from
 *   the anchors' degrees (<= TL_COOC_ANCHORS_MAX anchors), drop anchors, then
 *   the same bounded heap. Results are ordered by score, ties by lower item
 *   index (the topk order).
 *
 * CONCURRENCY
 *   One writer-preferring pthread rwlock per relation: updates exclusive,
 *   queries and counters shared. Relations never lock each other. */
#include "model/cooc.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/hash.h"
#include "core/topk.h"

#define EMPTY UINT32_MAX
#define TABLE_MIN 4u
#define TABLE_MAX (1u << 26) /* slots of one item's table: degree < TL_COOC_ITEMS_MAX needs <= 2^25 */
#define TOPK_STACK 256       /* heap entries on the stack before tl_malloc */

struct slot {
    uint32_t nbr;
    uint32_t cnt;
};

struct node {
    uint32_t n;    /* n_i */
    uint32_t used; /* neighbours in s */
    uint32_t cap;  /* slots in s: 0 or a power of two >= TABLE_MIN */
    struct slot *s;
};

struct rel {
    pthread_rwlock_t lock;
    uint64_t sets;  /* N */
    uint64_t pairs; /* distinct unordered pairs */
    struct node *nodes;
    uint32_t n_nodes; /* nodes[0..n_nodes) valid (zeroed when unseen) */
    uint32_t nodes_cap;
};

struct tl_cooc {
    struct tl_cooc_params p;
    struct rel rel[TL_COOC_REL_COUNT];
};

/* ---- params ---- */

void tl_cooc_params_defaults(struct tl_cooc_params *p)
{
    if (p) p->alpha = 0.5;
}

enum tl_rc tl_cooc_params_check(const struct tl_cooc_params *p, struct tl_err *err)
{
    if (!p) return tl_err_set(err, TL_EINVAL, NULL, "params must not be NULL");
    if (!isfinite(p->alpha) || p->alpha < 0 || p->alpha > TL_COOC_ALPHA_MAX)
        return tl_err_set(err, TL_EINVAL, "alpha", "alpha must be a number in 0..%g, got %g", TL_COOC_ALPHA_MAX,
                          p->alpha);
    return TL_OK;
}

/* ---- per-item tables ---- */

/* Slot holding nbr, or NULL. */
static const struct slot *tab_find(const struct node *nd, uint32_t nbr)
{
    if (nd->cap == 0) return NULL;
    uint32_t mask = nd->cap - 1;
    for (uint32_t i = (uint32_t)tl_hash_u64(nbr) & mask;; i = (i + 1) & mask) {
        const struct slot *s = &nd->s[i];
        if (s->nbr == nbr) return s;
        if (s->nbr == EMPTY) return NULL;
    }
}

/* Make room for `extra` more neighbours (load <= 3/4). Counts unchanged. */
static enum tl_rc tab_reserve(struct node *nd, uint32_t extra)
{
    uint64_t need = (uint64_t)nd->used + extra;
    if (need * 4 <= (uint64_t)nd->cap * 3) return TL_OK;
    uint64_t cap = nd->cap ? nd->cap : TABLE_MIN;
    while (need * 4 > cap * 3) cap *= 2;
    if (cap > TABLE_MAX) return TL_ETOOBIG;
    struct slot *s = tl_malloc((size_t)cap * sizeof *s);
    if (!s) return TL_ENOMEM;
    for (uint64_t i = 0; i < cap; i++) s[i] = (struct slot){EMPTY, 0};
    uint32_t mask = (uint32_t)cap - 1;
    for (uint32_t i = 0; i < nd->cap; i++) {
        if (nd->s[i].nbr == EMPTY) continue;
        uint32_t j = (uint32_t)tl_hash_u64(nd->s[i].nbr) & mask;
        while (s[j].nbr != EMPTY) j = (j + 1) & mask;
        s[j] = nd->s[i];
    }
    tl_free(nd->s);
    nd->s = s;
    nd->cap = (uint32_t)cap;
    return TL_OK;
}

/* n_ij += 1 in nd's table (room reserved); h = tl_hash_u64(nbr). Returns 1
 * if the pair is new. */
static int tab_inc(struct node *nd, uint32_t nbr, uint32_t h)
{
    uint32_t mask = nd->cap - 1;
    for (uint32_t i = h & mask;; i = (i + 1) & mask) {
        struct slot *s = &nd->s[i];
        if (s->nbr == nbr) {
            if (s->cnt < UINT32_MAX) s->cnt++;
            return 0;
        }
        if (s->nbr == EMPTY) {
            s->nbr = nbr;
            s->cnt = 1;
            nd->used++;
            return 1;
        }
    }
}

/* Nodes valid up to index max_item (write lock held). */
static enum tl_rc rel_ensure(struct rel *r, uint32_t max_item)
{
    if (max_item < r->n_nodes) return TL_OK;
    if (max_item >= r->nodes_cap) {
        uint64_t cap = r->nodes_cap ? r->nodes_cap : 64;
        while (cap <= max_item) cap *= 2;
        if (cap > TL_COOC_ITEMS_MAX) cap = TL_COOC_ITEMS_MAX;
        struct node *nn = tl_realloc(r->nodes, (size_t)cap * sizeof *nn);
        if (!nn) return TL_ENOMEM;
        r->nodes = nn;
        r->nodes_cap = (uint32_t)cap;
    }
    memset(r->nodes + r->n_nodes, 0, (size_t)(max_item + 1 - r->n_nodes) * sizeof *r->nodes);
    r->n_nodes = max_item + 1;
    return TL_OK;
}

static int valid_rel(enum tl_cooc_rel rel) { return (int)rel >= 0 && (int)rel < TL_COOC_REL_COUNT; }

/* First TL_COOC_BASKET_MAX distinct items of a[0..n) into kept; returns how
 * many. *found set to 1 if `probe` occurs anywhere in a (probe EMPTY = none).
 * TL_ETOOBIG via *rc if any item is out of range. */
static size_t dedupe(const uint32_t *a, size_t n, uint32_t *kept, uint32_t probe, int *found, enum tl_rc *rc)
{
    size_t k = 0;
    *rc = TL_OK;
    if (found) *found = 0;
    /* Up to SMALL items: compare with the kept ones. More: a 256-slot
     * open-addressing set of the kept items (at most TL_COOC_BASKET_MAX =
     * 100, load <= 0.4), so that a customer's set of 100 items is not
     * 100 x 100 / 2 comparisons each time it grows by one. */
    enum { SMALL = 16, SLOTS = 256 };
    _Static_assert(TL_COOC_BASKET_MAX * 2 <= SLOTS, "dedupe set too small for a basket");
    uint32_t seen[SLOTS];
    if (n > SMALL) memset(seen, 0xff, sizeof seen); /* EMPTY everywhere */
    for (size_t i = 0; i < n; i++) {
        if (a[i] >= TL_COOC_ITEMS_MAX) {
            *rc = TL_ETOOBIG;
            return 0;
        }
        if (found && a[i] == probe) *found = 1;
        if (k == TL_COOC_BASKET_MAX) continue;
        if (n <= SMALL) {
            size_t j = 0;
            while (j < k && kept[j] != a[i]) j++;
            if (j == k) kept[k++] = a[i];
            continue;
        }
        uint32_t h = (uint32_t)tl_hash_u64(a[i]) & (SLOTS - 1);
        while (seen[h] != EMPTY && seen[h] != a[i]) h = (h + 1) & (SLOTS - 1);
        if (seen[h] == EMPTY) {
            seen[h] = a[i];
            kept[k++] = a[i];
        }
    }
    return k;
}

/* Apply a set update under the write lock: every kept[x] in [0,k) gains
 * n_i += 1 when x >= first_new, and pairs (kept[x], kept[y]) for x < y with
 * y >= first_new gain n_ij += 1. first_new = 0 counts a whole basket;
 * first_new = k-1 adds one item to an open set. add_set: N += 1. */
static enum tl_rc rel_apply(struct rel *r, const uint32_t *kept, size_t k, size_t first_new, int add_set)
{
    uint32_t mx = 0;
    for (size_t x = 0; x < k; x++)
        if (kept[x] > mx) mx = kept[x];
    enum tl_rc rc = rel_ensure(r, mx);
    if (rc != TL_OK) return rc;
    /* (1) reserve. kept[x]'s partners in this update are every other item
     * when x >= first_new, else the new items only: at most
     * bound = k - 1 or k - first_new new neighbours. A table with room for
     * all of them (load <= 3/4 after) grows for none, so it is not probed;
     * only the others count their partners not yet present, one probe each
     * (a pair is in both tables or in neither). Tables thus grow exactly
     * when an exact count of every pair would make them grow, with no probe
     * for most of them: on Online Retail the probes were a third of
     * rebuilding the relations at start-up. */
    for (size_t x = 0; x < k; x++) {
        struct node *nd = &r->nodes[kept[x]];
        uint32_t bound = (uint32_t)(x >= first_new ? k - 1 : k - first_new);
        if (((uint64_t)nd->used + bound) * 4 <= (uint64_t)nd->cap * 3) continue;
        uint32_t extra = 0;
        for (size_t y = x >= first_new ? 0 : first_new; y < k; y++)
            if (y != x && !tab_find(nd, kept[y])) extra++;
        if (!extra) continue;
        rc = tab_reserve(nd, extra);
        if (rc != TL_OK) return rc;
    }
    /* (2) apply. Each kept item's hash is computed once, and the slots a
     * pair will touch PF pairs ahead are prefetched: the tables (71 MB on
     * Online Retail) are far larger than the caches, so nearly every
     * increment is a cache miss, and these overlap. */
    enum { PF = 8 };
    uint32_t hk[TL_COOC_BASKET_MAX];
    for (size_t x = 0; x < k; x++) hk[x] = (uint32_t)tl_hash_u64(kept[x]);
    if (add_set) r->sets++;
    for (size_t y = first_new; y < k; y++) {
        struct node *ny = &r->nodes[kept[y]];
        if (ny->n < UINT32_MAX) ny->n++;
        for (size_t x = 0; x < y; x++) {
            if (x + PF < y) {
                const struct node *nf = &r->nodes[kept[x + PF]];
                __builtin_prefetch(&nf->s[hk[y] & (nf->cap - 1)], 1);
                __builtin_prefetch(&ny->s[hk[x + PF] & (ny->cap - 1)], 1);
            }
            r->pairs += (uint64_t)tab_inc(&r->nodes[kept[x]], kept[y], hk[y]);
            tab_inc(ny, kept[x], hk[x]);
        }
    }
    return TL_OK;
}

/* ---- lifecycle ---- */

struct tl_cooc *tl_cooc_new(const struct tl_cooc_params *p)
{
    struct tl_cooc_params d;
    tl_cooc_params_defaults(&d);
    if (p) d = *p;
    if (tl_cooc_params_check(&d, NULL) != TL_OK) return NULL;
    struct tl_cooc *m = tl_calloc(1, sizeof *m);
    if (!m) return NULL;
    m->p = d;
    pthread_rwlockattr_t a;
    if (pthread_rwlockattr_init(&a) != 0) {
        tl_free(m);
        return NULL;
    }
    pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    int i;
    for (i = 0; i < TL_COOC_REL_COUNT; i++)
        if (pthread_rwlock_init(&m->rel[i].lock, &a) != 0) break;
    pthread_rwlockattr_destroy(&a);
    if (i < TL_COOC_REL_COUNT) {
        while (i-- > 0) pthread_rwlock_destroy(&m->rel[i].lock);
        tl_free(m);
        return NULL;
    }
    return m;
}

void tl_cooc_free(struct tl_cooc *m)
{
    if (!m) return;
    for (int i = 0; i < TL_COOC_REL_COUNT; i++) {
        struct rel *r = &m->rel[i];
        for (uint32_t j = 0; j < r->n_nodes; j++) tl_free(r->nodes[j].s);
        tl_free(r->nodes);
        pthread_rwlock_destroy(&r->lock);
    }
    tl_free(m);
}

/* ---- updates ---- */

enum tl_rc tl_cooc_add_basket(struct tl_cooc *m, enum tl_cooc_rel rel, const uint32_t *items, size_t n)
{
    if (!m || !valid_rel(rel) || (!items && n > 0)) return TL_EINVAL;
    if (n == 0) return TL_OK;
    uint32_t kept[TL_COOC_BASKET_MAX];
    enum tl_rc rc;
    size_t k = dedupe(items, n, kept, EMPTY, NULL, &rc);
    if (rc != TL_OK) return rc;
    struct rel *r = &m->rel[rel];
    pthread_rwlock_wrlock(&r->lock);
    rc = rel_apply(r, kept, k, 0, 1);
    pthread_rwlock_unlock(&r->lock);
    return rc;
}

enum tl_rc tl_cooc_add_to_set(struct tl_cooc *m, enum tl_cooc_rel rel, const uint32_t *existing, size_t n_existing,
                              uint32_t new_item)
{
    if (!m || !valid_rel(rel) || (!existing && n_existing > 0)) return TL_EINVAL;
    if (new_item >= TL_COOC_ITEMS_MAX) return TL_ETOOBIG;
    uint32_t kept[TL_COOC_BASKET_MAX];
    enum tl_rc rc;
    int found;
    size_t k = dedupe(existing, n_existing, kept, new_item, &found, &rc);
    if (rc != TL_OK) return rc;
    if (found || k == TL_COOC_BASKET_MAX) return TL_OK;
    kept[k] = new_item;
    struct rel *r = &m->rel[rel];
    pthread_rwlock_wrlock(&r->lock);
    rc = rel_apply(r, kept, k + 1, k, k == 0);
    pthread_rwlock_unlock(&r->lock);
    return rc;
}

/* ---- queries ---- */

static int valid_sim(enum tl_cooc_sim sim)
{
    return sim == TL_COOC_COSINE || sim == TL_COOC_JACCARD || sim == TL_COOC_LIFT || sim == TL_COOC_COND;
}

/* n_j^alpha with fast paths for the common exponents. */
static inline double pow_alpha(double nj, double alpha)
{
    if (alpha == 0.5) return sqrt(nj);
    if (alpha == 0) return 1;
    if (alpha == 1) return nj;
    return pow(nj, alpha);
}

static inline double sim_score(enum tl_cooc_sim sim, double N, double ni, double nj, double nij, double alpha)
{
    switch (sim) {
    case TL_COOC_COSINE:
        return nij / sqrt(ni * nj);
    case TL_COOC_JACCARD:
        return nij / (ni + nj - nij);
    case TL_COOC_LIFT:
        return N * nij / (ni * nj);
    case TL_COOC_COND:
        return nij / (ni * pow_alpha(nj, alpha));
    }
    return 0;
}

static enum tl_rc check_query(struct tl_cooc *m, enum tl_cooc_rel rel, enum tl_cooc_sim sim, size_t k,
                              const struct tl_cooc_hit *out, const size_t *n)
{
    if (!m || !n || !valid_rel(rel) || !valid_sim(sim) || k > TL_COOC_K_MAX || (!out && k > 0)) return TL_EINVAL;
    return TL_OK;
}

enum tl_rc tl_cooc_top(struct tl_cooc *m, enum tl_cooc_rel rel, uint32_t anchor, enum tl_cooc_sim sim, size_t k,
                       uint32_t min_support, int (*skip)(void *ctx, uint32_t item), void *ctx, struct tl_cooc_hit *out,
                       size_t *n)
{
    enum tl_rc rc = check_query(m, rel, sim, k, out, n);
    if (rc != TL_OK) return rc;
    *n = 0;
    if (anchor >= TL_COOC_ITEMS_MAX) return TL_ETOOBIG;
    if (k == 0) return TL_OK;
    if (min_support == 0) min_support = 1;
    struct tl_topk_entry stack[TOPK_STACK], *store = stack;
    if (k > TOPK_STACK && !(store = tl_malloc(k * sizeof *store))) return TL_ENOMEM;
    struct tl_topk h;
    tl_topk_init(&h, store, k);
    struct rel *r = &m->rel[rel];
    const double alpha = m->p.alpha;
    pthread_rwlock_rdlock(&r->lock);
    if (anchor < r->n_nodes && r->nodes[anchor].n > 0) {
        const struct node *na = &r->nodes[anchor];
        const double N = (double)r->sets, ni = na->n;
        for (uint32_t i = 0; i < na->cap; i++) {
            const struct slot *s = &na->s[i];
            if (s->nbr == EMPTY || s->cnt < min_support) continue;
            double sc = sim_score(sim, N, ni, r->nodes[s->nbr].n, s->cnt, alpha);
            if (!tl_topk_accepts(&h, s->nbr, sc)) continue;
            if (skip && skip(ctx, s->nbr)) continue;
            tl_topk_push(&h, s->nbr, sc);
        }
        size_t cnt = tl_topk_sort(&h);
        for (size_t i = 0; i < cnt; i++) {
            const struct slot *s = tab_find(na, h.e[i].id);
            out[i] = (struct tl_cooc_hit){h.e[i].id, h.e[i].score, anchor, s ? s->cnt : 0};
        }
        *n = cnt;
    }
    pthread_rwlock_unlock(&r->lock);
    if (store != stack) tl_free(store);
    return TL_OK;
}

struct acc {
    uint32_t item; /* EMPTY = free slot */
    uint32_t anchor;
    uint32_t support;
    double sum;
    double best;
};

static struct acc *acc_slot(struct acc *t, uint32_t mask, uint32_t item)
{
    uint32_t i = (uint32_t)tl_hash_u64(item) & mask;
    while (t[i].item != EMPTY && t[i].item != item) i = (i + 1) & mask;
    return &t[i];
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

enum tl_rc tl_cooc_top_multi(struct tl_cooc *m, enum tl_cooc_rel rel, const uint32_t *anchors, size_t n_anchors,
                             enum tl_cooc_sim sim, size_t k, uint32_t min_support,
                             int (*skip)(void *ctx, uint32_t item), void *ctx, struct tl_cooc_hit *out, size_t *n)
{
    enum tl_rc rc = check_query(m, rel, sim, k, out, n);
    if (rc != TL_OK) return rc;
    *n = 0;
    if (!anchors && n_anchors > 0) return TL_EINVAL;
    uint32_t an[TL_COOC_ANCHORS_MAX];
    size_t na = 0;
    for (size_t i = 0; i < n_anchors; i++) {
        if (anchors[i] >= TL_COOC_ITEMS_MAX) return TL_ETOOBIG;
        size_t j = 0;
        while (j < na && an[j] != anchors[i]) j++;
        if (j < na) continue;
        if (na == TL_COOC_ANCHORS_MAX) return TL_ETOOBIG;
        an[na++] = anchors[i];
    }
    if (k == 0 || na == 0) return TL_OK;
    qsort(an, na, sizeof an[0], cmp_u32);
    if (min_support == 0) min_support = 1;

    struct rel *r = &m->rel[rel];
    const double alpha = m->p.alpha;
    struct acc *t = NULL;
    uint32_t mask = 0;
    pthread_rwlock_rdlock(&r->lock);
    uint64_t deg = 0;
    for (size_t a = 0; a < na; a++)
        if (an[a] < r->n_nodes) deg += r->nodes[an[a]].used;
    if (deg == 0) {
        pthread_rwlock_unlock(&r->lock);
        return TL_OK;
    }
    uint64_t cap = 16;
    while (cap < deg * 2) cap *= 2;
    t = tl_malloc((size_t)cap * sizeof *t);
    if (!t) {
        pthread_rwlock_unlock(&r->lock);
        return TL_ENOMEM;
    }
    mask = (uint32_t)cap - 1;
    for (uint64_t i = 0; i < cap; i++) t[i].item = EMPTY;
    const double N = (double)r->sets;
    for (size_t a = 0; a < na; a++) {
        if (an[a] >= r->n_nodes) continue;
        const struct node *nd = &r->nodes[an[a]];
        const double ni = nd->n;
        for (uint32_t i = 0; i < nd->cap; i++) {
            const struct slot *s = &nd->s[i];
            if (s->nbr == EMPTY || s->cnt < min_support) continue;
            if (bsearch(&s->nbr, an, na, sizeof an[0], cmp_u32)) continue;
            double sc = sim_score(sim, N, ni, r->nodes[s->nbr].n, s->cnt, alpha);
            struct acc *e = acc_slot(t, mask, s->nbr);
            if (e->item == EMPTY) {
                *e = (struct acc){s->nbr, an[a], s->cnt, sc, sc};
            } else {
                e->sum += sc;
                /* anchors visited in increasing order: strict > keeps the lowest on ties */
                if (sc > e->best) {
                    e->best = sc;
                    e->anchor = an[a];
                    e->support = s->cnt;
                }
            }
        }
    }
    pthread_rwlock_unlock(&r->lock);

    struct tl_topk_entry stack[TOPK_STACK], *store = stack;
    if (k > TOPK_STACK && !(store = tl_malloc(k * sizeof *store))) {
        tl_free(t);
        return TL_ENOMEM;
    }
    struct tl_topk h;
    tl_topk_init(&h, store, k);
    for (uint64_t i = 0; i < cap; i++) {
        if (t[i].item == EMPTY) continue;
        if (!tl_topk_accepts(&h, t[i].item, t[i].sum)) continue;
        if (skip && skip(ctx, t[i].item)) continue;
        tl_topk_push(&h, t[i].item, t[i].sum);
    }
    size_t cnt = tl_topk_sort(&h);
    for (size_t i = 0; i < cnt; i++) {
        const struct acc *e = acc_slot(t, mask, h.e[i].id);
        out[i] = (struct tl_cooc_hit){h.e[i].id, h.e[i].score, e->anchor, e->support};
    }
    *n = cnt;
    if (store != stack) tl_free(store);
    tl_free(t);
    return TL_OK;
}

/* ---- counters ---- */

uint64_t tl_cooc_sets(struct tl_cooc *m, enum tl_cooc_rel rel)
{
    if (!m || !valid_rel(rel)) return 0;
    struct rel *r = &m->rel[rel];
    pthread_rwlock_rdlock(&r->lock);
    uint64_t v = r->sets;
    pthread_rwlock_unlock(&r->lock);
    return v;
}

uint64_t tl_cooc_pairs(struct tl_cooc *m, enum tl_cooc_rel rel)
{
    if (!m || !valid_rel(rel)) return 0;
    struct rel *r = &m->rel[rel];
    pthread_rwlock_rdlock(&r->lock);
    uint64_t v = r->pairs;
    pthread_rwlock_unlock(&r->lock);
    return v;
}

uint32_t tl_cooc_item_count(struct tl_cooc *m, enum tl_cooc_rel rel, uint32_t i)
{
    if (!m || !valid_rel(rel)) return 0;
    struct rel *r = &m->rel[rel];
    pthread_rwlock_rdlock(&r->lock);
    uint32_t v = i < r->n_nodes ? r->nodes[i].n : 0;
    pthread_rwlock_unlock(&r->lock);
    return v;
}

uint32_t tl_cooc_pair_count(struct tl_cooc *m, enum tl_cooc_rel rel, uint32_t i, uint32_t j)
{
    if (!m || !valid_rel(rel) || i == j) return 0;
    struct rel *r = &m->rel[rel];
    pthread_rwlock_rdlock(&r->lock);
    uint32_t v = 0;
    if (i < r->n_nodes) {
        const struct slot *s = tab_find(&r->nodes[i], j);
        if (s) v = s->cnt;
    }
    pthread_rwlock_unlock(&r->lock);
    return v;
}

size_t tl_cooc_memory(const struct tl_cooc *cm)
{
    if (!cm) return 0;
    struct tl_cooc *m = (struct tl_cooc *)cm; /* the locks are the only mutable part */
    size_t b = sizeof *m;
    for (int i = 0; i < TL_COOC_REL_COUNT; i++) {
        struct rel *r = &m->rel[i];
        pthread_rwlock_rdlock(&r->lock);
        b += (size_t)r->nodes_cap * sizeof(struct node);
        for (uint32_t j = 0; j < r->n_nodes; j++) b += (size_t)r->nodes[j].cap * sizeof(struct slot);
        pthread_rwlock_unlock(&r->lock);
    }
    return b;
}

/* ---- snapshot of one relation (cooc.h) ----
 * Own little-endian readers and writers, so this file needs only src/core
 * (the standalone ThreadSanitizer build of test_cooc.c). */

static enum tl_rc put_u32(struct tl_buf *b, uint32_t v)
{
    unsigned char x[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    return tl_buf_append(b, x, 4);
}

struct rd {
    const unsigned char *p;
    size_t len, off;
    int bad;
};

static uint32_t get_u32(struct rd *r)
{
    if (r->bad || r->len - r->off < 4) {
        r->bad = 1;
        return 0;
    }
    const unsigned char *x = r->p + r->off;
    r->off += 4;
    return (uint32_t)x[0] | (uint32_t)x[1] << 8 | (uint32_t)x[2] << 16 | (uint32_t)x[3] << 24;
}

enum tl_rc tl_cooc_save_rel(struct tl_cooc *m, enum tl_cooc_rel rel, struct tl_buf *out)
{
    if (!m || !valid_rel(rel) || !out) return TL_EINVAL;
    struct rel *r = &m->rel[rel];
    pthread_rwlock_rdlock(&r->lock);
    enum tl_rc rc = put_u32(out, (uint32_t)r->sets);
    if (!rc) rc = put_u32(out, (uint32_t)(r->sets >> 32));
    if (!rc) rc = put_u32(out, r->n_nodes);
    for (uint32_t i = 0; !rc && i < r->n_nodes; i++) {
        const struct node *nd = &r->nodes[i];
        rc = put_u32(out, nd->n);
        if (!rc) rc = put_u32(out, nd->used);
        for (uint32_t x = 0; !rc && x < nd->cap; x++)
            if (nd->s[x].nbr != EMPTY) {
                rc = put_u32(out, nd->s[x].nbr);
                if (!rc) rc = put_u32(out, nd->s[x].cnt);
            }
    }
    pthread_rwlock_unlock(&r->lock);
    return rc;
}

enum tl_rc tl_cooc_load_rel(struct tl_cooc *m, enum tl_cooc_rel rel, const void *data, size_t len, size_t *used,
                            struct tl_err *err)
{
    if (!m || !valid_rel(rel) || (!data && len) || !used) return tl_err_set(err, TL_EINVAL, NULL, "bad arguments");
    struct rel *r = &m->rel[rel];
    if (r->n_nodes || r->sets) return tl_err_set(err, TL_EINVAL, NULL, "the relation is not empty");
    struct rd rd = {data, len, 0, 0};
    uint64_t sets = get_u32(&rd);
    sets |= (uint64_t)get_u32(&rd) << 32;
    uint32_t nn = get_u32(&rd);
    if (rd.bad || nn > TL_COOC_ITEMS_MAX)
        return tl_err_set(err, TL_EPARSE, NULL, "co-occurrence snapshot truncated or damaged (header)");
    enum tl_rc rc = nn ? rel_ensure(r, nn - 1) : TL_OK;
    uint64_t ends = 0; /* pair ends read: each pair twice */
    for (uint32_t i = 0; !rc && i < nn; i++) {
        struct node *nd = &r->nodes[i];
        nd->n = get_u32(&rd);
        uint32_t deg = get_u32(&rd);
        /* each neighbour takes 8 bytes: a degree larger than what is left is damage, not a size to allocate */
        if (rd.bad || deg >= nn || (uint64_t)deg * 8 > rd.len - rd.off || nd->n > sets) {
            rc = TL_EPARSE;
            break;
        }
        if (deg) rc = tab_reserve(nd, deg);
        for (uint32_t x = 0; !rc && x < deg; x++) {
            uint32_t nbr = get_u32(&rd), cnt = get_u32(&rd);
            if (rd.bad || nbr >= nn || nbr == i || cnt == 0 || cnt > nd->n || tab_find(nd, nbr)) {
                rc = TL_EPARSE;
                break;
            }
            tab_inc(nd, nbr, (uint32_t)tl_hash_u64(nbr));
            ((struct slot *)tab_find(nd, nbr))->cnt = cnt;
        }
        ends += deg;
    }
    /* symmetry: n_ij stored in i's table equals n_ji in j's */
    for (uint32_t i = 0; !rc && i < nn; i++) {
        const struct node *nd = &r->nodes[i];
        for (uint32_t x = 0; !rc && x < nd->cap; x++) {
            if (nd->s[x].nbr == EMPTY) continue;
            const struct slot *o = tab_find(&r->nodes[nd->s[x].nbr], i);
            if (!o || o->cnt != nd->s[x].cnt) rc = TL_EPARSE;
        }
    }
    if (!rc) {
        r->sets = sets;
        r->pairs = ends / 2;
        *used = rd.off;
        return TL_OK;
    }
    for (uint32_t i = 0; i < r->n_nodes; i++) tl_free(r->nodes[i].s);
    tl_free(r->nodes);
    r->nodes = NULL;
    r->n_nodes = r->nodes_cap = 0;
    if (rc == TL_ENOMEM) return tl_err_set(err, rc, NULL, "out of memory loading co-occurrence counts");
    return tl_err_set(err, TL_EPARSE, NULL, "co-occurrence snapshot truncated or damaged (counts)");
}
