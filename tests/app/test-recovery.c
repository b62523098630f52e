/* test-recovery.c: IbRecovery: autosave of modified documents only, the list a next start sees (newest
 * first), restore with undo, discard, clean close and saving removing the file, the timer. */
#include <glib/gstdio.h>
#include <string.h>
#include <utime.h>

#include "ib-image-io.h"
#include "ib-recovery.h"
#include "ib-studio.h"

typedef struct
{
  char *folder;
  GFile *recovery_folder;
  GFile *picture_file;
} Fixture;

static void
remove_tree (const char *path)
{
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);
      if (g_file_test (child, G_FILE_TEST_IS_DIR))
        remove_tree (child);
      else
        g_unlink (child);
    }
  g_rmdir (path);
}

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  g_autoptr (GError) error = NULL;
  fixture->folder = g_dir_make_tmp ("test-recovery-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *recovery = g_build_filename (fixture->folder, "state", "recovery", NULL);
  fixture->recovery_folder = g_file_new_for_path (recovery);
  g_autofree char *path = g_build_filename (fixture->folder, "photo.png", NULL);
  fixture->picture_file = g_file_new_for_path (path);
  g_autoptr (IbEditImage) picture = ib_edit_image_new (0, 0, 40, 30);
  for (gsize i = 0; i < (gsize) picture->stride * 30; i++)
    picture->pixels[i] = (guint8) (i * 7);
  g_assert_true (ib_image_io_save_png (picture, NULL, fixture->picture_file, NULL, &error));
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  data)
{
  remove_tree (fixture->folder);
  g_free (fixture->folder);
  g_object_unref (fixture->recovery_folder);
  g_object_unref (fixture->picture_file);
}

static int
count_files (Fixture *fixture)
{
  g_autofree char *path = g_file_get_path (fixture->recovery_folder);
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  int n = 0;
  while (dir != NULL && g_dir_read_name (dir) != NULL)
    n++;
  return n;
}

static char *
mask_hash (IbMask *mask)
{
  int stride;
  const guint8 *data = ib_mask_get_data (mask, &stride);
  return ib_edit_hash_pixels (data, ib_mask_get_width (mask), ib_mask_get_height (mask), stride, 1);
}

