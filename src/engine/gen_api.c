/* Public entry points of the synthetic store generator (include/tailor/gen.h):
 * translate struct tailor_gen_options into src/ingest/synth.h's options,
 * run it, and copy errors and the summary back into the public structs.
 * No state of its own; owns no persistent format (the files written are
 * the import formats, see src/ingest/synth.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/timeutil.h"
#include "ingest/synth.h"
#include "tailor/gen.h"

static void to_public(struct tailor_error *out, const struct tl_err *in, enum tl_rc rc)
{
    if (!out) return;
    memset(out, 0, sizeof *out);
    out->rc = rc;
    snprintf(out->field, sizeof out->field, "%s", in->field);
    snprintf(out->msg, sizeof out->msg, "%s", in->msg);
    out->line = in->line;
    out->column = in->column;
}

void tailor_gen_options_init(struct tailor_gen_options *o)
{
    memset(o, 0, sizeof *o);
    o->orders_per_shopper = -1;
    o->views_per_shopper = -1;
}

static enum tl_rc convert(const struct tailor_gen_options *o, struct tl_synth_opts *s, struct tl_err *err)
{
    memset(s, 0, sizeof *s);
    if (!o) return tl_err_set(err, TL_EINVAL, NULL, "no options");
    if (o->format && strcmp(o->format, "csv") != 0 && strcmp(o->format, "ndjson") != 0)
        return tl_err_set(err, TL_EINVAL, "format", "format must be csv or ndjson, got '%s'", o->format);
    s->n_items = o->items;
    s->n_shoppers = o->shoppers;
    s->seed = o->seed;
    s->n_tastes = o->tastes;
    s->days = o->days;
    s->orders_per_shopper = o->orders_per_shopper;
    s->views_per_shopper = o->views_per_shopper;
    s->end_ms = o->end_ms;
    s->dir = o->out_dir;
    s->ndjson = o->format && strcmp(o->format, "ndjson") == 0;
    s->force = o->force;
    return TL_OK;
}

enum tl_rc tailor_gen_check(const struct tailor_gen_options *o, struct tailor_error *err)
{
    struct tl_err e = {0};
    struct tl_synth_opts s;
    enum tl_rc rc = convert(o, &s, &e);
    if (rc == TL_OK) rc = tl_synth_check(&s, tl_now_ms(), &e);
    if (rc != TL_OK) to_public(err, &e, rc);
    return rc;
}

enum tl_rc tailor_gen_parse_time(const char *s, int64_t *ms, struct tailor_error *err)
{
    struct tl_err e = {0};
    if (s && *s >= '0' && *s <= '9' && strspn(s, "0123456789") == strlen(s)) {
        errno = 0;
        char *end = NULL;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno == 0 && v <= (unsigned long long)INT64_MAX) {
            *ms = (int64_t)v;
            return TL_OK;
        }
    } else if (s && tl_time_parse(s, ms) == TL_OK) {
        return TL_OK;
    }
    tl_err_set(&e, TL_EINVAL, "end",
               "expected an ISO 8601 time (2024-05-01 or 2024-05-01T10:00:00Z) or epoch milliseconds, got '%s'",
               s ? s : "");
    to_public(err, &e, TL_EINVAL);
    return TL_EINVAL;
}

struct relay {
    tailor_gen_progress_fn fn;
    void *ctx;
};

static void relay_progress(void *ctx, const struct tl_synth_progress *p)
{
    struct relay *r = ctx;
    struct tailor_gen_progress q = {p->shoppers_done, p->shoppers_total, p->bytes};
    r->fn(r->ctx, &q);
}

enum tl_rc tailor_gen(const struct tailor_gen_options *o, struct tailor_gen_summary *summary, struct tailor_error *err)
{
    struct tl_err e = {0};
    struct tl_synth_opts s;
    enum tl_rc rc = convert(o, &s, &e);
    if (rc != TL_OK) {
        to_public(err, &e, rc);
        return rc;
    }
    struct relay r = {o->progress, o->progress_ctx};
    if (o->progress) {
        s.progress = relay_progress;
        s.progress_ctx = &r;
    }
    struct tl_synth_summary sum;
    rc = tl_synth_run(&s, &sum, &e);
    if (rc != TL_OK) {
        to_public(err, &e, rc);
        return rc;
    }
    if (summary) {
        memset(summary, 0, sizeof *summary);
        summary->items = sum.items;
        summary->shoppers = sum.shoppers;
        summary->orders = sum.orders;
        summary->order_lines = sum.order_lines;
        summary->guest_orders = sum.guest_orders;
        summary->events = sum.events;
        summary->product_views = sum.product_views;
        summary->add_to_carts = sum.add_to_carts;
        summary->searches = sum.searches;
        summary->category_views = sum.category_views;
        summary->identified = sum.identified;
        summary->bytes_catalog = sum.bytes_catalog;
        summary->bytes_orders = sum.bytes_orders;
        summary->bytes_events = sum.bytes_events;
        summary->start_ms = sum.start_ms;
        summary->end_ms = sum.end_ms;
        summary->seconds = sum.seconds;
        snprintf(summary->catalog_file, sizeof summary->catalog_file, "%s", tl_synth_catalog_file(&s));
        snprintf(summary->orders_file, sizeof summary->orders_file, "%s", tl_synth_orders_file(&s));
    }
    return TL_OK;
}
