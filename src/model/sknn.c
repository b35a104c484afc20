/* Session-based kNN recommender: V-SKNN ("vector multiplication" session
 * kNN, Ludewig & Jannach 2018, "Evaluation of session-based recommendation
 * algorithms", UMUAI 28) with the idf and "recency of the match" (match
 * decay) extensions of the session-rec framework's VMContextKNN. API and
 * parameters in sknn.h.
 *
 * MODEL (immutable after train/load)
 *   Past sessions are renumbered by recency: rank 0 is the session whose
 *   last click is the latest (ties: lower dataset user index first). Empty
 *   sessions are dropped. For each rank r the session's DISTINCT items in
 *   first-click order are s_item[s_off[r] .. s_off[r+1]-1]; for each item i
 *   the sessions containing it, ranks ascending (most recent first), are
 *   p_sess[p_off[i] .. p_off[i+1]-1] (the item -> sessions index, rebuilt
 *   from the session rows on load). idf[i] = ln(N / clicks_i) with N the
 *   number of sessions and clicks_i the training clicks on i (repeats
 *   counted, as in session-rec); 0 for items never clicked.
 *   Invariants: s_off[0] = 0, s_off ascending, s_off[n_sess] = n_ent =
 *   p_off[n_items]; items < n_items and distinct within a session; every
 *   (session, item) pair is in exactly one row and one posting list.
 *
 * QUERY (candidates)
 *   1. Clicks: q->history (the last max_history of them when that is > 0),
 *      or {q->anchor} when the history is empty. L = clicks used.
 *   2. Current items: the m distinct items; item x's last click has 1-based
 *      position i_x, step s_x = L - i_x + 1 (1 = last click) and weight
 *      w_x = decay(i_x, L) * hweight (hweight of that click, 1 if none).
 *      Decays are in sknn.h; e.g. quadratic (i/L)^2.
 *   3. Sample: the sample_size most recent (lowest rank) sessions sharing
 *      at least one item with the current session, found by a k-way merge
 *      of the current items' posting lists (a min-heap of list cursors on
 *      rank). A session's copies in several lists pop consecutively, so the
 *      merge yields for each sampled session n: W = sum of w_x over the
 *      current items in n, c = their count and the smallest step s_n among
 *      them (whose item is the "match", the neighbour's anchor). Cost
 *      O(P log m) for P posting entries visited, never a scan of all
 *      sessions.
 *   4. Similarity (sknn.h): vec W/m, cosine W/sqrt(m|n|), jaccard
 *      W/(m+|n|-c). Sessions with similarity <= 0 are dropped; the k most
 *      similar are the neighbours (ties: more recent first), chosen by
 *      quickselect in O(sample_size) expected, not by sorting.
 *   5. Scores: for each item j of each neighbour n, neighbours taken in
 *      recency order,
 *        score_j += sim_n * match_decay(s_n) * (1 + idf_weight * idf_j)
 *                   [* exp(-|e_j - e_match| / neighbor_decay)]
 *      accumulated in a per-query open-addressing hash (capacity a power
 *      of two >= 2 * sum |n| over the neighbours). The current session's
 *      own items are scored like any other ("reminders" help on click data;
 *      callers mask them with skip() when they do not want them).
 *      The optional last factor (neighbor_decay > 0; STAN's lambda_3, Garg
 *      et al. 2019) favours items clicked close to the match in the
 *      neighbour session, e being the index in the neighbour's distinct
 *      items in first-click order (STAN counts repeated clicks; we do not
 *      store them). Measured on RSC15-100k (all 3,416 test sessions):
 *      HR@20 0.6881 -> 0.6950, MRR@20 0.3668 -> 0.3709 with 2; off by
 *      default so the defaults stay the published V-SKNN.
 *      hit.anchor of j = the match item of the neighbour giving j's largest
 *      single term (the most recent such neighbour on ties).
 *   6. The best k items (bounded heap, ties lower item index first; skip()
 *      only called for items the heap would keep); hit.score = score_j /
 *      max_j score_j over all scored items, so the best is 1.
 *   Per-query memory: O(L + min(sample_size, n_sess) + min(sum |n|,
 *   n_items) + k) in two tl_malloc blocks (scratch, score hash), freed
 *   before returning.
 *
 * TRAINING is linear in the interactions (plus a sort of the sessions by
 * last click) and single-threaded; opts->threads is accepted and not
 * needed, opts->seed is not needed (no randomness: "recent" sampling),
 * opts->cancel is polled every 4096 sessions, opts->progress reports the
 * phases.
 *
 * SNAPSHOT (little-endian, model.h helpers)
 *   u32 magic 0x4e4e4b53 ("SKNN"), u32 version 1,
 *   u32 k, u32 sample_size, u32 similarity, u32 decay, u32 match_decay,
 *   u64 idf_weight, u64 neighbor_decay (IEEE-754 double bits),
 *   u32 max_history,
 *   u32 n_items, u32 n_sess, u32 n_ent,
 *   u32 s_off[n_sess + 1], u32 s_item[n_ent], f32 idf[n_items],
 *   u64 checksum = XXH3-64 (tl_hash, seed 0) of all preceding bytes.
 *   load() checks the length exactly, the checksum, the parameters and
 *   every invariant above, and rebuilds the posting lists; anything else is
 *   TL_EPARSE. */
