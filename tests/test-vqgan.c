/* test-vqgan.c: the VQGAN (ib-vqgan.c) against a naive f64 reimplementation of taming's VQModel written
 * here from the reference Python, on tiny random model files built in memory: latents, tokens (nearest
 * used code), decoded images, f16/bf16 weights, with and without a remap, and bad tokens. */
#include <math.h>
#include <string.h>

#include <glib.h>

#include "ib-error.h"
#include "ib-model-file.h"
#include "ib-test-model.h"
#include "ib-vqgan.h"

#define GUARD 29
#define SENTINEL (-9876.5f)

/* The reference: plain loops in f64 over feature maps, reading weights through ib_tensor_get_f32. */

typedef struct
{
  int c;
  int h;
  int w;
  double *data;
} Map;

static Map
map_new (int c,
         int h,
         int w)
{
  return (Map) { c, h, w, g_new0 (double, (gsize) c * h * w) };
}

static void
map_replace (Map *map,
             Map  value)
{
  g_free (map->data);
  *map = value;
}

static gsize
map_size (const Map *m)
{
  return (gsize) m->c * m->h * m->w;
}

static const IbTensor *
tensor (IbModelFile *file,
        const char  *name,
        const char  *suffix)
{
  const IbTensor *t = ib_model_file_lookupf (file, "first_stage_model.%s%s", name, suffix);
  if (t == NULL)
    g_error ("no tensor first_stage_model.%s%s", name, suffix);
  return t;
}

/* PyTorch Conv2d after F.pad(x, (left, right, top, bottom)). */
static Map
ref_conv (IbModelFile *file,
          const char  *name,
          const Map   *x,
          int          stride,
          int          pad_top,
          int          pad_left,
          int          pad_bottom,
          int          pad_right)
{
  const IbTensor *weight = tensor (file, name, ".weight");
  const IbTensor *bias = tensor (file, name, ".bias");
  int c_out = (int) weight->shape[0];
  int k = (int) weight->shape[2];
  int oh = (x->h + pad_top + pad_bottom - k) / stride + 1;
  int ow = (x->w + pad_left + pad_right - k) / stride + 1;
  Map y = map_new (c_out, oh, ow);

  g_assert_cmpint (weight->shape[1], ==, x->c);
  for (int co = 0; co < c_out; co++)
    for (int oy = 0; oy < oh; oy++)
      for (int ox = 0; ox < ow; ox++)
        {
          double sum = ib_tensor_get_f32 (bias, co);
          for (int ci = 0; ci < x->c; ci++)
            for (int ky = 0; ky < k; ky++)
              for (int kx = 0; kx < k; kx++)
                {
                  int iy = oy * stride + ky - pad_top;
                  int ix = ox * stride + kx - pad_left;
                  if (iy >= 0 && iy < x->h && ix >= 0 && ix < x->w)
                    sum += ib_tensor_get_f32 (weight, (((int64_t) co * x->c + ci) * k + ky) * k + kx)
                           * x->data[((gsize) ci * x->h + iy) * x->w + ix];
                }
          y.data[((gsize) co * oh + oy) * ow + ox] = sum;
        }
  return y;
}

static Map
ref_conv_same (IbModelFile *file,
               const char  *name,
               const Map   *x)
{
  int k = (int) tensor (file, name, ".weight")->shape[2];
  return ref_conv (file, name, x, 1, k / 2, k / 2, k / 2, k / 2);
}

/* GroupNorm(32, eps 1e-6), optionally followed by swish. */
static Map
ref_group_norm (IbModelFile *file,
                const char  *name,
                const Map   *x,
                gboolean     swish)
{
  const IbTensor *gamma = tensor (file, name, ".weight");
  const IbTensor *beta = tensor (file, name, ".bias");
  int groups = 32, per_group = x->c / groups;
  gsize hw = (gsize) x->h * x->w;
  gsize len = per_group * hw;
  Map y = map_new (x->c, x->h, x->w);

  g_assert_cmpint (x->c % groups, ==, 0);
  for (int g = 0; g < groups; g++)
    {
      const double *xg = x->data + g * len;
      double mean = 0.0, variance = 0.0;

      for (gsize i = 0; i < len; i++)
        mean += xg[i];
      mean /= len;
      for (gsize i = 0; i < len; i++)
        variance += (xg[i] - mean) * (xg[i] - mean);
      variance /= len;
      for (gsize i = 0; i < len; i++)
        {
          int channel = (int) (g * per_group + i / hw);
          double v = (xg[i] - mean) / sqrt (variance + 1e-6) * ib_tensor_get_f32 (gamma, channel)
                     + ib_tensor_get_f32 (beta, channel);
          y.data[g * len + i] = swish ? v / (1.0 + exp (-v)) : v;
        }
    }
  return y;
}

