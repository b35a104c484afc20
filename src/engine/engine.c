/* Engine life cycle: open (store, catalogs, identities, dedupe set, models,
 * profile replay), close (checkpoint, stop threads), API keys, shops, stats
 * and metrics. See internal.h for the state and its invariants.
 *
 * Start-up order matters: catalogs first (models and profiles refer to item
 * indexes and categories), then identities (replayed events must reach the
 * stitched profile), then the dedupe set, then popularity from the whole
 * history (events for views and carts, the orders table for purchases: a
 * purchase event also writes an order, so counting both would double it),
 * then the replay of events after the last profile checkpoint. */
#include <fcntl.h>
#include <math.h>
#include <sys/file.h>
#include <unistd.h>
#include <sodium.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "engine/basket_feed.h"
#include "engine/internal.h"
#include "engine/scan_relay.h"
#include "model/model.h"
#include "ingest/event.h"
#include "ingest/event_fast.h"

#define KEY_HASH_SEED 0x6b657973ULL /* "keys" */
#define IDENT_SEED 0x6964656eULL    /* "iden" */

/* ---- shops ---- */

static struct tl_shop_state *shop_new(struct tl_engine *e, uint32_t id)
{
    struct tl_shop_state *s = tl_calloc(1, sizeof *s);
    if (!s) return NULL;
    s->id = id;
    pthread_mutex_init(&s->trained_mu, NULL);
    pthread_mutex_init(&s->six_mu, NULL);
    s->cat = tl_catalog_new();
    struct tl_pop_params pp;
    tl_pop_params_defaults(&pp);
    pp.popular_half_life_days = e->cfg.popular_half_life_days;
    pp.trending_short_days = e->cfg.trending_short_days;
    pp.trending_long_days = e->cfg.trending_long_days;
    pp.trending_country_min = e->cfg.trending_country_min;
    s->pop = tl_pop_new(&pp);
    s->cooc = tl_cooc_new(NULL);
    tl_itemsets_init(&s->bought_sets);
    if (!s->cat || !s->pop || !s->cooc) {
        tl_catalog_free(s->cat);
        tl_pop_free(s->pop);
        tl_cooc_free(s->cooc);
        pthread_mutex_destroy(&s->trained_mu);
        pthread_mutex_destroy(&s->six_mu);
        tl_free(s);
        return NULL;
    }
    return s;
}

static void shop_free(struct tl_shop_state *s)
{
    if (!s) return;
    tl_engine_trained_drop(s);
    tl_engine_segments_drop(s);
    tl_sindex_free(s->six); /* saved by tl_engine_search_close first, when open */
    pthread_mutex_destroy(&s->trained_mu);
    pthread_mutex_destroy(&s->six_mu);
    tl_catalog_free(s->cat);
    tl_pop_free(s->pop);
    tl_cooc_free(s->cooc);
    tl_itemsets_free(&s->bought_sets);
    tl_free(s);
}

/* Register a shop state (caller holds shops_lock for writing). */
static enum tl_rc shop_register(struct tl_engine *e, uint32_t id)
{
    if (id == 0 || id >= TL_MAX_SHOPS) return TL_EINVAL;
    if (id >= e->shops_cap) {
        uint32_t nc = e->shops_cap ? e->shops_cap : 16;
        while (nc <= id) nc *= 2;
        struct tl_shop_state **ns = tl_realloc(e->shops, nc * sizeof *ns);
        if (!ns) return TL_ENOMEM;
        memset(ns + e->shops_cap, 0, (nc - e->shops_cap) * sizeof *ns);
        e->shops = ns;
        e->shops_cap = nc;
    }
    if (e->shops[id]) return TL_OK;
    e->shops[id] = shop_new(e, id);
    return e->shops[id] ? TL_OK : TL_ENOMEM;
}

struct shop_probe {
    uint32_t want;
    int found;
};

static int probe_cb(void *ctx, const struct tl_shop *s)
{
    struct shop_probe *p = ctx;
    if (s->id == p->want) p->found = 1;
    return 0;
}

struct tl_shop_state *tl_engine_shop(struct tl_engine *e, uint32_t shop_id)
{
    pthread_rwlock_rdlock(&e->shops_lock);
    struct tl_shop_state *s = shop_id < e->shops_cap ? e->shops[shop_id] : NULL;
    pthread_rwlock_unlock(&e->shops_lock);
    if (s) return s;
    /* A shop created by `tailor shops create` after this process started. */
    struct shop_probe p = {shop_id, 0};
    pthread_mutex_lock(&e->rst_mu);
    e->ops->shop_scan(e->rst, probe_cb, &p);
    pthread_mutex_unlock(&e->rst_mu);
    if (!p.found) return NULL;
    pthread_rwlock_wrlock(&e->shops_lock);
    if (shop_register(e, shop_id) == TL_OK) s = e->shops[shop_id];
    pthread_rwlock_unlock(&e->shops_lock);
    return s;
}

static int load_shop_cb(void *ctx, const struct tl_shop *s)
{
    struct tl_engine *e = ctx;
    return (int)shop_register(e, s->id);
}

/* ---- keys ---- */

static void key_hash(const char *key, uint8_t out[32])
{
    crypto_generichash(out, 32, (const unsigned char *)key, strlen(key), NULL, 0);
}

