/* ib-vulkan-pipeline.c: compute pipelines made lazily from the embedded SPIR-V and cached per
 * (shader, specialization constants), descriptor sets from per-batch pools, and recording dispatches. */
#include "ib-vulkan-private.h"

#include <string.h>

#define MAX_BINDINGS 8
#define MAX_SPEC 8
#define SETS_PER_POOL 256

typedef struct
{
  VkDescriptorSetLayout set_layout;
  VkPipelineLayout layout;
} IbVkLayout;

struct _IbVkPipeline
{
  VkPipeline pipeline;
  IbVkLayout *layout;
};

static const IbVkShaderCode *
find_shader (const char *name)
{
  for (gsize i = 0; i < ib_vk_n_shader_codes; i++)
    if (strcmp (ib_vk_shader_codes[i].name, name) == 0)
      return &ib_vk_shader_codes[i];
  return NULL;
}

static IbVkLayout *
get_layout (IbVkDevice *d,
            int         n_bindings,
            guint32     push_bytes,
            GError    **error)
{
  gpointer key = GUINT_TO_POINTER (1 + n_bindings + (push_bytes << 8));
  IbVkLayout *layout = g_hash_table_lookup (d->layouts, key);
  VkDescriptorSetLayoutBinding bindings[MAX_BINDINGS];

  if (layout != NULL)
    return layout;
  for (int i = 0; i < n_bindings; i++)
    bindings[i] = (VkDescriptorSetLayoutBinding) {
      .binding = (uint32_t) i,
      .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
      .descriptorCount = 1,
      .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
    };
  VkDescriptorSetLayoutCreateInfo set_info = {
    .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
    .bindingCount = (uint32_t) n_bindings,
    .pBindings = bindings,
  };
  layout = g_new0 (IbVkLayout, 1);
  if (!ib_vk_check (d, d->vk.vkCreateDescriptorSetLayout (d->device, &set_info, NULL, &layout->set_layout),
                    "vkCreateDescriptorSetLayout", error))
    {
      g_free (layout);
      return NULL;
    }
  VkPushConstantRange range = { .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .offset = 0, .size = push_bytes };
  VkPipelineLayoutCreateInfo info = {
    .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
    .setLayoutCount = 1,
    .pSetLayouts = &layout->set_layout,
    .pushConstantRangeCount = push_bytes > 0 ? 1 : 0,
    .pPushConstantRanges = &range,
  };
  if (!ib_vk_check (d, d->vk.vkCreatePipelineLayout (d->device, &info, NULL, &layout->layout),
                    "vkCreatePipelineLayout", error))
    {
      d->vk.vkDestroyDescriptorSetLayout (d->device, layout->set_layout, NULL);
      g_free (layout);
      return NULL;
    }
  g_hash_table_insert (d->layouts, key, layout);
  return layout;
}

