/* SASRec: self-attention sequential recommendation (Kang & McAuley, ICDM
 * 2018) with full-softmax cross-entropy over all items (as in the recent
 * re-evaluations of SASRec), forward and backward written by hand over
 * cblas_sgemm. API and parameters in sasrec.h.
 *
 * NOTATION
 *   n items (dataset indexes 0..n-1 are model rows 1..n of E; row 0 is the
 *   padding row, kept at zero and never used because sequences are packed,
 *   see below), d = dim, H = heads, dh = d / H, T = max_len, L = layers.
 *   Weights are one float array (layout: E, P, then per layer ln1.g ln1.b
 *   wq bq wk bk wv bv wo bo ln2.g ln2.b w1 b1 w2 b2, then lnf.g lnf.b);
 *   matrices are [d_in x d_out] row-major so a linear layer is Y = X W + b.
 *
 * MODEL (the block of the original SASRec code: the query is layer-normed,
 * keys/values are not, and the attention residual adds the normed query)
 *   x0_t   = drop(E[s_t] * sqrt(d) + P[p_t])
 *   block l, input x:
 *     q    = LN1(x)
 *     Q = q Wq + bq,  K = x Wk + bk,  V = x Wv + bv
 *     per head: A = softmax_causal(Q_h K_h^T / sqrt(dh)),  O_h = A V_h
 *     y    = q + drop(O Wo + bo)
 *     f    = LN2(y)
 *     out  = f + drop(drop(relu(f W1 + b1)) W2 + b2)
 *   h      = LNf(x_L)
 *   logit_t(i) = h_t . E[i]  over all n items (E shared with the input)
 *   loss   = mean over every trained position t of -log softmax(logit_t)[s_{t+1}]
 *   LN(x) = g * (x - mean) / sqrt(var + 1e-8) + b (per row, biased var).
 *   Dropout (rate p, training only) multiplies by a 0 or 1/(1-p) mask.
 *   attn_probs = 1 moves the attention dropout from the output (drop(O Wo
 *   + bo) above) to the probabilities, as torch.nn.MultiheadAttention does:
 *   O_h = (A * M) V_h with M a 0 or 1/(1-p) mask per probability, and
 *   y = q + O Wo + bo; backward: dV = (A * M)^T dO, dA = (dO V^T) * M, then
 *   the softmax backward with A.
 *
 * SEQUENCES AND POSITIONS
 *   A training sequence s_0..s_{m-1} gives inputs s_0..s_{m-2} and targets
 *   s_1..s_{m-1}; only the last T of those positions are kept. Rows are
 *   packed (no padding rows): a batch is the concatenation of its
 *   sequences' rows and attention runs per sequence over its own rows
 *   (causal), which is the left-padded SASRec with padding keys masked,
 *   without spending arithmetic on padding. Positions are right-aligned as
 *   in left-padded SASRec: the j-th of L rows gets P[T - L + j], so the
 *   newest item always sits at position T-1, in training and serving.
 *
 * OUTPUT LAYER (the dominant cost, [R x d] x [d x n])
 *   Done in blocks of `chunk` rows (default: about 16 M logits per block):
 *   Z = H_c E^T (sgemm); per row max, exp (a vectorisable Cephes-style
 *   exp2 polynomial, relative error ~1e-7), sum, loss = log(sum) + max -
 *   z_target, and in place G = softmax / R - onehot(target) / R (fused
 *   softmax/CE gradient); then dH_c = G E and dE += G^T H_c (sgemm).
 *   Threads: a core/pool.h pool of opts->threads splits each block by rows
 *   (logits, softmax and dH of a row range on one thread) and dE by item
 *   rows; the transformer's sgemm calls are split the same way (pgemm) and
 *   Adam by weight ranges. OpenBLAS itself runs single-threaded during
 *   training: its workers spin with sched_yield between calls and took a
 *   fifth of the CPU from ours (perf, Beauty, d 128).
 *
 * TRAINING
 *   Init (splitmix64 stream from opts->seed): every weight matrix, E and P
 *   Xavier-normal, std sqrt(2 / (rows + cols)); biases 0; LN gains 1;
 *   E row 0 = 0. Adam (beta1 0.9, beta2 0.98, eps 1e-8, lr 1e-3, no weight
 *   decay) on the mean loss of each batch of `batch` sequences; users are
 *   shuffled every epoch (Fisher-Yates on the same stream), dropout masks
 *   come from the same stream, so a seed fixes the model (with the same
 *   thread count: OpenBLAS may split sums differently for other counts).
 *   Early stopping (valid = 1): every user with >= 3 items keeps its last
 *   item apart as a validation target and trains on the rest; after every
 *   eval_every epochs the model ranks all items for those users (items of
 *   the user's training sequence excluded, ties counted against the
 *   target) and computes NDCG@10 = 1/log2(rank + 2) if rank < 10; the
 *   weights of the best evaluation are kept, training stops after
 *   `patience` evaluations without improvement, after `epochs`, or at the
 *   end of the first epoch that finishes past max_seconds (0 = no limit). With
 *   valid = 0 every item is trained on for exactly `epochs` epochs.
 *   opts->cancel is polled between batches; opts->progress once per epoch.
 *
 * SERVING (candidates)
 *   The query's history items that the model knows (index < n), newest T
 *   of them, run through the same forward pass (no dropout); with an empty
 *   history the anchor alone is the sequence. score(i) = h_last . E[i];
 *   the best k by the bounded heap of topk.h (ties: lower index), skip()
 *   asked only for would-be winners. Per call one scratch block of
 *   O(T*d*L + n) floats. Every hit names the newest history item as its
 *   anchor.
 *
 * MEASURED (amazon-s3rec, leave-one-out, all items ranked, history masked;
 *   trained on each user's items but the last, the model holding out the
 *   next-to-last for early stopping, i.e. the reference protocol; 2 layers,
 *   d 64, 2 heads, dropout 0.5, batch 256, max_len 50, lr 2e-3, patience 6;
 *   throwaway program, see the task report):
 *     Beauty HR@10 0.0932 NDCG@10 0.0565 (reference 0.0951 / 0.0571),
 *       best epoch 29 of 35;
 *     Toys   HR@10 0.1001 NDCG@10 0.0619 (reference 0.0993 / 0.0605),
 *       best epoch 42 of 48.
 *   With the defaults (lr 1e-3, patience 10) Beauty gives HR@10 0.0915
 *   NDCG@10 0.0554 (best epoch 37 of 47). When the caller has already
 *   removed the validation item (train on all but the last two, history
 *   = all but the last), valid = 1 costs the model one more item per user
 *   (Beauty 0.0800 / 0.0484); valid = 0 with epochs 30, lr 2e-3 trains on
 *   exactly the same items as the runs above and gives 0.0918 / 0.0554.
 *   An epoch of Beauty (154 k trained positions) is ~0.7 TFLOP, ~95% of
 *   it the three output-layer sgemm calls; measured 8-12 s on 2 threads
 *   on a quiet 2-core machine, 25-80 s when the machine was shared.
 *
 * SNAPSHOT FORMAT (little-endian)
 *   u32 magic 0x43455253 ("SREC"), u32 version 1,
 *   u32 n_items, u32 dim, u32 layers, u32 heads, u32 max_len,
 *   u64 n_weights (must equal the count the dims imply:
 *       (n+1)d + Td + L(6d^2 + 10d) + 2d),
 *   n_weights x f32 (the layout above),
 *   u64 checksum = tl_hash(all preceding bytes, seed 0x5A5E).
 *   load() rejects a wrong magic/version, dims out of range, a count
 *   mismatch, missing or extra bytes, a checksum mismatch and non-finite
 *   weights with TL_EPARSE. */
#include "model/sasrec.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/hash.h"
#include "core/pool.h"
#include "core/topk.h"

#define SNAP_MAGIC 0x43455253u
#define SNAP_VERSION 1u
#define SNAP_SEED 0x5A5Eu
#define LN_EPS 1e-8f
#define ADAM_B1 0.9
#define ADAM_EPS 1e-8
#define CHUNK_LOGITS ((size_t)16 << 20) /* automatic output block: logits per block */
#define TOPK_STACK 128
#define EVAL_K 10

/* ---------- parameters ---------- */

static void params_defaults(void *pv)
{
    struct tl_sasrec_params *p = pv;
    memset(p, 0, sizeof *p);
    p->layers = 2;
    p->dim = 64;
    p->heads = 2;
    p->dropout = 0.5;
    p->lr = 1e-3;
    p->beta2 = 0.98;
    p->batch = 256;
    p->max_len = 50;
    p->epochs = 200;
    p->patience = 10;
    p->valid = 1;
    p->chunk = 0;
    p->eval_every = 1;
    p->max_seconds = 0.0;
}

