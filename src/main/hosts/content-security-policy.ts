/**
 * The page loads only its own files and talks to nothing but the preload bridge (and,
 * under `drc serve`, its own origin). The desktop shell and the HTTP host send the same
 * policy; `src/renderer/index.html` carries it in a meta tag, which holds however the page
 * is loaded — file:// responses need not pass through webRequest; a test keeps them equal.
 */
export const contentSecurityPolicy =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; object-src 'none'";
