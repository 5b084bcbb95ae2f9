// The login page's words for the error codes next-auth (and our signIn callback) put in
// ?error=. Only codes travel in the URL: a page that showed the URL's text would show
// whatever a stranger's link said.

const WORDS: Record<string, string> = {
  CredentialsSignin: 'Invalid email or password.',
  OAuthCallback:
    "The identity provider's answer could not be verified (a wrong audience or issuer, a bad signature, an expired token, or a replayed sign-in), so nobody was signed in. The attempt is in the audit log.",
  OAuthSignin: 'Sign-in with the identity provider could not start: the server could not reach it or read its configuration. Try again, or ask whoever runs Berth.',
  Callback: 'Sign-in with the identity provider failed on the server. The attempt is in the audit log.',
  AccessDenied: 'The sign-in was refused.',
  Configuration: "The server's sign-in configuration is wrong; its log says what.",
  BerthEmailUnverified:
    'The identity provider does not say your email address is verified. Berth makes or links an account only for a verified address; verify it there and try again.',
  BerthNoEmail: 'The identity provider gave no email address. Berth needs one (ask for the email scope to be granted).',
  BerthNoSubject: 'The identity provider gave no subject for you, so Berth cannot tell you apart from anyone else.',
  BerthNotConfigured: 'That sign-in provider is not configured on this server.',
};

export function signInErrorText(code: string | null | undefined): string | null {
  if (!code) return null;
  return WORDS[code] ?? (/^[A-Za-z]{1,40}$/.test(code) ? `Sign-in failed (${code}).` : 'Sign-in failed.');
}
