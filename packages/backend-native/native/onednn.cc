// oneDNN 2.x primitives (Debian's libdnnl-dev): convolutions (forward, input gradient, weight gradient),
// batched matrix multiplies and training-mode batch norm on float32 NHWC data in the caller's heap, in
// place. Primitives are created once per shape and cached; oneDNN runs them on its OpenMP threads.
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>
#include <map>
#include <memory>

#include "args.h"

namespace convnets {

using namespace dnnl;
using dt = memory::data_type;
using tag = memory::format_tag;
using dims = memory::dims;

namespace {

engine &cpu() {
  static engine e(engine::kind::cpu, 0);
  return e;
}
stream &queue() {
  static stream s(cpu());
  return s;
}

template <typename T>
using Cache = std::map<std::vector<int64_t>, std::unique_ptr<T>>;

// Wraps a caller's pointer (no copy).
memory wrap(const memory::desc &md, float *p) { return memory(md, cpu(), p); }

// ---- convolutions -------------------------------------------------------------------------------------
// Geometry, 17 numbers: N H W C  KH KW Cout  Ho Wo  strideH strideW  dilationH dilationW  top left bottom right.
constexpr size_t GEOMETRY = 17;

struct Conv {
  int64_t N, H, W, C, KH, KW, Co, Ho, Wo, sh, sw, dh, dw, pt, pl;
  memory::desc x, y, wUser, wAny;
  dims strides, dilations, padL, padR;

  explicit Conv(const std::vector<int64_t> &g) {
    N = g[0], H = g[1], W = g[2], C = g[3], KH = g[4], KW = g[5], Co = g[6], Ho = g[7], Wo = g[8];
    sh = g[9], sw = g[10], dh = g[11], dw = g[12], pt = g[13], pl = g[14];
    x = memory::desc({N, C, H, W}, dt::f32, tag::nhwc);
    y = memory::desc({N, Co, Ho, Wo}, dt::f32, tag::nhwc);
    wUser = memory::desc({Co, C, KH, KW}, dt::f32, tag::hwio);
    wAny = memory::desc({Co, C, KH, KW}, dt::f32, tag::any);
    strides = {g[9], g[10]};
    dilations = {g[11] - 1, g[12] - 1};  // oneDNN counts the gaps between taps
    padL = {g[13], g[14]};
    padR = {g[15], g[16]};
  }
  int64_t xSize() const { return N * H * W * C; }
  int64_t ySize() const { return N * Ho * Wo * Co; }
  int64_t wSize() const { return KH * KW * C * Co; }

