/* Tests for src/core/map.c: tl_u64map (key 0, overwrite, growth, and
 * backward-shift deletion checked against a brute-force reference model under
 * random insert/delete, including colliding keys) and tl_strtab (interning,
 * find, str, dense ids, growth, allocation failure). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/hash.h"
#include "core/map.h"

/* ---- tl_u64map ---- */

Test(map_u64, empty_map_answers_absent)
{
    struct tl_u64map m;
    tl_u64map_init(&m);
    uint64_t v = 77;
    cr_assert_eq(tl_u64map_size(&m), 0);
    cr_assert_eq(tl_u64map_get(&m, 1, &v), 0);
    cr_assert_eq(tl_u64map_get(&m, 0, &v), 0);
    cr_assert_eq(v, 77, "get must not touch *val when absent");
    cr_assert_eq(tl_u64map_del(&m, 1), 0);
    cr_assert_eq(tl_u64map_del(&m, 0), 0);
    tl_u64map_free(&m);
    tl_u64map_free(&m); /* free twice is harmless: free resets */
}

Test(map_u64, zero_key_is_a_normal_key)
{
    struct tl_u64map m;
    tl_u64map_init(&m);
    uint64_t v = 0;
    cr_assert_eq(tl_u64map_put(&m, 0, 42), TL_OK);
    cr_assert_eq(tl_u64map_size(&m), 1);
    cr_assert_eq(tl_u64map_get(&m, 0, &v), 1);
    cr_assert_eq(v, 42);
    cr_assert_eq(tl_u64map_get(&m, 0, NULL), 1, "val may be NULL");
    cr_assert_eq(tl_u64map_put(&m, 0, 43), TL_OK);
    cr_assert_eq(tl_u64map_size(&m), 1, "overwrite does not grow");
    cr_assert_eq(tl_u64map_get(&m, 0, &v), 1);
    cr_assert_eq(v, 43);
    /* Other keys do not disturb the zero key and vice versa. */
    cr_assert_eq(tl_u64map_put(&m, 5, 500), TL_OK);
    cr_assert_eq(tl_u64map_size(&m), 2);
    cr_assert_eq(tl_u64map_del(&m, 0), 1);
    cr_assert_eq(tl_u64map_get(&m, 0, &v), 0);
    cr_assert_eq(tl_u64map_del(&m, 0), 0);
    cr_assert_eq(tl_u64map_get(&m, 5, &v), 1);
    cr_assert_eq(v, 500);
    cr_assert_eq(tl_u64map_size(&m), 1);
    tl_u64map_free(&m);
}

Test(map_u64, overwrite_and_extreme_keys)
{
    struct tl_u64map m;
    tl_u64map_init(&m);
    uint64_t v;
    cr_assert_eq(tl_u64map_put(&m, UINT64_MAX, 1), TL_OK);
    cr_assert_eq(tl_u64map_put(&m, UINT64_MAX, 2), TL_OK);
    cr_assert_eq(tl_u64map_put(&m, 1, UINT64_MAX), TL_OK);
    cr_assert_eq(tl_u64map_size(&m), 2);
    cr_assert(tl_u64map_get(&m, UINT64_MAX, &v) && v == 2);
    cr_assert(tl_u64map_get(&m, 1, &v) && v == UINT64_MAX);
    cr_assert_eq(tl_u64map_get(&m, 2, &v), 0);
    tl_u64map_free(&m);
}

Test(map_u64, growth_keeps_every_entry_and_load_factor)
{
    struct tl_u64map m;
    tl_u64map_init(&m);
    const uint64_t n = 100000;
    for (uint64_t k = 1; k <= n; k++) {
        cr_assert_eq(tl_u64map_put(&m, k * 7919, k), TL_OK);
        /* load factor <= 0.7 and capacity a power of two */
        cr_assert(m.count * 10 <= m.cap * 7, "load factor exceeded at %llu", (unsigned long long)k);
        cr_assert_eq(m.cap & (m.cap - 1), 0);
    }
    cr_assert_eq(tl_u64map_size(&m), n);
    for (uint64_t k = 1; k <= n; k++) {
        uint64_t v = 0;
        cr_assert_eq(tl_u64map_get(&m, k * 7919, &v), 1, "key %llu lost", (unsigned long long)(k * 7919));
        cr_assert_eq(v, k);
    }
    cr_assert_eq(tl_u64map_get(&m, 7918, NULL), 0);
    /* Iteration as documented in map.h visits each key once. */
    size_t seen = 0;
    for (size_t i = 0; i < m.cap; i++)
        if (m.keys[i]) seen++;
    cr_assert_eq(seen, n);
    tl_u64map_free(&m);
}

