/* Search in the engine: each shop's product index (search/sindex.h) kept in
 * step with the catalog, personal re-ranking, learning from behaviour, the
 * search analytics (analytics/search_stats.h), and the JSON answers of
 * GET /v1/search, /v1/browse, /v1/search/suggest and /v1/admin/search.
 *
 * Index lifecycle: at open, the saved index "<db>.search-<shop>" is loaded
 * when its fingerprint file "<db>.search-<shop>.fp" matches the catalog
 * (XXH64 over every real item's catalog index, id and updated time), else
 * the index is built from the catalog. The index names products by catalog
 * index, which is assigned as ids are first seen and not stored with the
 * items; so the fingerprint file also lists every catalog id in index
 * order ("<16 hex digits>\n" then one id per line; ids contain no control
 * characters), and before the items load those ids are interned in that
 * order (tl_engine_search_preorder): an unchanged catalog gets the same
 * indexes and the saved index stays valid. Every catalog upsert or delete
 * updates it at once (searchable when the request returns). At close a
 * changed index is saved (index first, fingerprint last, so a crash between
 * the two only costs a rebuild).
 *
 * Ranking (text relevance from the index, then):
 *   final = text * (1 + boost),  boost = P * personal + L * learned
 *   personal = (0.4 a_cat + 0.2 a_brand + 0.1 price_fit + 0.3 mf) / (sum of
 *              the weights of the signals the shopper has)
 *     a_cat    the shopper's decayed affinity to the item's category (or its
 *              deepest ancestor they have one for), / their top affinity;
 *     a_brand  the same for the brand;
 *     price_fit 1 when the price is within the shopper's price band;
 *     mf       max(0, cosine(u, v_item)) with u folded in from the shopper's
 *              recent history on the trained iALS model (when trained).
 *   learned  = score of the item for this exact (normalised) query from what
 *              shoppers clicked, carted and bought after searching it,
 *              / the query's best (analytics/search_stats.c).
 *   P = search_personalization (0.3), L = search_learning (0.5). The index
 *   calls boost() only for documents that match the query, so a shopper's
 *   tastes reorder matches and never add a non-matching item; and only for
 *   those that can still reach the page: boost_path_cb gives it an upper
 *   bound per category path (the category term exact, every other signal
 *   at its largest), so most matches outside the shopper's categories are
 *   dropped on their text alone. The hook reads category, brand and price
 *   from the index (dense arrays, memoised per path / brand id), never the
 *   catalog item, so a match costs no cache miss on the item.
 * Browse (no query): the index orders the category's products by
 * popularity; the same boost then applies (popularity x (1 + boost)).
 * Popularity (decayed sales and views, model/popularity.h) is copied into
 * the index at most every SEARCH_POP_REFRESH_MS, for the top
 * SEARCH_POP_ITEMS items (others count 0). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "engine/internal.h"
#include "engine/recs.h"
#include "ingest/event.h"
#include "model/ials.h"
#include "search/analyze.h"

#define SEARCH_POP_REFRESH_MS 60000
#define SEARCH_POP_ITEMS TL_POP_K_MAX
#define SEARCH_AFF_MAX 16
#define SEARCH_HIST_MAX 20
#define SEARCH_NAME_MAX 256
#define SEARCH_PAGE_DEFAULT 20
#define SEARCH_MEMO_SLOTS 1024 /* power of two */

/* ---- index lifecycle ---- */

static void search_cfg(const struct tl_config *c, struct tl_search_config *sc)
{
    memset(sc, 0, sizeof *sc);
    for (int i = 0; i < TL_SF_COUNT; i++) sc->b[i] = -1;
    sc->language = c->search_language[0] ? c->search_language : "english";
    sc->synonyms = c->search_synonyms[0] ? c->search_synonyms : NULL;
    if (!c->search_stop_words[0])
        sc->stop_words = NULL;
    else if (strcmp(c->search_stop_words, "none") == 0)
        sc->stop_words = "";
    else
        sc->stop_words = c->search_stop_words;
}

static void index_path(const struct tl_engine *e, uint32_t shop, const char *suffix, char *out, size_t n)
{
    snprintf(out, n, "%s.search-%u%s", e->cfg.db_path, shop, suffix);
}

static void item_doc(const struct tl_item *it, struct tl_sdoc *d)
{
    *d = (struct tl_sdoc){it->id,         it->title, it->description, it->brand,   it->category,  it->tags_json,
                          it->attrs_json, it->price, it->available,   it->visible, it->created_ms};
}

static uint64_t catalog_fingerprint(struct tl_catalog *cat)
{
    uint64_t h = 0x7365617263680001ULL;
    tl_catalog_rdlock(cat);
    uint32_t n = tl_catalog_size(cat);
    for (uint32_t i = 0; i < n; i++) {
        const struct tl_item *it = tl_catalog_get(cat, i);
        if (!it) continue;
        h = tl_hash_str(it->id, h ^ tl_hash_u64(i));
        h ^= tl_hash_u64((uint64_t)it->updated_ms + 0x9e3779b97f4a7c15ULL * (i + 1));
    }
    tl_catalog_unlock(cat);
    return h;
}

