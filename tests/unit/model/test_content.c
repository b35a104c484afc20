/* Tests for src/model/content.c: TF-IDF cosines checked against values
 * computed here from the documented formulas, features (stop words,
 * stemming, whole-value brand/category/tag features), brand/category
 * ranking, items without text, cold items, skip/k/ties, history queries,
 * a brute-force reference on a random catalog (with and without common-term
 * pruning), determinism across thread counts, fold-in of new text,
 * snapshots (round trip, every truncation, damaged bytes), params, cancel,
 * and allocation failures. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "model/content.h"

#define S(x) ((char *)(x)) /* tl_item_text fields are char * */
#define FEPS 2e-6          /* float storage of cosines */

static const struct tl_model_ops *ops = &tl_content_ops;

/* A dataset of n items; texts (may be NULL) gives each item's text (an
 * all-NULL entry = no text); with_interactions adds user 0 -> items 0, 1. */
static struct tl_dataset *make_dataset(uint32_t n, const struct tl_item_text *texts, int with_interactions)
{
    struct tl_dataset_builder *b = tl_dataset_builder_new();
    cr_assert_not_null(b);
    if (with_interactions) {
        /* user 0 touches items 0 and 1 only */
        cr_assert_eq(tl_dataset_builder_add(b, 0, 0, 1.0f, 1, NULL), TL_OK);
        cr_assert_eq(tl_dataset_builder_add(b, 0, 1, 1.0f, 2, NULL), TL_OK);
    }
    struct tl_dataset *d = NULL;
    cr_assert_eq(tl_dataset_builder_finish(b, with_interactions ? 1 : 0, n, &d, NULL), TL_OK);
    tl_dataset_builder_free(b);
    if (texts)
        for (uint32_t i = 0; i < n; i++)
            if (texts[i].title || texts[i].description || texts[i].brand || texts[i].category || texts[i].tags ||
                texts[i].attrs)
                cr_assert_eq(tl_dataset_set_text(d, i, &texts[i], NULL), TL_OK);
    return d;
}

static void *train_ok(const struct tl_dataset *d, const struct tl_content_params *p, int threads)
{
    struct tl_train_opts o = {.threads = threads, .seed = 1};
    void *m = NULL;
    struct tl_err err;
    enum tl_rc rc = ops->train(d, p, &o, &m, &err);
    cr_assert_eq(rc, TL_OK, "train: %s", err.msg);
    cr_assert_not_null(m);
    return m;
}

static size_t query_anchor(const void *m, uint32_t anchor, size_t k, struct tl_model_hit *out)
{
    struct tl_model_query q = {.user = TL_MODEL_NONE, .anchor = anchor};
    size_t n = 999;
    cr_assert_eq(ops->candidates(m, &q, NULL, NULL, k, out, &n), TL_OK);
    return n;
}

/* ---- hand-computed TF-IDF ---- */

static double tf(double raw) { return raw * 2.2 / (raw + 1.2); } /* k1 = 1.2 */
static double idf(int df, int docs) { return log((1.0 + docs) / (1.0 + df)) + 1.0; }

