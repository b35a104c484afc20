/* Tests for src/ingest/formats.c over the fixtures in tests/fixtures/import
 * (run from the repository root) and small generated files. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/alloc.h"
#include "core/timeutil.h"
#include "ingest/formats.h"

#ifndef FIXTURES
#define FIXTURES "tests/fixtures/import/"
#endif
#define REAL_OR "../shared/data/online-retail/online_retail.csv.gz"

/* ---- collectors: deep copies of what the callbacks received ---- */

#define MAXREC 400

struct got_item {
    char id[160], title[256], category[128], brand[64], currency[8], url[128], image[256], tags[256], attrs[512],
        desc[512];
    double price;
    int available, visible;
    int64_t stock;
    long line;
};

struct got_order {
    char id[64], customer[64], country[8], currency[8];
    int64_t ts;
    int is_return;
    size_t n;
    char first_item[64];
    double first_q, first_p, qty_sum;
    long line;
};

struct got_cust {
    char id[64], email[64], name[64], country[8], tier[16];
    int ce, cp;
    long line;
};

struct coll {
    struct got_item items[MAXREC];
    struct got_order orders[MAXREC];
    struct got_cust custs[MAXREC];
    size_t n;
    size_t stop_at; /* return TL_ESTORE when n reaches it (0 = never) */
};

static void cp(char *d, size_t n, const char *s) { snprintf(d, n, "%s", s ? s : "(null)"); }

static int item_cb(void *ctx, const struct tl_item *it, long line)
{
    struct coll *c = ctx;
    if (c->stop_at && c->n + 1 == c->stop_at) return TL_ESTORE;
    cr_assert(c->n < MAXREC);
    struct got_item *g = &c->items[c->n++];
    cp(g->id, sizeof g->id, it->id);
    cp(g->title, sizeof g->title, it->title);
    cp(g->category, sizeof g->category, it->category);
    cp(g->brand, sizeof g->brand, it->brand);
    cp(g->currency, sizeof g->currency, it->currency);
    cp(g->url, sizeof g->url, it->url);
    cp(g->image, sizeof g->image, it->image_url);
    cp(g->tags, sizeof g->tags, it->tags_json);
    cp(g->attrs, sizeof g->attrs, it->attrs_json);
    cp(g->desc, sizeof g->desc, it->description);
    g->price = it->price;
    g->available = it->available;
    g->visible = it->visible;
    g->stock = it->stock;
    g->line = line;
    return 0;
}

static int order_cb(void *ctx, const struct tl_order *o, long line)
{
    struct coll *c = ctx;
    if (c->stop_at && c->n + 1 == c->stop_at) return TL_ESTORE;
    cr_assert(c->n < MAXREC);
    struct got_order *g = &c->orders[c->n++];
    cp(g->id, sizeof g->id, o->id);
    cp(g->customer, sizeof g->customer, o->customer_id);
    cp(g->country, sizeof g->country, o->country);
    cp(g->currency, sizeof g->currency, o->currency);
    g->ts = o->ts_ms;
    g->is_return = o->is_return;
    g->n = o->n_lines;
    cr_assert(o->n_lines > 0);
    cp(g->first_item, sizeof g->first_item, o->lines[0].item_id);
    g->first_q = o->lines[0].quantity;
    g->first_p = o->lines[0].price;
    g->qty_sum = 0;
    for (size_t i = 0; i < o->n_lines; i++) g->qty_sum += o->lines[i].quantity;
    g->line = line;
    return 0;
}

static int cust_cb(void *ctx, const struct tl_customer *u, long line)
{
    struct coll *c = ctx;
    cr_assert(c->n < MAXREC);
    struct got_cust *g = &c->custs[c->n++];
    cp(g->id, sizeof g->id, u->id);
    cp(g->email, sizeof g->email, u->email);
    cp(g->name, sizeof g->name, u->name);
    cp(g->country, sizeof g->country, u->country);
    cp(g->tier, sizeof g->tier, u->member_tier);
    g->ce = u->consent_email;
    g->cp = u->consent_personalization;
    g->line = line;
    return 0;
}

static struct coll *coll_new(void)
{
    struct coll *c = calloc(1, sizeof *c);
    cr_assert_not_null(c);
    return c;
}

static const struct got_item *find_item(const struct coll *c, const char *id)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->items[i].id, id) == 0) return &c->items[i];
    cr_assert_fail("item %s not delivered", id);
    return NULL;
}

static const struct got_order *find_order(const struct coll *c, const char *id)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->orders[i].id, id) == 0) return &c->orders[i];
    cr_assert_fail("order %s not delivered", id);
    return NULL;
}

static int64_t ts(const char *iso)
{
    int64_t ms;
    cr_assert_eq(tl_time_parse(iso, &ms), TL_OK);
    return ms;
}

/* ---- Online Retail ---- */

