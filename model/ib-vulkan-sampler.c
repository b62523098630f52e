/* ib-vulkan-sampler.c: recording the device-side draws, logit post-processing and raw Philox words. */
#include "ib-vulkan-sampler.h"

#include "ib-vulkan-private.h"

static gboolean
check_floats (const IbVkView *view,
              guint64         n,
              const char     *what,
              GError        **error)
{
  if (view == NULL || view->buffer == NULL || n > view->size / 4)
    {
      g_set_error (error, IB_VK_ERROR, IB_VK_ERROR_ARGUMENT, "%s needs %" G_GUINT64_FORMAT " values; its view is smaller",
                   what, n);
      return FALSE;
    }
  return TRUE;
}

gboolean
ib_vk_sample_tokens (IbVkDevice         *d,
                     const IbVkView     *tokens,
                     guint               token_base,
                     const IbVkView     *logits,
                     int                 n_rows,
                     int                 n_vocab,
                     const IbVkSampling *s,
                     const IbVkView     *forced,
                     GError            **error)
{
  g_return_val_if_fail (d != NULL && s != NULL && n_rows >= 0 && n_vocab > 0, FALSE);

  if (!(s->temperature > 0.0f))
    {
      g_set_error (error, IB_VK_ERROR, IB_VK_ERROR_ARGUMENT, "The temperature must be above 0, not %g", s->temperature);
      return FALSE;
    }
  if (!check_floats (logits, (guint64) n_rows * n_vocab, "sampling: the logits", error) ||
      !check_floats (tokens, (guint64) token_base + n_rows, "sampling: the tokens", error) ||
      (forced != NULL && !check_floats (forced, (guint64) s->first_position + n_rows, "sampling: the forced tokens",
                                        error)))
    return FALSE;
  if (n_rows == 0)
    return TRUE;
  if ((guint32) n_rows > d->limits.max_group_count[0])
    {
      g_set_error (error, IB_VK_ERROR, IB_VK_ERROR_UNSUPPORTED, "sampling: %d rows are too many workgroups", n_rows);
      return FALSE;
    }
  struct
  {
    uint32_t n_rows, n_vocab, top_k;
    float temperature;
    uint32_t seed_lo, seed_hi, level, variant, first_position, token_base, use_forced;
  } push = {
    (uint32_t) n_rows, (uint32_t) n_vocab, (uint32_t) MAX (s->top_k, 0), s->temperature,
    (uint32_t) s->stream.seed, (uint32_t) (s->stream.seed >> 32), s->stream.level, s->stream.variant,
    s->first_position, token_base, forced != NULL,
  };
  uint32_t spec[] = { ib_vk_threads_for (d, 256) };
  uint32_t groups[3] = { (uint32_t) n_rows, 1, 1 };
  const IbVkView *bindings[] = { logits, forced ? forced : logits, tokens };
  /* Sums in double where the device has it: closest to the CPU's. */
  return ib_vk_dispatch (d, d->limits.float64 ? "sample_f64" : "sample_f32", spec, 1, bindings, 3, 1u << 2, &push,
                         sizeof push, groups, error);
}

gboolean
ib_vk_finish_logits (IbVkDevice             *d,
                     const IbVkView         *logits,
                     int                     n,
                     int                     n_vocab,
                     int                     first_pos,
                     const IbVkView         *src,
                     const IbVkLogitsFinish *f,
                     GError                **error)
{
  g_return_val_if_fail (d != NULL && f != NULL && n >= 0 && n_vocab > 0 && first_pos >= 0, FALSE);

  if (!check_floats (logits, (guint64) n * n_vocab, "finishing logits: the logits", error))
    return FALSE;
  if (f->residual)
    {
      int rows_inside = CLAMP (f->xt_size - first_pos, 0, n);
      if (rows_inside > 0 &&
          !check_floats (src, (guint64) f->xt_base + first_pos + rows_inside, "finishing logits: x_t", error))
        return FALSE;
    }
  if (n == 0)
    return TRUE;
  uint32_t threads = ib_vk_threads_for (d, 256);
  struct
  {
    uint32_t n, n_vocab, first_pos, xt_size, xt_base, residual;
    float scalor, hit, miss;
  } push = {
    (uint32_t) n, (uint32_t) n_vocab, (uint32_t) first_pos, (uint32_t) MAX (f->xt_size, 0), f->xt_base,
    f->residual ? 1u : 0u, f->scalor, f->hit, f->miss,
  };
  uint32_t spec[] = { threads };
  uint32_t groups[3] = { (uint32_t) MIN ((n_vocab + threads - 1) / threads, 64), (uint32_t) n, 1 };
  if (groups[1] > d->limits.max_group_count[1])
    {
      g_set_error (error, IB_VK_ERROR, IB_VK_ERROR_UNSUPPORTED, "finishing logits: %d rows are too many workgroups", n);
      return FALSE;
    }
  const IbVkView *bindings[] = { f->residual && src != NULL ? src : logits, logits };
  return ib_vk_dispatch (d, "finish_logits", spec, 1, bindings, 2, 1u << 1, &push, sizeof push, groups, error);
}

gboolean
ib_vk_rng_words (IbVkDevice        *d,
                 const IbVkView    *out,
                 const IbRngStream *stream,
                 guint              first,
                 guint              n,
                 guint              draw,
                 GError           **error)
{
  if (!check_floats (out, (guint64) n * 4, "rng words", error))
    return FALSE;
  uint32_t threads = ib_vk_threads_for (d, 64);
  struct
  {
    uint32_t n, first, draw, level, variant, seed_lo, seed_hi;
  } push = { n, first, draw, stream->level, stream->variant, (uint32_t) stream->seed, (uint32_t) (stream->seed >> 32) };
  uint32_t spec[] = { threads };
  uint32_t groups[3] = { (n + threads - 1) / threads, 1, 1 };
  const IbVkView *bindings[] = { out };
  return n == 0 || ib_vk_dispatch (d, "rng", spec, 1, bindings, 1, 1u, &push, sizeof push, groups, error);
}
