// New ids for nodes, edges and notes: readable (`http_request_2`), unique within the document,
// and limited to characters that are safe in URLs, CSS selectors and expressions
// (`{{ nodes.http_request_2.body }}` must parse).

export function slugForType(type: string): string {
  const base = type.split(".").pop() || "node";
  const slug = base.toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "");
  return /^[a-z]/.test(slug) ? slug.slice(0, 40) : `n_${slug}`.slice(0, 40);
}

/** The first free `<type>`, `<type>_2`, `<type>_3`, … not in `taken`. */
export function newNodeId(type: string, taken: ReadonlySet<string>): string {
  const base = slugForType(type);
  if (!taken.has(base)) return base;
  for (let n = 2; ; n++) {
    const id = `${base}_${n}`;
    if (!taken.has(id)) return id;
  }
}

export function newId(prefix: string, taken: ReadonlySet<string>): string {
  for (let n = taken.size + 1; ; n++) {
    const id = `${prefix}${n}`;
    if (!taken.has(id)) return id;
  }
}
