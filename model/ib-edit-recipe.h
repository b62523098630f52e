/* ib-edit-recipe.h: the recipe of an edit, everything needed to make the same pixels again, as JSON:
 *
 *   {"format": "imagebart-studio-recipe", "format_version": 1,
 *    "model": {"sha256": "...", "name": "..."},
 *    "image": {"sha256": "...", "width": W, "height": H}, "mask": {"sha256": "..."},
 *    "conditioning": {"kind": "none"} | {"kind": "class", "class": C} | {"kind": "text", "tokens": [...]},
 *    "seed": "S" (a string: 64-bit seeds do not fit a JSON number), "start_level": L, "variants": N,
 *    "feather": R, "match_colours": true, "backend": "cpu", "guidance": G (optional, default 1),
 *    "levels": [{"t": 1, "temperature": 1.0, "top_k": 100, "repeats": 1}, ...]}
 *
 * Image and mask hashes are of the pixels (ib_edit_hash_pixels), not of a file's bytes. */
#pragma once

#include <glib.h>

#include "ib-config.h"
#include "ib-edit-job.h"

G_BEGIN_DECLS

#define IB_EDIT_RECIPE_FORMAT "imagebart-studio-recipe"
/* The PNG text chunk key the tools store a recipe under. */
#define IB_EDIT_RECIPE_PNG_KEY "imagebart-recipe"

typedef struct
{
  char *model_sha256;
  char *model_name;
  char *image_sha256;
  char *mask_sha256;
  int width;
  int height;
} IbEditRecipeHashes;

void      ib_edit_recipe_hashes_clear (IbEditRecipeHashes      *hashes);

char     *ib_edit_recipe_build        (const IbModelConfig     *config,
                                       const IbEditRecipeHashes *hashes,
                                       const IbEditConditioning *conditioning,
                                       const IbEditSettings    *settings);

/* Reads a recipe into conditioning and settings (for the model config: its levels must match) and the
 * hashes it names. Nothing is trusted: a malformed or incomplete recipe is an IB_ERROR_INVALID. Values are
 * range-checked again by ib_edit_job_new. */
gboolean  ib_edit_recipe_parse        (const char              *json,
                                       gssize                   length,
                                       const IbModelConfig     *config,
                                       IbEditConditioning      *conditioning,
                                       IbEditSettings          *settings,
                                       IbEditRecipeHashes      *hashes,
                                       GError                 **error);

G_END_DECLS
