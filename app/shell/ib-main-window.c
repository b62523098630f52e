/* ib-main-window.c: the editor's window: layout, the model's state, the document on the canvas, drag and
 * drop, the clipboard, undo and redo, before/after, closing. Files are in ib-main-window-files.c, jobs in
 * ib-main-window-generate.c. */
#include "ib-main-window-private.h"

#include <glib/gi18n.h>

#include "ib-preferences-dialog.h"
#include "ib-shm-pool.h"

G_DEFINE_FINAL_TYPE (IbMainWindow, ib_main_window, ADW_TYPE_APPLICATION_WINDOW)

void
ib_main_window_add_toast (IbMainWindow *self,
                          const char   *message)
{
  g_return_if_fail (IB_IS_MAIN_WINDOW (self));
  adw_toast_overlay_add_toast (self->toast_overlay, adw_toast_new (message));
}

void
ib_main_window_show_error (IbMainWindow *self,
                           const char   *heading,
                           const char   *body)
{
  GtkWidget *dialog = adw_message_dialog_new (GTK_WINDOW (self), heading, body);

  adw_message_dialog_add_response (ADW_MESSAGE_DIALOG (dialog), "close", _("_Close"));
  gtk_window_present (GTK_WINDOW (dialog));
}

GWeakRef *
ib_main_window_weak_ref (IbMainWindow *self)
{
  GWeakRef *ref = g_new (GWeakRef, 1);

  g_weak_ref_init (ref, self);
  return ref;
}

IbMainWindow *
ib_main_window_weak_ref_take (GWeakRef *ref)
{
  IbMainWindow *self = g_weak_ref_get (ref);

  g_weak_ref_clear (ref);
  g_free (ref);
  return self;
}

gboolean
ib_main_window_forward_to_text (IbMainWindow *self,
                                const char   *action_name)
{
  GtkWidget *focus = gtk_root_get_focus (GTK_ROOT (self));

  if (focus == NULL || !(GTK_IS_EDITABLE (focus) || GTK_IS_TEXT_VIEW (focus)))
    return FALSE;
  gtk_widget_activate_action (focus, action_name, NULL);
  return TRUE;
}

static void
set_action_enabled (IbMainWindow *self,
                    const char   *name,
                    gboolean      enabled)
{
  GAction *action = g_action_map_lookup_action (G_ACTION_MAP (self), name);

  g_simple_action_set_enabled (G_SIMPLE_ACTION (action), enabled);
}

void
ib_main_window_update_actions (IbMainWindow *self)
{
  gboolean has_document = self->document != NULL;
  gboolean running = ib_job_runner_get_running (self->runner);

  set_action_enabled (self, "save", has_document);
  set_action_enabled (self, "save-as", has_document);
  set_action_enabled (self, "export", has_document);
  set_action_enabled (self, "copy", has_document);
  set_action_enabled (self, "undo", has_document && ib_document_can_undo (self->document));
  set_action_enabled (self, "redo", has_document && ib_document_can_redo (self->document));
  set_action_enabled (self, "generate", has_document && self->model != NULL && !running);
  /* Escape reaches other widgets (popovers, entries) whenever nothing runs. */
  set_action_enabled (self, "cancel", running);
  set_action_enabled (self, "accept-variant", self->result != NULL);
  set_action_enabled (self, "reject-variant", self->result != NULL);
  gtk_stack_set_visible_child_name (self->generate_stack, running ? "cancel" : "generate");
}

/* Models */

