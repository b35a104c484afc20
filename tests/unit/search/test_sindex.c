/* Tests for src/search/sindex.c: indexing (upsert replaces, remove, hidden
 * documents), BM25F field weighting, coordination, phrase bonus, prefix,
 * typo correction (budget, digits, exact above corrected, corrected query),
 * synonyms, stop words, id lookup, Unicode folding, hostile query syntax,
 * browse mode (popularity x (1 + boost)), long queries, filters, facet
 * counts (checked against counts computed here), top facet values among
 * many, sorting, pagination, relaxed / fallback modes, the boost hook (and
 * that skipping it for hopeless documents is exact), long words, suggest, save/load (round trip, every truncation,
 * corruption, config mismatch), concurrent readers and writers, and no leaks. */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "search/sindex.h"

struct prod {
    const char *id, *title, *desc, *brand, *cat, *tags, *attrs;
    double price;
    int available;
    int64_t created;
};

static const struct prod catalog[] = {
    {"SKU-100", "Whirlpool Over the Range Convection Microwave", "Stainless steel microwave oven with sensor cooking",
     "Whirlpool", "Appliances > Microwaves > Over the Range", "[\"kitchen\",\"oven\"]",
     "{\"color\":\"Stainless\",\"width\":30}", 329.0, 1, 1000},
    {"SKU-101", "Countertop Microwave in Black", "Compact 0.9 cu. ft. microwave", "GE",
     "Appliances > Microwaves > Countertop", "[\"kitchen\"]", "{\"color\":\"Black\",\"width\":20}", 89.0, 1, 2000},
    {"SKU-102", "Toilet Seat Elongated White", "Slow close toilet seat", "Kohler", "Bath > Toilets > Seats",
     "[\"bathroom\"]", "{\"color\":\"White\"}", 39.5, 0, 3000},
    {"SKU-103", "Two Piece Toilet in White", "High efficiency toilet with elongated bowl", "Glacier Bay",
     "Bath > Toilets", "[\"bathroom\"]", "{\"color\":\"White\"}", 199.0, 1, 4000},
    {"SKU-104", "Red Chair with Cushion", "A red patio chair", "Hampton Bay", "Outdoor > Patio Furniture",
     "[\"patio\"]", "{\"color\":\"Red\"}", 59.0, 1, 5000},
    {"SKU-105", "Chair Cushion in Red", "Cushion for a patio chair", "Hampton Bay", "Outdoor > Patio Furniture",
     "[\"patio\"]", "{\"color\":\"Red\"}", 19.0, 1, 6000},
    {"SKU-106", "Crème Vinyl Plank Flooring", "Luxury vinyl plank, 20 sq. ft. per case", "LifeProof",
     "Flooring > Vinyl", "[\"floor\"]", "{\"color\":\"Creme\"}", 45.0, 1, 7000},
    {"SKU-107", "Creme Ceramic Tile", "Glazed ceramic floor tile", "Daltile", "Flooring > Tile", NULL,
     "{\"color\":\"Creme\"}", 2.5, 1, 8000},
    {"X200-B", "Cordless Drill 20V", "Drill driver kit with battery 20 volt", "DeWalt", "Tools > Power Tools > Drills",
     "[\"tools\"]", "{\"voltage\":20}", 129.0, 1, 9000},
    {"SKU-109", "Cordless Drill 12V", "Drill driver 12 volt", "Milwaukee", "Tools > Power Tools > Drills",
     "[\"tools\"]", "{\"voltage\":12}", 99.0, 0, 10000},
    {"SKU-110", "Hidden Microwave Prototype", "not for sale", "Whirlpool", "Appliances > Microwaves", NULL, NULL, 10.0,
     1, 11000},
    {"SKU-111", "Television Wall Mount", "Mount for flat screen", "Onn", "Electronics > TV Mounts", NULL, NULL, 25.0, 1,
     12000},
};
#define NP (sizeof catalog / sizeof *catalog)
#define HIDDEN 10

static struct tl_sresult res;

static void put(struct tl_sindex *ix, uint32_t i)
{
    const struct prod *p = &catalog[i];
    struct tl_sdoc d = {p->id,    p->title, p->desc,      p->brand,    p->cat,    p->tags,
                        p->attrs, p->price, p->available, i != HIDDEN, p->created};
    cr_assert_eq(tl_sindex_upsert(ix, i, &d), TL_OK);
}

/* A new index with the default configuration. */
static struct tl_sindex *empty_index(void)
{
    struct tl_search_config cfg;
    memset(&cfg, 0, sizeof cfg);
    struct tl_sindex *ix = NULL;
    struct tl_err e;
    cr_assert_eq(tl_sindex_new(&cfg, &ix, &e), TL_OK, "%s", e.msg);
    return ix;
}

static struct tl_sindex *build(const char *syn)
{
    struct tl_search_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.synonyms = syn;
    struct tl_sindex *ix = NULL;
    struct tl_err e;
    cr_assert_eq(tl_sindex_new(&cfg, &ix, &e), TL_OK, "%s", e.msg);
    for (uint32_t i = 0; i < NP; i++) put(ix, i);
    float pop[NP];
    for (uint32_t i = 0; i < NP; i++) pop[i] = (float)(i % 5);
    pop[3] = 10; /* the two-piece toilet is the most popular */
    cr_assert_eq(tl_sindex_set_popularity(ix, pop, NP), TL_OK);
    return ix;
}

static struct tl_squery mkq(const char *q)
{
    struct tl_squery s;
    memset(&s, 0, sizeof s);
    s.q = q;
    s.limit = 10;
    s.min_price = s.max_price = NAN;
    return s;
}

static void run(struct tl_sindex *ix, const struct tl_squery *q)
{
    struct tl_err e;
    cr_assert_eq(tl_sindex_search(ix, q, &res, &e), TL_OK, "%s", e.msg);
}

static void search(struct tl_sindex *ix, const char *text)
{
    struct tl_squery q = mkq(text);
    run(ix, &q);
}

static int rank_of(uint32_t doc)
{
    for (size_t i = 0; i < res.n_hits; i++)
        if (res.hits[i].doc == doc) return (int)i;
    return -1;
}

Test(sindex, basic_match_hidden_and_count)
{
    long base = tl_alloc_live();
    struct tl_sindex *ix = build(NULL);
    cr_assert_eq(tl_sindex_count(ix), NP);
    cr_assert_gt(tl_sindex_memory(ix), 1000);
    search(ix, "microwave");
    cr_assert_eq(res.mode, TL_SMODE_EXACT);
    cr_assert_eq(res.total, 2, "hidden product never counted");
    cr_assert_eq(rank_of(HIDDEN), -1);
    cr_assert_geq(rank_of(0), 0);
    cr_assert_geq(rank_of(1), 0);
    tl_sindex_free(ix);
    cr_assert_eq(tl_alloc_live(), base, "no leaks");
}

