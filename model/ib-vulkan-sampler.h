/* ib-vulkan-sampler.h: drawing tokens and finishing logits on the device, so that a level's decoding loop
 * needs no host round trip per token. The draws are those of ib_sample_token with u = ib_rng_uniform(stream,
 * position, 0): the same token whenever the logits agree. */
#pragma once

#include <glib.h>

#include "ib-rng.h"
#include "ib-vulkan-device.h"

G_BEGIN_DECLS

typedef struct
{
  int top_k;                    /* <= 0 or >= n_vocab: keep all */
  float temperature;            /* > 0 */
  IbRngStream stream;
  guint first_position;         /* row r draws for position first_position + r */
} IbVkSampling;

/* tokens[token_base + r] = the draw from logits row r (n_rows x n_vocab). forced: NULL, or int32 per
 * position, >= 0 where the token is known (then written as is, no draw). */
gboolean  ib_vk_sample_tokens   (IbVkDevice         *device,
                                 const IbVkView     *tokens,
                                 guint               token_base,
                                 const IbVkView     *logits,
                                 int                 n_rows,
                                 int                 n_vocab,
                                 const IbVkSampling *sampling,
                                 const IbVkView     *forced,
                                 GError            **error);

/* The Scaled / ResidualScaled post-processing of logits rows of positions first_pos .. first_pos + n - 1:
 * times scalor; with residual, + miss everywhere and + (hit - miss) at x_t's token, x_t read from
 * src[xt_base + position] for positions < xt_size. */
typedef struct
{
  float scalor;
  gboolean residual;
  float hit;
  float miss;
  guint xt_base;
  int xt_size;
} IbVkLogitsFinish;

gboolean  ib_vk_finish_logits   (IbVkDevice             *device,
                                 const IbVkView         *logits,
                                 int                     n,
                                 int                     n_vocab,
                                 int                     first_pos,
                                 const IbVkView         *src,
                                 const IbVkLogitsFinish *finish,
                                 GError                **error);

/* The raw Philox words (4 per position) for positions first .. first + n - 1 at one draw index (tests). */
gboolean  ib_vk_rng_words       (IbVkDevice         *device,
                                 const IbVkView     *out,
                                 const IbRngStream  *stream,
                                 guint               first,
                                 guint               n,
                                 guint               draw,
                                 GError            **error);

G_END_DECLS
