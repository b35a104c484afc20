/* iALS with conjugate-gradient row updates, behind the model ops table as
 * "ials" (see ials.h for the objective, parameters and serving rules).
 *
 * Data: the dataset's rows are collapsed per (user, item): w_ui = sum of the
 * weights of u's interactions with i; stored as user rows (items ascending)
 * and their transpose (users ascending per item), each entry carrying
 * cm1 = c_ui - 1 = alpha * w_ui.
 *
 * Alternating least squares (Hu, Koren, Volinsky 2008): with the item factors
 * Y fixed, each user's exact update solves
 *   A_u x_u = b_u,  A_u = Y^T Y + reg I + sum_{i in I_u} cm1_ui y_i y_i^T,
 *                   b_u = sum_{i in I_u} (1 + cm1_ui) y_i          (p_ui = 1)
 * and symmetrically for items with the user factors fixed. The dense part
 * gram = Y^T Y + reg I is computed once per half-iteration with cblas_ssyrk;
 * the sparse part is never formed: A_u v = gram v + sum_i cm1_ui (y_i.v) y_i.
 *
 * Row update (Takacs, Pilaszy, Tikk 2011; as the `implicit` library's CG
 * solver): `cg_steps` (default 3) conjugate-gradient steps on A_u x = b_u,
 * warm-started from the row's previous value:
 *   r = b - A x;  p = r;  rs = r.r
 *   repeat cg_steps times (stop early when rs < 1e-20):
 *     Ap = A p;  a = rs / (p.Ap);  x += a p;  r -= a Ap
 *     rs' = r.r;  p = r + (rs'/rs) p;  rs = rs'
 * Each CG step lowers the row's quadratic, so the training objective never
 * increases across half-iterations. Users and items without interactions
 * keep exactly zero factors (their exact solution is 0).
 *
 * Initialisation: X = 0; Y[i][k] = 0.01 * (u - 0.5) with u uniform in [0, 1)
 * from splitmix64(seed, i * f + k) (items without interactions: 0).
 *
 * Determinism: a row's update reads only the fixed other side, the shared
 * gram and its own previous value, so rows are independent and the order in
 * which threads take them does not matter. Threads take runs of rows of
 * similar cost (WORK_UNITS per half) from an atomic counter; the per-row
 * arithmetic is the same code whichever thread runs it. gram comes from a
 * single cblas_ssyrk call on the training thread (OpenBLAS threads set to
 * opts->threads for the call and restored after; that setting is
 * process-wide, so a concurrent BLAS user sees it meanwhile). OpenBLAS
 * 0.3.21's ssyrk
 * gave bit-identical results with 1 and 2 threads for 1,000 .. 100,000 rows
 * (cblas_sgemm did NOT: it is not used), and the unit test checks that 1 and
 * 2 threads give bit-identical factors. The CG kernel is compiled for
 * AVX2+FMA and for baseline x86-64 and chosen by CPU feature at run time,
 * so bits may differ between machines with and without AVX2/FMA.
 *
 * Serving: for-you = x_u . y_j; fold-in solves the exact normal equations
 * (double precision, LAPACKE_dposv; O(|H| f^2 + f^3) per query) against the
 * fixed Y; similar items = cosine(y_a, y_j) with precomputed norms. gram and
 * norms are recomputed from Y after training and on load (cblas_ssyrk).
 * candidates() scores the SERVE_MAX (20,000) items with the most users
 * (ties: lower index), copied into one contiguous block in that order: a
 * query costs SERVE_MAX x f multiply-adds (about 0.15 ms at f = 64)
 * whatever the catalog size, where scoring 100,000 items would cost about
 * 1.5 ms; long-tail items beyond the cut are left to the other models.
 * tl_ials_scores() still scores every item. For "similar", every item
 * with users gets its NN_K (100) nearest served items by factor cosine when
 * the model is trained or loaded (blocks of NN_BLOCK rows: one sgemm
 * C = Y_b Y_s^T, then a bounded heap per row; 2 x items x SERVE_MAX x f
 * flops, about 1.3e11 and a few seconds at 100,000 items; 800 bytes per
 * item), saved with the model and read back on load (16 s of a server's
 * start at 100,000 items otherwise), so an anchored query is a lookup; its first k admissible neighbours are the exact
 * top k whenever fewer than NN_K - k of them are skipped (else it falls back to the scan).
 *
 * Snapshot (little-endian, model.h helpers):
 *   u32 magic 0x534c4149 ("IALS"), u32 version 2,
 *   u32 n_users, u32 n_items, u32 factors,
 *   u64 regularization (IEEE double bits), u64 alpha (IEEE double bits),
 *   u32 ucount[n_users] (distinct items per user),
 *   u32 icount[n_items] (distinct users per item),
 *   f32 X[n_users * factors], f32 Y[n_items * factors] (row-major),
 *   then (version 2) u32 rows (items with users), u32 k (NN_K),
 *   u32 nn[rows * k] (item indexes, UINT32_MAX = none), f32 nn_sim[rows * k].
 *   Version 1 (no neighbour lists: they are computed on load) is still
 *   read. load() checks sizes before allocating, finite values, zero rows
 *   where the count is 0, neighbour indexes in range, and that nothing
 *   trails. */
#include "model/ials.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/topk.h"

#define IALS_MAGIC 0x534c4149u
#define IALS_VERSION 2u
#define IALS_VERSION_NO_NN 1u /* before the neighbour lists were saved */
#define WORK_UNITS 1024       /* work units per half-iteration (cost-balanced row runs) */
#define PREFETCH_ROWS 8       /* software prefetch distance in the sparse part, in rows */
#define MAX_THREADS 256       /* worker threads used at most */
#define INIT_SCALE 0.01f      /* item factor init range [-0.005, 0.005) */
#define SERVE_MAX 20000       /* items candidates() scores: the most popular ones (see "Serving") */
#define NN_K 100              /* precomputed cosine neighbours per served item */
#define NN_BLOCK 256          /* rows per sgemm block when computing them */

struct tl_ials {
    uint32_t n_users, n_items, f;
    double reg, alpha;
    uint32_t *ucount;    /* n_users */
    uint32_t *icount;    /* n_items */
    float *x;            /* n_users * f */
    float *y;            /* n_items * f */
    double *gram;        /* f * f: Y^T Y + reg I (fold-in) */
    float *inorm;        /* n_items: |y_i| */
    uint32_t n_serve;    /* items candidates() scores (<= SERVE_MAX) */
    uint32_t *serve_idx; /* their indexes, most users first */
    float *serve_y;      /* their factors, contiguous (n_serve * f) */
    float *serve_norm;   /* their norms */
    int32_t *serve_pos;  /* n_items: row of the item in nn (items with users), -1 otherwise */
    uint32_t n_nn_rows;
    uint32_t *nn;  /* n_nn_rows * NN_K nearest served items (UINT32_MAX = none) */
    float *nn_sim; /* their cosines, best first */
};

/* ---------- params ---------- */

static void ials_params_defaults(void *params)
{
    struct tl_ials_params *p = params;
    p->factors = 64;
    p->regularization = 0.1;
    p->alpha = 10.0;
    p->iterations = 15;
    p->cg_steps = 3;
}

