// The params form drawn from the node's JSON Schema (see ../flow/paramsForm.ts). Each control
// writes through the store, typing in one field coalescing into one undo step.
import { memo, useState } from "react";
import type { EditorStore } from "../flow/editorStore";
import { hasExpression, previewExpression, type ExpressionScope } from "../flow/expressions";
import { fieldProblems, type ProblemIndex } from "../flow/problems";
import { formatJsonField, parseJsonField, parseNumberField, shownValue, type FieldModel } from "../flow/paramsForm";
import type { JsonValue } from "../flow/types";

interface FieldProps {
  field: FieldModel;
  /** Concrete path segments below `params` (`["cases", "0", "name"]`). */
  at: string[];
  value: JsonValue | undefined;
  onChange: (value: JsonValue | undefined) => void;
  ctx: FormContext;
}

interface FormContext {
  nodeId: string;
  problems: ProblemIndex;
  scope: ExpressionScope | null;
  seal: () => void;
}

export const ParamsForm = memo(function ParamsForm(props: {
  store: EditorStore;
  nodeId: string;
  fields: FieldModel[];
  params: { [key: string]: JsonValue } | undefined;
  problems: ProblemIndex;
  scope: ExpressionScope | null;
}) {
  const { store, nodeId, fields, params, problems, scope } = props;
  const ctx: FormContext = { nodeId, problems, scope, seal: () => store.sealHistory() };
  if (!fields.length) return <p className="muted small">This node has no settings.</p>;
  return (
    <div className="plait-form" data-testid="params-form">
      {fields.map((field) => (
        <Field
          key={field.key}
          field={field}
          at={[field.key]}
          value={params?.[field.key]}
          ctx={ctx}
          onChange={(value) => store.setNodeParam(nodeId, [field.key], value, { coalesce: `param:${nodeId}:${field.key}` })}
        />
      ))}
    </div>
  );
});

function pathOf(at: string[]): string {
  return ["params", ...at].join(".");
}

function Problems({ field, at, ctx }: { field: FieldModel; at: string[]; ctx: FormContext }) {
  const exact = field.kind === "object" || field.kind === "list" || field.kind === "map";
  const problems = fieldProblems(ctx.problems, ctx.nodeId, pathOf(at), exact);
  if (!problems.length) return null;
  return (
    <ul className="plait-field-problems" data-testid={`problem-${pathOf(at)}`}>
      {problems.map((p, i) => (
        <li key={i} className={p.severity === "warning" ? "warning" : "error"}>{p.message}</li>
      ))}
    </ul>
  );
}

function Help({ field }: { field: FieldModel }) {
  if (!field.description && !field.examples.length) return null;
  return (
    <span className="plait-field-help">
      {field.description}
      {field.examples.length > 0 && <> e.g. <code>{field.examples.map((e) => (typeof e === "string" ? e : JSON.stringify(e))).join(", ")}</code></>}
    </span>
  );
}

function Preview({ text, ctx }: { text: string; ctx: FormContext }) {
  const result = previewExpression(text, ctx.scope);
  return (
    <div className="plait-expr-preview" data-testid="expression-preview">
      <span className="plait-expr-badge" title="Evaluated at run time">{"{{ }}"} expression</span>{" "}
      {result.ok ? <code>{typeof result.value === "string" ? result.value : JSON.stringify(result.value)}</code> : <em className="muted">{result.reason}</em>}
    </div>
  );
}

function Label({ field }: { field: FieldModel }) {
  return (
    <span className="plait-field-label">
      {field.label}
      {field.required && <span className="required" aria-label="required"> *</span>}
    </span>
  );
}