static void
ref_add (Map       *y,
         const Map *x)
{
  g_assert_cmpuint (map_size (y), ==, map_size (x));
  for (gsize i = 0; i < map_size (y); i++)
    y->data[i] += x->data[i];
}

/* taming ResnetBlock (no temb, no dropout). */
static void
ref_resnet_block (IbModelFile *file,
                  const char  *name,
                  Map         *x)
{
  g_autofree char *norm1 = g_strdup_printf ("%s.norm1", name);
  g_autofree char *conv1 = g_strdup_printf ("%s.conv1", name);
  g_autofree char *norm2 = g_strdup_printf ("%s.norm2", name);
  g_autofree char *conv2 = g_strdup_printf ("%s.conv2", name);
  g_autofree char *shortcut = g_strdup_printf ("%s.nin_shortcut", name);

  Map h = ref_group_norm (file, norm1, x, TRUE);
  map_replace (&h, ref_conv_same (file, conv1, &h));
  map_replace (&h, ref_group_norm (file, norm2, &h, TRUE));
  map_replace (&h, ref_conv_same (file, conv2, &h));
  if (h.c != x->c)
    map_replace (x, ref_conv_same (file, shortcut, x));
  ref_add (&h, x);
  map_replace (x, h);
}

/* taming AttnBlock: w[i, j] = sum_c q[c, i] k[c, j] / sqrt(C), softmax over j,
 * h[c, i] = sum_j v[c, j] w[i, j]. */
static void
ref_attn_block (IbModelFile *file,
                const char  *name,
                Map         *x)
{
  g_autofree char *norm = g_strdup_printf ("%s.norm", name);
  g_autofree char *qn = g_strdup_printf ("%s.q", name);
  g_autofree char *kn = g_strdup_printf ("%s.k", name);
  g_autofree char *vn = g_strdup_printf ("%s.v", name);
  g_autofree char *proj = g_strdup_printf ("%s.proj_out", name);
  int c = x->c;
  gsize hw = (gsize) x->h * x->w;

  Map h = ref_group_norm (file, norm, x, FALSE);
  Map q = ref_conv_same (file, qn, &h);
  Map k = ref_conv_same (file, kn, &h);
  Map v = ref_conv_same (file, vn, &h);
  g_autofree double *weights = g_new (double, hw);

  for (gsize i = 0; i < hw; i++)
    {
      double max = -INFINITY, sum = 0.0;
      for (gsize j = 0; j < hw; j++)
        {
          double s = 0.0;
          for (int ch = 0; ch < c; ch++)
            s += q.data[ch * hw + i] * k.data[ch * hw + j];
          weights[j] = s / sqrt ((double) c);
          max = MAX (max, weights[j]);
        }
      for (gsize j = 0; j < hw; j++)
        {
          weights[j] = exp (weights[j] - max);
          sum += weights[j];
        }
      for (int ch = 0; ch < c; ch++)
        {
          double o = 0.0;
          for (gsize j = 0; j < hw; j++)
            o += v.data[ch * hw + j] * weights[j] / sum;
          h.data[ch * hw + i] = o;
        }
    }
  map_replace (&h, ref_conv_same (file, proj, &h));
  ref_add (x, &h);
  g_free (h.data);
  g_free (q.data);
  g_free (k.data);
  g_free (v.data);
}

static gboolean
attention_at (const IbVqganConfig *c,
              int                  side)
{
  for (int i = 0; i < c->n_attn_resolutions; i++)
    if (c->attn_resolutions[i] == side)
      return TRUE;
  return FALSE;
}

static void
ref_mid (IbModelFile *file,
         const char  *stack,
         Map         *x)
{
  g_autofree char *block_1 = g_strdup_printf ("%s.mid.block_1", stack);
  g_autofree char *attn_1 = g_strdup_printf ("%s.mid.attn_1", stack);
  g_autofree char *block_2 = g_strdup_printf ("%s.mid.block_2", stack);

  ref_resnet_block (file, block_1, x);
  ref_attn_block (file, attn_1, x);
  ref_resnet_block (file, block_2, x);
}