static int read_fp(const char *path, uint64_t *fp)
{
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    unsigned long long v = 0;
    int ok = fscanf(f, "%16llx", &v) == 1;
    fclose(f);
    *fp = v;
    return ok;
}

void tl_engine_search_preorder(struct tl_engine *e, struct tl_shop_state *s)
{
    if (e->cfg.admin_only) return;
    char fpp[1100];
    index_path(e, s->id, ".fp", fpp, sizeof fpp);
    FILE *f = fopen(fpp, "r");
    if (!f) return;
    char line[TL_ID_MAX + 8];
    uint32_t n = 0;
    if (fgets(line, sizeof line, f)) /* the fingerprint */
        while (fgets(line, sizeof line, f) && n < TL_CATALOG_MAX_ITEMS) {
            size_t l = strcspn(line, "\n");
            if (line[l] != '\n' || l == 0) break; /* damaged or truncated: stop (a rebuild follows) */
            line[l] = '\0';
            uint32_t idx;
            if (tl_catalog_intern(s->cat, line, &idx) != TL_OK || idx != n) break;
            n++;
        }
    fclose(f);
}

static void write_fp(struct tl_catalog *cat, const char *path, uint64_t fp)
{
    char tmp[1200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) return;
    FILE *f = fopen(tmp, "w");
    if (!f) return;
    fprintf(f, "%016llx\n", (unsigned long long)fp);
    tl_catalog_rdlock(cat);
    uint32_t n = tl_catalog_size(cat);
    for (uint32_t i = 0; i < n; i++) fprintf(f, "%s\n", tl_catalog_id(cat, i));
    tl_catalog_unlock(cat);
    int ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        tl_warn("could not write %s", path);
    }
}

static void refresh_popularity(struct tl_shop_state *s, int64_t now, int force)
{
    if (!s->six) return;
    if (!force && now - s->six_pop_ms < SEARCH_POP_REFRESH_MS) return;
    pthread_mutex_lock(&s->six_mu);
    if (force || now - s->six_pop_ms >= SEARCH_POP_REFRESH_MS) {
        s->six_pop_ms = now;
        tl_catalog_rdlock(s->cat);
        uint32_t n = tl_catalog_size(s->cat);
        tl_catalog_unlock(s->cat);
        size_t k = n < SEARCH_POP_ITEMS ? n : SEARCH_POP_ITEMS;
        struct tl_pop_hit *hits = tl_malloc((k ? k : 1) * sizeof *hits);
        float *pop = tl_calloc(n ? n : 1, sizeof *pop);
        size_t got = 0;
        if (hits && pop && tl_pop_top(s->pop, TL_POP_POPULAR, NULL, k, NULL, NULL, hits, &got, NULL) == TL_OK) {
            for (size_t i = 0; i < got; i++)
                if (hits[i].item < n) pop[hits[i].item] = (float)hits[i].score;
            tl_sindex_set_popularity(s->six, pop, n);
        }
        tl_free(hits);
        tl_free(pop);
    }
    pthread_mutex_unlock(&s->six_mu);
}

void tl_engine_search_open(struct tl_engine *e, struct tl_shop_state *s)
{
    if (e->cfg.admin_only || s->six) return;
    struct tl_search_config sc;
    search_cfg(&e->cfg, &sc);
    char path[1100], fpp[1100];
    index_path(e, s->id, "", path, sizeof path);
    index_path(e, s->id, ".fp", fpp, sizeof fpp);
    uint64_t fp = catalog_fingerprint(s->cat), saved = 0;
    struct tl_err err;
    tl_err_clear(&err);
    uint64_t t0 = tl_mono_ns();
    if (read_fp(fpp, &saved) && saved == fp && tl_sindex_load(&sc, path, &s->six, &err) == TL_OK) {
        s->six_fp = fp;
        tl_info("shop %u: search index loaded (%zu products, %.0f ms)", s->id, tl_sindex_count(s->six),
                (double)(tl_mono_ns() - t0) / 1e6);
    } else {
        if (err.rc && err.rc != TL_ENOTFOUND)
            tl_warn("shop %u: search index not loaded (%s); rebuilding", s->id, err.msg);
        tl_err_clear(&err);
        if (tl_sindex_new(&sc, &s->six, &err) != TL_OK) {
            tl_warn("shop %u: search disabled: %s", s->id, err.msg);
            s->six = NULL;
            return;
        }
        tl_catalog_rdlock(s->cat);
        uint32_t n = tl_catalog_size(s->cat);
        size_t added = 0;
        for (uint32_t i = 0; i < n; i++) {
            const struct tl_item *it = tl_catalog_get(s->cat, i);
            if (!it) continue;
            struct tl_sdoc d;
            item_doc(it, &d);
            if (tl_sindex_upsert(s->six, i, &d) == TL_OK) added++;
        }
        tl_catalog_unlock(s->cat);
        s->six_fp = fp;
        s->six_dirty = added > 0;
        if (added)
            tl_info("shop %u: search index built (%zu products, %.0f ms)", s->id, added,
                    (double)(tl_mono_ns() - t0) / 1e6);
    }
    refresh_popularity(s, tl_now_ms(), 1);
}

