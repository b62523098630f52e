/* ib-document-save.c: a document as a project (snapshot), and its saving and export on a thread. */
#include "ib-document.h"

#include "ib-document-private.h"
#include "ib-image-io.h"
#include "ib-mask-region.h"
#include "ib-project-file.h"

/* Canvas changes hold their pixels privately; a project needs them as pixels. They are converted in place
 * (the same memory), by replaying them on a copy of the mask: back from the current mask for the done ones,
 * forward for the undone ones. Canvas changes always form the newest steps: a new step clears the redo side
 * and every snapshot converts them all. */
static void
convert_mask_changes (IbDocument *self)
{
  IbHistory *history = ib_document_get_history (self);
  IbMask *mask = ib_document_get_mask (self);
  guint n_steps = ib_history_get_n_steps (history), n_done = ib_history_get_n_done (history);
  int stride;
  const guint8 *data = ib_mask_get_data (mask, &stride);
  int width = ib_mask_get_width (mask), height = ib_mask_get_height (mask);

  g_autoptr (IbMask) walk = NULL;
  for (guint i = n_done; i-- > 0;)
    {
      IbHistoryStep *step = ib_history_get_step (history, i);
      IbMaskChange *change = ib_history_step_get_mask_change (step);
      if (ib_history_step_get_kind (step) != IB_HISTORY_STEP_MASK)
        continue;
      if (change == NULL)
        break;
      if (walk == NULL)
        walk = ib_mask_new_from_data (width, height, data, stride);
      GdkRectangle rect;
      ib_history_step_get_rectangle (step, &rect);
      g_autoptr (GBytes) after = ib_mask_region_read (walk, &rect);
      ib_mask_change_undo (change, walk);
      g_autoptr (GBytes) before = ib_mask_region_read (walk, &rect);
      g_autoptr (IbHistoryStep) pixels = ib_history_step_new_mask_pixels (&rect, before, after);
      ib_history_replace_step (history, i, pixels);
    }

  gboolean live_redo = FALSE;
  for (guint i = n_done; i < n_steps; i++)
    live_redo |= ib_history_step_get_mask_change (ib_history_get_step (history, i)) != NULL;
  if (!live_redo)
    return;
  g_clear_object (&walk);
  walk = ib_mask_new_from_data (width, height, data, stride);
  for (guint i = n_done; i < n_steps; i++)
    {
      IbHistoryStep *step = ib_history_get_step (history, i);
      IbMaskChange *change = ib_history_step_get_mask_change (step);
      GdkRectangle rect;
      if (ib_history_step_get_kind (step) != IB_HISTORY_STEP_MASK)
        continue;
      ib_history_step_get_rectangle (step, &rect);
      if (change == NULL)
        {
          ib_mask_region_write (walk, &rect, ib_history_step_get_mask_after (step));
          continue;
        }
      g_autoptr (GBytes) before = ib_mask_region_read (walk, &rect);
      ib_mask_change_redo (change, walk);
      g_autoptr (GBytes) after = ib_mask_region_read (walk, &rect);
      g_autoptr (IbHistoryStep) pixels = ib_history_step_new_mask_pixels (&rect, before, after);
      ib_history_replace_step (history, i, pixels);
    }
}

IbProject *
ib_document_snapshot (IbDocument *self)
{
  g_return_val_if_fail (IB_IS_DOCUMENT (self), NULL);

  convert_mask_changes (self);
  IbHistory *history = ib_document_get_history (self);
  IbEditImage *picture = ib_document_get_picture (self);
  GFile *source = ib_document_get_source (self), *file = ib_document_get_file (self);
  IbProject *project = ib_project_new ();
  project->picture = ib_edit_image_ref (picture);
  project->original = ib_edit_image_ref (ib_document_get_original (self));
  GdkRectangle whole = { 0, 0, picture->width, picture->height };
  project->mask = ib_mask_region_read (ib_document_get_mask (self), &whole);
  project->n_steps = ib_history_get_n_steps (history);
  project->n_done = ib_history_get_n_done (history);
  project->steps = g_new (IbHistoryStep *, MAX (project->n_steps, 1));
  for (guint i = 0; i < project->n_steps; i++)
    project->steps[i] = ib_history_step_ref (ib_history_get_step (history, i));
  project->title = g_strdup (ib_document_get_title (self));
  project->source_uri = source != NULL ? g_file_get_uri (source) : NULL;
  project->file_uri = file != NULL ? g_file_get_uri (file) : NULL;
  project->recipe = g_strdup (ib_document_get_recipe (self));
  project->settings = g_strdup (ib_document_get_settings_json (self));
  project->model_path = g_strdup (ib_document_get_model_path (self));
  project->model_sha256 = g_strdup (ib_document_get_model_sha256 (self));
  return project;
}

