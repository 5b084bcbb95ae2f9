// `npm run integrity -- [--root DIR] [--deep]`: checks an agent's image store for
// consistency (agent/engine/images/integrity.ts) and exits 1 when it finds a problem.
// Read-only, so it may run beside a live agent; run it after the agent has started
// again to see what a crash left (the start removes a crash's leftovers).
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_ROOT } from '../agent/engine/index';
import { checkImageStore } from '../agent/engine/images/integrity';

const { values } = parseArgs({ options: { root: { type: 'string' }, deep: { type: 'boolean' }, json: { type: 'boolean' } }, strict: true });
const dir = join(resolve(values.root ?? DEFAULT_ROOT), 'images');
const report = await checkImageStore(dir, { deep: values.deep });
if (values.json) {
  console.log(JSON.stringify(report));
} else {
  const c = report.counted;
  console.log(`image store ${dir}: ${c.blobs} blobs, ${c.layers} layers, ${c.images} images, ${c.names} names checked${values.deep ? ' (deep)' : ''}`);
  for (const l of report.leftovers) console.log(`  leftover: ${l}`);
  for (const p of report.problems) console.log(`  PROBLEM: ${p}`);
  console.log(report.problems.length ? `${report.problems.length} problem(s)` : 'consistent');
}
process.exit(report.problems.length ? 1 : 0);
