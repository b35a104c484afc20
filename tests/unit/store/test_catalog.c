/* Tests for src/store/catalog.c: upsert/find/get/delete, dense stable
 * indexes, stubs created by intern (never served, never counted), the
 * servability rules (hidden, unavailable, stock 0, price NaN or <= 0),
 * created_ms surviving updates, strings copied, allocation failure, and
 * concurrent readers with a writer (pthreads). */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "store/catalog.h"

static struct tl_item item(const char *id, double price)
{
    struct tl_item it = {.id = id,
                         .title = "Title",
                         .price = price,
                         .currency = "GBP",
                         .category = "A > B",
                         .available = 1,
                         .stock = -1,
                         .visible = 1,
                         .created_ms = 1000,
                         .updated_ms = 1000};
    return it;
}

Test(catalog, upsert_find_get)
{
    struct tl_catalog *c = tl_catalog_new();
    cr_assert_not_null(c);
    cr_assert_eq(tl_catalog_find(c, "a"), TL_CAT_NONE);
    cr_assert_eq(tl_catalog_count(c), 0);
    struct tl_item a = item("a", 5), b = item("b", 7);
    a.description = "desc";
    a.brand = "Acme";
    a.tags_json = "[\"x\"]";
    uint32_t ia = 99, ib = 99;
    cr_assert_eq(tl_catalog_upsert(c, &a, &ia), TL_OK);
    cr_assert_eq(tl_catalog_upsert(c, &b, &ib), TL_OK);
    cr_assert_eq(ia, 0);
    cr_assert_eq(ib, 1);
    cr_assert_eq(tl_catalog_find(c, "a"), ia);
    cr_assert_eq(tl_catalog_find(c, "b"), ib);
    cr_assert_eq(tl_catalog_count(c), 2);
    tl_catalog_rdlock(c);
    cr_assert_eq(tl_catalog_find_locked(c, "b"), ib);
    cr_assert_eq(tl_catalog_find_locked(c, "zz"), TL_CAT_NONE);
    const struct tl_item *g = tl_catalog_get(c, ia);
    cr_assert_not_null(g);
    cr_assert_str_eq(g->id, "a");
    cr_assert_str_eq(g->title, "Title");
    cr_assert_str_eq(g->description, "desc");
    cr_assert_str_eq(g->brand, "Acme");
    cr_assert_str_eq(g->tags_json, "[\"x\"]");
    cr_assert_null(g->url, "absent strings stay NULL");
    cr_assert_null(g->attrs_json);
    cr_assert_float_eq(g->price, 5, 1e-12);
    cr_assert_str_eq(tl_catalog_id(c, ib), "b");
    cr_assert_null(tl_catalog_get(c, 2), "out of range");
    cr_assert_null(tl_catalog_get(c, TL_CAT_NONE));
    cr_assert_null(tl_catalog_id(c, 2));
    cr_assert_eq(tl_catalog_size(c), 2);
    tl_catalog_unlock(c);
    /* idx may be NULL. */
    struct tl_item d = item("d", 1);
    cr_assert_eq(tl_catalog_upsert(c, &d, NULL), TL_OK);
    cr_assert_eq(tl_catalog_find(c, "d"), 2);
    tl_catalog_free(c);
    tl_catalog_free(NULL);
}

Test(catalog, strings_are_copied)
{
    struct tl_catalog *c = tl_catalog_new();
    char id[16], title[16];
    snprintf(id, sizeof id, "sku");
    snprintf(title, sizeof title, "Mug");
    struct tl_item it = item(id, 3);
    it.title = title;
    uint32_t i;
    cr_assert_eq(tl_catalog_upsert(c, &it, &i), TL_OK);
    snprintf(id, sizeof id, "XXX");
    snprintf(title, sizeof title, "YYY");
    tl_catalog_rdlock(c);
    cr_assert_str_eq(tl_catalog_get(c, i)->id, "sku");
    cr_assert_str_eq(tl_catalog_get(c, i)->title, "Mug");
    tl_catalog_unlock(c);
    cr_assert_eq(tl_catalog_find(c, "sku"), i);
    tl_catalog_free(c);
}

