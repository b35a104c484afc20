/* `tailor shops create NAME`: add a shop (tenant) to the database and
 * print "ID NAME" on stdout. Shop 1 ("default") exists from the start. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

void cli_shops_help(void)
{
    fputs("Usage: tailor shops create NAME [--db FILE]\n"
          "\n"
          "Create a shop (one tenant of this database) and print its id and name\n"
          "as \"ID NAME\". The default shop (id 1) always exists. Use the name with\n"
          "--shop in 'tailor keys create' and 'tailor import'.\n"
          "\n"
          "Options:\n"
          "  --db FILE   database file (default tailor.db)\n"
          "  -h, --help  show this help\n",
          stdout);
}

int cli_shops_main(int argc, char **argv)
{
    const char *db = NULL, *pos[2];
    int npos = 0, help = 0;
    const struct cli_opt opts[] = {{"db", 1, &db, NULL}, {NULL, 0, NULL, NULL}};
    int rc = cli_parse("shops", argc, argv, opts, pos, 2, &npos, &help);
    if (rc) return rc;
    if (help) {
        cli_shops_help();
        return CLI_EXIT_OK;
    }
    if (npos == 0) return cli_usage_error("shops", "missing subcommand (expected 'create')");
    if (strcmp(pos[0], "create") != 0) return cli_usage_error("shops", "unknown subcommand '%s'", pos[0]);
    if (npos < 2) return cli_usage_error("shops", "missing shop NAME");

    struct tailor_options o = {.db_path = db, .config_path = NULL, .port = 0, .admin_only = 1};
    struct tailor_error err = {0};
    struct tailor *t = NULL;
    enum tl_rc r = tailor_open(&o, &t, &err);
    if (r != TL_OK) return cli_report(r, &err, NULL);
    uint32_t id = 0;
    int code = CLI_EXIT_OK;
    if ((r = tailor_shop_create(t, pos[1], &id, &err)) != TL_OK) {
        if (r == TL_EEXIST && !err.msg[0]) snprintf(err.msg, sizeof err.msg, "shop '%s' already exists", pos[1]);
        code = cli_report(r, &err, NULL);
    } else {
        printf("%u %s\n", (unsigned)id, pos[1]);
    }
    tailor_close(t);
    return code;
}
