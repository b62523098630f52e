/* ib-recovery.c: autosave of modified documents into a recovery folder, and what a crash left there. */
#include "ib-recovery.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "ib-document-private.h"
#include "ib-project-file.h"

#define DEFAULT_INTERVAL 30
/* A temporary file of an autosave (".ID.ibproj.XXXXXX") this old was left by a killed process. */
#define STALE_TEMPORARY_SECONDS (60 * 60)

/* One watched document. Reference counted: an autosave in flight keeps it after the document is gone. */
typedef struct
{
  gatomicrefcount ref_count;
  IbRecovery *recovery;
  IbDocument *doc;              /* NULL once removed; not a reference */
  GFile *file;                  /* its recovery file */
  guint64 saved_serial;         /* the document's change serial at the last autosave */
  gboolean has_file;            /* an autosave wrote the file */
  gboolean saving;
} Watch;

/* Sessions: each running editor holds an flock on a file of its own in "sessions" beside the recovery folder
 * (the kernel releases it however the process ends, SIGKILL included) and names its recovery files
 * SESSION_ID.ibproj, so that another instance (one without D-Bus, which GApplication cannot make unique)
 * never offers a live session's autosaves as a crash's leftovers. */
#define SESSION_SEPARATOR '_'

struct _IbRecovery
{
  GObject parent_instance;

  char *session;                /* this instance's id, the prefix of its recovery files */
  int lock_fd;                  /* its session's lock, held from the first autosave; -1 before */
  GFile *folder;
  guint interval;
  guint timer;
  GHashTable *watches;          /* IbDocument * -> Watch * */
};

G_DEFINE_FINAL_TYPE (IbRecovery, ib_recovery, G_TYPE_OBJECT)

enum
{
  PROP_0,
  PROP_FOLDER,
  PROP_INTERVAL,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

void
ib_recovery_entry_free (IbRecoveryEntry *entry)
{
  if (entry == NULL)
    return;
  g_clear_object (&entry->file);
  g_free (entry->title);
  g_clear_pointer (&entry->time, g_date_time_unref);
  g_free (entry->original_uri);
  g_free (entry);
}

static Watch *
watch_ref (Watch *watch)
{
  g_atomic_ref_count_inc (&watch->ref_count);
  return watch;
}

static void
watch_unref (Watch *watch)
{
  if (!g_atomic_ref_count_dec (&watch->ref_count))
    return;
  g_clear_object (&watch->file);
  g_free (watch);
}

static void
delete_file (GFile *file)
{
  g_autoptr (GError) error = NULL;
  if (!g_file_delete (file, NULL, &error) && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
    g_warning ("Could not delete the recovery file %s: %s", g_file_peek_path (file), error->message);
}

static void doc_finalized_cb (gpointer  user_data,
                              GObject  *where_the_object_was);

static void
unwatch (Watch *watch)
{
  g_signal_handlers_disconnect_by_data (watch->doc, watch);
  g_object_weak_unref (G_OBJECT (watch->doc), doc_finalized_cb, watch);
  watch->doc = NULL;
}

/* A document gone without ib_recovery_remove_document was not closed cleanly: its file stays. */
static void
doc_finalized_cb (gpointer  user_data,
                  GObject  *where_the_object_was)
{
  Watch *watch = user_data;
  IbRecovery *self = watch->recovery;
  watch->doc = NULL;
  g_hash_table_remove (self->watches, where_the_object_was);
}

static void
forget (IbRecovery *self,
        Watch      *watch)
{
  unwatch (watch);
  /* An autosave in flight deletes the file when it is done. */
  if (!watch->saving)
    delete_file (watch->file);
}

static gboolean tick_cb (gpointer user_data);

static void
restart_timer (IbRecovery *self)
{
  g_clear_handle_id (&self->timer, g_source_remove);
  self->timer = g_timeout_add_seconds (self->interval, tick_cb, self);
}

static char *
session_lock_path (IbRecovery *self,
                   const char *session)
{
  g_autoptr (GFile) parent = g_file_get_parent (self->folder);
  g_autofree char *folder = parent != NULL ? g_file_get_path (parent) : NULL;
  g_autofree char *name = g_strconcat (session, ".lock", NULL);
  return folder != NULL ? g_build_filename (folder, "sessions", name, NULL) : NULL;
}

/* Before this session's first file: without the lock (no such folder, a file system without locks) the
 * files are still written, and another instance would take them for a crash's, as before sessions. */
static void
hold_session_lock (IbRecovery *self)
{
  g_autofree char *path = session_lock_path (self, self->session);
  g_autofree char *folder = path != NULL ? g_path_get_dirname (path) : NULL;

  if (self->lock_fd >= 0 || path == NULL || g_mkdir_with_parents (folder, 0700) != 0)
    return;
  int fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd >= 0 && flock (fd, LOCK_EX | LOCK_NB) == 0)
    self->lock_fd = fd;
  else if (fd >= 0)
    close (fd);
}

/* Whether a running instance holds the session's lock (trying to take it; a lock taken goes with the close). */
static gboolean
session_is_live (IbRecovery *self,
                 const char *session)
{
  g_autofree char *path = session_lock_path (self, session);
  int fd = path != NULL ? open (path, O_RDWR | O_CLOEXEC) : -1;

  if (fd < 0)
    return FALSE;
  gboolean live = flock (fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  close (fd);
  return live;
}

/* A clean end: the lock file goes, and whatever files are left are a crash's for the next start. */
static void
release_session_lock (IbRecovery *self)
{
  if (self->lock_fd < 0)
    return;
  g_autofree char *path = session_lock_path (self, self->session);
  g_unlink (path);
  close (self->lock_fd);
  self->lock_fd = -1;
}

static void
ib_recovery_dispose (GObject *object)
{
  IbRecovery *self = IB_RECOVERY (object);
  g_clear_handle_id (&self->timer, g_source_remove);
  if (self->watches != NULL)
    {
      /* Not a clean close of the documents: their recovery files stay. */
      GHashTableIter iter;
      Watch *watch;
      g_hash_table_iter_init (&iter, self->watches);
      while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &watch))
        unwatch (watch);
      g_clear_pointer (&self->watches, g_hash_table_unref);
    }
  if (self->folder != NULL)
    release_session_lock (self);
  g_clear_object (&self->folder);
  G_OBJECT_CLASS (ib_recovery_parent_class)->dispose (object);
}