static enum tl_rc ials_param_set(void *params, const char *key, const char *value, struct tl_err *err)
{
    struct tl_ials_params *p = params;
    if (!p || !key) return tl_err_set(err, TL_EINVAL, NULL, "no params or key");
    long l;
    double v;
    enum tl_rc rc;
    if (strcmp(key, "factors") == 0) {
        if ((rc = tl_model_param_long(key, value, 1, TL_IALS_FACTORS_MAX, &l, err)) == TL_OK) p->factors = (int)l;
        return rc;
    }
    if (strcmp(key, "iterations") == 0) {
        if ((rc = tl_model_param_long(key, value, 1, 1000, &l, err)) == TL_OK) p->iterations = (int)l;
        return rc;
    }
    if (strcmp(key, "cg_steps") == 0) {
        if ((rc = tl_model_param_long(key, value, 1, TL_IALS_FACTORS_MAX, &l, err)) == TL_OK) p->cg_steps = (int)l;
        return rc;
    }
    if (strcmp(key, "regularization") == 0) {
        if ((rc = tl_model_param_double(key, value, 0, 1e6, &v, err)) == TL_OK) p->regularization = v;
        return rc;
    }
    if (strcmp(key, "alpha") == 0) {
        if ((rc = tl_model_param_double(key, value, 0, 1e6, &v, err)) == TL_OK) p->alpha = v;
        return rc;
    }
    return tl_err_set(err, TL_EINVAL, key,
                      "unknown ials parameter \"%s\" (known: factors, regularization, alpha, iterations, cg_steps)",
                      key);
}

static enum tl_rc params_check(const struct tl_ials_params *p, struct tl_err *err)
{
    if (p->factors < 1 || p->factors > TL_IALS_FACTORS_MAX)
        return tl_err_set(err, TL_EINVAL, "factors", "factors must be 1..%d", TL_IALS_FACTORS_MAX);
    if (p->iterations < 1 || p->iterations > 1000)
        return tl_err_set(err, TL_EINVAL, "iterations", "iterations must be 1..1000");
    if (p->cg_steps < 1 || p->cg_steps > TL_IALS_FACTORS_MAX)
        return tl_err_set(err, TL_EINVAL, "cg_steps", "cg_steps must be 1..%d", TL_IALS_FACTORS_MAX);
    if (!(p->regularization >= 0) || !isfinite(p->regularization))
        return tl_err_set(err, TL_EINVAL, "regularization", "regularization must be finite and >= 0");
    if (!(p->alpha >= 0) || !isfinite(p->alpha))
        return tl_err_set(err, TL_EINVAL, "alpha", "alpha must be finite and >= 0");
    return TL_OK;
}

/* ---------- the row kernel ---------- */

/* The kernel is compiled twice, for AVX2+FMA and for baseline x86-64, and
 * tl_ials_cg_row picks one by CPU feature (not model: AMD CPUs with AVX2
 * must get the fast one). ISO C mode (-std=c17) turns off a*b+c
 * contraction, so the kernel asks for it. */
#define INLINE static inline __attribute__((always_inline, optimize("fp-contract=fast")))

INLINE float vdot(const float *restrict a, const float *restrict b, size_t f)
{
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (size_t k = 0; k < f; k++) s += a[k] * b[k];
    return s;
}

INLINE void vaxpy(float a, const float *restrict x, float *restrict y, size_t f)
{
#pragma omp simd
    for (size_t k = 0; k < f; k++) y[k] += a * x[k];
}

/* out = G v for symmetric row-major G (column form: sum_c v[c] G[c][:]),
 * four columns per pass over out. */
INLINE void gemv_sym(const float *restrict g, const float *restrict v, float *restrict out, size_t f)
{
    size_t c = 0;
    memset(out, 0, f * sizeof *out);
    for (; c + 4 <= f; c += 4) {
        const float *g0 = g + c * f, *g1 = g0 + f, *g2 = g1 + f, *g3 = g2 + f;
        float v0 = v[c], v1 = v[c + 1], v2 = v[c + 2], v3 = v[c + 3];
#pragma omp simd
        for (size_t k = 0; k < f; k++) out[k] += v0 * g0[k] + v1 * g1[k] + v2 * g2[k] + v3 * g3[k];
    }
    for (; c < f; c++) vaxpy(v[c], g + c * f, out, f);
}

/* acc += sum_j coef_j y_j over the row's items, where d_j = y_j . v and
 * coef_j = c0_j + c1_j * d_j with (c0, c1) = (1 + cm1, -cm1) for the
 * residual (resid = 1) or (0, cm1) for A v. Four items at a time so the
 * four dot products are independent dependency chains. */
INLINE void sparse_part(const float *restrict Y, size_t f, const uint32_t *idx, const float *cm1, size_t nnz,
                        const float *restrict v, float *restrict acc, int resid)
{
    size_t j = 0;
    for (; j + 4 <= nnz; j += 4) {
        /* the rows are scattered over a factor matrix that may not fit in
         * cache: fetch those PREFETCH_ROWS ahead while these are computed */
        for (size_t q = j + PREFETCH_ROWS; q < j + PREFETCH_ROWS + 4 && q < nnz; q++)
            for (size_t b = 0; b < f; b += 16) __builtin_prefetch(Y + (size_t)idx[q] * f + b, 0, 3);
        const float *y0 = Y + (size_t)idx[j] * f, *y1 = Y + (size_t)idx[j + 1] * f;
        const float *y2 = Y + (size_t)idx[j + 2] * f, *y3 = Y + (size_t)idx[j + 3] * f;
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
#pragma omp simd reduction(+ : s0, s1, s2, s3)
        for (size_t k = 0; k < f; k++) {
            s0 += y0[k] * v[k];
            s1 += y1[k] * v[k];
            s2 += y2[k] * v[k];
            s3 += y3[k] * v[k];
        }
        float a0, a1, a2, a3;
        if (resid) {
            a0 = 1.0f + cm1[j] - cm1[j] * s0;
            a1 = 1.0f + cm1[j + 1] - cm1[j + 1] * s1;
            a2 = 1.0f + cm1[j + 2] - cm1[j + 2] * s2;
            a3 = 1.0f + cm1[j + 3] - cm1[j + 3] * s3;
        } else {
            a0 = cm1[j] * s0;
            a1 = cm1[j + 1] * s1;
            a2 = cm1[j + 2] * s2;
            a3 = cm1[j + 3] * s3;
        }
#pragma omp simd
        for (size_t k = 0; k < f; k++) acc[k] += a0 * y0[k] + a1 * y1[k] + a2 * y2[k] + a3 * y3[k];
    }
    for (; j < nnz; j++) {
        const float *yj = Y + (size_t)idx[j] * f;
        float d = vdot(yj, v, f);
        vaxpy(resid ? 1.0f + cm1[j] - cm1[j] * d : cm1[j] * d, yj, acc, f);
    }
}

