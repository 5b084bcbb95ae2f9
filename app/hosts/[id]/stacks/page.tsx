'use client';
// A host's compose stacks, and a new one by name (its page opens with an empty editor).
import Link from 'next/link';
import { useParams, useRouter } from 'next/navigation';
import { useState } from 'react';
import { hasRole } from '../../../../protocol/roles';
import { STACK_NAME } from '../../../../protocol/stacks';
import { Field, Form } from '../../../components/form';
import { ErrorText, Section } from '../../../components/ui';
import { useHostWatch } from '../../../lib/socket';
import { trpc } from '../../../lib/trpc';
import { StacksTable } from '../stacks-section';
import { NewGitStackForm } from './git-source';

export default function HostStacksPage() {
  const { id: hostId } = useParams<{ id: string }>();
  const router = useRouter();
  const query = trpc.hosts.get.useQuery({ hostId });
  const { host: live } = useHostWatch(hostId);
  const host = live ?? query.data ?? null;
  const canOperate = hasRole(query.data?.role, 'operator');
  const [name, setName] = useState('');
  const [problem, setProblem] = useState('');
  if (query.error) return <ErrorText testId="host-error">{query.error.message}</ErrorText>;
  if (!host) return <p className="text-sm text-slate-500">Loading…</p>;
  const stacks = host.stacks ?? [];
  return (
    <div className="space-y-5">
      <div>
        <Link href={`/hosts/${hostId}`} className="text-sm text-sky-700 hover:underline">
          ← {host.name}
        </Link>
        <h1 className="mt-1 text-xl font-semibold">Stacks on {host.name}</h1>
        <p className="text-sm text-slate-500">Compose projects run by the host&apos;s agent; those started with docker-compose on the host show up here too, read-only.</p>
      </div>
      {canOperate ? (
        <Section title="New stack">
          <Form
            layout="row"
            testId="new-stack-form"
            submitLabel="Create"
            pendingLabel="…"
            pending={false}
            canSubmit={!!name.trim()}
            error={problem}
            errorTestId="new-stack-error"
            onSubmit={() => {
              const n = name.trim();
              if (!STACK_NAME.test(n) || n.length > 63) return setProblem('a stack name has lower case letters, digits, "-" and "_", and starts with a letter or digit');
              if (stacks.some((s) => s.name === n)) return setProblem(`there is a stack ${n} on this host already`);
              router.push(`/hosts/${hostId}/stacks/${n}?new=1`);
            }}
          >
            <Field id="new-stack-name" label="Name" className="flex-1" inputClassName="font-mono" placeholder="shop" value={name} onChange={(e) => { setName(e.target.value); setProblem(''); }} required />
          </Form>
        </Section>
      ) : null}
      {canOperate ? <NewGitStackForm hostId={hostId} taken={(n) => stacks.some((s) => s.name === n)} /> : null}
      <Section title={`Stacks (${stacks.length})`}>
        <StacksTable hostId={hostId} stacks={stacks} />
      </Section>
    </div>
  );
}
