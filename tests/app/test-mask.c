/* test-mask.c: IbMask's operations against naive per-pixel references, and its undoable changes. */
#include <math.h>
#include <string.h>

#include "ib-mask.h"
#include "ib-studio.h"

/* Everything a test saw through the mask's signals. */
typedef struct
{
  GPtrArray *changes;           /* IbMaskChange, committed */
  GArray *rects;                /* GdkRectangle, from "changed" */
} Recorder;

static void
changed_cb (IbMask   *mask,
            int       x,
            int       y,
            int       width,
            int       height,
            Recorder *rec)
{
  GdkRectangle r = { x, y, width, height };
  g_array_append_val (rec->rects, r);
}

static void
committed_cb (IbMask       *mask,
              IbMaskChange *change,
              Recorder     *rec)
{
  g_ptr_array_add (rec->changes, ib_mask_change_ref (change));
}

static void
recorder_attach (Recorder *rec,
                 IbMask   *mask)
{
  rec->changes = g_ptr_array_new_with_free_func ((GDestroyNotify) ib_mask_change_unref);
  rec->rects = g_array_new (FALSE, FALSE, sizeof (GdkRectangle));
  g_signal_connect (mask, "changed", G_CALLBACK (changed_cb), rec);
  g_signal_connect (mask, "change-committed", G_CALLBACK (committed_cb), rec);
}

static void
recorder_clear (Recorder *rec)
{
  g_clear_pointer (&rec->changes, g_ptr_array_unref);
  g_clear_pointer (&rec->rects, g_array_unref);
}

static guint8 *
snapshot (IbMask *mask)
{
  int stride, w = ib_mask_get_width (mask), h = ib_mask_get_height (mask);
  const guint8 *data = ib_mask_get_data (mask, &stride);
  guint8 *copy = g_malloc ((gsize) w * h);

  for (int y = 0; y < h; y++)
    memcpy (copy + (gsize) y * w, data + (gsize) y * stride, w);
  return copy;
}

/* The tight box of the pixels that differ between a and b (w x h); width 0 when none. */
static GdkRectangle
diff_box (const guint8 *a,
          const guint8 *b,
          int           w,
          int           h)
{
  int x0 = w, y0 = h, x1 = -1, y1 = -1;

  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      if (a[y * w + x] != b[y * w + x])
        {
          x0 = MIN (x0, x);
          y0 = MIN (y0, y);
          x1 = MAX (x1, x);
          y1 = MAX (y1, y);
        }
  if (x1 < 0)
    return (GdkRectangle) { 0, 0, 0, 0 };
  return (GdkRectangle) { x0, y0, x1 - x0 + 1, y1 - y0 + 1 };
}

static void
assert_mask_equals (IbMask       *mask,
                    const guint8 *expected)
{
  g_autofree guint8 *now = snapshot (mask);
  int w = ib_mask_get_width (mask), h = ib_mask_get_height (mask);

  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      if (now[y * w + x] != expected[y * w + x])
        g_error ("pixel (%d, %d): %d, expected %d", x, y, now[y * w + x], expected[y * w + x]);
}

static void
test_new (void)
{
  guint8 data[5 * 8] = { 0 };
  GdkRectangle b;
  g_autoptr(IbMask) empty = ib_mask_new (7, 4);
  g_autoptr(IbMask) mask = NULL;

  g_assert_true (ib_mask_is_empty (empty));
  g_assert_false (ib_mask_get_bounds (empty, &b));

  data[1 * 8 + 2] = 9;          /* stride 8 for a 5-wide mask: the padding must not be read */
  data[3 * 8 + 4] = 255;
  data[2 * 8 + 6] = 77;
  mask = ib_mask_new_from_data (5, 4, data, 8);
  g_assert_cmpint (ib_mask_get_width (mask), ==, 5);
  g_assert_cmpint (ib_mask_get_height (mask), ==, 4);
  g_assert_false (ib_mask_is_empty (mask));
  g_assert_true (ib_mask_get_bounds (mask, &b));
  g_assert_cmpint (b.x, ==, 2);
  g_assert_cmpint (b.y, ==, 1);
  g_assert_cmpint (b.width, ==, 3);
  g_assert_cmpint (b.height, ==, 3);
  g_assert_cmpint (ib_mask_get_value (mask, 2, 1), ==, 9);
  g_assert_cmpint (ib_mask_get_value (mask, 4, 3), ==, 255);
}

