// A few DOM helpers: elements are built with textContent only, never innerHTML, so nothing
// an answer holds can become markup.
type Child = Node | string | null | undefined;

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

export function select(id: string, label: string, options: [string, string][], value: string): HTMLLabelElement {
  const s = el("select", { id, name: id });
  for (const [v, text] of options) {
    const o = el("option", { value: v }, text);
    if (v === value) o.selected = true;
    s.append(o);
  }
  return el("label", { for: id }, label, s);
}
