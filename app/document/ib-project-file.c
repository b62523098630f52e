/* ib-project-file.c: writing and (hostile-input safe) reading of .ibproj files; docs/project-format.md. */
#include "ib-project-file.h"

#include <glib/gi18n.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "ib-atomic-file.h"

#define PROJECT_FORMAT "imagebart-studio-project"
#define HEADER_SIZE 16
#define MAX_TOC_SIZE ((gsize) 16 << 20)
#define MAX_STEPS 65536
/* zlib cannot expand more than about 1032:1; a chunk claiming more is a lie (and an allocation bomb). */
#define MAX_ZLIB_RATIO 1032
/* All pixels of one project together, after decompression. */
#define MAX_TOTAL_RAW ((guint64) 64 << 30)
#define ZLIB_LEVEL 3

IbProject *
ib_project_new (void)
{
  return g_new0 (IbProject, 1);
}

void
ib_project_free (IbProject *project)
{
  if (project == NULL)
    return;
  g_clear_pointer (&project->picture, ib_edit_image_unref);
  g_clear_pointer (&project->original, ib_edit_image_unref);
  g_clear_pointer (&project->mask, g_bytes_unref);
  for (guint i = 0; i < project->n_steps; i++)
    ib_history_step_unref (project->steps[i]);
  g_free (project->steps);
  g_free (project->title);
  g_free (project->source_uri);
  g_free (project->file_uri);
  g_free (project->recipe);
  g_free (project->settings);
  g_free (project->model_path);
  g_free (project->model_sha256);
  g_free (project);
}

gboolean
ib_project_file_has_magic (const guint8 *data,
                           gsize         length)
{
  return length >= 8 && memcmp (data, IB_PROJECT_FILE_MAGIC, 8) == 0;
}

/* Writing */

typedef struct
{
  GByteArray *data;             /* the chunks, concatenated */
  JsonBuilder *chunks;          /* their table */
  guint n_chunks;
} Writer;

/* Compresses rows (width bytes each, stride apart) as one chunk; returns its index. */
static gboolean
add_chunk (Writer       *writer,
           const guint8 *pixels,
           gsize         row_bytes,
           int           height,
           gsize         stride,
           guint        *index,
           GError      **error)
{
  g_autoptr (GZlibCompressor) compressor = g_zlib_compressor_new (G_ZLIB_COMPRESSOR_FORMAT_ZLIB, ZLIB_LEVEL);
  g_autoptr (GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);
  gsize start = writer->data->len;
  guint8 out[65536];

  for (int y = 0; y <= height; y++)
    {
      const guint8 *in = y < height ? pixels + (gsize) y * stride : NULL;
      gsize in_left = y < height ? row_bytes : 0;
      GConverterFlags flags = y < height ? G_CONVERTER_NO_FLAGS : G_CONVERTER_INPUT_AT_END;
      GConverterResult result;
      do
        {
          gsize read = 0, written = 0;
          result = g_converter_convert (G_CONVERTER (compressor), in, in_left, out, sizeof out, flags, &read,
                                        &written, error);
          if (result == G_CONVERTER_ERROR)
            return FALSE;
          g_byte_array_append (writer->data, out, written);
          if (in != NULL)   /* NULL + 0 at the final flush is undefined (UBSan) */
            in += read;
          in_left -= read;
        }
      while (in_left > 0 || (flags == G_CONVERTER_INPUT_AT_END && result != G_CONVERTER_FINISHED));
    }

  gsize length = writer->data->len - start;
  g_checksum_update (checksum, writer->data->data + start, length);
  json_builder_begin_object (writer->chunks);
  json_builder_set_member_name (writer->chunks, "offset");
  json_builder_add_int_value (writer->chunks, start);
  json_builder_set_member_name (writer->chunks, "length");
  json_builder_add_int_value (writer->chunks, length);
  json_builder_set_member_name (writer->chunks, "size");
  json_builder_add_int_value (writer->chunks, row_bytes * height);
  json_builder_set_member_name (writer->chunks, "encoding");
  json_builder_add_string_value (writer->chunks, "zlib");
  json_builder_set_member_name (writer->chunks, "sha256");
  json_builder_add_string_value (writer->chunks, g_checksum_get_string (checksum));
  json_builder_end_object (writer->chunks);
  *index = writer->n_chunks++;
  return TRUE;
}

