// Command-line flags of the agent, kept apart from main.ts so they can be tested without starting anything.
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_ROOT } from './engine/index';

export const USAGE = `usage: bin/berth-agent [--root DIR] [--docker-socket PATH] [--server URL [--token TOKEN]] [--bridge none]

  --root DIR            engine state (images, containers, credential)   default ${DEFAULT_ROOT}
  --docker-socket PATH  where the Docker Engine API listens              default /run/berth/docker.sock
  --server URL          control plane to connect to (http:// or https://)
  --token TOKEN         one-time join token, needed on the first start with --server
  --bridge none         no default bridge (as dockerd's --bridge=none): containers on the
                        default network get loopback only; user networks still work`;

export interface AgentFlags {
  root: string;
  dockerSocket: string;
  server?: string;
  token?: string;
  /** --bridge none. */
  noDefaultBridge?: boolean;
}

/** Throws an Error whose message is fit to print when the flags make no sense. */
export function parseFlags(argv: string[]): AgentFlags | 'help' {
  let values: Record<string, string | boolean | undefined>;
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
        bridge: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new Error((err as Error).message);
  }
  if (values.help) return 'help';
  const str = (k: string) => {
    const v = values[k];
    if (v === '') throw new Error(`--${k} needs a value`);
    return v as string | undefined;
  };
  const flags: AgentFlags = {
    root: path.resolve(str('root') ?? DEFAULT_ROOT),
    dockerSocket: path.resolve(str('docker-socket') ?? '/run/berth/docker.sock'),
    server: str('server'),
    token: str('token'),
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
  return flags;
}
