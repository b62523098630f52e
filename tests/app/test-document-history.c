/* test-document-history.c: IbHistory: undo/redo order, redo cleared by a new step, the memory cap. */
#include <string.h>

#include "ib-history.h"
#include "ib-mask-region.h"
#include "ib-studio.h"

static IbHistoryStep *
picture_step (int   side,
              guint8 value)
{
  g_autoptr (IbEditImage) before = ib_edit_image_new (1, 2, side, side);
  g_autoptr (IbEditImage) after = ib_edit_image_new (1, 2, side, side);
  memset (before->pixels, 0, (gsize) before->stride * side);
  memset (after->pixels, value, (gsize) after->stride * side);
  g_autofree char *recipe = g_strdup_printf ("{\"seed\": \"%d\"}", value);
  return ib_history_step_new_picture (before, after, NULL, recipe);
}

static guint8
step_value (IbHistoryStep *step)
{
  return ib_history_step_get_picture_after (step)->pixels[0];
}

static void
count_notify_cb (GObject    *object,
                 GParamSpec *pspec,
                 gpointer    user_data)
{
  (*(int *) user_data)++;
}

static void
test_undo_redo (void)
{
  g_autoptr (IbHistory) history = ib_history_new (IB_HISTORY_MIB (16));
  int undo_notes = 0, redo_notes = 0;
  g_signal_connect (history, "notify::can-undo", G_CALLBACK (count_notify_cb), &undo_notes);
  g_signal_connect (history, "notify::can-redo", G_CALLBACK (count_notify_cb), &redo_notes);

  g_assert_false (ib_history_can_undo (history));
  g_assert_null (ib_history_undo (history));
  g_assert_null (ib_history_redo (history));

  for (int i = 1; i <= 3; i++)
    {
      g_autoptr (IbHistoryStep) step = picture_step (4, i);
      ib_history_push (history, step);
    }
  g_assert_cmpint (undo_notes, ==, 1);
  g_assert_true (ib_history_can_undo (history));
  g_assert_false (ib_history_can_redo (history));

  g_assert_cmpint (step_value (ib_history_undo (history)), ==, 3);
  g_assert_cmpint (redo_notes, ==, 1);
  g_assert_cmpint (step_value (ib_history_undo (history)), ==, 2);
  g_assert_cmpint (step_value (ib_history_redo (history)), ==, 2);
  g_assert_cmpint (ib_history_get_n_done (history), ==, 2);
  g_assert_cmpint (ib_history_get_n_steps (history), ==, 3);
  g_assert_cmpstr (ib_history_step_get_recipe_after (ib_history_get_step (history, 1)), ==, "{\"seed\": \"2\"}");

  /* A new step after an undo drops the redo side. */
  g_autoptr (IbHistoryStep) step4 = picture_step (4, 4);
  ib_history_push (history, step4);
  g_assert_false (ib_history_can_redo (history));
  g_assert_cmpint (ib_history_get_n_steps (history), ==, 3);
  g_assert_cmpint (step_value (ib_history_undo (history)), ==, 4);
  g_assert_cmpint (step_value (ib_history_undo (history)), ==, 2);
  g_assert_cmpint (step_value (ib_history_undo (history)), ==, 1);
  g_assert_null (ib_history_undo (history));
  g_assert_false (ib_history_can_undo (history));
  g_assert_true (ib_history_can_redo (history));

  ib_history_clear (history);
  g_assert_false (ib_history_can_redo (history));
  g_assert_cmpuint (ib_history_get_size (history), ==, 0);
}

