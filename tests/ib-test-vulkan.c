/* ib-test-vulkan.c: the Vulkan tests' device, guarded buffers and error measures. */
#include "ib-test-vulkan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GUARD_FLOATS 64
#define GUARD_BITS 0x7fc0beefu

static IbVkDevice *device;
static IbVkArena *arena;

IbVkDevice *
ib_test_vulkan_device (void)
{
  g_autoptr (GError) error = NULL;
  IbVkDeviceOptions options = { .validation = TRUE, .no_disk_cache = TRUE };

  if (device != NULL)
    return device;
  /* Any device will do, lavapipe included; IMAGEBART_TEST_VULKAN_DEVICE picks one. */
  options.selector = g_getenv ("IMAGEBART_TEST_VULKAN_DEVICE");
  device = ib_vk_device_new (&options, &error);
  if (device == NULL)
    {
      if (g_error_matches (error, IB_VK_ERROR, IB_VK_ERROR_NO_LOADER) ||
          g_error_matches (error, IB_VK_ERROR, IB_VK_ERROR_NO_DEVICE))
        {
          printf ("1..0 # SKIP no Vulkan device: %s\n", error->message);
          fflush (stdout);
          exit (77);
        }
      g_error ("Could not open the Vulkan test device: %s", error->message);
    }
  g_test_message ("Vulkan device: %s (%s)", ib_vk_device_get_name (device),
                  ib_vk_device_kind_name (ib_vk_device_get_kind (device)));
  arena = ib_vk_arena_new (device, 8u << 20);
  return device;
}

void
ib_test_vulkan_assert_clean (void)
{
  if (device != NULL && ib_vk_device_n_messages (device) > 0)
    g_error ("The validation layer reported: %s", ib_vk_device_get_message (device, 0));
}

void
ib_test_vulkan_finish (void)
{
  if (device == NULL)
    return;
  ib_test_vulkan_assert_clean ();
  g_clear_pointer (&arena, ib_vk_arena_free);
  g_clear_pointer (&device, ib_vk_device_free);
}

IbVkArena *
ib_test_vulkan_arena (void)
{
  ib_test_vulkan_device ();
  return arena;
}

void
ib_test_vulkan_reset (void)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (ib_vk_device_submit (device, &error));
  g_assert_no_error (error);
  ib_vk_arena_reset (arena);
}

IbVkView
ib_test_vulkan_guarded (gsize n)
{
  g_autoptr (GError) error = NULL;
  IbVkView view;

  ib_test_vulkan_device ();
  g_assert_true (ib_vk_arena_alloc (arena, (n + GUARD_FLOATS) * 4, &view, &error));
  g_assert_no_error (error);
  ib_vk_fill (device, &view, 0, (n + GUARD_FLOATS) * 4, GUARD_BITS);
  return view;
}

void
ib_test_vulkan_write (const IbVkView *view,
                      const void     *data,
                      gsize           bytes)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (ib_vk_upload (device, view, 0, data, bytes, &error));
  g_assert_no_error (error);
}

float *
ib_test_vulkan_read (const IbVkView *view,
                     gsize           n)
{
  g_autoptr (GError) error = NULL;
  gsize total = MIN (n + GUARD_FLOATS, view->size / 4);
  float *values = g_new (float, total);

  g_assert_true (ib_vk_download (device, view, 0, values, total * 4, &error));
  g_assert_no_error (error);
  for (gsize i = n; i < total; i++)
    {
      guint32 bits;
      memcpy (&bits, values + i, 4);
      if (bits != GUARD_BITS)
        g_error ("guard element %" G_GSIZE_FORMAT " after an output of %" G_GSIZE_FORMAT " floats was written", i - n, n);
    }
  ib_test_vulkan_assert_clean ();
  return values;
}

double
ib_test_relative_error (const float *a,
                        const float *b,
                        gsize        n)
{
  double diff = 0.0, norm = 0.0;

  for (gsize i = 0; i < n; i++)
    {
      if (!isfinite (a[i]))
        return INFINITY;
      diff += ((double) a[i] - b[i]) * ((double) a[i] - b[i]);
      norm += (double) b[i] * b[i];
    }
  return sqrt (diff) / MAX (sqrt (norm), 1e-30);
}

double
ib_test_max_error (const float *a,
                   const float *b,
                   gsize        n)
{
  double worst = 0.0, scale = 0.0;

  for (gsize i = 0; i < n; i++)
    {
      if (!isfinite (a[i]))
        return INFINITY;
      worst = MAX (worst, fabs ((double) a[i] - b[i]));
      scale = MAX (scale, fabs ((double) b[i]));
    }
  return worst / MAX (scale, 1e-30);
}