Test(content, hand_computed_cosines)
{
    struct tl_item_text t[6] = {
        {.title = S("Red red APPLE")},                                /* red raw 6, apple raw 3 */
        {.title = S("red car")},                                      /* red 3, car 3 */
        {.title = S("green apple"), .description = S("crisp apple")}, /* green 3, apple 3.5, crisp 0.5 */
        {.title = S("The of and")},                                   /* only stop words: no features */
        {0},                                                          /* no text */
        {.title = S("blue cars")},                                    /* blue 3, car 3 (stemmed) */
    };
    struct tl_dataset *d = make_dataset(6, t, 0);
    void *m = train_ok(d, NULL, 1);
    /* docs = 4 (items 0, 1, 2, 5); df: red 2, apple 2, car 2, green 1, crisp 1, blue 1 */
    const int docs = 4;
    double i2 = idf(2, docs), i1 = idf(1, docs);
    /* unnormalised weights */
    double w0_red = tf(6) * i2, w0_apple = tf(3) * i2;
    double w1_red = tf(3) * i2, w1_car = tf(3) * i2;
    double w2_green = tf(3) * i1, w2_apple = tf(3.5) * i2, w2_crisp = tf(0.5) * i1;
    double w5_blue = tf(3) * i1, w5_car = tf(3) * i2;
    double n0 = sqrt(w0_red * w0_red + w0_apple * w0_apple);
    double n1 = sqrt(w1_red * w1_red + w1_car * w1_car);
    double n2 = sqrt(w2_green * w2_green + w2_apple * w2_apple + w2_crisp * w2_crisp);
    double n5 = sqrt(w5_blue * w5_blue + w5_car * w5_car);
    double s01 = w0_red * w1_red / (n0 * n1);
    double s02 = w0_apple * w2_apple / (n0 * n2);
    double s15 = w1_car * w5_car / (n1 * n5);
    /* sanity of the reference itself: distinct, in (0, 1) */
    cr_assert(s01 > 0 && s01 < 1 && s02 > 0 && s02 < 1 && s15 > 0 && s15 < 1);
    cr_assert(fabs(s01 - s02) > 1e-3);

    struct tl_model_hit h[8];
    size_t n = query_anchor(m, 0, 8, h);
    cr_assert_eq(n, 2);
    uint32_t first = s01 > s02 ? 1 : 2, second = s01 > s02 ? 2 : 1;
    cr_assert_eq(h[0].item, first);
    cr_assert_eq(h[1].item, second);
    cr_assert(fabs(h[0].score - fmax(s01, s02)) < FEPS, "got %.9g want %.9g", h[0].score, fmax(s01, s02));
    cr_assert(fabs(h[1].score - fmin(s01, s02)) < FEPS, "got %.9g want %.9g", h[1].score, fmin(s01, s02));
    cr_assert_eq(h[0].anchor, 0);

    n = query_anchor(m, 1, 8, h);
    cr_assert_eq(n, 2);
    double a = s01, b = s15;
    cr_assert_eq(h[0].item, a > b ? 0 : 5);
    cr_assert(fabs(h[0].score - fmax(a, b)) < FEPS);
    cr_assert(fabs(h[1].score - fmin(a, b)) < FEPS);

    n = query_anchor(m, 5, 8, h);
    cr_assert_eq(n, 1);
    cr_assert_eq(h[0].item, 1);
    cr_assert(fabs(h[0].score - s15) < FEPS);

    n = query_anchor(m, 2, 8, h);
    cr_assert_eq(n, 1);
    cr_assert_eq(h[0].item, 0);
    cr_assert(fabs(h[0].score - s02) < FEPS);

    /* stop-word-only and text-less items: no neighbours, never a neighbour */
    cr_assert_eq(query_anchor(m, 3, 8, h), 0);
    cr_assert_eq(query_anchor(m, 4, 8, h), 0);
    /* unknown anchor: no hits, no error */
    cr_assert_eq(query_anchor(m, 77, 8, h), 0);
    ops->free(m);
    tl_dataset_free(d);
}

/* ---- features ---- */

struct feats {
    char s[64][80];
    double raw[64];
    int n;
};

static void collect(void *ctx, const char *f, double raw)
{
    struct feats *fs = ctx;
    cr_assert_lt(fs->n, 64);
    snprintf(fs->s[fs->n], sizeof fs->s[0], "%s", f);
    fs->raw[fs->n++] = raw;
}

static double feat(const struct feats *fs, const char *s)
{
    for (int i = 0; i < fs->n; i++)
        if (strcmp(fs->s[i], s) == 0) return fs->raw[i];
    return 0;
}

Test(content, features)
{
    struct tl_item_text t = {.title = S("The Boxes of CRÈME Berries & glasses, for 2 Mugs"),
                             .brand = S("ACME Inc."),
                             .category = S("Home > Kitchen >  > Mugs"),
                             .tags = S("Gift Idea, mugs"),
                             .attrs = S("colour: Blue; size: XL"),
                             .description = S("a mug")};
    struct feats fs = {0};
    cr_assert_eq(tl_content_features(&t, NULL, collect, &fs), TL_OK);
    cr_assert_eq(feat(&fs, "the"), 0);
    cr_assert_eq(feat(&fs, "of"), 0);
    cr_assert_eq(feat(&fs, "for"), 0);
    cr_assert_eq(feat(&fs, "2"), 0); /* one-byte token */
    cr_assert_eq(feat(&fs, "box"), 3);
    cr_assert_eq(feat(&fs, "crème"), 3); /* UTF-8 upper case folded */
    cr_assert_eq(feat(&fs, "berry"), 3);
    cr_assert_eq(feat(&fs, "glass"), 3);
    /* mug: title 3 + category 2 + tag 1 + description 0.5 */
    cr_assert_eq(feat(&fs, "mug"), 6.5);
    cr_assert_eq(feat(&fs, "acme"), 2);
    cr_assert_eq(feat(&fs, "inc"), 2);
    cr_assert_eq(feat(&fs, "brand:acme inc"), 2);
    cr_assert_eq(feat(&fs, "cat:home"), 2);
    cr_assert_eq(feat(&fs, "cat:home>kitchen"), 2);
    cr_assert_eq(feat(&fs, "cat:home>kitchen>mugs"), 2); /* empty level skipped */
    cr_assert_eq(feat(&fs, "tag:gift idea"), 1);
    cr_assert_eq(feat(&fs, "tag:mugs"), 1);
    cr_assert_eq(feat(&fs, "gift"), 1);
    cr_assert_eq(feat(&fs, "colour"), 1);
    cr_assert_eq(feat(&fs, "xl"), 1);

    /* field weight 0 removes the field entirely */
    struct tl_content_params p;
    ops->params_defaults(&p);
    cr_assert_eq(ops->param_set(&p, "w_brand", "0", NULL), TL_OK);
    struct feats f2 = {0};
    cr_assert_eq(tl_content_features(&t, &p, collect, &f2), TL_OK);
    cr_assert_eq(feat(&f2, "acme"), 0);
    cr_assert_eq(feat(&f2, "brand:acme inc"), 0);
}

