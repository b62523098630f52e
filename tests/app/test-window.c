/* test-window.c: the application and its main window, run for real under a display: the command line, the
 * model at start-up, model info, preferences, a failing model. */
#include <glib/gstdio.h>

#include "ib-application.h"
#include "ib-main-window.h"
#include "ib-model-info-dialog.h"
#include "ib-preferences-dialog.h"
#include "ib-shell-test.h"
#include "ib-studio.h"

#define MODEL_TIMEOUT_MS 30000

static IbMainWindow *
main_window (IbApplication *application)
{
  GtkWindow *window = gtk_application_get_active_window (GTK_APPLICATION (application));

  g_assert_true (IB_IS_MAIN_WINDOW (window));
  return IB_MAIN_WINDOW (window);
}

static char *
file_sha256 (const char *path)
{
  g_autofree char *contents = NULL;
  gsize length;
  g_autoptr(GError) error = NULL;

  g_file_get_contents (path, &contents, &length, &error);
  g_assert_no_error (error);
  return g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) contents, length);
}

/* --model FILE: loaded off the UI thread, named in the window, remembered, described by Model Info. */
static void
model_info_body (IbApplication *application,
                 gpointer       data)
{
  const char *path = data;
  IbMainWindow *window = main_window (application);
  AdwWindowTitle *title;
  GtkWindow *dialog;
  g_autofree char *expected = file_sha256 (path);
  g_auto(GStrv) recent = NULL;

  IB_SHELL_TEST_WAIT_FOR (ib_application_get_model (application) != NULL, MODEL_TIMEOUT_MS);
  g_assert_cmpstr (ib_loaded_model_get_path (ib_application_get_model (application)), ==, path);
  title = ADW_WINDOW_TITLE (ib_shell_test_find_widget (GTK_WIDGET (window), ADW_TYPE_WINDOW_TITLE));
  g_assert_nonnull (strstr (adw_window_title_get_subtitle (title), "test model"));
  recent = g_settings_get_strv (ib_application_get_settings (application), "recent-models");
  g_assert_cmpstr (recent[0], ==, path);

  g_action_group_activate_action (G_ACTION_GROUP (application), "model-info", NULL);
  dialog = ib_shell_test_find_toplevel (IB_TYPE_MODEL_INFO_DIALOG, GTK_WINDOW (window));
  g_assert_nonnull (dialog);
  IB_SHELL_TEST_WAIT_FOR (ib_model_info_dialog_get_hash (IB_MODEL_INFO_DIALOG (dialog))[0] != '\0', 10000);
  g_assert_cmpstr (ib_model_info_dialog_get_hash (IB_MODEL_INFO_DIALOG (dialog)), ==, expected);
  gtk_window_destroy (dialog);
}

static void
test_model_info (void)
{
  g_autofree char *model = ib_shell_test_write_model (2, 3);
  const char *argv[] = { "--model", model, NULL };

  ib_shell_test_run (argv, model_info_body, model);
}

/* A model file that is not one: a dialog says so, no model is taken. */
static void
broken_model_body (IbApplication *application,
                   gpointer       data)
{
  IbMainWindow *window = main_window (application);
  GtkWindow *dialog = NULL;

  IB_SHELL_TEST_WAIT_FOR ((dialog = ib_shell_test_find_toplevel (ADW_TYPE_MESSAGE_DIALOG, GTK_WINDOW (window)))
                          != NULL, MODEL_TIMEOUT_MS);
  g_assert_false (ib_application_get_model_loading (application));
  g_assert_null (ib_application_get_model (application));
  g_assert_true (adw_message_dialog_has_response (ADW_MESSAGE_DIALOG (dialog), "open-model"));
  g_assert_cmpstr (adw_message_dialog_get_body (ADW_MESSAGE_DIALOG (dialog)), !=, "");
  gtk_window_destroy (dialog);
}

static void
test_broken_model (void)
{
  g_autofree char *dir = g_path_get_dirname (ib_shell_test_write_picture (8, 8));
  g_autofree char *model = g_build_filename (dir, "broken.safetensors", NULL);
  const char *argv[] = { "--model", model, NULL };

  g_assert_true (g_file_set_contents (model, "not a model at all", -1, NULL));
  ib_shell_test_run (argv, broken_model_body, NULL);
}

/* Preferences are bound to the settings both ways. */
static void
preferences_body (IbApplication *application,
                  gpointer       data)
{
  GSettings *settings = ib_application_get_settings (application);
  GtkWindow *dialog;
  AdwComboRow *engine;
  g_autofree char *value = NULL;

  g_assert_nonnull (settings);
  g_action_group_activate_action (G_ACTION_GROUP (application), "preferences", NULL);
  dialog = ib_shell_test_find_toplevel (IB_TYPE_PREFERENCES_DIALOG, NULL);
  g_assert_nonnull (dialog);
  engine = ADW_COMBO_ROW (ib_shell_test_find_widget (GTK_WIDGET (dialog), ADW_TYPE_COMBO_ROW));
  g_assert_cmpuint (adw_combo_row_get_selected (engine), ==, 0);
  adw_combo_row_set_selected (engine, 1);
  value = g_settings_get_string (settings, "engine");
  g_assert_cmpstr (value, ==, "cpu");
  g_settings_set_string (settings, "engine", "auto");
  g_assert_cmpuint (adw_combo_row_get_selected (engine), ==, 0);
  gtk_window_destroy (dialog);
}

static void
test_preferences (void)
{
  ib_shell_test_run (NULL, preferences_body, NULL);
}

int
main (int   argc,
      char *argv[])
{
  int status;

  ib_studio_init ();
  gtk_test_init (&argc, &argv, NULL);
  adw_init ();

  g_test_add_func ("/app/window/model-info", test_model_info);
  g_test_add_func ("/app/window/broken-model", test_broken_model);
  g_test_add_func ("/app/window/preferences", test_preferences);
  status = g_test_run ();
  ib_shell_test_cleanup ();
  return status;
}
