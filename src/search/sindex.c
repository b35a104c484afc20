/* Product search index (see sindex.h): in-memory inverted index with BM25F.
 *
 * Data:
 *  - terms: stemmed, folded tokens (tl_strtab) with a posting list each;
 *    a posting is {doc, gen, tf[field], tfn} (16 bytes), tfn being the
 *    BM25F pseudo frequency below. Postings are not sorted; removal is lazy:
 *    a document's generation byte is bumped, postings whose gen differs from
 *    lgen[doc] are stale and skipped, and a term's list is compacted when
 *    its stale count exceeds min(live/2 + 8, 200) (so one doc can never own
 *    256 stale postings of a term and a wrapped generation is never
 *    mistaken for live).
 *  - words: surface (folded, unstemmed) tokens -> term; the typo index
 *    (typo.c, SymSpell deletions) and the prefix list (words sorted, rebuilt
 *    lazily under a mutex by the first reader after a write) run over words.
 *  - per document: cold record (field lengths, creation time, id hash, its
 *    distinct terms for removal, title term sequence for proximity, every
 *    category path prefix, attribute (key, pair) ids) and a 32-byte hot
 *    record (present, visible, available, gen, brand, deepest category,
 *    price, first attribute pairs) read by filters, plus structure-of-arrays
 *    copies of what the per-match loop reads (flags live/available/has
 *    attributes/has more than one, price bucket, brand, deepest category,
 *    first attribute pair, price; all set in sync_hot), so facet counting
 *    touches a few bytes per match (the hot record only for products with
 *    two or more attribute pairs) and a boost hook reads the price without
 *    touching the catalog (tl_sindex_doc_price).
 *    Category paths form a tree (path_parent); attribute (key, value) pairs
 *    get dense ids so facet counting is array increments.
 *
 * Indexing: a token resolves to its term through a word cache (open
 *  addressing, words of at most WD_INLINE bytes stored inline with their
 *  term, so one cache line; misses fall back to the words table, which
 *  stays the source of truth, and Snowball runs once per distinct word).
 *  (term, field) counts of a document are aggregated without sorting: the
 *  term's list head carries a build stamp and the row of the term in the
 *  document being built (first-occurrence order).
 *
 * Ranking (relevance):
 *  BM25F (Robertson/Zaragoza "simple BM25F"): for term t and doc d
 *    tf~(t,d) = sum_f w_f * tf_f(t,d) / (1 - b_f + b_f * len_f(d) / avglen_f)
 *    s(t,d)   = idf(t) * tf~ * (k1 + 1) / (k1 + tf~)
 *    idf(t)   = ln(1 + (N - df + 0.5) / (df + 0.5))
 *  Defaults: k1 = 1.2; w: id 3.0, title 3.0, brand 2.0, category 1.5,
 *  tags 1.5, attrs 1.0, desc 0.5; b: id 0, title 0.75, brand 0.3,
 *  category 0.3, tags 0.5, attrs 0.5, desc 0.75. avglen_f is a reference
 *  value shared by all documents (avg_ref); tf~ is stored in each posting
 *  and everything is recomputed when some field's true average moves more
 *  than DRIFT = 5% away from the reference.
 *  Query words are slots (at most QSLOTS_MAX); a slot has alternatives:
 *  the exact stem (weight 1), synonyms (SYN_W = 0.8), typo corrections
 *  (TYPO_W = 0.6 for 1 edit, 0.36 for 2), prefix completions of the last
 *  word when the query does not end with a separator (PREFIX_W = 0.5 x
 *  (0.5 + 0.5 sqrt(df / df_max)), all with the idf of the most frequent
 *  completion, at most PREFIX_MAX), and the concatenation of the word with
 *  the next one ("deck over" -> "deckover", weight 1, counts for both
 *  slots). An unknown word that splits into two known words of 3+ letters
 *  ("deckpaint") becomes two slots (the split with the largest min df).
 *  A slot contributes the best of its alternatives. With m of n slots
 *  matched:
 *    text = (sum_slots s) * ((1 + m) / (1 + n)) ^ COORD_P   (COORD_P = 2)
 *  Proximity: for the best max(PROX_WINDOW = 100, offset + limit)
 *  candidates, text *= 1 + PROX_W * pairs / (n - 1) where pairs counts
 *  consecutive query slots found adjacent in the title (PROX_W = 0.25);
 *  then the window is re-sorted (documents outside it are not promoted).
 *  A query equal to a product id (folded) puts that product first
 *  (ID_BONUS added). Finally score = text * (1 + boost(doc)), boost clamped
 *  to [0, boost_max].
 *  Typo rules: no correction for words shorter than 5 or containing digits;
 *  1 edit for 5..8 characters, 2 for 9+ (tl_typo_max_edits), when the word
 *  is unknown or very rare (df <= RARE_DF = 2); up to TYPO_ALTS = 3
 *  closest words (then highest df). A match only through corrections is
 *  "corrected"; mode CORRECTED when any match is, corrected_q then has each
 *  corrected word replaced by its best correction.
 *  Zero results: RELAXED retries with one more edit allowed (min 1 for 3+
 *  characters, max 2), prefix expansion of every word and correction of
 *  known words too; then FALLBACK returns the most popular products passing
 *  the filters, restricted to the deepest category most common among the
 *  relaxed candidates (ignoring filters) when that leaves any.
 *  Browse (no tokens): every visible document passing the filters; for
 *  sort=relevance by popularity x (1 + boost(doc)) (boost clamped to
 *  [0, boost_max]; the fallback is by popularity alone, its documents do
 *  not match the query so the hook is not called).
 *  Top-k pruning: matches are visited in document order (a bitmap of
 *  touched documents when they are many); every match is counted for
 *  total and facets, but for sort=relevance a document whose upper bound
 *  base x (1 + boost_max) (base = text, or popularity in browse) cannot
 *  enter the full heap (core/topk.h order) is dropped before boost() is
 *  called: exact, since boost <= boost_max. With a query and a boost hook
 *  (personalized search) two passes (rank_bounded): the first counts every
 *  match and finds theta, the k-th best text score (k = the heap size);
 *  since boost >= 0, k documents end at or above theta, so the second
 *  drops every match with text x (1 + bound) < theta before the hook runs,
 *  bound = boost_max or, with boost_path_max, the hook's bound for the
 *  product's deepest category (asked once per path). The k best texts are
 *  pushed first so the heap starts near its final level. Exact: the kept
 *  set of a top-k heap does not depend on the order of the pushes.
 *
 * Autocomplete (tl_sindex_suggest): every word must match (the last one by
 *  prefix), ranked by text as search ranks it (the same plan, BM25F sum,
 *  proximity in the top PROX_WINDOW), without accumulating the union of
 *  every posting list:
 *  - one word: per alternative (prefix completions, the exact term, typo
 *    corrections) its TOP_K = 128 best live postings by (tfn desc, doc
 *    asc), cached per term with at least TOP_MIN_DF live postings (at most
 *    TOP_CACHED_MAX lists, rebuilt lazily after any write: ver == wver);
 *    merged by max; the top `limit` (<= 100) of the merge is the answer,
 *    checked against the bound of the cut lists (see suggest_one), else
 *    the full pass runs;
 *  - several words: intersection, smallest slot first, the others tested
 *    against a bitmap of the candidates still alive (suggest_and); the
 *    survivors' slot scores summed in slot order (the same float sum), then
 *    the same heap and proximity re-ranking. A concatenation alternative
 *    (spanning two slots) falls back to the full pass.
 *  Both give exactly the full pass's answer (tests compare them).
 *
 * Facets (over all matches): category (every path prefix), brand, price
 *  (fixed buckets 0-10, 10-25, 25-50, 50-100, 100-250, 250-500, 500-1000,
 *  1000+; lower bound inclusive; emitted in bucket order), available
 *  ("true"/"false"), attr:<key> (keys by total count, as many as fit in
 *  TL_SEARCH_FACETS_MAX); values by count desc, then first indexed first
 *  (the first TL_SEARCH_FACET_VALUES_MAX selected with a bounded heap, then
 *  sorted: the same prefix a full sort gives).
 *
 * Concurrency: rwlock; searches hold the read lock and use a scratch
 *  object (dense score arrays) taken from a mutex-protected pool, never
 *  shared by two calls at once; writers reuse one build buffer under the
 *  write lock and bump wver. The autocomplete top lists are read and
 *  rebuilt under their own mutex (tmu), copied out to the caller.
 *
 * File format (host byte order = little-endian on supported targets):
 *   "TLSIDX01" | u32 version (1) | u64 payload length | payload |
 *   u64 XXH3(payload, seed 0)
 *   payload: u64 config hash (language, stop words, synonyms)
 *     strtab terms; per term: u32 n, n x {u32 doc, u8 tf[7]}
 *     strtab words; per word: u32 term
 *     strtab brand keys; per brand: str display; strtab paths; strtab attr
 *     keys; strtab attr values; u32 n_pairs, n x {u32 key, u32 value}
 *     u32 doc capacity; per doc: u8 present, [u8 visible, u8 available,
 *     u16 len[7], f64 price, i64 created, u64 id hash, u32 brand,
 *     u32 n_terms, u32 n_title, u32 n_cats, u32 n_attrs, u32 x (n_terms +
 *     n_title + n_cats + 2 n_attrs)] (attrs as key id, pair id)
 *     u32 n_pop; f32 x n_pop
 *   strtab = u32 count, then per string u32 length + bytes; str = u32 length
 *   + bytes. A file shorter or longer than its header says, whose checksum
 *   differs, or whose payload does not parse exactly (ids in range,
 *   postings on present documents) is TL_EPARSE. Derived data (typo index,
 *   tfn, fw, hot records, category tree) is rebuilt on load.
 */
#include "search/sindex.h"

#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <fcntl.h>

#include "core/alloc.h"
#include "core/hash.h"
#include "core/map.h"
#include "core/topk.h"
#include "search/analyze.h"
#include "search/typo.h"

#define F TL_SF_COUNT
#define QSLOTS_MAX 32       /* query words considered */
#define ALTS_MAX 64         /* alternatives per query */
#define PREFIX_MAX 16       /* prefix expansions of the last word */
#define TYPO_ALTS 3         /* corrections kept per word */
#define TYPO_CAND_MAX 4096  /* candidates verified per word */
#define DOC_TOKENS_MAX 8192 /* tokens indexed per field */
#define TITLE_SEQ_MAX 255
#define CATS_MAX 16 /* category levels */
#define ATTRS_MAX 256
#define DOCS_MAX (1u << 28)
#define PROX_WINDOW 100
#define ATTR_INLINE 2
#define ID_BONUS 1e6
#define FILE_MAGIC "TLSIDX01"
#define FILE_VERSION 1u
#define SAVE_MAX ((size_t)1 << 34)

#ifndef SYN_W
#define SYN_W 0.8
#endif
#ifndef TYPO_W
#define TYPO_W 0.6
#endif
#ifndef PREFIX_W
#define PREFIX_W 0.5
#endif
#ifndef COORD_P
#define COORD_P 2.0
#endif
#ifndef PROX_W
#define PROX_W 0.25
#endif
#ifndef RARE_DF
#define RARE_DF 2
#endif
#ifndef CONCAT_W
#define CONCAT_W 1.0
#endif

static const double def_w[F] = {3.0, 3.0, 2.0, 1.5, 1.5, 1.0, 0.5};
static const double def_b[F] = {0.0, 0.75, 0.3, 0.3, 0.5, 0.5, 0.75};

struct post {
    uint32_t doc;
    uint8_t gen;
    uint8_t tf[F];
    float tfn; /* sum_f tf_f * fw_f (the BM25F pseudo frequency) */
};

struct term {
    struct post *p;
    uint32_t n, cap, live, stale;
    uint32_t bstamp, blocal; /* writer scratch: met in the document being built when bstamp == build.stamp,
                                then its row blocal there (32 bytes: one cache line with the list head) */
};

struct idoc {
    uint8_t present, visible, available, gen;
    uint16_t len[F];
    double price;
    int64_t created;
    uint64_t idh;
    uint32_t brand;
    uint32_t n_terms, n_title, n_cats, n_attrs;
    uint32_t *blob; /* terms | title | cats | attrs (key, pair id) */
    /* hot copies for filters and facets (no blob access while counting) */
    uint32_t leaf; /* deepest category path or TL_STRTAB_NONE */
};

/* Hot copy of what filters, facets and scoring read per matching document:
 * 32 bytes, two per cache line, in a dense array (see sync_hot). */
struct hot {
    uint8_t present, visible, available, gen;
    uint32_t brand, leaf;
    uint32_t n_attrs;
    double price;
    uint32_t ap[ATTR_INLINE]; /* first attribute pair ids */
};

#define HF_LIVE 1u  /* present and visible */
#define HF_AVAIL 2u /* available */
#define HF_ATTRS 4u /* has attribute pairs */
#define HF_MORE 8u  /* has more than one attribute pair (the rest: hot / blob) */
#define PB_NONE 0xFFu

static const double price_edges[] = {0, 10, 25, 50, 100, 250, 500, 1000};
static const char *const price_names[] = {"0-10",    "10-25",   "25-50",    "50-100",
                                          "100-250", "250-500", "500-1000", "1000+"};
#define N_PRICE 8

struct syn_rule {
    char *from; /* stemmed single token */
    char **to;  /* stemmed tokens */
    size_t n_to;
};

/* A term's TOP_K best live postings by (tfn desc, doc asc), valid while
 * ver == ix->wver (see term_top). */
#define TOP_K 128
#define TOP_MIN_DF 512      /* shorter posting lists are scanned on each use, not cached */
#define TOP_CACHED_MAX 8192 /* cached lists at most (about 1 KB each) */
struct toplist {
    uint64_t ver;
    uint32_t n, more; /* more: the term has live postings beyond these n */
    float below;      /* with more: the largest tfn below the last entry's (-1: none) */
    uint32_t doc[TOP_K];
    float tfn[TOP_K];
};

struct scratch {
    struct scratch *next;
    uint32_t cap;
    float *acc, *slot;
    uint32_t *mask, *stamp, *touched, *stouched;
    uint8_t *exact;
    uint64_t *bits; /* touched documents as a bitmap (all zero between calls) */
    double *text;   /* rank_bounded: text score per candidate (by position) */
    uint32_t cur;
};

/* Per-document aggregation without sorting: tv[term].bstamp == stamp marks
 * a term already met in the current document, tv[term].blocal its row in
 * lterm / ltf (terms in first-occurrence order). */
struct build {
    uint32_t stamp;
    uint32_t *lterm;   /* distinct terms of the document */
    uint8_t (*ltf)[F]; /* their per-field frequencies (saturating at 255) */
    size_t n_local, lcap;
    size_t n; /* tokens added (at most PAIRS_MAX) */
    uint32_t title[TITLE_SEQ_MAX];
    uint32_t n_title;
    uint32_t len[F];
    struct tl_stoken *tok;
};

/* Word cache slot: a surface word of at most WD_INLINE bytes stored inline
 * with its term, so the indexer resolves a token with one cache line
 * (open addressing, linear probing, load <= 1/2; len 0 = empty). */
#define WD_INLINE 19
#define WD_MAX (1u << 26) /* slots */
struct wslot {
    uint32_t h, term, wid;
    uint8_t len;
    char s[WD_INLINE];
};

struct tl_sindex {
    pthread_rwlock_t lock;
    struct tl_sanalyze *an;
    double w[F], b[F], k1;
    uint64_t cfg_hash;
    struct syn_rule *syn;
    size_t n_syn;
    struct tl_strtab terms;
    struct term *tv;
    uint32_t tv_cap;
    struct tl_strtab words;
    uint32_t *word_term;
    uint32_t word_cap;
    struct wslot *wd; /* word -> term cache for indexing (see word_to_term) */
    uint32_t wd_cap, wd_n;
    struct tl_typo typo;
    pthread_mutex_t pmu; /* guards the lazy sorted word list */
    uint32_t *sorted;
    uint32_t n_sorted;
    int sorted_dirty;
    struct tl_strtab brands; /* folded brand -> id */
    char **brand_disp;
    uint32_t brand_cap;
    struct tl_strtab paths, akeys, avals;
    uint32_t *path_parent; /* parent path id (TL_STRTAB_NONE at the top) */
    uint32_t parent_cap;
    struct tl_u64map pairmap; /* key << 32 | value -> 1 + pair id */
    uint32_t *pair_key, *pair_val;
    uint32_t n_pairs, pair_cap;
    struct tl_u64map ids; /* hash(folded id) -> doc + 1 */
    struct idoc *docs;
    struct hot *hot;
    /* structure-of-arrays copies of the hot fields the per-match loop reads
     * (see sync_hot): flags (HF_*), price bucket (PB_NONE = no bucket),
     * brand and deepest category */
    uint8_t *hflag, *hpb;
    uint32_t *hbrand, *hleaf;
    uint32_t *hap0;    /* first attribute pair id (valid with HF_ATTRS) */
    double *hprice;    /* price (NAN unknown), for tl_sindex_doc_price */
    float (*fw)[8];    /* BM25F factor w_f / norm_f per document and field */
    uint8_t *lgen;     /* live generation per document (stale postings differ) */
    double avg_ref[F]; /* avglen when fw / tfn were last refreshed for all */
    uint32_t cap;
    size_t count;
    double sumlen[F];
    uint32_t changes;
    float *pop;
    uint32_t n_pop;
    pthread_mutex_t smu; /* guards the scratch pool */
    struct scratch *pool;
    uint64_t wver;        /* bumped by every upsert / remove (under the write lock) */
    pthread_mutex_t tmu;  /* guards the top lists below */
    struct toplist **top; /* per term: its best live postings (see term_top), or NULL */
    uint32_t top_cap, n_top;
    struct build build; /* writer's buffers (under the write lock) */
};

