/* Offline search evaluation: loads a catalog and human relevance judgements,
 * runs every judged query through a ranker and averages NDCG@10, MRR,
 * Recall@10 and Recall@100 (definitions and input formats in
 * search_eval.h), and provides two rankers: the SQLite FTS5 baseline of the
 * published protocol and Tailor's search index.
 *
 * Invariants
 *   - products.p[i] is document i; products.ids maps id -> i (strtab ids are
 *     assigned in the same order, so the strtab id IS the document number).
 *   - judgements.j is grouped by query (query order = first appearance in
 *     the judgements file) and, within a query, sorted by doc with no
 *     duplicate doc (repeated rows are averaged), so scoring can binary
 *     search a document's gain.
 *
 * Scoring one query (gain g(d) = judged gain, 0 when unjudged):
 *   DCG@10  = sum_{i=1..min(10,n)} g(r_i) / log2(i + 1)
 *   IDCG@10 = sum_{i=1..min(10,|J|)} g_(i) / log2(i + 1), g_(1) >= g_(2) ...
 *   NDCG@10 = DCG / IDCG; queries with IDCG = 0 (all gains 0) are skipped.
 *   "relevant" = gain >= 1 (relevance >= 2 in the Home Depot CSV, i.e. at
 *   least "partly relevant" on average): MRR = 1/rank of the first relevant
 *   result in the top TL_SEVAL_K, Recall@k = relevant found in top k /
 *   relevant judged. A document repeated in a ranked list counts once (its
 *   later occurrences have gain 0).
 *
 * FTS5 baseline (reproduces NDCG@10 0.3726 on homedepot judgements-dev.csv,
 * per shared/data/README.md): porter tokenizer over unicode61, bm25() with
 * SQLite's defaults (k1 = 1.2, b = 0.75, column weights 1), any-term query
 * of double-quoted tokens joined by OR. Tokens are runs of ASCII
 * letters/digits and UTF-8 bytes (>= 0x80); every other byte (quotes, '*',
 * '(', ':', '^', '-', '+') separates tokens, so no FTS5 query syntax can be
 * injected, and keywords such as OR/NEAR/NOT become quoted strings. */
#include "eval/search_eval.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/timeutil.h"
#include "ingest/csv.h"

#define SE_NDCG_K 10u
#define SE_REL_MIN (1.0 - 1e-9) /* gain counted as "relevant" */

/* ---- small helpers -------------------------------------------------------- */

static int grow(void **p, size_t *cap, size_t need, size_t elem, size_t max)
{
    if (need <= *cap) return 0;
    if (need > max) return -2;
    size_t nc = *cap ? *cap : 1024;
    while (nc < need) nc *= 2;
    if (nc > max) nc = max;
    void *np = tl_realloc(*p, nc * elem);
    if (!np) return -1;
    *p = np;
    *cap = nc;
    return 0;
}

/* Prefix err's message with "path:line: " (keeps rc). */
static enum tl_rc with_file(struct tl_err *err, enum tl_rc rc, const char *path, long line)
{
    if (!err) return rc;
    char msg[TL_ERR_MSG_MAX];
    snprintf(msg, sizeof msg, "%s", err->msg[0] ? err->msg : tl_rc_message(rc));
    char field[TL_ERR_FIELD_MAX];
    snprintf(field, sizeof field, "%s", err->field);
    if (line > 0)
        tl_err_set(err, rc, field[0] ? field : NULL, "%s:%ld: %s", path, line, msg);
    else
        tl_err_set(err, rc, field[0] ? field : NULL, "%s: %s", path, msg);
    err->line = line;
    return rc;
}

static int col_is(const char *h, const char *a, const char *b)
{
    while (*h == ' ') h++;
    size_t n = strlen(h);
    while (n && (h[n - 1] == ' ' || h[n - 1] == '\r')) n--;
    return (strlen(a) == n && strncasecmp(h, a, n) == 0) || (b && strlen(b) == n && strncasecmp(h, b, n) == 0);
}

/* ---- products ------------------------------------------------------------- */

void tl_seval_products_free(struct tl_seval_products *p)
{
    if (!p) return;
    for (size_t i = 0; i < p->n; i++) {
        tl_free(p->p[i].id);
        tl_free(p->p[i].title);
        tl_free(p->p[i].description);
        tl_free(p->p[i].brand);
        tl_free(p->p[i].category);
    }
    tl_free(p->p);
    tl_strtab_free(&p->ids);
    tl_free(p);
}

static char *dup_field(struct tl_csv *c, long col)
{
    if (col < 0) return NULL;
    const char *s = tl_csv_field(c, (size_t)col, NULL);
    return tl_strdup(s ? s : "");
}

