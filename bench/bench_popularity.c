/* Benchmark of src/model/popularity.c: tl_pop_add throughput and tl_pop_top
 * latency (p50/p99/p99.9 in microseconds) on 20,000 and 100,000 items, for the
 * exact scan (cache_k = 0) and the cached snapshot (defaults), globally and
 * for a country, with and without a skip() filter, idle and while a writer
 * thread streams events as fast as it can (far above any real shop), the
 * "mixed" rows paced at 10,000 queries/s for one second each, with readers
 * rebuilding stale lists themselves or a tl_pop_refresh thread doing it.
 *
 * Synthetic data: 20 events per item over 400 days, items drawn from a
 * Zipf-like distribution (s ~ 1), views:carts:purchases = 80:15:5, 80% of
 * events from GB, the rest from 9 other countries. Built by the Makefile rule
 * build/bench_popularity; run it with no arguments. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/timeutil.h"
#include "model/popularity.h"

#define QUERIES_DIRECT 2000
#define QUERIES_CACHED 200000
#define EVENTS_PER_ITEM 20

static const char *const countries[] = {"GB", "FR", "DE", "NL", "IE", "ES", "BE", "CH", "PT", "AU"};
static const int64_t T0 = 1291161600000LL;

static uint64_t rng_state = 88172645463325252ULL;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static double rng_unit(void) { return (double)(rng() >> 11) * (1.0 / 9007199254740992.0); }

struct ev {
    uint32_t item;
    const char *country;
    int64_t ts;
    enum tl_event_type type;
};

/* Zipf-ish item: inverse CDF of 1/x on [1, n+1). */
static uint32_t zipf(uint32_t n)
{
    double x = exp(rng_unit() * log((double)n + 1.0));
    uint32_t i = (uint32_t)x - 1;
    return i >= n ? n - 1 : i;
}