static void
test_falloff (void)
{
  g_assert_cmpfloat (ib_mask_dab_falloff (0, 10, 0), ==, 1.0);
  g_assert_cmpfloat (ib_mask_dab_falloff (10, 10, 0), ==, 0.0);
  g_assert_cmpfloat (ib_mask_dab_falloff (12, 10, 1), ==, 0.0);
  g_assert_cmpfloat (ib_mask_dab_falloff (9, 10, 1), ==, 1.0);     /* hard: one pixel of edge */
  g_assert_cmpfloat (ib_mask_dab_falloff (5, 10, 0.5), ==, 1.0);
  g_assert_cmpfloat (ib_mask_dab_falloff (7.5, 10, 0.5), ==, 0.5);
  for (double d = 0; d < 11; d += 0.25)
    g_assert_cmpfloat (ib_mask_dab_falloff (d, 10, 0.3), >=, ib_mask_dab_falloff (d + 0.25, 10, 0.3));
}

/* Every pixel of the mask against the falloff at its centre: the dab's box, clipping and pressure. */
static void
test_dab (void)
{
  const struct { double x, y, radius, hardness, pressure; gboolean psize, popacity; } cases[] = {
    { 20.3, 15.7, 6.0, 1.0, 1.0, FALSE, FALSE },
    { 2.0, 1.5, 9.5, 0.0, 1.0, FALSE, FALSE },    /* clipped at the top-left */
    { 38.9, 29.2, 4.2, 0.5, 0.5, TRUE, FALSE },   /* clipped at the bottom-right, half the radius */
    { 17.0, 12.0, 8.0, 0.7, 0.4, FALSE, TRUE },
    { 10.25, 20.75, 0.3, 1.0, 1.0, FALSE, FALSE }, /* below the smallest radius */
  };

  for (guint c = 0; c < G_N_ELEMENTS (cases); c++)
    {
      IbMaskBrush brush = { cases[c].radius, cases[c].hardness, 1.0, cases[c].psize, cases[c].popacity,
                            IB_MASK_MODE_PAINT };
      g_autoptr(IbMask) mask = ib_mask_new (40, 30);
      double r = cases[c].radius * (cases[c].psize ? cases[c].pressure : 1.0);
      double o = cases[c].popacity ? cases[c].pressure : 1.0;
      int n_full = 0;

      r = MAX (r, 0.5);
      ib_mask_dab (mask, &brush, cases[c].x, cases[c].y, cases[c].pressure);
      for (int y = 0; y < 30; y++)
        for (int x = 0; x < 40; x++)
          {
            double d = hypot (x + 0.5 - cases[c].x, y + 0.5 - cases[c].y);
            int expected = (int) lround (ib_mask_dab_falloff (d, r, cases[c].hardness) * o * 255);

            g_assert_cmpint (ib_mask_get_value (mask, x, y), ==, expected);
            if (d >= r)
              g_assert_cmpint (expected, ==, 0);
            n_full += expected == 255;
          }
      if (cases[c].hardness == 1.0 && r >= 4 && o == 1.0)
        g_assert_cmpint (n_full, >, 0);
    }

  /* Erasing lowers to 255 - dab, never raises. */
  {
    IbMaskBrush brush = { 5.0, 0.0, 1.0, FALSE, FALSE, IB_MASK_MODE_ERASE };
    g_autoptr(IbMask) mask = ib_mask_new (20, 20);

    ib_mask_fill_rectangle (mask, 0, 0, 10, 20, IB_MASK_MODE_PAINT);
    ib_mask_dab (mask, &brush, 10, 10, 1.0);
    for (int y = 0; y < 20; y++)
      for (int x = 0; x < 20; x++)
        {
          double d = hypot (x + 0.5 - 10, y + 0.5 - 10);
          int dabv = (int) lround (ib_mask_dab_falloff (d, 5.0, 0.0) * 255);
          g_assert_cmpint (ib_mask_get_value (mask, x, y), ==, x < 10 ? 255 - dabv : 0);
        }
  }
}

