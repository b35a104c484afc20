/* Tests for src/store/sqlite.c through the tl_store_sqlite ops table, each
 * against a fresh database file in its own mkdtemp() directory (removed
 * afterwards): open/migrate/reopen, refusal of a newer schema, shops, keys,
 * items (upsert keeps created_ms, delete, per-shop and all-shop scans),
 * customer merge rules, events (seq, after_seq, eid hashes), orders (lines
 * replaced, grouping, time order), identities, profiles, meta, stats and
 * transactions. */
#include <criterion/criterion.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/alloc.h"
#include "store/store.h"
#include "sync_count.h"

static const struct tl_store_ops *ops = &tl_store_sqlite;
static char dir[64];
static char path[128];
static struct tl_store *st;

static void open_store(void)
{
    struct tl_err err;
    tl_err_clear(&err);
    enum tl_rc rc = ops->open(path, TL_SYNC_OS, &st, &err);
    cr_assert_eq(rc, TL_OK, "open %s: %s", path, err.msg);
    cr_assert_not_null(st);
}

static void reopen_store(void)
{
    ops->close(st);
    st = NULL;
    open_store();
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/tl_sqlite_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/t.db", dir);
    st = NULL;
    open_store();
}

static void teardown(void)
{
    ops->close(st);
    st = NULL;
    const char *suffix[] = {"", "-wal", "-shm", "-journal"};
    char p[160];
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s%s", path, suffix[i]);
        unlink(p);
    }
    rmdir(dir);
}

TestSuite(store_sqlite, .init = setup, .fini = teardown);

/* ---- collectors ---- */

struct shop_acc {
    int n;
    uint32_t ids[8];
    char names[8][32];
};

static int shop_cb(void *ctx, const struct tl_shop *s)
{
    struct shop_acc *a = ctx;
    if (a->n < 8) {
        a->ids[a->n] = s->id;
        snprintf(a->names[a->n], sizeof a->names[0], "%s", s->name);
    }
    a->n++;
    return 0;
}

struct item_rec {
    uint32_t shop;
    char id[32], title[64];
    double price;
    int available, visible;
    int64_t stock, created, updated;
    int title_null;
};

struct item_acc {
    int n;
    struct item_rec r[64];
};

static int item_cb(void *ctx, uint32_t shop_id, const struct tl_item *it)
{
    struct item_acc *a = ctx;
    cr_assert_lt(a->n, 64);
    struct item_rec *r = &a->r[a->n++];
    r->shop = shop_id;
    snprintf(r->id, sizeof r->id, "%s", it->id);
    r->title_null = it->title == NULL;
    snprintf(r->title, sizeof r->title, "%s", it->title ? it->title : "");
    r->price = it->price;
    r->available = it->available;
    r->visible = it->visible;
    r->stock = it->stock;
    r->created = it->created_ms;
    r->updated = it->updated_ms;
    return 0;
}

static const struct item_rec *find_item(const struct item_acc *a, uint32_t shop, const char *id)
{
    for (int i = 0; i < a->n; i++)
        if (a->r[i].shop == shop && strcmp(a->r[i].id, id) == 0) return &a->r[i];
    return NULL;
}

static struct tl_item mk_item(const char *id, const char *title, double price, int64_t created, int64_t updated)
{
    struct tl_item it = {
        .id = id,
        .title = title,
        .price = price,
        .currency = "GBP",
        .category = "Home > Mugs",
        .tags_json = "[\"gift\"]",
        .available = 1,
        .stock = -1,
        .attrs_json = "{\"colour\":\"red\"}",
        .visible = 1,
        .created_ms = created,
        .updated_ms = updated,
    };
    return it;
}

/* ---- open / migrate ---- */

Test(store_sqlite, open_creates_default_shop)
{
    uint32_t id = 0;
    cr_assert_eq(ops->shop_find(st, "default", &id), TL_OK);
    cr_assert_eq(id, TL_DEFAULT_SHOP);
    struct shop_acc a = {0};
    cr_assert_eq(ops->shop_scan(st, shop_cb, &a), TL_OK);
    cr_assert_eq(a.n, 1);
    cr_assert_str_eq(a.names[0], "default");
    cr_assert_str_eq(ops->name, "sqlite");
    /* The schema version is recorded. */
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *q;
    cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
    cr_assert_geq(sqlite3_column_int(q, 0), 1);
    sqlite3_finalize(q);
    sqlite3_close(db);
}

Test(store_sqlite, reopen_keeps_data_and_does_not_remigrate)
{
    uint32_t shop;
    cr_assert_eq(ops->shop_create(st, "second", &shop), TL_OK);
    struct tl_item it = mk_item("sku1", "Mug", 9.5, 1000, 1000);
    cr_assert_eq(ops->item_upsert(st, shop, &it), TL_OK);
    cr_assert_eq(ops->meta_set(st, "k", 77), TL_OK);
    reopen_store();
    struct shop_acc a = {0};
    cr_assert_eq(ops->shop_scan(st, shop_cb, &a), TL_OK);
    cr_assert_eq(a.n, 2, "reopening must not add a second default shop");
    struct item_acc items = {0};
    cr_assert_eq(ops->item_scan(st, shop, item_cb, &items), TL_OK);
    cr_assert_eq(items.n, 1);
    cr_assert_str_eq(items.r[0].title, "Mug");
    int64_t v;
    cr_assert_eq(ops->meta_get(st, "k", &v), TL_OK);
    cr_assert_eq(v, 77);
    /* Full sync mode opens too. */
    ops->close(st);
    struct tl_err err;
    tl_err_clear(&err);
    cr_assert_eq(ops->open(path, TL_SYNC_FULL, &st, &err), TL_OK, "%s", err.msg);
}

Test(store_sqlite, newer_schema_is_refused_with_clear_message)
{
    ops->close(st);
    st = NULL;
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, "PRAGMA user_version = 999", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    struct tl_err err;
    tl_err_clear(&err);
    struct tl_store *s2 = (struct tl_store *)0x1;
    enum tl_rc rc = ops->open(path, TL_SYNC_OS, &s2, &err);
    cr_assert_neq(rc, TL_OK);
    cr_assert_eq(err.rc, rc);
    cr_assert_eq(s2, (struct tl_store *)0x1, "no handle on failure");
    cr_assert_not_null(strstr(err.msg, "999"), "message should name the version: %s", err.msg);
    cr_assert_not_null(strstr(err.msg, "newer"), "message should say it is newer: %s", err.msg);
}

Test(store_sqlite, unopenable_path_fails_cleanly)
{
    char bad[192];
    snprintf(bad, sizeof bad, "%s/no/such/dir/x.db", dir);
    struct tl_err err;
    tl_err_clear(&err);
    struct tl_store *s2 = NULL;
    cr_assert_eq(ops->open(bad, TL_SYNC_OS, &s2, &err), TL_ESTORE);
    cr_assert_null(s2);
    cr_assert_not_null(strstr(err.msg, bad), "message should name the file: %s", err.msg);
    ops->close(NULL); /* close(NULL) is allowed */
}

Test(store_sqlite, not_a_database_fails_cleanly)
{
    char junk[160];
    snprintf(junk, sizeof junk, "%s/junk.db", dir);
    FILE *f = fopen(junk, "w");
    cr_assert_not_null(f);
    for (int i = 0; i < 200; i++) fputs("this is not an sqlite database file\n", f);
    fclose(f);
    struct tl_err err;
    tl_err_clear(&err);
    struct tl_store *s2 = NULL;
    cr_assert_eq(ops->open(junk, TL_SYNC_OS, &s2, &err), TL_ESTORE);
    cr_assert_null(s2);
    cr_assert_str_neq(err.msg, "");
    unlink(junk);
}

/* ---- shops and keys ---- */

Test(store_sqlite, shops_create_find_duplicate)
{
    uint32_t a, b, found;
    cr_assert_eq(ops->shop_create(st, "alpha", &a), TL_OK);
    cr_assert_eq(ops->shop_create(st, "beta", &b), TL_OK);
    cr_assert_neq(a, b);
    cr_assert_neq(a, TL_DEFAULT_SHOP);
    cr_assert_eq(ops->shop_find(st, "beta", &found), TL_OK);
    cr_assert_eq(found, b);
    uint32_t dup = 12345;
    cr_assert_eq(ops->shop_create(st, "alpha", &dup), TL_EEXIST);
    cr_assert_eq(ops->shop_create(st, "default", &dup), TL_EEXIST);
    cr_assert_eq(ops->shop_find(st, "gamma", &found), TL_ENOTFOUND);
    cr_assert_eq(ops->shop_find(st, "Alpha", &found), TL_ENOTFOUND, "names are case-sensitive");
    struct shop_acc acc = {0};
    cr_assert_eq(ops->shop_scan(st, shop_cb, &acc), TL_OK);
    cr_assert_eq(acc.n, 3);
    cr_assert(acc.ids[0] < acc.ids[1] && acc.ids[1] < acc.ids[2], "scan is ordered by id");
    /* The statement is reusable after a constraint failure. */
    uint32_t c;
    cr_assert_eq(ops->shop_create(st, "gamma", &c), TL_OK);
}

Test(store_sqlite, keys_add_find)
{
    uint8_t h1[32], h2[32], h3[32];
    memset(h1, 1, 32);
    memset(h2, 2, 32);
    memset(h3, 3, 32);
    uint32_t shop;
    cr_assert_eq(ops->shop_create(st, "s2", &shop), TL_OK);
    cr_assert_eq(ops->key_add(st, TL_DEFAULT_SHOP, TL_SCOPE_PUBLIC, h1, "tl_pub_ab"), TL_OK);
    cr_assert_eq(ops->key_add(st, shop, TL_SCOPE_SECRET, h2, "tl_sec_cd"), TL_OK);
    cr_assert_eq(ops->key_add(st, shop, TL_SCOPE_PUBLIC, h1, "again"), TL_EEXIST, "same hash twice");
    uint32_t s = 0;
    enum tl_scope sc = 0;
    cr_assert_eq(ops->key_find(st, h1, &s, &sc), TL_OK);
    cr_assert_eq(s, TL_DEFAULT_SHOP);
    cr_assert_eq(sc, TL_SCOPE_PUBLIC);
    cr_assert_eq(ops->key_find(st, h2, &s, &sc), TL_OK);
    cr_assert_eq(s, shop);
    cr_assert_eq(sc, TL_SCOPE_SECRET);
    cr_assert_eq(ops->key_find(st, h3, &s, &sc), TL_ENOTFOUND);
    h1[31] = 9; /* one byte different */
    cr_assert_eq(ops->key_find(st, h1, &s, &sc), TL_ENOTFOUND);
}

