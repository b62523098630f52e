/* ib-document.c: a picture being edited: picture, mask, history, file, modified state. */
#include "ib-document.h"

#include <glib/gi18n.h>
#include <string.h>

#include "ib-image-io.h"
#include "ib-mask-region.h"
#include "ib-document-private.h"
#include "ib-project-file.h"

struct _IbDocument
{
  GObject parent_instance;

  IbEditImage *picture;         /* immutable: every change makes a new one (textures share the pixels) */
  IbEditImage *original;
  GdkTexture *texture;          /* of picture, made on demand */
  IbMask *mask;
  IbHistory *history;

  GFile *file;
  GFile *source;
  char *title;
  gboolean modified;
  guint64 change_serial;        /* counts changes, so that a save knows whether it saved the latest */

  char *load_notice;

  char *recipe;
  char *settings_json;
  char *model_path;
  char *model_sha256;
};

G_DEFINE_FINAL_TYPE (IbDocument, ib_document, G_TYPE_OBJECT)

enum
{
  PROP_0,
  PROP_FILE,
  PROP_TITLE,
  PROP_MODIFIED,
  PROP_CAN_UNDO,
  PROP_CAN_REDO,
  PROP_RECIPE,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

enum
{
  SIGNAL_PICTURE_CHANGED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static void
ib_document_dispose (GObject *object)
{
  IbDocument *self = IB_DOCUMENT (object);
  if (self->mask != NULL)
    g_signal_handlers_disconnect_by_data (self->mask, self);
  if (self->history != NULL)
    g_signal_handlers_disconnect_by_data (self->history, self);
  g_clear_object (&self->mask);
  g_clear_object (&self->history);
  g_clear_object (&self->texture);
  g_clear_object (&self->file);
  g_clear_object (&self->source);
  G_OBJECT_CLASS (ib_document_parent_class)->dispose (object);
}

static void
ib_document_finalize (GObject *object)
{
  IbDocument *self = IB_DOCUMENT (object);
  g_clear_pointer (&self->picture, ib_edit_image_unref);
  g_clear_pointer (&self->original, ib_edit_image_unref);
  g_free (self->title);
  g_free (self->load_notice);
  g_free (self->recipe);
  g_free (self->settings_json);
  g_free (self->model_path);
  g_free (self->model_sha256);
  G_OBJECT_CLASS (ib_document_parent_class)->finalize (object);
}

static void
ib_document_get_property (GObject    *object,
                          guint       prop_id,
                          GValue     *value,
                          GParamSpec *pspec)
{
  IbDocument *self = IB_DOCUMENT (object);
  switch (prop_id)
    {
    case PROP_FILE:
      g_value_set_object (value, self->file);
      break;
    case PROP_TITLE:
      g_value_set_string (value, self->title);
      break;
    case PROP_MODIFIED:
      g_value_set_boolean (value, self->modified);
      break;
    case PROP_CAN_UNDO:
      g_value_set_boolean (value, ib_document_can_undo (self));
      break;
    case PROP_CAN_REDO:
      g_value_set_boolean (value, ib_document_can_redo (self));
      break;
    case PROP_RECIPE:
      g_value_set_string (value, self->recipe);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
ib_document_class_init (IbDocumentClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  object_class->dispose = ib_document_dispose;
  object_class->finalize = ib_document_finalize;
  object_class->get_property = ib_document_get_property;

  properties[PROP_FILE] = g_param_spec_object ("file", NULL, NULL, G_TYPE_FILE,
                                               G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_TITLE] = g_param_spec_string ("title", NULL, NULL, NULL,
                                                G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_MODIFIED] = g_param_spec_boolean ("modified", NULL, NULL, FALSE,
                                                    G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY |
                                                    G_PARAM_STATIC_STRINGS);
  properties[PROP_CAN_UNDO] = g_param_spec_boolean ("can-undo", NULL, NULL, FALSE,
                                                    G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY |
                                                    G_PARAM_STATIC_STRINGS);
  properties[PROP_CAN_REDO] = g_param_spec_boolean ("can-redo", NULL, NULL, FALSE,
                                                    G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY |
                                                    G_PARAM_STATIC_STRINGS);
  properties[PROP_RECIPE] = g_param_spec_string ("recipe", NULL, NULL, NULL,
                                                 G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  signals[SIGNAL_PICTURE_CHANGED] =
    g_signal_new ("picture-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 4, G_TYPE_INT, G_TYPE_INT, G_TYPE_INT, G_TYPE_INT);
}

static void
ib_document_init (IbDocument *self)
{
}

static void
set_modified (IbDocument *self,
              gboolean    modified)
{
  if (modified)
    self->change_serial++;
  if (self->modified == modified)
    return;
  self->modified = modified;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MODIFIED]);
}

static void
set_recipe (IbDocument *self,
            const char *recipe)
{
  if (g_strcmp0 (self->recipe, recipe) == 0)
    return;
  g_free (self->recipe);
  self->recipe = g_strdup (recipe);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RECIPE]);
}

static void
mask_change_committed_cb (IbMask       *mask,
                          IbMaskChange *change,
                          IbDocument   *self)
{
  g_autoptr (IbHistoryStep) step = ib_history_step_new_mask_change (change);
  ib_history_push (self->history, step);
  set_modified (self, TRUE);
}

static void
history_can_undo_cb (IbHistory  *history,
                     GParamSpec *pspec,
                     IbDocument *self)
{
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CAN_UNDO]);
}

