/* Tests for src/model/ials.c: the CG row kernel against a direct LAPACK
 * solve of the same normal equations, monotone loss, determinism (same seed,
 * 1/2/3 threads -> bit-identical factors), fold-in of a training user's own
 * history, serving (ranking vs brute force, skip, k, ties via a hand-made
 * snapshot, anchors/cosine, unknown users), parameters, cancel, allocation
 * failures, the snapshot (round trip, every truncation, damaged bytes), and
 * a quality floor on Amazon Beauty when ../shared/data is present. */
#include <criterion/criterion.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "model/dataset.h"
#include "model/ials.h"

static uint64_t lcg;
static double rnd(void)
{
    lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(lcg >> 11) * (1.0 / 9007199254740992.0);
}

/* nu users x ni items, about per_user interactions each, popularity skewed
 * towards low item indexes, weights 1/3/5; the last item is never used. */
static struct tl_dataset *random_data(uint32_t nu, uint32_t ni, int per_user, uint64_t seed)
{
    lcg = seed;
    struct tl_dataset_builder *b = tl_dataset_builder_new();
    struct tl_err err = {0};
    for (uint32_t u = 0; u < nu; u++) {
        int len = 1 + (int)(rnd() * 2 * per_user);
        for (int x = 0; x < len; x++) {
            uint32_t it = (uint32_t)((ni - 1) * rnd() * rnd());
            double w = rnd();
            cr_assert_eq(tl_dataset_builder_add(b, u, it, w < 0.7 ? 1.0f : w < 0.9 ? 3.0f : 5.0f, x, &err), TL_OK);
        }
    }
    struct tl_dataset *d = NULL;
    cr_assert_eq(tl_dataset_builder_finish(b, nu, ni, &d, &err), TL_OK);
    tl_dataset_builder_free(b);
    return d;
}

static void *train(const struct tl_dataset *d, const struct tl_ials_params *p, int threads, uint64_t seed)
{
    struct tl_train_opts o = {.threads = threads, .seed = seed};
    struct tl_err err = {0};
    void *m = NULL;
    cr_assert_eq(tl_ials_ops.train(d, p, &o, &m, &err), TL_OK, "%s", err.msg);
    return m;
}

static struct tl_ials_params small_params(void)
{
    struct tl_ials_params p;
    tl_ials_ops.params_defaults(&p);
    p.factors = 8;
    p.iterations = 6;
    return p;
}

