/* `tailor simulate [--db FILE] [--config FILE] [--shop NAME] [--shoppers N]
 * [--days D] [--seed S] [--experiment ID] [--relevant R] [--json]`: a
 * SIMULATED A/B test of personalization on the shop's own data through
 * tailor_simulate() (include/tailor/simulate.h; the shopper model and its
 * constants are in src/engine/simulate.c).
 *
 * Output (stdout): with --json the experiment report exactly as
 * GET /v1/experiments/{id} answers it; else a short human summary
 * (visitors, conversion rate with its 95% interval per arm, the uplift with
 * its interval, the fixed-horizon and the sequential p-value, the SRM check)
 * followed by the report JSON. A progress line goes to stderr when it is a
 * terminal. The database is opened in-process: a server running on it
 * makes the open fail with TL_EBUSY, and the command says to stop it.
 *
 * Numbers: whole numbers are digits only; ranges are checked by the library
 * (usage error, exit 2). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "tailor/gen.h" /* tailor_gen_parse_time */
#include "tailor/simulate.h"

void cli_simulate_help(void)
{
    fputs("Usage: tailor simulate [--db FILE] [--shop NAME] [--shoppers N] [--days D]\n"
          "                       [--seed S] [--experiment ID] [--relevant R]\n"
          "                       [--relevance count|cosine] [--end TIME|data] [--json]\n"
          "\n"
          "Run a SIMULATED A/B test of personalization on a shop's own data (made for\n"
          "the demo store). Synthetic shoppers, each one a real customer of the shop\n"
          "with their purchase history, visit the store over the last D days inside a\n"
          "50/50 experiment: arm \"off\" is served bestsellers, arm \"on\" Tailor's\n"
          "personal recommendations (for_you, 8 items). How a shopper reacts is made\n"
          "up: an item is relevant to them if it is among the R items other customers\n"
          "most often bought in the same order as what they bought; they click a\n"
          "shown item with probability 0.03, or 0.28 if it is relevant, and buy a\n"
          "clicked item with probability 0.35. 1 to 4 visits per shopper. The result\n"
          "says how well Tailor finds what the order data says a customer wants; it is\n"
          "not a forecast of a real store's uplift.\n"
          "\n"
          "The experiment and every simulated event are stored like real ones, so\n"
          "'tailor serve' (make run) shows the experiment afterwards; it is left\n"
          "stopped (nobody new is assigned). Running again with the same experiment\n"
          "id replaces its definition but ADDS events: the report then counts both\n"
          "runs. Use --experiment to keep runs apart. Simulated purchases are stored\n"
          "as orders, which the next training uses like real ones: simulate on a copy\n"
          "of a database whose models matter.\n"
          "\n"
          "The database is used in-process: stop a server running on it first.\n"
          "\n"
          "Options:\n"
          "  --db FILE          database file (default tailor.db)\n"
          "  --config FILE      server configuration (model settings)\n"
          "  --shop NAME        shop (default: the default shop)\n"
          "  --shoppers N       simulated shoppers, 1..1000000 (default 2000; at most\n"
          "                     the customers with a purchase history)\n"
          "  --days D           length of the simulated period, 1..365 (default 14),\n"
          "                     ending now\n"
          "  --seed S           random seed, a whole number (default 1): same seed and\n"
          "                     data, same shoppers, arms and reactions\n"
          "  --experiment ID    experiment id (default simulated-personalization)\n"
          "  --relevant R       size of a shopper's relevant set, 1..1000 (default 30)\n"
          "  --relevance K      how items are ranked for that set: count (default: the\n"
          "                     number of orders of others with the item and one of\n"
          "                     the shopper's items; favours bestsellers) or cosine\n"
          "                     (the same counts divided by sqrt(orders of each item))\n"
          "  --end TIME|data    end of the simulated period: ISO 8601 or epoch ms, not in\n"
          "                     the future (default now), or 'data' for the time of the\n"
          "                     shop's latest order. Bestsellers decay with a 30-day\n"
          "                     half-life, so on old data (the demo store ends in 2011)\n"
          "                     events simulated 'now' outweigh the whole history and\n"
          "                     both arms' clicks make the bestsellers; 'data' avoids it\n"
          "  --json             print only the report JSON\n"
          "  -h, --help         show this help\n",
          stdout);
}

static void on_progress(void *ctx, const struct tailor_simulate_progress *p)
{
    struct cli_progress *pr = ctx;
    int last = p->visits_total && p->visits_done >= p->visits_total;
    if (!cli_progress_due(pr, last)) return;
    double frac = p->visits_total ? (double)p->visits_done / (double)p->visits_total : 0.0;
    char bar[CLI_BAR_WIDTH + 1], done[32], total[32], eta[32], line[200];
    cli_fmt_count(p->visits_done, done, sizeof done);
    cli_fmt_count(p->visits_total, total, sizeof total);
    snprintf(line, sizeof line, "[%s] %3.0f%%  %s / %s visits  ETA %s  %s", cli_fmt_bar(frac, bar, sizeof bar),
             frac * 100.0, done, total, cli_fmt_eta(cli_now_s() - pr->start, frac, eta, sizeof eta),
             p->phase ? p->phase : "");
    cli_progress_line(pr, line);
}

