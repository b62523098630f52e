/* ib-atomic-file.c: atomic replacement of a file: temporary file in the same folder, fsync, rename. */
#include "ib-atomic-file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ib-document-error.h"

G_DEFINE_QUARK (ib-document-error-quark, ib_document_error)

/* Writes are issued in slices so that a cancellation is seen within one slice. */
#define WRITE_SLICE ((gsize) 4 << 20)

/* An injected write failure: after budget bytes (-1: never, always in release builds) writes fail with
 * errno_value. */
typedef struct
{
  gint64 budget;
  int errno_value;
} WriteFault;

/* IMAGEBART_FAULT_WRITE=N (a full disk after N bytes) or N:EIO (an I/O error after N bytes). */
static WriteFault
write_fault_from_env (void)
{
  WriteFault fault = { -1, ENOSPC };
#ifndef NDEBUG
  const char *value = g_getenv ("IMAGEBART_FAULT_WRITE");
  if (value == NULL)
    return fault;
  g_auto (GStrv) parts = g_strsplit (value, ":", 2);
  guint64 budget;
  if (!g_ascii_string_to_unsigned (parts[0], 10, 0, G_MAXINT64, &budget, NULL))
    return fault;
  fault.budget = (gint64) budget;
  if (parts[1] != NULL && g_ascii_strcasecmp (parts[1], "EIO") == 0)
    fault.errno_value = EIO;
#endif
  return fault;
}

static gboolean
set_write_error (GError    **error,
                 GFile      *file,
                 int         saved_errno)
{
  g_autofree char *name = g_file_get_parse_name (file);
  if (saved_errno == ENOSPC || saved_errno == EDQUOT)
    g_set_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_NO_SPACE,
                 _("Could not save “%s”: the disk is full. The previous file was left as it was."), name);
  else
    g_set_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_IO, _("Could not save “%s”: %s"), name,
                 g_strerror (saved_errno));
  return FALSE;
}

/* write() all of data to fd, honouring the injected fault; FALSE with errno set. */
static gboolean
write_all (int           fd,
           const guint8 *data,
           gsize         length,
           WriteFault   *fault,
           GCancellable *cancellable,
           GError      **error)
{
  while (length > 0)
    {
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return FALSE;
      gsize slice = MIN (length, WRITE_SLICE);
      gboolean fails = FALSE;
      if (fault->budget >= 0 && (guint64) fault->budget < slice)
        {
          slice = (gsize) fault->budget;
          fails = TRUE;
        }
      gssize written = slice > 0 ? write (fd, data, slice) : 0;
      if (written < 0)
        {
          if (errno == EINTR)
            continue;
          return FALSE;
        }
      if (fault->budget >= 0)
        fault->budget -= written;
      if (fails && (gsize) written == slice)
        {
          errno = fault->errno_value;
          return FALSE;
        }
      data += written;
      length -= (gsize) written;
    }
  return TRUE;
}

static gboolean
write_local (GFile        *file,
             const char   *path,
             const void   *data,
             gsize         length,
             GCancellable *cancellable,
             GError      **error)
{
  g_autofree char *folder = g_path_get_dirname (path);
  g_autofree char *base = g_path_get_basename (path);
  g_autofree char *base_tmp = g_strdup_printf (".%s.XXXXXX", base);
  g_autofree char *tmp_path = g_build_filename (folder, base_tmp, NULL);

  int fd = g_mkstemp_full (tmp_path, O_WRONLY | O_CLOEXEC, 0666);
  if (fd < 0)
    return set_write_error (error, file, errno);

  /* mkstemp makes the file 0600; a replaced file keeps its mode, a new one gets the usual 0666 & ~umask. */
  struct stat old;
  mode_t mode;
  if (stat (path, &old) == 0)
    mode = old.st_mode & 07777;
  else
    {
      mode_t mask = umask (0);
      umask (mask);
      mode = 0666 & ~mask;
    }

  WriteFault fault = write_fault_from_env ();
  g_autoptr (GError) local = NULL;
  int saved_errno = 0;
  if (fchmod (fd, mode) != 0 || !write_all (fd, data, length, &fault, cancellable, &local) || fsync (fd) != 0)
    saved_errno = errno;
  if (close (fd) != 0 && saved_errno == 0 && local == NULL)
    saved_errno = errno;
  if (saved_errno == 0 && local == NULL && g_rename (tmp_path, path) != 0)
    saved_errno = errno;
  if (saved_errno != 0 || local != NULL)
    {
      g_unlink (tmp_path);
      if (local != NULL)
        {
          g_propagate_error (error, g_steal_pointer (&local));
          return FALSE;
        }
      return set_write_error (error, file, saved_errno);
    }

  /* The rename itself is durable only once the folder is synced; failing that is not worth an error. */
  int dir_fd = open (folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0)
    {
      fsync (dir_fd);
      close (dir_fd);
    }
  return TRUE;
}

