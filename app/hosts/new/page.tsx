'use client';
import Link from 'next/link';
import { useState, type FormEvent } from 'react';
import { ErrorText, Section } from '../../components/ui';
import { formatTime } from '../../lib/format';
import { trpc } from '../../lib/trpc';

export default function NewHostPage() {
  const [name, setName] = useState('');
  const [copied, setCopied] = useState(false);
  const create = trpc.hosts.createJoinToken.useMutation();

  function onSubmit(e: FormEvent) {
    e.preventDefault();
    setCopied(false);
    create.mutate({ name: name.trim() });
  }

  async function copy(text: string) {
    try {
      await navigator.clipboard.writeText(text);
      setCopied(true);
    } catch {
      // Clipboard access needs a secure context; the command stays selectable.
      setCopied(false);
    }
  }

  return (
    <div className="mx-auto max-w-3xl space-y-4">
      <div>
        <Link href="/" className="text-sm text-sky-700 hover:underline">
          ← Hosts
        </Link>
        <h1 className="mt-1 text-xl font-semibold">Add a host</h1>
        <p className="text-sm text-slate-600">
          Create a one-time join token, then run the command on the new machine. The agent trades the token for its own
          credential and connects back to this server.
        </p>
      </div>

      <Section title="Join token">
        <form onSubmit={onSubmit} className="flex flex-wrap items-end gap-3" data-testid="join-token-form">
          <div className="min-w-64 flex-1">
            <label htmlFor="host-name" className="label">
              Host name
            </label>
            <input
              id="host-name"
              className="input"
              placeholder="web-01"
              value={name}
              onChange={(e) => setName(e.target.value)}
              required
            />
          </div>
          <button type="submit" className="btn-primary" disabled={create.isPending || !name.trim()}>
            {create.isPending ? 'Creating…' : 'Create join token'}
          </button>
        </form>
        <ErrorText testId="join-token-error">{create.error?.message}</ErrorText>
      </Section>

      {create.data ? (
        <Section
          title="Run this on the host"
          actions={
            <button type="button" className="btn-secondary" onClick={() => copy(create.data.command)}>
              {copied ? 'Copied' : 'Copy'}
            </button>
          }
        >
          <pre
            data-testid="join-command"
            className="overflow-x-auto rounded-md bg-slate-900 p-3 font-mono text-xs leading-relaxed whitespace-pre-wrap [overflow-wrap:anywhere] text-slate-100 select-all"
          >
            {create.data.command}
          </pre>
          <p className="mt-2 text-xs text-slate-500">
            The token works once and expires {formatTime(create.data.expiresAt)}. The host shows up in the list as soon as
            its agent connects.
          </p>
        </Section>
      ) : null}
    </div>
  );
}
