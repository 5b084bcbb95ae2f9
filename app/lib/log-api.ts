'use client';
// The log procedures of protocol/logs.ts as the viewer calls them. The tRPC client is
// typed by the server's router; these calls go through one narrow view of it so the
// viewer's code reads the contract's own types.
import type { KeptLog, LogPage, LogPageRequest, LogRetention } from '../../protocol/logs';
import { trpc } from './trpc';

export interface LogsClient {
  page(req: LogPageRequest): Promise<LogPage>;
  kept(hostId: string): Promise<KeptLog[]>;
  retention(hostId: string): Promise<LogRetention>;
}

interface LogsProcedures {
  logs: {
    page: { query(req: LogPageRequest): Promise<LogPage> };
    kept: { query(req: { hostId: string }): Promise<KeptLog[]> };
    retention: { query(req: { hostId: string }): Promise<LogRetention> };
  };
}

export function useLogsClient(): LogsClient {
  const utils = trpc.useUtils();
  const client = utils.client as unknown as LogsProcedures;
  return {
    page: (req) => client.logs.page.query(req),
    kept: (hostId) => client.logs.kept.query({ hostId }),
    retention: (hostId) => client.logs.retention.query({ hostId }),
  };
}
