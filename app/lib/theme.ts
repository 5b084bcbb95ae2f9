// The dashboard's colour theme: the user's choice (System, Light or Dark) is kept in
// localStorage; what is drawn is `data-theme` on <html>, which the boot script in the
// root layout sets before the first paint and keeps following the system while the
// choice is System. The same script is the one place that resolves a choice, so the
// switcher only stores the choice and asks it to apply.

export const THEME_KEY = 'berth-theme';
export const THEME_CHOICES = ['system', 'light', 'dark'] as const;
export type ThemeChoice = (typeof THEME_CHOICES)[number];

declare global {
  interface Window {
    __berthTheme?: { apply(): void };
  }
}

/**
 * Runs inline in <head>, before the body is parsed: no flash of the other theme. Plain
 * ES5 in a string, as it never goes through the bundler. localStorage can throw (storage
 * disabled); then the system's choice is used.
 */
export const THEME_BOOT_SCRIPT = `(function () {
  var key = ${JSON.stringify(THEME_KEY)};
  var d = document.documentElement;
  var m = window.matchMedia('(prefers-color-scheme: dark)');
  function choice() {
    var c = null;
    try { c = window.localStorage.getItem(key); } catch (e) {}
    return c === 'light' || c === 'dark' ? c : 'system';
  }
  function apply() {
    var c = choice();
    d.setAttribute('data-theme-choice', c);
    d.setAttribute('data-theme', c === 'system' ? (m.matches ? 'dark' : 'light') : c);
  }
  apply();
  m.addEventListener('change', apply);
  window.addEventListener('storage', function (e) { if (e.key === key || e.key === null) apply(); });
  window.__berthTheme = { apply: apply };
})();`;

export function readThemeChoice(): ThemeChoice {
  const c = typeof document === 'undefined' ? null : document.documentElement.getAttribute('data-theme-choice');
  return c === 'light' || c === 'dark' ? c : 'system';
}

export function setThemeChoice(choice: ThemeChoice): void {
  try {
    if (choice === 'system') localStorage.removeItem(THEME_KEY);
    else localStorage.setItem(THEME_KEY, choice);
  } catch (err) {
    // Storage refused (private mode, quota): the choice lasts for this page only.
    console.warn(`theme: cannot remember the choice: ${(err as Error).message}`);
    document.documentElement.setAttribute('data-theme-choice', choice);
    document.documentElement.setAttribute('data-theme', choice === 'system' ? (matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light') : choice);
    return;
  }
  window.__berthTheme?.apply();
}
