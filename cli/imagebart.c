/* imagebart: the command-line face of the model library (info, encode, decode, logits, sample). */
#include "config.h"

#include <errno.h>
#include <gdk-pixbuf/gdk-pixbuf.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imagebart-cli.h"
#include "ib-error.h"
#include "ib-model-file.h"
#include "ib-ops.h"
#include "ib-sampler.h"
#include "ib-transformer.h"
#include "ib-vqgan.h"
#include "ib-vulkan-device.h"
#include "ib-vulkan-transformer.h"
#include "ib-vulkan-vqgan.h"

#define DEFAULT_MODEL_NAME "default.safetensors"

typedef struct
{
  char *backend;
  char *device;
  int threads;
} CommonOptions;

static CommonOptions common = { NULL, NULL, 0 };

static GOptionEntry common_entries[] = {
  { "backend", 0, 0, G_OPTION_ARG_STRING, &common.backend,
    "Compute engine: cpu, vulkan or auto (default: Vulkan where a GPU is found, else the CPU)", "ENGINE" },
  { "device", 0, 0, G_OPTION_ARG_STRING, &common.device,
    "Vulkan device: its number or a part of its name ('imagebart devices' lists them)", "DEVICE" },
  { "threads", 0, 0, G_OPTION_ARG_INT, &common.threads, "CPU threads (default: all cores)", "N" },
  { NULL }
};

/* The Vulkan device the options chose, or NULL for the CPU engine. */
static IbVkDevice *vulkan_device;
/* Set by a command before parsing its options: it runs no network (info), or its networks run on the Vulkan
 * engine (encode, decode, logits, sample). Other commands refuse --backend vulkan, and --backend auto gives them the CPU engine. */
static gboolean command_runs_no_network;
static gboolean command_runs_on_vulkan;
/* Set by a command whose networks run in an edit job, which opens its own engine from the options
 * (ib_cli_apply_engine_options): the options are checked here, no device is opened. */
static gboolean command_runs_edit_job;
/* --backend auto chose the Vulkan device: a failure of the engine itself falls back to the CPU engine. */
static gboolean vulkan_chosen_automatically;

/* After a Vulkan run failed: under --backend auto, when the engine failed (device lost, out of memory, a limit
 * of the GPU) rather than the input, says so, drops the device and returns TRUE so that the CPU engine runs. */
static gboolean
fall_back_to_cpu (GError **error)
{
  if (!vulkan_chosen_automatically || *error == NULL || (*error)->domain != IB_VK_ERROR)
    return FALSE;
  g_printerr ("imagebart: the Vulkan engine failed (%s); using the CPU engine\n", (*error)->message);
  g_clear_error (error);
  g_clear_pointer (&vulkan_device, ib_vk_device_free);
  return TRUE;
}

/* --backend vulkan: the named or best device, or an error. --backend auto: Vulkan only on a real GPU (lavapipe
 * and other CPU implementations are far slower than the CPU engine), or on the device --device names. */
static gboolean
choose_backend (const char *backend,
                GError    **error)
{
  gboolean want_vulkan = g_strcmp0 (backend, "vulkan") == 0;
  g_autoptr (GError) local = NULL;

  if (!want_vulkan && (common.device == NULL || *common.device == '\0') && !ib_vk_has_gpu ())
    return TRUE;
  IbVkDeviceOptions options = { .selector = common.device };
  vulkan_device = ib_vk_device_new (&options, &local);
  if (vulkan_device == NULL)
    {
      if (want_vulkan || common.device != NULL)
        {
          g_propagate_error (error, g_steal_pointer (&local));
          return FALSE;
        }
      g_printerr ("imagebart: the Vulkan engine is not available (%s); using the CPU engine\n", local->message);
      return TRUE;
    }
  if (command_runs_on_vulkan)
    {
      vulkan_chosen_automatically = !want_vulkan;
      return TRUE;
    }
  /* This command's networks do not run on the Vulkan engine yet (issue 3): say so rather than quietly use the
   * CPU. */
  if (want_vulkan && !command_runs_no_network)
    {
      g_set_error (error, IB_ERROR, IB_ERROR_UNSUPPORTED,
                   "The Vulkan engine found %s but cannot run this command's networks yet; use --backend cpu (or auto)",
                   ib_vk_device_get_name (vulkan_device));
      g_clear_pointer (&vulkan_device, ib_vk_device_free);
      return FALSE;
    }
  g_clear_pointer (&vulkan_device, ib_vk_device_free);
  return TRUE;
}

