/* Tests for src/eval/search_eval.c: metrics on hand-computed lists, CSV and
 * TREC qrels loading (including malformed input), the FTS5 baseline's query
 * building (no FTS5 syntax injection), Tailor's index as a ranker on a tiny
 * catalog, and the published FTS5 number on the Home Depot development
 * judgements (skipped when /work/shared/data is absent). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eval/search_eval.h"

#define HD_DIR "/work/shared/data/homedepot-search/"

static char *write_tmp(const char *text)
{
    char *path = strdup("/tmp/tl_seval_XXXXXX");
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    size_t n = strlen(text);
    cr_assert_eq(write(fd, text, n), (ssize_t)n);
    close(fd);
    return path;
}

static void drop(char *path)
{
    unlink(path);
    free(path);
}

static const double L3 = 1.5849625007211562; /* log2(3) */
static const double L5 = 2.321928094887362;  /* log2(5) */

Test(search_eval, metrics_hand_computed)
{
    struct tl_seval_qscore s;
    /* judged (sorted by doc): 1 -> 2, 3 -> 1, 5 -> 0.5, 7 -> 0 */
    struct tl_seval_judgement j[] = {{1, 2.0}, {3, 1.0}, {5, 0.5}, {7, 0.0}};
    /* ranked 3 9 1 5:
     *   DCG  = 1/log2(2) + 0 + 2/log2(4) + 0.5/log2(5) = 1 + 0 + 1 + 0.215338 = 2.215338 (0.5/log2 5 = 0.215338)
     *   IDCG = 2/log2(2) + 1/log2(3) + 0.5/log2(4)     = 2 + 0.630930 + 0.25  = 2.880930
     *   NDCG = 0.768966; relevant (gain >= 1) = {1, 3}: first at rank 1 -> MRR 1,
     *   both in the top 10 -> recall 1. */
    uint32_t r1[] = {3, 9, 1, 5};
    cr_assert_eq(tl_seval_score_query(j, 4, r1, 4, &s), 1);
    double dcg = 1.0 + 2.0 / 2.0 + 0.5 / L5, idcg = 2.0 + 1.0 / L3 + 0.5 / 2.0;
    cr_assert_float_eq(s.ndcg10, dcg / idcg, 1e-12);
    cr_assert_float_eq(s.ndcg10, 0.768966, 1e-6);
    cr_assert_float_eq(s.mrr, 1.0, 1e-12);
    cr_assert_float_eq(s.recall10, 1.0, 1e-12);
    cr_assert(s.has_relevant);
    /* ranked 9 5 3: DCG = 0 + 0.5/log2(3) + 1/log2(4) = 0.315465 + 0.5; MRR 1/3 (doc 3); recall 1/2 */
    uint32_t r2[] = {9, 5, 3};
    cr_assert_eq(tl_seval_score_query(j, 4, r2, 3, &s), 1);
    cr_assert_float_eq(s.ndcg10, (0.5 / L3 + 0.5) / idcg, 1e-12);
    cr_assert_float_eq(s.mrr, 1.0 / 3, 1e-12);
    cr_assert_float_eq(s.recall10, 0.5, 1e-12);
    cr_assert_float_eq(s.recall100, 0.5, 1e-12);
    /* empty list: everything 0 but the query counts */
    cr_assert_eq(tl_seval_score_query(j, 4, NULL, 0, &s), 1);
    cr_assert_float_eq(s.ndcg10, 0.0, 1e-12);
    /* a document repeated counts once: 3 3 -> DCG 1 (not 1 + 1/log2 3) */
    uint32_t r3[] = {3, 3};
    cr_assert_eq(tl_seval_score_query(j, 4, r3, 2, &s), 1);
    cr_assert_float_eq(s.ndcg10, 1.0 / idcg, 1e-12);
    cr_assert_float_eq(s.recall10, 0.5, 1e-12);
}

