/* ib-history.h: the undo/redo steps of a document, with a memory cap.
 *
 * A step is a mask change (IbMaskChange from the canvas, or the same as plain pixels when it came from a
 * project file) or a picture patch: the rectangle of the picture before and after an accepted result, with
 * the recipes before and after. The history only keeps steps; IbDocument applies them. A new step clears the
 * redo steps; when the steps together hold more than max-bytes, the oldest are dropped (the newest step is
 * always kept, even alone over the cap, so that the last action can be undone). */
#pragma once

#include <gio/gio.h>

#include "ib-edit-job.h"
#include "ib-mask.h"

G_BEGIN_DECLS

typedef enum
{
  IB_HISTORY_STEP_MASK,         /* a change of the mask */
  IB_HISTORY_STEP_PICTURE,      /* an accepted result: a patch of the picture */
} IbHistoryStepKind;

#define IB_TYPE_HISTORY_STEP (ib_history_step_get_type ())
typedef struct _IbHistoryStep IbHistoryStep;

GType           ib_history_step_get_type        (void) G_GNUC_CONST;
IbHistoryStep  *ib_history_step_ref             (IbHistoryStep      *step);
void            ib_history_step_unref           (IbHistoryStep      *step);

/* A mask change as the canvas made it. */
IbHistoryStep  *ib_history_step_new_mask_change (IbMaskChange       *change);
/* A mask change as pixels (rect.width bytes per row, packed): from a project file. */
IbHistoryStep  *ib_history_step_new_mask_pixels (const GdkRectangle *rect,
                                                 GBytes             *before,
                                                 GBytes             *after);
/* A picture patch: before and after cover the same rectangle (their x, y, width, height). Recipes may be
 * NULL (the original picture has none). */
IbHistoryStep  *ib_history_step_new_picture     (IbEditImage        *before,
                                                 IbEditImage        *after,
                                                 const char         *recipe_before,
                                                 const char         *recipe_after);

IbHistoryStepKind ib_history_step_get_kind      (IbHistoryStep      *step);
void            ib_history_step_get_rectangle   (IbHistoryStep      *step,
                                                 GdkRectangle       *rect);
/* Bytes held, for the cap. */
gsize           ib_history_step_get_size        (IbHistoryStep      *step);
/* Mask steps: the canvas's change, or NULL for one made from pixels. */
IbMaskChange   *ib_history_step_get_mask_change (IbHistoryStep      *step);
/* Mask steps made from pixels: the packed rectangles; NULL for a canvas change. */
GBytes         *ib_history_step_get_mask_before (IbHistoryStep      *step);
GBytes         *ib_history_step_get_mask_after  (IbHistoryStep      *step);
/* Picture steps. */
IbEditImage    *ib_history_step_get_picture_before (IbHistoryStep   *step);
IbEditImage    *ib_history_step_get_picture_after  (IbHistoryStep   *step);
const char     *ib_history_step_get_recipe_before  (IbHistoryStep   *step);
const char     *ib_history_step_get_recipe_after   (IbHistoryStep   *step);

#define IB_TYPE_HISTORY (ib_history_get_type ())
G_DECLARE_FINAL_TYPE (IbHistory, ib_history, IB, HISTORY, GObject)

/* Properties: "max-bytes" (guint64), "size" (guint64, bytes held), "can-undo", "can-redo" (read-only). */
IbHistory      *ib_history_new                  (guint64             max_bytes);
void            ib_history_set_max_bytes        (IbHistory          *history,
                                                 guint64             max_bytes);
guint64         ib_history_get_max_bytes        (IbHistory          *history);
guint64         ib_history_get_size             (IbHistory          *history);
gboolean        ib_history_can_undo             (IbHistory          *history);
gboolean        ib_history_can_redo             (IbHistory          *history);

/* Takes a reference; clears the redo steps, then drops the oldest steps while over the cap. */
void            ib_history_push                 (IbHistory          *history,
                                                 IbHistoryStep      *step);
/* Moves the newest done step to the redo side and returns it (borrowed) for the caller to undo; NULL when
 * there is none. */
IbHistoryStep  *ib_history_undo                 (IbHistory          *history);
/* Moves the next redo step back and returns it (borrowed) for the caller to redo; NULL when there is none. */
IbHistoryStep  *ib_history_redo                 (IbHistory          *history);
void            ib_history_clear                (IbHistory          *history);

/* Every step, oldest first: the first n_done are done (undoable), the others undone (redoable, the next
 * redo first). For saving a project. */
guint           ib_history_get_n_steps          (IbHistory          *history);
guint           ib_history_get_n_done           (IbHistory          *history);
IbHistoryStep  *ib_history_get_step             (IbHistory          *history,
                                                 guint               index);
/* Replaces the step at index with an equivalent one (a canvas change by the same change as pixels, for
 * saving); the size is recounted but the cap not applied. */
void            ib_history_replace_step         (IbHistory          *history,
                                                 guint               index,
                                                 IbHistoryStep      *step);
/* Replaces everything with steps (oldest first, as above), then applies the cap. */
void            ib_history_set_steps            (IbHistory          *history,
                                                 IbHistoryStep     **steps,
                                                 guint               n_steps,
                                                 guint               n_done);

/* Bytes in a mebibyte count of the GSettings key history-memory-mib. */
#define IB_HISTORY_MIB(n) ((guint64) (n) << 20)

G_DEFINE_AUTOPTR_CLEANUP_FUNC (IbHistoryStep, ib_history_step_unref)

G_END_DECLS
