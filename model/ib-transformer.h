/* ib-transformer.h: one level's transformer on the CPU engine, with a KV cache for the decoder: the
 * official encoder-decoder XTransformer and its Scaled and ResidualScaled variants, or the decoder-only
 * minGPT of DecoderOnlyDenoiser levels (variant "gpt").
 *
 * A minGPT level has no encoder: its src is the conditioning [t, conditioning tokens...] (no x_t), its
 * decoder takes no context, and it runs the one sequence src ++ tgt[1..]: logits row i is the output at
 * position n_src - 1 + i, and tgt[0] stands for the start token and is not read (docs/model-format.md). */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "ib-model-file.h"

G_BEGIN_DECLS

typedef struct _IbStage IbStage;
typedef struct _IbDecoder IbDecoder;

/* Binds the level's tensors (already validated by the loader). The file must outlive the stage. */
IbStage    *ib_stage_new           (IbModelFile      *file,
                                    int               t,
                                    GError          **error);
void        ib_stage_free          (IbStage          *stage);
const IbLevelConfig *ib_stage_get_config (IbStage    *stage);

/* Encoder: src (n_src tokens, each < enc_num_tokens, n_src <= enc_max_seq_len) -> context, n_src x dim
 * (after the encoder's final LayerNorm, as return_embeddings=True gives it). An IB_ERROR_ARGUMENT for a
 * minGPT level. */
gboolean    ib_stage_encode        (IbStage          *stage,
                                    const int32_t    *src,
                                    int               n_src,
                                    float            *context,
                                    GError          **error);

/* Decoder state for one sequence: the cross-attention keys and values of the context, computed once,
 * and the self-attention KV cache. src is kept (copied) for the variants' scaling and residual. For a
 * minGPT level context is NULL and src is run through the cache here; its first n_unmasked positions
 * must lie inside src. */
IbDecoder  *ib_decoder_new         (IbStage          *stage,
                                    const int32_t    *src,
                                    int               n_src,
                                    const float      *context,
                                    GError          **error);
void        ib_decoder_free        (IbDecoder        *decoder);

/* Feeds the next n tokens of tgt (positions pos .. pos+n-1, pos = tokens fed so far) in one batched pass
 * and writes their final logits, n x dec_num_tokens, including the variant's scaling and residual:
 * exactly rows pos .. pos+n-1 of what transformer(src, tgt) returns. logits may be NULL (prefill whose
 * outputs are not needed; the cache is still filled). */
gboolean    ib_decoder_feed        (IbDecoder        *decoder,
                                    const int32_t    *tokens,
                                    int               n,
                                    float            *logits,
                                    GError          **error);
/* One token for each of n decoders of the same stage (sequences in lockstep, such as an edit's variants) in
 * one batched pass: every matrix product reads its weights once for all n rows, each row attends to its own
 * cache and context. logits (NULL or n x dec_num_tokens) row i is what ib_decoder_feed would give decoders[i]
 * (up to the rounding of a product over n rows instead of one). */
gboolean    ib_decoder_feed_batch  (IbDecoder       **decoders,
                                    int               n,
                                    const int32_t    *tokens,
                                    float            *logits,
                                    GError          **error);
int         ib_decoder_get_position (IbDecoder       *decoder);
/* Forgets everything after the first pos tokens (pos <= position). */
void        ib_decoder_rewind      (IbDecoder        *decoder,
                                    int               pos);

/* transformer(src, tgt): logits n_tgt x dec_num_tokens, recomputed in full. For a minGPT level that is
 * GPT(src ++ tgt[1..]) rows n_src - 1 onwards, whatever n_unmasked. */
gboolean    ib_stage_logits        (IbStage          *stage,
                                    const int32_t    *src,
                                    int               n_src,
                                    const int32_t    *tgt,
                                    int               n_tgt,
                                    float            *logits,
                                    GError          **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (IbStage, ib_stage_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (IbDecoder, ib_decoder_free)

G_END_DECLS
