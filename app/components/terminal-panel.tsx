'use client';
// A shell in the container, in the browser: xterm.js over the page's '/ui' socket; the
// control plane relays to the agent, which runs the shell as an exec with a TTY. Output
// is acked only once xterm.js has drawn it, so a flood (`yes`) is held back at the TTY in
// the container instead of piling up in the page; input is sent one message at a time.
import '@xterm/xterm/css/xterm.css';
import type { FitAddon } from '@xterm/addon-fit';
import type { Terminal } from '@xterm/xterm';
import { useCallback, useEffect, useRef, useState } from 'react';
import { TERM_INPUT_MAX, TERMINAL_SHELLS, type TerminalShell, type TermEnd } from '../../protocol/ui-socket';
import { allowScriptedStyles } from '../lib/csp-styles';
import { useSocket, type UiSocket } from '../lib/socket';
import { ErrorText } from './ui';

type Phase = { kind: 'idle' } | { kind: 'opening' } | { kind: 'open'; sessionId: string } | { kind: 'ended'; text: string };

/** Splits a paste into messages the server takes, never between the halves of a surrogate pair. */
function chunks(data: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < data.length; ) {
    let end = Math.min(data.length, i + TERM_INPUT_MAX);
    if (end < data.length && /[\uD800-\uDBFF]/.test(data[end - 1])) end--;
    out.push(data.slice(i, end));
    i = end;
  }
  return out;
}

function endText(e: TermEnd): string {
  return `session ended: ${e.reason}${e.exitCode !== null ? ` (exit code ${e.exitCode})` : ''}`;
}

