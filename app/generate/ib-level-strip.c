/* ib-level-strip.c: one thumbnail per level of the running or last generation (see ib-level-strip.h). */
#include "ib-level-strip.h"

#include <glib/gi18n.h>

#include "ib-texture-pyramid.h"
#include "ib-thumbnail.h"

#define THUMBNAIL_SIZE 72

typedef struct
{
  IbLevelStrip *strip;
  int level;
  GtkWidget *root;              /* in cells_box */
  GtkWidget *button;            /* the thumbnail: shows the level large */
  GtkWidget *picture;
  GtkWidget *progress;
  GtkWidget *resample;
  GPtrArray *previews;          /* IbEditImage per variant; NULL until the level finishes */
  GPtrArray *thumbnails;        /* GdkTexture per variant made by the runner's worker, or NULL */
} Cell;

struct _IbLevelStrip
{
  GtkWidget parent_instance;

  GtkWidget *placeholder;
  GtkWidget *sizer_slot;
  GtkWidget *cells_box;
  GPtrArray *cells;             /* Cell, coarsest first */
  IbJobRunner *runner;
  int variant;                  /* shown */
  int resampled_variant;        /* shown when "resample-from" was last emitted */
};

G_DEFINE_FINAL_TYPE (IbLevelStrip, ib_level_strip, GTK_TYPE_WIDGET)

