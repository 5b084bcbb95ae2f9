// API version negotiation over the real socket, and shapes that depend on the version a request
// speaks. The engine is a stand-in that answers info(): what is under test is the API layer.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { streamContentType } from '../../agent/dockerapi/api-version';
import { createSpec } from '../../agent/dockerapi/containers';
import { HttpError } from '../../agent/dockerapi/http';
import { imageSummary } from '../../agent/dockerapi/images';
import { startDockerApi, type DockerApiServer } from '../../agent/dockerapi/server';
import type { Engine, HostInfo, ImageRecord } from '../../agent/engine/types';

const hostInfo: HostInfo = {
  hostname: 'h',
  kernel: '6.1.0',
  os: 'Debian',
  arch: 'x64',
  cpus: 2,
  memTotal: 1 << 30,
  engineVersion: '0.1.0',
  apiVersion: '1.50',
  cgroupVersion: 2,
  root: '/var/lib/berth',
  containers: { total: 0, running: 0, paused: 0, stopped: 0 },
  images: 0,
} as HostInfo;

let tmp = '';
let api: DockerApiServer;

function get(p: string, method = 'GET'): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: api.socketPath, path: p, method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}
const json = async (p: string) => {
  const r = await get(p);
  assert.equal(r.status, 200, `${p}: ${r.body}`);
  return JSON.parse(r.body) as Record<string, unknown>;
};

