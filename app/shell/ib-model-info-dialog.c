/* ib-model-info-dialog.c: the loaded model's file, configuration, levels, conditioning and license. */
#include "ib-model-info-dialog.h"

#include <glib/gi18n.h>

struct _IbModelInfoDialog
{
  AdwWindow parent_instance;

  AdwPreferencesGroup *file_group;
  AdwPreferencesGroup *license_group;
  AdwPreferencesGroup *config_group;
  AdwPreferencesGroup *conditioning_group;
  AdwPreferencesGroup *levels_group;

  IbLoadedModel *model;
  AdwActionRow *hash_row;
  char *hash;
  GCancellable *cancellable;
};

G_DEFINE_FINAL_TYPE (IbModelInfoDialog, ib_model_info_dialog, ADW_TYPE_WINDOW)

/* A row with a title and its value. */
static AdwActionRow *
add_row (AdwPreferencesGroup *group,
         const char          *title,
         const char          *value)
{
  GtkWidget *row = adw_action_row_new ();

  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  adw_action_row_set_subtitle (ADW_ACTION_ROW (row), value != NULL && value[0] != '\0' ? value : _("(none)"));
  gtk_widget_add_css_class (row, "property");
  adw_preferences_group_add (group, row);
  return ADW_ACTION_ROW (row);
}

static void
add_row_printf (AdwPreferencesGroup *group,
                const char          *title,
                const char          *format,
                ...) G_GNUC_PRINTF (3, 4);

static void
add_row_printf (AdwPreferencesGroup *group,
                const char          *title,
                const char          *format,
                ...)
{
  g_autofree char *value = NULL;
  va_list args;

  va_start (args, format);
  value = g_strdup_vprintf (format, args);
  va_end (args);
  add_row (group, title, value);
}

static void
fill_file (IbModelInfoDialog *self)
{
  const char *path = ib_loaded_model_get_path (self->model);
  IbModelFile *file = ib_loaded_model_get_file (self->model);
  g_autoptr(GFile) gfile = g_file_new_for_path (path);
  g_autoptr(GFileInfo) info = g_file_query_info (gfile, G_FILE_ATTRIBUTE_STANDARD_SIZE, G_FILE_QUERY_INFO_NONE,
                                                 NULL, NULL);
  guint64 n_parameters = 0;

  for (guint i = 0; i < ib_model_file_n_tensors (file); i++)
    n_parameters += (guint64) ib_model_file_nth_tensor (file, i)->n_elements;

  add_row (self->file_group, _("Name"), ib_loaded_model_get_name (self->model));
  add_row (self->file_group, _("Path"), path);
  if (info != NULL)
    {
      g_autofree char *size = g_format_size (g_file_info_get_size (info));
      add_row (self->file_group, _("Size"), size);
    }
  add_row_printf (self->file_group, _("Parameters"), _("%.1f million in %u tensors"), n_parameters / 1e6,
                  ib_model_file_n_tensors (file));
  self->hash_row = add_row (self->file_group, _("SHA-256"), _("Computing…"));
}

static void
fill_config (IbModelInfoDialog *self,
             const IbModelConfig *config)
{
  const IbVqganConfig *vqgan = &config->vqgan;

  add_row (self->license_group, _("License"), config->license);
  add_row (self->license_group, _("Provenance"), config->provenance);

  add_row_printf (self->config_group, _("Native size"), _("%d × %d pixels"), config->resolution,
                  config->resolution);
  add_row_printf (self->config_group, _("Token grid"), _("%d × %d tokens of %d codes"), config->token_width,
                  config->token_height, config->n_codes);
  add_row_printf (self->config_group, _("Levels"), _("%d (schedule: %s)"), config->n_levels,
                  config->schedule_name != NULL ? config->schedule_name : "");
  add_row_printf (self->config_group, _("VQGAN"), _("%d channels, %d residual blocks, codebook of %d × %d"),
                  vqgan->ch, vqgan->num_res_blocks, vqgan->n_embed, vqgan->embed_dim);
}

