/* Baseline models: popularity ("pop") and item-kNN cosine ("itemknn").
 * Formulas are in baselines.h.
 *
 * pop: count[i] = distinct training users of item i; order[] = all items
 *   sorted by count descending, ties by lower index. candidates() walks
 *   order[] and keeps the first k items skip() allows: O(k + skipped).
 *   Snapshot: u32 magic 'POP1', u32 n_items, n_items x u32 counts.
 *
 * itemknn: built from an item -> users index. For item i, a dense co-count
 *   scratch row (n_items u32) accumulates |U_i n U_j| over the users of i and
 *   their distinct items; the row's nonzero entries become cosine scores and
 *   the best `neighbors` are kept (ties: lower index). Items are split into
 *   fixed contiguous ranges, one per thread, so the result does not depend on
 *   the thread count. Cost sum over users of |items(u)|^2.
 *   Snapshot: u32 magic 'KNN1', u32 n_items, u32 neighbors,
 *   (n_items + 1) x u32 row offsets, then per neighbour u32 item, f32 sim. */
#include "model/baselines.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/topk.h"

#define POP_MAGIC 0x31504f50u /* "POP1" */
#define KNN_MAGIC 0x314e4e4bu /* "KNN1" */

/* ---- shared helpers ------------------------------------------------------ */

/* Distinct items of user u (first occurrence order) into out; returns count.
 * seen is an n_items byte array, all zero on entry and on return. */
static size_t user_items(const struct tl_dataset *d, uint32_t u, uint8_t *seen, uint32_t *out)
{
    size_t n = 0;
    for (size_t x = d->off[u]; x < d->off[u + 1]; x++) {
        uint32_t it = d->item[x];
        if (!seen[it]) {
            seen[it] = 1;
            out[n++] = it;
        }
    }
    for (size_t i = 0; i < n; i++) seen[out[i]] = 0;
    return n;
}

static enum tl_rc check_query(const struct tl_model_query *q, size_t k, struct tl_model_hit *out, size_t *n)
{
    if (!q || !n || (k && !out) || k > TL_MODEL_K_MAX || q->n_history > TL_MODEL_HISTORY_MAX ||
        (q->n_history && !q->history))
        return TL_EINVAL;
    *n = 0;
    return TL_OK;
}

/* ---- pop --------------------------------------------------------------- */

struct pop {
    uint32_t n_items;
    uint32_t *count;
    uint32_t *order;
};

static void pop_free(void *m)
{
    struct pop *p = m;
    if (!p) return;
    tl_free(p->count);
    tl_free(p->order);
    tl_free(p);
}

static const uint32_t *sort_counts;
static int by_count(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    if (sort_counts[x] != sort_counts[y]) return sort_counts[x] > sort_counts[y] ? -1 : 1;
    return x < y ? -1 : (x > y);
}

static pthread_mutex_t sort_lock = PTHREAD_MUTEX_INITIALIZER;

static enum tl_rc pop_finish(struct pop *p, struct tl_err *err)
{
    p->order = tl_malloc(((size_t)p->n_items + 1) * sizeof *p->order);
    if (!p->order) return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    for (uint32_t i = 0; i < p->n_items; i++) p->order[i] = i;
    /* qsort has no context argument in C17: serialise the comparator's global. */
    pthread_mutex_lock(&sort_lock);
    sort_counts = p->count;
    qsort(p->order, p->n_items, sizeof *p->order, by_count);
    pthread_mutex_unlock(&sort_lock);
    return TL_OK;
}

/* Distinct users per item, every interaction counted, or (trend) each
 * user's latest interaction with the item decayed by its age relative to
 * the newest interaction in the data: 2^(-(t_max - t) / half-life). Scores
 * are kept as floats scaled into the u32 counts array (x 1000) so one
 * snapshot format serves both. */
static enum tl_rc pop_train_any(const struct tl_dataset *d, const struct tl_pop_params *pp, double half_life_days,
                                const struct tl_train_opts *opts, void **out, struct tl_err *err);

static enum tl_rc pop_train(const struct tl_dataset *d, const void *params, const struct tl_train_opts *opts,
                            void **out, struct tl_err *err)
{
    return pop_train_any(d, params, 0.0, opts, out, err);
}