/* A table reserved past TL_HUGE_MIN (advised to huge pages) works like any
 * other: every entry found, absent keys absent, growth beyond it keeps all. */
Test(map_u64, large_reserved_table)
{
    struct tl_u64map m;
    tl_u64map_init(&m);
    cr_assert_eq(tl_u64map_reserve(&m, 1500000), TL_OK);
    cr_assert_geq(m.cap * sizeof *m.keys, TL_HUGE_MIN);
    size_t cap = m.cap;
    for (uint64_t k = 1; k <= 200000; k++) cr_assert_eq(tl_u64map_put(&m, k * 0x9e3779b97f4a7c15ULL, k), TL_OK);
    cr_assert_eq(m.cap, cap);
    for (uint64_t k = 1; k <= 200000; k++) {
        uint64_t v = 0;
        cr_assert_eq(tl_u64map_get(&m, k * 0x9e3779b97f4a7c15ULL, &v), 1);
        cr_assert_eq(v, k);
    }
    cr_assert_eq(tl_u64map_get(&m, 12345, NULL), 0);
    tl_u64map_free(&m);
}

/* Reference model: a dense array indexed by key (keys are drawn from a small
 * universe so that probe runs are long and deletion is stressed). */
#define REF_UNIVERSE 4096

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static void check_against_ref(const struct tl_u64map *m, const int *present, const uint64_t *vals,
                              const uint64_t *keymap, size_t universe)
{
    size_t n = 0;
    for (size_t k = 0; k < universe; k++) {
        uint64_t v = 0;
        int got = tl_u64map_get(m, keymap[k], &v);
        cr_assert_eq(got, present[k], "key %llu presence %d, expected %d", (unsigned long long)keymap[k], got,
                     present[k]);
        if (present[k]) {
            cr_assert_eq(v, vals[k]);
            n++;
        }
    }
    cr_assert_eq(tl_u64map_size(m), n);
}

static void random_ops(const uint64_t *keymap, size_t universe, uint64_t seed, int rounds)
{
    struct tl_u64map m;
    tl_u64map_init(&m);
    int *present = calloc(universe, sizeof *present);
    uint64_t *vals = calloc(universe, sizeof *vals);
    cr_assert(present && vals);
    uint64_t s = seed;
    for (int r = 0; r < rounds; r++) {
        size_t k = (size_t)(xorshift(&s) % universe);
        unsigned op = (unsigned)(xorshift(&s) % 100);
        if (op < 55) {
            uint64_t v = xorshift(&s);
            cr_assert_eq(tl_u64map_put(&m, keymap[k], v), TL_OK);
            present[k] = 1;
            vals[k] = v;
        } else {
            int got = tl_u64map_del(&m, keymap[k]);
            cr_assert_eq(got, present[k], "del of %llu returned %d, expected %d", (unsigned long long)keymap[k], got,
                         present[k]);
            present[k] = 0;
        }
        if (r % 997 == 0) check_against_ref(&m, present, vals, keymap, universe);
    }
    check_against_ref(&m, present, vals, keymap, universe);
    /* Delete everything: the table must end up empty (no stray keys). */
    for (size_t k = 0; k < universe; k++)
        if (present[k]) cr_assert_eq(tl_u64map_del(&m, keymap[k]), 1);
    cr_assert_eq(tl_u64map_size(&m), 0);
    for (size_t i = 0; i < m.cap; i++) cr_assert_eq(m.keys[i], 0);
    free(present);
    free(vals);
    tl_u64map_free(&m);
}