/* ---- items ---- */

Test(store_sqlite, item_upsert_update_keeps_created)
{
    struct tl_item it = mk_item("sku1", "Mug", 9.5, 1000, 1000);
    it.description = "A mug";
    it.brand = "Acme";
    cr_assert_eq(ops->item_upsert(st, 1, &it), TL_OK);
    /* Update: the ON CONFLICT clause sets every field except created_ms. */
    struct tl_item up = mk_item("sku1", "Big mug", NAN, 5000, 6000);
    up.available = 0;
    up.stock = 3;
    up.visible = 0;
    cr_assert_eq(ops->item_upsert(st, 1, &up), TL_OK);
    struct item_acc a = {0};
    cr_assert_eq(ops->item_scan(st, 1, item_cb, &a), TL_OK);
    cr_assert_eq(a.n, 1);
    cr_assert_str_eq(a.r[0].title, "Big mug");
    cr_assert(isnan(a.r[0].price), "NaN price is stored as NULL and read back as NaN");
    cr_assert_eq(a.r[0].available, 0);
    cr_assert_eq(a.r[0].visible, 0);
    cr_assert_eq(a.r[0].stock, 3);
    cr_assert_eq(a.r[0].created, 1000, "created_ms is kept on update");
    cr_assert_eq(a.r[0].updated, 6000);
}

static int item_full_cb(void *ctx, uint32_t shop_id, const struct tl_item *it)
{
    int *seen = ctx;
    (*seen)++;
    cr_assert_str_eq(it->id, "full");
    cr_assert_str_eq(it->title, "T \xc3\xa9");
    cr_assert_str_eq(it->description, "D");
    cr_assert_str_eq(it->url, "https://shop.example/p/1");
    cr_assert_str_eq(it->image_url, "https://shop.example/i/1.jpg");
    cr_assert_float_eq(it->price, 12.25, 1e-12);
    cr_assert_str_eq(it->currency, "EUR");
    cr_assert_str_eq(it->category, "A > B");
    cr_assert_str_eq(it->brand, "Br");
    cr_assert_str_eq(it->tags_json, "[\"x\"]");
    cr_assert_str_eq(it->attrs_json, "{}");
    cr_assert_eq(it->stock, 0);
    cr_assert_eq(it->available, 1);
    cr_assert_eq(it->visible, 1);
    return 0;
}

static int item_nulls_cb(void *ctx, uint32_t shop_id, const struct tl_item *it)
{
    int *seen = ctx;
    (*seen)++;
    cr_assert_null(it->title);
    cr_assert_null(it->description);
    cr_assert_null(it->url);
    cr_assert_null(it->brand);
    cr_assert_null(it->tags_json);
    cr_assert_null(it->attrs_json);
    return 0;
}

Test(store_sqlite, item_fields_round_trip)
{
    struct tl_item it = {
        .id = "full",
        .title = "T \xc3\xa9",
        .description = "D",
        .url = "https://shop.example/p/1",
        .image_url = "https://shop.example/i/1.jpg",
        .price = 12.25,
        .currency = "EUR",
        .category = "A > B",
        .brand = "Br",
        .tags_json = "[\"x\"]",
        .available = 1,
        .stock = 0,
        .attrs_json = "{}",
        .visible = 1,
        .created_ms = 1,
        .updated_ms = 2,
    };
    cr_assert_eq(ops->item_upsert(st, 1, &it), TL_OK);
    int seen = 0;
    cr_assert_eq(ops->item_scan(st, 1, item_full_cb, &seen), TL_OK);
    cr_assert_eq(seen, 1);
    struct tl_item bare = {.id = "full", .price = NAN, .stock = -1, .available = 1, .visible = 1};
    cr_assert_eq(ops->item_upsert(st, 1, &bare), TL_OK);
    seen = 0;
    cr_assert_eq(ops->item_scan(st, 1, item_nulls_cb, &seen), TL_OK);
    cr_assert_eq(seen, 1, "NULL fields of an upsert replace the old values (full replace)");
}

Test(store_sqlite, item_delete_and_absent)
{
    struct tl_item it = mk_item("sku1", "Mug", 9.5, 1, 1);
    cr_assert_eq(ops->item_upsert(st, 1, &it), TL_OK);
    cr_assert_eq(ops->item_delete(st, 2, "sku1"), TL_ENOTFOUND, "other shop");
    cr_assert_eq(ops->item_delete(st, 1, "nope"), TL_ENOTFOUND);
    cr_assert_eq(ops->item_delete(st, 1, "sku1"), TL_OK);
    cr_assert_eq(ops->item_delete(st, 1, "sku1"), TL_ENOTFOUND, "already deleted");
    struct item_acc a = {0};
    cr_assert_eq(ops->item_scan(st, 0, item_cb, &a), TL_OK);
    cr_assert_eq(a.n, 0);
}

Test(store_sqlite, item_scan_shop_isolation)
{
    uint32_t s2;
    cr_assert_eq(ops->shop_create(st, "two", &s2), TL_OK);
    struct tl_item a1 = mk_item("same", "in default", 1, 1, 1);
    struct tl_item b1 = mk_item("same", "in two", 2, 1, 1);
    struct tl_item b2 = mk_item("only2", "two only", 3, 1, 1);
    cr_assert_eq(ops->item_upsert(st, 1, &a1), TL_OK);
    cr_assert_eq(ops->item_upsert(st, s2, &b1), TL_OK);
    cr_assert_eq(ops->item_upsert(st, s2, &b2), TL_OK);
    struct item_acc a = {0};
    cr_assert_eq(ops->item_scan(st, 1, item_cb, &a), TL_OK);
    cr_assert_eq(a.n, 1);
    cr_assert_str_eq(a.r[0].title, "in default");
    cr_assert_eq(a.r[0].shop, 1);
    memset(&a, 0, sizeof a);
    cr_assert_eq(ops->item_scan(st, s2, item_cb, &a), TL_OK);
    cr_assert_eq(a.n, 2);
    cr_assert_str_eq(find_item(&a, s2, "same")->title, "in two");
    memset(&a, 0, sizeof a);
    cr_assert_eq(ops->item_scan(st, 0, item_cb, &a), TL_OK);
    cr_assert_eq(a.n, 3);
    cr_assert_not_null(find_item(&a, 1, "same"));
    cr_assert_not_null(find_item(&a, s2, "same"));
    cr_assert_not_null(find_item(&a, s2, "only2"));
    /* Deleting in one shop leaves the other's item of the same id. */
    cr_assert_eq(ops->item_delete(st, s2, "same"), TL_OK);
    memset(&a, 0, sizeof a);
    cr_assert_eq(ops->item_scan(st, 1, item_cb, &a), TL_OK);
    cr_assert_eq(a.n, 1);
    memset(&a, 0, sizeof a);
    cr_assert_eq(ops->item_scan(st, 99, item_cb, &a), TL_OK);
    cr_assert_eq(a.n, 0, "unknown shop scans empty");
}

static int stop_after_two(void *ctx, uint32_t shop_id, const struct tl_item *it)
{
    int *n = ctx;
    return ++*n == 2 ? 42 : 0;
}

Test(store_sqlite, scan_stops_on_callback_value)
{
    char id[16];
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof id, "i%d", i);
        struct tl_item it = mk_item(id, "t", 1, 1, 1);
        cr_assert_eq(ops->item_upsert(st, 1, &it), TL_OK);
    }
    int n = 0;
    cr_assert_eq((int)ops->item_scan(st, 1, stop_after_two, &n), 42);
    cr_assert_eq(n, 2);
    /* The statement was reset: a new scan starts from the beginning. */
    struct item_acc a = {0};
    cr_assert_eq(ops->item_scan(st, 1, item_cb, &a), TL_OK);
    cr_assert_eq(a.n, 5);
}

/* ---- customers ---- */

struct cust_rec {
    char email[64], name[64], country[8], tier[16];
    int email_null, consent_email, consent_pers;
    int64_t created, updated;
    int n;
};

static int cust_cb(void *ctx, uint32_t shop_id, const struct tl_customer *c)
{
    struct cust_rec *r = ctx;
    r->n++;
    r->email_null = c->email == NULL;
    snprintf(r->email, sizeof r->email, "%s", c->email ? c->email : "");
    snprintf(r->name, sizeof r->name, "%s", c->name ? c->name : "");
    snprintf(r->country, sizeof r->country, "%s", c->country ? c->country : "");
    snprintf(r->tier, sizeof r->tier, "%s", c->member_tier ? c->member_tier : "");
    r->consent_email = c->consent_email;
    r->consent_pers = c->consent_personalization;
    r->created = c->created_ms;
    r->updated = c->updated_ms;
    return 0;
}

