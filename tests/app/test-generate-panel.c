/* test-generate-panel.c: IbGeneratePanel for an unconditional, a class and a text model: the inputs that
 * show, the defaults (model and GSettings), what fill_request puts in the request, the seed lock, the prompt's
 * word count and its errors. */
#include <string.h>

#include <gtk/gtk.h>

#include "../ib-test-model.h"
#include "ib-generate-test.h"
#include "ib-generate-error.h"
#include "ib-generate-panel.h"
#include "ib-studio.h"

typedef struct
{
  GBytes *bytes;
  IbModelFile *file;
} Model;

static void
model_free (Model *model)
{
  ib_model_file_free (model->file);
  g_bytes_unref (model->bytes);
  g_free (model);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Model, model_free)

/* A 3-level random model; conditioning "none", "class" (labels cat, dog, owl) or "text" (vocabulary red, cat,
 * blue, hat; 4 words). */
static Model *
model_new (const char *kind)
{
  IbTestModelSpec spec;
  ib_test_model_spec_init (&spec);
  spec.n_levels = 3;
  g_autofree char *json = ib_test_model_config_json (&spec);
  g_autoptr (GString) config = g_string_new (json);
  if (g_str_equal (kind, "class"))
    {
      g_string_replace (config, "{\"kind\": \"none\"}",
                        "{\"kind\": \"class\", \"labels\": [\"cat\", \"dog\", \"owl\"]}", 0);
      g_string_replace (config, "\"enc_max_seq_len\": 17", "\"enc_max_seq_len\": 18", 0);
    }
  else if (g_str_equal (kind, "text"))
    {
      g_string_replace (config, "{\"kind\": \"none\"}",
                        "{\"kind\": \"text\", \"tokenizer\": {\"vocab\": [\"<pad>\", \"<unk>\", \"red\", \"cat\", "
                        "\"blue\", \"hat\"], \"length\": 4, \"token_offset\": 0}, \"guidance\": 3.5}", 0);
      g_string_replace (config, "\"enc_max_seq_len\": 17", "\"enc_max_seq_len\": 21", 0);
    }
  Model *model = g_new0 (Model, 1);
  g_autoptr (GError) error = NULL;
  model->bytes = ib_test_model_build_from_config (config->str, IB_DTYPE_F32, 5);
  model->file = ib_model_file_new_from_bytes (model->bytes, "test model", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (ib_conditioning_name (ib_model_file_get_config (model->file)->conditioning.kind), ==, kind);
  return model;
}

static GtkWidget *
find_ok (GtkWidget  *root,
         const char *name)
{
  GtkWidget *widget = ib_test_find_widget (root, name);
  g_assert_nonnull (widget);
  return widget;
}

/* A panel with "Advanced" open: a closed expander keeps its child out of the widget tree. */
static GtkWidget *
panel_new (void)
{
  GtkWidget *panel = ib_generate_panel_new ();
  g_object_ref_sink (panel);
  gtk_expander_set_expanded (GTK_EXPANDER (find_ok (panel, "advanced-expander")), TRUE);
  return panel;
}

static void
type (GtkWidget  *panel,
      const char *name,
      const char *text)
{
  gtk_editable_set_text (GTK_EDITABLE (find_ok (panel, name)), text);
}

/* Which inputs show for each kind of model (and none without a model), and that the engine takes what they
 * fill in. */
static void
test_inputs (void)
{
  g_autoptr (GtkWidget) panel = panel_new ();
  GtkWidget *prompt = find_ok (panel, "prompt-box"), *class = find_ok (panel, "class-box");
  static const char *kinds[] = { "none", "class", "text" };

  g_assert_false (gtk_widget_get_visible (prompt));
  g_assert_false (gtk_widget_get_visible (class));
  for (gsize k = 0; k < G_N_ELEMENTS (kinds); k++)
    {
      g_autoptr (Model) model = model_new (kinds[k]);
      ib_generate_panel_set_model (IB_GENERATE_PANEL (panel), model->file);
      g_assert_cmpint (gtk_widget_get_visible (prompt), ==, k == 2);
      g_assert_cmpint (gtk_widget_get_visible (class), ==, k == 1);
      /* Strength: levels 1 to 3, the model's levels in the grid, coarsest first. */
      GtkAdjustment *strength = gtk_range_get_adjustment (GTK_RANGE (find_ok (panel, "strength-scale")));
      g_assert_cmpfloat (gtk_adjustment_get_lower (strength), ==, 1);
      g_assert_cmpfloat (gtk_adjustment_get_upper (strength), ==, 3);
      GtkGrid *grid = GTK_GRID (find_ok (panel, "levels-grid"));
      g_assert_cmpstr (gtk_label_get_text (GTK_LABEL (gtk_grid_get_child_at (grid, 0, 1))), ==, "3");
      g_assert_cmpstr (gtk_label_get_text (GTK_LABEL (gtk_grid_get_child_at (grid, 0, 3))), ==, "1");
      g_assert_null (gtk_grid_get_child_at (grid, 0, 4));

      /* What it fills in, the engine takes. */
      if (k == 1)
        gtk_drop_down_set_selected (GTK_DROP_DOWN (find_ok (panel, "class-dropdown")), 1);
      if (k == 2)
        type (panel, "prompt-entry", "red hat");
      IbEditRequest request;
      g_autoptr (GError) error = NULL;
      guint8 rgba[8 * 8 * 4] = { 0 }, mask[8 * 8] = { 0 };
      ib_edit_request_init (&request, ib_model_file_get_config (model->file));
      g_assert_true (ib_generate_panel_fill_request (IB_GENERATE_PANEL (panel), &request, &error));
      g_assert_no_error (error);
      request.image = rgba;
      request.mask = mask;
      request.width = request.height = request.mask_width = request.mask_height = request.mask_stride = 8;
      request.stride = 32;
      g_autoptr (IbEditJob) job = ib_edit_job_new (model->file, &request, &error);
      g_assert_no_error (error);
      g_assert_nonnull (job);
      ib_generate_panel_set_model (IB_GENERATE_PANEL (panel), NULL);
    }
  g_assert_false (gtk_widget_get_visible (prompt));
  g_assert_false (gtk_widget_get_visible (class));
}

static void
read_text_cb (GObject      *clipboard,
              GAsyncResult *result,
              gpointer      user_data)
{
  char **text = user_data;
  g_autoptr (GError) error = NULL;
  *text = gdk_clipboard_read_text_finish (GDK_CLIPBOARD (clipboard), result, &error);
  g_assert_no_error (error);
}

/* Defaults from GSettings and the model; every control lands in its field; the seed lock, new seeds and
 * copying the seed. */
static void
test_fill_request (void)
{
  g_autoptr (GSettings) settings = g_settings_new ("org.imagebart.Studio");
  g_settings_set_int (settings, "default-strength", 2);
  g_settings_set_int (settings, "default-variants", 4);
  g_autoptr (GtkWidget) panel = panel_new ();
  g_autoptr (Model) model = model_new ("none");
  const IbModelConfig *config = ib_model_file_get_config (model->file);
  ib_generate_panel_set_model (IB_GENERATE_PANEL (panel), model->file);

  IbEditRequest request;
  memset (&request, 0xab, sizeof request);
  guint8 pixel[4] = { 0 };
  request.image = pixel;
  g_autoptr (GError) error = NULL;
  g_assert_true (ib_generate_panel_fill_request (IB_GENERATE_PANEL (panel), &request, &error));
  g_assert_no_error (error);
  /* Images are the caller's; no resume. */
  g_assert_true (request.image == pixel);
  g_assert_null (request.resume_tokens);
  g_assert_cmpint (request.conditioning.kind, ==, IB_CONDITIONING_NONE);
  g_assert_cmpint (request.settings.start_level, ==, 2);
  g_assert_cmpint (request.settings.n_variants, ==, 4);
  g_assert_true (request.settings.match_colours);
  for (int t = 1; t <= 3; t++)
    {
      g_assert_cmpfloat_with_epsilon (request.settings.temperature[t - 1], config->levels[t - 1].temperature, 1e-6);
      g_assert_cmpint (request.settings.top_k[t - 1], ==, config->levels[t - 1].top_k);
      g_assert_cmpint (request.settings.repeats[t - 1], ==, 1);
    }
  g_assert_cmpstr (gtk_label_get_text (GTK_LABEL (find_ok (panel, "strength-label"))), ==, "Strong (level 2 of 3)");

  /* Unlocked: a new seed each time, shown. */
  guint64 first = request.settings.seed;
  g_autofree char *shown = g_strdup_printf ("%" G_GUINT64_FORMAT, first);
  g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (find_ok (panel, "seed-entry"))), ==, shown);
  g_assert_true (ib_generate_panel_fill_request (IB_GENERATE_PANEL (panel), &request, &error));
  g_assert_cmpuint (request.settings.seed, !=, first);

  /* A typed seed locks, and stays. */
  type (panel, "seed-entry", "18446744073709551615");
  g_assert_true (gtk_toggle_button_get_active (GTK_TOGGLE_BUTTON (find_ok (panel, "seed-lock-button"))));
  for (int i = 0; i < 2; i++)
    {
      g_assert_true (ib_generate_panel_fill_request (IB_GENERATE_PANEL (panel), &request, &error));
      g_assert_cmpuint (request.settings.seed, ==, G_MAXUINT64);
    }
  type (panel, "seed-entry", "12x");
  g_assert_false (ib_generate_panel_fill_request (IB_GENERATE_PANEL (panel), &request, &error));
  g_assert_error (error, IB_GENERATE_ERROR, IB_GENERATE_ERROR_INPUT);
  g_clear_error (&error);
  type (panel, "seed-entry", "42");

  /* Strength, variants and the advanced settings of level 1 (the last row). */
  gtk_range_set_value (GTK_RANGE (find_ok (panel, "strength-scale")), 3);
  g_assert_cmpstr (gtk_label_get_text (GTK_LABEL (find_ok (panel, "strength-label"))), ==,
                   "Everything new (level 3 of 3)");
  /* Typed, not confirmed with Enter: counts. */
  type (panel, "variants-spin", "16");
  GtkGrid *grid = GTK_GRID (find_ok (panel, "levels-grid"));
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (gtk_grid_get_child_at (grid, 1, 3)), 0.5);
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (gtk_grid_get_child_at (grid, 2, 3)), 0);
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (gtk_grid_get_child_at (grid, 3, 3)), 5);
  g_assert_true (ib_generate_panel_fill_request (IB_GENERATE_PANEL (panel), &request, &error));
  g_assert_cmpuint (request.settings.seed, ==, 42);
  g_assert_cmpint (request.settings.start_level, ==, 3);
  g_assert_cmpint (request.settings.n_variants, ==, 16);
  g_assert_cmpfloat_with_epsilon (request.settings.temperature[0], 0.5, 1e-6);
  g_assert_cmpint (request.settings.top_k[0], ==, 0);
  g_assert_cmpint (request.settings.repeats[0], ==, 5);
  g_assert_cmpint (request.settings.repeats[1], ==, 1);

  /* The random button draws another seed; the copy button puts the one shown on the clipboard. */
  g_signal_emit_by_name (find_ok (panel, "seed-random-button"), "clicked");
  const char *seed = gtk_editable_get_text (GTK_EDITABLE (find_ok (panel, "seed-entry")));
  g_assert_cmpstr (seed, !=, "42");
  g_signal_emit_by_name (find_ok (panel, "seed-copy-button"), "clicked");
  g_autofree char *copied = NULL;
  gdk_clipboard_read_text_async (gtk_widget_get_clipboard (panel), NULL, read_text_cb, &copied);
  while (copied == NULL)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpstr (copied, ==, seed);

  /* No model: a clear error. */
  ib_generate_panel_set_model (IB_GENERATE_PANEL (panel), NULL);
  g_assert_false (ib_generate_panel_fill_request (IB_GENERATE_PANEL (panel), &request, &error));
  g_assert_error (error, IB_GENERATE_ERROR, IB_GENERATE_ERROR_NOT_READY);
  g_settings_reset (settings, "default-strength");
  g_settings_reset (settings, "default-variants");
}

