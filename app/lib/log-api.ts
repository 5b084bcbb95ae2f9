'use client';
// The log procedures of protocol/logs.ts as the viewer calls them (imperatively: pages are
// asked for as the reader scrolls, not kept in react-query's cache).
import type { KeptLog, LogDownloadQuery, LogPage, LogPageRequest, LogRetention } from '../../protocol/logs';
import { LOGS_DOWNLOAD_PATH } from '../../protocol/logs';
import { trpc } from './trpc';

export interface LogsClient {
  page(req: LogPageRequest): Promise<LogPage>;
  kept(hostId: string): Promise<KeptLog[]>;
  retention(hostId: string): Promise<LogRetention>;
}

export function useLogsClient(): LogsClient {
  const utils = trpc.useUtils();
  return {
    page: (req) => utils.client.logs.page.query(req),
    kept: (hostId) => utils.client.logs.kept.query({ hostId }),
    retention: (hostId) => utils.client.logs.retention.query({ hostId }),
  };
}

/** The download endpoint's URL for a selection (LogDownloadQuery's words). */
export function downloadUrl(q: LogDownloadQuery): string {
  const p = new URLSearchParams();
  for (const s of q.sources) p.append('source', `${s.hostId}/${s.containerId}${s.kept ? '/kept' : ''}`);
  if (q.format) p.set('format', q.format);
  if (q.timestamps) p.set('timestamps', '1');
  if (q.since !== undefined) p.set('since', String(q.since));
  if (q.until !== undefined) p.set('until', String(q.until));
  if (q.query) {
    p.set('q', q.query);
    if (q.regex) p.set('regex', '1');
    if (q.caseSensitive) p.set('case', '1');
  }
  if (q.stdout === false) p.set('stdout', '0');
  if (q.stderr === false) p.set('stderr', '0');
  return `${LOGS_DOWNLOAD_PATH}?${p.toString()}`;
}
