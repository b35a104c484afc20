/* Search benchmark: Tailor's index (src/search/sindex.h) against SQLite FTS5
 * on the same synthetic catalog and queries, single thread, one run.
 *
 * Data: bench/search_catalog.h (deterministic; N products, default 100,000,
 * titles of 5-15 words, descriptions of 30-80, 3-level categories, brands,
 * prices; 10,000 queries of 1-3 Zipf-drawn words incl. plurals).
 *
 * Measured (wall clock, tl_mono_ns):
 *   sindex   indexing rate = N / seconds of N tl_sindex_upsert calls into a
 *            new index (default config); query latency of tl_sindex_search
 *            with the query text only (any term as the index matches it),
 *            limit 20, facets on, relevance sort: p50/p90/p99/max over the
 *            queries (nearest rank).
 *   FTS5     in-memory database, fts5(title, description,
 *            tokenize='porter'), N inserts in one transaction; query = the
 *            same text as any-term OR of quoted tokens
 *            (tl_seval_fts_expr), ORDER BY bm25(p) LIMIT 20, every row
 *            stepped: p50/p90/p99/max.
 *   sindex, two more loops over the same queries (thread CPU p50/p99):
 *   personal  the same searches with a boost hook shaped like the engine's
 *            personal re-ranking (boost = 0.3 x (0.4 [deepest category is
 *            one of 3 drawn for the query] + 0.2 [its brand is the one
 *            drawn] + 0.1 [price within +-30% of a drawn price]) / 0.7,
 *            boost_max 0.3, and boost_path_max the same with brand and
 *            price at their largest); hook calls per query printed;
 *   suggest  tl_sindex_suggest of each query cut two characters short
 *            (what a shopper has typed so far), limit 5.
 * Each engine's query loop stops early after --budget seconds (default 15)
 * so the whole run stays near a minute at 100k; the number of queries run
 * is printed. Output: a table, then one "bench_search <metric> <value>" line
 * per metric (for scripts/bench), or a JSON object with --json.
 *
 *   build/bench_search [--items N] [--queries N] [--budget S] [--json]
 *                      [--no-fts] [--index-only]
 * --no-fts skips the FTS5 run; --index-only also skips the sindex queries
 * (indexing rate only). */
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/timeutil.h"
#include "eval/search_eval.h"
#include "search/sindex.h"
#include "search_catalog.h"

#define BS_LIMIT 20u
#define BS_QUERIES_MAX 1000000u

struct lat {
    double p50, p90, p99, max, mean;
    double cpu_p50, cpu_p99; /* thread CPU time: robust when the machine is shared */
    uint32_t n;
    double seconds;
};

static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double rank_us(const uint64_t *v, uint32_t n, double q)
{
    uint32_t i = (uint32_t)ceil(q * n);
    if (i < 1) i = 1;
    return (double)v[i - 1] / 1e3;
}

static void summarise(uint64_t *v, uint64_t *cpu, uint32_t n, struct lat *l)
{
    memset(l, 0, sizeof *l);
    l->n = n;
    if (!n) return;
    qsort(cpu, n, sizeof *cpu, cmp_u64);
    l->cpu_p50 = rank_us(cpu, n, 0.50);
    l->cpu_p99 = rank_us(cpu, n, 0.99);
    double s = 0;
    for (uint32_t i = 0; i < n; i++) s += (double)v[i];
    qsort(v, n, sizeof *v, cmp_u64);
    l->mean = s / n / 1e3;
    l->seconds = s / 1e9;
    l->p50 = rank_us(v, n, 0.50);
    l->p90 = rank_us(v, n, 0.90);
    l->p99 = rank_us(v, n, 0.99);
    l->max = (double)v[n - 1] / 1e3;
}

struct results {
    uint32_t items, queries;
    double gen_s;
    double sx_rate, sx_build_s, sx_build_cpu_s;
    size_t sx_mem;
    double sx_hits, sx_total;
    struct lat sx, px, sg; /* search, personalized search, suggest */
    double px_calls;
    double fts_rate, fts_build_s, fts_build_cpu_s;
    double fts_hits;
    struct lat fts;
};

/* The personal hook of the "personal" loop (see the header). */
struct bs_user {
    struct tl_sindex *ix;
    const struct sc_catalog *c;
    uint32_t path[3], brand;
    double lo, hi;
    uint64_t calls;
};

