import { NodeResizer, type Node, type NodeProps } from "@xyflow/react";
import { memo } from "react";
import type { NoteData } from "../flow/canvas";
import { useEditorContext } from "./context";

/** A sticky note: drag it by its frame, type in it, resize it when selected. */
export const NoteView = memo(function NoteView({ id, data, selected }: NodeProps<Node<NoteData, "note">>) {
  const { store } = useEditorContext();
  const noteId = id.slice("note:".length);
  return (
    <div className={`plait-note${selected ? " selected" : ""}`} data-testid={`note-${noteId}`}>
      <NodeResizer isVisible={selected} minWidth={140} minHeight={80} />
      <div className="plait-note-grip">
        <span aria-hidden>note</span>
        <button
          className="plait-note-delete nodrag"
          aria-label="Delete note"
          title="Delete note"
          onClick={() => store.deleteNote(noteId)}
        >
          ×
        </button>
      </div>
      <textarea
        className="nodrag nowheel"
        aria-label="Note text"
        placeholder="Write a note…"
        value={data.text}
        onChange={(e) => store.updateNote(noteId, { text: e.target.value }, { coalesce: `note-text:${noteId}` })}
        onBlur={() => store.sealHistory()}
      />
    </div>
  );
});