enum tl_rc tl_engine_auth(struct tl_engine *e, const char *key, uint32_t *shop_id, enum tl_scope *scope)
{
    if (!key || !*key || strlen(key) > 256) return TL_EAUTH;
    uint8_t h[32];
    key_hash(key, h);
    /* The cache is keyed by a hash of the BLAKE2b digest: the raw key never
     * sits in memory, and a cache hit still means the digests matched in
     * full when the key was first resolved from the store. */
    uint64_t hk = tl_hash(h, sizeof h, KEY_HASH_SEED), v;
    pthread_rwlock_rdlock(&e->keys_lock);
    int hit = tl_u64map_get(&e->keys, hk, &v);
    pthread_rwlock_unlock(&e->keys_lock);
    if (!hit) {
        uint32_t sid;
        enum tl_scope sc;
        pthread_mutex_lock(&e->rst_mu);
        enum tl_rc rc = e->ops->key_find(e->rst, h, &sid, &sc);
        pthread_mutex_unlock(&e->rst_mu);
        if (rc == TL_ENOTFOUND) return TL_EAUTH;
        if (rc) return rc;
        v = (uint64_t)sid << 8 | (uint64_t)sc;
        pthread_rwlock_wrlock(&e->keys_lock);
        tl_u64map_put(&e->keys, hk, v);
        pthread_rwlock_unlock(&e->keys_lock);
    }
    *shop_id = (uint32_t)(v >> 8);
    *scope = (enum tl_scope)(v & 0xff);
    return TL_OK;
}

/* ---- identities ---- */

static uint64_t ident_hash(uint32_t shop_id, const char *anon)
{
    return tl_hash_str(anon, IDENT_SEED ^ ((uint64_t)shop_id << 32));
}

/* out = prefix + s, cut to TL_USER_KEY_MAX - 1 bytes like snprintf (which
 * this replaces: it was a tenth of the cost of applying an event). */
static void key_concat(char *out, const char *prefix, const char *s)
{
    size_t pl = strlen(prefix), sl = strnlen(s, TL_USER_KEY_MAX);
    if (pl + sl > TL_USER_KEY_MAX - 1) sl = TL_USER_KEY_MAX - 1 - pl;
    memcpy(out, prefix, pl);
    memcpy(out + pl, s, sl);
    out[pl + sl] = 0;
}

void tl_engine_user_key(struct tl_engine *e, uint32_t shop_id, const char *user_id, const char *anonymous_id, char *out)
{
    if (user_id && *user_id) {
        key_concat(out, "u:", user_id);
        return;
    }
    uint64_t v;
    pthread_mutex_lock(&e->ident_mu);
    int linked = tl_u64map_get(&e->ident, ident_hash(shop_id, anonymous_id), &v);
    if (linked) key_concat(out, "u:", tl_strtab_str(&e->ident_users, (uint32_t)(v - 1)));
    pthread_mutex_unlock(&e->ident_mu);
    if (!linked) key_concat(out, "a:", anonymous_id ? anonymous_id : "");
}

/* Record anon -> user in memory; returns 1 if it was not linked to user before. */
int tl_engine_ident_put(struct tl_engine *e, uint32_t shop_id, const char *anon, const char *user);
int tl_engine_ident_put(struct tl_engine *e, uint32_t shop_id, const char *anon, const char *user)
{
    uint64_t h = ident_hash(shop_id, anon), v;
    uint32_t uid;
    pthread_mutex_lock(&e->ident_mu);
    int changed = 0;
    if (tl_strtab_intern(&e->ident_users, user, &uid) == TL_OK) {
        changed = !tl_u64map_get(&e->ident, h, &v) || v != (uint64_t)uid + 1;
        if (changed) tl_u64map_put(&e->ident, h, (uint64_t)uid + 1);
    }
    pthread_mutex_unlock(&e->ident_mu);
    return changed;
}

static int load_ident_cb(void *ctx, uint32_t shop_id, const char *anon, const char *user)
{
    tl_engine_ident_put(ctx, shop_id, anon, user);
    return 0;
}

/* ---- dedupe ---- */

uint64_t tl_engine_dedupe_token(struct tl_engine *e) { return atomic_fetch_add(&e->dedupe_tokens, 1) + 2; }

/* v is the token of claims that committed (under dedupe_mu). */
static int dedupe_done(const struct tl_engine *e, uint64_t v)
{
    for (size_t i = 0; i < e->n_dedupe_done; i++)
        if (e->dedupe_done[i] == v) return 1;
    return 0;
}

void tl_engine_dedupe_claim_many(struct tl_engine *e, const uint64_t *hs, size_t n, uint64_t token,
                                 unsigned char *known)
{
    enum { AHEAD = 8 }; /* prefetch distance: keys are random, each probe a cache miss */
    pthread_mutex_lock(&e->dedupe_mu);
    tl_u64map_reserve(&e->dedupe, n); /* no resize inside the loop (a failure here only costs speed) */
    for (size_t i = 0; i < n && i < AHEAD; i++) tl_u64map_prefetch(&e->dedupe, hs[i]);
    for (size_t i = 0; i < n; i++) {
        if (i + AHEAD < n) tl_u64map_prefetch(&e->dedupe, hs[i + AHEAD]);
        known[i] = 0;
        if (!hs[i]) continue;
        uint64_t v;
        int r;
        /* present and pending under another token: wait for its outcome */
        while ((r = tl_u64map_put_absent(&e->dedupe, hs[i], token, &v)) == 1 && v != 1 && v != token &&
               !dedupe_done(e, v))
            pthread_cond_wait(&e->dedupe_cv, &e->dedupe_mu);
        known[i] = r == 1; /* r == -1 (out of memory): not claimed, stored as new like tl_engine_dedupe_claim */
    }
    pthread_mutex_unlock(&e->dedupe_mu);
}

