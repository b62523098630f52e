/* benchmark-level-vulkan.c: benchmark-level's workload on the Vulkan engine: the encoder pass, the level decoded
 * on the device as the editor runs it (ib_vk_sample_level: no host round trip per token), the same steps with a
 * round trip per token (logits back, drawn on the host, as the CPU benchmark does), then the level once more
 * with GPU timestamps around every dispatch, printed per kernel. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "benchmark-level.h"
#include "ib-rng.h"
#include "ib-sampler.h"
#include "ib-vulkan-device.h"
#include "ib-vulkan-transformer.h"

/* The level with the first `steps` positions free and the rest forced (steps == n_tokens: a whole level). */
static gboolean
run_level (IbVkStage      *stage,
           const int32_t  *x_t,
           int             n_tokens,
           int             steps,
           int32_t        *x_prev,
           GError        **error)
{
  const IbLevelConfig *l = ib_vk_stage_get_config (stage);
  IbRngStream stream = { .seed = 1, .level = (uint32_t) l->t };
  g_autofree gboolean *known = NULL;

  if (steps < n_tokens)
    {
      known = g_new0 (gboolean, n_tokens);
      for (int i = steps; i < n_tokens; i++)
        known[i] = TRUE;
    }
  return ib_vk_sample_level (stage, NULL, 0, x_t, n_tokens, l->top_k, (float) l->temperature, &stream, known, x_t, 0,
                             x_prev, NULL, error);
}

/* Steps with the logits brought back to the host and drawn there, one token at a time. */
static double
time_round_trips (IbVkStage     *stage,
                  const int32_t *src,
                  int            n_src,
                  int            steps,
                  GError       **error)
{
  const IbLevelConfig *l = ib_vk_stage_get_config (stage);
  IbRngStream stream = { .seed = 1, .level = (uint32_t) l->t };
  g_autofree float *logits = g_new (float, l->dec_num_tokens), *scratch = g_new (float, l->dec_num_tokens);
  g_autoptr (IbVkDecoder) decoder = ib_vk_decoder_new (stage, src, n_src, error);
  int32_t token = 0;

  if (decoder == NULL)
    return -1.0;
  double start = bench_now ();
  for (int i = 0; i < steps; i++)
    {
      if (!ib_vk_decoder_feed (decoder, &token, 1, logits, error))
        return -1.0;
      token = ib_sample_token (logits, l->dec_num_tokens, l->top_k, (float) l->temperature,
                               ib_rng_uniform (&stream, (uint32_t) i, 0), scratch);
    }
  return (bench_now () - start) / steps;
}

/* Lines "PREFIXkernel ..." per kernel, then the totals. */
static void
print_profile (IbVkDevice *device,
               const char *prefix,
               double      wall_seconds)
{
  g_autoptr (GArray) kernels = ib_vk_device_get_profile (device);
  double total = 0.0, matmul_flops = 0.0, matmul_seconds = 0.0, matvec_bytes = 0.0, matvec_seconds = 0.0;

  for (guint i = 0; i < kernels->len; i++)
    {
      const IbVkKernelTime *k = &g_array_index (kernels, IbVkKernelTime, i);
      total += k->seconds;
      if (g_str_has_prefix (k->kernel, "matmul_"))
        {
          matmul_flops += k->flops;
          matmul_seconds += k->seconds;
        }
      if (g_str_has_prefix (k->kernel, "matvec_"))
        {
          matvec_bytes += k->weight_bytes;
          matvec_seconds += k->seconds;
        }
      /* kernel NAME DISPATCHES SECONDS GFLOP/s GB/s-of-weights (0: not counted) */
      printf ("%skernel %s %" G_GUINT64_FORMAT " %.6f %.2f %.2f\n", prefix, k->kernel, k->dispatches, k->seconds,
              k->seconds > 0 ? k->flops / k->seconds / 1e9 : 0.0,
              k->seconds > 0 ? k->weight_bytes / k->seconds / 1e9 : 0.0);
    }
  printf ("%sprofiled_level_seconds %.4f\n", prefix, wall_seconds);
  printf ("%sprofiled_kernel_seconds %.4f\n", prefix, total);
  if (matmul_seconds > 0)
    printf ("%smatmul_gflops %.2f\n", prefix, matmul_flops / matmul_seconds / 1e9);
  if (matvec_seconds > 0)
    printf ("%smatvec_gbs %.2f\n", prefix, matvec_bytes / matvec_seconds / 1e9);
}

