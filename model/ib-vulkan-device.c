/* ib-vulkan-device.c: the Vulkan loader (opened at run time), instance, choosing a physical device, the
 * logical device and its queue, validation messages, the on-disk pipeline cache, and batches. */
#include "ib-vulkan-private.h"

#include <dlfcn.h>
#include <errno.h>
#include <string.h>

#define VALIDATION_LAYER "VK_LAYER_KHRONOS_validation"
#define STAGING_BYTES (16u << 20)

G_DEFINE_QUARK (ib-vk-error-quark, ib_vk_error)

gboolean
ib_vk_is_built (void)
{
  return TRUE;
}

/* Loader */

typedef struct
{
  void *library;
  PFN_vkGetInstanceProcAddr get_instance_proc_addr;
  char *problem;                    /* why there is no loader, or NULL */
} Loader;

static const Loader *
get_loader (void)
{
  static Loader loader;
  static gsize done = 0;

  if (g_once_init_enter (&done))
    {
      /* IMAGEBART_VULKAN_LOADER lets tests (and users with an odd install) name the library. */
      const char *names[] = { g_getenv ("IMAGEBART_VULKAN_LOADER"), "libvulkan.so.1", "libvulkan.so" };
      gboolean from_env = names[0] != NULL && *names[0] != '\0';

      for (gsize i = from_env ? 0 : 1; i < (from_env ? 1 : G_N_ELEMENTS (names)) && !loader.library; i++)
        loader.library = dlopen (names[i], RTLD_NOW | RTLD_LOCAL);
      if (loader.library != NULL)
        loader.get_instance_proc_addr = (PFN_vkGetInstanceProcAddr) dlsym (loader.library, "vkGetInstanceProcAddr");
      if (loader.get_instance_proc_addr == NULL)
        loader.problem = g_strdup ("No Vulkan loader (libvulkan.so.1) was found; install the Vulkan loader and a "
                                   "driver for your GPU, or use the CPU engine");
      g_once_init_leave (&done, 1);
    }
  return &loader;
}

static gboolean
load_global (IbVkInstanceTable *t,
             GError           **error)
{
  const Loader *loader = get_loader ();

  if (loader->problem != NULL)
    {
      g_set_error_literal (error, IB_VK_ERROR, IB_VK_ERROR_NO_LOADER, loader->problem);
      return FALSE;
    }
  memset (t, 0, sizeof *t);
  t->vkGetInstanceProcAddr = loader->get_instance_proc_addr;
#define LOAD(name) t->name = (PFN_##name) t->vkGetInstanceProcAddr (NULL, #name);
  IB_VK_GLOBAL_FUNCTIONS (LOAD)
#undef LOAD
  if (!t->vkCreateInstance || !t->vkEnumerateInstanceExtensionProperties || !t->vkEnumerateInstanceLayerProperties)
    {
      g_set_error_literal (error, IB_VK_ERROR, IB_VK_ERROR_NO_LOADER, "The Vulkan loader is broken (missing entry points)");
      return FALSE;
    }
  PFN_vkEnumerateInstanceVersion version_fn =
    (PFN_vkEnumerateInstanceVersion) t->vkGetInstanceProcAddr (NULL, "vkEnumerateInstanceVersion");
  uint32_t version = VK_API_VERSION_1_0;
  if (version_fn != NULL)
    version_fn (&version);
  if (version < VK_API_VERSION_1_1)
    {
      g_set_error (error, IB_VK_ERROR, IB_VK_ERROR_NO_LOADER, "The Vulkan loader supports Vulkan %u.%u; 1.1 is needed",
                   VK_API_VERSION_MAJOR (version), VK_API_VERSION_MINOR (version));
      return FALSE;
    }
  return TRUE;
}

