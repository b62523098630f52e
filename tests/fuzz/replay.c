/* replay.c: a fuzz harness as a normal test: every file of the given folders (the seed corpus and the
 * inputs of crashes found and fixed) goes through LLVMFuzzerTestOneInput once, one GTest case per file, in
 * the normal and the sanitizer builds, where libFuzzer is not linked. */
#include <glib.h>
#include <stdint.h>

#include "fuzz-common.h"

static void
replay_file (gconstpointer data)
{
  const char *path = data;
  g_autofree char *contents = NULL;
  gsize length;
  g_autoptr (GError) error = NULL;

  g_assert_true (g_file_get_contents (path, &contents, &length, &error));
  g_assert_no_error (error);
  g_assert_cmpint (LLVMFuzzerTestOneInput ((const uint8_t *) contents, length), ==, 0);
}

static void
add_folder (const char *name,
            const char *folder)
{
  g_autoptr (GDir) dir = g_dir_open (folder, 0, NULL);
  g_autoptr (GPtrArray) files = g_ptr_array_new ();
  const char *entry;

  g_autofree char *parent = g_path_get_dirname (folder);
  g_autofree char *kind = g_path_get_basename (parent);     /* corpus or regressions */

  if (dir == NULL)
    return;   /* no regressions kept yet */
  while ((entry = g_dir_read_name (dir)) != NULL)
    if (entry[0] != '.')
      g_ptr_array_add (files, (gpointer) g_intern_string (entry));
  g_ptr_array_sort (files, (GCompareFunc) g_strcmp0);
  for (guint i = 0; i < files->len; i++)
    {
      const char *file = g_ptr_array_index (files, i);
      g_autofree char *test_path = g_strdup_printf ("/fuzz/%s/%s/%s", name, kind, file);
      g_test_add_data_func_full (test_path, g_build_filename (folder, file, NULL), replay_file, g_free);
    }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  if (argc < 3)
    g_error ("usage: %s NAME FOLDER...", argv[0]);
  for (int i = 2; i < argc; i++)
    add_folder (argv[1], argv[i]);
  return g_test_run ();
}
