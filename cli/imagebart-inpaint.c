/* imagebart-inpaint.c: "imagebart inpaint", an edit of a picture under a mask from the command line, and the
 * replay of an edit's recipe. Runs the edit job on its worker thread and follows its events on the main loop:
 * a progress bar on a terminal, one PNG per level and variant with --levels-dir, the results at the end. */
#include "config.h"

#include <errno.h>
#include <gdk-pixbuf/gdk-pixbuf.h>
#include <glib-unix.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imagebart-cli.h"
#include "ib-edit-job.h"
#include "ib-edit-recipe.h"
#include "ib-error.h"
#include "ib-tokenizer.h"

typedef struct
{
  char *image;
  char *mask;
  char *out;
  char *recipe;
  char *levels_dir;
  char *seed;
  char *start_level;
  char *variants;
  char *feather;
  char *temperature;
  char *top_k;
  char *chain;
  char *class_id;
  char *prompt;
  char *text_tokens;
  char *guidance;
  gboolean no_colour_match;
} Options;

static void
options_clear (Options *options)
{
  char **strings[] = {
    &options->image, &options->mask, &options->out, &options->recipe, &options->levels_dir, &options->seed,
    &options->start_level, &options->variants, &options->feather, &options->temperature, &options->top_k,
    &options->chain, &options->class_id, &options->prompt, &options->text_tokens, &options->guidance,
  };
  for (gsize i = 0; i < G_N_ELEMENTS (strings); i++)
    g_clear_pointer (strings[i], g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Options, options_clear)

/* What messages start with: "imagebart inpaint", or "imagebart sample" for a conditioned model's sample. */
static const char *command_name = "imagebart inpaint";

static gboolean
fail (GError    **error,
      const char *format,
      ...) G_GNUC_PRINTF (2, 3);

static gboolean
fail (GError    **error,
      const char *format,
      ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *message = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error_literal (error, IB_ERROR, IB_ERROR_ARGUMENT, message);
  return FALSE;
}

static gboolean
parse_number (const char *option,
              const char *text,
              gboolean    integer,
              double     *value,
              GError    **error)
{
  g_autofree char *stripped = g_strstrip (g_strdup (text));
  char *end = NULL;
  *value = g_ascii_strtod (stripped, &end);
  if (*stripped == '\0' || end == NULL || *end != '\0' || !isfinite (*value))
    return fail (error, "%s: \"%s\" is not a number", option, text);
  if (integer && (*value != floor (*value) || fabs (*value) > G_MAXINT))
    return fail (error, "%s: \"%s\" is not a whole number", option, text);
  return TRUE;
}

static gboolean
parse_int (const char *option,
           const char *text,
           int        *value,
           GError    **error)
{
  double number;
  if (!parse_number (option, text, TRUE, &number, error))
    return FALSE;
  *value = (int) number;
  return TRUE;
}

/* A per-level setting: "V" for every level, "A..B" from A at the start level to B at level 1 (linear), or
 * "t:V,t:V,..." for the levels named. values[t - 1] is set for the levels it covers. */
static gboolean
parse_level_spec (const char *option,
                  const char *text,
                  int         n_levels,
                  int         start_level,
                  gboolean    integer,
                  double     *values,
                  GError    **error)
{
  const char *range = strstr (text, "..");
  if (strchr (text, ':') != NULL)
    {
      g_auto (GStrv) parts = g_strsplit (text, ",", -1);
      for (int i = 0; parts[i] != NULL; i++)
        {
          g_auto (GStrv) pair = g_strsplit (parts[i], ":", 2);
          int t;
          double value;
          if (g_strv_length (pair) != 2)
            return fail (error, "%s: \"%s\" is not LEVEL:VALUE", option, parts[i]);
          if (!parse_int (option, pair[0], &t, error) || !parse_number (option, pair[1], integer, &value, error))
            return FALSE;
          if (t < 1 || t > n_levels)
            return fail (error, "%s: level %d is not one of this model's levels 1..%d", option, t, n_levels);
          values[t - 1] = value;
        }
      return TRUE;
    }
  if (range != NULL)
    {
      g_autofree char *first = g_strndup (text, range - text);
      double a, b;
      if (!parse_number (option, first, FALSE, &a, error) || !parse_number (option, range + 2, FALSE, &b, error))
        return FALSE;
      for (int t = 1; t <= start_level; t++)
        {
          double f = start_level > 1 ? (double) (start_level - t) / (start_level - 1) : 0.0;
          double value = a + (b - a) * f;
          values[t - 1] = integer ? round (value) : value;
        }
      return TRUE;
    }
  double value;
  if (!parse_number (option, text, integer, &value, error))
    return FALSE;
  for (int t = 1; t <= n_levels; t++)
    values[t - 1] = value;
  return TRUE;
}

/* Pictures */

static GdkPixbuf *
load_picture (const char *path,
              const char *what,
              gboolean   *had_alpha,
              GError    **error)
{
  g_autoptr (GError) local = NULL;
  g_autoptr (GdkPixbuf) loaded = gdk_pixbuf_new_from_file (path, &local);
  if (loaded == NULL)
    {
      g_set_error (error, IB_ERROR, IB_ERROR_IO, "Could not read the %s %s: %s", what, path, local->message);
      return NULL;
    }
  g_autoptr (GdkPixbuf) oriented = gdk_pixbuf_apply_embedded_orientation (loaded);
  if (gdk_pixbuf_get_bits_per_sample (oriented) != 8 || gdk_pixbuf_get_colorspace (oriented) != GDK_COLORSPACE_RGB)
    {
      g_set_error (error, IB_ERROR, IB_ERROR_UNSUPPORTED, "The %s %s is not an 8-bit RGB picture", what, path);
      return NULL;
    }
  *had_alpha = gdk_pixbuf_get_has_alpha (oriented);
  GdkPixbuf *rgba = gdk_pixbuf_add_alpha (oriented, FALSE, 0, 0, 0);
  if (rgba == NULL)
    g_set_error (error, IB_ERROR, IB_ERROR_NO_MEMORY, "Not enough memory for the %s %s", what, path);
  return rgba;
}

/* A mask from a picture: a pixel's strongest colour channel times its opacity, so white or any colour on black,
 * or paint on a transparent layer, all work. */
static guint8 *
mask_from_picture (GdkPixbuf *picture)
{
  int width = gdk_pixbuf_get_width (picture), height = gdk_pixbuf_get_height (picture);
  int stride = gdk_pixbuf_get_rowstride (picture);
  const guint8 *pixels = gdk_pixbuf_read_pixels (picture);
  guint8 *mask = g_new (guint8, (gsize) width * height);
  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++)
      {
        const guint8 *p = pixels + (gsize) y * stride + x * 4;
        int strongest = MAX (p[0], MAX (p[1], p[2]));
        mask[(gsize) y * width + x] = (guint8) ((strongest * p[3] + 127) / 255);
      }
  return mask;
}

