/* ib-edit-chain.h: the token side of an edit: noising the unknown tokens to the start level, re-noising
 * between chain repeats, and which random stream each step draws from.
 *
 * Every draw is a pure function of (seed, stream, token position), so an edit is reproducible on any backend
 * and in any order. Streams: level t's pass r of variant v samples from level field t + 256 r (so that pass 0
 * of variant 0 draws exactly what ib_sample_chain draws); the start noise uses level field T + 1, as
 * ib_sample_chain's x_T does; re-noising after pass r uses pass r's stream with draws 1 and 2 (the sampler
 * uses draw 0). */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "ib-config.h"
#include "ib-rng.h"

G_BEGIN_DECLS

#define IB_EDIT_MAX_REPEATS 64

/* alphacum_t = prod_{s <= t} (1 - beta_s): the probability that a token of x_0 survives to x_t. */
double       ib_edit_alphacum          (const IbModelConfig *config,
                                        int                  t);

IbRngStream  ib_edit_level_stream      (guint64              seed,
                                        int                  t,
                                        int                  repeat,
                                        int                  variant);

/* x_t = x_0 where known; where unknown, q(x_t | x_0): x_0's token with probability alphacum_t, else a
 * uniform draw from the K image tokens. */
void         ib_edit_noise_to_level    (const IbModelConfig *config,
                                        int                  t,
                                        const int32_t       *x0,
                                        const gboolean      *unknown,
                                        int                  n_tokens,
                                        guint64              seed,
                                        int                  variant,
                                        int32_t             *x_t);

/* The chain schedule's re-noising after pass repeat (0-based) of n_repeats at level t: each unknown token
 * of x_prev is redrawn uniformly with probability beta' = (1 - (repeat + 1) / n_repeats) beta_t; known
 * tokens are copied. */
void         ib_edit_renoise           (const IbModelConfig *config,
                                        int                  t,
                                        int                  repeat,
                                        int                  n_repeats,
                                        const int32_t       *x_prev,
                                        const gboolean      *unknown,
                                        int                  n_tokens,
                                        guint64              seed,
                                        int                  variant,
                                        int32_t             *x_t);

G_END_DECLS
