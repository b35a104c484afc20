/* Deterministic synthetic product catalog and query log for the search
 * benchmark (bench_search.c). Header-only, static functions.
 *
 * Vocabulary (a few thousand words, fixed seed):
 *   - ~200 real home/retail head nouns, each also in its plural form
 *     (box -> boxes, battery -> batteries, hammer -> hammers), so stemming
 *     decides whether "hammers" finds "hammer";
 *   - ~100 adjectives, ~30 colours, ~40 materials (real words);
 *   - SC_SYNTH_WORDS pseudo-words of 2-4 syllables (the long tail), half of
 *     them also with a plural;
 *   - SC_BRANDS brand names of 2-3 syllables.
 * Every list is sampled with a Zipf law, P(rank r) ~ 1 / r^s, s per list
 * (SC_ZIPF_*; inverse CDF by binary search over a cumulative table), after
 * a deterministic shuffle so the frequent words are not the alphabetical
 * first. Queries draw head nouns with the steeper SC_ZIPF_QUERY over the
 * same order (popular products are searched more).
 *
 * Product i (all from one xorshift-style stream, seed SC_SEED):
 *   title        brand, 0-2 adjectives, colour (40%), material (40%),
 *                0-1 modifier noun, head noun (plural 25%), size with unit
 *                ("12 in.", "3/4 in.", "5 gal.", "20 lb."), pack count (20%);
 *                then tail words until a length drawn from 5..15 words is
 *                reached (the structure alone is at most 10 words)
 *   description  30..80 words: 35% stop words, 49% long-tail words, 8% the
 *                head noun, 4% other nouns, 4% adjectives/materials
 *   category     "Dept > Sub > Leaf" (3 levels): the head noun picks the
 *                department and sub-category (hash), the leaf is the
 *                plural head noun
 *   brand        Zipf over SC_BRANDS
 *   price        exp(N(3.3, 1.0)) rounded to x.99 (about $1..$500)
 * Query q: 1-3 words, lower case: a head noun (plural 30%), optionally
 * preceded by an adjective/colour/material or a brand, or a tail word.
 *
 * Ownership: sc_catalog_make() fills a struct sc_catalog whose strings live
 * in one pool; sc_catalog_free() releases everything. */
#ifndef TL_BENCH_SEARCH_CATALOG_H
#define TL_BENCH_SEARCH_CATALOG_H

#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

#define SC_SEED 0x5eed5eed1234ULL
#define SC_ZIPF_NOUN 0.5 /* head nouns: the most common heads ~3.5% of products */
#define SC_ZIPF_ADJ 0.7  /* adjectives, colours, materials */
#define SC_ZIPF_TAIL 0.6 /* pseudo-word long tail */
#define SC_ZIPF_BRAND 1.0
#define SC_ZIPF_QUERY 1.0 /* queries favour the popular head nouns more than products do */
#define SC_SYNTH_WORDS 2600u
#define SC_BRANDS 400u
#define SC_WORD_MAX 32u
#define SC_TITLE_MAX 512u
#define SC_DESC_MAX 2048u
#define SC_CAT_MAX 160u
#define SC_QUERY_MAX 128u
#define SC_ITEMS_MAX 10000000u

