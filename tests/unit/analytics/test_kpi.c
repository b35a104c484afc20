/* Tests for src/analytics/kpi.c: hand-computed scenarios of the funnel
 * impression -> click -> cart -> purchase, the attribution window,
 * last-touch vs assisted revenue with two sources, cross-day booking, shop
 * isolation, sessions, distinct visitors and conversion, the bounds and
 * the errors of the report, and concurrent feeding. Reports are parsed with
 * jansson and every number is compared with the value worked out in the
 * comment next to it. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <pthread.h>
#include <string.h>

#include "analytics/kpi.h"
#include "core/alloc.h"
#include "core/timeutil.h"

#define MIN 60000LL
#define HOUR 3600000LL
#define DAY 86400000LL

static int64_t at(const char *iso)
{
    int64_t ms = 0;
    cr_assert_eq(tl_time_parse(iso, &ms), TL_OK, "%s", iso);
    return ms;
}

static void add(struct tl_kpi *k, uint32_t shop, struct tl_kpi_event ev)
{
    struct tl_err e;
    tl_err_clear(&e);
    cr_assert_eq(tl_kpi_add(k, shop, &ev, &e), TL_OK, "%s", e.msg);
}

static struct tl_kpi_event imp(uint64_t shopper, uint64_t session, const char *src, size_t n, int64_t ts)
{
    return (struct tl_kpi_event){.type = TL_EV_REC_IMPRESSION,
                                 .ts_ms = ts,
                                 .shopper = shopper,
                                 .session = session,
                                 .source_id = src,
                                 .item = TL_KPI_NO_ITEM,
                                 .n_shown = n};
}

static struct tl_kpi_event click(uint64_t shopper, uint64_t session, const char *src, uint32_t item, int64_t ts)
{
    return (struct tl_kpi_event){
        .type = TL_EV_REC_CLICK, .ts_ms = ts, .shopper = shopper, .session = session, .source_id = src, .item = item};
}

static struct tl_kpi_event cart(uint64_t shopper, uint64_t session, uint32_t item, int64_t ts)
{
    return (struct tl_kpi_event){
        .type = TL_EV_ADD_TO_CART, .ts_ms = ts, .shopper = shopper, .session = session, .item = item};
}

static struct tl_kpi_event buy(uint64_t shopper, uint64_t session, const struct tl_kpi_line *lines, size_t n,
                               uint64_t order, int64_t ts)
{
    return (struct tl_kpi_event){.type = TL_EV_PURCHASE,
                                 .ts_ms = ts,
                                 .shopper = shopper,
                                 .session = session,
                                 .item = TL_KPI_NO_ITEM,
                                 .lines = lines,
                                 .n_lines = n,
                                 .order = order};
}

/* Parsed report; caller json_decref's. */
static json_t *report(struct tl_kpi *k, uint32_t shop, const char *from, const char *to, const char *by)
{
    struct tl_buf b;
    tl_buf_init(&b, 1 << 22);
    struct tl_err e;
    tl_err_clear(&e);
    cr_assert_eq(tl_kpi_report_json(k, shop, from, to, by, &b, &e), TL_OK, "%s", e.msg);
    json_error_t je;
    json_t *j = json_loads(b.data, 0, &je);
    cr_assert_not_null(j, "bad JSON: %s\n%s", je.text, b.data);
    tl_buf_free(&b);
    return j;
}

static json_t *row(json_t *rep, const char *key)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(rep, "rows"), i,
                       r) if (strcmp(json_string_value(json_object_get(r, "key")), key) == 0) return r;
    return NULL;
}

static double num(json_t *o, const char *f)
{
    json_t *v = json_object_get(o, f);
    cr_assert_not_null(v, "missing %s", f);
    return json_number_value(v);
}

