/* Association rules over baskets (see arules.h): frequent itemset mining
 * (Eclat), rule generation with one item on the right-hand side, and an
 * index that serves "complete your basket" for carts of up to
 * TL_MODEL_HISTORY_MAX items without scanning all rules.
 *
 * DEFINITIONS (as R arules::apriori)
 *   N = baskets = dataset users with at least one item; a basket's items are
 *   de-duplicated. count(S) = baskets containing every item of S.
 *   An itemset S is frequent when count(S) >= minc, where
 *     minc = max(min_count, ceil(min_support * N - 1e-9))
 *   (the 1e-9 keeps e.g. 0.006 * 10000 = 60.000000000000007 at 60, as an
 *   exact decimal threshold would; min_count defaults to 2 so that tiny
 *   shops, where min_support * N < 1, do not mine every co-bought pair).
 *   A rule X => {j}, j not in X, |X| + 1 = L with min_len <= L <= max_len,
 *   is kept when X u {j} is frequent and
 *     confidence = count(X u {j}) / count(X) >= min_confidence - 1e-12
 *   (count({}) = N, so rules with an empty X exist only when min_len = 1:
 *   confidence = support). support = count(X u {j}) / N, lift = confidence /
 *   (count({j}) / N). On Groceries (9,835 baskets) this reproduces the
 *   published arules counts: 463 rules at support 0.006 / confidence 0.25 /
 *   minlen 2 and 5,668 at 0.001 / 0.5 (tests/unit/model/test_arules.c).
 *
 * MINING (Eclat, depth first over tid-lists)
 *   Frequent items are ranked by ascending count (ties: lower item index);
 *   itemsets are kept as rank-sorted sequences in a prefix tree whose node =
 *   {rank, count, parent, children}; the children of a node are contiguous
 *   and sorted by rank. An equivalence class is a list of sibling nodes with
 *   their tid-lists (sorted basket ids); for member i its extensions are
 *   tid(i) n tid(j) for every later sibling j, kept when >= minc, appended
 *   as i's children (contiguous) and mined recursively before member i+1.
 *   Intersections stop early once count + min(remaining) < minc. Tid-lists
 *   live on one uint32 stack (offsets, popped after each class). Itemsets
 *   are mined up to max_len items. At most max_itemsets nodes (TL_ETOOBIG).
 *   Rule generation then looks up count(X) of each candidate X by walking
 *   the tree from the root (binary search among children).
 *
 * THE INDEX (what a trained model holds)
 *   The prefix tree restricted to left-hand sides of rules and their
 *   prefixes. Nodes are laid out breadth first: node i's children are nodes
 *   first_child .. first_child + n_child - 1, sorted by rank (so they can be
 *   binary-searched). Rules are stored grouped by their X's node, the groups
 *   in depth-first pre-order of the tree (m->dfs), rhs ascending inside a
 *   group, as separate arrays rule_rhs[] and {count, conf, lift}[]: the
 *   query walks depth first, so it reads the rule arrays mostly forward
 *   (measured ~25-30% faster than breadth-first rule order on 100-item
 *   carts). Every rule has a distinct (X, rhs).
 *   candidates(basket B): the distinct ranked basket items sorted by rank;
 *   a depth-first walk from the root visits exactly the nodes whose itemset
 *   is a subset of B (at each node either the children are tested for
 *   membership in B, or the remaining basket ranks are binary-searched among
 *   the children, whichever list is shorter), and each visited node's rules
 *   update best[rhs] for rhs not in B: higher confidence wins, then higher
 *   lift, then the first found. best[] starts at -1 for every item and at 2
 *   for basket items, so a single comparison drops both rules into the
 *   basket and rules that cannot win. Cost O(visited nodes + their rules),
 *   not the number of rules. A bounded heap then keeps the best k by
 *   (confidence desc, lift desc, item asc) and calls skip() only for
 *   would-be winners. hit.anchor = the item of X with the latest position in
 *   the history (TL_MODEL_NONE for an empty X). Per-call scratch: 21 bytes
 *   per catalog item (one tl_malloc) plus a k-entry heap.
 *   Measured (tests/unit/model/test_arules.c, Groceries, medians over
 *   random carts, 2 cores shared with other jobs): 5,668 rules: ~6 us per
 *   cart of 1..100 items; 677,450 rules (support 0.0003): ~10 us per
 *   10-item cart, ~0.5 ms per 100-item cart (that cart holds 60% of the
 *   169-item catalog, so ~100k rules have their X inside it), where a flat
 *   scan of all rules takes ~0.9 ms. On real catalogs a cart covers a tiny
 *   fraction of the items and the walk stays small.
 *
 * THREADS
 *   Mining is sequential (opts->threads not used beyond 1; deterministic,
 *   seed unused). Cancel is polled every 4096 tree nodes; progress reports
 *   the fraction of frequent items whose class is mined.
 *
 * SNAPSHOT FORMAT (little-endian, model.h helpers)
 *   u32 magic 0x52524154 ("TARR"), u32 version 1,
 *   f64 min_support, f64 min_confidence (as u64 bit patterns),
 *   u32 min_len, u32 max_len, u32 max_rules, u32 min_count, u32 max_itemsets,
 *   u32 N, u32 n_items, u32 item_count[n_items],
 *   u32 n_ranked, u32 rank_item[n_ranked]          distinct items
 *   u32 n_nodes, then per node (breadth first, node 0 = root = {}):
 *       u32 rank (root: 0xFFFFFFFF), u32 count (root: N), u32 n_child, u32 n_rule
 *   u64 n_rules, then per rule (grouped by node, groups in depth-first
 *   pre-order of the tree, rhs ascending inside a group):
 *       u32 rhs, u32 count
 *   nothing after. first_child / parent follow from the breadth-first node
 *   layout, first_rule from the pre-order; confidence and lift are
 *   recomputed from the counts (bit-identical to training). load() checks
 *   the tree shape, ranks increasing along paths and among siblings,
 *   counts, rhs not in X, and returns TL_EPARSE for anything else. */
#include "model/arules.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

#define MAGIC 0x52524154u
#define VERSION 1u
#define NONE UINT32_MAX
#define CANCEL_EVERY 4096
#define ITEMSETS_DEFAULT 10000000u