function Field(props: FieldProps) {
  const { field, at, value, onChange, ctx } = props;
  const path = pathOf(at);
  const invalid = fieldProblems(ctx.problems, ctx.nodeId, path, field.kind === "object" || field.kind === "list" || field.kind === "map").length > 0;
  const shown = shownValue(field, value);
  const common = { "aria-invalid": invalid || undefined, "data-testid": `field-${path}`, onBlur: ctx.seal };
  const cls = `plait-field kind-${field.kind}${invalid ? " invalid" : ""}`;

  switch (field.kind) {
    case "string":
    case "text": {
      const text = typeof value === "string" ? value : value === undefined ? "" : JSON.stringify(value);
      const placeholder = shown !== undefined && shown !== null && value === undefined ? String(shown) : field.examples[0] !== undefined ? String(field.examples[0]) : "";
      return (
        <div className={cls}>
          <label>
            <Label field={field} />
            {field.kind === "text" ? (
              <textarea {...common} rows={4} value={text} placeholder={placeholder} onChange={(e) => onChange(e.target.value === "" ? undefined : e.target.value)} />
            ) : (
              <input {...common} type="text" value={text} placeholder={placeholder} onChange={(e) => onChange(e.target.value === "" ? undefined : e.target.value)} />
            )}
          </label>
          {field.expressions && hasExpression(text) && <Preview text={text} ctx={ctx} />}
          <Help field={field} />
          <Problems field={field} at={at} ctx={ctx} />
        </div>
      );
    }
    case "number":
    case "integer":
      return (
        <div className={cls}>
          <label>
            <Label field={field} />
            <input
              {...common}
              type="number"
              step={field.kind === "integer" ? 1 : "any"}
              min={field.minimum}
              max={field.maximum}
              value={typeof value === "number" ? value : ""}
              placeholder={shown !== undefined && shown !== null ? String(shown) : ""}
              onChange={(e) => onChange(parseNumberField(e.target.value, field.kind === "integer"))}
            />
          </label>
          <Help field={field} />
          <Problems field={field} at={at} ctx={ctx} />
        </div>
      );
    case "boolean":
      return (
        <div className={cls}>
          <label className="plait-check">
            <input {...common} type="checkbox" checked={shown === true} onChange={(e) => onChange(e.target.checked)} />
            <Label field={field} />
          </label>
          <Help field={field} />
          <Problems field={field} at={at} ctx={ctx} />
        </div>
      );
    case "enum":
      return (
        <div className={cls}>
          <label>
            <Label field={field} />
            <select
              {...common}
              value={value === undefined ? "" : JSON.stringify(value)}
              onChange={(e) => onChange(e.target.value === "" ? undefined : (JSON.parse(e.target.value) as JsonValue))}
            >
              <option value="">{field.default !== undefined ? `Default (${String(field.default)})` : "—"}</option>
              {field.options.map((option) => (
                <option key={JSON.stringify(option)} value={JSON.stringify(option)}>{String(option)}</option>
              ))}
            </select>
          </label>
          <Help field={field} />
          <Problems field={field} at={at} ctx={ctx} />
        </div>
      );
    case "object": {
      const obj = value && typeof value === "object" && !Array.isArray(value) ? value : {};
      return (
        <fieldset className={cls} data-testid={`field-${path}`}>
          <legend><Label field={field} /></legend>
          <Help field={field} />
          {field.children.map((child) => (
            <Field
              key={child.key}
              field={child}
              at={[...at, child.key]}
              value={obj[child.key]}
              ctx={ctx}
              onChange={(v) => {
                const next = { ...obj };
                if (v === undefined) delete next[child.key];
                else next[child.key] = v;
                onChange(Object.keys(next).length ? next : undefined);
              }}
            />
          ))}
          <Problems field={field} at={at} ctx={ctx} />
        </fieldset>
      );
    }
    case "map":
      return <MapField {...props} />;
    case "list":
      return <ListField {...props} />;
    default:
      return <JsonField {...props} />;
  }
}

