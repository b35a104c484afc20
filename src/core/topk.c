/* Bounded top-k min-heap (see topk.h).
 *
 * Invariant: e[0..n) is a binary min-heap under worse(): for every i,
 * !worse(e[child], e[i]), so e[0] is the worst kept entry. A candidate enters
 * only if the heap has room or it is better than e[0], which it then replaces
 * (sift down). tl_topk_sort() is an in-place heap sort: repeatedly swap the
 * root (worst) to the end of the shrinking heap, which leaves the array
 * ordered best first. Costs: push O(log k), sort O(k log k), no allocation. */
#include "core/topk.h"

#include <math.h>

/* a is worse than b: lower score, or same score and higher id. */
static int worse(const struct tl_topk_entry *a, const struct tl_topk_entry *b)
{
    if (a->score != b->score) return a->score < b->score;
    return a->id > b->id;
}

static void sift_down(struct tl_topk_entry *e, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && worse(&e[l], &e[m])) m = l;
        if (r < n && worse(&e[r], &e[m])) m = r;
        if (m == i) return;
        struct tl_topk_entry t = e[i];
        e[i] = e[m];
        e[m] = t;
        i = m;
    }
}

static void sift_up(struct tl_topk_entry *e, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!worse(&e[i], &e[p])) return;
        struct tl_topk_entry t = e[i];
        e[i] = e[p];
        e[p] = t;
        i = p;
    }
}

void tl_topk_init(struct tl_topk *h, struct tl_topk_entry *storage, size_t k)
{
    h->e = storage;
    h->n = 0;
    h->k = storage ? k : 0;
}

int tl_topk_accepts(const struct tl_topk *h, uint32_t id, double score)
{
    if (isnan(score) || h->k == 0) return 0;
    if (h->n < h->k) return 1;
    struct tl_topk_entry c = {id, score};
    return worse(&h->e[0], &c);
}

int tl_topk_push(struct tl_topk *h, uint32_t id, double score)
{
    if (!tl_topk_accepts(h, id, score)) return 0;
    struct tl_topk_entry c = {id, score};
    if (h->n < h->k) {
        h->e[h->n] = c;
        sift_up(h->e, h->n);
        h->n++;
    } else {
        h->e[0] = c;
        sift_down(h->e, h->n, 0);
    }
    return 1;
}

double tl_topk_threshold(const struct tl_topk *h)
{
    if (h->n < h->k || h->n == 0) return -INFINITY;
    return h->e[0].score;
}

size_t tl_topk_sort(struct tl_topk *h)
{
    size_t n = h->n;
    for (size_t end = n; end > 1; end--) {
        struct tl_topk_entry t = h->e[0];
        h->e[0] = h->e[end - 1];
        h->e[end - 1] = t;
        sift_down(h->e, end - 1, 0);
    }
    return n;
}

size_t tl_topk_best_passing(const struct tl_topk_entry *cand, size_t n, size_t k, int (*reject)(void *, uint32_t),
                            void *ctx, struct tl_topk_entry *work, struct tl_topk_entry *out)
{
    size_t got = 0;
    if (k == 0 || n == 0) return 0;
    for (size_t top = k;; top *= 2) {
        if (top > n) top = n;
        struct tl_topk h;
        tl_topk_init(&h, work, top);
        for (size_t x = 0; x < n; x++) tl_topk_push(&h, cand[x].id, cand[x].score);
        size_t nh = tl_topk_sort(&h);
        got = 0;
        for (size_t x = 0; x < nh && got < k; x++)
            if (!(reject && reject(ctx, work[x].id))) out[got++] = work[x];
        if (got == k || top == n) return got;
    }
}
