/* Engine: the ingestion flow, profile checkpoint + replay exactness across
 * a simulated crash, LRU eviction and reload, identity stitching, shop
 * isolation, and the recommendation rules. Uses a real SQLite file. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "engine/engine.h"
#include "engine/facade.h"
#include "engine/internal.h"

static char dir[64];
static char db[128];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/tl_engine_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(db, sizeof db, "%s/t.db", dir);
}

static void teardown(void)
{
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

static struct tl_engine *open_engine(size_t profiles_max)
{
    struct tl_config cfg;
    tl_config_defaults(&cfg);
    snprintf(cfg.db_path, sizeof cfg.db_path, "%s", db);
    cfg.profiles_max = profiles_max;
    cfg.checkpoint_interval_ms = 3600000; /* checkpoints only when the test asks */
    cfg.sync_full = 0;
    struct tl_engine *e = NULL;
    struct tl_err err;
    tl_err_clear(&err);
    enum tl_rc rc = tl_engine_open(&cfg, &e, &err);
    cr_assert_eq(rc, TL_OK, "open: %s", err.msg);
    return e;
}

/* Crash: no final checkpoint, state after it lives only in the event log. */
static void crash(struct tl_engine *e)
{
    tl_engine_discard(e);
    tl_engine_close(e);
}

static json_t *ingest(struct tl_engine *e, uint32_t shop, const char *body, enum tl_rc want)
{
    struct tl_buf out;
    tl_buf_init(&out, 0);
    struct tl_err err;
    tl_err_clear(&err);
    enum tl_rc rc = tl_engine_ingest_events(e, shop, body, strlen(body), 0, &out, &err);
    cr_assert_eq(rc, want, "ingest rc %d (%s) body %s", rc, err.msg, out.data ? out.data : "");
    json_t *j = out.len ? json_loads(out.data, 0, NULL) : NULL;
    tl_buf_free(&out);
    return j;
}

static json_t *profile(struct tl_engine *e, uint32_t shop, const char *user)
{
    struct tl_buf out;
    tl_buf_init(&out, 0);
    struct tl_err err;
    enum tl_rc rc = tl_engine_profile(e, shop, user, &out, &err);
    json_t *j = rc == TL_OK ? json_loads(out.data, 0, NULL) : NULL;
    tl_buf_free(&out);
    return j;
}

static long views_of(json_t *prof)
{
    return (long)json_integer_value(json_object_get(json_object_get(prof, "counts"), "product_view"));
}

static void view(struct tl_engine *e, const char *user, const char *item, int n, const char *eid)
{
    char body[256];
    snprintf(body, sizeof body,
             "{\"type\":\"product_view\",\"user_id\":\"%s\",\"item_id\":\"%s\",\"event_id\":\"%s-%d\"}", user, item,
             eid, n);
    json_decref(ingest(e, TL_DEFAULT_SHOP, body, TL_OK));
}

Test(engine, replay_after_crash_applies_each_event_once, .init = setup, .fini = teardown)
{
    struct tl_engine *e = open_engine(1000);
    for (int i = 0; i < 3; i++) view(e, "u1", "sku1", i, "a");
    cr_assert_eq(tl_engine_checkpoint(e), TL_OK);
    for (int i = 3; i < 5; i++) view(e, "u1", "sku2", i, "a");
    json_t *p = profile(e, TL_DEFAULT_SHOP, "u1");
    cr_assert_eq(views_of(p), 5);
    json_decref(p);
    crash(e);

    e = open_engine(1000);
    p = profile(e, TL_DEFAULT_SHOP, "u1");
    cr_assert_not_null(p);
    cr_assert_eq(views_of(p), 5, "3 checkpointed + 2 replayed, got %ld", views_of(p));
    json_decref(p);
    /* The idempotency set survives the restart too. */
    json_t *r =
        ingest(e, TL_DEFAULT_SHOP,
               "{\"type\":\"product_view\",\"user_id\":\"u1\",\"item_id\":\"sku2\",\"event_id\":\"a-4\"}", TL_OK);
    cr_assert_eq(json_integer_value(json_object_get(r, "duplicates")), 1);
    cr_assert_eq(json_integer_value(json_object_get(r, "accepted")), 0);
    json_decref(r);
    tl_engine_close(e); /* clean close: final checkpoint */

    e = open_engine(1000);
    p = profile(e, TL_DEFAULT_SHOP, "u1");
    cr_assert_eq(views_of(p), 5);
    json_decref(p);
    tl_engine_close(e);
}

