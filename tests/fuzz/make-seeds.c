/* make-seeds.c: writes the seed corpora of the fuzz harnesses (tests/fuzz/corpus/<harness>/) from the same
 * code that builds real files: tiny model files from the library's tensor layout, recipes from
 * ib_edit_recipe_build, a PNG carrying one as `imagebart inpaint` writes it, and edit requests. Run once by
 * hand (`make-seeds OUTDIR`); the results are committed. */
#include <gdk-pixbuf/gdk-pixbuf.h>
#include <string.h>

#include "fuzz-common.h"
#include "ib-edit-recipe.h"
#include "ib-model-file.h"
#include "ib-test-model.h"

/* About the smallest model the config validation allows (still ~200 KB in f16, mostly the VQGAN). */
static void
tiny_spec (IbTestModelSpec *spec)
{
  ib_test_model_spec_init (spec);
  spec->dim = 8;
  spec->dim_head = 4;
  spec->heads = 2;
  spec->enc_depth = 1;
  spec->dec_depth = 1;
  spec->n_codes = 4;
  spec->n_embed = 4;
  spec->resolution = 4;
  spec->ch = 32;                  /* GroupNorm's 32 groups: the smallest VQGAN */
  spec->n_ch_mult = 1;
  spec->ch_mult[0] = 1;
  spec->attn_resolution = 0;
  spec->z_channels = 2;
  spec->embed_dim = 2;
  spec->dtype = IB_DTYPE_F16;
  spec->gpt_heads = 2;
}

static void
write_models (const char *outdir)
{
  /* Whole files are ~300 KB: two of them, the other configs as config seeds only. */
  static const struct
  {
    const char *name;
    IbVariant variant;
    IbDType dtype;
    gboolean gpt_top, joint, whole_file;
    int levels;
  } models[] = {
    { "tiny-f16.safetensors", IB_VARIANT_RESIDUAL_SCALED, IB_DTYPE_F16, FALSE, FALSE, TRUE, 2 },
    { "tiny-bf16-plain.safetensors", IB_VARIANT_PLAIN, IB_DTYPE_BF16, FALSE, FALSE, FALSE, 1 },
    { "tiny-f16-gpt-top.safetensors", IB_VARIANT_SCALED, IB_DTYPE_F16, TRUE, FALSE, TRUE, 2 },
    { "tiny-f16-joint.safetensors", IB_VARIANT_RESIDUAL_SCALED, IB_DTYPE_F16, FALSE, TRUE, FALSE, 3 },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (models); i++)
    {
      IbTestModelSpec spec;
      tiny_spec (&spec);
      spec.variant = models[i].variant;
      spec.dtype = models[i].dtype;
      spec.gpt_top = models[i].gpt_top;
      spec.joint = models[i].joint;
      spec.n_levels = models[i].levels;
      g_autofree char *json = ib_test_model_config_json (&spec);
      g_autoptr (GBytes) bytes = ib_test_model_build (&spec);
      g_autoptr (GError) error = NULL;
      g_autoptr (IbModelFile) file = ib_model_file_new_from_bytes (bytes, models[i].name, &error);
      if (file == NULL)
        g_error ("seed %s does not load: %s", models[i].name, error->message);
      if (models[i].whole_file)
        {
          const guint8 *data = g_bytes_get_data (bytes, NULL);
          guint64 header_length = 0;
          for (int b = 7; b >= 0; b--)
            header_length = (header_length << 8) | data[b];
          g_autofree char *header_name = g_strdup_printf ("%.*s.json", (int) strlen (models[i].name) - 12,
                                                          models[i].name);
          fuzz_write_seed (outdir, "model-file", models[i].name, data, g_bytes_get_size (bytes));
          fuzz_write_seed (outdir, "model-header", header_name, data + 8, header_length);
        }
      g_autofree char *config_name = g_strdup_printf ("%.*s.json", (int) strlen (models[i].name) - 12,
                                                      models[i].name);
      fuzz_write_seed (outdir, "model-config", config_name, json, strlen (json));
    }
}

