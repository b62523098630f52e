/* ib-transformer.c: one level's transformer on the CPU engine: the official encoder-decoder XTransformer
 * (wrap_decoder=False) with its Scaled and ResidualScaled variants, and the decoder-only minGPT that
 * DecoderOnlyDenoiser levels use.
 *
 * All stacks are pre-LayerNorm: x += Attn(LN(x)); x += FF(LN(x)) (the XTransformer decoder adds a
 * cross-attention block between the two), then a final LayerNorm. The decoder keeps, per layer, the keys
 * and values of the context (computed once) and of every position fed so far, so a decoding step costs one
 * pass over the weights plus attention over the prefix. Buffers live in the stage call or the decoder, not
 * in the ops.
 *
 * A minGPT level runs one causal sequence [src..., tgt[1..]]: the decoder feeds src at creation and keeps
 * the logits of its last position, which are the first row a feed returns (tgt[0] stands for the start
 * token and is not read), so both kinds of level decode through the same calls. */
#include "ib-transformer.h"

#include <math.h>
#include <string.h>

#include "ib-alloc.h"
#include "ib-error.h"
#include "ib-ops.h"

/* PyTorch's nn.LayerNorm default. */
#define LAYER_NORM_EPS 1e-5f

typedef struct
{
  const IbTensor *norm_weight;
  const IbTensor *norm_bias;
  const IbTensor *to_q;
  const IbTensor *to_q_bias;     /* minGPT's projections have biases; XTransformer's none */
  const IbTensor *to_k;
  const IbTensor *to_k_bias;
  const IbTensor *to_v;
  const IbTensor *to_v_bias;
  const IbTensor *to_out_weight;
  const IbTensor *to_out_bias;
} AttentionWeights;

typedef struct
{
  const IbTensor *norm_weight;
  const IbTensor *norm_bias;
  const IbTensor *w1;            /* dim -> ff_dim, then GELU */
  const IbTensor *b1;
  const IbTensor *w2;            /* ff_dim -> dim */
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
  AttentionWeights cross_attn;   /* XTransformer only */
  FeedForwardWeights ff;
} DecoderLayer;

struct _IbStage
{
  IbModelFile *file;
  const IbModelConfig *model;
  const IbLevelConfig *config;
  gboolean decoder_only;         /* minGPT */
  int dim;
  int ff_dim;
  int enc_inner;                 /* enc_heads * dim_head */
  int dec_inner;

  const IbTensor *enc_token_emb;
  const IbTensor *enc_pos_emb;
  const IbTensor *enc_norm_weight;
  const IbTensor *enc_norm_bias;
  EncoderLayer *enc_layers;

  /* minGPT: tok_emb, pos_emb ([1, block_size, dim]), blocks, ln_f, head (no bias). */
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
  int position;                  /* tgt tokens fed */
  int capacity;                  /* tgt tokens that fit */

  float scalor;                  /* exp(log_scalors[t - 1]); 1 for the other variants */
  float residual_hit;            /* log(alpha_t + (1 - alpha_t) / K) */
  float residual_miss;           /* log((1 - alpha_t) / K) */

  float *cross_kv;               /* per layer: keys, then values, n_src x dec_inner each */
  float *self_kv;                /* per layer: keys, then values, dec_max_seq_len x dec_inner each */
  float *first_logits;           /* minGPT: the logits of src's last position, tgt row 0 */

  float *work;                   /* activations of one feed, grown to the largest chunk */
  int work_rows;
};

/* Binding */

typedef struct
{
  int n_dims;
  int64_t d[3];
} Shape;

#define VECTOR(d0) ((Shape) { 1, { (d0), 0, 0 } })
#define MATRIX(d0, d1) ((Shape) { 2, { (d0), (d1), 0 } })
#define TENSOR3(d0, d1, d2) ((Shape) { 3, { (d0), (d1), (d2) } })

static const IbTensor *
bind_tensor (IbStage      *stage,
             GError      **error,
             Shape         shape,
             const char   *format,
             ...) G_GNUC_PRINTF (4, 5);

/* The float tensor named prefix + format, of the given shape. The loader has checked all of this already;
 * a stage must still not index past a tensor it was handed. */