static const char *const sc_nouns[] = {
    "hammer",    "drill",      "saw",       "wrench",      "screwdriver", "plier",        "chisel",     "clamp",
    "level",     "sander",     "grinder",   "router",      "nailer",      "stapler",      "ladder",     "toolbox",
    "workbench", "vise",       "file",      "rasp",        "blade",       "bit",          "socket",     "ratchet",
    "tape",      "knife",      "cutter",    "trowel",      "shovel",      "rake",         "hoe",        "pruner",
    "shear",     "mower",      "trimmer",   "blower",      "hose",        "nozzle",       "sprinkler",  "planter",
    "pot",       "tray",       "bucket",    "wheelbarrow", "fence",       "post",         "gate",       "latch",
    "hinge",     "handle",     "knob",      "lock",        "deadbolt",    "key",          "door",       "window",
    "blind",     "shade",      "curtain",   "rod",         "bracket",     "shelf",        "cabinet",    "drawer",
    "vanity",    "sink",       "faucet",    "toilet",      "shower",      "tub",          "valve",      "pipe",
    "fitting",   "elbow",      "tee",       "coupling",    "adapter",     "washer",       "gasket",     "seal",
    "caulk",     "adhesive",   "epoxy",     "glue",        "nail",        "screw",        "bolt",       "nut",
    "anchor",    "rivet",      "paint",     "primer",      "stain",       "brush",        "roller",     "sprayer",
    "tarp",      "drop",       "lamp",      "bulb",        "fixture",     "chandelier",   "sconce",     "switch",
    "outlet",    "plug",       "cord",      "cable",       "wire",        "breaker",      "panel",      "box",
    "conduit",   "battery",    "charger",   "flashlight",  "lantern",     "fan",          "heater",     "thermostat",
    "filter",    "vent",       "duct",      "register",    "humidifier",  "dehumidifier", "purifier",   "tile",
    "grout",     "board",      "plank",     "panel",       "sheet",       "stud",         "joist",      "beam",
    "lumber",    "plywood",    "drywall",   "insulation",  "shingle",     "gutter",       "downspout",  "paver",
    "brick",     "block",      "stone",     "mulch",       "soil",        "fertilizer",   "seed",       "grass",
    "tree",      "shrub",      "flower",    "rug",         "mat",         "carpet",       "runner",     "pad",
    "cushion",   "pillow",     "chair",     "table",       "bench",       "stool",        "desk",       "bed",
    "mattress",  "dresser",    "mirror",    "frame",       "clock",       "hook",         "rack",       "bin",
    "basket",    "container",  "bag",       "cart",        "dolly",       "jack",         "compressor", "generator",
    "welder",    "torch",      "grill",     "smoker",      "cover",       "umbrella",     "gazebo",     "shed",
    "mailbox",   "sign",       "alarm",     "detector",    "camera",      "doorbell",     "speaker",    "timer",
    "sensor",    "remote",     "strip",     "kit",         "set",         "refill",       "cartridge",  "liner",
    "sponge",    "mop",        "broom",     "vacuum",      "cleaner",     "towel",        "glove",      "goggle",
    "mask",      "respirator", "boot",      "vest",        "apron",       "belt",         "pouch",      "holster",
    "organizer", "caddy",      "dispenser", "hanger",      "trap",        "repellent",    "spray"};

static const char *const sc_adjs[] = {
    "heavy",        "duty",        "light",     "compact",      "cordless",     "electric",     "manual",
    "automatic",    "adjustable",  "portable",  "indoor",       "outdoor",      "waterproof",   "rustproof",
    "reinforced",   "flexible",    "rigid",     "round",        "square",       "flat",         "curved",
    "straight",     "angled",      "tapered",   "thin",         "thick",        "wide",         "narrow",
    "long",         "short",       "tall",      "low",          "large",        "small",        "mini",
    "jumbo",        "extra",       "premium",   "professional", "commercial",   "residential",  "industrial",
    "decorative",   "modern",      "classic",   "rustic",       "vintage",      "traditional",  "contemporary",
    "universal",    "replacement", "standard",  "deluxe",       "ultra",        "super",        "quick",
    "fast",         "slow",        "quiet",     "powerful",     "rechargeable", "programmable", "smart",
    "wireless",     "digital",     "analog",    "dimmable",     "soft",         "hard",         "smooth",
    "textured",     "matte",       "glossy",    "satin",        "polished",     "brushed",      "frosted",
    "clear",        "tinted",      "insulated", "ventilated",   "folding",      "stackable",    "mounted",
    "freestanding", "recessed",    "hanging",   "wall",         "ceiling",      "floor",        "corner",
    "double",       "single",      "triple",    "dual",         "multi",        "self",         "pre",
    "anti",         "nonslip",     "slip"};

