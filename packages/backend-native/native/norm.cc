// The norm family: training-mode batch norm forward (batch mean and biased variance) and backward on oneDNN, and
// eval-mode batch norm (tfjs's FusedBatchNorm) as an OpenMP loop. Data is [rows, C] (NHWC with N*H*W rows);
// statistics are per channel.
#include <cmath>
#include <cstring>
#include <vector>

#include "call.h"
#include "onednn.h"

namespace convnets {
namespace {

struct Norm {
  memory::desc data, channel;
  batch_normalization_forward::primitive_desc fwd;
  batch_normalization_forward forward;
  batch_normalization_backward backward;
  bool hasBackward = false;
};
const auto NORM_FLAGS = normalization_flags::use_scale | normalization_flags::use_shift;

// The primitives for [rows, C] and eps (its bits key the cache).
template <typename S>
Norm &norm(const Call<S> &call) {
  static Cache<Norm> cache;
  int64_t rows = call.args.rows, C = call.args.channels;
  float eps = call.args.eps;
  if (!(eps > 0)) call.fail("eps must be positive");
  int32_t bits;
  std::memcpy(&bits, &eps, sizeof bits);
  return cached(cache, {rows, C, bits}, [&] {
    auto n = std::make_unique<Norm>();
    n->data = memory::desc({rows, C, 1, 1}, dt::f32, tag::nhwc);
    n->channel = memory::desc({C}, dt::f32, tag::a);
    batch_normalization_forward::desc d(prop_kind::forward_training, n->data, eps, NORM_FLAGS);
    n->fwd = batch_normalization_forward::primitive_desc(d, cpu());
    n->forward = batch_normalization_forward(n->fwd);
    return n;
  });
}

}  // namespace

void kernel_batch_norm_train(const Call<BatchNormTrain> &call) {
  const BatchNormTrain &g = call.args;
  int64_t rows = g.rows, C = g.channels;
  float *x = call.at(g.x, rows * C, "x"), *gamma = call.at(g.gamma, C, "gamma"), *beta = call.at(g.beta, C, "beta");
  float *y = call.at(g.y, rows * C, "y"), *mean = call.at(g.mean, C, "mean"), *variance = call.at(g.var, C, "var");
  Norm &n = norm(call);
  n.forward.execute(queue(), {{DNNL_ARG_SRC, wrap(n.data, x)},
                              {DNNL_ARG_SCALE, wrap(n.channel, gamma)},
                              {DNNL_ARG_SHIFT, wrap(n.channel, beta)},
                              {DNNL_ARG_DST, wrap(n.data, y)},
                              {DNNL_ARG_MEAN, wrap(n.channel, mean)},
                              {DNNL_ARG_VARIANCE, wrap(n.channel, variance)}});
  queue().wait();
}

void kernel_batch_norm_train_grad(const Call<BatchNormTrainGrad> &call) {
  const BatchNormTrainGrad &g = call.args;
  int64_t rows = g.rows, C = g.channels;
  float *dy = call.at(g.dy, rows * C, "dy"), *x = call.at(g.x, rows * C, "x"), *gamma = call.at(g.gamma, C, "gamma");
  float *mean = call.at(g.mean, C, "mean"), *variance = call.at(g.var, C, "var"), *dx = call.at(g.dx, rows * C, "dx");
  float *dgamma = call.at(g.dgamma, C, "dgamma"), *dbeta = call.at(g.dbeta, C, "dbeta");
  Norm &n = norm(call);
  if (!n.hasBackward) {
    batch_normalization_backward::desc d(prop_kind::backward, n.data, n.data, g.eps, NORM_FLAGS);
    n.backward = batch_normalization_backward(batch_normalization_backward::primitive_desc(d, cpu(), n.fwd));
    n.hasBackward = true;
  }
  n.backward.execute(queue(), {{DNNL_ARG_DIFF_DST, wrap(n.data, dy)},
                               {DNNL_ARG_SRC, wrap(n.data, x)},
                               {DNNL_ARG_SCALE, wrap(n.channel, gamma)},
                               // oneDNN 2.6 wants a shift argument here though no gradient depends on it
                               {DNNL_ARG_SHIFT, wrap(n.channel, dbeta)},
                               {DNNL_ARG_MEAN, wrap(n.channel, mean)},
                               {DNNL_ARG_VARIANCE, wrap(n.channel, variance)},
                               {DNNL_ARG_DIFF_SRC, wrap(n.data, dx)},
                               {DNNL_ARG_DIFF_SCALE, wrap(n.channel, dgamma)},
                               {DNNL_ARG_DIFF_SHIFT, wrap(n.channel, dbeta)}});
  queue().wait();
}

// y = offset + (x - mean) * scale / sqrt(var + eps) per channel; scale or offset at byte offset -1: none.
void kernel_batch_norm_inference(const Call<BatchNormInference> &call) {
  const BatchNormInference &g = call.args;
  int64_t rows = g.rows, C = g.channels;
  const uint32_t none = UINT32_MAX;
  const float *x = call.at(g.x, rows * C, "x"), *mean = call.at(g.mean, C, "mean"), *variance = call.at(g.var, C, "var");
  const float *scale = g.scale == none ? nullptr : call.at(g.scale, C, "scale");
  const float *offset = g.offset == none ? nullptr : call.at(g.offset, C, "offset");
  float *y = call.at(g.y, rows * C, "y");
  std::vector<float> factor(C), shift(C);
  for (int64_t c = 0; c < C; c++) {
    factor[c] = float((scale ? scale[c] : 1.0) / std::sqrt(double(variance[c]) + double(g.eps)));
    shift[c] = offset ? offset[c] : 0.0f;
  }
  const float *__restrict f = factor.data(), *__restrict b = shift.data(), *__restrict m = mean;
#pragma omp parallel for schedule(static) if (rows * C >= PARALLEL)
  for (int64_t r = 0; r < rows; r++) {
    const float *__restrict xr = x + r * C;
    float *__restrict yr = y + r * C;
    for (int64_t c = 0; c < C; c++) yr[c] = b[c] + (xr[c] - m[c]) * f[c];
  }
}

}  // namespace convnets