/* Encoder.forward + quant_conv. */
static Map
ref_encode_latent (IbModelFile *file,
                   const float *image)
{
  const IbVqganConfig *c = &ib_model_file_get_config (file)->vqgan;
  int side = c->resolution;
  Map x = map_new (c->in_channels, side, side);

  for (gsize i = 0; i < map_size (&x); i++)
    x.data[i] = image[i];
  map_replace (&x, ref_conv_same (file, "encoder.conv_in", &x));
  for (int i = 0; i < c->n_ch_mult; i++)
    {
      for (int j = 0; j < c->num_res_blocks; j++)
        {
          g_autofree char *block = g_strdup_printf ("encoder.down.%d.block.%d", i, j);
          g_autofree char *attn = g_strdup_printf ("encoder.down.%d.attn.%d", i, j);

          ref_resnet_block (file, block, &x);
          if (attention_at (c, side))
            ref_attn_block (file, attn, &x);
        }
      if (i != c->n_ch_mult - 1)
        {
          g_autofree char *down = g_strdup_printf ("encoder.down.%d.downsample.conv", i);

          map_replace (&x, ref_conv (file, down, &x, 2, 0, 0, 1, 1));
          side /= 2;
        }
    }
  ref_mid (file, "encoder", &x);
  map_replace (&x, ref_group_norm (file, "encoder.norm_out", &x, TRUE));
  map_replace (&x, ref_conv_same (file, "encoder.conv_out", &x));
  map_replace (&x, ref_conv_same (file, "quant_conv", &x));
  return x;
}

/* Codebook row of model token i, through the remap. */
static float
code_value (IbModelFile *file,
            int          token,
            int          d)
{
  const IbVqganConfig *c = &ib_model_file_get_config (file)->vqgan;
  int row = c->n_remap > 0 ? c->remap[token] : token;
  return ib_tensor_get_f32 (tensor (file, "quantize.embedding", ".weight"), (int64_t) row * c->embed_dim + d);
}

/* get_codebook_entry + post_quant_conv + Decoder.forward. */
static Map
ref_decode (IbModelFile   *file,
            const int32_t *tokens)
{
  const IbModelConfig *config = ib_model_file_get_config (file);
  const IbVqganConfig *c = &config->vqgan;
  int side = config->token_height;
  gsize n = (gsize) side * side;
  Map x = map_new (c->embed_dim, side, side);

  for (int d = 0; d < c->embed_dim; d++)
    for (gsize p = 0; p < n; p++)
      x.data[d * n + p] = code_value (file, tokens[p], d);
  map_replace (&x, ref_conv_same (file, "post_quant_conv", &x));
  map_replace (&x, ref_conv_same (file, "decoder.conv_in", &x));
  ref_mid (file, "decoder", &x);
  for (int i = c->n_ch_mult - 1; i >= 0; i--)
    {
      for (int j = 0; j < c->num_res_blocks + 1; j++)
        {
          g_autofree char *block = g_strdup_printf ("decoder.up.%d.block.%d", i, j);
          g_autofree char *attn = g_strdup_printf ("decoder.up.%d.attn.%d", i, j);

          ref_resnet_block (file, block, &x);
          if (attention_at (c, side))
            ref_attn_block (file, attn, &x);
        }
      if (i != 0)
        {
          g_autofree char *up = g_strdup_printf ("decoder.up.%d.upsample.conv", i);
          Map big = map_new (x.c, 2 * x.h, 2 * x.w);

          for (int ch = 0; ch < x.c; ch++)
            for (int yy = 0; yy < big.h; yy++)
              for (int xx = 0; xx < big.w; xx++)
                big.data[((gsize) ch * big.h + yy) * big.w + xx] =
                  x.data[((gsize) ch * x.h + yy / 2) * x.w + xx / 2];
          map_replace (&x, big);
          map_replace (&x, ref_conv_same (file, up, &x));
          side *= 2;
        }
    }
  map_replace (&x, ref_group_norm (file, "decoder.norm_out", &x, TRUE));
  map_replace (&x, ref_conv_same (file, "decoder.conv_out", &x));
  return x;
}

