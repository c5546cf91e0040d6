// A few DOM helpers: elements are built with textContent only, never innerHTML, so nothing
// an answer holds can become markup.
import { dayNumeric, dayShort, parseDay, t } from "./i18n";

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

/** A day field in the console's conventions, not the browser's: the native date input shows
 * the browser's locale (mm/dd/yyyy in an American Chromium), whatever the page's language.
 * Typed as dd/mm/yyyy, shown beside as "3 Des 2026"; `day()` reads "YYYY-MM-DD" ("" when
 * empty); a text that is no day fails the form's own validation with a message. */
export function dayField(id: string, label: string, value: string, required = false): { field: HTMLLabelElement; day: () => string } {
  const input = el("input", {
    id,
    name: id,
    type: "text",
    inputmode: "numeric",
    autocomplete: "off",
    size: "10",
    placeholder: t("dayFormat"),
    "aria-describedby": `${id}-shown`,
    ...(required ? { required: "" } : {}),
  });
  input.value = dayNumeric(value);
  // Outside the input's name (aria-hidden), read as its description.
  const shown = el("output", { id: `${id}-shown`, for: id, class: "day-shown", "aria-hidden": "true" });
  const read = (): string => {
    const text = input.value.trim();
    const day = text === "" ? "" : parseDay(text);
    input.setCustomValidity(day === null ? t("notADay") : "");
    shown.textContent = day ? dayShort(day) : "";
    input.dataset.day = day ?? "";
    return day ?? "";
  };
  input.addEventListener("input", () => void read());
  read();
  return { field: el("label", { for: id }, `${label} (${t("dayFormat")})`, input, shown), day: read };
}