int tl_engine_dedupe_claim(struct tl_engine *e, uint64_t h, uint64_t token)
{
    const uint64_t hs[1] = {h};
    unsigned char known[1];
    tl_engine_dedupe_claim_many(e, hs, 1, token, known);
    return known[0];
}

void tl_engine_dedupe_expect(struct tl_engine *e, size_t n)
{
    pthread_mutex_lock(&e->dedupe_mu);
    tl_u64map_reserve(&e->dedupe, n); /* only a hint: failing costs speed, not correctness */
    pthread_mutex_unlock(&e->dedupe_mu);
}

/* The token is remembered as committed: rewriting its values to 1 is a pass
 * over the whole set (32 MiB after an import of 1,000,000 events, about 15
 * ms on the import's critical path), done only once TL_DEDUPE_DONE_MAX
 * tokens have piled up, for all of them. */
void tl_engine_dedupe_commit_token(struct tl_engine *e, uint64_t token)
{
    pthread_mutex_lock(&e->dedupe_mu);
    if (e->n_dedupe_done == TL_DEDUPE_DONE_MAX) {
        for (size_t i = 0; i < e->dedupe.cap; i++)
            if (e->dedupe.keys[i] && e->dedupe.vals[i] != 1 && dedupe_done(e, e->dedupe.vals[i])) e->dedupe.vals[i] = 1;
        if (e->dedupe.has_zero && dedupe_done(e, e->dedupe.zero_val)) e->dedupe.zero_val = 1;
        e->n_dedupe_done = 0;
    }
    e->dedupe_done[e->n_dedupe_done++] = token;
    pthread_cond_broadcast(&e->dedupe_cv);
    pthread_mutex_unlock(&e->dedupe_mu);
}

void tl_engine_dedupe_settle(struct tl_engine *e, const uint64_t *hs, size_t n, int committed)
{
    pthread_mutex_lock(&e->dedupe_mu);
    for (size_t i = 0; i < n; i++) {
        if (!hs[i]) continue;
        if (committed)
            tl_u64map_put(&e->dedupe, hs[i], 1);
        else
            tl_u64map_del(&e->dedupe, hs[i]);
    }
    pthread_cond_broadcast(&e->dedupe_cv);
    pthread_mutex_unlock(&e->dedupe_mu);
}

static int load_eid_cb(void *ctx, uint64_t h)
{
    struct tl_engine *e = ctx;
    return (int)tl_u64map_put(&e->dedupe, h, 1);
}

void tl_engine_random_id(const char *prefix, char *out, size_t n)
{
    unsigned char r[8];
    randombytes_buf(r, sizeof r);
    char hex[17];
    sodium_bin2hex(hex, sizeof hex, r, sizeof r);
    snprintf(out, n, "%s%s", prefix, hex);
}

/* ---- start-up loading ---- */

static int load_item_cb(void *ctx, uint32_t shop_id, const struct tl_item *it)
{
    struct tl_engine *e = ctx;
    if (shop_id >= e->shops_cap || !e->shops[shop_id]) return 0;
    return (int)tl_catalog_upsert(e->shops[shop_id]->cat, it, NULL);
}

struct order_load {
    struct tl_engine *e;
    struct tl_basket_feed *feed; /* co-occurrence counted on a second thread (basket_feed.h) */
};

static int load_order_cb(void *ctx, uint32_t shop_id, const struct tl_order *o)
{
    struct order_load *lo = ctx;
    struct tl_engine *e = lo->e;
    if (shop_id >= e->shops_cap || !e->shops[shop_id]) return 0;
    char buf[TL_ID_MAX + 16];
    snprintf(buf, sizeof buf, "order:%s", o->id);
    tl_u64map_put(&e->dedupe, tl_event_id_hash(shop_id, buf), 1);
    if (o->is_return) return 0;
    struct tl_shop_state *s = e->shops[shop_id];
    tl_engine_analytics_order(e, s, o);
    uint32_t stack[256], *idx = o->n_lines <= 256 ? stack : tl_malloc(o->n_lines * sizeof *idx);
    if (!idx) return (int)TL_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < o->n_lines; i++) {
        uint32_t x;
        if ((x = tl_catalog_find(s->cat, o->lines[i].item_id)) == TL_CAT_NONE) continue; /* not in the catalog */
        tl_pop_add(s->pop, x, o->country, o->ts_ms, TL_EV_PURCHASE, o->lines[i].quantity);
        idx[n++] = x;
    }
    tl_basket_feed_add(lo->feed, s, o->customer_id ? tl_engine_customer_key(o->customer_id) : 0, o->customer_id != NULL,
                       idx, n);
    if (idx != stack) tl_free(idx);
    return 0;
}

static enum tl_rc load_orders(struct tl_engine *e)
{
    struct order_load lo = {e, tl_basket_feed_start()};
    enum tl_rc rc = e->ops->order_scan(e->rst, 0, load_order_cb, &lo);
    tl_basket_feed_finish(lo.feed);
    return rc;
}

static enum tl_rc scan_events_for_models(struct tl_engine *e);

static enum tl_rc preorder_shops(struct tl_engine *e)
{
    for (uint32_t i = 0; i < e->shops_cap; i++)
        if (e->shops[i]) tl_engine_search_preorder(e, e->shops[i]);
    return TL_OK;
}