static double
distance_to_segment (double px,
                     double py,
                     double ax,
                     double ay,
                     double bx,
                     double by)
{
  double vx = bx - ax, vy = by - ay;
  double t = CLAMP (((px - ax) * vx + (py - ay) * vy) / (vx * vx + vy * vy), 0.0, 1.0);
  return hypot (px - (ax + t * vx), py - (ay + t * vy));
}

/* A fast stroke (few, far apart points) leaves no gap: everything near the path is fully painted. */
static void
test_stroke_continuity (void)
{
  const double pts[][2] = { { 5.5, 6.0 }, { 90.2, 40.7 }, { 91.0, 41.0 }, { 92.4, 41.3 }, { 20.0, 70.0 } };
  IbMaskBrush brush = { 8.0, 1.0, 1.0, FALSE, FALSE, IB_MASK_MODE_PAINT };
  g_autoptr(IbMask) mask = ib_mask_new (100, 80);
  IbMaskStroke stroke;
  Recorder rec;
  double spacing = ib_mask_stroke_spacing (8.0);

  recorder_attach (&rec, mask);
  ib_mask_begin_change (mask);
  ib_mask_stroke_begin (mask, &stroke, &brush, pts[0][0], pts[0][1], 1.0);
  for (guint i = 1; i < G_N_ELEMENTS (pts); i++)
    ib_mask_stroke_line_to (mask, &stroke, &brush, pts[i][0], pts[i][1], 1.0);
  ib_mask_stroke_end (mask, &stroke, &brush);
  ib_mask_end_change (mask);
  g_assert_cmpuint (rec.changes->len, ==, 1);

  for (int y = 0; y < 80; y++)
    for (int x = 0; x < 100; x++)
      {
        double d = G_MAXDOUBLE;
        for (guint i = 1; i < G_N_ELEMENTS (pts); i++)
          d = MIN (d, distance_to_segment (x + 0.5, y + 0.5, pts[i - 1][0], pts[i - 1][1], pts[i][0], pts[i][1]));
        /* Between two dabs the nearest is at most half the spacing along the path away. */
        if (hypot (d, spacing / 2) <= 8.0 - 1.0 && ib_mask_get_value (mask, x, y) != 255)
          g_error ("gap at (%d, %d): %d, %g from the path", x, y, ib_mask_get_value (mask, x, y), d);
        if (d >= 8.0)
          g_assert_cmpint (ib_mask_get_value (mask, x, y), ==, 0);
      }
  recorder_clear (&rec);
}

/* Pixels whose centres lie in the half-open rectangle. */
static void
test_rectangle (void)
{
  const double cases[][4] = {
    { 3.2, 4.7, 10.5, 9.5 }, { 10.5, 9.5, 3.2, 4.7 }, { -5, -5, 2.49, 2.51 }, { 15.6, 11.1, 40, 40 },
    { 7.0, 7.0, 7.0, 12.0 },
  };

  for (guint c = 0; c < G_N_ELEMENTS (cases); c++)
    {
      g_autoptr(IbMask) mask = ib_mask_new (20, 16);
      double x0 = MIN (cases[c][0], cases[c][2]), x1 = MAX (cases[c][0], cases[c][2]);
      double y0 = MIN (cases[c][1], cases[c][3]), y1 = MAX (cases[c][1], cases[c][3]);

      ib_mask_fill_rectangle (mask, cases[c][0], cases[c][1], cases[c][2], cases[c][3], IB_MASK_MODE_PAINT);
      for (int y = 0; y < 16; y++)
        for (int x = 0; x < 20; x++)
          {
            gboolean in = x + 0.5 >= x0 && x + 0.5 < x1 && y + 0.5 >= y0 && y + 0.5 < y1;
            g_assert_cmpint (ib_mask_get_value (mask, x, y), ==, in ? 255 : 0);
          }
      ib_mask_fill_rectangle (mask, 0, 0, 20, 8, IB_MASK_MODE_ERASE);
      for (int y = 0; y < 8; y++)
        for (int x = 0; x < 20; x++)
          g_assert_cmpint (ib_mask_get_value (mask, x, y), ==, 0);
    }
}