INLINE void cg_row(const float *gram, const float *Y, size_t f, const uint32_t *idx, const float *cm1, size_t nnz,
                   int steps, float *x, float *scratch)
{
    float *restrict r = scratch, *restrict p = scratch + f, *restrict ap = scratch + 2 * f;
    /* r = b - A x = -gram x + sum_j (1 + cm1_j - cm1_j (y_j . x)) y_j */
    gemv_sym(gram, x, ap, f);
    for (size_t k = 0; k < f; k++) r[k] = -ap[k];
    sparse_part(Y, f, idx, cm1, nnz, x, r, 1);
    memcpy(p, r, f * sizeof *p);
    float rs = vdot(r, r, f);
    for (int s = 0; s < steps && rs >= 1e-20f; s++) {
        gemv_sym(gram, p, ap, f); /* ap = A p */
        sparse_part(Y, f, idx, cm1, nnz, p, ap, 0);
        float pap = vdot(p, ap, f);
        if (!(pap > 0.0f)) break;
        float a = rs / pap;
        vaxpy(a, p, x, f);
        vaxpy(-a, ap, r, f);
        float rsn = vdot(r, r, f);
        if (rsn < 1e-20f) break;
        float beta = rsn / rs;
#pragma omp simd
        for (size_t k = 0; k < f; k++) p[k] = r[k] + beta * p[k];
        rs = rsn;
    }
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2,fma"), optimize("fp-contract=fast"))) static void
cg_row_avx2(const float *gram, const float *Y, size_t f, const uint32_t *idx, const float *cm1, size_t nnz, int steps,
            float *x, float *scratch)
{
    cg_row(gram, Y, f, idx, cm1, nnz, steps, x, scratch);
}
#endif

__attribute__((optimize("fp-contract=fast"))) static void cg_row_base(const float *gram, const float *Y, size_t f,
                                                                      const uint32_t *idx, const float *cm1, size_t nnz,
                                                                      int steps, float *x, float *scratch)
{
    cg_row(gram, Y, f, idx, cm1, nnz, steps, x, scratch);
}

void tl_ials_cg_row(const float *gram, const float *Y, size_t f, const uint32_t *idx, const float *cm1, size_t nnz,
                    int steps, float *x, float *scratch)
{
#if defined(__x86_64__) || defined(__i386__)
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        cg_row_avx2(gram, Y, f, idx, cm1, nnz, steps, x, scratch);
        return;
    }
#endif
    cg_row_base(gram, Y, f, idx, cm1, nnz, steps, x, scratch);
}

/* ---------- training ---------- */

struct csr {
    size_t *off; /* rows + 1 */
    uint32_t *idx;
    float *cm1;
    size_t *blk; /* work unit b = rows blk[b] .. blk[b+1]-1 */
    size_t n_blk;
};

static void csr_free(struct csr *c)
{
    tl_free(c->off);
    tl_free(c->idx);
    tl_free(c->cm1);
    tl_free(c->blk);
}

/* Cut the rows into about WORK_UNITS runs of similar cost (a row costs
 * about nnz + f/2 + 1 units: its sparse part plus its dense products), so a
 * few very popular items cannot leave one thread working alone. */
static enum tl_rc make_blocks(struct csr *c, size_t n_rows, size_t f)
{
    c->blk = tl_malloc((n_rows + 2) * sizeof *c->blk);
    if (!c->blk) return TL_ENOMEM;
    size_t total = c->off[n_rows] + n_rows * (f / 2 + 1);
    size_t target = total / WORK_UNITS + 1, acc = 0, nb = 0;
    c->blk[nb++] = 0;
    for (size_t r = 0; r < n_rows; r++) {
        acc += c->off[r + 1] - c->off[r] + f / 2 + 1;
        if (acc >= target) {
            c->blk[nb++] = r + 1;
            acc = 0;
        }
    }
    if (c->blk[nb - 1] != n_rows) c->blk[nb++] = n_rows;
    c->n_blk = nb - 1;
    return TL_OK;
}

struct pair {
    uint32_t item;
    float w;
};

static int pair_cmp(const void *a, const void *b)
{
    const struct pair *x = a, *y = b;
    return x->item < y->item ? -1 : (x->item > y->item);
}

/* User rows with summed weights (cm1 = alpha * w) and their transpose. */
static enum tl_rc build_rows(const struct tl_dataset *d, double alpha, struct csr *ur, struct csr *ir, uint32_t *ucount,
                             uint32_t *icount)
{
    size_t maxlen = 1;
    for (uint32_t u = 0; u < d->n_users; u++)
        if (d->off[u + 1] - d->off[u] > maxlen) maxlen = d->off[u + 1] - d->off[u];
    struct pair *tmp = tl_malloc(maxlen * sizeof *tmp);
    ur->off = tl_calloc((size_t)d->n_users + 1, sizeof *ur->off);
    ur->idx = tl_malloc((d->n ? d->n : 1) * sizeof *ur->idx);
    ur->cm1 = tl_malloc((d->n ? d->n : 1) * sizeof *ur->cm1);
    ir->off = tl_calloc((size_t)d->n_items + 1, sizeof *ir->off);
    if (!tmp || !ur->off || !ur->idx || !ur->cm1 || !ir->off) {
        tl_free(tmp);
        return TL_ENOMEM;
    }
    size_t w = 0;
    for (uint32_t u = 0; u < d->n_users; u++) {
        size_t len = d->off[u + 1] - d->off[u];
        for (size_t x = 0; x < len; x++) tmp[x] = (struct pair){d->item[d->off[u] + x], d->weight[d->off[u] + x]};
        qsort(tmp, len, sizeof *tmp, pair_cmp); /* equal items: weights summed, order irrelevant up to rounding */
        size_t start = w;
        for (size_t x = 0; x < len; x++) {
            if (w > start && ur->idx[w - 1] == tmp[x].item) {
                ur->cm1[w - 1] += tmp[x].w;
                continue;
            }
            ur->idx[w] = tmp[x].item;
            ur->cm1[w] = tmp[x].w;
            w++;
        }
        ucount[u] = (uint32_t)(w - start);
        ur->off[u + 1] = w;
    }
    tl_free(tmp);
    for (size_t x = 0; x < w; x++) {
        ur->cm1[x] = (float)(alpha * ur->cm1[x]);
        ir->off[ur->idx[x] + 1]++;
    }
    for (uint32_t i = 0; i < d->n_items; i++) {
        icount[i] = (uint32_t)ir->off[i + 1];
        ir->off[i + 1] += ir->off[i];
    }
    ir->idx = tl_malloc((w ? w : 1) * sizeof *ir->idx);
    ir->cm1 = tl_malloc((w ? w : 1) * sizeof *ir->cm1);
    size_t *pos = tl_malloc(((size_t)d->n_items + 1) * sizeof *pos);
    if (!ir->idx || !ir->cm1 || !pos) {
        tl_free(pos);
        return TL_ENOMEM;
    }
    memcpy(pos, ir->off, ((size_t)d->n_items + 1) * sizeof *pos);
    for (uint32_t u = 0; u < d->n_users; u++)
        for (size_t x = ur->off[u]; x < ur->off[u + 1]; x++) {
            size_t at = pos[ur->idx[x]]++;
            ir->idx[at] = u;
            ir->cm1[at] = ur->cm1[x];
        }
    tl_free(pos);
    return TL_OK;
}

