/* ib-preferences-dialog.h: the editor's preferences, every row bound to a key of org.imagebart.Studio. */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define IB_TYPE_PREFERENCES_DIALOG (ib_preferences_dialog_get_type ())
G_DECLARE_FINAL_TYPE (IbPreferencesDialog, ib_preferences_dialog, IB, PREFERENCES_DIALOG, AdwPreferencesWindow)

GtkWidget *ib_preferences_dialog_new (GSettings *settings);

/* g_settings_bind_with_mapping functions between a '#rrggbb' string key and a GdkRGBA property. */
gboolean   ib_settings_colour_get_mapping (GValue             *value,
                                           GVariant           *variant,
                                           gpointer            user_data);
GVariant  *ib_settings_colour_set_mapping (const GValue       *value,
                                           const GVariantType *expected_type,
                                           gpointer            user_data);

G_END_DECLS