/* ---- ranking by brand / category, stop words, cold items ---- */

Test(content, same_brand_and_category_rank_above_unrelated)
{
    struct tl_item_text t[6] = {
        {.title = S("Steel pot"), .brand = S("Acme"), .category = S("Home > Kitchen")},
        {.title = S("Copper kettle"), .brand = S("Acme"), .category = S("Home > Kitchen")},
        {.title = S("Steel bolt"), .brand = S("Boltco"), .category = S("Hardware > Fasteners")},
        {.title = S("Wool scarf"), .brand = S("Knitz"), .category = S("Fashion > Accessories")},
        {.title = S("Glass vase"), .brand = S("Vasey"), .category = S("Home > Decor")},
        {.title = S("Rubber duck"), .brand = S("Quack"), .category = S("Toys")},
    };
    struct tl_dataset *d = make_dataset(6, t, 0);
    void *m = train_ok(d, NULL, 2);
    struct tl_model_hit h[8];
    size_t n = query_anchor(m, 0, 8, h);
    cr_assert_geq(n, 3);
    cr_assert_eq(h[0].item, 1, "same brand+category first, got %u", h[0].item);
    /* shares only a title word */
    int pos_bolt = -1, pos_vase = -1;
    for (size_t i = 0; i < n; i++) {
        if (h[i].item == 2) pos_bolt = (int)i;
        if (h[i].item == 4) pos_vase = (int)i;
        cr_assert(h[i].item != 3 && h[i].item != 5, "unrelated item %u returned", h[i].item);
    }
    cr_assert(pos_bolt > 0 && pos_vase > 0);
    ops->free(m);
    tl_dataset_free(d);
}

Test(content, stop_words_do_not_match)
{
    struct tl_item_text t[3] = {
        {.title = S("kettle of the steel and")},
        {.title = S("pot of the gold and")},
        {.title = S("THE AND OF")},
    };
    struct tl_dataset *d = make_dataset(3, t, 0);
    void *m = train_ok(d, NULL, 1);
    struct tl_model_hit h[4];
    for (uint32_t i = 0; i < 3; i++) cr_assert_eq(query_anchor(m, i, 4, h), 0, "item %u", i);
    ops->free(m);
    tl_dataset_free(d);
}

Test(content, no_text_at_all)
{
    struct tl_dataset *d = make_dataset(4, NULL, 1);
    cr_assert_null(d->text);
    void *m = train_ok(d, NULL, 2);
    struct tl_model_hit h[4];
    for (uint32_t i = 0; i < 4; i++) cr_assert_eq(query_anchor(m, i, 4, h), 0);
    uint32_t hist[] = {0, 1, 2};
    struct tl_model_query q = {.user = TL_MODEL_NONE, .anchor = TL_MODEL_NONE, .history = hist, .n_history = 3};
    size_t n = 9;
    cr_assert_eq(ops->candidates(m, &q, NULL, NULL, 4, h, &n), TL_OK);
    cr_assert_eq(n, 0);
    struct tl_buf b;
    tl_buf_init(&b, 0);
    cr_assert_eq(ops->save(m, &b, NULL), TL_OK);
    void *m2 = NULL;
    cr_assert_eq(ops->load(b.data, b.len, &m2, NULL), TL_OK);
    cr_assert_eq(query_anchor(m2, 1, 4, h), 0);
    ops->free(m2);
    tl_buf_free(&b);
    ops->free(m);
    tl_dataset_free(d);

    /* zero items */
    d = make_dataset(0, NULL, 0);
    m = train_ok(d, NULL, 3);
    cr_assert_eq(query_anchor(m, 0, 4, h), 0);
    ops->free(m);
    tl_dataset_free(d);
}

