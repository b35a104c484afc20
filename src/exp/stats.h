/* Experiment statistics: distribution functions, tests and intervals for
 * A/B experiments (rates and means), sample-ratio mismatch, sample size,
 * always-valid inference (mSPRT), CUPED and an ROI helper.
 *
 * Pure functions over numbers the caller supplies: no I/O, no global state,
 * and the only allocation is the scratch copy in tl_stats_quantile_pooled.
 * Arm A is always the control, arm B the treatment; every difference is
 * B - A and every relative uplift is B / A - 1. `alpha` is the two-sided
 * error rate of an interval (0.05 gives a 95% interval) and must be in
 * (0, 1). Functions returning enum tl_rc leave *out untouched on error and
 * describe the bad argument in err (field = argument name). Every formula is
 * in stats.c and, for users, in docs/statistics.md. */
#ifndef TL_EXP_STATS_H
#define TL_EXP_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* ---- distribution functions (NaN for parameters outside their domain) ---- */

double tl_stats_norm_pdf(double x);
/* Standard normal CDF Phi(x). */
double tl_stats_norm_cdf(double x);
/* Phi^-1(p) for p in (0,1); -inf/+inf at 0/1. */
double tl_stats_norm_quantile(double p);
/* Regularized incomplete beta I_x(a, b), a, b > 0, x in [0, 1]. */
double tl_stats_beta_inc(double a, double b, double x);
/* Regularized lower / upper incomplete gamma P(a, x), Q(a, x); a > 0, x >= 0. */
double tl_stats_gamma_p(double a, double x);
double tl_stats_gamma_q(double a, double x);
/* Student t with df > 0 degrees of freedom (df may be fractional). */
double tl_stats_t_cdf(double t, double df);
double tl_stats_t_quantile(double p, double df);
/* Chi-square with df > 0: CDF and survival 1 - CDF (computed directly, so
 * small p-values keep their precision). */
double tl_stats_chi2_cdf(double x, double df);
double tl_stats_chi2_sf(double x, double df);

/* ---- rates (conversion, click-through) ---- */

/* Wilson score interval for x successes in n trials at level 1 - alpha. */
enum tl_rc tl_stats_wilson(uint64_t x, uint64_t n, double alpha, double *lo, double *hi, struct tl_err *err);

struct tl_stats_rates {
    double p_a, p_b;            /* observed rates x/n */
    double a_lo, a_hi;          /* Wilson interval of p_a */
    double b_lo, b_hi;          /* Wilson interval of p_b */
    double diff;                /* p_b - p_a */
    double diff_lo, diff_hi;    /* unpooled (Wald) interval of diff */
    double z;                   /* pooled two-proportion z statistic */
    double p_value;             /* two-sided, 2 * Phi(-|z|); 1 when pooled SE is 0 */
    int rel_valid;              /* 0 when p_a or p_b is 0 (log ratio undefined) */
    double rel, rel_lo, rel_hi; /* p_b/p_a - 1 and delta-method interval on log(p_b/p_a); NaN if !rel_valid */
};
/* Two-proportion z-test. Requires n_a, n_b >= 1 and x <= n. */
enum tl_rc tl_stats_rates(uint64_t x_a, uint64_t n_a, uint64_t x_b, uint64_t n_b, double alpha,
                          struct tl_stats_rates *out, struct tl_err *err);

/* ---- means (AOV, revenue per visitor) ---- */

struct tl_stats_moments {
    uint64_t n;
    double mean;
    double var; /* sample variance with divisor n - 1 */
};
/* Two-pass mean and variance of x[0..n), n >= 2, all values finite. */
enum tl_rc tl_stats_moments_of(const double *x, size_t n, struct tl_stats_moments *out, struct tl_err *err);

struct tl_stats_welch {
    double mean_a, mean_b;
    double diff;                /* mean_b - mean_a */
    double se;                  /* sqrt(var_a/n_a + var_b/n_b) */
    double df;                  /* Welch-Satterthwaite degrees of freedom */
    double t;                   /* diff / se */
    double p_value;             /* two-sided */
    double diff_lo, diff_hi;    /* diff +- t_{1-alpha/2, df} * se */
    int rel_valid;              /* 0 unless both means > 0 */
    double rel, rel_lo, rel_hi; /* mean_b/mean_a - 1, delta method on the log ratio (normal quantile) */
};
/* Welch's unequal-variance t-test from per-arm moments. Requires n >= 2,
 * var >= 0 and not both variances 0 (TL_EINVAL "variance"). */
enum tl_rc tl_stats_welch(const struct tl_stats_moments *a, const struct tl_stats_moments *b, double alpha,
                          struct tl_stats_welch *out, struct tl_err *err);

/* Winsorisation. Upper only (revenue-like metrics have a floor of 0 and a
 * long right tail). The cap is the q-quantile of all values of all k arms
 * pooled, by linear interpolation between order statistics (Hyndman-Fan
 * type 7, numpy's default): h = (N-1) q, Q = x_(floor h) + (h - floor h) *
 * (x_(floor h + 1) - x_(floor h)) with 0-based sorted x. Use q = 0.99. */
#define TL_STATS_WINSOR_MAX ((size_t)50 * 1000 * 1000) /* pooled values accepted */
#define TL_STATS_WINSOR_ARMS_MAX 64
enum tl_rc tl_stats_quantile_pooled(const double *const *xs, const size_t *ns, size_t k, double q, double *cap,
                                    struct tl_err *err);
