/* ib-transformer.c: one level's encoder-decoder transformer (XTransformer with wrap_decoder=False, and its
 * Scaled and ResidualScaled variants) on the CPU engine.
 *
 * Both stacks are pre-LayerNorm: x += Attn(LN(x)); x += FF(LN(x)) (the decoder adds a cross-attention
 * block between the two), then a final LayerNorm. The decoder keeps, per layer, the keys and values of
 * the context (computed once) and of every token fed so far, so a decoding step costs one pass over the
 * weights plus attention over the prefix. Buffers live in the stage call or the decoder, not in the ops. */
#include "ib-transformer.h"

#include <math.h>
#include <string.h>

#include "ib-error.h"
#include "ib-ops.h"

/* PyTorch's nn.LayerNorm default. */
#define LAYER_NORM_EPS 1e-5f

typedef struct
{
  const IbTensor *norm_weight;
  const IbTensor *norm_bias;
  const IbTensor *to_q;
  const IbTensor *to_k;
  const IbTensor *to_v;
  const IbTensor *to_out_weight;
  const IbTensor *to_out_bias;
} AttentionWeights;

typedef struct
{
  const IbTensor *norm_weight;
  const IbTensor *norm_bias;
  const IbTensor *w1;            /* net.0.0: dim -> ff_dim, then GELU */
  const IbTensor *b1;
  const IbTensor *w2;            /* net.2: ff_dim -> dim */
  const IbTensor *b2;
} FeedForwardWeights;

typedef struct
{
  AttentionWeights attn;
  FeedForwardWeights ff;
} EncoderLayer;

typedef struct
{
  AttentionWeights self_attn;
  AttentionWeights cross_attn;
  FeedForwardWeights ff;
} DecoderLayer;

struct _IbStage
{
  IbModelFile *file;
  const IbModelConfig *model;
  const IbLevelConfig *config;
  int dim;
  int ff_dim;
  int enc_inner;                 /* enc_heads * dim_head */
  int dec_inner;

  const IbTensor *enc_token_emb;
  const IbTensor *enc_pos_emb;
  const IbTensor *enc_norm_weight;
  const IbTensor *enc_norm_bias;
  EncoderLayer *enc_layers;

  const IbTensor *dec_token_emb;
  const IbTensor *dec_pos_emb;
  const IbTensor *dec_norm_weight;
  const IbTensor *dec_norm_bias;
  const IbTensor *to_logits_weight;
  const IbTensor *to_logits_bias;
  DecoderLayer *dec_layers;

  const IbTensor *log_scalors;   /* scaled variants */
};

struct _IbDecoder
{
  IbStage *stage;
  int32_t *src;
  int n_src;
  int position;

  float scalor;                  /* exp(log_scalors[t - 1]); 1 for the plain variant */
  float residual_hit;            /* log(alpha_t + (1 - alpha_t) / K) */
  float residual_miss;           /* log((1 - alpha_t) / K) */

  float *cross_kv;               /* per layer: keys, then values, n_src x dec_inner each */
  float *self_kv;                /* per layer: keys, then values, dec_max_seq_len x dec_inner each */

  float *work;                   /* activations of one feed, grown to the largest chunk */
  int work_rows;
};

/* Binding */

static const IbTensor *
bind_tensor (IbStage      *stage,
             GError      **error,
             int64_t       d0,
             int64_t       d1,
             const char   *format,
             ...) G_GNUC_PRINTF (5, 6);

/* The tensor named prefix + format, which must be float with shape [d0] (d1 = 0) or [d0, d1]. The loader
 * has checked all of this already; a stage must still not index past a tensor it was handed. */
