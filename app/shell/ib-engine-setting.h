/* ib-engine-setting.h: the GSettings key "engine" ('auto', 'cpu' or 'vulkan:<device index>') and the choices
 * the preferences offer for it. */
#pragma once

#include <glib.h>

#include "ib-edit-job.h"

G_BEGIN_DECLS

typedef struct
{
  char *value;          /* the key's value */
  char *label;          /* for people */
} IbEngineChoice;

/* Automatic, CPU, then every usable Vulkan device (ib_vk_list_devices), listed once per process: creating a
 * Vulkan instance takes a moment. An array of IbEngineChoice. */
GPtrArray *ib_engine_setting_list_choices (void);

/* The backend and the device selector (NULL or "N", for IbVkDeviceOptions.selector) of a value; anything
 * unknown means automatic. Free *selector. */
void       ib_engine_setting_parse        (const char     *value,
                                           IbEditBackend  *backend,
                                           char          **selector);

G_END_DECLS
