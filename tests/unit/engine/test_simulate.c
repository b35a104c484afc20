/* `tailor simulate` (src/engine/simulate.c) on a tiny store built in the
 * test through the engine API: 4 taste clusters of 12 items; 160 customers,
 * each buying only inside their cluster (3 orders of 3 items), so what the
 * orders say a customer wants (the rest of their cluster) is learnable.
 * Checks: the report equals what the simulator sent (per arm: visitors,
 * buyers = conversions, orders, revenue, clicks / items shown = rec_ctr),
 * the split is close to 50/50 (no SRM flag, counts within 3 sd), "on"
 * converts more than "off" and shows more relevant items, the run is
 * deterministic (a second identical store, same seed, same counts), the
 * report survives a reopen (rebuilt from the stored events), and another
 * running experiment makes a run refuse. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/timeutil.h"
#include "engine/engine.h"
#include "engine/facade.h"
#include "tailor/simulate.h"
#include "tailor/tailor.h"

#define CLUSTERS 4
#define PER_CLUSTER 12
#define CUSTOMERS 160
#define ORDERS_EACH 3
#define LINES_EACH 3

static char dir[64];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/tl_sim_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

static struct tailor *open_db(const char *name)
{
    char db[160], conf[160];
    snprintf(db, sizeof db, "%s/%s.db", dir, name);
    snprintf(conf, sizeof conf, "%s/%s.json", dir, name);
    FILE *f = fopen(conf, "w"); /* no fsync per commit: keeps the test fast */
    cr_assert_not_null(f);
    fputs("{\"sync_full\": false}\n", f);
    fclose(f);
    struct tailor_options o = {.db_path = db, .config_path = conf};
    struct tailor_error err = {0};
    struct tailor *t = NULL;
    enum tl_rc rc = tailor_open(&o, &t, &err);
    cr_assert_eq(rc, TL_OK, "open: %s", err.msg);
    return t;
}

static void put(struct tl_engine *e, int items, const char *body)
{
    struct tl_buf out;
    tl_buf_init(&out, 0);
    struct tl_err err;
    tl_err_clear(&err);
    enum tl_rc rc = items ? tl_engine_put_items(e, 1, body, strlen(body), 0, &out, &err)
                          : tl_engine_ingest_events(e, 1, body, strlen(body), 0, &out, &err);
    cr_assert_eq(rc, TL_OK, "%s: %s %s", items ? "items" : "events", err.msg, out.data ? out.data : "");
    tl_buf_free(&out);
}

/* The tiny store: items, orders (purchase events, which write orders) and
 * trained models. Deterministic (a fixed LCG). */
static void build_store(struct tailor *t)
{
    struct tl_engine *e = tl_facade_engine(t);
    struct tl_buf b;
    tl_buf_init(&b, 0);
    tl_buf_putc(&b, '[');
    for (int c = 0; c < CLUSTERS; c++)
        for (int i = 0; i < PER_CLUSTER; i++)
            tl_buf_printf(&b,
                          "%s{\"id\":\"c%d-i%d\",\"title\":\"Item %d of cluster %d\",\"price\":%d.5,"
                          "\"category\":\"Cluster %d\",\"available\":true}",
                          c || i ? "," : "", c, i, i, c, 10 + i, c);
    tl_buf_putc(&b, ']');
    put(e, 1, b.data);
    tl_buf_reset(&b);
    uint64_t lcg = 12345;
    int64_t now = tl_now_ms();
    tl_buf_putc(&b, '[');
    for (int u = 0; u < CUSTOMERS; u++) {
        int c = u % CLUSTERS;
        for (int o = 0; o < ORDERS_EACH; o++) {
            int picked[LINES_EACH], n = 0;
            while (n < LINES_EACH) {
                lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
                int i = (int)((lcg >> 33) % PER_CLUSTER), dup = 0;
                for (int k = 0; k < n; k++) dup |= picked[k] == i;
                if (!dup) picked[n++] = i;
            }
            tl_buf_printf(&b,
                          "%s{\"type\":\"purchase\",\"user_id\":\"u%d\",\"order_id\":\"o%d-%d\","
                          "\"timestamp\":%lld,\"items\":[",
                          u || o ? "," : "", u, u, o, (long long)(now - (60 - 10 * o - u % 7) * TL_MS_PER_DAY));
            for (int k = 0; k < LINES_EACH; k++)
                tl_buf_printf(&b, "%s{\"item_id\":\"c%d-i%d\",\"quantity\":1,\"price\":%d.5}", k ? "," : "", c,
                              picked[k], 10 + picked[k]);
            tl_buf_puts(&b, "]}");
        }
    }
    tl_buf_putc(&b, ']');
    put(e, 0, b.data);
    tl_buf_free(&b);
    struct tl_err err;
    tl_err_clear(&err);
    enum tl_rc rc = tl_engine_train_now(e, 1, NULL, NULL, &err);
    cr_assert_eq(rc, TL_OK, "train: %s", err.msg);
}

