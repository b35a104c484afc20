/* Benchmark of event parsing: the jansson path (json_loadb +
 * tl_event_from_json, and with the canonical body tl_event_canonical) against
 * the fast path of src/ingest/event_fast.c (tl_evfast_parse, with
 * tl_evfast_canonical, and both in one pass: tl_evfast_parse_canonical),
 * plus body splitting (tl_event_split_body vs tl_evfast_split) of NDJSON
 * bodies of TL_BATCH_MAX events, and the whole fast pipeline over such
 * bodies (split + parse + canonical, two passes or one).
 *
 * Data: 100,000 events in the shapes bench/gen_events.py writes (150-250
 * bytes; product_view 58%, page_view 8%, category_view 8%, search 6%,
 * add_to_cart 8%, remove_from_cart 2%, checkout_start 2%, purchase 3%,
 * recommendation_click 5%), or the NDJSON file given as the only argument
 * (e.g. python3 bench/gen_events.py --count 100000 --out /tmp/ev.ndjson).
 * One thread. Each row is the median of 5 passes over all events; the
 * "speedup" column is relative to the first row.
 * Built by the Makefile rule build/bench_event_parse (links build/libtailor.a),
 * or directly with gcc from this file, src/core, src/store/types.c,
 * src/ingest/event.c and src/ingest/event_fast.c plus jansson, libxxhash, -lm. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/timeutil.h"
#include "ingest/event.h"
#include "ingest/event_fast.h"

#include "event_gen.h"

#define N_EVENTS 100000
#define PASSES 5
#define FILE_MAX ((size_t)1 << 30)

static uint64_t rng_s = 42; /* state of tl_gen_rnd (bench/event_gen.h) */

/* One line like gen_events.py (bench/event_gen.h), appended to out + '\n'. */
static void gen_line(struct tl_buf *out, long i, int64_t ts)
{
    tl_gen_event(out, i, ts, &rng_s);
    tl_buf_putc(out, '\n');
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t median(uint64_t *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_u64);
    return v[n / 2];
}

struct corpus {
    const char *data;
    size_t len;
    size_t *off; /* line i = [off[i], off[i+1] - 1) without the '\n' */
    size_t n;
    int64_t now;
};

static volatile size_t sink;

static uint64_t run_jansson(const struct corpus *c, int canonical)
{
    static struct tl_line lines[TL_EVENT_LINES_MAX];
    struct tl_buf out;
    tl_buf_init(&out, 0);
    uint64_t t0 = tl_mono_ns();
    size_t ok = 0;
    for (size_t i = 0; i < c->n; i++) {
        json_error_t je;
        json_t *o = json_loadb(c->data + c->off[i], c->off[i + 1] - c->off[i] - 1, JSON_REJECT_DUPLICATES, &je);
        struct tl_event ev;
        if (o && tl_event_from_json(o, c->now, &ev, lines, TL_EVENT_LINES_MAX, NULL) == TL_OK) {
            ok++;
            if (canonical) {
                tl_buf_reset(&out);
                if (tl_event_canonical(&ev, o, &out) == TL_OK) ok += out.len;
            }
        }
        json_decref(o);
    }
    uint64_t dt = tl_mono_ns() - t0;
    sink += ok;
    tl_buf_free(&out);
    return dt;
}

static size_t fast_handled, canon_handled, onepass_handled;

/* canonical: 0 tl_evfast_parse only, 1 + tl_evfast_canonical (two passes),
 * 2 tl_evfast_parse_canonical (one pass) */