  convolution_forward::primitive_desc forward() const {
    convolution_forward::desc d(prop_kind::forward_training, algorithm::convolution_direct, x, wAny, y, strides, dilations, padL, padR);
    return convolution_forward::primitive_desc(d, cpu());
  }
};

std::vector<int64_t> geometry(const Args &a, size_t from) {
  return std::vector<int64_t>(a.n.begin() + from, a.n.begin() + from + GEOMETRY);
}

// Weights in the layout a primitive chose, refreshed from (or written back to) the caller's HWIO array.
struct Weights {
  memory::desc chosen;
  memory blocked;
  reorder toChosen, toUser;
  bool same = true;
  void init(const Conv &g, const memory::desc &md, bool gradient) {
    chosen = md;
    same = md == g.wUser;
    if (same) return;
    blocked = memory(md, cpu());
    if (gradient) toUser = reorder(reorder::primitive_desc(cpu(), md, cpu(), g.wUser));
    else toChosen = reorder(reorder::primitive_desc(cpu(), g.wUser, cpu(), md));
  }
  // The caller's weights w as the primitive reads them (reordered into `blocked` where the layouts differ).
  memory from(const Conv &g, float *w) {
    memory user = wrap(g.wUser, w);
    if (same) return user;
    toChosen.execute(queue(), user, blocked);
    return blocked;
  }
};

struct ConvForward {
  convolution_forward prim;
  Weights w;
};
struct ConvInputGrad {
  convolution_backward_data prim;
  Weights w;
};
struct ConvFilterGrad {
  convolution_backward_weights prim;
  Weights dw;
};

template <typename T, typename Make>
T &cached(Cache<T> &cache, const std::vector<int64_t> &key, Make make) {
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, make()).first;
  return *it->second;
}


// ---- small maps: a convolution as one dense matrix ----------------------------------------------------
// Where a map has no more pixels than the filter has taps (ResNet's 2x2 and 1x1 stages), most taps read only
// padding, and a convolution computes mostly zeros. Unrolled into T [H*W*C, Ho*Wo*Co], with
// T[(iy, ix, c), (oy, ox, co)] = w[ky, kx, c, co] where tap (ky, kx) links input pixel (iy, ix) to output
// (oy, ox) and 0 elsewhere, it is one GEMM per pass that does exactly the live work (the padding taps
// skipped, as convnets' wasm kernels skip them): y = x T, dx = dy T^T, dT = x^T dy, folded back into dw.
// (Also a 1x1 map under a 1x1 filter: a plain product, faster as one than through oneDNN's convolutions.)
bool smallMap(const Conv &g) { return g.H * g.W <= g.KH * g.KW; }

// Calls f(input pixel, output pixel, tap) for every pair a tap links.
template <typename F>
void eachLink(const Conv &g, F f) {
  for (int64_t oy = 0; oy < g.Ho; oy++)
    for (int64_t ox = 0; ox < g.Wo; ox++)
      for (int64_t ky = 0; ky < g.KH; ky++)
        for (int64_t kx = 0; kx < g.KW; kx++) {
          int64_t iy = oy * g.sh - g.pt + ky * g.dh, ix = ox * g.sw - g.pl + kx * g.dw;
          if (iy >= 0 && iy < g.H && ix >= 0 && ix < g.W) f(iy * g.W + ix, oy * g.Wo + ox, ky * g.KW + kx);
        }
}

struct Unrolled {
  std::vector<float> t;  // T, or dT
  std::vector<std::array<int64_t, 3>> links;
  matmul forward, inputGrad, filterGrad;
  memory::desc x, y, tPlain, tTransposed, xTransposed;
};

memory::desc matrix(int64_t rows, int64_t cols, bool transposed = false) {
  return memory::desc({rows, cols}, dt::f32, transposed ? dims{1, rows} : dims{cols, 1});
}
matmul product(const memory::desc &a, const memory::desc &b, const memory::desc &c) {
  return matmul(matmul::primitive_desc(matmul::desc(a, b, c), cpu()));
}

// c = a b on the caller's pointers.
void multiply(const matmul &m, const memory &a, const memory &b, const memory &c) {
  m.execute(queue(), {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}});
  queue().wait();
}

Unrolled &unrolled(const std::vector<int64_t> &key, const Conv &g) {
  static Cache<Unrolled> cache;
  return cached(cache, key, [&] {
    auto u = std::make_unique<Unrolled>();
    int64_t in = g.H * g.W * g.C, out = g.Ho * g.Wo * g.Co;
    u->t.resize(in * out);
    eachLink(g, [&](int64_t i, int64_t o, int64_t k) { u->links.push_back({i, o, k}); });
    u->x = matrix(g.N, in);
    u->y = matrix(g.N, out);
    u->tPlain = matrix(in, out);
    u->tTransposed = matrix(out, in, true);
    u->xTransposed = matrix(in, g.N, true);
    u->forward = product(u->x, u->tPlain, u->y);
    u->inputGrad = product(u->y, u->tTransposed, u->x);
    u->filterGrad = product(u->xTransposed, u->y, u->tPlain);
    return u;
  });
}

// T from w [KH, KW, C, Co].
void unroll(const Conv &g, Unrolled &u, const float *w) {
  int64_t out = g.Ho * g.Wo * g.Co;
  std::fill(u.t.begin(), u.t.end(), 0.0f);
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < g.C; c++) {
    for (auto [i, o, k] : u.links) std::copy_n(w + (k * g.C + c) * g.Co, g.Co, u.t.data() + (i * g.C + c) * out + o * g.Co);
  }
}