static uint64_t cfg_hash(const struct tl_search_config *cfg)
{
    const char *lang = cfg && cfg->language ? cfg->language : "english";
    uint64_t h = tl_hash_str(lang, 1);
    h = tl_hash_u64(h ^ (cfg && cfg->stop_words ? tl_hash_str(cfg->stop_words, 2) : 0x5eedULL));
    h = tl_hash_u64(h ^ (cfg && cfg->synonyms ? tl_hash_str(cfg->synonyms, 3) : 0x51aULL));
    return h;
}

/* Analyse text into stemmed non-stop tokens joined by ' ' into out; returns count. */
static size_t stem_phrase(struct tl_sindex *ix, const char *s, size_t n, char **toks, size_t max)
{
    struct tl_stoken tk[16];
    size_t nt = tl_sanalyze_tokens(ix->an, s, n, tk, 16), k = 0;
    for (size_t i = 0; i < nt && k < max; i++) {
        if (tk[i].stop && nt > 1) continue;
        char buf[TL_SANALYZE_TOKEN_MAX * 2];
        tl_sanalyze_stem(ix->an, tk[i].s, tk[i].len, buf, sizeof buf);
        toks[k] = tl_strdup(buf);
        if (!toks[k]) break;
        k++;
    }
    return k;
}

static enum tl_rc add_rule(struct tl_sindex *ix, const char *from, size_t nf, const char *to, size_t nt)
{
    char *ft[4];
    size_t k = stem_phrase(ix, from, nf, ft, 4);
    char *tt[8];
    size_t m = stem_phrase(ix, to, nt, tt, 8);
    enum tl_rc rc = TL_OK;
    if (k != 1 || m == 0) { /* left side must be one token */
        rc = k == 0 || m == 0 ? TL_EINVAL : TL_OK;
        goto out;
    }
    struct syn_rule *ns = tl_realloc(ix->syn, (ix->n_syn + 1) * sizeof *ns);
    if (!ns) {
        rc = TL_ENOMEM;
        goto out;
    }
    ix->syn = ns;
    struct syn_rule *r = &ix->syn[ix->n_syn];
    r->to = tl_calloc(m, sizeof *r->to);
    if (!r->to) {
        rc = TL_ENOMEM;
        goto out;
    }
    r->from = ft[0];
    ft[0] = NULL;
    for (size_t i = 0; i < m; i++) r->to[i] = tt[i], tt[i] = NULL;
    r->n_to = m;
    ix->n_syn++;
out:
    for (size_t i = 0; i < k; i++) tl_free(ft[i]);
    for (size_t i = 0; i < m; i++) tl_free(tt[i]);
    return rc;
}

#define SYN_GROUP_MAX 32

static enum tl_rc parse_synonyms(struct tl_sindex *ix, const char *s, struct tl_err *err)
{
    while (*s) {
        const char *e = strchr(s, ';');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        const char *arrow = NULL;
        for (size_t i = 0; i + 1 < n; i++)
            if (s[i] == '=' && s[i + 1] == '>') arrow = s + i;
        int blank = 1;
        for (size_t i = 0; i < n; i++)
            if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n') blank = 0;
        if (!blank) {
            if (arrow) {
                size_t nl = (size_t)(arrow - s), nr = n - nl - 2;
                const char *r = arrow + 2;
                if (memchr(r, '=', nr) || memchr(s, ',', nl) || memchr(s, '=', nl) || !nr || !nl) goto bad;
                int rblank = 1;
                for (size_t i = 0; i < nr; i++)
                    if (r[i] != ' ' && r[i] != '\t') rblank = 0;
                if (rblank) goto bad;
                /* "a=>b,c": a expands to b and c */
                const char *p = r;
                while (p < r + nr) {
                    const char *c = memchr(p, ',', (size_t)(r + nr - p));
                    size_t len = c ? (size_t)(c - p) : (size_t)(r + nr - p);
                    enum tl_rc rc = add_rule(ix, s, nl, p, len);
                    if (rc == TL_EINVAL) goto bad;
                    if (rc != TL_OK) return tl_err_set(err, rc, "synonyms", "out of memory");
                    p += len + (c ? 1 : 0);
                }
            } else {
                const char *part[SYN_GROUP_MAX];
                size_t plen[SYN_GROUP_MAX], np = 0;
                const char *p = s;
                while (p <= s + n && np < SYN_GROUP_MAX) {
                    const char *c = memchr(p, ',', (size_t)(s + n - p));
                    size_t len = c ? (size_t)(c - p) : (size_t)(s + n - p);
                    part[np] = p;
                    plen[np++] = len;
                    if (!c) break;
                    p = c + 1;
                }
                if (np < 2 || memchr(s, '=', n)) goto bad;
                for (size_t i = 0; i < np; i++)
                    for (size_t j = 0; j < np; j++) {
                        if (i == j) continue;
                        enum tl_rc rc = add_rule(ix, part[i], plen[i], part[j], plen[j]);
                        if (rc == TL_EINVAL) goto bad;
                        if (rc != TL_OK) return tl_err_set(err, rc, "synonyms", "out of memory");
                    }
            }
        }
        s += n;
        if (*s == ';') s++;
        continue;
    bad:
        return tl_err_set(err, TL_EINVAL, "synonyms",
                          "malformed synonym group '%.*s' (expected \"a,b\" or \"a=>b\", groups separated by ';')",
                          (int)(n > 80 ? 80 : n), s);
    }
    return TL_OK;
}

enum tl_rc tl_sindex_new(const struct tl_search_config *cfg, struct tl_sindex **out, struct tl_err *err)
{
    *out = NULL;
    struct tl_sindex *ix = tl_calloc(1, sizeof *ix);
    if (!ix) return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    pthread_rwlock_init(&ix->lock, NULL);
    pthread_mutex_init(&ix->pmu, NULL);
    pthread_mutex_init(&ix->smu, NULL);
    pthread_mutex_init(&ix->tmu, NULL);
    tl_strtab_init(&ix->terms);
    tl_strtab_init(&ix->words);
    tl_strtab_init(&ix->brands);
    tl_strtab_init(&ix->paths);
    tl_strtab_init(&ix->akeys);
    tl_strtab_init(&ix->avals);
    tl_u64map_init(&ix->ids);
    tl_u64map_init(&ix->pairmap);
    tl_typo_init(&ix->typo);
    for (int f = 0; f < F; f++) {
        ix->w[f] = cfg && cfg->weight[f] > 0 ? cfg->weight[f] : def_w[f];
        /* b < 0, or a field left all-zero (weight 0 and b 0), means the default */
        ix->b[f] = cfg && cfg->b[f] >= 0 && !(cfg->b[f] == 0 && cfg->weight[f] == 0) ? cfg->b[f] : def_b[f];
    }
    if (cfg) {
        for (int f = 0; f < F; f++) {
            if (cfg->weight[f] < 0 || isnan(cfg->weight[f]))
                return tl_sindex_free(ix), tl_err_set(err, TL_EINVAL, "weight", "field weights must be >= 0");
            if (cfg->b[f] > 1) return tl_sindex_free(ix), tl_err_set(err, TL_EINVAL, "b", "b must be in [0, 1]");
        }
        if (cfg->k1 < 0 || isnan(cfg->k1))
            return tl_sindex_free(ix), tl_err_set(err, TL_EINVAL, "k1", "k1 must be > 0");
    }
    ix->k1 = cfg && cfg->k1 > 0 ? cfg->k1 : 1.2;
    ix->cfg_hash = cfg_hash(cfg);
    enum tl_rc rc = tl_sanalyze_new(cfg ? cfg->language : NULL, cfg ? cfg->stop_words : NULL, &ix->an, err);
    if (rc != TL_OK) {
        tl_sindex_free(ix);
        return rc;
    }
    if (cfg && cfg->synonyms) {
        rc = parse_synonyms(ix, cfg->synonyms, err);
        if (rc != TL_OK) {
            tl_sindex_free(ix);
            return rc;
        }
    }
    *out = ix;
    return TL_OK;
}

static void scratch_free(struct scratch *s)
{
    tl_free(s->acc);
    tl_free(s->slot);
    tl_free(s->mask);
    tl_free(s->stamp);
    tl_free(s->touched);
    tl_free(s->stouched);
    tl_free(s->text);
    tl_free(s->exact);
    tl_free(s->bits);
    tl_free(s);
}

void tl_sindex_free(struct tl_sindex *ix)
{
    if (!ix) return;
    for (uint32_t t = 0; t < ix->terms.count && ix->tv; t++) tl_free(ix->tv[t].p);
    tl_free(ix->tv);
    tl_strtab_free(&ix->terms);
    tl_strtab_free(&ix->words);
    tl_free(ix->word_term);
    tl_free(ix->wd);
    tl_typo_free(&ix->typo);
    tl_free(ix->sorted);
    for (uint32_t i = 0; i < ix->brands.count && ix->brand_disp; i++) tl_free(ix->brand_disp[i]);
    tl_free(ix->brand_disp);
    tl_strtab_free(&ix->brands);
    tl_strtab_free(&ix->paths);
    tl_strtab_free(&ix->akeys);
    tl_strtab_free(&ix->avals);
    tl_u64map_free(&ix->ids);
    tl_u64map_free(&ix->pairmap);
    tl_free(ix->pair_key);
    tl_free(ix->pair_val);
    tl_free(ix->path_parent);
    for (uint32_t d = 0; d < ix->cap; d++) tl_free(ix->docs[d].blob);
    tl_free(ix->docs);
    tl_free(ix->hot);
    tl_free(ix->hflag);
    tl_free(ix->hpb);
    tl_free(ix->hbrand);
    tl_free(ix->hleaf);
    tl_free(ix->hap0);
    tl_free(ix->hprice);
    tl_free(ix->fw);
    tl_free(ix->lgen);
    tl_free(ix->pop);
    for (size_t i = 0; i < ix->n_syn; i++) {
        tl_free(ix->syn[i].from);
        for (size_t j = 0; j < ix->syn[i].n_to; j++) tl_free(ix->syn[i].to[j]);
        tl_free(ix->syn[i].to);
    }
    tl_free(ix->syn);
    while (ix->pool) {
        struct scratch *s = ix->pool;
        ix->pool = s->next;
        scratch_free(s);
    }
    tl_free(ix->build.lterm);
    tl_free(ix->build.ltf);
    tl_free(ix->build.tok);
    tl_sanalyze_free(ix->an);
    pthread_rwlock_destroy(&ix->lock);
    pthread_mutex_destroy(&ix->pmu);
    pthread_mutex_destroy(&ix->smu);
    pthread_mutex_destroy(&ix->tmu);
    for (uint32_t t = 0; t < ix->top_cap; t++) tl_free(ix->top[t]);
    tl_free(ix->top);
    tl_free(ix);
}

/* ---- writing ---------------------------------------------------------- */

static enum tl_rc grow_docs(struct tl_sindex *ix, uint32_t need)
{
    if (need <= ix->cap) return TL_OK;
    if (need > DOCS_MAX) return TL_ETOOBIG;
    uint32_t nc = ix->cap ? ix->cap : 64;
    while (nc < need) nc = nc > DOCS_MAX / 2 ? DOCS_MAX : nc * 2;
    struct idoc *nd = tl_realloc(ix->docs, (size_t)nc * sizeof *nd);
    if (!nd) return TL_ENOMEM;
    memset(nd + ix->cap, 0, (size_t)(nc - ix->cap) * sizeof *nd);
    ix->docs = nd;
    struct hot *nh = tl_realloc(ix->hot, (size_t)nc * sizeof *nh);
    if (!nh) return TL_ENOMEM;
    memset(nh + ix->cap, 0, (size_t)(nc - ix->cap) * sizeof *nh);
    ix->hot = nh;
    float(*nf)[8] = tl_realloc(ix->fw, (size_t)nc * sizeof *nf);
    if (!nf) return TL_ENOMEM;
    memset(nf + ix->cap, 0, (size_t)(nc - ix->cap) * sizeof *nf);
    ix->fw = nf;
    uint8_t *ng = tl_realloc(ix->lgen, nc);
    if (!ng) return TL_ENOMEM;
    memset(ng + ix->cap, 0, nc - ix->cap);
    ix->lgen = ng;
    uint8_t *nfl = tl_realloc(ix->hflag, nc);
    if (!nfl) return TL_ENOMEM;
    memset(nfl + ix->cap, 0, nc - ix->cap);
    ix->hflag = nfl;
    uint8_t *npb = tl_realloc(ix->hpb, nc);
    if (!npb) return TL_ENOMEM;
    memset(npb + ix->cap, PB_NONE, nc - ix->cap);
    ix->hpb = npb;
    uint32_t *nbr = tl_realloc(ix->hbrand, (size_t)nc * sizeof *nbr);
    if (!nbr) return TL_ENOMEM;
    memset(nbr + ix->cap, 0xFF, (size_t)(nc - ix->cap) * sizeof *nbr);
    ix->hbrand = nbr;
    uint32_t *nlf = tl_realloc(ix->hleaf, (size_t)nc * sizeof *nlf);
    if (!nlf) return TL_ENOMEM;
    memset(nlf + ix->cap, 0xFF, (size_t)(nc - ix->cap) * sizeof *nlf);
    ix->hleaf = nlf;
    uint32_t *nap = tl_realloc(ix->hap0, (size_t)nc * sizeof *nap);
    if (!nap) return TL_ENOMEM;
    memset(nap + ix->cap, 0, (size_t)(nc - ix->cap) * sizeof *nap);
    ix->hap0 = nap;
    double *npr = tl_realloc(ix->hprice, (size_t)nc * sizeof *npr);
    if (!npr) return TL_ENOMEM;
    for (uint32_t i = ix->cap; i < nc; i++) npr[i] = NAN;
    ix->hprice = npr;
    ix->cap = nc;
    return TL_OK;
}

static enum tl_rc intern_term(struct tl_sindex *ix, const char *s, uint32_t *id)
{
    enum tl_rc rc = tl_strtab_intern(&ix->terms, s, id);
    if (rc != TL_OK) return rc;
    if (*id >= ix->tv_cap) {
        uint32_t nc = ix->tv_cap ? ix->tv_cap * 2 : 1024;
        struct term *nt = tl_realloc(ix->tv, (size_t)nc * sizeof *nt);
        if (!nt) return TL_ENOMEM;
        memset(nt + ix->tv_cap, 0, (size_t)(nc - ix->tv_cap) * sizeof *nt);
        ix->tv = nt;
        ix->tv_cap = nc;
    }
    return TL_OK;
}

static uint32_t wd_hash(const char *s, size_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, s + i, 8);
        h = (h ^ v) * 0xFF51AFD7ED558CCDULL;
        h ^= h >> 32;
    }
    uint64_t v = 0;
    for (size_t k = 0; i + k < n; k++) v |= (uint64_t)(unsigned char)s[i + k] << (8 * k);
    h = (h ^ v) * 0xC4CEB9FE1A85EC53ULL;
    h ^= h >> 29;
    return (uint32_t)h | 1u;
}

static struct wslot *wd_find(const struct tl_sindex *ix, const char *s, size_t n, uint32_t h)
{
    if (!ix->wd_cap) return NULL;
    for (uint32_t i = h & (ix->wd_cap - 1);; i = (i + 1) & (ix->wd_cap - 1)) {
        struct wslot *w = &ix->wd[i];
        if (!w->len) return w; /* empty: where it would go */
        if (w->h == h && w->len == n && !memcmp(w->s, s, n)) return w;
    }
}

/* Remember word -> term (best effort: a failed grow only costs speed). */
static void wd_put(struct tl_sindex *ix, const char *s, size_t n, uint32_t h, uint32_t wid, uint32_t term)
{
    if (n == 0 || n > WD_INLINE) return;
    if ((ix->wd_n + 1) * 2 > ix->wd_cap) {
        uint32_t nc = ix->wd_cap ? ix->wd_cap * 2 : 4096;
        if (nc > WD_MAX) return;
        struct wslot *nw = tl_calloc(nc, sizeof *nw);
        if (!nw) return;
        for (uint32_t i = 0; i < ix->wd_cap; i++) {
            const struct wslot *o = &ix->wd[i];
            if (!o->len) continue;
            uint32_t j = o->h & (nc - 1);
            while (nw[j].len) j = (j + 1) & (nc - 1);
            nw[j] = *o;
        }
        tl_free(ix->wd);
        ix->wd = nw;
        ix->wd_cap = nc;
    }
    struct wslot *w = wd_find(ix, s, n, h);
    if (w->len) return;
    w->h = h, w->term = term, w->wid = wid, w->len = (uint8_t)n;
    memcpy(w->s, s, n);
    ix->wd_n++;
}

/* Term of surface word w (interning word and stem as needed). The word
 * cache answers most tokens; a miss goes to the words table (the source of
 * truth, also after load) and fills the cache. */