struct node {
    uint32_t rank;  /* NONE for the root */
    uint32_t count; /* baskets holding the itemset */
    uint32_t parent;
    uint32_t first_child, n_child;
    uint32_t first_rule, n_rule;
    uint32_t depth; /* itemset size */
};

/* Rule measures; the rhs items live in a separate array (rule_rhs) so a
 * query that skips rules whose rhs is in the basket touches 4 bytes each. */
struct rule {
    uint32_t count;
    float conf, lift;
};

struct ar_model {
    struct tl_arules_params p;
    uint32_t n_baskets, n_items;
    uint32_t *item_count; /* n_items */
    uint32_t n_ranked;
    uint32_t *rank_item; /* n_ranked */
    uint32_t *item_rank; /* n_items, NONE when not ranked */
    uint32_t n_nodes;
    struct node *nodes; /* breadth-first */
    uint32_t *dfs;      /* n_nodes: node ids in depth-first pre-order */
    size_t n_rules;
    struct rule *rules; /* n_rules */
    uint32_t *rule_rhs; /* n_rules */
};

/* ---------- params ---------- */

static void params_defaults(void *vp)
{
    struct tl_arules_params *p = vp;
    memset(p, 0, sizeof *p);
    p->min_support = 0.001;
    p->min_confidence = 0.1;
    p->min_len = 2;
    p->max_len = 10;
    p->max_rules = 5000000;
    p->min_count = 2;
    p->max_itemsets = ITEMSETS_DEFAULT;
}

static enum tl_rc check_params(const struct tl_arules_params *p, struct tl_err *err)
{
    if (!(p->min_support > 0 && p->min_support <= 1))
        return tl_err_set(err, TL_EINVAL, "min_support", "min_support must be in (0, 1]");
    if (!(p->min_confidence >= 0 && p->min_confidence <= 1))
        return tl_err_set(err, TL_EINVAL, "min_confidence", "min_confidence must be in [0, 1]");
    if (p->max_len < 1 || p->max_len > TL_ARULES_LEN_MAX)
        return tl_err_set(err, TL_EINVAL, "max_len", "max_len must be 1..%d", TL_ARULES_LEN_MAX);
    if (p->min_len < 1 || p->min_len > p->max_len)
        return tl_err_set(err, TL_EINVAL, "min_len", "min_len must be 1..max_len (%u)", p->max_len);
    if (p->max_rules < 1 || p->max_rules > TL_ARULES_RULES_MAX)
        return tl_err_set(err, TL_EINVAL, "max_rules", "max_rules must be 1..%u", TL_ARULES_RULES_MAX);
    if (p->min_count < 1) return tl_err_set(err, TL_EINVAL, "min_count", "min_count must be >= 1");
    if (p->max_itemsets < 1 || p->max_itemsets > TL_ARULES_ITEMSETS_MAX)
        return tl_err_set(err, TL_EINVAL, "max_itemsets", "max_itemsets must be 1..%u", TL_ARULES_ITEMSETS_MAX);
    return TL_OK;
}