/* The engine --backend (and --device) chose: vulkan_device, or none for the CPU engine. */
static gboolean
open_backend (GError **error)
{
  const char *backend = common.backend ? common.backend : "auto";
  return g_strcmp0 (backend, "cpu") == 0 || choose_backend (backend, error);
}

static gboolean
apply_common_options (GError **error)
{
  const char *backend = common.backend ? common.backend : "auto";

  if (common.threads < 0 || common.threads > 1024)
    {
      g_set_error (error, IB_ERROR, IB_ERROR_ARGUMENT, "--threads must be between 1 and 1024");
      return FALSE;
    }
  if (g_strcmp0 (backend, "cpu") != 0 && g_strcmp0 (backend, "auto") != 0 && g_strcmp0 (backend, "vulkan") != 0)
    {
      g_set_error (error, IB_ERROR, IB_ERROR_ARGUMENT, "Unknown --backend \"%s\": use cpu, vulkan or auto", backend);
      return FALSE;
    }
  if (common.device != NULL && g_strcmp0 (backend, "cpu") == 0)
    {
      g_set_error (error, IB_ERROR, IB_ERROR_ARGUMENT, "--device chooses a Vulkan device; it does not go with --backend cpu");
      return FALSE;
    }
  ib_set_num_threads (common.threads);
  return command_runs_edit_job || open_backend (error);
}

/* The bundled model: $IMAGEBART_MODEL, else the installed data folder, else the source tree's. */
static char *
find_default_model (void)
{
  const char *from_env = g_getenv ("IMAGEBART_MODEL");
  const char *candidates[] = {
    IB_DATADIR "/models/" DEFAULT_MODEL_NAME,
    IB_SOURCE_DATADIR "/models/" DEFAULT_MODEL_NAME,
  };

  if (from_env != NULL && *from_env != '\0')
    return g_strdup (from_env);
  for (gsize i = 0; i < G_N_ELEMENTS (candidates); i++)
    if (g_file_test (candidates[i], G_FILE_TEST_IS_REGULAR))
      return g_strdup (candidates[i]);
  return NULL;
}

/* Splits positional arguments into the optional MODEL and the n_required ones after it. */
static IbModelFile *
open_model (int      argc,
            char   **argv,
            int      n_required,
            char  ***rest,
            GError **error)
{
  int n_given = argc - 1;
  g_autofree char *path = NULL;

  if (n_given == n_required + 1)
    path = g_strdup (argv[1]);
  else if (n_given == n_required)
    {
      path = find_default_model ();
      if (path == NULL)
        {
          g_set_error (error, IB_ERROR, IB_ERROR_ARGUMENT,
                       "No MODEL given and no bundled default model was found (set IMAGEBART_MODEL or name a "
                       "model file)");
          return NULL;
        }
    }
  else
    {
      g_set_error (error, IB_ERROR, IB_ERROR_ARGUMENT, "Expected %s%d argument%s after the options, got %d",
                   "[MODEL] and ", n_required, n_required == 1 ? "" : "s", n_given);
      return NULL;
    }
  *rest = argv + (n_given - n_required) + 1;
  return ib_model_file_open (path, error);
}

static gboolean
parse_options (GOptionContext *context,
               GOptionEntry   *entries,
               int            *argc,
               char         ***argv,
               GError        **error)
{
  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_add_main_entries (context, common_entries, NULL);
  if (!g_option_context_parse (context, argc, argv, error))
    return FALSE;
  return apply_common_options (error);
}

/* "I,J,K" -> integers, each in [0, limit). */
static int32_t *
parse_token_list (const char *text,
                  const char *what,
                  gint64      limit,
                  int        *n_out,
                  GError    **error)
{
  if (text == NULL || *text == '\0')
    {
      g_set_error (error, IB_ERROR, IB_ERROR_ARGUMENT, "%s needs a comma-separated list of tokens", what);
      return NULL;
    }
  g_auto (GStrv) parts = g_strsplit (text, ",", -1);
  int n = (int) g_strv_length (parts);
  g_autofree int32_t *tokens = g_new (int32_t, n);
  for (int i = 0; i < n; i++)
    {
      guint64 value;
      g_autofree char *part = g_strstrip (g_strdup (parts[i]));
      if (!g_ascii_string_to_unsigned (part, 10, 0, (guint64) limit - 1, &value, NULL))
        {
          g_set_error (error, IB_ERROR, IB_ERROR_ARGUMENT, "%s entry %d (\"%s\") is not a token in 0..%" G_GINT64_FORMAT,
                       what, i + 1, part, limit - 1);
          return NULL;
        }
      tokens[i] = (int32_t) value;
    }
  *n_out = n;
  return g_steal_pointer (&tokens);
}

