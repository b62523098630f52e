/* ib-recovery-dialog.h: offered at start when autosaved work was left by a crash: restore the checked
 * pictures, discard them all, or decide later (they stay). */
#pragma once

#include <adwaita.h>

#include "ib-recovery.h"

G_BEGIN_DECLS

#define IB_TYPE_RECOVERY_DIALOG (ib_recovery_dialog_get_type ())
G_DECLARE_FINAL_TYPE (IbRecoveryDialog, ib_recovery_dialog, IB, RECOVERY_DIALOG, AdwMessageDialog)

/* entries: IbRecoveryEntry from ib_recovery_list (taken). Emits "restored" (IbDocument) for each restored
 * picture; the receiver shows and watches it, after which the dialog discards its recovery file. */
GtkWidget *ib_recovery_dialog_new (GtkWindow  *parent,
                                   IbRecovery *recovery,
                                   GPtrArray  *entries);

G_END_DECLS