static const char *const sc_colors[] = {
    "white", "black",  "gray",   "silver", "gold",     "bronze", "brass", "copper", "red",   "blue",
    "green", "yellow", "orange", "purple", "brown",    "tan",    "beige", "ivory",  "cream", "charcoal",
    "navy",  "teal",   "olive",  "pink",   "espresso", "walnut", "oak",   "cherry", "maple", "natural"};

static const char *const sc_materials[] = {
    "steel", "stainless", "aluminum",  "iron",    "cast",     "galvanized", "chrome",     "nickel",
    "zinc",  "titanium",  "carbide",   "plastic", "vinyl",    "pvc",        "cpvc",       "pex",
    "abs",   "nylon",     "polyester", "rubber",  "silicone", "foam",       "fiberglass", "wood",
    "cedar", "pine",      "bamboo",    "teak",    "cotton",   "wool",       "jute",       "leather",
    "glass", "ceramic",   "porcelain", "granite", "marble",   "concrete",   "composite",  "resin"};

static const char *const sc_stop[] = {"the", "with", "for", "and", "a", "of", "to", "in", "is", "on", "this", "your"};

static const char *const sc_depts[] = {
    "Tools",    "Hardware", "Plumbing",   "Electrical", "Lighting",   "Paint",   "Flooring", "Building Materials",
    "Outdoors", "Garden",   "Home Decor", "Storage",    "Appliances", "Kitchen", "Bath",     "Heating Cooling"};

static const char *const sc_syll[] = {
    "ka",  "lo",  "mi", "ter", "ro",  "van", "sel", "dor", "bri", "tex", "pra", "len", "qua", "zen", "mar", "tol",
    "fin", "gra", "po", "sun", "vel", "cor", "dia", "nex", "ul",  "ba",  "shi", "tro", "ven", "ax",  "ly",  "mo",
    "ra",  "el",  "on", "is",  "ta",  "fer", "gol", "hu",  "ne",  "pi",  "sto", "wil", "yar", "zo"};

#define SC_N(a) (sizeof(a) / sizeof *(a))

struct sc_rng {
    uint64_t s;
};

