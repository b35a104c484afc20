/* Open-addressing hash tables (see map.h for the invariants). */
#include "core/map.h"

#include <string.h>

#include "core/alloc.h"
#include "core/hash.h"

/* ---- u64 -> u64 ---- */

void tl_u64map_init(struct tl_u64map *m) { memset(m, 0, sizeof *m); }

void tl_u64map_free(struct tl_u64map *m)
{
    tl_free(m->keys);
    tl_free(m->vals);
    memset(m, 0, sizeof *m);
}

static size_t slot_of(uint64_t key, size_t cap) { return (size_t)(tl_hash_u64(key) & (cap - 1)); }

static enum tl_rc u64_grow_to(struct tl_u64map *m, size_t ncap)
{
    uint64_t *nk = tl_calloc(ncap, sizeof *nk);
    uint64_t *nv = tl_calloc(ncap, sizeof *nv);
    if (!nk || !nv) {
        tl_free(nk);
        tl_free(nv);
        return TL_ENOMEM;
    }
    tl_advise_huge(nk, ncap * sizeof *nk);
    tl_advise_huge(nv, ncap * sizeof *nv);
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i]) continue;
        size_t s = slot_of(m->keys[i], ncap);
        while (nk[s]) s = (s + 1) & (ncap - 1);
        nk[s] = m->keys[i];
        nv[s] = m->vals[i];
    }
    tl_free(m->keys);
    tl_free(m->vals);
    m->keys = nk;
    m->vals = nv;
    m->cap = ncap;
    return TL_OK;
}

static enum tl_rc u64_grow(struct tl_u64map *m) { return u64_grow_to(m, m->cap ? m->cap * 2 : 16); }

enum tl_rc tl_u64map_reserve(struct tl_u64map *m, size_t n)
{
    size_t ncap = m->cap ? m->cap : 16;
    while ((m->count + n) * 10 > ncap * 7) ncap *= 2; /* load factor <= 0.7 */
    return ncap == m->cap ? TL_OK : u64_grow_to(m, ncap);
}

void tl_u64map_prefetch(const struct tl_u64map *m, uint64_t key)
{
    if (!m->cap) return;
    size_t s = slot_of(key, m->cap);
    __builtin_prefetch(&m->keys[s]);
    __builtin_prefetch(&m->vals[s]);
}

/* Slot of key (non-zero, cap > 0): where it is, or the empty slot that
 * ends its probe sequence. */
static size_t probe(const struct tl_u64map *m, uint64_t key)
{
    size_t s = slot_of(key, m->cap);
    while (m->keys[s] && m->keys[s] != key) s = (s + 1) & (m->cap - 1);
    return s;
}

int tl_u64map_put_absent(struct tl_u64map *m, uint64_t key, uint64_t val, uint64_t *old)
{
    if (key == 0) {
        if (m->has_zero) {
            if (old) *old = m->zero_val;
            return 1;
        }
        m->has_zero = 1;
        m->zero_val = val;
        return 0;
    }
    if ((m->count + 1) * 10 > m->cap * 7 && u64_grow(m) != TL_OK) return -1;
    size_t s = probe(m, key);
    if (m->keys[s]) {
        if (old) *old = m->vals[s];
        return 1;
    }
    m->keys[s] = key;
    m->vals[s] = val;
    m->count++;
    return 0;
}

enum tl_rc tl_u64map_put(struct tl_u64map *m, uint64_t key, uint64_t val)
{
    if (key == 0) {
        m->has_zero = 1;
        m->zero_val = val;
        return TL_OK;
    }
    if ((m->count + 1) * 10 > m->cap * 7) {
        enum tl_rc rc = u64_grow(m);
        if (rc) return rc;
    }
    size_t s = probe(m, key);
    if (!m->keys[s]) m->count++;
    m->keys[s] = key;
    m->vals[s] = val;
    return TL_OK;
}

int tl_u64map_get(const struct tl_u64map *m, uint64_t key, uint64_t *val)
{
    if (key == 0) {
        if (m->has_zero && val) *val = m->zero_val;
        return m->has_zero;
    }
    if (!m->cap) return 0;
    size_t s = probe(m, key);
    if (!m->keys[s]) return 0;
    if (val) *val = m->vals[s];
    return 1;
}