Test(content, cold_item_gets_neighbours)
{
    struct tl_item_text t[3] = {
        {.title = S("ceramic tea cup")},
        {.title = S("glass beer mug")},
        {.title = S("ceramic coffee cup")}, /* no interactions */
    };
    struct tl_dataset *d = make_dataset(3, t, 1);
    uint32_t counts[3];
    tl_dataset_item_counts(d, counts);
    cr_assert_eq(counts[2], 0);
    void *m = train_ok(d, NULL, 1);
    struct tl_model_hit h[4];
    cr_assert_eq(query_anchor(m, 2, 4, h), 1);
    cr_assert_eq(h[0].item, 0);
    cr_assert_eq(query_anchor(m, 0, 4, h), 1);
    cr_assert_eq(h[0].item, 2);
    ops->free(m);
    tl_dataset_free(d);
}

/* ---- skip, k, ties, bad queries ---- */

static int skip_item3(void *ctx, uint32_t item)
{
    (void)ctx;
    return item == 3;
}

Test(content, skip_k_ties)
{
    struct tl_item_text t[6] = {
        {.title = S("oak table lamp")}, {.title = S("oak table lamp")}, {.title = S("unrelated sofa")},
        {.title = S("oak table lamp")}, {.title = S("oak table lamp")}, {.title = S("oak table")},
    };
    struct tl_dataset *d = make_dataset(6, t, 0);
    void *m = train_ok(d, NULL, 2);
    struct tl_model_hit h[8];
    size_t n = query_anchor(m, 0, 8, h);
    cr_assert_eq(n, 4);
    /* identical texts tie at cosine 1: lower index first; then item 5 */
    cr_assert_eq(h[0].item, 1);
    cr_assert_eq(h[1].item, 3);
    cr_assert_eq(h[2].item, 4);
    cr_assert_eq(h[3].item, 5);
    cr_assert(fabs(h[0].score - 1.0) < FEPS && h[0].score == h[1].score && h[1].score == h[2].score);
    cr_assert_lt(h[3].score, h[2].score);
    cr_assert_eq(query_anchor(m, 0, 2, h), 2);
    cr_assert_eq(h[1].item, 3);
    struct tl_model_query q = {.user = TL_MODEL_NONE, .anchor = 0};
    cr_assert_eq(ops->candidates(m, &q, skip_item3, NULL, 2, h, &n), TL_OK);
    cr_assert_eq(n, 2);
    cr_assert_eq(h[0].item, 1);
    cr_assert_eq(h[1].item, 4);
    cr_assert_eq(ops->candidates(m, &q, NULL, NULL, 0, h, &n), TL_OK);
    cr_assert_eq(n, 0);
    cr_assert_eq(ops->candidates(m, &q, NULL, NULL, TL_MODEL_K_MAX + 1, h, &n), TL_EINVAL);
    cr_assert_eq(ops->candidates(m, &q, NULL, NULL, 4, NULL, &n), TL_EINVAL);
    q.anchor = TL_MODEL_NONE;
    q.n_history = 2;
    cr_assert_eq(ops->candidates(m, &q, NULL, NULL, 4, h, &n), TL_EINVAL); /* history NULL */
    uint32_t hist[2] = {0, 2};
    float bad_w[2] = {1.0f, NAN};
    q.history = hist;
    q.hweight = bad_w;
    cr_assert_eq(ops->candidates(m, &q, NULL, NULL, 4, h, &n), TL_EINVAL);
    q.hweight = NULL;
    q.n_history = TL_MODEL_HISTORY_MAX + 1;
    cr_assert_eq(ops->candidates(m, &q, NULL, NULL, 4, h, &n), TL_EINVAL);
    /* skip in history mode, ties in history mode */
    q.n_history = 1;
    cr_assert_eq(ops->candidates(m, &q, skip_item3, NULL, 8, h, &n), TL_OK);
    cr_assert_eq(n, 3);
    cr_assert_eq(h[0].item, 1);
    cr_assert_eq(h[1].item, 4);
    cr_assert_eq(h[2].item, 5);
    cr_assert_eq(h[0].anchor, 0);
    ops->free(m);
    tl_dataset_free(d);
}

/* ---- history ---- */

static double sim_of(const void *m, uint32_t a, uint32_t j)
{
    struct tl_model_hit h[16];
    size_t n = query_anchor(m, a, 16, h);
    for (size_t i = 0; i < n; i++)
        if (h[i].item == j) return h[i].score;
    return 0;
}

