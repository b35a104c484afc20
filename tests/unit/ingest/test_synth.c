/* Tests for src/ingest/synth.c (the `tailor gen` store generator): same
 * seed -> same bytes; the files go through the repository's own import
 * parsers (tl_fmt_import_catalog / tl_fmt_import_orders, tl_event_from_json
 * line by line) with the counts of the summary; the latent structure is
 * really in the data (purchases and views concentrate in the shopper's
 * tastes far above a permutation baseline, titles share words within a
 * taste, Zipf popularity, identity and time rules); tiny sizes; bad
 * options; refusing to overwrite. Files go to a fresh directory under
 * /tmp, removed afterwards. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/timeutil.h"
#include "ingest/event.h"
#include "ingest/formats.h"
#include "ingest/synth.h"

#define END_MS 1764547200000LL /* 2025-12-01T00:00:00Z */

static char tmp_root[64];

static void setup(void)
{
    snprintf(tmp_root, sizeof tmp_root, "/tmp/tl_synth_XXXXXX");
    cr_assert_not_null(mkdtemp(tmp_root));
}

static void rm_tree(const char *path)
{
    DIR *d = opendir(path);
    if (!d) {
        unlink(path);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char p[512];
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        rm_tree(p);
    }
    closedir(d);
    rmdir(path);
}

static void teardown(void) { rm_tree(tmp_root); }

