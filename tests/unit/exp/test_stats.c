/* Tests for src/exp/stats.c. Every statistic is checked against published
 * values (quoted with their source), closed forms, or values computed in the
 * test by an independent route (numeric integration of a density, sums of a
 * binomial/Poisson pmf, Monte Carlo with a fixed seed). The scipy/R/table
 * values quoted below were re-checked with mpmath 1.3 at 40 digits (outside
 * the test, which needs no Python). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/alloc.h"
#include "exp/stats.h"

/* ---- helpers: seeded RNG (splitmix64), Simpson integration ---- */

static uint64_t rng_state;
static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static double rng_unif(void) { return ((double)(rng_next() >> 11) + 0.5) / 9007199254740992.0; }
static double rng_norm(void) { return sqrt(-2.0 * log(rng_unif())) * cos(2.0 * M_PI * rng_unif()); }
static uint64_t rng_binom(uint64_t n, double p)
{
    uint64_t x = 0;
    for (uint64_t i = 0; i < n; i++) x += rng_unif() < p;
    return x;
}

static double simpson(double (*f)(double, double), double par, double a, double b, int n)
{
    double h = (b - a) / n, s = f(a, par) + f(b, par);
    for (int i = 1; i < n; i++) s += f(a + i * h, par) * (i % 2 ? 4 : 2);
    return s * h / 3.0;
}
static double npdf(double x, double unused) { return exp(-0.5 * x * x) / sqrt(2 * M_PI); }
static double tpdf(double x, double v)
{
    return exp(lgamma((v + 1) / 2) - lgamma(v / 2)) / sqrt(v * M_PI) * pow(1 + x * x / v, -(v + 1) / 2);
}
static double chi2pdf(double x, double k)
{
    if (x <= 0) return k < 2 ? 0 : (k == 2 ? 0.5 : 0);
    return exp((k / 2 - 1) * log(x) - x / 2 - (k / 2) * log(2.0) - lgamma(k / 2));
}

#define NEAR(a, b, tol)                                                                                                \
    cr_assert(fabs((a) - (b)) <= (tol), "%s = %.15g, expected %.15g (tol %g)", #a, (double)(a), (double)(b),           \
              (double)(tol))

/* ---- distributions ---- */

Test(stats, normal)
{
    /* scipy.stats.norm: cdf(1.96) = 0.9750021048517795, cdf(-3) = 0.0013498980316300946,
     * ppf(0.975) = 1.959963984540054, ppf(0.995) = 2.5758293035489004, ppf(0.8) = 0.8416212335729143,
     * ppf(1e-10) = -6.361340902404056 */
    NEAR(tl_stats_norm_cdf(1.96), 0.9750021048517795, 1e-15);
    NEAR(tl_stats_norm_cdf(-3), 0.0013498980316300946, 1e-17);
    NEAR(tl_stats_norm_quantile(0.975), 1.959963984540054, 1e-13);
    NEAR(tl_stats_norm_quantile(0.995), 2.5758293035489004, 1e-13);
    NEAR(tl_stats_norm_quantile(0.8), 0.8416212335729143, 1e-13);
    NEAR(tl_stats_norm_quantile(1e-10), -6.361340902404056, 1e-11);
    NEAR(tl_stats_norm_quantile(0.5), 0.0, 1e-15);
    /* CDF against Simpson integration of the density from 0 */
    for (double x = -4; x <= 4; x += 0.37)
        NEAR(tl_stats_norm_cdf(x), 0.5 + (x >= 0 ? 1 : -1) * simpson(npdf, 0, 0, fabs(x), 2000), 1e-12);
    /* quantile inverts the CDF everywhere, including the tails */
    for (double lp = -300; lp < -0.01; lp *= 0.8) {
        double p = exp(lp), x = tl_stats_norm_quantile(p);
        cr_assert(fabs(tl_stats_norm_cdf(x) - p) <= 1e-13 * p, "p=%g x=%g", p, x);
    }
    cr_assert(isnan(tl_stats_norm_quantile(1.5)));
    cr_assert(isinf(tl_stats_norm_quantile(0)));
}