Test(catalog, update_replaces_and_keeps_index)
{
    struct tl_catalog *c = tl_catalog_new();
    struct tl_item it = item("a", 5);
    uint32_t i1, i2;
    cr_assert_eq(tl_catalog_upsert(c, &it, &i1), TL_OK);
    it.title = "New title";
    it.price = 6;
    it.visible = 0;
    cr_assert_eq(tl_catalog_upsert(c, &it, &i2), TL_OK);
    cr_assert_eq(i1, i2);
    cr_assert_eq(tl_catalog_count(c), 1, "an update does not add");
    tl_catalog_rdlock(c);
    cr_assert_eq(tl_catalog_size(c), 1);
    cr_assert_str_eq(tl_catalog_get(c, i1)->title, "New title");
    cr_assert_eq(tl_catalog_get(c, i1)->visible, 0);
    tl_catalog_unlock(c);
    tl_catalog_free(c);
}

Test(catalog, created_ms_survives_updates)
{
    struct tl_catalog *c = tl_catalog_new();
    struct tl_item it = item("a", 5);
    it.created_ms = 1000;
    it.updated_ms = 1000;
    uint32_t i;
    cr_assert_eq(tl_catalog_upsert(c, &it, &i), TL_OK);
    it.created_ms = 5000; /* a later import that stamps "now" as created */
    it.updated_ms = 5000;
    cr_assert_eq(tl_catalog_upsert(c, &it, NULL), TL_OK);
    tl_catalog_rdlock(c);
    cr_assert_eq(tl_catalog_get(c, i)->created_ms, 1000);
    cr_assert_eq(tl_catalog_get(c, i)->updated_ms, 5000);
    tl_catalog_unlock(c);
    it.created_ms = 0; /* unknown */
    cr_assert_eq(tl_catalog_upsert(c, &it, NULL), TL_OK);
    tl_catalog_rdlock(c);
    cr_assert_eq(tl_catalog_get(c, i)->created_ms, 1000);
    tl_catalog_unlock(c);
    it.created_ms = 500; /* an earlier creation time is believed */
    cr_assert_eq(tl_catalog_upsert(c, &it, NULL), TL_OK);
    tl_catalog_rdlock(c);
    cr_assert_eq(tl_catalog_get(c, i)->created_ms, 500);
    tl_catalog_unlock(c);
    tl_catalog_free(c);
}

Test(catalog, delete_then_reupsert)
{
    struct tl_catalog *c = tl_catalog_new();
    struct tl_item it = item("a", 5), b = item("b", 5);
    uint32_t i, j;
    cr_assert_eq(tl_catalog_upsert(c, &it, &i), TL_OK);
    cr_assert_eq(tl_catalog_upsert(c, &b, &j), TL_OK);
    cr_assert_eq(tl_catalog_delete(c, "a"), TL_OK);
    cr_assert_eq(tl_catalog_delete(c, "a"), TL_ENOTFOUND, "already deleted");
    cr_assert_eq(tl_catalog_delete(c, "never"), TL_ENOTFOUND);
    cr_assert_eq(tl_catalog_count(c), 1);
    cr_assert_eq(tl_catalog_find(c, "a"), i, "the index stays reserved");
    tl_catalog_rdlock(c);
    cr_assert_null(tl_catalog_get(c, i));
    cr_assert_str_eq(tl_catalog_id(c, i), "a");
    cr_assert_not_null(tl_catalog_get(c, j));
    tl_catalog_unlock(c);
    uint32_t i2;
    cr_assert_eq(tl_catalog_upsert(c, &it, &i2), TL_OK);
    cr_assert_eq(i2, i, "same index after re-upsert");
    cr_assert_eq(tl_catalog_count(c), 2);
    tl_catalog_free(c);
}

