/* `tailor keys create`: mint an API key for a shop. The key is printed
 * once, alone on one line of stdout (scripts capture it with $(...)); only
 * its hash is stored, so it cannot be shown again. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

void cli_keys_help(void)
{
    fputs("Usage: tailor keys create --scope public|secret [--shop NAME] [--db FILE]\n"
          "\n"
          "Create an API key and print it alone on stdout. Only its hash is stored:\n"
          "save it now, it cannot be shown again.\n"
          "  public  for browsers: send events, read recommendations and search\n"
          "  secret  for the shop's backend: also catalog, rules, experiments,\n"
          "          exports and erasure\n"
          "\n"
          "Options:\n"
          "  --scope S    public or secret (required)\n"
          "  --shop NAME  the shop the key belongs to (default: the default shop)\n"
          "  --db FILE    database file (default tailor.db)\n"
          "  -h, --help   show this help\n",
          stdout);
}

int cli_keys_main(int argc, char **argv)
{
    const char *scope = NULL, *shop = NULL, *db = NULL, *pos[1];
    int npos = 0, help = 0;
    const struct cli_opt opts[] = {
        {"scope", 1, &scope, NULL}, {"shop", 1, &shop, NULL}, {"db", 1, &db, NULL}, {NULL, 0, NULL, NULL}};
    int rc = cli_parse("keys", argc, argv, opts, pos, 1, &npos, &help);
    if (rc) return rc;
    if (help) {
        cli_keys_help();
        return CLI_EXIT_OK;
    }
    if (npos == 0) return cli_usage_error("keys", "missing subcommand (expected 'create')");
    if (strcmp(pos[0], "create") != 0) return cli_usage_error("keys", "unknown subcommand '%s'", pos[0]);
    if (!scope) return cli_usage_error("keys", "--scope is required (public or secret)");
    if (strcmp(scope, "public") != 0 && strcmp(scope, "secret") != 0)
        return cli_usage_error("keys", "--scope: expected public or secret, got '%s'", scope);

    struct tailor_options o = {.db_path = db, .config_path = NULL, .port = 0, .admin_only = 1};
    struct tailor_error err = {0};
    struct tailor *t = NULL;
    enum tl_rc r = tailor_open(&o, &t, &err);
    if (r != TL_OK) return cli_report(r, &err, NULL);
    uint32_t shop_id = 0;
    char *key = NULL;
    int code = CLI_EXIT_OK;
    if ((r = tailor_shop_find(t, shop, &shop_id, &err)) != TL_OK) {
        if (r == TL_ENOTFOUND && !err.msg[0])
            snprintf(err.msg, sizeof err.msg, "no shop named '%s' (create it with 'tailor shops create')", shop);
        code = cli_report(r, &err, NULL);
    } else if ((r = tailor_key_create(t, shop_id, scope, &key, &err)) != TL_OK) {
        code = cli_report(r, &err, NULL);
    } else {
        printf("%s\n", key);
        if (fflush(stdout) != 0) {
            fputs("tailor: cannot write the key to stdout\n", stderr);
            code = CLI_EXIT_ERR;
        }
    }
    tailor_free(key);
    tailor_close(t);
    return code;
}
