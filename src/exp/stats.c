/* Experiment statistics (see stats.h for the API; docs/statistics.md for the
 * user-facing explanation of every number).
 *
 * Conventions: arm A = control, arm B = treatment, diff = B - A, relative
 * uplift = B/A - 1, z_q = Phi^-1(q), z = z_{1-alpha/2}. All arithmetic is in
 * double precision. Invalid arguments return TL_EINVAL with the argument name
 * in err->field and leave outputs untouched.
 *
 * Distribution functions (written here, no statistics library):
 *   Phi(x)        = erfc(-x / sqrt 2) / 2 (C99 libm erfc, accurate in both tails).
 *   Phi^-1(p)     Acklam's rational approximation (relative error < 1.15e-9;
 *                 coefficients a, b, c, d below; break points 0.02425 and
 *                 1 - 0.02425), then one Halley step on Phi(x) - p, which
 *                 brings it to ~1e-15.
 *   I_x(a, b)     regularized incomplete beta, x^a (1-x)^b / (a B(a,b)) times
 *                 the continued fraction 1/(1+ d1/(1+ d2/(1+ ...))) with
 *                 d_{2m+1} = -(a+m)(a+b+m) x / ((a+2m)(a+2m+1)),
 *                 d_{2m}   = m (b-m) x / ((a+2m-1)(a+2m)),
 *                 evaluated by the modified Lentz method; when
 *                 x > (a+1)/(a+b+2) use I_x(a,b) = 1 - I_{1-x}(b,a).
 *   P(a,x),Q(a,x) regularized incomplete gamma: for x < a+1 the series
 *                 P = e^-x x^a / Gamma(a+1) * sum_n x^n / ((a+1)...(a+n)); else
 *                 the Legendre continued fraction for Q (Lentz). The other one is
 *                 1 - the computed one.
 *   Student t     two-sided tail: P(|T| > t) = I_{v/(v+t^2)}(v/2, 1/2);
 *                 CDF follows by symmetry. Quantile: safeguarded Newton
 *                 (bisection fallback) on the tail, starting from a bracket.
 *   Chi-square    CDF(x; k) = P(k/2, x/2), survival = Q(k/2, x/2).
 *   Iterations stop at relative change < 1e-15 or after 1000 steps.
 *
 * Rates (x successes of n):
 *   Wilson:  (p + z^2/2n +- z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n).
 *   z-test:  pooled p0 = (x_a+x_b)/(n_a+n_b), SE0 = sqrt(p0(1-p0)(1/n_a+1/n_b)),
 *            z = diff/SE0, p-value = 2 Phi(-|z|) (1 if SE0 = 0).
 *   diff interval: diff +- z sqrt(p_a(1-p_a)/n_a + p_b(1-p_b)/n_b) (unpooled Wald).
 *   relative: delta method on L = log(p_b/p_a): SE_L^2 = (1-p_a)/x_a + (1-p_b)/x_b,
 *            interval exp(L +- z SE_L) - 1 (needs x_a, x_b > 0).
 * Means (moments n, mean m, sample variance s^2):
 *   Welch: SE^2 = s_a^2/n_a + s_b^2/n_b, t = diff/SE,
 *          df = SE^4 / ((s_a^2/n_a)^2/(n_a-1) + (s_b^2/n_b)^2/(n_b-1)),
 *          p = 2 P(T_df > |t|), interval diff +- t_{1-alpha/2, df} SE.
 *   relative: L = log(m_b/m_a), SE_L^2 = s_a^2/(n_a m_a^2) + s_b^2/(n_b m_b^2),
 *          interval exp(L +- z SE_L) - 1 (needs both means > 0).
 *   winsorising cap: type-7 quantile of the pooled values (see stats.h).
 * SRM: X^2 = sum (O_i - E_i)^2/E_i, E_i = N s_i / sum s, p = Q_chi2(X^2, k-1),
 *   flagged when p < 0.001.
 * Sample size per arm (two-sided, equal arms):
 *   rates: p1 = p, p2 = p(1+m), pbar = (p1+p2)/2,
 *          n = (z sqrt(2 pbar(1-pbar)) + z_power sqrt(p1(1-p1)+p2(1-p2)))^2 / (p2-p1)^2
 *          rounded up; the MDE for a given n inverts this by bisection on m.
 *   means: n = 2 (z + z_power)^2 sd^2 / mde^2; mde = (z + z_power) sd sqrt(2/n).
 * mSPRT (Johari, Pekelis, Walsh 2017, normal mixture H ~ N(0, tau^2)) with
 *   estimate d and its variance V at time n:
 *   Lambda_n = sqrt(V/(V+tau^2)) exp(tau^2 d^2 / (2 V (V+tau^2))),
 *   p_n = min(p_{n-1}, 1/Lambda_n), p_0 = 1;
 *   interval_n = d +- sqrt(V (V+tau^2)/tau^2 * (2 log(1/alpha) + log((V+tau^2)/V))),
 *   intersected with interval_{n-1} (reset to interval_n if empty; counted).
 * CUPED (Deng et al. 2013): over both arms pooled, theta = cov(Y,X)/var(X),
 *   Y' = Y - theta (X - mean X); var(Y')/var(Y) = 1 - rho^2; then Welch on Y'.
 * ROI: incremental = diff_RPV * visitors_B, interval = Welch interval * visitors_B. */