Test(search_eval, metrics_cutoffs_and_skips)
{
    struct tl_seval_qscore s;
    /* all gains 0: skipped */
    struct tl_seval_judgement z[] = {{4, 0.0}, {8, 0.0}};
    uint32_t r[12] = {4, 8};
    cr_assert_eq(tl_seval_score_query(z, 2, r, 2, &s), 0);
    /* the only relevant doc (50, gain 1) at rank 12: NDCG@10 0, MRR 1/12,
     * recall@10 0, recall@100 1 */
    struct tl_seval_judgement one[] = {{50, 1.0}};
    for (uint32_t i = 0; i < 11; i++) r[i] = 100 + i;
    r[11] = 50;
    cr_assert_eq(tl_seval_score_query(one, 1, r, 12, &s), 1);
    cr_assert_float_eq(s.ndcg10, 0.0, 1e-12);
    cr_assert_float_eq(s.mrr, 1.0 / 12, 1e-12);
    cr_assert_float_eq(s.recall10, 0.0, 1e-12);
    cr_assert_float_eq(s.recall100, 1.0, 1e-12);
    /* at rank 10 it is still inside NDCG@10: 1/log2(11) / 1 */
    r[9] = 50;
    r[11] = 999;
    cr_assert_eq(tl_seval_score_query(one, 1, r, 12, &s), 1);
    cr_assert_float_eq(s.ndcg10, 1.0 / log2(11.0), 1e-12);
    cr_assert_float_eq(s.recall10, 1.0, 1e-12);
    /* gains only in (0, 1): NDCG defined, nothing "relevant" */
    struct tl_seval_judgement half[] = {{4, 0.5}};
    uint32_t r4[] = {4};
    cr_assert_eq(tl_seval_score_query(half, 1, r4, 1, &s), 1);
    cr_assert_float_eq(s.ndcg10, 1.0, 1e-12);
    cr_assert_eq(s.has_relevant, 0);
    cr_assert_float_eq(s.mrr, 0.0, 1e-12);
    /* ideal uses only the 10 best of 12 judged gains */
    struct tl_seval_judgement many[12];
    double idcg = 0;
    for (uint32_t i = 0; i < 12; i++) many[i] = (struct tl_seval_judgement){i, 1.0 + (double)i / 10};
    for (int i = 0; i < 10; i++) idcg += (1.0 + (11 - i) / 10.0) / log2(i + 2.0);
    uint32_t r5[] = {0}; /* gain 1.0 at rank 1 */
    cr_assert_eq(tl_seval_score_query(many, 12, r5, 1, &s), 1);
    cr_assert_float_eq(s.ndcg10, 1.0 / idcg, 1e-12);
    cr_assert_float_eq(s.recall100, 1.0 / 12, 1e-12);
}

static const char *PRODUCTS = "category,product_uid,title,brand,extra\n"
                              "Tools > Hand,p1,\"Claw Hammer, 16 oz.\",Acme,x\n"
                              "Tools > Hand,p2,\"Rubber \"\"Dead Blow\"\" Hammers\",Acme,y\n"
                              "Paint,p3,\"Red paint\nindoor or outdoor\",Behr,z\n"
                              "Garden,p4,Garden hose 50 ft.,Flexi,w\n";

Test(search_eval, products_csv_columns_and_quoting)
{
    char *path = write_tmp(PRODUCTS);
    struct tl_seval_products *p = NULL;
    struct tl_err e = {0};
    cr_assert_eq(tl_seval_products_load(path, &p, &e), TL_OK, "%s", e.msg);
    cr_assert_eq(p->n, 4);
    cr_assert(p->has_brand && p->has_category && !p->has_description);
    cr_assert_str_eq(p->p[0].title, "Claw Hammer, 16 oz.");
    cr_assert_str_eq(p->p[1].title, "Rubber \"Dead Blow\" Hammers");
    cr_assert_str_eq(p->p[2].title, "Red paint\nindoor or outdoor");
    cr_assert_str_eq(p->p[2].brand, "Behr");
    cr_assert_str_eq(p->p[3].category, "Garden");
    cr_assert_null(p->p[3].description);
    cr_assert_eq(tl_strtab_find(&p->ids, "p3"), 2);
    tl_seval_products_free(p);
    drop(path);
}

