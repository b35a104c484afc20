/* EASE (Steck 2019, "Embarrassingly Shallow Autoencoders for Sparse Data")
 * on OpenBLAS/LAPACKE, behind the model ops table as "ease" (see ease.h).
 *
 * Training (n = n_items):
 *   1. Each user's items are de-duplicated and sorted (the binary rows of X);
 *      count[i] = number of users with item i.
 *   2. G = X^T X as float, accumulated from the sparse rows: for every user
 *      and every ordered pair (a, b) of their distinct items, G[a][b] += 1.
 *      Threads own fixed, disjoint ranges of rows a, so the counts (exact
 *      integers below 2^24) do not depend on the thread count.
 *   3. G += lambda I (lambda default 200).
 *   4. P = G^-1 by LAPACKE_spotrf + LAPACKE_spotri (column-major, lower) in
 *      place. Single precision was chosen over dpotrf/dpotri because it halves
 *      the memory (n^2 * 4 bytes, the same buffer then holds B) and runs about
 *      twice as fast; G is symmetric positive definite with eigenvalues in
 *      [lambda, lambda + max item count], so its condition number is at most
 *      1 + max_count / lambda (e.g. ~100 for Amazon Beauty at lambda 50) and
 *      float keeps ~5 correct digits of B. The unit test compares against a
 *      double-precision brute-force inverse; the Beauty check in the report
 *      compares rankings of the float and double solutions.
 *   5. B[r][c] = -P[r][c] / P[c][c] for r != c, B[c][c] = 0, stored row-major
 *      (row i = the weights item i gives to every item). Rows and columns of
 *      items never seen in training are exactly 0.
 *   BLAS/LAPACK threads: openblas_set_num_threads(opts->threads) around the
 *   factorisation, restoring the previous value afterwards. This is a
 *   process-wide OpenBLAS setting: a concurrent BLAS user elsewhere in the
 *   process sees it for the duration of the call.
 *
 * Scoring: score(j) = sum over the distinct history items i (ascending
 * index order, float accumulation) of B[i][j]. A training user's row is
 * summed in the same order, so q->user and q->history give bit-identical
 * scores. With q->hweight the sum is weighted, sum_i w_i B[i][j], w_i the
 * largest weight item i was given in the history (items in first-seen
 * order; O(history^2) to de-duplicate, history <= 1000). Items with count
 * 0 are never returned.
 *
 * Invariants of a trained model: b has n_items^2 finite floats with a zero
 * diagonal; count[i] == 0 implies row i and column i of b are 0; user rows
 * are sorted, distinct and < n_items.
 *
 * Snapshot (little-endian, model.h helpers):
 *   u32 magic 0x45534145 ("EASE"), u32 version 1,
 *   u32 n_items, u32 n_users, u64 lambda (IEEE double bits), u64 nnz,
 *   u32 count[n_items], u32 row_len[n_users], u32 items[nnz],
 *   f32 B[n_items * n_items] (row-major).
 *   load() checks every size against the bytes left before allocating, that
 *   sum(row_len) == nnz, that rows are sorted/distinct/in range, that B is
 *   finite with a zero diagonal, and that nothing trails. */
#include "model/ease.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/topk.h"

#define EASE_MAGIC 0x45534145u
#define EASE_VERSION 1u
#define EASE_LAMBDA_MAX 1e7

struct tl_ease {
    uint32_t n_items;
    uint32_t n_users;
    double lambda;
    float *b;        /* n_items * n_items, row-major */
    uint32_t *count; /* n_items: users per item */
    size_t *uoff;    /* n_users + 1 */
    uint32_t *uitem; /* uoff[n_users]: sorted distinct items per user */
};

/* ---------- params ---------- */

static void ease_params_defaults(void *params)
{
    struct tl_ease_params *p = params;
    p->lambda = TL_EASE_LAMBDA_DEFAULT;
    p->max_items = TL_EASE_MAX_ITEMS_DEFAULT;
}

