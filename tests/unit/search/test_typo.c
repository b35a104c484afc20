/* Tests for src/search/typo.c: optimal-string-alignment distance (published
 * examples: kitten/sitting = 3, ca/ac = 1 transposition), the edit budget by
 * word length, and the deletion index finding every word within the budget
 * (checked against brute force over a vocabulary). */
#include <criterion/criterion.h>
#include <string.h>

#include "core/alloc.h"
#include "search/typo.h"

static int d(const char *a, const char *b, int max) { return tl_typo_dist(a, strlen(a), b, strlen(b), max); }

Test(typo, distance_examples)
{
    cr_assert_eq(d("kitten", "sitting", 5), 3);
    cr_assert_eq(d("kitten", "sitting", 2), 3, "capped at max+1");
    cr_assert_eq(d("ca", "ac", 2), 1);
    cr_assert_eq(d("toliet", "toilet", 2), 1);
    cr_assert_eq(d("microwvae", "microwave", 2), 1);
    cr_assert_eq(d("vynal", "vinyl", 3), 2);
    cr_assert_eq(d("", "abc", 5), 3);
    cr_assert_eq(d("same", "same", 0), 0);
}

Test(typo, edit_budget)
{
    cr_assert_eq(tl_typo_max_edits(4), 0);
    cr_assert_eq(tl_typo_max_edits(5), 1);
    cr_assert_eq(tl_typo_max_edits(8), 1);
    cr_assert_eq(tl_typo_max_edits(9), 2);
}

Test(typo, index_matches_brute_force)
{
    const char *vocab[] = {"toilet", "tile",    "tiled",    "toiler",      "microwave", "microwaves",
                           "vinyl",  "faucet",  "faucets",  "drawer",      "drawers",   "washer",
                           "water",  "cabinet", "cabinets", "refrigerator"};
    size_t nv = sizeof vocab / sizeof *vocab;
    struct tl_typo t;
    tl_typo_init(&t);
    for (size_t i = 0; i < nv; i++) cr_assert_eq(tl_typo_add(&t, (uint32_t)i, vocab[i], strlen(vocab[i])), TL_OK);
    const char *qs[] = {"toliet", "microwvae", "micorwave",     "fauset",       "drawr",
                        "waher",  "cabinett",  "refridgerator", "refriderator", "vynil"};
    for (size_t q = 0; q < sizeof qs / sizeof *qs; q++) {
        int maxd = tl_typo_max_edits(strlen(qs[q]));
        uint32_t c[256];
        size_t n = tl_typo_candidates(&t, qs[q], strlen(qs[q]), maxd, c, 256);
        for (size_t i = 0; i < nv; i++) {
            int want = d(qs[q], vocab[i], maxd) <= maxd;
            int got = 0;
            for (size_t k = 0; k < n; k++) got |= c[k] == i;
            if (want) cr_assert(got, "%s should find %s", qs[q], vocab[i]);
        }
    }
    tl_typo_free(&t);
}
