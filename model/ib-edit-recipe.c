/* ib-edit-recipe.c: writing and reading an edit's recipe (see ib-edit-recipe.h). */
#include "ib-edit-recipe.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "ib-error.h"
#include "ib-model-file.h"

#define MAX_RECIPE_BYTES (1 << 20)

void
ib_edit_recipe_hashes_clear (IbEditRecipeHashes *hashes)
{
  g_clear_pointer (&hashes->model_sha256, g_free);
  g_clear_pointer (&hashes->model_name, g_free);
  g_clear_pointer (&hashes->image_sha256, g_free);
  g_clear_pointer (&hashes->mask_sha256, g_free);
}

char *
ib_edit_recipe_build (const IbModelConfig      *config,
                      const IbEditRecipeHashes *hashes,
                      const IbEditConditioning *conditioning,
                      const IbEditSettings     *settings)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  g_autofree char *seed = g_strdup_printf ("%" G_GUINT64_FORMAT, settings->seed);

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "format");
  json_builder_add_string_value (builder, IB_EDIT_RECIPE_FORMAT);
  json_builder_set_member_name (builder, "format_version");
  json_builder_add_int_value (builder, 1);

  json_builder_set_member_name (builder, "model");
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "sha256");
  json_builder_add_string_value (builder, hashes->model_sha256);
  json_builder_set_member_name (builder, "name");
  json_builder_add_string_value (builder, config->name ? config->name : "");
  json_builder_end_object (builder);

  json_builder_set_member_name (builder, "image");
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "sha256");
  json_builder_add_string_value (builder, hashes->image_sha256);
  json_builder_set_member_name (builder, "width");
  json_builder_add_int_value (builder, hashes->width);
  json_builder_set_member_name (builder, "height");
  json_builder_add_int_value (builder, hashes->height);
  json_builder_end_object (builder);

  json_builder_set_member_name (builder, "mask");
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "sha256");
  json_builder_add_string_value (builder, hashes->mask_sha256);
  json_builder_end_object (builder);

  json_builder_set_member_name (builder, "conditioning");
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "kind");
  json_builder_add_string_value (builder, ib_conditioning_name (conditioning->kind));
  if (conditioning->kind == IB_CONDITIONING_CLASS)
    {
      json_builder_set_member_name (builder, "class");
      json_builder_add_int_value (builder, conditioning->class_id);
    }
  else if (conditioning->kind == IB_CONDITIONING_TEXT)
    {
      json_builder_set_member_name (builder, "tokens");
      json_builder_begin_array (builder);
      for (int i = 0; i < conditioning->n_text_tokens; i++)
        json_builder_add_int_value (builder, conditioning->text_tokens[i]);
      json_builder_end_array (builder);
    }
  json_builder_end_object (builder);

  json_builder_set_member_name (builder, "seed");
  json_builder_add_string_value (builder, seed);
  json_builder_set_member_name (builder, "start_level");
  json_builder_add_int_value (builder, settings->start_level);
  json_builder_set_member_name (builder, "variants");
  json_builder_add_int_value (builder, settings->n_variants);
  json_builder_set_member_name (builder, "feather");
  json_builder_add_double_value (builder, settings->feather);
  json_builder_set_member_name (builder, "match_colours");
  json_builder_add_boolean_value (builder, settings->match_colours);
  json_builder_set_member_name (builder, "backend");
  json_builder_add_string_value (builder, ib_edit_backend_name (settings->backend));
  json_builder_set_member_name (builder, "guidance");
  json_builder_add_double_value (builder, settings->guidance);

  json_builder_set_member_name (builder, "levels");
  json_builder_begin_array (builder);
  for (int t = config->n_levels; t >= 1; t--)
    {
      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "t");
      json_builder_add_int_value (builder, t);
      json_builder_set_member_name (builder, "temperature");
      json_builder_add_double_value (builder, settings->temperature[t - 1]);
      json_builder_set_member_name (builder, "top_k");
      json_builder_add_int_value (builder, settings->top_k[t - 1]);
      json_builder_set_member_name (builder, "repeats");
      json_builder_add_int_value (builder, settings->repeats[t - 1]);
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);
  json_builder_end_object (builder);

  g_autoptr (JsonNode) root = json_builder_get_root (builder);
  return json_to_string (root, FALSE);
}

