/* ib-mask-paint.c: the mask's painting operations: brush dabs and strokes, rectangles, lassos, grow/shrink. */
#include "ib-mask-private.h"

#include <math.h>
#include <string.h>

#define MIN_RADIUS 0.5
#define MAX_GROW 1024

double
ib_mask_dab_falloff (double d,
                     double radius,
                     double hardness)
{
  /* A hard brush still fades over one pixel, so that its edge is anti-aliased. */
  double fade = MIN (radius, MAX ((1.0 - CLAMP (hardness, 0.0, 1.0)) * radius, 1.0));
  double t = CLAMP ((radius - d) / fade, 0.0, 1.0);

  return t * t * (3.0 - 2.0 * t);
}

void
ib_mask_brush_at_pressure (const IbMaskBrush *brush,
                           double             pressure,
                           double            *radius,
                           double            *opacity)
{
  pressure = CLAMP (pressure, 0.0, 1.0);
  *radius = MAX (MIN_RADIUS, brush->radius * (brush->pressure_size ? pressure : 1.0));
  *opacity = CLAMP (brush->opacity, 0.0, 1.0) * (brush->pressure_opacity ? pressure : 1.0);
}

/* One dab, inside an operation that the caller opened. */
static void
dab (IbMask            *self,
     const IbMaskBrush *brush,
     double             cx,
     double             cy,
     double             pressure,
     IbDirty           *dirty)
{
  double radius, opacity, core;
  int x0, y0, x1, y1, full;
  guint8 saturated;

  ib_mask_brush_at_pressure (brush, pressure, &radius, &opacity);
  if (opacity <= 0.0 || !isfinite (cx) || !isfinite (cy))
    return;
  x0 = MAX (0, (int) floor (cx - radius));
  y0 = MAX (0, (int) floor (cy - radius));
  x1 = MIN (self->width, (int) ceil (cx + radius) + 1);
  y1 = MIN (self->height, (int) ceil (cy + radius) + 1);
  if (x0 >= x1 || y0 >= y1)
    return;
  ib_mask_touch (self, x0, y0, x1, y1);

  /* Strokes overlap their dabs by three quarters: most pixels are already done, or outside the disc, or
   * inside its solid core, and skip the falloff. */
  saturated = brush->mode == IB_MASK_MODE_PAINT ? 255 : 0;
  core = radius - MIN (radius, MAX ((1.0 - CLAMP (brush->hardness, 0.0, 1.0)) * radius, 1.0));
  full = (int) lround (opacity * 255.0);
  for (int y = y0; y < y1; y++)
    {
      guint8 *row = self->data + (gsize) y * self->stride;
      double dy = y + 0.5 - cy;
      int first = -1, last = -1;

      for (int x = x0; x < x1; x++)
        {
          double dx = x + 0.5 - cx, d2 = dx * dx + dy * dy;
          int v, nv;

          if (row[x] == saturated || d2 >= radius * radius)
            continue;
          v = d2 <= core * core ? full
                                : (int) lround (ib_mask_dab_falloff (sqrt (d2), radius, brush->hardness) * opacity * 255.0);
          nv = brush->mode == IB_MASK_MODE_PAINT ? MAX (row[x], v) : MIN (row[x], 255 - v);

          if (nv == row[x])
            continue;
          row[x] = nv;
          if (first < 0)
            first = x;
          last = x;
        }
      if (first >= 0)
        ib_mask_dirty_row (dirty, y, first, last);
    }
}

void
ib_mask_dab (IbMask            *self,
             const IbMaskBrush *brush,
             double             x,
             double             y,
             double             pressure)
{
  gboolean own;
  IbDirty dirty = IB_DIRTY_INIT;

  g_return_if_fail (IB_IS_MASK (self));
  g_return_if_fail (brush != NULL);

  own = ib_mask_op_begin (self);
  dab (self, brush, x, y, pressure, &dirty);
  ib_mask_op_end (self, own, &dirty);
}

double
ib_mask_stroke_spacing (double radius)
{
  return MAX (0.5, radius / 4.0);
}

void
ib_mask_stroke_begin (IbMask            *self,
                      IbMaskStroke      *stroke,
                      const IbMaskBrush *brush,
                      double             x,
                      double             y,
                      double             pressure)
{
  double radius, opacity;

  g_return_if_fail (IB_IS_MASK (self));
  g_return_if_fail (stroke != NULL && brush != NULL);

  ib_mask_brush_at_pressure (brush, pressure, &radius, &opacity);
  *stroke = (IbMaskStroke) { x, y, pressure, ib_mask_stroke_spacing (radius), ib_mask_stroke_spacing (radius) };
  ib_mask_dab (self, brush, x, y, pressure);
}