static int parse_u64(const char *opt, const char *s, uint64_t *out)
{
    if (!s) return CLI_EXIT_OK;
    if (strspn(s, "0123456789") != strlen(s))
        return cli_usage_error("simulate", "--%s expects a whole number, got '%s'", opt, s);
    errno = 0;
    unsigned long long v = strtoull(s, NULL, 10);
    if (errno) return cli_usage_error("simulate", "--%s is too large: '%s'", opt, s);
    *out = v;
    return CLI_EXIT_OK;
}

static void pct(char *buf, size_t n, double v)
{
    if (isfinite(v))
        snprintf(buf, n, "%.2f%%", v * 100.0);
    else
        snprintf(buf, n, "n/a");
}

static void pval(char *buf, size_t n, double v)
{
    if (!isfinite(v))
        snprintf(buf, n, "n/a");
    else if (v < 0.0001)
        snprintf(buf, n, "< 0.0001");
    else
        snprintf(buf, n, "%.4f", v);
}

static void print_summary(const struct tailor_simulate_summary *s)
{
    const struct tailor_simulate_report *r = &s->report;
    char a[32], b[32], c[32], v[32];
    printf("SIMULATED A/B test \"%s\" (synthetic shoppers; see 'tailor simulate --help')\n", s->experiment_id);
    printf("  %s shoppers (of %s customers with orders), %s visits, %s events stored, %.1f s\n",
           cli_fmt_count(s->shoppers, a, sizeof a), cli_fmt_count(s->customers, b, sizeof b),
           cli_fmt_count(s->visits, c, sizeof c), cli_fmt_count(s->events, v, sizeof v), s->seconds);
    char t0[32], t1[32];
    time_t a0 = (time_t)(s->start_ms / 1000), a1 = (time_t)(s->end_ms / 1000);
    struct tm g0, g1;
    strftime(t0, sizeof t0, "%Y-%m-%d %H:%M", gmtime_r(&a0, &g0));
    strftime(t1, sizeof t1, "%Y-%m-%d %H:%M", gmtime_r(&a1, &g1));
    printf("  simulated period %s .. %s UTC\n", t0, t1);
    if (s->start_ms - s->last_order_ms > 60 * 86400000LL) {
        time_t al = (time_t)(s->last_order_ms / 1000);
        struct tm gl;
        strftime(t0, sizeof t0, "%Y-%m-%d", gmtime_r(&al, &gl));
        printf("  note: the shop's orders end %s; bestsellers (30-day half-life) are now made of the simulated\n"
               "        events of BOTH arms, so \"off\" learns from \"on\". --end data simulates at the data's clock\n",
               t0);
    }
    printf("  time: relevance %.1f s, for_you answers %.1f s, storing events %.1f s\n", s->seconds_relevance,
           s->seconds_recommend, s->seconds_ingest);
    printf("  relevant items per shopper: %.1f on average (relevance by %s)\n", s->mean_relevant,
           s->relevance[0] ? s->relevance : "count");
    if (s->units_before)
        printf("  note: the experiment already had %llu visitors from earlier runs; the report counts them too\n",
               (unsigned long long)s->units_before);
    for (int k = 0; k < TAILOR_SIM_ARMS; k++) {
        const struct tailor_simulate_report_arm *ra = &r->arms[k];
        const struct tailor_simulate_arm *sa = &s->arms[k];
        pct(a, sizeof a, ra->conversion_rate);
        pct(b, sizeof b, ra->conversion_rate_lo);
        pct(c, sizeof c, ra->conversion_rate_hi);
        printf("  %-3s  visitors %6llu  conversion %s [%s, %s]  relevant shown %.1f%%  clicks %llu  orders %llu\n",
               sa->name, (unsigned long long)ra->visitors, a, b, c,
               sa->shown ? 100.0 * (double)sa->shown_relevant / (double)sa->shown : 0.0, (unsigned long long)sa->clicks,
               (unsigned long long)ra->orders);
    }
    pct(a, sizeof a, r->uplift);
    pct(b, sizeof b, r->uplift_lo);
    pct(c, sizeof c, r->uplift_hi);
    printf("  uplift (on vs off) %s [%s, %s]", a, b, c);
    pct(a, sizeof a, r->diff);
    pct(b, sizeof b, r->diff_lo);
    pct(c, sizeof c, r->diff_hi);
    printf("  difference %s [%s, %s]\n", a, b, c);
    pval(a, sizeof a, r->p_value);
    pval(b, sizeof b, r->sequential_p_value);
    printf("  p-value %s (fixed horizon)  sequential p-value %s (always valid)\n", a, b);
    pval(a, sizeof a, r->srm_p_value);
    printf("  sample ratio check: p = %s%s\n", a,
           r->srm_flagged ? "  FLAGGED: the split is broken, do not trust the results" : "  (ok)");
    if (s->mismatches)
        printf("  warning: %llu answers did not match the shopper's arm\n", (unsigned long long)s->mismatches);
    printf("report:\n");
}