Test(engine, evicted_profiles_reload_and_survive_a_crash, .init = setup, .fini = teardown)
{
    struct tl_engine *e = open_engine(16);
    char user[32];
    for (int u = 0; u < 100; u++) {
        snprintf(user, sizeof user, "user%d", u);
        view(e, user, "sku1", 0, user);
        view(e, user, "sku2", 1, user);
    }
    struct tl_engine_metrics m;
    tl_engine_metrics(e, &m);
    cr_assert_leq(m.profiles_in_memory, 16);
    json_t *p = profile(e, TL_DEFAULT_SHOP, "user0"); /* evicted long ago */
    cr_assert_not_null(p);
    cr_assert_eq(views_of(p), 2);
    json_decref(p);
    cr_assert_eq(tl_engine_checkpoint(e), TL_OK);
    for (int u = 0; u < 100; u++) {
        snprintf(user, sizeof user, "user%d", u);
        view(e, user, "sku3", 2, user);
    }
    crash(e);
    e = open_engine(16);
    for (int u = 0; u < 100; u += 7) {
        snprintf(user, sizeof user, "user%d", u);
        p = profile(e, TL_DEFAULT_SHOP, user);
        cr_assert_not_null(p, "%s", user);
        cr_assert_eq(views_of(p), 3, "%s has %ld views", user, views_of(p));
        json_decref(p);
    }
    tl_engine_close(e);
}

/* 5,000 shoppers in memory: the checkpoint serializes them on two threads
 * (checkpoint.c, CKPT_PAR_MIN); every one must be in the snapshot exactly
 * once, as the crash afterwards leaves nothing but the snapshot to read. */
Test(engine, a_large_checkpoint_keeps_every_profile, .init = setup, .fini = teardown)
{
    struct tl_engine *e = open_engine(10000);
    enum { USERS = 5000 };
    struct tl_buf body;
    tl_buf_init(&body, 0);
    for (int u = 0; u < USERS; u++) {
        tl_buf_printf(&body, "{\"type\":\"product_view\",\"user_id\":\"p%d\",\"item_id\":\"sku%d\"}\n", u, u % 7);
        if (u % 1000 == 999 || u == USERS - 1) {
            json_decref(ingest(e, TL_DEFAULT_SHOP, body.data, TL_OK));
            tl_buf_reset(&body);
        }
    }
    tl_buf_free(&body);
    struct tl_engine_metrics m;
    tl_engine_metrics(e, &m);
    cr_assert_geq(m.profiles_in_memory, USERS, "above the threshold of the parallel path");
    cr_assert_eq(tl_engine_checkpoint(e), TL_OK);
    crash(e); /* the snapshot, and no event after it */
    e = open_engine(10000);
    char user[16];
    for (int u = 0; u < USERS; u++) {
        snprintf(user, sizeof user, "p%d", u);
        json_t *p = profile(e, TL_DEFAULT_SHOP, user);
        cr_assert_not_null(p, "%s", user);
        cr_assert_eq(views_of(p), 1, "%s has %ld views", user, views_of(p));
        json_decref(p);
    }
    tl_engine_close(e);
}

static int count_row(void *ctx, uint32_t shop_id, const char *key, const void *blob, size_t len)
{
    (void)shop_id, (void)key, (void)blob, (void)len;
    (*(long *)ctx)++;
    return 0;
}

/* 70,000 shoppers, 40,000 in memory: the checkpoint merges the blobs of the
 * 30,000 evicted ones with those that its two threads serialize (keys
 * handed over; a shopper evicted and then changed again is in both, and
 * the newer blob wins), and sorts the 70,000 on two threads
 * (checkpoint.c, SORT_PAR_MIN). Every shopper is stored exactly once, with
 * the right state, as the crash afterwards leaves only the snapshot. */
