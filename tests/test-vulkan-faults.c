/* test-vulkan-faults.c: a lost device and exhausted GPU memory, injected (IMAGEBART_FAULT_VK_SUBMIT,
 * IMAGEBART_FAULT_VK_ALLOC; builds without NDEBUG): the call ends with a clear GError, the device can be torn
 * down with the validation layer quiet, and the CPU engine and a new device still give the right tokens. */
#include <string.h>

#include "ib-ops.h"
#include "ib-sampler.h"
#include "ib-test-model.h"
#include "ib-test-vulkan.h"
#include "ib-vulkan-private.h"
#include "ib-vulkan-transformer.h"

static IbModelFile *
small_model (void)
{
  IbTestModelSpec spec;
  g_autoptr (GError) error = NULL;

  ib_test_model_spec_init (&spec);
  spec.num_res_blocks = 0;
  spec.attn_resolution = 0;
  spec.seed = 23;
  g_autoptr (GBytes) bytes = ib_test_model_build (&spec);
  IbModelFile *file = ib_model_file_new_from_bytes (bytes, "test-vulkan-faults", &error);
  g_assert_no_error (error);
  return file;
}

/* A device of its own (the fault counters are per device), validation on; fault_env=N set while it is made. */
static IbVkDevice *
faulty_device (const char *fault_env,
               guint       n,
               GError    **error)
{
  IbVkDeviceOptions options = { .validation = TRUE, .no_disk_cache = TRUE };
  g_autofree char *value = g_strdup_printf ("%u", n);

  options.selector = g_getenv ("IMAGEBART_TEST_VULKAN_DEVICE");
  if (fault_env != NULL)
    g_setenv (fault_env, value, TRUE);
  IbVkDevice *device = ib_vk_device_new (&options, error);
  if (fault_env != NULL)
    g_unsetenv (fault_env);
  return device;
}

static void
assert_quiet (IbVkDevice *device)
{
  if (ib_vk_device_n_messages (device) > 0)
    g_error ("The validation layer reported: %s", ib_vk_device_get_message (device, 0));
}