static void sub(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", tmp_root, name); }

static struct tl_synth_opts base_opts(const char *dir, uint64_t items, uint64_t shoppers)
{
    struct tl_synth_opts o;
    memset(&o, 0, sizeof o);
    o.n_items = items;
    o.n_shoppers = shoppers;
    o.seed = 42;
    o.orders_per_shopper = -1;
    o.views_per_shopper = -1;
    o.end_ms = END_MS;
    o.dir = dir;
    return o;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = tl_malloc((size_t)n + 1);
    cr_assert_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return b;
}

static int same_file(const char *a, const char *b)
{
    size_t la, lb;
    char *x = slurp(a, &la), *y = slurp(b, &lb);
    int same = la == lb && memcmp(x, y, la) == 0;
    tl_free(x);
    tl_free(y);
    return same;
}

static int exists(const char *p) { return access(p, F_OK) == 0; }

/* "p123" -> 122, "c7" -> 6, "s12-3" -> 11 */
static uint64_t id_index(const char *id) { return strtoull(id + 1, NULL, 10) - 1; }

/* ---- collectors over the import parsers ---- */

struct cat_count {
    uint64_t n, bad_price, avail_mismatch, no_category, no_tags;
    uint64_t n_items;
    char (*titles)[256];
};

static int item_cb(void *ctx, const struct tl_item *it, long line)
{
    struct cat_count *c = ctx;
    uint64_t i = id_index(it->id);
    if (i < c->n_items && c->titles) snprintf(c->titles[i], sizeof c->titles[i], "%s", it->title);
    if (!(it->price > 0)) c->bad_price++;
    if ((it->stock > 0) != (it->available != 0)) c->avail_mismatch++;
    if (!it->category || !strchr(it->category, '>')) c->no_category++;
    if (!it->tags_json || strlen(it->tags_json) < 4) c->no_tags++;
    c->n++;
    return 0;
}

struct ord_count {
    uint64_t n, lines, guests, bad_ts;
    int64_t lo, hi;
    const struct tl_synth_world *w; /* for taste checks, may be NULL */
    uint64_t in_taste, in_taste_perm, total, anon_with_customer;
    uint64_t n_shoppers;
};

static int shopper_has_taste(const struct tl_synth_world *w, uint64_t s, uint32_t t)
{
    struct tl_synth_shopper_info in;
    tl_synth_shopper(w, s, &in);
    for (uint32_t j = 0; j < in.n_tastes; j++)
        if (in.tastes[j] == t) return 1;
    return 0;
}

static int order_cb(void *ctx, const struct tl_order *o, long line)
{
    struct ord_count *c = ctx;
    c->n++;
    c->lines += o->n_lines;
    if (!o->customer_id) c->guests++;
    if (o->ts_ms < c->lo || o->ts_ms > c->hi) c->bad_ts++;
    if (c->w && o->customer_id) {
        uint64_t s = id_index(o->customer_id);
        struct tl_synth_shopper_info in;
        tl_synth_shopper(c->w, s, &in);
        if (in.anonymous_only) c->anon_with_customer++;
        uint64_t other = (s * 7919 + 104729) % c->n_shoppers; /* a fixed permutation partner */
        for (size_t l = 0; l < o->n_lines; l++) {
            uint32_t t = tl_synth_item_taste(c->w, id_index(o->lines[l].item_id));
            c->in_taste += (uint64_t)shopper_has_taste(c->w, s, t);
            c->in_taste_perm += (uint64_t)shopper_has_taste(c->w, other, t);
            c->total++;
        }
    }
    return 0;
}

struct ev_count {
    uint64_t n, views, carts, searches, catviews, bad, bad_ts, unordered;
    uint64_t with_user, anon_user_mismatch, lost_login;
    uint64_t view_in_taste, view_in_perm, view_total;
    uint64_t *item_views; /* per item, may be NULL */
};

/* Parse every line of path with tl_event_from_json. */
static void parse_events(const char *path, const struct tl_synth_world *w, uint64_t n_shoppers, int64_t lo, int64_t hi,
                         struct ev_count *c)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    static char line[8192];
    uint64_t prev_shopper = UINT64_MAX;
    int64_t prev_ts = 0;
    int had_user = 0;
    while (fgets(line, sizeof line, f)) {
        size_t len = strlen(line);
        cr_assert(len > 0 && line[len - 1] == '\n', "line not terminated or too long");
        json_error_t je;
        json_t *obj = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
        cr_assert_not_null(obj, "bad JSON: %s in %s", je.text, line);
        struct tl_event ev;
        struct tl_err err = {0};
        enum tl_rc rc = tl_event_from_json(obj, tl_now_ms(), &ev, NULL, 0, &err);
        if (rc != TL_OK) {
            c->bad++;
            cr_log_error("rejected: %s (%s) in %s", err.msg, err.field, line);
            json_decref(obj);
            continue;
        }
        c->n++;
        if (ev.ts_ms < lo || ev.ts_ms > hi) c->bad_ts++;
        cr_assert_not_null(ev.session_id);
        cr_assert_not_null(ev.anonymous_id);
        cr_assert_not_null(ev.event_id);
        uint64_t s = id_index(ev.session_id);
        cr_assert_lt(s, n_shoppers);
        if (s == prev_shopper && ev.ts_ms < prev_ts) c->unordered++;
        if (s != prev_shopper) had_user = 0;
        if (ev.user_id) {
            c->with_user++;
            if (id_index(ev.user_id) != s) c->anon_user_mismatch++;
            had_user = 1;
        } else if (had_user) {
            c->lost_login++; /* once logged in, every later event carries the user id */
        }
        prev_shopper = s;
        prev_ts = ev.ts_ms;
        switch (ev.type) {
        case TL_EV_PRODUCT_VIEW:
            c->views++;
            cr_assert(ev.dwell_ms >= 500 && ev.dwell_ms <= 600000);
            cr_assert(ev.scroll_depth > 0 && ev.scroll_depth <= 1);
            if (c->item_views) c->item_views[id_index(ev.item_id)]++;
            if (w) {
                uint32_t t = tl_synth_item_taste(w, id_index(ev.item_id));
                c->view_in_taste += (uint64_t)shopper_has_taste(w, s, t);
                c->view_in_perm += (uint64_t)shopper_has_taste(w, (s * 7919 + 104729) % n_shoppers, t);
                c->view_total++;
            }
            break;
        case TL_EV_ADD_TO_CART:
            c->carts++;
            break;
        case TL_EV_SEARCH:
            c->searches++;
            break;
        case TL_EV_CATEGORY_VIEW:
            c->catviews++;
            break;
        default:
            cr_assert_fail("unexpected event type %d", (int)ev.type);
        }
        json_decref(obj);
    }
    fclose(f);
}

TestSuite(synth, .init = setup, .fini = teardown, .timeout = 60);

