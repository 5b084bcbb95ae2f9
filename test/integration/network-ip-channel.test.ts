// The agent's long-running `ip -batch` for the host side of container wiring
// (agent/engine/network/kernel.ts): requests in a row answer in order, each with its own
// failed lines named, and the process it keeps lets a script exit once it is closed. Run
// in a network namespace of its own (unshare --net), so the machine's links are never touched.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const isRoot = process.getuid?.() === 0;
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const script = `
const { hostIp, closeHostIp } = await import(${JSON.stringify(path.join(repoRoot, 'agent/engine/network/kernel.ts'))});
const out = (p) => p.then(() => 'ok', (e) => 'rejected: ' + e.message);
// Sent at once, before the first answer: each is answered for its own lines.
const a = out(hostIp(['link add bctest0 type bridge', 'link add bctest0 type bridge', 'link set bctest0 up']));
const b = out(hostIp(['link set bctest0 down', 'link del bctest0']));
const c = out(hostIp(['link del bctest0']));
const d = out(hostIp(['link show lo']));
console.log(JSON.stringify([await a, await b, await c, await d]));
closeHostIp();
`;

describe('the long-running ip -batch', { skip: !isRoot && 'needs root (unshare --net)' }, () => {
  it("answers requests in order, names each one's failed lines, and lets the process exit once closed", () => {
    const r = spawnSync('timeout', ['-k', '5', '60', 'unshare', '--net', process.execPath, '--import', 'tsx', '--input-type=module', '-e', script], { cwd: repoRoot, encoding: 'utf8' });
    // A handle left referenced would keep node up until timeout kills it (status 124).
    assert.equal(r.status, 0, r.stderr);
    const [a, b, c, d] = JSON.parse(r.stdout.trim().split('\n').pop()!) as string[];
    // The second add fails, and only it is named; the lines around it ran.
    assert.match(a, /^rejected: ip -batch failed: .*File exists \(link add bctest0 type bridge\)$/);
    assert.equal(b, 'ok');
    assert.match(c, /^rejected: ip -batch failed: .*bctest0.* \(link del bctest0\)$/);
    assert.equal(d, 'ok');
  });
});