Test(stats, incomplete_beta_gamma)
{
    /* closed forms: I_x(a,1) = x^a, I_x(1,b) = 1-(1-x)^b, I_0.5(a,a) = 0.5 */
    NEAR(tl_stats_beta_inc(3.5, 1, 0.3), pow(0.3, 3.5), 1e-15);
    NEAR(tl_stats_beta_inc(1, 7.25, 0.2), 1 - pow(0.8, 7.25), 1e-15);
    NEAR(tl_stats_beta_inc(13.7, 13.7, 0.5), 0.5, 1e-14);
    /* binomial identity: I_p(k, n-k+1) = P(Bin(n,p) >= k), pmf summed here */
    int n = 40;
    double p = 0.3;
    for (int k = 1; k <= n; k += 3) {
        double tail = 0;
        for (int i = k; i <= n; i++)
            tail += exp(lgamma(n + 1) - lgamma(i + 1) - lgamma(n - i + 1) + i * log(p) + (n - i) * log1p(-p));
        NEAR(tl_stats_beta_inc(k, n - k + 1, p), tail, 1e-13);
    }
    /* Poisson identity: Q(k, x) = P(Pois(x) < k) */
    for (int k = 1; k <= 30; k += 4)
        for (double x = 0.5; x < 40; x *= 2) {
            double s = 0;
            for (int i = 0; i < k; i++) s += exp(-x + i * log(x) - lgamma(i + 1));
            NEAR(tl_stats_gamma_q(k, x), s, 1e-13);
            NEAR(tl_stats_gamma_p(k, x), 1 - s, 1e-13);
        }
    NEAR(tl_stats_gamma_p(1, 2.5), 1 - exp(-2.5), 1e-15);
    cr_assert(isnan(tl_stats_beta_inc(-1, 2, 0.5)));
    cr_assert(isnan(tl_stats_gamma_p(0, 1)));
}

Test(stats, student_t)
{
    /* scipy: t.cdf(2.228, 10) = 0.975 (table value; exact ppf = 2.228138851986275) */
    NEAR(tl_stats_t_cdf(2.228, 10), 0.975, 1e-4);
    NEAR(tl_stats_t_cdf(2.228138851986275, 10), 0.975, 1e-13);
    NEAR(tl_stats_t_quantile(0.975, 10), 2.228138851986275, 1e-10);
    /* t tables: t_{0.975,30} = 2.042272456301238, t_{0.995,5} = 4.032142983555228 */
    NEAR(tl_stats_t_quantile(0.975, 30), 2.042272456301238, 1e-10);
    NEAR(tl_stats_t_quantile(0.995, 5), 4.032142983555228, 1e-10);
    /* df = 1 is Cauchy: F = 1/2 + atan(t)/pi; df = 2: F = 1/2 + t / (2 sqrt(2 + t^2)) */
    for (double t = -50; t <= 50; t += 3.3) {
        NEAR(tl_stats_t_cdf(t, 1), 0.5 + atan(t) / M_PI, 1e-14);
        NEAR(tl_stats_t_cdf(t, 2), 0.5 + t / (2 * sqrt(2 + t * t)), 1e-14);
    }
    NEAR(tl_stats_t_quantile(0.975, 1), tan(M_PI * 0.475), 1e-9);
    /* fractional df (Welch) against Simpson integration of the density */
    double dfs[] = {0.7, 3.4, 17.776, 250.5};
    for (size_t i = 0; i < 4; i++)
        for (double t = 0.25; t < 6; t += 1.1) {
            double f = 0.5 + simpson(tpdf, dfs[i], 0, t, 4000);
            NEAR(tl_stats_t_cdf(t, dfs[i]), f, 1e-11);
            NEAR(tl_stats_t_cdf(-t, dfs[i]), 1 - f, 1e-11);
            NEAR(tl_stats_t_cdf(tl_stats_t_quantile(f, dfs[i]), dfs[i]), f, 1e-14); /* inverse */
        }
    cr_assert(isnan(tl_stats_t_cdf(1, 0)));
}

Test(stats, chi_square)
{
    /* scipy: chi2.sf(3.841458820694124, 1) = 0.05, chi2.sf(5.991464547107979, 2) = 0.05,
     * chi2.sf(10.827566170662733, 1) = 0.001 */
    NEAR(tl_stats_chi2_sf(3.84146, 1), 0.05, 1e-6);
    NEAR(tl_stats_chi2_sf(3.841458820694124, 1), 0.05, 1e-14);
    NEAR(tl_stats_chi2_sf(5.991464547107979, 2), 0.05, 1e-14);
    NEAR(tl_stats_chi2_sf(10.827566170662733, 1), 0.001, 1e-15);
    /* closed forms: k=1 erfc(sqrt(x/2)); k=2 e^{-x/2}; k=3 erfc(sqrt(x/2)) + sqrt(2x/pi) e^{-x/2};
     * k=4 e^{-x/2} (1 + x/2) */
    for (double x = 0.01; x < 200; x *= 1.7) {
        double e = exp(-x / 2), c = erfc(sqrt(x / 2));
        NEAR(tl_stats_chi2_sf(x, 1), c, 1e-14 + 1e-12 * c);
        NEAR(tl_stats_chi2_sf(x, 2), e, 1e-14 + 1e-12 * e);
        NEAR(tl_stats_chi2_sf(x, 3), c + sqrt(2 * x / M_PI) * e, 1e-14 + 1e-12 * c);
        NEAR(tl_stats_chi2_sf(x, 4), e * (1 + x / 2), 1e-14 + 1e-12 * e);
        NEAR(tl_stats_chi2_cdf(x, 2), 1 - e, 1e-14);
    }
    /* k = 7.5 (non-integer) against Simpson integration of the density */
    for (double x = 1; x < 20; x += 2.5) NEAR(tl_stats_chi2_cdf(x, 7.5), simpson(chi2pdf, 7.5, 0, x, 4000), 1e-11);
    NEAR(tl_stats_chi2_sf(0, 3), 1.0, 0);
}