export function TerminalPanel({ hostId, containerId, running, hostOnline }: { hostId: string; containerId: string; running: boolean; hostOnline: boolean }) {
  const { socket, connected } = useSocket();
  const [shell, setShell] = useState<TerminalShell>('/bin/sh');
  const [user, setUser] = useState('');
  const [phase, setPhase] = useState<Phase>({ kind: 'idle' });
  const [error, setError] = useState<string | null>(null);
  const [size, setSize] = useState<{ cols: number; rows: number } | null>(null);
  const box = useRef<HTMLDivElement>(null);
  const term = useRef<Terminal | null>(null);
  const fit = useRef<FitAddon | null>(null);
  const session = useRef<string | null>(null);
  const sock = useRef<UiSocket | null>(null);
  const input = useRef<{ queue: string[]; busy: boolean }>({ queue: [], busy: false });

  // The terminal itself lives as long as the panel; sessions come and go in it.
  useEffect(() => {
    let disposed = false;
    let observer: ResizeObserver | undefined;
    void (async () => {
      const [{ Terminal }, { FitAddon }] = await Promise.all([import('@xterm/xterm'), import('@xterm/addon-fit')]);
      if (disposed || !box.current) return;
      allowScriptedStyles();
      const t = new Terminal({
        cursorBlink: true,
        fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace',
        fontSize: 13,
        scrollback: 5000,
        theme: { background: '#0f172a', foreground: '#e2e8f0', cursor: '#e2e8f0' },
      });
      const f = new FitAddon();
      t.loadAddon(f);
      t.open(box.current);
      f.fit();
      term.current = t;
      fit.current = f;
      setSize({ cols: t.cols, rows: t.rows });
      t.onResize(({ cols, rows }) => {
        setSize({ cols, rows });
        const id = session.current;
        if (id) sock.current?.emit('term:resize', { sessionId: id, size: { cols, rows } });
      });
      t.onData((data) => {
        if (!session.current) return;
        input.current.queue.push(...chunks(data));
        void pumpInput();
      });
      observer = new ResizeObserver(() => fit.current?.fit());
      observer.observe(box.current);
    })();
    return () => {
      disposed = true;
      observer?.disconnect();
      term.current?.dispose();
      term.current = null;
      fit.current = null;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  const pumpInput = useCallback(async () => {
    const q = input.current;
    if (q.busy) return;
    q.busy = true;
    try {
      while (q.queue.length && session.current && sock.current) {
        const data = q.queue.shift()!;
        const res = await sock.current.emitWithAck('term:input', { sessionId: session.current, data });
        if (!res.ok) {
          setError(res.error ?? 'input refused');
          q.queue = [];
        }
      }
    } catch (err) {
      setError((err as Error).message);
      q.queue = [];
    } finally {
      q.busy = false;
    }
  }, []);

  // Output and ends of our session on the current socket.
  useEffect(() => {
    sock.current = socket;
    if (!socket) return;
    const onData = (msg: { sessionId: string; data: ArrayBuffer | Uint8Array }, ack: () => void) => {
      const t = term.current;
      if (!t || msg.sessionId !== session.current) return ack();
      t.write(msg.data instanceof Uint8Array ? msg.data : new Uint8Array(msg.data), ack);
    };
    const onEnd = (e: TermEnd) => {
      if (e.sessionId !== session.current) return;
      session.current = null;
      input.current.queue = [];
      term.current?.write(`\r\n\x1b[2m[${endText(e)}]\x1b[0m\r\n`);
      setPhase({ kind: 'ended', text: endText(e) });
    };
    const onDisconnect = () => {
      if (!session.current) return;
      session.current = null;
      term.current?.write('\r\n\x1b[2m[connection to the server lost: session ended]\x1b[0m\r\n');
      setPhase({ kind: 'ended', text: 'session ended: connection to the server lost' });
    };
    socket.on('term:data', onData);
    socket.on('term:end', onEnd);
    socket.on('disconnect', onDisconnect);
    return () => {
      socket.off('term:data', onData);
      socket.off('term:end', onEnd);
      socket.off('disconnect', onDisconnect);
    };
  }, [socket]);

  // Leaving the page (or the tab) hangs up.
  useEffect(
    () => () => {
      if (session.current) sock.current?.emit('term:close', session.current);
      session.current = null;
    },
    [],
  );

  const open = async () => {
    const t = term.current;
    if (!socket || !t) return;
    setError(null);
    setPhase({ kind: 'opening' });
    fit.current?.fit();
    t.reset();
    try {
      const res = await socket.emitWithAck('term:open', { hostId, containerId, shell, ...(user.trim() ? { user: user.trim() } : {}), size: { cols: t.cols, rows: t.rows } });
      if (!res.ok || !res.sessionId) {
        setError(res.error ?? 'the terminal could not be opened');
        setPhase({ kind: 'idle' });
        return;
      }
      session.current = res.sessionId;
      setPhase({ kind: 'open', sessionId: res.sessionId });
      t.focus();
    } catch (err) {
      setError((err as Error).message);
      setPhase({ kind: 'idle' });
    }
  };

  const close = () => {
    if (session.current) socket?.emit('term:close', session.current);
  };

  const busy = phase.kind === 'opening' || phase.kind === 'open';
  // The size is known once xterm has loaded: until then Connect has nothing to draw into.
  const canOpen = !!size && !!socket && connected && running && hostOnline && !busy;
  return (
    <section className="card p-4" data-testid="terminal-panel">
      <div className="mb-3 flex flex-wrap items-end gap-3">
        <label className="text-sm">
          <span className="block text-xs font-medium tracking-wide text-slate-500 uppercase">Shell</span>
          <select className="mt-0.5 rounded-md border border-slate-300 px-2 py-1 text-sm" value={shell} disabled={busy} onChange={(e) => setShell(e.target.value as TerminalShell)}>
            {TERMINAL_SHELLS.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label className="text-sm">
          <span className="block text-xs font-medium tracking-wide text-slate-500 uppercase">User</span>
          <input
            className="mt-0.5 w-40 rounded-md border border-slate-300 px-2 py-1 font-mono text-sm"
            value={user}
            disabled={busy}
            placeholder="container's user"
            onChange={(e) => setUser(e.target.value)}
          />
        </label>
        {phase.kind === 'open' ? (
          <button type="button" className="btn-secondary" data-testid="terminal-disconnect" onClick={close}>
            Disconnect
          </button>
        ) : (
          <button type="button" className="btn-primary" data-testid="terminal-connect" disabled={!canOpen} onClick={() => void open()}>
            {phase.kind === 'ended' ? 'Reconnect' : phase.kind === 'opening' ? 'Connecting…' : 'Connect'}
          </button>
        )}
        <span className="text-sm text-slate-600" data-testid="terminal-status" data-phase={phase.kind}>
          {phase.kind === 'open'
            ? `connected${size ? ` · ${size.cols}×${size.rows}` : ''}`
            : phase.kind === 'ended'
              ? phase.text
              : !running
                ? 'the container is not running'
                : !hostOnline
                  ? 'the host is offline'
                  : phase.kind === 'opening'
                    ? 'connecting…'
                    : 'not connected'}
        </span>
      </div>
      <ErrorText testId="terminal-error">{error}</ErrorText>
      <div
        ref={box}
        data-testid="terminal"
        data-cols={size?.cols}
        data-rows={size?.rows}
        className="h-96 w-full overflow-hidden rounded-md bg-slate-900 p-1"
      />
      <p className="mt-2 text-xs text-slate-500">Every session is recorded in the audit log. Closing this page hangs up on the shell.</p>
    </section>
  );
}