/* The winding number of the point: the directed crossings of the polygon's edges left of it on its row. */
static int
winding_at (const double *xy,
            int           n,
            double        px,
            double        py)
{
  int winding = 0;

  for (int i = 0; i < n; i++)
    {
      const double *a = xy + 2 * i, *b = xy + 2 * ((i + 1) % n);
      int dir = a[1] <= py && py < b[1] ? 1 : b[1] <= py && py < a[1] ? -1 : 0;

      if (dir != 0 && a[0] + (py - a[1]) * (b[0] - a[0]) / (b[1] - a[1]) <= px)
        winding += dir;
    }
  return winding;
}

static void
test_lasso (void)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (7);

  for (int c = 0; c < 12; c++)
    {
      int n = 3 + c % 9;
      g_autofree double *xy = g_new (double, 2 * n);
      IbMaskFillRule rule = c % 2 ? IB_MASK_FILL_NON_ZERO : IB_MASK_FILL_EVEN_ODD;
      g_autoptr(IbMask) mask = ib_mask_new (48, 37);
      int n_in = 0;

      /* Random, self-intersecting, partly outside the mask. */
      for (int i = 0; i < 2 * n; i++)
        xy[i] = g_rand_double_range (rand, -6, i % 2 ? 43 : 54);
      ib_mask_fill_polygon (mask, xy, n, rule, IB_MASK_MODE_PAINT);
      for (int y = 0; y < 37; y++)
        for (int x = 0; x < 48; x++)
          {
            int w = winding_at (xy, n, x + 0.5, y + 0.5);
            gboolean in = rule == IB_MASK_FILL_EVEN_ODD ? (w & 1) != 0 : w != 0;
            g_assert_cmpint (ib_mask_get_value (mask, x, y), ==, in ? 255 : 0);
            n_in += in;
          }
      if (n > 3)
        g_assert_cmpint (n_in, >, 0);
    }

  /* A pentagram: its centre is inside under non-zero, outside under even-odd. */
  {
    double star[10];
    g_autoptr(IbMask) eo = ib_mask_new (40, 40);
    g_autoptr(IbMask) nz = ib_mask_new (40, 40);

    for (int i = 0; i < 5; i++)
      {
        star[2 * i] = 20 + 18 * sin (i * 4 * G_PI / 5);
        star[2 * i + 1] = 20 - 18 * cos (i * 4 * G_PI / 5);
      }
    ib_mask_fill_polygon (eo, star, 5, IB_MASK_FILL_EVEN_ODD, IB_MASK_MODE_PAINT);
    ib_mask_fill_polygon (nz, star, 5, IB_MASK_FILL_NON_ZERO, IB_MASK_MODE_PAINT);
    g_assert_cmpint (ib_mask_get_value (eo, 20, 20), ==, 0);
    g_assert_cmpint (ib_mask_get_value (nz, 20, 20), ==, 255);
    g_assert_cmpint (ib_mask_get_value (eo, 20, 5), ==, 255);
  }
}

static IbMask *
random_blobs (int   width,
              int   height,
              guint seed)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (seed);
  IbMask *mask = ib_mask_new (width, height);

  for (int i = 0; i < 6; i++)
    {
      IbMaskBrush brush = { g_rand_double_range (rand, 1, 6), g_rand_double (rand), 1.0, FALSE, FALSE,
                            i == 5 ? IB_MASK_MODE_ERASE : IB_MASK_MODE_PAINT };
      ib_mask_dab (mask, &brush, g_rand_double_range (rand, 0, width), g_rand_double_range (rand, 0, height),
                   1.0);
    }
  /* A single pixel and one on the edge: the disc's shape shows. */
  ib_mask_fill_rectangle (mask, 20, 3, 21, 4, IB_MASK_MODE_PAINT);
  ib_mask_fill_rectangle (mask, 0, 10, 1, 11, IB_MASK_MODE_PAINT);
  return mask;
}

static void
test_invert (void)
{
  g_autoptr(IbMask) mask = random_blobs (33, 21, 3);
  g_autofree guint8 *before = snapshot (mask);

  ib_mask_invert (mask);
  for (int y = 0; y < 21; y++)
    for (int x = 0; x < 33; x++)
      g_assert_cmpint (ib_mask_get_value (mask, x, y), ==, 255 - before[y * 33 + x]);
  ib_mask_invert (mask);
  assert_mask_equals (mask, before);

  ib_mask_fill (mask);
  g_assert_cmpint (ib_mask_get_value (mask, 32, 20), ==, 255);
  ib_mask_clear (mask);
  g_assert_true (ib_mask_is_empty (mask));
}

