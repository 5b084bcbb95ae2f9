'use client';
import { usePathname, useRouter, useSearchParams } from 'next/navigation';
import { useMemo, useState } from 'react';
import { useLogView, type ViewSource } from '../../lib/use-log-view';
import { LogPanel } from './log-panel';
import { PREFIX_CLASSES } from './log-row';

/** A log that can be put in the view: a container of a host, running or not, or a removed container's kept log. */
export interface Candidate extends ViewSource {
  state?: string;
  project?: string;
  /** When the container was removed (a kept log). */
  removedAt?: string;
}

export const sourceParam = (s: { hostId: string; containerId: string; kept?: boolean }) => `${s.hostId}/${s.containerId}${s.kept ? '/kept' : ''}`;

/**
 * Several logs interleaved by time, each line with its container's coloured prefix: the
 * containers to show are picked by the reader (and kept in the URL, so the view is a link).
 */
export function MergedLogs({ candidates, title, groupBy = 'project' }: { candidates: Candidate[]; title: string; groupBy?: 'project' | 'host' }) {
  const params = useSearchParams();
  const router = useRouter();
  const path = usePathname();
  // What is chosen lives here (a checkbox answers at once) and in the URL (the view is a link).
  const [keys, setKeys] = useState<{ s: string[]; project: string | null }>(() => ({ s: params?.getAll('s') ?? [], project: params?.get('project') ?? null }));
  const chosen = useMemo(() => candidates.filter((c) => keys.s.includes(sourceParam(c)) || (keys.project !== null && c.project === keys.project && !c.kept)), [keys, candidates]);
  const sources = useMemo(() => chosen.map((c) => ({ hostId: c.hostId, containerId: c.containerId, ...(c.kept ? { kept: true } : {}), name: c.name, hostName: c.hostName })), [chosen]);
  const view = useLogView({ sources, enabled: sources.length > 0 });

  function setChosen(next: Candidate[]) {
    const p = new URLSearchParams();
    for (const c of next) p.append('s', sourceParam(c));
    setKeys({ s: next.map(sourceParam), project: null });
    router.replace(`${path}?${p.toString()}`, { scroll: false });
  }
  const isChosen = (c: Candidate) => chosen.some((x) => sourceParam(x) === sourceParam(c));
  const toggle = (c: Candidate) => setChosen(isChosen(c) ? chosen.filter((x) => sourceParam(x) !== sourceParam(c)) : [...chosen, c]);

  const groups = new Map<string, Candidate[]>();
  for (const c of candidates) {
    const g = c.kept ? 'Removed containers (kept logs)' : groupBy === 'host' ? (c.hostName ?? c.hostId) : c.project ? `Stack ${c.project}` : 'Containers';
    groups.set(g, [...(groups.get(g) ?? []), c]);
  }
  // The colour a chosen container's lines are prefixed with, as the viewer gives them (by order of first line).
  const colourOf = (c: Candidate) => {
    const i = view.store.sources.findIndex((s) => s.hostId === c.hostId && s.containerId === c.containerId);
    return i >= 0 ? PREFIX_CLASSES[i % PREFIX_CLASSES.length] : '';
  };

  return (
    <div className="space-y-4">
      <section className="card p-3" data-testid="log-picker">
        <div className="mb-2 flex flex-wrap items-center gap-2 text-sm">
          <span className="font-medium text-slate-700">Show the logs of</span>
          <button type="button" className="btn-secondary" data-testid="log-pick-running" onClick={() => setChosen(candidates.filter((c) => !c.kept && c.state === 'running'))}>
            every running container
          </button>
          <button type="button" className="btn-secondary" data-testid="log-pick-none" onClick={() => setChosen([])}>
            none
          </button>
        </div>
        <div className="grid gap-3 sm:grid-cols-2 lg:grid-cols-3">
          {[...groups].map(([g, list]) => (
            <fieldset key={g} className="rounded border border-slate-200 p-2" data-testid="log-pick-group" data-group={g}>
              <legend className="flex items-center gap-2 px-1 text-xs font-semibold tracking-wide text-slate-500 uppercase">
                {g}
                {list.length > 1 ? (
                  <button type="button" className="font-normal normal-case text-sky-700 hover:underline" data-testid="log-pick-group-all" onClick={() => setChosen([...chosen.filter((x) => !list.includes(x)), ...list])}>
                    all
                  </button>
                ) : null}
              </legend>
              {list.map((c) => (
                <label key={sourceParam(c)} className="flex items-center gap-2 py-0.5 text-sm" data-testid="log-pick" data-source={sourceParam(c)}>
                  <input type="checkbox" checked={isChosen(c)} onChange={() => toggle(c)} />
                  <span className="font-medium">{groupBy === 'host' || !c.hostName ? c.name : `${c.hostName}/${c.name}`}</span>
                  {c.kept ? <span className="text-xs text-slate-500">removed {c.removedAt ? new Date(c.removedAt).toLocaleString() : ''}</span> : c.state ? <span className="text-xs text-slate-500">{c.state}</span> : null}
                  {isChosen(c) && colourOf(c) ? <span className={`ml-auto h-2 w-2 rounded-full bg-current ${colourOf(c)}`} aria-hidden /> : null}
                </label>
              ))}
            </fieldset>
          ))}
          {candidates.length === 0 ? <p className="text-sm text-slate-500">No containers.</p> : null}
        </div>
      </section>
      {sources.length ? (
        <LogPanel view={view} sources={sources} title={sources.length > 1 ? `${title}: ${sources.length} logs merged` : `${title}: ${chosen[0].name}`} merged={sources.length > 1} heightClass="h-[36rem]" />
      ) : (
        <p className="text-sm text-slate-500" data-testid="log-pick-hint">
          Pick one or more containers above: their logs are shown together, interleaved by time.
        </p>
      )}
    </div>
  );
}
