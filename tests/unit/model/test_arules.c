/* Tests for src/model/arules.c: a hand-computed example, a brute-force
 * reference (all itemsets by bitmask) on random baskets, the published
 * R arules results on Groceries (tests/fixtures/groceries.csv, 9,835
 * baskets), "complete your basket" queries against a scan of every rule,
 * parameters, limits, cancel, and snapshots (round trip, every truncation,
 * damaged bytes). */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/map.h"
#include "model/arules.h"

#define GROCERIES "tests/fixtures/groceries.csv"

static struct tl_dataset *make_baskets(const uint32_t *const *bs, size_t n, uint32_t n_items)
{
    struct tl_dataset_builder *b = tl_dataset_builder_new();
    cr_assert_not_null(b);
    for (size_t u = 0; u < n; u++)
        for (size_t i = 0; bs[u][i] != UINT32_MAX; i++)
            cr_assert_eq(tl_dataset_builder_add(b, (uint32_t)u, bs[u][i], 1.0f, (int64_t)i, NULL), TL_OK);
    struct tl_dataset *d = NULL;
    cr_assert_eq(tl_dataset_builder_finish(b, (uint32_t)n, n_items, &d, NULL), TL_OK);
    tl_dataset_builder_free(b);
    return d;
}

static void *train_kv(const struct tl_dataset *d, const char *const *kv)
{
    char params[TL_MODEL_PARAMS_MAX];
    cr_assert(tl_arules_ops.params_size <= sizeof params);
    tl_arules_ops.params_defaults(params);
    struct tl_err err;
    for (size_t i = 0; kv && kv[i]; i += 2)
        cr_assert_eq(tl_arules_ops.param_set(params, kv[i], kv[i + 1], &err), TL_OK, "%s", err.msg);
    struct tl_train_opts o = {.threads = 1, .seed = 1};
    void *m = NULL;
    enum tl_rc rc = tl_arules_ops.train(d, params, &o, &m, &err);
    cr_assert_eq(rc, TL_OK, "train: %s", err.msg);
    return m;
}

static size_t query(const void *m, const uint32_t *basket, size_t nb, size_t k, struct tl_model_hit *out,
                    tl_model_skip_fn skip, void *ctx)
{
    struct tl_model_query q = {.user = TL_MODEL_NONE, .anchor = TL_MODEL_NONE, .history = basket, .n_history = nb};
    size_t n = 999;
    cr_assert_eq(tl_arules_ops.candidates(m, &q, skip, ctx, k, out, &n), TL_OK);
    return n;
}

#define E UINT32_MAX

/* N = 5 (plus one empty user, which is not a basket); counts: 0:4, 1:4, 2:3,
 * {0,1}:3, {0,2}:2, {1,2}:2, {0,1,2}:1. Support 0.4 -> count >= 2, so
 * {0,1,2} is not frequent. Confidence >= 0.5 keeps all six pair rules:
 * 0=>1 .75, 1=>0 .75, 0=>2 .5, 1=>2 .5, 2=>0 2/3, 2=>1 2/3. */