/* Files without a local path (GVfs): g_file_replace writes a temporary file and renames it on close; a
 * close with a cancelled cancellable drops the temporary file and keeps the old one. */
static gboolean
write_remote (GFile        *file,
              const void   *data,
              gsize         length,
              GCancellable *cancellable,
              GError      **error)
{
  g_autoptr (GError) local = NULL;
  g_autoptr (GFileOutputStream) stream = g_file_replace (file, NULL, FALSE, G_FILE_CREATE_NONE, cancellable,
                                                         &local);
  if (stream == NULL)
    {
      g_autofree char *name = g_file_get_parse_name (file);
      g_set_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_IO, _("Could not save “%s”: %s"), name,
                   local->message);
      return FALSE;
    }
  WriteFault fault = write_fault_from_env ();
  gsize limit = fault.budget >= 0 ? MIN (length, (gsize) fault.budget) : length;
  gsize written = 0;
  if (g_output_stream_write_all (G_OUTPUT_STREAM (stream), data, limit, &written, cancellable, &local) &&
      limit == length && g_output_stream_close (G_OUTPUT_STREAM (stream), cancellable, &local))
    return TRUE;

  g_autoptr (GCancellable) abort = g_cancellable_new ();
  g_cancellable_cancel (abort);
  g_output_stream_close (G_OUTPUT_STREAM (stream), abort, NULL);
  if (local == NULL)
    return set_write_error (error, file, fault.errno_value);
  g_autofree char *name = g_file_get_parse_name (file);
  g_set_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_IO, _("Could not save “%s”: %s"), name,
               local->message);
  return FALSE;
}

/* A symbolic link is followed: its target is replaced and the link kept (a rename would replace the link). */
static char *
resolve_link (const char *path)
{
  struct stat st;
  if (lstat (path, &st) != 0 || !S_ISLNK (st.st_mode))
    return g_strdup (path);
  char *target = realpath (path, NULL);
  if (target == NULL)
    return g_strdup (path);
  char *copy = g_strdup (target);
  free (target);
  return copy;
}

gboolean
ib_atomic_file_write (GFile         *file,
                      const void    *data,
                      gsize          length,
                      GCancellable  *cancellable,
                      GError       **error)
{
  g_return_val_if_fail (G_IS_FILE (file), FALSE);
  g_return_val_if_fail (data != NULL || length == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  const char *path = g_file_peek_path (file);
  if (path != NULL)
    {
      g_autofree char *target = resolve_link (path);
      return write_local (file, target, data, length, cancellable, error);
    }
  return write_remote (file, data, length, cancellable, error);
}

gboolean
ib_atomic_file_write_bytes (GFile         *file,
                            GBytes        *bytes,
                            GCancellable  *cancellable,
                            GError       **error)
{
  g_return_val_if_fail (bytes != NULL, FALSE);
  gsize length;
  const void *data = g_bytes_get_data (bytes, &length);
  return ib_atomic_file_write (file, data != NULL ? data : "", length, cancellable, error);
}
