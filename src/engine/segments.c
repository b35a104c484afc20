/* Micro-segments of a shop's shoppers (docs/segments.md): trained with the
 * models, saved beside them, served in reports, profiles and KPI roll-ups.
 *
 * Training (tl_engine_segments_train, after each model training run):
 *   1. checkpoint, so the stored profiles are the current ones; scan the
 *      shop's stored profiles on a store handle of our own;
 *   2. per profile, the raw features of src/model/segments.h: orders and
 *      spend (tl_profile_rfm), days since last seen, mean price seen
 *      (tl_profile_price_band), product + category views, and the interest
 *      mix: over the distinct products the shopper bought or recently viewed
 *      (at most SEG_ITEMS_PER_SHOPPER: the purchased set first, then recent
 *      views), the share of them in each category dimension (a product
 *      outside every dimension, or not in the catalog at training time,
 *      counts in the total only);
 *   3. shoppers with no order and fewer than NEW_VIEWS_MIN views are "new
 *      visitors", not clustered (too little to say anything);
 *   4. the category dimensions are the TL_SEG_CATS_MAX category paths with
 *      the largest summed share over the shoppers; a product of another
 *      path counts for its longest ancestor among them (else for none);
 *   5. k-means (tl_seg_fit, k by silhouette unless config segments_k) and
 *      per segment: the summary, a unique name and a description, the top
 *      countries, and the top products: items bought or recently viewed by
 *      at least 2 of its shoppers, ranked by c_s(i) * sqrt(lift) where c_s is
 *      the segment's shoppers with the item and lift = (c_s / n_s) /
 *      (c_all / n_all) (popular in the segment AND characteristic of it).
 * Serving: a shopper's segment is computed from their live profile (nearest
 * centroid), so it follows their behaviour between trainings.
 *
 * File "<db>.segments-<shop>" (JSON, written atomically):
 *   {"format":"tailor-segments","version":1,
 *    "model":{"k","n_cats","cat_weight","price_fill","mean":[5],"sd":[5],
 *             "categories":[names],"centroids":[[5+n_cats] x k]},
 *    "report":{... the body of GET /v1/admin/segments ...}}
 * A file that does not parse or whose dimensions disagree is ignored (the
 * next training rewrites it). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "engine/internal.h"
#include "model/segments.h"

#define NEW_VIEWS_MIN 3           /* fewer views and no order: a new visitor */
#define SEG_TOP_PRODUCTS 10       /* per segment in the report */
#define SEG_TOP_COUNTRIES 3       /* per segment in the report */
#define SEG_SHOPPERS_MAX 5000000u /* profiles read by one training */
#define SEG_ITEMS_PER_SHOPPER 64  /* purchased + viewed items counted per shopper */
#define NEW_LABEL "New visitors"
#define DAY_MS 86400000.0

#define DIM_NONE 0xffffu /* item_dim value of a product outside every dimension */

struct tl_segsnap {
    struct tl_seg_model m;
    char *cats[TL_SEG_CATS_MAX];
    struct tl_u64map item_dim; /* tl_profile_item_hash(id) -> category dimension + 1, or DIM_NONE */
    char names[TL_SEG_K_MAX][TL_SEG_NAME_MAX];
    char *report; /* JSON body of GET /v1/admin/segments */
};

static void snap_free(struct tl_segsnap *g)
{
    if (!g) return;
    for (uint32_t c = 0; c < TL_SEG_CATS_MAX; c++) tl_free(g->cats[c]);
    tl_u64map_free(&g->item_dim);
    tl_free(g->report);
    tl_free(g);
}

/* Segments are replaced whole and freed only at shop close (they are small):
 * readers copy what they need under trained_mu. */
static void publish(struct tl_shop_state *s, struct tl_segsnap *g)
{
    pthread_mutex_lock(&s->trained_mu);
    struct tl_segsnap *old = s->segs;
    s->segs = g;
    pthread_mutex_unlock(&s->trained_mu);
    snap_free(old);
}

void tl_engine_segments_drop(struct tl_shop_state *s) { publish(s, NULL); }

static void seg_path(struct tl_engine *e, uint32_t shop, char *out, size_t n)
{
    snprintf(out, n, "%s.segments-%u", e->cfg.db_path, shop);
}

