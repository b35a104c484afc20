/* The HTTP API server: libmicrohttpd with its own epoll threads in front of
 * the engine. Routes, auth, CORS, error bodies and status codes are
 * documented in docs/api.md.
 *
 * Lifetime: tl_http_start() listens on cfg->bind:cfg->port and serves until
 * tl_http_stop(), which stops accepting, lets in-flight requests finish (at
 * most TL_HTTP_DRAIN_MAX_MS) and joins the threads. The engine must outlive
 * the server: close the engine only after tl_http_stop() returned. */
#ifndef TL_HTTP_HTTP_H
#define TL_HTTP_HTTP_H

#include "core/err.h"
#include "engine/engine.h"

#define TL_HTTP_DRAIN_MAX_MS 30000 /* longest wait for in-flight requests */

struct tl_http;

/* Start serving. *out receives the server (owned by the caller, released by
 * tl_http_stop). Fails with TL_EIO naming "bind"/"port" when the address
 * cannot be bound, TL_EINVAL for an unparsable bind address. */
enum tl_rc tl_http_start(struct tl_engine *e, struct tl_http **out, struct tl_err *err);
/* The port actually bound (useful when cfg->port was 0). */
int tl_http_port(const struct tl_http *h);
/* Quiesce, drain in-flight requests, stop the threads, free h. NULL is a
 * no-op. */
void tl_http_stop(struct tl_http *h);

#endif
