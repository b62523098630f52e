/* ib-model-layout.c: the tensors a config implies (taming VQModel + official XTransformer). */
#include "ib-model-layout.h"

#include <stdarg.h>

typedef struct
{
  IbLayoutFunc func;
  gpointer user_data;
  GError **error;
} Visitor;

static gboolean
emit (Visitor       *visitor,
      int            n_dims,
      const int64_t *shape,
      const char    *format,
      ...) G_GNUC_PRINTF (4, 5);

static gboolean
emit (Visitor       *visitor,
      int            n_dims,
      const int64_t *shape,
      const char    *format,
      ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *name = g_strdup_vprintf (format, args);
  va_end (args);
  return visitor->func (name, n_dims, shape, visitor->user_data, visitor->error);
}

#define SHAPE(...) ((const int64_t[]) { __VA_ARGS__ })
#define N_DIMS(...) ((int) (sizeof ((int64_t[]) { __VA_ARGS__ }) / sizeof (int64_t)))
#define EMIT(visitor, shape_list, ...) emit (visitor, N_DIMS shape_list, SHAPE shape_list, __VA_ARGS__)

static gboolean
emit_conv (Visitor    *v,
           const char *name,
           int64_t     c_out,
           int64_t     c_in,
           int64_t     kernel)
{
  return EMIT (v, (c_out, c_in, kernel, kernel), "first_stage_model.%s.weight", name) &&
         EMIT (v, (c_out), "first_stage_model.%s.bias", name);
}

static gboolean
emit_norm (Visitor    *v,
           const char *name,
           int64_t     channels)
{
  return EMIT (v, (channels), "first_stage_model.%s.weight", name) &&
         EMIT (v, (channels), "first_stage_model.%s.bias", name);
}

static gboolean
emit_resnet_block (Visitor    *v,
                   const char *name,
                   int64_t     c_in,
                   int64_t     c_out)
{
  g_autofree char *norm1 = g_strdup_printf ("%s.norm1", name);
  g_autofree char *conv1 = g_strdup_printf ("%s.conv1", name);
  g_autofree char *norm2 = g_strdup_printf ("%s.norm2", name);
  g_autofree char *conv2 = g_strdup_printf ("%s.conv2", name);
  g_autofree char *shortcut = g_strdup_printf ("%s.nin_shortcut", name);

  return emit_norm (v, norm1, c_in) &&
         emit_conv (v, conv1, c_out, c_in, 3) &&
         emit_norm (v, norm2, c_out) &&
         emit_conv (v, conv2, c_out, c_out, 3) &&
         (c_in == c_out || emit_conv (v, shortcut, c_out, c_in, 1));
}

static gboolean
emit_attn_block (Visitor    *v,
                 const char *name,
                 int64_t     channels)
{
  static const char *const parts[] = { "q", "k", "v", "proj_out" };
  g_autofree char *norm = g_strdup_printf ("%s.norm", name);
  if (!emit_norm (v, norm, channels))
    return FALSE;
  for (gsize i = 0; i < G_N_ELEMENTS (parts); i++)
    {
      g_autofree char *conv = g_strdup_printf ("%s.%s", name, parts[i]);
      if (!emit_conv (v, conv, channels, channels, 1))
        return FALSE;
    }
  return TRUE;
}

static gboolean
has_attention_at (const IbVqganConfig *config,
                  int                  resolution)
{
  for (int i = 0; i < config->n_attn_resolutions; i++)
    if (config->attn_resolutions[i] == resolution)
      return TRUE;
  return FALSE;
}

static gboolean
emit_mid (Visitor    *v,
          const char *stack,
          int64_t     channels)
{
  g_autofree char *block_1 = g_strdup_printf ("%s.mid.block_1", stack);
  g_autofree char *attn_1 = g_strdup_printf ("%s.mid.attn_1", stack);
  g_autofree char *block_2 = g_strdup_printf ("%s.mid.block_2", stack);
  return emit_resnet_block (v, block_1, channels, channels) &&
         emit_attn_block (v, attn_1, channels) &&
         emit_resnet_block (v, block_2, channels, channels);
}

/* taming Encoder: per resolution num_res_blocks blocks (+attention), downsampling between resolutions. */
static gboolean
emit_vqgan_encoder (Visitor             *v,
                    const IbVqganConfig *c)
{
  int64_t block_in = c->ch;
  int resolution = c->resolution;

  if (!emit_conv (v, "encoder.conv_in", c->ch, c->in_channels, 3))
    return FALSE;
  for (int i = 0; i < c->n_ch_mult; i++)
    {
      int64_t block_out = (int64_t) c->ch * c->ch_mult[i];
      for (int j = 0; j < c->num_res_blocks; j++)
        {
          g_autofree char *block = g_strdup_printf ("encoder.down.%d.block.%d", i, j);
          g_autofree char *attn = g_strdup_printf ("encoder.down.%d.attn.%d", i, j);
          if (!emit_resnet_block (v, block, block_in, block_out))
            return FALSE;
          block_in = block_out;
          if (has_attention_at (c, resolution) && !emit_attn_block (v, attn, block_in))
            return FALSE;
        }
      if (i != c->n_ch_mult - 1)
        {
          g_autofree char *down = g_strdup_printf ("encoder.down.%d.downsample.conv", i);
          if (!emit_conv (v, down, block_in, block_in, 3))
            return FALSE;
          resolution /= 2;
        }
    }
  return emit_mid (v, "encoder", block_in) &&
         emit_norm (v, "encoder.norm_out", block_in) &&
         emit_conv (v, "encoder.conv_out", c->z_channels, block_in, 3);
}