static enum tl_rc word_to_term(struct tl_sindex *ix, const struct tl_stoken *t, uint32_t *term)
{
    uint32_t h = 0;
    if (t->len <= WD_INLINE) {
        h = wd_hash(t->s, t->len);
        const struct wslot *w = wd_find(ix, t->s, t->len, h);
        if (w && w->len) {
            *term = w->term;
            return TL_OK;
        }
    }
    uint32_t wid = tl_strtab_find(&ix->words, t->s);
    if (wid != TL_STRTAB_NONE) {
        *term = ix->word_term[wid];
        if (h) wd_put(ix, t->s, t->len, h, wid, *term);
        return TL_OK;
    }
    enum tl_rc rc = tl_strtab_intern(&ix->words, t->s, &wid);
    if (rc != TL_OK) return rc;
    if (wid >= ix->word_cap) {
        uint32_t nc = ix->word_cap ? ix->word_cap * 2 : 1024;
        uint32_t *nw = tl_realloc(ix->word_term, (size_t)nc * sizeof *nw);
        if (!nw) return TL_ENOMEM;
        ix->word_term = nw;
        ix->word_cap = nc;
    }
    char st[TL_SANALYZE_TOKEN_MAX * 2];
    tl_sanalyze_stem(ix->an, t->s, t->len, st, sizeof st);
    rc = intern_term(ix, st, term);
    if (rc != TL_OK) return rc;
    ix->word_term[wid] = *term;
    if (h) wd_put(ix, t->s, t->len, h, wid, *term);
    if (!t->has_digit) {
        rc = tl_typo_add(&ix->typo, wid, t->s, t->len);
        if (rc != TL_OK) return rc;
    }
    ix->sorted_dirty = 1;
    return TL_OK;
}

#define PAIRS_MAX ((size_t)DOC_TOKENS_MAX * F * 4) /* tokens indexed per document */

static enum tl_rc add_text(struct tl_sindex *ix, struct build *b, int field, const char *s, size_t n)
{
    if (!s || !n) return TL_OK;
    size_t nt = tl_sanalyze_tokens(ix->an, s, n, b->tok, DOC_TOKENS_MAX);
    for (size_t i = 0; i < nt; i++) {
        if (b->tok[i].stop) continue;
        if (b->n >= PAIRS_MAX) return TL_OK;
        uint32_t term;
        enum tl_rc rc = word_to_term(ix, &b->tok[i], &term);
        if (rc != TL_OK) return rc;
        struct term *tm = &ix->tv[term];
        if (tm->bstamp != b->stamp) {
            if (b->n_local == b->lcap) {
                size_t nc = b->lcap ? b->lcap * 2 : 256;
                uint32_t *nlt = tl_realloc(b->lterm, nc * sizeof *nlt);
                if (!nlt) return TL_ENOMEM;
                b->lterm = nlt;
                uint8_t(*ntf)[F] = tl_realloc(b->ltf, nc * sizeof *ntf);
                if (!ntf) return TL_ENOMEM;
                b->ltf = ntf;
                b->lcap = nc;
            }
            tm->bstamp = b->stamp;
            tm->blocal = (uint32_t)b->n_local;
            b->lterm[b->n_local] = term;
            memset(b->ltf[b->n_local], 0, F);
            b->n_local++;
        }
        uint8_t *tf = b->ltf[tm->blocal];
        if (tf[field] < 255) tf[field]++;
        b->n++;
        b->len[field]++;
        if (field == TL_SF_TITLE && b->n_title < TITLE_SEQ_MAX) b->title[b->n_title++] = term;
    }
    return TL_OK;
}

static void normalize_path(const char *s, size_t n, char *out, size_t cap)
{
    /* trim each level, join with " > " */
    size_t o = 0;
    const char *p = s, *end = s + n;
    out[0] = 0;
    while (p < end) {
        const char *g = memchr(p, '>', (size_t)(end - p));
        const char *le = g ? g : end;
        const char *a = p, *z = le;
        while (a < z && (*a == ' ' || *a == '\t')) a++;
        while (z > a && (z[-1] == ' ' || z[-1] == '\t')) z--;
        if (z > a) {
            size_t need = (size_t)(z - a) + (o ? 3 : 0);
            if (o + need + 1 > cap) break;
            if (o) memcpy(out + o, " > ", 3), o += 3;
            memcpy(out + o, a, (size_t)(z - a));
            o += (size_t)(z - a);
            out[o] = 0;
        }
        p = le + (g ? 1 : 0);
    }
}

/* Category path prefixes of s: interned ids written to cats; returns count. */
static size_t path_prefixes(struct tl_sindex *ix, const char *s, uint32_t *cats, int intern)
{
    char norm[1024];
    normalize_path(s, strlen(s), norm, sizeof norm);
    size_t k = 0, n = strlen(norm);
    for (size_t i = 0; i <= n && k < CATS_MAX; i++) {
        if (i == n || (i + 3 <= n && !memcmp(norm + i, " > ", 3))) {
            char save = norm[i];
            norm[i] = 0;
            uint32_t id = TL_STRTAB_NONE;
            if (intern) {
                if (tl_strtab_intern(&ix->paths, norm, &id) != TL_OK) id = TL_STRTAB_NONE;
            } else
                id = tl_strtab_find(&ix->paths, norm);
            norm[i] = save;
            if (id != TL_STRTAB_NONE) cats[k++] = id;
        }
    }
    return k;
}

static void sync_hot(struct tl_sindex *ix, uint32_t doc)
{
    const struct idoc *d = &ix->docs[doc];
    struct hot *h = &ix->hot[doc];
    h->present = d->present, h->visible = d->visible, h->available = d->available, h->gen = d->gen;
    h->brand = d->brand, h->leaf = d->leaf, h->n_attrs = d->n_attrs, h->price = d->price;
    const uint32_t *at = d->blob ? d->blob + d->n_terms + d->n_title + d->n_cats : NULL;
    for (uint32_t i = 0; i < ATTR_INLINE; i++) h->ap[i] = i < d->n_attrs ? at[2 * i + 1] : 0;
    ix->lgen[doc] = d->gen;
    ix->hflag[doc] = (uint8_t)((d->present && d->visible ? HF_LIVE : 0) | (d->available ? HF_AVAIL : 0) |
                               (d->n_attrs ? HF_ATTRS : 0) | (d->n_attrs > 1 ? HF_MORE : 0));
    ix->hap0[doc] = h->ap[0];
    ix->hprice[doc] = d->price;
    uint8_t pb = PB_NONE;
    if (!isnan(d->price) && d->price >= 0) {
        int b = N_PRICE - 1;
        while (b > 0 && d->price < price_edges[b]) b--;
        pb = (uint8_t)b;
    }
    ix->hpb[doc] = pb;
    ix->hbrand[doc] = d->brand;
    ix->hleaf[doc] = d->leaf;
}

static void refresh_fw_doc(struct tl_sindex *ix, uint32_t doc)
{
    const struct idoc *d = &ix->docs[doc];
    for (int f = 0; f < F; f++) {
        double avg = ix->avg_ref[f]; /* every document uses the same reference avglen */
        double norm = avg > 0 ? 1 - ix->b[f] + ix->b[f] * d->len[f] / avg : 1;
        ix->fw[doc][f] = (float)(ix->w[f] / (norm > 1e-6 ? norm : 1e-6));
    }
}

static float tfn_of(const struct tl_sindex *ix, uint32_t doc, const uint8_t *tf)
{
    float s = 0;
    for (int f = 0; f < F; f++) s += tf[f] * ix->fw[doc][f];
    return s;
}

/* Recompute every fw and every posting's tfn with the current avglen. */
static void refresh_fw_all(struct tl_sindex *ix)
{
    for (int f = 0; f < F; f++) ix->avg_ref[f] = ix->count ? ix->sumlen[f] / (double)ix->count : 0;
    for (uint32_t i = 0; i < ix->cap; i++)
        if (ix->docs[i].present) refresh_fw_doc(ix, i);
    for (uint32_t t = 0; t < ix->terms.count; t++)
        for (uint32_t i = 0; i < ix->tv[t].n; i++) {
            struct post *p = &ix->tv[t].p[i];
            if (ix->docs[p->doc].present && ix->docs[p->doc].gen == p->gen) p->tfn = tfn_of(ix, p->doc, p->tf);
        }
    ix->changes = 0;
}

/* Full refresh when some field's avglen moved by more than DRIFT (5%) since
 * the last one (amortised: a stable catalog rarely triggers it). */
#ifndef DRIFT
#define DRIFT 0.05
#endif
static void maybe_refresh(struct tl_sindex *ix)
{
    for (int f = 0; f < F; f++) {
        double avg = ix->count ? ix->sumlen[f] / (double)ix->count : 0, ref = ix->avg_ref[f];
        if (fabs(avg - ref) > DRIFT * (ref > 1 ? ref : 1)) {
            refresh_fw_all(ix);
            return;
        }
    }
}

static void compact_term(struct tl_sindex *ix, struct term *t)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < t->n; i++) {
        const struct idoc *d = &ix->docs[t->p[i].doc];
        if (d->present && d->gen == t->p[i].gen) t->p[k++] = t->p[i];
    }
    t->n = k;
    t->live = k;
    t->stale = 0;
}

static void remove_locked(struct tl_sindex *ix, uint32_t doc)
{
    if (doc >= ix->cap || !ix->docs[doc].present) return;
    struct idoc *d = &ix->docs[doc];
    d->present = 0;
    d->gen++;
    for (uint32_t i = 0; i < d->n_terms; i++) {
        struct term *t = &ix->tv[d->blob[i]];
        t->live--;
        t->stale++;
        uint32_t lim = t->live / 2 + 8;
        if (lim > 200) lim = 200;
        if (t->stale > lim) compact_term(ix, t);
    }
    for (int f = 0; f < F; f++) ix->sumlen[f] -= d->len[f];
    ix->count--;
    uint64_t v;
    if (d->idh && tl_u64map_get(&ix->ids, d->idh, &v) && v == (uint64_t)doc + 1) tl_u64map_del(&ix->ids, d->idh);
    tl_free(d->blob);
    d->blob = NULL;
    d->n_terms = d->n_title = d->n_cats = d->n_attrs = 0;
    sync_hot(ix, doc);
    ix->changes++;
}

