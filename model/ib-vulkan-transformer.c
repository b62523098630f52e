/* ib-vulkan-transformer.c: one level's transformer on the Vulkan engine, step for step the CPU engine's
 * (model/ib-transformer.c): the same pre-LayerNorm stacks, the same KV cache, the same variant finishing.
 *
 * Device memory of a decoder (one arena): the tokens (int32: src at 0..n_src - 1, then for an
 * encoder-decoder level tgt[p] at n_src + p, for a minGPT level tgt[p] at its sequence position n_src - 1 + p),
 * the context and cross keys/values, the self-attention cache, and the activations of one feed. A feed records
 * its whole pass into one batch and waits once, when the logits come back. */
#include "ib-vulkan-transformer.h"

#include <math.h>
#include <string.h>

#include "ib-error.h"
#include "ib-sampler.h"
#include "ib-transformer.h"
#include "ib-vulkan-ops.h"
#include "ib-vulkan-private.h"
#include "ib-vulkan-sampler.h"

#define LAYER_NORM_EPS 1e-5f

typedef struct
{
  IbVkTensor *norm_weight, *norm_bias;
  IbVkTensor *to_q, *to_q_bias, *to_k, *to_k_bias, *to_v, *to_v_bias;
  IbVkTensor *to_out_weight, *to_out_bias;
} VkAttention;

typedef struct
{
  IbVkTensor *norm_weight, *norm_bias, *w1, *b1, *w2, *b2;
} VkFeedForward;

typedef struct
{
  VkAttention attn;
  VkFeedForward ff;
} VkEncoderLayer;

typedef struct
{
  VkAttention self_attn;
  VkAttention cross_attn;
  VkFeedForward ff;
} VkDecoderLayer;

struct _IbVkStage
{
  IbVkDevice *device;
  IbVkArena *weights;
  const IbModelConfig *model;       /* owned by the file: copied below what a stage needs later */
  IbLevelConfig config;
  char *prefix;
  gboolean decoder_only;
  int dim, ff_dim, enc_inner, dec_inner;
  float *log_scalors;               /* n_scales, host */
  float *alphas;                    /* n_levels + 1, host: alpha_t */
  int n_levels;

  IbVkTensor *enc_token_emb, *enc_pos_emb, *enc_norm_weight, *enc_norm_bias;
  VkEncoderLayer *enc_layers;
  IbVkTensor *dec_token_emb, *dec_pos_emb, *dec_norm_weight, *dec_norm_bias;
  IbVkTensor *to_logits_weight, *to_logits_bias;
  VkDecoderLayer *dec_layers;
  GPtrArray *tensors;               /* every IbVkTensor above, to free */
};

struct _IbVkDecoder
{
  IbVkStage *stage;
  IbVkArena *arena;
  int32_t *src;
  int n_src;
  int position;
  int capacity;
  int rows;                         /* activation rows that fit */

  float scalor, residual_hit, residual_miss;

  IbVkView tokens;                  /* int32 */
  IbVkView x, h, q, kv, att, hidden, logits;
  IbVkView *cross_k, *cross_v;      /* per layer: n_src x dec_inner */
  IbVkView *self_k, *self_v;        /* per layer: dec_max_seq_len x dec_inner */
  float *first_logits;              /* minGPT: src's last position's logits, tgt row 0 */
};

/* Uploading the weights */

static IbVkTensor *
upload (IbVkStage    *stage,
        IbModelFile  *file,
        gboolean      widen,
        GError      **error,
        const char   *format,
        ...) G_GNUC_PRINTF (5, 6);

/* The float tensor prefix + format (the CPU stage has checked its shape), uploaded; widen: as f32. A tensor
 * with a leading dimension of 1 (minGPT's pos_emb) is uploaded as the matrix under it. */
static IbVkTensor *
upload (IbVkStage    *stage,
        IbModelFile  *file,
        gboolean      widen,
        GError      **error,
        const char   *format,
        ...)
{
  va_list args;
  g_autofree char *suffix = NULL;
  g_autofree char *name = NULL;

  va_start (args, format);
  suffix = g_strdup_vprintf (format, args);
  va_end (args);
  name = g_strconcat (stage->prefix, suffix, NULL);

  const IbTensor *t = ib_model_file_lookup (file, name);
  if (t == NULL)
    {
      g_set_error (error, IB_ERROR, IB_ERROR_INVALID, "level %d needs the tensor \"%s\", which is missing",
                   stage->config.t, name);
      return NULL;
    }
  IbTensor squeezed = *t;
  if (squeezed.n_dims == 3 && squeezed.shape[0] == 1)
    {
      squeezed.n_dims = 2;
      squeezed.shape[0] = t->shape[1];
      squeezed.shape[1] = t->shape[2];
    }
  IbVkTensor *vt = ib_vk_tensor_upload (stage->device, stage->weights, &squeezed, widen, error);
  if (vt != NULL)
    g_ptr_array_add (stage->tensors, vt);
  return vt;
}

#define LAYER_NAME "transformer.%s.attn_layers.layers.%d.%s"
#define BLOCK_NAME "transformer.blocks.%d.%s"

static gboolean
upload_attention (IbVkStage   *s,
                  IbModelFile *f,
                  VkAttention *w,
                  const char  *stack,
                  int          index,
                  GError     **e)
{
  return (w->norm_weight = upload (s, f, TRUE, e, LAYER_NAME, stack, index, "0.weight")) &&
         (w->norm_bias = upload (s, f, TRUE, e, LAYER_NAME, stack, index, "0.bias")) &&
         (w->to_q = upload (s, f, FALSE, e, LAYER_NAME, stack, index, "1.to_q.weight")) &&
         (w->to_k = upload (s, f, FALSE, e, LAYER_NAME, stack, index, "1.to_k.weight")) &&
         (w->to_v = upload (s, f, FALSE, e, LAYER_NAME, stack, index, "1.to_v.weight")) &&
         (w->to_out_weight = upload (s, f, FALSE, e, LAYER_NAME, stack, index, "1.to_out.weight")) &&
         (w->to_out_bias = upload (s, f, TRUE, e, LAYER_NAME, stack, index, "1.to_out.bias"));
}

