// Generates the Prisma client into generated/prisma. Prisma 7 with a driver adapter
// needs no query engine, and the CLI only insists that a schema engine file exists,
// which it would otherwise try to download (there is no internet here).
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'node_modules', 'prisma', 'build', 'index.js');
if (!existsSync(cli)) {
  console.error(`prisma-generate: ${cli} is missing; run npm install first`);
  process.exit(1);
}
// Nothing to do when the client is newer than the schema (setup runs before every command).
const schema = path.join(root, 'prisma', 'schema.prisma');
const out = path.join(root, 'generated', 'prisma', 'client.ts');
if (!process.argv.includes('--force') && existsSync(out) && statSync(out).mtimeMs >= statSync(schema).mtimeMs) process.exit(0);
const env = { ...process.env, PRISMA_HIDE_UPDATE_MESSAGE: '1', CHECKPOINT_DISABLE: '1' };
if (!env.PRISMA_SCHEMA_ENGINE_BINARY) env.PRISMA_SCHEMA_ENGINE_BINARY = '/bin/true';
const res = spawnSync(process.execPath, [cli, 'generate', '--schema', path.join(root, 'prisma', 'schema.prisma')], {
  cwd: root,
  env,
  stdio: 'inherit',
});
if (res.error) {
  console.error(`prisma-generate: cannot run prisma: ${res.error.message}`);
  process.exit(1);
}
process.exit(res.status ?? 1);
