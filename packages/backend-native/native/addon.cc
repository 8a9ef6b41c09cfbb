// The Node-API module: every kernel kernels.h's native list names, under that name (the wasm build's export names),
// each taking (heap, arguments); and info(). One file per operation family holds the kernels (conv, matmul, norm on
// oneDNN; pool, elementwise, copy, optimizer as OpenMP loops); call.h reads and checks their arguments.
#include <oneapi/dnnl/dnnl.hpp>

#include <string>

#include "call.h"

namespace convnets {
namespace {

// Runs kernel F on its call, turning C++ failures into JS errors that name it.
template <typename S, void (*F)(const Call<S> &)>
napi_value entry(napi_env env, napi_callback_info info) {
  const char **names;
  napi_get_cb_info(env, info, nullptr, nullptr, nullptr, reinterpret_cast<void **>(&names));
  try {
    F(Call<S>(env, info, names[0], names[1]));
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

// Each kernel's name and its struct's name, for its messages.
#define CONVNETS_NAMES(name, S) const char *name##_names[] = {#name, #S};
CONVNETS_NATIVE_KERNELS(CONVNETS_NAMES)
#undef CONVNETS_NAMES

napi_value init(napi_env env, napi_value exports) {
#define CONVNETS_ENTRY(name, S) \
  {#name, nullptr, entry<S, kernel_##name>, nullptr, nullptr, nullptr, napi_enumerable, name##_names},
  const napi_property_descriptor fns[] = {
      CONVNETS_NATIVE_KERNELS(CONVNETS_ENTRY){"info", nullptr, describe, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  };
#undef CONVNETS_ENTRY
  napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns);
  return exports;
}

}  // namespace
}  // namespace convnets

NAPI_MODULE(NODE_GYP_MODULE_NAME, convnets::init)
