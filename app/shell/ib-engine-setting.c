/* ib-engine-setting.c: the engine preference and its choices. */
#include "ib-engine-setting.h"

#include <glib/gi18n.h>

#include "ib-vulkan-device.h"

static void
engine_choice_free (gpointer data)
{
  IbEngineChoice *choice = data;

  g_free (choice->value);
  g_free (choice->label);
  g_free (choice);
}

static void
add_choice (GPtrArray  *choices,
            char       *value,
            char       *label)
{
  IbEngineChoice *choice = g_new0 (IbEngineChoice, 1);

  choice->value = value;
  choice->label = label;
  g_ptr_array_add (choices, choice);
}

GPtrArray *
ib_engine_setting_list_choices (void)
{
  static GPtrArray *choices;

  if (g_once_init_enter (&choices))
    {
      GPtrArray *list = g_ptr_array_new_with_free_func (engine_choice_free);
      g_autoptr(GPtrArray) devices = NULL;

      add_choice (list, g_strdup ("auto"), g_strdup (_("Automatic")));
      add_choice (list, g_strdup ("cpu"), g_strdup (_("CPU")));
      /* No loader or no device: only the CPU choices, which always work. */
      if (ib_vk_is_built ())
        devices = ib_vk_list_devices (NULL);
      for (guint i = 0; devices != NULL && i < devices->len; i++)
        {
          const IbVkDeviceInfo *info = g_ptr_array_index (devices, i);

          if (!info->usable)
            continue;
          add_choice (list, g_strdup_printf ("vulkan:%d", info->index),
                      /* TRANSLATORS: a Vulkan device: its name and kind (discrete, integrated, cpu) */
                      g_strdup_printf (_("Vulkan: %s (%s)"), info->name, ib_vk_device_kind_name (info->kind)));
        }
      g_once_init_leave (&choices, list);
    }
  return choices;
}

void
ib_engine_setting_parse (const char     *value,
                         IbEditBackend  *backend,
                         char          **selector)
{
  guint64 index;

  *backend = IB_EDIT_BACKEND_AUTO;
  *selector = NULL;
  if (g_strcmp0 (value, "cpu") == 0)
    *backend = IB_EDIT_BACKEND_CPU;
  else if (value != NULL && g_str_has_prefix (value, "vulkan:")
           && g_ascii_string_to_unsigned (value + strlen ("vulkan:"), 10, 0, G_MAXINT, &index, NULL))
    {
      *backend = IB_EDIT_BACKEND_VULKAN;
      *selector = g_strdup_printf ("%" G_GUINT64_FORMAT, index);
    }
}