static void check_row(json_t *rep, const char *key, double imps, double clicks, double carts, double orders,
                      double revenue, double assisted)
{
    json_t *r = row(rep, key);
    cr_assert_not_null(r, "no row %s", key);
    cr_assert_float_eq(num(r, "impressions"), imps, 1e-9, "%s impressions", key);
    cr_assert_float_eq(num(r, "clicks"), clicks, 1e-9, "%s clicks", key);
    cr_assert_float_eq(num(r, "ctr"), imps > 0 ? clicks / imps : 0, 1e-4, "%s ctr", key);
    cr_assert_float_eq(num(r, "add_to_carts"), carts, 1e-9, "%s carts", key);
    cr_assert_float_eq(num(r, "orders"), orders, 1e-9, "%s orders", key);
    cr_assert_float_eq(num(r, "revenue"), revenue, 0.005, "%s revenue", key);
    cr_assert_float_eq(num(r, "assisted_revenue"), assisted, 0.005, "%s assisted", key);
    cr_assert_float_eq(num(r, "aov"), orders > 0 ? revenue / orders : 0, 0.005, "%s aov", key);
}

static json_t *day(json_t *rep, size_t i) { return json_array_get(json_object_get(rep, "days"), i); }

Test(kpi, widget_of_source_table)
{
    /* the codes of src/engine/feedback.c, in its order */
    const char *codes[] = {"fy", "si", "se", "bt", "ab", "av", "ca", "rv", "po", "tr"};
    const char *names[] = {"for_you",     "similar", "session",         "bought_together", "also_bought",
                           "also_viewed", "cart",    "recently_viewed", "popular",         "trending"};
    for (int i = 0; i < 10; i++) {
        char rid[32];
        snprintf(rid, sizeof rid, "r_%s_0123456789abcdef", codes[i]);
        cr_assert_str_eq(tl_kpi_widget_of_source(rid), names[i]);
    }
    cr_assert_str_eq(tl_kpi_widget_of_source("r_zz_01"), "recommendation");
    cr_assert_str_eq(tl_kpi_widget_of_source("r_fy"), "recommendation");
    cr_assert_str_eq(tl_kpi_widget_of_source("s_00ff"), "search");
    cr_assert_str_eq(tl_kpi_widget_of_source("d_1"), "campaign");
    cr_assert_str_eq(tl_kpi_widget_of_source("xyz"), "other");
    cr_assert_str_eq(tl_kpi_widget_of_source(NULL), "unknown");
    cr_assert_eq(tl_kpi_dim_from_str("device"), TL_KPI_DEVICE);
    cr_assert_eq(tl_kpi_dim_from_str("colour"), -1);
}

Test(kpi, funnel_impression_click_cart_purchase)
{
    struct tl_kpi *k = tl_kpi_new(NULL);
    cr_assert_not_null(k);
    int64_t t = at("2026-11-01T10:00:00Z");
    struct tl_kpi_event e = imp(1, 100, "r_fy_aaaa", 4, t);
    e.placement = "home";
    e.device = "mobile";
    e.country = "GB";
    e.segment = "vip";
    add(k, 1, e);
    /* the click carries no placement: it comes from the impression of the same source */
    e = click(1, 100, "r_fy_aaaa", 7, t + MIN);
    e.device = "mobile";
    e.country = "GB";
    e.segment = "vip";
    add(k, 1, e);
    add(k, 1, cart(1, 100, 7, t + 2 * MIN));
    add(k, 1, cart(1, 100, 8, t + 3 * MIN)); /* never clicked: no credit */
    struct tl_kpi_line l[] = {{7, 20.0}, {9, 5.0}};
    add(k, 1, buy(1, 100, l, 2, 555, t + 10 * MIN));
    /* for_you: 4 shown, 1 click (ctr .25), 1 cart, order 1, last touch 20 = assisted, aov 20 */
    json_t *r = report(k, 1, "2026-11-01", "2026-11-01", "widget");
    cr_assert_str_eq(json_string_value(json_object_get(r, "by")), "widget");
    cr_assert_str_eq(json_string_value(json_object_get(r, "from")), "2026-11-01");
    cr_assert_eq(json_array_size(json_object_get(r, "rows")), 1);
    check_row(r, "for_you", 4, 1, 1, 1, 20, 20);
    /* site: 1 visitor who ordered; the order is 25 (both lines) */
    json_t *d = day(r, 0);
    cr_assert_str_eq(json_string_value(json_object_get(d, "day")), "2026-11-01");
    cr_assert_float_eq(num(d, "visitors"), 1, 1e-9);
    cr_assert_float_eq(num(d, "orders"), 1, 1e-9);
    cr_assert_float_eq(num(d, "revenue"), 25, 1e-9);
    cr_assert_float_eq(num(d, "conversion_rate"), 1, 1e-9);
    cr_assert_float_eq(num(d, "aov"), 25, 1e-9);
    json_decref(r);
    r = report(k, 1, "2026-11-01", "2026-11-01", "placement");
    check_row(r, "home", 4, 1, 1, 1, 20, 20);
    json_decref(r);
    r = report(k, 1, "2026-11-01", "2026-11-01", "model"); /* model defaults to the widget */
    check_row(r, "for_you", 4, 1, 1, 1, 20, 20);
    json_decref(r);
    r = report(k, 1, "2026-11-01", "2026-11-01", "device");
    check_row(r, "mobile", 4, 1, 1, 1, 20, 20);
    json_decref(r);
    r = report(k, 1, "2026-11-01", "2026-11-01", "segment");
    check_row(r, "vip", 4, 1, 1, 1, 20, 20);
    json_decref(r);
    tl_kpi_free(k);
}

