/* benchmark-edit: what an edit's level costs as a function of the mask, on the CPU engine or (--backend vulkan)
 * the Vulkan engine, decoding on the device as the editor does. Runs one level of a
 * model (encoder over the whole grid, decoder with the known tokens forced) for a full mask and for masks
 * covering about 10% of the tokens at the top, in the middle and at the bottom of the grid, and prints
 * "key value" lines: seconds per level, the ratio to the full mask, and the same ratio without the encoder
 * pass (which every mask pays in full: it reads the whole grid). A benchmark, not a test. */
#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ib-edit-engine.h"
#include "ib-model-file.h"
#include "ib-ops.h"
#include "ib-rng.h"
#include "ib-sampler.h"
#include "ib-tokenizer.h"
#include "ib-transformer.h"

/* The level under test on the engine the editor uses, with the conditioning an edit gives it. */
typedef struct
{
  IbEditEngine *engine;
  int t;
  const int32_t *conditioning;
  int n_conditioning;
} Bench;

/* n_batch sequences of the level in lockstep, known tokens forced. */
static gboolean
sample (Bench                 *bench,
        const int32_t         *x_t,
        int                    n_batch,
        int                    n_tokens,
        const IbLevelSampling *sampling,
        const IbRngStream     *streams,
        const gboolean        *known,
        const int32_t         *x0,
        int32_t               *x_prev,
        GError               **error)
{
  return ib_edit_engine_sample_level (bench->engine, bench->t, bench->conditioning, bench->n_conditioning, x_t,
                                      n_batch, n_tokens, sampling, streams, known, x0, x_prev, NULL, NULL, NULL,
                                      error);
}

static double
now (void)
{
  return g_get_monotonic_time () / 1e6;
}

/* A block of about fraction * n tokens (as square as whole tokens allow: on an 8 x 8 grid 10% is 3 x 2, where a
 * 3 x 3 square would be 14%), centred across, from the top (where 0) to the bottom (where 1) of the grid. */
static int
block_mask (int       height,
            int       width,
            double    fraction,
            double    where,
            gboolean *unknown)
{
  double wanted = fraction * height * width;
  int rows = CLAMP ((int) lround (sqrt (wanted)), 1, height);
  int cols = CLAMP ((int) lround (wanted / rows), 1, width);
  int y0 = (int) lround (where * (height - rows)), x0 = (width - cols) / 2, n = 0;
  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++)
      {
        unknown[y * width + x] = y >= y0 && y < y0 + rows && x >= x0 && x < x0 + cols;
        n += unknown[y * width + x];
      }
  return n;
}

static double
time_level (Bench           *bench,
            const IbLevelConfig *l,
            const int32_t   *x_t,
            const gboolean  *unknown,
            const int32_t   *x0,
            int              n_tokens,
            int              repeats,
            GError         **error)
{
  IbLevelSampling sampling = { .top_k = l->top_k, .temperature = (float) l->temperature };
  IbRngStream stream = { .seed = 3, .level = (uint32_t) l->t };
  g_autofree gboolean *known = g_new (gboolean, n_tokens);
  g_autofree int32_t *x_prev = g_new (int32_t, n_tokens);
  double best = INFINITY;
  for (int i = 0; i < n_tokens; i++)
    known[i] = !unknown[i];
  for (int round = 0; round < repeats; round++)
    {
      double start = now ();
      if (!sample (bench, x_t, 1, n_tokens, &sampling, &stream, known, x0, x_prev, error))
        return -1;
      best = MIN (best, now () - start);
    }
  return best;
}

