/* ib-loaded-model.h: a model file opened off the UI thread and shared by reference.
 *
 * The model file is mapped and validated on a worker thread (seconds for a large model), then handed to the
 * UI as a GObject: the window, its panel and every running job hold a reference, so switching models while a
 * job runs never frees the file under it. */
#pragma once

#include <gio/gio.h>

#include "ib-model-file.h"

G_BEGIN_DECLS

#define IB_TYPE_LOADED_MODEL (ib_loaded_model_get_type ())
G_DECLARE_FINAL_TYPE (IbLoadedModel, ib_loaded_model, IB, LOADED_MODEL, GObject)

void                 ib_loaded_model_open_async   (const char          *path,
                                                   GCancellable        *cancellable,
                                                   GAsyncReadyCallback  callback,
                                                   gpointer             user_data);
IbLoadedModel       *ib_loaded_model_open_finish  (GAsyncResult        *result,
                                                   GError             **error);
/* The same in the calling thread (tests). */
IbLoadedModel       *ib_loaded_model_open         (const char          *path,
                                                   GError             **error);

IbModelFile         *ib_loaded_model_get_file     (IbLoadedModel       *self);
const IbModelConfig *ib_loaded_model_get_config   (IbLoadedModel       *self);
const char          *ib_loaded_model_get_path     (IbLoadedModel       *self);
/* The config's name, or the file's base name when it has none. */
const char          *ib_loaded_model_get_name     (IbLoadedModel       *self);

/* SHA-256 of the whole file (lowercase hex), hashed on a worker thread the first time. */
void                 ib_loaded_model_hash_async   (IbLoadedModel       *self,
                                                   GCancellable        *cancellable,
                                                   GAsyncReadyCallback  callback,
                                                   gpointer             user_data);
const char          *ib_loaded_model_hash_finish  (IbLoadedModel       *self,
                                                   GAsyncResult        *result,
                                                   GError             **error);

/* Starts hashing in the background (once); until it is done, peek gives NULL. Results record the hash of
 * the model that made them, without waiting for it. */
void                 ib_loaded_model_start_hashing (IbLoadedModel  *self);
const char          *ib_loaded_model_peek_sha256  (IbLoadedModel       *self);

G_END_DECLS