static void
test_class (void)
{
  g_autoptr (GtkWidget) panel = panel_new ();
  g_autoptr (Model) model = model_new ("class");
  ib_generate_panel_set_model (IB_GENERATE_PANEL (panel), model->file);
  GtkDropDown *dropdown = GTK_DROP_DOWN (find_ok (panel, "class-dropdown"));
  g_assert_true (gtk_drop_down_get_enable_search (dropdown));
  g_assert_nonnull (gtk_drop_down_get_expression (dropdown));
  GListModel *labels = gtk_drop_down_get_model (dropdown);
  g_assert_cmpuint (g_list_model_get_n_items (labels), ==, 3);
  g_assert_cmpstr (gtk_string_list_get_string (GTK_STRING_LIST (labels), 2), ==, "owl");

  IbEditRequest request;
  g_autoptr (GError) error = NULL;
  gtk_drop_down_set_selected (dropdown, 2);
  g_assert_true (ib_generate_panel_fill_request (IB_GENERATE_PANEL (panel), &request, &error));
  g_assert_cmpint (request.conditioning.kind, ==, IB_CONDITIONING_CLASS);
  g_assert_cmpint (request.conditioning.class_id, ==, 2);
  gtk_drop_down_set_selected (dropdown, GTK_INVALID_LIST_POSITION);
  g_assert_false (ib_generate_panel_fill_request (IB_GENERATE_PANEL (panel), &request, &error));
  g_assert_error (error, IB_GENERATE_ERROR, IB_GENERATE_ERROR_INPUT);
}