Test(formats, online_retail_orders)
{
    struct coll *c = coll_new();
    struct tl_fmt_summary s;
    struct tl_err e;
    long before = tl_alloc_live();
    enum tl_rc rc = tl_fmt_import_orders(FIXTURES "online_retail_200.csv", "online-retail", NULL, order_cb, c, &s, &e);
    cr_assert_eq(rc, TL_OK, "%s", e.msg);
    cr_assert_eq(tl_alloc_live(), before, "leak");
    /* 25 invoices; C536379 holds only the non-product code D */
    cr_assert_eq(c->n, 24);
    cr_assert_eq(s.records, 24);
    cr_assert_eq(s.returns, 1);
    cr_assert_eq(s.dropped, 2, "POST and D rows");
    cr_assert_eq(s.lines, 201);
    cr_assert_eq(s.skipped, 0);
    const struct got_order *o = &c->orders[0];
    cr_assert_str_eq(o->id, "536365");
    cr_assert_eq(o->n, 7);
    cr_assert_str_eq(o->customer, "17850", "CustomerID 17850.0 -> 17850");
    cr_assert_str_eq(o->country, "GB");
    cr_assert_str_eq(o->currency, "GBP");
    cr_assert_str_eq(o->first_item, "85123A");
    cr_assert_float_eq(o->first_q, 6.0, 1e-9);
    cr_assert_float_eq(o->first_p, 2.55, 1e-9);
    cr_assert_eq(o->ts, ts("2010-12-01T08:26:00Z"));
    cr_assert_eq(o->line, 2);
    o = find_order(c, "536370");
    cr_assert_str_eq(o->country, "FR");
    cr_assert_eq(o->n, 19, "20 rows minus POST");
    o = find_order(c, "C536383");
    cr_assert(o->is_return);
    cr_assert_eq(o->n, 1);
    cr_assert_float_eq(o->first_q, 1.0, 1e-9, "cancellation quantity -1 -> 1");
    cr_assert_str_eq(o->first_item, "35004C");
    o = find_order(c, "536389");
    cr_assert_str_eq(o->country, "AU");
    o = find_order(c, "536381");
    cr_assert_eq(o->n, 35);
    for (size_t i = 0; i < c->n; i++) cr_assert_str_neq(c->orders[i].id, "C536379");
    free(c);
}

Test(formats, online_retail_catalog)
{
    struct coll *c = coll_new();
    struct tl_fmt_summary s;
    struct tl_err e;
    long before = tl_alloc_live();
    enum tl_rc rc = tl_fmt_import_catalog(FIXTURES "online_retail_200.csv", "online-retail", NULL, item_cb, c, &s, &e);
    cr_assert_eq(rc, TL_OK, "%s", e.msg);
    cr_assert_eq(tl_alloc_live(), before, "leak");
    cr_assert_eq(c->n, 154, "distinct product StockCodes");
    const struct got_item *it = &c->items[0];
    cr_assert_str_eq(it->id, "85123A");
    cr_assert_str_eq(it->title, "White Hanging Heart T-Light Holder");
    cr_assert_str_eq(it->category, "Home > Candles & Lights");
    cr_assert_float_eq(it->price, 2.55, 1e-9);
    cr_assert_str_eq(it->currency, "GBP");
    cr_assert_str_eq(it->url, "/demo/product.html?id=85123A");
    cr_assert(it->available && it->visible);
    cr_assert_eq(it->stock, -1);
    cr_assert_eq(it->line, 2);
    it = find_item(c, "82567");
    cr_assert_str_eq(it->title, "Airline Lounge,Metal Sign", "quoted comma kept");
    cr_assert_str_eq(it->category, "Home > Signs & Wall Art");
    it = find_item(c, "22633");
    cr_assert_str_eq(it->title, "Hand Warmer Union Jack");
    cr_assert_str_eq(it->category, "Accessories");
    for (size_t i = 0; i < c->n; i++) {
        cr_assert(!tl_fmt_or_non_product(c->items[i].id), "%s", c->items[i].id);
        if (strcmp(c->items[i].id, "35004C") != 0) cr_assert(!isnan(c->items[i].price), "%s", c->items[i].id);
    }
    it = find_item(c, "35004C"); /* only in a cancellation in this cut */
    cr_assert(isnan(it->price));
    cr_assert_eq(it->available, 0);
    cr_assert_str_eq(it->title, "Set of 3 Coloured  Flying Ducks");
    free(c);
}

Test(formats, online_retail_gzip_and_reopened_invoice)
{
    /* an invoice interrupted by another invoice (as 542806 in the real file)
     * is delivered once with all its lines */
    const char *csv = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
                      "542806,48194,DOORMAT HEARTS,1,2011-02-01 11:19:00,7.95,12836.0,United Kingdom\n"
                      "542806,21524,DOORMAT SPOTTY HOME SWEET HOME,1,2011-02-01 11:19:00,7.95,12836.0,United Kingdom\n"
                      "C542805,22156,HEART DECORATION WITH PEARLS ,-1,2011-02-01 11:19:00,0.85,14606.0,United Kingdom\n"
                      "542806,22692,DOORMAT WELCOME TO OUR HOME,2,2011-02-01 11:20:00,7.95,12836.0,United Kingdom\n"
                      "542807,22692,DOORMAT WELCOME TO OUR HOME,3,12/1/2011 9:05,7.95,,EIRE\n";
    char gz[] = "/tmp/tl_fmt_orXXXXXX";
    close(mkstemp(gz));
    gzFile g = gzopen(gz, "wb");
    gzwrite(g, csv, (unsigned)strlen(csv));
    gzclose(g);
    struct coll *c = coll_new();
    struct tl_fmt_summary s;
    struct tl_err e;
    cr_assert_eq(tl_fmt_import_orders(gz, "online-retail", NULL, order_cb, c, &s, &e), TL_OK, "%s", e.msg);
    cr_assert_eq(c->n, 3);
    cr_assert_str_eq(c->orders[0].id, "542806");
    cr_assert_eq(c->orders[0].n, 3);
    cr_assert_float_eq(c->orders[0].qty_sum, 4.0, 1e-9);
    cr_assert_str_eq(c->orders[1].id, "C542805");
    cr_assert_str_eq(c->orders[2].id, "542807");
    cr_assert_str_eq(c->orders[2].customer, "(null)", "guest order");
    cr_assert_str_eq(c->orders[2].country, "IE");
    cr_assert_eq(c->orders[2].ts, ts("2011-12-01T09:05:00Z"), "M/D/YYYY H:MM accepted");
    cr_assert_eq(s.returns, 1);
    unlink(gz);
    free(c);
}

