/* ib-application.c: the editor's application: windows, app-wide actions, settings and the model. */
#include "ib-application.h"

#include <glib/gi18n.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "ib-about.h"

#include "ib-main-window.h"
#include "ib-model-info-dialog.h"
#include "ib-preferences-dialog.h"
#include "ib-recovery-dialog.h"
#include "ib-renderer-choice.h"
#include "ib-shell-config.h"
#include "ib-studio-config.h"

#define IB_RECENT_MODELS_MAX 8
#define IB_DEFAULT_MODEL_NAME "default.safetensors"

struct _IbApplication
{
  AdwApplication parent_instance;

  GSettings *settings;
  IbLoadedModel *model;
  GCancellable *model_cancellable;     /* the load in progress, or NULL */
  char *model_option;                  /* --model, as an absolute path */
  gboolean model_requested;            /* a load was started once: start-up does not look again */
  GMenu *recent_models_menu;
  IbRecovery *recovery;
  gboolean recovery_offered;
};

G_DEFINE_FINAL_TYPE (IbApplication, ib_application, ADW_TYPE_APPLICATION)

enum
{
  PROP_0,
  PROP_MODEL,
  PROP_MODEL_LOADING,
  N_PROPS
};

enum
{
  MODEL_FAILED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

/* Settings */

/* The installed schema, else the one compiled in the build folder (running uninstalled). Never aborts as
 * g_settings_new would on a missing schema: the editor works without preferences. */
static GSettings *
new_settings (void)
{
  GSettingsSchemaSource *source = g_settings_schema_source_get_default ();
  g_autoptr(GSettingsSchema) schema = NULL;
  g_autoptr(GSettingsSchemaSource) build_source = NULL;

  if (source != NULL)
    schema = g_settings_schema_source_lookup (source, APP_ID, TRUE);
  if (schema == NULL)
    {
      build_source = g_settings_schema_source_new_from_directory (IB_BUILD_SCHEMA_DIR, source, FALSE, NULL);
      if (build_source != NULL)
        schema = g_settings_schema_source_lookup (build_source, APP_ID, TRUE);
    }
  if (schema == NULL)
    {
      g_warning ("The settings schema %s is not installed: preferences are not kept", APP_ID);
      return NULL;
    }
  return g_settings_new_full (schema, NULL, NULL);
}

GSettings *
ib_application_get_settings (IbApplication *self)
{
  g_return_val_if_fail (IB_IS_APPLICATION (self), NULL);
  return self->settings;
}

/* Models */

IbLoadedModel *
ib_application_get_model (IbApplication *self)
{
  g_return_val_if_fail (IB_IS_APPLICATION (self), NULL);
  return self->model;
}

gboolean
ib_application_get_model_loading (IbApplication *self)
{
  g_return_val_if_fail (IB_IS_APPLICATION (self), FALSE);
  return self->model_cancellable != NULL;
}

static void
remember_recent_model (IbApplication *self,
                       const char    *path)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_auto(GStrv) recent = NULL;
  g_auto(GStrv) updated = NULL;
  guint n = 1;

  if (self->settings == NULL)
    return;
  recent = g_settings_get_strv (self->settings, "recent-models");
  g_strv_builder_add (builder, path);
  for (guint i = 0; recent[i] != NULL && n < IB_RECENT_MODELS_MAX; i++)
    if (g_strcmp0 (recent[i], path) != 0)
      {
        g_strv_builder_add (builder, recent[i]);
        n++;
      }
  updated = g_strv_builder_end (builder);
  g_settings_set_strv (self->settings, "recent-models", (const char * const *) updated);
}

static void
rebuild_recent_models_menu (IbApplication *self)
{
  g_auto(GStrv) recent = NULL;

  g_menu_remove_all (self->recent_models_menu);
  if (self->settings == NULL)
    return;
  recent = g_settings_get_strv (self->settings, "recent-models");
  for (guint i = 0; recent[i] != NULL; i++)
    {
      g_autofree char *name = g_path_get_basename (recent[i]);
      g_autoptr(GMenuItem) item = g_menu_item_new (name, NULL);

      g_menu_item_set_action_and_target_value (item, "app.open-recent-model", g_variant_new_string (recent[i]));
      g_menu_append_item (self->recent_models_menu, item);
    }
}

