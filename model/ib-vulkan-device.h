/* ib-vulkan-device.h: the Vulkan engine's device: finding and choosing a GPU, device memory, and
 * recording work for it.
 *
 * The Vulkan loader is opened at run time (libvulkan.so.1), so the program starts and the CPU engine works on
 * machines without one; every entry point then fails with an IB_VK_ERROR. In a build without the Vulkan
 * engine (meson -Dvulkan=disabled, or no headers or glslc) the same functions exist and report
 * IB_VK_ERROR_NOT_BUILT.
 *
 * Work is recorded into the device's current batch (one command buffer) and runs at ib_vk_device_submit():
 * ops only record, so a whole pass is one submission and the host waits once. */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "ib-tensor.h"

G_BEGIN_DECLS

#define IB_VK_ERROR (ib_vk_error_quark ())

typedef enum
{
  IB_VK_ERROR_NOT_BUILT,        /* this build has no Vulkan engine */
  IB_VK_ERROR_NO_LOADER,        /* no Vulkan loader (libvulkan.so.1) on this system */
  IB_VK_ERROR_NO_DEVICE,        /* no usable device, or none matches the selector */
  IB_VK_ERROR_UNSUPPORTED,      /* the device lacks a limit or feature that the work needs */
  IB_VK_ERROR_OUT_OF_MEMORY,    /* host or device memory ran out */
  IB_VK_ERROR_DEVICE_LOST,      /* the driver reset or lost the device: make a new IbVkDevice */
  IB_VK_ERROR_FAILED,           /* any other Vulkan failure */
  IB_VK_ERROR_ARGUMENT,         /* a caller's parameter is out of range */
} IbVkError;

GQuark ib_vk_error_quark (void);

typedef enum
{
  IB_VK_DEVICE_DISCRETE,
  IB_VK_DEVICE_INTEGRATED,
  IB_VK_DEVICE_VIRTUAL,
  IB_VK_DEVICE_CPU,
  IB_VK_DEVICE_OTHER,
} IbVkDeviceKind;

typedef struct
{
  int index;                    /* as vkEnumeratePhysicalDevices lists it: what --device N means */
  char *name;
  IbVkDeviceKind kind;
  uint32_t vendor_id;
  uint32_t device_id;
  uint32_t api_version;
  char *driver;                 /* driver name and version, or "" */
  guint64 device_local_bytes;   /* the largest device-local heap */
  gboolean usable;              /* Vulkan 1.1 and a compute queue */
} IbVkDeviceInfo;

void            ib_vk_device_info_free      (IbVkDeviceInfo *info);
const char     *ib_vk_device_kind_name      (IbVkDeviceKind  kind);

/* TRUE when this build has the Vulkan engine (it may still find no loader or device at run time). */
gboolean        ib_vk_is_built              (void);

/* Every physical device, best first (discrete, integrated, virtual, CPU; then by memory); an array of
 * IbVkDeviceInfo. An empty array when the loader works but there is no device. */
GPtrArray      *ib_vk_list_devices          (GError        **error);

/* TRUE when a usable device that is not a CPU implementation (lavapipe, SwiftShader) exists: what
 * --backend auto asks. Never fails: no loader counts as no GPU. Looked up once a process (a GPU plugged in
 * later is found by a new process, or at once by naming it as the device). */
gboolean        ib_vk_has_gpu               (void);

typedef struct _IbVkDevice IbVkDevice;

typedef struct
{
  /* NULL or "": the best usable device; "N": the N-th of ib_vk_list_devices' indices; otherwise a
   * case-insensitive part of the device name. */
  const char *selector;
  /* Enable VK_LAYER_KHRONOS_validation and record its messages (tests). A missing layer is an error. */
  gboolean validation;
  /* Tests only: pretend maxStorageBufferRange is this many bytes (when smaller) to exercise splitting. */
  guint64 max_range_override;
  /* Do not read or write the pipeline cache in the user's cache folder (tests). */
  gboolean no_disk_cache;
} IbVkDeviceOptions;

IbVkDevice     *ib_vk_device_new            (const IbVkDeviceOptions *options,
                                             GError                 **error);
/* Waits for the device, saves the pipeline cache, frees everything. */
void            ib_vk_device_free           (IbVkDevice     *device);

const char     *ib_vk_device_get_name       (IbVkDevice     *device);
IbVkDeviceKind  ib_vk_device_get_kind       (IbVkDevice     *device);

/* The validation layer's warnings and errors so far (options.validation), as lines; NULL-terminated,
 * owned by the device, valid until the next call that may record. */
