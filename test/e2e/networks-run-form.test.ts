// The host page's networks, the Run form's ports, mounts, network, environment, restart
// policy and healthcheck, and published ports as links, in Chromium against the real control plane and a
// real agent. Two "machines", each a network namespace of the test's own joined by a veth
// pair, so no bridge or firewall rule touches this machine's network: the agent's host
// (10.213.0.2) and the control plane's, where the browser runs too (10.213.0.1). The agent
// dials the control plane at 10.213.0.1, so the control plane knows it as 10.213.0.2, and
// that is where its published ports are reached. The test process talks to the control
// plane through a loopback tunnel (test/fixtures/netns-tunnel.ts).
//
// An operator creates networks in the tab, runs a container from the form (first with
// mistakes the form refuses, naming them), and the agent's own Docker API shows exactly
// what was asked; the port link opens the container's web server; a network in use is
// refused in the engine's words, built-ins have no Remove, and after the container goes the
// network is removed; the audit log has every step. A viewer sees the networks and the
// port links but no button, and crafted calls as the viewer are refused and audited.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { signedInPage } from './support/pages';
import { startAgentProcess, type AgentProcess } from '../fixtures/agent-process';
import { busyboxLayer, createNetns, joinByVeth, type Netns } from '../fixtures/netns';
import { tunnelFrom, type Tunnel } from '../fixtures/netns-tunnel';
import { addUser, Child, ensureNextBuild, eventually, freePort, removeDir, ROOT, signIn, trpc, type ControlPlane } from '../integration/support/control-plane';

const ADMIN = { email: 'owner@example.test', name: 'Olga Owner', password: 'owner-pass-1234' };
const OPERATOR = { email: 'oscar@example.test', password: 'operator-pass-1' };
const VIEWER = { email: 'vera@example.test', password: 'viewer-pass-1' };
const PATIENCE_MS = 60_000;
const SHOTS = path.join(ROOT, 'test-results');
const isRoot = process.getuid?.() === 0;
const LINK = { cp: '10.213.0.1', agent: '10.213.0.2' };

interface Inspect {
  Id: string;
  Config: { Env: string[]; Healthcheck?: unknown };
  HostConfig: { PortBindings: unknown; NetworkMode: string; RestartPolicy: unknown; Mounts?: unknown; Binds?: unknown };
  NetworkSettings: { Ports: unknown; Networks: Record<string, { IPAddress: string; Gateway: string }> };
  Mounts: Array<{ Type: string; Name?: string; Source: string; Destination: string; RW: boolean; Driver?: string }>;
  RestartCount: number;
  State: { Health?: { Status: string } };
}