static void simulate_by(struct tailor *t, const char *xid, const char *relevance, struct tailor_simulate_summary *s,
                        json_t **report)
{
    struct tailor_simulate_options o;
    tailor_simulate_options_init(&o);
    o.relevance = relevance;
    o.end_ms = relevance ? -1 : 0; /* cosine runs at the data's clock */
    o.shoppers = 1000;             /* more than there are: all 160 */
    o.days = 7;
    o.seed = 42;
    o.experiment_id = xid;
    char *rep = NULL;
    struct tailor_error err = {0};
    enum tl_rc rc = tailor_simulate(t, &o, s, &rep, &err);
    cr_assert_eq(rc, TL_OK, "simulate: %s (field %s)", err.msg, err.field);
    cr_assert_not_null(rep);
    *report = json_loads(rep, 0, NULL);
    cr_assert_not_null(*report, "report is JSON: %s", rep);
    tailor_free(rep);
}

static void simulate(struct tailor *t, const char *xid, struct tailor_simulate_summary *s, json_t **report)
{
    simulate_by(t, xid, NULL, s, report);
}

static json_t *report_arm(json_t *rep, size_t a) { return json_array_get(json_object_get(rep, "arms"), a); }

static uint64_t jint(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    cr_assert(json_is_integer(v), "%s is an integer", k);
    return (uint64_t)json_integer_value(v);
}

static double jnum(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    cr_assert(json_is_number(v), "%s is a number", k);
    return json_number_value(v);
}

/* Every per-arm number of the report equals what the simulator sent. */
static void check_report_matches(const struct tailor_simulate_summary *s, json_t *rep)
{
    cr_assert_eq(json_array_size(json_object_get(rep, "arms")), 2);
    uint64_t total = 0;
    for (size_t a = 0; a < 2; a++) {
        json_t *x = report_arm(rep, a);
        const struct tailor_simulate_arm *sa = &s->arms[a];
        cr_assert_str_eq(json_string_value(json_object_get(x, "name")), sa->name);
        cr_assert_eq(jint(x, "visitors"), sa->visitors, "arm %zu visitors %llu vs %llu", a,
                     (unsigned long long)jint(x, "visitors"), (unsigned long long)sa->visitors);
        cr_assert_eq(jint(x, "conversions"), sa->buyers, "arm %zu conversions", a);
        cr_assert_eq(jint(x, "orders"), sa->orders, "arm %zu orders", a);
        cr_assert(fabs(jnum(x, "revenue") - sa->revenue) < 1e-6 * (1 + sa->revenue), "arm %zu revenue %g vs %g", a,
                  jnum(x, "revenue"), sa->revenue);
        cr_assert_gt(sa->shown, 0);
        double ctr = (double)sa->clicks / (double)sa->shown; /* rec_ctr: clicks / items shown */
        cr_assert(fabs(jnum(x, "rec_ctr") - ctr) < 1e-5 * (1 + ctr), "arm %zu rec_ctr %g vs %g", a, jnum(x, "rec_ctr"),
                  ctr);
        /* the summary's copy of the report */
        cr_assert_eq(s->report.arms[a].visitors, sa->visitors);
        cr_assert_eq(s->report.arms[a].conversions, sa->buyers);
        total += sa->visitors;
    }
    cr_assert_eq(total, s->shoppers);
    cr_assert_eq(jint(rep, "units"), s->shoppers);
}

