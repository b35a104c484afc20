/* A/B experiments (docs/experiments.md):
 *   PUT    /v1/experiments/{id}          create or replace (secret) -> the report
 *   GET    /v1/experiments               every experiment with its results (secret)
 *   GET    /v1/experiments/{id}          one (secret)
 *   DELETE /v1/experiments/{id}          (secret) -> {"deleted":"id"}
 *   GET    /v1/experiments/assignments?user_id=&anonymous_id=&page_type=&country=
 *                                        the shopper's arms (public, CORS) */
#include "http/handlers.h"

static int id_ok(struct tl_http_req *r)
{
    if (r->match.param_too_long) {
        tl_http_req_error(r, TL_EINVAL, "id", "experiment id is longer than 128 bytes");
        return 0;
    }
    return 1;
}

void tl_http_h_assign_get(struct tl_http_req *r)
{
    struct tl_err err;
    tl_err_clear(&err);
    enum tl_rc rc = tl_engine_assignments(r->engine, r->shop_id, tl_http_req_query(r, "user_id"),
                                          tl_http_req_query(r, "anonymous_id"), tl_http_req_query(r, "page_type"),
                                          tl_http_req_query(r, "country"), &r->out, &err);
    tl_http_req_finish(r, rc, &err);
}

void tl_http_h_experiments_get(struct tl_http_req *r)
{
    struct tl_err err;
    tl_err_clear(&err);
    enum tl_rc rc = tl_engine_experiments_get(r->engine, r->shop_id, NULL, &r->out, &err);
    tl_http_req_finish(r, rc, &err);
}

void tl_http_h_experiment_get(struct tl_http_req *r)
{
    if (!id_ok(r)) return;
    struct tl_err err;
    tl_err_clear(&err);
    enum tl_rc rc = tl_engine_experiments_get(r->engine, r->shop_id, r->match.param, &r->out, &err);
    tl_http_req_finish(r, rc, &err);
}

void tl_http_h_experiment_put(struct tl_http_req *r)
{
    if (!id_ok(r)) return;
    struct tl_err err;
    tl_err_clear(&err);
    if (r->body.len == 0) {
        tl_http_req_error(r, TL_EINVAL, NULL, "request body is empty: expected the experiment as a JSON object");
        return;
    }
    enum tl_rc rc =
        tl_engine_experiment_put(r->engine, r->shop_id, r->match.param, r->body.data, r->body.len, &r->out, &err);
    tl_http_req_finish(r, rc, &err);
}

void tl_http_h_experiment_delete(struct tl_http_req *r)
{
    if (!id_ok(r)) return;
    struct tl_err err;
    tl_err_clear(&err);
    enum tl_rc rc = tl_engine_experiment_delete(r->engine, r->shop_id, r->match.param, &r->out, &err);
    tl_http_req_finish(r, rc, &err);
}
