/* ib-canvas-private.h: the canvas's struct, shared by ib-canvas.c (object, view, drawing),
 * ib-canvas-actions.c, ib-canvas-input.c (gestures and strokes) and ib-canvas-overlay.c (mask tiles, token grid). */
#pragma once

#include "ib-canvas.h"
#include "ib-texture-pyramid.h"

G_BEGIN_DECLS

/* Mask overlay tiles: small enough that a stroke re-makes little, large enough to keep the node count low. */
#define IB_CANVAS_TILE 256
#define IB_CANVAS_TILE_LEVELS 8     /* a tile shrinks to one texel at most: 256 = 2^8 */

struct _IbCanvas
{
  GtkWidget parent_instance;

  GdkTexture *picture;
  IbTexturePyramid *picture_pyramid;   /* what is drawn of it when zoomed out; made at the first draw */
  gboolean texture_nodes_only;  /* for the tests: draw as under a GPU renderer, whatever the renderer */
  IbMask *mask;
  gulong mask_changed_id;
  IbEditImage *preview;
  IbTexturePyramid *preview_pyramid;   /* made at the first draw */
  int native_size;
  int grid_side;

  /* View. */
  double zoom;
  gboolean fitting;             /* zoom follows the view's size */
  GtkAdjustment *hadjustment;
  GtkAdjustment *vadjustment;
  guint hscroll_policy : 1;
  guint vscroll_policy : 1;

  /* Settings. */
  IbCanvasTool tool;
  double brush_size;
  double brush_hardness;
  gboolean show_mask;
  gboolean show_token_grid;
  gboolean show_original;
  GdkRGBA mask_colour;
  double mask_opacity;
  GdkRGBA grid_colour;

  /* Mask overlay: tiles_x x tiles_y textures (NULL where the mask is empty), dirty flags. */
  int tiles_x;
  int tiles_y;
  GdkTexture **tiles;
  cairo_surface_t **tile_surfaces;  /* the tiles' pixels, which the textures read */
  gboolean *tiles_dirty;
  guint tiles_level;            /* the pyramid level they are made at: 2^level mask pixels per texel */
  guint n_tile_builds;          /* for the tests: how many tiles were re-made */

  /* Magnified from zoom 2 under the GPU renderers (ib-canvas-magnify.c): surface -> its texture for the view. */
  GHashTable *magnified;
  guint magnify_frame;
  guint n_magnified;            /* for the tests: how many were made */

  /* Token grid: the work window and its unknown tokens, NULL until needed after a change. */
  gboolean grid_valid;
  gboolean grid_empty;
  int grid_x;
  int grid_y;
  int grid_window_side;
  gboolean *grid_unknown;

  /* Input. */
  gboolean stroking;
  gboolean stroke_erase;
  IbMaskBrush brush;
  IbMaskStroke stroke;
  double shape_x0;              /* rectangle: the first corner, picture pixels */
  double shape_y0;
  double shape_x1;
  double shape_y1;
  GArray *lasso;                /* double pairs, picture pixels */
  gboolean space_held;
  GtkGesture *input_owner;      /* the gesture whose press began the stroke or pan, not referenced */
  gboolean panning;
  double pan_last_x;
  double pan_last_y;
  double pinch_zoom;
  gboolean pointer_inside;
  double pointer_x;
  double pointer_y;
};

/* ib-canvas.c */
void      ib_canvas_update_adjustments  (IbCanvas    *self);
double    ib_canvas_get_picture_width   (IbCanvas    *self);
double    ib_canvas_get_picture_height  (IbCanvas    *self);
void      ib_canvas_update_cursor       (IbCanvas    *self);

/* ib-canvas-actions.c */
void      ib_canvas_class_install_actions (GtkWidgetClass *widget_class);
void      ib_canvas_update_actions      (IbCanvas    *self);

/* ib-canvas.c: paints surface (an ARGB32 image of any resolution) over the picture's rectangle (x, y, width,
 * height), in picture pixels, at the view's zoom and scroll. */
void      ib_canvas_paint_surface       (IbCanvas        *self,
                                         cairo_t         *cr,
                                         cairo_surface_t *surface,
                                         double           x,
                                         double           y,
                                         double           width,
                                         double           height);

/* ib-canvas-magnify.c: from this zoom on, the GPU renderers draw picture pixels as squares. */
#define IB_CANVAS_NEAREST_ZOOM 2.0
void      ib_canvas_magnify_begin_frame (IbCanvas        *self);
/* Like ib_canvas_paint_surface, as a texture node of the visible part at the view's device pixels, each the
 * nearest pixel of surface (an ARGB32 image that does not change). Between a frame's begin and end. */
void      ib_canvas_append_magnified    (IbCanvas        *self,
                                         GtkSnapshot     *snapshot,
                                         cairo_surface_t *surface,
                                         double           x,
                                         double           y,
                                         double           width,
                                         double           height);
/* Drops the textures of surfaces this frame did not draw. */
void      ib_canvas_magnify_end_frame   (IbCanvas        *self);
void      ib_canvas_magnify_free        (IbCanvas        *self);
/* For the tests: how many magnified textures were made. */
guint     ib_canvas_get_n_magnified     (IbCanvas        *self);

/* ib-canvas-input.c */
void      ib_canvas_setup_input         (IbCanvas    *self);
void      ib_canvas_snapshot_tool       (IbCanvas    *self,
                                         GtkSnapshot *snapshot);

/* ib-canvas-overlay.c */
void      ib_canvas_overlay_reset       (IbCanvas    *self);
void      ib_canvas_overlay_invalidate  (IbCanvas    *self,
                                         int          x,
                                         int          y,
                                         int          width,
                                         int          height);
void      ib_canvas_overlay_free        (IbCanvas    *self);
void      ib_canvas_overlay_recolour    (IbCanvas    *self);
/* The mask's tiles: as texture nodes into snapshot, or painted with cr (the cairo renderer, see ib-canvas.c). */
void      ib_canvas_snapshot_mask       (IbCanvas    *self,
                                         GtkSnapshot *snapshot,
                                         cairo_t     *cr);
void      ib_canvas_snapshot_token_grid (IbCanvas    *self,
                                         GtkSnapshot *snapshot);
/* The token grid as the edit job will see it (computed on demand): FALSE when there is none (no mask, no
 * model geometry). window_x/y/side in picture pixels; unknown: grid_side^2 flags, borrowed. */
gboolean  ib_canvas_get_token_grid      (IbCanvas        *self,
                                         int             *window_x,
                                         int             *window_y,
                                         int             *window_side,
                                         int             *grid_side,
                                         const gboolean **unknown);
guint     ib_canvas_get_n_tile_builds   (IbCanvas    *self);
/* For the tests: the GPU renderers' drawing (texture nodes) under any renderer. */
void      ib_canvas_set_texture_nodes_only (IbCanvas *self,
                                            gboolean  only);

G_END_DECLS
