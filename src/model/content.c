/* Content-similarity recommender "content" (see content.h for the API):
 * item-to-item cosine similarity of saturated-tf x IDF vectors built from the
 * catalog text. Uses d->text only; interactions are ignored entirely (no
 * popularity tie-break: ties are broken by lower item index, as everywhere).
 *
 * FEATURES (per item, from struct tl_item_text; a field with weight 0 adds
 * nothing)
 *   Tokens: maximal runs of ASCII letters/digits and bytes >= 0x80 (so UTF-8
 *   letters stay inside words), split on everything else. ASCII is
 *   lower-cased and so is Latin-1 upper case in UTF-8 (U+00C0..U+00DE except
 *   U+00D7: "É" -> "é"); other scripts are kept as they are. A token is cut
 *   at TL_CONTENT_TOKEN_MAX - 1 bytes.
 *   Words: tokens of >= 2 bytes that are not stop words (STOP below), with a
 *   light plural stemmer (S-stemmer after Harman 1991, plus "-ches/-shes/
 *   -sses/-xes/-zes"; only for tokens > 3 bytes ending in 's'):
 *     -ies -> -y (not -eies/-aies; token > 4 bytes)   "berries" -> "berry"
 *     -sses/-ches/-shes/-xes/-zes -> drop "es"        "boxes" -> "box"
 *     -ss/-us/-is -> unchanged                        "glass", "cactus"
 *     otherwise drop the final "s"                    "candles" -> "candle"
 *   Every field contributes its words at the field weight:
 *     title 3, brand 2, category 2, tags 1, attrs 1, description 0.5.
 *   Whole-value features (tokens lower-cased, joined by one space, no stop
 *   words removed, no stemming; a ':' keeps them apart from words):
 *     "brand:<brand>"                        at w_brand,
 *     "cat:<l1>", "cat:<l1>><l2>", ...       every prefix of the category
 *                                            path (levels split on '>'),
 *                                            at w_category,
 *     "tag:<tag>" for each ','-separated tag  at w_tags.
 *   raw(i, f) = sum of the field weights of every occurrence of feature f
 *   in item i. Features are identified by the 64-bit XXH3 hash of their
 *   string (seed FEAT_SEED); two features with the same hash would merge
 *   (probability ~ terms^2 / 2^65, ~1e-10 for 100k terms).
 *
 * WEIGHTS AND SIMILARITY
 *   docs    = items with at least one feature; df_f = docs containing f.
 *   tf      = raw (k1 + 1) / (raw + k1)            k1 = 1.2 (BM25-style
 *             saturation without length normalisation, the cosine does that)
 *   idf     = ln((1 + docs) / (1 + df)) + 1        (> 0 for every term)
 *   w(i, f) = tf * idf,  v_i = w_i / ||w_i||_2,  sim(i, j) = v_i . v_j
 *   Every stored weight is > 0 and finite; cosines are in (0, 1].
 *
 * PRUNING (what keeps training sub-quadratic)
 *   Postings: every term with df >= 2 keeps the M = max_postings (default
 *   1000) items where it weighs most (weight desc, item asc); a term with
 *   df > M is "cut". Terms with df = 1 have no postings (they cannot match
 *   another item). For item i, the postings of its terms are walked and
 *   the partial dot products acc(j) accumulated: every complete list, and
 *   a cut list only when i itself is among its kept M (weight >= the M-th
 *   weight; so a cut term links two items only when it matters to both).
 *   If that finds fewer than R candidates, the skipped cut lists are
 *   walked too (so an item of only common words still gets neighbours).
 *   - No cut term in i: acc(j) is the exact cosine for every j sharing a
 *     term; the top N is exact.
 *   - Some cut term in i: acc(j) is a lower bound (a term is missed when
 *     i or j is outside its kept M). The R = RESCORE_MULT * N (4N)
 *     candidates with the largest acc(j) (quickselect, order score desc
 *     then item asc) are rescored with their exact cosine (i's vector
 *     scattered into a dense per-thread term array, summed over j's terms)
 *     and the best N of those are kept. Returned scores are always exact
 *     cosines; what may be missed are pairs whose partial score is outside
 *     i's R best. Below M items nothing is cut and the model is exact.
 *   Measured (synthetic catalog, 12-word Zipf descriptions, 10,000 items,
 *   M = 1000, against M = n): recall@10 0.9999, recall@50 0.9975.
 *   Cost: sum over complete lists of df^2 (df <= M) + (cut terms) * M^2
 *   accumulations, plus R * (terms per item) reads per item with a cut
 *   term; rescoring dominates on large catalogs.
 *
 * TRAINING (opts->threads workers, chunks of CHUNK items claimed from an
 * atomic counter; every item's result depends only on the data, so the
 * model is identical for any thread count; seed unused)
 *   1. features per item (parallel, per-chunk outputs concatenated in
 *      chunk order);
 *   2. term ids (sequential, first-appearance order) and df;
 *   3. item vectors (parallel); postings (counting sort by term, items
 *      ascending; then per term sorted by weight desc and cut to M, in
 *      parallel over term chunks; compacted);
 *   4. neighbours (parallel): dense per-thread double accumulator over
 *      items + touched list (terms of i in id order, postings in list
 *      order, so sums are reproducible); scores rounded to float; kept if
 *      > min_sim; the best `neighbours` by (score desc, j asc) in a
 *      bounded heap (topk.h).
 *   Cancel is polled per chunk; progress is reported by the calling thread.
 *
 * MEASURED (2-core shared machine under load ~7, so CPU seconds are the
 * stable figure; defaults, N = 50, M = 1000)
 *   Online Retail, 4,070 StockCodes, Description as title: train 0.06 s,
 *   model 1.8 MB, exact (no list cut). Synthetic 100,000 items (3-8 title
 *   words + 12 description words, Zipf over 20,000 words, Zipf brand /
 *   3-level category / 2 tags): train 8.5 s CPU (17 s wall), model 66 MB,
 *   peak RSS +95 MB while training; without descriptions 5.8 s CPU, 57 MB.
 *   candidates k = 10: anchor p50 0.4 us; history of 5 / 20 items p50
 *   7.5 / 25 us. tl_content_similar_text on 100k items: ~4.7 ms (a scan).
 *
 * CANDIDATES
 *   anchor set: walk the anchor's stored list (already best first, ties by
 *   lower index), skip() per item, first k; hit.anchor = anchor. An anchor
 *   >= n_items gives no hits. The history is ignored when an anchor is set.
 *   history only: r_p = hweight_p * 2^(-(n-1-p) / history_half_life), p = 0
 *   the oldest; score(j) = sum_p r_p sim(h_p, j) over each history item's
 *   stored neighbours (a repeated item counts each time); anchor = h_p with
 *   the largest single term (ties: lower item index). History items are
 *   not removed (callers mask them with skip()). Per call: a hash table
 *   sized 2x the touched neighbours (<= 1000 x 1000) and a k-entry heap.
 *   Scores are rounded to float before ranking so equal printed scores
 *   always come out lower index first.
 *
 * SNAPSHOT (little-endian, model.h helpers; f64 as its IEEE bits in a u64)
 *   u32 magic 0x54434c54 ("TLCT"), u32 version 1
 *   f64 w_title, w_brand, w_category, w_tags, w_attrs, w_description, k1,
 *       min_sim, history_half_life
 *   u32 neighbours, u32 max_postings
 *   u32 n_items, u32 n_terms, u32 n_docs
 *   u64 term hash x n_terms (distinct), u32 df x n_terms (1..n_docs)
 *   u32 vector length x n_items, then u32 term id x nnz (strictly
 *       increasing per item), f32 weight x nnz (finite, > 0)
 *   u32 neighbour count x n_items (<= neighbours), then u32 item x nn,
 *       f32 score x nn (per item: != the item, < n_items, finite, ordered
 *       by score desc then item asc)
 *   u64 XXH3 of every preceding byte (seed SUM_SEED)
 *   load() checks the checksum, every count against the bytes left before
 *   allocating, every invariant above, and that nothing trails.
 *   The vocabulary (hashes, df) and the vectors are what
 *   tl_content_similar_text needs to score items added after training. */