static gboolean
save_png (const char        *path,
          const IbEditImage *image,
          gboolean           with_alpha,
          const char        *recipe,
          GError           **error)
{
  g_autoptr (GdkPixbuf) pixbuf = gdk_pixbuf_new (GDK_COLORSPACE_RGB, with_alpha, 8, image->width, image->height);
  if (pixbuf == NULL)
    {
      g_set_error (error, IB_ERROR, IB_ERROR_NO_MEMORY, "Not enough memory to write %s", path);
      return FALSE;
    }
  int stride = gdk_pixbuf_get_rowstride (pixbuf), channels = with_alpha ? 4 : 3;
  guint8 *pixels = gdk_pixbuf_get_pixels (pixbuf);
  for (int y = 0; y < image->height; y++)
    for (int x = 0; x < image->width; x++)
      memcpy (pixels + (gsize) y * stride + x * channels, image->pixels + (gsize) y * image->stride + x * 4, channels);

  g_autofree char *buffer = NULL;
  gsize length;
  g_autoptr (GError) local = NULL;
  gboolean saved = recipe != NULL
    ? gdk_pixbuf_save_to_buffer (pixbuf, &buffer, &length, "png", &local, "tEXt::" IB_EDIT_RECIPE_PNG_KEY, recipe, NULL)
    : gdk_pixbuf_save_to_buffer (pixbuf, &buffer, &length, "png", &local, NULL);
  if (!saved)
    {
      g_set_error (error, IB_ERROR, IB_ERROR_IO, "Could not encode %s as PNG: %s", path, local->message);
      return FALSE;
    }
  return ib_cli_write_file (path, buffer, length, error);
}

