/* test-window.c: the application and its main window, run for real under a display: the command line, the
 * model at start-up, a picture given on it, undo and redo through the window's actions, closing with unsaved
 * work, the clipboard, model info, preferences, a failing model, the renderer chosen where OpenGL runs on the
 * CPU. */
#include <glib/gstdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ib-application.h"
#include "ib-main-window.h"
#include "ib-model-info-dialog.h"
#include "ib-preferences-dialog.h"
#include "ib-recovery-dialog.h"
#include "ib-renderer-choice.h"
#include "ib-shell-test.h"

#define MODEL_TIMEOUT_MS 30000

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
  IbMainWindow *window = ib_shell_test_main_window (application);
  AdwWindowTitle *title;
  GtkWindow *dialog;
  g_autofree char *expected = file_sha256 (path);
  g_auto(GStrv) recent = NULL;

  IB_SHELL_TEST_WAIT_FOR (ib_application_get_model (application) != NULL, MODEL_TIMEOUT_MS);
  /* No picture yet: the empty page invites to open one. */
  IB_SHELL_TEST_WAIT_FOR (gtk_widget_get_mapped (ib_shell_test_find_widget (GTK_WIDGET (window),
                                                                            ADW_TYPE_STATUS_PAGE)), 10000);
  g_assert_false (g_action_group_get_action_enabled (G_ACTION_GROUP (window), "generate"));
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

/* A model file that is not one: a dialog says so, no model is taken, the picture and its mask stay. */
static void
broken_model_body (IbApplication *application,
                   gpointer       data)
{
  IbMainWindow *window = ib_shell_test_main_window (application);
  const char *picture_path = data;
  GtkWindow *dialog = NULL;
  IbDocument *document;
  g_autoptr(GFile) file = g_file_new_for_path (picture_path);
  g_autoptr(IbDocument) expected = ib_document_new_from_file (file, NULL);

  IB_SHELL_TEST_WAIT_FOR ((dialog = ib_shell_test_find_toplevel (ADW_TYPE_MESSAGE_DIALOG, GTK_WINDOW (window)))
                          != NULL, MODEL_TIMEOUT_MS);
  g_assert_false (ib_application_get_model_loading (application));
  g_assert_null (ib_application_get_model (application));
  g_assert_true (adw_message_dialog_has_response (ADW_MESSAGE_DIALOG (dialog), "open-model"));
  g_assert_cmpstr (adw_message_dialog_get_body (ADW_MESSAGE_DIALOG (dialog)), !=, "");
  gtk_window_destroy (dialog);

  document = ib_main_window_get_document (window);
  g_assert_nonnull (document);
  g_assert_cmpuint (ib_shell_test_count_differences (ib_document_get_picture (document),
                                                     ib_document_get_picture (expected), NULL,
                                                     IB_SHELL_TEST_ALL), ==, 0);
  /* Without a model there is nothing to generate with. */
  g_assert_false (g_action_group_get_action_enabled (G_ACTION_GROUP (window), "generate"));
}

static void
test_broken_model (void)
{
  g_autofree char *picture = ib_shell_test_write_picture (40, 24);
  g_autofree char *dir = g_path_get_dirname (picture);
  g_autofree char *model = g_build_filename (dir, "broken.safetensors", NULL);
  const char *argv[] = { "--model", model, picture, NULL };

  g_assert_true (g_file_set_contents (model, "not a model at all", -1, NULL));
  ib_shell_test_run (argv, broken_model_body, picture);
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
  IbCanvas *canvas;
  double opacity;
  GdkRGBA *colour;

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

  /* The canvas follows the mask's colour and opacity. */
  canvas = ib_main_window_get_canvas (ib_shell_test_main_window (application));
  g_settings_set_double (settings, "mask-opacity", 0.25);
  g_settings_set_string (settings, "mask-colour", "#00ff00");
  g_object_get (canvas, "mask-opacity", &opacity, "mask-colour", &colour, NULL);
  g_assert_cmpfloat_with_epsilon (opacity, 0.25, 1e-9);
  g_assert_cmpfloat_with_epsilon (colour->green, 1.0, 1e-6);
  g_assert_cmpfloat_with_epsilon (colour->red, 0.0, 1e-6);
  gdk_rgba_free (colour);
  g_settings_reset (settings, "mask-opacity");
  g_settings_reset (settings, "mask-colour");
}

