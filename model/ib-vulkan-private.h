/* ib-vulkan-private.h: what the Vulkan engine's .c files share: the function table loaded at run time, the
 * device struct, and recording dispatches. Not for code outside model/ib-vulkan-*.c. */
#pragma once

#define VK_NO_PROTOTYPES
#include <vulkan/vulkan.h>

#include "ib-vulkan-device.h"

G_BEGIN_DECLS

/* Functions resolved through vkGetInstanceProcAddr with a NULL instance. */
#define IB_VK_GLOBAL_FUNCTIONS(X) \
  X (vkCreateInstance) \
  X (vkEnumerateInstanceExtensionProperties) \
  X (vkEnumerateInstanceLayerProperties)

#define IB_VK_INSTANCE_FUNCTIONS(X) \
  X (vkDestroyInstance) \
  X (vkEnumeratePhysicalDevices) \
  X (vkGetPhysicalDeviceProperties) \
  X (vkGetPhysicalDeviceProperties2) \
  X (vkGetPhysicalDeviceFeatures) \
  X (vkGetPhysicalDeviceMemoryProperties) \
  X (vkGetPhysicalDeviceQueueFamilyProperties) \
  X (vkEnumerateDeviceExtensionProperties) \
  X (vkCreateDevice) \
  X (vkGetDeviceProcAddr)

#define IB_VK_DEVICE_FUNCTIONS(X) \
  X (vkDestroyDevice) \
  X (vkGetDeviceQueue) \
  X (vkQueueSubmit) \
  X (vkDeviceWaitIdle) \
  X (vkAllocateMemory) \
  X (vkFreeMemory) \
  X (vkMapMemory) \
  X (vkUnmapMemory) \
  X (vkFlushMappedMemoryRanges) \
  X (vkInvalidateMappedMemoryRanges) \
  X (vkCreateBuffer) \
  X (vkDestroyBuffer) \
  X (vkGetBufferMemoryRequirements) \
  X (vkBindBufferMemory) \
  X (vkCreateShaderModule) \
  X (vkDestroyShaderModule) \
  X (vkCreateDescriptorSetLayout) \
  X (vkDestroyDescriptorSetLayout) \
  X (vkCreatePipelineLayout) \
  X (vkDestroyPipelineLayout) \
  X (vkCreateComputePipelines) \
  X (vkDestroyPipeline) \
  X (vkCreatePipelineCache) \
  X (vkDestroyPipelineCache) \
  X (vkGetPipelineCacheData) \
  X (vkCreateDescriptorPool) \
  X (vkDestroyDescriptorPool) \
  X (vkResetDescriptorPool) \
  X (vkAllocateDescriptorSets) \
  X (vkUpdateDescriptorSets) \
  X (vkCreateCommandPool) \
  X (vkDestroyCommandPool) \
  X (vkAllocateCommandBuffers) \
  X (vkResetCommandPool) \
  X (vkBeginCommandBuffer) \
  X (vkEndCommandBuffer) \
  X (vkCmdBindPipeline) \
  X (vkCmdBindDescriptorSets) \
  X (vkCmdPushConstants) \
  X (vkCmdDispatch) \
  X (vkCmdPipelineBarrier) \
  X (vkCmdCopyBuffer) \
  X (vkCmdFillBuffer) \
  X (vkCreateFence) \
  X (vkDestroyFence) \
  X (vkWaitForFences) \
  X (vkResetFences) \
  X (vkCreateQueryPool) \
  X (vkDestroyQueryPool) \
  X (vkGetQueryPoolResults) \
  X (vkCmdResetQueryPool) \
  X (vkCmdWriteTimestamp)

#define IB_VK_DECLARE(name) PFN_##name name;

typedef struct
{
  PFN_vkGetInstanceProcAddr vkGetInstanceProcAddr;
  IB_VK_GLOBAL_FUNCTIONS (IB_VK_DECLARE)
  IB_VK_INSTANCE_FUNCTIONS (IB_VK_DECLARE)
  PFN_vkCreateDebugUtilsMessengerEXT vkCreateDebugUtilsMessengerEXT;
  PFN_vkDestroyDebugUtilsMessengerEXT vkDestroyDebugUtilsMessengerEXT;
} IbVkInstanceTable;

typedef struct
{
  IB_VK_DEVICE_FUNCTIONS (IB_VK_DECLARE)
} IbVkDeviceTable;

