import { createContext, useContext } from 'react';
import type { ContractClient } from '../../shared/contract/index.js';
import type { OperationsStore } from '../operations/store.js';

/** What every view reaches the services through: the contract client and the shared operations store. */
export interface ConsoleServices {
  readonly client: ContractClient;
  readonly operations: OperationsStore;
}

export const ConsoleContext = createContext<ConsoleServices | undefined>(undefined);

export function useConsole(): ConsoleServices {
  const services = useContext(ConsoleContext);
  if (!services) throw new Error('a view was rendered outside <ConsoleContext.Provider>');
  return services;
}