#include "model/sknn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/hash.h"
#include "core/topk.h"

#define SKNN_MAGIC 0x4e4e4b53u
#define SKNN_VERSION 1u
#define CANCEL_EVERY 4096u

struct sknn {
    struct tl_sknn_params p;
    uint32_t n_items;
    uint32_t n_sess;
    uint32_t n_ent;
    uint32_t *s_off;  /* n_sess + 1 */
    uint32_t *s_item; /* n_ent */
    float *idf;       /* n_items */
    uint32_t *p_off;  /* n_items + 1 */
    uint32_t *p_sess; /* n_ent */
};

/* ---- params ---- */

static const char *const decay_names[] = {"same", "linear", "div", "log", "quadratic"};
static const char *const sim_names[] = {"vec", "cosine", "jaccard"};

static void sknn_params_defaults(void *params)
{
    struct tl_sknn_params *p = params;
    if (!p) return;
    memset(p, 0, sizeof *p);
    p->k = 500;
    p->sample_size = 5000;
    p->similarity = TL_SKNN_SIM_VEC;
    p->decay = TL_SKNN_QUADRATIC;
    p->match_decay = TL_SKNN_DIV;
    p->idf_weight = 5.0;
    p->max_history = 0;
    p->neighbor_decay = 0;
}

static int name_index(const char *const *names, size_t n, const char *v)
{
    for (size_t i = 0; v && i < n; i++)
        if (strcmp(names[i], v) == 0) return (int)i;
    return -1;
}

static enum tl_rc sknn_param_set(void *params, const char *key, const char *value, struct tl_err *err)
{
    struct tl_sknn_params *p = params;
    if (!p || !key) return tl_err_set(err, TL_EINVAL, NULL, "params and key must not be NULL");
    long l;
    double d;
    enum tl_rc rc;
    if (strcmp(key, "k") == 0) {
        if ((rc = tl_model_param_long(key, value, 1, TL_SKNN_K_MAX, &l, err))) return rc;
        p->k = (uint32_t)l;
    } else if (strcmp(key, "sample_size") == 0) {
        if ((rc = tl_model_param_long(key, value, 1, TL_SKNN_SAMPLE_MAX, &l, err))) return rc;
        p->sample_size = (uint32_t)l;
    } else if (strcmp(key, "max_history") == 0) {
        if ((rc = tl_model_param_long(key, value, 0, TL_MODEL_HISTORY_MAX, &l, err))) return rc;
        p->max_history = (uint32_t)l;
    } else if (strcmp(key, "idf_weight") == 0) {
        if ((rc = tl_model_param_double(key, value, 0, TL_SKNN_IDF_WEIGHT_MAX, &d, err))) return rc;
        p->idf_weight = d;
    } else if (strcmp(key, "neighbor_decay") == 0) {
        if ((rc = tl_model_param_double(key, value, 0, TL_SKNN_NEIGHBOR_DECAY_MAX, &d, err))) return rc;
        p->neighbor_decay = d;
    } else if (strcmp(key, "similarity") == 0) {
        int i = name_index(sim_names, 3, value);
        if (i < 0) return tl_err_set(err, TL_EINVAL, key, "similarity must be vec, cosine or jaccard");
        p->similarity = (enum tl_sknn_sim)i;
    } else if (strcmp(key, "decay") == 0 || strcmp(key, "match_decay") == 0) {
        int i = name_index(decay_names, 5, value);
        if (i < 0) return tl_err_set(err, TL_EINVAL, key, "%s must be same, linear, div, log or quadratic", key);
        if (key[0] == 'd')
            p->decay = (enum tl_sknn_decay)i;
        else
            p->match_decay = (enum tl_sknn_decay)i;
    } else {
        return tl_err_set(err, TL_EINVAL, key, "unknown sknn parameter '%s'", key);
    }
    return TL_OK;
}

