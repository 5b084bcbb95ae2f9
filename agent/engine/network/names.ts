// The names of everything the agent makes in the kernel's network setup, derived from its
// root so two agents on one machine never take each other's: the default root gets
// Docker-like names (berth0, BERTH-…), any other root a short hash in each name.
import { createHash, randomBytes } from 'node:crypto';
import { resolve } from 'node:path';

export interface NetNames {
  /** In interface names ("berth" or "b" and 6 hex digits). */
  prefix: string;
  /** The default bridge's interface. */
  defaultBridge: string;
  /** iptables chains: every one starts with this ("BERTH" or "BERTH-" and 6 hex digits). */
  chain: string;
  /** 0..N: where the default bridge starts looking in the address pool. */
  poolStart: number;
}

/** `defaultRoot`: the engine's default (engine/index.ts's DEFAULT_ROOT), which gets the plain names. */
export function netNamesFor(root: string, defaultRoot: string): NetNames {
  const abs = resolve(root);
  if (abs === resolve(defaultRoot)) return { prefix: 'berth', defaultBridge: 'berth0', chain: 'BERTH', poolStart: 0 };
  const h = createHash('sha256').update(abs).digest('hex');
  const tag = h.slice(0, 6);
  return { prefix: `b${tag}`, defaultBridge: `b${tag}0`, chain: `BERTH-${tag.toUpperCase()}`, poolStart: parseInt(h.slice(6, 10), 16) };
}

/** A user network's bridge: the agent's prefix and 7 digits of the network's id (at most 15 characters, the kernel's limit). */
export function bridgeName(n: NetNames, networkId: string): string {
  return `${n.prefix}-${networkId.slice(0, 7)}`.slice(0, 15);
}

/** A fresh name for the host end of a container's veth pair. */
export function vethName(n: NetNames): string {
  return `${n.prefix}v${randomBytes(4).toString('hex').slice(0, 7)}`.slice(0, 15);
}

export const chains = (n: NetNames) => ({
  /** nat: published ports and the resolver's redirects (from PREROUTING and OUTPUT, local destinations). */
  dnat: `${n.chain}-DNAT`,
  /** nat: outbound masquerading, hairpin and loopback sources (from POSTROUTING). */
  post: `${n.chain}-POST`,
  /** filter: what may be forwarded to and from the agent's bridges (from FORWARD). */
  fwd: `${n.chain}-FWD`,
  /** filter: isolation between networks, Docker's two stages. */
  iso1: `${n.chain}-ISO1`,
  iso2: `${n.chain}-ISO2`,
  /** filter: what containers may send to the host itself (from INPUT). */
  input: `${n.chain}-IN`,
});

/** Whether an interface name is one this agent makes (its default bridge, a network's bridge, a veth's host end). */
export function isOwnLink(n: NetNames, name: string): boolean {
  const p = n.prefix.replace(/[^a-z0-9]/g, '');
  return new RegExp(`^${p}(0|-[0-9a-f]{7}|v[0-9a-f]{7})$`).test(name);
}