/* The recipe in a PNG's text chunk, or a JSON file. */
static char *
read_recipe (const char *path,
             GError    **error)
{
  g_autoptr (GError) local = NULL;
  char *text = NULL;
  if (g_str_has_suffix (path, ".json"))
    {
      if (!g_file_get_contents (path, &text, NULL, &local))
        g_set_error (error, IB_ERROR, IB_ERROR_IO, "Could not read the recipe %s: %s", path, local->message);
      return text;
    }
  g_autoptr (GdkPixbuf) picture = gdk_pixbuf_new_from_file (path, &local);
  if (picture == NULL)
    {
      g_set_error (error, IB_ERROR, IB_ERROR_IO, "Could not read the recipe %s: %s", path, local->message);
      return NULL;
    }
  const char *recipe = gdk_pixbuf_get_option (picture, "tEXt::" IB_EDIT_RECIPE_PNG_KEY);
  if (recipe == NULL)
    g_set_error (error, IB_ERROR, IB_ERROR_INVALID,
                 "%s holds no edit recipe (no \"%s\" text chunk): it was not written by imagebart inpaint", path,
                 IB_EDIT_RECIPE_PNG_KEY);
  return g_strdup (recipe);
}

/* OUT for the first variant, OUT-2.png, OUT-3.png, ... for the others. */
static char *
variant_path (const char *out,
              int         variant)
{
  if (variant == 0)
    return g_strdup (out);
  g_autofree char *stem = g_strndup (out, strlen (out) - strlen (".png"));
  return g_strdup_printf ("%s-%d.png", stem, variant + 1);
}

/* Settings */

