/* `tailor`: the command line entry point. Dispatches to one subcommand
 * (cli/serve.c, keys.c, shops.c, import.c) and answers --help / --version.
 *
 * Invariants: stdout carries only a command's result (help text, a key, a
 * summary line); diagnostics go to stderr. Exit codes: 0 ok, 1 runtime
 * error, 2 usage error (unknown command or option, missing argument). */
#include "cli.h"

#include <stdio.h>
#include <string.h>

struct command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
    void (*help)(void);
};

static const struct command commands[] = {
    {"serve", "serve the HTTP API, the tailor.js snippet and the dashboard", cli_serve_main, cli_serve_help},
    {"import", "import a catalog, orders, customers or events file", cli_import_main, cli_import_help},
    {"keys", "create API keys", cli_keys_main, cli_keys_help},
    {"shops", "create shops (tenants) in one database", cli_shops_main, cli_shops_help},
    {"train", "train the recommendation models of a shop now", cli_train_main, cli_train_help},
    {"gen", "generate a synthetic store (catalog, orders, events) for benchmarks", cli_gen_main, cli_gen_help},
    {"eval", "offline evaluation of the models on public data files", cli_eval_main, cli_eval_help},
    {"simulate", "simulated A/B test of personalization (synthetic shoppers)", cli_simulate_main, cli_simulate_help},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
    fputs("Usage: tailor COMMAND [OPTIONS]\n"
          "       tailor --help | --version\n"
          "       tailor help COMMAND\n"
          "\n"
          "Tailor, a self-hosted ecommerce personalization engine.\n"
          "\n"
          "Commands:\n",
          f);
    for (size_t i = 0; i < N_COMMANDS; i++) fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fputs("\n"
          "Every command accepts --help. Most accept --db FILE (default tailor.db).\n"
          "Exit status: 0 success, 1 runtime error, 2 usage error.\n",
          f);
}

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0) return &commands[i];
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *a = argv[1];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
        printf("tailor %s\n", TAILOR_VERSION);
        return CLI_EXIT_OK;
    }
    if (strcmp(a, "help") == 0) {
        if (argc == 2) {
            usage(stdout);
            return CLI_EXIT_OK;
        }
        const struct command *c = find_command(argv[2]);
        if (!c || argc > 3) return cli_usage_error(NULL, "unknown command '%s'", argv[2]);
        c->help();
        return CLI_EXIT_OK;
    }
    if (a[0] == '-') return cli_usage_error(NULL, "unknown option '%s'", a);
    const struct command *c = find_command(a);
    if (!c) return cli_usage_error(NULL, "unknown command '%s'", a);
    /* Flush before the command runs so nothing buffered is lost if a
     * signal ends `serve`. */
    fflush(stdout);
    return c->run(argc - 2, argv + 2);
}