static int params_ok(const struct tl_sknn_params *p)
{
    return p->k >= 1 && p->k <= TL_SKNN_K_MAX && p->sample_size >= 1 && p->sample_size <= TL_SKNN_SAMPLE_MAX &&
           (unsigned)p->similarity <= TL_SKNN_SIM_JACCARD && (unsigned)p->decay <= TL_SKNN_QUADRATIC &&
           (unsigned)p->match_decay <= TL_SKNN_QUADRATIC && isfinite(p->idf_weight) && p->idf_weight >= 0 &&
           p->idf_weight <= TL_SKNN_IDF_WEIGHT_MAX && p->max_history <= TL_MODEL_HISTORY_MAX &&
           isfinite(p->neighbor_decay) && p->neighbor_decay >= 0 && p->neighbor_decay <= TL_SKNN_NEIGHBOR_DECAY_MAX;
}

/* ---- decays ---- */

/* Weight of click i (1-based) of L. */
static double pos_weight(enum tl_sknn_decay f, uint32_t i, uint32_t L)
{
    double x = (double)i / (double)L, d = (double)(L - i);
    switch (f) {
    case TL_SKNN_LINEAR:
        return d >= 10 ? 0 : 1 - 0.1 * d;
    case TL_SKNN_DIV:
        return x;
    case TL_SKNN_LOG:
        return 1 / log10(d + 1.7);
    case TL_SKNN_QUADRATIC:
        return x * x;
    case TL_SKNN_SAME:
    default:
        return 1;
    }
}

/* Weight of a neighbour whose most recent shared click is s steps back (s >= 1). */
static double match_weight(enum tl_sknn_decay f, uint32_t s)
{
    double x = (double)s;
    switch (f) {
    case TL_SKNN_LINEAR:
        return s >= 10 ? 0 : 1 - 0.1 * x;
    case TL_SKNN_DIV:
        return 1 / x;
    case TL_SKNN_LOG:
        return 1 / log10(x + 1.7);
    case TL_SKNN_QUADRATIC:
        return 1 / (x * x);
    case TL_SKNN_SAME:
    default:
        return 1;
    }
}

/* ---- model storage ---- */

static void sknn_free(void *model)
{
    struct sknn *m = model;
    if (!m) return;
    tl_free(m->s_off);
    tl_free(m->s_item);
    tl_free(m->idf);
    tl_free(m->p_off);
    tl_free(m->p_sess);
    tl_free(m);
}

/* Build p_off / p_sess from the session rows (items already validated). */
static enum tl_rc build_postings(struct sknn *m)
{
    m->p_off = tl_calloc((size_t)m->n_items + 1, sizeof *m->p_off);
    m->p_sess = tl_malloc(((size_t)m->n_ent ? m->n_ent : 1) * sizeof *m->p_sess);
    if (!m->p_off || !m->p_sess) return TL_ENOMEM;
    for (uint32_t e = 0; e < m->n_ent; e++) m->p_off[m->s_item[e] + 1]++;
    for (uint32_t i = 0; i < m->n_items; i++) m->p_off[i + 1] += m->p_off[i];
    uint32_t *fill = tl_malloc(((size_t)m->n_items ? m->n_items : 1) * sizeof *fill);
    if (!fill) return TL_ENOMEM;
    memcpy(fill, m->p_off, (size_t)m->n_items * sizeof *fill);
    for (uint32_t r = 0; r < m->n_sess; r++)
        for (uint32_t e = m->s_off[r]; e < m->s_off[r + 1]; e++) m->p_sess[fill[m->s_item[e]]++] = r;
    tl_free(fill);
    return TL_OK;
}

static size_t sknn_memory(const void *model)
{
    const struct sknn *m = model;
    if (!m) return 0;
    return sizeof *m + ((size_t)m->n_sess + 1) * 4 + (size_t)m->n_ent * 8 + (size_t)m->n_items * 4 +
           ((size_t)m->n_items + 1) * 4;
}

/* ---- training ---- */

struct sess_key {
    int64_t last; /* last click's ts */
    uint32_t user;
};

static int cmp_recent(const void *a, const void *b)
{
    const struct sess_key *x = a, *y = b;
    if (x->last != y->last) return x->last > y->last ? -1 : 1;
    return x->user < y->user ? -1 : (x->user > y->user);
}

static int cancelled(const struct tl_train_opts *o) { return o && o->cancel && *o->cancel; }

static void progress(const struct tl_train_opts *o, double f, const char *phase)
{
    if (o && o->progress) o->progress(o->progress_ctx, f, phase);
}

