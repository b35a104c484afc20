/* In-memory mirror of one shop's catalog: item id <-> dense index, and a
 * full copy of each item for serving. Models and profiles refer to items by
 * index; indexes are assigned on first sight (an event may name an item
 * before the catalog does: its index is reserved (an id with no item), never served) and
 * never reused while the process runs (they are not persisted).
 *
 * Concurrency: a pthread rwlock. Readers call tl_catalog_rdlock(), read
 * items with tl_catalog_get() and release; writers take the lock inside
 * upsert/delete/intern. Pointers returned by get() are valid only while the
 * read lock is held. */
#ifndef TL_STORE_CATALOG_H
#define TL_STORE_CATALOG_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "core/map.h"
#include "store/types.h"

#define TL_CATALOG_MAX_ITEMS 10000000u /* per shop */
#define TL_CAT_NONE UINT32_MAX

struct tl_catalog;

struct tl_catalog *tl_catalog_new(void);
void tl_catalog_free(struct tl_catalog *c);

/* Insert or replace (copies every string). *idx (may be NULL) receives the index. */
enum tl_rc tl_catalog_upsert(struct tl_catalog *c, const struct tl_item *it, uint32_t *idx);
/* Remove an item (its index stays reserved, get() returns NULL). TL_ENOTFOUND if absent. */
enum tl_rc tl_catalog_delete(struct tl_catalog *c, const char *id);
/* Index of id, reserving one (id with no item) when unknown. */
enum tl_rc tl_catalog_intern(struct tl_catalog *c, const char *id, uint32_t *idx);
/* Index of id or TL_CAT_NONE (nothing reserved). Takes the read lock itself. */
uint32_t tl_catalog_find(struct tl_catalog *c, const char *id);

/* Same as tl_catalog_find for a caller that already holds the read lock. */
uint32_t tl_catalog_find_locked(const struct tl_catalog *c, const char *id);

void tl_catalog_rdlock(struct tl_catalog *c);
void tl_catalog_unlock(struct tl_catalog *c);
/* Under the read lock: the item at idx, NULL for reserved ids, deleted or out of range. */
const struct tl_item *tl_catalog_get(const struct tl_catalog *c, uint32_t idx);
/* Under the read lock: the id string of idx (reserved ids included). */
const char *tl_catalog_id(const struct tl_catalog *c, uint32_t idx);
/* Under the read lock: number of indexes assigned (reserved ids included). */
uint32_t tl_catalog_size(const struct tl_catalog *c);
/* Number of real (neither reserved nor deleted) items. */
size_t tl_catalog_count(struct tl_catalog *c);
/* 1 if the item may be shown to shoppers: known, visible, available, price > 0. */
int tl_catalog_servable(const struct tl_item *it);

#endif