/* ---- rates ---- */

Test(stats, wilson_newcombe)
{
    /* Newcombe (1998) Stat Med 17:857, Table I, Wilson score method (no continuity correction) */
    struct {
        uint64_t x, n;
        double lo, hi;
    } c[] = {{81, 263, 0.2553, 0.3662}, {15, 148, 0.0624, 0.1605}, {0, 20, 0.0, 0.1611}, {1, 29, 0.0061, 0.1718}};
    for (size_t i = 0; i < 4; i++) {
        double lo, hi;
        cr_assert_eq(tl_stats_wilson(c[i].x, c[i].n, 0.05, &lo, &hi, NULL), TL_OK);
        NEAR(lo, c[i].lo, 5e-5);
        NEAR(hi, c[i].hi, 5e-5);
    }
    struct tl_err e;
    double lo = -1, hi = -1;
    cr_assert_eq(tl_stats_wilson(0, 0, 0.05, &lo, &hi, &e), TL_EINVAL);
    cr_assert_str_eq(e.field, "n");
    cr_assert_eq(lo, -1);
    cr_assert_eq(tl_stats_wilson(5, 4, 0.05, &lo, &hi, &e), TL_EINVAL);
    cr_assert_str_eq(e.field, "x");
    cr_assert_eq(tl_stats_wilson(1, 4, 1.5, &lo, &hi, &e), TL_EINVAL);
    cr_assert_str_eq(e.field, "alpha");
}

Test(stats, two_proportions)
{
    struct tl_stats_rates r;
    /* Newcombe (1998) Stat Med 17:873, Table II, method 1 (simple asymptotic):
     * 56/70 vs 48/80 -> 0.0575 to 0.3425; 9/10 vs 3/10 -> 0.2605 to 0.9395 */
    cr_assert_eq(tl_stats_rates(48, 80, 56, 70, 0.05, &r, NULL), TL_OK);
    NEAR(r.diff, 0.2, 1e-15);
    NEAR(r.diff_lo, 0.0575, 5e-5);
    NEAR(r.diff_hi, 0.3425, 5e-5);
    /* pooled z^2 equals Pearson's chi-square of the 2x2 table (computed here) */
    double o[2][2] = {{48, 32}, {56, 14}}, rs[2] = {80, 70}, cs[2] = {104, 46}, x2 = 0;
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) {
            double ex = rs[i] * cs[j] / 150;
            x2 += (o[i][j] - ex) * (o[i][j] - ex) / ex;
        }
    NEAR(r.z * r.z, x2, 1e-12);
    NEAR(r.p_value, erfc(sqrt(x2 / 2)), 1e-14);
    /* relative: delta method on the log ratio, formula evaluated here */
    double l = log(0.8 / 0.6), se = sqrt(0.2 / 56 + 0.4 / 48);
    NEAR(r.rel, 0.8 / 0.6 - 1, 1e-14);
    NEAR(r.rel_lo, exp(l - 1.959963984540054 * se) - 1, 1e-12);
    NEAR(r.rel_hi, exp(l + 1.959963984540054 * se) - 1, 1e-12);
    cr_assert_eq(tl_stats_rates(3, 10, 9, 10, 0.05, &r, NULL), TL_OK);
    NEAR(r.diff_lo, 0.2605, 5e-5);
    NEAR(r.diff_hi, 0.9395, 5e-5);
    /* Wilson intervals of the arms are the Newcombe values */
    cr_assert_eq(tl_stats_rates(15, 148, 81, 263, 0.05, &r, NULL), TL_OK);
    NEAR(r.a_lo, 0.0624, 5e-5);
    NEAR(r.b_hi, 0.3662, 5e-5);
    /* zero conversions: relative uplift undefined, pooled SE 0 -> p = 1 */
    cr_assert_eq(tl_stats_rates(0, 100, 0, 100, 0.05, &r, NULL), TL_OK);
    cr_assert_eq(r.rel_valid, 0);
    cr_assert(isnan(r.rel_lo));
    NEAR(r.p_value, 1.0, 0);
    struct tl_err e;
    cr_assert_eq(tl_stats_rates(1, 0, 1, 10, 0.05, &r, &e), TL_EINVAL);
    cr_assert_str_eq(e.field, "n_a");
    cr_assert_eq(tl_stats_rates(1, 10, 11, 10, 0.05, &r, &e), TL_EINVAL);
    cr_assert_str_eq(e.field, "x_b");
}