static struct ev make_event(uint32_t n, int64_t ts)
{
    struct ev e;
    /* scatter popular ranks over the index space */
    e.item = (uint32_t)(((uint64_t)zipf(n) * 2654435761u) % n);
    e.country = rng() % 10 < 8 ? countries[0] : countries[1 + rng() % 9];
    e.ts = ts;
    unsigned r = (unsigned)(rng() % 100);
    e.type = r < 80 ? TL_EV_PRODUCT_VIEW : r < 95 ? TL_EV_ADD_TO_CART : TL_EV_PURCHASE;
    return e;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int skip_tenth(void *ctx, uint32_t item) { return item % 10 == 3; }

struct stats {
    double p50, p99, p999;
};

static struct stats measure(struct tl_pop *m, enum tl_pop_kind kind, const char *country, int use_skip, int nq)
{
    uint64_t *lat = malloc((size_t)nq * sizeof *lat);
    struct tl_pop_hit out[10];
    for (int i = 0; i < nq; i++) {
        size_t n;
        uint64_t t = tl_mono_ns();
        tl_pop_top(m, kind, country, 10, use_skip ? skip_tenth : NULL, NULL, out, &n, NULL);
        lat[i] = tl_mono_ns() - t;
    }
    qsort(lat, (size_t)nq, sizeof *lat, cmp_u64);
    struct stats s = {lat[nq / 2] / 1000.0, lat[(size_t)nq * 99 / 100] / 1000.0, lat[(size_t)nq * 999 / 1000] / 1000.0};
    free(lat);
    return s;
}

struct stream {
    struct tl_pop *m;
    uint32_t n;
    atomic_int stop;
    long applied;
};

static void *streamer(void *arg)
{
    struct stream *s = arg;
    int64_t ts = T0 + 400 * TL_MS_PER_DAY;
    while (!atomic_load(&s->stop)) {
        struct ev e = make_event(s->n, ts);
        ts += 10;
        tl_pop_add(s->m, e.item, e.country, e.ts, e.type, 1);
        s->applied++;
    }
    return NULL;
}

/* nq queries paced at one per `gap_ns` (the 10,000/s target), so cache
 * rebuilds caused by the streaming writer land on a realistic share of them. */
static struct stats measure_paced(struct tl_pop *m, int nq, uint64_t gap_ns)
{
    uint64_t *lat = malloc((size_t)nq * sizeof *lat);
    struct tl_pop_hit out[10];
    uint64_t next = tl_mono_ns();
    for (int i = 0; i < nq; i++) {
        next += gap_ns;
        size_t n;
        uint64_t t = tl_mono_ns();
        tl_pop_top(m, i % 2 ? TL_POP_TRENDING : TL_POP_POPULAR, i % 3 ? NULL : "GB", 10, skip_tenth, NULL, out, &n,
                   NULL);
        lat[i] = tl_mono_ns() - t;
        uint64_t now = tl_mono_ns();
        if (now < next) {
            struct timespec ts = {0, (long)(next - now)};
            nanosleep(&ts, NULL);
        }
    }
    qsort(lat, (size_t)nq, sizeof *lat, cmp_u64);
    struct stats s = {lat[nq / 2] / 1000.0, lat[(size_t)nq * 99 / 100] / 1000.0, lat[(size_t)nq * 999 / 1000] / 1000.0};
    free(lat);
    return s;
}

struct refresh {
    struct tl_pop *m;
    atomic_int stop;
};

/* What the engine's background thread would do: refresh every 50 ms. */
static void *refresher(void *arg)
{
    struct refresh *r = arg;
    while (!atomic_load(&r->stop)) {
        tl_pop_refresh(r->m);
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static void row(const char *what, uint32_t n, struct stats s)
{
    printf("| %-46s | %7u | %9.2f | %9.2f | %9.2f |\n", what, n, s.p50, s.p99, s.p999);
}

static void note(const char *what, uint32_t n) { printf("| %-46s | %7u | %9s | %9s | %9s |\n", what, n, "", "", ""); }

int main(void)
{
    uint32_t sizes[] = {20000, 100000};
    printf("tl_pop_top, k = 10, latency in microseconds (%d direct / %d cached queries)\n\n", QUERIES_DIRECT,
           QUERIES_CACHED);
    printf("| %-46s | %7s | %9s | %9s | %9s |\n", "query", "items", "p50 us", "p99 us", "p99.9 us");
    printf("|%s|%s|%s|%s|%s|\n", "------------------------------------------------", "---------", "-----------",
           "-----------", "-----------");
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        uint32_t n = sizes[si];
        size_t ne = (size_t)n * EVENTS_PER_ITEM;
        struct ev *evs = malloc(ne * sizeof *evs);
        for (size_t i = 0; i < ne; i++) evs[i] = make_event(n, T0 + (int64_t)(i * (400 * TL_MS_PER_DAY / ne)));

        struct tl_pop_params pd, pc;
        tl_pop_params_defaults(&pc);
        pd = pc;
        pd.cache_k = 0;
        struct tl_pop *direct = tl_pop_new(&pd), *cached = tl_pop_new(&pc);
        uint64_t t = tl_mono_ns();
        for (size_t i = 0; i < ne; i++) tl_pop_add(direct, evs[i].item, evs[i].country, evs[i].ts, evs[i].type, 1);
        double add_s = (double)(tl_mono_ns() - t) / 1e9;
        for (size_t i = 0; i < ne; i++) tl_pop_add(cached, evs[i].item, evs[i].country, evs[i].ts, evs[i].type, 1);

        row("popular  global  exact scan", n, measure(direct, TL_POP_POPULAR, NULL, 0, QUERIES_DIRECT));
        row("trending global  exact scan", n, measure(direct, TL_POP_TRENDING, NULL, 0, QUERIES_DIRECT));
        row("popular  GB      exact scan", n, measure(direct, TL_POP_POPULAR, "GB", 0, QUERIES_DIRECT));
        row("trending global  exact scan + skip 10%", n, measure(direct, TL_POP_TRENDING, NULL, 1, QUERIES_DIRECT));
        row("popular  global  cached", n, measure(cached, TL_POP_POPULAR, NULL, 0, QUERIES_CACHED));
        row("trending global  cached", n, measure(cached, TL_POP_TRENDING, NULL, 0, QUERIES_CACHED));
        row("trending GB      cached + skip 10%", n, measure(cached, TL_POP_TRENDING, "GB", 1, QUERIES_CACHED));
        row("popular  FR      cached (small country)", n, measure(cached, TL_POP_POPULAR, "FR", 0, QUERIES_CACHED));

        struct stream st = {.m = cached, .n = n};
        atomic_init(&st.stop, 0);
        pthread_t th;
        pthread_create(&th, NULL, streamer, &st);
        uint64_t w0 = tl_mono_ns();
        struct stats sp = measure(cached, TL_POP_TRENDING, NULL, 1, QUERIES_CACHED);
        struct stats spp = measure_paced(cached, 10000, 100000);
        struct refresh rf = {.m = cached};
        atomic_init(&rf.stop, 0);
        pthread_t rth;
        pthread_create(&rth, NULL, refresher, &rf);
        struct stats spr = measure_paced(cached, 10000, 100000);
        atomic_store(&rf.stop, 1);
        pthread_join(rth, NULL);
        atomic_store(&st.stop, 1);
        pthread_join(th, NULL);
        double ws = (double)(tl_mono_ns() - w0) / 1e9;
        row("trending global cached + skip, writer running", n, sp);
        row("mixed 10k q/s, writer running", n, spp);
        row("mixed 10k q/s, writer + tl_pop_refresh thread", n, spr);
        char buf[128];
        snprintf(buf, sizeof buf, "  (writer meanwhile: %.2f M events/s)", st.applied / ws / 1e6);
        note(buf, n);
        snprintf(buf, sizeof buf, "  tl_pop_add, 1 thread: %.2f M events/s", (double)ne / add_s / 1e6);
        note(buf, n);
        snprintf(buf, sizeof buf, "  tl_pop_memory: %.1f MiB", (double)tl_pop_memory(cached) / (1024.0 * 1024.0));
        note(buf, n);
        tl_pop_free(direct);
        tl_pop_free(cached);
        free(evs);
    }
    return 0;
}
