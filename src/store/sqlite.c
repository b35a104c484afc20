/* SQLite backend of the storage interface (store.h).
 *
 * One database file in WAL mode (a rollback journal while a bulk import
 * has it alone: sq_solo). synchronous=FULL (fsync of the WAL at every
 * commit) unless the caller asks for TL_SYNC_OS (synchronous=NORMAL: a commit
 * reaches the OS, so it survives kill -9 but not power loss). Every statement
 * is prepared once per handle and reset after use.
 *
 * Schema: versioned forward migrations in `migrations[]`, applied in order
 * in one transaction at open (all pending steps, or none); the version
 * lives in PRAGMA user_version. The schema is documented in docs/schema.md;
 * keep the two in step. Never edit a released migration: append a new one.
 *
 * Events are stored in blocks (schema 3; format in store/evblock.h): a
 * handle collects the events appended inside a transaction and writes them
 * as one event_blocks row (one zstd frame) when TL_EVBLOCK_RAW_MAX bytes
 * are pending, when the shop changes, before a scan on the same handle and
 * at commit; a rollback drops them. Sequence numbers are handed out at
 * append from the highest stored seq, read once per write transaction
 * (BEGIN IMMEDIATE holds the write lock, so no other connection can take
 * the same numbers). An append outside an explicit transaction is its own
 * transaction. event_counts keeps the events per (shop, type) for stats.
 * Rows of the events table (one per event, schema 1-2) stay readable: scans
 * visit them first, and new sequence numbers continue after them.
 * Idempotency does not use a UNIQUE index: the engine keeps the set of
 * event_id hashes in memory, rebuilt at start from the blocks' eids column
 * (not compressed, so that needs no decompression). */
#include <fcntl.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "store/evblock.h"
#include "store/store.h"

static const char *const migrations[] = {
    /* 1: initial schema */
    "CREATE TABLE shops(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created_ms INTEGER NOT NULL);"
    "INSERT INTO shops(id, name, created_ms) VALUES (1, 'default', CAST(strftime('%s','now') AS INTEGER) * 1000);"
    "CREATE TABLE api_keys(hash BLOB PRIMARY KEY, shop_id INTEGER NOT NULL REFERENCES shops(id),"
    " scope INTEGER NOT NULL, prefix TEXT NOT NULL, created_ms INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE items(shop_id INTEGER NOT NULL, id TEXT NOT NULL, title TEXT, description TEXT, url TEXT,"
    " image_url TEXT, price REAL, currency TEXT, category TEXT, brand TEXT, tags_json TEXT,"
    " available INTEGER NOT NULL DEFAULT 1, stock INTEGER NOT NULL DEFAULT -1, attrs_json TEXT,"
    " visible INTEGER NOT NULL DEFAULT 1, created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL,"
    " PRIMARY KEY(shop_id, id)) WITHOUT ROWID;"
    "CREATE TABLE customers(shop_id INTEGER NOT NULL, id TEXT NOT NULL, email TEXT, name TEXT, country TEXT,"
    " consent_email INTEGER NOT NULL DEFAULT -1, consent_personalization INTEGER NOT NULL DEFAULT -1,"
    " member_tier TEXT, created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL,"
    " PRIMARY KEY(shop_id, id)) WITHOUT ROWID;"
    "CREATE TABLE events(seq INTEGER PRIMARY KEY, shop_id INTEGER NOT NULL, ts_ms INTEGER NOT NULL,"
    " type INTEGER NOT NULL, user_id TEXT, anonymous_id TEXT, item_id TEXT, country TEXT,"
    " eid_hash INTEGER, body TEXT NOT NULL);"
    "CREATE TABLE orders(shop_id INTEGER NOT NULL, id TEXT NOT NULL, customer_id TEXT, ts_ms INTEGER NOT NULL,"
    " country TEXT, currency TEXT, is_return INTEGER NOT NULL DEFAULT 0, total REAL NOT NULL DEFAULT 0,"
    " PRIMARY KEY(shop_id, id)) WITHOUT ROWID;"
    "CREATE TABLE order_lines(shop_id INTEGER NOT NULL, order_id TEXT NOT NULL, line_no INTEGER NOT NULL,"
    " item_id TEXT NOT NULL, quantity REAL NOT NULL, price REAL,"
    " PRIMARY KEY(shop_id, order_id, line_no)) WITHOUT ROWID;"
    "CREATE TABLE identities(shop_id INTEGER NOT NULL, anonymous_id TEXT NOT NULL, user_id TEXT NOT NULL,"
    " ts_ms INTEGER NOT NULL, PRIMARY KEY(shop_id, anonymous_id)) WITHOUT ROWID;"
    "CREATE TABLE profiles(shop_id INTEGER NOT NULL, user_key TEXT NOT NULL, data BLOB NOT NULL,"
    " PRIMARY KEY(shop_id, user_key)) WITHOUT ROWID;"
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;",
    /* 2: experiments (definitions as validated JSON, src/engine/experiments.c) */
    "CREATE TABLE experiments(shop_id INTEGER NOT NULL, id TEXT NOT NULL, definition TEXT NOT NULL,"
    " updated_ms INTEGER NOT NULL, PRIMARY KEY(shop_id, id)) WITHOUT ROWID;",
    /* 3: events in compressed blocks (store/evblock.h), counts per type */
    "CREATE TABLE event_blocks(first_seq INTEGER PRIMARY KEY, shop_id INTEGER NOT NULL, n INTEGER NOT NULL,"
    " raw_len INTEGER NOT NULL, eids BLOB, data BLOB NOT NULL);"
    "CREATE TABLE event_counts(shop_id INTEGER NOT NULL, type INTEGER NOT NULL, n INTEGER NOT NULL,"
    " PRIMARY KEY(shop_id, type)) WITHOUT ROWID;"
    "INSERT INTO event_counts(shop_id, type, n) SELECT shop_id, type, count(*) FROM events GROUP BY shop_id, type;",
    /* 4: block payloads may hold compact bodies (store/evblock.h), which a
     * version-3 tailor would take for damage: no table changes, the version
     * makes it refuse the file instead */
    "SELECT 1;",
};
#define N_MIGRATIONS (sizeof migrations / sizeof migrations[0])

enum stmt_id {
    S_SHOP_CREATE,
    S_SHOP_FIND,
    S_SHOP_SCAN,
    S_KEY_ADD,
    S_KEY_FIND,
    S_ITEM_UPSERT,
    S_ITEM_DELETE,
    S_ITEM_SCAN_ALL,
    S_ITEM_SCAN_SHOP,
    S_CUST_UPSERT,
    S_CUST_SCAN_ALL,
    S_CUST_SCAN_SHOP,
    S_EV_SCAN,
    S_EID_SCAN,
    S_BLK_INSERT,
    S_BLK_MAXSEQ,
    S_BLK_SCAN,
    S_BLK_EIDS,
    S_CNT_ADD,
    S_ORDER_INSERT,
    S_ORDER_UPSERT,
    S_ORDER_DEL_LINES,
    S_LINE_INSERT,
    S_ORDER_INSERT_MANY,
    S_LINE_INSERT_MANY,
    S_ORDER_SCAN_ALL,
    S_ORDER_SCAN_SHOP,
    S_ORDER_SCAN_LINES_ALL,
    S_ORDER_SCAN_LINES_SHOP,
    S_IDENT_LINK,
    S_IDENT_SCAN,
    S_PROF_PUT,
    S_PROF_PUT_MANY,
    S_PROF_GET,
    S_PROF_SCAN,
    S_PROF_DEL,
    S_META_GET,
    S_META_SET,
    S_EXP_PUT,
    S_EXP_DEL,
    S_EXP_SCAN,
    S_BEGIN,
    S_COMMIT,
    S_ROLLBACK,
    S_COUNT_ITEMS,
    S_COUNT_CUST,
    S_COUNT_ORDERS,
    S_COUNT_EVENTS,
    S_COUNT_
};

/* n rows of one VALUES list: ROWSn(r) is r n times, separated by commas. */
#define ROWS2(r) r "," r
#define ROWS4(r) ROWS2(r) "," ROWS2(r)
#define ROWS8(r) ROWS4(r) "," ROWS4(r)
#define ROWS16(r) ROWS8(r) "," ROWS8(r)
#define ROWS32(r) ROWS16(r) "," ROWS16(r)
#define ROWS64(r) ROWS32(r) "," ROWS32(r)
#define ROWS128(r) ROWS64(r) "," ROWS64(r)
/* PROF_ROWS_PER_PUT rows of (shop_id, user_key, data) for S_PROF_PUT_MANY:
 * one statement of 128 rows costs about half of 128 statements of one
 * (349,151 rows of 312 bytes in key order, this schema and these pragmas,
 * measured alone: 1.11 -> 0.58 s, BENCHMARKS.md). 384 parameters: under
 * SQLite's smallest SQLITE_MAX_VARIABLE_NUMBER (999). */
#define PROF_ROWS_PER_PUT 128
#define PROF_ROW "(?,?,?)"
#define PROF_VALUES ROWS128(PROF_ROW)
/* ORDERS_PER_INSERT orders (8 columns) and as many order lines (6) for
 * S_ORDER_INSERT_MANY and S_LINE_INSERT_MANY (sq_order_upsert_many). */