/* Reading */

static gboolean
invalid (GError    **error,
         const char *format,
         ...) G_GNUC_PRINTF (2, 3);

static gboolean
invalid (GError    **error,
         const char *format,
         ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *message = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, IB_ERROR, IB_ERROR_INVALID, "Not a valid edit recipe: %s", message);
  return FALSE;
}

static JsonNode *
member (JsonObject *object,
        const char *name,
        GType       value_type,
        GError    **error)
{
  JsonNode *node = object ? json_object_get_member (object, name) : NULL;
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != value_type)
    {
      const char *what = value_type == G_TYPE_INT64 ? "an integer" : value_type == G_TYPE_STRING ? "a string"
                         : value_type == G_TYPE_BOOLEAN ? "true or false" : "a number";
      invalid (error, "\"%s\" must be %s", name, what);
      return NULL;
    }
  return node;
}

static gboolean
get_int (JsonObject *object,
         const char *name,
         int        *out,
         GError    **error)
{
  JsonNode *node = member (object, name, G_TYPE_INT64, error);
  if (node == NULL)
    return FALSE;
  gint64 value = json_node_get_int (node);
  if (value < G_MININT || value > G_MAXINT)
    return invalid (error, "\"%s\" is out of range", name);
  *out = (int) value;
  return TRUE;
}

static gboolean
get_double (JsonObject *object,
            const char *name,
            double     *out,
            GError    **error)
{
  JsonNode *node = object ? json_object_get_member (object, name) : NULL;
  /* An integral number may have been written without a point. */
  if (node != NULL && JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_INT64)
    {
      *out = (double) json_node_get_int (node);
      return TRUE;
    }
  if (!(node = member (object, name, G_TYPE_DOUBLE, error)))
    return FALSE;
  *out = json_node_get_double (node);
  if (!isfinite (*out))
    return invalid (error, "\"%s\" is not a finite number", name);
  return TRUE;
}

static const char *
get_string (JsonObject *object,
            const char *name,
            GError    **error)
{
  JsonNode *node = member (object, name, G_TYPE_STRING, error);
  return node ? json_node_get_string (node) : NULL;
}

static JsonObject *
get_object (JsonObject *object,
            const char *name,
            GError    **error)
{
  JsonNode *node = json_object_get_member (object, name);
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    {
      invalid (error, "\"%s\" must be an object", name);
      return NULL;
    }
  return json_node_get_object (node);
}

static char *
get_hash (JsonObject *parent,
          const char *name,
          GError    **error)
{
  JsonObject *object = get_object (parent, name, error);
  const char *hash = object ? get_string (object, "sha256", error) : NULL;
  if (hash == NULL)
    return NULL;
  if (strlen (hash) != 64 || strspn (hash, "0123456789abcdef") != 64)
    {
      invalid (error, "\"%s\".\"sha256\" is not a SHA-256 in hex", name);
      return NULL;
    }
  return g_strdup (hash);
}