#include "model/content.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/hash.h"
#include "core/map.h"
#include "core/topk.h"

#define MAGIC 0x54434c54u
#define VERSION 1u
#define FEAT_SEED 0x636f6e74656e7431ull /* feature string hash seed */
#define SUM_SEED 0x54434c5453554d31ull  /* snapshot checksum seed */
#define CHUNK 64                        /* items per claimed work unit */
#define THREADS_MAX 256
#define VALUE_MAX 512 /* bytes of one whole-value feature ("cat:a>b>c") */
#define EMPTY UINT32_MAX
#define RESCORE_MULT 4 /* candidates rescored exactly per neighbour kept (PRUNING) */

struct content {
    struct tl_content_params p;
    uint32_t n_items, n_terms, n_docs;
    uint64_t *term_hash;  /* n_terms */
    uint32_t *df;         /* n_terms */
    float *idf;           /* n_terms, derived from df and n_docs */
    struct tl_u64map map; /* term hash -> term id */
    size_t *voff;         /* n_items + 1: item vectors */
    uint32_t *vterm;
    float *vw;
    size_t *noff; /* n_items + 1: neighbour lists */
    uint32_t *nitem;
    float *nscore;
};

/* ---- params ---- */

static void params_defaults(void *pv)
{
    struct tl_content_params *p = pv;
    p->w_title = 3.0;
    p->w_brand = 2.0;
    p->w_category = 2.0;
    p->w_tags = 1.0;
    p->w_attrs = 1.0;
    p->w_description = 0.5;
    p->k1 = 1.2;
    p->neighbours = 50;
    p->min_sim = 0.0;
    p->max_postings = 1000;
    p->history_half_life = 3.0;
}

static enum tl_rc param_set(void *pv, const char *key, const char *value, struct tl_err *err)
{
    struct tl_content_params *p = pv;
    if (!p || !key) return tl_err_set(err, TL_EINVAL, NULL, "params and key must not be NULL");
    struct {
        const char *name;
        double *dst;
        double lo, hi;
    } dbl[] = {{"w_title", &p->w_title, 0, 100},
               {"w_brand", &p->w_brand, 0, 100},
               {"w_category", &p->w_category, 0, 100},
               {"w_tags", &p->w_tags, 0, 100},
               {"w_attrs", &p->w_attrs, 0, 100},
               {"w_description", &p->w_description, 0, 100},
               {"k1", &p->k1, 0, 100},
               {"min_sim", &p->min_sim, 0, 1},
               {"history_half_life", &p->history_half_life, 0.01, 1000}};
    for (size_t i = 0; i < sizeof dbl / sizeof dbl[0]; i++)
        if (strcmp(key, dbl[i].name) == 0)
            return tl_model_param_double(key, value, dbl[i].lo, dbl[i].hi, dbl[i].dst, err);
    long v;
    enum tl_rc rc;
    if (strcmp(key, "neighbours") == 0) {
        if ((rc = tl_model_param_long(key, value, 1, TL_CONTENT_NEIGHBOURS_MAX, &v, err))) return rc;
        p->neighbours = (uint32_t)v;
        return TL_OK;
    }
    if (strcmp(key, "max_postings") == 0) {
        if ((rc = tl_model_param_long(key, value, 2, TL_DATASET_IDS_MAX, &v, err))) return rc;
        p->max_postings = (uint32_t)v;
        return TL_OK;
    }
    return tl_err_set(err, TL_EINVAL, key, "unknown content parameter \"%s\"", key);
}

static int range_ok(double x, double lo, double hi) { return isfinite(x) && x >= lo && x <= hi; }

static enum tl_rc params_check(const struct tl_content_params *p, struct tl_err *err)
{
    if (!range_ok(p->w_title, 0, 100) || !range_ok(p->w_brand, 0, 100) || !range_ok(p->w_category, 0, 100) ||
        !range_ok(p->w_tags, 0, 100) || !range_ok(p->w_attrs, 0, 100) || !range_ok(p->w_description, 0, 100))
        return tl_err_set(err, TL_EINVAL, "w_title", "field weights must be numbers from 0 to 100");
    if (!range_ok(p->k1, 0, 100)) return tl_err_set(err, TL_EINVAL, "k1", "k1 must be a number from 0 to 100");
    if (!range_ok(p->min_sim, 0, 1)) return tl_err_set(err, TL_EINVAL, "min_sim", "min_sim must be from 0 to 1");
    if (!range_ok(p->history_half_life, 0.01, 1000))
        return tl_err_set(err, TL_EINVAL, "history_half_life", "history_half_life must be from 0.01 to 1000");
    if (p->neighbours < 1 || p->neighbours > TL_CONTENT_NEIGHBOURS_MAX)
        return tl_err_set(err, TL_EINVAL, "neighbours", "neighbours must be from 1 to %u", TL_CONTENT_NEIGHBOURS_MAX);
    if (p->max_postings < 2 || p->max_postings > TL_DATASET_IDS_MAX)
        return tl_err_set(err, TL_EINVAL, "max_postings", "max_postings must be from 2 to %u", TL_DATASET_IDS_MAX);
    return TL_OK;
}

/* ---- tokens and features ---- */

static const char *const STOP[] = {
    "a",    "an",    "and",   "are",  "as",   "at",    "be", "by",  "for",  "from", "has",  "have",    "in",  "into",
    "is",   "it",    "its",   "no",   "not",  "of",    "on", "or",  "our",  "so",   "than", "that",    "the", "their",
    "then", "there", "these", "they", "this", "those", "to", "was", "were", "will", "with", "without", "you", "your"};

static int is_stop(const char *t, size_t n)
{
    for (size_t i = 0; i < sizeof STOP / sizeof STOP[0]; i++)
        if (strlen(STOP[i]) == n && memcmp(STOP[i], t, n) == 0) return 1;
    return 0;
}

static int ends(const char *t, size_t n, const char *suf)
{
    size_t m = strlen(suf);
    return n >= m && memcmp(t + n - m, suf, m) == 0;
}

/* Light plural stemmer (rules in the file comment); returns the new length. */
static size_t stem(char *t, size_t n)
{
    if (n <= 3 || t[n - 1] != 's') return n;
    if (n > 4 && ends(t, n, "ies") && !ends(t, n, "eies") && !ends(t, n, "aies")) {
        t[n - 3] = 'y';
        return n - 2;
    }
    if (ends(t, n, "sses") || ends(t, n, "ches") || ends(t, n, "shes") || ends(t, n, "xes") || ends(t, n, "zes"))
        return n - 2;
    if (ends(t, n, "ss") || ends(t, n, "us") || ends(t, n, "is")) return n;
    return n - 1;
}

static int is_tok_byte(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}

/* Next token of s[*pos .. end) into tok (NUL-terminated, < TL_CONTENT_TOKEN_MAX
 * bytes, lower-cased); 0 when there is none. */
static int next_token(const char *s, size_t end, size_t *pos, char *tok, size_t *tlen)
{
    size_t i = *pos, n = 0;
    while (i < end && !is_tok_byte((unsigned char)s[i])) i++;
    if (i >= end) {
        *pos = i;
        return 0;
    }
    while (i < end && is_tok_byte((unsigned char)s[i])) {
        unsigned char c = (unsigned char)s[i], c2 = 0;
        int two = 0;
        if (c >= 'A' && c <= 'Z') {
            c = (unsigned char)(c + 32);
        } else if (c == 0xC3 && i + 1 < end && (unsigned char)s[i + 1] >= 0x80 && (unsigned char)s[i + 1] <= 0xBF) {
            two = 1;
            c2 = (unsigned char)s[i + 1];
            if (c2 <= 0x9E && c2 != 0x97) c2 = (unsigned char)(c2 + 0x20);
        }
        if (n + 1 + (size_t)two < TL_CONTENT_TOKEN_MAX) {
            tok[n++] = (char)c;
            if (two) tok[n++] = (char)c2;
        }
        i += 1 + (size_t)two;
    }
    tok[n] = '\0';
    *tlen = n;
    *pos = i;
    return 1;
}