static IbVkPipeline *
get_pipeline (IbVkDevice     *d,
              const char     *name,
              const uint32_t *spec,
              int             n_spec,
              int             n_bindings,
              guint32         push_bytes,
              GError        **error)
{
  GString *key = g_string_new (name);
  for (int i = 0; i < n_spec; i++)
    g_string_append_printf (key, "%c%u", i ? ',' : ':', spec[i]);
  g_string_append_printf (key, "/%d/%u", n_bindings, push_bytes);
  IbVkPipeline *pipeline = g_hash_table_lookup (d->pipelines, key->str);
  if (pipeline != NULL)
    {
      g_string_free (key, TRUE);
      return pipeline;
    }

  const IbVkShaderCode *code = find_shader (name);
  IbVkLayout *layout = code ? get_layout (d, n_bindings, push_bytes, error) : NULL;
  if (code == NULL)
    g_set_error (error, IB_VK_ERROR, IB_VK_ERROR_FAILED, "No compute shader named %s is built in", name);
  if (layout == NULL)
    {
      g_string_free (key, TRUE);
      return NULL;
    }

  VkShaderModule module;
  VkShaderModuleCreateInfo module_info = {
    .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
    .codeSize = code->size,
    .pCode = code->code,
  };
  if (!ib_vk_check (d, d->vk.vkCreateShaderModule (d->device, &module_info, NULL, &module), "vkCreateShaderModule",
                    error))
    {
      g_string_free (key, TRUE);
      return NULL;
    }
  VkSpecializationMapEntry entries[MAX_SPEC];
  for (int i = 0; i < n_spec; i++)
    entries[i] = (VkSpecializationMapEntry) { .constantID = (uint32_t) i, .offset = (uint32_t) (i * 4), .size = 4 };
  VkSpecializationInfo specialization = {
    .mapEntryCount = (uint32_t) n_spec,
    .pMapEntries = entries,
    .dataSize = (size_t) n_spec * 4,
    .pData = spec,
  };
  VkComputePipelineCreateInfo info = {
    .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
    .stage = {
      .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
      .stage = VK_SHADER_STAGE_COMPUTE_BIT,
      .module = module,
      .pName = "main",
      .pSpecializationInfo = n_spec > 0 ? &specialization : NULL,
    },
    .layout = layout->layout,
  };
  VkPipeline handle;
  VkResult result = d->vk.vkCreateComputePipelines (d->device, d->pipeline_cache, 1, &info, NULL, &handle);
  d->vk.vkDestroyShaderModule (d->device, module, NULL);
  if (!ib_vk_check (d, result, "Creating a compute pipeline", error))
    {
      g_string_free (key, TRUE);
      return NULL;
    }
  pipeline = g_new0 (IbVkPipeline, 1);
  pipeline->pipeline = handle;
  pipeline->layout = layout;
  g_hash_table_insert (d->pipelines, g_string_free (key, FALSE), pipeline);
  return pipeline;
}

void
ib_vk_pipelines_free (IbVkDevice *d)
{
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, d->pipelines);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      IbVkPipeline *pipeline = value;
      d->vk.vkDestroyPipeline (d->device, pipeline->pipeline, NULL);
      g_free (pipeline);
    }
  g_hash_table_remove_all (d->pipelines);
  g_hash_table_iter_init (&iter, d->layouts);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      IbVkLayout *layout = value;
      d->vk.vkDestroyPipelineLayout (d->device, layout->layout, NULL);
      d->vk.vkDestroyDescriptorSetLayout (d->device, layout->set_layout, NULL);
      g_free (layout);
    }
  g_hash_table_remove_all (d->layouts);
}

/* A descriptor set for this batch; the pools are reset when the batch has run. */
static VkDescriptorSet
allocate_set (IbVkDevice *d,
              IbVkLayout *layout,
              GError    **error)
{
  for (;;)
    {
      if (d->descriptor_pool_index == d->descriptor_pools->len)
        {
          VkDescriptorPoolSize size = {
            .type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
            .descriptorCount = SETS_PER_POOL * MAX_BINDINGS,
          };
          VkDescriptorPoolCreateInfo info = {
            .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
            .maxSets = SETS_PER_POOL,
            .poolSizeCount = 1,
            .pPoolSizes = &size,
          };
          VkDescriptorPool pool;
          if (!ib_vk_check (d, d->vk.vkCreateDescriptorPool (d->device, &info, NULL, &pool), "vkCreateDescriptorPool",
                            error))
            return VK_NULL_HANDLE;
          g_ptr_array_add (d->descriptor_pools, pool);
        }
      VkDescriptorSetAllocateInfo info = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
        .descriptorPool = g_ptr_array_index (d->descriptor_pools, d->descriptor_pool_index),
        .descriptorSetCount = 1,
        .pSetLayouts = &layout->set_layout,
      };
      VkDescriptorSet set;
      VkResult result = d->vk.vkAllocateDescriptorSets (d->device, &info, &set);
      if (result == VK_SUCCESS)
        return set;
      if (result != VK_ERROR_OUT_OF_POOL_MEMORY && result != VK_ERROR_FRAGMENTED_POOL)
        {
          ib_vk_check (d, result, "vkAllocateDescriptorSets", error);
          return VK_NULL_HANDLE;
        }
      d->descriptor_pool_index++;
    }
}

