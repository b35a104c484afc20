/* Tests for src/model/ease.c: B against a brute-force double-precision
 * inverse (Gauss-Jordan, no LAPACK), serving (history == user row, ranking
 * against a brute-force sort, skip, k, ties, unseen items, anchors),
 * parameters, the max_items guard, cancel/progress, allocation failures,
 * and the snapshot (round trip, every truncation, damaged bytes). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "model/dataset.h"
#include "model/ease.h"

/* Users' items (with repeats, which must count once). Item 5 never occurs
 * (unseen); item 4 only alone (its row of B is all zero). */
#define NU 7
#define NI 6
static const uint32_t ROWS[NU][6] = {
    {0, 1, 2, 1, 0, 0}, {0, 1, 3, 0, 0, 0}, {1, 2, 3, 2, 0, 0}, {0, 2, 0, 0, 0, 0},
    {1, 3, 0, 0, 0, 0}, {4, 4, 0, 0, 0, 0}, {0, 1, 2, 3, 0, 0},
};
static const size_t LENS[NU] = {4, 3, 4, 2, 2, 2, 4};

static struct tl_dataset *tiny(void)
{
    struct tl_dataset_builder *b = tl_dataset_builder_new();
    cr_assert_not_null(b);
    struct tl_err err = {0};
    for (uint32_t u = 0; u < NU; u++)
        for (size_t x = 0; x < LENS[u]; x++)
            cr_assert_eq(tl_dataset_builder_add(b, u, ROWS[u][x], 1.0f + (float)x, (int64_t)x, &err), TL_OK);
    struct tl_dataset *d = NULL;
    cr_assert_eq(tl_dataset_builder_finish(b, NU, NI, &d, &err), TL_OK);
    tl_dataset_builder_free(b);
    return d;
}

static void *train(const struct tl_dataset *d, double lambda, int threads)
{
    struct tl_ease_params p;
    tl_ease_ops.params_defaults(&p);
    p.lambda = lambda;
    struct tl_train_opts o = {.threads = threads, .seed = 1};
    struct tl_err err = {0};
    void *m = NULL;
    cr_assert_eq(tl_ease_ops.train(d, &p, &o, &m, &err), TL_OK, "%s", err.msg);
    return m;
}

/* Reference B in double: G = X^T X + lambda I from distinct items, P by
 * Gauss-Jordan with partial pivoting. */
static void reference_b(double lambda, double *bref)
{
    double g[NI][NI] = {{0}}, inv[NI][NI] = {{0}};
    int seen[NI] = {0};
    for (int u = 0; u < NU; u++) {
        int has[NI] = {0};
        for (size_t x = 0; x < LENS[u]; x++) has[ROWS[u][x]] = 1;
        for (int a = 0; a < NI; a++)
            for (int c = 0; c < NI; c++) g[a][c] += has[a] && has[c];
        for (int a = 0; a < NI; a++) seen[a] |= has[a];
    }
    for (int a = 0; a < NI; a++) {
        g[a][a] += lambda;
        inv[a][a] = 1;
    }
    for (int c = 0; c < NI; c++) {
        int piv = c;
        for (int r = c + 1; r < NI; r++)
            if (fabs(g[r][c]) > fabs(g[piv][c])) piv = r;
        for (int k = 0; k < NI; k++) {
            double t = g[c][k];
            g[c][k] = g[piv][k];
            g[piv][k] = t;
            t = inv[c][k];
            inv[c][k] = inv[piv][k];
            inv[piv][k] = t;
        }
        double dv = g[c][c];
        for (int k = 0; k < NI; k++) {
            g[c][k] /= dv;
            inv[c][k] /= dv;
        }
        for (int r = 0; r < NI; r++) {
            if (r == c) continue;
            double fct = g[r][c];
            for (int k = 0; k < NI; k++) {
                g[r][k] -= fct * g[c][k];
                inv[r][k] -= fct * inv[c][k];
            }
        }
    }
    for (int r = 0; r < NI; r++)
        for (int c = 0; c < NI; c++) bref[r * NI + c] = (r == c || !seen[r] || !seen[c]) ? 0.0 : -inv[r][c] / inv[c][c];
}

