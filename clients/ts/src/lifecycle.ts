/**
 * Page lifecycle hooks for browsers: the moments to flush with
 * `keepalive` before a tab may die. `visibilitychange` to hidden is the
 * last event a page reliably gets on mobile (the OS may kill a background
 * tab without unload); `pagehide` covers closing and navigating away on
 * desktop, and entering the back/forward cache. Both may fire for one
 * close; the client sends each event once either way.
 */

/** The parts of window and document the hooks use (fakes in tests). */
export interface PageTargets {
  window: Pick<EventTarget, "addEventListener" | "removeEventListener">;
  document: Pick<EventTarget, "addEventListener" | "removeEventListener"> & {
    readonly visibilityState: string;
  };
}

/** The browser's window and document, or undefined outside a browser. */
export function browserTargets(): PageTargets | undefined {
  const g = globalThis as unknown as {
    addEventListener?: unknown;
    removeEventListener?: unknown;
    document?: PageTargets["document"];
  };
  if (typeof g.addEventListener !== "function" || typeof g.document?.addEventListener !== "function") {
    return undefined;
  }
  return { window: g as unknown as PageTargets["window"], document: g.document };
}

/**
 * Calls onHide when the page is hidden or hidden away (pagehide), onShow
 * when it is visible again (or restored from the back/forward cache).
 * Returns a function that removes the listeners.
 */
export function watchPage(t: PageTargets, onHide: () => void, onShow: () => void): () => void {
  const vis = () => (t.document.visibilityState === "hidden" ? onHide() : onShow());
  t.window.addEventListener("pagehide", onHide);
  t.window.addEventListener("pageshow", onShow);
  t.document.addEventListener("visibilitychange", vis);
  return () => {
    t.window.removeEventListener("pagehide", onHide);
    t.window.removeEventListener("pageshow", onShow);
    t.document.removeEventListener("visibilitychange", vis);
  };
}