static gboolean
upload_feed_forward (IbVkStage     *s,
                     IbModelFile   *f,
                     VkFeedForward *w,
                     const char    *stack,
                     int            index,
                     GError       **e)
{
  return (w->norm_weight = upload (s, f, TRUE, e, LAYER_NAME, stack, index, "0.weight")) &&
         (w->norm_bias = upload (s, f, TRUE, e, LAYER_NAME, stack, index, "0.bias")) &&
         (w->w1 = upload (s, f, FALSE, e, LAYER_NAME, stack, index, "1.net.0.0.weight")) &&
         (w->b1 = upload (s, f, TRUE, e, LAYER_NAME, stack, index, "1.net.0.0.bias")) &&
         (w->w2 = upload (s, f, FALSE, e, LAYER_NAME, stack, index, "1.net.2.weight")) &&
         (w->b2 = upload (s, f, TRUE, e, LAYER_NAME, stack, index, "1.net.2.bias"));
}

static gboolean
upload_encoder_decoder (IbVkStage   *s,
                        IbModelFile *f,
                        GError     **e)
{
  const IbLevelConfig *c = &s->config;

  if (!(s->enc_token_emb = upload (s, f, TRUE, e, "transformer.encoder.token_emb.weight")) ||
      !(s->enc_pos_emb = upload (s, f, TRUE, e, "transformer.encoder.pos_emb.emb.weight")) ||
      !(s->enc_norm_weight = upload (s, f, TRUE, e, "transformer.encoder.norm.weight")) ||
      !(s->enc_norm_bias = upload (s, f, TRUE, e, "transformer.encoder.norm.bias")) ||
      !(s->dec_token_emb = upload (s, f, TRUE, e, "transformer.decoder.token_emb.weight")) ||
      !(s->dec_pos_emb = upload (s, f, TRUE, e, "transformer.decoder.pos_emb.emb.weight")) ||
      !(s->dec_norm_weight = upload (s, f, TRUE, e, "transformer.decoder.norm.weight")) ||
      !(s->dec_norm_bias = upload (s, f, TRUE, e, "transformer.decoder.norm.bias")) ||
      !(s->to_logits_weight = upload (s, f, FALSE, e, "transformer.decoder.to_logits.weight")) ||
      !(s->to_logits_bias = upload (s, f, TRUE, e, "transformer.decoder.to_logits.bias")))
    return FALSE;

  s->enc_layers = g_new0 (VkEncoderLayer, MAX (c->enc_depth, 1));
  for (int l = 0; l < c->enc_depth; l++)
    if (!upload_attention (s, f, &s->enc_layers[l].attn, "encoder", 2 * l, e) ||
        !upload_feed_forward (s, f, &s->enc_layers[l].ff, "encoder", 2 * l + 1, e))
      return FALSE;
  s->dec_layers = g_new0 (VkDecoderLayer, MAX (c->dec_depth, 1));
  for (int l = 0; l < c->dec_depth; l++)
    if (!upload_attention (s, f, &s->dec_layers[l].self_attn, "decoder", 3 * l, e) ||
        !upload_attention (s, f, &s->dec_layers[l].cross_attn, "decoder", 3 * l + 1, e) ||
        !upload_feed_forward (s, f, &s->dec_layers[l].ff, "decoder", 3 * l + 2, e))
      return FALSE;
  return TRUE;
}

static gboolean
upload_gpt (IbVkStage   *s,
            IbModelFile *f,
            GError     **e)
{
  const IbLevelConfig *c = &s->config;

  if (!(s->dec_token_emb = upload (s, f, TRUE, e, "transformer.tok_emb.weight")) ||
      !(s->dec_pos_emb = upload (s, f, TRUE, e, "transformer.pos_emb")) ||
      !(s->dec_norm_weight = upload (s, f, TRUE, e, "transformer.ln_f.weight")) ||
      !(s->dec_norm_bias = upload (s, f, TRUE, e, "transformer.ln_f.bias")) ||
      !(s->to_logits_weight = upload (s, f, FALSE, e, "transformer.head.weight")))
    return FALSE;

  s->dec_layers = g_new0 (VkDecoderLayer, MAX (c->dec_depth, 1));
  for (int l = 0; l < c->dec_depth; l++)
    {
      VkAttention *a = &s->dec_layers[l].self_attn;
      VkFeedForward *w = &s->dec_layers[l].ff;

      if (!(a->norm_weight = upload (s, f, TRUE, e, BLOCK_NAME, l, "ln1.weight")) ||
          !(a->norm_bias = upload (s, f, TRUE, e, BLOCK_NAME, l, "ln1.bias")) ||
          !(a->to_q = upload (s, f, FALSE, e, BLOCK_NAME, l, "attn.query.weight")) ||
          !(a->to_q_bias = upload (s, f, TRUE, e, BLOCK_NAME, l, "attn.query.bias")) ||
          !(a->to_k = upload (s, f, FALSE, e, BLOCK_NAME, l, "attn.key.weight")) ||
          !(a->to_k_bias = upload (s, f, TRUE, e, BLOCK_NAME, l, "attn.key.bias")) ||
          !(a->to_v = upload (s, f, FALSE, e, BLOCK_NAME, l, "attn.value.weight")) ||
          !(a->to_v_bias = upload (s, f, TRUE, e, BLOCK_NAME, l, "attn.value.bias")) ||
          !(a->to_out_weight = upload (s, f, FALSE, e, BLOCK_NAME, l, "attn.proj.weight")) ||
          !(a->to_out_bias = upload (s, f, TRUE, e, BLOCK_NAME, l, "attn.proj.bias")) ||
          !(w->norm_weight = upload (s, f, TRUE, e, BLOCK_NAME, l, "ln2.weight")) ||
          !(w->norm_bias = upload (s, f, TRUE, e, BLOCK_NAME, l, "ln2.bias")) ||
          !(w->w1 = upload (s, f, FALSE, e, BLOCK_NAME, l, "mlp.0.weight")) ||
          !(w->b1 = upload (s, f, TRUE, e, BLOCK_NAME, l, "mlp.0.bias")) ||
          !(w->w2 = upload (s, f, FALSE, e, BLOCK_NAME, l, "mlp.2.weight")) ||
          !(w->b2 = upload (s, f, TRUE, e, BLOCK_NAME, l, "mlp.2.bias")))
        return FALSE;
    }
  return TRUE;
}

