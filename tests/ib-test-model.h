/* ib-test-model.h: small random model files built in memory, for the C tests.
 *
 * The tensors come from ib_model_layout_foreach, so a built file always matches what the loader expects.
 * Weights are uniform in [-scale, scale] (LayerNorm/GroupNorm weights around 1) from a seeded generator. */
#pragma once

#include <glib.h>

#include "ib-config.h"
#include "ib-tensor.h"

G_BEGIN_DECLS

typedef struct
{
  int n_levels;
  IbVariant variant;
  int dim;
  int dim_head;
  int enc_depth;
  int dec_depth;
  int heads;
  int n_codes;                  /* K: used codes (remap length); n_embed >= n_codes */
  int n_embed;
  int resolution;
  int ch;
  int n_ch_mult;
  int ch_mult[4];
  int num_res_blocks;
  int attn_resolution;          /* 0: none */
  int z_channels;
  int embed_dim;
  IbDType dtype;
  gboolean joint;               /* one transformer (prefix "joint.") for all levels */
  gboolean gpt_top;             /* level T is a decoder-only minGPT, as in the official releases */
  int gpt_heads;                /* its heads: must divide dim */
  int n_unmasked;
  int n_prefix;                 /* encoder-decoder levels take this many tokens (conditioning) before x_t */
  guint32 seed;
} IbTestModelSpec;

/* A small but complete default: 2 levels, 16 px, 4x4 tokens. */
void    ib_test_model_spec_init   (IbTestModelSpec       *spec);

/* The config JSON the spec describes. */
char   *ib_test_model_config_json (const IbTestModelSpec *spec);

/* A safetensors file: header from the layout of config_json, random weights. */
GBytes *ib_test_model_build_from_config (const char      *config_json,
                                         IbDType          dtype,
                                         guint32          seed);

GBytes *ib_test_model_build       (const IbTestModelSpec *spec);

G_END_DECLS