enum
{
  SIGNAL_LEVEL_ACTIVATED,
  SIGNAL_RESAMPLE_FROM,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static void
cell_free (gpointer data)
{
  Cell *cell = data;
  g_clear_pointer (&cell->previews, g_ptr_array_unref);
  g_clear_pointer (&cell->thumbnails, g_ptr_array_unref);
  g_free (cell);
}

static Cell *
find_cell (IbLevelStrip *self,
           int           level)
{
  for (guint i = 0; i < self->cells->len; i++)
    {
      Cell *cell = g_ptr_array_index (self->cells, i);
      if (cell->level == level)
        return cell;
    }
  return NULL;
}

static IbEditImage *
cell_preview (IbLevelStrip *self,
              Cell         *cell)
{
  if (cell->previews == NULL || cell->previews->len == 0)
    return NULL;
  /* A kept level of a resumed job has one preview, shared by every variant. */
  guint variant = MIN ((guint) self->variant, cell->previews->len - 1);
  return g_ptr_array_index (cell->previews, variant);
}

static void
cell_update (IbLevelStrip *self,
             Cell         *cell)
{
  IbEditImage *preview = cell_preview (self, cell);
  guint variant = cell->previews != NULL && cell->previews->len > 0
                  ? MIN ((guint) self->variant, cell->previews->len - 1) : 0;
  /* The runner's thumbnail when there is one; else twice the thumbnail's size: sharp on a scale-2 display. */
  g_autoptr (GdkTexture) texture = preview == NULL ? NULL
    : cell->thumbnails != NULL && variant < cell->thumbnails->len
    ? g_object_ref (g_ptr_array_index (cell->thumbnails, variant))
    : ib_texture_thumbnail_for_rgba (preview->pixels, preview->width, preview->height, preview->stride,
                                     2 * THUMBNAIL_SIZE);

  ib_thumbnail_set_texture (IB_THUMBNAIL (cell->picture), texture);
  gtk_widget_set_sensitive (cell->button, cell->previews != NULL);
  gtk_widget_set_sensitive (cell->resample, cell->previews != NULL);
}

static void
cell_clicked_cb (GtkButton *button,
                 Cell      *cell)
{
  if (cell->previews != NULL)
    g_signal_emit (cell->strip, signals[SIGNAL_LEVEL_ACTIVATED], 0, cell->level);
}

static void
resample_clicked_cb (GtkButton *button,
                     Cell      *cell)
{
  if (cell->previews == NULL)
    return;
  cell->strip->resampled_variant = cell->strip->variant;
  g_signal_emit (cell->strip, signals[SIGNAL_RESAMPLE_FROM], 0, cell->level);
}

/* The thumbnail button's content is THUMBNAIL_SIZE square whatever the preview's shape: a picture's natural
 * size follows its paintable, and a tall preview grew the cell, the strip and so shrank the canvas. */
static void
thumbnail_measure (GtkWidget      *widget,
                   GtkOrientation  orientation,
                   int             for_size,
                   int            *minimum,
                   int            *natural,
                   int            *minimum_baseline,
                   int            *natural_baseline)
{
  *minimum = *natural = THUMBNAIL_SIZE;
  *minimum_baseline = *natural_baseline = -1;
}

static void
thumbnail_allocate (GtkWidget *widget,
                    int        width,
                    int        height,
                    int        baseline)
{
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    if (gtk_widget_should_layout (child))
      gtk_widget_allocate (child, width, height, -1, NULL);
}

/* A cell's widgets, without its signals. The progress bar lies over the thumbnail, so that showing and hiding
 * it at every level changes no size: the strip's height, and so the canvas's, stays. */
static void
cell_build (Cell *cell,
            int   level)
{
  g_autofree char *name = g_strdup_printf ("level-%d", level);
  g_autofree char *title = g_strdup_printf (_("Level %d"), level);

  cell->level = level;
  cell->root = gtk_box_new (GTK_ORIENTATION_VERTICAL, 4);
  gtk_widget_set_name (cell->root, name);

  cell->picture = ib_thumbnail_new (THUMBNAIL_SIZE, THUMBNAIL_SIZE);
  gtk_widget_set_name (cell->picture, "level-picture");
  cell->button = gtk_button_new ();
  gtk_widget_set_layout_manager (cell->button, gtk_custom_layout_new (NULL, thumbnail_measure, thumbnail_allocate));
  gtk_widget_set_name (cell->button, "level-button");
  gtk_button_set_child (GTK_BUTTON (cell->button), cell->picture);
  gtk_widget_set_tooltip_text (cell->button, _("Show this level on the canvas"));
  gtk_accessible_update_property (GTK_ACCESSIBLE (cell->button), GTK_ACCESSIBLE_PROPERTY_LABEL, title, -1);

  cell->progress = gtk_progress_bar_new ();
  gtk_widget_set_name (cell->progress, "level-progress");
  gtk_progress_bar_set_show_text (GTK_PROGRESS_BAR (cell->progress), TRUE);
  gtk_progress_bar_set_ellipsize (GTK_PROGRESS_BAR (cell->progress), PANGO_ELLIPSIZE_END);
  gtk_widget_add_css_class (cell->progress, "osd");
  gtk_widget_add_css_class (cell->progress, "level-progress");   /* style.css: narrow enough for the cell */
  gtk_widget_set_valign (cell->progress, GTK_ALIGN_END);
  gtk_widget_set_margin_start (cell->progress, 4);
  gtk_widget_set_margin_end (cell->progress, 4);
  gtk_widget_set_margin_bottom (cell->progress, 4);
  gtk_widget_set_can_target (cell->progress, FALSE);     /* clicks go to the thumbnail under it */
  gtk_widget_set_visible (cell->progress, FALSE);
  GtkWidget *thumbnail = gtk_overlay_new ();
  gtk_overlay_set_child (GTK_OVERLAY (thumbnail), cell->button);
  gtk_overlay_add_overlay (GTK_OVERLAY (thumbnail), cell->progress);
  gtk_box_append (GTK_BOX (cell->root), thumbnail);

  GtkWidget *row = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 4);
  GtkWidget *label = gtk_label_new (title);
  gtk_widget_set_hexpand (label, TRUE);
  gtk_label_set_xalign (GTK_LABEL (label), 0.0f);
  gtk_widget_add_css_class (label, "caption");
  gtk_box_append (GTK_BOX (row), label);
  cell->resample = gtk_button_new_from_icon_name ("view-refresh-symbolic");
  gtk_widget_set_name (cell->resample, "level-resample");
  gtk_widget_add_css_class (cell->resample, "flat");
  const char *resample = _("Resample from here: keep the coarser levels, draw this one and the finer ones anew");
  gtk_widget_set_tooltip_text (cell->resample, resample);
  gtk_accessible_update_property (GTK_ACCESSIBLE (cell->resample), GTK_ACCESSIBLE_PROPERTY_LABEL, resample, -1);
  gtk_box_append (GTK_BOX (row), cell->resample);
  gtk_box_append (GTK_BOX (cell->root), row);