static gboolean
add_image_chunk (Writer            *writer,
                 const IbEditImage *image,
                 guint             *index,
                 GError           **error)
{
  return add_chunk (writer, image->pixels, (gsize) image->width * 4, image->height, image->stride, index, error);
}

static gboolean
add_bytes_chunk (Writer  *writer,
                 GBytes  *bytes,
                 guint   *index,
                 GError **error)
{
  gsize length;
  const guint8 *data = g_bytes_get_data (bytes, &length);
  return add_chunk (writer, data, length, 1, length, index, error);
}

/* A JSON text as a node of the table of contents (or null). */
static gboolean
add_json_member (JsonBuilder *builder,
                 const char  *name,
                 const char  *json,
                 GError     **error)
{
  json_builder_set_member_name (builder, name);
  if (json == NULL)
    {
      json_builder_add_null_value (builder);
      return TRUE;
    }
  g_autoptr (JsonParser) parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, json, -1, NULL) || json_parser_get_root (parser) == NULL)
    {
      g_set_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_INVALID, _("The %s to save is not valid JSON."),
                   name);
      return FALSE;
    }
  json_builder_add_value (builder, json_node_copy (json_parser_get_root (parser)));
  return TRUE;
}

static void
add_string_member (JsonBuilder *builder,
                   const char  *name,
                   const char  *value)
{
  json_builder_set_member_name (builder, name);
  if (value != NULL)
    json_builder_add_string_value (builder, value);
  else
    json_builder_add_null_value (builder);
}

static void
add_int_member (JsonBuilder *builder,
                const char  *name,
                gint64       value)
{
  json_builder_set_member_name (builder, name);
  json_builder_add_int_value (builder, value);
}

static gboolean
add_step (Writer        *writer,
          JsonBuilder   *toc,
          IbHistoryStep *step,
          GError       **error)
{
  GdkRectangle rect;
  guint before, after;
  gboolean is_mask = ib_history_step_get_kind (step) == IB_HISTORY_STEP_MASK;

  ib_history_step_get_rectangle (step, &rect);
  if (is_mask)
    {
      if (ib_history_step_get_mask_before (step) == NULL)
        {
          g_set_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_INVALID,
                       "A mask step must be made of pixels to be saved");
          return FALSE;
        }
      if (!add_bytes_chunk (writer, ib_history_step_get_mask_before (step), &before, error) ||
          !add_bytes_chunk (writer, ib_history_step_get_mask_after (step), &after, error))
        return FALSE;
    }
  else if (!add_image_chunk (writer, ib_history_step_get_picture_before (step), &before, error) ||
           !add_image_chunk (writer, ib_history_step_get_picture_after (step), &after, error))
    return FALSE;

  json_builder_begin_object (toc);
  add_string_member (toc, "kind", is_mask ? "mask" : "picture");
  add_int_member (toc, "x", rect.x);
  add_int_member (toc, "y", rect.y);
  add_int_member (toc, "width", rect.width);
  add_int_member (toc, "height", rect.height);
  add_int_member (toc, "before", before);
  add_int_member (toc, "after", after);
  if (!is_mask && (!add_json_member (toc, "recipe_before", ib_history_step_get_recipe_before (step), error) ||
                   !add_json_member (toc, "recipe_after", ib_history_step_get_recipe_after (step), error)))
    return FALSE;
  json_builder_end_object (toc);
  return TRUE;
}

