/* ib-recovery-dialog.c: restore or discard the work a crash left behind. */
#include "ib-recovery-dialog.h"

#include <glib/gi18n.h>

struct _IbRecoveryDialog
{
  AdwMessageDialog parent_instance;

  GtkListBox *list;

  IbRecovery *recovery;
  GPtrArray *entries;                  /* IbRecoveryEntry */
  GPtrArray *checks;                   /* GtkCheckButton per entry */
};

G_DEFINE_FINAL_TYPE (IbRecoveryDialog, ib_recovery_dialog, ADW_TYPE_MESSAGE_DIALOG)

enum
{
  RESTORED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static void
report_error (IbRecoveryDialog *self,
              const GError     *error)
{
  GtkWindow *parent = gtk_window_get_transient_for (GTK_WINDOW (self));
  GtkWidget *dialog = adw_message_dialog_new (parent, _("Unsaved Work Could Not Be Recovered"), error->message);

  adw_message_dialog_add_response (ADW_MESSAGE_DIALOG (dialog), "close", _("_Close"));
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
ib_recovery_dialog_response (AdwMessageDialog *dialog,
                             const char       *response)
{
  IbRecoveryDialog *self = IB_RECOVERY_DIALOG (dialog);

  for (guint i = 0; i < self->entries->len; i++)
    {
      IbRecoveryEntry *entry = g_ptr_array_index (self->entries, i);
      gboolean checked = gtk_check_button_get_active (g_ptr_array_index (self->checks, i));
      g_autoptr(GError) error = NULL;

      if (g_strcmp0 (response, "restore") == 0 && checked)
        {
          g_autoptr(IbDocument) document = ib_recovery_restore (self->recovery, entry, &error);

          if (document == NULL)
            {
              report_error (self, error);
              continue;
            }
          g_signal_emit (self, signals[RESTORED], 0, document);
          /* Shown and watched now: its new autosaves replace this file. */
          ib_recovery_discard (self->recovery, entry, &error);
        }
      else if (g_strcmp0 (response, "discard") == 0)
        ib_recovery_discard (self->recovery, entry, &error);
      if (error != NULL)
        g_warning ("%s", error->message);
    }
}

static void
ib_recovery_dialog_dispose (GObject *object)
{
  IbRecoveryDialog *self = IB_RECOVERY_DIALOG (object);

  g_clear_object (&self->recovery);
  g_clear_pointer (&self->entries, g_ptr_array_unref);
  g_clear_pointer (&self->checks, g_ptr_array_unref);
  G_OBJECT_CLASS (ib_recovery_dialog_parent_class)->dispose (object);
}

static void
ib_recovery_dialog_class_init (IbRecoveryDialogClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  AdwMessageDialogClass *dialog_class = ADW_MESSAGE_DIALOG_CLASS (klass);

  object_class->dispose = ib_recovery_dialog_dispose;
  dialog_class->response = ib_recovery_dialog_response;

  gtk_widget_class_set_template_from_resource (widget_class, "/org/imagebart/Studio/ib-recovery-dialog.ui");
  gtk_widget_class_bind_template_child (widget_class, IbRecoveryDialog, list);

  signals[RESTORED] =
    g_signal_new ("restored", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, IB_TYPE_DOCUMENT);
}

static void
ib_recovery_dialog_init (IbRecoveryDialog *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->checks = g_ptr_array_new ();
}

GtkWidget *
ib_recovery_dialog_new (GtkWindow  *parent,
                        IbRecovery *recovery,
                        GPtrArray  *entries)
{
  IbRecoveryDialog *self;

  g_return_val_if_fail (IB_IS_RECOVERY (recovery), NULL);
  g_return_val_if_fail (entries != NULL, NULL);

  self = g_object_new (IB_TYPE_RECOVERY_DIALOG, "transient-for", parent, NULL);
  self->recovery = g_object_ref (recovery);
  self->entries = entries;
  for (guint i = 0; i < entries->len; i++)
    {
      IbRecoveryEntry *entry = g_ptr_array_index (entries, i);
      GtkWidget *row = adw_action_row_new ();
      GtkWidget *check = gtk_check_button_new ();
      g_autofree char *time = g_date_time_format (entry->time, "%c");

      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), entry->title);
      adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
      adw_action_row_set_subtitle (ADW_ACTION_ROW (row), time);
      gtk_check_button_set_active (GTK_CHECK_BUTTON (check), TRUE);
      adw_action_row_add_prefix (ADW_ACTION_ROW (row), check);
      adw_action_row_set_activatable_widget (ADW_ACTION_ROW (row), check);
      gtk_list_box_append (self->list, row);
      g_ptr_array_add (self->checks, check);
    }
  return GTK_WIDGET (self);
}