static enum tl_rc ease_param_set(void *params, const char *key, const char *value, struct tl_err *err)
{
    struct tl_ease_params *p = params;
    if (!p || !key) return tl_err_set(err, TL_EINVAL, NULL, "no params or key");
    if (strcmp(key, "lambda") == 0) {
        double v;
        enum tl_rc rc = tl_model_param_double(key, value, 1e-6, EASE_LAMBDA_MAX, &v, err);
        if (rc == TL_OK) p->lambda = v;
        return rc;
    }
    if (strcmp(key, "max_items") == 0) {
        long v;
        enum tl_rc rc = tl_model_param_long(key, value, 1, TL_EASE_MAX_ITEMS_LIMIT, &v, err);
        if (rc == TL_OK) p->max_items = (size_t)v;
        return rc;
    }
    return tl_err_set(err, TL_EINVAL, key, "unknown ease parameter \"%s\" (known: lambda, max_items)", key);
}

/* ---------- model memory ---------- */

static void ease_free(void *model)
{
    struct tl_ease *m = model;
    if (!m) return;
    tl_free(m->b);
    tl_free(m->count);
    tl_free(m->uoff);
    tl_free(m->uitem);
    tl_free(m);
}

static size_t ease_memory(const void *model)
{
    const struct tl_ease *m = model;
    if (!m) return 0;
    size_t n = m->n_items;
    return sizeof *m + n * n * sizeof(float) + n * sizeof(uint32_t) + ((size_t)m->n_users + 1) * sizeof(size_t) +
           m->uoff[m->n_users] * sizeof(uint32_t);
}

static int u32_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : (x > y);
}

/* Sort v[0..n) and drop duplicates; returns the new length. */
static size_t sort_unique(uint32_t *v, size_t n)
{
    if (n < 2) return n;
    qsort(v, n, sizeof *v, u32_cmp);
    size_t w = 1;
    for (size_t i = 1; i < n; i++)
        if (v[i] != v[w - 1]) v[w++] = v[i];
    return w;
}

/* ---------- training ---------- */

struct gram_job {
    const struct tl_ease *m;
    float *g;
    uint32_t lo, hi; /* rows a in [lo, hi) */
    const volatile int *cancel;
};

static void *gram_worker(void *arg)
{
    struct gram_job *j = arg;
    const struct tl_ease *m = j->m;
    size_t n = m->n_items;
    for (uint32_t u = 0; u < m->n_users; u++) {
        if ((u & 4095) == 0 && j->cancel && *j->cancel) return NULL;
        const uint32_t *row = m->uitem + m->uoff[u];
        size_t len = m->uoff[u + 1] - m->uoff[u];
        for (size_t x = 0; x < len; x++) {
            uint32_t a = row[x];
            if (a < j->lo || a >= j->hi) continue;
            float *ga = j->g + (size_t)a * n;
            for (size_t y = 0; y < len; y++) ga[row[y]] += 1.0f;
        }
    }
    return NULL;
}

/* G = X^T X over `threads` fixed row ranges. */
static enum tl_rc gram(const struct tl_ease *m, float *g, int threads, const volatile int *cancel, struct tl_err *err)
{
    enum { MAX_T = 64 };
    if (threads < 1) threads = 1;
    if (threads > MAX_T) threads = MAX_T;
    struct gram_job jobs[MAX_T] = {{0}};
    pthread_t tid[MAX_T];
    int started[MAX_T] = {0};
    uint32_t n = m->n_items;
    for (int t = 0; t < threads; t++) {
        jobs[t] = (struct gram_job){m, g, (uint32_t)((uint64_t)n * t / threads),
                                    (uint32_t)((uint64_t)n * (t + 1) / threads), cancel};
    }
    for (int t = 1; t < threads; t++) started[t] = pthread_create(&tid[t], NULL, gram_worker, &jobs[t]) == 0;
    gram_worker(&jobs[0]);
    for (int t = 1; t < threads; t++) {
        if (started[t])
            pthread_join(tid[t], NULL);
        else
            gram_worker(&jobs[t]); /* could not start a thread: do its share here */
    }
    (void)err;
    return TL_OK;
}

static void report(const struct tl_train_opts *o, double frac, const char *phase)
{
    if (o && o->progress) o->progress(o->progress_ctx, frac, phase);
}

static int cancelled(const struct tl_train_opts *o) { return o && o->cancel && *o->cancel; }

/* In place: a holds P in column-major lower storage (= row-major upper,
 * a[r*n + c] valid for c >= r). Turn it into row-major B. */
