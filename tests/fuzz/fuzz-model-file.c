/* fuzz-model-file.c: libFuzzer harness for the model-file loader from bytes: the safetensors header, the JSON
 * metadata, the config validation and the tensor table. A file the loader accepts is bound by the VQGAN and
 * every level, as opening a model in the editor does, so that binding never trusts more than the loader
 * checked. */
#include <glib.h>
#include <stdint.h>

#include "fuzz-common.h"
#include "ib-model-file.h"
#include "ib-transformer.h"
#include "ib-vqgan.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  /* Not copied: libFuzzer's buffer is already a fresh heap block of exactly the input (its base aligned as
   * malloc aligns, so that the tensors' alignment follows the header length as in a mapped file), and a
   * second copy of a 300 KB input was a third of each run's time. Everything below is freed before return. */
  g_autoptr (GBytes) bytes = g_bytes_new_static (data, size);
  g_autoptr (GError) error = NULL;
  g_autoptr (IbModelFile) file = ib_model_file_new_from_bytes (bytes, "fuzzed model", &error);

  if (file == NULL)
    {
      g_assert (error != NULL && error->message != NULL);
      return 0;
    }
  const IbModelConfig *config = ib_model_file_get_config (file);
  for (guint i = 0; i < ib_model_file_n_tensors (file); i++)
    g_assert (ib_model_file_lookup (file, ib_model_file_nth_tensor (file, i)->name) != NULL);

  g_autoptr (IbVqgan) vqgan = ib_vqgan_new (file, NULL);
  for (int t = 1; t <= config->n_levels; t++)
    {
      IbStage *stage = ib_stage_new (file, t, NULL);
      g_clear_pointer (&stage, ib_stage_free);
    }
  return 0;
}