enum tl_rc tl_seval_products_load(const char *path, struct tl_seval_products **out, struct tl_err *err)
{
    *out = NULL;
    struct tl_csv *c = NULL;
    enum tl_rc rc = tl_csv_open(path, ',', &c, err);
    if (rc != TL_OK) return with_file(err, rc, path, 0);
    struct tl_seval_products *p = tl_calloc(1, sizeof *p);
    if (!p) {
        tl_csv_close(c);
        return tl_err_set(err, TL_ENOMEM, NULL, "out of memory loading %s", path);
    }
    tl_strtab_init(&p->ids);
    size_t nf = 0;
    rc = tl_csv_next(c, &nf, err);
    if (rc != TL_OK) goto fail_line;
    if (nf == 0) {
        rc = tl_err_set(err, TL_EPARSE, NULL, "%s:1: empty file, expected a header with product_uid,product_title",
                        path);
        goto fail;
    }
    long ci = -1, ct = -1, cd = -1, cb = -1, cc = -1;
    for (size_t i = 0; i < nf; i++) {
        const char *h = tl_csv_field(c, i, NULL);
        if (col_is(h, "product_uid", "id"))
            ci = (long)i;
        else if (col_is(h, "product_title", "title"))
            ct = (long)i;
        else if (col_is(h, "description", "product_description"))
            cd = (long)i;
        else if (col_is(h, "brand", NULL))
            cb = (long)i;
        else if (col_is(h, "category", NULL))
            cc = (long)i;
    }
    if (ci < 0 || ct < 0) {
        rc = tl_err_set(err, TL_EINVAL, ci < 0 ? "product_uid" : "product_title",
                        "%s:%ld: header lacks the %s column (expected product_uid,product_title[,description,brand,"
                        "category])",
                        path, tl_csv_line(c), ci < 0 ? "product_uid (or id)" : "product_title (or title)");
        goto fail;
    }
    p->has_description = cd >= 0;
    p->has_brand = cb >= 0;
    p->has_category = cc >= 0;
    size_t need = (size_t)ci;
    if ((size_t)ct > need) need = (size_t)ct;
    if (cd > (long)need) need = (size_t)cd;
    if (cb > (long)need) need = (size_t)cb;
    if (cc > (long)need) need = (size_t)cc;
    need++;
    for (;;) {
        rc = tl_csv_next(c, &nf, err);
        if (rc != TL_OK) goto fail_line;
        if (nf == 0) break;
        long line = tl_csv_line(c);
        if (nf < need) {
            rc =
                tl_err_set(err, TL_EPARSE, NULL, "%s:%ld: expected at least %zu fields, got %zu", path, line, need, nf);
            if (err) err->line = line;
            goto fail;
        }
        const char *id = tl_csv_field(c, (size_t)ci, NULL);
        if (!id || !id[0]) {
            rc = tl_err_set(err, TL_EPARSE, "product_uid", "%s:%ld: empty product id", path, line);
            if (err) err->line = line;
            goto fail;
        }
        if (tl_strtab_find(&p->ids, id) != TL_STRTAB_NONE) {
            rc = tl_err_set(err, TL_EINVAL, "product_uid", "%s:%ld: duplicate product id '%.64s'", path, line, id);
            if (err) err->line = line;
            goto fail;
        }
        int g = grow((void **)&p->p, &p->cap, p->n + 1, sizeof *p->p, TL_SEVAL_PRODUCTS_MAX);
        if (g == -2) {
            rc = tl_err_set(err, TL_ETOOBIG, NULL, "%s:%ld: more than %u products", path, line, TL_SEVAL_PRODUCTS_MAX);
            goto fail;
        }
        uint32_t doc = 0;
        if (g || tl_strtab_intern(&p->ids, id, &doc) != TL_OK) goto oom;
        struct tl_seval_product *pr = &p->p[p->n++];
        memset(pr, 0, sizeof *pr);
        pr->id = dup_field(c, ci);
        pr->title = dup_field(c, ct);
        pr->description = dup_field(c, cd);
        pr->brand = dup_field(c, cb);
        pr->category = dup_field(c, cc);
        if (!pr->id || !pr->title || (cd >= 0 && !pr->description) || (cb >= 0 && !pr->brand) ||
            (cc >= 0 && !pr->category))
            goto oom;
    }
    tl_csv_close(c);
    *out = p;
    return TL_OK;
oom:
    rc = tl_err_set(err, TL_ENOMEM, NULL, "out of memory loading %s", path);
    goto fail;
fail_line:
    with_file(err, rc, path, err ? err->line : 0);
fail:
    tl_csv_close(c);
    tl_seval_products_free(p);
    return rc;
}

/* ---- judgements ----------------------------------------------------------- */

struct jrow {
    uint32_t q, doc;
    double gain;
};

struct jbuild {
    struct tl_strtab qids; /* query key (text or TREC qid) -> query number */
    struct jrow *rows;
    size_t n_rows, cap_rows;
};

static int jrow_cmp(const void *a, const void *b)
{
    const struct jrow *x = a, *y = b;
    if (x->q != y->q) return x->q < y->q ? -1 : 1;
    return x->doc < y->doc ? -1 : x->doc > y->doc;
}

void tl_seval_judgements_free(struct tl_seval_judgements *j)
{
    if (!j) return;
    for (size_t i = 0; i < j->n_q; i++) tl_free(j->q[i].text);
    tl_free(j->q);
    tl_free(j->j);
    tl_free(j);
}

