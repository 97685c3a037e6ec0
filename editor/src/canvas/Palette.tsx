import { memo, useMemo, useState } from "react";
import type { CatalogueIndex } from "../flow/catalogue";

export const NODE_DRAG_TYPE = "application/x-plait-node-type";

const CATEGORY_LABELS: Record<string, string> = {
  triggers: "Triggers",
  control: "Control",
  data: "Data",
  http: "HTTP",
  util: "Utilities",
  ai: "AI",
};

/** A catalogue category as people read it (`http` → "HTTP"); unknown ones are capitalised. */
export function categoryLabel(category: string): string {
  return CATEGORY_LABELS[category] ?? category.charAt(0).toUpperCase() + category.slice(1);
}

/** The node catalogue: search, categories; click adds at the viewport centre, or drag onto the canvas. */
export const Palette = memo(function Palette({ catalogue, onAdd }: { catalogue: CatalogueIndex; onAdd: (type: string) => void }) {
  const [search, setSearch] = useState("");
  const groups = useMemo(() => catalogue.groups(search), [catalogue, search]);
  return (
    <aside className="plait-palette" aria-label="Node palette">
      <input
        type="search"
        placeholder="Search nodes…"
        aria-label="Search nodes"
        value={search}
        onChange={(e) => setSearch(e.target.value)}
        onKeyDown={(e) => {
          const first = groups[0]?.nodes[0];
          if (e.key === "Enter" && first) onAdd(first.type);
        }}
      />
      <div className="plait-palette-list">
        {groups.map((group) => (
          <section key={group.category} aria-label={categoryLabel(group.category)}>
            <h4>{categoryLabel(group.category)}</h4>
            {group.nodes.map((spec) => (
              <button
                key={spec.type}
                className="plait-palette-item"
                data-testid={`palette-${spec.type}`}
                draggable
                title={spec.description}
                onDragStart={(e) => {
                  e.dataTransfer.setData(NODE_DRAG_TYPE, spec.type);
                  e.dataTransfer.effectAllowed = "copy";
                }}
                onClick={() => onAdd(spec.type)}
              >
                <strong>{spec.title}</strong>
                <span className="muted small">{spec.type}</span>
              </button>
            ))}
          </section>
        ))}
        {!groups.length && <p className="muted small">No node matches “{search}”.</p>}
      </div>
    </aside>
  );
});