uint64_t tl_engine_customer_key(const char *customer_id) { return tl_hash_str(customer_id, 0x63757374ULL); }

/* Start-up state for rebuilding "also viewed": each shopper's current
 * session (a new one after session_timeout of inactivity, as profiles do;
 * explicit session ids are in the bodies and not read here). */
struct view_sessions {
    struct tl_u64map last;   /* hash(shop, shopper) -> last view ts */
    struct tl_u64map number; /* hash(shop, shopper) -> session counter */
    struct tl_itemsets sets; /* hash(shopper, counter) -> items */
};

static void rebuild_view(struct tl_engine *e, struct tl_shop_state *s, const struct tl_event *ev, uint32_t idx)
{
    struct view_sessions *vs = e->startup_views;
    if (!vs) return;
    const char *who = ev->user_id ? ev->user_id : ev->anonymous_id;
    if (!who) return;
    uint64_t h = tl_hash_str(who, ((uint64_t)ev->shop_id << 1) | (ev->user_id != NULL)), last = 0, num = 0;
    int seen = tl_u64map_get(&vs->last, h, &last);
    tl_u64map_get(&vs->number, h, &num);
    if (seen && ev->ts_ms - (int64_t)last > e->pparams.session_timeout_ms) tl_u64map_put(&vs->number, h, ++num);
    tl_u64map_put(&vs->last, h, (uint64_t)ev->ts_ms);
    tl_itemsets_grow(&vs->sets, tl_hash_u64(h ^ (num * 0x9e3779b97f4a7c15ULL)), idx, s->cooc, TL_COOC_ALSO_VIEWED);
}

/* Stored bodies parsed again at start-up (the lines, recommendation id and
 * query are only there). They are canonical JSON that the fast parser
 * accepts with the same result as jansson (src/ingest/event_fast.h); jansson
 * only for what it does not handle. Each stored event is re-validated with
 * its own timestamp as "now", so the future-time rule cannot reject it. One
 * parser per scan: its line array and scratch are reused from event to
 * event. */
struct stored_parser {
    struct tl_line *lines; /* TL_EVENT_LINES_MAX */
    struct tl_buf scratch; /* the fast parser's strings */
    json_t *obj;           /* jansson's tree, when it parsed the last one */
};

static enum tl_rc stored_parser_init(struct stored_parser *sp)
{
    memset(sp, 0, sizeof *sp);
    tl_buf_init(&sp->scratch, TL_BUF_DEFAULT_MAX);
    sp->lines = tl_malloc(TL_EVENT_LINES_MAX * sizeof *sp->lines);
    return sp->lines ? TL_OK : TL_ENOMEM;
}

static void stored_parser_free(struct stored_parser *sp)
{
    json_decref(sp->obj);
    tl_buf_free(&sp->scratch);
    tl_free(sp->lines);
}

/* *ev from stored's body (valid until the next call); 0 if it does not parse
 * or validate. ev keeps stored's seq, shop and body. */
static int stored_parse(struct stored_parser *sp, const struct tl_event *stored, struct tl_event *ev)
{
    json_decref(sp->obj);
    sp->obj = NULL;
    if (!stored->body) return 0;
    size_t len = stored->body_len ? stored->body_len : strlen(stored->body);
    int handled = 0;
    tl_buf_reset(&sp->scratch);
    if (tl_evfast_parse(stored->body, len, stored->ts_ms, ev, sp->lines, TL_EVENT_LINES_MAX, &sp->scratch, &handled) !=
        TL_OK)
        return 0;
    if (!handled) {
        json_error_t je;
        sp->obj = json_loadb(stored->body, len, 0, &je);
        if (!sp->obj || tl_event_from_json(sp->obj, stored->ts_ms, ev, sp->lines, TL_EVENT_LINES_MAX, NULL) != TL_OK)
            return 0;
    }
    ev->seq = stored->seq;
    ev->shop_id = stored->shop_id;
    ev->body = stored->body; /* context (device, placement) for the analytics */
    ev->body_len = stored->body_len;
    return 1;
}

struct scan_ctx {
    struct tl_engine *e;
    struct stored_parser sp;
};

/* Popularity from stored view and cart events (purchases come from orders);
 * feedback, experiments, analytics and search statistics from all. */
static int pop_event_cb(void *ctx, const struct tl_event *ev)
{
    struct scan_ctx *sc = ctx;
    struct tl_engine *e = sc->e;
    struct tl_event full;
    if (ev->seq > atomic_load(&e->last_seq)) atomic_store(&e->last_seq, ev->seq);
    if (ev->type == TL_EV_REC_IMPRESSION || ev->type == TL_EV_REC_CLICK || ev->type == TL_EV_PURCHASE ||
        ev->type == TL_EV_RETURN) {
        if (stored_parse(&sc->sp, ev, &full)) { /* lines and recommendation id are in the body */
            tl_engine_feedback_event(e, &full);
            tl_engine_exp_event(e, &full);
            tl_engine_analytics_event(e, &full);
            if (full.type == TL_EV_PURCHASE) tl_engine_search_event(e, &full);
        }
    } else {
        tl_engine_exp_event(e, ev);
        tl_engine_analytics_event(e, ev);
    }
    if (ev->type == TL_EV_SEARCH && !ev->query && ev->body && !strstr(ev->body, "\"results\"")) {
        /* the query is in the body; with no "results" there (the server's
         * own record has them), the fast parser finds all it needs */
        if (stored_parse(&sc->sp, ev, &full)) tl_engine_search_event(e, &full);
    } else if (ev->type == TL_EV_SEARCH || ev->type == TL_EV_PRODUCT_VIEW || ev->type == TL_EV_ADD_TO_CART)
        tl_engine_search_event(e, ev);
    if (ev->type != TL_EV_PRODUCT_VIEW && ev->type != TL_EV_ADD_TO_CART) return 0;
    if (!ev->item_id || ev->shop_id >= e->shops_cap || !e->shops[ev->shop_id]) return 0;
    struct tl_shop_state *s = e->shops[ev->shop_id];
    uint32_t idx;
    if ((idx = tl_catalog_find(s->cat, ev->item_id)) != TL_CAT_NONE) { /* only catalog items feed models */
        tl_pop_add(s->pop, idx, ev->country, ev->ts_ms, ev->type, 1);
        if (ev->type == TL_EV_PRODUCT_VIEW) rebuild_view(e, s, ev, idx);
    }
    return 0;
}