Test(store_sqlite, customer_upsert_merges)
{
    struct tl_customer c = {.id = "c1",
                            .email = "a@x.test",
                            .name = "Ann",
                            .country = "GB",
                            .consent_email = 1,
                            .consent_personalization = 0,
                            .member_tier = "gold",
                            .created_ms = 100,
                            .updated_ms = 100};
    cr_assert_eq(ops->customer_upsert(st, 1, &c), TL_OK);
    /* NULL fields and consent -1 keep old values; set fields overwrite. */
    struct tl_customer u = {.id = "c1",
                            .email = NULL,
                            .name = "Annie",
                            .country = NULL,
                            .consent_email = -1,
                            .consent_personalization = 1,
                            .member_tier = NULL,
                            .created_ms = 900,
                            .updated_ms = 900};
    cr_assert_eq(ops->customer_upsert(st, 1, &u), TL_OK);
    struct cust_rec r = {0};
    cr_assert_eq(ops->customer_scan(st, 1, cust_cb, &r), TL_OK);
    cr_assert_eq(r.n, 1);
    cr_assert_str_eq(r.email, "a@x.test");
    cr_assert_str_eq(r.name, "Annie");
    cr_assert_str_eq(r.country, "GB");
    cr_assert_str_eq(r.tier, "gold");
    cr_assert_eq(r.consent_email, 1);
    cr_assert_eq(r.consent_pers, 1);
    cr_assert_eq(r.created, 100, "created_ms kept");
    cr_assert_eq(r.updated, 900);
    /* Consent can be withdrawn (0 overwrites 1). */
    struct tl_customer w = {.id = "c1", .consent_email = 0, .consent_personalization = -1, .updated_ms = 950};
    cr_assert_eq(ops->customer_upsert(st, 1, &w), TL_OK);
    memset(&r, 0, sizeof r);
    cr_assert_eq(ops->customer_scan(st, 1, cust_cb, &r), TL_OK);
    cr_assert_eq(r.consent_email, 0);
    cr_assert_eq(r.consent_pers, 1);
    /* A new customer with unknown consent stores -1 and NULL email. */
    struct tl_customer n2 = {.id = "c2", .consent_email = -1, .consent_personalization = -1};
    uint32_t s2;
    cr_assert_eq(ops->shop_create(st, "s2", &s2), TL_OK);
    cr_assert_eq(ops->customer_upsert(st, s2, &n2), TL_OK);
    memset(&r, 0, sizeof r);
    cr_assert_eq(ops->customer_scan(st, s2, cust_cb, &r), TL_OK);
    cr_assert_eq(r.n, 1, "shop isolation");
    cr_assert(r.email_null);
    cr_assert_eq(r.consent_email, -1);
    memset(&r, 0, sizeof r);
    cr_assert_eq(ops->customer_scan(st, 0, cust_cb, &r), TL_OK);
    cr_assert_eq(r.n, 2);
}

/* ---- events ---- */

struct ev_acc {
    int n;
    int64_t seq[64];
    uint32_t shop[64];
    int type[64];
    char user[64][16], body[64][32];
    int country_null[64];
};

static int ev_cb(void *ctx, const struct tl_event *ev)
{
    struct ev_acc *a = ctx;
    cr_assert_lt(a->n, 64);
    int i = a->n++;
    a->seq[i] = ev->seq;
    a->shop[i] = ev->shop_id;
    a->type[i] = ev->type;
    snprintf(a->user[i], sizeof a->user[i], "%s", ev->user_id ? ev->user_id : "");
    snprintf(a->body[i], sizeof a->body[i], "%s", ev->body ? ev->body : "");
    a->country_null[i] = ev->country == NULL;
    cr_assert(isnan(ev->price) && isnan(ev->quantity), "fields not stored are NaN");
    cr_assert_null(ev->event_id);
    return 0;
}

struct eid_acc {
    int n;
    uint64_t h[16];
};

static int eid_cb(void *ctx, uint64_t h)
{
    struct eid_acc *a = ctx;
    if (a->n < 16) a->h[a->n] = h;
    a->n++;
    return 0;
}

Test(store_sqlite, events_append_scan_eid)
{
    int64_t last = 0;
    const uint64_t hashes[] = {0, 0x8000000000000001ULL, 7, 0, UINT64_MAX};
    for (int i = 0; i < 5; i++) {
        char body[32];
        snprintf(body, sizeof body, "{\"n\":%d}", i);
        struct tl_event ev = {.shop_id = i == 2 ? 2 : 1,
                              .type = TL_EV_PRODUCT_VIEW,
                              .ts_ms = 1000 + i,
                              .user_id = i % 2 ? "u1" : NULL,
                              .anonymous_id = "a1",
                              .item_id = "sku",
                              .country = i == 0 ? "GB" : NULL,
                              .body = body};
        cr_assert_eq(ops->event_append(st, &ev, hashes[i]), TL_OK);
        cr_assert_gt(ev.seq, last, "seq increases");
        last = ev.seq;
    }
    struct ev_acc a = {0};
    cr_assert_eq(ops->event_scan(st, 0, TL_SCAN_BODIES_ALL, ev_cb, &a), TL_OK);
    cr_assert_eq(a.n, 5, "scan covers every shop");
    for (int i = 1; i < 5; i++) cr_assert_gt(a.seq[i], a.seq[i - 1], "seq order");
    cr_assert_eq(a.shop[2], 2);
    cr_assert_str_eq(a.user[1], "u1");
    cr_assert_str_eq(a.body[3], "{\"n\":3}");
    cr_assert_eq(a.country_null[0], 0);
    cr_assert_eq(a.country_null[1], 1);
    cr_assert_eq(a.type[0], TL_EV_PRODUCT_VIEW);

    struct ev_acc b = {0};
    cr_assert_eq(ops->event_scan(st, a.seq[2], TL_SCAN_BODIES_ALL, ev_cb, &b), TL_OK);
    cr_assert_eq(b.n, 2, "after_seq is exclusive");
    cr_assert_eq(b.seq[0], a.seq[3]);
    memset(&b, 0, sizeof b);
    cr_assert_eq(ops->event_scan(st, last, TL_SCAN_BODIES_ALL, ev_cb, &b), TL_OK);
    cr_assert_eq(b.n, 0);

    struct eid_acc e = {0};
    cr_assert_eq(ops->event_eid_scan(st, eid_cb, &e), TL_OK);
    cr_assert_eq(e.n, 3, "hash 0 means no key and is not listed");
    int found_high = 0, found_max = 0, found_7 = 0;
    for (int i = 0; i < e.n; i++) {
        found_high |= e.h[i] == 0x8000000000000001ULL;
        found_max |= e.h[i] == UINT64_MAX;
        found_7 |= e.h[i] == 7;
    }
    cr_assert(found_high && found_max && found_7, "64-bit hashes survive the signed column");

    reopen_store();
    struct tl_event ev = {.shop_id = 1, .type = TL_EV_SEARCH, .ts_ms = 1, .anonymous_id = "a", .body = NULL};
    cr_assert_eq(ops->event_append(st, &ev, 0), TL_OK, "NULL body stored as {}");
    cr_assert_gt(ev.seq, last, "seq keeps increasing after reopen");
    memset(&b, 0, sizeof b);
    cr_assert_eq(ops->event_scan(st, last, TL_SCAN_BODIES_ALL, ev_cb, &b), TL_OK);
    cr_assert_eq(b.n, 1);
    cr_assert_str_eq(b.body[0], "{}");
}

/* ---- orders ---- */

struct ord_rec {
    uint32_t shop;
    char id[16], cust[16], items[8][16];
    int64_t ts;
    int is_return;
    size_t n_lines;
    double qty[8], price[8];
};

struct ord_acc {
    int n;
    struct ord_rec r[16];
};

static int ord_cb(void *ctx, uint32_t shop_id, const struct tl_order *o)
{
    struct ord_acc *a = ctx;
    cr_assert_lt(a->n, 16);
    struct ord_rec *r = &a->r[a->n++];
    r->shop = shop_id;
    snprintf(r->id, sizeof r->id, "%s", o->id);
    snprintf(r->cust, sizeof r->cust, "%s", o->customer_id ? o->customer_id : "(null)");
    r->ts = o->ts_ms;
    r->is_return = o->is_return;
    r->n_lines = o->n_lines;
    for (size_t i = 0; i < o->n_lines && i < 8; i++) {
        snprintf(r->items[i], sizeof r->items[i], "%s", o->lines[i].item_id);
        r->qty[i] = o->lines[i].quantity;
        r->price[i] = o->lines[i].price;
    }
    return 0;
}

Test(store_sqlite, orders_upsert_replaces_lines_and_scan_groups)
{
    struct tl_line l1[] = {{"a", 1, 2.5}, {"b", 2, NAN}, {"c", 3, 1}};
    struct tl_order o1 = {
        .id = "o1", .customer_id = "c1", .ts_ms = 3000, .country = "GB", .currency = "GBP", .lines = l1, .n_lines = 3};
    struct tl_line l2[] = {{"x", 1, 10}};
    struct tl_order o2 = {.id = "o2", .customer_id = NULL, .ts_ms = 1000, .lines = l2, .n_lines = 1};
    struct tl_line l3[] = {{"a", 1, 2.5}};
    struct tl_order r3 = {.id = "C3", .customer_id = "c1", .ts_ms = 2000, .is_return = 1, .lines = l3, .n_lines = 1};
    cr_assert_eq(ops->order_upsert(st, 1, &o1), TL_OK);
    cr_assert_eq(ops->order_upsert(st, 1, &o2), TL_OK);
    cr_assert_eq(ops->order_upsert(st, 1, &r3), TL_OK);
    /* Re-upsert o1 with fewer lines and another customer: the old lines
     * are gone, the fields replaced. */
    struct tl_line l1b[] = {{"z", 5, 4}, {"a", 1, 2.5}};
    o1.lines = l1b;
    o1.n_lines = 2;
    o1.customer_id = "c9";
    cr_assert_eq(ops->order_upsert(st, 1, &o1), TL_OK);

    struct ord_acc a = {0};
    cr_assert_eq(ops->order_scan(st, 1, ord_cb, &a), TL_OK);
    cr_assert_eq(a.n, 3);
    cr_assert_str_eq(a.r[0].id, "o2", "time order");
    cr_assert_str_eq(a.r[1].id, "C3");
    cr_assert_str_eq(a.r[2].id, "o1");
    cr_assert_str_eq(a.r[0].cust, "(null)", "guest order keeps NULL customer");
    cr_assert_eq(a.r[1].is_return, 1);
    cr_assert_eq(a.r[2].n_lines, 2);
    cr_assert_str_eq(a.r[2].cust, "c9");
    cr_assert_str_eq(a.r[2].items[0], "z");
    cr_assert_str_eq(a.r[2].items[1], "a");
    cr_assert_float_eq(a.r[2].qty[0], 5, 1e-12);
    cr_assert_float_eq(a.r[2].price[0], 4, 1e-12);

    /* NaN price round trip via a fresh order. */
    struct tl_order o4 = {.id = "o4", .ts_ms = 4000, .lines = l1, .n_lines = 3};
    cr_assert_eq(ops->order_upsert(st, 1, &o4), TL_OK);
    memset(&a, 0, sizeof a);
    cr_assert_eq(ops->order_scan(st, 1, ord_cb, &a), TL_OK);
    cr_assert_eq(a.n, 4);
    cr_assert_str_eq(a.r[3].id, "o4");
    cr_assert_eq(a.r[3].n_lines, 3);
    cr_assert(isnan(a.r[3].price[1]));
    cr_assert_str_eq(a.r[3].items[2], "c");

    struct tl_store_stats s;
    cr_assert_eq(ops->stats(st, 1, &s), TL_OK);
    cr_assert_eq(s.orders, 3);
    cr_assert_eq(s.returns, 1);
}

