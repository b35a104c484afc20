/* POST /v1/events (public or secret key): one JSON event, a JSON array or
 * NDJSON, at most cfg->max_body_bytes (server.c enforces it) and
 * TL_BATCH_MAX events (the engine enforces it). ?partial=true stores the
 * valid events of a batch and lists the rejected ones; without it a batch
 * with any invalid event stores nothing. Answers 200 once the accepted
 * events are durable: {"accepted":N,"duplicates":D,"rejected":[...]}. */
#include "http/handlers.h"

void tl_http_h_events_post(struct tl_http_req *r)
{
    tl_http_req_batch(r, "request body is empty: expected a JSON event, array or NDJSON", tl_engine_ingest_events);
}