/* Category dimension of a path: exact, else its longest ancestor; -1. */
static int cat_dim(char *const *cats, uint32_t n, const char *path)
{
    size_t len = strlen(path);
    for (;;) {
        for (uint32_t c = 0; c < n; c++)
            if (strlen(cats[c]) == len && memcmp(cats[c], path, len) == 0) return (int)c;
        /* cut the last " > " level */
        size_t cut = 0;
        for (size_t i = 0; i + 3 <= len; i++)
            if (memcmp(path + i, " > ", 3) == 0) cut = i;
        if (!cut) return -1;
        len = cut;
    }
}

static double clock_now(struct tl_shop_state *s)
{
    int64_t now = tl_now_ms(), clock = tl_pop_clock(s->pop);
    return (double)(now > clock ? now : clock);
}

/* Numbers of a profile (categories left empty). Returns 0 for a new visitor. */
static int raw_numbers(const struct tl_profile *p, double now, struct tl_seg_raw *x)
{
    memset(x, 0, sizeof *x);
    struct tl_profile_rfm r;
    tl_profile_rfm(p, &r);
    x->orders = r.orders;
    x->monetary = r.monetary > 0 ? r.monetary : 0;
    int64_t last = tl_profile_last_seen(p);
    x->recency_days = last > 0 && now > (double)last ? (now - (double)last) / DAY_MS : 0;
    double mean, lo, hi;
    x->mean_price = tl_profile_price_band(p, &mean, &lo, &hi) ? mean : NAN;
    x->views = tl_profile_count(p, TL_EV_PRODUCT_VIEW) + tl_profile_count(p, TL_EV_CATEGORY_VIEW);
    return r.orders > 0 || x->views >= NEW_VIEWS_MIN;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* The distinct products of a profile (step 2 above) as item hashes. */
static size_t profile_items(const struct tl_profile *p, uint64_t *hs)
{
    size_t nh = tl_profile_purchased_hashes(p, hs, SEG_ITEMS_PER_SHOPPER);
    const char *ids[TL_PROFILE_RECENT_MAX];
    size_t nr = tl_profile_recent_ids(p, ids, TL_PROFILE_RECENT_MAX);
    qsort(hs, nh, sizeof *hs, cmp_u64);
    size_t nb = nh; /* hs[0..nb) is sorted: skip views of bought products */
    for (size_t i = 0; i < nr && nh < SEG_ITEMS_PER_SHOPPER; i++) {
        uint64_t h = tl_profile_item_hash(ids[i]);
        if (!bsearch(&h, hs, nb, sizeof *hs, cmp_u64)) hs[nh++] = h;
    }
    return nh;
}

/* Interest mix of a profile over the snapshot's dimensions. */
static void raw_cats(const struct tl_segsnap *g, const struct tl_profile *p, struct tl_seg_raw *x)
{
    uint64_t hs[SEG_ITEMS_PER_SHOPPER];
    size_t nh = profile_items(p, hs), known = 0;
    uint32_t cnt[TL_SEG_CATS_MAX] = {0};
    for (size_t i = 0; i < nh; i++) {
        uint64_t v;
        if (!tl_u64map_get(&g->item_dim, hs[i], &v)) continue;
        known++;
        if (v != DIM_NONE && v >= 1 && v <= g->m.n_cats) cnt[v - 1]++;
    }
    for (uint32_t c = 0; c < g->m.n_cats && known; c++) x->cat[c] = (float)cnt[c] / (float)known;
}

/* item_dim of g for the catalog (g->cats set). */
static enum tl_rc build_item_dims(struct tl_segsnap *g, struct tl_catalog *cat)
{
    enum tl_rc rc = TL_OK;
    tl_catalog_rdlock(cat);
    uint32_t n = tl_catalog_size(cat);
    for (uint32_t i = 0; i < n && !rc; i++) {
        const struct tl_item *it = tl_catalog_get(cat, i);
        if (!it || !it->id) continue;
        int d = it->category ? cat_dim(g->cats, g->m.n_cats, it->category) : -1;
        rc = tl_u64map_put(&g->item_dim, tl_profile_item_hash(it->id), d >= 0 ? (uint64_t)d + 1 : DIM_NONE);
    }
    tl_catalog_unlock(cat);
    return rc;
}

/* Segment index of p, -1 for a new visitor. Caller holds trained_mu or
 * owns g. */
static int segment_of(const struct tl_segsnap *g, const struct tl_profile *p, double now)
{
    struct tl_seg_raw x;
    if (!raw_numbers(p, now, &x)) return -1;
    raw_cats(g, p, &x);
    return (int)tl_seg_assign(&g->m, &x);
}

const char *tl_engine_segment_label(struct tl_shop_state *s, const struct tl_profile *p, int64_t now_ms, char *buf,
                                    size_t n)
{
    const char *res = NULL;
    pthread_mutex_lock(&s->trained_mu);
    if (s->segs) {
        int k = segment_of(s->segs, p, (double)now_ms);
        snprintf(buf, n, "%s", k < 0 ? NEW_LABEL : s->segs->names[k]);
        res = buf;
    }
    pthread_mutex_unlock(&s->trained_mu);
    return res;
}

enum tl_rc tl_engine_segment_json(struct tl_shop_state *s, const struct tl_profile *p, int64_t now_ms,
                                  struct tl_buf *out)
{
    char id[16], name[TL_SEG_NAME_MAX];
    int have = 0;
    pthread_mutex_lock(&s->trained_mu);
    if (s->segs) {
        int k = segment_of(s->segs, p, (double)now_ms);
        if (k < 0)
            snprintf(id, sizeof id, "new");
        else
            snprintf(id, sizeof id, "s%d", k + 1);
        snprintf(name, sizeof name, "%s", k < 0 ? NEW_LABEL : s->segs->names[k]);
        have = 1;
    }
    pthread_mutex_unlock(&s->trained_mu);
    if (!have) return TL_OK;
    json_t *o = json_pack("{s:s,s:s}", "id", id, "name", name);
    char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!txt) return TL_ENOMEM;
    enum tl_rc rc = tl_buf_append(out, ",\"segment\":", 11);
    if (!rc) rc = tl_buf_append(out, txt, strlen(txt));
    free(txt);
    return rc;
}