  /* Thumbnail-sized: the caption's expansion must not stretch the cell across a wide window. */
  gtk_widget_set_hexpand (cell->root, FALSE);
}

static Cell *
cell_new (IbLevelStrip *self,
          int           level)
{
  Cell *cell = g_new0 (Cell, 1);

  cell->strip = self;
  cell_build (cell, level);
  g_signal_connect (cell->button, "clicked", G_CALLBACK (cell_clicked_cb), cell);
  g_signal_connect (cell->resample, "clicked", G_CALLBACK (resample_clicked_cb), cell);
  gtk_box_append (GTK_BOX (self->cells_box), cell->root);
  cell_update (self, cell);
  return cell;
}

/* The placeholder's invisible cell, which gives it a cell's height. */
static void
add_sizer_cell (IbLevelStrip *self)
{
  Cell sizer = { 0 };

  cell_build (&sizer, 1);
  gtk_widget_set_name (sizer.root, "level-sizer");    /* not a level's cell */
  gtk_widget_set_sensitive (sizer.root, FALSE);
  gtk_accessible_update_state (GTK_ACCESSIBLE (sizer.root), GTK_ACCESSIBLE_STATE_HIDDEN, TRUE, -1);
  gtk_box_append (GTK_BOX (self->sizer_slot), sizer.root);
}

static void
remove_cells (IbLevelStrip *self)
{
  for (guint i = 0; i < self->cells->len; i++)
    gtk_box_remove (GTK_BOX (self->cells_box), ((Cell *) g_ptr_array_index (self->cells, i))->root);
  g_ptr_array_set_size (self->cells, 0);
}

void
ib_level_strip_clear (IbLevelStrip *self)
{
  g_return_if_fail (IB_IS_LEVEL_STRIP (self));
  remove_cells (self);
  gtk_widget_set_visible (self->placeholder, TRUE);
}

void
ib_level_strip_begin (IbLevelStrip *self,
                      int           start_level,
                      int           top_level)
{
  g_return_if_fail (IB_IS_LEVEL_STRIP (self));
  g_return_if_fail (start_level >= 1 && start_level <= IB_MAX_LEVELS);
  g_return_if_fail (top_level >= 1 && top_level <= start_level);

  Cell *first = self->cells->len > 0 ? g_ptr_array_index (self->cells, 0) : NULL;
  if (first == NULL || first->level != start_level)
    {
      remove_cells (self);
      for (int t = start_level; t >= 1; t--)
        g_ptr_array_add (self->cells, cell_new (self, t));
    }
  for (guint i = 0; i < self->cells->len; i++)
    {
      Cell *cell = g_ptr_array_index (self->cells, i);
      gtk_widget_set_visible (cell->progress, FALSE);
      g_clear_pointer (&cell->thumbnails, g_ptr_array_unref);
      if (cell->level > top_level && cell->previews != NULL && cell->previews->len > 0)
        {
          /* Every new variant grows from the one that was resampled. */
          guint kept = MIN ((guint) self->resampled_variant, cell->previews->len - 1);
          GPtrArray *previews = g_ptr_array_new_with_free_func ((GDestroyNotify) ib_edit_image_unref);
          g_ptr_array_add (previews, ib_edit_image_ref (g_ptr_array_index (cell->previews, kept)));
          g_ptr_array_unref (cell->previews);
          cell->previews = previews;
        }
      else
        g_clear_pointer (&cell->previews, g_ptr_array_unref);
    }
  self->variant = 0;
  for (guint i = 0; i < self->cells->len; i++)
    cell_update (self, g_ptr_array_index (self->cells, i));
  gtk_widget_set_visible (self->placeholder, FALSE);
}