Test(engine, a_checkpoint_merging_evicted_and_sorting_on_two_threads_keeps_every_profile, .init = setup,
     .fini = teardown)
{
    enum { USERS = 70000, AGAIN = 1000 };
    struct tl_engine *e = open_engine(40000);
    struct tl_buf body;
    tl_buf_init(&body, 0);
    for (int u = 0; u < USERS + AGAIN; u++) { /* the first AGAIN shoppers (evicted by then) come back */
        tl_buf_printf(&body, "{\"type\":\"product_view\",\"user_id\":\"q%d\",\"item_id\":\"sku%d\"}\n", u % USERS,
                      u / USERS);
        if (u % 5000 == 4999 || u == USERS + AGAIN - 1) {
            json_decref(ingest(e, TL_DEFAULT_SHOP, body.data, TL_OK));
            tl_buf_reset(&body);
        }
    }
    tl_buf_free(&body);
    cr_assert_eq(tl_engine_checkpoint(e), TL_OK);
    crash(e);
    e = open_engine(40000);
    long rows = 0;
    cr_assert_eq(e->ops->profile_scan(e->rst, count_row, &rows), TL_OK);
    cr_assert_eq(rows, USERS, "%ld profile rows", rows);
    char user[16];
    for (int u = 0; u < USERS; u += u < AGAIN + 10 ? 1 : 97) {
        snprintf(user, sizeof user, "q%d", u);
        json_t *p = profile(e, TL_DEFAULT_SHOP, user);
        cr_assert_not_null(p, "%s", user);
        cr_assert_eq(views_of(p), u < AGAIN ? 2 : 1, "%s has %ld views", user, views_of(p));
        json_decref(p);
    }
    tl_engine_close(e);
}

Test(engine, bad_batch_stores_nothing_partial_stores_valid, .init = setup, .fini = teardown)
{
    struct tl_engine *e = open_engine(1000);
    const char *batch = "[{\"type\":\"product_view\",\"user_id\":\"u\",\"item_id\":\"a\"},"
                        "{\"type\":\"product_view\",\"user_id\":\"u\"},"
                        "{\"type\":\"nope\",\"user_id\":\"u\"}]";
    json_t *r = ingest(e, TL_DEFAULT_SHOP, batch, TL_EINVAL);
    cr_assert_eq(json_array_size(json_object_get(r, "rejected")), 2);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(json_object_get(r, "rejected"), 0), "index")), 1);
    json_decref(r);
    cr_assert_null(profile(e, TL_DEFAULT_SHOP, "u"), "nothing of a rejected batch is applied");

    struct tl_buf out;
    tl_buf_init(&out, 0);
    struct tl_err err;
    cr_assert_eq(tl_engine_ingest_events(e, TL_DEFAULT_SHOP, batch, strlen(batch), 1, &out, &err), TL_OK);
    r = json_loads(out.data, 0, NULL);
    cr_assert_eq(json_integer_value(json_object_get(r, "accepted")), 1);
    cr_assert_eq(json_array_size(json_object_get(r, "rejected")), 2);
    json_decref(r);
    tl_buf_free(&out);
    tl_engine_close(e);
}

Test(engine, identify_merges_and_routes_later_events, .init = setup, .fini = teardown)
{
    struct tl_engine *e = open_engine(1000);
    json_decref(
        ingest(e, TL_DEFAULT_SHOP, "{\"type\":\"product_view\",\"anonymous_id\":\"anon\",\"item_id\":\"x\"}", TL_OK));
    json_decref(
        ingest(e, TL_DEFAULT_SHOP, "{\"type\":\"product_view\",\"user_id\":\"cust\",\"item_id\":\"y\"}", TL_OK));
    const char *idb = "{\"anonymous_id\":\"anon\",\"user_id\":\"cust\"}";
    struct tl_buf out;
    tl_buf_init(&out, 0);
    struct tl_err err;
    cr_assert_eq(tl_engine_identify(e, TL_DEFAULT_SHOP, idb, strlen(idb), &out, &err), TL_OK);
    cr_assert(strstr(out.data, "\"merged\":true"), "%s", out.data);
    tl_buf_free(&out);
    /* A later anonymous event reaches the customer's profile. */
    json_decref(
        ingest(e, TL_DEFAULT_SHOP, "{\"type\":\"product_view\",\"anonymous_id\":\"anon\",\"item_id\":\"z\"}", TL_OK));
    json_t *p = profile(e, TL_DEFAULT_SHOP, "cust");
    cr_assert_eq(views_of(p), 3);
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(p, "anonymous_ids"), 0)), "anon");
    json_decref(p);
    crash(e);
    e = open_engine(1000);
    p = profile(e, TL_DEFAULT_SHOP, "cust");
    cr_assert_eq(views_of(p), 3, "after replay: %ld", views_of(p));
    json_decref(p);
    tl_engine_close(e);
}

static json_t *recs(struct tl_engine *e, uint32_t shop, const char *type, const char *user, const char *country)
{
    struct tl_rec_query q = {.type = type, .user_id = user, .country = country, .limit = 10};
    struct tl_buf out;
    tl_buf_init(&out, 0);
    struct tl_err err;
    enum tl_rc rc = tl_engine_recommend(e, shop, &q, &out, &err);
    cr_assert_eq(rc, TL_OK, "%s", err.msg);
    json_t *j = json_loads(out.data, 0, NULL);
    tl_buf_free(&out);
    return j;
}