static gboolean
apply_options (const Options       *options,
               const IbModelConfig *config,
               IbEditRequest       *request,
               GError             **error)
{
  IbEditSettings *settings = &request->settings;
  int n_levels = config->n_levels;

  if (options->seed != NULL &&
      !g_ascii_string_to_unsigned (options->seed, 10, 0, G_MAXUINT64, &settings->seed, NULL))
    return fail (error, "--seed must be a non-negative integer");
  if (options->start_level != NULL && !parse_int ("--start-level", options->start_level, &settings->start_level, error))
    return FALSE;
  if (settings->start_level < 1 || settings->start_level > n_levels)
    return fail (error, "--start-level must be between 1 and %d (this model's levels), not %d", n_levels,
                 settings->start_level);
  if (options->variants != NULL && !parse_int ("--variants", options->variants, &settings->n_variants, error))
    return FALSE;
  if (options->feather != NULL &&
      !parse_number ("--feather", options->feather, FALSE, &settings->feather, error))
    return FALSE;
  if (options->no_colour_match)
    settings->match_colours = FALSE;
  double guidance = settings->guidance;
  if (options->guidance != NULL && !parse_number ("--guidance", options->guidance, FALSE, &guidance, error))
    return FALSE;
  settings->guidance = (float) guidance;

  double values[IB_MAX_LEVELS];
  if (options->temperature != NULL)
    {
      for (int t = 1; t <= n_levels; t++)
        values[t - 1] = settings->temperature[t - 1];
      if (!parse_level_spec ("--temperature", options->temperature, n_levels, settings->start_level, FALSE, values,
                             error))
        return FALSE;
      for (int t = 1; t <= n_levels; t++)
        settings->temperature[t - 1] = (float) values[t - 1];
    }
  if (options->top_k != NULL)
    {
      for (int t = 1; t <= n_levels; t++)
        values[t - 1] = settings->top_k[t - 1];
      if (!parse_level_spec ("--top-k", options->top_k, n_levels, settings->start_level, TRUE, values, error))
        return FALSE;
      for (int t = 1; t <= n_levels; t++)
        settings->top_k[t - 1] = (int) CLAMP (values[t - 1], -1.0, (double) G_MAXINT);
    }
  if (options->chain != NULL)
    {
      for (int t = 1; t <= n_levels; t++)
        values[t - 1] = settings->repeats[t - 1];
      if (!parse_level_spec ("--chain", options->chain, n_levels, settings->start_level, TRUE, values, error))
        return FALSE;
      for (int t = 1; t <= n_levels; t++)
        settings->repeats[t - 1] = (int) CLAMP (values[t - 1], -1.0, (double) G_MAXINT);
    }

  IbEditConditioning *conditioning = &request->conditioning;
  const IbConditioning *model = &config->conditioning;
  if (options->prompt != NULL)
    {
      if (model->kind != IB_CONDITIONING_TEXT)
        return fail (error, "--prompt needs a text-conditional model; this model is %s",
                     model->kind == IB_CONDITIONING_NONE ? "unconditional" : "class-conditional (use --class)");
      if (options->text_tokens != NULL)
        return fail (error, "Give either --prompt or --text-tokens, not both");
      g_autoptr (IbTokenizer) tokenizer = ib_tokenizer_new ((const char *const *) model->vocab, model->n_vocab,
                                                            model->text_length, error);
      if (tokenizer == NULL)
        return FALSE;
      int n_dropped = 0;
      int n_unknown = ib_tokenizer_encode (tokenizer, options->prompt, conditioning->text_tokens, &n_dropped);
      conditioning->n_text_tokens = ib_tokenizer_get_length (tokenizer);
      if (n_unknown > 0)
        g_printerr ("%s: warning: %d word%s of the prompt %s not in the model's vocabulary\n", command_name,
                    n_unknown, n_unknown == 1 ? "" : "s", n_unknown == 1 ? "is" : "are");
      if (n_dropped > 0)
        g_printerr ("%s: warning: the model reads %d words; the last %d of the prompt are left out\n",
                    command_name, conditioning->n_text_tokens, n_dropped);
    }
  if (options->class_id != NULL)
    {
      if (model->kind != IB_CONDITIONING_CLASS)
        return fail (error, "--class needs a class-conditional model; this model is %s",
                     model->kind == IB_CONDITIONING_NONE ? "unconditional" : "text-conditional");
      if (!parse_int ("--class", options->class_id, &conditioning->class_id, error))
        return FALSE;
    }
  if (options->text_tokens != NULL)
    {
      if (model->kind != IB_CONDITIONING_TEXT)
        return fail (error, "--text-tokens needs a text-conditional model");
      g_auto (GStrv) parts = g_strsplit (options->text_tokens, ",", -1);
      int n = (int) g_strv_length (parts);
      if (n > IB_EDIT_MAX_TEXT_TOKENS)
        return fail (error, "--text-tokens: at most %d tokens", IB_EDIT_MAX_TEXT_TOKENS);
      for (int i = 0; i < n; i++)
        if (!parse_int ("--text-tokens", parts[i], &conditioning->text_tokens[i], error))
          return FALSE;
      conditioning->n_text_tokens = n;
    }
  if (options->recipe == NULL && model->kind == IB_CONDITIONING_CLASS && options->class_id == NULL)
    return fail (error, "This model is class-conditional: say which class with --class N (0..%d)",
                 model->n_labels - 1);
  if (options->recipe == NULL && model->kind == IB_CONDITIONING_TEXT && options->text_tokens == NULL &&
      options->prompt == NULL)
    return fail (error, "This model is text-conditional: say what to make with --prompt TEXT");
  return TRUE;
}

/* Compares the recipe's hashes with what is at hand: another model is an error (the pixels could not be the
 * same), another picture or mask a warning (replaying a recipe on a new picture is a use of its own). */
