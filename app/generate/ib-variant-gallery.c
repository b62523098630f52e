/* ib-variant-gallery.c: the variants as thumbnails, with Accept and Reject (see ib-variant-gallery.h). */
#include "ib-variant-gallery.h"

#include <glib/gi18n.h>

#include "ib-texture-pyramid.h"
#include "ib-thumbnail.h"

#define THUMBNAIL_SIZE 96
#define VARIANT_KEY "ib-variant"

struct _IbVariantGallery
{
  GtkWidget parent_instance;

  GtkWidget *placeholder;
  GtkWidget *flow;
  IbJobRunner *runner;
  int selected;                 /* variant number, -1: none */
  gboolean final;
  gboolean updating;            /* children are being replaced: no "selected" for the churn */
};

G_DEFINE_FINAL_TYPE (IbVariantGallery, ib_variant_gallery, GTK_TYPE_WIDGET)

enum
{
  SIGNAL_SELECTED,
  SIGNAL_ACCEPTED,
  SIGNAL_REJECTED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static int
child_variant (GtkFlowBoxChild *child)
{
  return GPOINTER_TO_INT (g_object_get_data (G_OBJECT (child), VARIANT_KEY));
}

static GtkFlowBoxChild *
find_child (IbVariantGallery *self,
            int               variant)
{
  for (int i = 0;; i++)
    {
      GtkFlowBoxChild *child = gtk_flow_box_get_child_at_index (GTK_FLOW_BOX (self->flow), i);
      if (child == NULL || child_variant (child) == variant)
        return child;
    }
}

static void
update_actions (IbVariantGallery *self)
{
  gboolean any = gtk_flow_box_get_child_at_index (GTK_FLOW_BOX (self->flow), 0) != NULL;

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "gallery.accept", self->final && self->selected >= 0);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "gallery.reject", self->final && self->selected >= 0);
  gtk_widget_set_visible (self->placeholder, !any);
  gtk_widget_set_visible (self->flow, any);
}

/* Selects a variant (or the first left when it is not there) and says so if that changed it. */
static void
select_variant (IbVariantGallery *self,
                int               variant)
{
  GtkFlowBoxChild *child = find_child (self, variant);
  if (child == NULL)
    child = gtk_flow_box_get_child_at_index (GTK_FLOW_BOX (self->flow), 0);
  int selected = child != NULL ? child_variant (child) : -1;

  self->updating = TRUE;
  if (child != NULL)
    gtk_flow_box_select_child (GTK_FLOW_BOX (self->flow), child);
  self->updating = FALSE;
  if (selected != self->selected)
    {
      self->selected = selected;
      if (selected >= 0)
        g_signal_emit (self, signals[SIGNAL_SELECTED], 0, selected);
    }
  update_actions (self);
}

static void
selection_changed_cb (IbVariantGallery *self)
{
  if (self->updating)
    return;
  g_autoptr (GList) children = gtk_flow_box_get_selected_children (GTK_FLOW_BOX (self->flow));
  if (children != NULL)
    select_variant (self, child_variant (children->data));
}

static void
remove_children (IbVariantGallery *self)
{
  GtkFlowBoxChild *child;

  self->updating = TRUE;
  while ((child = gtk_flow_box_get_child_at_index (GTK_FLOW_BOX (self->flow), 0)) != NULL)
    gtk_flow_box_remove (GTK_FLOW_BOX (self->flow), GTK_WIDGET (child));
  self->updating = FALSE;
}

/* Variant v's thumbnail: the runner's when there is one (thumbnails: NULL, or a GdkTexture per image), else
 * made here at twice the thumbnail's size (sharp on a scale-2 display). */
static GdkTexture *
thumbnail_texture (GPtrArray *images,
                   GPtrArray *thumbnails,
                   guint      v)
{
  IbEditImage *image = g_ptr_array_index (images, v);
  if (thumbnails != NULL && v < thumbnails->len)
    return g_object_ref (g_ptr_array_index (thumbnails, v));
  return ib_texture_thumbnail_for_rgba (image->pixels, image->width, image->height, image->stride,
                                        2 * THUMBNAIL_SIZE);
}

/* The shown variants' pictures replaced in place, when the gallery shows variants 0 to n - 1 of n images (each
 * level of a running job): no widgets made anew, so a finished level redraws the thumbnails and lays nothing
 * out. FALSE, changing nothing, when it shows other variants. */
