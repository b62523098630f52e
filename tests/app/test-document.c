/* test-document.c: IbDocument: opening pictures and projects, mask and result steps with undo/redo, saving
 * projects and PNGs (the source picture untouched), export, failed saves (disk full, I/O error), resuming a
 * session with undo. */
#include <glib/gstdio.h>
#include <string.h>

#include "ib-document.h"
#include "ib-image-io.h"
#include "ib-studio.h"

typedef struct
{
  char *folder;
  GFile *picture_file;
  IbEditImage *picture;
} Fixture;

static IbEditImage *
make_picture (int     width,
              int     height,
              guint32 seed)
{
  IbEditImage *image = ib_edit_image_new (0, 0, width, height);
  GRand *rand = g_rand_new_with_seed (seed);
  for (gsize i = 0; i < (gsize) image->stride * height; i++)
    image->pixels[i] = (i % 4 == 3) ? 255 : (guint8) g_rand_int_range (rand, 0, 256);
  g_rand_free (rand);
  return image;
}

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  g_autoptr (GError) error = NULL;
  fixture->folder = g_dir_make_tmp ("test-document-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *path = g_build_filename (fixture->folder, "photo.png", NULL);
  fixture->picture_file = g_file_new_for_path (path);
  fixture->picture = make_picture (48, 32, 1);
  g_assert_true (ib_image_io_save_png (fixture->picture, NULL, fixture->picture_file, NULL, &error));
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  data)
{
  g_autoptr (GDir) dir = g_dir_open (fixture->folder, 0, NULL);
  const char *name;
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (fixture->folder, name, NULL);
      g_unlink (path);
    }
  g_rmdir (fixture->folder);
  g_free (fixture->folder);
  g_object_unref (fixture->picture_file);
  ib_edit_image_unref (fixture->picture);
}

static GFile *
child (Fixture    *fixture,
       const char *name)
{
  g_autofree char *path = g_build_filename (fixture->folder, name, NULL);
  return g_file_new_for_path (path);
}

static void
assert_same_pixels (IbEditImage *a,
                    IbEditImage *b)
{
  g_assert_cmpint (a->width, ==, b->width);
  g_assert_cmpint (a->height, ==, b->height);
  g_assert_cmpmem (a->pixels, (gsize) a->stride * a->height, b->pixels, (gsize) b->stride * b->height);
}

static char *
mask_hash (IbMask *mask)
{
  int stride;
  const guint8 *data = ib_mask_get_data (mask, &stride);
  return ib_edit_hash_pixels (data, ib_mask_get_width (mask), ib_mask_get_height (mask), stride, 1);
}