/* What the kernels must know about the device before choosing tile and workgroup sizes. */
typedef struct
{
  guint64 max_range;                /* maxStorageBufferRange (or the test override) */
  guint64 max_allocation;           /* maxMemoryAllocationSize */
  guint64 offset_alignment;         /* minStorageBufferOffsetAlignment */
  guint64 non_coherent_atom;        /* nonCoherentAtomSize */
  guint32 max_shared_bytes;         /* maxComputeSharedMemorySize */
  guint32 max_invocations;          /* maxComputeWorkGroupInvocations */
  guint32 max_group_size[3];        /* maxComputeWorkGroupSize */
  guint32 max_group_count[3];       /* maxComputeWorkGroupCount */
  guint32 max_push_bytes;           /* maxPushConstantsSize */
  guint32 subgroup_size;            /* 0 when the device does not say */
  gboolean float64;                 /* shaderFloat64 */
} IbVkLimits;

/* The scratch ring (IbVkDevice.scratch): split-K partial results of attention and matrix products. */
#define IB_VK_SCRATCH_BYTES (32u << 20)

typedef struct _IbVkPipeline IbVkPipeline;
typedef struct _IbVkProfile IbVkProfile;

struct _IbVkBuffer
{
  IbVkDevice *device;
  VkBuffer buffer;
  VkDeviceMemory memory;
  guint64 size;
  void *mapped;                     /* host-visible buffers only */
  gboolean coherent;
};

typedef struct
{
  IbVkView view;
  gboolean written;
} IbVkAccess;

struct _IbVkDevice
{
  IbVkInstanceTable vki;
  IbVkDeviceTable vk;
  VkInstance instance;
  VkDebugUtilsMessengerEXT messenger;
  GMutex messages_lock;
  GPtrArray *messages;              /* validation warnings and errors, as text */

  VkPhysicalDevice physical;
  VkPhysicalDeviceProperties properties;
  VkPhysicalDeviceMemoryProperties memory_properties;
  IbVkDeviceKind kind;
  IbVkLimits limits;
  guint32 queue_family;
  VkDevice device;
  VkQueue queue;

  VkPipelineCache pipeline_cache;
  char *pipeline_cache_path;        /* NULL: not saved */
  GHashTable *pipelines;            /* key string -> IbVkPipeline */
  GHashTable *layouts;              /* (n_bindings, push bytes) -> IbVkLayout */

  /* The current batch. */
  VkCommandPool command_pool;
  VkCommandBuffer command_buffer;
  VkFence fence;
  gboolean recording;
  GPtrArray *descriptor_pools;
  guint descriptor_pool_index;
  GArray *accesses;                 /* IbVkAccess: ranges touched since the last barrier */

  /* Staging for transfers: host-visible, reused; uploads of one batch are packed into it. */
  IbVkBuffer *staging;
  guint64 staging_used;

  /* Scratch of split-K attention and matrix products (ib-vulkan-ops.c): partial results, taken in turn from
   * scratch_next on (wrapping), so that the attention of one sequence of a batch need not wait for another's
   * merge; the hazard tracking orders any reuse. */
  IbVkBuffer *scratch;
  guint64 scratch_next;
  /* IMAGEBART_VK_SPLIT_ATTENTION=0: every row's keys in one workgroup, for benchmarks against split-K. */
  gboolean attention_unsplit;
  /* IMAGEBART_VK_ROW_BLOCK_ATTENTION=0: many rows too get one workgroup a row (attention.comp), for benchmarks. */
  gboolean attention_by_row;
  /* The matrix product's tile (ib-vulkan-ops.c), forced for benchmarks and tests (IMAGEBART_VK_MATMUL_TILE, or
   * ib_vk_set_matmul_tile); -1: chosen per product. */
  int matmul_tile;
  /* IMAGEBART_VK_SPLIT_MATMUL=0 (or ib_vk_set_matmul_kernel): every product walks all of K in one workgroup. */
  gboolean matmul_unsplit;

  /* A device loss or failed submission; every later call fails with it. */
  GError *failure;

  /* Profiling (ib-vulkan-profile.c): NULL when off. next_flops/next_bytes describe the next dispatch. */
  IbVkProfile *profile;
  double next_flops, next_bytes;

  /* Fault injection (ib_vk_faults_init): the n-th submission / device allocation fails; 0: never. */
  guint fault_submit, fault_alloc;
  guint n_submits, n_allocs;
};

/* Sets error from a VkResult ("what" names the call) and returns FALSE; device loss is remembered. */
gboolean        ib_vk_check                 (IbVkDevice     *device,
                                             VkResult        result,
                                             const char     *what,
                                             GError        **error);