/* ---- training ---------------------------------------------------------------- */

struct shopper {
    struct tl_seg_raw x;
    char country[3];
    uint32_t items_off; /* into collect.items: catalog indexes (TL_CAT_NONE: not in the catalog) */
    uint8_t n_items;
};

struct collect {
    struct tl_engine *e;
    struct tl_shop_state *s;
    uint32_t shop_id;
    double now;
    struct shopper *v;
    size_t n, cap;
    uint32_t *items;
    size_t n_items, cap_items;
    struct tl_u64map item_of; /* tl_profile_item_hash(id) -> catalog index + 1 */
    uint64_t new_visitors, profiles;
    enum tl_rc rc;
};

static int profile_cb(void *ctx, uint32_t shop_id, const char *key, const void *blob, size_t len)
{
    struct collect *c = ctx;
    if (shop_id != c->shop_id) return 0;
    if (c->n >= SEG_SHOPPERS_MAX) return 1;
    if (key[0] == 'a' && key[1] == ':') { /* linked anonymous ids live in their customer's profile */
        char k2[TL_USER_KEY_MAX];
        tl_engine_user_key(c->e, shop_id, NULL, key + 2, k2);
        if (k2[0] == 'u') return 0;
    }
    struct tl_profile *p = NULL;
    struct tl_err err;
    if (tl_profile_deserialize(blob, len, &p, &err) != TL_OK) return 0; /* unreadable: skipped, as on load */
    c->profiles++;
    struct shopper sh;
    memset(&sh, 0, sizeof sh);
    if (!raw_numbers(p, c->now, &sh.x)) {
        c->new_visitors++;
        tl_profile_free(p);
        return 0;
    }
    snprintf(sh.country, sizeof sh.country, "%s", tl_profile_country(p));
    uint64_t hs[SEG_ITEMS_PER_SHOPPER];
    size_t nh = profile_items(p, hs);
    if (tl_grow((void **)&c->v, &c->cap, c->n + 1, sizeof *c->v, 1024) ||
        tl_grow((void **)&c->items, &c->cap_items, c->n_items + nh, sizeof *c->items, 1024)) {
        c->rc = TL_ENOMEM;
        tl_profile_free(p);
        return 1;
    }
    sh.items_off = (uint32_t)c->n_items;
    for (size_t i = 0; i < nh; i++) {
        uint64_t v;
        c->items[c->n_items++] = tl_u64map_get(&c->item_of, hs[i], &v) ? (uint32_t)(v - 1) : TL_CAT_NONE;
    }
    sh.n_items = (uint8_t)nh;
    c->v[c->n++] = sh;
    tl_profile_free(p);
    return 0;
}

struct ranked {
    uint32_t id;
    double v;
};

static int cmp_ranked_desc(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    if (x->v != y->v) return x->v < y->v ? 1 : -1;
    return (x->id > y->id) - (x->id < y->id);
}

