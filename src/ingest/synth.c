/* Synthetic store generator behind `tailor gen` (include/tailor/gen.h):
 * writes a catalog, an order history and a behaviour event stream, in the
 * formats `tailor import catalog|orders|events` read (docs/import-formats.md,
 * docs/events.md), for a store with known latent structure, so that
 * benchmarks and evaluations have data of any size whose signal is real.
 *
 * Invariants
 * - Deterministic: the output bytes are a pure function of the options
 *   (seed, sizes, end time). No rand(), no clock except for the default end
 *   time (now rounded down to the hour) and the summary's seconds. Every
 *   entity draws from its own splitmix64 stream, seeded by
 *   mix(seed, tag, index) (tags: world, item, item text, shopper), so item i
 *   or shopper s does not depend on how many others there are.
 * - Bounded memory: the world is O(items + tastes); shoppers are generated
 *   and written one at a time through fixed per-shopper scratch arrays
 *   (SHOPPER_VIEWS_MAX views, SHOPPER_ORDERS_MAX orders), so a run of any
 *   number of shoppers needs the same memory.
 * - Every timestamp lies in [end - days, end - 1 minute]; every id is ASCII
 *   and short; no text holds a quote, backslash or control character (the
 *   JSON and CSV writers still escape / quote defensively).
 *
 * The store
 * - Category tree: 12 departments, LEAVES leaf categories ("Home > Kitchen >
 *   Mugs"), each with a few product nouns and a typical price.
 * - K tastes (clusters, default 50). Taste t: a department (weights in
 *   dept_weight), 2-4 leaves of it (15%: one leaf of another department), a
 *   vocabulary of 3 colours, 3 materials, 4 styles (from shared word lists,
 *   so tastes overlap a little) and 2 invented collection words (unique
 *   enough to make content similarity within a taste strong), 3 invented
 *   brands, a price level m_t = exp(0.5 N(0,1)), a size weight 0.5 + U(0,1)
 *   and a popularity pop_t = 1 / (r_t + 1)^0.7 (r_t a random rank).
 * - Items: item i < K belongs to taste i (no taste is empty), the others to
 *   a taste drawn by size weight. Leaf: uniform among the taste's leaves.
 *   Price = leaf price * m_t * exp(0.35 N(0,1)), floored to whole pounds
 *   with an ending .99/.49/.95/.00 (min 0.99). Available with p = 0.93
 *   (stock 1..200, else 0). Title = [style] [colour] [material]
 *   [collection] noun (probabilities 0.6, 0.8, 0.6, 0.5; 15% an extra word
 *   from any taste), description = two sentences from the same words,
 *   brand (10% from another taste), tags, colour attribute.
 * - Popularity within a taste: items in a random order r = 0..n_t-1 with
 *   P(r) = (r + 1)^-ZIPF_S / H, ZIPF_S = 1.0, sampled by binary search in
 *   a float CDF.
 * - Shopper s: anonymous-only with p = 0.30 (only anonymous_id; guest
 *   orders); country from a skewed 20-code table (GB 28%, US 18%, DE 9% ...);
 *   1-3 tastes (p 0.4/0.4/0.2; after the first, 50% from the first's
 *   department) with weights 1 and 0.2 + 0.6 U, normalised; price
 *   sensitivity u ~ U(0,1); activity a = exp(0.9 N(0,1) - 0.405) (mean 1).
 *   Views: 1 + Poisson((Y - 1) a), capped at SHOPPER_VIEWS_MAX; orders:
 *   Poisson(X a), capped at SHOPPER_ORDERS_MAX.
 * - Sessions: views split into sessions of 1 + Geometric(0.2) views (mean
 *   5, cap 40). Orders go to distinct random sessions; orders beyond the
 *   number of sessions get sessions of their own. The sessions are shuffled,
 *   each gets one taste from the shopper's mixture, and starts with a
 *   search (p 0.22; query = taste word + leaf noun) or a category view
 *   (p 0.15). Each view: a revisit of one of the shopper's last 32 viewed
 *   items (p 0.15), an item of any taste by pop_t then Zipf (p 0.12), else
 *   an item of the session's taste by Zipf. dwell_ms = exp(ln 20000 + 0.9
 *   N(0,1)) clamped to [500, 600000]; scroll_depth = clamp(0.1 + 0.85
 *   dwell / (dwell + 30000) + 0.15 N(0,1), 0.05, 1). Add to cart after a
 *   view with p = 0.08 min(1, f), f = (price / 20)^(-1.2 u).
 * - An order of a session has 1-5 lines (p .50/.25/.12/.08/.05), drawn
 *   without replacement from the session's viewed items with weight
 *   (dwell s + 1) f; if it viewed fewer distinct items, it views more of
 *   its taste first. Every line is added to the cart right after its view
 *   (unless it already was); quantity 1 (80%), 2 (15%), 3-4. The order is
 *   placed 30-180 s after the session's last event.
 * - Identity: a registered shopper logs in at a session (the first order's
 *   session or an earlier one, uniformly; without orders, with p 0.6 at a
 *   random session, else never). From that session on its events carry
 *   both anonymous_id and user_id and its orders the customer id.
 * - Time: inside a session, search 4-15 s, category view 5-30 s, view dwell
 *   + 2-8 s, cart 2-6 s. Sessions are laid out in order over [end - days,
 *   end - 1 min] with at least 30 min between them and the free time split
 *   by uniform spacings (exponential draws, normalised); if they do not
 *   fit, all offsets are scaled down to fit.
 *
 * Output (no snapshot format is owned here; the files are the import
 * formats): catalog.csv columns id,title,description,url,price,currency,
 * category,brand,tags,available,stock,colour (or catalog.ndjson objects with
 * the same fields, tags as an array and colour under "attributes");
 * orders.csv columns order_id,customer_id,timestamp,country,currency,
 * item_id,quantity,price, one row per line (or orders.ndjson with "lines");
 * events.ndjson: product_view, add_to_cart, search and category_view events
 * with event_id "e<s>-<n>", session_id "s<s>-<k>", ISO timestamps with
 * milliseconds, chronological per shopper, shoppers one after another.
 * Purchases appear only in the orders file (importing them as events too
 * would count them twice). Currency: GBP. */
#include "ingest/synth.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/timeutil.h"

/* ---- constants of the model (see the comment above) ---------------------- */

#define ZIPF_S 1.0
#define TASTE_POP_S 0.7
#define P_ANON_ONLY 0.30
#define P_SAME_DEPT 0.5
#define P_IDENTIFY_NO_ORDER 0.6
#define P_NOISE 0.12
#define P_REVISIT 0.15
#define P_SEARCH 0.22
#define P_CATVIEW 0.15
#define P_CART 0.08
#define P_AVAILABLE 0.93
#define P_OTHER_BRAND 0.10
#define P_FOREIGN_LEAF 0.15
#define SESSION_GEOM_P 0.2
#define SESSION_VIEWS_MAX 40
#define SHOPPER_VIEWS_MAX 5000
#define SHOPPER_ORDERS_MAX 200
#define ORDER_LINES_MAX 5
#define RING 32
#define DWELL_MEDIAN_MS 20000.0
#define DWELL_MIN_MS 500.0
#define DWELL_MAX_MS 600000.0
#define GAP_MS (30 * TL_MS_PER_MIN)
#define SESS_MAX (SHOPPER_VIEWS_MAX + SHOPPER_ORDERS_MAX)
#define EV_MAX (2 * (SHOPPER_VIEWS_MAX + SHOPPER_ORDERS_MAX * ORDER_LINES_MAX) + SESS_MAX + 16)
#define OUT_BUF (1u << 20)
#define OUT_SLACK 8192 /* bytes one record may need at most */
#define PROGRESS_EVERY 4096

/* ---- random numbers: splitmix64 (Steele, Lea, Flood 2014) --------------- */

struct rng {
    uint64_t s;
};

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rnd(struct rng *r) { return mix64(r->s += 0x9e3779b97f4a7c15ULL); }

enum { TAG_WORLD = 1, TAG_ITEM = 2, TAG_TEXT = 3, TAG_SHOPPER = 4, TAG_ANON = 5 };

static struct rng stream(uint64_t seed, uint64_t tag, uint64_t idx)
{
    struct rng r = {mix64(seed ^ mix64(tag * 0x9e3779b97f4a7c15ULL + mix64(idx + 0x632be59bd9b4e019ULL)))};
    return r;
}