int
main (int    argc,
      char **argv)
{
  int level = 1, threads = 0, repeats = 1, variants = 0;
  double fraction = 0.1;
  g_autofree char *backend = NULL, *device_name = NULL;
  GOptionEntry entries[] = {
    { "backend", 0, 0, G_OPTION_ARG_STRING, &backend, "cpu (default) or vulkan", "ENGINE" },
    { "device", 0, 0, G_OPTION_ARG_STRING, &device_name, "Vulkan device, by index or name (default: the best)",
      "DEVICE" },
    { "level", 0, 0, G_OPTION_ARG_INT, &level, "Level to run (default 1)", "T" },
    { "fraction", 0, 0, G_OPTION_ARG_DOUBLE, &fraction, "Share of tokens under the small mask (default 0.1)", "F" },
    { "repeats", 0, 0, G_OPTION_ARG_INT, &repeats, "Runs per mask, the best counts (default 1)", "R" },
    { "threads", 0, 0, G_OPTION_ARG_INT, &threads, "Threads (default: all cores)", "N" },
    { "variants", 0, 0, G_OPTION_ARG_INT, &variants,
      "Also time N variants of the full mask in lockstep against one after another", "N" },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("MODEL - time an edit's level against its mask");
  g_autoptr (GError) error = NULL;
  g_option_context_add_main_entries (context, entries, NULL);
  gboolean parsed = g_option_context_parse (context, &argc, &argv, &error);
  gboolean vulkan = g_strcmp0 (backend, "vulkan") == 0;
  if (!parsed || argc != 2 || fraction <= 0 || fraction > 1 || (backend != NULL && !vulkan && strcmp (backend, "cpu") != 0))
    {
      fprintf (stderr, "%s\n", error ? error->message : "usage: benchmark-edit [OPTIONS] MODEL");
      return 2;
    }
  ib_set_num_threads (threads);

  g_autoptr (IbModelFile) file = ib_model_file_open (argv[1], &error);
  IbVkDeviceOptions options = { .selector = device_name };
  g_autoptr (IbEditEngine) engine =
    file ? ib_edit_engine_new (file, vulkan ? IB_EDIT_BACKEND_VULKAN : IB_EDIT_BACKEND_CPU, &options, &error) : NULL;
  if (engine == NULL)
    {
      fprintf (stderr, "%s\n", error->message);
      return 1;
    }
  const IbModelConfig *config = ib_model_file_get_config (file);
  if (level < 1 || level > config->n_levels)
    {
      fprintf (stderr, "The model has levels 1 to %d, not %d\n", config->n_levels, level);
      return 1;
    }
  /* A prompted model gets the empty prompt (all padding), a class model class 0: an edit's usual input. */
  const IbConditioning *c = &config->conditioning;
  int n_conditioning = c->kind == IB_CONDITIONING_TEXT ? c->text_length : c->kind == IB_CONDITIONING_CLASS ? 1 : 0;
  g_autofree int32_t *conditioning = g_new (int32_t, MAX (n_conditioning, 1));
  for (int i = 0; i < n_conditioning; i++)
    conditioning[i] = c->token_offset + (c->kind == IB_CONDITIONING_TEXT ? IB_TOKENIZER_PAD : 0);
  Bench bench = { engine, level, conditioning, n_conditioning };
  const IbLevelConfig *l = &config->levels[level - 1];
  IbVkDevice *device = ib_edit_engine_get_device (engine);
  if (device != NULL)
    printf ("device_name %s (%s)\n", ib_vk_device_get_name (device),
            ib_vk_device_kind_name (ib_vk_device_get_kind (device)));
  int h = config->token_height, w = config->token_width, n = h * w;
  printf ("threads %d\n", ib_get_num_threads ());
  printf ("level %d\nvariant %s\ndim %d\nenc_depth %d\ndec_depth %d\ntokens %d\n", level, ib_variant_name (l->variant),
          l->dim, l->enc_depth, l->dec_depth, n);

  g_autofree int32_t *x_t = g_new (int32_t, n), *x0 = g_new (int32_t, n);
  IbRngStream stream = { .seed = 1, .level = 99 };
  for (int i = 0; i < n; i++)
    {
      x0[i] = (int32_t) ib_rng_below (&stream, (uint32_t) i, 0, (uint32_t) config->n_codes);
      x_t[i] = (int32_t) ib_rng_below (&stream, (uint32_t) i, 1, (uint32_t) config->n_codes);
    }

  /* Masks: the full grid, then about fraction of it at the top, in the middle and at the bottom. Rounds go
   * through all of them in turn and the best of each counts, so that a busy spell of the machine does not
   * land on one mask only. */
  enum { N_MASKS = 4 };
  static const char *const names[N_MASKS] = { "full", "top", "middle", "bottom" };
  static const double where[N_MASKS] = { -1, 0.0, 0.5, 1.0 };
  gboolean *masks[N_MASKS];
  int n_unknown[N_MASKS];
  double best[N_MASKS], encoder = l->variant == IB_VARIANT_GPT ? 0.0 : INFINITY;
  for (int m = 0; m < N_MASKS; m++)
    {
      masks[m] = g_new (gboolean, n);
      best[m] = INFINITY;
      if (where[m] < 0)
        {
          for (int i = 0; i < n; i++)
            masks[m][i] = TRUE;
          n_unknown[m] = n;
        }
      else
        n_unknown[m] = block_mask (h, w, fraction, where[m], masks[m]);
    }

  int n_src = 1 + n_conditioning + n;
  g_autofree int32_t *src = g_new (int32_t, n_src);
  g_autofree float *encoded = g_new (float, (gsize) n_src * l->dim);
  src[0] = level;
  memcpy (src + 1, conditioning, n_conditioning * sizeof (int32_t));
  memcpy (src + 1 + n_conditioning, x_t, n * sizeof (int32_t));
  for (int round = 0; round < MAX (repeats, 1); round++)
    {
      /* The encoder alone: what every mask pays in full. */
      if (l->variant != IB_VARIANT_GPT)
        {
          double start = now ();
          if (!ib_edit_engine_encode_level (bench.engine, level, src, n_src, encoded, &error))
            break;
          encoder = MIN (encoder, now () - start);
        }
      for (int m = 0; m < N_MASKS && error == NULL; m++)
        best[m] = MIN (best[m], time_level (&bench, l, x_t, masks[m], x0, n, 1, &error));
      if (error != NULL)
        break;
    }
  if (error != NULL)
    {
      fprintf (stderr, "%s\n", error->message);
      return 1;
    }

  printf ("encoder_seconds %.5f\n", encoder);
  for (int m = 0; m < N_MASKS; m++)
    {
      printf ("%s_mask_tokens %d\n", names[m], n_unknown[m]);
      printf ("%s_mask_seconds %.5f\n", names[m], best[m]);
      if (m == 0)
        continue;
      printf ("%s_mask_ratio %.3f\n", names[m], best[m] / best[0]);
      /* What follows the mask: the level without its encoder pass. */
      printf ("%s_mask_decoder_ratio %.3f\n", names[m], (best[m] - encoder) / (best[0] - encoder));
    }

  if (variants > 1)
    {
      /* The full mask, variants in lockstep (one decoding step per position for all) against one at a time. */
      IbLevelSampling sampling = { .top_k = l->top_k, .temperature = (float) l->temperature };
      g_autofree IbRngStream *streams = g_new (IbRngStream, variants);
      g_autofree int32_t *x_ts = g_new (int32_t, (gsize) variants * n), *x_prev = g_new (int32_t, (gsize) variants * n);
      g_autofree gboolean *known = g_new (gboolean, n);
      for (int i = 0; i < n; i++)
        known[i] = !masks[0][i];
      for (int v = 0; v < variants; v++)
        {
          streams[v] = (IbRngStream) { .seed = 3, .level = (uint32_t) level, .variant = (uint32_t) v };
          memcpy (x_ts + (gsize) v * n, x_t, n * sizeof (int32_t));
        }
      double lockstep = INFINITY, one_by_one = INFINITY;
      for (int round = 0; round < MAX (repeats, 1) && error == NULL; round++)
        {
          double start = now ();
          if (!sample (&bench, x_ts, variants, n, &sampling, streams, known, x0, x_prev, &error))
            break;
          lockstep = MIN (lockstep, now () - start);
          start = now ();
          for (int v = 0; v < variants && error == NULL; v++)
            sample (&bench, x_ts + (gsize) v * n, 1, n, &sampling, &streams[v], known, x0, x_prev + (gsize) v * n,
                    &error);
          one_by_one = MIN (one_by_one, now () - start);
        }
      if (error != NULL)
        {
          fprintf (stderr, "%s\n", error->message);
          return 1;
        }
      printf ("variants %d\n", variants);
      printf ("variants_lockstep_seconds %.5f\n", lockstep);
      printf ("variants_one_by_one_seconds %.5f\n", one_by_one);
      printf ("variants_speedup %.2f\n", one_by_one / lockstep);
    }
  for (int m = 0; m < N_MASKS; m++)
    g_free (masks[m]);
  return 0;
}
