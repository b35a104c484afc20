/* Shared pieces of the `tailor` command line: the subcommand entry points
 * (one file per subcommand) and small helpers (option parsing, error
 * printing, number formatting) in cli/common.c.
 *
 * The CLI talks to the engine only through include/tailor/tailor.h.
 * Exit codes: 0 success, 1 runtime error ("tailor: <message>" on stderr),
 * 2 usage error (message and a hint to run `tailor CMD --help`). */
#ifndef TAILOR_CLI_H
#define TAILOR_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "tailor/tailor.h"

enum { CLI_EXIT_OK = 0, CLI_EXIT_ERR = 1, CLI_EXIT_USAGE = 2 };

#define CLI_POS_MAX 8 /* positional arguments accepted by any command */

/* One option of a command. Value options (has_value = 1) store the argument
 * in *value ("--name VALUE" or "--name=VALUE"); flags set *flag = 1. */
struct cli_opt {
    const char *name; /* without the leading "--" */
    int has_value;
    const char **value;
    int *flag;
};

/* Parse argv[0..argc) (the words after the command name). Positionals go
 * to pos[] (at most max_pos, else usage error). "--help" / "-h" set *help
 * and stop parsing. "--" ends options. Returns CLI_EXIT_OK or, after
 * printing the error on stderr, CLI_EXIT_USAGE. */
int cli_parse(const char *cmd, int argc, char **argv, const struct cli_opt *opts, const char **pos, int max_pos,
              int *npos, int *help);

/* Print "tailor: <fmt...>" and "Try 'tailor CMD --help'." on stderr;
 * returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Print a runtime error: "tailor: [PATH:LINE:COL: ][field 'F': ]MESSAGE" on
 * stderr, with PATH only when err->line > 0 and path != NULL. MESSAGE is
 * err->msg, else the text of rc (the code the failing call returned).
 * Returns CLI_EXIT_ERR. */
int cli_report(enum tl_rc rc, const struct tailor_error *err, const char *path);

/* Parse a TCP port 1..65535 (decimal, nothing else). 0 on success. */
int cli_parse_port(const char *s, int *port);

/* Progress on stderr, drawn only when it is a terminal, at most
 * CLI_PROGRESS_HZ times a second, one line rewritten in place. */
#define CLI_PROGRESS_HZ 10
#define CLI_BAR_WIDTH 24
struct cli_progress {
    int tty;      /* stderr is a terminal */
    int drawn;    /* something is on the current stderr line */
    double start; /* monotonic seconds */
    double last;  /* last draw */
};
void cli_progress_init(struct cli_progress *p);
/* 1 if a line should be drawn now (force: regardless of the rate limit). */
int cli_progress_due(struct cli_progress *p, int force);
/* "####------" for frac 0..1, CLI_BAR_WIDTH wide (or n - 1 if smaller). */
const char *cli_fmt_bar(double frac, char *out, size_t n);
/* Time left "m:ss" at the rate so far, "--" when unknown. */
const char *cli_fmt_eta(double elapsed, double frac, char *out, size_t n);
void cli_progress_line(struct cli_progress *p, const char *line);
void cli_progress_clear(struct cli_progress *p);

/* Monotonic seconds (progress bars, rates). */
double cli_now_s(void);
/* 1234567 -> "1.2 MB" into buf (n >= 32 is always enough). */
const char *cli_fmt_bytes(uint64_t b, char *buf, size_t n);
/* Open the database (config may be NULL) and find the shop (NULL = the
 * default shop). On failure prints the error, leaves *t NULL and returns
 * the exit code; else CLI_EXIT_OK and the caller closes *t. */
int cli_open_shop(const char *db, const char *config, const char *shop, struct tailor **t, uint32_t *shop_id);

/* 1234567 -> "1,234,567" into buf (n >= 32 is always enough). */
const char *cli_fmt_count(uint64_t v, char *buf, size_t n);

/* Command entry points: argc/argv are the words after the command name. */
int cli_serve_main(int argc, char **argv);
int cli_keys_main(int argc, char **argv);
int cli_shops_main(int argc, char **argv);
int cli_import_main(int argc, char **argv);
int cli_eval_main(int argc, char **argv);
int cli_train_main(int argc, char **argv);
int cli_gen_main(int argc, char **argv);
int cli_simulate_main(int argc, char **argv);

/* Help texts (stdout, for `tailor CMD --help` and `tailor help CMD`). */
void cli_serve_help(void);
void cli_keys_help(void);
void cli_shops_help(void);
void cli_import_help(void);
void cli_eval_help(void);
void cli_train_help(void);
void cli_gen_help(void);
void cli_simulate_help(void);

#endif
