/* Tests for src/core/group.c: grouping records by key against a brute-force
 * reference (groups in order of their first record, records in their own
 * order), hash collisions told apart by the equality callback, no records,
 * and the memory reused by calls of different sizes. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "core/group.h"

/* Record i's key is keys[i]; its hash is hash_of(keys[i]). */
struct keys {
    const uint32_t *k;
};

static int same(const void *ctx, size_t a, size_t b)
{
    const struct keys *ks = ctx;
    return ks->k[a] == ks->k[b];
}

/* Check g's result for keys k[0..n) against the brute-force grouping. */
static void check_grouping(const struct tl_group *g, const uint32_t *k, size_t n)
{
    /* reference: walk the records; a key seen for the first time opens a group */
    uint32_t *first_key = malloc((n + 1) * sizeof *first_key);
    size_t ng = 0;
    for (size_t i = 0; i < n; i++) {
        size_t f = 0;
        while (f < ng && first_key[f] != k[i]) f++;
        if (f == ng) first_key[ng++] = k[i];
    }
    cr_assert_eq(g->n_groups, ng);
    cr_assert_eq(g->starts[0], 0);
    cr_assert_eq(g->starts[ng], n);
    size_t at = 0;
    for (size_t grp = 0; grp < ng; grp++) {
        cr_assert_eq(g->starts[grp], at, "group %zu starts at %u, want %zu", grp, g->starts[grp], at);
        for (size_t i = 0; i < n; i++) /* the group's records, in their order */
            if (k[i] == first_key[grp]) {
                cr_assert_eq(g->order[at], i, "group %zu: record %u at %zu, want %zu", grp, g->order[at], at, i);
                at++;
            }
    }
    cr_assert_eq(at, n);
    free(first_key);
}

Test(group, no_records)
{
    struct tl_group g;
    tl_group_init(&g);
    struct keys ks = {NULL};
    cr_assert_eq(tl_group_by_key(&g, NULL, 0, same, &ks), TL_OK);
    cr_assert_eq(g.n_groups, 0);
    cr_assert_eq(g.starts[0], 0);
    tl_group_free(&g);
    tl_group_free(&g); /* freeing twice is harmless */
}

Test(group, first_appearance_order_and_stable)
{
    /* keys: 7 3 7 9 3 3 1 7 */
    const uint32_t k[] = {7, 3, 7, 9, 3, 3, 1, 7};
    uint64_t h[8];
    for (size_t i = 0; i < 8; i++) h[i] = (uint64_t)k[i] * 0x9E3779B97F4A7C15ull;
    struct tl_group g;
    tl_group_init(&g);
    struct keys ks = {k};
    cr_assert_eq(tl_group_by_key(&g, h, 8, same, &ks), TL_OK);
    const uint32_t want[] = {0, 2, 7, 1, 4, 5, 3, 6}, starts[] = {0, 3, 6, 7, 8};
    cr_assert_eq(g.n_groups, 4);
    for (size_t i = 0; i < 8; i++) cr_assert_eq(g.order[i], want[i], "order[%zu] = %u", i, g.order[i]);
    for (size_t i = 0; i < 5; i++) cr_assert_eq(g.starts[i], starts[i]);
    check_grouping(&g, k, 8);
    tl_group_free(&g);
}

Test(group, colliding_hashes_are_told_apart)
{
    /* every record has the same hash: only the callback separates the keys */
    enum { N = 300 };
    uint32_t k[N];
    uint64_t h[N];
    srand(3);
    for (size_t i = 0; i < N; i++) {
        k[i] = (uint32_t)(rand() % 17);
        h[i] = 42;
    }
    struct tl_group g;
    tl_group_init(&g);
    struct keys ks = {k};
    cr_assert_eq(tl_group_by_key(&g, h, N, same, &ks), TL_OK);
    check_grouping(&g, k, N);
    tl_group_free(&g);
}

Test(group, random_keys_and_reused_memory)
{
    /* sizes up and down (the table and arrays are kept between calls), few
     * and many distinct keys, hashes with partial collisions (key / 3) */
    const size_t sizes[] = {5000, 10, 20000, 1, 3000};
    const uint32_t distinct[] = {50, 3, 20000, 1, 3000};
    struct tl_group g;
    tl_group_init(&g);
    srand(7);
    for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
        size_t n = sizes[t];
        uint32_t *k = malloc(n * sizeof *k);
        uint64_t *h = malloc(n * sizeof *h);
        for (size_t i = 0; i < n; i++) {
            k[i] = (uint32_t)rand() % distinct[t];
            h[i] = (uint64_t)(k[i] / 3) * 0xff51afd7ed558ccdull;
        }
        struct keys ks = {k};
        cr_assert_eq(tl_group_by_key(&g, h, n, same, &ks), TL_OK);
        check_grouping(&g, k, n);
        free(k);
        free(h);
    }
    tl_group_free(&g);
}