static void
model_loaded_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(IbApplication) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(IbLoadedModel) model = ib_loaded_model_open_finish (result, &error);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;                              /* superseded by a newer load, which owns model_cancellable */
  g_clear_object (&self->model_cancellable);
  if (model == NULL)
    {
      g_signal_emit (self, signals[MODEL_FAILED], 0, error);
    }
  else
    {
      g_set_object (&self->model, model);
      ib_loaded_model_start_hashing (model);
      remember_recent_model (self, ib_loaded_model_get_path (model));
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MODEL]);
    }
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MODEL_LOADING]);
}

void
ib_application_load_model (IbApplication *self,
                           const char    *path)
{
  gboolean was_loading;

  g_return_if_fail (IB_IS_APPLICATION (self));
  g_return_if_fail (path != NULL);

  was_loading = self->model_cancellable != NULL;
  if (was_loading)
    g_cancellable_cancel (self->model_cancellable);
  g_clear_object (&self->model_cancellable);
  self->model_cancellable = g_cancellable_new ();
  self->model_requested = TRUE;
  ib_loaded_model_open_async (path, self->model_cancellable, model_loaded_cb, g_object_ref (self));
  if (!was_loading)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MODEL_LOADING]);
}

char *
ib_application_find_default_model (IbApplication *self)
{
  g_autofree char *setting = NULL;
  const char *const candidates[] = {
    PKGDATADIR G_DIR_SEPARATOR_S "models" G_DIR_SEPARATOR_S IB_DEFAULT_MODEL_NAME,
    SOURCE_DATADIR G_DIR_SEPARATOR_S "models" G_DIR_SEPARATOR_S IB_DEFAULT_MODEL_NAME,
  };

  g_return_val_if_fail (IB_IS_APPLICATION (self), NULL);

  if (self->model_option != NULL)
    return g_strdup (self->model_option);
  if (self->settings != NULL)
    setting = g_settings_get_string (self->settings, "model-path");
  if (setting != NULL && setting[0] != '\0')
    return g_steal_pointer (&setting);
  for (gsize i = 0; i < G_N_ELEMENTS (candidates); i++)
    if (g_file_test (candidates[i], G_FILE_TEST_IS_REGULAR))
      return g_strdup (candidates[i]);
  return NULL;
}

/* Starts the first load, once: after --model was read and before the first window needs a model. */
static void
ensure_model (IbApplication *self)
{
  g_autofree char *path = NULL;

  if (self->model_requested)
    return;
  self->model_requested = TRUE;
  path = ib_application_find_default_model (self);
  if (path != NULL)
    ib_application_load_model (self, path);
}

/* Crash recovery */

void
ib_application_watch_document (IbApplication *self,
                               IbDocument    *document)
{
  g_return_if_fail (IB_IS_APPLICATION (self));
  g_return_if_fail (IB_IS_DOCUMENT (document));

  if (self->recovery != NULL)
    ib_recovery_add_document (self->recovery, document);
}

void
ib_application_forget_document (IbApplication *self,
                                IbDocument    *document)
{
  g_return_if_fail (IB_IS_APPLICATION (self));
  g_return_if_fail (IB_IS_DOCUMENT (document));

  if (self->recovery != NULL)
    ib_recovery_remove_document (self->recovery, document);
}

static void
update_autosave_interval (IbApplication *self)
{
  ib_recovery_set_interval (self->recovery, (guint) g_settings_get_int (self->settings, "autosave-interval"));
}

/* Actions */

static void
quit_activated (GSimpleAction *action,
                GVariant      *parameter,
                gpointer       user_data)
{
  GtkApplication *app = user_data;
  g_autoptr(GList) windows = g_list_copy (gtk_application_get_windows (app));

  /* Each window asks about its own unsaved work and cancels its own job; the application ends with the
   * last one. */
  for (GList *l = windows; l != NULL; l = l->next)
    gtk_window_close (l->data);
}

