'use client';
import Link from 'next/link';
import { useState } from 'react';
import { hasRole } from '../../../protocol/roles';
import { Field, Form } from '../../components/form';
import { Section } from '../../components/ui';
import { formatTime, isLoopbackUrl } from '../../lib/format';
import { trpc } from '../../lib/trpc';
import { useRole } from '../../lib/use-role';

export default function NewHostPage() {
  const role = useRole();
  const canAdd = hasRole(role, 'admin');
  return (
    <div className="mx-auto max-w-3xl space-y-4">
      <div>
        <Link href="/" className="text-sm text-sky-700 hover:underline">
          ← Hosts
        </Link>
        <h1 className="mt-1 text-xl font-semibold">Add a host</h1>
        {canAdd ? (
          <p className="text-sm text-slate-600">
            Create a one-time join token, then run the command on the new machine, in a checkout of Berth. The agent trades
            the token for its own credential and connects back to this server.
          </p>
        ) : null}
      </div>
      {role === undefined ? (
        <p className="text-sm text-slate-500">Loading…</p>
      ) : canAdd ? (
        <JoinToken />
      ) : (
        <p role="status" data-testid="add-host-forbidden" className="rounded-md border border-amber-200 bg-amber-50 px-3 py-2 text-sm text-amber-800">
          Only admins can add hosts. {role ? `Your role is ${role}; ask` : 'Ask'} an owner or admin of your team to create a join token.
        </p>
      )}
    </div>
  );
}

/** The server refuses join tokens to anyone below admin; this is only shown to admins and owners. */
function JoinToken() {
  const [name, setName] = useState('');
  const [copied, setCopied] = useState(false);
  const create = trpc.hosts.createJoinToken.useMutation();

  function onSubmit() {
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
    <>
      <Section title="Join token">
        <Form
          layout="row"
          testId="join-token-form"
          onSubmit={onSubmit}
          submitLabel="Create join token"
          pendingLabel="Creating…"
          pending={create.isPending}
          canSubmit={!!name.trim()}
          error={create.error?.message}
          errorTestId="join-token-error"
        >
          <Field
            id="host-name"
            label="Host name"
            className="min-w-64 flex-1"
            placeholder="web-01"
            value={name}
            onChange={(e) => setName(e.target.value)}
            required
          />
        </Form>
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
          {create.data.fingerprint ? (
            <p className="mt-2 text-xs text-slate-500" data-testid="join-fingerprint">
              The agent accepts only this server&apos;s certificate, <span className="font-mono [overflow-wrap:anywhere]">{create.data.fingerprint}</span>, and
              refuses any other, so nobody in between can pose as this server.
            </p>
          ) : null}
          {isLoopbackUrl(create.data.server) ? (
            <p className="mt-2 text-xs text-amber-700" data-testid="join-loopback">
              {create.data.server} only works for an agent on this machine. For a host elsewhere, start the control plane with
              BERTH_PUBLIC_URL set to an address that host can reach.
            </p>
          ) : null}
        </Section>
      ) : null}
    </>
  );
}
