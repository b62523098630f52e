/* ib-preferences-dialog.c: the editor's preferences, bound to GSettings. */
#include "ib-preferences-dialog.h"

#include <glib/gi18n.h>

#include "ib-engine-setting.h"

struct _IbPreferencesDialog
{
  AdwPreferencesWindow parent_instance;

  AdwComboRow *engine_row;
  GtkSpinButton *threads_spin;
  GtkSpinButton *strength_spin;
  GtkSpinButton *feather_spin;
  GtkSpinButton *variants_spin;
  GtkColorButton *mask_colour_button;
  GtkSpinButton *mask_opacity_spin;
  GtkColorButton *grid_colour_button;
  GtkSpinButton *history_spin;
  GtkSpinButton *autosave_spin;
  GtkSpinButton *jpeg_quality_spin;

  GSettings *settings;
  GPtrArray *engine_values;            /* the combo's rows' values (char *) */
};

G_DEFINE_FINAL_TYPE (IbPreferencesDialog, ib_preferences_dialog, ADW_TYPE_PREFERENCES_WINDOW)

/* Colours are kept as '#rrggbb' strings. */
gboolean
ib_settings_colour_get_mapping (GValue   *value,
                                GVariant *variant,
                                gpointer  user_data)
{
  GdkRGBA rgba;

  if (!gdk_rgba_parse (&rgba, g_variant_get_string (variant, NULL)))
    return FALSE;
  g_value_set_boxed (value, &rgba);
  return TRUE;
}

GVariant *
ib_settings_colour_set_mapping (const GValue       *value,
                                const GVariantType *expected_type,
                                gpointer            user_data)
{
  const GdkRGBA *rgba = g_value_get_boxed (value);
  g_autofree char *text = NULL;

  if (rgba == NULL)
    return NULL;
  text = g_strdup_printf ("#%02x%02x%02x", (int) (CLAMP (rgba->red, 0, 1) * 255 + 0.5),
                          (int) (CLAMP (rgba->green, 0, 1) * 255 + 0.5), (int) (CLAMP (rgba->blue, 0, 1) * 255 + 0.5));
  return g_variant_new_string (text);
}

static gboolean
engine_get_mapping (GValue   *value,
                    GVariant *variant,
                    gpointer  user_data)
{
  IbPreferencesDialog *self = user_data;
  const char *engine = g_variant_get_string (variant, NULL);

  for (guint i = 0; i < self->engine_values->len; i++)
    if (g_strcmp0 (g_ptr_array_index (self->engine_values, i), engine) == 0)
      {
        g_value_set_uint (value, i);
        return TRUE;
      }
  g_value_set_uint (value, 0);           /* a device that is gone: shown as automatic */
  return TRUE;
}

static GVariant *
engine_set_mapping (const GValue       *value,
                    const GVariantType *expected_type,
                    gpointer            user_data)
{
  IbPreferencesDialog *self = user_data;
  guint i = g_value_get_uint (value);

  if (i >= self->engine_values->len)
    return NULL;
  return g_variant_new_string (g_ptr_array_index (self->engine_values, i));
}

static void
fill_engine_row (IbPreferencesDialog *self)
{
  GPtrArray *choices = ib_engine_setting_list_choices ();
  g_autoptr(GtkStringList) labels = gtk_string_list_new (NULL);

  for (guint i = 0; i < choices->len; i++)
    {
      const IbEngineChoice *choice = g_ptr_array_index (choices, i);

      gtk_string_list_append (labels, choice->label);
      g_ptr_array_add (self->engine_values, g_strdup (choice->value));
    }
  adw_combo_row_set_model (self->engine_row, G_LIST_MODEL (labels));
}

static void
bind_spin (GSettings     *settings,
           const char    *key,
           GtkSpinButton *spin)
{
  g_settings_bind (settings, key, gtk_spin_button_get_adjustment (spin), "value", G_SETTINGS_BIND_DEFAULT);
}

static void
ib_preferences_dialog_dispose (GObject *object)
{
  IbPreferencesDialog *self = IB_PREFERENCES_DIALOG (object);

  g_clear_object (&self->settings);
  g_clear_pointer (&self->engine_values, g_ptr_array_unref);
  G_OBJECT_CLASS (ib_preferences_dialog_parent_class)->dispose (object);
}

static void
ib_preferences_dialog_class_init (IbPreferencesDialogClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = ib_preferences_dialog_dispose;

  gtk_widget_class_set_template_from_resource (widget_class, "/org/imagebart/Studio/ib-preferences-dialog.ui");
  gtk_widget_class_bind_template_child (widget_class, IbPreferencesDialog, engine_row);
  gtk_widget_class_bind_template_child (widget_class, IbPreferencesDialog, threads_spin);
  gtk_widget_class_bind_template_child (widget_class, IbPreferencesDialog, strength_spin);
  gtk_widget_class_bind_template_child (widget_class, IbPreferencesDialog, feather_spin);
  gtk_widget_class_bind_template_child (widget_class, IbPreferencesDialog, variants_spin);
  gtk_widget_class_bind_template_child (widget_class, IbPreferencesDialog, mask_colour_button);
  gtk_widget_class_bind_template_child (widget_class, IbPreferencesDialog, mask_opacity_spin);
  gtk_widget_class_bind_template_child (widget_class, IbPreferencesDialog, grid_colour_button);
  gtk_widget_class_bind_template_child (widget_class, IbPreferencesDialog, history_spin);
  gtk_widget_class_bind_template_child (widget_class, IbPreferencesDialog, autosave_spin);
  gtk_widget_class_bind_template_child (widget_class, IbPreferencesDialog, jpeg_quality_spin);
}

static void
ib_preferences_dialog_init (IbPreferencesDialog *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->engine_values = g_ptr_array_new_with_free_func (g_free);
}

GtkWidget *
ib_preferences_dialog_new (GSettings *settings)
{
  IbPreferencesDialog *self;

  g_return_val_if_fail (G_IS_SETTINGS (settings), NULL);

  self = g_object_new (IB_TYPE_PREFERENCES_DIALOG, NULL);
  self->settings = g_object_ref (settings);
  fill_engine_row (self);
  g_settings_bind_with_mapping (settings, "engine", self->engine_row, "selected", G_SETTINGS_BIND_DEFAULT,
                                engine_get_mapping, engine_set_mapping, self, NULL);
  bind_spin (settings, "threads", self->threads_spin);
  bind_spin (settings, "default-strength", self->strength_spin);
  bind_spin (settings, "default-feather", self->feather_spin);
  bind_spin (settings, "default-variants", self->variants_spin);
  bind_spin (settings, "mask-opacity", self->mask_opacity_spin);
  bind_spin (settings, "history-memory-mib", self->history_spin);
  bind_spin (settings, "autosave-interval", self->autosave_spin);
  bind_spin (settings, "jpeg-quality", self->jpeg_quality_spin);
  g_settings_bind_with_mapping (settings, "mask-colour", self->mask_colour_button, "rgba", G_SETTINGS_BIND_DEFAULT,
                                ib_settings_colour_get_mapping, ib_settings_colour_set_mapping, NULL, NULL);
  g_settings_bind_with_mapping (settings, "grid-colour", self->grid_colour_button, "rgba", G_SETTINGS_BIND_DEFAULT,
                                ib_settings_colour_get_mapping, ib_settings_colour_set_mapping, NULL, NULL);
  return GTK_WIDGET (self);
}