/* The types whose stored bodies pop_event_cb reads: lines and
 * recommendation ids (stored_parse), the query of a search, an exposure's
 * experiment and arm, and the context (placement, device) of the analytics'
 * attributed types (analytics.c context_of). Views, page and category views,
 * cart removals and checkouts come without: most events, whose JSON text is
 * then not rebuilt from a compact block. */
#define STARTUP_BODIES                                                                                                 \
    (TL_SCAN_BODY(TL_EV_SEARCH) | TL_SCAN_BODY(TL_EV_ADD_TO_CART) | TL_SCAN_BODY(TL_EV_PURCHASE) |                     \
     TL_SCAN_BODY(TL_EV_REC_IMPRESSION) | TL_SCAN_BODY(TL_EV_REC_CLICK) | TL_SCAN_BODY(TL_EV_RETURN) |                 \
     TL_SCAN_BODY(TL_EV_EXPOSURE))

/* Views and carts rebuild popularity and "also viewed" (sessions are
 * grouped here, the events being in time order within a shopper). */
static enum tl_rc scan_events_for_models(struct tl_engine *e)
{
    struct scan_ctx sc = {.e = e};
    enum tl_rc rc = stored_parser_init(&sc.sp);
    if (rc) {
        stored_parser_free(&sc.sp);
        return rc;
    }
    struct view_sessions vs;
    tl_u64map_init(&vs.last);
    tl_u64map_init(&vs.number);
    tl_itemsets_init(&vs.sets);
    e->startup_views = &vs;
    /* pop_event_cb runs on a worker while this thread reads and decodes the
     * next events (scan_relay.h). The scan goes through the writer's handle,
     * idle until the writer starts: the callbacks load profiles through rst
     * (under rst_mu), and one SQLite connection must not serve two threads
     * at once. */
    struct tl_scan_relay *sr = tl_scan_relay_start(pop_event_cb, &sc);
    rc = sr ? e->ops->event_scan(e->wst, 0, STARTUP_BODIES, tl_scan_relay_event, sr) : TL_ENOMEM;
    tl_scan_relay_finish(sr);
    e->startup_views = NULL;
    tl_u64map_free(&vs.last);
    tl_u64map_free(&vs.number);
    tl_itemsets_free(&vs.sets);
    stored_parser_free(&sc.sp);
    return rc;
}

struct replay_ctx {
    struct tl_engine *e;
    int64_t from;
    uint64_t n;
    struct stored_parser sp;
};

/* Re-apply an event committed after the last checkpoint to the profiles. */
static int replay_cb(void *ctx, const struct tl_event *stored)
{
    struct replay_ctx *r = ctx;
    struct tl_event ev;
    if (stored_parse(&r->sp, stored, &ev) && stored->shop_id < r->e->shops_cap && r->e->shops[stored->shop_id]) {
        tl_engine_apply_event(r->e, &ev);
        r->n++;
    }
    return 0;
}

static void *ckpt_main(void *arg)
{
    struct tl_engine *e = arg;
    pthread_mutex_lock(&e->stop_mu);
    while (!e->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = ts.tv_nsec + (e->cfg.checkpoint_interval_ms % 1000) * 1000000;
        ts.tv_sec += e->cfg.checkpoint_interval_ms / 1000 + ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        pthread_cond_timedwait(&e->stop_cv, &e->stop_mu, &ts);
        if (e->stopping) break;
        pthread_mutex_unlock(&e->stop_mu);
        tl_engine_log_flush(e);
        enum tl_rc rc = tl_engine_checkpoint(e);
        if (rc) tl_warn("profile checkpoint failed: %s", tl_rc_message(rc));
        pthread_mutex_lock(&e->stop_mu);
    }
    pthread_mutex_unlock(&e->stop_mu);
    return NULL;
}

/* Segments saved by the last training (before the event scan: the KPI
 * roll-ups rebuilt from it break down by segment). */
static enum tl_rc load_segments(struct tl_engine *e)
{
    for (uint32_t id = 1; id < e->shops_cap; id++)
        if (e->shops[id]) tl_engine_segments_load(e, e->shops[id]);
    return TL_OK;
}

/* Models saved by the last training run of each shop; a shop without a
 * snapshot (or with an unreadable one) is queued for training when the
 * trainer starts (tl_engine_serve_models). */