gboolean
ib_vk_dispatch (IbVkDevice            *d,
                const char            *name,
                const uint32_t        *spec,
                int                    n_spec,
                const IbVkView *const *bindings,
                int                    n_bindings,
                guint32                written_mask,
                const void            *push,
                guint32                push_bytes,
                const uint32_t         groups[3],
                GError               **error)
{
  g_return_val_if_fail (n_bindings >= 1 && n_bindings <= MAX_BINDINGS && n_spec >= 0 && n_spec <= MAX_SPEC, FALSE);

  if (!ib_vk_device_ok (d, error))
    return FALSE;
  if (push_bytes > d->limits.max_push_bytes)
    {
      g_set_error (error, IB_VK_ERROR, IB_VK_ERROR_UNSUPPORTED, "%s needs %u bytes of push constants; the GPU has %u",
                   name, push_bytes, d->limits.max_push_bytes);
      return FALSE;
    }
  for (int i = 0; i < 3; i++)
    if (groups[i] > d->limits.max_group_count[i])
      {
        g_set_error (error, IB_VK_ERROR, IB_VK_ERROR_UNSUPPORTED,
                     "%s needs %u workgroups along axis %d; the GPU allows %u", name, groups[i], i,
                     d->limits.max_group_count[i]);
        return FALSE;
      }
  for (int i = 0; i < n_bindings; i++)
    {
      const IbVkView *v = bindings[i];
      if (v->buffer == NULL || v->size == 0 || v->size > d->limits.max_range ||
          v->offset % d->limits.offset_alignment != 0 || v->offset + v->size > v->buffer->size)
        {
          g_set_error (error, IB_VK_ERROR, IB_VK_ERROR_ARGUMENT,
                       "%s: binding %d (%" G_GUINT64_FORMAT " bytes at %" G_GUINT64_FORMAT ") is not a valid view",
                       name, i, v->size, v->offset);
          return FALSE;
        }
    }
  if (groups[0] == 0 || groups[1] == 0 || groups[2] == 0)
    {
      ib_vk_profile_work (d, 0.0, 0.0);
      return TRUE;
    }
  if (!ib_vk_profile_reserve (d, error))
    return FALSE;

  IbVkPipeline *pipeline = get_pipeline (d, name, spec, n_spec, n_bindings, push_bytes, error);
  if (pipeline == NULL)
    return FALSE;
  VkCommandBuffer cmd = ib_vk_device_begin (d, error);
  if (cmd == VK_NULL_HANDLE)
    return FALSE;
  VkDescriptorSet set = allocate_set (d, pipeline->layout, error);
  if (set == VK_NULL_HANDLE)
    return FALSE;

  VkDescriptorBufferInfo infos[MAX_BINDINGS];
  VkWriteDescriptorSet writes[MAX_BINDINGS];
  for (int i = 0; i < n_bindings; i++)
    {
      infos[i] = (VkDescriptorBufferInfo) {
        .buffer = bindings[i]->buffer->buffer,
        .offset = bindings[i]->offset,
        .range = bindings[i]->size,
      };
      writes[i] = (VkWriteDescriptorSet) {
        .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
        .dstSet = set,
        .dstBinding = (uint32_t) i,
        .descriptorCount = 1,
        .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
        .pBufferInfo = &infos[i],
      };
    }
  d->vk.vkUpdateDescriptorSets (d->device, (uint32_t) n_bindings, writes, 0, NULL);

  ib_vk_device_access (d, bindings, n_bindings, written_mask);
  d->vk.vkCmdBindPipeline (cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline->pipeline);
  d->vk.vkCmdBindDescriptorSets (cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline->layout->layout, 0, 1, &set, 0, NULL);
  if (push_bytes > 0)
    d->vk.vkCmdPushConstants (cmd, pipeline->layout->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, push_bytes, push);
  ib_vk_profile_start (d, cmd);
  d->vk.vkCmdDispatch (cmd, groups[0], groups[1], groups[2]);
  ib_vk_profile_stop (d, cmd, name);
  return TRUE;
}