static enum tl_rc jb_add(struct jbuild *b, const char *key, uint32_t doc, double gain, const char *path, long line,
                         struct tl_err *err)
{
    uint32_t q;
    if (b->qids.count >= TL_SEVAL_QUERIES_MAX && tl_strtab_find(&b->qids, key) == TL_STRTAB_NONE)
        return tl_err_set(err, TL_ETOOBIG, NULL, "%s:%ld: more than %u queries", path, line, TL_SEVAL_QUERIES_MAX);
    if (tl_strtab_intern(&b->qids, key, &q) != TL_OK) return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    int g = grow((void **)&b->rows, &b->cap_rows, b->n_rows + 1, sizeof *b->rows, TL_SEVAL_JUDGEMENTS_MAX);
    if (g == -2)
        return tl_err_set(err, TL_ETOOBIG, NULL, "%s:%ld: more than %u judgements", path, line,
                          TL_SEVAL_JUDGEMENTS_MAX);
    if (g) return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    b->rows[b->n_rows++] = (struct jrow){q, doc, gain};
    return TL_OK;
}

/* Sort rows, average duplicates, build the final structure; each query's
 * text is its key (the caller replaces TREC qids by topic texts). */
static enum tl_rc jb_finish(struct jbuild *b, size_t rows, size_t unknown, struct tl_seval_judgements **out,
                            struct tl_err *err)
{
    struct tl_seval_judgements *j = tl_calloc(1, sizeof *j);
    if (!j) return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    j->rows = rows;
    j->unknown_products = unknown;
    size_t nq = b->qids.count;
    j->q = tl_calloc(nq ? nq : 1, sizeof *j->q);
    j->j = tl_malloc((b->n_rows ? b->n_rows : 1) * sizeof *j->j);
    if (!j->q || !j->j) goto oom;
    if (b->n_rows) qsort(b->rows, b->n_rows, sizeof *b->rows, jrow_cmp);
    j->n_q = nq;
    for (size_t q = 0; q < nq; q++) {
        j->q[q].text = tl_strdup(tl_strtab_str(&b->qids, (uint32_t)q));
        if (!j->q[q].text) goto oom;
    }
    size_t i = 0;
    while (i < b->n_rows) {
        size_t e = i;
        double s = 0;
        while (e < b->n_rows && b->rows[e].q == b->rows[i].q && b->rows[e].doc == b->rows[i].doc)
            s += b->rows[e++].gain;
        struct tl_seval_query *q = &j->q[b->rows[i].q];
        if (q->n_j == 0) q->j_off = j->n_j;
        q->n_j++;
        j->j[j->n_j++] = (struct tl_seval_judgement){b->rows[i].doc, s / (double)(e - i)};
        i = e;
    }
    *out = j;
    return TL_OK;
oom:
    tl_seval_judgements_free(j);
    return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
}

static enum tl_rc load_csv_judgements(const char *path, const struct tl_seval_products *p, struct jbuild *b,
                                      size_t *rows, size_t *unknown, struct tl_err *err)
{
    struct tl_csv *c = NULL;
    enum tl_rc rc = tl_csv_open(path, ',', &c, err);
    if (rc != TL_OK) return with_file(err, rc, path, 0);
    size_t nf = 0;
    rc = tl_csv_next(c, &nf, err);
    if (rc != TL_OK) goto fail_line;
    long cq = -1, cp = -1, cr = -1;
    for (size_t i = 0; i < nf; i++) {
        const char *h = tl_csv_field(c, i, NULL);
        if (col_is(h, "search_term", "query"))
            cq = (long)i;
        else if (col_is(h, "product_uid", "id"))
            cp = (long)i;
        else if (col_is(h, "relevance", NULL))
            cr = (long)i;
    }
    if (cq < 0 || cp < 0 || cr < 0) {
        rc = tl_err_set(err, TL_EINVAL, NULL, "%s:1: header must name search_term,product_uid,relevance", path);
        goto fail;
    }
    size_t need = (size_t)(cq > cp ? (cq > cr ? cq : cr) : (cp > cr ? cp : cr)) + 1;
    for (;;) {
        rc = tl_csv_next(c, &nf, err);
        if (rc != TL_OK) goto fail_line;
        if (nf == 0) break;
        long line = tl_csv_line(c);
        if (nf < need) {
            rc = tl_err_set(err, TL_EPARSE, NULL,
                            "%s:%ld: expected %zu fields (search_term,product_uid,relevance), "
                            "got %zu",
                            path, line, need, nf);
            if (err) err->line = line;
            goto fail;
        }
        const char *rs = tl_csv_field(c, (size_t)cr, NULL);
        char *end = NULL;
        errno = 0;
        double rel = strtod(rs, &end);
        while (end && (*end == ' ' || *end == '\r')) end++;
        if (end == rs || !end || *end || errno || !isfinite(rel) || rel < 1.0 || rel > 3.0) {
            rc = tl_err_set(err, TL_EPARSE, "relevance", "%s:%ld: relevance '%.32s' is not a number in 1..3", path,
                            line, rs);
            if (err) err->line = line;
            goto fail;
        }
        (*rows)++;
        uint32_t doc = tl_strtab_find(&p->ids, tl_csv_field(c, (size_t)cp, NULL));
        if (doc == TL_STRTAB_NONE) {
            (*unknown)++;
            continue;
        }
        rc = jb_add(b, tl_csv_field(c, (size_t)cq, NULL), doc, rel - 1.0, path, line, err);
        if (rc != TL_OK) goto fail;
    }
    tl_csv_close(c);
    return TL_OK;
fail_line:
    with_file(err, rc, path, err ? err->line : 0);
fail:
    tl_csv_close(c);
    return rc;
}

