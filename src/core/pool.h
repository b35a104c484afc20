/* A small fork-join thread pool for data-parallel loops inside one
 * computation (model training): `tl_pool_for` splits [0, n) into one
 * contiguous range per thread, runs range 0 on the caller and the others on
 * persistent workers, and returns when all are done.
 *
 * Why persistent workers: a training batch makes dozens of parallel calls;
 * creating threads per call costs tens of microseconds each, and a library
 * thread pool that busy-waits (OpenBLAS's) competes for the cores with our
 * own threads. Workers here spin briefly (about 50 us) after a call, then
 * sleep on a condition variable, so back-to-back calls start fast and an
 * idle pool costs nothing.
 *
 * Ranges are fixed by (n, threads): thread t gets [n*t/T, n*(t+1)/T), so a
 * loop whose ranges do not interact gives the same result for any timing.
 * One caller at a time; fn must not call tl_pool_for on the same pool. */
#ifndef TL_CORE_POOL_H
#define TL_CORE_POOL_H

#include <stddef.h>

#define TL_POOL_MAX 64

struct tl_pool;
typedef void (*tl_pool_fn)(void *ctx, size_t a, size_t b);

/* threads <= 1 (or a failure to start workers) gives a pool that runs
 * everything on the caller; NULL only when out of memory. */
struct tl_pool *tl_pool_new(int threads);
void tl_pool_free(struct tl_pool *p);
/* Threads that take part in a call (1 for NULL). */
int tl_pool_threads(const struct tl_pool *p);
/* fn(ctx, a, b) over the split of [0, n); n < 2 * threads runs on the
 * caller alone. p NULL runs fn(ctx, 0, n). */
void tl_pool_for(struct tl_pool *p, size_t n, tl_pool_fn fn, void *ctx);

#endif