/* Grow and shrink against the max/min over the Euclidean disc, the outside not counting. The taller mask's
 * rows go in bands to several threads (64 rows a band at least): the discs cross the bands' edges. */
static void
test_grow_shrink (void)
{
  static const int sizes[][2] = { { 37, 29 }, { 41, 203 } };

  for (guint size = 0; size < G_N_ELEMENTS (sizes); size++)
  for (int radius = 1; radius <= 9; radius += size == 0 ? 2 : 4)
    for (int shrink = 0; shrink < 2; shrink++)
      {
        const int w = sizes[size][0], h = sizes[size][1];
        g_autoptr(IbMask) mask = random_blobs (w, h, 11 + radius);
        ib_mask_fill_rectangle (mask, 5, h - 2, 6, h - 1, IB_MASK_MODE_PAINT);   /* bounds of every row */
        /* Near the middle, where two bands meet: a lone pixel, and a block with a hole. */
        ib_mask_fill_rectangle (mask, 20, h / 2 + 2, 21, h / 2 + 3, IB_MASK_MODE_PAINT);
        ib_mask_fill_rectangle (mask, 25, h / 2 - 12, 36, h / 2 + 12, IB_MASK_MODE_PAINT);
        ib_mask_fill_rectangle (mask, 30, h / 2 + 2, 31, h / 2 + 3, IB_MASK_MODE_ERASE);
        g_autofree guint8 *src = snapshot (mask);

        if (shrink)
          ib_mask_shrink (mask, radius);
        else
          ib_mask_grow (mask, radius);
        for (int y = 0; y < h; y++)
          for (int x = 0; x < w; x++)
            {
              int expected = shrink ? 255 : 0;
              for (int dy = -radius; dy <= radius; dy++)
                for (int dx = -radius; dx <= radius; dx++)
                  {
                    int sx = x + dx, sy = y + dy;
                    if (dx * dx + dy * dy > radius * radius || sx < 0 || sy < 0 || sx >= w || sy >= h)
                      continue;
                    expected = shrink ? MIN (expected, src[sy * w + sx]) : MAX (expected, src[sy * w + sx]);
                  }
              g_assert_cmpint (ib_mask_get_value (mask, x, y), ==, expected);
            }
      }

  /* Closing a convex shape by a disc gives it back; a full mask does not shrink from the picture's edge. */
  {
    g_autoptr(IbMask) mask = ib_mask_new (50, 40);
    g_autofree guint8 *before = NULL;

    ib_mask_fill_rectangle (mask, 12, 9, 31, 27, IB_MASK_MODE_PAINT);
    before = snapshot (mask);
    ib_mask_grow (mask, 5);
    g_assert_cmpint (ib_mask_get_value (mask, 12 - 5, 9), ==, 255);
    g_assert_cmpint (ib_mask_get_value (mask, 12 - 6, 9), ==, 0);
    g_assert_cmpint (ib_mask_get_value (mask, 12 - 3, 9 - 4), ==, 255);
    g_assert_cmpint (ib_mask_get_value (mask, 12 - 4, 9 - 4), ==, 0);    /* a disc, not a box */
    ib_mask_shrink (mask, 5);
    assert_mask_equals (mask, before);

    ib_mask_fill (mask);
    ib_mask_shrink (mask, 3);
    g_assert_cmpint (ib_mask_get_value (mask, 0, 0), ==, 255);
    g_assert_cmpint (ib_mask_get_value (mask, 49, 39), ==, 255);
  }
}

