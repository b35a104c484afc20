/* Seasonal products and the out-of-season audit of served recommendations.
 *
 * From sales history (order lines: item index, time, quantity) find the
 * items whose sales are concentrated in a few months of the year, and the
 * months of their season; then tell whether an item is in season at a time,
 * and audit served recommendations for items shown out of season.
 *
 * Definition (see seasonal.c for the formulas and why these constants):
 * an item is seasonal when, after correcting for how many days of history
 * each calendar month has, at least min_share (0.8) of its units fall in
 * its best window of window_months (4) consecutive months (wrapping
 * December -> January), it sold at least min_units (50) units in at least
 * min_months (2) distinct months, and its first and last sale are at least
 * min_span_days (300) apart (so a product launched three months ago is not
 * called seasonal). Its season is that window minus edge months holding
 * less than edge_share (5 %) of its units.
 *
 * Use: tl_season_new, tl_season_add for every sold line (any order),
 * tl_season_fit once; afterwards the model is read-only and every query
 * below may run from several threads at once. add/fit are not thread-safe.
 *
 * Ownership: the model owns its memory; strings passed in are borrowed for
 * the call. */
#ifndef TL_ANALYTICS_SEASONAL_H
#define TL_ANALYTICS_SEASONAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "tailor/rc.h"

#define TL_SEASON_ITEMS_MAX 16000000u      /* item indexes accepted: 0 .. max-1 */
#define TL_SEASON_AUDIT_GROUPS_MAX 200000u /* distinct (item, widget) pairs in one audit */
#define TL_SEASON_WIDGETS_MAX 1024u        /* distinct widget names in one audit */
#define TL_SEASON_WIDGET_MAX 64            /* bytes of a widget name kept */

struct tl_season_params {
    int window_months; /* W, 1..6 (default 4) */
    double min_share;  /* share of units in the best W-month window (0.8) */
    double min_units;  /* units sold overall (50) */
    int min_months;    /* distinct calendar months with sales (2) */
    int min_span_days; /* days between the item's first and last sale (300) */
    double edge_share; /* edge months of the window below this share are trimmed (0.05) */
};

/* Defaults above. */
void tl_season_params_default(struct tl_season_params *p);

struct tl_season;

/* NULL params = defaults. Returns NULL on out of memory or invalid params
 * (window_months outside 1..6, min_share outside (0, 1]). */
struct tl_season *tl_season_new(const struct tl_season_params *p);
void tl_season_free(struct tl_season *s);

/* One sold line. quantity <= 0 or NaN is ignored (returns TL_OK), item >=
 * TL_SEASON_ITEMS_MAX or ts_ms outside years 1970..9999 is TL_EINVAL; TL_ENOMEM on out of memory. */
enum tl_rc tl_season_add(struct tl_season *s, uint32_t item, int64_t ts_ms, double quantity, struct tl_err *err);

/* Decide seasonality for every item added. The history must cover every
 * calendar month at least once (first to last sale over all items spans a
 * year); otherwise no item is called seasonal and history_ok is 0 in the
 * JSON. May be called again after more adds. */
enum tl_rc tl_season_fit(struct tl_season *s, struct tl_err *err);

/* Season months of item as a bit mask: bit m (0 = January) set when month
 * m+1 is in its season; 0 when the item is not seasonal (or unknown). */
uint16_t tl_season_months(const struct tl_season *s, uint32_t item);
/* Share of the item's (coverage-corrected) units in its best window, 0 if
 * it has no sales. */
double tl_season_share(const struct tl_season *s, uint32_t item);
/* 1 if item is not seasonal or ts_ms (UTC) falls in one of its season
 * months; 0 if it is seasonal and out of season. */
int tl_season_in_season(const struct tl_season *s, uint32_t item, int64_t ts_ms);
/* Number of seasonal items. */
size_t tl_season_count(const struct tl_season *s);
/* Calendar month (1..12, UTC) of a time. */
int tl_season_month_of(int64_t ts_ms);

/* Names items in JSON output; NULL name function = the decimal index. */
typedef const char *(*tl_season_name_fn)(void *ctx, uint32_t item);

/* {"history_ok":true,"history_days":374,"window_months":4,"min_share":0.8,
 *  "items_with_sales":N,"seasonal":K,
 *  "items":[{"item":"..","season":[9,10,11,12],"share":0.93,"units":1234}...]}
 * items: the seasonal ones, by share descending then index; at most limit
 * (0 = all). Season months are listed from the window's first month, so a
 * winter season reads [11,12,1]. */
enum tl_rc tl_season_report_json(const struct tl_season *s, tl_season_name_fn name, void *ctx, size_t limit,
                                 struct tl_buf *out);

/* A served recommendation: item index, the widget that served it (borrowed,
 * NULL = "unknown"), and when. */
struct tl_season_served {
    uint32_t item;
    const char *widget;
    int64_t ts_ms;
};

/* Audit: which served items were out of season.
 * {"served":N,"out_of_season":K,"share":K/N,
 *  "items":[{"item":"..","season":[10,11,12],"out_of_season":k,
 *            "widgets":[{"widget":"for_you","count":c,"first":"<iso>","last":"<iso>"}...]}...]}
 * items by out_of_season count descending (then index), widgets by count
 * descending (then name). TL_ETOOBIG when more than
 * TL_SEASON_AUDIT_GROUPS_MAX (item, widget) pairs or TL_SEASON_WIDGETS_MAX
 * widget names are out of season. */
enum tl_rc tl_season_audit_json(const struct tl_season *s, const struct tl_season_served *served, size_t n,
                                tl_season_name_fn name, void *ctx, struct tl_buf *out, struct tl_err *err);

#endif