Test(ease, matches_double_reference)
{
    struct tl_dataset *d = tiny();
    double lambdas[] = {0.5, 3.0, 200.0};
    for (int l = 0; l < 3; l++) {
        void *m = train(d, lambdas[l], 2);
        double bref[NI * NI];
        reference_b(lambdas[l], bref);
        cr_assert_eq(tl_ease_n_items(m), NI);
        for (uint32_t r = 0; r < NI; r++) {
            const float *row = tl_ease_row(m, r);
            for (uint32_t c = 0; c < NI; c++)
                cr_assert(fabs(row[c] - bref[r * NI + c]) <= 1e-5 + 1e-4 * fabs(bref[r * NI + c]),
                          "lambda %g B[%u][%u] = %.8g, reference %.8g", lambdas[l], r, c, row[c], bref[r * NI + c]);
        }
        cr_assert_null(tl_ease_row(m, NI));
        tl_ease_ops.free(m);
    }
    tl_dataset_free(d);
}

struct skipset {
    uint32_t items[8];
    size_t n;
    int calls;
};

static int skip_fn(void *ctx, uint32_t item)
{
    struct skipset *s = ctx;
    s->calls++;
    for (size_t i = 0; i < s->n; i++)
        if (s->items[i] == item) return 1;
    return 0;
}

/* Expected hits: scores from the model's rows, seen items only, not the
 * skipped ones, sorted by (score desc, item asc). */
static size_t expect(void *m, const uint32_t *h, size_t nh, const struct skipset *sk, uint32_t excl, size_t k,
                     uint32_t *out)
{
    double s[NI] = {0};
    int in[NI] = {0};
    for (size_t x = 0; x < nh; x++) in[h[x]] = 1;
    for (uint32_t i = 0; i < NI; i++)
        if (in[i]) {
            const float *row = tl_ease_row(m, i);
            for (uint32_t j = 0; j < NI; j++) s[j] += row[j];
        }
    uint32_t cand[NI];
    size_t nc = 0;
    for (uint32_t j = 0; j < NI; j++) {
        int skipped = j == 5 || j == excl; /* 5 is unseen */
        for (size_t x = 0; sk && x < sk->n; x++) skipped |= sk->items[x] == j;
        if (!skipped) cand[nc++] = j;
    }
    for (size_t a = 0; a < nc; a++)
        for (size_t b = a + 1; b < nc; b++)
            if (s[cand[b]] > s[cand[a]] || (s[cand[b]] == s[cand[a]] && cand[b] < cand[a])) {
                uint32_t t = cand[a];
                cand[a] = cand[b];
                cand[b] = t;
            }
    size_t n = nc < k ? nc : k;
    memcpy(out, cand, n * sizeof *out);
    return n;
}

