/* Recommendation feedback and attribution (see feedback.h).
 *
 * Two maps of 64-bit keys, each split into FB_SHARDS shards with a mutex:
 *   shown[h(user, item)]   = count (low 16 bits, saturating) | last shown
 *                            time in seconds (high 48 bits)
 *   clicked[h(user, item)] = type (low 8 bits) | click time in seconds
 * A click resets the shown count (the shopper engaged: no demotion).
 * Counters per (shop, type) live in a third map keyed by shop << 8 | type
 * pointing into a growable array of struct counters (under `cmu`). */
#include "engine/feedback.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/hash.h"
#include "core/map.h"

#define FB_SHARDS 16

static const char *const names[TL_FB_TYPES] = {"for_you",     "similar",     "session", "bought_together",
                                               "also_bought", "also_viewed", "cart",    "recently_viewed",
                                               "popular",     "trending"};
static const char *const codes[TL_FB_TYPES] = {"fy", "si", "se", "bt", "ab", "av", "ca", "rv", "po", "tr"};

struct counters {
    uint64_t served, impressions, clicks, lines;
    double revenue;
};

struct shard {
    pthread_mutex_t mu;
    struct tl_u64map shown, clicked;
};

struct tl_feedback {
    struct tl_feedback_params p;
    struct shard sh[FB_SHARDS];
    pthread_mutex_t cmu;
    struct tl_u64map cindex; /* shop << 8 | type -> slot + 1 */
    struct counters *c;
    size_t nc, capc;
    uint64_t dropped;
};

struct tl_feedback *tl_feedback_new(const struct tl_feedback_params *p)
{
    struct tl_feedback *f = tl_calloc(1, sizeof *f);
    if (!f) return NULL;
    f->p = *p;
    for (int i = 0; i < FB_SHARDS; i++) {
        pthread_mutex_init(&f->sh[i].mu, NULL);
        tl_u64map_init(&f->sh[i].shown);
        tl_u64map_init(&f->sh[i].clicked);
    }
    pthread_mutex_init(&f->cmu, NULL);
    tl_u64map_init(&f->cindex);
    return f;
}

void tl_feedback_free(struct tl_feedback *f)
{
    if (!f) return;
    for (int i = 0; i < FB_SHARDS; i++) {
        pthread_mutex_destroy(&f->sh[i].mu);
        tl_u64map_free(&f->sh[i].shown);
        tl_u64map_free(&f->sh[i].clicked);
    }
    pthread_mutex_destroy(&f->cmu);
    tl_u64map_free(&f->cindex);
    tl_free(f->c);
    tl_free(f);
}

int tl_feedback_type_index(const char *type)
{
    for (int i = 0; type && i < TL_FB_TYPES; i++)
        if (strcmp(type, names[i]) == 0) return i;
    return -1;
}

int tl_feedback_type_of_rid(const char *rid)
{
    if (!rid || strncmp(rid, "r_", 2) != 0 || strlen(rid) < 6 || rid[4] != '_') return -1;
    for (int i = 0; i < TL_FB_TYPES; i++)
        if (rid[2] == codes[i][0] && rid[3] == codes[i][1]) return i;
    return -1;
}

const char *tl_feedback_type_code(int type) { return type >= 0 && type < TL_FB_TYPES ? codes[type] : "xx"; }
const char *tl_feedback_type_name(int type) { return type >= 0 && type < TL_FB_TYPES ? names[type] : "unknown"; }

uint64_t tl_feedback_user(uint32_t shop_id, const char *user_key)
{
    return tl_hash_str(user_key, 0x6662000000000000ULL ^ shop_id);
}

static uint64_t pair_key(uint64_t user, uint32_t item) { return tl_hash_u64(user ^ tl_hash_u64(item + 1)); }

static struct shard *shard_of(struct tl_feedback *f, uint64_t k) { return &f->sh[k >> 60]; }

static struct counters *counters(struct tl_feedback *f, uint32_t shop_id, int type)
{
    uint64_t key = (uint64_t)shop_id << 8 | (uint64_t)type, slot = 0;
    if (tl_u64map_get(&f->cindex, key, &slot)) return &f->c[slot - 1];
    if (f->nc == f->capc) {
        size_t nc = f->capc ? f->capc * 2 : 32;
        struct counters *n = tl_realloc(f->c, nc * sizeof *n);
        if (!n) return NULL;
        f->c = n;
        f->capc = nc;
    }
    if (tl_u64map_put(&f->cindex, key, f->nc + 1) != TL_OK) return NULL;
    memset(&f->c[f->nc], 0, sizeof f->c[f->nc]);
    return &f->c[f->nc++];
}

static void count(struct tl_feedback *f, uint32_t shop_id, int type, uint64_t served, uint64_t imp, uint64_t clicks,
                  uint64_t lines, double revenue)
{
    if (type < 0 || type >= TL_FB_TYPES) return;
    pthread_mutex_lock(&f->cmu);
    struct counters *c = counters(f, shop_id, type);
    if (c) {
        c->served += served;
        c->impressions += imp;
        c->clicks += clicks;
        c->lines += lines;
        c->revenue += revenue;
    }
    pthread_mutex_unlock(&f->cmu);
}