/* Uniform in [0, 1). */
static double unif(struct rng *r) { return (double)(rnd(r) >> 11) * 0x1p-53; }
/* Uniform in (0, 1]. */
static double unif_pos(struct rng *r) { return ((double)(rnd(r) >> 11) + 1.0) * 0x1p-53; }
/* Uniform integer in [0, n), n < 2^32 (Lemire's multiply-shift). */
static uint32_t below(struct rng *r, uint32_t n) { return (uint32_t)(((rnd(r) >> 32) * (uint64_t)n) >> 32); }
static double normal(struct rng *r)
{
    double u1 = unif_pos(r), u2 = unif(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
static double expo(struct rng *r) { return -log(unif_pos(r)); }
static uint32_t poisson(struct rng *r, double lambda)
{
    if (lambda <= 0) return 0;
    if (lambda < 30) {
        double l = exp(-lambda), p = 1.0;
        uint32_t k = 0;
        do {
            k++;
            p *= unif(r);
        } while (p > l && k < 1000);
        return k - 1;
    }
    double x = lambda + sqrt(lambda) * normal(r) + 0.5;
    return x < 0 ? 0 : x > 4e9 ? 4000000000u : (uint32_t)x;
}

/* ---- vocabulary ----------------------------------------------------------- */

static const char *const dept_name[] = {"Home", "Garden", "Fashion",    "Beauty",       "Sports", "Electronics",
                                        "Toys", "Books",  "Stationery", "Food & Drink", "Pets",   "Baby"};
#define N_DEPTS (sizeof dept_name / sizeof dept_name[0])
static const double dept_weight[N_DEPTS] = {20, 6, 20, 9, 8, 9, 6, 4, 4, 5, 4, 5};

struct leaf {
    uint8_t dept;
    const char *path;
    const char *noun[4]; /* NULL-terminated when fewer */
    double price;        /* typical price, pounds */
};

static const struct leaf leaves[] = {
    {0, "Home > Kitchen > Mugs", {"mug", "cup", "beaker", NULL}, 9},
    {0, "Home > Kitchen > Cookware", {"pan", "skillet", "saucepan", "casserole"}, 35},
    {0, "Home > Kitchen > Tableware", {"plate", "bowl", "platter", "serving board"}, 14},
    {0, "Home > Kitchen > Storage", {"jar", "canister", "tin", "bread bin"}, 12},
    {0, "Home > Decor > Candles", {"candle", "lantern", "tealight holder", NULL}, 15},
    {0, "Home > Decor > Wall Art", {"print", "poster", "frame", "mirror"}, 30},
    {0, "Home > Decor > Cushions", {"cushion", "throw", "pillow", NULL}, 22},
    {0, "Home > Bedding", {"duvet cover", "sheet set", "quilt", "bedspread"}, 45},
    {0, "Home > Bath", {"towel", "bath robe", "bath mat", NULL}, 20},
    {0, "Home > Lighting", {"lamp", "pendant light", "floor lamp", NULL}, 55},
    {1, "Garden > Planters", {"planter", "plant pot", "trough", NULL}, 18},
    {1, "Garden > Tools", {"trowel", "pruner", "rake", "watering can"}, 16},
    {1, "Garden > Outdoor Living", {"lounger", "parasol", "hammock", "bistro set"}, 90},
    {2, "Fashion > Women > Dresses", {"dress", "tunic", "midi dress", NULL}, 45},
    {2, "Fashion > Women > Tops", {"blouse", "top", "shirt", "cardigan"}, 28},
    {2, "Fashion > Men > Shirts", {"shirt", "polo", "tee", NULL}, 30},
    {2, "Fashion > Men > Jackets", {"jacket", "coat", "parka", "gilet"}, 85},
    {2, "Fashion > Shoes", {"sneaker", "boot", "loafer", "sandal"}, 60},
    {2, "Fashion > Accessories > Bags", {"bag", "tote", "backpack", "satchel"}, 40},
    {2, "Fashion > Accessories > Jewellery", {"necklace", "bracelet", "ring", "earrings"}, 25},
    {2, "Fashion > Accessories > Scarves & Hats", {"scarf", "hat", "beanie", NULL}, 18},
    {3, "Beauty > Skincare", {"serum", "face cream", "cleanser", "toner"}, 22},
    {3, "Beauty > Fragrance", {"perfume", "cologne", "body mist", NULL}, 48},
    {3, "Beauty > Makeup", {"lipstick", "palette", "mascara", "blush"}, 16},
    {3, "Beauty > Hair", {"shampoo", "conditioner", "hair brush", NULL}, 12},
    {4, "Sports > Fitness", {"dumbbell", "yoga mat", "resistance band", "kettlebell"}, 25},
    {4, "Sports > Running", {"running shoe", "running vest", "shorts", "water bottle"}, 40},
    {4, "Sports > Cycling", {"helmet", "jersey", "bike light", NULL}, 35},
    {4, "Sports > Camping", {"tent", "camping stove", "sleeping bag", "head torch"}, 60},
    {5, "Electronics > Audio", {"headphones", "speaker", "earbuds", NULL}, 70},
    {5, "Electronics > Phone Accessories", {"phone case", "charger", "cable", "power bank"}, 15},
    {5, "Electronics > Smart Home", {"smart plug", "smart bulb", "camera", "doorbell"}, 40},
    {5, "Electronics > Computing", {"keyboard", "mouse", "laptop stand", "webcam"}, 45},
    {6, "Toys > Building", {"building blocks", "brick set", "construction kit", NULL}, 30},
    {6, "Toys > Plush", {"teddy", "bunny", "plush toy", NULL}, 15},
    {6, "Toys > Games", {"puzzle", "board game", "card game", NULL}, 20},
    {6, "Toys > Outdoor", {"kite", "scooter", "ball", "paddling pool"}, 25},
    {7, "Books > Fiction", {"novel", "paperback", "hardback", NULL}, 10},
    {7, "Books > Cookbooks", {"cookbook", "recipe book", NULL, NULL}, 20},
    {7, "Books > Children", {"picture book", "storybook", "activity book", NULL}, 8},
    {8, "Stationery > Notebooks", {"notebook", "journal", "planner", NULL}, 10},
    {8, "Stationery > Pens", {"pen", "pencil set", "marker set", NULL}, 8},
    {8, "Stationery > Cards & Wrap", {"greeting card", "gift wrap", "ribbon", NULL}, 4},
    {9, "Food & Drink > Tea & Coffee", {"tea", "coffee", "blend", "hot chocolate"}, 8},
    {9, "Food & Drink > Chocolate", {"chocolate", "truffles", "fudge", NULL}, 7},
    {9, "Food & Drink > Pantry", {"olive oil", "sauce", "spice mix", "honey"}, 6},
    {10, "Pets > Dogs", {"collar", "lead", "dog bed", "dog toy"}, 18},
    {10, "Pets > Cats", {"scratcher", "cat toy", "cat bed", NULL}, 15},
    {11, "Baby > Nursery", {"baby blanket", "mobile", "cot sheet", NULL}, 20},
    {11, "Baby > Feeding", {"baby bottle", "bib", "sippy cup", NULL}, 9},
    {11, "Baby > Clothing", {"bodysuit", "sleepsuit", "romper", NULL}, 12},
};
#define N_LEAVES (sizeof leaves / sizeof leaves[0])

static const char *const colours[] = {
    "black",   "white", "ivory", "cream", "charcoal", "grey",  "silver", "gold",  "copper", "bronze",  "navy",
    "cobalt",  "teal",  "sage",  "olive", "forest",   "mint",  "coral",  "blush", "rose",   "ruby",    "burgundy",
    "mustard", "ochre", "amber", "rust",  "sand",     "taupe", "lilac",  "plum",  "indigo", "sky blue"};
static const char *const materials[] = {
    "oak",   "walnut", "bamboo",    "rattan",   "linen",     "cotton",    "wool",   "cashmere", "velvet",  "leather",
    "suede", "denim",  "silk",      "ceramic",  "stoneware", "porcelain", "enamel", "glass",    "marble",  "slate",
    "brass", "steel",  "cast iron", "concrete", "cork",      "jute",      "felt",   "recycled", "organic", "merino"};
static const char *const styles[] = {
    "rustic",      "modern",       "vintage",  "retro",    "scandi",    "boho",        "minimalist", "classic",
    "industrial",  "coastal",      "nordic",   "tropical", "art deco",  "mid-century", "farmhouse",  "cottage",
    "urban",       "sporty",       "elegant",  "playful",  "botanical", "geometric",   "striped",    "floral",
    "checked",     "speckled",     "hammered", "matte",    "glossy",    "textured",    "quilted",    "woven",
    "embroidered", "hand-painted", "handmade", "heritage", "festive",   "cosy",        "luxe",       "compact",
    "ultralight",  "waterproof",   "portable", "wireless", "smart",     "premium",     "eco",        "essential"};
#define N_COLOURS (sizeof colours / sizeof colours[0])
#define N_MATERIALS (sizeof materials / sizeof materials[0])
#define N_STYLES (sizeof styles / sizeof styles[0])

static const char *const syllables[] = {"ka",  "lo",  "mi",  "ra",  "ven", "dor", "sel",  "tha", "bri", "nu",
                                        "os",  "vik", "lun", "ar",  "hal", "mer", "quin", "to",  "zel", "fen",
                                        "iva", "rud", "sk",  "ber", "ae",  "lis", "mon",  "tor", "ny",  "gar",
                                        "el",  "ost", "pim", "wen", "dal", "cor", "ish",  "ul",  "ro",  "san"};
#define N_SYLL (sizeof syllables / sizeof syllables[0])
static const char *const brand_suffix[] = {"",       "",        "",       " & Co", " Studio",
                                           " Works", " Living", " Goods", " Home", " Supply"};
static const char *const benefits[] = {"made to last",
                                       "easy to care for",
                                       "a thoughtful gift",
                                       "perfect for everyday use",
                                       "designed in small batches",
                                       "built for comfort",
                                       "ready to use",
                                       "sustainably sourced",
                                       "light and durable",
                                       "finished by hand",
                                       "a customer favourite",
                                       "great value"};
#define N_BENEFITS (sizeof benefits / sizeof benefits[0])

/* Countries (ISO 3166-1 alpha-2) with their share of shoppers in percent. */
static const struct {
    char code[3];
    double w;
} countries[] = {{"GB", 28},  {"US", 18},  {"DE", 9},   {"FR", 7},   {"NL", 4}, {"IE", 4}, {"ES", 4},
                 {"IT", 4},   {"CA", 3},   {"AU", 3},   {"SE", 2},   {"BE", 2}, {"CH", 2}, {"AT", 2},
                 {"DK", 1.5}, {"NO", 1.5}, {"PL", 1.5}, {"JP", 1.5}, {"PT", 1}, {"SG", 1}};
#define N_COUNTRIES (sizeof countries / sizeof countries[0])

/* ---- the world ------------------------------------------------------------ */

#define TASTE_LEAVES 4
#define WORD_MAX 24

struct taste {
    uint64_t first, n; /* range in rank_item / cdf */
    uint16_t dept, n_leaves;
    uint16_t leaf[TASTE_LEAVES];
    uint16_t colour[3], material[3], style[4];
    char coll[2][WORD_MAX]; /* capitalised collection words */
    char brand[3][WORD_MAX + 8];
    double price_mult, size_w;
};

struct tl_synth_world {
    uint64_t n_items, seed;
    uint32_t n_tastes;
    struct taste *t;
    uint32_t *item_taste;
    uint16_t *item_leaf;
    uint32_t *item_price; /* cents */
    uint8_t *item_avail;
    uint32_t *rank_item; /* items grouped by taste, most popular first */
    float *cdf;          /* within-taste cumulative Zipf, parallel to rank_item */
    double *taste_cdf;   /* cumulative pop_t over tastes (normalised) */
    uint32_t dept_first[N_DEPTS + 1];
    uint32_t *dept_tastes; /* tastes grouped by department */
    double country_cdf[N_COUNTRIES];
};

/* Smallest index i in cdf[0..n) with cdf[i] > u (cdf ends at 1 > u). */
static size_t search_d(const double *cdf, size_t n, double u)
{
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cdf[mid] > u)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static size_t search_f(const float *cdf, size_t n, float u)
{
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cdf[mid] > u)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static void invent_word(struct rng *r, char *out, size_t n, int cap)
{
    int k = 2 + (unif(r) < 0.35);
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; i < k; i++) {
        const char *s = syllables[below(r, N_SYLL)];
        size_t sl = strlen(s);
        if (len + sl + 1 > n) break;
        memcpy(out + len, s, sl);
        len += sl;
    }
    out[len] = '\0';
    if (cap && len) out[0] = (char)(out[0] - 'a' + 'A');
}

static void pick_distinct(struct rng *r, uint16_t *dst, int k, uint32_t n)
{
    for (int i = 0; i < k; i++) {
        uint16_t v;
        int dup;
        int tries = 0;
        do {
            v = (uint16_t)below(r, n);
            dup = 0;
            for (int j = 0; j < i; j++) dup |= dst[j] == v;
        } while (dup && ++tries < 32);
        dst[i] = v;
    }
}

static uint32_t n_tastes_of(const struct tl_synth_opts *o)
{
    if (o->n_tastes) return o->n_tastes;
    return o->n_items < TL_SYNTH_TASTES_DEFAULT ? (uint32_t)o->n_items : TL_SYNTH_TASTES_DEFAULT;
}

static enum tl_rc check_sizes(const struct tl_synth_opts *o, struct tl_err *err)
{
    if (o->n_items < 1 || o->n_items > TL_SYNTH_ITEMS_MAX)
        return tl_err_set(err, TL_EINVAL, "items", "items must be between 1 and %llu, got %llu",
                          (unsigned long long)TL_SYNTH_ITEMS_MAX, (unsigned long long)o->n_items);
    if (o->n_shoppers < 1 || o->n_shoppers > TL_SYNTH_SHOPPERS_MAX)
        return tl_err_set(err, TL_EINVAL, "shoppers", "shoppers must be between 1 and %llu, got %llu",
                          (unsigned long long)TL_SYNTH_SHOPPERS_MAX, (unsigned long long)o->n_shoppers);
    if (o->n_tastes > TL_SYNTH_TASTES_MAX || (o->n_tastes && o->n_tastes > o->n_items))
        return tl_err_set(err, TL_EINVAL, "tastes", "tastes must be between 1 and min(items, %u), got %u",
                          TL_SYNTH_TASTES_MAX, o->n_tastes);
    if (o->days > TL_SYNTH_DAYS_MAX)
        return tl_err_set(err, TL_EINVAL, "days", "days must be between 1 and %u, got %u", TL_SYNTH_DAYS_MAX, o->days);
    if (o->orders_per_shopper >= 0 && !(o->orders_per_shopper <= TL_SYNTH_ORDERS_MAX))
        return tl_err_set(err, TL_EINVAL, "orders-per-shopper", "orders-per-shopper must be between 0 and %g, got %g",
                          TL_SYNTH_ORDERS_MAX, o->orders_per_shopper);
    if (o->views_per_shopper >= 0 && !(o->views_per_shopper >= 1 && o->views_per_shopper <= TL_SYNTH_VIEWS_MAX))
        return tl_err_set(err, TL_EINVAL, "views-per-shopper", "views-per-shopper must be between 1 and %g, got %g",
                          TL_SYNTH_VIEWS_MAX, o->views_per_shopper);
    if (isnan(o->orders_per_shopper) || isnan(o->views_per_shopper))
        return tl_err_set(err, TL_EINVAL, isnan(o->orders_per_shopper) ? "orders-per-shopper" : "views-per-shopper",
                          "not a number");
    return TL_OK;
}

enum tl_rc tl_synth_check(const struct tl_synth_opts *o, int64_t now_ms, struct tl_err *err)
{
    enum tl_rc rc = check_sizes(o, err);
    if (rc != TL_OK) return rc;
    uint32_t days = o->days ? o->days : TL_SYNTH_DAYS_DEFAULT;
    if (o->end_ms != 0) {
        if (o->end_ms > now_ms)
            return tl_err_set(err, TL_EINVAL, "end",
                              "the end time is in the future (import rejects events more than 24 h ahead); "
                              "give a time up to now");
        if (o->end_ms - (int64_t)days * TL_MS_PER_DAY < 946684800000LL)
            return tl_err_set(err, TL_EINVAL, "end", "the history would start before 2000-01-01 (end - days)");
    }
    return TL_OK;
}

void tl_synth_world_free(struct tl_synth_world *w)
{
    if (!w) return;
    tl_free(w->t);
    tl_free(w->item_taste);
    tl_free(w->item_leaf);
    tl_free(w->item_price);
    tl_free(w->item_avail);
    tl_free(w->rank_item);
    tl_free(w->cdf);
    tl_free(w->taste_cdf);
    tl_free(w->dept_tastes);
    tl_free(w);
}

static void build_taste(struct tl_synth_world *w, uint32_t ti, struct rng *r)
{
    struct taste *t = &w->t[ti];
    double tot = 0, acc = 0;
    for (size_t d = 0; d < N_DEPTS; d++) tot += dept_weight[d];
    double u = unif(r) * tot;
    t->dept = N_DEPTS - 1;
    for (size_t d = 0; d < N_DEPTS; d++) {
        acc += dept_weight[d];
        if (u < acc) {
            t->dept = (uint16_t)d;
            break;
        }
    }
    uint16_t own[N_LEAVES];
    uint32_t n_own = 0;
    for (size_t l = 0; l < N_LEAVES; l++)
        if (leaves[l].dept == t->dept) own[n_own++] = (uint16_t)l;
    uint32_t want = 2 + below(r, 3);
    if (want > n_own) want = n_own;
    /* partial shuffle of own[] */
    for (uint32_t i = 0; i < want; i++) {
        uint32_t j = i + below(r, n_own - i);
        uint16_t tmp = own[i];
        own[i] = own[j];
        own[j] = tmp;
        t->leaf[i] = own[i];
    }
    t->n_leaves = (uint16_t)want;
    if (t->n_leaves < TASTE_LEAVES && unif(r) < P_FOREIGN_LEAF) t->leaf[t->n_leaves++] = (uint16_t)below(r, N_LEAVES);
    pick_distinct(r, t->colour, 3, N_COLOURS);
    pick_distinct(r, t->material, 3, N_MATERIALS);
    pick_distinct(r, t->style, 4, N_STYLES);
    for (int i = 0; i < 2; i++) invent_word(r, t->coll[i], sizeof t->coll[i], 1);
    for (int i = 0; i < 3; i++) {
        char base[WORD_MAX];
        invent_word(r, base, sizeof base, 1);
        snprintf(t->brand[i], sizeof t->brand[i], "%s%s", base,
                 brand_suffix[below(r, sizeof brand_suffix / sizeof brand_suffix[0])]);
    }
    t->price_mult = exp(0.5 * normal(r));
    t->size_w = 0.5 + unif(r);
}

enum tl_rc tl_synth_world_new(const struct tl_synth_opts *o, struct tl_synth_world **out, struct tl_err *err)
{
    *out = NULL;
    enum tl_rc rc = check_sizes(o, err);
    if (rc != TL_OK) return rc;
    struct tl_synth_world *w = tl_calloc(1, sizeof *w);
    if (!w) return tl_err_set(err, TL_ENOMEM, NULL, "out of memory for the generator's world");
    w->n_items = o->n_items;
    w->seed = o->seed;
    w->n_tastes = n_tastes_of(o);
    uint64_t n = w->n_items;
    uint32_t k = w->n_tastes;
    w->t = tl_calloc(k, sizeof *w->t);
    w->item_taste = tl_malloc(n * sizeof *w->item_taste);
    w->item_leaf = tl_malloc(n * sizeof *w->item_leaf);
    w->item_price = tl_malloc(n * sizeof *w->item_price);
    w->item_avail = tl_malloc(n * sizeof *w->item_avail);
    w->rank_item = tl_malloc(n * sizeof *w->rank_item);
    w->cdf = tl_malloc(n * sizeof *w->cdf);
    w->taste_cdf = tl_malloc(k * sizeof *w->taste_cdf);
    w->dept_tastes = tl_malloc(k * sizeof *w->dept_tastes);
    double *size_cdf = tl_malloc(k * sizeof *size_cdf);
    uint32_t *perm = tl_malloc(k * sizeof *perm);
    if (!w->t || !w->item_taste || !w->item_leaf || !w->item_price || !w->item_avail || !w->rank_item || !w->cdf ||
        !w->taste_cdf || !w->dept_tastes || !size_cdf || !perm) {
        tl_free(size_cdf);
        tl_free(perm);
        tl_synth_world_free(w);
        return tl_err_set(err, TL_ENOMEM, NULL, "out of memory for the generator's world (%llu items)",
                          (unsigned long long)n);
    }
    struct rng wr = stream(o->seed, TAG_WORLD, 0);
    for (uint32_t i = 0; i < k; i++) build_taste(w, i, &wr);

    /* taste popularity: random ranks, pop = (rank + 1)^-TASTE_POP_S */
    for (uint32_t i = 0; i < k; i++) perm[i] = i;
    for (uint32_t i = k; i > 1; i--) {
        uint32_t j = below(&wr, i);
        uint32_t tmp = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = tmp;
    }
    double acc = 0, sacc = 0;
    for (uint32_t i = 0; i < k; i++) {
        acc += pow((double)perm[i] + 1.0, -TASTE_POP_S);
        w->taste_cdf[i] = acc;
        sacc += w->t[i].size_w;
        size_cdf[i] = sacc;
    }
    for (uint32_t i = 0; i < k; i++) {
        w->taste_cdf[i] /= acc;
        size_cdf[i] /= sacc;
    }
    w->taste_cdf[k - 1] = 1.0;
    size_cdf[k - 1] = 1.0;

    /* departments -> tastes */
    memset(w->dept_first, 0, sizeof w->dept_first);
    for (uint32_t i = 0; i < k; i++) w->dept_first[w->t[i].dept + 1]++;
    for (size_t d = 0; d < N_DEPTS; d++) w->dept_first[d + 1] += w->dept_first[d];
    {
        uint32_t fill[N_DEPTS];
        for (size_t d = 0; d < N_DEPTS; d++) fill[d] = w->dept_first[d];
        for (uint32_t i = 0; i < k; i++) w->dept_tastes[fill[w->t[i].dept]++] = i;
    }

    /* items */
    for (uint64_t i = 0; i < n; i++) {
        struct rng r = stream(o->seed, TAG_ITEM, i);
        uint32_t t = i < k ? (uint32_t)i : (uint32_t)search_d(size_cdf, k, unif(&r));
        const struct taste *ts = &w->t[t];
        uint16_t leaf = ts->leaf[below(&r, ts->n_leaves)];
        double p = leaves[leaf].price * ts->price_mult * exp(0.35 * normal(&r));
        static const int endings[] = {99, 49, 95, 0};
        int64_t pounds = (int64_t)floor(p);
        int64_t cents = pounds * 100 + endings[below(&r, 4)];
        if (cents < 99) cents = 99;
        if (cents > 99999999) cents = 99999999;
        w->item_taste[i] = t;
        w->item_leaf[i] = leaf;
        w->item_price[i] = (uint32_t)cents;
        w->item_avail[i] = unif(&r) < P_AVAILABLE;
        w->t[t].n++;
    }
    uint64_t pos = 0;
    for (uint32_t t = 0; t < k; t++) {
        w->t[t].first = pos;
        pos += w->t[t].n;
        w->t[t].n = 0;
    }
    for (uint64_t i = 0; i < n; i++) {
        struct taste *ts = &w->t[w->item_taste[i]];
        w->rank_item[ts->first + ts->n++] = (uint32_t)i;
    }
    for (uint32_t t = 0; t < k; t++) {
        struct taste *ts = &w->t[t];
        uint32_t *seg = w->rank_item + ts->first;
        for (uint64_t i = ts->n; i > 1; i--) {
            uint64_t j = (uint64_t)(unif(&wr) * (double)i);
            uint32_t tmp = seg[i - 1];
            seg[i - 1] = seg[j];
            seg[j] = tmp;
        }
        double z = 0;
        for (uint64_t r = 0; r < ts->n; r++) z += pow((double)r + 1.0, -ZIPF_S);
        double c = 0;
        for (uint64_t r = 0; r < ts->n; r++) {
            c += pow((double)r + 1.0, -ZIPF_S);
            w->cdf[ts->first + r] = (float)(c / z);
        }
        w->cdf[ts->first + ts->n - 1] = 1.0f;
    }
    double cacc = 0, ctot = 0;
    for (size_t c = 0; c < N_COUNTRIES; c++) ctot += countries[c].w;
    for (size_t c = 0; c < N_COUNTRIES; c++) {
        cacc += countries[c].w;
        w->country_cdf[c] = cacc / ctot;
    }
    w->country_cdf[N_COUNTRIES - 1] = 1.0;
    tl_free(size_cdf);
    tl_free(perm);
    *out = w;
    return TL_OK;
}

uint32_t tl_synth_world_tastes(const struct tl_synth_world *w) { return w->n_tastes; }
uint32_t tl_synth_item_taste(const struct tl_synth_world *w, uint64_t item)
{
    return item < w->n_items ? w->item_taste[item] : UINT32_MAX;
}
uint64_t tl_synth_taste_items(const struct tl_synth_world *w, uint32_t t) { return t < w->n_tastes ? w->t[t].n : 0; }

static uint32_t pick_in_taste(const struct tl_synth_world *w, uint32_t t, struct rng *r)
{
    const struct taste *ts = &w->t[t];
    size_t i = search_f(w->cdf + ts->first, ts->n, (float)unif(r));
    return w->rank_item[ts->first + i];
}

static uint32_t pick_taste(const struct tl_synth_world *w, struct rng *r)
{
    return (uint32_t)search_d(w->taste_cdf, w->n_tastes, unif(r));
}

/* The latent draws of shopper s; leaves *r positioned after them. */
static void shopper_latent(const struct tl_synth_world *w, uint64_t s, struct tl_synth_shopper_info *in, struct rng *r)
{
    *r = stream(w->seed, TAG_SHOPPER, s);
    memset(in, 0, sizeof *in);
    in->anonymous_only = unif(r) < P_ANON_ONLY;
    size_t c = search_d(w->country_cdf, N_COUNTRIES, unif(r));
    memcpy(in->country, countries[c].code, 3);
    double u = unif(r);
    uint32_t k = u < 0.4 ? 1 : u < 0.8 ? 2 : 3;
    if (k > w->n_tastes) k = w->n_tastes;
    in->tastes[0] = pick_taste(w, r);
    in->n_tastes = 1;
    for (uint32_t j = 1; j < k; j++) {
        for (int tries = 0; tries < 16; tries++) {
            uint32_t t;
            uint16_t d = w->t[in->tastes[0]].dept;
            uint32_t nd = w->dept_first[d + 1] - w->dept_first[d];
            if (unif(r) < P_SAME_DEPT && nd > 1)
                t = w->dept_tastes[w->dept_first[d] + below(r, nd)];
            else
                t = pick_taste(w, r);
            int dup = 0;
            for (uint32_t q = 0; q < in->n_tastes; q++) dup |= in->tastes[q] == t;
            if (!dup) {
                in->tastes[in->n_tastes++] = t;
                break;
            }
        }
    }
    double tot = 0;
    for (uint32_t j = 0; j < in->n_tastes; j++) {
        in->weights[j] = j == 0 ? 1.0 : 0.2 + 0.6 * unif(r);
        tot += in->weights[j];
    }
    for (uint32_t j = 0; j < in->n_tastes; j++) in->weights[j] /= tot;
    in->price_sensitivity = unif(r);
}

void tl_synth_shopper(const struct tl_synth_world *w, uint64_t s, struct tl_synth_shopper_info *out)
{
    struct rng r;
    shopper_latent(w, s, out, &r);
}

/* ---- output: buffers written by a background thread ---------------------
 * The generator fills one OUT_BUF buffer per file; a full buffer is queued
 * (at most WQ_JOBS in flight) and the writer thread write()s it, so the
 * copy into the page cache (about half the run time) overlaps generation.
 * Buffers cycle through a pool of 3 + WQ_SPARE. The first write error
 * stops all writing and is reported by the next flush or by wq_drain. */

#define WQ_JOBS 4
#define WQ_SPARE 4

struct wq;

struct out {
    int fd;
    int created;
    char path[4096];
    char *buf;
    size_t len;
    uint64_t bytes; /* queued so far */
    struct wq *q;
};

struct wq_job {
    struct out *o;
    char *buf;
    size_t len;
};

struct wq {
    pthread_t th;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* any change: job queued, job done, stop */
    struct wq_job jobs[WQ_JOBS];
    size_t head, n, busy;
    char *pool[3 + WQ_SPARE];
    size_t n_pool;
    int stop, failed;
    int eno;               /* errno of the failed write (0: stopped by the generator) */
    const char *fail_path; /* the file it was writing */
};

static void *wq_main(void *arg)
{
    struct wq *q = arg;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (q->n == 0 && !q->stop) pthread_cond_wait(&q->cv, &q->mu);
        if (q->n == 0) break;
        struct wq_job j = q->jobs[q->head];
        q->head = (q->head + 1) % WQ_JOBS;
        q->n--;
        q->busy = 1;
        int failed = q->failed;
        pthread_mutex_unlock(&q->mu);
        size_t off = 0;
        int eno = 0;
        while (!failed && off < j.len) {
            ssize_t k = write(j.o->fd, j.buf + off, j.len - off);
            if (k < 0) {
                if (errno == EINTR) continue;
                eno = errno;
                break;
            }
            off += (size_t)k;
        }
        pthread_mutex_lock(&q->mu);
        if (eno && !q->failed) {
            q->failed = 1;
            q->eno = eno;
            q->fail_path = j.o->path;
        }
        q->pool[q->n_pool++] = j.buf;
        q->busy = 0;
        pthread_cond_broadcast(&q->cv);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

static enum tl_rc wq_start(struct wq *q, struct tl_err *err)
{
    memset(q, 0, sizeof *q);
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    for (size_t i = 0; i < 3 + WQ_SPARE; i++) {
        q->pool[i] = tl_malloc(OUT_BUF);
        if (!q->pool[i]) return tl_err_set(err, TL_ENOMEM, NULL, "out of memory for output buffers");
        q->n_pool++;
    }
    if (pthread_create(&q->th, NULL, wq_main, q) != 0)
        return tl_err_set(err, TL_EINTERNAL, NULL, "cannot start the writer thread");
    q->started = 1;
    return TL_OK;
}

static enum tl_rc wq_error(const struct wq *q, struct tl_err *err)
{
    if (!q->eno) return tl_err_set(err, TL_EIO, NULL, "writing was stopped");
    return tl_err_set(err, TL_EIO, NULL, "cannot write %s: %s", q->fail_path, strerror(q->eno));
}

/* Wait until every queued buffer is written; the first write error. */
static enum tl_rc wq_drain(struct wq *q, struct tl_err *err)
{
    pthread_mutex_lock(&q->mu);
    while (q->n > 0 || q->busy) pthread_cond_wait(&q->cv, &q->mu);
    int failed = q->failed;
    pthread_mutex_unlock(&q->mu);
    return failed ? wq_error(q, err) : TL_OK;
}

/* Stop the thread once the queue is empty (queued buffers return to the
 * pool, written or, after a failure, dropped). */
static void wq_stop_thread(struct wq *q)
{
    pthread_mutex_lock(&q->mu);
    q->stop = 1;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    pthread_join(q->th, NULL);
    q->started = 0;
}

static void wq_free(struct wq *q)
{
    for (size_t i = 0; i < q->n_pool; i++) tl_free(q->pool[i]);
    q->n_pool = 0;
    pthread_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->mu);
}

/* Queue o's buffer for writing and take a fresh one. */
static enum tl_rc out_flush(struct out *o, struct tl_err *err)
{
    if (o->len == 0) return TL_OK;
    struct wq *q = o->q;
    pthread_mutex_lock(&q->mu);
    while (!q->failed && (q->n == WQ_JOBS || q->n_pool == 0)) pthread_cond_wait(&q->cv, &q->mu);
    if (q->failed) {
        pthread_mutex_unlock(&q->mu);
        return wq_error(q, err);
    }
    q->jobs[(q->head + q->n) % WQ_JOBS] = (struct wq_job){o, o->buf, o->len};
    q->n++;
    o->buf = q->pool[--q->n_pool];
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    o->bytes += o->len;
    o->len = 0;
    return TL_OK;
}

/* Make room for one record (at most OUT_SLACK bytes). */
static enum tl_rc out_room(struct out *o, struct tl_err *err)
{
    if (o->len + OUT_SLACK <= OUT_BUF) return TL_OK;
    return out_flush(o, err);
}

static char *p_mem(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}
static char *p_str(char *p, const char *s) { return p_mem(p, s, strlen(s)); }
#define P_LIT(p, lit) p_mem((p), (lit), sizeof(lit) - 1)

static char *p_u64(char *p, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n) *p++ = tmp[--n];
    return p;
}