#include "exp/stats.h"

#include <math.h>
#include <stdlib.h>

#include "core/alloc.h"

#define EPS 1e-15
#define TINY 1e-300
#define MAXIT 1000

/* ------------------------------------------------------------------ */
/* distribution functions                                              */

double tl_stats_norm_pdf(double x) { return exp(-0.5 * x * x) / sqrt(2.0 * M_PI); }

double tl_stats_norm_cdf(double x)
{
    if (isnan(x)) return NAN;
    return 0.5 * erfc(-x / M_SQRT2);
}

double tl_stats_norm_quantile(double p)
{
    /* Acklam (2003) rational approximation of the normal quantile. */
    static const double a[6] = {-3.969683028665376e+01, 2.209460984245205e+02,  -2.759285104469687e+02,
                                1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[5] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                                6.680131188771972e+01, -1.328068155288572e+01};
    static const double c[6] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                                -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
    static const double d[4] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                                3.754408661907416e+00};
    const double plow = 0.02425;
    if (isnan(p) || p < 0 || p > 1) return NAN;
    if (p == 0) return -INFINITY;
    if (p == 1) return INFINITY;
    if (p > 0.5) return -tl_stats_norm_quantile(1.0 - p);
    double x;
    if (p < plow) {
        double q = sqrt(-2.0 * log(p));
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
    } else {
        double q = p - 0.5, r = q * q;
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0);
    }
    /* One Halley step: e = Phi(x) - p, u = e / phi(x), x -= u / (1 + x u / 2). */
    double e = tl_stats_norm_cdf(x) - p;
    double u = e * sqrt(2.0 * M_PI) * exp(0.5 * x * x);
    return x - u / (1.0 + 0.5 * x * u);
}

/* Continued fraction of the incomplete beta (modified Lentz). */
static double beta_cf(double a, double b, double x)
{
    double qab = a + b, qap = a + 1.0, qam = a - 1.0;
    double c = 1.0, d = 1.0 - qab * x / qap;
    if (fabs(d) < TINY) d = TINY;
    d = 1.0 / d;
    double h = d;
    for (int m = 1; m <= MAXIT; m++) {
        double m2 = 2.0 * m;
        double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        if (fabs(d) < TINY) d = TINY;
        c = 1.0 + aa / c;
        if (fabs(c) < TINY) c = TINY;
        d = 1.0 / d;
        h *= d * c;
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if (fabs(d) < TINY) d = TINY;
        c = 1.0 + aa / c;
        if (fabs(c) < TINY) c = TINY;
        d = 1.0 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1.0) < EPS) break;
    }
    return h;
}

/* I_x(a,b) given both x and y = 1 - x (so callers can pass an exact y). */
static double beta_inc2(double a, double b, double x, double y)
{
    if (x <= 0) return 0.0;
    if (y <= 0) return 1.0;
    double lfront = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log(y);
    if (x < (a + 1.0) / (a + b + 2.0)) return exp(lfront) * beta_cf(a, b, x) / a;
    return 1.0 - exp(lfront) * beta_cf(b, a, y) / b;
}

double tl_stats_beta_inc(double a, double b, double x)
{
    if (!(a > 0) || !(b > 0) || !(x >= 0 && x <= 1) || isinf(a) || isinf(b)) return NAN;
    return beta_inc2(a, b, x, 1.0 - x);
}

static double gamma_series(double a, double x) /* P(a,x) */
{
    double ap = a, sum = 1.0 / a, del = sum;
    for (int n = 1; n <= MAXIT; n++) {
        ap += 1.0;
        del *= x / ap;
        sum += del;
        if (fabs(del) < fabs(sum) * EPS) break;
    }
    return sum * exp(-x + a * log(x) - lgamma(a));
}

