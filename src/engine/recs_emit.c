/* The last step of every GET /v1/recommendations answer (see recs.h):
 *
 *   1. merchandising boost / bury: score *= product of the factors of the
 *      matching rules (src/decide/merch.h); the reason gains "rule": N (the
 *      rule's index in merch_rules). Negative scores are divided instead,
 *      so a boost always moves an item up.
 *   1b. feedback: an item shown to this shopper n > demote_after times
 *      without a click (within feedback_window_days) is demoted:
 *      score *= demote_factor ^ (n - demote_after); the reason gains
 *      "demoted": n (engine/feedback.h);
 *   2. if any score changed, a stable re-sort by score (best first);
 *   3. pins: an item pinned for this type takes its 1-based position when
 *      it passes the serving rules and the request's filters (it is removed
 *      from the candidates if it was among them);
 *   4. the diversity caps and the limit, then the items' JSON.
 * Candidates that are no longer servable (changed since the model looked)
 * are dropped here too. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/timeutil.h"
#include "engine/recs.h"

struct order_key {
    double score;
    size_t pos;
};

static int by_score(const void *a, const void *b)
{
    const struct tl_recs_cand *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return 0;
}

/* Append ,"name":N before the closing brace of a reason object. */
static void reason_add(char *reason, const char *name, int v)
{
    size_t n = strlen(reason);
    if (n < 2 || reason[n - 1] != '}') return;
    char tail[48];
    snprintf(tail, sizeof tail, ",\"%s\":%d}", name, v);
    if (n - 1 + strlen(tail) < RECS_REASON_MAX) snprintf(reason + n - 1, RECS_REASON_MAX - (n - 1), "%s", tail);
}

#define PINS_MAX 16

enum tl_rc tl_recs_emit(struct tl_engine *e, struct tl_shop_state *s, const struct tl_rec_query *q, struct skip_ctx *sc,
                        struct tl_recs_cand *c, size_t n, struct tl_buf *out)
{
    const struct tl_merch *m = sc->merch;
    int64_t now = tl_now_ms();
    /* pins first: tl_recs_skip takes the catalog lock itself */
    struct {
        uint32_t idx;
        int position;
        int rule;
    } pins[PINS_MAX];
    size_t np = 0;
    for (size_t i = 0; m && i < m->n && np < PINS_MAX; i++) {
        const struct tl_merch_rule *r = &m->r[i];
        if (r->action != TL_MERCH_PIN || !(r->types & sc->type_bit)) continue;
        uint32_t idx = tl_catalog_find(s->cat, r->item);
        if (idx == TL_CAT_NONE || tl_recs_skip(sc, idx)) continue;
        pins[np].idx = idx;
        pins[np].position = r->position;
        pins[np].rule = r->index;
        np++;
    }
    tl_catalog_rdlock(s->cat);
    int changed = 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const struct tl_item *it = tl_catalog_get(s->cat, c[i].idx);
        if (!tl_catalog_servable(it)) continue;
        int pinned = 0;
        for (size_t p = 0; p < np; p++) pinned |= pins[p].idx == c[i].idx;
        if (pinned) continue;
        int rule = -1;
        double f = m && m->n ? tl_merch_factor(m, sc->type_bit, it, &rule) : 1.0;
        if (f != 1.0) {
            c[i].score = c[i].score >= 0 ? c[i].score * f : c[i].score / (f > 0 ? f : 1e-9);
            reason_add(c[i].reason, "rule", rule);
            changed = 1;
        }
        uint32_t shown = sc->fb_user ? tl_feedback_unclicked(e->fb, sc->fb_user, c[i].idx, now) : 0;
        if (shown > (uint32_t)e->cfg.demote_after) {
            double d = pow(e->cfg.demote_factor, (double)(shown - (uint32_t)e->cfg.demote_after));
            c[i].score = c[i].score >= 0 ? c[i].score * d : c[i].score / (d > 0 ? d : 1e-9);
            reason_add(c[i].reason, "demoted", (int)shown);
            changed = 1;
        }
        if (k != i) c[k] = c[i];
        k++;
    }
    n = k;
    if (changed) {
        /* qsort is not stable: sort (score, original position) pairs */
        struct tl_recs_cand *tmp = tl_malloc((n ? n : 1) * sizeof *tmp);
        struct order_key *key = tl_malloc((n ? n : 1) * sizeof *key);
        if (tmp && key) {
            for (size_t i = 0; i < n; i++) key[i] = (struct order_key){c[i].score, i};
            /* insertion by score keeps equal scores in their original order */
            for (size_t i = 1; i < n; i++) {
                struct order_key x = key[i];
                size_t j = i;
                while (j > 0 && key[j - 1].score < x.score) {
                    key[j] = key[j - 1];
                    j--;
                }
                key[j] = x;
            }
            for (size_t i = 0; i < n; i++) tmp[i] = c[key[i].pos];
            memcpy(c, tmp, n * sizeof *c);
        } else {
            qsort(c, n, sizeof *c, by_score);
        }
        tl_free(tmp);
        tl_free(key);
    }
    tl_buf_puts(out, ",\"items\":[");
    size_t shown = 0, ci = 0;
    int pin_used[PINS_MAX] = {0};
    while (shown < (size_t)q->limit) {
        const struct tl_item *it = NULL;
        double score = 0;
        const char *reason = NULL;
        char pin_reason[64];
        for (size_t p = 0; p < np; p++) {
            if (pin_used[p] || (size_t)pins[p].position > shown + 1) continue;
            pin_used[p] = 1;
            it = tl_catalog_get(s->cat, pins[p].idx);
            snprintf(pin_reason, sizeof pin_reason, "{\"model\":\"rule\",\"action\":\"pin\",\"rule\":%d}",
                     pins[p].rule);
            reason = pin_reason;
            if (it && tl_catalog_servable(it)) break;
            it = NULL;
        }
        while (!it && ci < n) {
            const struct tl_item *cand = tl_catalog_get(s->cat, c[ci].idx);
            if (tl_catalog_servable(cand) && tl_recs_admit(&sc->div, cand)) {
                it = cand;
                score = c[ci].score;
                reason = c[ci].reason;
            }
            ci++;
        }
        if (!it) {
            /* candidates exhausted: remaining pins whose position is beyond the list */
            int any = 0;
            for (size_t p = 0; p < np && !any; p++)
                if (!pin_used[p]) {
                    pin_used[p] = 1;
                    it = tl_catalog_get(s->cat, pins[p].idx);
                    snprintf(pin_reason, sizeof pin_reason, "{\"model\":\"rule\",\"action\":\"pin\",\"rule\":%d}",
                             pins[p].rule);
                    reason = pin_reason;
                    any = it && tl_catalog_servable(it);
                }
            if (!any) break;
        }
        tl_recs_item_json(out, it, score, reason, shown == 0);
        shown++;
    }
    tl_catalog_unlock(s->cat);
    tl_buf_puts(out, "]}");
    return out->data ? TL_OK : TL_ENOMEM;
}
