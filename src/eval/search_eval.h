/* Offline evaluation of product search against human relevance judgements.
 *
 * Inputs
 *   products    CSV with a header naming the columns (RFC 4180 quoting):
 *               id column "product_uid" or "id", title column
 *               "product_title" or "title" (both required); optional
 *               "description"/"product_description", "brand", "category".
 *               Other columns are ignored. Documents are numbered 0..n-1 in
 *               file order; product ids must be unique.
 *   judgements  either the CSV "search_term,product_uid,relevance"
 *               (relevance 1..3, already averaged over raters; repeated
 *               (term, product) rows are averaged again; gain = relevance-1)
 *               or TREC qrels "qid 0 docid rel" (whitespace separated,
 *               gain = rel) together with a topics file "qid<TAB>query".
 *               Judgements naming an unknown product are counted
 *               (unknown_products) and skipped, not fatal.
 *
 * Metrics, per query, then averaged (the protocol of
 * shared/data/README.md, row homedepot-search):
 *   NDCG@10   the ranker ranks ALL products; top 10; unjudged documents
 *             have gain 0; DCG = sum_{i=1..10} gain(r_i) / log2(i+1);
 *             IDCG = the same over the query's judged gains sorted
 *             descending (first 10). Queries whose judged gains are all 0
 *             are skipped (not evaluated at all).
 *   MRR       1 / rank of the first result with gain >= 1 (relevance >= 2
 *             in the CSV form, rel >= 1 in qrels) within the returned list
 *             (k = 100), 0 if none.
 *   Recall@k  (k = 10, 100) |{judged docs with gain >= 1 in the top k}| /
 *             |{judged docs with gain >= 1}|.
 *   MRR and Recall are averaged over the evaluated queries that have at
 *   least one judged document with gain >= 1 (queries_relevant); a query
 *   whose gains are all in (0, 1) counts for NDCG only.
 *   Latency: wall time of each ranker call (monotonic clock), mean, p50,
 *   p99 (nearest rank) and max in microseconds.
 *
 * Ownership: loaded sets are owned by the caller and freed with their
 * _free function; rankers borrow the products they were built from, which
 * must outlive them. */
#ifndef TL_EVAL_SEARCH_EVAL_H
#define TL_EVAL_SEARCH_EVAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "core/err.h"
#include "core/map.h"
#include "search/sindex.h"

#define TL_SEVAL_PRODUCTS_MAX 20000000u   /* products in one catalog file */
#define TL_SEVAL_QUERIES_MAX 2000000u     /* distinct judged queries */
#define TL_SEVAL_JUDGEMENTS_MAX 50000000u /* judgement rows */
#define TL_SEVAL_K 100u                   /* results asked of a ranker (Recall@100) */
#define TL_SEVAL_QUERY_BYTES_MAX 4096u    /* bytes of one query text */
#define TL_SEVAL_FTS_TERMS_MAX 64u        /* query tokens sent to FTS5 */

struct tl_seval_product {
    char *id;          /* owned */
    char *title;       /* owned */
    char *description; /* owned, NULL when the column is absent */
    char *brand;       /* owned or NULL */
    char *category;    /* owned or NULL */
};

struct tl_seval_products {
    struct tl_seval_product *p; /* n entries, index = document number */
    size_t n, cap;
    struct tl_strtab ids; /* product id -> document number (same order) */
    int has_description, has_brand, has_category;
};

struct tl_seval_judgement {
    uint32_t doc;
    double gain;
};

struct tl_seval_query {
    char *text;   /* owned */
    size_t j_off; /* into judgements.j: n_j entries sorted by doc, distinct */
    uint32_t n_j;
};

struct tl_seval_judgements {
    struct tl_seval_query *q;
    size_t n_q;
    struct tl_seval_judgement *j;
    size_t n_j;
    size_t rows;             /* judgement rows read */
    size_t unknown_products; /* rows naming a product not in the catalog (skipped) */
};

/* Loading. Errors: TL_EIO (cannot open), TL_EPARSE (malformed line; the
 * message starts with "file:line:" and err->line is set), TL_ETOOBIG (a
 * named maximum exceeded), TL_EINVAL (missing header column, duplicate
 * product id). */
enum tl_rc tl_seval_products_load(const char *path, struct tl_seval_products **out, struct tl_err *err);
void tl_seval_products_free(struct tl_seval_products *p);
/* topics == NULL: path is the CSV form; otherwise path is TREC qrels and
 * topics the "qid<TAB>query" file (qrels naming a qid without a topic are
 * an error). */
enum tl_rc tl_seval_judgements_load(const char *path, const char *topics, const struct tl_seval_products *p,
                                    struct tl_seval_judgements **out, struct tl_err *err);
void tl_seval_judgements_free(struct tl_seval_judgements *j);