void tl_engine_search_close(struct tl_engine *e, struct tl_shop_state *s)
{
    if (!s->six) return;
    if (s->six_dirty && !e->discard) {
        char path[1100], fpp[1100];
        index_path(e, s->id, "", path, sizeof path);
        index_path(e, s->id, ".fp", fpp, sizeof fpp);
        uint64_t fp = catalog_fingerprint(s->cat);
        struct tl_err err;
        tl_err_clear(&err);
        unlink(fpp); /* the old fingerprint must not vouch for a half-written index */
        if (tl_sindex_save(s->six, path, &err) == TL_OK)
            write_fp(s->cat, fpp, fp);
        else
            tl_warn("shop %u: search index not saved: %s", s->id, err.msg);
    }
    tl_sindex_free(s->six);
    s->six = NULL;
}

void tl_engine_search_item(struct tl_shop_state *s, uint32_t idx, const struct tl_item *it)
{
    if (!s || !s->six || idx == TL_CAT_NONE) return;
    if (it) {
        struct tl_sdoc d;
        item_doc(it, &d);
        tl_sindex_upsert(s->six, idx, &d);
    } else {
        tl_sindex_remove(s->six, idx);
    }
    s->six_dirty = 1;
}

/* ---- behaviour -> analytics and learning ---- */

static uint64_t shopper_hash(struct tl_engine *e, uint32_t shop, const char *user_id, const char *anonymous_id)
{
    if (!user_id && !anonymous_id) return 0;
    char key[TL_USER_KEY_MAX];
    tl_engine_user_key(e, shop, user_id, anonymous_id, key);
    uint64_t h = tl_hash_str(key, 0x73727368ULL ^ shop);
    return h ? h : 1;
}

/* A stored search event (from the store scan: the query and, for the
 * server's own record, "results" are only in the body). */
static void search_from_body(struct tl_engine *e, const struct tl_event *ev)
{
    json_error_t je;
    json_t *o = ev->body ? json_loads(ev->body, 0, &je) : NULL;
    const char *q = o ? json_string_value(json_object_get(o, "query")) : NULL;
    json_t *v = o ? json_object_get(o, "results") : NULL;
    long results = json_is_integer(v) && json_integer_value(v) >= 0 ? (long)json_integer_value(v) : -1;
    if (q)
        tl_sstats_search(e->sstats, ev->shop_id, shopper_hash(e, ev->shop_id, ev->user_id, ev->anonymous_id), q,
                         results, ev->ts_ms);
    json_decref(o);
}

void tl_engine_search_event(struct tl_engine *e, const struct tl_event *ev)
{
    if (!e->sstats) return;
    struct tl_shop_state *s;
    switch (ev->type) {
    case TL_EV_SEARCH:
        if (ev->query) /* a live event from a storefront: results unknown */
            tl_sstats_search(e->sstats, ev->shop_id, shopper_hash(e, ev->shop_id, ev->user_id, ev->anonymous_id),
                             ev->query, -1, ev->ts_ms);
        else
            search_from_body(e, ev);
        return;
    case TL_EV_PRODUCT_VIEW:
    case TL_EV_ADD_TO_CART:
    case TL_EV_PURCHASE:
        break;
    default:
        return;
    }
    if (!(s = tl_engine_shop(e, ev->shop_id))) return;
    uint64_t who = shopper_hash(e, ev->shop_id, ev->user_id, ev->anonymous_id);
    if (!who) return;
    if (ev->type == TL_EV_PURCHASE) {
        for (size_t i = 0; i < ev->n_lines; i++) {
            uint32_t idx = tl_catalog_find(s->cat, ev->lines[i].item_id);
            if (idx != TL_CAT_NONE)
                tl_sstats_action(e->sstats, ev->shop_id, who, idx, TL_SSTATS_PURCHASE, 0, ev->ts_ms);
        }
        return;
    }
    uint32_t idx = ev->item_id ? tl_catalog_find(s->cat, ev->item_id) : TL_CAT_NONE;
    if (idx == TL_CAT_NONE) return;
    tl_sstats_action(e->sstats, ev->shop_id, who, idx,
                     ev->type == TL_EV_PRODUCT_VIEW ? TL_SSTATS_CLICK : TL_SSTATS_CART, 0, ev->ts_ms);
}

/* The server's own record of an API search: a stored `search` event with
 * the number of results (so zero-result queries are known), written
 * asynchronously (a search never waits for the disk). */
