'use client';
// What the host page's Volumes and Networks sections share: a section with "Prune unused"
// (asked first), the create form, one error line and one notice, the table, and the remove
// question; rows with Inspect and Remove buttons and a details row under them. Test ids
// come from the nouns: `${many}-table`, `${one}-remove`, `${one}-remove-dialog` …
import Link from 'next/link';
import { useState, type ReactNode } from 'react';
import { ConfirmDialog } from '../../components/confirm-dialog';
import { DataTable, type Column } from '../../components/data-table';
import { ErrorText, Notice, Section } from '../../components/ui';
import { shortId } from '../../lib/format';

export interface Nouns {
  /** "volume": row and dialog test ids. */
  one: string;
  /** "volumes": the section's test ids. */
  many: string;
  /** "Volumes": the section's title. */
  title: string;
}

/** "a=1, b" for labels and options (a key with an empty value shows alone, as it was given). */
export const pairs = (m: Record<string, string>) =>
  Object.entries(m)
    .map(([k, v]) => (v === '' ? k : `${k}=${v}`))
    .join(', ');

export function ResourceSection({
  nouns,
  count,
  canOperate,
  online,
  create,
  error,
  notice,
  columns,
  loading,
  empty,
  prune,
  remove,
  children,
}: {
  nouns: Nouns;
  /** undefined while the list has not come yet. */
  count: number | undefined;
  canOperate: boolean;
  online: boolean;
  /** The create form, shown to operators. */
  create: ReactNode;
  error: string | undefined;
  notice: ReactNode;
  columns: (string | Column)[];
  loading: boolean;
  empty: ReactNode;
  prune: { pending: boolean; run: () => void; title: string; body: ReactNode };
  remove: { run: (name: string) => void; body: ReactNode };
  /** The rows; `askRemove(name)` asks first and then runs remove.run(name). */
  children: (askRemove: (name: string) => void) => ReactNode;
}) {
  const [removing, setRemoving] = useState<string | null>(null);
  const [pruning, setPruning] = useState(false);
  const { one, many } = nouns;
  return (
    <Section
      title={`${nouns.title} (${count ?? '…'})`}
      actions={
        canOperate ? (
          <button type="button" className="btn-secondary px-2 py-1 text-xs" disabled={!online || prune.pending} onClick={() => setPruning(true)} data-testid={`${many}-prune`}>
            {prune.pending ? 'Pruning…' : 'Prune unused'}
          </button>
        ) : null
      }
    >
      {canOperate ? create : null}
      <ErrorText testId={`${many}-error`}>{error}</ErrorText>
      <Notice testId={`${many}-pruned`}>{notice}</Notice>
      <div className={canOperate ? 'mt-4' : ''}>
        <DataTable testId={`${many}-table`} columns={columns} loading={loading} empty={empty}>
          {children(setRemoving)}
        </DataTable>
      </div>
      <ConfirmDialog
        open={removing !== null}
        title={`Remove ${one} ${removing ?? ''}?`}
        confirmLabel="Remove"
        testId={`${one}-remove-dialog`}
        onCancel={() => setRemoving(null)}
        onConfirm={() => {
          if (removing) remove.run(removing);
          setRemoving(null);
        }}
      >
        {remove.body}
      </ConfirmDialog>
      <ConfirmDialog
        open={pruning}
        title={prune.title}
        confirmLabel="Prune"
        testId={`${many}-prune-dialog`}
        onCancel={() => setPruning(false)}
        onConfirm={() => {
          prune.run();
          setPruning(false);
        }}
      >
        {prune.body}
      </ConfirmDialog>
    </Section>
  );
}

/** A row's Inspect toggle, and Remove for operators (left out where `removable` is false). */
export function RowActions({
  one,
  open,
  onToggle,
  canOperate,
  removable = true,
  online,
  onRemove,
}: {
  one: string;
  open: boolean;
  onToggle: () => void;
  canOperate: boolean;
  removable?: boolean;
  online: boolean;
  onRemove: () => void;
}) {
  return (
    <td className="space-x-2 px-4 py-2.5 text-right whitespace-nowrap">
      <button type="button" className="btn-secondary px-2 py-1 text-xs" onClick={onToggle} aria-expanded={open} data-testid={`${one}-inspect`}>
        {open ? 'Hide' : 'Inspect'}
      </button>
      {canOperate && removable ? (
        <button type="button" className="btn-danger px-2 py-1 text-xs" disabled={!online} onClick={onRemove} data-testid={`${one}-remove`}>
          Remove
        </button>
      ) : null}
    </td>
  );
}

/** The full-width row under an opened one: `${one}-details`, with data-${one}-name. */
export function DetailsRow({ one, name, colSpan, children }: { one: string; name: string; colSpan: number; children: ReactNode }) {
  return (
    <tr data-testid={`${one}-details`} {...{ [`data-${one}-name`]: name }}>
      <td colSpan={colSpan} className="bg-slate-50 px-4 py-3">
        {children}
      </td>
    </tr>
  );
}

/** Label → value, each value with the test id `${one}-inspect-${label in kebab case}`. */
export function InspectList({ one, rows }: { one: string; rows: Array<[string, ReactNode]> }) {
  return (
    <dl className="grid grid-cols-[8rem_1fr] gap-x-4 gap-y-1 text-sm" data-testid={`${one}-inspect-view`}>
      {rows.map(([k, val]) => (
        <div key={k} className="contents">
          <dt className="text-slate-500">{k}</dt>
          <dd className="font-mono text-xs break-all text-slate-800" data-testid={`${one}-inspect-${k.toLowerCase().replace(/ /g, '-')}`}>
            {val}
          </dd>
        </div>
      ))}
    </dl>
  );
}

/** Containers by id, each a link to its page under the name the host gave it. */
export function ContainerLinks({ hostId, ids, names, none }: { hostId: string; ids: string[]; names: Map<string, string>; none: string }) {
  if (!ids.length) return <span className="text-slate-400">{none}</span>;
  return (
    <>
      {ids.map((id) => (
        <Link key={id} href={`/hosts/${hostId}/containers/${id}`} className="mr-2 text-sky-700 hover:underline">
          {names.get(id) ?? shortId(id)}
        </Link>
      ))}
    </>
  );
}

/** A textarea of key=value lines (labels, driver options), with its label. */
export function KeyValueArea({ id, label, value, onChange, placeholder, className = 'w-56' }: { id: string; label: string; value: string; onChange: (v: string) => void; placeholder: string; className?: string }) {
  return (
    <div className={className}>
      <label htmlFor={id} className="label">
        {label}
      </label>
      <textarea id={id} className="input h-16 font-mono text-xs" value={value} onChange={(e) => onChange(e.target.value)} placeholder={placeholder} />
    </div>
  );
}
