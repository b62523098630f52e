/* test-transformer.c: the stage transformer (model/ib-transformer.c) on small random model files written
 * here byte by byte: against a naive double-precision forward pass of the official XTransformer for each
 * variant and weight dtype, KV-cache decoding against full recomputation, and bad inputs refused with
 * errors. */
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "ib-error.h"
#include "ib-model-file.h"
#include "ib-model-layout.h"
#include "ib-ops.h"
#include "ib-transformer.h"

/* The test model: a 9x9 token grid (longer than the attention's row blocks), K = 11 image tokens, four
 * levels, one per variant: three encoder-decoder ones with different head counts in the encoder and decoder
 * and dim_head * heads different from dim (dec_max_seq_len exceeds the grid so that rows past xt_size are
 * exercised), and a minGPT one whose first two positions see each other both ways. */
#define SIDE 9
#define N_TOKENS (SIDE * SIDE)
#define K 11
#define N_LEVELS 4
#define DIM 40
#define DIM_HEAD 12
#define ENC_HEADS 3
#define DEC_HEADS 2
#define ENC_DEPTH 2
#define DEC_DEPTH 2
#define ENC_NUM_TOKENS 13
#define XT_START 2                       /* after the scale token and one conditioning token */
#define ENC_MAX_SEQ_LEN (XT_START + N_TOKENS)
#define DEC_MAX_SEQ_LEN (N_TOKENS + 4)
#define GPT_LEVEL 4
#define GPT_HEADS 4
#define GPT_DEPTH 2
#define GPT_UNMASKED 2
#define GPT_BLOCK (DEC_MAX_SEQ_LEN + 1)  /* a 2-token src leaves DEC_MAX_SEQ_LEN tgt tokens */

static const char *variant_names[N_LEVELS] = { "residual_scaled", "scaled", "plain", "gpt" };

static char *
config_json (void)
{
  GString *json = g_string_new (NULL);

  g_string_append_printf (json,
    "{\"format\": \"imagebart-studio-model\", \"format_version\": 1, \"name\": \"transformer test\", "
    "\"license\": \"test\", \"provenance\": \"random\", \"image\": {\"resolution\": %d}, "
    "\"tokens\": {\"height\": %d, \"width\": %d}, "
    "\"vqgan\": {\"resolution\": %d, \"in_channels\": 3, \"out_ch\": 3, \"ch\": 32, \"ch_mult\": [1], "
    "\"num_res_blocks\": 0, \"attn_resolutions\": [], \"z_channels\": 4, \"embed_dim\": 4, \"n_embed\": %d}, "
    "\"schedule\": {\"name\": \"test\", \"betas\": [0, 0.25, 0.6, 0.8, 1.0]}, "
    "\"conditioning\": {\"kind\": \"none\"}, "
    "\"levels\": [", SIDE, SIDE, SIDE, SIDE, K);
  for (int t = 1; t < GPT_LEVEL; t++)
    g_string_append_printf (json,
      "%s{\"t\": %d, \"prefix\": \"level%d.\", \"variant\": \"%s\", \"dim\": %d, \"dim_head\": %d, "
      "\"enc_depth\": %d, \"dec_depth\": %d, \"enc_heads\": %d, \"dec_heads\": %d, \"enc_num_tokens\": %d, "
      "\"dec_num_tokens\": %d, \"enc_max_seq_len\": %d, \"dec_max_seq_len\": %d, \"scale_pos\": 0, "
      "\"n_scales\": %d, \"xt_start\": %d, \"xt_size\": %d}",
      t > 1 ? ", " : "", t, t, variant_names[t - 1], DIM, DIM_HEAD, ENC_DEPTH, DEC_DEPTH, ENC_HEADS,
      DEC_HEADS, ENC_NUM_TOKENS, K, ENC_MAX_SEQ_LEN, DEC_MAX_SEQ_LEN, N_LEVELS, XT_START, N_TOKENS);
  g_string_append_printf (json,
    ", {\"t\": %d, \"prefix\": \"level%d.\", \"variant\": \"gpt\", \"vocab_size\": %d, \"block_size\": %d, "
    "\"n_layer\": %d, \"n_head\": %d, \"n_embd\": %d, \"input_vocab_size\": %d, \"n_unmasked\": %d}",
    GPT_LEVEL, GPT_LEVEL, K, GPT_BLOCK, GPT_DEPTH, GPT_HEADS, DIM, ENC_NUM_TOKENS, GPT_UNMASKED);
  g_string_append (json, "]}");
  return g_string_free (json, FALSE);
}

/* Writing a safetensors file */

typedef struct
{
  GString *header;
  GByteArray *data;
  GHashTable *written;
  IbDType dtype;
  GRand *rand;
} Writer;

/* Values that make every part matter: LayerNorm gains around 1, sharp enough attention (query and key
 * weights larger than the usual 1/sqrt(fan_in)), log scalors away from 0. */
static float
initial_value (Writer        *writer,
               const char    *name,
               int            n_dims,
               const int64_t *shape)
{
  GRand *rand = writer->rand;
  int64_t fan_in = 1;

  for (int i = 1; i < n_dims; i++)
    fan_in *= shape[i];
  if (g_str_has_suffix (name, "log_scalors"))
    return (float) g_rand_double_range (rand, -0.7, 0.7);
  if (n_dims == 1 && g_str_has_suffix (name, ".weight"))
    return (float) g_rand_double_range (rand, 0.5, 1.5);
  if (n_dims == 1)
    return (float) g_rand_double_range (rand, -0.3, 0.3);
  if (strstr (name, "_emb.") != NULL)
    return (float) g_rand_double_range (rand, -1.0, 1.0);
  double bound = 1.0 / sqrt ((double) fan_in);
  if (g_str_has_suffix (name, "to_q.weight") || g_str_has_suffix (name, "to_k.weight"))
    bound *= 2.5;
  return (float) g_rand_double_range (rand, -bound, bound);
}