/* The chain on a new device and on the CPU engine: both the tokens of a clean run. */
static void
assert_engines_work (IbModelFile   *file,
                     const int32_t *want,
                     int            n)
{
  g_autoptr (GError) error = NULL;
  g_autofree int32_t *got = g_new (int32_t, n);

  g_assert_true (ib_sample_chain (file, 1, got, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (got, n * sizeof (int32_t), want, n * sizeof (int32_t));
  g_autoptr (IbVkDevice) fresh = faulty_device (NULL, 0, &error);
  g_assert_no_error (error);
  memset (got, 0xff, n * sizeof (int32_t));
  g_assert_true (ib_vk_sample_chain (fresh, file, 1, got, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (got, n * sizeof (int32_t), want, n * sizeof (int32_t));
  assert_quiet (fresh);
}

/* A clean run: want is the CPU engine's chain, which a device without faults must give too; how many
 * submissions and allocations that device made. */
static void
clean_run (IbModelFile *file,
           int32_t     *want,
           int          n,
           guint       *submits,
           guint       *allocations)
{
  g_autoptr (GError) error = NULL;
  g_autofree int32_t *got = g_new (int32_t, n);

  g_assert_true (ib_sample_chain (file, 1, want, NULL, &error));
  g_assert_no_error (error);
  g_autoptr (IbVkDevice) clean = faulty_device (NULL, 0, &error);
  g_assert_no_error (error);
  g_assert_true (ib_vk_sample_chain (clean, file, 1, got, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (got, n * sizeof (int32_t), want, n * sizeof (int32_t));
  *submits = clean->n_submits;
  *allocations = clean->n_allocs;
}

static void
test_device_lost (void)
{
#ifdef NDEBUG
  g_test_skip ("fault injection is compiled out (NDEBUG)");
  return;
#endif
  g_autoptr (IbModelFile) file = small_model ();
  const IbModelConfig *config = ib_model_file_get_config (file);
  int n = config->token_height * config->token_width;
  g_autofree int32_t *want = g_new (int32_t, n), *got = g_new (int32_t, n);
  g_autoptr (GError) error = NULL;
  guint submits, allocations;

  clean_run (file, want, n, &submits, &allocations);
  g_assert_cmpuint (submits, >=, 3);

  /* The first submission (a stage's weights), one in the middle, the last (the tokens coming back). */
  guint at[] = { 1, submits / 2, submits };
  for (gsize i = 0; i < G_N_ELEMENTS (at); i++)
    {
      IbVkDevice *device = faulty_device ("IMAGEBART_FAULT_VK_SUBMIT", at[i], &error);
      g_assert_no_error (error);
      g_assert_false (ib_vk_sample_chain (device, file, 1, got, NULL, &error));
      g_assert_error (error, IB_VK_ERROR, IB_VK_ERROR_DEVICE_LOST);
      g_assert_nonnull (strstr (error->message, "stopped responding"));
      g_clear_error (&error);
      /* A lost device stays lost: the next job fails at once, the same way. */
      g_assert_false (ib_vk_sample_chain (device, file, 1, got, NULL, &error));
      g_assert_error (error, IB_VK_ERROR, IB_VK_ERROR_DEVICE_LOST);
      g_clear_error (&error);
      assert_quiet (device);
      ib_vk_device_free (device);
      assert_engines_work (file, want, n);
    }
}

static void
test_out_of_memory (void)
{
#ifdef NDEBUG
  g_test_skip ("fault injection is compiled out (NDEBUG)");
  return;
#endif
  g_autoptr (IbModelFile) file = small_model ();
  const IbModelConfig *config = ib_model_file_get_config (file);
  int n = config->token_height * config->token_width;
  g_autofree int32_t *want = g_new (int32_t, n), *got = g_new (int32_t, n);
  g_autoptr (GError) error = NULL;
  guint submits, allocations;

  clean_run (file, want, n, &submits, &allocations);
  g_assert_cmpuint (allocations, >=, 4);

  /* The first two allocations are the device's own (staging, the attention's scratch): no device. */
  for (guint at = 1; at <= 2; at++)
    {
      g_assert_null (faulty_device ("IMAGEBART_FAULT_VK_ALLOC", at, &error));
      g_assert_error (error, IB_VK_ERROR, IB_VK_ERROR_OUT_OF_MEMORY);
      g_clear_error (&error);
    }

  /* Later ones (weights, a decoder's memory): the job fails, and the same device runs the next one. */
  for (guint at = 3; at <= MIN (allocations, 7u); at++)
    {
      g_autoptr (IbVkDevice) device = faulty_device ("IMAGEBART_FAULT_VK_ALLOC", at, &error);
      g_assert_no_error (error);
      g_assert_false (ib_vk_sample_chain (device, file, 1, got, NULL, &error));
      g_assert_error (error, IB_VK_ERROR, IB_VK_ERROR_OUT_OF_MEMORY);
      g_assert_nonnull (strstr (error->message, "ran out of memory"));
      g_assert_nonnull (strstr (error->message, "CPU engine"));
      g_clear_error (&error);
      memset (got, 0xff, n * sizeof (int32_t));
      g_assert_true (ib_vk_sample_chain (device, file, 1, got, NULL, &error));
      g_assert_no_error (error);
      g_assert_cmpmem (got, n * sizeof (int32_t), want, n * sizeof (int32_t));
      assert_quiet (device);
    }
  assert_engines_work (file, want, n);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  ib_set_num_threads (2);
  /* Skips the program when there is no Vulkan device at all. */
  ib_test_vulkan_device ();
  g_test_add_func ("/vulkan/faults/device-lost", test_device_lost);
  g_test_add_func ("/vulkan/faults/out-of-memory", test_out_of_memory);

  int status = g_test_run ();
  ib_test_vulkan_finish ();
  return status;
}
