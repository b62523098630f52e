/* ib-generate-panel.c: the prompt and settings of the next generation (see ib-generate-panel.h). */
#include "ib-generate-panel.h"

#include <glib/gi18n.h>

#include "ib-edit-chain.h"
#include "ib-generate-error.h"
#include "ib-tokenizer.h"

#define SETTINGS_SCHEMA "org.imagebart.Studio"
#define MIN_TEMPERATURE 0.05
#define MAX_SHOWN_TEMPERATURE 5.0

struct _IbGeneratePanel
{
  GtkWidget parent_instance;

  IbModelFile *file;            /* borrowed */
  const IbModelConfig *config;
  IbTokenizer *tokenizer;       /* text models */
  GSettings *settings;          /* NULL where the schema is not installed */
  gboolean setting_seed;        /* the seed entry is changed by us, not typed */

  GtkWidget *box;
  GtkWidget *no_model_label;
  GtkWidget *prompt_box;
  GtkWidget *prompt_entry;
  GtkWidget *prompt_status;
  GtkWidget *guidance_spin;
  GtkWidget *class_box;
  GtkWidget *class_dropdown;
  GtkWidget *strength_scale;
  GtkWidget *strength_label;
  GtkWidget *variants_spin;
  GtkWidget *seed_entry;
  GtkWidget *seed_lock_button;
  GtkWidget *levels_grid;
  /* [t - 1], rows of levels_grid */
  GtkWidget *level_rows[IB_MAX_LEVELS][4];
};

G_DEFINE_FINAL_TYPE (IbGeneratePanel, ib_generate_panel, GTK_TYPE_WIDGET)

/* The prompt */

typedef struct
{
  int n_words;
  int n_dropped;
  GString *unknown;             /* the unknown words, comma separated */
} PromptCheck;

static void
prompt_check (IbGeneratePanel *self,
              const char      *text,
              PromptCheck     *check)
{
  g_auto (GStrv) words = ib_tokenizer_split (text);
  int length = ib_tokenizer_get_length (self->tokenizer);
  g_autofree int32_t *ids = g_new (int32_t, length);

  check->n_words = g_strv_length (words);
  check->unknown = g_string_new (NULL);
  ib_tokenizer_encode (self->tokenizer, text, ids, &check->n_dropped);
  for (int i = 0; words[i] != NULL; i++)
    if (ib_tokenizer_encode (self->tokenizer, words[i], ids, NULL) > 0)
      g_string_append_printf (check->unknown, "%s%s", check->unknown->len ? ", " : "", words[i]);
}

static void
prompt_changed_cb (IbGeneratePanel *self)
{
  GtkWidget *status = self->prompt_status;

  gtk_widget_remove_css_class (status, "error");
  gtk_widget_remove_css_class (status, "warning");
  if (self->tokenizer == NULL)
    return;

  PromptCheck check;
  int length = ib_tokenizer_get_length (self->tokenizer);
  prompt_check (self, gtk_editable_get_text (GTK_EDITABLE (self->prompt_entry)), &check);
  /* An empty prompt is the model's unconditional mode: there is nothing to follow more closely. */
  gtk_widget_set_sensitive (self->guidance_spin, check.n_words > 0);
  g_autofree char *text = NULL;
  if (check.n_dropped > 0)
    {
      text = g_strdup_printf (_("Too long: %d words, but the model reads only %d. Shorten the prompt."),
                              check.n_words, length);
      gtk_widget_add_css_class (status, "error");
    }
  else if (check.unknown->len > 0)
    {
      text = g_strdup_printf (_("%d of %d words; unknown to the model, so ignored: %s"), check.n_words, length,
                              check.unknown->str);
      gtk_widget_add_css_class (status, "warning");
    }
  else
    text = g_strdup_printf (_("%d of %d words"), check.n_words, length);
  gtk_label_set_text (GTK_LABEL (status), text);
  g_string_free (check.unknown, TRUE);
}

/* Strength, in words: the start level against the model's number of levels. */
static const char *
strength_words (int level,
                int n_levels)
{
  if (level >= n_levels)
    return _("Everything new");
  if (level == 1 || level * 4 <= n_levels)
    return _("Subtle");
  if (level * 2 <= n_levels)
    return _("Moderate");
  return _("Strong");
}