static enum tl_rc sknn_train(const struct tl_dataset *d, const void *params, const struct tl_train_opts *opts,
                             void **out, struct tl_err *err)
{
    if (!d || !out) return tl_err_set(err, TL_EINVAL, NULL, "dataset and out must not be NULL");
    *out = NULL;
    struct tl_sknn_params p;
    if (params)
        memcpy(&p, params, sizeof p);
    else
        sknn_params_defaults(&p);
    if (!params_ok(&p)) return tl_err_set(err, TL_EINVAL, NULL, "sknn parameters out of range");
    if (d->n > UINT32_MAX || d->n_items >= UINT32_MAX)
        return tl_err_set(err, TL_ETOOBIG, NULL, "sknn holds at most 2^32-1 interactions");
    if (d->n_users && (!d->off || (d->n && (!d->item || !d->ts))))
        return tl_err_set(err, TL_EINVAL, NULL, "dataset arrays missing");

    enum tl_rc rc = TL_ENOMEM;
    struct sess_key *keys = NULL;
    uint32_t *mark = NULL, *clicks = NULL;
    struct sknn *m = tl_calloc(1, sizeof *m);
    if (!m) goto fail;
    m->p = p;
    m->n_items = d->n_items;
    progress(opts, 0.0, "sort sessions");

    uint32_t ns = 0;
    for (uint32_t u = 0; u < d->n_users; u++) ns += d->off[u + 1] > d->off[u];
    keys = tl_malloc(((size_t)ns ? ns : 1) * sizeof *keys);
    mark = tl_malloc(((size_t)d->n_items ? d->n_items : 1) * sizeof *mark);
    clicks = tl_calloc((size_t)d->n_items ? d->n_items : 1, sizeof *clicks);
    m->s_off = tl_malloc(((size_t)ns + 1) * sizeof *m->s_off);
    m->idf = tl_malloc(((size_t)d->n_items ? d->n_items : 1) * sizeof *m->idf);
    if (!keys || !mark || !clicks || !m->s_off || !m->idf) goto fail;
    ns = 0;
    for (uint32_t u = 0; u < d->n_users; u++)
        if (d->off[u + 1] > d->off[u]) keys[ns++] = (struct sess_key){d->ts[d->off[u + 1] - 1], u};
    qsort(keys, ns, sizeof *keys, cmp_recent);
    m->n_sess = ns;

    /* distinct items per session, first-click order */
    for (uint32_t i = 0; i < d->n_items; i++) mark[i] = UINT32_MAX;
    m->s_item = tl_malloc(((size_t)d->n ? d->n : 1) * sizeof *m->s_item);
    if (!m->s_item) goto fail;
    uint32_t ne = 0;
    m->s_off[0] = 0;
    for (uint32_t r = 0; r < ns; r++) {
        if (r % CANCEL_EVERY == 0) {
            if (cancelled(opts)) {
                rc = tl_err_set(err, TL_ESHUTDOWN, NULL, "sknn training cancelled");
                goto fail;
            }
            progress(opts, 0.1 + 0.7 * r / (double)ns, "session rows");
        }
        uint32_t u = keys[r].user;
        for (size_t e = d->off[u]; e < d->off[u + 1]; e++) {
            uint32_t it = d->item[e];
            if (it >= d->n_items) {
                rc = tl_err_set(err, TL_EINVAL, NULL, "item %u out of range", it);
                goto fail;
            }
            clicks[it]++;
            if (mark[it] == r) continue;
            mark[it] = r;
            m->s_item[ne++] = it;
        }
        m->s_off[r + 1] = ne;
    }
    m->n_ent = ne;
    uint32_t *shrunk = tl_realloc(m->s_item, ((size_t)ne ? ne : 1) * sizeof *shrunk);
    if (shrunk) m->s_item = shrunk;
    for (uint32_t i = 0; i < d->n_items; i++) m->idf[i] = clicks[i] ? (float)log((double)ns / (double)clicks[i]) : 0.0f;
    if (cancelled(opts)) {
        rc = tl_err_set(err, TL_ESHUTDOWN, NULL, "sknn training cancelled");
        goto fail;
    }
    progress(opts, 0.8, "item index");
    if ((rc = build_postings(m))) goto fail;
    tl_free(keys);
    tl_free(mark);
    tl_free(clicks);
    progress(opts, 1.0, "done");
    *out = m;
    return TL_OK;
fail:
    if (rc == TL_ENOMEM) tl_err_set(err, TL_ENOMEM, NULL, "out of memory training sknn");
    tl_free(keys);
    tl_free(mark);
    tl_free(clicks);
    sknn_free(m);
    return rc;
}

/* ---- query ---- */

struct click {
    uint32_t item;
    uint32_t pos; /* 0-based among the clicks used */
};

static int cmp_click(const void *a, const void *b)
{
    const struct click *x = a, *y = b;
    if (x->item != y->item) return x->item < y->item ? -1 : 1;
    return x->pos < y->pos ? -1 : (x->pos > y->pos);
}

