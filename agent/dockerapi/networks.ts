// Network endpoints: Docker's /networks API over the engine's networks. Options of a
// create body Berth does not do (IPv6, other drivers, driver and IPAM options, swarm's
// ingress) are refused by name, never dropped. Attachable is kept and shown: on a local
// bridge any container may attach anyway, as in dockerd, and compose always asks for it.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { NetworkInfo } from '../../protocol/network';
import type { Engine } from '../engine/types';
import { filterTime } from './containers';
import { endpointSettings, isUnset } from './create-fields';
import { HttpError, readJson, sendEmpty, sendJson, type Query } from './http';
import { apiAtLeast } from './api-version';
import { DOCKER_API_VERSION as API_VERSION } from '../../protocol/docker-api';
import { labelMatches, parseFilters } from './images';

/** Docker's Network object, for `version`: EnableIPv4 came with 1.48 (every Berth network has IPv4). */
export function networkJson(n: NetworkInfo, withContainers = true, version: string = API_VERSION): Record<string, unknown> {
  return {
    Name: n.name,
    Id: n.id,
    Created: n.created,
    Scope: 'local',
    Driver: n.driver,
    ...(apiAtLeast(version, '1.48') ? { EnableIPv4: true } : {}),
    EnableIPv6: false,
    IPAM: { Driver: 'default', Options: null, Config: n.subnet ? [{ Subnet: n.subnet, Gateway: n.gateway, ...(n.ipRange ? { IPRange: n.ipRange } : {}) }] : [] },
    Internal: n.internal,
    Attachable: n.attachable,
    Ingress: false,
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    Containers: withContainers
      ? Object.fromEntries(n.containers.map((c) => [c.id, { Name: c.name, EndpointID: c.endpointId, MacAddress: c.macAddress, IPv4Address: c.ipv4Address, IPv6Address: '' }]))
      : {},
    Options: n.options,
    Labels: n.labels,
  };
}

const NETWORK_FILTERS = new Set(['dangling', 'driver', 'id', 'label', 'name', 'scope', 'type']);

function networkFilter(f: Record<string, string[]>): (n: NetworkInfo) => boolean {
  for (const k of Object.keys(f)) if (!NETWORK_FILTERS.has(k)) throw new HttpError(400, `Invalid filter '${k}'`);
  const tests: Array<(n: NetworkInfo) => boolean> = [];
  const anyOf = (values: string[] | undefined, t: (n: NetworkInfo, v: string) => boolean) => {
    if (values?.length) tests.push((n) => values.some((v) => t(n, v)));
  };
  for (const v of f.type ?? []) if (v !== 'custom' && v !== 'builtin') throw new HttpError(400, `invalid filter: 'type'='${v}'`);
  for (const v of f.dangling ?? []) if (!['true', '1', 'false', '0'].includes(v)) throw new HttpError(400, `invalid filter 'dangling=${v}'`);
  anyOf(f.driver, (n, v) => n.driver === v);
  anyOf(f.id, (n, v) => n.id.includes(v));
  anyOf(f.name, (n, v) => n.name.includes(v));
  anyOf(f.scope, (_n, v) => v === 'local');
  anyOf(f.type, (n, v) => (v === 'builtin') === n.builtin);
  anyOf(f.dangling, (n, v) => (v === 'true' || v === '1') === (!n.builtin && n.containers.length === 0));
  for (const l of f.label ?? []) tests.push((n) => labelMatches(n.labels, l));
  return (n) => tests.every((t) => t(n));
}

export function listNetworks(engine: Engine, res: ServerResponse, q: Query, version: string = API_VERSION): void {
  const raw = q.get('filters');
  const keep = networkFilter(raw ? parseFilters(raw) : {});
  sendJson(res, 200, engine.listNetworks().filter(keep).map((n) => networkJson(n, false, version)));
}

export function inspectNetwork(engine: Engine, res: ServerResponse, id: string, q: Query, version: string = API_VERSION): void {
  const scope = q.get('scope');
  const n = engine.inspectNetwork(id);
  if (scope && scope !== 'local') throw new HttpError(404, `network ${id} not found`);
  sendJson(res, 200, networkJson(n, true, version));
}

const ipamConfig = z.object({ Subnet: z.string().nullish(), IPRange: z.string().nullish(), Gateway: z.string().nullish(), AuxiliaryAddresses: z.record(z.string(), z.string()).nullish() });
const createBody = z.object({
  Name: z.string(),
  CheckDuplicate: z.boolean().nullish(),
  Driver: z.string().nullish(),
  Internal: z.boolean().nullish(),
  Attachable: z.boolean().nullish(),
  Labels: z.record(z.string(), z.string()).nullish(),
  IPAM: z.object({ Driver: z.string().nullish(), Config: z.array(ipamConfig).nullish(), Options: z.record(z.string(), z.string()).nullish() }).nullish(),
});