static enum tl_rc pop_train_any(const struct tl_dataset *d, const struct tl_pop_params *pp, double half_life_days,
                                const struct tl_train_opts *opts, void **out, struct tl_err *err)
{
    int rows = pp && pp->count_interactions;
    struct pop *p = tl_calloc(1, sizeof *p);
    uint8_t *seen = tl_calloc((size_t)d->n_items + 1, 1);
    uint32_t *tmp = tl_malloc(((size_t)d->n_items + 1) * sizeof *tmp);
    if (p) p->count = tl_calloc((size_t)d->n_items + 1, sizeof *p->count);
    if (!p || !seen || !tmp || !p->count) {
        tl_free(seen);
        tl_free(tmp);
        pop_free(p);
        return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    }
    p->n_items = d->n_items;
    if (half_life_days > 0) {
        int64_t tmax = INT64_MIN;
        for (size_t x = 0; x < d->n; x++)
            if (d->ts[x] > tmax) tmax = d->ts[x];
        double *acc = tl_calloc((size_t)d->n_items + 1, sizeof *acc);
        int64_t *last = tl_malloc(((size_t)d->n_items + 1) * sizeof *last);
        if (!acc || !last) {
            tl_free(acc);
            tl_free(last);
            tl_free(seen);
            tl_free(tmp);
            pop_free(p);
            return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
        }
        for (uint32_t u = 0; u < d->n_users; u++) {
            size_t n = user_items(d, u, seen, tmp);
            for (size_t i = 0; i < n; i++) last[tmp[i]] = INT64_MIN;
            for (size_t x = d->off[u]; x < d->off[u + 1]; x++)
                if (d->ts[x] > last[d->item[x]]) last[d->item[x]] = d->ts[x];
            for (size_t i = 0; i < n; i++)
                acc[tmp[i]] += exp2(-(double)(tmax - last[tmp[i]]) / (half_life_days * 86400000.0));
        }
        double mx = 0;
        for (uint32_t i = 0; i < d->n_items; i++) mx = acc[i] > mx ? acc[i] : mx;
        /* fixed point: at least 1 for anything seen, up to 1e9 */
        for (uint32_t i = 0; i < d->n_items; i++)
            p->count[i] = acc[i] > 0 ? (uint32_t)(1.0 + acc[i] / (mx > 0 ? mx : 1) * 1e9) : 0;
        tl_free(acc);
        tl_free(last);
    }
    for (uint32_t u = 0; u < d->n_users && half_life_days <= 0; u++) {
        if (rows) { /* every interaction counts */
            for (size_t x = d->off[u]; x < d->off[u + 1]; x++) p->count[d->item[x]]++;
            continue;
        }
        size_t n = user_items(d, u, seen, tmp);
        for (size_t i = 0; i < n; i++) p->count[tmp[i]]++;
    }
    tl_free(seen);
    tl_free(tmp);
    enum tl_rc rc = pop_finish(p, err);
    if (rc) {
        pop_free(p);
        return rc;
    }
    if (opts && opts->progress) opts->progress(opts->progress_ctx, 1.0, "counted");
    *out = p;
    return TL_OK;
}

static enum tl_rc pop_candidates(const void *m, const struct tl_model_query *q, tl_model_skip_fn skip, void *ctx,
                                 size_t k, struct tl_model_hit *out, size_t *n)
{
    const struct pop *p = m;
    enum tl_rc rc = check_query(q, k, out, n);
    if (rc || !p) return rc ? rc : TL_EINVAL;
    size_t got = 0;
    for (uint32_t x = 0; x < p->n_items && got < k; x++) {
        uint32_t it = p->order[x];
        if (p->count[it] == 0) break;
        if (skip && skip(ctx, it)) continue;
        out[got++] = (struct tl_model_hit){it, (float)p->count[it], TL_MODEL_NONE};
    }
    *n = got;
    return TL_OK;
}

