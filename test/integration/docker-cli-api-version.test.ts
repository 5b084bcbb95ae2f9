// The Engine API version with the real docker CLI (v28) against a real agent: it negotiates to
// the agent's current version, the 1.44 fields it then sends work (--mac-address in the endpoint,
// --health-start-interval), a CLI pinned to 1.41 gets its own shapes, and raw requests with an
// old or new prefix get theirs for the fields that changed.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import Docker from 'dockerode';
import { startAgentProcess, type AgentProcess } from '../fixtures/agent-process';
import { busyboxLayer } from '../fixtures/netns';
import { eventually } from '../fixtures/wait';

const isRoot = process.getuid?.() === 0;

let agent: AgentProcess;
const image = 'apiver/busybox:test';

const ok = (args: string[]) => agent.ok(args);

/** The CLI pinned to an API version, as DOCKER_API_VERSION pins it. */
function dockerAt(version: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync('timeout', ['-k', '5', '60', 'docker', '-H', `unix://${agent.sock}`, ...args], {
    encoding: 'utf8',
    env: { ...process.env, DOCKER_API_VERSION: version, DOCKER_CONFIG: path.join(agent.tmp, 'docker-config'), DOCKER_CLI_HINTS: 'false' },
  });
}

function api(method: string, p: string, body?: unknown): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: agent.sock, path: p, method, headers: { 'Content-Type': 'application/json' } }, (res) => {
      let b = '';
      res.on('data', (d) => (b += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}
async function apiJson<T>(method: string, p: string, body?: unknown): Promise<T> {
  const r = await api(method, p, body);
  assert.ok(r.status >= 200 && r.status < 300, `${method} ${p}: ${r.status} ${r.body}`);
  return JSON.parse(r.body) as T;
}

interface Endpoint {
  Aliases: string[] | null;
  DNSNames?: string[] | null;
  GwPriority?: number;
  MacAddress: string;
}

describe('docker CLI: API version negotiation and version-dependent shapes', { skip: !isRoot && 'needs root', timeout: 300_000 }, () => {
  before(async () => {
    // A network namespace of its own: there the agent makes its bridge and user networks.
    agent = await startAgentProcess('apiver', { netns: true });
    agent.ok(['import', '-c', 'CMD ["sh"]', '-', image], { input: await busyboxLayer() });
  });

  after(async () => {
    if (agent) {
      const ids = agent.docker(['ps', '-aq']).stdout.split('\n').filter(Boolean);
      if (ids.length) agent.docker(['rm', '-f', ...ids]);
      agent.docker(['network', 'rm', 'apinet']);
      await agent.stop();
    }
  });

  it('docker version: the CLI negotiates to the agent\'s 1.50; a CLI pinned to 1.41 is served at 1.41', () => {
    assert.equal(ok(['version', '--format', '{{.Server.APIVersion}} {{.Server.MinAPIVersion}} {{.Client.APIVersion}}']).trim(), '1.50 1.24 1.50');
    assert.match(ok(['version']), /API version:\s+1\.50 \(minimum version 1\.24\)/);
    const pinned = dockerAt('1.41', ['version', '--format', '{{.Client.APIVersion}} {{.Server.APIVersion}}']);
    assert.equal(pinned.status, 0, pinned.stderr);
    assert.equal(pinned.stdout.trim(), '1.41 1.50');
    const tooNew = dockerAt('1.51', ['ps']);
    assert.notEqual(tooNew.status, 0);
    assert.match(tooNew.stderr, /client version 1\.51 is too new\. Maximum supported API version is 1\.50/);
  });

  it('--mac-address: the CLI sends it in the endpoint (1.44), a 1.41 client in Config; the container gets that address either way', async () => {
    const mac = '02:42:ac:11:00:7a';
    const out = ok(['run', '--rm', '--mac-address', mac, image, 'cat', '/sys/class/net/eth0/address']).trim();
    assert.equal(out, mac);
    // This CLI will not send --mac-address below 1.44 at all; a 1.41 client's Config.MacAddress by hand.
    const pinned = dockerAt('1.41', ['run', '--rm', '--mac-address', mac, image, 'true']);
    assert.match(pinned.stderr, /requires API version 1\.44/);
    const old = await apiJson<{ Id: string }>('POST', '/v1.41/containers/create', { Image: image, Cmd: ['cat', '/sys/class/net/eth0/address'], MacAddress: '02:42:ac:11:00:7b' });
    assert.equal(ok(['start', '-a', old.Id]).trim(), '02:42:ac:11:00:7b');
    ok(['rm', old.Id]);
    // Inspect shows it both ways: Config.MacAddress (kept until 1.52) as asked, and the endpoint's once it runs.
    ok(['create', '--name', 'macbox', '--mac-address', mac, image, 'sleep', '60']);
    assert.equal(ok(['inspect', '--format', '{{.Config.MacAddress}}', 'macbox']).trim(), mac);
    ok(['start', 'macbox']);
    assert.equal(ok(['inspect', '--format', '{{.NetworkSettings.Networks.bridge.MacAddress}}', 'macbox']).trim(), mac);
    ok(['rm', '-f', 'macbox']);
  });

  it('--health-start-interval: probes every StartInterval during the start period, so a slow Interval does not delay healthy', async () => {
    ok(['run', '-d', '--name', 'starting', '--health-cmd', 'test -e /tmp/ready', '--health-interval', '1h', '--health-start-period', '1h', '--health-start-interval', '200ms', image, 'sh', '-c', 'sleep 1; touch /tmp/ready; sleep 600']);
    assert.equal(ok(['inspect', '--format', '{{.Config.Healthcheck.StartInterval}}', 'starting']).trim(), '200ms');
    await eventually('the container to be healthy within its start period', () => ok(['inspect', '--format', '{{.State.Health.Status}}', 'starting']).trim() === 'healthy', 20_000, 100);
    assert.match(ok(['ps', '--filter', 'name=starting', '--format', '{{.Status}}']), /\(healthy\)/);
    ok(['rm', '-f', 'starting']);
    // A 1.43 client's StartInterval is ignored, as dockerd ignores it: the CLI itself refuses the flag there.
    const old = dockerAt('1.43', ['create', '--health-cmd', 'true', '--health-start-interval', '1s', image]);
    assert.notEqual(old.status, 0);
    assert.match(old.stderr, /health-start-interval/);
    const created = await apiJson<{ Id: string }>('POST', '/v1.43/containers/create', { Image: image, Healthcheck: { Test: ['CMD', 'true'], StartInterval: 1e9 } });
    const shown = await apiJson<{ Config: { Healthcheck: Record<string, unknown> } }>('GET', `/containers/${created.Id}/json`);
    assert.deepEqual(shown.Config.Healthcheck, { Test: ['CMD', 'true'] });
    ok(['rm', created.Id]);
  });

  it('a user network: Aliases with the short id before 1.45, as asked from 1.45; DNSNames from 1.44; GwPriority from 1.48', async () => {
    ok(['network', 'create', 'apinet']);
    // EnableIPv4 (1.48): shown from 1.48; an IPv6-only network is refused by name.
    assert.equal(ok(['network', 'inspect', '--format', '{{.EnableIPv4}}', 'apinet']).trim(), 'true');
    assert.equal('EnableIPv4' in (await apiJson<Record<string, unknown>>('GET', '/v1.47/networks/apinet')), false);
    const v6only = agent.docker(['network', 'create', '--ipv4=false', '--ipv6', 'v6only']);
    assert.notEqual(v6only.status, 0);
    assert.match(v6only.stderr, /Berth does not support --ipv4=false yet/);
    const id = ok(['run', '-d', '--name', 'aliased', '--hostname', 'hosty', '--network', 'apinet', '--network-alias', 'web', image, 'sleep', '600']).trim();
    const short = id.slice(0, 12);
    const ep = async (version: string) => (await apiJson<{ NetworkSettings: { Networks: Record<string, Endpoint> } }>('GET', `/v${version}/containers/aliased/json`)).NetworkSettings.Networks.apinet;
    const v141 = await ep('1.41');
    assert.deepEqual(v141.Aliases, ['web', short]);
    assert.equal('DNSNames' in v141, false);
    assert.equal('GwPriority' in v141, false);
    const v144 = await ep('1.44');
    assert.deepEqual(v144.Aliases, ['web', short]);
    assert.deepEqual(v144.DNSNames, ['aliased', 'web', short]);
    const v150 = await ep('1.50');
    assert.deepEqual(v150.Aliases, ['web']);
    assert.deepEqual(v150.DNSNames, ['aliased', 'web', short]);
    assert.equal(v150.GwPriority, 0);
    // Each of them is a name the embedded resolver answers with the container's address.
    const ip = ok(['inspect', '--format', '{{.NetworkSettings.Networks.apinet.IPAddress}}', 'aliased']).trim();
    assert.match(ip, /^\d+\.\d+\.\d+\.\d+$/);
    for (const n of v150.DNSNames ?? []) assert.match(ok(['run', '--rm', '--network', 'apinet', image, 'nslookup', n]), new RegExp(`Address: ${ip.replace(/\./g, '\\.')}\\b`), n);
    // The CLI at its negotiated version sees the 1.50 shape.
    assert.equal(ok(['inspect', '--format', '{{json .NetworkSettings.Networks.apinet.Aliases}}', 'aliased']).trim(), '["web"]');
    // Two networks at create: from 1.44 both are joined; an older client is refused in dockerd's words.
    const two = { Image: image, Cmd: ['sleep', '600'], HostConfig: { NetworkMode: 'apinet' }, NetworkingConfig: { EndpointsConfig: { apinet: {}, bridge: {} } } };
    const refused = await api('POST', '/v1.43/containers/create', two);
    assert.equal(refused.status, 400);
    assert.match(refused.body, /Container cannot be created with multiple network endpoints: apinet, bridge/);
    const both = await apiJson<{ Id: string }>('POST', '/v1.44/containers/create?name=both', two);
    ok(['start', both.Id]);
    assert.deepEqual(ok(['inspect', '--format', '{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}', 'both']).trim().split(' ').sort(), ['apinet', 'bridge']);
    ok(['rm', '-f', 'aliased', 'both']);
  });

  it('images: VirtualSize before 1.44 only, Containers not counted (-1), SharedSize when shared-size asks; inspect drops fields per version', async () => {
    type Summary = { RepoTags: string[]; VirtualSize?: number; Size: number; SharedSize: number; Containers: number };
    const v141 = await apiJson<Summary[]>('GET', '/v1.41/images/json');
    const mine = (list: Summary[]) => list.find((i) => i.RepoTags.includes(image))!;
    assert.equal(mine(v141).VirtualSize, mine(v141).Size);
    const v150 = await apiJson<Summary[]>('GET', '/v1.50/images/json?shared-size=1');
    assert.equal('VirtualSize' in mine(v150), false);
    assert.equal(mine(v150).Containers, -1);
    assert.ok(mine(v150).SharedSize >= 0, `SharedSize ${mine(v150).SharedSize}`);
    assert.equal(mine(await apiJson<Summary[]>('GET', '/v1.50/images/json')).SharedSize, -1);
    // shared-size came with 1.42: an older client's is not computed.
    assert.equal(mine(await apiJson<Summary[]>('GET', '/v1.41/images/json?shared-size=1')).SharedSize, -1);
    const oldInspect = await apiJson<Record<string, unknown>>('GET', `/v1.41/images/${encodeURIComponent(image)}/json`);
    const newInspect = await apiJson<Record<string, unknown>>('GET', `/v1.50/images/${encodeURIComponent(image)}/json`);
    assert.deepEqual(['VirtualSize' in oldInspect, 'ContainerConfig' in oldInspect, 'Hostname' in (oldInspect.Config as object)], [true, true, true]);
    // ContainerConfig stays (empty) for docker-compose 1.29, which reads it whatever the version (README).
    assert.deepEqual(['VirtualSize' in newInspect, newInspect.ContainerConfig, 'Hostname' in (newInspect.Config as object)], [false, {}, false]);
    // `docker images` at 1.50 and at 1.41 both still list it.
    assert.match(ok(['images', '--format', '{{.Repository}}:{{.Tag}}']), new RegExp(image.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    const pinned = dockerAt('1.41', ['images', '--format', '{{.Repository}}:{{.Tag}}']);
    assert.equal(pinned.status, 0, pinned.stderr);
    assert.ok(pinned.stdout.includes(image));
  });

  it('ps -s and inspect -s: the writable layer\'s size, and with the image\'s', () => {
    ok(['run', '-d', '--name', 'sized', image, 'sh', '-c', 'head -c 100000 /dev/zero > /big; sleep 600']);
    const size = () => ok(['ps', '-s', '--filter', 'name=sized', '--format', '{{.Size}}']).trim();
    // "100kB (virtual 4.5MB)": the file written, and the image under it.
    assert.match(size(), /^\d+(\.\d+)?kB \(virtual \d+(\.\d+)?MB\)$/);
    const [rw, rootFs] = ok(['inspect', '-s', '--format', '{{.SizeRw}} {{.SizeRootFs}}', 'sized']).trim().split(' ').map(Number);
    assert.ok(rw >= 100000 && rootFs > rw, `SizeRw ${rw}, SizeRootFs ${rootFs}`);
    ok(['rm', '-f', 'sized']);
  });

  it('python3-docker pinned to 1.44 and negotiating (its default, to 1.50), dockerode unversioned and pinned to 1.44', async () => {
    const script = String.raw`
import docker, json, os
sock = 'unix://' + os.environ['SOCK']
pinned = docker.DockerClient(base_url=sock, version='1.44')
auto = docker.DockerClient(base_url=sock)
out = {'pinned': pinned.api.api_version, 'auto': auto.api.api_version, 'server': pinned.version()['ApiVersion']}
# docker-py sends mac_address as the container-wide Config.MacAddress: deprecated at 1.44, still honoured.
ctr = pinned.containers.run(os.environ['IMG'], ['cat', '/sys/class/net/eth0/address'], mac_address='02:42:ac:11:00:5a', detach=True)
out['exit'] = ctr.wait()['StatusCode']
out['mac'] = ctr.logs().decode().strip()
ctr.remove()
print(json.dumps(out))
`;
    const r = spawnSync('/usr/bin/python3', ['-c', script], { encoding: 'utf8', env: { ...process.env, SOCK: agent.sock, IMG: image }, timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { pinned: '1.44', auto: '1.50', server: '1.50', exit: 0, mac: '02:42:ac:11:00:5a' });

    assert.equal((await new Docker({ socketPath: agent.sock }).version()).ApiVersion, '1.50');
    const at144 = new Docker({ socketPath: agent.sock, version: 'v1.44' });
    const ctr = await at144.createContainer({
      Image: image,
      Cmd: ['cat', '/sys/class/net/eth0/address'],
      Healthcheck: { Test: ['CMD', 'true'], StartInterval: 300e6 },
      NetworkingConfig: { EndpointsConfig: { bridge: { MacAddress: '02:42:ac:11:00:5b' } } },
    });
    await ctr.start();
    assert.equal((await ctr.wait()).StatusCode, 0);
    assert.equal((await ctr.logs({ stdout: true })).toString('utf8').replace(/^[\s\S]{8}/, '').trim(), '02:42:ac:11:00:5b');
    assert.equal((await ctr.inspect()).Config.Healthcheck?.StartInterval, 300e6);
    await ctr.remove();
  });

  it('logs: a multiplexed stream says so from 1.42, raw-stream before, as dockerd labels them', async () => {
    const id = ok(['run', '-d', image, 'echo', 'hi']).trim();
    await eventually('the container to exit', () => ok(['inspect', '--format', '{{.State.Status}}', id]).trim() === 'exited', 20_000, 100);
    const contentType = (version: string) =>
      new Promise<string | undefined>((resolve, reject) => {
        const req = http.request({ socketPath: agent.sock, path: `/v${version}/containers/${id}/logs?stdout=1` }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.headers['content-type']));
        });
        req.on('error', reject);
        req.end();
      });
    assert.equal(await contentType('1.41'), 'application/vnd.docker.raw-stream');
    assert.equal(await contentType('1.42'), 'application/vnd.docker.multiplexed-stream');
    assert.equal(ok(['logs', id]).trim(), 'hi');
    ok(['rm', id]);
  });

  it('wait: before 1.30 the condition is not read; from 1.30 an unknown one is a 400', async () => {
    const id = ok(['create', image, 'true']).trim();
    assert.equal((await api('POST', `/v1.30/containers/${id}/wait?condition=bogus`)).status, 400);
    ok(['start', id]);
    const legacy = await api('POST', `/v1.29/containers/${id}/wait?condition=bogus`);
    assert.equal(legacy.status, 200);
    assert.deepEqual(JSON.parse(legacy.body), { StatusCode: 0 });
    ok(['rm', id]);
  });
});