Test(synth, same_seed_same_bytes_other_seed_other_bytes)
{
    char a[128], b[128], c[128];
    sub(a, sizeof a, "a");
    sub(b, sizeof b, "b");
    sub(c, sizeof c, "c");
    struct tl_synth_opts oa = base_opts(a, 300, 400), ob = base_opts(b, 300, 400), oc = base_opts(c, 300, 400);
    oc.seed = 43;
    struct tl_err err = {0};
    struct tl_synth_summary sa, sb, sc;
    cr_assert_eq(tl_synth_run(&oa, &sa, &err), TL_OK, "%s", err.msg);
    cr_assert_eq(tl_synth_run(&ob, &sb, &err), TL_OK, "%s", err.msg);
    cr_assert_eq(tl_synth_run(&oc, &sc, &err), TL_OK, "%s", err.msg);
    const char *files[] = {"catalog.csv", "orders.csv", "events.ndjson"};
    for (int i = 0; i < 3; i++) {
        char pa[256], pb[256], pc[256];
        snprintf(pa, sizeof pa, "%s/%s", a, files[i]);
        snprintf(pb, sizeof pb, "%s/%s", b, files[i]);
        snprintf(pc, sizeof pc, "%s/%s", c, files[i]);
        cr_assert(same_file(pa, pb), "%s differs between two runs with the same seed", files[i]);
        cr_assert_not(same_file(pa, pc), "%s is the same for seeds 42 and 43", files[i]);
    }
    cr_assert_eq(sa.events, sb.events);
    cr_assert_eq(sa.bytes_events, sb.bytes_events);
    cr_assert_gt(sa.events, 0);
    /* item draws do not depend on the number of shoppers */
    char d[128], pa[256], pd[256];
    sub(d, sizeof d, "d");
    struct tl_synth_opts od = base_opts(d, 300, 5);
    cr_assert_eq(tl_synth_run(&od, NULL, &err), TL_OK, "%s", err.msg);
    snprintf(pa, sizeof pa, "%s/catalog.csv", a);
    snprintf(pd, sizeof pd, "%s/catalog.csv", d);
    cr_assert(same_file(pa, pd));
}

static void import_all(int ndjson)
{
    char dir[128];
    sub(dir, sizeof dir, ndjson ? "nd" : "csv");
    struct tl_synth_opts o = base_opts(dir, 2000, 1500);
    o.ndjson = ndjson;
    struct tl_err err = {0};
    struct tl_synth_summary s;
    cr_assert_eq(tl_synth_run(&o, &s, &err), TL_OK, "%s", err.msg);
    cr_assert_eq(s.items, 2000);
    cr_assert_eq(s.shoppers, 1500);
    cr_assert_eq(s.end_ms, END_MS);
    cr_assert_eq(s.start_ms, END_MS - 90 * TL_MS_PER_DAY);
    const char *fmt = ndjson ? "ndjson" : "csv";
    char p[256];

    struct cat_count cc = {0};
    snprintf(p, sizeof p, "%s/catalog.%s", dir, fmt);
    struct tl_fmt_summary fs;
    memset(&fs, 0, sizeof fs);
    cr_assert_eq(tl_fmt_import_catalog(p, fmt, NULL, item_cb, &cc, &fs, &err), TL_OK, "catalog: line %ld: %s", err.line,
                 err.msg);
    cr_assert_eq(cc.n, 2000);
    cr_assert_eq(fs.skipped, 0);
    cr_assert_eq(cc.bad_price, 0);
    cr_assert_eq(cc.avail_mismatch, 0);
    cr_assert_eq(cc.no_category, 0);
    cr_assert_eq(cc.no_tags, 0);

    struct ord_count oc = {0};
    oc.lo = s.start_ms;
    oc.hi = s.end_ms;
    snprintf(p, sizeof p, "%s/orders.%s", dir, fmt);
    memset(&fs, 0, sizeof fs);
    cr_assert_eq(tl_fmt_import_orders(p, fmt, NULL, order_cb, &oc, &fs, &err), TL_OK, "orders: line %ld: %s", err.line,
                 err.msg);
    cr_assert_eq(oc.n, s.orders);
    cr_assert_eq(oc.lines, s.order_lines);
    cr_assert_eq(oc.guests, s.guest_orders);
    cr_assert_eq(oc.bad_ts, 0);
    /* mean 1.5 orders per shopper, 1-5 lines (mean 1.93) */
    cr_assert(s.orders > 1500 * 1.2 && s.orders < 1500 * 1.8, "orders %llu", (unsigned long long)s.orders);
    cr_assert(s.order_lines > s.orders * 1.6 && s.order_lines < s.orders * 2.3);

    struct ev_count ec = {0};
    snprintf(p, sizeof p, "%s/events.ndjson", dir);
    parse_events(p, NULL, 1500, s.start_ms, s.end_ms, &ec);
    cr_assert_eq(ec.bad, 0);
    cr_assert_eq(ec.n, s.events);
    cr_assert_eq(ec.views, s.product_views);
    cr_assert_eq(ec.carts, s.add_to_carts);
    cr_assert_eq(ec.searches, s.searches);
    cr_assert_eq(ec.catviews, s.category_views);
    cr_assert_eq(ec.bad_ts, 0);
    cr_assert_eq(ec.unordered, 0, "events of a shopper are not chronological");
    cr_assert_eq(ec.anon_user_mismatch, 0);
    cr_assert_eq(ec.lost_login, 0);
    /* mean 10 views per shopper, plus the views that orders add */
    cr_assert(s.product_views > 1500 * 9 && s.product_views < 1500 * 13, "views %llu",
              (unsigned long long)s.product_views);
    cr_assert_gt(ec.with_user, 0);
    cr_assert_lt(ec.with_user, ec.n);
    cr_assert_gt(s.identified, 0);
    cr_assert_lt(s.identified, 1500);
}