Test(stats, rates_monte_carlo)
{
    /* Fixed seed; 1500 simulated experiments of 4000 + 4000 visitors.
     * Null (p = 0.1 both): z-test rejection rate at alpha 0.05 should be ~0.05.
     * Alternative (0.10 vs 0.13): 95% intervals of diff and relative uplift
     * should cover the truth ~95% of the time. SE of a rate near 0.05 over
     * 1500 runs is 0.0056, near 0.95 also 0.0056: bounds are ~3 SE. */
    rng_state = 12345;
    int rej = 0, cov_d = 0, cov_r = 0, runs = 1500;
    for (int i = 0; i < runs; i++) {
        struct tl_stats_rates r;
        uint64_t xa = rng_binom(4000, 0.1), xb = rng_binom(4000, 0.1);
        cr_assert_eq(tl_stats_rates(xa, 4000, xb, 4000, 0.05, &r, NULL), TL_OK);
        rej += r.p_value < 0.05;
        xb = rng_binom(4000, 0.13);
        cr_assert_eq(tl_stats_rates(xa, 4000, xb, 4000, 0.05, &r, NULL), TL_OK);
        cov_d += r.diff_lo <= 0.03 && 0.03 <= r.diff_hi;
        cov_r += r.rel_lo <= 0.3 && 0.3 <= r.rel_hi;
    }
    cr_log_info("rates MC: null rejections %d/%d, diff coverage %d/%d, relative coverage %d/%d", rej, runs, cov_d, runs,
                cov_r, runs);
    cr_assert(rej > 0.033 * runs && rej < 0.067 * runs, "null rejections %d/%d", rej, runs);
    cr_assert(cov_d > 0.933 * runs && cov_d < 0.967 * runs, "diff coverage %d/%d", cov_d, runs);
    cr_assert(cov_r > 0.933 * runs && cov_r < 0.967 * runs, "relative coverage %d/%d", cov_r, runs);
}

/* ---- means ---- */

/* R's `sleep` data (Student 1908); R: t.test(extra ~ group, data = sleep) gives
 * t = -1.8608, df = 17.776, p-value = 0.07939, 95% CI -3.3654832 0.2054832
 * (group 1 - group 2; here B - A so signs flip). */
static const double sleep1[10] = {0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0};
static const double sleep2[10] = {1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4};

Test(stats, welch_sleep)
{
    struct tl_stats_moments a, b;
    struct tl_stats_welch w;
    cr_assert_eq(tl_stats_moments_of(sleep1, 10, &a, NULL), TL_OK);
    cr_assert_eq(tl_stats_moments_of(sleep2, 10, &b, NULL), TL_OK);
    NEAR(a.mean, 0.75, 1e-14);
    NEAR(b.mean, 2.33, 1e-14);
    cr_assert_eq(tl_stats_welch(&a, &b, 0.05, &w, NULL), TL_OK);
    NEAR(w.t, 1.8608, 5e-5);
    NEAR(w.df, 17.776, 5e-4);
    NEAR(w.p_value, 0.07939, 5e-6);
    NEAR(w.diff_lo, -0.2054832, 5e-8);
    NEAR(w.diff_hi, 3.3654832, 5e-8);
    /* same quantities to 40 digits with mpmath (rounded here) */
    NEAR(w.t, 1.860813467486853, 1e-12);
    NEAR(w.df, 17.77647351617849, 1e-10);
    NEAR(w.p_value, 0.07939414018735814, 1e-12);
    NEAR(w.diff_lo, -0.2054832307117110, 1e-11);
    NEAR(w.rel, 2.33 / 0.75 - 1, 1e-13);
    cr_assert_eq(w.rel_valid, 1);
    /* p-value by integrating the t density at the Welch df (independent of I_x) */
    NEAR(w.p_value, 1 - 2 * simpson(tpdf, w.df, 0, w.t, 4000), 1e-10);
    /* bad input */
    struct tl_err e;
    struct tl_stats_moments bad = b;
    bad.var = -1;
    cr_assert_eq(tl_stats_welch(&a, &bad, 0.05, &w, &e), TL_EINVAL);
    cr_assert_str_eq(e.field, "b");
    bad = a;
    bad.n = 1;
    cr_assert_eq(tl_stats_welch(&bad, &b, 0.05, &w, &e), TL_EINVAL);
    cr_assert_str_eq(e.field, "a");
    struct tl_stats_moments z1 = {5, 1.0, 0.0}, z2 = {5, 1.0, 0.0};
    cr_assert_eq(tl_stats_welch(&z1, &z2, 0.05, &w, &e), TL_EINVAL);
    cr_assert_str_eq(e.field, "variance");
    cr_assert_eq(tl_stats_moments_of(sleep1, 1, &a, &e), TL_EINVAL);
    double nanv[3] = {1, NAN, 2};
    cr_assert_eq(tl_stats_moments_of(nanv, 3, &a, &e), TL_EINVAL);
}

