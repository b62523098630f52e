/* ib-test-vulkan.h: what the Vulkan tests share: a device with the validation layer on (any message fails
 * the test), the skip rule, guarded device buffers, and normalized error measures. */
#pragma once

#include <glib.h>

#include "ib-vulkan-device.h"

G_BEGIN_DECLS

/* Opens the test device (validation on, no disk cache) once per program. When Vulkan exists but has no device
 * at all, prints why and exits 77 (skip); any other failure fails. */
IbVkDevice  *ib_test_vulkan_device        (void);
/* Frees the device (at exit) and asserts that the validation layer said nothing. */
void         ib_test_vulkan_finish        (void);
/* Asserts that the validation layer has said nothing so far. */
void         ib_test_vulkan_assert_clean  (void);

/* A device view of n floats followed by a guard region filled with a sentinel, from the test arena (reset
 * by ib_test_vulkan_reset). */
IbVkView     ib_test_vulkan_guarded       (gsize        n);
void         ib_test_vulkan_reset         (void);
IbVkArena   *ib_test_vulkan_arena         (void);
/* Downloads n floats and checks that the guard after them is intact. */
float       *ib_test_vulkan_read          (const IbVkView *view,
                                           gsize           n);
void         ib_test_vulkan_write         (const IbVkView *view,
                                           const void     *data,
                                           gsize           bytes);

/* ||a - b|| / max(||b||, tiny) and max |a - b| / max |b|. */
double       ib_test_relative_error       (const float *a,
                                           const float *b,
                                           gsize        n);
double       ib_test_max_error            (const float *a,
                                           const float *b,
                                           gsize        n);

G_END_DECLS
