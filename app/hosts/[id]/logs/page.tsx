'use client';
import Link from 'next/link';
import { useParams } from 'next/navigation';
import { Suspense, useMemo } from 'react';
import { MergedLogs, type Candidate } from '../../../components/logs/merged-logs';
import { ErrorText } from '../../../components/ui';
import { useHostWatch } from '../../../lib/socket';
import { trpc } from '../../../lib/trpc';

/** A host's logs: any of its containers (a whole stack at once) and its removed containers' kept logs, merged by time. */
export default function HostLogsPage() {
  const { id: hostId } = useParams<{ id: string }>();
  const query = trpc.hosts.get.useQuery({ hostId });
  const { host: live } = useHostWatch(hostId);
  const host = live ?? query.data ?? null;
  const kept = trpc.logs.kept.useQuery({ hostId }, { enabled: !!host?.online, retry: false });
  const candidates = useMemo<Candidate[]>(() => {
    if (!host) return [];
    const running: Candidate[] = host.containers.map((c) => ({ hostId, containerId: c.id, name: c.name, hostName: host.name, state: c.state, ...(c.project ? { project: c.project } : {}) }));
    const removed: Candidate[] = (kept.data ?? []).map((k) => ({ hostId, containerId: k.containerId, name: k.name, hostName: host.name, kept: true, removedAt: k.removedAt }));
    return [...running, ...removed];
  }, [host, kept.data, hostId]);

  if (query.error) return <ErrorText testId="host-error">{query.error.message}</ErrorText>;
  if (!host) return <p className="text-sm text-slate-500">Loading…</p>;
  return (
    <div className="space-y-4">
      <div>
        <Link href={`/hosts/${hostId}`} className="text-sm text-sky-700 hover:underline">
          ← {host.name}
        </Link>
        <h1 className="mt-1 text-xl font-semibold">Logs on {host.name}</h1>
        {!host.online ? (
          <p className="mt-2 rounded-md border border-amber-200 bg-amber-50 px-3 py-2 text-sm text-amber-800" data-testid="host-offline">
            This host is offline: its logs resume when its agent reconnects.
          </p>
        ) : null}
        <ErrorText>{kept.error ? `cannot list the removed containers' logs: ${kept.error.message}` : null}</ErrorText>
      </div>
      <Suspense>
        <MergedLogs candidates={candidates} title={host.name} />
      </Suspense>
    </div>
  );
}