static double gamma_cf(double a, double x) /* Q(a,x) */
{
    double b = x + 1.0 - a, c = 1.0 / TINY, d = 1.0 / b, h = d;
    for (int i = 1; i <= MAXIT; i++) {
        double an = -i * (i - a);
        b += 2.0;
        d = an * d + b;
        if (fabs(d) < TINY) d = TINY;
        c = b + an / c;
        if (fabs(c) < TINY) c = TINY;
        d = 1.0 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1.0) < EPS) break;
    }
    return exp(-x + a * log(x) - lgamma(a)) * h;
}

double tl_stats_gamma_p(double a, double x)
{
    if (!(a > 0) || !(x >= 0) || isinf(a)) return NAN;
    if (x == 0) return 0.0;
    if (isinf(x)) return 1.0;
    return x < a + 1.0 ? gamma_series(a, x) : 1.0 - gamma_cf(a, x);
}

double tl_stats_gamma_q(double a, double x)
{
    if (!(a > 0) || !(x >= 0) || isinf(a)) return NAN;
    if (x == 0) return 1.0;
    if (isinf(x)) return 0.0;
    return x < a + 1.0 ? 1.0 - gamma_series(a, x) : gamma_cf(a, x);
}

/* P(T > t) for t >= 0. */
static double t_upper(double t, double df)
{
    if (isinf(t)) return 0.0;
    double t2 = t * t;
    return 0.5 * beta_inc2(0.5 * df, 0.5, df / (df + t2), t2 / (df + t2));
}

double tl_stats_t_cdf(double t, double df)
{
    if (isnan(t) || !(df > 0)) return NAN;
    if (isinf(df)) return tl_stats_norm_cdf(t);
    return t >= 0 ? 1.0 - t_upper(t, df) : t_upper(-t, df);
}

static double t_pdf(double t, double df)
{
    return exp(lgamma(0.5 * (df + 1)) - lgamma(0.5 * df) - 0.5 * log(df * M_PI) - 0.5 * (df + 1) * log1p(t * t / df));
}

double tl_stats_t_quantile(double p, double df)
{
    if (isnan(p) || p < 0 || p > 1 || !(df > 0)) return NAN;
    if (p == 0) return -INFINITY;
    if (p == 1) return INFINITY;
    if (isinf(df)) return tl_stats_norm_quantile(p);
    if (p == 0.5) return 0.0;
    if (p < 0.5) return -tl_stats_t_quantile(1.0 - p, df);
    double tail = 1.0 - p; /* solve t_upper(t) = tail, t > 0 */
    double lo = 0.0, hi = 1.0;
    while (t_upper(hi, df) > tail && hi < 1e300) {
        lo = hi;
        hi *= 2.0;
    }
    double t = 0.5 * (lo + hi);
    double z = tl_stats_norm_quantile(p);
    if (z > lo && z < hi) t = z;
    for (int i = 0; i < 300; i++) {
        double f = t_upper(t, df) - tail; /* decreasing in t */
        if (f > 0)
            lo = t;
        else
            hi = t;
        double next = t + f / t_pdf(t, df); /* Newton: f' = -pdf */
        if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);
        if (fabs(next - t) <= 1e-15 * fabs(next) || hi - lo <= 1e-15 * hi) {
            t = next;
            break;
        }
        t = next;
    }
    return t;
}

double tl_stats_chi2_cdf(double x, double df)
{
    if (isnan(x) || !(df > 0)) return NAN;
    if (x <= 0) return 0.0;
    return tl_stats_gamma_p(0.5 * df, 0.5 * x);
}

double tl_stats_chi2_sf(double x, double df)
{
    if (isnan(x) || !(df > 0)) return NAN;
    if (x <= 0) return 1.0;
    return tl_stats_gamma_q(0.5 * df, 0.5 * x);
}

/* ------------------------------------------------------------------ */
/* argument checks                                                     */

static enum tl_rc check_alpha(double alpha, struct tl_err *err)
{
    if (!(alpha > 0 && alpha < 1)) return tl_err_set(err, TL_EINVAL, "alpha", "alpha must be in (0, 1), got %g", alpha);
    return TL_OK;
}

static enum tl_rc check_power(double power, struct tl_err *err)
{
    if (!(power > 0 && power < 1)) return tl_err_set(err, TL_EINVAL, "power", "power must be in (0, 1), got %g", power);
    return TL_OK;
}

static double zcrit(double alpha) { return tl_stats_norm_quantile(1.0 - 0.5 * alpha); }

