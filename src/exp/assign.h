/* Deterministic experiment assignment: which arm of an experiment a unit
 * (visitor, customer) sees, with targeting, schedule and mutually exclusive
 * layers. Pure: no allocation, no I/O, no clock (the caller passes now_ms).
 *
 * Hashing (xxHash's XXH64 from xxhash.h / libxxhash, seed 0, over the bytes
 * without a terminating NUL):
 *   arm bucket   = XXH64(salt ":" unit_id) mod 10000
 *   layer bucket = XXH64(layer ":" unit_id) mod 10000
 * Arm i owns arm buckets [round(10000 * S_i), round(10000 * S_{i+1})) where
 * S_i is the sum of the shares of arms before i; buckets from
 * round(10000 * S_k) up are not in the experiment. An experiment in a layer
 * owns layer buckets [layer_start, layer_end); experiments sharing a layer
 * must own disjoint ranges (tl_assign_validate_set), so a unit is in at most
 * one of them. Experiments in different layers (or in none) use independent
 * hashes and overlap freely.
 *
 * Stickiness is the engine's job: it must pass the same unit_id for the same
 * person on every request -- the stitched customer id once the shopper is
 * identified and the anonymous visitor id before, and it must keep using
 * the id a unit was first assigned under for the life of the experiment
 * (e.g. keep the visitor id after login, or record the exposure) because the
 * hash of a different id is a different, independent draw. Changing salt,
 * layer, ranges or shares of a running experiment reshuffles units. */
#ifndef TL_EXP_ASSIGN_H
#define TL_EXP_ASSIGN_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define TL_ASSIGN_BUCKETS 10000
#define TL_ASSIGN_ARMS_MAX 16
#define TL_ASSIGN_ID_MAX 128     /* experiment id, salt, layer, arm name: bytes */
#define TL_ASSIGN_UNIT_MAX 256   /* unit_id bytes; longer ids are never assigned */
#define TL_ASSIGN_TARGETS_MAX 64 /* page types, countries */
#define TL_ASSIGN_PAGE_TYPE_MAX 64

enum tl_assign_status { TL_ASSIGN_DRAFT, TL_ASSIGN_RUNNING, TL_ASSIGN_STOPPED };
enum tl_assign_audience { TL_ASSIGN_ALL, TL_ASSIGN_NEW_ONLY, TL_ASSIGN_RETURNING_ONLY };

struct tl_assign_arm_def {
    const char *name; /* unique within the experiment, 1..TL_ASSIGN_ID_MAX bytes */
    double share;     /* fraction of all units, (0, 1]; resolution 1/10000 */
};

/* All strings are borrowed: the caller keeps them alive while the struct is used. */
struct tl_assign_exp {
    const char *id;                  /* 1..TL_ASSIGN_ID_MAX bytes */
    const char *salt;                /* 1..TL_ASSIGN_ID_MAX bytes; distinct per experiment, != layer */
    const char *layer;               /* NULL or "" = no layer (always eligible on the layer side) */
    uint32_t layer_start, layer_end; /* layer buckets [start, end), 0 <= start < end <= 10000; ignored without layer */
    const struct tl_assign_arm_def *arms;
    size_t n_arms;                 /* 2..TL_ASSIGN_ARMS_MAX; shares sum <= 1 */
    const char *const *page_types; /* exact, case-sensitive; n_page_types = 0: all */
    size_t n_page_types;
    const char *const *countries; /* ISO 3166-1 alpha-2, case-insensitive; 0: all */
    size_t n_countries;
    enum tl_assign_audience audience;
    enum tl_assign_status status;
    int64_t start_ms; /* 0 = no start bound; running when start_ms <= now */
    int64_t stop_ms;  /* 0 = no stop bound; running while now < stop_ms */
};

struct tl_assign_ctx {
    const char *page_type; /* NULL = unknown: fails a page-type restriction */
    const char *country;   /* NULL = unknown: fails a country restriction */
    int is_new;            /* 1 new visitor, 0 returning, -1 unknown: fails a new/returning restriction */
};

/* Why tl_assign_arm returned -1 (or TL_ASSIGN_IN when it returned an arm). */
enum tl_assign_why {
    TL_ASSIGN_IN,
    TL_ASSIGN_NOT_RUNNING, /* status, start or stop */
    TL_ASSIGN_NOT_TARGETED,
    TL_ASSIGN_OTHER_LAYER_SLICE, /* layer bucket outside [layer_start, layer_end) */
    TL_ASSIGN_HOLDOUT,           /* arm bucket beyond the sum of shares */
    TL_ASSIGN_BAD_UNIT           /* unit_id NULL, empty or longer than TL_ASSIGN_UNIT_MAX */
};

/* Check one definition. On error err->field names the field, e.g. "salt",
 * "arms[1].name", "arms[0].share", "countries[2]", "layer_end". */
enum tl_rc tl_assign_validate(const struct tl_assign_exp *exp, struct tl_err *err);
/* Check each definition, unique ids, unique salts, and disjoint layer ranges
 * among experiments sharing a layer. field is "experiments[i]..." */
enum tl_rc tl_assign_validate_set(const struct tl_assign_exp *exps, size_t n, struct tl_err *err);

/* Arm bucket and layer bucket of a unit (see top); UINT32_MAX for a bad unit_id. */
uint32_t tl_assign_bucket(const char *salt, const char *unit_id);

/* The arm index unit_id gets in exp at now_ms, or -1 (not running, not
 * targeted, outside the experiment's layer slice or traffic, bad unit id).
 * exp must have passed tl_assign_validate. why may be NULL. */
int tl_assign_arm(const struct tl_assign_exp *exp, const char *unit_id, const struct tl_assign_ctx *ctx, int64_t now_ms,
                  enum tl_assign_why *why);

#endif
