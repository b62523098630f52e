/* ib-vulkan-transformer.h: one level's transformer on the Vulkan engine, the GPU twin of ib-transformer.h
 * (encoder-decoder XTransformer levels with their Plain, Scaled and ResidualScaled variants, and decoder-only
 * minGPT levels), with the same calls and the same meaning of every argument and result.
 *
 * The stage uploads the level's weights once (matrices in their file dtype, everything else widened to f32);
 * a decoder keeps its context, cross keys and values, self-attention KV cache and tokens in device memory, so
 * a feed uploads its tokens, records one pass and downloads only the logits asked for. */
#pragma once

#include <gio/gio.h>
#include <glib.h>
#include <stdint.h>

#include "ib-rng.h"
#include "ib-sampler.h"

#include "ib-model-file.h"
#include "ib-vulkan-device.h"

G_BEGIN_DECLS

typedef struct _IbVkStage IbVkStage;
typedef struct _IbVkDecoder IbVkDecoder;

/* Binds and uploads level t's tensors. The device must outlive the stage; the file need not. */
IbVkStage   *ib_vk_stage_new            (IbVkDevice       *device,
                                         IbModelFile      *file,
                                         int               t,
                                         GError          **error);
void         ib_vk_stage_free           (IbVkStage        *stage);
const IbLevelConfig *ib_vk_stage_get_config (IbVkStage    *stage);
/* Device memory the weights take, in bytes. */
guint64      ib_vk_stage_get_weight_bytes (IbVkStage      *stage);

/* As ib_stage_encode: context is n_src x dim floats on the host. */
gboolean     ib_vk_stage_encode         (IbVkStage        *stage,
                                         const int32_t    *src,
                                         int               n_src,
                                         float            *context,
                                         GError          **error);

/* As ib_decoder_new, but the encoder runs on the device too (no context argument). */
IbVkDecoder *ib_vk_decoder_new          (IbVkStage        *stage,
                                         const int32_t    *src,
                                         int               n_src,
                                         GError          **error);
void         ib_vk_decoder_free         (IbVkDecoder      *decoder);
/* As ib_decoder_feed. */
gboolean     ib_vk_decoder_feed         (IbVkDecoder      *decoder,
                                         const int32_t    *tokens,
                                         int               n,
                                         float            *logits,
                                         GError          **error);
int          ib_vk_decoder_get_position (IbVkDecoder      *decoder);
void         ib_vk_decoder_rewind       (IbVkDecoder      *decoder,
                                         int               pos);

/* As ib_stage_logits. */
gboolean     ib_vk_stage_logits         (IbVkStage        *stage,
                                         const int32_t    *src,
                                         int               n_src,
                                         const int32_t    *tgt,
                                         int               n_tgt,
                                         float            *logits,
                                         GError          **error);

/* Decoding without host round trips */

/* As ib_sample_level (model/ib-sampler.h), with the same draws: each step's logits are finished and the token
 * drawn on the device (ib_vk_sample_tokens, u = ib_rng_uniform (stream, i, 0)) and written where the next step
 * reads its input, so the host records the level's steps without waiting for them. Forced tokens are uploaded
 * ahead and fed in one batched step before the next free one, as on the CPU. The recorded steps are submitted
 * in parts of at most steps_per_submit steps (<= 0: a default), so that no submission runs long enough to trip
 * a driver's watchdog; cancellable is checked between parts. The tokens come back once, at the end. */
gboolean     ib_vk_sample_level         (IbVkStage              *stage,
                                         const int32_t          *conditioning,
                                         int                     n_conditioning,
                                         const int32_t          *x_t,
                                         int                     n_tokens,
                                         int                     top_k,
                                         float                   temperature,
                                         const IbRngStream      *stream,
                                         const gboolean         *known,
                                         const int32_t          *known_tokens,
                                         int                     steps_per_submit,
                                         int32_t                *x_prev,
                                         GCancellable           *cancellable,
                                         GError                **error);

/* As ib_sample_level_batch: n_batch sequences (an edit's variants), x_t and x_prev n_tokens each, one after
 * the other, one stream each, known and known_tokens shared; each sequence's draws are those of
 * ib_vk_sample_level with its stream. Each sequence has its own decoder; every position's steps for all of them
 * are recorded together. progress (may be NULL) is called after each submitted part: n_done of n_free
 * positions, every sequence at once. With guidance (ib_level_sampling_is_guided), each sequence has a twin
 * decoder on the null conditioning whose logits are mixed in on the device before the draw, and which reads
 * the drawn token too. */
gboolean     ib_vk_sample_level_batch   (IbVkStage              *stage,
                                         const int32_t          *conditioning,
                                         int                     n_conditioning,
                                         const int32_t          *x_t,
                                         int                     n_batch,
                                         int                     n_tokens,
                                         const IbLevelSampling  *sampling,
                                         const IbRngStream      *streams,
                                         const gboolean         *known,
                                         const int32_t          *known_tokens,
                                         int                     steps_per_submit,
                                         int32_t                *x_prev,
                                         IbSampleProgressFunc    progress,
                                         gpointer                progress_data,
                                         GCancellable           *cancellable,
                                         GError                **error);

/* As ib_sample_chain: an unconditional sample, levels T..1, each level's stage uploaded in turn. */
gboolean     ib_vk_sample_chain         (IbVkDevice             *device,
                                         IbModelFile            *file,
                                         uint64_t                seed,
                                         int32_t                *tokens,
                                         GCancellable           *cancellable,
                                         GError                **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (IbVkStage, ib_vk_stage_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (IbVkDecoder, ib_vk_decoder_free)

G_END_DECLS
