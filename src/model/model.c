/* The model registry and helpers shared by model implementations (model.h).
 *
 * Snapshot byte order is little-endian; the helpers write fixed-width values
 * so a snapshot is portable between machines of either byte order. */
#include "model/model.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

/* Every trained model, in the order `tailor eval` lists them. */
#include "model/baselines.h"
#include "model/blend.h"
#include "model/sknn.h"
#include "model/arules.h"
#include "model/sessrules.h"
#include "model/content.h"
#include "model/cooc.h"
#include "model/ease.h"
#include "model/ials.h"
#include "model/sasrec.h"

static const struct tl_model_ops *const registry[] = {
    &tl_pop_ops,     &tl_trend_ops,
    &tl_itemknn_ops, &tl_ease_ops,
    &tl_ials_ops,    &tl_blend_ops,
    &tl_sknn_ops,    &tl_sessar_ops,
    &tl_sessseq_ops, &tl_arules_ops,
    &tl_content_ops, &tl_sasrec_ops,
    &tl_cooc_ops,    NULL /* sentinel */
};

/* OpenBLAS (pthreads build) starts its workers when the library is loaded;
 * each then spins on sched_yield for 2^28 cycles (about 0.1 s) before it
 * sleeps, taking that CPU from whatever the process does first (2-2.6% of
 * the samples of a 1,000,000-event import on two cores). The library's
 * own fork handler stops them with blas_thread_shutdown_ and the next
 * parallel BLAS call starts them again (blas_server.c: exec_blas calls
 * blas_thread_init when no server is up), so stopping them here costs
 * training nothing but a thread start. Declared weak: a BLAS without it
 * keeps its threads. */
extern int blas_thread_shutdown_(void) __attribute__((weak));

/* Once per process, at the first call: later calls may run while a trainer
 * of another handle is inside a BLAS call, which a shutdown must not meet. */
static void blas_stop_spinning(void)
{
    if (blas_thread_shutdown_) blas_thread_shutdown_();
}

void tl_model_blas_serial(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    openblas_set_num_threads(1);
    pthread_once(&once, blas_stop_spinning);
}

int tl_model_name_in_list(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; p && *p;) {
        while (*p == ' ' || *p == ',') p++;
        const char *q = p;
        while (*q && *q != ',') q++;
        const char *e = q;
        while (e > p && e[-1] == ' ') e--;
        if ((size_t)(e - p) == n && strncmp(p, name, n) == 0) return 1;
        p = q;
    }
    return 0;
}

const struct tl_model_ops *tl_model_at(size_t i)
{
    if (i >= sizeof registry / sizeof registry[0]) return NULL;
    return registry[i];
}

const struct tl_model_ops *tl_model_find(const char *name)
{
    if (!name) return NULL;
    for (size_t i = 0; registry[i]; i++)
        if (strcmp(registry[i]->name, name) == 0) return registry[i];
    return NULL;
}

enum tl_rc tl_model_param_double(const char *key, const char *value, double lo, double hi, double *out,
                                 struct tl_err *err)
{
    char *end = NULL;
    errno = 0;
    double v = value ? strtod(value, &end) : 0.0;
    if (!value || end == value || *end != '\0' || errno || !isfinite(v) || v < lo || v > hi)
        return tl_err_set(err, TL_EINVAL, key, "%s must be a number from %g to %g", key, lo, hi);
    *out = v;
    return TL_OK;
}

enum tl_rc tl_model_param_long(const char *key, const char *value, long lo, long hi, long *out, struct tl_err *err)
{
    char *end = NULL;
    errno = 0;
    long v = value ? strtol(value, &end, 10) : 0;
    if (!value || end == value || *end != '\0' || errno || v < lo || v > hi)
        return tl_err_set(err, TL_EINVAL, key, "%s must be an integer from %ld to %ld", key, lo, hi);
    *out = v;
    return TL_OK;
}

enum tl_rc tl_snap_put_u32(struct tl_buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    return tl_buf_append(b, x, 4);
}

enum tl_rc tl_snap_put_u64(struct tl_buf *b, uint64_t v)
{
    enum tl_rc rc = tl_snap_put_u32(b, (uint32_t)v);
    return rc ? rc : tl_snap_put_u32(b, (uint32_t)(v >> 32));
}

enum tl_rc tl_snap_put_u32s(struct tl_buf *b, const uint32_t *v, size_t n)
{
    enum tl_rc rc = tl_buf_reserve(b, n * 4);
    for (size_t i = 0; rc == TL_OK && i < n; i++) rc = tl_snap_put_u32(b, v[i]);
    return rc;
}

enum tl_rc tl_snap_put_f32s(struct tl_buf *b, const float *v, size_t n)
{
    enum tl_rc rc = tl_buf_reserve(b, n * 4);
    for (size_t i = 0; rc == TL_OK && i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        rc = tl_snap_put_u32(b, u);
    }
    return rc;
}

uint32_t tl_snap_get_u32(struct tl_snap_reader *r)
{
    if (r->bad || r->len - r->off < 4) {
        r->bad = 1;
        return 0;
    }
    const uint8_t *p = r->p + r->off;
    r->off += 4;
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint64_t tl_snap_get_u64(struct tl_snap_reader *r)
{
    uint64_t lo = tl_snap_get_u32(r);
    uint64_t hi = tl_snap_get_u32(r);
    return r->bad ? 0 : lo | hi << 32;
}

void tl_snap_get_u32s(struct tl_snap_reader *r, uint32_t *dst, size_t n)
{
    if (r->bad || n > (r->len - r->off) / 4) {
        r->bad = 1;
        return;
    }
    for (size_t i = 0; i < n; i++) dst[i] = tl_snap_get_u32(r);
}

void tl_snap_get_f32s(struct tl_snap_reader *r, float *dst, size_t n)
{
    if (r->bad || n > (r->len - r->off) / 4) {
        r->bad = 1;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t u = tl_snap_get_u32(r);
        memcpy(&dst[i], &u, 4);
    }
}
