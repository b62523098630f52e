// weights.glsl: reading a weight element as f32 from a buffer of 32-bit words `W`, whatever the stored
// dtype: f32, f16 (-DWEIGHT_F16) or bf16 (-DWEIGHT_BF16). 16-bit weights are read as halves of words so that
// no 16-bit storage feature is needed; each chunk starts on a whole word (see ib_vk_tensor_upload).

#if defined(WEIGHT_F16)
float
weight_at (uint i)
{
  vec2 pair = unpackHalf2x16 (W[i >> 1]);
  return (i & 1u) != 0u ? pair.y : pair.x;
}
#elif defined(WEIGHT_BF16)
float
weight_at (uint i)
{
  uint word = W[i >> 1];
  return uintBitsToFloat ((i & 1u) != 0u ? (word & 0xffff0000u) : (word << 16));
}
#else
float
weight_at (uint i)
{
  return uintBitsToFloat (W[i]);
}
#endif