static gboolean
check_recipe (const char               *recipe_path,
              const IbEditRecipeHashes *hashes,
              IbModelFile              *file,
              const IbEditRequest      *request,
              const Options            *options,
              GError                  **error)
{
  const char *model_hash = ib_model_file_get_sha256 (file);
  if (g_strcmp0 (hashes->model_sha256, model_hash) != 0)
    {
      g_set_error (error, IB_ERROR, IB_ERROR_INVALID,
                   "The recipe %s was made with another model (\"%s\", SHA-256 %.12s...) than %s (SHA-256 %.12s...); "
                   "it would not give the same pixels", recipe_path, hashes->model_name, hashes->model_sha256,
                   ib_model_file_get_path (file), model_hash);
      return FALSE;
    }
  g_autofree char *image_hash = ib_edit_hash_pixels (request->image, request->width, request->height,
                                                     request->stride, 4);
  g_autofree char *mask_hash = ib_edit_hash_pixels (request->mask, request->width, request->height,
                                                    request->mask_stride, 1);
  if (g_strcmp0 (hashes->image_sha256, image_hash) != 0)
    g_printerr ("imagebart inpaint: warning: %s is not the picture the recipe was made from (%dx%d, SHA-256 "
                "%.12s...)\n", options->image, hashes->width, hashes->height, hashes->image_sha256);
  if (g_strcmp0 (hashes->mask_sha256, mask_hash) != 0)
    g_printerr ("imagebart inpaint: warning: %s is not the mask the recipe was made with\n", options->mask);
  return TRUE;
}

/* The run */

typedef struct
{
  GMainLoop *loop;
  GCancellable *cancellable;
  const Options *options;
  const IbEditImage *input;         /* for the per-level pictures */
  gboolean with_alpha;
  gboolean terminal;
  gboolean bar_shown;
  IbEditResult *result;
  GError *error;
  GError *write_error;              /* a per-level picture could not be written */
} Run;

static void
show_progress (Run               *run,
               const IbEditEvent *event)
{
  enum { WIDTH = 30 };
  int levels = event->start_level, level_index = event->start_level - event->level;
  gint64 per_level = (gint64) event->n_passes * MAX (event->n_total, 1);
  gint64 done = (gint64) event->pass * event->n_total + event->n_done;
  double fraction = (level_index + (double) done / per_level) / levels;
  int filled = (int) (fraction * WIDTH);
  char bar[WIDTH + 1];
  for (int i = 0; i < WIDTH; i++)
    bar[i] = i < filled ? '#' : '-';
  bar[WIDTH] = '\0';
  fprintf (stderr, "\r[%s] %3d%%  level %d (%d of %d)", bar, (int) (fraction * 100), event->level, level_index + 1,
           levels);
  if (event->n_passes > 1)
    fprintf (stderr, ", pass %d/%d", event->pass + 1, event->n_passes);
  fprintf (stderr, ", %d/%d tokens", event->n_done, event->n_total);
  if (event->n_variants > 1)
    fprintf (stderr, " x %d variants", event->n_variants);
  fprintf (stderr, " ");
  fflush (stderr);
  run->bar_shown = TRUE;
}

static void
write_level_pictures (Run               *run,
                      const IbEditEvent *event)
{
  for (int v = 0; v < event->n_variants && run->write_error == NULL; v++)
    {
      const IbEditImage *patch = event->previews[v];
      g_autoptr (IbEditImage) whole = ib_edit_image_new (0, 0, run->input->width, run->input->height);
      memcpy (whole->pixels, run->input->pixels, (gsize) whole->stride * whole->height);
      for (int y = 0; y < patch->height; y++)
        memcpy (whole->pixels + (gsize) (patch->y + y) * whole->stride + (gsize) patch->x * 4,
                patch->pixels + (gsize) y * patch->stride, (gsize) patch->width * 4);
      g_autofree char *name = g_strdup_printf ("level-%d-variant-%d.png", event->level, v + 1);
      g_autofree char *path = g_build_filename (run->options->levels_dir, name, NULL);
      if (!save_png (path, whole, run->with_alpha, NULL, &run->write_error))
        g_cancellable_cancel (run->cancellable);
    }
}