static void log_search(struct tl_engine *e, uint32_t shop, const struct tl_search_req *q, const char *sid,
                       uint64_t total, const char *mode, int64_t now)
{
    struct tl_buf f;
    tl_buf_init(&f, 0);
    tl_buf_puts(&f, "\"query\":");
    tl_buf_json_str(&f, q->q);
    tl_buf_printf(&f, ",\"results\":%llu,\"mode\":\"%s\",\"search_id\":\"%s\",\"source\":\"api\"",
                  (unsigned long long)total, mode, sid);
    if (f.data) tl_engine_log_event(e, shop, TL_EV_SEARCH, q->user_id, q->anonymous_id, now, f.data);
    tl_buf_free(&f);
}

/* ---- personal re-ranking ---- */

struct pctx {
    const struct tl_catalog *cat; /* read-locked for the whole search */
    char cats[SEARCH_AFF_MAX][SEARCH_NAME_MAX];
    double cat_w[SEARCH_AFF_MAX];
    size_t ncat;
    char brands[SEARCH_AFF_MAX][SEARCH_NAME_MAX];
    double brand_w[SEARCH_AFF_MAX];
    size_t nbrand;
    int has_band;
    double band_lo, band_hi;
    const struct tl_trained *t;
    const struct tl_ials *ials;
    float u[256];
    double unorm;
    /* per-request memo of category and brand affinity by index id (see memo()) */
    uint32_t memo_path[SEARCH_MEMO_SLOTS], memo_brand[SEARCH_MEMO_SLOTS]; /* id + 1, 0 = empty */
    float memo_pval[SEARCH_MEMO_SLOTS], memo_bval[SEARCH_MEMO_SLOTS];
    const struct tl_sindex *ix;              /* the index being searched (for its path and brand ids) */
    int personal;                            /* the shopper has some affinity signal */
    uint32_t learned[TL_SSTATS_LEARNED_MAX]; /* sorted by item */
    double learned_w[TL_SSTATS_LEARNED_MAX];
    size_t nlearned;
    double learned_max, brand_max; /* largest learned_w / brand_w (for boost_path_cb) */
    double wp, wl;
};

static double category_affinity_of(const struct pctx *c, const char *cat)
{
    if (!cat) return 0;
    double best = 0;
    for (size_t i = 0; i < c->ncat; i++) {
        size_t n = strlen(c->cats[i]);
        if (strncasecmp(cat, c->cats[i], n) == 0 && (cat[n] == '\0' || strncmp(cat + n, " > ", 3) == 0) &&
            c->cat_w[i] > best)
            best = c->cat_w[i];
    }
    return best;
}

static double brand_affinity_of(const struct pctx *c, const char *folded)
{
    for (size_t i = 0; folded && i < c->nbrand; i++)
        if (strcmp(folded, c->brands[i]) == 0) return c->brand_w[i];
    return 0;
}

/* Memoised per request by the index's category path id / brand id in a
 * direct-mapped table (slot = id mod SEARCH_MEMO_SLOTS; a collision just
 * recomputes): a search matches many products of few categories and
 * brands (boost_cb runs on the search's one thread). */
static double memo(struct pctx *c, int kind, uint32_t id)
{
    uint32_t *key = kind == 1 ? c->memo_path : c->memo_brand;
    float *val = kind == 1 ? c->memo_pval : c->memo_bval;
    uint32_t i = id & (SEARCH_MEMO_SLOTS - 1);
    if (key[i] == id + 1) return val[i];
    double v = kind == 1 ? category_affinity_of(c, tl_sindex_path_str(c->ix, id))
                         : brand_affinity_of(c, tl_sindex_brand_str(c->ix, id));
    key[i] = id + 1;
    val[i] = (float)v;
    return v;
}

static double boost_cb(void *ctx, uint32_t doc)
{
    struct pctx *c = ctx;
    double learned = 0;
    if (c->nlearned) {
        size_t lo = 0, hi = c->nlearned;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (c->learned[mid] < doc)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < c->nlearned && c->learned[lo] == doc) learned = c->learned_w[lo];
    }
    if (c->wp <= 0 || !c->personal) return c->wl * learned;
    double personal = 0, wsum = 0;
    uint32_t path, brand;
    tl_sindex_doc_keys(c->ix, doc, &path, &brand);
    if (c->ncat) personal += 0.4 * (path != UINT32_MAX ? memo(c, 1, path) : 0), wsum += 0.4;
    if (c->nbrand) personal += 0.2 * (brand != UINT32_MAX ? memo(c, 2, brand) : 0), wsum += 0.2;
    if (c->has_band) {
        /* the price as indexed (kept in step with the catalog item): a dense
         * array, where the item itself would be a cache miss per match */
        double price = tl_sindex_doc_price(c->ix, doc);
        personal += 0.1 * (!isnan(price) && price >= c->band_lo && price <= c->band_hi);
        wsum += 0.1;
    }
    if (c->ials && c->unorm > 0) {
        uint32_t m = tl_trained_from_cat(c->t, doc);
        const float *v = m != TL_MODEL_NONE && m < tl_ials_n_items(c->ials) ? tl_ials_item(c->ials, m) : NULL;
        if (v) {
            uint32_t f = tl_ials_factors(c->ials);
            double dot = 0, vn = 0;
            for (uint32_t k = 0; k < f; k++) dot += (double)c->u[k] * v[k], vn += (double)v[k] * v[k];
            double cosv = vn > 0 ? dot / (c->unorm * sqrt(vn)) : 0;
            personal += 0.3 * (cosv > 0 ? cosv : 0);
        }
        wsum += 0.3;
    }
    return c->wp * (wsum > 0 ? personal / wsum : 0) + c->wl * learned;
}

