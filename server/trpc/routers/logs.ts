// Log history and kept logs (protocol/logs.ts): pages for anyone who may see the host,
// the removed containers' kept logs and their retention; changing the retention is an
// admin's, audited. Live streams and searches go over the ui socket (server/hub/logs.ts),
// downloads over HTTP (server/hub/log-download.ts).
import { z } from 'zod';
import { logSchemas, type KeptLog, type LogPage, type LogRetention } from '../../../protocol/logs';
import { callAgent, host, hostMutation } from '../host-ops';
import { authedProcedure, router } from '../init';

const hostId = z.string().min(1).max(100);

export const logsRouter = router({
  /** A page of one log's history: before/after/around a seq, or at a time (LogPageRequest). */
  page: authedProcedure.input(logSchemas().page).query(async ({ ctx, input }) => {
    const { source, ...req } = input;
    await host(ctx, source.hostId, 'viewer');
    return callAgent<LogPage>(ctx, source.hostId, { op: 'logs.page', id: source.containerId, ...(source.kept ? { kept: true } : {}), ...req });
  }),

  /** The removed containers' logs the host keeps, newest first. */
  kept: authedProcedure.input(z.object({ hostId })).query(async ({ ctx, input }) => {
    await host(ctx, input.hostId, 'viewer');
    return callAgent<KeptLog[]>(ctx, input.hostId, { op: 'logs.kept' });
  }),

  retention: authedProcedure.input(z.object({ hostId })).query(async ({ ctx, input }) => {
    await host(ctx, input.hostId, 'viewer');
    return callAgent<LogRetention>(ctx, input.hostId, { op: 'logs.retention' });
  }),

  /** How long and how much of removed containers' logs the host keeps (0 = none); what is past it goes at once. */
  setRetention: authedProcedure.input(logSchemas().retention.extend({ hostId })).mutation(({ ctx, input }) =>
    hostMutation(ctx, input.hostId, 'admin', { action: 'logs.retention', target: `max age ${input.maxAgeSeconds} s, max ${input.maxBytes} bytes` }, () =>
      callAgent<LogRetention>(ctx, input.hostId, { op: 'logs.retention', set: { maxAgeSeconds: input.maxAgeSeconds, maxBytes: input.maxBytes } }),
    ),
  ),
});
