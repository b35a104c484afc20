/* Profile persistence: checkpoints, LRU eviction and reload.
 *
 * Protocol (see internal.h for why it is exact):
 *   1. take apply_lock exclusively: no event is between commit and apply;
 *   2. S = last committed event seq; serialize every dirty profile; move the
 *      blobs of profiles evicted since the last checkpoint into `inflight`;
 *   3. release apply_lock; write all blobs and meta profile_checkpoint_seq=S
 *      in one writer transaction; then drop `inflight`.
 * A profile missing from the cache is loaded from `evicted`, then
 * `inflight`, then the store, so a reload never sees an older state than the
 * one evicted. */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/pool.h"
#include "engine/internal.h"

#define BLOB_SEED 0x626c6f62ULL /* "blob" */
#define CKPT_BLOBS_MAX 10000000 /* profiles written by one checkpoint */

static uint64_t blob_hash(uint32_t shop_id, const char *key) { return tl_hash_str(key, BLOB_SEED ^ shop_id); }

void tl_blobset_free(struct tl_blobset *s)
{
    for (size_t i = 0; i < s->n; i++) {
        tl_free(s->v[i].key);
        tl_free(s->v[i].data);
    }
    tl_free(s->v);
    tl_u64map_free(&s->index);
    memset(s, 0, sizeof *s);
}

/* Add or replace; takes ownership of data, and of key when own_key (freed
 * here if not kept; on an error the caller keeps both). */
static enum tl_rc blobset_put_as(struct tl_blobset *s, uint32_t shop_id, char *key, int own_key, void *data, size_t len)
{
    uint64_t h = blob_hash(shop_id, key), slot;
    if (tl_u64map_get(&s->index, h, &slot) && s->v[slot - 1].shop_id == shop_id &&
        strcmp(s->v[slot - 1].key, key) == 0) {
        tl_free(s->v[slot - 1].data);
        s->v[slot - 1].data = data;
        s->v[slot - 1].len = len;
        if (own_key) tl_free(key);
        return TL_OK;
    }
    if (s->n == CKPT_BLOBS_MAX) return TL_ETOOBIG;
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 64;
        struct tl_blob *nv = tl_realloc(s->v, nc * sizeof *nv);
        if (!nv) return TL_ENOMEM;
        s->v = nv;
        s->cap = nc;
    }
    char *k = own_key ? key : tl_strdup(key);
    if (!k) return TL_ENOMEM;
    enum tl_rc rc = tl_u64map_put(&s->index, h, s->n + 1);
    if (rc) {
        if (!own_key) tl_free(k);
        return rc;
    }
    s->v[s->n++] = (struct tl_blob){shop_id, k, data, len};
    return TL_OK;
}

static enum tl_rc blobset_put(struct tl_blobset *s, uint32_t shop_id, const char *key, void *data, size_t len)
{
    return blobset_put_as(s, shop_id, (char *)key, 0, data, len);
}

static const struct tl_blob *blobset_get(const struct tl_blobset *s, uint32_t shop_id, const char *key)
{
    uint64_t slot;
    if (!tl_u64map_get(&s->index, blob_hash(shop_id, key), &slot)) return NULL;
    const struct tl_blob *b = &s->v[slot - 1];
    return b->shop_id == shop_id && strcmp(b->key, key) == 0 && b->data ? b : NULL;
}

static _Thread_local struct tl_store *load_via; /* tl_engine_profile_load_via */
static _Thread_local int load_via_empty;        /* load_via held no profile row when set */

static int any_row(void *ctx, uint32_t shop_id, const char *key, const void *blob, size_t len)
{
    (void)shop_id, (void)key, (void)blob, (void)len;
    *(int *)ctx = 1;
    return 1; /* the first row is enough */
}

/* A first import of many shoppers would look each of them up in vain,
 * about 1 us each: 349,151 profiles, 6.68 -> 6.32 s (BENCHMARKS.md
 * "Shorter ends of imports of many shoppers"). A store that cannot say
 * (scan error) is looked up. */
