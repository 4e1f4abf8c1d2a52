/**
 * The per-run token of `drc serve` reaches the page in the URL's fragment
 * (`#token=…`), which browsers never send to a server. The page takes it from there,
 * keeps it in this tab's sessionStorage so a reload still works, and removes it from
 * the address bar, where it would end up in history, bookmarks and screen shares.
 */

/** The parts of `window` the token handling touches; a test passes plain objects. */
export interface TokenPage {
  readonly location: { readonly hash: string; readonly pathname: string; readonly search: string };
  readonly sessionStorage: { getItem(key: string): string | null; setItem(key: string, value: string): void };
  readonly history: { readonly state: unknown; replaceState(state: unknown, unused: string, url: string): void };
}

const storageKey = 'drc.accessToken';

export function takeAccessToken(page: TokenPage): string | undefined {
  const fromUrl = new URLSearchParams(page.location.hash.replace(/^#/, '')).get('token');
  if (fromUrl !== null && fromUrl !== '') {
    page.history.replaceState(page.history.state, '', `${page.location.pathname}${page.location.search}`);
    try {
      page.sessionStorage.setItem(storageKey, fromUrl);
    } catch {
      // Storage can be switched off; the token still serves this load, only a reload will need the URL again.
    }
    return fromUrl;
  }
  try {
    return page.sessionStorage.getItem(storageKey) ?? undefined;
  } catch {
    return undefined;
  }
}