static gboolean
replace_pictures (IbVariantGallery *self,
                  GPtrArray        *images,
                  GPtrArray        *thumbnails)
{
  if (images == NULL || images->len == 0 ||
      gtk_flow_box_get_child_at_index (GTK_FLOW_BOX (self->flow), images->len) != NULL)
    return FALSE;
  for (guint v = 0; v < images->len; v++)
    {
      GtkFlowBoxChild *child = gtk_flow_box_get_child_at_index (GTK_FLOW_BOX (self->flow), v);
      if (child == NULL || child_variant (child) != (int) v)
        return FALSE;
    }
  for (guint v = 0; v < images->len; v++)
    {
      GtkFlowBoxChild *child = gtk_flow_box_get_child_at_index (GTK_FLOW_BOX (self->flow), v);
      g_autoptr (GdkTexture) texture = thumbnail_texture (images, thumbnails, v);
      ib_thumbnail_set_texture (IB_THUMBNAIL (gtk_flow_box_child_get_child (child)), texture);
    }
  return TRUE;
}

static void
add_pictures (IbVariantGallery *self,
              GPtrArray        *images,
              GPtrArray        *thumbnails)
{
  remove_children (self);
  self->updating = TRUE;
  for (guint v = 0; images != NULL && v < images->len; v++)
    {
      g_autoptr (GdkTexture) texture = thumbnail_texture (images, thumbnails, v);
      g_autofree char *name = g_strdup_printf ("variant-%u", v);
      g_autofree char *tooltip = g_strdup_printf (_("Variant %u"), v + 1);
      GtkWidget *picture = ib_thumbnail_new (THUMBNAIL_SIZE, 2 * THUMBNAIL_SIZE);
      ib_thumbnail_set_texture (IB_THUMBNAIL (picture), texture);
      gtk_widget_set_tooltip_text (picture, tooltip);
      GtkWidget *child = gtk_flow_box_child_new ();
      gtk_widget_set_name (child, name);
      gtk_flow_box_child_set_child (GTK_FLOW_BOX_CHILD (child), picture);
      g_object_set_data (G_OBJECT (child), VARIANT_KEY, GINT_TO_POINTER ((int) v));
      gtk_flow_box_append (GTK_FLOW_BOX (self->flow), child);
    }
  self->updating = FALSE;
}

/* thumbnails: NULL, or a GdkTexture per image already made (the runner's). */
static void
show_images (IbVariantGallery *self,
             GPtrArray        *images,
             GPtrArray        *thumbnails,
             gboolean          final)
{
  int keep = self->selected;
  if (!replace_pictures (self, images, thumbnails))
    add_pictures (self, images, thumbnails);
  self->final = final && images != NULL && images->len > 0;
  /* "selected" again even for the same variant: its picture changed. */
  self->selected = -1;
  select_variant (self, keep >= 0 ? keep : 0);
  if (self->selected < 0)
    update_actions (self);
}

void
ib_variant_gallery_set_images (IbVariantGallery *self,
                               GPtrArray        *images,
                               gboolean          final)
{
  g_return_if_fail (IB_IS_VARIANT_GALLERY (self));
  show_images (self, images, NULL, final);
}

int
ib_variant_gallery_get_selected (IbVariantGallery *self)
{
  g_return_val_if_fail (IB_IS_VARIANT_GALLERY (self), -1);
  return self->selected;
}

void
ib_variant_gallery_set_selected (IbVariantGallery *self,
                                 int               variant)
{
  g_return_if_fail (IB_IS_VARIANT_GALLERY (self));
  if (find_child (self, variant) != NULL)
    select_variant (self, variant);
}

static void
accept_activated (GtkWidget  *widget,
                  const char *action_name,
                  GVariant   *parameter)
{
  IbVariantGallery *self = IB_VARIANT_GALLERY (widget);
  if (self->final && self->selected >= 0)
    g_signal_emit (self, signals[SIGNAL_ACCEPTED], 0, self->selected);
}

static void
reject_activated (GtkWidget  *widget,
                  const char *action_name,
                  GVariant   *parameter)
{
  IbVariantGallery *self = IB_VARIANT_GALLERY (widget);
  int variant = self->selected;
  GtkFlowBoxChild *child = find_child (self, variant);

  if (!self->final || child == NULL)
    return;
  /* The next one left is selected first, so that "rejected" finds the gallery as it will be. */
  int next = gtk_flow_box_child_get_index (child) + 1;
  GtkFlowBoxChild *after = gtk_flow_box_get_child_at_index (GTK_FLOW_BOX (self->flow), next);
  if (after == NULL)
    after = gtk_flow_box_get_child_at_index (GTK_FLOW_BOX (self->flow), MAX (next - 2, 0));
  int next_variant = after != NULL && after != child ? child_variant (after) : -1;
  self->updating = TRUE;
  gtk_flow_box_remove (GTK_FLOW_BOX (self->flow), GTK_WIDGET (child));
  self->updating = FALSE;
  self->selected = -1;
  if (next_variant >= 0)
    select_variant (self, next_variant);
  else
    {
      self->final = FALSE;
      update_actions (self);
    }
  g_signal_emit (self, signals[SIGNAL_REJECTED], 0, variant);
}

