/* test-canvas.c: IbCanvas in a window of known size: the widget -> picture mapping at several zooms and
 * scroll offsets checked through strokes of every tool, zooming around a point, the canvas.* actions,
 * before/after, the token grid, and the rendered mask tint. */
#include <math.h>
#include <string.h>

#include "ib-canvas-private.h"
#include "ib-edit-window.h"
#include "ib-studio.h"

#define VIEW_W 400
#define VIEW_H 300
#define PIC_W 1000
#define PIC_H 800
#define GREY 128

typedef struct
{
  GtkWindow *window;
  IbCanvas *canvas;
  IbMask *mask;
} Fixture;

static gboolean
tick_cb (gpointer data)
{
  return G_SOURCE_CONTINUE;
}

/* Runs the main loop until the canvas has the view's size (a window manager-less X server maps at once). */
static void
wait_for_size (GtkWidget *widget)
{
  gint64 end = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  guint tick = g_timeout_add (10, tick_cb, NULL);

  while ((gtk_widget_get_width (widget) != VIEW_W || gtk_widget_get_height (widget) != VIEW_H)
         && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (tick);
  g_assert_cmpint (gtk_widget_get_width (widget), ==, VIEW_W);
  g_assert_cmpint (gtk_widget_get_height (widget), ==, VIEW_H);
}

static GdkTexture *
grey_picture (int width,
              int height)
{
  gsize size = (gsize) width * height * 4;
  guint8 *rgba = g_malloc (size);
  g_autoptr(GBytes) bytes = NULL;

  for (gsize i = 0; i < size; i += 4)
    {
      rgba[i] = rgba[i + 1] = rgba[i + 2] = GREY;
      rgba[i + 3] = 255;
    }
  bytes = g_bytes_new_take (rgba, size);
  return gdk_memory_texture_new (width, height, GDK_MEMORY_R8G8B8A8, bytes, (gsize) width * 4);
}

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(GdkTexture) picture = grey_picture (PIC_W, PIC_H);

  f->window = GTK_WINDOW (gtk_window_new ());
  gtk_window_set_decorated (f->window, FALSE);
  gtk_window_set_default_size (f->window, VIEW_W, VIEW_H);
  f->canvas = IB_CANVAS (ib_canvas_new ());
  gtk_window_set_child (f->window, GTK_WIDGET (f->canvas));
  f->mask = ib_mask_new (PIC_W, PIC_H);
  ib_canvas_set_picture (f->canvas, picture);
  ib_canvas_set_mask (f->canvas, f->mask);
  gtk_window_present (f->window);
  wait_for_size (GTK_WIDGET (f->canvas));
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  gtk_window_destroy (f->window);
  g_clear_object (&f->mask);
}

/* The mapping the header documents, written out: picture = (widget + scroll - centring) / zoom. */
static void
expected_picture_point (Fixture *f,
                        double   x,
                        double   y,
                        double  *px,
                        double  *py)
{
  double z = ib_canvas_get_zoom (f->canvas);
  GtkAdjustment *h = gtk_scrollable_get_hadjustment (GTK_SCROLLABLE (f->canvas));
  GtkAdjustment *v = gtk_scrollable_get_vadjustment (GTK_SCROLLABLE (f->canvas));
  double cx = PIC_W * z < VIEW_W ? (VIEW_W - PIC_W * z) / 2 : 0;
  double cy = PIC_H * z < VIEW_H ? (VIEW_H - PIC_H * z) / 2 : 0;

  *px = (x + gtk_adjustment_get_value (h) - cx) / z;
  *py = (y + gtk_adjustment_get_value (v) - cy) / z;
}

static void
assert_masks_equal (IbMask *a,
                    IbMask *b)
{
  int sa, sb;
  const guint8 *da = ib_mask_get_data (a, &sa), *db = ib_mask_get_data (b, &sb);

  for (int y = 0; y < PIC_H; y++)
    for (int x = 0; x < PIC_W; x++)
      if (da[y * sa + x] != db[y * sb + x])
        g_error ("mask pixel (%d, %d): %d, expected %d", x, y, da[y * sa + x], db[y * sb + x]);
}

static void
set_view (Fixture *f,
          double   zoom,
          double   scroll_x,
          double   scroll_y)
{
  ib_canvas_set_zoom (f->canvas, zoom);
  gtk_adjustment_set_value (gtk_scrollable_get_hadjustment (GTK_SCROLLABLE (f->canvas)), scroll_x);
  gtk_adjustment_set_value (gtk_scrollable_get_vadjustment (GTK_SCROLLABLE (f->canvas)), scroll_y);
  ib_mask_clear (f->mask);
}

static const double zooms[] = { 0.5, 1.0, 2.5 };

