'use client';
import { useRef, useState, type ReactNode } from 'react';
import type { ContainerRecord } from '../../protocol/container';
import { formatBytes, shellJoin } from '../lib/format';
import { healthDuration, healthTest, HEALTH_DEFAULTS } from './container-health';

function Block({ title, testId, children }: { title: string; testId: string; children: ReactNode }) {
  return (
    <div data-testid={testId}>
      <h3 className="mb-1 text-xs font-semibold tracking-wide text-slate-500 uppercase">{title}</h3>
      {children}
    </div>
  );
}

function Rows({ rows, testId }: { rows: Array<[string, ReactNode]>; testId?: string }) {
  return (
    <table className="w-full text-left text-sm" data-testid={testId}>
      <tbody className="divide-y divide-slate-100">
        {rows.map(([k, v]) => (
          <tr key={k} className="align-top">
            <th scope="row" className="w-1/3 py-1 pr-3 font-mono text-xs font-normal break-all text-slate-600">
              {k}
            </th>
            <td className="py-1 font-mono text-xs break-all text-slate-900">{v}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

const None = ({ children, testId }: { children: ReactNode; testId?: string }) => (
  <p className="text-sm text-slate-500" data-testid={testId}>
    {children}
  </p>
);

function envRows(env: string[]): Array<[string, string]> {
  return env.map((e) => {
    const eq = e.indexOf('=');
    return eq < 0 ? [e, ''] : [e.slice(0, eq), e.slice(eq + 1)];
  });
}

function swapText(memory: number, swap: number): string {
  if (swap === -1) return 'unlimited swap';
  if (swap === 0) return memory ? `${formatBytes(memory * 2)} (twice the memory, Docker's default)` : 'unlimited';
  return formatBytes(swap);
}

/** The record, readable: process, environment, labels, mounts, ports, limits, restart policy, healthcheck. */
export function ContainerInspectView({ record }: { record: ContainerRecord }) {
  const { spec } = record;
  const r = spec.resources;
  const labels = Object.entries(spec.labels);
  const h = spec.health;
  return (
    <div className="space-y-5" data-testid="inspect-readable">
      <Block title="Process" testId="inspect-process">
        <Rows
          rows={[
            ['Entrypoint', spec.process.entrypoint.length ? shellJoin(spec.process.entrypoint) : '—'],
            ['Command', spec.process.cmd.length ? shellJoin(spec.process.cmd) : '—'],
            ['Working dir', spec.process.workingDir || '/'],
            ['User', spec.process.user || 'root (the image’s default)'],
            ['TTY', spec.process.tty ? 'yes' : 'no'],
            ['Hostname', spec.network.hostname || '—'],
            ['Network', spec.network.mode === 'default' ? 'its own namespace (loopback only for now)' : spec.network.mode],
          ]}
        />
      </Block>

      <Block title={`Environment (${spec.process.env.length})`} testId="inspect-env">
        {spec.process.env.length ? <Rows rows={envRows(spec.process.env)} testId="inspect-env-table" /> : <None>No environment variables.</None>}
      </Block>

      <Block title={`Labels (${labels.length})`} testId="inspect-labels">
        {labels.length ? <Rows rows={labels} testId="inspect-labels-table" /> : <None>No labels.</None>}
      </Block>

      <Block title="Mounts" testId="inspect-mounts">
        <None testId="inspect-mounts-none">None. Volumes and bind mounts are not supported by this engine yet; the container sees only its image and its own changes.</None>
      </Block>

      <Block title="Ports" testId="inspect-ports">
        <None testId="inspect-ports-none">
          {spec.network.mode === 'host'
            ? 'None published: it uses the host’s network, so what it listens on is the host’s.'
            : 'None. Publishing ports is not supported yet: the container is reachable only from inside it.'}
        </None>
      </Block>

      <Block title="Limits" testId="inspect-limits">
        <Rows
          rows={[
            ['Memory', r.memory ? formatBytes(r.memory) : 'unlimited'],
            ['Memory + swap', swapText(r.memory, r.memorySwap)],
            ['CPUs', r.nanoCpus ? String(r.nanoCpus / 1e9) : 'unlimited'],
            ['CPU shares', r.cpuShares ? String(r.cpuShares) : '1024 (default)'],
            ['PIDs', r.pidsLimit > 0 ? String(r.pidsLimit) : 'unlimited'],
          ]}
        />
      </Block>

      <Block title="Restart policy" testId="inspect-restart">
        <Rows
          rows={[
            ['Policy', spec.restart.policy + (spec.restart.policy === 'on-failure' && spec.restart.maxRetries ? ` (at most ${spec.restart.maxRetries} restarts)` : '')],
            ['Restarts so far', String(record.restartCount)],
            ['Remove when stopped', spec.restart.autoRemove ? 'yes (--rm)' : 'no'],
          ]}
        />
      </Block>

      <Block title="Healthcheck" testId="inspect-health">
        {h ? (
          <Rows
            rows={[
              ['Test', `${h.test[0]} ${healthTest(h.test)}`],
              ['Interval', healthDuration(h.intervalNs, 'intervalNs')],
              ['Timeout', healthDuration(h.timeoutNs, 'timeoutNs')],
              ['Retries', h.retries > 0 ? String(h.retries) : `${HEALTH_DEFAULTS.retries} (default)`],
              ['Start period', h.startPeriodNs > 0 ? healthDuration(h.startPeriodNs, 'startPeriodNs') : 'none'],
              ['Start interval', healthDuration(h.startIntervalNs, 'startIntervalNs')],
            ]}
          />
        ) : (
          <None>None (neither the image nor the container defines one).</None>
        )}
      </Block>
    </div>
  );
}

/** The record as the agent sent it, folded by default, with a button that copies it. */
export function RawJson({ value }: { value: unknown }) {
  const text = JSON.stringify(value, null, 2);
  const pre = useRef<HTMLPreElement>(null);
  const [copied, setCopied] = useState<'yes' | 'no' | null>(null);

  async function copy() {
    try {
      await navigator.clipboard.writeText(text);
      setCopied('yes');
    } catch {
      // No clipboard API outside a secure context (plain http to another host): select it for Ctrl-C.
      const el = pre.current;
      if (el) {
        const range = document.createRange();
        range.selectNodeContents(el);
        const sel = window.getSelection();
        sel?.removeAllRanges();
        sel?.addRange(range);
      }
      setCopied('no');
    }
  }

  return (
    <details className="group rounded-md border border-slate-200" data-testid="inspect-raw">
      <summary className="flex cursor-pointer items-center justify-between gap-2 px-3 py-2 text-sm font-medium text-slate-700 select-none">
        <span>
          Raw JSON <span className="text-xs font-normal text-slate-500">(the engine’s record, {text.length.toLocaleString()} characters)</span>
        </span>
        <span className="text-xs text-slate-400 group-open:hidden">show</span>
        <span className="hidden text-xs text-slate-400 group-open:inline">hide</span>
      </summary>
      <div className="border-t border-slate-200">
        <div className="flex items-center justify-end gap-2 px-3 py-1.5">
          {copied ? (
            <span className="text-xs text-slate-500" role="status" data-testid="inspect-copy-status">
              {copied === 'yes' ? 'Copied.' : 'Selected: press Ctrl-C to copy.'}
            </span>
          ) : null}
          <button type="button" className="btn-secondary px-2 py-1 text-xs" onClick={() => void copy()} data-testid="inspect-copy">
            Copy
          </button>
        </div>
        <pre ref={pre} className="max-h-[36rem] overflow-auto bg-slate-50 px-3 py-2 font-mono text-xs leading-5 text-slate-800" data-testid="inspect-raw-json">
          {text}
        </pre>
      </div>
    </details>
  );
}
