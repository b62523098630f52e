/* ib-main-window-files.c: the window's file dialogs: open, save, save as, export, and the unsaved-work
 * question when closing.
 *
 * A picture opened from disk has no file of its own: its first save asks where, suggesting a project next to
 * it, so that the original is only overwritten by an explicit Save As onto it. GTK 4.8 has no GtkFileDialog:
 * GtkFileChooserNative, which also asks before replacing a file. */
#include "ib-main-window-private.h"

#include <glib/gi18n.h>

#define IB_PROJECT_MIME_TYPE "application/x-imagebart-project"

static void
add_filter (GtkFileChooser *chooser,
            const char     *name,
            const char     *mime_type,
            const char     *const *patterns)
{
  g_autoptr(GtkFileFilter) filter = gtk_file_filter_new ();

  gtk_file_filter_set_name (filter, name);
  if (mime_type != NULL)
    gtk_file_filter_add_mime_type (filter, mime_type);
  for (int i = 0; patterns != NULL && patterns[i] != NULL; i++)
    gtk_file_filter_add_pattern (filter, patterns[i]);
  gtk_file_chooser_add_filter (chooser, filter);
}

static GtkFileChooserNative *
new_chooser (IbMainWindow         *self,
             const char           *title,
             GtkFileChooserAction  action,
             const char           *accept_label)
{
  GtkFileChooserNative *chooser = gtk_file_chooser_native_new (title, GTK_WINDOW (self), action, accept_label,
                                                               _("_Cancel"));

  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (chooser), TRUE);
  return chooser;
}

/* The chosen file, or NULL when the user cancelled; frees the chooser. */
static GFile *
finish_chooser (GtkNativeDialog *chooser,
                int              response)
{
  GFile *file = NULL;

  if (response == GTK_RESPONSE_ACCEPT)
    file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (chooser));
  gtk_native_dialog_destroy (chooser);
  g_object_unref (chooser);
  return file;
}

/* Open */

static void
open_response_cb (GtkNativeDialog *chooser,
                  int              response,
                  IbMainWindow    *self)
{
  g_autoptr(GFile) file = finish_chooser (chooser, response);

  if (file != NULL)
    ib_main_window_open_file (self, file);
}

static void
open_activated (GSimpleAction *action,
                GVariant      *parameter,
                gpointer       user_data)
{
  IbMainWindow *self = user_data;
  GtkFileChooserNative *chooser = new_chooser (self, _("Open a Picture or a Project"),
                                               GTK_FILE_CHOOSER_ACTION_OPEN, _("_Open"));
  const char *const project_patterns[] = { "*" IB_DOCUMENT_PROJECT_EXTENSION, NULL };
  g_autoptr(GtkFileFilter) all = gtk_file_filter_new ();
  g_autoptr(GtkFileFilter) pictures = gtk_file_filter_new ();

  /* First, and so chosen: everything this editor opens. */
  gtk_file_filter_set_name (all, _("Pictures and projects"));
  gtk_file_filter_add_pixbuf_formats (all);
  gtk_file_filter_add_mime_type (all, IB_PROJECT_MIME_TYPE);
  gtk_file_filter_add_pattern (all, project_patterns[0]);
  gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (chooser), all);
  gtk_file_filter_set_name (pictures, _("Pictures"));
  gtk_file_filter_add_pixbuf_formats (pictures);
  gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (chooser), pictures);
  add_filter (GTK_FILE_CHOOSER (chooser), _("ImageBART projects"), IB_PROJECT_MIME_TYPE, project_patterns);
  g_signal_connect_object (chooser, "response", G_CALLBACK (open_response_cb), self, 0);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (chooser));
}

/* Save */

typedef struct
{
  GWeakRef *window;
  gboolean close;
} SaveData;

static void
save_done_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autofree SaveData *data = user_data;
  g_autoptr(IbMainWindow) self = ib_main_window_weak_ref_take (data->window);
  g_autoptr(GError) error = NULL;
  gboolean saved = ib_document_save_finish (IB_DOCUMENT (source), result, &error);

  if (self == NULL)
    return;
  if (!saved)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        ib_main_window_show_error (self, _("The Picture Could Not Be Saved"), error->message);
      return;
    }
  if (data->close)
    {
      self->close_confirmed = TRUE;
      gtk_window_close (GTK_WINDOW (self));
    }
  else
    ib_main_window_add_toast (self, _("Saved"));
}

static void
save_to (IbMainWindow *self,
         GFile        *file,
         gboolean      close)
{
  SaveData *data = g_new0 (SaveData, 1);

  data->window = ib_main_window_weak_ref (self);
  data->close = close;
  ib_document_save_async (self->document, file, self->cancellable, save_done_cb, data);
}

