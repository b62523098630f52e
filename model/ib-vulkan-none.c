/* ib-vulkan-none.c: the device entry points of a build without the Vulkan engine (meson -Dvulkan=disabled, or
 * no Vulkan headers or glslc at build time): each says so, so that callers fall back to the CPU engine. */
#include "ib-vulkan-device.h"

G_DEFINE_QUARK (ib-vk-error-quark, ib_vk_error)

#define NOT_BUILT "This build of ImageBART Studio has no Vulkan engine (it was built without the Vulkan headers or glslc); use the CPU engine"

gboolean
ib_vk_is_built (void)
{
  return FALSE;
}

const char *
ib_vk_device_kind_name (IbVkDeviceKind kind)
{
  return "unknown";
}

void
ib_vk_device_info_free (IbVkDeviceInfo *info)
{
  if (info == NULL)
    return;
  g_free (info->name);
  g_free (info->driver);
  g_free (info);
}

GPtrArray *
ib_vk_list_devices (GError **error)
{
  g_set_error_literal (error, IB_VK_ERROR, IB_VK_ERROR_NOT_BUILT, NOT_BUILT);
  return NULL;
}

gboolean
ib_vk_has_gpu (void)
{
  return FALSE;
}

IbVkDevice *
ib_vk_device_new (const IbVkDeviceOptions *options,
                  GError                 **error)
{
  g_set_error_literal (error, IB_VK_ERROR, IB_VK_ERROR_NOT_BUILT, NOT_BUILT);
  return NULL;
}

void
ib_vk_device_free (IbVkDevice *device)
{
  g_return_if_fail (device == NULL);
}

const char *
ib_vk_device_get_name (IbVkDevice *device)
{
  g_return_val_if_fail (device != NULL, NULL);
  return NULL;
}

IbVkDeviceKind
ib_vk_device_get_kind (IbVkDevice *device)
{
  return IB_VK_DEVICE_OTHER;
}

gboolean
ib_vk_device_set_profiling (IbVkDevice *device,
                            gboolean    enabled,
                            GError    **error)
{
  g_set_error_literal (error, IB_VK_ERROR, IB_VK_ERROR_NOT_BUILT, NOT_BUILT);
  return FALSE;
}

GArray *
ib_vk_device_get_profile (IbVkDevice *device)
{
  return g_array_new (FALSE, FALSE, sizeof (IbVkKernelTime));
}

/* The networks: never reached without a device, but the command line links them. */

#include "ib-vulkan-transformer.h"

IbVkStage *
ib_vk_stage_new (IbVkDevice  *device,
                 IbModelFile *file,
                 int          t,
                 GError     **error)
{
  g_set_error_literal (error, IB_VK_ERROR, IB_VK_ERROR_NOT_BUILT, NOT_BUILT);
  return NULL;
}

void
ib_vk_stage_free (IbVkStage *stage)
{
}

const IbLevelConfig *
ib_vk_stage_get_config (IbVkStage *stage)
{
  return NULL;
}

guint64
ib_vk_stage_get_weight_bytes (IbVkStage *stage)
{
  return 0;
}

gboolean
ib_vk_stage_encode (IbVkStage *stage, const int32_t *src, int n_src, float *context, GError **error)
{
  g_set_error_literal (error, IB_VK_ERROR, IB_VK_ERROR_NOT_BUILT, NOT_BUILT);
  return FALSE;
}

IbVkDecoder *
ib_vk_decoder_new (IbVkStage *stage, const int32_t *src, int n_src, GError **error)
{
  g_set_error_literal (error, IB_VK_ERROR, IB_VK_ERROR_NOT_BUILT, NOT_BUILT);
  return NULL;
}

void
ib_vk_decoder_free (IbVkDecoder *decoder)
{
}

gboolean
ib_vk_decoder_feed (IbVkDecoder *decoder, const int32_t *tokens, int n, float *logits, GError **error)
{
  g_set_error_literal (error, IB_VK_ERROR, IB_VK_ERROR_NOT_BUILT, NOT_BUILT);
  return FALSE;
}

int
ib_vk_decoder_get_position (IbVkDecoder *decoder)
{
  return 0;
}

void
ib_vk_decoder_rewind (IbVkDecoder *decoder, int pos)
{
}

gboolean
ib_vk_stage_logits (IbVkStage *stage, const int32_t *src, int n_src, const int32_t *tgt, int n_tgt, float *logits,
                    GError **error)
{
  g_set_error_literal (error, IB_VK_ERROR, IB_VK_ERROR_NOT_BUILT, NOT_BUILT);
  return FALSE;
}

#include "ib-vulkan-vqgan.h"

IbVkVqgan *
ib_vk_vqgan_new (IbVkDevice *device, IbModelFile *file, GError **error)
{
  g_set_error_literal (error, IB_VK_ERROR, IB_VK_ERROR_NOT_BUILT, NOT_BUILT);
  return NULL;
}

void
ib_vk_vqgan_free (IbVkVqgan *vqgan)
{
}

gboolean
ib_vk_vqgan_encode (IbVkVqgan *vqgan, const float *image, int32_t *tokens, GCancellable *cancellable,
                    GError **error)
{
  g_set_error_literal (error, IB_VK_ERROR, IB_VK_ERROR_NOT_BUILT, NOT_BUILT);
  return FALSE;
}

gboolean
ib_vk_vqgan_encode_latent (IbVkVqgan *vqgan, const float *image, float *latent, GError **error)
{
  g_set_error_literal (error, IB_VK_ERROR, IB_VK_ERROR_NOT_BUILT, NOT_BUILT);
  return FALSE;
}

gboolean
ib_vk_vqgan_decode (IbVkVqgan *vqgan, const int32_t *tokens, float *image, GCancellable *cancellable,
                    GError **error)
{
  g_set_error_literal (error, IB_VK_ERROR, IB_VK_ERROR_NOT_BUILT, NOT_BUILT);
  return FALSE;
}

gboolean
ib_vk_sample_level_batch (IbVkStage *stage, const int32_t *conditioning, int n_conditioning, const int32_t *x_t,
                          int n_batch, int n_tokens, const IbLevelSampling *sampling, const IbRngStream *streams,
                          const gboolean *known, const int32_t *known_tokens, int steps_per_submit, int32_t *x_prev,
                          IbSampleProgressFunc progress, gpointer progress_data, GCancellable *cancellable,
                          GError **error)
{
  g_set_error_literal (error, IB_VK_ERROR, IB_VK_ERROR_NOT_BUILT, NOT_BUILT);
  return FALSE;
}

gboolean
ib_vk_sample_level (IbVkStage *stage, const int32_t *conditioning, int n_conditioning, const int32_t *x_t,
                    int n_tokens, int top_k, float temperature, const IbRngStream *stream, const gboolean *known,
                    const int32_t *known_tokens, int steps_per_submit, int32_t *x_prev, GCancellable *cancellable,
                    GError **error)
{
  g_set_error_literal (error, IB_VK_ERROR, IB_VK_ERROR_NOT_BUILT, NOT_BUILT);
  return FALSE;
}

gboolean
ib_vk_sample_chain (IbVkDevice *device, IbModelFile *file, uint64_t seed, int32_t *tokens, GCancellable *cancellable,
                    GError **error)
{
  g_set_error_literal (error, IB_VK_ERROR, IB_VK_ERROR_NOT_BUILT, NOT_BUILT);
  return FALSE;
}
