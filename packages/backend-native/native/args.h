// What every kernel of the addon shares: its arguments (a Float32Array over the heap, then numbers, with
// operands as byte offsets that are checked against the heap) and its failures (turned into JS errors).
#pragma once
#include <node_api.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace convnets {

// A JS-facing failure: the message names the call and what was wrong.
struct Failure : std::runtime_error {
  bool range;
  Failure(const std::string &m, bool r = false) : std::runtime_error(m), range(r) {}
};

// The arguments of one call: a typed array (the heap) and then numbers.
struct Args {
  napi_env env;
  const char *name;
  char *heap = nullptr;
  size_t heapBytes = 0;
  std::vector<int64_t> n;  // the numbers as integers (sizes, offsets, flags)
  std::vector<double> d;   // and as given

  Args(napi_env e, napi_callback_info info, const char *fn, size_t count) : env(e), name(fn), n(count), d(count) {
    size_t argc = count + 1;
    std::vector<napi_value> argv(argc);
    napi_get_cb_info(env, info, &argc, argv.data(), nullptr, nullptr);
    if (argc != count + 1) fail("expects a heap and " + std::to_string(count) + " numbers");
    bool isTyped = false;
    napi_is_typedarray(env, argv[0], &isTyped);
    if (!isTyped) fail("its first argument must be a typed array over the heap");
    napi_typedarray_type type;
    size_t length;
    void *data;
    napi_value buffer;
    size_t offset;
    napi_get_typedarray_info(env, argv[0], &type, &length, &data, &buffer, &offset);
    if (type != napi_float32_array) fail("its first argument must be a Float32Array");
    if (data == nullptr && length > 0) fail("the heap is detached (it grew: take a fresh view)");
    heap = static_cast<char *>(data);
    heapBytes = length * 4;
    for (size_t i = 0; i < count; i++) {
      if (napi_get_value_double(env, argv[i + 1], &d[i]) != napi_ok) fail("argument " + std::to_string(i + 1) + " must be a number");
      n[i] = int64_t(d[i]);
    }
  }

  [[noreturn]] void fail(const std::string &what, bool range = false) const { throw Failure(std::string(name) + ": " + what, range); }

  // The float32 array of `count` elements at byte offset n[i].
  float *at(size_t i, int64_t count, const char *what) const {
    int64_t offset = n[i];
    if (offset < 0 || offset % 4 != 0 || count < 0 || size_t(offset) + size_t(count) * 4 > heapBytes) {
      fail(std::string(what) + " (" + std::to_string(count) + " floats at byte " + std::to_string(offset) + ") lies outside the heap of " +
               std::to_string(heapBytes) + " bytes",
           true);
    }
    return reinterpret_cast<float *>(heap + offset);
  }
};

// The addon's functions, as Node-API callbacks.
using Kernel = napi_value (*)(napi_env, napi_callback_info);

// oneDNN primitives (onednn.cc).
napi_value conv2dForward(napi_env, napi_callback_info);
napi_value conv2dInputGrad(napi_env, napi_callback_info);
napi_value conv2dFilterGrad(napi_env, napi_callback_info);
napi_value matMul(napi_env, napi_callback_info);
napi_value batchNormTrain(napi_env, napi_callback_info);
napi_value batchNormTrainGrad(napi_env, napi_callback_info);
napi_value describe(napi_env, napi_callback_info);

// Plain loops on OpenMP threads (loops.cc).
napi_value maxPoolGrad(napi_env, napi_callback_info);
napi_value avgPoolGrad(napi_env, napi_callback_info);
napi_value copyBlocks(napi_env, napi_callback_info);
napi_value elementwise(napi_env, napi_callback_info);
napi_value batchNormInference(napi_env, napi_callback_info);
napi_value pad(napi_env, napi_callback_info);
napi_value sgdUpdate(napi_env, napi_callback_info);

}  // namespace convnets