static uint64_t run_fast(const struct corpus *c, int canonical)
{
    static struct tl_line lines[TL_EVENT_LINES_MAX];
    struct tl_buf scratch, out;
    tl_buf_init(&scratch, 0);
    tl_buf_init(&out, 0);
    tl_buf_reserve(&scratch, 4096);
    tl_buf_reserve(&out, 4096);
    size_t h_total = 0, c_total = 0;
    uint64_t t0 = tl_mono_ns();
    for (size_t i = 0; i < c->n; i++) {
        struct tl_event ev;
        int h, ch = 0;
        const char *text = c->data + c->off[i];
        size_t len = c->off[i + 1] - c->off[i] - 1;
        tl_buf_reset(&scratch);
        if (canonical == 2) {
            tl_buf_reset(&out);
            tl_evfast_parse_canonical(text, len, c->now, &ev, lines, TL_EVENT_LINES_MAX, &scratch, &out, &ch);
            c_total += (size_t)ch;
            continue;
        }
        tl_evfast_parse(text, len, c->now, &ev, lines, TL_EVENT_LINES_MAX, &scratch, &h);
        h_total += (size_t)h;
        if (canonical && h) {
            tl_buf_reset(&out);
            tl_evfast_canonical(text, len, &ev, &out, &ch);
            c_total += (size_t)ch;
        }
    }
    uint64_t dt = tl_mono_ns() - t0;
    if (canonical == 2)
        onepass_handled = c_total;
    else
        fast_handled = h_total;
    if (canonical == 1) canon_handled = c_total;
    tl_buf_free(&scratch);
    tl_buf_free(&out);
    return dt;
}

static uint64_t run_split_slow(const struct corpus *c)
{
    uint64_t t0 = tl_mono_ns();
    size_t total = 0;
    for (size_t i = 0; i < c->n; i += TL_BATCH_MAX) { /* bodies of TL_BATCH_MAX events */
        size_t j = i + TL_BATCH_MAX < c->n ? i + TL_BATCH_MAX : c->n;
        json_t *arr = NULL;
        if (tl_event_split_body(c->data + c->off[i], c->off[j] - c->off[i], &arr, NULL) == TL_OK)
            total += json_array_size(arr);
        json_decref(arr);
    }
    uint64_t dt = tl_mono_ns() - t0;
    sink += total;
    return dt;
}

/* parse: 0 split only, 1 + tl_evfast_parse, 2 + tl_evfast_canonical, 3 +
 * tl_evfast_parse_canonical instead of both; the events of one body stay
 * alive together (scratch reserved for the body) */
static uint64_t run_split_fast(const struct corpus *c, int parse)
{
    static struct tl_span spans[TL_BATCH_MAX];
    static struct tl_event evs[TL_BATCH_MAX];
    static struct tl_line lines[TL_EVENT_LINES_MAX];
    struct tl_buf scratch, out;
    tl_buf_init(&scratch, 0);
    tl_buf_init(&out, 0);
    uint64_t t0 = tl_mono_ns();
    size_t total = 0;
    for (size_t i = 0; i < c->n; i += TL_BATCH_MAX) {
        size_t j = i + TL_BATCH_MAX < c->n ? i + TL_BATCH_MAX : c->n, n = 0;
        const char *body = c->data + c->off[i];
        int h;
        if (tl_evfast_split(body, c->off[j] - c->off[i], spans, TL_BATCH_MAX, &n, &h) != TL_OK || !h) continue;
        if (!parse) {
            total += n;
            continue;
        }
        tl_buf_reset(&scratch);
        tl_buf_reserve(&scratch, tl_evfast_scratch_need(c->off[j] - c->off[i], n));
        tl_buf_reset(&out);
        for (size_t k = 0; k < n; k++) {
            if (parse == 3) {
                tl_evfast_parse_canonical(body + spans[k].off, spans[k].len, c->now, &evs[k], lines, TL_EVENT_LINES_MAX,
                                          &scratch, &out, &h);
                total += (size_t)h;
                continue;
            }
            tl_evfast_parse(body + spans[k].off, spans[k].len, c->now, &evs[k], lines, TL_EVENT_LINES_MAX, &scratch,
                            &h);
            if (h && parse == 2) tl_evfast_canonical(body + spans[k].off, spans[k].len, &evs[k], &out, &h);
            total += (size_t)h;
        }
    }
    uint64_t dt = tl_mono_ns() - t0;
    sink += total;
    tl_buf_free(&scratch);
    tl_buf_free(&out);
    return dt;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    struct tl_buf b;
    tl_buf_init(&b, FILE_MAX);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (tl_buf_append(&b, chunk, n) != TL_OK) break;
    fclose(f);
    *len = b.len;
    return tl_buf_steal(&b);
}