/* The report and the file content for a fitted snapshot. */
static json_t *build_report(struct collect *c, struct tl_segsnap *g, const uint32_t *assign,
                            const struct tl_seg_summary *sum, const struct tl_seg_summary *all, const char *currency,
                            double seconds)
{
    uint32_t k = g->m.k;
    json_t *segs = json_array();
    uint32_t n_cat = tl_catalog_size(c->s->cat);
    uint32_t *all_cnt = tl_calloc((size_t)n_cat + 1, sizeof *all_cnt);
    uint32_t *seg_cnt = tl_calloc((size_t)n_cat + 1, sizeof *seg_cnt);
    struct ranked *rk = tl_malloc(((size_t)n_cat + 1) * sizeof *rk);
    if (!segs || !all_cnt || !seg_cnt || !rk) goto fail;
    for (size_t i = 0; i < c->n; i++)
        for (uint32_t j = 0; j < c->v[i].n_items; j++) {
            uint32_t it = c->items[c->v[i].items_off + j];
            if (it < n_cat) all_cnt[it]++;
        }
    for (uint32_t s = 0; s < k; s++) {
        memset(seg_cnt, 0, ((size_t)n_cat + 1) * sizeof *seg_cnt);
        /* countries: ISO-2 upper case (profile.h), counted in a 26 x 26 table */
        uint32_t ccount[26 * 26] = {0};
        for (size_t i = 0; i < c->n; i++) {
            if (assign[i] != s) continue;
            for (uint32_t j = 0; j < c->v[i].n_items; j++) {
                uint32_t it = c->items[c->v[i].items_off + j];
                if (it < n_cat) seg_cnt[it]++;
            }
            const char *cc = c->v[i].country;
            if (cc[0] >= 'A' && cc[0] <= 'Z' && cc[1] >= 'A' && cc[1] <= 'Z')
                ccount[(cc[0] - 'A') * 26 + (cc[1] - 'A')]++;
        }
        struct ranked cr[26 * 26];
        size_t ncr = 0;
        for (uint32_t x = 0; x < 26 * 26; x++)
            if (ccount[x]) cr[ncr++] = (struct ranked){('A' + x / 26) << 8 | ('A' + x % 26), (double)ccount[x]};
        qsort(cr, ncr, sizeof *cr, cmp_ranked_desc);
        if (ncr > SEG_TOP_COUNTRIES) ncr = SEG_TOP_COUNTRIES;
        json_t *countries = json_array();
        for (size_t q = 0; q < ncr && q < SEG_TOP_COUNTRIES; q++) {
            char cc[3] = {(char)(cr[q].id >> 8), (char)(cr[q].id & 0xff), 0};
            json_array_append_new(countries, json_pack("{s:s,s:I,s:f}", "country", cc, "shoppers", (json_int_t)cr[q].v,
                                                       "share", sum[s].size ? cr[q].v / (double)sum[s].size : 0.0));
        }
        /* top products */
        size_t nrk = 0;
        for (uint32_t i = 0; i < n_cat; i++) {
            if (seg_cnt[i] < 2 || !all_cnt[i]) continue;
            double lift = ((double)seg_cnt[i] / (double)sum[s].size) / ((double)all_cnt[i] / (double)c->n);
            rk[nrk++] = (struct ranked){i, (double)seg_cnt[i] * sqrt(lift)};
        }
        qsort(rk, nrk, sizeof *rk, cmp_ranked_desc);
        json_t *top = json_array();
        tl_catalog_rdlock(c->s->cat);
        for (size_t q = 0; q < nrk && q < SEG_TOP_PRODUCTS; q++) {
            uint32_t i = rk[q].id;
            const struct tl_item *it = tl_catalog_get(c->s->cat, i);
            if (!it) continue;
            double lift = ((double)seg_cnt[i] / (double)sum[s].size) / ((double)all_cnt[i] / (double)c->n);
            json_array_append_new(top, json_pack("{s:s,s:s?,s:I,s:f,s:f}", "item_id", it->id, "title", it->title,
                                                 "shoppers", (json_int_t)seg_cnt[i], "share",
                                                 (double)seg_cnt[i] / (double)sum[s].size, "lift", lift));
        }
        tl_catalog_unlock(c->s->cat);
        /* category shares (non-zero, largest first) */
        json_t *cats = json_array();
        struct ranked cs[TL_SEG_CATS_MAX] = {{0, 0}};
        for (uint32_t d = 0; d < g->m.n_cats; d++) cs[d] = (struct ranked){d, sum[s].cat_share[d]};
        qsort(cs, g->m.n_cats, sizeof *cs, cmp_ranked_desc);
        for (uint32_t d = 0; d < g->m.n_cats && cs[d].v >= 0.01; d++)
            json_array_append_new(cats, json_pack("{s:s,s:f,s:f}", "category", g->cats[cs[d].id], "share", cs[d].v,
                                                  "overall_share", all->cat_share[cs[d].id]));
        char desc[TL_SEG_DESC_MAX], name[TL_SEG_NAME_MAX];
        tl_seg_describe(&sum[s], all, g->m.n_cats, (const char *const *)g->cats, currency, name, sizeof name, desc,
                        sizeof desc);
        size_t dl = strlen(desc);
        if (ncr && cr[0].v / (double)(sum[s].size ? sum[s].size : 1) >= 0.5 && dl + 40 < sizeof desc)
            snprintf(desc + dl, sizeof desc - dl, " Mostly from %c%c (%.0f%%).", (char)(cr[0].id >> 8),
                     (char)(cr[0].id & 0xff), 100.0 * cr[0].v / (double)sum[s].size);
        char sid[16];
        snprintf(sid, sizeof sid, "s%u", s + 1);
        json_t *o = json_pack("{s:s,s:s,s:s,s:I,s:f,s:{s:f,s:f,s:f,s:f,s:f},s:o,s:o,s:o}", "id", sid, "name",
                              g->names[s], "description", desc, "shoppers", (json_int_t)sum[s].size, "share",
                              all->size ? (double)sum[s].size / (double)all->size : 0.0, "medians", "orders",
                              isnan(sum[s].med_orders) ? 0.0 : sum[s].med_orders, "spend",
                              isnan(sum[s].med_monetary) ? 0.0 : sum[s].med_monetary, "days_since_active",
                              isnan(sum[s].med_recency_days) ? 0.0 : sum[s].med_recency_days, "item_price",
                              isnan(sum[s].med_price) ? 0.0 : sum[s].med_price, "views",
                              isnan(sum[s].med_views) ? 0.0 : sum[s].med_views, "categories", cats, "countries",
                              countries, "top_products", top);
        if (!o) goto fail;
        json_array_append_new(segs, o);
    }
    tl_free(all_cnt);
    tl_free(seg_cnt);
    tl_free(rk);
    char at[40];
    tl_time_format(tl_now_ms(), at, sizeof at);
    return json_pack("{s:s,s:s,s:I,s:I,s:I,s:i,s:f,s:f,s:s?,s:o}", "status", "trained", "trained_at", at, "profiles",
                     (json_int_t)c->profiles, "shoppers", (json_int_t)c->n, "new_visitors", (json_int_t)c->new_visitors,
                     "k", (int)k, "silhouette", g->m.silhouette, "seconds", seconds, "currency", currency, "segments",
                     segs);
fail:
    json_decref(segs);
    tl_free(all_cnt);
    tl_free(seg_cnt);
    tl_free(rk);
    return NULL;
}