Test(stats, winsorise)
{
    /* type-7 quantile: numpy.percentile(arange(1, 101), 99) = 99.01; pooling
     * does not depend on how values are split across arms */
    double all[100], a[37], b[63];
    for (int i = 0; i < 100; i++) all[i] = 100 - i; /* unsorted */
    memcpy(a, all, sizeof a);
    memcpy(b, all + 37, sizeof b);
    const double *one[1] = {all}, *two[2] = {b, a};
    size_t n1[1] = {100}, n2[2] = {63, 37};
    double c1, c2;
    long live = tl_alloc_live();
    cr_assert_eq(tl_stats_quantile_pooled(one, n1, 1, 0.99, &c1, NULL), TL_OK);
    cr_assert_eq(tl_stats_quantile_pooled(two, n2, 2, 0.99, &c2, NULL), TL_OK);
    cr_assert_eq(tl_alloc_live(), live);
    NEAR(c1, 99.01, 1e-12);
    NEAR(c2, 99.01, 1e-12);
    cr_assert_eq(tl_stats_quantile_pooled(one, n1, 1, 0.5, &c1, NULL), TL_OK);
    NEAR(c1, 50.5, 1e-12); /* median of 1..100 */
    cr_assert_eq(tl_stats_quantile_pooled(one, n1, 1, 1.0, &c1, NULL), TL_OK);
    NEAR(c1, 100, 0);
    cr_assert_eq(tl_stats_winsorize(a, 37, 99.01), 1); /* a = 100, 99, ..., 64: only 100 is capped */
    NEAR(a[0], 99.01, 0);
    NEAR(a[1], 99, 0);
    struct tl_err e;
    cr_assert_eq(tl_stats_quantile_pooled(one, n1, 1, 1.5, &c1, &e), TL_EINVAL);
    cr_assert_str_eq(e.field, "q");
    size_t zero[1] = {0};
    cr_assert_eq(tl_stats_quantile_pooled(one, zero, 1, 0.5, &c1, &e), TL_EINVAL);
    tl_alloc_fail_after(0);
    cr_assert_eq(tl_stats_quantile_pooled(one, n1, 1, 0.5, &c1, &e), TL_ENOMEM);
    tl_alloc_fail_after(-1);
}

/* ---- SRM ---- */

Test(stats, srm)
{
    /* R ?chisq.test: x = c(89,37,30,28,2), p = c(0.40,0.20,0.20,0.19,0.01):
     * X-squared = 5.7947, df = 4, p-value = 0.215 */
    uint64_t x[5] = {89, 37, 30, 28, 2};
    double p[5] = {0.40, 0.20, 0.20, 0.19, 0.01};
    struct tl_stats_srm s;
    cr_assert_eq(tl_stats_srm(x, p, 5, &s, NULL), TL_OK);
    NEAR(s.chi2, 5.7947, 5e-5);
    NEAR(s.df, 4, 0);
    NEAR(s.p_value, 0.215, 5e-4);
    NEAR(s.p_value, exp(-s.chi2 / 2) * (1 + s.chi2 / 2), 1e-13); /* closed form for 4 df */
    cr_assert_eq(s.flagged, 0);
    /* 50/50 split: 50000 vs 51000 -> X^2 = 2 * 500^2 / 50500, p = erfc(sqrt(X^2/2)) ~ 0.00165: not flagged;
     * 50000 vs 51500 -> p ~ 2.5e-6: flagged. Shares 0.25/0.25 (half the traffic elsewhere) renormalise. */
    uint64_t c1[2] = {50000, 51000}, c2[2] = {50000, 51500};
    double sh[2] = {0.25, 0.25};
    cr_assert_eq(tl_stats_srm(c1, sh, 2, &s, NULL), TL_OK);
    NEAR(s.chi2, 2.0 * 500 * 500 / 50500, 1e-10);
    NEAR(s.p_value, erfc(sqrt(s.chi2 / 2)), 1e-15);
    cr_assert_eq(s.flagged, 0);
    cr_assert_eq(tl_stats_srm(c2, sh, 2, &s, NULL), TL_OK);
    cr_assert_eq(s.flagged, 1);
    cr_assert(s.p_value < 1e-5 && s.p_value > 1e-6, "%g", s.p_value);
    struct tl_err e;
    double bad[2] = {0.5, 0};
    cr_assert_eq(tl_stats_srm(c1, bad, 2, &s, &e), TL_EINVAL);
    cr_assert_str_eq(e.field, "shares");
    cr_assert_eq(tl_stats_srm(c1, sh, 1, &s, &e), TL_EINVAL);
    uint64_t none[2] = {0, 0};
    cr_assert_eq(tl_stats_srm(none, sh, 2, &s, &e), TL_EINVAL);
}

/* ---- sample size ---- */

