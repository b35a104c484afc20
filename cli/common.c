/* Helpers shared by the `tailor` subcommands: option parsing, error
 * printing, port parsing and thousands-separated numbers.
 *
 * Option grammar (GNU style, long options only): "--name VALUE",
 * "--name=VALUE", flags "--name", "-h"/"--help" anywhere, "--" ends options;
 * every other word is a positional. An unknown option, a missing value, a
 * value given to a flag or too many positionals is a usage error (exit 2).
 * Nothing is allocated: values point into argv. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fputs("tailor: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (cmd)
        fprintf(stderr, "\nTry 'tailor %s --help'.\n", cmd);
    else
        fputs("\nTry 'tailor --help'.\n", stderr);
    return CLI_EXIT_USAGE;
}

int cli_report(enum tl_rc rc, const struct tailor_error *err, const char *path)
{
    const char *msg = err->msg[0] ? err->msg : tl_rc_message(rc != TL_OK ? rc : err->rc);
    fputs("tailor: ", stderr);
    if (err->line > 0) {
        if (path) fprintf(stderr, "%s:", path);
        fprintf(stderr, "%ld:", err->line);
        if (err->column > 0) fprintf(stderr, "%ld:", err->column);
        fputc(' ', stderr);
    }
    if (err->field[0]) fprintf(stderr, "field '%s': ", err->field);
    fprintf(stderr, "%s\n", msg);
    return CLI_EXIT_ERR;
}

int cli_parse_port(const char *s, int *port)
{
    char *end = NULL;
    long v;
    if (!s || *s < '0' || *s > '9') return -1;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || v < 1 || v > 65535) return -1;
    *port = (int)v;
    return 0;
}

const char *cli_fmt_count(uint64_t v, char *buf, size_t n)
{
    char tmp[32];
    int len = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
    size_t o = 0;
    for (int i = 0; i < len && o + 1 < n; i++) {
        if (i > 0 && (len - i) % 3 == 0 && o + 2 < n) buf[o++] = ',';
        buf[o++] = tmp[i];
    }
    if (n) buf[o < n ? o : n - 1] = '\0';
    return buf;
}

static const struct cli_opt *find_opt(const struct cli_opt *opts, const char *name, size_t len)
{
    for (const struct cli_opt *o = opts; o && o->name; o++)
        if (strlen(o->name) == len && memcmp(o->name, name, len) == 0) return o;
    return NULL;
}

int cli_parse(const char *cmd, int argc, char **argv, const struct cli_opt *opts, const char **pos, int max_pos,
              int *npos, int *help)
{
    int only_pos = 0;
    *npos = 0;
    *help = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!only_pos && (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)) {
            *help = 1;
            return CLI_EXIT_OK;
        }
        if (!only_pos && strcmp(a, "--") == 0) {
            only_pos = 1;
            continue;
        }
        if (!only_pos && a[0] == '-' && a[1] != '\0') {
            if (a[1] != '-') return cli_usage_error(cmd, "unknown option '%s'", a);
            const char *name = a + 2;
            const char *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            const struct cli_opt *o = find_opt(opts, name, len);
            if (!o) return cli_usage_error(cmd, "unknown option '--%.*s'", (int)len, name);
            if (!o->has_value) {
                if (eq) return cli_usage_error(cmd, "option '--%s' takes no value", o->name);
                *o->flag = 1;
                continue;
            }
            if (eq) {
                *o->value = eq + 1;
            } else {
                if (i + 1 >= argc) return cli_usage_error(cmd, "option '--%s' needs a value", o->name);
                *o->value = argv[++i];
            }
            if (**o->value == '\0') return cli_usage_error(cmd, "option '--%s' needs a non-empty value", o->name);
            continue;
        }
        if (*npos >= max_pos) return cli_usage_error(cmd, "unexpected argument '%s'", a);
        pos[(*npos)++] = a;
    }
    return CLI_EXIT_OK;
}

double cli_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *cli_fmt_bytes(uint64_t b, char *buf, size_t n)
{
    if (b >= 1000000000ull)
        snprintf(buf, n, "%.2f GB", (double)b / 1e9);
    else if (b >= 1000000ull)
        snprintf(buf, n, "%.1f MB", (double)b / 1e6);
    else if (b >= 1000ull)
        snprintf(buf, n, "%.1f kB", (double)b / 1e3);
    else
        snprintf(buf, n, "%llu B", (unsigned long long)b);
    return buf;
}

int cli_open_shop(const char *db, const char *config, const char *shop, struct tailor **t, uint32_t *shop_id)
{
    struct tailor_options o = {.db_path = db, .config_path = config, .port = 0};
    struct tailor_error err = {0};
    *t = NULL;
    enum tl_rc r = tailor_open(&o, t, &err);
    if (r != TL_OK) return cli_report(r, &err, NULL);
    if ((r = tailor_shop_find(*t, shop, shop_id, &err)) != TL_OK) {
        if (r == TL_ENOTFOUND && !err.msg[0])
            snprintf(err.msg, sizeof err.msg, "no shop named '%s' (create it with 'tailor shops create')", shop);
        tailor_close(*t);
        *t = NULL;
        return cli_report(r, &err, NULL);
    }
    return CLI_EXIT_OK;
}

void cli_progress_init(struct cli_progress *p)
{
    p->tty = isatty(STDERR_FILENO);
    p->drawn = 0;
    p->start = cli_now_s();
    p->last = 0;
}

int cli_progress_due(struct cli_progress *p, int force)
{
    if (!p->tty) return 0;
    double t = cli_now_s();
    if (!force && p->drawn && t - p->last < 1.0 / CLI_PROGRESS_HZ) return 0;
    p->last = t;
    return 1;
}

const char *cli_fmt_bar(double frac, char *out, size_t n)
{
    if (frac < 0) frac = 0;
    if (frac > 1) frac = 1;
    size_t w = n > CLI_BAR_WIDTH ? CLI_BAR_WIDTH : n - 1, fill = (size_t)(frac * (double)w);
    for (size_t i = 0; i < w; i++) out[i] = i < fill ? '#' : '-';
    out[w] = '\0';
    return out;
}

const char *cli_fmt_eta(double elapsed, double frac, char *out, size_t n)
{
    if (frac <= 0 || elapsed <= 0.2) {
        snprintf(out, n, "--");
        return out;
    }
    /* remaining = elapsed x (1 - frac) / frac: the rate so far, continued */
    long s = (long)(elapsed * (1.0 - (frac > 1 ? 1 : frac)) / frac + 0.5);
    snprintf(out, n, "%ld:%02ld", s / 60, s % 60);
    return out;
}

void cli_progress_line(struct cli_progress *p, const char *line)
{
    fprintf(stderr, "\r%s\033[K", line);
    fflush(stderr);
    p->drawn = 1;
}

void cli_progress_clear(struct cli_progress *p)
{
    if (p->tty && p->drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
        p->drawn = 0;
    }
}
