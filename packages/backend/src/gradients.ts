/**
 * Registers tfjs-core's gradient functions (tfjs-core registers none by itself); initBackend imports it.
 *
 * Bundlers, Vite and Vitest load tfjs-core's registration module as it is. Plain Node cannot (its internal
 * imports have no file extensions), so the build replaces dist/gradients.js with that module bundled by esbuild
 * (scripts/bundle-gradients.mjs) and keeps this plain import as dist/gradients-browser.js, which the package's
 * `browser` field gives bundlers.
 */
import '@tensorflow/tfjs-core/dist/register_all_gradients';