static void
test_memory_cap (void)
{
  g_autoptr (IbHistoryStep) probe = picture_step (16, 1);
  gsize step_size = ib_history_step_get_size (probe);
  g_assert_cmpuint (step_size, >=, 2 * 16 * 16 * 4);

  /* Room for three and a half steps: pushing ten keeps the newest three. */
  g_autoptr (IbHistory) history = ib_history_new (step_size * 7 / 2);
  for (int i = 1; i <= 10; i++)
    {
      g_autoptr (IbHistoryStep) step = picture_step (16, i);
      ib_history_push (history, step);
      g_assert_cmpuint (ib_history_get_size (history), <=, ib_history_get_max_bytes (history));
    }
  g_assert_cmpint (ib_history_get_n_steps (history), ==, 3);
  g_assert_cmpuint (ib_history_get_size (history), >=, 3 * step_size);
  for (int i = 10; i >= 8; i--)
    g_assert_cmpint (step_value (ib_history_undo (history)), ==, i);
  g_assert_null (ib_history_undo (history));

  /* Lowering the cap drops more: with all undone, the farthest redo steps go, the next redo stays. */
  ib_history_set_max_bytes (history, step_size * 3 / 2);
  g_assert_cmpint (ib_history_get_n_steps (history), ==, 1);
  g_assert_cmpint (step_value (ib_history_redo (history)), ==, 8);

  /* A step larger than the cap on its own is still kept, alone. */
  ib_history_set_max_bytes (history, 100);
  g_autoptr (IbHistoryStep) big = picture_step (64, 99);
  ib_history_push (history, big);
  g_assert_cmpint (ib_history_get_n_steps (history), ==, 1);
  g_assert_cmpint (step_value (ib_history_undo (history)), ==, 99);

  /* set_steps applies the cap too, dropping the oldest done steps. */
  ib_history_set_max_bytes (history, step_size * 5 / 2);
  IbHistoryStep *steps[4] = { picture_step (16, 1), picture_step (16, 2), picture_step (16, 3),
                              picture_step (16, 4) };
  ib_history_set_steps (history, steps, 4, 3);
  g_assert_cmpint (ib_history_get_n_steps (history), ==, 2);
  g_assert_cmpint (ib_history_get_n_done (history), ==, 1);
  g_assert_cmpint (step_value (ib_history_get_step (history, 0)), ==, 3);
  for (int i = 0; i < 4; i++)
    ib_history_step_unref (steps[i]);
}

static void
committed_cb (IbMask       *mask,
              IbMaskChange *change,
              gpointer      user_data)
{
  g_autoptr (IbHistoryStep) step = ib_history_step_new_mask_change (change);
  ib_history_push (user_data, step);
}

static void
test_mask_steps (void)
{
  g_autoptr (IbMask) mask = ib_mask_new (64, 48);
  g_autoptr (IbHistory) history = ib_history_new (IB_HISTORY_MIB (16));
  g_signal_connect (mask, "change-committed", G_CALLBACK (committed_cb), history);

  ib_mask_fill_rectangle (mask, 10, 10, 20, 30, IB_MASK_MODE_PAINT);
  ib_mask_invert (mask);
  g_assert_cmpint (ib_history_get_n_steps (history), ==, 2);
  IbHistoryStep *first = ib_history_get_step (history, 0);
  g_assert_cmpint (ib_history_step_get_kind (first), ==, IB_HISTORY_STEP_MASK);
  GdkRectangle rect;
  ib_history_step_get_rectangle (first, &rect);
  g_assert_cmpint (rect.x, ==, 10);
  g_assert_cmpint (rect.width, ==, 10);
  g_assert_cmpint (rect.height, ==, 20);
  /* Its pixels are kept packed: two runs, not 2 x 200 bytes. */
  g_assert_cmpuint (ib_history_step_get_size (first), >, 0);
  g_assert_cmpuint (ib_history_step_get_size (first), <, 2 * 10 * 20);
  g_assert_null (ib_history_step_get_mask_before (first));

  /* Undo the invert, then the rectangle: the mask is empty again; redo both. */
  ib_mask_change_undo (ib_history_step_get_mask_change (ib_history_undo (history)), mask);
  g_assert_cmpint (ib_mask_get_value (mask, 0, 0), ==, 0);
  g_assert_cmpint (ib_mask_get_value (mask, 15, 15), ==, 255);
  ib_mask_change_undo (ib_history_step_get_mask_change (ib_history_undo (history)), mask);
  g_assert_true (ib_mask_is_empty (mask));
  ib_mask_change_redo (ib_history_step_get_mask_change (ib_history_redo (history)), mask);
  ib_mask_change_redo (ib_history_step_get_mask_change (ib_history_redo (history)), mask);
  g_assert_cmpint (ib_mask_get_value (mask, 0, 0), ==, 255);
  g_assert_cmpint (ib_mask_get_value (mask, 15, 15), ==, 0);

  /* Steps from pixels, as a project file gives them. */
  GdkRectangle r = { 2, 3, 4, 5 };
  g_autoptr (GBytes) before = g_bytes_new_take (g_malloc0 (20), 20);
  g_autoptr (GBytes) after = g_bytes_new_take (g_malloc0 (20), 20);
  g_autoptr (IbHistoryStep) pixels = ib_history_step_new_mask_pixels (&r, before, after);
  g_assert_null (ib_history_step_get_mask_change (pixels));
  g_assert_true (ib_history_step_get_mask_after (pixels) == after);
  g_assert_cmpuint (ib_history_step_get_size (pixels), >=, 40);
}

