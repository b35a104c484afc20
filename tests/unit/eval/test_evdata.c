/* Tests for src/eval/evdata.c and the runner: each protocol on a tiny file
 * (cases, masking, unknown items, split handling), malformed input names
 * the line, and a full run's numbers for the pop model by hand. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eval/eval.h"

static char *write_tmp(const char *text)
{
    char *path = strdup("/tmp/tl_evdata_XXXXXX");
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static uint32_t id(struct tl_evdata *e, const char *s) { return tl_strtab_find(&e->items, s); }

Test(evdata, sessions)
{
    char *tr = write_tmp("SessionId\tItemId\tTime\n1\ta\t1.0\n1\tb\t2.0\n2\tb\t1.5\n2\tc\t1.0\n");
    /* test: session 7 (a, x unknown, b), session 8 (c), session 9 (a, c) */
    char *te = write_tmp("SessionId\tItemId\tTime\n7\ta\t1\n7\tx\t2\n7\tb\t3\n8\tc\t1\n9\ta\t1\n9\tc\t2\n");
    struct tl_evdata *e = NULL;
    struct tl_err err;
    cr_assert_eq(tl_evdata_sessions(tr, te, 0, &e, &err), TL_OK, "%s", err.msg);
    cr_assert_eq(e->train->n_users, 2);
    cr_assert_eq(e->train->n_items, 3);
    /* session 2 sorted by time: c then b */
    cr_assert_eq(e->train->item[e->train->off[1]], id(e, "c"));
    cr_assert_eq(e->n_cases, 3); /* 7: 2 cases, 8: none, 9: 1 */
    struct tl_evcase *c = &e->cases[1];
    cr_assert_eq(c->n_hist, 1); /* x dropped from history */
    cr_assert_eq(e->hist[c->hist_off], id(e, "a"));
    cr_assert_eq(e->tgt[c->tgt_off], id(e, "b"));
    cr_assert_eq(e->tgt[e->cases[0].tgt_off], UINT32_MAX); /* unknown target: a miss */
    cr_assert_eq(c->mask, 0);
    tl_evdata_free(e);
    cr_assert_eq(tl_evdata_sessions(tr, te, 1, &e, &err), TL_OK);
    cr_assert_eq(e->n_cases, 2);
    tl_evdata_free(e);
    char *bad = write_tmp("SessionId\tItemId\tTime\n1\ta\t1.0\n1\tb\tnoon\n");
    tl_err_clear(&err);
    cr_assert_eq(tl_evdata_sessions(bad, te, 0, &e, &err), TL_EPARSE);
    cr_assert_eq(err.line, 3);
    unlink(tr), unlink(te), unlink(bad);
    free(tr), free(te), free(bad);
}

Test(evdata, sequences_and_run)
{
    char *p = write_tmp("1 a b c d\n2 b c\n3 c a b d e\n");
    struct tl_evdata *e = NULL;
    struct tl_err err;
    cr_assert_eq(tl_evdata_sequences(p, &e, &err), TL_OK, "%s", err.msg);
    cr_assert_eq(e->train->n_users, 3);
    /* training: user1 a b, user2 b c (too short to test), user3 c a b */
    cr_assert_eq(e->train->n, 2 + 2 + 3);
    cr_assert_eq(e->n_cases, 2);
    cr_assert_eq(e->cases[0].n_hist, 3);
    cr_assert_eq(e->cases[0].mask, 1);
    cr_assert_eq(e->tgt[e->cases[0].tgt_off], id(e, "d"));
    /* pop over training: b 3 users, a 2, c 2, d 0 -> user 1 (masked a b c)
     * gets nothing but unseen items; d/e have no training users so pop
     * returns none: HR 0. user 3 history c a b d, target e: HR 0. */
    struct tl_eval_run_opts o = {.models = "pop", .ks = {1, 5}, .n_ks = 2, .threads = 2};
    struct tl_eval_results r;
    cr_assert_eq(tl_eval_run(e, &o, &r, &err), TL_OK, "%s", err.msg);
    cr_assert_eq(r.n, 1);
    cr_assert_eq(r.r[0].m.cases, 2);
    cr_assert_float_eq(tl_evm_hr(&r.r[0].m, 1), 0.0, 1e-12);
    tl_eval_results_free(&r);
    /* --self-valid: the model trains on the items but the last: user1 a b c,
     * user2 b c, user3 c a b d (9 interactions); d now has a training user,
     * so pop puts it first for user 1 (history a b c masked, target d): HR@1
     * 1 of 2 cases */
    cr_assert_eq(e->train_valid->n, 3 + 2 + 4);
    o.self_valid = "itemknn, pop";
    cr_assert_eq(tl_eval_run(e, &o, &r, &err), TL_OK, "%s", err.msg);
    cr_assert_float_eq(tl_evm_hr(&r.r[0].m, 1), 0.5, 1e-12);
    tl_eval_results_free(&r);
    o.self_valid = "popular"; /* not "pop": a whole-name match only */
    cr_assert_eq(tl_eval_run(e, &o, &r, &err), TL_OK, "%s", err.msg);
    cr_assert_float_eq(tl_evm_hr(&r.r[0].m, 1), 0.0, 1e-12);
    tl_eval_results_free(&r);
    o.self_valid = NULL;
    o.models = "pop,nosuch";
    cr_assert_eq(tl_eval_run(e, &o, &r, &err), TL_EINVAL);
    cr_assert(strstr(err.msg, "nosuch"));
    const char *params[] = {"itemknn.neighbors=0"};
    o.models = "itemknn";
    o.params = params;
    o.n_params = 1;
    cr_assert_eq(tl_eval_run(e, &o, &r, &err), TL_EINVAL);
    tl_evdata_free(e);
    unlink(p);
    free(p);
}