static void
ib_recovery_finalize (GObject *object)
{
  g_free (IB_RECOVERY (object)->session);
  G_OBJECT_CLASS (ib_recovery_parent_class)->finalize (object);
}

static void
ib_recovery_get_property (GObject    *object,
                          guint       prop_id,
                          GValue     *value,
                          GParamSpec *pspec)
{
  IbRecovery *self = IB_RECOVERY (object);
  switch (prop_id)
    {
    case PROP_FOLDER:
      g_value_set_object (value, self->folder);
      break;
    case PROP_INTERVAL:
      g_value_set_uint (value, self->interval);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
ib_recovery_set_property (GObject      *object,
                          guint         prop_id,
                          const GValue *value,
                          GParamSpec   *pspec)
{
  IbRecovery *self = IB_RECOVERY (object);
  switch (prop_id)
    {
    case PROP_FOLDER:
      self->folder = g_value_dup_object (value);
      break;
    case PROP_INTERVAL:
      ib_recovery_set_interval (self, g_value_get_uint (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
ib_recovery_constructed (GObject *object)
{
  IbRecovery *self = IB_RECOVERY (object);
  G_OBJECT_CLASS (ib_recovery_parent_class)->constructed (object);
  if (self->folder == NULL)
    {
      g_autofree char *path = g_build_filename (g_get_user_state_dir (), "imagebart-studio", "recovery", NULL);
      self->folder = g_file_new_for_path (path);
    }
  restart_timer (self);
}

static void
ib_recovery_class_init (IbRecoveryClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  object_class->dispose = ib_recovery_dispose;
  object_class->finalize = ib_recovery_finalize;
  object_class->get_property = ib_recovery_get_property;
  object_class->set_property = ib_recovery_set_property;
  object_class->constructed = ib_recovery_constructed;

  properties[PROP_FOLDER] = g_param_spec_object ("folder", NULL, NULL, G_TYPE_FILE,
                                                 G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY |
                                                 G_PARAM_STATIC_STRINGS);
  properties[PROP_INTERVAL] = g_param_spec_uint ("interval", NULL, NULL, 5, 600, DEFAULT_INTERVAL,
                                                 G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY |
                                                 G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
ib_recovery_init (IbRecovery *self)
{
  self->interval = DEFAULT_INTERVAL;
  self->session = g_uuid_string_random ();
  self->lock_fd = -1;
  self->watches = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) watch_unref);
}

IbRecovery *
ib_recovery_new (GFile *folder)
{
  g_return_val_if_fail (folder == NULL || G_IS_FILE (folder), NULL);
  return g_object_new (IB_TYPE_RECOVERY, "folder", folder, NULL);
}

GFile *
ib_recovery_get_folder (IbRecovery *self)
{
  g_return_val_if_fail (IB_IS_RECOVERY (self), NULL);
  return self->folder;
}

void
ib_recovery_set_interval (IbRecovery *self,
                          guint       seconds)
{
  g_return_if_fail (IB_IS_RECOVERY (self));
  seconds = CLAMP (seconds, 5, 600);
  if (self->interval == seconds)
    return;
  self->interval = seconds;
  if (self->timer != 0)
    restart_timer (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_INTERVAL]);
}

guint
ib_recovery_get_interval (IbRecovery *self)
{
  g_return_val_if_fail (IB_IS_RECOVERY (self), 0);
  return self->interval;
}

/* The recovery folder exists and is private (the pictures may be). */
static gboolean
ensure_folder (IbRecovery *self,
               GError    **error)
{
  g_autoptr (GError) local = NULL;
  if (!g_file_make_directory_with_parents (self->folder, NULL, &local) &&
      !g_error_matches (local, G_IO_ERROR, G_IO_ERROR_EXISTS))
    {
      g_autofree char *name = g_file_get_parse_name (self->folder);
      g_set_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_IO,
                   _("Could not make the recovery folder “%s”: %s"), name, local->message);
      return FALSE;
    }
  if (local == NULL)
    g_file_set_attribute_uint32 (self->folder, G_FILE_ATTRIBUTE_UNIX_MODE, 0700, G_FILE_QUERY_INFO_NONE, NULL,
                                 NULL);
  hold_session_lock (self);
  return TRUE;
}

static void
modified_cb (IbDocument *doc,
             GParamSpec *pspec,
             Watch      *watch)
{
  /* Saved: what is on disk is the document; nothing to recover. */
  if (!ib_document_get_modified (doc) && !watch->saving)
    {
      delete_file (watch->file);
      watch->has_file = FALSE;
      watch->saved_serial = ib_document_get_change_serial (doc);
    }
}

void
ib_recovery_add_document (IbRecovery *self,
                          IbDocument *doc)
{
  g_return_if_fail (IB_IS_RECOVERY (self));
  g_return_if_fail (IB_IS_DOCUMENT (doc));
  if (g_hash_table_contains (self->watches, doc))
    return;

  Watch *watch = g_new0 (Watch, 1);
  g_atomic_ref_count_init (&watch->ref_count);
  watch->recovery = self;
  watch->doc = doc;
  g_object_weak_ref (G_OBJECT (doc), doc_finalized_cb, watch);
  g_autofree char *id = g_uuid_string_random ();
  g_autofree char *name = g_strdup_printf ("%s%c%s" IB_DOCUMENT_PROJECT_EXTENSION, self->session, SESSION_SEPARATOR,
                                           id);
  watch->file = g_file_get_child (self->folder, name);
  /* A document that is not modified has nothing to autosave until it changes. */
  watch->saved_serial = ib_document_get_modified (doc) ? G_MAXUINT64 : ib_document_get_change_serial (doc);
  g_signal_connect (doc, "notify::modified", G_CALLBACK (modified_cb), watch);
  g_hash_table_insert (self->watches, doc, watch);
}

void
ib_recovery_remove_document (IbRecovery *self,
                             IbDocument *doc)
{
  g_return_if_fail (IB_IS_RECOVERY (self));
  Watch *watch = g_hash_table_lookup (self->watches, doc);
  if (watch == NULL)
    return;
  forget (self, watch);
  g_hash_table_remove (self->watches, doc);
}

static gboolean
needs_autosave (Watch *watch)
{
  return watch->doc != NULL && !watch->saving && ib_document_get_modified (watch->doc) &&
         ib_document_get_change_serial (watch->doc) != watch->saved_serial;
}

typedef struct
{
  Watch *watch;
  IbProject *project;
  guint64 serial;
} AutosaveData;

static void
autosave_data_free (AutosaveData *data)
{
  watch_unref (data->watch);
  ib_project_free (data->project);
  g_free (data);
}

static AutosaveData *
autosave_begin (Watch *watch)
{
  AutosaveData *data = g_new0 (AutosaveData, 1);
  data->watch = watch_ref (watch);
  data->serial = ib_document_get_change_serial (watch->doc);
  data->project = ib_document_snapshot (watch->doc);
  watch->saving = TRUE;
  return data;
}

static void
autosave_end (AutosaveData *data,
              gboolean      saved)
{
  Watch *watch = data->watch;
  watch->saving = FALSE;
  if (saved)
    watch->has_file = TRUE;
  /* Closed or saved meanwhile: the file written is stale. */
  if (watch->doc == NULL || !ib_document_get_modified (watch->doc))
    {
      delete_file (watch->file);
      watch->has_file = FALSE;
    }
  else if (saved)
    watch->saved_serial = data->serial;
}

static void
autosave_thread (GTask        *task,
                 gpointer      source_object,
                 gpointer      task_data,
                 GCancellable *cancellable)
{
  AutosaveData *data = task_data;
  GError *error = NULL;
  if (ib_project_file_save (data->project, data->watch->file, cancellable, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

static void
autosave_done_cb (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr (GError) error = NULL;
  gboolean saved = g_task_propagate_boolean (G_TASK (result), &error);
  if (!saved)
    g_warning ("Autosave failed: %s", error->message);
  autosave_end (g_task_get_task_data (G_TASK (result)), saved);
}

static gboolean
tick_cb (gpointer user_data)
{
  IbRecovery *self = user_data;
  GHashTableIter iter;
  Watch *watch;
  gboolean folder_ready = FALSE;

  g_hash_table_iter_init (&iter, self->watches);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &watch))
    {
      if (!needs_autosave (watch))
        continue;
      g_autoptr (GError) error = NULL;
      if (!folder_ready && !(folder_ready = ensure_folder (self, &error)))
        {
          g_warning ("%s", error->message);
          break;
        }
      g_autoptr (GTask) task = g_task_new (self, NULL, autosave_done_cb, NULL);
      g_task_set_task_data (task, autosave_begin (watch), (GDestroyNotify) autosave_data_free);
      g_task_run_in_thread (task, autosave_thread);
    }
  return G_SOURCE_CONTINUE;
}

gboolean
ib_recovery_save_now (IbRecovery *self,
                      GError    **error)
{
  g_return_val_if_fail (IB_IS_RECOVERY (self), FALSE);
  GHashTableIter iter;
  Watch *watch;
  gboolean ok = TRUE;

  g_hash_table_iter_init (&iter, self->watches);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &watch))
    {
      if (!needs_autosave (watch))
        continue;
      if (!ensure_folder (self, error))
        return FALSE;
      AutosaveData *data = autosave_begin (watch);
      GError *local = NULL;
      gboolean saved = ib_project_file_save (data->project, watch->file, NULL, &local);
      autosave_end (data, saved);
      autosave_data_free (data);
      if (!saved)
        {
          if (ok)
            g_propagate_error (error, local);
          else
            g_error_free (local);
          ok = FALSE;
        }
    }
  return ok;
}

static int
compare_newest_first (gconstpointer a,
                      gconstpointer b)
{
  const IbRecoveryEntry *ea = *(IbRecoveryEntry **) a, *eb = *(IbRecoveryEntry **) b;
  return g_date_time_compare (eb->time, ea->time);
}

GPtrArray *
ib_recovery_list (IbRecovery *self)
{
  g_return_val_if_fail (IB_IS_RECOVERY (self), NULL);
  GPtrArray *entries = g_ptr_array_new_with_free_func ((GDestroyNotify) ib_recovery_entry_free);
  g_autoptr (GFileEnumerator) enumerator = g_file_enumerate_children (self->folder,
                                                                      G_FILE_ATTRIBUTE_STANDARD_NAME ","
                                                                      G_FILE_ATTRIBUTE_TIME_MODIFIED,
                                                                      G_FILE_QUERY_INFO_NONE, NULL, NULL);
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  if (enumerator == NULL)
    return entries;

  /* This session's own files are not a crash's leftovers. */
  g_autoptr (GHashTable) own = g_hash_table_new (g_file_hash, (GEqualFunc) g_file_equal);
  GHashTableIter iter;
  Watch *watch;
  g_hash_table_iter_init (&iter, self->watches);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &watch))
    g_hash_table_add (own, watch->file);

  GFileInfo *info;
  while ((info = g_file_enumerator_next_file (enumerator, NULL, NULL)) != NULL)
    {
      g_autoptr (GFileInfo) owned_info = info;
      const char *name = g_file_info_get_name (info);
      if (name[0] == '.' && strstr (name, IB_DOCUMENT_PROJECT_EXTENSION ".") != NULL &&
          now - (gint64) g_file_info_get_attribute_uint64 (info, G_FILE_ATTRIBUTE_TIME_MODIFIED) >
            STALE_TEMPORARY_SECONDS)
        {
          g_autoptr (GFile) stale = g_file_get_child (self->folder, name);
          delete_file (stale);
          continue;
        }
      if (!g_str_has_suffix (name, IB_DOCUMENT_PROJECT_EXTENSION) || name[0] == '.')
        continue;
      g_autoptr (GFile) file = g_file_get_child (self->folder, name);
      if (g_hash_table_contains (own, file))
        continue;
      /* Another running instance's autosave (or this one's, of a document already closed) is no leftover. */
      const char *separator = strchr (name, SESSION_SEPARATOR);
      g_autofree char *session = separator != NULL ? g_strndup (name, separator - name) : NULL;
      if (session != NULL && (strcmp (session, self->session) == 0 || session_is_live (self, session)))
        continue;
      g_autofree char *title = NULL, *file_uri = NULL, *source_uri = NULL;
      gint64 saved_time = 0;
      if (!ib_project_file_read_summary (file, &title, &saved_time, &file_uri, &source_uri, NULL))
        continue;
      IbRecoveryEntry *entry = g_new0 (IbRecoveryEntry, 1);
      entry->file = g_steal_pointer (&file);
      entry->title = title != NULL ? g_steal_pointer (&title) : g_strdup (_("Untitled picture"));
      g_autoptr (GDateTime) seconds = g_date_time_new_from_unix_local (saved_time / G_USEC_PER_SEC);
      entry->time = g_date_time_add (seconds, saved_time % G_USEC_PER_SEC);
      entry->original_uri = file_uri != NULL ? g_steal_pointer (&file_uri) : g_steal_pointer (&source_uri);
      g_ptr_array_add (entries, entry);
    }
  g_ptr_array_sort (entries, compare_newest_first);
  return entries;
}

IbDocument *
ib_recovery_restore (IbRecovery      *self,
                     IbRecoveryEntry *entry,
                     GError         **error)
{
  g_return_val_if_fail (IB_IS_RECOVERY (self), NULL);
  g_return_val_if_fail (entry != NULL, NULL);
  g_autoptr (IbProject) project = ib_project_file_load (entry->file, NULL, error);
  if (project == NULL)
    return NULL;
  g_autoptr (GFile) file = project->file_uri != NULL ? g_file_new_for_uri (project->file_uri) : NULL;
  return ib_document_new_from_project (project, file, TRUE);
}

gboolean
ib_recovery_discard (IbRecovery      *self,
                     IbRecoveryEntry *entry,
                     GError         **error)
{
  g_return_val_if_fail (IB_IS_RECOVERY (self), FALSE);
  g_return_val_if_fail (entry != NULL, FALSE);
  g_autoptr (GError) local = NULL;
  if (!g_file_delete (entry->file, NULL, &local) && !g_error_matches (local, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
    {
      g_set_error (error, IB_DOCUMENT_ERROR, IB_DOCUMENT_ERROR_IO, _("Could not discard the recovered “%s”: %s"),
                   entry->title, local->message);
      return FALSE;
    }
  return TRUE;
}