Test(sindex, upsert_replaces_and_remove_deletes)
{
    struct tl_sindex *ix = build(NULL);
    struct tl_sdoc d = {"SKU-100", "Garden Hose 50 ft", "", "Acme", "Outdoor > Garden", NULL, NULL, 20, 1, 1, 1};
    cr_assert_eq(tl_sindex_upsert(ix, 0, &d), TL_OK);
    cr_assert_eq(tl_sindex_count(ix), NP);
    search(ix, "convection");
    cr_assert_neq(res.mode, TL_SMODE_EXACT, "old postings are gone");
    cr_assert_neq(res.mode, TL_SMODE_CORRECTED);
    search(ix, "hose");
    cr_assert_eq(res.total, 1);
    cr_assert_eq(res.hits[0].doc, 0);
    tl_sindex_remove(ix, 0);
    cr_assert_eq(tl_sindex_count(ix), NP - 1);
    search(ix, "hose");
    cr_assert_eq(res.mode == TL_SMODE_EXACT && res.total > 0, 0);
    /* many replacements of the same doc: lazy deletion stays correct */
    for (int k = 0; k < 600; k++) {
        struct tl_sdoc e = {"SKU-1", k % 2 ? "blue widget" : "green widget", "", NULL, NULL, NULL, NULL, 1, 1, 1, 1};
        cr_assert_eq(tl_sindex_upsert(ix, 1, &e), TL_OK);
    }
    search(ix, "widget");
    cr_assert_eq(res.total, 1);
    search(ix, "blue");
    cr_assert_eq(res.total, 1);
    search(ix, "green");
    cr_assert_neq(res.mode, TL_SMODE_EXACT, "stale postings never match");
    tl_sindex_free(ix);
}

Test(sindex, title_outranks_description_and_coordination)
{
    struct tl_sindex *ix = build(NULL);
    search(ix, "oven");
    /* doc 0 has oven in description + tag only */
    cr_assert_eq(res.total, 1);
    search(ix, "cushion");
    cr_assert_eq(res.total, 2);
    search(ix, "whirlpool convection microwave");
    cr_assert_eq(res.hits[0].doc, 0, "matches all three terms");
    cr_assert_gt(res.hits[0].score, res.hits[1].score);
    search(ix, "toilet seat");
    cr_assert_eq(res.hits[0].doc, 2);
    cr_assert_eq(res.hits[1].doc, 3);
    tl_sindex_free(ix);
}

Test(sindex, phrase_adjacency_bonus)
{
    struct tl_sindex *ix = build(NULL);
    search(ix, "red chair");
    cr_assert_eq(res.total, 2);
    cr_assert_eq(res.hits[0].doc, 4, "'Red Chair' adjacent in the title");
    cr_assert_eq(res.hits[1].doc, 5);
    search(ix, "chair cushion");
    cr_assert_eq(res.hits[0].doc, 5);
    tl_sindex_free(ix);
}

Test(sindex, prefix_of_last_word_below_full_match)
{
    struct tl_sindex *ix = build(NULL);
    search(ix, "micro");
    cr_assert_eq(res.total, 2, "micro -> microwave");
    search(ix, "countertop micr");
    cr_assert_eq(res.hits[0].doc, 1);
    /* a full match of a word outranks a prefix completion */
    struct tl_sdoc d = {"SKU-200", "Mic Stand", "", NULL, NULL, NULL, NULL, 5, 1, 1, 1};
    cr_assert_eq(tl_sindex_upsert(ix, 20, &d), TL_OK);
    struct tl_sdoc d2 = {"SKU-201", "Mica Sheet", "", NULL, NULL, NULL, NULL, 5, 1, 1, 1};
    cr_assert_eq(tl_sindex_upsert(ix, 21, &d2), TL_OK);
    search(ix, "mic");
    cr_assert_eq(res.hits[0].doc, 20);
    cr_assert_geq(rank_of(21), 1);
    tl_sindex_free(ix);
}

Test(sindex, typo_tolerance)
{
    struct tl_sindex *ix = build(NULL);
    search(ix, "toliet");
    cr_assert_eq(res.mode, TL_SMODE_CORRECTED);
    cr_assert_str_eq(res.corrected_q, "toilet");
    cr_assert_eq(res.total, 2);
    cr_assert(res.hits[0].corrected);
    search(ix, "microwvae"); /* transposition: 1 edit */
    cr_assert_eq(res.mode, TL_SMODE_CORRECTED);
    cr_assert_eq(res.total, 2);
    search(ix, "convectoin ovne"); /* 10 letters: 2 edits allowed */
    cr_assert_eq(res.hits[0].doc, 0);
    /* exact above corrected: "tiles" exists; "tilet" corrects to toilet and tile */
    search(ix, "tile toliet");
    cr_assert_eq(res.hits[0].doc, 7, "the exact match ranks first");
    cr_assert_eq(res.hits[0].corrected, 0);
    /* short words are not corrected (4 letters) */
    search(ix, "dril");
    cr_assert_neq(res.mode, TL_SMODE_CORRECTED);
    /* numbers and SKU-like tokens are never corrected */
    search(ix, "x201");
    cr_assert_neq(res.mode, TL_SMODE_CORRECTED);
    search(ix, "99999");
    cr_assert(res.mode != TL_SMODE_EXACT && res.mode != TL_SMODE_CORRECTED);
    tl_sindex_free(ix);
}

Test(sindex, synonyms_and_config_errors)
{
    struct tl_sindex *ix = build("tv,television;couch=>sofa;seat=>chair");
    search(ix, "tv");
    cr_assert_eq(res.total, 1);
    cr_assert_eq(res.hits[0].doc, 11);
    search(ix, "seat");
    cr_assert_eq(res.total, 3, "seat finds the toilet seat and (one-way) chairs");
    cr_assert_eq(res.hits[0].doc, 2, "the literal match first");
    search(ix, "chair");
    cr_assert_eq(res.total, 2, "one-way: chair does not expand to seat");
    tl_sindex_free(ix);
    const char *bad[] = {"a=>", "=>b", "a,", "a=>b=>c", ";;x;"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct tl_search_config cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.synonyms = bad[i];
        struct tl_err e;
        tl_err_clear(&e);
        struct tl_sindex *x = NULL;
        cr_assert_eq(tl_sindex_new(&cfg, &x, &e), TL_EINVAL, "%s", bad[i]);
        cr_assert_str_eq(e.field, "synonyms");
        cr_assert_null(x);
    }
    struct tl_search_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.language = "nosuch";
    struct tl_err e;
    struct tl_sindex *x = NULL;
    cr_assert_eq(tl_sindex_new(&cfg, &x, &e), TL_EINVAL);
    cr_assert_str_eq(e.field, "language");
}