static void put_items(struct tl_engine *e, uint32_t shop, const char *body)
{
    struct tl_buf out;
    tl_buf_init(&out, 0);
    struct tl_err err;
    cr_assert_eq(tl_engine_put_items(e, shop, body, strlen(body), 0, &out, &err), TL_OK, "%s", err.msg);
    tl_buf_free(&out);
}

Test(engine, recommendations_follow_serving_rules_and_shop_isolation, .init = setup, .fini = teardown)
{
    struct tl_engine *e = open_engine(1000);
    put_items(e, TL_DEFAULT_SHOP,
              "[{\"id\":\"a\",\"title\":\"A\",\"price\":5},{\"id\":\"b\",\"title\":\"B\",\"price\":6},"
              "{\"id\":\"hidden\",\"title\":\"H\",\"price\":7,\"visible\":false},"
              "{\"id\":\"gone\",\"title\":\"G\",\"price\":7,\"available\":false},"
              "{\"id\":\"free\",\"title\":\"F\",\"price\":0}]");
    const char *ids[] = {"a", "b", "hidden", "gone", "free", "a", "b", "a"};
    for (int i = 0; i < 8; i++) {
        char body[160];
        snprintf(body, sizeof body, "{\"type\":\"product_view\",\"user_id\":\"v%d\",\"item_id\":\"%s\"}", i, ids[i]);
        json_decref(ingest(e, TL_DEFAULT_SHOP, body, TL_OK));
    }
    json_t *r = recs(e, TL_DEFAULT_SHOP, "popular", NULL, NULL);
    json_t *items = json_object_get(r, "items");
    cr_assert_eq(json_array_size(items), 2, "only servable items");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(items, 0), "id")), "a");
    cr_assert_not_null(json_object_get(r, "recommendation_id"));
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(json_array_get(items, 0), "reason"), "model")),
                     "popular");
    json_decref(r);

    /* recently_viewed excludes purchased items. */
    json_decref(
        ingest(e, TL_DEFAULT_SHOP, "{\"type\":\"product_view\",\"user_id\":\"buyer\",\"item_id\":\"a\"}", TL_OK));
    json_decref(
        ingest(e, TL_DEFAULT_SHOP, "{\"type\":\"product_view\",\"user_id\":\"buyer\",\"item_id\":\"b\"}", TL_OK));
    json_decref(ingest(e, TL_DEFAULT_SHOP,
                       "{\"type\":\"purchase\",\"user_id\":\"buyer\",\"items\":[{\"item_id\":\"b\",\"quantity\":1,"
                       "\"price\":6}]}",
                       TL_OK));
    r = recs(e, TL_DEFAULT_SHOP, "recently_viewed", "buyer", NULL);
    items = json_object_get(r, "items");
    cr_assert_eq(json_array_size(items), 1);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(items, 0), "id")), "a");
    json_decref(r);

    tl_engine_close(e);
}

Test(engine, a_shop_never_sees_another_shops_data, .init = setup, .fini = teardown)
{
    struct tailor_options o = {.db_path = db};
    struct tailor *t;
    struct tailor_error terr;
    cr_assert_eq(tailor_open(&o, &t, &terr), TL_OK, "%s", terr.msg);
    uint32_t other;
    cr_assert_eq(tailor_shop_create(t, "other", &other, &terr), TL_OK, "%s", terr.msg);
    cr_assert_neq(other, TL_DEFAULT_SHOP);
    cr_assert_eq(tailor_shop_create(t, "other", &other, &terr), TL_EEXIST);
    struct tl_engine *e = tl_facade_engine(t);
    put_items(e, other, "[{\"id\":\"secret-sku\",\"title\":\"Theirs\",\"price\":9}]");
    json_decref(
        ingest(e, other, "{\"type\":\"product_view\",\"user_id\":\"shared-id\",\"item_id\":\"secret-sku\"}", TL_OK));
    struct tl_buf out;
    tl_buf_init(&out, 0);
    struct tl_err err;
    cr_assert_eq(tl_engine_get_item(e, TL_DEFAULT_SHOP, "secret-sku", 0, &out, &err), TL_ENOTFOUND);
    cr_assert_eq(tl_engine_get_item(e, other, "secret-sku", 0, &out, &err), TL_OK);
    tl_buf_free(&out);
    cr_assert_null(profile(e, TL_DEFAULT_SHOP, "shared-id"));
    json_t *p = profile(e, other, "shared-id");
    cr_assert_not_null(p);
    json_decref(p);
    json_t *r = recs(e, TL_DEFAULT_SHOP, "popular", NULL, NULL);
    cr_assert_eq(json_array_size(json_object_get(r, "items")), 0);
    json_decref(r);
    r = recs(e, other, "popular", NULL, NULL);
    cr_assert_eq(json_array_size(json_object_get(r, "items")), 1);
    json_decref(r);
    tailor_close(t);
}