Test(catalog, intern_creates_unservable_stub)
{
    struct tl_catalog *c = tl_catalog_new();
    uint32_t s, s2;
    cr_assert_eq(tl_catalog_intern(c, "seen-in-event", &s), TL_OK);
    cr_assert_eq(tl_catalog_intern(c, "seen-in-event", &s2), TL_OK);
    cr_assert_eq(s, s2, "intern is idempotent");
    cr_assert_eq(tl_catalog_find(c, "seen-in-event"), s);
    cr_assert_eq(tl_catalog_count(c), 0, "stubs are not counted as items");
    tl_catalog_rdlock(c);
    cr_assert_eq(tl_catalog_size(c), 1);
    cr_assert_null(tl_catalog_get(c, s), "a stub has no item");
    cr_assert_eq(tl_catalog_servable(tl_catalog_get(c, s)), 0);
    cr_assert_str_eq(tl_catalog_id(c, s), "seen-in-event");
    tl_catalog_unlock(c);
    cr_assert_eq(tl_catalog_delete(c, "seen-in-event"), TL_ENOTFOUND, "a stub is not an item");
    /* The catalog later learns the item: same index, now real. */
    struct tl_item it = item("seen-in-event", 3);
    uint32_t i;
    cr_assert_eq(tl_catalog_upsert(c, &it, &i), TL_OK);
    cr_assert_eq(i, s);
    cr_assert_eq(tl_catalog_count(c), 1);
    tl_catalog_rdlock(c);
    cr_assert(tl_catalog_servable(tl_catalog_get(c, i)));
    tl_catalog_unlock(c);
    /* Interning a known item returns its index. */
    cr_assert_eq(tl_catalog_intern(c, "seen-in-event", &s2), TL_OK);
    cr_assert_eq(s2, s);
    tl_catalog_free(c);
}

Test(catalog, servable_rules)
{
    struct tl_item ok = item("a", 1);
    cr_assert_eq(tl_catalog_servable(&ok), 1);
    cr_assert_eq(tl_catalog_servable(NULL), 0);
    struct tl_item t = ok;
    t.visible = 0;
    cr_assert_eq(tl_catalog_servable(&t), 0, "hidden");
    t = ok;
    t.available = 0;
    cr_assert_eq(tl_catalog_servable(&t), 0, "unavailable");
    t = ok;
    t.stock = 0;
    cr_assert_eq(tl_catalog_servable(&t), 0, "out of stock");
    t.stock = -1;
    cr_assert_eq(tl_catalog_servable(&t), 1, "unknown stock is servable");
    t.stock = 5;
    cr_assert_eq(tl_catalog_servable(&t), 1);
    t = ok;
    t.price = NAN;
    cr_assert_eq(tl_catalog_servable(&t), 0, "unknown price");
    t.price = 0;
    cr_assert_eq(tl_catalog_servable(&t), 0, "free");
    t.price = -2;
    cr_assert_eq(tl_catalog_servable(&t), 0, "negative price");
    t.price = 0.01;
    cr_assert_eq(tl_catalog_servable(&t), 1);
    t.price = INFINITY;
    cr_assert_eq(tl_catalog_servable(&t), 1, "price only needs to be > 0 and not NaN");
}

