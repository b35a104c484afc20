/* The events of a store scan handed to a worker thread, which runs the
 * scan's callback on them in scan order while the scanning thread reads
 * and decodes the next ones (src/core/relay.h). Each event is copied with
 * its strings into a batch; an event with lines (no store scan delivers
 * those), or too large for a batch, runs on the scanning thread once the
 * worker has caught up, so the order holds. The callback's return value is
 * ignored: it cannot stop the scan. It must not use the store handle being
 * scanned (the worker runs beside the scan). */
#ifndef TL_ENGINE_SCAN_RELAY_H
#define TL_ENGINE_SCAN_RELAY_H

#include "store/store.h"

struct tl_scan_relay;

/* NULL only when out of memory; without a worker thread the callback runs
 * on the scanning thread. */
struct tl_scan_relay *tl_scan_relay_start(tl_event_cb cb, void *ctx);
/* The callback to give the store's event_scan, with the relay as ctx. */
int tl_scan_relay_event(void *relay, const struct tl_event *ev);
/* Waits until the callback has run on every event, stops, frees. */
void tl_scan_relay_finish(struct tl_scan_relay *r);

#endif
