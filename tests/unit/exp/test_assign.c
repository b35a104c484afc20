/* Tests for src/exp/assign.c: bucket = XXH64(salt ":" unit) mod 10000
 * (recomputed here), determinism, arm distribution over 100k ids against the
 * shares (chi-square), mutually exclusive layers and independence across
 * layers, targeting, schedule and validation errors naming the field. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "exp/assign.h"

static const struct tl_assign_arm_def arms3[] = {{"control", 0.5}, {"blue", 0.3}, {"green", 0.1}};

static struct tl_assign_exp base(void)
{
    struct tl_assign_exp e;
    memset(&e, 0, sizeof e);
    e.id = "exp1";
    e.salt = "exp1-v1";
    e.arms = arms3;
    e.n_arms = 3;
    e.status = TL_ASSIGN_RUNNING;
    return e;
}

static const struct tl_assign_ctx any = {"product", "DE", 1};

Test(assign, bucket_is_xxh64_of_salt_colon_unit)
{
    /* XXH64 reference vector: XXH64("", 0, seed 0) = 0xEF46DB3751D8E999 */
    cr_assert_eq(XXH64("", 0, 0), 0xEF46DB3751D8E999ULL);
    char key[64], unit[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(unit, sizeof unit, "visitor-%d", i);
        snprintf(key, sizeof key, "exp1-v1:%s", unit);
        cr_assert_eq(tl_assign_bucket("exp1-v1", unit), (uint32_t)(XXH64(key, strlen(key), 0) % 10000));
    }
    struct tl_assign_exp e = base();
    /* the arm follows from the bucket: [0,5000) control, [5000,8000) blue, [8000,9000) green, rest out */
    for (int i = 0; i < 1000; i++) {
        snprintf(unit, sizeof unit, "visitor-%d", i);
        uint32_t b = tl_assign_bucket(e.salt, unit);
        int want = b < 5000 ? 0 : b < 8000 ? 1 : b < 9000 ? 2 : -1;
        enum tl_assign_why why;
        cr_assert_eq(tl_assign_arm(&e, unit, &any, 0, &why), want);
        cr_assert_eq(why, want < 0 ? TL_ASSIGN_HOLDOUT : TL_ASSIGN_IN);
        /* deterministic: same answer again, and for a copy of the definition */
        struct tl_assign_exp copy = e;
        cr_assert_eq(tl_assign_arm(&copy, unit, &any, 12345, NULL), want);
    }
    /* a different salt reshuffles */
    int same = 0;
    struct tl_assign_exp e2 = base();
    e2.salt = "exp1-v2";
    for (int i = 0; i < 1000; i++) {
        snprintf(unit, sizeof unit, "visitor-%d", i);
        same += tl_assign_arm(&e, unit, &any, 0, NULL) == tl_assign_arm(&e2, unit, &any, 0, NULL);
    }
    /* P(same) = .5^2 + .3^2 + .1^2 + .1^2 = 0.36 */
    cr_assert(same > 300 && same < 420, "%d", same);
}

Test(assign, distribution_matches_shares)
{
    /* 100k ids per salt; categories control/blue/green/out with expected
     * 50/30/10/10%. One salt gives a chi-square with 3 df; ten salts (the hash
     * makes them independent) give a sum with 30 df, which must stay below
     * 59.703, its 0.001 critical value, and average near 3 per salt. (With
     * ids "u%d" and salt "exp1-v1" alone the statistic is 17.8, p = 0.0005:
     * a single draw is a weak check, hence ten.) */
    static const char *const salts[] = {"exp1-v1", "exp1-v2", "abc", "x", "exp2", "hello", "s0", "s1", "ck", "t"};
    double total = 0;
    char unit[32];
    for (size_t s = 0; s < 10; s++) {
        struct tl_assign_exp e = base();
        e.salt = salts[s];
        long cnt[4] = {0};
        for (int i = 0; i < 100000; i++) {
            snprintf(unit, sizeof unit, "u%d", i);
            int a = tl_assign_arm(&e, unit, &any, 0, NULL);
            cnt[a < 0 ? 3 : a]++;
        }
        double exp_[4] = {50000, 30000, 10000, 10000}, x2 = 0;
        for (int k = 0; k < 4; k++) x2 += (cnt[k] - exp_[k]) * (cnt[k] - exp_[k]) / exp_[k];
        cr_log_info("assign 100k salt %s: %ld %ld %ld %ld chi2(3) %.3f", salts[s], cnt[0], cnt[1], cnt[2], cnt[3], x2);
        total += x2;
    }
    cr_log_info("assign: sum of chi2 over 10 salts %.3f (30 df)", total);
    cr_assert(total < 59.703, "chi2(30) %g", total);
}