describe('the host page\'s networks, the run form and port links', { skip: !isRoot && 'needs root', timeout: 15 * 60_000 }, () => {
  const STEP = { timeout: 5 * 60_000 };
  let tmp: string;
  let cpNs: Netns;
  let agentNs: Netns;
  let cp: ControlPlane;
  let tunnel: Tunnel | undefined;
  let agent: AgentProcess | undefined;
  let hostId: string;
  let owner: ReturnType<typeof trpc>;
  let browser: Browser | undefined;
  const contexts: BrowserContext[] = [];
  const cspProblems: string[] = [];

  /** The control plane as a host runs it, but inside the control plane's namespace. */
  async function startControlPlaneIn(ns: Netns): Promise<ControlPlane> {
    const port = await freePort();
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'berth-cp-'));
    const env = { ...process.env, PORT: String(port), BERTH_DATA_DIR: dataDir, NEXTAUTH_URL: '', NEXTAUTH_SECRET: '', DATABASE_URL: '', BERTH_TRUST_PROXY: '' };
    // nsenter execs node: the pid is the server's own.
    const child = new Child(spawn('nsenter', [`--net=${ns.path}`, '--', process.execPath, '--import', 'tsx', 'server/main.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] }), 'server');
    await child.waitFor(/control plane on http/, 120_000);
    return { url: `http://localhost:${port}`, port, dataDir, child, stop: () => child.kill() };
  }

  const inspect = (name: string) => JSON.parse(agent!.ok(['inspect', name]))[0] as Inspect;
  const networkNames = () => agent!.ok(['network', 'ls', '--format', '{{.Name}}']).trim().split('\n').sort();

  const newPage = (who: { email: string; password: string }): Promise<Page> => signedInPage(browser!, cp.url, who, { problems: cspProblems, contexts, timeoutMs: PATIENCE_MS, context: { viewport: { width: 1500, height: 1100 } } });


  const shot = async (page: Page, name: string) => {
    mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SHOTS, `networks-${name}.png`), fullPage: true });
  };
  const netRow = (page: Page, name: string) => page.locator(`[data-testid=network-row][data-network-name="${name}"]`);
  const containerRow = (page: Page, name: string) => page.locator(`[data-testid=container-row][data-container-name="${name}"]`);
  const audit = async (who: string) => (await owner.audit.list.query()).filter((a) => a.userEmail === who).map((a) => `${a.action} ${a.target} ${a.result}`);

  before(async () => {
    ensureNextBuild();
    tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-nettab-'));
    cpNs = createNetns('cp');
    agentNs = createNetns('nethost');
    joinByVeth(cpNs, agentNs, '10.213.0');
    cp = await startControlPlaneIn(cpNs);
    tunnel = await tunnelFrom(cpNs, cp.port, tmp);
    await trpc(cp.url).auth.setup.mutate(ADMIN);
    await addUser(cp, OPERATOR.email, OPERATOR.password, 'operator');
    await addUser(cp, VIEWER.email, VIEWER.password, 'viewer');
    owner = trpc(cp.url, await signIn(cp.url, ADMIN.email, ADMIN.password));
    const { token } = await owner.hosts.createJoinToken.mutate({ name: 'net-host' });
    agent = await startAgentProcess('nettab', { netns: agentNs, flags: ['--server', `http://${LINK.cp}:${cp.port}`, '--token', token] });
    await eventually('the agent to connect', () => /connected to .* as host \S+/.test(agent!.log()), 60_000);
    hostId = /as host (\S+)/.exec(agent.log())![1];
    agent.ok(['import', '-c', 'CMD ["sh"]', '-', 'bb:test'], { input: await busyboxLayer() });
    // Chromium on the control plane's machine: playwright starts this, which is /usr/bin/chromium in that namespace.
    const chromiumThere = path.join(tmp, 'chromium');
    writeFileSync(chromiumThere, `#!/bin/sh\nexec nsenter --net=${cpNs.path} -- /usr/bin/chromium "$@"\n`);
    chmodSync(chromiumThere, 0o755);
    browser = await chromium.launch({ executablePath: chromiumThere, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  });

  after(async () => {
    try {
      for (const c of contexts) await c.close().catch(() => {});
      await browser?.close();
      if (agent) {
        const ids = agent.docker(['ps', '-aq']).stdout.split('\n').filter(Boolean);
        if (ids.length) agent.docker(['rm', '-f', ...ids]);
        agent.docker(['network', 'prune', '-f']);
        const vols = agent.docker(['volume', 'ls', '-q']).stdout.split('\n').filter(Boolean);
        if (vols.length) agent.docker(['volume', 'rm', '-f', ...vols]);
        // Stops it, removes its cgroup parent and its temp dir (root and socket).
        await agent.stop();
      }
      await tunnel?.close();
      await cp?.stop();
    } finally {
      if (cp) removeDir(cp.dataDir);
      agentNs?.remove();
      cpNs?.remove();
      if (tmp) removeDir(tmp);
    }
  });

  test('an operator creates a network, runs a container on it from the form, opens its port link, and removes the network after the container; agent and audit log agree', STEP, async () => {
    const page = await newPage(OPERATOR);
    await page.goto(`${cp.url}/hosts/${hostId}`);
    // The built-in ones are listed, without a Remove.
    for (const builtin of ['bridge', 'host', 'none']) await netRow(page, builtin).getByText('built-in').waitFor();
    assert.equal(await page.getByTestId('network-remove').count(), 0);

    await page.getByLabel('Network name', { exact: true }).fill('frontnet');
    await page.getByLabel('Subnet', { exact: true }).fill('10.77.0.0/24');
    await page.getByLabel('Gateway', { exact: true }).fill('10.77.0.254');
    await page.locator('#network-labels').fill('team=web\ntier');
    await page.getByRole('button', { name: 'Create network' }).click();
    await page.getByTestId('network-created').getByText('Created frontnet (10.77.0.0/24)').waitFor();
    const front = netRow(page, 'frontnet');
    assert.deepEqual(
      [await front.getByTestId('network-driver').textContent(), await front.getByTestId('network-subnet').textContent(), await front.getByTestId('network-gateway').textContent(), await front.getByTestId('network-internal').textContent()],
      ['bridge', '10.77.0.0/24', '10.77.0.254', 'no'],
    );
    await page.getByLabel('Network name', { exact: true }).fill('backnet');
    await page.locator('#network-internal').check();
    await page.getByRole('button', { name: 'Create network' }).click();
    await netRow(page, 'backnet').getByTestId('network-internal').getByText('yes').waitFor();
    const made = JSON.parse(agent!.ok(['network', 'inspect', 'frontnet', 'backnet'])) as Array<{ Id: string; Name: string; Internal: boolean; Labels: Record<string, string>; IPAM: { Config: Array<{ Subnet: string; Gateway: string }> } }>;
    assert.deepEqual(
      made.map((n) => [n.Name, n.Internal, n.Labels, n.Name === 'frontnet' ? n.IPAM.Config : 'any']),
      [
        ['frontnet', false, { team: 'web', tier: '' }, [{ Subnet: '10.77.0.0/24', Gateway: '10.77.0.254' }]],
        ['backnet', true, {}, 'any'],
      ],
    );
    // A subnet that overlaps: the engine's words, nothing made.
    await page.getByLabel('Network name', { exact: true }).fill('clash');
    await page.getByLabel('Subnet', { exact: true }).fill('10.77.0.128/25');
    await page.getByRole('button', { name: 'Create network' }).click();
    await page.getByTestId('network-create-error').getByText('Pool overlaps with other one on this address space').waitFor();
    assert.ok(!networkNames().includes('clash'));

    await front.getByTestId('network-inspect').click();
    const details = page.locator('[data-testid=network-details][data-network-name=frontnet]');
    assert.equal(await details.getByTestId('network-inspect-labels').textContent(), 'team=web, tier');
    assert.equal(await details.getByTestId('network-inspect-id').textContent(), made[0].Id);

    // The run form: mistakes first. Nothing is sent, and each is named at its row.
    const form = page.getByTestId('run-form');
    await form.getByLabel('Image', { exact: true }).fill('bb:test');
    await form.getByLabel('Command', { exact: true }).fill(`sh -c 'echo "$GREETING from $WHO" > /www/index.html && exec httpd -f -p 80 -h /www'`);
    await form.getByLabel('Name', { exact: true }).fill('web');
    await form.getByRole('button', { name: 'Add port' }).click();
    await form.getByLabel('Port 1 host port').fill('70000');
    await form.getByLabel('Port 1 container port').fill('80');
    await form.getByRole('button', { name: 'Add mount' }).click();
    await form.getByLabel('Mount 1 source').fill('site');
    await form.getByLabel('Mount 1 container path').fill('www');
    await form.getByRole('button', { name: 'Add variable' }).click();
    await form.getByLabel('Variable 1 name').fill('1GREETING');
    await form.getByLabel('Variable 1 value').fill('hello');
    await form.getByLabel('Healthcheck command').fill('wget -q -O /dev/null http://127.0.0.1/');
    await form.getByLabel('Interval', { exact: true }).fill('1');
    await form.getByRole('button', { name: 'Run', exact: true }).click();
    const problems = page.getByTestId('run-problem');
    await problems.first().waitFor();
    assert.deepEqual(await problems.allTextContents(), [
      'port 1: host port "70000" must be a number from 1 to 65535 (leave it blank for a free one)',
      'mount 1: container path "www" must be absolute (start with /)',
      'variable 1: "1GREETING" is not a variable name (a letter or _, then letters, digits, _ . or -)',
      'healthcheck: interval "1" is not a duration (such as 30s, 1m30s or 500ms)',
    ]);
    assert.equal(await form.getByLabel('Interval', { exact: true }).getAttribute('aria-invalid'), 'true');
    assert.equal(await form.getByLabel('Port 1 host port').getAttribute('aria-invalid'), 'true');
    assert.equal(await form.getByLabel('Port 1 container port').getAttribute('aria-invalid'), null);
    await shot(page, 'run-refused');
    assert.equal(agent!.ok(['ps', '-aq']).trim(), '', 'nothing was created');

    // Fixed as they are typed; then the rest of what is asked.
    await form.getByLabel('Port 1 host port').fill('8080');
    await form.getByLabel('Mount 1 container path').fill('/www');
    await form.getByLabel('Variable 1 name').fill('GREETING');
    await form.getByRole('button', { name: 'Add variable' }).click();
    await form.getByLabel('Variable 2 name').fill('WHO');
    await form.getByLabel('Variable 2 value').fill('berth web');
    await form.getByLabel('Network', { exact: true }).selectOption('frontnet');
    await form.getByLabel('Restart policy').selectOption('on-failure');
    await form.getByLabel('Max retries').fill('3');
    await form.getByLabel('Interval', { exact: true }).fill('1s');
    await form.getByLabel('Retries', { exact: true }).fill('2');
    assert.equal(await page.getByTestId('run-invalid').count(), 0);
    await form.getByRole('button', { name: 'Run', exact: true }).click();
    await page.getByTestId('run-result').getByText(/^Started/).waitFor();
    await containerRow(page, 'web').getByTestId('container-state').and(page.locator('[data-state=running]')).waitFor();

    // Exactly what the form asked for, as the agent's Docker API shows it.
    const c = inspect('web');
    const imageEnv = (JSON.parse(agent!.ok(['image', 'inspect', 'bb:test']))[0].Config.Env ?? []) as string[];
    // The image sets no Env: the engine gives it Docker's default PATH, and then the form's two.
    assert.deepEqual(imageEnv, []);
    assert.deepEqual(c.Config.Env, ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'GREETING=hello', 'WHO=berth web']);
    assert.deepEqual(c.HostConfig.PortBindings, { '80/tcp': [{ HostIp: '', HostPort: '8080' }] });
    assert.deepEqual(c.NetworkSettings.Ports, { '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '8080' }] });
    assert.equal(c.HostConfig.NetworkMode, 'frontnet');
    assert.deepEqual(Object.keys(c.NetworkSettings.Networks), ['frontnet']);
    assert.match(c.NetworkSettings.Networks.frontnet.IPAddress, /^10\.77\.0\.\d+$/);
    assert.equal(c.NetworkSettings.Networks.frontnet.Gateway, '10.77.0.254');
    assert.deepEqual(c.HostConfig.RestartPolicy, { Name: 'on-failure', MaximumRetryCount: 3 });
    assert.deepEqual(c.Config.Healthcheck, { Test: ['CMD-SHELL', 'wget -q -O /dev/null http://127.0.0.1/'], Interval: 1e9, Retries: 2 });
    // Its probe fetches the page the command serves: healthy, as the agent and the page say.
    await eventually('the container to be healthy', () => inspect('web').State.Health?.Status === 'healthy', 60_000);
    assert.deepEqual(
      c.Mounts.map((m) => ({ Type: m.Type, Name: m.Name, Destination: m.Destination, RW: m.RW })),
      [{ Type: 'volume', Name: 'site', Destination: '/www', RW: true }],
    );

    // The port link: the agent's address as the control plane knows it, and the container's page behind it.
    const link = containerRow(page, 'web').getByTestId('container-port-link');
    assert.equal(await link.textContent(), `${LINK.agent}:8080`);
    assert.equal(await link.getAttribute('href'), `http://${LINK.agent}:8080/`);
    const [opened] = await Promise.all([page.context().waitForEvent('page'), link.click()]);
    await opened.waitForLoadState();
    assert.equal((await opened.locator('body').textContent())?.trim(), 'hello from berth web');
    await opened.close();
    // The page went into the named volume.
    const mountpoint = JSON.parse(agent!.ok(['volume', 'inspect', 'site']))[0].Mountpoint as string;
    assert.equal(readFileSync(path.join(mountpoint, 'index.html'), 'utf8'), 'hello from berth web\n');
    await netRow(page, 'frontnet').getByTestId('network-containers').getByRole('link', { name: 'web' }).waitFor();
    // The details opened before it ran follow too: its name and the address it got.
    await details.getByTestId('network-inspect-containers').getByText(`web (${c.Id.slice(0, 12)}) ${c.NetworkSettings.Networks.frontnet.IPAddress}/24`).waitFor();
    await shot(page, 'running');

    // A network with a running container is not removed: the engine's words.
    await netRow(page, 'frontnet').getByTestId('network-remove').click();
    const dialog = page.getByTestId('network-remove-dialog');
    await dialog.getByText('Remove network frontnet?').waitFor();
    await dialog.getByTestId('network-remove-dialog-confirm').click();
    await page.getByTestId('networks-error').getByText(/network frontnet id \w+ has active endpoints/).waitFor();
    assert.ok(networkNames().includes('frontnet'));

    // The container goes (stopped, then removed, each from its row) and then the network can.
    await containerRow(page, 'web').getByTestId('container-stop').click();
    await containerRow(page, 'web').getByTestId('container-state').and(page.locator('[data-state=exited]')).waitFor();
    await containerRow(page, 'web').getByTestId('container-remove').click();
    await page.getByTestId('remove-dialog').getByTestId('remove-dialog-confirm').click();
    await containerRow(page, 'web').waitFor({ state: 'detached' });
    await netRow(page, 'frontnet').getByTestId('network-containers').getByText('none running').waitFor();
    await netRow(page, 'frontnet').getByTestId('network-remove').click();
    await page.getByTestId('network-remove-dialog').getByTestId('network-remove-dialog-confirm').click();
    await netRow(page, 'frontnet').waitFor({ state: 'detached' });
    assert.ok(!networkNames().includes('frontnet'));

    // Prune: backnet is unused; the built-ins stay.
    await page.getByTestId('networks-prune').click();
    await page.getByTestId('networks-prune-dialog').getByTestId('networks-prune-dialog-confirm').click();
    await page.getByTestId('networks-pruned').getByText('Pruned 1 network: backnet').waitFor();
    assert.deepEqual(networkNames(), ['bridge', 'host', 'none']);
    await eventually('the page to show only the built-ins', async () => (await page.locator('[data-testid=network-row]').count()) === 3, PATIENCE_MS);

    // A crafted remove of a built-in one, as the operator: the engine refuses it, and it is audited.
    const builtin = await page.evaluate(async (h) => {
      const res = await fetch('/api/trpc/networks.remove', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ json: { hostId: h, id: 'bridge' } }) });
      return { status: res.status, body: await res.text() };
    }, hostId);
    assert.equal(builtin.status, 403, builtin.body);
    assert.match(builtin.body, /bridge is a pre-defined network and cannot be removed/);
    // And a crafted run with what the form refuses: the server says the same, nothing runs.
    const crafted = await page.evaluate(async (h) => {
      const options = { ports: [{ hostIp: '', hostPort: '0', containerPort: '80', protocol: 'tcp' }], mounts: [{ source: 'rel/path', target: '/x', readOnly: false }], network: '', env: [], restart: { policy: 'no', maxRetries: '' } };
      const res = await fetch('/api/trpc/containers.run', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ json: { hostId: h, image: 'bb:test', options } }) });
      return { status: res.status, body: await res.text() };
    }, hostId);
    assert.equal(crafted.status, 400, crafted.body);
    assert.match(crafted.body, /port 1: host port \\"0\\" must be a number from 1 to 65535.*; mount 1: \\"rel\/path\\" is neither a volume name/);
    assert.equal(agent!.ok(['ps', '-aq']).trim(), '');

    const lines = await audit(OPERATOR.email);
    for (const want of [
      'networks.create frontnet ok',
      'networks.create backnet ok',
      'networks.create clash error: FORBIDDEN: Pool overlaps',
      'containers.run web ok',
      'networks.remove frontnet error: FORBIDDEN: error while removing network: network frontnet',
      'containers.stop ',
      'containers.remove ',
      'networks.remove frontnet ok',
      'networks.prune unused networks ok',
      'networks.remove bridge error: FORBIDDEN: bridge is a pre-defined network',
      'containers.run bb:test error: BAD_REQUEST: port 1: host port "0"',
    ]) {
      assert.ok(lines.some((l) => l.startsWith(want)), `audited: ${want}\n${lines.join('\n')}`);
    }
    assert.ok((await owner.audit.list.query()).filter((a) => a.action.startsWith('networks.')).every((a) => a.hostName === 'net-host'));
  });

  test('a viewer sees the networks, their details and the port links but no buttons; crafted changes as the viewer are refused and audited', STEP, async () => {
    agent!.ok(['network', 'create', '--label', 'seen=yes', 'seen']);
    agent!.ok(['run', '-d', '--name', 'pub', '--network', 'seen', '-p', '8081:80', 'bb:test', 'sh', '-c', 'mkdir -p /www && echo published > /www/index.html && exec httpd -f -p 80 -h /www']);
    const page = await newPage(VIEWER);
    await page.goto(`${cp.url}/hosts/${hostId}`);
    await netRow(page, 'seen').getByTestId('network-containers').getByRole('link', { name: 'pub' }).waitFor();
    for (const id of ['network-create-form', 'network-remove', 'networks-prune', 'run-form']) assert.equal(await page.getByTestId(id).count(), 0, id);
    await netRow(page, 'seen').getByTestId('network-inspect').click();
    assert.equal(await page.locator('[data-testid=network-details][data-network-name=seen]').getByTestId('network-inspect-labels').textContent(), 'seen=yes');
    const link = containerRow(page, 'pub').getByTestId('container-port-link');
    assert.equal(await link.getAttribute('href'), `http://${LINK.agent}:8081/`);
    const [opened] = await Promise.all([page.context().waitForEvent('page'), link.click()]);
    await opened.waitForLoadState();
    assert.equal((await opened.locator('body').textContent())?.trim(), 'published');
    await opened.close();

    const before = networkNames();
    const call = (proc: string, json: unknown) =>
      page.evaluate(
        async ([p, j]) => {
          const res = await fetch(`/api/trpc/${p}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ json: j }) });
          return { status: res.status, body: await res.text() };
        },
        [proc, json] as const,
      );
    const asked = [
      await call('networks.remove', { hostId, id: 'seen' }),
      await call('networks.create', { hostId, name: 'sneaky' }),
      await call('networks.prune', { hostId }),
      await call('containers.run', { hostId, image: 'bb:test', name: 'sneaky', options: { ports: [], mounts: [], network: 'seen', env: [], restart: { policy: 'always', maxRetries: '' } } }),
    ];
    for (const a of asked) {
      assert.equal(a.status, 403, a.body);
      assert.match(a.body, /FORBIDDEN/);
    }
    assert.deepEqual(networkNames(), before);
    assert.ok(before.includes('seen') && !before.includes('sneaky'));
    assert.deepEqual(agent!.ok(['ps', '-a', '--format', '{{.Names}}']).trim().split('\n'), ['pub']);
    const lines = await audit(VIEWER.email);
    for (const want of ['networks.remove seen error: FORBIDDEN', 'networks.create sneaky error: FORBIDDEN', 'networks.prune unused networks error: FORBIDDEN', 'containers.run sneaky error: FORBIDDEN']) {
      assert.ok(lines.some((l) => l.startsWith(want)), `audited: ${want}\n${lines.join('\n')}`);
    }
    assert.deepEqual(cspProblems, [], 'no CSP violation or page error on any page');
  });
});
