/* ib-model-file.c: maps a model file (safetensors + our JSON config) and validates all of it before use.
 *
 * Every size and offset in the file is checked with overflow-safe arithmetic; the config is checked by
 * ib-config.c; then every tensor the config implies must be present with a float dtype and exactly the
 * implied shape, so that the engines can index weights without further checks. */
#include "ib-model-file.h"

#include <json-glib/json-glib.h>
#include <stdarg.h>
#include <string.h>

#include "ib-alloc.h"
#include "ib-error.h"
#include "ib-model-layout.h"

#define MAX_HEADER_BYTES (64u * 1024 * 1024)
#define MAX_TENSORS 1000000
#define CONFIG_KEY "imagebart.config"
#define MAX_JSON_DEPTH 32

struct _IbModelFile
{
  char *path;
  GBytes *bytes;
  GPtrArray *tensors;            /* IbTensor*, in header order */
  GHashTable *by_name;           /* name -> IbTensor* */
  GPtrArray *aligned_copies;     /* tensors whose mapped data was misaligned get an aligned copy */
  IbModelConfig *config;
  char *sha256;                  /* computed at the first ib_model_file_get_sha256 */
};

static gboolean
corrupt (GError    **error,
         const char *path,
         const char *format,
         ...) G_GNUC_PRINTF (3, 4);

static gboolean
corrupt (GError    **error,
         const char *path,
         const char *format,
         ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *message = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, IB_ERROR, IB_ERROR_CORRUPT, "%s is not a valid model file: %s", path, message);
  return FALSE;
}

static void
free_tensor (gpointer data)
{
  IbTensor *tensor = data;
  g_free ((char *) tensor->name);
  g_free (tensor);
}

static gboolean
parse_dtype (const char *name,
             IbDType    *dtype)
{
  static const struct { const char *name; IbDType dtype; } known[] = {
    { "F32", IB_DTYPE_F32 }, { "F16", IB_DTYPE_F16 }, { "BF16", IB_DTYPE_BF16 },
    { "I32", IB_DTYPE_I32 }, { "I64", IB_DTYPE_I64 },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (known); i++)
    if (g_strcmp0 (name, known[i].name) == 0)
      {
        *dtype = known[i].dtype;
        return TRUE;
      }
  return FALSE;
}

static gboolean
node_to_uint64 (JsonNode *node,
                guint64  *out)
{
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64)
    return FALSE;
  gint64 value = json_node_get_int (node);
  if (value < 0)
    return FALSE;
  *out = (guint64) value;
  return TRUE;
}

/* One header entry -> IbTensor, with its byte range checked against the data section. */
static IbTensor *
parse_tensor_entry (IbModelFile *file,
                    const char  *name,
                    JsonNode    *node,
                    const guint8 *data,
                    guint64      data_size,
                    guint64     *begin_out,
                    guint64     *end_out,
                    GError     **error)
{
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return corrupt (error, file->path, "tensor \"%s\" is not described by an object", name), NULL;
  JsonObject *object = json_node_get_object (node);
  JsonNode *dtype_node = json_object_get_member (object, "dtype");
  JsonNode *shape_node = json_object_get_member (object, "shape");
  JsonNode *offsets_node = json_object_get_member (object, "data_offsets");
  g_autofree IbTensor *tensor = g_new0 (IbTensor, 1);

  if (dtype_node == NULL || !JSON_NODE_HOLDS_VALUE (dtype_node) ||
      json_node_get_value_type (dtype_node) != G_TYPE_STRING ||
      !parse_dtype (json_node_get_string (dtype_node), &tensor->dtype))
    return corrupt (error, file->path, "tensor \"%s\" has a missing or unsupported dtype", name), NULL;

  if (shape_node == NULL || !JSON_NODE_HOLDS_ARRAY (shape_node))
    return corrupt (error, file->path, "tensor \"%s\" has no shape", name), NULL;
  JsonArray *shape = json_node_get_array (shape_node);
  guint n_dims = json_array_get_length (shape);
  if (n_dims < 1 || n_dims > IB_TENSOR_MAX_DIMS)
    return corrupt (error, file->path, "tensor \"%s\" has %u dimensions (1..%d supported)", name, n_dims,
                    IB_TENSOR_MAX_DIMS), NULL;

  guint64 n_elements = 1;
  for (guint i = 0; i < n_dims; i++)
    {
      guint64 extent;
      if (!node_to_uint64 (json_array_get_element (shape, i), &extent) || extent == 0)
        return corrupt (error, file->path, "tensor \"%s\" has a dimension that is not a positive integer", name),
               NULL;
      if (!g_uint64_checked_mul (&n_elements, n_elements, extent) || n_elements > G_MAXINT64 / 8)
        return corrupt (error, file->path, "tensor \"%s\" has a shape whose size overflows", name), NULL;
      tensor->shape[i] = (int64_t) extent;
    }
  tensor->n_dims = (int) n_dims;
  tensor->n_elements = (int64_t) n_elements;

  guint64 begin, end, n_bytes = n_elements * ib_dtype_size (tensor->dtype);
  JsonArray *offsets;
  if (offsets_node == NULL || !JSON_NODE_HOLDS_ARRAY (offsets_node) ||
      json_array_get_length (offsets = json_node_get_array (offsets_node)) != 2 ||
      !node_to_uint64 (json_array_get_element (offsets, 0), &begin) ||
      !node_to_uint64 (json_array_get_element (offsets, 1), &end))
    return corrupt (error, file->path, "tensor \"%s\" has malformed data_offsets", name), NULL;
  if (begin > end || end > data_size)
    return corrupt (error, file->path, "tensor \"%s\" lies outside the file (bytes %" G_GUINT64_FORMAT
                    "..%" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT ")", name, begin, end, data_size), NULL;
  if (end - begin != n_bytes)
    return corrupt (error, file->path, "tensor \"%s\" has %" G_GUINT64_FORMAT " bytes but its shape and dtype "
                    "need %" G_GUINT64_FORMAT, name, end - begin, n_bytes), NULL;

  tensor->data = data + begin;
  if ((guintptr) tensor->data % ib_dtype_size (tensor->dtype) != 0)
    {
      gpointer copy = ib_try_alloc_n (n_bytes, 1, "an aligned copy of a tensor", error);
      if (copy == NULL)
        return NULL;
      memcpy (copy, tensor->data, n_bytes);
      g_ptr_array_add (file->aligned_copies, copy);
      tensor->data = copy;
    }
  tensor->name = g_strdup (name);
  *begin_out = begin;
  *end_out = end;
  return g_steal_pointer (&tensor);
}