/* Receives each feature occurrence. */
struct sink {
    void (*fn)(struct sink *k, const char *s, size_t len, double w);
};

static void emit_words(struct sink *k, const char *s, size_t end, double w)
{
    char tok[TL_CONTENT_TOKEN_MAX];
    size_t pos = 0, n;
    while (next_token(s, end, &pos, tok, &n)) {
        if (n < 2 || is_stop(tok, n)) continue;
        n = stem(tok, n);
        k->fn(k, tok, n, w);
    }
}

/* Append the normalised value of s[0..end) (tokens joined by ' ') to buf
 * at *len (buf has VALUE_MAX bytes). Returns the number of tokens. */
static size_t norm_value(const char *s, size_t end, char *buf, size_t *len)
{
    char tok[TL_CONTENT_TOKEN_MAX];
    size_t pos = 0, n, count = 0;
    while (next_token(s, end, &pos, tok, &n)) {
        if (*len + n + 2 >= VALUE_MAX) break;
        if (count++) buf[(*len)++] = ' ';
        memcpy(buf + *len, tok, n);
        *len += n;
    }
    buf[*len] = '\0';
    return count;
}

static void emit_whole(struct sink *k, const char *prefix, const char *s, size_t end, double w)
{
    char buf[VALUE_MAX];
    size_t len = strlen(prefix);
    memcpy(buf, prefix, len);
    if (norm_value(s, end, buf, &len)) k->fn(k, buf, len, w);
}

static void emit_features(const struct tl_item_text *t, const struct tl_content_params *p, struct sink *k)
{
    if (t->title && p->w_title > 0) emit_words(k, t->title, strlen(t->title), p->w_title);
    if (t->description && p->w_description > 0) emit_words(k, t->description, strlen(t->description), p->w_description);
    if (t->brand && p->w_brand > 0) {
        emit_words(k, t->brand, strlen(t->brand), p->w_brand);
        emit_whole(k, "brand:", t->brand, strlen(t->brand), p->w_brand);
    }
    if (t->category && p->w_category > 0) {
        const char *c = t->category;
        emit_words(k, c, strlen(c), p->w_category);
        char buf[VALUE_MAX];
        size_t len = 4;
        memcpy(buf, "cat:", 4);
        int levels = 0;
        while (*c) {
            const char *gt = strchr(c, '>');
            size_t l = gt ? (size_t)(gt - c) : strlen(c);
            size_t save = len;
            if (levels && len + 1 < VALUE_MAX) buf[len++] = '>';
            if (norm_value(c, l, buf, &len)) {
                levels++;
                k->fn(k, buf, len, p->w_category);
            } else {
                len = save; /* an empty level (" >  > ") is skipped */
            }
            if (!gt) break;
            c = gt + 1;
        }
    }
    if (t->tags && p->w_tags > 0) {
        const char *c = t->tags;
        while (*c) {
            const char *comma = strchr(c, ',');
            size_t l = comma ? (size_t)(comma - c) : strlen(c);
            emit_words(k, c, l, p->w_tags);
            emit_whole(k, "tag:", c, l, p->w_tags);
            if (!comma) break;
            c = comma + 1;
        }
    }
    if (t->attrs && p->w_attrs > 0) emit_words(k, t->attrs, strlen(t->attrs), p->w_attrs);
}

/* Hashing sink: (hash, raw) pairs of one item, merged by hash. */
struct fv {
    uint64_t h;
    double raw;
};

struct hsink {
    struct sink k;
    struct fv *v;
    size_t n, cap;
    int oom;
};

static void hsink_fn(struct sink *k, const char *s, size_t len, double w)
{
    struct hsink *hs = (struct hsink *)k;
    if (hs->oom) return;
    if (hs->n == hs->cap) {
        size_t cap = hs->cap ? hs->cap * 2 : 64;
        struct fv *nv = tl_realloc(hs->v, cap * sizeof *nv);
        if (!nv) {
            hs->oom = 1;
            return;
        }
        hs->v = nv;
        hs->cap = cap;
    }
    hs->v[hs->n++] = (struct fv){tl_hash(s, len, FEAT_SEED), w};
}

static int fv_cmp(const void *a, const void *b)
{
    uint64_t x = ((const struct fv *)a)->h, y = ((const struct fv *)b)->h;
    return x < y ? -1 : x > y;
}

/* Features of t into hs (reset first), sorted by hash, duplicates summed. */
static enum tl_rc item_features(const struct tl_item_text *t, const struct tl_content_params *p, struct hsink *hs)
{
    hs->n = 0;
    hs->oom = 0;
    hs->k.fn = hsink_fn;
    emit_features(t, p, &hs->k);
    if (hs->oom) return TL_ENOMEM;
    if (hs->n > 1) qsort(hs->v, hs->n, sizeof *hs->v, fv_cmp);
    size_t m = 0;
    for (size_t i = 0; i < hs->n; i++) {
        if (m && hs->v[m - 1].h == hs->v[i].h)
            hs->v[m - 1].raw += hs->v[i].raw;
        else
            hs->v[m++] = hs->v[i];
    }
    hs->n = m;
    return TL_OK;
}

static double tf_of(double raw, double k1) { return raw * (k1 + 1.0) / (raw + k1); }
static double idf_of(uint32_t df, uint32_t docs) { return log((1.0 + docs) / (1.0 + df)) + 1.0; }

/* String sink for tl_content_features. */
struct ssink {
    struct sink k;
    char **s;
    double *raw;
    size_t n, cap;
    int oom;
};

static void ssink_fn(struct sink *k, const char *s, size_t len, double w)
{
    struct ssink *ss = (struct ssink *)k;
    if (ss->oom) return;
    for (size_t i = 0; i < ss->n; i++)
        if (strlen(ss->s[i]) == len && memcmp(ss->s[i], s, len) == 0) {
            ss->raw[i] += w;
            return;
        }
    if (ss->n == ss->cap) {
        size_t cap = ss->cap ? ss->cap * 2 : 16;
        char **ns = tl_realloc(ss->s, cap * sizeof *ns);
        if (!ns) {
            ss->oom = 1;
            return;
        }
        ss->s = ns;
        double *nr = tl_realloc(ss->raw, cap * sizeof *nr);
        if (!nr) {
            ss->oom = 1;
            return;
        }
        ss->raw = nr;
        ss->cap = cap;
    }
    if (!(ss->s[ss->n] = tl_strndup(s, len))) {
        ss->oom = 1;
        return;
    }
    ss->raw[ss->n++] = w;
}

enum tl_rc tl_content_features(const struct tl_item_text *t, const struct tl_content_params *p,
                               void (*emit)(void *ctx, const char *feature, double raw), void *ctx)
{
    if (!t || !emit) return TL_EINVAL;
    struct tl_content_params def;
    if (!p) {
        params_defaults(&def);
        p = &def;
    }
    struct ssink ss = {.k.fn = ssink_fn};
    emit_features(t, p, &ss.k);
    if (!ss.oom)
        for (size_t i = 0; i < ss.n; i++) emit(ctx, ss.s[i], ss.raw[i]);
    for (size_t i = 0; i < ss.n; i++) tl_free(ss.s[i]);
    tl_free(ss.s);
    tl_free(ss.raw);
    return ss.oom ? TL_ENOMEM : TL_OK;
}

/* ---- model memory ---- */

static void model_free(void *mv)
{
    struct content *m = mv;
    if (!m) return;
    tl_free(m->term_hash);
    tl_free(m->df);
    tl_free(m->idf);
    tl_u64map_free(&m->map);
    tl_free(m->voff);
    tl_free(m->vterm);
    tl_free(m->vw);
    tl_free(m->noff);
    tl_free(m->nitem);
    tl_free(m->nscore);
    tl_free(m);
}

static size_t model_memory(const void *mv)
{
    const struct content *m = mv;
    if (!m) return 0;
    size_t nnz = m->voff ? m->voff[m->n_items] : 0, nn = m->noff ? m->noff[m->n_items] : 0;
    return sizeof *m + (size_t)m->n_terms * (8 + 4 + 4) + m->map.cap * 16 + ((size_t)m->n_items + 1) * 16 + nnz * 8 +
           nn * 8;
}

