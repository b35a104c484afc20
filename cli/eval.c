/* `tailor eval sessions|sequences|orders ...`: offline evaluation of every
 * model on public data files (see docs/evaluation.md). Results on stdout
 * (a table, or JSON with --json); progress on stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define EVAL_PARAMS_MAX 64

void cli_eval_help(void)
{
    fputs("Usage: tailor eval sessions --train FILE --test FILE [--sessions N] [OPTIONS]\n"
          "       tailor eval sequences FILE [OPTIONS]\n"
          "       tailor eval orders FILE --split-date YYYY-MM-DD [--buy-again] [OPTIONS]\n"
          "       tailor eval search --products FILE --judgements FILE [--queries FILE] [--json]\n"
          "\n"
          "Train every model on the training part of public data and score its\n"
          "recommendations on the held-out part: HR@k, NDCG@k, MRR@k, Recall@k,\n"
          "catalog coverage and popularity of what is recommended, one row per model.\n"
          "\n"
          "Protocols:\n"
          "  sessions   tab-separated SessionId, ItemId, Time (with a header); predict\n"
          "             each next click of every test session from the clicks before it.\n"
          "  sequences  one user per line 'uid item item ...' in time order; leave one\n"
          "             out: train without each user's last two items, rank all items\n"
          "             for the last one, the user's items masked.\n"
          "  orders     UCI Online Retail CSV; train on purchases before the split\n"
          "             date; targets are items a customer bought after it and never\n"
          "             before (--buy-again: items bought again).\n"
          "  search     product search against graded judgements: CSV\n"
          "             search_term,product_uid,relevance (1..3) or TREC qrels with\n"
          "             --queries (qid<TAB>query); NDCG@10, MRR, Recall@10/100 of\n"
          "             Tailor's index beside SQLite FTS5 bm25() on the same products.\n"
          "\n"
          "Options:\n"
          "  --models LIST      comma-separated models (default: all that apply)\n"
          "  --param M.KEY=VAL  model parameter, repeatable (e.g. ease.lambda=50)\n"
          "  --self-valid LIST  sequences: these models hold out their own validation\n"
          "                     item (e.g. sasrec with sasrec.valid=1): they train on\n"
          "                     each user's items but the last, the others but the\n"
          "                     last two\n"
          "  --sources          after the blend's row, one row per blended model\n"
          "                     (blend/NAME), each scored alone as trained inside\n"
          "                     the blend\n"
          "  --k LIST           cutoffs, e.g. 10,20 (default 10,20)\n"
          "  --threads N        threads for training and scoring (default 2)\n"
          "  --seed N           training seed (default 42)\n"
          "  --json             print a JSON array of {model, metric, k, value} rows\n"
          "  --json-out FILE    also write that JSON array to FILE\n"
          "  --quiet            no progress on stderr\n"
          "  -h, --help         show this help\n",
          stdout);
}

int cli_eval_main(int argc, char **argv)
{
    /* --param repeats: collect and remove before the generic parser. */
    const char *params[EVAL_PARAMS_MAX];
    size_t n_params = 0;
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    if (!rest) return CLI_EXIT_ERR;
    int nrest = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = NULL;
        if (strcmp(a, "--param") == 0) {
            if (i + 1 >= argc) {
                free(rest);
                return cli_usage_error("eval", "--param needs MODEL.KEY=VALUE");
            }
            v = argv[++i];
        } else if (strncmp(a, "--param=", 8) == 0) {
            v = a + 8;
        }
        if (v) {
            if (n_params == EVAL_PARAMS_MAX) {
                free(rest);
                return cli_usage_error("eval", "at most %d --param options", EVAL_PARAMS_MAX);
            }
            params[n_params++] = v;
        } else {
            rest[nrest++] = argv[i];
        }
    }
    const char *train = NULL, *test = NULL, *sessions = NULL, *split = NULL, *models = NULL, *ks = NULL;
    const char *threads = NULL, *seed = NULL, *json_path = NULL, *pos[3];
    const char *products = NULL, *judgements = NULL, *queries = NULL, *self_valid = NULL;
    int json = 0, quiet = 0, buy_again = 0, help = 0, npos = 0, sources = 0;
    const struct cli_opt opts[] = {{"train", 1, &train, NULL},        {"test", 1, &test, NULL},
                                   {"sessions", 1, &sessions, NULL},  {"split-date", 1, &split, NULL},
                                   {"models", 1, &models, NULL},      {"k", 1, &ks, NULL},
                                   {"threads", 1, &threads, NULL},    {"seed", 1, &seed, NULL},
                                   {"json", 0, NULL, &json},          {"quiet", 0, NULL, &quiet},
                                   {"json-out", 1, &json_path, NULL}, {"buy-again", 0, NULL, &buy_again},
                                   {"products", 1, &products, NULL},  {"judgements", 1, &judgements, NULL},
                                   {"queries", 1, &queries, NULL},    {"self-valid", 1, &self_valid, NULL},
                                   {"sources", 0, NULL, &sources},    {NULL, 0, NULL, NULL}};
    int rc = cli_parse("eval", nrest, rest, opts, pos, 3, &npos, &help);
    if (rc || help) {
        free(rest);
        if (help) cli_eval_help();
        return rc;
    }
    struct tailor_eval_options o = {.params = params,
                                    .n_params = n_params,
                                    .models = models,
                                    .self_valid = self_valid,
                                    .sources = sources,
                                    .ks = ks,
                                    .json = json,
                                    .buy_again = buy_again,
                                    .seed = 42,
                                    .split_date = split,
                                    .out = stdout,
                                    .progress = quiet ? NULL : stderr};
    if (npos == 0) {
        free(rest);
        return cli_usage_error("eval", "missing protocol (sessions, sequences, orders or search)");
    }
    o.protocol = pos[0];
    if (strcmp(pos[0], "sessions") == 0) {
        if (!train || !test || npos > 1) {
            free(rest);
            return cli_usage_error("eval", "sessions takes --train FILE --test FILE and no other argument");
        }
        o.train_path = train;
        o.test_path = test;
    } else if (strcmp(pos[0], "search") == 0) {
        if (!products || !judgements || npos > 1) {
            free(rest);
            return cli_usage_error("eval", "search takes --products FILE --judgements FILE [--queries FILE]");
        }
        o.products_path = products;
        o.judgements_path = judgements;
        o.queries_path = queries;
    } else if (strcmp(pos[0], "sequences") == 0 || strcmp(pos[0], "orders") == 0) {
        if (npos != 2) {
            free(rest);
            return cli_usage_error("eval", "%s takes one FILE", pos[0]);
        }
        o.path = pos[1];
        if (strcmp(pos[0], "orders") == 0 && !split) {
            free(rest);
            return cli_usage_error("eval", "orders needs --split-date YYYY-MM-DD");
        }
    } else {
        free(rest);
        return cli_usage_error("eval", "unknown protocol '%s' (expected sessions, sequences, orders or search)",
                               pos[0]);
    }
    char *end;
    if (sessions) {
        o.sessions = strtol(sessions, &end, 10);
        if (*end || end == sessions || o.sessions < 1) {
            free(rest);
            return cli_usage_error("eval", "--sessions must be a positive integer");
        }
    }
    if (threads) {
        long t = strtol(threads, &end, 10);
        if (*end || end == threads || t < 1 || t > 64) {
            free(rest);
            return cli_usage_error("eval", "--threads must be 1..64");
        }
        o.threads = (int)t;
    }
    if (seed) {
        o.seed = strtoull(seed, &end, 10);
        if (*end || end == seed) {
            free(rest);
            return cli_usage_error("eval", "--seed must be a non-negative integer");
        }
    }
    FILE *jf = NULL;
    if (json_path && !(jf = fopen(json_path, "w"))) {
        fprintf(stderr, "tailor: %s: cannot write\n", json_path);
        free(rest);
        return CLI_EXIT_ERR;
    }
    o.json_out = jf;
    struct tailor_error err = {0};
    enum tl_rc r = tailor_eval(&o, &err);
    if (jf && fclose(jf) != 0 && r == TL_OK) {
        fprintf(stderr, "tailor: %s: write failed\n", json_path);
        free(rest);
        return CLI_EXIT_ERR;
    }
    free(rest);
    if (r) return cli_report(r, &err, o.path ? o.path : o.train_path ? o.train_path : o.judgements_path);
    return CLI_EXIT_OK;
}
