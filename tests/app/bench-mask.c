/* bench-mask.c: how long grow and shrink take on a 4K mask (issue 5, "smooth at 4K images"). A benchmark, not
 * a test: `meson test -C build --benchmark mask-grow-shrink`, reported in docs/performance.md.
 *
 * A 3840 x 2160 mask with five soft blobs 600 px across, as a painted mask has, grown and shrunk in turn by 8,
 * 32 and 64 pixels; each line is one operation, undo record included, best of three rounds, and the memory
 * that record (the undo step) holds against its rectangle's before and after unpacked. */
#include "ib-mask.h"

#define WIDTH 3840
#define HEIGHT 2160
#define ROUNDS 3

static IbMask *
painted_mask (void)
{
  IbMask *mask = ib_mask_new (WIDTH, HEIGHT);

  for (int i = 0; i < 5; i++)
    {
      IbMaskBrush brush = { 300, 0.7, 1.0, FALSE, FALSE, IB_MASK_MODE_PAINT };
      ib_mask_dab (mask, &brush, 600 + i * 650, 700 + (i % 2) * 700, 1.0);
    }
  return mask;
}

static void
committed_cb (IbMask        *mask,
              IbMaskChange  *change,
              IbMaskChange **last)
{
  g_clear_pointer (last, ib_mask_change_unref);
  *last = ib_mask_change_ref (change);
}

int
main (void)
{
  static const int radii[] = { 8, 32, 64 };

  g_print ("mask %d x %d, %u cores\n", WIDTH, HEIGHT, g_get_num_processors ());
  for (guint r = 0; r < G_N_ELEMENTS (radii); r++)
    for (int shrink = 0; shrink < 2; shrink++)
      {
        double best = G_MAXDOUBLE;
        g_autoptr (IbMaskChange) change = NULL;
        for (int round = 0; round < ROUNDS; round++)
          {
            g_autoptr (IbMask) mask = painted_mask ();
            g_signal_connect (mask, "change-committed", G_CALLBACK (committed_cb), &change);
            gint64 start = g_get_monotonic_time ();
            if (shrink)
              ib_mask_shrink (mask, radii[r]);
            else
              ib_mask_grow (mask, radii[r]);
            best = MIN (best, (g_get_monotonic_time () - start) / 1000.0);
          }
        GdkRectangle rect = { 0 };
        if (change != NULL)
          ib_mask_change_get_rectangle (change, &rect);
        g_print ("%-6s by %2d px: %6.1f ms, undo step %.0f KiB (unpacked %.0f KiB)\n", shrink ? "shrink" : "grow",
                 radii[r], best, change != NULL ? ib_mask_change_get_size (change) / 1024.0 : 0.0,
                 2.0 * rect.width * rect.height / 1024.0);
      }
  return 0;
}
