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

/* n * size (plus extra) in *bytes; FALSE with an error when that overflows. */
static gboolean
checked_bytes (gsize       n,
               gsize       size,
               gsize       extra,
               const char *what,
               gsize      *bytes,
               GError    **error)
{
  if (!g_size_checked_mul (bytes, n, size) || *bytes > G_MAXSIZE - extra)
    {
      g_set_error (error, IB_ERROR, IB_ERROR_NO_MEMORY, "Not enough memory for %s (its size overflows)", what);
      return FALSE;
    }
  return TRUE;
}

static void
set_out_of_memory (GError    **error,
                   const char *what,
                   gsize       bytes)
{
  g_set_error (error, IB_ERROR, IB_ERROR_NO_MEMORY, "Not enough memory for %s (%" G_GSIZE_FORMAT " MiB)", what,
               bytes >> 20);
}

gpointer
ib_try_alloc_n (gsize       n,
                gsize       size,
                const char *what,
                GError    **error)
{
  gsize bytes;
  gpointer memory = NULL;

  if (!checked_bytes (n, size, 0, what, &bytes, error))
    return NULL;
  if (!ib_alloc_fault_point ())
    memory = g_try_malloc (MAX (bytes, 1));
  if (memory == NULL)
    set_out_of_memory (error, what, bytes);
  return memory;
}

/* Work buffers: each block starts with a header that holds its capacity, so that ib_work_free knows it. The
 * header is as large as malloc's alignment, which the buffer keeps. */
#if defined(__SANITIZE_ADDRESS__)
#define KEEP_WORK FALSE
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KEEP_WORK FALSE
#endif
#endif
#ifndef KEEP_WORK
#define KEEP_WORK TRUE
#endif

#define WORK_HEADER 2 * sizeof (gsize)
#define WORK_SLOTS 16

typedef struct
{
  gpointer block;
  gsize capacity;
} KeptWork;

static GMutex work_lock;
static KeptWork work_kept[WORK_SLOTS];
static guint work_n_kept;
static gsize work_kept_bytes;

/* The smallest kept block that holds bytes without wasting more than half of itself; NULL when none. */
static gpointer
take_kept_work (gsize bytes)
{
  gpointer block = NULL;
  guint best = WORK_SLOTS;

  g_mutex_lock (&work_lock);
  for (guint i = 0; i < work_n_kept; i++)
    if (work_kept[i].capacity >= bytes && work_kept[i].capacity / 2 <= bytes &&
        (best == WORK_SLOTS || work_kept[i].capacity < work_kept[best].capacity))
      best = i;
  if (best < WORK_SLOTS)
    {
      block = work_kept[best].block;
      work_kept_bytes -= work_kept[best].capacity;
      work_kept[best] = work_kept[--work_n_kept];
    }
  g_mutex_unlock (&work_lock);
  return block;
}

gpointer
ib_work_alloc (gsize       n,
               gsize       size,
               const char *what,
               GError    **error)
{
  gsize bytes;

  if (!checked_bytes (n, size, WORK_HEADER, what, &bytes, error))
    return NULL;
  bytes = MAX (bytes, 1);
  /* A reused block counts as an allocation too: the fault tests fail the same points either way. */
  if (ib_alloc_fault_point ())
    {
      set_out_of_memory (error, what, bytes);
      return NULL;
    }
  guint8 *block = take_kept_work (bytes);
  if (block == NULL && (block = g_try_malloc (WORK_HEADER + bytes)) != NULL)
    *(gsize *) block = bytes;
  if (block == NULL)
    {
      set_out_of_memory (error, what, bytes);
      return NULL;
    }
  return block + WORK_HEADER;
}

void
ib_work_free (gpointer memory)
{
  if (memory == NULL)
    return;

  guint8 *block = (guint8 *) memory - WORK_HEADER;
  gsize capacity = *(gsize *) block;
  gboolean kept = FALSE;

  if (KEEP_WORK)
    {
      g_mutex_lock (&work_lock);
      if (work_n_kept < WORK_SLOTS && capacity <= IB_WORK_KEEP_BYTES - work_kept_bytes)
        {
          work_kept[work_n_kept++] = (KeptWork) { block, capacity };
          work_kept_bytes += capacity;
          kept = TRUE;
        }
      g_mutex_unlock (&work_lock);
    }
  if (!kept)
    g_free (block);
}

void
ib_work_free_pointer (void *location)
{
  ib_work_free (*(gpointer *) location);
}

void
ib_work_trim (void)
{
  g_mutex_lock (&work_lock);
  while (work_n_kept > 0)
    g_free (work_kept[--work_n_kept].block);
  work_kept_bytes = 0;
  g_mutex_unlock (&work_lock);
}

gsize
ib_work_kept_bytes (void)
{
  g_mutex_lock (&work_lock);
  gsize bytes = work_kept_bytes;
  g_mutex_unlock (&work_lock);
  return bytes;
}

gboolean
ib_work_keeps_buffers (void)
{
  return KEEP_WORK;
}