function MapField({ field, at, value, onChange, ctx }: FieldProps) {
  const obj = value && typeof value === "object" && !Array.isArray(value) ? value : {};
  const entries = Object.entries(obj);
  const child = field.children[0]!;
  const path = pathOf(at);
  const setEntries = (next: Array<[string, JsonValue]>) => onChange(next.length ? Object.fromEntries(next) : undefined);
  return (
    <fieldset className={`plait-field kind-map`} data-testid={`field-${path}`}>
      <legend><Label field={field} /></legend>
      <Help field={field} />
      {entries.map(([key, v], i) => (
        <div className="plait-map-row" key={i}>
          <input
            aria-label={`${field.label} key ${i + 1}`}
            data-testid={`field-${path}.key.${i}`}
            value={key}
            onBlur={ctx.seal}
            onChange={(e) => setEntries(entries.map((entry, j) => (j === i ? [e.target.value, entry[1]] : entry)))}
          />
          <div className="plait-map-value">
            <Field
              field={{ ...child, label: key || "value" }}
              at={[...at, key]}
              value={v}
              ctx={ctx}
              onChange={(nv) => setEntries(entries.map((entry, j) => (j === i ? [entry[0], nv ?? ""] : entry)))}
            />
          </div>
          <button className="plait-icon-button" aria-label={`Remove ${key || "entry"}`} onClick={() => setEntries(entries.filter((_, j) => j !== i))}>×</button>
        </div>
      ))}
      <button
        className="small-button"
        onClick={() => {
          let n = entries.length + 1;
          while (`key${n}` in obj) n++;
          setEntries([...entries, [`key${n}`, ""]]);
        }}
      >
        + Add entry
      </button>
      <Problems field={field} at={at} ctx={ctx} />
    </fieldset>
  );
}

function ListField({ field, at, value, onChange, ctx }: FieldProps) {
  const items = Array.isArray(value) ? value : [];
  const child = field.children[0]!;
  const path = pathOf(at);
  const blank = (): JsonValue => (child.kind === "object" ? {} : child.kind === "number" || child.kind === "integer" ? 0 : child.kind === "boolean" ? false : "");
  return (
    <fieldset className="plait-field kind-list" data-testid={`field-${path}`}>
      <legend><Label field={field} /></legend>
      <Help field={field} />
      {items.map((item, i) => (
        <div className="plait-list-row" key={i}>
          <Field
            field={{ ...child, label: `${i + 1}` }}
            at={[...at, String(i)]}
            value={item}
            ctx={ctx}
            onChange={(v) => onChange(items.map((x, j) => (j === i ? (v ?? blank()) : x)))}
          />
          <button className="plait-icon-button" aria-label={`Remove item ${i + 1}`} onClick={() => onChange(items.length > 1 ? items.filter((_, j) => j !== i) : undefined)}>×</button>
        </div>
      ))}
      <button className="small-button" onClick={() => onChange([...items, blank()])}>+ Add item</button>
      <Problems field={field} at={at} ctx={ctx} />
    </fieldset>
  );
}

/** Any JSON value, or a string with expressions: the draft text stays while focused. */
function JsonField({ field, at, value, onChange, ctx }: FieldProps) {
  const [draft, setDraft] = useState<string | null>(null);
  const text = draft ?? formatJsonField(value);
  const path = pathOf(at);
  const invalid = fieldProblems(ctx.problems, ctx.nodeId, path).length > 0;
  return (
    <div className={`plait-field kind-json${invalid ? " invalid" : ""}`}>
      <label>
        <Label field={field} />
        <textarea
          className="code"
          rows={Math.min(8, Math.max(1, text.split("\n").length, Math.ceil(text.length / 32)))}
          data-testid={`field-${path}`}
          aria-invalid={invalid || undefined}
          value={text}
          placeholder={
            field.default !== undefined && field.default !== null
              ? JSON.stringify(field.default)
              : field.examples[0] !== undefined
                ? String(field.examples[0])
                : "Text, or JSON ({…}, […], numbers)"
          }
          onFocus={() => setDraft(formatJsonField(value))}
          onBlur={() => {
            setDraft(null);
            ctx.seal();
          }}
          onChange={(e) => {
            setDraft(e.target.value);
            onChange(parseJsonField(e.target.value));
          }}
        />
      </label>
      {field.expressions && hasExpression(text) && <Preview text={text} ctx={ctx} />}
      <Help field={field} />
      <Problems field={field} at={at} ctx={ctx} />
    </div>
  );
}