static void
save_as_response_cb (GtkNativeDialog *chooser,
                     int              response,
                     gpointer         user_data)
{
  IbMainWindow *self = IB_MAIN_WINDOW (g_object_get_data (G_OBJECT (chooser), "window"));
  gboolean close = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (chooser), "close"));
  g_autoptr(GFile) file = finish_chooser (chooser, response);
  g_autofree char *name = NULL;

  if (file == NULL || self->document == NULL)
    return;
  /* No known extension: a project. */
  name = g_file_get_basename (file);
  if (!g_str_has_suffix (name, IB_DOCUMENT_PROJECT_EXTENSION) && !g_str_has_suffix (name, ".png"))
    {
      g_autofree char *project = g_strconcat (name, IB_DOCUMENT_PROJECT_EXTENSION, NULL);
      g_autoptr(GFile) parent = g_file_get_parent (file);

      g_set_object (&file, g_file_get_child (parent, project));
    }
  save_to (self, file, close);
}

static void
save_as (IbMainWindow *self,
         gboolean      close)
{
  GtkFileChooserNative *chooser = new_chooser (self, _("Save As"), GTK_FILE_CHOOSER_ACTION_SAVE, _("_Save"));
  const char *const project_patterns[] = { "*" IB_DOCUMENT_PROJECT_EXTENSION, NULL };
  const char *const png_patterns[] = { "*.png", NULL };
  g_autoptr(GFile) suggestion = NULL;

  if (self->document == NULL)
    return;
  add_filter (GTK_FILE_CHOOSER (chooser), _("ImageBART project (mask, history of the result, settings)"),
              NULL, project_patterns);
  add_filter (GTK_FILE_CHOOSER (chooser), _("PNG picture with the recipe"), NULL, png_patterns);
  suggestion = ib_document_get_file (self->document) != NULL
                 ? g_object_ref (ib_document_get_file (self->document))
                 : ib_document_suggest_project_file (self->document);
  if (suggestion != NULL)
    {
      g_autoptr(GFile) folder = g_file_get_parent (suggestion);
      g_autofree char *name = g_file_get_basename (suggestion);

      gtk_file_chooser_set_current_folder (GTK_FILE_CHOOSER (chooser), folder, NULL);
      gtk_file_chooser_set_current_name (GTK_FILE_CHOOSER (chooser), name);
    }
  else
    {
      g_autofree char *name = g_strconcat (_("Untitled"), IB_DOCUMENT_PROJECT_EXTENSION, NULL);

      gtk_file_chooser_set_current_name (GTK_FILE_CHOOSER (chooser), name);
    }
  g_object_set_data (G_OBJECT (chooser), "window", self);
  g_object_set_data (G_OBJECT (chooser), "close", GINT_TO_POINTER (close));
  g_signal_connect_object (chooser, "response", G_CALLBACK (save_as_response_cb), self, 0);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (chooser));
}

void
ib_main_window_save (IbMainWindow *self,
                     gboolean      close)
{
  GFile *file;

  if (self->document == NULL)
    return;
  file = ib_document_get_file (self->document);
  if (file != NULL)
    save_to (self, file, close);
  else
    save_as (self, close);
}

static void
save_activated (GSimpleAction *action,
                GVariant      *parameter,
                gpointer       user_data)
{
  ib_main_window_save (user_data, FALSE);
}

static void
save_as_activated (GSimpleAction *action,
                   GVariant      *parameter,
                   gpointer       user_data)
{
  save_as (user_data, FALSE);
}

/* Export */

static void
export_done_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(IbMainWindow) self = ib_main_window_weak_ref_take (user_data);
  g_autoptr(GError) error = NULL;
  gboolean exported = ib_document_export_finish (IB_DOCUMENT (source), result, &error);

  if (self == NULL)
    return;
  if (!exported)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        ib_main_window_show_error (self, _("The Picture Could Not Be Exported"), error->message);
      return;
    }
  ib_main_window_add_toast (self, _("Exported"));
}

static void
export_response_cb (GtkNativeDialog *chooser,
                    int              response,
                    IbMainWindow    *self)
{
  g_autoptr(GFile) file = finish_chooser (chooser, response);
  GSettings *settings = ib_application_get_settings (self->application);
  g_autofree char *name = NULL;
  g_autofree char *lower = NULL;
  IbExportFormat format = IB_EXPORT_PNG;
  int quality = settings != NULL ? g_settings_get_int (settings, "jpeg-quality") : 92;

  if (file == NULL || self->document == NULL)
    return;
  name = g_file_get_basename (file);
  lower = g_ascii_strdown (name, -1);
  if (g_str_has_suffix (lower, ".jpg") || g_str_has_suffix (lower, ".jpeg"))
    format = IB_EXPORT_JPEG;
  else if (!g_str_has_suffix (lower, ".png"))
    {
      g_autofree char *png = g_strconcat (name, ".png", NULL);
      g_autoptr(GFile) parent = g_file_get_parent (file);

      g_set_object (&file, g_file_get_child (parent, png));
    }
  ib_document_export_async (self->document, file, format, quality, self->cancellable, export_done_cb,
                            ib_main_window_weak_ref (self));
}

