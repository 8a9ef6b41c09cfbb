// Builds a package and everything it depends on with turbo, showing turbo's own output (version, scope, task
// summary) only when the build fails: `pnpm start` and `pnpm -s convnets ...` then print only the command's output.
// usage: node tooling/scripts/build-quietly.mjs @convnets/cli
import { spawn } from 'node:child_process';

const [target] = process.argv.slice(2);
if (!target) throw new Error('usage: build-quietly.mjs <package name>');
const env = { ...process.env, TURBO_TELEMETRY_DISABLED: '1', DO_NOT_TRACK: '1', TURBO_PRINT_VERSION_DISABLED: '1' };
const args = ['run', 'build', `--filter=${target}...`, '--output-logs=errors-only', '--log-prefix=none'];
const turbo = spawn('turbo', args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
let output = '';
turbo.stdout.on('data', (chunk) => (output += chunk));
turbo.stderr.on('data', (chunk) => (output += chunk));
// A first build takes about a minute: say so once, rather than sit silent.
const notice = setTimeout(() => process.stderr.write(`building ${target} and the packages it uses...\n`), 2000);
turbo.on('close', (code) => {
  clearTimeout(notice);
  if (code !== 0) process.stderr.write(output);
  process.exitCode = code ?? 1;
});
