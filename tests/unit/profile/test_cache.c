/* Tests for src/profile/cache.c: lookup and creation, loader, LRU eviction
 * order, the cap, the evict callback, dirty collection, removal, and several
 * threads hammering the cache.
 *
 * Criterion cannot run under ThreadSanitizer (Snaipe/Criterion#274: its
 * inheritable arena fails to map), so the concurrency test also builds as a
 * plain program for TSan:
 *   gcc -DTL_PCACHE_STANDALONE -fsanitize=thread <flags> tests/unit/profile/test_cache.c
 *       <the .c files of src/core, src/store/types.c, src/profile> -pthread -lm && ./a.out
 */
#ifndef TL_PCACHE_STANDALONE
#include <criterion/criterion.h>
#endif
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "profile/cache.h"

#define T0 1700000000000LL

#ifndef TL_PCACHE_STANDALONE
struct rec {
    char keys[64][32];
    int dirty[64];
    uint32_t shops[64];
    int n;
};

static void rec_evict(void *ctx, uint32_t shop, const char *key, const struct tl_profile *p, int dirty)
{
    struct rec *r = ctx;
    cr_assert_str_eq(tl_profile_user_key(p), key);
    if (r->n < 64) {
        snprintf(r->keys[r->n], sizeof r->keys[0], "%s", key);
        r->dirty[r->n] = dirty;
        r->shops[r->n] = shop;
    }
    r->n++;
}

static struct tl_pcache *mk(size_t cap, unsigned shards, tl_pcache_loader_fn loader, void *ctx)
{
    struct tl_pcache_opts o = {cap, shards, loader, rec_evict, ctx};
    struct tl_pcache *c = NULL;
    struct tl_err err;
    tl_err_clear(&err);
    cr_assert_eq(tl_pcache_create(&o, &c, &err), TL_OK, "%s", err.msg);
    return c;
}

static void touch(struct tl_pcache *c, uint32_t shop, const char *key, int dirty)
{
    struct tl_profile *p;
    struct tl_pcache_guard g;
    cr_assert_eq(tl_pcache_lock(c, shop, key, 1, &p, &g), TL_OK);
    cr_assert_str_eq(tl_profile_user_key(p), key);
    if (dirty) tl_pcache_mark_dirty(&g);
    tl_pcache_unlock(&g);
}

Test(pcache, create_rejects_bad_options)
{
    struct tl_pcache *c = (struct tl_pcache *)(uintptr_t)1;
    struct tl_err err;
    struct tl_pcache_opts o = {0, 0, NULL, NULL, NULL};
    tl_err_clear(&err);
    cr_assert_eq(tl_pcache_create(&o, &c, &err), TL_EINVAL);
    cr_assert_null(c);
    cr_assert_str_eq(err.field, "profiles_max");
    o.cap = 10;
    o.shards = 3;
    cr_assert_eq(tl_pcache_create(&o, &c, &err), TL_EINVAL);
    o.shards = 2048;
    cr_assert_eq(tl_pcache_create(&o, &c, &err), TL_EINVAL);
    cr_assert_eq(tl_pcache_create(NULL, &c, &err), TL_EINVAL);
    /* small caps reduce the shard count so every shard holds one */
    o.shards = 0;
    o.cap = 5;
    cr_assert_eq(tl_pcache_create(&o, &c, &err), TL_OK);
    cr_assert_eq(tl_pcache_shards(c), 4);
    cr_assert_eq(tl_pcache_cap(c), 5);
    tl_pcache_destroy(c);
    o.cap = 100000;
    cr_assert_eq(tl_pcache_create(&o, &c, &err), TL_OK);
    cr_assert_eq(tl_pcache_shards(c), TL_PCACHE_SHARDS_DEFAULT);
    tl_pcache_destroy(c);
}

