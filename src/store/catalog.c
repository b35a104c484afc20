/* In-memory catalog mirror (see catalog.h). Each item is one heap block: the
 * struct tl_item followed by its strings, so replace/delete is one free. */
#include "store/catalog.h"

#include <math.h>
#include <string.h>

#include "core/alloc.h"

struct tl_catalog {
    pthread_rwlock_t lock;
    struct tl_strtab ids;
    struct tl_item **items; /* index -> item block or NULL (reserved id or deleted) */
    uint32_t cap;
    size_t live;
};

struct tl_catalog *tl_catalog_new(void)
{
    struct tl_catalog *c = tl_calloc(1, sizeof *c);
    if (!c) return NULL;
    /* Writer-preferring: under constant read traffic, catalog updates must
     * not starve (glibc's default lets readers overtake waiting writers). */
    pthread_rwlockattr_t a;
    pthread_rwlockattr_init(&a);
    pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&c->lock, &a);
    pthread_rwlockattr_destroy(&a);
    tl_strtab_init(&c->ids);
    return c;
}

void tl_catalog_free(struct tl_catalog *c)
{
    if (!c) return;
    for (uint32_t i = 0; i < c->ids.count && i < c->cap; i++) tl_free(c->items[i]);
    tl_free(c->items);
    tl_strtab_free(&c->ids);
    pthread_rwlock_destroy(&c->lock);
    tl_free(c);
}

static size_t slen(const char *s) { return s ? strlen(s) + 1 : 0; }

static const char *put(char **p, const char *s)
{
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    memcpy(*p, s, n);
    const char *r = *p;
    *p += n;
    return r;
}

static struct tl_item *clone_item(const struct tl_item *it)
{
    size_t n = sizeof *it + slen(it->id) + slen(it->title) + slen(it->description) + slen(it->url) +
               slen(it->image_url) + slen(it->currency) + slen(it->category) + slen(it->brand) + slen(it->tags_json) +
               slen(it->attrs_json);
    struct tl_item *c = tl_malloc(n);
    if (!c) return NULL;
    *c = *it;
    char *p = (char *)(c + 1);
    c->id = put(&p, it->id);
    c->title = put(&p, it->title);
    c->description = put(&p, it->description);
    c->url = put(&p, it->url);
    c->image_url = put(&p, it->image_url);
    c->currency = put(&p, it->currency);
    c->category = put(&p, it->category);
    c->brand = put(&p, it->brand);
    c->tags_json = put(&p, it->tags_json);
    c->attrs_json = put(&p, it->attrs_json);
    return c;
}

/* Caller holds the write lock. */
static enum tl_rc intern_locked(struct tl_catalog *c, const char *id, uint32_t *idx)
{
    uint32_t before = c->ids.count;
    if (before >= TL_CATALOG_MAX_ITEMS && tl_strtab_find(&c->ids, id) == TL_STRTAB_NONE) return TL_ETOOBIG;
    enum tl_rc rc = tl_strtab_intern(&c->ids, id, idx);
    if (rc) return rc;
    if (c->ids.count > c->cap) {
        uint32_t nc = c->cap ? c->cap * 2 : 1024;
        struct tl_item **ni = tl_realloc(c->items, nc * sizeof *ni);
        if (!ni) return TL_ENOMEM; /* the id stays reserved without an item */
        memset(ni + c->cap, 0, (nc - c->cap) * sizeof *ni);
        c->items = ni;
        c->cap = nc;
    }
    return TL_OK;
}

enum tl_rc tl_catalog_upsert(struct tl_catalog *c, const struct tl_item *it, uint32_t *idx)
{
    struct tl_item *copy = clone_item(it);
    if (!copy) return TL_ENOMEM;
    pthread_rwlock_wrlock(&c->lock);
    uint32_t i;
    enum tl_rc rc = intern_locked(c, it->id, &i);
    if (rc == TL_OK && i >= c->cap) rc = TL_ENOMEM;
    if (rc == TL_OK) {
        struct tl_item *old = c->items[i];
        if (old && old->created_ms && (!copy->created_ms || old->created_ms < copy->created_ms))
            copy->created_ms = old->created_ms; /* created time survives updates */
        c->items[i] = copy;
        if (!old) c->live++;
        tl_free(old);
        if (idx) *idx = i;
        copy = NULL;
    }
    pthread_rwlock_unlock(&c->lock);
    tl_free(copy);
    return rc;
}

enum tl_rc tl_catalog_delete(struct tl_catalog *c, const char *id)
{
    pthread_rwlock_wrlock(&c->lock);
    uint32_t i = tl_strtab_find(&c->ids, id);
    enum tl_rc rc = TL_ENOTFOUND;
    if (i != TL_STRTAB_NONE && i < c->cap && c->items[i]) {
        tl_free(c->items[i]);
        c->items[i] = NULL;
        c->live--;
        rc = TL_OK;
    }
    pthread_rwlock_unlock(&c->lock);
    return rc;
}

enum tl_rc tl_catalog_intern(struct tl_catalog *c, const char *id, uint32_t *idx)
{
    pthread_rwlock_rdlock(&c->lock);
    uint32_t i = tl_strtab_find(&c->ids, id);
    pthread_rwlock_unlock(&c->lock);
    if (i != TL_STRTAB_NONE) {
        *idx = i;
        return TL_OK;
    }
    pthread_rwlock_wrlock(&c->lock);
    enum tl_rc rc = intern_locked(c, id, idx);
    pthread_rwlock_unlock(&c->lock);
    return rc;
}

uint32_t tl_catalog_find(struct tl_catalog *c, const char *id)
{
    pthread_rwlock_rdlock(&c->lock);
    uint32_t i = tl_strtab_find(&c->ids, id);
    pthread_rwlock_unlock(&c->lock);
    return i == TL_STRTAB_NONE ? TL_CAT_NONE : i;
}

uint32_t tl_catalog_find_locked(const struct tl_catalog *c, const char *id)
{
    uint32_t i = tl_strtab_find(&c->ids, id);
    return i == TL_STRTAB_NONE ? TL_CAT_NONE : i;
}

void tl_catalog_rdlock(struct tl_catalog *c) { pthread_rwlock_rdlock(&c->lock); }
void tl_catalog_unlock(struct tl_catalog *c) { pthread_rwlock_unlock(&c->lock); }

const struct tl_item *tl_catalog_get(const struct tl_catalog *c, uint32_t idx)
{
    return idx < c->ids.count && idx < c->cap ? c->items[idx] : NULL;
}

const char *tl_catalog_id(const struct tl_catalog *c, uint32_t idx) { return tl_strtab_str(&c->ids, idx); }

uint32_t tl_catalog_size(const struct tl_catalog *c) { return c->ids.count; }

size_t tl_catalog_count(struct tl_catalog *c)
{
    pthread_rwlock_rdlock(&c->lock);
    size_t n = c->live;
    pthread_rwlock_unlock(&c->lock);
    return n;
}

int tl_catalog_servable(const struct tl_item *it)
{
    return it && it->visible && it->available && it->stock != 0 && !isnan(it->price) && it->price > 0;
}