Test(sindex, stop_words_and_language)
{
    struct tl_search_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.stop_words = "chair";
    cfg.language = "english";
    struct tl_sindex *ix = NULL;
    struct tl_err e;
    cr_assert_eq(tl_sindex_new(&cfg, &ix, &e), TL_OK);
    for (uint32_t i = 0; i < NP; i++) put(ix, i);
    search(ix, "red chair");
    cr_assert_eq(res.total, 2, "chair ignored, red matches both");
    search(ix, "the with");
    cr_assert_eq(res.mode == TL_SMODE_BROWSE, 0);
    tl_sindex_free(ix);
}

Test(sindex, id_lookup_unicode_and_hostile_syntax)
{
    struct tl_sindex *ix = build(NULL);
    search(ix, "X200-B");
    cr_assert_eq(res.hits[0].doc, 8);
    search(ix, "sku-107");
    cr_assert_eq(res.hits[0].doc, 7);
    search(ix, "creme");
    cr_assert_eq(res.total, 2);
    search(ix, "CRÈME");
    cr_assert_eq(res.total, 2);
    const char *hostile[] = {"\"toilet",
                             "toilet*",
                             "toilet OR drill",
                             "NEAR(toilet drill)",
                             "'; DROP TABLE x; --",
                             "toilet AND",
                             "\\",
                             "%",
                             "\xff\xfe\x80",
                             "((((("};
    for (size_t i = 0; i < sizeof hostile / sizeof *hostile; i++) search(ix, hostile[i]);
    search(ix, "'; DROP TABLE products; --");
    cr_assert(res.mode == TL_SMODE_RELAXED || res.mode == TL_SMODE_FALLBACK, "plain words, none indexed");
    search(ix, "toilet OR drill");
    cr_assert_eq(res.total, 4, "OR is text (a stop word), both terms match: 2 toilets + 2 drills");
    tl_sindex_free(ix);
}

Test(sindex, browse_and_long_query)
{
    struct tl_sindex *ix = build(NULL);
    search(ix, "");
    cr_assert_eq(res.mode, TL_SMODE_BROWSE);
    cr_assert_eq(res.total, NP - 1);
    cr_assert_eq(res.hits[0].doc, 3, "browse by relevance = popularity");
    struct tl_squery q = mkq(NULL);
    q.sort = TL_SSORT_PRICE_ASC;
    run(ix, &q);
    cr_assert_eq(res.mode, TL_SMODE_BROWSE);
    cr_assert_eq(res.hits[0].doc, 7);
    char *big = tl_malloc(4000);
    big[0] = 0;
    while (strlen(big) < 3900) strcat(big, "toilet ");
    strcat(big, "microwave");
    search(ix, big);
    cr_assert_eq(res.total, 2, "cut at a token edge: the trailing microwave is beyond the limit");
    tl_free(big);
    tl_sindex_free(ix);
}

Test(sindex, filters_and_facets)
{
    struct tl_sindex *ix = build(NULL);
    struct tl_squery q = mkq("");
    q.facets = 1;
    q.category = "Appliances > Microwaves";
    run(ix, &q);
    cr_assert_eq(res.total, 2);
    q.category = "Appliances";
    run(ix, &q);
    cr_assert_eq(res.total, 2, "subtree");
    q.category = "Applian";
    run(ix, &q);
    cr_assert_eq(res.total, 0, "only at a level boundary");
    q = mkq("");
    const char *brands[] = {"hampton bay", "KOHLER"};
    q.brands = brands;
    q.n_brands = 2;
    run(ix, &q);
    cr_assert_eq(res.total, 3);
    q = mkq("");
    q.min_price = 50;
    q.max_price = 130;
    run(ix, &q);
    cr_assert_eq(res.total, 4); /* 89, 59, 129, 99 */
    q.available_only = 1;
    run(ix, &q);
    cr_assert_eq(res.total, 3);
    q = mkq("");
    struct tl_sattr_filter af[] = {{"color", "white"}};
    q.attrs = af;
    q.n_attrs = 1;
    run(ix, &q);
    cr_assert_eq(res.total, 2);
    struct tl_sattr_filter af2[] = {{"voltage", "20"}};
    q.attrs = af2;
    run(ix, &q);
    cr_assert_eq(res.total, 1);
    cr_assert_eq(res.hits[0].doc, 8);

    /* facet counts against counts computed here over the matches */
    q = mkq("");
    q.facets = 1;
    run(ix, &q);
    int seen_cat = 0, seen_brand = 0, seen_price = 0, seen_avail = 0, seen_color = 0;
    for (size_t f = 0; f < res.n_facets; f++) {
        const struct tl_sfacet *fc = &res.facets[f];
        for (size_t v = 0; v < fc->n; v++) {
            uint32_t want = 0;
            for (uint32_t i = 0; i < NP; i++) {
                if (i == HIDDEN) continue;
                const struct prod *p = &catalog[i];
                if (!strcmp(fc->name, "category")) {
                    size_t l = strlen(fc->v[v].value);
                    want += !strncmp(p->cat, fc->v[v].value, l) && (p->cat[l] == 0 || p->cat[l] == ' ');
                } else if (!strcmp(fc->name, "brand"))
                    want += !strcmp(p->brand, fc->v[v].value);
                else if (!strcmp(fc->name, "available"))
                    want += (p->available ? "true" : "false")[0] == fc->v[v].value[0];
                else if (!strcmp(fc->name, "price")) {
                    double lo = atof(fc->v[v].value);
                    const char *dash = strchr(fc->v[v].value, '-');
                    double hi = dash ? atof(dash + 1) : 1e300;
                    want += p->price >= lo && p->price < hi;
                } else if (!strcmp(fc->name, "attr:color")) {
                    char pat[64];
                    snprintf(pat, sizeof pat, "\"color\":\"%s\"", fc->v[v].value);
                    want += p->attrs && strstr(p->attrs, pat) != NULL;
                }
            }
            if (!strcmp(fc->name, "category")) seen_cat++;
            if (!strcmp(fc->name, "brand")) seen_brand++;
            if (!strcmp(fc->name, "price")) seen_price++;
            if (!strcmp(fc->name, "available")) seen_avail++;
            if (!strcmp(fc->name, "attr:color")) seen_color++;
            if (!strncmp(fc->name, "attr:", 5) && strcmp(fc->name, "attr:color")) continue;
            cr_assert_eq(fc->v[v].count, want, "%s=%s: %u vs %u", fc->name, fc->v[v].value, fc->v[v].count, want);
            if (v && strcmp(fc->name, "price")) cr_assert_geq(fc->v[v - 1].count, fc->v[v].count, "sorted by count");
        }
    }
    cr_assert_gt(seen_cat, 10, "every path prefix is a value");
    cr_assert_eq(seen_brand, 10);
    cr_assert_gt(seen_price, 3);
    cr_assert_eq(seen_avail, 2);
    cr_assert_eq(seen_color, 5);
    tl_sindex_free(ix);
}