Test(kpi, attribution_window)
{
    struct tl_kpi *k = tl_kpi_new(NULL); /* 24 h */
    int64_t t = at("2026-11-02T08:00:00Z");
    struct tl_kpi_line l = {3, 10.0};
    add(k, 1, click(1, 1, "r_po_1", 3, t));
    add(k, 1, buy(1, 2, &l, 1, 1, t + 25 * HOUR)); /* 25 h later: outside */
    add(k, 1, click(2, 3, "r_po_2", 3, t));
    add(k, 1, buy(2, 4, &l, 1, 2, t + 23 * HOUR)); /* 23 h later, another session: inside */
    add(k, 1, click(3, 5, "r_po_3", 3, t));
    add(k, 1, buy(3, 5, &l, 1, 3, t + 24 * HOUR)); /* exactly 24 h: inside (the window is closed) */
    json_t *r = report(k, 1, "2026-11-02", "2026-11-03", "widget");
    check_row(r, "popular", 0, 3, 0, 2, 20, 20);
    json_decref(r);
    tl_kpi_free(k);

    /* a 1 h window */
    struct tl_kpi_params p = {.attribution_ms = HOUR, .session_gap_ms = 30 * MIN};
    k = tl_kpi_new(&p);
    add(k, 1, click(1, 1, "r_po_1", 3, t));
    add(k, 1, buy(1, 1, &l, 1, 1, t + 61 * MIN));
    add(k, 1, click(2, 1, "r_po_1", 3, t));
    add(k, 1, buy(2, 1, &l, 1, 2, t + 59 * MIN));
    r = report(k, 1, "2026-11-02", "2026-11-02", "widget");
    check_row(r, "popular", 0, 2, 0, 1, 10, 10);
    json_decref(r);
    tl_kpi_free(k);
}