static int
strength_level (IbGeneratePanel *self)
{
  return (int) gtk_range_get_value (GTK_RANGE (self->strength_scale));
}

static void
strength_changed_cb (IbGeneratePanel *self)
{
  if (self->config == NULL)
    return;
  int n_levels = self->config->n_levels, level = strength_level (self);
  /* Translators: the strength in words, then the level the edit starts from. */
  g_autofree char *text = g_strdup_printf (_("%s (level %d of %d)"), strength_words (level, n_levels), level,
                                           n_levels);
  gtk_label_set_text (GTK_LABEL (self->strength_label), text);
}

/* The seed */

static void
show_seed (IbGeneratePanel *self,
           guint64          seed)
{
  g_autofree char *text = g_strdup_printf ("%" G_GUINT64_FORMAT, seed);
  self->setting_seed = TRUE;
  gtk_editable_set_text (GTK_EDITABLE (self->seed_entry), text);
  self->setting_seed = FALSE;
}

static guint64
random_seed (void)
{
  return ((guint64) g_random_int () << 32) | g_random_int ();
}

static gboolean
seed_locked (IbGeneratePanel *self)
{
  return gtk_toggle_button_get_active (GTK_TOGGLE_BUTTON (self->seed_lock_button));
}

static void
seed_random_cb (IbGeneratePanel *self)
{
  show_seed (self, random_seed ());
}

/* A seed typed in is meant to be used: keep it. */
static void
seed_edited_cb (IbGeneratePanel *self)
{
  if (!self->setting_seed)
    gtk_toggle_button_set_active (GTK_TOGGLE_BUTTON (self->seed_lock_button), TRUE);
}

static void
seed_lock_toggled_cb (IbGeneratePanel *self)
{
  gtk_button_set_icon_name (GTK_BUTTON (self->seed_lock_button),
                            seed_locked (self) ? "changes-prevent-symbolic" : "changes-allow-symbolic");
}

static void
seed_copy_cb (IbGeneratePanel *self)
{
  gdk_clipboard_set_text (gtk_widget_get_clipboard (GTK_WIDGET (self)),
                          gtk_editable_get_text (GTK_EDITABLE (self->seed_entry)));
}

static gboolean
parse_seed (IbGeneratePanel *self,
            guint64         *seed,
            GError         **error)
{
  const char *text = gtk_editable_get_text (GTK_EDITABLE (self->seed_entry));
  g_autofree char *stripped = g_strstrip (g_strdup (text));

  if (!g_ascii_string_to_unsigned (stripped, 10, 0, G_MAXUINT64, seed, NULL))
    {
      /* The largest seed as a string: xgettext cannot see through G_GUINT64_FORMAT. */
      g_autofree char *largest = g_strdup_printf ("%" G_GUINT64_FORMAT, G_MAXUINT64);
      g_set_error (error, IB_GENERATE_ERROR, IB_GENERATE_ERROR_INPUT,
                   _("The seed “%s” is not a whole number from 0 to %s; type one or unlock the seed for a "
                     "random one"), text, largest);
      return FALSE;
    }
  return TRUE;
}

/* Per-level settings */

enum
{
  COLUMN_LABEL,
  COLUMN_TEMPERATURE,
  COLUMN_TOP_K,
  COLUMN_REPEATS,
};

static GtkWidget *
spin_new (double      lower,
          double      upper,
          double      step,
          int         digits,
          const char *tooltip)
{
  GtkWidget *spin = gtk_spin_button_new_with_range (lower, upper, step);
  gtk_spin_button_set_digits (GTK_SPIN_BUTTON (spin), digits);
  gtk_spin_button_set_numeric (GTK_SPIN_BUTTON (spin), TRUE);
  gtk_widget_set_tooltip_text (spin, tooltip);
  return spin;
}

static void
clear_level_rows (IbGeneratePanel *self)
{
  for (int t = 1; t <= IB_MAX_LEVELS; t++)
    for (int c = 0; c < 4; c++)
      if (self->level_rows[t - 1][c] != NULL)
        {
          gtk_grid_remove (GTK_GRID (self->levels_grid), self->level_rows[t - 1][c]);
          self->level_rows[t - 1][c] = NULL;
        }
}