Test(synth, csv_files_import_with_the_repo_parsers) { import_all(0); }
Test(synth, ndjson_files_import_with_the_repo_parsers) { import_all(1); }

Test(synth, taste_structure_is_in_the_data)
{
    char dir[128];
    sub(dir, sizeof dir, "t");
    struct tl_synth_opts o = base_opts(dir, 3000, 2000);
    struct tl_err err = {0};
    struct tl_synth_summary s;
    cr_assert_eq(tl_synth_run(&o, &s, &err), TL_OK, "%s", err.msg);
    struct tl_synth_world *w = NULL;
    cr_assert_eq(tl_synth_world_new(&o, &w, &err), TL_OK);
    cr_assert_eq(tl_synth_world_tastes(w), 50);
    uint64_t tot = 0;
    for (uint32_t t = 0; t < 50; t++) {
        cr_assert_gt(tl_synth_taste_items(w, t), 0);
        tot += tl_synth_taste_items(w, t);
    }
    cr_assert_eq(tot, 3000);

    /* purchases: share of order lines whose item is in one of the buyer's
     * tastes, against the same lines credited to another shopper */
    struct ord_count oc = {0};
    oc.lo = s.start_ms;
    oc.hi = s.end_ms;
    oc.w = w;
    oc.n_shoppers = 2000;
    char p[256];
    snprintf(p, sizeof p, "%s/orders.csv", dir);
    cr_assert_eq(tl_fmt_import_orders(p, "csv", NULL, order_cb, &oc, NULL, &err), TL_OK, "%s", err.msg);
    cr_assert_gt(oc.total, 1000);
    double own = (double)oc.in_taste / (double)oc.total, perm = (double)oc.in_taste_perm / (double)oc.total;
    cr_log_info("purchases in own tastes %.3f, permuted %.3f", own, perm);
    cr_assert_gt(own, 0.70, "only %.2f of purchased items are in the buyer's tastes", own);
    cr_assert_gt(own - perm, 0.45, "own %.2f vs permuted %.2f", own, perm);
    cr_assert_eq(oc.anon_with_customer, 0, "an anonymous-only shopper placed an order with a customer id");

    /* views, through the session id (anonymous shoppers included) */
    struct ev_count ec = {0};
    ec.item_views = tl_calloc(3000, sizeof *ec.item_views);
    snprintf(p, sizeof p, "%s/events.ndjson", dir);
    parse_events(p, w, 2000, s.start_ms, s.end_ms, &ec);
    double vown = (double)ec.view_in_taste / (double)ec.view_total,
           vperm = (double)ec.view_in_perm / (double)ec.view_total;
    cr_log_info("views in own tastes %.3f, permuted %.3f", vown, vperm);
    cr_assert_gt(vown, 0.70);
    cr_assert_gt(vown - vperm, 0.45);

    /* Zipf popularity: the 10% most viewed items take far more than 10% */
    uint64_t *v = ec.item_views;
    for (int i = 1; i < 3000; i++) /* insertion sort, descending */
        for (int j = i; j > 0 && v[j] > v[j - 1]; j--) {
            uint64_t x = v[j];
            v[j] = v[j - 1];
            v[j - 1] = x;
        }
    uint64_t top = 0, all = 0;
    for (int i = 0; i < 3000; i++) {
        all += v[i];
        if (i < 300) top += v[i];
    }
    double top_share = (double)top / (double)all;
    cr_log_info("top 10%% of items: %.3f of views", top_share);
    cr_assert_gt(top_share, 0.35);
    tl_free(ec.item_views);

    /* content: titles of items of the same taste share more words */
    struct cat_count cc = {0};
    cc.n_items = 3000;
    cc.titles = tl_calloc(3000, sizeof *cc.titles);
    snprintf(p, sizeof p, "%s/catalog.csv", dir);
    cr_assert_eq(tl_fmt_import_catalog(p, "csv", NULL, item_cb, &cc, NULL, &err), TL_OK, "%s", err.msg);
    double same = 0, cross = 0;
    int n_same = 0, n_cross = 0;
    for (int i = 0; i < 3000; i += 3)
        for (int j = i + 1; j < 3000; j += 37) {
            /* Jaccard of the word sets */
            char a[256], b[256];
            snprintf(a, sizeof a, "%s", cc.titles[i]);
            snprintf(b, sizeof b, "%s", cc.titles[j]);
            char *wa[16], *wb[16], *sv;
            int na = 0, nb = 0;
            for (char *t = strtok_r(a, " ", &sv); t && na < 16; t = strtok_r(NULL, " ", &sv)) wa[na++] = t;
            for (char *t = strtok_r(b, " ", &sv); t && nb < 16; t = strtok_r(NULL, " ", &sv)) wb[nb++] = t;
            int inter = 0;
            for (int x = 0; x < na; x++)
                for (int y = 0; y < nb; y++)
                    if (!strcmp(wa[x], wb[y])) {
                        inter++;
                        break;
                    }
            double jac = (double)inter / (double)(na + nb - inter);
            if (tl_synth_item_taste(w, (uint64_t)i) == tl_synth_item_taste(w, (uint64_t)j)) {
                same += jac;
                n_same++;
            } else {
                cross += jac;
                n_cross++;
            }
        }
    cr_assert_gt(n_same, 100);
    same /= n_same;
    cross /= n_cross;
    cr_log_info("title Jaccard same taste %.3f, other tastes %.3f", same, cross);
    cr_assert_gt(same, 3 * cross, "same-taste titles %.3f vs cross %.3f", same, cross);
    tl_free(cc.titles);
    tl_synth_world_free(w);
}

