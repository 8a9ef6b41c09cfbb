// The Node-API module: kernels over float32 data in a caller's typed array (tfjs-wasm's heap), read and
// written in place. oneDNN's primitives are in onednn.cc, plain OpenMP loops in loops.cc; every call
// names its operands by byte offset into the heap, checked against it (args.h).
#include <oneapi/dnnl/dnnl.hpp>

#include "args.h"

namespace convnets {
namespace {

// Turns C++ failures into JS errors naming the call.
template <Kernel F>
napi_value guarded(napi_env env, napi_callback_info info) {
  try {
    return F(env, info);
  } catch (const Failure &e) {
    if (e.range) napi_throw_range_error(env, nullptr, e.what());
    else napi_throw_type_error(env, nullptr, e.what());
  } catch (const dnnl::error &e) {
    napi_throw_error(env, nullptr, (std::string("oneDNN: ") + e.what() + " (status " + std::to_string(int(e.status)) + ")").c_str());
  } catch (const std::exception &e) {
    napi_throw_error(env, nullptr, e.what());
  }
  return nullptr;
}

template <Kernel F>
napi_property_descriptor function(const char *name) {
  return {name, nullptr, guarded<F>, nullptr, nullptr, nullptr, napi_enumerable, nullptr};
}

napi_value init(napi_env env, napi_value exports) {
  const napi_property_descriptor fns[] = {
      function<conv2dForward>("conv2dForward"),
      function<conv2dInputGrad>("conv2dInputGrad"),
      function<conv2dFilterGrad>("conv2dFilterGrad"),
      function<matMul>("matmul"),
      function<batchNormTrain>("batchNormTrain"),
      function<batchNormTrainGrad>("batchNormTrainGrad"),
      function<maxPoolGrad>("maxPoolGrad"),
      function<avgPoolGrad>("avgPoolGrad"),
      function<copyBlocks>("copyBlocks"),
      function<elementwise>("elementwise"),
      function<batchNormInference>("batchNormInference"),
      function<pad>("pad"),
      function<sgdUpdate>("sgdUpdate"),
      function<describe>("info"),
  };
  napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns);
  return exports;
}

}  // namespace
}  // namespace convnets

NAPI_MODULE(NODE_GYP_MODULE_NAME, convnets::init)