Test(ease, candidates_history_user_skip_k)
{
    struct tl_dataset *d = tiny();
    void *m = train(d, 1.0, 1);
    struct tl_model_hit hits[NI + 2], hits2[NI + 2];
    size_t n = 99, n2 = 99;
    uint32_t want[NI];

    /* training user 0 (items {0,1,2}) == history {2,1,0,1} (order, repeats) */
    uint32_t h[] = {2, 1, 0, 1};
    struct tl_model_query qu = {.user = 0, .anchor = TL_MODEL_NONE};
    struct tl_model_query qh = {.user = TL_MODEL_NONE, .anchor = TL_MODEL_NONE, .history = h, .n_history = 4};
    cr_assert_eq(tl_ease_ops.candidates(m, &qu, NULL, NULL, NI + 2, hits, &n), TL_OK);
    cr_assert_eq(tl_ease_ops.candidates(m, &qh, NULL, NULL, NI + 2, hits2, &n2), TL_OK);
    cr_assert_eq(n, n2);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(hits[i].item, hits2[i].item);
        cr_assert(memcmp(&hits[i].score, &hits2[i].score, sizeof(float)) == 0, "scores must be bit-identical");
    }
    size_t ne = expect(m, h, 4, NULL, TL_MODEL_NONE, NI + 2, want);
    cr_assert_eq(n, ne, "unseen item 5 must not be returned: %zu vs %zu", n, ne);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(hits[i].item, want[i], "rank %zu: %u vs %u", i, hits[i].item, want[i]);
        cr_assert_neq(hits[i].item, 5u);
    }
    /* scores equal the dense scorer, hit.anchor is a history item */
    float dense[NI];
    tl_ease_scores(m, h, 4, dense);
    for (size_t i = 0; i < n; i++) {
        cr_assert_float_eq(hits[i].score, dense[hits[i].item], 0);
        cr_assert(hits[i].anchor <= 2, "anchor %u", hits[i].anchor);
    }

    /* skip the history and k = 2 */
    struct skipset sk = {{0, 1, 2}, 3, 0};
    cr_assert_eq(tl_ease_ops.candidates(m, &qh, skip_fn, &sk, 2, hits, &n), TL_OK);
    ne = expect(m, h, 4, &sk, TL_MODEL_NONE, 2, want);
    cr_assert_eq(n, ne);
    for (size_t i = 0; i < n; i++) cr_assert_eq(hits[i].item, want[i]);
    cr_assert_gt(sk.calls, 0);

    /* k = 0, k too large, malformed */
    cr_assert_eq(tl_ease_ops.candidates(m, &qh, NULL, NULL, 0, hits, &n), TL_OK);
    cr_assert_eq(n, 0);
    cr_assert_eq(tl_ease_ops.candidates(m, &qh, NULL, NULL, TL_MODEL_K_MAX + 1, hits, &n), TL_EINVAL);
    struct tl_model_query bad = {.user = TL_MODEL_NONE, .anchor = TL_MODEL_NONE, .n_history = 2};
    cr_assert_eq(tl_ease_ops.candidates(m, &bad, NULL, NULL, 3, hits, &n), TL_EINVAL);
    bad.history = h;
    bad.n_history = TL_MODEL_HISTORY_MAX + 1;
    cr_assert_eq(tl_ease_ops.candidates(m, &bad, NULL, NULL, 3, hits, &n), TL_EINVAL);

    /* unknown user, unknown / unseen anchor, out-of-range history: no hits */
    struct tl_model_query q0 = {.user = 999, .anchor = TL_MODEL_NONE};
    cr_assert_eq(tl_ease_ops.candidates(m, &q0, NULL, NULL, 3, hits, &n), TL_OK);
    cr_assert_eq(n, 0);
    q0.anchor = 5;
    cr_assert_eq(tl_ease_ops.candidates(m, &q0, NULL, NULL, 3, hits, &n), TL_OK);
    cr_assert_eq(n, 0);
    uint32_t far[] = {77};
    struct tl_model_query qf = {.user = TL_MODEL_NONE, .anchor = TL_MODEL_NONE, .history = far, .n_history = 1};
    cr_assert_eq(tl_ease_ops.candidates(m, &qf, NULL, NULL, 3, hits, &n), TL_OK);
    cr_assert_eq(n, 0);

    /* anchor 1: row B[1], never item 1 itself */
    struct tl_model_query qa = {.user = TL_MODEL_NONE, .anchor = 1};
    cr_assert_eq(tl_ease_ops.candidates(m, &qa, NULL, NULL, NI, hits, &n), TL_OK);
    uint32_t a1[] = {1};
    ne = expect(m, a1, 1, NULL, 1, NI, want);
    cr_assert_eq(n, ne);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(hits[i].item, want[i]);
        cr_assert_eq(hits[i].anchor, 1u);
    }
    tl_ease_ops.free(m);
    tl_dataset_free(d);
}