static gboolean
write_file (const char   *path,
            const void   *data,
            gsize         length,
            GError      **error)
{
  /* g_file_set_contents writes a temporary file and renames it into place. */
  g_autoptr (GError) local = NULL;
  if (!g_file_set_contents (path, data, (gssize) length, &local))
    {
      g_set_error (error, IB_ERROR, IB_ERROR_IO, "Could not write %s: %s", path, local->message);
      return FALSE;
    }
  return TRUE;
}

static void
print_model_info (IbModelFile *file)
{
  const IbModelConfig *c = ib_model_file_get_config (file);
  const IbVqganConfig *v = &c->vqgan;
  g_autoptr (GString) mult = g_string_new (NULL), attn = g_string_new (NULL), betas = g_string_new (NULL);
  for (int i = 0; i < v->n_ch_mult; i++)
    g_string_append_printf (mult, "%s%d", i ? "," : "", v->ch_mult[i]);
  for (int i = 0; i < v->n_attn_resolutions; i++)
    g_string_append_printf (attn, "%s%d", i ? "," : "", v->attn_resolutions[i]);
  for (int t = 1; t <= c->n_levels; t++)
    g_string_append_printf (betas, "%s%.6g", t > 1 ? " " : "", c->betas[t]);

  printf ("Model: %s\n", *c->name ? c->name : "(unnamed)");
  printf ("File: %s\n", ib_model_file_get_path (file));
  printf ("License: %s\n", *c->license ? c->license : "(not stated)");
  printf ("Provenance: %s\n", *c->provenance ? c->provenance : "(not stated)");
  printf ("Image: %dx%d pixels, %dx%d tokens, %d token codes", c->resolution, c->resolution,
          c->token_width, c->token_height, c->n_codes);
  if (v->n_remap > 0)
    printf (" (the used rows of a %d-entry codebook)", v->n_embed);
  printf ("\n");
  printf ("VQGAN: ch %d, ch_mult %s, %d residual blocks per resolution, attention at %s, z %d channels, "
          "codebook %d x %d\n", v->ch, mult->str, v->num_res_blocks, attn->len ? attn->str : "none",
          v->z_channels, v->n_embed, v->embed_dim);
  printf ("Schedule: %s, %d levels, betas %s\n", *c->schedule_name ? c->schedule_name : "(unnamed)",
          c->n_levels, betas->str);
  switch (c->conditioning.kind)
    {
    case IB_CONDITIONING_NONE:
      printf ("Conditioning: none (unconditional)\n");
      break;
    case IB_CONDITIONING_CLASS:
      printf ("Conditioning: class, %d labels (e.g. \"%s\")\n", c->conditioning.n_labels, c->conditioning.labels[0]);
      break;
    case IB_CONDITIONING_TEXT:
      printf ("Conditioning: text, %d prefix tokens from a %d-word vocabulary, guidance %g by default\n",
              c->conditioning.text_length, c->conditioning.n_vocab, c->conditioning.guidance);
      break;
    }
  for (int t = 1; t <= c->n_levels; t++)
    {
      const IbLevelConfig *l = &c->levels[t - 1];
      printf ("Level %d: %s transformer \"%s\", dim %d, encoder depth %d with %d heads, decoder depth %d with %d heads, "
              "head dim %d, vocabulary %d in / %d out, sequences %d in / %d out, top-k %s%d, temperature %g\n",
              t, ib_variant_name (l->variant), l->prefix, l->dim, l->enc_depth, l->enc_heads, l->dec_depth,
              l->dec_heads, l->dim_head, l->enc_num_tokens, l->dec_num_tokens, l->enc_max_seq_len,
              l->dec_max_seq_len, l->top_k == 0 ? "all " : "", l->top_k == 0 ? l->dec_num_tokens : l->top_k,
              l->temperature);
    }

  guint64 n_parameters = 0, n_bytes = 0;
  guint dtype_counts[5] = { 0 };
  for (guint i = 0; i < ib_model_file_n_tensors (file); i++)
    {
      const IbTensor *t = ib_model_file_nth_tensor (file, i);
      n_parameters += (guint64) t->n_elements;
      n_bytes += (guint64) t->n_elements * ib_dtype_size (t->dtype);
      dtype_counts[t->dtype]++;
    }
  g_autofree char *size = g_format_size (n_bytes);
  printf ("Weights: %u tensors, %.1f M parameters, %s (", ib_model_file_n_tensors (file), n_parameters / 1e6, size);
  gboolean first = TRUE;
  for (int d = 0; d < 5; d++)
    if (dtype_counts[d] > 0)
      {
        printf ("%s%u %s", first ? "" : ", ", dtype_counts[d], ib_dtype_name ((IbDType) d));
        first = FALSE;
      }
  printf (")\n");
}