Test(engine, popular_leaves_out_the_shoppers_cart_and_says_its_scope, .init = setup, .fini = teardown)
{
    struct tl_engine *e = open_engine(1000);
    put_items(e, TL_DEFAULT_SHOP,
              "[{\"id\":\"a\",\"title\":\"A\",\"price\":5},{\"id\":\"b\",\"title\":\"B\",\"price\":6}]");
    json_decref(ingest(e, TL_DEFAULT_SHOP,
                       "[{\"type\":\"product_view\",\"user_id\":\"x\",\"item_id\":\"a\",\"country\":\"NO\"},"
                       "{\"type\":\"product_view\",\"user_id\":\"y\",\"item_id\":\"a\"},"
                       "{\"type\":\"add_to_cart\",\"user_id\":\"shopper\",\"item_id\":\"a\"},"
                       "{\"type\":\"product_view\",\"user_id\":\"z\",\"item_id\":\"b\"}]",
                       TL_OK));
    json_t *r = recs(e, TL_DEFAULT_SHOP, "popular", "shopper", NULL);
    json_t *items = json_object_get(r, "items");
    cr_assert_eq(json_array_size(items), 1, "the cart's item is left out");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(items, 0), "id")), "b");
    json_decref(r);
    r = recs(e, TL_DEFAULT_SHOP, "popular", NULL, "no");
    cr_assert_str_eq(json_string_value(json_object_get(r, "scope")), "global", "one event is below the threshold");
    json_t *reason = json_object_get(json_array_get(json_object_get(r, "items"), 0), "reason");
    cr_assert_str_eq(json_string_value(json_object_get(reason, "scope")), "global");
    cr_assert_str_eq(json_string_value(json_object_get(reason, "country")), "NO");
    json_decref(r);
    tl_engine_close(e);
}

struct racer {
    struct tl_engine *e;
    const char *body;
    long accepted, duplicates;
};

static void *race_post(void *arg)
{
    struct racer *r = arg;
    struct tl_buf out;
    tl_buf_init(&out, 0);
    struct tl_err err;
    if (tl_engine_ingest_events(r->e, TL_DEFAULT_SHOP, r->body, strlen(r->body), 0, &out, &err) == TL_OK) {
        json_t *j = json_loads(out.data, 0, NULL);
        r->accepted = (long)json_integer_value(json_object_get(j, "accepted"));
        r->duplicates = (long)json_integer_value(json_object_get(j, "duplicates"));
        json_decref(j);
    }
    tl_buf_free(&out);
    return NULL;
}

Test(engine, concurrent_duplicates_are_stored_once, .init = setup, .fini = teardown)
{
    struct tl_engine *e = open_engine(1000);
    /* Two batches with the same 40 ids in opposite orders, posted by 4
     * threads at once: claims in hash order cannot deadlock, and every id
     * is stored exactly once. */
    struct tl_buf a, b;
    tl_buf_init(&a, 0);
    tl_buf_init(&b, 0);
    tl_buf_putc(&a, '[');
    tl_buf_putc(&b, '[');
    for (int i = 0; i < 40; i++) {
        tl_buf_printf(&a, "%s{\"type\":\"product_view\",\"user_id\":\"r\",\"item_id\":\"x\",\"event_id\":\"same-%d\"}",
                      i ? "," : "", i);
        tl_buf_printf(&b, "%s{\"type\":\"product_view\",\"user_id\":\"r\",\"item_id\":\"x\",\"event_id\":\"same-%d\"}",
                      i ? "," : "", 39 - i);
    }
    tl_buf_putc(&a, ']');
    tl_buf_putc(&b, ']');
    struct racer r[4] = {{e, a.data, 0, 0}, {e, b.data, 0, 0}, {e, a.data, 0, 0}, {e, b.data, 0, 0}};
    pthread_t th[4];
    for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, race_post, &r[i]);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    long acc = 0, dup = 0;
    for (int i = 0; i < 4; i++) {
        acc += r[i].accepted;
        dup += r[i].duplicates;
    }
    cr_assert_eq(acc, 40, "accepted %ld", acc);
    cr_assert_eq(dup, 120, "duplicates %ld", dup);
    json_t *p = profile(e, TL_DEFAULT_SHOP, "r");
    cr_assert_eq(views_of(p), 40);
    json_decref(p);
    tl_buf_free(&a);
    tl_buf_free(&b);
    tl_engine_close(e);
}