/* Brush and eraser strokes land where the mapping says, for each zoom and a scroll offset. */
static void
test_stroke_zoom (Fixture       *f,
                  gconstpointer  data)
{
  const double path[][2] = { { 50, 60 }, { 150.5, 61 }, { 151, 140.25 }, { 300, 200 } };

  ib_canvas_set_brush_size (f->canvas, 12);
  ib_canvas_set_brush_hardness (f->canvas, 1.0);
  for (guint i = 0; i < G_N_ELEMENTS (zooms); i++)
    for (int scrolled = 0; scrolled < 2; scrolled++)
      {
        g_autoptr(IbMask) expected = ib_mask_new (PIC_W, PIC_H);
        IbMaskBrush brush = { 6.0, 1.0, 1.0, TRUE, FALSE, IB_MASK_MODE_PAINT };
        IbMaskStroke stroke;
        double px, py, gx, gy;

        set_view (f, zooms[i], scrolled ? 37 : 0, scrolled ? 23 : 0);
        g_assert_cmpfloat (ib_canvas_get_zoom (f->canvas), ==, zooms[i]);
        for (guint p = 0; p < G_N_ELEMENTS (path); p++)
          {
            expected_picture_point (f, path[p][0], path[p][1], &px, &py);
            ib_canvas_widget_to_picture (f->canvas, path[p][0], path[p][1], &gx, &gy);
            g_assert_cmpfloat_with_epsilon (gx, px, 1e-9);
            g_assert_cmpfloat_with_epsilon (gy, py, 1e-9);
            if (p == 0)
              ib_mask_stroke_begin (expected, &stroke, &brush, px, py, 1.0);
            else
              ib_mask_stroke_line_to (expected, &stroke, &brush, px, py, 1.0);
          }
        ib_mask_stroke_end (expected, &stroke, &brush);

        ib_canvas_begin_stroke (f->canvas, path[0][0], path[0][1], 1.0, FALSE);
        for (guint p = 1; p < G_N_ELEMENTS (path); p++)
          ib_canvas_extend_stroke (f->canvas, path[p][0], path[p][1], 1.0);
        ib_canvas_end_stroke (f->canvas);
        assert_masks_equal (f->mask, expected);

        /* The stroke's middle is painted, far from it is not. */
        expected_picture_point (f, 100, 60.5, &px, &py);
        g_assert_cmpint (ib_mask_get_value (f->mask, (int) px, (int) py), ==, 255);
        expected_picture_point (f, 250, 80, &px, &py);
        g_assert_cmpint (ib_mask_get_value (f->mask, (int) px, (int) py), ==, 0);
      }

  /* The eraser tool, and the stylus's eraser end with the brush, remove. */
  for (int eraser_end = 0; eraser_end < 2; eraser_end++)
    {
      double px, py;

      set_view (f, 2.5, 10, 10);
      ib_mask_fill (f->mask);
      ib_canvas_set_tool (f->canvas, eraser_end ? IB_CANVAS_TOOL_BRUSH : IB_CANVAS_TOOL_ERASER);
      ib_canvas_begin_stroke (f->canvas, 200, 150, 1.0, eraser_end);
      ib_canvas_end_stroke (f->canvas);
      expected_picture_point (f, 200, 150, &px, &py);
      g_assert_cmpint (ib_mask_get_value (f->mask, (int) px, (int) py), ==, 0);
      g_assert_cmpint (ib_mask_get_value (f->mask, (int) px + 10, (int) py), ==, 255);
    }
}

/* Half the pressure, half the radius. */
static void
test_stroke_pressure (Fixture       *f,
                      gconstpointer  data)
{
  double px, py;

  set_view (f, 1.0, 0, 0);
  ib_canvas_set_brush_size (f->canvas, 40);
  ib_canvas_set_brush_hardness (f->canvas, 1.0);
  ib_canvas_begin_stroke (f->canvas, 200, 150, 0.5, FALSE);
  ib_canvas_end_stroke (f->canvas);
  expected_picture_point (f, 200, 150, &px, &py);
  g_assert_cmpint (ib_mask_get_value (f->mask, (int) px + 8, (int) py), ==, 255);
  g_assert_cmpint (ib_mask_get_value (f->mask, (int) px + 12, (int) py), ==, 0);
}

static void
test_rectangle_lasso (Fixture       *f,
                      gconstpointer  data)
{
  const double rect[2][2] = { { 230.7, 190.2 }, { 30.3, 40.6 } };
  const double lasso[][2] = { { 20, 20 }, { 380, 40 }, { 200, 280 }, { 60, 150 } };

  for (guint i = 0; i < G_N_ELEMENTS (zooms); i++)
    {
      double a[2], b[2], poly[G_N_ELEMENTS (lasso)][2];
      int stride, n_in = 0;
      const guint8 *data_ = ib_mask_get_data (f->mask, &stride);

      /* Rectangle: pixel centres inside the dragged corners. */
      set_view (f, zooms[i], 41, 17);
      ib_canvas_set_tool (f->canvas, IB_CANVAS_TOOL_RECTANGLE);
      expected_picture_point (f, rect[0][0], rect[0][1], &a[0], &a[1]);
      expected_picture_point (f, rect[1][0], rect[1][1], &b[0], &b[1]);
      ib_canvas_begin_stroke (f->canvas, rect[0][0], rect[0][1], 1.0, FALSE);
      ib_canvas_extend_stroke (f->canvas, 100, 100, 1.0);
      ib_canvas_extend_stroke (f->canvas, rect[1][0], rect[1][1], 1.0);
      ib_canvas_end_stroke (f->canvas);
      for (int y = 0; y < PIC_H; y++)
        for (int x = 0; x < PIC_W; x++)
          {
            gboolean in = x + 0.5 >= MIN (a[0], b[0]) && x + 0.5 < MAX (a[0], b[0])
                          && y + 0.5 >= MIN (a[1], b[1]) && y + 0.5 < MAX (a[1], b[1]);
            g_assert_cmpint (data_[y * stride + x], ==, in ? 255 : 0);
          }

      /* Lasso: pixel centres inside the polygon. */
      ib_mask_clear (f->mask);
      ib_canvas_set_tool (f->canvas, IB_CANVAS_TOOL_LASSO);
      for (guint p = 0; p < G_N_ELEMENTS (lasso); p++)
        {
          expected_picture_point (f, lasso[p][0], lasso[p][1], &poly[p][0], &poly[p][1]);
          if (p == 0)
            ib_canvas_begin_stroke (f->canvas, lasso[p][0], lasso[p][1], 1.0, FALSE);
          else
            ib_canvas_extend_stroke (f->canvas, lasso[p][0], lasso[p][1], 1.0);
        }
      ib_canvas_end_stroke (f->canvas);
      for (int y = 0; y < PIC_H; y++)
        for (int x = 0; x < PIC_W; x++)
          {
            int winding = 0;
            for (guint e = 0; e < G_N_ELEMENTS (lasso); e++)
              {
                const double *p0 = poly[e], *p1 = poly[(e + 1) % G_N_ELEMENTS (lasso)];
                double yc = y + 0.5;
                int dir = p0[1] <= yc && yc < p1[1] ? 1 : p1[1] <= yc && yc < p0[1] ? -1 : 0;
                if (dir != 0 && p0[0] + (yc - p0[1]) * (p1[0] - p0[0]) / (p1[1] - p0[1]) <= x + 0.5)
                  winding += dir;
              }
            g_assert_cmpint (data_[y * stride + x], ==, winding != 0 ? 255 : 0);
            n_in += winding != 0;
          }
      g_assert_cmpint (n_in, >, 1000);
    }
}

