// oneDNN 2.x plumbing the conv, matmul and norm families share: one engine and stream, primitives cached per shape,
// and the caller's arrays wrapped in place (no copies).
#pragma once
#include <oneapi/dnnl/dnnl.hpp>

#include <map>
#include <memory>
#include <vector>

namespace convnets {

using namespace dnnl;
using dt = memory::data_type;
using tag = memory::format_tag;
using dims = memory::dims;

inline engine &cpu() {
  static engine e(engine::kind::cpu, 0);
  return e;
}
inline stream &queue() {
  static stream s(cpu());
  return s;
}

template <typename T>
using Cache = std::map<std::vector<int64_t>, std::unique_ptr<T>>;

template <typename T, typename Make>
T &cached(Cache<T> &cache, const std::vector<int64_t> &key, Make make) {
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, make()).first;
  return *it->second;
}

// Wraps a caller's pointer (no copy).
inline memory wrap(const memory::desc &md, float *p) { return memory(md, cpu(), p); }

// A row-major [rows, cols] matrix, or its transpose's storage.
inline memory::desc matrix(int64_t rows, int64_t cols, bool transposed = false) {
  return memory::desc({rows, cols}, dt::f32, transposed ? dims{1, rows} : dims{cols, 1});
}
inline matmul product(const memory::desc &a, const memory::desc &b, const memory::desc &c) {
  return matmul(matmul::primitive_desc(matmul::desc(a, b, c), cpu()));
}

// c = a b on the caller's pointers.
inline void multiply(const matmul &m, const memory &a, const memory &b, const memory &c) {
  m.execute(queue(), {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}});
  queue().wait();
}

}  // namespace convnets