static gboolean
load_instance (IbVkInstanceTable *t,
               VkInstance         instance,
               GError           **error)
{
#define LOAD(name) \
  if (!(t->name = (PFN_##name) t->vkGetInstanceProcAddr (instance, #name))) \
    { \
      g_set_error (error, IB_VK_ERROR, IB_VK_ERROR_FAILED, "The Vulkan loader lacks %s", #name); \
      return FALSE; \
    }
  IB_VK_INSTANCE_FUNCTIONS (LOAD)
#undef LOAD
  t->vkCreateDebugUtilsMessengerEXT =
    (PFN_vkCreateDebugUtilsMessengerEXT) t->vkGetInstanceProcAddr (instance, "vkCreateDebugUtilsMessengerEXT");
  t->vkDestroyDebugUtilsMessengerEXT =
    (PFN_vkDestroyDebugUtilsMessengerEXT) t->vkGetInstanceProcAddr (instance, "vkDestroyDebugUtilsMessengerEXT");
  return TRUE;
}

static const char *
result_name (VkResult result)
{
  switch (result)
    {
    case VK_SUCCESS: return "VK_SUCCESS";
    case VK_NOT_READY: return "VK_NOT_READY";
    case VK_TIMEOUT: return "VK_TIMEOUT";
    case VK_INCOMPLETE: return "VK_INCOMPLETE";
    case VK_ERROR_OUT_OF_HOST_MEMORY: return "VK_ERROR_OUT_OF_HOST_MEMORY";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY: return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
    case VK_ERROR_INITIALIZATION_FAILED: return "VK_ERROR_INITIALIZATION_FAILED";
    case VK_ERROR_DEVICE_LOST: return "VK_ERROR_DEVICE_LOST";
    case VK_ERROR_MEMORY_MAP_FAILED: return "VK_ERROR_MEMORY_MAP_FAILED";
    case VK_ERROR_LAYER_NOT_PRESENT: return "VK_ERROR_LAYER_NOT_PRESENT";
    case VK_ERROR_EXTENSION_NOT_PRESENT: return "VK_ERROR_EXTENSION_NOT_PRESENT";
    case VK_ERROR_FEATURE_NOT_PRESENT: return "VK_ERROR_FEATURE_NOT_PRESENT";
    case VK_ERROR_INCOMPATIBLE_DRIVER: return "VK_ERROR_INCOMPATIBLE_DRIVER";
    case VK_ERROR_TOO_MANY_OBJECTS: return "VK_ERROR_TOO_MANY_OBJECTS";
    case VK_ERROR_FORMAT_NOT_SUPPORTED: return "VK_ERROR_FORMAT_NOT_SUPPORTED";
    case VK_ERROR_FRAGMENTED_POOL: return "VK_ERROR_FRAGMENTED_POOL";
    case VK_ERROR_OUT_OF_POOL_MEMORY: return "VK_ERROR_OUT_OF_POOL_MEMORY";
    default: return "VkResult";
    }
}

static gboolean
check_result (VkResult    result,
              const char *what,
              GError    **error)
{
  if (result >= 0)
    return TRUE;
  switch (result)
    {
    case VK_ERROR_OUT_OF_HOST_MEMORY:
    case VK_ERROR_OUT_OF_DEVICE_MEMORY:
    case VK_ERROR_OUT_OF_POOL_MEMORY:
    case VK_ERROR_FRAGMENTED_POOL:
      g_set_error (error, IB_VK_ERROR, IB_VK_ERROR_OUT_OF_MEMORY,
                   "%s ran out of memory (%s): close other programs that use the GPU, work on a smaller image, or "
                   "use the CPU engine", what, result_name (result));
      break;
    case VK_ERROR_DEVICE_LOST:
      g_set_error (error, IB_VK_ERROR, IB_VK_ERROR_DEVICE_LOST,
                   "The GPU stopped responding (%s: device lost); the job was abandoned (the GPU engine must be "
                   "started afresh, or use the CPU engine)", what);
      break;
    case VK_ERROR_INCOMPATIBLE_DRIVER:
      g_set_error (error, IB_VK_ERROR, IB_VK_ERROR_NO_DEVICE, "%s: no compatible Vulkan driver", what);
      break;
    default:
      g_set_error (error, IB_VK_ERROR, IB_VK_ERROR_FAILED, "%s failed (%s, %d)", what, result_name (result), result);
      break;
    }
  return FALSE;
}

gboolean
ib_vk_check (IbVkDevice *device,
             VkResult    result,
             const char *what,
             GError    **error)
{
  if (result == VK_ERROR_DEVICE_LOST && device->failure == NULL)
    check_result (result, what, &device->failure);
  return check_result (result, what, error);
}

gboolean
ib_vk_device_ok (IbVkDevice *device,
                 GError    **error)
{
  if (device->failure == NULL)
    return TRUE;
  if (error != NULL)
    *error = g_error_copy (device->failure);
  return FALSE;
}

/* Instance */

static gboolean
has_instance_extension (IbVkInstanceTable *t,
                        const char        *name)
{
  uint32_t n = 0;
  if (t->vkEnumerateInstanceExtensionProperties (NULL, &n, NULL) != VK_SUCCESS)
    return FALSE;
  g_autofree VkExtensionProperties *list = g_new0 (VkExtensionProperties, MAX (n, 1));
  if (t->vkEnumerateInstanceExtensionProperties (NULL, &n, list) < 0)
    return FALSE;
  for (uint32_t i = 0; i < n; i++)
    if (strcmp (list[i].extensionName, name) == 0)
      return TRUE;
  return FALSE;
}

static gboolean
has_layer (IbVkInstanceTable *t,
           const char        *name)
{
  uint32_t n = 0;
  if (t->vkEnumerateInstanceLayerProperties (&n, NULL) != VK_SUCCESS)
    return FALSE;
  g_autofree VkLayerProperties *list = g_new0 (VkLayerProperties, MAX (n, 1));
  if (t->vkEnumerateInstanceLayerProperties (&n, list) < 0)
    return FALSE;
  for (uint32_t i = 0; i < n; i++)
    if (strcmp (list[i].layerName, name) == 0)
      return TRUE;
  return FALSE;
}

static VkBool32 VKAPI_PTR
debug_message_cb (VkDebugUtilsMessageSeverityFlagBitsEXT      severity,
                  VkDebugUtilsMessageTypeFlagsEXT             types,
                  const VkDebugUtilsMessengerCallbackDataEXT *data,
                  void                                       *user_data)
{
  IbVkDevice *device = user_data;
  const char *level = severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT ? "error" : "warning";
  char *line = g_strdup_printf ("Vulkan validation %s: %s", level, data->pMessage ? data->pMessage : "(no text)");

  g_mutex_lock (&device->messages_lock);
  g_ptr_array_add (device->messages, line);
  g_mutex_unlock (&device->messages_lock);
  /* Tests make warnings fatal, so the first message fails the test where it happened. */
  g_warning ("%s", line);
  return VK_FALSE;
}

static gboolean
create_instance (IbVkInstanceTable *t,
                 IbVkDevice        *messages_to,
                 VkInstance        *instance,
                 GError           **error)
{
  const char *extensions[2];
  const char *layers[1];
  uint32_t n_extensions = 0, n_layers = 0;
  VkInstanceCreateFlags flags = 0;
  VkDebugUtilsMessengerCreateInfoEXT messenger_info = {
    .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
    .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
    .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                   VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
    .pfnUserCallback = debug_message_cb,
    .pUserData = messages_to,
  };

  /* MoltenVK and other non-conformant implementations are listed only when asked for. */
  if (has_instance_extension (t, VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME))
    {
      extensions[n_extensions++] = VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME;
      flags |= VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR;
    }
  if (messages_to != NULL)
    {
      if (!has_layer (t, VALIDATION_LAYER) || !has_instance_extension (t, VK_EXT_DEBUG_UTILS_EXTENSION_NAME))
        {
          g_set_error (error, IB_VK_ERROR, IB_VK_ERROR_UNSUPPORTED,
                       "Validation was asked for but %s (with %s) is not installed (Debian: vulkan-validationlayers)",
                       VALIDATION_LAYER, VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
          return FALSE;
        }
      layers[n_layers++] = VALIDATION_LAYER;
      extensions[n_extensions++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
    }

  VkApplicationInfo app = {
    .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
    .pApplicationName = "ImageBART Studio",
    .applicationVersion = 1,
    .pEngineName = "imagebart",
    .engineVersion = 1,
    .apiVersion = VK_API_VERSION_1_1,
  };
  VkInstanceCreateInfo info = {
    .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
    .pNext = messages_to != NULL ? &messenger_info : NULL,
    .flags = flags,
    .pApplicationInfo = &app,
    .enabledLayerCount = n_layers,
    .ppEnabledLayerNames = layers,
    .enabledExtensionCount = n_extensions,
    .ppEnabledExtensionNames = extensions,
  };
  VkResult result = t->vkCreateInstance (&info, NULL, instance);
  if (result == VK_ERROR_INCOMPATIBLE_DRIVER)
    {
      g_set_error_literal (error, IB_VK_ERROR, IB_VK_ERROR_NO_DEVICE, "No Vulkan driver is installed");
      return FALSE;
    }
  if (!check_result (result, "vkCreateInstance", error))
    return FALSE;
  if (!load_instance (t, *instance, error))
    {
      PFN_vkDestroyInstance destroy = (PFN_vkDestroyInstance) t->vkGetInstanceProcAddr (*instance, "vkDestroyInstance");
      if (destroy)
        destroy (*instance, NULL);
      return FALSE;
    }
  return TRUE;
}

/* Physical devices */

const char *
ib_vk_device_kind_name (IbVkDeviceKind kind)
{
  switch (kind)
    {
    case IB_VK_DEVICE_DISCRETE: return "discrete GPU";
    case IB_VK_DEVICE_INTEGRATED: return "integrated GPU";
    case IB_VK_DEVICE_VIRTUAL: return "virtual GPU";
    case IB_VK_DEVICE_CPU: return "CPU (software)";
    default: return "other";
    }
}

static IbVkDeviceKind
kind_of (VkPhysicalDeviceType type)
{
  switch (type)
    {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return IB_VK_DEVICE_DISCRETE;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return IB_VK_DEVICE_INTEGRATED;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return IB_VK_DEVICE_VIRTUAL;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return IB_VK_DEVICE_CPU;
    default: return IB_VK_DEVICE_OTHER;
    }
}

/* Lower is better: a CPU implementation comes last, after even unknown kinds. */
static int
kind_rank (IbVkDeviceKind kind)
{
  switch (kind)
    {
    case IB_VK_DEVICE_DISCRETE: return 0;
    case IB_VK_DEVICE_INTEGRATED: return 1;
    case IB_VK_DEVICE_VIRTUAL: return 2;
    case IB_VK_DEVICE_OTHER: return 3;
    default: return 4;
    }
}

static int
compute_queue_family (IbVkInstanceTable *t,
                      VkPhysicalDevice   physical)
{
  uint32_t n = 0;
  t->vkGetPhysicalDeviceQueueFamilyProperties (physical, &n, NULL);
  g_autofree VkQueueFamilyProperties *families = g_new0 (VkQueueFamilyProperties, MAX (n, 1));
  t->vkGetPhysicalDeviceQueueFamilyProperties (physical, &n, families);
  for (uint32_t i = 0; i < n; i++)
    if ((families[i].queueFlags & VK_QUEUE_COMPUTE_BIT) && families[i].queueCount > 0)
      return (int) i;
  return -1;
}

void
ib_vk_device_info_free (IbVkDeviceInfo *info)
{
  if (info == NULL)
    return;
  g_free (info->name);
  g_free (info->driver);
  g_free (info);
}

static IbVkDeviceInfo *
describe (IbVkInstanceTable *t,
          VkPhysicalDevice   physical,
          int                index)
{
  IbVkDeviceInfo *info = g_new0 (IbVkDeviceInfo, 1);
  VkPhysicalDeviceDriverProperties driver = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES };
  VkPhysicalDeviceProperties2 properties = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2 };
  VkPhysicalDeviceMemoryProperties memory;

  t->vkGetPhysicalDeviceProperties (physical, &properties.properties);
  /* The driver properties struct is Vulkan 1.2; ask for it only there. */
  if (properties.properties.apiVersion >= VK_API_VERSION_1_2)
    {
      properties.pNext = &driver;
      t->vkGetPhysicalDeviceProperties2 (physical, &properties);
    }
  t->vkGetPhysicalDeviceMemoryProperties (physical, &memory);

  info->index = index;
  info->name = g_strndup (properties.properties.deviceName, VK_MAX_PHYSICAL_DEVICE_NAME_SIZE);
  info->kind = kind_of (properties.properties.deviceType);
  info->vendor_id = properties.properties.vendorID;
  info->device_id = properties.properties.deviceID;
  info->api_version = properties.properties.apiVersion;
  info->driver = properties.pNext != NULL
                   ? g_strdup_printf ("%.*s %.*s", VK_MAX_DRIVER_NAME_SIZE, driver.driverName, VK_MAX_DRIVER_INFO_SIZE,
                                      driver.driverInfo)
                   : g_strdup ("");
  for (uint32_t h = 0; h < memory.memoryHeapCount; h++)
    if (memory.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT)
      info->device_local_bytes = MAX (info->device_local_bytes, memory.memoryHeaps[h].size);
  info->usable = info->api_version >= VK_API_VERSION_1_1 && compute_queue_family (t, physical) >= 0;
  return info;
}

static gint
compare_devices (gconstpointer a,
                 gconstpointer b)
{
  const IbVkDeviceInfo *x = *(IbVkDeviceInfo *const *) a, *y = *(IbVkDeviceInfo *const *) b;

  if (x->usable != y->usable)
    return x->usable ? -1 : 1;
  if (kind_rank (x->kind) != kind_rank (y->kind))
    return kind_rank (x->kind) - kind_rank (y->kind);
  if (x->device_local_bytes != y->device_local_bytes)
    return x->device_local_bytes > y->device_local_bytes ? -1 : 1;
  return x->index - y->index;
}

static GPtrArray *
enumerate (IbVkInstanceTable *t,
           VkInstance         instance,
           VkPhysicalDevice **physical_out,
           GError           **error)
{
  uint32_t n = 0;
  if (!check_result (t->vkEnumeratePhysicalDevices (instance, &n, NULL), "vkEnumeratePhysicalDevices", error))
    return NULL;
  g_autofree VkPhysicalDevice *physical = g_new0 (VkPhysicalDevice, MAX (n, 1));
  if (!check_result (t->vkEnumeratePhysicalDevices (instance, &n, physical), "vkEnumeratePhysicalDevices", error))
    return NULL;
  GPtrArray *list = g_ptr_array_new_with_free_func ((GDestroyNotify) ib_vk_device_info_free);
  for (uint32_t i = 0; i < n; i++)
    g_ptr_array_add (list, describe (t, physical[i], (int) i));
  g_ptr_array_sort (list, compare_devices);
  if (physical_out != NULL)
    *physical_out = g_steal_pointer (&physical);
  return list;
}

GPtrArray *
ib_vk_list_devices (GError **error)
{
  IbVkInstanceTable t;
  VkInstance instance;

  if (!load_global (&t, error) || !create_instance (&t, NULL, &instance, error))
    return NULL;
  GPtrArray *list = enumerate (&t, instance, NULL, error);
  t.vkDestroyInstance (instance, NULL);
  return list;
}

static gboolean
find_gpu (void)
{
  g_autoptr (GPtrArray) list = ib_vk_list_devices (NULL);

  if (list == NULL)
    return FALSE;
  for (guint i = 0; i < list->len; i++)
    {
      const IbVkDeviceInfo *info = g_ptr_array_index (list, i);
      if (info->usable && info->kind != IB_VK_DEVICE_CPU)
        return TRUE;
    }
  return FALSE;
}

gboolean
ib_vk_has_gpu (void)
{
  /* Once: each look creates a Vulkan instance (about 60 ms with lavapipe), and the editor asks at the start
   * of every job on the "auto" engine. */
  enum { NOT_ASKED, NO_GPU, GPU };
  static gsize answer = NOT_ASKED;

  if (g_once_init_enter (&answer))
    g_once_init_leave (&answer, find_gpu () ? GPU : NO_GPU);
  return answer == GPU;
}

/* The chosen entry of the sorted list, or NULL with error. */
static const IbVkDeviceInfo *
select_device (GPtrArray  *list,
               const char *selector,
               GError    **error)
{
  guint64 index;

  if (list->len == 0)
    {
      g_set_error_literal (error, IB_VK_ERROR, IB_VK_ERROR_NO_DEVICE,
                           "Vulkan works but lists no device; install a Vulkan driver for your GPU");
      return NULL;
    }
  if (selector == NULL || *selector == '\0')
    {
      const IbVkDeviceInfo *best = g_ptr_array_index (list, 0);
      if (!best->usable)
        {
          g_set_error (error, IB_VK_ERROR, IB_VK_ERROR_NO_DEVICE,
                       "No Vulkan device is usable (Vulkan 1.1 with a compute queue is needed; the best is %s)",
                       best->name);
          return NULL;
        }
      return best;
    }

  const IbVkDeviceInfo *found = NULL;
  if (g_ascii_string_to_unsigned (selector, 10, 0, G_MAXINT, &index, NULL))
    {
      for (guint i = 0; i < list->len; i++)
        if (((IbVkDeviceInfo *) g_ptr_array_index (list, i))->index == (int) index)
          found = g_ptr_array_index (list, i);
      if (found == NULL)
        {
          g_set_error (error, IB_VK_ERROR, IB_VK_ERROR_NO_DEVICE,
                       "There is no Vulkan device %s (there %s %u; 'imagebart devices' lists them)", selector,
                       list->len == 1 ? "is" : "are", list->len);
          return NULL;
        }
    }
  else
    {
      g_autofree char *wanted = g_utf8_casefold (selector, -1);
      for (guint i = 0; i < list->len && found == NULL; i++)
        {
          const IbVkDeviceInfo *info = g_ptr_array_index (list, i);
          g_autofree char *name = g_utf8_casefold (info->name, -1);
          if (strstr (name, wanted) != NULL)
            found = info;
        }
      if (found == NULL)
        {
          g_set_error (error, IB_VK_ERROR, IB_VK_ERROR_NO_DEVICE,
                       "No Vulkan device's name contains \"%s\" ('imagebart devices' lists them)", selector);
          return NULL;
        }
    }
  if (!found->usable)
    {
      g_set_error (error, IB_VK_ERROR, IB_VK_ERROR_NO_DEVICE,
                   "The Vulkan device %s cannot run the engine (Vulkan 1.1 with a compute queue is needed)", found->name);
      return NULL;
    }
  return found;
}

/* Pipeline cache on disk */

static char *
pipeline_cache_path (const VkPhysicalDeviceProperties *p)
{
  GString *name = g_string_new (NULL);

  g_string_append_printf (name, "%04x-%04x-", p->vendorID, p->deviceID);
  for (guint i = 0; i < VK_UUID_SIZE; i++)
    g_string_append_printf (name, "%02x", p->pipelineCacheUUID[i]);
  g_string_append (name, ".bin");
  char *path = g_build_filename (g_get_user_cache_dir (), "imagebart-studio", "vulkan-pipelines", name->str, NULL);
  g_string_free (name, TRUE);
  return path;
}

/* Keeps data only when its header is for this very device and driver: some drivers trust the blob. */
static gboolean
pipeline_cache_matches (const guint8                     *data,
                        gsize                             length,
                        const VkPhysicalDeviceProperties *p)
{
  guint32 header[4];

  if (length < 16 + VK_UUID_SIZE)
    return FALSE;
  memcpy (header, data, sizeof header);
  return header[0] >= 16 + VK_UUID_SIZE && header[0] <= length &&
         header[1] == VK_PIPELINE_CACHE_HEADER_VERSION_ONE && header[2] == p->vendorID && header[3] == p->deviceID &&
         memcmp (data + 16, p->pipelineCacheUUID, VK_UUID_SIZE) == 0;
}

static gboolean
create_pipeline_cache (IbVkDevice *d,
                       gboolean    use_disk,
                       GError    **error)
{
  g_autofree char *contents = NULL;
  gsize length = 0;
  VkPipelineCacheCreateInfo info = { .sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO };

  if (use_disk)
    {
      d->pipeline_cache_path = pipeline_cache_path (&d->properties);
      if (g_file_get_contents (d->pipeline_cache_path, &contents, &length, NULL) &&
          pipeline_cache_matches ((const guint8 *) contents, length, &d->properties))
        {
          info.initialDataSize = length;
          info.pInitialData = contents;
        }
    }
  if (d->vk.vkCreatePipelineCache (d->device, &info, NULL, &d->pipeline_cache) == VK_SUCCESS)
    return TRUE;
  /* A rejected blob is not worth failing for: start empty. */
  info.initialDataSize = 0;
  info.pInitialData = NULL;
  return ib_vk_check (d, d->vk.vkCreatePipelineCache (d->device, &info, NULL, &d->pipeline_cache),
                      "vkCreatePipelineCache", error);
}

static void
save_pipeline_cache (IbVkDevice *d)
{
  size_t size = 0;

  if (d->pipeline_cache_path == NULL || d->pipeline_cache == VK_NULL_HANDLE ||
      d->vk.vkGetPipelineCacheData (d->device, d->pipeline_cache, &size, NULL) != VK_SUCCESS || size == 0)
    return;
  g_autofree guint8 *data = g_malloc (size);
  if (d->vk.vkGetPipelineCacheData (d->device, d->pipeline_cache, &size, data) != VK_SUCCESS)
    return;
  g_autofree char *folder = g_path_get_dirname (d->pipeline_cache_path);
  g_autoptr (GError) error = NULL;
  if (g_mkdir_with_parents (folder, 0700) != 0 ||
      !g_file_set_contents (d->pipeline_cache_path, (const char *) data, (gssize) size, &error))
    g_debug ("Could not save the Vulkan pipeline cache to %s: %s", d->pipeline_cache_path,
             error ? error->message : g_strerror (errno));
}

/* The device */

static void
read_limits (IbVkDevice              *d,
             const IbVkDeviceOptions *options)
{
  VkPhysicalDeviceSubgroupProperties subgroup = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES };
  VkPhysicalDeviceMaintenance3Properties maintenance3 = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES,
    .pNext = &subgroup,
  };
  VkPhysicalDeviceProperties2 properties = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
    .pNext = &maintenance3,
  };
  VkPhysicalDeviceFeatures features;
  const VkPhysicalDeviceLimits *l = &d->properties.limits;
  IbVkLimits *m = &d->limits;

  d->vki.vkGetPhysicalDeviceProperties2 (d->physical, &properties);
  d->vki.vkGetPhysicalDeviceFeatures (d->physical, &features);
  m->max_range = l->maxStorageBufferRange;
  if (options->max_range_override > 0 && options->max_range_override < m->max_range)
    m->max_range = options->max_range_override;
  m->max_allocation = maintenance3.maxMemoryAllocationSize > 0 ? maintenance3.maxMemoryAllocationSize : 1u << 30;
  m->offset_alignment = MAX (l->minStorageBufferOffsetAlignment, 16);
  m->non_coherent_atom = MAX (l->nonCoherentAtomSize, 1);
  m->max_shared_bytes = l->maxComputeSharedMemorySize;
  m->max_invocations = l->maxComputeWorkGroupInvocations;
  for (int i = 0; i < 3; i++)
    {
      m->max_group_size[i] = l->maxComputeWorkGroupSize[i];
      m->max_group_count[i] = l->maxComputeWorkGroupCount[i];
    }
  m->max_push_bytes = l->maxPushConstantsSize;
  m->subgroup_size = subgroup.subgroupSize;
  m->float64 = features.shaderFloat64;
}

static gboolean
has_device_extension (IbVkDevice *d,
                      const char *name)
{
  uint32_t n = 0;
  if (d->vki.vkEnumerateDeviceExtensionProperties (d->physical, NULL, &n, NULL) != VK_SUCCESS)
    return FALSE;
  g_autofree VkExtensionProperties *list = g_new0 (VkExtensionProperties, MAX (n, 1));
  if (d->vki.vkEnumerateDeviceExtensionProperties (d->physical, NULL, &n, list) < 0)
    return FALSE;
  for (uint32_t i = 0; i < n; i++)
    if (strcmp (list[i].extensionName, name) == 0)
      return TRUE;
  return FALSE;
}

static gboolean
create_logical_device (IbVkDevice *d,
                       GError    **error)
{
  float priority = 1.0f;
  const char *extensions[1];
  uint32_t n_extensions = 0;
  VkPhysicalDeviceFeatures features = { .shaderFloat64 = d->limits.float64 };
  VkDeviceQueueCreateInfo queue = {
    .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
    .queueFamilyIndex = d->queue_family,
    .queueCount = 1,
    .pQueuePriorities = &priority,
  };

  /* A portability implementation must have its subset extension enabled when it lists it. */
  if (has_device_extension (d, "VK_KHR_portability_subset"))
    extensions[n_extensions++] = "VK_KHR_portability_subset";
  VkDeviceCreateInfo info = {
    .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
    .queueCreateInfoCount = 1,
    .pQueueCreateInfos = &queue,
    .enabledExtensionCount = n_extensions,
    .ppEnabledExtensionNames = extensions,
    .pEnabledFeatures = &features,
  };
  if (!check_result (d->vki.vkCreateDevice (d->physical, &info, NULL, &d->device), "vkCreateDevice", error))
    return FALSE;
#define LOAD(name) \
  if (!(d->vk.name = (PFN_##name) d->vki.vkGetDeviceProcAddr (d->device, #name))) \
    { \
      g_set_error (error, IB_VK_ERROR, IB_VK_ERROR_FAILED, "The Vulkan driver lacks %s", #name); \
      return FALSE; \
    }
  IB_VK_DEVICE_FUNCTIONS (LOAD)
#undef LOAD
  d->vk.vkGetDeviceQueue (d->device, d->queue_family, 0, &d->queue);
  return TRUE;
}

static gboolean
create_batch_objects (IbVkDevice *d,
                      GError    **error)
{
  VkCommandPoolCreateInfo pool = {
    .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
    .flags = VK_COMMAND_POOL_CREATE_TRANSIENT_BIT,
    .queueFamilyIndex = d->queue_family,
  };
  VkFenceCreateInfo fence = { .sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO };

  if (!ib_vk_check (d, d->vk.vkCreateCommandPool (d->device, &pool, NULL, &d->command_pool), "vkCreateCommandPool",
                    error))
    return FALSE;
  VkCommandBufferAllocateInfo allocate = {
    .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
    .commandPool = d->command_pool,
    .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
    .commandBufferCount = 1,
  };
  if (!ib_vk_check (d, d->vk.vkAllocateCommandBuffers (d->device, &allocate, &d->command_buffer),
                    "vkAllocateCommandBuffers", error) ||
      !ib_vk_check (d, d->vk.vkCreateFence (d->device, &fence, NULL, &d->fence), "vkCreateFence", error))
    return FALSE;
  d->staging = ib_vk_buffer_new (d, MIN ((guint64) STAGING_BYTES, d->limits.max_allocation), TRUE, error);
  if (d->staging == NULL)
    return FALSE;
  d->attention_unsplit = g_strcmp0 (g_getenv ("IMAGEBART_VK_SPLIT_ATTENTION"), "0") == 0;
  d->attention_by_row = g_strcmp0 (g_getenv ("IMAGEBART_VK_ROW_BLOCK_ATTENTION"), "0") == 0;
  const char *tile = g_getenv ("IMAGEBART_VK_MATMUL_TILE");
  d->matmul_tile = tile != NULL && g_ascii_isdigit (tile[0]) ? (int) MIN (g_ascii_strtoull (tile, NULL, 10), 99) : -1;
  d->matmul_unsplit = g_strcmp0 (g_getenv ("IMAGEBART_VK_SPLIT_MATMUL"), "0") == 0;
  /* Made here, not on first use: a buffer allocated while a batch records could fail halfway through it. */
  d->scratch = ib_vk_buffer_new (d, MIN ((guint64) IB_VK_SCRATCH_BYTES, d->limits.max_allocation), FALSE, error);
  return d->scratch != NULL;
}

IbVkDevice *
ib_vk_device_new (const IbVkDeviceOptions *options,
                  GError                 **error)
{
  static const IbVkDeviceOptions defaults = { 0 };
  g_autoptr (IbVkDevice) d = g_new0 (IbVkDevice, 1);
  g_autofree VkPhysicalDevice *physical = NULL;

  if (options == NULL)
    options = &defaults;
  g_mutex_init (&d->messages_lock);
  d->messages = g_ptr_array_new_with_free_func (g_free);
  d->pipelines = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  d->layouts = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, NULL);
  d->descriptor_pools = g_ptr_array_new ();
  d->accesses = g_array_new (FALSE, FALSE, sizeof (IbVkAccess));

  if (!load_global (&d->vki, error) ||
      !create_instance (&d->vki, options->validation ? d : NULL, &d->instance, error))
    return NULL;
  if (options->validation)
    {
      VkDebugUtilsMessengerCreateInfoEXT info = {
        .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
        .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
        .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
        .pfnUserCallback = debug_message_cb,
        .pUserData = d,
      };
      if (d->vki.vkCreateDebugUtilsMessengerEXT == NULL ||
          !check_result (d->vki.vkCreateDebugUtilsMessengerEXT (d->instance, &info, NULL, &d->messenger),
                         "vkCreateDebugUtilsMessengerEXT", error))
        {
          if (error != NULL && *error == NULL)
            g_set_error_literal (error, IB_VK_ERROR, IB_VK_ERROR_UNSUPPORTED, "No debug messenger in this loader");
          return NULL;
        }
    }

  g_autoptr (GPtrArray) list = enumerate (&d->vki, d->instance, &physical, error);
  if (list == NULL)
    return NULL;
  const IbVkDeviceInfo *chosen = select_device (list, options->selector, error);
  if (chosen == NULL)
    return NULL;
  d->physical = physical[chosen->index];
  d->kind = chosen->kind;
  d->vki.vkGetPhysicalDeviceProperties (d->physical, &d->properties);
  d->vki.vkGetPhysicalDeviceMemoryProperties (d->physical, &d->memory_properties);
  d->queue_family = (guint32) compute_queue_family (&d->vki, d->physical);
  read_limits (d, options);
  ib_vk_faults_init (d);

  if (!create_logical_device (d, error) ||
      !create_pipeline_cache (d, !options->no_disk_cache, error) ||
      !create_batch_objects (d, error))
    return NULL;
  return g_steal_pointer (&d);
}

void
ib_vk_device_free (IbVkDevice *d)
{
  if (d == NULL)
    return;
  if (d->device != VK_NULL_HANDLE)
    {
      d->vk.vkDeviceWaitIdle (d->device);
      save_pipeline_cache (d);
      ib_vk_profile_free (d);
      ib_vk_pipelines_free (d);
      for (guint i = 0; i < d->descriptor_pools->len; i++)
        d->vk.vkDestroyDescriptorPool (d->device, g_ptr_array_index (d->descriptor_pools, i), NULL);
      g_clear_pointer (&d->staging, ib_vk_buffer_free);
      g_clear_pointer (&d->scratch, ib_vk_buffer_free);
      if (d->fence != VK_NULL_HANDLE)
        d->vk.vkDestroyFence (d->device, d->fence, NULL);
      if (d->command_pool != VK_NULL_HANDLE)
        d->vk.vkDestroyCommandPool (d->device, d->command_pool, NULL);
      if (d->pipeline_cache != VK_NULL_HANDLE)
        d->vk.vkDestroyPipelineCache (d->device, d->pipeline_cache, NULL);
      d->vk.vkDestroyDevice (d->device, NULL);
    }
  if (d->messenger != VK_NULL_HANDLE)
    d->vki.vkDestroyDebugUtilsMessengerEXT (d->instance, d->messenger, NULL);
  if (d->instance != VK_NULL_HANDLE)
    d->vki.vkDestroyInstance (d->instance, NULL);
  g_ptr_array_unref (d->descriptor_pools);
  g_hash_table_unref (d->pipelines);
  g_hash_table_unref (d->layouts);
  g_array_unref (d->accesses);
  g_ptr_array_unref (d->messages);
  g_mutex_clear (&d->messages_lock);
  g_free (d->pipeline_cache_path);
  g_clear_error (&d->failure);
  g_free (d);
}

const char *
ib_vk_device_get_name (IbVkDevice *device)
{
  g_return_val_if_fail (device != NULL, NULL);
  return device->properties.deviceName;
}

IbVkDeviceKind
ib_vk_device_get_kind (IbVkDevice *device)
{
  g_return_val_if_fail (device != NULL, IB_VK_DEVICE_OTHER);
  return device->kind;
}

guint64
ib_vk_device_max_range (IbVkDevice *device)
{
  return device->limits.max_range;
}

guint
ib_vk_device_n_messages (IbVkDevice *device)
{
  g_mutex_lock (&device->messages_lock);
  guint n = device->messages->len;
  g_mutex_unlock (&device->messages_lock);
  return n;
}

const char *
ib_vk_device_get_message (IbVkDevice *device,
                          guint       i)
{
  g_mutex_lock (&device->messages_lock);
  const char *line = i < device->messages->len ? g_ptr_array_index (device->messages, i) : NULL;
  g_mutex_unlock (&device->messages_lock);
  return line;
}
