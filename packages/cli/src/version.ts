import { createRequire } from 'node:module';

/** The package's version (package.json sits one folder above both src/ and dist/). */
export const VERSION: string = createRequire(import.meta.url)('../package.json').version;
