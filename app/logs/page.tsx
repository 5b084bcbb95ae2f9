'use client';
import { Suspense, useMemo } from 'react';
import { MergedLogs, type Candidate } from '../components/logs/merged-logs';
import { ErrorText } from '../components/ui';
import { useHostsChanged } from '../lib/socket';
import { trpc } from '../lib/trpc';

/** Containers chosen across every host the user may see, their logs merged by time. */
export default function FleetLogsPage() {
  const hosts = trpc.hosts.list.useQuery();
  useHostsChanged(() => void hosts.refetch());
  const candidates = useMemo<Candidate[]>(
    () =>
      (hosts.data ?? []).flatMap((h) =>
        h.containers.map((c) => ({ hostId: h.id, containerId: c.id, name: c.name, hostName: h.name, state: c.state, ...(c.project ? { project: c.project } : {}) })),
      ),
    [hosts.data],
  );
  return (
    <div className="space-y-4">
      <h1 className="text-xl font-semibold">Logs across hosts</h1>
      <ErrorText>{hosts.error?.message}</ErrorText>
      <Suspense>
        <MergedLogs candidates={candidates} title="Fleet" groupBy="host" />
      </Suspense>
    </div>
  );
}