static int
run_info (int    argc,
          char **argv)
{
  g_autoptr (GOptionContext) context = g_option_context_new ("[MODEL] - describe a model file");
  GOptionEntry entries[] = { { NULL } };
  g_autoptr (GError) error = NULL;
  g_autoptr (IbModelFile) file = NULL;
  char **rest;

  command_runs_no_network = TRUE;
  if (!parse_options (context, entries, &argc, &argv, &error) ||
      !(file = open_model (argc, argv, 0, &rest, &error)))
    goto failed;

  print_model_info (file);
  return EXIT_SUCCESS;

failed:
  g_printerr ("imagebart info: %s\n", error->message);
  return EXIT_FAILURE;
}

/* Loads an image as CHW floats in [-1, 1] at the model's resolution (centre square, scaled if needed). */
static float *
load_image (const char *path,
            int         resolution,
            GError    **error)
{
  g_autoptr (GError) local = NULL;
  g_autoptr (GdkPixbuf) loaded = gdk_pixbuf_new_from_file (path, &local);
  if (loaded == NULL)
    {
      g_set_error (error, IB_ERROR, IB_ERROR_IO, "Could not read the image %s: %s", path, local->message);
      return NULL;
    }
  g_autoptr (GdkPixbuf) oriented = gdk_pixbuf_apply_embedded_orientation (loaded);
  int width = gdk_pixbuf_get_width (oriented), height = gdk_pixbuf_get_height (oriented);
  g_autoptr (GdkPixbuf) image = NULL;
  if (width == resolution && height == resolution)
    image = g_object_ref (oriented);
  else
    {
      int side = MIN (width, height);
      g_autoptr (GdkPixbuf) square = gdk_pixbuf_new_subpixbuf (oriented, (width - side) / 2, (height - side) / 2,
                                                               side, side);
      g_printerr ("imagebart: %s is %dx%d; using its centre square scaled to %dx%d\n", path, width, height,
                  resolution, resolution);
      image = gdk_pixbuf_scale_simple (square, resolution, resolution, GDK_INTERP_HYPER);
      if (image == NULL)
        {
          g_set_error (error, IB_ERROR, IB_ERROR_NO_MEMORY, "Not enough memory to scale %s", path);
          return NULL;
        }
    }

  int channels = gdk_pixbuf_get_n_channels (image), stride = gdk_pixbuf_get_rowstride (image);
  const guint8 *pixels = gdk_pixbuf_read_pixels (image);
  gsize plane = (gsize) resolution * resolution;
  float *chw = g_new (float, 3 * plane);
  for (int y = 0; y < resolution; y++)
    for (int x = 0; x < resolution; x++)
      for (int c = 0; c < 3; c++)
        chw[c * plane + (gsize) y * resolution + x] = pixels[y * stride + x * channels + c] / 127.5f - 1.0f;
  return chw;
}

static gboolean
save_image (const char  *path,
            const float *chw,
            int          resolution,
            GError     **error)
{
  gsize plane = (gsize) resolution * resolution;
  if (g_str_has_suffix (path, ".f32"))
    return write_file (path, chw, 3 * plane * sizeof (float), error);

  g_autoptr (GdkPixbuf) image = gdk_pixbuf_new (GDK_COLORSPACE_RGB, FALSE, 8, resolution, resolution);
  if (image == NULL)
    {
      g_set_error (error, IB_ERROR, IB_ERROR_NO_MEMORY, "Not enough memory for a %dx%d image", resolution, resolution);
      return FALSE;
    }
  int stride = gdk_pixbuf_get_rowstride (image);
  guint8 *pixels = gdk_pixbuf_get_pixels (image);
  for (int y = 0; y < resolution; y++)
    for (int x = 0; x < resolution; x++)
      for (int c = 0; c < 3; c++)
        {
          float value = (CLAMP (chw[c * plane + (gsize) y * resolution + x], -1.0f, 1.0f) + 1.0f) * 127.5f;
          pixels[y * stride + x * 3 + c] = (guint8) lrintf (value);
        }

  g_autofree char *buffer = NULL;
  gsize length;
  g_autoptr (GError) local = NULL;
  if (!gdk_pixbuf_save_to_buffer (image, &buffer, &length, "png", &local, NULL))
    {
      g_set_error (error, IB_ERROR, IB_ERROR_IO, "Could not encode %s as PNG: %s", path, local->message);
      return FALSE;
    }
  return write_file (path, buffer, length, error);
}