static json_t *model_json(const struct tl_segsnap *g)
{
    uint32_t d = TL_SEG_NUM + g->m.n_cats;
    json_t *mean = json_array(), *sd = json_array(), *cats = json_array(), *cent = json_array();
    for (int j = 0; j < TL_SEG_NUM; j++) {
        json_array_append_new(mean, json_real(g->m.mean[j]));
        json_array_append_new(sd, json_real(g->m.sd[j]));
    }
    for (uint32_t c = 0; c < g->m.n_cats; c++) json_array_append_new(cats, json_string(g->cats[c]));
    for (uint32_t s = 0; s < g->m.k; s++) {
        json_t *row = json_array();
        for (uint32_t j = 0; j < d; j++) json_array_append_new(row, json_real(g->m.centroids[(size_t)s * d + j]));
        json_array_append_new(cent, row);
    }
    return json_pack("{s:i,s:i,s:f,s:f,s:o,s:o,s:o,s:o}", "k", (int)g->m.k, "n_cats", (int)g->m.n_cats, "cat_weight",
                     g->m.cat_weight, "price_fill", g->m.price_fill, "mean", mean, "sd", sd, "categories", cats,
                     "centroids", cent);
}

/* Snapshot from the file's JSON; NULL if it does not fit. */
static struct tl_segsnap *snap_from_json(json_t *root)
{
    json_t *m = json_object_get(root, "model"), *rep = json_object_get(root, "report");
    if (json_integer_value(json_object_get(root, "version")) != 1 || !json_is_object(m) || !json_is_object(rep))
        return NULL;
    json_int_t k = json_integer_value(json_object_get(m, "k")), nc = json_integer_value(json_object_get(m, "n_cats"));
    json_t *mean = json_object_get(m, "mean"), *sd = json_object_get(m, "sd"), *cats = json_object_get(m, "categories"),
           *cent = json_object_get(m, "centroids"), *segs = json_object_get(rep, "segments");
    if (k < 1 || k > TL_SEG_K_MAX || nc < 0 || nc > TL_SEG_CATS_MAX || json_array_size(mean) != TL_SEG_NUM ||
        json_array_size(sd) != TL_SEG_NUM || json_array_size(cats) != (size_t)nc ||
        json_array_size(cent) != (size_t)k || json_array_size(segs) != (size_t)k)
        return NULL;
    struct tl_segsnap *g = tl_calloc(1, sizeof *g);
    if (!g) return NULL;
    g->m.k = (uint32_t)k;
    g->m.n_cats = (uint32_t)nc;
    g->m.cat_weight = json_number_value(json_object_get(m, "cat_weight"));
    g->m.price_fill = json_number_value(json_object_get(m, "price_fill"));
    uint32_t d = TL_SEG_NUM + (uint32_t)nc;
    int ok = 1;
    for (int j = 0; j < TL_SEG_NUM; j++) {
        g->m.mean[j] = json_number_value(json_array_get(mean, (size_t)j));
        g->m.sd[j] = json_number_value(json_array_get(sd, (size_t)j));
        if (!(g->m.sd[j] > 0)) ok = 0;
    }
    for (uint32_t c = 0; ok && c < (uint32_t)nc; c++) {
        const char *nm = json_string_value(json_array_get(cats, c));
        if (!nm || !(g->cats[c] = tl_strdup(nm))) ok = 0;
    }
    for (uint32_t s = 0; ok && s < (uint32_t)k; s++) {
        json_t *row = json_array_get(cent, s);
        const char *nm = json_string_value(json_object_get(json_array_get(segs, s), "name"));
        if (json_array_size(row) != d || !nm) ok = 0;
        for (uint32_t j = 0; ok && j < d; j++)
            g->m.centroids[(size_t)s * d + j] = (float)json_number_value(json_array_get(row, j));
        if (ok) snprintf(g->names[s], sizeof g->names[s], "%s", nm);
    }
    if (ok && !(g->report = json_dumps(rep, JSON_COMPACT))) ok = 0;
    if (!ok) {
        snap_free(g);
        return NULL;
    }
    /* json_dumps used malloc: keep the report in our allocator */
    char *r = tl_strdup(g->report);
    free(g->report);
    g->report = r;
    if (!r) {
        snap_free(g);
        return NULL;
    }
    return g;
}