Test(kpi, last_touch_versus_assisted)
{
    struct tl_kpi *k = tl_kpi_new(NULL);
    int64_t t = at("2026-11-03T09:00:00Z");
    struct tl_kpi_event e = click(5, 1, "r_si_1", 5, t); /* similar, then search, same item */
    e.placement = "pdp";
    add(k, 1, e);
    e = click(5, 1, "s_77", 5, t + HOUR);
    e.placement = "search_page";
    add(k, 1, e);
    e = click(5, 1, "r_si_2", 6, t + HOUR); /* similar again, another item */
    e.placement = "pdp";
    add(k, 1, e);
    struct tl_kpi_line l[] = {{5, 30.0}, {6, 12.5}};
    add(k, 1, buy(5, 1, l, 2, 900, t + 2 * HOUR));
    /* line 5 (30): last touch = search; assisted: similar and search.
     * line 6 (12.5): last touch = similar; assisted: similar.
     * search: revenue 30, orders 1, assisted 30; similar: revenue 12.5, orders 1, assisted 42.5 */
    json_t *r = report(k, 1, "2026-11-03", "2026-11-03", "widget");
    check_row(r, "search", 0, 1, 0, 1, 30, 30);
    check_row(r, "similar", 0, 2, 0, 1, 12.5, 42.5);
    /* rows by revenue: search first */
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(r, "rows"), 0), "key")),
                     "search");
    json_decref(r);
    r = report(k, 1, "2026-11-03", "2026-11-03", "placement");
    check_row(r, "search_page", 0, 1, 0, 1, 30, 30);
    check_row(r, "pdp", 0, 2, 0, 1, 12.5, 42.5);
    json_decref(r);
    /* the clicks are spent: buying item 5 again without a new click credits nothing */
    struct tl_kpi_line again = {5, 30.0};
    add(k, 1, buy(5, 1, &again, 1, 901, t + 3 * HOUR));
    r = report(k, 1, "2026-11-03", "2026-11-03", "widget");
    check_row(r, "search", 0, 1, 0, 1, 30, 30);
    cr_assert_float_eq(num(day(r, 0), "orders"), 2, 1e-9);
    cr_assert_float_eq(num(day(r, 0), "revenue"), 72.5, 1e-9);
    json_decref(r);
    /* the same order id sent twice counts one order; its lines still add revenue */
    add(k, 1, click(5, 1, "s_78", 5, t + 4 * HOUR));
    add(k, 1, buy(5, 1, &again, 1, 901, t + 4 * HOUR + MIN));
    r = report(k, 1, "2026-11-03", "2026-11-03", "widget");
    check_row(r, "search", 0, 2, 0, 1, 60, 60);
    cr_assert_float_eq(num(day(r, 0), "orders"), 2, 1e-9);
    json_decref(r);
    tl_kpi_free(k);
}

Test(kpi, cross_day_and_visitors)
{
    struct tl_kpi *k = tl_kpi_new(NULL);
    int64_t t = at("2026-11-01T23:50:00Z");
    add(k, 1, imp(1, 1, "r_tr_1", 5, t - MIN));
    add(k, 1, click(1, 1, "r_tr_1", 2, t));
    struct tl_kpi_line l = {2, 8.0};
    add(k, 1, buy(1, 1, &l, 1, 1, t + 20 * MIN)); /* 00:10 next day */
    /* other visitors on Nov 1: shopper 2 twice, shopper 3 once; none buys */
    struct tl_kpi_event pv = {.type = TL_EV_PAGE_VIEW, .ts_ms = t - HOUR, .shopper = 2, .item = TL_KPI_NO_ITEM};
    add(k, 1, pv);
    pv.ts_ms = t - 2 * HOUR;
    add(k, 1, pv);
    pv.shopper = 3;
    add(k, 1, pv);
    pv.shopper = 0; /* unknown shopper: not a visitor */
    add(k, 1, pv);
    json_t *r = report(k, 1, "2026-11-01", "2026-11-01", "widget");
    check_row(r, "trending", 5, 1, 0, 0, 0, 0);
    cr_assert_float_eq(num(day(r, 0), "visitors"), 3, 1e-9);
    cr_assert_float_eq(num(day(r, 0), "conversion_rate"), 0, 1e-9);
    json_decref(r);
    r = report(k, 1, "2026-11-02", "2026-11-02", "widget");
    check_row(r, "trending", 0, 0, 0, 1, 8, 8);
    cr_assert_float_eq(num(day(r, 0), "visitors"), 1, 1e-9);
    cr_assert_float_eq(num(day(r, 0), "converted"), 1, 1e-9);
    json_decref(r);
    r = report(k, 1, "2026-10-31", "2026-11-02", "widget");
    check_row(r, "trending", 5, 1, 0, 1, 8, 8);
    cr_assert_eq(json_array_size(json_object_get(r, "days")), 3);
    cr_assert_str_eq(json_string_value(json_object_get(day(r, 0), "day")), "2026-10-31");
    cr_assert_float_eq(num(day(r, 0), "visitors"), 0, 1e-9);
    cr_assert_float_eq(num(day(r, 1), "visitors"), 3, 1e-9);
    cr_assert_float_eq(num(day(r, 2), "revenue"), 8, 1e-9);
    json_decref(r);
    /* three visitors, one converted -> 1/3 */
    struct tl_kpi_line l2 = {4, 3.0};
    add(k, 1, buy(3, 9, &l2, 1, 77, t - MIN));
    r = report(k, 1, "2026-11-01", "2026-11-01", "widget");
    cr_assert_float_eq(num(day(r, 0), "conversion_rate"), 1.0 / 3, 1e-4);
    cr_assert_float_eq(num(day(r, 0), "aov"), 3, 1e-9);
    json_decref(r);
    tl_kpi_free(k);
}