/* ---- parallel runner ---- */

struct job {
    atomic_size_t next; /* next chunk to claim */
    size_t n_chunks;
    atomic_int rc; /* first error (TL_OK while fine) */
    const volatile int *cancel;
    void (*progress)(void *ctx, double frac, const char *phase);
    void *progress_ctx;
    double pbase, pspan;
    const char *phase;
    /* Per-thread setup/teardown and one chunk; tid 0 is the calling thread. */
    enum tl_rc (*chunk)(void *ctx, void *scratch, size_t c);
    void *(*scratch_new)(void *ctx);
    void (*scratch_free)(void *scratch);
    void *ctx;
};

struct worker {
    struct job *j;
    int tid;
};

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    struct job *j = w->j;
    void *scratch = j->scratch_new ? j->scratch_new(j->ctx) : NULL;
    if (j->scratch_new && !scratch) {
        int ok = TL_OK;
        atomic_compare_exchange_strong(&j->rc, &ok, TL_ENOMEM);
        return NULL;
    }
    for (;;) {
        if (atomic_load(&j->rc) != TL_OK) break;
        if (j->cancel && *j->cancel) {
            int ok = TL_OK;
            atomic_compare_exchange_strong(&j->rc, &ok, TL_ESHUTDOWN);
            break;
        }
        size_t c = atomic_fetch_add(&j->next, 1);
        if (c >= j->n_chunks) break;
        enum tl_rc rc = j->chunk(j->ctx, scratch, c);
        if (rc != TL_OK) {
            int ok = TL_OK;
            atomic_compare_exchange_strong(&j->rc, &ok, (int)rc);
            break;
        }
        if (w->tid == 0 && j->progress)
            j->progress(j->progress_ctx, j->pbase + j->pspan * (double)(c + 1) / (double)j->n_chunks, j->phase);
    }
    if (j->scratch_free) j->scratch_free(scratch);
    return NULL;
}

/* Run every chunk on up to `threads` threads (fewer if creation fails). */
static enum tl_rc run_job(struct job *j, int threads)
{
    if (threads < 1) threads = 1;
    if (threads > THREADS_MAX) threads = THREADS_MAX;
    if ((size_t)threads > j->n_chunks) threads = j->n_chunks ? (int)j->n_chunks : 1;
    atomic_init(&j->next, 0);
    atomic_init(&j->rc, TL_OK);
    pthread_t tids[THREADS_MAX];
    struct worker ws[THREADS_MAX];
    int started = 0;
    for (int t = 1; t < threads; t++) {
        ws[t] = (struct worker){j, t};
        if (pthread_create(&tids[t], NULL, worker_run, &ws[t]) != 0) break;
        started = t;
    }
    ws[0] = (struct worker){j, 0};
    worker_run(&ws[0]);
    for (int t = 1; t <= started; t++) pthread_join(tids[t], NULL);
    return (enum tl_rc)atomic_load(&j->rc);
}

/* ---- training ---- */

struct post {
    uint32_t item;
    float w;
};

struct train_ctx {
    const struct tl_dataset *d;
    const struct tl_content_params *p;
    struct content *m;
    /* phase 1: per chunk feature lists */
    struct fv **cfeat; /* n_chunks arrays */
    uint32_t *ilen;    /* features per item */
    size_t *cbase;     /* n_chunks + 1: offset of a chunk's first feature */
    /* phase 3: postings per term (n_terms + 1 offsets), each cut to M */
    size_t *poff;
    struct post *post;
    size_t *pfull; /* n_terms + 1: offsets before cutting (phase 3 only) */
    /* phase 4 */
    uint32_t N;
    uint32_t *nitem; /* n_items * N */
    float *nscore;
    uint32_t *ncnt;
};

static void *hsink_new(void *ctx)
{
    (void)ctx;
    return tl_calloc(1, sizeof(struct hsink));
}

static void hsink_free(void *s)
{
    struct hsink *hs = s;
    if (!hs) return;
    tl_free(hs->v);
    tl_free(hs);
}

static enum tl_rc chunk_features(void *cv, void *scratch, size_t c)
{
    struct train_ctx *x = cv;
    struct hsink *hs = scratch;
    uint32_t lo = (uint32_t)(c * CHUNK), hi = lo + CHUNK;
    if (hi > x->d->n_items) hi = x->d->n_items;
    struct fv *out = NULL;
    size_t n = 0, cap = 0;
    for (uint32_t i = lo; i < hi; i++) {
        x->ilen[i] = 0;
        if (!x->d->text) continue;
        enum tl_rc rc = item_features(&x->d->text[i], x->p, hs);
        if (rc) {
            tl_free(out);
            return rc;
        }
        if (n + hs->n > cap) {
            size_t ncap = cap ? cap : 256;
            while (ncap < n + hs->n) ncap *= 2;
            struct fv *no = tl_realloc(out, ncap * sizeof *no);
            if (!no) {
                tl_free(out);
                return TL_ENOMEM;
            }
            out = no;
            cap = ncap;
        }
        if (hs->n) memcpy(out + n, hs->v, hs->n * sizeof *out);
        n += hs->n;
        x->ilen[i] = (uint32_t)hs->n;
    }
    x->cfeat[c] = out;
    return TL_OK;
}

static enum tl_rc chunk_vectors(void *cv, void *scratch, size_t c)
{
    (void)scratch;
    struct train_ctx *x = cv;
    struct content *m = x->m;
    uint32_t lo = (uint32_t)(c * CHUNK), hi = lo + CHUNK;
    if (hi > m->n_items) hi = m->n_items;
    const struct fv *f = x->cfeat[c];
    size_t fi = 0;
    for (uint32_t i = lo; i < hi; i++) {
        size_t a = m->voff[i], b = m->voff[i + 1];
        double norm = 0;
        for (size_t e = a; e < b; e++) {
            uint64_t id = 0;
            tl_u64map_get(&m->map, f[fi + (e - a)].h, &id);
            double w = tf_of(f[fi + (e - a)].raw, x->p->k1) * m->idf[id];
            m->vterm[e] = (uint32_t)id;
            norm += w * w;
        }
        double inv = norm > 0 ? 1.0 / sqrt(norm) : 0;
        for (size_t e = a; e < b; e++, fi++) m->vw[e] = (float)(tf_of(f[fi].raw, x->p->k1) * m->idf[m->vterm[e]] * inv);
        /* insertion sort by term id (vectors are short), weights alongside */
        for (size_t e = a + 1; e < b; e++) {
            uint32_t t = m->vterm[e];
            float w = m->vw[e];
            size_t q = e;
            while (q > a && m->vterm[q - 1] > t) {
                m->vterm[q] = m->vterm[q - 1];
                m->vw[q] = m->vw[q - 1];
                q--;
            }
            m->vterm[q] = t;
            m->vw[q] = w;
        }
    }
    return TL_OK;
}

struct cand {
    double s;
    uint32_t id;
};

/* c better than d: higher score, then lower id (a total order). */
static int cand_better(const struct cand *c, const struct cand *d)
{
    return c->s > d->s || (c->s == d->s && c->id < d->id);
}

/* Reorder c[0..n) so that c[0..r) are the r best (in any order); 0 < r < n.
 * Quickselect with a median-of-three pivot: O(n) expected, deterministic. */
static void select_best(struct cand *c, size_t n, size_t r)
{
    size_t lo = 0, hi = n; /* the r-th best lies in [lo, hi) */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        struct cand a = c[lo], b = c[mid], d = c[hi - 1], piv;
        if (cand_better(&a, &b))
            piv = cand_better(&b, &d) ? b : (cand_better(&a, &d) ? d : a);
        else
            piv = cand_better(&a, &d) ? a : (cand_better(&b, &d) ? d : b);
        /* partition [lo, hi): better than pivot first, then the rest */
        size_t st = lo;
        for (size_t q = lo; q < hi; q++)
            if (cand_better(&c[q], &piv)) {
                struct cand t = c[q];
                c[q] = c[st];
                c[st++] = t;
            }
        /* the pivot itself next (st is its rank) */
        for (size_t q = st; q < hi; q++)
            if (c[q].id == piv.id && c[q].s == piv.s) {
                struct cand t = c[q];
                c[q] = c[st];
                c[st] = t;
                break;
            }
        if (st + 1 == r || st == r - 1) return;
        if (st >= r)
            hi = st;
        else
            lo = st + 1;
    }
}