static const IbTensor *
bind_tensor (IbStage      *stage,
             GError      **error,
             int64_t       d0,
             int64_t       d1,
             const char   *format,
             ...)
{
  va_list args;
  g_autofree char *suffix = NULL;
  g_autofree char *name = NULL;
  const IbTensor *t;

  va_start (args, format);
  suffix = g_strdup_vprintf (format, args);
  va_end (args);
  name = g_strconcat (stage->config->prefix, suffix, NULL);

  t = ib_model_file_lookup (stage->file, name);
  if (t == NULL)
    {
      g_set_error (error, IB_ERROR, IB_ERROR_INVALID,
                   "%s: level %d needs the tensor \"%s\", which is missing",
                   ib_model_file_get_path (stage->file), stage->config->t, name);
      return NULL;
    }
  if (t->dtype != IB_DTYPE_F32 && t->dtype != IB_DTYPE_F16 && t->dtype != IB_DTYPE_BF16)
    {
      g_set_error (error, IB_ERROR, IB_ERROR_INVALID, "%s: tensor \"%s\" is %s, not a float type",
                   ib_model_file_get_path (stage->file), name, ib_dtype_name (t->dtype));
      return NULL;
    }
  if (t->n_dims != (d1 > 0 ? 2 : 1) || t->shape[0] != d0 || (d1 > 0 && t->shape[1] != d1))
    {
      g_autofree char *shape = NULL;

      if (d1 > 0)
        shape = g_strdup_printf ("[%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "]", d0, d1);
      else
        shape = g_strdup_printf ("[%" G_GINT64_FORMAT "]", d0);
      g_set_error (error, IB_ERROR, IB_ERROR_INVALID,
                   "%s: tensor \"%s\" does not have the shape %s that level %d implies",
                   ib_model_file_get_path (stage->file), name, shape, stage->config->t);
      return NULL;
    }
  return t;
}

/* Entry `index` of a stack's attn_layers.layers, then the part's name. */
#define LAYER_NAME "transformer.%s.attn_layers.layers.%d.%s"

static gboolean
bind_attention (IbStage          *stage,
                AttentionWeights *w,
                const char       *stack,
                int               index,
                int               inner,
                GError          **error)
{
  int dim = stage->dim;

  return (w->norm_weight = bind_tensor (stage, error, dim, 0, LAYER_NAME, stack, index, "0.weight")) &&
         (w->norm_bias = bind_tensor (stage, error, dim, 0, LAYER_NAME, stack, index, "0.bias")) &&
         (w->to_q = bind_tensor (stage, error, inner, dim, LAYER_NAME, stack, index, "1.to_q.weight")) &&
         (w->to_k = bind_tensor (stage, error, inner, dim, LAYER_NAME, stack, index, "1.to_k.weight")) &&
         (w->to_v = bind_tensor (stage, error, inner, dim, LAYER_NAME, stack, index, "1.to_v.weight")) &&
         (w->to_out_weight = bind_tensor (stage, error, dim, inner, LAYER_NAME, stack, index,
                                          "1.to_out.weight")) &&
         (w->to_out_bias = bind_tensor (stage, error, dim, 0, LAYER_NAME, stack, index, "1.to_out.bias"));
}

static gboolean
bind_feed_forward (IbStage            *stage,
                   FeedForwardWeights *w,
                   const char         *stack,
                   int                 index,
                   GError            **error)
{
  int dim = stage->dim, ff_dim = stage->ff_dim;

  return (w->norm_weight = bind_tensor (stage, error, dim, 0, LAYER_NAME, stack, index, "0.weight")) &&
         (w->norm_bias = bind_tensor (stage, error, dim, 0, LAYER_NAME, stack, index, "0.bias")) &&
         (w->w1 = bind_tensor (stage, error, ff_dim, dim, LAYER_NAME, stack, index, "1.net.0.0.weight")) &&
         (w->b1 = bind_tensor (stage, error, ff_dim, 0, LAYER_NAME, stack, index, "1.net.0.0.bias")) &&
         (w->w2 = bind_tensor (stage, error, dim, ff_dim, LAYER_NAME, stack, index, "1.net.2.weight")) &&
         (w->b2 = bind_tensor (stage, error, dim, 0, LAYER_NAME, stack, index, "1.net.2.bias"));
}