/* Dialogs go over the window the user works in. */
static void
present_dialog (IbApplication *self,
                GtkWidget     *dialog)
{
  gtk_window_set_transient_for (GTK_WINDOW (dialog), gtk_application_get_active_window (GTK_APPLICATION (self)));
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
preferences_activated (GSimpleAction *action,
                       GVariant      *parameter,
                       gpointer       user_data)
{
  IbApplication *self = user_data;

  if (self->settings != NULL)
    present_dialog (self, ib_preferences_dialog_new (self->settings));
}

static void
model_info_activated (GSimpleAction *action,
                      GVariant      *parameter,
                      gpointer       user_data)
{
  IbApplication *self = user_data;

  if (self->model != NULL)
    present_dialog (self, ib_model_info_dialog_new (self->model));
}

static void
about_activated (GSimpleAction *action,
                 GVariant      *parameter,
                 gpointer       user_data)
{
  ib_about_show (gtk_application_get_active_window (GTK_APPLICATION (user_data)));
}

static void
shortcuts_activated (GSimpleAction *action,
                     GVariant      *parameter,
                     gpointer       user_data)
{
  g_autoptr(GtkBuilder) builder = gtk_builder_new_from_resource ("/org/imagebart/Studio/ib-shortcuts-window.ui");
  GtkWidget *window = GTK_WIDGET (gtk_builder_get_object (builder, "help_overlay"));

  present_dialog (user_data, window);
}

static void
open_model_response_cb (GtkNativeDialog *chooser,
                        int              response,
                        gpointer         user_data)
{
  IbApplication *self = user_data;

  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr(GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (chooser));
      g_autofree char *path = file != NULL ? g_file_get_path (file) : NULL;

      if (path != NULL)
        ib_application_load_model (self, path);
    }
  gtk_native_dialog_destroy (chooser);
  g_object_unref (chooser);
}

static void
open_model_activated (GSimpleAction *action,
                      GVariant      *parameter,
                      gpointer       user_data)
{
  IbApplication *self = user_data;
  GtkWindow *parent = gtk_application_get_active_window (GTK_APPLICATION (self));
  GtkFileChooserNative *chooser;
  g_autoptr(GtkFileFilter) filter = gtk_file_filter_new ();

  chooser = gtk_file_chooser_native_new (_("Open Model"), parent, GTK_FILE_CHOOSER_ACTION_OPEN, _("_Open"),
                                         _("_Cancel"));
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (chooser), TRUE);
  gtk_file_filter_set_name (filter, _("ImageBART models"));
  gtk_file_filter_add_pattern (filter, "*.safetensors");
  gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (chooser), filter);
  g_signal_connect (chooser, "response", G_CALLBACK (open_model_response_cb), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (chooser));
}

static void
open_recent_model_activated (GSimpleAction *action,
                             GVariant      *parameter,
                             gpointer       user_data)
{
  ib_application_load_model (user_data, g_variant_get_string (parameter, NULL));
}

static const GActionEntry app_actions[] = {
  { "quit", quit_activated },
  { "preferences", preferences_activated },
  { "about", about_activated },
  { "shortcuts", shortcuts_activated },
  { "model-info", model_info_activated },
  { "open-model", open_model_activated },
  { "open-recent-model", open_recent_model_activated, "s" },
};

static const struct
{
  const char *action;
  const char *accels[3];
} app_accels[] = {
  { "app.quit", { "<Control>q", NULL } },
  { "app.preferences", { "<Control>comma", NULL } },
  { "app.shortcuts", { "<Control>question", NULL } },
  { "app.open-model", { "<Control>m", NULL } },
  { "win.open", { "<Control>o", NULL } },
  { "win.save", { "<Control>s", NULL } },
  { "win.save-as", { "<Shift><Control>s", NULL } },
  { "win.export", { "<Shift><Control>e", NULL } },
  { "win.copy", { "<Control>c", NULL } },
  { "win.paste", { "<Control>v", NULL } },
  { "win.close", { "<Control>w", NULL } },
  { "win.undo", { "<Control>z", NULL } },
  { "win.redo", { "<Shift><Control>z", "<Control>y", NULL } },
  { "win.generate", { "<Control>Return", NULL } },
  { "win.cancel", { "Escape", NULL } },
  { "win.accept-variant", { "<Shift><Control>Return", NULL } },
  { "win.reject-variant", { "<Control>BackSpace", NULL } },
};

