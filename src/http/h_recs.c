/* GET /v1/recommendations (public or secret key). Query parameters:
 *   type          popular | trending | recently_viewed (engine validates;
 *                 absent = the engine's default)
 *   user_id, anonymous_id, country, item_id   optional context
 *   limit         integer 1..100, default 10; anything else is 400 "limit"
 *   exclude       comma-separated item ids never to return
 *   category, brand, min_price, max_price   filters on the returned items
 *   max_per_category, max_per_brand         diversity caps (0..100, 0 = none)
 * The hot path: no allocation besides the response buffer the engine
 * fills, which is handed to libmicrohttpd without a copy. */
#include "http/handlers.h"

#define RECS_LIMIT_MIN 1
#define RECS_LIMIT_MAX 100
#define RECS_LIMIT_DEFAULT 10

void tl_http_h_recs_get(struct tl_http_req *r)
{
    struct tl_err err;
    tl_err_clear(&err);
    struct tl_rec_query q = {
        .type = tl_http_req_query(r, "type"),
        .user_id = tl_http_req_query(r, "user_id"),
        .anonymous_id = tl_http_req_query(r, "anonymous_id"),
        .country = tl_http_req_query(r, "country"),
        .page_type = tl_http_req_query(r, "page_type"),
        .item_id = tl_http_req_query(r, "item_id"),
        .exclude = tl_http_req_query(r, "exclude"),
        .category = tl_http_req_query(r, "category"),
        .brand = tl_http_req_query(r, "brand"),
        .limit = RECS_LIMIT_DEFAULT,
    };
    if (tl_http_parse_int(tl_http_req_query(r, "limit"), "limit", RECS_LIMIT_MIN, RECS_LIMIT_MAX, RECS_LIMIT_DEFAULT,
                          &q.limit, &err) != TL_OK ||
        tl_http_parse_price(tl_http_req_query(r, "min_price"), "min_price", &q.min_price, &err) != TL_OK ||
        tl_http_parse_price(tl_http_req_query(r, "max_price"), "max_price", &q.max_price, &err) != TL_OK ||
        tl_http_parse_int(tl_http_req_query(r, "max_per_category"), "max_per_category", 0, RECS_LIMIT_MAX, 0,
                          &q.max_per_category, &err) != TL_OK ||
        tl_http_parse_int(tl_http_req_query(r, "max_per_brand"), "max_per_brand", 0, RECS_LIMIT_MAX, 0,
                          &q.max_per_brand, &err) != TL_OK) {
        tl_http_req_error(r, err.rc, err.field, err.msg);
        return;
    }
    enum tl_rc rc = tl_engine_recommend(r->engine, r->shop_id, &q, &r->out, &err);
    tl_http_req_finish(r, rc, &err);
}