static uint64_t splitmix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* gram = A^T A + reg I (f x f, full) for the n x f row-major A. */
static void gram_blas(const float *a, size_t n, size_t f, double reg, float *gram)
{
    if (n)
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (blasint)f, (blasint)n, 1.0f, a, (blasint)f, 0.0f, gram,
                    (blasint)f);
    else
        memset(gram, 0, f * f * sizeof *gram);
    for (size_t r = 0; r < f; r++) {
        gram[r * f + r] += (float)reg;
        for (size_t c = r + 1; c < f; c++) gram[c * f + r] = gram[r * f + c];
    }
}

struct half {
    const struct csr *rows;
    const float *other; /* fixed factors */
    float *mine;        /* factors being updated */
    const float *gram;
    size_t n_rows, f;
    int steps;
    atomic_size_t next; /* next block */
    const volatile int *cancel;
};

static void *half_worker(void *arg)
{
    struct half *h = arg;
    size_t f = h->f;
    float scratch[3 * TL_IALS_FACTORS_MAX];
    for (;;) {
        size_t b = atomic_fetch_add_explicit(&h->next, 1, memory_order_relaxed);
        if (b >= h->rows->n_blk || (h->cancel && *h->cancel)) break;
        size_t lo = h->rows->blk[b], hi = h->rows->blk[b + 1];
        for (size_t r = lo; r < hi; r++) {
            size_t o = h->rows->off[r], len = h->rows->off[r + 1] - o;
            if (len == 0) continue; /* stays 0 */
            tl_ials_cg_row(h->gram, h->other, f, h->rows->idx + o, h->rows->cm1 + o, len, h->steps, h->mine + r * f,
                           scratch);
        }
    }
    return NULL;
}

static void run_half(struct half *h, int threads)
{
    pthread_t tid[MAX_THREADS];
    int ok[MAX_THREADS] = {0};
    atomic_init(&h->next, 0);
    for (int t = 1; t < threads; t++) ok[t] = pthread_create(&tid[t], NULL, half_worker, h) == 0;
    half_worker(h); /* also finishes any work a thread that failed to start would have taken */
    for (int t = 1; t < threads; t++)
        if (ok[t]) pthread_join(tid[t], NULL);
}

static void ials_free(void *model)
{
    struct tl_ials *m = model;
    if (!m) return;
    tl_free(m->ucount);
    tl_free(m->icount);
    tl_free(m->x);
    tl_free(m->y);
    tl_free(m->gram);
    tl_free(m->inorm);
    tl_free(m->serve_idx);
    tl_free(m->serve_y);
    tl_free(m->serve_norm);
    tl_free(m->serve_pos);
    tl_free(m->nn);
    tl_free(m->nn_sim);
    tl_free(m);
}

/* gram (Y^T Y + reg I by cblas_ssyrk, kept in double for the fold-in
 * solve) and item norms from Y. */
/* Sort idx[0..n) by count descending, ties by lower index (merge sort:
 * no global comparator state, so concurrent loads are safe). */
static void sort_by_count(uint32_t *idx, uint32_t n, const uint32_t *count)
{
    if (n < 2) return;
    uint32_t *tmp = tl_malloc((size_t)n * sizeof *tmp);
    if (!tmp) return; /* unsorted: only the cut's choice of items suffers */
    for (uint32_t width = 1; width < n; width *= 2) {
        for (uint32_t lo = 0; lo < n; lo += 2 * width) {
            uint32_t mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
            uint32_t a = lo, b = mid, o = lo;
            while (a < mid && b < hi) {
                uint32_t x = idx[a], y = idx[b];
                int take_a = count[x] > count[y] || (count[x] == count[y] && x < y);
                tmp[o++] = take_a ? idx[a++] : idx[b++];
            }
            while (a < mid) tmp[o++] = idx[a++];
            while (b < hi) tmp[o++] = idx[b++];
        }
        memcpy(idx, tmp, (size_t)n * sizeof *idx);
    }
    tl_free(tmp);
}

/* Nearest served neighbours of every item with users (rows) among the
 * served items (columns) by factor cosine (see the file comment). Ties:
 * lower item index first. */
/* The neighbour lists' rows, one per item with users (serve_pos: the
 * item's row, or -1), and room for their NN_K entries; the lists are
 * filled by build_neighbours or read from a snapshot. */
static enum tl_rc nn_alloc(struct tl_ials *m)
{
    uint32_t r = 0;
    m->serve_pos = tl_malloc(((size_t)m->n_items + 1) * sizeof *m->serve_pos);
    if (!m->serve_pos) return TL_ENOMEM;
    for (uint32_t i = 0; i < m->n_items; i++) m->serve_pos[i] = m->icount[i] > 0 ? (int32_t)r++ : -1;
    m->n_nn_rows = r;
    m->nn = tl_malloc(((size_t)r * NN_K + 1) * sizeof *m->nn);
    m->nn_sim = tl_malloc(((size_t)r * NN_K + 1) * sizeof *m->nn_sim);
    return m->nn && m->nn_sim ? TL_OK : TL_ENOMEM;
}

static enum tl_rc build_neighbours(struct tl_ials *m)
{
    uint32_t S = m->n_serve;
    size_t f = m->f;
    float *c = tl_malloc(((size_t)NN_BLOCK * (S ? S : 1)) * sizeof *c);
    float *rows_y = tl_malloc(((size_t)NN_BLOCK * f + 1) * sizeof *rows_y);
    uint32_t *rows_i = tl_malloc(NN_BLOCK * sizeof *rows_i);
    struct tl_topk_entry *heap = tl_malloc(NN_K * sizeof *heap);
    enum tl_rc rc = nn_alloc(m);
    if (rc == TL_OK && (!c || !rows_y || !rows_i || !heap)) rc = TL_ENOMEM;
    if (rc) goto out;
    for (uint32_t i0 = 0, row0 = 0; i0 < m->n_items;) {
        uint32_t nr = 0; /* gather the next block of rows */
        while (i0 < m->n_items && nr < NN_BLOCK) {
            if (m->icount[i0] > 0) {
                memcpy(rows_y + (size_t)nr * f, m->y + (size_t)i0 * f, f * sizeof *rows_y);
                rows_i[nr++] = i0;
            }
            i0++;
        }
        if (nr == 0) break;
        if (S)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nr, (int)S, (int)f, 1.0f, rows_y, (int)f,
                        m->serve_y, (int)f, 0.0f, c, (int)S);
        for (uint32_t x = 0; x < nr; x++) {
            uint32_t item = rows_i[x];
            float nt = m->inorm[item];
            struct tl_topk h;
            tl_topk_init(&h, heap, NN_K);
            const float *row = c + (size_t)x * S;
            /* thr: the worst kept score once the heap is full. A candidate
             * strictly below it cannot enter (a tie is settled by
             * tl_topk_push on the ids), so most of the S candidates cost a
             * division and a comparison, without a call. */
            double thr = -INFINITY;
            for (uint32_t u = 0; u < S && nt > 0; u++) {
                float sim = row[u] / (nt * m->serve_norm[u]);
                if (!((double)sim >= thr) || !(m->serve_norm[u] > 0)) continue; /* also NaN */
                uint32_t j = m->serve_idx[u];
                if (j == item) continue;
                if (tl_topk_push(&h, j, sim)) thr = tl_topk_threshold(&h);
            }
            size_t got = tl_topk_sort(&h);
            size_t base = (size_t)(row0 + x) * NN_K;
            for (size_t y = 0; y < NN_K; y++) {
                m->nn[base + y] = y < got ? heap[y].id : UINT32_MAX;
                m->nn_sim[base + y] = y < got ? (float)heap[y].score : 0.0f;
            }
        }
        row0 += nr;
    }