static const IbTensor *
bind_tensor (IbStage      *stage,
             GError      **error,
             Shape         shape,
             const char   *format,
             ...)
{
  va_list args;
  g_autofree char *suffix = NULL;
  g_autofree char *name = NULL;
  const IbTensor *t;
  gboolean same = TRUE;

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
  same = t->n_dims == shape.n_dims;
  for (int i = 0; same && i < shape.n_dims; i++)
    same = t->shape[i] == shape.d[i];
  if (!same)
    {
      GString *text = g_string_new ("[");

      for (int i = 0; i < shape.n_dims; i++)
        g_string_append_printf (text, "%s%" G_GINT64_FORMAT, i > 0 ? ", " : "", shape.d[i]);
      g_string_append_c (text, ']');
      g_set_error (error, IB_ERROR, IB_ERROR_INVALID,
                   "%s: tensor \"%s\" does not have the shape %s that level %d implies",
                   ib_model_file_get_path (stage->file), name, text->str, stage->config->t);
      g_string_free (text, TRUE);
      return NULL;
    }
  return t;
}

/* Entry `index` of an XTransformer stack's attn_layers.layers, then the part's name. */
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

  return (w->norm_weight = bind_tensor (stage, error, VECTOR (dim), LAYER_NAME, stack, index, "0.weight")) &&
         (w->norm_bias = bind_tensor (stage, error, VECTOR (dim), LAYER_NAME, stack, index, "0.bias")) &&
         (w->to_q = bind_tensor (stage, error, MATRIX (inner, dim), LAYER_NAME, stack, index,
                                 "1.to_q.weight")) &&
         (w->to_k = bind_tensor (stage, error, MATRIX (inner, dim), LAYER_NAME, stack, index,
                                 "1.to_k.weight")) &&
         (w->to_v = bind_tensor (stage, error, MATRIX (inner, dim), LAYER_NAME, stack, index,
                                 "1.to_v.weight")) &&
         (w->to_out_weight = bind_tensor (stage, error, MATRIX (dim, inner), LAYER_NAME, stack, index,
                                          "1.to_out.weight")) &&
         (w->to_out_bias = bind_tensor (stage, error, VECTOR (dim), LAYER_NAME, stack, index,
                                        "1.to_out.bias"));
}

static gboolean
bind_feed_forward (IbStage            *stage,
                   FeedForwardWeights *w,
                   const char         *stack,
                   int                 index,
                   GError            **error)
{
  int dim = stage->dim, ff_dim = stage->ff_dim;

  return (w->norm_weight = bind_tensor (stage, error, VECTOR (dim), LAYER_NAME, stack, index, "0.weight")) &&
         (w->norm_bias = bind_tensor (stage, error, VECTOR (dim), LAYER_NAME, stack, index, "0.bias")) &&
         (w->w1 = bind_tensor (stage, error, MATRIX (ff_dim, dim), LAYER_NAME, stack, index,
                               "1.net.0.0.weight")) &&
         (w->b1 = bind_tensor (stage, error, VECTOR (ff_dim), LAYER_NAME, stack, index, "1.net.0.0.bias")) &&
         (w->w2 = bind_tensor (stage, error, MATRIX (dim, ff_dim), LAYER_NAME, stack, index,
                               "1.net.2.weight")) &&
         (w->b2 = bind_tensor (stage, error, VECTOR (dim), LAYER_NAME, stack, index, "1.net.2.bias"));
}