static void
test_preferences (void)
{
  ib_shell_test_run (NULL, preferences_body, NULL);
}

/* What the window's own key controller does with a key (the canvas's key bindings are the canvas's). */
static void
send_key (IbMainWindow *window,
          const char   *signal,
          guint         keyval)
{
  g_autoptr(GListModel) controllers = gtk_widget_observe_controllers (GTK_WIDGET (window));
  gboolean handled = FALSE;

  for (guint i = 0; i < g_list_model_get_n_items (controllers); i++)
    {
      g_autoptr(GObject) controller = g_list_model_get_item (controllers, i);

      if (!GTK_IS_EVENT_CONTROLLER_KEY (controller))
        continue;
      if (g_str_equal (signal, "key-pressed"))
        g_signal_emit_by_name (controller, signal, keyval, 0, 0, &handled);
      else
        g_signal_emit_by_name (controller, signal, keyval, 0, 0);
      return;
    }
  g_assert_not_reached ();
}

/* A picture on the command line opens in the window, on the canvas. */
static void
open_body (IbApplication *application,
           gpointer       data)
{
  IbMainWindow *window = ib_shell_test_main_window (application);
  IbDocument *document;
  GdkTexture *texture;
  GtkWidget *empty_page;

  ib_shell_test_wait_ready (application);
  document = ib_main_window_get_document (window);
  g_assert_cmpint (ib_document_get_picture (document)->width, ==, 40);
  g_assert_cmpint (ib_document_get_picture (document)->height, ==, 24);
  texture = ib_canvas_get_picture (ib_main_window_get_canvas (window));
  g_assert_true (texture == ib_document_get_texture (document));
  g_assert_true (ib_canvas_get_mask (ib_main_window_get_canvas (window)) == ib_document_get_mask (document));
  /* The canvas shows, the empty page ("Open a picture or drop one here") does not. */
  empty_page = ib_shell_test_find_widget (GTK_WIDGET (window), ADW_TYPE_STATUS_PAGE);
  g_assert_nonnull (empty_page);
  g_assert_false (gtk_widget_get_mapped (empty_page));
  g_assert_true (gtk_widget_get_mapped (GTK_WIDGET (ib_main_window_get_canvas (window))));
  g_assert_nonnull (strstr (gtk_window_get_title (GTK_WINDOW (window)), "picture-40x24"));
  /* Holding backslash shows the original; letting go shows the edit again. */
  g_assert_false (ib_canvas_get_show_original (ib_main_window_get_canvas (window)));
  send_key (window, "key-pressed", GDK_KEY_backslash);
  g_assert_true (ib_canvas_get_show_original (ib_main_window_get_canvas (window)));
  send_key (window, "key-released", GDK_KEY_backslash);
  g_assert_false (ib_canvas_get_show_original (ib_main_window_get_canvas (window)));

  /* A picture opened from disk has no file of its own: saving never overwrites it unasked. */
  g_assert_null (ib_document_get_file (document));
  g_assert_true (g_action_group_get_action_enabled (G_ACTION_GROUP (window), "save"));
  g_assert_false (g_action_group_get_action_enabled (G_ACTION_GROUP (window), "undo"));
}

static void
test_open_command_line (void)
{
  ib_shell_test_run_on_picture (2, 5, 40, 24, open_body, NULL);
}