Test(stats, sample_size)
{
    const double za = 1.959963984540054, zb = 0.8416212335729143; /* z_0.975, z_0.8 */
    /* means: Cohen's d = 0.5, alpha .05, power .8: 2 (za+zb)^2 / 0.25 = 62.79 -> 63 per arm
     * (Cohen's t-based table says 64; the normal approximation gives 63) */
    uint64_t n;
    cr_assert_eq(tl_stats_sample_size_mean(1.0, 0.5, 0.05, 0.8, &n, NULL), TL_OK);
    cr_assert_eq(n, 63);
    double mde;
    cr_assert_eq(tl_stats_mde_mean(2.0, 63, 0.05, 0.8, &mde, NULL), TL_OK);
    NEAR(mde, (za + zb) * 2.0 * sqrt(2.0 / 63), 1e-12);
    /* rates: 10% -> 12% (relative 20%); formula evaluated here with hard-coded quantiles: 3841 */
    double p1 = 0.10, p2 = 0.12, pb = 0.11;
    double s = za * sqrt(2 * pb * (1 - pb)) + zb * sqrt(p1 * (1 - p1) + p2 * (1 - p2));
    cr_assert_eq(tl_stats_sample_size_rate(0.10, 0.20, 0.05, 0.8, &n, NULL), TL_OK);
    cr_assert_eq(n, (uint64_t)ceil(s * s / 0.0004));
    cr_assert_eq(n, 3841);
    /* inverse: the MDE at n = 3841 is just under 20%, and needs <= 3841 */
    cr_assert_eq(tl_stats_mde_rate(0.10, 3841, 0.05, 0.8, &mde, NULL), TL_OK);
    cr_assert(mde <= 0.20 && mde > 0.1995, "mde %g", mde);
    uint64_t n2;
    cr_assert_eq(tl_stats_sample_size_rate(0.10, mde, 0.05, 0.8, &n2, NULL), TL_OK);
    cr_assert(n2 <= 3841 && n2 >= 3839, "%llu", (unsigned long long)n2);
    /* Monte Carlo power of the pooled z-test at that n: ~0.80 (SE 0.009 over 2000 runs) */
    rng_state = 777;
    int hits = 0, runs = 2000;
    for (int i = 0; i < runs; i++) {
        struct tl_stats_rates r;
        tl_stats_rates(rng_binom(3841, 0.10), 3841, rng_binom(3841, 0.12), 3841, 0.05, &r, NULL);
        hits += r.p_value < 0.05;
    }
    cr_log_info("power MC: %d/%d", hits, runs);
    cr_assert(hits > 0.77 * runs && hits < 0.83 * runs, "power %d/%d", hits, runs);
    struct tl_err e;
    cr_assert_eq(tl_stats_sample_size_rate(1.2, 0.1, 0.05, 0.8, &n, &e), TL_EINVAL);
    cr_assert_str_eq(e.field, "p");
    cr_assert_eq(tl_stats_sample_size_rate(0.6, 1.0, 0.05, 0.8, &n, &e), TL_EINVAL);
    cr_assert_str_eq(e.field, "rel_mde");
    cr_assert_eq(tl_stats_sample_size_rate(0.1, 0.1, 0.05, 1.0, &n, &e), TL_EINVAL);
    cr_assert_str_eq(e.field, "power");
    cr_assert_eq(tl_stats_sample_size_mean(-1, 0.1, 0.05, 0.8, &n, &e), TL_EINVAL);
    cr_assert_str_eq(e.field, "sd");
    cr_assert_eq(tl_stats_mde_rate(0.1, 0, 0.05, 0.8, &mde, &e), TL_EINVAL);
    cr_assert_eq(tl_stats_mde_rate(0.5, 2, 0.05, 0.8, &mde, &e), TL_EINVAL); /* nothing detectable */
}

/* ---- mSPRT ---- */

