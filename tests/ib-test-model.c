/* ib-test-model.c: small random model files built in memory for the C tests. */
#include "ib-test-model.h"

#include <math.h>
#include <string.h>

#include "ib-model-layout.h"

void
ib_test_model_spec_init (IbTestModelSpec *spec)
{
  *spec = (IbTestModelSpec) {
    .n_levels = 2,
    .variant = IB_VARIANT_RESIDUAL_SCALED,
    .dim = 40,
    .dim_head = 12,
    .enc_depth = 2,
    .dec_depth = 2,
    .heads = 3,
    .n_codes = 10,
    .n_embed = 16,
    .resolution = 16,
    .ch = 32,
    .n_ch_mult = 3,
    .ch_mult = { 1, 2, 2 },
    .num_res_blocks = 1,
    .attn_resolution = 8,
    .z_channels = 8,
    .embed_dim = 6,
    .dtype = IB_DTYPE_F32,
    .joint = FALSE,
    .gpt_top = FALSE,
    .gpt_heads = 4,
    .n_unmasked = 0,
    .seed = 1,
  };
}

char *
ib_test_model_config_json (const IbTestModelSpec *spec)
{
  GString *json = g_string_new (NULL);
  int side = spec->resolution >> (spec->n_ch_mult - 1);
  int n_tokens = side * side;
  const char *variant = ib_variant_name (spec->variant);

  g_string_append_printf (json,
    "{\"format\": \"imagebart-studio-model\", \"format_version\": 1, \"name\": \"test model\", "
    "\"license\": \"test\", \"provenance\": \"random weights\", "
    "\"image\": {\"resolution\": %d}, \"tokens\": {\"height\": %d, \"width\": %d}, "
    "\"vqgan\": {\"resolution\": %d, \"in_channels\": 3, \"out_ch\": 3, \"ch\": %d, \"ch_mult\": [",
    spec->resolution, side, side, spec->resolution, spec->ch);
  for (int i = 0; i < spec->n_ch_mult; i++)
    g_string_append_printf (json, "%s%d", i ? ", " : "", spec->ch_mult[i]);
  g_string_append_printf (json, "], \"num_res_blocks\": %d, \"attn_resolutions\": [", spec->num_res_blocks);
  if (spec->attn_resolution > 0)
    g_string_append_printf (json, "%d", spec->attn_resolution);
  g_string_append_printf (json, "], \"z_channels\": %d, \"embed_dim\": %d, \"n_embed\": %d, \"remap\": [",
                          spec->z_channels, spec->embed_dim, spec->n_embed);
  /* Codebook rows in reverse order, so that the remap is not the identity. */
  for (int i = 0; i < spec->n_codes; i++)
    g_string_append_printf (json, "%s%d", i ? ", " : "", spec->n_embed - 1 - i);
  g_string_append (json, "]}, \"schedule\": {\"name\": \"geometric\", \"betas\": [0");
  for (int t = 1; t <= spec->n_levels; t++)
    g_string_append_printf (json, ", %.9g", (double) (1.0f / (float) (spec->n_levels - t + 1)));
  g_string_append (json, "]}, \"conditioning\": {\"kind\": \"none\"}, \"levels\": [");
  for (int t = 1; t <= spec->n_levels; t++)
    {
      if (spec->gpt_top && t == spec->n_levels)
        {
          g_string_append_printf (json,
            "%s{\"t\": %d, \"prefix\": \"gpt.\", \"variant\": \"gpt\", \"vocab_size\": %d, "
            "\"input_vocab_size\": %d, \"block_size\": %d, \"n_layer\": %d, \"n_head\": %d, \"n_embd\": %d, "
            "\"n_unmasked\": %d, \"top_k\": %d}",
            t > 1 ? ", " : "", t, spec->n_codes, MAX (spec->n_codes, spec->n_levels + 1), n_tokens,
            spec->dec_depth, spec->gpt_heads, spec->dim, spec->n_unmasked, MIN (5, spec->n_codes));
          continue;
        }
      g_autofree char *prefix = spec->joint ? g_strdup ("joint.") : g_strdup_printf ("level%d.", t);
      g_string_append_printf (json,
        "%s{\"t\": %d, \"prefix\": \"%s\", \"variant\": \"%s\", \"dim\": %d, \"dim_head\": %d, "
        "\"enc_depth\": %d, \"dec_depth\": %d, \"enc_heads\": %d, \"dec_heads\": %d, "
        "\"enc_num_tokens\": %d, \"dec_num_tokens\": %d, \"enc_max_seq_len\": %d, \"dec_max_seq_len\": %d, "
        "\"scale_pos\": 0, \"n_scales\": %d, \"xt_start\": %d, \"xt_size\": %d, \"top_k\": %d, "
        "\"temperature\": 1.0}",
        t > 1 ? ", " : "", t, prefix, variant, spec->dim, spec->dim_head, spec->enc_depth, spec->dec_depth,
        spec->heads, spec->heads, MAX (spec->n_codes, spec->n_levels + 1), spec->n_codes,
        n_tokens + 1 + spec->n_prefix, n_tokens,
        spec->n_levels, 1 + spec->n_prefix, n_tokens, MIN (5, spec->n_codes));
    }
  g_string_append (json, "]}");
  return g_string_free (json, FALSE);
}

