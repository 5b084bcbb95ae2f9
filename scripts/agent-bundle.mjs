// The agent as users run it: agent/main.ts and everything it imports, npm packages
// included, compiled by esbuild into one ESM file that plain `node` runs, so no
// transpiler loads at start and no npm or tsx process stays around it. Shared by
// scripts/setup.mjs (every `npm start`, `npm run agent`, `bin/berth-agent`) and
// scripts/start.ts; rebuilt only when something it was built from is newer.
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, 'build', 'agent');
export const agentBundle = join(outDir, 'berth-agent.mjs');
const workerBundle = join(outDir, 'layer-worker.mjs');
// The log search's thread, likewise (agent/engine/logs/search.ts finds it there).
const searchWorkerBundle = join(outDir, 'log-search-worker.mjs');
// esbuild's list of the files that went into the bundle, kept for the staleness check.
const metaFile = join(outDir, 'berth-agent.meta.json');
// Not inputs esbuild sees, but they change what it produces.
const buildConfig = [fileURLToPath(import.meta.url), join(root, 'package.json'), join(root, 'package-lock.json'), join(root, 'tsconfig.json')];

const mtime = (p) => statSync(p, { throwIfNoEntry: false })?.mtimeMs;

/** Why the bundle must be built again, or undefined when it is up to date. */
export function agentBundleStale() {
  const built = mtime(agentBundle);
  if (built === undefined || !existsSync(metaFile) || !existsSync(workerBundle) || !existsSync(searchWorkerBundle)) return 'not built yet';
  let inputs;
  try {
    inputs = Object.keys(JSON.parse(readFileSync(metaFile, 'utf8')).inputs).map((p) => join(root, p));
  } catch (err) {
    return `unreadable ${relative(root, metaFile)} (${err.message})`;
  }
  for (const p of [...buildConfig, ...inputs]) {
    const m = mtime(p);
    // A vanished input means an import changed, and that file is newer than the bundle.
    if (m === undefined && !buildConfig.includes(p)) return `${relative(root, p)} is gone`;
    if (m !== undefined && m > built) return `${relative(root, p)} changed`;
  }
  return undefined;
}

/** Builds the bundle when it is missing or stale; returns its path. */
export async function ensureAgentBundle(log = (msg) => console.error(`[setup] ${msg}`)) {
  const why = agentBundleStale();
  if (!why) return agentBundle;
  log(`building the agent (${why}): ${relative(root, agentBundle)}`);
  const started = new Date();
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    absWorkingDir: root,
    // The layer unpacking thread (agent/engine/layers/unpack.ts) and the log search's
    // (agent/engine/logs/search.ts) load their own small bundles, next to this one.
    entryPoints: { 'berth-agent': 'agent/main.ts', 'layer-worker': 'agent/engine/layers/worker.ts', 'log-search-worker': 'agent/engine/logs/search-worker.ts' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outdir: outDir,
    outExtension: { '.js': '.mjs' },
    write: false,
    metafile: true,
    logLevel: 'warning',
    legalComments: 'none',
    // CommonJS packages in the bundle (ws, engine.io-client) call require() for node's
    // built-ins and for optional native add-ons; an ES module has no require of its own.
    banner: { js: "import { createRequire as __berthCreateRequire } from 'node:module';\nconst require = __berthCreateRequire(import.meta.url);" },
    // agent/native/binary.ts finds the monitor's sources next to itself; from the bundle
    // that is this way back (relative, so the checkout can move).
    define: { BERTH_NATIVE_DIR_FROM_BUNDLE: JSON.stringify(relative(outDir, join(root, 'agent', 'native'))) },
  });
  mkdirSync(outDir, { recursive: true });
  // Written aside and renamed, so an agent starting meanwhile never reads half a file; the
  // worker first, so a new agent never finds an old one. Stamped with the time the build
  // began: a source saved during the build stays newer.
  const outputs = [...result.outputFiles].sort((a, b) => (a.path === agentBundle) - (b.path === agentBundle));
  writeFileSync(metaFile, JSON.stringify(result.metafile));
  for (const out of outputs) {
    const tmp = `${out.path}.${process.pid}.tmp`;
    writeFileSync(tmp, out.contents);
    utimesSync(tmp, started, started);
    renameSync(tmp, out.path);
  }
  return agentBundle;
}