Test(pcache, lock_create_find_and_bad_keys)
{
    struct rec r = {0};
    struct tl_pcache *c = mk(10, 0, NULL, &r);
    struct tl_profile *p, *p2;
    struct tl_pcache_guard g;
    cr_assert_eq(tl_pcache_lock(c, 1, "u1", 0, &p, &g), TL_ENOTFOUND);
    cr_assert_null(p);
    cr_assert_eq(tl_pcache_count(c), 0);
    cr_assert_eq(tl_pcache_lock(c, 1, "u1", 1, &p, &g), TL_OK);
    struct tl_profile_event e;
    memset(&e, 0, sizeof e);
    e.type = TL_EV_PRODUCT_VIEW;
    e.ts_ms = T0;
    e.item_id = "i";
    e.price = e.quantity = e.scroll_depth = NAN;
    e.dwell_ms = -1;
    cr_assert_eq(tl_profile_apply(p, &e, NULL), TL_OK);
    tl_pcache_unlock(&g);
    tl_pcache_unlock(&g); /* second unlock is a no-op */
    cr_assert_eq(tl_pcache_lock(c, 1, "u1", 0, &p2, &g), TL_OK);
    cr_assert_eq(p2, p);
    cr_assert_eq(tl_profile_count(p2, TL_EV_PRODUCT_VIEW), 1);
    tl_pcache_unlock(&g);
    /* same key, other shop: another profile */
    cr_assert_eq(tl_pcache_lock(c, 2, "u1", 1, &p2, &g), TL_OK);
    cr_assert_neq(p2, p);
    cr_assert_eq(tl_profile_count(p2, TL_EV_PRODUCT_VIEW), 0);
    tl_pcache_unlock(&g);
    cr_assert_eq(tl_pcache_count(c), 2);
    char big[TL_PCACHE_KEY_MAX + 2];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    cr_assert_eq(tl_pcache_lock(c, 1, big, 1, &p, &g), TL_EINVAL);
    cr_assert_eq(tl_pcache_lock(c, 1, "", 1, &p, &g), TL_EINVAL);
    cr_assert_eq(tl_pcache_lock(c, 1, NULL, 1, &p, &g), TL_EINVAL);
    cr_assert_eq(tl_pcache_remove(c, 1, NULL, NULL), TL_EINVAL);
    big[TL_PCACHE_KEY_MAX] = 0;
    cr_assert_eq(tl_pcache_lock(c, 1, big, 1, &p, &g), TL_OK);
    tl_pcache_unlock(&g);
    tl_pcache_destroy(c);
    cr_assert_eq(r.n, 3); /* destroy hands every profile to the evict callback */
}

struct loader_ctx {
    int calls;
    struct rec r;
};

static enum tl_rc test_loader(void *ctx, uint32_t shop, const char *key, struct tl_profile **out)
{
    struct loader_ctx *l = ctx;
    l->calls++;
    if (strcmp(key, "broken") == 0) return TL_EIO;
    if (strcmp(key, "null") == 0) return TL_OK; /* buggy loader: OK without a profile */
    if (strncmp(key, "known", 5) != 0) return TL_ENOTFOUND;
    struct tl_profile *p = tl_profile_new(key);
    if (!p) return TL_ENOMEM;
    cr_assert_eq(tl_profile_set_country(p, "GB", T0), TL_OK);
    *out = p;
    return TL_OK;
}

static void loader_evict(void *ctx, uint32_t shop, const char *key, const struct tl_profile *p, int dirty)
{
    struct loader_ctx *l = ctx;
    rec_evict(&l->r, shop, key, p, dirty);
}

