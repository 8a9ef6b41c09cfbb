// What every kernel of the addon shares: its call (the heap, a Float32Array, and its argument struct from kernels.h
// packed into an Int32Array; operands are byte offsets checked against the heap) and its failures (turned into JS
// errors by addon.cc). Each family's file defines `kernel_<name>` for the kernels kernels.h's native list names.
#pragma once
#include <node_api.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

#include "kernels.h"

namespace convnets {

// A JS-facing failure: the message names the call and what was wrong.
struct Failure : std::runtime_error {
  bool range;
  Failure(const std::string &m, bool r = false) : std::runtime_error(m), range(r) {}
};

template <typename S>
struct Call {
  const char *name;
  char *heap = nullptr;
  size_t heapBytes = 0;
  S args;

  Call(napi_env env, napi_callback_info info, const char *kernel, const char *structName) : name(kernel) {
    size_t argc = 2;
    napi_value argv[2];
    napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
    if (argc != 2) fail("expects the heap and its arguments");
    void *data;
    size_t length;
    if (typed(env, argv[0], &data, &length) != napi_float32_array) fail("its first argument must be a Float32Array");
    if (data == nullptr && length > 0) fail("the heap is detached (it grew: take a fresh view)");
    heap = static_cast<char *>(data);
    heapBytes = length * 4;
    if (typed(env, argv[1], &data, &length) != napi_int32_array || length * 4 != sizeof(S)) {
      fail(std::string("its arguments must be an Int32Array of ") + std::to_string(sizeof(S) / 4) + " words (kernels.h's " +
           structName + ")");
    }
    std::memcpy(&args, data, sizeof(S));
  }

  [[noreturn]] void fail(const std::string &what, bool range = false) const { throw Failure(std::string(name) + ": " + what, range); }

  // The float32 array of `count` elements at byte offset `offset`.
  float *at(uint32_t offset, int64_t count, const char *what) const {
    if (offset % 4 != 0 || count < 0 || size_t(offset) + size_t(count) * 4 > heapBytes) {
      fail(std::string(what) + " (" + std::to_string(count) + " floats at byte " + std::to_string(offset) +
               ") lies outside the heap of " + std::to_string(heapBytes) + " bytes",
           true);
    }
    return reinterpret_cast<float *>(heap + offset);
  }

 private:
  static napi_typedarray_type typed(napi_env env, napi_value v, void **data, size_t *length) {
    bool isTyped = false;
    napi_is_typedarray(env, v, &isTyped);
    if (!isTyped) return napi_typedarray_type(-1);
    napi_typedarray_type type;
    napi_value buffer;
    size_t offset;
    napi_get_typedarray_info(env, v, &type, length, data, &buffer, &offset);
    return type;
  }
};

// Below this many elements (or multiply-adds) one thread is faster than waking the others (OpenMP pragmas' `if`).
[[maybe_unused]] constexpr int64_t PARALLEL = 1 << 15;

// The kernels, one per entry of kernels.h's native list.
#define CONVNETS_DECLARE(name, S) void kernel_##name(const Call<S> &);
CONVNETS_NATIVE_KERNELS(CONVNETS_DECLARE)
#undef CONVNETS_DECLARE

}  // namespace convnets
