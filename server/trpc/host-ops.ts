// What every host-scoped procedure does: check the caller's role, talk to the agent,
// turn its answer into a TRPCError, and leave an audit record.
import { TRPCError } from '@trpc/server';
import type { AgentCommand } from '../../protocol/agent-link';
import { AccessError, hostFor } from '../auth/access';
import type { Role } from '../../protocol/roles';
import { HUB_OFFLINE, HUB_TIMEOUT } from '../hub/agents';
import type { AuthedContext } from './init';

export function toTRPCError(err: unknown): TRPCError {
  if (err instanceof TRPCError) return err;
  if (err instanceof AccessError) {
    return new TRPCError({ code: err.kind === 'forbidden' ? 'FORBIDDEN' : 'NOT_FOUND', message: err.message });
  }
  return new TRPCError({ code: 'INTERNAL_SERVER_ERROR', message: (err as Error)?.message ?? String(err), cause: err });
}

export function agentError(status: number | undefined, message: string): TRPCError {
  switch (status) {
    case 400:
      return new TRPCError({ code: 'BAD_REQUEST', message });
    case 403:
      // The engine's "not allowed on this object" (a built-in network, one still in use), as Docker's API says 403.
      return new TRPCError({ code: 'FORBIDDEN', message });
    case 404:
      return new TRPCError({ code: 'NOT_FOUND', message });
    case 409:
      return new TRPCError({ code: 'CONFLICT', message });
    case HUB_OFFLINE:
      return new TRPCError({ code: 'PRECONDITION_FAILED', message: 'host is offline' });
    case HUB_TIMEOUT:
      return new TRPCError({ code: 'TIMEOUT', message });
    case 502:
      return new TRPCError({ code: 'BAD_GATEWAY', message });
    default:
      return new TRPCError({ code: 'INTERNAL_SERVER_ERROR', message });
  }
}

export async function host(ctx: AuthedContext, hostId: string, min: Role) {
  try {
    return await hostFor(ctx.user.id, hostId, min);
  } catch (err) {
    throw toTRPCError(err);
  }
}

/** Sends a command to the host's agent; the result, or the agent's error as a TRPCError. */
export async function callAgent<T>(ctx: AuthedContext, hostId: string, cmd: AgentCommand, timeoutMs?: number): Promise<T> {
  const res = await ctx.hub.command<T>(hostId, cmd, timeoutMs);
  if (!res.ok) throw agentError(res.status, res.error);
  return res.result as T;
}

export interface AuditEntry {
  action: string;
  teamId?: string | null;
  hostId?: string | null;
  target?: string | null;
}

export async function writeAudit(ctx: Pick<AuthedContext, 'prisma'> & { user: { id: string } | null; address?: string | null }, e: AuditEntry, result: string) {
  try {
    await ctx.prisma.auditLog.create({
      data: {
        userId: ctx.user?.id ?? null,
        address: ctx.address?.slice(0, 100) ?? null,
        teamId: e.teamId ?? null,
        hostId: e.hostId ?? null,
        action: e.action,
        target: e.target ?? null,
        result: result.slice(0, 1000),
      },
    });
  } catch (err) {
    console.error(`audit ${e.action}: cannot write: ${(err as Error).message}`);
  }
}

/** Runs a mutation and records who did what, on which host, and how it ended (refusals included). */
export async function audited<T>(ctx: AuthedContext, e: AuditEntry, fn: (e: AuditEntry) => Promise<T>): Promise<T> {
  try {
    const out = await fn(e);
    await writeAudit(ctx, e, 'ok');
    return out;
  } catch (err) {
    const trpc = toTRPCError(err);
    await writeAudit(ctx, e, `error: ${trpc.code}: ${trpc.message}`);
    throw trpc;
  }
}

/**
 * The host, for a caller with at least `min` on it, and `entry` (an audit row to be written)
 * naming it: the host is recorded on a refusal only when the caller may know it exists.
 */
export async function hostForAudit(ctx: AuthedContext, hostId: string, min: Role, entry: AuditEntry) {
  const { host: h } = await hostFor(ctx.user.id, hostId, min).catch(async (err) => {
    if (err instanceof AccessError && err.kind === 'forbidden') {
      const row = await ctx.prisma.host.findUnique({ where: { id: hostId }, select: { id: true, teamId: true } });
      if (row) Object.assign(entry, { hostId: row.id, teamId: row.teamId });
    } else {
      entry.target = `${entry.target ?? ''} (host ${hostId})`.trim();
    }
    throw toTRPCError(err);
  });
  Object.assign(entry, { hostId: h.id, teamId: h.teamId });
  return h;
}

/** A mutation on one host: role check and agent call inside one audit record. */
export function hostMutation<T>(
  ctx: AuthedContext,
  hostId: string,
  min: Role,
  e: Omit<AuditEntry, 'hostId' | 'teamId'>,
  /** `entry`: the audit row to be written, for a target known only once the host was reached. */
  fn: (entry: AuditEntry) => Promise<T>,
): Promise<T> {
  return audited(ctx, { ...e, hostId: null }, async (entry) => {
    await hostForAudit(ctx, hostId, min, entry);
    return fn(entry);
  });
}
