/* Shopper feedback on recommendations (engine/feedback.c):
 *
 *  - demotion: how often each shopper was shown each item in a
 *    recommendation without clicking it;
 *  - attribution: clicks on recommended items, and purchases of clicked
 *    items within attribution_window_h, credited to the recommendation type
 *    that the click's recommendation_id names;
 *  - per shop and type counters: answers served, items shown
 *    (impressions), clicks, attributed order lines and revenue.
 *
 * Recommendation ids carry their type: "r_<code>_<16 hex>" with the codes
 * of tl_feedback_type_code(), so a click is attributed after a restart too.
 * The maps are in memory only and rebuilt at start from the stored events
 * (the events are the record); each holds at most feedback_max entries
 * (new entries beyond are not tracked and counted in `dropped`). */
#ifndef TL_ENGINE_FEEDBACK_H
#define TL_ENGINE_FEEDBACK_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define TL_FB_TYPES 10 /* the recommendation types, in tl_merch_type_bit order */

struct tl_feedback;

struct tl_feedback_params {
    size_t max_entries;     /* per map */
    int64_t window_ms;      /* impressions older than this are forgotten */
    int64_t attribution_ms; /* click -> purchase window */
};

struct tl_feedback *tl_feedback_new(const struct tl_feedback_params *p);
void tl_feedback_free(struct tl_feedback *f);

/* Type index (0..TL_FB_TYPES-1) of a type name or of a recommendation id;
 * -1 if unknown. */
int tl_feedback_type_index(const char *type);
int tl_feedback_type_of_rid(const char *rid);
/* Two-letter code of a type index ("fy" for for_you ...). */
const char *tl_feedback_type_code(int type);
const char *tl_feedback_type_name(int type);

/* Key of a shopper (shop + profile key), used by every call below. */
uint64_t tl_feedback_user(uint32_t shop_id, const char *user_key);

/* Events (ts in ms). Items are catalog indexes. */
void tl_feedback_shown(struct tl_feedback *f, uint32_t shop_id, uint64_t user, int type, const uint32_t *items,
                       size_t n, int64_t ts);
void tl_feedback_clicked(struct tl_feedback *f, uint32_t shop_id, uint64_t user, int type, uint32_t item, int64_t ts);
/* A purchased line: attributed to the type of the shopper's last click on
 * the item if within the window (once). Returns 1 when the shopper had a
 * click on the item (now used up, attributed or too old), else 0. */
int tl_feedback_purchased(struct tl_feedback *f, uint32_t shop_id, uint64_t user, uint32_t item, double revenue,
                          int64_t ts);
void tl_feedback_served(struct tl_feedback *f, uint32_t shop_id, int type);

/* Impressions of item to user since their last click on it, within the
 * window ending at now_ms (0 if none). */
uint32_t tl_feedback_unclicked(struct tl_feedback *f, uint64_t user, uint32_t item, int64_t now_ms);

/* {"for_you":{"served":..,"impressions":..,"clicks":..,"ctr":..,
 *  "attributed_lines":..,"attributed_revenue":..},...} for one shop. */
void tl_feedback_stats_json(struct tl_feedback *f, uint32_t shop_id, struct tl_buf *out);

#endif