/* A stroke on the canvas is one undoable step, through win.undo and win.redo. */
static void
undo_stroke_body (IbApplication *application,
                  gpointer       data)
{
  IbMainWindow *window = ib_shell_test_main_window (application);
  IbDocument *document;
  IbMask *mask;

  ib_shell_test_wait_ready (application);
  document = ib_main_window_get_document (window);
  mask = ib_document_get_mask (document);
  g_assert_true (ib_mask_is_empty (mask));
  ib_shell_test_stroke (ib_main_window_get_canvas (window), 64, 48);
  g_assert_false (ib_mask_is_empty (mask));
  g_assert_true (ib_document_get_modified (document));
  g_assert_true (g_action_group_get_action_enabled (G_ACTION_GROUP (window), "undo"));
  g_assert_nonnull (strstr (gtk_window_get_title (GTK_WINDOW (window)), "•"));

  g_action_group_activate_action (G_ACTION_GROUP (window), "undo", NULL);
  g_assert_true (ib_mask_is_empty (mask));
  g_assert_false (g_action_group_get_action_enabled (G_ACTION_GROUP (window), "undo"));
  g_assert_true (g_action_group_get_action_enabled (G_ACTION_GROUP (window), "redo"));
  g_action_group_activate_action (G_ACTION_GROUP (window), "redo", NULL);
  g_assert_false (ib_mask_is_empty (mask));
}

static void
test_undo_stroke (void)
{
  ib_shell_test_run_on_picture (2, 5, 64, 48, undo_stroke_body, NULL);
}

/* An accepted result is one undoable step of the picture. */
static void
undo_result_body (IbApplication *application,
                  gpointer       data)
{
  IbMainWindow *window = ib_shell_test_main_window (application);
  IbDocument *document;
  IbJobRunner *runner;
  g_autoptr(IbEditImage) original = NULL;
  g_autoptr(IbEditImage) result = NULL;

  ib_shell_test_wait_ready (application);
  document = ib_main_window_get_document (window);
  runner = ib_main_window_get_runner (window);
  original = ib_edit_image_ref (ib_document_get_picture (document));
  ib_shell_test_stroke (ib_main_window_get_canvas (window), 32, 32);

  IB_SHELL_TEST_WAIT_FOR (ib_loaded_model_peek_sha256 (ib_application_get_model (application)) != NULL, 10000);
  g_action_group_activate_action (G_ACTION_GROUP (window), "generate", NULL);
  g_assert_true (ib_job_runner_get_running (runner));
  IB_SHELL_TEST_WAIT_FOR (g_action_group_get_action_enabled (G_ACTION_GROUP (window), "accept-variant"), 120000);
  g_assert_true (ib_document_get_picture (document) == original);
  g_action_group_activate_action (G_ACTION_GROUP (window), "accept-variant", NULL);
  result = ib_edit_image_ref (ib_document_get_picture (document));
  g_assert_true (result != original);
  g_assert_cmpuint (ib_shell_test_count_differences (result, original, NULL, IB_SHELL_TEST_ALL), >, 0);
  g_assert_nonnull (ib_document_get_recipe (document));
  /* The model that made it, by path and (hashed in the background by now) content. */
  g_assert_cmpstr (ib_document_get_model_path (document), ==,
                   ib_loaded_model_get_path (ib_application_get_model (application)));
  g_assert_cmpstr (ib_document_get_model_sha256 (document), ==,
                   ib_model_file_get_sha256 (ib_loaded_model_get_file (ib_application_get_model (application))));

  g_action_group_activate_action (G_ACTION_GROUP (window), "undo", NULL);
  g_assert_cmpuint (ib_shell_test_count_differences (ib_document_get_picture (document), original, NULL,
                                                     IB_SHELL_TEST_ALL), ==, 0);
  g_action_group_activate_action (G_ACTION_GROUP (window), "redo", NULL);
  g_assert_cmpuint (ib_shell_test_count_differences (ib_document_get_picture (document), result, NULL,
                                                     IB_SHELL_TEST_ALL), ==, 0);
  /* The mask's stroke is a step of its own, under the result. */
  g_action_group_activate_action (G_ACTION_GROUP (window), "undo", NULL);
  g_action_group_activate_action (G_ACTION_GROUP (window), "undo", NULL);
  g_assert_true (ib_mask_is_empty (ib_document_get_mask (document)));
}

