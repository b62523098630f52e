/* ib-thumbnail.h: a picture for small textures (the level strip's and the variant gallery's thumbnails), drawn
 * whole inside the widget, centred, keeping its aspect (GtkPicture's "contain").
 *
 * Under GTK's cairo renderer a texture node costs a conversion of every texel on every frame that draws it
 * (docs/performance.md): the gallery's four thumbnails made each finished level's frame 20 ms longer. A texture
 * made by ib_texture_new_for_surface (the job runner's thumbnails are) is painted from its surface in a cairo
 * node there instead; under the GPU renderers, and for any other texture, the texture node is drawn. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define IB_TYPE_THUMBNAIL (ib_thumbnail_get_type ())
G_DECLARE_FINAL_TYPE (IbThumbnail, ib_thumbnail, IB, THUMBNAIL, GtkWidget)

/* At least minimum_size pixels square; natural_size when there is room. */
GtkWidget  *ib_thumbnail_new         (int          minimum_size,
                                      int          natural_size);

/* NULL: nothing drawn. The thumbnail holds a reference. */
void        ib_thumbnail_set_texture (IbThumbnail *self,
                                      GdkTexture  *texture);
GdkTexture *ib_thumbnail_get_texture (IbThumbnail *self);

G_END_DECLS