static gboolean
write_tensor (const char    *name,
              int            n_dims,
              const int64_t *shape,
              gpointer       user_data,
              GError       **error)
{
  Writer *writer = user_data;
  int64_t n = 1;

  if (g_hash_table_contains (writer->written, name))
    return TRUE;
  g_hash_table_add (writer->written, g_strdup (name));

  /* Every tensor starts 8-byte aligned, as safetensors writers keep them. */
  while (writer->data->len % 8 != 0)
    g_byte_array_append (writer->data, (const guint8 *) "", 1);
  guint begin = writer->data->len;

  for (int i = 0; i < n_dims; i++)
    n *= shape[i];
  for (int64_t i = 0; i < n; i++)
    {
      float v = initial_value (writer, name, n_dims, shape);
      guint8 bytes[4];
      guint16 half;

      switch (writer->dtype)
        {
        case IB_DTYPE_F32:
          {
            guint32 bits;
            memcpy (&bits, &v, 4);
            for (int b = 0; b < 4; b++)
              bytes[b] = (guint8) (bits >> (8 * b));
            g_byte_array_append (writer->data, bytes, 4);
            continue;
          }
        case IB_DTYPE_F16:
          half = ib_f32_to_f16 (v);
          break;
        case IB_DTYPE_BF16:
          half = ib_f32_to_bf16 (v);
          break;
        default:
          g_assert_not_reached ();
        }
      bytes[0] = (guint8) half;
      bytes[1] = (guint8) (half >> 8);
      g_byte_array_append (writer->data, bytes, 2);
    }

  g_string_append_printf (writer->header, "\"%s\": {\"dtype\": \"%s\", \"shape\": [", name,
                          ib_dtype_name (writer->dtype));
  for (int i = 0; i < n_dims; i++)
    g_string_append_printf (writer->header, "%s%" G_GINT64_FORMAT, i > 0 ? ", " : "", shape[i]);
  g_string_append_printf (writer->header, "], \"data_offsets\": [%u, %u]}, ", begin, writer->data->len);
  return TRUE;
}

/* 8-byte little-endian header length, JSON header (tensors and __metadata__), data section. */
static GBytes *
write_model (IbDType dtype,
             guint32 seed)
{
  g_autofree char *json = config_json ();
  g_autoptr (GError) error = NULL;
  g_autoptr (IbModelConfig) config = ib_model_config_parse (json, strlen (json), &error);
  g_assert_no_error (error);

  Writer writer = {
    .header = g_string_new ("{"),
    .data = g_byte_array_new (),
    .written = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL),
    .dtype = dtype,
    .rand = g_rand_new_with_seed (seed),
  };
  g_assert_true (ib_model_layout_foreach (config, write_tensor, &writer, &error));
  g_assert_no_error (error);

  g_autofree char *escaped = g_strescape (json, NULL);
  g_string_append_printf (writer.header, "\"__metadata__\": {\"imagebart.config\": \"%s\"}}", escaped);
  while (writer.header->len % 8 != 0)
    g_string_append_c (writer.header, ' ');

  GByteArray *file = g_byte_array_new ();
  guint8 length[8];
  for (int i = 0; i < 8; i++)
    length[i] = (guint8) ((guint64) writer.header->len >> (8 * i));
  g_byte_array_append (file, length, 8);
  g_byte_array_append (file, (const guint8 *) writer.header->str, writer.header->len);
  g_byte_array_append (file, writer.data->data, writer.data->len);

  g_string_free (writer.header, TRUE);
  g_byte_array_unref (writer.data);
  g_hash_table_unref (writer.written);
  g_rand_free (writer.rand);
  return g_byte_array_free_to_bytes (file);
}

static IbModelFile *models[3];         /* by IbDType: f32, f16, bf16 */

static IbModelFile *
model (IbDType dtype)
{
  if (models[dtype] == NULL)
    {
      g_autoptr (GBytes) bytes = write_model (dtype, 17 + dtype);
      g_autoptr (GError) error = NULL;

      models[dtype] = ib_model_file_new_from_bytes (bytes, "test-transformer.safetensors", &error);
      g_assert_no_error (error);
    }
  return models[dtype];
}

/* Inputs */

/* src = [t, a conditioning token, x_t]; tgt = [0, x_{t-1}[0 ..]] of length n_tgt. */
static void
random_inputs (GRand   *rand,
               int      t,
               int32_t *src,
               int32_t *tgt,
               int      n_tgt)
{
  src[0] = t;
  src[1] = g_rand_int_range (rand, 0, ENC_NUM_TOKENS);
  for (int i = 0; i < N_TOKENS; i++)
    src[XT_START + i] = g_rand_int_range (rand, 0, K);
  tgt[0] = 0;
  for (int i = 1; i < n_tgt; i++)
    tgt[i] = g_rand_int_range (rand, 0, K);
}

/* The naive reference: the official forward pass with plain loops in double. */

typedef struct
{
  IbModelFile *file;
  const IbModelConfig *model;
  const IbLevelConfig *level;
} Reference;

static const IbTensor *ref_tensor (Reference  *ref,
                                   const char *format,
                                   ...) G_GNUC_PRINTF (2, 3);

static const IbTensor *
ref_tensor (Reference  *ref,
            const char *format,
            ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *suffix = g_strdup_vprintf (format, args);
  va_end (args);
  g_autofree char *name = g_strconcat (ref->level->prefix, suffix, NULL);
  const IbTensor *t = ib_model_file_lookup (ref->file, name);

  if (t == NULL)
    g_error ("the model has no tensor %s", name);
  return t;
}

static double
value (const IbTensor *t,
       int64_t         i)
{
  return ib_tensor_get_f32 (t, i);
}

/* y[n, out] = x[n, in] W^T + b */
static void
ref_linear (double         *y,
            const double   *x,
            int             n,
            const IbTensor *w,
            const IbTensor *b)
{
  int out = (int) w->shape[0], in = (int) w->shape[1];

  for (int i = 0; i < n; i++)
    for (int o = 0; o < out; o++)
      {
        double s = b != NULL ? value (b, o) : 0.0;

        for (int k = 0; k < in; k++)
          s += value (w, (int64_t) o * in + k) * x[(gsize) i * in + k];
        y[(gsize) i * out + o] = s;
      }
}