static enum tl_rc pop_save(const void *m, struct tl_buf *out, struct tl_err *err)
{
    const struct pop *p = m;
    enum tl_rc rc = tl_snap_put_u32(out, POP_MAGIC);
    if (!rc) rc = tl_snap_put_u32(out, p->n_items);
    if (!rc) rc = tl_snap_put_u32s(out, p->count, p->n_items);
    return rc ? tl_err_set(err, rc, NULL, "cannot write the popularity snapshot") : TL_OK;
}

static enum tl_rc pop_load(const void *data, size_t len, void **out, struct tl_err *err)
{
    struct tl_snap_reader r = {data, len, 0, 0};
    if (tl_snap_get_u32(&r) != POP_MAGIC) return tl_err_set(err, TL_EPARSE, NULL, "not a popularity snapshot");
    uint32_t n = tl_snap_get_u32(&r);
    if (r.bad || n > TL_DATASET_IDS_MAX || (size_t)n * 4 != len - r.off)
        return tl_err_set(err, TL_EPARSE, NULL, "popularity snapshot truncated or damaged");
    struct pop *p = tl_calloc(1, sizeof *p);
    if (p) p->count = tl_malloc(((size_t)n + 1) * sizeof *p->count);
    if (!p || !p->count) {
        pop_free(p);
        return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    }
    p->n_items = n;
    tl_snap_get_u32s(&r, p->count, n);
    enum tl_rc rc = pop_finish(p, err);
    if (rc) {
        pop_free(p);
        return rc;
    }
    *out = p;
    return TL_OK;
}

static size_t pop_memory(const void *m)
{
    const struct pop *p = m;
    return p ? sizeof *p + 2 * ((size_t)p->n_items + 1) * sizeof(uint32_t) : 0;
}

static void pop_defaults(void *params)
{
    struct tl_pop_params *p = params;
    p->count_interactions = 0;
}

static enum tl_rc pop_param(void *params, const char *key, const char *value, struct tl_err *err)
{
    struct tl_pop_params *p = params;
    if (strcmp(key, "count_interactions") == 0)
        return tl_model_param_long(key, value, 0, 1, &p->count_interactions, err);
    return tl_err_set(err, TL_EINVAL, key, "model pop has no parameter %s (known: count_interactions)", key);
}

const struct tl_model_ops tl_pop_ops = {
    .name = "pop",
    .params_size = sizeof(struct tl_pop_params),
    .params_defaults = pop_defaults,
    .param_set = pop_param,
    .train = pop_train,
    .candidates = pop_candidates,
    .save = pop_save,
    .load = pop_load,
    .memory = pop_memory,
    .free = pop_free,
};

/* ---- trend: time-decayed popularity -------------------------------------- */

static void trend_defaults(void *params)
{
    struct tl_trend_params *p = params;
    p->half_life_days = 30;
}

static enum tl_rc trend_param(void *params, const char *key, const char *value, struct tl_err *err)
{
    struct tl_trend_params *p = params;
    if (strcmp(key, "half_life_days") == 0)
        return tl_model_param_double(key, value, 0.01, 36500, &p->half_life_days, err);
    return tl_err_set(err, TL_EINVAL, key, "model trend has no parameter %s (known: half_life_days)", key);
}

static enum tl_rc trend_train(const struct tl_dataset *d, const void *params, const struct tl_train_opts *opts,
                              void **out, struct tl_err *err)
{
    struct tl_trend_params def;
    trend_defaults(&def);
    const struct tl_trend_params *p = params ? params : &def;
    return pop_train_any(d, NULL, p->half_life_days, opts, out, err);
}

const struct tl_model_ops tl_trend_ops = {
    .name = "trend",
    .params_size = sizeof(struct tl_trend_params),
    .params_defaults = trend_defaults,
    .param_set = trend_param,
    .train = trend_train,
    .candidates = pop_candidates,
    .save = pop_save,
    .load = pop_load,
    .memory = pop_memory,
    .free = pop_free,
};

/* ---- itemknn ------------------------------------------------------------ */

struct knn {
    uint32_t n_items;
    uint32_t neighbors;
    uint32_t *off; /* n_items + 1 */
    uint32_t *nb;  /* neighbour items */
    float *sim;    /* their cosine */
};