static void
event_cb (IbEditJob         *job,
          const IbEditEvent *event,
          gpointer           user_data)
{
  Run *run = user_data;
  switch (event->kind)
    {
    case IB_EDIT_EVENT_LEVEL_STARTED:
      break;
    case IB_EDIT_EVENT_PROGRESS:
      if (run->terminal)
        show_progress (run, event);
      break;
    case IB_EDIT_EVENT_LEVEL_FINISHED:
      if (run->options->levels_dir != NULL && event->previews != NULL)
        write_level_pictures (run, event);
      break;
    case IB_EDIT_EVENT_DONE:
    case IB_EDIT_EVENT_FAILED:
    case IB_EDIT_EVENT_CANCELLED:
      if (run->bar_shown)
        fprintf (stderr, "\n");
      break;
    }
}

static void
finished_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  Run *run = user_data;
  run->result = ib_edit_job_run_finish (IB_EDIT_JOB (source), result, &run->error);
  g_main_loop_quit (run->loop);
}

static gboolean
interrupted_cb (gpointer user_data)
{
  Run *run = user_data;
  g_cancellable_cancel (run->cancellable);
  return G_SOURCE_CONTINUE;
}

/* Runs the job on its worker while following its events, then writes each variant to OUT (OUT-2.png, ...) with
 * its recipe. input: the picture as given, for the per-level pictures of --levels-dir. */
static gboolean
run_job_and_save (IbEditJob         *job,
                  const Options     *options,
                  const IbEditImage *input,
                  gboolean           with_alpha,
                  GError           **error)
{
  Run run = { NULL };

  if (options->levels_dir != NULL && g_mkdir_with_parents (options->levels_dir, 0755) != 0)
    {
      g_set_error (error, IB_ERROR, IB_ERROR_IO, "Could not make the folder %s: %s", options->levels_dir,
                   g_strerror (errno));
      return FALSE;
    }
  run.loop = g_main_loop_new (NULL, FALSE);
  run.cancellable = g_cancellable_new ();
  run.options = options;
  run.input = input;
  run.with_alpha = with_alpha;
  run.terminal = isatty (fileno (stderr));
  guint sigint = g_unix_signal_add (SIGINT, interrupted_cb, &run);
  ib_edit_job_run_async (job, event_cb, &run, NULL, run.cancellable, finished_cb, &run);
  g_main_loop_run (run.loop);
  g_source_remove (sigint);
  g_main_loop_unref (run.loop);
  g_object_unref (run.cancellable);

  if (run.write_error != NULL)
    {
      g_clear_error (&run.error);
      g_propagate_error (error, run.write_error);
      return FALSE;
    }
  if (run.result == NULL)
    {
      g_propagate_error (error, run.error);
      return FALSE;
    }
  gboolean saved = TRUE;
  for (int v = 0; v < run.result->n_variants && saved; v++)
    {
      g_autofree char *path = variant_path (options->out, v);
      saved = save_png (path, run.result->images[v], run.with_alpha, run.result->recipe, error);
      if (saved)
        printf ("%s\n", path);
    }
  if (saved)
    printf ("seed %" G_GUINT64_FORMAT "\n", ib_edit_job_get_settings (job)->seed);
  ib_edit_result_unref (run.result);
  return saved;
}

