import type { ContractClient } from '../shared/contract/index.js';

declare global {
  interface Window {
    /**
     * The contract client the preload exposes. Absent when the page is opened outside
     * the desktop app (a plain browser), so callers must check for it.
     */
    readonly drc?: ContractClient;
  }
}
