'use client';
import { useParams, useRouter } from 'next/navigation';
import { signIn } from 'next-auth/react';
import { useState } from 'react';
import { Brand } from '../../components/brand';
import { Field, Form } from '../../components/form';
import { ErrorText } from '../../components/ui';
import { formatTime } from '../../lib/format';
import { trpc } from '../../lib/trpc';

export default function InvitePage() {
  const { token } = useParams<{ token: string }>();
  const router = useRouter();
  const utils = trpc.useUtils();
  const info = trpc.team.invitation.useQuery({ token }, { retry: false });
  const [email, setEmail] = useState('');
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const accept = trpc.team.accept.useMutation();
  const [pending, setPending] = useState(false);

  async function onAccept() {
    setError(null);
    setPending(true);
    try {
      const signedIn = !!info.data?.signedIn;
      await accept.mutateAsync(signedIn ? { token } : { token, account: { email: email.trim(), name: name.trim(), password } });
      if (!signedIn) {
        const res = await signIn('credentials', { email: email.trim(), password, redirect: false });
        if (!res?.ok) throw new Error('the account is made, but signing in failed: sign in on the login page');
      }
      await utils.invalidate();
      router.replace('/');
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setPending(false);
    }
  }

  if (info.error) {
    return (
      <div className="w-full max-w-sm">
        <Brand />
        <ErrorText testId="invite-error">{info.error.message}</ErrorText>
      </div>
    );
  }
  if (!info.data) return <p className="text-sm text-slate-500">Loading…</p>;
  const d = info.data;
  return (
    <div className="w-full max-w-sm">
      {!d.signedIn && <Brand />}
      <Form
        onSubmit={onAccept}
        className="card p-6"
        labelledBy="invite-title"
        testId="invite-form"
        submitLabel={d.signedIn ? `Join ${d.team}` : 'Create account and join'}
        pendingLabel="Joining…"
        pending={pending}
        wideSubmit
        error={error}
        errorTestId="invite-error"
      >
        <h1 id="invite-title" className="text-lg font-semibold" data-testid="invite-title">
          Join {d.team} as {d.role}
        </h1>
        <p className="text-sm text-slate-600">This link works once, until {formatTime(d.expiresAt)}.</p>
        {!d.signedIn && (
          <>
            <Field id="invite-email" label="Email" type="email" value={email} onChange={(e) => setEmail(e.target.value)} required autoComplete="username" />
            <Field id="invite-name" label="Name" value={name} onChange={(e) => setName(e.target.value)} required maxLength={100} />
            <Field id="invite-password" label="Password (8 characters or more)" type="password" minLength={8} value={password} onChange={(e) => setPassword(e.target.value)} required autoComplete="new-password" />
            <p className="text-xs text-slate-500">Have an account already? Sign in first, then open this link again.</p>
          </>
        )}
      </Form>
    </div>
  );
}
