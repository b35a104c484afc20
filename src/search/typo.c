/* Typo tolerance (see typo.h).
 *
 * Distance: optimal string alignment (restricted Damerau-Levenshtein) over
 * bytes, with the usual DP d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1,
 * d[i-1][j-1]+(a[i]!=b[j]), d[i-2][j-2]+1 when a[i]=b[j-1] and a[i-1]=b[j]);
 * rows are abandoned as soon as their minimum exceeds the bound.
 *
 * Symmetric deletion index (SymSpell): every word is stored under itself,
 * each 1-deletion variant and (words of 7+ bytes, the shortest a 9+ letter
 * query can reach with 2 edits) each 2-deletion variant. Any word within d
 * edits of q shares a key with some <=d-deletion variant of q, so a lookup
 * hashes q's variants (1 + n + n(n-1)/2 probes) and verifies the few
 * candidates with the distance above. Keys are 64-bit XXH3 hashes (a
 * collision only adds a candidate that verification drops). Entries:
 * chained nodes (next, word) reached from a u64 -> head map. */
#include "search/typo.h"

#include <string.h>

#include "core/alloc.h"
#include "core/hash.h"

#define TYPO_SEED 0x7479706fULL

int tl_typo_max_edits(size_t n) { return n >= 9 ? 2 : n >= 5 ? 1 : 0; }

int tl_typo_dist(const char *a, size_t na, const char *b, size_t nb, int max)
{
    if (na > TL_TYPO_WORD_MAX * 2 || nb > TL_TYPO_WORD_MAX * 2) return max + 1;
    size_t diff = na > nb ? na - nb : nb - na;
    if ((int)diff > max) return max + 1;
    int rows[3][TL_TYPO_WORD_MAX * 2 + 1];
    int *p2 = rows[0], *p1 = rows[1], *c = rows[2];
    for (size_t j = 0; j <= nb; j++) p1[j] = (int)j;
    for (size_t i = 1; i <= na; i++) {
        c[0] = (int)i;
        int rmin = c[0];
        for (size_t j = 1; j <= nb; j++) {
            int cost = a[i - 1] != b[j - 1];
            int v = p1[j] + 1;
            if (c[j - 1] + 1 < v) v = c[j - 1] + 1;
            if (p1[j - 1] + cost < v) v = p1[j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && p2[j - 2] + 1 < v) v = p2[j - 2] + 1;
            c[j] = v;
            if (v < rmin) rmin = v;
        }
        if (rmin > max) return max + 1;
        int *t = p2;
        p2 = p1;
        p1 = c;
        c = t;
    }
    return p1[nb] > max ? max + 1 : p1[nb];
}

void tl_typo_init(struct tl_typo *t)
{
    memset(t, 0, sizeof *t);
    tl_u64map_init(&t->heads);
}

void tl_typo_free(struct tl_typo *t)
{
    tl_u64map_free(&t->heads);
    tl_free(t->next);
    tl_free(t->word);
    memset(t, 0, sizeof *t);
}

static enum tl_rc push(struct tl_typo *t, uint64_t h, uint32_t id)
{
    if (t->n == t->cap) {
        if (t->cap >= TL_TYPO_NODES_MAX) return TL_ETOOBIG;
        uint32_t nc = t->cap ? t->cap * 2 : 1024;
        uint32_t *nn = tl_realloc(t->next, (size_t)nc * sizeof *nn);
        if (!nn) return TL_ENOMEM;
        t->next = nn;
        uint32_t *nw = tl_realloc(t->word, (size_t)nc * sizeof *nw);
        if (!nw) return TL_ENOMEM;
        t->word = nw;
        t->cap = nc;
    }
    uint64_t head = 0;
    tl_u64map_get(&t->heads, h, &head);
    t->next[t->n] = (uint32_t)head;
    t->word[t->n] = id;
    enum tl_rc rc = tl_u64map_put(&t->heads, h, (uint64_t)t->n + 1);
    if (rc != TL_OK) return rc;
    t->n++;
    return TL_OK;
}

/* Hashes of w's variants with up to `d` deletions, deduplicated; returns count. */
static size_t variants(const char *w, size_t n, int d, uint64_t *out)
{
    size_t k = 0;
    char buf[TL_TYPO_WORD_MAX];
    out[k++] = tl_hash(w, n, TYPO_SEED);
    if (d >= 1)
        for (size_t i = 0; i < n; i++) {
            memcpy(buf, w, i);
            memcpy(buf + i, w + i + 1, n - i - 1);
            out[k++] = tl_hash(buf, n - 1, TYPO_SEED);
            if (d >= 2)
                for (size_t j = i; j + 1 < n; j++) {
                    char b2[TL_TYPO_WORD_MAX];
                    memcpy(b2, buf, j);
                    memcpy(b2 + j, buf + j + 1, n - 2 - j);
                    out[k++] = tl_hash(b2, n - 2, TYPO_SEED);
                }
        }
    /* dedup (small n: insertion sort) */
    for (size_t i = 1; i < k; i++) {
        uint64_t v = out[i];
        size_t j = i;
        while (j > 0 && out[j - 1] > v) {
            out[j] = out[j - 1];
            j--;
        }
        out[j] = v;
    }
    size_t m = 0;
    for (size_t i = 0; i < k; i++)
        if (!m || out[m - 1] != out[i]) out[m++] = out[i];
    return m;
}

#define VARIANTS_MAX (1 + TL_TYPO_WORD_MAX + TL_TYPO_WORD_MAX * TL_TYPO_WORD_MAX)

enum tl_rc tl_typo_add(struct tl_typo *t, uint32_t id, const char *w, size_t n)
{
    if (n < 3 || n > TL_TYPO_WORD_MAX) return TL_OK;
    uint64_t hs[VARIANTS_MAX];
    size_t k = variants(w, n, n >= 7 ? 2 : n >= 4 ? 1 : 0, hs);
    for (size_t i = 0; i < k; i++) {
        enum tl_rc rc = push(t, hs[i], id);
        if (rc != TL_OK) return rc;
    }
    return TL_OK;
}

size_t tl_typo_candidates(const struct tl_typo *t, const char *q, size_t n, int maxd, uint32_t *out, size_t max_out)
{
    if (n < 1 || n > TL_TYPO_WORD_MAX || maxd < 1) return 0;
    uint64_t hs[VARIANTS_MAX];
    size_t k = variants(q, n, maxd, hs), m = 0;
    for (size_t i = 0; i < k && m < max_out; i++) {
        uint64_t head = 0;
        if (!tl_u64map_get(&t->heads, hs[i], &head)) continue;
        for (uint32_t nd = (uint32_t)head; nd && m < max_out; nd = t->next[nd - 1]) out[m++] = t->word[nd - 1];
    }
    return m;
}
