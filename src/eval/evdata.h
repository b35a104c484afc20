/* Offline evaluation data: a training dataset plus test cases, read from the
 * public files the evaluation uses, under three protocols:
 *
 * sessions (tab-separated "SessionId ItemId Time" with a header, the
 *   session-based framework's rsc15 files): train = every training session
 *   (clicks sorted by time, stable); test = the test sessions in file order
 *   (the first max_sessions when > 0); for each test session of length L,
 *   L-1 cases: history = clicks 1..p, target = click p+1. History is not
 *   masked (a shopper may click an item again). Test items unknown to
 *   training are left out of histories and, as targets, count as misses.
 * sequences (one user per line "uid item item ...", time order): leave one
 *   out. Train on each user's items except the last two (the last is the
 *   test target, the one before the validation item); case: history = all
 *   but the last item (the model may use the validation item), target = the
 *   last, history masked (items already in the sequence are never
 *   recommended). Users with fewer than 3 items are training-only.
 * orders (UCI Online Retail CSV): drop cancellations (InvoiceNo "C..."),
 *   rows without CustomerID and Quantity <= 0; train on purchases dated
 *   before split; cases: each customer with purchases both before and after
 *   the split; history = distinct items bought before (time order, masked);
 *   targets = items bought after that were not bought before (customers with
 *   none are not cases). With buy_again, the targets are instead the items
 *   bought after that were also bought before, and history is not masked.
 *
 * Item ids are interned in file order (training file first). */
#ifndef TL_EVAL_EVDATA_H
#define TL_EVAL_EVDATA_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/map.h"
#include "model/dataset.h"

struct tl_evcase {
    uint32_t user;   /* training user index, or UINT32_MAX (a new session) */
    size_t hist_off; /* into hist[] */
    uint32_t n_hist;
    size_t tgt_off; /* into tgt[] (sorted, distinct; UINT32_MAX-valued = unknown item) */
    uint32_t n_tgt;
    uint8_t mask; /* 1: never recommend history items */
};

struct tl_evdata {
    struct tl_dataset *train;       /* owned */
    struct tl_dataset *train_valid; /* sequences only: each user's items but the last (the next-to-last
                                     * included), for models that hold out their own validation item
                                     * (--self-valid); NULL for the other protocols. Owned. */
    struct tl_strtab items;         /* item id string -> dense index */
    struct tl_evcase *cases;
    size_t n_cases, cap_cases;
    uint32_t *hist;
    int64_t *hist_ts; /* time of each history item (ms, or a sequence number) */
    size_t n_hist, cap_hist, cap_hist_ts;
    uint32_t *tgt;
    size_t n_tgt, cap_tgt;
    uint32_t *pop;  /* distinct training users per item (n_items) */
    char desc[256]; /* one line: what was read and how many cases */
};

enum tl_rc tl_evdata_sessions(const char *train_path, const char *test_path, long max_sessions, struct tl_evdata **out,
                              struct tl_err *err);
enum tl_rc tl_evdata_sequences(const char *path, struct tl_evdata **out, struct tl_err *err);
enum tl_rc tl_evdata_orders(const char *path, int64_t split_ms, int buy_again, struct tl_evdata **out,
                            struct tl_err *err);
void tl_evdata_free(struct tl_evdata *e);

#endif
