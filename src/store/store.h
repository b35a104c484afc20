/* Storage interface: a table of function pointers implemented by each
 * backend (SQLite today in store/sqlite.c; PostgreSQL later). No SQL or
 * backend type leaks above this header. The schema of the SQLite backend is
 * documented in docs/schema.md.
 *
 * Threading: a struct tl_store handle is used by one thread at a time. The
 * engine opens one handle for the event writer thread and one per reader
 * thread as needed (SQLite WAL allows concurrent readers and one writer).
 *
 * Transactions: writes between begin() and commit() are atomic; outside an
 * explicit transaction each write is its own transaction. Scans call cb for
 * each record; a non-zero return from cb stops the scan and is returned
 * (as enum tl_rc) by the scan. Records passed to callbacks are borrowed and
 * valid only during the call. */
#ifndef TL_STORE_STORE_H
#define TL_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "store/evblock.h"
#include "store/types.h"

struct tl_store; /* backend-defined */

/* Durability of committed writes. */
enum tl_sync {
    TL_SYNC_FULL = 0, /* fsync at every commit: survives power loss */
    TL_SYNC_OS = 1
}; /* written to the OS at commit: survives kill -9 */

struct tl_store_stats {
    int64_t items;
    int64_t customers;
    int64_t orders;
    int64_t returns;
    int64_t events_total;
    int64_t events_by_type[TL_EV_MAX_];
};

struct tl_shop {
    uint32_t id;
    const char *name;
    int64_t created_ms;
};

struct tl_key {
    uint32_t shop_id;
    enum tl_scope scope;
    const char *prefix; /* first characters of the key, for listing */
};

typedef int (*tl_item_cb)(void *ctx, uint32_t shop_id, const struct tl_item *item);
typedef int (*tl_customer_cb)(void *ctx, uint32_t shop_id, const struct tl_customer *c);
typedef int (*tl_event_cb)(void *ctx, const struct tl_event *ev);
/* event_scan's `bodies` bits (types 1..31). */
#define TL_SCAN_BODY(type) (1u << (unsigned)(type))
#define TL_SCAN_BODIES_ALL 0xffffffffu
_Static_assert(TL_EV_MAX_ <= 32, "event_scan's body mask has a bit per event type");
typedef int (*tl_eid_cb)(void *ctx, uint64_t eid_hash);
typedef int (*tl_order_cb)(void *ctx, uint32_t shop_id, const struct tl_order *o);
typedef int (*tl_shop_cb)(void *ctx, const struct tl_shop *s);
typedef int (*tl_identity_cb)(void *ctx, uint32_t shop_id, const char *anonymous_id, const char *user_id);
typedef int (*tl_profile_cb)(void *ctx, uint32_t shop_id, const char *user_key, const void *blob, size_t len);
typedef int (*tl_experiment_cb)(void *ctx, uint32_t shop_id, const char *id, const char *definition);

/* One profile snapshot to store (profile_put_many). */
struct tl_profile_row {
    uint32_t shop_id;
    const char *user_key;
    const void *blob;
    size_t len;
};

struct tl_store_ops {
    const char *name; /* "sqlite" */

    /* Open (creating if needed) and migrate to the latest schema. */
    enum tl_rc (*open)(const char *path, enum tl_sync sync, struct tl_store **out, struct tl_err *err);
    /* Close; NULL allowed. */
    void (*close)(struct tl_store *st);