static char *p_cents(char *p, uint64_t c)
{
    p = p_u64(p, c / 100);
    *p++ = '.';
    *p++ = (char)('0' + (c / 10) % 10);
    *p++ = (char)('0' + c % 10);
    return p;
}

static char *p_hex16(char *p, uint64_t v)
{
    static const char hx[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--) *p++ = hx[(v >> (i * 4)) & 15];
    return p;
}

/* JSON string body (no quotes): escapes what JSON requires. */
static char *p_json(char *p, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            *p++ = '\\';
            *p++ = (char)c;
        } else if (c < 0x20) {
            p += sprintf(p, "\\u%04x", c);
        } else {
            *p++ = (char)c;
        }
    }
    return p;
}

/* CSV value: quoted when it holds a separator, quote or line break. */
static char *p_csv(char *p, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) return p_str(p, s);
    *p++ = '"';
    for (; *s; s++) {
        if (*s == '"') *p++ = '"';
        *p++ = *s;
    }
    *p++ = '"';
    return p;
}

struct tscache {
    int64_t day;
    char date[16]; /* "YYYY-MM-DDT" */
};

static char *p_ts(char *p, int64_t ms, struct tscache *c)
{
    int64_t day = ms >= 0 ? ms / TL_MS_PER_DAY : (ms - TL_MS_PER_DAY + 1) / TL_MS_PER_DAY;
    if (day != c->day) {
        char iso[40];
        tl_time_format(day * TL_MS_PER_DAY, iso, sizeof iso);
        memcpy(c->date, iso, 11);
        c->day = day;
    }
    int64_t in = ms - day * TL_MS_PER_DAY;
    int hh = (int)(in / TL_MS_PER_HOUR), mm = (int)(in / TL_MS_PER_MIN % 60), ss = (int)(in / 1000 % 60),
        ml = (int)(in % 1000);
    p = p_mem(p, c->date, 11);
    *p++ = (char)('0' + hh / 10);
    *p++ = (char)('0' + hh % 10);
    *p++ = ':';
    *p++ = (char)('0' + mm / 10);
    *p++ = (char)('0' + mm % 10);
    *p++ = ':';
    *p++ = (char)('0' + ss / 10);
    *p++ = (char)('0' + ss % 10);
    *p++ = '.';
    *p++ = (char)('0' + ml / 100);
    *p++ = (char)('0' + ml / 10 % 10);
    *p++ = (char)('0' + ml % 10);
    *p++ = 'Z';
    return p;
}

