/* Benchmark of iALS training (src/model/ials.c): seconds per iteration and
 * achieved GFLOP/s on a synthetic implicit-feedback matrix.
 *
 * Data (deterministic, fixed seed): U users x I items with NNZ distinct
 * (user, item) pairs. User activity follows a power law: user u (0-based)
 * gets a share proportional to (u + 1)^-0.3 of NNZ (at least 1, at most
 * I / 4 items); each user's items are drawn without replacement from a Zipf
 * law over items, P(i) ~ (i + 1)^-0.8. Weights: 1 (view) 70 %, 3 (cart)
 * 20 %, 5 (purchase) 10 %. Defaults: 100,000 x 20,000 x 5,000,000.
 *
 * Measurement: one training run of `iterations` iterations; the progress
 * callback timestamps each iteration's start, so the data preparation before
 * the first iteration is not counted. Prints every iteration, the median,
 * and GFLOP/s = counted flops / median seconds, where one iteration counts
 * (per side, rows with interactions, CG steps s, factors f):
 *   Gram (ssyrk):        n_other * f * (f + 1)
 *   per row:             (1 + s) * 2 f^2      (dense A v products)
 *                        + 2 f s * 5          (CG vector updates)
 *   per interaction:     (1 + s) * 4 f        (dot + axpy)
 * and a checksum of the factors (compare between thread counts). Process
 * CPU seconds per iteration are printed too: on a shared machine the wall
 * time includes waiting for a core, the CPU time does not.
 *
 * Usage: bench_ials [threads=2] [iterations=5] [factors=64] [users=100000]
 *                   [items=20000] [nnz=5000000] [cg_steps=3]
 * Build: see the Makefile rule build/bench_% (links the library sources). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "model/dataset.h"
#include "model/ials.h"

#define ITER_MAX 100

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double rng_u01(void) { return (double)(rng_next() >> 11) * (1.0 / 9007199254740992.0); }

static struct tl_dataset *generate(uint32_t nu, uint32_t ni, size_t nnz)
{
    double *cdf = tl_malloc(ni * sizeof *cdf);
    double *share = tl_malloc(nu * sizeof *share);
    uint32_t *stamp = tl_calloc(ni, sizeof *stamp);
    struct tl_dataset *d = tl_calloc(1, sizeof *d);
    if (!cdf || !share || !stamp || !d) goto fail;
    double acc = 0;
    for (uint32_t i = 0; i < ni; i++) cdf[i] = (acc += pow(i + 1.0, -0.8));
    for (uint32_t i = 0; i < ni; i++) cdf[i] /= acc;
    acc = 0;
    for (uint32_t u = 0; u < nu; u++) acc += share[u] = pow(u + 1.0, -0.3);
    d->n_users = nu;
    d->n_items = ni;
    d->off = tl_calloc((size_t)nu + 1, sizeof *d->off);
    if (!d->off) goto fail;
    size_t cap = ni / 4 ? ni / 4 : 1;
    for (uint32_t u = 0; u < nu; u++) {
        size_t len = (size_t)llround(share[u] / acc * (double)nnz);
        len = len < 1 ? 1 : len > cap ? cap : len;
        d->off[u + 1] = d->off[u] + len;
    }
    d->n = d->off[nu];
    d->item = tl_malloc(d->n * sizeof *d->item);
    d->weight = tl_malloc(d->n * sizeof *d->weight);
    d->ts = tl_malloc(d->n * sizeof *d->ts);
    if (!d->item || !d->weight || !d->ts) goto fail;
    for (uint32_t u = 0; u < nu; u++) {
        for (size_t x = d->off[u]; x < d->off[u + 1]; x++) {
            uint32_t it;
            do {
                double r = rng_u01();
                size_t lo = 0, hi = ni - 1;
                while (lo < hi) {
                    size_t mid = (lo + hi) / 2;
                    if (cdf[mid] < r)
                        lo = mid + 1;
                    else
                        hi = mid;
                }
                it = (uint32_t)lo;
            } while (stamp[it] == u + 1);
            stamp[it] = u + 1;
            double w = rng_u01();
            d->item[x] = it;
            d->weight[x] = w < 0.7 ? 1.0f : w < 0.9 ? 3.0f : 5.0f;
            d->ts[x] = (int64_t)(x - d->off[u]);
        }
    }
    tl_free(cdf);
    tl_free(share);
    tl_free(stamp);
    return d;
fail:
    tl_free(cdf);
    tl_free(share);
    tl_free(stamp);
    tl_dataset_free(d);
    return NULL;
}

static double cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

struct clock_ctx {
    double t[2 * ITER_MAX + 2];
    double cpu[2 * ITER_MAX + 2];
    int n;
};

static void on_progress(void *ctx, double frac, const char *phase)
{
    struct clock_ctx *c = ctx;
    /* "iteration k/N users" marks the start of iteration k; "done" the end */
    if ((strstr(phase, "users") || strcmp(phase, "done") == 0) && c->n < 2 * ITER_MAX + 2) {
        c->cpu[c->n] = cpu_s();
        c->t[c->n++] = now_s();
    }
}

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : (x > y);
}