#define ORDERS_PER_INSERT 32
#define ORDER_ROW "(?,?,?,?,?,?,?,?)"
#define LINE_ROW "(?,?,?,?,?,?)"
/* n rows are n * (row + ',') bytes less the last ',', plus the NUL */
_Static_assert(sizeof(PROF_VALUES) == PROF_ROWS_PER_PUT * sizeof(PROF_ROW), "S_PROF_PUT_MANY rows");
_Static_assert(sizeof(ROWS32(ORDER_ROW)) == ORDERS_PER_INSERT * sizeof(ORDER_ROW), "S_ORDER_INSERT_MANY rows");
_Static_assert(sizeof(ROWS32(LINE_ROW)) == ORDERS_PER_INSERT * sizeof(LINE_ROW), "S_LINE_INSERT_MANY rows");

static const char *const sql[S_COUNT_] = {
    [S_SHOP_CREATE] = "INSERT INTO shops(name, created_ms) VALUES (?1, ?2)",
    [S_EXP_PUT] = "INSERT OR REPLACE INTO experiments(shop_id, id, definition, updated_ms) VALUES (?1, ?2, ?3, ?4)",
    [S_EXP_DEL] = "DELETE FROM experiments WHERE shop_id = ?1 AND id = ?2",
    [S_EXP_SCAN] = "SELECT shop_id, id, definition FROM experiments ORDER BY shop_id, id",
    [S_SHOP_FIND] = "SELECT id FROM shops WHERE name = ?1",
    [S_SHOP_SCAN] = "SELECT id, name, created_ms FROM shops ORDER BY id",
    [S_KEY_ADD] = "INSERT INTO api_keys(hash, shop_id, scope, prefix, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
    [S_KEY_FIND] = "SELECT shop_id, scope FROM api_keys WHERE hash = ?1",
    [S_ITEM_UPSERT] =
        "INSERT INTO items(shop_id, id, title, description, url, image_url, price, currency, category, brand,"
        " tags_json, available, stock, attrs_json, visible, created_ms, updated_ms)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"
        " ON CONFLICT(shop_id, id) DO UPDATE SET title = excluded.title, description = excluded.description,"
        " url = excluded.url, image_url = excluded.image_url, price = excluded.price,"
        " currency = excluded.currency, category = excluded.category, brand = excluded.brand,"
        " tags_json = excluded.tags_json, available = excluded.available, stock = excluded.stock,"
        " attrs_json = excluded.attrs_json, visible = excluded.visible, updated_ms = excluded.updated_ms",
    [S_ITEM_DELETE] = "DELETE FROM items WHERE shop_id = ?1 AND id = ?2",
    [S_ITEM_SCAN_ALL] = "SELECT shop_id, id, title, description, url, image_url, price, currency, category, brand,"
                        " tags_json, available, stock, attrs_json, visible, created_ms, updated_ms FROM items",
    [S_ITEM_SCAN_SHOP] = "SELECT shop_id, id, title, description, url, image_url, price, currency, category, brand,"
                         " tags_json, available, stock, attrs_json, visible, created_ms, updated_ms FROM items"
                         " WHERE shop_id = ?1",
    [S_CUST_UPSERT] =
        "INSERT INTO customers(shop_id, id, email, name, country, consent_email, consent_personalization,"
        " member_tier, created_ms, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
        " ON CONFLICT(shop_id, id) DO UPDATE SET email = coalesce(excluded.email, email),"
        " name = coalesce(excluded.name, name), country = coalesce(excluded.country, country),"
        " consent_email = CASE WHEN excluded.consent_email >= 0 THEN excluded.consent_email ELSE consent_email END,"
        " consent_personalization = CASE WHEN excluded.consent_personalization >= 0"
        "   THEN excluded.consent_personalization ELSE consent_personalization END,"
        " member_tier = coalesce(excluded.member_tier, member_tier), updated_ms = excluded.updated_ms",
    [S_CUST_SCAN_ALL] = "SELECT shop_id, id, email, name, country, consent_email, consent_personalization,"
                        " member_tier, created_ms, updated_ms FROM customers",
    [S_CUST_SCAN_SHOP] = "SELECT shop_id, id, email, name, country, consent_email, consent_personalization,"
                         " member_tier, created_ms, updated_ms FROM customers WHERE shop_id = ?1",
    [S_EV_SCAN] = "SELECT seq, shop_id, ts_ms, type, user_id, anonymous_id, item_id, country, body FROM events"
                  " WHERE seq > ?1 ORDER BY seq",
    [S_EID_SCAN] = "SELECT eid_hash FROM events WHERE eid_hash IS NOT NULL",
    [S_BLK_INSERT] =
        "INSERT INTO event_blocks(first_seq, shop_id, n, raw_len, eids, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    /* highest seq of either table: both lookups are rowid-ordered, O(log n) */
    [S_BLK_MAXSEQ] = "SELECT max(coalesce((SELECT seq FROM events ORDER BY seq DESC LIMIT 1), 0),"
                     " coalesce((SELECT first_seq + n - 1 FROM event_blocks ORDER BY first_seq DESC LIMIT 1), 0))",
    /* from the block holding after_seq + 1 (the last block starting at or
     * before after_seq, which may end before it) */
    [S_BLK_SCAN] =
        "SELECT first_seq, n, raw_len, data FROM event_blocks WHERE first_seq >="
        " coalesce((SELECT first_seq FROM event_blocks WHERE first_seq <= ?1 ORDER BY first_seq DESC LIMIT 1),"
        " 0) ORDER BY first_seq",
    [S_BLK_EIDS] = "SELECT n, eids FROM event_blocks WHERE eids IS NOT NULL",
    [S_CNT_ADD] = "INSERT INTO event_counts(shop_id, type, n) VALUES (?1, ?2, ?3)"
                  " ON CONFLICT(shop_id, type) DO UPDATE SET n = n + excluded.n",
    [S_ORDER_INSERT] = "INSERT OR IGNORE INTO orders(shop_id, id, customer_id, ts_ms, country, currency,"
                       " is_return, total) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [S_ORDER_UPSERT] = "INSERT OR REPLACE INTO orders(shop_id, id, customer_id, ts_ms, country, currency,"
                       " is_return, total) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [S_ORDER_DEL_LINES] = "DELETE FROM order_lines WHERE shop_id = ?1 AND order_id = ?2",
    [S_LINE_INSERT] = "INSERT INTO order_lines(shop_id, order_id, line_no, item_id, quantity, price)"
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [S_ORDER_INSERT_MANY] = "INSERT OR IGNORE INTO orders(shop_id, id, customer_id, ts_ms, country, currency,"
                            " is_return, total) VALUES " ROWS32(ORDER_ROW),
    [S_LINE_INSERT_MANY] = "INSERT INTO order_lines(shop_id, order_id, line_no, item_id, quantity, price)"
                           " VALUES " ROWS32(LINE_ROW),
    /* order_scan: both tables in primary key order (no sort, no seek) */
    [S_ORDER_SCAN_ALL] = "SELECT shop_id, id, customer_id, ts_ms, country, currency, is_return FROM orders"
                         " ORDER BY shop_id, id",
    [S_ORDER_SCAN_SHOP] = "SELECT shop_id, id, customer_id, ts_ms, country, currency, is_return FROM orders"
                          " WHERE shop_id = ?1 ORDER BY shop_id, id",
    [S_ORDER_SCAN_LINES_ALL] = "SELECT shop_id, order_id, item_id, quantity, price FROM order_lines"
                               " ORDER BY shop_id, order_id, line_no",
    [S_ORDER_SCAN_LINES_SHOP] = "SELECT shop_id, order_id, item_id, quantity, price FROM order_lines"
                                " WHERE shop_id = ?1 ORDER BY shop_id, order_id, line_no",
    [S_IDENT_LINK] = "INSERT OR REPLACE INTO identities(shop_id, anonymous_id, user_id, ts_ms) VALUES (?1, ?2, ?3, ?4)",
    [S_IDENT_SCAN] = "SELECT shop_id, anonymous_id, user_id FROM identities",
    [S_PROF_PUT] = "INSERT OR REPLACE INTO profiles(shop_id, user_key, data) VALUES (?1, ?2, ?3)",
    [S_PROF_PUT_MANY] = "INSERT OR REPLACE INTO profiles(shop_id, user_key, data) VALUES " PROF_VALUES,
    [S_PROF_GET] = "SELECT data FROM profiles WHERE shop_id = ?1 AND user_key = ?2",
    [S_PROF_SCAN] = "SELECT shop_id, user_key, data FROM profiles",
    [S_PROF_DEL] = "DELETE FROM profiles WHERE shop_id = ?1 AND user_key = ?2",
    [S_META_GET] = "SELECT value FROM meta WHERE key = ?1",
    [S_META_SET] = "INSERT OR REPLACE INTO meta(key, value) VALUES (?1, ?2)",
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_COUNT_ITEMS] = "SELECT count(*) FROM items WHERE shop_id = ?1",
    [S_COUNT_CUST] = "SELECT count(*) FROM customers WHERE shop_id = ?1",
    [S_COUNT_ORDERS] = "SELECT is_return, count(*) FROM orders WHERE shop_id = ?1 GROUP BY is_return",
    [S_COUNT_EVENTS] = "SELECT type, n FROM event_counts WHERE shop_id = ?1",
};

