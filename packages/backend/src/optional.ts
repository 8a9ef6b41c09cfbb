/** Loading optional packages: by a name bundlers should not resolve, and saying why one did not load. */

/** Imports a module by a name bundlers and TypeScript should not try to resolve (an optional package). */
export const importOptional = (specifier: string): Promise<unknown> => import(/* @vite-ignore */ specifier);

export function describeImportFailure(pkg: string, err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: string })?.code;
  if (
    code === 'ERR_MODULE_NOT_FOUND' ||
    code === 'MODULE_NOT_FOUND' ||
    /Cannot find (package|module)|Could not resolve|Failed to (resolve|fetch dynamically imported) module/.test(message)
  ) {
    return `${pkg} is not installed (npm install ${pkg})`;
  }
  if (/tfjs_binding\.node/.test(message)) {
    return (
      `${pkg} is installed but its native binding is missing (its install ` +
      `step downloads libtensorflow: reinstall it with network access)`
    );
  }
  if (/libcud|libcublas|libcudnn|CUDA/i.test(message)) {
    return `${pkg} is installed but the CUDA/cuDNN libraries it needs are missing: ${message.split('\n')[0]}`;
  }
  return `${pkg} failed to load: ${message.split('\n')[0]}`;
}