/* One stroke is one undoable change. */
static void
count_cb (IbMask       *mask,
          IbMaskChange *change,
          int          *n)
{
  (*n)++;
}

static void
test_stroke_change (Fixture       *f,
                    gconstpointer  data)
{
  int n = 0;

  set_view (f, 1.0, 0, 0);
  g_signal_connect (f->mask, "change-committed", G_CALLBACK (count_cb), &n);
  ib_canvas_begin_stroke (f->canvas, 10, 10, 1.0, FALSE);
  for (int i = 1; i < 30; i++)
    ib_canvas_extend_stroke (f->canvas, 10 + 10 * i, 10 + 5 * i, 1.0);
  g_assert_true (ib_canvas_is_stroking (f->canvas));
  g_assert_cmpint (n, ==, 0);
  ib_canvas_end_stroke (f->canvas);
  g_assert_false (ib_canvas_is_stroking (f->canvas));
  g_assert_cmpint (n, ==, 1);
}

static void
test_zoom_at (Fixture       *f,
              gconstpointer  data)
{
  /* Points whose picture point stays inside the scroll range at zoom 0.5 and 2.5. */
  const double points[][2] = { { 123, 77 }, { 200, 150 }, { 30, 20 } };

  for (guint i = 0; i < G_N_ELEMENTS (points); i++)
    {
      double x = points[i][0], y = points[i][1], px0, py0, px1, py1;

      set_view (f, 1.0, 211, 175);
      ib_canvas_widget_to_picture (f->canvas, x, y, &px0, &py0);
      ib_canvas_zoom_at (f->canvas, 2.5, x, y);
      g_assert_cmpfloat (ib_canvas_get_zoom (f->canvas), ==, 2.5);
      ib_canvas_widget_to_picture (f->canvas, x, y, &px1, &py1);
      g_assert_cmpfloat_with_epsilon (px1, px0, 1e-9);
      g_assert_cmpfloat_with_epsilon (py1, py0, 1e-9);
      ib_canvas_zoom_at (f->canvas, 0.5, x, y);
      ib_canvas_widget_to_picture (f->canvas, x, y, &px1, &py1);
      g_assert_cmpfloat_with_epsilon (px1, px0, 1e-9);
      g_assert_cmpfloat_with_epsilon (py1, py0, 1e-9);
    }

  /* Limits. */
  ib_canvas_set_zoom (f->canvas, 1000);
  g_assert_cmpfloat (ib_canvas_get_zoom (f->canvas), ==, IB_CANVAS_ZOOM_MAX);
  ib_canvas_set_zoom (f->canvas, 1e-6);
  g_assert_cmpfloat (ib_canvas_get_zoom (f->canvas), ==, IB_CANVAS_ZOOM_MIN);
}

