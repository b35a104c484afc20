/* Open-addressing hash tables (linear probing, power-of-two capacity, load
 * factor <= 0.7, backward-shift deletion so no tombstones).
 *
 * tl_u64map: uint64 key -> uint64 value. Key 0 is reserved as "empty"; callers
 *   that may produce 0 must remap it (tl_u64map does so: key 0 is stored as a
 *   separate flag slot).
 * tl_strtab: interning table: string -> dense uint32 id (0..count-1) and back.
 *   Strings are copied and owned by the table. Ids are never reused. */
#ifndef TL_CORE_MAP_H
#define TL_CORE_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "tailor/rc.h"

struct tl_u64map {
    uint64_t *keys;
    uint64_t *vals;
    size_t cap;   /* power of two, 0 when empty */
    size_t count; /* entries excluding the zero key */
    int has_zero;
    uint64_t zero_val;
};

void tl_u64map_init(struct tl_u64map *m);
void tl_u64map_free(struct tl_u64map *m);
/* Insert or overwrite. */
enum tl_rc tl_u64map_put(struct tl_u64map *m, uint64_t key, uint64_t val);
/* Returns 1 and stores the value in *val (if val) when present, else 0. */
int tl_u64map_get(const struct tl_u64map *m, uint64_t key, uint64_t *val);
/* Insert key -> val unless key is present: returns 0 when inserted, 1 when
 * present (its value in *old, if old; the map is unchanged), -1 when out of
 * memory. One probe sequence instead of a get and a put. */
int tl_u64map_put_absent(struct tl_u64map *m, uint64_t key, uint64_t val, uint64_t *old);
/* Grow now so that n more keys fit without another resize. */
enum tl_rc tl_u64map_reserve(struct tl_u64map *m, size_t n);
/* Hint: bring the first slot of key's probe sequence into cache (batched
 * lookups issue it a few keys ahead). */
void tl_u64map_prefetch(const struct tl_u64map *m, uint64_t key);
/* Returns 1 if removed. */
int tl_u64map_del(struct tl_u64map *m, uint64_t key);
size_t tl_u64map_size(const struct tl_u64map *m);
/* Iteration: for (size_t i = 0; i < m->cap; i++) if (m->keys[i]) ...; plus
 * the zero key if has_zero. */

#define TL_STRTAB_NONE UINT32_MAX

struct tl_strtab {
    char **strs; /* id -> string (owned) */
    uint32_t count;
    uint32_t strs_cap;
    uint32_t *slots;  /* open addressing over ids; TL_STRTAB_NONE = empty */
    uint64_t *hashes; /* hash of the string stored at the same slot */
    size_t cap;
};

void tl_strtab_init(struct tl_strtab *t);
void tl_strtab_free(struct tl_strtab *t);
/* Id of s, adding it if new. *id receives it. */
enum tl_rc tl_strtab_intern(struct tl_strtab *t, const char *s, uint32_t *id);
/* Id of s or TL_STRTAB_NONE. */
uint32_t tl_strtab_find(const struct tl_strtab *t, const char *s);
/* String of id (NULL if out of range). */
const char *tl_strtab_str(const struct tl_strtab *t, uint32_t id);

#endif
