/* benchmark-level: one full level of a model on the CPU engine (encoder pass, then a decoding step per
 * token with sampling), and this machine's measured sgemm peak and memory read bandwidth, printed as
 * "key value" lines for tools/benchmark; with --backend vulkan the same level on the Vulkan engine
 * (benchmark-level-vulkan.c). A benchmark, not a test: nothing here asserts a speed. */
#include <glib.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchmark-level.h"
#include "ib-model-file.h"
#include "ib-ops.h"
#include "ib-rng.h"
#include "ib-sampler.h"
#include "ib-transformer.h"

double
bench_now (void)
{
  return g_get_monotonic_time () / 1e6;
}

/* Best of a few 2048^3 products: the peak the matrix kernels reach on this machine. */
static double
measure_sgemm_gflops (void)
{
  const int n = 2048;
  g_autofree float *a = g_new (float, (gsize) n * n), *b = g_new (float, (gsize) n * n);
  g_autofree float *c = g_new (float, (gsize) n * n);
  for (gsize i = 0; i < (gsize) n * n; i++)
    {
      a[i] = (float) (i % 13) * 0.01f;
      b[i] = (float) (i % 7) * 0.02f;
    }
  double best = INFINITY;
  for (int round = 0; round < 4; round++)
    {
      double start = bench_now ();
      ib_sgemm (false, false, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
      best = MIN (best, bench_now () - start);
    }
  return 2.0 * n * (double) n * n / best / 1e9;
}

/* Best of a few parallel sums over 1 GiB: how fast weights can stream from memory. The sum is a
 * vectorizable reduction (omp simd) so that the adds keep up with the loads. */
static double
measure_read_gbs (void)
{
  const gsize n = (gsize) 1 << 28;
  g_autofree float *data = g_new (float, n);
#pragma omp parallel for schedule(static) num_threads(ib_get_num_threads ())
  for (gsize i = 0; i < n; i++)
    data[i] = (float) (i & 255);
  double best = INFINITY, sink = 0;
  for (int round = 0; round < 5; round++)
    {
      double start = bench_now ();
      float sum = 0;
#pragma omp parallel for simd schedule(static) reduction(+:sum) num_threads(ib_get_num_threads ())
      for (gsize i = 0; i < n; i++)
        sum += data[i];
      best = MIN (best, bench_now () - start);
      sink += sum;
    }
  if (sink == 42.0)
    printf ("#\n");
  return n * sizeof (float) / best / 1e9;
}

static double
tensor_bytes (IbModelFile *file,
              const char  *name)
{
  const IbTensor *t = ib_model_file_lookup (file, name);
  g_assert (t != NULL);
  return (double) t->n_elements * ib_dtype_size (t->dtype);
}

/* Weight bytes one decoding step reads: everything in the decoder but the cross-attention keys and values
 * (computed once from the encoder output) and the embedding tables (one row each). */
double
bench_decoder_step_bytes (IbModelFile         *file,
                          const IbLevelConfig *l)
{
  static const char *const attention[] = { "0.weight", "0.bias", "1.to_q.weight", "1.to_k.weight",
                                            "1.to_v.weight", "1.to_out.weight", "1.to_out.bias" };
  static const char *const cross[] = { "0.weight", "0.bias", "1.to_q.weight", "1.to_out.weight",
                                       "1.to_out.bias" };
  static const char *const feed_forward[] = { "0.weight", "0.bias", "1.net.0.0.weight", "1.net.0.0.bias",
                                              "1.net.2.weight", "1.net.2.bias" };
  double bytes = 0;
  for (int layer = 0; layer < l->dec_depth; layer++)
    {
      for (gsize i = 0; i < G_N_ELEMENTS (attention); i++)
        {
          g_autofree char *name = g_strdup_printf ("%stransformer.decoder.attn_layers.layers.%d.%s", l->prefix,
                                                   3 * layer, attention[i]);
          bytes += tensor_bytes (file, name);
        }
      for (gsize i = 0; i < G_N_ELEMENTS (cross); i++)
        {
          g_autofree char *name = g_strdup_printf ("%stransformer.decoder.attn_layers.layers.%d.%s", l->prefix,
                                                   3 * layer + 1, cross[i]);
          bytes += tensor_bytes (file, name);
        }
      for (gsize i = 0; i < G_N_ELEMENTS (feed_forward); i++)
        {
          g_autofree char *name = g_strdup_printf ("%stransformer.decoder.attn_layers.layers.%d.%s", l->prefix,
                                                   3 * layer + 2, feed_forward[i]);
          bytes += tensor_bytes (file, name);
        }
    }
  g_autofree char *logits = g_strdup_printf ("%stransformer.decoder.to_logits.weight", l->prefix);
  return bytes + tensor_bytes (file, logits);
}

/* Multiply-adds x 2 of the encoder over n tokens: projections, feed-forward and attention. */
double
bench_encoder_flops (const IbLevelConfig *l,
                     int                  n)
{
  double inner = (double) l->enc_heads * l->dim_head;
  double per_layer = 2.0 * n * l->dim * inner * 4       /* q, k, v, out */
                   + 2.0 * n * l->dim * 4.0 * l->dim * 2 /* feed-forward */
                   + 2.0 * 2.0 * n * (double) n * inner; /* scores and weighted sum */
  return per_layer * l->enc_depth;
}

int
main (int    argc,
      char **argv)
{
  int level = 1, steps = -1, repeats = 3, threads = 0;
  gboolean skip_machine = FALSE;
  g_autofree char *backend = NULL, *device = NULL;
  GOptionEntry entries[] = {
    { "level", 0, 0, G_OPTION_ARG_INT, &level, "Level to run (default 1)", "T" },
    { "steps", 0, 0, G_OPTION_ARG_INT, &steps, "Decoding steps (default: the whole token grid)", "N" },
    { "repeats", 0, 0, G_OPTION_ARG_INT, &repeats, "Encoder passes to time, the best counts (default 3)", "R" },
    { "threads", 0, 0, G_OPTION_ARG_INT, &threads, "Threads (default: all cores)", "N" },
    { "skip-machine", 0, 0, G_OPTION_ARG_NONE, &skip_machine, "Do not measure sgemm peak and bandwidth", NULL },
    { "backend", 0, 0, G_OPTION_ARG_STRING, &backend, "cpu (default) or vulkan", "NAME" },
    { "device", 0, 0, G_OPTION_ARG_STRING, &device, "Vulkan device: index or part of its name", "DEVICE" },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("MODEL - time one level on the CPU or Vulkan engine");
  g_autoptr (GError) error = NULL;
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error) || argc != 2)
    {
      fprintf (stderr, "%s\n", error ? error->message : "usage: benchmark-level [OPTIONS] MODEL");
      return 2;
    }
  gboolean vulkan = backend != NULL && g_strcmp0 (backend, "vulkan") == 0;
  if (backend != NULL && !vulkan && g_strcmp0 (backend, "cpu") != 0)
    {
      fprintf (stderr, "--backend is cpu or vulkan, not %s\n", backend);
      return 2;
    }
  ib_set_num_threads (threads);
  printf ("threads %d\n", ib_get_num_threads ());
  if (vulkan)
    {
      g_autoptr (IbModelFile) file = ib_model_file_open (argv[1], &error);
      if (file == NULL)
        {
          fprintf (stderr, "%s\n", error->message);
          return 1;
        }
      printf ("backend vulkan\n");
      return bench_vulkan_level (file, level, device, steps, repeats);
    }
  if (!skip_machine)
    {
      printf ("sgemm_peak_gflops %.1f\n", measure_sgemm_gflops ());
      printf ("memory_read_gbs %.2f\n", measure_read_gbs ());
    }

  g_autoptr (IbModelFile) file = ib_model_file_open (argv[1], &error);
  g_autoptr (IbStage) stage = file ? ib_stage_new (file, level, &error) : NULL;
  if (stage == NULL)
    {
      fprintf (stderr, "%s\n", error->message);
      return 1;
    }
  const IbModelConfig *config = ib_model_file_get_config (file);
  const IbLevelConfig *l = ib_stage_get_config (stage);
  int n_tokens = config->token_height * config->token_width;
  int n_src = 1 + n_tokens;
  if (steps < 0 || steps > n_tokens)
    steps = n_tokens;

  IbRngStream stream = { .seed = 1, .level = (uint32_t) level };
  g_autofree int32_t *src = g_new (int32_t, n_src);
  src[0] = level;
  for (int i = 0; i < n_tokens; i++)
    src[1 + i] = (int32_t) ib_rng_below (&stream, (uint32_t) i, 7, (uint32_t) config->n_codes);
  g_autofree float *context_out = g_new (float, (gsize) n_src * l->dim);

  double encoder_best = INFINITY;
  for (int round = 0; round < MAX (repeats, 1); round++)
    {
      double start = bench_now ();
      if (!ib_stage_encode (stage, src, n_src, context_out, &error))
        {
          fprintf (stderr, "%s\n", error->message);
          return 1;
        }
      encoder_best = MIN (encoder_best, bench_now () - start);
    }
  /* The peak again after the run: on a shared machine the better of two measurements is the nearer one. */
  if (!skip_machine)
    printf ("sgemm_peak_gflops %.1f\n", measure_sgemm_gflops ());
  printf ("encoder_seconds %.4f\n", encoder_best);
  printf ("encoder_gflops %.1f\n", bench_encoder_flops (l, n_src) / encoder_best / 1e9);

  /* The decoding loop as the sampler runs it: one step per token, top-k and a draw after each. */
  g_autofree float *logits = g_new (float, l->dec_num_tokens), *scratch = g_new (float, l->dec_num_tokens);
  double start = bench_now ();
  g_autoptr (IbDecoder) decoder = ib_decoder_new (stage, src, n_src, context_out, &error);
  double setup = bench_now () - start;
  int32_t token = 0;
  for (int i = 0; i < steps && decoder != NULL; i++)
    {
      if (!ib_decoder_feed (decoder, &token, 1, logits, &error))
        break;
      token = ib_sample_token (logits, l->dec_num_tokens, l->top_k, (float) l->temperature,
                               ib_rng_uniform (&stream, (uint32_t) i, 0), scratch);
    }
  if (error != NULL)
    {
      fprintf (stderr, "%s\n", error->message);
      return 1;
    }
  double decode = bench_now () - start;
  printf ("decoder_setup_seconds %.4f\n", setup);
  printf ("decode_seconds %.4f\n", decode);
  printf ("decode_steps %d\n", steps);
  printf ("decode_step_ms %.3f\n", (decode - setup) / steps * 1e3);
  printf ("decode_step_weight_mb %.1f\n", bench_decoder_step_bytes (file, l) / 1e6);
  printf ("decode_gbs %.2f\n", bench_decoder_step_bytes (file, l) / ((decode - setup) / steps) / 1e9);
  printf ("level_seconds %.4f\n", encoder_best + decode);
  return 0;
}
