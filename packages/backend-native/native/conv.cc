// The conv family on oneDNN: convolution forward, input gradient and weight gradient (oneDNN picks its weight layout;
// the caller's HWIO weights are reordered each call, as training changes them), and maps no larger than the filter as
// one dense product over the links that exist.
#include <algorithm>
#include <array>
#include <memory>
#include <vector>

#include "call.h"
#include "onednn.h"

namespace convnets {
namespace {

struct Conv {
  int64_t N, H, W, C, KH, KW, Co, Ho, Wo, sh, sw, dh, dw, pt, pl;
  memory::desc x, y, wUser, wAny;
  dims strides, dilations, padL, padR;

  explicit Conv(const ConvGeometry &g) {
    N = g.n, H = g.h, W = g.w, C = g.c, KH = g.kh, KW = g.kw, Co = g.cout, Ho = g.oh, Wo = g.ow;
    sh = g.sh, sw = g.sw, dh = g.dh, dw = g.dw, pt = g.top, pl = g.left;
    x = memory::desc({N, C, H, W}, dt::f32, tag::nhwc);
    y = memory::desc({N, Co, Ho, Wo}, dt::f32, tag::nhwc);
    wUser = memory::desc({Co, C, KH, KW}, dt::f32, tag::hwio);
    wAny = memory::desc({Co, C, KH, KW}, dt::f32, tag::any);
    strides = {g.sh, g.sw};
    dilations = {g.dh - 1, g.dw - 1};  // oneDNN counts the gaps between taps
    padL = {g.top, g.left};
    padR = {g.bottom, g.right};
  }
  int64_t xSize() const { return N * H * W * C; }
  int64_t ySize() const { return N * Ho * Wo * Co; }
  int64_t wSize() const { return KH * KW * C * Co; }

  convolution_forward::primitive_desc forward() const {
    convolution_forward::desc d(prop_kind::forward_training, algorithm::convolution_direct, x, wAny, y, strides, dilations, padL, padR);
    return convolution_forward::primitive_desc(d, cpu());
  }
};

// The cache key of a geometry: its fields.
std::vector<int64_t> key(const ConvGeometry &g) {
  const int32_t *f = &g.n;
  return std::vector<int64_t>(f, f + sizeof g / sizeof *f);
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

// A cached oneDNN primitive, with the layout it chose for the weights (or for their gradient).
template <typename Primitive>
struct Primed {
  Primitive prim;
  Weights w;
};

template <typename Primitive, typename Desc>
std::unique_ptr<Primed<Primitive>> primed(const Conv &g, const Desc &pd, const memory::desc &weights, bool gradient) {
  auto c = std::make_unique<Primed<Primitive>>();
  c->prim = Primitive(pd);
  c->w.init(g, weights, gradient);
  return c;
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

// y = conv(x, w).
void kernel_conv2d_forward(const Call<Conv2dForward> &a) {
  static Cache<Primed<convolution_forward>> cache;
  auto key = convnets::key(a.args.g);
  Conv g(a.args.g);
  float *x = a.at(a.args.x, g.xSize(), "x"), *w = a.at(a.args.filter, g.wSize(), "filter"), *y = a.at(a.args.y, g.ySize(), "y");
  if (smallMap(g)) {
    Unrolled &u = unrolled(key, g);
    unroll(g, u, w);
    multiply(u.forward, wrap(u.x, x), wrap(u.tPlain, data(u.t)), wrap(u.y, y));
    return;
  }
  auto &c = cached(cache, key, [&] {
    auto pd = g.forward();
    return primed<convolution_forward>(g, pd, pd.weights_desc(), false);
  });
  memory wUsed = c.w.from(g, w);
  c.prim.execute(queue(), {{DNNL_ARG_SRC, wrap(g.x, x)}, {DNNL_ARG_WEIGHTS, wUsed}, {DNNL_ARG_DST, wrap(g.y, y)}});
  queue().wait();
}

// dx = the gradient of conv(x, w) with respect to x.
void kernel_conv2d_input_grad(const Call<Conv2dInputGrad> &a) {
  static Cache<Primed<convolution_backward_data>> cache;
  auto key = convnets::key(a.args.g);
  Conv g(a.args.g);
  float *dy = a.at(a.args.dy, g.ySize(), "dy"), *w = a.at(a.args.filter, g.wSize(), "filter"), *dx = a.at(a.args.dx, g.xSize(), "dx");
  if (smallMap(g)) {
    Unrolled &u = unrolled(key, g);
    unroll(g, u, w);
    multiply(u.inputGrad, wrap(u.y, dy), wrap(u.tTransposed, data(u.t)), wrap(u.x, dx));
    return;
  }
  auto &c = cached(cache, key, [&] {
    convolution_backward_data::desc d(algorithm::convolution_direct, g.x, g.wAny, g.y, g.strides, g.dilations, g.padL, g.padR);
    convolution_backward_data::primitive_desc pd(d, cpu(), g.forward());
    return primed<convolution_backward_data>(g, pd, pd.weights_desc(), false);
  });
  memory wUsed = c.w.from(g, w);
  c.prim.execute(queue(), {{DNNL_ARG_DIFF_DST, wrap(g.y, dy)}, {DNNL_ARG_WEIGHTS, wUsed}, {DNNL_ARG_DIFF_SRC, wrap(g.x, dx)}});
  queue().wait();
}

// dw = the gradient of conv(x, w) with respect to w (HWIO).
void kernel_conv2d_filter_grad(const Call<Conv2dFilterGrad> &a) {
  static Cache<Primed<convolution_backward_weights>> cache;
  auto key = convnets::key(a.args.g);
  Conv g(a.args.g);
  float *x = a.at(a.args.x, g.xSize(), "x"), *dy = a.at(a.args.dy, g.ySize(), "dy"), *dw = a.at(a.args.dw, g.wSize(), "dw");
  if (smallMap(g)) {
    Unrolled &u = unrolled(key, g);
    multiply(u.filterGrad, wrap(u.xTransposed, x), wrap(u.y, dy), wrap(u.tPlain, data(u.t)));
    fold(g, u, dw);
    return;
  }
  auto &c = cached(cache, key, [&] {
    convolution_backward_weights::desc d(algorithm::convolution_direct, g.x, g.wAny, g.y, g.strides, g.dilations, g.padL, g.padR);
    convolution_backward_weights::primitive_desc pd(d, cpu(), g.forward());
    return primed<convolution_backward_weights>(g, pd, pd.diff_weights_desc(), true);
  });
  memory dwUser = wrap(g.wUser, dw);
  memory out = c.w.same ? dwUser : c.w.blocked;
  c.prim.execute(queue(), {{DNNL_ARG_SRC, wrap(g.x, x)}, {DNNL_ARG_DIFF_DST, wrap(g.y, dy)}, {DNNL_ARG_DIFF_WEIGHTS, out}});
  if (!c.w.same) c.w.toUser.execute(queue(), c.w.blocked, dwUser);
  queue().wait();
}

}  // namespace convnets