static void
update_model_state (IbMainWindow *self)
{
  IbLoadedModel *model = ib_application_get_model (self->application);
  gboolean loading = ib_application_get_model_loading (self->application);
  g_autofree char *subtitle = NULL;

  if (model != self->model)
    {
      const IbModelConfig *config = model != NULL ? ib_loaded_model_get_config (model) : NULL;

      /* A running job keeps its own model (job_model) until the runner lets go of it. */
      ib_main_window_clear_results (self);
      ib_generate_panel_set_model (self->panel, model != NULL ? ib_loaded_model_get_file (model) : NULL);
      g_set_object (&self->model, model);
      ib_canvas_set_model_geometry (self->canvas, config != NULL ? config->resolution : 0,
                                    config != NULL ? config->token_width : 0);
    }

  if (loading)
    subtitle = g_strdup (_("Loading the model…"));
  else if (model != NULL)
    subtitle = g_strdup_printf (_("Model: %s"), ib_loaded_model_get_name (model));
  else
    subtitle = g_strdup (_("No model: open one from the menu"));
  adw_window_title_set_subtitle (self->window_title, subtitle);
  gtk_spinner_set_spinning (self->model_spinner, loading);
  gtk_widget_set_visible (GTK_WIDGET (self->model_spinner), loading);
  ib_main_window_update_actions (self);
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

/* Documents */

IbDocument *
ib_main_window_get_document (IbMainWindow *self)
{
  g_return_val_if_fail (IB_IS_MAIN_WINDOW (self), NULL);
  return self->document;
}

gboolean
ib_main_window_has_document (IbMainWindow *self)
{
  g_return_val_if_fail (IB_IS_MAIN_WINDOW (self), FALSE);
  return self->document != NULL;
}

static void
update_title (IbMainWindow *self)
{
  g_autofree char *title = NULL;

  if (self->document == NULL)
    {
      adw_window_title_set_title (self->window_title, _("ImageBART Studio"));
      gtk_window_set_title (GTK_WINDOW (self), _("ImageBART Studio"));
      return;
    }
  /* TRANSLATORS: the window title of a picture with unsaved changes */
  title = ib_document_get_modified (self->document)
            ? g_strdup_printf (_("• %s"), ib_document_get_title (self->document))
            : g_strdup (ib_document_get_title (self->document));
  adw_window_title_set_title (self->window_title, title);
  gtk_window_set_title (GTK_WINDOW (self), title);
}

static void
picture_changed_cb (IbDocument   *document,
                    int           x,
                    int           y,
                    int           width,
                    int           height,
                    IbMainWindow *self)
{
  ib_canvas_set_picture (self->canvas, ib_document_get_texture (document));
}

/* The undo history's memory cap (history-memory-mib), for the document shown. */
static void
apply_history_cap (IbMainWindow *self)
{
  GSettings *settings = ib_application_get_settings (self->application);

  if (settings != NULL && self->document != NULL)
    ib_history_set_max_bytes (ib_document_get_history (self->document),
                              (guint64) g_settings_get_int (settings, "history-memory-mib") << 20);
}

void
ib_main_window_set_document (IbMainWindow *self,
                             IbDocument   *document)
{
  if (self->document == document)
    return;
  ib_main_window_clear_results (self);
  if (self->document != NULL)
    {
      ib_application_forget_document (self->application, self->document);
      g_signal_handlers_disconnect_by_data (self->document, self);
    }
  g_set_object (&self->document, document);
  if (document != NULL)
    {
      g_signal_connect_object (document, "notify::title", G_CALLBACK (update_title), self, G_CONNECT_SWAPPED);
      g_signal_connect_object (document, "notify::modified", G_CALLBACK (update_title), self, G_CONNECT_SWAPPED);
      g_signal_connect_object (document, "notify::can-undo", G_CALLBACK (ib_main_window_update_actions), self,
                               G_CONNECT_SWAPPED);
      g_signal_connect_object (document, "notify::can-redo", G_CALLBACK (ib_main_window_update_actions), self,
                               G_CONNECT_SWAPPED);
      g_signal_connect_object (document, "picture-changed", G_CALLBACK (picture_changed_cb), self, 0);
      apply_history_cap (self);
      ib_canvas_set_picture (self->canvas, ib_document_get_texture (document));
      ib_canvas_set_mask (self->canvas, ib_document_get_mask (document));
      ib_canvas_zoom_fit (self->canvas);
      ib_application_watch_document (self->application, document);
      gtk_stack_set_visible_child_name (self->main_stack, "editor");
      gtk_widget_grab_focus (GTK_WIDGET (self->canvas));
    }
  else
    {
      ib_canvas_set_picture (self->canvas, NULL);
      ib_canvas_set_mask (self->canvas, NULL);
      gtk_stack_set_visible_child_name (self->main_stack, "empty");
    }
  update_title (self);
  ib_main_window_update_actions (self);
}

/* A document goes into this window when it has none, else into a new one. */
static void
show_document (IbMainWindow *self,
               IbDocument   *document)
{
  IbMainWindow *window = self;

  if (self->document != NULL)
    window = ib_main_window_new (self->application);
  ib_main_window_set_document (window, document);
  gtk_window_present (GTK_WINDOW (window));
}

void
ib_main_window_open_file (IbMainWindow *self,
                          GFile        *file)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(IbDocument) document = NULL;

  g_return_if_fail (IB_IS_MAIN_WINDOW (self));
  g_return_if_fail (G_IS_FILE (file));

  document = ib_document_new_from_file (file, &error);
  if (document == NULL)
    {
      g_autofree char *name = g_file_get_basename (file);
      g_autofree char *heading = g_strdup_printf (_("“%s” Could Not Be Opened"), name);

      ib_main_window_show_error (self, heading, error->message);
      return;
    }
  show_document (self, document);
}

