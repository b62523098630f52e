/* ib-edit-composite.h: putting a decoded work window back into the user's image.
 *
 * The rule that matters: where the mask is 0 the output pixel is the input pixel, bit for bit. Inside the
 * mask the decoded pixels are blended in with a ramp that rises from the mask's edge inwards (the feather),
 * after their colours were matched to the original around the edit, so that the VQGAN's reconstruction
 * error (a slight tint or contrast change) does not show as a seam. */
#pragma once

#include <glib.h>

#include "ib-edit-window.h"

G_BEGIN_DECLS

/* Blend weights over the mask box (box->width x box->height floats, row-major): mask / 255 times a
 * smoothstep of the Euclidean distance to the nearest unmasked pixel of the image over radius pixels
 * (radius <= 0: no ramp). Exactly 0 where the mask is 0; the image's border is not an edge. */
float    *ib_edit_feather           (const guint8        *mask,
                                     int                  width,
                                     int                  height,
                                     int                  stride,
                                     const IbBox         *box,
                                     double               radius);

/* Matches decoded to original (both native x native x 3, HWC) on a ring of known tokens around the unknown
 * ones (known tokens within ring_tokens of an unknown one), where both show the same content: first per
 * channel an affine map that gives the decoded pixels the ring's mean and standard deviation (gain limited to
 * [1/2, 2]), then a smooth local offset, the remaining difference on the ring spread over about a token
 * (normalized Gaussian convolution), fading away from the ring. FALSE and decoded untouched when there is no
 * such ring (no known token near an unknown one). */
gboolean  ib_edit_match_colours     (const float         *original,
                                     float               *decoded,
                                     int                  native,
                                     const gboolean      *unknown,
                                     int                  token_width,
                                     int                  token_height,
                                     int                  ring_tokens);

/* Writes the mask box of the result: out points at the box's top-left pixel of an RGBA destination
 * (out_stride bytes between rows); rgba is the whole input image. decoded is the window at native
 * resolution (HWC, [-1, 1]), alpha what ib_edit_feather returned. The alpha channel is the input's. */
void      ib_edit_composite         (const IbEditWindow  *window,
                                     const float         *decoded,
                                     const float         *alpha,
                                     const guint8        *rgba,
                                     int                  width,
                                     int                  height,
                                     int                  stride,
                                     guint8              *out,
                                     int                  out_stride);

G_END_DECLS
