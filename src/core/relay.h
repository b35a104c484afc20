/* An ordered hand-off of batches of bytes from one producer to worker
 * threads: the producer fills a batch while the workers process the one
 * before, so a sequential scan (reading a store, say) overlaps with the work
 * done on what it read. Every worker gets every batch, in the order they
 * were filled, and is told its own index, so the work can be split by kind
 * (worker 0 does one relation, worker 1 another) while each kind keeps the
 * producer's order. The layout of the records in a batch is the caller's.
 *
 * Two batches of batch_bytes: the producer waits only when it has filled
 * one while the workers are still on the other. One producer thread; fn
 * runs on the workers only, never on the producer. */
#ifndef TL_CORE_RELAY_H
#define TL_CORE_RELAY_H

#include <stddef.h>

#define TL_RELAY_WORKERS_MAX 4

struct tl_relay;
/* A whole batch, data[0..len), for worker `worker` (0-based). */
typedef void (*tl_relay_fn)(void *ctx, int worker, const unsigned char *data, size_t len);

/* workers in 1..TL_RELAY_WORKERS_MAX. NULL when out of memory or a thread
 * cannot start (the caller then does the work itself). */
struct tl_relay *tl_relay_start(int workers, size_t batch_bytes, tl_relay_fn fn, void *ctx);
/* Room for n bytes at the end of the batch being filled, handing that batch
 * to the workers first when it has less. NULL when n > batch_bytes. */
unsigned char *tl_relay_room(struct tl_relay *r, size_t n);
/* n bytes of the room just given are written. */
void tl_relay_used(struct tl_relay *r, size_t n);
/* Every batch filled so far processed; the workers idle until more. */
void tl_relay_drain(struct tl_relay *r);
/* Drain, stop the workers, free. NULL is a no-op. */
void tl_relay_finish(struct tl_relay *r);

#endif