static gboolean
bind_encoder_decoder (IbStage  *stage,
                      GError  **error)
{
  const IbLevelConfig *config = stage->config;
  int dim = stage->dim;

  if (!(stage->enc_token_emb = bind_tensor (stage, error, MATRIX (config->enc_num_tokens, dim),
                                            "transformer.encoder.token_emb.weight")) ||
      !(stage->enc_pos_emb = bind_tensor (stage, error, MATRIX (config->enc_max_seq_len, dim),
                                          "transformer.encoder.pos_emb.emb.weight")) ||
      !(stage->enc_norm_weight = bind_tensor (stage, error, VECTOR (dim),
                                              "transformer.encoder.norm.weight")) ||
      !(stage->enc_norm_bias = bind_tensor (stage, error, VECTOR (dim), "transformer.encoder.norm.bias")) ||
      !(stage->dec_token_emb = bind_tensor (stage, error, MATRIX (config->dec_num_tokens, dim),
                                            "transformer.decoder.token_emb.weight")) ||
      !(stage->dec_pos_emb = bind_tensor (stage, error, MATRIX (config->dec_max_seq_len, dim),
                                          "transformer.decoder.pos_emb.emb.weight")) ||
      !(stage->dec_norm_weight = bind_tensor (stage, error, VECTOR (dim),
                                              "transformer.decoder.norm.weight")) ||
      !(stage->dec_norm_bias = bind_tensor (stage, error, VECTOR (dim), "transformer.decoder.norm.bias")) ||
      !(stage->to_logits_weight = bind_tensor (stage, error, MATRIX (config->dec_num_tokens, dim),
                                               "transformer.decoder.to_logits.weight")) ||
      !(stage->to_logits_bias = bind_tensor (stage, error, VECTOR (config->dec_num_tokens),
                                             "transformer.decoder.to_logits.bias")))
    return FALSE;

  if (config->variant != IB_VARIANT_PLAIN &&
      !(stage->log_scalors = bind_tensor (stage, error, VECTOR (config->n_scales),
                                          "transformer.log_scalors")))
    return FALSE;

  stage->enc_layers = g_new0 (EncoderLayer, config->enc_depth);
  for (int l = 0; l < config->enc_depth; l++)
    if (!bind_attention (stage, &stage->enc_layers[l].attn, "encoder", 2 * l, stage->enc_inner, error) ||
        !bind_feed_forward (stage, &stage->enc_layers[l].ff, "encoder", 2 * l + 1, error))
      return FALSE;

  stage->dec_layers = g_new0 (DecoderLayer, config->dec_depth);
  for (int l = 0; l < config->dec_depth; l++)
    {
      DecoderLayer *layer = &stage->dec_layers[l];

      if (!bind_attention (stage, &layer->self_attn, "decoder", 3 * l, stage->dec_inner, error) ||
          !bind_attention (stage, &layer->cross_attn, "decoder", 3 * l + 1, stage->dec_inner, error) ||
          !bind_feed_forward (stage, &layer->ff, "decoder", 3 * l + 2, error))
        return FALSE;
    }
  return TRUE;
}

/* Block `index` of minGPT, then the part's name. */
#define BLOCK_NAME "transformer.blocks.%d.%s"

static gboolean
bind_gpt (IbStage  *stage,
          GError  **error)
{
  const IbLevelConfig *config = stage->config;
  int dim = stage->dim, ff_dim = stage->ff_dim;

  if (!(stage->dec_token_emb = bind_tensor (stage, error, MATRIX (config->enc_num_tokens, dim),
                                            "transformer.tok_emb.weight")) ||
      !(stage->dec_pos_emb = bind_tensor (stage, error, TENSOR3 (1, config->dec_max_seq_len, dim),
                                          "transformer.pos_emb")) ||
      !(stage->dec_norm_weight = bind_tensor (stage, error, VECTOR (dim), "transformer.ln_f.weight")) ||
      !(stage->dec_norm_bias = bind_tensor (stage, error, VECTOR (dim), "transformer.ln_f.bias")) ||
      !(stage->to_logits_weight = bind_tensor (stage, error, MATRIX (config->dec_num_tokens, dim),
                                               "transformer.head.weight")))
    return FALSE;

  stage->dec_layers = g_new0 (DecoderLayer, config->dec_depth);
  for (int l = 0; l < config->dec_depth; l++)
    {
      AttentionWeights *a = &stage->dec_layers[l].self_attn;
      FeedForwardWeights *f = &stage->dec_layers[l].ff;

      if (!(a->norm_weight = bind_tensor (stage, error, VECTOR (dim), BLOCK_NAME, l, "ln1.weight")) ||
          !(a->norm_bias = bind_tensor (stage, error, VECTOR (dim), BLOCK_NAME, l, "ln1.bias")) ||
          !(a->to_q = bind_tensor (stage, error, MATRIX (dim, dim), BLOCK_NAME, l, "attn.query.weight")) ||
          !(a->to_q_bias = bind_tensor (stage, error, VECTOR (dim), BLOCK_NAME, l, "attn.query.bias")) ||
          !(a->to_k = bind_tensor (stage, error, MATRIX (dim, dim), BLOCK_NAME, l, "attn.key.weight")) ||
          !(a->to_k_bias = bind_tensor (stage, error, VECTOR (dim), BLOCK_NAME, l, "attn.key.bias")) ||
          !(a->to_v = bind_tensor (stage, error, MATRIX (dim, dim), BLOCK_NAME, l, "attn.value.weight")) ||
          !(a->to_v_bias = bind_tensor (stage, error, VECTOR (dim), BLOCK_NAME, l, "attn.value.bias")) ||
          !(a->to_out_weight = bind_tensor (stage, error, MATRIX (dim, dim), BLOCK_NAME, l,
                                            "attn.proj.weight")) ||
          !(a->to_out_bias = bind_tensor (stage, error, VECTOR (dim), BLOCK_NAME, l, "attn.proj.bias")) ||
          !(f->norm_weight = bind_tensor (stage, error, VECTOR (dim), BLOCK_NAME, l, "ln2.weight")) ||
          !(f->norm_bias = bind_tensor (stage, error, VECTOR (dim), BLOCK_NAME, l, "ln2.bias")) ||
          !(f->w1 = bind_tensor (stage, error, MATRIX (ff_dim, dim), BLOCK_NAME, l, "mlp.0.weight")) ||
          !(f->b1 = bind_tensor (stage, error, VECTOR (ff_dim), BLOCK_NAME, l, "mlp.0.bias")) ||
          !(f->w2 = bind_tensor (stage, error, MATRIX (dim, ff_dim), BLOCK_NAME, l, "mlp.2.weight")) ||
          !(f->b2 = bind_tensor (stage, error, VECTOR (dim), BLOCK_NAME, l, "mlp.2.bias")))
        return FALSE;
    }
  return TRUE;
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
  stage->decoder_only = config->variant == IB_VARIANT_GPT;
  stage->dim = config->dim;
  stage->ff_dim = 4 * config->dim;
  stage->enc_inner = config->enc_heads * config->dim_head;
  stage->dec_inner = config->dec_heads * config->dim_head;
  g_assert (config->dim > 0 && config->dim_head > 0 && config->dec_heads > 0);
  g_assert (stage->decoder_only ? stage->dec_inner == config->dim : config->enc_heads > 0);
  g_assert (config->enc_depth >= 0 && config->dec_depth >= 0);

  if (!(stage->decoder_only ? bind_gpt (stage, error) : bind_encoder_decoder (stage, error)))
    return NULL;
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
  return ib_work_alloc (MAX (n, 1), sizeof (float), "the transformer's activations", error);
}

