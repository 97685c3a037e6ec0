// How canvas components reach the one store: a context with the store and the catalogue, and a
// selector hook over `useSyncExternalStore` so a node redraws only when its own slice changes.
import { createContext, useContext, useSyncExternalStore } from "react";
import type { CatalogueIndex } from "../flow/catalogue";
import type { EditorState, EditorStore } from "../flow/editorStore";

export interface EditorContextValue {
  store: EditorStore;
  catalogue: CatalogueIndex;
}

export const EditorContext = createContext<EditorContextValue | null>(null);

export function useEditorContext(): EditorContextValue {
  const value = useContext(EditorContext);
  if (!value) throw new Error("canvas component outside the flow editor");
  return value;
}

/** A slice of the editor state; `select` must return stable references for unchanged data. */
export function useEditorState<T>(store: EditorStore, select: (state: EditorState) => T): T {
  return useSyncExternalStore(store.subscribe, () => select(store.getState()));
}
