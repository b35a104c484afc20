/* The single store writer: a thread that runs every write job of the
 * process against one store handle, batching all jobs queued while the
 * previous commit was in flight into one transaction (group commit).
 *
 * A caller of tl_writer_submit() blocks until its job is committed (durable
 * as the store's sync mode says) or failed. If a batch fails, the writer
 * rolls it back and replays each job in its own transaction, so one bad job
 * never fails its neighbours. Queue depth is bounded by weight (events):
 * over the limit, submit answers TL_EBUSY at once (the HTTP layer turns it
 * into 503 + Retry-After). */
#ifndef TL_ENGINE_WRITER_H
#define TL_ENGINE_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

struct tl_writer;

/* Performs the writes of one job inside the writer's transaction. */
typedef enum tl_rc (*tl_wjob_fn)(const struct tl_store_ops *ops, struct tl_store *st, void *arg);

struct tl_writer *tl_writer_start(const struct tl_store_ops *ops, struct tl_store *st, size_t queue_max);
/* Drain the queue, stop the thread. The store handle stays open (caller's). */
void tl_writer_stop(struct tl_writer *w);

/* Run fn(arg) in the writer and wait. weight counts toward queue_max. */
enum tl_rc tl_writer_submit(struct tl_writer *w, tl_wjob_fn fn, void *arg, size_t weight);
/* The same for writes that can be rebuilt (profile snapshots): when every
 * job of its batch was submitted this way, the commit is not synced
 * (store.h skip_sync): it reaches the disk with the next synced commit or
 * log copy, and a power loss before that loses it whole. */
enum tl_rc tl_writer_submit_unsynced(struct tl_writer *w, tl_wjob_fn fn, void *arg, size_t weight);
/* Run fn(arg) in the writer thread outside any transaction, after the
 * jobs queued before it and before those queued after, and wait: for
 * settings a store cannot change inside a transaction (store.h solo). */
enum tl_rc tl_writer_run_bare(struct tl_writer *w, tl_wjob_fn fn, void *arg);
/* Queue fn(arg) without waiting; free_fn(arg) (may be NULL) runs after it. */
enum tl_rc tl_writer_submit_async(struct tl_writer *w, tl_wjob_fn fn, void *arg, void (*free_fn)(void *),
                                  size_t weight);
/* Wait until everything queued before this call is committed. */
void tl_writer_flush(struct tl_writer *w);
/* Current queued weight. */
size_t tl_writer_depth(struct tl_writer *w);
/* Number of transactions committed (for tests and metrics). */
uint64_t tl_writer_commits(struct tl_writer *w);

#endif
