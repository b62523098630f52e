/* ib-model-info-dialog.h: what the loaded model is: its file and hash, configuration, levels, conditioning,
 * license and provenance. */
#pragma once

#include <adwaita.h>

#include "ib-loaded-model.h"

G_BEGIN_DECLS

#define IB_TYPE_MODEL_INFO_DIALOG (ib_model_info_dialog_get_type ())
G_DECLARE_FINAL_TYPE (IbModelInfoDialog, ib_model_info_dialog, IB, MODEL_INFO_DIALOG, AdwWindow)

GtkWidget *ib_model_info_dialog_new (IbLoadedModel *model);

/* The file hash as shown: empty while it is being computed. */
const char *ib_model_info_dialog_get_hash (IbModelInfoDialog *self);

G_END_DECLS