struct tl_store {
    sqlite3 *db;
    sqlite3_stmt *st[S_COUNT_];
    int in_tx;                  /* inside begin() .. commit()/rollback() */
    int defer_copy;             /* this transaction's commit skips the WAL checkpoint */
    int skip_sync;              /* this transaction's commit is not synced (sq_skip_sync) */
    int sync_full;              /* opened with TL_SYNC_FULL */
    int solo;                   /* rollback journal instead of WAL (sq_solo) */
    int wb_fd1;                 /* sq_write_ahead's descriptor of the file written, + 1 (0: none open) */
    int64_t next_seq;           /* seq of the next append; 0 = read it from the tables */
    struct tl_evblock_enc pend; /* events appended, not yet written */
    struct tl_buf work;         /* decompressed block during a scan */
};

/* ---- helpers ---- */

static sqlite3_stmt *prep(struct tl_store *s, enum stmt_id id)
{
    if (!s->st[id] && sqlite3_prepare_v3(s->db, sql[id], -1, SQLITE_PREPARE_PERSISTENT, &s->st[id], NULL) != SQLITE_OK)
        return NULL;
    return s->st[id];
}

static void bind_text(sqlite3_stmt *q, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(q, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(q, i);
}

static void bind_real(sqlite3_stmt *q, int i, double v)
{
    if (isnan(v))
        sqlite3_bind_null(q, i);
    else
        sqlite3_bind_double(q, i, v);
}

static const char *col_text(sqlite3_stmt *q, int i) { return (const char *)sqlite3_column_text(q, i); }

static double col_real(sqlite3_stmt *q, int i)
{
    return sqlite3_column_type(q, i) == SQLITE_NULL ? NAN : sqlite3_column_double(q, i);
}

/* A failed statement is logged with SQLite's reason, its extended code
 * and, where SQLite has it, the OS error behind it (a full disk, a file
 * size limit): the callers only see TL_ESTORE. */
static void log_failure(sqlite3_stmt *q)
{
    sqlite3 *db = sqlite3_db_handle(q);
    int se = sqlite3_system_errno(db);
    const char *text = sqlite3_sql(q);
    tl_warn("storage: \"%.40s%s\" failed: %s (SQLite code %d%s%s)", text ? text : "?",
            text && strlen(text) > 40 ? "..." : "", sqlite3_errmsg(db), sqlite3_extended_errcode(db), se ? ", " : "",
            se ? strerror(se) : "");
}

/* Step a write statement to completion and reset it. */
static enum tl_rc run(sqlite3_stmt *q)
{
    int r = sqlite3_step(q);
    if (r != SQLITE_DONE && r != SQLITE_ROW && r != SQLITE_CONSTRAINT) log_failure(q);
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    if (r == SQLITE_DONE || r == SQLITE_ROW) return TL_OK;
    if (r == SQLITE_CONSTRAINT) return TL_EEXIST;
    return TL_ESTORE;
}

static enum tl_rc finish_scan(sqlite3_stmt *q, int r, int stopped)
{
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    if (stopped) return (enum tl_rc)stopped;
    return r == SQLITE_DONE ? TL_OK : TL_ESTORE;
}

static enum tl_rc exec(struct tl_store *s, const char *q)
{
    return sqlite3_exec(s->db, q, NULL, NULL, NULL) == SQLITE_OK ? TL_OK : TL_ESTORE;
}

/* ---- open / close / migrations ---- */

static int schema_version(struct tl_store *s)
{
    sqlite3_stmt *q;
    int version = -1;
    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &q, NULL) != SQLITE_OK) return -1;
    if (sqlite3_step(q) == SQLITE_ROW) version = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    return version;
}

/* An up-to-date file is only read (no write lock). Pending migrations run
 * in one transaction, which reads the version again (another process may
 * have migrated the file meanwhile): all or none, with one commit (a new
 * database was a sync per step). */
static enum tl_rc migrate(struct tl_store *s, struct tl_err *err)
{
    const int last = (int)N_MIGRATIONS;
    int version = schema_version(s);
    if (version == last) return TL_OK;
    int in_tx = 0;
    if (version >= 0 && version < last) {
        if (exec(s, "BEGIN IMMEDIATE")) return tl_err_set(err, TL_ESTORE, NULL, "migrating: %s", sqlite3_errmsg(s->db));
        in_tx = 1;
        version = schema_version(s);
    }
    if (version < 0 || version > last) {
        if (in_tx) exec(s, "ROLLBACK");
        if (version < 0) return tl_err_set(err, TL_ESTORE, NULL, "reading schema version: %s", sqlite3_errmsg(s->db));
        return tl_err_set(err, TL_ESTORE, NULL,
                          "database schema version %d is newer than this tailor (%d): upgrade tailor", version, last);
    }
    for (int v = version; v < last; v++)
        if (exec(s, migrations[v])) {
            tl_err_set(err, TL_ESTORE, NULL, "migration %d failed: %s", v + 1, sqlite3_errmsg(s->db));
            exec(s, "ROLLBACK");
            return TL_ESTORE;
        }
    char setv[64];
    snprintf(setv, sizeof setv, "PRAGMA user_version = %d", last);
    if ((version < last && exec(s, setv)) || exec(s, "COMMIT")) {
        tl_err_set(err, TL_ESTORE, NULL, "migrations %d-%d failed: %s", version + 1, last, sqlite3_errmsg(s->db));
        exec(s, "ROLLBACK");
        return TL_ESTORE;
    }
    return TL_OK;
}

static void write_ahead_close(struct tl_store *s)
{
    if (s->wb_fd1) close(s->wb_fd1 - 1);
    s->wb_fd1 = 0;
}

static void sq_close(struct tl_store *s)
{
    if (!s) return;
    write_ahead_close(s);
    for (int i = 0; i < S_COUNT_; i++) sqlite3_finalize(s->st[i]);
    sqlite3_close(s->db); /* pending events were never committed: dropped */
    tl_evblock_enc_free(&s->pend);
    tl_buf_free(&s->work);
    tl_free(s);
}

#define BUSY_TIMEOUT_MS 10000 /* a statement waits this long for another connection's lock */
#define BUSY_RETRY_MS 20

/* Run the open's pragmas. A file that an import holds in sole use
 * (sq_solo) is in rollback-journal mode until the import ends, and making
 * it WAL needs it alone: wait for that as a statement waits for a lock, up
 * to BUSY_TIMEOUT_MS (SQLite answers SQLITE_BUSY at once where its own wait
 * could deadlock, so the wait is here). */
static enum tl_rc configure(struct tl_store *s, const char *pragmas)
{
    int r, waited = 0;
    while ((r = sqlite3_exec(s->db, pragmas, NULL, NULL, NULL)) == SQLITE_BUSY && waited < BUSY_TIMEOUT_MS) {
        struct timespec ts = {0, BUSY_RETRY_MS * 1000000L};
        nanosleep(&ts, NULL);
        waited += BUSY_RETRY_MS;
    }
    return r == SQLITE_OK ? TL_OK : TL_ESTORE;
}

static enum tl_rc sq_open(const char *path, enum tl_sync sync, struct tl_store **out, struct tl_err *err)
{
    struct tl_store *s = tl_calloc(1, sizeof *s);
    if (!s) return tl_err_set(err, TL_ENOMEM, NULL, "out of memory opening store");
    tl_evblock_enc_init(&s->pend);
    tl_buf_init(&s->work, 0);
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        tl_err_set(err, TL_ESTORE, "db", "cannot open database %s: %s", path,
                   s->db ? sqlite3_errmsg(s->db) : "out of memory");
        sq_close(s);
        return TL_ESTORE;
    }
    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    /* WAL: readers never block the writer. cache_size -8192 = 8 MiB page
     * cache: a large write (an import) spills its pages to the WAL as it
     * goes instead of first filling fresh memory with them (a 1,000,000-
     * event import with 64 MiB: the final commit 0.27 s and the profile
     * checkpoint 0.33 s; with 8 MiB 0.18 and 0.25 s; reads come from the
     * OS page cache either way). foreign_keys stays off: ids are validated
     * by the engine. page_size 16384 (a new database only; an existing one
     * keeps its size):
     * SQLite writes the WAL a page per call, and the event blocks are large
     * blobs, so 16 KiB pages make a quarter of the write calls of the 4 KiB
     * default; measured on a 1,000,000-event import: the final commit 0.41
     * -> 0.30 s and the profile checkpoint 0.71 -> 0.51 s (BENCHMARKS.md).
     * mmap_size: the database file's pages are read through a mapping (up
     * to 2 GiB, the most Debian's SQLite allows; pages still in the WAL and
     * all writes go through read/write as before). Beyond the small page
     * cache every read was a copy out of the OS page cache: opening a store
     * of 1,500,000 orders spent a third of its 28 s in that copy (18 s with
     * the mapping); an import is unchanged. */
    const char *pragmas =
        sync == TL_SYNC_FULL
            ? "PRAGMA page_size=16384; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=-8192;"
              " PRAGMA mmap_size=2147418112; PRAGMA temp_store=MEMORY;"
            : "PRAGMA page_size=16384; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-8192;"
              " PRAGMA mmap_size=2147418112; PRAGMA temp_store=MEMORY;";
    if (configure(s, pragmas)) {
        tl_err_set(err, TL_ESTORE, "db", "cannot configure database %s: %s", path, sqlite3_errmsg(s->db));
        sq_close(s);
        return TL_ESTORE;
    }
    s->sync_full = sync == TL_SYNC_FULL;
    enum tl_rc rc = migrate(s, err);
    if (rc) {
        sq_close(s);
        return rc;
    }
    *out = s;
    return TL_OK;
}

/* ---- transactions ---- */

#define WAL_AUTOCHECKPOINT_PAGES 1000 /* SQLite's default, which every handle here keeps */