/* Upper bound of boost_cb over the products whose deepest category is
 * path: the same sum with the category term exact and every other signal
 * at its largest (brand: the shopper's top brand weight; price fit 1;
 * cosine 1; learned: the query's top item), times 1 + 1e-6 so the float
 * memo values and rounding can never put a product's boost above it. The
 * index asks once per path and search and skips products whose text x
 * (1 + bound) cannot reach the top (sindex.h). */
static double boost_path_cb(void *ctx, uint32_t path)
{
    struct pctx *c = ctx;
    double learned = c->nlearned ? c->learned_max : 0;
    if (c->wp <= 0 || !c->personal) return (c->wl * learned) * (1 + 1e-6);
    double personal = 0, wsum = 0;
    if (c->ncat)
        personal += 0.4 * (path != UINT32_MAX ? category_affinity_of(c, tl_sindex_path_str(c->ix, path)) : 0),
            wsum += 0.4;
    if (c->nbrand) personal += 0.2 * c->brand_max, wsum += 0.2;
    if (c->has_band) personal += 0.1, wsum += 0.1;
    if (c->ials && c->unorm > 0) personal += 0.3, wsum += 0.3;
    return (c->wp * (wsum > 0 ? personal / wsum : 0) + c->wl * learned) * (1 + 1e-6);
}

static int cmp_learned(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Load what the shopper's profile says (copied: the profile lock is not
 * held while searching). */
static void load_personal(struct tl_engine *e, struct tl_shop_state *s, uint32_t shop, const char *user_id,
                          const char *anonymous_id, int64_t now, struct pctx *c)
{
    if (!user_id && !anonymous_id) return;
    char key[TL_USER_KEY_MAX];
    tl_engine_user_key(e, shop, user_id, anonymous_id, key);
    struct tl_profile *p;
    struct tl_pcache_guard g;
    if (tl_pcache_lock(e->profiles, shop, key, 0, &p, &g) != TL_OK) return;
    const char *names[SEARCH_AFF_MAX];
    double sc[SEARCH_AFF_MAX];
    size_t n = tl_profile_top_affinities(p, TL_PROFILE_CATEGORY, now, names, sc, SEARCH_AFF_MAX);
    for (size_t i = 0; i < n && sc[0] > 0; i++) {
        snprintf(c->cats[c->ncat], SEARCH_NAME_MAX, "%s", names[i]);
        c->cat_w[c->ncat++] = sc[i] / sc[0];
    }
    n = tl_profile_top_affinities(p, TL_PROFILE_BRAND, now, names, sc, SEARCH_AFF_MAX);
    for (size_t i = 0; i < n && sc[0] > 0; i++) {
        tl_sanalyze_fold(names[i], c->brands[c->nbrand], SEARCH_NAME_MAX); /* as the index folds brands */
        c->brand_w[c->nbrand++] = sc[i] / sc[0];
    }
    double mean;
    c->has_band = tl_profile_price_band(p, &mean, &c->band_lo, &c->band_hi);
    uint32_t hist[SEARCH_HIST_MAX];
    size_t nh = 0, nv = 0;
    const struct tl_profile_view *v = tl_profile_views(p, &nv);
    if (c->t && c->ials)
        for (size_t i = 0; i < nv && nh < SEARCH_HIST_MAX; i++) {
            uint32_t ci = tl_catalog_find_locked(s->cat, v[i].item_id);
            uint32_t m = ci != TL_CAT_NONE ? tl_trained_from_cat(c->t, ci) : TL_MODEL_NONE;
            if (m != TL_MODEL_NONE) hist[nh++] = m;
        }
    tl_pcache_unlock(&g);
    if (nh && tl_ials_factors(c->ials) <= sizeof c->u / sizeof c->u[0] &&
        tl_ials_fold_in(c->ials, hist, NULL, nh, c->u) == TL_OK) {
        double n2 = 0;
        for (uint32_t k = 0; k < tl_ials_factors(c->ials); k++) n2 += (double)c->u[k] * c->u[k];
        c->unorm = sqrt(n2);
    }
}

/* ---- answers ---- */

static const char *mode_name(enum tl_smode m)
{
    switch (m) {
    case TL_SMODE_EXACT:
        return "exact";
    case TL_SMODE_CORRECTED:
        return "corrected";
    case TL_SMODE_RELAXED:
        return "relaxed";
    case TL_SMODE_FALLBACK:
        return "fallback";
    case TL_SMODE_BROWSE:
        return "browse";
    }
    return "exact";
}

