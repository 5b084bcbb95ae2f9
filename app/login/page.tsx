'use client';
import { useRouter } from 'next/navigation';
import { getProviders, signIn } from 'next-auth/react';
import { useEffect, useState } from 'react';
import { Brand } from '../components/brand';
import { Field, Form } from '../components/form';
import { signInErrorText } from '../lib/sign-in-errors';
import { trpc } from '../lib/trpc';

type External = { id: string; name: string };

export default function LoginPage() {
  const router = useRouter();
  const utils = trpc.useUtils();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [pending, setPending] = useState(false);
  const [external, setExternal] = useState<External[]>([]);
  const [leaving, setLeaving] = useState<string | null>(null);

  useEffect(() => {
    // A failed outside sign-in comes back here with ?error=CODE.
    const code = new URLSearchParams(window.location.search).get('error');
    if (code) setError(signInErrorText(code));
    // Only what the server has configured: an unconfigured provider has no button.
    getProviders()
      .then((all) => setExternal(Object.values(all ?? {}).filter((p) => p.type === 'oauth').map((p) => ({ id: p.id, name: p.name }))))
      .catch((err: unknown) => setError(`Cannot list the sign-in providers: ${err instanceof Error ? err.message : String(err)}`));
  }, []);

  async function onExternal(id: string) {
    setError(null);
    setLeaving(id);
    try {
      // Leaves for the provider's page; it comes back to /api/auth/callback/<id>, then to '/'.
      await signIn(id, { callbackUrl: '/' });
    } catch (err) {
      setError(`Sign-in failed: ${err instanceof Error ? err.message : String(err)}`);
      setLeaving(null);
    }
  }

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
      {external.length > 0 && (
        <div className="card mt-4 space-y-2 p-6" data-testid="external-sign-in">
          <p className="text-center text-xs text-slate-500">or</p>
          {external.map((p) => (
            <button key={p.id} type="button" className="btn-secondary w-full" data-testid={`sign-in-${p.id}`} disabled={leaving !== null} onClick={() => void onExternal(p.id)}>
              {leaving === p.id ? `Going to ${p.name}…` : `Sign in with ${p.name}`}
            </button>
          ))}
        </div>
      )}
    </div>
  );
}