/* ------------------------------------------------------------------ */
/* rates                                                               */

static enum tl_rc check_count(uint64_t x, uint64_t n, const char *nf, const char *xf, struct tl_err *err)
{
    if (n == 0) return tl_err_set(err, TL_EINVAL, nf, "%s must be at least 1", nf);
    if (x > n)
        return tl_err_set(err, TL_EINVAL, xf, "%s (%llu) exceeds %s (%llu)", xf, (unsigned long long)x, nf,
                          (unsigned long long)n);
    return TL_OK;
}

static void wilson(uint64_t x, uint64_t n, double z, double *lo, double *hi)
{
    double nn = (double)n, p = (double)x / nn, z2 = z * z;
    double den = 1.0 + z2 / nn;
    double center = (p + z2 / (2.0 * nn)) / den;
    double half = z / den * sqrt(p * (1.0 - p) / nn + z2 / (4.0 * nn * nn));
    *lo = x == 0 ? 0.0 : fmax(0.0, center - half);
    *hi = x == n ? 1.0 : fmin(1.0, center + half);
}

enum tl_rc tl_stats_wilson(uint64_t x, uint64_t n, double alpha, double *lo, double *hi, struct tl_err *err)
{
    enum tl_rc rc;
    if ((rc = check_alpha(alpha, err)) != TL_OK) return rc;
    if ((rc = check_count(x, n, "n", "x", err)) != TL_OK) return rc;
    wilson(x, n, zcrit(alpha), lo, hi);
    return TL_OK;
}

enum tl_rc tl_stats_rates(uint64_t x_a, uint64_t n_a, uint64_t x_b, uint64_t n_b, double alpha,
                          struct tl_stats_rates *out, struct tl_err *err)
{
    enum tl_rc rc;
    if ((rc = check_alpha(alpha, err)) != TL_OK) return rc;
    if ((rc = check_count(x_a, n_a, "n_a", "x_a", err)) != TL_OK) return rc;
    if ((rc = check_count(x_b, n_b, "n_b", "x_b", err)) != TL_OK) return rc;
    struct tl_stats_rates r;
    double z = zcrit(alpha);
    double na = (double)n_a, nb = (double)n_b;
    r.p_a = (double)x_a / na;
    r.p_b = (double)x_b / nb;
    wilson(x_a, n_a, z, &r.a_lo, &r.a_hi);
    wilson(x_b, n_b, z, &r.b_lo, &r.b_hi);
    r.diff = r.p_b - r.p_a;
    double p0 = ((double)x_a + (double)x_b) / (na + nb);
    double se0 = sqrt(p0 * (1.0 - p0) * (1.0 / na + 1.0 / nb));
    if (se0 > 0) {
        r.z = r.diff / se0;
        r.p_value = erfc(fabs(r.z) / M_SQRT2);
    } else {
        r.z = 0.0;
        r.p_value = 1.0;
    }
    double seu = sqrt(r.p_a * (1.0 - r.p_a) / na + r.p_b * (1.0 - r.p_b) / nb);
    r.diff_lo = r.diff - z * seu;
    r.diff_hi = r.diff + z * seu;
    if (x_a > 0 && x_b > 0) {
        double l = log(r.p_b / r.p_a);
        double sel = sqrt((1.0 - r.p_a) / (double)x_a + (1.0 - r.p_b) / (double)x_b);
        r.rel_valid = 1;
        r.rel = r.p_b / r.p_a - 1.0;
        r.rel_lo = exp(l - z * sel) - 1.0;
        r.rel_hi = exp(l + z * sel) - 1.0;
    } else {
        r.rel_valid = 0;
        r.rel = r.rel_lo = r.rel_hi = NAN;
    }
    *out = r;
    return TL_OK;
}

/* ------------------------------------------------------------------ */
/* means                                                               */

enum tl_rc tl_stats_moments_of(const double *x, size_t n, struct tl_stats_moments *out, struct tl_err *err)
{
    if (n < 2) return tl_err_set(err, TL_EINVAL, "n", "need at least 2 values, got %zu", n);
    if (!x) return tl_err_set(err, TL_EINVAL, "x", "values are NULL");
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i])) return tl_err_set(err, TL_EINVAL, "x", "value %zu is not finite", i);
        s += x[i];
    }
    double m = s / (double)n, ss = 0;
    for (size_t i = 0; i < n; i++) ss += (x[i] - m) * (x[i] - m);
    out->n = n;
    out->mean = m;
    out->var = ss / (double)(n - 1);
    return TL_OK;
}