Test(pcache, loader_on_miss)
{
    struct loader_ctx l = {0};
    struct tl_pcache_opts o = {4, 1, test_loader, loader_evict, &l};
    struct tl_pcache *c;
    cr_assert_eq(tl_pcache_create(&o, &c, NULL), TL_OK);
    struct tl_profile *p;
    struct tl_pcache_guard g;
    cr_assert_eq(tl_pcache_lock(c, 1, "known-1", 0, &p, &g), TL_OK);
    cr_assert_str_eq(tl_profile_country(p), "GB");
    tl_pcache_unlock(&g);
    cr_assert_eq(l.calls, 1);
    cr_assert_eq(tl_pcache_lock(c, 1, "known-1", 0, &p, &g), TL_OK); /* hit: no load */
    tl_pcache_unlock(&g);
    cr_assert_eq(l.calls, 1);
    cr_assert_eq(tl_pcache_lock(c, 1, "fresh", 0, &p, &g), TL_ENOTFOUND);
    cr_assert_eq(tl_pcache_lock(c, 1, "fresh", 1, &p, &g), TL_OK);
    cr_assert_str_eq(tl_profile_country(p), "");
    tl_pcache_unlock(&g);
    /* loader errors propagate and leave nothing locked (one shard: a held
     * mutex would deadlock the next call) */
    cr_assert_eq(tl_pcache_lock(c, 1, "broken", 1, &p, &g), TL_EIO);
    cr_assert_eq(tl_pcache_lock(c, 1, "null", 1, &p, &g), TL_EINTERNAL);
    cr_assert_eq(tl_pcache_lock(c, 1, "known-1", 0, &p, &g), TL_OK);
    tl_pcache_unlock(&g);
    cr_assert_eq(tl_pcache_count(c), 2);
    tl_pcache_destroy(c);
}

Test(pcache, lru_eviction_order_and_callback)
{
    struct rec r = {0};
    struct tl_pcache *c = mk(3, 1, NULL, &r);
    touch(c, 1, "a", 1);
    touch(c, 1, "b", 0);
    touch(c, 1, "c", 1);
    touch(c, 1, "a", 0); /* a becomes most recent; LRU order now b, c, a */
    touch(c, 1, "d", 0); /* evicts b */
    cr_assert_eq(r.n, 1);
    cr_assert_str_eq(r.keys[0], "b");
    cr_assert_eq(r.dirty[0], 0);
    touch(c, 1, "e", 0); /* evicts c (dirty) */
    cr_assert_eq(r.n, 2);
    cr_assert_str_eq(r.keys[1], "c");
    cr_assert_eq(r.dirty[1], 1);
    touch(c, 2, "f", 0); /* evicts a (dirty since the first touch) */
    cr_assert_str_eq(r.keys[2], "a");
    cr_assert_eq(r.dirty[2], 1);
    cr_assert_eq(r.shops[2], 1);
    cr_assert_eq(tl_pcache_count(c), 3);
    /* a lookup without create of an evicted key misses */
    struct tl_profile *p;
    struct tl_pcache_guard g;
    cr_assert_eq(tl_pcache_lock(c, 1, "b", 0, &p, &g), TL_ENOTFOUND);
    tl_pcache_destroy(c);
    cr_assert_eq(r.n, 6);
    cr_assert_str_eq(r.keys[3], "d"); /* destroy goes from the LRU end */
    cr_assert_str_eq(r.keys[5], "f");
    cr_assert_eq(r.shops[5], 2);
}

/* set_cap: a higher cap keeps more profiles (none evicted up to it); under
 * a lower one the next miss evicts the least recently used, through the
 * callback, down to the new cap; a cap under the shard count is raised to
 * it. */
