/* Configuration of a Tailor server: defaults, then the JSON config file
 * (--config FILE), then command-line flags. Every field is documented in
 * docs/configuration.md. */
#ifndef TL_ENGINE_CONFIG_H
#define TL_ENGINE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct tl_config {
    char db_path[512];              /* "tailor.db" */
    char bind[64];                  /* "127.0.0.1" */
    int port;                       /* 8080 */
    int http_threads;               /* 0 = number of CPUs */
    size_t max_body_bytes;          /* 32 MiB: POST /v1/events of 10,000 events */
    int request_timeout_s;          /* 30: idle connection timeout */
    int max_connections;            /* 1024 */
    size_t writer_queue_max;        /* 200,000 events waiting for commit before 503 */
    int sync_full;                  /* 1: fsync every group commit; 0: OS buffers */
    size_t profiles_max;            /* 100,000 profiles in memory (LRU beyond) */
    size_t import_profiles_max;     /* 1,000,000: the cap while `tailor import` runs (at least profiles_max) */
    double affinity_half_life_days; /* 14: category/brand affinity decay */
    int session_timeout_min;        /* 30 */
    int64_t checkpoint_interval_ms; /* 5,000: profile flush period */
    double popular_half_life_days;  /* 30: popularity decay */
    double trending_short_days;     /* 3: trending "recent" half-life */
    double trending_long_days;      /* 28: trending baseline half-life */
    double trending_country_min;    /* 30: decayed events a country needs */
    char cors_origin[256];          /* "*" */
    char web_root[512];             /* "web": static files (tailor.js, demo) */
    char demo_key[160];             /* "": public key served to the demo storefront (/demo/config.js) */
    char cooc_similarity[16];       /* "cond": bought together scoring: cosine, jaccard, lift, cond */
    int cooc_min_support;           /* 2: orders a pair needs before it is recommended */
    char rebuy_categories[512];     /* "": categories (comma-separated paths) whose items may be
                                     * recommended again after a purchase (consumables) */
    int train_interval_s;           /* 3600: retrain shops with new data this often (0 = on request only) */
    int train_threads;              /* 1: threads one training run uses */
    int segments_k;                 /* 0: micro-segments per shop, chosen 4..10 by silhouette; 2..24 fixed; -1 off */
    char train_models[256];         /* "ials,itemknn,content,sknn,arules": models trained per shop */
    char model_params[1024];        /* "": overrides "model.key=value,..." (docs/recommendations.md) */
    char for_you_blend[256];        /* sources and weights of for_you */
    char similar_blend[256];        /* sources and weights of similar */
    char cart_blend[256];           /* sources and weights of cart once rules are trained */
    double weight_view;             /* 1: training weight of a product view */
    double weight_cart;             /* 4: of an add to cart */
    double weight_purchase;         /* 10: of a purchased order line */
    int demote_after;               /* 3: impressions without a click before an item is demoted */
    double demote_factor;           /* 0.5: score factor per impression beyond demote_after */
    double feedback_window_days;    /* 14: impressions older than this are forgotten */
    double attribution_window_h;    /* 24: a purchase this soon after a click is attributed */
    size_t feedback_max;            /* 2,000,000: (shopper, item) pairs tracked per map */
    char search_language[32];       /* "english": Snowball stemmer of the search index */
    char search_synonyms[8192];     /* "": "tv,television;sofa,couch;laptop=>notebook" */
    char search_stop_words[2048];   /* "": the language's built-in list; "none": no stop words; else a list */
    double search_personalization;  /* 0.3: weight of the shopper's affinities in search ranking (0 = off) */
    double search_learning;         /* 0.5: weight of what shoppers chose for the same query (0 = off) */
    char merch_rules[16384];        /* "": merchandising rules, a JSON array (src/decide/merch.h) */
    int admin_only;                 /* not from the file: see tailor_options.admin_only */
};

/* 1 if spec is a valid blend ("source:weight,...", weights 0..1000). */
int tl_config_blend_ok(const char *spec);
/* Fill defaults. */
void tl_config_defaults(struct tl_config *c);
/* Overlay a JSON config file; unknown keys and wrong types are errors that
 * name the key. */
enum tl_rc tl_config_load(struct tl_config *c, const char *path, struct tl_err *err);

#endif
