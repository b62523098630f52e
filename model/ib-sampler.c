/* ib-sampler.c: token draws, one level's decoding loop with forced tokens, and the whole chain. */
#include "ib-sampler.h"

#include <math.h>
#include <string.h>

#include "ib-alloc.h"
#include "ib-error.h"

/* The k-th largest value: the threshold below which logits are dropped. O(n) average (quickselect). */
static float
kth_largest (float *values,
             int    n,
             int    k)
{
  int lo = 0, hi = n - 1, target = k - 1;
  while (lo < hi)
    {
      float pivot = values[(lo + hi) / 2];
      int i = lo, j = hi;
      while (i <= j)
        {
          while (values[i] > pivot)
            i++;
          while (values[j] < pivot)
            j--;
          if (i <= j)
            {
              float swap = values[i];
              values[i++] = values[j];
              values[j--] = swap;
            }
        }
      if (target <= j)
        hi = j;
      else if (target >= i)
        lo = i;
      else
        break;
    }
  return values[target];
}

int
ib_sample_token (const float *logits,
                 int          n_vocab,
                 int          top_k,
                 float        temperature,
                 float        u,
                 float       *scratch)
{
  g_return_val_if_fail (n_vocab > 0 && temperature > 0.0f, 0);

  float threshold = -INFINITY;
  if (top_k > 0 && top_k < n_vocab)
    {
      memcpy (scratch, logits, n_vocab * sizeof (float));
      threshold = kth_largest (scratch, n_vocab, top_k) / temperature;
    }

  float max_value = -INFINITY;
  for (int i = 0; i < n_vocab; i++)
    {
      float scaled = logits[i] / temperature;
      if (scaled >= threshold && scaled > max_value)
        max_value = scaled;
    }

  double total = 0.0;
  for (int i = 0; i < n_vocab; i++)
    {
      float scaled = logits[i] / temperature;
      scratch[i] = scaled >= threshold ? expf (scaled - max_value) : 0.0f;
      total += scratch[i];
    }

  double target = (double) u * total, running = 0.0;
  int last_kept = 0;
  for (int i = 0; i < n_vocab; i++)
    {
      if (scratch[i] <= 0.0f)
        continue;
      running += scratch[i];
      last_kept = i;
      if (running > target)
        return i;
    }
  return last_kept;                     /* u rounded up to the very end */
}

gboolean
ib_level_sampling_is_guided (const IbLevelSampling *sampling)
{
  return sampling->null_conditioning != NULL && sampling->guidance != 0.0f && sampling->guidance != 1.0f;
}

void
ib_guide_logits (float       *logits,
                 const float *null_logits,
                 int          n,
                 float        guidance)
{
  for (int i = 0; i < n; i++)
    logits[i] = guidance * logits[i] + (1.0f - guidance) * null_logits[i];
}

/* Feeds n forced tokens in one batched step; nothing when there are none. */
static gboolean
feed (IbDecoder     *decoder,
      const int32_t *tokens,
      int            n,
      float         *logits,
      GError       **error)
{
  return n == 0 || ib_decoder_feed (decoder, tokens, n, logits, error);
}

gboolean
ib_sample_level (IbStage               *stage,
                 const int32_t         *conditioning,
                 int                    n_conditioning,
                 const int32_t         *x_t,
                 int                    n_tokens,
                 const IbLevelSampling *sampling,
                 const IbRngStream     *stream,
                 const gboolean        *known,
                 const int32_t         *known_tokens,
                 int32_t               *x_prev,
                 GCancellable          *cancellable,
                 GError               **error)
{
  return ib_sample_level_with_progress (stage, conditioning, n_conditioning, x_t, n_tokens, sampling, stream, known,
                                        known_tokens, x_prev, NULL, NULL, cancellable, error);
}