Test(sindex, sorting_and_pagination)
{
    struct tl_sindex *ix = build(NULL);
    struct tl_squery q = mkq("toilet microwave drill");
    q.sort = TL_SSORT_PRICE_ASC;
    run(ix, &q);
    cr_assert_eq(res.total, 6);
    for (size_t i = 1; i < res.n_hits; i++)
        cr_assert_leq(catalog[res.hits[i - 1].doc].price, catalog[res.hits[i].doc].price);
    q.sort = TL_SSORT_PRICE_DESC;
    run(ix, &q);
    cr_assert_eq(res.hits[0].doc, 0);
    q.sort = TL_SSORT_NEWEST;
    run(ix, &q);
    cr_assert_eq(res.hits[0].doc, 9);
    q.sort = TL_SSORT_POPULAR;
    run(ix, &q);
    cr_assert_eq(res.hits[0].doc, 3);
    q.sort = TL_SSORT_PRICE_ASC;
    q.offset = 2;
    q.limit = 3;
    uint32_t first[6];
    struct tl_squery all = q;
    all.offset = 0;
    all.limit = 6;
    run(ix, &all);
    for (int i = 0; i < 6; i++) first[i] = res.hits[i].doc;
    run(ix, &q);
    cr_assert_eq(res.n_hits, 3);
    cr_assert_eq(res.total, 6);
    for (int i = 0; i < 3; i++) cr_assert_eq(res.hits[i].doc, first[i + 2]);
    q.limit = TL_SEARCH_LIMIT_MAX + 1;
    struct tl_err e;
    cr_assert_eq(tl_sindex_search(ix, &q, &res, &e), TL_EINVAL);
    tl_sindex_free(ix);
}

Test(sindex, relaxed_and_fallback)
{
    struct tl_sindex *ix = build(NULL);
    search(ix, "cordles"); /* 7 letters, 1 edit: would be corrected */
    cr_assert_eq(res.mode, TL_SMODE_CORRECTED);
    search(ix, "crdls drll"); /* beyond the normal budget */
    cr_assert_eq(res.mode, TL_SMODE_RELAXED);
    cr_assert_gt(res.total, 0);
    search(ix, "zzzzqqqq");
    cr_assert_eq(res.mode, TL_SMODE_FALLBACK);
    cr_assert_eq(res.hits[0].doc, 3, "most popular");
    tl_sindex_free(ix);
}

static int boost_calls_bad;
static double boost_fn(void *ctx, uint32_t doc)
{
    (void)ctx;
    if (doc != 2 && doc != 3) boost_calls_bad++;
    return doc == 3 ? 10.0 : 0.0;
}

Test(sindex, boost_hook)
{
    struct tl_sindex *ix = build(NULL);
    search(ix, "toilet seat");
    cr_assert_eq(res.hits[0].doc, 2);
    float text3 = res.hits[1].text_score;
    struct tl_squery q = mkq("toilet seat");
    q.boost = boost_fn;
    q.boost_max = 10.0;
    boost_calls_bad = 0;
    run(ix, &q);
    cr_assert_eq(boost_calls_bad, 0, "called only on matching docs");
    cr_assert_eq(res.hits[0].doc, 3);
    cr_assert_float_eq(res.hits[0].score, text3 * 11.0f, 1e-3);
    cr_assert_float_eq(res.hits[0].text_score, text3, 1e-4);
    tl_sindex_free(ix);
}

/* Browse (empty query, sort relevance): popularity x (1 + boost). The
 * fallback (no match) stays by popularity and never calls the hook. */
static int browse_calls;
static double browse_boost(void *ctx, uint32_t doc)
{
    (void)ctx;
    browse_calls++;
    return doc == 4 ? 2.0 : doc == 1 ? 100.0 : 0.0; /* 100 is clamped to boost_max */
}

Test(sindex, browse_applies_boost)
{
    struct tl_sindex *ix = build(NULL);
    /* pop: i % 5, doc 3 = 10; doc 4: 4 x (1 + 2) = 12 beats doc 3 (10);
     * doc 1: 1 x (1 + 3) = 4 (clamped to boost_max 3) */
    struct tl_squery q = mkq("");
    q.boost = browse_boost;
    q.boost_max = 3.0;
    browse_calls = 0;
    run(ix, &q);
    cr_assert_eq(res.mode, TL_SMODE_BROWSE);
    cr_assert_gt(browse_calls, 0);
    cr_assert_eq(res.hits[0].doc, 4, "boosted popularity first");
    cr_assert_float_eq(res.hits[0].score, 12.0f, 1e-4);
    cr_assert_eq(res.hits[1].doc, 3);
    cr_assert_float_eq(res.hits[1].score, 10.0f, 1e-4);
    int r1 = rank_of(1);
    cr_assert_geq(r1, 0);
    cr_assert_float_eq(res.hits[r1].score, 4.0f, 1e-4, "boost clamped to boost_max");
    /* other sorts ignore the hook */
    q.sort = TL_SSORT_POPULAR;
    run(ix, &q);
    cr_assert_eq(res.hits[0].doc, 3);
    /* fallback: popularity only, hook not called (nothing matched) */
    q = mkq("zzzzqqqq");
    q.boost = browse_boost;
    q.boost_max = 3.0;
    browse_calls = 0;
    run(ix, &q);
    cr_assert_eq(res.mode, TL_SMODE_FALLBACK);
    cr_assert_eq(res.hits[0].doc, 3);
    cr_assert_eq(browse_calls, 0);
    tl_sindex_free(ix);
}

/* Many matches, a small boost_max: the hook is skipped for documents that
 * cannot enter the top k even with the largest boost, and the result equals
 * the exhaustive ranking by text x (1 + boost) computed here. */
#define SKIP_N 3000
static int skip_calls;
static double skip_boost(void *ctx, uint32_t doc)
{
    (void)ctx;
    skip_calls++;
    return (double)((doc * 2654435761u) % 1000) / 10000.0; /* [0, 0.1) */
}

/* The text score of each of the SKIP_N documents matching "widget" (no
 * boost), paging through all of them. */