static enum tl_rc tx(struct tl_store *s, enum stmt_id id)
{
    sqlite3_stmt *q = prep(s, id);
    return q ? run(q) : TL_ESTORE;
}
static enum tl_rc flush_events(struct tl_store *s);

/* Back to synced commits after a transaction that skipped it (sq_skip_sync). */
static void sync_again(struct tl_store *s)
{
    if (!s->skip_sync) return;
    s->skip_sync = 0;
    if (exec(s, "PRAGMA synchronous=FULL") != TL_OK) tl_warn("storage: cannot restore synchronous=FULL");
}

static enum tl_rc sq_begin(struct tl_store *s)
{
    enum tl_rc rc = tx(s, S_BEGIN);
    if (rc == TL_OK) {
        s->in_tx = 1;
        s->next_seq = 0; /* read under the write lock at the first append */
    } else {
        sync_again(s); /* no transaction: the next one is synced */
    }
    return rc;
}

static enum tl_rc sq_commit(struct tl_store *s)
{
    enum tl_rc rc = flush_events(s);
    if (rc) return rc; /* still in the transaction: the caller rolls back */
    /* wal_autocheckpoint 0 for this commit only: the WAL is not copied
     * into the database file by the commit (SQLite's default copies it
     * once it holds 1000 pages); 1000 again afterwards. */
    if (s->defer_copy) sqlite3_wal_autocheckpoint(s->db, 0);
    rc = tx(s, S_COMMIT);
    if (s->defer_copy) sqlite3_wal_autocheckpoint(s->db, WAL_AUTOCHECKPOINT_PAGES);
    s->defer_copy = 0;
    if (rc == TL_OK) sync_again(s);
    if (rc == TL_OK) s->in_tx = 0;
    s->next_seq = 0; /* another connection may append before our next transaction */
    return rc;
}

static enum tl_rc sq_rollback(struct tl_store *s)
{
    int was_in_tx = s->in_tx;
    s->defer_copy = 0;
    tl_evblock_enc_reset(&s->pend);
    s->next_seq = 0;
    s->in_tx = 0;
    /* No transaction open in SQLite: a COMMIT that failed on an I/O error
     * (a full disk) has rolled it back already; without begin() it is the
     * caller's error. */
    if (sqlite3_get_autocommit(s->db)) {
        sync_again(s);
        return was_in_tx ? TL_OK : TL_ESTORE;
    }
    enum tl_rc rc = tx(s, S_ROLLBACK);
    sync_again(s);
    return rc;
}

static void sq_defer_log_copy(struct tl_store *s)
{
    if (s->in_tx) s->defer_copy = 1;
}

/* synchronous NORMAL until the transaction ends (SQLite refuses to change
 * it inside one): in WAL mode a commit then writes the log without syncing
 * it; the log is synced by the next FULL commit or before any copy into the
 * database file, so nothing committed earlier is put at risk. */
static void sq_skip_sync(struct tl_store *s)
{
    if (!s->in_tx && !s->solo && s->sync_full && !s->skip_sync && exec(s, "PRAGMA synchronous=NORMAL") == TL_OK)
        s->skip_sync = 1;
}

/* PRAGMA journal_mode=want: TL_EBUSY if SQLite keeps the mode it has
 * (another connection has the file open). */
static enum tl_rc journal_mode(struct tl_store *s, const char *want)
{
    char q[48];
    snprintf(q, sizeof q, "PRAGMA journal_mode=%s", want);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, q, -1, &st, NULL) != SQLITE_OK) return TL_ESTORE;
    int r = sqlite3_step(st);
    int ok = r == SQLITE_ROW && sqlite3_stricmp((const char *)sqlite3_column_text(st, 0), want) == 0;
    int busy = r == SQLITE_BUSY || r == SQLITE_LOCKED || (r == SQLITE_ROW && !ok);
    sqlite3_finalize(st);
    return ok ? TL_OK : busy ? TL_EBUSY : TL_ESTORE;
}

/* Sole use: journal_mode DELETE, so a transaction writes its pages into
 * the database file itself, keeping only the previous content of the pages
 * it changes in a rollback journal (the new pages of an append need none;
 * a rollback truncates the file back). The WAL writes every page twice
 * (into the log, then copied into the file) and a large log then has to be
 * deleted: on a 1,000,000-event import that was about 0.2 s of the last
 * 0.5 s (BENCHMARKS.md "One write instead of two"). synchronous FULL
 * while solo: NORMAL is not safe against power loss with a rollback
 * journal. Leaving WAL needs every other connection closed: SQLite answers
 * SQLITE_BUSY otherwise, and the mode stays WAL. A crash while solo leaves
 * a hot journal that the next open rolls back; that open's journal_mode=WAL
 * makes the file WAL again. */
static enum tl_rc sq_solo(struct tl_store *s, int on)
{
    if (s->in_tx) return TL_EINVAL;
    if (!on == !s->solo) return TL_OK;
    if (on) {
        sqlite3_busy_timeout(s->db, 0); /* another connection has the file open: say so at once */
        enum tl_rc rc = journal_mode(s, "delete");
        sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
        if (rc) return rc;
        if (!s->sync_full && exec(s, "PRAGMA synchronous=FULL") != TL_OK) {
            (void)journal_mode(s, "wal");
            return TL_ESTORE;
        }
        s->solo = 1;
        write_ahead_close(s); /* its file is now the database */
        return TL_OK;
    }
    enum tl_rc rc = journal_mode(s, "wal");
    if (rc) return rc;
    s->solo = 0;
    write_ahead_close(s);
    return s->sync_full ? TL_OK : exec(s, "PRAGMA synchronous=NORMAL");
}

/* Inside a long transaction: the kernel starts writing out the pages of
 * the file this transaction writes (the database while solo, else the
 * log) that SQLite has handed it so far, without waiting for them
 * (sync_file_range WRITE). The commit's sync then has only the last ones
 * left to wait for: a 1,000,000-event import wrote about 25 MB that its
 * commit's fdatasync waited for at once (BENCHMARKS.md). It changes no
 * guarantee: the kernel writes dirty pages out on its own schedule anyway,
 * and SQLite's commit still syncs. Any failure only leaves the work to the
 * commit. */
static void sq_write_ahead(struct tl_store *s)
{
    if (!s->in_tx) return;
    if (!s->wb_fd1) {
        const char *db = sqlite3_db_filename(s->db, "main");
        char path[4096];
        if (!db || !*db || snprintf(path, sizeof path, "%s%s", db, s->solo ? "" : "-wal") >= (int)sizeof path) return;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) return;
        s->wb_fd1 = fd + 1;
    }
    (void)sync_file_range(s->wb_fd1 - 1, 0, 0, SYNC_FILE_RANGE_WRITE);
}

/* PASSIVE: copies the committed frames no reader still needs, never waits
 * for a reader or the writer; SQLITE_BUSY (another copy is running) leaves
 * the frames to that copy or a later one. */
static enum tl_rc sq_log_copy(struct tl_store *s)
{
    int rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    return rc == SQLITE_OK || rc == SQLITE_BUSY ? TL_OK : TL_ESTORE;
}

/* ---- shops and keys ---- */

static enum tl_rc sq_shop_create(struct tl_store *s, const char *name, uint32_t *id)
{
    sqlite3_stmt *q = prep(s, S_SHOP_CREATE);
    if (!q) return TL_ESTORE;
    bind_text(q, 1, name);
    sqlite3_bind_int64(q, 2, tl_now_ms());
    enum tl_rc rc = run(q);
    if (rc == TL_OK) *id = (uint32_t)sqlite3_last_insert_rowid(s->db);
    return rc;
}

static enum tl_rc sq_shop_find(struct tl_store *s, const char *name, uint32_t *id)
{
    sqlite3_stmt *q = prep(s, S_SHOP_FIND);
    if (!q) return TL_ESTORE;
    bind_text(q, 1, name);
    int r = sqlite3_step(q);
    if (r == SQLITE_ROW) *id = (uint32_t)sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    return r == SQLITE_ROW ? TL_OK : r == SQLITE_DONE ? TL_ENOTFOUND : TL_ESTORE;
}

static enum tl_rc sq_shop_scan(struct tl_store *s, tl_shop_cb cb, void *ctx)
{
    sqlite3_stmt *q = prep(s, S_SHOP_SCAN);
    if (!q) return TL_ESTORE;
    int r, stop = 0;
    while ((r = sqlite3_step(q)) == SQLITE_ROW) {
        struct tl_shop sh = {(uint32_t)sqlite3_column_int64(q, 0), col_text(q, 1), sqlite3_column_int64(q, 2)};
        if ((stop = cb(ctx, &sh))) break;
    }
    return finish_scan(q, r, stop);
}

static enum tl_rc sq_key_add(struct tl_store *s, uint32_t shop_id, enum tl_scope scope, const uint8_t hash[32],
                             const char *prefix)
{
    sqlite3_stmt *q = prep(s, S_KEY_ADD);
    if (!q) return TL_ESTORE;
    sqlite3_bind_blob(q, 1, hash, 32, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, shop_id);
    sqlite3_bind_int(q, 3, (int)scope);
    bind_text(q, 4, prefix);
    sqlite3_bind_int64(q, 5, tl_now_ms());
    return run(q);
}