GBytes *
ib_project_file_save_to_bytes (IbProject *project,
                               GError   **error)
{
  g_return_val_if_fail (project != NULL && project->picture != NULL && project->mask != NULL, NULL);
  g_return_val_if_fail (project->n_done <= project->n_steps, NULL);

  IbEditImage *picture = project->picture;
  IbEditImage *original = project->original != NULL ? project->original : picture;
  g_return_val_if_fail (original->width == picture->width && original->height == picture->height, NULL);
  g_return_val_if_fail (g_bytes_get_size (project->mask) == (gsize) picture->width * picture->height, NULL);

  g_autoptr (GByteArray) data = g_byte_array_new ();
  g_autoptr (JsonBuilder) chunks = json_builder_new ();
  g_autoptr (JsonBuilder) toc = json_builder_new ();
  Writer writer = { data, chunks, 0 };
  guint picture_index, original_index, mask_index;

  project->saved_time = g_get_real_time ();
  json_builder_begin_array (chunks);
  if (!add_image_chunk (&writer, picture, &picture_index, error) ||
      !add_image_chunk (&writer, original, &original_index, error) ||
      !add_bytes_chunk (&writer, project->mask, &mask_index, error))
    return NULL;

  json_builder_begin_object (toc);
  add_string_member (toc, "format", PROJECT_FORMAT);
  add_int_member (toc, "version", IB_PROJECT_FILE_VERSION);
  add_int_member (toc, "width", picture->width);
  add_int_member (toc, "height", picture->height);
  add_string_member (toc, "title", project->title);
  add_string_member (toc, "source", project->source_uri);
  add_string_member (toc, "file", project->file_uri);
  add_int_member (toc, "saved_time", project->saved_time);
  json_builder_set_member_name (toc, "model");
  json_builder_begin_object (toc);
  add_string_member (toc, "path", project->model_path);
  add_string_member (toc, "sha256", project->model_sha256);
  json_builder_end_object (toc);
  if (!add_json_member (toc, "recipe", project->recipe, error) ||
      !add_json_member (toc, "settings", project->settings, error))
    return NULL;
  add_int_member (toc, "picture", picture_index);
  add_int_member (toc, "original", original_index);
  add_int_member (toc, "mask", mask_index);
  json_builder_set_member_name (toc, "history");
  json_builder_begin_object (toc);
  add_int_member (toc, "done", project->n_done);
  json_builder_set_member_name (toc, "steps");
  json_builder_begin_array (toc);
  for (guint i = 0; i < project->n_steps; i++)
    if (!add_step (&writer, toc, project->steps[i], error))
      return NULL;
  json_builder_end_array (toc);
  json_builder_end_object (toc);
  json_builder_end_array (chunks);
  json_builder_set_member_name (toc, "chunks");
  json_builder_add_value (toc, json_builder_get_root (chunks));
  json_builder_end_object (toc);

  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autoptr (JsonNode) root = json_builder_get_root (toc);
  json_generator_set_root (generator, root);
  gsize toc_length;
  g_autofree char *toc_text = json_generator_to_data (generator, &toc_length);

  GByteArray *file = g_byte_array_sized_new (HEADER_SIZE + toc_length + data->len);
  guint32 version = GUINT32_TO_LE (IB_PROJECT_FILE_VERSION), le_toc_length = GUINT32_TO_LE (toc_length);
  g_byte_array_append (file, (const guint8 *) IB_PROJECT_FILE_MAGIC, 8);
  g_byte_array_append (file, (const guint8 *) &version, 4);
  g_byte_array_append (file, (const guint8 *) &le_toc_length, 4);
  g_byte_array_append (file, (const guint8 *) toc_text, toc_length);
  g_byte_array_append (file, data->data, data->len);
  return g_byte_array_free_to_bytes (file);
}

gboolean
ib_project_file_save (IbProject    *project,
                      GFile        *file,
                      GCancellable *cancellable,
                      GError      **error)
{
  g_autoptr (GBytes) bytes = ib_project_file_save_to_bytes (project, error);
  return bytes != NULL && ib_atomic_file_write_bytes (file, bytes, cancellable, error);
}

/* Reading: nothing in the file is trusted. */

typedef struct
{
  const char *name;
  const guint8 *data;           /* the chunk area */
  gsize data_length;
  JsonArray *chunks;
  guint64 total_raw;
} Reader;

static gboolean
corrupt (GError    **error,
         const char *name,
         const char *what)
{
  g_set_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_CORRUPT,
               _("The project “%s” is damaged and cannot be opened (%s)."), name, what);
  return FALSE;
}

static gboolean
get_int (JsonObject *object,
         const char *member,
         gint64      min,
         gint64      max,
         gint64     *value)
{
  JsonNode *node = object != NULL ? json_object_get_member (object, member) : NULL;
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64)
    return FALSE;
  *value = json_node_get_int (node);
  return *value >= min && *value <= max;
}

static gboolean
get_int32 (JsonObject *object,
           const char *member,
           gint64      min,
           gint64      max,
           int        *value)
{
  gint64 v;
  if (!get_int (object, member, min, max, &v))
    return FALSE;
  *value = (int) v;
  return TRUE;
}

