// The docker CLI through the control plane (server/proxy) against the same CLI straight to the
// agent's socket: one agent (the compiled bundle) enrolled in a real control plane, the same
// commands both ways in each round, alternating, so what the proxy costs shows as a ratio:
// a short call (ps), a container's whole life (run --rm), and 64 MiB each way through a
// container's stdio (the tunnel's bounded pieces with acks).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startAgentProcess } from '../test/fixtures/agent-process';
import { pushBusyboxImage } from '../test/fixtures/busybox-image';
import { startRegistry } from '../test/fixtures/registry';
import { eventually } from '../test/fixtures/wait';
import { ensureNextBuild, removeDir, signIn, startControlPlane, trpc } from '../test/integration/support/control-plane';
import { median } from './cli';

export interface ProxyBenchRow {
  name: string;
  directMs: number;
  proxiedMs: number;
}

const MIB64 = 64 << 20;

export async function benchProxy(opts: { rounds: number }): Promise<ProxyBenchRow[]> {
  ensureNextBuild('pipe');
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-bench-proxy-'));
  const registry = await startRegistry();
  const cp = await startControlPlane();
  let agent: Awaited<ReturnType<typeof startAgentProcess>> | undefined;
  try {
    const image = (await pushBusyboxImage(registry.url, 'bench/busybox', 'proxy')).ref;
    await trpc(cp.url).auth.setup.mutate({ email: 'bench@example.test', name: 'Bench', password: 'bench-pass-1' });
    const api = trpc(cp.url, await signIn(cp.url, 'bench@example.test', 'bench-pass-1'));
    const { command } = await api.hosts.createJoinToken.mutate({ name: 'bench' });
    // In the machine's own namespace: no bridge, as the other benchmarks' agents.
    agent = await startAgentProcess('bench-proxy', { bin: true, flags: ['--bridge', 'none', '--server', cp.url, '--token', /--token (\S+)/.exec(command)![1]] });
    await eventually('the host online', async () => (await api.hosts.list.query()).some((h) => h.online), 60_000);
    const teamId = (await api.account.me.query()).teams[0].id;
    const { token } = await api.tokens.create.mutate({ teamId, name: 'bench', role: 'owner', expiresInDays: 1 });
    const config = mkdtempSync(path.join(tmp, 'cli-'));
    writeFileSync(path.join(config, 'config.json'), JSON.stringify({ HttpHeaders: { Authorization: `Bearer ${token}` } }));
    const env = { ...process.env, DOCKER_CONFIG: config, DOCKER_CLI_HINTS: 'false', DOCKER_HOST: '', DOCKER_CONTEXT: '' };
    agent.ok(['pull', image]);

    const hosts = { direct: `unix://${agent.sock}`, proxied: `tcp://127.0.0.1:${cp.port}/docker/bench` };
    const cases: Array<{ name: string; script: (h: string) => string; expect?: string }> = [
      { name: 'docker ps', script: (h) => `docker -H ${h} ps -q` },
      { name: 'docker run --rm true', script: (h) => `docker -H ${h} run --rm --network none ${image} true` },
      { name: '64 MiB out (stdout)', script: (h) => `docker -H ${h} run --rm --network none ${image} head -c ${MIB64} /dev/zero | wc -c`, expect: String(MIB64) },
      { name: '64 MiB in (stdin)', script: (h) => `head -c ${MIB64} /dev/zero | docker -H ${h} run --rm -i --network none ${image} wc -c`, expect: String(MIB64) },
    ];
    const time = (script: string, expect?: string) => {
      const t0 = performance.now();
      const r = spawnSync('timeout', ['-k', '5', '300', 'bash', '-o', 'pipefail', '-c', script], { encoding: 'utf8', env });
      const ms = performance.now() - t0;
      if (r.status !== 0 || (expect && r.stdout.trim() !== expect)) throw new Error(`${script}: exit ${r.status}, ${r.stdout.slice(0, 200)} ${r.stderr.slice(0, 500)}`);
      return ms;
    };
    const rows: ProxyBenchRow[] = [];
    for (const c of cases) {
      const direct: number[] = [];
      const proxied: number[] = [];
      // One of each first, unmeasured: the first call of a kind pays for caches both ways.
      time(c.script(hosts.direct), c.expect);
      time(c.script(hosts.proxied), c.expect);
      for (let i = 0; i < opts.rounds; i++) {
        direct.push(time(c.script(hosts.direct), c.expect));
        proxied.push(time(c.script(hosts.proxied), c.expect));
      }
      rows.push({ name: c.name, directMs: median(direct), proxiedMs: median(proxied) });
    }
    return rows;
  } finally {
    await agent?.stop();
    await cp.stop();
    removeDir(cp.dataDir);
    await registry.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}