Test(content, history_recency)
{
    struct tl_item_text t[6] = {
        {.title = S("red wool scarf")},   {.title = S("red wool hat")},     {.title = S("blue denim jacket")},
        {.title = S("blue denim jeans")}, {.title = S("red denim jacket")}, {.title = S("garden hose")},
    };
    struct tl_dataset *d = make_dataset(6, t, 0);
    void *m = train_ok(d, NULL, 1);
    uint32_t hist[] = {0, 2}; /* older: red wool scarf, newer: blue denim jacket */
    float hw[] = {1.0f, 0.5f};
    struct tl_model_query q = {.user = TL_MODEL_NONE, .anchor = TL_MODEL_NONE, .history = hist, .n_history = 2};
    struct tl_model_hit h[8];
    size_t n = 0;
    for (int weighted = 0; weighted < 2; weighted++) {
        q.hweight = weighted ? hw : NULL;
        cr_assert_eq(ops->candidates(m, &q, NULL, NULL, 8, h, &n), TL_OK);
        double r0 = (weighted ? 1.0 : 1.0) * exp2(-1.0 / 3.0), r1 = weighted ? 0.5 : 1.0;
        /* every item that is a neighbour of 0 or 2, scored by the formula */
        size_t expect_n = 0;
        for (uint32_t j = 0; j < 6; j++) {
            double s0 = sim_of(m, 0, j), s1 = sim_of(m, 2, j);
            double want = r0 * s0 + r1 * s1;
            if (want <= 0) continue;
            expect_n++;
            size_t pos = n;
            for (size_t i = 0; i < n; i++)
                if (h[i].item == j) pos = i;
            cr_assert_lt(pos, n, "item %u missing", j);
            cr_assert(fabs(h[pos].score - want) < 1e-5, "item %u: %g want %g", j, h[pos].score, want);
            uint32_t anc = r0 * s0 > r1 * s1 ? 0 : (r0 * s0 < r1 * s1 ? 2 : 0);
            cr_assert_eq(h[pos].anchor, anc, "item %u anchor %u want %u", j, h[pos].anchor, anc);
        }
        cr_assert_eq(n, expect_n);
        for (size_t i = 1; i < n; i++)
            cr_assert(h[i - 1].score > h[i].score || (h[i - 1].score == h[i].score && h[i - 1].item < h[i].item));
    }
    /* unweighted: the newest item's neighbours dominate */
    q.hweight = NULL;
    cr_assert_eq(ops->candidates(m, &q, NULL, NULL, 1, h, &n), TL_OK);
    cr_assert_eq(n, 1);
    cr_assert(h[0].item == 3 || h[0].item == 4);
    cr_assert_eq(h[0].anchor, 2);
    ops->free(m);
    tl_dataset_free(d);
}

/* ---- random catalog: brute force, pruning, threads ---- */

static const char *const WORDS[] = {"red",   "blue",  "green",   "oak",    "pine",   "steel", "glass", "wool",
                                    "lamp",  "table", "chair",   "mug",    "cup",    "vase",  "rug",   "clock",
                                    "shelf", "sofa",  "bed",     "desk",   "frame",  "bowl",  "plate", "jar",
                                    "small", "large", "vintage", "modern", "rustic", "set",   "kit",   "box"};
#define NW (sizeof WORDS / sizeof WORDS[0])

static uint64_t rng_next(uint64_t *s)
{
    *s += 0x9e3779b97f4a7c15ull;
    uint64_t z = *s;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static struct tl_dataset *random_catalog(uint32_t n, uint64_t seed)
{
    struct tl_dataset *d = make_dataset(n, NULL, 0);
    uint64_t s = seed;
    static const char *const BR[] = {"Acme", "Globex", "Initech", "Umbrella"};
    static const char *const CA[] = {"Home > Kitchen", "Home > Decor", "Garden", "Office > Desk"};
    for (uint32_t i = 0; i < n; i++) {
        if (i % 17 == 5) continue; /* some items without text */
        char title[256] = "";
        int nwords = 1 + (int)(rng_next(&s) % 5);
        for (int w = 0; w < nwords; w++) {
            /* skewed word choice so some words get common */
            uint64_t r = rng_next(&s) % (NW * NW);
            size_t wi = (size_t)sqrt((double)r);
            strcat(title, WORDS[NW - 1 - wi]);
            strcat(title, " ");
        }
        struct tl_item_text t = {.title = title};
        if (i % 3 == 0) t.brand = (char *)BR[rng_next(&s) % 4];
        if (i % 2 == 0) t.category = (char *)CA[rng_next(&s) % 4];
        cr_assert_eq(tl_dataset_set_text(d, i, &t, NULL), TL_OK);
    }
    return d;
}

/* Reference: features via tl_content_features, then the documented TF-IDF
 * and cosines by brute force over all pairs. */
struct ref {
    uint32_t n;
    char (*fs)[80];
    double *raw;
    size_t *off;
    double *sim; /* n x n */
};

static void ref_collect(void *ctx, const char *f, double raw)
{
    struct ref *r = ctx;
    size_t e = r->off[r->n + 1]++;
    snprintf(r->fs[e], 80, "%s", f);
    r->raw[e] = raw;
}

static void ref_build(struct ref *r, const struct tl_dataset *d)
{
    uint32_t n = d->n_items;
    r->fs = calloc((size_t)n * 16, 80);
    r->raw = calloc((size_t)n * 16, sizeof *r->raw);
    r->off = calloc((size_t)n + 1, sizeof *r->off);
    r->sim = calloc((size_t)n * n, sizeof *r->sim);
    for (r->n = 0; r->n < n; r->n++) {
        r->off[r->n + 1] = r->off[r->n];
        if (d->text) cr_assert_eq(tl_content_features(&d->text[r->n], NULL, ref_collect, r), TL_OK);
        cr_assert_leq(r->off[r->n + 1], (size_t)(r->n + 1) * 16);
    }
    size_t nnz = r->off[n];
    int docs = 0;
    for (uint32_t i = 0; i < n; i++) docs += r->off[i + 1] > r->off[i];
    double *w = calloc(nnz ? nnz : 1, sizeof *w);
    for (size_t e = 0; e < nnz; e++) {
        int df = 0;
        for (uint32_t i = 0; i < n; i++)
            for (size_t f = r->off[i]; f < r->off[i + 1]; f++)
                if (strcmp(r->fs[f], r->fs[e]) == 0) {
                    df++;
                    break;
                }
        w[e] = tf(r->raw[e]) * idf(df, docs);
    }
    for (uint32_t i = 0; i < n; i++) {
        double nrm = 0;
        for (size_t e = r->off[i]; e < r->off[i + 1]; e++) nrm += w[e] * w[e];
        for (size_t e = r->off[i]; e < r->off[i + 1]; e++) w[e] /= sqrt(nrm);
    }
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t j = 0; j < n; j++) {
            if (i == j) continue;
            double s = 0;
            for (size_t a = r->off[i]; a < r->off[i + 1]; a++)
                for (size_t b = r->off[j]; b < r->off[j + 1]; b++)
                    if (strcmp(r->fs[a], r->fs[b]) == 0) s += w[a] * w[b];
            r->sim[(size_t)i * n + j] = s;
        }
    free(w);
}

