/* test-killed.c: the editor killed with SIGKILL during a job (issue 7's fault injection). A child process
 * runs the editor on a bundled sample picture with the bundled model, its autosave every
 * KILL_AUTOSAVE_SECONDS (30 by default), paints a mask, and runs jobs back to back, painting once more while
 * the first one runs. Once an autosave has had its turn after that stroke, the test kills it in the middle
 * of a job. The next start must offer the session, saved at most one interval (plus a few seconds) before the
 * kill, with both strokes. The state folder (crash recovery) is this program's own: it holds only this test. */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ib-application.h"
#include "ib-generate-test.h"
#include "ib-main-window.h"
#include "ib-recovery.h"
#include "ib-shell-test.h"

#define KILL_AUTOSAVE_SECONDS 5

/* The stroke made before the first job: a block right of the centre. */
static void
paint_before_job (IbMask *mask)
{
  int width = ib_mask_get_width (mask), height = ib_mask_get_height (mask);

  ib_mask_begin_change (mask);
  ib_mask_fill_rectangle (mask, width * 0.5, height * 0.25, width * 0.85, height * 0.75, IB_MASK_MODE_PAINT);
  ib_mask_end_change (mask);
}

/* The stroke made while the first job runs: a band along the top. */
static void
paint_during_job (IbMask *mask)
{
  ib_mask_begin_change (mask);
  ib_mask_fill_rectangle (mask, 0, 0, ib_mask_get_width (mask), 6, IB_MASK_MODE_PAINT);
  ib_mask_end_change (mask);
}

static void
killed_child_body (IbApplication *application,
                   gpointer       data)
{
  IbMainWindow *window = ib_shell_test_main_window (application);
  IbJobRunner *runner = ib_main_window_get_runner (window);

  ib_shell_test_wait_ready (application);
  IbMask *mask = ib_document_get_mask (ib_main_window_get_document (window));
  paint_before_job (mask);
  gtk_editable_set_text (GTK_EDITABLE (ib_test_find_widget (GTK_WIDGET (ib_main_window_get_panel (window)),
                                                            "prompt-entry")), "red apple");
  g_action_group_activate_action (G_ACTION_GROUP (window), "generate", NULL);
  g_assert_true (ib_job_runner_get_running (runner));
  paint_during_job (mask);

  gint64 autosaved_by = g_get_monotonic_time () + (KILL_AUTOSAVE_SECONDS + 2) * G_USEC_PER_SEC;
  for (;;)
    {
      g_main_context_iteration (NULL, TRUE);
      if (!ib_job_runner_get_running (runner))
        g_action_group_activate_action (G_ACTION_GROUP (window), "generate", NULL);
      /* A job has just been started or is under way: the parent kills this process when it reads this. */
      if (g_get_monotonic_time () > autosaved_by && ib_job_runner_get_running (runner))
        {
          if (write (ib_shell_test_child_pipe (), "k", 1) != 1)
            g_error ("the parent is gone");
          autosaved_by = G_MAXINT64;
        }
    }
}

static int
run_killed_child (void)
{
  g_autoptr(GSettings) settings = g_settings_new ("org.imagebart.Studio");
  g_autofree char *mask = NULL;
  g_autofree char *picture = ib_shell_test_sample_picture (&mask);
  const char *argv[] = { picture, NULL };

  g_settings_set_int (settings, "autosave-interval", KILL_AUTOSAVE_SECONDS);
  g_settings_set_int (settings, "default-variants", 4);
  g_settings_set_string (settings, "engine", "cpu");
  ib_shell_test_run (argv, killed_child_body, NULL);
  return 1;   /* not reached: the parent kills it */
}

typedef struct
{
  IbMask *expected;
  gboolean restored;
} KilledCheck;

static void
restore_after_kill_body (IbApplication *application,
                         gpointer       data)
{
  KilledCheck *check = data;
  IbDocument *document = ib_shell_test_restore_offered (application, 30000);
  IbMask *mask = ib_document_get_mask (document);
  int width = ib_mask_get_width (check->expected), height = ib_mask_get_height (check->expected);
  g_assert_cmpint (ib_mask_get_width (mask), ==, width);
  g_assert_cmpint (ib_mask_get_height (mask), ==, height);
  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++)
      g_assert_cmpuint (ib_mask_get_value (mask, x, y), ==, ib_mask_get_value (check->expected, x, y));
  check->restored = TRUE;
}

static void
test_killed_during_job (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *state = g_strconcat (IB_SHELL_TEST_STATE_ENV "=", g_get_user_state_dir (), NULL);
  const char *env_changes[] = { state, NULL };
  int out_fd;

  GPid pid = ib_shell_test_spawn_child ("killed-during-job", env_changes, &out_fd);
  char told;
  g_assert_cmpint (read (out_fd, &told, 1), ==, 1);
  close (out_fd);
  g_assert_cmpint (kill (pid, SIGKILL), ==, 0);
  g_autoptr(GDateTime) killed_at = g_date_time_new_now_local ();
  int status;
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_assert_true (WIFSIGNALED (status) && WTERMSIG (status) == SIGKILL);
  g_spawn_close_pid (pid);

  /* What a next start finds: the killed session, saved at most one interval (plus a job's end) before. */
  g_autoptr(IbRecovery) recovery = ib_recovery_new (NULL);
  g_autoptr(GPtrArray) entries = ib_recovery_list (recovery);
  g_assert_cmpuint (entries->len, ==, 1);
  IbRecoveryEntry *entry = g_ptr_array_index (entries, 0);
  double age = g_date_time_difference (killed_at, entry->time) / (double) G_USEC_PER_SEC;
  g_test_message ("the autosave was %.1f s old when the editor was killed (interval %d s)", age,
                  KILL_AUTOSAVE_SECONDS);
  g_assert_cmpfloat (age, <, KILL_AUTOSAVE_SECONDS + 5);
  g_clear_object (&recovery);

  g_autofree char *mask_path = NULL;
  g_autofree char *picture = ib_shell_test_sample_picture (&mask_path);
  g_autoptr(GdkPixbuf) pixbuf = gdk_pixbuf_new_from_file (picture, &error);
  g_assert_no_error (error);
  g_autoptr(IbMask) expected = ib_mask_new (gdk_pixbuf_get_width (pixbuf), gdk_pixbuf_get_height (pixbuf));
  paint_before_job (expected);
  paint_during_job (expected);
  KilledCheck check = { expected, FALSE };
  ib_shell_test_run (NULL, restore_after_kill_body, &check);
  g_assert_true (check.restored);
}

int
main (int   argc,
      char *argv[])
{
  int status;
  const char *child_mode = ib_shell_test_child_mode (argc, argv);

  ib_shell_test_init (&argc, &argv);
  if (g_strcmp0 (child_mode, "killed-during-job") == 0)
    return run_killed_child ();
  g_test_add_func ("/app/killed/during-job", test_killed_during_job);
  status = g_test_run ();
  ib_shell_test_cleanup ();
  return status;
}