static enum tl_rc param_set(void *pv, const char *key, const char *value, struct tl_err *err)
{
    struct tl_sasrec_params *p = pv;
    if (!key) return tl_err_set(err, TL_EINVAL, "key", "parameter name is required");
    struct {
        const char *name;
        long *v;
        long lo, hi;
    } ints[] = {{"layers", &p->layers, 1, TL_SASREC_LAYERS_MAX},
                {"dim", &p->dim, 2, TL_SASREC_DIM_MAX},
                {"heads", &p->heads, 1, TL_SASREC_HEADS_MAX},
                {"batch", &p->batch, 1, 100000},
                {"max_len", &p->max_len, 1, TL_SASREC_LEN_MAX},
                {"epochs", &p->epochs, 1, 10000},
                {"patience", &p->patience, 0, 10000},
                {"valid", &p->valid, 0, 1},
                {"chunk", &p->chunk, 0, 1L << 24},
                {"eval_every", &p->eval_every, 1, 10000},
                {"attn_probs", &p->attn_probs, 0, 1}};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        if (strcmp(key, ints[i].name) == 0)
            return tl_model_param_long(key, value, ints[i].lo, ints[i].hi, ints[i].v, err);
    if (strcmp(key, "dropout") == 0) return tl_model_param_double(key, value, 0.0, 0.9, &p->dropout, err);
    if (strcmp(key, "lr") == 0) return tl_model_param_double(key, value, 1e-6, 1.0, &p->lr, err);
    if (strcmp(key, "max_seconds") == 0) return tl_model_param_double(key, value, 0.0, 1e7, &p->max_seconds, err);
    if (strcmp(key, "beta2") == 0) return tl_model_param_double(key, value, 0.5, 0.99999, &p->beta2, err);
    return tl_err_set(err, TL_EINVAL, key, "unknown sasrec parameter '%s'", key);
}

/* ---------- model layout ---------- */

struct lay {
    size_t ln1g, ln1b, wq, bq, wk, bk, wv, bv, wo, bo, ln2g, ln2b, w1, b1, w2, b2;
};

struct tl_sasrec {
    uint32_t n, d, nl, nh, T;
    int attn_probs; /* training only (params.attn_probs); not in the snapshot */
    size_t nw;
    float *w;
    size_t oE, oP, olnfg, olnfb;
    struct lay lay[TL_SASREC_LAYERS_MAX];
    struct tl_sasrec_info info;
};

static size_t weights_for(uint32_t n, uint32_t d, uint32_t nl, uint32_t T)
{
    size_t D = d;
    return ((size_t)n + 1) * D + (size_t)T * D + (size_t)nl * (6 * D * D + 10 * D) + 2 * D;
}

static void layout(struct tl_sasrec *m)
{
    size_t D = m->d, o = 0;
    m->oE = o;
    o += ((size_t)m->n + 1) * D;
    m->oP = o;
    o += (size_t)m->T * D;
    for (uint32_t l = 0; l < m->nl; l++) {
        struct lay *y = &m->lay[l];
        y->ln1g = o, o += D;
        y->ln1b = o, o += D;
        y->wq = o, o += D * D;
        y->bq = o, o += D;
        y->wk = o, o += D * D;
        y->bk = o, o += D;
        y->wv = o, o += D * D;
        y->bv = o, o += D;
        y->wo = o, o += D * D;
        y->bo = o, o += D;
        y->ln2g = o, o += D;
        y->ln2b = o, o += D;
        y->w1 = o, o += D * D;
        y->b1 = o, o += D;
        y->w2 = o, o += D * D;
        y->b2 = o, o += D;
    }
    m->olnfg = o, o += D;
    m->olnfb = o, o += D;
    m->nw = o;
}

static int dims_ok(uint64_t n, uint64_t d, uint64_t nl, uint64_t nh, uint64_t T)
{
    return n >= 1 && n < TL_DATASET_IDS_MAX && d >= 2 && d <= TL_SASREC_DIM_MAX && nl >= 1 &&
           nl <= TL_SASREC_LAYERS_MAX && nh >= 1 && nh <= TL_SASREC_HEADS_MAX && d % nh == 0 && T >= 1 &&
           T <= TL_SASREC_LEN_MAX;
}

static struct tl_sasrec *model_new(uint32_t n, uint32_t d, uint32_t nl, uint32_t nh, uint32_t T)
{
    struct tl_sasrec *m = tl_calloc(1, sizeof *m);
    if (!m) return NULL;
    m->n = n, m->d = d, m->nl = nl, m->nh = nh, m->T = T;
    layout(m);
    m->w = tl_calloc(m->nw, sizeof *m->w);
    if (!m->w) {
        tl_free(m);
        return NULL;
    }
    return m;
}

static void model_free(void *pv)
{
    struct tl_sasrec *m = pv;
    if (!m) return;
    tl_free(m->w);
    tl_free(m);
}

/* ---------- random numbers (splitmix64) ---------- */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1) with 24 random bits. */
static float rng_unif(uint64_t *s) { return (float)(rng_next(s) >> 40) * (1.0f / 16777216.0f); }