static void
history_can_redo_cb (IbHistory  *history,
                     GParamSpec *pspec,
                     IbDocument *self)
{
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CAN_REDO]);
}

/* Sets up a document around picture (referenced) and mask (taken). */
static IbDocument *
document_new (IbEditImage *picture,
              IbEditImage *original,
              IbMask      *mask,
              const char  *title)
{
  IbDocument *self = g_object_new (IB_TYPE_DOCUMENT, NULL);
  self->picture = ib_edit_image_ref (picture);
  self->original = ib_edit_image_ref (original != NULL ? original : picture);
  self->mask = mask;
  self->history = ib_history_new (IB_HISTORY_MIB (512));
  self->title = g_strdup (title);
  g_signal_connect (self->mask, "change-committed", G_CALLBACK (mask_change_committed_cb), self);
  g_signal_connect (self->history, "notify::can-undo", G_CALLBACK (history_can_undo_cb), self);
  g_signal_connect (self->history, "notify::can-redo", G_CALLBACK (history_can_redo_cb), self);
  return self;
}

IbDocument *
ib_document_new_from_picture (IbEditImage *picture,
                              const char  *title)
{
  g_return_val_if_fail (picture != NULL && picture->x == 0 && picture->y == 0, NULL);
  g_return_val_if_fail (title != NULL, NULL);
  return document_new (picture, NULL, ib_mask_new (picture->width, picture->height), title);
}

static IbDocument *
document_from_project (IbProject  *project,
                       const char *title)
{
  const guint8 *mask_data = g_bytes_get_data (project->mask, NULL);
  IbMask *mask = ib_mask_new_from_data (project->picture->width, project->picture->height, mask_data,
                                        project->picture->width);
  IbDocument *self = document_new (project->picture, project->original, mask,
                                   project->title != NULL ? project->title : title);
  ib_history_set_steps (self->history, project->steps, project->n_steps, project->n_done);
  self->source = project->source_uri != NULL ? g_file_new_for_uri (project->source_uri) : NULL;
  self->recipe = g_strdup (project->recipe);
  self->settings_json = g_strdup (project->settings);
  self->model_path = g_strdup (project->model_path);
  self->model_sha256 = g_strdup (project->model_sha256);
  return self;
}

IbDocument *
ib_document_new_from_project (IbProject *project,
                              GFile     *file,
                              gboolean   modified)
{
  IbDocument *self = document_from_project (project, _("Recovered picture"));
  g_set_object (&self->file, file);
  self->modified = modified;
  return self;
}

