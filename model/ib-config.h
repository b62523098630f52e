/* ib-config.h: the model's configuration, parsed from the model file's JSON and validated.
 * docs/model-format.md describes every field. */
#pragma once

#include <glib.h>
#include <stdint.h>

G_BEGIN_DECLS

#define IB_MAX_CH_MULT 8
#define IB_MAX_LEVELS 64

typedef enum
{
  IB_VARIANT_PLAIN,              /* XTransformer */
  IB_VARIANT_SCALED,             /* ScaledXTransformer: logits * exp(log_scalors[t-1]) */
  IB_VARIANT_RESIDUAL_SCALED,    /* ResidualScaledXTransformer: scaled, + log(alpha_t onehot(x_t) + (1-alpha_t)/K) */
  IB_VARIANT_GPT,                /* decoder-only minGPT (the official DecoderOnlyDenoiser, used where x_t is
                                  * pure noise): reads only [t, conditioning...], then x_{t-1} causally */
} IbVariant;

typedef enum
{
  IB_CONDITIONING_NONE,
  IB_CONDITIONING_CLASS,
  IB_CONDITIONING_TEXT,
} IbConditioningKind;

#define IB_MAX_GUIDANCE 20.0

typedef struct
{
  int resolution;
  int in_channels;
  int out_ch;
  int ch;
  int n_ch_mult;
  int ch_mult[IB_MAX_CH_MULT];
  int num_res_blocks;
  int n_attn_resolutions;
  int attn_resolutions[IB_MAX_CH_MULT];
  int z_channels;
  int embed_dim;
  int n_embed;
  int n_remap;                   /* 0: no remap, model tokens are codebook rows */
  int32_t *remap;                /* model token -> codebook row */
} IbVqganConfig;

/* For IB_VARIANT_GPT the fields map from minGPT's: dim = n_embd, dec_depth = n_layer, dec_heads = n_head,
 * dim_head = n_embd / n_head, enc_num_tokens = input_vocab_size, dec_num_tokens = vocab_size,
 * enc_max_seq_len = dec_max_seq_len = block_size, enc_depth = enc_heads = 0. */
typedef struct
{
  int t;                         /* the level this transformer inverts: x_t -> x_{t-1} */
  char *prefix;                  /* tensor name prefix, e.g. "level1." */
  IbVariant variant;
  int dim;
  int dim_head;
  int enc_depth;
  int dec_depth;
  int enc_heads;
  int dec_heads;
  int enc_num_tokens;
  int dec_num_tokens;
  int enc_max_seq_len;
  int dec_max_seq_len;
  int scale_pos;
  int n_scales;
  int xt_start;
  int xt_size;
  int n_unmasked;                /* gpt: leading positions that attend to each other both ways */
  int top_k;                     /* 0: no cut */
  double temperature;
} IbLevelConfig;

typedef struct
{
  IbConditioningKind kind;
  int token_offset;
  int n_labels;                  /* class */
  char **labels;
  int text_length;               /* text: number of prefix tokens */
  int n_vocab;
  char **vocab;
  /* text: the default classifier-free guidance scale (1..IB_MAX_GUIDANCE; 1 = none). Above 1 only for a
   * model trained with some captions dropped, so that the empty prompt is its unconditional mode. */
  double guidance;
} IbConditioning;

typedef struct
{
  char *name;
  char *license;
  char *provenance;
  int resolution;
  int token_height;
  int token_width;
  int n_codes;                   /* K: image token vocabulary (len(remap) or n_embed) */
  IbVqganConfig vqgan;
  char *schedule_name;
  int n_levels;                  /* T */
  double *betas;                 /* T + 1 entries, betas[0] = 0 */
  IbLevelConfig *levels;         /* levels[t - 1] is level t */
  IbConditioning conditioning;
} IbModelConfig;

/* Parses and validates the JSON text; never trusts it. */
IbModelConfig *ib_model_config_parse   (const char     *json,
                                        gsize           length,
                                        GError        **error);
void           ib_model_config_free    (IbModelConfig  *config);

const char    *ib_variant_name         (IbVariant       variant);
const char    *ib_conditioning_name    (IbConditioningKind kind);

/* alpha_t = 1 - beta_t in f32, as the reference computes it. */
float          ib_model_config_alpha   (const IbModelConfig *config,
                                        int                  t);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (IbModelConfig, ib_model_config_free)

G_END_DECLS
