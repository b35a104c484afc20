/* Micro-segments of shoppers by k-means clustering (see segments.c for the
 * algorithm, the features and the naming rules).
 *
 * Pure: no store, no profiles. The caller turns each shopper into a raw
 * feature record (struct tl_seg_raw: purchase counts, spend, recency, price
 * point, views and the shares of their interest per category), fits a model
 * once (tl_seg_fit) and then places any shopper, also one never seen in
 * training, in the segment of the nearest centroid (tl_seg_assign).
 *
 * A fitted model is plain data (no pointers besides the centroids), read-only
 * after fitting and safe to share between threads. */
#ifndef TL_MODEL_SEGMENTS_H
#define TL_MODEL_SEGMENTS_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "tailor/rc.h"

#define TL_SEG_K_MAX 24    /* segments one model may have */
#define TL_SEG_CATS_MAX 32 /* category dimensions */
#define TL_SEG_NUM 5       /* numeric dimensions (orders, spend, recency, price, views) */
#define TL_SEG_DIM_MAX (TL_SEG_NUM + TL_SEG_CATS_MAX)
#define TL_SEG_FIT_MAX 50000u   /* shoppers clustered; above, an evenly spaced sample (plenty for 24 centres) */
#define TL_SEG_SIL_SAMPLE 1500u /* shoppers used to score k by silhouette */
#define TL_SEG_NAME_MAX 96
#define TL_SEG_DESC_MAX 640

/* One shopper, before scaling. */
struct tl_seg_raw {
    double orders;              /* purchases (orders), >= 0 */
    double monetary;            /* revenue of those purchases, >= 0 */
    double recency_days;        /* days since the last activity, >= 0 */
    double mean_price;          /* mean price of items seen or bought; NAN unknown */
    double views;               /* product and category views, >= 0 */
    float cat[TL_SEG_CATS_MAX]; /* share of interest per category (each 0..1, sum <= 1) */
};

struct tl_seg_params {
    uint32_t k;        /* segments; 0 = choose in [k_min, k_max] by silhouette */
    uint32_t k_min;    /* 4 */
    uint32_t k_max;    /* 10 */
    double cat_weight; /* scale of the category shares against the z-scored numbers (2.0) */
    uint32_t restarts; /* k-means++ starts, best inertia kept (4) */
    uint32_t iters;    /* Lloyd iterations at most (50) */
    uint64_t seed;     /* 42: the same data and seed give the same model */
};

struct tl_seg_model {
    uint32_t k;
    uint32_t n_cats;
    double mean[TL_SEG_NUM], sd[TL_SEG_NUM]; /* of log1p(raw numbers) over the fitted shoppers */
    double price_fill;                       /* log1p(price) used for an unknown price */
    double cat_weight;
    float centroids[TL_SEG_K_MAX * TL_SEG_DIM_MAX]; /* k rows of TL_SEG_NUM + n_cats scaled values */
    double inertia;                                 /* mean squared distance to the own centroid */
    double silhouette;                              /* mean silhouette on the scoring sample (-1..1) */
};

/* Per-segment summary used for names and descriptions (medians of raw values). */
struct tl_seg_summary {
    uint64_t size;
    double med_orders, med_monetary, med_recency_days, med_price, med_views;
    double cat_share[TL_SEG_CATS_MAX]; /* mean share per category */
};

void tl_seg_params_defaults(struct tl_seg_params *p);

/* Fit on n shoppers (n >= 2) with n_cats category dimensions (<= TL_SEG_CATS_MAX).
 * k is lowered to the number of distinct shoppers when there are fewer.
 * assign (may be NULL) receives each shopper's segment. TL_EINVAL for bad
 * parameters or n < 2, TL_ENOMEM. */
enum tl_rc tl_seg_fit(const struct tl_seg_raw *x, size_t n, uint32_t n_cats, const struct tl_seg_params *p,
                      struct tl_seg_model *out, uint32_t *assign, struct tl_err *err);

/* Segment (0..k-1) of the nearest centroid; ties go to the lower index. */
uint32_t tl_seg_assign(const struct tl_seg_model *m, const struct tl_seg_raw *x);

/* Scaled feature vector of x (TL_SEG_NUM + n_cats values) into v. */
void tl_seg_scale(const struct tl_seg_model *m, const struct tl_seg_raw *x, float *v);

/* Summaries of each segment (out[k]) and of everyone (all), from the raw
 * records and their segments. TL_ENOMEM. */
enum tl_rc tl_seg_summarize(const struct tl_seg_raw *x, size_t n, const uint32_t *assign, uint32_t k, uint32_t n_cats,
                            struct tl_seg_summary *out, struct tl_seg_summary *all);

/* A short name and a one-paragraph description of segment s against all
 * (rules in segments.c). cat_names[c] names category dimension c (its last
 * " > " level is used in the name). currency may be NULL. */
void tl_seg_describe(const struct tl_seg_summary *s, const struct tl_seg_summary *all, uint32_t n_cats,
                     const char *const *cat_names, const char *currency, char *name, size_t name_len, char *desc,
                     size_t desc_len);

#endif