static void attr_scalar(json_t *v, char *buf, size_t cap)
{
    buf[0] = 0;
    if (json_is_string(v))
        snprintf(buf, cap, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(buf, cap, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(buf, cap, "%g", json_real_value(v));
    else if (json_is_true(v))
        snprintf(buf, cap, "true");
    else if (json_is_false(v))
        snprintf(buf, cap, "false");
}

static enum tl_rc post_add(struct term *t, uint32_t doc, uint8_t gen, const uint8_t *tf, float tfn)
{
    if (t->n == t->cap) {
        if (t->cap >= DOCS_MAX) return TL_ETOOBIG;
        uint32_t nc = t->cap ? t->cap * 2 : 4;
        struct post *np = tl_realloc(t->p, (size_t)nc * sizeof *np);
        if (!np) return TL_ENOMEM;
        t->p = np;
        t->cap = nc;
    }
    struct post *p = &t->p[t->n++];
    p->doc = doc;
    p->gen = gen;
    memcpy(p->tf, tf, F);
    p->tfn = tfn;
    t->live++;
    return TL_OK;
}

static enum tl_rc intern_pair(struct tl_sindex *ix, uint32_t kid, uint32_t vid, uint32_t *pid)
{
    uint64_t key = ((uint64_t)kid << 32) | vid, v;
    if (tl_u64map_get(&ix->pairmap, key, &v)) {
        *pid = (uint32_t)(v - 1);
        return TL_OK;
    }
    if (ix->n_pairs == ix->pair_cap) {
        if (ix->pair_cap >= DOCS_MAX) return TL_ETOOBIG;
        uint32_t nc = ix->pair_cap ? ix->pair_cap * 2 : 64;
        uint32_t *nk = tl_realloc(ix->pair_key, (size_t)nc * 4);
        if (!nk) return TL_ENOMEM;
        ix->pair_key = nk;
        uint32_t *nv = tl_realloc(ix->pair_val, (size_t)nc * 4);
        if (!nv) return TL_ENOMEM;
        ix->pair_val = nv;
        ix->pair_cap = nc;
    }
    enum tl_rc rc = tl_u64map_put(&ix->pairmap, key, (uint64_t)ix->n_pairs + 1);
    if (rc != TL_OK) return rc;
    ix->pair_key[ix->n_pairs] = kid;
    ix->pair_val[ix->n_pairs] = vid;
    *pid = ix->n_pairs++;
    return TL_OK;
}

/* Record parent links of a chain of path prefixes. */
static enum tl_rc set_parents(struct tl_sindex *ix, const uint32_t *cats, size_t n)
{
    if (ix->paths.count > ix->parent_cap) {
        uint32_t nc = ix->parent_cap ? ix->parent_cap : 64;
        while (nc < ix->paths.count) nc *= 2;
        uint32_t *np = tl_realloc(ix->path_parent, (size_t)nc * 4);
        if (!np) return TL_ENOMEM;
        for (uint32_t i = ix->parent_cap; i < nc; i++) np[i] = TL_STRTAB_NONE;
        ix->path_parent = np;
        ix->parent_cap = nc;
    }
    for (size_t k = 0; k < n; k++) ix->path_parent[cats[k]] = k ? cats[k - 1] : TL_STRTAB_NONE;
    return TL_OK;
}

static enum tl_rc upsert_locked(struct tl_sindex *ix, uint32_t doc, const struct tl_sdoc *sd, struct build *b)
{
    enum tl_rc rc = grow_docs(ix, doc + 1);
    if (rc != TL_OK) return rc;
    json_t *tags = NULL, *attrs = NULL;
    if (sd->tags_json && *sd->tags_json) {
        tags = json_loads(sd->tags_json, JSON_DECODE_ANY, NULL);
        if (!tags || !json_is_array(tags)) {
            json_decref(tags);
            return TL_EINVAL;
        }
    }
    if (sd->attrs_json && *sd->attrs_json) {
        attrs = json_loads(sd->attrs_json, JSON_DECODE_ANY, NULL);
        if (!attrs || !json_is_object(attrs)) {
            json_decref(tags);
            json_decref(attrs);
            return TL_EINVAL;
        }
    }
    remove_locked(ix, doc);
    struct idoc *d = &ix->docs[doc];
    uint32_t attr_pairs[ATTRS_MAX * 2];
    uint32_t n_attr = 0;
    char vbuf[256];
    if (sd->id) rc = add_text(ix, b, TL_SF_ID, sd->id, strlen(sd->id));
    if (rc == TL_OK && sd->title) rc = add_text(ix, b, TL_SF_TITLE, sd->title, strlen(sd->title));
    if (rc == TL_OK && sd->brand) rc = add_text(ix, b, TL_SF_BRAND, sd->brand, strlen(sd->brand));
    if (rc == TL_OK && sd->category) rc = add_text(ix, b, TL_SF_CATEGORY, sd->category, strlen(sd->category));
    if (rc == TL_OK && tags) {
        size_t i;
        json_t *v;
        json_array_foreach(tags, i, v)
        {
            if (json_is_string(v)) rc = add_text(ix, b, TL_SF_TAGS, json_string_value(v), json_string_length(v));
            if (rc != TL_OK) break;
        }
    }
    if (rc == TL_OK && attrs) {
        const char *key;
        json_t *v;
        json_object_foreach(attrs, key, v)
        {
            json_t *one = v;
            size_t nv = json_is_array(v) ? json_array_size(v) : 1;
            for (size_t i = 0; i < nv && rc == TL_OK; i++) {
                if (json_is_array(v)) one = json_array_get(v, i);
                attr_scalar(one, vbuf, sizeof vbuf);
                if (!vbuf[0]) continue;
                rc = add_text(ix, b, TL_SF_ATTRS, vbuf, strlen(vbuf));
                uint32_t kid, vid, pid;
                if (rc == TL_OK && n_attr < ATTRS_MAX && tl_strtab_intern(&ix->akeys, key, &kid) == TL_OK &&
                    tl_strtab_intern(&ix->avals, vbuf, &vid) == TL_OK && intern_pair(ix, kid, vid, &pid) == TL_OK) {
                    attr_pairs[2 * n_attr] = kid;
                    attr_pairs[2 * n_attr + 1] = pid;
                    n_attr++;
                }
            }
            if (rc != TL_OK) break;
        }
    }
    if (rc == TL_OK && sd->description) rc = add_text(ix, b, TL_SF_DESC, sd->description, strlen(sd->description));
    json_decref(tags);
    json_decref(attrs);
    if (rc != TL_OK) return rc;
    size_t n_terms = b->n_local;
    uint32_t cats[CATS_MAX];
    size_t n_cats = sd->category ? path_prefixes(ix, sd->category, cats, 1) : 0;
    if (set_parents(ix, cats, n_cats) != TL_OK) n_cats = 0;
    size_t nblob = n_terms + b->n_title + n_cats + 2 * (size_t)n_attr;
    uint32_t *blob = tl_malloc((nblob ? nblob : 1) * sizeof *blob);
    if (!blob) return TL_ENOMEM;
    d->gen++;
    for (int f = 0; f < F; f++) {
        d->len[f] = (uint16_t)(b->len[f] > 65535 ? 65535 : b->len[f]);
        ix->sumlen[f] += d->len[f];
    }
    ix->count++;
    refresh_fw_doc(ix, doc);
    size_t k = 0;
    for (size_t i = 0; i < n_terms; i++) {
        const uint8_t *tf = b->ltf[i];
        rc = post_add(&ix->tv[b->lterm[i]], doc, d->gen, tf, tfn_of(ix, doc, tf));
        if (rc != TL_OK) { /* undo the postings added so far */
            for (size_t u = 0; u < k; u++) {
                struct term *t = &ix->tv[blob[u]];
                t->n--;
                t->live--;
            }
            for (int f = 0; f < F; f++) ix->sumlen[f] -= d->len[f];
            ix->count--;
            tl_free(blob);
            return rc;
        }
        blob[k++] = b->lterm[i];
    }
    memcpy(blob + k, b->title, b->n_title * sizeof *blob);
    memcpy(blob + k + b->n_title, cats, n_cats * sizeof *blob);
    memcpy(blob + k + b->n_title + n_cats, attr_pairs, 2 * (size_t)n_attr * sizeof *blob);
    d->blob = blob;
    d->n_terms = (uint32_t)n_terms;
    d->n_title = b->n_title;
    d->n_cats = (uint32_t)n_cats;
    d->n_attrs = n_attr;
    d->leaf = n_cats ? cats[n_cats - 1] : TL_STRTAB_NONE;
    d->price = sd->price;
    d->available = sd->available ? 1 : 0;
    d->visible = sd->visible ? 1 : 0;
    d->created = sd->created_ms;
    d->brand = TL_STRTAB_NONE;
    if (sd->brand && *sd->brand) {
        char fb[256];
        tl_sanalyze_fold(sd->brand, fb, sizeof fb);
        uint32_t bid;
        if (fb[0] && tl_strtab_intern(&ix->brands, fb, &bid) == TL_OK) {
            if (bid >= ix->brand_cap) {
                uint32_t nc = ix->brand_cap ? ix->brand_cap * 2 : 64;
                char **nb = tl_realloc(ix->brand_disp, (size_t)nc * sizeof *nb);
                if (nb) {
                    memset(nb + ix->brand_cap, 0, (size_t)(nc - ix->brand_cap) * sizeof *nb);
                    ix->brand_disp = nb;
                    ix->brand_cap = nc;
                }
            }
            if (bid < ix->brand_cap) {
                if (!ix->brand_disp[bid]) ix->brand_disp[bid] = tl_strdup(sd->brand);
                d->brand = bid;
            }
        }
    }
    d->idh = 0;
    if (sd->id && *sd->id) {
        char fid[256];
        tl_sanalyze_fold(sd->id, fid, sizeof fid);
        d->idh = tl_hash_str(fid, 0x1d) | 1;
        tl_u64map_put(&ix->ids, d->idh, (uint64_t)doc + 1);
    }
    d->present = 1;
    ix->changes++;
    sync_hot(ix, doc);
    maybe_refresh(ix);
    return TL_OK;
}

enum tl_rc tl_sindex_upsert(struct tl_sindex *ix, uint32_t doc, const struct tl_sdoc *d)
{
    if (!ix || !d || doc >= DOCS_MAX) return TL_EINVAL;
    pthread_rwlock_wrlock(&ix->lock);
    /* the build buffers live in the index and are reused by every writer */
    struct build *b = &ix->build;
    if (!b->tok) b->tok = tl_malloc(DOC_TOKENS_MAX * sizeof *b->tok);
    enum tl_rc rc = TL_ENOMEM;
    if (b->tok) {
        b->n = 0;
        b->n_local = 0;
        if (++b->stamp == 0) { /* wrapped: forget every mark */
            for (uint32_t t = 0; t < ix->terms.count; t++) ix->tv[t].bstamp = 0;
            b->stamp = 1;
        }
        b->n_title = 0;
        memset(b->len, 0, sizeof b->len);
        rc = upsert_locked(ix, doc, d, b);
    }
    ix->wver++;
    pthread_rwlock_unlock(&ix->lock);
    return rc;
}

void tl_sindex_remove(struct tl_sindex *ix, uint32_t doc)
{
    if (!ix) return;
    pthread_rwlock_wrlock(&ix->lock);
    remove_locked(ix, doc);
    maybe_refresh(ix);
    ix->wver++;
    pthread_rwlock_unlock(&ix->lock);
}

enum tl_rc tl_sindex_set_popularity(struct tl_sindex *ix, const float *pop, uint32_t n)
{
    if (!ix || (n && !pop) || n > DOCS_MAX) return TL_EINVAL;
    float *np = tl_malloc((n ? n : 1) * sizeof *np);
    if (!np) return TL_ENOMEM;
    for (uint32_t i = 0; i < n; i++) np[i] = isfinite(pop[i]) ? pop[i] : 0;
    pthread_rwlock_wrlock(&ix->lock);
    tl_free(ix->pop);
    ix->pop = np;
    ix->n_pop = n;
    pthread_rwlock_unlock(&ix->lock);
    return TL_OK;
}

void tl_sindex_doc_keys(const struct tl_sindex *ix, uint32_t doc, uint32_t *path_id, uint32_t *brand_id)
{
    int ok = doc < ix->cap && ix->hleaf && ix->hbrand;
    *path_id = ok ? ix->hleaf[doc] : TL_STRTAB_NONE;
    *brand_id = ok ? ix->hbrand[doc] : TL_STRTAB_NONE;
}

double tl_sindex_doc_price(const struct tl_sindex *ix, uint32_t doc)
{
    return doc < ix->cap && ix->hprice ? ix->hprice[doc] : NAN;
}

const char *tl_sindex_path_str(const struct tl_sindex *ix, uint32_t path_id)
{
    return path_id == TL_STRTAB_NONE ? NULL : tl_strtab_str(&ix->paths, path_id);
}

const char *tl_sindex_brand_str(const struct tl_sindex *ix, uint32_t brand_id)
{
    return brand_id == TL_STRTAB_NONE ? NULL : tl_strtab_str(&ix->brands, brand_id);
}

size_t tl_sindex_count(struct tl_sindex *ix)
{
    pthread_rwlock_rdlock(&ix->lock);
    size_t n = ix->count;
    pthread_rwlock_unlock(&ix->lock);
    return n;
}

size_t tl_sindex_memory(struct tl_sindex *ix)
{
    pthread_rwlock_rdlock(&ix->lock);
    size_t m = sizeof *ix + (size_t)ix->tv_cap * sizeof(struct term) + (size_t)ix->cap * sizeof(struct idoc);
    for (uint32_t t = 0; t < ix->terms.count; t++) m += (size_t)ix->tv[t].cap * sizeof(struct post);
    for (uint32_t d = 0; d < ix->cap; d++)
        m += (size_t)(ix->docs[d].n_terms + ix->docs[d].n_title + ix->docs[d].n_cats + 2 * ix->docs[d].n_attrs) * 4;
    m += (size_t)ix->typo.cap * 8 + ix->typo.heads.cap * 16 + (size_t)ix->word_cap * 4;
    m += (size_t)ix->wd_cap * sizeof(struct wslot);
    m += (size_t)ix->cap *
         (sizeof(struct hot) + sizeof *ix->fw + 1 + 2 + 3 * sizeof(uint32_t) + sizeof(double)); /* hot, fw, lgen, SoA */
    m += ((size_t)ix->terms.strs_cap + ix->words.strs_cap) * 8 + (ix->terms.cap + ix->words.cap) * 12;
    pthread_mutex_lock(&ix->tmu);
    m += (size_t)ix->n_top * sizeof(struct toplist) + (size_t)ix->top_cap * sizeof *ix->top; /* autocomplete lists */
    pthread_mutex_unlock(&ix->tmu);
    m += (size_t)ix->words.count * 12 + (size_t)ix->terms.count * 10; /* string bytes (estimate) */
    pthread_rwlock_unlock(&ix->lock);
    return m;
}

/* ---- querying ----------------------------------------------------------- */

struct alt {
    uint32_t term;
    float w;
    uint8_t corrected;
    uint32_t mask; /* slots this alternative satisfies */
    uint32_t df;   /* document frequency used for idf (0 = the term's own) */
};

struct qslot {
    char word[TL_SANALYZE_TOKEN_MAX + 1];
    char corr[TL_SANALYZE_TOKEN_MAX + 1]; /* best correction ("" = none) */
    uint8_t has_digit, has_exact;
    uint32_t exact_term; /* TL_STRTAB_NONE if unknown */
    size_t a0, a1;       /* alternatives [a0, a1) */
};

struct plan {
    struct qslot s[QSLOTS_MAX];
    size_t n;
    struct alt a[ALTS_MAX];
    size_t na;
};

struct qopt {
    int relaxed;     /* one more edit, prefix on every word, correct known words too */
    int prefix_last; /* expand the last word by prefix */
};

static uint32_t term_df(const struct tl_sindex *ix, uint32_t t)
{
    return t == TL_STRTAB_NONE || t >= ix->terms.count ? 0 : ix->tv[t].live;
}

static void add_alt(struct plan *p, uint32_t term, double w, int corrected, uint32_t mask)
{
    struct qslot *s = &p->s[p->n];
    for (size_t i = s->a0; i < p->na; i++)
        if (p->a[i].term == term) {
            if (w > p->a[i].w) {
                p->a[i].w = (float)w;
                p->a[i].corrected = (uint8_t)corrected;
                p->a[i].mask |= mask;
            }
            return;
        }
    if (p->na >= ALTS_MAX) return;
    p->a[p->na].term = term;
    p->a[p->na].w = (float)w;
    p->a[p->na].corrected = (uint8_t)corrected;
    p->a[p->na].mask = mask;
    p->a[p->na].df = 0;
    p->na++;
}

static int cmp_wordid(const void *a, const void *b, void *ctx)
{
    const struct tl_strtab *w = ctx;
    return strcmp(tl_strtab_str(w, *(const uint32_t *)a), tl_strtab_str(w, *(const uint32_t *)b));
}

static void ensure_sorted(struct tl_sindex *ix)
{
    pthread_mutex_lock(&ix->pmu);
    if (ix->sorted_dirty || ix->n_sorted != ix->words.count) {
        uint32_t *ns = tl_realloc(ix->sorted, ((size_t)ix->words.count + 1) * sizeof *ns);
        if (ns) {
            ix->sorted = ns;
            for (uint32_t i = 0; i < ix->words.count; i++) ns[i] = i;
            qsort_r(ns, ix->words.count, sizeof *ns, cmp_wordid, &ix->words);
            ix->n_sorted = ix->words.count;
            ix->sorted_dirty = 0;
        }
    }
    pthread_mutex_unlock(&ix->pmu);
}

#define PREFIX_SCAN_MAX 20000

static void add_prefix_alts(struct tl_sindex *ix, struct plan *p, const char *w, size_t n, uint32_t self)
{
    if (n < 1) return;
    ensure_sorted(ix);
    uint32_t lo = 0, hi = ix->n_sorted;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (strcmp(tl_strtab_str(&ix->words, ix->sorted[mid]), w) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    uint32_t best[PREFIX_MAX], bdf[PREFIX_MAX];
    size_t nb = 0;
    for (uint32_t i = lo; i < ix->n_sorted && i - lo < PREFIX_SCAN_MAX; i++) {
        const char *s = tl_strtab_str(&ix->words, ix->sorted[i]);
        if (strncmp(s, w, n)) break;
        uint32_t t = ix->word_term[ix->sorted[i]];
        uint32_t df = term_df(ix, t);
        if (!df || t == self) continue;
        int dup = 0;
        for (size_t k = 0; k < nb; k++)
            if (best[k] == t) dup = 1;
        if (dup) continue;
        if (nb < PREFIX_MAX) {
            best[nb] = t;
            bdf[nb++] = df;
        } else {
            size_t mk = 0;
            for (size_t k = 1; k < nb; k++)
                if (bdf[k] < bdf[mk]) mk = k;
            if (df > bdf[mk]) best[mk] = t, bdf[mk] = df;
        }
    }
    /* completions share the idf of the most frequent one and are weighted by
     * their relative frequency, so "mic" prefers "microwave" to "micra" */
    uint32_t dmax = 0;
    for (size_t k = 0; k < nb; k++)
        if (bdf[k] > dmax) dmax = bdf[k];
    for (size_t k = 0; k < nb; k++) {
        size_t before = p->na;
        add_alt(p, best[k], PREFIX_W * (0.5 + 0.5 * sqrt((double)bdf[k] / dmax)), 0, 1u << (p->n < 32 ? p->n : 31));
        if (p->na > before) p->a[p->na - 1].df = dmax;
    }
}

struct cand {
    uint32_t term, word, df;
    int dist;
};

static int cmp_cand(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->dist != y->dist) return x->dist - y->dist;
    if (x->df != y->df) return x->df > y->df ? -1 : 1;
    return x->word < y->word ? -1 : x->word > y->word;
}

#define TYPO_KEEP_MAX 256 /* verified candidates ranked per word */

static void add_typo_alts(struct tl_sindex *ix, struct plan *p, struct qslot *s, int maxd, uint32_t self)
{
    uint32_t *c = tl_malloc(TYPO_CAND_MAX * sizeof *c);
    struct cand *cs = tl_malloc(TYPO_KEEP_MAX * sizeof *cs);
    if (!c || !cs) {
        tl_free(c), tl_free(cs);
        return;
    }
    size_t n = tl_typo_candidates(&ix->typo, s->word, strlen(s->word), maxd, c, TYPO_CAND_MAX), nc = 0;
    size_t wl = strlen(s->word);
    for (size_t i = 0; i < n && nc < TYPO_KEEP_MAX; i++) {
        const char *w = tl_strtab_str(&ix->words, c[i]);
        uint32_t t = ix->word_term[c[i]];
        uint32_t df = term_df(ix, t);
        if (!df || t == self) continue;
        int d = tl_typo_dist(s->word, wl, w, strlen(w), maxd);
        if (d > maxd || d == 0) continue;
        cs[nc].term = t, cs[nc].word = c[i], cs[nc].df = df, cs[nc].dist = d;
        nc++;
    }
    if (nc) qsort(cs, nc, sizeof *cs, cmp_cand);
    size_t kept = 0;
    for (size_t i = 0; i < nc && kept < TYPO_ALTS; i++) {
        int dup = 0;
        for (size_t k = 0; k < i && !dup; k++) dup = cs[k].term == cs[i].term;
        if (dup) continue;
        double w = cs[i].dist == 1 ? TYPO_W : TYPO_W * TYPO_W;
        add_alt(p, cs[i].term, w, 1, 1u << (p->n < 32 ? p->n : 31));
        if (!kept) snprintf(s->corr, sizeof s->corr, "%s", tl_strtab_str(&ix->words, cs[i].word));
        kept++;
    }
    tl_free(c);
    tl_free(cs);
}

/* Best split of w into two known words (each >= 3 bytes): the split with the
 * highest min(df left, df right); returns 0 when none. */
static int find_split(struct tl_sindex *ix, const char *w, size_t n, uint32_t *tl, uint32_t *tr, size_t *at)
{
    uint32_t best = 0;
    char buf[TL_SANALYZE_TOKEN_MAX + 1];
    for (size_t k = 3; k + 3 <= n; k++) {
        memcpy(buf, w, k);
        buf[k] = 0;
        uint32_t wl = tl_strtab_find(&ix->words, buf);
        if (wl == TL_STRTAB_NONE) continue;
        uint32_t wr = tl_strtab_find(&ix->words, w + k);
        if (wr == TL_STRTAB_NONE) continue;
        uint32_t dl = term_df(ix, ix->word_term[wl]), dr = term_df(ix, ix->word_term[wr]);
        uint32_t m = dl < dr ? dl : dr;
        if (m > best) best = m, *tl = ix->word_term[wl], *tr = ix->word_term[wr], *at = k;
    }
    return best > 0;
}

/* Tokenise q into slots and alternatives. ends_open: the last word may be partial. */
static void build_plan(struct tl_sindex *ix, const struct tl_stoken *tk, size_t nt, int ends_open, const struct qopt *o,
                       struct plan *p)
{
    memset(p, 0, sizeof *p);
    size_t nonstop = 0;
    for (size_t i = 0; i < nt; i++)
        if (!tk[i].stop) nonstop++;
    const struct tl_stoken *use[QSLOTS_MAX];
    size_t nu = 0;
    for (size_t i = 0; i < nt && nu < QSLOTS_MAX; i++)
        if (!tk[i].stop || !nonstop) use[nu++] = &tk[i];
    for (size_t i = 0; i < nu; i++) {
        struct qslot *s = &p->s[p->n];
        memcpy(s->word, use[i]->s, use[i]->len + 1u);
        s->has_digit = use[i]->has_digit;
        s->a0 = p->na;
        uint32_t bit = 1u << (p->n < 32 ? p->n : 31);
        char st[TL_SANALYZE_TOKEN_MAX * 2];
        tl_sanalyze_stem(ix->an, use[i]->s, use[i]->len, st, sizeof st);
        uint32_t t = tl_strtab_find(&ix->terms, st);
        s->exact_term = t;
        if (term_df(ix, t)) {
            add_alt(p, t, 1.0, 0, bit);
            s->has_exact = 1;
        }
        for (size_t r = 0; r < ix->n_syn; r++) {
            if (strcmp(ix->syn[r].from, st)) continue;
            for (size_t k = 0; k < ix->syn[r].n_to; k++) {
                uint32_t st2 = tl_strtab_find(&ix->terms, ix->syn[r].to[k]);
                if (term_df(ix, st2)) add_alt(p, st2, SYN_W, 0, bit);
            }
        }
        if (i + 1 < nu && !use[i]->has_digit && !use[i + 1]->has_digit) {
            char cat[TL_SANALYZE_TOKEN_MAX * 2 + 2];
            snprintf(cat, sizeof cat, "%s%s", use[i]->s, use[i + 1]->s);
            uint32_t wid = tl_strtab_find(&ix->words, cat);
            if (wid != TL_STRTAB_NONE && term_df(ix, ix->word_term[wid]))
                add_alt(p, ix->word_term[wid], CONCAT_W, 0, bit | (bit << 1));
        }
        uint32_t sl, sr;
        size_t at;
        if (!s->has_exact && !use[i]->has_digit && p->na + 2 <= ALTS_MAX && p->n + 1 < QSLOTS_MAX &&
            find_split(ix, use[i]->s, use[i]->len, &sl, &sr, &at)) {
            /* "deckpaint" -> "deck" "paint": two slots */
            s->word[at] = 0;
            add_alt(p, sl, 1.0, 0, bit);
            s->has_exact = 1;
            s->exact_term = sl;
            s->a1 = p->na;
            p->n++;
            s = &p->s[p->n];
            memcpy(s->word, use[i]->s + at, use[i]->len - at + 1u);
            s->a0 = p->na;
            s->has_exact = 1;
            s->exact_term = sr;
            add_alt(p, sr, 1.0, 0, bit << 1);
            s->a1 = p->na;
            p->n++;
            continue;
        }
        int maxd = tl_typo_max_edits(use[i]->len);
        if (o->relaxed) maxd = maxd + 1 > 2 ? 2 : use[i]->len >= 3 ? maxd + 1 : 0;
        /* a known but very rare word ("toiled") may still be a typo */
        int rare = s->has_exact && term_df(ix, t) <= RARE_DF;
        if (!use[i]->has_digit && maxd > 0 && (!s->has_exact || rare || o->relaxed))
            add_typo_alts(ix, p, s, maxd, s->has_exact ? t : TL_STRTAB_NONE);
        if ((o->relaxed || (ends_open && i + 1 == nu && (size_t)(use[i] - tk) + 1 == nt)))
            add_prefix_alts(ix, p, use[i]->s, use[i]->len, s->has_exact ? t : TL_STRTAB_NONE);
        s->a1 = p->na;
        p->n++;
    }
}

static struct scratch *scratch_get(struct tl_sindex *ix)
{
    pthread_mutex_lock(&ix->smu);
    struct scratch *s = ix->pool;
    if (s) ix->pool = s->next;
    pthread_mutex_unlock(&ix->smu);
    if (!s) s = tl_calloc(1, sizeof *s);
    if (!s) return NULL;
    if (s->cap < ix->cap) {
        uint32_t nc = ix->cap;
        float *a = tl_realloc(s->acc, (size_t)nc * sizeof *a);
        if (a) s->acc = a;
        float *sl = tl_realloc(s->slot, (size_t)nc * sizeof *sl);
        if (sl) s->slot = sl;
        uint32_t *m = tl_realloc(s->mask, (size_t)nc * sizeof *m);
        if (m) s->mask = m;
        uint32_t *st = tl_realloc(s->stamp, (size_t)nc * sizeof *st);
        if (st) s->stamp = st;
        uint32_t *t = tl_realloc(s->touched, (size_t)nc * sizeof *t);
        if (t) s->touched = t;
        uint32_t *t2 = tl_realloc(s->stouched, (size_t)nc * sizeof *t2);
        if (t2) s->stouched = t2;
        double *tx = tl_realloc(s->text, (size_t)nc * sizeof *tx);
        if (tx) s->text = tx;
        uint8_t *e = tl_realloc(s->exact, nc);
        if (e) s->exact = e;
        size_t ow = s->cap ? (size_t)s->cap / 64 + 1 : 0, nw = (size_t)nc / 64 + 1;
        uint64_t *bw = tl_realloc(s->bits, nw * sizeof *bw);
        if (bw) s->bits = bw, memset(bw + ow, 0, (nw - ow) * sizeof *bw);
        if (!a || !sl || !m || !st || !t || !t2 || !tx || !e || !bw) {
            scratch_free(s);
            return NULL;
        }
        memset(s->acc + s->cap, 0, (size_t)(nc - s->cap) * sizeof *a);
        memset(s->mask + s->cap, 0, (size_t)(nc - s->cap) * sizeof *m);
        memset(s->stamp + s->cap, 0, (size_t)(nc - s->cap) * sizeof *st);
        memset(s->exact + s->cap, 0, nc - s->cap);
        s->cap = nc;
    }
    return s;
}

static void scratch_put(struct tl_sindex *ix, struct scratch *s, uint32_t n_touched)
{
    for (uint32_t i = 0; i < n_touched; i++) {
        uint32_t d = s->touched[i];
        s->acc[d] = 0;
        s->mask[d] = 0;
        s->exact[d] = 0;
    }
    pthread_mutex_lock(&ix->smu);
    s->next = ix->pool;
    ix->pool = s;
    pthread_mutex_unlock(&ix->smu);
}

static inline double idf_of(const struct tl_sindex *ix, uint32_t df)
{
    double n = (double)ix->count;
    return log(1.0 + (n - df + 0.5) / (df + 0.5));
}

/* Term-at-a-time accumulation; returns the number of touched documents. */
static uint32_t accumulate(struct tl_sindex *ix, const struct plan *p, struct scratch *sc)
{
    uint32_t nt = 0;
    const double k1 = ix->k1;
    for (size_t si = 0; si < p->n; si++) {
        const struct qslot *s = &p->s[si];
        int simple = s->a1 - s->a0 == 1;
        uint32_t ns = 0;
        sc->cur++;
        for (size_t ai = s->a0; ai < s->a1; ai++) {
            const struct alt *a = &p->a[ai];
            const struct term *t = &ix->tv[a->term];
            const double wi = a->w * idf_of(ix, a->df ? a->df : t->live) * (k1 + 1);
            for (uint32_t i = 0; i < t->n; i++) {
                const struct post *po = &t->p[i];
                if (ix->lgen[po->doc] != po->gen) continue; /* stale */
                const float tf = po->tfn;
                float c = (float)(wi * tf / (k1 + tf));
                uint32_t doc = po->doc;
                if (!sc->mask[doc]) {
                    sc->touched[nt++] = doc;
                    sc->bits[doc >> 6] |= 1ULL << (doc & 63);
                }
                sc->mask[doc] |= a->mask;
                if (!a->corrected) sc->exact[doc] = 1;
                if (simple) {
                    sc->acc[doc] += c;
                } else if (sc->stamp[doc] != sc->cur) {
                    sc->stamp[doc] = sc->cur;
                    sc->slot[doc] = c;
                    sc->stouched[ns++] = doc;
                } else if (c > sc->slot[doc])
                    sc->slot[doc] = c;
            }
        }
        for (uint32_t i = 0; i < ns; i++) sc->acc[sc->stouched[i]] += sc->slot[sc->stouched[i]];
    }
    return nt;
}

/* ---- filters, facets, collection ------------------------------------------ */

#define BRAND_FILTER_MAX 64
#define ATTR_FILTER_MAX 32

struct filt {
    int impossible;
    uint32_t cat; /* TL_STRTAB_NONE = no filter */
    uint32_t brands[BRAND_FILTER_MAX];
    size_t n_brands; /* 0 with want_brands = impossible */
    int want_brands;
    uint32_t akey[ATTR_FILTER_MAX];
    const char *aval[ATTR_FILTER_MAX];
    size_t n_attrs;
    double minp, maxp;
    int avail;
    const struct tl_squery *q;
};

static void prep_filter(struct tl_sindex *ix, const struct tl_squery *q, struct filt *fl)
{
    memset(fl, 0, sizeof *fl);
    fl->q = q;
    fl->cat = TL_STRTAB_NONE;
    if (q->category && *q->category) {
        uint32_t c[CATS_MAX];
        char norm[1024];
        normalize_path(q->category, strlen(q->category), norm, sizeof norm);
        fl->cat = tl_strtab_find(&ix->paths, norm);
        (void)c;
        if (fl->cat == TL_STRTAB_NONE) fl->impossible = 1;
    }
    if (q->n_brands && q->brands) {
        fl->want_brands = 1;
        for (size_t i = 0; i < q->n_brands && fl->n_brands < BRAND_FILTER_MAX; i++) {
            if (!q->brands[i]) continue;
            char fb[256];
            tl_sanalyze_fold(q->brands[i], fb, sizeof fb);
            uint32_t id = tl_strtab_find(&ix->brands, fb);
            if (id != TL_STRTAB_NONE) fl->brands[fl->n_brands++] = id;
        }
        if (!fl->n_brands) fl->impossible = 1;
    }
    for (size_t i = 0; q->attrs && i < q->n_attrs && i < ATTR_FILTER_MAX; i++) {
        if (!q->attrs[i].key || !q->attrs[i].value) continue;
        uint32_t k = tl_strtab_find(&ix->akeys, q->attrs[i].key);
        if (k == TL_STRTAB_NONE) fl->impossible = 1;
        fl->akey[fl->n_attrs] = k;
        fl->aval[fl->n_attrs++] = q->attrs[i].value;
    }
    fl->minp = q->min_price;
    fl->maxp = q->max_price;
    fl->avail = q->available_only;
}

static int passes(const struct tl_sindex *ix, const struct filt *fl, uint32_t doc, uint32_t extra_cat)
{
    const struct hot *h = &ix->hot[doc];
    if (!h->present || !h->visible || fl->impossible) return 0;
    if (fl->avail && !h->available) return 0;
    if (!isnan(fl->minp) && !(h->price >= fl->minp)) return 0;
    if (!isnan(fl->maxp) && !(h->price <= fl->maxp)) return 0;
    if (fl->cat != TL_STRTAB_NONE || extra_cat != TL_STRTAB_NONE) {
        int ok1 = fl->cat == TL_STRTAB_NONE, ok2 = extra_cat == TL_STRTAB_NONE;
        for (uint32_t c = h->leaf, depth = 0; c != TL_STRTAB_NONE && depth < CATS_MAX;
             c = ix->path_parent[c], depth++) {
            if (c == fl->cat) ok1 = 1;
            if (c == extra_cat) ok2 = 1;
        }
        if (!ok1 || !ok2) return 0;
    }
    if (fl->want_brands) {
        int ok = 0;
        for (size_t i = 0; i < fl->n_brands; i++)
            if (h->brand == fl->brands[i]) ok = 1;
        if (!ok) return 0;
    }
    if (fl->n_attrs) {
        const struct idoc *d = &ix->docs[doc];
        const uint32_t *at = d->blob + d->n_terms + d->n_title + d->n_cats;
        for (size_t k = 0; k < fl->n_attrs; k++) {
            int ok = 0;
            for (uint32_t i = 0; i < h->n_attrs && !ok; i++) {
                uint32_t pid = i < ATTR_INLINE ? h->ap[i] : at[2 * i + 1];
                if (ix->pair_key[pid] == fl->akey[k] &&
                    !strcasecmp(tl_strtab_str(&ix->avals, ix->pair_val[pid]), fl->aval[k]))
                    ok = 1;
            }
            if (!ok) return 0;
        }
    }
    if (fl->q->skip && fl->q->skip(fl->q->skip_ctx, doc)) return 0;
    return 1;
}

struct facets {
    uint32_t *cat, *brand, *pair; /* cat: documents whose deepest path is this one */
    uint32_t price[N_PRICE], avail[2];
    int on;
};

static enum tl_rc facets_init(struct tl_sindex *ix, struct facets *fc, int on)
{
    memset(fc, 0, sizeof *fc);
    fc->on = on;
    if (!on) return TL_OK;
    fc->cat = tl_calloc(ix->paths.count + 1, sizeof *fc->cat);
    fc->brand = tl_calloc(ix->brands.count + 1, sizeof *fc->brand);
    fc->pair = tl_calloc(ix->n_pairs + 1, sizeof *fc->pair);
    return fc->cat && fc->brand && fc->pair ? TL_OK : TL_ENOMEM;
}

static void facets_free(struct facets *fc)
{
    tl_free(fc->cat);
    tl_free(fc->brand);
    tl_free(fc->pair);
}

static inline void facets_add(const struct tl_sindex *ix, struct facets *fc, uint32_t doc)
{
    uint32_t leaf = ix->hleaf[doc], brand = ix->hbrand[doc];
    unsigned pb = ix->hpb[doc], fl = ix->hflag[doc];
    if (leaf != TL_STRTAB_NONE) fc->cat[leaf]++;
    if (brand != TL_STRTAB_NONE) fc->brand[brand]++;
    if (pb != PB_NONE) fc->price[pb]++;
    fc->avail[(fl & HF_AVAIL) ? 1 : 0]++;
    if (fl & HF_ATTRS) fc->pair[ix->hap0[doc]]++;
    if (fl & HF_MORE) { /* the rest from the hot record (and the blob past ATTR_INLINE) */
        const struct hot *h = &ix->hot[doc];
        for (uint32_t i = 1; i < h->n_attrs && i < ATTR_INLINE; i++) fc->pair[h->ap[i]]++;
        if (h->n_attrs > ATTR_INLINE) {
            const struct idoc *d = &ix->docs[doc];
            const uint32_t *at = d->blob + d->n_terms + d->n_title + d->n_cats;
            for (uint32_t i = ATTR_INLINE; i < h->n_attrs; i++) fc->pair[at[2 * i + 1]]++;
        }
    }
}

struct fv {
    const char *s;
    uint32_t n, id;
};

/* count desc, then id (first indexed first) */
static int cmp_fv(const void *a, const void *b)
{
    const struct fv *x = a, *y = b;
    if (x->n != y->n) return x->n > y->n ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* x ranks after y (count desc, then id) */
static inline int fv_after(const struct fv *x, const struct fv *y)
{
    return x->n != y->n ? x->n < y->n : x->id > y->id;
}

static void fv_sift(struct fv *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && fv_after(&h[l], &h[w])) w = l;
        if (r < n && fv_after(&h[r], &h[w])) w = r;
        if (w == i) return;
        struct fv t = h[i];
        h[i] = h[w], h[w] = t;
        i = w;
    }
}

/* Move the first `keep` values in cmp_fv order to v[0..keep), sorted; the
 * same prefix a full sort would give (the order is total: ids differ),
 * in O(n log keep) instead of O(n log n). Returns min(n, keep). */
static size_t fv_top(struct fv *v, size_t n, size_t keep)
{
    if (n <= keep) {
        if (n) qsort(v, n, sizeof *v, cmp_fv);
        return n;
    }
    /* v[0..keep) as a heap whose root is the value ranking last */
    for (size_t i = keep / 2; i-- > 0;) fv_sift(v, keep, i);
    for (size_t i = keep; i < n; i++)
        if (fv_after(&v[0], &v[i])) {
            v[0] = v[i];
            fv_sift(v, keep, 0);
        }
    qsort(v, keep, sizeof *v, cmp_fv);
    return keep;
}

static void emit_facet(struct tl_sresult *out, const char *name, struct fv *v, size_t n, int sort)
{
    if (out->n_facets >= TL_SEARCH_FACETS_MAX) return;
    struct tl_sfacet *f = &out->facets[out->n_facets++];
    snprintf(f->name, sizeof f->name, "%s", name);
    if (sort) n = fv_top(v, n, TL_SEARCH_FACET_VALUES_MAX);
    f->n = 0;
    for (size_t i = 0; i < n && f->n < TL_SEARCH_FACET_VALUES_MAX; i++) {
        if (!v[i].n) continue;
        /* = snprintf "%s": bytes cut at the buffer size, always terminated */
        size_t len = strnlen(v[i].s, sizeof f->v[f->n].value - 1);
        memcpy(f->v[f->n].value, v[i].s, len);
        f->v[f->n].value[len] = 0;
        f->v[f->n].count = v[i].n;
        f->n++;
    }
}

static enum tl_rc facets_emit(const struct tl_sindex *ix, struct facets *fc, struct tl_sresult *out)
{
    size_t mx = ix->paths.count > ix->brands.count ? ix->paths.count : ix->brands.count;
    if (ix->n_pairs > mx) mx = ix->n_pairs;
    if (ix->akeys.count > mx) mx = ix->akeys.count;
    struct fv *v = tl_malloc((mx + N_PRICE + 2) * sizeof *v);
    uint32_t *tot = tl_calloc(mx + 1, sizeof *tot);
    if (!v || !tot) {
        tl_free(v), tl_free(tot);
        return TL_ENOMEM;
    }
    /* deepest-path counts -> counts of every prefix */
    for (uint32_t i = 0; i < ix->paths.count; i++)
        for (uint32_t p = i; fc->cat[i] && p != TL_STRTAB_NONE && p < ix->paths.count; p = ix->path_parent[p])
            tot[p] += fc->cat[i];
    size_t n = 0;
    for (uint32_t i = 0; i < ix->paths.count; i++)
        if (tot[i]) v[n].s = tl_strtab_str(&ix->paths, i), v[n].id = i, v[n++].n = tot[i];
    emit_facet(out, "category", v, n, 1);
    n = 0;
    for (uint32_t i = 0; i < ix->brands.count; i++)
        if (fc->brand[i])
            v[n].s = ix->brand_disp[i] ? ix->brand_disp[i] : tl_strtab_str(&ix->brands, i), v[n].id = i,
            v[n++].n = fc->brand[i];
    emit_facet(out, "brand", v, n, 1);
    for (n = 0; n < N_PRICE; n++) v[n].s = price_names[n], v[n].id = (uint32_t)n, v[n].n = fc->price[n];
    emit_facet(out, "price", v, N_PRICE, 0);
    v[0].s = "true", v[0].id = 0, v[0].n = fc->avail[1];
    v[1].s = "false", v[1].id = 1, v[1].n = fc->avail[0];
    emit_facet(out, "available", v, 2, 1);
    /* attribute keys, most frequent first */
    memset(tot, 0, (mx + 1) * sizeof *tot);
    for (uint32_t i = 0; i < ix->n_pairs; i++) tot[ix->pair_key[i]] += fc->pair[i];
    struct fv *kv = tl_malloc((ix->akeys.count + 1) * sizeof *kv);
    if (!kv) {
        tl_free(v), tl_free(tot);
        return TL_ENOMEM;
    }
    uint32_t nk = 0;
    for (uint32_t k = 0; k < ix->akeys.count; k++)
        if (tot[k]) kv[nk].s = tl_strtab_str(&ix->akeys, k), kv[nk].id = k, kv[nk++].n = tot[k];
    if (nk) qsort(kv, nk, sizeof *kv, cmp_fv);
    for (uint32_t r = 0; r < nk && out->n_facets < TL_SEARCH_FACETS_MAX; r++) {
        n = 0;
        for (uint32_t i = 0; i < ix->n_pairs; i++)
            if (fc->pair[i] && ix->pair_key[i] == kv[r].id)
                v[n].s = tl_strtab_str(&ix->avals, ix->pair_val[i]), v[n].id = i, v[n++].n = fc->pair[i];
        char name[64];
        snprintf(name, sizeof name, "attr:%s", kv[r].s);
        emit_facet(out, name, v, n, 1);
    }
    tl_free(kv), tl_free(tot), tl_free(v);
    return TL_OK;
}

struct run {
    struct tl_sindex *ix;
    const struct tl_squery *q;
    const struct filt *fl;
    struct facets *fc;
    struct scratch *sc;
    const struct plan *p; /* NULL: browse / fallback */
    struct tl_topk heap;
    uint64_t total;
    uint64_t corrected; /* matches found only through corrections */
    uint32_t extra_cat;
    uint32_t require;             /* slot mask every match must have (suggest) */
    uint32_t id_doc;              /* doc whose id equals the query, or UINT32_MAX */
    int trivial;                  /* no filter at all: passes() reduces to HF_LIVE */
    int browse;                   /* empty query (not the fallback): relevance = popularity x (1 + boost) */
    double coord[33];             /* coordination factor by matched slot count */
    struct tl_topk_entry *lb_mem; /* room for heap.k entries: the text lower bounds (see rank_bounded), or NULL */
};

/* 1 when no filter, skip hook or required slot can reject a document. */
static int filters_trivial(const struct run *r)
{
    const struct filt *fl = r->fl;
    return !fl->impossible && fl->cat == TL_STRTAB_NONE && r->extra_cat == TL_STRTAB_NONE && !fl->want_brands &&
           !fl->n_attrs && isnan(fl->minp) && isnan(fl->maxp) && !fl->avail && !fl->q->skip && !r->require;
}

/* Could a key of at most ub still enter the heap? (Conservative: yes while
 * the heap is not full or ub is NaN.) Mirrors the order of core/topk.c:
 * higher score first, equal scores -> lower id first. */
static inline int may_enter(const struct tl_topk *h, uint32_t doc, double ub)
{
    if (h->n < h->k || isnan(ub)) return 1;
    const struct tl_topk_entry *w = &h->e[0];
    return ub > w->score || (ub == w->score && doc < w->id);
}

static inline double clamp_boost(const struct tl_squery *q, uint32_t doc)
{
    double b = q->boost(q->boost_ctx, doc);
    if (!(b >= 0)) b = 0;
    if (b > q->boost_max) b = q->boost_max;
    return b;
}

static inline unsigned popcount32(uint32_t m)
{
    m = m - ((m >> 1) & 0x55555555u);
    m = (m & 0x33333333u) + ((m >> 2) & 0x33333333u);
    m = (m + (m >> 4)) & 0x0F0F0F0Fu;
    return (m * 0x01010101u) >> 24;
}

static double sort_key(const struct run *r, uint32_t doc, double text)
{
    const struct hot *d = &r->ix->hot[doc];
    switch (r->q->sort) {
    case TL_SSORT_PRICE_ASC:
        return isnan(d->price) ? -1e300 : -d->price;
    case TL_SSORT_PRICE_DESC:
        return isnan(d->price) ? -1e300 : d->price;
    case TL_SSORT_NEWEST:
        return (double)r->ix->docs[doc].created;
    case TL_SSORT_POPULAR:
        return doc < r->ix->n_pop ? r->ix->pop[doc] : 0;
    default:
        break;
    }
    if (!r->p) {
        double pop = doc < r->ix->n_pop ? r->ix->pop[doc] : 0;
        /* browse: popularity x (1 + boost); the fallback stays by popularity
         * (its documents do not match the query, so the hook is not called) */
        return r->browse && r->q->boost ? pop * (1 + clamp_boost(r->q, doc)) : pop;
    }
    return r->q->boost ? text * (1 + clamp_boost(r->q, doc)) : text;
}

static inline double text_of(const struct run *r, uint32_t doc)
{
    uint32_t m = r->p->n >= 32 ? r->sc->mask[doc] : r->sc->mask[doc] & ((1u << r->p->n) - 1);
    double t = r->sc->acc[doc] * r->coord[popcount32(m)];
    if (doc == r->id_doc) t += ID_BONUS;
    return t;
}

/* Filters, then count a match (total, corrected, facets); 1 if it matched. */
static inline int admit(struct run *r, uint32_t doc)
{
    if (r->trivial) {
        if (!(r->ix->hflag[doc] & HF_LIVE)) return 0;
    } else {
        if (!passes(r->ix, r->fl, doc, r->extra_cat)) return 0;
        if (r->p && (r->sc->mask[doc] & r->require) != r->require) return 0;
    }
    r->total++;
    if (r->p && !r->sc->exact[doc]) r->corrected++;
    if (r->fc && r->fc->on) facets_add(r->ix, r->fc, doc);
    return 1;
}

static inline void consider(struct run *r, uint32_t doc)
{
    if (!admit(r, doc)) return;
    double text = 0;
    if (r->q->sort == TL_SSORT_RELEVANCE) {
        /* skip the boost hook (and the push) when even the largest boost
         * cannot lift this document into the heap: exact, boost <= boost_max */
        double base;
        if (r->p)
            base = text = text_of(r, doc);
        else
            base = doc < r->ix->n_pop ? r->ix->pop[doc] : 0;
        /* largest possible key: base x (1 + boost_max) when a boost applies
         * and base > 0 (for base <= 0 the largest is base itself, boost 0) */
        double ub = r->q->boost && (r->p || r->browse) && base > 0 ? base * (1 + r->q->boost_max) : base;
        if (!may_enter(&r->heap, doc, ub)) return;
    }
    double key = sort_key(r, doc, text);
    tl_topk_push(&r->heap, doc, key);
}

/* Relevance with a boost hook, in two passes over the n matches in
 * sc->touched (boost() is the costly part per match, so it should run for
 * as few documents as possible):
 *  1. admit (count, facets) every match and keep the heap.k best text
 *     scores in a second heap (lb); its root is theta, the k-th best text.
 *     Since boost >= 0, final = text x (1 + boost) >= text, so k documents
 *     end with a key >= theta.
 *  2. a match whose upper bound text x (1 + boost_max) is below theta can
 *     therefore never be in the top k and is dropped before boost() is
 *     called; the others go through the usual pruned push (consider()).
 * Exact: the same top k as one pass in document order (whose running heap
 * starts empty, so early documents were boosted whatever their text). */
static void rank_bounded(struct run *r, uint32_t n)
{
    struct tl_topk lb;
    tl_topk_init(&lb, r->lb_mem, r->heap.k);
    uint32_t *cand = r->sc->stouched, m = 0;
    double *tx = r->sc->text;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t doc = r->sc->touched[i];
        if (!admit(r, doc)) continue;
        double text = text_of(r, doc);
        cand[m] = doc, tx[m++] = text;
        if (lb.n < lb.k || text > lb.e[0].score) tl_topk_push(&lb, doc, text);
    }
    double theta = tl_topk_threshold(&lb), bmax = 1 + r->q->boost_max;
    /* per-path bounds of the boost (1 + bound), memoised: pbound[path + 1], 0 = not asked yet */
    double *pbound = NULL;
    uint32_t np = r->ix->paths.count + 1;
    if (r->q->boost_path_max && theta > -INFINITY) pbound = tl_calloc(np, sizeof *pbound);
    /* the k best texts first: the heap then starts near its final level and
     * prunes the rest harder (the kept set does not depend on the order) */
    uint32_t mark = ++r->sc->cur;
    for (size_t i = 0; i < lb.n; i++) {
        uint32_t doc = lb.e[i].id;
        r->sc->stamp[doc] = mark;
        tl_topk_push(&r->heap, doc, sort_key(r, doc, lb.e[i].score));
    }
    for (uint32_t i = 0; i < m; i++) {
        uint32_t doc = cand[i];
        double text = tx[i];
        if (text * bmax < theta || r->sc->stamp[doc] == mark) continue;
        double f = bmax;
        if (pbound) {
            uint32_t leaf = r->ix->hleaf[doc], slot = leaf == TL_STRTAB_NONE || leaf >= np - 1 ? 0 : leaf + 1;
            if (pbound[slot] == 0) {
                double b = r->q->boost_path_max(r->q->boost_ctx, slot ? leaf : TL_STRTAB_NONE);
                if (!(b >= 0) || b > r->q->boost_max) b = r->q->boost_max; /* NaN: no bound */
                pbound[slot] = 1 + b;
            }
            f = pbound[slot];
            if (text * f < theta) continue;
        }
        if (!may_enter(&r->heap, doc, text > 0 ? text * f : text)) continue;
        tl_topk_push(&r->heap, doc, sort_key(r, doc, text));
    }
    tl_free(pbound);
}

