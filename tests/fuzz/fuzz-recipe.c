/* fuzz-recipe.c: libFuzzer harness for the edit recipe parser (ib_edit_recipe_parse), the JSON a result's
 * PNG carries. Whatever it accepts must survive a round trip: built again and parsed again, with the same
 * values. */
#include <glib.h>
#include <stdint.h>
#include <string.h>

#include "fuzz-common.h"
#include "ib-edit-recipe.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  const IbModelConfig *config = fuzz_test_config ();
  IbEditRequest request, again;
  IbEditRecipeHashes hashes, hashes_again;
  g_autoptr (GError) error = NULL;

  ib_edit_request_init (&request, config);
  if (!ib_edit_recipe_parse ((const char *) data, (gssize) size, config, &request.conditioning,
                             &request.settings, &hashes, &error))
    {
      g_assert (error != NULL && error->message != NULL);
      return 0;
    }
  g_autofree char *rebuilt = ib_edit_recipe_build (config, &hashes, &request.conditioning, &request.settings);
  ib_edit_request_init (&again, config);
  if (!ib_edit_recipe_parse (rebuilt, -1, config, &again.conditioning, &again.settings, &hashes_again, &error))
    g_error ("a recipe the parser accepted does not parse again once rebuilt: %s\n%s", error->message, rebuilt);
  g_assert (again.settings.seed == request.settings.seed);
  g_assert (again.settings.start_level == request.settings.start_level);
  g_assert (again.settings.n_variants == request.settings.n_variants);
  g_assert (again.conditioning.kind == request.conditioning.kind);
  g_assert (again.conditioning.n_text_tokens == request.conditioning.n_text_tokens);
  g_assert (hashes_again.width == hashes.width && hashes_again.height == hashes.height);
  g_assert (g_strcmp0 (hashes_again.model_sha256, hashes.model_sha256) == 0);
  ib_edit_recipe_hashes_clear (&hashes);
  ib_edit_recipe_hashes_clear (&hashes_again);
  return 0;
}