static void
ref_layer_norm (double         *y,
                const double   *x,
                int             n,
                int             dim,
                const IbTensor *gamma,
                const IbTensor *beta)
{
  for (int i = 0; i < n; i++)
    {
      const double *xi = x + (gsize) i * dim;
      double mean = 0.0, var = 0.0;

      for (int d = 0; d < dim; d++)
        mean += xi[d];
      mean /= dim;
      for (int d = 0; d < dim; d++)
        var += (xi[d] - mean) * (xi[d] - mean);
      var /= dim;
      for (int d = 0; d < dim; d++)
        y[(gsize) i * dim + d] = (xi[d] - mean) / sqrt (var + 1e-5) * value (gamma, d) + value (beta, d);
    }
}

#define LAYER_NAME "transformer.%s.attn_layers.layers.%d.%s"

/* x += to_out(attention(LN(x), kv_input)) for layer `index` of a stack; kv_input NULL: self-attention. */
static void
ref_attention_block (Reference    *ref,
                     double       *x,
                     int           n,
                     const double *kv_input,
                     int           n_kv,
                     const char   *stack,
                     int           index,
                     int           heads,
                     bool          causal)
{
  int dim = DIM, dh = DIM_HEAD, inner = heads * dh;
  g_autofree double *h = g_new (double, (gsize) n * dim);
  g_autofree double *q = g_new (double, (gsize) n * inner);
  g_autofree double *k = g_new (double, (gsize) MAX (n, n_kv) * inner);
  g_autofree double *v = g_new (double, (gsize) MAX (n, n_kv) * inner);
  g_autofree double *o = g_new0 (double, (gsize) n * inner);
  g_autofree double *y = g_new (double, (gsize) n * dim);
  g_autofree double *p = g_new (double, MAX (n, n_kv));

  ref_layer_norm (h, x, n, dim, ref_tensor (ref, LAYER_NAME, stack, index, "0.weight"),
                  ref_tensor (ref, LAYER_NAME, stack, index, "0.bias"));
  if (kv_input == NULL)
    {
      kv_input = h;
      n_kv = n;
    }
  ref_linear (q, h, n, ref_tensor (ref, LAYER_NAME, stack, index, "1.to_q.weight"), NULL);
  ref_linear (k, kv_input, n_kv, ref_tensor (ref, LAYER_NAME, stack, index, "1.to_k.weight"), NULL);
  ref_linear (v, kv_input, n_kv, ref_tensor (ref, LAYER_NAME, stack, index, "1.to_v.weight"), NULL);

  for (int hd = 0; hd < heads; hd++)
    for (int i = 0; i < n; i++)
      {
        /* The reference masks j > i + (n_kv - n) with -max before the softmax. */
        int visible = causal ? i + 1 : n_kv;
        double max = -INFINITY, sum = 0.0;

        for (int j = 0; j < visible; j++)
          {
            double s = 0.0;
            for (int d = 0; d < dh; d++)
              s += q[(gsize) i * inner + hd * dh + d] * k[(gsize) j * inner + hd * dh + d];
            p[j] = s / sqrt ((double) dh);
            max = MAX (max, p[j]);
          }
        for (int j = 0; j < visible; j++)
          sum += (p[j] = exp (p[j] - max));
        for (int j = 0; j < visible; j++)
          for (int d = 0; d < dh; d++)
            o[(gsize) i * inner + hd * dh + d] += p[j] / sum * v[(gsize) j * inner + hd * dh + d];
      }

  ref_linear (y, o, n, ref_tensor (ref, LAYER_NAME, stack, index, "1.to_out.weight"),
              ref_tensor (ref, LAYER_NAME, stack, index, "1.to_out.bias"));
  for (gsize i = 0; i < (gsize) n * dim; i++)
    x[i] += y[i];
}

static void
ref_feed_forward_block (Reference  *ref,
                        double     *x,
                        int         n,
                        const char *stack,
                        int         index)
{
  int dim = DIM, hidden_dim = 4 * DIM;
  g_autofree double *h = g_new (double, (gsize) n * dim);
  g_autofree double *hidden = g_new (double, (gsize) n * hidden_dim);
  g_autofree double *y = g_new (double, (gsize) n * dim);

  ref_layer_norm (h, x, n, dim, ref_tensor (ref, LAYER_NAME, stack, index, "0.weight"),
                  ref_tensor (ref, LAYER_NAME, stack, index, "0.bias"));
  ref_linear (hidden, h, n, ref_tensor (ref, LAYER_NAME, stack, index, "1.net.0.0.weight"),
              ref_tensor (ref, LAYER_NAME, stack, index, "1.net.0.0.bias"));
  for (gsize i = 0; i < (gsize) n * hidden_dim; i++)
    hidden[i] = 0.5 * hidden[i] * (1.0 + erf (hidden[i] / sqrt (2.0)));
  ref_linear (y, hidden, n, ref_tensor (ref, LAYER_NAME, stack, index, "1.net.2.weight"),
              ref_tensor (ref, LAYER_NAME, stack, index, "1.net.2.bias"));
  for (gsize i = 0; i < (gsize) n * dim; i++)
    x[i] += y[i];
}

static void
ref_embed (Reference     *ref,
           double        *x,
           const int32_t *tokens,
           int            n,
           const char    *stack)
{
  const IbTensor *token_emb = ref_tensor (ref, "transformer.%s.token_emb.weight", stack);
  const IbTensor *pos_emb = ref_tensor (ref, "transformer.%s.pos_emb.emb.weight", stack);

  for (int i = 0; i < n; i++)
    for (int d = 0; d < DIM; d++)
      x[(gsize) i * DIM + d] = value (token_emb, (int64_t) tokens[i] * DIM + d) +
                               value (pos_emb, (int64_t) i * DIM + d);
}