static int
run_encode (int    argc,
            char **argv)
{
  g_autoptr (GOptionContext) context = g_option_context_new ("[MODEL] IMAGE - print the image's token grid");
  GOptionEntry entries[] = { { NULL } };
  g_autoptr (GError) error = NULL;
  g_autoptr (IbModelFile) file = NULL;
  g_autoptr (IbVqgan) vqgan = NULL;
  g_autofree float *image = NULL;
  g_autofree int32_t *tokens = NULL;
  g_autoptr (IbVkVqgan) vk_vqgan = NULL;
  char **rest;

  command_runs_on_vulkan = TRUE;
  if (!parse_options (context, entries, &argc, &argv, &error) ||
      !(file = open_model (argc, argv, 1, &rest, &error)))
    goto failed;
  const IbModelConfig *c = ib_model_file_get_config (file);
  tokens = g_new (int32_t, c->token_height * c->token_width);
  if (!(image = load_image (rest[0], c->resolution, &error)))
    goto failed;
  if (vulkan_device != NULL &&
      (!(vk_vqgan = ib_vk_vqgan_new (vulkan_device, file, &error)) ||
       !ib_vk_vqgan_encode (vk_vqgan, image, tokens, NULL, &error)))
    {
      g_clear_pointer (&vk_vqgan, ib_vk_vqgan_free);
      if (!fall_back_to_cpu (&error))
        goto failed;
    }
  if (vulkan_device == NULL &&
      (!(vqgan = ib_vqgan_new (file, &error)) || !ib_vqgan_encode (vqgan, image, tokens, NULL, &error)))
    goto failed;

  for (int y = 0; y < c->token_height; y++)
    for (int x = 0; x < c->token_width; x++)
      printf ("%d%c", tokens[y * c->token_width + x], x + 1 < c->token_width ? ' ' : '\n');
  return EXIT_SUCCESS;

failed:
  g_printerr ("imagebart encode: %s\n", error->message);
  return EXIT_FAILURE;
}

/* Commands that write a file refuse to run without --out, before any work. */
static gboolean
require_output (const char *out,
                const char *placeholder,
                GError    **error)
{
  if (out != NULL)
    return TRUE;
  g_set_error (error, IB_ERROR, IB_ERROR_ARGUMENT, "--out %s is required", placeholder);
  return FALSE;
}

static int
run_decode (int    argc,
            char **argv)
{
  g_autoptr (GOptionContext) context = g_option_context_new ("[MODEL] - decode a token grid to an image");
  g_autofree char *token_text = NULL, *out = NULL;
  GOptionEntry entries[] = {
    { "tokens", 0, 0, G_OPTION_ARG_STRING, &token_text, "The token grid in raster order", "I,J,..." },
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out, "Output: PNG, or raw float32 CHW in [-1,1] for .f32", "FILE" },
    { NULL }
  };
  g_autoptr (GError) error = NULL;
  g_autoptr (IbModelFile) file = NULL;
  g_autoptr (IbVqgan) vqgan = NULL;
  g_autofree int32_t *tokens = NULL;
  g_autofree float *image = NULL;
  g_autoptr (IbVkVqgan) vk_vqgan = NULL;
  char **rest;
  int n_tokens;

  command_runs_on_vulkan = TRUE;
  if (!parse_options (context, entries, &argc, &argv, &error) ||
      !(file = open_model (argc, argv, 0, &rest, &error)))
    goto failed;
  if (!require_output (out, "FILE", &error))
    goto failed;
  const IbModelConfig *c = ib_model_file_get_config (file);
  if (!(tokens = parse_token_list (token_text, "--tokens", c->n_codes, &n_tokens, &error)))
    goto failed;
  if (n_tokens != c->token_height * c->token_width)
    {
      g_set_error (&error, IB_ERROR, IB_ERROR_ARGUMENT, "--tokens has %d tokens; this model's grid has %dx%d = %d",
                   n_tokens, c->token_width, c->token_height, c->token_height * c->token_width);
      goto failed;
    }
  image = g_new (float, 3 * (gsize) c->resolution * c->resolution);
  if (vulkan_device != NULL &&
      (!(vk_vqgan = ib_vk_vqgan_new (vulkan_device, file, &error)) ||
       !ib_vk_vqgan_decode (vk_vqgan, tokens, image, NULL, &error)))
    {
      g_clear_pointer (&vk_vqgan, ib_vk_vqgan_free);
      if (!fall_back_to_cpu (&error))
        goto failed;
    }
  if (vulkan_device == NULL &&
      (!(vqgan = ib_vqgan_new (file, &error)) || !ib_vqgan_decode (vqgan, tokens, image, NULL, &error)))
    goto failed;
  if (!save_image (out, image, c->resolution, &error))
    goto failed;
  return EXIT_SUCCESS;

