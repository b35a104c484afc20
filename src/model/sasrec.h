/* SASRec: a self-attention sequential recommender (Kang & McAuley 2018)
 * trained with full-softmax cross-entropy over all items, behind the model
 * ops table (model.h) as "sasrec".
 *
 * Training reads every user's items in time order (d->off, d->item) and
 * learns to predict each next item from the items before it; candidates()
 * encodes q->history (the last max_len known items, oldest first; or the
 * anchor alone when there is no history) and scores every item by
 * h_last . E_item. Architecture, formulas, early stopping and the snapshot
 * format are documented at the top of sasrec.c.
 *
 * Parameters (param_set keys, defaults):
 *   layers 2 (1..8), dim 64 (2..1024, divisible by heads), heads 2 (1..64),
 *   dropout 0.5 (0..0.9), lr 0.001, beta2 0.98, batch 256 (sequences per
 *   step), max_len 50 (1..1000), epochs 200 (1..10000), patience 10
 *   (0 = never stop early), valid 1 (hold out each user's last item for
 *   early stopping; 0 = train on everything for `epochs`), chunk 0 (rows per
 *   output-layer block, 0 = automatic: about 16 M logits), eval_every 1,
 *   max_seconds 0 (stop after the epoch that ends past this wall-clock
 *   budget, keeping the best weights; 0 = no limit). */
#ifndef TL_MODEL_SASREC_H
#define TL_MODEL_SASREC_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "model/dataset.h"
#include "model/model.h"
#include "tailor/rc.h"

#define TL_SASREC_LAYERS_MAX 8
#define TL_SASREC_DIM_MAX 1024
#define TL_SASREC_HEADS_MAX 64
#define TL_SASREC_LEN_MAX 1000

extern const struct tl_model_ops tl_sasrec_ops;

struct tl_sasrec_params {
    long layers;        /* 2: transformer blocks */
    long dim;           /* 64: embedding / hidden size d (FFN inner size is d too) */
    long heads;         /* 2: attention heads, must divide dim */
    double dropout;     /* 0.5: dropout rate (embedding, attention output, FFN) */
    double lr;          /* 0.001: Adam step size */
    double beta2;       /* 0.98: Adam second-moment decay (beta1 = 0.9, eps 1e-8) */
    long batch;         /* 256: sequences per Adam step */
    long max_len;       /* 50: positions kept (the most recent items) */
    long epochs;        /* 200: passes over the data at most */
    long patience;      /* 10: stop after this many evaluations without a better
                         * validation NDCG@10 (0 = never stop early) */
    long valid;         /* 1: hold out each user's last item (users with >= 3
                         * items) for early stopping and keep the best epoch */
    long chunk;         /* 0: rows per output-layer block (0 = automatic) */
    long eval_every;    /* 1: epochs between validation evaluations */
    double max_seconds; /* 0: stop after the epoch that ends past this wall time (0 = no limit) */
    long attn_probs;    /* 0: dropout on the attention output (after Wo); 1: on the attention
                         * probabilities instead (as torch.nn.MultiheadAttention does) */
};

/* What the last training run did (filled by train, 0 for a loaded model). */
struct tl_sasrec_info {
    int epochs_run;       /* epochs trained */
    int best_epoch;       /* epoch whose weights were kept (1-based) */
    double best_val_ndcg; /* validation NDCG@10 at best_epoch (valid = 1) */
    double best_val_hr;   /* validation HR@10 at best_epoch */
    double last_loss;     /* mean training cross-entropy of the last epoch */
    double train_seconds; /* wall-clock time of train() */
};
void tl_sasrec_get_info(const void *model, struct tl_sasrec_info *out);

/* ---- testing hooks (used by tests/unit/model/test_sasrec.c) ---- */

/* A model with freshly initialised (untrained) weights for n_items items
 * (p NULL = defaults), deterministic for seed. Free with tl_sasrec_ops.free. */
enum tl_rc tl_sasrec_new_random(const struct tl_sasrec_params *p, uint32_t n_items, uint64_t seed, void **out,
                                struct tl_err *err);
/* All weights as one float array (borrowed; writable for tests) and its
 * length. */
float *tl_sasrec_weights(void *model, size_t *n);
/* Named weight block i (0-based): its name ("E", "P", "l0.wq", ...), offset
 * and length inside tl_sasrec_weights(). NULL past the last block. */
const char *tl_sasrec_block(const void *model, size_t i, size_t *off, size_t *len);
/* Mean next-item cross-entropy over every training position of the
 * sequences in d (exactly as one training step sees them, all users in one
 * batch; max_len truncation applies). With dropout rate > 0 the masks are
 * drawn from seed (same seed -> same masks). When grad is non-NULL it receives
 * d loss / d weight (tl_sasrec_weights layout). chunk > 0 overrides the
 * output-layer block size. threads > 1 splits the work as training does
 * (the same loss and gradient up to float rounding). */
enum tl_rc tl_sasrec_loss(void *model, const struct tl_dataset *d, double dropout, uint64_t seed, size_t chunk,
                          int threads, double *loss, float *grad, struct tl_err *err);

#endif