static enum tl_rc check_moments(const struct tl_stats_moments *m, const char *f, struct tl_err *err)
{
    if (!m) return tl_err_set(err, TL_EINVAL, f, "%s is NULL", f);
    if (m->n < 2) return tl_err_set(err, TL_EINVAL, f, "%s.n must be at least 2", f);
    if (!isfinite(m->mean)) return tl_err_set(err, TL_EINVAL, f, "%s.mean is not finite", f);
    if (!(m->var >= 0) || !isfinite(m->var))
        return tl_err_set(err, TL_EINVAL, f, "%s.var must be finite and >= 0, got %g", f, m->var);
    return TL_OK;
}

enum tl_rc tl_stats_welch(const struct tl_stats_moments *a, const struct tl_stats_moments *b, double alpha,
                          struct tl_stats_welch *out, struct tl_err *err)
{
    enum tl_rc rc;
    if ((rc = check_alpha(alpha, err)) != TL_OK) return rc;
    if ((rc = check_moments(a, "a", err)) != TL_OK) return rc;
    if ((rc = check_moments(b, "b", err)) != TL_OK) return rc;
    double na = (double)a->n, nb = (double)b->n;
    double va = a->var / na, vb = b->var / nb;
    if (!(va + vb > 0))
        return tl_err_set(err, TL_EINVAL, "variance", "both arms have zero variance: no test is possible");
    struct tl_stats_welch w;
    w.mean_a = a->mean;
    w.mean_b = b->mean;
    w.diff = b->mean - a->mean;
    w.se = sqrt(va + vb);
    w.df = (va + vb) * (va + vb) / (va * va / (na - 1.0) + vb * vb / (nb - 1.0));
    w.t = w.diff / w.se;
    w.p_value = fmin(1.0, 2.0 * t_upper(fabs(w.t), w.df));
    double tq = tl_stats_t_quantile(1.0 - 0.5 * alpha, w.df);
    w.diff_lo = w.diff - tq * w.se;
    w.diff_hi = w.diff + tq * w.se;
    if (a->mean > 0 && b->mean > 0) {
        double z = zcrit(alpha);
        double l = log(b->mean / a->mean);
        double sel = sqrt(va / (a->mean * a->mean) + vb / (b->mean * b->mean));
        w.rel_valid = 1;
        w.rel = b->mean / a->mean - 1.0;
        w.rel_lo = exp(l - z * sel) - 1.0;
        w.rel_hi = exp(l + z * sel) - 1.0;
    } else {
        w.rel_valid = 0;
        w.rel = w.rel_lo = w.rel_hi = NAN;
    }
    *out = w;
    return TL_OK;
}

static int cmp_double(const void *pa, const void *pb)
{
    double x = *(const double *)pa, y = *(const double *)pb;
    return (x > y) - (x < y);
}

enum tl_rc tl_stats_quantile_pooled(const double *const *xs, const size_t *ns, size_t k, double q, double *cap,
                                    struct tl_err *err)
{
    if (!(q >= 0 && q <= 1)) return tl_err_set(err, TL_EINVAL, "q", "quantile must be in [0, 1], got %g", q);
    if (k == 0 || k > TL_STATS_WINSOR_ARMS_MAX || !xs || !ns)
        return tl_err_set(err, TL_EINVAL, "k", "need 1 to %d arrays", TL_STATS_WINSOR_ARMS_MAX);
    size_t total = 0;
    for (size_t j = 0; j < k; j++) {
        if (ns[j] && !xs[j]) return tl_err_set(err, TL_EINVAL, "xs", "array %zu is NULL", j);
        if (ns[j] > TL_STATS_WINSOR_MAX - total)
            return tl_err_set(err, TL_ETOOBIG, "ns", "more than %zu pooled values", TL_STATS_WINSOR_MAX);
        total += ns[j];
    }
    if (total == 0) return tl_err_set(err, TL_EINVAL, "ns", "no values");
    double *v = tl_malloc(total * sizeof *v);
    if (!v) return tl_err_set(err, TL_ENOMEM, NULL, "out of memory for %zu values", total);
    size_t m = 0;
    for (size_t j = 0; j < k; j++)
        for (size_t i = 0; i < ns[j]; i++) {
            if (!isfinite(xs[j][i])) {
                tl_free(v);
                return tl_err_set(err, TL_EINVAL, "xs", "value %zu of array %zu is not finite", i, j);
            }
            v[m++] = xs[j][i];
        }
    qsort(v, total, sizeof *v, cmp_double);
    double h = (double)(total - 1) * q;
    size_t lo = (size_t)floor(h);
    double r = lo + 1 < total ? v[lo] + (h - (double)lo) * (v[lo + 1] - v[lo]) : v[lo];
    tl_free(v);
    *cap = r;
    return TL_OK;
}

