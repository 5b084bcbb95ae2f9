'use client';
import { useSearchParams } from 'next/navigation';
import { Suspense, useMemo, useState } from 'react';
import { MergedLogs, sourceParam, type Candidate } from '../components/logs/merged-logs';
import { Field } from '../components/form';
import { ErrorText } from '../components/ui';
import { useHostsChanged } from '../lib/socket';
import { trpc } from '../lib/trpc';

/** Containers offered to pick from at once: the fleet may have far more, found by searching. */
const OFFERED = 200;

/** Containers chosen across every host the user may see, their logs merged by time. */
export default function FleetLogsPage() {
  return (
    <div className="space-y-4">
      <h1 className="text-xl font-semibold">Logs across hosts</h1>
      <Suspense>
        <Picker />
      </Suspense>
    </div>
  );
}

function Picker() {
  const utils = trpc.useUtils();
  const [find, setFind] = useState('');
  // A page of the fleet's containers (the index pages them, server/hub/fleet.ts), plus the chosen ones wherever they are.
  const offered = trpc.fleet.containers.useQuery({ text: find.trim() || undefined, page: 1, pageSize: OFFERED }, { placeholderData: (prev) => prev });
  const params = useSearchParams();
  const targets = useMemo(
    () =>
      (params?.getAll('s') ?? [])
        .map((s) => s.split('/'))
        .filter((p) => p.length === 2 && p[0] && p[1])
        .slice(0, 100)
        .map(([hostId, id]) => ({ hostId, id })),
    [params],
  );
  const chosen = trpc.fleet.lookup.useQuery({ targets }, { enabled: targets.length > 0, placeholderData: (prev) => prev });
  useHostsChanged(() => void utils.fleet.containers.invalidate());
  const candidates = useMemo<Candidate[]>(() => {
    const out = new Map<string, Candidate>();
    for (const c of [...(chosen.data ?? []), ...(offered.data?.rows ?? [])]) {
      const cand: Candidate = { hostId: c.hostId, containerId: c.id, name: c.name, hostName: c.hostName, state: c.state, ...(c.project ? { project: c.project } : {}) };
      out.set(sourceParam(cand), cand);
    }
    return [...out.values()];
  }, [chosen.data, offered.data]);
  const total = offered.data?.total ?? 0;
  return (
    <>
      <div className="flex flex-wrap items-end gap-3">
        <Field id="logs-find" label="Find containers (name, image, host)" className="w-full sm:w-80" value={find} onChange={(e) => setFind(e.target.value)} data-testid="logs-find" />
        {total > OFFERED ? (
          <p className="pb-2 text-xs text-slate-500" data-testid="logs-offered">
            The first {OFFERED} of {total} containers are offered; search to find others.
          </p>
        ) : null}
      </div>
      <ErrorText>{offered.error?.message ?? chosen.error?.message}</ErrorText>
      <MergedLogs candidates={candidates} title="Fleet" groupBy="host" />
    </>
  );
}