/* JSON parsers recurse on nesting; a hostile header of nested brackets must not exhaust the stack. */
gboolean
ib_json_depth_is_sane (const char *json,
                       gsize       length)
{
  int depth = 0;
  gboolean in_string = FALSE;

  for (gsize i = 0; i < length; i++)
    {
      char c = json[i];
      if (in_string)
        {
          if (c == '\\')
            i++;
          else if (c == '"')
            in_string = FALSE;
        }
      else if (c == '"')
        in_string = TRUE;
      else if (c == '[' || c == '{')
        {
          if (++depth > MAX_JSON_DEPTH)
            return FALSE;
        }
      else if (c == ']' || c == '}')
        depth--;
    }
  return TRUE;
}

typedef struct
{
  guint64 begin;
  guint64 end;
  const char *name;
} ByteRange;

static int
compare_ranges (gconstpointer a,
                gconstpointer b)
{
  const ByteRange *ra = a, *rb = b;
  return ra->begin < rb->begin ? -1 : ra->begin > rb->begin ? 1 : 0;
}

static gboolean
parse_header (IbModelFile  *file,
              const guint8 *bytes,
              gsize         size,
              char        **config_json,
              GError      **error)
{
  if (size < 8)
    return corrupt (error, file->path, "it is %" G_GSIZE_FORMAT " bytes long, too short for a header", size);
  guint64 header_length = 0;
  for (int i = 7; i >= 0; i--)
    header_length = (header_length << 8) | bytes[i];
  if (header_length == 0 || header_length > MAX_HEADER_BYTES)
    return corrupt (error, file->path, "the header length %" G_GUINT64_FORMAT " is not plausible", header_length);
  if (header_length > size - 8)
    return corrupt (error, file->path, "the header (%" G_GUINT64_FORMAT " bytes) runs past the end of the file "
                    "(%" G_GSIZE_FORMAT " bytes)", header_length, size);

  const char *header = (const char *) bytes + 8;
  if (!g_utf8_validate_len (header, header_length, NULL))
    return corrupt (error, file->path, "the header is not UTF-8 text");
  if (!ib_json_depth_is_sane (header, header_length))
    return corrupt (error, file->path, "the header nests deeper than %d levels", MAX_JSON_DEPTH);

  g_autoptr (JsonParser) parser = json_parser_new_immutable ();
  g_autoptr (GError) json_error = NULL;
  if (!json_parser_load_from_data (parser, header, (gssize) header_length, &json_error))
    return corrupt (error, file->path, "the header is not valid JSON (%s)", json_error->message);
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return corrupt (error, file->path, "the header is not a JSON object");
  JsonObject *object = json_node_get_object (root);

  const guint8 *data = bytes + 8 + header_length;
  guint64 data_size = size - 8 - header_length;
  g_autoptr (GList) members = json_object_get_members (object);
  g_autoptr (GArray) ranges = g_array_new (FALSE, FALSE, sizeof (ByteRange));

  if (g_list_length (members) > MAX_TENSORS)
    return corrupt (error, file->path, "the header lists too many tensors");

  for (GList *l = members; l != NULL; l = l->next)
    {
      const char *name = l->data;
      JsonNode *node = json_object_get_member (object, name);

      if (g_strcmp0 (name, "__metadata__") == 0)
        {
          JsonNode *config_node;
          if (!JSON_NODE_HOLDS_OBJECT (node))
            return corrupt (error, file->path, "__metadata__ is not an object");
          config_node = json_object_get_member (json_node_get_object (node), CONFIG_KEY);
          if (config_node == NULL || !JSON_NODE_HOLDS_VALUE (config_node) ||
              json_node_get_value_type (config_node) != G_TYPE_STRING)
            return corrupt (error, file->path, "__metadata__ has no \"" CONFIG_KEY "\" string: "
                            "is this an ImageBART Studio model?");
          *config_json = g_strdup (json_node_get_string (config_node));
          continue;
        }
      if (g_hash_table_contains (file->by_name, name))
        return corrupt (error, file->path, "tensor \"%s\" is listed twice", name);

      ByteRange range = { .name = name };
      IbTensor *tensor = parse_tensor_entry (file, name, node, data, data_size, &range.begin, &range.end, error);
      if (tensor == NULL)
        return FALSE;
      g_ptr_array_add (file->tensors, tensor);
      g_hash_table_insert (file->by_name, (char *) tensor->name, tensor);
      range.name = tensor->name;
      g_array_append_val (ranges, range);
    }

  if (*config_json == NULL)
    return corrupt (error, file->path, "it has no __metadata__ with the model config: "
                    "is this an ImageBART Studio model?");

  g_array_sort (ranges, compare_ranges);
  for (guint i = 1; i < ranges->len; i++)
    {
      const ByteRange *previous = &g_array_index (ranges, ByteRange, i - 1);
      const ByteRange *current = &g_array_index (ranges, ByteRange, i);
      if (current->begin < previous->end)
        return corrupt (error, file->path, "tensors \"%s\" and \"%s\" overlap", previous->name, current->name);
    }
  return TRUE;
}