static void
test_actions (Fixture       *f,
              gconstpointer  data)
{
  GtkWidget *w = GTK_WIDGET (f->canvas);
  double fit = MIN ((double) VIEW_W / PIC_W, (double) VIEW_H / PIC_H), px, py;

  /* A new picture is fitted and centred. */
  g_assert_cmpfloat_with_epsilon (ib_canvas_get_zoom (f->canvas), fit, 1e-12);
  ib_canvas_widget_to_picture (f->canvas, VIEW_W / 2.0, VIEW_H / 2.0, &px, &py);
  g_assert_cmpfloat_with_epsilon (px, PIC_W / 2.0, 1e-9);
  g_assert_cmpfloat_with_epsilon (py, PIC_H / 2.0, 1e-9);

  g_assert_true (gtk_widget_activate_action (w, "canvas.zoom-100", NULL));
  g_assert_cmpfloat (ib_canvas_get_zoom (f->canvas), ==, 1.0);
  gtk_widget_activate_action (w, "canvas.zoom-in", NULL);
  g_assert_cmpfloat_with_epsilon (ib_canvas_get_zoom (f->canvas), G_SQRT2, 1e-12);
  gtk_widget_activate_action (w, "canvas.zoom-out", NULL);
  gtk_widget_activate_action (w, "canvas.zoom-out", NULL);
  g_assert_cmpfloat_with_epsilon (ib_canvas_get_zoom (f->canvas), 1 / G_SQRT2, 1e-12);
  gtk_widget_activate_action (w, "canvas.zoom-fit", NULL);
  g_assert_cmpfloat_with_epsilon (ib_canvas_get_zoom (f->canvas), fit, 1e-12);
  /* From the fit (0.375), steps land on the ladder of powers of sqrt(2): 0.5, 0.707, 1. */
  gtk_widget_activate_action (w, "canvas.zoom-in", NULL);
  g_assert_cmpfloat_with_epsilon (ib_canvas_get_zoom (f->canvas), 0.5, 1e-12);
  gtk_widget_activate_action (w, "canvas.zoom-in", NULL);
  gtk_widget_activate_action (w, "canvas.zoom-in", NULL);
  g_assert_cmpfloat_with_epsilon (ib_canvas_get_zoom (f->canvas), 1.0, 1e-12);
  gtk_widget_activate_action (w, "canvas.zoom-fit", NULL);
  gtk_widget_activate_action (w, "canvas.zoom-out", NULL);
  g_assert_cmpfloat_with_epsilon (ib_canvas_get_zoom (f->canvas), 0.25 * G_SQRT2, 1e-12);
  gtk_widget_activate_action (w, "canvas.zoom-fit", NULL);

  /* A picture of the same size (an accepted result) keeps the view; another size is fitted. */
  {
    g_autoptr(GdkTexture) same = grey_picture (PIC_W, PIC_H);
    g_autoptr(GdkTexture) other = grey_picture (PIC_W / 2, PIC_H);

    ib_canvas_set_zoom (f->canvas, 2.0);
    ib_canvas_set_picture (f->canvas, same);
    g_assert_cmpfloat (ib_canvas_get_zoom (f->canvas), ==, 2.0);
    ib_canvas_set_picture (f->canvas, other);
    g_assert_cmpfloat_with_epsilon (ib_canvas_get_zoom (f->canvas), (double) VIEW_H / PIC_H, 1e-12);
    ib_canvas_set_picture (f->canvas, same);
  }

  gtk_widget_activate_action (w, "canvas.tool", "s", "lasso");
  g_assert_cmpint (ib_canvas_get_tool (f->canvas), ==, IB_CANVAS_TOOL_LASSO);
  gtk_widget_activate_action (w, "canvas.tool", "s", "eraser");
  g_assert_cmpint (ib_canvas_get_tool (f->canvas), ==, IB_CANVAS_TOOL_ERASER);

  ib_canvas_set_brush_size (f->canvas, 40);
  gtk_widget_activate_action (w, "canvas.brush-larger", NULL);
  g_assert_cmpfloat (ib_canvas_get_brush_size (f->canvas), ==, 48);
  gtk_widget_activate_action (w, "canvas.brush-smaller", NULL);
  gtk_widget_activate_action (w, "canvas.brush-smaller", NULL);
  g_assert_cmpfloat (ib_canvas_get_brush_size (f->canvas), ==, 33);
  ib_canvas_set_brush_size (f->canvas, 2);
  gtk_widget_activate_action (w, "canvas.brush-larger", NULL);
  g_assert_cmpfloat (ib_canvas_get_brush_size (f->canvas), ==, 3);
  ib_canvas_set_brush_hardness (f->canvas, 0.5);
  gtk_widget_activate_action (w, "canvas.brush-harder", NULL);
  g_assert_cmpfloat_with_epsilon (ib_canvas_get_brush_hardness (f->canvas), 0.6, 1e-12);
  gtk_widget_activate_action (w, "canvas.brush-softer", NULL);
  gtk_widget_activate_action (w, "canvas.brush-softer", NULL);
  g_assert_cmpfloat_with_epsilon (ib_canvas_get_brush_hardness (f->canvas), 0.4, 1e-12);

  /* Mask actions go to the mask. */
  gtk_widget_activate_action (w, "canvas.mask-invert", NULL);
  g_assert_cmpint (ib_mask_get_value (f->mask, 0, 0), ==, 255);
  ib_mask_fill_rectangle (f->mask, 0, 0, 100, 100, IB_MASK_MODE_ERASE);
  gtk_widget_activate_action (w, "canvas.mask-grow", NULL);
  g_assert_cmpint (ib_mask_get_value (f->mask, 100 - IB_CANVAS_GROW_STEP, 50), ==, 255);
  g_assert_cmpint (ib_mask_get_value (f->mask, 99 - IB_CANVAS_GROW_STEP, 50), ==, 0);
  gtk_widget_activate_action (w, "canvas.mask-shrink", NULL);
  gtk_widget_activate_action (w, "canvas.mask-shrink", NULL);
  g_assert_cmpint (ib_mask_get_value (f->mask, 100 + IB_CANVAS_GROW_STEP - 1, 50), ==, 0);
  g_assert_cmpint (ib_mask_get_value (f->mask, 100 + IB_CANVAS_GROW_STEP, 50), ==, 255);
  gtk_widget_activate_action (w, "canvas.mask-clear", NULL);
  g_assert_true (ib_mask_is_empty (f->mask));

  /* Property actions toggle. */
  gtk_widget_activate_action (w, "canvas.show-mask", NULL);
  {
    gboolean show_mask, show_grid;
    g_object_get (f->canvas, "show-mask", &show_mask, NULL);
    g_assert_false (show_mask);
    gtk_widget_activate_action (w, "canvas.show-token-grid", NULL);
    g_object_get (f->canvas, "show-token-grid", &show_grid, NULL);
    g_assert_true (show_grid);
  }
}

