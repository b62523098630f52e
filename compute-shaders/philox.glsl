// philox.glsl: Philox-4x32-10, word for word the generator of model/ib-rng.c, so that a draw on the GPU equals
// the CPU engine's for the same (seed, level, variant, position, draw).

uvec4
philox (uvec2 key, uint position, uint draw, uint level, uint variant)
{
  uvec4 c = uvec4 (position, draw, level, variant);
  uvec2 k = key;
  for (int round = 0; round < 10; round++)
    {
      uint hi0, lo0, hi1, lo1;
      umulExtended (0xD2511F53u, c.x, hi0, lo0);
      umulExtended (0xCD9E8D57u, c.z, hi1, lo1);
      c = uvec4 (hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
      k += uvec2 (0x9E3779B9u, 0xBB67AE85u);
    }
  return c;
}

// ib_rng_uniform: 24 random bits, exact in f32.
float
philox_uniform (uvec2 key, uint position, uint draw, uint level, uint variant)
{
  return float (philox (key, position, draw, level, variant).x >> 8) * (1.0 / 16777216.0);
}
