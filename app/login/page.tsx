'use client';
import { useRouter } from 'next/navigation';
import { signIn } from 'next-auth/react';
import { useState } from 'react';
import { Brand } from '../components/brand';
import { Field, Form } from '../components/form';
import { trpc } from '../lib/trpc';

export default function LoginPage() {
  const router = useRouter();
  const utils = trpc.useUtils();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [pending, setPending] = useState(false);

  async function onSubmit() {
    setError(null);
    setPending(true);
    try {
      const res = await signIn('credentials', { email: email.trim(), password, redirect: false });
      if (!res || res.error || !res.ok) {
        // CredentialsSignin is next-auth's word for a wrong email or password; any other
        // error is a message from the server, e.g. the back-off's "Too many failed sign-ins".
        const e = res?.error;
        setError(!e || e === 'CredentialsSignin' ? 'Invalid email or password.' : e.startsWith('Too many') ? e : `Sign-in failed: ${e}`);
        return;
      }
      await utils.auth.status.invalidate();
      router.replace('/');
    } catch (err) {
      setError(`Sign-in failed: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      setPending(false);
    }
  }

  return (
    <div className="w-full max-w-sm">
      <Brand />
      <Form
        onSubmit={onSubmit}
        className="card p-6"
        labelledBy="login-title"
        testId="login-form"
        submitLabel="Sign in"
        pendingLabel="Signing in…"
        pending={pending}
        wideSubmit
        error={error}
        errorTestId="login-error"
      >
        <h1 id="login-title" className="text-lg font-semibold">
          Sign in
        </h1>
        <Field
          id="login-email"
          label="Email"
          type="email"
          value={email}
          onChange={(e) => setEmail(e.target.value)}
          required
          autoComplete="username"
          autoFocus
        />
        <Field
          id="login-password"
          label="Password"
          type="password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          required
          autoComplete="current-password"
        />
      </Form>
    </div>
  );
}