IbStage *
ib_stage_new (IbModelFile *file,
              int          t,
              GError     **error)
{
  g_return_val_if_fail (file != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  const IbModelConfig *model = ib_model_file_get_config (file);
  if (t < 1 || t > model->n_levels)
    {
      g_set_error (error, IB_ERROR, IB_ERROR_ARGUMENT, "%s has levels 1 to %d, not %d",
                   ib_model_file_get_path (file), model->n_levels, t);
      return NULL;
    }

  const IbLevelConfig *config = &model->levels[t - 1];
  g_autoptr (IbStage) stage = g_new0 (IbStage, 1);
  stage->file = file;
  stage->model = model;
  stage->config = config;
  stage->dim = config->dim;
  stage->ff_dim = 4 * config->dim;
  stage->enc_inner = config->enc_heads * config->dim_head;
  stage->dec_inner = config->dec_heads * config->dim_head;
  g_assert (config->dim > 0 && config->dim_head > 0 && config->enc_heads > 0 && config->dec_heads > 0);
  g_assert (config->enc_depth > 0 && config->dec_depth > 0);

  int dim = stage->dim;
  if (!(stage->enc_token_emb = bind_tensor (stage, error, config->enc_num_tokens, dim,
                                            "transformer.encoder.token_emb.weight")) ||
      !(stage->enc_pos_emb = bind_tensor (stage, error, config->enc_max_seq_len, dim,
                                          "transformer.encoder.pos_emb.emb.weight")) ||
      !(stage->enc_norm_weight = bind_tensor (stage, error, dim, 0, "transformer.encoder.norm.weight")) ||
      !(stage->enc_norm_bias = bind_tensor (stage, error, dim, 0, "transformer.encoder.norm.bias")) ||
      !(stage->dec_token_emb = bind_tensor (stage, error, config->dec_num_tokens, dim,
                                            "transformer.decoder.token_emb.weight")) ||
      !(stage->dec_pos_emb = bind_tensor (stage, error, config->dec_max_seq_len, dim,
                                          "transformer.decoder.pos_emb.emb.weight")) ||
      !(stage->dec_norm_weight = bind_tensor (stage, error, dim, 0, "transformer.decoder.norm.weight")) ||
      !(stage->dec_norm_bias = bind_tensor (stage, error, dim, 0, "transformer.decoder.norm.bias")) ||
      !(stage->to_logits_weight = bind_tensor (stage, error, config->dec_num_tokens, dim,
                                               "transformer.decoder.to_logits.weight")) ||
      !(stage->to_logits_bias = bind_tensor (stage, error, config->dec_num_tokens, 0,
                                             "transformer.decoder.to_logits.bias")))
    return NULL;

  if (config->variant != IB_VARIANT_PLAIN &&
      !(stage->log_scalors = bind_tensor (stage, error, config->n_scales, 0, "transformer.log_scalors")))
    return NULL;

  stage->enc_layers = g_new0 (EncoderLayer, config->enc_depth);
  for (int l = 0; l < config->enc_depth; l++)
    if (!bind_attention (stage, &stage->enc_layers[l].attn, "encoder", 2 * l, stage->enc_inner, error) ||
        !bind_feed_forward (stage, &stage->enc_layers[l].ff, "encoder", 2 * l + 1, error))
      return NULL;

  stage->dec_layers = g_new0 (DecoderLayer, config->dec_depth);
  for (int l = 0; l < config->dec_depth; l++)
    {
      DecoderLayer *layer = &stage->dec_layers[l];

      if (!bind_attention (stage, &layer->self_attn, "decoder", 3 * l, stage->dec_inner, error) ||
          !bind_attention (stage, &layer->cross_attn, "decoder", 3 * l + 1, stage->dec_inner, error) ||
          !bind_feed_forward (stage, &layer->ff, "decoder", 3 * l + 2, error))
        return NULL;
    }

  return g_steal_pointer (&stage);
}

void
ib_stage_free (IbStage *stage)
{
  if (stage == NULL)
    return;
  g_free (stage->enc_layers);
  g_free (stage->dec_layers);
  g_free (stage);
}

const IbLevelConfig *
ib_stage_get_config (IbStage *stage)
{
  g_return_val_if_fail (stage != NULL, NULL);
  return stage->config;
}

/* Helpers */

static float *
try_alloc_floats (gsize    n,
                  GError **error)
{
  float *p = g_try_new (float, MAX (n, 1));

  if (p == NULL)
    g_set_error (error, IB_ERROR, IB_ERROR_NO_MEMORY,
                 "out of memory for %" G_GSIZE_FORMAT " MiB of activations", n * sizeof (float) >> 20);
  return p;
}

/* x[i] = token_emb[tokens[i]] + pos_emb[first_pos + i]; row is scratch of dim floats. */
static void
embed (float          *x,
       const IbTensor *token_emb,
       const IbTensor *pos_emb,
       const int32_t  *tokens,
       int             n,
       int             first_pos,
       int             dim,
       float          *row)
{
  for (int i = 0; i < n; i++)
    {
      float *xi = x + (gsize) i * dim;

      g_assert (tokens[i] >= 0 && tokens[i] < token_emb->shape[0] && first_pos + i < pos_emb->shape[0]);
      ib_tensor_rows_f32 (token_emb, tokens[i], 1, xi);
      ib_tensor_rows_f32 (pos_emb, first_pos + i, 1, row);
      for (int d = 0; d < dim; d++)
        xi[d] += row[d];
    }
}

static gboolean
check_tokens (const int32_t *tokens,
              int            n,
              int            n_tokens,
              const char    *what,
              GError       **error)
{
  for (int i = 0; i < n; i++)
    if (tokens[i] < 0 || tokens[i] >= n_tokens)
      {
        g_set_error (error, IB_ERROR, IB_ERROR_ARGUMENT, "%s token %d at position %d is outside 0..%d", what,
                     tokens[i], i, n_tokens - 1);
        return FALSE;
      }
  return TRUE;
}

static gboolean
check_src (IbStage       *stage,
           const int32_t *src,
           int            n_src,
           GError       **error)
{
  const IbLevelConfig *c = stage->config;

  if (n_src < 1 || n_src > c->enc_max_seq_len)
    {
      g_set_error (error, IB_ERROR, IB_ERROR_ARGUMENT,
                   "the encoder input has %d tokens; level %d takes 1 to %d",
                   n_src, c->t, c->enc_max_seq_len);
      return FALSE;
    }
  if (src == NULL)
    {
      g_set_error (error, IB_ERROR, IB_ERROR_ARGUMENT, "the encoder input is missing");
      return FALSE;
    }
  return check_tokens (src, n_src, c->enc_num_tokens, "encoder input", error);
}

/* Encoder */

gboolean
ib_stage_encode (IbStage       *stage,
                 const int32_t *src,
                 int            n_src,
                 float         *context,
                 GError       **error)
{
  g_return_val_if_fail (stage != NULL, FALSE);
  g_return_val_if_fail (context != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!check_src (stage, src, n_src, error))
    return FALSE;

  const IbLevelConfig *c = stage->config;
  int n = n_src, dim = stage->dim, inner = stage->enc_inner, ff_dim = stage->ff_dim;
  /* h: normed rows; then either q, k, v, attention output or the feed-forward hidden layer. */
  gsize block = MAX (4 * (gsize) inner, (gsize) ff_dim);
  g_autofree float *work = try_alloc_floats ((gsize) n * (dim + block), error);
  if (work == NULL)
    return FALSE;

  float *x = context;            /* the residual stream ends up as the context */
  float *h = work;
  float *q = h + (gsize) n * dim;
  float *k = q + (gsize) n * inner;
  float *v = k + (gsize) n * inner;
  float *att = v + (gsize) n * inner;
  float *hidden = q;

  embed (x, stage->enc_token_emb, stage->enc_pos_emb, src, n, 0, dim, h);

  for (int l = 0; l < c->enc_depth; l++)
    {
      const EncoderLayer *layer = &stage->enc_layers[l];

      ib_layer_norm (h, x, n, dim, layer->attn.norm_weight, layer->attn.norm_bias, LAYER_NORM_EPS);
      ib_linear (q, h, n, layer->attn.to_q, NULL);
      ib_linear (k, h, n, layer->attn.to_k, NULL);
      ib_linear (v, h, n, layer->attn.to_v, NULL);
      ib_attention (att, q, n, inner, k, v, n, inner, c->enc_heads, c->dim_head, false, 0);
      ib_linear_add (x, att, n, layer->attn.to_out_weight, layer->attn.to_out_bias);

      ib_layer_norm (h, x, n, dim, layer->ff.norm_weight, layer->ff.norm_bias, LAYER_NORM_EPS);
      ib_linear (hidden, h, n, layer->ff.w1, layer->ff.b1);
      ib_gelu (hidden, (gsize) n * ff_dim);
      ib_linear_add (x, hidden, n, layer->ff.w2, layer->ff.b2);
    }

  ib_layer_norm (x, x, n, dim, stage->enc_norm_weight, stage->enc_norm_bias, LAYER_NORM_EPS);
  return TRUE;
}

/* Decoder */

static float *
cross_keys (IbDecoder *decoder,
            int        layer)
{
  return decoder->cross_kv + (gsize) 2 * layer * decoder->n_src * decoder->stage->dec_inner;
}

static float *
cross_values (IbDecoder *decoder,
              int        layer)
{
  return cross_keys (decoder, layer) + (gsize) decoder->n_src * decoder->stage->dec_inner;
}

static float *
self_keys (IbDecoder *decoder,
           int        layer)
{
  const IbStage *stage = decoder->stage;

  return decoder->self_kv + (gsize) 2 * layer * stage->config->dec_max_seq_len * stage->dec_inner;
}

static float *
self_values (IbDecoder *decoder,
             int        layer)
{
  const IbStage *stage = decoder->stage;

  return self_keys (decoder, layer) + (gsize) stage->config->dec_max_seq_len * stage->dec_inner;
}

/* The variants read the level t from src[scale_pos] (1..n_scales) and the residual x_t from
 * src[xt_start .. xt_start + xt_size). */
static gboolean
check_variant_src (IbStage       *stage,
                   const int32_t *src,
                   int            n_src,
                   GError       **error)
{
  const IbLevelConfig *c = stage->config;

  if (c->variant == IB_VARIANT_PLAIN)
    return TRUE;
  if (c->scale_pos >= n_src)
    {
      g_set_error (error, IB_ERROR, IB_ERROR_ARGUMENT,
                   "the encoder input has %d tokens, too few to hold the scale token at position %d",
                   n_src, c->scale_pos);
      return FALSE;
    }
  int t = src[c->scale_pos];
  if (t < 1 || t > c->n_scales)
    {
      g_set_error (error, IB_ERROR, IB_ERROR_ARGUMENT,
                   "the scale token (position %d of the encoder input) is %d, not a level in 1..%d",
                   c->scale_pos, t, c->n_scales);
      return FALSE;
    }
  if (c->variant == IB_VARIANT_RESIDUAL_SCALED)
    {
      if (t > stage->model->n_levels)
        {
          g_set_error (error, IB_ERROR, IB_ERROR_ARGUMENT,
                       "the scale token %d is past the schedule's %d levels", t, stage->model->n_levels);
          return FALSE;
        }
      if ((int64_t) c->xt_start + c->xt_size > n_src)
        {
          g_set_error (error, IB_ERROR, IB_ERROR_ARGUMENT,
                       "the encoder input has %d tokens, too few to hold x_t at positions %d..%d",
                       n_src, c->xt_start, c->xt_start + c->xt_size - 1);
          return FALSE;
        }
      if (!check_tokens (src + c->xt_start, c->xt_size, c->dec_num_tokens, "x_t", error))
        return FALSE;
    }
  return TRUE;
}

IbDecoder *
ib_decoder_new (IbStage       *stage,
                const int32_t *src,
                int            n_src,
                const float   *context,
                GError       **error)
{
  g_return_val_if_fail (stage != NULL, NULL);
  g_return_val_if_fail (context != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!check_src (stage, src, n_src, error) || !check_variant_src (stage, src, n_src, error))
    return NULL;

  const IbLevelConfig *c = stage->config;
  int inner = stage->dec_inner;
  g_autoptr (IbDecoder) decoder = g_new0 (IbDecoder, 1);

  decoder->stage = stage;
  decoder->src = g_memdup2 (src, (gsize) n_src * sizeof (int32_t));
  decoder->n_src = n_src;
  decoder->scalor = 1.0f;
  if (c->variant != IB_VARIANT_PLAIN)
    {
      int t = src[c->scale_pos];

      /* As torch: exp(log_scalors[t - 1]) in f32. */
      decoder->scalor = expf (ib_tensor_get_f32 (stage->log_scalors, t - 1));
      if (c->variant == IB_VARIANT_RESIDUAL_SCALED)
        {
          float alpha = ib_model_config_alpha (stage->model, t);
          float miss = (1.0f - alpha) / (float) c->dec_num_tokens;

          decoder->residual_hit = logf (alpha + miss);
          decoder->residual_miss = logf (miss);
        }
    }

  if (!(decoder->cross_kv = try_alloc_floats ((gsize) 2 * c->dec_depth * n_src * inner, error)) ||
      !(decoder->self_kv = try_alloc_floats ((gsize) 2 * c->dec_depth * c->dec_max_seq_len * inner, error)))
    return NULL;

  for (int l = 0; l < c->dec_depth; l++)
    {
      const AttentionWeights *cross = &stage->dec_layers[l].cross_attn;

      ib_linear (cross_keys (decoder, l), context, n_src, cross->to_k, NULL);
      ib_linear (cross_values (decoder, l), context, n_src, cross->to_v, NULL);
    }
  return g_steal_pointer (&decoder);
}

void
ib_decoder_free (IbDecoder *decoder)
{
  if (decoder == NULL)
    return;
  g_free (decoder->src);
  g_free (decoder->cross_kv);
  g_free (decoder->self_kv);
  g_free (decoder->work);
  g_free (decoder);
}

int
ib_decoder_get_position (IbDecoder *decoder)
{
  g_return_val_if_fail (decoder != NULL, 0);
  return decoder->position;
}

void
ib_decoder_rewind (IbDecoder *decoder,
                   int        pos)
{
  g_return_if_fail (decoder != NULL);
  g_return_if_fail (pos >= 0 && pos <= decoder->position);
  /* The cache rows past pos are simply overwritten by the next feed. */
  decoder->position = pos;
}

/* Floats of decoder work memory per token of a feed: x, h, q, attention output, feed-forward hidden. */
static gsize
work_per_row (const IbStage *stage)
{
  return 2 * (gsize) stage->dim + MAX (2 * (gsize) stage->dec_inner, (gsize) stage->ff_dim);
}

/* The variant's scaling and residual on logits rows of positions first_pos .. first_pos + n - 1. */
static void
finish_logits (IbDecoder *decoder,
               float     *logits,
               int        n,
               int        first_pos)
{
  const IbLevelConfig *c = decoder->stage->config;
  int n_tokens = c->dec_num_tokens;

  if (c->variant == IB_VARIANT_PLAIN)
    return;

  float scalor = decoder->scalor;
  for (gsize i = 0; i < (gsize) n * n_tokens; i++)
    logits[i] *= scalor;

  if (c->variant != IB_VARIANT_RESIDUAL_SCALED)
    return;

  /* The reference adds residual_logits[:, :n_tgt]: rows past xt_size get none. */
  const int32_t *xt = decoder->src + c->xt_start;
  for (int i = 0; i < n && first_pos + i < c->xt_size; i++)
    {
      float *row = logits + (gsize) i * n_tokens;
      int hit = xt[first_pos + i];

      for (int j = 0; j < n_tokens; j++)
        row[j] += decoder->residual_miss;
      row[hit] += decoder->residual_hit - decoder->residual_miss;
    }
}

gboolean
ib_decoder_feed (IbDecoder     *decoder,
                 const int32_t *tokens,
                 int            n,
                 float         *logits,
                 GError       **error)
{
  g_return_val_if_fail (decoder != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  IbStage *stage = decoder->stage;
  const IbLevelConfig *c = stage->config;
  int pos = decoder->position;

  if (n < 0 || (n > 0 && tokens == NULL))
    {
      g_set_error (error, IB_ERROR, IB_ERROR_ARGUMENT, "cannot feed %d decoder tokens", n);
      return FALSE;
    }
  if (n > c->dec_max_seq_len - pos)
    {
      g_set_error (error, IB_ERROR, IB_ERROR_ARGUMENT,
                   "feeding %d tokens after %d would pass the decoder's %d positions",
                   n, pos, c->dec_max_seq_len);
      return FALSE;
    }
  if (!check_tokens (tokens, n, c->dec_num_tokens, "decoder input", error))
    return FALSE;
  if (n == 0)
    return TRUE;

  if (n > decoder->work_rows)
    {
      /* Grow to at least double, so ragged chunks do not reallocate each time. */
      int rows = MIN (c->dec_max_seq_len, MAX (n, 2 * decoder->work_rows));
      float *work = try_alloc_floats ((gsize) rows * work_per_row (stage), error);

      if (work == NULL)
        return FALSE;
      g_free (decoder->work);
      decoder->work = work;
      decoder->work_rows = rows;
    }

  int dim = stage->dim, inner = stage->dec_inner, heads = c->dec_heads, dim_head = c->dim_head;
  float *x = decoder->work;
  float *h = x + (gsize) n * dim;
  float *q = h + (gsize) n * dim;
  float *att = q + (gsize) n * inner;
  float *hidden = q;

  embed (x, stage->dec_token_emb, stage->dec_pos_emb, tokens, n, pos, dim, h);

  for (int l = 0; l < c->dec_depth; l++)
    {
      const DecoderLayer *layer = &stage->dec_layers[l];
      float *keys = self_keys (decoder, l), *values = self_values (decoder, l);

      ib_layer_norm (h, x, n, dim, layer->self_attn.norm_weight, layer->self_attn.norm_bias, LAYER_NORM_EPS);
      ib_linear (keys + (gsize) pos * inner, h, n, layer->self_attn.to_k, NULL);
      ib_linear (values + (gsize) pos * inner, h, n, layer->self_attn.to_v, NULL);
      /* A prefill whose logits nobody reads needs the last layer's cache rows only. */
      if (logits == NULL && l == c->dec_depth - 1)
        break;
      ib_linear (q, h, n, layer->self_attn.to_q, NULL);
      ib_attention (att, q, n, inner, keys, values, pos + n, inner, heads, dim_head, true, pos);
      ib_linear_add (x, att, n, layer->self_attn.to_out_weight, layer->self_attn.to_out_bias);

      ib_layer_norm (h, x, n, dim, layer->cross_attn.norm_weight, layer->cross_attn.norm_bias,
                     LAYER_NORM_EPS);
      ib_linear (q, h, n, layer->cross_attn.to_q, NULL);
      ib_attention (att, q, n, inner, cross_keys (decoder, l), cross_values (decoder, l), decoder->n_src,
                    inner, heads, dim_head, false, 0);
      ib_linear_add (x, att, n, layer->cross_attn.to_out_weight, layer->cross_attn.to_out_bias);

      ib_layer_norm (h, x, n, dim, layer->ff.norm_weight, layer->ff.norm_bias, LAYER_NORM_EPS);
      ib_linear (hidden, h, n, layer->ff.w1, layer->ff.b1);
      ib_gelu (hidden, (gsize) n * stage->ff_dim);
      ib_linear_add (x, hidden, n, layer->ff.w2, layer->ff.b2);
    }

  if (logits != NULL)
    {
      ib_layer_norm (h, x, n, dim, stage->dec_norm_weight, stage->dec_norm_bias, LAYER_NORM_EPS);
      ib_linear (logits, h, n, stage->to_logits_weight, stage->to_logits_bias);
      finish_logits (decoder, logits, n, pos);
    }

  decoder->position = pos + n;
  return TRUE;
}

/* transformer(src, tgt) */

gboolean
ib_stage_logits (IbStage       *stage,
                 const int32_t *src,
                 int            n_src,
                 const int32_t *tgt,
                 int            n_tgt,
                 float         *logits,
                 GError       **error)
{
  g_return_val_if_fail (stage != NULL, FALSE);
  g_return_val_if_fail (logits != NULL || n_tgt == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  const IbLevelConfig *c = stage->config;

  if (!check_src (stage, src, n_src, error) || !check_variant_src (stage, src, n_src, error))
    return FALSE;
  if (n_tgt < 0 || n_tgt > c->dec_max_seq_len || (n_tgt > 0 && tgt == NULL))
    {
      g_set_error (error, IB_ERROR, IB_ERROR_ARGUMENT,
                   "the decoder input has %d tokens; level %d takes 0 to %d",
                   n_tgt, c->t, c->dec_max_seq_len);
      return FALSE;
    }
  if (!check_tokens (tgt, n_tgt, c->dec_num_tokens, "decoder input", error))
    return FALSE;

  g_autofree float *context = try_alloc_floats ((gsize) n_src * stage->dim, error);
  if (context == NULL || !ib_stage_encode (stage, src, n_src, context, error))
    return FALSE;

  g_autoptr (IbDecoder) decoder = ib_decoder_new (stage, src, n_src, context, error);
  return decoder != NULL && ib_decoder_feed (decoder, tgt, n_tgt, logits, error);
}