Test(arules, hand_example)
{
    static const uint32_t b0[] = {0, 1, 0, E}, b1[] = {1, 0, E}, b2[] = {0, 2, E}, b3[] = {1, 2, E},
                          b4[] = {0, 1, 2, E}, b5[] = {E};
    struct tl_dataset *d = make_baskets((const uint32_t *const[]){b0, b1, b2, b3, b4, b5}, 6, 4);
    void *m = train_kv(d, (const char *[]){"min_support", "0.4", "min_confidence", "0.5", NULL});
    cr_assert_eq(tl_arules_baskets(m), 5);
    cr_assert_eq(tl_arules_count(m), 6);
    struct {
        uint32_t l, r, cnt;
        double conf, lift;
    } exp[] = {{0, 1, 3, .75, .75 / .8}, {1, 0, 3, .75, .75 / .8},         {0, 2, 2, .5, .5 / .6},
               {1, 2, 2, .5, .5 / .6},   {2, 0, 2, 2. / 3, (2. / 3) / .8}, {2, 1, 2, 2. / 3, (2. / 3) / .8}};
    for (size_t e = 0; e < 6; e++) {
        int found = 0;
        for (size_t i = 0; i < tl_arules_count(m); i++) {
            struct tl_arules_rule r;
            cr_assert_eq(tl_arules_rule(m, i, &r), TL_OK);
            cr_assert_eq(r.n_lhs, 1);
            if (r.lhs[0] != exp[e].l || r.rhs != exp[e].r) continue;
            found++;
            cr_assert_eq(r.count, exp[e].cnt);
            cr_assert(fabs(r.support - exp[e].cnt / 5.0) < 1e-12);
            cr_assert(fabs(r.confidence - exp[e].conf) < 1e-12);
            cr_assert(fabs(r.lift - exp[e].lift) < 1e-12);
        }
        cr_assert_eq(found, 1, "rule %u => %u", exp[e].l, exp[e].r);
    }
    struct tl_model_hit out[4];
    size_t n = query(m, (uint32_t[]){0}, 1, 4, out, NULL, NULL);
    cr_assert_eq(n, 2);
    cr_assert_eq(out[0].item, 1);
    cr_assert(fabs(out[0].score - .75) < 1e-6);
    cr_assert_eq(out[0].anchor, 0);
    cr_assert_eq(out[1].item, 2);
    /* {2}: 0 and 1 tie on confidence and lift -> lower item first */
    n = query(m, (uint32_t[]){2}, 1, 4, out, NULL, NULL);
    cr_assert_eq(n, 2);
    cr_assert_eq(out[0].item, 0);
    cr_assert_eq(out[1].item, 1);
    cr_assert(fabs(out[1].score - 2. / 3) < 1e-6);
    /* {0, 2}: only 1 is left; best rule 0=>1 (.75) beats 2=>1 (2/3) */
    n = query(m, (uint32_t[]){2, 0, 3, 9999}, 4, 4, out, NULL, NULL);
    cr_assert_eq(n, 1);
    cr_assert_eq(out[0].item, 1);
    cr_assert(fabs(out[0].score - .75) < 1e-6);
    cr_assert_eq(out[0].anchor, 0);
    tl_arules_ops.free(m);
    /* min_len 1: rules {} => j with confidence = support: 0 and 1 (.8), 2 (.6) */
    m = train_kv(d, (const char *[]){"min_support", "0.4", "min_confidence", "0.5", "min_len", "1", NULL});
    cr_assert_eq(tl_arules_count(m), 9);
    n = query(m, NULL, 0, 4, out, NULL, NULL);
    cr_assert_eq(n, 3);
    cr_assert_eq(out[0].item, 0);
    cr_assert_eq(out[1].item, 1);
    cr_assert_eq(out[2].item, 2);
    cr_assert(fabs(out[2].score - .6) < 1e-6);
    cr_assert_eq(out[0].anchor, TL_MODEL_NONE);
    tl_arules_ops.free(m);
    tl_dataset_free(d);
}

/* ---- brute force: every itemset of <= 12 items as a bitmask ---- */

#define BI 11
#define NB 60

struct brule {
    uint32_t lhs, rhs, count;
    double conf, lift;
};

static int cmp_brule(const void *a, const void *b)
{
    const struct brule *x = a, *y = b;
    if (x->lhs != y->lhs) return x->lhs < y->lhs ? -1 : 1;
    return x->rhs < y->rhs ? -1 : x->rhs > y->rhs;
}

static size_t brute_rules(const uint32_t *masks, size_t nb, double minsup, double minconf, int minlen, int maxlen,
                          struct brule *out)
{
    static uint32_t cnt[1 << BI];
    for (uint32_t s = 0; s < (1u << BI); s++) {
        cnt[s] = 0;
        for (size_t b = 0; b < nb; b++) cnt[s] += (masks[b] & s) == s;
    }
    uint32_t minc = (uint32_t)ceil(minsup * (double)nb - 1e-9);
    if (minc < 2) minc = 2; /* min_count default */
    size_t n = 0;
    for (uint32_t s = 1; s < (1u << BI); s++) {
        int len = __builtin_popcount(s);
        if (len < minlen || len > maxlen || cnt[s] < minc) continue;
        for (uint32_t j = 0; j < BI; j++) {
            if (!(s >> j & 1)) continue;
            uint32_t l = s & ~(1u << j);
            double conf = (double)cnt[s] / cnt[l];
            if (conf < minconf - 1e-12) continue;
            out[n++] = (struct brule){l, j, cnt[s], conf, conf / ((double)cnt[1u << j] / nb)};
        }
    }
    qsort(out, n, sizeof *out, cmp_brule);
    return n;
}