/* A string member, or NULL for null or absent; FALSE when it is something else. */
static gboolean
get_string (JsonObject *object,
            const char *member,
            char      **value)
{
  JsonNode *node = json_object_get_member (object, member);
  *value = NULL;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return FALSE;
  *value = g_strdup (json_node_get_string (node));
  return TRUE;
}

/* A JSON member as text, NULL for null or absent. */
static char *
get_json (JsonObject *object,
          const char *member)
{
  JsonNode *node = object != NULL ? json_object_get_member (object, member) : NULL;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return NULL;
  return json_to_string (node, FALSE);
}

/* A string member's value, or NULL when absent or not a string. */
static const char *
peek_string (JsonObject *object,
             const char *member)
{
  JsonNode *node = json_object_get_member (object, member);
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

/* Checks chunk index, which must hold exactly size bytes, before anything is allocated for it: where it lies,
 * its checksum, its compression ratio. */
static gboolean
find_chunk (Reader        *reader,
            gint64         index,
            gsize          size,
            const guint8 **in,
            gsize         *in_length,
            GError       **error)
{
  if (index < 0 || index >= json_array_get_length (reader->chunks))
    return corrupt (error, reader->name, "a chunk index is out of range");
  JsonNode *node = json_array_get_element (reader->chunks, index);
  JsonObject *chunk = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
  gint64 offset, length, raw;
  if (chunk == NULL || !get_int (chunk, "offset", 0, G_MAXINT64, &offset) ||
      !get_int (chunk, "length", 1, G_MAXINT64, &length) || !get_int (chunk, "size", 0, G_MAXINT64, &raw))
    return corrupt (error, reader->name, "a chunk's entry is malformed");
  /* offset + length <= data_length without overflow. */
  if ((guint64) offset > reader->data_length || (guint64) length > reader->data_length - (guint64) offset)
    return corrupt (error, reader->name, "a chunk lies beyond the end of the file");
  if ((guint64) raw != size)
    return corrupt (error, reader->name, "a chunk's size does not match its picture");
  if ((guint64) size / MAX_ZLIB_RATIO > (guint64) length + 1)
    return corrupt (error, reader->name, "a chunk claims an impossible compression ratio");
  if (size > MAX_TOTAL_RAW - reader->total_raw)
    return corrupt (error, reader->name, "the project holds too many pixels");
  reader->total_raw += size;

  if (g_strcmp0 (peek_string (chunk, "encoding"), "zlib") != 0)
    return corrupt (error, reader->name, "a chunk has an unknown encoding");
  *in = reader->data + offset;
  *in_length = length;
  g_autofree char *digest = g_compute_checksum_for_data (G_CHECKSUM_SHA256, *in, length);
  if (g_strcmp0 (digest, peek_string (chunk, "sha256")) != 0)
    return corrupt (error, reader->name, "a chunk's checksum does not match its contents");
  return TRUE;
}

/* Decompresses a chunk that find_chunk accepted into out, which it must fill exactly. */
static gboolean
inflate_chunk (Reader       *reader,
               const guint8 *in,
               gsize         in_left,
               guint8       *out,
               gsize         size,
               GError      **error)
{
  g_autoptr (GZlibDecompressor) decompressor = g_zlib_decompressor_new (G_ZLIB_COMPRESSOR_FORMAT_ZLIB);
  gsize out_left = size;
  guint8 spare;
  for (;;)
    {
      gsize read = 0, written = 0;
      g_autoptr (GError) local = NULL;
      /* Once out is full, one spare byte: the stream must end without filling it. */
      guint8 *target = out_left > 0 ? out : &spare;
      GConverterResult result = g_converter_convert (G_CONVERTER (decompressor), in, in_left, target,
                                                     out_left > 0 ? out_left : 1, G_CONVERTER_INPUT_AT_END,
                                                     &read, &written, &local);
      if (result == G_CONVERTER_ERROR)
        return corrupt (error, reader->name, "a chunk does not decompress");
      if (out_left == 0 && written > 0)
        return corrupt (error, reader->name, "a chunk holds more data than it says");
      in += read;
      in_left -= read;
      out += written;
      out_left -= written;
      if (result == G_CONVERTER_FINISHED)
        break;
      if (read == 0 && written == 0)
        return corrupt (error, reader->name, "a chunk ends early");
    }
  if (out_left != 0)
    return corrupt (error, reader->name, "a chunk holds less data than it says");
  return TRUE;
}

static IbEditImage *
read_image (Reader             *reader,
            gint64              index,
            const GdkRectangle *rect,
            GError            **error)
{
  gsize size = (gsize) rect->width * 4 * rect->height;
  const guint8 *in;
  gsize in_length;
  if (!find_chunk (reader, index, size, &in, &in_length, error))
    return NULL;
  g_autoptr (IbEditImage) image = ib_edit_image_new (rect->x, rect->y, rect->width, rect->height);
  if (!inflate_chunk (reader, in, in_length, image->pixels, size, error))
    return NULL;
  return g_steal_pointer (&image);
}

static GBytes *
read_gray (Reader  *reader,
           gint64   index,
           int      width,
           int      height,
           GError **error)
{
  gsize size = (gsize) width * height;
  const guint8 *in;
  gsize in_length;
  if (!find_chunk (reader, index, size, &in, &in_length, error))
    return NULL;
  g_autofree guint8 *pixels = g_malloc (size);
  if (!inflate_chunk (reader, in, in_length, pixels, size, error))
    return NULL;
  return g_bytes_new_take (g_steal_pointer (&pixels), size);
}

/* A step's rectangle must lie inside the picture. */
static gboolean
read_rect (JsonObject   *step,
           int           width,
           int           height,
           GdkRectangle *rect)
{
  return get_int32 (step, "width", 1, width, &rect->width) && get_int32 (step, "height", 1, height, &rect->height) &&
         get_int32 (step, "x", 0, width - rect->width, &rect->x) &&
         get_int32 (step, "y", 0, height - rect->height, &rect->y);
}

static IbHistoryStep *
read_step (Reader     *reader,
           JsonNode   *node,
           int         width,
           int         height,
           GError    **error)
{
  JsonObject *step = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
  GdkRectangle rect;
  gint64 before_index, after_index;
  if (step == NULL || !read_rect (step, width, height, &rect) ||
      !get_int (step, "before", 0, G_MAXINT32, &before_index) || !get_int (step, "after", 0, G_MAXINT32, &after_index))
    {
      corrupt (error, reader->name, "an undo step is malformed");
      return NULL;
    }
  const char *kind = peek_string (step, "kind");
  if (g_strcmp0 (kind, "mask") == 0)
    {
      g_autoptr (GBytes) before = read_gray (reader, before_index, rect.width, rect.height, error);
      g_autoptr (GBytes) after = before != NULL ? read_gray (reader, after_index, rect.width, rect.height, error) : NULL;
      return after != NULL ? ib_history_step_new_mask_pixels (&rect, before, after) : NULL;
    }
  if (g_strcmp0 (kind, "picture") == 0)
    {
      g_autoptr (IbEditImage) before = read_image (reader, before_index, &rect, error);
      g_autoptr (IbEditImage) after = before != NULL ? read_image (reader, after_index, &rect, error) : NULL;
      if (after == NULL)
        return NULL;
      g_autofree char *recipe_before = get_json (step, "recipe_before");
      g_autofree char *recipe_after = get_json (step, "recipe_after");
      return ib_history_step_new_picture (before, after, recipe_before, recipe_after);
    }
  corrupt (error, reader->name, "an undo step is of an unknown kind");
  return NULL;
}

static gboolean
read_history (Reader     *reader,
              JsonObject *toc,
              IbProject  *project,
              GError    **error)
{
  JsonNode *node = json_object_get_member (toc, "history");
  JsonObject *history = node != NULL && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
  JsonNode *steps_node = history != NULL ? json_object_get_member (history, "steps") : NULL;
  if (steps_node == NULL || !JSON_NODE_HOLDS_ARRAY (steps_node))
    return corrupt (error, reader->name, "the undo history is missing");
  JsonArray *steps = json_node_get_array (steps_node);
  guint n_steps = json_array_get_length (steps);
  gint64 n_done;
  if (n_steps > MAX_STEPS || !get_int (history, "done", 0, n_steps, &n_done))
    return corrupt (error, reader->name, "the undo history is malformed");

  project->steps = g_new0 (IbHistoryStep *, MAX (n_steps, 1));
  for (guint i = 0; i < n_steps; i++)
    {
      project->steps[i] = read_step (reader, json_array_get_element (steps, i), project->picture->width,
                                     project->picture->height, error);
      if (project->steps[i] == NULL)
        return FALSE;
      project->n_steps = i + 1;
    }
  project->n_done = (guint) n_done;
  return TRUE;
}

/* The header's checks and the table of contents of data (the file, or at least its header and table);
 * *toc_length is set to the table's length. */
static JsonParser *
parse_toc (const guint8 *data,
           gsize         length,
           const char   *name,
           guint32      *toc_length_out,
           GError      **error)
{
  if (!ib_project_file_has_magic (data, length))
    {
      g_set_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_FORMAT,
                   _("“%s” is not an ImageBART Studio project."), name);
      return NULL;
    }
  if (length < HEADER_SIZE)
    {
      corrupt (error, name, "the header is cut short");
      return NULL;
    }
  guint32 version, toc_length;
  memcpy (&version, data + 8, 4);
  memcpy (&toc_length, data + 12, 4);
  version = GUINT32_FROM_LE (version);
  toc_length = GUINT32_FROM_LE (toc_length);
  if (version != IB_PROJECT_FILE_VERSION)
    {
      g_set_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_FORMAT,
                   _("The project “%s” was written by a newer version of ImageBART Studio (format %u); update "
                     "the program to open it."), name, version);
      return NULL;
    }
  if (toc_length == 0 || toc_length > MAX_TOC_SIZE || toc_length > length - HEADER_SIZE)
    {
      corrupt (error, name, "the table of contents does not fit the file");
      return NULL;
    }

  g_autoptr (JsonParser) parser = json_parser_new_immutable ();
  if (!json_parser_load_from_data (parser, (const char *) data + HEADER_SIZE, toc_length, NULL) ||
      json_parser_get_root (parser) == NULL || !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)) ||
      g_strcmp0 (peek_string (json_node_get_object (json_parser_get_root (parser)), "format"), PROJECT_FORMAT) != 0)
    {
      corrupt (error, name, "the table of contents is not valid");
      return NULL;
    }
  *toc_length_out = toc_length;
  return g_steal_pointer (&parser);
}