Test(formats, online_retail_bad_rows)
{
    struct coll *c = coll_new();
    struct tl_fmt_summary s;
    struct tl_err e;
    enum tl_rc rc = tl_fmt_import_orders(FIXTURES "bad_online_retail.csv", "online-retail", NULL, order_cb, c, &s, &e);
    cr_assert_eq(rc, TL_EINVAL);
    cr_assert_eq(e.line, 3);
    cr_assert_eq(e.column, 4);
    cr_assert_str_eq(e.field, "Quantity");
    cr_assert(strstr(e.msg, "-6") != NULL, "%s", e.msg);

    c->n = 0;
    struct tl_fmt_opts o = {.skip_bad = 1};
    rc = tl_fmt_import_orders(FIXTURES "bad_online_retail.csv", "online-retail", &o, order_cb, c, &s, &e);
    cr_assert_eq(rc, TL_OK, "%s", e.msg);
    cr_assert_eq(s.skipped, 4);
    cr_assert_eq(c->n, 2);
    cr_assert_eq(c->orders[0].n, 1, "the bad second row of 536365 is left out");
    cr_assert_str_eq(c->orders[1].id, "536369");
    cr_assert(strstr(s.skipped_detail, "line 3, column 4 (Quantity)") != NULL, "%s", s.skipped_detail);
    cr_assert(strstr(s.skipped_detail, "line 4, column 5 (InvoiceDate)") != NULL, "%s", s.skipped_detail);
    cr_assert(strstr(s.skipped_detail, "line 5, column 6 (UnitPrice)") != NULL, "%s", s.skipped_detail);
    cr_assert(strstr(s.skipped_detail, "line 6, column 4 (Quantity)") != NULL, "%s", s.skipped_detail);

    /* the catalog pass is lenient about the order rules (sign of quantity,
     * negative price) but not about malformed values */
    c->n = 0;
    rc = tl_fmt_import_catalog(FIXTURES "bad_online_retail.csv", "online-retail", &o, item_cb, c, &s, &e);
    cr_assert_eq(rc, TL_OK);
    cr_assert_eq(s.skipped, 2, "bad date, bad quantity");
    cr_assert_eq(c->n, 4);
    const struct got_item *it = find_item(c, "84879");
    cr_assert(isnan(it->price), "never sold at a positive price");
    cr_assert_eq(it->available, 0);
    cr_assert_str_eq(it->title, "Assorted Colour Bird Ornament");
    free(c);
}

Test(formats, country_and_category_tables)
{
    static const char *const names[][2] = {{"United Kingdom", "GB"},
                                           {"EIRE", "IE"},
                                           {"USA", "US"},
                                           {"RSA", "ZA"},
                                           {"Germany", "DE"},
                                           {"France", "FR"},
                                           {"Spain", "ES"},
                                           {"Netherlands", "NL"},
                                           {"Belgium", "BE"},
                                           {"Switzerland", "CH"},
                                           {"Portugal", "PT"},
                                           {"Australia", "AU"},
                                           {"Norway", "NO"},
                                           {"Italy", "IT"},
                                           {"Finland", "FI"},
                                           {"Cyprus", "CY"},
                                           {"Sweden", "SE"},
                                           {"Austria", "AT"},
                                           {"Denmark", "DK"},
                                           {"Japan", "JP"},
                                           {"Poland", "PL"},
                                           {"Israel", "IL"},
                                           {"Hong Kong", "HK"},
                                           {"Singapore", "SG"},
                                           {"Iceland", "IS"},
                                           {"Canada", "CA"},
                                           {"Greece", "GR"},
                                           {"Malta", "MT"},
                                           {"United Arab Emirates", "AE"},
                                           {"Lebanon", "LB"},
                                           {"Lithuania", "LT"},
                                           {"Brazil", "BR"},
                                           {"Czech Republic", "CZ"},
                                           {"Bahrain", "BH"},
                                           {"Saudi Arabia", "SA"},
                                           {"united kingdom", "GB"}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *code = tl_fmt_country_code(names[i][0]);
        cr_assert_not_null(code, "%s", names[i][0]);
        cr_assert_str_eq(code, names[i][1], "%s", names[i][0]);
    }
    cr_assert_null(tl_fmt_country_code("Channel Islands"));
    cr_assert_null(tl_fmt_country_code("Unspecified"));
    cr_assert_null(tl_fmt_country_code("European Community"));
    cr_assert_null(tl_fmt_country_code("Atlantis"));

    cr_assert_str_eq(tl_fmt_demo_category("PAPER CHAIN KIT 50'S CHRISTMAS "), "Seasonal > Christmas");
    cr_assert_str_eq(tl_fmt_demo_category("LUNCH BAG RED RETROSPOT"), "Bags");
    cr_assert_str_eq(tl_fmt_demo_category("SET 2 TEA TOWELS I LOVE LONDON "), "Home > Textiles");
    cr_assert_str_eq(tl_fmt_demo_category("RED RETROSPOT MUG"), "Kitchen > Mugs & Cups");
    cr_assert_str_eq(tl_fmt_demo_category("PINK CANDLE"), "Home > Candles & Lights");
    cr_assert_str_eq(tl_fmt_demo_category("BIRTHDAY CARD, RETRO SPOT"), "Stationery > Cards");
    cr_assert_str_eq(tl_fmt_demo_category("CARDHOLDER GINGHAM"), "Other", "whole words only");
    cr_assert_str_eq(tl_fmt_demo_category(""), "Other");
    cr_assert_str_eq(tl_fmt_demo_category(NULL), "Other");

    const char *np[] = {"POST", "D", "M", "m", "DOT", "BANK CHARGES", "C2", "CRUK", "AMAZONFEE", "S", "PADS", "B"};
    for (size_t i = 0; i < sizeof np / sizeof np[0]; i++) cr_assert(tl_fmt_or_non_product(np[i]), "%s", np[i]);
    cr_assert_not(tl_fmt_or_non_product("85123A"));
    cr_assert_not(tl_fmt_or_non_product("DCGSSGIRL"));
}

