/* ib-studio.h: what every part of the editor needs once per process. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Registers the editor's resources (ui/, icons) and binds its translations; idempotent, thread safe. Call
 * before creating any of the editor's widgets (main and the tests do). */
void ib_studio_init (void);

G_END_DECLS
