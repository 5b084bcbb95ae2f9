// Every field of Docker's container create body is either implemented by Berth or refused
// when set: this walks Docker's own OpenAPI description so a field cannot be forgotten.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { CONFIG_FIELDS, HEALTHCHECK_FIELDS, HOST_CONFIG_FIELDS, isUnset, UPDATE_FIELDS } from '../../agent/dockerapi/create-fields';
import { updateOptions } from '../../agent/dockerapi/container-ops';
import { createSpec } from '../../agent/dockerapi/containers';
import { HttpError } from '../../agent/dockerapi/http';
import { BIND_OPTION_FIELDS, DRIVER_CONFIG_FIELDS, MOUNT_FIELDS, TMPFS_OPTION_FIELDS, VOLUME_OPTION_FIELDS } from '../../agent/dockerapi/create-storage';

const here = path.dirname(fileURLToPath(import.meta.url));
const apiFile = path.resolve(here, '../../../shared/reference/docker-engine-api-v1.41.yaml');

interface Schema {
  $ref?: string;
  allOf?: Schema[];
  properties?: Record<string, Schema>;
  type?: string;
}
const api = parse(readFileSync(apiFile, 'utf8')) as { definitions: Record<string, Schema>; paths: Record<string, Record<string, { parameters: Array<{ in: string; schema: Schema }> }>> };

function properties(s: Schema): Record<string, Schema> {
  if (s.$ref) return properties(api.definitions[s.$ref.split('/').pop()!]);
  const out: Record<string, Schema> = { ...(s.properties ?? {}) };
  for (const part of s.allOf ?? []) Object.assign(out, properties(part));
  return out;
}

const createBody = api.paths['/containers/create'].post.parameters.find((p) => p.in === 'body')!.schema;
const bodyFields = properties(createBody);
const hostConfigFields = properties(api.definitions.HostConfig);
const updateFields = properties(api.paths['/containers/{id}/update'].post.parameters.find((p) => p.in === 'body')!.schema);
const healthFields = properties(api.definitions.HealthConfig);

/** A value a user might set for a field of this schema, never the default. */
function sample(name: string, s: Schema): unknown {
  const t = s.$ref ? 'object' : s.type;
  if (t === 'boolean') return true;
  if (t === 'integer' || t === 'number') return 7;
  if (t === 'array') return ['x'];
  if (t === 'object') return { x: 'y' };
  return `value-of-${name}`;
}

const refusedWith = (body: unknown, flag: string) => {
  try {
    createSpec(body, undefined);
  } catch (e) {
    assert.ok(e instanceof HttpError && e.status === 400, `${flag}: a 400, got ${String(e)}`);
    assert.equal(e.message, `Berth does not support ${flag} yet`);
    return;
  }
  assert.fail(`${flag} was accepted`);
};

