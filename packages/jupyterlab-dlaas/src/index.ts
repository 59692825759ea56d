/**
 * `@dlaas/jupyterlab`: the Data Lake panel's library — the companion's API client, live
 * availability events, react-query hooks, React views and the Lumino sidebar widget.
 */
export * from './client';
export * from './components/Availability';
export * from './components/DataLakeView';
export * from './components/Details';
export * from './components/DidList';
export * from './components/Downloads';
export * from './components/SearchBar';
export * from './components/Transfers';
export * from './components/Uploads';
export * from './context';
export * from './downloads';
export * from './events';
export * from './format';
export * from './hooks';
export * from './icons';
export * from './notebook';
export * from './notifier';
export * from './sidebar';
export * from './tokens';
export * from './transfers';
export * from './uploads';