Test(pcache, set_cap_raises_and_lowers)
{
    struct rec r = {0};
    struct tl_pcache *c = mk(2, 1, NULL, &r);
    tl_pcache_set_cap(c, 5);
    cr_assert_eq(tl_pcache_cap(c), 5);
    const char *keys[] = {"a", "b", "c", "d", "e"};
    for (int i = 0; i < 5; i++) touch(c, 1, keys[i], i == 1);
    cr_assert_eq(r.n, 0, "nothing evicted up to the raised cap");
    cr_assert_eq(tl_pcache_count(c), 5);
    touch(c, 1, "a", 0); /* LRU order now b, c, d, e, a */
    tl_pcache_set_cap(c, 2);
    cr_assert_eq(tl_pcache_cap(c), 2);
    cr_assert_eq(r.n, 0, "nothing evicted until a miss");
    touch(c, 1, "a", 0); /* a hit evicts nothing either */
    cr_assert_eq(r.n, 0);
    touch(c, 1, "f", 0); /* a miss: down to 1, then f */
    cr_assert_eq(r.n, 4);
    cr_assert_str_eq(r.keys[0], "b");
    cr_assert_eq(r.dirty[0], 1);
    cr_assert_str_eq(r.keys[1], "c");
    cr_assert_str_eq(r.keys[2], "d");
    cr_assert_str_eq(r.keys[3], "e");
    cr_assert_eq(tl_pcache_count(c), 2);
    touch(c, 1, "g", 0); /* evicts a */
    cr_assert_eq(r.n, 5);
    cr_assert_str_eq(r.keys[4], "a");
    tl_pcache_destroy(c);

    struct rec r2 = {0};
    c = mk(64, 4, NULL, &r2);
    cr_assert_eq(tl_pcache_shards(c), 4);
    tl_pcache_set_cap(c, 1);
    cr_assert_eq(tl_pcache_cap(c), 4, "at least one per shard");
    tl_pcache_destroy(c);
}

/* Prefetch hints change nothing: after hints of every stage on cached,
 * missing and invalid keys (and a NULL cache), the LRU order, the dirty
 * flags and the contents are those of the same touches without hints. */
Test(pcache, prefetch_changes_nothing)
{
    struct rec r = {0};
    struct tl_pcache *c = mk(3, 1, NULL, &r);
    const char *keys[] = {"a", "b", "c", "zz", "", NULL};
    touch(c, 1, "a", 1);
    touch(c, 1, "b", 0);
    touch(c, 1, "c", 1);
    for (int stage = 0; stage < 3; stage++)
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            struct tl_pcache_key k1, k2;
            cr_assert_eq(tl_pcache_key_init(&k1, 1, keys[k]), keys[k] && *keys[k], "empty and NULL keys are not ok");
            tl_pcache_key_init(&k2, 2, keys[k]);
            tl_pcache_prefetch(c, &k1, stage);
            tl_pcache_prefetch(c, &k2, stage);
            tl_pcache_prefetch(NULL, &k1, stage);
            tl_pcache_prefetch(c, NULL, stage);
        }
    cr_assert_eq(tl_pcache_count(c), 3);
    cr_assert_eq(r.n, 0);
    struct tl_pcache_key bad;
    struct tl_profile *p;
    struct tl_pcache_guard g;
    cr_assert_eq(tl_pcache_key_init(&bad, 1, ""), 0);
    cr_assert_eq(tl_pcache_lock_key(c, &bad, 1, &p, &g), TL_EINVAL, "an empty prepared key is refused");
    cr_assert_eq(tl_pcache_count(c), 3);
    touch(c, 1, "d", 0); /* evicts a: the hints on a did not make it recent */
    cr_assert_eq(r.n, 1);
    cr_assert_str_eq(r.keys[0], "a");
    cr_assert_eq(r.dirty[0], 1);
    touch(c, 1, "e", 0);
    cr_assert_str_eq(r.keys[1], "b");
    cr_assert_eq(r.dirty[1], 0);
    tl_pcache_destroy(c);
}

Test(pcache, cap_respected_across_shards)
{
    struct rec r = {0};
    struct tl_pcache *c = mk(100, 0, NULL, &r);
    cr_assert_eq(tl_pcache_shards(c), 64);
    for (int i = 0; i < 5000; i++) {
        char k[32];
        snprintf(k, sizeof k, "user-%d", i);
        touch(c, 1 + (uint32_t)(i % 3), k, 0);
        cr_assert_leq(tl_pcache_count(c), 100);
    }
    cr_assert_eq(tl_pcache_count(c), 100); /* every shard filled to its part */
    cr_assert_eq(r.n, 4900);
    tl_pcache_destroy(c);
    cr_assert_eq(r.n, 5000);
}

#define SEEN_MAX 256

struct dirty_ctx {
    int n;
    int fail_at;
    char seen[SEEN_MAX][16];
};

