// A value from a run, pretty-printed in a collapsible section; a big one is cut until asked.
import { useState } from "react";
import type { JsonValue } from "../flow/types";

/** Characters shown before "Show all": enough for a page of JSON, cheap to render. */
export const PREVIEW_CHARS = 4000;

export function pretty(value: JsonValue | undefined): string {
  if (value === undefined) return "undefined";
  return JSON.stringify(value, null, 2);
}

export function JsonBlock({
  title,
  value,
  open = true,
  empty = "nothing",
}: {
  title: string;
  value: JsonValue | undefined;
  open?: boolean;
  empty?: string;
}) {
  const [all, setAll] = useState(false);
  const isEmpty =
    value === undefined ||
    value === null ||
    (typeof value === "object" && !Array.isArray(value) && Object.keys(value).length === 0);
  const text = isEmpty ? "" : pretty(value);
  const cut = !all && text.length > PREVIEW_CHARS;
  return (
    <details className="run-json" open={open} data-section={title.toLowerCase()}>
      <summary>{title}</summary>
      {isEmpty ? (
        <p className="muted small">{empty}</p>
      ) : (
        <>
          <pre>{cut ? `${text.slice(0, PREVIEW_CHARS)}\n…` : text}</pre>
          {cut && (
            <button type="button" className="run-link-button" onClick={() => setAll(true)}>
              Show all ({Math.round(text.length / 1024)} KB)
            </button>
          )}
        </>
      )}
    </details>
  );
}