Test(assign, layers)
{
    struct tl_assign_arm_def ab[] = {{"a", 0.5}, {"b", 0.5}};
    struct tl_assign_exp x[3];
    for (int i = 0; i < 3; i++) {
        x[i] = base();
        x[i].arms = ab;
        x[i].n_arms = 2;
    }
    x[0].id = "x0", x[0].salt = "s0", x[0].layer = "checkout", x[0].layer_start = 0, x[0].layer_end = 4000;
    x[1].id = "x1", x[1].salt = "s1", x[1].layer = "checkout", x[1].layer_start = 4000, x[1].layer_end = 10000;
    x[2].id = "x2", x[2].salt = "s2", x[2].layer = "search", x[2].layer_start = 0, x[2].layer_end = 5000;
    cr_assert_eq(tl_assign_validate_set(x, 3, NULL), TL_OK);
    long in0 = 0, in1 = 0, in2 = 0, both01 = 0, both02 = 0, b0 = 0;
    char unit[32];
    int n = 40000;
    for (int i = 0; i < n; i++) {
        snprintf(unit, sizeof unit, "c%d", i);
        enum tl_assign_why why;
        int a0 = tl_assign_arm(&x[0], unit, &any, 0, &why);
        if (a0 < 0) cr_assert_eq(why, TL_ASSIGN_OTHER_LAYER_SLICE);
        int a1 = tl_assign_arm(&x[1], unit, &any, 0, NULL);
        int a2 = tl_assign_arm(&x[2], unit, &any, 0, NULL);
        in0 += a0 >= 0, in1 += a1 >= 0, in2 += a2 >= 0;
        both01 += a0 >= 0 && a1 >= 0;
        both02 += a0 >= 0 && a2 >= 0;
        b0 += a0 == 1;
    }
    cr_assert_eq(both01, 0);    /* same layer: mutually exclusive */
    cr_assert_eq(in0 + in1, n); /* the two slices cover the whole layer */
    cr_assert(labs(in0 - 16000) < 500, "%ld", in0);
    cr_assert(labs(in2 - 20000) < 500, "%ld", in2);
    /* different layers are independent: P(in x0 and in x2) = 0.4 * 0.5 */
    cr_assert(labs(both02 - 8000) < 400, "%ld", both02);
    /* inside the slice the arms still split 50/50 */
    cr_assert(labs(2 * b0 - in0) < 500, "%ld of %ld", b0, in0);
    /* overlapping ranges in one layer are refused, naming the experiment */
    struct tl_err e;
    x[1].layer_start = 3999;
    cr_assert_eq(tl_assign_validate_set(x, 3, &e), TL_EINVAL);
    cr_assert_str_eq(e.field, "experiments[1].layer_start");
    x[1].layer_start = 4000;
    x[2].salt = "s0";
    cr_assert_eq(tl_assign_validate_set(x, 3, &e), TL_EINVAL);
    cr_assert_str_eq(e.field, "experiments[2].salt");
    x[2].salt = "s2";
    x[2].id = "x0";
    cr_assert_eq(tl_assign_validate_set(x, 3, &e), TL_EINVAL);
    cr_assert_str_eq(e.field, "experiments[2].id");
}

