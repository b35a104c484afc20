/* The public handle behind include/tailor/tailor.h. Shared with
 * src/http/serve.c, which implements tailor_serve(). */
#ifndef TL_ENGINE_FACADE_H
#define TL_ENGINE_FACADE_H

#include "engine/config.h"
#include "engine/engine.h"
#include "tailor/tailor.h"

struct tailor {
    struct tl_config cfg;
    struct tl_engine *engine;
    int discard;             /* a failed import left in-memory state the store does not have */
    int64_t import_shift_ms; /* added to every imported order's time (tailor_import_set_time_shift) */
};

/* The engine of a public handle. */
struct tl_engine *tl_facade_engine(struct tailor *t);

#endif