static void
update_model_actions (IbApplication *self)
{
  GAction *info = g_action_map_lookup_action (G_ACTION_MAP (self), "model-info");

  g_simple_action_set_enabled (G_SIMPLE_ACTION (info), self->model != NULL);
}

/* GApplication */

/* glibc maps fresh memory for every allocation over 128 kB or so and hands what is freed back to the
 * kernel, so each Generate's copy of a 2048 x 2048 mask (4 MB) page-faulted anew on the UI thread: 10-20 ms
 * of its frame on the development machine, against 3-4 ms with these (docs/performance.md, item 15). The
 * editor keeps up to 128 MB of freed memory for reuse and serves blocks up to 32 MB from it. */
static void
keep_freed_memory (void)
{
#ifdef __GLIBC__
  mallopt (M_MMAP_THRESHOLD, 32 * 1024 * 1024);
  mallopt (M_TRIM_THRESHOLD, 128 * 1024 * 1024);
#endif
}

static void
ib_application_startup (GApplication *application)
{
  IbApplication *self = IB_APPLICATION (application);

  G_APPLICATION_CLASS (ib_application_parent_class)->startup (application);
  keep_freed_memory ();
  ib_prefer_cairo_on_software_gl (gdk_display_get_default ());

  self->settings = new_settings ();
  g_action_map_add_action_entries (G_ACTION_MAP (self), app_actions, G_N_ELEMENTS (app_actions), self);
  for (gsize i = 0; i < G_N_ELEMENTS (app_accels); i++)
    gtk_application_set_accels_for_action (GTK_APPLICATION (self), app_accels[i].action,
                                           app_accels[i].accels);
  update_model_actions (self);
  g_signal_connect_swapped (self, "notify::model", G_CALLBACK (update_model_actions), self);
  if (self->settings != NULL)
    g_signal_connect_swapped (self->settings, "changed::recent-models", G_CALLBACK (rebuild_recent_models_menu),
                              self);
  rebuild_recent_models_menu (self);

  self->recovery = ib_recovery_new (NULL);
  if (self->settings != NULL)
    {
      g_signal_connect_swapped (self->settings, "changed::autosave-interval", G_CALLBACK (update_autosave_interval),
                                self);
      update_autosave_interval (self);
    }
}

/* The window a document should go to: an empty one if there is one, else a new one. */
static IbMainWindow *
window_for_document (IbApplication *self)
{
  for (GList *l = gtk_application_get_windows (GTK_APPLICATION (self)); l != NULL; l = l->next)
    if (IB_IS_MAIN_WINDOW (l->data) && !ib_main_window_has_document (l->data))
      return l->data;
  ensure_model (self);
  return ib_main_window_new (self);
}

static void
recovery_restored_cb (IbRecoveryDialog *dialog,
                      IbDocument       *document,
                      IbApplication    *self)
{
  IbMainWindow *window = window_for_document (self);

  ib_main_window_set_document (window, document);
  gtk_window_present (GTK_WINDOW (window));
}

/* Once, over the first window: what a crash left behind. */
static void
offer_recovery (IbApplication *self,
                GtkWindow     *window)
{
  g_autoptr(GPtrArray) entries = NULL;
  GtkWidget *dialog;

  if (self->recovery_offered)
    return;
  self->recovery_offered = TRUE;
  entries = ib_recovery_list (self->recovery);
  if (entries == NULL || entries->len == 0)
    return;
  dialog = ib_recovery_dialog_new (window, self->recovery, g_steal_pointer (&entries));
  g_signal_connect_object (dialog, "restored", G_CALLBACK (recovery_restored_cb), self, 0);
  gtk_window_present (GTK_WINDOW (dialog));
}

static IbMainWindow *
new_window (IbApplication *self)
{
  ensure_model (self);
  return ib_main_window_new (self);
}

static void
ib_application_activate (GApplication *application)
{
  GtkWindow *window = gtk_application_get_active_window (GTK_APPLICATION (application));

  if (window == NULL)
    window = GTK_WINDOW (new_window (IB_APPLICATION (application)));
  gtk_window_present (window);
  offer_recovery (IB_APPLICATION (application), window);
}

