/* ib-tensor.h: read-only views of the model file's tensors, and widening of f16/bf16 to f32.
 *
 * Weights are never copied at load time: an IbTensor points into the mapped file. Kernels that
 * need f32 widen a block at a time (ib_tensor_rows_f32) into scratch memory of their own. */
#pragma once

#include <glib.h>
#include <stdint.h>

G_BEGIN_DECLS

typedef enum
{
  IB_DTYPE_F32,
  IB_DTYPE_F16,
  IB_DTYPE_BF16,
  IB_DTYPE_I32,
  IB_DTYPE_I64,
} IbDType;

#define IB_TENSOR_MAX_DIMS 4

typedef struct
{
  const char *name;                      /* owned by the model file */
  IbDType dtype;
  int n_dims;
  int64_t shape[IB_TENSOR_MAX_DIMS];
  int64_t n_elements;
  const void *data;                      /* little-endian, inside the mapped file */
} IbTensor;

gsize        ib_dtype_size            (IbDType dtype);
const char  *ib_dtype_name            (IbDType dtype);

float        ib_f16_to_f32            (uint16_t h);
uint16_t     ib_f32_to_f16            (float f);
float        ib_bf16_to_f32           (uint16_t b);
uint16_t     ib_f32_to_bf16           (float f);

/* Element i of a float tensor (f32, f16 or bf16) as f32. */
float        ib_tensor_get_f32        (const IbTensor *t,
                                       int64_t         i);

/* Copies n_rows rows (of row_len = n_elements / shape[0] elements), starting at first_row, widened to
 * f32. For an f32 tensor prefer ib_tensor_f32_data(), which copies nothing. */
void         ib_tensor_rows_f32       (const IbTensor *t,
                                       int64_t         first_row,
                                       int64_t         n_rows,
                                       float          *dst);

/* The data as f32 without a copy, or NULL when the tensor is not f32. */
const float *ib_tensor_f32_data       (const IbTensor *t);

/* Whole tensor widened into a new buffer (g_free it): for small tensors (biases, norms, embeddings). */
float       *ib_tensor_dup_f32        (const IbTensor *t);

G_END_DECLS