struct nscratch {
    double *acc;
    uint32_t *touched;
    float *qw;         /* n_terms: item i's weights, for exact rescoring */
    struct cand *cand; /* n_items */
    struct tl_topk_entry *heap;
};

static void nscratch_free(void *sv)
{
    struct nscratch *s = sv;
    if (!s) return;
    tl_free(s->acc);
    tl_free(s->touched);
    tl_free(s->qw);
    tl_free(s->heap);
    tl_free(s->cand);
    tl_free(s);
}

static void *nscratch_new(void *cv)
{
    struct train_ctx *x = cv;
    struct nscratch *s = tl_calloc(1, sizeof *s);
    if (!s) return NULL;
    size_t ni = x->m->n_items ? x->m->n_items : 1, nt = x->m->n_terms ? x->m->n_terms : 1;
    s->acc = tl_calloc(ni, sizeof *s->acc);
    s->touched = tl_malloc(ni * sizeof *s->touched);
    s->qw = tl_calloc(nt, sizeof *s->qw);
    s->heap = tl_malloc(x->N * sizeof *s->heap);
    s->cand = tl_malloc(ni * sizeof *s->cand);
    if (!s->acc || !s->touched || !s->qw || !s->heap || !s->cand) {
        nscratch_free(s);
        return NULL;
    }
    return s;
}

static enum tl_rc chunk_neighbours(void *cv, void *scratch, size_t c)
{
    struct train_ctx *x = cv;
    struct nscratch *s = scratch;
    const struct content *m = x->m;
    uint32_t lo = (uint32_t)(c * CHUNK), hi = lo + CHUNK;
    if (hi > m->n_items) hi = m->n_items;
    for (uint32_t i = lo; i < hi; i++) {
        size_t nt = 0;
        int cut = 0, skipped = 0;
        /* pass 0: complete lists, and cut lists that i itself is in;
         * pass 1 (only when pass 0 found fewer than R candidates): the cut
         * lists skipped in pass 0 */
        for (int pass = 0; pass < 2; pass++) {
            if (pass == 1 && (!skipped || nt >= (size_t)x->N * RESCORE_MULT)) break;
            for (size_t e = m->voff[i]; e < m->voff[i + 1]; e++) {
                uint32_t t = m->vterm[e];
                size_t q0 = x->poff[t], q1 = x->poff[t + 1];
                int is_cut = m->df[t] > x->p->max_postings;
                int outside = is_cut && m->vw[e] < x->post[q1 - 1].w; /* i not among the kept M */
                cut |= is_cut;
                skipped |= outside;
                if (outside != pass) continue;
                double wi = m->vw[e];
                for (size_t q = q0; q < q1; q++) {
                    uint32_t j = x->post[q].item;
                    if (j == i) continue;
                    if (s->acc[j] == 0) s->touched[nt++] = j;
                    s->acc[j] += wi * x->post[q].w;
                }
            }
        }
        struct tl_topk h;
        tl_topk_init(&h, s->heap, x->N);
        if (!cut) {
            for (size_t q = 0; q < nt; q++) {
                uint32_t j = s->touched[q];
                float f = (float)s->acc[j];
                s->acc[j] = 0;
                if ((double)f > x->p->min_sim) tl_topk_push(&h, j, (double)f);
            }
        } else {
            /* partial scores: keep the R best (quickselect), rescore them exactly */
            size_t R = (size_t)x->N * RESCORE_MULT;
            for (size_t q = 0; q < nt; q++) {
                uint32_t j = s->touched[q];
                s->cand[q] = (struct cand){s->acc[j], j};
                s->acc[j] = 0;
            }
            if (nt > R) select_best(s->cand, nt, R);
            size_t nr = nt < R ? nt : R;
            for (size_t e = m->voff[i]; e < m->voff[i + 1]; e++) s->qw[m->vterm[e]] = m->vw[e];
            for (size_t q = 0; q < nr; q++) {
                uint32_t j = s->cand[q].id;
                if (q + 8 < nr) __builtin_prefetch(&m->voff[s->cand[q + 8].id]);
                if (q + 4 < nr) {
                    size_t o = m->voff[s->cand[q + 4].id];
                    __builtin_prefetch(&m->vterm[o]);
                    __builtin_prefetch(&m->vw[o]);
                }
                double v = 0;
                for (size_t e = m->voff[j]; e < m->voff[j + 1]; e++) v += (double)s->qw[m->vterm[e]] * m->vw[e];
                float f = (float)v;
                if ((double)f > x->p->min_sim) tl_topk_push(&h, j, (double)f);
            }
            for (size_t e = m->voff[i]; e < m->voff[i + 1]; e++) s->qw[m->vterm[e]] = 0;
        }
        size_t k = tl_topk_sort(&h);
        for (size_t q = 0; q < k; q++) {
            x->nitem[(size_t)i * x->N + q] = h.e[q].id;
            x->nscore[(size_t)i * x->N + q] = (float)h.e[q].score;
        }
        x->ncnt[i] = (uint32_t)k;
    }
    return TL_OK;
}

static int post_cmp(const void *a, const void *b)
{
    const struct post *x = a, *y = b;
    if (x->w != y->w) return x->w > y->w ? -1 : 1;
    return x->item < y->item ? -1 : x->item > y->item;
}

/* Sort each term's full postings by weight desc (terms of one chunk). */
static enum tl_rc chunk_sort_postings(void *cv, void *scratch, size_t c)
{
    (void)scratch;
    struct train_ctx *x = cv;
    size_t lo = c * CHUNK, hi = lo + CHUNK;
    if (hi > x->m->n_terms) hi = x->m->n_terms;
    for (size_t t = lo; t < hi; t++) {
        size_t n = x->pfull[t + 1] - x->pfull[t];
        if (n > x->p->max_postings) qsort(x->post + x->pfull[t], n, sizeof *x->post, post_cmp);
    }
    return TL_OK;
}

static void train_ctx_free(struct train_ctx *x, size_t n_chunks)
{
    if (x->cfeat)
        for (size_t c = 0; c < n_chunks; c++) tl_free(x->cfeat[c]);
    tl_free(x->cfeat);
    tl_free(x->ilen);
    tl_free(x->cbase);
    tl_free(x->poff);
    tl_free(x->post);
    tl_free(x->pfull);
    tl_free(x->nitem);
    tl_free(x->nscore);
    tl_free(x->ncnt);
}

static enum tl_rc train(const struct tl_dataset *d, const void *pv, const struct tl_train_opts *opts, void **out,
                        struct tl_err *err)
{
    if (!d || !out) return tl_err_set(err, TL_EINVAL, NULL, "dataset and out must not be NULL");
    *out = NULL;
    struct tl_content_params def;
    if (!pv) {
        params_defaults(&def);
        pv = &def;
    }
    const struct tl_content_params *p = pv;
    enum tl_rc rc = params_check(p, err);
    if (rc) return rc;
    int threads = opts && opts->threads > 0 ? opts->threads : 1;
    struct content *m = tl_calloc(1, sizeof *m);
    if (!m) return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    m->p = *p;
    m->n_items = d->n_items;
    tl_u64map_init(&m->map);
    size_t n_items = d->n_items, n_chunks = (n_items + CHUNK - 1) / CHUNK;
    struct train_ctx x = {.d = d, .p = p, .m = m, .N = p->neighbours};
    struct job j = {.n_chunks = n_chunks,
                    .cancel = opts ? opts->cancel : NULL,
                    .progress = opts ? opts->progress : NULL,
                    .progress_ctx = opts ? opts->progress_ctx : NULL,
                    .ctx = &x};
    uint64_t *phash = NULL;
    uint32_t *pdf = NULL;
    size_t pcap = 0;