int
ib_cli_run_inpaint (int    argc,
                    char **argv)
{
  g_autoptr (GOptionContext) context = g_option_context_new ("[MODEL] - re-synthesize the masked part of a picture");
  g_auto (Options) options = { NULL };
  GOptionEntry entries[] = {
    { "image", 'i', 0, G_OPTION_ARG_FILENAME, &options.image, "The picture to edit", "FILE" },
    { "mask", 'm', 0, G_OPTION_ARG_FILENAME, &options.mask,
      "What to re-synthesize: a picture of the same size, black = keep, white (or any colour, or opaque paint) = "
      "re-synthesize", "FILE" },
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &options.out, "The result, a PNG (more variants: OUT-2.png, ...)",
      "OUT.png" },
    { "recipe", 0, 0, G_OPTION_ARG_FILENAME, &options.recipe,
      "Replay the recipe of an earlier result (its PNG, or a .json); options given too override it", "FILE" },
    { "seed", 0, 0, G_OPTION_ARG_STRING, &options.seed, "Random seed (default: random)", "S" },
    { "start-level", 0, 0, G_OPTION_ARG_STRING, &options.start_level,
      "Strength: the level to start from, 1 (keeps the coarse structure) to T (default, from noise)", "L" },
    { "strength", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_STRING, &options.start_level, NULL, "L" },
    { "variants", 'n', 0, G_OPTION_ARG_STRING, &options.variants, "How many results (default 1)", "N" },
    { "temperature", 0, 0, G_OPTION_ARG_STRING, &options.temperature,
      "Per level: V for all, A..B from the start level to level 1, or T:V,T:V,... (default: the model's)", "SPEC" },
    { "top-k", 0, 0, G_OPTION_ARG_STRING, &options.top_k,
      "Per level, as --temperature; 0 keeps every token (default: the model's)", "SPEC" },
    { "chain", 0, 0, G_OPTION_ARG_STRING, &options.chain,
      "Passes per level, as --temperature; more passes harmonize the edit with its surroundings (default 1)",
      "SPEC" },
    { "repeats", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_STRING, &options.chain, NULL, "SPEC" },
    { "feather", 0, 0, G_OPTION_ARG_STRING, &options.feather,
      "Width of the blend inside the mask's edge, pixels (default 4)", "PX" },
    { "no-colour-match", 0, 0, G_OPTION_ARG_NONE, &options.no_colour_match,
      "Do not match the new pixels' colours to the surroundings", NULL },
    { "class", 0, 0, G_OPTION_ARG_STRING, &options.class_id, "The class, for a class-conditional model", "N" },
    { "prompt", 0, 0, G_OPTION_ARG_STRING, &options.prompt, "A text prompt, for a text-conditional model", "TEXT" },
    { "text-tokens", 0, 0, G_OPTION_ARG_STRING, &options.text_tokens,
      "The prompt as the model's text tokens, for a text-conditional model", "I,J,..." },
    { "guidance", 0, 0, G_OPTION_ARG_STRING, &options.guidance,
      "How strongly to follow the prompt: 1 (plainly conditioned) to 20; higher follows it more closely "
      "(default: the model's)", "G" },
    { "levels-dir", 0, 0, G_OPTION_ARG_FILENAME, &options.levels_dir,
      "Write level-T-variant-V.png here as each level finishes", "DIR" },
    { NULL }
  };
  g_autoptr (GError) error = NULL;
  g_autoptr (IbModelFile) file = NULL;
  g_autoptr (GdkPixbuf) picture = NULL, mask_picture = NULL;
  g_autofree guint8 *mask = NULL;
  g_autofree char *recipe_text = NULL;
  g_autoptr (IbEditJob) job = NULL;
  g_autoptr (IbEditImage) input = NULL;
  IbEditRecipeHashes hashes = { NULL };
  char **rest;

  if (!ib_cli_parse_edit_options (context, entries, &argc, &argv, &error) ||
      !(file = ib_cli_open_model (argc, argv, 0, &rest, &error)))
    goto failed;
  if (options.image == NULL || options.mask == NULL || options.out == NULL)
    {
      fail (&error, "--image FILE, --mask FILE and --out OUT.png are required");
      goto failed;
    }
  if (!g_str_has_suffix (options.out, ".png"))
    {
      fail (&error, "--out must name a .png file (the result is written as PNG, with its recipe inside)");
      goto failed;
    }

  const IbModelConfig *config = ib_model_file_get_config (file);
  gboolean with_alpha, mask_alpha;
  if (!(picture = load_picture (options.image, "picture", &with_alpha, &error)) ||
      !(mask_picture = load_picture (options.mask, "mask", &mask_alpha, &error)))
    goto failed;
  int width = gdk_pixbuf_get_width (picture), height = gdk_pixbuf_get_height (picture);
  if (gdk_pixbuf_get_width (mask_picture) != width || gdk_pixbuf_get_height (mask_picture) != height)
    {
      fail (&error, "The mask %s is %dx%d pixels but the picture %s is %dx%d; they must be the same size",
            options.mask, gdk_pixbuf_get_width (mask_picture), gdk_pixbuf_get_height (mask_picture), options.image,
            width, height);
      goto failed;
    }
  mask = mask_from_picture (mask_picture);

  IbEditRequest request;
  ib_edit_request_init (&request, config);
  request.image = gdk_pixbuf_read_pixels (picture);
  request.width = width;
  request.height = height;
  request.stride = gdk_pixbuf_get_rowstride (picture);
  request.mask = mask;
  request.mask_width = width;
  request.mask_height = height;
  request.mask_stride = width;
  request.settings.seed = ((guint64) g_random_int () << 32) | g_random_int ();
  request.settings.level_previews = options.levels_dir != NULL;

  if (options.recipe != NULL)
    {
      if (!(recipe_text = read_recipe (options.recipe, &error)) ||
          !ib_edit_recipe_parse (recipe_text, -1, config, &request.conditioning, &request.settings, &hashes, &error) ||
          !check_recipe (options.recipe, &hashes, file, &request, &options, &error))
        goto failed;
      request.settings.level_previews = options.levels_dir != NULL;
    }
  ib_cli_apply_engine_options (&request.settings);
  if (!apply_options (&options, config, &request, &error) || !(job = ib_edit_job_new (file, &request, &error)))
    goto failed;

  input = ib_edit_image_new (0, 0, width, height);
  for (int y = 0; y < height; y++)
    memcpy (input->pixels + (gsize) y * input->stride, request.image + (gsize) y * request.stride, (gsize) width * 4);
  if (!run_job_and_save (job, &options, input, with_alpha, &error))
    goto failed;
  ib_edit_recipe_hashes_clear (&hashes);
  return EXIT_SUCCESS;