/* One row per level, coarsest first, as they run. */
static void
build_level_rows (IbGeneratePanel *self)
{
  const IbModelConfig *config = self->config;

  for (int t = config->n_levels, row = 1; t >= 1; t--, row++)
    {
      GtkWidget **cells = self->level_rows[t - 1];
      g_autofree char *name = g_strdup_printf ("%d", t);
      const IbLevelConfig *level = &config->levels[t - 1];
      cells[COLUMN_LABEL] = gtk_label_new (name);
      gtk_label_set_xalign (GTK_LABEL (cells[COLUMN_LABEL]), 0.0f);
      cells[COLUMN_TEMPERATURE] = spin_new (MIN_TEMPERATURE, MAX (MAX_SHOWN_TEMPERATURE, level->temperature), 0.05,
                                            2, _("Temperature of this level"));
      cells[COLUMN_TOP_K] = spin_new (0, level->dec_num_tokens, 1, 0, _("Top-k of this level; 0 draws from all"));
      cells[COLUMN_REPEATS] = spin_new (1, IB_EDIT_MAX_REPEATS, 1, 0, _("Passes of this level"));
      for (int c = 0; c < 4; c++)
        gtk_grid_attach (GTK_GRID (self->levels_grid), cells[c], c, row, 1, 1);
    }
}

/* A value typed but not yet confirmed (no Enter, focus still there) counts too. */
static double
spin_value (GtkWidget *spin)
{
  gtk_spin_button_update (GTK_SPIN_BUTTON (spin));
  return gtk_spin_button_get_value (GTK_SPIN_BUTTON (spin));
}

static int
spin_value_as_int (GtkWidget *spin)
{
  gtk_spin_button_update (GTK_SPIN_BUTTON (spin));
  return gtk_spin_button_get_value_as_int (GTK_SPIN_BUTTON (spin));
}

static void
reset_levels_cb (IbGeneratePanel *self)
{
  if (self->config == NULL)
    return;
  for (int t = 1; t <= self->config->n_levels; t++)
    {
      GtkWidget **cells = self->level_rows[t - 1];
      const IbLevelConfig *level = &self->config->levels[t - 1];
      gtk_spin_button_set_value (GTK_SPIN_BUTTON (cells[COLUMN_TEMPERATURE]), level->temperature);
      gtk_spin_button_set_value (GTK_SPIN_BUTTON (cells[COLUMN_TOP_K]), level->top_k);
      gtk_spin_button_set_value (GTK_SPIN_BUTTON (cells[COLUMN_REPEATS]), 1);
    }
}

/* Public */

static void
show_conditioning (IbGeneratePanel *self)
{
  IbConditioningKind kind = self->config != NULL ? self->config->conditioning.kind : IB_CONDITIONING_NONE;

  gtk_widget_set_visible (self->no_model_label, self->config == NULL);
  gtk_widget_set_visible (self->prompt_box, kind == IB_CONDITIONING_TEXT);
  gtk_widget_set_visible (self->class_box, kind == IB_CONDITIONING_CLASS);
}

void
ib_generate_panel_set_model (IbGeneratePanel *self,
                             IbModelFile     *file)
{
  g_return_if_fail (IB_IS_GENERATE_PANEL (self));

  clear_level_rows (self);
  g_clear_pointer (&self->tokenizer, ib_tokenizer_free);
  gtk_drop_down_set_model (GTK_DROP_DOWN (self->class_dropdown), NULL);
  self->file = file;
  self->config = file != NULL ? ib_model_file_get_config (file) : NULL;
  show_conditioning (self);
  gtk_widget_set_sensitive (self->box, self->config != NULL);
  if (self->config == NULL)
    return;

  const IbConditioning *conditioning = &self->config->conditioning;
  if (conditioning->kind == IB_CONDITIONING_TEXT)
    {
      g_autoptr (GError) error = NULL;
      self->tokenizer = ib_tokenizer_new ((const char *const *) conditioning->vocab, conditioning->n_vocab,
                                          conditioning->text_length, &error);
      if (self->tokenizer == NULL)
        g_warning ("The model's tokenizer is not usable: %s", error->message);
    }
  else if (conditioning->kind == IB_CONDITIONING_CLASS)
    {
      GtkStringList *labels = gtk_string_list_new ((const char *const *) conditioning->labels);
      gtk_drop_down_set_model (GTK_DROP_DOWN (self->class_dropdown), G_LIST_MODEL (labels));
      g_object_unref (labels);
    }
  prompt_changed_cb (self);
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (self->guidance_spin),
                             conditioning->kind == IB_CONDITIONING_TEXT ? conditioning->guidance : 1.0);

  int n_levels = self->config->n_levels;
  int strength = self->settings != NULL ? g_settings_get_int (self->settings, "default-strength") : 0;
  int variants = self->settings != NULL ? g_settings_get_int (self->settings, "default-variants") : 1;
  GtkAdjustment *adjustment = gtk_range_get_adjustment (GTK_RANGE (self->strength_scale));
  gtk_adjustment_configure (adjustment, strength <= 0 ? n_levels : MIN (strength, n_levels), 1, n_levels, 1, 1, 0);
  gtk_scale_clear_marks (GTK_SCALE (self->strength_scale));
  for (int t = 1; t <= n_levels; t++)
    gtk_scale_add_mark (GTK_SCALE (self->strength_scale), t, GTK_POS_BOTTOM, NULL);
  strength_changed_cb (self);
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (self->variants_spin), CLAMP (variants, 1, IB_EDIT_MAX_VARIANTS));
  build_level_rows (self);
  reset_levels_cb (self);
}

