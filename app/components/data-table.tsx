'use client';
import type { ReactNode } from 'react';

export interface Column {
  label: string;
  /** Numbers and action buttons line up on the right. */
  align?: 'right';
}

/**
 * A table with a header row, and one full-width row saying "Loading…" or why it is
 * empty in place of the body rows. `flush` when it sits inside a padded Section.
 */
export function DataTable({
  columns,
  testId,
  loading = false,
  empty,
  flush = false,
  children,
}: {
  columns: (string | Column)[];
  testId: string;
  loading?: boolean;
  /** Shown instead of the rows when set; the caller decides what "empty" means. */
  empty?: ReactNode;
  flush?: boolean;
  children?: ReactNode;
}) {
  const cols = columns.map((c) => (typeof c === 'string' ? { label: c } : c));
  const placeholder = loading ? 'Loading…' : empty;
  return (
    <div className={flush ? '-m-4 overflow-x-auto' : 'card overflow-x-auto'}>
      <table className="min-w-full divide-y divide-slate-200 text-sm" data-testid={testId}>
        <thead className="bg-slate-50 text-left text-xs font-medium tracking-wide text-slate-500 uppercase">
          <tr>
            {cols.map((c) => (
              <th key={c.label} className={c.align === 'right' ? 'px-4 py-2 text-right' : 'px-4 py-2'}>
                {c.label}
              </th>
            ))}
          </tr>
        </thead>
        <tbody className="divide-y divide-slate-100">
          {placeholder ? (
            <tr>
              <td colSpan={cols.length} className="px-4 py-6 text-center text-slate-500">
                {placeholder}
              </td>
            </tr>
          ) : (
            children
          )}
        </tbody>
      </table>
    </div>
  );
}
