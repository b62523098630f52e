/* test-vulkan-vqgan.c: the VQGAN on the Vulkan engine (model/ib-vulkan-vqgan.c) against the CPU engine's
 * (model/ib-vqgan.c) on tiny random models built in memory, under the validation layer: the latent and the
 * decoded image with normalized-error bounds, and the tokens, which must equal the CPU engine's except at
 * near-ties (positions where the two codes are equally near the CPU's latent up to the latents' difference).
 * The split cases lower the device's buffer range (the test override of maxStorageBufferRange) so that the
 * larger feature maps lie in several parts: unevenly, by groups of two channels, up- and downsampled across
 * parts. The old code refused all of them. */
#include <math.h>
#include <string.h>

#include "ib-error.h"
#include "ib-model-file.h"
#include "ib-test-model.h"
#include "ib-test-vulkan.h"
#include "ib-vqgan.h"
#include "ib-vulkan-vqgan.h"

#define REL_BOUND 1e-5
#define MAX_BOUND 1e-4
/* A near-tie: the two codes' squared distances to the CPU latent differ by at most this, relative. */
#define TIE_BOUND 1e-4

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
  guint64 range;                /* the device's buffer range in bytes, lowered; 0: as it is */
} VqganCase;

static const VqganCase cases[] = {
  { "/vulkan/vqgan/two-levels-f32", 2, { 1, 2 }, 1, 8, 8, IB_DTYPE_F32, TRUE },
  { "/vulkan/vqgan/two-levels-f16", 2, { 1, 2 }, 1, 8, 8, IB_DTYPE_F16, TRUE },
  { "/vulkan/vqgan/three-levels-bf16", 3, { 1, 2, 1 }, 2, 8, 6, IB_DTYPE_BF16, TRUE },
  { "/vulkan/vqgan/attention-at-16-no-remap", 2, { 2, 1 }, 1, 16, 8, IB_DTYPE_F32, FALSE },
  { "/vulkan/vqgan/one-level", 1, { 1 }, 1, 0, 8, IB_DTYPE_F32, TRUE },
  /* 32 channels at 16x16 in 2 parts, 64 in 4 after the decoder's upsampling; the attention at 8x8 just fits. */
  { "/vulkan/vqgan/split/two-levels-f16", 2, { 1, 2 }, 1, 8, 8, IB_DTYPE_F16, TRUE, 16u << 10 },
  /* 32 channels at 16x16 in parts of 11, 11 and 10. */
  { "/vulkan/vqgan/split/uneven", 2, { 1, 1 }, 1, 0, 8, IB_DTYPE_F32, TRUE, 12u << 10 },
  /* 64 channels at 16x16, GroupNorm groups of 2: parts of 22, 22 and 20. */
  { "/vulkan/vqgan/split/groups-of-two-bf16", 2, { 2, 1 }, 1, 0, 8, IB_DTYPE_BF16, FALSE, 24u << 10 },
};

static double worst_rel, worst_max;
static guint near_ties, tokens_compared;

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
  spec.seed = 17 + c->n_ch_mult;

  g_autofree char *json = ib_test_model_config_json (&spec);
  if (!c->remap)
    {
      char *start = strstr (json, ", \"remap\": [");
      g_assert_nonnull (start);
      char *end = strchr (start, ']');
      memmove (start, end + 1, strlen (end + 1) + 1);
    }
  g_autoptr (GBytes) bytes = ib_test_model_build_from_config (json, spec.dtype, spec.seed);
  IbModelFile *file = ib_model_file_new_from_bytes (bytes, "test-vulkan-vqgan", &error);
  g_assert_no_error (error);
  return file;
}

