/* test-vulkan-device.c: finding and choosing a Vulkan device, clear errors without a loader or a matching
 * device, the validation messenger itself, the on-disk pipeline cache, arenas and transfers. */
#include <glib/gstdio.h>
#include <string.h>

#include "ib-test-vulkan.h"
#include "ib-vulkan-ops.h"
#include "ib-vulkan-private.h"

static void
test_list (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) list = ib_vk_list_devices (&error);

  g_assert_no_error (error);
  g_assert_cmpuint (list->len, >=, 1);
  for (guint i = 0; i < list->len; i++)
    {
      const IbVkDeviceInfo *info = g_ptr_array_index (list, i);
      g_test_message ("device %d: %s, %s, %s", info->index, info->name, ib_vk_device_kind_name (info->kind),
                      info->driver);
      g_assert_nonnull (info->name);
      g_assert_cmpint (info->index, >=, 0);
      g_assert_cmpint (info->index, <, (int) list->len);
      if (i > 0)
        {
          const IbVkDeviceInfo *before = g_ptr_array_index (list, i - 1);
          /* Best first: usable ones first, and a CPU implementation never before a GPU. */
          g_assert_true (before->usable || !info->usable);
          if (before->usable == info->usable)
            g_assert_true (before->kind != IB_VK_DEVICE_CPU || info->kind == IB_VK_DEVICE_CPU);
        }
    }
  gboolean any_gpu = FALSE;
  for (guint i = 0; i < list->len; i++)
    {
      const IbVkDeviceInfo *info = g_ptr_array_index (list, i);
      any_gpu |= info->usable && info->kind != IB_VK_DEVICE_CPU;
    }
  g_assert_cmpint (ib_vk_has_gpu (), ==, any_gpu);
}

static void
test_select (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) list = ib_vk_list_devices (&error);
  g_assert_no_error (error);
  const IbVkDeviceInfo *first = g_ptr_array_index (list, 0);
  g_autofree char *index = g_strdup_printf ("%d", first->index);
  /* A part of the name, in another case. */
  g_autofree char *part = g_ascii_strup (first->name, MIN (strlen (first->name), 5));

  IbVkDeviceOptions by_index = { .selector = index, .no_disk_cache = TRUE };
  g_autoptr (IbVkDevice) a = ib_vk_device_new (&by_index, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (ib_vk_device_get_name (a), ==, first->name);

  IbVkDeviceOptions by_name = { .selector = part, .no_disk_cache = TRUE };
  g_autoptr (IbVkDevice) b = ib_vk_device_new (&by_name, &error);
  g_assert_no_error (error);

  IbVkDeviceOptions missing = { .selector = "no such device anywhere", .no_disk_cache = TRUE };
  g_assert_null (ib_vk_device_new (&missing, &error));
  g_assert_error (error, IB_VK_ERROR, IB_VK_ERROR_NO_DEVICE);
  g_clear_error (&error);

  IbVkDeviceOptions out_of_range = { .selector = "99", .no_disk_cache = TRUE };
  g_assert_null (ib_vk_device_new (&out_of_range, &error));
  g_assert_error (error, IB_VK_ERROR, IB_VK_ERROR_NO_DEVICE);
  g_assert_nonnull (strstr (error->message, "imagebart devices"));
}

/* Without a loader every entry point says so; nothing crashes. Runs in a child process, where the loader has
 * not been looked for yet. */
