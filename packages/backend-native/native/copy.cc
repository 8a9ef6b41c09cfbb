// The copy family: block copies (concatenation and its gradient, a split, along any axis) and constant padding, on
// OpenMP threads over disjoint ranges.
#include <algorithm>
#include <vector>

#include "call.h"

namespace convnets {

// `blocks` runs of `count` floats, the r-th from src + r * src_stride to dst + r * dst_stride.
void kernel_copy_blocks(const Call<CopyBlocks> &call) {
  const CopyBlocks &g = call.args;
  int64_t blocks = g.blocks, count = g.count, srcStride = g.src_stride, dstStride = g.dst_stride;
  if (blocks < 0 || count < 0 || srcStride < count || dstStride < count) call.fail("bad block geometry");
  const float *src = call.at(g.src, blocks == 0 ? 0 : (blocks - 1) * srcStride + count, "src");
  float *dst = call.at(g.dst, blocks == 0 ? 0 : (blocks - 1) * dstStride + count, "dst");
#pragma omp parallel for schedule(static) if (blocks * count >= PARALLEL)
  for (int64_t r = 0; r < blocks; r++) std::copy_n(src + r * srcStride, count, dst + r * dstStride);
}

// out = x surrounded by `value`; shape and padding have PAD_RANK axes (lower ranks put 1s and 0s in front).
void kernel_pad(const Call<Pad> &call) {
  const Pad &g = call.args;
  int64_t rank = PAD_RANK;
  int64_t inSize = 1, outSize = 1;
  std::vector<int64_t> shape(g.shape, g.shape + rank), before(g.before, g.before + rank), outShape(rank);
  for (int64_t d = 0; d < rank; d++) {
    outShape[d] = shape[d] + before[d] + g.after[d];
    if (before[d] < 0 || g.after[d] < 0) call.fail("padding must not be negative");
    inSize *= shape[d], outSize *= outShape[d];
  }
  const float *x = call.at(g.x, inSize, "x");
  float *out = call.at(g.out, outSize, "out");
  float value = g.value;
  int64_t row = shape[rank - 1], rows = inSize / std::max<int64_t>(row, 1);
#pragma omp parallel
  {
#pragma omp for schedule(static)
    for (int64_t i = 0; i < outSize; i++) out[i] = value;
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; r++) {
      // the input row's place in out: its index along each axis, shifted by the padding before it
      int64_t at = before[rank - 1], rest = r;
      int64_t stride = outShape[rank - 1];
      for (int64_t d = rank - 2; d >= 0; d--) {
        at += (rest % shape[d] + before[d]) * stride;
        rest /= shape[d];
        stride *= outShape[d];
      }
      std::copy_n(x + r * row, row, out + at);
    }
  }
}

}  // namespace convnets