Test(simulate, report_equals_what_was_sent_and_on_beats_off, .init = setup, .fini = teardown, .timeout = 60)
{
    struct tailor *t = open_db("a");
    build_store(t);
    struct tailor_simulate_summary s;
    json_t *rep;
    simulate(t, "sim-test", &s, &rep);

    cr_assert_eq(s.customers, CUSTOMERS);
    cr_assert_eq(s.shoppers, CUSTOMERS, "every customer has a relevant set");
    cr_assert_eq(s.mismatches, 0, "off is served popular, on for_you");
    cr_assert_eq(s.units_before, 0);
    cr_assert_gt(s.events, s.visits);
    /* relevant set: the cluster's items the customer did not buy (<= 12 - 3) */
    cr_assert(s.mean_relevant >= 1 && s.mean_relevant <= PER_CLUSTER - LINES_EACH, "mean relevant %g", s.mean_relevant);
    /* visits: 1..4 per shopper */
    cr_assert(s.visits >= s.shoppers && s.visits <= 4 * s.shoppers);
    cr_assert(s.start_ms < s.end_ms && s.end_ms <= tl_now_ms());

    check_report_matches(&s, rep);
    for (int a = 0; a < 2; a++)
        cr_log_info("arm %s: visitors %llu visits %llu shown %llu relevant %llu clicks %llu buyers %llu orders %llu "
                    "revenue %.2f",
                    s.arms[a].name, (unsigned long long)s.arms[a].visitors, (unsigned long long)s.arms[a].visits,
                    (unsigned long long)s.arms[a].shown, (unsigned long long)s.arms[a].shown_relevant,
                    (unsigned long long)s.arms[a].clicks, (unsigned long long)s.arms[a].buyers,
                    (unsigned long long)s.arms[a].orders, s.arms[a].revenue);

    /* 50/50: binomial(160, 0.5) within 3 sd (+-19), and no SRM flag */
    for (int a = 0; a < 2; a++)
        cr_assert(s.arms[a].visitors >= 80 - 19 && s.arms[a].visitors <= 80 + 19, "arm %d: %llu visitors", a,
                  (unsigned long long)s.arms[a].visitors);
    cr_assert(json_is_false(json_object_get(json_object_get(rep, "srm"), "flagged")));
    cr_assert_eq(s.report.srm_flagged, 0);

    /* personalization finds the cluster; bestsellers mostly do not */
    double rel_off = (double)s.arms[0].shown_relevant / (double)s.arms[0].shown;
    double rel_on = (double)s.arms[1].shown_relevant / (double)s.arms[1].shown;
    cr_assert_gt(rel_on, rel_off + 0.1, "relevant shown: on %g off %g", rel_on, rel_off);
    double cr_off = (double)s.arms[0].buyers / (double)s.arms[0].visitors;
    double cr_on = (double)s.arms[1].buyers / (double)s.arms[1].visitors;
    /* by a margin chance alone (no effect of relevance: sd of the difference
     * about 0.06 here) would not give, and significant */
    cr_assert_gt(cr_on, cr_off + 0.15, "conversion on %g off %g", cr_on, cr_off);
    cr_assert_lt(s.report.p_value, 0.01, "p %g", s.report.p_value);
    cr_assert(isfinite(s.report.uplift) && s.report.uplift > 0, "uplift %g", s.report.uplift);
    cr_assert(s.report.p_value >= 0 && s.report.p_value <= 1);
    cr_assert(s.report.sequential_p_value >= 0 && s.report.sequential_p_value <= 1);
    cr_assert_str_eq(json_string_value(json_object_get(rep, "status")), "stopped");
    json_decref(rep);

    /* another running experiment in the shop: refused, nothing changes */
    struct tl_buf out;
    tl_buf_init(&out, 0);
    struct tl_err te;
    tl_err_clear(&te);
    const char *def =
        "{\"status\":\"running\",\"arms\":[{\"name\":\"a\",\"share\":0.5},{\"name\":\"b\",\"share\":0.5}]}";
    cr_assert_eq(tl_engine_experiment_put(tl_facade_engine(t), 1, "other", def, strlen(def), &out, &te), TL_OK, "%s",
                 te.msg);
    tl_buf_free(&out);
    struct tailor_simulate_options o;
    tailor_simulate_options_init(&o);
    o.experiment_id = "sim-test-2";
    struct tailor_error err = {0};
    char *r2 = NULL;
    cr_assert_eq(tailor_simulate(t, &o, NULL, &r2, &err), TL_EINVAL);
    cr_assert_str_eq(err.field, "experiment");
    cr_assert_not_null(strstr(err.msg, "other"), "%s", err.msg);
    cr_assert_null(r2);
    tailor_close(t);

    /* reopen: the experiment and its numbers are rebuilt from the stored events */
    t = open_db("a");
    tl_buf_init(&out, 0);
    cr_assert_eq(tl_engine_experiments_get(tl_facade_engine(t), 1, "sim-test", &out, &te), TL_OK, "%s", te.msg);
    rep = json_loads(out.data, 0, NULL);
    tl_buf_free(&out);
    cr_assert_not_null(rep);
    check_report_matches(&s, rep);
    json_decref(rep);
    tl_buf_init(&out, 0);
    cr_assert_eq(tl_engine_experiments_get(tl_facade_engine(t), 1, "sim-test-2", &out, &te), TL_ENOTFOUND);
    tl_buf_free(&out);
    tailor_close(t);
}

