/* test-project-file.c: .ibproj round trips, and damaged or hostile files failing cleanly: every truncation,
 * random byte flips, and hand-made lies in the table of contents. */
#include <glib/gstdio.h>
#include <string.h>

#include "ib-project-file.h"
#include "ib-studio.h"

static IbEditImage *
random_image (GRand *rand,
              int    x,
              int    y,
              int    width,
              int    height)
{
  IbEditImage *image = ib_edit_image_new (x, y, width, height);
  for (gsize i = 0; i < (gsize) image->stride * height; i++)
    image->pixels[i] = (guint8) g_rand_int_range (rand, 0, 256);
  return image;
}

static GBytes *
random_bytes (GRand *rand,
              gsize  length)
{
  guint8 *data = g_malloc (length);
  for (gsize i = 0; i < length; i++)
    data[i] = (guint8) g_rand_int_range (rand, 0, 4) * 85;
  return g_bytes_new_take (data, length);
}

static IbProject *
make_project (int width,
              int height)
{
  GRand *rand = g_rand_new_with_seed (width * 1000 + height);
  IbProject *project = ib_project_new ();
  project->picture = random_image (rand, 0, 0, width, height);
  project->original = random_image (rand, 0, 0, width, height);
  project->mask = random_bytes (rand, (gsize) width * height);
  project->title = g_strdup ("Ferienbild “Brücke”");
  project->source_uri = g_strdup ("file:///home/user/bridge.jpg");
  project->recipe = g_strdup ("{\"format\":\"imagebart-studio-recipe\",\"seed\":\"7\"}");
  project->settings = g_strdup ("{\"strength\":3,\"prompt\":\"a bridge\"}");
  project->model_path = g_strdup ("/models/default.safetensors");
  project->model_sha256 = g_strdup ("0123abcd");

  GdkRectangle rect = { 1, 2, width / 2, height / 2 };
  g_autoptr (GBytes) before = random_bytes (rand, (gsize) rect.width * rect.height);
  g_autoptr (GBytes) after = random_bytes (rand, (gsize) rect.width * rect.height);
  g_autoptr (IbEditImage) patch_before = random_image (rand, 2, 1, width / 3, height / 3);
  g_autoptr (IbEditImage) patch_after = random_image (rand, 2, 1, width / 3, height / 3);
  project->n_steps = 3;
  project->n_done = 2;
  project->steps = g_new0 (IbHistoryStep *, 3);
  project->steps[0] = ib_history_step_new_mask_pixels (&rect, before, after);
  project->steps[1] = ib_history_step_new_picture (patch_before, patch_after, NULL, project->recipe);
  project->steps[2] = ib_history_step_new_mask_pixels (&rect, after, before);
  g_rand_free (rand);
  return project;
}

static void
assert_same_image (IbEditImage *a,
                   IbEditImage *b)
{
  g_assert_cmpint (a->x, ==, b->x);
  g_assert_cmpint (a->y, ==, b->y);
  g_assert_cmpint (a->width, ==, b->width);
  g_assert_cmpint (a->height, ==, b->height);
  g_assert_cmpmem (a->pixels, (gsize) a->stride * a->height, b->pixels, (gsize) b->stride * b->height);
}

static void
assert_same_bytes (GBytes *a,
                   GBytes *b)
{
  g_assert_true (g_bytes_equal (a, b));
}