describe('the create body, field by field', () => {
  it('Docker\'s API description has every field in one of the tables', () => {
    assert.ok(Object.keys(bodyFields).length > 20 && Object.keys(hostConfigFields).length > 60, 'the schema was read');
    for (const f of Object.keys(bodyFields)) assert.ok(CONFIG_FIELDS[f], `Config.${f} is neither implemented nor refused`);
    for (const f of Object.keys(hostConfigFields)) assert.ok(HOST_CONFIG_FIELDS[f], `HostConfig.${f} is neither implemented nor refused`);
  });

  it('the fields the create body gained from API 1.42 to 1.50 are in the tables too', () => {
    // Written down from Docker's API version history (1.42–1.50); the description above is 1.41's.
    const added = {
      HostConfig: ['Annotations'], // 1.43
      Healthcheck: ['StartInterval'], // 1.44
      Mount: ['ImageOptions'], // 1.48
      BindOptions: ['CreateMountpoint', 'ReadOnlyNonRecursive', 'ReadOnlyForceRecursive'], // 1.42, 1.44
      VolumeOptions: ['Subpath'], // 1.45
      TmpfsOptions: ['Options'], // 1.46
    };
    for (const f of added.HostConfig) assert.ok(HOST_CONFIG_FIELDS[f], `HostConfig.${f}`);
    for (const f of added.Healthcheck) assert.ok(HEALTHCHECK_FIELDS[f], `Healthcheck.${f}`);
    for (const f of added.Mount) assert.ok(MOUNT_FIELDS[f], `Mount.${f}`);
    for (const f of added.BindOptions) assert.ok(BIND_OPTION_FIELDS[f], `Mount.BindOptions.${f}`);
    for (const f of added.VolumeOptions) assert.ok(VOLUME_OPTION_FIELDS[f], `Mount.VolumeOptions.${f}`);
    for (const f of added.TmpfsOptions) assert.ok(TMPFS_OPTION_FIELDS[f], `Mount.TmpfsOptions.${f}`);
    refusedWith({ Image: 'x', HostConfig: { Annotations: { a: 'b' } } }, '--annotation');
    // EndpointSettings: MacAddress (1.44) is taken; GwPriority (1.48) refused when set; DNSNames (1.44) is output only.
    const ep = (settings: Record<string, unknown>) => ({ Image: 'x', HostConfig: { NetworkMode: 'n' }, NetworkingConfig: { EndpointsConfig: { n: settings } } });
    assert.deepEqual(createSpec(ep({ MacAddress: '02:42:ac:11:00:98', DNSNames: ['a'] }), undefined).network?.networks, [{ network: 'n', macAddress: '02:42:ac:11:00:98' }]);
    refusedWith(ep({ GwPriority: 10 }), '--network gw-priority');
  });

  it('a refused field set to anything but its default is a 400 naming the option', () => {
    for (const [f, rule] of Object.entries(CONFIG_FIELDS)) {
      if (rule.kind !== 'refused') continue;
      refusedWith({ Image: 'x', [f]: sample(f, bodyFields[f] ?? {}) }, rule.flag);
    }
    for (const [f, rule] of Object.entries(HOST_CONFIG_FIELDS)) {
      if (rule.kind !== 'refused') continue;
      refusedWith({ Image: 'x', HostConfig: { [f]: sample(f, hostConfigFields[f] ?? {}) } }, rule.flag);
    }
  });

  it('docker update: every field of its body is updatable or refused when set, naming the option', () => {
    assert.ok(Object.keys(updateFields).length > 20, 'the update schema was read');
    for (const f of Object.keys(healthFields)) assert.ok(HEALTHCHECK_FIELDS[f], `Healthcheck.${f} is not in the table`);
    for (const [f, schema] of Object.entries(updateFields)) {
      const rule = UPDATE_FIELDS[f];
      if (rule?.kind === 'implemented' || rule?.kind === 'inert') continue;
      const words = rule?.kind === 'refused' ? rule.flag : f;
      assert.throws(
        () => updateOptions({ [f]: sample(f, schema) }),
        (e: unknown) => e instanceof HttpError && e.status === 400 && e.message === `Berth does not support ${words} yet`,
        `${f} was accepted by update`,
      );
    }
    // Everything at its default, as the CLI sends it, is no change at all.
    const defaults = Object.fromEntries(Object.keys(updateFields).map((f) => [f, null]));
    assert.deepEqual(updateOptions({ ...defaults, MemorySwappiness: -1, RestartPolicy: { Name: '', MaximumRetryCount: 0 } }).restart, undefined);
  });

  it('every field of Docker\'s Mount (HostConfig.Mounts) is in a table, and a later one is refused naming its --mount option', () => {
    const mount = properties(api.definitions.Mount);
    assert.ok(Object.keys(mount).length >= 8, 'the Mount schema was read');
    for (const f of Object.keys(mount)) assert.ok(MOUNT_FIELDS[f], `Mount.${f} is not in the table`);
    const sub = (f: string) => properties(mount[f]);
    for (const f of Object.keys(sub('BindOptions'))) assert.ok(BIND_OPTION_FIELDS[f], `Mount.BindOptions.${f}`);
    for (const f of Object.keys(sub('VolumeOptions'))) assert.ok(VOLUME_OPTION_FIELDS[f], `Mount.VolumeOptions.${f}`);
    for (const f of Object.keys(properties(sub('VolumeOptions').DriverConfig))) assert.ok(DRIVER_CONFIG_FIELDS[f], `Mount.VolumeOptions.DriverConfig.${f}`);
    for (const f of Object.keys(sub('TmpfsOptions'))) assert.ok(TMPFS_OPTION_FIELDS[f], `Mount.TmpfsOptions.${f}`);
    const body = (m: Record<string, unknown>) => ({ Image: 'x', HostConfig: { Mounts: [{ Type: 'volume', Source: 'v', Target: '/v', ...m }] } });
    refusedWith(body({ VolumeOptions: { Subpath: 'sub' } }), '--mount volume-subpath');
    refusedWith(body({ Type: 'bind', Source: '/tmp', BindOptions: { CreateMountpoint: true } }), '--mount bind-create-src');
    refusedWith(body({ Type: 'bind', Source: '/tmp', BindOptions: { ReadOnlyForceRecursive: true } }), '--mount bind-recursive=readonly');
    refusedWith(body({ ImageOptions: { Subpath: 'x' } }), '--mount type=image');
    refusedWith(body({ Frobnicate: 1 }), 'HostConfig.Mounts.0.Frobnicate');
    // Unset, as a newer CLI sends them: no error.
    assert.equal(createSpec(body({ VolumeOptions: { Subpath: '', NoCopy: false } }), undefined).storage?.mounts?.[0].type, 'volume');
  });

  it('a field that no table knows is refused by its name when set, and ignored when unset', () => {
    refusedWith({ Image: 'x', HostConfig: { Frobnicate: { a: 'b' } } }, 'HostConfig.Frobnicate');
    refusedWith({ Image: 'x', Frobnicate: 1 }, 'Frobnicate');
    assert.equal(createSpec({ Image: 'x', HostConfig: { Frobnicate: null }, Frobnicate: '' }, undefined).image, 'x');
  });

  it('every field at its default is accepted, as the docker CLI sends them all', () => {
    const defaults = (fields: Record<string, Schema>) => Object.fromEntries(Object.keys(fields).map((f) => [f, null]));
    const body = { ...defaults(bodyFields), Image: 'x', HostConfig: { ...defaults(hostConfigFields), NetworkMode: 'default', MemorySwappiness: -1, RestartPolicy: { Name: 'no', MaximumRetryCount: 0 }, LogConfig: { Type: '', Config: {} } } };
    assert.equal(createSpec(body, undefined).image, 'x');
    assert.equal(createSpec({ ...body, HostConfig: { ...body.HostConfig, RestartPolicy: { Name: '', MaximumRetryCount: 0 } } }, undefined).restart?.policy, undefined);
  });

  it('networks: NetworkMode and one endpoint map into the spec (their existence is the engine\'s 404), links on a user network too; links on the default bridge, driver options and a second network are refused', () => {
    const spec = (body: Record<string, unknown>, warnings?: string[]) => createSpec({ Image: 'x', ...body }, undefined, warnings).network;
    assert.deepEqual(spec({ HostConfig: { NetworkMode: 'mynet' }, NetworkingConfig: { EndpointsConfig: { mynet: { Aliases: ['web'], IPAMConfig: { IPv4Address: '10.5.0.9' }, NetworkID: '' } } } }), {
      mode: 'default',
      networks: [{ network: 'mynet', aliases: ['web'], ipv4Address: '10.5.0.9' }],
      hostname: undefined,
    });
    assert.deepEqual(spec({ HostConfig: { NetworkMode: 'container:db' } }), { mode: 'container', container: 'db', hostname: undefined });
    assert.deepEqual(spec({ HostConfig: { NetworkMode: 'default' } }), { mode: 'default', hostname: undefined });
    // Config.MacAddress (API 1.41) belongs to the first network's endpoint, the default bridge's here.
    assert.deepEqual(spec({ MacAddress: '02:42:ac:11:00:99' })?.networks, [{ network: 'bridge', macAddress: '02:42:ac:11:00:99' }]);
    // Links on a user network: the endpoint's (what the CLI sends for --link there), HostConfig's joining them (what compose sends).
    assert.deepEqual(spec({ HostConfig: { NetworkMode: 'mynet', Links: ['/proj_db_1:db'] }, NetworkingConfig: { EndpointsConfig: { mynet: { Links: ['cache'] } } } })?.networks, [
      { network: 'mynet', links: ['cache', '/proj_db_1:db'] },
    ]);
    refusedWith({ Image: 'x', HostConfig: { NetworkMode: 'bridge', Links: ['db:db'] } }, '--link');
    refusedWith({ Image: 'x', HostConfig: { NetworkMode: 'mynet' }, NetworkingConfig: { EndpointsConfig: { mynet: { DriverOpts: { a: 'b' } } } } }, '--driver-opt');
    refusedWith({ Image: 'x', HostConfig: { NetworkMode: 'mynet' }, NetworkingConfig: { EndpointsConfig: { mynet: { IPAMConfig: { IPv6Address: 'fd00::9' } } } } }, '--ip6');
    refusedWith({ Image: 'x', HostConfig: { Links: ['db:db'] } }, '--link');
    // Before API 1.44 a container joins one network at create, in dockerd's words; from 1.44 any number, NetworkMode's first.
    assert.throws(
      () => createSpec({ Image: 'x', HostConfig: { NetworkMode: 'a' }, NetworkingConfig: { EndpointsConfig: { a: {}, b: {} } } }, undefined, [], '1.43'),
      (e: unknown) => e instanceof HttpError && e.status === 400 && e.message === 'Container cannot be created with multiple network endpoints: a, b',
    );
    assert.deepEqual(spec({ HostConfig: { NetworkMode: 'b' }, NetworkingConfig: { EndpointsConfig: { a: { Aliases: ['x'] }, b: {} } } })?.networks, [{ network: 'b' }, { network: 'a', aliases: ['x'] }]);
    refusedWith({ Image: 'x', HostConfig: { NetworkMode: 'c' }, NetworkingConfig: { EndpointsConfig: { a: {}, b: {} } } }, '--network a alongside --network c');
    assert.throws(() => createSpec({ Image: 'x', MacAddress: '02:42:ac:11:00:99', HostConfig: { NetworkMode: 'host' } }, undefined), /conflicting options: mac-address and the network mode/);
    assert.equal(createSpec({ Image: 'x', HostConfig: { NetworkMode: 'host' }, NetworkingConfig: { EndpointsConfig: { host: { Aliases: null, IPAddress: '' } } } }, undefined).network?.mode, 'host');
  });

  it('ports: -p bindings, ranges and -P map into the spec; with the host\'s network they are dropped with dockerd\'s warning', () => {
    const net = createSpec(
      {
        Image: 'x',
        ExposedPorts: { '80/tcp': {}, '1234/tcp': {} },
        HostConfig: { PortBindings: { '80/tcp': [{ HostIp: '', HostPort: '8080' }], '90/udp': [{ HostIp: '127.0.0.1', HostPort: '' }], '70/tcp': [{ HostIp: '', HostPort: '7000-7010' }] }, PublishAllPorts: true },
      },
      undefined,
    ).network!;
    assert.deepEqual(net.ports, [
      { containerPort: 80, protocol: 'tcp', hostPort: 8080 },
      { containerPort: 90, protocol: 'udp', hostIp: '127.0.0.1' },
      { containerPort: 70, protocol: 'tcp', hostPort: 7000, hostPortEnd: 7010 },
    ]);
    assert.equal(net.publishAll, true);
    assert.deepEqual(net.exposedPorts, ['80/tcp', '1234/tcp']);
    assert.throws(() => createSpec({ Image: 'x', HostConfig: { PortBindings: { '80/sctp': [{ HostPort: '1' }] } } }, undefined), /Berth does not support sctp ports yet/);
    assert.throws(() => createSpec({ Image: 'x', HostConfig: { PortBindings: { '80/tcp': [{ HostPort: 'eighty' }] } } }, undefined), /invalid port specification: "eighty"/);
    const warnings: string[] = [];
    const host = createSpec({ Image: 'x', HostConfig: { NetworkMode: 'host', PortBindings: { '80/tcp': [{ HostPort: '80' }] } } }, undefined, warnings).network!;
    assert.equal(host.ports, undefined);
    assert.deepEqual(warnings, ['Published ports are discarded when using host network mode']);
  });

  it('"unset" means null, false, 0, empty strings, lists and objects of those', () => {
    for (const v of [null, undefined, false, 0, '', [], {}, { a: '', b: [] }]) assert.ok(isUnset(v), JSON.stringify(v));
    for (const v of [true, 1, 'x', ['x'], { a: 1 }]) assert.ok(!isUnset(v), JSON.stringify(v));
  });
});