/* An import's idempotency keys count as stored once it commits, whatever
 * the number of imports in one process: the engine remembers the last
 * TL_DEDUPE_DONE_MAX committed imports and folds them into the set after
 * that. A key it forgot would make a later claim wait for ever. */
Test(engine, imported_event_ids_stay_known_across_many_imports, .init = setup, .fini = teardown)
{
    struct tailor_options o = {.db_path = db};
    struct tailor *t;
    struct tailor_error terr;
    cr_assert_eq(tailor_open(&o, &t, &terr), TL_OK, "%s", terr.msg);
    char path[160];
    snprintf(path, sizeof path, "%s/ev.ndjson", dir);
    enum { IMPORTS = TL_DEDUPE_DONE_MAX + 3 };
    for (int k = 0; k < IMPORTS; k++) {
        FILE *f = fopen(path, "w");
        cr_assert_not_null(f);
        for (int i = 0; i <= k; i++) /* the ids of every earlier import, and one new */
            fprintf(f, "{\"type\":\"product_view\",\"user_id\":\"m\",\"item_id\":\"x\",\"event_id\":\"imp-%d\"}\n", i);
        fclose(f);
        struct tailor_import_summary sum;
        cr_assert_eq(tailor_import(t, TL_DEFAULT_SHOP, "events", NULL, path, 0, NULL, NULL, &sum, &terr), TL_OK, "%s",
                     terr.msg);
        cr_assert_eq(sum.records, 1, "import %d stored %ld", k, (long)sum.records);
        cr_assert_eq(sum.duplicates, (uint64_t)k, "import %d: %ld duplicates", k, (long)sum.duplicates);
        /* the API sees each imported id as stored */
        char body[160];
        snprintf(body, sizeof body,
                 "{\"type\":\"product_view\",\"user_id\":\"m\",\"item_id\":\"x\",\"event_id\":\"imp-%d\"}", k / 2);
        json_t *r = ingest(tl_facade_engine(t), TL_DEFAULT_SHOP, body, TL_OK);
        cr_assert_eq(json_integer_value(json_object_get(r, "duplicates")), 1, "after import %d", k);
        json_decref(r);
    }
    json_t *p = profile(tl_facade_engine(t), TL_DEFAULT_SHOP, "m");
    cr_assert_eq(views_of(p), IMPORTS);
    json_decref(p);
    tailor_close(t);
}