// dw [KH, KW, C, Co] from dT: each tap sums the blocks it links, in one order.
void fold(const Conv &g, const Unrolled &u, float *dw) {
  int64_t out = g.Ho * g.Wo * g.Co;
  std::fill(dw, dw + g.wSize(), 0.0f);
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < g.C; c++) {
    for (auto [i, o, k] : u.links) {
      const float *from = u.t.data() + (i * g.C + c) * out + o * g.Co;
      float *to = dw + (k * g.C + c) * g.Co;
      for (int64_t co = 0; co < g.Co; co++) to[co] += from[co];
    }
  }
}

float *data(std::vector<float> &v) { return v.data(); }

}  // namespace

// conv2dForward(heap, x, w, y, ...geometry): y = conv(x, w).
napi_value conv2dForward(napi_env env, napi_callback_info info) {
  static Cache<ConvForward> cache;
  Args a(env, info, "conv2dForward", 3 + GEOMETRY);
  auto key = geometry(a, 3);
  Conv g(key);
  float *x = a.at(0, g.xSize(), "x"), *w = a.at(1, g.wSize(), "filter"), *y = a.at(2, g.ySize(), "y");
  if (smallMap(g)) {
    Unrolled &u = unrolled(key, g);
    unroll(g, u, w);
    multiply(u.forward, wrap(u.x, x), wrap(u.tPlain, data(u.t)), wrap(u.y, y));
    return nullptr;
  }
  auto &c = cached(cache, key, [&] {
    auto pd = g.forward();
    auto c = std::make_unique<ConvForward>();
    c->prim = convolution_forward(pd);
    c->w.init(g, pd.weights_desc(), false);
    return c;
  });
  memory wUsed = c.w.from(g, w);
  c.prim.execute(queue(), {{DNNL_ARG_SRC, wrap(g.x, x)}, {DNNL_ARG_WEIGHTS, wUsed}, {DNNL_ARG_DST, wrap(g.y, y)}});
  queue().wait();
  return nullptr;
}

// conv2dInputGrad(heap, dy, w, dx, ...geometry): dx = the gradient of conv(x, w) with respect to x.
napi_value conv2dInputGrad(napi_env env, napi_callback_info info) {
  static Cache<ConvInputGrad> cache;
  Args a(env, info, "conv2dInputGrad", 3 + GEOMETRY);
  auto key = geometry(a, 3);
  Conv g(key);
  float *dy = a.at(0, g.ySize(), "dy"), *w = a.at(1, g.wSize(), "filter"), *dx = a.at(2, g.xSize(), "dx");
  if (smallMap(g)) {
    Unrolled &u = unrolled(key, g);
    unroll(g, u, w);
    multiply(u.inputGrad, wrap(u.y, dy), wrap(u.tTransposed, data(u.t)), wrap(u.x, dx));
    return nullptr;
  }
  auto &c = cached(cache, key, [&] {
    convolution_backward_data::desc d(algorithm::convolution_direct, g.x, g.wAny, g.y, g.strides, g.dilations, g.padL, g.padR);
    convolution_backward_data::primitive_desc pd(d, cpu(), g.forward());
    auto c = std::make_unique<ConvInputGrad>();
    c->prim = convolution_backward_data(pd);
    c->w.init(g, pd.weights_desc(), false);
    return c;
  });
  memory wUsed = c.w.from(g, w);
  c.prim.execute(queue(), {{DNNL_ARG_DIFF_DST, wrap(g.y, dy)}, {DNNL_ARG_WEIGHTS, wUsed}, {DNNL_ARG_DIFF_SRC, wrap(g.x, dx)}});
  queue().wait();
  return nullptr;
}