/* ---- catalog -------------------------------------------------------------- */

static void cap_words(char *s)
{
    int start = 1;
    for (; *s; s++) {
        if (start && *s >= 'a' && *s <= 'z') *s = (char)(*s - 'a' + 'A');
        start = *s == ' ' || *s == '-';
    }
}

static void append_word(char *buf, size_t n, const char *w)
{
    size_t len = strlen(buf);
    snprintf(buf + len, n - len, "%s%s", len ? " " : "", w);
}

struct item_text {
    char title[256], desc[512], brand[64], tags[8][WORD_MAX + 16];
    int n_tags;
    const char *colour;
};

static void add_tag(struct item_text *x, const char *tag)
{
    if (x->n_tags >= 8) return;
    for (int i = 0; i < x->n_tags; i++)
        if (strcmp(x->tags[i], tag) == 0) return;
    snprintf(x->tags[x->n_tags], sizeof x->tags[x->n_tags], "%s", tag);
    for (char *c = x->tags[x->n_tags]; *c; c++)
        if (*c >= 'A' && *c <= 'Z') *c = (char)(*c - 'A' + 'a');
    x->n_tags++;
}

static void item_text(const struct tl_synth_world *w, uint64_t i, struct item_text *x)
{
    struct rng r = stream(w->seed, TAG_TEXT, i);
    const struct taste *t = &w->t[w->item_taste[i]];
    const struct leaf *lf = &leaves[w->item_leaf[i]];
    int nn = 0;
    while (nn < 4 && lf->noun[nn]) nn++;
    const char *noun = lf->noun[below(&r, (uint32_t)nn)];
    const char *style = styles[t->style[below(&r, 4)]];
    const char *colour = colours[t->colour[below(&r, 3)]];
    const char *material = materials[t->material[below(&r, 3)]];
    const char *coll = t->coll[below(&r, 2)];
    uint32_t s2 = below(&r, 4);
    const char *style2 = styles[t->style[s2]];
    memset(x, 0, sizeof *x);
    x->colour = colour;
    int has_style = unif(&r) < 0.6, has_colour = unif(&r) < 0.8, has_mat = unif(&r) < 0.6, has_coll = unif(&r) < 0.5,
        noise = unif(&r) < 0.15;
    const char *noise_w = NULL;
    if (noise) {
        const struct taste *o = &w->t[below(&r, w->n_tastes)];
        noise_w = styles[o->style[below(&r, 4)]];
    }
    if (noise_w) append_word(x->title, sizeof x->title, noise_w);
    if (has_style) append_word(x->title, sizeof x->title, style);
    if (has_colour) append_word(x->title, sizeof x->title, colour);
    if (has_mat) append_word(x->title, sizeof x->title, material);
    if (has_coll) append_word(x->title, sizeof x->title, coll);
    append_word(x->title, sizeof x->title, noun);
    cap_words(x->title);
    int other_brand = unif(&r) < P_OTHER_BRAND;
    const struct taste *bt = other_brand ? &w->t[below(&r, w->n_tastes)] : t;
    snprintf(x->brand, sizeof x->brand, "%s", bt->brand[below(&r, 3)]);
    char cap_style2[WORD_MAX + 8];
    snprintf(cap_style2, sizeof cap_style2, "%s", style2);
    cap_style2[0] = (char)(cap_style2[0] >= 'a' && cap_style2[0] <= 'z' ? cap_style2[0] - 'a' + 'A' : cap_style2[0]);
    snprintf(x->desc, sizeof x->desc, "A %s %s in %s %s, from the %s collection by %s. %s design with a %s finish, %s.",
             style, noun, colour, material, coll, x->brand, cap_style2, styles[t->style[(s2 + 1 + below(&r, 3)) % 4]],
             benefits[below(&r, N_BENEFITS)]);
    const char *last = strrchr(lf->path, '>');
    add_tag(x, last ? last + 2 : lf->path);
    add_tag(x, dept_name[lf->dept]);
    add_tag(x, style);
    if (has_colour) add_tag(x, colour);
    if (has_mat) add_tag(x, material);
    if (unif(&r) < 0.5) add_tag(x, coll);
    if (unif(&r) < 0.1) add_tag(x, "gift");
}