Test(ials, cg_equals_direct_solve)
{
    enum { F = 7, N = 12, NNZ = 5 };
    lcg = 99;
    float Y[N * F], gram[F * F], cm1[NNZ], x[F], scratch[3 * F];
    uint32_t idx[NNZ] = {1, 4, 5, 9, 11};
    double reg = 0.3;
    for (int i = 0; i < N * F; i++) Y[i] = (float)(rnd() - 0.5);
    for (int j = 0; j < NNZ; j++) cm1[j] = (float)(10 * rnd());
    /* gram = Y^T Y + reg I and the full normal equations in double */
    double A[F * F] = {0}, b[F] = {0};
    for (int r = 0; r < F; r++)
        for (int c = 0; c < F; c++) {
            double s = 0;
            for (int i = 0; i < N; i++) s += (double)Y[i * F + r] * Y[i * F + c];
            gram[r * F + c] = (float)(s + (r == c ? reg : 0));
            A[r * F + c] = gram[r * F + c];
        }
    for (int j = 0; j < NNZ; j++) {
        const float *y = Y + idx[j] * F;
        for (int r = 0; r < F; r++) {
            b[r] += (1.0 + cm1[j]) * y[r];
            for (int c = 0; c < F; c++) A[r * F + c] += (double)cm1[j] * y[r] * y[c];
        }
    }
    cr_assert_eq(LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', F, 1, A, F, b, 1), 0);

    /* F steps of CG from 0 and from a random start reach the solution */
    for (int start = 0; start < 2; start++) {
        for (int k = 0; k < F; k++) x[k] = start ? (float)(rnd() - 0.5) : 0.0f;
        tl_ials_cg_row(gram, Y, F, idx, cm1, NNZ, F + 2, x, scratch);
        for (int k = 0; k < F; k++)
            cr_assert(fabs(x[k] - b[k]) <= 1e-3 * (1 + fabs(b[k])), "start %d x[%d] = %g, direct %g", start, k, x[k],
                      b[k]);
    }
    /* few steps get closer with every step */
    double prev = INFINITY;
    for (int steps = 1; steps <= 4; steps++) {
        for (int k = 0; k < F; k++) x[k] = 0;
        tl_ials_cg_row(gram, Y, F, idx, cm1, NNZ, steps, x, scratch);
        double e = 0;
        for (int k = 0; k < F; k++) e += (x[k] - b[k]) * (x[k] - b[k]);
        cr_assert(e <= prev * (1 + 1e-6), "steps %d error %g > %g", steps, e, prev);
        prev = e;
    }
}

Test(ials, loss_decreases)
{
    struct tl_dataset *d = random_data(60, 30, 6, 5);
    struct tl_ials_params p = small_params();
    double prev = INFINITY;
    for (int it = 1; it <= 8; it++) {
        p.iterations = it;
        void *m = train(d, &p, 2, 11);
        double l = tl_ials_loss(m, d, &p);
        cr_assert(isfinite(l));
        cr_assert(l <= prev * (1 + 1e-5), "iteration %d: loss %.6f > %.6f", it, l, prev);
        if (it == 8) cr_assert(l < 0.9 * prev || l < prev, "no progress");
        prev = l;
        tl_ials_ops.free(m);
    }
    tl_dataset_free(d);
}

static int same_factors(const void *a, const void *b)
{
    const struct tl_ials *x = a, *y = b;
    uint32_t f = tl_ials_factors(x);
    if (f != tl_ials_factors(y)) return 0;
    for (uint32_t u = 0; u < tl_ials_n_users(x); u++)
        if (memcmp(tl_ials_user(x, u), tl_ials_user(y, u), f * sizeof(float))) return 0;
    for (uint32_t i = 0; i < tl_ials_n_items(x); i++)
        if (memcmp(tl_ials_item(x, i), tl_ials_item(y, i), f * sizeof(float))) return 0;
    return 1;
}

Test(ials, deterministic_any_thread_count)
{
    /* enough rows for several work blocks per thread */
    struct tl_dataset *d = random_data(700, 300, 8, 6);
    struct tl_ials_params p = small_params();
    p.factors = 16;
    p.iterations = 3;
    void *a = train(d, &p, 1, 42);
    void *b = train(d, &p, 1, 42);
    void *c = train(d, &p, 2, 42);
    void *e = train(d, &p, 3, 42);
    void *other = train(d, &p, 2, 43);
    cr_assert(same_factors(a, b), "same seed, same threads");
    cr_assert(same_factors(a, c), "1 vs 2 threads");
    cr_assert(same_factors(a, e), "1 vs 3 threads");
    cr_assert(!same_factors(a, other), "another seed gives another model");
    tl_ials_ops.free(a);
    tl_ials_ops.free(b);
    tl_ials_ops.free(c);
    tl_ials_ops.free(e);
    tl_ials_ops.free(other);
    tl_dataset_free(d);
}

Test(ials, fold_in_matches_trained_user)
{
    struct tl_dataset *d = random_data(80, 40, 6, 7);
    struct tl_ials_params p = small_params();
    p.iterations = 40;
    p.cg_steps = 8;
    void *m = train(d, &p, 2, 3);
    uint32_t f = tl_ials_factors(m);
    int checked = 0;
    for (uint32_t u = 0; u < 80; u += 7) {
        size_t o = d->off[u], n = d->off[u + 1] - o;
        float x[64];
        cr_assert_eq(tl_ials_fold_in(m, d->item + o, d->weight + o, n, x), TL_OK);
        const float *xu = tl_ials_user(m, u);
        double diff = 0, norm = 0;
        for (uint32_t k = 0; k < f; k++) {
            diff += (x[k] - xu[k]) * (x[k] - xu[k]);
            norm += xu[k] * xu[k];
        }
        cr_assert(norm > 0);
        cr_assert(sqrt(diff / norm) < 0.02, "user %u: relative difference %g", u, sqrt(diff / norm));
        checked++;
    }
    cr_assert_gt(checked, 5);

    /* items are updated last: each y_i solves its normal equations against
     * the final X (built here from the raw dataset, weights summed per pair) */
    for (uint32_t i = 0; i < 39; i++) {
        double A[64 * 64] = {0}, b[64] = {0};
        for (uint32_t r = 0; r < f; r++) A[r * f + r] = p.regularization;
        int users = 0;
        for (uint32_t u = 0; u < 80; u++) {
            const float *xu = tl_ials_user(m, u);
            double w = 0;
            for (size_t o = d->off[u]; o < d->off[u + 1]; o++) w += d->item[o] == i ? d->weight[o] : 0;
            double cm1 = p.alpha * w;
            users += w > 0;
            for (uint32_t r = 0; r < f; r++) {
                b[r] += w > 0 ? (1 + cm1) * xu[r] : 0;
                for (uint32_t c = 0; c < f; c++) A[r * f + c] += (1 + cm1) * xu[r] * xu[c];
            }
        }
        if (!users) continue;
        cr_assert_eq(LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', (int)f, 1, A, (int)f, b, 1), 0);
        const float *yi = tl_ials_item(m, i);
        double diff = 0, norm = 0;
        for (uint32_t k = 0; k < f; k++) {
            diff += (b[k] - yi[k]) * (b[k] - yi[k]);
            norm += b[k] * b[k];
        }
        cr_assert(sqrt(diff / norm) < 1e-3, "item %u: relative difference %g", i, sqrt(diff / norm));
    }

    /* empty / unknown history folds in to 0 */
    float x[64];
    uint32_t unknown[] = {39, 1000};
    cr_assert_eq(tl_ials_fold_in(m, unknown, NULL, 2, x), TL_OK);
    for (uint32_t k = 0; k < f; k++) cr_assert_float_eq(x[k], 0.0f, 0);
    cr_assert_eq(tl_ials_fold_in(m, unknown, NULL, TL_MODEL_HISTORY_MAX + 1, x), TL_EINVAL);
    tl_ials_ops.free(m);
    tl_dataset_free(d);
}

struct skipset {
    const uint32_t *items;
    size_t n;
};

static int skip_fn(void *ctx, uint32_t item)
{
    const struct skipset *s = ctx;
    for (size_t i = 0; i < s->n; i++)
        if (s->items[i] == item) return 1;
    return 0;
}

/* Brute force: score(j) for every seen item, not skipped, not excl, sorted
 * (score desc, item asc), first k. */
static size_t brute(const void *m, const float *q, int cosine, const struct skipset *sk, uint32_t excl, size_t k,
                    uint32_t *out)
{
    uint32_t ni = tl_ials_n_items(m), f = tl_ials_factors(m);
    float *s = tl_calloc(ni, sizeof *s);
    uint32_t *c = tl_calloc(ni, sizeof *c);
    size_t nc = 0;
    double qn = 0;
    for (uint32_t k2 = 0; k2 < f; k2++) qn += q[k2] * q[k2];
    for (uint32_t j = 0; j < ni; j++) {
        const float *y = tl_ials_item(m, j);
        double dot = 0, yn = 0;
        for (uint32_t k2 = 0; k2 < f; k2++) {
            dot += q[k2] * y[k2];
            yn += y[k2] * y[k2];
        }
        if (yn == 0 || j == excl || (sk && skip_fn((void *)sk, j))) continue;
        s[j] = (float)(cosine ? dot / sqrt(qn * yn) : dot);
        c[nc++] = j;
    }
    for (size_t a = 0; a < nc; a++)
        for (size_t b = a + 1; b < nc; b++)
            if (s[c[b]] > s[c[a]] || (s[c[b]] == s[c[a]] && c[b] < c[a])) {
                uint32_t t = c[a];
                c[a] = c[b];
                c[b] = t;
            }
    size_t n = nc < k ? nc : k;
    memcpy(out, c, n * sizeof *out);
    tl_free(s);
    tl_free(c);
    return n;
}

/* Positions where scores are within float noise may swap; require equal
 * items elsewhere and the same set overall. */
static void same_ranking(const struct tl_model_hit *h, size_t n, const uint32_t *want, size_t nw)
{
    cr_assert_eq(n, nw);
    for (size_t i = 0; i < n; i++)
        if (h[i].item != want[i]) {
            cr_assert(i + 1 < n && fabsf(h[i].score - h[i + 1].score) < 1e-5f * (1 + fabsf(h[i].score)),
                      "rank %zu: %u vs %u", i, h[i].item, want[i]);
        }
}

Test(ials, candidates_user_foldin_anchor)
{
    struct tl_dataset *d = random_data(50, 30, 6, 8);
    struct tl_ials_params p = small_params();
    void *m = train(d, &p, 2, 5);
    struct tl_model_hit hits[40];
    uint32_t want[40];
    size_t n = 0;

    /* known user, history skipped, k = 5 */
    uint32_t u = 3;
    struct skipset sk = {d->item + d->off[u], d->off[u + 1] - d->off[u]};
    struct tl_model_query q = {.user = u, .anchor = TL_MODEL_NONE};
    cr_assert_eq(tl_ials_ops.candidates(m, &q, skip_fn, &sk, 5, hits, &n), TL_OK);
    same_ranking(hits, n, want, brute(m, tl_ials_user(m, u), 0, &sk, TL_MODEL_NONE, 5, want));
    for (size_t i = 0; i < n; i++) cr_assert(!skip_fn(&sk, hits[i].item));
    /* all items: the never-used last item (29) is not returned */
    cr_assert_eq(tl_ials_ops.candidates(m, &q, NULL, NULL, 40, hits, &n), TL_OK);
    same_ranking(hits, n, want, brute(m, tl_ials_user(m, u), 0, NULL, TL_MODEL_NONE, 40, want));
    for (size_t i = 0; i < n; i++) cr_assert_neq(hits[i].item, 29u);

    /* unknown user with a history: fold-in */
    uint32_t h[] = {1, 2, 2, 7};
    float x[64];
    cr_assert_eq(tl_ials_fold_in(m, h, NULL, 4, x), TL_OK);
    struct tl_model_query qh = {.user = TL_MODEL_NONE, .anchor = TL_MODEL_NONE, .history = h, .n_history = 4};
    cr_assert_eq(tl_ials_ops.candidates(m, &qh, NULL, NULL, 10, hits, &n), TL_OK);
    same_ranking(hits, n, want, brute(m, x, 0, NULL, TL_MODEL_NONE, 10, want));
    float dense[30];
    cr_assert_eq(tl_ials_scores(m, TL_MODEL_NONE, h, NULL, 4, dense), TL_OK);
    for (size_t i = 0; i < n; i++) cr_assert_float_eq(hits[i].score, dense[hits[i].item], 1e-6);

    /* anchor: cosine, never the anchor itself */
    struct tl_model_query qa = {.user = TL_MODEL_NONE, .anchor = 2};
    cr_assert_eq(tl_ials_ops.candidates(m, &qa, NULL, NULL, 8, hits, &n), TL_OK);
    same_ranking(hits, n, want, brute(m, tl_ials_item(m, 2), 1, NULL, 2, 8, want));
    for (size_t i = 0; i < n; i++) {
        cr_assert_neq(hits[i].item, 2u);
        cr_assert_eq(hits[i].anchor, 2u);
        cr_assert(hits[i].score <= 1.0001f && hits[i].score >= -1.0001f);
    }

    /* anchor with skipped items: the precomputed neighbour lists give the
     * same ranking as the scan */
    for (uint32_t a = 0; a < 10; a++) {
        qa.anchor = a;
        if (tl_ials_ops.candidates(m, &qa, skip_fn, &sk, 5, hits, &n) != TL_OK || n == 0) continue;
        same_ranking(hits, n, want, brute(m, tl_ials_item(m, a), 1, &sk, a, 5, want));
    }

    /* nothing to go on, bad input */
    struct tl_model_query q0 = {.user = 999, .anchor = TL_MODEL_NONE};
    cr_assert_eq(tl_ials_ops.candidates(m, &q0, NULL, NULL, 5, hits, &n), TL_OK);
    cr_assert_eq(n, 0);
    q0.anchor = 29; /* unseen */
    cr_assert_eq(tl_ials_ops.candidates(m, &q0, NULL, NULL, 5, hits, &n), TL_OK);
    cr_assert_eq(n, 0);
    cr_assert_eq(tl_ials_ops.candidates(m, &q, NULL, NULL, TL_MODEL_K_MAX + 1, hits, &n), TL_EINVAL);
    struct tl_model_query bad = {.user = TL_MODEL_NONE, .anchor = TL_MODEL_NONE, .n_history = 1};
    cr_assert_eq(tl_ials_ops.candidates(m, &bad, NULL, NULL, 5, hits, &n), TL_EINVAL);
    cr_assert_eq(tl_ials_ops.candidates(m, &q, NULL, NULL, 0, hits, &n), TL_OK);
    cr_assert_eq(n, 0);
    tl_ials_ops.free(m);
    tl_dataset_free(d);
}

static void put32(struct tl_buf *b, uint32_t v) { cr_assert_eq(tl_snap_put_u32(b, v), TL_OK); }

Test(ials, ties_from_handmade_snapshot)
{
    /* 1 user, 5 items, f = 2; items 1, 2 and 4 have identical factors */
    struct tl_buf b;
    tl_buf_init(&b, 0);
    double reg = 0.1, alpha = 2;
    uint64_t rb, ab;
    memcpy(&rb, &reg, 8);
    memcpy(&ab, &alpha, 8);
    put32(&b, 0x534c4149u);
    put32(&b, 1);
    put32(&b, 1);
    put32(&b, 5);
    put32(&b, 2);
    tl_snap_put_u64(&b, rb);
    tl_snap_put_u64(&b, ab);
    uint32_t uc[] = {3}, ic[] = {1, 1, 1, 1, 1};
    tl_snap_put_u32s(&b, uc, 1);
    tl_snap_put_u32s(&b, ic, 5);
    float x[] = {1, 0.5f};
    float y[] = {0.1f, 0.1f, 1, 2, 1, 2, 3, 0, 1, 2};
    tl_snap_put_f32s(&b, x, 2);
    tl_snap_put_f32s(&b, y, 10);
    void *m = NULL;
    struct tl_err err = {0};
    cr_assert_eq(tl_ials_ops.load(b.data, b.len, &m, &err), TL_OK, "%s", err.msg);
    struct tl_model_query q = {.user = 0, .anchor = TL_MODEL_NONE};
    struct tl_model_hit h[5];
    size_t n = 0;
    cr_assert_eq(tl_ials_ops.candidates(m, &q, NULL, NULL, 5, h, &n), TL_OK);
    /* scores: 0.15, 2, 2, 3, 2 -> 3, then the tie 1, 2, 4, then 0 */
    uint32_t want[] = {3, 1, 2, 4, 0};
    cr_assert_eq(n, 5);
    for (int i = 0; i < 5; i++) cr_assert_eq(h[i].item, want[i], "rank %d: %u", i, h[i].item);
    cr_assert_eq(tl_ials_ops.candidates(m, &q, NULL, NULL, 3, h, &n), TL_OK);
    cr_assert_eq(n, 3);
    cr_assert_eq(h[2].item, 2u);
    uint32_t skip2[] = {2};
    struct skipset sk = {skip2, 1};
    cr_assert_eq(tl_ials_ops.candidates(m, &q, skip_fn, &sk, 3, h, &n), TL_OK);
    cr_assert_eq(h[0].item, 3u);
    cr_assert_eq(h[1].item, 1u);
    cr_assert_eq(h[2].item, 4u);
    /* anchor 1: items 2 and 4 have cosine exactly 1 */
    struct tl_model_query qa = {.user = TL_MODEL_NONE, .anchor = 1};
    cr_assert_eq(tl_ials_ops.candidates(m, &qa, NULL, NULL, 2, h, &n), TL_OK);
    cr_assert_eq(h[0].item, 2u);
    cr_assert_eq(h[1].item, 4u);
    tl_ials_ops.free(m);

    /* a non-zero row for an item without interactions is damage */
    ic[4] = 0;
    struct tl_buf b2;
    tl_buf_init(&b2, 0);
    tl_buf_append(&b2, b.data, 28);
    tl_snap_put_u32s(&b2, uc, 1);
    tl_snap_put_u32s(&b2, ic, 5);
    tl_snap_put_f32s(&b2, x, 2);
    tl_snap_put_f32s(&b2, y, 10);
    cr_assert_eq(tl_ials_ops.load(b2.data, b2.len, &m, &err), TL_EPARSE);
    tl_buf_free(&b2);
    tl_buf_free(&b);
}

/* A model trained with `factors` on random data, and its snapshot in b. */
static void *trained_snapshot(uint32_t nu, uint32_t ni, int per_user, uint64_t seed, uint32_t factors,
                              struct tl_dataset **d, struct tl_buf *b)
{
    *d = random_data(nu, ni, per_user, seed);
    struct tl_ials_params p = small_params();
    p.factors = factors;
    void *m = train(*d, &p, 1, 1);
    tl_buf_init(b, 0);
    struct tl_err err = {0};
    cr_assert_eq(tl_ials_ops.save(m, b, &err), TL_OK);
    return m;
}

Test(ials, snapshot_round_trip_and_truncation)
{
    struct tl_dataset *d;
    struct tl_buf b;
    struct tl_err err = {0};
    void *m = trained_snapshot(20, 12, 4, 9, 3, &d, &b);
    void *m2 = NULL;
    cr_assert_eq(tl_ials_ops.load(b.data, b.len, &m2, &err), TL_OK, "%s", err.msg);
    cr_assert(same_factors(m, m2));
    cr_assert_eq(tl_ials_ops.memory(m), tl_ials_ops.memory(m2));
    struct tl_model_hit h1[12], h2[12];
    size_t n1, n2;
    uint32_t hist[] = {0, 3};
    struct tl_model_query qs[] = {{.user = 4, .anchor = TL_MODEL_NONE},
                                  {.user = TL_MODEL_NONE, .anchor = 1},
                                  {.user = TL_MODEL_NONE, .anchor = TL_MODEL_NONE, .history = hist, .n_history = 2}};
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(tl_ials_ops.candidates(m, &qs[i], NULL, NULL, 12, h1, &n1), TL_OK);
        cr_assert_eq(tl_ials_ops.candidates(m2, &qs[i], NULL, NULL, 12, h2, &n2), TL_OK);
        cr_assert_eq(n1, n2);
        cr_assert_gt(n1, 0);
        cr_assert(memcmp(h1, h2, n1 * sizeof *h1) == 0, "query %d differs after load", i);
    }
    tl_ials_ops.free(m2);
    for (size_t len = 0; len < b.len; len++) {
        void *mt = (void *)1;
        cr_assert_eq(tl_ials_ops.load(b.data, len, &mt, &err), TL_EPARSE, "length %zu of %zu", len, b.len);
        cr_assert_null(mt);
    }
    char *c = tl_malloc(b.len + 1);
    memcpy(c, b.data, b.len);
    c[b.len] = 0;
    void *mt = NULL;
    cr_assert_eq(tl_ials_ops.load(c, b.len + 1, &mt, &err), TL_EPARSE);
    float nan = NAN;
    memcpy(c + b.len - 4, &nan, 4);
    cr_assert_eq(tl_ials_ops.load(c, b.len, &mt, &err), TL_EPARSE);
    memcpy(c, b.data, b.len);
    c[16] = 0; /* factors = 0 */
    cr_assert_eq(tl_ials_ops.load(c, b.len, &mt, &err), TL_EPARSE);
    cr_assert_null(mt);
    tl_free(c);
    tl_buf_free(&b);
    tl_ials_ops.free(m);
    tl_dataset_free(d);
}

/* Version 2 saves the neighbour lists; a version 1 snapshot (the same
 * bytes without them) still loads, the lists computed again, and answers
 * alike. Damaged lists are refused. */
Test(ials, snapshot_neighbour_lists_and_version_1)
{
    struct tl_dataset *d;
    struct tl_buf b;
    struct tl_err err = {0};
    void *m = trained_snapshot(30, 15, 5, 11, 4, &d, &b);
    uint32_t ver;
    memcpy(&ver, b.data + 4, 4);
    cr_assert_eq(ver, 2u);
    /* the factors end where the lists' header starts: rows, then k = 100 */
    size_t base = 36 + 4 * (30 * 5 + 15 * 5);
    uint32_t rows, k;
    memcpy(&rows, b.data + base, 4);
    memcpy(&k, b.data + base + 4, 4);
    cr_assert_eq(k, 100u);
    cr_assert_eq(b.len, base + 8 + (size_t)rows * k * 8);
    struct tl_buf v1;
    tl_buf_init(&v1, 0);
    tl_buf_append(&v1, b.data, base);
    uint32_t one = 1;
    memcpy(v1.data + 4, &one, 4);
    void *m1 = NULL, *m2 = NULL;
    cr_assert_eq(tl_ials_ops.load(v1.data, v1.len, &m1, &err), TL_OK, "%s", err.msg);
    cr_assert_eq(tl_ials_ops.load(b.data, b.len, &m2, &err), TL_OK, "%s", err.msg);
    struct tl_model_hit h0[15], h1[15], h2[15];
    size_t n0, n1, n2;
    for (uint32_t a = 0; a < 15; a++) {
        struct tl_model_query q = {.user = TL_MODEL_NONE, .anchor = a};
        cr_assert_eq(tl_ials_ops.candidates(m, &q, NULL, NULL, 10, h0, &n0), TL_OK);
        cr_assert_eq(tl_ials_ops.candidates(m1, &q, NULL, NULL, 10, h1, &n1), TL_OK);
        cr_assert_eq(tl_ials_ops.candidates(m2, &q, NULL, NULL, 10, h2, &n2), TL_OK);
        cr_assert(n0 == n1 && n0 == n2);
        cr_assert(memcmp(h0, h1, n0 * sizeof *h0) == 0 && memcmp(h0, h2, n0 * sizeof *h0) == 0, "anchor %u", a);
    }
    tl_ials_ops.free(m1);
    tl_ials_ops.free(m2);
    /* a version 1 snapshot with lists after it trails */
    memcpy(b.data + 4, &one, 4);
    void *mt = NULL;
    cr_assert_eq(tl_ials_ops.load(b.data, b.len, &mt, &err), TL_EPARSE);
    uint32_t two = 2, bad_id = 15, bad_k = 99;
    memcpy(b.data + 4, &two, 4);
    memcpy(b.data + base + 8, &bad_id, 4); /* an item index past n_items */
    cr_assert_eq(tl_ials_ops.load(b.data, b.len, &mt, &err), TL_EPARSE);
    cr_assert(strstr(err.msg, "neighbour"), "%s", err.msg);
    memcpy(b.data + base + 4, &bad_k, 4);
    cr_assert_eq(tl_ials_ops.load(b.data, b.len, &mt, &err), TL_EPARSE);
    memcpy(b.data + base + 4, &k, 4);
    rows++;
    memcpy(b.data + base, &rows, 4);
    cr_assert_eq(tl_ials_ops.load(b.data, b.len, &mt, &err), TL_EPARSE);
    cr_assert_null(mt);
    tl_buf_free(&v1);
    tl_buf_free(&b);
    tl_ials_ops.free(m);
    tl_dataset_free(d);
}

Test(ials, params)
{
    struct tl_ials_params p;
    struct tl_err err = {0};
    tl_ials_ops.params_defaults(&p);
    cr_assert_eq(p.factors, 64);
    cr_assert_eq(p.iterations, 15);
    cr_assert_eq(p.cg_steps, 3);
    cr_assert_str_eq(tl_ials_ops.name, "ials");
    cr_assert_leq(tl_ials_ops.params_size, TL_MODEL_PARAMS_MAX);
    cr_assert_eq(tl_ials_ops.param_set(&p, "factors", "32", &err), TL_OK);
    cr_assert_eq(p.factors, 32);
    cr_assert_eq(tl_ials_ops.param_set(&p, "factors", "0", &err), TL_EINVAL);
    cr_assert_eq(tl_ials_ops.param_set(&p, "factors", "513", &err), TL_EINVAL);
    cr_assert_eq(tl_ials_ops.param_set(&p, "alpha", "40", &err), TL_OK);
    cr_assert_float_eq(p.alpha, 40.0, 0);
    cr_assert_eq(tl_ials_ops.param_set(&p, "regularization", "-1", &err), TL_EINVAL);
    cr_assert_eq(tl_ials_ops.param_set(&p, "cg_steps", "2", &err), TL_OK);
    cr_assert_eq(tl_ials_ops.param_set(&p, "iterations", "x", &err), TL_EINVAL);
    cr_assert_eq(tl_ials_ops.param_set(&p, "lambda", "1", &err), TL_EINVAL);
    cr_assert_str_eq(err.field, "lambda");
    struct tl_dataset *d = random_data(5, 5, 2, 1);
    p.factors = 0; /* invalid struct handed to train */
    void *m = (void *)1;
    cr_assert_eq(tl_ials_ops.train(d, &p, &(struct tl_train_opts){.threads = 1}, &m, &err), TL_EINVAL);
    cr_assert_null(m);
    tl_dataset_free(d);
}

static int progress_calls;
static void on_progress(void *ctx, double frac, const char *phase)
{
    volatile int *stop = ctx;
    cr_assert(frac >= 0 && frac <= 1 && phase);
    if (++progress_calls == 3 && stop) *stop = 1; /* cancel during the second half-iteration */
}

Test(ials, cancel_progress_alloc_failures)
{
    struct tl_dataset *d = random_data(40, 20, 4, 2);
    struct tl_ials_params p = small_params();
    volatile int stop = 0;
    struct tl_train_opts o = {.threads = 2, .progress = on_progress, .progress_ctx = (void *)&stop, .cancel = &stop};
    struct tl_err err = {0};
    void *m = NULL;
    long live = tl_alloc_live();
    progress_calls = 0;
    cr_assert_eq(tl_ials_ops.train(d, &p, &o, &m, &err), TL_ESHUTDOWN);
    cr_assert_null(m);
    cr_assert_eq(tl_alloc_live(), live);
    o.cancel = NULL;
    o.progress_ctx = NULL;
    progress_calls = 0;
    cr_assert_eq(tl_ials_ops.train(d, &p, &o, &m, &err), TL_OK);
    cr_assert_geq(progress_calls, 2 * p.iterations);
    tl_ials_ops.free(m);
    o.progress = NULL;
    for (long f = 0; f < 40; f++) {
        m = NULL;
        tl_alloc_fail_after(f);
        enum tl_rc rc = tl_ials_ops.train(d, &p, &o, &m, &err);
        tl_alloc_fail_after(-1);
        cr_assert(rc == TL_OK || rc == TL_ENOMEM, "fail after %ld: %d", f, rc);
        if (rc == TL_OK)
            tl_ials_ops.free(m);
        else
            cr_assert_null(m);
        cr_assert_eq(tl_alloc_live(), live, "leak after failure %ld", f);
    }
    tl_dataset_free(d);
}

/* Amazon Beauty (S3Rec split): train on all but the last two items of each
 * user, fold in all but the last, rank every item with the history masked,
 * target = last item. Scored on every 8th user to stay fast. */
Test(ials, beauty_quality_floor, .timeout = 120)
{
    FILE *fp = fopen("../shared/data/amazon-s3rec/Beauty.txt", "r");
    if (!fp) cr_skip("../shared/data/amazon-s3rec/Beauty.txt not present");
    static char line[1 << 16];
    size_t cap = 1 << 18, n = 0, nu = 0;
    uint32_t *its = tl_malloc(cap * sizeof *its), ni = 0;
    size_t *off = tl_malloc(30000 * sizeof *off);
    off[0] = 0;
    while (fgets(line, sizeof line, fp) && nu + 1 < 30000) {
        char *s = line, *e;
        strtoul(s, &e, 10);
        for (s = e;; s = e) {
            unsigned long v = strtoul(s, &e, 10);
            if (e == s) break;
            if (n == cap) its = tl_realloc(its, (cap *= 2) * sizeof *its);
            its[n++] = (uint32_t)v;
            if (v + 1 > ni) ni = (uint32_t)v + 1;
        }
        off[++nu] = n;
    }
    fclose(fp);
    struct tl_dataset_builder *b = tl_dataset_builder_new();
    struct tl_err err = {0};
    for (size_t u = 0; u < nu; u++)
        for (size_t x = off[u]; x + 2 < off[u + 1]; x++)
            cr_assert_eq(tl_dataset_builder_add(b, (uint32_t)u, its[x], 1.0f, (int64_t)x, &err), TL_OK);
    struct tl_dataset *d = NULL;
    cr_assert_eq(tl_dataset_builder_finish(b, (uint32_t)nu, ni, &d, &err), TL_OK);
    tl_dataset_builder_free(b);
    struct tl_ials_params p;
    tl_ials_ops.params_defaults(&p);
    void *m = train(d, &p, 2, 1);
    float *s = tl_malloc(ni * sizeof *s);
    unsigned char *mask = tl_calloc(ni, 1);
    double hr = 0, users = 0;
    for (size_t u = 0; u < nu; u += 8) {
        size_t L = off[u + 1] - off[u];
        const uint32_t *seq = its + off[u];
        uint32_t t = seq[L - 1];
        cr_assert_eq(tl_ials_scores(m, TL_MODEL_NONE, seq, NULL, L - 1, s), TL_OK);
        for (size_t x = 0; x + 1 < L; x++) mask[seq[x]] = 1;
        mask[t] = 0;
        size_t above = 0;
        for (uint32_t j = 1; j < ni; j++) above += !mask[j] && j != t && s[j] > s[t];
        hr += above < 10;
        users++;
        for (size_t x = 0; x + 1 < L; x++) mask[seq[x]] = 0;
    }
    hr /= users;
    cr_log_info("ials Beauty HR@10 on %.0f users: %.4f", users, hr);
    cr_assert(hr > 0.035, "HR@10 %.4f below the floor 0.035", hr);
    tl_free(s);
    tl_free(mask);
    tl_free(its);
    tl_free(off);
    tl_ials_ops.free(m);
    tl_dataset_free(d);
}

Test(ials, empty_dataset)
{
    struct tl_dataset_builder *b = tl_dataset_builder_new();
    struct tl_dataset *d = NULL;
    struct tl_err err = {0};
    cr_assert_eq(tl_dataset_builder_finish(b, 3, 4, &d, &err), TL_OK);
    tl_dataset_builder_free(b);
    struct tl_ials_params p = small_params();
    void *m = train(d, &p, 2, 1);
    uint32_t h[] = {1, 2};
    struct tl_model_query qs[] = {{.user = 0, .anchor = TL_MODEL_NONE},
                                  {.user = TL_MODEL_NONE, .anchor = 1},
                                  {.user = TL_MODEL_NONE, .anchor = TL_MODEL_NONE, .history = h, .n_history = 2}};
    struct tl_model_hit hits[4];
    for (int i = 0; i < 3; i++) {
        size_t n = 9;
        cr_assert_eq(tl_ials_ops.candidates(m, &qs[i], NULL, NULL, 4, hits, &n), TL_OK);
        cr_assert_eq(n, 0);
    }
    struct tl_buf buf;
    tl_buf_init(&buf, 0);
    cr_assert_eq(tl_ials_ops.save(m, &buf, &err), TL_OK);
    void *m2 = NULL;
    cr_assert_eq(tl_ials_ops.load(buf.data, buf.len, &m2, &err), TL_OK, "%s", err.msg);
    cr_assert(same_factors(m, m2));
    tl_ials_ops.free(m2);
    tl_buf_free(&buf);
    tl_ials_ops.free(m);
    tl_dataset_free(d);
}

/* for_you on a catalog larger than 4 x NN_K served items scores only the
 * neighbour lists of the recent history: every hit carries its exact score
 * x . y_j, hits are ordered, skips are honoured, and the best hit is at least
 * as good as the best neighbour of the last history item. */
Test(ials, candidate_generation_large_catalog)
{
    struct tl_dataset *d = random_data(2000, 900, 12, 17);
    struct tl_ials_params p = small_params();
    void *m = train(d, &p, 2, 3);
    uint32_t h[] = {5, 77, 300, 812};
    struct skipset sk = {h, 4};
    struct tl_model_query q = {.user = TL_MODEL_NONE, .anchor = TL_MODEL_NONE, .history = h, .n_history = 4};
    struct tl_model_hit hits[20];
    size_t n = 0;
    cr_assert_eq(tl_ials_ops.candidates(m, &q, skip_fn, &sk, 20, hits, &n), TL_OK);
    cr_assert_eq(n, 20);
    float dense[900];
    cr_assert_eq(tl_ials_scores(m, TL_MODEL_NONE, h, NULL, 4, dense), TL_OK);
    for (size_t i = 0; i < n; i++) {
        cr_assert_float_eq(hits[i].score, dense[hits[i].item], 1e-5, "item %u", hits[i].item);
        cr_assert(!skip_fn(&sk, hits[i].item));
        if (i) cr_assert(hits[i - 1].score >= hits[i].score);
    }
    /* the neighbours of the last item were candidates */
    struct tl_model_query qa = {.user = TL_MODEL_NONE, .anchor = 812};
    struct tl_model_hit nb[1];
    size_t nn = 0;
    cr_assert_eq(tl_ials_ops.candidates(m, &qa, skip_fn, &sk, 1, nb, &nn), TL_OK);
    cr_assert_eq(nn, 1);
    cr_assert(hits[0].score >= dense[nb[0].item] - 1e-6f);

    /* The serving rules are asked of the best candidates only, more of them
     * when many are skipped: with the first 30 of the top 40 skipped, the
     * top 20 are the other 10 of those 40, in the same order with the same
     * scores, then 10 more; nothing in the union of the history's neighbour
     * lists that is admissible and left out scores higher. */
    struct tl_model_hit top40[40];
    size_t n40 = 0;
    cr_assert_eq(tl_ials_ops.candidates(m, &q, skip_fn, &sk, 40, top40, &n40), TL_OK);
    cr_assert_eq(n40, 40);
    for (size_t i = 0; i < 20; i++) cr_assert(memcmp(&top40[i], &hits[i], sizeof hits[i]) == 0, "rank %zu", i);
    uint32_t many[34];
    for (int i = 0; i < 30; i++) many[i] = top40[i].item;
    memcpy(many + 30, h, sizeof h);
    struct skipset sk2 = {many, 34};
    cr_assert_eq(tl_ials_ops.candidates(m, &q, skip_fn, &sk2, 20, hits, &n), TL_OK);
    cr_assert_eq(n, 20);
    for (size_t i = 0; i < 10; i++) cr_assert(memcmp(&top40[30 + i], &hits[i], sizeof hits[i]) == 0, "rank %zu", i);
    uint32_t in_union[900] = {0};
    for (int a = 0; a < 4; a++) {
        struct tl_model_query qn = {.user = TL_MODEL_NONE, .anchor = h[a]};
        struct tl_model_hit l[100];
        size_t nl = 0;
        cr_assert_eq(tl_ials_ops.candidates(m, &qn, NULL, NULL, 100, l, &nl), TL_OK);
        for (size_t i = 0; i < nl; i++) in_union[l[i].item] = 1;
    }
    for (size_t i = 0; i < n; i++) cr_assert(in_union[hits[i].item] && !skip_fn(&sk2, hits[i].item));
    for (uint32_t j = 0; j < 900; j++) {
        int hit = 0;
        for (size_t i = 0; i < n; i++) hit |= hits[i].item == j;
        if (in_union[j] && !hit && !skip_fn(&sk2, j))
            cr_assert(dense[j] <= hits[n - 1].score + 1e-5f, "item %u (%g) left out", j, dense[j]);
    }
    tl_ials_ops.free(m);
    tl_dataset_free(d);
}