Test(search_eval, products_csv_errors)
{
    struct tl_seval_products *p = NULL;
    struct tl_err e = {0};
    char *path = write_tmp("sku,name\n1,a\n");
    cr_assert_eq(tl_seval_products_load(path, &p, &e), TL_EINVAL);
    cr_assert(strstr(e.msg, "product_uid"), "%s", e.msg);
    drop(path);
    path = write_tmp("product_uid,product_title\n1,a\n2\n3,c\n");
    cr_assert_eq(tl_seval_products_load(path, &p, &e), TL_EPARSE);
    cr_assert_eq(e.line, 3);
    cr_assert(strstr(e.msg, ":3:"), "%s", e.msg);
    cr_assert(strstr(e.msg, path), "%s", e.msg);
    drop(path);
    path = write_tmp("product_uid,product_title\n1,a\n1,b\n");
    cr_assert_eq(tl_seval_products_load(path, &p, &e), TL_EINVAL);
    cr_assert(strstr(e.msg, ":3: duplicate"), "%s", e.msg);
    drop(path);
    path = write_tmp("product_uid,product_title\n1,a\n2,\"b\" c\n");
    cr_assert_eq(tl_seval_products_load(path, &p, &e), TL_EPARSE);
    cr_assert(strstr(e.msg, ":3:"), "%s", e.msg);
    drop(path);
    cr_assert_eq(tl_seval_products_load("/nonexistent/products.csv", &p, &e), TL_EIO);
    cr_assert_null(p);
}

Test(search_eval, judgements_csv)
{
    char *pp = write_tmp(PRODUCTS);
    struct tl_seval_products *p = NULL;
    struct tl_err e = {0};
    cr_assert_eq(tl_seval_products_load(pp, &p, &e), TL_OK, "%s", e.msg);
    char *jp = write_tmp("search_term,product_uid,relevance\n"
                         "hammer,p2,3\n"
                         "hammer,p1,2.33\n"
                         "hammer,zz,3\n"
                         "\"red, paint\",p3,1\n"
                         "hammer,p2,2\n");
    struct tl_seval_judgements *j = NULL;
    cr_assert_eq(tl_seval_judgements_load(jp, NULL, p, &j, &e), TL_OK, "%s", e.msg);
    cr_assert_eq(j->rows, 5);
    cr_assert_eq(j->unknown_products, 1);
    cr_assert_eq(j->n_q, 2);
    cr_assert_str_eq(j->q[0].text, "hammer");
    cr_assert_str_eq(j->q[1].text, "red, paint");
    cr_assert_eq(j->q[0].n_j, 2);
    /* sorted by doc: p1 (doc 0) gain 1.33; p2 (doc 1) (2 + 1) / 2 = 1.5 */
    const struct tl_seval_judgement *g = j->j + j->q[0].j_off;
    cr_assert_eq(g[0].doc, 0);
    cr_assert_float_eq(g[0].gain, 1.33, 1e-12);
    cr_assert_eq(g[1].doc, 1);
    cr_assert_float_eq(g[1].gain, 1.5, 1e-12);
    cr_assert_float_eq(j->j[j->q[1].j_off].gain, 0.0, 1e-12);

    tl_seval_judgements_free(j);

    /* malformed relevance at line 3 */
    char *bad = write_tmp("search_term,product_uid,relevance\nhammer,p1,2\nhammer,p2,lots\n");
    cr_assert_eq(tl_seval_judgements_load(bad, NULL, p, &j, &e), TL_EPARSE);
    cr_assert_eq(e.line, 3);
    cr_assert(strstr(e.msg, ":3: relevance"), "%s", e.msg);
    drop(bad);
    bad = write_tmp("search_term,product_uid,relevance\nhammer,p1,4\n");
    cr_assert_eq(tl_seval_judgements_load(bad, NULL, p, &j, &e), TL_EPARSE);
    drop(bad);
    bad = write_tmp("search_term,product_uid,relevance\nhammer,p1\n");
    cr_assert_eq(tl_seval_judgements_load(bad, NULL, p, &j, &e), TL_EPARSE);
    cr_assert(strstr(e.msg, ":2:"), "%s", e.msg);
    drop(bad);
    bad = write_tmp("query,uid,score\nhammer,p1,2\n");
    cr_assert_eq(tl_seval_judgements_load(bad, NULL, p, &j, &e), TL_EINVAL);
    drop(bad);
    tl_seval_products_free(p);
    drop(jp);
    drop(pp);
}