static void
test_undo_result (void)
{
  ib_shell_test_run_on_picture (2, 7, 32, 32, undo_result_body, NULL);
}

/* The file chooser a GtkFileChooserNative shows when there is no portal, answered with name in its folder. */
static void
answer_chooser (IbMainWindow *window,
                const char   *name)
{
  GtkWindow *chooser = NULL;

  IB_SHELL_TEST_WAIT_FOR ((chooser = ib_shell_test_find_toplevel (GTK_TYPE_FILE_CHOOSER_DIALOG, NULL)) != NULL,
                          10000);
  ib_shell_test_spin (100);
  gtk_file_chooser_set_current_name (GTK_FILE_CHOOSER (chooser), name);
  gtk_dialog_response (GTK_DIALOG (chooser), GTK_RESPONSE_ACCEPT);
}

/* Saving a picture opened from disk asks where, suggesting a project next to it; the picture itself is never
 * written. Export writes a JPEG without changing where the document saves. */
static void
save_body (IbApplication *application,
           gpointer       data)
{
  const char *picture_path = data;
  IbMainWindow *window = ib_shell_test_main_window (application);
  IbDocument *document;
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  g_autofree char *dir = g_path_get_dirname (picture_path);
  g_autofree char *project = g_build_filename (dir, "saved.ibproj", NULL);
  g_autofree char *jpeg = g_build_filename (dir, "exported.jpg", NULL);
  g_autofree char *jpeg_bytes = NULL;
  gsize jpeg_length = 0;
  g_autoptr(GFile) project_file = g_file_new_for_path (project);

  g_assert_true (g_file_get_contents (picture_path, &before, NULL, NULL));
  ib_shell_test_wait_ready (application);
  document = ib_main_window_get_document (window);
  ib_shell_test_stroke (ib_main_window_get_canvas (window), 40, 24);

  g_action_group_activate_action (G_ACTION_GROUP (window), "save", NULL);
  answer_chooser (window, "saved.ibproj");
  IB_SHELL_TEST_WAIT_FOR (!ib_document_get_modified (document), 10000);
  g_assert_true (g_file_equal (ib_document_get_file (document), project_file));
  g_assert_true (g_file_test (project, G_FILE_TEST_IS_REGULAR));
  g_assert_true (g_file_get_contents (picture_path, &after, NULL, NULL));
  g_assert_cmpstr (before, ==, after);
  g_assert_null (strstr (gtk_window_get_title (GTK_WINDOW (window)), "•"));

  g_action_group_activate_action (G_ACTION_GROUP (window), "export", NULL);
  answer_chooser (window, "exported.jpg");
  IB_SHELL_TEST_WAIT_FOR (g_file_test (jpeg, G_FILE_TEST_IS_REGULAR), 10000);
  IB_SHELL_TEST_WAIT_FOR (g_file_get_contents (jpeg, &jpeg_bytes, &jpeg_length, NULL) && jpeg_length > 3, 10000);
  g_assert_cmpmem (jpeg_bytes, 3, "\xff\xd8\xff", 3);
  g_assert_true (g_file_equal (ib_document_get_file (document), project_file));
}

static void
test_save (void)
{
  g_autofree char *model = ib_shell_test_write_model (2, 5);
  g_autofree char *picture = ib_shell_test_write_picture (40, 24);
  const char *argv[] = { "--model", model, picture, NULL };

  ib_shell_test_run (argv, save_body, picture);
}