static uint64_t sc_next(struct sc_rng *r)
{
    /* splitmix64 */
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static double sc_unit(struct sc_rng *r) { return (double)(sc_next(r) >> 11) * (1.0 / 9007199254740992.0); }
static uint32_t sc_below(struct sc_rng *r, uint32_t n) { return (uint32_t)(sc_unit(r) * n); }
static double sc_normal(struct sc_rng *r)
{
    double u = sc_unit(r), v = sc_unit(r);
    if (u < 1e-300) u = 1e-300;
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/* A word list sampled by Zipf rank over a shuffled order. */
struct sc_list {
    char **w; /* borrowed pointers into the catalog pool or static lists */
    double *cdf;
    uint32_t n;
};

static int sc_list_cdf(struct sc_list *l, double zs)
{
    l->cdf = tl_malloc(l->n * sizeof *l->cdf);
    if (!l->cdf) return -1;
    double s = 0;
    for (uint32_t i = 0; i < l->n; i++) {
        s += 1.0 / pow((double)i + 1.0, zs);
        l->cdf[i] = s;
    }
    return 0;
}

static int sc_list_init(struct sc_list *l, char **w, uint32_t n, double zs, struct sc_rng *r)
{
    l->w = w;
    l->n = n;
    for (uint32_t i = n; i > 1; i--) { /* Fisher-Yates */
        uint32_t j = sc_below(r, i);
        char *t = w[i - 1];
        w[i - 1] = w[j];
        w[j] = t;
    }
    return sc_list_cdf(l, zs);
}

static const char *sc_pick(const struct sc_list *l, struct sc_rng *r)
{
    double u = sc_unit(r) * l->cdf[l->n - 1];
    uint32_t lo = 0, hi = l->n - 1;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (l->cdf[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return l->w[lo];
}

struct sc_product {
    const char *id, *title, *description, *brand, *category;
    double price;
};

struct sc_catalog {
    struct sc_product *p;
    uint32_t n;
    char **queries;
    uint32_t n_queries;
    /* storage */
    char *pool;
    size_t pool_len, pool_cap;
    char **wstore;                                                       /* all word pointers (for the lists) */
    struct sc_list nouns, qnouns, adjs, colors, materials, tail, brands; /* nouns: over singular/plural pairs */
};

/* Append s (n bytes) + NUL to the pool; returns the offset or SIZE_MAX. */
static size_t sc_put(struct sc_catalog *c, const char *s, size_t n)
{
    if (c->pool_len + n + 1 > c->pool_cap) {
        size_t nc = c->pool_cap ? c->pool_cap * 2 : (1u << 20);
        while (nc < c->pool_len + n + 1) nc *= 2;
        char *np = tl_realloc(c->pool, nc);
        if (!np) return SIZE_MAX;
        c->pool = np;
        c->pool_cap = nc;
    }
    size_t off = c->pool_len;
    memcpy(c->pool + off, s, n);
    c->pool[off + n] = 0;
    c->pool_len += n + 1;
    return off;
}

static void sc_plural(const char *w, char *out, size_t cap)
{
    size_t n = strlen(w);
    char last = n ? w[n - 1] : 0, prev = n > 1 ? w[n - 2] : 0;
    if (last == 's' || last == 'x' || last == 'z' || (last == 'h' && (prev == 'c' || prev == 's')))
        snprintf(out, cap, "%ses", w);
    else if (last == 'y' && !strchr("aeiou", prev))
        snprintf(out, cap, "%.*sies", (int)(n - 1), w);
    else
        snprintf(out, cap, "%ss", w);
}

/* Small string builder for one text field. */
struct sc_sb {
    char buf[SC_DESC_MAX];
    size_t len;
    int words;
};
static void sc_add(struct sc_sb *b, const char *w)
{
    size_t n = strlen(w);
    if (b->len + n + 2 >= sizeof b->buf) return;
    if (b->len) b->buf[b->len++] = ' ';
    memcpy(b->buf + b->len, w, n);
    b->len += n;
    b->buf[b->len] = 0;
    b->words++;
}

static void sc_catalog_free(struct sc_catalog *c)
{
    tl_free(c->p);
    tl_free(c->queries);
    tl_free(c->pool);
    tl_free(c->wstore);
    tl_free(c->nouns.cdf);
    tl_free(c->qnouns.cdf);
    tl_free(c->adjs.cdf);
    tl_free(c->colors.cdf);
    tl_free(c->materials.cdf);
    tl_free(c->tail.cdf);
    tl_free(c->brands.cdf);
    memset(c, 0, sizeof *c);
}

/* The word lists hold pool OFFSETS while the pool grows (realloc moves it),
 * turned into pointers once every word is in; product strings are offsets
 * too until the end. */
#define SC_OFF(x) ((char *)(uintptr_t)(x))
#define SC_PTR(c, x) ((c)->pool + (size_t)(uintptr_t)(x))

static void sc_fix(struct sc_catalog *c, char **w, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) w[i] = SC_PTR(c, w[i]);
}

/* 0 on success, -1 out of memory. */
static int sc_catalog_make(struct sc_catalog *c, uint32_t n_items, uint32_t n_queries)
{
    memset(c, 0, sizeof *c);
    struct sc_rng r = {SC_SEED};
    if (n_items > SC_ITEMS_MAX) return -1;
    /* word store: nouns (sing + plural), adjs, colours, materials, synth (+ plurals), brands */
    uint32_t nn = (uint32_t)SC_N(sc_nouns), na = (uint32_t)SC_N(sc_adjs), nc = (uint32_t)SC_N(sc_colors),
             nm = (uint32_t)SC_N(sc_materials);
    uint32_t cap = 2 * nn + na + nc + nm + 2 * SC_SYNTH_WORDS + SC_BRANDS;
    c->wstore = tl_calloc(cap * 2, sizeof *c->wstore); /* second half: the "all" list */
    if (!c->wstore) return -1;
    char **w = c->wstore;
    uint32_t k = 0;
    char tmp[SC_WORD_MAX * 2];
    /* pool offset 0 is a valid offset, keep it for "" */
    if (sc_put(c, "", 0) == SIZE_MAX) return -1;
    uint32_t nouns0 = k;
    for (uint32_t i = 0; i < nn; i++) {
        size_t o1 = sc_put(c, sc_nouns[i], strlen(sc_nouns[i]));
        sc_plural(sc_nouns[i], tmp, sizeof tmp);
        size_t o2 = sc_put(c, tmp, strlen(tmp));
        if (o1 == SIZE_MAX || o2 == SIZE_MAX) return -1;
        w[k++] = SC_OFF(o1); /* even: singular, odd: its plural */
        w[k++] = SC_OFF(o2);
    }
    uint32_t adjs0 = k;
    for (uint32_t i = 0; i < na; i++) {
        size_t o = sc_put(c, sc_adjs[i], strlen(sc_adjs[i]));
        if (o == SIZE_MAX) return -1;
        w[k++] = SC_OFF(o);
    }
    uint32_t colors0 = k;
    for (uint32_t i = 0; i < nc; i++) {
        size_t o = sc_put(c, sc_colors[i], strlen(sc_colors[i]));
        if (o == SIZE_MAX) return -1;
        w[k++] = SC_OFF(o);
    }
    uint32_t mats0 = k;
    for (uint32_t i = 0; i < nm; i++) {
        size_t o = sc_put(c, sc_materials[i], strlen(sc_materials[i]));
        if (o == SIZE_MAX) return -1;
        w[k++] = SC_OFF(o);
    }
    uint32_t tail0 = k;
    for (uint32_t i = 0; i < SC_SYNTH_WORDS; i++) {
        size_t len = 0;
        uint32_t ns = 2 + sc_below(&r, 3);
        for (uint32_t s = 0; s < ns; s++) {
            const char *y = sc_syll[sc_below(&r, (uint32_t)SC_N(sc_syll))];
            size_t yl = strlen(y);
            memcpy(tmp + len, y, yl);
            len += yl;
        }
        tmp[len] = 0;
        size_t o = sc_put(c, tmp, len);
        if (o == SIZE_MAX) return -1;
        w[k++] = SC_OFF(o);
        if (i % 2 == 0) {
            char pl[SC_WORD_MAX * 2 + 4];
            sc_plural(tmp, pl, sizeof pl);
            o = sc_put(c, pl, strlen(pl));
            if (o == SIZE_MAX) return -1;
            w[k++] = SC_OFF(o);
        }
    }
    uint32_t brands0 = k;
    for (uint32_t i = 0; i < SC_BRANDS; i++) {
        size_t len = 0;
        uint32_t ns = 2 + sc_below(&r, 2);
        for (uint32_t s = 0; s < ns; s++) {
            const char *y = sc_syll[sc_below(&r, (uint32_t)SC_N(sc_syll))];
            size_t yl = strlen(y);
            memcpy(tmp + len, y, yl);
            len += yl;
        }
        tmp[0] = (char)toupper((unsigned char)tmp[0]);
        tmp[len] = 0;
        size_t o = sc_put(c, tmp, len);
        if (o == SIZE_MAX) return -1;
        w[k++] = SC_OFF(o);
    }
    uint32_t end = k;
    /* words stay pool offsets: the pool keeps growing with the products, so
     * a word is only dereferenced (SC_PTR) to copy it before the next put */
    /* the noun list keeps singular/plural pairs together: sample a pair, then a form */
    uint32_t n_pairs = nn;
    char **pairs = w + cap; /* scratch in the second half: pair index list as offsets */
    for (uint32_t i = 0; i < n_pairs; i++) pairs[i] = SC_OFF(i);
    struct sc_list lp;
    if (sc_list_init(&lp, pairs, n_pairs, SC_ZIPF_NOUN, &r)) return -1;
    /* adjectives, colours, materials, tail, brands: shuffled in place */
    if (sc_list_init(&c->adjs, w + adjs0, colors0 - adjs0, SC_ZIPF_ADJ, &r) ||
        sc_list_init(&c->colors, w + colors0, mats0 - colors0, SC_ZIPF_ADJ, &r) ||
        sc_list_init(&c->materials, w + mats0, tail0 - mats0, SC_ZIPF_ADJ, &r) ||
        sc_list_init(&c->tail, w + tail0, brands0 - tail0, SC_ZIPF_TAIL, &r) ||
        sc_list_init(&c->brands, w + brands0, end - brands0, SC_ZIPF_BRAND, &r)) {
        tl_free(lp.cdf);
        return -1;
    }
    c->nouns = lp;
    c->qnouns.w = lp.w;
    c->qnouns.n = lp.n;
    if (sc_list_cdf(&c->qnouns, SC_ZIPF_QUERY)) return -1;
    (void)nouns0;

    c->p = tl_calloc(n_items ? n_items : 1, sizeof *c->p);
    c->queries = tl_calloc(n_queries ? n_queries : 1, sizeof *c->queries);
    if (!c->p || !c->queries) return -1;
    struct sc_sb b;
    char num[64];
    static const char *const units[] = {"in.", "ft.", "gal.", "lb.", "oz.", "qt.", "mm", "cm", "Watt", "Volt", "ft"};
    /* product strings are pool offsets until the end (the pool moves) */
    for (uint32_t i = 0; i < n_items; i++) {
        struct sc_product *p = &c->p[i];
        uint32_t pair = (uint32_t)(uintptr_t)sc_pick(&c->nouns, &r);
        char head[SC_WORD_MAX], head_pl[SC_WORD_MAX]; /* copies: the pool moves when it grows */
        snprintf(head, sizeof head, "%s", SC_PTR(c, w[nouns0 + 2 * pair + (sc_unit(&r) < 0.25)]));
        snprintf(head_pl, sizeof head_pl, "%s", SC_PTR(c, w[nouns0 + 2 * pair + 1]));
        char brand[SC_WORD_MAX];
        snprintf(brand, sizeof brand, "%s", SC_PTR(c, sc_pick(&c->brands, &r)));
        /* title */
        b.len = 0;
        b.words = 0;
        b.buf[0] = 0;
        int target = 5 + (int)sc_below(&r, 11);
        sc_add(&b, brand);
        uint32_t nadj = sc_below(&r, 3);
        for (uint32_t a = 0; a < nadj; a++) sc_add(&b, SC_PTR(c, sc_pick(&c->adjs, &r)));
        if (sc_unit(&r) < 0.4) sc_add(&b, SC_PTR(c, sc_pick(&c->colors, &r)));
        if (sc_unit(&r) < 0.4) sc_add(&b, SC_PTR(c, sc_pick(&c->materials, &r)));
        if (sc_unit(&r) < 0.5) {
            uint32_t mp = (uint32_t)(uintptr_t)sc_pick(&c->nouns, &r);
            sc_add(&b, SC_PTR(c, w[nouns0 + 2 * mp]));
        }
        sc_add(&b, head);
        uint32_t sz = 1 + sc_below(&r, 48);
        if (sc_unit(&r) < 0.2)
            snprintf(num, sizeof num, "%u/%u", 1 + sc_below(&r, 3), 4u);
        else
            snprintf(num, sizeof num, "%u", sz);
        sc_add(&b, num);
        sc_add(&b, units[sc_below(&r, (uint32_t)SC_N(units))]);
        if (sc_unit(&r) < 0.2) {
            snprintf(num, sizeof num, "(%u-Pack)", 2 + sc_below(&r, 24));
            sc_add(&b, num);
        }
        while (b.words < target) sc_add(&b, SC_PTR(c, sc_pick(&c->tail, &r)));
        size_t ot = sc_put(c, b.buf, b.len);
        /* description */
        b.len = 0;
        b.words = 0;
        b.buf[0] = 0;
        int dn = 30 + (int)sc_below(&r, 51);
        while (b.words < dn) {
            double u = sc_unit(&r);
            if (u < 0.35)
                sc_add(&b, sc_stop[sc_below(&r, (uint32_t)SC_N(sc_stop))]);
            else if (u < 0.39)
                sc_add(&b, SC_PTR(c, w[nouns0 + 2 * (uint32_t)(uintptr_t)sc_pick(&c->nouns, &r) + sc_below(&r, 2)]));
            else if (u < 0.47)
                sc_add(&b, head);
            else if (u < 0.49)
                sc_add(&b, SC_PTR(c, sc_pick(&c->adjs, &r)));
            else if (u < 0.51)
                sc_add(&b, SC_PTR(c, sc_pick(&c->materials, &r)));
            else
                sc_add(&b, SC_PTR(c, sc_pick(&c->tail, &r)));
        }
        size_t od = sc_put(c, b.buf, b.len);
        /* category: department and sub-category from the head noun */
        uint64_t h = pair * 0x9e3779b97f4a7c15ULL;
        const char *dept = sc_depts[(h >> 33) % SC_N(sc_depts)];
        const char *sub = sc_adjs[(h >> 17) % SC_N(sc_adjs)];
        char cat[SC_CAT_MAX];
        int cl = snprintf(cat, sizeof cat, "%s > %c%s %s > %c%s", dept, toupper((unsigned char)sub[0]), sub + 1, dept,
                          toupper((unsigned char)head_pl[0]), head_pl + 1);
        size_t oc = sc_put(c, cat, (size_t)cl);
        size_t ob = sc_put(c, brand, strlen(brand));
        snprintf(num, sizeof num, "SKU-%07u", i);
        size_t oi = sc_put(c, num, strlen(num));
        if (ot == SIZE_MAX || od == SIZE_MAX || oc == SIZE_MAX || ob == SIZE_MAX || oi == SIZE_MAX) return -1;
        p->id = SC_OFF(oi);
        p->title = SC_OFF(ot);
        p->description = SC_OFF(od);
        p->category = SC_OFF(oc);
        p->brand = SC_OFF(ob);
        p->price = floor(exp(3.3 + sc_normal(&r))) + 0.99;
    }
    for (uint32_t i = 0; i < n_queries; i++) {
        b.len = 0;
        b.words = 0;
        b.buf[0] = 0;
        uint32_t pair = (uint32_t)(uintptr_t)sc_pick(&c->qnouns, &r);
        const char *noun = SC_PTR(c, w[nouns0 + 2 * pair + (sc_unit(&r) < 0.3)]);
        uint32_t nw = 1 + sc_below(&r, 3);
        double u = sc_unit(&r);
        if (nw >= 2) {
            if (u < 0.5)
                sc_add(&b, SC_PTR(c, sc_pick(&c->adjs, &r)));
            else if (u < 0.65)
                sc_add(&b, SC_PTR(c, sc_pick(&c->colors, &r)));
            else if (u < 0.8)
                sc_add(&b, SC_PTR(c, sc_pick(&c->materials, &r)));
            else
                sc_add(&b, SC_PTR(c, sc_pick(&c->brands, &r)));
        }
        if (nw == 3)
            sc_add(&b, sc_unit(&r) < 0.7 ? SC_PTR(c, sc_pick(&c->adjs, &r)) : SC_PTR(c, sc_pick(&c->tail, &r)));
        sc_add(&b, noun);
        for (size_t x = 0; x < b.len; x++) b.buf[x] = (char)tolower((unsigned char)b.buf[x]);
        size_t oq = sc_put(c, b.buf, b.len);
        if (oq == SIZE_MAX) return -1;
        c->queries[i] = SC_OFF(oq);
    }
    /* the pool is final: offsets -> pointers */
    for (uint32_t i = 0; i < n_items; i++) {
        struct sc_product *p = &c->p[i];
        p->id = SC_PTR(c, p->id);
        p->title = SC_PTR(c, p->title);
        p->description = SC_PTR(c, p->description);
        p->category = SC_PTR(c, p->category);
        p->brand = SC_PTR(c, p->brand);
    }
    sc_fix(c, c->queries, n_queries);
    c->n = n_items;
    c->n_queries = n_queries;
    return 0;
}

#endif