Test(arules, brute_force_random)
{
    static uint32_t masks[NB];
    static uint32_t rows[NB][BI + 1];
    static const uint32_t *ptr[NB];
    static struct brule br[200000], mr[200000];
    uint64_t x = 99;
    size_t total = 0;
    for (int round = 0; round < 8; round++) {
        for (size_t b = 0; b < NB; b++) {
            masks[b] = 0;
            size_t n = 0;
            for (uint32_t i = 0; i < BI; i++) {
                x = x * 6364136223846793005ULL + 1442695040888963407ULL;
                uint32_t r = (uint32_t)(x >> 33) % 100;
                if (r < 15 + 5 * i + (uint32_t)round * 3) { /* item i with probability 15..80% */
                    masks[b] |= 1u << i;
                    rows[b][n++] = i;
                }
            }
            rows[b][n] = E;
            ptr[b] = rows[b];
        }
        struct tl_dataset *d = make_baskets(ptr, NB, BI);
        static const char *sup[] = {"0.05", "0.1", "0.2", "0.3"}, *conf[] = {"0", "0.3", "0.6", "0.9"};
        static const char *minl[] = {"1", "2", "2", "3"}, *maxl[] = {"10", "3", "2", "4"};
        int c = round % 4;
        void *m = train_kv(d, (const char *[]){"min_support", sup[c], "min_confidence", conf[(round + 1) % 4],
                                               "min_len", minl[c], "max_len", maxl[c], NULL});
        size_t nb = brute_rules(masks, NB, atof(sup[c]), atof(conf[(round + 1) % 4]), atoi(minl[c]), atoi(maxl[c]), br);
        size_t nm = tl_arules_count(m);
        cr_assert_eq(nm, nb, "round %d: %zu rules, brute force %zu", round, nm, nb);
        total += nm;
        for (size_t i = 0; i < nm; i++) {
            struct tl_arules_rule r;
            cr_assert_eq(tl_arules_rule(m, i, &r), TL_OK);
            uint32_t l = 0;
            for (uint32_t k = 0; k < r.n_lhs; k++) {
                if (k) cr_assert(r.lhs[k] > r.lhs[k - 1]);
                l |= 1u << r.lhs[k];
            }
            mr[i] = (struct brule){l, r.rhs, r.count, r.confidence, r.lift};
        }
        qsort(mr, nm, sizeof *mr, cmp_brule);
        for (size_t i = 0; i < nm; i++) {
            cr_assert(mr[i].lhs == br[i].lhs && mr[i].rhs == br[i].rhs && mr[i].count == br[i].count,
                      "round %d rule %zu differs", round, i);
            cr_assert(fabs(mr[i].conf - br[i].conf) < 1e-12 && fabs(mr[i].lift - br[i].lift) < 1e-12);
        }
        tl_arules_ops.free(m);
        tl_dataset_free(d);
    }
    cr_log_info("brute force: %zu rules compared over 8 rounds", total);
    cr_assert(total > 1000);
}

/* ---- Groceries ---- */

static struct tl_dataset *groceries(struct tl_strtab *names)
{
    FILE *f = fopen(GROCERIES, "r");
    cr_assert_not_null(f, "%s missing (run from the repository root)", GROCERIES);
    tl_strtab_init(names);
    struct tl_dataset_builder *b = tl_dataset_builder_new();
    char line[4096];
    uint32_t u = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        int64_t pos = 0;
        for (char *s = line, *e;; s = e + 1) {
            e = strchr(s, ',');
            if (e) *e = '\0';
            uint32_t id;
            cr_assert_eq(tl_strtab_intern(names, s, &id), TL_OK);
            cr_assert_eq(tl_dataset_builder_add(b, u, id, 1.0f, pos++, NULL), TL_OK);
            if (!e) break;
        }
        u++;
    }
    fclose(f);
    cr_assert_eq(u, 9835);
    struct tl_dataset *d = NULL;
    cr_assert_eq(tl_dataset_builder_finish(b, u, names->count, &d, NULL), TL_OK);
    tl_dataset_builder_free(b);
    cr_assert_eq(names->count, 169);
    return d;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static void length_histogram(const void *m, size_t *h)
{
    memset(h, 0, 12 * sizeof *h);
    for (size_t i = 0; i < tl_arules_count(m); i++) {
        struct tl_arules_rule r;
        cr_assert_eq(tl_arules_rule(m, i, &r), TL_OK);
        cr_assert(r.n_lhs + 1 < 12);
        h[r.n_lhs + 1]++;
    }
}

/* Lantz, "Machine Learning with R": apriori(groceries, parameter =
 * list(support = 0.006, confidence = 0.25, minlen = 2)) -> 463 rules. */
