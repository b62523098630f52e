/* ib-shm-pool.h: cairo's X11 shared memory, kept for the frames of GTK's cairo renderer.
 *
 * Under the cairo renderer on X11, GTK hands each frame to cairo, which copies it into a block of a MIT-SHM
 * segment (a pool) for the X server. Cairo destroys a pool as soon as nothing is allocated from it and makes
 * a new one, sized for the request at hand, when no pool has room. The first window-wide frame after a run
 * of smaller ones (the first finished level of a job, while the user paints) then page-faults a fresh
 * segment into memory inside the frame: 5-6 ms on the development machine, a dropped frame in the paint
 * benchmark (docs/performance.md, the editor's paint benchmark). Keeping one small allocation in a pool
 * large enough for the largest monitor keeps that pool, and the pages its frames have touched, for the
 * display's lifetime. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

/* Once per display, for a realized widget drawn by GTK's cairo renderer on X11 with MIT-SHM; elsewhere it
 * does nothing. Returns whether the display now keeps a pool. */
gboolean ib_keep_shm_pool (GtkWidget *widget);

G_END_DECLS