static void all_text_scores(struct tl_sindex *ix, float *text)
{
    for (uint32_t i = 0; i < SKIP_N; i++) text[i] = -1;
    struct tl_squery q = mkq("widget ");
    q.limit = TL_SEARCH_LIMIT_MAX;
    for (uint32_t off = 0; off < SKIP_N; off += q.limit) {
        q.offset = off;
        run(ix, &q);
        cr_assert_eq(res.total, SKIP_N);
        for (size_t k = 0; k < res.n_hits; k++) text[res.hits[k].doc] = res.hits[k].text_score;
    }
    for (uint32_t i = 0; i < SKIP_N; i++) cr_assert_geq(text[i], 0.0f, "doc %u seen", i);
}

/* Exhaustive reference: the best 20 by (key desc, doc asc), key = text x
 * (1 + boost(doc)); then res (the last run) must hold those scores, and
 * those documents wherever the next key is not a near-tie. */
static void check_top20(const float *text, double (*boost)(void *, uint32_t), void *ctx, const char *tag)
{
    uint32_t want[20];
    double wkey[20];
    for (int k = 0; k < 20; k++) {
        double best = -1;
        uint32_t bd = 0;
        for (uint32_t i = 0; i < SKIP_N; i++) {
            int used = 0;
            for (int j = 0; j < k; j++) used |= want[j] == i;
            double key = (double)text[i] * (1 + boost(ctx, i));
            if (!used && key > best) best = key, bd = i;
        }
        want[k] = bd, wkey[k] = best;
    }
    cr_assert_eq(res.total, SKIP_N, "%s", tag);
    cr_assert_eq(res.n_hits, 20, "%s", tag);
    for (int k = 0; k < 20; k++) {
        cr_assert_float_eq(res.hits[k].score, wkey[k], 1e-3 * wkey[k], "%s rank %d", tag, k);
        if (k + 1 < 20 && wkey[k] - wkey[k + 1] > 1e-4 * wkey[k])
            cr_assert_eq(res.hits[k].doc, want[k], "%s rank %d", tag, k);
    }
}

Test(sindex, boost_skip_is_exact)
{
    struct tl_sindex *ix = empty_index();
    char title[256];
    for (uint32_t i = 0; i < SKIP_N; i++) {
        /* varying title lengths and repeats give many distinct text scores */
        int pos = snprintf(title, sizeof title, "widget");
        for (uint32_t k = 0; k < i % 13; k++) pos += snprintf(title + pos, sizeof title - pos, " filler%u", k);
        if (i % 7 == 0) snprintf(title + pos, sizeof title - pos, " widget");
        struct tl_sdoc d = {"", title, NULL, NULL, NULL, NULL, NULL, 10.0, 1, 1, 0};
        cr_assert_eq(tl_sindex_upsert(ix, i, &d), TL_OK);
    }
    static float text[SKIP_N];
    all_text_scores(ix, text);
    struct tl_squery q = mkq("widget ");
    q.limit = 20;
    q.boost = skip_boost;
    q.boost_max = 0.1;
    skip_calls = 0;
    run(ix, &q);
    int calls = skip_calls;
    check_top20(text, skip_boost, NULL, "skip");
    cr_assert_lt(calls, SKIP_N / 2, "hook skipped for hopeless documents (%d calls)", calls);
    tl_sindex_free(ix);
}

/* More facet values than TL_SEARCH_FACET_VALUES_MAX: the top ones by count,
 * ties by first indexed, exactly as a full sort would give. */
Test(sindex, facet_values_top_selection)
{
    struct tl_sindex *ix = empty_index();
    /* brand b has (b * 7) % 11 + 1 documents, brands 0..119 */
    uint32_t doc = 0, cnt[120];
    char brand[32];
    for (uint32_t b = 0; b < 120; b++) {
        cnt[b] = (b * 7) % 11 + 1;
        snprintf(brand, sizeof brand, "Brand%03u", b);
        for (uint32_t k = 0; k < cnt[b]; k++, doc++) {
            struct tl_sdoc d = {"", "gadget", NULL, brand, "A > B", NULL, NULL, 5.0, 1, 1, 0};
            cr_assert_eq(tl_sindex_upsert(ix, doc, &d), TL_OK);
        }
    }
    struct tl_squery q = mkq("gadget");
    q.facets = 1;
    run(ix, &q);
    cr_assert_eq(res.total, doc);
    const struct tl_sfacet *f = NULL;
    for (size_t i = 0; i < res.n_facets; i++)
        if (!strcmp(res.facets[i].name, "brand")) f = &res.facets[i];
    cr_assert_not_null(f);
    cr_assert_eq(f->n, TL_SEARCH_FACET_VALUES_MAX);
    /* expected: by count desc, then brand index asc */
    int used[120] = {0};
    for (size_t k = 0; k < f->n; k++) {
        int best = -1;
        for (int b = 0; b < 120; b++)
            if (!used[b] && (best < 0 || cnt[b] > cnt[best])) best = b;
        used[best] = 1;
        snprintf(brand, sizeof brand, "Brand%03d", best);
        cr_assert_str_eq(f->v[k].value, brand, "value %zu", k);
        cr_assert_eq(f->v[k].count, cnt[best]);
    }
    tl_sindex_free(ix);
}

/* Words longer than the indexer's inline word cache and repeated tokens
 * across fields index and match like short ones. */
Test(sindex, long_words_and_repeats)
{
    struct tl_sindex *ix = empty_index();
    struct tl_sdoc a = {"A1", "Supercalifragilisticexpialidocious lamp lamp", "lamp", NULL, NULL, NULL, NULL, 1, 1, 1,
                        0};
    struct tl_sdoc b = {"B1", "Desk lamp", "supercalifragilisticexpialidocious", NULL, NULL, NULL, NULL, 1, 1, 1, 0};
    cr_assert_eq(tl_sindex_upsert(ix, 0, &a), TL_OK);
    cr_assert_eq(tl_sindex_upsert(ix, 1, &b), TL_OK);
    search(ix, "supercalifragilisticexpialidocious");
    cr_assert_eq(res.total, 2);
    cr_assert_eq(res.hits[0].doc, 0, "title match first");
    search(ix, "lamp");
    cr_assert_eq(res.total, 2);
    cr_assert_eq(res.hits[0].doc, 0, "tf 2 in the title");
    /* re-upsert without the long word: it no longer matches doc 0 */
    struct tl_sdoc a2 = {"A1", "Floor lamp", NULL, NULL, NULL, NULL, NULL, 1, 1, 1, 0};
    cr_assert_eq(tl_sindex_upsert(ix, 0, &a2), TL_OK);
    search(ix, "supercalifragilisticexpialidocious");
    cr_assert_eq(res.total, 1);
    cr_assert_eq(res.hits[0].doc, 1);
    tl_sindex_free(ix);
}