typedef struct
{
  GString *header;
  GByteArray *data;
  GHashTable *written;          /* names already laid out (levels sharing a prefix) */
  IbDType dtype;
  GRand *rand;
} Builder;

static void
append_value (Builder *builder,
              float    value)
{
  switch (builder->dtype)
    {
    case IB_DTYPE_F32:
      g_byte_array_append (builder->data, (const guint8 *) &value, 4);
      break;
    case IB_DTYPE_F16:
      {
        uint16_t h = ib_f32_to_f16 (value);
        g_byte_array_append (builder->data, (const guint8 *) &h, 2);
        break;
      }
    case IB_DTYPE_BF16:
      {
        uint16_t b = ib_f32_to_bf16 (value);
        g_byte_array_append (builder->data, (const guint8 *) &b, 2);
        break;
      }
    default:
      g_assert_not_reached ();
    }
}

/* Norm weights near 1 keep activations in range; everything else small and centred. */
static float
random_weight (Builder    *builder,
               const char *name,
               int         n_dims,
               int64_t     fan_in)
{
  gboolean is_norm_weight = n_dims == 1 && g_str_has_suffix (name, ".weight");
  if (is_norm_weight)
    return (float) g_rand_double_range (builder->rand, 0.7, 1.3);
  double bound = fan_in > 1 ? 1.0 / sqrt ((double) fan_in) : 0.5;
  return (float) g_rand_double_range (builder->rand, -bound, bound);
}

static gboolean
add_tensor (const char    *name,
            int            n_dims,
            const int64_t *shape,
            gpointer       user_data,
            GError       **error)
{
  Builder *builder = user_data;
  int64_t n = 1, fan_in = 1;

  if (g_hash_table_contains (builder->written, name))
    return TRUE;
  g_hash_table_add (builder->written, g_strdup (name));

  for (int i = 0; i < n_dims; i++)
    n *= shape[i];
  for (int i = 1; i < n_dims; i++)
    fan_in *= shape[i];

  gsize begin = builder->data->len;
  for (int64_t i = 0; i < n; i++)
    append_value (builder, random_weight (builder, name, n_dims, fan_in));
  g_string_append_printf (builder->header, "%s\"%s\": {\"dtype\": \"%s\", \"shape\": [", builder->header->len > 1 ? ", " : "",
                          name, ib_dtype_name (builder->dtype));
  for (int i = 0; i < n_dims; i++)
    g_string_append_printf (builder->header, "%s%" G_GINT64_FORMAT, i ? ", " : "", shape[i]);
  g_string_append_printf (builder->header, "], \"data_offsets\": [%" G_GSIZE_FORMAT ", %u]}", begin, builder->data->len);
  /* Keep every tensor 4-byte aligned, as safetensors writers do. */
  while (builder->data->len % 4 != 0)
    g_byte_array_append (builder->data, (const guint8 *) "\0", 1);
  return TRUE;
}

GBytes *
ib_test_model_build_from_config (const char *config_json,
                                 IbDType     dtype,
                                 guint32     seed)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (IbModelConfig) config = ib_model_config_parse (config_json, strlen (config_json), &error);
  g_assert_no_error (error);

  Builder builder = {
    .header = g_string_new ("{"),
    .data = g_byte_array_new (),
    .written = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL),
    .dtype = dtype,
    .rand = g_rand_new_with_seed (seed),
  };
  g_assert_true (ib_model_layout_foreach (config, add_tensor, &builder, &error));

  g_autofree char *escaped = g_strescape (config_json, NULL);
  g_string_append_printf (builder.header, ", \"__metadata__\": {\"imagebart.config\": \"%s\"}", escaped);
  g_string_append_c (builder.header, '}');
  while ((8 + builder.header->len) % 8 != 0)
    g_string_append_c (builder.header, ' ');

  GByteArray *file = g_byte_array_new ();
  guint64 header_length = builder.header->len;
  guint8 length_bytes[8];
  for (int i = 0; i < 8; i++)
    length_bytes[i] = (guint8) (header_length >> (8 * i));
  g_byte_array_append (file, length_bytes, 8);
  g_byte_array_append (file, (const guint8 *) builder.header->str, builder.header->len);
  g_byte_array_append (file, builder.data->data, builder.data->len);

  g_string_free (builder.header, TRUE);
  g_byte_array_unref (builder.data);
  g_hash_table_unref (builder.written);
  g_rand_free (builder.rand);
  return g_byte_array_free_to_bytes (file);
}

GBytes *
ib_test_model_build (const IbTestModelSpec *spec)
{
  g_autofree char *json = ib_test_model_config_json (spec);
  return ib_test_model_build_from_config (json, spec->dtype, spec->seed);
}