static long arg_long(int argc, char **argv, const char *key, long def)
{
    size_t kl = strlen(key);
    for (int a = 1; a < argc; a++)
        if (strncmp(argv[a], key, kl) == 0 && argv[a][kl] == '=') return strtol(argv[a] + kl + 1, NULL, 10);
    return def;
}

int main(int argc, char **argv)
{
    int threads = (int)arg_long(argc, argv, "threads", 2);
    int iters = (int)arg_long(argc, argv, "iterations", 5);
    long f = arg_long(argc, argv, "factors", 64);
    long steps = arg_long(argc, argv, "cg_steps", 3);
    uint32_t nu = (uint32_t)arg_long(argc, argv, "users", 100000);
    uint32_t ni = (uint32_t)arg_long(argc, argv, "items", 20000);
    size_t nnz = (size_t)arg_long(argc, argv, "nnz", 5000000);
    if (threads < 1 || iters < 1 || iters > ITER_MAX || f < 1 || f > TL_IALS_FACTORS_MAX || steps < 1 || nu < 1 ||
        ni < 4) {
        fprintf(stderr, "bench_ials: bad arguments\n");
        return 2;
    }
    double t0 = now_s();
    struct tl_dataset *d = generate(nu, ni, nnz);
    if (!d) {
        fprintf(stderr, "bench_ials: out of memory\n");
        return 1;
    }
    printf("bench_ials: %u users x %u items, %zu interactions (generated in %.2f s), factors %ld, cg_steps %ld, "
           "threads %d\n",
           nu, ni, d->n, now_s() - t0, f, steps, threads);

    struct tl_ials_params p;
    tl_ials_ops.params_defaults(&p);
    p.factors = (int)f;
    p.iterations = iters;
    p.cg_steps = (int)steps;
    struct clock_ctx clk = {.n = 0};
    struct tl_train_opts o = {.threads = threads, .seed = 7, .progress = on_progress, .progress_ctx = &clk};
    struct tl_err err = {0};
    void *m = NULL;
    double tt = now_s();
    if (tl_ials_ops.train(d, &p, &o, &m, &err) != TL_OK) {
        fprintf(stderr, "bench_ials: train failed: %s\n", err.msg);
        tl_dataset_free(d);
        return 1;
    }
    tt = now_s() - tt;

    /* flops per iteration */
    uint32_t *icount = tl_calloc(ni, sizeof *icount);
    tl_dataset_item_counts(d, icount);
    size_t users_active = 0, items_active = 0;
    for (uint32_t u = 0; u < nu; u++) users_active += d->off[u + 1] > d->off[u];
    for (uint32_t i = 0; i < ni; i++) items_active += icount[i] > 0;
    double fd = (double)f, s = (double)steps;
    double flops = (double)(nu + ni) * fd * (fd + 1) +
                   (double)(users_active + items_active) * ((1 + s) * 2 * fd * fd + 10 * fd * s) +
                   2.0 * (double)d->n * (1 + s) * 4 * fd;

    double per[ITER_MAX], cpu[ITER_MAX];
    int np = 0;
    for (int k = 0; k + 1 < clk.n && np < ITER_MAX; k++) {
        per[np] = clk.t[k + 1] - clk.t[k];
        cpu[np] = clk.cpu[k + 1] - clk.cpu[k];
        printf("  iteration %d: %.3f s wall, %.3f s cpu\n", k + 1, per[np], cpu[np]);
        np++;
    }
    qsort(per, (size_t)np, sizeof *per, dbl_cmp);
    qsort(cpu, (size_t)np, sizeof *cpu, dbl_cmp);
    double med = np ? (np % 2 ? per[np / 2] : 0.5 * (per[np / 2 - 1] + per[np / 2])) : NAN;
    double medc = np ? (np % 2 ? cpu[np / 2] : 0.5 * (cpu[np / 2 - 1] + cpu[np / 2])) : NAN;

    const struct tl_ials *im = m;
    double sum = 0;
    for (uint32_t u = 0; u < nu; u++) {
        const float *x = tl_ials_user(im, u);
        for (long k = 0; k < f; k++) sum += x[k] * (k + 1.0);
    }
    for (uint32_t i = 0; i < ni; i++) {
        const float *y = tl_ials_item(im, i);
        for (long k = 0; k < f; k++) sum += y[k] * (k + 1.0);
    }
    printf("median %.3f s/iteration wall (%.3f cpu-s), %.2f GFLOP/iteration, %.1f GFLOP/s wall "
           "(%.1f per cpu-s), train total %.2f s, checksum %.9g\n",
           med, medc, flops / 1e9, flops / 1e9 / med, flops / 1e9 / medc, tt, sum);
    tl_free(icount);
    tl_ials_ops.free(m);
    tl_dataset_free(d);
    return 0;
}