/* Every order of a scan as text, appended to a buffer. */
static int ord_text_cb(void *ctx, uint32_t shop_id, const struct tl_order *o)
{
    char *buf = ctx;
    size_t n = strlen(buf);
    n += (size_t)snprintf(buf + n, 1000000 - n, "%u|%s|%s|%lld|%s|%d:", shop_id, o->id,
                          o->customer_id ? o->customer_id : "-", (long long)o->ts_ms, o->country ? o->country : "-",
                          o->is_return);
    for (size_t i = 0; i < o->n_lines; i++)
        n += (size_t)snprintf(buf + n, 1000000 - n, "%s*%g@%g,", o->lines[i].item_id, o->lines[i].quantity,
                              o->lines[i].price);
    snprintf(buf + n, 1000000 - n, "\n");
    return 0;
}

/* The scan reads orders in time order and then each one's lines: an order
 * stored without lines is not delivered (as the former join did not), and
 * the lines come in line order past the first buffer of 16. */
Test(store_sqlite, order_scan_skips_orders_without_lines_and_keeps_line_order)
{
    struct tl_line many[40];
    char ids[40][8];
    for (int i = 0; i < 40; i++) {
        snprintf(ids[i], sizeof ids[i], "i%02d", 39 - i); /* line order is not id order */
        many[i] = (struct tl_line){ids[i], i + 1, i};
    }
    struct tl_order empty = {.id = "empty", .ts_ms = 100, .lines = NULL, .n_lines = 0};
    struct tl_order big = {.id = "big", .ts_ms = 200, .lines = many, .n_lines = 40};
    struct tl_order first = {.id = "zz", .ts_ms = 50, .lines = many, .n_lines = 1};
    cr_assert_eq(ops->order_upsert(st, 1, &empty), TL_OK);
    cr_assert_eq(ops->order_upsert(st, 1, &big), TL_OK);
    cr_assert_eq(ops->order_upsert(st, 1, &first), TL_OK);
    char want[4096] = "1|zz|-|50|-|0:i39*1@0,\n1|big|-|200|-|0:";
    for (int i = 0; i < 40; i++)
        snprintf(want + strlen(want), sizeof want - strlen(want), "%s*%d@%d,", ids[i], i + 1, i);
    strcat(want, "\n");
    char *got = calloc(1, 1000000);
    cr_assert_not_null(got);
    for (uint32_t shop = 0; shop <= 1; shop++) { /* all shops, and shop 1 */
        got[0] = 0;
        cr_assert_eq(ops->order_scan(st, shop, ord_text_cb, got), TL_OK);
        cr_assert_str_eq(got, want, "shop %u", shop);
    }
    free(got);
}

/* The scan joins the two tables itself and sorts the orders by time in
 * memory: it must deliver what the plain SQL did (orders "ORDER BY ts_ms,
 * shop_id, id", then each one's lines "ORDER BY line_no"), read here from
 * the same file through SQLite directly. Three shops, 600 orders with
 * timestamps drawn from a few values (many ties), ids sharing prefixes and
 * with bytes above 0x7f, absent customers and countries, 0-5 lines each,
 * and lines whose order was never stored. */
Test(store_sqlite, order_scan_delivers_what_the_sql_sorted)
{
    uint32_t shops[3] = {1, 0, 0};
    cr_assert_eq(ops->shop_create(st, "b", &shops[1]), TL_OK);
    cr_assert_eq(ops->shop_create(st, "c", &shops[2]), TL_OK);
    static char ids[600][24], items[600][5][16];
    static struct tl_line lines[600][5];
    unsigned r = 777;
    for (int i = 0; i < 600; i++) {
        r = r * 1103515245u + 12345u;
        static const char *pre[] = {"o", "o1", "\xc3\xa9", "O"};
        snprintf(ids[i], sizeof ids[i], "%s%u", pre[(r >> 8) % 4], (r >> 12) % 97);
        int nl = (int)((r >> 20) % 6);
        for (int l = 0; l < nl; l++) {
            snprintf(items[i][l], sizeof items[i][l], "sku%d", (i * 7 + l * 13) % 50);
            lines[i][l] = (struct tl_line){items[i][l], 1 + l, l == 3 ? NAN : 0.25 * l};
        }
        struct tl_order o = {ids[i],
                             r % 3 ? "cust" : NULL,
                             1000 + (int64_t)((r >> 4) % 5),
                             r % 5 ? "GB" : NULL,
                             NULL,
                             (int)(r % 11 == 0),
                             lines[i],
                             (size_t)nl};
        cr_assert_eq(ops->order_upsert(st, shops[(r >> 16) % 3], &o), TL_OK);
    }
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db,
                              "INSERT INTO order_lines(shop_id, order_id, line_no, item_id, quantity) VALUES"
                              " (1, 'never stored', 0, 'x', 1), (2, 'o', 0, 'x', 1), (9, 'o1', 0, 'x', 1)",
                              NULL, NULL, NULL),
                 SQLITE_OK);
    for (uint32_t shop = 0; shop <= shops[2]; shop++) {
        char *want = tl_calloc(1, 1000000), *got = tl_calloc(1, 1000000);
        sqlite3_stmt *q, *ql;
        cr_assert_eq(sqlite3_prepare_v2(db,
                                        "SELECT shop_id, id, customer_id, ts_ms, country, is_return FROM orders"
                                        " WHERE ?1 = 0 OR shop_id = ?1 ORDER BY ts_ms, shop_id, id",
                                        -1, &q, NULL),
                     SQLITE_OK);
        cr_assert_eq(sqlite3_prepare_v2(db,
                                        "SELECT item_id, quantity, price FROM order_lines"
                                        " WHERE shop_id = ?1 AND order_id = ?2 ORDER BY line_no",
                                        -1, &ql, NULL),
                     SQLITE_OK);
        sqlite3_bind_int64(q, 1, shop);
        size_t delivered = 0;
        while (sqlite3_step(q) == SQLITE_ROW) {
            struct tl_line ls[8];
            char its[8][16];
            size_t n = 0;
            sqlite3_bind_int64(ql, 1, sqlite3_column_int64(q, 0));
            sqlite3_bind_text(ql, 2, (const char *)sqlite3_column_text(q, 1), -1, SQLITE_TRANSIENT);
            while (sqlite3_step(ql) == SQLITE_ROW && n < 8) {
                snprintf(its[n], sizeof its[n], "%s", (const char *)sqlite3_column_text(ql, 0));
                double price = sqlite3_column_type(ql, 2) == SQLITE_NULL ? NAN : sqlite3_column_double(ql, 2);
                ls[n] = (struct tl_line){its[n], sqlite3_column_double(ql, 1), price};
                n++;
            }
            sqlite3_reset(ql);
            if (!n) continue; /* an order without lines is not delivered */
            struct tl_order o = {(const char *)sqlite3_column_text(q, 1),
                                 (const char *)sqlite3_column_text(q, 2),
                                 sqlite3_column_int64(q, 3),
                                 (const char *)sqlite3_column_text(q, 4),
                                 NULL,
                                 sqlite3_column_int(q, 5),
                                 ls,
                                 n};
            ord_text_cb(want, (uint32_t)sqlite3_column_int64(q, 0), &o);
            delivered++;
        }
        sqlite3_finalize(q);
        sqlite3_finalize(ql);
        cr_assert_gt(delivered, shop ? 100u : 400u);
        cr_assert_eq(ops->order_scan(st, shop, ord_text_cb, got), TL_OK);
        cr_assert_str_eq(got, want, "shop %u", shop);
        tl_free(want);
        tl_free(got);
    }
    sqlite3_close(db);
}

/* order_upsert_many stores what order_upsert does order by order: 100 calls
 * of 0-80 orders (full statements of 32 and single rows for the rest),
 * every other call of new ids only, the others with ids drawn from a small
 * pool, so that an id comes twice in one call and again in later calls
 * (replaced with its lines); 0-3 lines per order. */
Test(store_sqlite, orders_upsert_many_stores_what_upserting_one_by_one_does)
{
    char path2[160];
    snprintf(path2, sizeof path2, "%s/many.db", dir);
    struct tl_store *st2 = NULL;
    struct tl_err err;
    cr_assert_eq(ops->open(path2, TL_SYNC_OS, &st2, &err), TL_OK, "%s", err.msg);
    cr_assert_not_null(ops->order_upsert_many);
    static char ids[400][16], fresh[80][32], items[8][16];
    for (int i = 0; i < 400; i++) snprintf(ids[i], sizeof ids[i], "o%d", i);
    for (int i = 0; i < 8; i++) snprintf(items[i], sizeof items[i], "sku%d", i);
    static struct tl_line lines[80][3];
    struct tl_order orders[80];
    unsigned r = 12345;
    int repeated = 0;
    for (int call = 0; call < 100; call++) {
        int n = (int)((r = r * 1103515245u + 12345u) >> 16) % 81;
        char seen[400] = {0};
        int all_new = call % 2; /* every other call: new ids only (the statements of many rows) */
        for (int k = 0; k < n; k++) {
            int id = (int)((r = r * 1103515245u + 12345u) >> 16) % 400;
            repeated += !all_new && seen[id]++ > 0;
            snprintf(fresh[k], sizeof fresh[k], "n%d-%d", call, k);
            int nl = (int)((r = r * 1103515245u + 12345u) >> 16) % 4;
            for (int l = 0; l < nl; l++)
                lines[k][l] = (struct tl_line){items[(k + l + call) % 8], 1 + l, l == 2 ? NAN : 0.5 * (k + call)};
            orders[k] = (struct tl_order){all_new ? fresh[k] : ids[id],
                                          k % 3 ? "c1" : NULL,
                                          1000 + call * 100 + k,
                                          k % 2 ? "GB" : NULL,
                                          NULL,
                                          k % 7 == 0,
                                          lines[k],
                                          (size_t)nl};
        }
        for (int k = 0; k < n; k++) cr_assert_eq(ops->order_upsert(st, 1, &orders[k]), TL_OK);
        cr_assert_eq(ops->order_upsert_many(st2, 1, orders, (size_t)n), TL_OK, "call %d", call);
    }
    cr_assert_gt(repeated, 10, "some ids come twice in one call");
    char *a = tl_calloc(1, 1000000), *b = tl_calloc(1, 1000000);
    cr_assert_eq(ops->order_scan(st, 1, ord_text_cb, a), TL_OK);
    cr_assert_eq(ops->order_scan(st2, 1, ord_text_cb, b), TL_OK);
    cr_assert_gt(strlen(a), 1000);
    cr_assert_str_eq(a, b);
    struct tl_store_stats s1, s2;
    cr_assert_eq(ops->stats(st, 1, &s1), TL_OK);
    cr_assert_eq(ops->stats(st2, 1, &s2), TL_OK);
    cr_assert_eq(s1.orders, s2.orders);
    cr_assert_eq(s1.returns, s2.returns);
    tl_free(a);
    tl_free(b);
    ops->close(st2);
}

