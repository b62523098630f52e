/* ib-vulkan-batch.c: the device's current batch: one command buffer that ops record into, barriers only
 * between accesses that conflict, and the submission that runs it and waits. */
#include "ib-vulkan-private.h"

VkCommandBuffer
ib_vk_device_begin (IbVkDevice *d,
                    GError    **error)
{
  if (!ib_vk_device_ok (d, error))
    return VK_NULL_HANDLE;
  if (!d->recording)
    {
      VkCommandBufferBeginInfo info = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
        .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT,
      };
      if (!ib_vk_check (d, d->vk.vkBeginCommandBuffer (d->command_buffer, &info), "vkBeginCommandBuffer", error))
        return VK_NULL_HANDLE;
      d->recording = TRUE;
    }
  return d->command_buffer;
}

static guint
env_count (const char *name)
{
  const char *value = g_getenv (name);
  return value != NULL ? (guint) MIN (g_ascii_strtoull (value, NULL, 10), G_MAXUINT) : 0;
}

void
ib_vk_faults_init (IbVkDevice *d)
{
#ifndef NDEBUG
  d->fault_submit = env_count ("IMAGEBART_FAULT_VK_SUBMIT");
  d->fault_alloc = env_count ("IMAGEBART_FAULT_VK_ALLOC");
#else
  (void) env_count;
  (void) d;
#endif
}

gboolean
ib_vk_fault_now (guint *count,
                 guint  at)
{
#ifndef NDEBUG
  ++*count;
  return at > 0 && *count == at;
#else
  (void) count;
  (void) at;
  return FALSE;
#endif
}

/* The command pool, descriptor sets and staging start afresh for the next batch. */
static void
reset_batch (IbVkDevice *d)
{
  d->vk.vkResetCommandPool (d->device, d->command_pool, 0);
  for (guint i = 0; i < d->descriptor_pools->len; i++)
    d->vk.vkResetDescriptorPool (d->device, g_ptr_array_index (d->descriptor_pools, i), 0);
  d->descriptor_pool_index = 0;
  d->staging_used = 0;
}

void
ib_vk_device_discard (IbVkDevice *d)
{
  if (!d->recording)
    return;
  d->recording = FALSE;
  g_array_set_size (d->accesses, 0);
  d->vk.vkEndCommandBuffer (d->command_buffer);
  ib_vk_profile_collect (d, FALSE);
  reset_batch (d);
}

void
ib_vk_device_barrier (IbVkDevice *d)
{
  VkMemoryBarrier barrier = {
    .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
    .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
    .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                     VK_ACCESS_TRANSFER_WRITE_BIT,
  };
  VkPipelineStageFlags stages = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;

  if (!d->recording || d->accesses->len == 0)
    return;
  d->vk.vkCmdPipelineBarrier (d->command_buffer, stages, stages, 0, 1, &barrier, 0, NULL, 0, NULL);
  g_array_set_size (d->accesses, 0);
}

void
ib_vk_device_access (IbVkDevice            *d,
                     const IbVkView *const *views,
                     int                    n_views,
                     guint32                written_mask)
{
  gboolean conflict = FALSE;

  for (guint i = 0; i < d->accesses->len && !conflict; i++)
    {
      const IbVkAccess *a = &g_array_index (d->accesses, IbVkAccess, i);
      for (int j = 0; j < n_views && !conflict; j++)
        conflict = (a->written || (written_mask & (1u << j))) && views[j]->buffer == a->view.buffer &&
                   views[j]->offset < a->view.offset + a->view.size &&
                   a->view.offset < views[j]->offset + views[j]->size;
    }
  if (conflict)
    ib_vk_device_barrier (d);
  for (int j = 0; j < n_views; j++)
    {
      IbVkAccess access = { *views[j], (written_mask & (1u << j)) != 0 };
      g_array_append_val (d->accesses, access);
    }
}

gboolean
ib_vk_device_submit (IbVkDevice *d,
                     GError    **error)
{
  if (!ib_vk_device_ok (d, error))
    return FALSE;
  if (!d->recording)
    return TRUE;
  d->recording = FALSE;
  g_array_set_size (d->accesses, 0);

  VkResult result = d->vk.vkEndCommandBuffer (d->command_buffer);
  if (result == VK_SUCCESS)
    {
      VkSubmitInfo submit = {
        .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
        .commandBufferCount = 1,
        .pCommandBuffers = &d->command_buffer,
      };
      result = ib_vk_fault_now (&d->n_submits, d->fault_submit)
                 ? VK_ERROR_DEVICE_LOST
                 : d->vk.vkQueueSubmit (d->queue, 1, &submit, d->fence);
      if (result == VK_SUCCESS)
        {
          result = d->vk.vkWaitForFences (d->device, 1, &d->fence, VK_TRUE, UINT64_MAX);
          if (result == VK_SUCCESS)
            result = d->vk.vkResetFences (d->device, 1, &d->fence);
        }
    }
  ib_vk_profile_collect (d, result == VK_SUCCESS);
  /* Whatever happened, the pool and the descriptor sets start afresh (after a failure the device is idle or
   * lost). */
  if (result != VK_SUCCESS)
    d->vk.vkDeviceWaitIdle (d->device);
  reset_batch (d);
  if (result != VK_SUCCESS && d->failure == NULL)
    {
      /* Any failure here leaves the batch's results undefined: no later work may build on them. */
      GError *local = NULL;
      ib_vk_check (d, result, "Running the GPU work", &local);
      if (d->failure == NULL)
        d->failure = local;
      else
        g_error_free (local);
    }
  return ib_vk_device_ok (d, error);
}