static void
test_round_trip (void)
{
  g_autoptr (IbProject) project = make_project (37, 29);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) bytes = ib_project_file_save_to_bytes (project, &error);
  g_assert_no_error (error);
  g_assert_true (ib_project_file_has_magic (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes)));

  g_autoptr (IbProject) loaded = ib_project_file_load_from_bytes (bytes, "test.ibproj", &error);
  g_assert_no_error (error);
  assert_same_image (loaded->picture, project->picture);
  assert_same_image (loaded->original, project->original);
  assert_same_bytes (loaded->mask, project->mask);
  g_assert_cmpstr (loaded->title, ==, project->title);
  g_assert_cmpstr (loaded->source_uri, ==, project->source_uri);
  g_assert_null (loaded->file_uri);
  g_assert_cmpstr (loaded->recipe, ==, project->recipe);
  g_assert_cmpstr (loaded->settings, ==, "{\"strength\":3,\"prompt\":\"a bridge\"}");
  g_assert_cmpstr (loaded->model_path, ==, project->model_path);
  g_assert_cmpstr (loaded->model_sha256, ==, project->model_sha256);
  g_assert_cmpint (loaded->saved_time, ==, project->saved_time);
  g_assert_cmpint (loaded->saved_time, >, 0);
  g_assert_cmpuint (loaded->n_steps, ==, 3);
  g_assert_cmpuint (loaded->n_done, ==, 2);
  for (guint i = 0; i < 3; i++)
    {
      IbHistoryStep *a = project->steps[i], *b = loaded->steps[i];
      GdkRectangle ra, rb;
      ib_history_step_get_rectangle (a, &ra);
      ib_history_step_get_rectangle (b, &rb);
      g_assert_true (gdk_rectangle_equal (&ra, &rb));
      g_assert_cmpint (ib_history_step_get_kind (a), ==, ib_history_step_get_kind (b));
      if (ib_history_step_get_kind (a) == IB_HISTORY_STEP_MASK)
        {
          assert_same_bytes (ib_history_step_get_mask_before (a), ib_history_step_get_mask_before (b));
          assert_same_bytes (ib_history_step_get_mask_after (a), ib_history_step_get_mask_after (b));
        }
      else
        {
          assert_same_image (ib_history_step_get_picture_before (a), ib_history_step_get_picture_before (b));
          assert_same_image (ib_history_step_get_picture_after (a), ib_history_step_get_picture_after (b));
          g_assert_null (ib_history_step_get_recipe_before (b));
          g_assert_cmpstr (ib_history_step_get_recipe_after (b), ==, project->recipe);
        }
    }

  /* Through a file, atomically written. */
  g_autofree char *folder = g_dir_make_tmp ("test-project-XXXXXX", &error);
  g_autofree char *path = g_build_filename (folder, "p.ibproj", NULL);
  g_autoptr (GFile) file = g_file_new_for_path (path);
  g_assert_true (ib_project_file_save (project, file, NULL, &error));
  g_assert_no_error (error);
  g_autoptr (IbProject) from_file = ib_project_file_load (file, NULL, &error);
  g_assert_no_error (error);
  assert_same_image (from_file->picture, project->picture);
  g_assert_cmpint (g_unlink (path), ==, 0);
  g_assert_cmpint (g_rmdir (folder), ==, 0);

  /* Invalid JSON is refused when saving, not written. */
  g_free (project->settings);
  project->settings = g_strdup ("{not json");
  g_assert_null (ib_project_file_save_to_bytes (project, &error));
  g_assert_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_INVALID);
}

static void
assert_fails_cleanly (GBytes *bytes)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (IbProject) loaded = ib_project_file_load_from_bytes (bytes, "bad.ibproj", &error);
  g_assert_null (loaded);
  g_assert_nonnull (error);
  g_assert_true (error->domain == IB_DOCUMENT_ERROR);
  g_assert_nonnull (strstr (error->message, "bad.ibproj"));
}

static void
test_truncations (void)
{
  g_autoptr (IbProject) project = make_project (9, 7);
  g_autoptr (GBytes) bytes = ib_project_file_save_to_bytes (project, NULL);
  gsize length = g_bytes_get_size (bytes);
  for (gsize cut = 0; cut < length; cut++)
    {
      g_autoptr (GBytes) part = g_bytes_new_from_bytes (bytes, 0, cut);
      assert_fails_cleanly (part);
    }
}

static void
test_byte_flips (void)
{
  g_autoptr (IbProject) project = make_project (9, 7);
  g_autoptr (GBytes) bytes = ib_project_file_save_to_bytes (project, NULL);
  gsize length;
  const guint8 *data = g_bytes_get_data (bytes, &length);
  GRand *rand = g_rand_new_with_seed (2024);
  int n_loaded = 0;
  for (int round = 0; round < 3000; round++)
    {
      guint8 *copy = g_memdup2 (data, length);
      int n_flips = g_rand_int_range (rand, 1, 5);
      for (int f = 0; f < n_flips; f++)
        copy[g_rand_int_range (rand, 0, length)] ^= (guint8) g_rand_int_range (rand, 1, 256);
      g_autoptr (GBytes) damaged = g_bytes_new_take (copy, length);
      g_autoptr (GError) error = NULL;
      g_autoptr (IbProject) loaded = ib_project_file_load_from_bytes (damaged, "flipped.ibproj", &error);
      /* A flip in a text field or JSON whitespace may still load; then the pixels are still checked. */
      if (loaded != NULL)
        {
          n_loaded++;
          g_assert_no_error (error);
          assert_same_image (loaded->picture, project->picture);
          assert_same_bytes (loaded->mask, project->mask);
        }
      else
        g_assert_true (error != NULL && error->domain == IB_DOCUMENT_ERROR);
    }
  g_test_message ("%d of 3000 damaged files still loaded (flips in text or JSON layout)", n_loaded);
  g_assert_cmpint (n_loaded, <, 600);
  g_rand_free (rand);
}

/* The file with the first occurrence of old in its table of contents replaced by new. */
static GBytes *
edit_toc (GBytes     *bytes,
          const char *old,
          const char *new)
{
  gsize length;
  const guint8 *data = g_bytes_get_data (bytes, &length);
  guint32 toc_length;
  memcpy (&toc_length, data + 12, 4);
  toc_length = GUINT32_FROM_LE (toc_length);
  g_autofree char *toc = g_strndup ((const char *) data + 16, toc_length);
  char *at = strstr (toc, old);
  g_assert_nonnull (at);
  g_autofree char *head = g_strndup (toc, at - toc);
  g_autofree char *edited = g_strconcat (head, new, at + strlen (old), NULL);
  guint32 new_length = GUINT32_TO_LE ((guint32) strlen (edited));

  GByteArray *out = g_byte_array_new ();
  g_byte_array_append (out, data, 12);
  g_byte_array_append (out, (const guint8 *) &new_length, 4);
  g_byte_array_append (out, (const guint8 *) edited, strlen (edited));
  g_byte_array_append (out, data + 16 + toc_length, length - 16 - toc_length);
  return g_byte_array_free_to_bytes (out);
}