/* transformer(src, tgt) of the reference code, logits in double. */
static void
ref_forward (IbModelFile   *file,
             int            t,
             const int32_t *src,
             int            n_src,
             const int32_t *tgt,
             int            n_tgt,
             double        *logits)
{
  Reference ref = { file, ib_model_file_get_config (file), NULL };
  ref.level = &ref.model->levels[t - 1];
  g_autofree double *context = g_new (double, (gsize) n_src * DIM);
  g_autofree double *x = g_new (double, (gsize) n_tgt * DIM);
  g_autofree double *h = g_new (double, (gsize) n_tgt * DIM);

  ref_embed (&ref, context, src, n_src, "encoder");
  for (int l = 0; l < ENC_DEPTH; l++)
    {
      ref_attention_block (&ref, context, n_src, NULL, 0, "encoder", 2 * l, ENC_HEADS, false);
      ref_feed_forward_block (&ref, context, n_src, "encoder", 2 * l + 1);
    }
  ref_layer_norm (context, context, n_src, DIM, ref_tensor (&ref, "transformer.encoder.norm.weight"),
                  ref_tensor (&ref, "transformer.encoder.norm.bias"));

  ref_embed (&ref, x, tgt, n_tgt, "decoder");
  for (int l = 0; l < DEC_DEPTH; l++)
    {
      ref_attention_block (&ref, x, n_tgt, NULL, 0, "decoder", 3 * l, DEC_HEADS, true);
      ref_attention_block (&ref, x, n_tgt, context, n_src, "decoder", 3 * l + 1, DEC_HEADS, false);
      ref_feed_forward_block (&ref, x, n_tgt, "decoder", 3 * l + 2);
    }
  ref_layer_norm (h, x, n_tgt, DIM, ref_tensor (&ref, "transformer.decoder.norm.weight"),
                  ref_tensor (&ref, "transformer.decoder.norm.bias"));
  ref_linear (logits, h, n_tgt, ref_tensor (&ref, "transformer.decoder.to_logits.weight"),
              ref_tensor (&ref, "transformer.decoder.to_logits.bias"));

  if (ref.level->variant == IB_VARIANT_PLAIN)
    return;
  int scale = src[ref.level->scale_pos];
  double scalor = exp (value (ref_tensor (&ref, "transformer.log_scalors"), scale - 1));
  for (gsize i = 0; i < (gsize) n_tgt * K; i++)
    logits[i] *= scalor;
  if (ref.level->variant == IB_VARIANT_SCALED)
    return;
  double alpha = 1.0 - ref.model->betas[scale];
  for (int i = 0; i < MIN (n_tgt, ref.level->xt_size); i++)
    for (int j = 0; j < K; j++)
      logits[(gsize) i * K + j] += log (alpha * (src[ref.level->xt_start + i] == j) + (1.0 - alpha) / K);
}

/* DecoderOnlyDenoiser / minGPT: GPT(src ++ tgt[1..]) at positions n_src - 1 onwards. */
static void
ref_gpt_forward (IbModelFile   *file,
                 const int32_t *src,
                 int            n_src,
                 const int32_t *tgt,
                 int            n_tgt,
                 double        *logits)
{
  Reference ref = { file, ib_model_file_get_config (file), NULL };
  ref.level = &ref.model->levels[GPT_LEVEL - 1];
  int n = n_src + n_tgt - 1, dim = DIM, heads = GPT_HEADS, dh = DIM / GPT_HEADS, ff = 4 * DIM;
  g_autofree int32_t *seq = g_new (int32_t, n);
  g_autofree double *x = g_new (double, (gsize) n * dim);
  g_autofree double *h = g_new (double, (gsize) n * dim);
  g_autofree double *q = g_new (double, (gsize) n * dim);
  g_autofree double *k = g_new (double, (gsize) n * dim);
  g_autofree double *v = g_new (double, (gsize) n * dim);
  g_autofree double *o = g_new (double, (gsize) n * dim);
  g_autofree double *y = g_new (double, (gsize) n * dim);
  g_autofree double *hidden = g_new (double, (gsize) n * ff);
  g_autofree double *p = g_new (double, n);
  const IbTensor *tok_emb = ref_tensor (&ref, "transformer.tok_emb.weight");
  const IbTensor *pos_emb = ref_tensor (&ref, "transformer.pos_emb");

  memcpy (seq, src, n_src * sizeof (int32_t));
  if (n_tgt > 1)
    memcpy (seq + n_src, tgt + 1, (n_tgt - 1) * sizeof (int32_t));
  for (int i = 0; i < n; i++)
    for (int d = 0; d < dim; d++)
      x[(gsize) i * dim + d] = value (tok_emb, (int64_t) seq[i] * dim + d) +
                               value (pos_emb, (int64_t) i * dim + d);

  for (int l = 0; l < GPT_DEPTH; l++)
    {
      ref_layer_norm (h, x, n, dim, ref_tensor (&ref, "transformer.blocks.%d.ln1.weight", l),
                      ref_tensor (&ref, "transformer.blocks.%d.ln1.bias", l));
      ref_linear (q, h, n, ref_tensor (&ref, "transformer.blocks.%d.attn.query.weight", l),
                  ref_tensor (&ref, "transformer.blocks.%d.attn.query.bias", l));
      ref_linear (k, h, n, ref_tensor (&ref, "transformer.blocks.%d.attn.key.weight", l),
                  ref_tensor (&ref, "transformer.blocks.%d.attn.key.bias", l));
      ref_linear (v, h, n, ref_tensor (&ref, "transformer.blocks.%d.attn.value.weight", l),
                  ref_tensor (&ref, "transformer.blocks.%d.attn.value.bias", l));
      memset (o, 0, (gsize) n * dim * sizeof (double));
      for (int hd = 0; hd < heads; hd++)
        for (int i = 0; i < n; i++)
          {
            double max = -INFINITY, sum = 0.0;

            /* minGPT's mask: tril, and the first n_unmasked positions see each other. */
            for (int j = 0; j < n; j++)
              {
                p[j] = -INFINITY;
                if (j <= i || (i < GPT_UNMASKED && j < GPT_UNMASKED))
                  {
                    double s = 0.0;
                    for (int d = 0; d < dh; d++)
                      s += q[(gsize) i * dim + hd * dh + d] * k[(gsize) j * dim + hd * dh + d];
                    p[j] = s / sqrt ((double) dh);
                  }
                max = MAX (max, p[j]);
              }
            for (int j = 0; j < n; j++)
              sum += (p[j] = exp (p[j] - max));
            for (int j = 0; j < n; j++)
              for (int d = 0; d < dh; d++)
                o[(gsize) i * dim + hd * dh + d] += p[j] / sum * v[(gsize) j * dim + hd * dh + d];
          }
      ref_linear (y, o, n, ref_tensor (&ref, "transformer.blocks.%d.attn.proj.weight", l),
                  ref_tensor (&ref, "transformer.blocks.%d.attn.proj.bias", l));
      for (gsize i = 0; i < (gsize) n * dim; i++)
        x[i] += y[i];

      ref_layer_norm (h, x, n, dim, ref_tensor (&ref, "transformer.blocks.%d.ln2.weight", l),
                      ref_tensor (&ref, "transformer.blocks.%d.ln2.bias", l));
      ref_linear (hidden, h, n, ref_tensor (&ref, "transformer.blocks.%d.mlp.0.weight", l),
                  ref_tensor (&ref, "transformer.blocks.%d.mlp.0.bias", l));
      for (gsize i = 0; i < (gsize) n * ff; i++)
        hidden[i] = 0.5 * hidden[i] * (1.0 + erf (hidden[i] / sqrt (2.0)));
      ref_linear (y, hidden, n, ref_tensor (&ref, "transformer.blocks.%d.mlp.2.weight", l),
                  ref_tensor (&ref, "transformer.blocks.%d.mlp.2.bias", l));
      for (gsize i = 0; i < (gsize) n * dim; i++)
        x[i] += y[i];
    }

  ref_layer_norm (h, x + (gsize) (n_src - 1) * dim, n_tgt, dim, ref_tensor (&ref, "transformer.ln_f.weight"),
                  ref_tensor (&ref, "transformer.ln_f.bias"));
  ref_linear (logits, h, n_tgt, ref_tensor (&ref, "transformer.head.weight"), NULL);
}