Test(sindex, suggest)
{
    struct tl_sindex *ix = build(NULL);
    struct tl_shit h[10];
    size_t n = 0;
    cr_assert_eq(tl_sindex_suggest(ix, "micro", 10, h, &n), TL_OK);
    cr_assert_eq(n, 2);
    cr_assert_eq(tl_sindex_suggest(ix, "countertop micro", 10, h, &n), TL_OK);
    cr_assert_eq(n, 1, "the other words must match");
    cr_assert_eq(h[0].doc, 1);
    cr_assert_eq(tl_sindex_suggest(ix, "toi", 1, h, &n), TL_OK);
    cr_assert_eq(n, 1);
    cr_assert_eq(tl_sindex_suggest(ix, "", 10, h, &n), TL_OK);
    cr_assert_eq(n, 0);
    tl_sindex_free(ix);
}

static void same_results(struct tl_sindex *a, struct tl_sindex *b, const char *q)
{
    static struct tl_sresult r2;
    struct tl_squery sq = mkq(q);
    sq.facets = 1;
    struct tl_err e;
    cr_assert_eq(tl_sindex_search(a, &sq, &res, &e), TL_OK);
    cr_assert_eq(tl_sindex_search(b, &sq, &r2, &e), TL_OK);
    cr_assert_eq(res.total, r2.total, "%s", q);
    cr_assert_eq(res.n_hits, r2.n_hits);
    cr_assert_eq(res.mode, r2.mode);
    for (size_t i = 0; i < res.n_hits; i++) {
        cr_assert_eq(res.hits[i].doc, r2.hits[i].doc);
        cr_assert_float_eq(res.hits[i].score, r2.hits[i].score, 1e-4);
    }
    cr_assert_eq(res.n_facets, r2.n_facets);
}

Test(sindex, save_load_roundtrip_and_damage)
{
    struct tl_sindex *ix = build("tv,television");
    tl_sindex_remove(ix, 5);
    char path[] = "/tmp/tl_sindex_testXXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    struct tl_err e;
    cr_assert_eq(tl_sindex_save(ix, path, &e), TL_OK, "%s", e.msg);
    struct tl_search_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.synonyms = "tv,television";
    struct tl_sindex *ld = NULL;
    cr_assert_eq(tl_sindex_load(&cfg, path, &ld, &e), TL_OK, "%s", e.msg);
    cr_assert_eq(tl_sindex_count(ld), NP - 1);
    const char *qs[] = {"toilet", "tv", "toliet", "micro", "", "red chair", "sku-100", "zzzz"};
    for (size_t i = 0; i < sizeof qs / sizeof *qs; i++) same_results(ix, ld, qs[i]);
    /* the loaded index stays writable */
    put(ld, 5);
    search(ld, "cushion");
    cr_assert_eq(res.total, 2);
    tl_sindex_free(ld);

    /* config mismatch */
    struct tl_search_config other;
    memset(&other, 0, sizeof other);
    cr_assert_eq(tl_sindex_load(&other, path, &ld, &e), TL_EINVAL);

    /* every truncation and a flipped byte are TL_EPARSE */
    FILE *fp = fopen(path, "rb");
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *buf = tl_malloc((size_t)size);
    cr_assert_eq(fread(buf, 1, (size_t)size, fp), (size_t)size);
    fclose(fp);
    char p2[] = "/tmp/tl_sindex_truncXXXXXX";
    fd = mkstemp(p2);
    close(fd);
    /* every length up to 512 and in the last 64 bytes, every 5th in between */
    for (long n = 0; n < size; n += (n < 512 || n >= size - 64) ? 1 : 5) {
        fp = fopen(p2, "wb");
        fwrite(buf, 1, (size_t)n, fp);
        fclose(fp);
        ld = NULL;
        cr_assert_eq(tl_sindex_load(&cfg, p2, &ld, &e), TL_EPARSE, "truncated to %ld of %ld", n, size);
        cr_assert_null(ld);
    }
    for (long n = 0; n < size; n += 23) {
        buf[n] ^= 0x5a;
        fp = fopen(p2, "wb");
        fwrite(buf, 1, (size_t)size, fp);
        fclose(fp);
        buf[n] ^= 0x5a;
        cr_assert_neq(tl_sindex_load(&cfg, p2, &ld, &e), TL_OK, "flipped byte %ld", n);
    }
    unlink(p2);
    unlink(path);
    cr_assert_eq(tl_sindex_load(&cfg, path, &ld, &e), TL_EIO);
    tl_free(buf);
    tl_sindex_free(ix);
}

struct thr {
    struct tl_sindex *ix;
    int writer;
    int fails;
};

static void *thr_main(void *arg)
{
    struct thr *t = arg;
    struct tl_sresult *r = tl_malloc(sizeof *r);
    for (int i = 0; i < 300; i++) {
        if (t->writer) {
            struct tl_sdoc d = {
                "SKU-X", i % 2 ? "toilet brush" : "drill bit", "", "Acme", "Bath > Brushes", NULL, NULL, 5, 1, 1, i};
            if (tl_sindex_upsert(t->ix, 30 + (uint32_t)(i % 7), &d) != TL_OK) t->fails++;
        } else {
            struct tl_squery q = mkq(i % 2 ? "toilet" : "drill");
            q.facets = 1;
            struct tl_err e;
            if (tl_sindex_search(t->ix, &q, r, &e) != TL_OK || r->total < 2) t->fails++;
        }
    }
    tl_free(r);
    return NULL;
}

