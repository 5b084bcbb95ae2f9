// Host credential rotation over the live link, built so that no crash or lost message between
// its steps locks a host out. The invariant: the agent always holds a credential the server
// accepts. The server accepts credentialHash and, while a rotation is unconfirmed,
// pendingCredentialHash too.
//
//  1. pendingCredentialHash := hash(new)   (only when none is pending: one rotation at a time)
//  2. the agent, on the 'credential.rotate' command, writes the new credential atomically to
//     credential.json, presents it from its next handshake on, and acks (agent/link/commands.ts
//     does it all before any await, so no later command or handshake overtakes it)
//  3. on that ack: credentialHash := hash(new), pending := null. The old one is refused from now on.
//
// A crash or a lost message between them leaves the host with the old credential or the new
// one, and the server accepting both: the agent's next handshake with the new one finishes the
// rotation (AgentHub.authenticate promotes it); an agent that answers "could not store it" kept
// the old one (its write is atomic), and the pending hash is dropped. A pending rotation left
// over by a server that died between the steps is settled before the next rotation by asking
// the agent which credential it holds ('credential.check'): commands on a link are carried out
// in order, so its answer is after any rotation sent before it.
import { COMMAND_TIMEOUT_MS } from '../../protocol/agent-link';
import { hashSecret, newSecret } from '../auth/tokens';
import type { PrismaClient } from '../db';
import { HUB_OFFLINE, HUB_TIMEOUT, type AgentHub } from './agents';

/** A pending rotation older than this is one whose rotating call has ended (its command timed out). */
export const ROTATION_STALE_MS = 2 * COMMAND_TIMEOUT_MS;

export class RotationError extends Error {
  constructor(
    message: string,
    /** 'offline' | 'busy' | 'unconfirmed' | 'refused' */
    readonly kind: 'offline' | 'busy' | 'unconfirmed' | 'refused',
  ) {
    super(message);
    this.name = 'RotationError';
  }
}

/** Statuses the hub answers with itself, when the agent's answer never came: the agent may or may not have stored the credential. */
const UNKNOWN_OUTCOME = new Set([HUB_OFFLINE, HUB_TIMEOUT, 502]);

type HostCredentials = { id: string; name: string; credentialHash: string; pendingCredentialHash: string | null; pendingCredentialAt: Date | null };

/** Settles a leftover pending rotation by the agent's own word; throws when it cannot be settled now. */
async function settle(prisma: PrismaClient, hub: AgentHub, host: HostCredentials): Promise<void> {
  const pending = host.pendingCredentialHash!;
  if (host.pendingCredentialAt && Date.now() - host.pendingCredentialAt.getTime() < ROTATION_STALE_MS) {
    throw new RotationError(`a credential rotation of host ${host.name} is under way (since ${host.pendingCredentialAt.toISOString()}); try again when it has finished`, 'busy');
  }
  const res = await hub.command<{ hash?: unknown }>(host.id, { op: 'credential.check' });
  if (!res.ok) throw new RotationError(`host ${host.name}: an earlier rotation was not confirmed, and the agent cannot say which credential it holds: ${res.error}`, 'unconfirmed');
  const held = typeof res.result?.hash === 'string' ? res.result.hash : '';
  if (held === pending) {
    await prisma.host.updateMany({ where: { id: host.id, pendingCredentialHash: pending }, data: { credentialHash: pending, pendingCredentialHash: null, pendingCredentialAt: null } });
  } else if (held === host.credentialHash) {
    await prisma.host.updateMany({ where: { id: host.id, pendingCredentialHash: pending }, data: { pendingCredentialHash: null, pendingCredentialAt: null } });
  } else {
    throw new RotationError(`host ${host.name} holds a credential this server did not issue last; revoke it and enrol it again`, 'refused');
  }
}

/** Rotates the host's credential (see the top of this file); resolves once the old one is refused. */
export async function rotateCredential(prisma: PrismaClient, hub: AgentHub, hostId: string): Promise<void> {
  const select = { id: true, name: true, credentialHash: true, pendingCredentialHash: true, pendingCredentialAt: true } as const;
  let host = await prisma.host.findUniqueOrThrow({ where: { id: hostId }, select });
  // Only the agent can take a new credential; an offline one keeps its own until it is back.
  if (!hub.isOnline(hostId)) throw new RotationError(`host ${host.name} is offline: a credential is rotated over its live link; start its agent and try again`, 'offline');
  if (host.pendingCredentialHash) {
    await settle(prisma, hub, host);
    host = await prisma.host.findUniqueOrThrow({ where: { id: hostId }, select });
  }

  const credential = newSecret('bhc');
  const next = hashSecret(credential);
  const claimed = await prisma.host.updateMany({ where: { id: hostId, pendingCredentialHash: null, revokedAt: null }, data: { pendingCredentialHash: next, pendingCredentialAt: new Date() } });
  if (claimed.count !== 1) throw new RotationError(`a credential rotation of host ${host.name} is under way, or the host was revoked; try again`, 'busy');

  const res = await hub.command(hostId, { op: 'credential.rotate', credential });
  if (res.ok) {
    // A handshake with the new credential may have promoted it already.
    await prisma.host.updateMany({ where: { id: hostId, pendingCredentialHash: next }, data: { credentialHash: next, pendingCredentialHash: null, pendingCredentialAt: null } });
    return;
  }
  if (res.status !== undefined && UNKNOWN_OUTCOME.has(res.status)) {
    throw new RotationError(
      `host ${host.name} did not confirm the new credential (${res.error}); the old and the new one both stay valid until its agent connects with the new one, which completes the rotation`,
      'unconfirmed',
    );
  }
  // The agent answered that it kept the old credential.
  await prisma.host.updateMany({ where: { id: hostId, pendingCredentialHash: next }, data: { pendingCredentialHash: null, pendingCredentialAt: null } });
  throw new RotationError(`host ${host.name} could not store a new credential: ${res.error}; it keeps the old one`, 'refused');
}