static void weights_from_inverse(float *a, size_t n, const uint32_t *count, float *dg)
{
    const size_t T = 64;
    for (size_t c = 0; c < n; c++) dg[c] = a[c * n + c];
    /* mirror the upper triangle into the lower one, tile by tile */
    for (size_t r0 = 0; r0 < n; r0 += T)
        for (size_t c0 = r0; c0 < n; c0 += T)
            for (size_t r = r0; r < r0 + T && r < n; r++)
                for (size_t c = (c0 > r + 1 ? c0 : r + 1); c < c0 + T && c < n; c++) a[c * n + r] = a[r * n + c];
    for (size_t c = 0; c < n; c++) dg[c] = -1.0f / dg[c];
    for (size_t r = 0; r < n; r++) {
        float *row = a + r * n;
        if (!count[r]) {
            memset(row, 0, n * sizeof *row);
            continue;
        }
        for (size_t c = 0; c < n; c++) row[c] = count[c] ? row[c] * dg[c] : 0.0f;
        row[r] = 0.0f;
    }
}

static enum tl_rc ease_train(const struct tl_dataset *d, const void *params, const struct tl_train_opts *opts,
                             void **out, struct tl_err *err)
{
    struct tl_ease_params def;
    if (!params) {
        ease_params_defaults(&def);
        params = &def;
    }
    const struct tl_ease_params *p = params;
    if (!d || !out) return tl_err_set(err, TL_EINVAL, NULL, "no dataset or output");
    *out = NULL;
    if (!(p->lambda > 0) || !isfinite(p->lambda))
        return tl_err_set(err, TL_EINVAL, "lambda", "lambda must be a finite number > 0");
    if (d->n_items > p->max_items)
        return tl_err_set(err, TL_ETOOBIG, "max_items",
                          "ease needs n_items^2 * 4 bytes (%.1f GB for %u items); %u items exceed max_items %zu",
                          (double)d->n_items * d->n_items * 4 / 1e9, d->n_items, d->n_items, p->max_items);
    int threads = opts && opts->threads > 0 ? opts->threads : 1;

    struct tl_ease *m = tl_calloc(1, sizeof *m);
    if (!m) return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    size_t n = d->n_items;
    m->n_items = d->n_items;
    m->n_users = d->n_users;
    m->lambda = p->lambda;
    m->count = tl_calloc(n ? n : 1, sizeof *m->count);
    m->uoff = tl_calloc((size_t)d->n_users + 1, sizeof *m->uoff);
    m->uitem = tl_malloc((d->n ? d->n : 1) * sizeof *m->uitem);
    float *dg = tl_malloc((n ? n : 1) * sizeof *dg);
    if (!m->count || !m->uoff || !m->uitem || !dg) goto nomem;

    /* 1. distinct sorted rows */
    size_t w = 0;
    for (uint32_t u = 0; u < d->n_users; u++) {
        size_t len = d->off[u + 1] - d->off[u];
        memcpy(m->uitem + w, d->item + d->off[u], len * sizeof *m->uitem);
        len = sort_unique(m->uitem + w, len);
        for (size_t x = 0; x < len; x++) m->count[m->uitem[w + x]]++;
        w += len;
        m->uoff[u + 1] = w;
    }
    if (w && w < d->n) {
        uint32_t *shrunk = tl_realloc(m->uitem, w * sizeof *shrunk);
        if (shrunk) m->uitem = shrunk;
    }

    /* 2-3. Gram matrix */
    report(opts, 0.0, "gram");
    if (n) {
        m->b = tl_calloc(n * n, sizeof *m->b);
        if (!m->b) {
            tl_free(dg);
            ease_free(m);
            return tl_err_set(err, TL_ENOMEM, NULL, "out of memory for the %u x %u ease matrix (%.1f GB)", d->n_items,
                              d->n_items, (double)n * n * 4 / 1e9);
        }
    }
    enum tl_rc rc = gram(m, m->b, threads, opts ? opts->cancel : NULL, err);
    if (rc == TL_OK && cancelled(opts)) rc = tl_err_set(err, TL_ESHUTDOWN, NULL, "ease training cancelled");
    if (rc != TL_OK) goto fail;
    for (size_t i = 0; i < n; i++) m->b[i * n + i] += (float)p->lambda;

    /* 4. inverse */
    if (n) {
        int prev = openblas_get_num_threads();
        openblas_set_num_threads(threads);
        report(opts, 0.1, "cholesky");
        lapack_int info = LAPACKE_spotrf(LAPACK_COL_MAJOR, 'L', (lapack_int)n, m->b, (lapack_int)n);
        if (info == 0 && !cancelled(opts)) {
            report(opts, 0.4, "inverse");
            info = LAPACKE_spotri(LAPACK_COL_MAJOR, 'L', (lapack_int)n, m->b, (lapack_int)n);
        }
        openblas_set_num_threads(prev);
        if (cancelled(opts)) {
            rc = tl_err_set(err, TL_ESHUTDOWN, NULL, "ease training cancelled");
            goto fail;
        }
        if (info != 0) {
            rc = tl_err_set(err, TL_EINTERNAL, NULL, "ease: Cholesky inverse failed (LAPACK info %d)", (int)info);
            goto fail;
        }
        /* 5. weights */
        report(opts, 0.95, "weights");
        weights_from_inverse(m->b, n, m->count, dg);
        for (size_t i = 0; i < n * n; i++)
            if (!isfinite(m->b[i])) {
                rc = tl_err_set(err, TL_EINTERNAL, NULL, "ease: non-finite weight (lambda too small?)");
                goto fail;
            }
    }
    tl_free(dg);
    report(opts, 1.0, "done");
    *out = m;
    return TL_OK;
nomem:
    rc = tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
fail:
    tl_free(dg);
    ease_free(m);
    return rc;
}

