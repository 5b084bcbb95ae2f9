// The world the Git-stack tests share: a control plane and a real agent, each in a network
// namespace of the test's own (joined by a veth pair, as the stacks e2e has them), the
// control plane's port tunnelled to this machine's loopback for the test and its webhook
// calls, file:// repositories allowed (BERTH_GIT_FILE_URLS=1), an owner, an operator and
// a viewer, and a busybox image on the host.
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { removeAgentLeftovers } from '../../e2e/support/teardown';
import { startAgentProcess, type AgentProcess } from '../../fixtures/agent-process';
import { busyboxLayer, createNetns, joinByVeth, type Netns } from '../../fixtures/netns';
import { tunnelFrom, type Tunnel } from '../../fixtures/netns-tunnel';
import { addUser, Child, ensureNextBuild, eventually, freePort, removeDir, ROOT, signIn, trpc, type ControlPlane } from './control-plane';

export const ADMIN = { email: 'owner@example.test', name: 'Olga Owner', password: 'owner-pass-1234' };
export const OPERATOR = { email: 'oscar@example.test', password: 'operator-pass-1' };
export const VIEWER = { email: 'vera@example.test', password: 'viewer-pass-1' };

export interface GitStackWorld {
  tmp: string;
  cpNs: Netns;
  cp: ControlPlane;
  agent: AgentProcess;
  hostId: string;
  owner: ReturnType<typeof trpc>;
  operator: ReturnType<typeof trpc>;
  close(): Promise<void>;
}

export async function startGitStackWorld(label: string, subnet24: string): Promise<GitStackWorld> {
  ensureNextBuild();
  const tmp = mkdtempSync(path.join(os.tmpdir(), `berth-${label}-`));
  const cpNs = createNetns(`${label}cp`);
  const agentNs = createNetns(`${label}h`);
  let cp: ControlPlane | undefined;
  let tunnel: Tunnel | undefined;
  let agent: AgentProcess | undefined;
  const close = async () => {
    let agentRoot: string | undefined;
    try {
      if (agent) {
        agentRoot = agent.root;
        const ids = agent.docker(['ps', '-aq']).stdout.split('\n').filter(Boolean);
        if (ids.length) agent.docker(['rm', '-f', ...ids]);
        agent.docker(['network', 'prune', '-f']);
        agent.docker(['volume', 'prune', '-f']);
        await agent.stop();
      }
      await tunnel?.close();
      await cp?.stop();
    } finally {
      if (cp) removeDir(cp.dataDir);
      agentNs.remove();
      cpNs.remove();
      removeAgentLeftovers(agentRoot, tmp);
    }
  };
  try {
    joinByVeth(cpNs, agentNs, subnet24);
    const port = await freePort();
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'berth-cp-'));
    const env = { ...process.env, PORT: String(port), BERTH_DATA_DIR: dataDir, NEXTAUTH_URL: '', NEXTAUTH_SECRET: '', DATABASE_URL: '', BERTH_TRUST_PROXY: '', BERTH_GIT_FILE_URLS: '1' };
    const child = new Child(spawn('nsenter', [`--net=${cpNs.path}`, '--', process.execPath, '--import', 'tsx', 'server/main.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] }), 'server');
    cp = { url: `http://localhost:${port}`, port, dataDir, child, stop: () => child.kill() };
    await child.waitFor(/control plane on http/, 120_000);
    tunnel = await tunnelFrom(cpNs, port, tmp);
    await trpc(cp.url).auth.setup.mutate(ADMIN);
    await addUser(cp, OPERATOR.email, OPERATOR.password, 'operator');
    await addUser(cp, VIEWER.email, VIEWER.password, 'viewer');
    const owner = trpc(cp.url, await signIn(cp.url, ADMIN.email, ADMIN.password));
    const operator = trpc(cp.url, await signIn(cp.url, OPERATOR.email, OPERATOR.password));
    const { token } = await owner.hosts.createJoinToken.mutate({ name: `${label}-host` });
    agent = await startAgentProcess(label, { netns: agentNs, flags: ['--server', `http://${subnet24}.1:${port}`, '--token', token] });
    await eventually('the agent to connect', () => /connected to .* as host \S+/.test(agent!.log()), 60_000);
    const hostId = /as host (\S+)/.exec(agent.log())![1];
    agent.ok(['import', '-c', 'CMD ["sh"]', '-', 'bb:test'], { input: await busyboxLayer() });
    await eventually('the host online', async () => (await owner.hosts.get.query({ hostId })).online, 60_000);
    return { tmp, cpNs, cp, agent, hostId, owner, operator, close };
  } catch (err) {
    await close();
    throw err;
  }
}