/* Adjacent query slots adjacent in the title. */
static int prox_pairs(const struct tl_sindex *ix, const struct plan *p, uint32_t doc)
{
    const struct idoc *d = &ix->docs[doc];
    const uint32_t *title = d->blob + d->n_terms;
    int pairs = 0;
    for (size_t s = 0; s + 1 < p->n; s++) {
        int found = 0;
        for (uint32_t i = 0; i + 1 < d->n_title && !found; i++) {
            int a = 0, b = 0;
            for (size_t k = p->s[s].a0; k < p->s[s].a1 && !a; k++) a = p->a[k].term == title[i];
            if (!a) continue;
            for (size_t k = p->s[s + 1].a0; k < p->s[s + 1].a1 && !b; k++) b = p->a[k].term == title[i + 1];
            found = b;
        }
        pairs += found;
    }
    return pairs;
}

static int cmp_hit(const void *a, const void *b)
{
    const struct tl_shit *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->doc < y->doc ? -1 : x->doc > y->doc;
}

/* Fill out->hits from the heap (proximity re-ranking for relevance). */
static enum tl_rc finish_hits(struct run *r, struct tl_sresult *out, uint32_t offset, uint32_t limit)
{
    size_t n = tl_topk_sort(&r->heap);
    struct tl_shit *h = tl_malloc((n ? n : 1) * sizeof *h);
    if (!h) return TL_ENOMEM;
    int rel = r->p && r->q->sort == TL_SSORT_RELEVANCE;
    if (rel && r->p->n > 1) { /* proximity reads each candidate's title: start those cache misses together */
        for (size_t i = 0; i < n; i++) __builtin_prefetch(&r->ix->docs[r->heap.e[i].id]);
        for (size_t i = 0; i < n; i++) {
            const struct idoc *d = &r->ix->docs[r->heap.e[i].id];
            if (d->blob) __builtin_prefetch(d->blob + d->n_terms);
        }
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t doc = r->heap.e[i].id;
        h[i].doc = doc;
        h[i].corrected = r->p ? (uint8_t)!r->sc->exact[doc] : 0;
        double text = r->p ? text_of(r, doc) : 0;
        if (rel && r->p->n > 1) text *= 1 + PROX_W * prox_pairs(r->ix, r->p, doc) / (double)(r->p->n - 1);
        h[i].text_score = (float)text;
        h[i].score = rel ? (float)sort_key(r, doc, text) : (float)r->heap.e[i].score;
        if (!r->p) h[i].score = (float)r->heap.e[i].score;
    }
    if (rel && n) qsort(h, n, sizeof *h, cmp_hit);
    out->n_hits = 0;
    for (size_t i = offset; i < n && out->n_hits < limit; i++) out->hits[out->n_hits++] = h[i];
    tl_free(h);
    return TL_OK;
}

