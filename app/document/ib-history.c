/* ib-history.c: undo/redo steps with a memory cap. */
#include "ib-history.h"

#include <string.h>

struct _IbHistoryStep
{
  gatomicrefcount ref_count;
  IbHistoryStepKind kind;
  GdkRectangle rect;
  IbMaskChange *mask_change;
  GBytes *mask_before;
  GBytes *mask_after;
  IbEditImage *picture_before;
  IbEditImage *picture_after;
  char *recipe_before;
  char *recipe_after;
  gsize size;
};

G_DEFINE_BOXED_TYPE (IbHistoryStep, ib_history_step, ib_history_step_ref, ib_history_step_unref)

static IbHistoryStep *
step_new (IbHistoryStepKind   kind,
          const GdkRectangle *rect)
{
  IbHistoryStep *step = g_new0 (IbHistoryStep, 1);
  g_atomic_ref_count_init (&step->ref_count);
  step->kind = kind;
  step->rect = *rect;
  step->size = sizeof *step;
  return step;
}

IbHistoryStep *
ib_history_step_new_mask_change (IbMaskChange *change)
{
  g_return_val_if_fail (change != NULL, NULL);
  GdkRectangle rect;
  ib_mask_change_get_rectangle (change, &rect);
  IbHistoryStep *step = step_new (IB_HISTORY_STEP_MASK, &rect);
  step->mask_change = ib_mask_change_ref (change);
  step->size += ib_mask_change_get_size (change);
  return step;
}

IbHistoryStep *
ib_history_step_new_mask_pixels (const GdkRectangle *rect,
                                 GBytes             *before,
                                 GBytes             *after)
{
  g_return_val_if_fail (rect != NULL && rect->width > 0 && rect->height > 0, NULL);
  g_return_val_if_fail (before != NULL && after != NULL, NULL);
  g_return_val_if_fail (g_bytes_get_size (before) == (gsize) rect->width * rect->height, NULL);
  g_return_val_if_fail (g_bytes_get_size (after) == (gsize) rect->width * rect->height, NULL);

  IbHistoryStep *step = step_new (IB_HISTORY_STEP_MASK, rect);
  step->mask_before = g_bytes_ref (before);
  step->mask_after = g_bytes_ref (after);
  step->size += 2 * g_bytes_get_size (before);
  return step;
}

IbHistoryStep *
ib_history_step_new_picture (IbEditImage *before,
                             IbEditImage *after,
                             const char  *recipe_before,
                             const char  *recipe_after)
{
  g_return_val_if_fail (before != NULL && after != NULL, NULL);
  g_return_val_if_fail (before->x == after->x && before->y == after->y, NULL);
  g_return_val_if_fail (before->width == after->width && before->height == after->height, NULL);

  GdkRectangle rect = { before->x, before->y, before->width, before->height };
  IbHistoryStep *step = step_new (IB_HISTORY_STEP_PICTURE, &rect);
  step->picture_before = ib_edit_image_ref (before);
  step->picture_after = ib_edit_image_ref (after);
  step->recipe_before = g_strdup (recipe_before);
  step->recipe_after = g_strdup (recipe_after);
  step->size += (gsize) before->stride * before->height + (gsize) after->stride * after->height;
  step->size += (recipe_before != NULL ? strlen (recipe_before) : 0) +
                (recipe_after != NULL ? strlen (recipe_after) : 0);
  return step;
}

IbHistoryStep *
ib_history_step_ref (IbHistoryStep *step)
{
  g_return_val_if_fail (step != NULL, NULL);
  g_atomic_ref_count_inc (&step->ref_count);
  return step;
}

void
ib_history_step_unref (IbHistoryStep *step)
{
  g_return_if_fail (step != NULL);
  if (!g_atomic_ref_count_dec (&step->ref_count))
    return;
  g_clear_pointer (&step->mask_change, ib_mask_change_unref);
  g_clear_pointer (&step->mask_before, g_bytes_unref);
  g_clear_pointer (&step->mask_after, g_bytes_unref);
  g_clear_pointer (&step->picture_before, ib_edit_image_unref);
  g_clear_pointer (&step->picture_after, ib_edit_image_unref);
  g_free (step->recipe_before);
  g_free (step->recipe_after);
  g_free (step);
}

IbHistoryStepKind
ib_history_step_get_kind (IbHistoryStep *step)
{
  return step->kind;
}

void
ib_history_step_get_rectangle (IbHistoryStep *step,
                               GdkRectangle  *rect)
{
  *rect = step->rect;
}

gsize
ib_history_step_get_size (IbHistoryStep *step)
{
  return step->size;
}

