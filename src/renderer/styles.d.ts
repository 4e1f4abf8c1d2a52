/** Stylesheets are bundled by esbuild into main.css beside main.js; importing one has no value in script. */
declare module '*.css';