IbDocument *
ib_document_new_from_file (GFile   *file,
                           GError **error)
{
  g_return_val_if_fail (G_IS_FILE (file), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  g_autofree char *name = ib_image_io_file_name (file);
  g_autoptr (GError) local = NULL;
  g_autoptr (GFileInputStream) stream = g_file_read (file, NULL, &local);
  guint8 head[8];
  gsize n_read = 0;
  if (stream == NULL || !g_input_stream_read_all (G_INPUT_STREAM (stream), head, sizeof head, &n_read, NULL, &local))
    {
      g_set_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_IO, _("Could not open “%s”: %s"), name,
                   local->message);
      return NULL;
    }
  g_input_stream_close (G_INPUT_STREAM (stream), NULL, NULL);

  if (ib_project_file_has_magic (head, n_read))
    {
      g_autoptr (IbProject) project = ib_project_file_load (file, NULL, error);
      if (project == NULL)
        return NULL;
      g_autofree char *stem = g_str_has_suffix (name, IB_DOCUMENT_PROJECT_EXTENSION)
        ? g_strndup (name, strlen (name) - strlen (IB_DOCUMENT_PROJECT_EXTENSION)) : g_strdup (name);
      /* The project's own name is its title, whatever the picture inside was called. */
      g_clear_pointer (&project->title, g_free);
      IbDocument *self = document_from_project (project, stem);
      self->file = g_object_ref (file);
      return self;
    }

  IbImageInfo info = { 0 };
  g_autoptr (IbEditImage) picture = ib_image_io_load (file, &info, NULL, error);
  if (picture == NULL)
    return NULL;
  IbDocument *self = ib_document_new_from_picture (picture, name);
  self->source = g_object_ref (file);
  if (info.animated)
    self->load_notice = g_strdup_printf (_("“%s” is animated: only its first frame was opened, and saving "
                                           "writes a still picture."), name);
  ib_image_info_clear (&info);
  return self;
}

IbDocument *
ib_document_new_from_texture (GdkTexture *texture,
                              GError    **error)
{
  g_return_val_if_fail (GDK_IS_TEXTURE (texture), NULL);
  g_autoptr (IbEditImage) picture = ib_image_io_load_texture (texture, error);
  if (picture == NULL)
    return NULL;
  IbDocument *self = ib_document_new_from_picture (picture, _("Pasted picture"));
  /* Nothing on disk holds it: closing must ask. */
  self->modified = TRUE;
  return self;
}

const char *
ib_document_get_load_notice (IbDocument *self)
{
  g_return_val_if_fail (IB_IS_DOCUMENT (self), NULL);
  return self->load_notice;
}

IbEditImage *
ib_document_get_picture (IbDocument *self)
{
  g_return_val_if_fail (IB_IS_DOCUMENT (self), NULL);
  return self->picture;
}

GdkTexture *
ib_document_get_texture (IbDocument *self)
{
  g_return_val_if_fail (IB_IS_DOCUMENT (self), NULL);
  if (self->texture == NULL)
    self->texture = ib_image_io_to_texture (self->picture);
  return self->texture;
}

IbEditImage *
ib_document_get_original (IbDocument *self)
{
  g_return_val_if_fail (IB_IS_DOCUMENT (self), NULL);
  return self->original;
}

IbMask *
ib_document_get_mask (IbDocument *self)
{
  g_return_val_if_fail (IB_IS_DOCUMENT (self), NULL);
  return self->mask;
}

IbHistory *
ib_document_get_history (IbDocument *self)
{
  g_return_val_if_fail (IB_IS_DOCUMENT (self), NULL);
  return self->history;
}

GFile *
ib_document_get_file (IbDocument *self)
{
  g_return_val_if_fail (IB_IS_DOCUMENT (self), NULL);
  return self->file;
}

GFile *
ib_document_get_source (IbDocument *self)
{
  g_return_val_if_fail (IB_IS_DOCUMENT (self), NULL);
  return self->source;
}

const char *
ib_document_get_title (IbDocument *self)
{
  g_return_val_if_fail (IB_IS_DOCUMENT (self), NULL);
  return self->title;
}

