/* ib-vulkan-buffer.c: device memory for the Vulkan engine: buffers, arenas with bump sub-allocation,
 * transfers through the staging buffer, and weight tensors split into chunks under the storage range. */
#include "ib-vulkan-private.h"

#include <string.h>

static int
find_memory_type (IbVkDevice *d,
                  uint32_t    allowed,
                  gboolean    host_visible)
{
  const VkPhysicalDeviceMemoryProperties *m = &d->memory_properties;
  /* Preferred flags first; then anything that is at least usable. */
  VkMemoryPropertyFlags wanted[2];
  if (host_visible)
    {
      wanted[0] = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT |
                  VK_MEMORY_PROPERTY_HOST_CACHED_BIT;
      wanted[1] = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT;
    }
  else
    {
      wanted[0] = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
      wanted[1] = 0;
    }
  for (int w = 0; w < 2; w++)
    for (uint32_t i = 0; i < m->memoryTypeCount; i++)
      if ((allowed & (1u << i)) && (m->memoryTypes[i].propertyFlags & wanted[w]) == wanted[w])
        return (int) i;
  return -1;
}

IbVkBuffer *
ib_vk_buffer_new (IbVkDevice *d,
                  guint64     size,
                  gboolean    host_visible,
                  GError    **error)
{
  g_autofree IbVkBuffer *b = g_new0 (IbVkBuffer, 1);
  VkMemoryRequirements needs;

  if (!ib_vk_device_ok (d, error))
    return NULL;
  if (size == 0 || size > d->limits.max_allocation)
    {
      g_set_error (error, IB_VK_ERROR, IB_VK_ERROR_OUT_OF_MEMORY,
                   "A GPU buffer of %" G_GUINT64_FORMAT " bytes is more than this device allows in one allocation "
                   "(%" G_GUINT64_FORMAT ")", size, d->limits.max_allocation);
      return NULL;
    }
  b->device = d;
  b->size = size;
  VkBufferCreateInfo info = {
    .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
    .size = size,
    .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
    .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
  };
  if (!ib_vk_check (d, d->vk.vkCreateBuffer (d->device, &info, NULL, &b->buffer), "vkCreateBuffer", error))
    return NULL;
  d->vk.vkGetBufferMemoryRequirements (d->device, b->buffer, &needs);
  int type = find_memory_type (d, needs.memoryTypeBits, host_visible);
  if (type < 0)
    {
      d->vk.vkDestroyBuffer (d->device, b->buffer, NULL);
      g_set_error (error, IB_VK_ERROR, IB_VK_ERROR_UNSUPPORTED, "The GPU offers no %s memory for storage buffers",
                   host_visible ? "host-visible" : "device");
      return NULL;
    }
  VkMemoryAllocateInfo allocate = {
    .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
    .allocationSize = needs.size,
    .memoryTypeIndex = (uint32_t) type,
  };
  VkResult allocated = ib_vk_fault_now (&d->n_allocs, d->fault_alloc)
                         ? VK_ERROR_OUT_OF_DEVICE_MEMORY
                         : d->vk.vkAllocateMemory (d->device, &allocate, NULL, &b->memory);
  if (!ib_vk_check (d, allocated, "Allocating GPU memory", error))
    {
      d->vk.vkDestroyBuffer (d->device, b->buffer, NULL);
      return NULL;
    }
  b->coherent = (d->memory_properties.memoryTypes[type].propertyFlags & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT) != 0;
  if (!ib_vk_check (d, d->vk.vkBindBufferMemory (d->device, b->buffer, b->memory, 0), "vkBindBufferMemory", error) ||
      (host_visible &&
       !ib_vk_check (d, d->vk.vkMapMemory (d->device, b->memory, 0, VK_WHOLE_SIZE, 0, &b->mapped), "vkMapMemory",
                     error)))
    {
      d->vk.vkDestroyBuffer (d->device, b->buffer, NULL);
      d->vk.vkFreeMemory (d->device, b->memory, NULL);
      return NULL;
    }
  return g_steal_pointer (&b);
}