static gboolean
fill_conditioning (IbGeneratePanel    *self,
                   IbEditConditioning *conditioning,
                   GError            **error)
{
  const IbConditioning *model = &self->config->conditioning;

  conditioning->kind = model->kind;
  if (model->kind == IB_CONDITIONING_CLASS)
    {
      guint selected = gtk_drop_down_get_selected (GTK_DROP_DOWN (self->class_dropdown));
      if (selected == GTK_INVALID_LIST_POSITION || selected >= (guint) model->n_labels)
        {
          g_set_error_literal (error, IB_GENERATE_ERROR, IB_GENERATE_ERROR_INPUT,
                               _("Choose a class to paint into the mask"));
          return FALSE;
        }
      conditioning->class_id = (int) selected;
    }
  else if (model->kind == IB_CONDITIONING_TEXT)
    {
      if (self->tokenizer == NULL || model->text_length > IB_EDIT_MAX_TEXT_TOKENS)
        {
          g_set_error_literal (error, IB_GENERATE_ERROR, IB_GENERATE_ERROR_INPUT,
                               _("This model’s prompt vocabulary is damaged; open another model"));
          return FALSE;
        }
      const char *text = gtk_editable_get_text (GTK_EDITABLE (self->prompt_entry));
      int n_dropped = 0;
      ib_tokenizer_encode (self->tokenizer, text, conditioning->text_tokens, &n_dropped);
      if (n_dropped > 0)
        {
          int length = ib_tokenizer_get_length (self->tokenizer);
          g_set_error (error, IB_GENERATE_ERROR, IB_GENERATE_ERROR_INPUT,
                       ngettext ("The prompt is too long: this model reads %d word; remove %d",
                                 "The prompt is too long: this model reads %d words; remove %d", length),
                       length, n_dropped);
          return FALSE;
        }
      conditioning->n_text_tokens = ib_tokenizer_get_length (self->tokenizer);
    }
  return TRUE;
}