static void
open_texture (IbMainWindow *self,
              GdkTexture   *texture,
              const char   *where)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(IbDocument) document = ib_document_new_from_texture (texture, &error);

  if (document == NULL)
    {
      ib_main_window_show_error (self, where, error->message);
      return;
    }
  show_document (self, document);
}

/* Drag and drop */

static gboolean
drop_cb (GtkDropTarget *target,
         const GValue  *value,
         double         x,
         double         y,
         IbMainWindow  *self)
{
  if (G_VALUE_HOLDS (value, G_TYPE_FILE))
    ib_main_window_open_file (self, g_value_get_object (value));
  else if (G_VALUE_HOLDS (value, GDK_TYPE_TEXTURE))
    open_texture (self, g_value_get_object (value), _("The Dropped Picture Could Not Be Opened"));
  else
    return FALSE;
  return TRUE;
}

/* Clipboard */

static void
paste_texture_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(IbMainWindow) self = ib_main_window_weak_ref_take (user_data);
  g_autoptr(GError) error = NULL;
  g_autoptr(GdkTexture) texture = gdk_clipboard_read_texture_finish (GDK_CLIPBOARD (source), result, &error);

  if (self == NULL)
    return;
  if (texture == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        ib_main_window_add_toast (self, _("The clipboard holds no picture"));
      return;
    }
  open_texture (self, texture, _("The Pasted Picture Could Not Be Opened"));
}

static void
paste_activated (GSimpleAction *action,
                 GVariant      *parameter,
                 gpointer       user_data)
{
  IbMainWindow *self = user_data;

  if (ib_main_window_forward_to_text (self, "clipboard.paste"))
    return;
  gdk_clipboard_read_texture_async (gtk_widget_get_clipboard (GTK_WIDGET (self)), self->cancellable,
                                    paste_texture_cb, ib_main_window_weak_ref (self));
}

static void
copy_activated (GSimpleAction *action,
                GVariant      *parameter,
                gpointer       user_data)
{
  IbMainWindow *self = user_data;

  if (ib_main_window_forward_to_text (self, "clipboard.copy") || self->document == NULL)
    return;
  gdk_clipboard_set_texture (gtk_widget_get_clipboard (GTK_WIDGET (self)),
                             ib_document_get_texture (self->document));
  ib_main_window_add_toast (self, _("Picture copied"));
}

/* Undo and redo */