/* Replace every x[i] > cap by cap; returns how many were replaced. */
size_t tl_stats_winsorize(double *x, size_t n, double cap);

/* ---- sample-ratio mismatch ---- */

#define TL_STATS_SRM_ALPHA 0.001
#define TL_STATS_SRM_ARMS_MAX 64
struct tl_stats_srm {
    double chi2;    /* sum (O_i - E_i)^2 / E_i with E_i = N * s_i / sum s */
    double df;      /* k - 1 */
    double p_value; /* chi2_sf(chi2, k - 1) */
    int flagged;    /* p_value < TL_STATS_SRM_ALPHA */
};
/* Chi-square goodness of fit of observed counts against configured shares
 * (shares > 0; they are renormalised, so arms sharing 50% of traffic 25/25
 * are fine). 2 <= k <= TL_STATS_SRM_ARMS_MAX, total count >= 1. */
enum tl_rc tl_stats_srm(const uint64_t *counts, const double *shares, size_t k, struct tl_stats_srm *out,
                        struct tl_err *err);

/* ---- sample size and minimum detectable effect (two-sided, two equal arms) ---- */

/* Visitors per arm to detect p -> p (1 + rel_mde) with the given alpha and
 * power (e.g. 0.8). p in (0,1), p (1 + rel_mde) in (0,1), rel_mde != 0. */
enum tl_rc tl_stats_sample_size_rate(double p, double rel_mde, double alpha, double power, uint64_t *n_per_arm,
                                     struct tl_err *err);
/* Smallest relative uplift (> 0) detectable with n per arm (inverse of the
 * above, solved by bisection); TL_EINVAL if even p -> 1 is not detectable. */
enum tl_rc tl_stats_mde_rate(double p, uint64_t n_per_arm, double alpha, double power, double *rel_mde,
                             struct tl_err *err);
/* Means with common standard deviation sd: n = 2 (z_{1-a/2} + z_power)^2 sd^2 / mde^2. */
enum tl_rc tl_stats_sample_size_mean(double sd, double abs_mde, double alpha, double power, uint64_t *n_per_arm,
                                     struct tl_err *err);
enum tl_rc tl_stats_mde_mean(double sd, uint64_t n_per_arm, double alpha, double power, double *abs_mde,
                             struct tl_err *err);

/* ---- always-valid inference: mixture SPRT (Johari, Pekelis, Walsh 2017) ---- */

struct tl_stats_msprt {
    uint64_t updates;    /* updates that changed the state (V > 0) */
    double log_lambda;   /* log Lambda_n at the last update (H0: diff = 0) */
    double p_value;      /* always-valid p-value, min over n of 1/Lambda_n, capped at 1 */
    double ci_lo, ci_hi; /* running intersection of always-valid intervals */
    uint64_t ci_resets;  /* times the intersection became empty and was reset */
};
/* p = 1, interval (-inf, +inf). */
void tl_stats_msprt_init(struct tl_stats_msprt *s);
/* Feed the current estimate diff (B - A) and its variance var (e.g.
 * var_a/n_a + var_b/n_b). tau > 0 is the standard deviation of the normal
 * mixing distribution over effects, in the same unit as diff (use about the
 * absolute effect you care about, see docs). alpha must be constant over an
 * experiment. var == 0 leaves the state unchanged (no information yet). */
enum tl_rc tl_stats_msprt_update(struct tl_stats_msprt *s, double diff, double var, double tau, double alpha,
                                 struct tl_err *err);
/* Convenience: diff = x_b/n_b - x_a/n_a, var = unpooled Bernoulli variance. */
enum tl_rc tl_stats_msprt_update_rates(struct tl_stats_msprt *s, uint64_t x_a, uint64_t n_a, uint64_t x_b, uint64_t n_b,
                                       double tau, double alpha, struct tl_err *err);

/* Convenience: diff = mean_b - mean_a, var = var_a/n_a + var_b/n_b. */
enum tl_rc tl_stats_msprt_update_means(struct tl_stats_msprt *s, const struct tl_stats_moments *a,
                                       const struct tl_stats_moments *b, double tau, double alpha, struct tl_err *err);

/* ---- CUPED (Deng, Xu, Kohavi, Walker 2013) ---- */

struct tl_stats_cuped {
    double theta;                         /* cov(Y, X) / var(X), pooled over both arms; 0 when var(X) = 0 */
    double x_mean;                        /* pooled mean of X */
    double var_ratio;                     /* var(Y') / var(Y), pooled: 1 - rho^2 (smaller is better) */
    struct tl_stats_moments adj_a, adj_b; /* moments of Y' = Y - theta (X - x_mean) per arm */
    struct tl_stats_welch welch;          /* Welch test on the adjusted values */
};
/* y = metric during the experiment, x = the same metric (or a correlated
 * one) before the experiment, per unit. n_a, n_b >= 2, all finite. */
enum tl_rc tl_stats_cuped(const double *y_a, const double *x_a, size_t n_a, const double *y_b, const double *x_b,
                          size_t n_b, double alpha, struct tl_stats_cuped *out, struct tl_err *err);

/* ---- ROI ---- */

struct tl_stats_roi {
    double incremental; /* (RPV_b - RPV_a) * visitors_b */
    double lo, hi;      /* Welch interval of the RPV difference * visitors_b */
};
/* rpv = Welch result on revenue per visitor (arm B = treatment). */
enum tl_rc tl_stats_roi(const struct tl_stats_welch *rpv, uint64_t visitors_b, struct tl_stats_roi *out,
                        struct tl_err *err);

#endif