Test(synth, shopper_latents_are_well_formed)
{
    struct tl_synth_opts o = base_opts(NULL, 500, 10000);
    struct tl_err err = {0};
    struct tl_synth_world *w = NULL;
    cr_assert_eq(tl_synth_world_new(&o, &w, &err), TL_OK);
    uint64_t anon = 0, gb = 0, k_count[4] = {0};
    for (uint64_t s = 0; s < 10000; s++) {
        struct tl_synth_shopper_info in;
        tl_synth_shopper(w, s, &in);
        cr_assert(in.n_tastes >= 1 && in.n_tastes <= 3);
        double sum = 0;
        for (uint32_t j = 0; j < in.n_tastes; j++) {
            cr_assert_lt(in.tastes[j], 50);
            for (uint32_t q = 0; q < j; q++) cr_assert_neq(in.tastes[j], in.tastes[q]);
            sum += in.weights[j];
        }
        cr_assert_float_eq(sum, 1.0, 1e-9);
        cr_assert(in.price_sensitivity >= 0 && in.price_sensitivity < 1);
        cr_assert_eq(strlen(in.country), 2);
        anon += (uint64_t)in.anonymous_only;
        gb += strcmp(in.country, "GB") == 0;
        k_count[in.n_tastes]++;
    }
    cr_assert(anon > 2700 && anon < 3300, "anonymous-only %llu of 10000", (unsigned long long)anon);
    cr_assert(gb > 2500 && gb < 3100, "GB %llu of 10000", (unsigned long long)gb);
    cr_assert(k_count[1] > 3500 && k_count[3] > 1500);
    tl_synth_world_free(w);
}

