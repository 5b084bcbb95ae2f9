'use client';
// Images, volumes and networks across the fleet, host by host: what is where, what uses it,
// and what nothing uses; an operator prunes a host's unused ones after a confirmation that
// lists them. A page of hosts at a time (volumes and networks are asked of their agents).
import Link from 'next/link';
import { useState } from 'react';
import { ConfirmDialog } from '../components/confirm-dialog';
import { Field } from '../components/form';
import { Pager } from '../components/pager';
import { ErrorText, Notice } from '../components/ui';
import { hasRole } from '../../protocol/roles';
import { formatBytes } from '../lib/format';
import { useHostsChanged } from '../lib/socket';
import { trpc } from '../lib/trpc';
import { useRole } from '../lib/use-role';

type Kind = 'images' | 'volumes' | 'networks';
const KINDS: Kind[] = ['volumes', 'networks', 'images'];
const PAGE_HOSTS = 10;

interface Asked {
  hostId: string;
  hostName: string;
  names: string[];
}

export default function FleetResourcesPage() {
  const utils = trpc.useUtils();
  const canPrune = hasRole(useRole(), 'operator');
  const [kind, setKind] = useState<Kind>('volumes');
  const [text, setText] = useState('');
  const [unused, setUnused] = useState(false);
  const [page, setPage] = useState(1);
  const [asked, setAsked] = useState<Asked | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const q = trpc.fleet.resources.useQuery({ kind, text: text.trim() || undefined, unused, page, pageSize: PAGE_HOSTS }, { placeholderData: (prev) => prev });
  useHostsChanged(() => void utils.fleet.resources.invalidate());
  const after = (what: string) => ({
    onSuccess: (n: number) => {
      setDone(`${what}: ${n} removed`);
      void utils.fleet.resources.invalidate();
    },
  });
  const pruneVolumes = trpc.volumes.prune.useMutation();
  const pruneNetworks = trpc.networks.prune.useMutation();
  const pruneImages = trpc.images.prune.useMutation();
  const pending = pruneVolumes.isPending || pruneNetworks.isPending || pruneImages.isPending;
  const error = pruneVolumes.error?.message ?? pruneNetworks.error?.message ?? pruneImages.error?.message;

  const prune = (a: Asked) => {
    setAsked(null);
    setDone(null);
    const label = `${a.hostName}`;
    if (kind === 'volumes') pruneVolumes.mutate({ hostId: a.hostId }, { onSuccess: (r) => after(`Unused volumes on ${label}`).onSuccess(r?.deleted?.length ?? 0) });
    else if (kind === 'networks') pruneNetworks.mutate({ hostId: a.hostId }, { onSuccess: (r) => after(`Unused networks on ${label}`).onSuccess(r?.deleted?.length ?? 0) });
    else pruneImages.mutate({ hostId: a.hostId, all: true }, { onSuccess: (r) => after(`Unused images on ${label}`).onSuccess(r.deleted.filter((d) => d.Deleted).length) });
  };
  const what = kind === 'images' ? 'image' : kind === 'volumes' ? 'volume' : 'network';

  return (
    <div className="space-y-4">
      <div>
        <h1 className="text-xl font-semibold">Volumes, networks and images across the fleet</h1>
        <p className="text-sm text-slate-600">What is on each host, what uses it, and what nothing uses.</p>
      </div>
      <div className="flex flex-wrap items-end gap-3">
        <div className="flex gap-1" role="tablist" aria-label="Kind">
          {KINDS.map((k) => (
            <button
              key={k}
              type="button"
              role="tab"
              aria-selected={kind === k}
              className={kind === k ? 'btn-primary' : 'btn-secondary'}
              onClick={() => {
                setKind(k);
                setPage(1);
                setDone(null);
              }}
              data-testid={`kind-${k}`}
            >
              {k[0].toUpperCase() + k.slice(1)}
            </button>
          ))}
        </div>
        <Field
          id="res-host"
          label="Host"
          className="w-full sm:w-60"
          value={text}
          onChange={(e) => {
            setText(e.target.value);
            setPage(1);
          }}
        />
        <label className="flex items-center gap-2 pb-2 text-sm">
          <input type="checkbox" checked={unused} onChange={(e) => setUnused(e.target.checked)} data-testid="unused-only" />
          Unused only
        </label>
      </div>
      <ErrorText>{q.error?.message ?? error}</ErrorText>
      <Notice testId="prune-done">{done}</Notice>
      {q.isLoading ? <p className="text-sm text-slate-500">Loading…</p> : null}
      {q.data?.hosts.length === 0 ? <p className="text-sm text-slate-500">No host matches.</p> : null}
      {q.data?.hosts.map((h) => {
        const idle = h.items.filter((i) => i.usedBy.length === 0 && !i.builtin);
        return (
          <section key={h.hostId} className="card" data-testid="resource-host" data-host-name={h.hostName}>
            <div className="flex flex-wrap items-center justify-between gap-2 border-b border-slate-200 px-4 py-2">
              <h2 className="text-sm font-semibold">
                <Link href={`/hosts/${h.hostId}`} className="text-sky-700 hover:underline">
                  {h.hostName}
                </Link>
                <span className="ml-2 font-normal text-slate-500">
                  {h.error ? h.error : `${h.items.length} ${what}${h.items.length === 1 ? '' : 's'}${unused ? ' unused' : `, ${idle.length} unused`}`}
                </span>
              </h2>
              {canPrune && h.online && idle.length ? (
                <button type="button" className="btn-danger px-2 py-1 text-xs" disabled={pending} onClick={() => setAsked({ hostId: h.hostId, hostName: h.hostName, names: idle.map((i) => i.name) })} data-testid="prune">
                  Prune unused
                </button>
              ) : null}
            </div>
            {h.items.length ? (
              <ul className="divide-y divide-slate-100 text-sm">
                {h.items.map((i) => (
                  <li key={i.key} className="flex flex-wrap items-baseline justify-between gap-2 px-4 py-1.5" data-testid="resource-item" data-name={i.name} data-used={i.usedBy.length > 0}>
                    <span className="min-w-0 truncate">
                      <span className="font-medium">{i.name}</span>
                      {i.detail ? <span className="ml-2 text-xs text-slate-500">{i.detail}</span> : null}
                      {i.size !== undefined ? <span className="ml-2 text-xs text-slate-500">{formatBytes(i.size)}</span> : null}
                    </span>
                    <span className="text-xs text-slate-600">{i.builtin ? 'built in' : i.usedBy.length ? `used by ${i.usedBy.slice(0, 5).join(', ')}${i.usedBy.length > 5 ? ` and ${i.usedBy.length - 5} more` : ''}` : <span className="text-amber-700">unused</span>}</span>
                  </li>
                ))}
              </ul>
            ) : null}
          </section>
        );
      })}
      {q.data ? <Pager page={q.data.page} pageSize={q.data.pageSize} total={q.data.total} onPage={setPage} testId="resources-pager" /> : null}
      <ConfirmDialog
        open={asked !== null}
        title={`Prune unused ${kind}`}
        confirmLabel={`Prune ${asked?.names.length ?? 0}`}
        onCancel={() => setAsked(null)}
        onConfirm={() => asked && prune(asked)}
        testId="prune-confirm"
      >
        <p data-testid="prune-sentence">
          {asked
            ? `Remove ${asked.names.length} unused ${what}${asked.names.length === 1 ? '' : 's'} on ${asked.hostName}: ${asked.names.join(', ')}${kind === 'volumes' ? (asked.names.length === 1 ? ' (with its data)' : ' (with their data)') : ''}.`
            : ''}
        </p>
        <p className="text-xs text-slate-500">The host decides again as it prunes: what came into use meanwhile stays.</p>
      </ConfirmDialog>
    </div>
  );
}
