/* test-variant-gallery.c: IbVariantGallery: thumbnails, the selection and its signal, Accept and Reject
 * only on final variants, rejecting down to none. */
#include <string.h>

#include <gtk/gtk.h>

#include "ib-studio.h"
#include "ib-thumbnail.h"
#include "ib-variant-gallery.h"

typedef struct
{
  int selected;
  int accepted;
  int rejected;
  int n_selected;
} Heard;

static void
selected_cb (IbVariantGallery *gallery,
             int               variant,
             Heard            *heard)
{
  heard->selected = variant;
  heard->n_selected++;
}

static void
accepted_cb (IbVariantGallery *gallery,
             int               variant,
             Heard            *heard)
{
  heard->accepted = variant;
}

static void
rejected_cb (IbVariantGallery *gallery,
             int               variant,
             Heard            *heard)
{
  heard->rejected = variant;
  /* The gallery is already as it will be. */
  g_assert_cmpint (ib_variant_gallery_get_selected (gallery), !=, variant);
}

static GPtrArray *
images_new (int n)
{
  GPtrArray *images = g_ptr_array_new_with_free_func ((GDestroyNotify) ib_edit_image_unref);
  for (int v = 0; v < n; v++)
    {
      IbEditImage *image = ib_edit_image_new (0, 0, 6, 4);
      memset (image->pixels, 40 * v, (gsize) image->stride * image->height);
      g_ptr_array_add (images, image);
    }
  return images;
}

static int
n_thumbnails (GtkWidget *gallery)
{
  GtkFlowBox *flow = NULL;
  for (GtkWidget *w = gtk_widget_get_first_child (gtk_widget_get_first_child (gallery)); w != NULL;
       w = gtk_widget_get_next_sibling (w))
    if (GTK_IS_FLOW_BOX (w))
      flow = GTK_FLOW_BOX (w);
  g_assert_nonnull (flow);
  int n = 0;
  while (gtk_flow_box_get_child_at_index (flow, n) != NULL)
    n++;
  return n;
}

static void
test_select_accept_reject (void)
{
  GtkWidget *widget = g_object_ref_sink (ib_variant_gallery_new ());
  IbVariantGallery *gallery = IB_VARIANT_GALLERY (widget);
  Heard heard = { -1, -1, -1, 0 };
  g_signal_connect (gallery, "selected", G_CALLBACK (selected_cb), &heard);
  g_signal_connect (gallery, "accepted", G_CALLBACK (accepted_cb), &heard);
  g_signal_connect (gallery, "rejected", G_CALLBACK (rejected_cb), &heard);
  g_autoptr (GPtrArray) images = images_new (3);

  g_assert_cmpint (ib_variant_gallery_get_selected (gallery), ==, -1);
  /* Previews of a running job: shown and selectable, not yet to accept. */
  ib_variant_gallery_set_images (gallery, images, FALSE);
  g_assert_cmpint (n_thumbnails (widget), ==, 3);
  g_assert_cmpint (heard.selected, ==, 0);
  ib_variant_gallery_set_selected (gallery, 2);
  g_assert_cmpint (heard.selected, ==, 2);
  gtk_widget_activate_action (widget, "gallery.accept", NULL);
  gtk_widget_activate_action (widget, "gallery.reject", NULL);
  g_assert_cmpint (heard.accepted, ==, -1);
  g_assert_cmpint (heard.rejected, ==, -1);

  /* Final: the selection stays, and is announced again for its new picture. */
  int n_selected = heard.n_selected;
  ib_variant_gallery_set_images (gallery, images, TRUE);
  g_assert_cmpint (heard.n_selected, ==, n_selected + 1);
  g_assert_cmpint (ib_variant_gallery_get_selected (gallery), ==, 2);
  gtk_widget_activate_action (widget, "gallery.accept", NULL);
  g_assert_cmpint (heard.accepted, ==, 2);

  /* Reject the last: the one before is selected; then down to none. */
  gtk_widget_activate_action (widget, "gallery.reject", NULL);
  g_assert_cmpint (heard.rejected, ==, 2);
  g_assert_cmpint (n_thumbnails (widget), ==, 2);
  g_assert_cmpint (heard.selected, ==, 1);
  ib_variant_gallery_set_selected (gallery, 0);
  gtk_widget_activate_action (widget, "gallery.reject", NULL);
  g_assert_cmpint (heard.rejected, ==, 0);
  g_assert_cmpint (heard.selected, ==, 1);
  gtk_widget_activate_action (widget, "gallery.reject", NULL);
  g_assert_cmpint (heard.rejected, ==, 1);
  g_assert_cmpint (n_thumbnails (widget), ==, 0);
  g_assert_cmpint (ib_variant_gallery_get_selected (gallery), ==, -1);
  heard.accepted = -1;
  gtk_widget_activate_action (widget, "gallery.accept", NULL);
  g_assert_cmpint (heard.accepted, ==, -1);

  /* Fewer new images than the selected number: back to the first. */
  ib_variant_gallery_set_images (gallery, images, TRUE);
  ib_variant_gallery_set_selected (gallery, 2);
  g_ptr_array_set_size (images, 1);
  ib_variant_gallery_set_images (gallery, images, TRUE);
  g_assert_cmpint (heard.selected, ==, 0);
  ib_variant_gallery_set_images (gallery, NULL, FALSE);
  g_assert_cmpint (n_thumbnails (widget), ==, 0);
  g_object_unref (widget);
}

