/* Sharded LRU cache of shopper profiles (see cache.h for the contract).
 *
 * Layout: S shards (power of two, default 64, reduced to the largest power of
 * two <= cap so that every shard can hold at least one profile). Key hash
 * h = XXH3-64(user_key, seed = shop_id); shard = (h >> 32) & (S - 1);
 * bucket = h & (B - 1) in the shard's chained table, B a power of two grown
 * x2 when entries exceed B (load factor <= 1; a failed grow keeps the old
 * table, which still works). Each shard keeps a doubly linked LRU list, head
 * = most recently locked; it evicts its tail when a miss would exceed its
 * part of the cap.
 *
 * Caps: shard i holds at most cap / S + (i < cap % S ? 1 : 0) profiles, so
 * the parts sum to cap exactly and memory is bounded by it. LRU order is
 * therefore per shard (approximate globally, exact with one shard).
 *
 * Invariants: an entry is in exactly one bucket chain and in the LRU list of
 * its shard; shard->n counts them; c->count is the sum of shard->n (updated
 * atomically under the shard locks). Profiles are only read or written with
 * their shard mutex held. */
#include "profile/cache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "core/alloc.h"
#include "core/hash.h"

struct entry {
    struct entry *hnext;
    struct entry *prev, *next; /* LRU: prev towards head (recent) */
    struct tl_profile *p;
    uint64_t h;
    uint32_t shop;
    int dirty;
    char key[]; /* NUL-terminated */
};

struct shard {
    pthread_mutex_t mu;
    struct entry **b;
    size_t nb;
    size_t n, cap;
    size_t n_dirty; /* entries with dirty set: a clean shard is skipped when collecting */
    struct entry *head, *tail;
    struct tl_pcache *c;
};

struct tl_pcache {
    struct shard *s;
    unsigned ns;
    size_t cap;
    tl_pcache_loader_fn loader;
    tl_pcache_evict_fn evict;
    void *ctx;
    _Atomic size_t count;
};

#define BUCKETS_INITIAL 16

static uint64_t key_hash(uint32_t shop, const char *key, size_t len) { return tl_hash(key, len, shop); }

