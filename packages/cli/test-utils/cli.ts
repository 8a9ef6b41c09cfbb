/** The CLI run in-process, for tests: its exit code and what it printed on each stream. */
import { expect } from 'vitest';
import { run } from '../src/program.js';

export async function cli(...argv: string[]) {
  let out = '';
  let err = '';
  const line = (t: string) => (t.endsWith('\n') ? t : `${t}\n`); // as processIo writes
  const code = await run(argv, { out: (t) => (out += line(t)), err: (t) => (err += line(t)) });
  return { code, out, err };
}

/** Runs the CLI and expects success; a failure shows what the CLI printed on stderr. */
export async function ok(...argv: string[]) {
  const r = await cli(...argv);
  expect(r.code, r.err).toBe(0);
  return r;
}