Test(stats, msprt_formula)
{
    /* one update: Lambda = sqrt(V/(V+tau^2)) exp(tau^2 d^2 / (2 V (V + tau^2))) */
    struct tl_stats_msprt s;
    tl_stats_msprt_init(&s);
    cr_assert_eq(s.p_value, 1.0);
    double d = 0.05, v = 0.0004, tau = 0.1,
           lam = sqrt(v / (v + tau * tau)) * exp(tau * tau * d * d / (2 * v * (v + tau * tau)));
    cr_assert_eq(tl_stats_msprt_update(&s, d, v, tau, 0.05, NULL), TL_OK);
    NEAR(s.log_lambda, log(lam), 1e-12);
    NEAR(s.p_value, 1 / lam, 1e-12);
    /* the interval is exactly the set where Lambda(theta0) < 1/alpha: at its ends Lambda(theta0) = 20 */
    for (int k = 0; k < 2; k++) {
        double t0 = k ? s.ci_hi : s.ci_lo, dd = d - t0;
        double l0 = sqrt(v / (v + tau * tau)) * exp(tau * tau * dd * dd / (2 * v * (v + tau * tau)));
        NEAR(l0, 20, 1e-9);
    }
    /* p never increases; var = 0 leaves the state alone */
    double p0 = s.p_value;
    cr_assert_eq(tl_stats_msprt_update(&s, 0.0, 0.0004, tau, 0.05, NULL), TL_OK);
    cr_assert_eq(s.p_value, p0);
    struct tl_stats_msprt before = s;
    cr_assert_eq(tl_stats_msprt_update(&s, 1.0, 0.0, tau, 0.05, NULL), TL_OK);
    cr_assert_eq(memcmp(&before, &s, sizeof s), 0);
    /* the means helper feeds diff = mean_b - mean_a and var = var_a/n_a + var_b/n_b */
    struct tl_stats_msprt s2, s3;
    struct tl_stats_moments ma = {400, 1.0, 0.08}, mb = {400, 1.05, 0.08};
    tl_stats_msprt_init(&s2);
    tl_stats_msprt_init(&s3);
    cr_assert_eq(tl_stats_msprt_update_means(&s2, &ma, &mb, tau, 0.05, NULL), TL_OK);
    cr_assert_eq(tl_stats_msprt_update(&s3, 0.05, 0.08 / 400 + 0.08 / 400, tau, 0.05, NULL), TL_OK);
    NEAR(s2.p_value, s3.p_value, 1e-13);
    NEAR(s2.ci_lo, s3.ci_lo, 1e-13);
    struct tl_err e;
    ma.var = -1;
    cr_assert_eq(tl_stats_msprt_update_means(&s2, &ma, &mb, tau, 0.05, &e), TL_EINVAL);
    cr_assert_str_eq(e.field, "a");
    cr_assert_eq(tl_stats_msprt_update(&s, 0.1, -1, tau, 0.05, &e), TL_EINVAL);
    cr_assert_str_eq(e.field, "var");
    cr_assert_eq(tl_stats_msprt_update(&s, 0.1, 1, 0, 0.05, &e), TL_EINVAL);
    cr_assert_str_eq(e.field, "tau");
}

Test(stats, msprt_peeking_monte_carlo)
{
    /* A/A tests (no true difference), fixed seed. Normal data with sd 1 per
     * unit, 1000 units per arm, one unit per arm per step.
     * - mSPRT (tau = 0.1, known variance V = 2/n) checked after EVERY step;
     * - naive z-test checked at 10 "daily" peeks (every 100 units), stopping
     *   at the first |z| > 1.96.
     * Theory: mSPRT false positive rate <= alpha = 0.05 at any stopping time;
     * the naive rate with 10 looks is about 0.19 (Armitage et al. 1969). */
    rng_state = 2017;
    int runs = 1000, fp_m = 0, fp_naive = 0, ci_consistent = 1;
    for (int r = 0; r < runs; r++) {
        struct tl_stats_msprt s;
        tl_stats_msprt_init(&s);
        double sa = 0, sb = 0;
        int naive = 0;
        for (int n = 1; n <= 1000; n++) {
            sa += rng_norm();
            sb += rng_norm();
            double d = (sb - sa) / n, v = 2.0 / n;
            tl_stats_msprt_update(&s, d, v, 0.1, 0.05, NULL);
            if (n % 100 == 0 && fabs(d / sqrt(v)) > 1.959963984540054) naive = 1;
        }
        fp_m += s.p_value <= 0.05;
        fp_naive += naive;
        /* 0 outside the always-valid interval iff p <= alpha */
        if ((s.p_value <= 0.05) != (s.ci_lo > 0 || s.ci_hi < 0)) ci_consistent = 0;
    }
    cr_log_info("peeking MC: mSPRT %d/%d, naive %d/%d", fp_m, runs, fp_naive, runs);
    cr_assert(fp_m <= 0.05 * runs, "mSPRT false positives %d/%d", fp_m, runs);
    cr_assert(fp_naive > 0.12 * runs, "naive peeking false positives %d/%d", fp_naive, runs);
    cr_assert(ci_consistent);
    /* Bernoulli conversions (p = 5%) with the plug-in variance, checked every
     * 20 visitors per arm from 200 on, up to 4000 per arm. */
    rng_state = 4242;
    int fp_b = 0, runs_b = 600;
    for (int r = 0; r < runs_b; r++) {
        struct tl_stats_msprt s;
        tl_stats_msprt_init(&s);
        uint64_t xa = 0, xb = 0;
        for (uint64_t n = 1; n <= 4000; n++) {
            xa += rng_unif() < 0.05;
            xb += rng_unif() < 0.05;
            if (n >= 200 && n % 20 == 0) tl_stats_msprt_update_rates(&s, xa, n, xb, n, 0.01, 0.05, NULL);
        }
        fp_b += s.p_value <= 0.05;
    }
    cr_log_info("peeking MC (rates): mSPRT %d/%d", fp_b, runs_b);
    cr_assert(fp_b <= 0.05 * runs_b, "mSPRT (rates) false positives %d/%d", fp_b, runs_b);
}

/* ---- CUPED ---- */

