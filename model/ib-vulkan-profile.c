/* ib-vulkan-profile.c: per-kernel GPU times for benchmarks: a timestamp before and after each dispatch,
 * read back after each submission and added up per shader name. Off unless a benchmark turns it on. */
#include "ib-vulkan-private.h"

#include <string.h>

/* Queries are reset in blocks just before use, so that a batch resets only what it writes. */
#define RESET_BLOCK 256
#define CAPACITY (64 * RESET_BLOCK)

typedef struct
{
  const char *kernel;               /* interned */
  double flops, bytes;
} Pending;

struct _IbVkProfile
{
  VkQueryPool pool;
  guint32 used;                     /* queries written in this batch: two per dispatch */
  GArray *pending;                  /* Pending, one per timed dispatch of this batch */
  GHashTable *totals;               /* interned kernel name -> IbVkKernelTime */
  double period_ns;
  guint64 mask;
};

static void
kernel_time_clear (gpointer data)
{
  IbVkKernelTime *t = data;
  g_free (t->kernel);
  g_free (t);
}

void
ib_vk_profile_free (IbVkDevice *d)
{
  IbVkProfile *p = d->profile;

  if (p == NULL)
    return;
  if (p->pool != VK_NULL_HANDLE)
    d->vk.vkDestroyQueryPool (d->device, p->pool, NULL);
  g_array_unref (p->pending);
  g_hash_table_unref (p->totals);
  g_free (p);
  d->profile = NULL;
}

gboolean
ib_vk_device_set_profiling (IbVkDevice *d,
                            gboolean    enabled,
                            GError    **error)
{
  g_return_val_if_fail (d != NULL, FALSE);

  /* The pool may be in use by recorded work: run it first. */
  if (!ib_vk_device_submit (d, error))
    return FALSE;
  ib_vk_profile_free (d);
  if (!enabled)
    return TRUE;

  uint32_t n = 0;
  d->vki.vkGetPhysicalDeviceQueueFamilyProperties (d->physical, &n, NULL);
  g_autofree VkQueueFamilyProperties *families = g_new0 (VkQueueFamilyProperties, MAX (n, 1));
  d->vki.vkGetPhysicalDeviceQueueFamilyProperties (d->physical, &n, families);
  guint32 bits = d->queue_family < n ? families[d->queue_family].timestampValidBits : 0;
  if (bits == 0 || d->properties.limits.timestampPeriod <= 0.0f)
    {
      g_set_error (error, IB_VK_ERROR, IB_VK_ERROR_UNSUPPORTED, "The GPU %s has no timestamps on its compute queue",
                   d->properties.deviceName);
      return FALSE;
    }

  IbVkProfile *p = g_new0 (IbVkProfile, 1);
  VkQueryPoolCreateInfo info = {
    .sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
    .queryType = VK_QUERY_TYPE_TIMESTAMP,
    .queryCount = CAPACITY,
  };
  if (!ib_vk_check (d, d->vk.vkCreateQueryPool (d->device, &info, NULL, &p->pool), "vkCreateQueryPool", error))
    {
      g_free (p);
      return FALSE;
    }
  p->pending = g_array_new (FALSE, FALSE, sizeof (Pending));
  p->totals = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, kernel_time_clear);
  p->period_ns = d->properties.limits.timestampPeriod;
  p->mask = bits >= 64 ? G_MAXUINT64 : ((guint64) 1 << bits) - 1;
  d->profile = p;
  return TRUE;
}

gboolean
ib_vk_profile_reserve (IbVkDevice *d,
                       GError    **error)
{
  if (d->profile == NULL || d->profile->used + 2 <= CAPACITY)
    return TRUE;
  return ib_vk_device_submit (d, error);
}

void
ib_vk_profile_start (IbVkDevice     *d,
                     VkCommandBuffer cmd)
{
  IbVkProfile *p = d->profile;

  if (p == NULL)
    return;
  g_assert (p->used + 2 <= CAPACITY);
  /* Everything recorded before has finished when the dispatch starts: its time is its own. */
  ib_vk_device_barrier (d);
  if (p->used % RESET_BLOCK == 0)
    d->vk.vkCmdResetQueryPool (cmd, p->pool, p->used, RESET_BLOCK);
  d->vk.vkCmdWriteTimestamp (cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, p->pool, p->used);
}

void
ib_vk_profile_stop (IbVkDevice     *d,
                    VkCommandBuffer cmd,
                    const char     *name)
{
  IbVkProfile *p = d->profile;

  if (p == NULL)
    return;
  d->vk.vkCmdWriteTimestamp (cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, p->pool, p->used + 1);
  p->used += 2;
  Pending pending = { g_intern_string (name), d->next_flops, d->next_bytes };
  g_array_append_val (p->pending, pending);
  d->next_flops = d->next_bytes = 0.0;
}

void
ib_vk_profile_collect (IbVkDevice *d,
                       gboolean    ok)
{
  IbVkProfile *p = d->profile;

  d->next_flops = d->next_bytes = 0.0;
  if (p == NULL)
    return;
  if (ok && p->used > 0)
    {
      g_autofree guint64 *stamps = g_new (guint64, p->used);
      VkResult result = d->vk.vkGetQueryPoolResults (d->device, p->pool, 0, p->used, p->used * sizeof (guint64),
                                                     stamps, sizeof (guint64),
                                                     VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT);
      for (guint i = 0; result == VK_SUCCESS && i < p->pending->len; i++)
        {
          const Pending *done = &g_array_index (p->pending, Pending, i);
          IbVkKernelTime *total = g_hash_table_lookup (p->totals, done->kernel);
          if (total == NULL)
            {
              total = g_new0 (IbVkKernelTime, 1);
              total->kernel = g_strdup (done->kernel);
              g_hash_table_insert (p->totals, (gpointer) done->kernel, total);
            }
          guint64 ticks = (stamps[2 * i + 1] - stamps[2 * i]) & p->mask;
          total->dispatches++;
          total->seconds += ticks * p->period_ns * 1e-9;
          total->flops += done->flops;
          total->weight_bytes += done->bytes;
        }
    }
  p->used = 0;
  g_array_set_size (p->pending, 0);
}

static void
kernel_time_element_clear (gpointer data)
{
  g_free (((IbVkKernelTime *) data)->kernel);
}

static gint
slowest_first (gconstpointer a,
               gconstpointer b)
{
  const IbVkKernelTime *x = a, *y = b;
  return (x->seconds < y->seconds) - (x->seconds > y->seconds);
}

GArray *
ib_vk_device_get_profile (IbVkDevice *d)
{
  GArray *list = g_array_new (FALSE, FALSE, sizeof (IbVkKernelTime));
  GHashTableIter iter;
  gpointer value;

  g_return_val_if_fail (d != NULL, list);
  g_array_set_clear_func (list, kernel_time_element_clear);
  if (d->profile == NULL)
    return list;
  g_hash_table_iter_init (&iter, d->profile->totals);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      IbVkKernelTime copy = *(IbVkKernelTime *) value;
      copy.kernel = g_strdup (copy.kernel);
      g_array_append_val (list, copy);
    }
  g_array_sort (list, slowest_first);
  return list;
}
