// The pool family: the max- and average-pool gradients with the loops the wasm build shares (kernels.h), one image
// per OpenMP iteration (disjoint outputs: the same bits on any thread count).
#include "call.h"

namespace convnets {

void kernel_max_pool_grad(const Call<MaxPoolGrad> &call) {
  const PoolWindow &g = call.args.g;
  int64_t image = int64_t(g.h) * g.w * g.c, out = int64_t(g.oh) * g.ow * g.c;
  const float *x = call.at(call.args.x, g.n * image, "x"), *dy = call.at(call.args.dy, g.n * out, "dy");
  float *dx = call.at(call.args.dx, g.n * image, "dx");
#pragma omp parallel for schedule(static) if (g.n * out * g.kh * g.kw >= PARALLEL)
  for (int64_t n = 0; n < g.n; n++) max_pool_grad_image(x + n * image, dy + n * out, dx + n * image, &g);
}

void kernel_avg_pool_grad(const Call<AvgPoolGrad> &call) {
  const PoolWindow &g = call.args.g;
  int64_t image = int64_t(g.h) * g.w * g.c, out = int64_t(g.oh) * g.ow * g.c;
  const float *dy = call.at(call.args.dy, g.n * out, "dy");
  float *dx = call.at(call.args.dx, g.n * image, "dx");
#pragma omp parallel for schedule(static) if (g.n * out * g.kh * g.kw >= PARALLEL)
  for (int64_t n = 0; n < g.n; n++) avg_pool_grad_image(dy + n * out, dx + n * image, &g);
}

}  // namespace convnets
