/* test-data-files.c: the desktop integration files against what the rest of the editor relies on: the
 * GSettings schema against contract 5, the shortcuts window against app/README.md's action table, the About
 * window, the icons in the GResource and the project file's MIME type. The validators of distributions
 * (glib-compile-schemas --strict, desktop-file-validate, appstreamcli) run as tests in data/meson.build. */
#include <adwaita.h>
#include <glib/gstdio.h>
#include <string.h>

#include "ib-about.h"
#include "ib-project-file.h"
#include "ib-studio-config.h"
#include "ib-studio.h"

#define RESOURCE_PREFIX "/org/imagebart/Studio"

static char *
source_path (const char *relative)
{
  const char *root = g_getenv ("IMAGEBART_SOURCE_ROOT");

  g_assert_nonnull (root);
  return g_build_filename (root, relative, NULL);
}

/* Schema: contract 5 in the editor issue, key by key. */

typedef struct
{
  const char *name;
  const char *type;
  const char *default_value;  /* GVariant text */
  const char *min;            /* NULL: no range */
  const char *max;
} KeySpec;

static const KeySpec contract_keys[] = {
  { "autosave-interval", "i", "30", "5", "600" },
  { "default-feather", "d", "4.0", "0.0", "256.0" },
  { "default-strength", "i", "0", "0", "16" },
  { "default-variants", "i", "1", "1", "16" },
  { "engine", "s", "'auto'", NULL, NULL },
  { "grid-colour", "s", "'#3584e4'", NULL, NULL },
  { "history-memory-mib", "i", "512", "16", "16384" },
  { "jpeg-quality", "i", "92", "1", "100" },
  { "mask-colour", "s", "'#e01b24'", NULL, NULL },
  { "mask-opacity", "d", "0.5", "0.0", "1.0" },
  { "model-path", "s", "''", NULL, NULL },
  { "recent-models", "as", "@as []", NULL, NULL },
  { "threads", "i", "0", "0", "256" },
  { "window-height", "i", "860", NULL, NULL },
  { "window-maximized", "b", "false", NULL, NULL },
  { "window-width", "i", "1280", NULL, NULL },
};

static GSettingsSchema *
lookup_build_schema (void)
{
  const char *dir = g_getenv ("GSETTINGS_SCHEMA_DIR");
  g_autoptr(GSettingsSchemaSource) source = NULL;
  g_autoptr(GError) error = NULL;
  GSettingsSchema *schema;

  g_assert_nonnull (dir);
  /* Only the build folder's compiled schema: an installed older copy must not hide a mistake. */
  source = g_settings_schema_source_new_from_directory (dir, NULL, TRUE, &error);
  g_assert_no_error (error);
  schema = g_settings_schema_source_lookup (source, APP_ID, FALSE);
  g_assert_nonnull (schema);
  return schema;
}