static void load_snapshots(struct tl_engine *e)
{
    for (uint32_t id = 1; id < e->shops_cap; id++) {
        struct tl_shop_state *s = e->shops[id];
        if (!s) continue;
        struct tl_err err;
        tl_err_clear(&err);
        enum tl_rc rc = tl_engine_trained_load(e, id, &err);
        if (rc == TL_OK) continue;
        if (rc != TL_ENOTFOUND) tl_warn("shop %u: model snapshot not loaded (%s); retraining", id, err.msg);
        if (tl_catalog_count(s->cat) > 0) s->train.state = TL_TRAIN_QUEUED;
    }
}

enum tl_rc tl_engine_open(const struct tl_config *cfg, struct tl_engine **out, struct tl_err *err)
{
    if (sodium_init() < 0) return tl_err_set(err, TL_EINTERNAL, NULL, "libsodium failed to initialise");
    tl_model_blas_serial(); /* requests never wake BLAS threads (see model.h) */
    struct tl_engine *e = tl_calloc(1, sizeof *e);
    if (!e) return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    e->cfg = *cfg;
    e->lock_fd = -1;
    e->ops = &tl_store_sqlite;
    pthread_mutex_init(&e->rst_mu, NULL);
    pthread_rwlock_init(&e->shops_lock, NULL);
    pthread_rwlock_init(&e->keys_lock, NULL);
    pthread_mutex_init(&e->ident_mu, NULL);
    pthread_mutex_init(&e->dedupe_mu, NULL);
    pthread_cond_init(&e->dedupe_cv, NULL);
    pthread_rwlock_init(&e->apply_lock, NULL);
    pthread_mutex_init(&e->evicted_mu, NULL);
    pthread_mutex_init(&e->ckpt_mu, NULL);
    pthread_mutex_init(&e->slog_mu, NULL);
    pthread_mutex_init(&e->stop_mu, NULL);
    pthread_cond_init(&e->stop_cv, NULL);
    tl_u64map_init(&e->keys);
    tl_u64map_init(&e->ident);
    tl_strtab_init(&e->ident_users);
    tl_u64map_init(&e->dedupe);
    tl_u64map_init(&e->evicted.index);
    tl_u64map_init(&e->inflight.index);
    e->pparams.half_life_ms = (int64_t)(cfg->affinity_half_life_days * TL_MS_PER_DAY);
    e->pparams.session_timeout_ms = (int64_t)cfg->session_timeout_min * TL_MS_PER_MIN;

    uint64_t replayed = 0;
    struct tl_feedback_params fp = {.max_entries = cfg->feedback_max,
                                    .window_ms = (int64_t)(cfg->feedback_window_days * TL_MS_PER_DAY),
                                    .attribution_ms = (int64_t)(cfg->attribution_window_h * 3600000.0)};
    e->fb = tl_feedback_new(&fp);
    e->sstats = tl_sstats_new(NULL);
    e->exps = tl_exps_new();
    e->analytics = tl_eanalytics_new();
    enum tl_rc mrc = e->fb && e->sstats && e->exps && e->analytics ? tl_merch_parse(cfg->merch_rules, &e->merch, err)
                                                                   : tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    if (mrc) {
        tl_engine_close(e);
        return mrc;
    }
    enum tl_sync sync = cfg->sync_full ? TL_SYNC_FULL : TL_SYNC_OS;
    /* Claim before opening: an import may hold the file in sole use
     * (tl_engine_solo_begin), where opening would wait for its locks; the
     * claim says at once who holds it. Also before loading: replaying and
     * checkpointing beside another process that owns the database would
     * overwrite its snapshots. */
    enum tl_rc rc = cfg->admin_only ? TL_OK : tl_engine_claim(e, "open", err);
    if (rc == TL_OK) rc = e->ops->open(cfg->db_path, sync, &e->wst, err);
    if (rc == TL_OK) rc = e->ops->open(cfg->db_path, sync, &e->rst, err);
    if (rc) goto fail;
    struct tl_pcache_opts po = {.cap = cfg->profiles_max,
                                .shards = 0,
                                .loader = tl_engine_profile_load,
                                .evict = tl_engine_profile_evict,
                                .ctx = e};
    if ((rc = tl_pcache_create(&po, &e->profiles, err))) goto fail;