static void
test_no_loader (void)
{
  if (g_test_subprocess ())
    {
      g_autoptr (GError) error = NULL;
      g_setenv ("IMAGEBART_VULKAN_LOADER", "/nonexistent/libvulkan.so.1", TRUE);
      g_assert_null (ib_vk_list_devices (&error));
      g_assert_error (error, IB_VK_ERROR, IB_VK_ERROR_NO_LOADER);
      g_clear_error (&error);
      g_assert_false (ib_vk_has_gpu ());
      g_assert_null (ib_vk_device_new (NULL, &error));
      g_assert_error (error, IB_VK_ERROR, IB_VK_ERROR_NO_LOADER);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

/* The messenger sees what the layer says (so that silence in the other tests means something). */
static void
test_validation_reports (void)
{
  IbVkDevice *d = ib_test_vulkan_device ();
  VkBufferCreateInfo info = {
    .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
    .size = 64,
    .usage = 0,                 /* invalid: at least one usage bit is required */
    .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
  };
  VkBuffer buffer = VK_NULL_HANDLE;
  guint before = ib_vk_device_n_messages (d);

  g_test_expect_message ("ImageBART", G_LOG_LEVEL_WARNING, "*Vulkan validation error*usage*");
  if (d->vk.vkCreateBuffer (d->device, &info, NULL, &buffer) == VK_SUCCESS)
    d->vk.vkDestroyBuffer (d->device, buffer, NULL);
  g_test_assert_expected_messages ();
  g_assert_cmpuint (ib_vk_device_n_messages (d), ==, before + 1);
  /* Forget it, so that the program's final check stays meaningful. */
  g_ptr_array_set_size (d->messages, before);
}

static void
test_pipeline_cache (void)
{
  g_autoptr (GError) error = NULL;
  IbVkDeviceOptions options = { .validation = TRUE, .selector = g_getenv ("IMAGEBART_TEST_VULKAN_DEVICE") };
  g_autofree char *path = NULL;

  /* XDG_CACHE_HOME points into the build folder (main below). */
  for (int round = 0; round < 2; round++)
    {
      g_autoptr (IbVkDevice) d = ib_vk_device_new (&options, &error);
      g_assert_no_error (error);
      g_autoptr (IbVkArena) arena = ib_vk_arena_new (d, 1u << 20);
      IbVkView x;
      float values[5] = { -1, 0, 1, 2, 3 }, got[5];
      g_assert_true (ib_vk_arena_alloc (arena, sizeof values, &x, &error) &&
                     ib_vk_upload (d, &x, 0, values, sizeof values, &error) && ib_vk_gelu (d, &x, 5, &error) &&
                     ib_vk_download (d, &x, 0, got, sizeof got, &error));
      g_assert_no_error (error);
      g_assert_cmpfloat_with_epsilon (got[3], 1.9545f, 1e-3f);
      g_clear_pointer (&path, g_free);
      path = g_strdup (d->pipeline_cache_path);
      g_assert_nonnull (path);
      g_assert_cmpuint (ib_vk_device_n_messages (d), ==, 0);
    }
  g_assert_true (g_str_has_prefix (path, g_get_user_cache_dir ()));
  g_assert_true (g_file_test (path, G_FILE_TEST_IS_REGULAR));

  /* A damaged cache file is ignored, not trusted. */
  g_assert_true (g_file_set_contents (path, "not a pipeline cache", -1, NULL));
  g_autoptr (IbVkDevice) d = ib_vk_device_new (&options, &error);
  g_assert_no_error (error);
}

static void
test_arena_and_transfers (void)
{
  IbVkDevice *d = ib_test_vulkan_device ();
  g_autoptr (GError) error = NULL;
  g_autoptr (IbVkArena) arena = ib_vk_arena_new (d, 1u << 20);
  IbVkView a, b, big;

  /* Sub-allocations are aligned and do not overlap; a request larger than a block gets its own. */
  g_assert_true (ib_vk_arena_alloc (arena, 10, &a, &error) && ib_vk_arena_alloc (arena, 30, &b, &error));
  g_assert_no_error (error);
  g_assert_true (a.buffer == b.buffer);
  g_assert_cmpuint (b.offset, >=, a.offset + a.size);
  g_assert_cmpuint (b.offset % d->limits.offset_alignment, ==, 0);
  g_assert_cmpuint (a.size % 4, ==, 0);
  guint64 n = MIN ((3u << 20), ib_vk_device_max_range (d)) / 4;
  g_assert_true (ib_vk_arena_alloc (arena, n * 4, &big, &error));
  g_assert_no_error (error);

  /* A transfer larger than the staging buffer goes in pieces, both ways. */
  g_autofree guint32 *out = g_new (guint32, n), *in = g_new (guint32, n);
  for (guint64 i = 0; i < n; i++)
    out[i] = (guint32) (i * 2654435761u);
  g_assert_true (ib_vk_upload (d, &big, 0, out, n * 4, &error));
  g_assert_true (ib_vk_download (d, &big, 0, in, n * 4, &error));
  g_assert_no_error (error);
  g_assert_true (memcmp (in, out, n * 4) == 0);

  /* Out-of-range transfers are refused. */
  g_assert_false (ib_vk_upload (d, &a, 8, out, 16, &error));
  g_assert_error (error, IB_VK_ERROR, IB_VK_ERROR_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (ib_vk_arena_alloc (arena, ib_vk_device_max_range (d) + 1, &big, &error));
  g_assert_error (error, IB_VK_ERROR, IB_VK_ERROR_ARGUMENT);
}

static void
remove_tree (const char *path)
{
  GDir *dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);
      if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
        remove_tree (child);
      else
        g_remove (child);
    }
  if (dir != NULL)
    g_dir_close (dir);
  g_rmdir (path);
}

int
main (int    argc,
      char **argv)
{
  g_autofree char *cache = g_build_filename (g_get_tmp_dir (), "imagebart-test-vulkan-cache-XXXXXX", NULL);

  g_test_init (&argc, &argv, NULL);
  if (!g_test_subprocess ())
    {
      g_assert_nonnull (g_mkdtemp (cache));
      g_setenv ("XDG_CACHE_HOME", cache, TRUE);
    }
  g_test_add_func ("/vulkan/device/no-loader", test_no_loader);
  if (!g_test_subprocess ())
    ib_test_vulkan_device ();         /* skips the program when there is no device */
  g_test_add_func ("/vulkan/device/list", test_list);
  g_test_add_func ("/vulkan/device/select", test_select);
  g_test_add_func ("/vulkan/device/validation-reports", test_validation_reports);
  g_test_add_func ("/vulkan/device/pipeline-cache", test_pipeline_cache);
  g_test_add_func ("/vulkan/device/arena-and-transfers", test_arena_and_transfers);

  int status = g_test_run ();
  ib_test_vulkan_finish ();
  if (!g_test_subprocess ())
    {
      remove_tree (cache);
    }
  return status;
}