void
ib_vk_buffer_free (IbVkBuffer *b)
{
  if (b == NULL)
    return;
  IbVkDevice *d = b->device;
  if (b->mapped != NULL)
    d->vk.vkUnmapMemory (d->device, b->memory);
  d->vk.vkDestroyBuffer (d->device, b->buffer, NULL);
  d->vk.vkFreeMemory (d->device, b->memory, NULL);
  g_free (b);
}

/* Arenas */

struct _IbVkArena
{
  IbVkDevice *device;
  guint64 block_size;
  GPtrArray *blocks;                /* IbVkBuffer */
  guint current;                    /* the block being filled */
  guint64 used;                     /* bytes used in blocks[current] */
  guint64 total_used;
};

IbVkArena *
ib_vk_arena_new (IbVkDevice *device,
                 guint64     block_size)
{
  IbVkArena *arena = g_new0 (IbVkArena, 1);

  g_return_val_if_fail (device != NULL, NULL);
  arena->device = device;
  arena->block_size = MIN (MAX (block_size, 1u << 20), device->limits.max_allocation);
  arena->blocks = g_ptr_array_new_with_free_func ((GDestroyNotify) ib_vk_buffer_free);
  return arena;
}

void
ib_vk_arena_free (IbVkArena *arena)
{
  if (arena == NULL)
    return;
  g_ptr_array_unref (arena->blocks);
  g_free (arena);
}

void
ib_vk_arena_reset (IbVkArena *arena)
{
  arena->current = 0;
  arena->used = 0;
  arena->total_used = 0;
}

guint64
ib_vk_arena_get_used (IbVkArena *arena)
{
  return arena->total_used;
}

gboolean
ib_vk_arena_alloc (IbVkArena *arena,
                   guint64    bytes,
                   IbVkView  *view,
                   GError   **error)
{
  IbVkDevice *d = arena->device;
  guint64 align = d->limits.offset_alignment;

  if (bytes == 0 || bytes > d->limits.max_range)
    {
      g_set_error (error, IB_VK_ERROR, IB_VK_ERROR_ARGUMENT,
                   "A GPU buffer range of %" G_GUINT64_FORMAT " bytes (the limit is %" G_GUINT64_FORMAT ")", bytes,
                   d->limits.max_range);
      return FALSE;
    }
  /* Whole 4-byte words, so that 16-bit data can be read as uints. */
  guint64 size = (bytes + 3) & ~(guint64) 3;
  for (;;)
    {
      if (arena->current < arena->blocks->len)
        {
          IbVkBuffer *block = g_ptr_array_index (arena->blocks, arena->current);
          guint64 start = (arena->used + align - 1) / align * align;
          if (start + size <= block->size)
            {
              view->buffer = block;
              view->offset = start;
              view->size = size;
              arena->total_used += start + size - arena->used;
              arena->used = start + size;
              return TRUE;
            }
          if (arena->current + 1 < arena->blocks->len)
            {
              arena->current++;
              arena->used = 0;
              continue;
            }
        }
      IbVkBuffer *block = ib_vk_buffer_new (d, MAX (arena->block_size, size), FALSE, error);
      if (block == NULL)
        return FALSE;
      g_ptr_array_add (arena->blocks, block);
      arena->current = arena->blocks->len - 1;
      arena->used = 0;
    }
}

/* Transfers */

static gboolean
check_range (const IbVkView *view,
             guint64         offset,
             guint64         bytes,
             GError        **error)
{
  if (offset > view->size || bytes > view->size - offset)
    {
      g_set_error (error, IB_VK_ERROR, IB_VK_ERROR_ARGUMENT,
                   "A transfer of %" G_GUINT64_FORMAT " bytes at %" G_GUINT64_FORMAT " is outside a view of %"
                   G_GUINT64_FORMAT " bytes", bytes, offset, view->size);
      return FALSE;
    }
  return TRUE;
}

