/* ib-about.h: the About window, with the licences and credits of the bundled data and of the method. */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

/* A new About window for this application (not shown); the credits of the bundled data are its legal
 * sections. */
AdwAboutWindow *ib_about_window_new (void);

/* Shows the About window, transient for parent (may be NULL). */
void            ib_about_show       (GtkWindow *parent);

G_END_DECLS