    x.cfeat = tl_calloc(n_chunks ? n_chunks : 1, sizeof *x.cfeat);
    x.ilen = tl_calloc(n_items ? n_items : 1, sizeof *x.ilen);
    x.cbase = tl_calloc(n_chunks + 1, sizeof *x.cbase);
    m->voff = tl_calloc(n_items + 1, sizeof *m->voff);
    if (!x.cfeat || !x.ilen || !x.cbase || !m->voff) goto oom;

    /* 1. features */
    j.chunk = chunk_features;
    j.scratch_new = hsink_new;
    j.scratch_free = hsink_free;
    j.phase = "content: features";
    j.pbase = 0;
    j.pspan = 0.2;
    if ((rc = run_job(&j, threads))) goto fail;
    for (size_t i = 0; i < n_items; i++) m->voff[i + 1] = m->voff[i] + x.ilen[i];
    for (size_t c = 0; c < n_chunks; c++)
        x.cbase[c + 1] = m->voff[(c + 1) * CHUNK < n_items ? (c + 1) * CHUNK : n_items];

    /* 2. vocabulary and df in first-appearance order */
    uint32_t nt = 0;
    for (size_t c = 0; c < n_chunks; c++) {
        if (opts && opts->cancel && *opts->cancel) {
            rc = TL_ESHUTDOWN;
            goto fail;
        }
        size_t cnt = x.cbase[c + 1] - x.cbase[c];
        for (size_t e = 0; e < cnt; e++) {
            uint64_t h = x.cfeat[c][e].h, id;
            if (!tl_u64map_get(&m->map, h, &id)) {
                if (nt == pcap) {
                    size_t ncap = pcap ? pcap * 2 : 1024;
                    uint64_t *nh = tl_realloc(phash, ncap * sizeof *nh);
                    if (!nh) goto oom;
                    phash = nh;
                    uint32_t *nd = tl_realloc(pdf, ncap * sizeof *nd);
                    if (!nd) goto oom;
                    pdf = nd;
                    pcap = ncap;
                }
                id = nt;
                phash[nt] = h;
                pdf[nt++] = 0;
                if (tl_u64map_put(&m->map, h, id)) goto oom;
            }
            pdf[id]++;
        }
    }
    for (size_t i = 0; i < n_items; i++) m->n_docs += x.ilen[i] > 0;
    m->n_terms = nt;
    m->term_hash = phash;
    m->df = pdf;
    phash = NULL;
    pdf = NULL;
    m->idf = tl_malloc((nt ? nt : 1) * sizeof *m->idf);
    if (!m->idf) goto oom;
    for (uint32_t t = 0; t < nt; t++) m->idf[t] = (float)idf_of(m->df[t], m->n_docs);

    /* 3. vectors, then postings of terms with df >= 2, cut to M */
    size_t nnz = m->voff[n_items];
    m->vterm = tl_malloc((nnz ? nnz : 1) * sizeof *m->vterm);
    m->vw = tl_malloc((nnz ? nnz : 1) * sizeof *m->vw);
    if (!m->vterm || !m->vw) goto oom;
    j.chunk = chunk_vectors;
    j.scratch_new = NULL;
    j.scratch_free = NULL;
    j.phase = "content: vectors";
    j.pbase = 0.2;
    j.pspan = 0.05;
    if ((rc = run_job(&j, threads))) goto fail;
    for (size_t c = 0; c < n_chunks; c++) {
        tl_free(x.cfeat[c]);
        x.cfeat[c] = NULL;
    }
    x.pfull = tl_calloc((size_t)nt + 1, sizeof *x.pfull);
    x.poff = tl_calloc((size_t)nt + 1, sizeof *x.poff);
    if (!x.pfull || !x.poff) goto oom;
    for (size_t e = 0; e < nnz; e++)
        if (m->df[m->vterm[e]] >= 2) x.pfull[m->vterm[e] + 1]++;
    for (uint32_t t = 0; t < nt; t++) x.pfull[t + 1] += x.pfull[t];
    size_t np = x.pfull[nt];
    x.post = tl_malloc((np ? np : 1) * sizeof *x.post);
    size_t *fill = tl_malloc(((size_t)nt + 1) * sizeof *fill);
    if (!x.post || !fill) {
        tl_free(fill);
        goto oom;
    }
    memcpy(fill, x.pfull, ((size_t)nt + 1) * sizeof *fill);
    for (uint32_t i = 0; i < n_items; i++)
        for (size_t e = m->voff[i]; e < m->voff[i + 1]; e++) {
            uint32_t t = m->vterm[e];
            if (m->df[t] >= 2) x.post[fill[t]++] = (struct post){i, m->vw[e]};
        }
    tl_free(fill);
    j.chunk = chunk_sort_postings;
    j.n_chunks = ((size_t)nt + CHUNK - 1) / CHUNK;
    j.phase = "content: postings";
    j.pbase = 0.25;
    j.pspan = 0.05;
    if ((rc = run_job(&j, threads))) goto fail;
    j.n_chunks = n_chunks;
    for (uint32_t t = 0; t < nt; t++) {
        size_t n = x.pfull[t + 1] - x.pfull[t];
        if (n > p->max_postings) n = p->max_postings;
        memmove(x.post + x.poff[t], x.post + x.pfull[t], n * sizeof *x.post);
        x.poff[t + 1] = x.poff[t] + n;
    }
    tl_free(x.pfull);
    x.pfull = NULL;

    /* 4. neighbours */
    x.nitem = tl_malloc((n_items ? n_items : 1) * x.N * sizeof *x.nitem);
    x.nscore = tl_malloc((n_items ? n_items : 1) * x.N * sizeof *x.nscore);
    x.ncnt = tl_calloc(n_items ? n_items : 1, sizeof *x.ncnt);
    if (!x.nitem || !x.nscore || !x.ncnt) goto oom;
    j.chunk = chunk_neighbours;
    j.scratch_new = nscratch_new;
    j.scratch_free = nscratch_free;
    j.phase = "content: neighbours";
    j.pbase = 0.3;
    j.pspan = 0.7;
    if ((rc = run_job(&j, threads))) goto fail;
    tl_free(x.post);
    x.post = NULL;

    /* compact the neighbour lists in place (offsets only move down) */
    m->noff = tl_calloc(n_items + 1, sizeof *m->noff);
    if (!m->noff) goto oom;
    for (size_t i = 0; i < n_items; i++) {
        size_t o = m->noff[i];
        memmove(x.nitem + o, x.nitem + i * x.N, x.ncnt[i] * sizeof *x.nitem);
        memmove(x.nscore + o, x.nscore + i * x.N, x.ncnt[i] * sizeof *x.nscore);
        m->noff[i + 1] = o + x.ncnt[i];
    }
    size_t nn = m->noff[n_items];
    m->nitem = tl_realloc(x.nitem, (nn ? nn : 1) * sizeof *m->nitem);
    if (!m->nitem) goto oom;
    x.nitem = NULL;
    m->nscore = tl_realloc(x.nscore, (nn ? nn : 1) * sizeof *m->nscore);
    if (!m->nscore) goto oom;
    x.nscore = NULL;

    train_ctx_free(&x, n_chunks);
    tl_free(phash);
    tl_free(pdf);
    if (opts && opts->progress) opts->progress(opts->progress_ctx, 1.0, "content: done");
    *out = m;
    return TL_OK;
oom:
    rc = TL_ENOMEM;
fail:
    train_ctx_free(&x, n_chunks);
    tl_free(phash);
    tl_free(pdf);
    model_free(m);
    if (rc == TL_ESHUTDOWN) return tl_err_set(err, rc, NULL, "content training cancelled");
    if (rc == TL_ENOMEM) return tl_err_set(err, rc, NULL, "out of memory while training content model");
    return tl_err_set(err, rc, NULL, "content training failed");
}

/* ---- candidates ---- */

struct acc_slot {
    uint32_t item;   /* EMPTY when free */
    uint32_t anchor; /* history item with the largest single term */
    double score;
    double best;
};