gboolean
ib_sample_level_with_progress (IbStage               *stage,
                               const int32_t         *conditioning,
                               int                    n_conditioning,
                               const int32_t         *x_t,
                               int                    n_tokens,
                               const IbLevelSampling *sampling,
                               const IbRngStream     *stream,
                               const gboolean        *known,
                               const int32_t         *known_tokens,
                               int32_t               *x_prev,
                               IbSampleProgressFunc   progress,
                               gpointer               progress_data,
                               GCancellable          *cancellable,
                               GError               **error)
{
  /* Guidance needs a second decoder in lockstep: the batched loop has it. */
  if (ib_level_sampling_is_guided (sampling))
    return ib_sample_level_batch (stage, conditioning, n_conditioning, x_t, 1, n_tokens, sampling, stream, known,
                                  known_tokens, x_prev, progress, progress_data, cancellable, error);

  const IbLevelConfig *config = ib_stage_get_config (stage);
  /* A decoder-only level reads [t, conditioning...] and never x_t (which is pure noise there). */
  gboolean decoder_only = config->variant == IB_VARIANT_GPT;
  int n_src = 1 + n_conditioning + (decoder_only ? 0 : n_tokens);
  int n_vocab = config->dec_num_tokens;
  g_autofree int32_t *src = g_new (int32_t, n_src);
  g_autofree int32_t *tgt = g_new (int32_t, n_tokens + 1);
  ib_autowork float *context = NULL;
  g_autofree float *logits = g_new (float, n_vocab);
  g_autofree float *scratch = g_new (float, n_vocab);
  g_autoptr (IbDecoder) decoder = NULL;

  if (n_src > config->enc_max_seq_len || n_tokens > config->dec_max_seq_len)
    {
      g_set_error (error, IB_ERROR, IB_ERROR_ARGUMENT, "Level %d takes at most %d encoder tokens, not %d",
                   config->t, config->enc_max_seq_len, n_src);
      return FALSE;
    }
  src[0] = config->t;
  if (n_conditioning > 0)
    memcpy (src + 1, conditioning, n_conditioning * sizeof (int32_t));
  if (!decoder_only)
    {
      memcpy (src + 1 + n_conditioning, x_t, n_tokens * sizeof (int32_t));
      context = ib_work_alloc ((gsize) n_src, config->dim * sizeof (float), "the encoder's output", error);
      if (context == NULL || !ib_stage_encode (stage, src, n_src, context, error))
        return FALSE;
    }
  if (!(decoder = ib_decoder_new (stage, src, n_src, context, error)))
    return FALSE;

  /* tgt = [sos = 0, x_{t-1}[0 .. n-2]]: the logits fed by tgt[i] predict x_{t-1}[i] (a decoder-only level
   * reads its last conditioning token in place of sos). */
  tgt[0] = 0;
  int fed = 0;                          /* tgt entries given to the decoder so far */
  int n_free = 0, n_drawn = 0;
  for (int i = 0; i < n_tokens; i++)
    n_free += known == NULL || !known[i];
  /* Forced tokens are only fed to catch up before a free one: after the last free token nothing runs. */
  for (int i = 0; i < n_tokens; i++)
    {
      if (known != NULL && known[i])
        {
          x_prev[i] = known_tokens[i];
          tgt[i + 1] = x_prev[i];
          continue;
        }
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return FALSE;
      /* Catch up on forced tokens in one batched step, then the step whose logits predict token i. */
      if (!feed (decoder, tgt + fed, i - fed, NULL, error) ||
          !ib_decoder_feed (decoder, tgt + i, 1, logits, error))
        return FALSE;
      fed = i + 1;
      float u = ib_rng_uniform (stream, (uint32_t) i, 0);
      x_prev[i] = ib_sample_token (logits, n_vocab, sampling->top_k, sampling->temperature, u, scratch);
      tgt[i + 1] = x_prev[i];
      if (progress != NULL)
        progress (++n_drawn, n_free, progress_data);
    }
  return TRUE;
}

