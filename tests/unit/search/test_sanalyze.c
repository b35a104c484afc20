/* Tests for src/search/analyze.c: case and accent folding, token splitting
 * (letters/digits, decimals, fractions, apostrophes), unit canonicalisation,
 * stop words (built-in, custom, none), Snowball stemming, and the ASCII
 * fast path's hand-over at class / accent / length boundaries. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/alloc.h"
#include "search/analyze.h"

static struct tl_sanalyze *mk(const char *stop)
{
    struct tl_sanalyze *a = NULL;
    struct tl_err e;
    cr_assert_eq(tl_sanalyze_new("english", stop, &a, &e), TL_OK);
    return a;
}

/* Tokens of s joined by '|' (stop words marked with '!'). */
static void toks(struct tl_sanalyze *a, const char *s, char *out)
{
    struct tl_stoken t[64];
    size_t n = tl_sanalyze_tokens(a, s, strlen(s), t, 64);
    out[0] = 0;
    for (size_t i = 0; i < n; i++) {
        if (i) strcat(out, "|");
        if (t[i].stop) strcat(out, "!");
        strcat(out, t[i].s);
    }
}

Test(sanalyze, folds_case_and_accents)
{
    struct tl_sanalyze *a = mk(NULL);
    char out[512];
    toks(a, "Crème BRÛLÉE Ærø Straße Œuvre", out);
    cr_assert_str_eq(out, "creme|brulee|aero|strasse|oeuvre");
    toks(a, "cre\xcc\x80me", out); /* e + combining grave */
    cr_assert_str_eq(out, "creme");
    toks(a, "ŁÓDŹ Ελλάδα", out);
    cr_assert_str_eq(out, "lodz|ελλάδα");
    char f[64];
    tl_sanalyze_fold("  SKU-12  Crème ", f, sizeof f);
    cr_assert_str_eq(f, "sku-12 creme");
    tl_sanalyze_free(a);
}

Test(sanalyze, splits_letters_digits_and_keeps_numbers)
{
    struct tl_sanalyze *a = mk(NULL);
    char out[512];
    toks(a, "2x4 12in 1.9 cu. ft. 1/2 1,000 men's", out);
    cr_assert_str_eq(out, "2|x|4|12|in|1.9|cu|ft|1/2|1000|mens");
    toks(a, "3 inch 10 feet 5 gallons 2\" pipe 8' board", out);
    cr_assert_str_eq(out, "3|in|10|ft|5|gal|2|in|pipe|8|ft|board");
    toks(a, "in the box", out); /* "in" not after a number is a stop word */
    cr_assert_str_eq(out, "!in|!the|box");
    toks(a, "\"OR\" * NEAR( '; DROP", out);
    cr_assert_str_eq(out, "!or|near|drop");
    tl_sanalyze_free(a);
}

Test(sanalyze, custom_and_empty_stop_lists)
{
    struct tl_sanalyze *a = mk("box, Crème");
    char out[256];
    toks(a, "the box creme", out);
    cr_assert_str_eq(out, "the|!box|!creme");
    tl_sanalyze_free(a);
    a = mk("");
    toks(a, "the box", out);
    cr_assert_str_eq(out, "the|box");
    tl_sanalyze_free(a);
}

Test(sanalyze, stems_words_not_numbers)
{
    struct tl_sanalyze *a = mk(NULL);
    char out[64];
    tl_sanalyze_stem(a, "running", 7, out, sizeof out);
    cr_assert_str_eq(out, "run");
    tl_sanalyze_stem(a, "microwaves", 10, out, sizeof out);
    cr_assert_str_eq(out, "microwav");
    tl_sanalyze_stem(a, "x200s", 5, out, sizeof out);
    cr_assert_str_eq(out, "x200s");
    tl_sanalyze_free(a);
}

Test(sanalyze, unknown_language_rejected)
{
    struct tl_sanalyze *a = NULL;
    struct tl_err e;
    tl_err_clear(&e);
    cr_assert_eq(tl_sanalyze_new("klingon", NULL, &a, &e), TL_EINVAL);
    cr_assert_null(a);
    cr_assert_str_eq(e.field, "language");
}

Test(sanalyze, long_tokens_are_cut_and_bounded)
{
    struct tl_sanalyze *a = mk(NULL);
    char big[300];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    struct tl_stoken t[4];
    size_t n = tl_sanalyze_tokens(a, big, strlen(big), t, 4);
    cr_assert_eq(n, 1);
    cr_assert_eq(t[0].len, TL_SANALYZE_TOKEN_MAX);
    /* max respected */
    n = tl_sanalyze_tokens(a, "a1 b2 c3 d4 e5 f6", 17, t, 4);
    cr_assert_eq(n, 4);
    tl_sanalyze_free(a);
}

/* The ASCII fast path and its same-class runs hand over to the general path
 * at every boundary: accents inside a word, letter/digit switches, units
 * after numbers, stop words, tokens at the length limit. */
Test(sanalyze, fast_path_boundaries)
{
    struct tl_sanalyze *a = mk(NULL);
    char out[1024];
    toks(a, "ABCcrÈmeXYZ 12INCH 2x4 Men's 1,000 1.9ft THE in 3in", out);
    cr_assert_str_eq(out, "abccremexyz|12|in|2|x|4|mens|1000|1.9|ft|!the|!in|3|in");
    toks(a, "DeWalt20V-MAX\xc3\xa9t\xc3\xa9 \"quoted\"", out);
    cr_assert_str_eq(out, "dewalt|20|v|maxete|quoted");
    toks(a, "watts gallons square", out);
    cr_assert_str_eq(out, "w|gal|square", "'anywhere' units fold without a number, 'square' only after one");
    /* a 60-letter word is cut at TL_SANALYZE_TOKEN_MAX bytes, then the next token starts clean */
    char w[80];
    memset(w, 'q', 60);
    strcpy(w + 60, " ok");
    toks(a, w, out);
    char want[80];
    memset(want, 'q', TL_SANALYZE_TOKEN_MAX);
    strcpy(want + TL_SANALYZE_TOKEN_MAX, "|ok");
    cr_assert_str_eq(out, want);
    tl_sanalyze_free(a);
}
