/* ib-vulkan-vqgan.h: the VQGAN image tokenizer on the Vulkan engine, the GPU twin of ib-vqgan.h, with the same
 * calls and the same meaning of every argument and result.
 *
 * The weights are uploaded once (convolutions in their file dtype, norms, biases and the used codebook rows in
 * f32); a call uploads its image or tokens, records the whole network as one batch and downloads the result.
 * Encoding picks the nearest used code on the device: where two codes are nearly as close (a near-tie within
 * the rounding of the two engines' latents), the engines may pick different ones. */
#pragma once

#include <gio/gio.h>
#include <stdint.h>

#include "ib-model-file.h"
#include "ib-vulkan-device.h"

G_BEGIN_DECLS

typedef struct _IbVkVqgan IbVkVqgan;

/* The device must outlive the IbVkVqgan; the file need not. */
IbVkVqgan *ib_vk_vqgan_new           (IbVkDevice     *device,
                                      IbModelFile    *file,
                                      GError        **error);
void       ib_vk_vqgan_free          (IbVkVqgan      *vqgan);

/* As ib_vqgan_encode, ib_vqgan_encode_latent and ib_vqgan_decode; cancellable is checked between the
 * submissions (one per resolution). */
gboolean   ib_vk_vqgan_encode        (IbVkVqgan      *vqgan,
                                      const float    *image,
                                      int32_t        *tokens,
                                      GCancellable   *cancellable,
                                      GError        **error);
gboolean   ib_vk_vqgan_encode_latent (IbVkVqgan      *vqgan,
                                      const float    *image,
                                      float          *latent,
                                      GError        **error);
gboolean   ib_vk_vqgan_decode        (IbVkVqgan      *vqgan,
                                      const int32_t  *tokens,
                                      float          *image,
                                      GCancellable   *cancellable,
                                      GError        **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (IbVkVqgan, ib_vk_vqgan_free)

G_END_DECLS