/* Closing with unsaved work asks; Cancel keeps the window, Discard closes it. */
static void
close_body (IbApplication *application,
            gpointer       data)
{
  IbMainWindow *window = ib_shell_test_main_window (application);
  g_autoptr(GtkWindow) kept = g_object_ref (GTK_WINDOW (window));
  GtkWindow *dialog;

  ib_shell_test_wait_ready (application);
  ib_shell_test_stroke (ib_main_window_get_canvas (window), 32, 32);

  g_action_group_activate_action (G_ACTION_GROUP (window), "close", NULL);
  dialog = ib_shell_test_find_toplevel (ADW_TYPE_MESSAGE_DIALOG, GTK_WINDOW (window));
  g_assert_nonnull (dialog);
  g_assert_true (adw_message_dialog_has_response (ADW_MESSAGE_DIALOG (dialog), "save"));
  g_assert_true (adw_message_dialog_has_response (ADW_MESSAGE_DIALOG (dialog), "discard"));
  adw_message_dialog_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
  ib_shell_test_spin (50);
  g_assert_nonnull (g_list_find (gtk_application_get_windows (GTK_APPLICATION (application)), window));

  g_action_group_activate_action (G_ACTION_GROUP (window), "close", NULL);
  dialog = ib_shell_test_find_toplevel (ADW_TYPE_MESSAGE_DIALOG, GTK_WINDOW (window));
  g_assert_nonnull (dialog);
  adw_message_dialog_response (ADW_MESSAGE_DIALOG (dialog), "discard");
  IB_SHELL_TEST_WAIT_FOR (g_list_find (gtk_application_get_windows (GTK_APPLICATION (application)), window) == NULL,
                          5000);
}

static void
test_close_unsaved (void)
{
  ib_shell_test_run_on_picture (2, 5, 32, 32, close_body, NULL);
}

/* Copy puts the picture on the clipboard; paste opens a picture from it (in a new window, this one being
 * taken). */
static void
clipboard_body (IbApplication *application,
                gpointer       data)
{
  IbMainWindow *window = ib_shell_test_main_window (application);
  IbDocument *document;
  IbMainWindow *pasted = NULL;

  ib_shell_test_wait_ready (application);
  document = ib_main_window_get_document (window);
  g_action_group_activate_action (G_ACTION_GROUP (window), "copy", NULL);
  g_action_group_activate_action (G_ACTION_GROUP (window), "paste", NULL);
  IB_SHELL_TEST_WAIT_FOR (g_list_length (gtk_application_get_windows (GTK_APPLICATION (application))) == 2, 10000);
  for (GList *l = gtk_application_get_windows (GTK_APPLICATION (application)); l != NULL; l = l->next)
    if (l->data != window)
      pasted = l->data;
  IB_SHELL_TEST_WAIT_FOR (ib_main_window_get_document (pasted) != NULL, 10000);
  g_assert_null (ib_document_get_file (ib_main_window_get_document (pasted)));
  g_assert_cmpuint (ib_shell_test_count_differences (ib_document_get_picture (ib_main_window_get_document (pasted)),
                                                     ib_document_get_picture (document), NULL,
                                                     IB_SHELL_TEST_ALL), ==, 0);
}

static void
test_clipboard (void)
{
  ib_shell_test_run_on_picture (2, 5, 24, 20, clipboard_body, NULL);
}

/* Work left by a crash is offered at start; restoring it opens it as it was, modified, and its autosave
 * goes once the window closes cleanly. */
static void
recovery_body (IbApplication *application,
               gpointer       data)
{
  GFile *folder = data;
  IbMainWindow *window = ib_shell_test_main_window (application);
  IbDocument *document = ib_shell_test_restore_offered (application, 10000);

  g_assert_false (ib_mask_is_empty (ib_document_get_mask (document)));
  g_assert_cmpint (ib_document_get_picture (document)->width, ==, 30);
  g_assert_nonnull (strstr (gtk_window_get_title (GTK_WINDOW (window)), "picture-30x20"));
  g_object_set_data_full (G_OBJECT (folder), "checked", g_strdup ("yes"), g_free);
}

