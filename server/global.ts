// Next.js bundles route handlers apart from the modules tsx loads for server/main.ts,
// so a module-level singleton would exist twice. Everything both halves share hangs
// off one object on globalThis.
import type { PrismaClient } from '../generated/prisma/client';
import type { AgentHub } from './hub/agents';
import type { UiHub } from './hub/ui';

export interface BerthGlobal {
  prisma?: PrismaClient;
  hub?: AgentHub;
  ui?: UiHub;
}

declare global {
  // eslint-disable-next-line no-var
  var __berth: BerthGlobal | undefined;
}

export function berthGlobal(): BerthGlobal {
  return (globalThis.__berth ??= {});
}