/* taming Decoder: from the coarsest resolution up, num_res_blocks + 1 blocks each, upsampling between. */
static gboolean
emit_vqgan_decoder (Visitor             *v,
                    const IbVqganConfig *c)
{
  int64_t block_in = (int64_t) c->ch * c->ch_mult[c->n_ch_mult - 1];
  int resolution = c->resolution >> (c->n_ch_mult - 1);

  if (!emit_conv (v, "decoder.conv_in", block_in, c->z_channels, 3) || !emit_mid (v, "decoder", block_in))
    return FALSE;
  for (int i = c->n_ch_mult - 1; i >= 0; i--)
    {
      int64_t block_out = (int64_t) c->ch * c->ch_mult[i];
      for (int j = 0; j < c->num_res_blocks + 1; j++)
        {
          g_autofree char *block = g_strdup_printf ("decoder.up.%d.block.%d", i, j);
          g_autofree char *attn = g_strdup_printf ("decoder.up.%d.attn.%d", i, j);
          if (!emit_resnet_block (v, block, block_in, block_out))
            return FALSE;
          block_in = block_out;
          if (has_attention_at (c, resolution) && !emit_attn_block (v, attn, block_in))
            return FALSE;
        }
      if (i != 0)
        {
          g_autofree char *up = g_strdup_printf ("decoder.up.%d.upsample.conv", i);
          if (!emit_conv (v, up, block_in, block_in, 3))
            return FALSE;
          resolution *= 2;
        }
    }
  return emit_norm (v, "decoder.norm_out", block_in) &&
         emit_conv (v, "decoder.conv_out", c->out_ch, block_in, 3);
}

static gboolean
emit_vqgan (Visitor             *v,
            const IbVqganConfig *c)
{
  return emit_vqgan_encoder (v, c) &&
         emit_conv (v, "quant_conv", c->embed_dim, c->z_channels, 1) &&
         emit_conv (v, "post_quant_conv", c->z_channels, c->embed_dim, 1) &&
         EMIT (v, (c->n_embed, c->embed_dim), "first_stage_model.quantize.embedding.weight") &&
         emit_vqgan_decoder (v, c);
}

static gboolean
emit_layer_norm (Visitor    *v,
                 const char *layer,
                 int64_t     dim)
{
  return EMIT (v, (dim), "%s.0.weight", layer) && EMIT (v, (dim), "%s.0.bias", layer);
}

static gboolean
emit_attention (Visitor    *v,
                const char *layer,
                int64_t     dim,
                int64_t     inner)
{
  return emit_layer_norm (v, layer, dim) &&
         EMIT (v, (inner, dim), "%s.1.to_q.weight", layer) &&
         EMIT (v, (inner, dim), "%s.1.to_k.weight", layer) &&
         EMIT (v, (inner, dim), "%s.1.to_v.weight", layer) &&
         EMIT (v, (dim, inner), "%s.1.to_out.weight", layer) &&
         EMIT (v, (dim), "%s.1.to_out.bias", layer);
}

static gboolean
emit_feed_forward (Visitor    *v,
                   const char *layer,
                   int64_t     dim)
{
  return emit_layer_norm (v, layer, dim) &&
         EMIT (v, (4 * dim, dim), "%s.1.net.0.0.weight", layer) &&
         EMIT (v, (4 * dim), "%s.1.net.0.0.bias", layer) &&
         EMIT (v, (dim, 4 * dim), "%s.1.net.2.weight", layer) &&
         EMIT (v, (dim), "%s.1.net.2.bias", layer);
}