static enum tl_rc sq_key_find(struct tl_store *s, const uint8_t hash[32], uint32_t *shop_id, enum tl_scope *scope)
{
    sqlite3_stmt *q = prep(s, S_KEY_FIND);
    if (!q) return TL_ESTORE;
    sqlite3_bind_blob(q, 1, hash, 32, SQLITE_STATIC);
    int r = sqlite3_step(q);
    if (r == SQLITE_ROW) {
        *shop_id = (uint32_t)sqlite3_column_int64(q, 0);
        *scope = (enum tl_scope)sqlite3_column_int(q, 1);
    }
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    return r == SQLITE_ROW ? TL_OK : r == SQLITE_DONE ? TL_ENOTFOUND : TL_ESTORE;
}

/* ---- items ---- */

static enum tl_rc sq_item_upsert(struct tl_store *s, uint32_t shop_id, const struct tl_item *it)
{
    sqlite3_stmt *q = prep(s, S_ITEM_UPSERT);
    if (!q) return TL_ESTORE;
    sqlite3_bind_int64(q, 1, shop_id);
    bind_text(q, 2, it->id);
    bind_text(q, 3, it->title);
    bind_text(q, 4, it->description);
    bind_text(q, 5, it->url);
    bind_text(q, 6, it->image_url);
    bind_real(q, 7, it->price);
    bind_text(q, 8, it->currency);
    bind_text(q, 9, it->category);
    bind_text(q, 10, it->brand);
    bind_text(q, 11, it->tags_json);
    sqlite3_bind_int(q, 12, it->available);
    sqlite3_bind_int64(q, 13, it->stock);
    bind_text(q, 14, it->attrs_json);
    sqlite3_bind_int(q, 15, it->visible);
    sqlite3_bind_int64(q, 16, it->created_ms);
    sqlite3_bind_int64(q, 17, it->updated_ms);
    return run(q);
}

/* DELETE ... WHERE shop_id = ?1 AND id = ?2; TL_ENOTFOUND when no row went. */
static enum tl_rc delete_by_id(struct tl_store *s, enum stmt_id which, uint32_t shop_id, const char *id)
{
    sqlite3_stmt *q = prep(s, which);
    if (!q) return TL_ESTORE;
    sqlite3_bind_int64(q, 1, shop_id);
    bind_text(q, 2, id);
    enum tl_rc rc = run(q);
    if (rc == TL_OK && sqlite3_changes(s->db) == 0) return TL_ENOTFOUND;
    return rc;
}

static enum tl_rc sq_item_delete(struct tl_store *s, uint32_t shop_id, const char *id)
{
    return delete_by_id(s, S_ITEM_DELETE, shop_id, id);
}

static enum tl_rc sq_item_scan(struct tl_store *s, uint32_t shop_id, tl_item_cb cb, void *ctx)
{
    sqlite3_stmt *q = prep(s, shop_id ? S_ITEM_SCAN_SHOP : S_ITEM_SCAN_ALL);
    if (!q) return TL_ESTORE;
    if (shop_id) sqlite3_bind_int64(q, 1, shop_id);
    int r, stop = 0;
    while ((r = sqlite3_step(q)) == SQLITE_ROW) {
        struct tl_item it = {
            .id = col_text(q, 1),
            .title = col_text(q, 2),
            .description = col_text(q, 3),
            .url = col_text(q, 4),
            .image_url = col_text(q, 5),
            .price = col_real(q, 6),
            .currency = col_text(q, 7),
            .category = col_text(q, 8),
            .brand = col_text(q, 9),
            .tags_json = col_text(q, 10),
            .available = sqlite3_column_int(q, 11),
            .stock = sqlite3_column_int64(q, 12),
            .attrs_json = col_text(q, 13),
            .visible = sqlite3_column_int(q, 14),
            .created_ms = sqlite3_column_int64(q, 15),
            .updated_ms = sqlite3_column_int64(q, 16),
        };
        if ((stop = cb(ctx, (uint32_t)sqlite3_column_int64(q, 0), &it))) break;
    }
    return finish_scan(q, r, stop);
}

/* ---- customers ---- */

static enum tl_rc sq_customer_upsert(struct tl_store *s, uint32_t shop_id, const struct tl_customer *c)
{
    sqlite3_stmt *q = prep(s, S_CUST_UPSERT);
    if (!q) return TL_ESTORE;
    sqlite3_bind_int64(q, 1, shop_id);
    bind_text(q, 2, c->id);
    bind_text(q, 3, c->email);
    bind_text(q, 4, c->name);
    bind_text(q, 5, c->country);
    sqlite3_bind_int(q, 6, c->consent_email);
    sqlite3_bind_int(q, 7, c->consent_personalization);
    bind_text(q, 8, c->member_tier);
    sqlite3_bind_int64(q, 9, c->created_ms);
    sqlite3_bind_int64(q, 10, c->updated_ms);
    return run(q);
}

static enum tl_rc sq_customer_scan(struct tl_store *s, uint32_t shop_id, tl_customer_cb cb, void *ctx)
{
    sqlite3_stmt *q = prep(s, shop_id ? S_CUST_SCAN_SHOP : S_CUST_SCAN_ALL);
    if (!q) return TL_ESTORE;
    if (shop_id) sqlite3_bind_int64(q, 1, shop_id);
    int r, stop = 0;
    while ((r = sqlite3_step(q)) == SQLITE_ROW) {
        struct tl_customer c = {
            .id = col_text(q, 1),
            .email = col_text(q, 2),
            .name = col_text(q, 3),
            .country = col_text(q, 4),
            .consent_email = sqlite3_column_int(q, 5),
            .consent_personalization = sqlite3_column_int(q, 6),
            .member_tier = col_text(q, 7),
            .created_ms = sqlite3_column_int64(q, 8),
            .updated_ms = sqlite3_column_int64(q, 9),
        };
        if ((stop = cb(ctx, (uint32_t)sqlite3_column_int64(q, 0), &c))) break;
    }
    return finish_scan(q, r, stop);
}

/* ---- events ---- */

/* Insert block b, already compressed, as events first_seq.. (inside the
 * current transaction), and count its events. */
static enum tl_rc write_block(struct tl_store *s, const struct tl_evblock_enc *b, int64_t first_seq)
{
    enum tl_rc rc = TL_OK;
    sqlite3_stmt *q = prep(s, S_BLK_INSERT), *c = prep(s, S_CNT_ADD);
    if (!q || !c) rc = TL_ESTORE;
    if (rc == TL_OK) {
        sqlite3_bind_int64(q, 1, first_seq);
        sqlite3_bind_int64(q, 2, b->shop);
        sqlite3_bind_int64(q, 3, (sqlite3_int64)b->n);
        sqlite3_bind_int64(q, 4, (sqlite3_int64)b->raw.len);
        if (b->any_eid)
            sqlite3_bind_blob(q, 5, b->eids.data, (int)b->eids.len, SQLITE_STATIC);
        else
            sqlite3_bind_null(q, 5);
        sqlite3_bind_blob(q, 6, b->frame.data, (int)b->frame.len, SQLITE_STATIC);
        rc = run(q);
    }
    for (int t = 0; rc == TL_OK && t < TL_EV_MAX_; t++) {
        if (!b->counts[t]) continue;
        sqlite3_bind_int64(c, 1, b->shop);
        sqlite3_bind_int(c, 2, t);
        sqlite3_bind_int64(c, 3, b->counts[t]);
        rc = run(c);
    }
    return rc;
}

/* Write the pending events as one block (inside the current transaction). */
static enum tl_rc flush_events(struct tl_store *s)
{
    struct tl_evblock_enc *b = &s->pend;
    if (!b->n) return TL_OK;
    enum tl_rc rc = tl_evblock_compress(b);
    if (rc == TL_OK) rc = write_block(s, b, s->next_seq - (int64_t)b->n);
    tl_evblock_enc_reset(b);
    return rc;
}

static enum tl_rc read_next_seq(struct tl_store *s)
{
    sqlite3_stmt *q = prep(s, S_BLK_MAXSEQ);
    if (!q) return TL_ESTORE;
    int r = sqlite3_step(q);
    if (r == SQLITE_ROW) s->next_seq = sqlite3_column_int64(q, 0) + 1;
    sqlite3_reset(q);
    return r == SQLITE_ROW ? TL_OK : TL_ESTORE;
}

static enum tl_rc append_in_tx(struct tl_store *s, struct tl_event *ev, uint64_t eid_hash)
{
    enum tl_rc rc = TL_OK;
    if (!s->next_seq && (rc = read_next_seq(s))) return rc;
    /* one shop per block, and bounded blocks */
    if (s->pend.n && (s->pend.shop != ev->shop_id || s->pend.raw.len >= TL_EVBLOCK_RAW_MAX) && (rc = flush_events(s)))
        return rc;
    if ((rc = tl_evblock_add(&s->pend, ev, eid_hash))) return rc;
    ev->seq = s->next_seq++;
    return TL_OK;
}

static enum tl_rc block_in_tx(struct tl_store *s, const struct tl_evblock_enc *b, int64_t *first_seq)
{
    enum tl_rc rc = TL_OK;
    if (!s->next_seq && (rc = read_next_seq(s))) return rc;
    if ((rc = flush_events(s))) return rc; /* events appended before it keep their place */
    if ((rc = write_block(s, b, s->next_seq))) return rc;
    *first_seq = s->next_seq;
    s->next_seq += (int64_t)b->n;
    return TL_OK;
}

/* End a transaction begun for one write outside an explicit one: commit
 * if the write (rc) succeeded, else roll back. */
