import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { z } from 'zod';
import { App } from './app/App.js';
import './app/console.css';
import { ConsoleContext } from './app/console-context.js';
import { createNavigation } from './app/navigation.js';
import { createOperationsStore } from './operations/store.js';
import { connectToConsole } from './transport/index.js';

// zod probes for eval with `new Function` before compiling a parser; the page's CSP forbids eval, so the probe only logs a violation.
z.config({ jitless: true });

const container = document.getElementById('root');
if (!container) throw new Error('index.html has no #root element to render the dashboard into');

const client = connectToConsole();
const operations = createOperationsStore(client);
void operations.getState().load();
// The page lives as long as the subscription: nothing to unsubscribe from.
operations.getState().watch();
const navigation = createNavigation(window);

createRoot(container).render(
  <StrictMode>
    <ConsoleContext.Provider value={{ client, operations }}>
      <App navigation={navigation} />
    </ConsoleContext.Provider>
  </StrictMode>,
);
