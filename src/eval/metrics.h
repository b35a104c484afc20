/* Offline ranking metrics for one model over many test cases.
 *
 * For a case with target set T (|T| >= 1) and a ranked list r_1..r_n
 * (best first), at cutoff k (rank from 1):
 *   HR@k      1 if some r_i (i <= k) is in T, else 0
 *   MRR@k     1 / (rank of the first r_i in T) if that rank <= k, else 0
 *   NDCG@k    DCG / IDCG with binary gain: DCG = sum_{i<=k, r_i in T}
 *             1/log2(i+1); IDCG = sum_{i=1}^{min(|T|,k)} 1/log2(i+1)
 *   Recall@k  |{r_i in T : i <= k}| / |T|
 * Each is averaged over cases. Over the whole run, per k:
 *   coverage@k    distinct items in any top-k list / n_items
 *   popularity@k  mean over all recommended items (top k of every case) of
 *                 pop(item) / n_users, pop = distinct training users of the
 *                 item: how mainstream the recommendations are.
 * Accumulators are per thread; tl_evm_merge adds them (sums of doubles in a
 * fixed thread order, so results are deterministic for a thread count). */
#ifndef TL_EVAL_METRICS_H
#define TL_EVAL_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "tailor/rc.h"

#define TL_EVM_KS_MAX 8 /* cutoffs per run */

struct tl_evm {
    size_t n_ks;
    size_t ks[TL_EVM_KS_MAX];
    uint32_t n_items;
    uint64_t cases;
    double hr[TL_EVM_KS_MAX], mrr[TL_EVM_KS_MAX], ndcg[TL_EVM_KS_MAX], recall[TL_EVM_KS_MAX];
    double pop_sum[TL_EVM_KS_MAX];
    uint64_t pop_n[TL_EVM_KS_MAX];
    uint8_t *seen[TL_EVM_KS_MAX]; /* n_items flags: recommended in some top-k */
};

/* ks ascending, 1..n, at most TL_EVM_KS_MAX. TL_ENOMEM / TL_EINVAL. */
enum tl_rc tl_evm_init(struct tl_evm *m, const size_t *ks, size_t n_ks, uint32_t n_items);
void tl_evm_free(struct tl_evm *m);
/* One case: list of n items best first, sorted target set (targets
 * ascending, distinct), pop[] distinct training users per item (may be NULL:
 * popularity not tracked), n_users for its normalisation. */
void tl_evm_add(struct tl_evm *m, const uint32_t *list, size_t n, const uint32_t *targets, size_t n_targets,
                const uint32_t *pop, uint32_t n_users);
/* dst += src (same ks and n_items). */
void tl_evm_merge(struct tl_evm *dst, const struct tl_evm *src);
/* Averages; coverage counts seen flags. idx is the index into ks. */
double tl_evm_hr(const struct tl_evm *m, size_t idx);
double tl_evm_mrr(const struct tl_evm *m, size_t idx);
double tl_evm_ndcg(const struct tl_evm *m, size_t idx);
double tl_evm_recall(const struct tl_evm *m, size_t idx);
double tl_evm_coverage(const struct tl_evm *m, size_t idx);
double tl_evm_popularity(const struct tl_evm *m, size_t idx);

#endif