/* |got - expected| <= tol * (max |expected| of the row + 1), row by row. */
static void
assert_rows_close (const float  *got,
                   const double *expected,
                   int           n_rows,
                   int           n_cols,
                   double        tol,
                   const char   *what)
{
  for (int i = 0; i < n_rows; i++)
    {
      double scale = 1.0;

      for (int j = 0; j < n_cols; j++)
        scale = MAX (scale, fabs (expected[(gsize) i * n_cols + j]));
      for (int j = 0; j < n_cols; j++)
        {
          double e = expected[(gsize) i * n_cols + j], g = got[(gsize) i * n_cols + j];

          if (!(fabs (g - e) <= tol * scale))
            g_error ("%s: row %d column %d is %.9g, expected %.9g (bound %.3g)",
                     what, i, j, g, e, tol * scale);
        }
    }
}

/* Against the naive reference */

typedef struct
{
  IbDType dtype;
  int t;                         /* level, so variant: 1 residual_scaled, 2 scaled, 3 plain, 4 gpt */
} ReferenceCase;

static void
test_reference (gconstpointer data)
{
  const ReferenceCase *rc = data;
  IbModelFile *file = model (rc->dtype);
  g_autoptr (GError) error = NULL;
  g_autoptr (IbStage) stage = ib_stage_new (file, rc->t, &error);
  g_autoptr (GRand) rand = g_rand_new_with_seed (100 + rc->t);
  g_assert_no_error (error);

  /* Both scale tokens a level can see, a full-length tgt (past xt_size) and a short one. A minGPT level
   * reads [t, conditioning] only (and as much of the sequence as fits its block). */
  for (int scale = 1; scale <= 2; scale++)
    for (int pass = 0; pass < 2; pass++)
      {
        gboolean gpt = rc->t == GPT_LEVEL;
        int n_src = gpt ? 2 + pass : ENC_MAX_SEQ_LEN;
        int n_tgt = pass == 1 ? 5 : gpt ? GPT_BLOCK - (n_src - 1) : DEC_MAX_SEQ_LEN;
        int32_t src[ENC_MAX_SEQ_LEN], tgt[DEC_MAX_SEQ_LEN];
        g_autofree float *logits = g_new (float, (gsize) n_tgt * K + 1);
        g_autofree double *expected = g_new (double, (gsize) n_tgt * K);

        random_inputs (rand, scale, src, tgt, n_tgt);
        logits[(gsize) n_tgt * K] = 12345.0f;
        g_assert_true (ib_stage_logits (stage, src, n_src, tgt, n_tgt, logits, &error));
        g_assert_no_error (error);
        g_assert_cmpfloat (logits[(gsize) n_tgt * K], ==, 12345.0f);

        if (gpt)
          ref_gpt_forward (file, src, n_src, tgt, n_tgt, expected);
        else
          ref_forward (file, rc->t, src, n_src, tgt, n_tgt, expected);
        assert_rows_close (logits, expected, n_tgt, K, 2e-5, "logits against the naive reference");
      }

  /* The full pass of a minGPT level whose unmasked positions reach into tgt (which only ib_stage_logits
   * computes: a decoder refuses it). */
  if (rc->t == GPT_LEVEL)
    for (int n_tgt = 1; n_tgt <= 4; n_tgt += 3)
      {
        int32_t src[1] = { 3 }, tgt[4] = { 0, 7, 2, 10 };
        float logits[4 * K];
        double expected[4 * K];

        g_assert_true (ib_stage_logits (stage, src, 1, tgt, n_tgt, logits, &error));
        ref_gpt_forward (file, src, 1, tgt, n_tgt, expected);
        assert_rows_close (logits, expected, n_tgt, K, 2e-5, "unmasked positions past src");
      }

  /* A shorter encoder input (no x_t) is fine for the plain variant. */
  if (rc->t == 3)
    {
      int32_t src[3] = { 1, 12, 4 }, tgt[4] = { 0, 3, 10, 1 };
      float logits[4 * K];
      double expected[4 * K];

      g_assert_true (ib_stage_logits (stage, src, 3, tgt, 4, logits, &error));
      ref_forward (file, rc->t, src, 3, tgt, 4, expected);
      assert_rows_close (logits, expected, 4, K, 2e-5, "short src");
    }
}