Test(stats, cuped)
{
    /* y = 2 x + e (x, e ~ N(0,1)) so rho^2 = 0.8 and var(Y')/var(Y) ~ 0.2; B gets +0.1 */
    enum { N = 4000 };
    static double xa[N], ya[N], xb[N], yb[N], all_adj[2 * N], adj_a[N], adj_b[N];
    rng_state = 99;
    for (int i = 0; i < N; i++) {
        xa[i] = rng_norm();
        ya[i] = 2 * xa[i] + rng_norm();
        xb[i] = rng_norm();
        yb[i] = 2 * xb[i] + rng_norm() + 0.1;
    }
    struct tl_stats_cuped c;
    cr_assert_eq(tl_stats_cuped(ya, xa, N, yb, xb, N, 0.05, &c, NULL), TL_OK);
    cr_assert(fabs(c.theta - 2) < 0.05, "theta %g", c.theta);
    cr_assert(fabs(c.var_ratio - 0.2) < 0.02, "ratio %g", c.var_ratio);
    /* independent route: materialise Y', take moments and Welch with the public functions */
    double sx = 0, sxy = 0, sxx = 0, sy = 0;
    for (int i = 0; i < N; i++) sx += xa[i] + xb[i], sy += ya[i] + yb[i];
    double mx = sx / (2 * N), my = sy / (2 * N);
    for (int i = 0; i < N; i++) {
        sxx += (xa[i] - mx) * (xa[i] - mx) + (xb[i] - mx) * (xb[i] - mx);
        sxy += (xa[i] - mx) * (ya[i] - my) + (xb[i] - mx) * (yb[i] - my);
    }
    double th = sxy / sxx;
    NEAR(c.theta, th, 1e-12);
    for (int i = 0; i < N; i++) {
        adj_a[i] = all_adj[i] = ya[i] - th * (xa[i] - mx);
        adj_b[i] = all_adj[N + i] = yb[i] - th * (xb[i] - mx);
    }
    double raw[2 * N];
    memcpy(raw, ya, sizeof ya);
    memcpy(raw + N, yb, sizeof yb);
    struct tl_stats_moments ma, mb, mall, mraw;
    struct tl_stats_welch w, wraw;
    tl_stats_moments_of(adj_a, N, &ma, NULL);
    tl_stats_moments_of(adj_b, N, &mb, NULL);
    tl_stats_moments_of(all_adj, 2 * N, &mall, NULL);
    tl_stats_moments_of(raw, 2 * N, &mraw, NULL);
    NEAR(c.var_ratio, mall.var / mraw.var, 1e-10);
    cr_assert_eq(tl_stats_welch(&ma, &mb, 0.05, &w, NULL), TL_OK);
    NEAR(c.welch.diff, w.diff, 1e-12);
    NEAR(c.welch.se, w.se, 1e-12);
    NEAR(c.welch.p_value, w.p_value, 1e-12);
    /* the adjusted interval is narrower than the raw one by about sqrt(0.2) */
    struct tl_stats_moments ra, rb;
    tl_stats_moments_of(ya, N, &ra, NULL);
    tl_stats_moments_of(yb, N, &rb, NULL);
    tl_stats_welch(&ra, &rb, 0.05, &wraw, NULL);
    double shrink = (c.welch.diff_hi - c.welch.diff_lo) / (wraw.diff_hi - wraw.diff_lo);
    cr_log_info("CUPED: theta %.4f, var ratio %.4f, interval shrink %.4f", c.theta, c.var_ratio, shrink);
    cr_assert(fabs(shrink - sqrt(0.2)) < 0.03, "shrink %g", shrink);
    cr_assert(c.welch.diff_lo < 0.1 && 0.1 < c.welch.diff_hi);
    struct tl_err e;
    cr_assert_eq(tl_stats_cuped(ya, xa, 1, yb, xb, N, 0.05, &c, &e), TL_EINVAL);
    cr_assert_str_eq(e.field, "n_a");
}

/* ---- ROI ---- */

Test(stats, roi)
{
    struct tl_stats_moments a = {1000, 2.0, 25.0}, b = {1200, 2.5, 36.0};
    struct tl_stats_welch w;
    struct tl_stats_roi r;
    cr_assert_eq(tl_stats_welch(&a, &b, 0.05, &w, NULL), TL_OK);
    cr_assert_eq(tl_stats_roi(&w, 1200, &r, NULL), TL_OK);
    NEAR(r.incremental, 0.5 * 1200, 1e-9);
    /* SE = sqrt(25/1000 + 36/1200) = sqrt(0.055); df is large, so t ~ z */
    double se = sqrt(0.055);
    NEAR(r.lo, (0.5 - tl_stats_t_quantile(0.975, w.df) * se) * 1200, 1e-9);
    NEAR(r.hi, (0.5 + tl_stats_t_quantile(0.975, w.df) * se) * 1200, 1e-9);
    cr_assert(fabs(r.hi - (0.5 + 1.96 * se) * 1200) < 1.0);
    struct tl_err e;
    cr_assert_eq(tl_stats_roi(NULL, 10, &r, &e), TL_EINVAL);
}