/* ---- metrics -------------------------------------------------------------- */

struct tl_seval_qscore {
    double ndcg10, mrr, recall10, recall100;
    int has_relevant; /* some judged gain >= 1: mrr/recall defined */
};

/* Score one ranked list (docs best first, n entries; entries past
 * TL_SEVAL_K are ignored) against a query's judgements (sorted by doc,
 * distinct). Returns 0 when the query is skipped (all gains 0), else 1. */
int tl_seval_score_query(const struct tl_seval_judgement *j, size_t n_j, const uint32_t *docs, size_t n,
                         struct tl_seval_qscore *out);

/* ---- rankers -------------------------------------------------------------- */

/* Rank the catalog for query; write at most k document numbers (best first)
 * into docs and their count into *n. */
typedef enum tl_rc (*tl_seval_rank_fn)(void *ctx, const char *query, uint32_t k, uint32_t *docs, size_t *n,
                                       struct tl_err *err);

struct tl_seval_stats {
    char name[32];
    uint64_t queries;          /* evaluated (some judged gain > 0) */
    uint64_t queries_relevant; /* of those, with a judged gain >= 1 */
    uint64_t queries_skipped;  /* all judged gains 0 */
    double ndcg10, mrr, recall10, recall100;
    double build_s; /* index build wall seconds (filled by the caller) */
    double lat_mean_us, lat_p50_us, lat_p99_us, lat_max_us;
};

/* Run every judged query through fn (k = TL_SEVAL_K) and average the
 * metrics into *out (name and build_s are left as they are). A ranker
 * error stops the run and is returned. */
enum tl_rc tl_seval_run(const struct tl_seval_judgements *j, tl_seval_rank_fn fn, void *ctx, struct tl_seval_stats *out,
                        struct tl_err *err);

/* (a) SQLite FTS5 baseline: in-memory database, table
 *   p USING fts5(title, [description, brand, category,] tokenize='porter')
 * (extra columns only when the catalog has them), rowid = document + 1.
 * Query: the query's tokens (maximal runs of ASCII letters/digits and bytes
 * >= 0x80), at most TL_SEVAL_FTS_TERMS_MAX, each double-quoted, joined with
 * " OR "; ORDER BY bm25(p) LIMIT k. No token -> no results. */
struct tl_seval_fts;
enum tl_rc tl_seval_fts_new(const struct tl_seval_products *p, struct tl_seval_fts **out, struct tl_err *err);
void tl_seval_fts_free(struct tl_seval_fts *f);
enum tl_rc tl_seval_fts_rank(void *ctx, const char *query, uint32_t k, uint32_t *docs, size_t *n, struct tl_err *err);
/* The MATCH expression for query into out (cap bytes, NUL-terminated);
 * *n_terms = tokens used (0: empty expression). TL_ETOOBIG if cap is short. */
enum tl_rc tl_seval_fts_expr(const char *query, char *out, size_t cap, size_t *n_terms);

/* (b) Tailor's search index (search/sindex.h): every product upserted
 * (id, title and the optional columns; price unknown, available, visible),
 * searched with the query only (no filters, no facets, relevance sort,
 * limit min(k, TL_SEARCH_LIMIT_MAX)). cfg NULL = defaults. */
struct tl_seval_sx;
enum tl_rc tl_seval_sx_new(const struct tl_seval_products *p, const struct tl_search_config *cfg,
                           struct tl_seval_sx **out, struct tl_err *err);
void tl_seval_sx_free(struct tl_seval_sx *s);
enum tl_rc tl_seval_sx_rank(void *ctx, const char *query, uint32_t k, uint32_t *docs, size_t *n, struct tl_err *err);

/* ---- both rankers, for `tailor eval search` -------------------------------- */

struct tl_seval_opts {
    const char *products;   /* catalog CSV */
    const char *judgements; /* CSV, or qrels when queries is set */
    const char *queries;    /* topics file for qrels, or NULL */
    FILE *progress;         /* NULL = quiet */
};

#define TL_SEVAL_RANKERS 2

struct tl_seval_result {
    size_t n_products;
    size_t n_queries;        /* distinct judged queries loaded */
    size_t n_judgements;     /* judgements kept */
    size_t unknown_products; /* judgement rows naming unknown products */
    size_t n_rankers;
    struct tl_seval_stats r[TL_SEVAL_RANKERS]; /* "sqlite-fts5", "tailor-sindex" */
};

enum tl_rc tl_seval_compare(const struct tl_seval_opts *o, struct tl_seval_result *out, struct tl_err *err);
/* New reference (caller json_decref's); NULL on out of memory. */
json_t *tl_seval_result_json(const struct tl_seval_result *r);
/* Human-readable table. */
void tl_seval_result_print(const struct tl_seval_result *r, FILE *out);

#endif
