import { useEffect, useRef, useState, type MouseEvent } from 'react';
import { useStore } from 'zustand';
import { BackupsView } from '../views/backups/BackupsView.js';
import { EventsView } from '../views/events/EventsView.js';
import { OverviewView } from '../views/overview/OverviewView.js';
import { RepositoriesView } from '../views/repositories/RepositoriesView.js';
import { RestoreTestsView } from '../views/restore-tests/RestoreTestsView.js';
import { TimelineView } from '../views/timeline/TimelineView.js';
import { useConsole } from './console-context.js';
import type { NavigationStore } from './navigation.js';
import { OperationsArea } from './OperationsArea.js';
import { documentTitle, views, type ViewId } from './routes.js';

function CurrentView({ view }: { view: ViewId }) {
  switch (view) {
    case 'overview':
      return <OverviewView />;
    case 'timeline':
      return <TimelineView />;
    case 'backups':
      return <BackupsView />;
    case 'restore-tests':
      return <RestoreTestsView />;
    case 'repositories':
      return <RepositoriesView />;
    case 'events':
      return <EventsView />;
  }
}

/** The cluster the console watches, for the header; the header stays useful without it. */
function useClusterName(): string | undefined {
  const { client } = useConsole();
  const [name, setName] = useState<string>();
  useEffect(() => {
    let current = true;
    client.status.report({}).then(
      (report) => {
        if (current) setName(report.cluster?.name);
      },
      () => undefined, // The Overview shows the same call's error in full; the header only loses the name.
    );
    return () => {
      current = false;
    };
  }, [client]);
  return name;
}

/** Plain clicks navigate in place; a modified click (new tab, new window) keeps the browser's own behaviour. */
function isPlainClick(event: MouseEvent): boolean {
  return event.button === 0 && !event.metaKey && !event.ctrlKey && !event.shiftKey && !event.altKey;
}

export function App({ navigation }: { navigation: NavigationStore }) {
  const view = useStore(navigation, (state) => state.view);
  const changes = useStore(navigation, (state) => state.changes);
  const mode = useStore(navigation, (state) => state.mode);
  const clusterName = useClusterName();
  const mainRef = useRef<HTMLElement>(null);

  useEffect(() => navigation.getState().watch(), [navigation]);

  useEffect(() => {
    document.title = documentTitle(view);
    // On the first render the page has just loaded and the reader starts at the top; only a change moves focus.
    if (changes > 0) mainRef.current?.querySelector<HTMLElement>('h1')?.focus();
  }, [view, changes]);

  const skipToContent = (event: MouseEvent) => {
    event.preventDefault();
    (mainRef.current?.querySelector<HTMLElement>('h1') ?? mainRef.current)?.focus();
  };

  return (
    <>
      <a className="skip-link" href="#main" onClick={skipToContent}>
        Skip to content
      </a>
      <header className="console-header">
        <p className="product-name">
          DR Console
          {clusterName !== undefined && <span className="cluster-name"> — cluster {clusterName}</span>}
        </p>
        <nav aria-label="Views">
          <ul>
            {views.map((entry) => (
              <li key={entry.id}>
                <a
                  href={mode === 'history' ? entry.path : `#${entry.id}`}
                  aria-current={entry.id === view ? 'page' : undefined}
                  onClick={(event) => {
                    if (!isPlainClick(event)) return;
                    event.preventDefault();
                    navigation.getState().go(entry.id);
                  }}
                >
                  {entry.name}
                </a>
              </li>
            ))}
          </ul>
        </nav>
      </header>
      <div className="console-body">
        <main id="main" ref={mainRef} tabIndex={-1}>
          <CurrentView view={view} />
        </main>
        <OperationsArea view={view} />
      </div>
    </>
  );
}