gboolean
ib_vk_upload (IbVkDevice     *d,
              const IbVkView *view,
              guint64         offset,
              const void     *data,
              guint64         bytes,
              GError        **error)
{
  const guint8 *from = data;

  if (!check_range (view, offset, bytes, error))
    return FALSE;
  while (bytes > 0)
    {
      IbVkBuffer *staging = d->staging;
      guint64 start = (d->staging_used + 15) & ~(guint64) 15;
      if (start >= staging->size)
        {
          /* The staging buffer is full of this batch's uploads: run them first. */
          if (!ib_vk_device_submit (d, error))
            return FALSE;
          start = 0;
        }
      guint64 n = MIN (bytes, staging->size - start);
      VkCommandBuffer cmd = ib_vk_device_begin (d, error);
      if (cmd == VK_NULL_HANDLE)
        return FALSE;
      memcpy ((guint8 *) staging->mapped + start, from, n);
      if (!staging->coherent)
        {
          VkMappedMemoryRange range = {
            .sType = VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE,
            .memory = staging->memory,
            .offset = 0,
            .size = VK_WHOLE_SIZE,
          };
          if (!ib_vk_check (d, d->vk.vkFlushMappedMemoryRanges (d->device, 1, &range), "vkFlushMappedMemoryRanges",
                            error))
            return FALSE;
        }
      IbVkView target = { view->buffer, view->offset + offset, n };
      const IbVkView *touched[] = { &target };
      ib_vk_device_access (d, touched, 1, 1);
      VkBufferCopy region = { .srcOffset = start, .dstOffset = target.offset, .size = n };
      d->vk.vkCmdCopyBuffer (cmd, staging->buffer, view->buffer->buffer, 1, &region);
      d->staging_used = start + n;
      from += n;
      offset += n;
      bytes -= n;
    }
  return TRUE;
}

gboolean
ib_vk_download (IbVkDevice     *d,
                const IbVkView *view,
                guint64         offset,
                void           *data,
                guint64         bytes,
                GError        **error)
{
  guint8 *to = data;

  if (!check_range (view, offset, bytes, error))
    return FALSE;
  while (bytes > 0)
    {
      IbVkBuffer *staging = d->staging;
      /* Pending uploads in the staging buffer run first (this batch ends here anyway). */
      if (d->staging_used > 0 && !ib_vk_device_submit (d, error))
        return FALSE;
      guint64 start = 0, n = MIN (bytes, staging->size);
      VkCommandBuffer cmd = ib_vk_device_begin (d, error);
      if (cmd == VK_NULL_HANDLE)
        return FALSE;
      IbVkView source = { view->buffer, view->offset + offset, n };
      const IbVkView *touched[] = { &source };
      ib_vk_device_access (d, touched, 1, 0);
      VkBufferCopy region = { .srcOffset = source.offset, .dstOffset = start, .size = n };
      d->vk.vkCmdCopyBuffer (cmd, view->buffer->buffer, staging->buffer, 1, &region);
      VkMemoryBarrier barrier = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
        .dstAccessMask = VK_ACCESS_HOST_READ_BIT,
      };
      d->vk.vkCmdPipelineBarrier (cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &barrier, 0,
                                  NULL, 0, NULL);
      if (!ib_vk_device_submit (d, error))
        return FALSE;
      if (!staging->coherent)
        {
          VkMappedMemoryRange range = {
            .sType = VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE,
            .memory = staging->memory,
            .offset = 0,
            .size = VK_WHOLE_SIZE,
          };
          if (!ib_vk_check (d, d->vk.vkInvalidateMappedMemoryRanges (d->device, 1, &range),
                            "vkInvalidateMappedMemoryRanges", error))
            return FALSE;
        }
      memcpy (to, (const guint8 *) staging->mapped + start, n);
      to += n;
      offset += n;
      bytes -= n;
    }
  return TRUE;
}

void
ib_vk_fill (IbVkDevice     *d,
            const IbVkView *view,
            guint64         offset,
            guint64         bytes,
            uint32_t        pattern)
{
  g_return_if_fail (offset % 4 == 0 && bytes % 4 == 0 && offset + bytes <= view->size);
  VkCommandBuffer cmd = ib_vk_device_begin (d, NULL);
  if (cmd == VK_NULL_HANDLE || bytes == 0)
    return;
  IbVkView target = { view->buffer, view->offset + offset, bytes };
  const IbVkView *touched[] = { &target };
  ib_vk_device_access (d, touched, 1, 1);
  d->vk.vkCmdFillBuffer (cmd, view->buffer->buffer, target.offset, bytes, pattern);
}