static void
test_schema_contract (void)
{
  g_autoptr(GSettingsSchema) schema = lookup_build_schema ();
  g_auto(GStrv) keys = g_settings_schema_list_keys (schema);

  g_assert_cmpstr (g_settings_schema_get_path (schema), ==, "/org/imagebart/Studio/");
  g_assert_cmpuint (g_strv_length (keys), ==, G_N_ELEMENTS (contract_keys));

  for (gsize i = 0; i < G_N_ELEMENTS (contract_keys); i++)
    {
      const KeySpec *spec = &contract_keys[i];
      g_autoptr(GSettingsSchemaKey) key = NULL;
      g_autoptr(GVariant) expected = NULL;
      g_autoptr(GVariant) actual = NULL;
      g_autoptr(GVariant) range = NULL;
      g_autoptr(GVariant) range_value = NULL;
      g_autofree char *range_type = NULL;
      const GVariantType *type;

      g_test_message ("key %s", spec->name);
      g_assert_true (g_settings_schema_has_key (schema, spec->name));
      key = g_settings_schema_get_key (schema, spec->name);
      type = g_settings_schema_key_get_value_type (key);
      g_assert_cmpstr (g_variant_type_peek_string (type), ==, spec->type);

      expected = g_variant_parse (type, spec->default_value, NULL, NULL, NULL);
      g_assert_nonnull (expected);
      actual = g_settings_schema_key_get_default_value (key);
      g_assert_true (g_variant_equal (expected, actual));

      g_assert_nonnull (g_settings_schema_key_get_summary (key));
      g_assert_cmpstr (g_settings_schema_key_get_summary (key), !=, "");
      g_assert_nonnull (g_settings_schema_key_get_description (key));
      g_assert_cmpstr (g_settings_schema_key_get_description (key), !=, "");

      range = g_settings_schema_key_get_range (key);
      g_variant_get (range, "(sv)", &range_type, &range_value);
      if (spec->min == NULL)
        {
          g_assert_cmpstr (range_type, ==, "type");
        }
      else
        {
          g_autoptr(GVariant) min = g_variant_parse (type, spec->min, NULL, NULL, NULL);
          g_autoptr(GVariant) max = g_variant_parse (type, spec->max, NULL, NULL, NULL);
          g_autoptr(GVariant) schema_min = NULL;
          g_autoptr(GVariant) schema_max = NULL;

          g_assert_cmpstr (range_type, ==, "range");
          schema_min = g_variant_get_child_value (range_value, 0);
          schema_max = g_variant_get_child_value (range_value, 1);
          g_assert_true (g_variant_equal (min, schema_min));
          g_assert_true (g_variant_equal (max, schema_max));
        }
    }
}

/* The defaults are usable as they are: colours parse, GSettings accepts them through the memory backend. */
static void
test_schema_defaults (void)
{
  g_autoptr(GSettingsSchema) schema = lookup_build_schema ();
  g_autoptr(GSettings) settings = g_settings_new_full (schema, NULL, NULL);
  g_autofree char *mask_colour = g_settings_get_string (settings, "mask-colour");
  g_autofree char *grid_colour = g_settings_get_string (settings, "grid-colour");
  g_autoptr(GSettingsSchemaKey) quality = g_settings_schema_get_key (schema, "jpeg-quality");
  g_autoptr(GVariant) too_high = g_variant_ref_sink (g_variant_new_int32 (101));
  GdkRGBA rgba;

  g_assert_true (gdk_rgba_parse (&rgba, mask_colour));
  g_assert_true (gdk_rgba_parse (&rgba, grid_colour));
  /* The range is enforced, as the preferences dialog relies on. */
  g_assert_false (g_settings_schema_key_range_check (quality, too_high));
  g_assert_true (g_settings_set_int (settings, "jpeg-quality", 100));
  g_assert_cmpint (g_settings_get_int (settings, "jpeg-quality"), ==, 100);
  g_settings_reset (settings, "jpeg-quality");
  g_assert_cmpint (g_settings_get_int (settings, "jpeg-quality"), ==, 92);
}

/* Shortcuts: every row of app/README.md's table against ui/ib-shortcuts-window.ui. */

static int
compare_strings (gconstpointer a,
                 gconstpointer b)
{
  return g_strcmp0 (*(char * const *) a, *(char * const *) b);
}

/* "Shift+Ctrl+Z" (README notation) -> the canonical GTK accelerator name, or NULL when it is no key. */
static char *
readme_accelerator_name (const char *text)
{
  g_auto(GStrv) parts = NULL;
  GdkModifierType mods = 0;
  const char *key;
  guint keyval;
  guint n;

  /* "Ctrl++" is not used: the README names the key "plus". */
  parts = g_strsplit (text, "+", -1);
  n = g_strv_length (parts);
  if (n == 0)
    return NULL;
  for (guint i = 0; i + 1 < n; i++)
    {
      if (g_str_equal (parts[i], "Ctrl"))
        mods |= GDK_CONTROL_MASK;
      else if (g_str_equal (parts[i], "Shift"))
        mods |= GDK_SHIFT_MASK;
      else if (g_str_equal (parts[i], "Alt"))
        mods |= GDK_ALT_MASK;
      else
        return NULL;
    }
  key = parts[n - 1];
  if (g_utf8_strlen (key, -1) == 1)
    keyval = gdk_unicode_to_keyval (g_utf8_get_char (key));
  else
    keyval = gdk_keyval_from_name (key);
  if (keyval == 0 || keyval == GDK_KEY_VoidSymbol || (keyval & 0x01000000) != 0)
    return NULL;
  return gtk_accelerator_name (gdk_keyval_to_lower (keyval), mods);
}