/* ---- catalogs ---- */

Test(formats, catalog_csv)
{
    struct coll *c = coll_new();
    struct tl_fmt_summary s;
    struct tl_err e;
    struct tl_fmt_opts o = {.currency = "GBP"};
    cr_assert_eq(tl_fmt_import_catalog(FIXTURES "catalog.csv", NULL, &o, item_cb, c, &s, &e), TL_OK, "%s", e.msg);
    cr_assert_eq(c->n, 4);
    const struct got_item *it = &c->items[0];
    cr_assert_str_eq(it->id, "mug-red", "BOM before the first column name");
    cr_assert_str_eq(it->currency, "GBP", "upper-cased");
    cr_assert_str_eq(it->tags, "[\"kitchen\",\"gift\",\"mug\"]");
    cr_assert_str_eq(it->attrs, "{\"colour\":\"red\"}", "unknown column -> attrs");
    cr_assert_str_eq(it->desc, "A red mug, 300 ml.\r\nDishwasher safe.");
    cr_assert_eq(it->stock, 12);
    cr_assert_float_eq(it->price, 8.5, 1e-9);
    cr_assert_eq(it->line, 2);
    it = &c->items[1];
    cr_assert_str_eq(it->title, "Blue \"Classic\" Plate");
    cr_assert_eq(it->line, 4);
    cr_assert_str_eq(it->currency, "EUR");
    cr_assert(it->available && it->visible, "defaults");
    cr_assert_eq(it->stock, -1);
    cr_assert_str_eq(it->tags, "(null)");
    it = &c->items[2];
    cr_assert(isnan(it->price));
    cr_assert_str_eq(it->currency, "GBP", "default currency from the options");
    cr_assert_eq(it->available, 0);
    cr_assert_eq(it->visible, 0);
    cr_assert_eq(it->stock, 0);
    cr_assert_eq(c->items[3].line, 7, "blank line counted");
    cr_assert_eq(s.lines, 7);
    free(c);
}

Test(formats, catalog_ndjson)
{
    struct coll *c = coll_new();
    struct tl_fmt_summary s;
    struct tl_err e;
    cr_assert_eq(tl_fmt_import_catalog(FIXTURES "catalog.ndjson", "ndjson", NULL, item_cb, c, &s, &e), TL_OK, "%s",
                 e.msg);
    cr_assert_eq(c->n, 3);
    cr_assert_str_eq(c->items[0].tags, "[\"kitchen\",\"gift\"]");
    cr_assert_str_eq(c->items[0].attrs, "{\"colour\":\"red\",\"volume_ml\":300}");
    cr_assert_str_eq(c->items[1].id, "1002", "integer id");
    cr_assert_float_eq(c->items[1].price, 12.0, 1e-9);
    cr_assert_str_eq(c->items[1].currency, "EUR");
    cr_assert_eq(c->items[1].visible, 0);
    cr_assert_str_eq(c->items[1].attrs, "{\"material\":\"stoneware\"}",
                     "unknown top-level keys ignored, as in the API");
    cr_assert_eq(c->items[1].line, 3);
    cr_assert_str_eq(c->items[2].desc, "A3 print\nmatte");
    cr_assert_eq(c->items[2].available, 0, "stock 0");
    free(c);
}

Test(formats, catalog_shopify)
{
    struct coll *c = coll_new();
    struct tl_fmt_summary s;
    struct tl_err e;
    struct tl_fmt_opts o = {.currency = "GBP"};
    cr_assert_eq(tl_fmt_import_catalog(FIXTURES "shopify_products.csv", "shopify", &o, item_cb, c, &s, &e), TL_OK, "%s",
                 e.msg);
    cr_assert_eq(c->n, 4, "one item per Handle");
    const struct got_item *it = find_item(c, "ocean-blue-shirt");
    cr_assert_str_eq(it->title, "Ocean Blue Shirt");
    cr_assert_float_eq(it->price, 45.5, 1e-9, "lowest Variant Price");
    cr_assert_eq(it->stock, 15, "10 + 0 + max(-2,0) + 5");
    cr_assert(it->available && it->visible);
    cr_assert_str_eq(it->brand, "partners-demo");
    cr_assert_str_eq(it->category, "Apparel & Accessories > Clothing > Shirts & Tops");
    cr_assert_str_eq(it->url, "/products/ocean-blue-shirt");
    cr_assert(strstr(it->image, "young-man-in-bright-fashion") != NULL, "first Image Src");
    cr_assert_str_eq(it->tags, "[\"men\",\"shirt\",\"blue\"]");
    cr_assert_str_eq(it->desc,
                     "Ocean blue cotton shirt with a narrow collar & buttons down the front. 100% cotton Long sleeves");
    cr_assert(strstr(it->attrs, "\"Size\":\"xs, s, m, l\"") != NULL, "%s", it->attrs);
    cr_assert(strstr(it->attrs, "\"sku\":\"OBS-XS\"") != NULL, "%s", it->attrs);
    cr_assert_str_eq(it->currency, "GBP");
    cr_assert_eq(it->line, 2);
    it = find_item(c, "classic-varsity-top");
    cr_assert_str_eq(it->category, "Tops", "Type when Product Category is empty");
    cr_assert_eq(it->available, 0);
    cr_assert_eq(it->visible, 0, "draft");
    cr_assert_eq(it->line, 8);
    it = find_item(c, "yellow-wool-jumper");
    cr_assert_eq(it->stock, -1, "inventory not tracked");
    cr_assert(it->available);
    cr_assert_float_eq(it->price, 75.0, 1e-9);
    cr_assert_str_eq(it->desc, "Knitted jumper in a soft, warm wool blend. Hand wash only.", "script dropped");
    cr_assert(strstr(it->attrs, "\"Color\":\"Yellow, Mustard\"") != NULL, "%s", it->attrs);
    it = find_item(c, "gift-card");
    cr_assert_eq(it->visible, 0, "Published FALSE");
    free(c);
}