static void ref_free(struct ref *r)
{
    free(r->fs);
    free(r->raw);
    free(r->off);
    free(r->sim);
}

static int dbl_desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x > y ? -1 : x < y;
}

/* Every returned score is the exact cosine; with `complete`, the k-th best
 * score matches the brute-force k-th best. */
static double check_against_ref(const void *m, const struct ref *r, uint32_t N, int complete)
{
    size_t hit = 0, want_total = 0;
    uint32_t n = r->n;
    struct tl_model_hit h[64];
    double *row = malloc(n * sizeof *row);
    for (uint32_t i = 0; i < n; i++) {
        size_t k = query_anchor(m, i, N, h);
        for (size_t q = 1; q < k; q++)
            cr_assert(h[q - 1].score > h[q].score || (h[q - 1].score == h[q].score && h[q - 1].item < h[q].item),
                      "item %u: order at %zu", i, q);
        for (size_t q = 0; q < k; q++) {
            double want = r->sim[(size_t)i * n + h[q].item];
            cr_assert(fabs(h[q].score - want) < 1e-5, "item %u nbr %u: %.8g want %.8g", i, h[q].item, h[q].score, want);
        }
        size_t pos = 0;
        for (uint32_t j = 0; j < n; j++)
            if (j != i && r->sim[(size_t)i * n + j] > 0) row[pos++] = r->sim[(size_t)i * n + j];
        qsort(row, pos, sizeof *row, dbl_desc);
        /* recall: returned hits scoring at least the true N-th best score */
        size_t want = pos < N ? pos : N;
        want_total += want;
        for (size_t q = 0; q < k; q++) hit += want && h[q].score >= row[want - 1] - 1e-5;
        if (!complete) continue;
        cr_assert_eq(k, pos < N ? pos : N, "item %u: %zu neighbours, want %zu", i, k, pos < N ? pos : (size_t)N);
        for (size_t q = 0; q < k; q++) cr_assert(fabs(h[q].score - row[q]) < 1e-5, "item %u rank %zu", i, q);
    }
    free(row);
    return want_total ? (double)hit / (double)want_total : 1.0;
}

Test(content, brute_force_reference_and_pruning)
{
    struct tl_dataset *d = random_catalog(300, 42);
    struct ref r;
    ref_build(&r, d);
    struct tl_content_params p;
    ops->params_defaults(&p);
    p.neighbours = 20;
    void *m = train_ok(d, &p, 2);
    cr_assert_eq(check_against_ref(m, &r, 20, 1), 1.0);
    ops->free(m);
    /* postings cut: returned scores are still exact cosines, best first */
    p.max_postings = 8;
    m = train_ok(d, &p, 2);
    double recall = check_against_ref(m, &r, 20, 0);
    cr_log_info("recall@20 with max_postings 8 on 300 random items: %.3f", recall);
    cr_assert_gt(recall, 0.3);
    cr_assert_lt(recall, 1.0); /* the cut really happened */
    ops->free(m);
    ref_free(&r);
    tl_dataset_free(d);
}