    if (cfg->admin_only) {
        /* Shops and keys only: nothing in memory that a checkpoint could
         * write over a running server's state. */
        e->discard = 1;
        if ((rc = e->ops->shop_scan(e->rst, load_shop_cb, e))) {
            tl_err_set(err, rc, NULL, "loading %s: %s", cfg->db_path, tl_rc_message(rc));
            goto fail;
        }
    } else {
        uint64_t t0 = tl_mono_ns(), tp = t0;
        /* each step's time at debug level (TAILOR_LOG=debug) */
#define STEP(what, call)                                                                                               \
    (rc = (call)) == TL_OK &&                                                                                          \
        (tl_debug("open: %s in %.0f ms", what, (double)(tl_mono_ns() - tp) / 1e6), tp = tl_mono_ns(), 1)
        if (!(STEP("shops", e->ops->shop_scan(e->rst, load_shop_cb, e)) && STEP("search order", preorder_shops(e)) &&
              STEP("items", e->ops->item_scan(e->rst, 0, load_item_cb, e)) &&
              STEP("identities", e->ops->identity_scan(e->rst, load_ident_cb, e)) &&
              STEP("event ids", e->ops->event_eid_scan(e->rst, load_eid_cb, e)) && STEP("orders", load_orders(e)) &&
              STEP("experiments", tl_engine_experiments_load(e)) && STEP("segments", load_segments(e)) &&
              STEP("events for the models", scan_events_for_models(e)))) {
            tl_err_set(err, rc, NULL, "loading %s: %s", cfg->db_path, tl_rc_message(rc));
            goto fail;
        }
#undef STEP
        int64_t ckpt = 0;
        if (e->ops->meta_get(e->rst, "profile_checkpoint_seq", &ckpt) == TL_ENOTFOUND) ckpt = 0;
        e->ckpt_seq = ckpt;
        struct replay_ctx r = {e, ckpt, 0, {0}};
        rc = stored_parser_init(&r.sp);
        tl_engine_apply_profile_only(e, 1);
        if (!rc) rc = e->ops->event_scan(e->rst, ckpt, TL_SCAN_BODIES_ALL, replay_cb, &r);
        tl_engine_apply_profile_only(e, 0);
        stored_parser_free(&r.sp);
        if (rc) {
            tl_err_set(err, rc, NULL, "replaying events after checkpoint %lld: %s", (long long)ckpt, tl_rc_message(rc));
            goto fail;
        }
        replayed = r.n;
        tl_info("opened %s in %.0f ms (replayed %llu events after checkpoint %lld)", cfg->db_path,
                (double)(tl_mono_ns() - t0) / 1e6, (unsigned long long)r.n, (long long)ckpt);
    }

    e->writer = tl_writer_start(e->ops, e->wst, cfg->writer_queue_max);
    if (!e->writer) {
        rc = tl_err_set(err, TL_EINTERNAL, NULL, "cannot start the writer thread");
        goto fail;
    }
    if (replayed) tl_engine_checkpoint(e);
    if (!cfg->admin_only && pthread_create(&e->ckpt_thread, NULL, ckpt_main, e) == 0) e->ckpt_running = 1;
    if (!cfg->admin_only) load_snapshots(e);
    if (!cfg->admin_only)
        for (uint32_t i = 0; i < e->shops_cap; i++)
            if (e->shops[i]) tl_engine_search_open(e, e->shops[i]);
    *out = e;
    return TL_OK;
fail:
    tl_engine_close(e);
    return rc;
}

/* The part of closing that leaves the store complete: background threads
 * stopped, pending events flushed, the final profile checkpoint, search
 * indexes saved, the store closed, the lock released. */
static void close_durable(struct tl_engine *e)
{
    tl_engine_trainer_stop(e);
    if (e->ckpt_running) {
        pthread_mutex_lock(&e->stop_mu);
        e->stopping = 1;
        pthread_cond_broadcast(&e->stop_cv);
        pthread_mutex_unlock(&e->stop_mu);
        pthread_join(e->ckpt_thread, NULL);
        e->ckpt_running = 0;
    }
    if (e->writer) {
        tl_engine_log_flush(e);
        if (!e->discard) tl_engine_checkpoint(e);
        tl_writer_stop(e->writer);
        e->writer = NULL;
    }
    tl_engine_log_free(e); /* nothing left after a flush, unless memory ran out */
    for (uint32_t i = 0; i < e->shops_cap; i++)
        if (e->shops[i]) tl_engine_search_close(e, e->shops[i]);
    if (e->ops) {
        e->ops->close(e->rst);
        e->ops->close(e->wst);
        e->ops = NULL;
    }
    if (e->lock_fd >= 0) close(e->lock_fd); /* releases the flock */
    e->lock_fd = -1;
}

void tl_engine_close(struct tl_engine *e)
{
    if (!e) return;
    close_durable(e);
    if (e->profiles) tl_pcache_destroy(e->profiles);
    tl_blobset_free(&e->evicted);
    tl_blobset_free(&e->inflight);
    for (uint32_t i = 0; i < e->shops_cap; i++) shop_free(e->shops[i]);
    tl_free(e->shops);
    tl_merch_free(e->merch);
    tl_feedback_free(e->fb);
    tl_sstats_free(e->sstats);
    tl_exps_free(e->exps);
    tl_eanalytics_free(e->analytics);
    tl_u64map_free(&e->keys);
    tl_u64map_free(&e->ident);
    tl_strtab_free(&e->ident_users);
    tl_u64map_free(&e->dedupe);
    pthread_mutex_destroy(&e->rst_mu);
    pthread_rwlock_destroy(&e->shops_lock);
    pthread_rwlock_destroy(&e->keys_lock);
    pthread_mutex_destroy(&e->ident_mu);
    pthread_mutex_destroy(&e->dedupe_mu);
    pthread_cond_destroy(&e->dedupe_cv);
    pthread_rwlock_destroy(&e->apply_lock);
    pthread_mutex_destroy(&e->evicted_mu);
    pthread_mutex_destroy(&e->ckpt_mu);
    pthread_mutex_destroy(&e->slog_mu);
    pthread_mutex_destroy(&e->stop_mu);
    pthread_cond_destroy(&e->stop_cv);
    tl_free(e);
}

void tl_engine_close_for_exit(struct tl_engine *e)
{
    if (e) close_durable(e);
}

void tl_engine_discard(struct tl_engine *e) { e->discard = 1; }

static void claim_record(int fd, const char *purpose)
{
    char info[128];
    int n = snprintf(info, sizeof info, "tailor %s (pid %ld)\n", purpose, (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, info, (size_t)n, 0) != n) tl_warn("could not record the lock holder");
}