out:
    tl_free(c);
    tl_free(rows_y);
    tl_free(rows_i);
    tl_free(heap);
    return rc;
}

/* Gram matrix, norms, the serving block and (unless the snapshot had
 * them: have_nn) the neighbour lists. */
static enum tl_rc finish_serving(struct tl_ials *m, int have_nn)
{
    size_t f = m->f;
    m->gram = tl_malloc(f * f * sizeof *m->gram);
    m->inorm = tl_malloc((m->n_items ? m->n_items : 1) * sizeof *m->inorm);
    float *g = tl_malloc(f * f * sizeof *g);
    if (!m->gram || !m->inorm || !g) {
        tl_free(g);
        return TL_ENOMEM;
    }
    gram_blas(m->y, m->n_items, f, m->reg, g);
    for (size_t k = 0; k < f * f; k++) m->gram[k] = g[k];
    tl_free(g);
    for (uint32_t i = 0; i < m->n_items; i++) m->inorm[i] = sqrtf(vdot(m->y + (size_t)i * f, m->y + (size_t)i * f, f));
    /* the serving block: items with users, most users first, at most SERVE_MAX */
    uint32_t n = 0;
    for (uint32_t i = 0; i < m->n_items; i++) n += m->icount[i] > 0;
    m->serve_idx = tl_malloc(((size_t)n + 1) * sizeof *m->serve_idx);
    if (!m->serve_idx) return TL_ENOMEM;
    n = 0;
    for (uint32_t i = 0; i < m->n_items; i++)
        if (m->icount[i] > 0) m->serve_idx[n++] = i;
    sort_by_count(m->serve_idx, n, m->icount);
    m->n_serve = n < SERVE_MAX ? n : SERVE_MAX;
    m->serve_y = tl_malloc(((size_t)m->n_serve * f + 1) * sizeof *m->serve_y);
    m->serve_norm = tl_malloc(((size_t)m->n_serve + 1) * sizeof *m->serve_norm);
    if (!m->serve_y || !m->serve_norm) return TL_ENOMEM;
    for (uint32_t t = 0; t < m->n_serve; t++) {
        memcpy(m->serve_y + (size_t)t * f, m->y + (size_t)m->serve_idx[t] * f, f * sizeof *m->serve_y);
        m->serve_norm[t] = m->inorm[m->serve_idx[t]];
    }
    return have_nn ? TL_OK : build_neighbours(m);
}

static void report(const struct tl_train_opts *o, double frac, const char *phase)
{
    if (o && o->progress) o->progress(o->progress_ctx, frac, phase);
}

static enum tl_rc ials_train(const struct tl_dataset *d, const void *params, const struct tl_train_opts *opts,
                             void **out, struct tl_err *err)
{
    struct tl_ials_params def;
    if (!params) {
        ials_params_defaults(&def);
        params = &def;
    }
    const struct tl_ials_params *p = params;
    if (!d || !out) return tl_err_set(err, TL_EINVAL, NULL, "no dataset or output");
    *out = NULL;
    enum tl_rc rc = params_check(p, err);
    if (rc != TL_OK) return rc;
    int threads = opts && opts->threads > 0 ? opts->threads : 1;
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    uint64_t seed = opts ? opts->seed : 0;
    const volatile int *cancel = opts ? opts->cancel : NULL;
    size_t f = (size_t)p->factors;

    struct tl_ials *m = tl_calloc(1, sizeof *m);
    struct csr ur = {0}, ir = {0};
    float *gram = tl_malloc(f * f * sizeof *gram);
    if (!m || !gram) goto nomem;
    m->n_users = d->n_users;
    m->n_items = d->n_items;
    m->f = (uint32_t)f;
    m->reg = p->regularization;
    m->alpha = p->alpha;
    m->ucount = tl_calloc((size_t)d->n_users + 1, sizeof *m->ucount);
    m->icount = tl_calloc((size_t)d->n_items + 1, sizeof *m->icount);
    m->x = tl_calloc((size_t)d->n_users * f + 1, sizeof *m->x);
    m->y = tl_calloc((size_t)d->n_items * f + 1, sizeof *m->y);
    if (!m->ucount || !m->icount || !m->x || !m->y) goto nomem;
    if (build_rows(d, p->alpha, &ur, &ir, m->ucount, m->icount) != TL_OK || make_blocks(&ur, d->n_users, f) ||
        make_blocks(&ir, d->n_items, f))
        goto nomem;
    for (uint32_t i = 0; i < d->n_items; i++) {
        if (!m->icount[i]) continue;
        for (size_t k = 0; k < f; k++) {
            uint64_t z = splitmix64(seed ^ splitmix64((uint64_t)i * f + k));
            m->y[(size_t)i * f + k] = INIT_SCALE * ((float)(z >> 40) * (1.0f / 16777216.0f) - 0.5f);
        }
    }

    int prev_threads = openblas_get_num_threads();
    for (int it = 0; it < p->iterations; it++) {
        for (int side = 0; side < 2; side++) {
            if (cancel && *cancel) {
                openblas_set_num_threads(prev_threads);
                rc = tl_err_set(err, TL_ESHUTDOWN, NULL, "ials training cancelled");
                goto fail;
            }
            char phase[48];
            snprintf(phase, sizeof phase, "iteration %d/%d %s", it + 1, p->iterations, side ? "items" : "users");
            report(opts, (it + 0.5 * side) / p->iterations, phase);
            openblas_set_num_threads(threads);
            struct half h = {
                .rows = side ? &ir : &ur,
                .other = side ? m->x : m->y,
                .mine = side ? m->y : m->x,
                .gram = gram,
                .n_rows = side ? d->n_items : d->n_users,
                .f = f,
                .steps = p->cg_steps,
                .cancel = cancel,
            };
            gram_blas(h.other, side ? d->n_users : d->n_items, f, p->regularization, gram);
            openblas_set_num_threads(prev_threads);
            run_half(&h, threads);
        }
    }
    if (cancel && *cancel) {
        rc = tl_err_set(err, TL_ESHUTDOWN, NULL, "ials training cancelled");
        goto fail;
    }
    for (size_t x = 0; x < (size_t)d->n_users * f; x++)
        if (!isfinite(m->x[x])) {
            rc = tl_err_set(err, TL_EINTERNAL, NULL, "ials: non-finite factors (alpha or weights too large?)");
            goto fail;
        }
    for (size_t x = 0; x < (size_t)d->n_items * f; x++)
        if (!isfinite(m->y[x])) {
            rc = tl_err_set(err, TL_EINTERNAL, NULL, "ials: non-finite factors (alpha or weights too large?)");
            goto fail;
        }
    if (finish_serving(m, 0) != TL_OK) goto nomem;
    csr_free(&ur);
    csr_free(&ir);
    tl_free(gram);
    report(opts, 1.0, "done");
    *out = m;
    return TL_OK;
nomem:
    rc = tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
fail:
    csr_free(&ur);
    csr_free(&ir);
    tl_free(gram);
    ials_free(m);
    return rc;
}