Test(synth, tiny_sizes)
{
    char dir[128];
    sub(dir, sizeof dir, "tiny/nested/dir");
    struct tl_synth_opts o = base_opts(dir, 1, 1);
    o.days = 1;
    o.views_per_shopper = 1;
    o.orders_per_shopper = 0;
    struct tl_err err = {0};
    struct tl_synth_summary s;
    cr_assert_eq(tl_synth_run(&o, &s, &err), TL_OK, "%s", err.msg);
    cr_assert_eq(s.items, 1);
    cr_assert_eq(s.orders, 0);
    cr_assert_geq(s.product_views, 1);
    char p[256];
    struct cat_count cc = {0};
    snprintf(p, sizeof p, "%s/catalog.csv", dir);
    cr_assert_eq(tl_fmt_import_catalog(p, "csv", NULL, item_cb, &cc, NULL, &err), TL_OK, "%s", err.msg);
    cr_assert_eq(cc.n, 1);
    struct ev_count ec = {0};
    snprintf(p, sizeof p, "%s/events.ndjson", dir);
    parse_events(p, NULL, 1, s.start_ms, s.end_ms, &ec);
    cr_assert_eq(ec.n, s.events);
    cr_assert_eq(ec.bad, 0);

    /* 3 items, 3 tastes, many orders per shopper, 1 day: everything fits in the day */
    char dir2[128];
    sub(dir2, sizeof dir2, "tiny2");
    struct tl_synth_opts o2 = base_opts(dir2, 3, 50);
    o2.n_tastes = 3;
    o2.days = 1;
    o2.orders_per_shopper = 20;
    o2.views_per_shopper = 200;
    cr_assert_eq(tl_synth_run(&o2, &s, &err), TL_OK, "%s", err.msg);
    struct ord_count oc = {0};
    oc.lo = s.start_ms;
    oc.hi = s.end_ms;
    snprintf(p, sizeof p, "%s/orders.csv", dir2);
    cr_assert_eq(tl_fmt_import_orders(p, "csv", NULL, order_cb, &oc, NULL, &err), TL_OK, "%s", err.msg);
    cr_assert_eq(oc.n, s.orders);
    cr_assert_eq(oc.bad_ts, 0);
    cr_assert_gt(s.orders, 50 * 10);
    struct ev_count ec2 = {0};
    snprintf(p, sizeof p, "%s/events.ndjson", dir2);
    parse_events(p, NULL, 50, s.start_ms, s.end_ms, &ec2);
    cr_assert_eq(ec2.n, s.events);
    cr_assert_eq(ec2.bad, 0);
    cr_assert_eq(ec2.bad_ts, 0);
    cr_assert_eq(ec2.unordered, 0);
}

Test(synth, bad_options)
{
    struct tl_err err;
    int64_t now = tl_now_ms();
    struct {
        struct tl_synth_opts o;
        const char *field;
    } cases[12];
    size_t n = 0;
    for (size_t i = 0; i < 12; i++) cases[i].o = base_opts("/nonexistent/never", 10, 10);
    cases[n].o.n_items = 0;
    cases[n++].field = "items";
    cases[n].o.n_items = TL_SYNTH_ITEMS_MAX + 1;
    cases[n++].field = "items";
    cases[n].o.n_shoppers = 0;
    cases[n++].field = "shoppers";
    cases[n].o.n_tastes = 11;
    cases[n++].field = "tastes";
    cases[n].o.days = TL_SYNTH_DAYS_MAX + 1;
    cases[n++].field = "days";
    cases[n].o.views_per_shopper = 0.5;
    cases[n++].field = "views-per-shopper";
    cases[n].o.views_per_shopper = 1e9;
    cases[n++].field = "views-per-shopper";
    cases[n].o.orders_per_shopper = 101;
    cases[n++].field = "orders-per-shopper";
    cases[n].o.orders_per_shopper = NAN;
    cases[n++].field = "orders-per-shopper";
    cases[n].o.end_ms = now + TL_MS_PER_HOUR;
    cases[n++].field = "end";
    cases[n].o.end_ms = 946684800000LL + TL_MS_PER_DAY; /* 2000-01-02, 90 days back is 1999 */
    cases[n++].field = "end";
    for (size_t i = 0; i < n; i++) {
        memset(&err, 0, sizeof err);
        cr_assert_eq(tl_synth_check(&cases[i].o, now, &err), TL_EINVAL, "case %zu", i);
        cr_assert_str_eq(err.field, cases[i].field, "case %zu", i);
        cr_assert_gt(strlen(err.msg), 10);
        memset(&err, 0, sizeof err);
        cr_assert_eq(tl_synth_run(&cases[i].o, NULL, &err), TL_EINVAL, "case %zu", i);
        struct tl_synth_world *w = (struct tl_synth_world *)1;
        enum tl_rc rc = tl_synth_world_new(&cases[i].o, &w, &err);
        if (strcmp(cases[i].field, "end") == 0) {
            cr_assert_eq(rc, TL_OK);
            tl_synth_world_free(w);
        } else {
            cr_assert_eq(rc, TL_EINVAL);
            cr_assert_null(w);
        }
    }
    cr_assert_not(exists("/nonexistent/never"));
    struct tl_synth_opts ok = base_opts(NULL, 10, 10);
    cr_assert_eq(tl_synth_check(&ok, now, &err), TL_OK);
    ok.n_tastes = 10;
    cr_assert_eq(tl_synth_check(&ok, now, &err), TL_OK);
}