failed:
  ib_edit_recipe_hashes_clear (&hashes);
  g_printerr ("imagebart inpaint: %s\n", error->message);
  return EXIT_FAILURE;
}

int
ib_cli_run_conditioned_sample (IbModelFile              *file,
                               const IbCliConditioning  *conditioning,
                               const char               *seed,
                               const char               *out)
{
  g_auto (Options) options = { NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (IbEditJob) job = NULL;
  g_autoptr (IbEditImage) blank = NULL;
  g_autofree guint8 *mask = NULL;

  command_name = "imagebart sample";
  options.prompt = g_strdup (conditioning->prompt);
  options.text_tokens = g_strdup (conditioning->text_tokens);
  options.class_id = g_strdup (conditioning->class_id);
  options.guidance = g_strdup (conditioning->guidance);
  options.seed = g_strdup (seed);
  options.out = g_strdup (out);
  if (!g_str_has_suffix (out, ".png"))
    {
      fail (&error, "--out must name a .png file: a conditioned model's sample is written as PNG, with its recipe "
            "inside");
      goto failed;
    }

  /* A blank picture at the model's size with all of it masked: nothing is known, so every token is drawn from
   * x_T noise under the conditioning, and nothing is blended or colour-matched to surroundings. */
  const IbModelConfig *config = ib_model_file_get_config (file);
  int size = config->resolution;
  blank = ib_edit_image_new (0, 0, size, size);
  memset (blank->pixels, 255, (gsize) blank->stride * size);
  mask = g_malloc ((gsize) size * size);
  memset (mask, 255, (gsize) size * size);

  IbEditRequest request;
  ib_edit_request_init (&request, config);
  request.image = blank->pixels;
  request.image_owner = blank;
  request.width = request.height = request.mask_width = request.mask_height = request.mask_stride = size;
  request.stride = blank->stride;
  request.mask = mask;
  request.settings.seed = ((guint64) g_random_int () << 32) | g_random_int ();
  request.settings.feather = 0;
  request.settings.match_colours = FALSE;
  ib_cli_apply_engine_options (&request.settings);
  if (!apply_options (&options, config, &request, &error) || !(job = ib_edit_job_new (file, &request, &error)) ||
      !run_job_and_save (job, &options, blank, FALSE, &error))
    goto failed;
  return EXIT_SUCCESS;

failed:
  g_printerr ("imagebart sample: %s\n", error->message);
  return EXIT_FAILURE;
}