/* ---- search ------------------------------------------------------------- */

/* Cut q at TL_SEARCH_QUERY_MAX - 1 bytes at a token edge. */
static size_t cut_query(const char *q)
{
    size_t n = strlen(q);
    if (n < TL_SEARCH_QUERY_MAX) return n;
    size_t c = TL_SEARCH_QUERY_MAX - 1;
    while (c > 0 && ((unsigned char)q[c] & 0xC0) == 0x80) c--;
    /* inside a token: back to its start */
    while (c > 0 && (((unsigned char)q[c] >= 0x80) || isalnum((unsigned char)q[c])) &&
           (((unsigned char)q[c - 1] >= 0x80) || isalnum((unsigned char)q[c - 1])))
        c--;
    return c;
}

static void corrected_text(const struct plan *p, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = 0;
    for (size_t i = 0; i < p->n; i++) {
        const char *w = p->s[i].corr[0] ? p->s[i].corr : p->s[i].word;
        int k = snprintf(out + o, cap - o, "%s%s", o ? " " : "", w);
        if (k < 0 || (size_t)k >= cap - o) break;
        o += (size_t)k;
    }
}

static enum tl_rc do_pass(struct run *r, struct tl_sresult *out, const struct plan *p, uint32_t offset, uint32_t limit,
                          uint32_t *n_touched, struct tl_topk_entry *heap_mem, size_t k)
{
    r->p = p;
    r->total = r->corrected = 0;
    tl_topk_init(&r->heap, heap_mem, k);
    if (r->fc && r->fc->on) {
        facets_free(r->fc);
        enum tl_rc rc = facets_init(r->ix, r->fc, 1);
        if (rc != TL_OK) return rc;
    }
    if (p) {
        /* reset scratch from the previous pass */
        for (uint32_t i = 0; i < *n_touched; i++) {
            uint32_t d = r->sc->touched[i];
            r->sc->acc[d] = 0, r->sc->mask[d] = 0, r->sc->exact[d] = 0;
        }
        for (int m = 0; m <= 32; m++) r->coord[m] = p->n <= 1 ? 1 : pow((1.0 + m) / (1.0 + (double)p->n), COORD_P);
        *n_touched = accumulate(r->ix, p, r->sc);
        if (r->id_doc != UINT32_MAX && !r->sc->mask[r->id_doc] && r->ix->docs[r->id_doc].present) {
            r->sc->touched[(*n_touched)++] = r->id_doc;
            r->sc->mask[r->id_doc] = 1;
            r->sc->exact[r->id_doc] = 1;
            r->sc->bits[r->id_doc >> 6] |= 1ULL << (r->id_doc & 63);
        }
        uint64_t *bits = r->sc->bits;
        if (*n_touched > r->ix->cap / 32) { /* visit in document order (memory locality), clearing the bitmap */
            uint32_t nt = 0, nw = r->ix->cap / 64 + 1;
            for (uint32_t w = 0; w < nw; w++) {
                uint64_t x = bits[w];
                if (!x) continue;
                bits[w] = 0;
                for (; x; x &= x - 1) r->sc->touched[nt++] = w * 64 + (uint32_t)__builtin_ctzll(x);
            }
        } else
            for (uint32_t i = 0; i < *n_touched; i++) bits[r->sc->touched[i] >> 6] = 0;
        r->trivial = filters_trivial(r);
        if (r->lb_mem && r->q->sort == TL_SSORT_RELEVANCE && r->q->boost && *n_touched > r->heap.k)
            rank_bounded(r, *n_touched);
        else
            for (uint32_t i = 0; i < *n_touched; i++) consider(r, r->sc->touched[i]);
    } else {
        r->trivial = filters_trivial(r);
        for (uint32_t d = 0; d < r->ix->cap; d++) consider(r, d);
    }
    return finish_hits(r, out, offset, limit);
}

enum tl_rc tl_sindex_search(struct tl_sindex *ix, const struct tl_squery *q, struct tl_sresult *out, struct tl_err *err)
{
    if (!ix || !q || !out) return tl_err_set(err, TL_EINVAL, NULL, "missing argument");
    if (q->limit > TL_SEARCH_LIMIT_MAX)
        return tl_err_set(err, TL_EINVAL, "limit", "limit must be <= %d", TL_SEARCH_LIMIT_MAX);
    if (q->offset > TL_SEARCH_OFFSET_MAX)
        return tl_err_set(err, TL_EINVAL, "offset", "offset must be <= %d", TL_SEARCH_OFFSET_MAX);
    if (q->boost && !(q->boost_max >= 0)) return tl_err_set(err, TL_EINVAL, "boost_max", "boost_max must be >= 0");
    out->n_hits = 0;
    out->total = 0;
    out->n_facets = 0;
    out->corrected_q[0] = 0;
    out->mode = TL_SMODE_EXACT;
    const char *text = q->q ? q->q : "";
    size_t tlen = cut_query(text);
    struct tl_stoken *tk = tl_malloc(QSLOTS_MAX * 2 * sizeof *tk);
    struct plan *p = tl_malloc(sizeof *p);
    size_t k = (size_t)q->offset + q->limit;
    if (k < PROX_WINDOW) k = PROX_WINDOW;
    struct tl_topk_entry *hm = tl_malloc(2 * k * sizeof *hm); /* the heap, then the text bounds */
    if (!tk || !p || !hm) {
        tl_free(tk), tl_free(p), tl_free(hm);
        return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    }
    size_t nt = tl_sanalyze_tokens(ix->an, text, tlen, tk, QSLOTS_MAX * 2);
    int open = tlen > 0 && nt > 0 && tk[nt - 1].end == tlen;

