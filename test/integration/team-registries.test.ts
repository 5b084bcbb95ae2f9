// A team's registry login used for real: a real control plane, the real agent and a real
// registry with htpasswd auth. Without the team's login a pull is refused by the registry;
// with it the pull, a push and a run (which pulls) go through, and the secret is nowhere on
// the host's disk; a rotated secret is used from the next pull on.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pushBusyboxImage } from '../fixtures/busybox-image';
import { mountsUnder } from '../fixtures/processes';
import { startRegistry } from '../fixtures/registry';
import { addUser, codeOf, ensureNextBuild, eventually, removeDir, signIn, spawnTsx, startControlPlane, trpc, type Child, type ControlPlane } from './support/control-plane';

const ADMIN = { email: 'admin@example.test', name: 'Ada', password: 'admin-pass-123' };
const CREDS = { username: 'robot', password: 'registry-pass-7d1f' };

/** Every file under `dir` whose bytes contain `needle`. */
function filesContaining(dir: string, needle: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && statSync(p).size < 64 * 1024 * 1024 && readFileSync(p).includes(needle)) out.push(p);
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

describe("a team's registry login, handed to the agent per pull and push", { timeout: 300_000 }, () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let cp: ControlPlane;
  let agent: Child;
  let tmp: string;
  let agentRoot: string;
  let hostId: string;
  let admin: ReturnType<typeof trpc>;
  let operator: ReturnType<typeof trpc>;
  let image: string;
  let registryId: string;
  const made: string[] = [];

  before(async () => {
    ensureNextBuild();
    registry = await startRegistry({ auth: CREDS });
    image = (await pushBusyboxImage(registry.url, 'team/busybox', 'v1', { auth: CREDS })).ref;
    cp = await startControlPlane();
    await trpc(cp.url).auth.setup.mutate(ADMIN);
    admin = trpc(cp.url, await signIn(cp.url, ADMIN.email, ADMIN.password));
    await addUser(cp, 'op@example.test', 'op-pass-1234', 'operator');
    operator = trpc(cp.url, await signIn(cp.url, 'op@example.test', 'op-pass-1234'));
    tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-team-reg-'));
    agentRoot = path.join(tmp, 'root');
    const { token, server } = await admin.hosts.createJoinToken.mutate({ name: 'reg-host' });
    agent = spawnTsx(['agent/main.ts', '--root', agentRoot, '--docker-socket', path.join(tmp, 'docker.sock'), '--server', server, '--token', token], {}, 'agent');
    hostId = /as host (\S+)/.exec(await agent.waitFor(/connected to .* as host \S+/, 60_000))![1];
    await eventually('online', async () => (await admin.hosts.get.query({ hostId })).online, 60_000);
  });

  after(async () => {
    try {
      for (const id of made) await admin.containers.remove.mutate({ hostId, id, force: true }).catch(() => {});
    } finally {
      await agent?.kill('SIGTERM');
      await cp?.stop();
      if (cp) removeDir(cp.dataDir);
      await registry?.stop();
      if (tmp) {
        const left = mountsUnder(tmp);
        if (!left.length) removeDir(tmp);
        else console.error(`mounts left under ${tmp}, not deleting it:\n${left.join('\n')}`);
      }
    }
  });

  test('without a team login the registry refuses the pull', async () => {
    await assert.rejects(operator.images.pull.mutate({ hostId, ref: image }), (e: unknown) => /unauthorized|401|authentication required/i.test((e as Error).message));
  });

  test('with the team login the pull goes through; the secret is on no file of the host', async () => {
    registryId = (await admin.registries.add.mutate({ server: registry.url, ...{ username: CREDS.username, secret: CREDS.password } })).id;
    const listed = await admin.registries.list.query();
    assert.deepEqual(listed.map((r) => [r.server, r.username, r.secretSet]), [[registry.url, CREDS.username, true]]);
    const pulled = await operator.images.pull.mutate({ hostId, ref: image });
    assert.ok(pulled.repoTags.includes(image), JSON.stringify(pulled));
    assert.deepEqual(filesContaining(agentRoot, CREDS.password), [], 'the agent keeps the secret in no file');
    assert.deepEqual(filesContaining(cp.dataDir, CREDS.password), [], 'nor does the control plane, in clear');
  });

  test('push to the registry with the team login; a run whose image is missing pulls with it', async () => {
    const v2 = `${registry.url}/team/busybox:v2`;
    await operator.images.tag.mutate({ hostId, source: image, target: v2 });
    const pushed = await operator.images.push.mutate({ hostId, ref: v2 });
    assert.match(pushed.digest, /^sha256:[0-9a-f]{64}$/);
    await operator.images.remove.mutate({ hostId, ref: v2 });
    await operator.images.remove.mutate({ hostId, ref: image });
    const { id } = await operator.containers.run.mutate({ hostId, image: v2, command: 'true' });
    made.push(id);
    assert.ok(id);
  });

  test('a rotated secret is the one used from then on', async () => {
    await admin.registries.rotate.mutate({ registryId, secret: 'not-the-password' });
    await operator.images.remove.mutate({ hostId, ref: image }).catch(() => {});
    await assert.rejects(operator.images.pull.mutate({ hostId, ref: image }), (e: unknown) => /unauthorized|401|authentication required/i.test((e as Error).message));
    await admin.registries.rotate.mutate({ registryId, secret: CREDS.password });
    assert.ok((await operator.images.pull.mutate({ hostId, ref: image })).repoTags.includes(image));
    await assert.rejects(operator.registries.rotate.mutate({ registryId, secret: 'x' }), (e: unknown) => codeOf(e) === 'FORBIDDEN');
    const rows = (await admin.audit.list.query({ action: 'registries.' })).map((r) => [r.action, r.result]);
    assert.deepEqual(rows, [['registries.rotate', rows[0][1]], ['registries.rotate', 'ok'], ['registries.rotate', 'ok'], ['registries.add', 'ok']]);
    assert.match(String(rows[0][1]), /^error: FORBIDDEN/);
  });
});