static enum tl_rc own_tx_end(struct tl_store *s, enum tl_rc rc)
{
    if (rc == TL_OK && (rc = sq_commit(s)) == TL_OK) return TL_OK;
    sq_rollback(s);
    return rc;
}

static enum tl_rc sq_event_append_block(struct tl_store *s, const struct tl_evblock_enc *b, int64_t *first_seq)
{
    if (!b->n || !b->frame.len) return TL_EINVAL;
    if (s->in_tx) return block_in_tx(s, b, first_seq);
    enum tl_rc rc = sq_begin(s);
    return rc ? rc : own_tx_end(s, block_in_tx(s, b, first_seq));
}

static enum tl_rc sq_event_append(struct tl_store *s, struct tl_event *ev, uint64_t eid_hash)
{
    if (s->in_tx) return append_in_tx(s, ev, eid_hash);
    enum tl_rc rc = sq_begin(s);
    return rc ? rc : own_tx_end(s, append_in_tx(s, ev, eid_hash));
}

static enum tl_rc sq_event_scan(struct tl_store *s, int64_t after_seq, unsigned bodies, tl_event_cb cb, void *ctx)
{
    enum tl_rc frc = flush_events(s); /* this handle's own pending events are visible to it */
    if (frc) return frc;
    sqlite3_stmt *q = prep(s, S_EV_SCAN);
    if (!q) return TL_ESTORE;
    sqlite3_bind_int64(q, 1, after_seq);
    int r, stop = 0;
    while ((r = sqlite3_step(q)) == SQLITE_ROW) {
        struct tl_event ev = {
            .seq = sqlite3_column_int64(q, 0),
            .shop_id = (uint32_t)sqlite3_column_int64(q, 1),
            .ts_ms = sqlite3_column_int64(q, 2),
            .type = (enum tl_event_type)sqlite3_column_int(q, 3),
            .user_id = col_text(q, 4),
            .anonymous_id = col_text(q, 5),
            .item_id = col_text(q, 6),
            .country = col_text(q, 7),
            .body = col_text(q, 8),
            .quantity = NAN,
            .price = NAN,
            .dwell_ms = -1,
            .scroll_depth = NAN,
        };
        if ((unsigned)ev.type >= 32 || !(bodies & TL_SCAN_BODY(ev.type))) ev.body = NULL;
        if ((stop = cb(ctx, &ev))) break;
    }
    enum tl_rc rc = finish_scan(q, r, stop);
    if (rc) return rc;
    /* then the blocks */
    if (!(q = prep(s, S_BLK_SCAN))) return TL_ESTORE;
    sqlite3_bind_int64(q, 1, after_seq);
    while ((r = sqlite3_step(q)) == SQLITE_ROW) {
        int64_t n = sqlite3_column_int64(q, 1), raw = sqlite3_column_int64(q, 2);
        const void *data = sqlite3_column_blob(q, 3);
        int len = sqlite3_column_bytes(q, 3);
        if (n <= 0 || raw <= 0 || !data) {
            stop = TL_ESTORE;
            break;
        }
        enum tl_rc brc = tl_evblock_decode(data, (size_t)len, (size_t)raw, (size_t)n, sqlite3_column_int64(q, 0),
                                           after_seq, bodies, &s->work, cb, ctx);
        if (brc) {
            stop = (int)brc;
            break;
        }
    }
    return finish_scan(q, r, stop);
}

static enum tl_rc sq_event_eid_scan(struct tl_store *s, tl_eid_cb cb, void *ctx)
{
    enum tl_rc rc = flush_events(s);
    if (rc) return rc;
    sqlite3_stmt *q = prep(s, S_EID_SCAN);
    if (!q) return TL_ESTORE;
    int r, stop = 0;
    while ((r = sqlite3_step(q)) == SQLITE_ROW)
        if ((stop = cb(ctx, (uint64_t)sqlite3_column_int64(q, 0)))) break;
    if ((rc = finish_scan(q, r, stop))) return rc;
    if (!(q = prep(s, S_BLK_EIDS))) return TL_ESTORE;
    while (!stop && (r = sqlite3_step(q)) == SQLITE_ROW) {
        int64_t n = sqlite3_column_int64(q, 0);
        const void *e = sqlite3_column_blob(q, 1);
        if (n <= 0 || !e || sqlite3_column_bytes(q, 1) != 8 * n) {
            stop = TL_ESTORE;
            break;
        }
        for (int64_t i = 0; i < n && !stop; i++) {
            uint64_t h = tl_evblock_eid(e, (size_t)i);
            if (h) stop = cb(ctx, h);
        }
    }
    return finish_scan(q, r, stop);
}

/* ---- orders ---- */

/* An order's columns from parameter at + 1 on. */
static void bind_order(sqlite3_stmt *q, int at, uint32_t shop_id, const struct tl_order *o, double total)
{
    sqlite3_bind_int64(q, at + 1, shop_id);
    bind_text(q, at + 2, o->id);
    bind_text(q, at + 3, o->customer_id);
    sqlite3_bind_int64(q, at + 4, o->ts_ms);
    bind_text(q, at + 5, o->country);
    bind_text(q, at + 6, o->currency);
    sqlite3_bind_int(q, at + 7, o->is_return ? 1 : 0);
    sqlite3_bind_double(q, at + 8, total);
}

/* Bind an order's columns (S_ORDER_INSERT and S_ORDER_UPSERT) and run. */
static enum tl_rc bind_order_run(sqlite3_stmt *q, uint32_t shop_id, const struct tl_order *o, double total)
{
    bind_order(q, 0, shop_id, o, total);
    return run(q);
}

/* An order line's columns from parameter at + 1 on. */
static void bind_line(sqlite3_stmt *q, int at, uint32_t shop_id, const char *order_id, size_t line_no,
                      const struct tl_line *l)
{
    sqlite3_bind_int64(q, at + 1, shop_id);
    bind_text(q, at + 2, order_id);
    sqlite3_bind_int64(q, at + 3, (sqlite3_int64)line_no);
    bind_text(q, at + 4, l->item_id);
    sqlite3_bind_double(q, at + 5, l->quantity);
    bind_real(q, at + 6, l->price);
}

static double order_total(const struct tl_order *o)
{
    double total = 0;
    for (size_t i = 0; i < o->n_lines; i++)
        if (!isnan(o->lines[i].price)) total += o->lines[i].quantity * o->lines[i].price;
    return total;
}

/* A new order (the usual case: an import, a purchase event) is one insert
 * and its lines; one already stored is replaced with its lines, which are
 * deleted first. INSERT OR IGNORE tells the two apart (sqlite3_changes),
 * saving the lines' delete, a B-tree search, for every new order. */
static enum tl_rc sq_order_upsert(struct tl_store *s, uint32_t shop_id, const struct tl_order *o)
{
    sqlite3_stmt *ins = prep(s, S_LINE_INSERT);
    if (!ins) return TL_ESTORE;
    double total = order_total(o);
    /* new: inserted (no lines to delete); stored already: replaced, and its
     * lines deleted */
    sqlite3_stmt *q = prep(s, S_ORDER_INSERT);
    enum tl_rc rc = q ? bind_order_run(q, shop_id, o, total) : TL_ESTORE;
    if (rc == TL_OK && sqlite3_changes(s->db) == 0) {
        sqlite3_stmt *up = prep(s, S_ORDER_UPSERT), *del = prep(s, S_ORDER_DEL_LINES);
        rc = up && del ? bind_order_run(up, shop_id, o, total) : TL_ESTORE;
        if (rc == TL_OK) {
            sqlite3_bind_int64(del, 1, shop_id);
            bind_text(del, 2, o->id);
            rc = run(del);
        }
    }
    if (rc) return rc;
    for (size_t i = 0; i < o->n_lines; i++) {
        bind_line(ins, 0, shop_id, o->id, i, &o->lines[i]);
        if ((rc = run(ins))) return rc;
    }
    return TL_OK;
}

/* ORDERS_PER_INSERT orders at a time: one INSERT OR IGNORE of all of them;
 * when it inserted every one (new orders, no id twice: an import's usual
 * case) their lines go in ORDERS_PER_INSERT to a statement too. Otherwise
 * the chunk is upserted again order by order (those just inserted are then
 * replaced by themselves), which gives what upserting them in order gives.
 * An import of 1,000,000 events stores about 30,000 purchases: 60,000
 * statements of one row before. The rest of n (< ORDERS_PER_INSERT) one by
 * one. */