/* The canvas rendered by the cairo renderer, as BGRA bytes (native-endian ARGB32). */
static guint8 *
render (Fixture *f,
        gsize   *stride)
{
  GtkWidget *w = GTK_WIDGET (f->canvas);
  GtkSnapshot *snapshot = gtk_snapshot_new ();
  g_autoptr(GskRenderer) renderer = gsk_cairo_renderer_new ();
  g_autoptr(GskRenderNode) node = NULL;
  g_autoptr(GdkTexture) texture = NULL;
  g_autoptr(GError) error = NULL;
  guint8 *pixels;

  /* The widget's own drawing, now (a GtkWidgetPaintable would wait for the next frame). */
  GTK_WIDGET_GET_CLASS (w)->snapshot (w, snapshot);
  node = gtk_snapshot_free_to_node (snapshot);
  g_assert_nonnull (node);
  g_assert_true (gsk_renderer_realize (renderer, NULL, &error));
  g_assert_no_error (error);
  texture = gsk_renderer_render_texture (renderer, node, &GRAPHENE_RECT_INIT (0, 0, VIEW_W, VIEW_H));
  gsk_renderer_unrealize (renderer);
  *stride = VIEW_W * 4;
  pixels = g_malloc (*stride * VIEW_H);
  gdk_texture_download (texture, pixels, *stride);
  return pixels;
}

static void
assert_rgb_within (const guint8 *pixels,
                   gsize         stride,
                   int           x,
                   int           y,
                   int           r,
                   int           g,
                   int           b,
                   int           tolerance)
{
  const guint8 *p = pixels + y * stride + x * 4;     /* B G R A in memory on little-endian */

  if (ABS (p[2] - r) > tolerance || ABS (p[1] - g) > tolerance || ABS (p[0] - b) > tolerance)
    g_error ("pixel (%d, %d): %d %d %d, expected %d %d %d", x, y, p[2], p[1], p[0], r, g, b);
}

static void
assert_rgb (const guint8 *pixels,
            gsize         stride,
            int           x,
            int           y,
            int           r,
            int           g,
            int           b)
{
  assert_rgb_within (pixels, stride, x, y, r, g, b, 3);
}