Test(synth, refuses_to_overwrite_unless_forced)
{
    char dir[128], p[256];
    sub(dir, sizeof dir, "ow");
    mkdir(dir, 0755);
    snprintf(p, sizeof p, "%s/orders.csv", dir);
    FILE *f = fopen(p, "w");
    fputs("precious\n", f);
    fclose(f);
    struct tl_synth_opts o = base_opts(dir, 20, 20);
    struct tl_err err = {0};
    cr_assert_eq(tl_synth_run(&o, NULL, &err), TL_EEXIST);
    cr_assert(strstr(err.msg, "orders.csv"), "%s", err.msg);
    cr_assert(strstr(err.msg, "--force"), "%s", err.msg);
    size_t len;
    char *b = slurp(p, &len);
    cr_assert_str_eq(b, "precious\n");
    tl_free(b);
    char q[256];
    snprintf(q, sizeof q, "%s/catalog.csv", dir);
    cr_assert_not(exists(q), "nothing may be written when one file exists");
    snprintf(q, sizeof q, "%s/events.ndjson", dir);
    cr_assert_not(exists(q));
    /* ndjson names do not clash with the csv file */
    o.ndjson = 1;
    cr_assert_eq(tl_synth_run(&o, NULL, &err), TL_OK, "%s", err.msg);
    o.ndjson = 0;
    o.force = 1;
    struct tl_synth_summary s;
    cr_assert_eq(tl_synth_run(&o, &s, &err), TL_OK, "%s", err.msg);
    b = slurp(p, &len);
    cr_assert(strncmp(b, "order_id,", 9) == 0);
    cr_assert_eq(len, s.bytes_orders);
    tl_free(b);
}

Test(synth, unwritable_directory_fails_cleanly)
{
    char file[128], dir[256];
    sub(file, sizeof file, "plainfile");
    FILE *f = fopen(file, "w");
    fclose(f);
    snprintf(dir, sizeof dir, "%s/sub", file); /* a directory under a regular file */
    struct tl_synth_opts o = base_opts(dir, 20, 20);
    struct tl_err err = {0};
    cr_assert_eq(tl_synth_run(&o, NULL, &err), TL_EIO);
    cr_assert_str_eq(err.field, "out");
    cr_assert(strstr(err.msg, "plainfile"), "%s", err.msg);
}

Test(synth, no_leaks_on_success)
{
    long before = tl_alloc_live();
    char dir[128];
    sub(dir, sizeof dir, "leak");
    struct tl_synth_opts o = base_opts(dir, 100, 100);
    struct tl_err err = {0};
    cr_assert_eq(tl_synth_run(&o, NULL, &err), TL_OK);
    struct tl_synth_world *w = NULL;
    cr_assert_eq(tl_synth_world_new(&o, &w, &err), TL_OK);
    tl_synth_world_free(w);
    cr_assert_eq(tl_alloc_live(), before);
}

Test(synth, allocation_failures_are_clean)
{
    char dir[128];
    sub(dir, sizeof dir, "oom");
    long before = tl_alloc_live();
    int ok = 0;
    for (long n = 0; n < 40 && !ok; n++) {
        struct tl_synth_opts o = base_opts(dir, 50, 30);
        struct tl_err err = {0};
        tl_alloc_fail_after(n);
        enum tl_rc rc = tl_synth_run(&o, NULL, &err);
        tl_alloc_fail_after(-1);
        cr_assert(rc == TL_OK || rc == TL_ENOMEM, "n=%ld rc=%d %s", n, (int)rc, err.msg);
        cr_assert_eq(tl_alloc_live(), before, "n=%ld leaks", n);
        char p[256];
        snprintf(p, sizeof p, "%s/events.ndjson", dir);
        if (rc == TL_OK)
            ok = 1;
        else
            cr_assert_not(exists(p), "n=%ld left a partial file", n);
    }
    cr_assert(ok, "never succeeded within 40 allocations");
}