Test(catalog, many_items_dense_indexes)
{
    struct tl_catalog *c = tl_catalog_new();
    char id[32];
    for (uint32_t k = 0; k < 5000; k++) {
        snprintf(id, sizeof id, "item-%u", k);
        struct tl_item it = item(id, k + 1);
        uint32_t i;
        if (k % 3 == 0) {
            cr_assert_eq(tl_catalog_intern(c, id, &i), TL_OK);
        } else {
            cr_assert_eq(tl_catalog_upsert(c, &it, &i), TL_OK);
        }
        cr_assert_eq(i, k);
    }
    tl_catalog_rdlock(c);
    cr_assert_eq(tl_catalog_size(c), 5000);
    for (uint32_t k = 0; k < 5000; k++) {
        const struct tl_item *g = tl_catalog_get(c, k);
        snprintf(id, sizeof id, "item-%u", k);
        cr_assert_str_eq(tl_catalog_id(c, k), id);
        if (k % 3 == 0) {
            cr_assert_null(g);
        } else {
            cr_assert_not_null(g);
            cr_assert_str_eq(g->id, id);
            cr_assert_float_eq(g->price, k + 1, 1e-9);
        }
    }
    tl_catalog_unlock(c);
    cr_assert_eq(tl_catalog_count(c), 5000 - 1667);
    tl_catalog_free(c);
}

Test(catalog, free_releases_everything)
{
    long before = tl_alloc_live();
    struct tl_catalog *c = tl_catalog_new();
    char id[32];
    for (int k = 0; k < 3000; k++) {
        snprintf(id, sizeof id, "i%d", k);
        struct tl_item it = item(id, 1);
        cr_assert_eq(tl_catalog_upsert(c, &it, NULL), TL_OK);
        if (k % 2) cr_assert_eq(tl_catalog_upsert(c, &it, NULL), TL_OK);
        if (k % 5 == 0) cr_assert_eq(tl_catalog_delete(c, id), TL_OK);
    }
    tl_catalog_free(c);
    cr_assert_eq(tl_alloc_live(), before);
}

Test(catalog, allocation_failure_in_upsert)
{
    /* Make each allocation of a first upsert fail in turn: upsert reports
     * TL_ENOMEM, the catalog stays usable, nothing leaks and nothing
     * crashes (including tl_catalog_free afterwards). */
    long before = tl_alloc_live();
    for (long k = 0; k < 12; k++) {
        struct tl_catalog *c = tl_catalog_new();
        cr_assert_not_null(c);
        struct tl_item it = item("a", 1);
        uint32_t i = 0;
        tl_alloc_fail_after(k);
        enum tl_rc rc = tl_catalog_upsert(c, &it, &i);
        tl_alloc_fail_after(-1);
        cr_assert(rc == TL_OK || rc == TL_ENOMEM, "k=%ld rc=%d", k, rc);
        tl_catalog_rdlock(c);
        const struct tl_item *g = tl_catalog_get(c, 0);
        tl_catalog_unlock(c);
        if (rc == TL_OK) {
            cr_assert_not_null(g);
            cr_assert_eq(tl_catalog_count(c), 1);
        } else {
            cr_assert_null(g, "a failed upsert stores nothing (k=%ld)", k);
            cr_assert_eq(tl_catalog_count(c), 0);
        }
        /* Still usable. */
        struct tl_item b = item("b", 2);
        uint32_t ib;
        cr_assert_eq(tl_catalog_upsert(c, &b, &ib), TL_OK);
        tl_catalog_rdlock(c);
        cr_assert_not_null(tl_catalog_get(c, ib));
        tl_catalog_unlock(c);
        tl_catalog_free(c);
        cr_assert_eq(tl_alloc_live(), before, "leak after failure at allocation %ld", k);
    }
}

Test(catalog, allocation_failure_then_free_without_further_use)
{
    /* The items array allocation fails on the very first insert: the id
     * stays interned as a stub (catalog.c), and freeing the catalog right
     * away must still be safe. */
    for (long k = 0; k < 12; k++) {
        struct tl_catalog *c = tl_catalog_new();
        uint32_t i;
        tl_alloc_fail_after(k);
        enum tl_rc rc = tl_catalog_intern(c, "x", &i);
        tl_alloc_fail_after(-1);
        cr_assert(rc == TL_OK || rc == TL_ENOMEM);
        cr_assert_eq(tl_catalog_count(c), 0);
        tl_catalog_free(c);
    }
}

