/* fuzz-common.c: the config and model the harnesses fuzz against (see fuzz-common.h). */
#include "fuzz-common.h"

#include <string.h>

#include "ib-test-model.h"
#include "ib-transformer.h"
#include "ib-vqgan.h"

IbModelConfig *
fuzz_test_config (void)
{
  static IbModelConfig *config;
  if (config == NULL)
    {
      IbTestModelSpec spec;
      ib_test_model_spec_init (&spec);
      g_autofree char *json = ib_test_model_config_json (&spec);
      config = ib_model_config_parse (json, strlen (json), NULL);
      g_assert (config != NULL);
    }
  return config;
}

IbModelFile *
fuzz_test_model (void)
{
  static IbModelFile *file;
  if (file == NULL)
    {
      IbTestModelSpec spec;
      ib_test_model_spec_init (&spec);
      spec.gpt_top = TRUE;
      g_autoptr (GBytes) bytes = ib_test_model_build (&spec);
      file = ib_model_file_new_from_bytes (bytes, "fuzz model", NULL);
      g_assert (file != NULL);
    }
  return file;
}

void
fuzz_check_loaded_model (IbModelFile *file)
{
  const IbModelConfig *config = ib_model_file_get_config (file);
  for (guint i = 0; i < ib_model_file_n_tensors (file); i++)
    g_assert (ib_model_file_lookup (file, ib_model_file_nth_tensor (file, i)->name) != NULL);

  g_autoptr (IbVqgan) vqgan = ib_vqgan_new (file, NULL);
  for (int t = 1; t <= config->n_levels; t++)
    {
      IbStage *stage = ib_stage_new (file, t, NULL);
      g_clear_pointer (&stage, ib_stage_free);
    }
}

void
fuzz_write_seed (const char *outdir,
                 const char *harness,
                 const char *name,
                 const void *data,
                 gsize       size)
{
  g_autofree char *folder = g_build_filename (outdir, harness, NULL);
  g_autofree char *path = g_build_filename (folder, name, NULL);
  g_autoptr (GError) error = NULL;

  g_mkdir_with_parents (folder, 0755);
  if (!g_file_set_contents (path, data, (gssize) size, &error))
    g_error ("%s", error->message);
}
