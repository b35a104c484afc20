/* Ranking metrics (formulas in metrics.h). */
#include "eval/metrics.h"

#include <math.h>
#include <string.h>

#include "core/alloc.h"

enum tl_rc tl_evm_init(struct tl_evm *m, const size_t *ks, size_t n_ks, uint32_t n_items)
{
    memset(m, 0, sizeof *m);
    if (n_ks == 0 || n_ks > TL_EVM_KS_MAX) return TL_EINVAL;
    for (size_t i = 0; i < n_ks; i++) {
        if (ks[i] == 0 || (i && ks[i] <= ks[i - 1])) return TL_EINVAL;
        m->ks[i] = ks[i];
    }
    m->n_ks = n_ks;
    m->n_items = n_items;
    for (size_t i = 0; i < n_ks; i++) {
        m->seen[i] = tl_calloc((size_t)n_items + 1, 1);
        if (!m->seen[i]) {
            tl_evm_free(m);
            return TL_ENOMEM;
        }
    }
    return TL_OK;
}

void tl_evm_free(struct tl_evm *m)
{
    for (size_t i = 0; i < TL_EVM_KS_MAX; i++) {
        tl_free(m->seen[i]);
        m->seen[i] = NULL;
    }
}

static int is_target(const uint32_t *t, size_t n, uint32_t x)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t[mid] == x) return 1;
        if (t[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

void tl_evm_add(struct tl_evm *m, const uint32_t *list, size_t n, const uint32_t *targets, size_t n_targets,
                const uint32_t *pop, uint32_t n_users)
{
    m->cases++;
    for (size_t ki = 0; ki < m->n_ks; ki++) {
        size_t k = m->ks[ki];
        size_t lim = n < k ? n : k;
        double dcg = 0, idcg = 0;
        size_t hits = 0, first = 0;
        for (size_t i = 0; i < lim; i++) {
            uint32_t it = list[i];
            if (it < m->n_items) {
                m->seen[ki][it] = 1;
                if (pop && n_users) {
                    m->pop_sum[ki] += (double)pop[it] / n_users;
                    m->pop_n[ki]++;
                }
            }
            if (is_target(targets, n_targets, it)) {
                hits++;
                if (!first) first = i + 1;
                dcg += 1.0 / log2((double)i + 2.0);
            }
        }
        size_t ideal = n_targets < k ? n_targets : k;
        for (size_t i = 0; i < ideal; i++) idcg += 1.0 / log2((double)i + 2.0);
        if (hits) {
            m->hr[ki] += 1.0;
            m->mrr[ki] += 1.0 / (double)first;
            m->ndcg[ki] += dcg / idcg;
            m->recall[ki] += (double)hits / (double)n_targets;
        }
    }
}

void tl_evm_merge(struct tl_evm *dst, const struct tl_evm *src)
{
    dst->cases += src->cases;
    for (size_t ki = 0; ki < dst->n_ks; ki++) {
        dst->hr[ki] += src->hr[ki];
        dst->mrr[ki] += src->mrr[ki];
        dst->ndcg[ki] += src->ndcg[ki];
        dst->recall[ki] += src->recall[ki];
        dst->pop_sum[ki] += src->pop_sum[ki];
        dst->pop_n[ki] += src->pop_n[ki];
        for (uint32_t i = 0; i < dst->n_items; i++) dst->seen[ki][i] |= src->seen[ki][i];
    }
}

static double avg(const struct tl_evm *m, double s) { return m->cases ? s / (double)m->cases : 0.0; }

double tl_evm_hr(const struct tl_evm *m, size_t i) { return avg(m, m->hr[i]); }
double tl_evm_mrr(const struct tl_evm *m, size_t i) { return avg(m, m->mrr[i]); }
double tl_evm_ndcg(const struct tl_evm *m, size_t i) { return avg(m, m->ndcg[i]); }
double tl_evm_recall(const struct tl_evm *m, size_t i) { return avg(m, m->recall[i]); }

double tl_evm_coverage(const struct tl_evm *m, size_t i)
{
    if (!m->n_items) return 0.0;
    size_t c = 0;
    for (uint32_t x = 0; x < m->n_items; x++) c += m->seen[i][x];
    return (double)c / m->n_items;
}

double tl_evm_popularity(const struct tl_evm *m, size_t i)
{
    return m->pop_n[i] ? m->pop_sum[i] / (double)m->pop_n[i] : 0.0;
}
