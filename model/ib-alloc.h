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

/* For allocators of their own (aligned, huge pages): TRUE when this allocation is the one to fail. Counts
 * as one allocation. */
gboolean  ib_alloc_fault_point    (void);

/* FALSE in release builds, where the switches below do nothing. */
gboolean  ib_alloc_faults_enabled (void);
/* 0 turns injection off; the count restarts either way. */
void      ib_alloc_fault_set      (guint        n);
guint     ib_alloc_fault_count    (void);

G_END_DECLS