/* Tensors */

void
ib_vk_tensor_free (IbVkTensor *tensor)
{
  if (tensor == NULL)
    return;
  g_free (tensor->chunks);
  g_free (tensor);
}

IbVkTensor *
ib_vk_tensor_upload (IbVkDevice     *d,
                     IbVkArena      *arena,
                     const IbTensor *tensor,
                     gboolean        widen,
                     GError        **error)
{
  g_autoptr (IbVkTensor) t = g_new0 (IbVkTensor, 1);

  g_return_val_if_fail (tensor != NULL && tensor->n_dims >= 1 && tensor->shape[0] > 0, NULL);
  if (tensor->dtype != IB_DTYPE_F32 && tensor->dtype != IB_DTYPE_F16 && tensor->dtype != IB_DTYPE_BF16)
    {
      g_set_error (error, IB_VK_ERROR, IB_VK_ERROR_ARGUMENT, "Tensor %s is not a float tensor", tensor->name);
      return NULL;
    }
  t->dtype = widen ? IB_DTYPE_F32 : tensor->dtype;
  t->rows = tensor->shape[0];
  t->row_len = tensor->n_elements / t->rows;
  gsize element = ib_dtype_size (t->dtype);
  guint64 row_bytes = (guint64) t->row_len * element;
  guint64 limit = ib_vk_device_max_range (d);
  if (row_bytes + 4 > limit)
    {
      g_set_error (error, IB_VK_ERROR, IB_VK_ERROR_UNSUPPORTED,
                   "A row of tensor %s (%" G_GUINT64_FORMAT " bytes) is larger than this GPU's storage range",
                   tensor->name, row_bytes);
      return NULL;
    }
  /* Chunks start on a whole word: with 16-bit elements and an odd row length, an even number of rows. */
  t->rows_per_chunk = MIN (t->rows, (int64_t) ((limit - 4) / row_bytes));
  if (element == 2 && (t->row_len & 1) && t->rows_per_chunk < t->rows)
    t->rows_per_chunk = MAX (t->rows_per_chunk & ~(int64_t) 1, 2);
  t->n_chunks = (int) ((t->rows + t->rows_per_chunk - 1) / t->rows_per_chunk);
  t->chunks = g_new0 (IbVkView, t->n_chunks);

  gsize source_element = ib_dtype_size (tensor->dtype);
  for (int c = 0; c < t->n_chunks; c++)
    {
      int64_t first = c * t->rows_per_chunk, n_rows = MIN (t->rows_per_chunk, t->rows - first);
      guint64 bytes = (guint64) n_rows * row_bytes;
      if (!ib_vk_arena_alloc (arena, bytes, &t->chunks[c], error))
        return NULL;
      if (widen && tensor->dtype != IB_DTYPE_F32)
        {
          /* Widen a few rows at a time through a bounded host buffer. */
          int64_t step = MAX (1, (int64_t) ((4u << 20) / row_bytes));
          g_autofree float *rows = g_new (float, (gsize) (MIN (step, n_rows) * t->row_len));
          for (int64_t r = 0; r < n_rows; r += step)
            {
              int64_t n = MIN (step, n_rows - r);
              ib_tensor_rows_f32 (tensor, first + r, n, rows);
              if (!ib_vk_upload (d, &t->chunks[c], (guint64) r * row_bytes, rows, (guint64) n * row_bytes, error))
                return NULL;
            }
        }
      else
        {
          const guint8 *source = (const guint8 *) tensor->data + (gsize) first * t->row_len * source_element;
          if (!ib_vk_upload (d, &t->chunks[c], 0, source, bytes, error))
            return NULL;
        }
      if (t->chunks[c].size > bytes)   /* the pad to a whole word: zero, not garbage */
        {
          guint32 zero = 0;
          if (!ib_vk_upload (d, &t->chunks[c], bytes, &zero, t->chunks[c].size - bytes, error))
            return NULL;
        }
    }
  return g_steal_pointer (&t);
}
