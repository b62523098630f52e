/* ib-atomic-file.h: the one function every save of the editor goes through.
 *
 * A write goes to a temporary file in the target's folder (".NAME.XXXXXX"), is flushed to disk (fsync) and
 * renamed over the target, then the folder is synced: after a crash or power loss at any moment the target is
 * either the old or the new complete file. A failed write (disk full, cancelled, permissions) leaves the old
 * file untouched and removes the temporary one. An existing target's permissions are kept.
 *
 * Debug builds only (NDEBUG not defined): the environment variable IMAGEBART_FAULT_WRITE=N makes every write
 * fail with ENOSPC after N bytes, and IMAGEBART_FAULT_WRITE=N:EIO with an I/O error, so that tests can check
 * what a full or failing disk does. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

gboolean ib_atomic_file_write       (GFile         *file,
                                     const void    *data,
                                     gsize          length,
                                     GCancellable  *cancellable,
                                     GError       **error);

gboolean ib_atomic_file_write_bytes (GFile         *file,
                                     GBytes        *bytes,
                                     GCancellable  *cancellable,
                                     GError       **error);

G_END_DECLS
