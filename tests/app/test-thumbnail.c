/* test-thumbnail.c: IbThumbnail: drawn to fit, centred; under the cairo renderer (the tests' GSK_RENDERER) from
 * the texture's own surface in a cairo node, any other texture as a texture node; as tall as its texture's
 * shape asks for a width. */
#include <gtk/gtk.h>

#include "ib-studio.h"
#include "ib-texture-pyramid.h"
#include "ib-thumbnail.h"

#define SIDE 40

/* A picture 40 x 20: its left half red, its right half blue, as straight-alpha RGBA. */
static guint8 *
halves_rgba (void)
{
  guint8 *rgba = g_new0 (guint8, SIDE * SIDE / 2 * 4);
  for (int y = 0; y < SIDE / 2; y++)
    for (int x = 0; x < SIDE; x++)
      {
        guint8 *p = rgba + (y * SIDE + x) * 4;
        p[x < SIDE / 2 ? 0 : 2] = 255;
        p[3] = 255;
      }
  return rgba;
}

/* The thumbnail's own drawing, now, as a node and rendered by the cairo renderer (BGRA bytes). */
static GskRenderNode *
snapshot_node (GtkWidget *widget)
{
  GtkSnapshot *snapshot = gtk_snapshot_new ();
  GTK_WIDGET_GET_CLASS (widget)->snapshot (widget, snapshot);
  return gtk_snapshot_free_to_node (snapshot);
}

static guint8 *
render (GskRenderNode *node,
        int            width,
        int            height)
{
  g_autoptr (GskRenderer) renderer = gsk_cairo_renderer_new ();
  g_autoptr (GError) error = NULL;
  g_assert_true (gsk_renderer_realize (renderer, NULL, &error));
  graphene_rect_t area = GRAPHENE_RECT_INIT (0, 0, width, height);
  g_autoptr (GdkTexture) texture = gsk_renderer_render_texture (renderer, node, &area);
  gsk_renderer_unrealize (renderer);
  guint8 *pixels = g_malloc0 ((gsize) width * 4 * height);
  gdk_texture_download (texture, pixels, (gsize) width * 4);
  return pixels;
}

/* BGRA at (x, y) of a rendering width pixels wide. */
static void
assert_bgra (const guint8 *pixels,
             int           width,
             int           x,
             int           y,
             int           b,
             int           g,
             int           r,
             int           a)
{
  const guint8 *p = pixels + ((gsize) y * width + x) * 4;
  g_assert_cmpint (ABS (p[0] - b), <=, 2);
  g_assert_cmpint (ABS (p[1] - g), <=, 2);
  g_assert_cmpint (ABS (p[2] - r), <=, 2);
  g_assert_cmpint (ABS (p[3] - a), <=, 2);
}

static void
test_draw (void)
{
  g_autofree guint8 *rgba = halves_rgba ();
  g_autoptr (GdkTexture) texture = ib_texture_thumbnail_for_rgba (rgba, SIDE, SIDE / 2, SIDE * 4, SIDE);
  g_assert_nonnull (ib_texture_get_surface (texture));
  GtkWidget *thumbnail = ib_thumbnail_new (SIDE, SIDE);
  ib_thumbnail_set_texture (IB_THUMBNAIL (thumbnail), texture);
  g_assert_true (ib_thumbnail_get_texture (IB_THUMBNAIL (thumbnail)) == texture);

  /* Asked for 2 wide, 1 tall: at 60 pixels across, 30 tall; never under its minimum. */
  int minimum, natural;
  gtk_widget_measure (thumbnail, GTK_ORIENTATION_VERTICAL, 60, &minimum, &natural, NULL, NULL);
  g_assert_cmpint (minimum, ==, SIDE);
  g_assert_cmpint (natural, ==, SIDE);
  gtk_widget_measure (thumbnail, GTK_ORIENTATION_VERTICAL, 100, &minimum, &natural, NULL, NULL);
  g_assert_cmpint (natural, ==, 50);

  /* In a window of the cairo renderer, 80 x 80: drawn 80 x 40, centred, from the texture's surface. */
  GtkWidget *window = gtk_window_new ();
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
  gtk_widget_set_size_request (thumbnail, 80, 80);
  gtk_widget_set_halign (thumbnail, GTK_ALIGN_START);
  gtk_widget_set_valign (thumbnail, GTK_ALIGN_START);
  gtk_box_append (GTK_BOX (box), thumbnail);
  gtk_window_set_child (GTK_WINDOW (window), box);
  gtk_window_present (GTK_WINDOW (window));
  while (gtk_widget_get_width (thumbnail) != 80 || gtk_widget_get_height (thumbnail) != 80)
    g_main_context_iteration (NULL, TRUE);
  g_assert_true (ib_widget_renders_with_cairo (thumbnail));

  g_autoptr (GskRenderNode) node = snapshot_node (thumbnail);
  g_assert_cmpint (gsk_render_node_get_node_type (node), ==, GSK_CAIRO_NODE);
  g_autofree guint8 *drawn = render (node, 80, 80);
  assert_bgra (drawn, 80, 10, 30, 0, 0, 255, 255);      /* red, left */
  assert_bgra (drawn, 80, 70, 49, 255, 0, 0, 255);      /* blue, right */
  assert_bgra (drawn, 80, 40, 10, 0, 0, 0, 0);          /* nothing above */
  assert_bgra (drawn, 80, 40, 70, 0, 0, 0, 0);          /* nor below */

  /* Any other texture: a texture node over the same bounds. */
  g_autoptr (GBytes) bytes = g_bytes_new (rgba, SIDE * SIDE / 2 * 4);
  g_autoptr (GdkTexture) other = gdk_memory_texture_new (SIDE, SIDE / 2, GDK_MEMORY_R8G8B8A8, bytes, SIDE * 4);
  g_assert_null (ib_texture_get_surface (other));
  ib_thumbnail_set_texture (IB_THUMBNAIL (thumbnail), other);
  g_autoptr (GskRenderNode) texture_node = snapshot_node (thumbnail);
  g_assert_cmpint (gsk_render_node_get_node_type (texture_node), ==, GSK_TEXTURE_NODE);
  graphene_rect_t bounds;
  gsk_render_node_get_bounds (texture_node, &bounds);
  g_assert_true (graphene_rect_equal (&bounds, &GRAPHENE_RECT_INIT (0, 20, 80, 40)));

  /* None: nothing drawn. */
  ib_thumbnail_set_texture (IB_THUMBNAIL (thumbnail), NULL);
  g_autoptr (GskRenderNode) none = snapshot_node (thumbnail);
  g_assert_null (none);
  gtk_window_destroy (GTK_WINDOW (window));
}

int
main (int    argc,
      char **argv)
{
  ib_studio_init ();
  gtk_test_init (&argc, &argv, NULL);
  g_test_add_func ("/app/thumbnail/draw", test_draw);
  return g_test_run ();
}