enum tl_rc tl_engine_claim(struct tl_engine *e, const char *purpose, struct tl_err *err)
{
    if (e->lock_fd >= 0) { /* claimed at open: say what for */
        claim_record(e->lock_fd, purpose);
        return TL_OK;
    }
    char path[sizeof e->cfg.db_path + 8];
    snprintf(path, sizeof path, "%s.lock", e->cfg.db_path);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return tl_err_set(err, TL_EIO, "db", "cannot open %s: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        char holder[128] = "another tailor process";
        ssize_t n = pread(fd, holder, sizeof holder - 1, 0);
        if (n > 0) {
            holder[n] = '\0';
            holder[strcspn(holder, "\n")] = '\0';
        }
        close(fd);
        return tl_err_set(err, TL_EBUSY, "db",
                          "%s is in use by %s; stop it first (while a server runs, send data through the API)",
                          e->cfg.db_path, holder);
    }
    claim_record(fd, purpose);
    e->lock_fd = fd;
    return TL_OK;
}

static enum tl_rc solo_job(const struct tl_store_ops *ops, struct tl_store *st, void *arg)
{
    return ops->solo(st, *(const int *)arg);
}

static enum tl_rc reopen_reader(struct tl_engine *e, struct tl_err *err)
{
    return e->ops->open(e->cfg.db_path, e->cfg.sync_full ? TL_SYNC_FULL : TL_SYNC_OS, &e->rst, err);
}

int tl_engine_solo_begin(struct tl_engine *e)
{
    if (!e->ops->solo || !e->writer || e->solo || e->lock_fd < 0) return 0;
    pthread_mutex_lock(&e->rst_mu);
    e->ops->close(e->rst);
    e->rst = NULL;
    int on = 1;
    enum tl_rc rc = tl_writer_run_bare(e->writer, solo_job, &on);
    if (rc == TL_OK) {
        e->solo = 1;
        return 1; /* rst_mu held until tl_engine_solo_end */
    }
    tl_debug("the store stays shared during the import: %s", tl_rc_message(rc));
    struct tl_err err;
    tl_err_clear(&err);
    if (reopen_reader(e, &err)) tl_warn("reopening %s for reading failed: %s", e->cfg.db_path, err.msg);
    pthread_mutex_unlock(&e->rst_mu);
    return 0;
}

void tl_engine_solo_end(struct tl_engine *e)
{
    if (!e->solo) return;
    int off = 0;
    enum tl_rc rc = tl_writer_run_bare(e->writer, solo_job, &off);
    if (rc) /* the reopen below, or the next open, makes the file WAL again */
        tl_warn("%s stays in rollback-journal mode for now: %s", e->cfg.db_path, tl_rc_message(rc));
    e->solo = 0;
    struct tl_err err;
    tl_err_clear(&err);
    if (reopen_reader(e, &err)) /* what was committed stays; this process reads nothing more */
        tl_warn("reopening %s for reading failed: %s", e->cfg.db_path, err.msg);
    pthread_mutex_unlock(&e->rst_mu);
}

const struct tl_config *tl_engine_config(const struct tl_engine *e) { return &e->cfg; }

/* ---- stats and metrics ---- */

enum tl_rc tl_engine_stats(struct tl_engine *e, uint32_t shop_id, struct tl_buf *out, struct tl_err *err)
{
    struct tl_store_stats st;
    pthread_mutex_lock(&e->rst_mu);
    enum tl_rc rc = e->ops->stats(e->rst, shop_id, &st);
    pthread_mutex_unlock(&e->rst_mu);
    if (rc) return tl_err_set(err, rc, NULL, "reading statistics: %s", tl_rc_message(rc));
    size_t nprof = tl_pcache_count(e->profiles), bytes = tl_pcache_memory(e->profiles);
    tl_buf_printf(out,
                  "{\"shop_id\":%u,\"items\":%lld,\"customers\":%lld,\"orders\":%lld,\"returns\":%lld,"
                  "\"events\":{\"total\":%lld,\"by_type\":{",
                  shop_id, (long long)st.items, (long long)st.customers, (long long)st.orders, (long long)st.returns,
                  (long long)st.events_total);
    for (int t = 1; t < TL_EV_MAX_; t++)
        tl_buf_printf(out, "%s\"%s\":%lld", t > 1 ? "," : "", tl_event_type_str((enum tl_event_type)t),
                      (long long)st.events_by_type[t]);
    tl_buf_printf(out,
                  "}},\"duplicates_since_start\":%llu,\"rejected_since_start\":%llu,"
                  "\"profiles_in_memory\":%zu,\"profile_bytes_in_memory\":%zu,\"bytes_per_profile\":%.0f,"
                  "\"recommendations\":",
                  (unsigned long long)atomic_load(&e->n_duplicate), (unsigned long long)atomic_load(&e->n_rejected),
                  nprof, bytes, nprof ? (double)bytes / (double)nprof : 0.0);
    tl_feedback_stats_json(e->fb, shop_id, out);
    tl_buf_putc(out, '}');
    return out->data ? TL_OK : TL_ENOMEM;
}

void tl_engine_metrics(struct tl_engine *e, struct tl_engine_metrics *m)
{
    m->events_ingested = atomic_load(&e->n_ingested);
    m->events_duplicate = atomic_load(&e->n_duplicate);
    m->events_rejected = atomic_load(&e->n_rejected);
    m->profiles_in_memory = tl_pcache_count(e->profiles);
    m->writer_queue_depth = e->writer ? tl_writer_depth(e->writer) : 0;
}