/* Every operation in a few changes; undo walks back through each snapshot bit for bit, redo forward. */
static void
test_undo_redo (void)
{
  const int w = 150, h = 131;   /* tiles of 64 that do not divide the size */
  g_autoptr(IbMask) mask = ib_mask_new (w, h);
  g_autoptr(GPtrArray) states = g_ptr_array_new_with_free_func (g_free);
  IbMaskBrush brush = { 12.0, 0.4, 1.0, TRUE, FALSE, IB_MASK_MODE_PAINT };
  const double lasso[] = { 10, 10, 140, 30, 20, 120 };
  IbMaskStroke stroke;
  Recorder rec;

  recorder_attach (&rec, mask);
  g_ptr_array_add (states, snapshot (mask));
  for (int step = 0; step < 8; step++)
    {
      guint n_rects = rec.rects->len;
      g_autofree guint8 *before = snapshot (mask);
      g_autofree guint8 *after = NULL;
      GdkRectangle expected, got;

      ib_mask_begin_change (mask);
      switch (step)
        {
        case 0:
          ib_mask_stroke_begin (mask, &stroke, &brush, 5, 5, 0.3);
          ib_mask_stroke_line_to (mask, &stroke, &brush, 140, 70, 1.0);
          ib_mask_stroke_line_to (mask, &stroke, &brush, 60, 125, 0.6);
          break;
        case 1:
          ib_mask_fill_rectangle (mask, 100, 100, 149.5, 130.5, IB_MASK_MODE_PAINT);
          break;
        case 2:
          ib_mask_fill_polygon (mask, lasso, 3, IB_MASK_FILL_EVEN_ODD, IB_MASK_MODE_ERASE);
          break;
        case 3:
          ib_mask_grow (mask, 4);
          break;
        case 4:
          ib_mask_invert (mask);
          break;
        case 5:
          ib_mask_shrink (mask, 7);
          break;
        case 6:
          brush.mode = IB_MASK_MODE_ERASE;
          ib_mask_dab (mask, &brush, 70, 66, 1.0);
          ib_mask_dab (mask, &brush, 75, 61, 1.0);
          break;
        default:
          ib_mask_clear (mask);
          break;
        }
      ib_mask_end_change (mask);

      /* One change per begin/end, and its rectangle is exactly the pixels that differ. */
      after = snapshot (mask);
      expected = diff_box (before, after, w, h);
      g_assert_cmpint (expected.width, >, 0);
      g_assert_cmpuint (rec.changes->len, ==, step + 1);
      ib_mask_change_get_rectangle (g_ptr_array_index (rec.changes, step), &got);
      g_assert_true (gdk_rectangle_equal (&got, &expected));
      g_assert_cmpuint (ib_mask_change_get_size (g_ptr_array_index (rec.changes, step)), >, 0);
      /* The redraw rectangles cover the change and each is tight to its own operation, so within it. */
      g_assert_cmpuint (rec.rects->len, >, n_rects);
      for (guint i = n_rects; i < rec.rects->len; i++)
        {
          GdkRectangle *r = &g_array_index (rec.rects, GdkRectangle, i), u;
          g_assert_true (gdk_rectangle_intersect (r, &(GdkRectangle) { 0, 0, w, h }, &u));
          g_assert_true (gdk_rectangle_equal (&u, r));
        }
      g_ptr_array_add (states, g_steal_pointer (&after));
    }

  for (int i = (int) rec.changes->len - 1; i >= 0; i--)
    {
      ib_mask_change_undo (g_ptr_array_index (rec.changes, i), mask);
      assert_mask_equals (mask, g_ptr_array_index (states, i));
    }
  for (guint i = 0; i < rec.changes->len; i++)
    {
      ib_mask_change_redo (g_ptr_array_index (rec.changes, i), mask);
      assert_mask_equals (mask, g_ptr_array_index (states, i + 1));
    }
  g_assert_cmpuint (rec.changes->len, ==, 8);     /* undo and redo commit nothing */
  recorder_clear (&rec);
}