void
ib_mask_stroke_line_to (IbMask            *self,
                        IbMaskStroke      *stroke,
                        const IbMaskBrush *brush,
                        double             x,
                        double             y,
                        double             pressure)
{
  double length = hypot (x - stroke->x, y - stroke->y);
  double r0, r1, opacity, spacing, at;
  gboolean own;
  IbDirty dirty = IB_DIRTY_INIT;

  g_return_if_fail (IB_IS_MASK (self));
  g_return_if_fail (stroke != NULL && brush != NULL);

  if (!isfinite (length))
    return;
  /* The smaller radius along the segment sets the spacing, so that no gap opens where pressure drops. */
  ib_mask_brush_at_pressure (brush, stroke->pressure, &r0, &opacity);
  ib_mask_brush_at_pressure (brush, pressure, &r1, &opacity);
  spacing = ib_mask_stroke_spacing (MIN (r0, r1));

  own = ib_mask_op_begin (self);
  for (at = MIN (stroke->to_next, spacing); at <= length; at += spacing)
    {
      double t = at / length;
      dab (self, brush, stroke->x + t * (x - stroke->x), stroke->y + t * (y - stroke->y),
           stroke->pressure + t * (pressure - stroke->pressure), &dirty);
    }
  ib_mask_op_end (self, own, &dirty);

  stroke->to_next = at - length;
  stroke->spacing = spacing;
  stroke->x = x;
  stroke->y = y;
  stroke->pressure = pressure;
}

void
ib_mask_stroke_end (IbMask            *self,
                    IbMaskStroke      *stroke,
                    const IbMaskBrush *brush)
{
  g_return_if_fail (IB_IS_MASK (self));
  g_return_if_fail (stroke != NULL && brush != NULL);

  /* to_next == spacing: the last dab is at the last point. */
  if (stroke->to_next < stroke->spacing - 1e-9)
    ib_mask_dab (self, brush, stroke->x, stroke->y, stroke->pressure);
  stroke->to_next = stroke->spacing;
}

/* Sets the pixels [x0, x1) of row y (clipped by the caller) to the mode's value. */
static void
set_span (IbMask     *self,
          int         y,
          int         x0,
          int         x1,
          IbMaskMode  mode,
          IbDirty    *dirty)
{
  guint8 *row = self->data + (gsize) y * self->stride;
  guint8 value = mode == IB_MASK_MODE_PAINT ? 255 : 0;
  int first = -1, last = -1;

  for (int x = x0; x < x1; x++)
    if (row[x] != value)
      {
        row[x] = value;
        if (first < 0)
          first = x;
        last = x;
      }
  if (first >= 0)
    ib_mask_dirty_row (dirty, y, first, last);
}

/* The first pixel whose centre is at or past the coordinate v, clamped to [0, n]. */
static int
first_centre (double v,
              int    n)
{
  double c = ceil (v - 0.5);
  return (int) CLAMP (c, 0.0, (double) n);
}

void
ib_mask_fill_rectangle (IbMask     *self,
                        double      x0,
                        double      y0,
                        double      x1,
                        double      y1,
                        IbMaskMode  mode)
{
  int px0, py0, px1, py1;
  gboolean own;
  IbDirty dirty = IB_DIRTY_INIT;

  g_return_if_fail (IB_IS_MASK (self));
  if (!isfinite (x0) || !isfinite (y0) || !isfinite (x1) || !isfinite (y1))
    return;

  px0 = first_centre (MIN (x0, x1), self->width);
  px1 = first_centre (MAX (x0, x1), self->width);
  py0 = first_centre (MIN (y0, y1), self->height);
  py1 = first_centre (MAX (y0, y1), self->height);

  own = ib_mask_op_begin (self);
  ib_mask_touch (self, px0, py0, px1, py1);
  for (int y = py0; y < py1; y++)
    set_span (self, y, px0, px1, mode, &dirty);
  ib_mask_op_end (self, own, &dirty);
}

typedef struct
{
  double x;
  int dir;
} Crossing;

static int
compare_crossings (const void *a,
                   const void *b)
{
  double xa = ((const Crossing *) a)->x, xb = ((const Crossing *) b)->x;
  return (xa > xb) - (xa < xb);
}