static void
test_recovery (void)
{
  g_autoptr(IbRecovery) recovery = ib_recovery_new (NULL);
  g_autoptr(GFile) folder = g_object_ref (ib_recovery_get_folder (recovery));
  g_autofree char *picture = ib_shell_test_write_picture (30, 20);
  g_autoptr(GFile) file = g_file_new_for_path (picture);
  g_autoptr(IbDocument) document = ib_document_new_from_file (file, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) left = NULL;
  g_autofree char *model = ib_shell_test_write_model (2, 5);
  const char *argv[] = { "--model", model, NULL };

  /* A session that ends without closing its document: what a crash leaves. */
  ib_mask_fill_rectangle (ib_document_get_mask (document), 2, 2, 12, 10, IB_MASK_MODE_PAINT);
  ib_recovery_add_document (recovery, document);
  g_assert_true (ib_recovery_save_now (recovery, &error));
  g_assert_no_error (error);
  g_clear_object (&recovery);

  ib_shell_test_run (argv, recovery_body, folder);
  g_assert_cmpstr (g_object_get_data (G_OBJECT (folder), "checked"), ==, "yes");
  recovery = ib_recovery_new (NULL);
  left = ib_recovery_list (recovery);
  g_assert_cmpuint (left->len, ==, 0);
}

/* About and Keyboard Shortcuts open over the window. */
static void
about_shortcuts_body (IbApplication *application,
                      gpointer       data)
{
  IbMainWindow *window = ib_shell_test_main_window (application);
  GtkWindow *about;
  GtkWindow *shortcuts;

  g_action_group_activate_action (G_ACTION_GROUP (application), "about", NULL);
  about = ib_shell_test_find_toplevel (ADW_TYPE_ABOUT_WINDOW, GTK_WINDOW (window));
  g_assert_nonnull (about);
  gtk_window_destroy (about);
  g_action_group_activate_action (G_ACTION_GROUP (application), "shortcuts", NULL);
  shortcuts = ib_shell_test_find_toplevel (GTK_TYPE_SHORTCUTS_WINDOW, GTK_WINDOW (window));
  g_assert_nonnull (shortcuts);
  gtk_window_destroy (shortcuts);
}

static void
test_about_shortcuts (void)
{
  ib_shell_test_run (NULL, about_shortcuts_body, NULL);
}

static gboolean
drop (IbMainWindow *window,
      const GValue *value)
{
  g_autoptr(GListModel) controllers = gtk_widget_observe_controllers (GTK_WIDGET (window));
  gboolean handled = FALSE;

  for (guint i = 0; i < g_list_model_get_n_items (controllers); i++)
    {
      g_autoptr(GObject) controller = g_list_model_get_item (controllers, i);

      if (GTK_IS_DROP_TARGET (controller))
        {
          g_signal_emit_by_name (controller, "drop", value, 10.0, 10.0, &handled);
          return handled;
        }
    }
  g_assert_not_reached ();
}

/* What the window's drop target does with a dropped file (into this empty window) and a dropped picture
 * (into a new window, this one being taken). */
static void
drop_body (IbApplication *application,
           gpointer       data)
{
  const char *picture_path = data;
  IbMainWindow *window = ib_shell_test_main_window (application);
  g_auto(GValue) file_value = G_VALUE_INIT;
  g_auto(GValue) texture_value = G_VALUE_INIT;
  g_autoptr(GError) error = NULL;
  g_autoptr(GdkTexture) texture = gdk_texture_new_from_filename (picture_path, &error);

  g_assert_no_error (error);
  g_value_init (&file_value, G_TYPE_FILE);
  g_value_take_object (&file_value, g_file_new_for_path (picture_path));
  g_assert_true (drop (window, &file_value));
  g_assert_nonnull (ib_main_window_get_document (window));
  g_assert_cmpint (ib_document_get_picture (ib_main_window_get_document (window))->width, ==, 36);

  g_value_init (&texture_value, GDK_TYPE_TEXTURE);
  g_value_set_object (&texture_value, texture);
  g_assert_true (drop (window, &texture_value));
  g_assert_cmpuint (g_list_length (gtk_application_get_windows (GTK_APPLICATION (application))), ==, 2);
}

