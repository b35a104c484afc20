/* Product search index: one shop's catalog as an in-memory inverted index
 * with BM25F ranking, Snowball stemming, typo tolerance, synonyms, phrase and
 * prefix matching, filters, facet counts, sorting and a persisted form.
 *
 * Documents are identified by the caller's dense index (the catalog index,
 * uint32_t); the index keeps its own copy of everything it needs (terms,
 * facet values), so callers never hold locks of other modules while
 * searching.
 *
 * Concurrency: one internal rwlock. tl_sindex_search() / _suggest() take the
 * read lock and may run on many threads at once; upsert/remove/set_popularity
 * take the write lock and are visible to the next search (an upsert is
 * searchable as soon as the call returns).
 *
 * Ownership: strings in the structs passed in are borrowed for the call;
 * results are written into caller-supplied storage. */
#ifndef TL_SEARCH_SINDEX_H
#define TL_SEARCH_SINDEX_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define TL_SEARCH_QUERY_MAX 512 /* bytes of query text considered (longer input is cut at a token edge) */
#define TL_SEARCH_LIMIT_MAX 100 /* hits per page */
#define TL_SEARCH_OFFSET_MAX 10000
#define TL_SEARCH_FACET_VALUES_MAX 50 /* values returned per facet (highest counts first) */

/* Fields, each with its own BM25F weight and length normalisation. */
enum tl_sfield {
    TL_SF_ID = 0, /* product id / SKU */
    TL_SF_TITLE,
    TL_SF_BRAND,
    TL_SF_CATEGORY, /* every level of the path */
    TL_SF_TAGS,
    TL_SF_ATTRS, /* attribute values */
    TL_SF_DESC,
    TL_SF_COUNT
};

struct tl_search_config {
    const char *language;       /* Snowball algorithm ("english", "german", ...); NULL = "english" */
    double weight[TL_SF_COUNT]; /* BM25F field weights; 0 = use the documented default */
    double b[TL_SF_COUNT];      /* length normalisation per field; <0 = default (also when both
                                   weight[f] and b[f] are 0, so a zeroed config means defaults) */
    double k1;                  /* 0 = default */
    const char *synonyms;       /* "tv,television;sofa,couch;laptop=>notebook" ("a,b" two-way,
                                   "a=>b" one-way); NULL = none */
    const char *stop_words;     /* comma-separated; NULL = built-in list for the language, "" = none */
};

/* One product as the index sees it. */
struct tl_sdoc {
    const char *id;
    const char *title;
    const char *description;
    const char *brand;
    const char *category;   /* "Home > Kitchen > Mugs" */
    const char *tags_json;  /* JSON array of strings or NULL */
    const char *attrs_json; /* JSON object of scalars or NULL */
    double price;           /* NAN unknown */
    int available;
    int visible; /* 0: never returned */
    int64_t created_ms;
};

enum tl_ssort { TL_SSORT_RELEVANCE = 0, TL_SSORT_PRICE_ASC, TL_SSORT_PRICE_DESC, TL_SSORT_NEWEST, TL_SSORT_POPULAR };

/* How the result was matched (said in the response). */
enum tl_smode {
    TL_SMODE_EXACT = 0, /* the query's terms as typed (stemmed, synonyms) */
    TL_SMODE_CORRECTED, /* at least one hit only through a typo-corrected term */
    TL_SMODE_RELAXED,   /* nothing matched the query's terms well; matched a subset / looser terms */
    TL_SMODE_FALLBACK,  /* nothing matched at all: popular products (related to the query's category when known) */
    TL_SMODE_BROWSE     /* empty query: filter + sort only */
};

struct tl_sattr_filter {
    const char *key;
    const char *value;
};

/* Optional per-document re-ranking hook, called only for documents that
 * already match the query (so it can never promote a non-matching item),
 * and not for those that cannot reach the top even with boost_max.
 * boost() returns a value in [0, boost_max]; the final relevance score is
 *   text * (1 + boost(doc))
 * and in browse mode (empty query, sort relevance), where every visible
 * document passing the filters matches, popularity * (1 + boost(doc)).
 * The caller folds its weights (shopper affinity x personalization weight,
 * learned click boost for the query) into boost(); boost_max bounds it so
 * top-k pruning stays exact. */