static void
ib_application_open (GApplication  *application,
                     GFile        **files,
                     int            n_files,
                     const char    *hint)
{
  IbApplication *self = IB_APPLICATION (application);

  /* The first file goes into an empty window if there is one, every other into a window of its own. */
  for (int i = 0; i < n_files; i++)
    {
      IbMainWindow *window = window_for_document (self);

      ib_main_window_open_file (window, files[i]);
      gtk_window_present (GTK_WINDOW (window));
      offer_recovery (self, GTK_WINDOW (window));
    }
}

static int
ib_application_handle_local_options (GApplication *application,
                                     GVariantDict *options)
{
  IbApplication *self = IB_APPLICATION (application);
  const char *model = NULL;

  if (g_variant_dict_lookup (options, "model", "^&ay", &model))
    {
      g_autoptr(GFile) file = g_file_new_for_commandline_arg (model);

      g_autoptr(GError) error = NULL;

      g_free (self->model_option);
      self->model_option = g_file_get_path (file);
      /* When another instance is already running, it is the one that loads the model. */
      if (!g_application_register (application, NULL, &error))
        {
          g_printerr ("%s\n", error->message);
          return 1;
        }
      if (g_application_get_is_remote (application))
        g_action_group_activate_action (G_ACTION_GROUP (application), "open-recent-model",
                                        g_variant_new_string (self->model_option));
    }
  return -1;
}

static void
ib_application_dispose (GObject *object)
{
  IbApplication *self = IB_APPLICATION (object);

  if (self->model_cancellable != NULL)
    g_cancellable_cancel (self->model_cancellable);
  g_clear_object (&self->model_cancellable);
  g_clear_object (&self->model);
  g_clear_object (&self->settings);
  g_clear_object (&self->recent_models_menu);
  g_clear_object (&self->recovery);
  G_OBJECT_CLASS (ib_application_parent_class)->dispose (object);
}

static void
ib_application_finalize (GObject *object)
{
  IbApplication *self = IB_APPLICATION (object);

  g_free (self->model_option);
  G_OBJECT_CLASS (ib_application_parent_class)->finalize (object);
}

static void
ib_application_get_property (GObject    *object,
                             guint       prop_id,
                             GValue     *value,
                             GParamSpec *pspec)
{
  IbApplication *self = IB_APPLICATION (object);

  switch (prop_id)
    {
    case PROP_MODEL:
      g_value_set_object (value, self->model);
      break;
    case PROP_MODEL_LOADING:
      g_value_set_boolean (value, ib_application_get_model_loading (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
ib_application_class_init (IbApplicationClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GApplicationClass *app_class = G_APPLICATION_CLASS (klass);

  object_class->dispose = ib_application_dispose;
  object_class->finalize = ib_application_finalize;
  object_class->get_property = ib_application_get_property;
  app_class->startup = ib_application_startup;
  app_class->activate = ib_application_activate;
  app_class->open = ib_application_open;
  app_class->handle_local_options = ib_application_handle_local_options;

  properties[PROP_MODEL] =
    g_param_spec_object ("model", NULL, NULL, IB_TYPE_LOADED_MODEL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_MODEL_LOADING] =
    g_param_spec_boolean ("model-loading", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /* A model that failed to open (the error says which file and why); the previous model, if any, stays. */
  signals[MODEL_FAILED] =
    g_signal_new ("model-failed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_ERROR);
}

static void
ib_application_init (IbApplication *self)
{
  const GOptionEntry options[] = {
    { "model", 0, 0, G_OPTION_ARG_FILENAME, NULL, N_("The model file to edit with"), N_("FILE") },
    { NULL }
  };

  self->recent_models_menu = g_menu_new ();
  g_application_add_main_option_entries (G_APPLICATION (self), options);
}

GMenuModel *
ib_application_get_recent_models_menu (IbApplication *self)
{
  g_return_val_if_fail (IB_IS_APPLICATION (self), NULL);
  return G_MENU_MODEL (self->recent_models_menu);
}

IbApplication *
ib_application_new (void)
{
  return g_object_new (IB_TYPE_APPLICATION,
                       "application-id", APP_ID,
                       "flags", G_APPLICATION_HANDLES_OPEN,
                       "resource-base-path", "/org/imagebart/Studio",
                       NULL);
}