static double bs_boost(void *ctx, uint32_t doc)
{
    struct bs_user *u = ctx;
    uint32_t path, brand;
    tl_sindex_doc_keys(u->ix, doc, &path, &brand);
    u->calls++;
    double price = tl_sindex_doc_price(u->ix, doc);
    int cat = path == u->path[0] || path == u->path[1] || path == u->path[2];
    return 0.3 * (0.4 * cat + 0.2 * (brand == u->brand) + 0.1 * (price >= u->lo && price <= u->hi)) / 0.7;
}

static double bs_path_max(void *ctx, uint32_t path)
{
    struct bs_user *u = ctx;
    int cat = path == u->path[0] || path == u->path[1] || path == u->path[2];
    return 0.3 * (0.4 * cat + 0.2 + 0.1) / 0.7 * (1 + 1e-9);
}

static void bs_user_for(struct bs_user *u, struct tl_sindex *ix, const struct sc_catalog *c, uint32_t i)
{
    memset(u, 0, sizeof *u);
    u->ix = ix;
    u->c = c;
    uint64_t s = 0x9e3779b97f4a7c15ULL * (i + 1);
    uint32_t b;
    for (int k = 0; k < 3; k++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        tl_sindex_doc_keys(ix, (uint32_t)(s % c->n), &u->path[k], &b);
    }
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    uint32_t d = (uint32_t)(s % c->n), p;
    tl_sindex_doc_keys(ix, d, &p, &u->brand);
    double price = c->p[d].price;
    u->lo = price * 0.7, u->hi = price * 1.3;
}

/* Thread-CPU latencies of the personalized searches and the suggests. */
static int run_extra(struct tl_sindex *ix, const struct sc_catalog *c, double budget, uint64_t *lat, uint64_t *cpu,
                     struct tl_sresult *res, struct results *r)
{
    struct tl_err err = {0};
    uint64_t spent = 0, budget_ns = (uint64_t)(budget * 1e9), calls = 0;
    uint32_t n = 0;
    for (uint32_t i = 0; i < c->n_queries && spent < budget_ns; i++) {
        struct bs_user u;
        bs_user_for(&u, ix, c, i);
        struct tl_squery q;
        memset(&q, 0, sizeof q);
        q.q = c->queries[i];
        q.min_price = q.max_price = NAN;
        q.limit = BS_LIMIT;
        q.facets = 1;
        q.boost = bs_boost;
        q.boost_path_max = bs_path_max;
        q.boost_ctx = &u;
        q.boost_max = 0.3;
        uint64_t ca = cpu_ns(), a = tl_mono_ns();
        if (tl_sindex_search(ix, &q, res, &err) != TL_OK) {
            fprintf(stderr, "bench_search: personal search '%s': %s\n", q.q, err.msg);
            return -1;
        }
        uint64_t b = tl_mono_ns();
        cpu[n] = cpu_ns() - ca;
        lat[n++] = b - a;
        spent += b - a;
        calls += u.calls;
    }
    r->px_calls = n ? (double)calls / n : 0;
    summarise(lat, cpu, n, &r->px);
    spent = 0, n = 0;
    char pfx[SC_QUERY_MAX + 1];
    for (uint32_t i = 0; i < c->n_queries && spent < budget_ns; i++) {
        size_t len = strlen(c->queries[i]);
        len = len > 3 ? len - 2 : 1;
        if (len > SC_QUERY_MAX) len = SC_QUERY_MAX;
        memcpy(pfx, c->queries[i], len);
        pfx[len] = 0;
        struct tl_shit h[5];
        size_t nh = 0;
        uint64_t ca = cpu_ns(), a = tl_mono_ns();
        if (tl_sindex_suggest(ix, pfx, 5, h, &nh) != TL_OK) {
            fprintf(stderr, "bench_search: suggest '%s' failed\n", pfx);
            return -1;
        }
        uint64_t b = tl_mono_ns();
        cpu[n] = cpu_ns() - ca;
        lat[n++] = b - a;
        spent += b - a;
    }
    summarise(lat, cpu, n, &r->sg);
    return 0;
}

