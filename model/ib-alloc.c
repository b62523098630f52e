/* ib-alloc.c: large allocations that can fail, with fault injection in debug builds (see ib-alloc.h). */
#include "ib-alloc.h"

#include "ib-error.h"

#ifndef NDEBUG
/* Set once from the environment, then by tests; allocations run on worker threads, hence atomics. */
static gint fault_at;
static gint fault_count;

static void
read_environment (void)
{
  static gsize once;
  if (g_once_init_enter (&once))
    {
      const char *value = g_getenv ("IMAGEBART_FAULT_ALLOC");
      guint64 n = 0;
      if (value != NULL && g_ascii_string_to_unsigned (value, 10, 0, G_MAXINT, &n, NULL))
        g_atomic_int_set (&fault_at, (gint) n);
      g_once_init_leave (&once, 1);
    }
}
#endif

gboolean
ib_alloc_fault_point (void)
{
#ifndef NDEBUG
  read_environment ();
  gint at = g_atomic_int_get (&fault_at);
  gint count = g_atomic_int_add (&fault_count, 1) + 1;
  return at > 0 && count == at;
#else
  return FALSE;
#endif
}

gboolean
ib_alloc_faults_enabled (void)
{
#ifndef NDEBUG
  return TRUE;
#else
  return FALSE;
#endif
}

void
ib_alloc_fault_set (guint n)
{
#ifndef NDEBUG
  read_environment ();
  g_atomic_int_set (&fault_count, 0);
  g_atomic_int_set (&fault_at, (gint) MIN (n, (guint) G_MAXINT));
#endif
}

guint
ib_alloc_fault_count (void)
{
#ifndef NDEBUG
  return (guint) g_atomic_int_get (&fault_count);
#else
  return 0;
#endif
}

gpointer
ib_try_alloc_n (gsize       n,
                gsize       size,
                const char *what,
                GError    **error)
{
  gsize bytes;
  gpointer memory = NULL;

  if (!g_size_checked_mul (&bytes, n, size))
    {
      g_set_error (error, IB_ERROR, IB_ERROR_NO_MEMORY, "Not enough memory for %s (its size overflows)", what);
      return NULL;
    }
  if (!ib_alloc_fault_point ())
    memory = g_try_malloc (MAX (bytes, 1));
  if (memory == NULL)
    g_set_error (error, IB_ERROR, IB_ERROR_NO_MEMORY, "Not enough memory for %s (%" G_GSIZE_FORMAT " MiB)", what,
                 bytes >> 20);
  return memory;
}
