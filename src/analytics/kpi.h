/* KPI roll-ups with click-through and revenue attribution, per shop and
 * UTC day, by dimension (widget, placement, model, segment, country,
 * device), plus site totals per day (visitors, orders, revenue, AOV,
 * conversion rate).
 *
 * Pure: no store I/O. The engine feeds every behaviour event, in time order
 * per shopper (live, and once at start from the stored events, which are
 * the record: nothing here is persisted). Thread-safe: one mutex.
 *
 * Sources. An impression or click names the response it came from in
 * source_id:
 *   "r_<code>_<hex>"  a recommendation; the widget is the type of <code>:
 *                     fy for_you, si similar, se session, bt bought_together,
 *                     ab also_bought, av also_viewed, ca cart,
 *                     rv recently_viewed, po popular, tr trending
 *                     (the codes of src/engine/feedback.c; an unknown code
 *                     gives widget "recommendation")
 *   "s_<hex>"         a search response: widget "search"
 *   "d_<hex>"         a decision / campaign: widget "campaign"
 *   anything else     widget "other"; NULL: widget "unknown"
 * The caller may override the widget (event.widget) and name a model
 * (event.model; default: the widget).
 *
 * Attribution (all per shop and shopper; see kpi.c for the full rules):
 *   click    counted for the dimension values of the click: widget from its
 *            source, placement / model from the click or else from the
 *            impression of the same source seen earlier in the session,
 *            segment / country / device from the click event.
 *   cart     an add_to_cart of an item clicked earlier in the same session
 *            counts for that (most recent) click's values.
 *   purchase each line (item, revenue) looks at the shopper's clicks on
 *            that item in [purchase - window, purchase] (window 24 h):
 *            LAST-TOUCH: the most recent click gets the whole line revenue
 *            (`revenue`), and the order counts once in `orders` for each
 *            value that got last-touch revenue from it;
 *            ASSISTED: every distinct value (per dimension) among those
 *            clicks gets the line revenue in `assisted_revenue` (the
 *            last-touch value included, so assisted >= revenue per row).
 *            The clicks used are then spent: a later purchase of the same
 *            item needs a new click.
 *
 * Ownership: the object owns everything it keeps; strings passed in are
 * borrowed for the call. */
#ifndef TL_ANALYTICS_KPI_H
#define TL_ANALYTICS_KPI_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "store/types.h"
#include "tailor/rc.h"

#define TL_KPI_VALUE_MAX 64              /* bytes kept of a dimension value (longer: cut) */
#define TL_KPI_VALUES_MAX 65535u         /* distinct dimension values over all shops and dimensions */
#define TL_KPI_CELLS_MAX 1000000u        /* (shop, day, dimension, value) counters (~64 B + map: <= ~100 MB) */
#define TL_KPI_SHOPPERS_MAX 100000u      /* shoppers with attribution state (~840 B each: <= 84 MB) */
#define TL_KPI_CLICKS_PER_SHOPPER 12     /* recent clicks kept per shopper (oldest replaced) */
#define TL_KPI_IMPS_PER_SHOPPER 6        /* recent impression sources kept per shopper */
#define TL_KPI_VISITOR_DAYS_MAX 2000000u /* exact (shop, day, shopper) visitor set (<= ~48 MB) */
#define TL_KPI_ORDERS_MAX 2000000u       /* order ids remembered to count an order once (<= ~48 MB) */
#define TL_KPI_REPORT_DAYS_MAX 400       /* days in one report */
#define TL_KPI_SHOP_MAX 0x0fffffffu      /* shop ids above are not tracked */
#define TL_KPI_NO_ITEM UINT32_MAX

enum tl_kpi_dim {
    TL_KPI_WIDGET = 0,
    TL_KPI_PLACEMENT,
    TL_KPI_MODEL,
    TL_KPI_SEGMENT,
    TL_KPI_COUNTRY,
    TL_KPI_DEVICE,
    TL_KPI_DIMS_
};

/* "widget" -> TL_KPI_WIDGET ...; -1 if unknown. */
int tl_kpi_dim_from_str(const char *s);
const char *tl_kpi_dim_str(enum tl_kpi_dim d);
/* Widget name of a source id per the table above (static storage). */
const char *tl_kpi_widget_of_source(const char *source_id);

struct tl_kpi_params {
    int64_t attribution_ms; /* click -> purchase window (24 h) */
    int64_t session_gap_ms; /* same session when session keys are unknown: within this gap (30 min) */
};

/* A purchase line: item index and revenue = quantity * unit price (0 when
 * the price is unknown). */
struct tl_kpi_line {
    uint32_t item;
    double revenue;
};