static char *
recipe_for (const IbModelConfig *config,
            int                  variant)
{
  IbEditRequest request;
  IbEditRecipeHashes hashes = {
    .model_sha256 = g_compute_checksum_for_string (G_CHECKSUM_SHA256, "model", -1),
    .model_name = g_strdup (variant == 2 ? "n\u00e4me \"quoted\"" : "test model"),
    .image_sha256 = g_compute_checksum_for_string (G_CHECKSUM_SHA256, "image", -1),
    .mask_sha256 = g_compute_checksum_for_string (G_CHECKSUM_SHA256, "mask", -1),
    .width = 640,
    .height = 480,
  };
  ib_edit_request_init (&request, config);
  request.settings.backend = IB_EDIT_BACKEND_CPU;   /* as ib_edit_job_new resolves "auto" */
  if (variant == 1)
    {
      request.settings.seed = G_MAXUINT64;
      request.settings.start_level = 1;
      request.settings.n_variants = 4;
      request.settings.feather = 0.5;
      request.settings.match_colours = FALSE;
      request.settings.backend = IB_EDIT_BACKEND_VULKAN;
      request.settings.temperature[0] = 0.7f;
      request.settings.top_k[1] = 0;
      request.settings.repeats[0] = 3;
    }
  else if (variant == 2)
    {
      request.conditioning.kind = IB_CONDITIONING_TEXT;
      request.conditioning.n_text_tokens = 4;
      for (int i = 0; i < 4; i++)
        request.conditioning.text_tokens[i] = 7 * i;
    }
  else if (variant == 3)
    {
      request.conditioning.kind = IB_CONDITIONING_CLASS;
      request.conditioning.class_id = 5;
    }
  char *recipe = ib_edit_recipe_build (config, &hashes, &request.conditioning, &request.settings);
  ib_edit_recipe_hashes_clear (&hashes);
  return recipe;
}

static void
write_recipes (const char *outdir)
{
  IbTestModelSpec spec;
  ib_test_model_spec_init (&spec);
  g_autofree char *json = ib_test_model_config_json (&spec);
  g_autoptr (IbModelConfig) config = ib_model_config_parse (json, strlen (json), NULL);

  for (int variant = 0; variant < 4; variant++)
    {
      g_autofree char *recipe = recipe_for (config, variant);
      g_autofree char *name = g_strdup_printf ("recipe-%d.json", variant);
      fuzz_write_seed (outdir, "recipe", name, recipe, strlen (recipe));
    }

  /* As `imagebart inpaint` writes its results: RGB and RGBA. */
  for (int alpha = 0; alpha < 2; alpha++)
    {
      g_autofree char *recipe = recipe_for (config, alpha);
      g_autoptr (GdkPixbuf) picture = gdk_pixbuf_new (GDK_COLORSPACE_RGB, alpha, 8, 3, 2);
      gdk_pixbuf_fill (picture, 0x336699ff);
      g_autofree char *buffer = NULL;
      gsize length;
      g_autoptr (GError) error = NULL;
      if (!gdk_pixbuf_save_to_buffer (picture, &buffer, &length, "png", &error,
                                      "tEXt::" IB_EDIT_RECIPE_PNG_KEY, recipe, NULL))
        g_error ("%s", error->message);
      g_autofree char *name = g_strdup_printf ("result-%s.png", alpha ? "rgba" : "rgb");
      fuzz_write_seed (outdir, "recipe-png", name, buffer, length);
    }
}

/* The byte layout fuzz-edit-job.c reads: geometry, flags, seed, settings, levels, conditioning. */
static void
write_edit_requests (const char *outdir)
{
  static const guint32 requests[][24] = {
    /* 16x16, tight strides, no flags, seed 1, start 2, 1 variant, feather 4.0f, cpu,
     * level 1: 1.0f, top-k 0, 1 pass; level 2: 1.0f, 0, 1; conditioning none */
    { 16, 16, 64, 16, 16, 16, 12, 0, 1, 2, 1, 0x40800000, 1, 0x3f800000, 0, 1, 0x3f800000, 0, 1, 0, 0, 0 },
    /* 33x7 with padded strides, 3 variants, start 1, auto backend, top-k 5, 2 passes */
    { 33, 7, 140, 33, 7, 40, 8, 0, 99, 1, 3, 0x3f000000, 0, 0x3f400000, 5, 2, 0x3fc00000, 3, 1, 0, 0, 0 },
    /* 1x1 */
    { 1, 1, 4, 1, 1, 1, 0, 0, 0, 2, 1, 0, 1, 0x3f800000, 0, 1, 0x3f800000, 0, 1, 0, 0, 0 },
    /* refused: the mask is another size */
    { 16, 16, 64, 15, 16, 16, 0, 0, 1, 2, 1, 0x40800000, 1, 0x3f800000, 0, 1, 0x3f800000, 0, 1, 0, 0, 0 },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (requests); i++)
    {
      g_autofree char *name = g_strdup_printf ("request-%" G_GSIZE_FORMAT ".bin", i);
      fuzz_write_seed (outdir, "edit-job", name, requests[i], 22 * sizeof (guint32));
    }
}

int
main (int   argc,
      char *argv[])
{
  if (argc != 2)
    {
      g_printerr ("usage: %s OUTDIR\n", argv[0]);
      return 2;
    }
  write_models (argv[1]);
  write_recipes (argv[1]);
  write_edit_requests (argv[1]);
  return 0;
}