static enum tl_rc collect_cb(void *ctx, uint32_t shop, const char *key, const struct tl_profile *p)
{
    struct dirty_ctx *d = ctx;
    (void)shop;
    if (d->n == d->fail_at) return TL_ESTORE;
    cr_assert_str_eq(tl_profile_user_key(p), key);
    cr_assert_lt(d->n, SEEN_MAX);
    snprintf(d->seen[d->n++], sizeof d->seen[0], "%s", key);
    return TL_OK;
}

/* Profiles k000 .. k<n-1> of shop 1, in that order, each dirty unless its
 * number is a multiple of clean_every. */
static void touch_numbered(struct tl_pcache *c, int n, int clean_every)
{
    for (int i = 0; i < n; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%03d", i);
        touch(c, 1, k, i % clean_every != 0);
    }
}

Test(pcache, collect_dirty_clears_flags)
{
    struct rec r = {0};
    struct tl_pcache *c = mk(50, 4, NULL, &r);
    touch_numbered(c, 10, 2); /* k001, k003, ... dirty */
    /* a failing callback keeps the rest dirty */
    struct dirty_ctx d = {0, 2, {{0}}};
    size_t n;
    cr_assert_eq(tl_pcache_collect_dirty(c, collect_cb, &d, &n), TL_ESTORE);
    cr_assert_eq(n, 2);
    d = (struct dirty_ctx){0, -1, {{0}}};
    cr_assert_eq(tl_pcache_collect_dirty(c, collect_cb, &d, &n), TL_OK);
    cr_assert_eq(n, 3);
    for (int i = 0; i < 3; i++) {
        int idx;
        cr_assert_eq(sscanf(d.seen[i], "k%d", &idx), 1);
        cr_assert_eq(idx % 2, 1);
    }
    d = (struct dirty_ctx){0, -1, {{0}}};
    cr_assert_eq(tl_pcache_collect_dirty(c, collect_cb, &d, &n), TL_OK);
    cr_assert_eq(n, 0);
    touch(c, 1, "k000", 1);
    cr_assert_eq(tl_pcache_collect_dirty(c, collect_cb, &d, &n), TL_OK);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(d.seen[0], "k000");
    cr_assert_eq(tl_pcache_collect_dirty(c, NULL, &d, &n), TL_EINVAL);
    tl_pcache_destroy(c);
}

/* Collection walks a shard in windows of dirty entries (64 at a time,
 * with hints ahead): 300 profiles in one shard, every third clean, a
 * callback failing at the 100th dirty one (inside the second window). The
 * first 100 come back and are clean; the next collection gives exactly the
 * other 100, in LRU order, none twice. */
Test(pcache, collect_across_windows_resumes_after_a_failure)
{
    struct rec r = {0};
    struct tl_pcache *c = mk(300, 1, NULL, &r);
    touch_numbered(c, 300, 3);
    static struct dirty_ctx w1, w2;
    w1 = (struct dirty_ctx){0, 100, {{0}}};
    w2 = (struct dirty_ctx){0, -1, {{0}}};
    size_t n;
    cr_assert_eq(tl_pcache_collect_dirty(c, collect_cb, &w1, &n), TL_ESTORE);
    cr_assert_eq(n, 100);
    cr_assert_eq(tl_pcache_collect_dirty(c, collect_cb, &w2, &n), TL_OK);
    cr_assert_eq(n, 100);
    /* head first: the most recently touched key is k299 */
    int at = 0;
    for (int i = 299; i >= 0; i--) {
        if (i % 3 == 0) continue;
        char k[16];
        snprintf(k, sizeof k, "k%03d", i);
        cr_assert_str_eq(at < 100 ? w1.seen[at] : w2.seen[at - 100], k, "dirty profile %d", at);
        at++;
    }
    cr_assert_eq(at, 200);
    cr_assert_eq(tl_pcache_collect_dirty(c, collect_cb, &w2, &n), TL_OK);
    cr_assert_eq(n, 0, "all clean now");
    tl_pcache_destroy(c);
}