/* Split s in place on spaces/tabs into at most max tokens; returns count
 * (max + 1 if there were more). */
static size_t split_ws(char *s, char **tok, size_t max)
{
    size_t n = 0;
    while (*s) {
        while (*s == ' ' || *s == '\t' || *s == '\r') s++;
        if (!*s) break;
        if (n == max) return max + 1;
        tok[n++] = s;
        while (*s && *s != ' ' && *s != '\t' && *s != '\r') s++;
        if (*s) *s++ = 0;
    }
    return n;
}

/* Topics: "qid<TAB>query" -> texts (qid -> topic number) and topic strings. */
static enum tl_rc load_topics(const char *path, struct tl_strtab *qids, char ***texts, struct tl_err *err)
{
    struct tl_lines *l = NULL;
    enum tl_rc rc = tl_lines_open(path, &l, err);
    if (rc != TL_OK) return with_file(err, rc, path, 0);
    size_t cap = 0;
    for (;;) {
        const char *line;
        size_t len;
        long ln = 0;
        rc = tl_lines_next(l, &line, &len, &ln, err);
        if (rc != TL_OK) {
            with_file(err, rc, path, ln);
            break;
        }
        if (!line) break;
        size_t k = 0;
        while (k < len && (line[k] == ' ' || line[k] == '\r')) k++;
        if (k == len) continue;
        const char *tab = memchr(line, '\t', len);
        if (!tab || tab == line) {
            rc = tl_err_set(err, TL_EPARSE, NULL, "%s:%ld: expected 'qid<TAB>query text'", path, ln);
            if (err) err->line = ln;
            break;
        }
        char *qid = tl_strndup(line, (size_t)(tab - line));
        size_t tl = len - (size_t)(tab + 1 - line);
        while (tl && tab[tl] == '\r') tl--;
        if (tl > TL_SEVAL_QUERY_BYTES_MAX) tl = TL_SEVAL_QUERY_BYTES_MAX;
        char *text = tl_strndup(tab + 1, tl);
        if (!qid || !text) {
            tl_free(qid);
            tl_free(text);
            rc = tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
            break;
        }
        if (tl_strtab_find(qids, qid) != TL_STRTAB_NONE) {
            rc = tl_err_set(err, TL_EINVAL, NULL, "%s:%ld: duplicate topic id '%.64s'", path, ln, qid);
            if (err) err->line = ln;
            tl_free(qid);
            tl_free(text);
            break;
        }
        uint32_t id;
        if (qids->count >= TL_SEVAL_QUERIES_MAX) {
            rc = tl_err_set(err, TL_ETOOBIG, NULL, "%s:%ld: more than %u topics", path, ln, TL_SEVAL_QUERIES_MAX);
        } else if (tl_strtab_intern(qids, qid, &id) != TL_OK ||
                   grow((void **)texts, &cap, id + 1, sizeof **texts, TL_SEVAL_QUERIES_MAX)) {
            rc = tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
        } else {
            (*texts)[id] = text;
            text = NULL;
        }
        tl_free(qid);
        tl_free(text);
        if (rc != TL_OK) break;
    }
    tl_lines_close(l);
    return rc;
}

static enum tl_rc load_qrels(const char *path, const struct tl_seval_products *p, const struct tl_strtab *topics,
                             struct jbuild *b, size_t *rows, size_t *unknown, struct tl_err *err)
{
    struct tl_lines *l = NULL;
    enum tl_rc rc = tl_lines_open(path, &l, err);
    if (rc != TL_OK) return with_file(err, rc, path, 0);
    char buf[1024];
    for (;;) {
        const char *line;
        size_t len;
        long ln = 0;
        rc = tl_lines_next(l, &line, &len, &ln, err);
        if (rc != TL_OK) {
            with_file(err, rc, path, ln);
            break;
        }
        if (!line) break;
        if (len >= sizeof buf) {
            rc = tl_err_set(err, TL_EPARSE, NULL, "%s:%ld: line longer than %zu bytes", path, ln, sizeof buf - 1);
            if (err) err->line = ln;
            break;
        }
        memcpy(buf, line, len);
        buf[len] = 0;
        char *tok[4];
        size_t n = split_ws(buf, tok, 4);
        if (n == 0) continue;
        char *end = NULL;
        double rel = 0;
        if (n == 4) {
            errno = 0;
            rel = strtod(tok[3], &end);
        }
        if (n != 4 || !end || *end || errno || !isfinite(rel)) {
            rc = tl_err_set(err, TL_EPARSE, NULL,
                            "%s:%ld: expected 'qid 0 docid relevance' (4 fields, numeric "
                            "relevance)",
                            path, ln);
            if (err) err->line = ln;
            break;
        }
        if (tl_strtab_find(topics, tok[0]) == TL_STRTAB_NONE) {
            rc = tl_err_set(err, TL_EINVAL, NULL, "%s:%ld: query id '%.64s' has no topic in the queries file", path, ln,
                            tok[0]);
            if (err) err->line = ln;
            break;
        }
        (*rows)++;
        uint32_t doc = tl_strtab_find(&p->ids, tok[2]);
        if (doc == TL_STRTAB_NONE) {
            (*unknown)++;
            continue;
        }
        rc = jb_add(b, tok[0], doc, rel < 0 ? 0 : rel, path, ln, err);
        if (rc != TL_OK) break;
    }
    tl_lines_close(l);
    return rc;
}

