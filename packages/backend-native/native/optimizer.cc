// The optimizer family: PyTorch's SGD with momentum in one pass with the loop the wasm build shares (kernels.h): the
// float operations of the trainer's tfjs ops in their order, so the same bits. OpenMP threads split the elements.
#include <algorithm>

#include "call.h"

namespace convnets {

void kernel_sgd_update(const Call<SgdUpdate> &call) {
  const SgdUpdate &g = call.args;
  int64_t size = g.size;
  const float *p = call.at(g.param, size, "param"), *grad = call.at(g.grad, size, "grad");
  const float *buf = call.at(g.buf, size, "buf");
  float *pOut = call.at(g.param_out, size, "param_out"), *bufOut = call.at(g.buf_out, size, "buf_out");
  constexpr int64_t RUN = 1 << 13;
  int64_t runs = (size + RUN - 1) / RUN;
#pragma omp parallel for schedule(static) if (size >= PARALLEL)
  for (int64_t r = 0; r < runs; r++) {
    int64_t i0 = r * RUN, i1 = std::min(size, i0 + RUN);
    sgd_update_range(p, grad, buf, pOut, bufOut, i0, i1, g.nesterov, g.lr, g.momentum, g.weight_decay);
  }
}

}  // namespace convnets
