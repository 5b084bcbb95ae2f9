'use client';
// Every container of every host the user sees, in one table: paged, filtered and sorted on
// the server (its in-memory fleet index), with bulk stop, start, restart, remove and image
// update for operators, each confirmed by a dialog that names what will happen and reported
// per container. Live: the page's rows are fetched again when the fleet's container counts
// move (./live.ts), so a container stopped anywhere shows without a reload.
import Link from 'next/link';
import { useMemo, useState } from 'react';
import { ConfirmDialog } from '../components/confirm-dialog';
import { Field } from '../components/form';
import { Pager } from '../components/pager';
import { ErrorText, StateBadge } from '../components/ui';
import { hasRole } from '../../protocol/roles';
import { summaryStatus } from '../../protocol/docker-words';
import { shortId } from '../lib/format';
import { useNow } from '../lib/use-now';
import { useHostsChanged } from '../lib/socket';
import { useFleetContainersLive } from './live';
import { trpc } from '../lib/trpc';
import { bulkSentence, type BulkAction as Action, type Picked } from '../lib/fleet';
import { useRole } from '../lib/use-role';

const PAGE_SIZE = 50;
const STATES = ['running', 'stopped', 'paused', 'restarting', 'unhealthy', 'created', 'exited', 'dead'] as const;
const SORTS = ['host', 'name', 'image', 'state', 'created'] as const;

const key = (p: { hostId: string; id: string }) => `${p.hostId}/${p.id}`;