static enum tl_rc sq_order_upsert_many(struct tl_store *s, uint32_t shop_id, const struct tl_order *orders, size_t n)
{
    size_t i = 0;
    enum tl_rc rc = TL_OK;
    sqlite3_stmt *q = n >= ORDERS_PER_INSERT ? prep(s, S_ORDER_INSERT_MANY) : NULL;
    sqlite3_stmt *lq = q ? prep(s, S_LINE_INSERT_MANY) : NULL, *l1 = lq ? prep(s, S_LINE_INSERT) : NULL;
    for (; l1 && rc == TL_OK && i + ORDERS_PER_INSERT <= n; i += ORDERS_PER_INSERT) {
        const struct tl_order *c = &orders[i];
        for (int k = 0; k < ORDERS_PER_INSERT; k++) bind_order(q, 8 * k, shop_id, &c[k], order_total(&c[k]));
        if ((rc = run(q))) break;
        if (sqlite3_changes(s->db) != ORDERS_PER_INSERT) {
            for (int k = 0; k < ORDERS_PER_INSERT && rc == TL_OK; k++) rc = sq_order_upsert(s, shop_id, &c[k]);
            continue;
        }
        /* the chunk's lines, ORDERS_PER_INSERT to a statement, the last
         * ones (fewer) one by one */
        size_t lines = 0, done = 0;
        for (int k = 0; k < ORDERS_PER_INSERT; k++) lines += c[k].n_lines;
        size_t full = lines - lines % ORDERS_PER_INSERT;
        int m = 0; /* lines bound in lq */
        for (int k = 0; k < ORDERS_PER_INSERT && rc == TL_OK; k++)
            for (size_t li = 0; li < c[k].n_lines && rc == TL_OK; li++, done++) {
                if (done >= full) {
                    bind_line(l1, 0, shop_id, c[k].id, li, &c[k].lines[li]);
                    rc = run(l1);
                } else {
                    bind_line(lq, 6 * m, shop_id, c[k].id, li, &c[k].lines[li]);
                    if (++m == ORDERS_PER_INSERT) {
                        rc = run(lq);
                        m = 0;
                    }
                }
            }
    }
    for (; rc == TL_OK && i < n; i++) rc = sq_order_upsert(s, shop_id, &orders[i]);
    return rc;
}

#define ORDER_SCAN_LINES_MAX 100000 /* lines buffered for one order during a scan */

/* An order of a scan: its strings (id, customer, country, currency; each
 * a presence byte, then the text and its NUL) at str in the scan's
 * arena, its lines at lines[line0 .. line0 + n_lines). */
struct scan_order {
    int64_t ts;
    size_t str, line0;
    uint32_t shop, n_lines;
    int is_return;
};

struct scan_line {
    size_t item; /* the item id in the arena */
    double quantity, price;
};

struct order_scan {
    struct scan_order *o;
    size_t n, cap;
    struct scan_line *l;
    size_t nl, capl;
    struct tl_buf arena;
};

/* Append a presence byte and s (NULL: absent) to the arena. */
static int arena_str(struct tl_buf *a, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (tl_buf_reserve(a, n + 2)) return TL_ENOMEM;
    a->data[a->len++] = s ? 1 : 0;
    memcpy(a->data + a->len, s ? s : "", n);
    a->len += n;
    a->data[a->len++] = 0;
    return 0;
}

/* The next string of an order at *at (moved past it); NULL if absent. */
static const char *arena_next(const char *base, size_t *at)
{
    const char *p = base + *at;
    size_t n = strlen(p + 1);
    *at += n + 2;
    return p[0] ? p + 1 : NULL;
}

static const char *scan_order_id(const struct order_scan *sc, const struct scan_order *o)
{
    return sc->arena.data + o->str + 1; /* the id is never absent */
}

/* Time order: ts, then shop, then id (as "ORDER BY ts_ms, shop_id, id"; ids
 * compare bytewise, as SQLite's BINARY collation does). */
static int cmp_scan_order(const void *a, const void *b, void *ctx)
{
    const struct order_scan *sc = ctx;
    const struct scan_order *x = &sc->o[*(const size_t *)a], *y = &sc->o[*(const size_t *)b];
    if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
    if (x->shop != y->shop) return x->shop < y->shop ? -1 : 1;
    return strcmp(scan_order_id(sc, x), scan_order_id(sc, y));
}

static void order_scan_free(struct order_scan *sc)
{
    tl_free(sc->o);
    tl_free(sc->l);
    tl_buf_free(&sc->arena);
}

/* Orders in time order, each with its lines by their primary key; an order
 * without lines is skipped. Both tables are read once in primary key order
 * and joined here, the orders then sorted by time in memory: asking the
 * lines of each order (a b-tree seek each) and sorting the orders in SQLite
 * took 9 of the 19 s of opening a store of 1,500,000 orders. Memory while
 * it runs: about 40 bytes per order and 24 per line plus their strings. */
static enum tl_rc sq_order_scan(struct tl_store *s, uint32_t shop_id, tl_order_cb cb, void *ctx)
{
    sqlite3_stmt *q = prep(s, shop_id ? S_ORDER_SCAN_SHOP : S_ORDER_SCAN_ALL),
                 *ql = prep(s, shop_id ? S_ORDER_SCAN_LINES_SHOP : S_ORDER_SCAN_LINES_ALL);
    if (!q || !ql) return TL_ESTORE;
    if (shop_id) {
        sqlite3_bind_int64(q, 1, shop_id);
        sqlite3_bind_int64(ql, 1, shop_id);
    }
    struct order_scan sc = {0};
    tl_buf_init(&sc.arena, 0);
    int r, rl = SQLITE_DONE, stop = 0;
    while ((r = sqlite3_step(q)) == SQLITE_ROW) {
        if (tl_grow((void **)&sc.o, &sc.cap, sc.n + 1, sizeof *sc.o, 1024)) {
            stop = TL_ENOMEM;
            break;
        }
        struct scan_order *o = &sc.o[sc.n];
        *o = (struct scan_order){.ts = sqlite3_column_int64(q, 3),
                                 .str = sc.arena.len,
                                 .shop = (uint32_t)sqlite3_column_int64(q, 0),
                                 .is_return = sqlite3_column_int(q, 6)};
        if ((stop = arena_str(&sc.arena, col_text(q, 1))) || (stop = arena_str(&sc.arena, col_text(q, 2))) ||
            (stop = arena_str(&sc.arena, col_text(q, 4))) || (stop = arena_str(&sc.arena, col_text(q, 5))))
            break;
        sc.n++;
    }
    enum tl_rc rc = finish_scan(q, r == SQLITE_ROW ? SQLITE_DONE : r, stop);
    /* the lines, joined to the orders: both come in (shop, order id) order */
    size_t k = 0, maxl = 0; /* maxl: the most lines of one order */
    while (rc == TL_OK && (rl = sqlite3_step(ql)) == SQLITE_ROW) {
        uint32_t shop = (uint32_t)sqlite3_column_int64(ql, 0);
        const char *oid = col_text(ql, 1);
        int c = 1;
        while (k < sc.n && (sc.o[k].shop < shop ||
                            (sc.o[k].shop == shop && (c = strcmp(scan_order_id(&sc, &sc.o[k]), oid ? oid : "")) < 0))) {
            k++;
            c = 1;
        }
        if (k == sc.n || sc.o[k].shop != shop || c != 0) continue; /* a line without its order */
        struct scan_order *o = &sc.o[k];
        if (o->n_lines == ORDER_SCAN_LINES_MAX) {
            rc = TL_ETOOBIG;
            break;
        }
        if (tl_grow((void **)&sc.l, &sc.capl, sc.nl + 1, sizeof *sc.l, 1024)) {
            rc = TL_ENOMEM;
            break;
        }
        if (!o->n_lines) o->line0 = sc.nl;
        sc.l[sc.nl] = (struct scan_line){sc.arena.len, sqlite3_column_double(ql, 3), col_real(ql, 4)};
        const char *item = col_text(ql, 2);
        if (arena_str(&sc.arena, item ? item : "")) {
            rc = TL_ENOMEM;
            break;
        }
        sc.nl++;
        if (++o->n_lines > maxl) maxl = o->n_lines;
    }
    enum tl_rc rcl = finish_scan(ql, rl == SQLITE_ROW ? SQLITE_DONE : rl, 0);
    if (rc == TL_OK) rc = rcl;
    size_t *ord = NULL, n = 0;
    struct tl_line *lines = NULL;
    if (rc == TL_OK &&
        (!(ord = tl_malloc((sc.n + 1) * sizeof *ord)) || !(lines = tl_malloc((maxl + 1) * sizeof *lines))))
        rc = TL_ENOMEM;
    if (rc == TL_OK) {
        for (size_t i = 0; i < sc.n; i++)
            if (sc.o[i].n_lines) ord[n++] = i;
        qsort_r(ord, n, sizeof *ord, cmp_scan_order, &sc);
    }
    for (size_t x = 0; rc == TL_OK && x < n; x++) {
        const struct scan_order *o = &sc.o[ord[x]];
        size_t at = o->str;
        struct tl_order to = {.ts_ms = o->ts, .is_return = o->is_return, .lines = lines, .n_lines = o->n_lines};
        to.id = arena_next(sc.arena.data, &at);
        to.customer_id = arena_next(sc.arena.data, &at);
        to.country = arena_next(sc.arena.data, &at);
        to.currency = arena_next(sc.arena.data, &at);
        for (uint32_t i = 0; i < o->n_lines; i++) {
            const struct scan_line *l = &sc.l[o->line0 + i];
            lines[i] =
                (struct tl_line){.item_id = sc.arena.data + l->item + 1, .quantity = l->quantity, .price = l->price};
        }
        int st = cb(ctx, o->shop, &to);
        if (st) rc = (enum tl_rc)st;
    }
    tl_free(ord);
    tl_free(lines);
    order_scan_free(&sc);
    return rc;
}

/* ---- identities ---- */

static enum tl_rc sq_identity_link(struct tl_store *s, uint32_t shop_id, const char *anon, const char *user,
                                   int64_t ts_ms)
{
    sqlite3_stmt *q = prep(s, S_IDENT_LINK);
    if (!q) return TL_ESTORE;
    sqlite3_bind_int64(q, 1, shop_id);
    bind_text(q, 2, anon);
    bind_text(q, 3, user);
    sqlite3_bind_int64(q, 4, ts_ms);
    return run(q);
}