struct cur { /* a distinct item of the current session */
    uint32_t item;
    uint32_t step; /* 1 = last click */
    double w;      /* position weight */
};

struct cursor { /* merge cursor over one posting list */
    uint32_t pos, end;
    uint32_t cur; /* index into the cur array */
};

struct cand { /* a sampled session */
    uint32_t rank;
    uint32_t c;      /* shared distinct items */
    uint32_t step;   /* smallest step among them */
    uint32_t anchor; /* the item at that step */
    uint32_t keep;   /* 1 = among the k neighbours */
    double w;        /* W */
};

struct acc {       /* per-item score accumulator */
    uint32_t item; /* UINT32_MAX = empty */
    uint32_t anchor;
    double score;
    double best;
};

/* Neighbour order: higher similarity first, then the more recent session
 * (lower candidate index). A strict total order. */
static int nb_better(const struct tl_topk_entry *a, const struct tl_topk_entry *b)
{
    return a->score > b->score || (a->score == b->score && a->id < b->id);
}

static void nb_swap(struct tl_topk_entry *a, struct tl_topk_entry *b)
{
    struct tl_topk_entry t = *a;
    *a = *b;
    *b = t;
}

/* Reorder a[0..n) so that a[0..k) are the k best (any order), 0 < k < n:
 * quickselect with a median-of-three pivot, O(n) expected. */
static void select_best(struct tl_topk_entry *a, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1, t = k - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (nb_better(&a[mid], &a[lo])) nb_swap(&a[mid], &a[lo]);
        if (nb_better(&a[hi], &a[lo])) nb_swap(&a[hi], &a[lo]);
        if (nb_better(&a[hi], &a[mid])) nb_swap(&a[hi], &a[mid]);
        nb_swap(&a[mid], &a[hi]); /* the median is the pivot, at hi */
        size_t st = lo;
        for (size_t i = lo; i < hi; i++)
            if (nb_better(&a[i], &a[hi])) nb_swap(&a[i], &a[st++]);
        nb_swap(&a[st], &a[hi]);
        if (st == t) return;
        if (st < t)
            lo = st + 1;
        else
            hi = st - 1;
    }
}

/* Cursor order: session rank, then current-item index (so a session's
 * weights are summed in ascending item order, independent of heap shape). */
static int cur_less(const struct cursor *a, const struct cursor *b, const uint32_t *ps)
{
    uint32_t x = ps[a->pos], y = ps[b->pos];
    return x < y || (x == y && a->cur < b->cur);
}

static void heap_down(struct cursor *h, size_t n, size_t i, const uint32_t *ps)
{
    for (;;) {
        size_t l = 2 * i + 1, b = i;
        if (l < n && cur_less(&h[l], &h[b], ps)) b = l;
        if (l + 1 < n && cur_less(&h[l + 1], &h[b], ps)) b = l + 1;
        if (b == i) return;
        struct cursor t = h[i];
        h[i] = h[b];
        h[b] = t;
        i = b;
    }
}