Test(formats, catalog_woocommerce)
{
    struct coll *c = coll_new();
    struct tl_fmt_summary s;
    struct tl_err e;
    long before = tl_alloc_live();
    cr_assert_eq(tl_fmt_import_catalog(FIXTURES "woocommerce_products.csv", "woocommerce", NULL, item_cb, c, &s, &e),
                 TL_OK, "%s", e.msg);
    cr_assert_eq(tl_alloc_live(), before, "leak");
    cr_assert_eq(c->n, 6);
    cr_assert_eq(s.dropped, 1, "variation of a missing parent");
    const struct got_item *it = find_item(c, "44");
    cr_assert_float_eq(it->price, 15.0, 1e-9, "lowest variation price (a sale price)");
    cr_assert_eq(it->stock, 8, "5 + 0 + 3, variations matched by id:44 and by parent SKU");
    cr_assert(it->available && it->visible);
    cr_assert_str_eq(it->category, "Clothing > Tshirts");
    cr_assert_str_eq(it->brand, "Woo");
    cr_assert_str_eq(it->tags, "[\"cotton\",\"summer\"]");
    cr_assert(strstr(it->image, "vneck-tee-2.jpg") != NULL);
    cr_assert(strstr(it->attrs, "\"Size\":\"Large, Medium, Small\"") != NULL, "%s", it->attrs);
    cr_assert_eq(it->line, 2);
    it = find_item(c, "60");
    cr_assert_float_eq(it->price, 42.0, 1e-9, "variation listed before its parent");
    cr_assert_eq(it->stock, 7);
    cr_assert_str_eq(it->desc, "A warm hoodie, with \"pockets\" & a hood.");
    it = find_item(c, "53");
    cr_assert_float_eq(it->price, 18.0, 1e-9, "sale price");
    cr_assert_str_eq(it->desc, "This is a simple product.", "short description when Description is empty");
    cr_assert_str_eq(it->category, "Clothing > Accessories", "first of several categories");
    cr_assert(strstr(it->attrs, "\"regular_price\":\"20\"") != NULL, "%s", it->attrs);
    it = find_item(c, "70");
    cr_assert_str_eq(it->category, "Music, Albums", "escaped comma");
    cr_assert_str_eq(it->attrs, "(null)");
    it = find_item(c, "71");
    cr_assert_eq(it->visible, 0, "hidden");
    cr_assert_eq(it->available, 0);
    it = find_item(c, "72");
    cr_assert_eq(it->visible, 0, "draft (-1)");
    free(c);
}

/* ---- orders and customers ---- */

Test(formats, orders_csv_and_ndjson_agree)
{
    const char *files[] = {FIXTURES "orders.csv", FIXTURES "orders.ndjson"};
    const char *fmts[] = {"csv", "ndjson"};
    for (int k = 0; k < 2; k++) {
        struct coll *c = coll_new();
        struct tl_fmt_summary s;
        struct tl_err e;
        cr_assert_eq(tl_fmt_import_orders(files[k], fmts[k], NULL, order_cb, c, &s, &e), TL_OK, "%s", e.msg);
        cr_assert_eq(c->n, 3, "%s", fmts[k]);
        cr_assert_eq(s.returns, 1);
        const struct got_order *o = &c->orders[0];
        cr_assert_str_eq(o->id, "1001");
        cr_assert_eq(o->n, 2);
        cr_assert_str_eq(o->customer, "cust-1");
        cr_assert_eq(o->ts, ts("2024-05-01T10:00:00Z"));
        cr_assert_float_eq(o->qty_sum, 3.0, 1e-9);
        o = &c->orders[1];
        cr_assert_str_eq(o->id, "1002");
        cr_assert_str_eq(o->customer, "(null)");
        cr_assert_str_eq(o->country, "FR");
        cr_assert_str_eq(o->currency, "EUR");
        cr_assert_eq(o->ts, ts("2024-05-02T09:30:00Z"));
        o = &c->orders[2];
        cr_assert(o->is_return);
        cr_assert_eq(o->ts, ts("2024-05-03T10:00:00Z"));
        free(c);
    }
}