static void
async_done_cb (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

static GAsyncResult *
wait_for (GAsyncResult **slot)
{
  while (*slot == NULL)
    g_main_context_iteration (NULL, TRUE);
  return *slot;
}

static gboolean
save (IbDocument *doc,
      GFile      *file,
      GError    **error)
{
  g_autoptr (GAsyncResult) result = NULL;
  ib_document_save_async (doc, file, NULL, async_done_cb, &result);
  return ib_document_save_finish (doc, wait_for (&result), error);
}

static void
test_open_picture (Fixture       *fixture,
                   gconstpointer  data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (IbDocument) doc = ib_document_new_from_file (fixture->picture_file, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (ib_document_get_title (doc), ==, "photo.png");
  g_assert_null (ib_document_get_file (doc));
  g_assert_true (g_file_equal (ib_document_get_source (doc), fixture->picture_file));
  g_assert_false (ib_document_get_modified (doc));
  g_assert_false (ib_document_can_undo (doc));
  assert_same_pixels (ib_document_get_picture (doc), fixture->picture);
  assert_same_pixels (ib_document_get_original (doc), fixture->picture);
  g_assert_cmpint (ib_mask_get_width (ib_document_get_mask (doc)), ==, 48);
  g_assert_cmpint (ib_mask_get_height (ib_document_get_mask (doc)), ==, 32);
  g_assert_true (ib_mask_is_empty (ib_document_get_mask (doc)));
  GdkTexture *texture = ib_document_get_texture (doc);
  g_assert_cmpint (gdk_texture_get_width (texture), ==, 48);
  g_assert_true (ib_document_get_texture (doc) == texture);

  g_autoptr (GFile) suggested = ib_document_suggest_project_file (doc);
  g_autofree char *suggested_name = g_file_get_basename (suggested);
  g_assert_cmpstr (suggested_name, ==, "photo.ibproj");

  g_assert_null (ib_document_get_load_notice (doc));

  /* An animated GIF (two frames, red then blue): the first frame, and a notice saying so. */
  static const guint8 gif[] = {
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x04, 0x00, 0x04, 0x00, 0x81, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x21, 0xff, 0x0b, 0x4e, 0x45, 0x54, 0x53, 0x43, 0x41, 0x50, 0x45,
    0x32, 0x2e, 0x30, 0x03, 0x01, 0x00, 0x00, 0x00, 0x21, 0xf9, 0x04, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x2c, 0x00,
    0x00, 0x00, 0x00, 0x04, 0x00, 0x04, 0x00, 0x00, 0x08, 0x09, 0x00, 0x01, 0x08, 0x1c, 0x48, 0xb0, 0x20, 0x80,
    0x80, 0x00, 0x21, 0xf9, 0x04, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x04,
    0x00, 0x81, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x09, 0x00, 0x01,
    0x08, 0x1c, 0x48, 0xb0, 0x20, 0x80, 0x80, 0x00, 0x3b
  };
  g_autoptr (GFile) gif_file = child (fixture, "moving.gif");
  g_assert_true (g_file_replace_contents (gif_file, (const char *) gif, sizeof gif, NULL, FALSE, 0, NULL, NULL,
                                          &error));
  g_autoptr (IbDocument) animated = ib_document_new_from_file (gif_file, &error);
  g_assert_no_error (error);
  g_assert_nonnull (strstr (ib_document_get_load_notice (animated), "moving.gif"));
  g_assert_cmpint (ib_document_get_picture (animated)->pixels[0], ==, 255);

  g_autoptr (GFile) missing = child (fixture, "missing.png");
  g_assert_null (ib_document_new_from_file (missing, &error));
  g_assert_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_IO);
  g_assert_nonnull (strstr (error->message, "missing.png"));
  g_clear_error (&error);

  g_autoptr (GdkTexture) pasted_texture = ib_image_io_to_texture (fixture->picture);
  g_autoptr (IbDocument) pasted = ib_document_new_from_texture (pasted_texture, &error);
  g_assert_no_error (error);
  g_assert_true (ib_document_get_modified (pasted));
  g_assert_null (ib_document_get_source (pasted));
  g_assert_null (ib_document_suggest_project_file (pasted));
  assert_same_pixels (ib_document_get_picture (pasted), fixture->picture);
}

static void
changed_cb (IbDocument   *doc,
            int           x,
            int           y,
            int           width,
            int           height,
            GdkRectangle *rect)
{
  *rect = (GdkRectangle) { x, y, width, height };
}

static void
test_steps (Fixture       *fixture,
            gconstpointer  data)
{
  g_autoptr (IbDocument) doc = ib_document_new_from_file (fixture->picture_file, NULL);
  IbMask *mask = ib_document_get_mask (doc);
  GdkRectangle changed = { 0 };
  g_signal_connect (doc, "picture-changed", G_CALLBACK (changed_cb), &changed);

  ib_mask_fill_rectangle (mask, 4, 4, 12, 10, IB_MASK_MODE_PAINT);
  g_assert_true (ib_document_can_undo (doc));
  g_assert_true (ib_document_get_modified (doc));
  g_autofree char *painted = mask_hash (mask);

  /* A result that changes a 5 × 3 block: one step of that block only. */
  g_autoptr (IbEditImage) result = make_picture (48, 32, 1);
  for (int y = 6; y < 9; y++)
    memset (result->pixels + (gsize) y * result->stride + 7 * 4, 0x11, 5 * 4);
  ib_document_apply_result (doc, result, "{\"seed\":\"1\"}");
  IbHistory *history = ib_document_get_history (doc);
  g_assert_cmpint (ib_history_get_n_steps (history), ==, 2);
  GdkRectangle rect;
  ib_history_step_get_rectangle (ib_history_get_step (history, 1), &rect);
  g_assert_true (gdk_rectangle_equal (&rect, &(GdkRectangle) { 7, 6, 5, 3 }));
  g_assert_true (gdk_rectangle_equal (&changed, &rect));
  assert_same_pixels (ib_document_get_picture (doc), result);
  g_assert_cmpstr (ib_document_get_recipe (doc), ==, "{\"seed\":\"1\"}");
  GdkTexture *texture = ib_document_get_texture (doc);

  /* The same picture again changes nothing. */
  ib_document_apply_result (doc, result, "{\"seed\":\"2\"}");
  g_assert_cmpint (ib_history_get_n_steps (history), ==, 2);

  g_assert_true (ib_document_undo (doc));
  assert_same_pixels (ib_document_get_picture (doc), fixture->picture);
  g_assert_null (ib_document_get_recipe (doc));
  g_assert_true (ib_document_get_texture (doc) != texture);
  g_assert_true (ib_document_undo (doc));
  g_assert_true (ib_mask_is_empty (mask));
  g_assert_false (ib_document_undo (doc));
  g_assert_true (ib_document_redo (doc));
  g_autofree char *redone = mask_hash (mask);
  g_assert_cmpstr (redone, ==, painted);
  g_assert_true (ib_document_redo (doc));
  assert_same_pixels (ib_document_get_picture (doc), result);
  g_assert_false (ib_document_redo (doc));

  /* The cap drops the oldest step. */
  ib_history_set_max_bytes (history, 100);
  g_assert_cmpint (ib_history_get_n_steps (history), ==, 1);
}

static void
test_save_and_resume (Fixture       *fixture,
                      gconstpointer  data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (IbDocument) doc = ib_document_new_from_file (fixture->picture_file, NULL);
  IbMask *mask = ib_document_get_mask (doc);
  g_autofree char *source_before = NULL;
  gsize source_length_before, source_length;
  g_assert_true (g_file_load_contents (fixture->picture_file, NULL, &source_before, &source_length_before, NULL,
                                       NULL));

  /* Three strokes and a result; the last stroke undone (it stays redoable across the save). */
  char *hashes[4];
  hashes[0] = mask_hash (mask);
  ib_mask_fill_rectangle (mask, 1, 1, 20, 20, IB_MASK_MODE_PAINT);
  hashes[1] = mask_hash (mask);
  ib_mask_fill_rectangle (mask, 10, 5, 40, 30, IB_MASK_MODE_PAINT);
  hashes[2] = mask_hash (mask);
  g_autoptr (IbEditImage) result = make_picture (48, 32, 2);
  ib_document_apply_result (doc, result, "{\"seed\":\"5\"}");
  ib_mask_invert (mask);
  hashes[3] = mask_hash (mask);
  g_assert_true (ib_document_undo (doc));
  ib_document_set_settings_json (doc, "{\"strength\":2}");
  ib_document_set_model (doc, "/m/default.safetensors", "abc123");

  g_autoptr (GFile) project_file = child (fixture, "photo.ibproj");
  g_assert_true (save (doc, project_file, &error));
  g_assert_no_error (error);
  g_assert_false (ib_document_get_modified (doc));
  g_assert_true (g_file_equal (ib_document_get_file (doc), project_file));
  g_assert_cmpstr (ib_document_get_title (doc), ==, "photo");
  /* The saved document still undoes and redoes (its canvas changes became pixels). */
  g_assert_true (ib_document_redo (doc));
  g_autofree char *again = mask_hash (mask);
  g_assert_cmpstr (again, ==, hashes[3]);
  g_assert_true (ib_document_undo (doc));

  g_autofree char *source_after = NULL;
  g_assert_true (g_file_load_contents (fixture->picture_file, NULL, &source_after, &source_length, NULL, NULL));
  g_assert_cmpmem (source_after, source_length, source_before, source_length_before);

  g_autoptr (IbDocument) resumed = ib_document_new_from_file (project_file, &error);
  g_assert_no_error (error);
  IbMask *resumed_mask = ib_document_get_mask (resumed);
  g_assert_cmpstr (ib_document_get_title (resumed), ==, "photo");
  g_assert_false (ib_document_get_modified (resumed));
  g_assert_true (g_file_equal (ib_document_get_file (resumed), project_file));
  g_assert_true (g_file_equal (ib_document_get_source (resumed), fixture->picture_file));
  g_assert_cmpstr (ib_document_get_recipe (resumed), ==, "{\"seed\":\"5\"}");
  g_assert_cmpstr (ib_document_get_settings_json (resumed), ==, "{\"strength\":2}");
  g_assert_cmpstr (ib_document_get_model_sha256 (resumed), ==, "abc123");
  assert_same_pixels (ib_document_get_picture (resumed), result);
  assert_same_pixels (ib_document_get_original (resumed), fixture->picture);
  g_autofree char *now = mask_hash (resumed_mask);
  g_assert_cmpstr (now, ==, hashes[2]);

  g_assert_true (ib_document_redo (resumed));
  g_autofree char *redone = mask_hash (resumed_mask);
  g_assert_cmpstr (redone, ==, hashes[3]);
  g_assert_true (ib_document_undo (resumed));
  g_assert_true (ib_document_undo (resumed));
  assert_same_pixels (ib_document_get_picture (resumed), fixture->picture);
  for (int i = 2; i >= 1; i--)
    {
      g_autofree char *hash = mask_hash (resumed_mask);
      g_assert_cmpstr (hash, ==, hashes[i]);
      g_assert_true (ib_document_undo (resumed));
    }
  g_autofree char *empty = mask_hash (resumed_mask);
  g_assert_cmpstr (empty, ==, hashes[0]);
  g_assert_false (ib_document_undo (resumed));
  g_assert_true (ib_document_get_modified (resumed));
  for (int i = 0; i < 4; i++)
    g_free (hashes[i]);

  /* Saving as PNG: the recipe goes into its text chunk and the PNG becomes the document's file. */
  g_autoptr (GFile) png_file = child (fixture, "result.PNG");
  g_assert_true (save (doc, png_file, &error));
  IbImageInfo info = { 0 };
  g_autoptr (IbEditImage) png = ib_image_io_load (png_file, &info, NULL, &error);
  g_assert_no_error (error);
  assert_same_pixels (png, result);
  g_assert_cmpstr (info.recipe, ==, "{\"seed\":\"5\"}");
  ib_image_info_clear (&info);
  g_assert_true (g_file_equal (ib_document_get_file (doc), png_file));
}

static void
test_export_and_failure (Fixture       *fixture,
                         gconstpointer  data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (IbDocument) doc = ib_document_new_from_file (fixture->picture_file, NULL);
  ib_mask_fill_rectangle (ib_document_get_mask (doc), 1, 1, 5, 5, IB_MASK_MODE_PAINT);

  g_autoptr (GFile) jpeg_file = child (fixture, "photo.jpg");
  g_autoptr (GAsyncResult) result = NULL;
  ib_document_export_async (doc, jpeg_file, IB_EXPORT_JPEG, 80, NULL, async_done_cb, &result);
  g_assert_true (ib_document_export_finish (doc, wait_for (&result), &error));
  g_assert_no_error (error);
  g_autoptr (IbEditImage) exported = ib_image_io_load (jpeg_file, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (exported->width, ==, 48);
  g_assert_null (ib_document_get_file (doc));
  g_assert_true (ib_document_get_modified (doc));

#ifndef NDEBUG
  /* A full disk: the save fails with a message, the document stays modified and without a file. */
  g_autoptr (GFile) project_file = child (fixture, "photo.ibproj");
  g_setenv ("IMAGEBART_FAULT_WRITE", "100", TRUE);
  g_assert_false (save (doc, project_file, &error));
  g_unsetenv ("IMAGEBART_FAULT_WRITE");
  g_assert_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_NO_SPACE);
  g_assert_true (ib_document_get_modified (doc));
  g_assert_null (ib_document_get_file (doc));
  g_assert_false (g_file_query_exists (project_file, NULL));
#endif
}

/* Disk full and I/O errors at several points of a save of each kind the editor writes (project, PNG with its
 * recipe, exported JPEG): each fails with a message naming the file, the previous file stays byte for byte,
 * and no temporary file is left; without the fault the same write goes through. */
typedef enum
{
  WRITE_PROJECT,
  WRITE_PNG,
  WRITE_JPEG,
} WriteKind;

static gboolean
write_document (IbDocument *doc,
                GFile      *file,
                WriteKind   kind,
                GError    **error)
{
  if (kind != WRITE_JPEG)
    return save (doc, file, error);
  g_autoptr (GAsyncResult) result = NULL;
  ib_document_export_async (doc, file, IB_EXPORT_JPEG, 90, NULL, async_done_cb, &result);
  return ib_document_export_finish (doc, wait_for (&result), error);
}

static int
count_temporary_files (Fixture *fixture)
{
  g_autoptr (GDir) dir = g_dir_open (fixture->folder, 0, NULL);
  int n = 0;
  for (const char *name; (name = g_dir_read_name (dir)) != NULL;)
    n += name[0] == '.';
  return n;
}

static void
test_failed_writes_keep_previous (Fixture       *fixture,
                                  gconstpointer  data)
{
#ifdef NDEBUG
  g_test_skip ("fault injection is compiled only without NDEBUG");
#else
  g_autoptr (GError) error = NULL;
  g_autoptr (IbDocument) first = ib_document_new_from_file (fixture->picture_file, &error);
  g_assert_no_error (error);
  ib_mask_fill_rectangle (ib_document_get_mask (first), 1, 1, 5, 5, IB_MASK_MODE_PAINT);
  g_autoptr (IbEditImage) other_picture = make_picture (48, 32, 9);
  g_autoptr (GFile) other_file = child (fixture, "other.png");
  g_assert_true (ib_image_io_save_png (other_picture, NULL, other_file, NULL, &error));
  g_autoptr (IbDocument) second = ib_document_new_from_file (other_file, &error);
  g_assert_no_error (error);
  ib_mask_fill_rectangle (ib_document_get_mask (second), 10, 4, 30, 20, IB_MASK_MODE_PAINT);

  static const struct
  {
    const char *name;
    WriteKind kind;
  } targets[] = { { "work.ibproj", WRITE_PROJECT }, { "work.png", WRITE_PNG }, { "work.jpg", WRITE_JPEG } };
  /* Bytes written before the fault, and which fault. */
  static const char *faults[] = { "0", "1", "700", "0:EIO", "700:EIO" };

  for (guint t = 0; t < G_N_ELEMENTS (targets); t++)
    {
      g_autoptr (GFile) file = child (fixture, targets[t].name);
      g_assert_true (write_document (first, file, targets[t].kind, &error));
      g_assert_no_error (error);
      g_autoptr (GBytes) previous = g_file_load_bytes (file, NULL, NULL, &error);
      g_assert_no_error (error);
      for (guint f = 0; f < G_N_ELEMENTS (faults); f++)
        {
          g_setenv ("IMAGEBART_FAULT_WRITE", faults[f], TRUE);
          g_assert_false (write_document (second, file, targets[t].kind, &error));
          g_unsetenv ("IMAGEBART_FAULT_WRITE");
          int expected = strstr (faults[f], "EIO") != NULL ? IB_DOCUMENT_ERROR_IO : IB_DOCUMENT_ERROR_NO_SPACE;
          g_assert_error (error, IB_DOCUMENT_ERROR, expected);
          g_assert_nonnull (strstr (error->message, targets[t].name));
          g_clear_error (&error);
          g_autoptr (GBytes) now = g_file_load_bytes (file, NULL, NULL, &error);
          g_assert_no_error (error);
          g_assert_true (g_bytes_equal (now, previous));
          g_assert_cmpint (count_temporary_files (fixture), ==, 0);
        }
      g_assert_true (write_document (second, file, targets[t].kind, &error));
      g_assert_no_error (error);
      g_autoptr (GBytes) replaced = g_file_load_bytes (file, NULL, NULL, &error);
      g_assert_false (g_bytes_equal (replaced, previous));
    }
#endif
}

int
main (int   argc,
      char *argv[])
{
  ib_studio_init ();
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/app/document/open-picture", Fixture, NULL, fixture_set_up, test_open_picture, fixture_tear_down);
  g_test_add ("/app/document/steps", Fixture, NULL, fixture_set_up, test_steps, fixture_tear_down);
  g_test_add ("/app/document/save-and-resume", Fixture, NULL, fixture_set_up, test_save_and_resume,
              fixture_tear_down);
  g_test_add ("/app/document/failed-writes-keep-previous", Fixture, NULL, fixture_set_up,
              test_failed_writes_keep_previous, fixture_tear_down);
  g_test_add ("/app/document/export-and-failure", Fixture, NULL, fixture_set_up, test_export_and_failure,
              fixture_tear_down);
  return g_test_run ();
}