failed:
  g_printerr ("imagebart decode: %s\n", error->message);
  return EXIT_FAILURE;
}

static int
run_logits (int    argc,
            char **argv)
{
  g_autoptr (GOptionContext) context = g_option_context_new ("[MODEL] - a level's raw logits for (src, tgt)");
  g_autofree char *src_text = NULL, *tgt_text = NULL, *out = NULL;
  int level = 0;
  GOptionEntry entries[] = {
    { "level", 0, 0, G_OPTION_ARG_INT, &level, "The level t (1..T)", "T" },
    { "src", 0, 0, G_OPTION_ARG_STRING, &src_text, "Encoder input tokens", "I,J,..." },
    { "tgt", 0, 0, G_OPTION_ARG_STRING, &tgt_text, "Decoder input tokens", "I,J,..." },
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out, "Output: float32, len(tgt) x vocabulary", "FILE.f32" },
    { NULL }
  };
  g_autoptr (GError) error = NULL;
  g_autoptr (IbModelFile) file = NULL;
  g_autoptr (IbStage) stage = NULL;
  g_autoptr (IbVkStage) vk_stage = NULL;
  g_autofree int32_t *src = NULL, *tgt = NULL;
  g_autofree float *logits = NULL;
  char **rest;
  int n_src, n_tgt;

  command_runs_on_vulkan = TRUE;
  if (!parse_options (context, entries, &argc, &argv, &error) ||
      !(file = open_model (argc, argv, 0, &rest, &error)))
    goto failed;
  const IbModelConfig *c = ib_model_file_get_config (file);
  if (level < 1 || level > c->n_levels)
    {
      g_set_error (&error, IB_ERROR, IB_ERROR_ARGUMENT, "--level must be between 1 and %d", c->n_levels);
      goto failed;
    }
  if (!require_output (out, "FILE.f32", &error))
    goto failed;
  const IbLevelConfig *l = &c->levels[level - 1];
  if (!(src = parse_token_list (src_text, "--src", l->enc_num_tokens, &n_src, &error)) ||
      !(tgt = parse_token_list (tgt_text, "--tgt", l->dec_num_tokens, &n_tgt, &error)))
    goto failed;
  logits = g_try_new (float, (gsize) n_tgt * l->dec_num_tokens);
  if (logits == NULL)
    {
      g_set_error (&error, IB_ERROR, IB_ERROR_NO_MEMORY, "Not enough memory for the logits");
      goto failed;
    }
  if (vulkan_device != NULL &&
      (!(vk_stage = ib_vk_stage_new (vulkan_device, file, level, &error)) ||
       !ib_vk_stage_logits (vk_stage, src, n_src, tgt, n_tgt, logits, &error)))
    {
      g_clear_pointer (&vk_stage, ib_vk_stage_free);
      if (!fall_back_to_cpu (&error))
        goto failed;
    }
  if (vulkan_device == NULL &&
      (!(stage = ib_stage_new (file, level, &error)) ||
       !ib_stage_logits (stage, src, n_src, tgt, n_tgt, logits, &error)))
    goto failed;
  if (!write_file (out, logits, (gsize) n_tgt * l->dec_num_tokens * sizeof (float), &error))
    goto failed;
  return EXIT_SUCCESS;

failed:
  g_printerr ("imagebart logits: %s\n", error->message);
  return EXIT_FAILURE;
}