IbProject *
ib_project_file_load_from_bytes (GBytes     *bytes,
                                 const char *name,
                                 GError    **error)
{
  g_return_val_if_fail (bytes != NULL, NULL);
  g_return_val_if_fail (name != NULL, NULL);

  gsize length;
  guint32 toc_length;
  const guint8 *data = g_bytes_get_data (bytes, &length);
  g_autoptr (JsonParser) parser = parse_toc (data, length, name, &toc_length, error);
  if (parser == NULL)
    return NULL;
  JsonObject *toc = json_node_get_object (json_parser_get_root (parser));
  JsonNode *chunks = json_object_get_member (toc, "chunks");
  Reader reader = { name, data + HEADER_SIZE + toc_length, length - HEADER_SIZE - toc_length, NULL, 0 };
  if (chunks == NULL || !JSON_NODE_HOLDS_ARRAY (chunks))
    {
      corrupt (error, name, "the table of contents is incomplete");
      return NULL;
    }
  reader.chunks = json_node_get_array (chunks);

  int width, height;
  gint64 picture_index, original_index, mask_index;
  if (!get_int32 (toc, "width", 1, IB_EDIT_MAX_SIDE, &width) || !get_int32 (toc, "height", 1, IB_EDIT_MAX_SIDE, &height) ||
      (gint64) width * height > IB_EDIT_MAX_PIXELS || !get_int (toc, "picture", 0, G_MAXINT32, &picture_index) ||
      !get_int (toc, "original", 0, G_MAXINT32, &original_index) || !get_int (toc, "mask", 0, G_MAXINT32, &mask_index))
    {
      corrupt (error, name, "the picture's size is missing or out of range");
      return NULL;
    }

  g_autoptr (IbProject) project = ib_project_new ();
  GdkRectangle whole = { 0, 0, width, height };
  project->picture = read_image (&reader, picture_index, &whole, error);
  if (project->picture == NULL)
    return NULL;
  project->original = read_image (&reader, original_index, &whole, error);
  if (project->original == NULL)
    return NULL;
  project->mask = read_gray (&reader, mask_index, width, height, error);
  if (project->mask == NULL || !read_history (&reader, toc, project, error))
    return NULL;

  JsonNode *model_node = json_object_get_member (toc, "model");
  JsonObject *model = model_node != NULL && JSON_NODE_HOLDS_OBJECT (model_node) ? json_node_get_object (model_node)
                                                                                 : NULL;
  if (!get_string (toc, "title", &project->title) || !get_string (toc, "source", &project->source_uri) ||
      !get_string (toc, "file", &project->file_uri) ||
      (model != NULL && (!get_string (model, "path", &project->model_path) ||
                         !get_string (model, "sha256", &project->model_sha256))))
    {
      corrupt (error, name, "a text field is not text");
      return NULL;
    }
  get_int (toc, "saved_time", 0, G_MAXINT64, &project->saved_time);
  project->recipe = get_json (toc, "recipe");
  project->settings = get_json (toc, "settings");
  return g_steal_pointer (&project);
}