/* Which profiles are dirty, against a model, over random touches (clean or
 * dirty), removals, replacements and collections (each collection must
 * hand over exactly the dirty ones still cached, however many were evicted
 * or removed dirty before; the cache stops walking a shard after its last
 * dirty entry). One shard of 6, so the model's LRU order is exact. */
Test(pcache, dirty_set_matches_model)
{
    struct rec r = {0};
    struct tl_pcache *c = mk(6, 1, NULL, &r);
    char lru[6][8]; /* model: most recent first */
    int dirty[6], n = 0;
    uint64_t seed = 12345;
    for (int step = 0; step < 5000; step++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        char key[8];
        snprintf(key, sizeof key, "k%d", (int)((seed >> 33) % 10));
        int op = (int)((seed >> 50) % 10), at = -1;
        for (int i = 0; i < n; i++)
            if (strcmp(lru[i], key) == 0) at = i;
        if (op < 6) { /* touch: to the front, evicting the last when full */
            int d = op < 3;
            int was = at >= 0 ? dirty[at] : 0;
            if (at >= 0) {
                memmove(&lru[1], &lru[0], (size_t)at * sizeof lru[0]);
                memmove(&dirty[1], &dirty[0], (size_t)at * sizeof dirty[0]);
            } else {
                if (n == 6) n--;
                memmove(&lru[1], &lru[0], (size_t)n * sizeof lru[0]);
                memmove(&dirty[1], &dirty[0], (size_t)n * sizeof dirty[0]);
                n++;
            }
            snprintf(lru[0], sizeof lru[0], "%s", key);
            dirty[0] = was || d;
            touch(c, 1, key, d);
        } else if (op == 6) { /* remove */
            cr_assert_eq(tl_pcache_remove(c, 1, key, NULL), at >= 0 ? TL_OK : TL_ENOTFOUND);
            if (at >= 0) {
                memmove(&lru[at], &lru[at + 1], (size_t)(n - at - 1) * sizeof lru[0]);
                memmove(&dirty[at], &dirty[at + 1], (size_t)(n - at - 1) * sizeof dirty[0]);
                n--;
            }
        } else if (op == 7 && at >= 0) { /* replace: dirty, and to the front like any lock */
            struct tl_profile *p;
            struct tl_pcache_guard g;
            cr_assert_eq(tl_pcache_lock(c, 1, key, 0, &p, &g), TL_OK);
            tl_pcache_replace(&g, tl_profile_new(key));
            tl_pcache_unlock(&g);
            memmove(&lru[1], &lru[0], (size_t)at * sizeof lru[0]);
            memmove(&dirty[1], &dirty[0], (size_t)at * sizeof dirty[0]);
            snprintf(lru[0], sizeof lru[0], "%s", key);
            dirty[0] = 1;
        } else if (op >= 8) { /* collect */
            struct dirty_ctx d = {0, -1, {{0}}};
            size_t got;
            cr_assert_eq(tl_pcache_collect_dirty(c, collect_cb, &d, &got), TL_OK);
            int want = 0;
            for (int i = 0; i < n; i++)
                if (dirty[i]) {
                    cr_assert_str_eq(d.seen[want], lru[i], "step %d: dirty %d", step, want); /* LRU order, head first */
                    want++;
                }
            cr_assert_eq((int)got, want, "step %d", step);
            for (int i = 0; i < n; i++) dirty[i] = 0;
        }
    }
    tl_pcache_destroy(c);
}