Test(sindex, concurrent_readers_and_writer)
{
    struct tl_sindex *ix = build(NULL);
    pthread_t th[4];
    struct thr t[4];
    for (int i = 0; i < 4; i++) {
        t[i].ix = ix;
        t[i].writer = i == 0;
        t[i].fails = 0;
        pthread_create(&th[i], NULL, thr_main, &t[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(t[i].fails, 0);
    }
    tl_sindex_free(ix);
}

Test(sindex, bad_json_rejected)
{
    struct tl_sindex *ix = build(NULL);
    struct tl_sdoc d = {"SKU-9", "Thing", "", NULL, NULL, "{not json", NULL, 1, 1, 1, 1};
    cr_assert_eq(tl_sindex_upsert(ix, 40, &d), TL_EINVAL);
    d.tags_json = NULL;
    d.attrs_json = "[1,2]";
    cr_assert_eq(tl_sindex_upsert(ix, 40, &d), TL_EINVAL);
    cr_assert_eq(tl_sindex_count(ix), NP);
    tl_sindex_free(ix);
}

/* ---- autocomplete fast paths (top lists, intersection) ---- */

static const char *const ac_words[] = {"cotton", "copper", "coral", "cork",  "cosy", "compact", "comfort", "candle",
                                       "cup",    "case",   "lamp",  "linen", "mug",  "mat",     "set",     "slate"};
#define AC_NW (sizeof ac_words / sizeof *ac_words)
#define AC_N 3000

/* Deterministic titles of 2-9 words from ac_words (LCG), some repeats. */
static void ac_title(uint32_t i, char *out, size_t cap)
{
    uint32_t s = i * 2654435761u + 12345u;
    int n = 2 + (int)(i % 8), pos = 0;
    out[0] = 0;
    for (int k = 0; k < n; k++) {
        s = s * 1103515245u + 12345u;
        pos += snprintf(out + pos, cap - (size_t)pos, "%s%s", k ? " " : "", ac_words[(s >> 16) % AC_NW]);
    }
}

static struct tl_sindex *ac_build(void)
{
    struct tl_sindex *ix = empty_index();
    char title[256];
    for (uint32_t i = 0; i < AC_N; i++) {
        ac_title(i, title, sizeof title);
        /* every 50th product reuses one fixed title: big groups of equal scores */
        struct tl_sdoc d = {"", i % 50 == 0 ? "cotton mug" : title, NULL, NULL, NULL, NULL, NULL, 10.0, 1, 1, 0};
        cr_assert_eq(tl_sindex_upsert(ix, i, &d), TL_OK);
    }
    return ix;
}

/* A one-word prefix: suggest (top lists) must give exactly the hits of a
 * full search of the same text (accumulating every posting): same
 * documents, same order, same scores; also after removals, hidden
 * products and rewrites (the cached lists are rebuilt after a write). */
static void ac_same_as_search(struct tl_sindex *ix, const char *pfx, uint32_t limit)
{
    struct tl_shit h[TL_SEARCH_LIMIT_MAX];
    size_t n = 0;
    cr_assert_eq(tl_sindex_suggest(ix, pfx, limit, h, &n), TL_OK);
    struct tl_squery q = mkq(pfx);
    q.limit = limit;
    run(ix, &q);
    cr_assert_eq(n, res.n_hits, "'%s': %zu vs %zu hits", pfx, n, res.n_hits);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(h[i].doc, res.hits[i].doc, "'%s' rank %zu", pfx, i);
        cr_assert_eq(h[i].score, res.hits[i].score, "'%s' rank %zu", pfx, i);
    }
}

Test(sindex, suggest_one_word_matches_full_search)
{
    struct tl_sindex *ix = ac_build();
    static const char *const pfx[] = {"c", "co", "cot", "cotton", "cor", "com", "ca", "l", "li", "m", "mu", "s", "sl"};
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < sizeof pfx / sizeof *pfx; i++) {
            ac_same_as_search(ix, pfx[i], 5);
            ac_same_as_search(ix, pfx[i], 20);
            ac_same_as_search(ix, pfx[i], 100);
        }
        /* writes between rounds: the best "cotton mug" products go away or change */
        for (uint32_t i = 0; i < AC_N; i += 50 * (round + 1)) {
            if (i % 100 == 0)
                tl_sindex_remove(ix, i);
            else {
                struct tl_sdoc d = {"", "cotton mug", NULL, NULL, NULL, NULL, NULL, 10.0, 1, 0, 0}; /* hidden */
                cr_assert_eq(tl_sindex_upsert(ix, i, &d), TL_OK);
            }
        }
    }
    tl_sindex_free(ix);
}

/* Equal scores rank by document; the cached list is cut inside a group of
 * equal scores and must still give the lowest documents, and follow writes. */
Test(sindex, suggest_ties_and_writes)
{
    struct tl_sindex *ix = empty_index();
    for (uint32_t i = 0; i < 700; i++) {
        struct tl_sdoc d = {"", "Cotton mug", NULL, NULL, NULL, NULL, NULL, 5.0, 1, 1, 0};
        cr_assert_eq(tl_sindex_upsert(ix, i, &d), TL_OK);
    }
    struct tl_sdoc top = {"", "Cotton cotton mug", NULL, NULL, NULL, NULL, NULL, 5.0, 1, 1, 0};
    cr_assert_eq(tl_sindex_upsert(ix, 700, &top), TL_OK);
    struct tl_shit h[10];
    size_t n = 0;
    uint32_t want1[] = {700, 0, 1, 2, 3};
    for (int rep = 0; rep < 2; rep++) { /* the second time from the cached list */
        cr_assert_eq(tl_sindex_suggest(ix, "cot", 5, h, &n), TL_OK);
        cr_assert_eq(n, 5);
        for (size_t i = 0; i < n; i++) cr_assert_eq(h[i].doc, want1[i], "rank %zu: %u", i, h[i].doc);
        cr_assert_gt(h[0].score, h[1].score);
        cr_assert_eq(h[1].score, h[4].score);
    }
    tl_sindex_remove(ix, 0);
    struct tl_sdoc hidden = {"", "Cotton mug", NULL, NULL, NULL, NULL, NULL, 5.0, 1, 0, 0};
    cr_assert_eq(tl_sindex_upsert(ix, 1, &hidden), TL_OK);
    struct tl_sdoc other = {"", "Blue mug", NULL, NULL, NULL, NULL, NULL, 5.0, 1, 1, 0};
    cr_assert_eq(tl_sindex_upsert(ix, 3, &other), TL_OK);
    uint32_t want2[] = {700, 2, 4, 5, 6};
    cr_assert_eq(tl_sindex_suggest(ix, "cot", 5, h, &n), TL_OK);
    cr_assert_eq(n, 5);
    for (size_t i = 0; i < n; i++) cr_assert_eq(h[i].doc, want2[i], "after writes, rank %zu: %u", i, h[i].doc);
    tl_sindex_remove(ix, 700);
    uint32_t want3[] = {2, 4, 5, 6, 7};
    cr_assert_eq(tl_sindex_suggest(ix, "cot", 5, h, &n), TL_OK);
    for (size_t i = 0; i < n; i++) cr_assert_eq(h[i].doc, want3[i], "rank %zu: %u", i, h[i].doc);
    tl_sindex_free(ix);
}

/* Several words (intersection path): every hit has all the words; and
 * where any product matching the prefix also has the first word in its
 * description, the full search ranks exactly the products having both
 * first (the others only match one word of two, coordination 4/9 of a
 * description-only score), so its hits must equal suggest's. */