typedef struct
{
  IbProject *project;
  GFile *file;
  gboolean png;                 /* else a project */
  IbExportFormat format;        /* exports */
  int quality;
  guint64 serial;
} SaveData;

static void
save_data_free (SaveData *data)
{
  ib_project_free (data->project);
  g_clear_object (&data->file);
  g_free (data);
}

static void
save_thread (GTask        *task,
             gpointer      source_object,
             gpointer      task_data,
             GCancellable *cancellable)
{
  SaveData *data = task_data;
  GError *error = NULL;
  gboolean saved;
  if (data->png)
    saved = ib_image_io_save_png (data->project->picture, data->project->recipe, data->file, cancellable, &error);
  else if (data->format == IB_EXPORT_JPEG)
    saved = ib_image_io_save_jpeg (data->project->picture, data->quality, data->file, cancellable, &error);
  else
    saved = ib_project_file_save (data->project, data->file, cancellable, &error);
  if (saved)
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

/* Back on the main thread: the document takes the file, and is unmodified if nothing changed meanwhile. */
static void
save_done_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  IbDocument *self = IB_DOCUMENT (object);
  g_autoptr (GTask) outer = user_data;
  SaveData *data = g_task_get_task_data (G_TASK (result));
  GError *error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      g_task_return_error (outer, error);
      return;
    }
  ib_document_set_saved (self, data->file, data->serial);
  g_task_return_boolean (outer, TRUE);
}

void
ib_document_save_async (IbDocument          *self,
                        GFile               *file,
                        GCancellable        *cancellable,
                        GAsyncReadyCallback  callback,
                        gpointer             user_data)
{
  g_return_if_fail (IB_IS_DOCUMENT (self));
  g_return_if_fail (G_IS_FILE (file));

  GTask *outer = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (outer, ib_document_save_async);

  SaveData *data = g_new0 (SaveData, 1);
  data->project = ib_document_snapshot (self);
  data->file = g_object_ref (file);
  g_autofree char *name = g_file_get_basename (file);
  g_autofree char *lower = name != NULL ? g_ascii_strdown (name, -1) : NULL;
  data->png = lower != NULL && g_str_has_suffix (lower, ".png");
  data->format = IB_EXPORT_PNG;
  data->serial = ib_document_get_change_serial (self);

  g_autoptr (GTask) inner = g_task_new (self, cancellable, save_done_cb, outer);
  g_task_set_task_data (inner, data, (GDestroyNotify) save_data_free);
  g_task_run_in_thread (inner, save_thread);
}

gboolean
ib_document_save_finish (IbDocument   *self,
                         GAsyncResult *result,
                         GError      **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

void
ib_document_export_async (IbDocument          *self,
                          GFile               *file,
                          IbExportFormat       format,
                          int                  quality,
                          GCancellable        *cancellable,
                          GAsyncReadyCallback  callback,
                          gpointer             user_data)
{
  g_return_if_fail (IB_IS_DOCUMENT (self));
  g_return_if_fail (G_IS_FILE (file));
  g_return_if_fail (format != IB_EXPORT_JPEG || (quality >= 1 && quality <= 100));

  SaveData *data = g_new0 (SaveData, 1);
  data->project = ib_project_new ();
  data->project->picture = ib_edit_image_ref (ib_document_get_picture (self));
  data->project->recipe = g_strdup (ib_document_get_recipe (self));
  data->file = g_object_ref (file);
  data->png = format == IB_EXPORT_PNG;
  data->format = format;
  data->quality = quality;

  g_autoptr (GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, ib_document_export_async);
  g_task_set_task_data (task, data, (GDestroyNotify) save_data_free);
  g_task_run_in_thread (task, save_thread);
}

gboolean
ib_document_export_finish (IbDocument   *self,
                           GAsyncResult *result,
                           GError      **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}