static void
test_render (Fixture       *f,
             gconstpointer  data)
{
  /* #e01b24 at opacity 0.5 over grey 128. */
  const int tr = (224 + GREY) / 2, tg = (27 + GREY) / 2, tb = (36 + GREY) / 2;
  double x0, y0, x1, y1;
  g_autofree guint8 *shown = NULL, *original = NULL, *hidden = NULL;
  gsize stride;
  guint builds;

  /* data: as under a GPU renderer (texture nodes), else the cairo renderer's own drawing. */
  ib_canvas_set_texture_nodes_only (f->canvas, GPOINTER_TO_INT (data));
  /* Not the brush: its outline would follow a pointer that may be over the window. */
  ib_canvas_set_tool (f->canvas, IB_CANVAS_TOOL_RECTANGLE);
  set_view (f, 2.5, 300, 200);
  ib_mask_fill_rectangle (f->mask, 150, 100, 200, 140, IB_MASK_MODE_PAINT);
  ib_canvas_picture_to_widget (f->canvas, 150, 100, &x0, &y0);
  ib_canvas_picture_to_widget (f->canvas, 200, 140, &x1, &y1);
  g_assert_cmpfloat (x0, >, 2);
  g_assert_cmpfloat (y1, <, VIEW_H - 2);

  shown = render (f, &stride);
  assert_rgb (shown, stride, (int) x0 + 2, (int) y0 + 2, tr, tg, tb);
  assert_rgb (shown, stride, (int) x1 - 2, (int) y1 - 2, tr, tg, tb);
  assert_rgb (shown, stride, (int) x0 - 2, (int) y0 + 2, GREY, GREY, GREY);
  assert_rgb (shown, stride, (int) x1 + 2, (int) y1 - 2, GREY, GREY, GREY);
  assert_rgb (shown, stride, (int) x0 + 2, (int) y1 + 2, GREY, GREY, GREY);

  /* The tint is baked into the tiles: a new opacity or colour re-makes them. */
  {
    g_autofree guint8 *opaque = NULL, *blue = NULL;
    GdkRGBA colour;

    g_object_set (f->canvas, "mask-opacity", 1.0, NULL);
    opaque = render (f, &stride);
    assert_rgb (opaque, stride, (int) x0 + 2, (int) y0 + 2, 224, 27, 36);
    gdk_rgba_parse (&colour, "#0000ff");
    g_object_set (f->canvas, "mask-colour", &colour, NULL);
    blue = render (f, &stride);
    assert_rgb (blue, stride, (int) x0 + 2, (int) y0 + 2, 0, 0, 255);
    gdk_rgba_parse (&colour, "#e01b24");
    g_object_set (f->canvas, "mask-colour", &colour, "mask-opacity", 0.5, NULL);
  }

  /* Before/after and show-mask hide the tint. */
  ib_canvas_set_show_original (f->canvas, TRUE);
  original = render (f, &stride);
  assert_rgb (original, stride, (int) x0 + 2, (int) y0 + 2, GREY, GREY, GREY);
  ib_canvas_set_show_original (f->canvas, FALSE);
  g_object_set (f->canvas, "show-mask", FALSE, NULL);
  hidden = render (f, &stride);
  assert_rgb (hidden, stride, (int) x0 + 2, (int) y0 + 2, GREY, GREY, GREY);
  g_object_set (f->canvas, "show-mask", TRUE, NULL);

  /* A preview over the masked region is shown as it is, without the tint. */
  {
    g_autofree guint8 *with_preview = NULL;
    IbEditImage *preview = ib_edit_image_new (150, 100, 50, 40);
    for (int y = 0; y < 40; y++)
      for (int x = 0; x < 50; x++)
        {
          guint8 *p = preview->pixels + y * preview->stride + x * 4;
          p[0] = 20;
          p[1] = 200;
          p[2] = 60;
          p[3] = 255;
        }
    ib_canvas_set_preview (f->canvas, preview);
    ib_edit_image_unref (preview);              /* the canvas keeps its own reference */
    with_preview = render (f, &stride);
    assert_rgb (with_preview, stride, (int) x0 + 2, (int) y0 + 2, 20, 200, 60);
    assert_rgb (with_preview, stride, (int) x1 - 2, (int) y1 - 2, 20, 200, 60);
    ib_canvas_set_preview (f->canvas, NULL);
  }

  /* The token grid tints the cells the job will redo (the mask's tint under it), not the others. */
  {
    g_autofree guint8 *grid = NULL;
    int wx, wy, side, n, n_known = 0, n_unknown = 0;
    const gboolean *unknown;

    ib_canvas_set_model_geometry (f->canvas, 64, 8);
    g_object_set (f->canvas, "show-token-grid", TRUE, NULL);
    g_assert_true (ib_canvas_get_token_grid (f->canvas, &wx, &wy, &side, &n, &unknown));
    grid = render (f, &stride);
    for (int i = 0; i < n * n; i++)
      {
        double cell = (double) side / n, cx = wx + (i % n + 0.5) * cell, cy = wy + (i / n + 0.5) * cell, x, y;
        gboolean masked = cx >= 150 && cx < 200 && cy >= 100 && cy < 140;

        ib_canvas_picture_to_widget (f->canvas, cx, cy, &x, &y);
        if (masked || x < 0 || y < 0 || x >= VIEW_W || y >= VIEW_H)
          continue;
        /* #3584e4 at 0.3 over grey. */
        if (unknown[i])
          assert_rgb (grid, stride, (int) x, (int) y, 105, 129, 158);
        else
          assert_rgb (grid, stride, (int) x, (int) y, GREY, GREY, GREY);
        n_known += !unknown[i];
        n_unknown += unknown[i];
      }
    g_assert_cmpint (n_known, >, 0);
    g_assert_cmpint (n_unknown, >, 0);
    g_object_set (f->canvas, "show-token-grid", FALSE, NULL);
  }

  /* A small dab re-makes only the tile it touched. */
  ib_canvas_zoom_fit (f->canvas);
  g_free (render (f, &stride));
  builds = ib_canvas_get_n_tile_builds (f->canvas);
  ib_mask_fill_rectangle (f->mask, 300, 300, 310, 310, IB_MASK_MODE_PAINT);
  g_free (render (f, &stride));
  g_assert_cmpuint (ib_canvas_get_n_tile_builds (f->canvas), ==, builds + 1);
}

/* A picture of 4 x 4 picture-pixel squares, red where (x / 4 + y / 4) is even, else blue. */
static GdkTexture *
checker_picture (void)
{
  gsize size = (gsize) PIC_W * PIC_H * 4;
  guint8 *rgba = g_malloc (size);

  for (int y = 0; y < PIC_H; y++)
    for (int x = 0; x < PIC_W; x++)
      {
        guint8 *p = rgba + ((gsize) y * PIC_W + x) * 4;
        gboolean red = (x / 4 + y / 4) % 2 == 0;
        p[0] = red ? 255 : 0;
        p[1] = 0;
        p[2] = red ? 0 : 255;
        p[3] = 255;
      }
  g_autoptr(GBytes) bytes = g_bytes_new_take (rgba, size);
  return gdk_memory_texture_new (PIC_W, PIC_H, GDK_MEMORY_R8G8B8A8, bytes, (gsize) PIC_W * 4);
}

/* The picture where the mapping puts it, drawn by cairo nodes (the cairo renderer's path) and by texture nodes
 * (the GPU renderers'): magnified, each picture pixel a square, crisp from zoom 2 on both paths (nearest
 * filtering: cairo's, or our own magnified texture, since GTK 4.8 filters texture nodes linearly); zoomed out
 * to a quarter, 4 x 4 squares fall on single view pixels of their colour (a pyramid level). */