enum tl_rc tl_seval_judgements_load(const char *path, const char *topics, const struct tl_seval_products *p,
                                    struct tl_seval_judgements **out, struct tl_err *err)
{
    *out = NULL;
    struct jbuild b;
    memset(&b, 0, sizeof b);
    tl_strtab_init(&b.qids);
    struct tl_strtab tq;
    tl_strtab_init(&tq);
    char **texts = NULL;
    size_t rows = 0, unknown = 0;
    enum tl_rc rc;
    if (!topics) {
        rc = load_csv_judgements(path, p, &b, &rows, &unknown, err);
        if (rc == TL_OK) rc = jb_finish(&b, rows, unknown, out, err);
    } else {
        rc = load_topics(topics, &tq, &texts, err);
        if (rc == TL_OK) rc = load_qrels(path, p, &tq, &b, &rows, &unknown, err);
        if (rc == TL_OK) rc = jb_finish(&b, rows, unknown, out, err);
        if (rc == TL_OK) {
            /* replace each query's text (its qid) by the topic text */
            struct tl_seval_judgements *j = *out;
            for (size_t q = 0; q < j->n_q; q++) {
                uint32_t t = tl_strtab_find(&tq, j->q[q].text);
                tl_free(j->q[q].text);
                j->q[q].text = texts[t];
                texts[t] = NULL;
            }
        }
    }
    for (uint32_t i = 0; i < tq.count && texts; i++) tl_free(texts[i]);
    tl_free(texts);
    tl_strtab_free(&tq);
    tl_strtab_free(&b.qids);
    tl_free(b.rows);
    return rc;
}

/* ---- metrics -------------------------------------------------------------- */

static double gain_of(const struct tl_seval_judgement *j, size_t n_j, uint32_t doc)
{
    size_t lo = 0, hi = n_j;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (j[mid].doc < doc)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n_j && j[lo].doc == doc ? j[lo].gain : 0.0;
}

int tl_seval_score_query(const struct tl_seval_judgement *j, size_t n_j, const uint32_t *docs, size_t n,
                         struct tl_seval_qscore *out)
{
    memset(out, 0, sizeof *out);
    /* ideal: the SE_NDCG_K largest gains, descending (insertion into a tiny array) */
    double top[SE_NDCG_K];
    size_t nt = 0, n_rel = 0;
    for (size_t i = 0; i < n_j; i++) {
        double g = j[i].gain;
        if (g >= SE_REL_MIN) n_rel++;
        if (g <= 0) continue;
        if (nt == SE_NDCG_K && g <= top[nt - 1]) continue;
        size_t k = nt < SE_NDCG_K ? nt++ : nt - 1;
        while (k > 0 && top[k - 1] < g) {
            top[k] = top[k - 1];
            k--;
        }
        top[k] = g;
    }
    if (nt == 0) return 0;
    double idcg = 0;
    for (size_t i = 0; i < nt; i++) idcg += top[i] / log2((double)i + 2.0);
    if (n > TL_SEVAL_K) n = TL_SEVAL_K;
    double dcg = 0;
    size_t hit10 = 0, hit100 = 0;
    for (size_t i = 0; i < n; i++) {
        int dup = 0;
        for (size_t k = 0; k < i && !dup; k++) dup = docs[k] == docs[i];
        if (dup) continue;
        double g = gain_of(j, n_j, docs[i]);
        if (i < SE_NDCG_K) dcg += g / log2((double)i + 2.0);
        if (g >= SE_REL_MIN) {
            if (out->mrr == 0) out->mrr = 1.0 / (double)(i + 1);
            if (i < 10) hit10++;
            hit100++;
        }
    }
    out->ndcg10 = dcg / idcg;
    out->has_relevant = n_rel > 0;
    if (n_rel) {
        out->recall10 = (double)hit10 / (double)n_rel;
        out->recall100 = (double)hit100 / (double)n_rel;
    } else {
        out->mrr = 0;
    }
    return 1;
}

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

