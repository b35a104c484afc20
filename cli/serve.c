/* `tailor serve`: open the engine over a database and serve HTTP until
 * SIGTERM/SIGINT (tailor_serve drains in-flight requests and flushes).
 * Flags override the config file, which overrides the defaults. */
#include "cli.h"

#include <stdio.h>

void cli_serve_help(void)
{
    fputs("Usage: tailor serve [--port N] [--db FILE] [--config FILE] [--demo-key KEY]\n"
          "\n"
          "Serve the HTTP API, tailor.js and the dashboard until SIGTERM or SIGINT,\n"
          "then finish in-flight requests and flush.\n"
          "\n"
          "Options:\n"
          "  --port N       TCP port on 127.0.0.1 (default: config file, else 8080)\n"
          "  --db FILE      database file, created if missing (default tailor.db)\n"
          "  --config FILE  JSON configuration (see docs/configuration.md)\n"
          "  --demo-key KEY public key the demo storefront at /demo uses\n"
          "  -h, --help     show this help\n",
          stdout);
}

int cli_serve_main(int argc, char **argv)
{
    const char *port_s = NULL, *db = NULL, *config = NULL, *demo_key = NULL, *pos[1];
    int npos = 0, help = 0;
    const struct cli_opt opts[] = {{"port", 1, &port_s, NULL},
                                   {"db", 1, &db, NULL},
                                   {"config", 1, &config, NULL},
                                   {"demo-key", 1, &demo_key, NULL},
                                   {NULL, 0, NULL, NULL}};
    int rc = cli_parse("serve", argc, argv, opts, pos, 0, &npos, &help);
    if (rc) return rc;
    if (help) {
        cli_serve_help();
        return CLI_EXIT_OK;
    }
    struct tailor_options o = {.db_path = db, .config_path = config, .port = 0, .demo_key = demo_key};
    if (port_s && cli_parse_port(port_s, &o.port))
        return cli_usage_error("serve", "--port: expected a number from 1 to 65535, got '%s'", port_s);

    struct tailor_error err = {0};
    struct tailor *t = NULL;
    enum tl_rc r = tailor_open(&o, &t, &err);
    if (r != TL_OK) return cli_report(r, &err, config);
    r = tailor_serve(t, &err);
    tailor_close(t);
    if (r != TL_OK) return cli_report(r, &err, config);
    return CLI_EXIT_OK;
}
