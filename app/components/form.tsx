'use client';
import type { FormEvent, InputHTMLAttributes, ReactNode } from 'react';
import { ErrorText } from './ui';

/** An input with its label; the label names the input for screen readers and tests. */
export function Field({
  id,
  label,
  className,
  inputClassName,
  children,
  ...input
}: {
  id: string;
  label: string;
  /** Classes for the wrapper: its place in the form's layout. */
  className?: string;
  inputClassName?: string;
  /** Goes after the input, e.g. its <datalist>. */
  children?: ReactNode;
} & Omit<InputHTMLAttributes<HTMLInputElement>, 'id' | 'className' | 'children'>) {
  return (
    <div className={className}>
      <label htmlFor={id} className="label">
        {label}
      </label>
      <input id={id} className={inputClassName ? `input ${inputClassName}` : 'input'} {...input} />
      {children}
    </div>
  );
}

/**
 * A form with one submit button that reads `pendingLabel` and is disabled while the
 * request runs, and the error line under it. 'stack': fields above each other, the
 * error and the button at the bottom; 'row': fields and button on one line, the error below.
 */
export function Form({
  onSubmit,
  testId,
  labelledBy,
  layout = 'stack',
  className = '',
  submitLabel,
  pendingLabel,
  pending,
  canSubmit = true,
  wideSubmit = false,
  error,
  errorTestId,
  children,
}: {
  onSubmit: () => void;
  testId: string;
  labelledBy?: string;
  layout?: 'stack' | 'row';
  className?: string;
  submitLabel: string;
  pendingLabel: string;
  pending: boolean;
  /** False keeps the button disabled, e.g. while a required field is blank. */
  canSubmit?: boolean;
  wideSubmit?: boolean;
  error?: string | null;
  errorTestId?: string;
  children: ReactNode;
}) {
  function submit(e: FormEvent) {
    e.preventDefault();
    onSubmit();
  }
  const button = (
    <button type="submit" className={wideSubmit ? 'btn-primary w-full' : 'btn-primary'} disabled={pending || !canSubmit}>
      {pending ? pendingLabel : submitLabel}
    </button>
  );
  const errorLine = <ErrorText testId={errorTestId}>{error}</ErrorText>;

  if (layout === 'row') {
    return (
      <>
        <form onSubmit={submit} className={`flex flex-wrap items-end gap-3 ${className}`} aria-labelledby={labelledBy} data-testid={testId}>
          {children}
          {button}
        </form>
        {errorLine}
      </>
    );
  }
  return (
    <form onSubmit={submit} className={`space-y-4 ${className}`} aria-labelledby={labelledBy} data-testid={testId}>
      {children}
      {errorLine}
      {wideSubmit ? button : <div className="flex justify-end">{button}</div>}
    </form>
  );
}
