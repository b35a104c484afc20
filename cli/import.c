/* `tailor import KIND FILE`: bulk import through tailor_import(), with a
 * progress bar and a one-line summary.
 *
 * Progress bar: drawn on stderr only when stderr is a terminal, at most
 * PROGRESS_HZ times per second (the callback may be called far more often;
 * calls closer than 1/PROGRESS_HZ s to the last draw return at once after
 * one clock_gettime). Shown: percent of input bytes (when the size is known),
 * bytes done/total, records, rate = records / elapsed seconds, and
 * ETA = elapsed * (bytes_total - bytes_done) / bytes_done. The line is
 * erased before the summary is printed.
 *
 * Summary (stdout, always): "imported L lines: N <kind> ..., S skipped,
 * D duplicates in T s (R lines/s)"; orders also count returns. With
 * --skip-bad and S > 0, a second line lists the first skipped records.
 * On error nothing is imported (the engine rolls back) and the error names
 * FILE:LINE:COL and the field; exit 1. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void on_progress(void *ctx, const struct tailor_import_progress *p)
{
    struct cli_progress *pr = ctx;
    if (!cli_progress_due(pr, 0)) return;
    double el = cli_now_s() - pr->start;
    char rec[32], rate[32], done[32], total[32], bar[CLI_BAR_WIDTH + 1], eta[32], line[256];
    cli_fmt_count(p->records, rec, sizeof rec);
    cli_fmt_count(el > 0 ? (uint64_t)((double)p->records / el) : 0, rate, sizeof rate);
    cli_fmt_bytes(p->bytes_done, done, sizeof done);
    if (p->bytes_total > 0) {
        double frac = (double)p->bytes_done / (double)p->bytes_total;
        snprintf(line, sizeof line, "[%s] %5.1f%%  %s / %s  %s records  %s/s  ETA %s",
                 cli_fmt_bar(frac, bar, sizeof bar), (frac > 1 ? 1 : frac) * 100, done,
                 cli_fmt_bytes(p->bytes_total, total, sizeof total), rec, rate, cli_fmt_eta(el, frac, eta, sizeof eta));
    } else {
        snprintf(line, sizeof line, "%s  %s records  %s/s", done, rec, rate);
    }
    cli_progress_line(pr, line);
}

void cli_import_help(void)
{
    fputs("Usage: tailor import KIND FILE [--format F] [--shop NAME] [--db FILE] [--skip-bad]\n"
          "                          [--time-shift-days N] [--config FILE]\n"
          "\n"
          "Import a file into the database. Files ending in .gz are decompressed.\n"
          "Without --skip-bad the first bad record stops the import, nothing is\n"
          "imported, and the error names FILE:LINE:COL, the field and the reason.\n"
          "\n"
          "KIND and formats (first = default):\n"
          "  catalog    csv, ndjson, shopify, woocommerce, online-retail (items\n"
          "             derived from an Online Retail order file)\n"
          "  orders     csv, online-retail, ndjson\n"
          "  customers  csv, ndjson\n"
          "  events     ndjson (one JSON event per line, as POST /v1/events)\n"
          "\n"
          "Options:\n"
          "  --format F   input format (see above)\n"
          "  --shop NAME  target shop (default: the default shop)\n"
          "  --db FILE    database file (default tailor.db)\n"
          "  --skip-bad   skip bad records, count them and list the first few\n"
          "  --time-shift-days N  orders: move every order N days later (replay an old\n"
          "               history as recent; make run does this for the demo store)\n"
          "  --config FILE  settings, as for serve (the import uses the profile ones:\n"
          "               import_profiles_max, affinity half-life, session timeout)\n"
          "  -h, --help   show this help\n"
          "\n"
          "A progress bar is drawn on stderr when it is a terminal; a summary line\n"
          "is printed on stdout.\n",
          stdout);
}

static const char *const kinds[] = {"catalog", "orders", "customers", "events"};

static void print_summary(const char *kind, const struct tailor_import_summary *s)
{
    char lines[32], recs[32], skipped[32], dups[32], rets[32], rate[32];
    cli_fmt_count(s->lines, lines, sizeof lines);
    cli_fmt_count(s->records, recs, sizeof recs);
    cli_fmt_count(s->skipped, skipped, sizeof skipped);
    cli_fmt_count(s->duplicates, dups, sizeof dups);
    cli_fmt_count(s->returns, rets, sizeof rets);
    cli_fmt_count(s->seconds > 0 ? (uint64_t)((double)s->lines / s->seconds) : 0, rate, sizeof rate);
    if (strcmp(kind, "orders") == 0)
        printf("imported %s lines: %s orders (%s returns), %s skipped, %s duplicates in %.2f s (%s lines/s)\n", lines,
               recs, rets, skipped, dups, s->seconds, rate);
    else if (strcmp(kind, "events") == 0)
        printf("imported %s lines: %s events, %s skipped, %s duplicates in %.2f s (%s events/s)\n", lines, recs,
               skipped, dups, s->seconds, rate);
    else if (strcmp(kind, "catalog") == 0)
        printf("imported %s lines: %s items, %s skipped in %.2f s (%s lines/s)\n", lines, recs, skipped, s->seconds,
               rate);
    else
        printf("imported %s lines: %s customers, %s skipped in %.2f s (%s lines/s)\n", lines, recs, skipped, s->seconds,
               rate);
}

int cli_import_main(int argc, char **argv)
{
    const char *format = NULL, *shop = NULL, *db = NULL, *shift_s = NULL, *config = NULL, *pos[2];
    int npos = 0, help = 0, skip_bad = 0;
    const struct cli_opt opts[] = {{"format", 1, &format, NULL},
                                   {"shop", 1, &shop, NULL},
                                   {"db", 1, &db, NULL},
                                   {"skip-bad", 0, NULL, &skip_bad},
                                   {"time-shift-days", 1, &shift_s, NULL},
                                   {"config", 1, &config, NULL},
                                   {NULL, 0, NULL, NULL}};
    int rc = cli_parse("import", argc, argv, opts, pos, 2, &npos, &help);
    if (rc) return rc;
    if (help) {
        cli_import_help();
        return CLI_EXIT_OK;
    }
    if (npos == 0) return cli_usage_error("import", "missing KIND (catalog, orders, customers or events)");
    const char *kind = NULL;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(pos[0], kinds[i]) == 0) kind = kinds[i];
    if (!kind)
        return cli_usage_error("import", "unknown KIND '%s' (expected catalog, orders, customers or events)", pos[0]);
    if (npos < 2) return cli_usage_error("import", "missing FILE");
    long shift_days = 0;
    if (shift_s) {
        char *end = NULL;
        shift_days = strtol(shift_s, &end, 10);
        if (!*shift_s || *end || shift_days < -36500 || shift_days > 36500)
            return cli_usage_error("import", "--time-shift-days: expected a whole number of days, got '%s'", shift_s);
        if (strcmp(kind, "orders") != 0) return cli_usage_error("import", "--time-shift-days applies to orders only");
    }
    const char *path = pos[1];
    if (access(path, R_OK) != 0 && strcmp(path, "-") != 0) {
        fprintf(stderr, "tailor: %s: cannot read the file\n", path);
        return CLI_EXIT_ERR;
    }

    struct tailor *t = NULL;
    uint32_t shop_id = 0;
    if ((rc = cli_open_shop(db, config, shop, &t, &shop_id)) != CLI_EXIT_OK) return rc;
    struct tailor_error err = {0};
    enum tl_rc r;

    tailor_import_set_time_shift(t, (int64_t)shift_days * 86400000LL);
    struct cli_progress pr;
    cli_progress_init(&pr);
    struct tailor_import_summary sum;
    memset(&sum, 0, sizeof sum);
    r = tailor_import(t, shop_id, kind, format, path, skip_bad, on_progress, &pr, &sum, &err);
    cli_progress_clear(&pr);
    tailor_close_for_exit(t); /* the command ends here */
    if (r != TL_OK) return cli_report(r, &err, path);
    print_summary(kind, &sum);
    if (skip_bad && sum.skipped > 0) {
        sum.skipped_detail[sizeof sum.skipped_detail - 1] = '\0';
        printf("skipped: %s\n", sum.skipped_detail[0] ? sum.skipped_detail : "(no detail)");
    }
    return CLI_EXIT_OK;
}