static gboolean
parse_conditioning (JsonObject         *root,
                    IbEditConditioning *conditioning,
                    GError            **error)
{
  JsonObject *object = get_object (root, "conditioning", error);
  const char *kind = object ? get_string (object, "kind", error) : NULL;
  if (kind == NULL)
    return FALSE;
  memset (conditioning, 0, sizeof *conditioning);
  if (g_strcmp0 (kind, "none") == 0)
    conditioning->kind = IB_CONDITIONING_NONE;
  else if (g_strcmp0 (kind, "class") == 0)
    {
      conditioning->kind = IB_CONDITIONING_CLASS;
      return get_int (object, "class", &conditioning->class_id, error);
    }
  else if (g_strcmp0 (kind, "text") == 0)
    {
      conditioning->kind = IB_CONDITIONING_TEXT;
      JsonNode *node = json_object_get_member (object, "tokens");
      if (node == NULL || !JSON_NODE_HOLDS_ARRAY (node))
        return invalid (error, "\"tokens\" must be a list of integers");
      JsonArray *tokens = json_node_get_array (node);
      guint n = json_array_get_length (tokens);
      if (n > IB_EDIT_MAX_TEXT_TOKENS)
        return invalid (error, "more than %d text tokens", IB_EDIT_MAX_TEXT_TOKENS);
      for (guint i = 0; i < n; i++)
        {
          JsonNode *token = json_array_get_element (tokens, i);
          if (!JSON_NODE_HOLDS_VALUE (token) || json_node_get_value_type (token) != G_TYPE_INT64 ||
              json_node_get_int (token) < 0 || json_node_get_int (token) > G_MAXINT32)
            return invalid (error, "text token %u is not a non-negative integer", i + 1);
          conditioning->text_tokens[i] = (int32_t) json_node_get_int (token);
        }
      conditioning->n_text_tokens = (int) n;
    }
  else
    return invalid (error, "unknown conditioning kind \"%s\"", kind);
  return TRUE;
}

static gboolean
parse_levels (JsonObject          *root,
              const IbModelConfig *config,
              IbEditSettings      *settings,
              GError             **error)
{
  JsonNode *node = json_object_get_member (root, "levels");
  if (node == NULL || !JSON_NODE_HOLDS_ARRAY (node))
    return invalid (error, "\"levels\" must be a list");
  JsonArray *levels = json_node_get_array (node);
  if ((int) json_array_get_length (levels) != config->n_levels)
    return invalid (error, "it has %u levels, the model %d", json_array_get_length (levels), config->n_levels);

  gboolean seen[IB_MAX_LEVELS] = { FALSE };
  for (guint i = 0; i < json_array_get_length (levels); i++)
    {
      JsonNode *entry = json_array_get_element (levels, i);
      if (!JSON_NODE_HOLDS_OBJECT (entry))
        return invalid (error, "level entry %u is not an object", i + 1);
      JsonObject *level = json_node_get_object (entry);
      int t, top_k, repeats;
      double temperature;
      if (!get_int (level, "t", &t, error) || !get_double (level, "temperature", &temperature, error) ||
          !get_int (level, "top_k", &top_k, error) || !get_int (level, "repeats", &repeats, error))
        return FALSE;
      if (t < 1 || t > config->n_levels || seen[t - 1])
        return invalid (error, "level entry %u names level %d twice or out of range", i + 1, t);
      /* Beyond a float's range the conversion below is undefined (found by tests/fuzz/fuzz-recipe). */
      if (fabs (temperature) > G_MAXFLOAT)
        return invalid (error, "the temperature of level %d is out of range", t);
      seen[t - 1] = TRUE;
      settings->temperature[t - 1] = (float) temperature;
      settings->top_k[t - 1] = top_k;
      settings->repeats[t - 1] = repeats;
    }
  return TRUE;
}