gboolean
ib_document_get_modified (IbDocument *self)
{
  g_return_val_if_fail (IB_IS_DOCUMENT (self), FALSE);
  return self->modified;
}

GFile *
ib_document_suggest_project_file (IbDocument *self)
{
  g_return_val_if_fail (IB_IS_DOCUMENT (self), NULL);
  GFile *base = self->file != NULL ? self->file : self->source;
  if (base == NULL)
    return NULL;
  g_autofree char *name = g_file_get_basename (base);
  char *dot = strrchr (name, '.');
  if (dot != NULL && dot != name)
    *dot = '\0';
  g_autofree char *project_name = g_strconcat (name, IB_DOCUMENT_PROJECT_EXTENSION, NULL);
  g_autoptr (GFile) parent = g_file_get_parent (base);
  return parent != NULL ? g_file_get_child (parent, project_name) : NULL;
}

const char *
ib_document_get_recipe (IbDocument *self)
{
  g_return_val_if_fail (IB_IS_DOCUMENT (self), NULL);
  return self->recipe;
}

const char *
ib_document_get_settings_json (IbDocument *self)
{
  g_return_val_if_fail (IB_IS_DOCUMENT (self), NULL);
  return self->settings_json;
}

void
ib_document_set_settings_json (IbDocument *self,
                               const char *json)
{
  g_return_if_fail (IB_IS_DOCUMENT (self));
  g_free (self->settings_json);
  self->settings_json = g_strdup (json);
}

void
ib_document_set_model (IbDocument *self,
                       const char *path,
                       const char *sha256)
{
  g_return_if_fail (IB_IS_DOCUMENT (self));
  g_free (self->model_path);
  g_free (self->model_sha256);
  self->model_path = g_strdup (path);
  self->model_sha256 = g_strdup (sha256);
}

const char *
ib_document_get_model_path (IbDocument *self)
{
  g_return_val_if_fail (IB_IS_DOCUMENT (self), NULL);
  return self->model_path;
}

const char *
ib_document_get_model_sha256 (IbDocument *self)
{
  g_return_val_if_fail (IB_IS_DOCUMENT (self), NULL);
  return self->model_sha256;
}

/* Replaces the picture by a copy with patch written at its place. */
static void
patch_picture (IbDocument        *self,
               const IbEditImage *patch)
{
  IbEditImage *next = ib_edit_image_new (0, 0, self->picture->width, self->picture->height);
  memcpy (next->pixels, self->picture->pixels, (gsize) next->stride * next->height);
  for (int y = 0; y < patch->height; y++)
    memcpy (next->pixels + (gsize) (patch->y + y) * next->stride + (gsize) patch->x * 4,
            patch->pixels + (gsize) y * patch->stride, (gsize) patch->width * 4);
  ib_edit_image_unref (self->picture);
  self->picture = next;
  g_clear_object (&self->texture);
  g_signal_emit (self, signals[SIGNAL_PICTURE_CHANGED], 0, patch->x, patch->y, patch->width, patch->height);
}

/* The bounding box of the pixels where a and b (same size) differ; FALSE when none does. */
static gboolean
difference_box (const IbEditImage *a,
                const IbEditImage *b,
                GdkRectangle      *box)
{
  int x0 = G_MAXINT, y0 = G_MAXINT, x1 = -1, y1 = -1;
  for (int y = 0; y < a->height; y++)
    {
      const guint8 *ra = a->pixels + (gsize) y * a->stride, *rb = b->pixels + (gsize) y * b->stride;
      if (memcmp (ra, rb, (gsize) a->width * 4) == 0)
        continue;
      int first = 0, last = a->width - 1;
      while (memcmp (ra + first * 4, rb + first * 4, 4) == 0)
        first++;
      while (memcmp (ra + last * 4, rb + last * 4, 4) == 0)
        last--;
      x0 = MIN (x0, first);
      x1 = MAX (x1, last);
      y0 = MIN (y0, y);
      y1 = y;
    }
  if (x1 < 0)
    return FALSE;
  *box = (GdkRectangle) { x0, y0, x1 - x0 + 1, y1 - y0 + 1 };
  return TRUE;
}

