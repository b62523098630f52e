/* ib-main-window.c: the editor's window: layout, the model's state, closing. */
#include "ib-main-window.h"

#include <glib/gi18n.h>

struct _IbMainWindow
{
  AdwApplicationWindow parent_instance;

  /* template */
  AdwToastOverlay *toast_overlay;
  AdwWindowTitle *window_title;
  GtkStack *main_stack;
  GtkStack *generate_stack;
  GtkSpinner *model_spinner;
  GtkBox *canvas_slot;
  GtkBox *results_slot;
  GtkBox *panel_slot;
  GMenu *model_section;

  IbApplication *application;          /* weak: the application outlives its windows */
  gulong model_handler;
  gulong loading_handler;
  gulong failed_handler;
};

G_DEFINE_FINAL_TYPE (IbMainWindow, ib_main_window, ADW_TYPE_APPLICATION_WINDOW)

void
ib_main_window_add_toast (IbMainWindow *self,
                          const char   *message)
{
  g_return_if_fail (IB_IS_MAIN_WINDOW (self));
  adw_toast_overlay_add_toast (self->toast_overlay, adw_toast_new (message));
}

/* Models */

static void
update_model_state (IbMainWindow *self)
{
  IbLoadedModel *model = ib_application_get_model (self->application);
  gboolean loading = ib_application_get_model_loading (self->application);
  g_autofree char *subtitle = NULL;

  if (loading)
    subtitle = g_strdup (_("Loading the model…"));
  else if (model != NULL)
    subtitle = g_strdup_printf (_("Model: %s"), ib_loaded_model_get_name (model));
  else
    subtitle = g_strdup (_("No model: open one from the menu"));
  adw_window_title_set_subtitle (self->window_title, subtitle);
  gtk_spinner_set_spinning (self->model_spinner, loading);
  gtk_widget_set_visible (GTK_WIDGET (self->model_spinner), loading);
}

static void
model_failed_response_cb (AdwMessageDialog *dialog,
                          const char       *response,
                          gpointer          user_data)
{
  IbMainWindow *self = user_data;

  if (g_strcmp0 (response, "open-model") == 0)
    gtk_widget_activate_action (GTK_WIDGET (self), "app.open-model", NULL);
}

static void
model_failed_cb (IbApplication *application,
                 const GError  *error,
                 IbMainWindow  *self)
{
  GtkWidget *dialog;

  /* One dialog for the application, over the window the user works in. */
  if (gtk_application_get_active_window (GTK_APPLICATION (application)) != GTK_WINDOW (self))
    return;
  dialog = adw_message_dialog_new (GTK_WINDOW (self), _("The Model Could Not Be Opened"), error->message);
  adw_message_dialog_add_responses (ADW_MESSAGE_DIALOG (dialog),
                                    "close", _("_Close"),
                                    "open-model", _("_Open Another Model…"),
                                    NULL);
  adw_message_dialog_set_response_appearance (ADW_MESSAGE_DIALOG (dialog), "open-model",
                                              ADW_RESPONSE_SUGGESTED);
  adw_message_dialog_set_default_response (ADW_MESSAGE_DIALOG (dialog), "open-model");
  g_signal_connect_object (dialog, "response", G_CALLBACK (model_failed_response_cb), self, 0);
  gtk_window_present (GTK_WINDOW (dialog));
}

/* GObject */

/* After construction: GtkWindow sets "application" only after constructed (). */
static void
set_up_application (IbMainWindow  *self,
                    IbApplication *application)
{
  GSettings *settings;
  g_autoptr(GMenuItem) recent = NULL;

  self->application = application;
  self->model_handler = g_signal_connect_swapped (self->application, "notify::model",
                                                  G_CALLBACK (update_model_state), self);
  self->loading_handler = g_signal_connect_swapped (self->application, "notify::model-loading",
                                                    G_CALLBACK (update_model_state), self);
  self->failed_handler = g_signal_connect (self->application, "model-failed", G_CALLBACK (model_failed_cb), self);
  update_model_state (self);

  recent = g_menu_item_new_submenu (_("_Recent Models"), ib_application_get_recent_models_menu (self->application));
  g_menu_insert_item (self->model_section, 1, recent);

  settings = ib_application_get_settings (self->application);
  if (settings != NULL)
    {
      g_settings_bind (settings, "window-width", self, "default-width", G_SETTINGS_BIND_DEFAULT);
      g_settings_bind (settings, "window-height", self, "default-height", G_SETTINGS_BIND_DEFAULT);
      g_settings_bind (settings, "window-maximized", self, "maximized", G_SETTINGS_BIND_DEFAULT);
    }
}

static void
ib_main_window_dispose (GObject *object)
{
  IbMainWindow *self = IB_MAIN_WINDOW (object);

  if (self->application != NULL)
    {
      g_clear_signal_handler (&self->model_handler, self->application);
      g_clear_signal_handler (&self->loading_handler, self->application);
      g_clear_signal_handler (&self->failed_handler, self->application);
      self->application = NULL;
    }
  G_OBJECT_CLASS (ib_main_window_parent_class)->dispose (object);
}

static void
ib_main_window_class_init (IbMainWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = ib_main_window_dispose;

  gtk_widget_class_set_template_from_resource (widget_class, "/org/imagebart/Studio/ib-main-window.ui");
  gtk_widget_class_bind_template_child (widget_class, IbMainWindow, toast_overlay);
  gtk_widget_class_bind_template_child (widget_class, IbMainWindow, window_title);
  gtk_widget_class_bind_template_child (widget_class, IbMainWindow, main_stack);
  gtk_widget_class_bind_template_child (widget_class, IbMainWindow, generate_stack);
  gtk_widget_class_bind_template_child (widget_class, IbMainWindow, model_spinner);
  gtk_widget_class_bind_template_child (widget_class, IbMainWindow, canvas_slot);
  gtk_widget_class_bind_template_child (widget_class, IbMainWindow, results_slot);
  gtk_widget_class_bind_template_child (widget_class, IbMainWindow, panel_slot);
  gtk_widget_class_bind_template_child (widget_class, IbMainWindow, model_section);
}

static void
ib_main_window_init (IbMainWindow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

IbMainWindow *
ib_main_window_new (IbApplication *application)
{
  IbMainWindow *self;

  g_return_val_if_fail (IB_IS_APPLICATION (application), NULL);

  self = g_object_new (IB_TYPE_MAIN_WINDOW, "application", application, NULL);
  set_up_application (self, application);
  return self;
}
