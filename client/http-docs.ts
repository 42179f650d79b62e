/**
 * A small reference page rendered from the OpenAPI document (/docs): every route with its summary,
 * parameters and body fields. Served without scripts or external assets; /openapi.json is the source.
 */
export interface OpenApiDoc {
  info: { title: string; version: string; description?: string };
  paths: Record<string, Record<string, { summary?: string; tags?: string[]; parameters?: Array<{ name: string; in: string; required?: boolean; description?: string }>; requestBody?: { content?: Record<string, { schema?: { properties?: Record<string, unknown>; required?: string[] } }> } }>>;
}

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function docsPage(doc: OpenApiDoc): string {
  const rows = Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, op]) => {
      const params = (op.parameters ?? []).map((p) => `${p.name} (${p.in}${p.required ? ', required' : ''})`);
      const body = op.requestBody?.content?.['application/json']?.schema;
      const fields = Object.keys(body?.properties ?? {}).map((f) => (body?.required?.includes(f) ? `${f}*` : f));
      return `<tr><td><code>${esc(method.toUpperCase())} ${esc(path)}</code></td><td>${esc(op.summary ?? '')}</td><td>${esc(params.join(', '))}</td><td>${esc(fields.join(', '))}</td></tr>`;
    }),
  );
  return `<!doctype html><html><head><meta charset="utf-8"><title>${esc(doc.info.title)}</title>
<style>body{font:14px system-ui,sans-serif;margin:1.5rem}td,th{border-bottom:1px solid #ddd;padding:.3rem;text-align:left;vertical-align:top}</style></head><body>
<h1>${esc(doc.info.title)} ${esc(doc.info.version)}</h1><p>${esc(doc.info.description ?? '')}</p>
<p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3). Every route but /healthz, /openapi.json, /docs and /login takes <code>Authorization: Bearer &lt;key or JWT&gt;</code>.</p>
<table><thead><tr><th>Route</th><th>What</th><th>Parameters</th><th>Body fields (* required)</th></tr></thead><tbody>${rows.join('')}</tbody></table></body></html>`;
}
