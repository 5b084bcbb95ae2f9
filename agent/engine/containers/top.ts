// `docker top`: like dockerd, run the host's `ps` with the options given and keep the rows
// of the container's processes (daemon/top_unix.go).
import { execFile } from 'node:child_process';
import { badRequest, EngineError } from '../errors';

export interface TopResult {
  titles: string[];
  processes: string[][];
}

/** "-o pid=" and friends would hide the PID column the rows are matched by; only pid= may be renamed. */
export function checkPsArgs(psArgs: string): void {
  for (const m of psArgs.matchAll(/\s+([^\s]*)=\s*(PID[^\s]*)/g)) {
    if (m[1] !== 'pid') throw badRequest(`specifying "${m[1]}=${m[2]}" is not allowed`);
  }
}

const fieldsAscii = (s: string) => s.split(/[\t\n\f\r ]+/).filter(Boolean);

/** The rows of `ps` output whose PID is one of `pids`; thread lines ("-" as PID, `ps -m`) stay with their process. */
export function parsePs(output: string, pids: number[]): TopResult {
  const lines = output.split('\n');
  const titles = fieldsAscii(lines[0] ?? '');
  const pidIndex = titles.indexOf('PID');
  if (pidIndex < 0) throw new EngineError(500, "Couldn't find PID field in ps output");
  const want = new Set(pids);
  const processes: string[][] = [];
  const add = (fields: string[]) => processes.push([...fields.slice(0, titles.length - 1), fields.slice(titles.length - 1).join(' ')]);
  let inContainer = false;
  for (const line of lines.slice(1)) {
    if (!line) continue;
    const fields = fieldsAscii(line);
    const pidField = fields[pidIndex];
    if (pidField === '-') {
      if (inContainer) add(fields);
      continue;
    }
    const pid = Number(pidField);
    if (!Number.isInteger(pid)) throw new EngineError(500, `Unexpected pid '${pidField}'`);
    inContainer = want.has(pid);
    if (inContainer) add(fields);
  }
  return { titles, processes };
}

function ps(args: string[]): Promise<{ ok: true; out: string } | { ok: false; err: string }> {
  return new Promise((resolve) => {
    execFile('ps', args, { maxBuffer: 64 << 20, env: { ...process.env, LC_ALL: 'C' } }, (e, stdout, stderr) => {
      if (e) resolve({ ok: false, err: stderr.split('\n')[0] || e.message });
      else resolve({ ok: true, out: stdout });
    });
  });
}

export async function top(pids: number[], psArgs = ''): Promise<TopResult> {
  const given = psArgs.trim() === '' ? '-ef' : psArgs;
  checkPsArgs(given);
  const args = given.split(' ');
  // -q lists only these pids; some options (f) cannot go with it, so dockerd retries without.
  let r = await ps([...args, `-q${pids.join(',')}`]);
  if (!r.ok) r = await ps(args);
  if (!r.ok) throw new EngineError(500, `ps: ${r.err}`);
  return parsePs(r.out, pids);
}