int
bench_vulkan_level (IbModelFile *file,
                    int          level,
                    const char  *selector,
                    int          steps,
                    int          repeats)
{
  g_autoptr (GError) error = NULL;
  IbVkDeviceOptions options = { .selector = selector };
  g_autoptr (IbVkDevice) device = ib_vk_device_new (&options, &error);
  if (device == NULL)
    {
      fprintf (stderr, "%s\n", error->message);
      return 1;
    }
  printf ("device_name %s (%s)\n", ib_vk_device_get_name (device),
          ib_vk_device_kind_name (ib_vk_device_get_kind (device)));

  double start = bench_now ();
  g_autoptr (IbVkStage) stage = ib_vk_stage_new (device, file, level, &error);
  if (stage == NULL)
    {
      fprintf (stderr, "%s\n", error->message);
      return 1;
    }
  printf ("upload_seconds %.4f\n", bench_now () - start);
  printf ("weights_mb %.1f\n", ib_vk_stage_get_weight_bytes (stage) / 1e6);

  const IbModelConfig *config = ib_model_file_get_config (file);
  const IbLevelConfig *l = ib_vk_stage_get_config (stage);
  int n_tokens = config->token_height * config->token_width, n_src = 1 + n_tokens;
  if (steps < 0 || steps > n_tokens)
    steps = n_tokens;
  /* The CPU benchmark's input: src = [level, x_t] with the same x_t. */
  IbRngStream stream = { .seed = 1, .level = (uint32_t) level };
  g_autofree int32_t *src = g_new (int32_t, n_src), *x_prev = g_new (int32_t, n_tokens);
  src[0] = level;
  for (int i = 0; i < n_tokens; i++)
    src[1 + i] = (int32_t) ib_rng_below (&stream, (uint32_t) i, 7, (uint32_t) config->n_codes);
  const int32_t *x_t = src + 1;
  g_autofree float *context = g_new (float, (gsize) n_src * l->dim);

  /* Warm-up: every pipeline is made (or read from the pipeline cache) before anything is timed. */
  if (!run_level (stage, x_t, n_tokens, MIN (steps, 2), x_prev, &error) ||
      !ib_vk_stage_encode (stage, src, n_src, context, &error))
    {
      fprintf (stderr, "%s\n", error->message);
      return 1;
    }

  double encoder_best = INFINITY, level_best = INFINITY;
  for (int round = 0; round < MAX (repeats, 1); round++)
    {
      start = bench_now ();
      if (!ib_vk_stage_encode (stage, src, n_src, context, &error))
        break;
      encoder_best = MIN (encoder_best, bench_now () - start);
    }
  /* A whole level takes long on a CPU implementation: fewer rounds there. */
  int level_rounds = ib_vk_device_get_kind (device) == IB_VK_DEVICE_CPU ? 1 : MAX (MIN (repeats, 3), 1);
  for (int round = 0; round < level_rounds && error == NULL; round++)
    {
      start = bench_now ();
      if (!run_level (stage, x_t, n_tokens, steps, x_prev, &error))
        break;
      level_best = MIN (level_best, bench_now () - start);
    }
  double round_trip = error == NULL ? time_round_trips (stage, src, n_src, MIN (steps, 32), &error) : -1.0;
  if (error != NULL)
    {
      fprintf (stderr, "%s\n", error->message);
      return 1;
    }
  double step = (level_best - encoder_best) / steps, bytes = bench_decoder_step_bytes (file, l);
  printf ("encoder_seconds %.4f\n", encoder_best);
  printf ("encoder_gflops %.1f\n", bench_encoder_flops (l, n_src) / encoder_best / 1e9);
  printf ("level_seconds %.4f\n", level_best);
  printf ("decode_steps %d\n", steps);
  printf ("decode_step_ms %.3f\n", step * 1e3);
  printf ("decode_step_weight_mb %.1f\n", bytes / 1e6);
  printf ("decode_gbs %.2f\n", bytes / step / 1e9);
  printf ("round_trip_step_ms %.3f\n", round_trip * 1e3);

  if (!ib_vk_device_set_profiling (device, TRUE, &error))
    {
      printf ("profile_unavailable 1\n");
      fprintf (stderr, "%s\n", error->message);
      return 0;
    }
  /* The encoder pass alone first (its kernels are also the level's first), then the whole level afresh. */
  start = bench_now ();
  if (!ib_vk_stage_encode (stage, src, n_src, context, &error))
    {
      fprintf (stderr, "%s\n", error->message);
      return 1;
    }
  print_profile (device, "encoder_", bench_now () - start);
  start = bench_now ();
  if (!ib_vk_device_set_profiling (device, TRUE, &error) || !run_level (stage, x_t, n_tokens, steps, x_prev, &error))
    {
      fprintf (stderr, "%s\n", error->message);
      return 1;
    }
  print_profile (device, "", bench_now () - start);
  return ib_vk_device_set_profiling (device, FALSE, NULL) ? 0 : 1;
}