/* The config implies tensors (ib-model-layout.c); each must exist, hold floats, and have exactly the
 * implied shape. */
static gboolean
check_tensor (const char    *name,
              int            n_dims,
              const int64_t *shape,
              gpointer       user_data,
              GError       **error)
{
  IbModelFile *file = user_data;
  const IbTensor *tensor = g_hash_table_lookup (file->by_name, name);

  if (tensor == NULL)
    {
      g_set_error (error, IB_ERROR, IB_ERROR_INVALID, "%s: the config needs tensor \"%s\", which is missing",
                   file->path, name);
      return FALSE;
    }
  if (tensor->dtype != IB_DTYPE_F32 && tensor->dtype != IB_DTYPE_F16 && tensor->dtype != IB_DTYPE_BF16)
    {
      g_set_error (error, IB_ERROR, IB_ERROR_INVALID, "%s: tensor \"%s\" is %s; F32, F16 or BF16 expected",
                   file->path, name, ib_dtype_name (tensor->dtype));
      return FALSE;
    }
  gboolean same = tensor->n_dims == n_dims;
  for (int i = 0; same && i < n_dims; i++)
    same = tensor->shape[i] == shape[i];
  if (!same)
    {
      g_autoptr (GString) expected = g_string_new (NULL), found = g_string_new (NULL);
      for (int i = 0; i < n_dims; i++)
        g_string_append_printf (expected, "%s%" G_GINT64_FORMAT, i ? ", " : "", shape[i]);
      for (int i = 0; i < tensor->n_dims; i++)
        g_string_append_printf (found, "%s%" G_GINT64_FORMAT, i ? ", " : "", tensor->shape[i]);
      g_set_error (error, IB_ERROR, IB_ERROR_INVALID, "%s: tensor \"%s\" has shape [%s]; the config implies [%s]",
                   file->path, name, found->str, expected->str);
      return FALSE;
    }
  return TRUE;
}