static void
undo_activated (GSimpleAction *action,
                GVariant      *parameter,
                gpointer       user_data)
{
  IbMainWindow *self = user_data;

  /* Not in the middle of a stroke: it becomes one step when the button is released. */
  if (!ib_main_window_forward_to_text (self, "text.undo") && self->document != NULL &&
      !ib_canvas_is_stroking (self->canvas))
    ib_document_undo (self->document);
}

static void
redo_activated (GSimpleAction *action,
                GVariant      *parameter,
                gpointer       user_data)
{
  IbMainWindow *self = user_data;

  /* Not in the middle of a stroke: it becomes one step when the button is released. */
  if (!ib_main_window_forward_to_text (self, "text.redo") && self->document != NULL &&
      !ib_canvas_is_stroking (self->canvas))
    ib_document_redo (self->document);
}

/* Before/after: the original shows while backslash is held (outside text fields). */

static gboolean
key_pressed_cb (GtkEventControllerKey *controller,
                guint                  keyval,
                guint                  keycode,
                GdkModifierType        state,
                IbMainWindow          *self)
{
  GtkWidget *focus = gtk_root_get_focus (GTK_ROOT (self));

  if (keyval != GDK_KEY_backslash || self->document == NULL
      || (focus != NULL && (GTK_IS_EDITABLE (focus) || GTK_IS_TEXT_VIEW (focus))))
    return FALSE;
  ib_canvas_set_show_original (self->canvas, TRUE);
  return TRUE;
}

static void
key_released_cb (GtkEventControllerKey *controller,
                 guint                  keyval,
                 guint                  keycode,
                 GdkModifierType        state,
                 IbMainWindow          *self)
{
  if (keyval == GDK_KEY_backslash)
    ib_canvas_set_show_original (self->canvas, FALSE);
}

/* Closing */

static void
close_activated (GSimpleAction *action,
                 GVariant      *parameter,
                 gpointer       user_data)
{
  gtk_window_close (GTK_WINDOW (user_data));
}

static gboolean
ib_main_window_close_request (GtkWindow *window)
{
  IbMainWindow *self = IB_MAIN_WINDOW (window);

  if (self->document != NULL && ib_document_get_modified (self->document) && !self->close_confirmed)
    {
      ib_main_window_ask_to_close (self);
      return TRUE;
    }
  /* Quitting during a job: it stops within one decoding step, the window does not wait for its end. */
  ib_job_runner_cancel (self->runner);
  return GTK_WINDOW_CLASS (ib_main_window_parent_class)->close_request (window);
}

static const GActionEntry win_actions[] = {
  { "copy", copy_activated },
  { "paste", paste_activated },
  { "undo", undo_activated },
  { "redo", redo_activated },
  { "close", close_activated },
};

/* GObject */

/* After construction: GtkWindow sets "application" only after constructed (). */
static void
set_up_application (IbMainWindow  *self,
                    IbApplication *application)
{
  GSettings *settings;
  g_autoptr(GMenuItem) recent = NULL;

  /* The application may go first when a pending callback keeps a closed window alive. */
  g_set_weak_pointer (&self->application, application);
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
      g_settings_bind (settings, "mask-opacity", self->canvas, "mask-opacity", G_SETTINGS_BIND_GET);
      g_settings_bind_with_mapping (settings, "mask-colour", self->canvas, "mask-colour", G_SETTINGS_BIND_GET,
                                    ib_settings_colour_get_mapping, NULL, NULL, NULL);
      g_settings_bind_with_mapping (settings, "grid-colour", self->canvas, "grid-colour", G_SETTINGS_BIND_GET,
                                    ib_settings_colour_get_mapping, NULL, NULL, NULL);
      g_signal_connect_object (settings, "changed::history-memory-mib", G_CALLBACK (apply_history_cap), self,
                               G_CONNECT_SWAPPED);
    }
}

