import { cleanup } from '@testing-library/react';
import { afterEach } from 'vitest';

// Testing Library unmounts after each test only by itself when test globals are on; they are not.
afterEach(() => cleanup());

// jsdom lacks a few browser classes that JupyterLab's modules touch when they load.
globalThis.DragEvent ??= class DragEvent extends MouseEvent {} as typeof globalThis.DragEvent;
globalThis.ResizeObserver ??= class ResizeObserver {
  observe(): void {}
  unobserve(): void {}
  disconnect(): void {}
};
// ReactWidget (the sidebar) waits for an idle moment after each render.
globalThis.requestIdleCallback ??= (callback: IdleRequestCallback): number =>
  setTimeout(() => callback({ didTimeout: false, timeRemaining: () => 0 }), 0) as unknown as number;
window.matchMedia ??= (query: string): MediaQueryList =>
  ({
    matches: false,
    media: query,
    onchange: null,
    addListener: () => undefined,
    removeListener: () => undefined,
    addEventListener: () => undefined,
    removeEventListener: () => undefined,
    dispatchEvent: () => false
  }) as MediaQueryList;

// jsdom lays nothing out; give the virtualized lists the size they have in a sidebar, so that
// they draw the rows a user would see.
for (const [property, size] of [
  ['offsetHeight', 520],
  ['offsetWidth', 300],
  ['clientHeight', 520]
] as const) {
  const original =
    Object.getOwnPropertyDescriptor(HTMLElement.prototype, property) ??
    Object.getOwnPropertyDescriptor(Element.prototype, property);
  Object.defineProperty(HTMLElement.prototype, property, {
    configurable: true,
    get(this: HTMLElement): number {
      return this.classList.contains('jp-DataLake-list')
        ? size
        : ((original?.get?.call(this) as number | undefined) ?? 0);
    }
  });
}