Test(assign, targeting)
{
    const char *pages[] = {"product", "cart"};
    const char *countries[] = {"DE", "at"};
    struct tl_assign_exp e = base();
    e.arms = (const struct tl_assign_arm_def[]){{"a", 0.5}, {"b", 0.5}}; /* everyone is in */
    e.n_arms = 2;
    e.page_types = pages, e.n_page_types = 2;
    e.countries = countries, e.n_countries = 2;
    e.audience = TL_ASSIGN_NEW_ONLY;
    cr_assert_eq(tl_assign_validate(&e, NULL), TL_OK);
    struct {
        struct tl_assign_ctx ctx;
        int in;
    } c[] = {
        {{"product", "DE", 1}, 1},  {{"cart", "AT", 1}, 1},    {{"cart", "de", 1}, 1}, {{"home", "DE", 1}, 0},
        {{"product", "FR", 1}, 0},  {{"product", "DE", 0}, 0}, {{NULL, "DE", 1}, 0},   {{"product", NULL, 1}, 0},
        {{"product", "DE", -1}, 0}, {{"Product", "DE", 1}, 0},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        enum tl_assign_why why;
        int a = tl_assign_arm(&e, "someone", &c[i].ctx, 0, &why);
        cr_assert_eq(a >= 0, c[i].in, "case %zu", i);
        if (!c[i].in) cr_assert_eq(why, TL_ASSIGN_NOT_TARGETED);
    }
    cr_assert_lt(tl_assign_arm(&e, "someone", NULL, 0, NULL), 0);
    e.audience = TL_ASSIGN_RETURNING_ONLY;
    cr_assert_geq(tl_assign_arm(&e, "someone", &(struct tl_assign_ctx){"product", "DE", 0}, 0, NULL), 0);
    cr_assert_lt(tl_assign_arm(&e, "someone", &(struct tl_assign_ctx){"product", "DE", 1}, 0, NULL), 0);
    /* no restrictions: NULL ctx is fine */
    struct tl_assign_exp open = base();
    open.arms = e.arms, open.n_arms = 2;
    cr_assert_geq(tl_assign_arm(&open, "someone", NULL, 0, NULL), 0);
}

Test(assign, schedule_and_bad_units)
{
    struct tl_assign_exp e = base();
    e.arms = (const struct tl_assign_arm_def[]){{"a", 0.5}, {"b", 0.5}};
    e.n_arms = 2;
    e.start_ms = 1000, e.stop_ms = 2000;
    enum tl_assign_why why;
    cr_assert_eq(tl_assign_arm(&e, "u", &any, 999, &why), -1);
    cr_assert_eq(why, TL_ASSIGN_NOT_RUNNING);
    cr_assert_geq(tl_assign_arm(&e, "u", &any, 1000, NULL), 0);
    cr_assert_geq(tl_assign_arm(&e, "u", &any, 1999, NULL), 0);
    cr_assert_eq(tl_assign_arm(&e, "u", &any, 2000, NULL), -1);
    e.status = TL_ASSIGN_DRAFT;
    cr_assert_eq(tl_assign_arm(&e, "u", &any, 1500, NULL), -1);
    e.status = TL_ASSIGN_STOPPED;
    cr_assert_eq(tl_assign_arm(&e, "u", &any, 1500, NULL), -1);
    e.status = TL_ASSIGN_RUNNING;
    e.start_ms = e.stop_ms = 0;
    cr_assert_geq(tl_assign_arm(&e, "u", &any, -5, NULL), 0);
    char lng[TL_ASSIGN_UNIT_MAX + 2];
    memset(lng, 'x', sizeof lng - 1);
    lng[sizeof lng - 1] = 0;
    cr_assert_eq(tl_assign_arm(&e, lng, &any, 0, &why), -1);
    cr_assert_eq(why, TL_ASSIGN_BAD_UNIT);
    lng[TL_ASSIGN_UNIT_MAX] = 0; /* exactly the maximum is fine */
    cr_assert_geq(tl_assign_arm(&e, lng, &any, 0, NULL), 0);
    cr_assert_eq(tl_assign_arm(&e, "", &any, 0, &why), -1);
    cr_assert_eq(why, TL_ASSIGN_BAD_UNIT);
    cr_assert_eq(tl_assign_arm(&e, NULL, &any, 0, NULL), -1);
    cr_assert_eq(tl_assign_bucket("s", NULL), UINT32_MAX);
}