static void
ib_main_window_dispose (GObject *object)
{
  IbMainWindow *self = IB_MAIN_WINDOW (object);

  if (self->cancellable != NULL)
    g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  if (self->application != NULL)
    {
      g_clear_signal_handler (&self->model_handler, self->application);
      g_clear_signal_handler (&self->loading_handler, self->application);
      g_clear_signal_handler (&self->failed_handler, self->application);
      if (self->document != NULL)
        ib_application_forget_document (self->application, self->document);
      g_clear_weak_pointer (&self->application);
    }
  ib_main_window_generate_dispose (self);
  if (self->panel != NULL)
    ib_generate_panel_set_model (self->panel, NULL);
  g_clear_object (&self->model);
  g_clear_object (&self->document);
  gtk_widget_dispose_template (GTK_WIDGET (self), IB_TYPE_MAIN_WINDOW);
  G_OBJECT_CLASS (ib_main_window_parent_class)->dispose (object);
}

/* Under the cairo renderer on X11, the first window-wide frame of a job's levels otherwise faults in a fresh
 * shared-memory segment while the user paints (ib-shm-pool.h). */
static void
ib_main_window_realize (GtkWidget *widget)
{
  GTK_WIDGET_CLASS (ib_main_window_parent_class)->realize (widget);
  ib_keep_shm_pool (widget);
}

static void
ib_main_window_class_init (IbMainWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  GtkWindowClass *window_class = GTK_WINDOW_CLASS (klass);

  object_class->dispose = ib_main_window_dispose;
  widget_class->realize = ib_main_window_realize;
  window_class->close_request = ib_main_window_close_request;

  g_type_ensure (IB_TYPE_CANVAS);
  g_type_ensure (IB_TYPE_GENERATE_PANEL);
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
  GtkDropTarget *drop;
  GtkEventController *keys;
  GType drop_types[] = { G_TYPE_FILE, GDK_TYPE_TEXTURE };

  gtk_widget_init_template (GTK_WIDGET (self));
  self->cancellable = g_cancellable_new ();

  self->canvas = IB_CANVAS (ib_canvas_new ());
  gtk_widget_set_hexpand (GTK_WIDGET (self->canvas), TRUE);
  gtk_widget_set_vexpand (GTK_WIDGET (self->canvas), TRUE);
  gtk_box_append (self->canvas_slot, GTK_WIDGET (self->canvas));
  self->panel = IB_GENERATE_PANEL (ib_generate_panel_new ());
  gtk_box_append (self->panel_slot, GTK_WIDGET (self->panel));

  g_action_map_add_action_entries (G_ACTION_MAP (self), win_actions, G_N_ELEMENTS (win_actions), self);
  ib_main_window_files_init (self);
  ib_main_window_generate_init (self);

  drop = gtk_drop_target_new (G_TYPE_INVALID, GDK_ACTION_COPY);
  gtk_drop_target_set_gtypes (drop, drop_types, G_N_ELEMENTS (drop_types));
  g_signal_connect (drop, "drop", G_CALLBACK (drop_cb), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (drop));

  keys = gtk_event_controller_key_new ();
  gtk_event_controller_set_propagation_phase (keys, GTK_PHASE_CAPTURE);
  g_signal_connect (keys, "key-pressed", G_CALLBACK (key_pressed_cb), self);
  g_signal_connect (keys, "key-released", G_CALLBACK (key_released_cb), self);
  gtk_widget_add_controller (GTK_WIDGET (self), keys);

  ib_main_window_update_actions (self);
}

IbCanvas *
ib_main_window_get_canvas (IbMainWindow *self)
{
  g_return_val_if_fail (IB_IS_MAIN_WINDOW (self), NULL);
  return self->canvas;
}

IbGeneratePanel *
ib_main_window_get_panel (IbMainWindow *self)
{
  g_return_val_if_fail (IB_IS_MAIN_WINDOW (self), NULL);
  return self->panel;
}

IbJobRunner *
ib_main_window_get_runner (IbMainWindow *self)
{
  g_return_val_if_fail (IB_IS_MAIN_WINDOW (self), NULL);
  return self->runner;
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