static enum tl_rc candidates(const void *mv, const struct tl_model_query *q, tl_model_skip_fn skip, void *skip_ctx,
                             size_t k, struct tl_model_hit *out, size_t *n)
{
    const struct content *m = mv;
    if (n) *n = 0;
    if (!m || !q || !n || k > TL_MODEL_K_MAX || (k > 0 && !out) || q->n_history > TL_MODEL_HISTORY_MAX ||
        (q->n_history > 0 && !q->history))
        return TL_EINVAL;
    if (q->hweight)
        for (size_t i = 0; i < q->n_history; i++)
            if (!isfinite(q->hweight[i]) || q->hweight[i] < 0) return TL_EINVAL;
    if (k == 0) return TL_OK;
    if (q->anchor != TL_MODEL_NONE) {
        if (q->anchor >= m->n_items) return TL_OK;
        size_t c = 0;
        for (size_t e = m->noff[q->anchor]; e < m->noff[q->anchor + 1] && c < k; e++) {
            uint32_t j = m->nitem[e];
            if (skip && skip(skip_ctx, j)) continue;
            out[c++] = (struct tl_model_hit){j, m->nscore[e], q->anchor};
        }
        *n = c;
        return TL_OK;
    }
    size_t total = 0;
    for (size_t p = 0; p < q->n_history; p++) {
        uint32_t h = q->history[p];
        if (h < m->n_items) total += m->noff[h + 1] - m->noff[h];
    }
    if (total == 0) return TL_OK;
    size_t cap = 16;
    while (cap < 2 * total) cap *= 2;
    struct acc_slot *tab = tl_malloc(cap * sizeof *tab);
    struct tl_topk_entry *heap = tl_malloc(k * sizeof *heap);
    if (!tab || !heap) {
        tl_free(tab);
        tl_free(heap);
        return TL_ENOMEM;
    }
    for (size_t i = 0; i < cap; i++) tab[i].item = EMPTY;
    size_t mask = cap - 1, nh = q->n_history;
    for (size_t p = 0; p < nh; p++) {
        uint32_t h = q->history[p];
        if (h >= m->n_items) continue;
        double r = (q->hweight ? q->hweight[p] : 1.0) * exp2(-(double)(nh - 1 - p) / m->p.history_half_life);
        if (!(r > 0)) continue;
        for (size_t e = m->noff[h]; e < m->noff[h + 1]; e++) {
            uint32_t j = m->nitem[e];
            double term = r * m->nscore[e];
            size_t s = (size_t)tl_hash_u64(j) & mask;
            while (tab[s].item != EMPTY && tab[s].item != j) s = (s + 1) & mask;
            if (tab[s].item == EMPTY) {
                tab[s] = (struct acc_slot){j, h, term, term};
            } else {
                tab[s].score += term;
                if (term > tab[s].best || (term == tab[s].best && h < tab[s].anchor)) {
                    tab[s].best = term;
                    tab[s].anchor = h;
                }
            }
        }
    }
    struct tl_topk hp;
    tl_topk_init(&hp, heap, k);
    for (size_t s = 0; s < cap; s++) {
        if (tab[s].item == EMPTY) continue;
        double sc = (double)(float)tab[s].score;
        if (!tl_topk_accepts(&hp, tab[s].item, sc)) continue;
        if (skip && skip(skip_ctx, tab[s].item)) continue;
        tl_topk_push(&hp, tab[s].item, sc);
    }
    size_t c = tl_topk_sort(&hp);
    for (size_t i = 0; i < c; i++) {
        uint32_t j = hp.e[i].id;
        size_t s = (size_t)tl_hash_u64(j) & mask;
        while (tab[s].item != j) s = (s + 1) & mask;
        out[i] = (struct tl_model_hit){j, (float)hp.e[i].score, tab[s].anchor};
    }
    *n = c;
    tl_free(tab);
    tl_free(heap);
    return TL_OK;
}

/* ---- scoring a new text ---- */

enum tl_rc tl_content_similar_text(const void *mv, const struct tl_item_text *t, tl_model_skip_fn skip, void *skip_ctx,
                                   size_t k, struct tl_model_hit *out, size_t *n, struct tl_err *err)
{
    const struct content *m = mv;
    if (n) *n = 0;
    if (!m || !t || !n || (k > 0 && !out))
        return tl_err_set(err, TL_EINVAL, NULL, "model, text and n must not be NULL (out with k > 0)");
    if (k > TL_MODEL_K_MAX) return tl_err_set(err, TL_EINVAL, "k", "k must be at most %d", TL_MODEL_K_MAX);
    if (k == 0) return TL_OK;
    struct hsink hs = {0};
    enum tl_rc rc = item_features(t, &m->p, &hs);
    double *qw = rc ? NULL : tl_calloc(m->n_terms ? m->n_terms : 1, sizeof *qw);
    struct tl_topk_entry *heap = tl_malloc(k * sizeof *heap);
    if (rc || !qw || !heap) {
        tl_free(hs.v);
        tl_free(qw);
        tl_free(heap);
        return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    }
    double norm = 0, idf_new = idf_of(1, m->n_docs);
    size_t nq = 0;
    for (size_t i = 0; i < hs.n; i++) {
        uint64_t id;
        int known = tl_u64map_get(&m->map, hs.v[i].h, &id);
        double w = tf_of(hs.v[i].raw, m->p.k1) * (known ? (double)m->idf[id] : idf_new);
        norm += w * w;
        if (known) {
            qw[id] = w;
            nq++;
        }
    }
    tl_free(hs.v);
    double inv = norm > 0 ? 1.0 / sqrt(norm) : 0;
    struct tl_topk hp;
    tl_topk_init(&hp, heap, k);
    for (uint32_t i = 0; nq && i < m->n_items; i++) {
        double s = 0;
        for (size_t e = m->voff[i]; e < m->voff[i + 1]; e++) s += qw[m->vterm[e]] * m->vw[e];
        double f = (double)(float)(s * inv);
        if (!(f > m->p.min_sim) || !tl_topk_accepts(&hp, i, f)) continue;
        if (skip && skip(skip_ctx, i)) continue;
        tl_topk_push(&hp, i, f);
    }
    size_t c = tl_topk_sort(&hp);
    for (size_t i = 0; i < c; i++) out[i] = (struct tl_model_hit){hp.e[i].id, (float)hp.e[i].score, TL_MODEL_NONE};
    *n = c;
    tl_free(qw);
    tl_free(heap);
    return TL_OK;
}

/* ---- snapshot ---- */

static enum tl_rc put_f64(struct tl_buf *b, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    return tl_snap_put_u64(b, u);
}

static double get_f64(struct tl_snap_reader *r)
{
    uint64_t u = tl_snap_get_u64(r);
    double v;
    memcpy(&v, &u, 8);
    return v;
}

static enum tl_rc save(const void *mv, struct tl_buf *out, struct tl_err *err)
{
    const struct content *m = mv;
    if (!m || !out) return tl_err_set(err, TL_EINVAL, NULL, "model and out must not be NULL");
    size_t start = out->len, nnz = m->voff[m->n_items], nn = m->noff[m->n_items];
    const struct tl_content_params *p = &m->p;
    enum tl_rc rc = tl_buf_reserve(out, 128 + (size_t)m->n_terms * 12 + (size_t)m->n_items * 8 + nnz * 8 + nn * 8);
    double f64s[] = {p->w_title,       p->w_brand, p->w_category, p->w_tags,           p->w_attrs,
                     p->w_description, p->k1,      p->min_sim,    p->history_half_life};
    uint32_t head[] = {MAGIC, VERSION};
    if (!rc) rc = tl_snap_put_u32s(out, head, 2);
    for (size_t i = 0; !rc && i < sizeof f64s / sizeof f64s[0]; i++) rc = put_f64(out, f64s[i]);
    uint32_t u32s[] = {p->neighbours, p->max_postings, m->n_items, m->n_terms, m->n_docs};
    if (!rc) rc = tl_snap_put_u32s(out, u32s, 5);
    for (uint32_t t = 0; !rc && t < m->n_terms; t++) rc = tl_snap_put_u64(out, m->term_hash[t]);
    if (!rc) rc = tl_snap_put_u32s(out, m->df, m->n_terms);
    for (uint32_t i = 0; !rc && i < m->n_items; i++) rc = tl_snap_put_u32(out, (uint32_t)(m->voff[i + 1] - m->voff[i]));
    if (!rc) rc = tl_snap_put_u32s(out, m->vterm, nnz);
    if (!rc) rc = tl_snap_put_f32s(out, m->vw, nnz);
    for (uint32_t i = 0; !rc && i < m->n_items; i++) rc = tl_snap_put_u32(out, (uint32_t)(m->noff[i + 1] - m->noff[i]));
    if (!rc) rc = tl_snap_put_u32s(out, m->nitem, nn);
    if (!rc) rc = tl_snap_put_f32s(out, m->nscore, nn);
    if (!rc) rc = tl_snap_put_u64(out, tl_hash(out->data + start, out->len - start, SUM_SEED));
    if (rc) {
        out->len = start;
        if (out->data) out->data[start] = '\0';
        return tl_err_set(err, rc, NULL, "cannot write content snapshot");
    }
    return TL_OK;
}