/* Following a runner */

static void
runner_started_cb (IbVariantGallery *self)
{
  ib_variant_gallery_set_images (self, NULL, FALSE);
}

static void
runner_level_finished_cb (IbJobRunner      *runner,
                          int               level,
                          GPtrArray        *previews,
                          IbVariantGallery *self)
{
  if (previews->len > 0)
    show_images (self, previews, ib_job_runner_get_thumbnails (runner), FALSE);
}

/* Final only once the result exists: the window accepts from it. */
static void
runner_done_cb (IbJobRunner      *runner,
                IbEditResult     *result,
                IbVariantGallery *self)
{
  if (gtk_flow_box_get_child_at_index (GTK_FLOW_BOX (self->flow), 0) != NULL)
    {
      /* Level 1's previews: the results' masked boxes. */
      self->final = TRUE;
      update_actions (self);
      return;
    }
  /* Without previews (an empty mask), the whole images. */
  g_autoptr (GPtrArray) images = g_ptr_array_new_with_free_func ((GDestroyNotify) ib_edit_image_unref);
  for (int v = 0; v < result->n_variants; v++)
    g_ptr_array_add (images, ib_edit_image_ref (result->images[v]));
  ib_variant_gallery_set_images (self, images, TRUE);
}

void
ib_variant_gallery_set_runner (IbVariantGallery *self,
                               IbJobRunner      *runner)
{
  g_return_if_fail (IB_IS_VARIANT_GALLERY (self));
  g_return_if_fail (runner == NULL || IB_IS_JOB_RUNNER (runner));

  if (self->runner != NULL)
    g_signal_handlers_disconnect_by_data (self->runner, self);
  g_set_object (&self->runner, runner);
  if (runner == NULL)
    return;
  g_signal_connect_swapped (runner, "started", G_CALLBACK (runner_started_cb), self);
  g_signal_connect (runner, "level-finished", G_CALLBACK (runner_level_finished_cb), self);
  g_signal_connect (runner, "done", G_CALLBACK (runner_done_cb), self);
  g_signal_connect_swapped (runner, "failed", G_CALLBACK (runner_started_cb), self);
  g_signal_connect_swapped (runner, "cancelled", G_CALLBACK (runner_started_cb), self);
}

/* GObject */

static void
ib_variant_gallery_dispose (GObject *object)
{
  IbVariantGallery *self = IB_VARIANT_GALLERY (object);

  ib_variant_gallery_set_runner (self, NULL);
  gtk_widget_dispose_template (GTK_WIDGET (self), IB_TYPE_VARIANT_GALLERY);
  /* The template's root has no id, so dispose_template leaves it. */
  for (GtkWidget *child; (child = gtk_widget_get_first_child (GTK_WIDGET (self))) != NULL;)
    gtk_widget_unparent (child);
  G_OBJECT_CLASS (ib_variant_gallery_parent_class)->dispose (object);
}

static void
ib_variant_gallery_class_init (IbVariantGalleryClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = ib_variant_gallery_dispose;

  signals[SIGNAL_SELECTED] =
    g_signal_new ("selected", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_INT);
  signals[SIGNAL_ACCEPTED] =
    g_signal_new ("accepted", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_INT);
  signals[SIGNAL_REJECTED] =
    g_signal_new ("rejected", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_INT);

  gtk_widget_class_install_action (widget_class, "gallery.accept", NULL, accept_activated);
  gtk_widget_class_install_action (widget_class, "gallery.reject", NULL, reject_activated);

  gtk_widget_class_set_template_from_resource (widget_class, "/org/imagebart/Studio/ib-variant-gallery.ui");
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_bind_template_child (widget_class, IbVariantGallery, placeholder);
  gtk_widget_class_bind_template_child (widget_class, IbVariantGallery, flow);
  gtk_widget_class_bind_template_callback (widget_class, selection_changed_cb);
}

static void
ib_variant_gallery_init (IbVariantGallery *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->selected = -1;
  update_actions (self);
}

GtkWidget *
ib_variant_gallery_new (void)
{
  return g_object_new (IB_TYPE_VARIANT_GALLERY, NULL);
}
