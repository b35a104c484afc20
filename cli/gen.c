/* `tailor gen`: write a synthetic store (catalog, orders, events) for
 * benchmarks through tailor_gen() (include/tailor/gen.h).
 *
 * Arguments: every number is checked here (whole numbers: digits only;
 * means: a finite decimal), ranges by tailor_gen_check; any problem is a
 * usage error (exit 2). Existing output files are a runtime error (exit 1)
 * unless --force.
 *
 * Progress bar: on stderr only when it is a terminal, at most PROGRESS_HZ
 * times per second: percent of shoppers, shoppers done/total, bytes written,
 * rate = shoppers / elapsed s, ETA = elapsed * (total - done) / done. Erased
 * before the summary.
 *
 * Summary (stdout, one line): items, shoppers, orders (lines), events,
 * bytes of the three files, seconds, and where they are. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "tailor/gen.h"

static void on_progress(void *ctx, const struct tailor_gen_progress *p)
{
    struct cli_progress *pr = ctx;
    if (!cli_progress_due(pr, p->shoppers_done >= p->shoppers_total)) return;
    double el = cli_now_s() - pr->start;
    double frac = p->shoppers_total ? (double)p->shoppers_done / (double)p->shoppers_total : 1.0;
    char bar[CLI_BAR_WIDTH + 1], done[32], total[32], bytes[32], rate[32], eta[32], line[256];
    cli_fmt_count(p->shoppers_done, done, sizeof done);
    cli_fmt_count(p->shoppers_total, total, sizeof total);
    cli_fmt_count(el > 0 ? (uint64_t)((double)p->shoppers_done / el) : 0, rate, sizeof rate);
    snprintf(line, sizeof line, "[%s] %5.1f%%  %s / %s shoppers  %s  %s shoppers/s  ETA %s",
             cli_fmt_bar(frac, bar, sizeof bar), (frac > 1 ? 1 : frac) * 100, done, total,
             cli_fmt_bytes(p->bytes, bytes, sizeof bytes), rate, cli_fmt_eta(el, frac, eta, sizeof eta));
    cli_progress_line(pr, line);
}

void cli_gen_help(void)
{
    fputs("Usage: tailor gen --items N --shoppers M [--seed S] [--out DIR] [--tastes K]\n"
          "                  [--orders-per-shopper X] [--views-per-shopper Y] [--days D]\n"
          "                  [--end TIME] [--format csv|ndjson] [--force]\n"
          "\n"
          "Write a synthetic store for benchmarks into DIR: catalog.csv, orders.csv\n"
          "(or .ndjson with --format ndjson) and events.ndjson, in the formats that\n"
          "'tailor import catalog|orders|events' read unchanged. The store has latent\n"
          "tastes: items belong to taste clusters (category, vocabulary, brands, price\n"
          "level) with Zipf popularity inside each; shoppers mix 1-3 tastes, have a\n"
          "country and a price sensitivity, and browse in sessions (product views with\n"
          "dwell time and scroll depth, searches, category views, add to cart) and\n"
          "place orders of 1-5 lines. 30% of shoppers stay anonymous (anonymous_id\n"
          "only, guest orders); the others log in at some session, after which their\n"
          "events carry both ids. Same options and seed: byte-identical files.\n"
          "\n"
          "Options:\n"
          "  --items N                catalog size, 1..10000000 (required)\n"
          "  --shoppers M             shoppers, 1..100000000 (required)\n"
          "  --seed S                 random seed, a whole number (default 1)\n"
          "  --out DIR                output directory, created if missing (default .)\n"
          "  --tastes K               taste clusters, 1..min(N, 65535) (default 50)\n"
          "  --orders-per-shopper X   mean orders per shopper, 0..100 (default 1.5)\n"
          "  --views-per-shopper Y    mean product views per shopper, 1..1000 (default 10)\n"
          "  --days D                 length of the history in days, 1..3650 (default 90)\n"
          "  --end TIME               end of the history: ISO 8601 or epoch ms, not in the\n"
          "                           future (default: now rounded down to the hour, so\n"
          "                           pass --end to reproduce files exactly later)\n"
          "  --format F               catalog and orders format: csv (default) or ndjson\n"
          "  --force                  overwrite existing files\n"
          "  -h, --help               show this help\n"
          "\n"
          "A progress bar is drawn on stderr when it is a terminal; a summary line is\n"
          "printed on stdout. Example (the models benchmark, about 3 GB):\n"
          "  tailor gen --items 100000 --shoppers 1000000 --out bench-store\n"
          "  tailor import catalog bench-store/catalog.csv\n"
          "  tailor import orders bench-store/orders.csv\n"
          "  tailor import events bench-store/events.ndjson\n",
          stdout);
}

static int parse_u64(const char *opt, const char *s, uint64_t *out)
{
    if (!s) return CLI_EXIT_OK;
    if (strspn(s, "0123456789") != strlen(s))
        return cli_usage_error("gen", "--%s expects a whole number, got '%s'", opt, s);
    errno = 0;
    unsigned long long v = strtoull(s, NULL, 10);
    if (errno) return cli_usage_error("gen", "--%s is too large: '%s'", opt, s);
    *out = v;
    return CLI_EXIT_OK;
}

static int parse_u32(const char *opt, const char *s, uint32_t *out, uint32_t min)
{
    uint64_t v = 0;
    int rc = parse_u64(opt, s, &v);
    if (rc || !s) return rc;
    if (v < min || v > 0xffffffffull) return cli_usage_error("gen", "--%s must be at least %u, got '%s'", opt, min, s);
    *out = (uint32_t)v;
    return CLI_EXIT_OK;
}

static int parse_mean(const char *opt, const char *s, double *out)
{
    if (!s) return CLI_EXIT_OK;
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v) || v < 0)
        return cli_usage_error("gen", "--%s expects a number >= 0, got '%s'", opt, s);
    *out = v;
    return CLI_EXIT_OK;
}

int cli_gen_main(int argc, char **argv)
{
    const char *items = NULL, *shoppers = NULL, *seed = NULL, *out = NULL, *tastes = NULL, *orders = NULL,
               *views = NULL, *days = NULL, *end = NULL, *format = NULL, *pos[1];
    int npos = 0, help = 0, force = 0;
    const struct cli_opt opts[] = {{"items", 1, &items, NULL},
                                   {"shoppers", 1, &shoppers, NULL},
                                   {"seed", 1, &seed, NULL},
                                   {"out", 1, &out, NULL},
                                   {"tastes", 1, &tastes, NULL},
                                   {"orders-per-shopper", 1, &orders, NULL},
                                   {"views-per-shopper", 1, &views, NULL},
                                   {"days", 1, &days, NULL},
                                   {"end", 1, &end, NULL},
                                   {"format", 1, &format, NULL},
                                   {"force", 0, NULL, &force},
                                   {NULL, 0, NULL, NULL}};
    int rc = cli_parse("gen", argc, argv, opts, pos, 0, &npos, &help);
    if (rc) return rc;
    if (help) {
        cli_gen_help();
        return CLI_EXIT_OK;
    }
    if (!items) return cli_usage_error("gen", "missing --items N");
    if (!shoppers) return cli_usage_error("gen", "missing --shoppers M");

    struct tailor_gen_options o;
    tailor_gen_options_init(&o);
    o.seed = 1;
    if ((rc = parse_u64("items", items, &o.items)) || (rc = parse_u64("shoppers", shoppers, &o.shoppers)) ||
        (rc = parse_u64("seed", seed, &o.seed)) || (rc = parse_u32("tastes", tastes, &o.tastes, 1)) ||
        (rc = parse_u32("days", days, &o.days, 1)) ||
        (rc = parse_mean("orders-per-shopper", orders, &o.orders_per_shopper)) ||
        (rc = parse_mean("views-per-shopper", views, &o.views_per_shopper)))
        return rc;
    struct tailor_error err = {0};
    if (end && tailor_gen_parse_time(end, &o.end_ms, &err) != TL_OK) return cli_usage_error("gen", "%s", err.msg);
    if (end && o.end_ms == 0) return cli_usage_error("gen", "--end must be after 2000-01-01");
    o.out_dir = out ? out : ".";
    o.format = format;
    o.force = force;
    if (tailor_gen_check(&o, &err) != TL_OK) return cli_usage_error("gen", "%s", err.msg);

    struct cli_progress pr;
    cli_progress_init(&pr);
    o.progress = on_progress;
    o.progress_ctx = &pr;
    struct tailor_gen_summary s;
    enum tl_rc r = tailor_gen(&o, &s, &err);
    cli_progress_clear(&pr);
    if (r != TL_OK) {
        if (r == TL_EINVAL) return cli_usage_error("gen", "%s", err.msg);
        return cli_report(r, &err, NULL);
    }
    char ni[32], ns[32], no[32], nl[32], ne[32], b[32];
    printf("generated %s items, %s shoppers, %s orders (%s lines), %s events, %s in %.1f s: %s/{%s,%s,%s}\n",
           cli_fmt_count(s.items, ni, sizeof ni), cli_fmt_count(s.shoppers, ns, sizeof ns),
           cli_fmt_count(s.orders, no, sizeof no), cli_fmt_count(s.order_lines, nl, sizeof nl),
           cli_fmt_count(s.events, ne, sizeof ne),
           cli_fmt_bytes(s.bytes_catalog + s.bytes_orders + s.bytes_events, b, sizeof b), s.seconds, o.out_dir,
           s.catalog_file, s.orders_file, TAILOR_GEN_EVENTS_FILE);
    return CLI_EXIT_OK;
}
