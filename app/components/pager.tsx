'use client';

/** "Rows 51–100 of 230" with Previous and Next; the pages themselves are cut on the server. */
export function Pager({ page, pageSize, total, onPage, testId = 'pager' }: { page: number; pageSize: number; total: number; onPage: (p: number) => void; testId?: string }) {
  const last = Math.max(1, Math.ceil(total / pageSize));
  if (total <= pageSize && page === 1) return null;
  const from = total === 0 ? 0 : (page - 1) * pageSize + 1;
  const to = Math.min(total, page * pageSize);
  return (
    <div className="mt-3 flex items-center justify-between text-sm text-slate-600" data-testid={testId}>
      <span data-testid={`${testId}-range`}>
        Rows {from}–{to} of {total} (page {page} of {last})
      </span>
      <span className="space-x-2">
        <button type="button" className="btn-secondary px-2 py-1 text-xs" disabled={page <= 1} onClick={() => onPage(page - 1)} data-testid={`${testId}-prev`}>
          Previous
        </button>
        <button type="button" className="btn-secondary px-2 py-1 text-xs" disabled={page >= last} onClick={() => onPage(page + 1)} data-testid={`${testId}-next`}>
          Next
        </button>
      </span>
    </div>
  );
}