/* --sources: after the blend's row, one row per blended model, named
 * blend/NAME and scored alone; with fixed weights (tune 0) the blend's pop
 * is trained on the same data as a standalone pop, so their rows match. */
Test(evdata, blend_sources_rows)
{
    char *p = write_tmp("1 a b c d\n2 b c\n3 c a b d e\n4 a c d e b\n5 b d a c e\n");
    struct tl_evdata *e = NULL;
    struct tl_err err;
    cr_assert_eq(tl_evdata_sequences(p, &e, &err), TL_OK, "%s", err.msg);
    const char *params[] = {"blend.models=pop:1,itemknn:1", "blend.tune=0"};
    struct tl_eval_run_opts o = {
        .models = "blend,pop", .params = params, .n_params = 2, .ks = {1, 5}, .n_ks = 2, .threads = 2, .sources = 1};
    struct tl_eval_results r;
    cr_assert_eq(tl_eval_run(e, &o, &r, &err), TL_OK, "%s", err.msg);
    cr_assert_eq(r.n, 4);
    cr_assert_str_eq(r.r[0].name, "blend");
    cr_assert_str_eq(r.r[1].name, "blend/pop");
    cr_assert_str_eq(r.r[2].name, "blend/itemknn");
    cr_assert_str_eq(r.r[3].name, "pop");
    for (size_t k = 0; k < 2; k++) {
        cr_assert_float_eq(tl_evm_hr(&r.r[1].m, k), tl_evm_hr(&r.r[3].m, k), 1e-12);
        cr_assert_float_eq(tl_evm_ndcg(&r.r[1].m, k), tl_evm_ndcg(&r.r[3].m, k), 1e-12);
    }
    cr_assert_eq(r.r[1].m.cases, r.r[3].m.cases);
    tl_eval_results_free(&r);
    o.sources = 0;
    cr_assert_eq(tl_eval_run(e, &o, &r, &err), TL_OK, "%s", err.msg);
    cr_assert_eq(r.n, 2, "without --sources: one row per model");
    tl_eval_results_free(&r);
    tl_evdata_free(e);
    unlink(p);
    free(p);
}

Test(evdata, orders_protocol)
{
    const char *hdr = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n";
    char text[2048];
    snprintf(text, sizeof text,
             "%s"
             "1,A,x,1,2011-01-01 10:00:00,1.0,100,UK\n"
             "1,B,x,1,2011-01-01 10:00:00,1.0,100,UK\n"
             "2,A,x,1,2011-01-02 10:00:00,1.0,200,UK\n"
             "2,C,\"x, y\",1,2011-01-02 10:00:00,1.0,200,UK\n"
             "C3,C,x,-1,2011-01-03 10:00:00,1.0,100,UK\n" /* cancellation: dropped */
             "4,C,x,1,2011-02-01 10:00:00,1.0,100,UK\n"   /* after: new for 100 */
             "4,B,x,1,2011-02-01 10:00:00,1.0,100,UK\n"   /* after: re-buy for 100 */
             "4,Z,x,1,2011-02-01 10:00:00,1.0,100,UK\n"   /* unknown before the split */
             "5,D,x,1,2011-02-01 10:00:00,1.0,,UK\n"      /* no customer: dropped */
             "6,A,x,0,2011-01-01 10:00:00,1.0,300,UK\n"   /* quantity 0: dropped */
             "7,B,x,2,2/3/2011 9:00,1.0,200,UK\n",        /* after (m/d/y), new for 200 */
             hdr);
    char *p = write_tmp(text);
    struct tl_evdata *e = NULL;
    struct tl_err err;
    int64_t split = 1296518400000LL; /* 2011-02-01 00:00 UTC */
    cr_assert_eq(tl_evdata_orders(p, split, 0, &e, &err), TL_OK, "%s", err.msg);
    cr_assert_eq(e->train->n, 4);
    cr_assert_eq(e->n_cases, 2);
    /* customer 100: history A B, target C only (Z unknown, B a re-buy) */
    struct tl_evcase *c = &e->cases[0];
    cr_assert_eq(c->n_tgt, 1);
    cr_assert_eq(e->tgt[c->tgt_off], id(e, "C"));
    cr_assert_eq(c->n_hist, 2);
    cr_assert_eq(c->mask, 1);
    tl_evdata_free(e);
    cr_assert_eq(tl_evdata_orders(p, split, 1, &e, &err), TL_OK);
    cr_assert_eq(e->n_cases, 1); /* 100 bought B again */
    cr_assert_eq(e->tgt[e->cases[0].tgt_off], id(e, "B"));
    cr_assert_eq(e->cases[0].mask, 0);
    tl_evdata_free(e);
    unlink(p);
    free(p);
    snprintf(text, sizeof text, "%s1,A,x,1,yesterday,1.0,100,UK\n", hdr);
    p = write_tmp(text);
    tl_err_clear(&err);
    cr_assert_eq(tl_evdata_orders(p, split, 0, &e, &err), TL_EPARSE);
    cr_assert_eq(err.line, 2);
    unlink(p);
    free(p);
}