static void knn_free(void *m)
{
    struct knn *p = m;
    if (!p) return;
    tl_free(p->off);
    tl_free(p->nb);
    tl_free(p->sim);
    tl_free(p);
}

static void knn_defaults(void *params)
{
    struct tl_itemknn_params *p = params;
    p->neighbors = 100;
}

static enum tl_rc knn_param(void *params, const char *key, const char *value, struct tl_err *err)
{
    struct tl_itemknn_params *p = params;
    if (strcmp(key, "neighbors") == 0) return tl_model_param_long(key, value, 1, 10000, &p->neighbors, err);
    return tl_err_set(err, TL_EINVAL, key, "model itemknn has no parameter %s (known: neighbors)", key);
}

/* Build inputs shared by the worker threads. */
struct knn_build {
    const struct tl_dataset *d;
    uint32_t *u_off, *u_items; /* distinct items per user (CSR) */
    uint32_t *i_off, *i_users; /* users per item (CSR) */
    uint32_t neighbors;
    uint32_t *nb;  /* n_items x neighbors */
    float *sim;    /* n_items x neighbors */
    uint32_t *cnt; /* n_items: neighbours kept */
    const volatile int *cancel;
};

struct knn_job {
    struct knn_build *b;
    uint32_t lo, hi;
    enum tl_rc rc;
};

static void *knn_worker(void *arg)
{
    struct knn_job *j = arg;
    struct knn_build *b = j->b;
    uint32_t ni = b->d->n_items;
    uint32_t *co = tl_calloc((size_t)ni + 1, sizeof *co);
    uint32_t *touched = tl_malloc(((size_t)ni + 1) * sizeof *touched);
    struct tl_topk_entry *heap = tl_malloc((size_t)b->neighbors * sizeof *heap);
    if (!co || !touched || !heap) {
        j->rc = TL_ENOMEM;
        goto out;
    }
    for (uint32_t i = j->lo; i < j->hi; i++) {
        if (b->cancel && *b->cancel) {
            j->rc = TL_ESHUTDOWN;
            break;
        }
        size_t nt = 0;
        for (uint32_t x = b->i_off[i]; x < b->i_off[i + 1]; x++) {
            uint32_t u = b->i_users[x];
            for (uint32_t y = b->u_off[u]; y < b->u_off[u + 1]; y++) {
                uint32_t it = b->u_items[y];
                if (it == i) continue;
                if (co[it]++ == 0) touched[nt++] = it;
            }
        }
        struct tl_topk h;
        tl_topk_init(&h, heap, b->neighbors);
        double ni_cnt = b->i_off[i + 1] - b->i_off[i];
        for (size_t t = 0; t < nt; t++) {
            uint32_t it = touched[t];
            double nj = b->i_off[it + 1] - b->i_off[it];
            tl_topk_push(&h, it, co[it] / sqrt(ni_cnt * nj)); /* cosine on binary vectors */
            co[it] = 0;
        }
        size_t kept = tl_topk_sort(&h);
        for (size_t t = 0; t < kept; t++) {
            b->nb[(size_t)i * b->neighbors + t] = heap[t].id;
            b->sim[(size_t)i * b->neighbors + t] = (float)heap[t].score;
        }
        b->cnt[i] = (uint32_t)kept;
    }
out:
    tl_free(co);
    tl_free(touched);
    tl_free(heap);
    return NULL;
}