Test(arules, groceries_463)
{
    struct tl_strtab names;
    struct tl_dataset *d = groceries(&names);
    void *m = train_kv(d, (const char *[]){"min_support", "0.006", "min_confidence", "0.25", "min_len", "2", NULL});
    size_t h[12];
    length_histogram(m, h);
    cr_assert_eq(tl_arules_count(m), 463);
    cr_assert_eq(h[2], 150);
    cr_assert_eq(h[3], 297);
    cr_assert_eq(h[4], 16);
    uint32_t herbs = tl_strtab_find(&names, "herbs"), roots = tl_strtab_find(&names, "root vegetables");
    cr_assert_neq(herbs, TL_STRTAB_NONE);
    int found = 0;
    for (size_t i = 0; i < tl_arules_count(m); i++) {
        struct tl_arules_rule r;
        tl_arules_rule(m, i, &r);
        if (r.n_lhs != 1 || r.lhs[0] != herbs || r.rhs != roots) continue;
        found = 1;
        cr_assert_eq(r.count, 69);
        cr_assert(fabs(r.support - 0.007015760) < 5e-10, "support %.9f", r.support);
        cr_assert(fabs(r.confidence - 0.43125) < 1e-12, "confidence %.9f", r.confidence);
        cr_assert(fabs(r.lift - 3.956477) < 5e-7, "lift %.7f", r.lift);
    }
    cr_assert(found, "{herbs} => {root vegetables} missing");
    tl_arules_ops.free(m);
    tl_dataset_free(d);
    tl_strtab_free(&names);
}

/* Brute-force "complete your basket": best rule per rhs over a scan of all
 * rules; returns the expected top k. */
struct exp_hit {
    uint32_t item;
    float conf, lift;
};

static int cmp_exp(const void *a, const void *b)
{
    const struct exp_hit *x = a, *y = b;
    if (x->conf != y->conf) return x->conf > y->conf ? -1 : 1;
    if (x->lift != y->lift) return x->lift > y->lift ? -1 : 1;
    return x->item < y->item ? -1 : x->item > y->item;
}

static size_t brute_candidates(const struct tl_arules_rule *rules, size_t nr, const uint8_t *in, uint32_t n_items,
                               struct exp_hit *best)
{
    size_t n = 0;
    static struct exp_hit acc[256];
    static int has[256];
    cr_assert(n_items <= 256);
    memset(has, 0, sizeof has);
    for (size_t i = 0; i < nr; i++) {
        const struct tl_arules_rule *r = &rules[i];
        if (in[r->rhs]) continue;
        int ok = 1;
        for (uint32_t k = 0; k < r->n_lhs && ok; k++) ok = in[r->lhs[k]];
        if (!ok) continue;
        struct exp_hit e = {r->rhs, (float)r->confidence, (float)r->lift};
        if (!has[r->rhs] || cmp_exp(&e, &acc[r->rhs]) < 0) acc[r->rhs] = e;
        has[r->rhs] = 1;
    }
    for (uint32_t j = 0; j < n_items; j++)
        if (has[j]) best[n++] = acc[j];
    qsort(best, n, sizeof *best, cmp_exp);
    return n;
}

static int skip_mod3(void *ctx, uint32_t item)
{
    (void)ctx;
    return item % 3 == 0;
}

