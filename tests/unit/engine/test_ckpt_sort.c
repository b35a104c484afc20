/* The order in which a checkpoint writes its profile rows
 * (tl_ckpt_sort_blobs): that of the profiles table's key, shop then the
 * key's bytes as unsigned (strcmp), whatever the keys' lengths, shared
 * prefixes and bytes above 0x7f, on one thread and on two. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "engine/internal.h"

#include "../../../bench/event_gen.h"

static uint64_t rng = 0x2545f4914f6cdd1dULL;
static uint64_t rnd(void) { return tl_gen_rnd(&rng); }

static int ref_order(const void *a, const void *b)
{
    const struct tl_blob *x = *(const struct tl_blob *const *)a, *y = *(const struct tl_blob *const *)b;
    if (x->shop_id != y->shop_id) return x->shop_id < y->shop_id ? -1 : 1;
    return strcmp(x->key, y->key);
}

/* A key of the kinds a profile has ("u:" / "a:" and an id), of 1 to 40
 * bytes, often sharing a long prefix with others (so that the first 16
 * bytes tie), sometimes with bytes above 0x7f. */
static void random_key(char *k, size_t cap)
{
    static const char *const prefixes[] = {"u:", "a:", "u:customer-0000000", "a:anonymous-visitor-",
                                           "u:\xc3\xa9t\xc3\xa9-"};
    size_t n = (size_t)snprintf(k, cap, "%s", prefixes[rnd() % 5]);
    size_t extra = rnd() % 24;
    for (size_t i = 0; i < extra && n + 1 < cap; i++) {
        uint64_t r = rnd() % 20;
        k[n++] = r < 10 ? (char)('0' + r) : r < 18 ? (char)('a' + r - 10) : (char)(0x80 + rnd() % 0x7f);
    }
    k[n] = 0;
}

static void check_sort(size_t n, int dup_prefix16)
{
    struct tl_blob *b = tl_calloc(n, sizeof *b);
    const struct tl_blob **got = tl_malloc(n * sizeof *got), **want = tl_malloc(n * sizeof *want);
    cr_assert(b && got && want);
    for (size_t i = 0; i < n; i++) {
        char k[64];
        random_key(k, sizeof k);
        if (dup_prefix16 && i % 3 == 0) /* the same first 16 bytes, then more */
            snprintf(k, sizeof k, "u:0123456789abcd%s", i % 2 ? "" : "z");
        size_t len = strlen(k);
        b[i].shop_id = (uint32_t)(rnd() % 3 + 1);
        b[i].key = tl_malloc(len + 24); /* room for a distinct suffix */
        cr_assert_not_null(b[i].key);
        if (dup_prefix16 && i == 0) /* exactly the 16 bytes the others share: it sorts first among them */
            snprintf(b[i].key, len + 24, "u:0123456789abcd");
        else
            snprintf(b[i].key, len + 24, "%s#%zu", k, i); /* keys unique ('#' is in no generated key) */
        got[i] = want[i] = &b[i];
    }
    qsort(want, n, sizeof *want, ref_order);
    tl_ckpt_sort_blobs(got, n);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(got[i], want[i], "position %zu of %zu: %u:%s against %u:%s", i, n, got[i]->shop_id, got[i]->key,
                     want[i]->shop_id, want[i]->key);
    for (size_t i = 0; i < n; i++) tl_free(b[i].key);
    tl_free(b);
    tl_free(got);
    tl_free(want);
}

Test(ckpt_sort, small_sets_on_one_thread)
{
    for (size_t n = 0; n < 200; n++) check_sort(n, (int)(n % 2));
}

Test(ckpt_sort, a_large_set_on_two_threads)
{
    check_sort(70000, 0); /* above SORT_PAR_MIN: halves sorted on two threads, then merged */
    check_sort(70001, 1);
}