static enum tl_rc knn_train(const struct tl_dataset *d, const void *params, const struct tl_train_opts *opts,
                            void **out, struct tl_err *err)
{
    struct tl_itemknn_params defp;
    knn_defaults(&defp);
    const struct tl_itemknn_params *p = params ? params : &defp;
    uint32_t ni = d->n_items, nu = d->n_users;
    struct knn_build b = {.d = d, .neighbors = (uint32_t)p->neighbors, .cancel = opts ? opts->cancel : NULL};
    enum tl_rc rc = TL_OK;
    struct knn *m = NULL;
    uint8_t *seen = tl_calloc((size_t)ni + 1, 1);
    b.u_off = tl_calloc((size_t)nu + 1, sizeof *b.u_off);
    b.u_items = tl_malloc((d->n + 1) * sizeof *b.u_items);
    b.i_off = tl_calloc((size_t)ni + 2, sizeof *b.i_off);
    b.cnt = tl_calloc((size_t)ni + 1, sizeof *b.cnt);
    if (!seen || !b.u_off || !b.u_items || !b.i_off || !b.cnt) {
        rc = TL_ENOMEM;
        goto done;
    }
    if (d->n > UINT32_MAX - 1) {
        rc = tl_err_set(err, TL_ETOOBIG, NULL, "itemknn handles at most 2^32-1 interactions");
        goto done;
    }
    for (uint32_t u = 0; u < nu; u++) {
        size_t n = user_items(d, u, seen, b.u_items + b.u_off[u]);
        b.u_off[u + 1] = b.u_off[u] + (uint32_t)n;
        for (size_t i = 0; i < n; i++) b.i_off[b.u_items[b.u_off[u] + i] + 2]++;
    }
    for (uint32_t i = 0; i < ni; i++) b.i_off[i + 2] += b.i_off[i + 1];
    b.i_users = tl_malloc(((size_t)b.u_off[nu] + 1) * sizeof *b.i_users);
    b.nb = tl_malloc(((size_t)ni * b.neighbors + 1) * sizeof *b.nb);
    b.sim = tl_malloc(((size_t)ni * b.neighbors + 1) * sizeof *b.sim);
    if (!b.i_users || !b.nb || !b.sim) {
        rc = TL_ENOMEM;
        goto done;
    }
    for (uint32_t u = 0; u < nu; u++)
        for (uint32_t y = b.u_off[u]; y < b.u_off[u + 1]; y++)
            b.i_users[b.i_off[b.u_items[y] + 1]++] = u; /* i_off shifted by one: fills then becomes offsets */
    int threads = opts && opts->threads > 0 ? opts->threads : 1;
    if (threads > 64) threads = 64;
    struct knn_job jobs[64] = {{0}};
    pthread_t tid[64];
    int started[64] = {0};
    for (int t = 0; t < threads; t++) {
        jobs[t] = (struct knn_job){&b, (uint32_t)((uint64_t)ni * t / threads),
                                   (uint32_t)((uint64_t)ni * (t + 1) / threads), TL_OK};
        if (t > 0) {
            started[t] = pthread_create(&tid[t], NULL, knn_worker, &jobs[t]) == 0;
            if (!started[t]) knn_worker(&jobs[t]); /* no thread: do the range here */
        }
    }
    knn_worker(&jobs[0]);
    for (int t = 1; t < threads; t++)
        if (started[t]) pthread_join(tid[t], NULL);
    for (int t = 0; t < threads; t++)
        if (jobs[t].rc && !rc) rc = jobs[t].rc;
    if (rc) goto done;
    m = tl_calloc(1, sizeof *m);
    if (!m) {
        rc = TL_ENOMEM;
        goto done;
    }
    m->n_items = ni;
    m->neighbors = b.neighbors;
    m->off = tl_malloc(((size_t)ni + 1) * sizeof *m->off);
    size_t total = 0;
    for (uint32_t i = 0; i < ni; i++) total += b.cnt[i];
    m->nb = tl_malloc((total + 1) * sizeof *m->nb);
    m->sim = tl_malloc((total + 1) * sizeof *m->sim);
    if (!m->off || !m->nb || !m->sim) {
        rc = TL_ENOMEM;
        goto done;
    }
    m->off[0] = 0;
    for (uint32_t i = 0; i < ni; i++) {
        memcpy(m->nb + m->off[i], b.nb + (size_t)i * b.neighbors, b.cnt[i] * sizeof *m->nb);
        memcpy(m->sim + m->off[i], b.sim + (size_t)i * b.neighbors, b.cnt[i] * sizeof *m->sim);
        m->off[i + 1] = m->off[i] + b.cnt[i];
    }
    if (opts && opts->progress) opts->progress(opts->progress_ctx, 1.0, "neighbours built");
done:
    tl_free(seen);
    tl_free(b.u_off);
    tl_free(b.u_items);
    tl_free(b.i_off);
    tl_free(b.i_users);
    tl_free(b.nb);
    tl_free(b.sim);
    tl_free(b.cnt);
    if (rc) {
        knn_free(m);
        if (rc == TL_ENOMEM)
            tl_err_set(err, rc, NULL, "out of memory building item neighbours");
        else if (rc == TL_ESHUTDOWN)
            tl_err_set(err, rc, NULL, "training cancelled");
        return rc;
    }
    *out = m;
    return TL_OK;
}

