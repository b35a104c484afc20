/* Keyless operational endpoints:
 *   GET /healthz  {"status":"ok"} while the server accepts requests;
 *   GET /metrics  Prometheus text format 0.0.4 (HTTP series from metrics.c
 *                 plus the engine counters of tl_engine_metrics). */
#include "http/handlers.h"
#include "http/metrics.h"

void tl_http_h_healthz_get(struct tl_http_req *r) { tl_http_req_json(r, 200, "{\"status\":\"ok\"}"); }

void tl_http_h_metrics_get(struct tl_http_req *r)
{
    struct tl_engine_metrics em = {0};
    tl_engine_metrics(r->engine, &em);
    tl_buf_reset(&r->out);
    enum tl_rc rc = tl_http_metrics_render(tl_http_server_metrics(r->srv), &em, &r->out);
    if (rc != TL_OK) {
        tl_http_req_error(r, rc, NULL, "metrics exposition too large");
        return;
    }
    r->status = 200;
    r->content_type = "text/plain; version=0.0.4; charset=utf-8";
}
