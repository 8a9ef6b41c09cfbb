/** The CLI as a real process that kills itself mid-checkpoint: what the crash-and-resume tests run. */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/**
 * Runs the built CLI with `args`, preloaded to SIGKILL itself at the `at`-th rename of a .safetensors file: after
 * the temporary file is fully written, before it replaces the previous checkpoint. The preload is written in `dir`.
 * Resolves to how the process ended (`signal` is 'SIGKILL' when it got that far).
 */
export function cliKilledAtRename(dir: string, at: number, args: string[]): Promise<{ signal?: string }> {
  const preload = path.join(dir, 'crash.mjs');
  writeFileSync(
    preload,
    `import fs from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
const { rename } = fs;
let n = 0;
fs.rename = async (from, to) => {
  if (String(to).endsWith('.safetensors') && ++n === ${at}) process.kill(process.pid, 'SIGKILL');
  return rename(from, to);
};
syncBuiltinESMExports();
`,
  );
  const bin = fileURLToPath(new URL('../dist/bin.js', import.meta.url));
  return promisify(execFile)(process.execPath, ['--import', preload, bin, ...args]).then(
    () => ({}),
    (e: { signal?: string }) => e,
  );
}