static enum tl_rc write_catalog(const struct tl_synth_world *w, int ndjson, struct out *o, struct tl_err *err)
{
    enum tl_rc rc;
    if (!ndjson) {
        static const char hdr[] =
            "id,title,description,url,price,currency,category,brand,tags,available,stock,colour\n";
        memcpy(o->buf + o->len, hdr, sizeof hdr - 1);
        o->len += sizeof hdr - 1;
    }
    struct item_text x;
    char idbuf[32];
    for (uint64_t i = 0; i < w->n_items; i++) {
        if ((rc = out_room(o, err)) != TL_OK) return rc;
        item_text(w, i, &x);
        char *p0 = o->buf + o->len, *p = p0;
        char *e = p_u64(P_LIT(idbuf, "p"), i + 1);
        *e = '\0';
        const struct leaf *lf = &leaves[w->item_leaf[i]];
        int avail = w->item_avail[i];
        uint64_t stock = avail ? 1 + mix64(w->seed ^ (i * 0x9e3779b97f4a7c15ULL)) % 200 : 0;
        if (ndjson) {
            p = P_LIT(p, "{\"id\":\"");
            p = p_str(p, idbuf);
            p = P_LIT(p, "\",\"title\":\"");
            p = p_json(p, x.title);
            p = P_LIT(p, "\",\"description\":\"");
            p = p_json(p, x.desc);
            p = P_LIT(p, "\",\"url\":\"/products/");
            p = p_str(p, idbuf);
            p = P_LIT(p, "\",\"price\":");
            p = p_cents(p, w->item_price[i]);
            p = P_LIT(p, ",\"currency\":\"GBP\",\"category\":\"");
            p = p_json(p, lf->path);
            p = P_LIT(p, "\",\"brand\":\"");
            p = p_json(p, x.brand);
            p = P_LIT(p, "\",\"tags\":[");
            for (int k = 0; k < x.n_tags; k++) {
                if (k) *p++ = ',';
                *p++ = '"';
                p = p_json(p, x.tags[k]);
                *p++ = '"';
            }
            p = P_LIT(p, "],\"available\":");
            p = avail ? P_LIT(p, "true") : P_LIT(p, "false");
            p = P_LIT(p, ",\"stock\":");
            p = p_u64(p, stock);
            p = P_LIT(p, ",\"attributes\":{\"colour\":\"");
            p = p_json(p, x.colour);
            p = P_LIT(p, "\"}}\n");
        } else {
            p = p_str(p, idbuf);
            *p++ = ',';
            p = p_csv(p, x.title);
            *p++ = ',';
            p = p_csv(p, x.desc);
            p = P_LIT(p, ",/products/");
            p = p_str(p, idbuf);
            *p++ = ',';
            p = p_cents(p, w->item_price[i]);
            p = P_LIT(p, ",GBP,");
            p = p_csv(p, lf->path);
            *p++ = ',';
            p = p_csv(p, x.brand);
            *p++ = ',';
            char tags[512];
            tags[0] = '\0';
            for (int k = 0; k < x.n_tags; k++) {
                size_t tl = strlen(tags);
                snprintf(tags + tl, sizeof tags - tl, "%s%s", k ? "|" : "", x.tags[k]);
            }
            p = p_csv(p, tags);
            p = avail ? P_LIT(p, ",true,") : P_LIT(p, ",false,");
            p = p_u64(p, stock);
            *p++ = ',';
            p = p_csv(p, x.colour);
            *p++ = '\n';
        }
        o->len += (size_t)(p - p0);
    }
    return out_flush(o, err);
}