/* Per-query accumulator over the neighbours reached (open addressing, key
 * UINT32_MAX = empty): memory O(sources x neighbours), not O(n_items). */
struct kacc {
    uint32_t item;
    uint32_t from;
    float sum;
    float best;
    uint8_t is_source;
};

static struct kacc *kacc_find(struct kacc *t, size_t mask, uint32_t item)
{
    size_t i = (size_t)(((uint64_t)item * 0x9e3779b97f4a7c15ULL) >> 32) & mask;
    while (t[i].item != UINT32_MAX && t[i].item != item) i = (i + 1) & mask;
    return &t[i];
}

static enum tl_rc knn_candidates(const void *mv, const struct tl_model_query *q, tl_model_skip_fn skip, void *ctx,
                                 size_t k, struct tl_model_hit *out, size_t *n)
{
    const struct knn *m = mv;
    enum tl_rc rc = check_query(q, k, out, n);
    if (rc || !m) return rc ? rc : TL_EINVAL;
    if (k == 0) return TL_OK;
    /* Anchor, or the distinct history items, are the sources. */
    uint32_t one = q->anchor;
    const uint32_t *src = q->anchor != TL_MODEL_NONE ? &one : q->history;
    size_t ns = q->anchor != TL_MODEL_NONE ? 1 : q->n_history;
    size_t reach = ns;
    for (size_t i = 0; i < ns; i++)
        if (src[i] < m->n_items) reach += m->off[src[i] + 1] - m->off[src[i]];
    size_t cap = 16;
    while (cap < 2 * reach) cap *= 2;
    struct kacc *t = tl_malloc(cap * sizeof *t);
    uint32_t *touched = tl_malloc((reach + 1) * sizeof *touched);
    struct tl_topk_entry *heap = tl_malloc(k * sizeof *heap);
    struct tl_topk_entry *cand = tl_malloc((reach + 1) * sizeof *cand), *work = tl_malloc((reach + 1) * sizeof *work);
    if (!t || !touched || !heap || !cand || !work) {
        rc = TL_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < cap; i++) t[i].item = UINT32_MAX;
    size_t nt = 0;
    for (size_t s = 0; s < ns; s++) { /* mark the sources first */
        uint32_t h = src[s];
        if (h >= m->n_items) continue;
        struct kacc *a = kacc_find(t, cap - 1, h);
        if (a->item == UINT32_MAX) {
            *a = (struct kacc){h, 0, 0.0f, 0.0f, 0};
            touched[nt++] = h;
        }
        if (a->is_source) continue; /* a repeated history item counts once */
        a->is_source = 1;
        for (uint32_t x = m->off[h]; x < m->off[h + 1]; x++) {
            uint32_t j = m->nb[x];
            struct kacc *b = kacc_find(t, cap - 1, j);
            if (b->item == UINT32_MAX) {
                *b = (struct kacc){j, 0, 0.0f, 0.0f, 0};
                touched[nt++] = j;
            }
            b->sum += m->sim[x];
            if (m->sim[x] > b->best) {
                b->best = m->sim[x];
                b->from = h;
            }
        }
    }
    /* every reached item with a positive sum, then the best k the serving
     * rules admit, asked of the best only (tl_topk_best_passing) */
    size_t nc = 0;
    for (size_t i = 0; i < nt; i++) {
        const struct kacc *a = kacc_find(t, cap - 1, touched[i]);
        if (a->sum <= 0.0f || (a->is_source && q->anchor != TL_MODEL_NONE)) continue;
        cand[nc++] = (struct tl_topk_entry){a->item, a->sum};
    }
    size_t got = tl_topk_best_passing(cand, nc, k, skip, ctx, work, heap);
    for (size_t i = 0; i < got; i++)
        out[i] = (struct tl_model_hit){heap[i].id, (float)heap[i].score, kacc_find(t, cap - 1, heap[i].id)->from};
    *n = got;
out:
    tl_free(t);
    tl_free(touched);
    tl_free(heap);
    tl_free(cand);
    tl_free(work);
    return rc;
}