Test(store_sqlite, orders_scan_all_shops_and_isolation)
{
    uint32_t s2;
    cr_assert_eq(ops->shop_create(st, "s2", &s2), TL_OK);
    struct tl_line la[] = {{"a", 1, 1}};
    struct tl_line lb[] = {{"b", 1, 1}, {"b2", 1, 1}};
    /* Same order id in two shops, same timestamp: must not be merged. */
    struct tl_order oa = {.id = "same", .ts_ms = 500, .lines = la, .n_lines = 1};
    struct tl_order ob = {.id = "same", .ts_ms = 500, .lines = lb, .n_lines = 2};
    struct tl_order oc = {.id = "later", .ts_ms = 900, .lines = la, .n_lines = 1};
    cr_assert_eq(ops->order_upsert(st, 1, &oa), TL_OK);
    cr_assert_eq(ops->order_upsert(st, s2, &ob), TL_OK);
    cr_assert_eq(ops->order_upsert(st, s2, &oc), TL_OK);
    struct ord_acc a = {0};
    cr_assert_eq(ops->order_scan(st, 0, ord_cb, &a), TL_OK);
    cr_assert_eq(a.n, 3);
    cr_assert_eq(a.r[0].shop, 1);
    cr_assert_eq(a.r[0].n_lines, 1);
    cr_assert_eq(a.r[1].shop, s2);
    cr_assert_eq(a.r[1].n_lines, 2);
    cr_assert_str_eq(a.r[2].id, "later");
    memset(&a, 0, sizeof a);
    cr_assert_eq(ops->order_scan(st, 1, ord_cb, &a), TL_OK);
    cr_assert_eq(a.n, 1);
    cr_assert_eq(a.r[0].n_lines, 1);
    memset(&a, 0, sizeof a);
    cr_assert_eq(ops->order_scan(st, 77, ord_cb, &a), TL_OK);
    cr_assert_eq(a.n, 0);
}

static int ord_stop(void *ctx, uint32_t shop_id, const struct tl_order *o)
{
    int *n = ctx;
    ++*n;
    return 9;
}

Test(store_sqlite, order_scan_stop_and_no_leak)
{
    long before = tl_alloc_live();
    struct tl_line l[] = {{"a", 1, 1}, {"b", 1, 1}};
    struct tl_order o1 = {.id = "1", .ts_ms = 1, .lines = l, .n_lines = 2};
    struct tl_order o2 = {.id = "2", .ts_ms = 2, .lines = l, .n_lines = 2};
    cr_assert_eq(ops->order_upsert(st, 1, &o1), TL_OK);
    cr_assert_eq(ops->order_upsert(st, 1, &o2), TL_OK);
    int n = 0;
    cr_assert_eq((int)ops->order_scan(st, 1, ord_stop, &n), 9);
    cr_assert_eq(n, 1);
    cr_assert_eq(tl_alloc_live(), before, "scan buffers freed after a stop");
    n = 0;
    cr_assert_eq((int)ops->order_scan(st, 0, ord_stop, &n), 9);
    cr_assert_eq(n, 1);
    cr_assert_eq(tl_alloc_live(), before);
}

/* ---- identities ---- */

struct ident_acc {
    int n;
    uint32_t shop[8];
    char anon[8][16], user[8][16];
};

static int ident_cb(void *ctx, uint32_t shop_id, const char *anon, const char *user)
{
    struct ident_acc *a = ctx;
    cr_assert_lt(a->n, 8);
    a->shop[a->n] = shop_id;
    snprintf(a->anon[a->n], sizeof a->anon[0], "%s", anon);
    snprintf(a->user[a->n], sizeof a->user[0], "%s", user);
    a->n++;
    return 0;
}

Test(store_sqlite, identity_link_last_wins)
{
    cr_assert_eq(ops->identity_link(st, 1, "anon1", "userA", 10), TL_OK);
    cr_assert_eq(ops->identity_link(st, 1, "anon1", "userB", 20), TL_OK);
    cr_assert_eq(ops->identity_link(st, 2, "anon1", "userC", 30), TL_OK);
    struct ident_acc a = {0};
    cr_assert_eq(ops->identity_scan(st, ident_cb, &a), TL_OK);
    cr_assert_eq(a.n, 2);
    for (int i = 0; i < a.n; i++) {
        cr_assert_str_eq(a.anon[i], "anon1");
        if (a.shop[i] == 1)
            cr_assert_str_eq(a.user[i], "userB", "last link wins");
        else
            cr_assert_str_eq(a.user[i], "userC");
    }
    cr_assert_neq(ops->identity_link(st, 1, "anon2", NULL, 1), TL_OK, "user id is required");
}

/* ---- profiles ---- */

struct prof_acc {
    int n;
    size_t total;
};

static int prof_cb(void *ctx, uint32_t shop_id, const char *key, const void *blob, size_t len)
{
    struct prof_acc *a = ctx;
    a->n++;
    a->total += len;
    return 0;
}

Test(store_sqlite, profiles_put_get_delete_scan)
{
    const unsigned char blob[] = {0, 1, 2, 0, 255, 7};
    cr_assert_eq(ops->profile_put(st, 1, "u:1", blob, sizeof blob), TL_OK);
    void *out = NULL;
    size_t len = 0;
    cr_assert_eq(ops->profile_get(st, 1, "u:1", &out, &len), TL_OK);
    cr_assert_eq(len, sizeof blob);
    cr_assert_eq(memcmp(out, blob, len), 0, "binary data with NUL bytes round trips");
    tl_free(out);
    out = NULL;
    cr_assert_eq(ops->profile_get(st, 2, "u:1", &out, &len), TL_ENOTFOUND, "other shop");
    cr_assert_null(out);
    /* Put replaces. */
    const unsigned char blob2[] = {9, 9};
    cr_assert_eq(ops->profile_put(st, 1, "u:1", blob2, sizeof blob2), TL_OK);
    cr_assert_eq(ops->profile_get(st, 1, "u:1", &out, &len), TL_OK);
    cr_assert_eq(len, 2);
    cr_assert_eq(((unsigned char *)out)[0], 9);
    tl_free(out);
    /* An empty (non-NULL) blob is a valid profile. */
    cr_assert_eq(ops->profile_put(st, 1, "empty", blob, 0), TL_OK);
    out = NULL;
    len = 99;
    cr_assert_eq(ops->profile_get(st, 1, "empty", &out, &len), TL_OK);
    cr_assert_eq(len, 0);
    cr_assert_not_null(out);
    tl_free(out);
    cr_assert_eq(ops->profile_put(st, 3, "a:9", blob, sizeof blob), TL_OK);
    struct prof_acc a = {0};
    cr_assert_eq(ops->profile_scan(st, prof_cb, &a), TL_OK);
    cr_assert_eq(a.n, 3);
    cr_assert_eq(a.total, 2 + 0 + sizeof blob);
    cr_assert_eq(ops->profile_delete(st, 1, "u:1"), TL_OK);
    cr_assert_eq(ops->profile_delete(st, 1, "u:1"), TL_OK, "absent is not an error");
    cr_assert_eq(ops->profile_get(st, 1, "u:1", &out, &len), TL_ENOTFOUND);
    memset(&a, 0, sizeof a);
    cr_assert_eq(ops->profile_scan(st, prof_cb, &a), TL_OK);
    cr_assert_eq(a.n, 2);
}

/* profile_put_many: full statements of 128 rows and single rows for the
 * rest; a later row of the same key wins, inside one statement too; rows
 * already stored are replaced; a bad row fails the call. */
Test(store_sqlite, profiles_put_many_in_statements_of_many_rows)
{
    cr_assert_not_null(ops->profile_put_many);
    cr_assert_eq(ops->profile_put_many(st, NULL, 0), TL_OK, "nothing to put");
    const unsigned char old[] = {1};
    cr_assert_eq(ops->profile_put(st, 2, "k0007", old, sizeof old), TL_OK);
    enum { N = 300 };
    static char keys[N][16];
    static unsigned char blobs[N][4];
    struct tl_profile_row rows[N];
    for (int i = 0; i < N; i++) {
        int k = i == 100 ? 60 : i; /* row 100 puts key 60 again, in the same statement of 128 */
        snprintf(keys[i], sizeof keys[i], "k%04d", k);
        for (int b = 0; b < 4; b++) blobs[i][b] = (unsigned char)(i + b);
        rows[i] = (struct tl_profile_row){(uint32_t)(1 + i % 2), keys[i], blobs[i], (size_t)(i % 5)};
    }
    rows[100].shop_id = rows[60].shop_id;
    cr_assert_eq(ops->profile_put_many(st, rows, N), TL_OK);
    for (int i = 0; i < N; i++) {
        if (i == 60) continue; /* replaced by row 100 */
        void *out = NULL;
        size_t len = 99;
        cr_assert_eq(ops->profile_get(st, rows[i].shop_id, keys[i], &out, &len), TL_OK, "row %d", i);
        cr_assert_eq(len, rows[i].len, "row %d", i);
        cr_assert_eq(memcmp(out, blobs[i], len), 0, "row %d", i);
        tl_free(out);
    }
    struct prof_acc a = {0};
    cr_assert_eq(ops->profile_scan(st, prof_cb, &a), TL_OK);
    cr_assert_eq(a.n, N - 1, "one key twice: %zu rows", (size_t)a.n);
    rows[200].blob = NULL; /* a NULL blob breaks the table's NOT NULL */
    cr_assert_neq(ops->profile_put_many(st, rows, N), TL_OK);
}

/* ---- deferred log copy ---- */

