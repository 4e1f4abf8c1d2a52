import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App.js';
import { createDashboardStore } from './store.js';

const container = document.getElementById('root');
if (!container) throw new Error('index.html has no #root element to render the dashboard into');

// Outside the desktop app there is no bridge yet; say so instead of rendering a dead page.
const client = window.drc;
createRoot(container).render(
  <StrictMode>
    {client ? (
      <App store={createDashboardStore(client)} />
    ) : (
      <main>
        <h1>DR Console</h1>
        <p role="alert">This page must be opened from the DR Console desktop app.</p>
      </main>
    )}
  </StrictMode>,
);
