/* ib-level-strip.h: the levels of a generation, coarse to fine: one thumbnail per level the job runs (its start
 * level down to 1), empty until the level finishes, then that level's preview (of the shown variant); the
 * running level has a progress bar ("k of m tokens"). Clicking a finished level emits "level-activated"
 * (int level), its "Resample from here" button "resample-from" (int level).
 *
 * Fed either by an IbJobRunner (ib_level_strip_set_runner follows its signals) or by hand with the functions
 * below, which take the runner's signal arguments. */
#pragma once

#include <gtk/gtk.h>

#include "ib-job-runner.h"

G_BEGIN_DECLS

#define IB_TYPE_LEVEL_STRIP (ib_level_strip_get_type ())
G_DECLARE_FINAL_TYPE (IbLevelStrip, ib_level_strip, IB, LEVEL_STRIP, GtkWidget)

GtkWidget   *ib_level_strip_new            (void);

/* Follows the runner's signals (NULL: none). The strip holds a reference. */
void         ib_level_strip_set_runner     (IbLevelStrip *self,
                                            IbJobRunner  *runner);

/* A job starts at start_level; top_level is the first level it runs. The levels above top_level (a resumed
 * job) keep their thumbnails: those of the variant shown when "resample-from" was emitted, which every new
 * variant shares. The others are emptied. */
void         ib_level_strip_begin          (IbLevelStrip *self,
                                            int           start_level,
                                            int           top_level);
void         ib_level_strip_level_started  (IbLevelStrip *self,
                                            int           level,
                                            int           n_passes);
void         ib_level_strip_progress       (IbLevelStrip *self,
                                            int           level,
                                            int           n_done,
                                            int           n_total);
/* previews: IbEditImage per variant (referenced, not copied); may be empty. */
void         ib_level_strip_level_finished (IbLevelStrip *self,
                                            int           level,
                                            GPtrArray    *previews);
/* The job ended (done, failed or cancelled): no level runs any more. */
void         ib_level_strip_end            (IbLevelStrip *self);
/* Empties the strip (another picture, another model). */
void         ib_level_strip_clear          (IbLevelStrip *self);

/* Which variant's previews the thumbnails show (the gallery's selection); 0 at first. */
void         ib_level_strip_set_variant    (IbLevelStrip *self,
                                            int           variant);

/* The preview a finished level shows (borrowed), for showing it large; NULL when the level has none. */
IbEditImage *ib_level_strip_get_preview    (IbLevelStrip *self,
                                            int           level);

G_END_DECLS