struct tl_squery {
    const char *q;             /* UTF-8 text; "" or NULL = browse */
    const char *category;      /* subtree filter (path prefix at a level boundary) or NULL */
    const char *const *brands; /* any of these (exact, case-insensitive) */
    size_t n_brands;
    double min_price, max_price; /* NAN = no bound */
    int available_only;
    const struct tl_sattr_filter *attrs; /* all must hold */
    size_t n_attrs;
    enum tl_ssort sort;
    uint32_t offset, limit; /* limit <= TL_SEARCH_LIMIT_MAX */
    int facets;             /* 1: compute facet counts over all matches */
    double boost_max;       /* upper bound of boost() (0 with no hook) */
    double (*boost)(void *ctx, uint32_t doc);
    void *boost_ctx;
    /* Optional (may be NULL): an upper bound of boost() over the documents
     * whose deepest category path id is path_id (UINT32_MAX: those without
     * a category; ids as tl_sindex_doc_keys). Called at most once per path
     * and search, with boost_ctx, under the same rules as boost(); the
     * index then skips documents whose text x (1 + bound) cannot reach the
     * top, so it must never be below boost() for such a document (it is
     * clamped to [0, boost_max]). */
    double (*boost_path_max)(void *ctx, uint32_t path_id);
    int (*skip)(void *ctx, uint32_t doc); /* 1 = never return doc (may be NULL) */
    void *skip_ctx;
};

struct tl_shit {
    uint32_t doc;
    float score;       /* final score (after boost) */
    float text_score;  /* BM25F part */
    uint8_t corrected; /* matched only through a corrected term */
};

struct tl_sfacet_value {
    char value[128];
    uint32_t count;
};

struct tl_sfacet {
    char name[64]; /* "category", "brand", "price", "available", "attr:<key>" */
    size_t n;
    struct tl_sfacet_value v[TL_SEARCH_FACET_VALUES_MAX];
};

#define TL_SEARCH_FACETS_MAX 16

struct tl_sresult {
    struct tl_shit hits[TL_SEARCH_LIMIT_MAX];
    size_t n_hits;
    uint64_t total; /* documents matching query + filters */
    enum tl_smode mode;
    char corrected_q[TL_SEARCH_QUERY_MAX]; /* the query as corrected, when mode == CORRECTED */
    size_t n_facets;
    struct tl_sfacet facets[TL_SEARCH_FACETS_MAX];
};

struct tl_sindex;

/* Caller frees *out with tl_sindex_free. Invalid config (unknown language,
 * malformed synonyms) -> TL_EINVAL naming the field. */
enum tl_rc tl_sindex_new(const struct tl_search_config *cfg, struct tl_sindex **out, struct tl_err *err);
void tl_sindex_free(struct tl_sindex *ix);

enum tl_rc tl_sindex_upsert(struct tl_sindex *ix, uint32_t doc, const struct tl_sdoc *d);
void tl_sindex_remove(struct tl_sindex *ix, uint32_t doc);
/* Popularity per document (for sort=popular and the zero-result fallback);
 * pop[i] for doc i, n entries, copied. */
enum tl_rc tl_sindex_set_popularity(struct tl_sindex *ix, const float *pop, uint32_t n);
size_t tl_sindex_count(struct tl_sindex *ix);
size_t tl_sindex_memory(struct tl_sindex *ix);

/* Thread-safe. out is caller storage (large: allocate it, don't put it on a small stack). */
enum tl_rc tl_sindex_search(struct tl_sindex *ix, const struct tl_squery *q, struct tl_sresult *out,
                            struct tl_err *err);

/* For a boost() hook (it runs under the index's read lock, inside
 * tl_sindex_search): the product's deepest category path id and brand id
 * (UINT32_MAX when none), and their text: the path as indexed ("Home >
 * Kitchen > Mugs", white space trimmed) and the brand folded (lower case,
 * accents removed, as tl_sanalyze_fold). Ids are stable for the life of the
 * index, so a hook can memoise per id. Only valid inside a hook. */
void tl_sindex_doc_keys(const struct tl_sindex *ix, uint32_t doc, uint32_t *path_id, uint32_t *brand_id);
const char *tl_sindex_path_str(const struct tl_sindex *ix, uint32_t path_id);
/* The product's price as indexed (NAN unknown), read from a dense array so
 * a hook need not touch the catalog item. Only valid inside a hook. */
double tl_sindex_doc_price(const struct tl_sindex *ix, uint32_t doc);
const char *tl_sindex_brand_str(const struct tl_sindex *ix, uint32_t brand_id);

/* Product hits for autocomplete: the best `limit` documents whose terms
 * start with the last (partial) word of q and contain the others, ranked
 * as search ranks text (no boost). Fast paths (per-term top lists for one
 * word, intersection for several; sindex.c) give the same answer as the
 * full pass; `corrected` in the hits may be approximate on the one-word
 * path (autocomplete callers read doc and score). */
enum tl_rc tl_sindex_suggest(struct tl_sindex *ix, const char *q, uint32_t limit, struct tl_shit *hits, size_t *n_hits);

/* Persisted form (file format documented in sindex.c): written to path.tmp,
 * fsynced, renamed. load() rejects a damaged or truncated file with
 * TL_EPARSE and a config whose analysis differs (language, stop words,
 * synonyms) with TL_EINVAL, so the caller rebuilds. */
enum tl_rc tl_sindex_save(struct tl_sindex *ix, const char *path, struct tl_err *err);
enum tl_rc tl_sindex_load(const struct tl_search_config *cfg, const char *path, struct tl_sindex **out,
                          struct tl_err *err);

#endif