void
ib_mask_fill_polygon (IbMask         *self,
                      const double   *xy,
                      int             n_points,
                      IbMaskFillRule  rule,
                      IbMaskMode      mode)
{
  double ymin = G_MAXDOUBLE, ymax = -G_MAXDOUBLE, xmin = G_MAXDOUBLE, xmax = -G_MAXDOUBLE;
  g_autofree Crossing *crossings = NULL;
  int py0, py1;
  gboolean own;
  IbDirty dirty = IB_DIRTY_INIT;

  g_return_if_fail (IB_IS_MASK (self));
  g_return_if_fail (n_points == 0 || xy != NULL);

  if (n_points < 3)
    return;
  for (int i = 0; i < n_points; i++)
    {
      if (!isfinite (xy[2 * i]) || !isfinite (xy[2 * i + 1]))
        return;
      xmin = MIN (xmin, xy[2 * i]);
      xmax = MAX (xmax, xy[2 * i]);
      ymin = MIN (ymin, xy[2 * i + 1]);
      ymax = MAX (ymax, xy[2 * i + 1]);
    }
  py0 = first_centre (ymin, self->height);
  py1 = first_centre (ymax, self->height);
  crossings = g_new (Crossing, n_points);

  own = ib_mask_op_begin (self);
  ib_mask_touch (self, first_centre (xmin, self->width), py0, first_centre (xmax, self->width), py1);
  /* Scanlines through the pixel centres; an edge covers the half-open span [lower y, upper y) so that a
   * vertex shared by two edges is counted once. */
  for (int y = py0; y < py1; y++)
    {
      double yc = y + 0.5;
      int n = 0, winding = 0;

      for (int i = 0; i < n_points; i++)
        {
          const double *a = xy + 2 * i, *b = xy + 2 * ((i + 1) % n_points);
          int dir = a[1] <= yc && yc < b[1] ? 1 : b[1] <= yc && yc < a[1] ? -1 : 0;

          if (dir != 0)
            crossings[n++] = (Crossing) { a[0] + (yc - a[1]) * (b[0] - a[0]) / (b[1] - a[1]), dir };
        }
      qsort (crossings, n, sizeof *crossings, compare_crossings);
      for (int i = 0; i + 1 < n; i++)
        {
          gboolean inside;

          winding += crossings[i].dir;
          inside = rule == IB_MASK_FILL_EVEN_ODD ? (winding & 1) != 0 : winding != 0;
          if (inside)
            set_span (self, y, first_centre (crossings[i].x, self->width),
                      first_centre (crossings[i + 1].x, self->width), mode, &dirty);
        }
    }
  ib_mask_op_end (self, own, &dirty);
}

/* out[i] = max (in[i .. i + 2w]) for i < n, in holding n + 2w values (van Herk / Gil-Werman: three
 * comparisons a value whatever w is). g and h are scratch of n + 2w values. */
static void
sliding_max (const guint8 *in,
             int           n,
             int           w,
             guint8       *g,
             guint8       *h,
             guint8       *out)
{
  int k = 2 * w + 1, len = n + 2 * w;

  for (int start = 0; start < len; start += k)
    {
      int end = MIN (start + k, len);
      g[start] = in[start];
      for (int i = start + 1; i < end; i++)
        g[i] = MAX (g[i - 1], in[i]);
      h[end - 1] = in[end - 1];
      for (int i = end - 2; i >= start; i--)
        h[i] = MAX (h[i + 1], in[i]);
    }
  for (int i = 0; i < n; i++)
    out[i] = MAX (h[i], g[i + 2 * w]);
}

/* The disc's half width on row dy: the largest w with w^2 + dy^2 <= radius^2. */
static int
disc_half_width (int radius,
                 int dy)
{
  int w = (int) floor (sqrt ((double) radius * radius - (double) dy * dy));

  while ((w + 1) * (w + 1) + dy * dy <= radius * radius)
    w++;
  while (w > 0 && w * w + dy * dy > radius * radius)
    w--;
  return w;
}

/* A band of output rows [y0, y1) of a dilation over columns [x0, x1): what one thread computes. */
typedef struct
{
  IbMask *mask;
  int radius;
  gboolean erode;
  const int *half;              /* the disc's half width on each row dy = 0..radius */
  int x0, x1, y0, y1;
  guint8 *out;                  /* the band's rows of the result, x1 - x0 each */
} Band;

/* The disc is a stack of rows of half width w(dy) = w(-dy): each source row's sliding maximum for each
 * distinct w is computed once and serves the two output rows above and below it (those in the band). */