int tl_u64map_del(struct tl_u64map *m, uint64_t key)
{
    if (key == 0) {
        int had = m->has_zero;
        m->has_zero = 0;
        return had;
    }
    if (!m->cap) return 0;
    size_t mask = m->cap - 1, s = probe(m, key);
    if (!m->keys[s]) return 0;
    /* Backward-shift deletion: move later members of the probe run into the
     * hole when their home slot does not lie cyclically in (hole, j]. */
    size_t hole = s, j = s;
    for (;;) {
        j = (j + 1) & mask;
        if (!m->keys[j]) break;
        size_t home = slot_of(m->keys[j], m->cap);
        int in_range = (hole <= j) ? (home > hole && home <= j) : (home > hole || home <= j);
        if (in_range) continue;
        m->keys[hole] = m->keys[j];
        m->vals[hole] = m->vals[j];
        hole = j;
    }
    m->keys[hole] = 0;
    m->vals[hole] = 0;
    m->count--;
    return 1;
}

size_t tl_u64map_size(const struct tl_u64map *m) { return m->count + (size_t)m->has_zero; }

/* ---- string interning ---- */

#define STRTAB_SEED 0x7461696c6f72ULL /* "tailor" */

void tl_strtab_init(struct tl_strtab *t) { memset(t, 0, sizeof *t); }

void tl_strtab_free(struct tl_strtab *t)
{
    for (uint32_t i = 0; i < t->count; i++) tl_free(t->strs[i]);
    tl_free(t->strs);
    tl_free(t->slots);
    tl_free(t->hashes);
    memset(t, 0, sizeof *t);
}

static enum tl_rc strtab_rehash(struct tl_strtab *t, size_t ncap)
{
    uint32_t *ns = tl_malloc(ncap * sizeof *ns);
    uint64_t *nh = tl_malloc(ncap * sizeof *nh);
    if (!ns || !nh) {
        tl_free(ns);
        tl_free(nh);
        return TL_ENOMEM;
    }
    memset(ns, 0xff, ncap * sizeof *ns);
    for (size_t i = 0; i < t->cap; i++) {
        if (t->slots[i] == TL_STRTAB_NONE) continue;
        size_t s = (size_t)(t->hashes[i] & (ncap - 1));
        while (ns[s] != TL_STRTAB_NONE) s = (s + 1) & (ncap - 1);
        ns[s] = t->slots[i];
        nh[s] = t->hashes[i];
    }
    tl_free(t->slots);
    tl_free(t->hashes);
    t->slots = ns;
    t->hashes = nh;
    t->cap = ncap;
    return TL_OK;
}

uint32_t tl_strtab_find(const struct tl_strtab *t, const char *s)
{
    if (!t->cap) return TL_STRTAB_NONE;
    uint64_t h = tl_hash_str(s, STRTAB_SEED);
    size_t i = (size_t)(h & (t->cap - 1));
    while (t->slots[i] != TL_STRTAB_NONE) {
        if (t->hashes[i] == h && strcmp(t->strs[t->slots[i]], s) == 0) return t->slots[i];
        i = (i + 1) & (t->cap - 1);
    }
    return TL_STRTAB_NONE;
}

enum tl_rc tl_strtab_intern(struct tl_strtab *t, const char *s, uint32_t *id)
{
    uint32_t found = tl_strtab_find(t, s);
    if (found != TL_STRTAB_NONE) {
        *id = found;
        return TL_OK;
    }
    if (t->count == TL_STRTAB_NONE - 1) return TL_ETOOBIG;
    if (((size_t)t->count + 1) * 10 > t->cap * 7) {
        enum tl_rc rc = strtab_rehash(t, t->cap ? t->cap * 2 : 64);
        if (rc) return rc;
    }
    if (t->count == t->strs_cap) {
        uint32_t nc = t->strs_cap ? t->strs_cap * 2 : 64;
        char **ns = tl_realloc(t->strs, nc * sizeof *ns);
        if (!ns) return TL_ENOMEM;
        t->strs = ns;
        t->strs_cap = nc;
    }
    char *copy = tl_strdup(s);
    if (!copy) return TL_ENOMEM;
    uint64_t h = tl_hash_str(s, STRTAB_SEED);
    size_t i = (size_t)(h & (t->cap - 1));
    while (t->slots[i] != TL_STRTAB_NONE) i = (i + 1) & (t->cap - 1);
    t->slots[i] = t->count;
    t->hashes[i] = h;
    t->strs[t->count] = copy;
    *id = t->count++;
    return TL_OK;
}

const char *tl_strtab_str(const struct tl_strtab *t, uint32_t id) { return id < t->count ? t->strs[id] : NULL; }