gboolean        ib_vk_device_ok             (IbVkDevice     *device,
                                             GError        **error);

IbVkBuffer     *ib_vk_buffer_new            (IbVkDevice     *device,
                                             guint64         size,
                                             gboolean        host_visible,
                                             GError        **error);
void            ib_vk_buffer_free           (IbVkBuffer     *buffer);

/* Starts the batch if none is open; returns the command buffer or NULL with error. */
VkCommandBuffer ib_vk_device_begin          (IbVkDevice     *device,
                                             GError        **error);

/* Before work that accesses views (bit i of written_mask: views[i] is written): records a barrier when it
 * touches a range that earlier work of the batch wrote, or writes a range that earlier work read; then notes
 * the accesses. */
void            ib_vk_device_access         (IbVkDevice     *device,
                                             const IbVkView *const *views,
                                             int             n_views,
                                             guint32         written_mask);
/* Ends the current batch without running it (after a failure, so that no half-recorded work runs later). */
void            ib_vk_device_discard        (IbVkDevice     *device);

/* A public entry point's result: after a failure, the half-recorded batch is dropped, so that the next call
 * does not run work that refers to memory the failed call has freed. */
static inline gboolean
ib_vk_call_done (IbVkDevice *device,
                 gboolean    ok)
{
  if (!ok)
    ib_vk_device_discard (device);
  return ok;
}

/* Fault injection for tests, only in builds without NDEBUG, read when a device is made:
 * IMAGEBART_FAULT_VK_SUBMIT=N makes the device's N-th submission report VK_ERROR_DEVICE_LOST (its work does
 * not run), IMAGEBART_FAULT_VK_ALLOC=N its N-th device memory allocation VK_ERROR_OUT_OF_DEVICE_MEMORY. */
void            ib_vk_faults_init           (IbVkDevice     *device);
/* Counts an event; TRUE when it is the one to fail. */
gboolean        ib_vk_fault_now             (guint          *count,
                                             guint           at);

/* A full compute/transfer barrier now (before the host reads, before a copy). */
void            ib_vk_device_barrier        (IbVkDevice     *device);

/* Embedded SPIR-V, generated by compute-shaders/embed-spirv.py. */
typedef struct
{
  const char *name;
  const uint32_t *code;
  gsize size;                       /* bytes */
} IbVkShaderCode;

extern const IbVkShaderCode ib_vk_shader_codes[];
extern const gsize ib_vk_n_shader_codes;

/* Records one dispatch of shader `name` with specialization constants spec[0..n_spec) (constant_id i),
 * storage buffers bound at 0..n_bindings-1 (bit i of written_mask: binding i is written), push constants,
 * and groups[3] workgroups. The pipeline is made on first use and cached. */
gboolean        ib_vk_dispatch              (IbVkDevice     *device,
                                             const char     *name,
                                             const uint32_t *spec,
                                             int             n_spec,
                                             const IbVkView *const *bindings,
                                             int             n_bindings,
                                             guint32         written_mask,
                                             const void     *push,
                                             guint32         push_bytes,
                                             const uint32_t  groups[3],
                                             GError        **error);

void            ib_vk_pipelines_free        (IbVkDevice     *device);

/* Profiling hooks (ib-vulkan-profile.c); each does nothing unless profiling is on. */
/* The work of the next dispatch: multiply-adds x 2, and weight bytes read (0 when not known). */
static inline void
ib_vk_profile_work (IbVkDevice *device,
                    double      flops,
                    double      bytes)
{
  device->next_flops = flops;
  device->next_bytes = bytes;
}
/* Before recording a dispatch: makes room for its timestamps (may submit the batch when the query pool is
 * full, so call it before the dispatch allocates anything in the batch). */
gboolean        ib_vk_profile_reserve       (IbVkDevice     *device,
                                             GError        **error);
/* Right before and after vkCmdDispatch. */
void            ib_vk_profile_start         (IbVkDevice     *device,
                                             VkCommandBuffer cmd);
void            ib_vk_profile_stop          (IbVkDevice     *device,
                                             VkCommandBuffer cmd,
                                             const char     *name);
/* After a submission: read the batch's timestamps (ok: it ran) and start afresh. */
void            ib_vk_profile_collect       (IbVkDevice     *device,
                                             gboolean        ok);
void            ib_vk_profile_free          (IbVkDevice     *device);

/* The largest power of two <= wanted that the device runs in one workgroup. */
uint32_t        ib_vk_threads_for           (IbVkDevice     *device,
                                             uint32_t        wanted);

G_END_DECLS