static int parse_sort(const char *s, enum tl_ssort *out)
{
    static const struct {
        const char *name;
        enum tl_ssort v;
    } sorts[] = {{"relevance", TL_SSORT_RELEVANCE},
                 {"price_asc", TL_SSORT_PRICE_ASC},
                 {"price_desc", TL_SSORT_PRICE_DESC},
                 {"newest", TL_SSORT_NEWEST},
                 {"popular", TL_SSORT_POPULAR}};
    if (!s || !*s) {
        *out = TL_SSORT_RELEVANCE;
        return 1;
    }
    for (size_t i = 0; i < sizeof sorts / sizeof sorts[0]; i++)
        if (strcmp(s, sorts[i].name) == 0) {
            *out = sorts[i].v;
            return 1;
        }
    return 0;
}

#define SEARCH_BRANDS_MAX 20
#define SEARCH_ATTRS_MAX 10
#define SEARCH_LIST_BYTES 2048

/* Split "a,b,c" into up to max trimmed non-empty parts inside buf. */
static size_t split_list(const char *s, char *buf, size_t cap, const char **parts, size_t max)
{
    if (!s) return 0;
    snprintf(buf, cap, "%s", s);
    size_t n = 0;
    for (char *p = buf, *next; p && *p && n < max; p = next) {
        next = strchr(p, ',');
        if (next) *next++ = '\0';
        while (*p == ' ') p++;
        size_t l = strlen(p);
        while (l && p[l - 1] == ' ') p[--l] = '\0';
        if (*p) parts[n++] = p;
    }
    return n;
}

static void facets_json(struct tl_buf *out, const struct tl_sresult *r)
{
    tl_buf_puts(out, ",\"facets\":{");
    for (size_t i = 0; i < r->n_facets; i++) {
        const struct tl_sfacet *f = &r->facets[i];
        if (i) tl_buf_putc(out, ',');
        tl_buf_json_str(out, f->name);
        tl_buf_puts(out, ":[");
        for (size_t j = 0; j < f->n; j++) {
            if (j) tl_buf_putc(out, ',');
            tl_buf_puts(out, "{\"value\":");
            tl_buf_json_str(out, f->v[j].value);
            tl_buf_printf(out, ",\"count\":%u}", f->v[j].count);
        }
        tl_buf_putc(out, ']');
    }
    tl_buf_putc(out, '}');
}

static void hit_json(struct tl_buf *out, const struct tl_item *it, const struct tl_shit *h, int first)
{
    if (!first) tl_buf_putc(out, ',');
    tl_recs_item_fields_json(out, it);
    tl_buf_puts(out, ",\"category\":");
    tl_buf_json_str_or_null(out, it->category);
    tl_buf_puts(out, ",\"brand\":");
    tl_buf_json_str_or_null(out, it->brand);
    tl_buf_printf(out, ",\"available\":%s,\"score\":%.6g", it->available ? "true" : "false", (double)h->score);
    if (h->corrected) tl_buf_puts(out, ",\"corrected\":true");
    tl_buf_putc(out, '}');
}

enum tl_rc tl_engine_search(struct tl_engine *e, uint32_t shop_id, const struct tl_search_req *q, struct tl_buf *out,
                            struct tl_err *err)
{
    struct tl_shop_state *s = tl_engine_shop(e, shop_id);
    if (!s) return tl_err_set(err, TL_ENOTFOUND, NULL, "shop %u does not exist", shop_id);
    if (!s->six) return tl_err_set(err, TL_EBUSY, NULL, "the search index is not available");
    if (q->browse && (!q->category || !*q->category))
        return tl_err_set(err, TL_EINVAL, "category", "category is required: the category path to list");
    if (q->q && strlen(q->q) > 1000) return tl_err_set(err, TL_ETOOBIG, "q", "the query is longer than 1000 bytes");
    enum tl_ssort sort;
    if (!parse_sort(q->sort, &sort))
        return tl_err_set(err, TL_EINVAL, "sort", "sort must be relevance, price_asc, price_desc, newest or popular");
    if (!isnan(q->min_price) && !isnan(q->max_price) && q->min_price > q->max_price)
        return tl_err_set(err, TL_EINVAL, "min_price", "min_price is above max_price");
    long page = q->page > 0 ? q->page : 1, per = q->per_page > 0 ? q->per_page : SEARCH_PAGE_DEFAULT;
    if ((uint64_t)(page - 1) * (uint64_t)per > TL_SEARCH_OFFSET_MAX)
        return tl_err_set(err, TL_EINVAL, "page", "page * per_page may not pass %d results", TL_SEARCH_OFFSET_MAX);

    char blist[SEARCH_LIST_BYTES], alist[SEARCH_LIST_BYTES];
    const char *brands[SEARCH_BRANDS_MAX], *apairs[SEARCH_ATTRS_MAX];
    size_t nb = split_list(q->brand, blist, sizeof blist, brands, SEARCH_BRANDS_MAX);
    size_t na = split_list(q->attrs, alist, sizeof alist, apairs, SEARCH_ATTRS_MAX);
    struct tl_sattr_filter attrs[SEARCH_ATTRS_MAX];
    for (size_t i = 0; i < na; i++) {
        char *colon = strchr((char *)apairs[i], ':');
        if (!colon || colon == apairs[i] || !colon[1])
            return tl_err_set(err, TL_EINVAL, "attrs", "attrs must be key:value pairs separated by commas");
        *colon = '\0';
        attrs[i].key = apairs[i];
        attrs[i].value = colon + 1;
    }