size_t tl_stats_winsorize(double *x, size_t n, double cap)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (x[i] > cap) {
            x[i] = cap;
            c++;
        }
    return c;
}

/* ------------------------------------------------------------------ */
/* sample-ratio mismatch                                               */

enum tl_rc tl_stats_srm(const uint64_t *counts, const double *shares, size_t k, struct tl_stats_srm *out,
                        struct tl_err *err)
{
    if (k < 2 || k > TL_STATS_SRM_ARMS_MAX || !counts || !shares)
        return tl_err_set(err, TL_EINVAL, "k", "need 2 to %d arms, got %zu", TL_STATS_SRM_ARMS_MAX, k);
    double n = 0, s = 0;
    for (size_t i = 0; i < k; i++) {
        if (!(shares[i] > 0 && shares[i] <= 1))
            return tl_err_set(err, TL_EINVAL, "shares", "share %zu must be in (0, 1], got %g", i, shares[i]);
        n += (double)counts[i];
        s += shares[i];
    }
    if (n == 0) return tl_err_set(err, TL_EINVAL, "counts", "no units observed");
    double chi2 = 0;
    for (size_t i = 0; i < k; i++) {
        double e = n * shares[i] / s, d = (double)counts[i] - e;
        chi2 += d * d / e;
    }
    out->chi2 = chi2;
    out->df = (double)(k - 1);
    out->p_value = tl_stats_chi2_sf(chi2, out->df);
    out->flagged = out->p_value < TL_STATS_SRM_ALPHA;
    return TL_OK;
}

/* ------------------------------------------------------------------ */
/* sample size                                                         */

static double n_rate(double p1, double p2, double za, double zb)
{
    double pbar = 0.5 * (p1 + p2), d = p2 - p1;
    double s = za * sqrt(2.0 * pbar * (1.0 - pbar)) + zb * sqrt(p1 * (1.0 - p1) + p2 * (1.0 - p2));
    return s * s / (d * d);
}

enum tl_rc tl_stats_sample_size_rate(double p, double rel_mde, double alpha, double power, uint64_t *n_per_arm,
                                     struct tl_err *err)
{
    enum tl_rc rc;
    if ((rc = check_alpha(alpha, err)) != TL_OK) return rc;
    if ((rc = check_power(power, err)) != TL_OK) return rc;
    if (!(p > 0 && p < 1)) return tl_err_set(err, TL_EINVAL, "p", "baseline rate must be in (0, 1), got %g", p);
    double p2 = p * (1.0 + rel_mde);
    if (!(rel_mde != 0) || !(p2 > 0 && p2 < 1))
        return tl_err_set(err, TL_EINVAL, "rel_mde", "relative MDE must be non-zero with p (1 + mde) in (0, 1)");
    double n = ceil(n_rate(p, p2, zcrit(alpha), tl_stats_norm_quantile(power)));
    if (!(n < 1e18)) return tl_err_set(err, TL_ETOOBIG, "rel_mde", "required sample size is too large");
    *n_per_arm = (uint64_t)n;
    return TL_OK;
}

enum tl_rc tl_stats_mde_rate(double p, uint64_t n_per_arm, double alpha, double power, double *rel_mde,
                             struct tl_err *err)
{
    enum tl_rc rc;
    if ((rc = check_alpha(alpha, err)) != TL_OK) return rc;
    if ((rc = check_power(power, err)) != TL_OK) return rc;
    if (!(p > 0 && p < 1)) return tl_err_set(err, TL_EINVAL, "p", "baseline rate must be in (0, 1), got %g", p);
    if (n_per_arm == 0) return tl_err_set(err, TL_EINVAL, "n_per_arm", "n_per_arm must be at least 1");
    double za = zcrit(alpha), zb = tl_stats_norm_quantile(power), n = (double)n_per_arm;
    double lo = 0.0, hi = (1.0 - p) / p; /* hi: p2 -> 1 */
    if (n_rate(p, p * (1.0 + hi), za, zb) > n)
        return tl_err_set(err, TL_EINVAL, "n_per_arm", "no uplift is detectable with %llu per arm",
                          (unsigned long long)n_per_arm);
    for (int i = 0; i < 200 && hi - lo > 1e-14 * hi; i++) {
        double mid = 0.5 * (lo + hi);
        if (n_rate(p, p * (1.0 + mid), za, zb) > n)
            lo = mid;
        else
            hi = mid;
    }
    *rel_mde = hi;
    return TL_OK;
}