/* Row `row` of a table of rows of dim floats (leading dimensions of 1 allowed, as minGPT's pos_emb). */
static void
table_row (const IbTensor *table,
           int64_t         row,
           int             dim,
           float          *dst)
{
  const float *f32 = ib_tensor_f32_data (table);

  g_assert (row >= 0 && (row + 1) * dim <= table->n_elements);
  if (f32 != NULL)
    memcpy (dst, f32 + row * dim, (gsize) dim * sizeof (float));
  else
    for (int d = 0; d < dim; d++)
      dst[d] = ib_tensor_get_f32 (table, row * dim + d);
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

      table_row (token_emb, tokens[i], dim, xi);
      table_row (pos_emb, first_pos + i, dim, row);
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

/* The encoder input of an encoder-decoder level, or the conditioning prefix of a minGPT level. */
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
                   "the %s has %d tokens; level %d takes 1 to %d",
                   stage->decoder_only ? "conditioning" : "encoder input", n_src, c->t, c->enc_max_seq_len);
      return FALSE;
    }
  if (src == NULL)
    {
      g_set_error (error, IB_ERROR, IB_ERROR_ARGUMENT, "the encoder input is missing");
      return FALSE;
    }
  return check_tokens (src, n_src, c->enc_num_tokens, stage->decoder_only ? "conditioning" : "encoder input",
                       error);
}