    int64_t now = tl_now_ms();
    refresh_popularity(s, now, 0);
    const char *text = q->browse ? "" : (q->q ? q->q : "");

    struct pctx *pc = tl_calloc(1, sizeof *pc);
    struct tl_sresult *r = tl_malloc(sizeof *r);
    if (!pc || !r) {
        tl_free(pc);
        tl_free(r);
        return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    }
    pc->wp = e->cfg.search_personalization;
    if (q->user_id || q->anonymous_id) { /* an A/B arm may change or turn off personalization */
        struct tl_exp_treatment tr;
        /* page type "search" or "category" for experiments targeted by page type */
        tl_engine_exp_treatment_for(e, shop_id, TL_EXP_SEARCH, q->user_id, q->anonymous_id,
                                    q->browse ? "category" : "search", NULL, &tr);
        if (!tr.personalization)
            pc->wp = 0;
        else if (!isnan(tr.search_personalization))
            pc->wp = tr.search_personalization;
    }
    pc->wl = e->cfg.search_learning;
    struct tl_trained *t = pc->wp > 0 ? tl_engine_trained(s) : NULL;
    if (t) {
        pc->t = t;
        pc->ials = tl_trained_find(t, "ials", NULL);
        if (pc->ials && tl_ials_factors(pc->ials) > sizeof pc->u / sizeof pc->u[0]) pc->ials = NULL;
    }
    tl_catalog_rdlock(s->cat);
    if (pc->wp > 0) load_personal(e, s, shop_id, q->user_id, q->anonymous_id, now, pc);
    char norm[TL_SSTATS_QUERY_MAX + 1];
    if (pc->wl > 0 && *text && tl_sstats_normalize(text, norm, sizeof norm)) {
        pc->nlearned =
            tl_sstats_learned(e->sstats, shop_id, norm, now, pc->learned, pc->learned_w, TL_SSTATS_LEARNED_MAX);
        /* sort (item, weight) pairs by item for the binary search in boost_cb */
        struct {
            uint32_t item;
            double w;
        } tmp[TL_SSTATS_LEARNED_MAX] = {{0, 0}};
        for (size_t i = 0; i < pc->nlearned; i++) tmp[i].item = pc->learned[i], tmp[i].w = pc->learned_w[i];
        qsort(tmp, pc->nlearned, sizeof tmp[0], cmp_learned);
        for (size_t i = 0; i < pc->nlearned; i++) pc->learned[i] = tmp[i].item, pc->learned_w[i] = tmp[i].w;
    }
    for (size_t i = 0; i < pc->nlearned; i++)
        if (pc->learned_w[i] > pc->learned_max) pc->learned_max = pc->learned_w[i];
    for (size_t i = 0; i < pc->nbrand; i++)
        if (pc->brand_w[i] > pc->brand_max) pc->brand_max = pc->brand_w[i];
    pc->cat = s->cat;
    pc->ix = s->six;
    int personal = pc->ncat || pc->nbrand || pc->has_band || pc->unorm > 0;
    pc->personal = personal;
    struct tl_squery sq = {
        .q = text,
        .category = q->category && *q->category ? q->category : NULL,
        .brands = brands,
        .n_brands = nb,
        .min_price = q->min_price,
        .max_price = q->max_price,
        .available_only = q->available_only,
        .attrs = attrs,
        .n_attrs = na,
        .sort = sort,
        .offset = (uint32_t)((page - 1) * per),
        .limit = (uint32_t)per,
        .facets = q->facets,
        .boost_max = (personal ? pc->wp : 0) + (pc->nlearned ? pc->wl : 0),
        .boost = (personal || pc->nlearned) ? boost_cb : NULL,
        .boost_ctx = pc,
        .boost_path_max = (personal || pc->nlearned) ? boost_path_cb : NULL,
    };
    enum tl_rc rc = tl_sindex_search(s->six, &sq, r, err);
    char sid[32];
    tl_engine_random_id("s_", sid, sizeof sid);
    if (rc == TL_OK) {
        tl_buf_puts(out, "{\"search_id\":");
        tl_buf_json_str(out, sid);
        tl_buf_puts(out, ",\"query\":");
        tl_buf_json_str(out, text);
        tl_buf_printf(out, ",\"mode\":\"%s\"", mode_name(r->mode));
        if (r->mode == TL_SMODE_CORRECTED && r->corrected_q[0]) {
            tl_buf_puts(out, ",\"corrected_query\":");
            tl_buf_json_str(out, r->corrected_q);
        }
        /* total counts matches: a fallback to popular products matched nothing */
        tl_buf_printf(out, ",\"total\":%llu,\"page\":%ld,\"per_page\":%ld,\"personalized\":%s,\"items\":[",
                      (unsigned long long)(r->mode == TL_SMODE_FALLBACK ? 0 : r->total), page, per,
                      personal || pc->nlearned ? "true" : "false");
        int first = 1;
        for (size_t i = 0; i < r->n_hits; i++) {
            const struct tl_item *it = tl_catalog_get(s->cat, r->hits[i].doc);
            if (!it) continue;
            hit_json(out, it, &r->hits[i], first);
            first = 0;
        }
        tl_buf_putc(out, ']');
        if (q->facets) facets_json(out, r);
        tl_buf_putc(out, '}');
    }
    tl_catalog_unlock(s->cat);
    if (t) tl_trained_release(t);
    if (rc == TL_OK && *text && page == 1 && (q->user_id || q->anonymous_id) && e->writer) {
        uint64_t total = r->mode == TL_SMODE_FALLBACK ? 0 : r->total;
        tl_sstats_search(e->sstats, shop_id, shopper_hash(e, shop_id, q->user_id, q->anonymous_id), text, (long)total,
                         now);
        log_search(e, shop_id, q, sid, total, mode_name(r->mode), now);
    }
    tl_free(pc);
    tl_free(r);
    return rc;
}