/* Squared distances of latent position p to every used code, in f64. */
static void
code_distances (IbModelFile *file,
                const float *latent,
                gsize        n,
                gsize        p,
                double      *distances)
{
  const IbModelConfig *config = ib_model_file_get_config (file);

  for (int j = 0; j < config->n_codes; j++)
    {
      double d2 = 0.0;
      for (int d = 0; d < config->vqgan.embed_dim; d++)
        {
          double diff = latent[d * n + p] - (double) code_value (file, j, d);
          d2 += diff * diff;
        }
      distances[j] = d2;
    }
}

/* Fixtures */

typedef struct
{
  const char *path;
  int n_ch_mult;
  int ch_mult[4];
  int num_res_blocks;
  int attn_resolution;
  int embed_dim;
  IbDType dtype;
  gboolean remap;
} VqganCase;

static const VqganCase cases[] = {
  { "/model/vqgan/two-levels-f32", 2, { 1, 2 }, 1, 8, 8, IB_DTYPE_F32, TRUE },
  { "/model/vqgan/two-levels-f16", 2, { 1, 2 }, 1, 8, 8, IB_DTYPE_F16, TRUE },
  { "/model/vqgan/three-levels-bf16", 3, { 1, 2, 1 }, 2, 8, 6, IB_DTYPE_BF16, TRUE },
  { "/model/vqgan/attention-at-16-no-remap", 2, { 2, 1 }, 1, 16, 8, IB_DTYPE_F32, FALSE },
  { "/model/vqgan/one-level", 1, { 1 }, 1, 0, 8, IB_DTYPE_F32, TRUE },
};

static IbModelFile *
build_model (const VqganCase *c)
{
  g_autoptr (GError) error = NULL;
  IbTestModelSpec spec;

  ib_test_model_spec_init (&spec);
  spec.n_levels = 1;
  spec.resolution = 16;
  spec.ch = 32;
  spec.n_ch_mult = c->n_ch_mult;
  memcpy (spec.ch_mult, c->ch_mult, sizeof spec.ch_mult);
  spec.num_res_blocks = c->num_res_blocks;
  spec.attn_resolution = c->attn_resolution;
  spec.z_channels = 8;
  spec.embed_dim = c->embed_dim;
  spec.n_embed = 16;
  spec.n_codes = c->remap ? 10 : 16;
  spec.dtype = c->dtype;
  spec.seed = 7 + c->n_ch_mult;

  g_autofree char *json = ib_test_model_config_json (&spec);
  if (!c->remap)
    {
      /* Cut the remap list out of the config: the model's tokens are then the codebook rows. */
      char *start = strstr (json, ", \"remap\": [");
      g_assert_nonnull (start);
      char *end = strchr (start, ']');
      memmove (start, end + 1, strlen (end + 1) + 1);
    }
  g_autoptr (GBytes) bytes = ib_test_model_build_from_config (json, spec.dtype, spec.seed);
  IbModelFile *file = ib_model_file_new_from_bytes (bytes, "test-vqgan", &error);
  g_assert_no_error (error);
  g_assert_cmpint (ib_model_file_get_config (file)->n_codes, ==, spec.n_codes);
  return file;
}

static float *
guarded_new (gsize n)
{
  float *x = g_new (float, n + GUARD);

  for (gsize i = 0; i < n + GUARD; i++)
    x[i] = SENTINEL;
  return x;
}

static void
assert_guard (const float *x,
              gsize        n)
{
  for (gsize i = n; i < n + GUARD; i++)
    g_assert_cmpfloat (x[i], ==, SENTINEL);
}

/* A smooth image with some texture, in [-1, 1]. */
static float *
test_image (int    resolution,
            guint  seed)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (seed);
  gsize n = (gsize) resolution * resolution;
  float *image = g_new (float, 3 * n);

  for (int ch = 0; ch < 3; ch++)
    for (int y = 0; y < resolution; y++)
      for (int x = 0; x < resolution; x++)
        {
          double smooth = 0.6 * sin (0.4 * x + ch) * cos (0.3 * y - ch);
          double noise = g_rand_double_range (rand, -0.4, 0.4);
          image[ch * n + y * resolution + x] = (float) CLAMP (smooth + noise, -1.0, 1.0);
        }
  return image;
}

static void
assert_close (const char   *what,
              const float  *got,
              const double *expected,
              gsize         n,
              double        relative)
{
  double scale = 0.0, max_error = 0.0;

  for (gsize i = 0; i < n; i++)
    scale = MAX (scale, fabs (expected[i]));
  for (gsize i = 0; i < n; i++)
    {
      double error = fabs (got[i] - expected[i]);
      if (!(error <= relative * scale))
        g_error ("%s[%" G_GSIZE_FORMAT "] = %.9g, expected %.9g (scale %.3g)", what, i, got[i], expected[i],
                 scale);
      max_error = MAX (max_error, error);
    }
  g_test_message ("%s: max |error| %.3g at scale %.3g", what, max_error, scale);
}

