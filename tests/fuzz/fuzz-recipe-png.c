/* fuzz-recipe-png.c: libFuzzer harness for the path `imagebart inpaint --recipe OLD.png` takes: a PNG read by
 * GdkPixbuf, its IB_EDIT_RECIPE_PNG_KEY text chunk, the recipe parser. GdkPixbuf and libpng are not
 * instrumented for coverage, but ASan still sees what they hand over (the text chunk, the pixel sizes). */
#include <gdk-pixbuf/gdk-pixbuf.h>
#include <stdint.h>
#include <string.h>

#include "fuzz-common.h"
#include "ib-edit-recipe.h"

static void
size_prepared_cb (GdkPixbufLoader *loader,
                  int              width,
                  int              height,
                  gpointer         user_data)
{
  /* The fuzzer's memory limit is not the subject here: refuse what the editor refuses by size. */
  if (width > 4096 || height > 4096)
    gdk_pixbuf_loader_set_size (loader, 1, 1);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autoptr (GdkPixbufLoader) loader = gdk_pixbuf_loader_new_with_type ("png", NULL);
  g_assert (loader != NULL);
  g_signal_connect (loader, "size-prepared", G_CALLBACK (size_prepared_cb), NULL);
  gboolean loaded = gdk_pixbuf_loader_write (loader, data, size, NULL);
  loaded = gdk_pixbuf_loader_close (loader, NULL) && loaded;
  GdkPixbuf *picture = gdk_pixbuf_loader_get_pixbuf (loader);
  if (!loaded || picture == NULL)
    return 0;

  const char *recipe = gdk_pixbuf_get_option (picture, "tEXt::" IB_EDIT_RECIPE_PNG_KEY);
  if (recipe == NULL)
    return 0;
  const IbModelConfig *config = fuzz_test_config ();
  IbEditRequest request;
  IbEditRecipeHashes hashes;
  g_autoptr (GError) error = NULL;
  ib_edit_request_init (&request, config);
  if (ib_edit_recipe_parse (recipe, -1, config, &request.conditioning, &request.settings, &hashes, &error))
    ib_edit_recipe_hashes_clear (&hashes);
  else
    g_assert (error != NULL);
  return 0;
}