guint           ib_vk_device_n_messages     (IbVkDevice     *device);
const char     *ib_vk_device_get_message    (IbVkDevice     *device,
                                             guint           i);

/* Device memory. */

typedef struct _IbVkBuffer IbVkBuffer;

/* A range of a device buffer, as a shader binds it: offset aligned for storage buffers, size at most the
 * device's storage range. */
typedef struct
{
  IbVkBuffer *buffer;
  guint64 offset;
  guint64 size;
} IbVkView;

/* Bump allocation from a few large device-local buffers; freed together by reset or free. */
typedef struct _IbVkArena IbVkArena;

IbVkArena      *ib_vk_arena_new             (IbVkDevice     *device,
                                             guint64         block_size);
void            ib_vk_arena_free            (IbVkArena      *arena);
/* Forgets every allocation (the memory is kept for reuse); the device must be idle. */
void            ib_vk_arena_reset           (IbVkArena      *arena);
/* bytes > 0, at most ib_vk_device_max_range(). */
gboolean        ib_vk_arena_alloc           (IbVkArena      *arena,
                                             guint64         bytes,
                                             IbVkView       *view,
                                             GError        **error);
guint64         ib_vk_arena_get_used        (IbVkArena      *arena);

/* The largest view a shader may bind, in bytes (maxStorageBufferRange, or the test override). */
guint64         ib_vk_device_max_range      (IbVkDevice     *device);

/* Copies between host memory and a view, through the device's staging buffer; upload records the copy
 * into the current batch (the host data is read at once), download submits and waits. */
gboolean        ib_vk_upload                (IbVkDevice     *device,
                                             const IbVkView *view,
                                             guint64         offset,
                                             const void     *data,
                                             guint64         bytes,
                                             GError        **error);
gboolean        ib_vk_download              (IbVkDevice     *device,
                                             const IbVkView *view,
                                             guint64         offset,
                                             void           *data,
                                             guint64         bytes,
                                             GError        **error);
/* Fills a view with a 32-bit pattern (bytes a multiple of 4). */
void            ib_vk_fill                  (IbVkDevice     *device,
                                             const IbVkView *view,
                                             guint64         offset,
                                             guint64         bytes,
                                             uint32_t        pattern);

/* A weight tensor in device memory, rows split into chunks so that no chunk passes the storage range.
 * f32 stays f32; f16 and bf16 stay 16-bit unless widen (then f32). */
typedef struct
{
  IbDType dtype;                /* IB_DTYPE_F32, _F16 or _BF16 as stored on the device */
  int64_t rows;                 /* shape[0] */
  int64_t row_len;              /* n_elements / rows */
  int64_t rows_per_chunk;
  int n_chunks;
  IbVkView *chunks;
} IbVkTensor;

IbVkTensor     *ib_vk_tensor_upload         (IbVkDevice     *device,
                                             IbVkArena      *arena,
                                             const IbTensor *tensor,
                                             gboolean        widen,
                                             GError        **error);
void            ib_vk_tensor_free           (IbVkTensor     *tensor);

/* Batches. */

/* Ends the current batch, submits it and waits for it. Any device loss or error surfaces here (and in every
 * later call). */
gboolean        ib_vk_device_submit         (IbVkDevice     *device,
                                             GError        **error);

/* Profiling (benchmarks). With profiling on, each dispatch is bracketed by GPU timestamps and put behind a
 * full barrier, so that each kernel's time is its own (the work runs a little slower than without);
 * times add up per shader name. */

typedef struct
{
  char *kernel;                 /* the shader's name: matmul_f32, matvec_f16, attention, ... */
  guint64 dispatches;
  double seconds;               /* GPU time, from the timestamps */
  double flops;                 /* multiply-adds x 2, for the kernels that know theirs (else 0) */
  double weight_bytes;          /* weight bytes read, likewise */
} IbVkKernelTime;

/* Fails with IB_VK_ERROR_UNSUPPORTED when the device's queue has no timestamps. Turning it on (again)
 * clears the totals. */
gboolean        ib_vk_device_set_profiling  (IbVkDevice     *device,
                                             gboolean        enabled,
                                             GError        **error);
/* The totals so far, slowest first: an array of IbVkKernelTime (free with g_array_unref); empty when off. */
GArray         *ib_vk_device_get_profile    (IbVkDevice     *device);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (IbVkDeviceInfo, ib_vk_device_info_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (IbVkDevice, ib_vk_device_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (IbVkArena, ib_vk_arena_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (IbVkTensor, ib_vk_tensor_free)

G_END_DECLS