Test(sindex, suggest_several_words_matches_full_search)
{
    struct tl_sindex *ix = empty_index();
    char title[256];
    for (uint32_t i = 0; i < AC_N; i++) {
        ac_title(i, title, sizeof title);
        const char *desc = i % 3 ? "zephyr item" : "plain item"; /* "zephyr" only in descriptions */
        struct tl_sdoc d = {"", title, desc, NULL, NULL, NULL, NULL, 10.0, 1, 1, 0};
        cr_assert_eq(tl_sindex_upsert(ix, i, &d), TL_OK);
    }
    static const char *const qs[] = {"cotton co", "mug c", "lamp sl", "case cup", "linen m", "set cotton"};
    for (size_t k = 0; k < sizeof qs / sizeof *qs; k++) {
        struct tl_shit h[20];
        size_t n = 0;
        cr_assert_eq(tl_sindex_suggest(ix, qs[k], 20, h, &n), TL_OK);
        cr_assert_gt(n, 0, "%s", qs[k]);
        char first[32];
        sscanf(qs[k], "%31s", first);
        for (size_t i = 0; i < n; i++) {
            ac_title(h[i].doc, title, sizeof title);
            cr_assert(strstr(title, first) != NULL, "'%s': hit %u '%s' lacks '%s'", qs[k], h[i].doc, title, first);
            if (i) cr_assert_geq(h[i - 1].score, h[i].score);
        }
    }
    /* "zephyr c": products with a c-word in the title and zephyr in the
     * description; a description-only match scores far below */
    static const char *const zq[] = {"zephyr c", "zephyr co", "zephyr cot", "zephyr l", "zephyr mu"};
    for (size_t k = 0; k < sizeof zq / sizeof *zq; k++) {
        struct tl_shit h[20];
        size_t n = 0;
        cr_assert_eq(tl_sindex_suggest(ix, zq[k], 20, h, &n), TL_OK);
        struct tl_squery q = mkq(zq[k]);
        q.limit = 20;
        run(ix, &q);
        cr_assert_eq(n, 20, "%s", zq[k]);
        for (size_t i = 0; i < n; i++) {
            cr_assert_neq(h[i].doc % 3, 0, "'%s': hit %u has zephyr", zq[k], h[i].doc);
            cr_assert_eq(h[i].doc, res.hits[i].doc, "'%s' rank %zu", zq[k], i);
            cr_assert_eq(h[i].score, res.hits[i].score, "'%s' rank %zu", zq[k], i);
        }
    }
    tl_sindex_free(ix);
}

/* ---- a boost bound per category path (boost_path_max) ---- */

static uint32_t pb_hot_path; /* the path id of "Cat > 3" */
static int pb_calls, pb_path_calls;

static double pb_boost(void *ctx, uint32_t doc)
{
    struct tl_sindex *ix = ctx;
    uint32_t path, brand;
    tl_sindex_doc_keys(ix, doc, &path, &brand);
    pb_calls++;
    double small = (double)((doc * 2654435761u) % 1000) / 20000.0; /* [0, 0.05) */
    return path == pb_hot_path ? 0.5 - small : small;
}

static double pb_bound(void *ctx, uint32_t path)
{
    (void)ctx;
    pb_path_calls++;
    return path == pb_hot_path ? 0.5 : 0.05;
}

/* The final order is text x (1 + boost) exactly as an exhaustive ranking
 * gives, with the per-path bound on; the hook runs for fewer products than
 * with boost_max alone; the bound is asked once per path. */
Test(sindex, boost_path_bound_is_exact)
{
    struct tl_sindex *ix = empty_index();
    char title[256], cat[32];
    for (uint32_t i = 0; i < SKIP_N; i++) {
        int pos = snprintf(title, sizeof title, "widget");
        for (uint32_t k = 0; k < i % 13; k++) pos += snprintf(title + pos, sizeof title - pos, " filler%u", k);
        if (i % 7 == 0) pos += snprintf(title + pos, sizeof title - pos, " widget");
        /* the boosted category has slightly longer titles (lower text): only
         * its boost can lift them, so a wrong bound would lose them */
        if (i % 10 == 3) snprintf(title + pos, sizeof title - pos, " extra");
        snprintf(cat, sizeof cat, "Cat > %u", i % 10);
        struct tl_sdoc d = {"", title, NULL, NULL, cat, NULL, NULL, 10.0, 1, 1, 0};
        cr_assert_eq(tl_sindex_upsert(ix, i, &d), TL_OK);
    }
    uint32_t brand;
    tl_sindex_doc_keys(ix, 3, &pb_hot_path, &brand);
    cr_assert_str_eq(tl_sindex_path_str(ix, pb_hot_path), "Cat > 3");
    static float text[SKIP_N];
    all_text_scores(ix, text);
    int calls[2];
    for (int with = 0; with < 2; with++) {
        struct tl_squery q = mkq("widget ");
        q.limit = 20;
        q.boost = pb_boost;
        q.boost_ctx = ix;
        q.boost_max = 0.5;
        q.boost_path_max = with ? pb_bound : NULL;
        pb_calls = pb_path_calls = 0;
        run(ix, &q);
        calls[with] = pb_calls;
        int path_calls = pb_path_calls;
        check_top20(text, pb_boost, ix, with ? "with path bound" : "without");
        if (with) cr_assert_leq(path_calls, 10, "once per path (%d)", path_calls);
    }
    cr_assert_lt(calls[1], calls[0], "the path bound spares hook calls (%d vs %d)", calls[1], calls[0]);
    tl_sindex_free(ix);
}

/* Autocomplete from several threads while a writer changes the catalog:
 * the per-term lists are rebuilt under their mutex (run under
 * AddressSanitizer too); every answer stays ordered. */
struct ac_thr {
    struct tl_sindex *ix;
    int writer, fails;
};

static void *ac_thr_main(void *arg)
{
    struct ac_thr *t = arg;
    static const char *const qs[] = {"c", "co", "cot", "cotton m", "mug c", "l", "slate co"};
    for (uint32_t i = 0; i < 300; i++) {
        if (t->writer) {
            uint32_t doc = (i * 37) % AC_N;
            if (i % 3 == 0)
                tl_sindex_remove(t->ix, doc);
            else {
                struct tl_sdoc d = {"", "cotton mug", NULL, NULL, NULL, NULL, NULL, 10.0, 1, (int)(i % 2), 0};
                if (tl_sindex_upsert(t->ix, doc, &d) != TL_OK) t->fails++;
            }
            continue;
        }
        struct tl_shit h[20];
        size_t n = 0;
        if (tl_sindex_suggest(t->ix, qs[i % 7], 20, h, &n) != TL_OK || n == 0) t->fails++;
        for (size_t k = 1; k < n; k++)
            if (h[k - 1].score < h[k].score) t->fails++;
    }
    return NULL;
}

Test(sindex, suggest_concurrent_with_writer)
{
    struct tl_sindex *ix = ac_build();
    pthread_t th[3];
    struct ac_thr t[3];
    for (int i = 0; i < 3; i++) {
        t[i].ix = ix, t[i].writer = i == 0, t[i].fails = 0;
        pthread_create(&th[i], NULL, ac_thr_main, &t[i]);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(t[i].fails, 0, "thread %d", i);
    }
    /* quiet again: the answers equal a full search */
    ac_same_as_search(ix, "co", 20);
    ac_same_as_search(ix, "c", 5);
    tl_sindex_free(ix);
}