static enum tl_rc check_sd(double sd, struct tl_err *err)
{
    if (!(sd > 0) || !isfinite(sd)) return tl_err_set(err, TL_EINVAL, "sd", "sd must be finite and > 0, got %g", sd);
    return TL_OK;
}

enum tl_rc tl_stats_sample_size_mean(double sd, double abs_mde, double alpha, double power, uint64_t *n_per_arm,
                                     struct tl_err *err)
{
    enum tl_rc rc;
    if ((rc = check_alpha(alpha, err)) != TL_OK) return rc;
    if ((rc = check_power(power, err)) != TL_OK) return rc;
    if ((rc = check_sd(sd, err)) != TL_OK) return rc;
    if (!(abs_mde != 0) || !isfinite(abs_mde))
        return tl_err_set(err, TL_EINVAL, "abs_mde", "MDE must be finite and non-zero");
    double s = zcrit(alpha) + tl_stats_norm_quantile(power);
    double n = ceil(2.0 * s * s * sd * sd / (abs_mde * abs_mde));
    if (!(n < 1e18)) return tl_err_set(err, TL_ETOOBIG, "abs_mde", "required sample size is too large");
    *n_per_arm = (uint64_t)n;
    return TL_OK;
}

enum tl_rc tl_stats_mde_mean(double sd, uint64_t n_per_arm, double alpha, double power, double *abs_mde,
                             struct tl_err *err)
{
    enum tl_rc rc;
    if ((rc = check_alpha(alpha, err)) != TL_OK) return rc;
    if ((rc = check_power(power, err)) != TL_OK) return rc;
    if ((rc = check_sd(sd, err)) != TL_OK) return rc;
    if (n_per_arm == 0) return tl_err_set(err, TL_EINVAL, "n_per_arm", "n_per_arm must be at least 1");
    *abs_mde = (zcrit(alpha) + tl_stats_norm_quantile(power)) * sd * sqrt(2.0 / (double)n_per_arm);
    return TL_OK;
}

/* ------------------------------------------------------------------ */
/* mSPRT                                                               */

void tl_stats_msprt_init(struct tl_stats_msprt *s)
{
    s->updates = 0;
    s->log_lambda = 0.0;
    s->p_value = 1.0;
    s->ci_lo = -INFINITY;
    s->ci_hi = INFINITY;
    s->ci_resets = 0;
}

enum tl_rc tl_stats_msprt_update(struct tl_stats_msprt *s, double diff, double var, double tau, double alpha,
                                 struct tl_err *err)
{
    enum tl_rc rc;
    if ((rc = check_alpha(alpha, err)) != TL_OK) return rc;
    if (!isfinite(diff)) return tl_err_set(err, TL_EINVAL, "diff", "difference is not finite");
    if (!(var >= 0) || !isfinite(var))
        return tl_err_set(err, TL_EINVAL, "var", "variance must be finite and >= 0, got %g", var);
    if (!(tau > 0) || !isfinite(tau)) return tl_err_set(err, TL_EINVAL, "tau", "tau must be finite and > 0");
    if (var == 0) return TL_OK;
    double t2 = tau * tau, vt = var + t2;
    double ll = 0.5 * log(var / vt) + t2 * diff * diff / (2.0 * var * vt);
    s->log_lambda = ll;
    s->p_value = fmin(s->p_value, fmin(1.0, exp(-ll)));
    double w = sqrt(var * vt / t2 * (2.0 * log(1.0 / alpha) + log(vt / var)));
    double lo = fmax(s->ci_lo, diff - w), hi = fmin(s->ci_hi, diff + w);
    if (lo > hi) {
        lo = diff - w;
        hi = diff + w;
        s->ci_resets++;
    }
    s->ci_lo = lo;
    s->ci_hi = hi;
    s->updates++;
    return TL_OK;
}

enum tl_rc tl_stats_msprt_update_rates(struct tl_stats_msprt *s, uint64_t x_a, uint64_t n_a, uint64_t x_b, uint64_t n_b,
                                       double tau, double alpha, struct tl_err *err)
{
    enum tl_rc rc;
    if ((rc = check_count(x_a, n_a, "n_a", "x_a", err)) != TL_OK) return rc;
    if ((rc = check_count(x_b, n_b, "n_b", "x_b", err)) != TL_OK) return rc;
    double pa = (double)x_a / (double)n_a, pb = (double)x_b / (double)n_b;
    double var = pa * (1.0 - pa) / (double)n_a + pb * (1.0 - pb) / (double)n_b;
    return tl_stats_msprt_update(s, pb - pa, var, tau, alpha, err);
}