void
ib_level_strip_level_started (IbLevelStrip *self,
                              int           level,
                              int           n_passes)
{
  g_return_if_fail (IB_IS_LEVEL_STRIP (self));
  Cell *cell = find_cell (self, level);
  if (cell == NULL)
    return;
  gtk_progress_bar_set_fraction (GTK_PROGRESS_BAR (cell->progress), 0.0);
  gtk_progress_bar_set_text (GTK_PROGRESS_BAR (cell->progress), "");
  gtk_accessible_update_property (GTK_ACCESSIBLE (cell->progress), GTK_ACCESSIBLE_PROPERTY_VALUE_TEXT,
                                  _("Starting"), -1);
  gtk_widget_set_visible (cell->progress, TRUE);
}

void
ib_level_strip_progress (IbLevelStrip *self,
                         int           level,
                         int           n_done,
                         int           n_total)
{
  g_return_if_fail (IB_IS_LEVEL_STRIP (self));
  Cell *cell = find_cell (self, level);
  if (cell == NULL || n_total <= 0)
    return;
  /* The bar over the thumbnail has room for the numbers only; the sentence is its accessible value. */
  /* Translators: tokens drawn of the level's tokens, on a progress bar 70 pixels wide */
  g_autofree char *text = g_strdup_printf (_("%d/%d"), n_done, n_total);
  g_autofree char *sentence = g_strdup_printf (_("%d of %d tokens"), n_done, n_total);
  gtk_progress_bar_set_fraction (GTK_PROGRESS_BAR (cell->progress), CLAMP ((double) n_done / n_total, 0.0, 1.0));
  gtk_progress_bar_set_text (GTK_PROGRESS_BAR (cell->progress), text);
  gtk_accessible_update_property (GTK_ACCESSIBLE (cell->progress), GTK_ACCESSIBLE_PROPERTY_VALUE_TEXT, sentence, -1);
  gtk_widget_set_visible (cell->progress, TRUE);
}

/* thumbnails: NULL, or a GdkTexture per preview already made (the runner's). */
static void
level_finished (IbLevelStrip *self,
                int           level,
                GPtrArray    *previews,
                GPtrArray    *thumbnails)
{
  Cell *cell = find_cell (self, level);
  if (cell == NULL)
    return;
  g_clear_pointer (&cell->previews, g_ptr_array_unref);
  g_clear_pointer (&cell->thumbnails, g_ptr_array_unref);
  cell->previews = g_ptr_array_ref (previews);
  cell->thumbnails = thumbnails != NULL ? g_ptr_array_ref (thumbnails) : NULL;
  gtk_widget_set_visible (cell->progress, FALSE);
  cell_update (self, cell);
}

void
ib_level_strip_level_finished (IbLevelStrip *self,
                               int           level,
                               GPtrArray    *previews)
{
  g_return_if_fail (IB_IS_LEVEL_STRIP (self));
  g_return_if_fail (previews != NULL);
  level_finished (self, level, previews, NULL);
}

void
ib_level_strip_end (IbLevelStrip *self)
{
  g_return_if_fail (IB_IS_LEVEL_STRIP (self));
  for (guint i = 0; i < self->cells->len; i++)
    gtk_widget_set_visible (((Cell *) g_ptr_array_index (self->cells, i))->progress, FALSE);
}

void
ib_level_strip_set_variant (IbLevelStrip *self,
                            int           variant)
{
  g_return_if_fail (IB_IS_LEVEL_STRIP (self));
  g_return_if_fail (variant >= 0);
  self->variant = variant;
  for (guint i = 0; i < self->cells->len; i++)
    cell_update (self, g_ptr_array_index (self->cells, i));
}

IbEditImage *
ib_level_strip_get_preview (IbLevelStrip *self,
                            int           level)
{
  g_return_val_if_fail (IB_IS_LEVEL_STRIP (self), NULL);
  Cell *cell = find_cell (self, level);
  return cell != NULL ? cell_preview (self, cell) : NULL;
}