void tl_engine_profile_load_via(struct tl_engine *e, struct tl_store *st)
{
    int any = 0;
    load_via = st;
    load_via_empty = st && e->ops->profile_scan(st, any_row, &any) == TL_OK && !any;
}

enum tl_rc tl_engine_profile_load(void *ctx, uint32_t shop_id, const char *key, struct tl_profile **out)
{
    struct tl_engine *e = ctx;
    struct tl_err err;
    enum tl_rc rc = TL_ENOTFOUND;
    pthread_mutex_lock(&e->evicted_mu);
    const struct tl_blob *b = blobset_get(&e->evicted, shop_id, key);
    if (!b) b = blobset_get(&e->inflight, shop_id, key);
    if (b) rc = tl_profile_deserialize(b->data, b->len, out, &err);
    pthread_mutex_unlock(&e->evicted_mu);
    if (b) return rc;
    void *data = NULL;
    size_t len = 0;
    if (load_via && load_via_empty) {
        return TL_ENOTFOUND;
    } else if (load_via) {
        rc = e->ops->profile_get(load_via, shop_id, key, &data, &len);
    } else {
        pthread_mutex_lock(&e->rst_mu);
        rc = e->ops->profile_get(e->rst, shop_id, key, &data, &len);
        pthread_mutex_unlock(&e->rst_mu);
    }
    if (rc) return rc;
    rc = tl_profile_deserialize(data, len, out, &err);
    if (rc) tl_warn("profile %s of shop %u is unreadable (%s): starting it afresh", key, shop_id, err.msg);
    tl_free(data);
    return rc ? TL_ENOTFOUND : TL_OK;
}

void tl_engine_profile_evict(void *ctx, uint32_t shop_id, const char *key, const struct tl_profile *p, int dirty)
{
    struct tl_engine *e = ctx;
    if (!dirty) return; /* the store (or a pending blob) already has this state */
    struct tl_buf b;
    tl_buf_init(&b, TL_PROFILE_BLOB_MAX);
    if (tl_profile_serialize(p, &b) != TL_OK) {
        tl_warn("profile %s of shop %u could not be serialized on eviction", key, shop_id);
        tl_buf_free(&b);
        return;
    }
    size_t len = b.len;
    void *data = tl_buf_steal(&b);
    pthread_mutex_lock(&e->evicted_mu);
    if (blobset_put(&e->evicted, shop_id, key, data, len) != TL_OK) tl_free(data);
    pthread_mutex_unlock(&e->evicted_mu);
}

struct collect_ctx {
    struct tl_blobset *set;
    struct tl_buf scratch; /* reused: each blob is then copied at its exact size */
    enum tl_rc rc;
};

static enum tl_rc collect_cb(void *ctx, uint32_t shop_id, const char *key, const struct tl_profile *p)
{
    struct collect_ctx *c = ctx;
    tl_buf_reset(&c->scratch);
    enum tl_rc rc = tl_profile_serialize(p, &c->scratch);
    if (rc == TL_OK) {
        void *data = tl_malloc(c->scratch.len ? c->scratch.len : 1);
        if (data) {
            memcpy(data, c->scratch.data, c->scratch.len);
            rc = blobset_put(c->set, shop_id, key, data, c->scratch.len);
            if (rc) tl_free(data);
        } else {
            rc = TL_ENOMEM;
        }
    }
    if (rc && !c->rc) c->rc = rc;
    return rc;
}

/* Serializing the dirty profiles is most of a large checkpoint (about 15
 * us per profile of 50 recently viewed items, mostly cache misses on their
 * strings): with at least CKPT_PAR_MIN profiles in memory the cache's
 * shards are split between CKPT_THREADS threads, each filling its own set
 * (disjoint shards: no shared state but the cache's per-shard locks). */
#define CKPT_THREADS 2
#define CKPT_PAR_MIN 4096
/* Heap populated up front per profile in memory by the import's early
 * serialization (tl_heap_prefault): a profile of 100 events serializes to
 * about 1,950 bytes, plus the copies of its key and its index entries. The
 * pages of the blobs are otherwise faulted in one by one, about half of
 * the serialization's time on the VMs measured (BENCHMARKS.md "Page
 * faults"). */
