// Generates the Prisma clients: generated/prisma for SQLite (prisma/schema.prisma as it is)
// and generated/prisma-pg for PostgreSQL (the same schema with its provider swapped). A
// Prisma 7 client is compiled for one provider and refuses a driver adapter of another,
// so DATABASE_URL=postgresql:// needs a client of its own; the models, and so the types
// the code sees, are the same. Prisma 7 with a driver adapter needs no query engine, and
// the CLI only insists that a schema engine file exists, which it would otherwise try to
// download (there is no internet here).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'node_modules', 'prisma', 'build', 'index.js');
if (!existsSync(cli)) {
  console.error(`prisma-generate: ${cli} is missing; run npm install first`);
  process.exit(1);
}
const schema = path.join(root, 'prisma', 'schema.prisma');
const generated = path.join(root, 'generated');
const pgSchema = path.join(generated, 'schema.postgresql.prisma');
const outputs = [path.join(generated, 'prisma', 'client.ts'), path.join(generated, 'prisma-pg', 'client.ts')];
// Nothing to do when both clients are newer than the schema (setup runs before every command).
const fresh = outputs.every((o) => existsSync(o) && statSync(o).mtimeMs >= statSync(schema).mtimeMs);
if (!process.argv.includes('--force') && fresh) process.exit(0);

/** The schema for PostgreSQL: one provider line and one output line changed, or a clear failure. */
function postgresSchema(text) {
  const swap = (re, line, what) => {
    const hits = text.match(new RegExp(re.source, 'gm'))?.length ?? 0;
    if (hits !== 1) {
      console.error(`prisma-generate: expected one ${what} line in ${schema}, found ${hits}`);
      process.exit(1);
    }
    text = text.replace(new RegExp(re.source, 'm'), line);
  };
  swap(/^\s*provider\s*=\s*"sqlite"\s*$/, '  provider = "postgresql"', 'provider = "sqlite"');
  // Relative to the derived schema's own place, generated/.
  swap(/^\s*output\s*=\s*"\.\.\/generated\/prisma"\s*$/, '  output       = "./prisma-pg"', 'output = "../generated/prisma"');
  return `// Written by scripts/prisma-generate.mjs from prisma/schema.prisma; edit that one.\n${text}`;
}

mkdirSync(generated, { recursive: true });
writeFileSync(pgSchema, postgresSchema(readFileSync(schema, 'utf8')));

const env = { ...process.env, PRISMA_HIDE_UPDATE_MESSAGE: '1', CHECKPOINT_DISABLE: '1' };
if (!env.PRISMA_SCHEMA_ENGINE_BINARY) env.PRISMA_SCHEMA_ENGINE_BINARY = '/bin/true';
for (const file of [schema, pgSchema]) {
  const res = spawnSync(process.execPath, [cli, 'generate', '--schema', file], { cwd: root, env, stdio: 'inherit' });
  if (res.error) {
    console.error(`prisma-generate: cannot run prisma: ${res.error.message}`);
    process.exit(1);
  }
  if (res.status !== 0) process.exit(res.status ?? 1);
}