Test(formats, customers_csv_and_ndjson)
{
    struct coll *c = coll_new();
    struct tl_fmt_summary s;
    struct tl_err e;
    cr_assert_eq(tl_fmt_import_customers(FIXTURES "customers.csv", NULL, NULL, cust_cb, c, &s, &e), TL_OK, "%s", e.msg);
    cr_assert_eq(c->n, 3);
    cr_assert_str_eq(c->custs[0].email, "ann@example.com");
    cr_assert_eq(c->custs[0].ce, 1);
    cr_assert_eq(c->custs[0].cp, 1);
    cr_assert_str_eq(c->custs[0].tier, "gold");
    cr_assert_str_eq(c->custs[1].name, "Doe, John");
    cr_assert_str_eq(c->custs[1].country, "US", "country name accepted");
    cr_assert_eq(c->custs[1].ce, -1, "unknown consent");
    cr_assert_eq(c->custs[1].cp, 0);
    cr_assert_str_eq(c->custs[2].country, "IE", "lower-case code");
    c->n = 0;
    cr_assert_eq(tl_fmt_import_customers(FIXTURES "customers.ndjson", "ndjson", NULL, cust_cb, c, &s, &e), TL_OK);
    cr_assert_eq(c->n, 2);
    cr_assert_str_eq(c->custs[1].id, "17850");
    cr_assert_eq(c->custs[1].ce, 0);
    free(c);
}

/* ---- bad input ---- */

Test(formats, truncated_quote_is_fatal_even_with_skip_bad)
{
    struct tl_fmt_opts o = {.skip_bad = 1};
    struct coll *c = coll_new();
    struct tl_fmt_summary s;
    struct tl_err e;
    enum tl_rc rc = tl_fmt_import_catalog(FIXTURES "bad_truncated_quote.csv", "csv", &o, item_cb, c, &s, &e);
    cr_assert_eq(rc, TL_EPARSE);
    cr_assert_eq(e.line, 3, "line where the quote opened");
    cr_assert(strstr(e.msg, "unterminated") != NULL, "%s", e.msg);
    cr_assert_eq(c->n, 1);
    free(c);
}

