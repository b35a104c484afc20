/* Tests for src/eval/metrics.c: every metric on hand-computed cases. */
#include <criterion/criterion.h>
#include <math.h>

#include "eval/metrics.h"

Test(metrics, hand_computed)
{
    struct tl_evm m;
    size_t ks[] = {1, 3};
    cr_assert_eq(tl_evm_init(&m, ks, 2, 10), TL_OK);
    uint32_t pop[10] = {10, 5, 5, 0, 0, 0, 0, 0, 0, 20};
    /* case 1: targets {2, 7}; list 9 2 7 -> hits at ranks 2 and 3 */
    uint32_t l1[] = {9, 2, 7}, t1[] = {2, 7};
    tl_evm_add(&m, l1, 3, t1, 2, pop, 20);
    /* case 2: target {4}; list 4 0 1 -> hit at rank 1 */
    uint32_t l2[] = {4, 0, 1}, t2[] = {4};
    tl_evm_add(&m, l2, 3, t2, 1, pop, 20);
    /* case 3: miss, short list */
    uint32_t l3[] = {0}, t3[] = {5};
    tl_evm_add(&m, l3, 1, t3, 1, pop, 20);
    cr_assert_eq(m.cases, 3);
    /* @1: only case 2 hits */
    cr_assert_float_eq(tl_evm_hr(&m, 0), 1.0 / 3, 1e-12);
    cr_assert_float_eq(tl_evm_mrr(&m, 0), 1.0 / 3, 1e-12);
    cr_assert_float_eq(tl_evm_ndcg(&m, 0), 1.0 / 3, 1e-12);
    cr_assert_float_eq(tl_evm_recall(&m, 0), 1.0 / 3, 1e-12);
    /* @3: case1 HR 1, MRR 1/2, NDCG (1/log2 3 + 1/log2 4)/(1 + 1/log2 3), recall 1 */
    double nd1 = (1 / log2(3.0) + 1 / log2(4.0)) / (1 + 1 / log2(3.0));
    cr_assert_float_eq(tl_evm_hr(&m, 1), 2.0 / 3, 1e-12);
    cr_assert_float_eq(tl_evm_mrr(&m, 1), (0.5 + 1) / 3, 1e-12);
    cr_assert_float_eq(tl_evm_ndcg(&m, 1), (nd1 + 1) / 3, 1e-12);
    cr_assert_float_eq(tl_evm_recall(&m, 1), 2.0 / 3, 1e-12);
    /* coverage@3: items 9 2 7 4 0 1 = 6 of 10; @1: 9 4 0 = 3 */
    cr_assert_float_eq(tl_evm_coverage(&m, 1), 0.6, 1e-12);
    cr_assert_float_eq(tl_evm_coverage(&m, 0), 0.3, 1e-12);
    /* popularity@1: (20 + 0 + 10) / 20 / 3 */
    cr_assert_float_eq(tl_evm_popularity(&m, 0), 30.0 / 20 / 3, 1e-12);
    /* merge doubles the sums, keeps the averages */
    struct tl_evm m2;
    cr_assert_eq(tl_evm_init(&m2, ks, 2, 10), TL_OK);
    tl_evm_add(&m2, l2, 3, t2, 1, pop, 20);
    tl_evm_merge(&m, &m2);
    cr_assert_eq(m.cases, 4);
    cr_assert_float_eq(tl_evm_hr(&m, 0), 2.0 / 4, 1e-12);
    tl_evm_free(&m2);
    tl_evm_free(&m);
}

Test(metrics, bad_cutoffs)
{
    struct tl_evm m;
    size_t bad[] = {5, 5};
    cr_assert_eq(tl_evm_init(&m, bad, 2, 3), TL_EINVAL);
    size_t zero[] = {0};
    cr_assert_eq(tl_evm_init(&m, zero, 1, 3), TL_EINVAL);
}