static enum tl_rc param_set(void *vp, const char *key, const char *value, struct tl_err *err)
{
    struct tl_arules_params *p = vp;
    if (!p || !key) return tl_err_set(err, TL_EINVAL, NULL, "params and key are required");
    double d;
    long l;
    enum tl_rc rc;
    if (strcmp(key, "min_support") == 0) {
        rc = tl_model_param_double(key, value, 1e-12, 1, &d, err);
        if (!rc) p->min_support = d;
        return rc;
    }
    if (strcmp(key, "min_confidence") == 0) {
        rc = tl_model_param_double(key, value, 0, 1, &d, err);
        if (!rc) p->min_confidence = d;
        return rc;
    }
    struct {
        const char *name;
        uint32_t *dst;
        long lo, hi;
    } ints[] = {
        {"min_len", &p->min_len, 1, TL_ARULES_LEN_MAX},
        {"max_len", &p->max_len, 1, TL_ARULES_LEN_MAX},
        {"max_rules", &p->max_rules, 1, TL_ARULES_RULES_MAX},
        {"min_count", &p->min_count, 1, UINT32_MAX},
        {"max_itemsets", &p->max_itemsets, 1, TL_ARULES_ITEMSETS_MAX},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        if (strcmp(key, ints[i].name) == 0) {
            rc = tl_model_param_long(key, value, ints[i].lo, ints[i].hi, &l, err);
            if (!rc) *ints[i].dst = (uint32_t)l;
            return rc;
        }
    return tl_err_set(err, TL_EINVAL, key,
                      "unknown arules parameter '%s' (min_support, min_confidence, min_len, max_len, max_rules, "
                      "min_count, max_itemsets)",
                      key);
}

/* ---------- model helpers ---------- */

static void model_free(void *vm)
{
    struct ar_model *m = vm;
    if (!m) return;
    tl_free(m->item_count);
    tl_free(m->rank_item);
    tl_free(m->item_rank);
    tl_free(m->nodes);
    tl_free(m->dfs);
    tl_free(m->rules);
    tl_free(m->rule_rhs);
    tl_free(m);
}

/* conf and lift of a rule from counts (train and load use the same code). */
static void rule_measures(uint32_t n_baskets, uint32_t count, uint32_t lhs_count, uint32_t rhs_count, double *conf,
                          double *lift)
{
    double c = (double)count / (double)lhs_count;
    *conf = c;
    *lift = c / ((double)rhs_count / (double)n_baskets);
}

/* ---------- mining ---------- */

struct miner {
    const struct tl_arules_params *p;
    const struct tl_train_opts *opts;
    uint32_t minc;
    uint32_t max_depth;
    struct node *nodes;
    uint32_t n_nodes, cap_nodes;
    uint32_t *tid; /* tid-list stack */
    size_t n_tid, cap_tid;
    unsigned long polls;
    struct tl_err *err;
};

static enum tl_rc add_node(struct miner *mi, uint32_t rank, uint32_t count, uint32_t parent, uint32_t depth)
{
    if (mi->n_nodes >= mi->p->max_itemsets + 1)
        return tl_err_set(mi->err, TL_ETOOBIG, "max_itemsets",
                          "more than %u frequent itemsets: raise min_support or lower max_len", mi->p->max_itemsets);
    if (mi->n_nodes == mi->cap_nodes) {
        uint32_t cap = mi->cap_nodes ? mi->cap_nodes * 2 : 1024;
        struct node *nn = tl_realloc(mi->nodes, (size_t)cap * sizeof *nn);
        if (!nn) return tl_err_set(mi->err, TL_ENOMEM, NULL, "out of memory mining itemsets");
        mi->nodes = nn;
        mi->cap_nodes = cap;
    }
    mi->nodes[mi->n_nodes++] = (struct node){rank, count, parent, 0, 0, 0, 0, depth};
    return TL_OK;
}

static enum tl_rc tid_reserve(struct miner *mi, size_t extra)
{
    if (mi->n_tid + extra <= mi->cap_tid) return TL_OK;
    size_t cap = mi->cap_tid ? mi->cap_tid : 4096;
    while (cap < mi->n_tid + extra) cap *= 2;
    uint32_t *nt = tl_realloc(mi->tid, cap * sizeof *nt);
    if (!nt) return tl_err_set(mi->err, TL_ENOMEM, NULL, "out of memory for tid-lists");
    mi->tid = nt;
    mi->cap_tid = cap;
    return TL_OK;
}

struct member {
    uint32_t node;
    size_t off, len; /* tid-list on the stack */
};

/* Mine the class members[0..m) (sibling nodes of one parent, rank order). */
static enum tl_rc eclat(struct miner *mi, const struct member *members, uint32_t m, uint32_t depth, int top)
{
    if (depth >= mi->max_depth) return TL_OK;
    struct member *kids = tl_malloc((m ? m : 1) * sizeof *kids);
    if (!kids) return tl_err_set(mi->err, TL_ENOMEM, NULL, "out of memory mining itemsets");
    enum tl_rc rc = TL_OK;
    for (uint32_t i = 0; i + 1 < m && rc == TL_OK; i++) {
        if (top && mi->opts && mi->opts->progress)
            mi->opts->progress(mi->opts->progress_ctx, (double)i / m, "mining frequent itemsets");
        size_t mark = mi->n_tid;
        uint32_t nk = 0, first = mi->n_nodes;
        for (uint32_t j = i + 1; j < m; j++) {
            size_t la = members[i].len, lb = members[j].len;
            if (la < mi->minc || lb < mi->minc) continue;
            rc = tid_reserve(mi, la < lb ? la : lb);
            if (rc) break;
            const uint32_t *a = mi->tid + members[i].off, *b = mi->tid + members[j].off;
            uint32_t *out = mi->tid + mi->n_tid;
            size_t x = 0, y = 0, c = 0;
            while (x < la && y < lb) {
                if (c + (la - x < lb - y ? la - x : lb - y) < mi->minc) break;
                if (a[x] < b[y])
                    x++;
                else if (a[x] > b[y])
                    y++;
                else {
                    out[c++] = a[x];
                    x++;
                    y++;
                }
            }
            if (c < mi->minc) continue;
            rc = add_node(mi, mi->nodes[members[j].node].rank, (uint32_t)c, members[i].node, depth + 1);
            if (rc) break;
            kids[nk++] = (struct member){mi->n_nodes - 1, mi->n_tid, c};
            mi->n_tid += c;
            if (++mi->polls % CANCEL_EVERY == 0 && mi->opts && mi->opts->cancel && *mi->opts->cancel)
                rc = tl_err_set(mi->err, TL_ESHUTDOWN, NULL, "training cancelled");
            if (rc) break;
        }
        if (rc == TL_OK && nk) {
            mi->nodes[members[i].node].first_child = first;
            mi->nodes[members[i].node].n_child = nk;
            rc = eclat(mi, kids, nk, depth + 1, 0);
        }
        mi->n_tid = mark;
    }
    tl_free(kids);
    return rc;
}

/* Node of the rank-sorted itemset r[0..n) in the mining tree, or NONE. */
static uint32_t find_node(const struct node *nodes, const uint32_t *r, uint32_t n)
{
    uint32_t at = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t lo = nodes[at].first_child, hi = lo + nodes[at].n_child;
        while (lo < hi) {
            uint32_t mid = lo + (hi - lo) / 2;
            if (nodes[mid].rank < r[i])
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo == nodes[at].first_child + nodes[at].n_child || nodes[lo].rank != r[i]) return NONE;
        at = lo;
    }
    return at;
}

struct raw_rule {
    uint32_t lhs_node; /* mining tree node */
    uint32_t rhs;      /* item */
    uint32_t count;
};