static enum tl_rc sknn_candidates(const void *model, const struct tl_model_query *q, tl_model_skip_fn skip,
                                  void *skip_ctx, size_t k, struct tl_model_hit *out, size_t *n)
{
    const struct sknn *m = model;
    if (n) *n = 0;
    if (!m || !q || !n || k > TL_MODEL_K_MAX || (k && !out) || q->n_history > TL_MODEL_HISTORY_MAX ||
        (q->n_history && !q->history))
        return TL_EINVAL;
    const uint32_t *hist = q->history;
    const float *hw = q->hweight;
    size_t L = q->n_history;
    if (L == 0) {
        if (q->anchor == TL_MODEL_NONE) return TL_OK;
        hist = &q->anchor;
        hw = NULL;
        L = 1;
    }
    if (m->p.max_history && L > m->p.max_history) {
        size_t drop = L - m->p.max_history;
        hist += drop;
        if (hw) hw += drop;
        L = m->p.max_history;
    }
    if (hw)
        for (size_t i = 0; i < L; i++)
            if (!isfinite(hw[i]) || hw[i] < 0) return TL_EINVAL;
    if (k == 0) return TL_OK;

    const struct tl_sknn_params *p = &m->p;
    size_t S = p->sample_size < m->n_sess ? p->sample_size : m->n_sess, K = p->k;
    /* scratch for everything but the score hash, whose size is known later */
    size_t bytes = L * sizeof(struct click) + L * sizeof(struct cur) + L * sizeof(struct cursor) +
                   S * sizeof(struct cand) + S * sizeof(struct tl_topk_entry) + k * sizeof(struct tl_topk_entry) + 64;
    char *blk = tl_malloc(bytes);
    if (!blk) return TL_ENOMEM;
    char *bp = blk;
#define TAKE(T, cnt) ((T *)(void *)(bp += (cnt) * sizeof(T), bp - (cnt) * sizeof(T)))
    struct tl_topk_entry *nb_st = TAKE(struct tl_topk_entry, S);
    struct tl_topk_entry *out_st = TAKE(struct tl_topk_entry, k);
    struct cand *cand = TAKE(struct cand, S);
    struct cur *cur = TAKE(struct cur, L);
    struct cursor *heap = TAKE(struct cursor, L);
    struct click *ck = TAKE(struct click, L);
#undef TAKE
    struct acc *tab = NULL;
    enum tl_rc rc = TL_OK;

    /* 2. distinct current items with weight and step */
    for (size_t i = 0; i < L; i++) ck[i] = (struct click){hist[i], (uint32_t)i};
    qsort(ck, L, sizeof *ck, cmp_click);
    size_t nc = 0;
    for (size_t i = 0; i < L; i++) {
        if (i + 1 < L && ck[i + 1].item == ck[i].item) continue; /* keep the last click of each item */
        uint32_t pos = ck[i].pos;
        double w = pos_weight(p->decay, pos + 1, (uint32_t)L) * (hw ? hw[pos] : 1.0);
        cur[nc++] = (struct cur){ck[i].item, (uint32_t)(L - pos), w};
    }

    /* 3. merge the posting lists, most recent sessions first */
    size_t nh = 0;
    for (size_t j = 0; j < nc; j++) {
        uint32_t it = cur[j].item;
        if (it >= m->n_items || m->p_off[it] == m->p_off[it + 1]) continue;
        heap[nh++] = (struct cursor){m->p_off[it], m->p_off[it + 1], (uint32_t)j};
    }
    for (size_t i = nh / 2; i-- > 0;) heap_down(heap, nh, i, m->p_sess);
    size_t ncand = 0;
    while (nh) {
        struct cursor *t = &heap[0];
        uint32_t r = m->p_sess[t->pos];
        const struct cur *x = &cur[t->cur];
        if (ncand == 0 || cand[ncand - 1].rank != r) {
            if (ncand == S) break;
            cand[ncand++] = (struct cand){.rank = r, .step = UINT32_MAX, .anchor = TL_MODEL_NONE};
        }
        struct cand *cd = &cand[ncand - 1];
        cd->c++;
        cd->w += x->w;
        if (x->step < cd->step || (x->step == cd->step && x->item < cd->anchor)) {
            cd->step = x->step;
            cd->anchor = x->item;
        }
        if (++t->pos == t->end) heap[0] = heap[--nh];
        heap_down(heap, nh, 0, m->p_sess);
    }

    /* 4. similarities, k nearest (selection, no sort) */
    double mm = (double)nc;
    size_t np = 0;
    for (size_t i = 0; i < ncand; i++) {
        struct cand *cd = &cand[i];
        double len = (double)(m->s_off[cd->rank + 1] - m->s_off[cd->rank]), sim;
        switch (p->similarity) {
        case TL_SKNN_SIM_COSINE:
            sim = cd->w / sqrt(mm * len);
            break;
        case TL_SKNN_SIM_JACCARD:
            sim = cd->w / (mm + len - (double)cd->c);
            break;
        case TL_SKNN_SIM_VEC:
        default:
            sim = cd->w / mm;
            break;
        }
        cd->w = sim;
        cd->keep = 0;
        if (sim > 0) nb_st[np++] = (struct tl_topk_entry){(uint32_t)i, sim};
    }
    size_t nn = np < K ? np : K;
    if (np > K) select_best(nb_st, np, K);
    for (size_t i = 0; i < nn; i++) cand[nb_st[i].id].keep = 1;

    /* 5. score the neighbours' items, neighbours in recency order */
    size_t tot = 0;
    for (size_t i = 0; i < ncand; i++)
        if (cand[i].keep) tot += m->s_off[cand[i].rank + 1] - m->s_off[cand[i].rank];
    if (tot > m->n_items) tot = m->n_items; /* distinct items scored */
    size_t cap = 16;
    while (cap < 2 * tot) cap *= 2;
    tab = tl_malloc(cap * sizeof *tab);
    if (!tab) {
        rc = TL_ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < cap; i++) tab[i].item = UINT32_MAX;
    size_t mask = cap - 1;
    for (size_t i = 0; i < ncand; i++) {
        const struct cand *cd = &cand[i];
        if (!cd->keep) continue;
        double f = cd->w * match_weight(p->match_decay, cd->step);
        if (!(f > 0)) continue;
        uint32_t e0 = m->s_off[cd->rank], e1 = m->s_off[cd->rank + 1], em = e0;
        if (p->neighbor_decay > 0)
            while (em < e1 && m->s_item[em] != cd->anchor) em++;
        for (uint32_t e = e0; e < e1; e++) {
            uint32_t it = m->s_item[e];
            double term = f * (1.0 + p->idf_weight * (double)m->idf[it]);
            if (p->neighbor_decay > 0) term *= exp(-(double)(e > em ? e - em : em - e) / p->neighbor_decay);
            size_t h = (size_t)tl_hash_u64(it) & mask;
            while (tab[h].item != UINT32_MAX && tab[h].item != it) h = (h + 1) & mask;
            struct acc *a = &tab[h];
            if (a->item == UINT32_MAX) {
                *a = (struct acc){it, cd->anchor, term, term};
            } else {
                a->score += term;
                if (term > a->best) {
                    a->best = term;
                    a->anchor = cd->anchor;
                }
            }
        }
    }

    /* 6. best k items */
    double mx = 0;
    for (size_t i = 0; i < cap; i++)
        if (tab[i].item != UINT32_MAX && tab[i].score > mx) mx = tab[i].score;
    struct tl_topk oh;
    tl_topk_init(&oh, out_st, k);
    for (size_t i = 0; i < cap; i++) {
        const struct acc *a = &tab[i];
        if (a->item == UINT32_MAX || !(a->score > 0)) continue;
        if (!tl_topk_accepts(&oh, a->item, a->score)) continue;
        if (skip && skip(skip_ctx, a->item)) continue;
        tl_topk_push(&oh, a->item, a->score);
    }
    size_t got = tl_topk_sort(&oh);
    for (size_t i = 0; i < got; i++) {
        uint32_t it = out_st[i].id;
        size_t h = (size_t)tl_hash_u64(it) & mask;
        while (tab[h].item != it) h = (h + 1) & mask;
        out[i] = (struct tl_model_hit){it, (float)(out_st[i].score / mx), tab[h].anchor};
    }
    *n = got;
done:
    tl_free(tab);
    tl_free(blk);
    return rc;
}