Test(ease, ties_lower_index_first)
{
    struct tl_dataset *d = tiny();
    void *m = train(d, 2.0, 1);
    /* item 4 never co-occurs: every score for anchor 4 is exactly 0 */
    struct tl_model_query q = {.user = TL_MODEL_NONE, .anchor = 4};
    struct tl_model_hit hits[NI];
    size_t n = 0;
    cr_assert_eq(tl_ease_ops.candidates(m, &q, NULL, NULL, NI, hits, &n), TL_OK);
    uint32_t want[] = {0, 1, 2, 3};
    cr_assert_eq(n, 4);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(hits[i].item, want[i]);
        cr_assert_float_eq(hits[i].score, 0.0f, 0);
    }
    struct skipset sk = {{1}, 1, 0};
    cr_assert_eq(tl_ease_ops.candidates(m, &q, skip_fn, &sk, 2, hits, &n), TL_OK);
    cr_assert_eq(n, 2);
    cr_assert_eq(hits[0].item, 0u);
    cr_assert_eq(hits[1].item, 2u);
    tl_ease_ops.free(m);
    tl_dataset_free(d);
}

Test(ease, params_and_limits)
{
    struct tl_ease_params p;
    struct tl_err err = {0};
    tl_ease_ops.params_defaults(&p);
    cr_assert_float_eq(p.lambda, 200.0, 0);
    cr_assert_eq(p.max_items, 30000);
    cr_assert_eq(tl_ease_ops.param_set(&p, "lambda", "50", &err), TL_OK);
    cr_assert_float_eq(p.lambda, 50.0, 0);
    cr_assert_eq(tl_ease_ops.param_set(&p, "lambda", "0", &err), TL_EINVAL);
    cr_assert_eq(tl_ease_ops.param_set(&p, "lambda", "abc", &err), TL_EINVAL);
    cr_assert_eq(tl_ease_ops.param_set(&p, "max_items", "5", &err), TL_OK);
    cr_assert_eq(tl_ease_ops.param_set(&p, "nope", "5", &err), TL_EINVAL);
    cr_assert_str_eq(err.field, "nope");
    cr_assert_str_eq(tl_ease_ops.name, "ease");
    cr_assert_leq(tl_ease_ops.params_size, TL_MODEL_PARAMS_MAX);

    struct tl_dataset *d = tiny(); /* 6 items > max_items 5 */
    void *m = (void *)1;
    tl_err_clear(&err);
    cr_assert_eq(tl_ease_ops.train(d, &p, &(struct tl_train_opts){.threads = 1}, &m, &err), TL_ETOOBIG);
    cr_assert_null(m);
    cr_assert(strstr(err.msg, "max_items") != NULL, "message: %s", err.msg);
    tl_dataset_free(d);
}

static int progress_calls;
static void on_progress(void *ctx, double frac, const char *phase)
{
    (void)ctx;
    cr_assert(frac >= 0 && frac <= 1 && phase);
    progress_calls++;
}

Test(ease, cancel_progress_memory)
{
    struct tl_dataset *d = tiny();
    volatile int stop = 1;
    struct tl_train_opts o = {.threads = 2, .cancel = &stop};
    struct tl_err err = {0};
    void *m = NULL;
    long live = tl_alloc_live();
    cr_assert_eq(tl_ease_ops.train(d, NULL, &o, &m, &err), TL_ESHUTDOWN);
    cr_assert_null(m);
    cr_assert_eq(tl_alloc_live(), live);
    stop = 0;
    o.progress = on_progress;
    progress_calls = 0;
    cr_assert_eq(tl_ease_ops.train(d, NULL, &o, &m, &err), TL_OK);
    cr_assert_gt(progress_calls, 1);
    cr_assert_geq(tl_ease_ops.memory(m), NI * NI * sizeof(float));
    tl_ease_ops.free(m);
    tl_dataset_free(d);
}

Test(ease, alloc_failures_leak_nothing)
{
    struct tl_dataset *d = tiny();
    struct tl_train_opts o = {.threads = 1};
    int ok = 0;
    for (long f = 0; f < 40; f++) {
        long live = tl_alloc_live();
        void *m = NULL;
        struct tl_err err = {0};
        tl_alloc_fail_after(f);
        enum tl_rc rc = tl_ease_ops.train(d, NULL, &o, &m, &err);
        tl_alloc_fail_after(-1);
        if (rc == TL_OK) {
            ok++;
            tl_ease_ops.free(m);
        } else {
            cr_assert_eq(rc, TL_ENOMEM, "fail after %ld: %d", f, rc);
            cr_assert_null(m);
        }
        cr_assert_eq(tl_alloc_live(), live, "leak after failure %ld", f);
    }
    cr_assert(ok);
    tl_dataset_free(d);
}