/* A smooth image with some texture, in [-1, 1]. */
static float *
test_image (int   resolution,
            guint seed)
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
compare (const char  *what,
         const float *vk,
         const float *cpu,
         gsize        n)
{
  double rel = ib_test_relative_error (vk, cpu, n), max = ib_test_max_error (vk, cpu, n);

  g_test_message ("%s: relative error %.2e, max error %.2e", what, rel, max);
  worst_rel = MAX (worst_rel, rel);
  worst_max = MAX (worst_max, max);
  g_assert_cmpfloat (rel, <, REL_BOUND);
  g_assert_cmpfloat (max, <, MAX_BOUND);
}

/* Squared distance (f64) of latent position p (CHW, n positions) to used code j. */
static double
distance (IbModelFile *file,
          const float *latent,
          gsize        n,
          gsize        p,
          int          j)
{
  const IbModelConfig *config = ib_model_file_get_config (file);
  const IbTensor *embedding = ib_model_file_lookup (file, "first_stage_model.quantize.embedding.weight");
  int dim = config->vqgan.embed_dim;
  int row = config->vqgan.n_remap > 0 ? config->vqgan.remap[j] : j;
  double d2 = 0.0;

  for (int d = 0; d < dim; d++)
    {
      double diff = latent[d * n + p] - (double) ib_tensor_get_f32 (embedding, (int64_t) row * dim + d);
      d2 += diff * diff;
    }
  return d2;
}

/* A call that must succeed: its error, if any, in the failure. */
static void
check (gboolean  ok,
       GError  **error)
{
  g_assert_no_error (*error);
  g_assert_true (ok);
}

static void
assert_clean (IbVkDevice *device)
{
  if (ib_vk_device_n_messages (device) > 0)
    g_error ("The validation layer reported: %s", ib_vk_device_get_message (device, 0));
}

/* A device of its own with the buffer range lowered to range bytes. */
static IbVkDevice *
device_with_range (guint64 range)
{
  g_autoptr (GError) error = NULL;
  IbVkDeviceOptions options = { .validation = TRUE, .no_disk_cache = TRUE, .max_range_override = range };

  options.selector = g_getenv ("IMAGEBART_TEST_VULKAN_DEVICE");
  IbVkDevice *device = ib_vk_device_new (&options, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ib_vk_device_max_range (device), ==, range);
  return device;
}