/* ---------- scoring ---------- */

/* out[j] = sum over items[0..n) (sorted, distinct, < n_items) of B[i][j];
 * when best != NULL also track the largest term per j (best / bval). */
static void score_rows(const struct tl_ease *m, const uint32_t *items, const float *w, size_t n, float *out,
                       uint32_t *best, float *bval)
{
    size_t ni = m->n_items;
    memset(out, 0, ni * sizeof *out);
    if (best)
        for (size_t j = 0; j < ni; j++) {
            best[j] = TL_MODEL_NONE;
            bval[j] = -INFINITY;
        }
    for (size_t x = 0; x < n; x++) {
        const float *row = m->b + (size_t)items[x] * ni;
        const float wx = w ? w[x] : 1.0f;
#pragma omp simd
        for (size_t j = 0; j < ni; j++) out[j] += wx * row[j];
        if (best)
            for (size_t j = 0; j < ni; j++)
                if (wx * row[j] > bval[j]) {
                    bval[j] = wx * row[j];
                    best[j] = items[x];
                }
    }
}

/* Known history items with weights: distinct items (first occurrence order)
 * into buf, each with the largest weight it was given (finite, > 0). */
static size_t history_weighted(const struct tl_ease *m, const uint32_t *h, const float *hw, size_t n, uint32_t *buf,
                               float *w)
{
    size_t len = 0;
    for (size_t x = 0; x < n; x++) {
        if (h[x] >= m->n_items || !(hw[x] > 0.0f) || !isfinite(hw[x])) continue;
        size_t y = 0;
        while (y < len && buf[y] != h[x]) y++;
        if (y == len) {
            buf[len] = h[x];
            w[len++] = hw[x];
        } else if (hw[x] > w[y]) {
            w[y] = hw[x];
        }
    }
    return len;
}

/* Copy the known history items into buf, sorted and distinct. */
static size_t history_set(const struct tl_ease *m, const uint32_t *h, size_t n, uint32_t *buf)
{
    size_t w = 0;
    for (size_t x = 0; x < n; x++)
        if (h[x] < m->n_items) buf[w++] = h[x];
    return sort_unique(buf, w);
}

void tl_ease_scores(const struct tl_ease *m, const uint32_t *items, size_t n, float *out)
{
    /* the first TL_MODEL_HISTORY_MAX items, sorted and distinct on the stack */
    uint32_t buf[TL_MODEL_HISTORY_MAX];
    if (n > TL_MODEL_HISTORY_MAX) n = TL_MODEL_HISTORY_MAX;
    size_t len = history_set(m, items, n, buf);
    score_rows(m, buf, NULL, len, out, NULL, NULL);
}

uint32_t tl_ease_n_items(const struct tl_ease *m) { return m ? m->n_items : 0; }

const float *tl_ease_row(const struct tl_ease *m, uint32_t i)
{
    return m && i < m->n_items ? m->b + (size_t)i * m->n_items : NULL;
}