Test(formats, wrong_types_strict_and_skipped)
{
    struct coll *c = coll_new();
    struct tl_fmt_summary s;
    struct tl_err e;
    enum tl_rc rc = tl_fmt_import_catalog(FIXTURES "bad_types_catalog.csv", "csv", NULL, item_cb, c, &s, &e);
    cr_assert_eq(rc, TL_EINVAL);
    cr_assert_eq(e.line, 3);
    cr_assert_eq(e.column, 3);
    cr_assert_str_eq(e.field, "price");
    cr_assert(strstr(e.msg, "abc") != NULL);
    char d[512];
    cr_assert_str_eq(tl_fmt_describe_err(&e, d, sizeof d), "line 3, column 3 (price): expected a number, got \"abc\"");

    c->n = 0;
    struct tl_fmt_opts o = {.skip_bad = 1};
    rc = tl_fmt_import_catalog(FIXTURES "bad_types_catalog.csv", "csv", &o, item_cb, c, &s, &e);
    cr_assert_eq(rc, TL_OK);
    cr_assert_eq(c->n, 2);
    cr_assert_eq(s.skipped, 6);
    const char *want[] = {"line 4, column 4 (stock)", "line 5, column 5 (available)", "line 6, column 1 (id)",
                          "line 7, column 6 (currency)", "line 8, column 2: expected 6 fields"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        cr_assert(strstr(s.skipped_detail, want[i]) != NULL, "%s not in %s", want[i], s.skipped_detail);
    free(c);
}

Test(formats, skipped_detail_is_bounded)
{
    char path[] = "/tmp/tl_fmt_manyXXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "id,title,price\n");
    for (int i = 0; i < 50; i++) fprintf(f, "x%d,Item %d,not-a-number-%d\n", i, i, i);
    fprintf(f, "good,Good,1\n");
    fclose(f);
    struct coll *c = coll_new();
    struct tl_fmt_summary s;
    struct tl_err e;
    struct tl_fmt_opts o = {.skip_bad = 1};
    cr_assert_eq(tl_fmt_import_catalog(path, "csv", &o, item_cb, c, &s, &e), TL_OK);
    cr_assert_eq(s.skipped, 50);
    cr_assert_eq(c->n, 1);
    cr_assert(strlen(s.skipped_detail) < sizeof s.skipped_detail);
    int n = 0;
    for (const char *p = s.skipped_detail; (p = strstr(p, "line ")) != NULL; p++) n++;
    cr_assert(n <= TL_FMT_DETAIL_RECORDS && n >= 3, "%d entries: %s", n, s.skipped_detail);
    cr_assert(strstr(s.skipped_detail, "line 2,") != NULL);
    cr_assert_null(strstr(s.skipped_detail, "line 13,"), "only the first 10");
    unlink(path);
    free(c);
}

Test(formats, missing_required_column)
{
    struct coll *c = coll_new();
    struct tl_fmt_summary s;
    struct tl_err e;
    struct tl_fmt_opts o = {.skip_bad = 1};
    enum tl_rc rc = tl_fmt_import_catalog(FIXTURES "bad_missing_column.csv", "csv", &o, item_cb, c, &s, &e);
    cr_assert_eq(rc, TL_EINVAL);
    cr_assert_str_eq(e.field, "title");
    cr_assert_eq(e.line, 1);
    cr_assert_eq(c->n, 0);
    rc = tl_fmt_import_orders(FIXTURES "catalog.csv", "online-retail", &o, order_cb, c, &s, &e);
    cr_assert_eq(rc, TL_EINVAL);
    cr_assert_str_eq(e.field, "InvoiceNo");
    free(c);
}

Test(formats, bad_ndjson_orders)
{
    struct coll *c = coll_new();
    struct tl_fmt_summary s;
    struct tl_err e;
    enum tl_rc rc = tl_fmt_import_orders(FIXTURES "bad_orders.ndjson", "ndjson", NULL, order_cb, c, &s, &e);
    cr_assert_eq(rc, TL_EPARSE);
    cr_assert_eq(e.line, 2);
    cr_assert(strstr(e.msg, "invalid JSON") != NULL);
    c->n = 0;
    struct tl_fmt_opts o = {.skip_bad = 1};
    rc = tl_fmt_import_orders(FIXTURES "bad_orders.ndjson", "ndjson", &o, order_cb, c, &s, &e);
    cr_assert_eq(rc, TL_OK);
    cr_assert_eq(c->n, 2);
    cr_assert_eq(s.skipped, 5);
    cr_assert(strstr(s.skipped_detail, "line 3 (timestamp)") != NULL, "%s", s.skipped_detail);
    cr_assert(strstr(s.skipped_detail, "line 4 (lines[0].quantity)") != NULL, "%s", s.skipped_detail);
    cr_assert(strstr(s.skipped_detail, "line 6 (lines)") != NULL, "%s", s.skipped_detail);
    free(c);
}

Test(formats, bad_values_in_own_formats)
{
    struct {
        const char *kind, *fmt, *content, *field;
        long line, column;
    } cases[] = {
        {"orders", "csv", "order_id,timestamp,item_id,quantity\n1,2024-01-01,a,0\n", "quantity", 2, 4},
        {"orders", "csv", "order_id,timestamp,item_id,quantity,country\n1,2024-13-01,a,1,GB\n", "timestamp", 2, 2},
        {"orders", "csv", "order_id,timestamp,item_id,quantity,country\n1,2024-01-01,a,1,Narnia\n", "country", 2, 5},
        {"orders", "ndjson", "{\"order_id\":\"1\",\"timestamp\":\"2024-01-01\",\"lines\":[{\"quantity\":1}]}\n",
         "lines[0].item_id", 1, 0},
        {"customers", "csv", "id,email\nc1,not-an-email\n", "email", 2, 2},
        {"customers", "csv", "id,consent_email\nc1,perhaps\n", "consent_email", 2, 2},
        {"customers", "ndjson", "{\"id\":\"c1\",\"consent_personalization\":\"x\"}\n", "consent_personalization", 1, 0},
        {"customers", "ndjson", "{\"id\":[1]}\n", "id", 1, 0},
        {"catalog", "ndjson", "{\"id\":\"a\"}\n", "title", 1, 0},
        {"catalog", "ndjson", "{\"id\":\"a\",\"title\":\"A\",\"price\":-1}\n", "price", 1, 0},
        {"catalog", "ndjson", "{\"id\":\"a\",\"title\":\"A\",\"tags\":[1]}\n", "tags[0]", 1, 0},
        {"catalog", "csv", "id,title,url\na,A,/p/a b\n", "url", 2, 3},
        {"catalog", "csv",
         "id,title,tags\na,A,x|"
         "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\n",
         "tags", 2, 3},
        {"catalog", "csv", "id,title,price,price\na,A,1,2\n", "price", 1, 4},
        {"catalog", "csv", "id,title\n\"a\x01\",x\n", "id", 2, 1},
        {"catalog", "csv", "id,title\nb,\"\xC3\x28\"\n", "title", 2, 2},
        {"catalog", "shopify", "Handle,Title,Variant Price\nh1,T,12\nh1,,abc\n", "Variant Price", 3, 3},
        {"catalog", "woocommerce", "ID,Name,Regular price\n5,X,-3\n", "Regular price", 2, 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[] = "/tmp/tl_fmt_caseXXXXXX";
        int fd = mkstemp(path);
        cr_assert_eq(write(fd, cases[i].content, strlen(cases[i].content)), (ssize_t)strlen(cases[i].content));
        close(fd);
        struct coll *c = coll_new();
        struct tl_err e;
        enum tl_rc rc;
        if (strcmp(cases[i].kind, "orders") == 0)
            rc = tl_fmt_import_orders(path, cases[i].fmt, NULL, order_cb, c, NULL, &e);
        else if (strcmp(cases[i].kind, "customers") == 0)
            rc = tl_fmt_import_customers(path, cases[i].fmt, NULL, cust_cb, c, NULL, &e);
        else
            rc = tl_fmt_import_catalog(path, cases[i].fmt, NULL, item_cb, c, NULL, &e);
        cr_assert_eq(rc, TL_EINVAL, "case %zu: rc %d %s", i, rc, e.msg);
        cr_assert_str_eq(e.field, cases[i].field, "case %zu: %s", i, e.msg);
        cr_assert_eq(e.line, cases[i].line, "case %zu", i);
        cr_assert_eq(e.column, cases[i].column, "case %zu", i);
        cr_assert_eq(c->n, 0, "case %zu", i);
        unlink(path);
        free(c);
    }
}

Test(formats, callback_stops_the_import)
{
    struct coll *c = coll_new();
    c->stop_at = 2;
    struct tl_fmt_summary s;
    struct tl_err e;
    long before = tl_alloc_live();
    enum tl_rc rc = tl_fmt_import_catalog(FIXTURES "catalog.csv", "csv", NULL, item_cb, c, &s, &e);
    cr_assert_eq(rc, TL_ESTORE);
    cr_assert_eq(c->n, 1);
    cr_assert_eq(s.records, 1);
    cr_assert_eq(e.line, 4);
    cr_assert(strstr(e.msg, "stopped") != NULL);
    c->n = 0;
    rc = tl_fmt_import_orders(FIXTURES "online_retail_200.csv", "online-retail", NULL, order_cb, c, &s, &e);
    cr_assert_eq(rc, TL_ESTORE);
    c->n = 0;
    rc = tl_fmt_import_catalog(FIXTURES "woocommerce_products.csv", "woocommerce", NULL, item_cb, c, &s, &e);
    cr_assert_eq(rc, TL_ESTORE);
    cr_assert_eq(tl_alloc_live(), before, "leak after a stop");
    free(c);
}

Test(formats, unknown_format_and_missing_file)
{
    struct tl_err e;
    cr_assert_eq(tl_fmt_import_catalog(FIXTURES "catalog.csv", "xml", NULL, item_cb, NULL, NULL, &e), TL_EINVAL);
    cr_assert_str_eq(e.field, "format");
    cr_assert_eq(tl_fmt_import_orders("/nonexistent.csv", "csv", NULL, order_cb, NULL, NULL, &e), TL_EIO);
    cr_assert(tl_fmt_supported("catalog", "shopify"));
    cr_assert(tl_fmt_supported("catalog", NULL));
    cr_assert(tl_fmt_supported("orders", "online-retail"));
    cr_assert_not(tl_fmt_supported("customers", "shopify"));
    cr_assert_not(tl_fmt_supported("events", "csv"));
}

static uint64_t prog_calls, prog_done, prog_total;
static void progress_cb(void *ctx, uint64_t done, uint64_t total, uint64_t records)
{
    prog_calls++;
    prog_done = done;
    prog_total = total;
}

Test(formats, progress_reports_bytes)
{
    struct tl_fmt_opts o = {.progress = progress_cb};
    struct coll *c = coll_new();
    cr_assert_eq(tl_fmt_import_orders(FIXTURES "online_retail_200.csv", "online-retail", &o, order_cb, c, NULL, NULL),
                 TL_OK);
    struct stat st;
    stat(FIXTURES "online_retail_200.csv", &st);
    cr_assert(prog_calls >= 1);
    cr_assert_eq(prog_total, (uint64_t)st.st_size);
    cr_assert_eq(prog_done, (uint64_t)st.st_size);
    free(c);
}

Test(formats, allocation_failures_are_clean)
{
    const char *files[] = {"catalog.csv", "shopify_products.csv", "woocommerce_products.csv", "online_retail_200.csv"};
    const char *fmts[] = {"csv", "shopify", "woocommerce", "online-retail"};
    for (int k = 0; k < 4; k++) {
        char path[256];
        snprintf(path, sizeof path, FIXTURES "%s", files[k]);
        for (long n = 0; n < 40; n++) {
            struct coll *c = coll_new();
            struct tl_err e;
            long before = tl_alloc_live();
            tl_alloc_fail_after(n);
            enum tl_rc rc = tl_fmt_import_catalog(path, fmts[k], NULL, item_cb, c, NULL, &e);
            tl_alloc_fail_after(-1);
            cr_assert(rc == TL_OK || rc == TL_ENOMEM, "%s fail_after %ld: rc %d %s", fmts[k], n, rc, e.msg);
            cr_assert_eq(tl_alloc_live(), before, "%s fail_after %ld leaks", fmts[k], n);
            free(c);
        }
    }
}

static int count_order(void *ctx, const struct tl_order *o, long line)
{
    ((uint64_t *)ctx)[0]++;
    ((uint64_t *)ctx)[1] += o->n_lines;
    return 0;
}

static int count_item(void *ctx, const struct tl_item *it, long line)
{
    (*(uint64_t *)ctx)++;
    return 0;
}

/* The real file, when ../shared/data is present: counts and speed. */
Test(formats, real_online_retail_file, .timeout = 60)
{
    if (access(REAL_OR, R_OK) != 0) cr_skip_test("%s not present", REAL_OR);
    struct tl_fmt_opts o = {.skip_bad = 0}; /* the real file imports without --skip-bad */
    struct tl_fmt_summary s;
    struct tl_err e;
    uint64_t counts[2] = {0, 0};
    uint64_t t0 = tl_mono_ns();
    cr_assert_eq(tl_fmt_import_orders(REAL_OR, "online-retail", &o, count_order, counts, &s, &e), TL_OK, "%s", e.msg);
    double secs = (double)(tl_mono_ns() - t0) / 1e9;
    cr_log_info("online retail orders: %llu orders, %llu lines, %llu returns, %llu skipped, %llu dropped in %.3f s",
                (unsigned long long)counts[0], (unsigned long long)counts[1], (unsigned long long)s.returns,
                (unsigned long long)s.skipped, (unsigned long long)s.dropped, secs);
    cr_assert_eq(s.lines, 541910);
    cr_assert_eq(s.skipped, 0, "stock adjustments and non-product codes are dropped, not errors");
    cr_assert_geq(s.dropped, 1336, "1,336 non-C rows with quantity <= 0, price 0 and no customer are dropped");
    cr_assert_eq(counts[1] + s.skipped + s.dropped, 541909, "every row accounted for");
    cr_assert(counts[0] > 23000 && counts[0] < 25900);
    uint64_t items = 0;
    t0 = tl_mono_ns();
    cr_assert_eq(tl_fmt_import_catalog(REAL_OR, "online-retail", NULL, count_item, &items, &s, &e), TL_OK, "%s", e.msg);
    secs = (double)(tl_mono_ns() - t0) / 1e9;
    cr_log_info("online retail catalog: %llu items in %.3f s", (unsigned long long)items, secs);
    cr_assert_eq(items, 3947, "4,070 codes, 112 case duplicates, 11 non-product codes");
}