void tl_engine_segments_load(struct tl_engine *e, struct tl_shop_state *s)
{
    char path[600];
    seg_path(e, s->id, path, sizeof path);
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) return; /* none yet */
    struct tl_segsnap *g = snap_from_json(root);
    json_decref(root);
    if (g && build_item_dims(g, s->cat) != TL_OK) {
        snap_free(g);
        g = NULL;
    }
    if (!g) {
        tl_warn("shop %u: %s is not a segments file of this version; ignored until the next training", s->id, path);
        return;
    }
    publish(s, g);
}

static const char *shop_currency(struct tl_shop_state *s, char *buf, size_t n)
{
    buf[0] = '\0';
    tl_catalog_rdlock(s->cat);
    uint32_t nc = tl_catalog_size(s->cat);
    for (uint32_t i = 0; i < nc && i < 1000 && !buf[0]; i++) {
        const struct tl_item *it = tl_catalog_get(s->cat, i);
        if (it && it->currency && *it->currency) snprintf(buf, n, "%s", it->currency);
    }
    tl_catalog_unlock(s->cat);
    return buf[0] ? buf : NULL;
}

static enum tl_rc fit_and_publish(struct collect *c, struct tl_err *err)
{
    struct tl_engine *e = c->e;
    uint64_t t0 = tl_mono_ns();
    struct tl_segsnap *g = tl_calloc(1, sizeof *g);
    struct tl_seg_raw *x = tl_calloc(c->n ? c->n : 1, sizeof *x);
    uint32_t *assign = tl_calloc(c->n ? c->n : 1, sizeof *assign);
    struct tl_strtab paths; /* category paths of the catalog */
    tl_strtab_init(&paths);
    uint32_t n_cat = tl_catalog_size(c->s->cat);
    uint32_t *path_of = tl_malloc(((size_t)n_cat + 1) * sizeof *path_of); /* catalog index -> path id */
    int16_t *dim_of = NULL;                                               /* path id -> dimension, -1 */
    struct ranked *tot = NULL;
    struct tl_seg_summary *sum = tl_calloc(TL_SEG_K_MAX, sizeof *sum), all;
    json_t *rep = NULL, *file = NULL;
    char *txt = NULL;
    enum tl_rc rc = TL_OK;
    if (!g || !x || !assign || !path_of || !sum) goto oom;
    tl_catalog_rdlock(c->s->cat);
    for (uint32_t i = 0; i < n_cat && !rc; i++) {
        const struct tl_item *it = tl_catalog_get(c->s->cat, i);
        path_of[i] = UINT32_MAX;
        if (it && it->category && *it->category) rc = tl_strtab_intern(&paths, it->category, &path_of[i]);
    }
    tl_catalog_unlock(c->s->cat);
    if (rc) goto oom;
    /* the category dimensions: largest summed share of the shoppers' products */
    tot = tl_calloc((size_t)paths.count + 1, sizeof *tot);
    dim_of = tl_malloc(((size_t)paths.count + 1) * sizeof *dim_of);
    if (!tot || !dim_of) goto oom;
    for (uint32_t i = 0; i < paths.count; i++) tot[i].id = i;
    for (size_t i = 0; i < c->n; i++)
        for (uint32_t j = 0; j < c->v[i].n_items; j++) {
            uint32_t it = c->items[c->v[i].items_off + j];
            if (it < n_cat && path_of[it] != UINT32_MAX) tot[path_of[it]].v += 1.0 / c->v[i].n_items;
        }
    qsort(tot, paths.count, sizeof *tot, cmp_ranked_desc);
    uint32_t nc = 0;
    while (nc < paths.count && nc < TL_SEG_CATS_MAX && tot[nc].v > 0) {
        if (!(g->cats[nc] = tl_strdup(tl_strtab_str(&paths, tot[nc].id)))) goto oom;
        nc++;
    }
    g->m.n_cats = nc;
    for (uint32_t i = 0; i < paths.count; i++) dim_of[i] = (int16_t)cat_dim(g->cats, nc, tl_strtab_str(&paths, i));
    if (build_item_dims(g, c->s->cat) != TL_OK) goto oom;
    for (size_t i = 0; i < c->n; i++) {
        x[i] = c->v[i].x;
        uint32_t cnt[TL_SEG_CATS_MAX] = {0}, known = 0;
        for (uint32_t j = 0; j < c->v[i].n_items; j++) { /* as raw_cats does from the profile */
            uint32_t it = c->items[c->v[i].items_off + j];
            if (it >= n_cat) continue;
            known++;
            int d = path_of[it] != UINT32_MAX ? dim_of[path_of[it]] : -1;
            if (d >= 0) cnt[d]++;
        }
        for (uint32_t d = 0; d < nc && known; d++) x[i].cat[d] = (float)cnt[d] / (float)known;
    }
    struct tl_seg_params p;
    tl_seg_params_defaults(&p);
    if (e->cfg.segments_k > 0) p.k = e->cfg.segments_k < 2 ? 2 : (uint32_t)e->cfg.segments_k;
    if ((rc = tl_seg_fit(x, c->n, nc, &p, &g->m, assign, err))) goto done;
    if ((rc = tl_seg_summarize(x, c->n, assign, g->m.k, nc, sum, &all))) {
        tl_err_set(err, rc, NULL, "out of memory summarising segments");
        goto done;
    }
    char cur[16];
    const char *currency = shop_currency(c->s, cur, sizeof cur);
    /* unique names: "(2)", "(3)" after a repeated one */
    for (uint32_t s = 0; s < g->m.k; s++) {
        char desc[8];
        tl_seg_describe(&sum[s], &all, nc, (const char *const *)g->cats, currency, g->names[s], sizeof g->names[s],
                        desc, sizeof desc);
        int rep_n = 1;
        for (uint32_t q = 0; q < s; q++) {
            size_t l = strlen(g->names[s]);
            if (strncmp(g->names[q], g->names[s], l) == 0 && (g->names[q][l] == '\0' || g->names[q][l] == ' ')) rep_n++;
        }
        if (rep_n > 1) {
            size_t l = strlen(g->names[s]);
            if (l + 6 < sizeof g->names[s]) snprintf(g->names[s] + l, sizeof g->names[s] - l, " (%d)", rep_n);
        }
    }
    rep = build_report(c, g, assign, sum, &all, currency, (double)(tl_mono_ns() - t0) / 1e9);
    json_t *mj = rep ? model_json(g) : NULL;
    file = mj ? json_pack("{s:s,s:i,s:o,s:O}", "format", "tailor-segments", "version", 1, "model", mj, "report", rep)
              : NULL;
    txt = file ? json_dumps(file, JSON_COMPACT) : NULL;
    char *r = rep ? json_dumps(rep, JSON_COMPACT) : NULL;
    g->report = r ? tl_strdup(r) : NULL;
    free(r);
    if (!txt || !g->report) {
        rc = tl_err_set(err, TL_ENOMEM, NULL, "out of memory writing the segments report");
        goto done;
    }
    char path[600];
    seg_path(e, c->shop_id, path, sizeof path);
    if (tl_engine_write_atomic(path, txt, strlen(txt), err) != TL_OK) {
        tl_warn("shop %u: segments formed but not saved: %s", c->shop_id, err ? err->msg : "");
        tl_err_clear(err);
    }
    tl_info("shop %u: %u segments of %zu shoppers (silhouette %.3f) in %.2f s", c->shop_id, g->m.k, c->n,
            g->m.silhouette, (double)(tl_mono_ns() - t0) / 1e9);
    publish(c->s, g);
    g = NULL;
done:
    free(txt);
    json_decref(file);
    json_decref(rep);
    snap_free(g);
    tl_free(x);
    tl_free(assign);
    tl_free(tot);
    tl_free(sum);
    tl_free(path_of);
    tl_free(dim_of);
    tl_strtab_free(&paths);
    return rc;
oom:
    rc = tl_err_set(err, TL_ENOMEM, NULL, "out of memory forming segments");
    goto done;
}