Test(assign, validation_names_the_field)
{
    struct tl_assign_arm_def dup[] = {{"a", 0.5}, {"a", 0.5}};
    struct tl_assign_arm_def over[] = {{"a", 0.6}, {"b", 0.5}};
    struct tl_assign_arm_def neg[] = {{"a", 0.5}, {"b", -0.1}};
    struct tl_assign_arm_def tiny[] = {{"a", 0.5}, {"b", 0.00004}}; /* both bounds round to 5000 */
    struct tl_assign_arm_def noname[] = {{"a", 0.5}, {"", 0.5}};
    const char *badc[] = {"DE", "GER"};
    const char *badp[] = {""};
    struct tl_assign_exp ok = base();
    cr_assert_eq(tl_assign_validate(&ok, NULL), TL_OK);
    struct {
        struct tl_assign_exp e;
        const char *field;
    } c[16];
    size_t n = 0;
    for (size_t i = 0; i < 16; i++) c[i].e = base();
    c[n].e.salt = "", c[n++].field = "salt";
    c[n].e.id = NULL, c[n++].field = "id";
    c[n].e.arms = dup, c[n].e.n_arms = 2, c[n++].field = "arms[1].name";
    c[n].e.arms = over, c[n].e.n_arms = 2, c[n++].field = "arms";
    c[n].e.arms = neg, c[n].e.n_arms = 2, c[n++].field = "arms[1].share";
    c[n].e.arms = tiny, c[n].e.n_arms = 2, c[n++].field = "arms[1].share";
    c[n].e.arms = noname, c[n].e.n_arms = 2, c[n++].field = "arms[1].name";
    c[n].e.n_arms = 1, c[n++].field = "arms";
    c[n].e.countries = badc, c[n].e.n_countries = 2, c[n++].field = "countries[1]";
    c[n].e.page_types = badp, c[n].e.n_page_types = 1, c[n++].field = "page_types[0]";
    c[n].e.layer = "L", c[n].e.layer_start = 10, c[n].e.layer_end = 10, c[n++].field = "layer_start";
    c[n].e.layer = "L", c[n].e.layer_end = 10001, c[n++].field = "layer_end";
    c[n].e.layer = "exp1-v1", c[n].e.layer_end = 100, c[n++].field = "salt"; /* salt == layer */
    c[n].e.start_ms = 5000, c[n].e.stop_ms = 4000, c[n++].field = "stop_ms";
    c[n].e.status = (enum tl_assign_status)7, c[n++].field = "status";
    for (size_t i = 0; i < n; i++) {
        struct tl_err e;
        tl_err_clear(&e);
        cr_assert_eq(tl_assign_validate(&c[i].e, &e), TL_EINVAL, "case %zu", i);
        cr_assert_str_eq(e.field, c[i].field, "case %zu: got field %s (%s)", i, e.field, e.msg);
        cr_assert(strstr(e.msg, c[i].field) != NULL, "message names the field: %s", e.msg);
    }
    struct tl_err e;
    cr_assert_eq(tl_assign_validate(&c[2].e, &e), TL_EINVAL);
    cr_assert(strstr(e.msg, "duplicate") != NULL, "%s", e.msg);
    /* shares summing to exactly 1 (with float noise) are fine */
    struct tl_assign_arm_def thirds[] = {{"a", 0.1}, {"b", 0.2}, {"c", 0.7}};
    struct tl_assign_exp t = base();
    t.arms = thirds, t.n_arms = 3;
    cr_assert_eq(tl_assign_validate(&t, NULL), TL_OK);
    int out = 0;
    char unit[16];
    for (int i = 0; i < 2000; i++) {
        snprintf(unit, sizeof unit, "z%d", i);
        out += tl_assign_arm(&t, unit, NULL, 0, NULL) < 0;
    }
    cr_assert_eq(out, 0); /* full allocation: nobody falls outside */
}
