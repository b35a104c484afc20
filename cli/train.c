/* `tailor train [--shop NAME] [--db FILE] [--config FILE]`: train the shop's
 * models now (the same run a server does on its schedule or on POST
 * /v1/admin/train), save the snapshot the server loads at start, and print
 * the training status as JSON on stdout. A progress bar goes to stderr when
 * it is a terminal. The database must not be in use by a server (send
 * POST /v1/admin/train to a running server instead). */
#include <stdio.h>
#include <string.h>

#include "cli.h"

void cli_train_help(void)
{
    fputs("Usage: tailor train [--shop NAME] [--db FILE] [--config FILE]\n"
          "\n"
          "Train the recommendation models of a shop (matrix factorisation, item\n"
          "neighbours, content similarity, session kNN, association rules: see\n"
          "train_models in docs/configuration.md) from its orders and events, and\n"
          "save them next to the database (FILE.models-SHOP). A server loads them at\n"
          "start; a running server retrains on its schedule or on POST /v1/admin/train,\n"
          "so use this command only while no server holds the database.\n"
          "Prints the training status (models, seconds, memory) as JSON.\n"
          "\n"
          "Options:\n"
          "  --shop NAME    shop to train (default: the default shop)\n"
          "  --db FILE      database file (default tailor.db)\n"
          "  --config FILE  server configuration (model settings)\n"
          "  -h, --help     show this help\n",
          stdout);
}

static void on_progress(void *ctx, double frac, const char *phase)
{
    struct cli_progress *pr = ctx;
    if (!cli_progress_due(pr, frac >= 1.0)) return;
    char bar[CLI_BAR_WIDTH + 1], eta[32], line[160];
    snprintf(line, sizeof line, "[%s] %3.0f%%  ETA %s  %.60s", cli_fmt_bar(frac, bar, sizeof bar), frac * 100.0,
             cli_fmt_eta(cli_now_s() - pr->start, frac, eta, sizeof eta), phase ? phase : "");
    cli_progress_line(pr, line);
}

int cli_train_main(int argc, char **argv)
{
    const char *shop = NULL, *db = NULL, *config = NULL, *pos[1];
    int npos = 0, help = 0;
    const struct cli_opt opts[] = {
        {"shop", 1, &shop, NULL}, {"db", 1, &db, NULL}, {"config", 1, &config, NULL}, {NULL, 0, NULL, NULL}};
    int rc = cli_parse("train", argc, argv, opts, pos, 0, &npos, &help);
    if (rc) return rc;
    if (help) {
        cli_train_help();
        return CLI_EXIT_OK;
    }
    struct tailor *t = NULL;
    uint32_t shop_id = 0;
    if ((rc = cli_open_shop(db, config, shop, &t, &shop_id)) != CLI_EXIT_OK) return rc;
    struct tailor_error err = {0};
    struct cli_progress b;
    cli_progress_init(&b);
    char *status = NULL;
    enum tl_rc r = tailor_train(t, shop_id, on_progress, &b, &status, &err);
    cli_progress_clear(&b);
    tailor_close(t);
    if (r != TL_OK) return cli_report(r, &err, NULL);
    printf("%s\n", status ? status : "{}");
    tailor_free(status);
    return CLI_EXIT_OK;
}