/* ---- snapshot ---- */

static enum tl_rc sknn_save(const void *model, struct tl_buf *out, struct tl_err *err)
{
    const struct sknn *m = model;
    if (!m || !out) return tl_err_set(err, TL_EINVAL, NULL, "model and out must not be NULL");
    size_t start = out->len;
    uint64_t idfw;
    memcpy(&idfw, &m->p.idf_weight, 8);
    uint32_t hdr[] = {SKNN_MAGIC,
                      SKNN_VERSION,
                      m->p.k,
                      m->p.sample_size,
                      (uint32_t)m->p.similarity,
                      (uint32_t)m->p.decay,
                      (uint32_t)m->p.match_decay};
    enum tl_rc rc = tl_snap_put_u32s(out, hdr, sizeof hdr / sizeof hdr[0]);
    if (!rc) rc = tl_snap_put_u64(out, idfw);
    uint64_t nbd;
    memcpy(&nbd, &m->p.neighbor_decay, 8);
    if (!rc) rc = tl_snap_put_u64(out, nbd);
    uint32_t hdr2[] = {m->p.max_history, m->n_items, m->n_sess, m->n_ent};
    if (!rc) rc = tl_snap_put_u32s(out, hdr2, 4);
    if (!rc) rc = tl_snap_put_u32s(out, m->s_off, (size_t)m->n_sess + 1);
    if (!rc) rc = tl_snap_put_u32s(out, m->s_item, m->n_ent);
    if (!rc) rc = tl_snap_put_f32s(out, m->idf, m->n_items);
    if (!rc) rc = tl_snap_put_u64(out, tl_hash(out->data + start, out->len - start, 0));
    if (rc) {
        out->len = start;
        return tl_err_set(err, rc, NULL, "cannot write sknn snapshot");
    }
    return TL_OK;
}

