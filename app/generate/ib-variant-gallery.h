/* ib-variant-gallery.h: the variants of a generation as thumbnails, one selected, with Accept and Reject.
 *
 * Signals: "selected" (int variant) when the selection changes, and again when new images come (its picture
 * changed); "accepted" (int variant) and "rejected" (int variant) from the Accept and Reject buttons.
 * Rejecting removes that variant from the gallery and selects the next one left (variants keep their
 * numbers). The buttons activate the widget actions gallery.accept and gallery.reject: the window's
 * win.accept-variant and win.reject-variant (with their shortcuts) can activate those too
 * (gtk_widget_activate_action). They are enabled only while the gallery shows the final variants of a job. */
#pragma once

#include <gtk/gtk.h>

#include "ib-job-runner.h"

G_BEGIN_DECLS

#define IB_TYPE_VARIANT_GALLERY (ib_variant_gallery_get_type ())
G_DECLARE_FINAL_TYPE (IbVariantGallery, ib_variant_gallery, IB, VARIANT_GALLERY, GtkWidget)

GtkWidget *ib_variant_gallery_new          (void);

/* Follows the runner (NULL: none; the gallery holds a reference): emptied when a job starts, each finished
 * level's previews as they come, final (Accept and Reject enabled) when it is done, emptied when it fails or
 * is cancelled. */
void       ib_variant_gallery_set_runner   (IbVariantGallery *self,
                                            IbJobRunner      *runner);

/* Shows these images (IbEditImage per variant, referenced; NULL or empty: none). The selection stays where
 * it was when that variant exists, else goes to 0. final: they are a job's results, to accept or reject. */
void       ib_variant_gallery_set_images   (IbVariantGallery *self,
                                            GPtrArray        *images,
                                            gboolean          final);

/* The selected variant's number; -1 when empty. */
int        ib_variant_gallery_get_selected (IbVariantGallery *self);
void       ib_variant_gallery_set_selected (IbVariantGallery *self,
                                            int               variant);

G_END_DECLS