static void
test_drop (void)
{
  g_autofree char *picture = ib_shell_test_write_picture (36, 18);

  ib_shell_test_run (NULL, drop_body, picture);
}

/* The renderer: under Xvfb, OpenGL is Mesa's software rasterizer (or missing), where GTK 4.8 would still draw
 * with it (about 80 ms a frame of a large picture, docs/performance.md); the editor must draw with GTK's cairo
 * renderer. GTK reads GSK_RENDERER once, at its first window, and the tests set it: so this runs in a child
 * process without it, which reports its window's renderer and what GSK_RENDERER became. */
static void
report_renderer_body (IbApplication *application,
                      gpointer       data)
{
  IbMainWindow *window = ib_shell_test_main_window (application);

  IB_SHELL_TEST_WAIT_FOR (gtk_widget_get_mapped (GTK_WIDGET (window)), 10000);
  GskRenderer *renderer = gtk_native_get_renderer (GTK_NATIVE (window));
  g_autofree char *report = g_strdup_printf ("%s %s", G_OBJECT_TYPE_NAME (renderer),
                                             g_getenv ("GSK_RENDERER") != NULL ? g_getenv ("GSK_RENDERER") : "-");
  g_assert_cmpint (write (ib_shell_test_child_pipe (), report, strlen (report)), ==, (gssize) strlen (report));
}

static void
test_renderer (void)
{
  const char *env_changes[] = { "GSK_RENDERER", NULL };
  int from_child;
  GPid pid = ib_shell_test_spawn_child ("renderer", env_changes, &from_child);
  char report[256];
  gsize length = 0;
  gssize got;
  while (length < sizeof report - 1 && (got = read (from_child, report + length, sizeof report - 1 - length)) > 0)
    length += (gsize) got;
  report[length] = '\0';
  close (from_child);
  int status;
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
  g_spawn_close_pid (pid);

  gint64 asked = g_get_monotonic_time ();
  gboolean software_gl = ib_display_has_software_gl (gdk_display_get_default ());
  g_test_message ("OpenGL here is %s (asked in %.1f ms); the child's renderer and GSK_RENDERER: %s",
                  software_gl ? "a software rasterizer" : "missing or a GPU's",
                  (g_get_monotonic_time () - asked) / 1000.0, report);
  if (software_gl)
    g_assert_cmpstr (report, ==, "GskCairoRenderer cairo");
  else
    g_assert_true (g_str_has_prefix (report, "GskCairoRenderer ") || g_str_has_suffix (report, " -"));
}

static int
run_renderer_child (void)
{
  ib_shell_test_run (NULL, report_renderer_body, NULL);
  ib_shell_test_cleanup ();
  return 0;
}

int
main (int   argc,
      char *argv[])
{
  int status;
  const char *child_mode = ib_shell_test_child_mode (argc, argv);

  ib_shell_test_init (&argc, &argv);
  if (g_strcmp0 (child_mode, "renderer") == 0)
    return run_renderer_child ();

  g_test_add_func ("/app/window/open-command-line", test_open_command_line);
  g_test_add_func ("/app/window/undo-stroke", test_undo_stroke);
  g_test_add_func ("/app/window/undo-result", test_undo_result);
  g_test_add_func ("/app/window/save-export", test_save);
  g_test_add_func ("/app/window/close-unsaved", test_close_unsaved);
  g_test_add_func ("/app/window/clipboard", test_clipboard);
  g_test_add_func ("/app/window/recovery", test_recovery);
  g_test_add_func ("/app/window/drop", test_drop);
  g_test_add_func ("/app/window/about-shortcuts", test_about_shortcuts);
  g_test_add_func ("/app/window/model-info", test_model_info);
  g_test_add_func ("/app/window/broken-model", test_broken_model);
  g_test_add_func ("/app/window/preferences", test_preferences);
  g_test_add_func ("/app/window/renderer", test_renderer);
  status = g_test_run ();
  ib_shell_test_cleanup ();
  return status;
}