static void
test_render_picture (Fixture       *f,
                     gconstpointer  data)
{
  g_autoptr(GdkTexture) picture = checker_picture ();
  gsize stride;

  ib_canvas_set_picture (f->canvas, picture);
  ib_canvas_set_texture_nodes_only (f->canvas, GPOINTER_TO_INT (data));
  ib_canvas_set_tool (f->canvas, IB_CANVAS_TOOL_RECTANGLE);

  set_view (f, 8, 800, 600);
  g_autofree guint8 *magnified = render (f, &stride);
  for (int px = 100; px < 140; px += 3)
    for (int quarter = 0; quarter < 2; quarter++)
      {
        double x, y;
        gboolean red = (px / 4 + 75 / 4) % 2 == 0;
        /* A quarter into the pixel's square from either side, nearest filtering gives its colour; linear would
         * give a quarter of the neighbour's. */
        ib_canvas_picture_to_widget (f->canvas, px + (quarter ? 0.75 : 0.25), 75.5, &x, &y);
        if (x >= 1 && x < VIEW_W - 1)
          assert_rgb (magnified, stride, (int) x, (int) y, red ? 255 : 0, 0, red ? 0 : 255);
      }

  set_view (f, 0.25, 0, 0);
  g_autofree guint8 *reduced = render (f, &stride);
  for (int px = 2; px < PIC_W; px += 40)
    for (int py = 2; py < PIC_H; py += 40)
      {
        double x, y;
        gboolean red = (px / 4 + py / 4) % 2 == 0;
        ib_canvas_picture_to_widget (f->canvas, (px / 4) * 4 + 2, (py / 4) * 4 + 2, &x, &y);
        /* Only where the square's view pixel holds nothing else. */
        if (fabs (x - floor (x) - 0.5) < 0.2 && fabs (y - floor (y) - 0.5) < 0.2)
          assert_rgb (reduced, stride, (int) x, (int) y, red ? 255 : 0, 0, red ? 0 : 255);
      }
}

/* The GPU path's magnified textures are kept while the view stays: a frame after a stroke re-makes only the
 * mask tile it changed, one that pans re-makes what shows, and the mask's edge is as crisp as the picture's. */
static void
test_magnify_cache (Fixture       *f,
                    gconstpointer  data)
{
  g_autoptr(GdkTexture) picture = checker_picture ();
  gsize stride;

  ib_canvas_set_picture (f->canvas, picture);
  ib_canvas_set_texture_nodes_only (f->canvas, TRUE);
  set_view (f, 4, 1000, 800);
  /* Two tiles of the mask show (x 250 to 350 at this scroll, the tile edge at 256). */
  ib_mask_fill_rectangle (f->mask, 240, 200, 300, 250, IB_MASK_MODE_PAINT);
  g_free (render (f, &stride));
  guint made = ib_canvas_get_n_magnified (f->canvas);
  g_assert_cmpuint (made, ==, 3);      /* the picture and two tiles */

  g_free (render (f, &stride));
  g_assert_cmpuint (ib_canvas_get_n_magnified (f->canvas), ==, made);

  ib_mask_fill_rectangle (f->mask, 280, 210, 290, 220, IB_MASK_MODE_ERASE);
  g_autofree guint8 *shown = render (f, &stride);
  g_assert_cmpuint (ib_canvas_get_n_magnified (f->canvas), ==, made + 1);
  /* The tint's edge at mask column 280: a quarter of a square on either side, each side's own colour. */
  double x_in, x_out, y;
  ib_canvas_picture_to_widget (f->canvas, 279.75, 215.5, &x_in, &y);
  ib_canvas_picture_to_widget (f->canvas, 280.25, 215.5, &x_out, &y);
  const guint8 *in = shown + (int) y * stride + (int) x_in * 4, *out = shown + (int) y * stride + (int) x_out * 4;
  const guint8 *inside = shown + (int) y * stride + (int) (x_in - 8) * 4;
  const guint8 *outside = shown + (int) y * stride + (int) (x_out + 8) * 4;
  for (int c = 0; c < 3; c++)
    {
      g_assert_cmpint (ABS (in[c] - inside[c]), <=, 3);
      g_assert_cmpint (ABS (out[c] - outside[c]), <=, 3);
    }
  g_assert_true (memcmp (in, out, 3) != 0);

  set_view (f, 4, 1004, 800);
  ib_mask_fill_rectangle (f->mask, 240, 200, 300, 250, IB_MASK_MODE_PAINT);
  made = ib_canvas_get_n_magnified (f->canvas);
  g_free (render (f, &stride));
  g_assert_cmpuint (ib_canvas_get_n_magnified (f->canvas), ==, made + 3);
}