static enum tl_rc knn_save(const void *mv, struct tl_buf *out, struct tl_err *err)
{
    const struct knn *m = mv;
    enum tl_rc rc = tl_snap_put_u32(out, KNN_MAGIC);
    if (!rc) rc = tl_snap_put_u32(out, m->n_items);
    if (!rc) rc = tl_snap_put_u32(out, m->neighbors);
    if (!rc) rc = tl_snap_put_u32s(out, m->off, (size_t)m->n_items + 1);
    for (uint32_t x = 0; !rc && x < m->off[m->n_items]; x++) {
        rc = tl_snap_put_u32(out, m->nb[x]);
        if (!rc) rc = tl_snap_put_f32s(out, &m->sim[x], 1);
    }
    return rc ? tl_err_set(err, rc, NULL, "cannot write the itemknn snapshot") : TL_OK;
}

static enum tl_rc knn_load(const void *data, size_t len, void **out, struct tl_err *err)
{
    struct tl_snap_reader r = {data, len, 0, 0};
    if (tl_snap_get_u32(&r) != KNN_MAGIC) return tl_err_set(err, TL_EPARSE, NULL, "not an itemknn snapshot");
    uint32_t ni = tl_snap_get_u32(&r);
    uint32_t nbk = tl_snap_get_u32(&r);
    if (r.bad || ni > TL_DATASET_IDS_MAX || nbk == 0 || nbk > 10000 || ((size_t)ni + 1) * 4 > len - r.off)
        return tl_err_set(err, TL_EPARSE, NULL, "itemknn snapshot truncated or damaged (header)");
    struct knn *m = tl_calloc(1, sizeof *m);
    if (m) m->off = tl_malloc(((size_t)ni + 1) * sizeof *m->off);
    if (!m || !m->off) {
        knn_free(m);
        return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    }
    m->n_items = ni;
    m->neighbors = nbk;
    tl_snap_get_u32s(&r, m->off, (size_t)ni + 1);
    int ok = m->off[0] == 0;
    for (uint32_t i = 0; ok && i < ni; i++) ok = m->off[i + 1] >= m->off[i] && m->off[i + 1] - m->off[i] <= nbk;
    size_t total = ok ? m->off[ni] : 0;
    if (!ok || total * 8 != len - r.off) {
        knn_free(m);
        return tl_err_set(err, TL_EPARSE, NULL, "itemknn snapshot truncated or damaged (rows)");
    }
    m->nb = tl_malloc((total + 1) * sizeof *m->nb);
    m->sim = tl_malloc((total + 1) * sizeof *m->sim);
    if (!m->nb || !m->sim) {
        knn_free(m);
        return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    }
    for (size_t x = 0; x < total; x++) {
        m->nb[x] = tl_snap_get_u32(&r);
        tl_snap_get_f32s(&r, &m->sim[x], 1);
        if (m->nb[x] >= ni || !isfinite(m->sim[x])) r.bad = 1;
    }
    if (r.bad) {
        knn_free(m);
        return tl_err_set(err, TL_EPARSE, NULL, "itemknn snapshot damaged (neighbour out of range)");
    }
    *out = m;
    return TL_OK;
}

static size_t knn_memory(const void *mv)
{
    const struct knn *m = mv;
    return m ? sizeof *m + ((size_t)m->n_items + 1) * 4 + (size_t)m->off[m->n_items] * 8 : 0;
}

const struct tl_model_ops tl_itemknn_ops = {
    .name = "itemknn",
    .params_size = sizeof(struct tl_itemknn_params),
    .params_defaults = knn_defaults,
    .param_set = knn_param,
    .train = knn_train,
    .candidates = knn_candidates,
    .save = knn_save,
    .load = knn_load,
    .memory = knn_memory,
    .free = knn_free,
};