static int run_sindex(const struct sc_catalog *c, double budget, uint64_t *lat, uint64_t *cpu, struct results *r)
{
    struct tl_search_config cfg;
    memset(&cfg, 0, sizeof cfg);
    for (int i = 0; i < TL_SF_COUNT; i++) cfg.b[i] = -1;
    struct tl_sindex *ix = NULL;
    struct tl_err err = {0};
    if (tl_sindex_new(&cfg, &ix, &err) != TL_OK) {
        fprintf(stderr, "bench_search: tl_sindex_new: %s\n", err.msg);
        return -1;
    }
    uint64_t t0 = tl_mono_ns(), c0 = cpu_ns();
    for (uint32_t i = 0; i < c->n; i++) {
        const struct sc_product *p = &c->p[i];
        struct tl_sdoc d;
        memset(&d, 0, sizeof d);
        d.id = p->id;
        d.title = p->title;
        d.description = p->description;
        d.brand = p->brand;
        d.category = p->category;
        d.price = p->price;
        d.available = 1;
        d.visible = 1;
        d.created_ms = 1700000000000LL + i;
        if (tl_sindex_upsert(ix, i, &d) != TL_OK) {
            fprintf(stderr, "bench_search: tl_sindex_upsert %u failed\n", i);
            tl_sindex_free(ix);
            return -1;
        }
    }
    r->sx_build_s = (double)(tl_mono_ns() - t0) / 1e9;
    r->sx_build_cpu_s = (double)(cpu_ns() - c0) / 1e9;
    r->sx_rate = c->n / (r->sx_build_s > 0 ? r->sx_build_s : 1e-9);
    r->sx_mem = tl_sindex_memory(ix);
    struct tl_sresult *res = tl_malloc(sizeof *res);
    if (!res) {
        tl_sindex_free(ix);
        return -1;
    }
    uint64_t spent = 0, budget_ns = (uint64_t)(budget * 1e9);
    uint32_t n = 0;
    double hits = 0, total = 0;
    for (uint32_t i = 0; i < c->n_queries && spent < budget_ns && budget > 0; i++) {
        struct tl_squery q;
        memset(&q, 0, sizeof q);
        q.q = c->queries[i];
        q.min_price = NAN;
        q.max_price = NAN;
        q.limit = BS_LIMIT;
        q.facets = 1;
        uint64_t ca = cpu_ns(), a = tl_mono_ns();
        enum tl_rc rc = tl_sindex_search(ix, &q, res, &err);
        uint64_t b = tl_mono_ns();
        cpu[n] = cpu_ns() - ca;
        if (rc != TL_OK) {
            fprintf(stderr, "bench_search: search '%s': %s\n", q.q, err.msg);
            tl_free(res);
            tl_sindex_free(ix);
            return -1;
        }
        lat[n++] = b - a;
        spent += b - a;
        hits += (double)res->n_hits;
        total += (double)res->total;
    }
    r->sx_hits = n ? hits / n : 0;
    r->sx_total = n ? total / n : 0;
    summarise(lat, cpu, n, &r->sx);
    if (budget > 0 && run_extra(ix, c, budget, lat, cpu, res, r) != 0) {
        tl_free(res);
        tl_sindex_free(ix);
        return -1;
    }
    tl_free(res);
    tl_sindex_free(ix);
    return 0;
}

static int run_fts(const struct sc_catalog *c, double budget, uint64_t *lat, uint64_t *cpu, struct results *r)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int ok = 0;
    if (sqlite3_open(":memory:", &db) != SQLITE_OK ||
        sqlite3_exec(db, "CREATE VIRTUAL TABLE p USING fts5(title, description, tokenize='porter')", NULL, NULL,
                     NULL) != SQLITE_OK)
        goto out;
    uint64_t t0 = tl_mono_ns(), c0 = cpu_ns();
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO p(rowid, title, description) VALUES(?, ?, ?)", -1, &st, NULL) != SQLITE_OK)
        goto out;
    for (uint32_t i = 0; i < c->n; i++) {
        sqlite3_bind_int64(st, 1, (sqlite3_int64)i + 1);
        sqlite3_bind_text(st, 2, c->p[i].title, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, c->p[i].description, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) goto out;
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) goto out;
    r->fts_build_s = (double)(tl_mono_ns() - t0) / 1e9;
    r->fts_build_cpu_s = (double)(cpu_ns() - c0) / 1e9;
    r->fts_rate = c->n / (r->fts_build_s > 0 ? r->fts_build_s : 1e-9);
    if (sqlite3_prepare_v2(db, "SELECT rowid FROM p WHERE p MATCH ?1 ORDER BY bm25(p) LIMIT ?2", -1, &st, NULL) !=
        SQLITE_OK)
        goto out;
    uint64_t spent = 0, budget_ns = (uint64_t)(budget * 1e9);
    uint32_t n = 0;
    double hits = 0;
    char expr[4 * SC_QUERY_MAX + 64];
    for (uint32_t i = 0; i < c->n_queries && spent < budget_ns; i++) {
        size_t nt = 0;
        uint64_t ca = cpu_ns(), a = tl_mono_ns();
        if (tl_seval_fts_expr(c->queries[i], expr, sizeof expr, &nt) != TL_OK) goto out;
        uint32_t got = 0;
        if (nt) {
            sqlite3_bind_text(st, 1, expr, -1, SQLITE_STATIC);
            sqlite3_bind_int(st, 2, (int)BS_LIMIT);
            int rc;
            while ((rc = sqlite3_step(st)) == SQLITE_ROW) got += sqlite3_column_int64(st, 0) > 0;
            sqlite3_reset(st);
            if (rc != SQLITE_DONE) goto out;
        }
        uint64_t b = tl_mono_ns();
        cpu[n] = cpu_ns() - ca;
        lat[n++] = b - a;
        spent += b - a;
        hits += got;
    }
    r->fts_hits = n ? hits / n : 0;
    summarise(lat, cpu, n, &r->fts);
    ok = 1;