void
ib_document_apply_result (IbDocument  *self,
                          IbEditImage *picture,
                          const char  *recipe)
{
  g_return_if_fail (IB_IS_DOCUMENT (self));
  g_return_if_fail (picture != NULL);
  g_return_if_fail (picture->width == self->picture->width && picture->height == self->picture->height);

  GdkRectangle box;
  if (!difference_box (self->picture, picture, &box))
    return;
  g_autoptr (IbEditImage) before = ib_image_io_copy_region (self->picture, &box);
  g_autoptr (IbEditImage) after = ib_image_io_copy_region (picture, &box);
  g_autoptr (IbHistoryStep) step = ib_history_step_new_picture (before, after, self->recipe, recipe);
  ib_history_push (self->history, step);
  patch_picture (self, after);
  set_recipe (self, recipe);
  set_modified (self, TRUE);
}

guint64
ib_document_get_change_serial (IbDocument *self)
{
  g_return_val_if_fail (IB_IS_DOCUMENT (self), 0);
  return self->change_serial;
}

gboolean
ib_document_can_undo (IbDocument *self)
{
  g_return_val_if_fail (IB_IS_DOCUMENT (self), FALSE);
  return ib_history_can_undo (self->history);
}

gboolean
ib_document_can_redo (IbDocument *self)
{
  g_return_val_if_fail (IB_IS_DOCUMENT (self), FALSE);
  return ib_history_can_redo (self->history);
}

static void
apply_step (IbDocument    *self,
            IbHistoryStep *step,
            gboolean       undo)
{
  if (ib_history_step_get_kind (step) == IB_HISTORY_STEP_PICTURE)
    {
      patch_picture (self, undo ? ib_history_step_get_picture_before (step) : ib_history_step_get_picture_after (step));
      set_recipe (self, undo ? ib_history_step_get_recipe_before (step) : ib_history_step_get_recipe_after (step));
    }
  else if (ib_history_step_get_mask_change (step) != NULL)
    {
      if (undo)
        ib_mask_change_undo (ib_history_step_get_mask_change (step), self->mask);
      else
        ib_mask_change_redo (ib_history_step_get_mask_change (step), self->mask);
    }
  else
    {
      GdkRectangle rect;
      ib_history_step_get_rectangle (step, &rect);
      ib_mask_region_write (self->mask, &rect,
                            undo ? ib_history_step_get_mask_before (step) : ib_history_step_get_mask_after (step));
    }
  set_modified (self, TRUE);
}

gboolean
ib_document_undo (IbDocument *self)
{
  g_return_val_if_fail (IB_IS_DOCUMENT (self), FALSE);
  IbHistoryStep *step = ib_history_undo (self->history);
  if (step == NULL)
    return FALSE;
  apply_step (self, step, TRUE);
  return TRUE;
}

gboolean
ib_document_redo (IbDocument *self)
{
  g_return_val_if_fail (IB_IS_DOCUMENT (self), FALSE);
  IbHistoryStep *step = ib_history_redo (self->history);
  if (step == NULL)
    return FALSE;
  apply_step (self, step, FALSE);
  return TRUE;
}

void
ib_document_set_saved (IbDocument *self,
                       GFile      *file,
                       guint64     serial)
{
  g_return_if_fail (IB_IS_DOCUMENT (self));
  if (self->file == NULL || !g_file_equal (self->file, file))
    {
      g_set_object (&self->file, file);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_FILE]);
    }
  /* Projects are titled by their name without the extension, as when they are opened. */
  g_autofree char *name = ib_image_io_file_name (file);
  g_autofree char *title = g_str_has_suffix (name, IB_DOCUMENT_PROJECT_EXTENSION)
    ? g_strndup (name, strlen (name) - strlen (IB_DOCUMENT_PROJECT_EXTENSION)) : g_strdup (name);
  if (g_strcmp0 (title, self->title) != 0)
    {
      g_free (self->title);
      self->title = g_steal_pointer (&title);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TITLE]);
    }
  if (serial == self->change_serial)
    set_modified (self, FALSE);
}