static void
test_vqgan_case (gconstpointer data)
{
  const VqganCase *c = data;
  g_autoptr (IbVkDevice) own_device = c->range > 0 ? device_with_range (c->range) : NULL;
  IbVkDevice *device = own_device != NULL ? own_device : ib_test_vulkan_device ();
  g_autoptr (GError) error = NULL;
  g_autoptr (IbModelFile) file = build_model (c);
  const IbModelConfig *config = ib_model_file_get_config (file);
  int resolution = config->vqgan.resolution;
  gsize n_pixels = 3 * (gsize) resolution * resolution;
  gsize n_tokens = (gsize) config->token_height * config->token_width;
  gsize n_latent = (gsize) config->vqgan.embed_dim * n_tokens;
  g_autoptr (IbVqgan) cpu = ib_vqgan_new (file, &error);
  g_assert_no_error (error);
  g_autoptr (IbVkVqgan) vk = ib_vk_vqgan_new (device, file, &error);
  g_assert_no_error (error);

  for (guint seed = 3; seed < 5; seed++)
    {
      g_autofree float *image = test_image (resolution, seed);
      g_autofree float *want_latent = g_new (float, n_latent);
      g_autofree float *got_latent = g_new (float, n_latent);
      check (ib_vqgan_encode_latent (cpu, image, want_latent, &error), &error);
      check (ib_vk_vqgan_encode_latent (vk, image, got_latent, &error), &error);
      g_assert_no_error (error);
      compare ("latent", got_latent, want_latent, n_latent);

      g_autofree int32_t *want = g_new (int32_t, n_tokens);
      g_autofree int32_t *got = g_new (int32_t, n_tokens);
      check (ib_vqgan_encode (cpu, image, want, NULL, &error), &error);
      check (ib_vk_vqgan_encode (vk, image, got, NULL, &error), &error);
      g_assert_no_error (error);
      for (gsize p = 0; p < n_tokens; p++)
        {
          tokens_compared++;
          g_assert_cmpint (got[p], >=, 0);
          g_assert_cmpint (got[p], <, config->n_codes);
          if (got[p] == want[p])
            continue;
          double a = distance (file, want_latent, n_tokens, p, got[p]);
          double b = distance (file, want_latent, n_tokens, p, want[p]);
          g_test_message ("position %" G_GSIZE_FORMAT ": token %d on the GPU, %d on the CPU (distances %.9g, %.9g)", p,
                          got[p], want[p], a, b);
          g_assert_cmpfloat (fabs (a - b), <=, TIE_BOUND * (MIN (a, b) + 1.0));
          near_ties++;
        }

      /* Decoding: the encoded tokens, with every token at least once. */
      for (gsize p = 0; p < n_tokens; p++)
        if (p % 3 == 1)
          want[p] = (int32_t) ((p * 7 + seed) % config->n_codes);
      g_autofree float *want_image = g_new (float, n_pixels);
      g_autofree float *got_image = g_new (float, n_pixels);
      check (ib_vqgan_decode (cpu, want, want_image, NULL, &error), &error);
      check (ib_vk_vqgan_decode (vk, want, got_image, NULL, &error), &error);
      g_assert_no_error (error);
      compare ("image", got_image, want_image, n_pixels);
      assert_clean (device);
    }

  /* A bad token: refused, the device still usable. */
  g_autofree int32_t *bad = g_new0 (int32_t, n_tokens);
  g_autofree float *image = g_new (float, n_pixels);
  bad[n_tokens - 1] = config->n_codes;
  g_assert_false (ib_vk_vqgan_decode (vk, bad, image, NULL, &error));
  g_assert_error (error, IB_ERROR, IB_ERROR_ARGUMENT);
  g_clear_error (&error);
  bad[n_tokens - 1] = 0;
  check (ib_vk_vqgan_decode (vk, bad, image, NULL, &error), &error);
  g_assert_no_error (error);
  assert_clean (device);

  /* Cancelled: stops after the first resolution's submission; the next call runs whole, to the same bits. */
  g_autoptr (GCancellable) cancelled = g_cancellable_new ();
  g_autofree float *again = g_new (float, n_pixels);
  g_autofree int32_t *encoded = g_new (int32_t, n_tokens);
  g_cancellable_cancel (cancelled);
  g_assert_false (ib_vk_vqgan_decode (vk, bad, again, cancelled, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  g_assert_false (ib_vk_vqgan_encode (vk, image, encoded, cancelled, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  check (ib_vk_vqgan_decode (vk, bad, again, NULL, &error), &error);
  g_assert_no_error (error);
  g_assert_cmpmem (again, n_pixels * sizeof (float), image, n_pixels * sizeof (float));
  assert_clean (device);
}

/* What cannot be split (here an attention block's map: 64 channels at 16x16 against a 16 KiB range) is refused
 * up front with what to do, not half-run. */
static void
test_past_range (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (IbModelFile) file = build_model (&cases[3]);
  g_autoptr (IbVkDevice) device = device_with_range (16u << 10);
  g_autoptr (IbVkVqgan) vk = ib_vk_vqgan_new (device, file, &error);

  g_assert_null (vk);
  g_assert_error (error, IB_VK_ERROR, IB_VK_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, "attention"));
  g_assert_nonnull (strstr (error->message, "CPU engine"));
  assert_clean (device);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  ib_test_vulkan_device ();
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    g_test_add_data_func (cases[i].path, &cases[i], test_vqgan_case);
  g_test_add_func ("/vulkan/vqgan/split/attention-past-range", test_past_range);
  int status = g_test_run ();
  g_test_message ("worst relative error %.2e, worst max error %.2e; %u near-ties in %u tokens", worst_rel, worst_max,
                  near_ties, tokens_compared);
  ib_test_vulkan_finish ();
  return status;
}