static int cmp_rank_items(const void *a, const void *b, void *ctx)
{
    const uint32_t *cnt = ctx;
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    if (cnt[x] != cnt[y]) return cnt[x] < cnt[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

static int cmp_raw(const void *a, const void *b)
{
    const struct raw_rule *x = a, *y = b;
    if (x->lhs_node != y->lhs_node) return x->lhs_node < y->lhs_node ? -1 : 1;
    return x->rhs < y->rhs ? -1 : x->rhs > y->rhs;
}

/* Tree shape of a breadth-first node layout: derive first_child / parent /
 * depth from n_child, check ranks and counts, and list the nodes in
 * depth-first pre-order (m->dfs). Returns TL_OK, TL_ENOMEM, or TL_EPARSE
 * with *why (load uses this for validation). */
static enum tl_rc layout_tree(struct ar_model *m, const char **why)
{
    struct node *nd = m->nodes;
    *why = NULL;
    if (m->n_nodes == 0)
        *why = "no root node";
    else if (nd[0].rank != NONE || nd[0].count != m->n_baskets)
        *why = "bad root node";
    if (*why) return TL_EPARSE;
    uint64_t next = 1;
    nd[0].parent = NONE;
    nd[0].depth = 0;
    for (uint32_t i = 0; i < m->n_nodes && !*why; i++) {
        if (i > 0 && nd[i].parent == NONE)
            *why = "node not reachable from the root";
        else if (next + nd[i].n_child > m->n_nodes)
            *why = "more children than nodes";
        if (*why) break;
        nd[i].first_child = (uint32_t)next;
        for (uint32_t c = 0; c < nd[i].n_child && !*why; c++) {
            struct node *ch = &nd[next + c];
            ch->parent = i;
            ch->depth = nd[i].depth + 1;
            if (ch->rank >= m->n_ranked)
                *why = "rank out of range";
            else if (i > 0 && ch->rank <= nd[i].rank)
                *why = "ranks not increasing along a path";
            else if (c > 0 && ch->rank <= nd[next + c - 1].rank)
                *why = "children not sorted by rank";
            else if (ch->count == 0 || ch->count > nd[i].count)
                *why = "bad itemset count";
            else if (ch->depth + 1 > m->p.max_len)
                *why = "itemset longer than max_len";
        }
        next += nd[i].n_child;
    }
    if (!*why && next != m->n_nodes) *why = "children do not cover all nodes";
    if (*why) return TL_EPARSE;
    /* pre-order with an explicit stack (children pushed in reverse) */
    uint32_t *stack = tl_malloc((size_t)m->n_nodes * sizeof *stack);
    tl_free(m->dfs);
    m->dfs = tl_malloc((size_t)m->n_nodes * sizeof *m->dfs);
    if (!stack || !m->dfs) {
        tl_free(stack);
        return TL_ENOMEM;
    }
    uint32_t sp = 0, k = 0;
    stack[sp++] = 0;
    while (sp) {
        uint32_t v = stack[--sp];
        m->dfs[k++] = v;
        for (uint32_t c = nd[v].n_child; c > 0; c--) stack[sp++] = nd[v].first_child + c - 1;
    }
    tl_free(stack);
    return TL_OK;
}

/* Rules are stored grouped by node in depth-first pre-order (so a query,
 * which walks the tree depth first, reads them mostly forward), rhs
 * ascending within a node. Derive first_rule, check every rule and fill
 * its confidence and lift. NULL when fine, else what is wrong. */
static const char *layout_rules(struct ar_model *m)
{
    struct node *nd = m->nodes;
    uint64_t rules = 0;
    for (uint32_t k = 0; k < m->n_nodes; k++) {
        uint32_t i = m->dfs[k];
        if (rules + nd[i].n_rule > m->n_rules) return "more rules than stored";
        nd[i].first_rule = (uint32_t)rules;
        for (uint32_t r = 0; r < nd[i].n_rule; r++) {
            struct rule *ru = &m->rules[rules + r];
            uint32_t rhs = m->rule_rhs[rules + r];
            if (rhs >= m->n_items) return "rhs out of range";
            if (r > 0 && rhs <= m->rule_rhs[rules + r - 1]) return "rules not sorted by rhs";
            if (ru->count == 0 || ru->count > nd[i].count || ru->count > m->item_count[rhs]) return "bad rule count";
            uint32_t rr = m->item_rank[rhs];
            if (rr == NONE) return "rhs not a ranked item";
            for (uint32_t a = i; a != 0; a = nd[a].parent)
                if (nd[a].rank == rr) return "rhs inside its own left-hand side";
            double conf, lift;
            rule_measures(m->n_baskets, ru->count, nd[i].count, m->item_count[rhs], &conf, &lift);
            ru->conf = (float)conf;
            ru->lift = (float)lift;
        }
        rules += nd[i].n_rule;
    }
    if (rules != m->n_rules) return "rule groups do not cover all rules";
    return NULL;
}

/* Build the served model from the mining tree and the rules found. */
static enum tl_rc build_index(struct ar_model *m, const struct node *mt, uint32_t n_mt, struct raw_rule *raw,
                              size_t n_raw, struct tl_err *err)
{
    enum tl_rc rc = TL_ENOMEM;
    uint8_t *keep = tl_calloc(n_mt ? n_mt : 1, 1);
    uint32_t *newid = tl_malloc((n_mt ? n_mt : 1) * sizeof *newid);
    uint32_t *queue = tl_malloc((n_mt ? n_mt : 1) * sizeof *queue);
    if (!keep || !newid || !queue) goto done;
    keep[0] = 1;
    for (size_t r = 0; r < n_raw; r++)
        for (uint32_t a = raw[r].lhs_node; a != 0 && !keep[a]; a = mt[a].parent) keep[a] = 1;
    /* breadth-first renumbering of kept nodes */
    uint32_t head = 0, tail = 0;
    queue[tail++] = 0;
    newid[0] = 0;
    while (head < tail) {
        uint32_t v = queue[head++];
        for (uint32_t c = mt[v].first_child; c < mt[v].first_child + mt[v].n_child; c++)
            if (keep[c]) {
                newid[c] = tail;
                queue[tail++] = c;
            }
    }
    m->n_nodes = tail;
    m->nodes = tl_calloc(tail, sizeof *m->nodes);
    m->n_rules = n_raw;
    m->rules = tl_malloc((n_raw ? n_raw : 1) * sizeof *m->rules);
    m->rule_rhs = tl_malloc((n_raw ? n_raw : 1) * sizeof *m->rule_rhs);
    if (!m->nodes || !m->rules || !m->rule_rhs) goto done;
    for (uint32_t i = 0; i < tail; i++) {
        const struct node *o = &mt[queue[i]];
        m->nodes[i].rank = o->rank;
        m->nodes[i].count = o->count;
        m->nodes[i].parent = NONE;
        for (uint32_t c = o->first_child; c < o->first_child + o->n_child; c++) m->nodes[i].n_child += keep[c];
    }
    const char *why = NULL;
    rc = layout_tree(m, &why);
    if (rc == TL_EPARSE) rc = TL_EINTERNAL;
    if (rc) goto done;
    /* rules sorted by the depth-first position of their node, then rhs */
    for (uint32_t k = 0; k < tail; k++) newid[queue[m->dfs[k]]] = k; /* mining node -> dfs position */
    for (size_t r = 0; r < n_raw; r++) raw[r].lhs_node = newid[raw[r].lhs_node];
    if (n_raw) qsort(raw, n_raw, sizeof *raw, cmp_raw);
    for (size_t r = 0; r < n_raw; r++) {
        m->nodes[m->dfs[raw[r].lhs_node]].n_rule++;
        m->rules[r] = (struct rule){raw[r].count, 0, 0};
        m->rule_rhs[r] = raw[r].rhs;
    }
    why = layout_rules(m);
    if (why) {
        rc = TL_EINTERNAL;
        goto done;
    }
    rc = TL_OK;
done:
    tl_free(keep);
    tl_free(newid);
    tl_free(queue);
    if (rc == TL_ENOMEM) tl_err_set(err, rc, NULL, "out of memory building the rule index");
    if (rc == TL_EINTERNAL) tl_err_set(err, rc, NULL, "arules index: %s", why ? why : "inconsistent tree");
    return rc;
}

static enum tl_rc train(const struct tl_dataset *d, const void *vparams, const struct tl_train_opts *opts, void **out,
                        struct tl_err *err)
{
    struct tl_arules_params p;
    params_defaults(&p);
    if (vparams) p = *(const struct tl_arules_params *)vparams;
    if (!d || !out) return tl_err_set(err, TL_EINVAL, NULL, "dataset and out are required");
    *out = NULL;
    enum tl_rc rc = check_params(&p, err);
    if (rc) return rc;

    struct ar_model *m = tl_calloc(1, sizeof *m);
    uint32_t *stamp = tl_malloc(((size_t)d->n_items ? d->n_items : 1) * sizeof *stamp);
    uint32_t *basket_of = NULL; /* user -> basket id */
    uint32_t *tidoff = NULL;
    struct member *top = NULL;
    struct raw_rule *raw = NULL;
    size_t n_raw = 0, cap_raw = 0;
    struct miner mi = {.p = &p, .opts = opts, .err = err, .max_depth = p.max_len};
    if (!m || !stamp) goto nomem;
    m->p = p;
    m->n_items = d->n_items;
    m->item_count = tl_calloc((size_t)d->n_items + 1, sizeof *m->item_count);
    m->item_rank = tl_malloc(((size_t)d->n_items + 1) * sizeof *m->item_rank);
    basket_of = tl_malloc(((size_t)d->n_users + 1) * sizeof *basket_of);
    if (!m->item_count || !m->item_rank || !basket_of) goto nomem;
    for (uint32_t i = 0; i < d->n_items; i++) stamp[i] = NONE;

    /* 1. baskets and item counts (de-duplicated per basket) */
    uint32_t nb = 0;
    for (uint32_t u = 0; u < d->n_users; u++) {
        basket_of[u] = NONE;
        if (d->off[u + 1] == d->off[u]) continue;
        basket_of[u] = nb;
        for (size_t x = d->off[u]; x < d->off[u + 1]; x++) {
            uint32_t it = d->item[x];
            if (stamp[it] == nb) continue;
            stamp[it] = nb;
            m->item_count[it]++;
        }
        nb++;
    }
    m->n_baskets = nb;
    double thr = p.min_support * (double)nb - 1e-9;
    double cthr = ceil(thr);
    mi.minc = cthr < 1 ? 1 : cthr > (double)UINT32_MAX ? UINT32_MAX : (uint32_t)cthr;
    if (mi.minc < p.min_count) mi.minc = p.min_count;

    /* 2. frequent items ranked by ascending count */
    uint32_t nr = 0;
    for (uint32_t i = 0; i < d->n_items; i++)
        if (m->item_count[i] >= mi.minc) nr++;
    m->n_ranked = nr;
    m->rank_item = tl_malloc((nr ? nr : 1) * sizeof *m->rank_item);
    if (!m->rank_item) goto nomem;
    nr = 0;
    for (uint32_t i = 0; i < d->n_items; i++)
        if (m->item_count[i] >= mi.minc) m->rank_item[nr++] = i;
    qsort_r(m->rank_item, nr, sizeof *m->rank_item, cmp_rank_items, m->item_count);
    for (uint32_t i = 0; i < d->n_items; i++) m->item_rank[i] = NONE;
    for (uint32_t r = 0; r < nr; r++) m->item_rank[m->rank_item[r]] = r;

    /* 3. tid-lists of the frequent items, and the first tree level */
    rc = add_node(&mi, NONE, nb, NONE, 0);
    if (rc) goto fail;
    size_t total = 0;
    for (uint32_t r = 0; r < nr; r++) total += m->item_count[m->rank_item[r]];
    rc = tid_reserve(&mi, total);
    if (rc) goto fail;
    tidoff = tl_malloc(((size_t)nr + 1) * sizeof *tidoff);
    top = tl_malloc((nr ? nr : 1) * sizeof *top);
    if (!tidoff || !top) goto nomem;
    {
        size_t acc = 0;
        for (uint32_t r = 0; r < nr; r++) {
            tidoff[r] = (uint32_t)acc;
            top[r] = (struct member){0, acc, 0};
            acc += m->item_count[m->rank_item[r]];
        }
        for (uint32_t i = 0; i < d->n_items; i++) stamp[i] = NONE;
        for (uint32_t u = 0; u < d->n_users; u++) {
            uint32_t b = basket_of[u];
            if (b == NONE) continue;
            for (size_t x = d->off[u]; x < d->off[u + 1]; x++) {
                uint32_t it = d->item[x], r = m->item_rank[it];
                if (r == NONE || stamp[it] == b) continue;
                stamp[it] = b;
                mi.tid[top[r].off + top[r].len++] = b;
            }
        }
        mi.n_tid = acc;
    }
    if (p.max_len >= 1 && nr) {
        mi.nodes[0].first_child = 1;
        mi.nodes[0].n_child = nr;
        for (uint32_t r = 0; r < nr; r++) {
            rc = add_node(&mi, r, (uint32_t)top[r].len, 0, 1);
            if (rc) goto fail;
            top[r].node = 1 + r;
        }
        rc = eclat(&mi, top, nr, 1, 1);
        if (rc) goto fail;
    }
    if (opts && opts->cancel && *opts->cancel) {
        rc = tl_err_set(err, TL_ESHUTDOWN, NULL, "training cancelled");
        goto fail;
    }

    /* 4. rules X => {j} from every itemset of min_len .. max_len items */
    for (uint32_t v = 1; v < mi.n_nodes; v++) {
        const struct node *nv = &mi.nodes[v];
        if (nv->depth < p.min_len || nv->depth > p.max_len) continue;
        uint32_t path[TL_ARULES_LEN_MAX], dep = nv->depth;
        for (uint32_t a = v, k = dep; a != 0; a = mi.nodes[a].parent) path[--k] = mi.nodes[a].rank;
        for (uint32_t x = 0; x < dep; x++) {
            uint32_t lhs[TL_ARULES_LEN_MAX], nl = 0;
            for (uint32_t y = 0; y < dep; y++)
                if (y != x) lhs[nl++] = path[y];
            uint32_t ln = find_node(mi.nodes, lhs, nl);
            if (ln == NONE) {
                rc = tl_err_set(err, TL_EINTERNAL, NULL, "subset of a frequent itemset not found");
                goto fail;
            }
            uint32_t rhs = m->rank_item[path[x]];
            double conf, lift;
            rule_measures(nb, nv->count, mi.nodes[ln].count, m->item_count[rhs], &conf, &lift);
            if (!(conf >= p.min_confidence - 1e-12)) continue;
            if (n_raw >= p.max_rules) {
                rc = tl_err_set(err, TL_ETOOBIG, "max_rules", "more than %u rules: raise min_support or min_confidence",
                                p.max_rules);
                goto fail;
            }
            if (n_raw == cap_raw) {
                size_t cap = cap_raw ? cap_raw * 2 : 1024;
                struct raw_rule *nr2 = tl_realloc(raw, cap * sizeof *nr2);
                if (!nr2) goto nomem;
                raw = nr2;
                cap_raw = cap;
            }
            raw[n_raw++] = (struct raw_rule){ln, rhs, nv->count};
        }
    }

    /* 5. the served index */
    rc = build_index(m, mi.nodes, mi.n_nodes, raw, n_raw, err);
    if (rc) goto fail;
    if (opts && opts->progress) opts->progress(opts->progress_ctx, 1.0, "done");
    *out = m;
    m = NULL;
    goto cleanup;
nomem:
    rc = tl_err_set(err, TL_ENOMEM, NULL, "out of memory mining association rules");
fail:
cleanup:
    model_free(m);
    tl_free(stamp);
    tl_free(basket_of);
    tl_free(tidoff);
    tl_free(top);
    tl_free(raw);
    tl_free(mi.nodes);
    tl_free(mi.tid);
    return rc;
}

/* ---------- rule access ---------- */

size_t tl_arules_count(const void *vm)
{
    const struct ar_model *m = vm;
    return m ? m->n_rules : 0;
}

uint32_t tl_arules_baskets(const void *vm)
{
    const struct ar_model *m = vm;
    return m ? m->n_baskets : 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

enum tl_rc tl_arules_rule(const void *vm, size_t i, struct tl_arules_rule *r)
{
    const struct ar_model *m = vm;
    if (!m || !r || i >= m->n_rules) return TL_EINVAL;
    /* the node owning rule i is the last node in depth-first order with
     * first_rule <= i (nodes after it start at or past its end, > i) */
    uint32_t lo = 0, hi = m->n_nodes;
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (m->nodes[m->dfs[mid]].first_rule <= i)
            lo = mid;
        else
            hi = mid;
    }
    lo = m->dfs[lo];
    memset(r, 0, sizeof *r);
    for (uint32_t a = lo; a != 0; a = m->nodes[a].parent) r->lhs[r->n_lhs++] = m->rank_item[m->nodes[a].rank];
    qsort(r->lhs, r->n_lhs, sizeof r->lhs[0], cmp_u32);
    const struct rule *ru = &m->rules[i];
    r->rhs = m->rule_rhs[i];
    r->count = ru->count;
    r->support = (double)ru->count / (double)m->n_baskets;
    rule_measures(m->n_baskets, ru->count, m->nodes[lo].count, m->item_count[r->rhs], &r->confidence, &r->lift);
    return TL_OK;
}

/* ---------- queries ---------- */

#define ST_BASKET 1
#define CONF_UNSEEN -1.0f /* conf[] of an item no rule reached yet */
#define CONF_BASKET 2.0f  /* conf[] of a basket item: no rule beats it */

struct qctx {
    const struct ar_model *m;
    uint8_t *state;     /* n_items */
    uint16_t *pos;      /* n_items: index in the history (basket items only) */
    uint16_t *bidx;     /* n_items: index in branks (basket items only) */
    float *conf, *lift; /* n_items: best rule so far (conf: CONF_UNSEEN / CONF_BASKET / confidence) */
    uint32_t *anchor;   /* n_items (candidates only) */
    uint32_t *touched;  /* candidate items */
    uint32_t n_touched;
    const uint32_t *branks; /* distinct ranked basket items' ranks, ascending */
    uint32_t nb;
};

static void visit(struct qctx *c, uint32_t v, uint32_t bi, uint32_t anchor)
{
    const struct ar_model *m = c->m;
    const struct node *nd = &m->nodes[v];
    /* conf[j] starts at -1 for candidates and at 2 (above any confidence)
     * for basket items, so one comparison rejects both the rules to basket
     * items and the rules that cannot beat j's best so far */
    for (uint32_t r = nd->first_rule; r < nd->first_rule + nd->n_rule; r++) {
        uint32_t j = m->rule_rhs[r];
        const struct rule *ru = &m->rules[r];
        float best = c->conf[j];
        if (ru->conf < best || (ru->conf == best && !(ru->lift > c->lift[j]))) continue;
        if (best < 0) c->touched[c->n_touched++] = j;
        c->conf[j] = ru->conf;
        c->lift[j] = ru->lift;
        c->anchor[j] = anchor;
    }
    if (nd->n_child == 0 || bi >= c->nb) return;
    uint32_t fc = nd->first_child, nc = nd->n_child;
    if (nc <= c->nb - bi) {
        for (uint32_t ch = fc; ch < fc + nc; ch++) {
            uint32_t it = m->rank_item[m->nodes[ch].rank];
            if (!(c->state[it] & ST_BASKET)) continue;
            uint32_t an = anchor == NONE || c->pos[it] > c->pos[anchor] ? it : anchor;
            visit(c, ch, (uint32_t)c->bidx[it] + 1, an);
        }
    } else {
        uint32_t lo = fc;
        for (uint32_t b = bi; b < c->nb; b++) {
            uint32_t hi = fc + nc, want = c->branks[b];
            while (lo < hi) {
                uint32_t mid = lo + (hi - lo) / 2;
                if (m->nodes[mid].rank < want)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            if (lo == fc + nc) break;
            if (m->nodes[lo].rank != want) continue;
            uint32_t it = m->rank_item[want];
            uint32_t an = anchor == NONE || c->pos[it] > c->pos[anchor] ? it : anchor;
            visit(c, lo, b + 1, an);
        }
    }
}

struct hent {
    uint32_t item, anchor;
    float conf, lift;
};

/* a better than b: confidence desc, lift desc, item asc */
static int better(const struct hent *a, const struct hent *b)
{
    if (a->conf != b->conf) return a->conf > b->conf;
    if (a->lift != b->lift) return a->lift > b->lift;
    return a->item < b->item;
}

/* min-heap on "better": h[0] is the worst kept */
static void sift_down(struct hent *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && better(&h[w], &h[l])) w = l;
        if (r < n && better(&h[w], &h[r])) w = r;
        if (w == i) return;
        struct hent t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

static void sift_up(struct hent *h, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!better(&h[p], &h[i])) return;
        struct hent t = h[i];
        h[i] = h[p];
        h[p] = t;
        i = p;
    }
}

static int cmp_hent(const void *a, const void *b)
{
    const struct hent *x = a, *y = b;
    return better(x, y) ? -1 : better(y, x) ? 1 : 0;
}

static enum tl_rc candidates(const void *vm, const struct tl_model_query *q, tl_model_skip_fn skip, void *skip_ctx,
                             size_t k, struct tl_model_hit *out, size_t *n)
{
    const struct ar_model *m = vm;
    if (n) *n = 0;
    if (!m || !q || !n || (!out && k > 0) || k > TL_MODEL_K_MAX || q->n_history > TL_MODEL_HISTORY_MAX ||
        (q->n_history > 0 && !q->history))
        return TL_EINVAL;
    if (k == 0 || m->n_rules == 0) return TL_OK;
    size_t ni = m->n_items ? m->n_items : 1;
    size_t bytes = ni * (1 + 2 + 2 + 4 + 4 + 4 + 4) + q->n_history * 4 + k * sizeof(struct hent) + 64;
    uint8_t *mem = tl_malloc(bytes);
    if (!mem) return TL_ENOMEM;
    struct qctx c = {.m = m};
    uint8_t *p = mem;
    c.conf = (float *)(void *)p;
    p += ni * 4;
    c.lift = (float *)(void *)p;
    p += ni * 4;
    c.anchor = (uint32_t *)(void *)p;
    p += ni * 4;
    c.touched = (uint32_t *)(void *)p;
    p += ni * 4;
    uint32_t *branks = (uint32_t *)(void *)p;
    p += q->n_history * 4;
    struct hent *heap = (struct hent *)(void *)p;
    p += k * sizeof(struct hent);
    c.pos = (uint16_t *)(void *)p;
    p += ni * 2;
    c.bidx = (uint16_t *)(void *)p;
    p += ni * 2;
    c.state = p;
    memset(c.state, 0, ni);
    for (size_t i = 0; i < ni; i++) c.conf[i] = CONF_UNSEEN;

    uint32_t nb = 0;
    for (size_t h = 0; h < q->n_history; h++) {
        uint32_t it = q->history[h];
        if (it >= m->n_items) continue; /* unknown item: cannot be in any rule */
        if (!(c.state[it] & ST_BASKET)) {
            c.state[it] = ST_BASKET;
            c.conf[it] = CONF_BASKET;
            if (m->item_rank[it] != NONE) branks[nb++] = m->item_rank[it];
        }
        c.pos[it] = (uint16_t)h; /* latest position */
    }
    qsort(branks, nb, sizeof *branks, cmp_u32);
    for (uint32_t b = 0; b < nb; b++) c.bidx[m->rank_item[branks[b]]] = (uint16_t)b;
    c.branks = branks;
    c.nb = nb;
    visit(&c, 0, 0, NONE);

    size_t hn = 0;
    for (uint32_t t = 0; t < c.n_touched; t++) {
        uint32_t j = c.touched[t];
        struct hent e = {j, c.anchor[j], c.conf[j], c.lift[j]};
        if (hn == k && !better(&e, &heap[0])) continue;
        if (skip && skip(skip_ctx, j)) continue;
        if (hn < k) {
            heap[hn] = e;
            sift_up(heap, hn++);
        } else {
            heap[0] = e;
            sift_down(heap, hn, 0);
        }
    }
    qsort(heap, hn, sizeof *heap, cmp_hent);
    for (size_t i = 0; i < hn; i++) out[i] = (struct tl_model_hit){heap[i].item, heap[i].conf, heap[i].anchor};
    *n = hn;
    tl_free(mem);
    return TL_OK;
}

/* ---------- snapshot ---------- */

static uint64_t dbits(double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}

static double bitsd(uint64_t u)
{
    double d;
    memcpy(&d, &u, 8);
    return d;
}

static enum tl_rc save(const void *vm, struct tl_buf *b, struct tl_err *err)
{
    const struct ar_model *m = vm;
    if (!m || !b) return tl_err_set(err, TL_EINVAL, NULL, "model and buffer are required");
    enum tl_rc rc = tl_snap_put_u32(b, MAGIC);
    if (!rc) rc = tl_snap_put_u32(b, VERSION);
    if (!rc) rc = tl_snap_put_u64(b, dbits(m->p.min_support));
    if (!rc) rc = tl_snap_put_u64(b, dbits(m->p.min_confidence));
    uint32_t hdr[] = {m->p.min_len,      m->p.max_len, m->p.max_rules, m->p.min_count,
                      m->p.max_itemsets, m->n_baskets, m->n_items};
    if (!rc) rc = tl_snap_put_u32s(b, hdr, sizeof hdr / sizeof hdr[0]);
    if (!rc) rc = tl_snap_put_u32s(b, m->item_count, m->n_items);
    if (!rc) rc = tl_snap_put_u32(b, m->n_ranked);
    if (!rc) rc = tl_snap_put_u32s(b, m->rank_item, m->n_ranked);
    if (!rc) rc = tl_snap_put_u32(b, m->n_nodes);
    if (!rc) rc = tl_buf_reserve(b, (size_t)m->n_nodes * 16 + m->n_rules * 8 + 8);
    for (uint32_t i = 0; !rc && i < m->n_nodes; i++) {
        const struct node *nd = &m->nodes[i];
        uint32_t v[4] = {nd->rank, nd->count, nd->n_child, nd->n_rule};
        rc = tl_snap_put_u32s(b, v, 4);
    }
    if (!rc) rc = tl_snap_put_u64(b, m->n_rules);
    for (size_t i = 0; !rc && i < m->n_rules; i++) {
        rc = tl_snap_put_u32(b, m->rule_rhs[i]);
        if (!rc) rc = tl_snap_put_u32(b, m->rules[i].count);
    }
    if (rc) return tl_err_set(err, rc, NULL, "cannot write arules snapshot");
    return TL_OK;
}

static enum tl_rc load(const void *data, size_t len, void **out, struct tl_err *err)
{
    if (!out || (!data && len)) return tl_err_set(err, TL_EINVAL, NULL, "data and out are required");
    *out = NULL;
    struct tl_snap_reader r = {data, len, 0, 0};
    const char *why = NULL;
    struct ar_model *m = NULL;
    uint32_t magic = tl_snap_get_u32(&r), version = tl_snap_get_u32(&r);
    if (r.bad) return tl_err_set(err, TL_EPARSE, NULL, "arules snapshot: truncated header");
    if (magic != MAGIC || version != VERSION) return tl_err_set(err, TL_EPARSE, NULL, "arules snapshot: bad magic");
    m = tl_calloc(1, sizeof *m);
    if (!m) return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
    m->p.min_support = bitsd(tl_snap_get_u64(&r));
    m->p.min_confidence = bitsd(tl_snap_get_u64(&r));
    uint32_t hdr[7];
    tl_snap_get_u32s(&r, hdr, 7);
    if (r.bad) {
        why = "truncated header";
        goto bad;
    }
    m->p.min_len = hdr[0];
    m->p.max_len = hdr[1];
    m->p.max_rules = hdr[2];
    m->p.min_count = hdr[3];
    m->p.max_itemsets = hdr[4];
    m->n_baskets = hdr[5];
    m->n_items = hdr[6];
    if (check_params(&m->p, NULL)) {
        why = "bad parameters";
        goto bad;
    }
    if (m->n_items > TL_DATASET_IDS_MAX || (uint64_t)m->n_items * 4 > len - r.off) {
        why = "truncated item counts";
        goto bad;
    }
    m->item_count = tl_malloc(((size_t)m->n_items + 1) * sizeof *m->item_count);
    m->item_rank = tl_malloc(((size_t)m->n_items + 1) * sizeof *m->item_rank);
    if (!m->item_count || !m->item_rank) goto nomem;
    tl_snap_get_u32s(&r, m->item_count, m->n_items);
    for (uint32_t i = 0; i < m->n_items; i++) {
        m->item_rank[i] = NONE;
        if (m->item_count[i] > m->n_baskets) why = "item count above the basket count";
    }
    if (why) goto bad;
    m->n_ranked = tl_snap_get_u32(&r);
    if (r.bad || m->n_ranked > m->n_items || (uint64_t)m->n_ranked * 4 > len - r.off) {
        why = "truncated ranked items";
        goto bad;
    }
    m->rank_item = tl_malloc(((size_t)m->n_ranked + 1) * sizeof *m->rank_item);
    if (!m->rank_item) goto nomem;
    tl_snap_get_u32s(&r, m->rank_item, m->n_ranked);
    for (uint32_t k = 0; k < m->n_ranked && !why; k++) {
        uint32_t it = m->rank_item[k];
        if (it >= m->n_items || m->item_rank[it] != NONE)
            why = "ranked item out of range or repeated";
        else
            m->item_rank[it] = k;
    }
    if (why) goto bad;
    m->n_nodes = tl_snap_get_u32(&r);
    if (r.bad || m->n_nodes == 0 || (uint64_t)m->n_nodes * 16 > len - r.off) {
        why = "truncated nodes";
        goto bad;
    }
    m->nodes = tl_calloc(m->n_nodes, sizeof *m->nodes);
    if (!m->nodes) goto nomem;
    for (uint32_t i = 0; i < m->n_nodes; i++) {
        uint32_t v[4];
        tl_snap_get_u32s(&r, v, 4);
        m->nodes[i] = (struct node){v[0], v[1], NONE, 0, v[2], 0, v[3], 0};
    }
    uint64_t nrules = tl_snap_get_u64(&r);
    if (r.bad || nrules > (len - r.off) / 8 || nrules > m->p.max_rules) {
        why = "truncated rules";
        goto bad;
    }
    m->n_rules = (size_t)nrules;
    m->rules = tl_malloc((m->n_rules ? m->n_rules : 1) * sizeof *m->rules);
    m->rule_rhs = tl_malloc((m->n_rules ? m->n_rules : 1) * sizeof *m->rule_rhs);
    if (!m->rules || !m->rule_rhs) goto nomem;
    for (size_t i = 0; i < m->n_rules; i++) {
        m->rule_rhs[i] = tl_snap_get_u32(&r);
        m->rules[i].count = tl_snap_get_u32(&r);
    }
    if (r.bad)
        why = "truncated rules";
    else if (r.off != len)
        why = "trailing bytes";
    else if (m->n_rules && m->n_baskets == 0)
        why = "rules without baskets";
    else {
        enum tl_rc lrc = layout_tree(m, &why);
        if (lrc == TL_ENOMEM) goto nomem;
        if (lrc == TL_OK) why = layout_rules(m);
    }
    if (why) goto bad;
    *out = m;
    return TL_OK;
nomem:
    model_free(m);
    return tl_err_set(err, TL_ENOMEM, NULL, "out of memory");
bad:
    model_free(m);
    return tl_err_set(err, TL_EPARSE, NULL, "arules snapshot: %s", why);
}

static size_t memory(const void *vm)
{
    const struct ar_model *m = vm;
    if (!m) return 0;
    return sizeof *m + (size_t)m->n_items * 8 + (size_t)m->n_ranked * 4 + (size_t)m->n_nodes * sizeof(struct node) +
           (size_t)m->n_nodes * 4 + m->n_rules * (sizeof(struct rule) + sizeof(uint32_t));
}

const struct tl_model_ops tl_arules_ops = {
    .name = "arules",
    .params_size = sizeof(struct tl_arules_params),
    .params_defaults = params_defaults,
    .param_set = param_set,
    .train = train,
    .candidates = candidates,
    .save = save,
    .load = load,
    .memory = memory,
    .free = model_free,
};