static enum tl_rc sknn_load(const void *data, size_t len, void **out, struct tl_err *err)
{
    if (!out || (!data && len)) return tl_err_set(err, TL_EINVAL, NULL, "data and out must not be NULL");
    *out = NULL;
    struct tl_snap_reader r = {data, len, 0, 0};
    uint32_t magic = tl_snap_get_u32(&r), ver = tl_snap_get_u32(&r);
    if (r.bad || magic != SKNN_MAGIC) return tl_err_set(err, TL_EPARSE, NULL, "not an sknn snapshot");
    if (ver != SKNN_VERSION) return tl_err_set(err, TL_EPARSE, NULL, "sknn snapshot version %u unsupported", ver);
    struct tl_sknn_params p;
    memset(&p, 0, sizeof p);
    p.k = tl_snap_get_u32(&r);
    p.sample_size = tl_snap_get_u32(&r);
    uint32_t sim = tl_snap_get_u32(&r), dec = tl_snap_get_u32(&r), mdec = tl_snap_get_u32(&r);
    uint64_t idfw = tl_snap_get_u64(&r), nbd = tl_snap_get_u64(&r);
    p.max_history = tl_snap_get_u32(&r);
    uint32_t n_items = tl_snap_get_u32(&r), n_sess = tl_snap_get_u32(&r), n_ent = tl_snap_get_u32(&r);
    if (r.bad) return tl_err_set(err, TL_EPARSE, NULL, "sknn snapshot truncated in its header");
    uint64_t need = ((uint64_t)n_sess + 1 + n_ent + n_items) * 4 + 8;
    if (n_sess == UINT32_MAX || need != len - r.off)
        return tl_err_set(err, TL_EPARSE, NULL, "sknn snapshot has %zu bytes after the header, expected %llu",
                          len - r.off, (unsigned long long)need);
    struct tl_snap_reader tail = {(const uint8_t *)data + len - 8, 8, 0, 0};
    if (tl_hash(data, len - 8, 0) != tl_snap_get_u64(&tail))
        return tl_err_set(err, TL_EPARSE, NULL, "sknn snapshot checksum mismatch");
    if (sim > TL_SKNN_SIM_JACCARD || dec > TL_SKNN_QUADRATIC || mdec > TL_SKNN_QUADRATIC)
        return tl_err_set(err, TL_EPARSE, NULL, "sknn snapshot has an unknown similarity or decay");
    p.similarity = (enum tl_sknn_sim)sim;
    p.decay = (enum tl_sknn_decay)dec;
    p.match_decay = (enum tl_sknn_decay)mdec;
    memcpy(&p.idf_weight, &idfw, 8);
    memcpy(&p.neighbor_decay, &nbd, 8);
    if (!params_ok(&p)) return tl_err_set(err, TL_EPARSE, NULL, "sknn snapshot parameters out of range");

    struct sknn *m = tl_calloc(1, sizeof *m);
    uint32_t *mark = NULL;
    if (!m) goto nomem;
    m->p = p;
    m->n_items = n_items;
    m->n_sess = n_sess;
    m->n_ent = n_ent;
    m->s_off = tl_malloc(((size_t)n_sess + 1) * 4);
    m->s_item = tl_malloc(((size_t)n_ent ? n_ent : 1) * 4);
    m->idf = tl_malloc(((size_t)n_items ? n_items : 1) * 4);
    mark = tl_malloc(((size_t)n_items ? n_items : 1) * 4);
    if (!m->s_off || !m->s_item || !m->idf || !mark) goto nomem;
    tl_snap_get_u32s(&r, m->s_off, (size_t)n_sess + 1);
    tl_snap_get_u32s(&r, m->s_item, n_ent);
    tl_snap_get_f32s(&r, m->idf, n_items);
    const char *bad = r.bad ? "truncated" : NULL;
    if (!bad && (m->s_off[0] != 0 || m->s_off[n_sess] != n_ent)) bad = "session offsets do not span the items";
    for (uint32_t i = 0; !bad && i < n_items; i++) {
        mark[i] = UINT32_MAX;
        if (!isfinite(m->idf[i]) || m->idf[i] < 0) bad = "an idf value is negative or not finite";
    }
    for (uint32_t s = 0; !bad && s < n_sess; s++) {
        if (m->s_off[s + 1] < m->s_off[s] || m->s_off[s + 1] > n_ent) {
            bad = "session offsets are not ascending";
            break;
        }
        for (uint32_t e = m->s_off[s]; e < m->s_off[s + 1]; e++) {
            uint32_t it = m->s_item[e];
            if (it >= n_items || mark[it] == s) {
                bad = it >= n_items ? "an item index is out of range" : "an item repeats within a session";
                break;
            }
            mark[it] = s;
        }
    }
    tl_free(mark);
    mark = NULL;
    if (bad) {
        sknn_free(m);
        return tl_err_set(err, TL_EPARSE, NULL, "sknn snapshot damaged: %s", bad);
    }
    if (build_postings(m)) goto nomem;
    *out = m;
    return TL_OK;
nomem:
    tl_free(mark);
    sknn_free(m);
    return tl_err_set(err, TL_ENOMEM, NULL, "out of memory loading sknn snapshot");
}

const struct tl_model_ops tl_sknn_ops = {
    .name = "sknn",
    .params_size = sizeof(struct tl_sknn_params),
    .params_defaults = sknn_params_defaults,
    .param_set = sknn_param_set,
    .train = sknn_train,
    .candidates = sknn_candidates,
    .save = sknn_save,
    .load = sknn_load,
    .memory = sknn_memory,
    .free = sknn_free,
};