enum tl_rc tl_seval_run(const struct tl_seval_judgements *j, tl_seval_rank_fn fn, void *ctx, struct tl_seval_stats *out,
                        struct tl_err *err)
{
    out->queries = out->queries_relevant = out->queries_skipped = 0;
    out->ndcg10 = out->mrr = out->recall10 = out->recall100 = 0;
    out->lat_mean_us = out->lat_p50_us = out->lat_p99_us = out->lat_max_us = 0;
    uint64_t *lat = tl_malloc((j->n_q ? j->n_q : 1) * sizeof *lat);
    uint32_t docs[TL_SEVAL_K];
    if (!lat) return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    double s_ndcg = 0, s_mrr = 0, s_r10 = 0, s_r100 = 0, s_lat = 0;
    size_t nl = 0;
    enum tl_rc rc = TL_OK;
    for (size_t qi = 0; qi < j->n_q; qi++) {
        const struct tl_seval_query *q = &j->q[qi];
        const struct tl_seval_judgement *jj = j->j + q->j_off;
        int any = 0;
        for (uint32_t i = 0; i < q->n_j && !any; i++) any = jj[i].gain > 0;
        if (!any) {
            out->queries_skipped++;
            continue;
        }
        size_t n = 0;
        uint64_t t0 = tl_mono_ns();
        rc = fn(ctx, q->text, TL_SEVAL_K, docs, &n, err);
        uint64_t t1 = tl_mono_ns();
        if (rc != TL_OK) break;
        if (n > TL_SEVAL_K) n = TL_SEVAL_K;
        lat[nl++] = t1 - t0;
        s_lat += (double)(t1 - t0);
        struct tl_seval_qscore s;
        if (!tl_seval_score_query(jj, q->n_j, docs, n, &s)) continue;
        out->queries++;
        s_ndcg += s.ndcg10;
        if (s.has_relevant) {
            out->queries_relevant++;
            s_mrr += s.mrr;
            s_r10 += s.recall10;
            s_r100 += s.recall100;
        }
    }
    if (rc == TL_OK) {
        if (out->queries) out->ndcg10 = s_ndcg / (double)out->queries;
        if (out->queries_relevant) {
            double d = (double)out->queries_relevant;
            out->mrr = s_mrr / d;
            out->recall10 = s_r10 / d;
            out->recall100 = s_r100 / d;
        }
        if (nl) {
            qsort(lat, nl, sizeof *lat, u64_cmp);
            out->lat_mean_us = s_lat / (double)nl / 1e3;
            out->lat_p50_us = (double)lat[(nl + 1) / 2 - 1] / 1e3;
            size_t i99 = (size_t)ceil(0.99 * (double)nl);
            out->lat_p99_us = (double)lat[(i99 ? i99 : 1) - 1] / 1e3;
            out->lat_max_us = (double)lat[nl - 1] / 1e3;
        }
    }
    tl_free(lat);
    return rc;
}

/* ---- FTS5 baseline --------------------------------------------------------- */

struct tl_seval_fts {
    sqlite3 *db;
    sqlite3_stmt *q;
    char expr[TL_SEVAL_QUERY_BYTES_MAX * 3 + 16];
};

static int tok_byte(unsigned char c) { return isalnum(c) || c >= 0x80; }

enum tl_rc tl_seval_fts_expr(const char *query, char *out, size_t cap, size_t *n_terms)
{
    size_t o = 0, nt = 0;
    const unsigned char *s = (const unsigned char *)(query ? query : "");
    if (cap == 0) return TL_ETOOBIG;
    out[0] = 0;
    *n_terms = 0;
    while (*s && nt < TL_SEVAL_FTS_TERMS_MAX) {
        while (*s && !tok_byte(*s)) s++;
        if (!*s) break;
        const unsigned char *b = s;
        while (*s && tok_byte(*s)) s++;
        size_t len = (size_t)(s - b);
        size_t need = (nt ? 4 : 0) + len + 2;
        if (o + need + 1 > cap) return TL_ETOOBIG;
        if (nt) {
            memcpy(out + o, " OR ", 4);
            o += 4;
        }
        out[o++] = '"';
        memcpy(out + o, b, len);
        o += len;
        out[o++] = '"';
        out[o] = 0;
        nt++;
    }
    *n_terms = nt;
    return TL_OK;
}

void tl_seval_fts_free(struct tl_seval_fts *f)
{
    if (!f) return;
    sqlite3_finalize(f->q);
    sqlite3_close(f->db);
    tl_free(f);
}

static enum tl_rc fts_fail(struct tl_seval_fts *f, sqlite3_stmt *st, struct tl_err *err, const char *what)
{
    enum tl_rc rc = tl_err_set(err, TL_ESTORE, NULL, "sqlite fts5 %s: %s", what, f->db ? sqlite3_errmsg(f->db) : "?");
    sqlite3_finalize(st);
    tl_seval_fts_free(f);
    return rc;
}