Test(kpi, shops_are_isolated)
{
    struct tl_kpi *k = tl_kpi_new(NULL);
    int64_t t = at("2026-11-05T12:00:00Z");
    add(k, 2, imp(1, 1, "r_fy_1", 10, t));
    add(k, 2, click(1, 1, "r_fy_1", 4, t + MIN));
    struct tl_kpi_line l = {4, 50.0};
    add(k, 1, buy(1, 1, &l, 1, 1, t + 2 * MIN)); /* same shopper hash, other shop: no credit */
    json_t *r = report(k, 1, "2026-11-05", "2026-11-05", "widget");
    cr_assert_eq(json_array_size(json_object_get(r, "rows")), 0);
    cr_assert_float_eq(num(day(r, 0), "revenue"), 50, 1e-9);
    json_decref(r);
    r = report(k, 2, "2026-11-05", "2026-11-05", "widget");
    check_row(r, "for_you", 10, 1, 0, 0, 0, 0);
    cr_assert_float_eq(num(day(r, 0), "revenue"), 0, 1e-9);
    cr_assert_float_eq(num(day(r, 0), "visitors"), 1, 1e-9);
    json_decref(r);
    tl_kpi_free(k);
}

Test(kpi, sessions_for_carts)
{
    struct tl_kpi *k = tl_kpi_new(NULL);
    int64_t t = at("2026-11-06T12:00:00Z");
    add(k, 1, click(1, 10, "r_ca_1", 4, t));
    add(k, 1, cart(1, 11, 4, t + MIN));      /* another session: not credited */
    add(k, 1, cart(1, 10, 4, t + 2 * HOUR)); /* same session key, 2 h later: credited */
    add(k, 1, click(2, 0, "r_ca_2", 4, t));  /* unknown sessions: the 30 min gap decides */
    add(k, 1, cart(2, 0, 4, t + 29 * MIN));
    add(k, 1, cart(2, 0, 4, t + 31 * MIN));
    json_t *r = report(k, 1, "2026-11-06", "2026-11-06", "widget");
    check_row(r, "cart", 0, 2, 2, 0, 0, 0);
    json_decref(r);
    tl_kpi_free(k);
}