static void
count_committed_cb (IbMask       *mask,
                    IbMaskChange *change,
                    gpointer      user_data)
{
  (*(int *) user_data)++;
}

/* Writing rectangles of arbitrary values (restored undo steps): exact, outside untouched, no new change. */
static void
test_mask_region (void)
{
  GRand *rand = g_rand_new_with_seed (5);
  g_autoptr (IbMask) mask = ib_mask_new (37, 23);
  ib_mask_fill_rectangle (mask, 0, 0, 37, 23, IB_MASK_MODE_PAINT);
  ib_mask_fill_rectangle (mask, 3, 3, 9, 9, IB_MASK_MODE_ERASE);
  int committed = 0;
  g_signal_connect (mask, "change-committed", G_CALLBACK (count_committed_cb), &committed);

  const GdkRectangle rects[] = { { 0, 0, 37, 23 }, { 5, 4, 10, 7 }, { 36, 22, 1, 1 }, { 0, 10, 37, 1 } };
  for (guint r = 0; r < G_N_ELEMENTS (rects); r++)
    for (int pattern = 0; pattern < 3; pattern++)
      {
        const GdkRectangle *rect = &rects[r];
        gsize n = (gsize) rect->width * rect->height;
        guint8 *values = g_malloc (n);
        for (gsize i = 0; i < n; i++)
          values[i] = pattern == 0 ? 0 : pattern == 1 ? 255 : (guint8) g_rand_int_range (rand, 0, 256);
        g_autoptr (GBytes) bytes = g_bytes_new_take (values, n);

        GdkRectangle whole = { 0, 0, 37, 23 };
        g_autoptr (GBytes) before = ib_mask_region_read (mask, &whole);
        ib_mask_region_write (mask, rect, bytes);
        g_autoptr (GBytes) inside = ib_mask_region_read (mask, rect);
        g_assert_true (g_bytes_equal (inside, bytes));
        const guint8 *old = g_bytes_get_data (before, NULL);
        for (int y = 0; y < 23; y++)
          for (int x = 0; x < 37; x++)
            if (x < rect->x || x >= rect->x + rect->width || y < rect->y || y >= rect->y + rect->height)
              g_assert_cmpint (ib_mask_get_value (mask, x, y), ==, old[y * 37 + x]);
      }
  g_assert_cmpint (committed, ==, 0);
  g_rand_free (rand);
}

int
main (int   argc,
      char *argv[])
{
  ib_studio_init ();
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/app/document/history/undo-redo", test_undo_redo);
  g_test_add_func ("/app/document/history/memory-cap", test_memory_cap);
  g_test_add_func ("/app/document/history/mask-steps", test_mask_steps);
  g_test_add_func ("/app/document/mask-region", test_mask_region);
  return g_test_run ();
}
