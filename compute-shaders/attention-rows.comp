// attention-rows.comp: multi-head scaled dot-product attention for many query rows at once (an encoder pass, a
// decoder's prefill): one workgroup per (block of QB query rows, head). The keys and values go through shared
// memory KB at a time, read once for all QB rows (attention.comp reads them once per row), and each row keeps an
// online softmax: the block's scores join the running maximum, and the running sum and weighted sum of the
// values are rescaled by exp(old max - new max). Same interface as attention.comp (without PARTIAL):
//   q row r, head h at Q[q_base + r q_stride + h dh]; key/value j at K/V[k_base/v_base + j kv_stride + h dh]
//   out row r at O[r out_stride + h dh]; causal: row r (absolute position q_offset + r) sees keys 0..q_offset + r,
//   and positions below n_unmasked (minGPT's leading block) see keys 0..n_unmasked - 1 as well.
// Thread t serves row t / ROW_THREADS of the block: its scores for keys t % ROW_THREADS + c ROW_THREADS and its
// output dimensions t % ROW_THREADS + c ROW_THREADS, so that neighbouring threads read neighbouring words.
#version 450

layout (local_size_x_id = 0) in;
layout (constant_id = 1) const uint QB = 16;     // query rows a workgroup; threads = QB ROW_THREADS
layout (constant_id = 2) const uint KB = 32;     // keys a block, a multiple of ROW_THREADS
layout (constant_id = 3) const uint MAX_DH = 64; // a multiple of ROW_THREADS

const uint ROW_THREADS = 8;
const uint KEYS_PER_THREAD = KB / ROW_THREADS;
const uint DIMS_PER_THREAD = MAX_DH / ROW_THREADS;
const float LOWEST = -3.402823466e38;

layout (std430, binding = 0) readonly buffer QBuffer { float Q[]; };
layout (std430, binding = 1) readonly buffer KBuffer { float K[]; };
layout (std430, binding = 2) readonly buffer VBuffer { float V[]; };
layout (std430, binding = 3) writeonly buffer OBuffer { float O[]; };

layout (push_constant) uniform Push
{
  uint n_q, n_kv, q_stride, kv_stride, out_stride, dim_head;
  uint q_base, k_base, v_base;
  uint causal, q_offset, n_unmasked;
  uint keys_per_split;  // unused here: every workgroup takes all of its rows' keys
  float scale;
} p;

// One word of padding a row of qs, ks and scores: the rows that a warp's threads read at once fall in different
// banks.
const uint QS_STRIDE = MAX_DH + 1;
const uint KS_STRIDE = MAX_DH + 1;
const uint SCORES_STRIDE = KB + 1;
shared float qs[QB * QS_STRIDE];
shared float ks[KB * KS_STRIDE];
shared float vs[KB * MAX_DH];
shared float scores[QB * SCORES_STRIDE];

uint
keys_of_row (uint r)
{
  return p.causal != 0u ? min (max (p.q_offset + r + 1u, p.n_unmasked), p.n_kv) : p.n_kv;
}

void
main ()
{
  uint tid = gl_LocalInvocationID.x, threads = gl_WorkGroupSize.x;
  uint h = gl_WorkGroupID.y, dh = p.dim_head;
  uint r0 = gl_WorkGroupID.x * QB;
  uint i = tid / ROW_THREADS, lane = tid % ROW_THREADS;
  uint r = r0 + i;
  bool row_valid = r < p.n_q;
  uint n_keys = row_valid ? keys_of_row (r) : 0u;
  // Rows see more keys further down the block (causal): the last valid row's count bounds the block's.
  uint block_keys = keys_of_row (min (r0 + QB, p.n_q) - 1u);

  for (uint x = tid; x < QB * MAX_DH; x += threads)
    {
      uint row = x / MAX_DH, d = x - row * MAX_DH;
      qs[row * QS_STRIDE + d] = r0 + row < p.n_q && d < dh ? Q[p.q_base + (r0 + row) * p.q_stride + h * dh + d] : 0.0;
    }

  float row_max = LOWEST, row_sum = 0.0;
  float acc[DIMS_PER_THREAD];
  for (uint c = 0; c < DIMS_PER_THREAD; c++)
    acc[c] = 0.0;

  for (uint j0 = 0; j0 < block_keys; j0 += KB)
    {
      barrier ();   // the previous block is done with ks, vs and scores (and qs is written, the first time)
      for (uint x = tid; x < KB * MAX_DH; x += threads)
        {
          uint j = x / MAX_DH, d = x - j * MAX_DH;
          bool inside = j0 + j < p.n_kv && d < dh;
          ks[j * KS_STRIDE + d] = inside ? K[p.k_base + (j0 + j) * p.kv_stride + h * dh + d] : 0.0;
          vs[x] = inside ? V[p.v_base + (j0 + j) * p.kv_stride + h * dh + d] : 0.0;
        }
      barrier ();

      for (uint c = 0; c < KEYS_PER_THREAD; c++)
        {
          uint j = lane + c * ROW_THREADS;
          float s = 0.0;
          for (uint d = 0; d < dh; d++)
            s = fma (qs[i * QS_STRIDE + d], ks[j * KS_STRIDE + d], s);
          scores[i * SCORES_STRIDE + j] = j0 + j < n_keys ? s * p.scale : LOWEST;
        }
      barrier ();

      // Every thread of a row runs the same softmax update on the row's scores.
      float block_max = LOWEST;
      for (uint j = 0; j < KB; j++)
        block_max = max (block_max, scores[i * SCORES_STRIDE + j]);
      float new_max = max (row_max, block_max);
      float rescale = exp (row_max - new_max);   // 0 before the first key (row_max is the lowest float)
      row_sum *= rescale;
      for (uint c = 0; c < DIMS_PER_THREAD; c++)
        acc[c] *= rescale;
      for (uint j = 0; j < KB && j0 + j < n_keys; j++)
        {
          float e = exp (scores[i * SCORES_STRIDE + j] - new_max);
          row_sum += e;
          for (uint c = 0; c < DIMS_PER_THREAD; c++)
            acc[c] = fma (e, vs[j * MAX_DH + lane + c * ROW_THREADS], acc[c]);
        }
      row_max = new_max;
    }

  if (!row_valid)
    return;
  float inv = n_keys > 0u ? 1.0 / row_sum : 0.0;
  for (uint c = 0; c < DIMS_PER_THREAD; c++)
    {
      uint d = lane + c * ROW_THREADS;
      if (d < dh)
        O[r * p.out_stride + h * dh + d] = acc[c] * inv;
    }
}