IbProject *
ib_project_file_load (GFile        *file,
                      GCancellable *cancellable,
                      GError      **error)
{
  g_return_val_if_fail (G_IS_FILE (file), NULL);
  g_autofree char *name = g_file_get_basename (file);
  g_autoptr (GError) local = NULL;
  g_autoptr (GBytes) bytes = g_file_load_bytes (file, cancellable, NULL, &local);
  if (bytes == NULL)
    {
      g_set_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_IO, _("Could not read “%s”: %s"), name,
                   local->message);
      return NULL;
    }
  return ib_project_file_load_from_bytes (bytes, name, error);
}

gboolean
ib_project_file_read_summary (GFile   *file,
                              char   **title,
                              gint64  *saved_time,
                              char   **file_uri,
                              char   **source_uri,
                              GError **error)
{
  g_return_val_if_fail (G_IS_FILE (file), FALSE);
  g_autofree char *name = g_file_get_basename (file);
  g_autoptr (GError) local = NULL;
  g_autoptr (GFileInputStream) stream = g_file_read (file, NULL, &local);
  /* Zeros where a short file ends: its table-of-contents length then reads 0, never what the stack held. */
  guint8 header[HEADER_SIZE] = { 0 };
  gsize n_read = 0;
  if (stream == NULL ||
      !g_input_stream_read_all (G_INPUT_STREAM (stream), header, sizeof header, &n_read, NULL, &local))
    {
      g_set_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_IO, _("Could not read “%s”: %s"), name,
                   local->message);
      return FALSE;
    }
  guint32 toc_length;
  memcpy (&toc_length, header + 12, 4);
  toc_length = MIN (GUINT32_FROM_LE (toc_length), MAX_TOC_SIZE);
  g_autofree guint8 *head = g_malloc (HEADER_SIZE + toc_length);
  memcpy (head, header, n_read);
  gsize n_toc = 0;
  if (n_read == HEADER_SIZE &&
      !g_input_stream_read_all (G_INPUT_STREAM (stream), head + HEADER_SIZE, toc_length, &n_toc, NULL, &local))
    {
      g_set_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_IO, _("Could not read “%s”: %s"), name,
                   local->message);
      return FALSE;
    }
  g_autoptr (JsonParser) parser = parse_toc (head, n_read + n_toc, name, &toc_length, error);
  if (parser == NULL)
    return FALSE;
  JsonObject *toc = json_node_get_object (json_parser_get_root (parser));
  g_autofree char *title_value = NULL, *file_value = NULL, *source_value = NULL;
  gint64 time_value = 0;
  if (!get_string (toc, "title", &title_value) || !get_string (toc, "file", &file_value) ||
      !get_string (toc, "source", &source_value) || !get_int (toc, "saved_time", 0, G_MAXINT64, &time_value))
    return corrupt (error, name, "the table of contents is incomplete");
  if (title != NULL)
    *title = g_steal_pointer (&title_value);
  if (saved_time != NULL)
    *saved_time = time_value;
  if (file_uri != NULL)
    *file_uri = g_steal_pointer (&file_value);
  if (source_uri != NULL)
    *source_uri = g_steal_pointer (&source_value);
  return TRUE;
}