#define CKPT_PREFAULT_PER_PROFILE 2560
#define CKPT_PREFAULT_MAX ((size_t)64 << 20) /* in all: most profiles of a big import are small */

struct par_collect {
    struct tl_engine *e;
    int threads;
    size_t prefault; /* bytes per thread, 0 = none */
    unsigned shards;
    struct tl_blobset set[CKPT_THREADS];
    struct collect_ctx c[CKPT_THREADS];
};

static void collect_range(void *ctx, size_t a, size_t b)
{
    struct par_collect *pc = ctx;
    int t = 0; /* tl_pool_for's split: thread t gets [n*t/T, n*(t+1)/T) */
    while (t + 1 < pc->threads && (size_t)pc->shards * (size_t)(t + 1) / (size_t)pc->threads <= a) t++;
    tl_heap_prefault(pc->prefault);
    tl_pcache_collect_dirty_shards(pc->e->profiles, (unsigned)a, (unsigned)b, collect_cb, &pc->c[t], NULL);
}

static void collect_all(struct tl_engine *e, struct par_collect *pc, int prefault)
{
    memset(pc, 0, sizeof *pc);
    pc->e = e;
    pc->shards = tl_pcache_shards(e->profiles);
    size_t count = tl_pcache_count(e->profiles);
    pc->threads = count >= CKPT_PAR_MIN && pc->shards >= 2 * CKPT_THREADS ? CKPT_THREADS : 1;
    for (int t = 0; t < CKPT_THREADS; t++) {
        tl_u64map_init(&pc->set[t].index);
        pc->c[t] = (struct collect_ctx){.set = &pc->set[t], .rc = TL_OK};
        tl_buf_init(&pc->c[t].scratch, TL_PROFILE_BLOB_MAX);
    }
    struct tl_pool *pool = pc->threads > 1 ? tl_pool_new(pc->threads) : NULL;
    if (!pool || tl_pool_threads(pool) < pc->threads) pc->threads = 1; /* a failure to start: one thread */
    if (prefault)
        pc->prefault = (count < CKPT_PREFAULT_MAX / CKPT_PREFAULT_PER_PROFILE ? count * CKPT_PREFAULT_PER_PROFILE
                                                                              : CKPT_PREFAULT_MAX) /
                       (size_t)pc->threads;
    if (pc->threads > 1) {
        tl_pool_for(pool, pc->shards, collect_range, pc);
    } else {
        tl_heap_prefault(pc->prefault);
        tl_pcache_collect_dirty(e->profiles, collect_cb, &pc->c[0], NULL);
    }
    tl_pool_free(pool);
}

struct ckpt_job {
    const struct tl_blobset *set;
    int64_t seq;
};

/* Store order of the profiles table's key (shop_id, user_key; BINARY
 * collation: bytes compared as unsigned, which strcmp does). */
static int blob_order(const void *a, const void *b)
{
    const struct tl_blob *x = *(const struct tl_blob *const *)a, *y = *(const struct tl_blob *const *)b;
    if (x->shop_id != y->shop_id) return x->shop_id < y->shop_id ? -1 : 1;
    return strcmp(x->key, y->key);
}

/* Sorting a large checkpoint's blobs by key was mostly waits for their
 * cold keys (349,151 profiles: 0.28 s of qsort on two threads, strcmp on
 * keys each in its own allocation). So each blob's key is read once, in
 * order with hints ahead, into a sort entry that holds what the order
 * needs: the shop, then the key's first 16 bytes as two big-endian
 * numbers, zero-padded (a shorter key sorts first, as strcmp has it). Only
 * two keys longer than 16 bytes with the same first 16 are compared with
 * strcmp. From SORT_PAR_MIN blobs on, the two halves are sorted on two
 * threads and then merged (an import's checkpoint has the other core
 * idle). */
#define SORT_PAR_MIN 65536
#define SORT_PREFIX 16
#define SORT_HINT_AHEAD 16