describe('API version negotiation', () => {
  before(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-apiver-'));
    const engine = { info: async () => hostInfo };
    api = await startDockerApi({ engine: engine as unknown as Engine, socketPath: path.join(tmp, 'api.sock') });
  });
  after(async () => {
    await api.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('/_ping and /version say 1.50 is current and 1.24 the minimum', async () => {
    for (const method of ['GET', 'HEAD']) {
      const ping = await get('/_ping', method);
      assert.equal(ping.status, 200);
      assert.equal(ping.headers['api-version'], '1.50');
      assert.equal(ping.headers['ostype'], 'linux');
      assert.equal(ping.headers['swarm'], 'inactive');
      assert.equal(ping.body, method === 'HEAD' ? '' : 'OK');
    }
    const v = await json('/version');
    assert.equal(v.ApiVersion, '1.50');
    assert.equal(v.MinAPIVersion, '1.24');
    const details = (v.Components as Array<{ Details: Record<string, string> }>)[0].Details;
    assert.equal(details.ApiVersion, '1.50');
    assert.equal(details.MinAPIVersion, '1.24');
  });

  it('a prefix from 1.24 to 1.50 is served; above or below is a 400 in dockerd\'s words', async () => {
    for (const v of ['1.24', '1.41', '1.44', '1.50']) assert.equal((await get(`/v${v}/version`)).status, 200, v);
    const tooNew = await get('/v1.51/version');
    assert.equal(tooNew.status, 400);
    assert.deepEqual(JSON.parse(tooNew.body), { message: 'client version 1.51 is too new. Maximum supported API version is 1.50' });
    assert.equal(tooNew.headers['api-version'], '1.50', 'the refusal still says what is current, so a client can negotiate');
    const tooOld = await get('/v1.23/_ping');
    assert.equal(tooOld.status, 400);
    assert.deepEqual(JSON.parse(tooOld.body), { message: 'client version 1.23 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version' });
    assert.equal((await get('/v2.0/info')).status, 400);
  });

  it('/info has the shape of the version asked for; no prefix is the current one', async () => {
    const old = await json('/v1.41/info');
    const cur = await json('/info');
    assert.deepEqual(await json('/v1.50/info').then((i) => Object.keys(i)), Object.keys(cur));
    assert.equal(old.BridgeNfIptables, false);
    assert.equal('BridgeNfIptables' in cur, false);
    assert.deepEqual(old.ContainerdCommit, { ID: '', Expected: '' });
    assert.deepEqual(cur.ContainerdCommit, { ID: '' });
    assert.equal((old.RegistryConfig as Record<string, unknown>).AllowNondistributableArtifactsCIDRs, null);
    assert.equal('AllowNondistributableArtifactsCIDRs' in (cur.RegistryConfig as object), false);
    assert.equal('CDISpecDirs' in old, false);
    assert.deepEqual(cur.CDISpecDirs, []);
    assert.equal((await json('/v1.48/info')).BridgeNfIptables, false);
  });
});

describe('shapes that depend on the request\'s version', () => {
  it('create: the container-wide MacAddress before 1.44, the endpoint\'s own from 1.44', () => {
    const mac = '02:42:ac:11:00:42';
    const nets = (body: Record<string, unknown>, version: string, warnings: string[] = []) => createSpec({ Image: 'x', ...body }, undefined, warnings, version).network?.networks;
    // What the docker CLI sends for `--mac-address` to each: 1.41 in Config, 1.44+ in the endpoint (named "default" without --network).
    assert.deepEqual(nets({ MacAddress: mac }, '1.41'), [{ network: 'bridge', macAddress: mac }]);
    assert.deepEqual(nets({ NetworkingConfig: { EndpointsConfig: { default: { MacAddress: mac } } } }, '1.44'), [{ network: 'bridge', macAddress: mac }]);
    // An old client's endpoint MacAddress was never read by dockerd: dropped, as it drops it.
    assert.equal(nets({ NetworkingConfig: { EndpointsConfig: { default: { MacAddress: mac } } } }, '1.43'), undefined);
    // The deprecated field from a new client still works, with dockerd's warning, and must agree with the endpoint's.
    const warnings: string[] = [];
    assert.deepEqual(nets({ MacAddress: mac, HostConfig: { NetworkMode: 'n' } }, '1.50', warnings), [{ network: 'n', macAddress: mac }]);
    assert.deepEqual(warnings, ['The container-wide MacAddress field is now deprecated. It should be specified in EndpointsConfig instead.']);
    assert.throws(
      () => nets({ MacAddress: mac, HostConfig: { NetworkMode: 'n' }, NetworkingConfig: { EndpointsConfig: { n: { MacAddress: '02:42:ac:11:00:43' } } } }, '1.50'),
      (e: unknown) => e instanceof HttpError && e.status === 400 && /must match the endpoint-specific MAC address/.test(e.message),
    );
  });

  it('create: Healthcheck.StartInterval is taken from 1.44 and ignored before, as dockerd does', () => {
    const health = (version: string) => createSpec({ Image: 'x', Healthcheck: { Test: ['CMD', 'true'], StartInterval: 5e8 } }, undefined, [], version).health;
    assert.equal(health('1.44')?.startIntervalNs, 5e8);
    assert.equal(health('1.43')?.startIntervalNs, undefined);
  });

  it('create: Annotations (1.43) and GwPriority (1.48) are refused by name from clients that know them, ignored from older ones', () => {
    const body = { Image: 'x', HostConfig: { Annotations: { a: 'b' }, NetworkMode: 'n' }, NetworkingConfig: { EndpointsConfig: { n: { GwPriority: 5 } } } };
    assert.equal(createSpec(body, undefined, [], '1.42').image, 'x');
    assert.throws(() => createSpec(body, undefined, [], '1.43'), /Berth does not support --annotation yet/);
    assert.throws(() => createSpec({ ...body, HostConfig: { NetworkMode: 'n' } }, undefined, [], '1.48'), /Berth does not support --network gw-priority yet/);
    assert.equal(createSpec({ ...body, HostConfig: { NetworkMode: 'n' } }, undefined, [], '1.47').image, 'x');
  });

  it('create: an old client\'s defaults are its own, its IpcMode "shareable" before 1.40', () => {
    assert.equal(createSpec({ Image: 'x' }, undefined, [], '1.39').namespaces?.ipc, 'shareable');
    assert.equal(createSpec({ Image: 'x', HostConfig: { IpcMode: 'private' } }, undefined, [], '1.39').namespaces?.ipc, 'private');
    assert.equal(createSpec({ Image: 'x' }, undefined, [], '1.40').namespaces?.ipc, undefined);
  });

  it('streams: multiplexed-stream without a TTY from 1.42, raw-stream before and with one', () => {
    assert.equal(streamContentType(false, '1.41'), 'application/vnd.docker.raw-stream');
    assert.equal(streamContentType(false, '1.42'), 'application/vnd.docker.multiplexed-stream');
    assert.equal(streamContentType(true, '1.50'), 'application/vnd.docker.raw-stream');
  });

  it('image list: "<none>" placeholders before 1.43, VirtualSize before 1.44', () => {
    const img = { id: 'sha256:' + 'a'.repeat(64), repoTags: [], repoDigests: [], created: '2024-01-01T00:00:00Z', size: 42, config: {} } as unknown as ImageRecord;
    const v141 = imageSummary(img, -1, '1.41');
    assert.deepEqual([v141.RepoTags, v141.RepoDigests, v141.VirtualSize], [['<none>:<none>'], ['<none>@<none>'], 42]);
    const v150 = imageSummary(img, -1, '1.50');
    assert.deepEqual([v150.RepoTags, v150.RepoDigests, 'VirtualSize' in v150], [[], [], false]);
    assert.equal(imageSummary(img, -1, '1.43').VirtualSize, 42);
  });
});