    pthread_rwlock_rdlock(&ix->lock);
    struct filt fl;
    prep_filter(ix, q, &fl);
    struct facets fc;
    enum tl_rc rc = facets_init(ix, &fc, q->facets);
    struct scratch *sc = rc == TL_OK ? scratch_get(ix) : NULL;
    if (!sc) rc = TL_ENOMEM;
    uint32_t n_touched = 0;
    struct run r;
    memset(&r, 0, sizeof r);
    r.ix = ix, r.q = q, r.fl = &fl, r.fc = &fc, r.sc = sc, r.extra_cat = TL_STRTAB_NONE, r.id_doc = UINT32_MAX;
    r.lb_mem = hm + k;
    if (rc == TL_OK && nt == 0) {
        out->mode = TL_SMODE_BROWSE;
        r.browse = 1;
        rc = do_pass(&r, out, NULL, q->offset, q->limit, &n_touched, hm, k);
    } else if (rc == TL_OK) {
        char fid[TL_SEARCH_QUERY_MAX];
        char tmp[TL_SEARCH_QUERY_MAX];
        memcpy(tmp, text, tlen);
        tmp[tlen] = 0;
        tl_sanalyze_fold(tmp, fid, sizeof fid);
        uint64_t v;
        if (fid[0] && tl_u64map_get(&ix->ids, tl_hash_str(fid, 0x1d) | 1, &v)) r.id_doc = (uint32_t)(v - 1);
        struct qopt o = {0, 1};
        build_plan(ix, tk, nt, open, &o, p);
        rc = do_pass(&r, out, p, q->offset, q->limit, &n_touched, hm, k);
        if (rc == TL_OK && r.total > 0 && r.corrected > 0) {
            out->mode = TL_SMODE_CORRECTED;
            corrected_text(p, out->corrected_q, sizeof out->corrected_q);
        }
        if (rc == TL_OK && r.total == 0) {
            struct qopt o2 = {1, 1};
            build_plan(ix, tk, nt, open, &o2, p);
            rc = do_pass(&r, out, p, q->offset, q->limit, &n_touched, hm, k);
            out->mode = TL_SMODE_RELAXED;
            if (rc == TL_OK && r.total == 0) {
                /* the category most common among unfiltered candidates */
                uint32_t best = TL_STRTAB_NONE;
                if (n_touched && ix->paths.count) {
                    uint32_t *cnt = tl_calloc(ix->paths.count, sizeof *cnt);
                    if (cnt) {
                        uint32_t bc = 0;
                        for (uint32_t i = 0; i < n_touched && i < 5000; i++) {
                            const struct idoc *d = &ix->docs[sc->touched[i]];
                            if (!d->present || !d->visible || !d->n_cats) continue;
                            uint32_t c = d->blob[d->n_terms + d->n_title + d->n_cats - 1];
                            if (++cnt[c] > bc) bc = cnt[c], best = c;
                        }
                        tl_free(cnt);
                    }
                }
                out->mode = TL_SMODE_FALLBACK;
                r.extra_cat = best;
                rc = do_pass(&r, out, NULL, q->offset, q->limit, &n_touched, hm, k);
                if (rc == TL_OK && r.total == 0 && best != TL_STRTAB_NONE) {
                    r.extra_cat = TL_STRTAB_NONE;
                    rc = do_pass(&r, out, NULL, q->offset, q->limit, &n_touched, hm, k);
                }
            }
        }
    }
    if (rc == TL_OK) {
        out->total = r.total;
        if (q->facets) rc = facets_emit(ix, &fc, out);
    }
    if (sc) scratch_put(ix, sc, n_touched);
    facets_free(&fc);
    pthread_rwlock_unlock(&ix->lock);
    tl_free(tk), tl_free(p), tl_free(hm);
    if (rc != TL_OK) {
        out->n_hits = 0;
        return tl_err_set(err, rc, NULL, "search failed: %s", tl_rc_message(rc));
    }
    return TL_OK;
}

/* ---- autocomplete ----------------------------------------------------------- */

/* The best live postings of t by (tfn desc, doc asc), at most TOP_K, into
 * out; out->more = 1 when t has further live postings (all ranking after
 * the last one kept). */
static void top_scan(const struct tl_sindex *ix, const struct term *t, struct toplist *out)
{
    struct tl_topk_entry e[TOP_K];
    struct tl_topk h;
    tl_topk_init(&h, e, TOP_K);
    uint32_t live = 0;
    for (uint32_t i = 0; i < t->n; i++) {
        const struct post *po = &t->p[i];
        if (ix->lgen[po->doc] != po->gen || !(ix->hflag[po->doc] & HF_LIVE)) continue;
        live++;
        if (h.n < h.k || po->tfn >= e[0].score) tl_topk_push(&h, po->doc, po->tfn);
    }
    size_t n = tl_topk_sort(&h);
    for (size_t i = 0; i < n; i++) out->doc[i] = e[i].id, out->tfn[i] = (float)e[i].score;
    out->n = (uint32_t)n;
    out->more = live > n;
    out->below = -1;
    if (out->more) { /* postings left out tie with the last entry (and have a higher doc) or are below */
        float last = out->tfn[n - 1];
        for (uint32_t i = 0; i < t->n; i++) {
            const struct post *po = &t->p[i];
            if (ix->lgen[po->doc] != po->gen || !(ix->hflag[po->doc] & HF_LIVE)) continue;
            if (po->tfn < last && po->tfn > out->below) out->below = po->tfn;
        }
    }
}

/* Term's top list into out: from the cache while no write happened since it
 * was made (ver == wver), else rebuilt (and cached for terms with at least
 * TOP_MIN_DF live postings, up to TOP_CACHED_MAX lists). Under the read
 * lock; the cache itself under tmu. */
static void term_top(struct tl_sindex *ix, uint32_t term, struct toplist *out)
{
    const struct term *t = &ix->tv[term];
    if (t->live < TOP_MIN_DF) {
        top_scan(ix, t, out);
        return;
    }
    pthread_mutex_lock(&ix->tmu);
    if (term >= ix->top_cap) {
        uint32_t nc = ix->terms.count > term ? ix->terms.count : term + 1;
        struct toplist **nt = tl_realloc(ix->top, (size_t)nc * sizeof *nt);
        if (nt) {
            memset(nt + ix->top_cap, 0, (size_t)(nc - ix->top_cap) * sizeof *nt);
            ix->top = nt;
            ix->top_cap = nc;
        }
    }
    struct toplist *c = term < ix->top_cap ? ix->top[term] : NULL;
    if (!c && term < ix->top_cap && ix->n_top < TOP_CACHED_MAX && (c = tl_malloc(sizeof *c))) {
        c->ver = ix->wver - 1; /* not valid yet */
        ix->top[term] = c;
        ix->n_top++;
    }
    if (c) {
        if (c->ver != ix->wver) {
            top_scan(ix, t, c);
            c->ver = ix->wver;
        }
        out->n = c->n, out->more = c->more, out->below = c->below;
        memcpy(out->doc, c->doc, c->n * sizeof *out->doc);
        memcpy(out->tfn, c->tfn, c->n * sizeof *out->tfn);
    } else
        top_scan(ix, t, out);
    pthread_mutex_unlock(&ix->tmu);
}

static inline float post_score(double wi, double k1, float tf) { return (float)(wi * tf / (k1 + tf)); }

/* One slot (a single, possibly partial word): a document's score is the
 * best of the slot's alternatives, score_a = wi_a x tfn / (k1 + tfn),
 * non-decreasing in tfn; results rank by (score desc, doc asc). A document
 * of the true top `limit` is in the top list of its best alternative (the
 * documents before it there rank before it overall, and there are fewer
 * than limit <= TOP_K of them), with its exact score; others are seen with
 * at most their true score. The one exception is float rounding giving two
 * tfn values the same score, so the merge is checked: a document left out
 * of alternative a's cut list, whose last entry is (tfn_K, doc_K), either
 * ties on tfn with a higher doc or has a lower tfn and a score <=
 * score_a(tfn_K), equal only by rounding (checked with the largest tfn
 * below tfn_K). It ranks after B_a = (score_a(tfn_K), doc_K), or after
 * (score_a(tfn_K), -1) in the rounding case; U = the best B_a over the cut
 * lists. The merged candidates ranking before U are exact, and when there
 * are at least `limit` of them they are the answer (the same as the full
 * pass: one slot means no proximity re-ranking and a coordination factor
 * of 1); else return 0 and the caller runs the full pass. `corrected` is
 * as the lists show (a document whose exact-term posting lies past a cut
 * list may be flagged corrected; autocomplete callers read doc). */
static int suggest_one(struct tl_sindex *ix, const struct plan *p, uint32_t limit, struct scratch *sc,
                       struct tl_sresult *out)
{
    const struct qslot *s = &p->s[0];
    struct toplist *tl = tl_malloc(sizeof *tl);
    struct tl_topk_entry *he = tl_malloc((limit ? limit : 1) * sizeof *he);
    if (!tl || !he) {
        tl_free(tl), tl_free(he);
        return 0;
    }
    const double k1 = ix->k1;
    uint32_t cur = ++sc->cur, m = 0, *cand = sc->stouched;
    double bound = -1;     /* U: score, */
    int64_t bound_id = -1; /* doc (-1: a tie with U's score is never sure) */
    for (size_t ai = s->a0; ai < s->a1; ai++) {
        const struct alt *a = &p->a[ai];
        const struct term *t = &ix->tv[a->term];
        const double wi = a->w * idf_of(ix, a->df ? a->df : t->live) * (k1 + 1);
        term_top(ix, a->term, tl);
        for (uint32_t i = 0; i < tl->n; i++) {
            uint32_t doc = tl->doc[i];
            float c = post_score(wi, k1, tl->tfn[i]);
            if (sc->stamp[doc] != cur) {
                sc->stamp[doc] = cur;
                sc->slot[doc] = c;
                sc->exact[doc] = 0;
                cand[m++] = doc;
            } else if (c > sc->slot[doc])
                sc->slot[doc] = c;
            if (!a->corrected) sc->exact[doc] = 1;
        }
        if (tl->more && tl->n) {
            double c = post_score(wi, k1, tl->tfn[tl->n - 1]);
            int64_t id = tl->below >= 0 && post_score(wi, k1, tl->below) == c ? -1 : (int64_t)tl->doc[tl->n - 1];
            if (c > bound || (c == bound && id < bound_id)) bound = c, bound_id = id;
        }
    }
    struct tl_topk h;
    tl_topk_init(&h, he, limit);
    uint32_t sure = 0;
    for (uint32_t i = 0; i < m; i++) {
        uint32_t doc = cand[i];
        double v = sc->slot[doc];
        if (v > bound || (v == bound && (int64_t)doc < bound_id)) {
            sure++;
            tl_topk_push(&h, doc, sc->slot[doc]);
        }
    }
    int ok = sure >= limit || bound < 0;
    if (ok) {
        size_t n = tl_topk_sort(&h);
        out->n_hits = 0;
        for (size_t i = 0; i < n; i++) {
            struct tl_shit *x = &out->hits[out->n_hits++];
            x->doc = he[i].id;
            x->score = x->text_score = (float)he[i].score;
            x->corrected = (uint8_t)!sc->exact[he[i].id];
        }
    }
    for (uint32_t i = 0; i < m; i++) sc->exact[cand[i]] = 0;
    tl_free(tl), tl_free(he);
    return ok;
}

#define SUGGEST_CELLS_MAX (1u << 22) /* candidates x slots held by suggest_and */

/* Several slots, all required: intersect instead of accumulating the
 * union. Slots in increasing posting count; the first gives the
 * candidates (a row each: the best score per slot, the matched slots),
 * every further slot walks its postings but only looks at candidates still
 * alive (a bitmap test), and a candidate missing a slot dies. Survivors sum
 * their slot scores in slot order (the float sum of the full pass, and
 * coordination 1 with every slot matched), go through the same heap and
 * proximity re-ranking (finish_hits). Returns 0 (caller runs the full pass)
 * when an alternative spans two slots (a concatenation) or the candidate
 * table would pass SUGGEST_CELLS_MAX. */
static int suggest_and(struct run *r, const struct plan *p, uint32_t limit, struct tl_sresult *out, uint32_t *n_touched,
                       struct tl_topk_entry *heap_mem, size_t k, enum tl_rc *rc)
{
    struct tl_sindex *ix = r->ix;
    struct scratch *sc = r->sc;
    size_t n = p->n;
    if (n < 2 || n > 31) return 0;
    uint64_t size[QSLOTS_MAX] = {0};
    size_t order[QSLOTS_MAX] = {0};
    for (size_t si = 0; si < n; si++) {
        size[si] = 0;
        for (size_t ai = p->s[si].a0; ai < p->s[si].a1; ai++) {
            if (p->a[ai].mask != 1u << si) return 0;
            size[si] += ix->tv[p->a[ai].term].n;
        }
        size_t j = si;
        for (; j > 0 && size[order[j - 1]] > size[si]; j--) order[j] = order[j - 1];
        order[j] = si;
    }
    if (size[order[0]] * n > SUGGEST_CELLS_MAX) return 0;
    size_t rows_cap = size[order[0]] ? (size_t)size[order[0]] : 1;
    float *cell = tl_calloc(rows_cap * n, sizeof *cell);
    uint32_t *cm = tl_calloc(rows_cap, sizeof *cm);
    uint8_t *ex = tl_calloc(rows_cap, 1);
    if (!cell || !cm || !ex) {
        tl_free(cell), tl_free(cm), tl_free(ex);
        return 0;
    }
    const double k1 = ix->k1;
    uint32_t *row = sc->mask; /* row + 1 while intersecting (reset below) */
    uint64_t *bits = sc->bits;
    uint32_t nr = 0, alive = 0;
    for (size_t oi = 0; oi < n; oi++) {
        size_t si = order[oi];
        uint32_t bit = 1u << si;
        for (size_t ai = p->s[si].a0; ai < p->s[si].a1; ai++) {
            const struct alt *a = &p->a[ai];
            const struct term *t = &ix->tv[a->term];
            const double wi = a->w * idf_of(ix, a->df ? a->df : t->live) * (k1 + 1);
            for (uint32_t i = 0; i < t->n; i++) {
                const struct post *po = &t->p[i];
                uint32_t doc = po->doc, x;
                if (oi) {
                    if (!(bits[doc >> 6] >> (doc & 63) & 1)) continue;
                    if (ix->lgen[doc] != po->gen) continue;
                    x = row[doc] - 1;
                } else {
                    if (ix->lgen[doc] != po->gen || !(ix->hflag[doc] & HF_LIVE)) continue;
                    if (!row[doc]) {
                        sc->touched[nr] = doc;
                        row[doc] = ++nr;
                        bits[doc >> 6] |= 1ULL << (doc & 63);
                    }
                    x = row[doc] - 1;
                }
                float c = post_score(wi, k1, po->tfn);
                if (c > cell[(size_t)x * n + si]) cell[(size_t)x * n + si] = c;
                cm[x] |= bit;
                if (!a->corrected) ex[x] = 1;
            }
        }
        alive = 0;
        for (uint32_t x = 0; x < nr; x++) {
            uint32_t doc = sc->touched[x];
            if (cm[x] & bit)
                alive++;
            else
                bits[doc >> 6] &= ~(1ULL << (doc & 63));
        }
        if (!alive) break;
    }
    /* survivors: their text in acc / mask / exact as the full pass leaves them */
    uint32_t full = (1u << n) - 1;
    for (int m = 0; m <= 32; m++) r->coord[m] = pow((1.0 + m) / (1.0 + (double)n), COORD_P);
    tl_topk_init(&r->heap, heap_mem, k);
    r->p = p;
    uint32_t ns = 0;
    for (uint32_t x = 0; x < nr; x++) {
        uint32_t doc = sc->touched[x];
        bits[doc >> 6] = 0;
        row[doc] = 0;
        if (cm[x] != full) continue;
        sc->touched[ns++] = doc; /* scratch_put resets acc / mask / exact of these */
        float acc = 0;
        for (size_t si = 0; si < n; si++) acc += cell[(size_t)x * n + si];
        sc->acc[doc] = acc;
        sc->mask[doc] = full;
        sc->exact[doc] = ex[x];
        tl_topk_push(&r->heap, doc, text_of(r, doc));
    }
    *n_touched = ns;
    tl_free(cell), tl_free(cm), tl_free(ex);
    *rc = finish_hits(r, out, 0, limit);
    return 1;
}