struct sort_ent {
    uint64_t k0, k1; /* the key's bytes 0-7 and 8-15, big-endian, zero-padded */
    uint32_t shop;
    uint32_t longer; /* the key has more than SORT_PREFIX bytes */
    const struct tl_blob *b;
};

static uint64_t load_be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | p[i];
    return v;
}

static void ent_make(struct sort_ent *e, const struct tl_blob *b)
{
    unsigned char k[SORT_PREFIX] = {0};
    size_t n = strnlen(b->key, SORT_PREFIX + 1);
    memcpy(k, b->key, n < SORT_PREFIX ? n : SORT_PREFIX);
    e->k0 = load_be64(k);
    e->k1 = load_be64(k + 8);
    e->shop = b->shop_id;
    e->longer = n > SORT_PREFIX;
    e->b = b;
}

/* blob_order of the entries' blobs. Equal prefixes with one key longer:
 * the other is exactly those 16 bytes (else its zero padding would differ),
 * so it comes first. */
static int ent_order(const void *a, const void *b)
{
    const struct sort_ent *x = a, *y = b;
    if (x->shop != y->shop) return x->shop < y->shop ? -1 : 1;
    if (x->k0 != y->k0) return x->k0 < y->k0 ? -1 : 1;
    if (x->k1 != y->k1) return x->k1 < y->k1 ? -1 : 1;
    if (x->longer && y->longer) return strcmp(x->b->key + SORT_PREFIX, y->b->key + SORT_PREFIX);
    return (int)x->longer - (int)y->longer;
}

static void sort_range(void *ctx, size_t a, size_t b)
{
    struct sort_ent *v = ctx;
    qsort(v + a, b - a, sizeof *v, ent_order);
}

/* order[0..n) sorted in place; by blob_order with qsort when short of
 * memory. */
void tl_ckpt_sort_blobs(const struct tl_blob **order, size_t n)
{
    struct sort_ent *v = n > 1 ? tl_malloc(n * sizeof *v) : NULL;
    if (!v) {
        if (n > 1) qsort(order, n, sizeof *order, blob_order);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (i + SORT_HINT_AHEAD < n) __builtin_prefetch(order[i + SORT_HINT_AHEAD]->key);
        ent_make(&v[i], order[i]);
    }
    struct tl_pool *pool = n >= SORT_PAR_MIN ? tl_pool_new(2) : NULL;
    if (pool && tl_pool_threads(pool) == 2) {
        tl_pool_for(pool, n, sort_range, v); /* thread t sorts [n*t/2, n*(t+1)/2) */
        size_t i = 0, mid = n / 2, j = mid, k = 0;
        while (i < mid && j < n) order[k++] = ent_order(&v[i], &v[j]) < 0 ? v[i++].b : v[j++].b;
        while (i < mid) order[k++] = v[i++].b;
        while (j < n) order[k++] = v[j++].b;
    } else {
        qsort(v, n, sizeof *v, ent_order);
        for (size_t i = 0; i < n; i++) order[i] = v[i].b;
    }
    tl_pool_free(pool);
    tl_free(v);
}

/* The blobs are written in the table's key order: a B-tree filled in order
 * appends to its last page, where inserts at random places would split and
 * shift pages all over it (10,000 profiles: 0.21 -> 0.18 s, BENCHMARKS.md). */