static void snap(const void *m, struct tl_buf *b)
{
    tl_buf_init(b, 0);
    cr_assert_eq(ops->save(m, b, NULL), TL_OK);
}

Test(content, deterministic_across_threads)
{
    struct tl_dataset *d = random_catalog(2000, 7);
    struct tl_content_params p;
    ops->params_defaults(&p);
    p.max_postings = 40; /* exercise the cut-postings path too */
    struct tl_buf ref;
    void *m1 = train_ok(d, &p, 1);
    snap(m1, &ref);
    for (int th = 2; th <= 5; th += 3) {
        void *m = train_ok(d, &p, th);
        struct tl_buf b;
        snap(m, &b);
        cr_assert_eq(b.len, ref.len);
        cr_assert(memcmp(b.data, ref.data, b.len) == 0, "threads %d differ", th);
        tl_buf_free(&b);
        ops->free(m);
    }
    tl_buf_free(&ref);
    ops->free(m1);
    tl_dataset_free(d);
}

/* ---- fold-in ---- */

Test(content, similar_text_for_new_item)
{
    struct tl_dataset *d = random_catalog(300, 3);
    void *m = train_ok(d, NULL, 2);
    struct tl_model_hit h[10], g[10];
    size_t n = 0;
    /* the same text as item 1 scores item 1 with cosine 1 */
    cr_assert_eq(tl_content_similar_text(m, &d->text[1], NULL, NULL, 10, h, &n, NULL), TL_OK);
    cr_assert_geq(n, 1);
    cr_assert(fabs(h[0].score - 1.0) < FEPS);
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        found |= h[i].item == 1;
        cr_assert_eq(h[i].anchor, TL_MODEL_NONE);
        if (h[i].item != 1) {
            /* other scores equal the trained cosine with item 1 */
            size_t k = query_anchor(m, 1, 10, g);
            for (size_t q = 0; q < k; q++)
                if (g[q].item == h[i].item) cr_assert(fabs(g[q].score - h[i].score) < FEPS);
        }
    }
    cr_assert(found);
    /* unseen words only lower the norm */
    struct tl_item_text t = {.title = S("zzzunseen qqqword")};
    cr_assert_eq(tl_content_similar_text(m, &t, NULL, NULL, 10, h, &n, NULL), TL_OK);
    cr_assert_eq(n, 0);
    cr_assert_eq(tl_content_similar_text(m, &t, NULL, NULL, TL_MODEL_K_MAX + 1, h, &n, NULL), TL_EINVAL);
    ops->free(m);
    tl_dataset_free(d);
}

/* ---- snapshots ---- */

Test(content, snapshot_round_trip_and_truncation)
{
    struct tl_dataset *d = random_catalog(40, 11);
    struct tl_content_params p;
    ops->params_defaults(&p);
    p.neighbours = 5;
    void *m = train_ok(d, &p, 2);
    struct tl_buf b;
    snap(m, &b);
    void *m2 = NULL;
    struct tl_err err;
    cr_assert_eq(ops->load(b.data, b.len, &m2, &err), TL_OK, "%s", err.msg);
    cr_assert_eq(ops->memory(m2), ops->memory(m));
    struct tl_buf b2;
    snap(m2, &b2);
    cr_assert_eq(b2.len, b.len);
    cr_assert(memcmp(b.data, b2.data, b.len) == 0);
    struct tl_model_hit h1[8], h2[8];
    for (uint32_t i = 0; i < 40; i++) {
        size_t n1 = query_anchor(m, i, 8, h1), n2 = query_anchor(m2, i, 8, h2);
        cr_assert_eq(n1, n2);
        cr_assert(memcmp(h1, h2, n1 * sizeof *h1) == 0);
    }
    size_t n1, n2;
    cr_assert_eq(tl_content_similar_text(m2, &d->text[0], NULL, NULL, 8, h2, &n2, NULL), TL_OK);
    cr_assert_eq(tl_content_similar_text(m, &d->text[0], NULL, NULL, 8, h1, &n1, NULL), TL_OK);
    cr_assert_eq(n1, n2);
    cr_assert(memcmp(h1, h2, n1 * sizeof *h1) == 0);
    tl_buf_free(&b2);
    ops->free(m2);
    long live = tl_alloc_live();
    for (size_t len = 0; len < b.len; len++) {
        void *mx = (void *)1;
        cr_assert_eq(ops->load(b.data, len, &mx, NULL), TL_EPARSE, "truncated to %zu accepted", len);
        cr_assert_null(mx);
    }
    /* one flipped bit anywhere */
    for (size_t pos = 0; pos < b.len; pos += 7) {
        b.data[pos] ^= 0x10;
        void *mx = NULL;
        cr_assert_eq(ops->load(b.data, b.len, &mx, NULL), TL_EPARSE, "flip at %zu accepted", pos);
        b.data[pos] ^= 0x10;
    }
    /* trailing garbage */
    cr_assert_eq(tl_buf_putc(&b, 0), TL_OK);
    cr_assert_eq(ops->load(b.data, b.len, &m2, NULL), TL_EPARSE);
    cr_assert_eq(tl_alloc_live(), live);
    tl_buf_free(&b);
    ops->free(m);
    tl_dataset_free(d);
}