Test(engine, bought_together_and_cart_come_from_shared_orders, .init = setup, .fini = teardown)
{
    struct tl_engine *e = open_engine(1000);
    put_items(e, TL_DEFAULT_SHOP,
              "[{\"id\":\"mug\",\"title\":\"Mug\",\"price\":5},{\"id\":\"tea\",\"title\":\"Tea\",\"price\":3},"
              "{\"id\":\"spoon\",\"title\":\"Spoon\",\"price\":1},{\"id\":\"lamp\",\"title\":\"Lamp\",\"price\":30},"
              "{\"id\":\"hidden\",\"title\":\"H\",\"price\":2,\"visible\":false}]");
    /* mug+tea in 3 orders, mug+spoon in 2, mug+hidden in 3, lamp alone. */
    const char *orders[] = {"mug\",\"tea\",\"hidden", "mug\",\"tea\",\"spoon", "mug\",\"tea\",\"hidden",
                            "mug\",\"spoon\",\"hidden", "lamp"};
    for (int i = 0; i < 5; i++) {
        char body[512], items[256] = "";
        const char *p = orders[i];
        /* expand "a","b" into line objects */
        char copy[128];
        snprintf(copy, sizeof copy, "%s", p);
        char *tok = strtok(copy, "\",");
        while (tok) {
            size_t used = strlen(items);
            snprintf(items + used, sizeof items - used, "%s{\"item_id\":\"%s\",\"quantity\":1,\"price\":1}",
                     used ? "," : "", tok);
            tok = strtok(NULL, "\",");
        }
        snprintf(body, sizeof body, "{\"type\":\"purchase\",\"user_id\":\"b%d\",\"order_id\":\"o%d\",\"items\":[%s]}",
                 i, i, items);
        json_decref(ingest(e, TL_DEFAULT_SHOP, body, TL_OK));
    }
    struct tl_rec_query q = {.type = "bought_together", .item_id = "mug", .limit = 10};
    struct tl_buf out;
    tl_buf_init(&out, 0);
    struct tl_err err;
    cr_assert_eq(tl_engine_recommend(e, TL_DEFAULT_SHOP, &q, &out, &err), TL_OK, "%s", err.msg);
    json_t *r = json_loads(out.data, 0, NULL);
    json_t *items = json_object_get(r, "items");
    cr_assert_eq(json_array_size(items), 2, "tea and spoon (hidden is never shown, lamp never shared an order): %s",
                 out.data);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(items, 0), "id")), "tea");
    json_t *reason = json_object_get(json_array_get(items, 0), "reason");
    cr_assert_str_eq(json_string_value(json_object_get(reason, "model")), "bought_together");
    cr_assert_str_eq(json_string_value(json_object_get(reason, "anchor")), "mug");
    cr_assert_eq(json_integer_value(json_object_get(reason, "orders")), 3);
    json_decref(r);
    tl_buf_reset(&out);

    /* Cart complements: the cart's items are anchors and never recommended. */
    json_decref(ingest(e, TL_DEFAULT_SHOP,
                       "[{\"type\":\"add_to_cart\",\"anonymous_id\":\"c\",\"item_id\":\"mug\"},"
                       "{\"type\":\"add_to_cart\",\"anonymous_id\":\"c\",\"item_id\":\"tea\"}]",
                       TL_OK));
    struct tl_rec_query qc = {.type = "cart", .anonymous_id = "c", .limit = 10};
    cr_assert_eq(tl_engine_recommend(e, TL_DEFAULT_SHOP, &qc, &out, &err), TL_OK, "%s", err.msg);
    r = json_loads(out.data, 0, NULL);
    items = json_object_get(r, "items");
    cr_assert_eq(json_array_size(items), 1, "%s", out.data);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(items, 0), "id")), "spoon");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(json_array_get(items, 0), "reason"), "model")),
                     "cart");
    json_decref(r);
    tl_buf_reset(&out);

    /* bought_together without item_id is a clear error; counts survive a restart (rebuilt from orders). */
    struct tl_rec_query qb = {.type = "bought_together", .limit = 10};
    cr_assert_eq(tl_engine_recommend(e, TL_DEFAULT_SHOP, &qb, &out, &err), TL_EINVAL);
    cr_assert_str_eq(err.field, "item_id");
    tl_engine_close(e);
    e = open_engine(1000);
    tl_buf_reset(&out);
    cr_assert_eq(tl_engine_recommend(e, TL_DEFAULT_SHOP, &q, &out, &err), TL_OK, "%s", err.msg);
    r = json_loads(out.data, 0, NULL);
    cr_assert_eq(json_array_size(json_object_get(r, "items")), 2, "after restart: %s", out.data);
    json_decref(r);
    tl_buf_free(&out);
    tl_engine_close(e);
}

static json_t *recs_item(struct tl_engine *e, const char *type, const char *item)
{
    struct tl_rec_query q = {.type = type, .item_id = item, .limit = 10};
    struct tl_buf out;
    tl_buf_init(&out, 0);
    struct tl_err err;
    cr_assert_eq(tl_engine_recommend(e, TL_DEFAULT_SHOP, &q, &out, &err), TL_OK, "%s", err.msg);
    json_t *j = json_loads(out.data, 0, NULL);
    tl_buf_free(&out);
    return j;
}

static void view_at(struct tl_engine *e, const char *user, const char *item, const char *ts)
{
    char body[256];
    snprintf(body, sizeof body,
             "{\"type\":\"product_view\",\"user_id\":\"%s\",\"item_id\":\"%s\",\"timestamp\":\"%s\"}", user, item, ts);
    json_decref(ingest(e, TL_DEFAULT_SHOP, body, TL_OK));
}