Test(pcache, remove_and_replace)
{
    struct rec r = {0};
    struct tl_pcache *c = mk(8, 2, NULL, &r);
    touch(c, 1, "anon", 1);
    touch(c, 1, "cust", 0);
    struct tl_profile *taken = NULL;
    cr_assert_eq(tl_pcache_remove(c, 1, "anon", &taken), TL_OK);
    cr_assert_not_null(taken);
    cr_assert_str_eq(tl_profile_user_key(taken), "anon");
    cr_assert_eq(tl_pcache_count(c), 1);
    cr_assert_eq(tl_pcache_remove(c, 1, "anon", NULL), TL_ENOTFOUND);
    cr_assert_eq(r.n, 0); /* removal does not call evict */
    /* identity merge as the engine does it */
    struct tl_profile *p;
    struct tl_pcache_guard g;
    cr_assert_eq(tl_pcache_lock(c, 1, "cust", 0, &p, &g), TL_OK);
    cr_assert_eq(tl_profile_merge(p, taken), TL_OK);
    tl_pcache_mark_dirty(&g);
    tl_pcache_unlock(&g);
    tl_profile_free(taken);
    cr_assert_eq(tl_pcache_lock(c, 1, "cust", 0, &p, &g), TL_OK);
    cr_assert_str_eq(tl_profile_linked_id(p, 0), "anon");
    struct tl_profile *np = tl_profile_new("cust");
    tl_pcache_replace(&g, np);
    tl_pcache_unlock(&g);
    cr_assert_eq(tl_pcache_lock(c, 1, "cust", 0, &p, &g), TL_OK);
    cr_assert_eq(p, np);
    cr_assert_eq(tl_profile_linked_count(p), 0);
    tl_pcache_unlock(&g);
    cr_assert_eq(tl_pcache_remove(c, 1, "cust", NULL), TL_OK);
    cr_assert_eq(tl_pcache_count(c), 0);
    tl_pcache_destroy(c);
    cr_assert_eq(r.n, 0);
}

Test(pcache, allocation_failure_on_miss)
{
    struct rec r = {0};
    struct tl_pcache *c = mk(8, 1, NULL, &r);
    long live = tl_alloc_live();
    int ok = 0;
    for (long k = 0; k < 20 && !ok; k++) {
        struct tl_profile *p;
        struct tl_pcache_guard g;
        tl_alloc_fail_after(k);
        enum tl_rc rc = tl_pcache_lock(c, 1, "x", 1, &p, &g);
        tl_alloc_fail_after(-1);
        if (rc == TL_OK) {
            ok = 1;
            tl_pcache_unlock(&g);
        } else {
            cr_assert_eq(rc, TL_ENOMEM);
            cr_assert_eq(tl_alloc_live(), live);
            cr_assert_eq(tl_pcache_count(c), 0);
        }
    }
    cr_assert(ok);
    tl_pcache_destroy(c);
}

#endif /* !TL_PCACHE_STANDALONE */

/* ---- concurrency ---- */

#define N_THREADS 6
#define OPS 20000
#define KEYS 400

struct hammer {
    struct tl_pcache *c;
    _Atomic long evicted_views;
    _Atomic long removed_views;
    _Atomic long applied;
    _Atomic int stop;
    _Atomic long collected;
};

static void hammer_evict(void *ctx, uint32_t shop, const char *key, const struct tl_profile *p, int dirty)
{
    struct hammer *h = ctx;
    atomic_fetch_add(&h->evicted_views, (long)tl_profile_count(p, TL_EV_PRODUCT_VIEW));
}

static enum tl_rc hammer_collect(void *ctx, uint32_t shop, const char *key, const struct tl_profile *p)
{
    struct hammer *h = ctx;
    atomic_fetch_add(&h->collected, 1);
    return tl_profile_count(p, TL_EV_PRODUCT_VIEW) > 0 ? TL_OK : TL_EINTERNAL;
}

struct worker {
    struct hammer *h;
    unsigned seed;
};