static long long file_size(const char *suffix)
{
    char p[160];
    snprintf(p, sizeof p, "%s%s", path, suffix);
    struct stat sb;
    return stat(p, &sb) == 0 ? (long long)sb.st_size : -1;
}

/* One transaction writing `n` profiles of 64 KiB (incompressible bytes
 * from `seed`): 2,000 pages of 16 KiB, past the 1,000 at which a commit
 * copies the log into the database file. */
#define BIG_BLOB 65536
static void write_big(struct tl_store *h, int defer, int n, unsigned seed)
{
    unsigned char *blob = tl_malloc(BIG_BLOB);
    cr_assert_not_null(blob);
    unsigned tag = seed;
    cr_assert_eq(ops->begin(h), TL_OK);
    if (defer) ops->defer_log_copy(h);
    for (int i = 0; i < n; i++) {
        for (size_t k = 0; k < BIG_BLOB; k++) blob[k] = (unsigned char)((seed = seed * 1103515245u + 12345u) >> 16);
        char key[32];
        snprintf(key, sizeof key, "u:%u:%d", tag, i);
        cr_assert_eq(ops->profile_put(h, 1, key, blob, BIG_BLOB), TL_OK);
    }
    cr_assert_eq(ops->commit(h), TL_OK);
    tl_free(blob);
}

Test(store_sqlite, a_deferred_log_copy_is_made_by_another_handle_and_only_once)
{
    cr_assert_not_null(ops->defer_log_copy);
    cr_assert_not_null(ops->log_copy);
    long long db0 = file_size("");
    /* Deferred: the commit is durable in the log, the database file is
     * untouched, and another handle reads every row from the log. */
    write_big(st, 1, 256, 1);
    cr_assert_eq(file_size(""), db0, "the deferred commit copied nothing into the database file");
    cr_assert_gt(file_size("-wal"), 256LL * BIG_BLOB, "the log holds the transaction");
    struct tl_store *other = NULL;
    struct tl_err err;
    tl_err_clear(&err);
    cr_assert_eq(ops->open(path, TL_SYNC_OS, &other, &err), TL_OK, "%s", err.msg);
    struct prof_acc a = {0};
    cr_assert_eq(ops->profile_scan(other, prof_cb, &a), TL_OK);
    cr_assert_eq(a.n, 256);
    /* The copy, on the other handle, while this one writes (a transaction
     * open across the copy, committed after it). */
    cr_assert_eq(ops->begin(st), TL_OK);
    cr_assert_eq(ops->meta_set(st, "during", 1), TL_OK);
    cr_assert_eq(ops->log_copy(other), TL_OK);
    cr_assert_eq(ops->commit(st), TL_OK);
    long long db1 = file_size("");
    cr_assert_gt(db1, 256LL * BIG_BLOB, "log_copy wrote the pages into the database file");
    /* The deferral was for that commit only: the next large one copies. */
    write_big(st, 0, 256, 2);
    cr_assert_gt(file_size(""), db1 + 200LL * BIG_BLOB, "an ordinary large commit copies the log again");
    /* A rolled-back transaction's deferral does not outlive it. */
    long long db2 = file_size("");
    cr_assert_eq(ops->begin(st), TL_OK);
    ops->defer_log_copy(st);
    cr_assert_eq(ops->rollback(st), TL_OK);
    write_big(st, 0, 256, 3);
    cr_assert_gt(file_size(""), db2 + 200LL * BIG_BLOB, "the deferral ended with the rollback");
    /* Outside a transaction it does nothing either. */
    long long db3 = file_size("");
    ops->defer_log_copy(st);
    write_big(st, 0, 256, 4);
    cr_assert_gt(file_size(""), db3 + 200LL * BIG_BLOB);
    ops->close(other);
    /* Deferred and never copied: the close copies, and a reopen finds it all. */
    write_big(st, 1, 64, 5);
    reopen_store();
    memset(&a, 0, sizeof a);
    cr_assert_eq(ops->profile_scan(st, prof_cb, &a), TL_OK);
    cr_assert_eq(a.n, 4 * 256 + 64);
    int64_t v = 0;
    cr_assert_eq(ops->meta_get(st, "during", &v), TL_OK);
    cr_assert_eq(v, 1);
}

/* n profiles of 64 KiB into an open transaction (16 MiB and more: more
 * than the page cache, so SQLite writes pages out before the commit). */
static int put_big(struct tl_store *h, int n, unsigned seed)
{
    unsigned char *blob = tl_malloc(BIG_BLOB);
    if (!blob) return -1;
    int bad = 0;
    for (int i = 0; i < n && !bad; i++) {
        for (size_t k = 0; k < BIG_BLOB; k++) blob[k] = (unsigned char)((seed = seed * 1103515245u + 12345u) >> 16);
        char key[32];
        snprintf(key, sizeof key, "u:solo:%d", i);
        bad = ops->profile_put(h, 1, key, blob, BIG_BLOB) != TL_OK;
    }
    tl_free(blob);
    return bad ? -1 : 0;
}

static int count_profiles(struct tl_store *h)
{
    struct prof_acc a = {0};
    cr_assert_eq(ops->profile_scan(h, prof_cb, &a), TL_OK);
    return a.n;
}

/* Sole use: refused while another handle has the file open; then a
 * transaction writes into the database file itself (no log, and no
 * journal left after it), a rollback leaves the file as it was, every
 * commit is synced even after skip_sync, and the file is WAL again
 * afterwards, readable by another handle. */
Test(store_sqlite, in_sole_use_a_commit_writes_into_the_file_once_and_wal_comes_back)
{
    cr_assert_not_null(ops->solo);
    sync_count_install();
    ops->close(st); /* reopened through the counting VFS, every commit synced */
    struct tl_err err;
    tl_err_clear(&err);
    cr_assert_eq(ops->open(path, TL_SYNC_FULL, &st, &err), TL_OK, "%s", err.msg);
    struct tl_store *other = NULL;
    cr_assert_eq(ops->open(path, TL_SYNC_OS, &other, &err), TL_OK, "%s", err.msg);
    cr_assert_eq(ops->solo(st, 1), TL_EBUSY, "another handle has the file open");
    write_big(st, 0, 4, 1);
    cr_assert_gt(file_size("-wal"), 0, "still in WAL mode");
    ops->close(other);
    cr_assert_eq(ops->begin(st), TL_OK);
    cr_assert_eq(ops->solo(st, 1), TL_EINVAL, "not inside a transaction");
    cr_assert_eq(ops->rollback(st), TL_OK);
    cr_assert_eq(ops->solo(st, 1), TL_OK);
    cr_assert_eq(ops->solo(st, 1), TL_OK, "asking twice is harmless");
    cr_assert_eq(file_size("-wal"), -1, "leaving WAL copied the log into the file and removed it");
    long long db0 = file_size("");

    cr_assert_eq(ops->begin(st), TL_OK);
    cr_assert_eq(put_big(st, 256, 2), 0);
    cr_assert_gt(file_size("-journal"), 0, "the transaction has a rollback journal");
    cr_assert_eq(ops->rollback(st), TL_OK);
    cr_assert_eq(file_size(""), db0, "a rollback leaves the file as it was");
    cr_assert_eq(file_size("-journal"), -1);
    cr_assert_eq(count_profiles(st), 4);

    int syncs = sync_count();
    write_big(st, 0, 1, 5);
    cr_assert_gt(sync_count(), syncs, "a commit in sole use is synced");
    syncs = sync_count();
    ops->skip_sync(st);
    write_big(st, 0, 256, 3);
    cr_assert_gt(sync_count(), syncs, "and after skip_sync too");
    cr_assert_gt(file_size(""), db0 + 256LL * BIG_BLOB, "the commit wrote into the database file");
    cr_assert_eq(file_size("-wal"), -1, "no log");
    cr_assert_eq(file_size("-journal"), -1, "no journal after the commit");

    cr_assert_eq(ops->solo(st, 0), TL_OK);
    write_big(st, 0, 1, 4);
    cr_assert_gt(file_size("-wal"), 0, "WAL mode again");
    cr_assert_eq(ops->open(path, TL_SYNC_OS, &other, &err), TL_OK, "%s", err.msg);
    cr_assert_eq(count_profiles(other), 4 + 1 + 256 + 1, "another handle reads it all");
    ops->close(other);
}

/* A process killed in sole use, in the middle of a transaction larger than
 * the page cache (some of it already in the database file): the next open
 * rolls it back from the journal, and the file is WAL again. */
Test(store_sqlite, a_crash_in_sole_use_is_rolled_back_at_the_next_open)
{
    write_big(st, 0, 3, 1);
    ops->close(st);
    st = NULL;
    long long db0 = file_size("");
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        struct tl_store *h = NULL;
        struct tl_err err;
        if (ops->open(path, TL_SYNC_OS, &h, &err) || ops->solo(h, 1) || ops->begin(h) || put_big(h, 256, 2)) _exit(2);
        ops->write_ahead(h); /* what reached the file is on its way to disk: still rolled back */
        _exit(0);            /* no commit, no close: as after kill -9 */
    }
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: %d", status);
    cr_assert_gt(file_size("-journal"), 0, "a hot journal is left");
    cr_assert_gt(file_size(""), db0, "part of the transaction reached the file");
    open_store();
    cr_assert_eq(count_profiles(st), 3, "nothing of the killed transaction");
    cr_assert_eq(file_size("-journal"), -1, "the journal was played back and removed");
    write_big(st, 0, 1, 5);
    cr_assert_gt(file_size("-wal"), 0, "WAL mode again");
}

/* write_ahead inside a transaction, in sole use and in WAL mode: a
 * rollback still leaves the file as it was, a commit keeps it all; outside
 * a transaction it does nothing. */
Test(store_sqlite, write_ahead_changes_no_guarantee)
{
    cr_assert_not_null(ops->write_ahead);
    write_big(st, 0, 2, 1);
    ops->write_ahead(st); /* outside a transaction: nothing */
    for (int solo = 1; solo >= 0; solo--) {
        cr_assert_eq(ops->solo(st, solo), TL_OK);
        int before = count_profiles(st);
        long long db0 = file_size("");
        cr_assert_eq(ops->begin(st), TL_OK);
        cr_assert_eq(put_big(st, 256, 2 + solo), 0);
        ops->write_ahead(st);
        ops->write_ahead(st);
        cr_assert_eq(ops->rollback(st), TL_OK);
        if (solo) cr_assert_eq(file_size(""), db0, "a rollback leaves the file as it was");
        cr_assert_eq(count_profiles(st), before, "nothing of the rolled back transaction (solo %d)", solo);
        cr_assert_eq(ops->begin(st), TL_OK);
        cr_assert_eq(put_big(st, 256, 4 + solo), 0);
        ops->write_ahead(st);
        cr_assert_eq(ops->commit(st), TL_OK);
        cr_assert_eq(count_profiles(st), 2 + 256, "the committed transaction whole (solo %d)", solo);
    }
}