static void
fill_conditioning (IbModelInfoDialog *self,
                   const IbConditioning *conditioning)
{
  add_row (self->conditioning_group, _("Kind"), ib_conditioning_name (conditioning->kind));
  if (conditioning->kind == IB_CONDITIONING_CLASS)
    {
      g_autoptr(GString) labels = g_string_new (NULL);

      for (int i = 0; i < conditioning->n_labels; i++)
        {
          if (i > 0)
            g_string_append (labels, ", ");
          if (conditioning->labels != NULL && conditioning->labels[i] != NULL)
            g_string_append (labels, conditioning->labels[i]);
          else
            g_string_append_printf (labels, "%d", i);
        }
      add_row_printf (self->conditioning_group, _("Classes"), "%d", conditioning->n_labels);
      add_row (self->conditioning_group, _("Labels"), labels->str);
    }
  else if (conditioning->kind == IB_CONDITIONING_TEXT)
    {
      add_row_printf (self->conditioning_group, _("Prompt length"), _("%d tokens"), conditioning->text_length);
      add_row_printf (self->conditioning_group, _("Vocabulary"), _("%d words"), conditioning->n_vocab);
      /* Translators: how closely edits follow the prompt by default; 1 means no guidance. */
      add_row_printf (self->conditioning_group, _("Prompt guidance"), _("%.1f by default"), conditioning->guidance);
    }
}

static void
fill_levels (IbModelInfoDialog *self,
             const IbModelConfig *config)
{
  for (int t = config->n_levels; t >= 1; t--)
    {
      const IbLevelConfig *level = &config->levels[t - 1];
      g_autofree char *title = g_strdup_printf (_("Level %d"), t);
      g_autofree char *top_k = level->top_k > 0 ? g_strdup_printf ("%d", level->top_k) : g_strdup (_("off"));

      if (level->variant == IB_VARIANT_GPT)
        add_row_printf (self->levels_group, title,
                        _("%s: width %d, %d layers, %d heads; temperature %.2f, top-k %s"),
                        ib_variant_name (level->variant), level->dim, level->dec_depth, level->dec_heads,
                        level->temperature, top_k);
      else
        add_row_printf (self->levels_group, title,
                        _("%s: width %d, %d + %d layers, %d heads; temperature %.2f, top-k %s"),
                        ib_variant_name (level->variant), level->dim, level->enc_depth, level->dec_depth,
                        level->dec_heads, level->temperature, top_k);
    }
}

static void
hash_done_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  const char *hash = ib_loaded_model_hash_finish (IB_LOADED_MODEL (source), result, &error);
  IbModelInfoDialog *self;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;                              /* the dialog is gone */
  self = user_data;
  self->hash = g_strdup (hash != NULL ? hash : "");
  adw_action_row_set_subtitle (self->hash_row, hash != NULL ? hash : error->message);
}

const char *
ib_model_info_dialog_get_hash (IbModelInfoDialog *self)
{
  g_return_val_if_fail (IB_IS_MODEL_INFO_DIALOG (self), NULL);
  return self->hash != NULL ? self->hash : "";
}

static void
ib_model_info_dialog_dispose (GObject *object)
{
  IbModelInfoDialog *self = IB_MODEL_INFO_DIALOG (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->model);
  G_OBJECT_CLASS (ib_model_info_dialog_parent_class)->dispose (object);
}

static void
ib_model_info_dialog_finalize (GObject *object)
{
  g_free (IB_MODEL_INFO_DIALOG (object)->hash);
  G_OBJECT_CLASS (ib_model_info_dialog_parent_class)->finalize (object);
}

static void
ib_model_info_dialog_class_init (IbModelInfoDialogClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = ib_model_info_dialog_dispose;
  object_class->finalize = ib_model_info_dialog_finalize;

  gtk_widget_class_set_template_from_resource (widget_class, "/org/imagebart/Studio/ib-model-info-dialog.ui");
  gtk_widget_class_bind_template_child (widget_class, IbModelInfoDialog, file_group);
  gtk_widget_class_bind_template_child (widget_class, IbModelInfoDialog, license_group);
  gtk_widget_class_bind_template_child (widget_class, IbModelInfoDialog, config_group);
  gtk_widget_class_bind_template_child (widget_class, IbModelInfoDialog, conditioning_group);
  gtk_widget_class_bind_template_child (widget_class, IbModelInfoDialog, levels_group);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Escape, 0, "window.close", NULL);
}

static void
ib_model_info_dialog_init (IbModelInfoDialog *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->cancellable = g_cancellable_new ();
}

GtkWidget *
ib_model_info_dialog_new (IbLoadedModel *model)
{
  IbModelInfoDialog *self;
  const IbModelConfig *config;

  g_return_val_if_fail (IB_IS_LOADED_MODEL (model), NULL);

  self = g_object_new (IB_TYPE_MODEL_INFO_DIALOG, NULL);
  self->model = g_object_ref (model);
  config = ib_loaded_model_get_config (model);
  fill_file (self);
  fill_config (self, config);
  fill_conditioning (self, &config->conditioning);
  fill_levels (self, config);
  /* Hashing reads the whole file: seconds for a large model, so off the UI thread. */
  ib_loaded_model_hash_async (model, self->cancellable, hash_done_cb, self);
  return GTK_WIDGET (self);
}