/* ---------- loss ---------- */

double tl_ials_loss(const struct tl_ials *m, const struct tl_dataset *d, const struct tl_ials_params *p)
{
    size_t f = m->f;
    double *g = tl_calloc(f * f, sizeof *g);
    struct pair *tmp = NULL;
    if (!g) return NAN;
    double reg_term = 0, loss = 0;
    for (uint32_t i = 0; i < m->n_items; i++) {
        const float *y = m->y + (size_t)i * f;
        for (size_t r = 0; r < f; r++) {
            reg_term += (double)y[r] * y[r];
            for (size_t c = 0; c < f; c++) g[r * f + c] += (double)y[r] * y[c];
        }
    }
    size_t maxlen = 1;
    for (uint32_t u = 0; u < d->n_users; u++)
        if (d->off[u + 1] - d->off[u] > maxlen) maxlen = d->off[u + 1] - d->off[u];
    tmp = tl_malloc(maxlen * sizeof *tmp);
    if (!tmp) {
        tl_free(g);
        return NAN;
    }
    for (uint32_t u = 0; u < m->n_users && u < d->n_users; u++) {
        const float *x = m->x + (size_t)u * f;
        for (size_t r = 0; r < f; r++) {
            reg_term += (double)x[r] * x[r];
            double s = 0;
            for (size_t c = 0; c < f; c++) s += g[r * f + c] * x[c];
            loss += x[r] * s; /* sum over all items of (x.y_i)^2 */
        }
        size_t len = d->off[u + 1] - d->off[u];
        for (size_t k = 0; k < len; k++) tmp[k] = (struct pair){d->item[d->off[u] + k], d->weight[d->off[u] + k]};
        qsort(tmp, len, sizeof *tmp, pair_cmp);
        for (size_t k = 0; k < len;) {
            uint32_t it = tmp[k].item;
            double w = 0;
            while (k < len && tmp[k].item == it) w += tmp[k++].w;
            const float *y = m->y + (size_t)it * f;
            double s = 0;
            for (size_t c = 0; c < f; c++) s += (double)x[c] * y[c];
            double c_ui = 1 + p->alpha * w;
            loss += c_ui * (1 - s) * (1 - s) - s * s;
        }
    }
    tl_free(tmp);
    tl_free(g);
    return loss + p->regularization * reg_term;
}

/* ---------- serving ---------- */

uint32_t tl_ials_n_users(const struct tl_ials *m) { return m ? m->n_users : 0; }
uint32_t tl_ials_n_items(const struct tl_ials *m) { return m ? m->n_items : 0; }
uint32_t tl_ials_factors(const struct tl_ials *m) { return m ? m->f : 0; }
const float *tl_ials_user(const struct tl_ials *m, uint32_t u)
{
    return m && u < m->n_users ? m->x + (size_t)u * m->f : NULL;
}
const float *tl_ials_item(const struct tl_ials *m, uint32_t i)
{
    return m && i < m->n_items ? m->y + (size_t)i * m->f : NULL;
}

/* Fold-in; *known receives the number of distinct usable history items. */
static enum tl_rc fold_in(const struct tl_ials *m, const uint32_t *items, const float *w, size_t n, float *x,
                          size_t *known)
{
    size_t f = m->f;
    *known = 0;
    memset(x, 0, f * sizeof *x);
    if (n > TL_MODEL_HISTORY_MAX || (n && !items)) return TL_EINVAL;
    struct pair h[TL_MODEL_HISTORY_MAX];
    size_t len = 0;
    for (size_t k = 0; k < n; k++) {
        if (items[k] >= m->n_items || !m->icount[items[k]]) continue;
        float wk = w ? w[k] : 1.0f;
        if (!(wk > 0) || !isfinite(wk)) continue;
        h[len++] = (struct pair){items[k], wk};
    }
    if (len == 0) return TL_OK;
    qsort(h, len, sizeof *h, pair_cmp);
    double *a = tl_malloc((f * f + f) * sizeof *a);
    if (!a) return TL_ENOMEM;
    double *b = a + f * f;
    memcpy(a, m->gram, f * f * sizeof *a);
    memset(b, 0, f * sizeof *b);
    for (size_t k = 0; k < len;) {
        uint32_t it = h[k].item;
        double wsum = 0;
        while (k < len && h[k].item == it) wsum += h[k++].w;
        (*known)++;
        double cm1 = m->alpha * wsum;
        const float *y = m->y + (size_t)it * f;
        for (size_t r = 0; r < f; r++) {
            b[r] += (1 + cm1) * y[r];
            for (size_t c = 0; c < f; c++) a[r * f + c] += cm1 * y[r] * y[c];
        }
    }
    lapack_int info = LAPACKE_dposv(LAPACK_COL_MAJOR, 'U', (lapack_int)f, 1, a, (lapack_int)f, b, (lapack_int)f);
    if (info == 0)
        for (size_t r = 0; r < f; r++) x[r] = (float)b[r];
    tl_free(a);
    return info == 0 ? TL_OK : TL_EINTERNAL;
}

enum tl_rc tl_ials_fold_in(const struct tl_ials *m, const uint32_t *items, const float *w, size_t n, float *x)
{
    if (!m || !x) return TL_EINVAL;
    size_t known;
    return fold_in(m, items, w, n, x, &known);
}

/* x . y_j for every item (unseen items: 0). */
static void dense_scores(const struct tl_ials *m, const float *x, float *out)
{
    size_t f = m->f;
    for (uint32_t j = 0; j < m->n_items; j++) out[j] = m->icount[j] ? vdot(x, m->y + (size_t)j * f, f) : 0.0f;
}

/* The query vector: a known user's factors, else the folded-in history in
 * xbuf. *ok = 0 when there is nothing to score with. */
static enum tl_rc query_vector(const struct tl_ials *m, uint32_t user, const uint32_t *items, const float *w, size_t n,
                               float *xbuf, const float **xq, int *ok)
{
    *ok = 0;
    if (user < m->n_users && m->ucount[user]) {
        *xq = m->x + (size_t)user * m->f;
        *ok = 1;
        return TL_OK;
    }
    size_t known;
    enum tl_rc rc = fold_in(m, items, w, n, xbuf, &known);
    *xq = xbuf;
    *ok = rc == TL_OK && known > 0;
    return rc;
}

enum tl_rc tl_ials_scores(const struct tl_ials *m, uint32_t user, const uint32_t *items, const float *w, size_t n,
                          float *out)
{
    if (!m || !out) return TL_EINVAL;
    float xbuf[TL_IALS_FACTORS_MAX];
    const float *xq;
    int ok;
    enum tl_rc rc = query_vector(m, user, items, w, n, xbuf, &xq, &ok);
    if (rc != TL_OK) return rc;
    if (!ok) memset(xbuf, 0, m->f * sizeof *xbuf);
    dense_scores(m, ok ? xq : xbuf, out);
    return TL_OK;
}

#define CAND_ANCHORS 20 /* most recent history items whose neighbour lists are scored */