// conv2dFilterGrad(heap, x, dy, dw, ...geometry): dw = the gradient of conv(x, w) with respect to w (HWIO).
napi_value conv2dFilterGrad(napi_env env, napi_callback_info info) {
  static Cache<ConvFilterGrad> cache;
  Args a(env, info, "conv2dFilterGrad", 3 + GEOMETRY);
  auto key = geometry(a, 3);
  Conv g(key);
  float *x = a.at(0, g.xSize(), "x"), *dy = a.at(1, g.ySize(), "dy"), *dw = a.at(2, g.wSize(), "dw");
  if (smallMap(g)) {
    Unrolled &u = unrolled(key, g);
    multiply(u.filterGrad, wrap(u.xTransposed, x), wrap(u.y, dy), wrap(u.tPlain, data(u.t)));
    fold(g, u, dw);
    return nullptr;
  }
  auto &c = cached(cache, key, [&] {
    convolution_backward_weights::desc d(algorithm::convolution_direct, g.x, g.wAny, g.y, g.strides, g.dilations, g.padL, g.padR);
    convolution_backward_weights::primitive_desc pd(d, cpu(), g.forward());
    auto c = std::make_unique<ConvFilterGrad>();
    c->prim = convolution_backward_weights(pd);
    c->dw.init(g, pd.diff_weights_desc(), true);
    return c;
  });
  memory dwUser = wrap(g.wUser, dw);
  memory out = c.dw.same ? dwUser : c.dw.blocked;
  c.prim.execute(queue(), {{DNNL_ARG_SRC, wrap(g.x, x)}, {DNNL_ARG_DIFF_DST, wrap(g.y, dy)}, {DNNL_ARG_DIFF_WEIGHTS, out}});
  if (!c.dw.same) c.dw.toUser.execute(queue(), c.dw.blocked, dwUser);
  queue().wait();
  return nullptr;
}

// ---- matrix multiply ----------------------------------------------------------------------------------
namespace {

struct MatMul {
  matmul prim;
  memory::desc a, b, c;
};

// A [batch, rows, cols] operand, stored transposed ([batch, cols, rows]) when `t`.
memory::desc operand(int64_t batch, int64_t rows, int64_t cols, bool t) {
  if (!t) return memory::desc({batch, rows, cols}, dt::f32, dims{rows * cols, cols, 1});
  return memory::desc({batch, rows, cols}, dt::f32, dims{rows * cols, 1, rows});
}

}  // namespace

// matmul(heap, a, b, c, batchA, batchB, M, K, N, transposeA, transposeB): c[b] = op(a[b]) op(b[b]), where a
// batch of 1 broadcasts.
napi_value matMul(napi_env env, napi_callback_info info) {
  static Cache<MatMul> cache;
  Args a(env, info, "matmul", 10);
  std::vector<int64_t> key(a.n.begin() + 3, a.n.end());
  int64_t ba = key[0], bb = key[1], M = key[2], K = key[3], N = key[4];
  bool ta = key[5] != 0, tb = key[6] != 0;
  if (ba != bb && ba != 1 && bb != 1) a.fail("batch sizes " + std::to_string(ba) + " and " + std::to_string(bb) + " do not broadcast");
  int64_t batch = ba > bb ? ba : bb;
  float *pa = a.at(0, ba * M * K, "a"), *pb = a.at(1, bb * K * N, "b"), *pc = a.at(2, batch * M * N, "c");
  auto &m = cached(cache, key, [&] {
    auto m = std::make_unique<MatMul>();
    m->a = operand(ba, M, K, ta);
    m->b = operand(bb, K, N, tb);
    m->c = memory::desc({batch, M, N}, dt::f32, tag::abc);
    m->prim = matmul(matmul::primitive_desc(matmul::desc(m->a, m->b, m->c), cpu()));
    return m;
  });
  multiply(m.prim, wrap(m.a, pa), wrap(m.b, pb), wrap(m.c, pc));
  return nullptr;
}