int cli_simulate_main(int argc, char **argv)
{
    const char *db = NULL, *config = NULL, *shop = NULL, *shoppers = NULL, *days = NULL, *seed = NULL, *xid = NULL,
               *relevant = NULL, *relevance = NULL, *end = NULL, *pos[1];
    int npos = 0, help = 0, json = 0;
    const struct cli_opt opts[] = {{"db", 1, &db, NULL},
                                   {"config", 1, &config, NULL},
                                   {"shop", 1, &shop, NULL},
                                   {"shoppers", 1, &shoppers, NULL},
                                   {"days", 1, &days, NULL},
                                   {"seed", 1, &seed, NULL},
                                   {"experiment", 1, &xid, NULL},
                                   {"relevant", 1, &relevant, NULL},
                                   {"relevance", 1, &relevance, NULL},
                                   {"end", 1, &end, NULL},
                                   {"json", 0, NULL, &json},
                                   {NULL, 0, NULL, NULL}};
    int rc = cli_parse("simulate", argc, argv, opts, pos, 0, &npos, &help);
    if (rc) return rc;
    if (help) {
        cli_simulate_help();
        return CLI_EXIT_OK;
    }
    struct tailor_simulate_options o;
    tailor_simulate_options_init(&o);
    uint64_t n = 0, d = 0, r = 0;
    if ((rc = parse_u64("shoppers", shoppers, &n)) || (rc = parse_u64("days", days, &d)) ||
        (rc = parse_u64("seed", seed, &o.seed)) || (rc = parse_u64("relevant", relevant, &r)))
        return rc;
    if (shoppers && (n < 1 || n > 1000000)) return cli_usage_error("simulate", "--shoppers must be 1 to 1000000");
    if (days && (d < 1 || d > 365)) return cli_usage_error("simulate", "--days must be 1 to 365");
    if (relevant && (r < 1 || r > 1000)) return cli_usage_error("simulate", "--relevant must be 1 to 1000");
    if (xid && strlen(xid) > 128) return cli_usage_error("simulate", "--experiment must be 1 to 128 bytes");
    o.shoppers = n;
    o.days = (uint32_t)d;
    o.relevant = (uint32_t)r;
    o.experiment_id = xid;
    o.relevance = relevance;
    if (end && strcmp(end, "data") == 0) {
        o.end_ms = -1;
    } else if (end) {
        struct tailor_error te = {0};
        if (tailor_gen_parse_time(end, &o.end_ms, &te) != TL_OK || o.end_ms <= 0)
            return cli_usage_error("simulate", "--end expects an ISO 8601 time, epoch ms or 'data', got '%s'", end);
    }
    if (relevance && strcmp(relevance, "count") != 0 && strcmp(relevance, "cosine") != 0)
        return cli_usage_error("simulate", "--relevance must be count or cosine, got '%s'", relevance);

    struct tailor_options to = {.db_path = db, .config_path = config};
    struct tailor_error err = {0};
    struct tailor *t = NULL;
    enum tl_rc e = tailor_open(&to, &t, &err);
    if (e != TL_OK) {
        cli_report(e, &err, NULL);
        if (e == TL_EBUSY)
            fputs("tailor: simulate runs the engine in-process on the database file; stop the server using it\n"
                  "        (tailor serve / make run), run the simulation, then start the server again.\n",
                  stderr);
        return CLI_EXIT_ERR;
    }
    if ((e = tailor_shop_find(t, shop, &o.shop_id, &err)) != TL_OK) {
        tailor_close(t);
        return cli_report(e, &err, NULL);
    }
    struct cli_progress pr;
    cli_progress_init(&pr);
    o.progress = on_progress;
    o.progress_ctx = &pr;
    struct tailor_simulate_summary s;
    char *report = NULL;
    e = tailor_simulate(t, &o, &s, &report, &err);
    cli_progress_clear(&pr);
    tailor_close(t);
    if (e != TL_OK) {
        if (e == TL_EINVAL && err.field[0] && strcmp(err.field, "experiment") != 0)
            return cli_usage_error("simulate", "%s", err.msg);
        return cli_report(e, &err, NULL);
    }
    if (!json) print_summary(&s);
    printf("%s\n", report ? report : "{}");
    tailor_free(report);
    return CLI_EXIT_OK;
}