/* ---- params, cancel, progress, allocation failures ---- */

Test(content, params)
{
    struct tl_content_params p;
    ops->params_defaults(&p);
    cr_assert_eq(p.neighbours, 50);
    cr_assert_eq(p.w_title, 3.0);
    cr_assert_leq(ops->params_size, TL_MODEL_PARAMS_MAX);
    struct tl_err err;
    cr_assert_eq(ops->param_set(&p, "neighbours", "7", &err), TL_OK);
    cr_assert_eq(p.neighbours, 7);
    cr_assert_eq(ops->param_set(&p, "w_description", "0.25", &err), TL_OK);
    cr_assert_eq(p.w_description, 0.25);
    cr_assert_eq(ops->param_set(&p, "neighbours", "0", &err), TL_EINVAL);
    cr_assert_eq(ops->param_set(&p, "neighbours", "1001", &err), TL_EINVAL);
    cr_assert_eq(ops->param_set(&p, "k1", "-1", &err), TL_EINVAL);
    cr_assert_eq(ops->param_set(&p, "min_sim", "nan", &err), TL_EINVAL);
    cr_assert_eq(ops->param_set(&p, "bogus", "1", &err), TL_EINVAL);
    cr_assert_str_eq(err.field, "bogus");
    p.k1 = -3; /* direct writes are checked by train */
    struct tl_dataset *d = make_dataset(2, NULL, 0);
    struct tl_train_opts o = {.threads = 1};
    void *m = NULL;
    cr_assert_eq(ops->train(d, &p, &o, &m, &err), TL_EINVAL);
    cr_assert_null(m);
    tl_dataset_free(d);
}

static void progress_cb(void *ctx, double frac, const char *phase)
{
    double *last = ctx;
    cr_assert(frac >= *last - 1e-12 && frac <= 1.0, "progress %g after %g (%s)", frac, *last, phase);
    *last = frac;
}

Test(content, cancel_and_progress)
{
    struct tl_dataset *d = random_catalog(500, 5);
    long live = tl_alloc_live();
    volatile int cancel = 1;
    struct tl_train_opts o = {.threads = 2, .cancel = &cancel};
    void *m = NULL;
    cr_assert_eq(ops->train(d, NULL, &o, &m, NULL), TL_ESHUTDOWN);
    cr_assert_null(m);
    cr_assert_eq(tl_alloc_live(), live);
    double last = 0;
    struct tl_train_opts o2 = {.threads = 2, .progress = progress_cb, .progress_ctx = &last};
    cr_assert_eq(ops->train(d, NULL, &o2, &m, NULL), TL_OK);
    cr_assert_eq(last, 1.0);
    cr_assert_gt(ops->memory(m), 0);
    ops->free(m);
    tl_dataset_free(d);
}

Test(content, allocation_failures)
{
    struct tl_dataset *d = random_catalog(80, 9);
    struct tl_train_opts o = {.threads = 1};
    long live = tl_alloc_live();
    int succeeded = 0;
    for (long f = 0; f < 100000 && !succeeded; f++) {
        void *m = NULL;
        tl_alloc_fail_after(f);
        enum tl_rc rc = ops->train(d, NULL, &o, &m, NULL);
        tl_alloc_fail_after(-1);
        if (rc == TL_OK) {
            succeeded = 1;
            /* history queries and fold-in under failure too */
            uint32_t hist[] = {0, 1, 2};
            struct tl_model_query q = {.user = TL_MODEL_NONE, .anchor = TL_MODEL_NONE, .history = hist, .n_history = 3};
            struct tl_model_hit h[5];
            size_t n;
            tl_alloc_fail_after(0);
            enum tl_rc qrc = ops->candidates(m, &q, NULL, NULL, 5, h, &n);
            tl_alloc_fail_after(-1);
            cr_assert(qrc == TL_ENOMEM || (qrc == TL_OK && n == 0));
            ops->free(m);
        } else {
            cr_assert_eq(rc, TL_ENOMEM, "fail %ld: rc %d", f, rc);
            cr_assert_null(m);
        }
        cr_assert_eq(tl_alloc_live(), live, "leak after failing allocation %ld", f);
    }
    cr_assert(succeeded);
    tl_dataset_free(d);
}