/* The prompt: tokens, the word count, unknown words named, too long an error. */
static void
test_text (void)
{
  g_autoptr (GtkWidget) panel = panel_new ();
  g_autoptr (Model) model = model_new ("text");
  ib_generate_panel_set_model (IB_GENERATE_PANEL (panel), model->file);
  GtkWidget *status = find_ok (panel, "prompt-status");
  IbEditRequest request;
  g_autoptr (GError) error = NULL;

  type (panel, "prompt-entry", "Red CAT");
  g_assert_cmpstr (gtk_label_get_text (GTK_LABEL (status)), ==, "2 of 4 words");
  g_assert_true (ib_generate_panel_fill_request (IB_GENERATE_PANEL (panel), &request, &error));
  g_assert_cmpint (request.conditioning.kind, ==, IB_CONDITIONING_TEXT);
  g_assert_cmpint (request.conditioning.n_text_tokens, ==, 4);
  int32_t expected[4] = { 2, 3, 0, 0 };
  g_assert_cmpmem (request.conditioning.text_tokens, sizeof expected, expected, sizeof expected);

  /* Guidance: the model's default, then what the user sets. */
  g_assert_cmpfloat (request.settings.guidance, ==, 3.5f);
  type (panel, "guidance-spin", "6.5");
  g_assert_true (ib_generate_panel_fill_request (IB_GENERATE_PANEL (panel), &request, &error));
  g_assert_cmpfloat (request.settings.guidance, ==, 6.5f);
  g_assert_true (gtk_widget_get_sensitive (find_ok (panel, "guidance-spin")));
  type (panel, "prompt-entry", "");
  g_assert_false (gtk_widget_get_sensitive (find_ok (panel, "guidance-spin")));

  type (panel, "prompt-entry", "blue dog, red zebra");
  g_assert_nonnull (strstr (gtk_label_get_text (GTK_LABEL (status)), "dog, zebra"));
  g_assert_true (gtk_widget_has_css_class (status, "warning"));
  g_assert_true (ib_generate_panel_fill_request (IB_GENERATE_PANEL (panel), &request, &error));
  int32_t with_unknown[4] = { 4, 1, 2, 1 };
  g_assert_cmpmem (request.conditioning.text_tokens, sizeof with_unknown, with_unknown, sizeof with_unknown);

  type (panel, "prompt-entry", "red cat blue hat red");
  g_assert_true (gtk_widget_has_css_class (status, "error"));
  g_assert_false (ib_generate_panel_fill_request (IB_GENERATE_PANEL (panel), &request, &error));
  g_assert_error (error, IB_GENERATE_ERROR, IB_GENERATE_ERROR_INPUT);
  g_test_message ("%s", error->message);
}

int
main (int    argc,
      char **argv)
{
  ib_studio_init ();
  gtk_test_init (&argc, &argv, NULL);
  g_test_add_func ("/app/generate-panel/inputs", test_inputs);
  g_test_add_func ("/app/generate-panel/fill-request", test_fill_request);
  g_test_add_func ("/app/generate-panel/class", test_class);
  g_test_add_func ("/app/generate-panel/text", test_text);
  return g_test_run ();
}