static gpointer
dilate_band (gpointer data)
{
  Band *band = data;
  IbMask *self = band->mask;
  int radius = band->radius, n = band->x1 - band->x0, pad_n = n + 2 * radius;
  g_autofree guint8 *line = g_malloc (pad_n);
  g_autofree guint8 *g = g_malloc (pad_n);
  g_autofree guint8 *h = g_malloc (pad_n);
  g_autofree guint8 *row_max = g_malloc (n);

  for (int sy = MAX (0, band->y0 - radius); sy < MIN (self->height, band->y1 + radius); sy++)
    {
      const guint8 *src = self->data + (gsize) sy * self->stride;
      gboolean any = FALSE;

      /* The row padded by the radius on each side, outside the picture the value that never wins. */
      for (int i = 0; i < pad_n; i++)
        {
          int sx = band->x0 - radius + i;
          guint8 v = sx >= 0 && sx < self->width ? src[sx] : (band->erode ? 255 : 0);
          line[i] = band->erode ? 255 - v : v;
          any |= line[i] != 0;
        }
      if (!any)
        continue;               /* all zero: wins nowhere */
      for (int dy = 0; dy <= radius; dy++)
        {
          int w = band->half[dy];
          int targets[2] = { sy - dy, sy + dy };

          if ((targets[0] < band->y0 || targets[0] >= band->y1) && (targets[1] < band->y0 || targets[1] >= band->y1))
            continue;
          sliding_max (line + radius - w, n, w, g, h, row_max);
          for (int t = 0; t < (dy == 0 ? 1 : 2); t++)
            {
              guint8 *dst;
              if (targets[t] < band->y0 || targets[t] >= band->y1)
                continue;
              dst = band->out + (gsize) (targets[t] - band->y0) * n;
              for (int i = 0; i < n; i++)
                dst[i] = MAX (dst[i], row_max[i]);
            }
        }
    }
  return NULL;
}

/* Dilation (erode: of the inverted mask, inverted back) by the disc of the radius, over the rectangle
 * [x0, x1) x [y0, y1) of the result; pixels outside the picture never win. The rows go in bands to a thread
 * per core (a 4K mask grown by 32 pixels is some hundreds of millions of comparisons). */
static void
morphology (IbMask   *self,
            int       radius,
            gboolean  erode,
            int       x0,
            int       y0,
            int       x1,
            int       y1)
{
  int n = x1 - x0;
  g_autofree guint8 *out = g_malloc0 ((gsize) n * (y1 - y0));
  g_autofree int *half = g_new (int, radius + 1);
  int n_bands = CLAMP ((y1 - y0) / 64, 1, MIN ((int) g_get_num_processors (), 16));
  Band bands[16];
  GThread *threads[16] = { NULL };
  gboolean own;
  IbDirty dirty = IB_DIRTY_INIT;

  for (int dy = 0; dy <= radius; dy++)
    half[dy] = disc_half_width (radius, dy);
  for (int b = 0; b < n_bands; b++)
    {
      int first = y0 + (int) ((gint64) (y1 - y0) * b / n_bands), end = y0 + (int) ((gint64) (y1 - y0) * (b + 1) / n_bands);
      bands[b] = (Band) { self, radius, erode, half, x0, x1, first, end, out + (gsize) (first - y0) * n };
      /* Band 0 here; a thread that cannot start leaves its band to this one too. */
      if (b > 0)
        threads[b] = g_thread_try_new ("imagebart-mask", dilate_band, &bands[b], NULL);
    }
  dilate_band (&bands[0]);
  for (int b = 1; b < n_bands; b++)
    {
      if (threads[b] != NULL)
        g_thread_join (threads[b]);
      else
        dilate_band (&bands[b]);
    }

  own = ib_mask_op_begin (self);
  ib_mask_touch (self, x0, y0, x1, y1);
  for (int y = y0; y < y1; y++)
    {
      guint8 *row = self->data + (gsize) y * self->stride;
      const guint8 *res = out + (gsize) (y - y0) * n;
      int first = -1, last = -1;

      for (int i = 0; i < n; i++)
        {
          guint8 v = erode ? 255 - res[i] : res[i];
          if (v == row[x0 + i])
            continue;
          row[x0 + i] = v;
          if (first < 0)
            first = x0 + i;
          last = x0 + i;
        }
      if (first >= 0)
        ib_mask_dirty_row (&dirty, y, first, last);
    }
  ib_mask_op_end (self, own, &dirty);
}

/* Only pixels within the radius of the masked ones can grow; unmasked pixels stay unmasked when shrinking. */
static void
grow_or_shrink (IbMask   *self,
                int       radius,
                gboolean  shrink)
{
  GdkRectangle b;
  int reach = shrink ? 0 : radius;

  g_return_if_fail (IB_IS_MASK (self));
  g_return_if_fail (radius >= 0 && radius <= MAX_GROW);

  if (radius == 0 || !ib_mask_get_bounds (self, &b))
    return;
  morphology (self, radius, shrink, MAX (0, b.x - reach), MAX (0, b.y - reach),
              MIN (self->width, b.x + b.width + reach), MIN (self->height, b.y + b.height + reach));
}

void
ib_mask_grow (IbMask *self,
              int     radius)
{
  grow_or_shrink (self, radius, FALSE);
}

void
ib_mask_shrink (IbMask *self,
                int     radius)
{
  grow_or_shrink (self, radius, TRUE);
}
