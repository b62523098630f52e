/* ib-loaded-model.c: a model file opened off the UI thread and shared by reference. */
#include "ib-loaded-model.h"

struct _IbLoadedModel
{
  GObject parent_instance;

  IbModelFile *file;
  char *name;
  const char *sha256;                  /* owned by the file; NULL until hashed */
  gboolean hashing;
};

G_DEFINE_FINAL_TYPE (IbLoadedModel, ib_loaded_model, G_TYPE_OBJECT)

static void
ib_loaded_model_finalize (GObject *object)
{
  IbLoadedModel *self = IB_LOADED_MODEL (object);

  g_clear_pointer (&self->file, ib_model_file_free);
  g_free (self->name);
  G_OBJECT_CLASS (ib_loaded_model_parent_class)->finalize (object);
}

static void
ib_loaded_model_class_init (IbLoadedModelClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = ib_loaded_model_finalize;
}

static void
ib_loaded_model_init (IbLoadedModel *self)
{
}

IbLoadedModel *
ib_loaded_model_open (const char  *path,
                      GError     **error)
{
  IbLoadedModel *self;
  IbModelFile *file;
  const IbModelConfig *config;

  g_return_val_if_fail (path != NULL, NULL);

  file = ib_model_file_open (path, error);
  if (file == NULL)
    return NULL;
  self = g_object_new (IB_TYPE_LOADED_MODEL, NULL);
  self->file = file;
  config = ib_model_file_get_config (file);
  if (config->name != NULL && config->name[0] != '\0')
    self->name = g_strdup (config->name);
  else
    self->name = g_path_get_basename (path);
  return self;
}

static void
open_thread (GTask        *task,
             gpointer      source_object,
             gpointer      task_data,
             GCancellable *cancellable)
{
  GError *error = NULL;
  IbLoadedModel *model = ib_loaded_model_open (task_data, &error);

  if (model == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, model, g_object_unref);
}

void
ib_loaded_model_open_async (const char          *path,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (path != NULL);

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, ib_loaded_model_open_async);
  /* A stale load (the user picked another model meanwhile) reports cancelled, never its model. */
  g_task_set_return_on_cancel (task, TRUE);
  g_task_set_task_data (task, g_strdup (path), g_free);
  g_task_run_in_thread (task, open_thread);
}

IbLoadedModel *
ib_loaded_model_open_finish (GAsyncResult  *result,
                             GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

IbModelFile *
ib_loaded_model_get_file (IbLoadedModel *self)
{
  g_return_val_if_fail (IB_IS_LOADED_MODEL (self), NULL);
  return self->file;
}

const IbModelConfig *
ib_loaded_model_get_config (IbLoadedModel *self)
{
  g_return_val_if_fail (IB_IS_LOADED_MODEL (self), NULL);
  return ib_model_file_get_config (self->file);
}

const char *
ib_loaded_model_get_path (IbLoadedModel *self)
{
  g_return_val_if_fail (IB_IS_LOADED_MODEL (self), NULL);
  return ib_model_file_get_path (self->file);
}

const char *
ib_loaded_model_get_name (IbLoadedModel *self)
{
  g_return_val_if_fail (IB_IS_LOADED_MODEL (self), NULL);
  return self->name;
}

static void
hash_thread (GTask        *task,
             gpointer      source_object,
             gpointer      task_data,
             GCancellable *cancellable)
{
  IbLoadedModel *self = source_object;

  /* Computed once (thread safe) and owned by the file, which the task's reference keeps alive. */
  g_task_return_pointer (task, (gpointer) ib_model_file_get_sha256 (self->file), NULL);
}

void
ib_loaded_model_hash_async (IbLoadedModel       *self,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (IB_IS_LOADED_MODEL (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, ib_loaded_model_hash_async);
  g_task_run_in_thread (task, hash_thread);
}

const char *
ib_loaded_model_hash_finish (IbLoadedModel  *self,
                             GAsyncResult   *result,
                             GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
background_hash_cb (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  IbLoadedModel *self = IB_LOADED_MODEL (source);

  self->sha256 = ib_loaded_model_hash_finish (self, result, NULL);
}

void
ib_loaded_model_start_hashing (IbLoadedModel *self)
{
  g_return_if_fail (IB_IS_LOADED_MODEL (self));

  if (self->hashing)
    return;
  self->hashing = TRUE;
  /* The task holds a reference to the model until it is done. */
  ib_loaded_model_hash_async (self, NULL, background_hash_cb, NULL);
}

const char *
ib_loaded_model_peek_sha256 (IbLoadedModel *self)
{
  g_return_val_if_fail (IB_IS_LOADED_MODEL (self), NULL);
  return self->sha256;
}