enum tl_rc tl_sindex_suggest(struct tl_sindex *ix, const char *q, uint32_t limit, struct tl_shit *hits, size_t *n_hits)
{
    *n_hits = 0;
    if (!ix || !q || !hits) return TL_EINVAL;
    if (limit > TL_SEARCH_LIMIT_MAX) limit = TL_SEARCH_LIMIT_MAX;
    size_t tlen = cut_query(q);
    struct tl_stoken *tk = tl_malloc(QSLOTS_MAX * 2 * sizeof *tk);
    struct plan *p = tl_malloc(sizeof *p);
    struct tl_sresult *out = tl_malloc(sizeof *out);
    struct tl_topk_entry *hm = tl_malloc(PROX_WINDOW * sizeof *hm);
    if (!tk || !p || !out || !hm) {
        tl_free(tk), tl_free(p), tl_free(out), tl_free(hm);
        return TL_ENOMEM;
    }
    size_t nt = tl_sanalyze_tokens(ix->an, q, tlen, tk, QSLOTS_MAX * 2);
    enum tl_rc rc = TL_OK;
    if (nt) {
        /* the partial last word is never dropped as a stop word */
        tk[nt - 1].stop = 0;
        struct tl_squery sq;
        memset(&sq, 0, sizeof sq);
        sq.min_price = sq.max_price = NAN;
        pthread_rwlock_rdlock(&ix->lock);
        struct filt fl;
        prep_filter(ix, &sq, &fl);
        struct scratch *sc = scratch_get(ix);
        uint32_t n_touched = 0;
        if (!sc)
            rc = TL_ENOMEM;
        else {
            struct run r;
            memset(&r, 0, sizeof r);
            r.ix = ix, r.q = &sq, r.fl = &fl, r.sc = sc, r.extra_cat = TL_STRTAB_NONE, r.id_doc = UINT32_MAX;
            struct qopt o = {0, 1};
            build_plan(ix, tk, nt, 1, &o, p);
            r.require = p->n >= 32 ? 0xFFFFFFFFu : (1u << p->n) - 1;
            out->n_hits = 0;
            int done = p->n == 1 ? suggest_one(ix, p, limit, sc, out)
                                 : suggest_and(&r, p, limit, out, &n_touched, hm, PROX_WINDOW, &rc);
            if (!done) rc = do_pass(&r, out, p, 0, limit, &n_touched, hm, PROX_WINDOW);
            scratch_put(ix, sc, n_touched);
        }
        pthread_rwlock_unlock(&ix->lock);
        if (rc == TL_OK) {
            memcpy(hits, out->hits, out->n_hits * sizeof *hits);
            *n_hits = out->n_hits;
        }
    }
    tl_free(tk), tl_free(p), tl_free(out), tl_free(hm);
    return rc;
}

/* ---- persistence ------------------------------------------------------------ */

struct wbuf {
    unsigned char *d;
    size_t n, cap;
    int failed;
};

static void wput(struct wbuf *w, const void *p, size_t n)
{
    if (w->failed) return;
    if (w->n + n > w->cap) {
        size_t nc = w->cap ? w->cap : 1 << 16;
        while (nc < w->n + n) nc *= 2;
        unsigned char *nd = nc <= SAVE_MAX ? tl_realloc(w->d, nc) : NULL;
        if (!nd) {
            w->failed = 1;
            return;
        }
        w->d = nd;
        w->cap = nc;
    }
    memcpy(w->d + w->n, p, n);
    w->n += n;
}

static void w32(struct wbuf *w, uint32_t v) { wput(w, &v, 4); }
static void w64(struct wbuf *w, uint64_t v) { wput(w, &v, 8); }
static void wstr(struct wbuf *w, const char *s)
{
    uint32_t n = (uint32_t)strlen(s);
    w32(w, n);
    wput(w, s, n);
}
static void wtab(struct wbuf *w, const struct tl_strtab *t)
{
    w32(w, t->count);
    for (uint32_t i = 0; i < t->count; i++) wstr(w, t->strs[i]);
}

enum tl_rc tl_sindex_save(struct tl_sindex *ix, const char *path, struct tl_err *err)
{
    if (!ix || !path) return tl_err_set(err, TL_EINVAL, NULL, "missing argument");
    struct wbuf w = {0};
    char hdr[8] = FILE_MAGIC;
    wput(&w, hdr, 8);
    w32(&w, FILE_VERSION);
    w64(&w, 0); /* payload length, patched below */
    size_t p0 = w.n;
    pthread_rwlock_rdlock(&ix->lock);
    w64(&w, ix->cfg_hash);
    wtab(&w, &ix->terms);
    for (uint32_t t = 0; t < ix->terms.count; t++) {
        const struct term *tm = &ix->tv[t];
        w32(&w, tm->live);
        for (uint32_t i = 0; i < tm->n; i++) {
            const struct post *po = &tm->p[i];
            const struct idoc *d = &ix->docs[po->doc];
            if (!d->present || d->gen != po->gen) continue;
            w32(&w, po->doc);
            wput(&w, po->tf, F);
        }
    }
    wtab(&w, &ix->words);
    for (uint32_t i = 0; i < ix->words.count; i++) w32(&w, ix->word_term[i]);
    wtab(&w, &ix->brands);
    for (uint32_t i = 0; i < ix->brands.count; i++) wstr(&w, ix->brand_disp[i] ? ix->brand_disp[i] : "");
    wtab(&w, &ix->paths);
    wtab(&w, &ix->akeys);
    wtab(&w, &ix->avals);
    w32(&w, ix->n_pairs);
    for (uint32_t i = 0; i < ix->n_pairs; i++) w32(&w, ix->pair_key[i]), w32(&w, ix->pair_val[i]);
    w32(&w, ix->cap);
    for (uint32_t i = 0; i < ix->cap; i++) {
        const struct idoc *d = &ix->docs[i];
        uint8_t pr = d->present;
        wput(&w, &pr, 1);
        if (!pr) continue;
        wput(&w, &d->visible, 1);
        wput(&w, &d->available, 1);
        wput(&w, d->len, sizeof d->len);
        wput(&w, &d->price, 8);
        w64(&w, (uint64_t)d->created);
        w64(&w, d->idh);
        w32(&w, d->brand);
        w32(&w, d->n_terms), w32(&w, d->n_title), w32(&w, d->n_cats), w32(&w, d->n_attrs);
        wput(&w, d->blob, ((size_t)d->n_terms + d->n_title + d->n_cats + 2 * (size_t)d->n_attrs) * 4);
    }
    w32(&w, ix->n_pop);
    if (ix->n_pop) wput(&w, ix->pop, (size_t)ix->n_pop * 4);
    pthread_rwlock_unlock(&ix->lock);
    if (w.failed) {
        tl_free(w.d);
        return tl_err_set(err, TL_ENOMEM, NULL, "out of memory while serialising the search index");
    }
    uint64_t plen = w.n - p0;
    memcpy(w.d + 12, &plen, 8);
    w64(&w, tl_hash(w.d + p0, plen, 0));
    if (w.failed) {
        tl_free(w.d);
        return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    }
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    enum tl_rc rc = TL_OK;
    if (fd < 0) rc = TL_EIO;
    for (size_t off = 0; rc == TL_OK && off < w.n;) {
        ssize_t k = write(fd, w.d + off, w.n - off);
        if (k <= 0)
            rc = TL_EIO;
        else
            off += (size_t)k;
    }
    if (rc == TL_OK && fsync(fd) != 0) rc = TL_EIO;
    if (fd >= 0 && close(fd) != 0) rc = TL_EIO;
    if (rc == TL_OK && rename(tmp, path) != 0) rc = TL_EIO;
    tl_free(w.d);
    if (rc != TL_OK) {
        unlink(tmp);
        return tl_err_set(err, rc, "path", "cannot write search index to %s", path);
    }
    return TL_OK;
}

struct rbuf {
    const unsigned char *d;
    size_t n, o;
    int bad;
};

static void rget(struct rbuf *r, void *p, size_t n)
{
    if (r->bad || n > r->n - r->o) {
        r->bad = 1;
        memset(p, 0, n);
        return;
    }
    memcpy(p, r->d + r->o, n);
    r->o += n;
}
static uint32_t r32(struct rbuf *r)
{
    uint32_t v;
    rget(r, &v, 4);
    return v;
}
static uint64_t r64(struct rbuf *r)
{
    uint64_t v;
    rget(r, &v, 8);
    return v;
}

#define STR_MAX 65536

static char *rstr(struct rbuf *r)
{
    uint32_t n = r32(r);
    if (r->bad || n > STR_MAX || n > r->n - r->o) {
        r->bad = 1;
        return NULL;
    }
    char *s = tl_strndup((const char *)r->d + r->o, n);
    if (!s) r->bad = 1;
    r->o += n;
    return s;
}

static void rtab(struct rbuf *r, struct tl_strtab *t)
{
    uint32_t n = r32(r);
    if (n > r->n - r->o) r->bad = 1; /* every string needs >= 4 bytes */
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        char *s = rstr(r);
        uint32_t id;
        if (!s || tl_strtab_intern(t, s, &id) != TL_OK || id != i) r->bad = 1;
        tl_free(s);
    }
}

static enum tl_rc parse_payload(struct tl_sindex *ix, struct rbuf *r)
{
    rtab(r, &ix->terms);
    if (r->bad) return TL_EPARSE;
    uint32_t nt = ix->terms.count;
    ix->tv = tl_calloc(nt + 1, sizeof *ix->tv);
    if (!ix->tv) return TL_ENOMEM;
    ix->tv_cap = nt + 1;
    for (uint32_t t = 0; t < nt && !r->bad; t++) {
        uint32_t n = r32(r);
        if (n > (r->n - r->o) / (4 + F)) return TL_EPARSE;
        struct term *tm = &ix->tv[t];
        tm->p = tl_malloc((n ? n : 1) * sizeof *tm->p);
        if (!tm->p) return TL_ENOMEM;
        tm->cap = n ? n : 1;
        for (uint32_t i = 0; i < n; i++) {
            tm->p[i].doc = r32(r);
            tm->p[i].gen = 0;
            rget(r, tm->p[i].tf, F);
            if (tm->p[i].doc >= DOCS_MAX) return TL_EPARSE;
        }
        tm->n = tm->live = n;
    }
    rtab(r, &ix->words);
    if (r->bad) return TL_EPARSE;
    ix->word_cap = ix->words.count + 1;
    ix->word_term = tl_malloc((size_t)ix->word_cap * 4);
    if (!ix->word_term) return TL_ENOMEM;
    for (uint32_t i = 0; i < ix->words.count; i++) {
        ix->word_term[i] = r32(r);
        if (ix->word_term[i] >= nt) return TL_EPARSE;
    }
    rtab(r, &ix->brands);
    if (r->bad) return TL_EPARSE;
    ix->brand_cap = ix->brands.count + 1;
    ix->brand_disp = tl_calloc(ix->brand_cap, sizeof *ix->brand_disp);
    if (!ix->brand_disp) return TL_ENOMEM;
    for (uint32_t i = 0; i < ix->brands.count && !r->bad; i++) ix->brand_disp[i] = rstr(r);
    rtab(r, &ix->paths);
    rtab(r, &ix->akeys);
    rtab(r, &ix->avals);
    uint32_t np0 = r32(r);
    if (r->bad || np0 > (r->n - r->o) / 8) return TL_EPARSE;
    for (uint32_t i = 0; i < np0; i++) {
        uint32_t k = r32(r), v = r32(r), pid;
        if (k >= ix->akeys.count || v >= ix->avals.count) return TL_EPARSE;
        enum tl_rc rc = intern_pair(ix, k, v, &pid);
        if (rc != TL_OK) return rc;
        if (pid != i) return TL_EPARSE;
    }
    uint32_t cap = r32(r);
    if (r->bad || cap > DOCS_MAX || cap > r->n - r->o) return TL_EPARSE;
    if (grow_docs(ix, cap) != TL_OK) return TL_ENOMEM;
    for (uint32_t i = 0; i < cap && !r->bad; i++) {
        struct idoc *d = &ix->docs[i];
        uint8_t pr = 0;
        rget(r, &pr, 1);
        if (!pr) continue;
        if (pr != 1) return TL_EPARSE;
        rget(r, &d->visible, 1);
        rget(r, &d->available, 1);
        rget(r, d->len, sizeof d->len);
        rget(r, &d->price, 8);
        d->created = (int64_t)r64(r);
        d->idh = r64(r);
        d->brand = r32(r);
        d->n_terms = r32(r), d->n_title = r32(r), d->n_cats = r32(r), d->n_attrs = r32(r);
        if (r->bad) return TL_EPARSE;
        uint64_t nb = (uint64_t)d->n_terms + d->n_title + d->n_cats + 2 * (uint64_t)d->n_attrs;
        if (nb * 4 > r->n - r->o || d->n_title > TITLE_SEQ_MAX || d->n_cats > CATS_MAX || d->n_attrs > ATTRS_MAX)
            return TL_EPARSE;
        if (d->brand != TL_STRTAB_NONE && d->brand >= ix->brands.count) return TL_EPARSE;
        d->blob = tl_malloc((nb ? nb : 1) * 4);
        if (!d->blob) return TL_ENOMEM;
        rget(r, d->blob, nb * 4);
        for (uint32_t k = 0; k < d->n_terms + d->n_title; k++)
            if (d->blob[k] >= nt) return TL_EPARSE;
        for (uint32_t k = 0; k < d->n_cats; k++)
            if (d->blob[d->n_terms + d->n_title + k] >= ix->paths.count) return TL_EPARSE;
        const uint32_t *at = d->blob + d->n_terms + d->n_title + d->n_cats;
        for (uint32_t k = 0; k < d->n_attrs; k++)
            if (at[2 * k + 1] >= ix->n_pairs || ix->pair_key[at[2 * k + 1]] != at[2 * k]) return TL_EPARSE;
        if (set_parents(ix, d->blob + d->n_terms + d->n_title, d->n_cats) != TL_OK) return TL_ENOMEM;
        d->leaf = d->n_cats ? d->blob[d->n_terms + d->n_title + d->n_cats - 1] : TL_STRTAB_NONE;
        d->present = 1;
        sync_hot(ix, i);
        ix->count++;
        for (int f = 0; f < F; f++) ix->sumlen[f] += d->len[f];
        if (d->idh) tl_u64map_put(&ix->ids, d->idh, (uint64_t)i + 1);
    }
    uint32_t np = r32(r);
    if (r->bad || np > DOCS_MAX || (uint64_t)np * 4 != r->n - r->o) return TL_EPARSE;
    ix->pop = tl_malloc((np ? np : 1) * 4);
    if (!ix->pop) return TL_ENOMEM;
    rget(r, ix->pop, (size_t)np * 4);
    ix->n_pop = np;
    if (r->bad || r->o != r->n) return TL_EPARSE;
    /* postings must point at present documents */
    for (uint32_t t = 0; t < nt; t++)
        for (uint32_t i = 0; i < ix->tv[t].n; i++)
            if (ix->tv[t].p[i].doc >= ix->cap || !ix->docs[ix->tv[t].p[i].doc].present) return TL_EPARSE;
    for (uint32_t i = 0; i < ix->words.count; i++) {
        const char *s = tl_strtab_str(&ix->words, i);
        int digit = 0;
        for (const char *c = s; *c; c++)
            if (*c >= '0' && *c <= '9') digit = 1;
        if (!digit && tl_typo_add(&ix->typo, i, s, strlen(s)) != TL_OK) return TL_ENOMEM;
    }
    ix->sorted_dirty = 1;
    refresh_fw_all(ix);
    return TL_OK;
}

#define LOAD_MAX SAVE_MAX

enum tl_rc tl_sindex_load(const struct tl_search_config *cfg, const char *path, struct tl_sindex **out,
                          struct tl_err *err)
{
    *out = NULL;
    if (!path) return tl_err_set(err, TL_EINVAL, "path", "missing path");
    FILE *fp = fopen(path, "rb");
    if (!fp) return tl_err_set(err, TL_EIO, "path", "cannot open %s", path);
    unsigned char *buf = NULL;
    size_t n = 0, cap = 0;
    enum tl_rc rc = TL_OK;
    for (;;) {
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 1 << 16;
            if (nc > LOAD_MAX) {
                rc = TL_ETOOBIG;
                break;
            }
            unsigned char *nb = tl_realloc(buf, nc);
            if (!nb) {
                rc = TL_ENOMEM;
                break;
            }
            buf = nb;
            cap = nc;
        }
        size_t k = fread(buf + n, 1, cap - n, fp);
        n += k;
        if (k == 0) break;
    }
    if (rc == TL_OK && ferror(fp)) rc = TL_EIO;
    fclose(fp);
    if (rc != TL_OK) {
        tl_free(buf);
        return tl_err_set(err, rc, "path", "cannot read %s", path);
    }
    uint32_t ver = 0;
    uint64_t plen = 0;
    if (n >= 20) {
        memcpy(&ver, buf + 8, 4);
        memcpy(&plen, buf + 12, 8);
    }
    if (n < 28 || memcmp(buf, FILE_MAGIC, 8) || ver != FILE_VERSION || plen != n - 28) {
        tl_free(buf);
        return tl_err_set(err, TL_EPARSE, "path", "%s is not a complete search index file (version %u)", path,
                          FILE_VERSION);
    }
    uint64_t sum;
    memcpy(&sum, buf + 20 + plen, 8);
    if (sum != tl_hash(buf + 20, plen, 0)) {
        tl_free(buf);
        return tl_err_set(err, TL_EPARSE, "path", "%s: checksum mismatch", path);
    }
    uint64_t h;
    memcpy(&h, buf + 20, 8);
    if (h != cfg_hash(cfg)) {
        tl_free(buf);
        return tl_err_set(err, TL_EINVAL, "config",
                          "%s was built with another analysis config (language, stop words, synonyms)", path);
    }
    struct tl_sindex *ix;
    rc = tl_sindex_new(cfg, &ix, err);
    if (rc != TL_OK) {
        tl_free(buf);
        return rc;
    }
    struct rbuf r = {buf + 28, plen - 8, 0, 0};
    rc = parse_payload(ix, &r);
    tl_free(buf);
    if (rc != TL_OK) {
        tl_sindex_free(ix);
        return tl_err_set(err, rc, "path", "%s: %s", path, rc == TL_EPARSE ? "malformed search index" : "load failed");
    }
    *out = ix;
    return TL_OK;
}