static double rng_normal(uint64_t *s)
{
    double u1 = ((double)(rng_next(s) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
    double u2 = (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

static void init_normal(float *w, size_t n, double sd, uint64_t *s)
{
    for (size_t i = 0; i < n; i++) w[i] = (float)(sd * rng_normal(s));
}

static void init_weights(struct tl_sasrec *m, uint64_t seed)
{
    uint64_t s = seed ^ 0x5A5EC0DEull;
    size_t D = m->d;
    memset(m->w, 0, m->nw * sizeof *m->w);
    init_normal(m->w + m->oE + D, (size_t)m->n * D, sqrt(2.0 / ((double)m->n + 1 + (double)D)), &s);
    init_normal(m->w + m->oP, (size_t)m->T * D, sqrt(2.0 / ((double)m->T + (double)D)), &s);
    double sd = sqrt(2.0 / (2.0 * (double)D));
    for (uint32_t l = 0; l < m->nl; l++) {
        const struct lay *y = &m->lay[l];
        size_t mats[6] = {y->wq, y->wk, y->wv, y->wo, y->w1, y->w2};
        for (int k = 0; k < 6; k++) init_normal(m->w + mats[k], D * D, sd, &s);
        for (size_t j = 0; j < D; j++) m->w[y->ln1g + j] = m->w[y->ln2g + j] = 1.0f;
    }
    for (size_t j = 0; j < D; j++) m->w[m->olnfg + j] = 1.0f;
}

/* ---------- small kernels ---------- */

static void gemm(int ta, int tb, size_t M, size_t N, size_t K, float alpha, const float *A, size_t lda, const float *B,
                 size_t ldb, float beta, float *C, size_t ldc)
{
    if (M == 0 || N == 0) return;
    if (K == 0) {
        for (size_t i = 0; i < M; i++)
            for (size_t j = 0; j < N; j++) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
        return;
    }
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)M, (int)N, (int)K,
                alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
}

/* gemm split over the pool: by rows of C (M), or by its columns (N) when
 * M is too short to share. Every element of C is still one sgemm's sum over
 * the whole K in the same order, so the split does not change the result. */
struct gemm_job {
    int ta, tb, by_cols;
    size_t M, N, K, lda, ldb, ldc;
    float alpha, beta;
    const float *A, *B;
    float *C;
};

static void gemm_part(void *pv, size_t a, size_t b)
{
    const struct gemm_job *j = pv;
    if (j->by_cols)
        gemm(j->ta, j->tb, j->M, b - a, j->K, j->alpha, j->A, j->lda, j->tb ? j->B + a * j->ldb : j->B + a, j->ldb,
             j->beta, j->C + a, j->ldc);
    else
        gemm(j->ta, j->tb, b - a, j->N, j->K, j->alpha, j->ta ? j->A + a : j->A + a * j->lda, j->lda, j->B, j->ldb,
             j->beta, j->C + a * j->ldc, j->ldc);
}

#define PGEMM_MIN_FLOPS ((size_t)1 << 18) /* below this one thread is faster than a hand-off */
#define PGEMM_MIN_SIDE 32                 /* rows (or columns) per thread at least */

static void pgemm(struct tl_pool *pool, int ta, int tb, size_t M, size_t N, size_t K, float alpha, const float *A,
                  size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc)
{
    size_t T = (size_t)tl_pool_threads(pool);
    struct gemm_job j = {ta, tb, 0, M, N, K, lda, ldb, ldc, alpha, beta, A, B, C};
    if (T <= 1 || M * N * K < PGEMM_MIN_FLOPS || (M < PGEMM_MIN_SIDE * T && N < PGEMM_MIN_SIDE * T)) {
        gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    j.by_cols = M < PGEMM_MIN_SIDE * T;
    tl_pool_for(pool, j.by_cols ? N : M, gemm_part, &j);
}

/* Y[R x dout] = X[R x din] W + b. */
static void linear_fwd(struct tl_pool *pool, size_t R, size_t din, size_t dout, const float *X, const float *W,
                       const float *b, float *Y)
{
    for (size_t r = 0; r < R; r++) memcpy(Y + r * dout, b, dout * sizeof *Y);
    pgemm(pool, 0, 0, R, dout, din, 1.0f, X, din, W, dout, 1.0f, Y, dout);
}

/* dW += X^T dY, db += colsum(dY); dX = dY W^T (beta_x 0) or += (beta_x 1);
 * dX NULL = not needed. */
static void linear_bwd(struct tl_pool *pool, size_t R, size_t din, size_t dout, const float *X, const float *W,
                       const float *dY, float *dW, float *db, float *dX, float beta_x)
{
    pgemm(pool, 1, 0, din, dout, R, 1.0f, X, din, dY, dout, 1.0f, dW, dout);
    for (size_t r = 0; r < R; r++) {
        const float *g = dY + r * dout;
#pragma omp simd
        for (size_t j = 0; j < dout; j++) db[j] += g[j];
    }
    if (dX) pgemm(pool, 0, 1, R, din, dout, 1.0f, dY, dout, W, dout, beta_x, dX, din);
}

static void ln_fwd(size_t R, size_t D, const float *x, const float *g, const float *b, float *xh, float *rs, float *y)
{
    for (size_t r = 0; r < R; r++) {
        const float *xr = x + r * D;
        float *hr = xh + r * D, *yr = y + r * D;
        float mu = 0.0f, var = 0.0f;
#pragma omp simd reduction(+ : mu)
        for (size_t j = 0; j < D; j++) mu += xr[j];
        mu /= (float)D;
#pragma omp simd reduction(+ : var)
        for (size_t j = 0; j < D; j++) var += (xr[j] - mu) * (xr[j] - mu);
        var /= (float)D;
        float rstd = 1.0f / sqrtf(var + LN_EPS);
        rs[r] = rstd;
#pragma omp simd
        for (size_t j = 0; j < D; j++) {
            hr[j] = (xr[j] - mu) * rstd;
            yr[j] = g[j] * hr[j] + b[j];
        }
    }
}

/* dx (=, or += when acc) from dy; dg += dy * xh, db += dy. */
static void ln_bwd(size_t R, size_t D, const float *dy, const float *xh, const float *rs, const float *g, float *dg,
                   float *db, float *dx, int acc)
{
    for (size_t r = 0; r < R; r++) {
        const float *dr = dy + r * D, *hr = xh + r * D;
        float *xr = dx + r * D;
        float m1 = 0.0f, m2 = 0.0f;
#pragma omp simd reduction(+ : m1, m2)
        for (size_t j = 0; j < D; j++) {
            float t = dr[j] * g[j];
            m1 += t;
            m2 += t * hr[j];
        }
        m1 /= (float)D;
        m2 /= (float)D;
        float rstd = rs[r];
#pragma omp simd
        for (size_t j = 0; j < D; j++) {
            float v = rstd * (dr[j] * g[j] - m1 - hr[j] * m2);
            xr[j] = acc ? xr[j] + v : v;
            dg[j] += dr[j] * hr[j];
            db[j] += dr[j];
        }
    }
}

/* exp(x) for x <= 0 (clamped at -87.3), 8 lanes at once (GCC vector
 * extensions, so it compiles to SSE2 or AVX2 without intrinsics): 2^t =
 * 2^r * 2^f with t = x log2(e), r = round(t) (the 1.5 * 2^23 trick), f in
 * [-0.5, 0.5], 2^f by the Cephes exp2f polynomial (relative error ~1e-7),
 * 2^r built in the exponent bits. */
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

static inline __attribute__((always_inline)) void vexp(v8f *xp)
{
    v8f x = *xp;
    const v8f lo = {-87.3f, -87.3f, -87.3f, -87.3f, -87.3f, -87.3f, -87.3f, -87.3f};
    v8i lt = x < lo;
    x = (v8f)(((v8i)x & ~lt) | ((v8i)lo & lt));
    v8f t = x * 1.44269504088896341f;
    v8f r = (t + 12582912.0f) - 12582912.0f;
    v8f f = t - r;
    v8f p = f * 1.535336188319500e-4f + 1.339887440266574e-3f;
    p = p * f + 9.618437357674640e-3f;
    p = p * f + 5.550332471162809e-2f;
    p = p * f + 2.402264791363012e-1f;
    p = p * f + 6.931472028550421e-1f;
    p = p * f + 1.0f;
    v8i e = (__builtin_convertvector(r, v8i) + 127) << 23;
    *xp = p * (v8f)e;
}

/* Hot loops built twice, for AVX2 and for any x86-64, the right one picked
 * at load time (an ifunc). ThreadSanitizer instruments the picker, which
 * runs before its runtime is set up and crashes there: one version in that
 * build. */
#if defined(__SANITIZE_THREAD__)
#define AVX2_CLONES
#else
#define AVX2_CLONES __attribute__((target_clones("avx2", "default")))
#endif

/* In place: z <- exp(z - max); returns the sum (and the max in *mxo). The
 * sum is accumulated in 8 lanes then added up in a fixed order. */
AVX2_CLONES static float exp_row(float *z, size_t n, float *mxo)
{
    float mx = -INFINITY;
    for (size_t j = 0; j < n; j++) mx = z[j] > mx ? z[j] : mx;
    v8f vm = {mx, mx, mx, mx, mx, mx, mx, mx}, acc = {0};
    size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        v8f v;
        memcpy(&v, z + j, sizeof v);
        v -= vm;
        vexp(&v);
        memcpy(z + j, &v, sizeof v);
        acc += v;
    }
    if (j < n) {
        v8f v = vm;
        memcpy(&v, z + j, (n - j) * sizeof(float));
        v -= vm;
        vexp(&v);
        memcpy(z + j, &v, (n - j) * sizeof(float));
        for (size_t i = 0; i < n - j; i++) acc[i] += v[i];
    }
    float s = 0.0f;
    for (int i = 0; i < 8; i++) s += acc[i];
    *mxo = mx;
    return s;
}

/* ---------- workspace ---------- */

struct lc {
    float *xh1, *rs1, *q, *Q, *K, *V, *A, *O, *ma, *xh2, *rs2, *f, *h1, *m1, *h1d, *m2, *out;
    float *mA, *Ad; /* attn_probs: mask of the attention probabilities, and the dropped probabilities */
};

struct ws {
    size_t rmax, bmax, amax;
    int masks, train;
    int dropped; /* the last forward pass applied dropout masks */
    uint32_t *in, *pos, *tgt;
    size_t *soff, *aoff;
    float *x0, *m0, *xhf, *rsf, *hf, *tmp;
    struct lc lc[TL_SASREC_LAYERS_MAX];
    float *gA, *gB, *gC, *dQ, *dK, *dV, *dO, *dS;
    void *block;
    struct tl_pool *pool; /* NULL: one thread */
};

static void *take(char *base, size_t *off, size_t bytes)
{
    size_t o = (*off + 63) & ~(size_t)63;
    *off = o + bytes;
    return base ? (void *)(base + o) : NULL;
}

static size_t ws_carve(const struct tl_sasrec *m, struct ws *w, char *base)
{
    size_t off = 0, R = w->rmax, RD = w->rmax * m->d * sizeof(float), Rf = R * sizeof(float);
    w->in = take(base, &off, R * sizeof(uint32_t));
    w->pos = take(base, &off, R * sizeof(uint32_t));
    w->tgt = take(base, &off, R * sizeof(uint32_t));
    w->soff = take(base, &off, (w->bmax + 1) * sizeof(size_t));
    w->aoff = take(base, &off, (w->bmax + 1) * sizeof(size_t));
    w->x0 = take(base, &off, RD);
    w->m0 = w->masks ? take(base, &off, RD) : NULL;
    w->tmp = take(base, &off, RD);
    for (uint32_t l = 0; l < m->nl; l++) {
        struct lc *c = &w->lc[l];
        c->xh1 = take(base, &off, RD);
        c->rs1 = take(base, &off, Rf);
        c->q = take(base, &off, RD);
        c->Q = take(base, &off, RD);
        c->K = take(base, &off, RD);
        c->V = take(base, &off, RD);
        c->A = take(base, &off, w->amax * sizeof(float));
        c->O = take(base, &off, RD);
        c->xh2 = take(base, &off, RD);
        c->rs2 = take(base, &off, Rf);
        c->f = take(base, &off, RD);
        c->h1 = take(base, &off, RD);
        c->out = take(base, &off, RD);
        c->mA = c->Ad = NULL;
        if (w->masks && m->attn_probs) {
            c->mA = take(base, &off, w->amax * sizeof(float));
            c->Ad = take(base, &off, w->amax * sizeof(float));
        }
        if (w->masks) {
            c->ma = take(base, &off, RD);
            c->m1 = take(base, &off, RD);
            c->h1d = take(base, &off, RD);
            c->m2 = take(base, &off, RD);
        } else {
            c->ma = c->m1 = c->m2 = NULL;
            c->h1d = c->h1;
        }
    }
    w->xhf = take(base, &off, RD);
    w->rsf = take(base, &off, Rf);
    w->hf = take(base, &off, RD);
    if (w->train) {
        w->gA = take(base, &off, RD);
        w->gB = take(base, &off, RD);
        w->gC = take(base, &off, RD);
        w->dQ = take(base, &off, RD);
        w->dK = take(base, &off, RD);
        w->dV = take(base, &off, RD);
        w->dO = take(base, &off, RD);
        w->dS = take(base, &off, (size_t)m->T * m->T * sizeof(float));
    }
    return off + 64;
}

static enum tl_rc ws_alloc(const struct tl_sasrec *m, struct ws *w, size_t rmax, size_t bmax, int masks, int train)
{
    memset(w, 0, sizeof *w);
    w->rmax = rmax ? rmax : 1;
    w->bmax = bmax ? bmax : 1;
    /* attention probabilities: sum over sequences of H L^2 <= H T * rows */
    w->amax = (size_t)m->nh * m->T * w->rmax;
    w->masks = masks, w->train = train;
    size_t bytes = ws_carve(m, w, NULL);
    w->block = tl_malloc(bytes);
    if (!w->block) return TL_ENOMEM;
    char *base = (char *)(((uintptr_t)w->block + 63) & ~(uintptr_t)63);
    ws_carve(m, w, base);
    return TL_OK;
}

static void ws_free(struct ws *w) { tl_free(w->block), w->block = NULL; }

/* A sequence view: items in dataset indexes, oldest first. */
struct seqv {
    const uint32_t *s;
    size_t n;
};

/* Rows of one sequence: training (with targets) uses n-1 positions. */
static size_t seq_rows(const struct tl_sasrec *m, size_t n, int with_targets)
{
    size_t L = with_targets ? (n >= 1 ? n - 1 : 0) : n;
    return L < m->T ? L : m->T;
}

/* Fill in/pos/tgt/soff/aoff for B sequences; returns the row count. */
static size_t build_batch(const struct tl_sasrec *m, struct ws *w, const struct seqv *sq, size_t B, int with_targets)
{
    size_t R = 0;
    w->soff[0] = 0, w->aoff[0] = 0;
    for (size_t b = 0; b < B; b++) {
        size_t L = seq_rows(m, sq[b].n, with_targets);
        size_t start = (with_targets ? sq[b].n - 1 : sq[b].n) - L;
        for (size_t j = 0; j < L; j++) {
            w->in[R + j] = sq[b].s[start + j] + 1;
            w->pos[R + j] = (uint32_t)(m->T - L + j);
            if (with_targets) w->tgt[R + j] = sq[b].s[start + j + 1];
        }
        R += L;
        w->soff[b + 1] = R;
        w->aoff[b + 1] = w->aoff[b] + (size_t)m->nh * L * L;
    }
    return R;
}

static void fill_mask(float *mk, size_t n, float p, uint64_t *s)
{
    float keep = 1.0f / (1.0f - p);
    for (size_t i = 0; i < n; i++) mk[i] = rng_unif(s) < p ? 0.0f : keep;
}

/* ---------- forward ---------- */

/* p > 0 (attn_probs training): the probabilities A are kept for the
 * backward pass and O = (A * mask) V with masks drawn from *s. */
static void attn_fwd(const struct tl_sasrec *m, const struct ws *w, size_t B, const struct lc *c, float p, uint64_t *s)
{
    size_t D = m->d, H = m->nh, dh = D / H;
    float scale = 1.0f / sqrtf((float)dh), keep = p > 0.0f ? 1.0f / (1.0f - p) : 1.0f;
    for (size_t b = 0; b < B; b++) {
        size_t r0 = w->soff[b], L = w->soff[b + 1] - r0;
        if (L == 0) continue;
        for (size_t h = 0; h < H; h++) {
            float *S = c->A + w->aoff[b] + h * L * L;
            size_t co = r0 * D + h * dh;
            gemm(0, 1, L, L, dh, scale, c->Q + co, D, c->K + co, D, 0.0f, S, L);
            for (size_t i = 0; i < L; i++) {
                float *row = S + i * L;
                float mx;
                float sum = exp_row(row, i + 1, &mx);
                float inv = 1.0f / sum;
                for (size_t j = 0; j <= i; j++) row[j] *= inv;
                for (size_t j = i + 1; j < L; j++) row[j] = 0.0f;
            }
            const float *P = S;
            if (p > 0.0f) {
                float *mk = c->mA + w->aoff[b] + h * L * L, *Ad = c->Ad + w->aoff[b] + h * L * L;
                for (size_t x = 0; x < L * L; x++) {
                    mk[x] = S[x] != 0.0f && rng_unif(s) < p ? 0.0f : keep;
                    Ad[x] = S[x] * mk[x];
                }
                P = Ad;
            }
            gemm(0, 0, L, dh, L, 1.0f, P, L, c->V + co, D, 0.0f, c->O + co, D);
        }
    }
}

/* Forward pass over R packed rows of B sequences; dropout p > 0 draws
 * masks from *s (training). Result in w->hf. */
static void forward(const struct tl_sasrec *m, struct ws *w, size_t B, size_t R, float p, uint64_t *s)
{
    size_t D = m->d, RD = R * D;
    const float *W = m->w;
    float sq = sqrtf((float)D);
    int drop = p > 0.0f && w->masks;
    w->dropped = drop;
    if (drop) fill_mask(w->m0, RD, p, s);
    for (size_t r = 0; r < R; r++) {
        const float *e = W + m->oE + (size_t)w->in[r] * D, *pp = W + m->oP + (size_t)w->pos[r] * D;
        float *x = w->x0 + r * D;
        for (size_t j = 0; j < D; j++) x[j] = e[j] * sq + pp[j];
        if (drop)
            for (size_t j = 0; j < D; j++) x[j] *= w->m0[r * D + j];
    }
    const float *x = w->x0;
    for (uint32_t l = 0; l < m->nl; l++) {
        const struct lay *y = &m->lay[l];
        struct lc *c = &w->lc[l];
        ln_fwd(R, D, x, W + y->ln1g, W + y->ln1b, c->xh1, c->rs1, c->q);
        linear_fwd(w->pool, R, D, D, c->q, W + y->wq, W + y->bq, c->Q);
        linear_fwd(w->pool, R, D, D, x, W + y->wk, W + y->bk, c->K);
        linear_fwd(w->pool, R, D, D, x, W + y->wv, W + y->bv, c->V);
        attn_fwd(m, w, B, c, drop && m->attn_probs ? p : 0.0f, s);
        linear_fwd(w->pool, R, D, D, c->O, W + y->wo, W + y->bo, w->tmp);
        if (drop && !m->attn_probs) {
            fill_mask(c->ma, RD, p, s);
            for (size_t i = 0; i < RD; i++) w->tmp[i] = c->q[i] + w->tmp[i] * c->ma[i];
        } else {
            for (size_t i = 0; i < RD; i++) w->tmp[i] += c->q[i];
        }
        ln_fwd(R, D, w->tmp, W + y->ln2g, W + y->ln2b, c->xh2, c->rs2, c->f);
        linear_fwd(w->pool, R, D, D, c->f, W + y->w1, W + y->b1, c->h1);
        for (size_t i = 0; i < RD; i++) c->h1[i] = c->h1[i] > 0.0f ? c->h1[i] : 0.0f;
        if (drop) {
            fill_mask(c->m1, RD, p, s);
            for (size_t i = 0; i < RD; i++) c->h1d[i] = c->h1[i] * c->m1[i];
        }
        linear_fwd(w->pool, R, D, D, drop ? c->h1d : c->h1, W + y->w2, W + y->b2, w->tmp);
        if (drop) {
            fill_mask(c->m2, RD, p, s);
            for (size_t i = 0; i < RD; i++) c->out[i] = c->f[i] + w->tmp[i] * c->m2[i];
        } else {
            for (size_t i = 0; i < RD; i++) c->out[i] = c->f[i] + w->tmp[i];
        }
        x = c->out;
    }
    ln_fwd(R, D, x, W + m->olnfg, W + m->olnfb, w->xhf, w->rsf, w->hf);
}

/* ---------- output layer: fused softmax cross-entropy ---------- */

struct ce_ctx {
    float *Z;          /* [rows x n] logits, becomes G */
    const uint32_t *t; /* targets of these rows */
    double *loss;      /* per row */
    size_t n;
    float scale;
};

static void ce_rows(void *pv, size_t a, size_t b)
{
    struct ce_ctx *c = pv;
    for (size_t r = a; r < b; r++) {
        float *z = c->Z + r * c->n;
        uint32_t t = c->t[r];
        float zt = z[t], mx;
        float s = exp_row(z, c->n, &mx);
        c->loss[r] = log((double)s) + (double)mx - (double)zt;
        float k = c->scale / s;
#pragma omp simd
        for (size_t j = 0; j < c->n; j++) z[j] *= k;
        z[t] -= c->scale;
    }
}

struct outbuf {
    float *Z;     /* chunk x n */
    double *loss; /* chunk */
    size_t chunk;
};

static size_t auto_chunk(size_t n, size_t rmax, long want)
{
    size_t c = want > 0 ? (size_t)want : CHUNK_LOGITS / (n ? n : 1);
    if (c < 1) c = 1;
    if (c > rmax) c = rmax;
    return c ? c : 1;
}

static enum tl_rc outbuf_alloc(struct outbuf *o, size_t n, size_t chunk)
{
    o->chunk = chunk;
    o->Z = tl_malloc(chunk * n * sizeof *o->Z);
    o->loss = tl_malloc(chunk * sizeof *o->loss);
    if (!o->Z || !o->loss) {
        tl_free(o->Z), tl_free(o->loss);
        o->Z = NULL, o->loss = NULL;
        return TL_ENOMEM;
    }
    return TL_OK;
}

static void outbuf_free(struct outbuf *o)
{
    tl_free(o->Z), tl_free(o->loss);
    o->Z = NULL, o->loss = NULL;
}

/* One block of rows, split by rows over the pool: each thread computes its
 * rows' logits Z = H_c E^T, the fused softmax / cross-entropy, and (dH
 * given) dH = G E for the same rows, while they are still warm. */
struct out_rows {
    const float *Hc, *E1;
    struct ce_ctx cx;
    float *dH; /* NULL: loss only */
    size_t D;
};

static void out_rows_part(void *pv, size_t a, size_t b)
{
    struct out_rows *o = pv;
    size_t n = o->cx.n, D = o->D;
    gemm(0, 1, b - a, n, D, 1.0f, o->Hc + a * D, D, o->E1, D, 0.0f, o->cx.Z + a * n, n);
    ce_rows(&o->cx, a, b);
    if (o->dH) gemm(0, 0, b - a, D, n, 1.0f, o->cx.Z + a * n, n, o->E1, D, 0.0f, o->dH + a * D, D);
}

/* Loss sum over R rows of H (targets tgt); with gE, G = scale * dloss/dZ:
 * dH (R x d) = G E and gE += G^T H (split by item rows of gE, so no two
 * threads add into the same row). */
static double out_layer(const struct tl_sasrec *m, const float *H, const uint32_t *tgt, size_t R, struct outbuf *ob,
                        struct tl_pool *pool, float scale, float *dH, float *gE)
{
    size_t D = m->d, n = m->n;
    const float *E1 = m->w + m->oE + D; /* item rows 1..n */
    double total = 0.0;
    for (size_t r0 = 0; r0 < R; r0 += ob->chunk) {
        size_t rc = R - r0 < ob->chunk ? R - r0 : ob->chunk;
        const float *Hc = H + r0 * D;
        struct out_rows o = {Hc, E1, {ob->Z, tgt + r0, ob->loss, n, scale}, gE ? dH + r0 * D : NULL, D};
        tl_pool_for(pool, rc, out_rows_part, &o);
        for (size_t r = 0; r < rc; r++) total += ob->loss[r];
        if (gE) pgemm(pool, 1, 0, n, D, rc, 1.0f, ob->Z, n, Hc, D, 1.0f, gE + D, D);
    }
    return total;
}

/* ---------- backward ---------- */

static void attn_bwd(const struct tl_sasrec *m, struct ws *w, size_t B, const struct lc *c)
{
    size_t D = m->d, H = m->nh, dh = D / H;
    float scale = 1.0f / sqrtf((float)dh);
    for (size_t b = 0; b < B; b++) {
        size_t r0 = w->soff[b], L = w->soff[b + 1] - r0;
        if (L == 0) continue;
        for (size_t h = 0; h < H; h++) {
            const float *A = c->A + w->aoff[b] + h * L * L;
            int dp = w->dropped && m->attn_probs;
            const float *mk = dp ? c->mA + w->aoff[b] + h * L * L : NULL;
            const float *P = dp ? c->Ad + w->aoff[b] + h * L * L : A; /* what multiplied V */
            float *dS = w->dS;
            size_t co = r0 * D + h * dh;
            gemm(0, 1, L, L, dh, 1.0f, w->dO + co, D, c->V + co, D, 0.0f, dS, L);
            gemm(1, 0, L, dh, L, 1.0f, P, L, w->dO + co, D, 0.0f, w->dV + co, D);
            if (mk) /* d(A * mask) -> dA */
                for (size_t x = 0; x < L * L; x++) dS[x] *= mk[x];
            for (size_t i = 0; i < L; i++) {
                const float *a = A + i * L;
                float *g = dS + i * L, s = 0.0f;
                for (size_t j = 0; j <= i; j++) s += a[j] * g[j];
                for (size_t j = 0; j <= i; j++) g[j] = a[j] * (g[j] - s);
                for (size_t j = i + 1; j < L; j++) g[j] = 0.0f;
            }
            gemm(0, 0, L, dh, L, scale, dS, L, c->K + co, D, 0.0f, w->dQ + co, D);
            gemm(1, 0, L, dh, L, scale, dS, L, c->Q + co, D, 0.0f, w->dK + co, D);
        }
    }
}

/* w->gB holds dLoss/dhf on entry; gradients are added into G. */
static void backward(const struct tl_sasrec *m, struct ws *w, size_t B, size_t R, float *G)
{
    size_t D = m->d, RD = R * D;
    const float *W = m->w;
    float *gA = w->gA, *gB = w->gB, *gC = w->gC;
    ln_bwd(R, D, gB, w->xhf, w->rsf, W + m->olnfg, G + m->olnfg, G + m->olnfb, gA, 0);
    for (uint32_t li = m->nl; li-- > 0;) {
        const struct lay *y = &m->lay[li];
        const struct lc *c = &w->lc[li];
        const float *x = li ? w->lc[li - 1].out : w->x0;
        const float *m1 = w->dropped ? c->m1 : NULL, *m2 = w->dropped ? c->m2 : NULL;
        const float *ma = w->dropped && !m->attn_probs ? c->ma : NULL, *h1d = w->dropped ? c->h1d : c->h1;
        /* out = f + drop(z):  dz = dout * m2 */
        const float *dz = gA;
        if (m2) {
            for (size_t i = 0; i < RD; i++) gB[i] = gA[i] * m2[i];
            dz = gB;
        }
        linear_bwd(w->pool, R, D, D, h1d, W + y->w2, dz, G + y->w2, G + y->b2, gC, 0.0f);
        for (size_t i = 0; i < RD; i++) {
            float g = c->h1[i] > 0.0f ? gC[i] : 0.0f;
            gC[i] = m1 ? g * m1[i] : g;
        }
        linear_bwd(w->pool, R, D, D, c->f, W + y->w1, gC, G + y->w1, G + y->b1, gA, 1.0f); /* gA = df */
        ln_bwd(R, D, gA, c->xh2, c->rs2, W + y->ln2g, G + y->ln2g, G + y->ln2b, gB, 0);    /* gB = dy */
        memcpy(gC, gB, RD * sizeof *gC);                                                   /* gC = dq */
        if (ma)
            for (size_t i = 0; i < RD; i++) gB[i] *= ma[i]; /* gB = da */
        linear_bwd(w->pool, R, D, D, c->O, W + y->wo, gB, G + y->wo, G + y->bo, w->dO, 0.0f);
        attn_bwd(m, w, B, c);
        linear_bwd(w->pool, R, D, D, c->q, W + y->wq, w->dQ, G + y->wq, G + y->bq, gC, 1.0f);
        linear_bwd(w->pool, R, D, D, x, W + y->wk, w->dK, G + y->wk, G + y->bk, gA, 0.0f);
        linear_bwd(w->pool, R, D, D, x, W + y->wv, w->dV, G + y->wv, G + y->bv, gA, 1.0f);
        ln_bwd(R, D, gC, c->xh1, c->rs1, W + y->ln1g, G + y->ln1g, G + y->ln1b, gA, 1);
    }
    float sq = sqrtf((float)D);
    for (size_t r = 0; r < R; r++) {
        float *ge = G + m->oE + (size_t)w->in[r] * D, *gp = G + m->oP + (size_t)w->pos[r] * D;
        const float *g = gA + r * D;
        const float *mk = w->dropped ? w->m0 + r * D : NULL;
        for (size_t j = 0; j < D; j++) {
            float v = mk ? g[j] * mk[j] : g[j];
            ge[j] += v * sq;
            gp[j] += v;
        }
    }
}

/* One batch: forward, loss, and (G != NULL) backward. Returns the loss sum;
 * gradients are of the mean loss over the R rows. */
static double batch_step(const struct tl_sasrec *m, struct ws *w, struct outbuf *ob, size_t B, size_t R, float p,
                         uint64_t *s, float *G)
{
    if (R == 0) return 0.0;
    forward(m, w, B, R, p, s);
    double loss = out_layer(m, w->hf, w->tgt, R, ob, w->pool, 1.0f / (float)R, G ? w->gB : NULL, G ? G + m->oE : NULL);
    if (G) backward(m, w, B, R, G);
    return loss;
}

/* ---------- evaluation (validation ranking) ---------- */

struct evalset {
    struct seqv *hist; /* per evaluated user: the sequence fed to the model */
    uint32_t *target;  /* held-out item */
    size_t n;
};

struct rank_ctx {
    float *S;
    const struct seqv *hist;
    const uint32_t *target;
    size_t n;
    double *ndcg, *hr; /* per row */
};

static void rank_rows(void *pv, size_t a, size_t b)
{
    struct rank_ctx *c = pv;
    for (size_t r = a; r < b; r++) {
        float *z = c->S + r * c->n;
        uint32_t t = c->target[r];
        float st = z[t];
        for (size_t i = 0; i < c->hist[r].n; i++) z[c->hist[r].s[i]] = -INFINITY;
        z[t] = -INFINITY;
        size_t above = 0;
#pragma omp simd reduction(+ : above)
        for (size_t j = 0; j < c->n; j++) above += z[j] > st;
        for (size_t j = 0; j < t; j++) above += z[j] == st;
        c->ndcg[r] = above < EVAL_K ? 1.0 / log2((double)above + 2.0) : 0.0;
        c->hr[r] = above < EVAL_K ? 1.0 : 0.0;
    }
}

static void evaluate(const struct tl_sasrec *m, struct ws *w, struct outbuf *ob, const struct evalset *ev, double *ndcg,
                     double *hr)
{
    size_t D = m->d, n = m->n, bmax = w->bmax < ob->chunk ? w->bmax : ob->chunk;
    double sn = 0.0, sh = 0.0;
    float *Hl = w->tmp; /* rmax x d >= bmax x d */
    double *rn = tl_malloc(bmax * 2 * sizeof *rn);
    if (!rn) {
        *ndcg = *hr = 0.0;
        return;
    }
    for (size_t u0 = 0; u0 < ev->n; u0 += bmax) {
        size_t B = ev->n - u0 < bmax ? ev->n - u0 : bmax;
        size_t R = build_batch(m, w, ev->hist + u0, B, 0);
        forward(m, w, B, R, 0.0f, NULL);
        for (size_t b = 0; b < B; b++) memcpy(Hl + b * D, w->hf + (w->soff[b + 1] - 1) * D, D * sizeof *Hl);
        pgemm(w->pool, 0, 1, B, n, D, 1.0f, Hl, D, m->w + m->oE + D, D, 0.0f, ob->Z, n);
        struct rank_ctx rc = {ob->Z, ev->hist + u0, ev->target + u0, n, rn, rn + bmax};
        tl_pool_for(w->pool, B, rank_rows, &rc);
        for (size_t b = 0; b < B; b++) sn += rn[b], sh += rn[bmax + b];
    }
    tl_free(rn);
    *ndcg = ev->n ? sn / (double)ev->n : 0.0;
    *hr = ev->n ? sh / (double)ev->n : 0.0;
}

/* ---------- training ---------- */

static const struct tl_sasrec_params *params_or_defaults(const void *pv, struct tl_sasrec_params *tmp)
{
    if (pv) return pv;
    params_defaults(tmp);
    return tmp;
}

static enum tl_rc check_params(const struct tl_sasrec_params *p, struct tl_err *err)
{
    if (p->layers < 1 || p->layers > TL_SASREC_LAYERS_MAX)
        return tl_err_set(err, TL_EINVAL, "layers", "layers must be 1..%d", TL_SASREC_LAYERS_MAX);
    if (p->dim < 2 || p->dim > TL_SASREC_DIM_MAX)
        return tl_err_set(err, TL_EINVAL, "dim", "dim must be 2..%d", TL_SASREC_DIM_MAX);
    if (p->heads < 1 || p->heads > TL_SASREC_HEADS_MAX || p->dim % p->heads != 0)
        return tl_err_set(err, TL_EINVAL, "heads", "heads must divide dim (%ld)", p->dim);
    if (p->max_len < 1 || p->max_len > TL_SASREC_LEN_MAX)
        return tl_err_set(err, TL_EINVAL, "max_len", "max_len must be 1..%d", TL_SASREC_LEN_MAX);
    if (!(p->dropout >= 0.0 && p->dropout <= 0.9))
        return tl_err_set(err, TL_EINVAL, "dropout", "dropout must be 0..0.9");
    if (!(p->lr > 0.0 && p->lr <= 1.0)) return tl_err_set(err, TL_EINVAL, "lr", "lr must be in (0, 1]");
    if (!(p->beta2 >= 0.5 && p->beta2 < 1.0)) return tl_err_set(err, TL_EINVAL, "beta2", "beta2 must be in [0.5, 1)");
    if (p->batch < 1 || p->epochs < 1 || p->patience < 0 || p->eval_every < 1 || p->chunk < 0)
        return tl_err_set(err, TL_EINVAL, "batch", "batch, epochs, eval_every must be >= 1, patience, chunk >= 0");
    return TL_OK;
}

enum tl_rc tl_sasrec_new_random(const struct tl_sasrec_params *p, uint32_t n_items, uint64_t seed, void **out,
                                struct tl_err *err)
{
    struct tl_sasrec_params tmp;
    p = params_or_defaults(p, &tmp);
    enum tl_rc rc = check_params(p, err);
    if (rc) return rc;
    if (n_items < 1 || n_items >= TL_DATASET_IDS_MAX)
        return tl_err_set(err, TL_EINVAL, "n_items", "n_items must be 1..%u", TL_DATASET_IDS_MAX - 1);
    struct tl_sasrec *m =
        model_new(n_items, (uint32_t)p->dim, (uint32_t)p->layers, (uint32_t)p->heads, (uint32_t)p->max_len);
    if (!m) return tl_err_set(err, TL_ENOMEM, NULL, "out of memory for sasrec weights");
    init_weights(m, seed);
    m->attn_probs = p->attn_probs != 0;
    *out = m;
    return TL_OK;
}

float *tl_sasrec_weights(void *pv, size_t *n)
{
    struct tl_sasrec *m = pv;
    if (n) *n = m->nw;
    return m->w;
}

const char *tl_sasrec_block(const void *pv, size_t i, size_t *off, size_t *len)
{
    static const char *const full[TL_SASREC_LAYERS_MAX][16] = {
#define LN_(l)                                                                                                         \
    {"l" #l ".ln1.g", "l" #l ".ln1.b", "l" #l ".wq", "l" #l ".bq", "l" #l ".wk",    "l" #l ".bk",                      \
     "l" #l ".wv",    "l" #l ".bv",    "l" #l ".wo", "l" #l ".bo", "l" #l ".ln2.g", "l" #l ".ln2.b",                   \
     "l" #l ".w1",    "l" #l ".b1",    "l" #l ".w2", "l" #l ".b2"}
        LN_(0), LN_(1), LN_(2), LN_(3), LN_(4),
        LN_(5), LN_(6), LN_(7)
#undef LN_
    };
    const struct tl_sasrec *m = pv;
    size_t D = m->d;
    if (i == 0) {
        *off = m->oE, *len = ((size_t)m->n + 1) * D;
        return "E";
    }
    if (i == 1) {
        *off = m->oP, *len = (size_t)m->T * D;
        return "P";
    }
    i -= 2;
    if (i < (size_t)m->nl * 16) {
        size_t l = i / 16, k = i % 16;
        const struct lay *y = &m->lay[l];
        const size_t o[16] = {y->ln1g, y->ln1b, y->wq,   y->bq,   y->wk, y->bk, y->wv, y->bv,
                              y->wo,   y->bo,   y->ln2g, y->ln2b, y->w1, y->b1, y->w2, y->b2};
        static const int ismat[16] = {0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 0, 0, 1, 0, 1, 0};
        *off = o[k], *len = ismat[k] ? D * D : D;
        return full[l][k];
    }
    i -= (size_t)m->nl * 16;
    if (i == 0) {
        *off = m->olnfg, *len = D;
        return "lnf.g";
    }
    if (i == 1) {
        *off = m->olnfb, *len = D;
        return "lnf.b";
    }
    return NULL;
}

/* Views of d's users; with holdout, the last item of users with >= 3 items
 * is cut off (and recorded in ev). */
static enum tl_rc make_views(const struct tl_dataset *d, int holdout, struct seqv **views, size_t *nv,
                             struct evalset *ev)
{
    *views = tl_malloc((d->n_users ? d->n_users : 1) * sizeof **views);
    if (!*views) return TL_ENOMEM;
    *nv = 0;
    if (holdout) {
        ev->hist = tl_malloc((d->n_users ? d->n_users : 1) * sizeof *ev->hist);
        ev->target = tl_malloc((d->n_users ? d->n_users : 1) * sizeof *ev->target);
        if (!ev->hist || !ev->target) return TL_ENOMEM;
    }
    for (uint32_t u = 0; u < d->n_users; u++) {
        size_t a = d->off[u], n = d->off[u + 1] - a;
        const uint32_t *s = d->item + a;
        if (holdout && n >= 3) {
            n--;
            ev->hist[ev->n] = (struct seqv){s, n};
            ev->target[ev->n++] = s[n];
        }
        if (n >= 2) (*views)[(*nv)++] = (struct seqv){s, n};
    }
    return TL_OK;
}

/* Tightest row bound of a batch: the sum of the `batch` largest row counts. */
static int cmp_desc(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

static enum tl_rc max_batch_rows(const struct tl_sasrec *m, const struct seqv *v, size_t nv, size_t batch,
                                 int with_targets, size_t *out)
{
    size_t *r = tl_malloc((nv ? nv : 1) * sizeof *r);
    if (!r) return TL_ENOMEM;
    for (size_t i = 0; i < nv; i++) r[i] = seq_rows(m, v[i].n, with_targets);
    qsort(r, nv, sizeof *r, cmp_desc);
    size_t s = 0;
    for (size_t i = 0; i < nv && i < batch; i++) s += r[i];
    tl_free(r);
    *out = s;
    return TL_OK;
}

enum tl_rc tl_sasrec_loss(void *pv, const struct tl_dataset *d, double dropout, uint64_t seed, size_t chunk,
                          int threads, double *loss, float *grad, struct tl_err *err)
{
    struct tl_sasrec *m = pv;
    if (!m || !d || !loss) return tl_err_set(err, TL_EINVAL, NULL, "model, dataset and loss are required");
    if (d->n_items > m->n) return tl_err_set(err, TL_EINVAL, "n_items", "dataset has more items than the model");
    struct seqv *v = NULL;
    size_t nv = 0, rows = 0;
    struct evalset ev = {0};
    struct ws w = {0};
    struct outbuf ob = {0};
    enum tl_rc rc = make_views(d, 0, &v, &nv, &ev);
    if (!rc) rc = max_batch_rows(m, v, nv, nv, 1, &rows);
    if (!rc) rc = ws_alloc(m, &w, rows, nv, dropout > 0, grad != NULL);
    if (!rc) rc = outbuf_alloc(&ob, m->n, auto_chunk(m->n, rows ? rows : 1, (long)chunk));
    if (!rc && threads > 1 && !(w.pool = tl_pool_new(threads))) rc = TL_ENOMEM;
    if (rc) {
        tl_free(v), ws_free(&w), outbuf_free(&ob);
        return tl_err_set(err, rc, NULL, "out of memory");
    }
    int blas_threads = openblas_get_num_threads();
    openblas_set_num_threads(1);
    if (grad) memset(grad, 0, m->nw * sizeof *grad);
    uint64_t s = seed;
    size_t R = build_batch(m, &w, v, nv, 1);
    double sum = batch_step(m, &w, &ob, nv, R, (float)dropout, &s, grad);
    *loss = R ? sum / (double)R : 0.0;
    openblas_set_num_threads(blas_threads);
    tl_pool_free(w.pool);
    tl_free(v), ws_free(&w), outbuf_free(&ob);
    return TL_OK;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Adam step t over the weights; the gradient is zeroed as it is consumed
 * (ready for the next batch). Element-wise, so split over the pool. */
struct adam_job {
    float *w, *g, *mo, *ve;
    float a, b1, b2, eps;
};

static void adam_part(void *pv, size_t lo, size_t hi)
{
    const struct adam_job *j = pv;
    float *w = j->w, *g = j->g, *mo = j->mo, *ve = j->ve;
    float a = j->a, b1 = j->b1, b2 = j->b2, eps = j->eps;
#pragma omp simd
    for (size_t i = lo; i < hi; i++) {
        mo[i] = b1 * mo[i] + (1.0f - b1) * g[i];
        ve[i] = b2 * ve[i] + (1.0f - b2) * g[i] * g[i];
        w[i] -= a * mo[i] / (sqrtf(ve[i]) + eps);
        g[i] = 0.0f;
    }
}

static void adam(struct tl_pool *pool, float *w, float *g, float *mo, float *ve, size_t n, double lr, double b2, long t)
{
    double c1 = 1.0 - pow(ADAM_B1, (double)t), c2 = 1.0 - pow(b2, (double)t);
    struct adam_job j = {
        w, g, mo, ve, (float)(lr * sqrt(c2) / c1), (float)ADAM_B1, (float)b2, (float)(ADAM_EPS * sqrt(c2))};
    tl_pool_for(pool, n, adam_part, &j);
}

static enum tl_rc train(const struct tl_dataset *d, const void *pv, const struct tl_train_opts *opts, void **out,
                        struct tl_err *err)
{
    struct tl_sasrec_params tmp;
    const struct tl_sasrec_params *p = params_or_defaults(pv, &tmp);
    if (!d || !out) return tl_err_set(err, TL_EINVAL, NULL, "dataset and out are required");
    *out = NULL;
    enum tl_rc rc = check_params(p, err);
    if (rc) return rc;
    if (d->n_items < 1) return tl_err_set(err, TL_EINVAL, "n_items", "the dataset has no items");
    int threads = opts && opts->threads > 0 ? opts->threads : 1;
    uint64_t seed = opts ? opts->seed : 0;
    /* our own pool splits every large sgemm; OpenBLAS runs single-threaded
     * meanwhile (its spinning workers would compete with ours for the cores) */
    int blas_threads = openblas_get_num_threads();
    openblas_set_num_threads(1);
    struct tl_pool *pool = NULL;
    double t0 = now_s();

    void *mv = NULL;
    rc = tl_sasrec_new_random(p, d->n_items, seed, &mv, err);
    if (rc) return rc;
    struct tl_sasrec *m = mv;
    struct seqv *v = NULL;
    size_t nv = 0, rows = 0, bmax = (size_t)p->batch, eval_rows = 0;
    struct evalset ev = {0};
    struct ws w = {0};
    struct outbuf ob = {0};
    float *G = NULL, *mo = NULL, *ve = NULL, *best = NULL;
    struct seqv *bs = NULL;
    size_t *order = NULL;
    rc = make_views(d, p->valid != 0, &v, &nv, &ev);
    if (!rc) rc = max_batch_rows(m, v, nv, bmax, 1, &rows);
    if (!rc && ev.n) rc = max_batch_rows(m, ev.hist, ev.n, bmax, 0, &eval_rows);
    if (!rc) rc = ws_alloc(m, &w, rows > eval_rows ? rows : eval_rows, bmax, p->dropout > 0, 1);
    if (!rc && !(pool = w.pool = tl_pool_new(threads))) rc = TL_ENOMEM;
    if (!rc) rc = outbuf_alloc(&ob, m->n, auto_chunk(m->n, (rows > bmax ? rows : bmax), p->chunk));
    if (!rc) {
        G = tl_calloc(m->nw, sizeof *G); /* adam() zeroes it after every step */
        mo = tl_calloc(m->nw, sizeof *mo);
        ve = tl_calloc(m->nw, sizeof *ve);
        best = ev.n ? tl_malloc(m->nw * sizeof *best) : NULL;
        bs = tl_malloc(bmax * sizeof *bs);
        order = tl_malloc((nv ? nv : 1) * sizeof *order);
        if (!G || !mo || !ve || (ev.n && !best) || !bs || !order) rc = TL_ENOMEM;
    }
    if (rc) {
        tl_err_set(err, rc, NULL, "out of memory for sasrec training");
        goto done;
    }
    for (size_t i = 0; i < nv; i++) order[i] = i;
    uint64_t s = seed ^ 0xD1B54A32D192ED03ull;
    long step = 0;
    int bad = 0, best_epoch = 0;
    double best_ndcg = -1.0, best_hr = 0.0, last_loss = 0.0;
    int ep;
    for (ep = 1; ep <= p->epochs; ep++) {
        for (size_t i = nv; i > 1; i--) {
            size_t j = (size_t)(rng_next(&s) % i);
            size_t t = order[i - 1];
            order[i - 1] = order[j], order[j] = t;
        }
        double lsum = 0.0;
        size_t rsum = 0;
        for (size_t b0 = 0; b0 < nv; b0 += bmax) {
            if (opts && opts->cancel && *opts->cancel) {
                rc = tl_err_set(err, TL_ESHUTDOWN, NULL, "training cancelled");
                goto done;
            }
            size_t B = nv - b0 < bmax ? nv - b0 : bmax;
            for (size_t b = 0; b < B; b++) bs[b] = v[order[b0 + b]];
            size_t R = build_batch(m, &w, bs, B, 1);
            lsum += batch_step(m, &w, &ob, B, R, (float)p->dropout, &s, G);
            rsum += R;
            adam(pool, m->w, G, mo, ve, m->nw, p->lr, p->beta2, ++step);
        }
        last_loss = rsum ? lsum / (double)rsum : 0.0;
        int stop = 0;
        if (ev.n && ep % p->eval_every == 0) {
            double nd, hr;
            evaluate(m, &w, &ob, &ev, &nd, &hr);
            if (nd > best_ndcg) {
                best_ndcg = nd, best_hr = hr, best_epoch = ep, bad = 0;
                memcpy(best, m->w, m->nw * sizeof *best);
            } else if (p->patience > 0 && ++bad >= p->patience) {
                stop = 1;
            }
        }
        if (opts && opts->progress) {
            char phase[96];
            snprintf(phase, sizeof phase, "epoch %d/%ld loss %.4f best val ndcg@10 %.4f", ep, p->epochs, last_loss,
                     best_ndcg < 0 ? 0.0 : best_ndcg);
            opts->progress(opts->progress_ctx, (double)ep / (double)p->epochs, phase);
        }
        if (p->max_seconds > 0 && now_s() - t0 >= p->max_seconds) stop = 1;
        if (stop) {
            ep++;
            break;
        }
    }
    if (best && best_epoch > 0) memcpy(m->w, best, m->nw * sizeof *best);
    m->info.epochs_run = ep - 1;
    m->info.best_epoch = best_epoch > 0 ? best_epoch : ep - 1;
    m->info.best_val_ndcg = best_ndcg < 0 ? 0.0 : best_ndcg;
    m->info.best_val_hr = best_hr;
    m->info.last_loss = last_loss;
    m->info.train_seconds = now_s() - t0;
done:
    tl_free(v), tl_free(ev.hist), tl_free(ev.target), ws_free(&w), outbuf_free(&ob);
    tl_free(G), tl_free(mo), tl_free(ve), tl_free(best), tl_free(bs), tl_free(order);
    tl_pool_free(pool);
    openblas_set_num_threads(blas_threads);
    if (rc) {
        model_free(m);
        return rc;
    }
    *out = m;
    return TL_OK;
}

void tl_sasrec_get_info(const void *pv, struct tl_sasrec_info *out)
{
    const struct tl_sasrec *m = pv;
    *out = m->info;
}

/* ---------- serving ---------- */

/* sc[i] = h . E1[i] for n rows of E1 (d floats each). */
AVX2_CLONES static void score_items(const float *h, const float *E1, size_t n, size_t D, float *sc)
{
    for (size_t i = 0; i < n; i++) {
        const float *e = E1 + i * D;
        float s = 0.0f;
#pragma omp simd reduction(+ : s)
        for (size_t j = 0; j < D; j++) s += h[j] * e[j];
        sc[i] = s;
    }
}

static enum tl_rc candidates(const void *pv, const struct tl_model_query *q, tl_model_skip_fn skip, void *skip_ctx,
                             size_t k, struct tl_model_hit *out, size_t *n)
{
    const struct tl_sasrec *m = pv;
    if (!n) return TL_EINVAL;
    *n = 0;
    if (!m || !q || k > TL_MODEL_K_MAX || (k > 0 && !out) || q->n_history > TL_MODEL_HISTORY_MAX ||
        (q->n_history > 0 && !q->history))
        return TL_EINVAL;
    if (k == 0) return TL_OK;
    uint32_t seq[TL_SASREC_LEN_MAX];
    size_t L = 0;
    for (size_t i = q->n_history; i-- > 0 && L < m->T;)
        if (q->history[i] < m->n) seq[L++] = q->history[i];
    if (L == 0 && q->anchor != TL_MODEL_NONE && q->anchor < m->n) seq[L++] = q->anchor;
    if (L == 0) return TL_OK;
    for (size_t i = 0; i < L / 2; i++) {
        uint32_t t = seq[i];
        seq[i] = seq[L - 1 - i], seq[L - 1 - i] = t;
    }
    uint32_t anchor = seq[L - 1];
    struct ws w;
    if (ws_alloc(m, &w, L, 1, 0, 0)) return TL_ENOMEM;
    size_t D = m->d;
    float *sc = tl_malloc((size_t)m->n * sizeof *sc);
    struct tl_topk_entry stack[TOPK_STACK], *store = stack;
    if (k > TOPK_STACK) store = tl_malloc(k * sizeof *store);
    if (!sc || !store) {
        ws_free(&w), tl_free(sc);
        if (store != stack) tl_free(store);
        return TL_ENOMEM;
    }
    struct seqv sv = {seq, L};
    size_t R = build_batch(m, &w, &sv, 1, 0);
    forward(m, &w, 1, R, 0.0f, NULL);
    score_items(w.hf + (R - 1) * D, m->w + m->oE + D, m->n, D, sc);
    struct tl_topk hp;
    tl_topk_init(&hp, store, k);
    for (uint32_t i = 0; i < m->n; i++) {
        if (!tl_topk_accepts(&hp, i, sc[i])) continue;
        if (skip && skip(skip_ctx, i)) continue;
        tl_topk_push(&hp, i, sc[i]);
    }
    size_t cnt = tl_topk_sort(&hp);
    for (size_t i = 0; i < cnt; i++) {
        out[i].item = store[i].id;
        out[i].score = (float)store[i].score;
        out[i].anchor = anchor;
    }
    *n = cnt;
    ws_free(&w), tl_free(sc);
    if (store != stack) tl_free(store);
    return TL_OK;
}

/* ---------- snapshot ---------- */

static enum tl_rc save(const void *pv, struct tl_buf *b, struct tl_err *err)
{
    const struct tl_sasrec *m = pv;
    size_t start = b->len;
    enum tl_rc rc = tl_buf_reserve(b, 40 + m->nw * 4);
    uint32_t hdr[7] = {SNAP_MAGIC, SNAP_VERSION, m->n, m->d, m->nl, m->nh, m->T};
    for (int i = 0; !rc && i < 7; i++) rc = tl_snap_put_u32(b, hdr[i]);
    if (!rc) rc = tl_snap_put_u64(b, m->nw);
    if (!rc) rc = tl_snap_put_f32s(b, m->w, m->nw);
    if (!rc) rc = tl_snap_put_u64(b, tl_hash(b->data + start, b->len - start, SNAP_SEED));
    if (rc) return tl_err_set(err, rc, NULL, "out of memory writing the sasrec snapshot");
    return TL_OK;
}

static enum tl_rc load(const void *data, size_t len, void **out, struct tl_err *err)
{
    if (!out || (!data && len)) return tl_err_set(err, TL_EINVAL, NULL, "data and out are required");
    *out = NULL;
    struct tl_snap_reader r = {data, len, 0, 0};
    uint32_t h[7];
    for (int i = 0; i < 7; i++) h[i] = tl_snap_get_u32(&r);
    uint64_t nw = tl_snap_get_u64(&r);
    if (r.bad) return tl_err_set(err, TL_EPARSE, "snapshot", "sasrec snapshot: truncated header");
    if (h[0] != SNAP_MAGIC) return tl_err_set(err, TL_EPARSE, "snapshot", "not a sasrec snapshot (bad magic)");
    if (h[1] != SNAP_VERSION)
        return tl_err_set(err, TL_EPARSE, "snapshot", "sasrec snapshot version %u unsupported", h[1]);
    if (!dims_ok(h[2], h[3], h[4], h[5], h[6]))
        return tl_err_set(err, TL_EPARSE, "snapshot", "sasrec snapshot: dimensions out of range");
    if (nw != weights_for(h[2], h[3], h[4], h[6]))
        return tl_err_set(err, TL_EPARSE, "snapshot", "sasrec snapshot: weight count does not match dimensions");
    if ((len - r.off) / 4 < nw || len - r.off != nw * 4 + 8)
        return tl_err_set(err, TL_EPARSE, "snapshot", "sasrec snapshot: %zu bytes of weights, expected %llu",
                          len - r.off, (unsigned long long)(nw * 4 + 8));
    uint64_t sum = tl_hash(data, len - 8, SNAP_SEED);
    struct tl_snap_reader rs = {data, len, len - 8, 0};
    if (tl_snap_get_u64(&rs) != sum) return tl_err_set(err, TL_EPARSE, "snapshot", "sasrec snapshot: bad checksum");
    struct tl_sasrec *m = model_new(h[2], h[3], h[4], h[5], h[6]);
    if (!m) return tl_err_set(err, TL_ENOMEM, NULL, "out of memory loading the sasrec snapshot");
    tl_snap_get_f32s(&r, m->w, m->nw);
    int ok = !r.bad;
    for (size_t i = 0; ok && i < m->nw; i++) ok = isfinite(m->w[i]);
    if (!ok) {
        model_free(m);
        return tl_err_set(err, TL_EPARSE, "snapshot", "sasrec snapshot: damaged weights");
    }
    *out = m;
    return TL_OK;
}

static size_t memory(const void *pv)
{
    const struct tl_sasrec *m = pv;
    return m ? sizeof *m + m->nw * sizeof(float) : 0;
}

const struct tl_model_ops tl_sasrec_ops = {
    .name = "sasrec",
    .params_size = sizeof(struct tl_sasrec_params),
    .params_defaults = params_defaults,
    .param_set = param_set,
    .train = train,
    .candidates = candidates,
    .save = save,
    .load = load,
    .memory = memory,
    .free = model_free,
};