/* for_you on a large catalog: the union of the neighbour lists of the most
 * recent history items (at most CAND_ANCHORS x NN_K items), each scored
 * exactly by x . y_j; top k of those (ties: lower index), the serving rules
 * asked of the best only (tl_topk_best_passing). Fewer than k admissible
 * candidates: *n < k and the caller scans instead. */
static enum tl_rc candidates_from_history(const struct tl_ials *m, const struct tl_model_query *q, const float *xq,
                                          tl_model_skip_fn skip, void *skip_ctx, size_t k, struct tl_model_hit *out,
                                          size_t *n)
{
    size_t cap = 2 * CAND_ANCHORS * NN_K, mask = 1;
    while (mask < cap) mask <<= 1;
    uint32_t *set = tl_malloc(mask * sizeof *set);
    /* the scored candidates, the selection's work space, the best k */
    struct tl_topk_entry *all = tl_malloc((2 * CAND_ANCHORS * NN_K + k) * sizeof *all);
    struct tl_topk_entry *work = all ? all + CAND_ANCHORS * NN_K : NULL,
                         *best = all ? work + CAND_ANCHORS * NN_K : NULL;
    if (!set || !all) {
        tl_free(set);
        tl_free(all);
        return TL_ENOMEM;
    }
    memset(set, 0xff, mask * sizeof *set);
    mask -= 1;
    size_t used = 0, na = 0;
    for (size_t x = q->n_history; x-- > 0 && used < CAND_ANCHORS;) {
        uint32_t a = q->history[x];
        if (a >= m->n_items || m->serve_pos[a] < 0) continue;
        used++;
        const uint32_t *nb = m->nn + (size_t)m->serve_pos[a] * NN_K;
        for (size_t y = 0; y < NN_K && nb[y] != UINT32_MAX; y++) {
            uint32_t j = nb[y];
            size_t slot = (size_t)((j * 2654435761u) & mask);
            while (set[slot] != UINT32_MAX && set[slot] != j) slot = (slot + 1) & mask;
            if (set[slot] == j) continue; /* already scored */
            set[slot] = j;
            all[na++] = (struct tl_topk_entry){j, vdot(xq, m->y + (size_t)j * m->f, m->f)};
        }
    }
    size_t got = tl_topk_best_passing(all, na, k, skip, skip_ctx, work, best);
    for (size_t x = 0; x < got; x++) out[x] = (struct tl_model_hit){best[x].id, (float)best[x].score, TL_MODEL_NONE};
    *n = got;
    tl_free(set);
    tl_free(all);
    return TL_OK;
}

static enum tl_rc ials_candidates(const void *model, const struct tl_model_query *q, tl_model_skip_fn skip,
                                  void *skip_ctx, size_t k, struct tl_model_hit *out, size_t *n)
{
    const struct tl_ials *m = model;
    if (!m || !q || !n || k > TL_MODEL_K_MAX || (k && !out) || q->n_history > TL_MODEL_HISTORY_MAX ||
        (q->n_history && !q->history))
        return TL_EINVAL;
    *n = 0;
    size_t ni = m->n_items, f = m->f;
    if (k == 0 || ni == 0) return TL_OK;
    float xbuf[TL_IALS_FACTORS_MAX];
    const float *xq = NULL;
    uint32_t anchor = TL_MODEL_NONE;
    float an = 0;
    if (q->anchor != TL_MODEL_NONE) {
        if (q->anchor >= ni || !m->icount[q->anchor] || !(m->inorm[q->anchor] > 0)) return TL_OK;
        anchor = q->anchor;
        xq = m->y + (size_t)anchor * f;
        an = m->inorm[anchor];
        int32_t pos = m->serve_pos ? m->serve_pos[anchor] : -1;
        if (pos >= 0) { /* the precomputed neighbours, if enough of them are admissible */
            const uint32_t *nb = m->nn + (size_t)pos * NN_K;
            const float *ns = m->nn_sim + (size_t)pos * NN_K;
            size_t got = 0;
            for (size_t x = 0; x < NN_K && got < k && nb[x] != UINT32_MAX; x++) {
                if (skip && skip(skip_ctx, nb[x])) continue;
                out[got++] = (struct tl_model_hit){nb[x], ns[x], anchor};
            }
            if (got == k || (got < k && (NN_K >= m->n_serve || nb[NN_K - 1] == UINT32_MAX))) {
                *n = got; /* k found, or the list holds every served item */
                return TL_OK;
            }
        }
    } else {
        int ok;
        enum tl_rc rc = query_vector(m, q->user, q->history, q->hweight, q->n_history, xbuf, &xq, &ok);
        if (rc != TL_OK) return rc;
        if (!ok) return TL_OK;
        /* Candidate generation for large catalogs: score only the neighbour
         * lists of the (up to CAND_ANCHORS most recent) history items. */
        if (q->n_history && m->serve_pos && m->n_serve > 4 * NN_K) {
            size_t got = 0;
            rc = candidates_from_history(m, q, xq, skip, skip_ctx, k, out, &got);
            if (rc != TL_OK) return rc;
            if (got == k) {
                *n = got;
                return TL_OK;
            }
        }
    }
    struct tl_topk_entry *heap = tl_malloc(k * sizeof *heap);
    if (!heap) return TL_ENOMEM;
    struct tl_topk h;
    tl_topk_init(&h, heap, k);
    for (uint32_t t = 0; t < m->n_serve; t++) {
        uint32_t j = m->serve_idx[t];
        if (j == anchor) continue;
        float s = vdot(xq, m->serve_y + (size_t)t * f, f);
        if (anchor != TL_MODEL_NONE) {
            if (!(m->serve_norm[t] > 0)) continue;
            s /= an * m->serve_norm[t];
        }
        if (!tl_topk_accepts(&h, j, s) || (skip && skip(skip_ctx, j))) continue;
        tl_topk_push(&h, j, s);
    }
    size_t got = tl_topk_sort(&h);
    for (size_t x = 0; x < got; x++) out[x] = (struct tl_model_hit){heap[x].id, (float)heap[x].score, anchor};
    *n = got;
    tl_free(heap);
    return TL_OK;
}

/* ---------- snapshot ---------- */