/* A "<Control>z <Shift><Control>z" property -> sorted canonical names. */
static char *
window_accelerators (const char *accelerator)
{
  g_auto(GStrv) items = g_strsplit (accelerator, " ", -1);
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; items[i] != NULL; i++)
    {
      guint keyval = 0;
      GdkModifierType mods = 0;

      if (items[i][0] == '\0')
        continue;
      g_assert_true (gtk_accelerator_parse (items[i], &keyval, &mods));
      g_ptr_array_add (names, gtk_accelerator_name (gdk_keyval_to_lower (keyval), mods));
    }
  g_ptr_array_sort (names, compare_strings);
  g_ptr_array_add (names, NULL);
  return g_strjoinv (" ", (char **) names->pdata);
}

/* "Ctrl+plus, plus" -> sorted canonical names, joined by spaces. */
static char *
readme_accelerators (const char *cell)
{
  g_auto(GStrv) items = g_strsplit (cell, ", ", -1);
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; items[i] != NULL; i++)
    {
      g_autofree char *stripped = g_strstrip (g_strdup (items[i]));
      char *name = readme_accelerator_name (stripped);

      g_assert_nonnull (name);
      g_ptr_array_add (names, name);
    }
  g_ptr_array_sort (names, compare_strings);
  g_ptr_array_add (names, NULL);
  return g_strjoinv (" ", (char **) names->pdata);
}

static char **
split_cells (const char *line)
{
  g_auto(GStrv) raw = g_strsplit (line, "|", -1);
  GPtrArray *cells = g_ptr_array_new ();

  /* "| a | b | c |": the first and last pieces are empty */
  for (guint i = 1; raw[i] != NULL && raw[i + 1] != NULL; i++)
    g_ptr_array_add (cells, g_strstrip (g_strdup (raw[i])));
  g_ptr_array_add (cells, NULL);
  return (char **) g_ptr_array_free (cells, FALSE);
}