/* ---- shoppers ------------------------------------------------------------- */

enum { EV_VIEW, EV_CART, EV_SEARCH, EV_CATVIEW };

struct sev {
    uint8_t type, scroll, qty;
    uint16_t a, b; /* search: word class/index, leaf*4 + noun; category view: leaf */
    uint32_t item, dwell;
    int64_t off; /* ms from the session start */
};

struct sess {
    uint32_t first_ev, n_ev;
    int32_t order;  /* index into gen.orders, -1 none */
    uint32_t views; /* planned views */
    int purchase;
    uint32_t taste;
    int64_t dur, start;
};

struct ord {
    uint32_t first_line, n_lines;
    int64_t off;
};

struct oline {
    uint32_t item, qty;
};

struct gen {
    const struct tl_synth_world *w;
    int ndjson;
    int64_t win_start, win_end;
    struct sev *ev;
    struct sess *ss;
    struct ord *od;
    struct oline *ol;
    uint32_t n_ev, n_ss, n_od, n_ol;
    uint32_t ring[RING];
    uint32_t ring_n, ring_pos;
    double *spacing;
    struct tscache tc_ev, tc_od;
    struct tl_synth_summary *sum;
};

static double price_factor(const struct tl_synth_world *w, uint32_t item, double sens)
{
    return pow((double)w->item_price[item] / 2000.0, -1.2 * sens);
}

static void ring_push(struct gen *g, uint32_t item)
{
    g->ring[g->ring_pos] = item;
    g->ring_pos = (g->ring_pos + 1) % RING;
    if (g->ring_n < RING) g->ring_n++;
}

static void add_view(struct gen *g, uint32_t item, struct rng *r)
{
    struct sev *e = &g->ev[g->n_ev++];
    memset(e, 0, sizeof *e);
    e->type = EV_VIEW;
    e->item = item;
    double d = exp(log(DWELL_MEDIAN_MS) + 0.9 * normal(r));
    if (d < DWELL_MIN_MS) d = DWELL_MIN_MS;
    if (d > DWELL_MAX_MS) d = DWELL_MAX_MS;
    e->dwell = (uint32_t)d;
    double sc = 0.1 + 0.85 * d / (d + 30000.0) + 0.15 * normal(r);
    if (sc < 0.05) sc = 0.05;
    if (sc > 1) sc = 1;
    e->scroll = (uint8_t)(sc * 100 + 0.5);
    ring_push(g, item);
}

static void add_cart(struct gen *g, uint32_t at, uint32_t item, uint32_t qty)
{
    memmove(&g->ev[at + 1], &g->ev[at], (g->n_ev - at) * sizeof *g->ev);
    struct sev *e = &g->ev[at];
    memset(e, 0, sizeof *e);
    e->type = EV_CART;
    e->item = item;
    e->qty = (uint8_t)qty;
    g->n_ev++;
}

static uint32_t draw_qty(struct rng *r)
{
    double u = unif(r);
    return u < 0.80 ? 1 : u < 0.95 ? 2 : 3 + below(r, 2);
}

/* Build the events (and order) of session si. */
static void build_session(struct gen *g, uint32_t si, const struct tl_synth_shopper_info *in, struct rng *r)
{
    const struct tl_synth_world *w = g->w;
    struct sess *s = &g->ss[si];
    const struct taste *t = &w->t[s->taste];
    s->first_ev = g->n_ev;
    s->order = -1;
    double u = unif(r);
    if (u < P_SEARCH + P_CATVIEW) {
        struct sev *e = &g->ev[g->n_ev++];
        memset(e, 0, sizeof *e);
        uint16_t leaf = t->leaf[below(r, t->n_leaves)];
        if (u < P_SEARCH) {
            int nn = 0;
            while (nn < 4 && leaves[leaf].noun[nn]) nn++;
            e->type = EV_SEARCH;
            uint32_t cls = below(r, 4); /* 0 colour 1 material 2 style 3 collection */
            uint32_t idx = cls == 0   ? t->colour[below(r, 3)]
                           : cls == 1 ? t->material[below(r, 3)]
                           : cls == 2 ? t->style[below(r, 4)]
                                      : below(r, 2);
            e->a = (uint16_t)(cls << 14 | idx);
            e->b = (uint16_t)(leaf * 4 + below(r, (uint32_t)nn));
            e->item = s->taste;
        } else {
            e->type = EV_CATVIEW;
            e->b = leaf;
        }
    }
    double sens = in->price_sensitivity;
    for (uint32_t v = 0; v < s->views; v++) {
        uint32_t item;
        double x = unif(r);
        if (x < P_REVISIT && g->ring_n > 0)
            item = g->ring[below(r, g->ring_n)];
        else if (x < P_REVISIT + P_NOISE)
            item = pick_in_taste(w, pick_taste(w, r), r);
        else
            item = pick_in_taste(w, s->taste, r);
        add_view(g, item, r);
        double pf = price_factor(w, item, sens);
        if (unif(r) < P_CART * (pf < 1 ? pf : 1)) add_cart(g, g->n_ev, item, draw_qty(r));
    }
    if (s->purchase) {
        double u2 = unif(r);
        uint32_t want = u2 < 0.50 ? 1 : u2 < 0.75 ? 2 : u2 < 0.87 ? 3 : u2 < 0.95 ? 4 : 5;
        /* distinct viewed items of this session (last view of each) */
        uint32_t cand[SESSION_VIEWS_MAX + ORDER_LINES_MAX + 2];
        double cw[SESSION_VIEWS_MAX + ORDER_LINES_MAX + 2];
        uint32_t nc = 0;
        for (uint32_t e = s->first_ev; e < g->n_ev; e++) {
            if (g->ev[e].type != EV_VIEW) continue;
            uint32_t j;
            for (j = 0; j < nc; j++)
                if (cand[j] == g->ev[e].item) break;
            double wt = ((double)g->ev[e].dwell / 1000.0 + 1.0) * price_factor(w, g->ev[e].item, sens);
            if (j == nc) {
                cand[nc] = g->ev[e].item;
                cw[nc++] = wt;
            } else if (wt > cw[j]) {
                cw[j] = wt;
            }
        }
        for (int tries = 0; nc < want && tries < 64; tries++) {
            uint32_t item = pick_in_taste(w, s->taste, r);
            uint32_t j;
            for (j = 0; j < nc; j++)
                if (cand[j] == item) break;
            if (j < nc) continue;
            add_view(g, item, r);
            cand[nc] = item;
            cw[nc++] = ((double)g->ev[g->n_ev - 1].dwell / 1000.0 + 1.0) * price_factor(w, item, sens);
        }
        if (want > nc) want = nc;
        struct ord *od = &g->od[g->n_od];
        od->first_line = g->n_ol;
        od->n_lines = 0;
        for (uint32_t l = 0; l < want; l++) {
            double tot = 0;
            for (uint32_t j = 0; j < nc; j++) tot += cw[j];
            double pick = unif(r) * tot;
            uint32_t j = 0;
            while (j + 1 < nc && pick >= cw[j]) pick -= cw[j++];
            uint32_t item = cand[j];
            cand[j] = cand[nc - 1];
            cw[j] = cw[nc - 1];
            nc--;
            uint32_t qty = draw_qty(r);
            g->ol[g->n_ol].item = item;
            g->ol[g->n_ol].qty = qty;
            g->n_ol++;
            od->n_lines++;
            /* add to cart after the last view of the item, unless carted after it */
            uint32_t last_view = UINT32_MAX, carted = 0;
            for (uint32_t e = s->first_ev; e < g->n_ev; e++) {
                if (g->ev[e].item != item) continue;
                if (g->ev[e].type == EV_VIEW) {
                    last_view = e;
                    carted = 0;
                } else if (g->ev[e].type == EV_CART) {
                    carted = 1;
                }
            }
            if (!carted && last_view != UINT32_MAX) add_cart(g, last_view + 1, item, qty);
        }
        s->order = (int32_t)g->n_od++;
    }
    s->n_ev = g->n_ev - s->first_ev;
    /* time offsets */
    int64_t off = 0;
    for (uint32_t e = s->first_ev; e < g->n_ev; e++) {
        struct sev *ev = &g->ev[e];
        ev->off = off;
        switch (ev->type) {
        case EV_SEARCH:
            off += 4000 + below(r, 11000);
            break;
        case EV_CATVIEW:
            off += 5000 + below(r, 25000);
            break;
        case EV_VIEW:
            off += (int64_t)ev->dwell + 2000 + below(r, 6000);
            break;
        default:
            off += 2000 + below(r, 4000);
            break;
        }
    }
    if (s->order >= 0) {
        g->od[s->order].off = off + 28000 + below(r, 150000);
        off = g->od[s->order].off + 1000;
    }
    s->dur = off;
}

struct ids {
    char cust[24], anon[24];
    size_t cust_len, anon_len;
    uint64_t num; /* s + 1 */
};

