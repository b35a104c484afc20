/* NDJSON event import (engine/import_events.c). Runs inside a writer job:
 * `ops`/`st` are the writer's store handle inside the import transaction. */
#ifndef TL_ENGINE_IMPORT_EVENTS_H
#define TL_ENGINE_IMPORT_EVENTS_H

#include "engine/internal.h"

struct tl_import_events {
    /* in */
    struct tl_engine *engine;
    const struct tl_store_ops *ops;
    struct tl_store *st;
    uint32_t shop_id;
    const char *path;
    int skip_bad;
    void (*progress)(void *ctx, uint64_t bytes_done, uint64_t bytes_total, uint64_t records);
    void *progress_ctx;
    uint64_t token; /* dedupe token of the import (tl_engine_dedupe_token) */
    /* out */
    uint64_t lines, records, duplicates, skipped;
    int64_t last_seq;
    char skipped_detail[1024];
};

/* Import every line; TL_OK or the first error (err: line, column, field). */
enum tl_rc tl_import_events_run(struct tl_import_events *j, struct tl_err *err);

#endif
