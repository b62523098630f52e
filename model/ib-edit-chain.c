/* ib-edit-chain.c: start noise, re-noising and random streams of an edit (see ib-edit-chain.h). */
#include "ib-edit-chain.h"

#define PASS_STRIDE 256u        /* > IB_MAX_LEVELS + 1, so pass streams never meet the noise stream */

G_STATIC_ASSERT (PASS_STRIDE > IB_MAX_LEVELS + 1);

double
ib_edit_alphacum (const IbModelConfig *config,
                  int                  t)
{
  double alphacum = 1.0;
  g_return_val_if_fail (t >= 0 && t <= config->n_levels, 0.0);
  for (int s = 1; s <= t; s++)
    alphacum *= 1.0 - config->betas[s];
  return alphacum;
}

IbRngStream
ib_edit_level_stream (guint64 seed,
                      int     t,
                      int     repeat,
                      int     variant)
{
  return (IbRngStream) {
    .seed = seed,
    .level = (uint32_t) t + PASS_STRIDE * (uint32_t) repeat,
    .variant = (uint32_t) variant,
  };
}

/* Where u < keep the token stays, else a uniform draw (draw index token_draw). */
static void
redraw (const IbModelConfig *config,
        const IbRngStream   *stream,
        guint32              keep_draw,
        guint32              token_draw,
        double               keep,
        const int32_t       *in,
        const gboolean      *unknown,
        int                  n_tokens,
        int32_t             *out)
{
  for (int i = 0; i < n_tokens; i++)
    {
      out[i] = in[i];
      if (!unknown[i])
        continue;
      /* Skip the keep draw where it cannot keep, so that full noise is exactly ib_sample_chain's x_T. */
      if (keep > 0.0 && ib_rng_uniform (stream, (uint32_t) i, keep_draw) < keep)
        continue;
      out[i] = (int32_t) ib_rng_below (stream, (uint32_t) i, token_draw, (uint32_t) config->n_codes);
    }
}

void
ib_edit_noise_to_level (const IbModelConfig *config,
                        int                  t,
                        const int32_t       *x0,
                        const gboolean      *unknown,
                        int                  n_tokens,
                        guint64              seed,
                        int                  variant,
                        int32_t             *x_t)
{
  IbRngStream noise = { .seed = seed, .level = (uint32_t) config->n_levels + 1, .variant = (uint32_t) variant };
  g_return_if_fail (t >= 1 && t <= config->n_levels);
  redraw (config, &noise, 1, 0, ib_edit_alphacum (config, t), x0, unknown, n_tokens, x_t);
}

void
ib_edit_renoise (const IbModelConfig *config,
                 int                  t,
                 int                  repeat,
                 int                  n_repeats,
                 const int32_t       *x_prev,
                 const gboolean      *unknown,
                 int                  n_tokens,
                 guint64              seed,
                 int                  variant,
                 int32_t             *x_t)
{
  g_return_if_fail (t >= 1 && t <= config->n_levels && repeat >= 0 && repeat < n_repeats);
  IbRngStream stream = ib_edit_level_stream (seed, t, repeat, variant);
  double beta = (1.0 - (double) (repeat + 1) / n_repeats) * config->betas[t];
  redraw (config, &stream, 1, 2, 1.0 - beta, x_prev, unknown, n_tokens, x_t);
}