Test(kpi, overrides_and_value_cut)
{
    struct tl_kpi *k = tl_kpi_new(NULL);
    int64_t t = at("2026-11-07T12:00:00Z");
    struct tl_kpi_event e = imp(1, 1, "r_fy_1", 2, t);
    e.widget = "hero_banner";
    e.model = "ials-v2";
    char longp[200];
    memset(longp, 'p', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    e.placement = longp;
    add(k, 1, e);
    json_t *r = report(k, 1, "2026-11-07", "2026-11-07", "widget");
    check_row(r, "hero_banner", 2, 0, 0, 0, 0, 0);
    json_decref(r);
    r = report(k, 1, "2026-11-07", "2026-11-07", "model");
    check_row(r, "ials-v2", 2, 0, 0, 0, 0, 0);
    json_decref(r);
    r = report(k, 1, "2026-11-07", "2026-11-07", "placement");
    const char *key = json_string_value(json_object_get(json_array_get(json_object_get(r, "rows"), 0), "key"));
    cr_assert_eq(strlen(key), TL_KPI_VALUE_MAX);
    json_decref(r);
    r = report(k, 1, "2026-11-07", "2026-11-07", "country"); /* absent values read "unknown" */
    check_row(r, "unknown", 2, 0, 0, 0, 0, 0);
    json_decref(r);
    tl_kpi_free(k);
}

Test(kpi, click_ring_is_bounded)
{
    struct tl_kpi *k = tl_kpi_new(NULL);
    int64_t t = at("2026-11-08T12:00:00Z");
    /* TL_KPI_CLICKS_PER_SHOPPER + 1 clicks on different items: the first is forgotten */
    for (uint32_t i = 0; i <= TL_KPI_CLICKS_PER_SHOPPER; i++) add(k, 1, click(1, 1, "r_bt_1", 100 + i, t + i));
    struct tl_kpi_line l[] = {{100, 1.0}, {101, 2.0}};
    add(k, 1, buy(1, 1, l, 2, 1, t + HOUR));
    json_t *r = report(k, 1, "2026-11-08", "2026-11-08", "widget");
    check_row(r, "bought_together", 0, TL_KPI_CLICKS_PER_SHOPPER + 1, 0, 1, 2, 2);
    json_decref(r);
    tl_kpi_free(k);
}

Test(kpi, errors)
{
    struct tl_kpi *k = tl_kpi_new(NULL);
    struct tl_buf b;
    tl_buf_init(&b, 1 << 20);
    struct tl_err e;
    tl_err_clear(&e);
    cr_assert_eq(tl_kpi_report_json(k, 1, "2026-11-01", "2026-11-02", "colour", &b, &e), TL_EINVAL);
    cr_assert_str_eq(e.field, "by");
    cr_assert_eq(tl_kpi_report_json(k, 1, "2026-11-02", "2026-11-01", "widget", &b, &e), TL_EINVAL);
    cr_assert_eq(tl_kpi_report_json(k, 1, "yesterday", "2026-11-01", "widget", &b, &e), TL_EINVAL);
    cr_assert_str_eq(e.field, "from");
    cr_assert_eq(tl_kpi_report_json(k, 1, "2025-01-01", "2026-11-01", "widget", &b, &e), TL_EINVAL);
    cr_assert_eq(b.len, 0);
    struct tl_kpi_event ev = imp(1, 1, "r_fy_1", 1, -5);
    cr_assert_eq(tl_kpi_add(k, 1, &ev, &e), TL_EINVAL);
    ev.ts_ms = 0;
    cr_assert_eq(tl_kpi_add(k, TL_KPI_SHOP_MAX + 1u, &ev, &e), TL_EINVAL);
    ev.type = TL_EV_PURCHASE;
    ev.n_lines = 2;
    cr_assert_eq(tl_kpi_add(k, 1, &ev, &e), TL_EINVAL);
    /* an empty shop: rows [] and zero days */
    cr_assert_eq(tl_kpi_report_json(k, 9, "2026-11-01", "2026-11-02", "widget", &b, &e), TL_OK);
    cr_assert_str_eq(b.data, "{\"shop\":9,\"from\":\"2026-11-01\",\"to\":\"2026-11-02\",\"by\":\"widget\",\"rows\":[],"
                             "\"days\":[{\"day\":\"2026-11-01\",\"visitors\":0,\"converted\":0,\"orders\":0,"
                             "\"revenue\":0.00,\"conversion_rate\":0.0000,\"aov\":0.00},{\"day\":\"2026-11-02\","
                             "\"visitors\":0,\"converted\":0,\"orders\":0,\"revenue\":0.00,\"conversion_rate\":0.0000,"
                             "\"aov\":0.00}],\"dropped\":0}");
    tl_buf_free(&b);
    tl_kpi_free(k);
}

struct feeder {
    struct tl_kpi *k;
    uint64_t base;
};

static void *feed(void *arg)
{
    struct feeder *f = arg;
    int64_t t = 1793534400000LL; /* 2026-11-01T12:00:00Z */
    for (uint64_t i = 0; i < 2000; i++) {
        struct tl_kpi_event ev = imp(f->base + i, 1, "r_se_1", 3, t + (int64_t)i);
        tl_kpi_add(f->k, 1, &ev, NULL);
    }
    return NULL;
}

Test(kpi, concurrent_feeding)
{
    struct tl_kpi *k = tl_kpi_new(NULL);
    pthread_t th[4];
    struct feeder f[4];
    for (int i = 0; i < 4; i++) {
        f[i] = (struct feeder){k, 1 + (uint64_t)i * 100000};
        pthread_create(&th[i], NULL, feed, &f[i]);
    }
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    json_t *r = report(k, 1, "2026-11-01", "2026-11-01", "widget");
    check_row(r, "session", 4 * 2000 * 3, 0, 0, 0, 0, 0);
    cr_assert_float_eq(num(day(r, 0), "visitors"), 8000, 1e-9);
    json_decref(r);
    tl_kpi_free(k);
}

Test(kpi, shopper_states_evict_the_idle_first, .timeout = 30)
{
    struct tl_kpi *k = tl_kpi_new(NULL);
    int64_t t = at("2026-11-10T12:00:00Z");
    /* TL_KPI_SHOPPERS_MAX - 1 shoppers click two days ago; shopper B clicks now: the table is full */
    for (uint64_t i = 0; i + 1 < TL_KPI_SHOPPERS_MAX; i++) add(k, 1, click(1000 + i, 1, "r_fy_1", 1, t - 2 * DAY));
    add(k, 1, click(7, 7, "r_av_1", 42, t));
    /* shopper C needs a state: the idle ones go, B stays */
    add(k, 1, click(8, 8, "r_av_1", 43, t + MIN));
    struct tl_kpi_line l = {42, 9.0};
    add(k, 1, buy(7, 7, &l, 1, 1, t + 2 * MIN));
    struct tl_kpi_line l2 = {43, 4.0};
    add(k, 1, buy(8, 8, &l2, 1, 2, t + 3 * MIN));
    json_t *r = report(k, 1, "2026-11-10", "2026-11-10", "widget");
    check_row(r, "also_viewed", 0, 2, 0, 2, 13, 13);
    json_decref(r);
    /* all recent: the table is cleared, B's pending click is lost (documented) */
    for (uint64_t i = 0; i < TL_KPI_SHOPPERS_MAX; i++) add(k, 1, click(500000 + i, 1, "r_fy_1", 1, t + HOUR));
    add(k, 1, click(9, 9, "r_av_1", 44, t + HOUR));
    struct tl_kpi_line l3 = {1, 1.0};
    add(k, 1, buy(500000, 1, &l3, 1, 3, t + 2 * HOUR)); /* its state was cleared */
    r = report(k, 1, "2026-11-10", "2026-11-10", "widget");
    check_row(r, "for_you", 0, TL_KPI_SHOPPERS_MAX, 0, 0, 0, 0);
    json_decref(r);
    tl_kpi_free(k);
}

Test(kpi, frees_everything)
{
    long live = tl_alloc_live();
    struct tl_kpi *k = tl_kpi_new(NULL);
    int64_t t = at("2026-11-11T12:00:00Z");
    add(k, 1, imp(1, 1, "r_fy_1", 3, t));
    add(k, 1, click(1, 1, "r_fy_1", 2, t + 1));
    struct tl_kpi_line l = {2, 1.0};
    add(k, 1, buy(1, 1, &l, 1, 9, t + 2));
    struct tl_buf b;
    tl_buf_init(&b, 1 << 16);
    cr_assert_eq(tl_kpi_report_json(k, 1, "2026-11-11", "2026-11-11", "country", &b, NULL), TL_OK);
    tl_buf_free(&b);
    tl_kpi_free(k);
    cr_assert_eq(tl_alloc_live(), live);
}

/* Identity stitching: guest A (shopper 11) clicks, logs in as customer C
 * (shopper 22) and buys; C had also visited the same day from another
 * device. After tl_kpi_link the purchase is attributed to A's click, and A
 * and C are one visitor (converted once). Worked out by hand:
 *   day 1: visitors {A, C} -> after the link {C}: 1 visitor; converted 1;
 *   for_you: 2 impressions, 1 click, 1 order, revenue 40. */
Test(kpi, link_moves_clicks_and_merges_visitors)
{
    struct tl_kpi *k = tl_kpi_new(NULL);
    int64_t t = at("2026-03-02T10:00:00Z");
    add(k, 1, imp(22, 9, "r_po_1", 1, t - 2 * HOUR)); /* C on another device earlier */
    add(k, 1, imp(11, 5, "r_fy_1", 2, t));
    add(k, 1, click(11, 5, "r_fy_1", 7, t + MIN));
    json_t *r0 = report(k, 1, "2026-03-02", "2026-03-02", "widget");
    cr_assert_float_eq(num(day(r0, 0), "visitors"), 2, 1e-9);
    json_decref(r0);
    tl_kpi_link(k, 1, 11, 22, t + 2 * MIN);
    tl_kpi_link(k, 1, 11, 22, t + 2 * MIN); /* again: nothing left to move */
    struct tl_kpi_line l = {7, 40.0};
    add(k, 1, buy(22, 5, &l, 1, 77, t + 10 * MIN));
    json_t *r = report(k, 1, "2026-03-02", "2026-03-02", "widget");
    check_row(r, "for_you", 2, 1, 0, 1, 40, 40);
    cr_assert_float_eq(num(day(r, 0), "visitors"), 1, 1e-9);
    cr_assert_float_eq(num(day(r, 0), "converted"), 1, 1e-9);
    cr_assert_float_eq(num(day(r, 0), "orders"), 1, 1e-9);
    json_decref(r);
    /* linking an unknown shopper, or a shopper to itself, changes nothing */
    tl_kpi_link(k, 1, 33, 22, t);
    tl_kpi_link(k, 1, 22, 22, t);
    r = report(k, 1, "2026-03-02", "2026-03-02", "widget");
    cr_assert_float_eq(num(day(r, 0), "visitors"), 1, 1e-9);
    json_decref(r);
    tl_kpi_free(k);
}

/* A guest who converted, linked to a customer who had not visited that day:
 * still one converted visitor, now under the customer; and a guest who did
 * not convert linked to a customer who did (same day): one converted. */
Test(kpi, link_keeps_conversions)
{
    struct tl_kpi *k = tl_kpi_new(NULL);
    int64_t t = at("2026-03-05T09:00:00Z");
    struct tl_kpi_line l = {1, 10.0};
    add(k, 1, buy(41, 1, &l, 1, 501, t));
    tl_kpi_link(k, 1, 41, 42, t + MIN);
    add(k, 1, buy(42, 1, &l, 1, 502, t + 2 * MIN)); /* the customer buys again: same visitor */
    add(k, 1, imp(51, 2, "r_fy_2", 1, t));
    add(k, 1, buy(52, 3, &l, 1, 503, t));
    tl_kpi_link(k, 1, 51, 52, t + MIN);
    json_t *r = report(k, 1, "2026-03-05", "2026-03-05", "widget");
    cr_assert_float_eq(num(day(r, 0), "visitors"), 2, 1e-9);
    cr_assert_float_eq(num(day(r, 0), "converted"), 2, 1e-9);
    cr_assert_float_eq(num(day(r, 0), "orders"), 3, 1e-9);
    json_decref(r);
    tl_kpi_free(k);
}