/* Tests */

static void
test_vqgan_case (gconstpointer data)
{
  const VqganCase *c = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (IbModelFile) file = build_model (c);
  const IbModelConfig *config = ib_model_file_get_config (file);
  int resolution = config->vqgan.resolution;
  gsize n_pixels = 3 * (gsize) resolution * resolution;
  gsize n_tokens = (gsize) config->token_height * config->token_width;
  gsize n_latent = (gsize) config->vqgan.embed_dim * n_tokens;
  g_autoptr (IbVqgan) vqgan = ib_vqgan_new (file, &error);
  g_assert_no_error (error);

  /* Latent */
  g_autofree float *image = test_image (resolution, 3);
  g_autofree float *latent = guarded_new (n_latent);
  g_assert_true (ib_vqgan_encode_latent (vqgan, image, latent, &error));
  g_assert_no_error (error);
  assert_guard (latent, n_latent);
  Map expected_latent = ref_encode_latent (file, image);
  g_assert_cmpuint (map_size (&expected_latent), ==, n_latent);
  assert_close ("latent", latent, expected_latent.data, n_latent, 2e-5);

  /* Tokens: the nearest used code of the latent; where the f64 reference latent has a near tie, either. */
  g_autofree int32_t *tokens = g_new (int32_t, n_tokens + GUARD);
  for (gsize i = 0; i < n_tokens + GUARD; i++)
    tokens[i] = -3;
  g_assert_true (ib_vqgan_encode (vqgan, image, tokens, NULL, &error));
  g_assert_no_error (error);
  for (gsize i = n_tokens; i < n_tokens + GUARD; i++)
    g_assert_cmpint (tokens[i], ==, -3);

  g_autofree float *expected_f32 = g_new (float, n_latent);
  for (gsize i = 0; i < n_latent; i++)
    expected_f32[i] = (float) expected_latent.data[i];
  g_autofree double *distances = g_new (double, config->n_codes);
  g_autofree double *own = g_new (double, config->n_codes);
  guint distinct = 0;
  for (gsize p = 0; p < n_tokens; p++)
    {
      g_assert_cmpint (tokens[p], >=, 0);
      g_assert_cmpint (tokens[p], <, config->n_codes);

      /* Exactly the nearest for the engine's own latent... */
      code_distances (file, latent, n_tokens, p, own);
      for (int j = 0; j < config->n_codes; j++)
        g_assert_true (own[tokens[p]] < own[j] || (own[tokens[p]] == own[j] && tokens[p] <= j));

      /* ...and the nearest for the reference's latent up to the latent's error. */
      code_distances (file, expected_f32, n_tokens, p, distances);
      double best = INFINITY;
      for (int j = 0; j < config->n_codes; j++)
        best = MIN (best, distances[j]);
      g_assert_cmpfloat (distances[tokens[p]], <=, best + 1e-4 * (best + 1.0));
      if (tokens[p] != tokens[0])
        distinct++;
    }
  g_test_message ("%u of %" G_GSIZE_FORMAT " tokens differ from the first", distinct, n_tokens);

  /* Decoding: the encoded tokens, and every token at least once. */
  for (gsize p = 0; p < n_tokens; p++)
    if (p % 3 == 1)
      tokens[p] = (int32_t) ((p * 7) % config->n_codes);
  g_autofree float *decoded = guarded_new (n_pixels);
  g_assert_true (ib_vqgan_decode (vqgan, tokens, decoded, NULL, &error));
  g_assert_no_error (error);
  assert_guard (decoded, n_pixels);
  Map expected_image = ref_decode (file, tokens);
  g_assert_cmpuint (map_size (&expected_image), ==, n_pixels);
  assert_close ("image", decoded, expected_image.data, n_pixels, 2e-5);

  /* Same input, same bits. */
  g_autofree float *again = g_new (float, n_pixels);
  g_assert_true (ib_vqgan_decode (vqgan, tokens, again, NULL, &error));
  g_assert_true (memcmp (again, decoded, n_pixels * sizeof (float)) == 0);

  g_free (expected_latent.data);
  g_free (expected_image.data);
}