/* The encoder alone, against the reference's context (checked through a plain level's logits above);
 * here: ib_stage_encode writes exactly n_src x dim floats. */
static void
test_encode_guard (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (IbStage) stage = ib_stage_new (model (IB_DTYPE_F32), 1, &error);
  g_autoptr (GRand) rand = g_rand_new_with_seed (7);
  int32_t src[ENC_MAX_SEQ_LEN], tgt[1];
  gsize n = (gsize) ENC_MAX_SEQ_LEN * DIM;
  g_autofree float *context = g_new (float, n + 16);

  random_inputs (rand, 1, src, tgt, 1);
  for (gsize i = n; i < n + 16; i++)
    context[i] = -777.0f;
  g_assert_true (ib_stage_encode (stage, src, ENC_MAX_SEQ_LEN, context, &error));
  g_assert_no_error (error);
  for (gsize i = n; i < n + 16; i++)
    g_assert_cmpfloat (context[i], ==, -777.0f);
  for (gsize i = 0; i < n; i++)
    g_assert_true (isfinite (context[i]));
}

/* KV-cache decoding against full recomputation */

static void
assert_logits_equal (const float *got,
                     const float *expected,
                     int          n_rows,
                     const char  *what)
{
  for (int i = 0; i < n_rows; i++)
    {
      double scale = 1.0;

      for (int j = 0; j < K; j++)
        scale = MAX (scale, fabs (expected[(gsize) i * K + j]));
      for (int j = 0; j < K; j++)
        if (!(fabs (got[(gsize) i * K + j] - expected[(gsize) i * K + j]) <= 1e-5 * scale))
          g_error ("%s: row %d column %d is %.9g, full recomputation gives %.9g", what, i, j,
                   got[(gsize) i * K + j], expected[(gsize) i * K + j]);
    }
}

static void
test_kv_cache (gconstpointer data)
{
  const ReferenceCase *rc = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (IbStage) stage = ib_stage_new (model (rc->dtype), rc->t, &error);
  g_autoptr (GRand) rand = g_rand_new_with_seed (200 + rc->t);
  int32_t src[ENC_MAX_SEQ_LEN], tgt[DEC_MAX_SEQ_LEN];
  const int n = DEC_MAX_SEQ_LEN;
  g_autofree float *full = g_new (float, (gsize) n * K);
  g_autofree float *step = g_new (float, (gsize) n * K);
  g_autofree float *context = g_new (float, (gsize) ENC_MAX_SEQ_LEN * DIM);
  g_assert_no_error (error);

  /* A minGPT level reads [t, conditioning] and has no encoder. */
  gboolean gpt = rc->t == GPT_LEVEL;
  int n_src = gpt ? 2 : ENC_MAX_SEQ_LEN;

  random_inputs (rand, 2, src, tgt, n);
  g_assert_true (ib_stage_logits (stage, src, n_src, tgt, n, full, &error));
  g_assert_no_error (error);
  if (!gpt)
    g_assert_true (ib_stage_encode (stage, src, n_src, context, &error));

  /* One token at a time. */
  {
    g_autoptr (IbDecoder) decoder = ib_decoder_new (stage, src, n_src, gpt ? NULL : context, &error);
    g_assert_no_error (error);
    for (int i = 0; i < n; i++)
      {
        g_assert_cmpint (ib_decoder_get_position (decoder), ==, i);
        g_assert_true (ib_decoder_feed (decoder, tgt + i, 1, step + (gsize) i * K, &error));
      }
    assert_logits_equal (step, full, n, "one token at a time");
  }

  /* Ragged chunks, across the batched paths' thresholds (8 rows) and the attention's row blocks. */
  {
    static const int chunks[] = { 1, 3, 7, 2, 9, 1, 12, 5, 30, 8, 7 };
    g_autoptr (IbDecoder) decoder = ib_decoder_new (stage, src, n_src, gpt ? NULL : context, &error);
    int pos = 0;

    memset (step, 0, (gsize) n * K * sizeof (float));
    for (guint c = 0; c < G_N_ELEMENTS (chunks); c++)
      {
        g_assert_true (ib_decoder_feed (decoder, tgt + pos, chunks[c], step + (gsize) pos * K, &error));
        pos += chunks[c];
      }
    g_assert_cmpint (pos, ==, n);
    assert_logits_equal (step, full, n, "ragged chunks");
  }

  /* A prefill without logits, then the rest; rewinding and feeding again gives the same rows. */
  {
    g_autoptr (IbDecoder) decoder = ib_decoder_new (stage, src, n_src, gpt ? NULL : context, &error);
    int split = 40;

    g_assert_true (ib_decoder_feed (decoder, tgt, split, NULL, &error));
    g_assert_true (ib_decoder_feed (decoder, tgt + split, n - split, step, &error));
    assert_logits_equal (step, full + (gsize) split * K, n - split, "after a prefill without logits");

    ib_decoder_rewind (decoder, 20);
    g_assert_cmpint (ib_decoder_get_position (decoder), ==, 20);
    /* Other tokens first, so that stale cache rows would show. */
    int32_t other[10];
    for (int i = 0; i < 10; i++)
      other[i] = (tgt[20 + i] + 1) % K;
    g_assert_true (ib_decoder_feed (decoder, other, 10, NULL, &error));
    ib_decoder_rewind (decoder, 20);
    g_assert_true (ib_decoder_feed (decoder, tgt + 20, 1, step, &error));
    for (int i = 21; i < n; i++)
      g_assert_true (ib_decoder_feed (decoder, tgt + i, 1, step + (gsize) (i - 20) * K, &error));
    assert_logits_equal (step, full + (gsize) 20 * K, n - 20, "after rewinding");

    ib_decoder_rewind (decoder, 0);
    g_assert_true (ib_decoder_feed (decoder, tgt, n, step, &error));
    assert_logits_equal (step, full, n, "after rewinding to the start");
  }
  g_assert_no_error (error);
}