#define SUGGEST_LIMIT_MAX 20

enum tl_rc tl_engine_search_suggest(struct tl_engine *e, uint32_t shop_id, const char *q, long limit,
                                    struct tl_buf *out, struct tl_err *err)
{
    struct tl_shop_state *s = tl_engine_shop(e, shop_id);
    if (!s) return tl_err_set(err, TL_ENOTFOUND, NULL, "shop %u does not exist", shop_id);
    if (!s->six) return tl_err_set(err, TL_EBUSY, NULL, "the search index is not available");
    if (!q) q = "";
    if (strlen(q) > 200) return tl_err_set(err, TL_ETOOBIG, "q", "the query is longer than 200 bytes");
    if (limit <= 0) limit = 5;
    if (limit > SUGGEST_LIMIT_MAX) limit = SUGGEST_LIMIT_MAX;
    char norm[TL_SSTATS_QUERY_MAX + 1];
    size_t nn = tl_sstats_normalize(q, norm, sizeof norm);
    char(*qs)[TL_SSTATS_QUERY_MAX + 1] = tl_malloc(SUGGEST_LIMIT_MAX * sizeof *qs);
    if (!qs) return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    uint32_t counts[SUGGEST_LIMIT_MAX];
    size_t nq = nn ? tl_sstats_complete(e->sstats, shop_id, norm, qs, counts, (size_t)limit) : 0;
    tl_buf_puts(out, "{\"query\":");
    tl_buf_json_str(out, q);
    tl_buf_puts(out, ",\"queries\":[");
    for (size_t i = 0; i < nq; i++) {
        if (i) tl_buf_putc(out, ',');
        tl_buf_puts(out, "{\"query\":");
        tl_buf_json_str(out, qs[i]);
        tl_buf_printf(out, ",\"count\":%u}", counts[i]);
    }
    tl_free(qs);
    tl_buf_puts(out, "],\"items\":[");
    struct tl_shit hits[SUGGEST_LIMIT_MAX];
    size_t nh = 0;
    if (nn) tl_sindex_suggest(s->six, q, (uint32_t)limit, hits, &nh);
    tl_catalog_rdlock(s->cat);
    int first = 1;
    for (size_t i = 0; i < nh; i++) {
        const struct tl_item *it = tl_catalog_get(s->cat, hits[i].doc);
        if (!it) continue;
        if (!first) tl_buf_putc(out, ',');
        tl_recs_item_fields_json(out, it);
        tl_buf_putc(out, '}');
        first = 0;
    }
    tl_catalog_unlock(s->cat);
    tl_buf_puts(out, "]}");
    return TL_OK;
}

enum tl_rc tl_engine_search_report(struct tl_engine *e, uint32_t shop_id, long limit, struct tl_buf *out,
                                   struct tl_err *err)
{
    struct tl_shop_state *s = tl_engine_shop(e, shop_id);
    if (!s) return tl_err_set(err, TL_ENOTFOUND, NULL, "shop %u does not exist", shop_id);
    tl_buf_printf(out, "{\"shop_id\":%u,\"index\":{\"products\":%zu,\"bytes\":%zu,\"language\":", shop_id,
                  s->six ? tl_sindex_count(s->six) : 0, s->six ? tl_sindex_memory(s->six) : 0);
    tl_buf_json_str(out, e->cfg.search_language);
    tl_buf_printf(out, ",\"personalization\":%g,\"learning\":%g},\"analytics\":", e->cfg.search_personalization,
                  e->cfg.search_learning);
    enum tl_rc rc = tl_sstats_report_json(e->sstats, shop_id, (size_t)(limit > 0 ? limit : 20), out);
    if (rc) return tl_err_set(err, rc, NULL, "out of memory");
    tl_buf_putc(out, '}');
    return TL_OK;
}