static enum tl_rc ease_candidates(const void *model, const struct tl_model_query *q, tl_model_skip_fn skip,
                                  void *skip_ctx, size_t k, struct tl_model_hit *out, size_t *n)
{
    const struct tl_ease *m = model;
    if (!m || !q || !n || k > TL_MODEL_K_MAX || (k && !out) || q->n_history > TL_MODEL_HISTORY_MAX ||
        (q->n_history && !q->history))
        return TL_EINVAL;
    *n = 0;
    size_t ni = m->n_items;
    if (k == 0 || ni == 0) return TL_OK;

    uint32_t hist[TL_MODEL_HISTORY_MAX];
    float wts[TL_MODEL_HISTORY_MAX];
    const float *w = NULL;
    const uint32_t *items = hist;
    size_t len = 0;
    uint32_t anchor = TL_MODEL_NONE;
    if (q->anchor != TL_MODEL_NONE) {
        if (q->anchor >= ni || !m->count[q->anchor]) return TL_OK;
        anchor = hist[0] = q->anchor;
        len = 1;
    } else if (q->n_history && q->hweight) {
        len = history_weighted(m, q->history, q->hweight, q->n_history, hist, wts);
        w = wts;
    } else if (q->n_history) {
        len = history_set(m, q->history, q->n_history, hist);
    } else if (q->user < m->n_users) {
        items = m->uitem + m->uoff[q->user];
        len = m->uoff[q->user + 1] - m->uoff[q->user];
    }
    if (len == 0) return TL_OK;

    /* one scratch block: scores, best contributor, best term, heap */
    size_t bytes = ni * (sizeof(float) * 2 + sizeof(uint32_t)) + k * sizeof(struct tl_topk_entry);
    void *scratch = tl_malloc(bytes);
    if (!scratch) return TL_ENOMEM;
    struct tl_topk_entry *heap = scratch; /* first: strictest alignment */
    float *s = (float *)(heap + k);
    float *bval = s + ni;
    uint32_t *best = (uint32_t *)(bval + ni);
    score_rows(m, items, w, len, s, best, bval);

    struct tl_topk h;
    tl_topk_init(&h, heap, k);
    for (uint32_t j = 0; j < ni; j++) {
        if (!m->count[j] || j == anchor || !tl_topk_accepts(&h, j, s[j])) continue;
        if (skip && skip(skip_ctx, j)) continue;
        tl_topk_push(&h, j, s[j]);
    }
    size_t got = tl_topk_sort(&h);
    for (size_t x = 0; x < got; x++) out[x] = (struct tl_model_hit){heap[x].id, (float)heap[x].score, best[heap[x].id]};
    *n = got;
    tl_free(scratch);
    return TL_OK;
}

/* ---------- snapshot ---------- */

static enum tl_rc ease_save(const void *model, struct tl_buf *out, struct tl_err *err)
{
    const struct tl_ease *m = model;
    if (!m || !out) return tl_err_set(err, TL_EINVAL, NULL, "no model or buffer");
    size_t n = m->n_items, nnz = m->uoff[m->n_users];
    uint64_t lb;
    memcpy(&lb, &m->lambda, 8);
    enum tl_rc rc = tl_buf_reserve(out, 40 + 4 * (n + m->n_users + nnz + n * n));
    if (rc == TL_OK) rc = tl_snap_put_u32(out, EASE_MAGIC);
    if (rc == TL_OK) rc = tl_snap_put_u32(out, EASE_VERSION);
    if (rc == TL_OK) rc = tl_snap_put_u32(out, m->n_items);
    if (rc == TL_OK) rc = tl_snap_put_u32(out, m->n_users);
    if (rc == TL_OK) rc = tl_snap_put_u64(out, lb);
    if (rc == TL_OK) rc = tl_snap_put_u64(out, nnz);
    if (rc == TL_OK) rc = tl_snap_put_u32s(out, m->count, n);
    for (uint32_t u = 0; rc == TL_OK && u < m->n_users; u++)
        rc = tl_snap_put_u32(out, (uint32_t)(m->uoff[u + 1] - m->uoff[u]));
    if (rc == TL_OK) rc = tl_snap_put_u32s(out, m->uitem, nnz);
    if (rc == TL_OK && n) rc = tl_snap_put_f32s(out, m->b, n * n);
    if (rc != TL_OK)
        return tl_err_set(err, rc, NULL, "cannot write the ease snapshot (%.1f MB)", (double)n * n * 4 / 1e6);
    return TL_OK;
}

