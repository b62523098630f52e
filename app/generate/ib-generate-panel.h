/* ib-generate-panel.h: what the next generation will be: the prompt (text models, with its word count
 * against the model's tokenizer, and how closely to follow it: the guidance) or the class (class models; searchable), the strength (the start level, in
 * words), the number of variants, the seed (random each time unless locked; copy to the clipboard) and, under
 * "Advanced", each level's temperature, top-k and chain repeats. Defaults come from the model and from the
 * GSettings keys default-strength and default-variants.
 *
 * Its Generate and Cancel buttons activate win.generate and win.cancel: the window implements them, calling
 * ib_generate_panel_fill_request for the request to run. */
#pragma once

#include <gtk/gtk.h>

#include "ib-edit-job.h"

G_BEGIN_DECLS

#define IB_TYPE_GENERATE_PANEL (ib_generate_panel_get_type ())
G_DECLARE_FINAL_TYPE (IbGeneratePanel, ib_generate_panel, IB, GENERATE_PANEL, GtkWidget)

GtkWidget *ib_generate_panel_new          (void);

/* The model whose inputs to show (borrowed: it must stay open while it is set; NULL to unset). Resets every
 * setting to the model's and the user's defaults; the prompt and the seed are kept. */
void       ib_generate_panel_set_model    (IbGeneratePanel *self,
                                           IbModelFile     *file);

/* Fills request->conditioning and request->settings (ib_edit_request_init first, so images and the rest
 * are the caller's to set) and clears any resume. When the seed is not locked a new random seed is drawn,
 * shown, and used. FALSE with an IB_GENERATE_ERROR (a sentence for the user) when there is no model or an
 * input is not acceptable: a prompt longer than the model reads, no class, a malformed seed. */
gboolean   ib_generate_panel_fill_request (IbGeneratePanel *self,
                                           IbEditRequest   *request,
                                           GError         **error);

G_END_DECLS
