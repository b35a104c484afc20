/* Request handlers, one file per resource (h_*.c). Each runs once per
 * request after the body arrived and authentication passed (r->shop_id and
 * r->scope are set on keyed routes); it fills the response in r (req.h).
 * A handler never sees another shop's data: it passes r->shop_id to every
 * engine call. */
#ifndef TL_HTTP_HANDLERS_H
#define TL_HTTP_HANDLERS_H

#include "http/req.h"

/* h_events.c: POST /v1/events[?partial=true] */
void tl_http_h_events_post(struct tl_http_req *r);
/* h_items.c: PUT /v1/items[?partial=true], GET and DELETE /v1/items/{id} */
void tl_http_h_items_put(struct tl_http_req *r);
void tl_http_h_item_get(struct tl_http_req *r);
void tl_http_h_item_delete(struct tl_http_req *r);
/* h_identify.c: POST /v1/identify */
void tl_http_h_identify_post(struct tl_http_req *r);
/* h_users.c: GET /v1/users/{id}/profile */
void tl_http_h_profile_get(struct tl_http_req *r);
/* h_recs.c: GET /v1/recommendations */
void tl_http_h_recs_get(struct tl_http_req *r);
/* h_admin.c: GET /v1/admin/stats */
void tl_http_h_stats_get(struct tl_http_req *r);
/* h_admin.c: GET / POST /v1/admin/train */
void tl_http_h_train_get(struct tl_http_req *r);
void tl_http_h_train_post(struct tl_http_req *r);
/* h_health.c: GET /healthz, GET /metrics */
void tl_http_h_healthz_get(struct tl_http_req *r);
void tl_http_h_metrics_get(struct tl_http_req *r);
/* h_search.c: GET /v1/search, /v1/search/suggest, /v1/browse, /v1/admin/search */
void tl_http_h_search_get(struct tl_http_req *r);
void tl_http_h_suggest_get(struct tl_http_req *r);
void tl_http_h_browse_get(struct tl_http_req *r);
void tl_http_h_search_report_get(struct tl_http_req *r);
/* h_experiments.c: /v1/experiments[/{id}], /v1/experiments/assignments */
void tl_http_h_assign_get(struct tl_http_req *r);
void tl_http_h_experiments_get(struct tl_http_req *r);
void tl_http_h_experiment_get(struct tl_http_req *r);
void tl_http_h_experiment_put(struct tl_http_req *r);
void tl_http_h_experiment_delete(struct tl_http_req *r);
/* h_analytics.c: GET /v1/admin/kpis, GET /v1/admin/seasonal, GET /v1/admin/segments */
void tl_http_h_kpis_get(struct tl_http_req *r);
void tl_http_h_seasonal_get(struct tl_http_req *r);
void tl_http_h_segments_get(struct tl_http_req *r);
/* h_static.c: GET /tailor.js, /demo/..., /dashboard/... from cfg->web_root */
void tl_http_h_static_get(struct tl_http_req *r);

/* server.c: the server's metrics (for /metrics). */
struct tl_http_metrics *tl_http_server_metrics(struct tl_http *h);

#endif
