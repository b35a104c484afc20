/* Thread-safe, size-capped cache of shopper profiles:
 * (shop_id, user_key) -> struct tl_profile *, least-recently-used eviction.
 *
 * Sharded: each shard has its own mutex, hash table and LRU list, and an
 * equal part of the global cap (the parts add up to the cap exactly, so the
 * number of profiles in memory never exceeds it). A profile is only touched
 * while its shard mutex is held: tl_pcache_lock() returns it locked and
 * tl_pcache_unlock() releases it. Hold one guard at a time per thread (two
 * keys may share a shard: locking a second one would deadlock); to combine
 * two profiles (identity merge) take the first out with tl_pcache_remove().
 *
 * Callbacks (set at create) run with the shard mutex held and must not call
 * back into the cache:
 *  - loader: on a miss, rebuilds a profile from persistent storage.
 *  - evict:  with each profile pushed out by the cap (and at destroy), before
 *    it is freed, so the engine can persist it. Running it under the lock
 *    guarantees that a concurrent miss for the same key cannot reload a stale
 *    copy before the evicted one is written. */
#ifndef TL_PROFILE_CACHE_H
#define TL_PROFILE_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "profile/profile.h"

#define TL_PCACHE_SHARDS_DEFAULT 64
#define TL_PCACHE_SHARDS_MAX 1024
#define TL_PCACHE_KEY_MAX TL_PROFILE_KEY_MAX /* bytes of a cache user key */
#define TL_PCACHE_CAP_MAX ((size_t)1 << 28)

struct tl_pcache;

/* On a miss: set *out to a profile rebuilt from storage (ownership passes to
 * the cache) and return TL_OK, or return TL_ENOTFOUND when there is none
 * (the cache then creates an empty profile if asked to), or another rc to
 * make tl_pcache_lock fail with it. */
typedef enum tl_rc (*tl_pcache_loader_fn)(void *ctx, uint32_t shop_id, const char *user_key, struct tl_profile **out);
/* A profile leaving memory because of the cap or destroy. dirty = it changed
 * since it was loaded / last collected. The profile is freed afterwards. */
typedef void (*tl_pcache_evict_fn)(void *ctx, uint32_t shop_id, const char *user_key, const struct tl_profile *p,
                                   int dirty);
/* Called by tl_pcache_collect_dirty for each dirty profile. Return TL_OK to
 * clear its dirty flag; any other rc keeps it dirty and stops the walk. */
typedef enum tl_rc (*tl_pcache_dirty_fn)(void *ctx, uint32_t shop_id, const char *user_key, const struct tl_profile *p);

struct tl_pcache_opts {
    size_t cap;                 /* max profiles in memory, 1..TL_PCACHE_CAP_MAX */
    unsigned shards;            /* power of two, 0 = TL_PCACHE_SHARDS_DEFAULT; reduced so every shard holds >= 1 */
    tl_pcache_loader_fn loader; /* NULL: every miss is "not found" */
    tl_pcache_evict_fn evict;   /* NULL: evicted profiles are just freed */
    void *ctx;                  /* passed to loader / evict */
};

/* A held lock on one profile. Opaque fields. */
struct tl_pcache_guard {
    void *shard_;
    void *entry_;
};

enum tl_rc tl_pcache_create(const struct tl_pcache_opts *opts, struct tl_pcache **out, struct tl_err *err);
/* Evicts (callback) and frees every profile. No guard may be held. */
void tl_pcache_destroy(struct tl_pcache *c);

/* Find (shop_id, user_key); on a miss call the loader, and when it finds
 * nothing create an empty profile if create_if_missing (else TL_ENOTFOUND).
 * On TL_OK *out is the profile and the shard is locked until
 * tl_pcache_unlock(g). May evict the least recently used profile of the
 * shard. TL_EINVAL for an empty / over-long key. On error nothing is held. */
enum tl_rc tl_pcache_lock(struct tl_pcache *c, uint32_t shop_id, const char *user_key, int create_if_missing,
                          struct tl_profile **out, struct tl_pcache_guard *g);