enum tl_rc tl_seval_fts_new(const struct tl_seval_products *p, struct tl_seval_fts **out, struct tl_err *err)
{
    *out = NULL;
    struct tl_seval_fts *f = tl_calloc(1, sizeof *f);
    if (!f) return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    if (sqlite3_open(":memory:", &f->db) != SQLITE_OK) return fts_fail(f, NULL, err, "open");
    char create[256], insert[256];
    snprintf(create, sizeof create, "CREATE VIRTUAL TABLE p USING fts5(title%s%s%s, tokenize='porter')",
             p->has_description ? ", description" : "", p->has_brand ? ", brand" : "",
             p->has_category ? ", category" : "");
    snprintf(insert, sizeof insert, "INSERT INTO p(rowid, title%s%s%s) VALUES(?%s%s%s, ?)",
             p->has_description ? ", description" : "", p->has_brand ? ", brand" : "",
             p->has_category ? ", category" : "", p->has_description ? ", ?" : "", p->has_brand ? ", ?" : "",
             p->has_category ? ", ?" : "");
    if (sqlite3_exec(f->db, create, NULL, NULL, NULL) != SQLITE_OK) return fts_fail(f, NULL, err, "create");
    if (sqlite3_exec(f->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) return fts_fail(f, NULL, err, "begin");
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(f->db, insert, -1, &st, NULL) != SQLITE_OK) return fts_fail(f, NULL, err, "prepare");
    for (size_t i = 0; i < p->n; i++) {
        const struct tl_seval_product *pr = &p->p[i];
        int c = 1;
        sqlite3_bind_int64(st, c++, (sqlite3_int64)i + 1);
        sqlite3_bind_text(st, c++, pr->title, -1, SQLITE_STATIC);
        if (p->has_description) sqlite3_bind_text(st, c++, pr->description, -1, SQLITE_STATIC);
        if (p->has_brand) sqlite3_bind_text(st, c++, pr->brand, -1, SQLITE_STATIC);
        if (p->has_category) sqlite3_bind_text(st, c++, pr->category, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) return fts_fail(f, st, err, "insert");
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    if (sqlite3_exec(f->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) return fts_fail(f, NULL, err, "commit");
    if (sqlite3_prepare_v2(f->db, "SELECT rowid FROM p WHERE p MATCH ?1 ORDER BY bm25(p) LIMIT ?2", -1, &f->q, NULL) !=
        SQLITE_OK)
        return fts_fail(f, NULL, err, "prepare query");
    *out = f;
    return TL_OK;
}

enum tl_rc tl_seval_fts_rank(void *ctx, const char *query, uint32_t k, uint32_t *docs, size_t *n, struct tl_err *err)
{
    struct tl_seval_fts *f = ctx;
    *n = 0;
    size_t nt = 0;
    if (tl_seval_fts_expr(query, f->expr, sizeof f->expr, &nt) != TL_OK)
        return tl_err_set(err, TL_ETOOBIG, "q", "query too long for the FTS5 baseline");
    if (nt == 0 || k == 0) return TL_OK;
    sqlite3_reset(f->q);
    sqlite3_bind_text(f->q, 1, f->expr, -1, SQLITE_STATIC);
    sqlite3_bind_int64(f->q, 2, (sqlite3_int64)k);
    int r;
    while ((r = sqlite3_step(f->q)) == SQLITE_ROW) {
        sqlite3_int64 rowid = sqlite3_column_int64(f->q, 0);
        if (*n < k && rowid >= 1) docs[(*n)++] = (uint32_t)(rowid - 1);
    }
    sqlite3_reset(f->q);
    sqlite3_clear_bindings(f->q);
    if (r != SQLITE_DONE)
        return tl_err_set(err, TL_ESTORE, "q", "fts5 query '%.64s': %s", f->expr, sqlite3_errmsg(f->db));
    return TL_OK;
}

/* ---- Tailor's index -------------------------------------------------------- */

struct tl_seval_sx {
    struct tl_sindex *ix;
    struct tl_sresult *res; /* large: heap */
};

void tl_seval_sx_free(struct tl_seval_sx *s)
{
    if (!s) return;
    tl_sindex_free(s->ix);
    tl_free(s->res);
    tl_free(s);
}

enum tl_rc tl_seval_sx_new(const struct tl_seval_products *p, const struct tl_search_config *cfg,
                           struct tl_seval_sx **out, struct tl_err *err)
{
    *out = NULL;
    struct tl_search_config def;
    memset(&def, 0, sizeof def);
    for (int i = 0; i < TL_SF_COUNT; i++) def.b[i] = -1; /* <0 = default length normalisation */
    struct tl_seval_sx *s = tl_calloc(1, sizeof *s);
    if (!s) return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    s->res = tl_malloc(sizeof *s->res);
    enum tl_rc rc = s->res ? tl_sindex_new(cfg ? cfg : &def, &s->ix, err) : TL_ENOMEM;
    if (rc != TL_OK) {
        tl_seval_sx_free(s);
        return rc == TL_ENOMEM && !s->res ? tl_err_set(err, rc, NULL, "out of memory") : rc;
    }
    for (size_t i = 0; i < p->n; i++) {
        const struct tl_seval_product *pr = &p->p[i];
        struct tl_sdoc d;
        memset(&d, 0, sizeof d);
        d.id = pr->id;
        d.title = pr->title;
        d.description = pr->description;
        d.brand = pr->brand;
        d.category = pr->category;
        d.price = NAN;
        d.available = 1;
        d.visible = 1;
        rc = tl_sindex_upsert(s->ix, (uint32_t)i, &d);
        if (rc != TL_OK) {
            tl_seval_sx_free(s);
            return tl_err_set(err, rc, NULL, "sindex upsert of product '%.64s' failed", pr->id);
        }
    }
    *out = s;
    return TL_OK;
}

enum tl_rc tl_seval_sx_rank(void *ctx, const char *query, uint32_t k, uint32_t *docs, size_t *n, struct tl_err *err)
{
    struct tl_seval_sx *s = ctx;
    *n = 0;
    struct tl_squery q;
    memset(&q, 0, sizeof q);
    q.q = query;
    q.min_price = NAN;
    q.max_price = NAN;
    q.sort = TL_SSORT_RELEVANCE;
    q.limit = k < TL_SEARCH_LIMIT_MAX ? k : TL_SEARCH_LIMIT_MAX;
    q.facets = 0;
    enum tl_rc rc = tl_sindex_search(s->ix, &q, s->res, err);
    if (rc != TL_OK) return rc;
    for (size_t i = 0; i < s->res->n_hits && *n < k; i++) docs[(*n)++] = s->res->hits[i].doc;
    return TL_OK;
}

/* ---- both ------------------------------------------------------------------ */

enum tl_rc tl_seval_compare(const struct tl_seval_opts *o, struct tl_seval_result *out, struct tl_err *err)
{
    memset(out, 0, sizeof *out);
    struct tl_seval_products *p = NULL;
    struct tl_seval_judgements *j = NULL;
    struct tl_seval_fts *f = NULL;
    struct tl_seval_sx *s = NULL;
    enum tl_rc rc = tl_seval_products_load(o->products, &p, err);
    if (rc != TL_OK) return rc;
    rc = tl_seval_judgements_load(o->judgements, o->queries, p, &j, err);
    if (rc != TL_OK) goto done;
    out->n_products = p->n;
    out->n_queries = j->n_q;
    out->n_judgements = j->n_j;
    out->unknown_products = j->unknown_products;
    if (o->progress) fprintf(o->progress, "search eval: %zu products, %zu judged queries\n", p->n, j->n_q);

    struct tl_seval_stats *st = &out->r[0];
    snprintf(st->name, sizeof st->name, "sqlite-fts5");
    uint64_t t0 = tl_mono_ns();
    rc = tl_seval_fts_new(p, &f, err);
    if (rc != TL_OK) goto done;
    st->build_s = (double)(tl_mono_ns() - t0) / 1e9;
    rc = tl_seval_run(j, tl_seval_fts_rank, f, st, err);
    if (rc != TL_OK) goto done;
    out->n_rankers = 1;
    if (o->progress) fprintf(o->progress, "  %s NDCG@10 %.4f\n", st->name, st->ndcg10);
    tl_seval_fts_free(f);
    f = NULL;

    st = &out->r[1];
    snprintf(st->name, sizeof st->name, "tailor-sindex");
    t0 = tl_mono_ns();
    rc = tl_seval_sx_new(p, NULL, &s, err);
    if (rc != TL_OK) goto done;
    st->build_s = (double)(tl_mono_ns() - t0) / 1e9;
    rc = tl_seval_run(j, tl_seval_sx_rank, s, st, err);
    if (rc != TL_OK) goto done;
    out->n_rankers = 2;
    if (o->progress) fprintf(o->progress, "  %s NDCG@10 %.4f\n", st->name, st->ndcg10);
done:
    tl_seval_fts_free(f);
    tl_seval_sx_free(s);
    tl_seval_judgements_free(j);
    tl_seval_products_free(p);
    return rc;
}

json_t *tl_seval_result_json(const struct tl_seval_result *r)
{
    json_t *rk = json_array();
    if (!rk) return NULL;
    for (size_t i = 0; i < r->n_rankers; i++) {
        const struct tl_seval_stats *s = &r->r[i];
        json_t *o = json_pack("{s:s, s:I, s:I, s:f, s:f, s:f, s:f, s:f, s:{s:f, s:f, s:f, s:f}}", "name", s->name,
                              "queries", (json_int_t)s->queries, "queries_relevant", (json_int_t)s->queries_relevant,
                              "ndcg@10", s->ndcg10, "mrr", s->mrr, "recall@10", s->recall10, "recall@100", s->recall100,
                              "build_seconds", s->build_s, "latency_us", "mean", s->lat_mean_us, "p50", s->lat_p50_us,
                              "p99", s->lat_p99_us, "max", s->lat_max_us);
        if (!o || json_array_append_new(rk, o)) {
            json_decref(rk);
            return NULL;
        }
    }
    return json_pack("{s:I, s:I, s:I, s:I, s:o}", "products", (json_int_t)r->n_products, "queries",
                     (json_int_t)r->n_queries, "judgements", (json_int_t)r->n_judgements, "unknown_products",
                     (json_int_t)r->unknown_products, "rankers", rk);
}

void tl_seval_result_print(const struct tl_seval_result *r, FILE *out)
{
    fprintf(out, "products %zu, judged queries %zu, judgements %zu, unknown product ids %zu\n", r->n_products,
            r->n_queries, r->n_judgements, r->unknown_products);
    fprintf(out, "%-14s %7s %7s %8s %8s %8s %9s %8s %9s %9s\n", "ranker", "queries", "NDCG@10", "MRR", "R@10", "R@100",
            "build_s", "mean_us", "p50_us", "p99_us");
    for (size_t i = 0; i < r->n_rankers; i++) {
        const struct tl_seval_stats *s = &r->r[i];
        fprintf(out, "%-14s %7llu %7.4f %8.4f %8.4f %8.4f %9.3f %8.1f %9.1f %9.1f\n", s->name,
                (unsigned long long)s->queries, s->ndcg10, s->mrr, s->recall10, s->recall100, s->build_s,
                s->lat_mean_us, s->lat_p50_us, s->lat_p99_us);
    }
    fprintf(out, "(MRR and Recall over queries with a judged relevance >= 2; NDCG@10 over queries with any gain)\n");
}
