/* ib-resample.h: separable Lanczos-3 resampling of a rectangle of an image, used to bring an edit's work
 * window to the model's native resolution and the decoded result back.
 *
 * Coordinates are continuous, in source pixels: pixel (x, y) covers [x, x + 1) x [y, y + 1) and its centre is
 * (x + 0.5, y + 0.5). The source rectangle may reach past the image: outside samples mirror the image
 * (half-sample symmetric: -1 reads 0, -2 reads 1, and so on, periodically). When shrinking, the kernel is
 * widened by the scale factor, so the result is antialiased. A rectangle that maps pixels onto pixels one to
 * one (same size, integer offset) is copied exactly. */
#pragma once

#include <glib.h>
#include <stdint.h>

G_BEGIN_DECLS

typedef struct
{
  double x;
  double y;
  double width;
  double height;
} IbRect;

/* The Lanczos-3 kernel: sinc(x) sinc(x / 3) for |x| < 3, else 0; exactly 1 at 0 and 0 at other integers. */
double    ib_lanczos3               (double          x);

/* dst (dst_width x dst_height x n_channels, interleaved, tightly packed) = the rectangle rect of src
 * (src_width x src_height x n_channels, interleaved, src_stride floats between rows). */
void      ib_resample_f32           (const float    *src,
                                     int             src_width,
                                     int             src_height,
                                     int             src_stride,
                                     int             n_channels,
                                     const IbRect   *rect,
                                     float          *dst,
                                     int             dst_width,
                                     int             dst_height);

/* The same from 8-bit RGBA (src_stride bytes between rows): dst holds the RGB channels as floats in [-1, 1]
 * (v / 127.5 - 1), alpha ignored. */
void      ib_resample_rgba8_to_rgb  (const guint8   *src,
                                     int             src_width,
                                     int             src_height,
                                     int             src_stride,
                                     const IbRect   *rect,
                                     float          *dst,
                                     int             dst_width,
                                     int             dst_height);

/* Where source coordinate i (an integer, any value) reads from under the mirror rule; n >= 1. */
int       ib_resample_mirror        (int             i,
                                     int             n);

G_END_DECLS