/* Parses the table into detailed action name -> accelerators, and the keys of the "(hold)" rows. */
static void
read_readme_table (GHashTable *expected, GHashTable *hold_keys)
{
  g_autofree char *path = source_path ("app/README.md");
  g_autofree char *text = NULL;
  g_auto(GStrv) lines = NULL;
  g_autoptr(GRegex) action_re = g_regex_new ("`([a-z]+\\.[a-z0-9-]+)`", 0, 0, NULL);
  g_autoptr(GRegex) target_re = g_regex_new ("'([a-z0-9-]+)'", 0, 0, NULL);
  gboolean in_table = FALSE;
  g_autoptr(GError) error = NULL;

  g_file_get_contents (path, &text, NULL, &error);
  g_assert_no_error (error);
  lines = g_strsplit (text, "\n", -1);
  for (guint l = 0; lines[l] != NULL; l++)
    {
      g_auto(GStrv) cells = NULL;
      g_auto(GStrv) groups = NULL;
      g_autoptr(GPtrArray) actions = g_ptr_array_new_with_free_func (g_free);
      g_autoptr(GPtrArray) targets = g_ptr_array_new_with_free_func (g_free);
      g_autoptr(GMatchInfo) match = NULL;

      if (g_str_has_prefix (lines[l], "## Actions and shortcuts"))
        {
          in_table = TRUE;
          continue;
        }
      if (!in_table)
        continue;
      if (g_str_has_prefix (lines[l], "## "))
        break;
      if (!g_str_has_prefix (lines[l], "| ") || g_str_has_prefix (lines[l], "| action") ||
          g_str_has_prefix (lines[l], "|---"))
        continue;

      cells = split_cells (lines[l]);
      g_assert_cmpuint (g_strv_length (cells), ==, 3);
      if (cells[1][0] == '\0')
        continue;  /* no accelerator: menus only */

      if (g_str_has_prefix (cells[0], "(hold)"))
        {
          g_auto(GStrv) items = g_strsplit (cells[1], ", ", -1);

          /* "space + drag": the key is what comes before " + " */
          for (guint i = 0; items[i] != NULL; i++)
            {
              g_auto(GStrv) key = g_strsplit (items[i], " + ", 2);
              char *name = readme_accelerator_name (g_strstrip (key[0]));

              if (name != NULL)
                g_hash_table_add (hold_keys, name);
            }
          continue;
        }

      for (g_regex_match (action_re, cells[0], 0, &match); g_match_info_matches (match);
           g_match_info_next (match, NULL))
        g_ptr_array_add (actions, g_match_info_fetch (match, 1));
      g_clear_pointer (&match, g_match_info_free);
      for (g_regex_match (target_re, cells[0], 0, &match); g_match_info_matches (match);
           g_match_info_next (match, NULL))
        g_ptr_array_add (targets, g_match_info_fetch (match, 1));
      g_assert_cmpuint (actions->len, >, 0);

      if (targets->len > 0)
        {
          /* "`canvas.tool` ('brush', ...)" with "B, E, ...": one key per target */
          g_auto(GStrv) keys = g_strsplit (cells[1], ", ", -1);

          g_assert_cmpuint (actions->len, ==, 1);
          g_assert_cmpuint (g_strv_length (keys), ==, targets->len);
          for (guint i = 0; i < targets->len; i++)
            g_hash_table_insert (expected,
                                 g_strdup_printf ("%s::%s", (char *) actions->pdata[0],
                                                  (char *) targets->pdata[i]),
                                 readme_accelerators (keys[i]));
          continue;
        }

      /* "`win.undo` / `win.redo`" with "Ctrl+Z / Shift+Ctrl+Z, Ctrl+Y" */
      groups = g_strsplit (cells[1], " / ", -1);
      g_assert_cmpuint (g_strv_length (groups), ==, actions->len);
      for (guint i = 0; i < actions->len; i++)
        g_hash_table_insert (expected, g_strdup (actions->pdata[i]), readme_accelerators (groups[i]));
    }
  g_assert_true (in_table);
}

static void
test_shortcuts_window (void)
{
  g_autoptr(GHashTable) expected = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr(GHashTable) hold_keys = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GHashTable) hold_found = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GtkBuilder) builder = NULL;
  g_autoptr(GSList) objects = NULL;
  GtkWindow *window;
  GHashTableIter iter;
  gpointer key;

  read_readme_table (expected, hold_keys);
  g_assert_cmpuint (g_hash_table_size (expected), >, 30);
  g_assert_cmpuint (g_hash_table_size (hold_keys), ==, 2);

  builder = gtk_builder_new_from_resource (RESOURCE_PREFIX "/ib-shortcuts-window.ui");
  window = GTK_WINDOW (gtk_builder_get_object (builder, "help_overlay"));
  g_assert_true (GTK_IS_SHORTCUTS_WINDOW (window));

  objects = gtk_builder_get_objects (builder);
  for (GSList *l = objects; l != NULL; l = l->next)
    {
      const char *id;
      g_autofree char *accelerator = NULL;
      g_autofree char *title = NULL;
      g_autofree char *names = NULL;
      const char *want;

      if (!GTK_IS_SHORTCUTS_SHORTCUT (l->data))
        continue;
      id = gtk_buildable_get_buildable_id (GTK_BUILDABLE (l->data));
      g_object_get (l->data, "accelerator", &accelerator, "title", &title, NULL);
      g_test_message ("shortcut %s: %s", id, accelerator);
      g_assert_nonnull (id);
      g_assert_nonnull (title);
      g_assert_cmpstr (title, !=, "");
      g_assert_nonnull (accelerator);
      names = window_accelerators (accelerator);

      if (g_str_has_prefix (id, "hold."))
        {
          g_auto(GStrv) held = g_strsplit (names, " ", -1);

          for (guint i = 0; held[i] != NULL; i++)
            {
              g_assert_true (g_hash_table_contains (hold_keys, held[i]));
              g_hash_table_add (hold_found, g_strdup (held[i]));
            }
          continue;
        }

      want = g_hash_table_lookup (expected, id);
      g_assert_nonnull (want);  /* a shortcut for an action the table does not have */
      g_assert_cmpstr (names, ==, want);
      g_assert_false (g_hash_table_contains (seen, id));
      g_hash_table_add (seen, (gpointer) id);
    }

  /* Every action with an accelerator is listed, and every held key. */
  g_hash_table_iter_init (&iter, expected);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    {
      g_test_message ("README action %s", (char *) key);
      g_assert_true (g_hash_table_contains (seen, key));
    }
  g_assert_cmpuint (g_hash_table_size (hold_found), ==, g_hash_table_size (hold_keys));

  gtk_window_present (window);
  gtk_window_destroy (window);
}