// ---- batch norm (training mode) ----------------------------------------------------------------------
// Data is [rows, C] (NHWC with N*H*W rows); statistics are per channel, the variance biased.
namespace {

struct Norm {
  memory::desc data, channel;
  batch_normalization_forward::primitive_desc fwd;
  batch_normalization_forward forward;
  batch_normalization_backward backward;
  bool hasBackward = false;
};
const auto NORM_FLAGS = normalization_flags::use_scale | normalization_flags::use_shift;

Norm &norm(int64_t rows, int64_t C, float eps, int64_t epsBits) {
  static Cache<Norm> cache;
  return cached(cache, {rows, C, epsBits}, [&] {
    auto n = std::make_unique<Norm>();
    n->data = memory::desc({rows, C, 1, 1}, dt::f32, tag::nhwc);
    n->channel = memory::desc({C}, dt::f32, tag::a);
    batch_normalization_forward::desc d(prop_kind::forward_training, n->data, eps, NORM_FLAGS);
    n->fwd = batch_normalization_forward::primitive_desc(d, cpu());
    n->forward = batch_normalization_forward(n->fwd);
    return n;
  });
}

// eps as the float32 the ops use; its bits key the cache.
float epsilon(const Args &a, size_t i, int64_t &bits) {
  float eps = float(a.d[i]);
  if (!(eps > 0)) a.fail("eps must be positive");
  int32_t b;
  std::memcpy(&b, &eps, sizeof b);
  bits = b;
  return eps;
}

}  // namespace

// batchNormTrain(heap, x, gamma, beta, y, mean, variance, rows, C, eps)
napi_value batchNormTrain(napi_env env, napi_callback_info info) {
  Args a(env, info, "batchNormTrain", 9);
  int64_t rows = a.n[6], C = a.n[7];
  int64_t epsBits;
  float eps = epsilon(a, 8, epsBits);
  float *x = a.at(0, rows * C, "x"), *gamma = a.at(1, C, "gamma"), *beta = a.at(2, C, "beta"), *y = a.at(3, rows * C, "y");
  float *mean = a.at(4, C, "mean"), *variance = a.at(5, C, "variance");
  Norm &n = norm(rows, C, eps, epsBits);
  n.forward.execute(queue(), {{DNNL_ARG_SRC, wrap(n.data, x)},
                              {DNNL_ARG_SCALE, wrap(n.channel, gamma)},
                              {DNNL_ARG_SHIFT, wrap(n.channel, beta)},
                              {DNNL_ARG_DST, wrap(n.data, y)},
                              {DNNL_ARG_MEAN, wrap(n.channel, mean)},
                              {DNNL_ARG_VARIANCE, wrap(n.channel, variance)}});
  queue().wait();
  return nullptr;
}

// batchNormTrainGrad(heap, dy, x, gamma, mean, variance, dx, dgamma, dbeta, rows, C, eps)
napi_value batchNormTrainGrad(napi_env env, napi_callback_info info) {
  Args a(env, info, "batchNormTrainGrad", 11);
  int64_t rows = a.n[8], C = a.n[9];
  int64_t epsBits;
  float eps = epsilon(a, 10, epsBits);
  float *dy = a.at(0, rows * C, "dy"), *x = a.at(1, rows * C, "x"), *gamma = a.at(2, C, "gamma");
  float *mean = a.at(3, C, "mean"), *variance = a.at(4, C, "variance"), *dx = a.at(5, rows * C, "dx");
  float *dgamma = a.at(6, C, "dgamma"), *dbeta = a.at(7, C, "dbeta");
  Norm &n = norm(rows, C, eps, epsBits);
  if (!n.hasBackward) {
    batch_normalization_backward::desc d(prop_kind::backward, n.data, n.data, eps, NORM_FLAGS);
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
  return nullptr;
}


// info(): { version, runtime }
napi_value describe(napi_env env, napi_callback_info) {
  const dnnl_version_t *v = dnnl_version();
  napi_value o, version, runtime;
  std::string number = std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
  const char *threads = v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : v->cpu_runtime == DNNL_RUNTIME_TBB ? "TBB" : "sequential";
  napi_create_object(env, &o);
  napi_create_string_utf8(env, number.c_str(), number.size(), &version);
  napi_create_string_utf8(env, threads, NAPI_AUTO_LENGTH, &runtime);
  napi_set_named_property(env, o, "version", version);
  napi_set_named_property(env, o, "runtime", runtime);
  return o;
}

}  // namespace convnets