IbMaskChange *
ib_history_step_get_mask_change (IbHistoryStep *step)
{
  return step->mask_change;
}

GBytes *
ib_history_step_get_mask_before (IbHistoryStep *step)
{
  return step->mask_before;
}

GBytes *
ib_history_step_get_mask_after (IbHistoryStep *step)
{
  return step->mask_after;
}

IbEditImage *
ib_history_step_get_picture_before (IbHistoryStep *step)
{
  return step->picture_before;
}

IbEditImage *
ib_history_step_get_picture_after (IbHistoryStep *step)
{
  return step->picture_after;
}

const char *
ib_history_step_get_recipe_before (IbHistoryStep *step)
{
  return step->recipe_before;
}

const char *
ib_history_step_get_recipe_after (IbHistoryStep *step)
{
  return step->recipe_after;
}

/* The history */

struct _IbHistory
{
  GObject parent_instance;

  GPtrArray *steps;             /* IbHistoryStep, oldest first */
  guint n_done;
  guint64 size;
  guint64 max_bytes;
};

G_DEFINE_FINAL_TYPE (IbHistory, ib_history, G_TYPE_OBJECT)

enum
{
  PROP_0,
  PROP_MAX_BYTES,
  PROP_SIZE,
  PROP_CAN_UNDO,
  PROP_CAN_REDO,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void
ib_history_finalize (GObject *object)
{
  IbHistory *self = IB_HISTORY (object);
  g_ptr_array_unref (self->steps);
  G_OBJECT_CLASS (ib_history_parent_class)->finalize (object);
}

static void
ib_history_get_property (GObject    *object,
                         guint       prop_id,
                         GValue     *value,
                         GParamSpec *pspec)
{
  IbHistory *self = IB_HISTORY (object);
  switch (prop_id)
    {
    case PROP_MAX_BYTES:
      g_value_set_uint64 (value, self->max_bytes);
      break;
    case PROP_SIZE:
      g_value_set_uint64 (value, self->size);
      break;
    case PROP_CAN_UNDO:
      g_value_set_boolean (value, ib_history_can_undo (self));
      break;
    case PROP_CAN_REDO:
      g_value_set_boolean (value, ib_history_can_redo (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
ib_history_set_property (GObject      *object,
                         guint         prop_id,
                         const GValue *value,
                         GParamSpec   *pspec)
{
  IbHistory *self = IB_HISTORY (object);
  switch (prop_id)
    {
    case PROP_MAX_BYTES:
      ib_history_set_max_bytes (self, g_value_get_uint64 (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
ib_history_class_init (IbHistoryClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  object_class->finalize = ib_history_finalize;
  object_class->get_property = ib_history_get_property;
  object_class->set_property = ib_history_set_property;

  properties[PROP_MAX_BYTES] =
    g_param_spec_uint64 ("max-bytes", NULL, NULL, 0, G_MAXUINT64, IB_HISTORY_MIB (512),
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_SIZE] =
    g_param_spec_uint64 ("size", NULL, NULL, 0, G_MAXUINT64, 0,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_CAN_UNDO] =
    g_param_spec_boolean ("can-undo", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_CAN_REDO] =
    g_param_spec_boolean ("can-redo", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
ib_history_init (IbHistory *self)
{
  self->steps = g_ptr_array_new_with_free_func ((GDestroyNotify) ib_history_step_unref);
  self->max_bytes = IB_HISTORY_MIB (512);
}

IbHistory *
ib_history_new (guint64 max_bytes)
{
  return g_object_new (IB_TYPE_HISTORY, "max-bytes", max_bytes, NULL);
}

/* What notify_changes compares against. */
typedef struct
{
  gboolean can_undo;
  gboolean can_redo;
  guint64 size;
} State;

static State
get_state (IbHistory *self)
{
  return (State) { ib_history_can_undo (self), ib_history_can_redo (self), self->size };
}

static void
notify_changes (IbHistory   *self,
                const State *before)
{
  if (before->can_undo != ib_history_can_undo (self))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CAN_UNDO]);
  if (before->can_redo != ib_history_can_redo (self))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CAN_REDO]);
  if (before->size != self->size)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SIZE]);
}

static void
remove_range (IbHistory *self,
              guint      index,
              guint      n)
{
  for (guint i = index; i < index + n; i++)
    self->size -= ib_history_step_get_size (g_ptr_array_index (self->steps, i));
  g_ptr_array_remove_range (self->steps, index, n);
}

/* Drops the oldest done steps while over the cap, then the farthest redo steps, always keeping one step:
 * the newest done one, or with none done the next redo. */
static void
trim (IbHistory *self)
{
  while (self->size > self->max_bytes && self->steps->len > 1)
    {
      if (self->n_done >= 2)
        {
          remove_range (self, 0, 1);
          self->n_done--;
        }
      else
        remove_range (self, self->steps->len - 1, 1);
    }
}

void
ib_history_set_max_bytes (IbHistory *self,
                          guint64    max_bytes)
{
  g_return_if_fail (IB_IS_HISTORY (self));
  if (self->max_bytes == max_bytes)
    return;
  State before = get_state (self);
  self->max_bytes = max_bytes;
  trim (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MAX_BYTES]);
  notify_changes (self, &before);
}

guint64
ib_history_get_max_bytes (IbHistory *self)
{
  g_return_val_if_fail (IB_IS_HISTORY (self), 0);
  return self->max_bytes;
}

guint64
ib_history_get_size (IbHistory *self)
{
  g_return_val_if_fail (IB_IS_HISTORY (self), 0);
  return self->size;
}

gboolean
ib_history_can_undo (IbHistory *self)
{
  g_return_val_if_fail (IB_IS_HISTORY (self), FALSE);
  return self->n_done > 0;
}

gboolean
ib_history_can_redo (IbHistory *self)
{
  g_return_val_if_fail (IB_IS_HISTORY (self), FALSE);
  return self->n_done < self->steps->len;
}

void
ib_history_push (IbHistory     *self,
                 IbHistoryStep *step)
{
  g_return_if_fail (IB_IS_HISTORY (self));
  g_return_if_fail (step != NULL);

  State before = get_state (self);
  remove_range (self, self->n_done, self->steps->len - self->n_done);
  g_ptr_array_add (self->steps, ib_history_step_ref (step));
  self->size += ib_history_step_get_size (step);
  self->n_done++;
  trim (self);
  notify_changes (self, &before);
}

IbHistoryStep *
ib_history_undo (IbHistory *self)
{
  g_return_val_if_fail (IB_IS_HISTORY (self), NULL);
  if (self->n_done == 0)
    return NULL;
  State before = get_state (self);
  IbHistoryStep *step = g_ptr_array_index (self->steps, --self->n_done);
  notify_changes (self, &before);
  return step;
}

IbHistoryStep *
ib_history_redo (IbHistory *self)
{
  g_return_val_if_fail (IB_IS_HISTORY (self), NULL);
  if (self->n_done == self->steps->len)
    return NULL;
  State before = get_state (self);
  IbHistoryStep *step = g_ptr_array_index (self->steps, self->n_done++);
  notify_changes (self, &before);
  return step;
}

void
ib_history_clear (IbHistory *self)
{
  g_return_if_fail (IB_IS_HISTORY (self));
  ib_history_set_steps (self, NULL, 0, 0);
}

guint
ib_history_get_n_steps (IbHistory *self)
{
  g_return_val_if_fail (IB_IS_HISTORY (self), 0);
  return self->steps->len;
}

guint
ib_history_get_n_done (IbHistory *self)
{
  g_return_val_if_fail (IB_IS_HISTORY (self), 0);
  return self->n_done;
}

IbHistoryStep *
ib_history_get_step (IbHistory *self,
                     guint      index)
{
  g_return_val_if_fail (IB_IS_HISTORY (self), NULL);
  g_return_val_if_fail (index < self->steps->len, NULL);
  return g_ptr_array_index (self->steps, index);
}

void
ib_history_replace_step (IbHistory     *self,
                         guint          index,
                         IbHistoryStep *step)
{
  g_return_if_fail (IB_IS_HISTORY (self));
  g_return_if_fail (index < self->steps->len);
  g_return_if_fail (step != NULL);

  State before = get_state (self);
  IbHistoryStep *old = g_ptr_array_index (self->steps, index);
  self->size = self->size - ib_history_step_get_size (old) + ib_history_step_get_size (step);
  g_ptr_array_index (self->steps, index) = ib_history_step_ref (step);
  ib_history_step_unref (old);
  notify_changes (self, &before);
}

void
ib_history_set_steps (IbHistory      *self,
                      IbHistoryStep **steps,
                      guint           n_steps,
                      guint           n_done)
{
  g_return_if_fail (IB_IS_HISTORY (self));
  g_return_if_fail (n_done <= n_steps);

  State before = get_state (self);
  remove_range (self, 0, self->steps->len);
  for (guint i = 0; i < n_steps; i++)
    {
      g_ptr_array_add (self->steps, ib_history_step_ref (steps[i]));
      self->size += ib_history_step_get_size (steps[i]);
    }
  self->n_done = n_done;
  trim (self);
  notify_changes (self, &before);
}