    /* Explicit transaction around many writes. */
    enum tl_rc (*begin)(struct tl_store *st);
    enum tl_rc (*commit)(struct tl_store *st);
    enum tl_rc (*rollback)(struct tl_store *st);
    /* Backends with a write-ahead log that is later copied into the main
     * file (SQLite), else NULL. defer_log_copy (inside a transaction): its
     * commit leaves the copy for later (it is durable once in the log), so a
     * large commit answers before the copy; log_copy copies what is
     * committed, on any handle, while another handle keeps writing. A copy
     * left undone is made by the next commit that copies or at close. */
    void (*defer_log_copy)(struct tl_store *st);
    enum tl_rc (*log_copy)(struct tl_store *st);
    /* Before a transaction whose writes can be rebuilt (profile
     * snapshots): its commit need not be on disk when it returns. It is at
     * the next commit that is, or when the log is copied (SQLite syncs the
     * log first); a power loss before that loses this commit whole, never
     * part of it or an earlier one. Later transactions are synced again.
     * NULL: every commit is synced. */
    void (*skip_sync)(struct tl_store *st);
    /* Sole use (outside a transaction): on = 1 while this handle is the
     * only one open on the database and stays so (a bulk import holding the
     * process claim, the other handles closed); a backend with a log may
     * then write the data once, into the main file, instead of into the
     * log and again into the file. Every commit is synced while on, and
     * skip_sync does nothing. on = 0 goes back to the shared mode. Returns
     * TL_EBUSY if another handle has the database open (the mode stays as
     * it was). NULL: no such mode. */
    enum tl_rc (*solo)(struct tl_store *st, int on);
    /* Inside a long transaction (a bulk import): start writing to disk
     * what it has written so far, without waiting for it, so that its
     * commit has less left to wait for. No guarantee changes: the commit
     * syncs as before. NULL: nothing to do. */
    void (*write_ahead)(struct tl_store *st);

    /* Shops: create (TL_EEXIST if the name is taken), find by name, list. */
    enum tl_rc (*shop_create)(struct tl_store *st, const char *name, uint32_t *id);
    enum tl_rc (*shop_find)(struct tl_store *st, const char *name, uint32_t *id);
    enum tl_rc (*shop_scan)(struct tl_store *st, tl_shop_cb cb, void *ctx);

    /* API keys: only a 32-byte hash (BLAKE2b) of the key is stored. */
    enum tl_rc (*key_add)(struct tl_store *st, uint32_t shop_id, enum tl_scope scope, const uint8_t hash[32],
                          const char *prefix);
    /* TL_ENOTFOUND if no key has this hash. */
    enum tl_rc (*key_find)(struct tl_store *st, const uint8_t hash[32], uint32_t *shop_id, enum tl_scope *scope);

    /* Items: upsert by (shop, id), delete (TL_ENOTFOUND if absent), scan all
     * items of a shop (shop_id 0 = every shop) including hidden ones. */
    enum tl_rc (*item_upsert)(struct tl_store *st, uint32_t shop_id, const struct tl_item *it);
    enum tl_rc (*item_delete)(struct tl_store *st, uint32_t shop_id, const char *id);
    enum tl_rc (*item_scan)(struct tl_store *st, uint32_t shop_id, tl_item_cb cb, void *ctx);

    /* Customers: upsert by (shop, id); scan. */
    enum tl_rc (*customer_upsert)(struct tl_store *st, uint32_t shop_id, const struct tl_customer *c);
    enum tl_rc (*customer_scan)(struct tl_store *st, uint32_t shop_id, tl_customer_cb cb, void *ctx);