static char *p_event_head(char *p, const struct ids *id, uint64_t evn, const char *type, size_t type_len, int64_t ts,
                          int with_user, uint32_t sess_k, struct tscache *tc)
{
    p = P_LIT(p, "{\"event_id\":\"e");
    p = p_u64(p, id->num);
    *p++ = '-';
    p = p_u64(p, evn);
    p = P_LIT(p, "\",\"type\":\"");
    p = p_mem(p, type, type_len);
    p = P_LIT(p, "\",\"timestamp\":\"");
    p = p_ts(p, ts, tc);
    p = P_LIT(p, "\",\"anonymous_id\":\"");
    p = p_mem(p, id->anon, id->anon_len);
    if (with_user) {
        p = P_LIT(p, "\",\"user_id\":\"");
        p = p_mem(p, id->cust, id->cust_len);
    }
    p = P_LIT(p, "\",\"session_id\":\"s");
    p = p_u64(p, id->num);
    *p++ = '-';
    p = p_u64(p, sess_k + 1);
    *p++ = '"';
    return p;
}

static enum tl_rc emit_shopper(struct gen *g, uint64_t s, const struct tl_synth_shopper_info *in, uint32_t id_sess,
                               struct out *oe, struct out *oo, struct tl_err *err)
{
    const struct tl_synth_world *w = g->w;
    struct tl_synth_summary *sum = g->sum;
    struct ids id;
    id.num = s + 1;
    char *e = p_u64(P_LIT(id.cust, "c"), id.num);
    id.cust_len = (size_t)(e - id.cust);
    e = p_hex16(P_LIT(id.anon, "a-"), mix64(w->seed ^ mix64(TAG_ANON)) ^ mix64(s));
    id.anon_len = (size_t)(e - id.anon);
    uint64_t evn = 0;
    enum tl_rc rc;
    for (uint32_t k = 0; k < g->n_ss; k++) {
        const struct sess *ss = &g->ss[k];
        int with_user = !in->anonymous_only && k >= id_sess;
        if (with_user && k == id_sess) sum->identified++;
        for (uint32_t i = 0; i < ss->n_ev; i++) {
            const struct sev *ev = &g->ev[ss->first_ev + i];
            if ((rc = out_room(oe, err)) != TL_OK) return rc;
            char *p0 = oe->buf + oe->len, *p = p0;
            int64_t ts = ss->start + ev->off;
            evn++;
            switch (ev->type) {
            case EV_VIEW:
                p = p_event_head(p, &id, evn, "product_view", 12, ts, with_user, k, &g->tc_ev);
                p = P_LIT(p, ",\"item_id\":\"p");
                p = p_u64(p, (uint64_t)ev->item + 1);
                p = P_LIT(p, "\",\"country\":\"");
                p = p_mem(p, in->country, 2);
                p = P_LIT(p, "\",\"price\":");
                p = p_cents(p, w->item_price[ev->item]);
                p = P_LIT(p, ",\"dwell_ms\":");
                p = p_u64(p, ev->dwell);
                p = P_LIT(p, ",\"scroll_depth\":");
                if (ev->scroll >= 100) {
                    *p++ = '1';
                } else {
                    p = P_LIT(p, "0.");
                    *p++ = (char)('0' + ev->scroll / 10);
                    *p++ = (char)('0' + ev->scroll % 10);
                }
                p = P_LIT(p, "}\n");
                sum->product_views++;
                break;
            case EV_CART:
                p = p_event_head(p, &id, evn, "add_to_cart", 11, ts, with_user, k, &g->tc_ev);
                p = P_LIT(p, ",\"item_id\":\"p");
                p = p_u64(p, (uint64_t)ev->item + 1);
                p = P_LIT(p, "\",\"country\":\"");
                p = p_mem(p, in->country, 2);
                p = P_LIT(p, "\",\"quantity\":");
                p = p_u64(p, ev->qty);
                p = P_LIT(p, ",\"price\":");
                p = p_cents(p, w->item_price[ev->item]);
                p = P_LIT(p, "}\n");
                sum->add_to_carts++;
                break;
            case EV_SEARCH: {
                const struct taste *t = &w->t[ev->item];
                uint32_t cls = ev->a >> 14, idx = ev->a & 0x3fff;
                const char *word = cls == 0 ? colours[idx] : cls == 1 ? materials[idx] : cls == 2 ? styles[idx] : NULL;
                char collw[WORD_MAX];
                if (!word) {
                    snprintf(collw, sizeof collw, "%s", t->coll[idx]);
                    collw[0] = (char)(collw[0] - 'A' + 'a');
                    word = collw;
                }
                p = p_event_head(p, &id, evn, "search", 6, ts, with_user, k, &g->tc_ev);
                p = P_LIT(p, ",\"query\":\"");
                p = p_json(p, word);
                *p++ = ' ';
                p = p_json(p, leaves[ev->b / 4].noun[ev->b % 4]);
                p = P_LIT(p, "\",\"country\":\"");
                p = p_mem(p, in->country, 2);
                p = P_LIT(p, "\"}\n");
                sum->searches++;
                break;
            }
            default:
                p = p_event_head(p, &id, evn, "category_view", 13, ts, with_user, k, &g->tc_ev);
                p = P_LIT(p, ",\"category\":\"");
                p = p_json(p, leaves[ev->b].path);
                p = P_LIT(p, "\",\"country\":\"");
                p = p_mem(p, in->country, 2);
                p = P_LIT(p, "\"}\n");
                sum->category_views++;
                break;
            }
            oe->len += (size_t)(p - p0);
        }
        if (ss->order < 0) continue;
        const struct ord *od = &g->od[ss->order];
        int64_t ts = ss->start + od->off;
        int guest = !with_user;
        uint32_t on = (uint32_t)ss->order + 1;
        if ((rc = out_room(oo, err)) != TL_OK) return rc;
        char *p0 = oo->buf + oo->len, *p = p0;
        if (g->ndjson) {
            p = P_LIT(p, "{\"order_id\":\"o");
            p = p_u64(p, id.num);
            *p++ = '-';
            p = p_u64(p, on);
            *p++ = '"';
            if (!guest) {
                p = P_LIT(p, ",\"customer_id\":\"");
                p = p_mem(p, id.cust, id.cust_len);
                *p++ = '"';
            }
            p = P_LIT(p, ",\"timestamp\":\"");
            p = p_ts(p, ts, &g->tc_od);
            p = P_LIT(p, "\",\"country\":\"");
            p = p_mem(p, in->country, 2);
            p = P_LIT(p, "\",\"currency\":\"GBP\",\"lines\":[");
            for (uint32_t l = 0; l < od->n_lines; l++) {
                const struct oline *ln = &g->ol[od->first_line + l];
                if (l) *p++ = ',';
                p = P_LIT(p, "{\"item_id\":\"p");
                p = p_u64(p, (uint64_t)ln->item + 1);
                p = P_LIT(p, "\",\"quantity\":");
                p = p_u64(p, ln->qty);
                p = P_LIT(p, ",\"price\":");
                p = p_cents(p, w->item_price[ln->item]);
                *p++ = '}';
            }
            p = P_LIT(p, "]}\n");
        } else {
            for (uint32_t l = 0; l < od->n_lines; l++) {
                const struct oline *ln = &g->ol[od->first_line + l];
                *p++ = 'o';
                p = p_u64(p, id.num);
                *p++ = '-';
                p = p_u64(p, on);
                *p++ = ',';
                if (!guest) p = p_mem(p, id.cust, id.cust_len);
                *p++ = ',';
                p = p_ts(p, ts, &g->tc_od);
                *p++ = ',';
                p = p_mem(p, in->country, 2);
                p = P_LIT(p, ",GBP,p");
                p = p_u64(p, (uint64_t)ln->item + 1);
                *p++ = ',';
                p = p_u64(p, ln->qty);
                *p++ = ',';
                p = p_cents(p, w->item_price[ln->item]);
                *p++ = '\n';
            }
        }
        oo->len += (size_t)(p - p0);
        sum->orders++;
        sum->order_lines += od->n_lines;
        if (guest) sum->guest_orders++;
    }
    sum->events += evn;
    return TL_OK;
}

static enum tl_rc gen_shopper(struct gen *g, uint64_t s, double views_mean, double orders_mean, struct out *oe,
                              struct out *oo, struct tl_err *err)
{
    const struct tl_synth_world *w = g->w;
    struct tl_synth_shopper_info in;
    struct rng r;
    shopper_latent(w, s, &in, &r);
    double a = exp(0.9 * normal(&r) - 0.405);
    uint32_t n_views = 1 + poisson(&r, (views_mean - 1.0) * a);
    if (n_views > SHOPPER_VIEWS_MAX) n_views = SHOPPER_VIEWS_MAX;
    uint32_t n_orders = poisson(&r, orders_mean * a);
    if (n_orders > SHOPPER_ORDERS_MAX) n_orders = SHOPPER_ORDERS_MAX;

    /* plan sessions */
    g->n_ss = g->n_ev = g->n_od = g->n_ol = 0;
    g->ring_n = g->ring_pos = 0;
    uint32_t left = n_views;
    while (left > 0) {
        uint32_t sz = 1 + (uint32_t)floor(log(unif_pos(&r)) / log(1.0 - SESSION_GEOM_P));
        if (sz > SESSION_VIEWS_MAX) sz = SESSION_VIEWS_MAX;
        if (sz > left) sz = left;
        struct sess *ss = &g->ss[g->n_ss++];
        memset(ss, 0, sizeof *ss);
        ss->views = sz;
        left -= sz;
    }
    uint32_t n_view_sess = g->n_ss;
    if (n_orders <= n_view_sess) {
        /* n_orders distinct sessions: partial Fisher-Yates over session indices, using start as scratch */
        for (uint32_t i = 0; i < n_view_sess; i++) g->ss[i].start = i;
        for (uint32_t i = 0; i < n_orders; i++) {
            uint32_t j = i + below(&r, n_view_sess - i);
            int64_t tmp = g->ss[i].start;
            g->ss[i].start = g->ss[j].start;
            g->ss[j].start = tmp;
            g->ss[g->ss[i].start].purchase = 1;
        }
    } else {
        for (uint32_t i = 0; i < n_view_sess; i++) g->ss[i].purchase = 1;
        for (uint32_t i = n_view_sess; i < n_orders; i++) {
            struct sess *ss = &g->ss[g->n_ss++];
            memset(ss, 0, sizeof *ss);
            ss->purchase = 1;
        }
    }
    for (uint32_t i = g->n_ss; i > 1; i--) {
        uint32_t j = below(&r, i);
        struct sess tmp = g->ss[i - 1];
        g->ss[i - 1] = g->ss[j];
        g->ss[j] = tmp;
    }
    for (uint32_t i = 0; i < g->n_ss; i++) {
        double u = unif(&r), acc = 0;
        uint32_t t = in.tastes[in.n_tastes - 1];
        for (uint32_t j = 0; j < in.n_tastes; j++) {
            acc += in.weights[j];
            if (u < acc) {
                t = in.tastes[j];
                break;
            }
        }
        g->ss[i].taste = t;
        build_session(g, i, &in, &r);
    }

