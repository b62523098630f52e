/* ib-recovery.h: autosave of modified documents and their recovery after a crash.
 *
 * Every autosave-interval seconds (GSettings; set by the caller), each registered document that changed
 * since its last autosave is written as a project file into the recovery folder
 * (g_get_user_state_dir ()/imagebart-studio/recovery/, or another for tests), atomically, on a thread. A
 * clean close (ib_recovery_remove_document) deletes its file. At start, ib_recovery_list gives the sessions
 * left by a crash, newest first, for the shell to offer; restoring one makes a document of it, and
 * discarding deletes it. */
#pragma once

#include <gio/gio.h>

#include "ib-document.h"

G_BEGIN_DECLS

typedef struct
{
  GFile *file;                  /* the recovery project file */
  char *title;                  /* the document's title when it was autosaved */
  GDateTime *time;              /* when it was autosaved (local time) */
  char *original_uri;           /* the file the document was saved to or opened from, or NULL */
} IbRecoveryEntry;

void             ib_recovery_entry_free    (IbRecoveryEntry  *entry);

#define IB_TYPE_RECOVERY (ib_recovery_get_type ())
G_DECLARE_FINAL_TYPE (IbRecovery, ib_recovery, IB, RECOVERY, GObject)

/* folder: NULL for the user's state folder. Property "interval" (seconds, 5..600, default 30). */
IbRecovery      *ib_recovery_new           (GFile            *folder);
GFile           *ib_recovery_get_folder    (IbRecovery       *recovery);
void             ib_recovery_set_interval  (IbRecovery       *recovery,
                                            guint             seconds);
guint            ib_recovery_get_interval  (IbRecovery       *recovery);

/* Watches doc: autosaved while modified; a document that is no longer modified (saved) has its recovery
 * file removed. */
void             ib_recovery_add_document  (IbRecovery       *recovery,
                                            IbDocument       *doc);
/* A clean close: stops watching and deletes the document's recovery file. */
void             ib_recovery_remove_document (IbRecovery     *recovery,
                                            IbDocument       *doc);

/* Autosaves every watched modified document now (what the timer does), waiting for the writes. */
gboolean         ib_recovery_save_now      (IbRecovery       *recovery,
                                            GError          **error);

/* The recoverable sessions not belonging to a watched document, newest first (IbRecoveryEntry). Unreadable
 * files are skipped; temporary files of autosaves killed over an hour ago are deleted. */
GPtrArray       *ib_recovery_list          (IbRecovery       *recovery);
/* A document from an entry: modified, with its file and source as they were. The entry stays until
 * discarded (the shell discards it once the document is open and watched). */
IbDocument      *ib_recovery_restore       (IbRecovery       *recovery,
                                            IbRecoveryEntry  *entry,
                                            GError          **error);
gboolean         ib_recovery_discard       (IbRecovery       *recovery,
                                            IbRecoveryEntry  *entry,
                                            GError          **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (IbRecoveryEntry, ib_recovery_entry_free)

G_END_DECLS