/* The grid is the edit job's work window and token mask for the canvas's mask. */
static void
test_token_grid (Fixture       *f,
                 gconstpointer  data)
{
  int wx, wy, side, n, stride, n_unknown = 0;
  const gboolean *unknown;
  IbEditWindow window;
  IbBox box = { 300, 200, 41, 30 };
  g_autofree gboolean *expected = g_new (gboolean, 16 * 16);
  const guint8 *mask_data;

  g_assert_false (ib_canvas_get_token_grid (f->canvas, NULL, NULL, NULL, NULL, NULL));
  ib_canvas_set_model_geometry (f->canvas, 256, 16);
  g_assert_false (ib_canvas_get_token_grid (f->canvas, NULL, NULL, NULL, NULL, NULL));  /* empty mask */
  ib_mask_fill_rectangle (f->mask, 300, 200, 341, 230, IB_MASK_MODE_PAINT);
  g_assert_true (ib_canvas_get_token_grid (f->canvas, &wx, &wy, &side, &n, &unknown));

  ib_edit_window_choose (PIC_W, PIC_H, &box, 256, &window);
  g_assert_cmpint (wx, ==, window.x);
  g_assert_cmpint (wy, ==, window.y);
  g_assert_cmpint (side, ==, window.side);
  g_assert_cmpint (n, ==, 16);
  g_assert_cmpint (side, ==, 256);
  mask_data = ib_mask_get_data (f->mask, &stride);
  ib_edit_window_token_mask (&window, mask_data, PIC_W, PIC_H, stride, 16, 16, expected);
  for (int i = 0; i < 16 * 16; i++)
    {
      /* A cell is unknown exactly when the rectangle overlaps its 16 x 16 pixels. */
      int cx = wx + (i % 16) * 16, cy = wy + (i / 16) * 16;
      gboolean overlaps = cx < 341 && cx + 16 > 300 && cy < 230 && cy + 16 > 200;
      g_assert_cmpint (unknown[i], ==, expected[i]);
      g_assert_cmpint (unknown[i], ==, overlaps);
      n_unknown += unknown[i];
    }
  g_assert_cmpint (n_unknown, >, 0);

  /* It follows the mask. */
  ib_mask_clear (f->mask);
  g_assert_false (ib_canvas_get_token_grid (f->canvas, NULL, NULL, NULL, NULL, NULL));
}

/* In a GtkScrolledWindow the canvas scrolls by the window's adjustments. */
static void
test_scrolled_window (void)
{
  GtkWindow *window = GTK_WINDOW (gtk_window_new ());
  GtkWidget *scrolled = gtk_scrolled_window_new ();
  GtkWidget *canvas = ib_canvas_new ();
  g_autoptr(GdkTexture) picture = grey_picture (PIC_W, PIC_H);
  GtkAdjustment *h;

  gtk_window_set_decorated (window, FALSE);
  gtk_window_set_default_size (window, VIEW_W, VIEW_H);
  gtk_scrolled_window_set_policy (GTK_SCROLLED_WINDOW (scrolled), GTK_POLICY_EXTERNAL, GTK_POLICY_EXTERNAL);
  gtk_scrolled_window_set_child (GTK_SCROLLED_WINDOW (scrolled), canvas);
  gtk_window_set_child (window, scrolled);
  ib_canvas_set_picture (IB_CANVAS (canvas), picture);
  gtk_window_present (window);
  wait_for_size (canvas);

  h = gtk_scrolled_window_get_hadjustment (GTK_SCROLLED_WINDOW (scrolled));
  g_assert_true (gtk_scrollable_get_hadjustment (GTK_SCROLLABLE (canvas)) == h);
  ib_canvas_set_zoom (IB_CANVAS (canvas), 2.0);
  g_assert_cmpfloat (gtk_adjustment_get_upper (h), ==, PIC_W * 2.0);
  g_assert_cmpfloat (gtk_adjustment_get_page_size (h), ==, VIEW_W);
  gtk_adjustment_set_value (h, 500);
  {
    double px, py;
    ib_canvas_widget_to_picture (IB_CANVAS (canvas), 0, 0, &px, &py);
    g_assert_cmpfloat_with_epsilon (px, 250, 1e-9);
  }
  gtk_window_destroy (window);
}

int
main (int   argc,
      char *argv[])
{
  ib_studio_init ();
  gtk_test_init (&argc, &argv, NULL);

  g_test_add ("/app/canvas/stroke-zoom", Fixture, NULL, fixture_setup, test_stroke_zoom, fixture_teardown);
  g_test_add ("/app/canvas/stroke-pressure", Fixture, NULL, fixture_setup, test_stroke_pressure,
              fixture_teardown);
  g_test_add ("/app/canvas/rectangle-lasso", Fixture, NULL, fixture_setup, test_rectangle_lasso,
              fixture_teardown);
  g_test_add ("/app/canvas/stroke-change", Fixture, NULL, fixture_setup, test_stroke_change, fixture_teardown);
  g_test_add ("/app/canvas/zoom-at", Fixture, NULL, fixture_setup, test_zoom_at, fixture_teardown);
  g_test_add ("/app/canvas/actions", Fixture, NULL, fixture_setup, test_actions, fixture_teardown);
  g_test_add ("/app/canvas/render", Fixture, NULL, fixture_setup, test_render, fixture_teardown);
  g_test_add ("/app/canvas/magnify-cache", Fixture, NULL, fixture_setup, test_magnify_cache, fixture_teardown);
  g_test_add ("/app/canvas/render-textures", Fixture, GINT_TO_POINTER (TRUE), fixture_setup, test_render,
              fixture_teardown);
  g_test_add ("/app/canvas/render-picture", Fixture, NULL, fixture_setup, test_render_picture, fixture_teardown);
  g_test_add ("/app/canvas/render-picture-textures", Fixture, GINT_TO_POINTER (TRUE), fixture_setup,
              test_render_picture, fixture_teardown);
  g_test_add ("/app/canvas/token-grid", Fixture, NULL, fixture_setup, test_token_grid, fixture_teardown);
  g_test_add_func ("/app/canvas/scrolled-window", test_scrolled_window);
  return g_test_run ();
}