enum tl_rc tl_stats_msprt_update_means(struct tl_stats_msprt *s, const struct tl_stats_moments *a,
                                       const struct tl_stats_moments *b, double tau, double alpha, struct tl_err *err)
{
    enum tl_rc rc;
    if ((rc = check_moments(a, "a", err)) != TL_OK) return rc;
    if ((rc = check_moments(b, "b", err)) != TL_OK) return rc;
    double var = a->var / (double)a->n + b->var / (double)b->n;
    return tl_stats_msprt_update(s, b->mean - a->mean, var, tau, alpha, err);
}

/* ------------------------------------------------------------------ */
/* CUPED                                                               */

/* Moments of y - theta (x - xm) over n values. */
static void adj_moments(const double *y, const double *x, size_t n, double theta, double xm, struct tl_stats_moments *m)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += y[i] - theta * (x[i] - xm);
    double mean = s / (double)n, ss = 0;
    for (size_t i = 0; i < n; i++) {
        double d = y[i] - theta * (x[i] - xm) - mean;
        ss += d * d;
    }
    m->n = n;
    m->mean = mean;
    m->var = ss / (double)(n - 1);
}

enum tl_rc tl_stats_cuped(const double *y_a, const double *x_a, size_t n_a, const double *y_b, const double *x_b,
                          size_t n_b, double alpha, struct tl_stats_cuped *out, struct tl_err *err)
{
    enum tl_rc rc;
    if ((rc = check_alpha(alpha, err)) != TL_OK) return rc;
    if (n_a < 2 || !y_a || !x_a) return tl_err_set(err, TL_EINVAL, "n_a", "arm A needs at least 2 units");
    if (n_b < 2 || !y_b || !x_b) return tl_err_set(err, TL_EINVAL, "n_b", "arm B needs at least 2 units");
    const double *ys[2] = {y_a, y_b}, *xs[2] = {x_a, x_b};
    size_t ns[2] = {n_a, n_b};
    double sx = 0, sy = 0;
    for (int j = 0; j < 2; j++)
        for (size_t i = 0; i < ns[j]; i++) {
            if (!isfinite(ys[j][i]) || !isfinite(xs[j][i]))
                return tl_err_set(err, TL_EINVAL, j ? "b" : "a", "value %zu of arm %c is not finite", i, j ? 'B' : 'A');
            sx += xs[j][i];
            sy += ys[j][i];
        }
    double n = (double)(n_a + n_b), xm = sx / n, ym = sy / n;
    double sxx = 0, sxy = 0, syy = 0;
    for (int j = 0; j < 2; j++)
        for (size_t i = 0; i < ns[j]; i++) {
            double dx = xs[j][i] - xm, dy = ys[j][i] - ym;
            sxx += dx * dx;
            sxy += dx * dy;
            syy += dy * dy;
        }
    struct tl_stats_cuped c;
    c.theta = sxx > 0 ? sxy / sxx : 0.0;
    c.x_mean = xm;
    c.var_ratio = syy > 0 ? fmax(0.0, 1.0 - (sxx > 0 ? sxy * sxy / (sxx * syy) : 0.0)) : 1.0;
    adj_moments(y_a, x_a, n_a, c.theta, xm, &c.adj_a);
    adj_moments(y_b, x_b, n_b, c.theta, xm, &c.adj_b);
    if ((rc = tl_stats_welch(&c.adj_a, &c.adj_b, alpha, &c.welch, err)) != TL_OK) return rc;
    *out = c;
    return TL_OK;
}

/* ------------------------------------------------------------------ */
/* ROI                                                                 */

enum tl_rc tl_stats_roi(const struct tl_stats_welch *rpv, uint64_t visitors_b, struct tl_stats_roi *out,
                        struct tl_err *err)
{
    if (!rpv || !isfinite(rpv->diff) || !isfinite(rpv->diff_lo) || !isfinite(rpv->diff_hi))
        return tl_err_set(err, TL_EINVAL, "rpv", "RPV result is missing or not finite");
    double v = (double)visitors_b;
    out->incremental = rpv->diff * v;
    out->lo = rpv->diff_lo * v;
    out->hi = rpv->diff_hi * v;
    return TL_OK;
}
