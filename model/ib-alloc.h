/* ib-alloc.h: the large allocations of the model library (aligned tensor copies, unpacked weights,
 * activations, work buffers) in one place, so that running out of memory is an IB_ERROR_NO_MEMORY and never
 * an abort, and so that debug builds can make any one of them fail on purpose.
 *
 * Fault injection (builds without NDEBUG only): IMAGEBART_FAULT_ALLOC=N in the environment, or
 * ib_alloc_fault_set (N), makes the N-th large allocation from then on fail; ib_alloc_fault_count says how
 * many have been made, so that a test can fail each in turn. In release builds the switches do nothing. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* g_try_malloc with an error that says what it was for ("the VQGAN's working buffers"); n * size is
 * checked for overflow. */
gpointer  ib_try_alloc_n          (gsize        n,
                                   gsize        size,
                                   const char  *what,
                                   GError     **error);

/* Work buffers that every level allocates and frees again (activations, attention caches): as ib_try_alloc_n,
 * but freed with ib_work_free, which keeps a few of them (IB_WORK_KEEP_BYTES in all) for the next request of
 * about the same size. Memory fresh from the system costs a page fault per 4 KiB at its first touch: a fifth
 * of a small model's level went there. ib_work_trim gives the kept buffers back (an edit job does when it
 * ends). Builds with AddressSanitizer keep nothing, so that a use after free is still caught. */
#define IB_WORK_KEEP_BYTES ((gsize) 256 << 20)

gpointer  ib_work_alloc           (gsize        n,
                                   gsize        size,
                                   const char  *what,
                                   GError     **error);
void      ib_work_free            (gpointer     memory);
void      ib_work_trim            (void);
/* Bytes kept for reuse now; FALSE from keeps_buffers in sanitizer builds, which keep none. */
gsize     ib_work_kept_bytes      (void);
gboolean  ib_work_keeps_buffers   (void);
/* `ib_autowork float *x = ib_work_alloc (...)`: ib_work_free at the end of the scope, as g_autofree. */
void      ib_work_free_pointer    (void        *location);
#define ib_autowork __attribute__ ((cleanup (ib_work_free_pointer)))

/* For allocators of their own (aligned, huge pages): TRUE when this allocation is the one to fail. Counts
 * as one allocation. */
gboolean  ib_alloc_fault_point    (void);

/* FALSE in release builds, where the switches below do nothing. */
gboolean  ib_alloc_faults_enabled (void);
/* 0 turns injection off; the count restarts either way. */
void      ib_alloc_fault_set      (guint        n);
guint     ib_alloc_fault_count    (void);

G_END_DECLS