Test(engine, also_viewed_counts_sessions_and_also_bought_counts_customers, .init = setup, .fini = teardown)
{
    struct tl_engine *e = open_engine(1000);
    put_items(e, TL_DEFAULT_SHOP,
              "[{\"id\":\"A\",\"title\":\"A\",\"price\":1},{\"id\":\"B\",\"title\":\"B\",\"price\":1},"
              "{\"id\":\"C\",\"title\":\"C\",\"price\":1}]");
    view_at(e, "s1", "A", "2026-01-01T10:00:00Z");
    view_at(e, "s1", "B", "2026-01-01T10:01:00Z");
    view_at(e, "s1", "A", "2026-01-01T10:02:00Z"); /* repeat in the session: counts once */
    view_at(e, "s1", "C", "2026-01-01T10:03:00Z");
    view_at(e, "s2", "B", "2026-01-01T11:00:00Z");
    view_at(e, "s2", "A", "2026-01-01T11:05:00Z");
    view_at(e, "s3", "A", "2026-01-01T12:00:00Z");
    view_at(e, "s3", "C", "2026-01-01T12:31:00Z"); /* 31 minutes later: another session */
    for (int round = 0; round < 2; round++) {
        json_t *r = recs_item(e, "also_viewed", "A");
        json_t *items = json_object_get(r, "items");
        cr_assert_eq(json_array_size(items), 1, "round %d: %s", round, json_dumps(r, 0));
        json_t *first = json_array_get(items, 0);
        cr_assert_str_eq(json_string_value(json_object_get(first, "id")), "B");
        json_t *reason = json_object_get(first, "reason");
        cr_assert_str_eq(json_string_value(json_object_get(reason, "model")), "also_viewed");
        cr_assert_eq(json_integer_value(json_object_get(reason, "sessions")), 2);
        json_decref(r);
        if (round == 0) { /* rebuilt from the stored events after a restart */
            tl_engine_close(e);
            e = open_engine(1000);
        }
    }
    /* c1 buys A, later B; c2 buys A and B together. */
    json_decref(ingest(e, TL_DEFAULT_SHOP,
                       "[{\"type\":\"purchase\",\"user_id\":\"c1\",\"items\":[{\"item_id\":\"A\",\"price\":1}]},"
                       "{\"type\":\"purchase\",\"user_id\":\"c1\",\"items\":[{\"item_id\":\"B\",\"price\":1}]},"
                       "{\"type\":\"purchase\",\"user_id\":\"c2\",\"items\":[{\"item_id\":\"A\",\"price\":1},"
                       "{\"item_id\":\"B\",\"price\":1}]}]",
                       TL_OK));
    json_t *r = recs_item(e, "also_bought", "A");
    json_t *items = json_object_get(r, "items");
    cr_assert_eq(json_array_size(items), 1);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(json_array_get(items, 0), "reason"), "customers")),
                 2);
    json_decref(r);
    r = recs_item(e, "bought_together", "A");
    cr_assert_eq(json_array_size(json_object_get(r, "items")), 0, "one shared order is below min support 2");
    json_decref(r);
    tl_engine_close(e);
}

Test(engine, items_already_bought_are_not_recommended_unless_consumable, .init = setup, .fini = teardown)
{
    for (int rebuy = 0; rebuy < 2; rebuy++) {
        struct tl_config cfg;
        tl_config_defaults(&cfg);
        snprintf(cfg.db_path, sizeof cfg.db_path, "%s/r%d.db", dir, rebuy);
        cfg.sync_full = 0;
        if (rebuy) snprintf(cfg.rebuy_categories, sizeof cfg.rebuy_categories, "Garden,Pantry");
        struct tl_engine *e = NULL;
        struct tl_err err;
        cr_assert_eq(tl_engine_open(&cfg, &e, &err), TL_OK, "%s", err.msg);
        put_items(e, TL_DEFAULT_SHOP,
                  "[{\"id\":\"coffee\",\"title\":\"Coffee\",\"price\":5,\"category\":\"Pantry > Drinks\"},"
                  "{\"id\":\"mug\",\"title\":\"Mug\",\"price\":8,\"category\":\"Kitchen\"}]");
        json_decref(
            ingest(e, TL_DEFAULT_SHOP,
                   "[{\"type\":\"purchase\",\"user_id\":\"buyer\",\"items\":[{\"item_id\":\"coffee\",\"price\":5},"
                   "{\"item_id\":\"mug\",\"price\":8}]},"
                   "{\"type\":\"product_view\",\"user_id\":\"other\",\"item_id\":\"mug\"}]",
                   TL_OK));
        json_t *r = recs(e, TL_DEFAULT_SHOP, "popular", "buyer", NULL);
        json_t *items = json_object_get(r, "items");
        if (!rebuy) {
            cr_assert_eq(json_array_size(items), 0, "both were bought: %s", json_dumps(r, 0));
        } else {
            cr_assert_eq(json_array_size(items), 1, "coffee is a consumable: %s", json_dumps(r, 0));
            cr_assert_str_eq(json_string_value(json_object_get(json_array_get(items, 0), "id")), "coffee");
        }
        json_decref(r);
        r = recs(e, TL_DEFAULT_SHOP, "popular", "someone-else", NULL);
        cr_assert_eq(json_array_size(json_object_get(r, "items")), 2, "other shoppers see both");
        json_decref(r);
        tl_engine_close(e);
    }
}