/* ---- concurrency ---- */

struct conc {
    struct tl_catalog *c;
    atomic_int stop;
    atomic_long reads;
    atomic_int bad;
};

#define CONC_ITEMS 500

static void *reader(void *arg)
{
    struct conc *s = arg;
    char id[32];
    unsigned k = 0;
    while (!atomic_load(&s->stop)) {
        k = (k * 1103515245u + 12345u) % CONC_ITEMS;
        snprintf(id, sizeof id, "c-%u", k);
        uint32_t idx = tl_catalog_find(s->c, id);
        tl_catalog_rdlock(s->c);
        uint32_t n = tl_catalog_size(s->c);
        for (uint32_t i = 0; i < n; i += 37) {
            const struct tl_item *it = tl_catalog_get(s->c, i);
            const char *cid = tl_catalog_id(s->c, i);
            if (!cid) atomic_store(&s->bad, 1);
            if (it) {
                /* The item is consistent: its id matches its index and its
                 * title encodes its price. */
                char want[48];
                snprintf(want, sizeof want, "p%.0f", it->price);
                if (strcmp(it->id, cid) != 0 || strcmp(it->title, want) != 0) atomic_store(&s->bad, 2);
            }
        }
        if (idx != TL_CAT_NONE) {
            const struct tl_item *it = tl_catalog_get(s->c, idx);
            if (it && strcmp(it->id, id) != 0) atomic_store(&s->bad, 3);
        }
        tl_catalog_unlock(s->c);
        (void)tl_catalog_count(s->c);
        atomic_fetch_add(&s->reads, 1);
        /* A short gap between "requests": glibc rwlocks prefer readers, so
         * readers that never pause can starve the writer for seconds. */
        nanosleep(&(struct timespec){0, 20000}, NULL);
    }
    return NULL;
}

Test(catalog, concurrent_readers_and_writer)
{
    struct conc s = {.c = tl_catalog_new()};
    cr_assert_not_null(s.c);
    pthread_t r[3];
    for (int i = 0; i < 3; i++) cr_assert_eq(pthread_create(&r[i], NULL, reader, &s), 0);
    char id[32], title[48];
    /* Start writing once the readers run, and keep writing until they have
     * overlapped the writer for a while (bounded in rounds). */
    for (int i = 0; i < 5000 && atomic_load(&s.reads) == 0; i++) nanosleep(&(struct timespec){0, 1000000}, NULL);
    for (int round = 0; round < 2000 && (round < 20 || atomic_load(&s.reads) < 300); round++) {
        for (unsigned k = 0; k < CONC_ITEMS; k++) {
            snprintf(id, sizeof id, "c-%u", k);
            double price = (double)(round * 1000 + (int)k + 1);
            snprintf(title, sizeof title, "p%.0f", price);
            struct tl_item it = item(id, price);
            it.title = title;
            if ((k + (unsigned)round) % 7 == 0)
                (void)tl_catalog_delete(s.c, id);
            else if ((k + (unsigned)round) % 11 == 0) {
                uint32_t i;
                cr_assert_eq(tl_catalog_intern(s.c, id, &i), TL_OK);
            } else
                cr_assert_eq(tl_catalog_upsert(s.c, &it, NULL), TL_OK);
        }
    }
    atomic_store(&s.stop, 1);
    for (int i = 0; i < 3; i++) pthread_join(r[i], NULL);
    cr_assert_eq(atomic_load(&s.bad), 0, "a reader saw an inconsistent item (%d)", atomic_load(&s.bad));
    cr_assert_gt(atomic_load(&s.reads), 0, "the readers never ran");
    tl_catalog_rdlock(s.c);
    cr_assert_eq(tl_catalog_size(s.c), CONC_ITEMS);
    tl_catalog_unlock(s.c);
    tl_catalog_free(s.c);
}
