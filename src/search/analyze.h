/* Text analysis for the product search index: UTF-8 tokenizer with case and
 * accent folding, retail unit canonicalisation, stop words and Snowball
 * stemming (libstemmer).
 *
 * Thread safety: tl_sanalyze_tokens() is pure; tl_sanalyze_stem() serialises
 * on an internal mutex (a Snowball stemmer object is not reentrant). */
#ifndef TL_SEARCH_ANALYZE_H
#define TL_SEARCH_ANALYZE_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define TL_SANALYZE_TOKEN_MAX 48 /* bytes of one folded token (longer tokens are cut) */

struct tl_stoken {
    char s[TL_SANALYZE_TOKEN_MAX + 1]; /* folded, NUL-terminated */
    uint8_t len;
    uint8_t has_digit; /* contains a digit: never stemmed nor typo-corrected */
    uint8_t stop;      /* a stop word (callers usually drop it) */
    uint32_t end;      /* byte offset just past the token in the input */
};

struct tl_sanalyze;

/* lang: Snowball algorithm name (NULL = "english"); stop_words: comma
 * separated list, NULL = built-in English list, "" = none. Unknown language
 * -> TL_EINVAL (field "language"). */
enum tl_rc tl_sanalyze_new(const char *lang, const char *stop_words, struct tl_sanalyze **out, struct tl_err *err);
void tl_sanalyze_free(struct tl_sanalyze *a);

/* Split text (len bytes) into at most max tokens; returns the count. */
size_t tl_sanalyze_tokens(const struct tl_sanalyze *a, const char *text, size_t len, struct tl_stoken *out, size_t max);
/* Stem a folded token into out (cap bytes incl. NUL); returns the length.
 * Tokens with digits are copied unchanged. */
size_t tl_sanalyze_stem(struct tl_sanalyze *a, const char *w, size_t n, char *out, size_t cap);
/* Fold a whole string (case + accents, whitespace collapsed) into out;
 * used for exact id / brand comparisons. Returns the length. */
size_t tl_sanalyze_fold(const char *s, char *out, size_t cap);

#endif