static GtkFlowBoxChild *
nth_child (GtkWidget *gallery,
           int        n)
{
  for (GtkWidget *w = gtk_widget_get_first_child (gtk_widget_get_first_child (gallery)); w != NULL;
       w = gtk_widget_get_next_sibling (w))
    if (GTK_IS_FLOW_BOX (w))
      return gtk_flow_box_get_child_at_index (GTK_FLOW_BOX (w), n);
  g_assert_not_reached ();
}

static GdkTexture *
nth_texture (GtkWidget *gallery,
             int        n)
{
  return ib_thumbnail_get_texture (IB_THUMBNAIL (gtk_flow_box_child_get_child (nth_child (gallery, n))));
}

/* Each level of a job shows as many variants as the last: their pictures change in place (no widgets made
 * anew), and the selection is announced again. Any other set of variants is built anew. */
static void
test_pictures_in_place (void)
{
  GtkWidget *widget = g_object_ref_sink (ib_variant_gallery_new ());
  IbVariantGallery *gallery = IB_VARIANT_GALLERY (widget);
  Heard heard = { -1, -1, -1, 0 };
  g_signal_connect (gallery, "selected", G_CALLBACK (selected_cb), &heard);
  g_autoptr (GPtrArray) level2 = images_new (3);
  g_autoptr (GPtrArray) level1 = images_new (3);

  ib_variant_gallery_set_images (gallery, level2, FALSE);
  ib_variant_gallery_set_selected (gallery, 1);
  GtkFlowBoxChild *first = nth_child (widget, 0);
  GdkTexture *before = nth_texture (widget, 0);
  int n_selected = heard.n_selected;
  ib_variant_gallery_set_images (gallery, level1, FALSE);
  g_assert_true (nth_child (widget, 0) == first);
  g_assert_true (nth_texture (widget, 0) != before);
  g_assert_cmpint (n_thumbnails (widget), ==, 3);
  g_assert_cmpint (heard.n_selected, ==, n_selected + 1);
  g_assert_cmpint (heard.selected, ==, 1);

  /* Fewer variants: built anew. */
  g_ptr_array_set_size (level1, 2);
  ib_variant_gallery_set_images (gallery, level1, TRUE);
  g_assert_cmpint (n_thumbnails (widget), ==, 2);
  g_assert_true (nth_child (widget, 0) != first);

  /* Of three variants, 0 rejected: two images then are variants 0 and 1, not the 1 and 2 shown. */
  ib_variant_gallery_set_images (gallery, level2, TRUE);
  ib_variant_gallery_set_selected (gallery, 0);
  gtk_widget_activate_action (widget, "gallery.reject", NULL);
  g_assert_cmpint (n_thumbnails (widget), ==, 2);
  ib_variant_gallery_set_images (gallery, level1, FALSE);
  g_assert_cmpint (n_thumbnails (widget), ==, 2);
  g_assert_cmpstr (gtk_widget_get_name (GTK_WIDGET (nth_child (widget, 0))), ==, "variant-0");
  g_assert_cmpstr (gtk_widget_get_name (GTK_WIDGET (nth_child (widget, 1))), ==, "variant-1");
  g_object_unref (widget);
}

int
main (int    argc,
      char **argv)
{
  ib_studio_init ();
  gtk_test_init (&argc, &argv, NULL);
  g_test_add_func ("/app/variant-gallery/select-accept-reject", test_select_accept_reject);
  g_test_add_func ("/app/variant-gallery/pictures-in-place", test_pictures_in_place);
  return g_test_run ();
}