static enum tl_rc ease_load(const void *data, size_t len, void **out, struct tl_err *err)
{
    if (!out || (!data && len)) return tl_err_set(err, TL_EINVAL, NULL, "no snapshot or output");
    *out = NULL;
    struct tl_snap_reader r = {data, len, 0, 0};
    uint32_t magic = tl_snap_get_u32(&r), ver = tl_snap_get_u32(&r);
    uint32_t ni = tl_snap_get_u32(&r), nu = tl_snap_get_u32(&r);
    uint64_t lb = tl_snap_get_u64(&r), nnz = tl_snap_get_u64(&r);
    if (r.bad) return tl_err_set(err, TL_EPARSE, "snapshot", "ease snapshot: truncated header");
    if (magic != EASE_MAGIC || ver != EASE_VERSION)
        return tl_err_set(err, TL_EPARSE, "snapshot", "not an ease snapshot of version %u", EASE_VERSION);
    double lambda;
    memcpy(&lambda, &lb, 8);
    if (!(lambda > 0) || !isfinite(lambda) || ni > TL_EASE_MAX_ITEMS_LIMIT || nu > TL_DATASET_IDS_MAX)
        return tl_err_set(err, TL_EPARSE, "snapshot", "ease snapshot: bad header values");
    size_t left = len - r.off, n = ni;
    /* exact size check before any allocation */
    if (nnz > left / 4 || left != 4 * (n + (size_t)nu + (size_t)nnz + n * n))
        return tl_err_set(err, TL_EPARSE, "snapshot", "ease snapshot: %zu bytes where the header implies %zu", left,
                          4 * (n + (size_t)nu + (size_t)(nnz > left ? 0 : nnz) + n * n));
    struct tl_ease *m = tl_calloc(1, sizeof *m);
    if (!m) return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    m->n_items = ni;
    m->n_users = nu;
    m->lambda = lambda;
    m->count = tl_malloc((n ? n : 1) * sizeof *m->count);
    m->uoff = tl_calloc((size_t)nu + 1, sizeof *m->uoff);
    m->uitem = tl_malloc((nnz ? nnz : 1) * sizeof *m->uitem);
    m->b = tl_malloc((n ? n * n : 1) * sizeof *m->b);
    if (!m->count || !m->uoff || !m->uitem || !m->b) {
        ease_free(m);
        return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    }
    const char *bad = NULL;
    tl_snap_get_u32s(&r, m->count, n);
    for (uint32_t u = 0; u < nu && !bad; u++) {
        uint32_t l = tl_snap_get_u32(&r);
        m->uoff[u + 1] = m->uoff[u] + l;
        if (m->uoff[u + 1] > nnz) bad = "user rows exceed nnz";
    }
    if (!bad && m->uoff[nu] != nnz) bad = "user rows do not add up to nnz";
    tl_snap_get_u32s(&r, m->uitem, nnz);
    for (uint32_t u = 0; u < nu && !bad; u++)
        for (size_t x = m->uoff[u]; x < m->uoff[u + 1]; x++)
            if (m->uitem[x] >= ni || (x > m->uoff[u] && m->uitem[x] <= m->uitem[x - 1]) || !m->count[m->uitem[x]]) {
                bad = "user row not sorted, distinct, known items";
                break;
            }
    tl_snap_get_f32s(&r, m->b, n * n);
    for (size_t i = 0; i < n * n && !bad; i++)
        if (!isfinite(m->b[i])) bad = "non-finite weight";
    for (size_t i = 0; i < n && !bad; i++)
        if (m->b[i * n + i] != 0.0f) bad = "non-zero diagonal";
    if (!bad && (r.bad || r.off != len)) bad = "truncated or trailing bytes";
    if (bad) {
        ease_free(m);
        return tl_err_set(err, TL_EPARSE, "snapshot", "ease snapshot: %s", bad);
    }
    *out = m;
    return TL_OK;
}

const struct tl_model_ops tl_ease_ops = {
    .name = "ease",
    .params_size = sizeof(struct tl_ease_params),
    .params_defaults = ease_params_defaults,
    .param_set = ease_param_set,
    .train = ease_train,
    .candidates = ease_candidates,
    .save = ease_save,
    .load = ease_load,
    .memory = ease_memory,
    .free = ease_free,
};