gboolean
ib_edit_recipe_parse (const char          *json,
                      gssize               length,
                      const IbModelConfig *config,
                      IbEditConditioning  *conditioning,
                      IbEditSettings      *settings,
                      IbEditRecipeHashes  *hashes,
                      GError             **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) parse_error = NULL;
  gsize size = length < 0 ? strlen (json) : (gsize) length;

  memset (hashes, 0, sizeof *hashes);
  if (size > MAX_RECIPE_BYTES)
    return invalid (error, "it is larger than %d bytes", MAX_RECIPE_BYTES);
  if (!ib_json_depth_is_sane (json, size))
    return invalid (error, "it nests too deeply");
  if (!json_parser_load_from_data (parser, json, (gssize) size, &parse_error))
    return invalid (error, "%s", parse_error->message);
  JsonNode *root_node = json_parser_get_root (parser);
  if (root_node == NULL || !JSON_NODE_HOLDS_OBJECT (root_node))
    return invalid (error, "the top level is not an object");
  JsonObject *root = json_node_get_object (root_node);

  const char *format = get_string (root, "format", error);
  int version;
  if (format == NULL || !get_int (root, "format_version", &version, error))
    return FALSE;
  if (g_strcmp0 (format, IB_EDIT_RECIPE_FORMAT) != 0)
    return invalid (error, "\"format\" is \"%s\", not \"%s\"", format, IB_EDIT_RECIPE_FORMAT);
  if (version != 1)
    {
      g_set_error (error, IB_ERROR, IB_ERROR_UNSUPPORTED,
                   "The recipe has format version %d; this program reads version 1", version);
      return FALSE;
    }

  IbEditRecipeHashes read = { NULL };
  JsonObject *model = get_object (root, "model", error), *image = NULL;
  const char *name = model ? get_string (model, "name", error) : NULL;
  if (name == NULL ||
      !(read.model_sha256 = get_hash (root, "model", error)) ||
      !(read.image_sha256 = get_hash (root, "image", error)) ||
      !(read.mask_sha256 = get_hash (root, "mask", error)) ||
      !(image = get_object (root, "image", error)) ||
      !get_int (image, "width", &read.width, error) ||
      !get_int (image, "height", &read.height, error))
    {
      ib_edit_recipe_hashes_clear (&read);
      return FALSE;
    }
  read.model_name = g_strdup (name);

  IbEditSettings parsed = *settings;
  IbEditConditioning parsed_conditioning;
  const char *seed_text = get_string (root, "seed", error), *backend = NULL;
  guint64 seed;
  if (seed_text == NULL || !parse_conditioning (root, &parsed_conditioning, error) ||
      !get_int (root, "start_level", &parsed.start_level, error) ||
      !get_int (root, "variants", &parsed.n_variants, error) ||
      !get_double (root, "feather", &parsed.feather, error) ||
      !member (root, "match_colours", G_TYPE_BOOLEAN, error) ||
      !(backend = get_string (root, "backend", error)) ||
      !parse_levels (root, config, &parsed, error))
    {
      ib_edit_recipe_hashes_clear (&read);
      return FALSE;
    }
  if (!g_ascii_string_to_unsigned (seed_text, 10, 0, G_MAXUINT64, &seed, NULL))
    {
      ib_edit_recipe_hashes_clear (&read);
      return invalid (error, "\"seed\" is not a non-negative integer");
    }
  /* Recipes written before guidance existed have none: 1. */
  double guidance = 1.0;
  if (json_object_has_member (root, "guidance") && !get_double (root, "guidance", &guidance, error))
    {
      ib_edit_recipe_hashes_clear (&read);
      return FALSE;
    }
  if (!(guidance >= 1.0 && guidance <= IB_MAX_GUIDANCE))
    {
      ib_edit_recipe_hashes_clear (&read);
      return invalid (error, "\"guidance\" is out of range");
    }
  parsed.guidance = (float) guidance;
  parsed.seed = seed;
  parsed.match_colours = json_object_get_boolean_member (root, "match_colours");
  if (g_strcmp0 (backend, "cpu") == 0)
    parsed.backend = IB_EDIT_BACKEND_CPU;
  else if (g_strcmp0 (backend, "vulkan") == 0)
    parsed.backend = IB_EDIT_BACKEND_VULKAN;
  else
    {
      ib_edit_recipe_hashes_clear (&read);
      return invalid (error, "unknown backend \"%s\"", backend);
    }

  *settings = parsed;
  *conditioning = parsed_conditioning;
  *hashes = read;
  return TRUE;
}
