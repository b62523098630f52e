/* fuzz-model-config.c: libFuzzer harness for the model config (the JSON in a model file's metadata) on its
 * own: parsing, validation and the tensor layout it implies. Mutating the config inside a whole model file
 * rarely keeps the container valid, so the config gets a harness of its own. */
#include <glib.h>
#include <stdint.h>

#include "fuzz-common.h"
#include "ib-config.h"
#include "ib-model-file.h"
#include "ib-model-layout.h"

static gboolean
count_tensor_cb (const char    *name,
                 int            n_dims,
                 const int64_t *shape,
                 gpointer       user_data,
                 GError       **error)
{
  guint64 *n_elements = user_data;
  guint64 n = 1;
  g_assert (name != NULL && n_dims >= 1 && n_dims <= 4);
  for (int i = 0; i < n_dims; i++)
    {
      g_assert (shape[i] > 0);
      if (!g_uint64_checked_mul (&n, n, (guint64) shape[i]))
        n = G_MAXUINT64;
    }
  if (!g_uint64_checked_add (n_elements, *n_elements, n))
    *n_elements = G_MAXUINT64;
  return TRUE;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  /* The loader runs the depth guard before the parser; so does the harness (deep nesting is its job). */
  if (!ib_json_depth_is_sane ((const char *) data, size))
    return 0;
  g_autoptr (GError) error = NULL;
  g_autoptr (IbModelConfig) config = ib_model_config_parse ((const char *) data, size, &error);
  if (config == NULL)
    {
      g_assert (error != NULL && error->message != NULL);
      return 0;
    }
  guint64 n_elements = 0;
  g_assert (config->n_levels >= 1 && config->n_levels <= IB_MAX_LEVELS);
  ib_model_layout_foreach (config, count_tensor_cb, &n_elements, NULL);
  for (int t = 1; t <= config->n_levels; t++)
    ib_model_config_alpha (config, t);
  return 0;
}