/** Fields of the create body and, when set to other than their default, the option Berth refuses them as. */
const CREATE_REFUSED: Record<string, string> = {
  Ingress: '--ingress',
  EnableIPv6: '--ipv6',
  Options: '-o/--opt',
  ConfigOnly: '--config-only',
  ConfigFrom: '--config-from',
};
const CREATE_KNOWN = new Set(['Name', 'CheckDuplicate', 'Driver', 'Internal', 'Attachable', 'Labels', 'IPAM', 'Scope', ...Object.keys(CREATE_REFUSED)]);

const refuse = (what: string) => new HttpError(400, `Berth does not support ${what} yet`);

export async function createNetwork(engine: Engine, req: IncomingMessage, res: ServerResponse, version: string = API_VERSION): Promise<void> {
  const raw = await readJson<unknown>(req);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new HttpError(400, 'invalid network config: the body must be a JSON object');
  const body = raw as Record<string, unknown>;
  for (const [k, v] of Object.entries(body)) {
    // 1.48 (dockerd ignores it from older clients): IPv4 is what every Berth network has, so only
    // false (an IPv6-only network) is refused; before isUnset, which would take false for "not set".
    if (k === 'EnableIPv4') {
      if (v === false && apiAtLeast(version, '1.48')) throw refuse('--ipv4=false');
      continue;
    }
    if (isUnset(v)) continue;
    if (k === 'Scope' && v === 'local') continue;
    if (k === 'Scope') throw refuse('--scope');
    if (CREATE_REFUSED[k]) throw refuse(CREATE_REFUSED[k]);
    if (!CREATE_KNOWN.has(k)) throw refuse(k);
  }
  const parsed = createBody.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new HttpError(400, `invalid network config: ${issue.path.join('.') || 'body'}: ${issue.message}`);
  }
  const b = parsed.data;
  const ipam = b.IPAM ?? {};
  if (ipam.Driver && ipam.Driver !== 'default') throw refuse('--ipam-driver');
  if (ipam.Options && Object.keys(ipam.Options).length) throw refuse('--ipam-opt');
  const configs = ipam.Config ?? [];
  if (configs.length > 1) throw refuse('more than one --subnet');
  const c = configs[0] ?? {};
  if (c.AuxiliaryAddresses && Object.keys(c.AuxiliaryAddresses).length) throw refuse('--aux-address');
  if (c.Subnet?.includes(':')) throw refuse('IPv6 subnets');
  const n = await engine.createNetwork({
    name: b.Name,
    driver: b.Driver || undefined,
    internal: b.Internal ?? false,
    attachable: b.Attachable ?? false,
    labels: b.Labels ?? {},
    subnet: c.Subnet || undefined,
    gateway: c.Gateway || undefined,
    ipRange: c.IPRange || undefined,
  });
  sendJson(res, 201, { Id: n.id, Warning: '' });
}

export async function removeNetwork(engine: Engine, res: ServerResponse, id: string): Promise<void> {
  await engine.removeNetwork(id);
  sendEmpty(res, 204);
}

const PRUNE_FILTERS = new Set(['label', 'label!', 'until']);

export async function pruneNetworks(engine: Engine, res: ServerResponse, q: Query): Promise<void> {
  const raw = q.get('filters');
  const f = raw ? parseFilters(raw) : {};
  // An ignored filter would remove more than was asked for.
  for (const k of Object.keys(f)) if (!PRUNE_FILTERS.has(k)) throw new HttpError(400, `invalid filter '${k}'`);
  const until = f.until?.length ? Math.min(...f.until.map((v) => filterTime(v))) : undefined;
  const prunable = (n: NetworkInfo) =>
    (f.label ?? []).every((l) => labelMatches(n.labels, l)) && !(f['label!'] ?? []).some((l) => labelMatches(n.labels, l)) && (until === undefined || Date.parse(n.created) < until);
  const deleted = await engine.pruneNetworks((n) => !prunable(n));
  sendJson(res, 200, { NetworksDeleted: deleted });
}

const connectBody = z.object({ Container: z.string().min(1, 'the container is missing'), EndpointConfig: z.unknown().optional() });
const disconnectBody = z.object({ Container: z.string().min(1, 'the container is missing'), Force: z.boolean().nullish() });

function parse<T>(schema: z.ZodType<T>, raw: unknown): T {
  const r = schema.safeParse(raw ?? {});
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  throw new HttpError(400, `invalid request: ${issue.path.join('.') || 'body'}: ${issue.message}`);
}

export async function connectNetwork(engine: Engine, req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
  const b = parse(connectBody, await readJson<unknown>(req));
  const { refused, settings } = endpointSettings(b.EndpointConfig, 'EndpointConfig');
  if (refused) throw refuse(refused);
  await engine.connectNetwork(id, b.Container, settings);
  sendEmpty(res, 200);
}

export async function disconnectNetwork(engine: Engine, req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
  const b = parse(disconnectBody, await readJson<unknown>(req));
  // Force matters to dockerd for endpoints of containers it no longer knows; Berth has none such.
  await engine.disconnectNetwork(id, b.Container);
  sendEmpty(res, 200);
}