static enum tl_rc fixed_rank(void *ctx, const char *query, uint32_t k, uint32_t *docs, size_t *n, struct tl_err *err)
{
    (void)ctx;
    /* "hammer" -> 1 0 3; anything else -> 3 */
    if (strcmp(query, "hammer") == 0) {
        docs[0] = 1;
        docs[1] = 0;
        docs[2] = 3;
        *n = 3;
    } else {
        docs[0] = 3;
        *n = 1;
    }
    return TL_OK;
}

Test(search_eval, qrels_and_run)
{
    char *pp = write_tmp(PRODUCTS);
    struct tl_seval_products *p = NULL;
    struct tl_err e = {0};
    cr_assert_eq(tl_seval_products_load(pp, &p, &e), TL_OK, "%s", e.msg);
    char *tp = write_tmp("q1\thammer\n\nq2\tgarden hose\nq3\tnothing judged\n");
    char *qp = write_tmp("q1 0 p1 1\nq1 0 p2 2\n\nq2\t0\tp4\t0\nq2 0 p3 -1\nq1 0 nope 2\n");
    struct tl_seval_judgements *j = NULL;
    cr_assert_eq(tl_seval_judgements_load(qp, tp, p, &j, &e), TL_OK, "%s", e.msg);
    cr_assert_eq(j->rows, 5);
    cr_assert_eq(j->unknown_products, 1);
    cr_assert_eq(j->n_q, 2);
    cr_assert_str_eq(j->q[0].text, "hammer");
    cr_assert_str_eq(j->q[1].text, "garden hose");
    cr_assert_float_eq(j->j[j->q[0].j_off + 1].gain, 2.0, 1e-12);
    cr_assert_float_eq(j->j[j->q[1].j_off].gain, 0.0, 1e-12); /* -1 clamped to 0 */

    /* q1: ranked 1 0 3 with gains doc0 = 1, doc1 = 2 -> ideal order, NDCG 1,
     * MRR 1, recall 1; q2 (gains all 0) skipped. */
    struct tl_seval_stats st;
    memset(&st, 0, sizeof st);
    cr_assert_eq(tl_seval_run(j, fixed_rank, NULL, &st, &e), TL_OK);
    cr_assert_eq(st.queries, 1);
    cr_assert_eq(st.queries_skipped, 1);
    cr_assert_float_eq(st.ndcg10, 1.0, 1e-12);
    cr_assert_float_eq(st.mrr, 1.0, 1e-12);
    cr_assert(st.lat_p99_us >= st.lat_p50_us && st.lat_max_us >= st.lat_p99_us);
    tl_seval_judgements_free(j);

    char *bad = write_tmp("q1 0 p1 1\nq1 0 p2\n");
    cr_assert_eq(tl_seval_judgements_load(bad, tp, p, &j, &e), TL_EPARSE);
    cr_assert_eq(e.line, 2);
    cr_assert(strstr(e.msg, ":2:"), "%s", e.msg);
    drop(bad);
    bad = write_tmp("q1 0 p1 high\n");
    cr_assert_eq(tl_seval_judgements_load(bad, tp, p, &j, &e), TL_EPARSE);
    drop(bad);
    bad = write_tmp("q9 0 p1 1\n");
    cr_assert_eq(tl_seval_judgements_load(bad, tp, p, &j, &e), TL_EINVAL);
    cr_assert(strstr(e.msg, "q9"), "%s", e.msg);
    drop(bad);
    bad = write_tmp("q1 hammer\n");
    cr_assert_eq(tl_seval_judgements_load(qp, bad, p, &j, &e), TL_EPARSE);
    cr_assert(strstr(e.msg, ":1:"), "%s", e.msg);
    drop(bad);
    tl_seval_products_free(p);
    drop(qp);
    drop(tp);
    drop(pp);
}