Test(map_u64, random_insert_delete_matches_reference)
{
    uint64_t *keymap = malloc(REF_UNIVERSE * sizeof *keymap);
    cr_assert(keymap);
    /* Key 0 included as keymap[0]. */
    for (size_t k = 0; k < REF_UNIVERSE; k++) keymap[k] = k;
    random_ops(keymap, REF_UNIVERSE, 0x9e3779b97f4a7c15ULL, 200000);
    free(keymap);
}

Test(map_u64, random_ops_with_clustered_home_slots)
{
    /* Keys whose home slots (for the largest capacity the table reaches)
     * fall into a 16-slot window that straddles the end of the array, so
     * probe runs are long and wrap around: the wrap-around branch of
     * backward-shift deletion is exercised. With at most 512 live keys the
     * capacity is <= 1024; keys are chosen with hash & 1023 in
     * {1012..1023, 0..3}. */
    enum { N = 512 };
    uint64_t keymap[N];
    size_t n = 0;
    for (uint64_t cand = 1; n < N; cand++) {
        uint64_t h = tl_hash_u64(cand) & 1023;
        if (h >= 1012 || h <= 3) keymap[n++] = cand;
    }
    random_ops(keymap, N, 12345, 40000);
}

Test(map_u64, put_failure_leaves_map_intact)
{
    struct tl_u64map m;
    tl_u64map_init(&m);
    /* Fill to exactly the growth threshold of the first table (16 * 0.7). */
    for (uint64_t k = 1; k <= 11; k++) cr_assert_eq(tl_u64map_put(&m, k, k * 10), TL_OK);
    cr_assert_eq(m.cap, 16);
    tl_alloc_fail_after(0); /* the grow's first allocation fails */
    cr_assert_eq(tl_u64map_put(&m, 12, 120), TL_ENOMEM);
    tl_alloc_fail_after(1); /* the grow's second allocation fails */
    cr_assert_eq(tl_u64map_put(&m, 12, 120), TL_ENOMEM);
    tl_alloc_fail_after(-1);
    cr_assert_eq(tl_u64map_size(&m), 11);
    cr_assert_eq(tl_u64map_get(&m, 12, NULL), 0);
    for (uint64_t k = 1; k <= 11; k++) {
        uint64_t v;
        cr_assert(tl_u64map_get(&m, k, &v) && v == k * 10);
    }
    cr_assert_eq(tl_u64map_put(&m, 12, 120), TL_OK);
    cr_assert_eq(tl_u64map_size(&m), 12);
    tl_u64map_free(&m);
}

Test(map_u64, free_releases_all_memory)
{
    long before = tl_alloc_live();
    struct tl_u64map m;
    tl_u64map_init(&m);
    for (uint64_t k = 0; k < 1000; k++) cr_assert_eq(tl_u64map_put(&m, k, k), TL_OK);
    tl_u64map_free(&m);
    cr_assert_eq(tl_alloc_live(), before);
    cr_assert_eq(tl_u64map_size(&m), 0);
}

/* ---- tl_strtab ---- */

Test(map_strtab, intern_find_str)
{
    struct tl_strtab t;
    tl_strtab_init(&t);
    cr_assert_eq(tl_strtab_find(&t, "a"), TL_STRTAB_NONE);
    cr_assert_null(tl_strtab_str(&t, 0));
    uint32_t a, b, a2, e;
    cr_assert_eq(tl_strtab_intern(&t, "apple", &a), TL_OK);
    cr_assert_eq(tl_strtab_intern(&t, "banana", &b), TL_OK);
    cr_assert_eq(tl_strtab_intern(&t, "apple", &a2), TL_OK);
    cr_assert_eq(tl_strtab_intern(&t, "", &e), TL_OK, "the empty string is a valid key");
    cr_assert_eq(a, 0);
    cr_assert_eq(b, 1);
    cr_assert_eq(a2, a, "interning again returns the same id");
    cr_assert_eq(e, 2);
    cr_assert_eq(t.count, 3);
    cr_assert_eq(tl_strtab_find(&t, "banana"), 1);
    cr_assert_eq(tl_strtab_find(&t, ""), 2);
    cr_assert_eq(tl_strtab_find(&t, "Apple"), TL_STRTAB_NONE, "case-sensitive");
    cr_assert_eq(tl_strtab_find(&t, "appl"), TL_STRTAB_NONE, "no prefix matches");
    cr_assert_str_eq(tl_strtab_str(&t, a), "apple");
    cr_assert_str_eq(tl_strtab_str(&t, e), "");
    cr_assert_null(tl_strtab_str(&t, 3));
    cr_assert_null(tl_strtab_str(&t, TL_STRTAB_NONE));
    tl_strtab_free(&t);
}

