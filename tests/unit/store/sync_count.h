/* Test helper: counts the syncs SQLite asks of the files it opens, through
 * a VFS made the default that delegates everything to the real one and only
 * replaces xSync of the files it opens (each of the real VFS's tables of
 * file methods copied once, with a counting xSync). Header-only: included
 * by the store and writer tests (single-threaded set-up; Criterion runs each
 * test in its own process). */
#ifndef TL_TEST_SYNC_COUNT_H
#define TL_TEST_SYNC_COUNT_H

#include <sqlite3.h>
#include <stdatomic.h>

#define SC_KINDS 4 /* distinct file method tables (the unix VFS: locking and no-locking files) */

static sqlite3_vfs sc_vfs;
static const sqlite3_io_methods *sc_real[SC_KINDS];
static sqlite3_io_methods sc_counted[SC_KINDS];
static int sc_kinds;
static atomic_int sc_syncs;

static int sc_sync(sqlite3_file *f, int flags)
{
    atomic_fetch_add(&sc_syncs, 1);
    int k = (int)(f->pMethods - sc_counted);
    return sc_real[k]->xSync(f, flags);
}

static int sc_open(sqlite3_vfs *v, const char *name, sqlite3_file *f, int flags, int *out)
{
    sqlite3_vfs *base = v->pAppData;
    int rc = base->xOpen(base, name, f, flags, out); /* the real VFS sees itself */
    if (rc == SQLITE_OK && f->pMethods) {
        int k = 0;
        while (k < sc_kinds && sc_real[k] != f->pMethods) k++;
        if (k == sc_kinds && k < SC_KINDS) {
            sc_real[k] = f->pMethods;
            sc_counted[k] = *f->pMethods;
            sc_counted[k].xSync = sc_sync;
            sc_kinds++;
        }
        if (k < sc_kinds) f->pMethods = &sc_counted[k];
    }
    return rc;
}

/* Make the counting VFS the default (for databases opened from now on). */
static void sync_count_install(void)
{
    sqlite3_vfs *base = sqlite3_vfs_find(NULL);
    if (base == &sc_vfs) return;
    sc_vfs = *base;
    sc_vfs.zName = "tl_sync_count";
    sc_vfs.pAppData = base;
    sc_vfs.xOpen = sc_open;
    sqlite3_vfs_register(&sc_vfs, 1);
}

static int sync_count(void) { return atomic_load(&sc_syncs); }

#endif