void tl_pcache_unlock(struct tl_pcache_guard *g);
/* A key with its hash, for callers that look it up several times (an
 * import hints it ahead, then locks it): tl_pcache_key_init computes it
 * once and returns 0 (len = 0) for an empty or over-long key; the key
 * string must outlive the struct. */
struct tl_pcache_key {
    const char *s;
    size_t len; /* 0: not a valid key */
    uint64_t h;
    uint32_t shop;
};
int tl_pcache_key_init(struct tl_pcache_key *k, uint32_t shop_id, const char *user_key);
/* tl_pcache_lock of a prepared key. */
enum tl_rc tl_pcache_lock_key(struct tl_pcache *c, const struct tl_pcache_key *k, int create_if_missing,
                              struct tl_profile **out, struct tl_pcache_guard *g);
/* A hint that the key is about to be locked, for callers that know their
 * next profiles (an import applies a batch in order): stage -1, many locks
 * ahead, starts loading the key's bucket (the bucket array of a cache of
 * hundreds of thousands of profiles is megabytes); stage 0, some locks
 * ahead, the cache entry that the bucket leads with; stage 1, a few locks
 * ahead, finds the entry (by then in the CPU cache) and starts loading its
 * neighbours in the LRU order and the first lines of its profile; stage 2,
 * a lock or two ahead, the lines of the profile that an event reads
 * (tl_profile_prefetch). Each stage holds the shard lock briefly and
 * changes nothing; a missing entry is no error. */
void tl_pcache_prefetch(struct tl_pcache *c, const struct tl_pcache_key *k, int stage);

/* Mark the locked profile changed (to be persisted at the next checkpoint). */
void tl_pcache_mark_dirty(struct tl_pcache_guard *g);
/* Replace the locked profile by np (ownership of np passes to the cache; the
 * old one is freed; marked dirty). np must have the same user key. */
void tl_pcache_replace(struct tl_pcache_guard *g, struct tl_profile *np);

/* Take (shop_id, user_key) out of memory without the evict callback: if out
 * is non-NULL the caller owns the profile, else it is freed. TL_ENOTFOUND if
 * it is not in memory. Must not be called while holding a guard. */
enum tl_rc tl_pcache_remove(struct tl_pcache *c, uint32_t shop_id, const char *user_key, struct tl_profile **out);

/* Visit every dirty profile, shard by shard (each shard locked during its
 * walk), clearing the dirty flag of each one the callback accepts. *n (if
 * non-NULL) receives the number collected. Returns the first non-OK rc of the
 * callback. */
enum tl_rc tl_pcache_collect_dirty(struct tl_pcache *c, tl_pcache_dirty_fn cb, void *ctx, size_t *n);
/* The same over shards [lo, hi) only (of tl_pcache_shards(c)): disjoint
 * ranges can be collected by different threads at once. */
enum tl_rc tl_pcache_collect_dirty_shards(struct tl_pcache *c, unsigned lo, unsigned hi, tl_pcache_dirty_fn cb,
                                          void *ctx, size_t *n);

/* Profiles in memory (exact when no lock/remove runs concurrently). */
size_t tl_pcache_count(const struct tl_pcache *c);
/* Approximate bytes held by the cache and its profiles (walks every shard,
 * locking each in turn: for statistics, not for hot paths). */
size_t tl_pcache_memory(struct tl_pcache *c);
/* Cap and shard count actually in use. */
size_t tl_pcache_cap(const struct tl_pcache *c);
/* Change the cap (clamped to shards..TL_PCACHE_CAP_MAX; the shard count
 * stays). Under a lower cap a shard that holds more evicts its least
 * recently used profiles down to its part when it next takes one in (not
 * at once: a process about to exit frees nothing). */
void tl_pcache_set_cap(struct tl_pcache *c, size_t cap);
unsigned tl_pcache_shards(const struct tl_pcache *c);

#endif