/* Bad inputs */

static void
expect_argument_error (gboolean    ok,
                       GError    **error,
                       const char *what)
{
  if (ok)
    g_error ("%s was accepted", what);
  g_assert_error (*error, IB_ERROR, IB_ERROR_ARGUMENT);
  g_test_message ("%s: %s", what, (*error)->message);
  g_clear_error (error);
}

static void
test_bad_inputs (void)
{
  IbModelFile *file = model (IB_DTYPE_F32);
  g_autoptr (GError) error = NULL;
  g_autoptr (GRand) rand = g_rand_new_with_seed (3);
  int32_t src[ENC_MAX_SEQ_LEN + 1], tgt[DEC_MAX_SEQ_LEN + 1], bad[MAX (ENC_MAX_SEQ_LEN, DEC_MAX_SEQ_LEN) + 1];
  g_autofree float *context = g_new (float, (gsize) (ENC_MAX_SEQ_LEN + 1) * DIM);
  g_autofree float *logits = g_new (float, (gsize) (DEC_MAX_SEQ_LEN + 1) * K);

  expect_argument_error (ib_stage_new (file, 0, &error) != NULL, &error, "level 0");
  expect_argument_error (ib_stage_new (file, N_LEVELS + 1, &error) != NULL, &error, "level T + 1");

  g_autoptr (IbStage) residual = ib_stage_new (file, 1, &error);
  g_autoptr (IbStage) scaled = ib_stage_new (file, 2, &error);
  g_autoptr (IbStage) plain = ib_stage_new (file, 3, &error);
  g_assert_no_error (error);
  g_assert_cmpint (ib_stage_get_config (residual)->variant, ==, IB_VARIANT_RESIDUAL_SCALED);
  g_assert_cmpint (ib_stage_get_config (scaled)->variant, ==, IB_VARIANT_SCALED);
  g_assert_cmpint (ib_stage_get_config (plain)->variant, ==, IB_VARIANT_PLAIN);

  random_inputs (rand, 1, src, tgt, DEC_MAX_SEQ_LEN);
  src[ENC_MAX_SEQ_LEN] = 0;
  tgt[DEC_MAX_SEQ_LEN] = 0;

  /* Encoder input: token range and length. */
  memcpy (bad, src, sizeof src);
  bad[5] = ENC_NUM_TOKENS;
  expect_argument_error (ib_stage_encode (plain, bad, ENC_MAX_SEQ_LEN, context, &error), &error,
                         "an encoder token past the vocabulary");
  bad[5] = -1;
  expect_argument_error (ib_stage_encode (plain, bad, ENC_MAX_SEQ_LEN, context, &error), &error,
                         "a negative encoder token");
  expect_argument_error (ib_stage_logits (plain, bad, ENC_MAX_SEQ_LEN, tgt, 4, logits, &error), &error,
                         "a negative encoder token (logits)");
  expect_argument_error (ib_stage_encode (plain, src, 0, context, &error), &error, "an empty encoder input");
  expect_argument_error (ib_stage_encode (plain, src, ENC_MAX_SEQ_LEN + 1, context, &error), &error,
                         "an encoder input past enc_max_seq_len");

  /* Scale token range for the scaled variants; the plain one does not read it. */
  for (int variant = 0; variant < 2; variant++)
    {
      IbStage *stage = variant == 0 ? residual : scaled;

      memcpy (bad, src, sizeof src);
      bad[0] = 0;
      expect_argument_error (ib_stage_logits (stage, bad, ENC_MAX_SEQ_LEN, tgt, 4, logits, &error), &error,
                             "scale token 0");
      g_assert_true (ib_stage_encode (stage, bad, ENC_MAX_SEQ_LEN, context, &error));
      expect_argument_error (ib_decoder_new (stage, bad, ENC_MAX_SEQ_LEN, context, &error) != NULL, &error,
                             "scale token 0 (decoder)");
      bad[0] = N_LEVELS + 1;
      expect_argument_error (ib_stage_logits (stage, bad, ENC_MAX_SEQ_LEN, tgt, 4, logits, &error), &error,
                             "scale token n_scales + 1");
    }
  memcpy (bad, src, sizeof src);
  bad[0] = 0;
  g_assert_true (ib_stage_logits (plain, bad, ENC_MAX_SEQ_LEN, tgt, 4, logits, &error));
  g_assert_no_error (error);

  /* x_t must be image tokens (one_hot over K) and fit in src. */
  memcpy (bad, src, sizeof src);
  bad[XT_START + 7] = K;               /* a valid encoder token, not an image token */
  expect_argument_error (ib_stage_logits (residual, bad, ENC_MAX_SEQ_LEN, tgt, 4, logits, &error), &error,
                         "an x_t token past K");
  g_assert_true (ib_stage_logits (scaled, bad, ENC_MAX_SEQ_LEN, tgt, 4, logits, &error));
  expect_argument_error (ib_stage_logits (residual, src, ENC_MAX_SEQ_LEN - 1, tgt, 4, logits, &error), &error,
                         "a src too short for x_t");

  /* Decoder input: token range, length. */
  memcpy (bad, tgt, sizeof tgt);
  bad[3] = K;
  expect_argument_error (ib_stage_logits (plain, src, ENC_MAX_SEQ_LEN, bad, 4, logits, &error), &error,
                         "a decoder token past K");
  expect_argument_error (ib_stage_logits (plain, src, ENC_MAX_SEQ_LEN, tgt, DEC_MAX_SEQ_LEN + 1, logits,
                                          &error),
                         &error, "a decoder input past dec_max_seq_len");
  expect_argument_error (ib_stage_logits (plain, src, ENC_MAX_SEQ_LEN, tgt, -1, logits, &error), &error,
                         "a negative decoder length");
  g_assert_true (ib_stage_logits (plain, src, ENC_MAX_SEQ_LEN, tgt, 0, logits, &error));

  g_assert_true (ib_stage_encode (residual, src, ENC_MAX_SEQ_LEN, context, &error));
  g_autoptr (IbDecoder) decoder = ib_decoder_new (residual, src, ENC_MAX_SEQ_LEN, context, &error);
  g_assert_no_error (error);
  expect_argument_error (ib_decoder_feed (decoder, bad, 4, logits, &error), &error, "feeding a token past K");
  g_assert_cmpint (ib_decoder_get_position (decoder), ==, 0);
  expect_argument_error (ib_decoder_feed (decoder, tgt, -2, logits, &error), &error, "feeding -2 tokens");
  g_assert_true (ib_decoder_feed (decoder, tgt, DEC_MAX_SEQ_LEN - 1, NULL, &error));
  expect_argument_error (ib_decoder_feed (decoder, tgt, 2, logits, &error), &error,
                         "feeding past dec_max_seq_len");
  g_assert_cmpint (ib_decoder_get_position (decoder), ==, DEC_MAX_SEQ_LEN - 1);
  g_assert_true (ib_decoder_feed (decoder, tgt, 1, logits, &error));
  g_assert_true (ib_decoder_feed (decoder, tgt, 0, logits, &error));
  g_assert_no_error (error);
}

