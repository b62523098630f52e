/* ib-edit-window.c: the work window of an edit and its token mask (see ib-edit-window.h). */
#include "ib-edit-window.h"

#include <math.h>
#include <string.h>

/* The first nonzero byte of row[0, n), or -1; eight bytes at a time over zeros (a 4K mask is mostly zeros,
 * and the editor asks for its box at every Generate). */
static int
first_nonzero (const guint8 *row,
               int           n)
{
  int x = 0;
  for (guint64 word; x + 8 <= n; x += 8)
    {
      memcpy (&word, row + x, sizeof word);
      if (word != 0)
        break;
    }
  for (; x < n; x++)
    if (row[x] != 0)
      return x;
  return -1;
}

/* The last nonzero byte of row[0, n), or -1. */
static int
last_nonzero (const guint8 *row,
              int           n)
{
  int x = n;
  for (guint64 word; x >= 8; x -= 8)
    {
      memcpy (&word, row + x - 8, sizeof word);
      if (word != 0)
        break;
    }
  for (; x > 0; x--)
    if (row[x - 1] != 0)
      return x - 1;
  return -1;
}

IbBox
ib_mask_bounding_box (const guint8 *mask,
                      int           width,
                      int           height,
                      int           stride)
{
  int x0 = width, y0 = height, x1 = -1, y1 = -1;

  for (int y = 0; y < height; y++)
    {
      const guint8 *row = mask + (gsize) y * stride;
      int first = first_nonzero (row, width);
      if (first < 0)
        continue;
      x0 = MIN (x0, first);
      x1 = MAX (x1, last_nonzero (row, width));
      y0 = MIN (y0, y);
      y1 = y;
    }
  if (x1 < 0)
    return (IbBox) { 0, 0, 0, 0 };
  return (IbBox) { x0, y0, x1 - x0 + 1, y1 - y0 + 1 };
}

/* The window's start on one axis of length n, for a box [start, start + length) inside it. */
static int
place (int n,
       int start,
       int length,
       int side)
{
  if (side > n)
    return -((side - n) / 2);           /* the whole axis, centred, padded on both sides */
  int position = start - (side - length + 1) / 2;
  return CLAMP (position, 0, n - side);
}

void
ib_edit_window_choose (int           width,
                       int           height,
                       const IbBox  *mask_box,
                       int           native,
                       IbEditWindow *window)
{
  g_return_if_fail (width > 0 && height > 0 && native > 0 && mask_box->width > 0 && mask_box->height > 0);

  int box_side = MAX (mask_box->width, mask_box->height);
  int shorter = MIN (width, height), longer = MAX (width, height);
  int side = MAX (native, box_side + 2 * ((box_side + 3) / 4));
  if (side > shorter)
    {
      int needed = MAX (box_side, native);
      /* Less context rather than padding, as long as the box and the native size fit. */
      side = needed <= shorter ? shorter : MAX (needed, MIN (side, longer));
    }

  window->side = side;
  window->native = native;
  window->mask_box = *mask_box;
  window->x = place (width, mask_box->x, mask_box->width, side);
  window->y = place (height, mask_box->y, mask_box->height, side);
}

double
ib_edit_window_scale (const IbEditWindow *window)
{
  return (double) window->side / window->native;
}

IbRect
ib_edit_window_rect (const IbEditWindow *window)
{
  return (IbRect) { window->x, window->y, window->side, window->side };
}

void
ib_edit_window_extract (const IbEditWindow *window,
                        const guint8       *rgba,
                        int                 width,
                        int                 height,
                        int                 stride,
                        float              *native_rgb)
{
  IbRect rect = ib_edit_window_rect (window);
  ib_resample_rgba8_to_rgb (rgba, width, height, stride, &rect, native_rgb, window->native, window->native);
}

int
ib_edit_window_token_mask (const IbEditWindow *window,
                           const guint8       *mask,
                           int                 width,
                           int                 height,
                           int                 stride,
                           int                 token_width,
                           int                 token_height,
                           gboolean           *unknown)
{
  /* Image pixels per token along each axis (the window is square, the grid need not be). */
  double step_x = (double) window->side / token_width, step_y = (double) window->side / token_height;
  int n_unknown = 0;

  for (int ty = 0; ty < token_height; ty++)
    for (int tx = 0; tx < token_width; tx++)
      {
        /* Every image pixel that overlaps the patch [a, b) on each axis. */
        int px0 = (int) floor (window->x + tx * step_x), px1 = (int) ceil (window->x + (tx + 1) * step_x);
        int py0 = (int) floor (window->y + ty * step_y), py1 = (int) ceil (window->y + (ty + 1) * step_y);
        gboolean masked = FALSE;
        for (int py = py0; py < py1 && !masked; py++)
          {
            const guint8 *row = mask + (gsize) ib_resample_mirror (py, height) * stride;
            for (int px = px0; px < px1; px++)
              if (row[ib_resample_mirror (px, width)] != 0)
                {
                  masked = TRUE;
                  break;
                }
          }
        unknown[ty * token_width + tx] = masked;
        n_unknown += masked;
      }
  return n_unknown;
}