/* The About window and the icons, which uninstalled runs find in the GResource. */

static void
test_about_window (void)
{
  AdwAboutWindow *about = ib_about_window_new ();

  g_assert_cmpstr (adw_about_window_get_version (about), ==, APP_VERSION);
  g_assert_cmpstr (adw_about_window_get_application_icon (about), ==, APP_ID);
  g_assert_cmpstr (adw_about_window_get_application_name (about), !=, "");
  g_assert_cmpstr (adw_about_window_get_developer_name (about), !=, "");
  g_assert_cmpint (adw_about_window_get_license_type (about), ==, GTK_LICENSE_MIT_X11);
  g_assert_true (g_str_has_prefix (adw_about_window_get_website (about), "https://"));
  gtk_window_present (GTK_WINDOW (about));
  gtk_window_destroy (GTK_WINDOW (about));
}

static void
test_icons (void)
{
  struct { const char *resource; int size; } icons[] = {
    { RESOURCE_PREFIX "/icons/scalable/apps/" APP_ID ".svg", 128 },
    { RESOURCE_PREFIX "/icons/symbolic/apps/" APP_ID "-symbolic.svg", 16 },
  };
  GtkIconTheme *theme = gtk_icon_theme_get_for_display (gdk_display_get_default ());

  for (gsize i = 0; i < G_N_ELEMENTS (icons); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GdkPixbuf) pixbuf = gdk_pixbuf_new_from_resource (icons[i].resource, &error);

      g_assert_no_error (error);
      g_assert_cmpint (gdk_pixbuf_get_width (pixbuf), ==, icons[i].size);
      g_assert_cmpint (gdk_pixbuf_get_height (pixbuf), ==, icons[i].size);
    }

  /* What GtkApplication does for its resource base path. */
  gtk_icon_theme_add_resource_path (theme, RESOURCE_PREFIX "/icons");
  g_assert_true (gtk_icon_theme_has_icon (theme, APP_ID));
  g_assert_true (gtk_icon_theme_has_icon (theme, APP_ID "-symbolic"));
}

static gboolean
contains_bytes (const char *haystack,
                gsize       haystack_length,
                const char *needle,
                gsize       needle_length)
{
  for (gsize i = 0; i + needle_length <= haystack_length; i++)
    if (memcmp (haystack + i, needle, needle_length) == 0)
      return TRUE;
  return FALSE;
}