static void
test_crash_and_restore (Fixture       *fixture,
                        gconstpointer  data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (IbRecovery) recovery = ib_recovery_new (fixture->recovery_folder);
  g_autoptr (IbDocument) first = ib_document_new_from_file (fixture->picture_file, &error);
  g_autoptr (IbDocument) second = ib_document_new_from_file (fixture->picture_file, &error);
  ib_recovery_add_document (recovery, first);
  ib_recovery_add_document (recovery, second);

  /* Nothing modified, nothing written. */
  g_assert_true (ib_recovery_save_now (recovery, &error));
  g_assert_cmpint (count_files (fixture), ==, 0);

  ib_mask_fill_rectangle (ib_document_get_mask (first), 2, 2, 10, 10, IB_MASK_MODE_PAINT);
  g_assert_true (ib_recovery_save_now (recovery, &error));
  g_assert_no_error (error);
  g_assert_cmpint (count_files (fixture), ==, 1);
  g_usleep (2000);
  ib_mask_fill_rectangle (ib_document_get_mask (second), 5, 5, 30, 20, IB_MASK_MODE_PAINT);
  g_assert_true (ib_recovery_save_now (recovery, &error));
  g_assert_cmpint (count_files (fixture), ==, 2);
  g_autofree char *second_mask = mask_hash (ib_document_get_mask (second));

  /* This session's own files are not offered. */
  g_autoptr (GPtrArray) own = ib_recovery_list (recovery);
  g_assert_cmpuint (own->len, ==, 0);

  /* The "crash": the recovery object goes without closing its documents; a new start lists both. */
  g_clear_object (&recovery);
  g_assert_cmpint (count_files (fixture), ==, 2);
  g_autoptr (IbRecovery) next_start = ib_recovery_new (fixture->recovery_folder);
  g_autoptr (GPtrArray) entries = ib_recovery_list (next_start);
  g_assert_cmpuint (entries->len, ==, 2);
  IbRecoveryEntry *newest = g_ptr_array_index (entries, 0), *oldest = g_ptr_array_index (entries, 1);
  g_assert_cmpint (g_date_time_compare (newest->time, oldest->time), >, 0);
  g_assert_cmpstr (newest->title, ==, "photo.png");
  g_autofree char *source_uri = g_file_get_uri (fixture->picture_file);
  g_assert_cmpstr (newest->original_uri, ==, source_uri);
  g_autoptr (GDateTime) now = g_date_time_new_now_local ();
  g_assert_cmpint (g_date_time_difference (now, newest->time), <, 60 * G_USEC_PER_SEC);

  g_autoptr (IbDocument) restored = ib_recovery_restore (next_start, newest, &error);
  g_assert_no_error (error);
  g_assert_true (ib_document_get_modified (restored));
  g_assert_null (ib_document_get_file (restored));
  g_assert_true (g_file_equal (ib_document_get_source (restored), fixture->picture_file));
  g_assert_cmpstr (ib_document_get_title (restored), ==, "photo.png");
  g_autofree char *restored_mask = mask_hash (ib_document_get_mask (restored));
  g_assert_cmpstr (restored_mask, ==, second_mask);
  g_assert_true (ib_document_undo (restored));
  g_assert_true (ib_mask_is_empty (ib_document_get_mask (restored)));

  /* The shell watches the restored document, then discards the entry. */
  ib_recovery_add_document (next_start, restored);
  g_assert_true (ib_recovery_discard (next_start, newest, &error));
  g_assert_true (ib_recovery_discard (next_start, oldest, &error));
  g_assert_no_error (error);
  g_assert_cmpint (count_files (fixture), ==, 0);
  g_autoptr (GPtrArray) none = ib_recovery_list (next_start);
  g_assert_cmpuint (none->len, ==, 0);

  /* A restored document is modified: it is autosaved again; closing it cleanly removes that file. */
  g_assert_true (ib_recovery_save_now (next_start, &error));
  g_assert_cmpint (count_files (fixture), ==, 1);
  ib_recovery_remove_document (next_start, restored);
  g_assert_cmpint (count_files (fixture), ==, 0);

  /* Damaged files in the folder are skipped. */
  g_autoptr (GFile) junk = g_file_get_child (fixture->recovery_folder, "junk.ibproj");
  g_assert_true (g_file_replace_contents (junk, "\211IBPROJ\nxx", 10, NULL, FALSE, 0, NULL, NULL, &error));
  g_autoptr (GPtrArray) skipped = ib_recovery_list (next_start);
  g_assert_cmpuint (skipped->len, ==, 0);

  /* A killed autosave's temporary file is removed once it is old; a fresh one may be a write under way. */
  g_autofree char *folder_path = g_file_get_path (fixture->recovery_folder);
  g_autofree char *stale = g_build_filename (folder_path, ".a.ibproj.ABC123", NULL);
  g_autofree char *fresh = g_build_filename (folder_path, ".b.ibproj.DEF456", NULL);
  g_assert_true (g_file_set_contents (stale, "x", 1, NULL));
  g_assert_true (g_file_set_contents (fresh, "x", 1, NULL));
  struct utimbuf old_times = { 1000000000, 1000000000 };
  g_assert_cmpint (g_utime (stale, &old_times), ==, 0);
  g_autoptr (GPtrArray) cleaned = ib_recovery_list (next_start);
  g_assert_cmpuint (cleaned->len, ==, 0);
  g_assert_false (g_file_test (stale, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (fresh, G_FILE_TEST_EXISTS));
}

static void
async_done_cb (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

static gboolean
timeout_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

static void
test_save_and_timer (Fixture       *fixture,
                     gconstpointer  data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (IbRecovery) recovery = ib_recovery_new (fixture->recovery_folder);
  ib_recovery_set_interval (recovery, 1);
  g_assert_cmpuint (ib_recovery_get_interval (recovery), ==, 5);
  g_autoptr (IbDocument) doc = ib_document_new_from_file (fixture->picture_file, &error);
  ib_recovery_add_document (recovery, doc);
  ib_mask_invert (ib_document_get_mask (doc));

  /* The timer autosaves within an interval, on a thread. */
  gboolean timed_out = FALSE;
  guint timeout = g_timeout_add_seconds (12, timeout_cb, &timed_out);
  while (count_files (fixture) == 0 && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  g_assert_false (timed_out);
  g_source_remove (timeout);

  /* Saving the document makes its recovery file pointless. */
  g_autoptr (GFile) project = g_file_new_build_filename (fixture->folder, "photo.ibproj", NULL);
  g_autoptr (GAsyncResult) result = NULL;
  ib_document_save_async (doc, project, NULL, async_done_cb, &result);
  while (result == NULL)
    g_main_context_iteration (NULL, TRUE);
  g_assert_true (ib_document_save_finish (doc, result, &error));
  g_assert_no_error (error);
  /* An autosave still in flight deletes its file when it lands. */
  timed_out = FALSE;
  timeout = g_timeout_add_seconds (10, timeout_cb, &timed_out);
  while (count_files (fixture) != 0 && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  g_assert_false (timed_out);
  g_source_remove (timeout);
  g_assert_true (ib_recovery_save_now (recovery, &error));
  g_assert_cmpint (count_files (fixture), ==, 0);
}

/* The names of the recovery files, sorted. */
static GPtrArray *
recovery_names (Fixture *fixture)
{
  g_autofree char *path = g_file_get_path (fixture->recovery_folder);
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  const char *name;
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, (GCompareFunc) g_strcmp0);
  return names;
}

/* Two instances at once (GApplication cannot make them one without D-Bus): neither offers the other's
 * autosaves while it runs. A killed instance's lock file stays but nobody holds it: its files are offered,
 * and so are a running one's once it ends without closing its documents. */
static void
test_other_instance (Fixture       *fixture,
                     gconstpointer  data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (IbRecovery) running = ib_recovery_new (fixture->recovery_folder);
  g_autoptr (IbRecovery) other = ib_recovery_new (fixture->recovery_folder);
  g_autoptr (IbDocument) doc = ib_document_new_from_file (fixture->picture_file, &error);
  ib_recovery_add_document (running, doc);
  ib_mask_fill_rectangle (ib_document_get_mask (doc), 2, 2, 10, 10, IB_MASK_MODE_PAINT);
  g_assert_true (ib_recovery_save_now (running, &error));
  g_assert_no_error (error);
  g_autoptr (GPtrArray) names = recovery_names (fixture);
  g_assert_cmpuint (names->len, ==, 1);

  g_autoptr (GPtrArray) while_running = ib_recovery_list (other);
  g_assert_cmpuint (while_running->len, ==, 0);

  /* A killed session: its file and its lock file, which no process holds. */
  g_autoptr (GFile) live_file = g_file_get_child (fixture->recovery_folder, g_ptr_array_index (names, 0));
  g_autoptr (GFile) killed_file = g_file_get_child (fixture->recovery_folder, "killed-session_1.ibproj");
  g_assert_true (g_file_copy (live_file, killed_file, G_FILE_COPY_NONE, NULL, NULL, NULL, &error));
  g_autofree char *lock = g_build_filename (fixture->folder, "state", "sessions", "killed-session.lock", NULL);
  g_assert_true (g_file_set_contents (lock, "", 0, &error));
  g_autoptr (GPtrArray) with_killed = ib_recovery_list (other);
  g_assert_cmpuint (with_killed->len, ==, 1);
  g_assert_true (g_file_equal (((IbRecoveryEntry *) g_ptr_array_index (with_killed, 0))->file, killed_file));

  g_clear_object (&running);
  g_autoptr (GPtrArray) after = ib_recovery_list (other);
  g_assert_cmpuint (after->len, ==, 2);
}

int
main (int   argc,
      char *argv[])
{
  ib_studio_init ();
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/app/recovery/crash-and-restore", Fixture, NULL, fixture_set_up, test_crash_and_restore,
              fixture_tear_down);
  g_test_add ("/app/recovery/save-and-timer", Fixture, NULL, fixture_set_up, test_save_and_timer,
              fixture_tear_down);
  g_test_add ("/app/recovery/other-instance", Fixture, NULL, fixture_set_up, test_other_instance,
              fixture_tear_down);
  return g_test_run ();
}