Test(map_strtab, strings_are_copied)
{
    struct tl_strtab t;
    tl_strtab_init(&t);
    char buf[16];
    snprintf(buf, sizeof buf, "sku-1");
    uint32_t id;
    cr_assert_eq(tl_strtab_intern(&t, buf, &id), TL_OK);
    snprintf(buf, sizeof buf, "XXXXX");
    cr_assert_str_eq(tl_strtab_str(&t, id), "sku-1");
    cr_assert_eq(tl_strtab_find(&t, "sku-1"), id);
    cr_assert_eq(tl_strtab_find(&t, "XXXXX"), TL_STRTAB_NONE);
    tl_strtab_free(&t);
}

Test(map_strtab, growth_keeps_dense_ids)
{
    struct tl_strtab t;
    tl_strtab_init(&t);
    const uint32_t n = 50000;
    char s[32];
    for (uint32_t i = 0; i < n; i++) {
        snprintf(s, sizeof s, "item-%u", i);
        uint32_t id;
        cr_assert_eq(tl_strtab_intern(&t, s, &id), TL_OK);
        cr_assert_eq(id, i, "ids are dense in insertion order");
        cr_assert(t.count * 10 <= t.cap * 7);
    }
    cr_assert_eq(t.count, n);
    for (uint32_t i = 0; i < n; i++) {
        snprintf(s, sizeof s, "item-%u", i);
        cr_assert_eq(tl_strtab_find(&t, s), i);
        cr_assert_str_eq(tl_strtab_str(&t, i), s);
        uint32_t id;
        cr_assert_eq(tl_strtab_intern(&t, s, &id), TL_OK);
        cr_assert_eq(id, i);
    }
    cr_assert_eq(t.count, n, "re-interning adds nothing");
    cr_assert_eq(tl_strtab_find(&t, "item-50000"), TL_STRTAB_NONE);
    tl_strtab_free(&t);
}

Test(map_strtab, allocation_failure_adds_nothing)
{
    long before = tl_alloc_live();
    struct tl_strtab t;
    tl_strtab_init(&t);
    uint32_t id = 123;
    /* Make allocation k of an intern fail, for k = 0, 1, ...: each attempt
     * must report TL_ENOMEM and add nothing, until an attempt needs fewer
     * than k+1 allocations and succeeds. */
    long k = 0;
    enum tl_rc rc;
    for (;; k++) {
        cr_assert(k < 16, "intern never succeeded");
        tl_alloc_fail_after(k);
        rc = tl_strtab_intern(&t, "x", &id);
        tl_alloc_fail_after(-1);
        if (rc == TL_OK) break;
        cr_assert_eq(rc, TL_ENOMEM, "failure at allocation %ld gave %d", k, rc);
        cr_assert_eq(t.count, 0);
        cr_assert_eq(tl_strtab_find(&t, "x"), TL_STRTAB_NONE);
        cr_assert_null(tl_strtab_str(&t, 0));
    }
    cr_assert_geq(k, 2, "an intern into an empty table allocates at least twice");
    cr_assert_eq(id, 0);
    cr_assert_eq(tl_strtab_find(&t, "x"), 0);
    tl_strtab_free(&t);
    cr_assert_eq(tl_alloc_live(), before, "no leak after failed interns");
}