/* One event, filled by the engine from struct tl_event and its context.
 * Every string may be NULL (= "unknown" in reports); all are borrowed.
 * From a struct tl_event *e:
 *   type = e->type, ts_ms = e->ts_ms,
 *   shopper = hash of the profile key (user_id, else anonymous_id, after
 *     identity stitching: the key the engine's profiles use),
 *   session = e->session_id ? tl_hash_str(e->session_id, 0) : 0,
 *   source_id = e->recommendation_id (impressions, clicks),
 *   item = catalog index of e->item_id (clicks, carts),
 *   n_shown = e->n_lines (impressions),
 *   lines = {index of lines[i].item_id, quantity * price (0 if price NaN)}
 *     for purchases, order = e->order_id ? tl_hash_str(e->order_id, 0) : 0,
 *   country = e->country, placement / device = the strings
 *   context.placement / context.device of e->body, segment = the shopper's
 *   segment label. */
struct tl_kpi_event {
    enum tl_event_type type; /* impressions, clicks, add_to_cart and purchase are attributed; every type
                                counts the shopper as a visitor of the day */
    int64_t ts_ms;
    uint64_t shopper;                /* stable hash of the shopper (0 = unknown: no visitor, no attribution) */
    uint64_t session;                /* hash of the session key (0 = unknown: session_gap_ms decides) */
    const char *source_id;           /* recommendation_id / search id / decision id */
    const char *widget;              /* overrides the widget derived from source_id */
    const char *model;               /* model that served it (default: the widget) */
    uint32_t item;                   /* clicked / carted item, TL_KPI_NO_ITEM if none */
    size_t n_shown;                  /* impression: items shown (0 counts as 1) */
    const struct tl_kpi_line *lines; /* purchase lines */
    size_t n_lines;
    uint64_t order;        /* hash of order_id (0 = none: every purchase event is an order) */
    const char *country;   /* ISO alpha-2 */
    const char *device;    /* context.device: "mobile" | "desktop" | ... */
    const char *placement; /* context.placement */
    const char *segment;   /* the shopper's segment label */
};

struct tl_kpi;

/* NULL params = defaults. NULL on out of memory. */
struct tl_kpi *tl_kpi_new(const struct tl_kpi_params *p);
void tl_kpi_free(struct tl_kpi *k);

/* Feed one event of shop. TL_EINVAL for a bad event (ts_ms < 0, shop >
 * TL_KPI_SHOP_MAX, lines without count); counters that do not fit their
 * bound are skipped and counted in `dropped` (the call still succeeds). */
enum tl_rc tl_kpi_add(struct tl_kpi *k, uint32_t shop, const struct tl_kpi_event *ev, struct tl_err *err);

/* Identity stitching: shopper `from` (an anonymous visitor) turned out to
 * be `into` (the customer) at ts_ms. Its recent impressions and clicks join
 * into's (so a click made before logging in attributes a purchase made
 * after), and on each of the TL_KPI_LINK_DAYS days up to ts_ms where both
 * were counted as visitors they count once (converted if either ordered).
 * This gives the counts a replay of the same events would give once the
 * link is known from the start. No-op for from == into or unknown from. */
#define TL_KPI_LINK_DAYS 31
void tl_kpi_link(struct tl_kpi *k, uint32_t shop, uint64_t from, uint64_t into, int64_t ts_ms);

/* Day number (days since 1970-01-01 UTC) of ts_ms. */
int64_t tl_kpi_day(int64_t ts_ms);

/* Report of shop for the UTC days from_day..to_day ("YYYY-MM-DD",
 * inclusive, at most TL_KPI_REPORT_DAYS_MAX days) by dimension ("widget",
 * "placement", "model", "segment", "country", "device"):
 * {"shop":1,"from":"2026-11-01","to":"2026-11-07","by":"widget",
 *  "rows":[{"key":"for_you","impressions":I,"clicks":C,"ctr":C/I,
 *           "add_to_carts":A,"orders":O,"revenue":R,"assisted_revenue":S,
 *           "aov":R/O}...],
 *  "days":[{"day":"2026-11-01","visitors":V,"converted":X,"orders":O,
 *           "revenue":R,"conversion_rate":X/V,"aov":R/O}...],
 *  "dropped":D}
 * rows: summed over the days, by revenue then clicks then impressions
 * descending, then key; days: every day of the range, in order (zeros when
 * nothing happened). Ratios with a zero denominator are 0. Money is
 * printed with 2 decimals, ratios with 4. */
enum tl_rc tl_kpi_report_json(struct tl_kpi *k, uint32_t shop, const char *from_day, const char *to_day,
                              const char *dimension, struct tl_buf *out, struct tl_err *err);

#endif