/* How many tgt tokens a sequence with this src can take. */
static int
tgt_capacity (IbStage *stage,
              int      n_src)
{
  const IbLevelConfig *c = stage->config;

  /* minGPT: src and tgt[1..] share block_size positions. */
  return stage->decoder_only ? c->dec_max_seq_len - (n_src - 1) : c->dec_max_seq_len;
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

  if (stage->decoder_only)
    {
      g_set_error (error, IB_ERROR, IB_ERROR_ARGUMENT,
                   "level %d is decoder-only (minGPT): it has no encoder", stage->config->t);
      return FALSE;
    }
  if (!check_src (stage, src, n_src, error))
    return FALSE;

  const IbLevelConfig *c = stage->config;
  int n = n_src, dim = stage->dim, inner = stage->enc_inner, ff_dim = stage->ff_dim;
  /* h: normed rows; then either q, k, v, attention output or the feed-forward hidden layer. */
  gsize block = MAX (4 * (gsize) inner, (gsize) ff_dim);
  ib_autowork float *work = try_alloc_floats ((gsize) n * (dim + block), error);
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

/* The Scaled variants read the level t from src[scale_pos] (1..n_scales), ResidualScaled the residual x_t
 * from src[xt_start .. xt_start + xt_size). */
static gboolean
check_variant_src (IbStage       *stage,
                   const int32_t *src,
                   int            n_src,
                   GError       **error)
{
  const IbLevelConfig *c = stage->config;

  if (c->variant != IB_VARIANT_SCALED && c->variant != IB_VARIANT_RESIDUAL_SCALED)
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

/* Floats of decoder work memory per row of a feed: x, h, q, attention output, feed-forward hidden. */
static gsize
work_per_row (const IbStage *stage)
{
  return 2 * (gsize) stage->dim + MAX (2 * (gsize) stage->dec_inner, (gsize) stage->ff_dim);
}

static gboolean
ensure_work (IbDecoder *decoder,
             int        rows,
             GError   **error)
{
  if (rows <= decoder->work_rows)
    return TRUE;

  /* Grow to at least double, so ragged chunks do not reallocate each time. */
  rows = MIN (decoder->stage->config->dec_max_seq_len, MAX (rows, 2 * decoder->work_rows));
  float *work = try_alloc_floats ((gsize) rows * work_per_row (decoder->stage), error);
  if (work == NULL)
    return FALSE;
  ib_work_free (decoder->work);
  decoder->work = work;
  decoder->work_rows = rows;
  return TRUE;
}

/* Causal self-attention of n rows at positions first_pos.. over the cache, minGPT's leading n_unmasked
 * positions seeing each other both ways (as far as the sequence goes: minGPT slices its mask). */
static void
self_attention (IbDecoder   *decoder,
                float       *att,
                const float *q,
                int          n,
                int          first_pos,
                const float *keys,
                const float *values)
{
  const IbLevelConfig *c = decoder->stage->config;
  int inner = decoder->stage->dec_inner;
  int n_unmasked = decoder->stage->decoder_only ? c->n_unmasked : 0;
  int n_open = CLAMP (n_unmasked - first_pos, 0, n);

  if (n_open > 0)
    {
      /* The unmasked positions come in one chunk: the first feed of a decoder holds src whole and
       * ib_decoder_new keeps them inside src; ib_stage_logits runs the whole sequence at once. */
      g_assert (first_pos == 0);
      ib_attention (att, q, n_open, inner, keys, values, MIN (n_unmasked, n), inner, c->dec_heads,
                    c->dim_head, false, 0);
    }
  if (n > n_open)
    ib_attention (att + (gsize) n_open * inner, q + (gsize) n_open * inner, n - n_open, inner, keys, values,
                  first_pos + n, inner, c->dec_heads, c->dim_head, true, first_pos + n_open);
}

/* The decoder stack over n tokens at sequence positions first_pos..: fills the self-attention cache and,
 * when logits is not NULL, writes the logits (before any variant's scaling) of the last n_out rows. The
 * work memory must hold n rows. */
static void
run_decoder (IbDecoder     *decoder,
             const int32_t *tokens,
             int            n,
             int            first_pos,
             float         *logits,
             int            n_out)
{
  IbStage *stage = decoder->stage;
  const IbLevelConfig *c = stage->config;
  int dim = stage->dim, inner = stage->dec_inner, heads = c->dec_heads, dim_head = c->dim_head;
  float *x = decoder->work;
  float *h = x + (gsize) n * dim;
  float *q = h + (gsize) n * dim;
  float *att = q + (gsize) n * inner;
  float *hidden = q;

  g_assert (n <= decoder->work_rows && n_out <= n && first_pos + n <= c->dec_max_seq_len);
  embed (x, stage->dec_token_emb, stage->dec_pos_emb, tokens, n, first_pos, dim, h);

  for (int l = 0; l < c->dec_depth; l++)
    {
      const DecoderLayer *layer = &stage->dec_layers[l];
      const AttentionWeights *sa = &layer->self_attn;
      float *keys = self_keys (decoder, l), *values = self_values (decoder, l);

      ib_layer_norm (h, x, n, dim, sa->norm_weight, sa->norm_bias, LAYER_NORM_EPS);
      ib_linear (keys + (gsize) first_pos * inner, h, n, sa->to_k, sa->to_k_bias);
      ib_linear (values + (gsize) first_pos * inner, h, n, sa->to_v, sa->to_v_bias);
      /* A prefill whose logits nobody reads needs the last layer's cache rows only. */
      if (logits == NULL && l == c->dec_depth - 1)
        break;
      ib_linear (q, h, n, sa->to_q, sa->to_q_bias);
      self_attention (decoder, att, q, n, first_pos, keys, values);
      ib_linear_add (x, att, n, sa->to_out_weight, sa->to_out_bias);

      if (!stage->decoder_only)
        {
          const AttentionWeights *ca = &layer->cross_attn;

          ib_layer_norm (h, x, n, dim, ca->norm_weight, ca->norm_bias, LAYER_NORM_EPS);
          ib_linear (q, h, n, ca->to_q, NULL);
          ib_attention (att, q, n, inner, cross_keys (decoder, l), cross_values (decoder, l), decoder->n_src,
                        inner, heads, dim_head, false, 0);
          ib_linear_add (x, att, n, ca->to_out_weight, ca->to_out_bias);
        }

      ib_layer_norm (h, x, n, dim, layer->ff.norm_weight, layer->ff.norm_bias, LAYER_NORM_EPS);
      ib_linear (hidden, h, n, layer->ff.w1, layer->ff.b1);
      ib_gelu (hidden, (gsize) n * stage->ff_dim);
      ib_linear_add (x, hidden, n, layer->ff.w2, layer->ff.b2);
    }

  if (logits != NULL && n_out > 0)
    {
      const float *rows = x + (gsize) (n - n_out) * dim;

      ib_layer_norm (h, rows, n_out, dim, stage->dec_norm_weight, stage->dec_norm_bias, LAYER_NORM_EPS);
      ib_linear (logits, h, n_out, stage->to_logits_weight, stage->to_logits_bias);
    }
}

/* A decoder with its src, variant constants and self-attention cache, nothing computed yet. */
static IbDecoder *
decoder_create (IbStage       *stage,
                const int32_t *src,
                int            n_src,
                GError       **error)
{
  const IbLevelConfig *c = stage->config;
  g_autoptr (IbDecoder) decoder = g_new0 (IbDecoder, 1);

  decoder->stage = stage;
  decoder->src = g_memdup2 (src, (gsize) n_src * sizeof (int32_t));
  decoder->n_src = n_src;
  decoder->capacity = tgt_capacity (stage, n_src);
  decoder->scalor = 1.0f;
  if (c->variant == IB_VARIANT_SCALED || c->variant == IB_VARIANT_RESIDUAL_SCALED)
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

  gsize cache_floats = (gsize) 2 * c->dec_depth * c->dec_max_seq_len * stage->dec_inner;
  if (!(decoder->self_kv = try_alloc_floats (cache_floats, error)))
    return NULL;
  return g_steal_pointer (&decoder);
}

IbDecoder *
ib_decoder_new (IbStage       *stage,
                const int32_t *src,
                int            n_src,
                const float   *context,
                GError       **error)
{
  g_return_val_if_fail (stage != NULL, NULL);
  g_return_val_if_fail (context != NULL || stage->decoder_only, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  const IbLevelConfig *c = stage->config;

  if (!check_src (stage, src, n_src, error) || !check_variant_src (stage, src, n_src, error))
    return NULL;
  /* minGPT's first n_unmasked positions see each other both ways: decoding one token at a time, they
   * must all be conditioning, or a position would see tokens not sampled yet. */
  if (stage->decoder_only && c->n_unmasked > n_src)
    {
      g_set_error (error, IB_ERROR, IB_ERROR_ARGUMENT,
                   "level %d attends both ways over its first %d positions, but the conditioning has only %d "
                   "tokens", c->t, c->n_unmasked, n_src);
      return NULL;
    }

  g_autoptr (IbDecoder) decoder = decoder_create (stage, src, n_src, error);
  if (decoder == NULL)
    return NULL;

  if (stage->decoder_only)
    {
      /* src fills positions 0 .. n_src - 1; its last position's logits are tgt row 0. */
      if (!(decoder->first_logits = try_alloc_floats ((gsize) c->dec_num_tokens, error)) ||
          !ensure_work (decoder, n_src, error))
        return NULL;
      run_decoder (decoder, src, n_src, 0, decoder->first_logits, 1);
      return g_steal_pointer (&decoder);
    }

  int inner = stage->dec_inner;
  if (!(decoder->cross_kv = try_alloc_floats ((gsize) 2 * c->dec_depth * n_src * inner, error)))
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
  ib_work_free (decoder->cross_kv);
  ib_work_free (decoder->self_kv);
  ib_work_free (decoder->first_logits);
  ib_work_free (decoder->work);
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
  /* The cache rows past pos are simply overwritten by the next feed (src's stay). */
  decoder->position = pos;
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

  if (c->variant != IB_VARIANT_SCALED && c->variant != IB_VARIANT_RESIDUAL_SCALED)
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
  if (n > decoder->capacity - pos)
    {
      g_set_error (error, IB_ERROR, IB_ERROR_ARGUMENT,
                   "feeding %d tokens after %d would pass the decoder's %d positions",
                   n, pos, decoder->capacity);
      return FALSE;
    }
  if (!check_tokens (tokens, n, c->dec_num_tokens, "decoder input", error))
    return FALSE;
  if (n == 0)
    return TRUE;

  if (!stage->decoder_only)
    {
      if (!ensure_work (decoder, n, error))
        return FALSE;
      run_decoder (decoder, tokens, n, pos, logits, n);
      if (logits != NULL)
        finish_logits (decoder, logits, n, pos);
      decoder->position = pos + n;
      return TRUE;
    }

  /* minGPT: tgt[0] stands for the start token, whose part src's last position played; tgt[p], p >= 1, is
   * the input at position n_src - 1 + p. */
  int skip = pos == 0 ? 1 : 0;
  if (!check_tokens (tokens + skip, n - skip, c->enc_num_tokens, "decoder input", error) ||
      !ensure_work (decoder, n - skip, error))
    return FALSE;
  if (skip && logits != NULL)
    memcpy (logits, decoder->first_logits, (gsize) c->dec_num_tokens * sizeof (float));
  if (n > skip)
    run_decoder (decoder, tokens + skip, n - skip, decoder->n_src - 1 + pos + skip,
                 logits != NULL ? logits + (gsize) skip * c->dec_num_tokens : NULL, n - skip);
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
  int capacity = tgt_capacity (stage, n_src);
  if (n_tgt < 0 || n_tgt > capacity || (n_tgt > 0 && tgt == NULL))
    {
      g_set_error (error, IB_ERROR, IB_ERROR_ARGUMENT,
                   "the decoder input has %d tokens; level %d takes 0 to %d here",
                   n_tgt, c->t, capacity);
      return FALSE;
    }
  if (!check_tokens (tgt, n_tgt, c->dec_num_tokens, "decoder input", error))
    return FALSE;

  if (stage->decoder_only)
    {
      /* The whole sequence src ++ tgt[1..] in one pass, so that minGPT's unmasked positions see each other
       * even where they reach into tgt (no release does that, but it is what the model computes). */
      if (n_tgt == 0)
        return TRUE;
      if (!check_tokens (tgt + 1, n_tgt - 1, c->enc_num_tokens, "decoder input", error))
        return FALSE;

      int n = n_src + n_tgt - 1;
      g_autofree int32_t *sequence = g_new (int32_t, n);
      g_autoptr (IbDecoder) decoder = decoder_create (stage, src, n_src, error);

      if (decoder == NULL || !ensure_work (decoder, n, error))
        return FALSE;
      memcpy (sequence, src, (gsize) n_src * sizeof (int32_t));
      memcpy (sequence + n_src, tgt + 1, (gsize) (n_tgt - 1) * sizeof (int32_t));
      run_decoder (decoder, sequence, n, 0, logits, n_tgt);
      return TRUE;
    }

  ib_autowork float *context = try_alloc_floats ((gsize) n_src * stage->dim, error);
  if (context == NULL || !ib_stage_encode (stage, src, n_src, context, error))
    return FALSE;

  g_autoptr (IbDecoder) decoder = ib_decoder_new (stage, src, n_src, context, error);
  return decoder != NULL && ib_decoder_feed (decoder, tgt, n_tgt, logits, error);
}

/* Several sequences in lockstep */

gboolean
ib_decoder_feed_batch (IbDecoder     **decoders,
                       int             n,
                       const int32_t  *tokens,
                       float          *logits,
                       GError        **error)
{
  g_return_val_if_fail (decoders != NULL && n > 0 && tokens != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  IbStage *stage = decoders[0]->stage;
  const IbLevelConfig *c = stage->config;
  int dim = stage->dim, inner = stage->dec_inner, heads = c->dec_heads, dim_head = c->dim_head;
  int n_vocab = c->dec_num_tokens;

  for (int i = 0; i < n; i++)
    {
      IbDecoder *decoder = decoders[i];
      if (decoder->stage != stage)
        {
          g_set_error (error, IB_ERROR, IB_ERROR_ARGUMENT, "decoders fed together must share their level");
          return FALSE;
        }
      if (decoder->position >= decoder->capacity)
        {
          g_set_error (error, IB_ERROR, IB_ERROR_ARGUMENT, "feeding a token after %d would pass the decoder's %d "
                       "positions", decoder->position, decoder->capacity);
          return FALSE;
        }
      if (!check_tokens (tokens + i, 1, c->dec_num_tokens, "decoder input", error) ||
          (stage->decoder_only && decoder->position > 0 &&
           !check_tokens (tokens + i, 1, c->enc_num_tokens, "decoder input", error)))
        return FALSE;
    }

  /* minGPT's tgt[0] is not read: its logits were computed with src. */
  if (stage->decoder_only && decoders[0]->position == 0)
    {
      for (int i = 0; i < n; i++)
        {
          if (decoders[i]->position != 0)
            {
              g_set_error (error, IB_ERROR, IB_ERROR_ARGUMENT, "decoders fed together must be at the same position");
              return FALSE;
            }
          if (logits != NULL)
            memcpy (logits + (gsize) i * n_vocab, decoders[i]->first_logits, (gsize) n_vocab * sizeof (float));
          decoders[i]->position = 1;
        }
      return TRUE;
    }

  /* The rows' own work memory: x, h, q/hidden, attention, and the new keys and values. */
  gsize per_row = work_per_row (stage) + 2 * (gsize) inner;
  ib_autowork float *work = try_alloc_floats ((gsize) n * per_row, error);
  g_autofree int *positions = g_new (int, n);
  if (work == NULL)
    return FALSE;
  float *x = work, *h = x + (gsize) n * dim, *q = h + (gsize) n * dim;
  float *att = q + (gsize) n * inner, *hidden = q;
  float *new_keys = q + (gsize) n * MAX (2 * (gsize) inner, (gsize) stage->ff_dim), *new_values = new_keys + (gsize) n * inner;

  for (int i = 0; i < n; i++)
    {
      IbDecoder *decoder = decoders[i];
      /* A minGPT decoder's tgt[p] sits at sequence position n_src - 1 + p. */
      positions[i] = stage->decoder_only ? decoder->n_src - 1 + decoder->position : decoder->position;
      g_assert (positions[i] < c->dec_max_seq_len);
      embed (x + (gsize) i * dim, stage->dec_token_emb, stage->dec_pos_emb, tokens + i, 1, positions[i], dim, h);
    }

  for (int l = 0; l < c->dec_depth; l++)
    {
      const DecoderLayer *layer = &stage->dec_layers[l];
      const AttentionWeights *sa = &layer->self_attn;

      ib_layer_norm (h, x, n, dim, sa->norm_weight, sa->norm_bias, LAYER_NORM_EPS);
      ib_linear (new_keys, h, n, sa->to_k, sa->to_k_bias);
      ib_linear (new_values, h, n, sa->to_v, sa->to_v_bias);
      ib_linear (q, h, n, sa->to_q, sa->to_q_bias);
      for (int i = 0; i < n; i++)
        {
          float *keys = self_keys (decoders[i], l), *values = self_values (decoders[i], l);
          memcpy (keys + (gsize) positions[i] * inner, new_keys + (gsize) i * inner, (gsize) inner * sizeof (float));
          memcpy (values + (gsize) positions[i] * inner, new_values + (gsize) i * inner,
                  (gsize) inner * sizeof (float));
          self_attention (decoders[i], att + (gsize) i * inner, q + (gsize) i * inner, 1, positions[i], keys, values);
        }
      ib_linear_add (x, att, n, sa->to_out_weight, sa->to_out_bias);

      if (!stage->decoder_only)
        {
          const AttentionWeights *ca = &layer->cross_attn;

          ib_layer_norm (h, x, n, dim, ca->norm_weight, ca->norm_bias, LAYER_NORM_EPS);
          ib_linear (q, h, n, ca->to_q, NULL);
          for (int i = 0; i < n; i++)
            ib_attention (att + (gsize) i * inner, q + (gsize) i * inner, 1, inner, cross_keys (decoders[i], l),
                          cross_values (decoders[i], l), decoders[i]->n_src, inner, heads, dim_head, false, 0);
          ib_linear_add (x, att, n, ca->to_out_weight, ca->to_out_bias);
        }

      ib_layer_norm (h, x, n, dim, layer->ff.norm_weight, layer->ff.norm_bias, LAYER_NORM_EPS);
      ib_linear (hidden, h, n, layer->ff.w1, layer->ff.b1);
      ib_gelu (hidden, (gsize) n * stage->ff_dim);
      ib_linear_add (x, hidden, n, layer->ff.w2, layer->ff.b2);
    }

  if (logits != NULL)
    {
      ib_layer_norm (h, x, n, dim, stage->dec_norm_weight, stage->dec_norm_bias, LAYER_NORM_EPS);
      ib_linear (logits, h, n, stage->to_logits_weight, stage->to_logits_bias);
    }
  for (int i = 0; i < n; i++)
    {
      if (logits != NULL && !stage->decoder_only)
        finish_logits (decoders[i], logits + (gsize) i * n_vocab, 1, decoders[i]->position);
      decoders[i]->position++;
    }
  return TRUE;
}