IbModelFile *
ib_model_file_new_from_bytes (GBytes     *bytes,
                              const char *display_name,
                              GError    **error)
{
  g_autoptr (IbModelFile) file = g_new0 (IbModelFile, 1);
  g_autofree char *config_json = NULL;
  gsize size;
  const guint8 *data;

  g_return_val_if_fail (bytes != NULL, NULL);

  file->path = g_strdup (display_name ? display_name : "(model in memory)");
  file->bytes = g_bytes_ref (bytes);
  file->tensors = g_ptr_array_new_with_free_func (free_tensor);
  file->by_name = g_hash_table_new (g_str_hash, g_str_equal);
  file->aligned_copies = g_ptr_array_new_with_free_func (g_free);

  data = g_bytes_get_data (bytes, &size);
  if (!parse_header (file, data, size, &config_json, error))
    return NULL;

  g_autoptr (GError) config_error = NULL;
  if (!ib_json_depth_is_sane (config_json, strlen (config_json)))
    return corrupt (error, file->path, "the config nests deeper than %d levels", MAX_JSON_DEPTH), NULL;
  file->config = ib_model_config_parse (config_json, strlen (config_json), &config_error);
  if (file->config == NULL)
    {
      g_set_error (error, IB_ERROR, config_error->code, "%s: %s", file->path, config_error->message);
      return NULL;
    }

  if (!ib_model_layout_foreach (file->config, check_tensor, file, error))
    return NULL;
  return g_steal_pointer (&file);
}

IbModelFile *
ib_model_file_open (const char *path,
                    GError    **error)
{
  g_autoptr (GError) map_error = NULL;
  g_autoptr (GMappedFile) mapped = NULL;
  g_autofree char *display_name = NULL;

  g_return_val_if_fail (path != NULL, NULL);

  display_name = g_filename_display_name (path);
  if (g_file_test (path, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, IB_ERROR, IB_ERROR_IO, "%s is a folder, not a model file", display_name);
      return NULL;
    }
  mapped = g_mapped_file_new (path, FALSE, &map_error);
  if (mapped == NULL)
    {
      g_set_error (error, IB_ERROR, IB_ERROR_IO, "Could not open model file %s: %s", display_name,
                   map_error->message);
      return NULL;
    }
  g_autoptr (GBytes) bytes = g_mapped_file_get_bytes (mapped);
  return ib_model_file_new_from_bytes (bytes, display_name, error);
}

void
ib_model_file_free (IbModelFile *file)
{
  if (file == NULL)
    return;
  g_clear_pointer (&file->config, ib_model_config_free);
  g_clear_pointer (&file->by_name, g_hash_table_unref);
  g_clear_pointer (&file->tensors, g_ptr_array_unref);
  g_clear_pointer (&file->aligned_copies, g_ptr_array_unref);
  g_clear_pointer (&file->bytes, g_bytes_unref);
  g_free (file->sha256);
  g_free (file->path);
  g_free (file);
}

const IbModelConfig *
ib_model_file_get_config (IbModelFile *file)
{
  g_return_val_if_fail (file != NULL, NULL);
  return file->config;
}

const char *
ib_model_file_get_path (IbModelFile *file)
{
  g_return_val_if_fail (file != NULL, NULL);
  return file->path;
}

const char *
ib_model_file_get_sha256 (IbModelFile *file)
{
  g_return_val_if_fail (file != NULL, NULL);
  /* Several threads may ask at once; the hash is computed once and never changes. */
  if (g_once_init_enter (&file->sha256))
    {
      gsize size;
      const guint8 *data = g_bytes_get_data (file->bytes, &size);
      g_autoptr (GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);
      /* g_checksum_update takes a gssize length. */
      for (gsize done = 0; done < size; done += MIN (size - done, (gsize) 1 << 30))
        g_checksum_update (checksum, data + done, (gssize) MIN (size - done, (gsize) 1 << 30));
      g_once_init_leave (&file->sha256, g_strdup (g_checksum_get_string (checksum)));
    }
  return file->sha256;
}

const IbTensor *
ib_model_file_lookup (IbModelFile *file,
                      const char  *name)
{
  g_return_val_if_fail (file != NULL && name != NULL, NULL);
  return g_hash_table_lookup (file->by_name, name);
}

const IbTensor *
ib_model_file_lookupf (IbModelFile *file,
                       const char  *format,
                       ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *name = g_strdup_vprintf (format, args);
  va_end (args);
  return ib_model_file_lookup (file, name);
}

guint
ib_model_file_n_tensors (IbModelFile *file)
{
  g_return_val_if_fail (file != NULL, 0);
  return file->tensors->len;
}

const IbTensor *
ib_model_file_nth_tensor (IbModelFile *file,
                          guint        i)
{
  g_return_val_if_fail (file != NULL && i < file->tensors->len, NULL);
  return g_ptr_array_index (file->tensors, i);
}
