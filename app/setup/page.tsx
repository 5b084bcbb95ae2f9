'use client';
import Link from 'next/link';
import { useRouter } from 'next/navigation';
import { signIn } from 'next-auth/react';
import { useState } from 'react';
import { Brand } from '../components/brand';
import { Field, Form } from '../components/form';
import { trpc } from '../lib/trpc';

export default function SetupPage() {
  const router = useRouter();
  const utils = trpc.useUtils();
  const [email, setEmail] = useState('');
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [localError, setLocalError] = useState<string | null>(null);
  const [signInFailed, setSignInFailed] = useState<string | null>(null);
  const [signingIn, setSigningIn] = useState(false);
  const setup = trpc.auth.setup.useMutation({
    // The person who just chose the password is signed in with it and goes straight to
    // the dashboard. auth.status is asked again only afterwards: asked earlier, it would
    // say "set up, not signed in" and the gate would send them to the sign-in page.
    onSuccess: async (_data, input) => {
      setSigningIn(true);
      try {
        const res = await signIn('credentials', { email: input.email, password: input.password, redirect: false });
        if (!res?.ok || res.error) {
          setSignInFailed(res?.error && res.error !== 'CredentialsSignin' ? res.error : 'the server refused the new password');
          return;
        }
        await utils.auth.status.invalidate();
        router.replace('/');
      } catch (err) {
        setSignInFailed(err instanceof Error ? err.message : String(err));
      } finally {
        setSigningIn(false);
      }
    },
  });

  function onSubmit() {
    setLocalError(null);
    if (password.length < 8) return setLocalError('The password needs at least 8 characters.');
    if (password !== confirm) return setLocalError('The two passwords differ.');
    setup.mutate({ email: email.trim(), name: name.trim(), password });
  }

  if (signInFailed) {
    return (
      <div className="w-full max-w-md">
        <Brand />
        <div role="alert" data-testid="setup-signin-failed" className="card space-y-2 p-6 text-sm">
          <p className="font-medium">The administrator account was created, but signing in with it failed: {signInFailed}</p>
          <p>
            <Link href="/login" className="text-sky-700 underline">
              Sign in
            </Link>{' '}
            with the email and password you just chose.
          </p>
        </div>
      </div>
    );
  }

  return (
    <div className="w-full max-w-md">
      <Brand />
      <Form
        onSubmit={onSubmit}
        className="card p-6"
        labelledBy="setup-title"
        testId="setup-form"
        submitLabel="Create administrator"
        pendingLabel="Creating…"
        pending={setup.isPending || signingIn}
        wideSubmit
        error={localError ?? setup.error?.message}
        errorTestId="setup-error"
      >
        <div>
          <h1 id="setup-title" className="text-lg font-semibold">
            Create the first administrator
          </h1>
          <p className="mt-1 text-sm text-slate-600">
            This account owns the Default team and this machine. You can invite others afterwards.
          </p>
        </div>
        <Field id="setup-name" label="Name" value={name} onChange={(e) => setName(e.target.value)} required autoComplete="name" />
        <Field
          id="setup-email"
          label="Email"
          type="email"
          value={email}
          onChange={(e) => setEmail(e.target.value)}
          required
          autoComplete="username"
        />
        <Field
          id="setup-password"
          label="Password"
          type="password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          required
          minLength={8}
          autoComplete="new-password"
        />
        <Field
          id="setup-confirm"
          label="Confirm password"
          type="password"
          value={confirm}
          onChange={(e) => setConfirm(e.target.value)}
          required
          autoComplete="new-password"
        />
      </Form>
    </div>
  );
}
