'use client';
// A plain textarea with line numbers beside it: the lines with a problem are marked in the
// gutter. The textarea is as tall as its text and the box around both scrolls, so the
// numbers stay beside their lines without any script keeping them in step.

export function CodeEditor({
  id,
  label,
  value,
  onChange,
  badLines,
  readOnly,
  testId,
  placeholder,
}: {
  id: string;
  label: string;
  value: string;
  onChange: (v: string) => void;
  badLines?: ReadonlySet<number>;
  readOnly?: boolean;
  testId: string;
  placeholder?: string;
}) {
  const lines = Math.max(1, value.split('\n').length);
  return (
    <div>
      <label htmlFor={id} className="mb-1 block text-sm font-medium text-slate-700">
        {label}
      </label>
      <div className="flex max-h-[32rem] overflow-auto rounded-md border border-slate-300 bg-white focus-within:ring-2 focus-within:ring-sky-500">
        <pre aria-hidden className="shrink-0 select-none border-r border-slate-200 bg-slate-50 py-2 pr-2 pl-3 text-right font-mono text-sm leading-5 text-slate-400" data-testid={`${testId}-gutter`}>
          {Array.from({ length: lines }, (_, i) => (
            <span key={i} className={badLines?.has(i + 1) ? 'block font-bold text-red-600' : 'block'} data-bad={badLines?.has(i + 1) ? 'true' : undefined}>
              {i + 1}
            </span>
          ))}
        </pre>
        <textarea
          id={id}
          data-testid={testId}
          className="min-w-0 flex-1 resize-none overflow-x-auto overflow-y-hidden bg-transparent px-3 py-2 font-mono text-sm leading-5 whitespace-pre outline-none"
          rows={lines}
          wrap="off"
          spellCheck={false}
          autoCapitalize="off"
          autoComplete="off"
          readOnly={readOnly}
          placeholder={placeholder}
          value={value}
          onChange={(e) => onChange(e.target.value)}
        />
      </div>
    </div>
  );
}