static enum tl_rc ckpt_write(const struct tl_store_ops *ops, struct tl_store *st, void *arg)
{
    struct ckpt_job *j = arg;
    const struct tl_blob **order = tl_malloc((j->set->n ? j->set->n : 1) * sizeof *order);
    if (!order) return TL_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < j->set->n; i++)
        if (j->set->v[i].data) order[n++] = &j->set->v[i];
    tl_ckpt_sort_blobs(order, n);
    enum tl_rc rc = TL_OK;
    /* Each blob and key is its own allocation, cold by now (serialized by
     * other threads, or at an eviction long before): hinted as a chunk of
     * PUT_CHUNK rows is gathered, before the store copies them (300,000
     * events of 200,000 shoppers, hinted WRITE_AHEAD rows ahead one by one:
     * 2.86 -> 2.67 s, BENCHMARKS.md "Imports of many shoppers"). The rows
     * go to the store PUT_CHUNK at a time (profile_put_many: one SQLite
     * statement per 128 rows). */
    enum { PUT_CHUNK = 128, HINT_BYTES = 512 };
    struct tl_profile_row rows[PUT_CHUNK];
    for (size_t i = 0; i < n && rc == TL_OK;) {
        size_t m = 0;
        for (; m < PUT_CHUNK && i < n; m++, i++) {
            const struct tl_blob *b = order[i];
            const char *d = b->data;
            for (size_t off = 0; off < b->len && off < HINT_BYTES; off += 64) __builtin_prefetch(d + off);
            __builtin_prefetch(b->key);
            rows[m] = (struct tl_profile_row){b->shop_id, b->key, b->data, b->len};
        }
        rc = ops->profile_put_many(st, rows, m);
    }
    tl_free(order);
    return rc ? rc : ops->meta_set(st, "profile_checkpoint_seq", j->seq);
}

/* Step 2 of the protocol: the caller holds ckpt_mu and has made sure that
 * no event is applied meanwhile (apply_lock held exclusively). Moves the
 * blobs evicted since the last checkpoint and those of every dirty profile
 * in the cache into `inflight`. */
static enum tl_rc ckpt_collect(struct tl_engine *e, int prefault)
{
    pthread_mutex_lock(&e->evicted_mu);
    /* inflight is empty here: the previous checkpoint cleared it. */
    struct tl_blobset tmp = e->inflight;
    e->inflight = e->evicted;
    e->evicted = tmp;
    pthread_mutex_unlock(&e->evicted_mu);
    /* Collect without evicted_mu: the cache's evict callback takes
     * evicted_mu while holding a shard lock, so holding evicted_mu here
     * while collect_dirty takes shard locks would invert the lock order. */
    struct par_collect pc;
    collect_all(e, &pc, prefault);
    /* Dirty profiles in the cache are newer than any evicted blob of the
     * same shopper, so they replace it. */
    enum tl_rc rc = TL_OK;
    for (int t = 0; t < pc.threads; t++)
        if (pc.c[t].rc && !rc) rc = pc.c[t].rc;
    pthread_mutex_lock(&e->evicted_mu);
    for (int t = 0; t < pc.threads && rc == TL_OK; t++) {
        if (e->inflight.n == 0) { /* nothing evicted (an import's usual case): the thread's set as it is */
            tl_blobset_free(&e->inflight);
            e->inflight = pc.set[t];
            memset(&pc.set[t], 0, sizeof pc.set[t]);
            tl_u64map_init(&pc.set[t].index);
            continue;
        }
        /* keys handed over, not copied (with the sort on two threads: 349,151
         * profiles, 5.63 -> 5.26 s, BENCHMARKS.md) */
        (void)tl_u64map_reserve(&e->inflight.index, e->inflight.n + pc.set[t].n);
        for (size_t i = 0; i < pc.set[t].n; i++) {
            struct tl_blob *b = &pc.set[t].v[i];
            if (blobset_put_as(&e->inflight, b->shop_id, b->key, 1, b->data, b->len) == TL_OK) b->key = b->data = NULL;
        }
    }
    pthread_mutex_unlock(&e->evicted_mu);
    for (int t = 0; t < CKPT_THREADS; t++) {
        tl_blobset_free(&pc.set[t]);
        tl_buf_free(&pc.c[t].scratch);
    }
    return rc;
}

/* Step 3: the caller holds ckpt_mu, not apply_lock. Writes `inflight` as
 * the checkpoint of seq if rc is TL_OK; on any failure the blobs go back to
 * `evicted` for the next attempt (profiles already marked clean stay
 * loadable from there). */
