// Ranks the tests by duration from the JSON files Vitest wrote under CONVNETS_TEST_TIMINGS (see the shared Vitest
// config): the slowest tests, then each file's total. usage: node tooling/scripts/slowest-tests.mjs DIR [COUNT]
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const [dir, count = '10'] = process.argv.slice(2);
if (!dir) throw new Error('usage: slowest-tests.mjs DIR [COUNT]');
const tests = [];
const files = [];
for (const name of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
  const report = JSON.parse(readFileSync(join(dir, name), 'utf8'));
  for (const file of report.testResults ?? []) {
    const path = relative(process.cwd(), file.name);
    files.push({ path, seconds: (file.endTime - file.startTime) / 1000 });
    for (const test of file.assertionResults ?? []) {
      tests.push({ path, title: test.fullName ?? test.title, seconds: (test.duration ?? 0) / 1000 });
    }
  }
}
const top = (rows) => rows.sort((a, b) => b.seconds - a.seconds).slice(0, Number(count));
const total = tests.reduce((sum, t) => sum + t.seconds, 0);
console.log(`slowest ${count} of ${tests.length} tests (${total.toFixed(0)} s in all, summed over packages):`);
for (const t of top(tests)) console.log(`${t.seconds.toFixed(1).padStart(7)} s  ${t.path} > ${t.title}`);
console.log(`slowest ${count} test files:`);
for (const f of top(files)) console.log(`${f.seconds.toFixed(1).padStart(7)} s  ${f.path}`);