/* The first case's model and its VQGAN, for the tests of refusals and cancellation. */
static IbVqgan *
first_case_vqgan (IbModelFile **file,
                  gsize        *n_tokens,
                  gsize        *n_pixels)
{
  g_autoptr (GError) error = NULL;
  *file = build_model (&cases[0]);
  const IbModelConfig *config = ib_model_file_get_config (*file);
  IbVqgan *vqgan = ib_vqgan_new (*file, &error);
  g_assert_no_error (error);
  *n_tokens = (gsize) config->token_height * config->token_width;
  *n_pixels = 3 * (gsize) config->resolution * config->resolution;
  return vqgan;
}

static void
test_bad_tokens (void)
{
  g_autoptr (IbModelFile) file = NULL;
  gsize n_tokens, n_pixels;
  g_autoptr (IbVqgan) vqgan = first_case_vqgan (&file, &n_tokens, &n_pixels);
  const IbModelConfig *config = ib_model_file_get_config (file);
  g_autoptr (GError) error = NULL;
  const int32_t bad_values[] = { -1, config->n_codes, config->n_codes + 1, G_MAXINT32, G_MININT32 };
  g_autofree int32_t *tokens = g_new0 (int32_t, n_tokens);
  g_autofree float *image = guarded_new (n_pixels);

  for (guint b = 0; b < G_N_ELEMENTS (bad_values); b++)
    {
      gsize at = (b * 5 + 3) % n_tokens;

      memset (tokens, 0, n_tokens * sizeof (int32_t));
      tokens[at] = bad_values[b];
      g_assert_false (ib_vqgan_decode (vqgan, tokens, image, NULL, &error));
      g_assert_error (error, IB_ERROR, IB_ERROR_ARGUMENT);
      g_test_message ("%s", error->message);
      g_clear_error (&error);
      /* Nothing was written. */
      for (gsize i = 0; i < n_pixels; i++)
        g_assert_cmpfloat (image[i], ==, SENTINEL);
    }

  /* The largest valid token decodes. */
  memset (tokens, 0, n_tokens * sizeof (int32_t));
  tokens[0] = config->n_codes - 1;
  g_assert_true (ib_vqgan_decode (vqgan, tokens, image, NULL, &error));
  g_assert_no_error (error);
}

/* A cancelled call stops at the first block's check with G_IO_ERROR_CANCELLED, writes no image, and leaves
 * the VQGAN as it was: the next call without a cancellation gives the usual bits. */
static void
test_cancel (void)
{
  g_autoptr (IbModelFile) file = NULL;
  gsize n_tokens, n_pixels;
  g_autoptr (IbVqgan) vqgan = first_case_vqgan (&file, &n_tokens, &n_pixels);
  const IbModelConfig *config = ib_model_file_get_config (file);
  g_autoptr (GError) error = NULL;
  g_autofree int32_t *tokens = g_new0 (int32_t, n_tokens);
  g_autofree int32_t *encoded = g_new0 (int32_t, n_tokens);
  g_autofree float *want = g_new (float, n_pixels);
  g_autofree float *image = guarded_new (n_pixels);
  g_autoptr (GCancellable) cancelled = g_cancellable_new ();

  for (gsize p = 0; p < n_tokens; p++)
    tokens[p] = (int32_t) ((p * 5) % config->n_codes);
  g_assert_true (ib_vqgan_decode (vqgan, tokens, want, NULL, &error));
  g_cancellable_cancel (cancelled);

  g_assert_false (ib_vqgan_decode (vqgan, tokens, image, cancelled, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  for (gsize i = 0; i < n_pixels; i++)
    g_assert_cmpfloat (image[i], ==, SENTINEL);
  g_assert_false (ib_vqgan_encode (vqgan, want, encoded, cancelled, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);

  g_autoptr (GCancellable) fresh = g_cancellable_new ();
  g_assert_true (ib_vqgan_decode (vqgan, tokens, image, fresh, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (image, n_pixels * sizeof (float), want, n_pixels * sizeof (float));
  g_assert_true (ib_vqgan_encode (vqgan, want, encoded, fresh, &error));
  g_assert_no_error (error);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    g_test_add_data_func (cases[i].path, &cases[i], test_vqgan_case);
  g_test_add_func ("/model/vqgan/bad-tokens", test_bad_tokens);
  g_test_add_func ("/model/vqgan/cancel", test_cancel);

  return g_test_run ();
}