/* ---- meta and stats ---- */

Test(store_sqlite, meta_get_set)
{
    int64_t v = 5;
    cr_assert_eq(ops->meta_get(st, "checkpoint", &v), TL_ENOTFOUND);
    cr_assert_eq(v, 5);
    cr_assert_eq(ops->meta_set(st, "checkpoint", INT64_MAX), TL_OK);
    cr_assert_eq(ops->meta_get(st, "checkpoint", &v), TL_OK);
    cr_assert_eq(v, INT64_MAX);
    cr_assert_eq(ops->meta_set(st, "checkpoint", -3), TL_OK);
    cr_assert_eq(ops->meta_get(st, "checkpoint", &v), TL_OK);
    cr_assert_eq(v, -3);
}

Test(store_sqlite, stats_per_shop_and_by_type)
{
    uint32_t s2;
    cr_assert_eq(ops->shop_create(st, "s2", &s2), TL_OK);
    struct tl_item it = mk_item("a", "A", 1, 1, 1);
    cr_assert_eq(ops->item_upsert(st, 1, &it), TL_OK);
    it.id = "b";
    cr_assert_eq(ops->item_upsert(st, 1, &it), TL_OK);
    cr_assert_eq(ops->item_upsert(st, s2, &it), TL_OK);
    struct tl_customer c = {.id = "c", .consent_email = -1, .consent_personalization = -1};
    cr_assert_eq(ops->customer_upsert(st, s2, &c), TL_OK);
    enum tl_event_type types[] = {TL_EV_PRODUCT_VIEW, TL_EV_PRODUCT_VIEW, TL_EV_PURCHASE, TL_EV_SEARCH};
    for (int i = 0; i < 4; i++) {
        struct tl_event ev = {.shop_id = 1, .type = types[i], .ts_ms = i, .anonymous_id = "x", .body = "{}"};
        cr_assert_eq(ops->event_append(st, &ev, 0), TL_OK);
    }
    struct tl_event ev2 = {.shop_id = s2, .type = TL_EV_ADD_TO_CART, .ts_ms = 1, .anonymous_id = "x", .body = "{}"};
    cr_assert_eq(ops->event_append(st, &ev2, 0), TL_OK);
    struct tl_store_stats s;
    memset(&s, 0x7f, sizeof s);
    cr_assert_eq(ops->stats(st, 1, &s), TL_OK);
    cr_assert_eq(s.items, 2);
    cr_assert_eq(s.customers, 0);
    cr_assert_eq(s.orders, 0);
    cr_assert_eq(s.returns, 0);
    cr_assert_eq(s.events_total, 4);
    cr_assert_eq(s.events_by_type[TL_EV_PRODUCT_VIEW], 2);
    cr_assert_eq(s.events_by_type[TL_EV_PURCHASE], 1);
    cr_assert_eq(s.events_by_type[TL_EV_SEARCH], 1);
    cr_assert_eq(s.events_by_type[TL_EV_ADD_TO_CART], 0);
    cr_assert_eq(ops->stats(st, s2, &s), TL_OK);
    cr_assert_eq(s.items, 1);
    cr_assert_eq(s.customers, 1);
    cr_assert_eq(s.events_total, 1);
    cr_assert_eq(s.events_by_type[TL_EV_ADD_TO_CART], 1);
    cr_assert_eq(ops->stats(st, 99, &s), TL_OK);
    cr_assert_eq(s.items + s.customers + s.events_total, 0);
}

/* ---- transactions ---- */

Test(store_sqlite, transaction_rollback_discards_commit_keeps)
{
    cr_assert_eq(ops->begin(st), TL_OK);
    cr_assert_eq(ops->meta_set(st, "a", 1), TL_OK);
    struct tl_item it = mk_item("tx", "T", 1, 1, 1);
    cr_assert_eq(ops->item_upsert(st, 1, &it), TL_OK);
    struct tl_event ev = {.shop_id = 1, .type = TL_EV_PAGE_VIEW, .ts_ms = 1, .anonymous_id = "x", .body = "{}"};
    cr_assert_eq(ops->event_append(st, &ev, 5), TL_OK);
    cr_assert_eq(ops->rollback(st), TL_OK);
    int64_t v;
    cr_assert_eq(ops->meta_get(st, "a", &v), TL_ENOTFOUND);
    struct item_acc a = {0};
    cr_assert_eq(ops->item_scan(st, 0, item_cb, &a), TL_OK);
    cr_assert_eq(a.n, 0);
    struct ev_acc e = {0};
    cr_assert_eq(ops->event_scan(st, 0, TL_SCAN_BODIES_ALL, ev_cb, &e), TL_OK);
    cr_assert_eq(e.n, 0);

    cr_assert_eq(ops->begin(st), TL_OK);
    cr_assert_eq(ops->begin(st), TL_ESTORE, "nested begin is an error");
    cr_assert_eq(ops->meta_set(st, "b", 2), TL_OK);
    cr_assert_eq(ops->item_upsert(st, 1, &it), TL_OK);
    cr_assert_eq(ops->commit(st), TL_OK);
    cr_assert_eq(ops->commit(st), TL_ESTORE, "commit without a transaction is an error");
    cr_assert_eq(ops->rollback(st), TL_ESTORE, "rollback without a transaction is an error");
    reopen_store();
    cr_assert_eq(ops->meta_get(st, "b", &v), TL_OK);
    cr_assert_eq(v, 2);
    memset(&a, 0, sizeof a);
    cr_assert_eq(ops->item_scan(st, 0, item_cb, &a), TL_OK);
    cr_assert_eq(a.n, 1);
}

/* One transaction that sets meta key to val (skip_sync before it if asked);
 * the syncs its commit made. */
static int syncs_of_a_commit(struct tl_store *fs, const char *key, int64_t val, int skip)
{
    int before = sync_count();
    if (skip) ops->skip_sync(fs);
    cr_assert_eq(ops->begin(fs), TL_OK);
    cr_assert_eq(ops->meta_set(fs, key, val), TL_OK);
    cr_assert_eq(ops->commit(fs), TL_OK);
    return sync_count() - before;
}

/* skip_sync (before a transaction of snapshots): that commit writes the
 * log without syncing it, the next one syncs again, and what both
 * committed survives a reopen. Counted at the VFS (sync_count.h) on a store
 * opened with TL_SYNC_FULL. */
Test(store_sqlite, a_commit_after_skip_sync_is_not_synced_and_the_next_one_is)
{
    sync_count_install();
    char fp[160];
    snprintf(fp, sizeof fp, "%s/full.db", dir);
    struct tl_store *fs = NULL;
    struct tl_err err;
    tl_err_clear(&err);
    cr_assert_eq(ops->open(fp, TL_SYNC_FULL, &fs, &err), TL_OK, "%s", err.msg);
    cr_assert_not_null(ops->skip_sync);
    /* (a new log's header is synced whatever the mode: the first commit) */
    cr_assert_gt(syncs_of_a_commit(fs, "a", 1, 0), 0, "a commit of a TL_SYNC_FULL store syncs the log");
    cr_assert_eq(syncs_of_a_commit(fs, "b", 2, 1), 0, "the commit after skip_sync is not synced");
    cr_assert_gt(syncs_of_a_commit(fs, "c", 3, 0), 0, "the next commit is synced again");

    /* skipped, then rolled back: the next commit is synced */
    ops->skip_sync(fs);
    cr_assert_eq(ops->begin(fs), TL_OK);
    cr_assert_eq(ops->meta_set(fs, "d", 4), TL_OK);
    cr_assert_eq(ops->rollback(fs), TL_OK);
    cr_assert_gt(syncs_of_a_commit(fs, "e", 5, 0), 0, "a rollback ends the skip");

    /* asked inside a transaction: nothing changes */
    int c = sync_count();
    cr_assert_eq(ops->begin(fs), TL_OK);
    ops->skip_sync(fs);
    cr_assert_eq(ops->meta_set(fs, "f", 6), TL_OK);
    cr_assert_eq(ops->commit(fs), TL_OK);
    cr_assert_gt(sync_count(), c, "skip_sync inside a transaction is ignored");

    ops->close(fs);
    cr_assert_eq(ops->open(fp, TL_SYNC_FULL, &fs, &err), TL_OK, "%s", err.msg);
    const char *keys[] = {"a", "b", "c", "e", "f"};
    for (size_t i = 0; i < 5; i++) {
        int64_t v;
        cr_assert_eq(ops->meta_get(fs, keys[i], &v), TL_OK, "%s is stored", keys[i]);
    }
    int64_t v;
    cr_assert_eq(ops->meta_get(fs, "d", &v), TL_ENOTFOUND);
    ops->close(fs);
    const char *suffix[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        char p[200];
        snprintf(p, sizeof p, "%s%s", fp, suffix[i]);
        unlink(p);
    }
}

Test(store_sqlite, uncommitted_transaction_lost_on_close)
{
    cr_assert_eq(ops->begin(st), TL_OK);
    cr_assert_eq(ops->meta_set(st, "gone", 1), TL_OK);
    reopen_store(); /* close without commit */
    int64_t v;
    cr_assert_eq(ops->meta_get(st, "gone", &v), TL_ENOTFOUND);
}

Test(store_sqlite, no_leak_over_a_session)
{
    /* Everything allocated by open and the operations is freed by close
     * (results of profile_get are the caller's and freed here). */
    ops->close(st);
    st = NULL;
    long before = tl_alloc_live();
    open_store();
    const char b[] = "xyz";
    cr_assert_eq(ops->profile_put(st, 1, "k", b, 3), TL_OK);
    void *out;
    size_t len;
    cr_assert_eq(ops->profile_get(st, 1, "k", &out, &len), TL_OK);
    tl_free(out);
    ops->close(st);
    st = NULL;
    cr_assert_eq(tl_alloc_live(), before);
    open_store();
}