/* A single operation reports exactly the pixels it changed; one that changes nothing reports nothing. */
static void
test_tight_rects (void)
{
  g_autoptr(IbMask) mask = ib_mask_new (64, 64);
  IbMaskBrush brush = { 6.0, 1.0, 1.0, FALSE, FALSE, IB_MASK_MODE_PAINT };
  g_autofree guint8 *s0 = NULL, *s1 = NULL, *s2 = NULL;
  GdkRectangle expected, got;
  Recorder rec;

  recorder_attach (&rec, mask);
  s0 = snapshot (mask);
  ib_mask_dab (mask, &brush, 30, 30, 1.0);
  s1 = snapshot (mask);
  g_assert_cmpuint (rec.rects->len, ==, 1);
  g_assert_cmpuint (rec.changes->len, ==, 1);     /* outside begin/end: a change of its own */
  expected = diff_box (s0, s1, 64, 64);
  g_assert_true (gdk_rectangle_equal (&g_array_index (rec.rects, GdkRectangle, 0), &expected));
  ib_mask_change_get_rectangle (g_ptr_array_index (rec.changes, 0), &got);
  g_assert_true (gdk_rectangle_equal (&got, &expected));

  /* The same dab again changes nothing: no redraw, no change. */
  ib_mask_dab (mask, &brush, 30, 30, 1.0);
  g_assert_cmpuint (rec.rects->len, ==, 1);
  g_assert_cmpuint (rec.changes->len, ==, 1);

  /* Nested begin/end is one change; painting and erasing the same pixels within it is none. */
  ib_mask_begin_change (mask);
  ib_mask_begin_change (mask);
  ib_mask_fill_rectangle (mask, 50, 50, 60, 60, IB_MASK_MODE_PAINT);
  ib_mask_end_change (mask);
  ib_mask_fill_rectangle (mask, 50, 50, 60, 60, IB_MASK_MODE_ERASE);
  ib_mask_end_change (mask);
  g_assert_cmpuint (rec.changes->len, ==, 1);

  /* A grow of the dab: the change is the ring around it. */
  ib_mask_grow (mask, 2);
  s2 = snapshot (mask);
  expected = diff_box (s1, s2, 64, 64);
  g_assert_cmpuint (rec.changes->len, ==, 2);
  ib_mask_change_get_rectangle (g_ptr_array_index (rec.changes, 1), &got);
  g_assert_true (gdk_rectangle_equal (&got, &expected));
  recorder_clear (&rec);
}

/* Stored pixels in and out: set_pixels is an edit with a tight change; a change made from bytes writes them
 * exactly; a change's before and after are the rectangle's pixels. */
static void
test_pixels_and_stored_changes (void)
{
  const int w = 70, h = 50;
  g_autoptr(IbMask) mask = random_blobs (w, h, 5);
  g_autofree guint8 *start = snapshot (mask);
  g_autofree guint8 *values = g_malloc (20 * 13);
  g_autofree guint8 *zeros = g_malloc0 (20 * 13);
  GdkRectangle rect = { 45, 30, 17, 11 }, got;
  g_autoptr(IbMaskChange) stored = NULL;
  IbMaskChange *change;
  Recorder rec;

  /* Rows of 20 bytes for a 17-wide rectangle: the stride is honoured. */
  for (int i = 0; i < 20 * 13; i++)
    values[i] = (guint8) (i * 37 + 11);
  values[0] = start[30 * w + 45];      /* unchanged corner: the change's rectangle shrinks */
  recorder_attach (&rec, mask);
  ib_mask_set_pixels (mask, &rect, values, 20);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        gboolean in = x >= 45 && x < 62 && y >= 30 && y < 41;
        int expected = in ? values[(y - 30) * 20 + (x - 45)] : start[y * w + x];
        g_assert_cmpint (ib_mask_get_value (mask, x, y), ==, expected);
      }
  g_assert_cmpuint (rec.changes->len, ==, 1);
  change = g_ptr_array_index (rec.changes, 0);
  {
    g_autofree guint8 *now = snapshot (mask);
    GdkRectangle expected = diff_box (start, now, w, h);
    ib_mask_change_get_rectangle (change, &got);
    g_assert_true (gdk_rectangle_equal (&got, &expected));
    g_autofree guint8 *was = ib_mask_change_dup_before (change);
    g_autofree guint8 *is = ib_mask_change_dup_after (change);
    for (int y = 0; y < got.height; y++)
      for (int x = 0; x < got.width; x++)
        {
          g_assert_cmpint (was[y * got.width + x], ==, start[(got.y + y) * w + got.x + x]);
          g_assert_cmpint (is[y * got.width + x], ==, now[(got.y + y) * w + got.x + x]);
        }
  }

  /* From bytes: redo writes zeros, undo writes the values back; neither commits. */
  rect = (GdkRectangle) { 3, 4, 20, 13 };
  stored = ib_mask_change_new (w, h, &rect, values, zeros);
  ib_mask_change_redo (stored, mask);
  for (int y = 4; y < 17; y++)
    for (int x = 3; x < 23; x++)
      g_assert_cmpint (ib_mask_get_value (mask, x, y), ==, 0);
  ib_mask_change_undo (stored, mask);
  for (int y = 4; y < 17; y++)
    for (int x = 3; x < 23; x++)
      g_assert_cmpint (ib_mask_get_value (mask, x, y), ==, values[(y - 4) * 20 + x - 3]);
  g_assert_cmpuint (rec.changes->len, ==, 1);
  recorder_clear (&rec);
}