enum tl_rc tl_engine_segments_train(struct tl_engine *e, uint32_t shop_id, struct tl_err *err)
{
    struct tl_shop_state *s = tl_engine_shop(e, shop_id);
    if (!s) return tl_err_set(err, TL_ENOTFOUND, "shop", "shop %u does not exist", shop_id);
    if (e->cfg.segments_k < 0) return TL_OK; /* turned off */
    enum tl_rc rc = tl_engine_checkpoint(e);
    if (rc)
        tl_warn("shop %u: checkpoint before segmenting failed (%s); using the stored profiles", shop_id,
                tl_rc_message(rc));
    struct collect c = {.e = e, .s = s, .shop_id = shop_id, .now = clock_now(s)};
    tl_u64map_init(&c.item_of);
    tl_catalog_rdlock(s->cat);
    uint32_t nc = tl_catalog_size(s->cat);
    rc = TL_OK;
    for (uint32_t i = 0; i < nc && !rc; i++) {
        const char *id = tl_catalog_id(s->cat, i);
        if (id) rc = tl_u64map_put(&c.item_of, tl_profile_item_hash(id), (uint64_t)i + 1);
    }
    tl_catalog_unlock(s->cat);
    struct tl_store *st = NULL;
    if (!rc) rc = e->ops->open(e->cfg.db_path, TL_SYNC_OS, &st, err);
    if (!rc) {
        rc = e->ops->profile_scan(st, profile_cb, &c);
        if (c.rc) rc = c.rc;
        if (rc) tl_err_set(err, rc, NULL, "reading profiles for segments: %s", tl_rc_message(rc));
    }
    if (st) e->ops->close(st);
    if (!rc && c.n < 2 * 4) {
        tl_info("shop %u: %zu shoppers with history: too few for segments yet", shop_id, c.n);
    } else if (!rc)
        rc = fit_and_publish(&c, err);
    tl_free(c.v);
    tl_free(c.items);
    tl_u64map_free(&c.item_of);
    return rc;
}

/* ---- report ---------------------------------------------------------------- */

enum tl_rc tl_engine_segments_report(struct tl_engine *e, uint32_t shop_id, struct tl_buf *out, struct tl_err *err)
{
    struct tl_shop_state *s = tl_engine_shop(e, shop_id);
    if (!s) return tl_err_set(err, TL_ENOTFOUND, "shop", "shop %u does not exist", shop_id);
    enum tl_rc rc;
    pthread_mutex_lock(&s->trained_mu);
    if (s->segs && s->segs->report)
        rc = tl_buf_append(out, s->segs->report, strlen(s->segs->report));
    else {
        static const char none[] = "{\"status\":\"not_trained\",\"segments\":[],\"note\":\"segments are formed at the "
                                   "next training run (POST /v1/admin/train) once at least 8 shoppers have history\"}";
        rc = tl_buf_append(out, none, sizeof none - 1);
    }
    pthread_mutex_unlock(&s->trained_mu);
    return rc ? tl_err_set(err, rc, NULL, "out of memory") : TL_OK;
}