/* ---- event blocks (schema 3) ---- */

static int64_t sql_int(const char *q)
{
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *s;
    cr_assert_eq(sqlite3_prepare_v2(db, q, -1, &s, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

static void sql_exec(const char *q)
{
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, q, NULL, NULL, NULL), SQLITE_OK, "%s: %s", q, sqlite3_errmsg(db));
    sqlite3_close(db);
}

Test(store_sqlite, events_pack_into_blocks_split_by_size_and_shop)
{
    uint32_t s2;
    cr_assert_eq(ops->shop_create(st, "s2", &s2), TL_OK);
    /* bodies of 200 KB: three of them pass TL_EVBLOCK_RAW_MAX (512 KiB) */
    size_t big = 200 * 1024;
    char *body = tl_malloc(big + 1);
    memset(body, ' ', big);
    body[0] = '{';
    body[big - 1] = '}';
    body[big] = 0;
    cr_assert_eq(ops->begin(st), TL_OK);
    int64_t seqs[8];
    for (int i = 0; i < 8; i++) {
        struct tl_event ev = {.shop_id = i < 6 ? 1 : s2,
                              .type = i % 2 ? TL_EV_SEARCH : TL_EV_PRODUCT_VIEW,
                              .ts_ms = 1000 - i,
                              .anonymous_id = "a",
                              .body = i < 6 ? body : "{}"};
        cr_assert_eq(ops->event_append(st, &ev, (uint64_t)i + 1), TL_OK);
        seqs[i] = ev.seq;
        if (i) cr_assert_eq(seqs[i], seqs[i - 1] + 1, "consecutive sequence numbers");
    }
    /* the handle sees its own pending events inside the transaction */
    struct ev_acc a = {0};
    cr_assert_eq(ops->event_scan(st, seqs[3], TL_SCAN_BODIES_ALL, ev_cb, &a), TL_OK);
    cr_assert_eq(a.n, 4, "after_seq inside a block");
    cr_assert_eq(a.seq[0], seqs[4]);
    cr_assert_eq(ops->commit(st), TL_OK);
    tl_free(body);

    /* 3 + 3 shop-1 events (size), then the shop-2 events in their own block */
    cr_assert_eq(sql_int("SELECT count(*) FROM event_blocks"), 3);
    cr_assert_eq(sql_int("SELECT count(DISTINCT shop_id) FROM event_blocks"), 2);
    cr_assert_eq(sql_int("SELECT sum(n) FROM event_blocks"), 8);
    cr_assert_lt(sql_int("SELECT sum(length(data)) FROM event_blocks"), 100000, "blank bodies compress");

    for (int after = 0; after < 8; after++) {
        memset(&a, 0, sizeof a);
        cr_assert_eq(ops->event_scan(st, seqs[after], TL_SCAN_BODIES_ALL, ev_cb, &a), TL_OK);
        cr_assert_eq(a.n, 7 - after, "after seq %d", after);
        for (int k = 0; k < a.n; k++) cr_assert_eq(a.seq[k], seqs[after + 1 + k]);
    }
    memset(&a, 0, sizeof a);
    cr_assert_eq(ops->event_scan(st, 0, TL_SCAN_BODIES_ALL, ev_cb, &a), TL_OK);
    cr_assert_eq(a.n, 8);
    cr_assert_eq(a.shop[6], s2);
    cr_assert_str_eq(a.body[7], "{}");

    struct eid_acc e = {0};
    cr_assert_eq(ops->event_eid_scan(st, eid_cb, &e), TL_OK);
    cr_assert_eq(e.n, 8);
    for (int i = 0; i < 8; i++) cr_assert_eq(e.h[i], (uint64_t)i + 1, "hashes in event order");

    struct tl_store_stats s;
    cr_assert_eq(ops->stats(st, 1, &s), TL_OK);
    cr_assert_eq(s.events_total, 6);
    cr_assert_eq(s.events_by_type[TL_EV_SEARCH], 3);
    cr_assert_eq(ops->stats(st, s2, &s), TL_OK);
    cr_assert_eq(s.events_total, 2);

    /* a rolled-back append leaves no gap, a failed nested begin keeps the numbering */
    cr_assert_eq(ops->begin(st), TL_OK);
    struct tl_event ev = {.shop_id = 1, .type = TL_EV_PAGE_VIEW, .ts_ms = 1, .anonymous_id = "x", .body = "{}"};
    cr_assert_eq(ops->event_append(st, &ev, 0), TL_OK);
    cr_assert_eq(ev.seq, seqs[7] + 1);
    cr_assert_eq(ops->rollback(st), TL_OK);
    cr_assert_eq(ops->begin(st), TL_OK);
    cr_assert_eq(ops->event_append(st, &ev, 0), TL_OK);
    cr_assert_eq(ev.seq, seqs[7] + 1, "the rolled-back number is taken again");
    cr_assert_eq(ops->begin(st), TL_ESTORE);
    struct tl_event ev2 = ev;
    cr_assert_eq(ops->event_append(st, &ev2, 0), TL_OK);
    cr_assert_eq(ev2.seq, ev.seq + 1);
    cr_assert_eq(ops->commit(st), TL_OK);
    reopen_store();
    cr_assert_eq(ops->event_append(st, &ev, 0), TL_OK, "outside a transaction: its own");
    cr_assert_eq(ev.seq, ev2.seq + 1, "numbering continues after reopen");
    cr_assert_eq(ops->stats(st, 1, &s), TL_OK);
    cr_assert_eq(s.events_total, 9);
}

/* The pending migrations are one transaction: when one step fails, the
 * steps before it in the same open are undone too and the version stays. */
Test(store_sqlite, a_failed_migration_leaves_the_file_as_it_was)
{
    ops->close(st);
    st = NULL;
    /* version 2 with a table in the way of migration 3's second table */
    sql_exec("DROP TABLE event_blocks; DROP TABLE event_counts; CREATE TABLE event_counts(x);"
             "PRAGMA user_version = 2;");
    struct tl_err err;
    tl_err_clear(&err);
    cr_assert_eq(ops->open(path, TL_SYNC_OS, &st, &err), TL_ESTORE);
    cr_assert_null(st);
    cr_assert(strstr(err.msg, "migration 3 failed"), "%s", err.msg);
    cr_assert_eq(sql_int("PRAGMA user_version"), 2);
    cr_assert_eq(sql_int("SELECT count(*) FROM sqlite_master WHERE name = 'event_blocks'"), 0,
                 "migration 3's first table was undone with it");
    /* the obstacle removed, the next open migrates */
    sql_exec("DROP TABLE event_counts;");
    open_store();
    cr_assert_eq(sql_int("PRAGMA user_version"), 4);
}

Test(store_sqlite, events_rows_of_schema_2_survive_the_upgrade)
{
    /* A schema-2 database with events as rows: made from a current one by
     * dropping the block tables and writing rows as version 2 did. */
    ops->close(st);
    st = NULL;
    sql_exec("DROP TABLE event_blocks; DROP TABLE event_counts;"
             "INSERT INTO events(seq, shop_id, ts_ms, type, user_id, anonymous_id, item_id, country, eid_hash, body)"
             " VALUES (1, 1, 10, 2, 'u1', NULL, 'sku', 'GB', 42, '{\"old\":1}'),"
             " (2, 1, 11, 5, NULL, 'a1', NULL, NULL, NULL, '{\"old\":2}'),"
             " (7, 1, 12, 2, NULL, 'a2', 'sku', NULL, -1, '{\"old\":3}');"
             "PRAGMA user_version = 2;");
    open_store();
    cr_assert_eq(sql_int("PRAGMA user_version"), 4);
    struct tl_store_stats s;
    cr_assert_eq(ops->stats(st, 1, &s), TL_OK);
    cr_assert_eq(s.events_total, 3, "counts carried over from the rows");
    cr_assert_eq(s.events_by_type[2], 2);
    struct tl_event ev = {.shop_id = 1, .type = TL_EV_SEARCH, .ts_ms = 20, .anonymous_id = "n", .body = "{\"new\":1}"};
    cr_assert_eq(ops->event_append(st, &ev, 9), TL_OK);
    cr_assert_eq(ev.seq, 8, "new numbers continue after the highest row");
    struct ev_acc a = {0};
    cr_assert_eq(ops->event_scan(st, 0, TL_SCAN_BODIES_ALL, ev_cb, &a), TL_OK);
    cr_assert_eq(a.n, 4);
    cr_assert_eq(a.seq[0], 1);
    cr_assert_eq(a.seq[2], 7);
    cr_assert_eq(a.seq[3], 8);
    cr_assert_str_eq(a.body[0], "{\"old\":1}");
    cr_assert_str_eq(a.body[3], "{\"new\":1}");
    memset(&a, 0, sizeof a);
    cr_assert_eq(ops->event_scan(st, 2, TL_SCAN_BODIES_ALL, ev_cb, &a), TL_OK);
    cr_assert_eq(a.n, 2, "after_seq across both tables");
    cr_assert_eq(a.seq[0], 7);
    struct eid_acc e = {0};
    cr_assert_eq(ops->event_eid_scan(st, eid_cb, &e), TL_OK);
    cr_assert_eq(e.n, 3);
    cr_assert_eq(e.h[0], 42);
    cr_assert_eq(e.h[1], UINT64_MAX);
    cr_assert_eq(e.h[2], 9);
    cr_assert_eq(ops->stats(st, 1, &s), TL_OK);
    cr_assert_eq(s.events_total, 4);
}

Test(store_sqlite, a_damaged_block_fails_the_scan_cleanly)
{
    struct tl_event ev = {.shop_id = 1, .type = TL_EV_SEARCH, .ts_ms = 20, .anonymous_id = "n", .body = "{\"q\":1}"};
    cr_assert_eq(ops->event_append(st, &ev, 0), TL_OK);
    sql_exec("UPDATE event_blocks SET data = substr(data, 1, length(data) - 3)");
    struct ev_acc a = {0};
    cr_assert_eq(ops->event_scan(st, 0, TL_SCAN_BODIES_ALL, ev_cb, &a), TL_ESTORE);
    cr_assert_eq(a.n, 0);
    sql_exec("UPDATE event_blocks SET eids = x'0102'");
    struct eid_acc e = {0};
    cr_assert_eq(ops->event_eid_scan(st, eid_cb, &e), TL_ESTORE, "an eids array of the wrong length");
}