static void *hammer_worker(void *arg)
{
    struct worker *w = arg;
    struct hammer *h = w->h;
    unsigned s = w->seed;
    for (int i = 0; i < OPS; i++) {
        s = s * 1103515245u + 12345u;
        unsigned r = (s >> 8) % KEYS;
        char key[32];
        snprintf(key, sizeof key, "user-%u", r);
        uint32_t shop = 1 + (r & 1);
        if ((s >> 20) % 50 == 0) {
            struct tl_profile *taken = NULL;
            if (tl_pcache_remove(h->c, shop, key, &taken) == TL_OK) {
                atomic_fetch_add(&h->removed_views, (long)tl_profile_count(taken, TL_EV_PRODUCT_VIEW));
                tl_profile_free(taken);
            }
            continue;
        }
        /* hints for a key some operations ahead, as an import gives them */
        char ahead[32];
        snprintf(ahead, sizeof ahead, "user-%u", (r + 7) % KEYS);
        struct tl_pcache_key ka, kk;
        tl_pcache_key_init(&ka, 1 + (((r + 7) % KEYS) & 1), ahead);
        tl_pcache_prefetch(h->c, &ka, (int)((s >> 12) % 3));
        struct tl_profile *p;
        struct tl_pcache_guard g;
        tl_pcache_key_init(&kk, shop, key);
        if (((s >> 20) & 1 ? tl_pcache_lock_key(h->c, &kk, 1, &p, &g) : tl_pcache_lock(h->c, shop, key, 1, &p, &g)) !=
            TL_OK)
            continue;
        struct tl_profile_event e;
        memset(&e, 0, sizeof e);
        e.type = TL_EV_PRODUCT_VIEW;
        e.ts_ms = T0 + i;
        e.item_id = "item";
        e.category = "Cat";
        e.price = e.quantity = e.scroll_depth = NAN;
        e.dwell_ms = -1;
        if (tl_profile_apply(p, &e, NULL) == TL_OK) atomic_fetch_add(&h->applied, 1);
        tl_pcache_mark_dirty(&g);
        tl_pcache_unlock(&g);
    }
    return NULL;
}

static void *hammer_checkpointer(void *arg)
{
    struct hammer *h = arg;
    while (!atomic_load(&h->stop)) {
        size_t n;
        tl_pcache_collect_dirty(h->c, hammer_collect, h, &n);
        if (tl_pcache_count(h->c) > tl_pcache_cap(h->c)) atomic_store(&h->stop, 2);
    }
    return NULL;
}

/* Run the hammer; NULL on success, else what went wrong. */
static const char *hammer_run(void)
{
    static struct hammer h;
    memset(&h, 0, sizeof h);
    struct tl_pcache_opts o = {128, 16, NULL, hammer_evict, &h};
    if (tl_pcache_create(&o, &h.c, NULL) != TL_OK) return "create failed";
    pthread_t th[N_THREADS], cp;
    struct worker w[N_THREADS];
    if (pthread_create(&cp, NULL, hammer_checkpointer, &h) != 0) return "pthread_create failed";
    for (int i = 0; i < N_THREADS; i++) {
        w[i] = (struct worker){&h, 77u + (unsigned)i * 7919u};
        if (pthread_create(&th[i], NULL, hammer_worker, &w[i]) != 0) return "pthread_create failed";
    }
    for (int i = 0; i < N_THREADS; i++) pthread_join(th[i], NULL);
    int stop_state = atomic_exchange(&h.stop, 1);
    pthread_join(cp, NULL);
    if (stop_state == 2) return "cap exceeded during the run";
    if (tl_pcache_count(h.c) > 128) return "cap exceeded at the end";
    if (atomic_load(&h.applied) <= N_THREADS * OPS * 9 / 10) return "too few events applied";
    if (atomic_load(&h.collected) == 0) return "checkpointer collected nothing";
    tl_pcache_destroy(h.c);
    /* every applied view ends in exactly one profile: evicted, removed or
     * handed over at destroy */
    if (atomic_load(&h.evicted_views) + atomic_load(&h.removed_views) != atomic_load(&h.applied))
        return "views lost or double counted";
    return NULL;
}

#ifndef TL_PCACHE_STANDALONE
Test(pcache, threads_hammering, .timeout = 120)
{
    const char *why = hammer_run();
    cr_assert_null(why, "%s", why);
}
#else
int main(void)
{
    const char *why = hammer_run();
    if (why) fprintf(stderr, "threads_hammering: %s\n", why);
    printf("%d passed, %d failed\n", why ? 0 : 1, why ? 1 : 0);
    return why ? 1 : 0;
}
#endif
