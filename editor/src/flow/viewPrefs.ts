// View preferences of the canvas that are not part of the flow: kept per browser.

/**
 * Above this many nodes the mini map starts hidden: it draws every node of the flow and
 * repaints on every pan and drag, which more than doubled the frame time of a 1,000-node flow
 * (bench/editor.py). The user's own choice (the M key or the button) always wins.
 */
export const MINIMAP_AUTO_LIMIT = 300;

export type MinimapPreference = "on" | "off" | null;

export function minimapShown(preference: MinimapPreference, nodeCount: number): boolean {
  return preference ? preference === "on" : nodeCount <= MINIMAP_AUTO_LIMIT;
}

export const MINIMAP_KEY = "plait.minimap";

export function readMinimapPreference(storage: Pick<Storage, "getItem"> | null): MinimapPreference {
  const value = storage?.getItem(MINIMAP_KEY);
  return value === "on" || value === "off" ? value : null;
}
