/* ib-sampler.h: drawing tokens from logits, running one level's decoder, and sampling the whole chain. */
#pragma once

#include <glib.h>
#include <gio/gio.h>
#include <stdint.h>

#include "ib-model-file.h"
#include "ib-rng.h"
#include "ib-transformer.h"

G_BEGIN_DECLS

/* Draws a token as the reference does: logits / temperature, keep the top_k largest (ties with the k-th
 * kept too; top_k <= 0 keeps all), softmax, then the token where the cumulative probability passes u.
 * scratch: n_vocab floats. */
int       ib_sample_token           (const float    *logits,
                                     int             n_vocab,
                                     int             top_k,
                                     float           temperature,
                                     float           u,
                                     float          *scratch);

typedef struct
{
  int top_k;
  float temperature;
  /* Classifier-free guidance: with null_conditioning (n_conditioning tokens, the model's "no prompt") and a
   * guidance other than 0 or 1, every draw reads null + guidance * (conditioned - null), the final logits of
   * the conditioned sequence and of a twin that reads null_conditioning and the same tokens. */
  float guidance;
  const int32_t *null_conditioning;
} IbLevelSampling;

/* Whether sampling asks for guidance (and so a second decoder per sequence). */
gboolean  ib_level_sampling_is_guided (const IbLevelSampling *sampling);

/* logits[i] = null_logits[i] + guidance * (logits[i] - null_logits[i]), computed as
 * guidance * logits[i] + (1 - guidance) * null_logits[i] (as the Vulkan engine does), n values. */
void      ib_guide_logits           (float          *logits,
                                     const float    *null_logits,
                                     int             n,
                                     float           guidance);

/* Runs level t: the encoder reads src = [t, conditioning..., x_t] (a decoder-only level reads only
 * [t, conditioning...]), the decoder writes x_{t-1} token by token.
 * Where known is non-NULL and known[i] is TRUE, x_{t-1}[i] is forced to known_tokens[i] (runs of forced tokens
 * are fed in one batched step; forced tokens after the last free one are not fed at all). Draws come from
 * stream at (position, draw 0). cancellable is checked once per decoding step. */
gboolean  ib_sample_level           (IbStage              *stage,
                                     const int32_t        *conditioning,
                                     int                   n_conditioning,
                                     const int32_t        *x_t,
                                     int                   n_tokens,
                                     const IbLevelSampling *sampling,
                                     const IbRngStream    *stream,
                                     const gboolean       *known,
                                     const int32_t        *known_tokens,
                                     int32_t              *x_prev,
                                     GCancellable         *cancellable,
                                     GError              **error);

/* Called after each drawn (not forced) token of a level: n_done of its n_total free tokens. */
typedef void (*IbSampleProgressFunc) (int      n_done,
                                      int      n_total,
                                      gpointer user_data);

/* ib_sample_level, reporting progress (progress may be NULL). */
gboolean  ib_sample_level_with_progress (IbStage              *stage,
                                         const int32_t        *conditioning,
                                         int                   n_conditioning,
                                         const int32_t        *x_t,
                                         int                   n_tokens,
                                         const IbLevelSampling *sampling,
                                         const IbRngStream    *stream,
                                         const gboolean       *known,
                                         const int32_t        *known_tokens,
                                         int32_t              *x_prev,
                                         IbSampleProgressFunc  progress,
                                         gpointer              progress_data,
                                         GCancellable         *cancellable,
                                         GError              **error);

/* Level t for n_batch sequences in lockstep (an edit's variants): x_t, x_prev and streams hold one entry per
 * sequence (x_t and x_prev n_tokens each, one after the other); known and known_tokens are shared. Each
 * sequence gets its own encoder pass and prefill of forced runs, and each free position one decoding step
 * for all sequences at once (ib_decoder_feed_batch), so the decoder's weights are read once per position,
 * not once per sequence. Sequence b draws what ib_sample_level draws with streams[b], up to the rounding of
 * the batched products. progress counts positions: n_done of n_total free tokens, every sequence at once.
 * With guidance (ib_level_sampling_is_guided) each sequence has a twin on the null conditioning in the same
 * batched steps; ib_sample_level then runs here with n_batch = 1. */
gboolean  ib_sample_level_batch     (IbStage              *stage,
                                     const int32_t        *conditioning,
                                     int                   n_conditioning,
                                     const int32_t        *x_t,
                                     int                   n_batch,
                                     int                   n_tokens,
                                     const IbLevelSampling *sampling,
                                     const IbRngStream    *streams,
                                     const gboolean       *known,
                                     const int32_t        *known_tokens,
                                     int32_t              *x_prev,
                                     IbSampleProgressFunc  progress,
                                     gpointer              progress_data,
                                     GCancellable         *cancellable,
                                     GError              **error);

/* The start of an unconditional sample, for every engine: x_T, uniform noise drawn from seed, into tokens
 * (token_height * token_width). FALSE with error for a conditional model. */
gboolean  ib_sample_chain_noise     (const IbModelConfig *config,
                                     uint64_t             seed,
                                     int32_t             *tokens,
                                     GError             **error);

/* An unconditional sample: x_T uniform noise, then levels T..1 with each level's default settings.
 * tokens: token_height * token_width. */
gboolean  ib_sample_chain           (IbModelFile    *file,
                                     uint64_t        seed,
                                     int32_t        *tokens,
                                     GCancellable   *cancellable,
                                     GError        **error);

G_END_DECLS
