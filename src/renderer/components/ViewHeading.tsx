import type { ReactNode } from 'react';

/**
 * The heading of a view. Focusable from script only (tabIndex -1): the shell moves focus
 * here on every view change, so a screen reader announces where the person landed.
 */
export function ViewHeading({ children }: { children: ReactNode }) {
  return (
    <h1 tabIndex={-1} className="view-heading">
      {children}
    </h1>
  );
}