Test(ease, snapshot_round_trip_and_damage)
{
    struct tl_dataset *d = tiny();
    void *m = train(d, 1.5, 2);
    struct tl_buf b;
    tl_buf_init(&b, 0);
    struct tl_err err = {0};
    cr_assert_eq(tl_ease_ops.save(m, &b, &err), TL_OK);
    void *m2 = NULL;
    cr_assert_eq(tl_ease_ops.load(b.data, b.len, &m2, &err), TL_OK, "%s", err.msg);
    for (uint32_t r = 0; r < NI; r++) cr_assert(memcmp(tl_ease_row(m, r), tl_ease_row(m2, r), NI * sizeof(float)) == 0);
    struct tl_model_query q = {.user = 2, .anchor = TL_MODEL_NONE};
    struct tl_model_hit h1[NI], h2[NI];
    size_t n1, n2;
    cr_assert_eq(tl_ease_ops.candidates(m, &q, NULL, NULL, NI, h1, &n1), TL_OK);
    cr_assert_eq(tl_ease_ops.candidates(m2, &q, NULL, NULL, NI, h2, &n2), TL_OK);
    cr_assert_eq(n1, n2);
    cr_assert_gt(n1, 0);
    cr_assert(memcmp(h1, h2, n1 * sizeof *h1) == 0);
    tl_ease_ops.free(m2);

    /* every truncation */
    for (size_t len = 0; len < b.len; len++) {
        void *mt = (void *)1;
        cr_assert_eq(tl_ease_ops.load(b.data, len, &mt, &err), TL_EPARSE, "length %zu of %zu", len, b.len);
        cr_assert_null(mt);
    }
    /* trailing byte, bad magic, NaN weight, non-zero diagonal, bad user row */
    char *c = tl_malloc(b.len + 1);
    memcpy(c, b.data, b.len);
    c[b.len] = 0;
    void *mt = NULL;
    cr_assert_eq(tl_ease_ops.load(c, b.len + 1, &mt, &err), TL_EPARSE);
    c[0] ^= 1;
    cr_assert_eq(tl_ease_ops.load(c, b.len, &mt, &err), TL_EPARSE);
    c[0] ^= 1;
    float nan = NAN;
    memcpy(c + b.len - 4, &nan, 4);
    cr_assert_eq(tl_ease_ops.load(c, b.len, &mt, &err), TL_EPARSE);
    memcpy(c, b.data, b.len);
    float one = 1.0f;
    memcpy(c + b.len - 4 * NI * NI, &one, 4); /* B[0][0] */
    cr_assert_eq(tl_ease_ops.load(c, b.len, &mt, &err), TL_EPARSE);
    memcpy(c, b.data, b.len);
    uint32_t big = 1000;
    memcpy(c + 32 + 4 * NI + 4 * NU, &big, 4); /* first user item out of range */
    cr_assert_eq(tl_ease_ops.load(c, b.len, &mt, &err), TL_EPARSE);
    cr_assert_null(mt);
    tl_free(c);
    tl_buf_free(&b);
    tl_ease_ops.free(m);
    tl_dataset_free(d);
}

Test(ease, empty_dataset)
{
    struct tl_dataset_builder *b = tl_dataset_builder_new();
    struct tl_dataset *d = NULL;
    struct tl_err err = {0};
    cr_assert_eq(tl_dataset_builder_finish(b, 3, 4, &d, &err), TL_OK);
    tl_dataset_builder_free(b);
    void *m = train(d, 10, 1);
    struct tl_model_query q = {.user = 0, .anchor = TL_MODEL_NONE};
    struct tl_model_hit h[4];
    size_t n = 9;
    cr_assert_eq(tl_ease_ops.candidates(m, &q, NULL, NULL, 4, h, &n), TL_OK);
    cr_assert_eq(n, 0);
    tl_ease_ops.free(m);
    tl_dataset_free(d);
}