/* Hahsler's arules vignette: support 0.001, confidence 0.5 -> 5,668 rules. */
Test(arules, groceries_5668_and_queries)
{
    struct tl_strtab names;
    struct tl_dataset *d = groceries(&names);
    double t0 = now_s();
    void *m = train_kv(d, (const char *[]){"min_support", "0.001", "min_confidence", "0.5", NULL});
    double t_train = now_s() - t0;
    size_t h[12];
    length_histogram(m, h);
    cr_assert_eq(tl_arules_count(m), 5668);
    static const size_t exp[] = {0, 0, 11, 1461, 3211, 939, 46, 0};
    for (int l = 0; l < 8; l++) cr_assert_eq(h[l], exp[l], "length %d: %zu rules, expected %zu", l, h[l], exp[l]);
    /* min_len 1 adds nothing: no single item reaches support 0.5 */
    void *m1 = train_kv(d, (const char *[]){"min_support", "0.001", "min_confidence", "0.5", "min_len", "1", NULL});
    cr_assert_eq(tl_arules_count(m1), 5668);
    tl_arules_ops.free(m1);

    /* queries against a scan of every rule, random carts of 1..100 items */
    size_t nr = tl_arules_count(m);
    struct tl_arules_rule *rules = tl_malloc(nr * sizeof *rules);
    for (size_t i = 0; i < nr; i++) tl_arules_rule(m, i, &rules[i]);
    uint64_t x = 7;
    double t_query = 0;
    size_t n_query = 0;
    for (int round = 0; round < 300; round++) {
        uint32_t basket[120];
        uint8_t in[256] = {0};
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        size_t nb = 1 + (size_t)(x >> 33) % (round < 200 ? 12 : 100);
        for (size_t i = 0; i < nb; i++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            /* bias towards frequent items: the first ids are common ones */
            uint32_t it = (uint32_t)((x >> 33) % 169);
            if (round % 2) it = (uint32_t)((x >> 33) % 40);
            basket[i] = it;
            in[it] = 1;
        }
        static struct exp_hit best[256];
        size_t ne = brute_candidates(rules, nr, in, names.count, best);
        struct tl_model_hit out[200];
        size_t k = round % 3 == 0 ? 5 : 200;
        double q0 = now_s();
        size_t n = query(m, basket, nb, k, out, NULL, NULL);
        t_query += now_s() - q0;
        n_query++;
        cr_assert_eq(n, ne < k ? ne : k, "round %d: %zu hits, expected %zu", round, n, ne);
        for (size_t i = 0; i < n; i++) {
            cr_assert_eq(out[i].item, best[i].item, "round %d hit %zu: %u expected %u", round, i, out[i].item,
                         best[i].item);
            cr_assert_eq(out[i].score, best[i].conf);
            cr_assert(out[i].anchor < 256 && in[out[i].anchor], "anchor must be a basket item");
        }
        /* skip: the same list without the skipped items */
        struct tl_model_hit out2[200];
        size_t n2 = query(m, basket, nb, 200, out2, skip_mod3, NULL);
        size_t w = 0;
        for (size_t i = 0; i < ne; i++)
            if (best[i].item % 3) {
                cr_assert(w < n2 && out2[w].item == best[i].item);
                w++;
            }
        cr_assert_eq(n2, w);
    }
    cr_log_info("groceries 0.001/0.5: train %.1f ms, %.1f us per query (%zu queries)", t_train * 1e3,
                t_query / n_query * 1e6, n_query);
    tl_free(rules);
    tl_arules_ops.free(m);
    tl_dataset_free(d);
    tl_strtab_free(&names);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Many rules (support 0.0003 on Groceries: 677k) and carts of 100
 * items must still be answered without scanning every rule. */
Test(arules, groceries_many_rules_speed)
{
    struct tl_strtab names;
    struct tl_dataset *d = groceries(&names);
    void *m = train_kv(d, (const char *[]){"min_support", "0.0003", "min_confidence", "0.05", NULL});
    size_t nr = tl_arules_count(m);
    cr_assert(nr > 100000, "%zu rules", nr);
    /* medians over fresh random carts (the machine is shared: means are
     * dominated by preemption) */
    uint32_t basket[100];
    uint64_t x = 3;
    enum { REPS = 41 };
    double t100[REPS], t10[REPS];
    for (int r = 0; r < REPS; r++) {
        for (int i = 0; i < 100; i++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            basket[i] = (uint32_t)((x >> 33) % 169);
        }
        struct tl_model_hit out[20];
        double t0 = now_s();
        size_t n = query(m, basket, 100, 20, out, NULL, NULL);
        t100[r] = now_s() - t0;
        cr_assert(n > 0);
        t0 = now_s();
        query(m, basket + r % 90, 10, 20, out, NULL, NULL);
        t10[r] = now_s() - t0;
    }
    qsort(t100, REPS, sizeof t100[0], cmp_double);
    qsort(t10, REPS, sizeof t10[0], cmp_double);
    double per = t100[REPS / 2], per10 = t10[REPS / 2];
    /* a plain scan of every rule (what the index avoids), for comparison:
     * rules flattened to item bitsets first (not timed) */
    struct flat {
        uint64_t lhs[3];
        uint32_t rhs;
    } *fl = tl_malloc(nr * sizeof *fl);
    for (size_t i = 0; i < nr; i++) {
        struct tl_arules_rule ru;
        tl_arules_rule(m, i, &ru);
        memset(&fl[i], 0, sizeof fl[i]);
        for (uint32_t k = 0; k < ru.n_lhs; k++) fl[i].lhs[ru.lhs[k] / 64] |= 1ull << (ru.lhs[k] % 64);
        fl[i].rhs = ru.rhs;
    }
    uint64_t in[3] = {0};
    for (int i = 0; i < 100; i++) in[basket[i] / 64] |= 1ull << (basket[i] % 64);
    double t0 = now_s();
    size_t applicable = 0, subset = 0;
    for (size_t i = 0; i < nr; i++) {
        int ok = (fl[i].lhs[0] & ~in[0]) == 0 && (fl[i].lhs[1] & ~in[1]) == 0 && (fl[i].lhs[2] & ~in[2]) == 0;
        subset += ok;
        applicable += ok && !(in[fl[i].rhs / 64] >> (fl[i].rhs % 64) & 1);
    }
    double scan = now_s() - t0;
    tl_free(fl);
    cr_log_info(
        "%zu rules, %zu bytes: median %.0f us per 100-item cart (LHS inside the cart: %zu rules, of which %zu have "
        "their RHS outside), median %.0f us per 10-item cart; a flat scan of all rules: %.0f us",
        nr, tl_arules_ops.memory(m), per * 1e6, subset, applicable, per10 * 1e6, scan * 1e6);
    tl_arules_ops.free(m);
    tl_dataset_free(d);
    tl_strtab_free(&names);
}

/* ---- params, limits, errors ---- */

Test(arules, params_and_errors)
{
    char p[TL_MODEL_PARAMS_MAX];
    struct tl_err err;
    tl_arules_ops.params_defaults(p);
    const struct tl_arules_params *pp = (const void *)p;
    cr_assert_eq(pp->min_len, 2);
    cr_assert_eq(pp->max_len, 10);
    cr_assert_eq(tl_arules_ops.param_set(p, "min_support", "0", &err), TL_EINVAL);
    cr_assert_str_eq(err.field, "min_support");
    cr_assert_eq(tl_arules_ops.param_set(p, "min_confidence", "1.5", &err), TL_EINVAL);
    cr_assert_eq(tl_arules_ops.param_set(p, "max_len", "33", &err), TL_EINVAL);
    cr_assert_eq(tl_arules_ops.param_set(p, "nope", "1", &err), TL_EINVAL);
    cr_assert_eq(tl_arules_ops.param_set(p, "min_len", "5", &err), TL_OK);
    cr_assert_eq(tl_arules_ops.param_set(p, "max_len", "3", &err), TL_OK);
    struct tl_dataset *d = make_baskets((const uint32_t *const[]){(uint32_t[]){0, 1, E}}, 1, 2);
    void *m = NULL;
    cr_assert_eq(tl_arules_ops.train(d, p, NULL, &m, &err), TL_EINVAL); /* min_len > max_len */
    cr_assert_str_eq(err.field, "min_len");
    cr_assert_null(m);
    tl_dataset_free(d);
}

static volatile int g_cancel = 1;

Test(arules, limits_and_cancel)
{
    struct tl_strtab names;
    struct tl_dataset *d = groceries(&names);
    char p[TL_MODEL_PARAMS_MAX];
    struct tl_err err;
    void *m = NULL;
    tl_arules_ops.params_defaults(p);
    tl_arules_ops.param_set(p, "min_support", "0.001", NULL);
    tl_arules_ops.param_set(p, "min_confidence", "0.5", NULL);
    tl_arules_ops.param_set(p, "max_rules", "5000", NULL);
    cr_assert_eq(tl_arules_ops.train(d, p, NULL, &m, &err), TL_ETOOBIG);
    cr_assert_str_eq(err.field, "max_rules");
    tl_arules_ops.param_set(p, "max_rules", "10000", NULL);
    tl_arules_ops.param_set(p, "max_itemsets", "1000", NULL);
    cr_assert_eq(tl_arules_ops.train(d, p, NULL, &m, &err), TL_ETOOBIG);
    cr_assert_str_eq(err.field, "max_itemsets");
    tl_arules_ops.param_set(p, "max_itemsets", "10000000", NULL);
    struct tl_train_opts o = {.threads = 1, .cancel = &g_cancel};
    cr_assert_eq(tl_arules_ops.train(d, p, &o, &m, &err), TL_ESHUTDOWN);
    cr_assert_null(m);
    cr_assert_eq(tl_arules_ops.train(d, p, NULL, &m, &err), TL_OK);
    struct tl_model_hit out[4];
    size_t n = 5;
    struct tl_model_query q = {.user = TL_MODEL_NONE, .anchor = TL_MODEL_NONE, .history = NULL, .n_history = 1};
    cr_assert_eq(tl_arules_ops.candidates(m, &q, NULL, NULL, 4, out, &n), TL_EINVAL);
    q.n_history = 0;
    cr_assert_eq(tl_arules_ops.candidates(m, &q, NULL, NULL, TL_MODEL_K_MAX + 1, out, &n), TL_EINVAL);
    cr_assert_eq(tl_arules_ops.candidates(m, &q, NULL, NULL, 4, out, &n), TL_OK);
    cr_assert_eq(n, 0); /* empty basket, no empty-LHS rules */
    struct tl_arules_rule r;
    cr_assert_eq(tl_arules_rule(m, tl_arules_count(m), &r), TL_EINVAL);
    tl_arules_ops.free(m);
    tl_dataset_free(d);
    tl_strtab_free(&names);
}

/* ---- snapshots ---- */

static void same_model(const void *a, const void *b)
{
    cr_assert_eq(tl_arules_count(a), tl_arules_count(b));
    cr_assert_eq(tl_arules_ops.memory(a), tl_arules_ops.memory(b));
    for (size_t i = 0; i < tl_arules_count(a); i++) {
        struct tl_arules_rule x, y;
        tl_arules_rule(a, i, &x);
        tl_arules_rule(b, i, &y);
        cr_assert(memcmp(&x, &y, sizeof x) == 0, "rule %zu differs", i);
    }
}

Test(arules, snapshots)
{
    static const uint32_t b0[] = {0, 1, 3, E}, b1[] = {1, 0, 3, E}, b2[] = {0, 2, E}, b3[] = {1, 2, 3, E},
                          b4[] = {0, 1, 2, E}, b5[] = {3, 0, E};
    struct tl_dataset *d = make_baskets((const uint32_t *const[]){b0, b1, b2, b3, b4, b5}, 6, 5);
    void *m = train_kv(d, (const char *[]){"min_support", "0.3", "min_confidence", "0.2", "min_len", "1", NULL});
    cr_assert(tl_arules_count(m) > 5);
    struct tl_buf b;
    tl_buf_init(&b, 0);
    struct tl_err err;
    cr_assert_eq(tl_arules_ops.save(m, &b, &err), TL_OK);
    void *m2 = NULL;
    cr_assert_eq(tl_arules_ops.load(b.data, b.len, &m2, &err), TL_OK, "%s", err.msg);
    same_model(m, m2);
    for (uint32_t a = 0; a < 5; a++) {
        struct tl_model_hit o1[8], o2[8];
        uint32_t bk[2] = {a, (a + 1) % 5};
        size_t n1 = query(m, bk, 2, 8, o1, NULL, NULL), n2 = query(m2, bk, 2, 8, o2, NULL, NULL);
        cr_assert_eq(n1, n2);
        cr_assert(memcmp(o1, o2, n1 * sizeof *o1) == 0);
    }
    tl_arules_ops.free(m2);
    for (size_t len = 0; len < b.len; len++) {
        void *t = (void *)1;
        cr_assert_eq(tl_arules_ops.load(b.data, len, &t, &err), TL_EPARSE, "truncated to %zu of %zu", len, b.len);
        cr_assert_null(t);
    }
    uint8_t *c = tl_malloc(b.len + 1);
    memcpy(c, b.data, b.len);
    c[b.len] = 0;
    void *t = NULL;
    cr_assert_eq(tl_arules_ops.load(c, b.len + 1, &t, &err), TL_EPARSE);
    /* every single-byte change is either rejected or yields a usable model */
    size_t rejected = 0;
    for (size_t i = 0; i < b.len; i++) {
        c[i] ^= 0x5a;
        if (tl_arules_ops.load(c, b.len, &t, &err) == TL_EPARSE)
            rejected++;
        else {
            for (size_t r = 0; r < tl_arules_count(t); r++) {
                struct tl_arules_rule ru;
                cr_assert_eq(tl_arules_rule(t, r, &ru), TL_OK);
            }
            struct tl_model_hit o[8];
            query(t, (uint32_t[]){0, 1, 2}, 3, 8, o, NULL, NULL);
            tl_arules_ops.free(t);
        }
        t = NULL;
        c[i] ^= 0x5a;
    }
    cr_assert(rejected > b.len / 2, "only %zu of %zu damaged snapshots rejected", rejected, b.len);
    tl_free(c);
    tl_buf_free(&b);
    tl_arules_ops.free(m);
    tl_dataset_free(d);
}

Test(arules, snapshot_groceries)
{
    struct tl_strtab names;
    struct tl_dataset *d = groceries(&names);
    void *m = train_kv(d, (const char *[]){"min_support", "0.001", "min_confidence", "0.5", NULL});
    struct tl_buf b;
    tl_buf_init(&b, 0);
    cr_assert_eq(tl_arules_ops.save(m, &b, NULL), TL_OK);
    void *m2 = NULL;
    struct tl_err err;
    cr_assert_eq(tl_arules_ops.load(b.data, b.len, &m2, &err), TL_OK, "%s", err.msg);
    same_model(m, m2);
    cr_log_info("groceries 5,668 rules: snapshot %zu bytes, memory %zu bytes", b.len, tl_arules_ops.memory(m));
    tl_buf_free(&b);
    tl_arules_ops.free(m2);
    tl_arules_ops.free(m);
    tl_dataset_free(d);
    tl_strtab_free(&names);
}

/* Every allocation failure during train, save, load and candidates gives
 * TL_ENOMEM (or a clean success) and leaks nothing. */
Test(arules, allocation_failures)
{
    static const uint32_t b0[] = {0, 1, 3, E}, b1[] = {1, 0, 3, E}, b2[] = {0, 2, E}, b3[] = {1, 2, 3, E},
                          b4[] = {0, 1, 2, E}, b5[] = {3, 0, E};
    struct tl_dataset *d = make_baskets((const uint32_t *const[]){b0, b1, b2, b3, b4, b5}, 6, 5);
    char p[TL_MODEL_PARAMS_MAX];
    tl_arules_ops.params_defaults(p);
    tl_arules_ops.param_set(p, "min_support", "0.3", NULL);
    tl_arules_ops.param_set(p, "min_confidence", "0.2", NULL);
    long live0 = tl_alloc_live();
    int ok = 0;
    for (long fail = 0; fail < 200 && !ok; fail++) {
        void *m = NULL;
        tl_alloc_fail_after(fail);
        enum tl_rc rc = tl_arules_ops.train(d, p, NULL, &m, NULL);
        struct tl_buf b;
        tl_buf_init(&b, 0);
        if (rc == TL_OK) rc = tl_arules_ops.save(m, &b, NULL);
        void *m2 = NULL;
        if (rc == TL_OK) rc = tl_arules_ops.load(b.data, b.len, &m2, NULL);
        struct tl_model_hit out[4];
        size_t n;
        struct tl_model_query q = {
            .user = TL_MODEL_NONE, .anchor = TL_MODEL_NONE, .history = (uint32_t[]){0}, .n_history = 1};
        if (rc == TL_OK) rc = tl_arules_ops.candidates(m2, &q, NULL, NULL, 4, out, &n);
        tl_alloc_fail_after(-1);
        cr_assert(rc == TL_OK || rc == TL_ENOMEM, "fail %ld: rc %d", fail, (int)rc);
        ok = rc == TL_OK;
        tl_arules_ops.free(m);
        tl_arules_ops.free(m2);
        tl_buf_free(&b);
        cr_assert_eq(tl_alloc_live(), live0, "fail %ld leaks", fail);
    }
    cr_assert(ok);
    tl_dataset_free(d);
}

/* candidates() from four threads at once: every answer is repeatable (no
 * shared scratch, the model is only read). */
struct thr_arg {
    const void *m;
    int bad;
};

static void *thr_main(void *vp)
{
    struct thr_arg *a = vp;
    uint64_t x = 11;
    for (int r = 0; r < 400; r++) {
        uint32_t basket[30];
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        size_t nb = 1 + (size_t)(x >> 33) % 30;
        for (size_t i = 0; i < nb; i++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            basket[i] = (uint32_t)((x >> 33) % 60);
        }
        struct tl_model_hit o1[10], o2[10];
        struct tl_model_query q = {.user = TL_MODEL_NONE, .anchor = TL_MODEL_NONE, .history = basket, .n_history = nb};
        size_t n1 = 0, n2 = 0;
        tl_arules_ops.candidates(a->m, &q, NULL, NULL, 10, o1, &n1);
        tl_arules_ops.candidates(a->m, &q, NULL, NULL, 10, o2, &n2);
        if (n1 != n2 || memcmp(o1, o2, n1 * sizeof *o1) != 0) a->bad++;
    }
    return NULL;
}

Test(arules, concurrent_queries)
{
    struct tl_strtab names;
    struct tl_dataset *d = groceries(&names);
    void *m = train_kv(d, (const char *[]){"min_support", "0.002", "min_confidence", "0.2", NULL});
    pthread_t t[4];
    struct thr_arg a[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (struct thr_arg){m, 0};
        cr_assert_eq(pthread_create(&t[i], NULL, thr_main, &a[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(a[i].bad, 0);
    }
    tl_arules_ops.free(m);
    tl_dataset_free(d);
    tl_strtab_free(&names);
}
