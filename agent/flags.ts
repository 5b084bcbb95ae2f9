// Command-line flags of the agent, kept apart from main.ts so they can be tested without starting anything.
import path from 'node:path';
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { DEFAULT_ROOT } from './engine/index';
import { parseFingerprint } from './link/server-tls';

export const USAGE = `usage: bin/berth-agent [--root DIR] [--docker-socket PATH] [--server URL [--token TOKEN]
                         [--server-fingerprint sha256:HEX | --ca FILE]] [--bridge none]
                         [--insecure-registry HOST[:PORT]]… [--max-layer-size SIZE]

  --root DIR            engine state (images, containers, credential)   default ${DEFAULT_ROOT}
  --docker-socket PATH  where the Docker Engine API listens              default /run/berth/docker.sock
  --server URL          control plane to connect to (http:// or https://)
  --token TOKEN         one-time join token, needed on the first start with --server
  --server-fingerprint sha256:HEX
                        accept exactly this certificate from an https:// server (the join
                        command has it); kept with the credential for later starts
  --ca FILE             PEM CA bundle to verify an https:// server with, instead of the system's
  --bridge none         no default bridge (as dockerd's --bridge=none): containers on the
                        default network get loopback only; user networks still work

  --insecure-registry R a registry reached over plain http (as dockerd's flag; repeatable);
                        localhost and 127.0.0.0/8 always are
  --max-layer-size SIZE most one image layer may unpack to (bytes, or with k/m/g/t)   default 64g`;

/** "64g", "512m", "1024" → bytes (binary units, as dockerd reads sizes). */
export function parseSize(s: string, flag: string): number {
  const m = /^(\d+)([kmgt]?)b?$/i.exec(s.trim());
  if (!m) throw new Error(`${flag} wants a size like 64g or 512m, got ${JSON.stringify(s)}`);
  const n = Number(m[1]) * 1024 ** ' kmgt'.indexOf((m[2] || ' ').toLowerCase());
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`${flag} must be a positive size, got ${JSON.stringify(s)}`);
  return n;
}

export interface AgentFlags {
  root: string;
  dockerSocket: string;
  server?: string;
  token?: string;
  /** The pinned server certificate ("sha256:AB:…"). */
  serverFingerprint?: string;
  /** PEM CA bundle for an https server without a pin. */
  ca?: Buffer;
  /** --bridge none. */
  noDefaultBridge?: boolean;
  /** host[:port] of registries reached over plain http. */
  insecureRegistries: string[];
  /** Bytes; undefined = the store's default. */
  maxLayerSize?: number;
}

/** Throws an Error whose message is fit to print when the flags make no sense. */
export function parseFlags(argv: string[]): AgentFlags | 'help' {
  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        root: { type: 'string' },
        'docker-socket': { type: 'string' },
        server: { type: 'string' },
        token: { type: 'string' },
        'server-fingerprint': { type: 'string' },
        ca: { type: 'string' },
        bridge: { type: 'string' },
        'insecure-registry': { type: 'string', multiple: true },
        'max-layer-size': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new Error((err as Error).message);
  }
  if (values.help) return 'help';
  const str = (k: string) => {
    const v = values[k] as string | boolean | undefined;
    if (v === '') throw new Error(`--${k} needs a value`);
    return v as string | undefined;
  };
  const flags: AgentFlags = {
    root: path.resolve(str('root') ?? DEFAULT_ROOT),
    dockerSocket: path.resolve(str('docker-socket') ?? '/run/berth/docker.sock'),
    server: str('server'),
    token: str('token'),
    insecureRegistries: ((values['insecure-registry'] as string[] | undefined) ?? []).map(insecureRegistry),
    ...(str('max-layer-size') !== undefined ? { maxLayerSize: parseSize(str('max-layer-size')!, '--max-layer-size') } : {}),
  };
  const bridge = str('bridge');
  if (bridge !== undefined) {
    if (bridge !== 'none') throw new Error(`--bridge takes only "none" (no default bridge), got ${JSON.stringify(bridge)}`);
    flags.noDefaultBridge = true;
  }
  if (flags.token && !flags.server) throw new Error('--token only makes sense with --server');
  if (flags.server) {
    let u: URL;
    try {
      u = new URL(flags.server);
    } catch {
      throw new Error(`--server must be a URL like http://host:3000, got ${JSON.stringify(flags.server)}`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`--server must use http:// or https://, got ${u.protocol}`);
    flags.server = u.origin + u.pathname.replace(/\/+$/, '');
  }
  const pin = str('server-fingerprint');
  const ca = str('ca');
  if ((pin !== undefined || ca !== undefined) && !flags.server?.startsWith('https:')) {
    throw new Error(`--${pin !== undefined ? 'server-fingerprint' : 'ca'} needs an https:// --server${flags.server ? `, got ${flags.server}` : ''}`);
  }
  if (pin !== undefined && ca !== undefined) throw new Error('--server-fingerprint and --ca exclude each other: a pinned certificate is trusted by itself, not through a CA');
  if (pin !== undefined) flags.serverFingerprint = parseFingerprint(pin);
  if (ca !== undefined) {
    try {
      flags.ca = readFileSync(path.resolve(ca));
    } catch (err) {
      throw new Error(`--ca: cannot read ${ca}: ${(err as Error).message}`);
    }
    if (!flags.ca.includes('-----BEGIN CERTIFICATE-----')) throw new Error(`--ca: ${ca} holds no PEM certificate`);
  }
  return flags;
}

/** dockerd takes "host[:port]" (a scheme is stripped); a CIDR it also takes is refused here by name. */
function insecureRegistry(v: string): string {
  const s = v.trim().replace(/^https?:\/\//, '').replace(/\/+$/, '');
  if (s.includes('/')) throw new Error(`--insecure-registry takes host[:port]; CIDR ranges such as ${JSON.stringify(v)} are not supported yet`);
  if (!/^(?:[a-zA-Z0-9.-]+|\[[0-9a-fA-F:]+\])(?::\d{1,5})?$/.test(s)) throw new Error(`--insecure-registry: ${JSON.stringify(v)} is not host[:port]`);
  return s;
}
