/* test-edit-engine.c: the edit engine on the Vulkan engine (lavapipe, validation layer on) gives what it gives
 * on the CPU engine: the same tokens from encode and from each level's sampling, close pixels from decode. */
#include <glib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ib-edit-engine.h"
#include "ib-error.h"
#include "ib-model-file.h"
#include "ib-test-model.h"

static IbModelFile *
small_model (gboolean gpt_top)
{
  IbTestModelSpec spec;
  g_autoptr (GError) error = NULL;

  ib_test_model_spec_init (&spec);
  spec.n_levels = 3;
  spec.variant = IB_VARIANT_RESIDUAL_SCALED;
  spec.gpt_top = gpt_top;
  spec.n_unmasked = gpt_top ? 1 : 0;
  spec.seed = 17;
  g_autoptr (GBytes) bytes = ib_test_model_build (&spec);
  IbModelFile *file = ib_model_file_new_from_bytes (bytes, "test-edit-engine", &error);
  g_assert_no_error (error);
  return file;
}

/* The Vulkan engine with the validation layer, or a skip where this machine has no Vulkan device at all. */
static IbEditEngine *
vulkan_engine (IbModelFile *file)
{
  IbVkDeviceOptions options = { .validation = TRUE, .no_disk_cache = TRUE };
  g_autoptr (GError) error = NULL;

  IbEditEngine *engine = ib_edit_engine_new (file, IB_EDIT_BACKEND_VULKAN, &options, &error);
  if (engine == NULL)
    {
      g_test_skip_printf ("no Vulkan device: %s", error->message);
      return NULL;
    }
  g_assert_cmpint (ib_edit_engine_get_backend (engine), ==, IB_EDIT_BACKEND_VULKAN);
  g_assert_nonnull (ib_edit_engine_get_device_name (engine));
  return engine;
}

static void
assert_no_validation_messages (IbEditEngine *engine)
{
  IbVkDevice *device = ib_edit_engine_get_device (engine);
  for (guint i = 0; i < ib_vk_device_n_messages (device); i++)
    g_printerr ("validation: %s\n", ib_vk_device_get_message (device, i));
  g_assert_cmpuint (ib_vk_device_n_messages (device), ==, 0);
}

