/**
 * Registers tfjs-core's gradient functions (tfjs-core registers none by itself). Import it once before
 * training: `import '@convnets/nn/gradients'`.
 *
 * Bundlers, Vite and Vitest load tfjs-core's own registration module directly. Plain Node cannot (its
 * internal imports have no file extensions), so the Node build of this entry is that module bundled
 * by esbuild at build time (scripts/bundle-gradients.mjs); the package's `exports` map picks it for Node.
 */
import '@tensorflow/tfjs-core/dist/register_all_gradients';