static int
run_sample (int    argc,
            char **argv)
{
  g_autoptr (GOptionContext) context = g_option_context_new ("[MODEL] - draw a sample: a whole picture, from noise");
  g_autofree char *out = NULL, *seed_text = NULL;
  g_autofree char *prompt = NULL, *text_tokens = NULL, *class_id = NULL, *guidance = NULL;
  GOptionEntry entries[] = {
    { "seed", 0, 0, G_OPTION_ARG_STRING, &seed_text, "Random seed (default: random)", "S" },
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out, "Output PNG (or .f32, for an unconditional model)", "FILE" },
    { "prompt", 0, 0, G_OPTION_ARG_STRING, &prompt, "What to draw, for a text-conditional model",
      "TEXT" },
    { "text-tokens", 0, 0, G_OPTION_ARG_STRING, &text_tokens,
      "The prompt as the model's text tokens, for a text-conditional model", "I,J,..." },
    { "class", 0, 0, G_OPTION_ARG_STRING, &class_id, "The class, for a class-conditional model", "N" },
    { "guidance", 0, 0, G_OPTION_ARG_STRING, &guidance,
      "How strongly to follow the prompt or class: 1 (plainly conditioned) to 20 (default: the model's)", "G" },
    { NULL }
  };
  g_autoptr (GError) error = NULL;
  g_autoptr (IbModelFile) file = NULL;
  g_autoptr (IbVqgan) vqgan = NULL;
  g_autofree int32_t *tokens = NULL;
  g_autofree float *image = NULL;
  g_autoptr (IbVkVqgan) vk_vqgan = NULL;
  char **rest;
  guint64 seed;

  /* The model decides the path: a conditioned one samples through an edit job, which opens its own engine, so
   * the device is opened only once the model is known to be unconditional. */
  command_runs_on_vulkan = TRUE;
  command_runs_edit_job = TRUE;
  if (!parse_options (context, entries, &argc, &argv, &error) ||
      !(file = open_model (argc, argv, 0, &rest, &error)))
    goto failed;
  if (!require_output (out, "FILE", &error))
    goto failed;
  IbCliConditioning conditioning = { prompt, text_tokens, class_id, guidance };
  if (ib_model_file_get_config (file)->conditioning.kind != IB_CONDITIONING_NONE ||
      prompt != NULL || text_tokens != NULL || class_id != NULL || guidance != NULL)
    return ib_cli_run_conditioned_sample (file, &conditioning, seed_text, out);
  command_runs_edit_job = FALSE;
  if (!open_backend (&error))
    goto failed;
  if (seed_text == NULL)
    seed = ((guint64) g_random_int () << 32) | g_random_int ();
  else if (!g_ascii_string_to_unsigned (seed_text, 10, 0, G_MAXUINT64, &seed, NULL))
    {
      g_set_error (&error, IB_ERROR, IB_ERROR_ARGUMENT, "--seed must be a non-negative integer");
      goto failed;
    }

  const IbModelConfig *c = ib_model_file_get_config (file);
  tokens = g_new (int32_t, c->token_height * c->token_width);
  image = g_new (float, 3 * (gsize) c->resolution * c->resolution);
  if (vulkan_device != NULL &&
      (!ib_vk_sample_chain (vulkan_device, file, seed, tokens, NULL, &error) ||
       !(vk_vqgan = ib_vk_vqgan_new (vulkan_device, file, &error)) ||
       !ib_vk_vqgan_decode (vk_vqgan, tokens, image, NULL, &error)))
    {
      g_clear_pointer (&vk_vqgan, ib_vk_vqgan_free);
      if (!fall_back_to_cpu (&error))
        goto failed;
    }
  if (vulkan_device == NULL &&
      (!ib_sample_chain (file, seed, tokens, NULL, &error) ||
       !(vqgan = ib_vqgan_new (file, &error)) ||
       !ib_vqgan_decode (vqgan, tokens, image, NULL, &error)))
    goto failed;
  if (!save_image (out, image, c->resolution, &error))
    goto failed;
  printf ("seed %" G_GUINT64_FORMAT "\n", seed);
  return EXIT_SUCCESS;

failed:
  g_printerr ("imagebart sample: %s\n", error->message);
  return EXIT_FAILURE;
}

static int
run_devices (int    argc,
             char **argv)
{
  g_autoptr (GOptionContext) context = g_option_context_new ("- list the Vulkan devices, best first");
  GOptionEntry entries[] = { { NULL } };
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) list = NULL;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    goto failed;
  if (argc > 1)
    {
      g_set_error (&error, IB_ERROR, IB_ERROR_ARGUMENT, "devices takes no arguments");
      goto failed;
    }
  list = ib_vk_list_devices (&error);
  if (list == NULL || list->len == 0)
    {
      /* Not a failure of this command: the machine simply has no Vulkan; the CPU engine is used. */
      printf ("No Vulkan device: %s.\nThe CPU engine will be used.\n",
              error ? error->message : "Vulkan works but lists no device; install a Vulkan driver for your GPU");
      return EXIT_SUCCESS;
    }
  for (guint i = 0; i < list->len; i++)
    {
      const IbVkDeviceInfo *info = g_ptr_array_index (list, i);
      g_autofree char *memory = g_format_size (info->device_local_bytes);
      printf ("%d: %s (%s, %s, Vulkan %u.%u%s%s)%s%s\n", info->index, info->name, ib_vk_device_kind_name (info->kind),
              memory, (info->api_version >> 22) & 0x7f, (info->api_version >> 12) & 0x3ff,
              *info->driver ? ", " : "", info->driver, !info->usable ? " - not usable" : "",
              i == 0 && info->usable ? (info->kind == IB_VK_DEVICE_CPU ? " - default for --backend vulkan" : " - default")
                                     : "");
    }
  return EXIT_SUCCESS;

