// Sticky notes live in `document.meta.notes`; they are canvas-only and never reach the bundle.
import type { FlowDocument, JsonValue, StickyNote } from "./types";

export function notesOf(doc: FlowDocument): StickyNote[] {
  const raw = doc.meta?.notes;
  if (!Array.isArray(raw)) return [];
  const notes: StickyNote[] = [];
  for (const item of raw) {
    if (!item || typeof item !== "object" || Array.isArray(item)) continue;
    const { id, text, position } = item;
    if (typeof id !== "string" || !position || typeof position !== "object" || Array.isArray(position)) continue;
    const note: StickyNote = {
      id,
      text: typeof text === "string" ? text : "",
      position: { x: Number(position.x) || 0, y: Number(position.y) || 0 },
    };
    if (typeof item.width === "number") note.width = item.width;
    if (typeof item.height === "number") note.height = item.height;
    if (typeof item.color === "string") note.color = item.color;
    notes.push(note);
  }
  return notes;
}

export function withNotes(doc: FlowDocument, notes: StickyNote[]): FlowDocument {
  const meta = { ...(doc.meta ?? {}) };
  if (notes.length) meta.notes = notes as unknown as JsonValue;
  else delete meta.notes;
  const next: FlowDocument = { ...doc, meta };
  if (!Object.keys(meta).length) delete next.meta;
  return next;
}