void tl_feedback_served(struct tl_feedback *f, uint32_t shop_id, int type) { count(f, shop_id, type, 1, 0, 0, 0, 0); }

void tl_feedback_shown(struct tl_feedback *f, uint32_t shop_id, uint64_t user, int type, const uint32_t *items,
                       size_t n, int64_t ts)
{
    uint64_t sec = ts > 0 ? (uint64_t)(ts / 1000) : 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t k = pair_key(user, items[i]), v = 0;
        struct shard *s = shard_of(f, k);
        pthread_mutex_lock(&s->mu);
        int have = tl_u64map_get(&s->shown, k, &v);
        if (have || tl_u64map_size(&s->shown) < f->p.max_entries / FB_SHARDS) {
            uint64_t cnt = v & 0xffff, last = v >> 16;
            /* impressions outside the window start a new count */
            if (have && sec > last && (int64_t)(sec - last) * 1000 > f->p.window_ms) cnt = 0;
            if (cnt < 0xffff) cnt++;
            if (sec > last) last = sec;
            tl_u64map_put(&s->shown, k, last << 16 | cnt);
        } else {
            f->dropped++;
        }
        pthread_mutex_unlock(&s->mu);
    }
    count(f, shop_id, type, 0, n, 0, 0, 0);
}

void tl_feedback_clicked(struct tl_feedback *f, uint32_t shop_id, uint64_t user, int type, uint32_t item, int64_t ts)
{
    uint64_t k = pair_key(user, item), sec = ts > 0 ? (uint64_t)(ts / 1000) : 0;
    struct shard *s = shard_of(f, k);
    pthread_mutex_lock(&s->mu);
    tl_u64map_del(&s->shown, k);
    if (type >= 0 &&
        (tl_u64map_get(&s->clicked, k, NULL) || tl_u64map_size(&s->clicked) < f->p.max_entries / FB_SHARDS))
        tl_u64map_put(&s->clicked, k, sec << 8 | (uint64_t)type);
    pthread_mutex_unlock(&s->mu);
    count(f, shop_id, type, 0, 0, 1, 0, 0);
}

int tl_feedback_purchased(struct tl_feedback *f, uint32_t shop_id, uint64_t user, uint32_t item, double revenue,
                          int64_t ts)
{
    int found = 0;
    uint64_t k = pair_key(user, item), v = 0;
    struct shard *s = shard_of(f, k);
    int type = -1;
    pthread_mutex_lock(&s->mu);
    if (tl_u64map_get(&s->clicked, k, &v)) {
        int64_t click_ms = (int64_t)(v >> 8) * 1000;
        if (ts >= click_ms - 1000 && ts - click_ms <= f->p.attribution_ms) type = (int)(v & 0xff);
        tl_u64map_del(&s->clicked, k); /* attributed once */
        found = 1;
    }
    pthread_mutex_unlock(&s->mu);
    if (type >= 0) count(f, shop_id, type, 0, 0, 0, 1, revenue);
    return found;
}

uint32_t tl_feedback_unclicked(struct tl_feedback *f, uint64_t user, uint32_t item, int64_t now_ms)
{
    uint64_t k = pair_key(user, item), v = 0;
    struct shard *s = shard_of(f, k);
    pthread_mutex_lock(&s->mu);
    int have = tl_u64map_get(&s->shown, k, &v);
    pthread_mutex_unlock(&s->mu);
    if (!have) return 0;
    int64_t last_ms = (int64_t)(v >> 16) * 1000;
    if (now_ms - last_ms > f->p.window_ms) return 0;
    return (uint32_t)(v & 0xffff);
}

void tl_feedback_stats_json(struct tl_feedback *f, uint32_t shop_id, struct tl_buf *out)
{
    tl_buf_putc(out, '{');
    int first = 1;
    pthread_mutex_lock(&f->cmu);
    for (int t = 0; t < TL_FB_TYPES; t++) {
        uint64_t slot = 0;
        if (!tl_u64map_get(&f->cindex, (uint64_t)shop_id << 8 | (uint64_t)t, &slot)) continue;
        const struct counters *c = &f->c[slot - 1];
        tl_buf_printf(out,
                      "%s\"%s\":{\"served\":%llu,\"impressions\":%llu,\"clicks\":%llu,\"ctr\":%.4f,"
                      "\"attributed_lines\":%llu,\"attributed_revenue\":%.2f}",
                      first ? "" : ",", names[t], (unsigned long long)c->served, (unsigned long long)c->impressions,
                      (unsigned long long)c->clicks, c->impressions ? (double)c->clicks / (double)c->impressions : 0.0,
                      (unsigned long long)c->lines, c->revenue);
        first = 0;
    }
    pthread_mutex_unlock(&f->cmu);
    tl_buf_putc(out, '}');
}