static void lru_unlink(struct shard *s, struct entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        s->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        s->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push_head(struct shard *s, struct entry *e)
{
    e->prev = NULL;
    e->next = s->head;
    if (s->head) s->head->prev = e;
    s->head = e;
    if (!s->tail) s->tail = e;
}

static void bucket_unlink(struct shard *s, struct entry *e)
{
    struct entry **pp = &s->b[e->h & (s->nb - 1)];
    while (*pp && *pp != e) pp = &(*pp)->hnext;
    if (*pp) *pp = e->hnext;
    e->hnext = NULL;
}

static void rehash(struct shard *s)
{
    size_t nb = s->nb * 2;
    struct entry **b = tl_calloc(nb, sizeof *b);
    if (!b) return; /* keep the old table: chains just get longer */
    for (size_t i = 0; i < s->nb; i++) {
        struct entry *e = s->b[i];
        while (e) {
            struct entry *nx = e->hnext;
            size_t k = e->h & (nb - 1);
            e->hnext = b[k];
            b[k] = e;
            e = nx;
        }
    }
    tl_free(s->b);
    s->b = b;
    s->nb = nb;
}

/* Unlink e from its shard (LRU, bucket, counts); caller frees. */
static void detach(struct shard *s, struct entry *e)
{
    lru_unlink(s, e);
    bucket_unlink(s, e);
    s->n--;
    if (e->dirty) s->n_dirty--;
    atomic_fetch_sub(&s->c->count, 1);
}

static void evict_entry(struct shard *s, struct entry *e)
{
    detach(s, e);
    if (s->c->evict) s->c->evict(s->c->ctx, e->shop, e->key, e->p, e->dirty);
    tl_profile_free(e->p);
    tl_free(e);
}

enum tl_rc tl_pcache_create(const struct tl_pcache_opts *opts, struct tl_pcache **out, struct tl_err *err)
{
    if (!opts || !out) return tl_err_set(err, TL_EINVAL, NULL, "missing options");
    *out = NULL;
    if (opts->cap < 1 || opts->cap > TL_PCACHE_CAP_MAX)
        return tl_err_set(err, TL_EINVAL, "profiles_max", "profile cache cap must be 1..%zu, got %zu",
                          TL_PCACHE_CAP_MAX, opts->cap);
    unsigned ns = opts->shards ? opts->shards : TL_PCACHE_SHARDS_DEFAULT;
    if (ns > TL_PCACHE_SHARDS_MAX || (ns & (ns - 1)))
        return tl_err_set(err, TL_EINVAL, "shards", "shard count must be a power of two <= %d, got %u",
                          TL_PCACHE_SHARDS_MAX, ns);
    while (ns > 1 && ns > opts->cap) ns /= 2;
    struct tl_pcache *c = tl_calloc(1, sizeof *c);
    if (!c) return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    c->s = tl_calloc(ns, sizeof *c->s);
    if (!c->s) {
        tl_free(c);
        return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    }
    c->ns = ns;
    c->cap = opts->cap;
    c->loader = opts->loader;
    c->evict = opts->evict;
    c->ctx = opts->ctx;
    atomic_init(&c->count, 0);
    for (unsigned i = 0; i < ns; i++) {
        struct shard *s = &c->s[i];
        s->c = c;
        s->cap = opts->cap / ns + (i < opts->cap % ns ? 1 : 0);
        s->nb = BUCKETS_INITIAL;
        s->b = tl_calloc(s->nb, sizeof *s->b);
        if (!s->b || pthread_mutex_init(&s->mu, NULL) != 0) {
            tl_free(s->b);
            s->b = NULL;
            for (unsigned k = 0; k < i; k++) {
                pthread_mutex_destroy(&c->s[k].mu);
                tl_free(c->s[k].b);
            }
            tl_free(c->s);
            tl_free(c);
            return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
        }
    }
    *out = c;
    return TL_OK;
}

void tl_pcache_destroy(struct tl_pcache *c)
{
    if (!c) return;
    for (unsigned i = 0; i < c->ns; i++) {
        struct shard *s = &c->s[i];
        pthread_mutex_lock(&s->mu);
        while (s->tail) evict_entry(s, s->tail);
        pthread_mutex_unlock(&s->mu);
        pthread_mutex_destroy(&s->mu);
        tl_free(s->b);
    }
    tl_free(c->s);
    tl_free(c);
}

static int key_ok(const char *key, size_t *len)
{
    if (!key) return 0;
    *len = strnlen(key, TL_PCACHE_KEY_MAX + 1);
    return *len >= 1 && *len <= TL_PCACHE_KEY_MAX;
}

static struct shard *shard_of(struct tl_pcache *c, uint64_t h) { return &c->s[(h >> 32) & (c->ns - 1)]; }

static struct entry *find(struct shard *s, uint64_t h, uint32_t shop, const char *key)
{
    for (struct entry *e = s->b[h & (s->nb - 1)]; e; e = e->hnext)
        if (e->h == h && e->shop == shop && strcmp(e->key, key) == 0) return e;
    return NULL;
}

int tl_pcache_key_init(struct tl_pcache_key *k, uint32_t shop_id, const char *user_key)
{
    size_t len;
    int ok = key_ok(user_key, &len);
    k->s = user_key;
    k->shop = shop_id;
    k->len = ok ? len : 0;
    k->h = ok ? key_hash(shop_id, user_key, len) : 0;
    return ok;
}

void tl_pcache_prefetch(struct tl_pcache *c, const struct tl_pcache_key *k, int stage)
{
    if (!c || !k || !k->len) return;
    uint64_t h = k->h;
    uint32_t shop_id = k->shop;
    const char *user_key = k->s;
    struct shard *s = shard_of(c, h);
    pthread_mutex_lock(&s->mu);
    if (stage < 0) {
        __builtin_prefetch(&s->b[h & (s->nb - 1)]); /* a large cache's bucket array is not cached */
    } else if (stage == 0) {
        struct entry *e = s->b[h & (s->nb - 1)]; /* hinted at stage -1 */
        if (e) __builtin_prefetch(e);
    } else {
        struct entry *e = find(s, h, shop_id, user_key);
        if (e && stage == 1) {
            if (e->prev) __builtin_prefetch(e->prev);
            if (e->next) __builtin_prefetch(e->next);
            tl_profile_prefetch(e->p, 0);
        } else if (e) {
            tl_profile_prefetch(e->p, 1);
        }
    }
    pthread_mutex_unlock(&s->mu);
}

enum tl_rc tl_pcache_lock(struct tl_pcache *c, uint32_t shop_id, const char *user_key, int create_if_missing,
                          struct tl_profile **out, struct tl_pcache_guard *g)
{
    struct tl_pcache_key k;
    tl_pcache_key_init(&k, shop_id, user_key);
    return tl_pcache_lock_key(c, &k, create_if_missing, out, g);
}

enum tl_rc tl_pcache_lock_key(struct tl_pcache *c, const struct tl_pcache_key *k, int create_if_missing,
                              struct tl_profile **out, struct tl_pcache_guard *g)
{
    if (!c || !out || !g) return TL_EINVAL;
    *out = NULL;
    g->shard_ = g->entry_ = NULL;
    if (!k || !k->len) return TL_EINVAL;
    uint64_t h = k->h;
    uint32_t shop_id = k->shop;
    const char *user_key = k->s;
    size_t len = k->len;
    struct shard *s = shard_of(c, h);
    pthread_mutex_lock(&s->mu);
    struct entry *e = find(s, h, shop_id, user_key);
    if (e) {
        lru_unlink(s, e);
        lru_push_head(s, e);
    } else {
        struct tl_profile *p = NULL;
        enum tl_rc rc = c->loader ? c->loader(c->ctx, shop_id, user_key, &p) : TL_ENOTFOUND;
        if (rc == TL_OK && !p) rc = TL_EINTERNAL;
        if (rc == TL_ENOTFOUND && create_if_missing) {
            p = tl_profile_new(user_key);
            rc = p ? TL_OK : TL_ENOMEM;
        }
        if (rc) {
            pthread_mutex_unlock(&s->mu);
            return rc;
        }
        e = tl_malloc(sizeof *e + len + 1);
        if (!e) {
            tl_profile_free(p);
            pthread_mutex_unlock(&s->mu);
            return TL_ENOMEM;
        }
        memset(e, 0, sizeof *e);
        memcpy(e->key, user_key, len + 1);
        e->h = h;
        e->shop = shop_id;
        e->p = p;
        while (s->n >= s->cap && s->tail) evict_entry(s, s->tail);
        if (s->n + 1 > s->nb) rehash(s);
        size_t slot = h & (s->nb - 1);
        e->hnext = s->b[slot];
        s->b[slot] = e;
        lru_push_head(s, e);
        s->n++;
        atomic_fetch_add(&c->count, 1);
    }
    g->shard_ = s;
    g->entry_ = e;
    *out = e->p;
    return TL_OK;
}

void tl_pcache_unlock(struct tl_pcache_guard *g)
{
    if (!g || !g->shard_) return;
    struct shard *s = g->shard_;
    g->shard_ = g->entry_ = NULL;
    pthread_mutex_unlock(&s->mu);
}

static void set_dirty(struct shard *s, struct entry *e)
{
    if (!e->dirty) s->n_dirty++;
    e->dirty = 1;
}

void tl_pcache_mark_dirty(struct tl_pcache_guard *g)
{
    if (g && g->entry_) set_dirty(g->shard_, g->entry_);
}

void tl_pcache_replace(struct tl_pcache_guard *g, struct tl_profile *np)
{
    if (!g || !g->entry_ || !np) return;
    struct entry *e = g->entry_;
    if (e->p != np) tl_profile_free(e->p);
    e->p = np;
    set_dirty(g->shard_, e);
}

enum tl_rc tl_pcache_remove(struct tl_pcache *c, uint32_t shop_id, const char *user_key, struct tl_profile **out)
{
    struct tl_pcache_key k;
    if (out) *out = NULL;
    if (!c || !tl_pcache_key_init(&k, shop_id, user_key)) return TL_EINVAL;
    struct shard *s = shard_of(c, k.h);
    pthread_mutex_lock(&s->mu);
    struct entry *e = find(s, k.h, shop_id, user_key);
    if (e) detach(s, e);
    pthread_mutex_unlock(&s->mu);
    if (!e) return TL_ENOTFOUND;
    if (out)
        *out = e->p;
    else
        tl_profile_free(e->p);
    tl_free(e);
    return TL_OK;
}

enum tl_rc tl_pcache_collect_dirty(struct tl_pcache *c, tl_pcache_dirty_fn cb, void *ctx, size_t *n)
{
    return tl_pcache_collect_dirty_shards(c, 0, c ? c->ns : 0, cb, ctx, n);
}

/* Collecting walks a shard's dirty entries in windows of COLLECT_CHUNK and
 * hints the profiles the callback will read next (tl_profile_prefetch):
 * the struct of the one COLLECT_AHEAD_STRUCT ahead, the lists of the one
 * COLLECT_AHEAD_LISTS ahead, the strings of the next one. Serializing is
 * otherwise a chain of cache misses on cold profiles (BENCHMARKS.md). */
#define COLLECT_CHUNK 64
#define COLLECT_AHEAD_STRUCT 6
#define COLLECT_AHEAD_LISTS 3

enum tl_rc tl_pcache_collect_dirty_shards(struct tl_pcache *c, unsigned lo, unsigned hi, tl_pcache_dirty_fn cb,
                                          void *ctx, size_t *n)
{
    size_t got = 0;
    enum tl_rc rc = TL_OK;
    if (n) *n = 0;
    if (!c || !cb || lo > hi || hi > c->ns) return TL_EINVAL;
    for (unsigned i = lo; i < hi && rc == TL_OK; i++) {
        struct shard *s = &c->s[i];
        pthread_mutex_lock(&s->mu);
        struct entry *win[COLLECT_CHUNK], *e = s->head;
        while (rc == TL_OK && e && s->n_dirty) { /* stops after the last dirty one */
            size_t m = 0;
            for (; e && m < COLLECT_CHUNK && m < s->n_dirty; e = e->next)
                if (e->dirty) win[m++] = e;
            for (size_t k = 0; k < m && rc == TL_OK; k++) {
                if (k + COLLECT_AHEAD_STRUCT < m) tl_profile_prefetch(win[k + COLLECT_AHEAD_STRUCT]->p, 0);
                if (k + COLLECT_AHEAD_LISTS < m) tl_profile_prefetch(win[k + COLLECT_AHEAD_LISTS]->p, 2);
                if (k + 1 < m) tl_profile_prefetch(win[k + 1]->p, 3);
                rc = cb(ctx, win[k]->shop, win[k]->key, win[k]->p);
                if (rc) break;
                win[k]->dirty = 0;
                s->n_dirty--;
                got++;
            }
        }
        pthread_mutex_unlock(&s->mu);
    }
    if (n) *n = got;
    return rc;
}

size_t tl_pcache_count(const struct tl_pcache *c) { return c ? atomic_load(&c->count) : 0; }
size_t tl_pcache_cap(const struct tl_pcache *c) { return c ? c->cap : 0; }

void tl_pcache_set_cap(struct tl_pcache *c, size_t cap)
{
    unsigned ns = c->ns;
    if (cap < ns) cap = ns; /* every shard keeps room for one */
    if (cap > TL_PCACHE_CAP_MAX) cap = TL_PCACHE_CAP_MAX;
    c->cap = cap;
    for (unsigned i = 0; i < ns; i++) {
        struct shard *s = &c->s[i];
        pthread_mutex_lock(&s->mu);
        s->cap = cap / ns + (i < cap % ns ? 1 : 0); /* a shard over it evicts at its next miss */
        pthread_mutex_unlock(&s->mu);
    }
}
unsigned tl_pcache_shards(const struct tl_pcache *c) { return c ? c->ns : 0; }

size_t tl_pcache_memory(struct tl_pcache *c)
{
    if (!c) return 0;
    size_t total = 0;
    for (unsigned i = 0; i < c->ns; i++) {
        struct shard *s = &c->s[i];
        pthread_mutex_lock(&s->mu);
        total += s->nb * sizeof *s->b;
        for (struct entry *e = s->head; e; e = e->next)
            total += sizeof *e + strlen(e->key) + 1 + tl_profile_memory(e->p);
        pthread_mutex_unlock(&s->mu);
    }
    return total;
}
