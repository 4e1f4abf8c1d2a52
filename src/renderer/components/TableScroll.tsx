import type { ReactNode } from 'react';

/**
 * A wide table that scrolls sideways at 200 % zoom instead of clipping. The wrapper takes
 * focus so a keyboard user can scroll it with the arrow keys; its name says what it holds.
 */
export function TableScroll({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="table-scroll" tabIndex={0} role="group" aria-label={label}>
      {children}
    </div>
  );
}
