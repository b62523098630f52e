/* ib-preferences-dialog.h: the editor's preferences, every row bound to a key of org.imagebart.Studio. */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define IB_TYPE_PREFERENCES_DIALOG (ib_preferences_dialog_get_type ())
G_DECLARE_FINAL_TYPE (IbPreferencesDialog, ib_preferences_dialog, IB, PREFERENCES_DIALOG, AdwPreferencesWindow)

GtkWidget *ib_preferences_dialog_new (GSettings *settings);

G_END_DECLS
