/* ib-mask-private.h: the mask's struct and the change tracking that ib-mask.c and ib-mask-paint.c share. */
#pragma once

#include "ib-mask.h"

G_BEGIN_DECLS

struct _IbMask
{
  GObject parent_instance;

  int width;
  int height;
  int stride;
  guint8 *data;

  gboolean bounds_valid;
  GdkRectangle bounds;

  int change_depth;
  int tiles_x;
  int tiles_y;
  guint8 **saved;               /* during a change: the tiles as they were at its start, NULL if untouched */
};

/* The box of the pixels one operation changed, inclusive; empty while x1 < x0. */
typedef struct
{
  int x0;
  int y0;
  int x1;
  int y1;
} IbDirty;

#define IB_DIRTY_INIT { G_MAXINT, G_MAXINT, -1, -1 }

/* An operation: op_begin opens a change of its own when none is open (returns whether it did); touch saves
 * the pixels of [x0, x1) x [y0, y1) before they are written; op_end reports dirty through "changed" and ends
 * the operation's own change. */
gboolean  ib_mask_op_begin  (IbMask         *mask);
void      ib_mask_touch     (IbMask         *mask,
                             int             x0,
                             int             y0,
                             int             x1,
                             int             y1);
void      ib_mask_dirty_row (IbDirty        *dirty,
                             int             y,
                             int             x0,
                             int             x1);
void      ib_mask_op_end    (IbMask         *mask,
                             gboolean        own_change,
                             const IbDirty  *dirty);

G_END_DECLS