static enum tl_rc ials_save(const void *model, struct tl_buf *out, struct tl_err *err)
{
    const struct tl_ials *m = model;
    if (!m || !out) return tl_err_set(err, TL_EINVAL, NULL, "no model or buffer");
    size_t f = m->f;
    uint64_t rb, ab;
    memcpy(&rb, &m->reg, 8);
    memcpy(&ab, &m->alpha, 8);
    enum tl_rc rc = tl_buf_reserve(out, 44 + 4 * ((size_t)m->n_users * (f + 1) + (size_t)m->n_items * (f + 1)) +
                                            8 * (size_t)m->n_nn_rows * NN_K);
    if (rc == TL_OK) rc = tl_snap_put_u32(out, IALS_MAGIC);
    if (rc == TL_OK) rc = tl_snap_put_u32(out, IALS_VERSION);
    if (rc == TL_OK) rc = tl_snap_put_u32(out, m->n_users);
    if (rc == TL_OK) rc = tl_snap_put_u32(out, m->n_items);
    if (rc == TL_OK) rc = tl_snap_put_u32(out, m->f);
    if (rc == TL_OK) rc = tl_snap_put_u64(out, rb);
    if (rc == TL_OK) rc = tl_snap_put_u64(out, ab);
    if (rc == TL_OK) rc = tl_snap_put_u32s(out, m->ucount, m->n_users);
    if (rc == TL_OK) rc = tl_snap_put_u32s(out, m->icount, m->n_items);
    if (rc == TL_OK) rc = tl_snap_put_f32s(out, m->x, (size_t)m->n_users * f);
    if (rc == TL_OK) rc = tl_snap_put_f32s(out, m->y, (size_t)m->n_items * f);
    if (rc == TL_OK) rc = tl_snap_put_u32(out, m->n_nn_rows);
    if (rc == TL_OK) rc = tl_snap_put_u32(out, NN_K);
    if (rc == TL_OK) rc = tl_snap_put_u32s(out, m->nn, (size_t)m->n_nn_rows * NN_K);
    if (rc == TL_OK) rc = tl_snap_put_f32s(out, m->nn_sim, (size_t)m->n_nn_rows * NN_K);
    if (rc != TL_OK) return tl_err_set(err, rc, NULL, "cannot write the ials snapshot");
    return TL_OK;
}

static int rows_ok(const float *v, const uint32_t *count, size_t rows, size_t f)
{
    for (size_t r = 0; r < rows; r++)
        for (size_t k = 0; k < f; k++) {
            float e = v[r * f + k];
            if (!isfinite(e) || (!count[r] && e != 0.0f)) return 0;
        }
    return 1;
}

static enum tl_rc ials_load(const void *data, size_t len, void **out, struct tl_err *err)
{
    if (!out || (!data && len)) return tl_err_set(err, TL_EINVAL, NULL, "no snapshot or output");
    *out = NULL;
    struct tl_snap_reader r = {data, len, 0, 0};
    uint32_t magic = tl_snap_get_u32(&r), ver = tl_snap_get_u32(&r);
    uint32_t nu = tl_snap_get_u32(&r), ni = tl_snap_get_u32(&r), f = tl_snap_get_u32(&r);
    uint64_t rb = tl_snap_get_u64(&r), ab = tl_snap_get_u64(&r);
    if (r.bad) return tl_err_set(err, TL_EPARSE, "snapshot", "ials snapshot: truncated header");
    if (magic != IALS_MAGIC || (ver != IALS_VERSION && ver != IALS_VERSION_NO_NN))
        return tl_err_set(err, TL_EPARSE, "snapshot", "not an ials snapshot of version %u or %u", IALS_VERSION_NO_NN,
                          IALS_VERSION);
    double reg, alpha;
    memcpy(&reg, &rb, 8);
    memcpy(&alpha, &ab, 8);
    if (f < 1 || f > TL_IALS_FACTORS_MAX || nu > TL_DATASET_IDS_MAX || ni > TL_DATASET_IDS_MAX || !(reg >= 0) ||
        !isfinite(reg) || !(alpha >= 0) || !isfinite(alpha))
        return tl_err_set(err, TL_EPARSE, "snapshot", "ials snapshot: bad header values");
    size_t need = 4 * ((size_t)nu * (f + 1) + (size_t)ni * (f + 1));
    if (ver == IALS_VERSION_NO_NN ? len - r.off != need : len - r.off < need + 8)
        return tl_err_set(err, TL_EPARSE, "snapshot", "ials snapshot: %zu bytes where the header implies %s%zu",
                          len - r.off, ver == IALS_VERSION_NO_NN ? "" : "at least ", need);
    struct tl_ials *m = tl_calloc(1, sizeof *m);
    if (!m) return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    m->n_users = nu;
    m->n_items = ni;
    m->f = f;
    m->reg = reg;
    m->alpha = alpha;
    m->ucount = tl_malloc(((size_t)nu + 1) * sizeof *m->ucount);
    m->icount = tl_malloc(((size_t)ni + 1) * sizeof *m->icount);
    m->x = tl_malloc(((size_t)nu * f + 1) * sizeof *m->x);
    m->y = tl_malloc(((size_t)ni * f + 1) * sizeof *m->y);
    if (!m->ucount || !m->icount || !m->x || !m->y) {
        ials_free(m);
        return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    }
    tl_snap_get_u32s(&r, m->ucount, nu);
    tl_snap_get_u32s(&r, m->icount, ni);
    tl_snap_get_f32s(&r, m->x, (size_t)nu * f);
    tl_snap_get_f32s(&r, m->y, (size_t)ni * f);
    const char *bad = NULL;
    int have_nn = ver == IALS_VERSION && !r.bad;
    if (have_nn) {
        /* the lists: one row per item with users, NN_K each */
        uint32_t rows = tl_snap_get_u32(&r), k = tl_snap_get_u32(&r);
        if (nn_alloc(m) != TL_OK) {
            ials_free(m);
            return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
        }
        if (r.bad || rows != m->n_nn_rows || k != NN_K || (len - r.off) / 8 != (size_t)rows * k || (len - r.off) % 8)
            bad = "neighbour lists of the wrong size";
        else {
            tl_snap_get_u32s(&r, m->nn, (size_t)rows * k);
            tl_snap_get_f32s(&r, m->nn_sim, (size_t)rows * k);
            for (size_t x = 0; x < (size_t)rows * k && !bad; x++)
                if ((m->nn[x] >= ni && m->nn[x] != UINT32_MAX) || !isfinite(m->nn_sim[x]))
                    bad = "neighbour index out of range or non-finite similarity";
        }
    }
    if (!bad && (r.bad || r.off != len))
        bad = "truncated or trailing bytes";
    else if (!bad && (!rows_ok(m->x, m->ucount, nu, f) || !rows_ok(m->y, m->icount, ni, f)))
        bad = "non-finite factor, or non-zero factors for a row without interactions";
    if (bad) {
        ials_free(m);
        return tl_err_set(err, TL_EPARSE, "snapshot", "ials snapshot: %s", bad);
    }
    if (finish_serving(m, have_nn) != TL_OK) {
        ials_free(m);
        return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    }
    *out = m;
    return TL_OK;
}

static size_t ials_memory(const void *model)
{
    const struct tl_ials *m = model;
    if (!m) return 0;
    size_t f = m->f;
    return sizeof *m + ((size_t)m->n_users + 1) * 4 + ((size_t)m->n_items + 1) * 4 + ((size_t)m->n_users * f + 1) * 4 +
           ((size_t)m->n_items * f + 1) * 4 + f * f * 8 + (m->n_items ? m->n_items : 1) * 4 +
           ((size_t)m->n_serve + 1) * (4 + 4 + 4 * f) + ((size_t)m->n_items + 1) * 4 +
           ((size_t)m->n_nn_rows * NN_K + 1) * 8;
}

const struct tl_model_ops tl_ials_ops = {
    .name = "ials",
    .params_size = sizeof(struct tl_ials_params),
    .params_defaults = ials_params_defaults,
    .param_set = ials_param_set,
    .train = ials_train,
    .candidates = ials_candidates,
    .save = ials_save,
    .load = ials_load,
    .memory = ials_memory,
    .free = ials_free,
};
