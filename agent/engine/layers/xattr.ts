// Node has no xattr API, so attributes are read by `berth-monitor xattr-get NAME`
// (agent/native/layerfix.c), one process for any number of paths. Writing them belongs
// to layer unpacking: see LayerFixup in ./fixup.
//
// Exports: getXattr, getXattrMany.
import { spawn } from 'node:child_process';
import { monitorBinary } from '../../native/binary';
import { EngineError } from '../errors';

/** One xattr of `path` (not following a final symlink); undefined when it is not set. */
export async function getXattr(path: string, name: string): Promise<Buffer | undefined> {
  return (await getXattrMany([path], name)).get(path);
}

/** The xattr `name` of each of `paths` that has it, in one helper process. */
export async function getXattrMany(paths: string[], name: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  if (paths.length === 0) return out;
  for (const p of paths) if (p.includes('\0')) throw new EngineError(500, `reading xattr ${name}: NUL byte in "${p}"`);
  let bin: string;
  try {
    bin = monitorBinary();
  } catch (e) {
    throw new EngineError(500, `reading xattr ${name}: ${(e as Error).message}`);
  }
  const stdout = await new Promise<Buffer>((resolve, reject) => {
    const child = spawn(bin, ['xattr-get', name], { stdio: ['pipe', 'pipe', 'pipe'], env: {} as NodeJS.ProcessEnv });
    const parts: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => parts.push(d));
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    child.on('error', (e) => reject(new EngineError(500, `reading xattr ${name}: cannot run ${bin}: ${e.message}`)));
    child.on('close', (code) => (code === 0 ? resolve(Buffer.concat(parts)) : reject(new EngineError(500, `reading xattr ${name} failed: ${err.trim() || `exit ${code}`}`))));
    child.stdin.on('error', () => undefined);
    child.stdin.end(Buffer.concat(paths.map((p) => Buffer.from(p + '\0'))));
  });
  // "<path bytes> <value bytes>\n" PATH VALUE, repeated
  let pos = 0;
  while (pos < stdout.length) {
    const nl = stdout.indexOf(0x0a, pos);
    const [pl, vl] = stdout.subarray(pos, nl).toString().split(' ').map(Number);
    const p = stdout.subarray(nl + 1, nl + 1 + pl).toString();
    out.set(p, Buffer.from(stdout.subarray(nl + 1 + pl, nl + 1 + pl + vl)));
    pos = nl + 1 + pl + vl;
  }
  return out;
}