static enum tl_rc ckpt_write_out(struct tl_engine *e, int64_t seq, enum tl_rc rc)
{
    /* Nothing changed since the last checkpoint (closing right after one):
     * no transaction, no fsync. */
    int nothing = rc == TL_OK && e->inflight.n == 0 && seq == e->ckpt_seq;
    if (rc == TL_OK && !nothing) {
        struct ckpt_job j = {&e->inflight, seq};
        /* Not synced: a snapshot lost to a power cut is rebuilt by replaying
         * the events after the previous one, whose seq is in the same
         * transaction (and the import's events commit is synced). */
        rc = tl_writer_submit_unsynced(e->writer, ckpt_write, &j, 0);
        if (rc == TL_OK) e->ckpt_seq = seq;
    }
    pthread_mutex_lock(&e->evicted_mu);
    if (rc) {
        for (size_t i = 0; i < e->inflight.n; i++) {
            struct tl_blob *b = &e->inflight.v[i];
            if (!blobset_get(&e->evicted, b->shop_id, b->key) &&
                blobset_put(&e->evicted, b->shop_id, b->key, b->data, b->len) == TL_OK)
                b->data = NULL;
        }
    }
    tl_blobset_free(&e->inflight);
    tl_u64map_init(&e->inflight.index);
    pthread_mutex_unlock(&e->evicted_mu);
    return rc;
}

enum tl_rc tl_engine_checkpoint(struct tl_engine *e)
{
    pthread_mutex_lock(&e->ckpt_mu);
    pthread_rwlock_wrlock(&e->apply_lock);
    if (e->discard) { /* in-memory state is not what the store holds */
        pthread_rwlock_unlock(&e->apply_lock);
        pthread_mutex_unlock(&e->ckpt_mu);
        return TL_OK;
    }
    int64_t seq = atomic_load(&e->last_seq);
    enum tl_rc rc = ckpt_collect(e, 0);
    pthread_rwlock_unlock(&e->apply_lock);
    rc = ckpt_write_out(e, seq, rc);
    pthread_mutex_unlock(&e->ckpt_mu);
    return rc;
}

static void *early_main(void *arg)
{
    struct tl_ckpt_early *ck = arg;
    ck->rc = ckpt_collect(ck->e, 1); /* the import's: its command ends with it (tl_heap_prefault) */
    return NULL;
}

void tl_engine_checkpoint_begin(struct tl_engine *e, struct tl_ckpt_early *ck)
{
    if (ck->begun) return; /* a job run again by the writer (writer.h): the first serialization stands */
    ck->e = e;
    ck->rc = TL_OK;
    ck->begun = 1;
    ck->threaded = pthread_create(&ck->th, NULL, early_main, ck) == 0;
    if (!ck->threaded) ck->rc = ckpt_collect(e, 1); /* no thread: here, before the commit */
}

/* The log copy of a commit that deferred it, on the read handle. */
static void *log_copy_main(void *arg)
{
    struct tl_engine *e = arg;
    pthread_mutex_lock(&e->rst_mu);
    if (e->ops->log_copy(e->rst) != TL_OK)
        tl_warn("copying the write-ahead log into the database failed; left for later");
    pthread_mutex_unlock(&e->rst_mu);
    return NULL;
}

enum tl_rc tl_engine_checkpoint_end(struct tl_engine *e, struct tl_ckpt_early *ck, int64_t seq, enum tl_rc commit_rc)
{
    if (!ck->begun) return TL_OK;
    if (ck->threaded) pthread_join(ck->th, NULL);
    ck->begun = ck->threaded = 0;
    /* The caller's commit left its log copy for later (defer_log_copy): it
     * runs on the read handle while the writer writes the profiles (1,000,000
     * events: 0.085 s of copy beside 0.1 s of profile writes). */
    pthread_t copier;
    int copying =
        commit_rc == TL_OK && e->ops->log_copy && !e->solo && pthread_create(&copier, NULL, log_copy_main, e) == 0;
    enum tl_rc rc = ckpt_write_out(e, seq, commit_rc ? commit_rc : ck->rc);
    if (copying) pthread_join(copier, NULL);
    return rc;
}
