/* ib-vqgan.h: the VQGAN image tokenizer (taming-transformers VQModel) on the CPU engine. */
#pragma once

#include <gio/gio.h>
#include <stdint.h>

#include "ib-model-file.h"

G_BEGIN_DECLS

typedef struct _IbVqgan IbVqgan;

/* Binds the first_stage_model.* tensors of the file (already validated by the loader). The file must
 * outlive the IbVqgan. */
IbVqgan  *ib_vqgan_new            (IbModelFile    *file,
                                   GError        **error);
void      ib_vqgan_free           (IbVqgan        *vqgan);

/* image: 3 x resolution x resolution, CHW, values in [-1, 1].
 * tokens: token_height * token_width model tokens (remapped: the nearest *used* code), raster order. */
gboolean  ib_vqgan_encode         (IbVqgan        *vqgan,
                                   const float    *image,
                                   int32_t        *tokens,
                                   GCancellable   *cancellable,
                                   GError        **error);

/* The pre-quantization latent (quant_conv output), embed_dim x th x tw; for tests. */
gboolean  ib_vqgan_encode_latent  (IbVqgan        *vqgan,
                                   const float    *image,
                                   float          *latent,
                                   GError        **error);

/* tokens -> image (3 x resolution x resolution, CHW, nominally [-1, 1], not clamped).
 * Fails on a token outside 0 .. K-1. Encoding and decoding stop with G_IO_ERROR_CANCELLED after the block
 * (resnet or attention) during which cancellable (may be NULL) was cancelled. */
gboolean  ib_vqgan_decode         (IbVqgan        *vqgan,
                                   const int32_t  *tokens,
                                   float          *image,
                                   GCancellable   *cancellable,
                                   GError        **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (IbVqgan, ib_vqgan_free)

G_END_DECLS
