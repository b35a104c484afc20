/* Merchandising rules: the shop's own say over what recommendations show.
 *
 * Configured as a JSON array (config key merch_rules), each rule:
 *   {"action": "pin" | "boost" | "bury" | "exclude",
 *    one matcher: "item": "ID" | "category": "Path" (that category or
 *                 below it) | "tag": "t" | "brand": "B" (case-insensitive),
 *    "types": ["for_you", ...]   optional; default every type,
 *    "factor": 2.0               boost (> 1, default 2) / bury (0..1,
 *                                default 0.1): the item's score is
 *                                multiplied by it,
 *    "position": 1               pin only: 1-based slot (default 1); pin
 *                                needs "item"}
 * exclude removes matching items from every answer of the listed types;
 * boost / bury multiply the scores of matching candidates (several
 * matching rules multiply) before the final ordering; pin puts the item at
 * its position whenever it may be shown (serving rules and request filters
 * still apply: an out-of-stock pinned item is not shown).
 * The parsed rule set is immutable and safe to read from many threads. */
#ifndef TL_DECIDE_MERCH_H
#define TL_DECIDE_MERCH_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "store/types.h"

#define TL_MERCH_RULES_MAX 1000

enum tl_merch_action { TL_MERCH_PIN = 0, TL_MERCH_BOOST, TL_MERCH_BURY, TL_MERCH_EXCLUDE };

struct tl_merch_rule {
    enum tl_merch_action action;
    char *item, *category, *tag, *brand; /* exactly one is set */
    double factor;
    int position;   /* pin: 1-based */
    uint32_t types; /* bit mask of tl_merch_type_bit(); all ones = every type */
    int index;      /* position in the configured array (for reasons) */
};

struct tl_merch {
    struct tl_merch_rule *r;
    size_t n;
};

/* Parse and validate a JSON array text (NULL or "" = no rules). Errors name
 * the rule index and field: "merch_rules[2].factor". */
enum tl_rc tl_merch_parse(const char *json, struct tl_merch **out, struct tl_err *err);
void tl_merch_free(struct tl_merch *m);

/* Bit of a recommendation type ("for_you" ...), 0 for unknown types. */
uint32_t tl_merch_type_bit(const char *type);

/* Does rule r match item it? */
int tl_merch_match(const struct tl_merch_rule *r, const struct tl_item *it);
/* For item it served as type_bit: 1 if an exclude rule matches. */
int tl_merch_excluded(const struct tl_merch *m, uint32_t type_bit, const struct tl_item *it);
/* Product of the factors of matching boost/bury rules (1 if none); *rule
 * (may be NULL) receives the index of the first matching one or -1. */
double tl_merch_factor(const struct tl_merch *m, uint32_t type_bit, const struct tl_item *it, int *rule);

#endif