gboolean
ib_sample_level_batch (IbStage               *stage,
                       const int32_t         *conditioning,
                       int                    n_conditioning,
                       const int32_t         *x_t,
                       int                    n_batch,
                       int                    n_tokens,
                       const IbLevelSampling *sampling,
                       const IbRngStream     *streams,
                       const gboolean        *known,
                       const int32_t         *known_tokens,
                       int32_t               *x_prev,
                       IbSampleProgressFunc   progress,
                       gpointer               progress_data,
                       GCancellable          *cancellable,
                       GError               **error)
{
  g_return_val_if_fail (n_batch >= 1, FALSE);

  const IbLevelConfig *config = ib_stage_get_config (stage);
  gboolean decoder_only = config->variant == IB_VARIANT_GPT;
  /* With guidance, sequence n_batch + b is sequence b's twin: the null conditioning, the same tokens. */
  gboolean guided = ib_level_sampling_is_guided (sampling);
  int n_seq = guided ? 2 * n_batch : n_batch;
  int n_src = 1 + n_conditioning + (decoder_only ? 0 : n_tokens);
  int n_vocab = config->dec_num_tokens;
  g_autofree int32_t *src = g_new (int32_t, n_src);
  g_autofree int32_t *tgt = g_new (int32_t, (gsize) n_batch * (n_tokens + 1));
  g_autofree int32_t *step = g_new (int32_t, n_seq);
  ib_autowork float *context = NULL;
  g_autofree float *logits = g_new (float, (gsize) n_seq * n_vocab);
  g_autofree float *scratch = g_new (float, n_vocab);
  g_autofree IbDecoder **decoders = g_new0 (IbDecoder *, n_seq);
  gboolean ok = TRUE;

  if (n_src > config->enc_max_seq_len || n_tokens > config->dec_max_seq_len)
    {
      g_set_error (error, IB_ERROR, IB_ERROR_ARGUMENT, "Level %d takes at most %d encoder tokens, not %d",
                   config->t, config->enc_max_seq_len, n_src);
      return FALSE;
    }
  if (!decoder_only &&
      !(context = ib_work_alloc ((gsize) n_src, config->dim * sizeof (float), "the encoder's output", error)))
    return FALSE;
  src[0] = config->t;
  for (int s = 0; s < n_seq && ok; s++)
    {
      const int32_t *prefix = s < n_batch ? conditioning : sampling->null_conditioning;
      if (n_conditioning > 0)
        memcpy (src + 1, prefix, n_conditioning * sizeof (int32_t));
      if (!decoder_only)
        memcpy (src + 1 + n_conditioning, x_t + (gsize) (s % n_batch) * n_tokens, n_tokens * sizeof (int32_t));
      ok = !g_cancellable_set_error_if_cancelled (cancellable, error) &&
           (decoder_only || ib_stage_encode (stage, src, n_src, context, error)) &&
           (decoders[s] = ib_decoder_new (stage, src, n_src, context, error)) != NULL;
    }
  for (int b = 0; b < n_batch; b++)
    tgt[(gsize) b * (n_tokens + 1)] = 0;

  int fed = 0, n_free = 0, n_drawn = 0;
  for (int i = 0; i < n_tokens; i++)
    n_free += known == NULL || !known[i];
  for (int i = 0; i < n_tokens && ok; i++)
    {
      if (known != NULL && known[i])
        {
          for (int b = 0; b < n_batch; b++)
            {
              x_prev[(gsize) b * n_tokens + i] = known_tokens[i];
              tgt[(gsize) b * (n_tokens + 1) + i + 1] = known_tokens[i];
            }
          continue;
        }
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        {
          ok = FALSE;
          break;
        }
      /* Each sequence catches up on its forced tokens, then one step for all of them. */
      for (int s = 0; s < n_seq && ok; s++)
        {
          int32_t *row = tgt + (gsize) (s % n_batch) * (n_tokens + 1);
          ok = feed (decoders[s], row + fed, i - fed, NULL, error);
          step[s] = row[i];
        }
      if (!ok || !(ok = ib_decoder_feed_batch (decoders, n_seq, step, logits, error)))
        break;
      fed = i + 1;
      for (int b = 0; b < n_batch; b++)
        {
          float *row_logits = logits + (gsize) b * n_vocab;
          if (guided)
            ib_guide_logits (row_logits, logits + (gsize) (n_batch + b) * n_vocab, n_vocab, sampling->guidance);
          float u = ib_rng_uniform (&streams[b], (uint32_t) i, 0);
          int32_t token = ib_sample_token (row_logits, n_vocab, sampling->top_k, sampling->temperature, u, scratch);
          x_prev[(gsize) b * n_tokens + i] = token;
          tgt[(gsize) b * (n_tokens + 1) + i + 1] = token;
        }
      if (progress != NULL)
        progress (++n_drawn, n_free, progress_data);
    }

  for (int s = 0; s < n_seq; s++)
    ib_decoder_free (decoders[s]);
  return ok;
}

gboolean
ib_sample_chain_noise (const IbModelConfig *config,
                       uint64_t             seed,
                       int32_t             *tokens,
                       GError             **error)
{
  if (config->conditioning.kind != IB_CONDITIONING_NONE)
    {
      g_set_error (error, IB_ERROR, IB_ERROR_ARGUMENT,
                   "This model is %s-conditional; an unconditional sample needs an unconditional model",
                   ib_conditioning_name (config->conditioning.kind));
      return FALSE;
    }
  /* beta_T = 1 redraws every token uniformly; level T + 1 is the noise stream. */
  IbRngStream noise = { .seed = seed, .level = (uint32_t) config->n_levels + 1, .variant = 0 };
  for (int i = 0; i < config->token_height * config->token_width; i++)
    tokens[i] = (int32_t) ib_rng_below (&noise, (uint32_t) i, 0, (uint32_t) config->n_codes);
  return TRUE;
}

gboolean
ib_sample_chain (IbModelFile  *file,
                 uint64_t      seed,
                 int32_t      *tokens,
                 GCancellable *cancellable,
                 GError      **error)
{
  const IbModelConfig *config = ib_model_file_get_config (file);
  int n_tokens = config->token_height * config->token_width;
  g_autofree int32_t *x_prev = g_new (int32_t, n_tokens);

  if (!ib_sample_chain_noise (config, seed, tokens, error))
    return FALSE;
  for (int t = config->n_levels; t >= 1; t--)
    {
      g_autoptr (IbStage) stage = ib_stage_new (file, t, error);
      if (stage == NULL)
        return FALSE;
      const IbLevelConfig *level = ib_stage_get_config (stage);
      IbLevelSampling sampling = { .top_k = level->top_k, .temperature = (float) level->temperature };
      IbRngStream stream = { .seed = seed, .level = (uint32_t) t, .variant = 0 };
      if (!ib_sample_level (stage, NULL, 0, tokens, n_tokens, &sampling, &stream, NULL, NULL, x_prev,
                            cancellable, error))
        return FALSE;
      memcpy (tokens, x_prev, n_tokens * sizeof (int32_t));
    }
  return TRUE;
}