/* Following a runner */

static void
runner_started_cb (IbJobRunner  *runner,
                   int           start_level,
                   int           top_level,
                   IbLevelStrip *self)
{
  ib_level_strip_begin (self, start_level, top_level);
}

static void
runner_level_started_cb (IbJobRunner  *runner,
                         int           level,
                         int           n_passes,
                         IbLevelStrip *self)
{
  ib_level_strip_level_started (self, level, n_passes);
}

static void
runner_progress_cb (IbJobRunner  *runner,
                    int           level,
                    int           n_done,
                    int           n_total,
                    IbLevelStrip *self)
{
  ib_level_strip_progress (self, level, n_done, n_total);
}

static void
runner_level_finished_cb (IbJobRunner  *runner,
                          int           level,
                          GPtrArray    *previews,
                          IbLevelStrip *self)
{
  level_finished (self, level, previews, ib_job_runner_get_thumbnails (runner));
}

static void
runner_ended_cb (IbLevelStrip *self)
{
  ib_level_strip_end (self);
}

void
ib_level_strip_set_runner (IbLevelStrip *self,
                           IbJobRunner  *runner)
{
  g_return_if_fail (IB_IS_LEVEL_STRIP (self));
  g_return_if_fail (runner == NULL || IB_IS_JOB_RUNNER (runner));

  if (self->runner != NULL)
    g_signal_handlers_disconnect_by_data (self->runner, self);
  g_set_object (&self->runner, runner);
  if (runner == NULL)
    return;
  g_signal_connect (runner, "started", G_CALLBACK (runner_started_cb), self);
  g_signal_connect (runner, "level-started", G_CALLBACK (runner_level_started_cb), self);
  g_signal_connect (runner, "progress", G_CALLBACK (runner_progress_cb), self);
  g_signal_connect (runner, "level-finished", G_CALLBACK (runner_level_finished_cb), self);
  g_signal_connect_swapped (runner, "done", G_CALLBACK (runner_ended_cb), self);
  g_signal_connect_swapped (runner, "failed", G_CALLBACK (runner_ended_cb), self);
  g_signal_connect_swapped (runner, "cancelled", G_CALLBACK (runner_ended_cb), self);
}

/* GObject */

static void
ib_level_strip_dispose (GObject *object)
{
  IbLevelStrip *self = IB_LEVEL_STRIP (object);

  ib_level_strip_set_runner (self, NULL);
  gtk_widget_dispose_template (GTK_WIDGET (self), IB_TYPE_LEVEL_STRIP);
  /* The template's root has no id, so dispose_template leaves it. */
  for (GtkWidget *child; (child = gtk_widget_get_first_child (GTK_WIDGET (self))) != NULL;)
    gtk_widget_unparent (child);
  g_clear_pointer (&self->cells, g_ptr_array_unref);
  G_OBJECT_CLASS (ib_level_strip_parent_class)->dispose (object);
}

static void
ib_level_strip_class_init (IbLevelStripClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = ib_level_strip_dispose;

  signals[SIGNAL_LEVEL_ACTIVATED] =
    g_signal_new ("level-activated", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_INT);
  signals[SIGNAL_RESAMPLE_FROM] =
    g_signal_new ("resample-from", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_INT);

  gtk_widget_class_set_template_from_resource (widget_class, "/org/imagebart/Studio/ib-level-strip.ui");
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_bind_template_child (widget_class, IbLevelStrip, placeholder);
  gtk_widget_class_bind_template_child (widget_class, IbLevelStrip, sizer_slot);
  gtk_widget_class_bind_template_child (widget_class, IbLevelStrip, cells_box);
}

static void
ib_level_strip_init (IbLevelStrip *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->cells = g_ptr_array_new_with_free_func (cell_free);
  add_sizer_cell (self);
}

GtkWidget *
ib_level_strip_new (void)
{
  return g_object_new (IB_TYPE_LEVEL_STRIP, NULL);
}
