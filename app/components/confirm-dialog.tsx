'use client';
import { useEffect, useId, useRef, useState, type ReactNode } from 'react';

/**
 * A modal question before an action that cannot be taken back. The body says what will
 * happen; Escape, the Cancel button (focused first) and a click outside all cancel. A native <dialog>, so
 * focus stays inside it and nothing needs a script of its own.
 */
export function ConfirmDialog({
  open,
  title,
  children,
  confirmLabel,
  onConfirm,
  onCancel,
  testId = 'confirm-dialog',
}: {
  open: boolean;
  title: string;
  children: ReactNode;
  confirmLabel: string;
  onConfirm: () => void;
  onCancel: () => void;
  testId?: string;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  // Two dialogs on one page (the account page's and its tokens') must not share a title id.
  const titleId = useId();
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);

  return (
    <dialog
      ref={ref}
      data-testid={testId}
      aria-labelledby={titleId}
      onCancel={(e) => {
        e.preventDefault();
        onCancel();
      }}
      onClick={(e) => {
        // The backdrop is the dialog element itself; its content is a child.
        if (e.target === e.currentTarget) onCancel();
      }}
      className="m-auto w-full max-w-md rounded-lg border border-slate-200 bg-white p-0 text-left text-slate-900 shadow-xl backdrop:bg-slate-900/40"
    >
      {open ? (
        <form
          method="dialog"
          className="space-y-4 p-5"
          onSubmit={(e) => {
            e.preventDefault();
            onConfirm();
          }}
        >
          <h2 id={titleId} className="text-base font-semibold">
            {title}
          </h2>
          <div className="space-y-2 text-sm text-slate-700">{children}</div>
          <div className="flex justify-end gap-2">
            <button type="button" className="btn-secondary" onClick={onCancel} data-testid={`${testId}-cancel`} autoFocus>
              Cancel
            </button>
            <button type="submit" className="btn-danger" data-testid={`${testId}-confirm`}>
              {confirmLabel}
            </button>
          </div>
        </form>
      ) : null}
    </dialog>
  );
}

interface Question {
  title: string;
  body: ReactNode;
  confirmLabel: string;
  run: () => void;
}

/**
 * A ConfirmDialog for a page with several destructive buttons: `ask` opens it with what will
 * happen, and the action runs only on confirm. Render `dialog` once on the page.
 */
export function useConfirmation(): { ask: (q: Question) => void; dialog: ReactNode } {
  const [q, setQ] = useState<Question | null>(null);
  const dialog = (
    <ConfirmDialog
      open={!!q}
      title={q?.title ?? ''}
      confirmLabel={q?.confirmLabel ?? 'OK'}
      onCancel={() => setQ(null)}
      onConfirm={() => {
        q?.run();
        setQ(null);
      }}
    >
      {q?.body}
    </ConfirmDialog>
  );
  return { ask: setQ, dialog };
}