failed:
  g_printerr ("imagebart devices: %s\n", error->message);
  return EXIT_FAILURE;
}

/* For the commands in files of their own (imagebart-cli.h). */
gboolean
ib_cli_parse_options (GOptionContext  *context,
                      GOptionEntry    *entries,
                      int             *argc,
                      char          ***argv,
                      GError         **error)
{
  return parse_options (context, entries, argc, argv, error);
}

gboolean
ib_cli_parse_edit_options (GOptionContext  *context,
                           GOptionEntry    *entries,
                           int             *argc,
                           char          ***argv,
                           GError         **error)
{
  command_runs_edit_job = TRUE;
  return parse_options (context, entries, argc, argv, error);
}

void
ib_cli_apply_engine_options (IbEditSettings *settings)
{
  if (g_strcmp0 (common.backend, "cpu") == 0)
    settings->backend = IB_EDIT_BACKEND_CPU;
  else if (g_strcmp0 (common.backend, "vulkan") == 0)
    settings->backend = IB_EDIT_BACKEND_VULKAN;
  else if (g_strcmp0 (common.backend, "auto") == 0)
    settings->backend = IB_EDIT_BACKEND_AUTO;
  if (common.device != NULL)
    g_strlcpy (settings->device, common.device, sizeof settings->device);
}

IbModelFile *
ib_cli_open_model (int      argc,
                   char   **argv,
                   int      n_required,
                   char  ***rest,
                   GError **error)
{
  return open_model (argc, argv, n_required, rest, error);
}

gboolean
ib_cli_write_file (const char  *path,
                   const void  *data,
                   gsize        length,
                   GError     **error)
{
  return write_file (path, data, length, error);
}

static const struct
{
  const char *name;
  int (*run) (int argc, char **argv);
  const char *summary;
} commands[] = {
  { "info", run_info, "Describe a model file" },
  { "encode", run_encode, "Print an image's token grid" },
  { "decode", run_decode, "Decode a token grid to an image" },
  { "logits", run_logits, "Write a level's raw logits for given encoder and decoder inputs" },
  { "sample", run_sample, "Draw a whole picture through all levels (from a prompt or class when conditioned)" },
  { "inpaint", ib_cli_run_inpaint, "Re-synthesize the masked part of a picture" },
  { "devices", run_devices, "List the Vulkan devices (for --device)" },
};

static void
print_usage (FILE *stream)
{
  fprintf (stream, "Usage: imagebart COMMAND [OPTIONS] [MODEL] ...\n\nCommands:\n");
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    fprintf (stream, "  %-8s %s\n", commands[i].name, commands[i].summary);
  fprintf (stream, "\nMODEL may be omitted when a default model is bundled or IMAGEBART_MODEL names one.\n"
                   "Every command takes --backend cpu|vulkan|auto and --threads N; "
                   "'imagebart COMMAND --help' lists its options.\n");
}

int
main (int    argc,
      char **argv)
{
  setlocale (LC_ALL, "");

  if (argc < 2 || g_strcmp0 (argv[1], "--help") == 0 || g_strcmp0 (argv[1], "-h") == 0 ||
      g_strcmp0 (argv[1], "help") == 0)
    {
      print_usage (argc < 2 ? stderr : stdout);
      return argc < 2 ? EXIT_FAILURE : EXIT_SUCCESS;
    }
  if (g_strcmp0 (argv[1], "--version") == 0)
    {
      printf ("imagebart %s\n", PACKAGE_VERSION);
      return EXIT_SUCCESS;
    }
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    if (g_strcmp0 (argv[1], commands[i].name) == 0)
      {
        g_autofree char *program = g_strdup_printf ("imagebart %s", commands[i].name);
        argv[1] = program;
        int status = commands[i].run (argc - 1, argv + 1);
        /* Saves the pipeline cache. */
        g_clear_pointer (&vulkan_device, ib_vk_device_free);
        return status;
      }
  fprintf (stderr, "imagebart: unknown command \"%s\"\n\n", argv[1]);
  print_usage (stderr);
  return EXIT_FAILURE;
}