/* Encoder layers (attention, feed-forward) * depth; decoder (causal self, cross, feed-forward) * depth. */
static gboolean
emit_level (Visitor             *v,
            const IbLevelConfig *level)
{
  const char *p = level->prefix;
  int64_t dim = level->dim;
  int64_t enc_inner = (int64_t) level->enc_heads * level->dim_head;
  int64_t dec_inner = (int64_t) level->dec_heads * level->dim_head;

  if (!EMIT (v, (level->enc_num_tokens, dim), "%stransformer.encoder.token_emb.weight", p) ||
      !EMIT (v, (level->enc_max_seq_len, dim), "%stransformer.encoder.pos_emb.emb.weight", p))
    return FALSE;
  for (int l = 0; l < level->enc_depth; l++)
    {
      g_autofree char *attn = g_strdup_printf ("%stransformer.encoder.attn_layers.layers.%d", p, 2 * l);
      g_autofree char *ff = g_strdup_printf ("%stransformer.encoder.attn_layers.layers.%d", p, 2 * l + 1);
      if (!emit_attention (v, attn, dim, enc_inner) || !emit_feed_forward (v, ff, dim))
        return FALSE;
    }
  if (!EMIT (v, (dim), "%stransformer.encoder.norm.weight", p) ||
      !EMIT (v, (dim), "%stransformer.encoder.norm.bias", p) ||
      !EMIT (v, (level->dec_num_tokens, dim), "%stransformer.decoder.token_emb.weight", p) ||
      !EMIT (v, (level->dec_max_seq_len, dim), "%stransformer.decoder.pos_emb.emb.weight", p))
    return FALSE;
  for (int l = 0; l < level->dec_depth; l++)
    {
      g_autofree char *self = g_strdup_printf ("%stransformer.decoder.attn_layers.layers.%d", p, 3 * l);
      g_autofree char *cross = g_strdup_printf ("%stransformer.decoder.attn_layers.layers.%d", p, 3 * l + 1);
      g_autofree char *ff = g_strdup_printf ("%stransformer.decoder.attn_layers.layers.%d", p, 3 * l + 2);
      if (!emit_attention (v, self, dim, dec_inner) ||
          !emit_attention (v, cross, dim, dec_inner) ||
          !emit_feed_forward (v, ff, dim))
        return FALSE;
    }
  if (!EMIT (v, (dim), "%stransformer.decoder.norm.weight", p) ||
      !EMIT (v, (dim), "%stransformer.decoder.norm.bias", p) ||
      !EMIT (v, (level->dec_num_tokens, dim), "%stransformer.decoder.to_logits.weight", p) ||
      !EMIT (v, (level->dec_num_tokens), "%stransformer.decoder.to_logits.bias", p))
    return FALSE;
  if (level->variant == IB_VARIANT_PLAIN)
    return TRUE;
  return EMIT (v, (level->n_scales), "%stransformer.log_scalors", p);
}

/* minGPT: tok_emb, pos_emb [1, block, dim], blocks.{i} (ln1, attn.{key,query,value,proj} with biases, ln2,
 * mlp.0, mlp.2), ln_f, head without bias. */
static gboolean
emit_gpt_level (Visitor             *v,
                const IbLevelConfig *level)
{
  const char *p = level->prefix;
  int64_t dim = level->dim;
  static const char *const projections[] = { "key", "query", "value", "proj" };

  if (!EMIT (v, (level->enc_num_tokens, dim), "%stransformer.tok_emb.weight", p) ||
      !EMIT (v, (1, level->dec_max_seq_len, dim), "%stransformer.pos_emb", p))
    return FALSE;
  for (int i = 0; i < level->dec_depth; i++)
    {
      if (!EMIT (v, (dim), "%stransformer.blocks.%d.ln1.weight", p, i) ||
          !EMIT (v, (dim), "%stransformer.blocks.%d.ln1.bias", p, i) ||
          !EMIT (v, (dim), "%stransformer.blocks.%d.ln2.weight", p, i) ||
          !EMIT (v, (dim), "%stransformer.blocks.%d.ln2.bias", p, i))
        return FALSE;
      for (gsize j = 0; j < G_N_ELEMENTS (projections); j++)
        if (!EMIT (v, (dim, dim), "%stransformer.blocks.%d.attn.%s.weight", p, i, projections[j]) ||
            !EMIT (v, (dim), "%stransformer.blocks.%d.attn.%s.bias", p, i, projections[j]))
          return FALSE;
      if (!EMIT (v, (4 * dim, dim), "%stransformer.blocks.%d.mlp.0.weight", p, i) ||
          !EMIT (v, (4 * dim), "%stransformer.blocks.%d.mlp.0.bias", p, i) ||
          !EMIT (v, (dim, 4 * dim), "%stransformer.blocks.%d.mlp.2.weight", p, i) ||
          !EMIT (v, (dim), "%stransformer.blocks.%d.mlp.2.bias", p, i))
        return FALSE;
    }
  return EMIT (v, (dim), "%stransformer.ln_f.weight", p) &&
         EMIT (v, (dim), "%stransformer.ln_f.bias", p) &&
         EMIT (v, (level->dec_num_tokens, dim), "%stransformer.head.weight", p);
}

gboolean
ib_model_layout_foreach (const IbModelConfig *config,
                         IbLayoutFunc         func,
                         gpointer             user_data,
                         GError             **error)
{
  Visitor visitor = { func, user_data, error };

  g_return_val_if_fail (config != NULL && func != NULL, FALSE);

  if (!emit_vqgan (&visitor, &config->vqgan))
    return FALSE;
  for (int t = 1; t <= config->n_levels; t++)
    {
      const IbLevelConfig *level = &config->levels[t - 1];
      if (!(level->variant == IB_VARIANT_GPT ? emit_gpt_level (&visitor, level) : emit_level (&visitor, level)))
        return FALSE;
    }
  return TRUE;
}