/* A change's pixels are kept packed (runs and literals, one stream over the rows): every run length around the
 * packing's limits, runs across row ends, long literals, and rectangles one pixel wide come back exactly, by
 * dup and by undo/redo into a mask. */
static void
test_packed_changes (void)
{
  const int w = 300, h = 200;
  const GdkRectangle rects[] = { { 7, 5, 263, 181 }, { 0, 0, 1, 200 }, { 299, 3, 1, 1 }, { 0, 0, 300, 200 } };
  g_autoptr (GRand) rand = g_rand_new_with_seed (11);

  for (guint r = 0; r < G_N_ELEMENTS (rects); r++)
    {
      const GdkRectangle *rect = &rects[r];
      gsize n = (gsize) rect->width * rect->height;
      g_autofree guint8 *before = g_malloc (n), *after = g_malloc (n);
      static const gsize runs[] = { 1, 2, 3, 4, 128, 129, 130, 131, 127 + 3, 16384, 40000 };

      /* before: runs of the listed lengths, each of a new value; after: mostly noise (literals). */
      for (gsize i = 0, k = 0; i < n; k++)
        {
          gsize run = MIN (runs[k % G_N_ELEMENTS (runs)], n - i);
          memset (before + i, (int) (k * 53 % 256), run);
          i += run;
        }
      for (gsize i = 0; i < n; i++)
        after[i] = g_rand_int_range (rand, 0, 5) == 0 ? 0 : (guint8) g_rand_int (rand);

      g_autoptr (IbMaskChange) change = ib_mask_change_new (w, h, rect, before, after);
      g_autofree guint8 *was = ib_mask_change_dup_before (change);
      g_autofree guint8 *is = ib_mask_change_dup_after (change);
      g_assert_cmpmem (was, n, before, n);
      g_assert_cmpmem (is, n, after, n);
      if (n > 1000)
        g_assert_cmpuint (ib_mask_change_get_size (change), <, n + n);   /* the runs pack */

      /* Into a mask whose rows are longer than its width, with a border that must stay. */
      gsize stride = w + 13;
      guint8 *data = g_malloc ((gsize) stride * h);
      memset (data, 77, (gsize) stride * h);
      g_autoptr (IbMask) mask = ib_mask_new_from_data (w, h, data, stride);
      g_free (data);
      ib_mask_change_redo (change, mask);
      for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
          {
            gboolean in = x >= rect->x && x < rect->x + rect->width && y >= rect->y && y < rect->y + rect->height;
            int expected = in ? after[(gsize) (y - rect->y) * rect->width + (x - rect->x)] : 77;
            g_assert_cmpint (ib_mask_get_value (mask, x, y), ==, expected);
          }
      ib_mask_change_undo (change, mask);
      for (int y = rect->y; y < rect->y + rect->height; y++)
        for (int x = rect->x; x < rect->x + rect->width; x++)
          g_assert_cmpint (ib_mask_get_value (mask, x, y), ==, before[(gsize) (y - rect->y) * rect->width + (x - rect->x)]);
    }
}

int
main (int   argc,
      char *argv[])
{
  ib_studio_init ();
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/app/mask/new", test_new);
  g_test_add_func ("/app/mask/falloff", test_falloff);
  g_test_add_func ("/app/mask/dab", test_dab);
  g_test_add_func ("/app/mask/stroke-continuity", test_stroke_continuity);
  g_test_add_func ("/app/mask/rectangle", test_rectangle);
  g_test_add_func ("/app/mask/lasso", test_lasso);
  g_test_add_func ("/app/mask/invert", test_invert);
  g_test_add_func ("/app/mask/grow-shrink", test_grow_shrink);
  g_test_add_func ("/app/mask/undo-redo", test_undo_redo);
  g_test_add_func ("/app/mask/tight-rects", test_tight_rects);
  g_test_add_func ("/app/mask/stored-changes", test_pixels_and_stored_changes);
  g_test_add_func ("/app/mask/packed-changes", test_packed_changes);
  return g_test_run ();
}