int main(int argc, char **argv)
{
    struct corpus c = {0};
    struct tl_buf gen;
    tl_buf_init(&gen, 0);
    char *file = NULL;
    c.now = tl_now_ms();
    if (argc > 1) {
        file = read_file(argv[1], &c.len);
        if (!file) {
            fprintf(stderr, "cannot read %s\n", argv[1]);
            return 1;
        }
        c.data = file;
    } else {
        int64_t span = 30LL * TL_MS_PER_DAY;
        for (long i = 0; i < N_EVENTS; i++) gen_line(&gen, i, c.now - 60000 - span + span / N_EVENTS * i);
        c.data = gen.data;
        c.len = gen.len;
    }
    /* line offsets (every line must end with '\n'; blank lines skipped) */
    size_t cap = 1024;
    c.off = tl_malloc(cap * sizeof *c.off);
    const char *p = c.data, *end = c.data + c.len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) break;
        if (nl > p) {
            if (c.n + 2 > cap) c.off = tl_realloc(c.off, (cap *= 2) * sizeof *c.off);
            c.off[c.n++] = (size_t)(p - c.data);
        }
        p = nl + 1;
    }
    c.off[c.n] = (size_t)(p - c.data);
    if (c.n == 0) {
        fprintf(stderr, "no events\n");
        return 1;
    }
    /* with blank lines skipped, off[i+1] is not the end of line i in
     * general: the generated corpus and gen_events.py output have none */
    size_t bytes = 0;
    for (size_t i = 0; i < c.n; i++) bytes += c.off[i + 1] - c.off[i];

    struct {
        const char *name;
        uint64_t t[PASSES];
    } rows[] = {{"jansson: json_loadb + tl_event_from_json", {0}},
                {"jansson: + tl_event_canonical (stored body)", {0}},
                {"fast: tl_evfast_parse", {0}},
                {"fast: tl_evfast_parse + tl_evfast_canonical", {0}},
                {"fast: tl_evfast_parse_canonical (one pass)", {0}},
                {"split 10k bodies: tl_event_split_body", {0}},
                {"split 10k bodies: tl_evfast_split", {0}},
                {"fast: split + parse", {0}},
                {"fast: split + parse + canonical", {0}},
                {"fast: split + parse_canonical (one pass)", {0}}};
    enum { NROWS = sizeof rows / sizeof *rows };
    for (int pass = 0; pass < PASSES; pass++) {
        rows[0].t[pass] = run_jansson(&c, 0);
        rows[1].t[pass] = run_jansson(&c, 1);
        rows[2].t[pass] = run_fast(&c, 0);
        rows[3].t[pass] = run_fast(&c, 1);
        rows[4].t[pass] = run_fast(&c, 2);
        rows[5].t[pass] = run_split_slow(&c);
        rows[6].t[pass] = run_split_fast(&c, 0);
        rows[7].t[pass] = run_split_fast(&c, 1);
        rows[8].t[pass] = run_split_fast(&c, 2);
        rows[9].t[pass] = run_split_fast(&c, 3);
    }
    printf("event parsing: %zu events, %.0f bytes/event on average, %s, 1 thread, median of %d passes\n", c.n,
           (double)bytes / (double)c.n, argc > 1 ? argv[1] : "generated like bench/gen_events.py", PASSES);
    printf("fast path handled %zu of %zu events (%.2f%%), canonical body %zu, one pass %zu\n\n", fast_handled, c.n,
           100.0 * (double)fast_handled / (double)c.n, canon_handled, onepass_handled);
    printf("%-46s %14s %10s %9s\n", "path", "events/s", "ns/event", "speedup");
    double base = 0;
    for (int r = 0; r < NROWS; r++) {
        double ns = (double)median(rows[r].t, PASSES) / (double)c.n;
        if (r == 0) base = ns;
        printf("%-46s %14.0f %10.1f %8.1fx\n", rows[r].name, 1e9 / ns, ns, base / ns);
    }
    tl_free(c.off);
    tl_free(file);
    tl_buf_free(&gen);
    return sink == 42 ? 2 : 0;
}