    /* Events: append (assigns ev->seq; eid_hash 0 = no idempotency key),
     * scan every shop's events with seq > after_seq in seq order, and scan
     * the idempotency hashes of all stored events (to rebuild the dedupe set
     * at start-up). Stored columns: seq, shop_id, ts_ms, type, user_id,
     * anonymous_id, item_id, country, eid_hash and body; a scanned event has exactly
     * those fields set (others NULL/NAN) and callers re-parse body for the
     * rest (src/ingest/event.c). */
    enum tl_rc (*event_append)(struct tl_store *st, struct tl_event *ev, uint64_t eid_hash);
    /* Append a block of events encoded and compressed by the caller
     * (store/evblock.h: tl_evblock_add for each event, then
     * tl_evblock_compress; one shop), after any events appended before it.
     * The events get seqs *first_seq .. *first_seq + b->n - 1 in order.
     * Lets a bulk import do the encoding on another thread than the
     * writer's. */
    enum tl_rc (*event_append_block)(struct tl_store *st, const struct tl_evblock_enc *b, int64_t *first_seq);
    /* bodies: the event types whose events come with their body, as bits
     * TL_SCAN_BODY(type) (TL_SCAN_BODIES_ALL for all); the others come with
     * body NULL and body_len 0, which spares rebuilding the JSON text of a
     * compact body that the caller does not read. */
    enum tl_rc (*event_scan)(struct tl_store *st, int64_t after_seq, unsigned bodies, tl_event_cb cb, void *ctx);
    enum tl_rc (*event_eid_scan)(struct tl_store *st, tl_eid_cb cb, void *ctx);

    /* Orders and returns with their lines: upsert by (shop, id) replaces the
     * lines; scan in time order. */
    enum tl_rc (*order_upsert)(struct tl_store *st, uint32_t shop_id, const struct tl_order *o);
    /* order_upsert of n orders in order (a later one of the same id wins),
     * several to a statement where the backend can. */
    enum tl_rc (*order_upsert_many)(struct tl_store *st, uint32_t shop_id, const struct tl_order *orders, size_t n);
    enum tl_rc (*order_scan)(struct tl_store *st, uint32_t shop_id, tl_order_cb cb, void *ctx);

    /* Delete a profile snapshot (after identity merge); absent is not an error. */
    enum tl_rc (*profile_delete)(struct tl_store *st, uint32_t shop_id, const char *user_key);

    /* Identity stitching: anonymous id -> customer id (last link wins). */
    enum tl_rc (*identity_link)(struct tl_store *st, uint32_t shop_id, const char *anonymous_id, const char *user_id,
                                int64_t ts_ms);
    enum tl_rc (*identity_scan)(struct tl_store *st, tl_identity_cb cb, void *ctx);

    /* Profile snapshots (opaque blobs owned by src/profile): put replaces,
     * get copies into a buffer the caller frees with tl_free (TL_ENOTFOUND if
     * none), scan visits all. */
    enum tl_rc (*profile_put)(struct tl_store *st, uint32_t shop_id, const char *user_key, const void *blob,
                              size_t len);
    /* profile_put of n rows in order (a later row of the same key wins),
     * several to a statement where the backend can. */
    enum tl_rc (*profile_put_many)(struct tl_store *st, const struct tl_profile_row *rows, size_t n);
    enum tl_rc (*profile_get)(struct tl_store *st, uint32_t shop_id, const char *user_key, void **blob, size_t *len);
    enum tl_rc (*profile_scan)(struct tl_store *st, tl_profile_cb cb, void *ctx);

    /* Small integer settings (checkpoint sequence numbers). get: TL_ENOTFOUND
     * if absent. */
    enum tl_rc (*meta_get)(struct tl_store *st, const char *key, int64_t *val);
    enum tl_rc (*meta_set)(struct tl_store *st, const char *key, int64_t val);

    /* Experiment definitions (JSON text owned by src/engine/experiments.c):
     * put inserts or replaces, delete answers TL_ENOTFOUND if absent, scan
     * visits all in (shop, id) order. */
    enum tl_rc (*experiment_put)(struct tl_store *st, uint32_t shop_id, const char *id, const char *definition);
    enum tl_rc (*experiment_delete)(struct tl_store *st, uint32_t shop_id, const char *id);
    enum tl_rc (*experiment_scan)(struct tl_store *st, tl_experiment_cb cb, void *ctx);

    /* Counts for /v1/admin/stats. */
    enum tl_rc (*stats)(struct tl_store *st, uint32_t shop_id, struct tl_store_stats *out);
};

extern const struct tl_store_ops tl_store_sqlite;

#endif