static GBytes *
edit_header (GBytes *bytes,
             gsize   offset,
             guint32 value)
{
  gsize length;
  const guint8 *data = g_bytes_get_data (bytes, &length);
  guint8 *copy = g_memdup2 (data, length);
  value = GUINT32_TO_LE (value);
  memcpy (copy + offset, &value, 4);
  return g_bytes_new_take (copy, length);
}

static void
test_hostile (void)
{
  g_autoptr (IbProject) project = make_project (9, 7);
  g_autoptr (GBytes) bytes = ib_project_file_save_to_bytes (project, NULL);
  g_autoptr (GError) error = NULL;

  /* The edit helper itself leaves a valid file valid. */
  g_autoptr (GBytes) same = edit_toc (bytes, "\"title\"", "\"title\"");
  g_autoptr (IbProject) loaded = ib_project_file_load_from_bytes (same, "same.ibproj", &error);
  g_assert_no_error (error);

  const char *lies[][2] = {
    { "\"width\":9", "\"width\":0" },
    { "\"width\":9", "\"width\":-9" },
    { "\"width\":9", "\"width\":32769" },
    { "\"width\":9", "\"width\":10" },
    { "\"width\":9", "\"width\":9.5" },
    { "\"width\":9", "\"width\":\"9\"" },
    { "\"height\":7", "\"height\":30000,\"h\":7" },
    { "\"picture\":0", "\"picture\":99" },
    { "\"picture\":0", "\"picture\":-1" },
    { "\"mask\":2", "\"mask\":0" },
    { "\"offset\":0", "\"offset\":9223372036854775807" },
    { "\"offset\":0", "\"offset\":-1" },
    { "\"length\":", "\"length\":9223372036854775807,\"l\":" },
    { "\"size\":252", "\"size\":2520000000" },
    { "\"encoding\":\"zlib\"", "\"encoding\":\"gzip\"" },
    { "\"encoding\":\"zlib\"", "\"encoding\":7" },
    { "\"encoding\":\"zlib\",\"sha256\":\"", "\"encoding\":\"zlib\",\"sha256\":\"0" },
    { "\"done\":2", "\"done\":4" },
    { "\"done\":2", "\"done\":-1" },
    { "\"kind\":\"mask\"", "\"kind\":\"brush\"" },
    { "\"kind\":\"mask\"", "\"kind\":[]" },
    { "\"x\":1", "\"x\":8" },
    { "\"x\":1", "\"x\":-1" },
    { "\"x\":1", "\"x\":2147483647" },
    { "\"steps\":[", "\"steps\":{\"a\":[" },
    { "\"chunks\":[", "\"chunks\":{}, \"c\":[" },
    { "\"format\":\"imagebart-studio-project\"", "\"format\":\"other\"" },
    { "\"title\":\"", "\"title\":{\"a\":\"" },
    { "{", "[" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (lies); i++)
    {
      g_test_message ("lie %u: %s -> %s", i, lies[i][0], lies[i][1]);
      g_autoptr (GBytes) edited = edit_toc (bytes, lies[i][0], lies[i][1]);
      assert_fails_cleanly (edited);
    }

  /* Header lies: the table's length beyond the file, zero, huge; another version; no magic. */
  guint32 lengths[] = { 0, G_MAXUINT32, (guint32) g_bytes_get_size (bytes) };
  for (guint i = 0; i < G_N_ELEMENTS (lengths); i++)
    {
      g_autoptr (GBytes) edited = edit_header (bytes, 12, lengths[i]);
      assert_fails_cleanly (edited);
    }
  g_autoptr (GBytes) newer = edit_header (bytes, 8, 2);
  g_assert_null (ib_project_file_load_from_bytes (newer, "newer.ibproj", &error));
  g_assert_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_FORMAT);
  g_clear_error (&error);
  g_autoptr (GBytes) png = g_bytes_new_static ("\211PNG\r\n\032\n0000000000000000", 24);
  g_assert_null (ib_project_file_load_from_bytes (png, "picture.png", &error));
  g_assert_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_FORMAT);
}

int
main (int   argc,
      char *argv[])
{
  ib_studio_init ();
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/app/project-file/round-trip", test_round_trip);
  g_test_add_func ("/app/project-file/truncations", test_truncations);
  g_test_add_func ("/app/project-file/byte-flips", test_byte_flips);
  g_test_add_func ("/app/project-file/hostile", test_hostile);
  return g_test_run ();
}