static void
export_activated (GSimpleAction *action,
                  GVariant      *parameter,
                  gpointer       user_data)
{
  IbMainWindow *self = user_data;
  GtkFileChooserNative *chooser = new_chooser (self, _("Export"), GTK_FILE_CHOOSER_ACTION_SAVE, _("_Export"));
  const char *const png_patterns[] = { "*.png", NULL };
  const char *const jpeg_patterns[] = { "*.jpg", "*.jpeg", NULL };
  g_autofree char *name = NULL;
  GFile *near;

  if (self->document == NULL)
    return;
  add_filter (GTK_FILE_CHOOSER (chooser), _("PNG picture"), NULL, png_patterns);
  add_filter (GTK_FILE_CHOOSER (chooser), _("JPEG picture"), NULL, jpeg_patterns);
  /* TRANSLATORS: the suggested name of an exported picture; %s is the document's title */
  name = g_strdup_printf (_("%s edited.png"), ib_document_get_title (self->document));
  gtk_file_chooser_set_current_name (GTK_FILE_CHOOSER (chooser), name);
  /* Next to the project, or to the picture it was opened from. */
  near = ib_document_get_file (self->document);
  if (near == NULL)
    near = ib_document_get_source (self->document);
  if (near != NULL)
    {
      g_autoptr(GFile) folder = g_file_get_parent (near);

      if (folder != NULL)
        gtk_file_chooser_set_current_folder (GTK_FILE_CHOOSER (chooser), folder, NULL);
    }
  g_signal_connect_object (chooser, "response", G_CALLBACK (export_response_cb), self, 0);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (chooser));
}

/* Closing with unsaved work */

static gboolean
close_idle_cb (gpointer user_data)
{
  gtk_window_close (GTK_WINDOW (user_data));
  return G_SOURCE_REMOVE;
}

static void
close_response_cb (AdwMessageDialog *dialog,
                   const char       *response,
                   IbMainWindow     *self)
{
  if (g_strcmp0 (response, "save") == 0)
    ib_main_window_save (self, TRUE);
  else if (g_strcmp0 (response, "discard") == 0)
    {
      self->close_confirmed = TRUE;
      /* Not from inside the dialog's response: the dialog still points at its parent while it finishes. */
      g_idle_add_full (G_PRIORITY_DEFAULT, close_idle_cb, g_object_ref (self), g_object_unref);
    }
}

void
ib_main_window_ask_to_close (IbMainWindow *self)
{
  GtkWidget *dialog;
  g_autofree char *heading = NULL;

  /* TRANSLATORS: %s is the picture's title */
  heading = g_strdup_printf (_("Save Changes to “%s”?"), ib_document_get_title (self->document));
  dialog = adw_message_dialog_new (GTK_WINDOW (self), heading,
                                   _("Unsaved changes to the mask and the accepted results are lost otherwise."));
  adw_message_dialog_add_responses (ADW_MESSAGE_DIALOG (dialog),
                                    "cancel", _("_Cancel"),
                                    "discard", _("_Discard"),
                                    "save", _("_Save"),
                                    NULL);
  adw_message_dialog_set_response_appearance (ADW_MESSAGE_DIALOG (dialog), "discard", ADW_RESPONSE_DESTRUCTIVE);
  adw_message_dialog_set_response_appearance (ADW_MESSAGE_DIALOG (dialog), "save", ADW_RESPONSE_SUGGESTED);
  adw_message_dialog_set_default_response (ADW_MESSAGE_DIALOG (dialog), "save");
  adw_message_dialog_set_close_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
  g_signal_connect_object (dialog, "response", G_CALLBACK (close_response_cb), self, 0);
  gtk_window_present (GTK_WINDOW (dialog));
}

static const GActionEntry file_actions[] = {
  { "open", open_activated },
  { "save", save_activated },
  { "save-as", save_as_activated },
  { "export", export_activated },
};

void
ib_main_window_files_init (IbMainWindow *self)
{
  g_action_map_add_action_entries (G_ACTION_MAP (self), file_actions, G_N_ELEMENTS (file_actions), self);
}