/* Read n u32 lengths and turn them into n+1 offsets; 0 on failure. */
static int read_offsets(struct tl_snap_reader *r, size_t *off, uint32_t n, uint32_t max_each, size_t elem_bytes)
{
    off[0] = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t l = tl_snap_get_u32(r);
        if (r->bad || l > max_each) return 0;
        off[i + 1] = off[i] + l;
    }
    /* the elements must fit in what is left */
    return off[n] <= (r->len - r->off) / elem_bytes;
}

static enum tl_rc load(const void *data, size_t len, void **out, struct tl_err *err)
{
    if (!out) return tl_err_set(err, TL_EINVAL, NULL, "out must not be NULL");
    *out = NULL;
    const char *why = NULL;
    if (!data || len < 8 + 8) return tl_err_set(err, TL_EPARSE, NULL, "content snapshot too short (%zu bytes)", len);
    struct tl_snap_reader r = {data, len - 8, 0, 0}, tr = {data, len, len - 8, 0};
    if (tl_snap_get_u64(&tr) != tl_hash(data, len - 8, SUM_SEED))
        return tl_err_set(err, TL_EPARSE, NULL, "content snapshot checksum mismatch (truncated or damaged)");
    if (tl_snap_get_u32(&r) != MAGIC || tl_snap_get_u32(&r) != VERSION)
        return tl_err_set(err, TL_EPARSE, NULL, "not a content snapshot of version %u", VERSION);
    struct content *m = tl_calloc(1, sizeof *m);
    if (!m) return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    tl_u64map_init(&m->map);
    struct tl_content_params *p = &m->p;
    double *f64s[] = {&p->w_title,       &p->w_brand, &p->w_category, &p->w_tags,           &p->w_attrs,
                      &p->w_description, &p->k1,      &p->min_sim,    &p->history_half_life};
    for (size_t i = 0; i < sizeof f64s / sizeof f64s[0]; i++) *f64s[i] = get_f64(&r);
    p->neighbours = tl_snap_get_u32(&r);
    p->max_postings = tl_snap_get_u32(&r);
    m->n_items = tl_snap_get_u32(&r);
    m->n_terms = tl_snap_get_u32(&r);
    m->n_docs = tl_snap_get_u32(&r);
    enum tl_rc rc = TL_OK;
    if (r.bad) {
        why = "header cut short";
        goto bad;
    }
    if (params_check(p, NULL)) {
        why = "parameters out of range";
        goto bad;
    }
    if (m->n_items > TL_DATASET_IDS_MAX || m->n_docs > m->n_items || m->n_terms > (r.len - r.off) / 12) {
        why = "counts out of range";
        goto bad;
    }
    size_t nt = m->n_terms, ni = m->n_items;
    m->term_hash = tl_malloc((nt ? nt : 1) * sizeof *m->term_hash);
    m->df = tl_malloc((nt ? nt : 1) * sizeof *m->df);
    m->idf = tl_malloc((nt ? nt : 1) * sizeof *m->idf);
    if (!m->term_hash || !m->df || !m->idf) goto oom;
    for (size_t t = 0; t < nt; t++) {
        m->term_hash[t] = tl_snap_get_u64(&r);
        if (tl_u64map_get(&m->map, m->term_hash[t], NULL)) {
            why = "duplicate term";
            goto bad;
        }
        if (tl_u64map_put(&m->map, m->term_hash[t], t)) goto oom;
    }
    tl_snap_get_u32s(&r, m->df, nt);
    if (r.bad) {
        why = "vocabulary cut short";
        goto bad;
    }
    for (size_t t = 0; t < nt; t++) {
        if (m->df[t] < 1 || m->df[t] > m->n_docs) {
            why = "document frequency out of range";
            goto bad;
        }
        m->idf[t] = (float)idf_of(m->df[t], m->n_docs);
    }
    if (ni > (r.len - r.off) / 8) {
        why = "item count larger than the snapshot";
        goto bad;
    }
    m->voff = tl_malloc((ni + 1) * sizeof *m->voff);
    m->noff = tl_malloc((ni + 1) * sizeof *m->noff);
    if (!m->voff || !m->noff) goto oom;
    if (!read_offsets(&r, m->voff, m->n_items, m->n_terms, 8)) {
        why = "item vectors cut short";
        goto bad;
    }
    size_t nnz = m->voff[ni];
    m->vterm = tl_malloc((nnz ? nnz : 1) * sizeof *m->vterm);
    m->vw = tl_malloc((nnz ? nnz : 1) * sizeof *m->vw);
    if (!m->vterm || !m->vw) goto oom;
    tl_snap_get_u32s(&r, m->vterm, nnz);
    tl_snap_get_f32s(&r, m->vw, nnz);
    if (r.bad) {
        why = "item vectors cut short";
        goto bad;
    }
    uint32_t docs = 0;
    for (size_t i = 0; i < ni; i++) {
        docs += m->voff[i + 1] > m->voff[i];
        for (size_t e = m->voff[i]; e < m->voff[i + 1]; e++)
            if (m->vterm[e] >= nt || (e > m->voff[i] && m->vterm[e] <= m->vterm[e - 1]) || !isfinite(m->vw[e]) ||
                !(m->vw[e] > 0)) {
                why = "bad item vector entry";
                goto bad;
            }
    }
    if (docs != m->n_docs) {
        why = "document count mismatch";
        goto bad;
    }
    if (!read_offsets(&r, m->noff, m->n_items, p->neighbours, 8)) {
        why = "neighbour lists cut short";
        goto bad;
    }
    size_t nn = m->noff[ni];
    m->nitem = tl_malloc((nn ? nn : 1) * sizeof *m->nitem);
    m->nscore = tl_malloc((nn ? nn : 1) * sizeof *m->nscore);
    if (!m->nitem || !m->nscore) goto oom;
    tl_snap_get_u32s(&r, m->nitem, nn);
    tl_snap_get_f32s(&r, m->nscore, nn);
    if (r.bad) {
        why = "neighbour lists cut short";
        goto bad;
    }
    for (size_t i = 0; i < ni; i++)
        for (size_t e = m->noff[i]; e < m->noff[i + 1]; e++) {
            uint32_t j = m->nitem[e];
            float s = m->nscore[e];
            int order_ok = e == m->noff[i] || s < m->nscore[e - 1] || (s == m->nscore[e - 1] && j > m->nitem[e - 1]);
            if (j >= ni || j == i || !isfinite(s) || !order_ok) {
                why = "bad neighbour entry";
                goto bad;
            }
        }
    if (r.off != r.len) {
        why = "trailing bytes";
        goto bad;
    }
    *out = m;
    return TL_OK;
oom:
    rc = TL_ENOMEM;
bad:
    model_free(m);
    if (rc == TL_ENOMEM) return tl_err_set(err, rc, NULL, "out of memory loading content snapshot");
    return tl_err_set(err, TL_EPARSE, NULL, "damaged content snapshot: %s", why ? why : "?");
}

const struct tl_model_ops tl_content_ops = {
    .name = "content",
    .params_size = sizeof(struct tl_content_params),
    .params_defaults = params_defaults,
    .param_set = param_set,
    .train = train,
    .candidates = candidates,
    .save = save,
    .load = load,
    .memory = model_memory,
    .free = model_free,
};
