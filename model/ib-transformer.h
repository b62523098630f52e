/* ib-transformer.h: one level's encoder-decoder transformer (official XTransformer and its Scaled and
 * ResidualScaled variants) on the CPU engine, with a KV cache for the decoder. */
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
 * (after the encoder's final LayerNorm, as return_embeddings=True gives it). */
gboolean    ib_stage_encode        (IbStage          *stage,
                                    const int32_t    *src,
                                    int               n_src,
                                    float            *context,
                                    GError          **error);

/* Decoder state for one sequence: the cross-attention keys and values of the context, computed once,
 * and the self-attention KV cache. src is kept (copied) for the variants' scaling and residual. */
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
int         ib_decoder_get_position (IbDecoder       *decoder);
/* Forgets everything after the first pos tokens (pos <= position). */
void        ib_decoder_rewind      (IbDecoder        *decoder,
                                    int               pos);

/* transformer(src, tgt): logits n_tgt x dec_num_tokens. */
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