IbVkStage *
ib_vk_stage_new (IbVkDevice  *device,
                 IbModelFile *file,
                 int          t,
                 GError     **error)
{
  g_return_val_if_fail (device != NULL && file != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  /* The CPU stage checks every tensor's presence, dtype and shape. */
  g_autoptr (IbStage) check = ib_stage_new (file, t, error);
  if (check == NULL)
    return NULL;

  const IbModelConfig *model = ib_model_file_get_config (file);
  g_autoptr (IbVkStage) stage = g_new0 (IbVkStage, 1);
  stage->device = device;
  stage->config = model->levels[t - 1];
  stage->prefix = g_strdup (stage->config.prefix);
  stage->config.prefix = stage->prefix;
  stage->decoder_only = stage->config.variant == IB_VARIANT_GPT;
  stage->dim = stage->config.dim;
  stage->ff_dim = 4 * stage->config.dim;
  stage->enc_inner = stage->config.enc_heads * stage->config.dim_head;
  stage->dec_inner = stage->config.dec_heads * stage->config.dim_head;
  stage->n_levels = model->n_levels;
  stage->alphas = g_new0 (float, model->n_levels + 1);
  for (int i = 1; i <= model->n_levels; i++)
    stage->alphas[i] = ib_model_config_alpha (model, i);
  stage->tensors = g_ptr_array_new_with_free_func ((GDestroyNotify) ib_vk_tensor_free);
  stage->weights = ib_vk_arena_new (device, 32u << 20);

  if (stage->config.variant == IB_VARIANT_SCALED || stage->config.variant == IB_VARIANT_RESIDUAL_SCALED)
    {
      g_autofree char *name = g_strconcat (stage->prefix, "transformer.log_scalors", NULL);
      const IbTensor *ls = ib_model_file_lookup (file, name);
      g_assert (ls != NULL && ls->n_elements == stage->config.n_scales);
      stage->log_scalors = ib_tensor_dup_f32 (ls);
    }

  if (!ib_vk_call_done (device, (stage->decoder_only ? upload_gpt (stage, file, error)
                                                     : upload_encoder_decoder (stage, file, error)) &&
                                    ib_vk_device_submit (device, error)))
    return NULL;
  return g_steal_pointer (&stage);
}

void
ib_vk_stage_free (IbVkStage *stage)
{
  if (stage == NULL)
    return;
  if (stage->tensors != NULL)
    g_ptr_array_unref (stage->tensors);
  g_clear_pointer (&stage->weights, ib_vk_arena_free);
  g_free (stage->enc_layers);
  g_free (stage->dec_layers);
  g_free (stage->log_scalors);
  g_free (stage->alphas);
  g_free (stage->prefix);
  g_free (stage);
}

const IbLevelConfig *
ib_vk_stage_get_config (IbVkStage *stage)
{
  g_return_val_if_fail (stage != NULL, NULL);
  return &stage->config;
}

guint64
ib_vk_stage_get_weight_bytes (IbVkStage *stage)
{
  g_return_val_if_fail (stage != NULL, 0);
  return ib_vk_arena_get_used (stage->weights);
}

/* Checks, as the CPU engine's */

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
check_src (IbVkStage     *stage,
           const int32_t *src,
           int            n_src,
           GError       **error)
{
  const IbLevelConfig *c = &stage->config;
  const char *what = stage->decoder_only ? "conditioning" : "encoder input";

  if (n_src < 1 || n_src > c->enc_max_seq_len)
    {
      g_set_error (error, IB_ERROR, IB_ERROR_ARGUMENT, "the %s has %d tokens; level %d takes 1 to %d", what, n_src,
                   c->t, c->enc_max_seq_len);
      return FALSE;
    }
  if (src == NULL)
    {
      g_set_error (error, IB_ERROR, IB_ERROR_ARGUMENT, "the encoder input is missing");
      return FALSE;
    }
  if (!check_tokens (src, n_src, c->enc_num_tokens, what, error))
    return FALSE;
  if (c->variant != IB_VARIANT_SCALED && c->variant != IB_VARIANT_RESIDUAL_SCALED)
    return TRUE;
  if (c->scale_pos >= n_src)
    {
      g_set_error (error, IB_ERROR, IB_ERROR_ARGUMENT,
                   "the encoder input has %d tokens, too few to hold the scale token at position %d", n_src,
                   c->scale_pos);
      return FALSE;
    }
  int t = src[c->scale_pos];
  if (t < 1 || t > c->n_scales)
    {
      g_set_error (error, IB_ERROR, IB_ERROR_ARGUMENT,
                   "the scale token (position %d of the encoder input) is %d, not a level in 1..%d", c->scale_pos, t,
                   c->n_scales);
      return FALSE;
    }
  if (c->variant == IB_VARIANT_RESIDUAL_SCALED)
    {
      if (t > stage->n_levels)
        {
          g_set_error (error, IB_ERROR, IB_ERROR_ARGUMENT, "the scale token %d is past the schedule's %d levels", t,
                       stage->n_levels);
          return FALSE;
        }
      if ((int64_t) c->xt_start + c->xt_size > n_src)
        {
          g_set_error (error, IB_ERROR, IB_ERROR_ARGUMENT,
                       "the encoder input has %d tokens, too few to hold x_t at positions %d..%d", n_src, c->xt_start,
                       c->xt_start + c->xt_size - 1);
          return FALSE;
        }
      if (!check_tokens (src + c->xt_start, c->xt_size, c->dec_num_tokens, "x_t", error))
        return FALSE;
    }
  return TRUE;
}

static int
tgt_capacity (IbVkStage *stage,
              int        n_src)
{
  const IbLevelConfig *c = &stage->config;

  return stage->decoder_only ? c->dec_max_seq_len - (n_src - 1) : c->dec_max_seq_len;
}

/* Recording helpers */

/* A part of a view, at a float offset (the copy commands take any 4-byte offset). */
static gboolean
copy_floats (IbVkDevice     *d,
             const IbVkView *dst,
             guint64         dst_float,
             const IbVkView *src,
             guint64         src_float,
             guint64         n,
             GError        **error)
{
  VkCommandBuffer cb;

  g_assert ((dst_float + n) * 4 <= dst->size && (src_float + n) * 4 <= src->size);
  if (n == 0)
    return TRUE;
  if (!(cb = ib_vk_device_begin (d, error)))
    return FALSE;
  IbVkView from = { src->buffer, src->offset + src_float * 4, n * 4 };
  IbVkView to = { dst->buffer, dst->offset + dst_float * 4, n * 4 };
  const IbVkView *views[] = { &from, &to };
  ib_vk_device_access (d, views, 2, 1u << 1);
  VkBufferCopy region = { from.offset, to.offset, n * 4 };
  d->vk.vkCmdCopyBuffer (cb, from.buffer->buffer, to.buffer->buffer, 1, &region);
  return TRUE;
}

/* The self-attention keys or values of positions first_pos..first_pos + n - 1: h (the normed rows) through
 * the projection, written straight into the layer's cache where the device lets a view start there, else
 * through decoder->kv and a copy (a transfer and a barrier more per layer and step). */
static gboolean
project_into_cache (IbVkDecoder      *decoder,
                    const IbVkView   *cache,
                    int               first_pos,
                    int               n,
                    const IbVkTensor *weight,
                    const IbVkTensor *bias,
                    GError          **error)
{
  IbVkDevice *d = decoder->stage->device;
  guint64 first = (guint64) first_pos * decoder->stage->dec_inner, count = (guint64) n * decoder->stage->dec_inner;
  IbVkView rows = { cache->buffer, cache->offset + first * 4, count * 4 };

  g_assert ((first + count) * 4 <= cache->size);
  if (rows.offset % d->limits.offset_alignment == 0)
    return ib_vk_linear (d, &rows, &decoder->h, n, weight, bias, FALSE, IB_VK_LINEAR_AUTO, error);
  return ib_vk_linear (d, &decoder->kv, &decoder->h, n, weight, bias, FALSE, IB_VK_LINEAR_AUTO, error) &&
         copy_floats (d, cache, first, &decoder->kv, 0, count, error);
}

/* x += FF(LN(x)) over n rows. */
static gboolean
feed_forward (IbVkStage           *s,
              const VkFeedForward *ff,
              const IbVkView      *x,
              const IbVkView      *h,
              const IbVkView      *hidden,
              int                  n,
              GError             **error)
{
  IbVkDevice *d = s->device;

  return ib_vk_layer_norm (d, h, x, n, s->dim, ff->norm_weight, ff->norm_bias, LAYER_NORM_EPS, error) &&
         ib_vk_linear (d, hidden, h, n, ff->w1, ff->b1, FALSE, IB_VK_LINEAR_AUTO, error) &&
         ib_vk_gelu (d, hidden, (gsize) n * s->ff_dim, error) &&
         ib_vk_linear (d, x, hidden, n, ff->w2, ff->b2, TRUE, IB_VK_LINEAR_AUTO, error);
}

/* Decoders */

static gboolean
alloc (IbVkDecoder *decoder,
       guint64      n_floats,
       IbVkView    *view,
       GError     **error)
{
  return ib_vk_arena_alloc (decoder->arena, MAX (n_floats, 1) * 4, view, error);
}

/* A decoder with its memory, src uploaded, nothing computed. */
static IbVkDecoder *
decoder_create (IbVkStage     *stage,
                const int32_t *src,
                int            n_src,
                int            rows,
                GError       **error)
{
  const IbLevelConfig *c = &stage->config;
  g_autoptr (IbVkDecoder) decoder = g_new0 (IbVkDecoder, 1);
  int inner = MAX (stage->enc_inner, stage->dec_inner), depth = MAX (c->dec_depth, 1);

  decoder->stage = stage;
  decoder->src = g_memdup2 (src, (gsize) n_src * sizeof (int32_t));
  decoder->n_src = n_src;
  decoder->capacity = tgt_capacity (stage, n_src);
  decoder->rows = rows;
  decoder->scalor = 1.0f;
  if (c->variant == IB_VARIANT_SCALED || c->variant == IB_VARIANT_RESIDUAL_SCALED)
    {
      int t = src[c->scale_pos];

      decoder->scalor = expf (stage->log_scalors[t - 1]);
      if (c->variant == IB_VARIANT_RESIDUAL_SCALED)
        {
          float alpha = stage->alphas[t];
          float miss = (1.0f - alpha) / (float) c->dec_num_tokens;

          decoder->residual_hit = logf (alpha + miss);
          decoder->residual_miss = logf (miss);
        }
    }

  decoder->arena = ib_vk_arena_new (stage->device, 8u << 20);
  decoder->cross_k = g_new0 (IbVkView, depth);
  decoder->cross_v = g_new0 (IbVkView, depth);
  decoder->self_k = g_new0 (IbVkView, depth);
  decoder->self_v = g_new0 (IbVkView, depth);

  guint64 n = (guint64) rows;
  if (!alloc (decoder, (guint64) n_src + c->dec_max_seq_len + 1, &decoder->tokens, error) ||
      !alloc (decoder, n * stage->dim, &decoder->x, error) || !alloc (decoder, n * stage->dim, &decoder->h, error) ||
      !alloc (decoder, n * inner, &decoder->q, error) || !alloc (decoder, 2 * n * inner, &decoder->kv, error) ||
      !alloc (decoder, n * inner, &decoder->att, error) ||
      !alloc (decoder, n * stage->ff_dim, &decoder->hidden, error) ||
      !alloc (decoder, n * c->dec_num_tokens, &decoder->logits, error))
    return NULL;
  for (int l = 0; l < c->dec_depth; l++)
    {
      if (!alloc (decoder, (guint64) c->dec_max_seq_len * stage->dec_inner, &decoder->self_k[l], error) ||
          !alloc (decoder, (guint64) c->dec_max_seq_len * stage->dec_inner, &decoder->self_v[l], error))
        return NULL;
      if (!stage->decoder_only &&
          (!alloc (decoder, (guint64) n_src * stage->dec_inner, &decoder->cross_k[l], error) ||
           !alloc (decoder, (guint64) n_src * stage->dec_inner, &decoder->cross_v[l], error)))
        return NULL;
    }
  if (!ib_vk_upload (stage->device, &decoder->tokens, 0, src, (guint64) n_src * 4, error))
    return NULL;
  return g_steal_pointer (&decoder);
}

void
ib_vk_decoder_free (IbVkDecoder *decoder)
{
  if (decoder == NULL)
    return;
  g_clear_pointer (&decoder->arena, ib_vk_arena_free);
  g_free (decoder->cross_k);
  g_free (decoder->cross_v);
  g_free (decoder->self_k);
  g_free (decoder->self_v);
  g_free (decoder->src);
  g_free (decoder->first_logits);
  g_free (decoder);
}

/* The encoder over the decoder's src into decoder->x (the context). */
static gboolean
record_encoder (IbVkDecoder *decoder,
                GError     **error)
{
  IbVkStage *s = decoder->stage;
  IbVkDevice *d = s->device;
  const IbLevelConfig *c = &s->config;
  int n = decoder->n_src, inner = s->enc_inner;
  const IbVkView *x = &decoder->x, *h = &decoder->h;

  if (!ib_vk_embed (d, x, &decoder->tokens, 0, n, s->enc_token_emb, s->enc_pos_emb, 0, error))
    return FALSE;
  for (int l = 0; l < c->enc_depth; l++)
    {
      const VkEncoderLayer *layer = &s->enc_layers[l];
      IbVkAttentionShape shape = {
        .n_q = n, .q_stride = inner, .n_kv = n, .kv_stride = inner, .heads = c->enc_heads,
        .dim_head = c->dim_head, .k_base = 0, .v_base = (guint64) n * inner,
      };

      if (!ib_vk_layer_norm (d, h, x, n, s->dim, layer->attn.norm_weight, layer->attn.norm_bias, LAYER_NORM_EPS,
                             error) ||
          !ib_vk_linear (d, &decoder->q, h, n, layer->attn.to_q, NULL, FALSE, IB_VK_LINEAR_AUTO, error) ||
          !ib_vk_linear (d, &decoder->kv, h, n, layer->attn.to_k, NULL, FALSE, IB_VK_LINEAR_AUTO, error))
        return FALSE;
      /* v after k in the same view: the linear writes from the view's start, so go through the copy. */
      if (!ib_vk_linear (d, &decoder->att, h, n, layer->attn.to_v, NULL, FALSE, IB_VK_LINEAR_AUTO, error) ||
          !copy_floats (d, &decoder->kv, (guint64) n * inner, &decoder->att, 0, (guint64) n * inner, error) ||
          !ib_vk_attention (d, &decoder->att, &decoder->q, &decoder->kv, &decoder->kv, &shape, error) ||
          !ib_vk_linear (d, x, &decoder->att, n, layer->attn.to_out_weight, layer->attn.to_out_bias, TRUE,
                         IB_VK_LINEAR_AUTO, error) ||
          !feed_forward (s, &layer->ff, x, h, &decoder->hidden, n, error))
        return FALSE;
    }
  return ib_vk_layer_norm (d, x, x, n, s->dim, s->enc_norm_weight, s->enc_norm_bias, LAYER_NORM_EPS, error);
}

/* The decoder stack over n tokens (at decoder->tokens[token_base..]) at sequence positions first_pos..: fills
 * the cache and, when want_logits, writes the logits (before any finishing) of the last n_out rows into
 * decoder->logits. */
static gboolean
record_decoder (IbVkDecoder *decoder,
                guint        token_base,
                int          n,
                int          first_pos,
                gboolean     want_logits,
                int          n_out,
                GError     **error)
{
  IbVkStage *s = decoder->stage;
  IbVkDevice *d = s->device;
  const IbLevelConfig *c = &s->config;
  int dim = s->dim, inner = s->dec_inner;
  const IbVkView *x = &decoder->x, *h = &decoder->h;

  g_assert (n <= decoder->rows && n_out <= n && first_pos + n <= c->dec_max_seq_len);
  if (!ib_vk_embed (d, x, &decoder->tokens, token_base, n, s->dec_token_emb, s->dec_pos_emb, first_pos, error))
    return FALSE;

  for (int l = 0; l < c->dec_depth; l++)
    {
      const VkDecoderLayer *layer = &s->dec_layers[l];
      const VkAttention *sa = &layer->self_attn;
      IbVkAttentionShape self = {
        .n_q = n, .q_stride = inner, .n_kv = first_pos + n, .kv_stride = inner, .heads = c->dec_heads,
        .dim_head = c->dim_head, .causal = true, .q_offset = first_pos,
        .n_unmasked = s->decoder_only ? c->n_unmasked : 0,
      };

      if (!ib_vk_layer_norm (d, h, x, n, dim, sa->norm_weight, sa->norm_bias, LAYER_NORM_EPS, error) ||
          !project_into_cache (decoder, &decoder->self_k[l], first_pos, n, sa->to_k, sa->to_k_bias, error) ||
          !project_into_cache (decoder, &decoder->self_v[l], first_pos, n, sa->to_v, sa->to_v_bias, error))
        return FALSE;
      if (!want_logits && l == c->dec_depth - 1)
        break;
      if (!ib_vk_linear (d, &decoder->q, h, n, sa->to_q, sa->to_q_bias, FALSE, IB_VK_LINEAR_AUTO, error) ||
          !ib_vk_attention (d, &decoder->att, &decoder->q, &decoder->self_k[l], &decoder->self_v[l], &self, error) ||
          !ib_vk_linear (d, x, &decoder->att, n, sa->to_out_weight, sa->to_out_bias, TRUE, IB_VK_LINEAR_AUTO, error))
        return FALSE;

      if (!s->decoder_only)
        {
          const VkAttention *ca = &layer->cross_attn;
          IbVkAttentionShape cross = {
            .n_q = n, .q_stride = inner, .n_kv = decoder->n_src, .kv_stride = inner, .heads = c->dec_heads,
            .dim_head = c->dim_head,
          };

          if (!ib_vk_layer_norm (d, h, x, n, dim, ca->norm_weight, ca->norm_bias, LAYER_NORM_EPS, error) ||
              !ib_vk_linear (d, &decoder->q, h, n, ca->to_q, NULL, FALSE, IB_VK_LINEAR_AUTO, error) ||
              !ib_vk_attention (d, &decoder->att, &decoder->q, &decoder->cross_k[l], &decoder->cross_v[l], &cross,
                                error) ||
              !ib_vk_linear (d, x, &decoder->att, n, ca->to_out_weight, ca->to_out_bias, TRUE, IB_VK_LINEAR_AUTO,
                             error))
            return FALSE;
        }
      if (!feed_forward (s, &layer->ff, x, h, &decoder->hidden, n, error))
        return FALSE;
    }

  if (!want_logits || n_out == 0)
    return TRUE;
  /* The last n_out rows, moved to the start of h, normed in place. */
  if (!copy_floats (d, h, 0, x, (guint64) (n - n_out) * dim, (guint64) n_out * dim, error) ||
      !ib_vk_layer_norm (d, h, h, n_out, dim, s->dec_norm_weight, s->dec_norm_bias, LAYER_NORM_EPS, error))
    return FALSE;
  return ib_vk_linear (d, &decoder->logits, h, n_out, s->to_logits_weight, s->to_logits_bias, FALSE,
                       IB_VK_LINEAR_AUTO, error);
}

/* The variant's scaling and residual on the logits of positions first_pos.., on the device. */
static gboolean
record_finish (IbVkDecoder *decoder,
               int          n,
               int          first_pos,
               GError     **error)
{
  const IbLevelConfig *c = &decoder->stage->config;

  if (c->variant != IB_VARIANT_SCALED && c->variant != IB_VARIANT_RESIDUAL_SCALED)
    return TRUE;
  IbVkLogitsFinish finish = {
    .scalor = decoder->scalor,
    .residual = c->variant == IB_VARIANT_RESIDUAL_SCALED,
    .hit = decoder->residual_hit,
    .miss = decoder->residual_miss,
    .xt_base = (guint) c->xt_start,
    .xt_size = c->xt_size,
  };
  return ib_vk_finish_logits (decoder->stage->device, &decoder->logits, n, c->dec_num_tokens, first_pos,
                              &decoder->tokens, &finish, error);
}

static int
decoder_rows (IbVkStage *stage)
{
  return MAX (stage->config.enc_max_seq_len, stage->config.dec_max_seq_len);
}

static IbVkDecoder *
decoder_new (IbVkStage     *stage,
             const int32_t *src,
             int            n_src,
             GError       **error)
{
  const IbLevelConfig *c = &stage->config;
  IbVkDevice *d = stage->device;

  if (!check_src (stage, src, n_src, error))
    return NULL;
  if (stage->decoder_only && c->n_unmasked > n_src)
    {
      g_set_error (error, IB_ERROR, IB_ERROR_ARGUMENT,
                   "level %d attends both ways over its first %d positions, but the conditioning has only %d "
                   "tokens", c->t, c->n_unmasked, n_src);
      return NULL;
    }
  g_autoptr (IbVkDecoder) decoder = decoder_create (stage, src, n_src, decoder_rows (stage), error);
  if (decoder == NULL)
    return NULL;

  if (stage->decoder_only)
    {
      decoder->first_logits = g_new (float, c->dec_num_tokens);
      if (!record_decoder (decoder, 0, n_src, 0, TRUE, 1, error) ||
          !ib_vk_download (d, &decoder->logits, 0, decoder->first_logits, (guint64) c->dec_num_tokens * 4, error))
        return NULL;
      return g_steal_pointer (&decoder);
    }

  if (!record_encoder (decoder, error))
    return NULL;
  for (int l = 0; l < c->dec_depth; l++)
    {
      const VkAttention *cross = &stage->dec_layers[l].cross_attn;

      if (!ib_vk_linear (d, &decoder->cross_k[l], &decoder->x, n_src, cross->to_k, NULL, FALSE, IB_VK_LINEAR_AUTO,
                         error) ||
          !ib_vk_linear (d, &decoder->cross_v[l], &decoder->x, n_src, cross->to_v, NULL, FALSE, IB_VK_LINEAR_AUTO,
                         error))
        return NULL;
    }
  if (!ib_vk_device_submit (d, error))
    return NULL;
  return g_steal_pointer (&decoder);
}

IbVkDecoder *
ib_vk_decoder_new (IbVkStage     *stage,
                   const int32_t *src,
                   int            n_src,
                   GError       **error)
{
  g_return_val_if_fail (stage != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  IbVkDecoder *decoder = decoder_new (stage, src, n_src, error);
  ib_vk_call_done (stage->device, decoder != NULL);
  return decoder;
}

int
ib_vk_decoder_get_position (IbVkDecoder *decoder)
{
  g_return_val_if_fail (decoder != NULL, 0);
  return decoder->position;
}

void
ib_vk_decoder_rewind (IbVkDecoder *decoder,
                      int          pos)
{
  g_return_if_fail (decoder != NULL);
  g_return_if_fail (pos >= 0 && pos <= decoder->position);
  decoder->position = pos;
}

static gboolean
decoder_feed (IbVkDecoder   *decoder,
              const int32_t *tokens,
              int            n,
              float         *logits,
              GError       **error)
{
  IbVkStage *stage = decoder->stage;
  IbVkDevice *d = stage->device;
  const IbLevelConfig *c = &stage->config;
  int pos = decoder->position, n_vocab = c->dec_num_tokens;

  if (n < 0 || (n > 0 && tokens == NULL))
    {
      g_set_error (error, IB_ERROR, IB_ERROR_ARGUMENT, "cannot feed %d decoder tokens", n);
      return FALSE;
    }
  if (n > decoder->capacity - pos)
    {
      g_set_error (error, IB_ERROR, IB_ERROR_ARGUMENT, "feeding %d tokens after %d would pass the decoder's %d positions",
                   n, pos, decoder->capacity);
      return FALSE;
    }
  if (!check_tokens (tokens, n, n_vocab, "decoder input", error))
    return FALSE;
  if (n == 0)
    return TRUE;

  if (!stage->decoder_only)
    {
      guint base = (guint) decoder->n_src + pos;
      if (!ib_vk_upload (d, &decoder->tokens, (guint64) base * 4, tokens, (guint64) n * 4, error) ||
          !record_decoder (decoder, base, n, pos, logits != NULL, n, error) ||
          (logits != NULL && !record_finish (decoder, n, pos, error)) ||
          !(logits != NULL ? ib_vk_download (d, &decoder->logits, 0, logits, (guint64) n * n_vocab * 4, error)
                           : ib_vk_device_submit (d, error)))
        return FALSE;
      decoder->position = pos + n;
      return TRUE;
    }

  /* minGPT: tgt[0] is not read; tgt[p], p >= 1, is the input at sequence position n_src - 1 + p. */
  int skip = pos == 0 ? 1 : 0;
  if (!check_tokens (tokens + skip, n - skip, c->enc_num_tokens, "decoder input", error))
    return FALSE;
  if (skip && logits != NULL)
    memcpy (logits, decoder->first_logits, (gsize) n_vocab * sizeof (float));
  if (n > skip)
    {
      guint first = (guint) (decoder->n_src - 1 + pos + skip);
      float *rest = logits != NULL ? logits + (gsize) skip * n_vocab : NULL;
      if (!ib_vk_upload (d, &decoder->tokens, (guint64) first * 4, tokens + skip, (guint64) (n - skip) * 4, error) ||
          !record_decoder (decoder, first, n - skip, (int) first, rest != NULL, n - skip, error) ||
          !(rest != NULL ? ib_vk_download (d, &decoder->logits, 0, rest, (guint64) (n - skip) * n_vocab * 4, error)
                         : ib_vk_device_submit (d, error)))
        return FALSE;
    }
  decoder->position = pos + n;
  return TRUE;
}

gboolean
ib_vk_decoder_feed (IbVkDecoder   *decoder,
                    const int32_t *tokens,
                    int            n,
                    float         *logits,
                    GError       **error)
{
  g_return_val_if_fail (decoder != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return ib_vk_call_done (decoder->stage->device, decoder_feed (decoder, tokens, n, logits, error));
}

gboolean
ib_vk_stage_encode (IbVkStage     *stage,
                    const int32_t *src,
                    int            n_src,
                    float         *context,
                    GError       **error)
{
  g_return_val_if_fail (stage != NULL && context != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (stage->decoder_only)
    {
      g_set_error (error, IB_ERROR, IB_ERROR_ARGUMENT, "level %d is decoder-only (minGPT): it has no encoder",
                   stage->config.t);
      return FALSE;
    }
  if (!check_src (stage, src, n_src, error))
    return FALSE;
  g_autoptr (IbVkDecoder) decoder = decoder_create (stage, src, n_src, n_src, error);
  return ib_vk_call_done (stage->device,
                          decoder != NULL && record_encoder (decoder, error) &&
                          ib_vk_download (stage->device, &decoder->x, 0, context, (guint64) n_src * stage->dim * 4,
                                          error));
}

gboolean
ib_vk_stage_logits (IbVkStage     *stage,
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

  const IbLevelConfig *c = &stage->config;

  if (!check_src (stage, src, n_src, error))
    return FALSE;
  int capacity = tgt_capacity (stage, n_src);
  if (n_tgt < 0 || n_tgt > capacity || (n_tgt > 0 && tgt == NULL))
    {
      g_set_error (error, IB_ERROR, IB_ERROR_ARGUMENT, "the decoder input has %d tokens; level %d takes 0 to %d here",
                   n_tgt, c->t, capacity);
      return FALSE;
    }
  if (!check_tokens (tgt, n_tgt, c->dec_num_tokens, "decoder input", error))
    return FALSE;

  if (stage->decoder_only)
    {
      /* The whole sequence src ++ tgt[1..] in one pass, as the CPU engine. */
      if (n_tgt == 0)
        return TRUE;
      if (!check_tokens (tgt + 1, n_tgt - 1, c->enc_num_tokens, "decoder input", error))
        return FALSE;
      int n = n_src + n_tgt - 1;
      g_autoptr (IbVkDecoder) decoder = decoder_create (stage, src, n_src, decoder_rows (stage), error);
      return ib_vk_call_done (stage->device,
                              decoder != NULL &&
                              (n_tgt == 1 || ib_vk_upload (stage->device, &decoder->tokens, (guint64) n_src * 4,
                                                           tgt + 1, (guint64) (n_tgt - 1) * 4, error)) &&
                              record_decoder (decoder, 0, n, 0, TRUE, n_tgt, error) &&
                              ib_vk_download (stage->device, &decoder->logits, 0, logits,
                                              (guint64) n_tgt * c->dec_num_tokens * 4, error));
    }

  g_autoptr (IbVkDecoder) decoder = ib_vk_decoder_new (stage, src, n_src, error);
  return decoder != NULL && ib_vk_decoder_feed (decoder, tgt, n_tgt, logits, error);
}

/* Decoding without host round trips */

#define DEFAULT_STEPS_PER_SUBMIT 32

static gboolean
sample_level_batch (IbVkStage             *stage,
                    const int32_t         *conditioning,
                    int                    n_conditioning,
                    const int32_t         *x_t,
                    int                    n_batch,
                    int                    n_tokens,
                    const IbLevelSampling *sampling,
                    const IbRngStream     *streams,
                    const gboolean        *known,
                    const int32_t         *known_tokens,
                    int                    steps_per_submit,
                    int32_t               *x_prev,
                    IbSampleProgressFunc   progress,
                    gpointer               progress_data,
                    GCancellable          *cancellable,
                    GError               **error)
{
  const IbLevelConfig *c = &stage->config;
  IbVkDevice *d = stage->device;
  gboolean gpt = stage->decoder_only;
  int n_src = 1 + n_conditioning + (gpt ? 0 : n_tokens);
  int n_vocab = c->dec_num_tokens;
  /* With guidance, decoder n_batch + b is sequence b's twin: the null conditioning, the same tokens. */
  gboolean guided = ib_level_sampling_is_guided (sampling);
  int n_seq = guided ? 2 * n_batch : n_batch;

  if (n_src > c->enc_max_seq_len || n_tokens > c->dec_max_seq_len)
    {
      g_set_error (error, IB_ERROR, IB_ERROR_ARGUMENT, "Level %d takes at most %d encoder tokens, not %d", c->t,
                   c->enc_max_seq_len, n_src);
      return FALSE;
    }
  if (!(sampling->temperature > 0.0f))
    {
      g_set_error (error, IB_ERROR, IB_ERROR_ARGUMENT, "The temperature must be above 0, not %g",
                   sampling->temperature);
      return FALSE;
    }
  /* A minGPT level feeds its draws back as inputs. */
  if (gpt && n_vocab > c->enc_num_tokens)
    {
      g_set_error (error, IB_ERROR, IB_ERROR_UNSUPPORTED, "Level %d draws %d tokens but reads only %d", c->t, n_vocab,
                   c->enc_num_tokens);
      return FALSE;
    }
  if (steps_per_submit <= 0)
    steps_per_submit = DEFAULT_STEPS_PER_SUBMIT;
  if (known != NULL)
    for (int i = 0; i < n_tokens; i++)
      if (known[i] && !check_tokens (known_tokens + i, 1, gpt ? MIN (n_vocab, c->enc_num_tokens) : n_vocab,
                                     "forced", error))
        return FALSE;

  /* One decoder per sequence: its own src (x_t), encoder pass, caches and tokens. */
  g_autoptr (GPtrArray) decoders = g_ptr_array_new_with_free_func ((GDestroyNotify) ib_vk_decoder_free);
  g_autofree int32_t *src = g_new (int32_t, n_src);
  src[0] = c->t;
  for (int s = 0; s < n_seq; s++)
    {
      const int32_t *prefix = s < n_batch ? conditioning : sampling->null_conditioning;
      if (n_conditioning > 0)
        memcpy (src + 1, prefix, (gsize) n_conditioning * sizeof (int32_t));
      if (!gpt)
        memcpy (src + 1 + n_conditioning, x_t + (gsize) (s % n_batch) * n_tokens, (gsize) n_tokens * sizeof (int32_t));
      IbVkDecoder *decoder = decoder_new (stage, src, n_src, error);
      if (decoder == NULL)
        return FALSE;
      g_ptr_array_add (decoders, decoder);
      if (n_tokens > decoder->capacity)
        {
          g_set_error (error, IB_ERROR, IB_ERROR_ARGUMENT, "Level %d decodes at most %d tokens, not %d", c->t,
                       decoder->capacity, n_tokens);
          return FALSE;
        }
    }

  /* tgt[p] (tgt[0] = sos, tgt[i + 1] = x_prev[i]) sits at tokens[tgt_base + p]: an encoder-decoder level's after
   * src, a minGPT level's at its sequence position (src's last token plays tgt[0]). */
  guint tgt_base = gpt ? (guint) n_src - 1 : (guint) n_src;
  int32_t sos = 0;
  int n_free = 0, n_done = 0;
  for (int i = 0; i < n_tokens; i++)
    n_free += known == NULL || !known[i];
  for (int s = 0; s < n_seq && !gpt; s++)
    {
      IbVkDecoder *decoder = g_ptr_array_index (decoders, s);
      if (!ib_vk_upload (d, &decoder->tokens, (guint64) tgt_base * 4, &sos, 4, error))
        return FALSE;
    }

  int fed = 0, steps = 0;
  for (int i = 0; i < n_tokens; i++)
    {
      if (known != NULL && known[i])
        {
          for (int s = 0; s < n_seq; s++)
            {
              IbVkDecoder *decoder = g_ptr_array_index (decoders, s);
              if (!ib_vk_upload (d, &decoder->tokens, (guint64) (tgt_base + i + 1) * 4, &known_tokens[i], 4, error))
                return FALSE;
            }
          continue;
        }
      /* Catch up on forced tokens and feed tgt[i] in one step whose last row predicts token i. A minGPT level's
       * tgt[0] is not fed: src's last position's logits, from the prefill, are already in the logits view. */
      int first = gpt && fed == 0 ? 1 : fed;
      int n = i + 1 - first;
      for (int s = 0; s < n_seq; s++)
        {
          IbVkDecoder *decoder = g_ptr_array_index (decoders, s);
          if (n > 0 && !record_decoder (decoder, tgt_base + (guint) first, n, gpt ? n_src - 1 + first : first, TRUE,
                                        1, error))
            return FALSE;
          if (!gpt && !record_finish (decoder, 1, i, error))
            return FALSE;
          decoder->position = i + 1;
        }
      guint at = tgt_base + (guint) i + 1;
      for (int b = 0; b < n_batch; b++)
        {
          IbVkDecoder *decoder = g_ptr_array_index (decoders, b);
          IbVkDecoder *twin = guided ? g_ptr_array_index (decoders, n_batch + b) : NULL;
          IbVkSampling draw = {
            .top_k = sampling->top_k, .temperature = sampling->temperature, .stream = streams[b],
            .first_position = (guint) i,
          };
          if (guided && !ib_vk_axpby (d, &decoder->logits, sampling->guidance, &twin->logits,
                                      1.0f - sampling->guidance, (gsize) n_vocab, error))
            return FALSE;
          if (!ib_vk_sample_tokens (d, &decoder->tokens, at, &decoder->logits, 1, n_vocab, &draw, NULL, error))
            return FALSE;
          /* The twin reads the drawn token as its next input too. */
          if (guided && !copy_floats (d, &twin->tokens, at, &decoder->tokens, at, 1, error))
            return FALSE;
        }
      fed = i + 1;
      n_done++;
      if (++steps % steps_per_submit == 0 || n_done == n_free)
        {
          /* A part of the level: short enough for a watchdog; progress and cancellation between parts. */
          if (!ib_vk_device_submit (d, error))
            return FALSE;
          if (progress != NULL)
            progress (n_done, n_free, progress_data);
          if (g_cancellable_set_error_if_cancelled (cancellable, error))
            return FALSE;
        }
    }
  for (int b = 0; b < n_batch && n_tokens > 0; b++)
    {
      IbVkDecoder *decoder = g_ptr_array_index (decoders, b);
      if (!ib_vk_download (d, &decoder->tokens, (guint64) (tgt_base + 1) * 4, x_prev + (gsize) b * n_tokens,
                           (guint64) n_tokens * 4, error))
        return FALSE;
    }
  return TRUE;
}

gboolean
ib_vk_sample_level_batch (IbVkStage             *stage,
                          const int32_t         *conditioning,
                          int                    n_conditioning,
                          const int32_t         *x_t,
                          int                    n_batch,
                          int                    n_tokens,
                          const IbLevelSampling *sampling,
                          const IbRngStream     *streams,
                          const gboolean        *known,
                          const int32_t         *known_tokens,
                          int                    steps_per_submit,
                          int32_t               *x_prev,
                          IbSampleProgressFunc   progress,
                          gpointer               progress_data,
                          GCancellable          *cancellable,
                          GError               **error)
{
  g_return_val_if_fail (stage != NULL && sampling != NULL && streams != NULL && x_prev != NULL && n_tokens >= 0 &&
                        n_batch >= 1, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return ib_vk_call_done (stage->device,
                          sample_level_batch (stage, conditioning, n_conditioning, x_t, n_batch, n_tokens, sampling,
                                              streams, known, known_tokens, steps_per_submit, x_prev, progress,
                                              progress_data, cancellable, error));
}

gboolean
ib_vk_sample_level (IbVkStage         *stage,
                    const int32_t     *conditioning,
                    int                n_conditioning,
                    const int32_t     *x_t,
                    int                n_tokens,
                    int                top_k,
                    float              temperature,
                    const IbRngStream *stream,
                    const gboolean    *known,
                    const int32_t     *known_tokens,
                    int                steps_per_submit,
                    int32_t           *x_prev,
                    GCancellable      *cancellable,
                    GError           **error)
{
  IbLevelSampling sampling = { .top_k = top_k, .temperature = temperature };

  return ib_vk_sample_level_batch (stage, conditioning, n_conditioning, x_t, 1, n_tokens, &sampling, stream, known,
                                   known_tokens, steps_per_submit, x_prev, NULL, NULL, cancellable, error);
}

gboolean
ib_vk_sample_chain (IbVkDevice   *device,
                    IbModelFile  *file,
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
      g_autoptr (IbVkStage) stage = ib_vk_stage_new (device, file, t, error);
      if (stage == NULL)
        return FALSE;
      const IbLevelConfig *level = &stage->config;
      IbRngStream stream = { .seed = seed, .level = (uint32_t) t, .variant = 0 };
      if (!ib_vk_sample_level (stage, NULL, 0, tokens, n_tokens, level->top_k, (float) level->temperature, &stream,
                               NULL, NULL, 0, x_prev, cancellable, error))
        return FALSE;
      memcpy (tokens, x_prev, (gsize) n_tokens * sizeof (int32_t));
    }
  return TRUE;
}