/* The project MIME type: declared, found by update-mime-database, and opened by the desktop file. */
static void
test_mime_type (void)
{
  g_autofree char *mime_source = source_path ("data/org.imagebart.Studio.mime.xml");
  g_autofree char *desktop_source = source_path ("data/org.imagebart.Studio.desktop.in");
  g_autofree char *tmp = NULL;
  g_autofree char *packages = NULL;
  g_autofree char *package = NULL;
  g_autofree char *contents = NULL;
  g_autofree char *globs_path = NULL;
  g_autofree char *globs = NULL;
  g_autofree char *magic_path = NULL;
  g_autofree char *magic = NULL;
  gsize magic_length = 0;
  /* update-mime-database's magic file: the section, then ">offset=" and the big-endian length */
  static const char magic_entry[] = "[50:application/x-imagebart-project]\n>0=\0\10" IB_PROJECT_FILE_MAGIC;
  g_autofree char *exec = NULL;
  g_auto(GStrv) mime_types = NULL;
  g_autoptr(GKeyFile) desktop = g_key_file_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *program = g_find_program_in_path ("update-mime-database");
  const char *wanted[] = { "image/png", "image/jpeg", "image/webp", "image/tiff", "image/bmp",
                           "application/x-imagebart-project" };
  int status = 0;

  g_key_file_load_from_file (desktop, desktop_source, G_KEY_FILE_NONE, &error);
  g_assert_no_error (error);
  exec = g_key_file_get_string (desktop, G_KEY_FILE_DESKTOP_GROUP, G_KEY_FILE_DESKTOP_KEY_EXEC, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (exec, ==, "imagebart-studio %U");
  mime_types = g_key_file_get_string_list (desktop, G_KEY_FILE_DESKTOP_GROUP,
                                           G_KEY_FILE_DESKTOP_KEY_MIME_TYPE, NULL, &error);
  g_assert_no_error (error);
  for (gsize i = 0; i < G_N_ELEMENTS (wanted); i++)
    g_assert_true (g_strv_contains ((const char * const *) mime_types, wanted[i]));

  if (program == NULL)
    {
      g_test_skip ("update-mime-database is not installed");
      return;
    }
  tmp = g_dir_make_tmp ("ib-mime-XXXXXX", &error);
  g_assert_no_error (error);
  packages = g_build_filename (tmp, "packages", NULL);
  g_assert_cmpint (g_mkdir (packages, 0700), ==, 0);
  package = g_build_filename (packages, APP_ID ".xml", NULL);
  g_file_get_contents (mime_source, &contents, NULL, &error);
  g_assert_no_error (error);
  g_file_set_contents (package, contents, -1, &error);
  g_assert_no_error (error);

  {
    const char *argv[] = { program, tmp, NULL };

    g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL, NULL,
                  &status, &error);
    g_assert_no_error (error);
    g_spawn_check_wait_status (status, &error);
    g_assert_no_error (error);
  }
  globs_path = g_build_filename (tmp, "globs2", NULL);
  g_file_get_contents (globs_path, &globs, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (strstr (globs, ":application/x-imagebart-project:*.ibproj"));
  /* The magic is IB_PROJECT_FILE_MAGIC, so that a project renamed to anything still opens as one. */
  magic_path = g_build_filename (tmp, "magic", NULL);
  g_file_get_contents (magic_path, &magic, &magic_length, &error);
  g_assert_no_error (error);
  g_assert_true (contains_bytes (magic, magic_length, magic_entry, sizeof magic_entry - 1));

  {
    g_autoptr(GFile) dir = g_file_new_for_path (tmp);
    const char *argv[] = { "rm", "-rf", tmp, NULL };

    /* update-mime-database writes a dozen files; rm keeps this short */
    g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, &status, NULL);
    g_assert_false (g_file_query_exists (dir, NULL));
  }
}

int
main (int argc, char **argv)
{
  ib_studio_init ();
  g_test_init (&argc, &argv, NULL);
  gtk_init ();
  adw_init ();

  g_test_add_func ("/app/data/schema-contract", test_schema_contract);
  g_test_add_func ("/app/data/schema-defaults", test_schema_defaults);
  g_test_add_func ("/app/data/shortcuts-window", test_shortcuts_window);
  g_test_add_func ("/app/data/about-window", test_about_window);
  g_test_add_func ("/app/data/icons", test_icons);
  g_test_add_func ("/app/data/mime-type", test_mime_type);
  return g_test_run ();
}
