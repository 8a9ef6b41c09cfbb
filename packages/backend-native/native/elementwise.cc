// The elementwise family: out[i] = a[i] op b[i % b_size] with the loop the wasm build shares (kernels.h), on OpenMP
// threads over disjoint runs (the same bits on any thread count).
#include <algorithm>
#include <string>

#include "call.h"

namespace convnets {

// Runs of this many elements are the threads' unit of work.
constexpr int64_t RUN = 1 << 13;

void kernel_elementwise(const Call<Elementwise> &call) {
  const Elementwise &g = call.args;
  int64_t size = g.size, bSize = g.b_size;
  bool unary = g.op == RELU || g.op == STEP;
  if (g.op < ADD || g.op > STEP) call.fail("unknown op " + std::to_string(g.op));
  if (!unary && (bSize <= 0 || size % bSize != 0)) call.fail("b's size must divide a's");
  const float *x = call.at(g.a, size, "a"), *y = unary ? x : call.at(g.b, bSize, "b");
  float *out = call.at(g.out, size, "out");
  if (unary || bSize == size) {
    int64_t runs = (size + RUN - 1) / RUN;
#pragma omp parallel for schedule(static) if (size >= PARALLEL)
    for (int64_t r = 0; r < runs; r++) {
      int64_t at = r * RUN;
      elementwise_run(g.op, g.swapped, x + at, y + at, out + at, std::min(RUN, size - at));
    }
  } else {
    int64_t rows = size / bSize;
#pragma omp parallel for schedule(static) if (size >= PARALLEL)
    for (int64_t r = 0; r < rows; r++) elementwise_run(g.op, g.swapped, x + r * bSize, y, out + r * bSize, bSize);
  }
}

}  // namespace convnets
