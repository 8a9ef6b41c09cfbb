export { run, createProgram } from './program.js';
export type { Io } from './io.js';