    /* identity: the session where a registered shopper logs in */
    uint32_t id_sess = g->n_ss; /* never */
    if (!in.anonymous_only) {
        uint32_t first_buy = g->n_ss;
        for (uint32_t i = 0; i < g->n_ss && first_buy == g->n_ss; i++)
            if (g->ss[i].purchase) first_buy = i;
        if (first_buy < g->n_ss)
            id_sess = below(&r, first_buy + 1);
        else if (unif(&r) < P_IDENTIFY_NO_ORDER)
            id_sess = below(&r, g->n_ss);
    }

    /* lay the sessions out in time */
    int64_t W = g->win_end - g->win_start;
    double need = 0;
    for (uint32_t i = 0; i < g->n_ss; i++) need += (double)g->ss[i].dur;
    need += (double)GAP_MS * (g->n_ss - 1);
    double scale = 1.0, free_ms = (double)W - need;
    if (free_ms < 0) {
        scale = (double)W / need;
        free_ms = 0;
    }
    double tot = 0;
    for (uint32_t i = 0; i <= g->n_ss; i++) {
        g->spacing[i] = expo(&r);
        tot += g->spacing[i];
    }
    double t = (double)g->win_start, cum = 0;
    for (uint32_t i = 0; i < g->n_ss; i++) {
        cum += g->spacing[i];
        struct sess *ss = &g->ss[i];
        ss->start = (int64_t)(t + free_ms * cum / tot);
        t += ((double)ss->dur + (double)GAP_MS) * scale;
        if (scale < 1.0) {
            for (uint32_t e = 0; e < ss->n_ev; e++)
                g->ev[ss->first_ev + e].off = (int64_t)(g->ev[ss->first_ev + e].off * scale);
            if (ss->order >= 0) g->od[ss->order].off = (int64_t)((double)g->od[ss->order].off * scale);
        }
    }
    return emit_shopper(g, s, &in, id_sess, oe, oo, err);
}

/* ---- files ---------------------------------------------------------------- */

const char *tl_synth_catalog_file(const struct tl_synth_opts *o)
{
    return o->ndjson ? "catalog.ndjson" : "catalog.csv";
}
const char *tl_synth_orders_file(const struct tl_synth_opts *o) { return o->ndjson ? "orders.ndjson" : "orders.csv"; }

static enum tl_rc mkdir_p(const char *dir, struct tl_err *err)
{
    char tmp[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof tmp)
        return tl_err_set(err, TL_EINVAL, "out", "output directory name is empty or too long");
    memcpy(tmp, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] != '/' && tmp[i] != '\0') continue;
        char c = tmp[i];
        tmp[i] = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return tl_err_set(err, TL_EIO, "out", "cannot create directory %s: %s", tmp, strerror(errno));
        tmp[i] = c;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return tl_err_set(err, TL_EIO, "out", "%s is not a directory", dir);
    return TL_OK;
}

static void out_close(struct out *o, int remove_it)
{
    if (o->fd >= 0) close(o->fd);
    o->fd = -1;
    if (remove_it && o->created) unlink(o->path);
    if (o->buf) o->q->pool[o->q->n_pool++] = o->buf; /* the thread has stopped */
    o->buf = NULL;
}

static enum tl_rc out_open(struct out *o, struct wq *q, int force, struct tl_err *err)
{
    o->fd = open(o->path, O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL), 0644);
    if (o->fd < 0) {
        if (errno == EEXIST)
            return tl_err_set(err, TL_EEXIST, NULL, "%s already exists (use --force to overwrite)", o->path);
        return tl_err_set(err, TL_EIO, "out", "cannot create %s: %s", o->path, strerror(errno));
    }
    o->created = 1;
    o->q = q;
    o->buf = q->pool[--q->n_pool]; /* before any flush: the pool holds 3 + WQ_SPARE */
    return TL_OK;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

enum tl_rc tl_synth_run(const struct tl_synth_opts *o, struct tl_synth_summary *sum_out, struct tl_err *err)
{
    double t0 = mono_s();
    struct tl_synth_summary sum;
    memset(&sum, 0, sizeof sum);
    int64_t now = tl_now_ms();
    enum tl_rc rc = tl_synth_check(o, now, err);
    if (rc != TL_OK) return rc;
    const char *dir = o->dir && o->dir[0] ? o->dir : ".";
    struct out outs[3];
    const char *names[3] = {tl_synth_catalog_file(o), tl_synth_orders_file(o), TL_SYNTH_EVENTS_FILE};
    memset(outs, 0, sizeof outs);
    for (int i = 0; i < 3; i++) {
        outs[i].fd = -1;
        int n = snprintf(outs[i].path, sizeof outs[i].path, "%s/%s", dir, names[i]);
        if (n < 0 || (size_t)n >= sizeof outs[i].path)
            return tl_err_set(err, TL_EINVAL, "out", "output directory name is too long");
    }
    if (!o->force)
        for (int i = 0; i < 3; i++)
            if (access(outs[i].path, F_OK) == 0)
                return tl_err_set(err, TL_EEXIST, NULL, "%s already exists (use --force to overwrite)", outs[i].path);
    if ((rc = mkdir_p(dir, err)) != TL_OK) return rc;

    struct tl_synth_world *w = NULL;
    struct gen g;
    struct wq q;
    memset(&g, 0, sizeof g);
    if ((rc = tl_synth_world_new(o, &w, err)) != TL_OK) return rc;
    if ((rc = wq_start(&q, err)) != TL_OK) goto done;
    g.w = w;
    g.ndjson = o->ndjson;
    g.sum = &sum;
    g.tc_ev.day = g.tc_od.day = INT64_MIN;
    int64_t end = o->end_ms ? o->end_ms : now - now % TL_MS_PER_HOUR;
    uint32_t days = o->days ? o->days : TL_SYNTH_DAYS_DEFAULT;
    g.win_start = end - (int64_t)days * TL_MS_PER_DAY;
    g.win_end = end - TL_MS_PER_MIN;
    g.ev = tl_malloc(EV_MAX * sizeof *g.ev);
    g.ss = tl_malloc((SESS_MAX + 1) * sizeof *g.ss);
    g.od = tl_malloc(SHOPPER_ORDERS_MAX * sizeof *g.od);
    g.ol = tl_malloc(SHOPPER_ORDERS_MAX * ORDER_LINES_MAX * sizeof *g.ol);
    g.spacing = tl_malloc((SESS_MAX + 2) * sizeof *g.spacing);
    if (!g.ev || !g.ss || !g.od || !g.ol || !g.spacing) {
        rc = tl_err_set(err, TL_ENOMEM, NULL, "out of memory for the generator");
        goto done;
    }
    for (int i = 0; i < 3; i++)
        if ((rc = out_open(&outs[i], &q, o->force, err)) != TL_OK) goto done;
    if ((rc = write_catalog(w, o->ndjson, &outs[0], err)) != TL_OK) goto done;
    if (!o->ndjson) {
        static const char hdr[] = "order_id,customer_id,timestamp,country,currency,item_id,quantity,price\n";
        memcpy(outs[1].buf, hdr, sizeof hdr - 1);
        outs[1].len = sizeof hdr - 1;
    }
    double views_mean = o->views_per_shopper >= 0 ? o->views_per_shopper : TL_SYNTH_VIEWS_DEFAULT;
    double orders_mean = o->orders_per_shopper >= 0 ? o->orders_per_shopper : TL_SYNTH_ORDERS_DEFAULT;
    struct tl_synth_progress pg = {0, o->n_shoppers, 0};
    for (uint64_t s = 0; s < o->n_shoppers; s++) {
        if ((rc = gen_shopper(&g, s, views_mean, orders_mean, &outs[2], &outs[1], err)) != TL_OK) goto done;
        if (o->progress && ((s + 1) % PROGRESS_EVERY == 0 || s + 1 == o->n_shoppers)) {
            pg.shoppers_done = s + 1;
            pg.bytes = outs[0].bytes + outs[1].bytes + outs[1].len + outs[2].bytes + outs[2].len;
            o->progress(o->progress_ctx, &pg);
        }
    }
    for (int i = 1; i < 3; i++)
        if ((rc = out_flush(&outs[i], err)) != TL_OK) goto done;
    if ((rc = wq_drain(&q, err)) != TL_OK) goto done;
    for (int i = 0; i < 3; i++) {
        if (close(outs[i].fd) != 0) {
            outs[i].fd = -1;
            rc = tl_err_set(err, TL_EIO, NULL, "cannot write %s: %s", outs[i].path, strerror(errno));
            goto done;
        }
        outs[i].fd = -1;
    }
    sum.items = o->n_items;
    sum.shoppers = o->n_shoppers;
    sum.bytes_catalog = outs[0].bytes;
    sum.bytes_orders = outs[1].bytes;
    sum.bytes_events = outs[2].bytes;
    sum.start_ms = g.win_start;
    sum.end_ms = end;
done:
    if (rc != TL_OK && q.started) {
        /* stop writing what is queued: mark failed, then let the thread finish */
        pthread_mutex_lock(&q.mu);
        q.failed = 1;
        pthread_mutex_unlock(&q.mu);
    }
    if (q.started) wq_stop_thread(&q);
    for (int i = 0; i < 3; i++) out_close(&outs[i], rc != TL_OK);
    wq_free(&q);
    tl_free(g.ev);
    tl_free(g.ss);
    tl_free(g.od);
    tl_free(g.ol);
    tl_free(g.spacing);
    tl_synth_world_free(w);
    sum.seconds = mono_s() - t0;
    if (sum_out && rc == TL_OK) *sum_out = sum;
    return rc;
}
