/* Analytics reports (secret key; docs/analytics.md):
 *   GET /v1/admin/kpis?from=YYYY-MM-DD&to=YYYY-MM-DD&by=widget|placement|model|segment|country|device
 *       (default: the last 30 days to today, by widget)
 *   GET /v1/admin/seasonal?limit=N   seasonal products and the audit of
 *       recommendations shown out of season
 *   GET /v1/admin/segments   micro-segments with descriptions and top
 *       products (docs/segments.md) */
#include "http/handlers.h"

void tl_http_h_kpis_get(struct tl_http_req *r)
{
    struct tl_err err;
    tl_err_clear(&err);
    enum tl_rc rc = tl_engine_kpi_report(r->engine, r->shop_id, tl_http_req_query(r, "from"),
                                         tl_http_req_query(r, "to"), tl_http_req_query(r, "by"), &r->out, &err);
    tl_http_req_finish(r, rc, &err);
}

void tl_http_h_seasonal_get(struct tl_http_req *r)
{
    struct tl_err err;
    tl_err_clear(&err);
    long limit = 100;
    if (tl_http_parse_int(tl_http_req_query(r, "limit"), "limit", 1, 100000, 100, &limit, &err) != TL_OK) {
        tl_http_req_error(r, err.rc, err.field, err.msg);
        return;
    }
    enum tl_rc rc = tl_engine_seasonal_report(r->engine, r->shop_id, limit, &r->out, &err);
    tl_http_req_finish(r, rc, &err);
}

void tl_http_h_segments_get(struct tl_http_req *r)
{
    struct tl_err err;
    tl_err_clear(&err);
    enum tl_rc rc = tl_engine_segments_report(r->engine, r->shop_id, &r->out, &err);
    tl_http_req_finish(r, rc, &err);
}