static enum tl_rc sq_identity_scan(struct tl_store *s, tl_identity_cb cb, void *ctx)
{
    sqlite3_stmt *q = prep(s, S_IDENT_SCAN);
    if (!q) return TL_ESTORE;
    int r, stop = 0;
    while ((r = sqlite3_step(q)) == SQLITE_ROW)
        if ((stop = cb(ctx, (uint32_t)sqlite3_column_int64(q, 0), col_text(q, 1), col_text(q, 2)))) break;
    return finish_scan(q, r, stop);
}

/* ---- profiles ---- */

static enum tl_rc sq_profile_put(struct tl_store *s, uint32_t shop_id, const char *key, const void *blob, size_t len)
{
    sqlite3_stmt *q = prep(s, S_PROF_PUT);
    if (!q) return TL_ESTORE;
    sqlite3_bind_int64(q, 1, shop_id);
    bind_text(q, 2, key);
    sqlite3_bind_blob64(q, 3, blob, len, SQLITE_STATIC);
    return run(q);
}

static enum tl_rc sq_profile_put_many(struct tl_store *s, const struct tl_profile_row *rows, size_t n)
{
    size_t i = 0;
    if (n >= PROF_ROWS_PER_PUT) {
        sqlite3_stmt *q = prep(s, S_PROF_PUT_MANY);
        if (!q) return TL_ESTORE;
        for (; i + PROF_ROWS_PER_PUT <= n; i += PROF_ROWS_PER_PUT) {
            for (int k = 0; k < PROF_ROWS_PER_PUT; k++) {
                const struct tl_profile_row *r = &rows[i + (size_t)k];
                sqlite3_bind_int64(q, 3 * k + 1, r->shop_id);
                bind_text(q, 3 * k + 2, r->user_key);
                sqlite3_bind_blob64(q, 3 * k + 3, r->blob, r->len, SQLITE_STATIC);
            }
            enum tl_rc rc = run(q);
            if (rc) return rc;
        }
    }
    for (; i < n; i++) {
        enum tl_rc rc = sq_profile_put(s, rows[i].shop_id, rows[i].user_key, rows[i].blob, rows[i].len);
        if (rc) return rc;
    }
    return TL_OK;
}

static enum tl_rc sq_profile_get(struct tl_store *s, uint32_t shop_id, const char *key, void **blob, size_t *len)
{
    sqlite3_stmt *q = prep(s, S_PROF_GET);
    if (!q) return TL_ESTORE;
    sqlite3_bind_int64(q, 1, shop_id);
    bind_text(q, 2, key);
    int r = sqlite3_step(q);
    enum tl_rc rc = r == SQLITE_ROW ? TL_OK : r == SQLITE_DONE ? TL_ENOTFOUND : TL_ESTORE;
    if (rc == TL_OK) {
        size_t n = (size_t)sqlite3_column_bytes(q, 0);
        void *p = tl_malloc(n ? n : 1);
        if (p) {
            if (n) memcpy(p, sqlite3_column_blob(q, 0), n);
            *blob = p;
            *len = n;
        } else {
            rc = TL_ENOMEM;
        }
    }
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    return rc;
}

static enum tl_rc sq_profile_scan(struct tl_store *s, tl_profile_cb cb, void *ctx)
{
    sqlite3_stmt *q = prep(s, S_PROF_SCAN);
    if (!q) return TL_ESTORE;
    int r, stop = 0;
    while ((r = sqlite3_step(q)) == SQLITE_ROW)
        if ((stop = cb(ctx, (uint32_t)sqlite3_column_int64(q, 0), col_text(q, 1), sqlite3_column_blob(q, 2),
                       (size_t)sqlite3_column_bytes(q, 2))))
            break;
    return finish_scan(q, r, stop);
}

static enum tl_rc sq_profile_delete(struct tl_store *s, uint32_t shop_id, const char *key)
{
    sqlite3_stmt *q = prep(s, S_PROF_DEL);
    if (!q) return TL_ESTORE;
    sqlite3_bind_int64(q, 1, shop_id);
    bind_text(q, 2, key);
    return run(q);
}

/* ---- meta and stats ---- */

static enum tl_rc sq_meta_get(struct tl_store *s, const char *key, int64_t *val)
{
    sqlite3_stmt *q = prep(s, S_META_GET);
    if (!q) return TL_ESTORE;
    bind_text(q, 1, key);
    int r = sqlite3_step(q);
    if (r == SQLITE_ROW) *val = sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    return r == SQLITE_ROW ? TL_OK : r == SQLITE_DONE ? TL_ENOTFOUND : TL_ESTORE;
}

static enum tl_rc sq_meta_set(struct tl_store *s, const char *key, int64_t val)
{
    sqlite3_stmt *q = prep(s, S_META_SET);
    if (!q) return TL_ESTORE;
    bind_text(q, 1, key);
    sqlite3_bind_int64(q, 2, val);
    return run(q);
}

/* ---- experiments ---- */

static enum tl_rc sq_experiment_put(struct tl_store *s, uint32_t shop_id, const char *id, const char *definition)
{
    sqlite3_stmt *q = prep(s, S_EXP_PUT);
    if (!q) return TL_ESTORE;
    sqlite3_bind_int64(q, 1, shop_id);
    bind_text(q, 2, id);
    bind_text(q, 3, definition);
    sqlite3_bind_int64(q, 4, tl_now_ms());
    return run(q);
}

static enum tl_rc sq_experiment_delete(struct tl_store *s, uint32_t shop_id, const char *id)
{
    return delete_by_id(s, S_EXP_DEL, shop_id, id);
}

static enum tl_rc sq_experiment_scan(struct tl_store *s, tl_experiment_cb cb, void *ctx)
{
    sqlite3_stmt *q = prep(s, S_EXP_SCAN);
    if (!q) return TL_ESTORE;
    int r, stop = 0;
    while ((r = sqlite3_step(q)) == SQLITE_ROW)
        if ((stop = cb(ctx, (uint32_t)sqlite3_column_int64(q, 0), col_text(q, 1), col_text(q, 2)))) break;
    return finish_scan(q, r, stop);
}

static enum tl_rc count1(struct tl_store *s, enum stmt_id id, uint32_t shop_id, int64_t *out)
{
    sqlite3_stmt *q = prep(s, id);
    if (!q) return TL_ESTORE;
    sqlite3_bind_int64(q, 1, shop_id);
    int r = sqlite3_step(q);
    if (r == SQLITE_ROW) *out = sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    return r == SQLITE_ROW ? TL_OK : TL_ESTORE;
}

static enum tl_rc sq_stats(struct tl_store *s, uint32_t shop_id, struct tl_store_stats *out)
{
    memset(out, 0, sizeof *out);
    enum tl_rc rc = flush_events(s);
    if (rc) return rc;
    if ((rc = count1(s, S_COUNT_ITEMS, shop_id, &out->items))) return rc;
    if ((rc = count1(s, S_COUNT_CUST, shop_id, &out->customers))) return rc;
    sqlite3_stmt *q = prep(s, S_COUNT_ORDERS);
    if (!q) return TL_ESTORE;
    sqlite3_bind_int64(q, 1, shop_id);
    int r;
    while ((r = sqlite3_step(q)) == SQLITE_ROW) {
        if (sqlite3_column_int(q, 0))
            out->returns = sqlite3_column_int64(q, 1);
        else
            out->orders = sqlite3_column_int64(q, 1);
    }
    if ((rc = finish_scan(q, r, 0))) return rc;
    q = prep(s, S_COUNT_EVENTS);
    if (!q) return TL_ESTORE;
    sqlite3_bind_int64(q, 1, shop_id);
    while ((r = sqlite3_step(q)) == SQLITE_ROW) {
        int t = sqlite3_column_int(q, 0);
        int64_t n = sqlite3_column_int64(q, 1);
        if (t > 0 && t < TL_EV_MAX_) out->events_by_type[t] = n;
        out->events_total += n;
    }
    return finish_scan(q, r, 0);
}

const struct tl_store_ops tl_store_sqlite = {
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .defer_log_copy = sq_defer_log_copy,
    .log_copy = sq_log_copy,
    .skip_sync = sq_skip_sync,
    .solo = sq_solo,
    .write_ahead = sq_write_ahead,
    .shop_create = sq_shop_create,
    .shop_find = sq_shop_find,
    .shop_scan = sq_shop_scan,
    .key_add = sq_key_add,
    .key_find = sq_key_find,
    .item_upsert = sq_item_upsert,
    .item_delete = sq_item_delete,
    .item_scan = sq_item_scan,
    .customer_upsert = sq_customer_upsert,
    .customer_scan = sq_customer_scan,
    .event_append = sq_event_append,
    .event_append_block = sq_event_append_block,
    .event_scan = sq_event_scan,
    .event_eid_scan = sq_event_eid_scan,
    .order_upsert = sq_order_upsert,
    .order_upsert_many = sq_order_upsert_many,
    .order_scan = sq_order_scan,
    .profile_put = sq_profile_put,
    .profile_put_many = sq_profile_put_many,
    .profile_get = sq_profile_get,
    .profile_scan = sq_profile_scan,
    .profile_delete = sq_profile_delete,
    .identity_link = sq_identity_link,
    .identity_scan = sq_identity_scan,
    .meta_get = sq_meta_get,
    .meta_set = sq_meta_set,
    .experiment_put = sq_experiment_put,
    .experiment_delete = sq_experiment_delete,
    .experiment_scan = sq_experiment_scan,
    .stats = sq_stats,
};