Test(search_eval, fts_expr)
{
    char out[256];
    size_t nt;
    cr_assert_eq(tl_seval_fts_expr("deck over", out, sizeof out, &nt), TL_OK);
    cr_assert_str_eq(out, "\"deck\" OR \"over\"");
    cr_assert_eq(nt, 2);
    cr_assert_eq(tl_seval_fts_expr("NEAR(a b) \"x y\" c* OR title:d -e ^f", out, sizeof out, &nt), TL_OK);
    cr_assert_str_eq(out, "\"NEAR\" OR \"a\" OR \"b\" OR \"x\" OR \"y\" OR \"c\" OR \"OR\" OR \"title\" OR \"d\" OR "
                          "\"e\" OR \"f\"");
    cr_assert_eq(tl_seval_fts_expr("\"*()-+:", out, sizeof out, &nt), TL_OK);
    cr_assert_eq(nt, 0);
    cr_assert_str_eq(out, "");
    cr_assert_eq(tl_seval_fts_expr("abcdefghij", out, 8, &nt), TL_ETOOBIG);
}

Test(search_eval, fts_ranker_injection_safe)
{
    char *pp = write_tmp(PRODUCTS);
    struct tl_seval_products *p = NULL;
    struct tl_err e = {0};
    cr_assert_eq(tl_seval_products_load(pp, &p, &e), TL_OK, "%s", e.msg);
    struct tl_seval_fts *f = NULL;
    cr_assert_eq(tl_seval_fts_new(p, &f, &e), TL_OK, "%s", e.msg);
    uint32_t docs[TL_SEVAL_K];
    size_t n = 0;
    /* porter: "hammers" matches "Hammer" and "Hammers" */
    cr_assert_eq(tl_seval_fts_rank(f, "hammers", 10, docs, &n, &e), TL_OK, "%s", e.msg);
    cr_assert_eq(n, 2);
    cr_assert((docs[0] == 0 && docs[1] == 1) || (docs[0] == 1 && docs[1] == 0));
    /* hostile queries: never an FTS5 syntax error */
    const char *bad[] = {
        "\"",          "a\"b",      "*",         "hammer*", "OR",      "OR OR", "NEAR(",      "NEAR(red paint",
        "AND NOT",     "title:red", "brand : x", "-hammer", "^garden", "(((",   "\"unclosed", "{title}: x",
        "caf\xc3\xa9", "\xc2\xb0",  "'; DROP",   ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_assert_eq(tl_seval_fts_rank(f, bad[i], 10, docs, &n, &e), TL_OK, "query [%s]: %s", bad[i], e.msg);
    /* "OR" is a plain word: matches "indoor or outdoor" (doc 2) only */
    cr_assert_eq(tl_seval_fts_rank(f, "OR", 10, docs, &n, &e), TL_OK);
    cr_assert_eq(n, 1);
    cr_assert_eq(docs[0], 2);
    /* "NEAR(red paint" = any of near, red, paint -> doc 2 */
    cr_assert_eq(tl_seval_fts_rank(f, "NEAR(red paint", 10, docs, &n, &e), TL_OK);
    cr_assert_eq(n, 1);
    cr_assert_eq(docs[0], 2);
    /* brand and category columns are indexed too: "acme" -> docs 0 and 1 */
    cr_assert_eq(tl_seval_fts_rank(f, "acme", 10, docs, &n, &e), TL_OK);
    cr_assert_eq(n, 2);
    /* k caps the list */
    cr_assert_eq(tl_seval_fts_rank(f, "hammer garden", 1, docs, &n, &e), TL_OK);
    cr_assert_eq(n, 1);
    tl_seval_fts_free(f);
    tl_seval_products_free(p);
    drop(pp);
}

Test(search_eval, sindex_ranker_and_compare)
{
    char *pp = write_tmp(PRODUCTS);
    char *jp = write_tmp("search_term,product_uid,relevance\nhammer,p1,3\nhammer,p2,3\nhammer,p4,1\n"
                         "garden hose,p4,3\ngarden hose,p3,1\n");
    struct tl_seval_products *p = NULL;
    struct tl_err e = {0};
    cr_assert_eq(tl_seval_products_load(pp, &p, &e), TL_OK, "%s", e.msg);
    struct tl_seval_sx *s = NULL;
    cr_assert_eq(tl_seval_sx_new(p, NULL, &s, &e), TL_OK, "%s", e.msg);
    uint32_t docs[TL_SEVAL_K];
    size_t n = 0;
    cr_assert_eq(tl_seval_sx_rank(s, "hammers", 10, docs, &n, &e), TL_OK, "%s", e.msg);
    cr_assert(n >= 2, "sindex found %zu documents for 'hammers'", n);
    cr_assert(docs[0] <= 1 && docs[1] <= 1 && docs[0] != docs[1]);
    tl_seval_sx_free(s);
    tl_seval_products_free(p);

    struct tl_seval_opts o = {pp, jp, NULL, NULL};
    struct tl_seval_result r;
    cr_assert_eq(tl_seval_compare(&o, &r, &e), TL_OK, "%s", e.msg);
    cr_assert_eq(r.n_rankers, 2);
    cr_assert_eq(r.n_products, 4);
    cr_assert_eq(r.n_queries, 2);
    cr_assert_str_eq(r.r[0].name, "sqlite-fts5");
    cr_assert_str_eq(r.r[1].name, "tailor-sindex");
    /* FTS5: "hammer" -> docs 0, 1 (both gain 2): NDCG 1; "garden hose" -> doc 3 first (gain 2;
     * doc 2 unmatched, gain 0 at ideal rank 2 adds nothing): NDCG 1 */
    cr_assert_float_eq(r.r[0].ndcg10, 1.0, 1e-12);
    cr_assert_eq(r.r[0].queries, 2);
    json_t *js = tl_seval_result_json(&r);
    cr_assert_not_null(js);
    json_t *rk = json_object_get(js, "rankers");
    cr_assert_eq(json_array_size(rk), 2);
    cr_assert_float_eq(json_real_value(json_object_get(json_array_get(rk, 0), "ndcg@10")), 1.0, 1e-12);
    cr_assert_eq(json_integer_value(json_object_get(js, "products")), 4);
    json_decref(js);
    drop(jp);
    drop(pp);
}

/* Published: SQLite FTS5 (porter, any term, bm25) scores NDCG@10 0.3726 on
 * the development judgements (shared/data/README.md). About 15 s of CPU (more
 * wall time on a loaded machine): every
 * query scores all its matches. */
Test(search_eval, homedepot_fts5_reproduces_published, .timeout = 300)
{
    if (access(HD_DIR "products.csv", R_OK) != 0 || access(HD_DIR "judgements-dev.csv", R_OK) != 0)
        cr_skip_test("no %s", HD_DIR);
    struct tl_seval_products *p = NULL;
    struct tl_seval_judgements *j = NULL;
    struct tl_seval_fts *f = NULL;
    struct tl_err e = {0};
    cr_assert_eq(tl_seval_products_load(HD_DIR "products.csv", &p, &e), TL_OK, "%s", e.msg);
    cr_assert_eq(p->n, 54667);
    cr_assert_eq(tl_seval_judgements_load(HD_DIR "judgements-dev.csv", NULL, p, &j, &e), TL_OK, "%s", e.msg);
    cr_assert_eq(j->n_q, 3558);
    cr_assert_eq(j->n_j, 22427);
    cr_assert_eq(tl_seval_fts_new(p, &f, &e), TL_OK, "%s", e.msg);
    struct tl_seval_stats st;
    memset(&st, 0, sizeof st);
    cr_assert_eq(tl_seval_run(j, tl_seval_fts_rank, f, &st, &e), TL_OK, "%s", e.msg);
    cr_assert_float_eq(st.ndcg10, 0.3726, 0.001, "FTS5 NDCG@10 %.4f", st.ndcg10);
    cr_assert_eq(st.queries, 3543); /* 15 queries have only relevance-1 judgements */
    tl_seval_fts_free(f);
    tl_seval_judgements_free(j);
    tl_seval_products_free(p);
}
