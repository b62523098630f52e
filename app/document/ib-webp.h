/* ib-webp.h: what the picture intake reads of a WebP's container itself, before or instead of GdkPixbuf's
 * loader: whether the file is whole, its canvas, and an animation's first frame as a still WebP.
 *
 * Handed an animation, GdkPixbuf's WebP loader asks libwebp's animation decoder for it and, when libwebp
 * refuses the file (a frame beyond the canvas, a chunk cut short, a damaged frame), goes on with an iterator it
 * never made: criticals on the console (found by fuzzing). The intake reads only the first frame, which is all
 * it keeps of an animation, through the loader's still-picture path: the frame's image chunks (ALPH, then VP8
 * or VP8L) in a still file of their own. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  IB_WEBP_FRAME_OK,
  IB_WEBP_FRAME_NO_ANIMATION,      /* flagged animated, but no ANIM chunk or no frame */
  IB_WEBP_FRAME_CUT_SHORT,         /* a chunk runs past the end of the file */
  IB_WEBP_FRAME_OUTSIDE_CANVAS,    /* the first frame does not fit the canvas */
  IB_WEBP_FRAME_NO_PICTURE,        /* the first frame holds no VP8 or VP8L chunk */
} IbWebpFrameProblem;

typedef struct
{
  int canvas_width, canvas_height;
  int x, y;                        /* where the frame goes on the canvas */
  int width, height;               /* the frame's size, as its header says */
} IbWebpFrame;

/* TRUE when the file is as long as its RIFF header says: the loader decodes what it has of a cut file too. */
gboolean ib_webp_is_complete      (GBytes              *bytes);

/* The canvas of an extended (VP8X) WebP, as its header states it (the loader allocates it before it reports
 * a size); FALSE when the bytes are no VP8X WebP. */
gboolean ib_webp_canvas_size      (GBytes              *bytes,
                                   gint64              *width,
                                   gint64              *height);

/* TRUE for an extended (VP8X) WebP whose flags say "animated". */
gboolean ib_webp_is_animated      (GBytes              *bytes);

/* The first frame of an animated WebP as a still WebP file, with where it goes; NULL and *problem when the
 * animation is damaged. */
GBytes  *ib_webp_first_frame      (GBytes              *bytes,
                                   IbWebpFrame         *frame,
                                   IbWebpFrameProblem  *problem);

G_END_DECLS