out:
    if (!ok) fprintf(stderr, "bench_search: sqlite: %s\n", db ? sqlite3_errmsg(db) : "open failed");
    sqlite3_finalize(st);
    sqlite3_close(db);
    return ok ? 0 : -1;
}

static void line(const char *metric, double v) { printf("bench_search %s %.6g\n", metric, v); }

int main(int argc, char **argv)
{
    uint32_t items = 100000, queries = 10000;
    double budget = 15;
    int json = 0, no_fts = 0, index_only = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--items") && i + 1 < argc)
            items = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--queries") && i + 1 < argc)
            queries = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--budget") && i + 1 < argc)
            budget = strtod(argv[++i], NULL);
        else if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "--no-fts"))
            no_fts = 1;
        else if (!strcmp(argv[i], "--index-only"))
            no_fts = 1, index_only = 1;
        else {
            fprintf(stderr, "usage: bench_search [--items N] [--queries N] [--budget SECONDS] [--json] [--no-fts] "
                            "[--index-only]\n");
            return 2;
        }
    }
    if (items < 1 || items > SC_ITEMS_MAX || queries < 1 || queries > BS_QUERIES_MAX || !(budget > 0)) {
        fprintf(stderr, "bench_search: --items 1..%u, --queries 1..%u, --budget > 0\n", SC_ITEMS_MAX, BS_QUERIES_MAX);
        return 2;
    }
    struct results r;
    memset(&r, 0, sizeof r);
    r.items = items;
    r.queries = queries;
    struct sc_catalog c;
    uint64_t t0 = tl_mono_ns();
    if (sc_catalog_make(&c, items, queries)) {
        fprintf(stderr, "bench_search: out of memory generating the catalog\n");
        sc_catalog_free(&c);
        return 1;
    }
    r.gen_s = (double)(tl_mono_ns() - t0) / 1e9;
    uint64_t *lat = tl_malloc(queries * sizeof *lat), *cpu = tl_malloc(queries * sizeof *cpu);
    if (!lat || !cpu) {
        tl_free(lat);
        tl_free(cpu);
        sc_catalog_free(&c);
        return 1;
    }
    if (!json) {
        printf("bench_search: %u products, %u queries (catalog generated in %.2f s), single thread, top %u\n", items,
               queries, r.gen_s, BS_LIMIT);
        printf("  e.g. title: %s\n  e.g. category: %s | brand: %s | price %.2f\n  e.g. query: %s\n", c.p[0].title,
               c.p[0].category, c.p[0].brand, c.p[0].price, c.queries[0]);
        fflush(stdout);
    }
    int bad = no_fts ? 0 : run_fts(&c, budget, lat, cpu, &r) != 0;
    bad |= run_sindex(&c, index_only ? 0 : budget, lat, cpu, &r) != 0;
    const struct {
        const char *name;
        double rate, build_s, build_cpu_s;
        const struct lat *l;
        double hits;
    } e[2] = {{"sindex", r.sx_rate, r.sx_build_s, r.sx_build_cpu_s, &r.sx, r.sx_hits},
              {"fts5", r.fts_rate, r.fts_build_s, r.fts_build_cpu_s, &r.fts, r.fts_hits}};
    if (json) {
        printf("{\"items\":%u,\"queries\":%u,\"limit\":%u,\"sindex_memory_bytes\":%zu,\"sindex_mean_total\":%.1f",
               items, queries, BS_LIMIT, r.sx_mem, r.sx_total);
        for (int i = 0; i < 2; i++)
            printf(",\"%s\":{\"index_rate_per_s\":%.1f,\"build_s\":%.3f,\"build_cpu_s\":%.3f,\"queries_run\":%u,"
                   "\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,\"mean_us\":%.1f,"
                   "\"cpu_p50_us\":%.1f,\"cpu_p99_us\":%.1f,\"mean_hits\":%.2f}",
                   e[i].name, e[i].rate, e[i].build_s, e[i].build_cpu_s, e[i].l->n, e[i].l->p50, e[i].l->p90,
                   e[i].l->p99, e[i].l->max, e[i].l->mean, e[i].l->cpu_p50, e[i].l->cpu_p99, e[i].hits);
        printf("}\n");
    } else {
        printf("\n%-7s %9s %8s %8s %7s %9s %9s %9s %9s %9s %9s %6s\n", "engine", "index/s", "build_s", "cpu_s",
               "queries", "p50_us", "p90_us", "p99_us", "max_us", "cpu_p50", "cpu_p99", "hits");
        for (int i = 0; i < 2; i++)
            printf("%-7s %9.0f %8.2f %8.2f %7u %9.1f %9.1f %9.1f %9.1f %9.1f %9.1f %6.2f\n", e[i].name, e[i].rate,
                   e[i].build_s, e[i].build_cpu_s, e[i].l->n, e[i].l->p50, e[i].l->p90, e[i].l->p99, e[i].l->max,
                   e[i].l->cpu_p50, e[i].l->cpu_p99, e[i].hits);
        printf("(wall-clock latencies; cpu_* = thread CPU time, robust on a shared machine)\n");
        printf("sindex memory %.1f MB, mean matches per query %.0f\n", (double)r.sx_mem / 1048576.0, r.sx_total);
        printf("sindex personalized (hook): %u queries, cpu p50 %.1f us, p99 %.1f us, hook calls per query %.0f\n",
               r.px.n, r.px.cpu_p50, r.px.cpu_p99, r.px_calls);
        printf("sindex suggest (query cut 2 chars short, limit 5): %u, cpu p50 %.1f us, p99 %.1f us, max %.1f us "
               "(wall)\n\n",
               r.sg.n, r.sg.cpu_p50, r.sg.cpu_p99, r.sg.max);
        line("sindex_personal_cpu_p50_us", r.px.cpu_p50);
        line("sindex_personal_cpu_p99_us", r.px.cpu_p99);
        line("sindex_personal_hook_calls", r.px_calls);
        line("sindex_suggest_cpu_p50_us", r.sg.cpu_p50);
        line("sindex_suggest_cpu_p99_us", r.sg.cpu_p99);
        char m[64];
        for (int i = 0; i < 2; i++) {
            const struct lat *l = e[i].l;
            const double v[] = {e[i].rate, items / (e[i].build_cpu_s > 0 ? e[i].build_cpu_s : 1e-9),
                                l->n,      l->p50,
                                l->p90,    l->p99,
                                l->max,    l->cpu_p50,
                                l->cpu_p99};
            const char *k[] = {"index_rate_per_s", "index_rate_cpu_per_s", "queries",   "p50_us", "p90_us", "p99_us",
                               "max_us",           "cpu_p50_us",           "cpu_p99_us"};
            for (size_t j = 0; j < sizeof v / sizeof *v; j++) {
                snprintf(m, sizeof m, "%s_%s", e[i].name, k[j]);
                line(m, v[j]);
            }
        }
        line("sindex_memory_bytes", (double)r.sx_mem);
        if (r.sx.p99 > 0) line("fts5_over_sindex_p99", r.fts.p99 / r.sx.p99);
        if (r.sx.cpu_p99 > 0) line("fts5_over_sindex_cpu_p99", r.fts.cpu_p99 / r.sx.cpu_p99);
    }
    tl_free(lat);
    tl_free(cpu);
    sc_catalog_free(&c);
    return bad;
}