static void
test_bad_inputs_gpt (void)
{
  IbModelFile *file = model (IB_DTYPE_F32);
  g_autoptr (GError) error = NULL;
  g_autoptr (IbStage) gpt = ib_stage_new (file, GPT_LEVEL, &error);
  int32_t src[3] = { 1, 5, 7 }, tgt[GPT_BLOCK + 1] = { 0 };
  float context[3 * DIM];
  g_autofree float *logits = g_new (float, (gsize) (GPT_BLOCK + 1) * K);
  g_assert_no_error (error);
  g_assert_cmpint (ib_stage_get_config (gpt)->variant, ==, IB_VARIANT_GPT);

  expect_argument_error (ib_stage_encode (gpt, src, 2, context, &error), &error,
                         "encoding with a minGPT level");
  /* The two unmasked positions must both be conditioning. */
  expect_argument_error (ib_decoder_new (gpt, src, 1, NULL, &error) != NULL, &error,
                         "conditioning shorter than n_unmasked");
  src[1] = ENC_NUM_TOKENS;
  expect_argument_error (ib_stage_logits (gpt, src, 2, tgt, 3, logits, &error), &error,
                         "a conditioning token past input_vocab_size");
  src[1] = 5;
  /* src and tgt[1..] share the block: with 3 conditioning tokens, GPT_BLOCK - 2 tgt tokens fit. */
  expect_argument_error (ib_stage_logits (gpt, src, 3, tgt, GPT_BLOCK - 1, logits, &error), &error,
                         "a sequence past block_size");
  g_assert_true (ib_stage_logits (gpt, src, 3, tgt, GPT_BLOCK - 2, logits, &error));
  tgt[2] = K;
  expect_argument_error (ib_stage_logits (gpt, src, 2, tgt, 4, logits, &error), &error,
                         "a decoder token past K");
  tgt[2] = 0;

  g_autoptr (IbDecoder) decoder = ib_decoder_new (gpt, src, 2, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (ib_decoder_feed (decoder, tgt, GPT_BLOCK - 2, NULL, &error));
  expect_argument_error (ib_decoder_feed (decoder, tgt, 2, logits, &error), &error,
                         "feeding past block_size");
  g_assert_true (ib_decoder_feed (decoder, tgt, 1, logits, &error));
  g_assert_no_error (error);
}

static const ReferenceCase reference_cases[] = {
  { IB_DTYPE_F32, 1 }, { IB_DTYPE_F32, 2 }, { IB_DTYPE_F32, 3 }, { IB_DTYPE_F32, 4 },
  { IB_DTYPE_F16, 1 }, { IB_DTYPE_F16, 2 }, { IB_DTYPE_F16, 3 }, { IB_DTYPE_F16, 4 },
  { IB_DTYPE_BF16, 1 }, { IB_DTYPE_BF16, 2 }, { IB_DTYPE_BF16, 3 }, { IB_DTYPE_BF16, 4 },
};
static const char *const case_names[N_LEVELS] = { "residual-scaled", "scaled", "plain", "gpt" };

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (reference_cases); i++)
    {
      const ReferenceCase *rc = &reference_cases[i];
      const char *variant = case_names[rc->t - 1];
      const char *dtype = rc->dtype == IB_DTYPE_F32 ? "f32" : rc->dtype == IB_DTYPE_F16 ? "f16" : "bf16";
      g_autofree char *reference_path = NULL, *cache_path = NULL;

      reference_path = g_strdup_printf ("/model/transformer/reference/%s/%s", variant, dtype);
      cache_path = g_strdup_printf ("/model/transformer/kv-cache/%s/%s", variant, dtype);

      g_test_add_data_func (reference_path, rc, test_reference);
      g_test_add_data_func (cache_path, rc, test_kv_cache);
    }
  g_test_add_func ("/model/transformer/encode/guard", test_encode_guard);
  g_test_add_func ("/model/transformer/bad-inputs", test_bad_inputs);
  g_test_add_func ("/model/transformer/bad-inputs/gpt", test_bad_inputs_gpt);

  int status = g_test_run ();
  for (guint i = 0; i < G_N_ELEMENTS (models); i++)
    g_clear_pointer (&models[i], ib_model_file_free);
  return status;
}
