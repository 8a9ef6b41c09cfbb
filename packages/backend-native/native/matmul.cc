// The matmul family on oneDNN: batched products with either operand transposed and a broadcast batch, one primitive
// per shape, cached.
#include <string>
#include <vector>

#include "call.h"
#include "onednn.h"

namespace convnets {
namespace {

struct Product {
  matmul prim;
  memory::desc a, b, c;
};

// A [batch, rows, cols] operand, stored transposed ([batch, cols, rows]) when `t`.
memory::desc operand(int64_t batch, int64_t rows, int64_t cols, bool t) {
  if (!t) return memory::desc({batch, rows, cols}, dt::f32, dims{rows * cols, cols, 1});
  return memory::desc({batch, rows, cols}, dt::f32, dims{rows * cols, 1, rows});
}

}  // namespace

// c[i] = op(a[i]) op(b[i]), where a batch of 1 broadcasts.
void kernel_matmul(const Call<MatMul> &call) {
  static Cache<Product> cache;
  const MatMul &g = call.args;
  int64_t ba = g.batch_a, bb = g.batch_b, M = g.m, K = g.k, N = g.n;
  bool ta = g.transpose_a != 0, tb = g.transpose_b != 0;
  if (ba != bb && ba != 1 && bb != 1) call.fail("batch sizes " + std::to_string(ba) + " and " + std::to_string(bb) + " do not broadcast");
  int64_t batch = ba > bb ? ba : bb;
  float *pa = call.at(g.a, ba * M * K, "a"), *pb = call.at(g.b, bb * K * N, "b"), *pc = call.at(g.c, batch * M * N, "c");
  auto &m = cached(cache, {ba, bb, M, K, N, ta, tb}, [&] {
    auto m = std::make_unique<Product>();
    m->a = operand(ba, M, K, ta);
    m->b = operand(bb, K, N, tb);
    m->c = memory::desc({batch, M, N}, dt::f32, tag::abc);
    m->prim = matmul(matmul::primitive_desc(matmul::desc(m->a, m->b, m->c), cpu()));
    return m;
  });
  multiply(m.prim, wrap(m.a, pa), wrap(m.b, pb), wrap(m.c, pc));
}

}  // namespace convnets
