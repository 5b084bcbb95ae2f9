'use client';
import type { ReactNode } from 'react';

const STATE_STYLES: Record<string, string> = {
  running: 'bg-emerald-50 text-emerald-700 ring-emerald-600/20',
  online: 'bg-emerald-50 text-emerald-700 ring-emerald-600/20',
  paused: 'bg-amber-50 text-amber-700 ring-amber-600/20',
  restarting: 'bg-amber-50 text-amber-700 ring-amber-600/20',
  created: 'bg-sky-50 text-sky-700 ring-sky-600/20',
  removing: 'bg-slate-100 text-slate-600 ring-slate-500/20',
  exited: 'bg-slate-100 text-slate-700 ring-slate-500/20',
  offline: 'bg-slate-100 text-slate-600 ring-slate-500/20',
  dead: 'bg-red-50 text-red-700 ring-red-600/20',
};

/** A container state ("running", "exited" …) or host state ("online", "offline") as a coloured pill. */
export function StateBadge({ state, testId }: { state: string; testId?: string }) {
  const style = STATE_STYLES[state] ?? 'bg-slate-100 text-slate-700 ring-slate-500/20';
  const dot = state === 'running' || state === 'online' ? 'bg-emerald-500' : state === 'dead' ? 'bg-red-500' : 'bg-slate-400';
  return (
    <span
      data-testid={testId}
      data-state={state}
      className={`inline-flex items-center gap-1.5 rounded-full px-2 py-0.5 text-xs font-medium ring-1 ring-inset ${style}`}
    >
      <span aria-hidden className={`h-1.5 w-1.5 rounded-full ${dot}`} />
      {state}
    </span>
  );
}

export function ErrorText({ children, testId }: { children: ReactNode; testId?: string }) {
  if (!children) return null;
  return (
    <p role="alert" data-testid={testId} className="mt-2 rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-700">
      {children}
    </p>
  );
}

export function Notice({ children, testId }: { children: ReactNode; testId?: string }) {
  if (!children) return null;
  return (
    <p role="status" data-testid={testId} className="mt-2 rounded-md border border-emerald-200 bg-emerald-50 px-3 py-2 text-sm text-emerald-800">
      {children}
    </p>
  );
}

export function Section({ title, actions, children }: { title: string; actions?: ReactNode; children: ReactNode }) {
  return (
    <section className="card">
      <div className="flex items-center justify-between border-b border-slate-200 px-4 py-3">
        <h2 className="text-sm font-semibold text-slate-800">{title}</h2>
        {actions}
      </div>
      <div className="p-4">{children}</div>
    </section>
  );
}

/** Definition-list row for facts about a host or container. */
export function Fact({ label, children, testId }: { label: string; children: ReactNode; testId?: string }) {
  return (
    <div className="min-w-0">
      <dt className="text-xs font-medium tracking-wide text-slate-500 uppercase">{label}</dt>
      <dd className="mt-0.5 truncate text-sm text-slate-900" data-testid={testId} title={typeof children === 'string' ? children : undefined}>
        {children}
      </dd>
    </div>
  );
}