static void
test_cpu_backend (void)
{
  g_autoptr (IbModelFile) file = small_model (FALSE);
  g_autoptr (GError) error = NULL;

  g_autoptr (IbEditEngine) engine = ib_edit_engine_new (file, IB_EDIT_BACKEND_CPU, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (ib_edit_engine_get_backend (engine), ==, IB_EDIT_BACKEND_CPU);
  g_assert_null (ib_edit_engine_get_device_name (engine));
  g_assert_null (ib_edit_engine_get_device (engine));
}

static void
test_bad_level (void)
{
  g_autoptr (IbModelFile) file = small_model (FALSE);
  const IbModelConfig *config = ib_model_file_get_config (file);
  int n = config->token_height * config->token_width;
  g_autofree int32_t *x_t = g_new0 (int32_t, n);
  g_autofree int32_t *x_prev = g_new0 (int32_t, n);
  IbLevelSampling sampling = { .top_k = 0, .temperature = 1.0f };
  IbRngStream stream = { .seed = 1, .level = 1 };
  g_autoptr (GError) error = NULL;

  g_autoptr (IbEditEngine) engine = ib_edit_engine_new (file, IB_EDIT_BACKEND_CPU, NULL, &error);
  g_assert_no_error (error);
  g_assert_false (ib_edit_engine_sample_level (engine, config->n_levels + 1, NULL, 0, x_t, 1, n, &sampling, &stream,
                                               NULL, NULL, x_prev, NULL, NULL, NULL, &error));
  g_assert_nonnull (error);
}

static void
test_parity (gconstpointer data)
{
  gboolean gpt_top = GPOINTER_TO_INT (data);
  g_autoptr (IbModelFile) file = small_model (gpt_top);
  const IbModelConfig *config = ib_model_file_get_config (file);
  int n = config->token_height * config->token_width, side = config->resolution;
  gsize plane = (gsize) side * side;
  g_autoptr (GError) error = NULL;

  g_autoptr (IbEditEngine) vk = vulkan_engine (file);
  if (vk == NULL)
    return;
  g_autoptr (IbEditEngine) cpu = ib_edit_engine_new (file, IB_EDIT_BACKEND_CPU, NULL, &error);
  g_assert_no_error (error);

  /* A smooth picture, so that no patch sits near a tie between two codes. */
  g_autofree float *image = g_new (float, 3 * plane);
  for (int c = 0; c < 3; c++)
    for (gsize i = 0; i < plane; i++)
      image[c * plane + i] = 0.8f * sinf (0.3f * (float) (i % side) + 0.2f * (float) (i / side) + (float) c);
  g_autofree int32_t *tokens_cpu = g_new (int32_t, n);
  g_autofree int32_t *tokens_vk = g_new (int32_t, n);
  g_assert_true (ib_edit_engine_encode (cpu, image, tokens_cpu, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (ib_edit_engine_encode (vk, image, tokens_vk, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (tokens_vk, n * sizeof (int32_t), tokens_cpu, n * sizeof (int32_t));

  g_autofree float *decoded_cpu = g_new (float, 3 * plane);
  g_autofree float *decoded_vk = g_new (float, 3 * plane);
  g_assert_true (ib_edit_engine_decode (cpu, tokens_cpu, decoded_cpu, NULL, &error));
  g_assert_true (ib_edit_engine_decode (vk, tokens_cpu, decoded_vk, NULL, &error));
  g_assert_no_error (error);
  double worst = 0.0, scale = 1e-6;
  for (gsize i = 0; i < 3 * plane; i++)
    {
      worst = MAX (worst, fabs ((double) decoded_vk[i] - decoded_cpu[i]));
      scale = MAX (scale, fabs ((double) decoded_cpu[i]));
    }
  g_assert_cmpfloat (worst / scale, <, 1e-3);

  /* Every level, two sequences, every other token known: the same draws on both engines. */
  enum { N_BATCH = 2 };
  g_autofree gboolean *known = g_new (gboolean, n);
  g_autofree int32_t *x_t = g_new (int32_t, N_BATCH * n);
  g_autofree int32_t *got = g_new (int32_t, N_BATCH * n);
  g_autofree int32_t *want = g_new (int32_t, N_BATCH * n);
  for (int i = 0; i < n; i++)
    known[i] = i % 2 == 1;
  for (int i = 0; i < N_BATCH * n; i++)
    x_t[i] = (i * 7 + 3) % config->n_codes;
  for (int t = config->n_levels; t >= 1; t--)
    {
      IbLevelSampling sampling = { .top_k = 5, .temperature = 0.9f };
      IbRngStream streams[N_BATCH];
      for (int b = 0; b < N_BATCH; b++)
        streams[b] = (IbRngStream) { .seed = 42, .level = (uint32_t) t, .variant = (uint32_t) b };
      g_assert_true (ib_edit_engine_sample_level (cpu, t, NULL, 0, x_t, N_BATCH, n, &sampling, streams, known,
                                                  tokens_cpu, want, NULL, NULL, NULL, &error));
      g_assert_no_error (error);
      g_assert_true (ib_edit_engine_sample_level (vk, t, NULL, 0, x_t, N_BATCH, n, &sampling, streams, known,
                                                  tokens_cpu, got, NULL, NULL, NULL, &error));
      g_assert_no_error (error);
      g_assert_cmpmem (got, N_BATCH * n * sizeof (int32_t), want, N_BATCH * n * sizeof (int32_t));
      for (int b = 0; b < N_BATCH; b++)
        for (int i = 0; i < n; i++)
          if (known[i])
            g_assert_cmpint (got[b * n + i], ==, tokens_cpu[i]);
    }
  assert_no_validation_messages (vk);
}

/* A whole edit job on each engine: the same tokens at every level, pixels outside the mask untouched, inside
 * within the rounding of the decoder. */
static void
collect_level_tokens_cb (IbEditJob         *job,
                         const IbEditEvent *event,
                         gpointer           user_data)
{
  GPtrArray *levels = user_data;
  if (event->kind == IB_EDIT_EVENT_LEVEL_FINISHED)
    g_ptr_array_add (levels, g_memdup2 (event->tokens[0], (gsize) event->n_tokens * sizeof (int32_t)));
}

static IbEditResult *
run_job (IbModelFile   *file,
         IbEditBackend  backend,
         GPtrArray     *levels)
{
  enum { W = 37, H = 29 };
  static guint8 image[W * H * 4], mask[W * H];
  IbEditRequest request;
  g_autoptr (GError) error = NULL;

  for (int i = 0; i < W * H * 4; i++)
    image[i] = (guint8) ((i * 37 + (i / (W * 4)) * 11) & 0xff);
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++)
      mask[y * W + x] = (x > 10 && x < 25 && y > 5 && y < 20) ? 255 : 0;
  ib_edit_request_init (&request, ib_model_file_get_config (file));
  request.image = image;
  request.width = W;
  request.height = H;
  request.stride = W * 4;
  request.mask = mask;
  request.mask_width = W;
  request.mask_height = H;
  request.mask_stride = W;
  request.settings.seed = 11;
  request.settings.n_variants = 2;
  request.settings.backend = backend;
  g_autoptr (IbEditJob) job = ib_edit_job_new (file, &request, &error);
  g_assert_no_error (error);
  IbEditResult *result = ib_edit_job_run (job, collect_level_tokens_cb, levels, NULL, &error);
  g_assert_no_error (error);
  for (int v = 0; v < result->n_variants; v++)
    for (int y = 0; y < H; y++)
      for (int x = 0; x < W; x++)
        if (mask[y * W + x] == 0)
          g_assert_cmpmem (result->images[v]->pixels + (gsize) y * result->images[v]->stride + x * 4, 4,
                           image + (gsize) y * W * 4 + x * 4, 4);
  return result;
}

static void
test_job_parity (void)
{
  g_autoptr (IbModelFile) file = small_model (TRUE);
  g_autoptr (GPtrArray) cpu_levels = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) vk_levels = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GError) error = NULL;

  /* Skip where there is no Vulkan device at all, as the other Vulkan tests do. */
  g_autoptr (IbEditEngine) probe = vulkan_engine (file);
  if (probe == NULL)
    return;
  g_clear_pointer (&probe, ib_edit_engine_free);

  g_autoptr (IbEditResult) cpu = run_job (file, IB_EDIT_BACKEND_CPU, cpu_levels);
  g_autoptr (IbEditResult) vk = run_job (file, IB_EDIT_BACKEND_VULKAN, vk_levels);
  g_assert_nonnull (strstr (vk->recipe, "\"backend\":\"vulkan\""));
  g_assert_nonnull (strstr (cpu->recipe, "\"backend\":\"cpu\""));
  g_assert_cmpuint (cpu_levels->len, ==, vk_levels->len);
  g_assert_cmpuint (cpu_levels->len, ==, ib_model_file_get_config (file)->n_levels);
  for (guint i = 0; i < cpu_levels->len; i++)
    g_assert_cmpmem (vk_levels->pdata[i], cpu->n_tokens * sizeof (int32_t), cpu_levels->pdata[i],
                     cpu->n_tokens * sizeof (int32_t));
  int worst = 0;
  for (int v = 0; v < cpu->n_variants; v++)
    {
      g_assert_cmpmem (vk->tokens[v], cpu->n_tokens * sizeof (int32_t), cpu->tokens[v],
                       cpu->n_tokens * sizeof (int32_t));
      const IbEditImage *a = cpu->images[v], *b = vk->images[v];
      for (int y = 0; y < a->height; y++)
        for (int x = 0; x < a->width * 4; x++)
          worst = MAX (worst, abs ((int) a->pixels[(gsize) y * a->stride + x] - b->pixels[(gsize) y * b->stride + x]));
    }
  g_assert_cmpint (worst, <=, 2);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/model/edit-engine/cpu", test_cpu_backend);
  g_test_add_func ("/model/edit-engine/bad-level", test_bad_level);
  g_test_add_data_func ("/model/edit-engine/vulkan-parity", GINT_TO_POINTER (FALSE), test_parity);
  g_test_add_data_func ("/model/edit-engine/vulkan-parity-gpt-top", GINT_TO_POINTER (TRUE), test_parity);
  g_test_add_func ("/model/edit-engine/job-parity", test_job_parity);
  return g_test_run ();
}
