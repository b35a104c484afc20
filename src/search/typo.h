/* Typo tolerance: bounded Damerau-Levenshtein distance (optimal string
 * alignment: insert, delete, substitute, transpose adjacent = 1 each) and a
 * symmetric-deletion index (SymSpell) over a vocabulary of words.
 *
 * Not thread-safe for writes; lookups are read-only and may run
 * concurrently. */
#ifndef TL_SEARCH_TYPO_H
#define TL_SEARCH_TYPO_H

#include <stddef.h>
#include <stdint.h>

#include "core/map.h"
#include "tailor/rc.h"

#define TL_TYPO_WORD_MAX 24          /* longer words are not indexed for correction */
#define TL_TYPO_NODES_MAX (1u << 30) /* deletion entries kept */

struct tl_typo {
    struct tl_u64map heads; /* hash(deletion variant) -> 1 + first node */
    uint32_t *next;         /* node -> 1 + next node (0 = end) */
    uint32_t *word;         /* node -> word id */
    uint32_t n, cap;
};

/* Allowed edits for a query word of n characters: 0 (<5), 1 (5..8), 2 (9+). */
int tl_typo_max_edits(size_t n);
/* Distance between a and b, or max+1 when it is larger than max. */
int tl_typo_dist(const char *a, size_t na, const char *b, size_t nb, int max);

void tl_typo_init(struct tl_typo *t);
void tl_typo_free(struct tl_typo *t);
/* Index word id `id` (its deletion variants up to 2 edits). */
enum tl_rc tl_typo_add(struct tl_typo *t, uint32_t id, const char *w, size_t n);
/* Candidate word ids that may lie within `maxd` edits of q (unverified,
 * possibly repeated); returns the count (<= max_out). */
size_t tl_typo_candidates(const struct tl_typo *t, const char *q, size_t n, int maxd, uint32_t *out, size_t max_out);

#endif