gboolean
ib_generate_panel_fill_request (IbGeneratePanel *self,
                                IbEditRequest   *request,
                                GError         **error)
{
  g_return_val_if_fail (IB_IS_GENERATE_PANEL (self), FALSE);
  g_return_val_if_fail (request != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (self->config == NULL)
    {
      g_set_error_literal (error, IB_GENERATE_ERROR, IB_GENERATE_ERROR_NOT_READY,
                           _("Open a model before generating"));
      return FALSE;
    }

  IbEditRequest defaults;
  ib_edit_request_init (&defaults, self->config);
  IbEditSettings *settings = &defaults.settings;
  if (!fill_conditioning (self, &defaults.conditioning, error))
    return FALSE;
  if (seed_locked (self))
    {
      if (!parse_seed (self, &settings->seed, error))
        return FALSE;
    }
  else
    {
      settings->seed = random_seed ();
      show_seed (self, settings->seed);
    }
  settings->start_level = strength_level (self);
  settings->n_variants = spin_value_as_int (self->variants_spin);
  if (self->config->conditioning.kind == IB_CONDITIONING_TEXT)
    settings->guidance = (float) spin_value (self->guidance_spin);
  for (int t = 1; t <= self->config->n_levels; t++)
    {
      GtkWidget **cells = self->level_rows[t - 1];
      settings->temperature[t - 1] = (float) spin_value (cells[COLUMN_TEMPERATURE]);
      settings->top_k[t - 1] = spin_value_as_int (cells[COLUMN_TOP_K]);
      settings->repeats[t - 1] = spin_value_as_int (cells[COLUMN_REPEATS]);
    }

  request->conditioning = defaults.conditioning;
  request->settings = defaults.settings;
  request->resume_tokens = NULL;
  request->n_resume_tokens = 0;
  request->resume_level = 0;
  return TRUE;
}

/* GObject */

static GSettings *
settings_new_if_installed (void)
{
  GSettingsSchemaSource *source = g_settings_schema_source_get_default ();
  g_autoptr (GSettingsSchema) schema = source ? g_settings_schema_source_lookup (source, SETTINGS_SCHEMA, TRUE) : NULL;
  return schema != NULL ? g_settings_new (SETTINGS_SCHEMA) : NULL;
}

static void
ib_generate_panel_dispose (GObject *object)
{
  IbGeneratePanel *self = IB_GENERATE_PANEL (object);

  gtk_widget_dispose_template (GTK_WIDGET (self), IB_TYPE_GENERATE_PANEL);
  g_clear_pointer (&self->tokenizer, ib_tokenizer_free);
  g_clear_object (&self->settings);
  self->file = NULL;
  self->config = NULL;
  G_OBJECT_CLASS (ib_generate_panel_parent_class)->dispose (object);
}

static void
ib_generate_panel_class_init (IbGeneratePanelClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = ib_generate_panel_dispose;

  gtk_widget_class_set_template_from_resource (widget_class, "/org/imagebart/Studio/ib-generate-panel.ui");
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_bind_template_child (widget_class, IbGeneratePanel, box);
  gtk_widget_class_bind_template_child (widget_class, IbGeneratePanel, no_model_label);
  gtk_widget_class_bind_template_child (widget_class, IbGeneratePanel, prompt_box);
  gtk_widget_class_bind_template_child (widget_class, IbGeneratePanel, prompt_entry);
  gtk_widget_class_bind_template_child (widget_class, IbGeneratePanel, prompt_status);
  gtk_widget_class_bind_template_child (widget_class, IbGeneratePanel, guidance_spin);
  gtk_widget_class_bind_template_child (widget_class, IbGeneratePanel, class_box);
  gtk_widget_class_bind_template_child (widget_class, IbGeneratePanel, class_dropdown);
  gtk_widget_class_bind_template_child (widget_class, IbGeneratePanel, strength_scale);
  gtk_widget_class_bind_template_child (widget_class, IbGeneratePanel, strength_label);
  gtk_widget_class_bind_template_child (widget_class, IbGeneratePanel, variants_spin);
  gtk_widget_class_bind_template_child (widget_class, IbGeneratePanel, seed_entry);
  gtk_widget_class_bind_template_child (widget_class, IbGeneratePanel, seed_lock_button);
  gtk_widget_class_bind_template_child (widget_class, IbGeneratePanel, levels_grid);
  gtk_widget_class_bind_template_callback (widget_class, prompt_changed_cb);
  gtk_widget_class_bind_template_callback (widget_class, strength_changed_cb);
  gtk_widget_class_bind_template_callback (widget_class, seed_edited_cb);
  gtk_widget_class_bind_template_callback (widget_class, seed_random_cb);
  gtk_widget_class_bind_template_callback (widget_class, seed_lock_toggled_cb);
  gtk_widget_class_bind_template_callback (widget_class, seed_copy_cb);
  gtk_widget_class_bind_template_callback (widget_class, reset_levels_cb);
}

static void
ib_generate_panel_init (IbGeneratePanel *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->settings = settings_new_if_installed ();
  /* The class picker searches the labels. */
  g_autoptr (GtkExpression) label = gtk_property_expression_new (GTK_TYPE_STRING_OBJECT, NULL, "string");
  gtk_drop_down_set_expression (GTK_DROP_DOWN (self->class_dropdown), label);
  show_seed (self, random_seed ());
  gtk_widget_set_sensitive (self->box, FALSE);
}

GtkWidget *
ib_generate_panel_new (void)
{
  return g_object_new (IB_TYPE_GENERATE_PANEL, NULL);
}
