// reduce.glsl: workgroup sums and maxima through shared memory (workgroup size a power of two). No subgroup
// operations: their size differs between devices and is not assumed.

shared float reduce_scratch[gl_WorkGroupSize.x];

float
workgroup_sum (float value)
{
  uint tid = gl_LocalInvocationID.x;
  reduce_scratch[tid] = value;
  barrier ();
  for (uint stride = gl_WorkGroupSize.x / 2; stride > 0; stride /= 2)
    {
      if (tid < stride)
        reduce_scratch[tid] += reduce_scratch[tid + stride];
      barrier ();
    }
  float result = reduce_scratch[0];
  barrier ();
  return result;
}

float
workgroup_max (float value)
{
  uint tid = gl_LocalInvocationID.x;
  reduce_scratch[tid] = value;
  barrier ();
  for (uint stride = gl_WorkGroupSize.x / 2; stride > 0; stride /= 2)
    {
      if (tid < stride)
        reduce_scratch[tid] = max (reduce_scratch[tid], reduce_scratch[tid + stride]);
      barrier ();
    }
  float result = reduce_scratch[0];
  barrier ();
  return result;
}