export default function FleetContainersPage() {
  const utils = trpc.useUtils();
  const canAct = hasRole(useRole(), 'operator');
  const now = useNow();
  const [f, setF] = useState({ text: '', name: '', image: '', host: '', label: '', state: '' as '' | (typeof STATES)[number] });
  const [sort, setSort] = useState<(typeof SORTS)[number]>('host');
  const [desc, setDesc] = useState(false);
  const [page, setPage] = useState(1);
  const [picked, setPicked] = useState<Map<string, Picked>>(new Map());
  const [asking, setAsking] = useState<Action | null>(null);
  const [force, setForce] = useState(false);
  const opt = (s: string) => s.trim() || undefined;
  const q = trpc.fleet.containers.useQuery(
    { text: opt(f.text), name: opt(f.name), image: opt(f.image), host: opt(f.host), label: opt(f.label), state: f.state || undefined, sort, desc, page, pageSize: PAGE_SIZE },
    { placeholderData: (prev) => prev },
  );
  useHostsChanged(() => void utils.fleet.containers.invalidate());
  const pageHosts = useMemo(() => [...new Set((q.data?.rows ?? []).map((r) => r.hostId))], [q.data]);
  useFleetContainersLive(pageHosts, () => void utils.fleet.containers.invalidate());
  const bulk = trpc.fleet.bulk.useMutation({ onSettled: () => void utils.fleet.containers.invalidate() });
  const rows = useMemo(() => q.data?.rows ?? [], [q.data]);
  const pickedList = [...picked.values()];

  const set = (k: keyof typeof f) => (e: { target: { value: string } }) => {
    setF((x) => ({ ...x, [k]: e.target.value }));
    setPage(1);
  };
  const toggle = (r: Picked) =>
    setPicked((m) => {
      const n = new Map(m);
      if (n.has(key(r))) n.delete(key(r));
      else n.set(key(r), r);
      return n;
    });
  const allOnPage = rows.length > 0 && rows.every((r) => picked.has(key(r)));
  const togglePage = () =>
    setPicked((m) => {
      const n = new Map(m);
      for (const r of rows) {
        if (allOnPage) n.delete(key(r));
        else n.set(key(r), { hostId: r.hostId, id: r.id, name: r.name, hostName: r.hostName, image: r.image });
      }
      return n;
    });
  const sortBy = (s: (typeof SORTS)[number]) => {
    if (s === sort) setDesc((d) => !d);
    else {
      setSort(s);
      setDesc(false);
    }
    setPage(1);
  };
  const run = (action: Action) => {
    setAsking(null);
    bulk.mutate({ action, targets: pickedList.map((p) => ({ hostId: p.hostId, id: p.id })), ...(action === 'remove' && force ? { force: true } : {}) }, { onSuccess: () => setPicked(new Map()) });
  };
  const head = (label: string, s: (typeof SORTS)[number]) => (
    <button type="button" className="uppercase hover:text-slate-800" onClick={() => sortBy(s)} data-testid={`sort-${s}`} title={`Sort by ${label.toLowerCase()}`}>
      {label}
      {sort === s ? (desc ? ' ↓' : ' ↑') : ''}
    </button>
  );

  return (
    <div className="space-y-4">
      <div>
        <h1 className="text-xl font-semibold">Containers across hosts</h1>
        <p className="text-sm text-slate-600">Every container of every host you can see; an offline host&apos;s as it last reported them.</p>
      </div>

      <div className="grid grid-cols-2 gap-3 sm:grid-cols-3 lg:grid-cols-6">
        <Field id="ct-text" label="Search" value={f.text} onChange={set('text')} placeholder="name, image, host, id" className="col-span-2 sm:col-span-1" />
        <Field id="ct-name" label="Name" value={f.name} onChange={set('name')} />
        <Field id="ct-image" label="Image" value={f.image} onChange={set('image')} />
        <Field id="ct-host" label="Host" value={f.host} onChange={set('host')} />
        <Field id="ct-label" label="Label" value={f.label} onChange={set('label')} placeholder="key or key=value" />
        <div>
          <label htmlFor="ct-state" className="label">
            State
          </label>
          <select id="ct-state" className="input" value={f.state} onChange={set('state')} data-testid="ct-state">
            <option value="">any</option>
            {STATES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </div>
      </div>

      {canAct ? (
        <div className="flex flex-wrap items-center gap-2" data-testid="bulk-bar">
          <span className="text-sm text-slate-600" data-testid="picked-count">
            {picked.size} selected
          </span>
          {(['stop', 'start', 'restart', 'update', 'remove'] as const).map((a) => (
            <button key={a} type="button" className={a === 'remove' ? 'btn-danger' : 'btn-secondary'} disabled={!picked.size || bulk.isPending} onClick={() => setAsking(a)} data-testid={`bulk-${a}`}>
              {a[0].toUpperCase() + a.slice(1)}
            </button>
          ))}
          {picked.size ? (
            <button type="button" className="text-sm text-sky-700 underline" onClick={() => setPicked(new Map())}>
              Clear selection
            </button>
          ) : null}
          {bulk.isPending ? <span className="text-sm text-slate-600">Working…</span> : null}
        </div>
      ) : null}

      <ErrorText>{q.error?.message ?? bulk.error?.message}</ErrorText>

      {bulk.data ? (
        <div className="card p-3 text-sm" data-testid="bulk-results" role="status">
          <p className="font-medium">
            {bulk.data.ok} done{bulk.data.failed ? `, ${bulk.data.failed} failed` : ''}
          </p>
          <ul className="mt-1 space-y-0.5">
            {bulk.data.results.map((r) => (
              <li key={key(r)} data-testid="bulk-result" data-ok={r.ok} className={r.ok ? 'text-emerald-800' : 'text-red-700'}>
                {r.name} on {r.hostName}: {r.ok ? (r.detail ?? 'done') : r.error}
              </li>
            ))}
          </ul>
        </div>
      ) : null}

      <div className="card overflow-x-auto">
        <table className="min-w-full divide-y divide-slate-200 text-sm" data-testid="containers-table">
          <thead className="bg-slate-50 text-left text-xs font-medium tracking-wide text-slate-500 uppercase">
            <tr>
              {canAct ? (
                <th className="px-4 py-2">
                  <input type="checkbox" checked={allOnPage} onChange={togglePage} aria-label="Select every container on this page" data-testid="pick-page" />
                </th>
              ) : null}
              <th className="px-4 py-2" aria-sort={sort === 'name' ? (desc ? 'descending' : 'ascending') : undefined}>
                {head('Name', 'name')}
              </th>
              <th className="px-4 py-2" aria-sort={sort === 'host' ? (desc ? 'descending' : 'ascending') : undefined}>
                {head('Host', 'host')}
              </th>
              <th className="px-4 py-2" aria-sort={sort === 'image' ? (desc ? 'descending' : 'ascending') : undefined}>
                {head('Image', 'image')}
              </th>
              <th className="px-4 py-2" aria-sort={sort === 'state' ? (desc ? 'descending' : 'ascending') : undefined}>
                {head('State', 'state')}
              </th>
              <th className="px-4 py-2" aria-sort={sort === 'created' ? (desc ? 'descending' : 'ascending') : undefined} title="Sorted by when it was created">
                {head('Status', 'created')}
              </th>
              <th className="px-4 py-2">Labels</th>
            </tr>
          </thead>
          <tbody className="divide-y divide-slate-100">
            {q.isLoading || (q.data && rows.length === 0) ? (
              <tr>
                <td colSpan={canAct ? 7 : 6} className="px-4 py-6 text-center text-slate-500">
                  {q.isLoading ? 'Loading…' : 'No container matches.'}
                </td>
              </tr>
            ) : null}
            {rows.map((r) => (
              <tr key={key(r)} className="hover:bg-slate-50" data-testid="container-row" data-container-name={r.name} data-host-name={r.hostName} data-state={r.state}>
                {canAct ? (
                  <td className="px-4 py-2">
                    <input
                      type="checkbox"
                      checked={picked.has(key(r))}
                      onChange={() => toggle({ hostId: r.hostId, id: r.id, name: r.name, hostName: r.hostName, image: r.image })}
                      aria-label={`Select ${r.name} on ${r.hostName}`}
                      data-testid="pick"
                    />
                  </td>
                ) : null}
                <td className="px-4 py-2 font-medium">
                  <Link href={`/hosts/${r.hostId}/containers/${r.id}`} className="text-sky-700 hover:underline">
                    {r.name}
                  </Link>
                  <span className="ml-2 font-mono text-xs text-slate-400">{shortId(r.id)}</span>
                </td>
                <td className="px-4 py-2 whitespace-nowrap">
                  <Link href={`/hosts/${r.hostId}`} className="hover:underline">
                    {r.hostName}
                  </Link>
                  {r.hostOnline ? null : <span className="ml-1 text-xs text-amber-700">(offline)</span>}
                </td>
                <td className="px-4 py-2 text-slate-700">{r.image}</td>
                <td className="px-4 py-2">
                  <StateBadge state={r.state} testId="container-state" />
                  {r.health ? <span className={`ml-1 text-xs ${r.health === 'unhealthy' ? 'text-red-700' : 'text-slate-500'}`}>{r.health}</span> : null}
                </td>
                <td className="px-4 py-2 text-slate-600">{r.hostOnline ? summaryStatus(r, now) : r.status}</td>
                <td className="px-4 py-2 text-xs text-slate-600">
                  {Object.entries(r.labels)
                    .filter(([k]) => !k.startsWith('com.docker.compose.'))
                    .slice(0, 3)
                    .map(([k, v]) => (
                      <span key={k} className="mr-1 inline-block rounded bg-slate-100 px-1">
                        {v ? `${k}=${v}` : k}
                      </span>
                    ))}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {q.data ? <Pager page={q.data.page} pageSize={q.data.pageSize} total={q.data.total} onPage={setPage} testId="containers-pager" /> : null}

      <ConfirmDialog
        open={asking !== null}
        title={asking ? `${asking[0].toUpperCase() + asking.slice(1)} containers` : ''}
        confirmLabel={asking ? `${asking[0].toUpperCase() + asking.slice(1)} ${picked.size}` : ''}
        onCancel={() => setAsking(null)}
        onConfirm={() => asking && run(asking)}
        testId="bulk-confirm"
      >
        <p data-testid="bulk-sentence">{asking ? bulkSentence(asking, pickedList) : ''}.</p>
        {asking === 'remove' ? (
          <label className="mt-2 flex items-center gap-2 text-sm">
            <input type="checkbox" checked={force} onChange={(e) => setForce(e.target.checked)} data-testid="bulk-force" />
            Also running ones (killed first, as docker rm -f)
          </label>
        ) : null}
      </ConfirmDialog>
    </div>
  );
}
