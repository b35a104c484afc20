/* Search endpoints (public or secret key, CORS; the report: secret):
 *   GET /v1/search?q=&user_id=&anonymous_id=&category=&brand=&attrs=
 *                  &min_price=&max_price=&available=&sort=&page=&per_page=&facets=
 *   GET /v1/browse?category=... (same parameters, no q)
 *   GET /v1/search/suggest?q=&limit=
 *   GET /v1/admin/search?limit=
 * Parameter checks here are syntactic (integers, prices, booleans); the
 * engine checks meaning (sort names, category required for browse). See
 * docs/search.md. */
#include "http/handlers.h"

#include <math.h>

#define SEARCH_PER_PAGE_MAX 100
#define SEARCH_PAGE_MAX 10000

static void search(struct tl_http_req *r, int browse)
{
    struct tl_err err;
    tl_err_clear(&err);
    struct tl_search_req q = {
        .q = browse ? NULL : tl_http_req_query(r, "q"),
        .user_id = tl_http_req_query(r, "user_id"),
        .anonymous_id = tl_http_req_query(r, "anonymous_id"),
        .category = tl_http_req_query(r, "category"),
        .brand = tl_http_req_query(r, "brand"),
        .attrs = tl_http_req_query(r, "attrs"),
        .sort = tl_http_req_query(r, "sort"),
        .browse = browse,
        .min_price = NAN,
        .max_price = NAN,
    };
    if (tl_http_parse_int(tl_http_req_query(r, "page"), "page", 1, SEARCH_PAGE_MAX, 1, &q.page, &err) != TL_OK ||
        tl_http_parse_int(tl_http_req_query(r, "per_page"), "per_page", 1, SEARCH_PER_PAGE_MAX, 20, &q.per_page,
                          &err) != TL_OK ||
        tl_http_parse_price(tl_http_req_query(r, "min_price"), "min_price", &q.min_price, &err) != TL_OK ||
        tl_http_parse_price(tl_http_req_query(r, "max_price"), "max_price", &q.max_price, &err) != TL_OK ||
        tl_http_parse_bool(tl_http_req_query(r, "available"), "available", 0, &q.available_only, &err) != TL_OK ||
        tl_http_parse_bool(tl_http_req_query(r, "facets"), "facets", 1, &q.facets, &err) != TL_OK) {
        tl_http_req_error(r, err.rc, err.field, err.msg);
        return;
    }
    enum tl_rc rc = tl_engine_search(r->engine, r->shop_id, &q, &r->out, &err);
    tl_http_req_finish(r, rc, &err);
}

void tl_http_h_search_get(struct tl_http_req *r) { search(r, 0); }

void tl_http_h_browse_get(struct tl_http_req *r) { search(r, 1); }

void tl_http_h_suggest_get(struct tl_http_req *r)
{
    struct tl_err err;
    tl_err_clear(&err);
    long limit = 5;
    if (tl_http_parse_int(tl_http_req_query(r, "limit"), "limit", 1, 20, 5, &limit, &err) != TL_OK) {
        tl_http_req_error(r, err.rc, err.field, err.msg);
        return;
    }
    enum tl_rc rc = tl_engine_search_suggest(r->engine, r->shop_id, tl_http_req_query(r, "q"), limit, &r->out, &err);
    tl_http_req_finish(r, rc, &err);
}

void tl_http_h_search_report_get(struct tl_http_req *r)
{
    struct tl_err err;
    tl_err_clear(&err);
    long limit = 20;
    if (tl_http_parse_int(tl_http_req_query(r, "limit"), "limit", 1, 1000, 20, &limit, &err) != TL_OK) {
        tl_http_req_error(r, err.rc, err.field, err.msg);
        return;
    }
    enum tl_rc rc = tl_engine_search_report(r->engine, r->shop_id, limit, &r->out, &err);
    tl_http_req_finish(r, rc, &err);
}