Test(simulate, deterministic_for_a_seed, .init = setup, .fini = teardown, .timeout = 60)
{
    struct tailor_simulate_summary s[2];
    for (int k = 0; k < 2; k++) {
        struct tailor *t = open_db(k ? "b" : "a");
        build_store(t);
        json_t *rep;
        simulate(t, "sim-det", &s[k], &rep);
        check_report_matches(&s[k], rep);
        json_decref(rep);
        tailor_close(t);
    }
    cr_assert_eq(s[0].shoppers, s[1].shoppers);
    cr_assert_eq(s[0].visits, s[1].visits);
    cr_assert_eq(s[0].events, s[1].events);
    for (int a = 0; a < 2; a++) {
        const struct tailor_simulate_arm *x = &s[0].arms[a], *y = &s[1].arms[a];
        cr_assert_eq(x->visitors, y->visitors, "arm %d", a);
        cr_assert_eq(x->shown, y->shown, "arm %d", a);
        cr_assert_eq(x->shown_relevant, y->shown_relevant, "arm %d", a);
        cr_assert_eq(x->clicks, y->clicks, "arm %d", a);
        cr_assert_eq(x->buyers, y->buyers, "arm %d", a);
        cr_assert_eq(x->orders, y->orders, "arm %d", a);
        cr_assert_eq(x->items_bought, y->items_bought, "arm %d", a);
        cr_assert_float_eq(x->revenue, y->revenue, 1e-9, "arm %d", a);
    }
}

/* relevance "cosine": same cluster structure, so the same conclusions */
Test(simulate, cosine_relevance, .init = setup, .fini = teardown, .timeout = 60)
{
    struct tailor *t = open_db("a");
    build_store(t);
    struct tailor_simulate_summary s;
    json_t *rep;
    simulate_by(t, "sim-cos", "cosine", &s, &rep);
    cr_assert_str_eq(s.relevance, "cosine");
    /* end_ms -1: the data's clock, the latest order (34 days ago) + 1 h */
    int64_t now = tl_now_ms();
    cr_assert(s.last_order_ms > now - 35 * TL_MS_PER_DAY && s.last_order_ms < now - 33 * TL_MS_PER_DAY);
    cr_assert_eq(s.end_ms, s.last_order_ms + 3600000);
    cr_assert_eq(s.start_ms, s.end_ms - 7 * TL_MS_PER_DAY);
    check_report_matches(&s, rep);
    cr_assert(s.mean_relevant >= 1 && s.mean_relevant <= PER_CLUSTER - LINES_EACH, "mean relevant %g", s.mean_relevant);
    double rel_off = (double)s.arms[0].shown_relevant / (double)s.arms[0].shown;
    double rel_on = (double)s.arms[1].shown_relevant / (double)s.arms[1].shown;
    cr_assert_gt(rel_on, rel_off + 0.1, "relevant shown: on %g off %g", rel_on, rel_off);
    json_decref(rep);
    tailor_close(t);
}

Test(simulate, bad_options, .init = setup, .fini = teardown)
{
    struct tailor *t = open_db("c");
    struct tailor_simulate_options o;
    tailor_simulate_options_init(&o);
    struct tailor_error err = {0};
    o.days = 366;
    cr_assert_eq(tailor_simulate(t, &o, NULL, NULL, &err), TL_EINVAL);
    cr_assert_str_eq(err.field, "days");
    o.days = 0;
    o.relevant = 1001;
    cr_assert_eq(tailor_simulate(t, &o, NULL, NULL, &err), TL_EINVAL);
    cr_assert_str_eq(err.field, "relevant");
    o.relevant = 0;
    o.relevance = "lift";
    cr_assert_eq(tailor_simulate(t, &o, NULL, NULL, &err), TL_EINVAL);
    cr_assert_str_eq(err.field, "relevance");
    o.relevance = NULL;
    o.end_ms = tl_now_ms() + TL_MS_PER_DAY;
    cr_assert_eq(tailor_simulate(t, &o, NULL, NULL, &err), TL_EINVAL);
    cr_assert_str_eq(err.field, "end");
    o.end_ms = 0;
    o.shop_id = 77;
    cr_assert_eq(tailor_simulate(t, &o, NULL, NULL, &err), TL_ENOTFOUND);
    /* an empty shop: nobody to simulate, nothing stored */
    o.shop_id = 1;
    cr_assert_eq(tailor_simulate(t, &o, NULL, NULL, &err), TL_EINVAL);
    cr_assert_not_null(strstr(err.msg, "purchase history"), "%s", err.msg);
    struct tl_buf out;
    tl_buf_init(&out, 0);
    struct tl_err te;
    cr_assert_eq(tl_engine_experiments_get(tl_facade_engine(t), 1, TAILOR_SIM_DEFAULT_EXPERIMENT, &out, &te),
                 TL_ENOTFOUND);
    tl_buf_free(&out);
    tailor_close(t);
}
