// What the purposes allow, generated from the policy registry by tools/consoles.py
// (registry.json; `make lint` fails when it is stale), and the windows on their grid.
import data from "./registry.json";

export interface PurposeLimits {
  legal_basis: string;
  resolutions: number[];
}

export interface Registry {
  purposes: Record<"spatial_planning" | "security_indicators" | "public_order_early_warning" | "patrol_planning", PurposeLimits>;
  categories: string[];
  kota: string[];
  months: string[];
  data_end: string;
}

export const REGISTRY = data as Registry;

/** Midnight WIB (UTC+07:00) of the first of a month "YYYY-MM", as RFC 3339. */
function monthStart(year: number, month: number): string {
  const y = year + Math.floor((month - 1) / 12);
  const m = ((month - 1) % 12) + 1;
  return `${y}-${String(m).padStart(2, "0")}-01T00:00:00+07:00`;
}

/** The whole month [first day, first day of the next) on the purposes' month grid. */
export function monthWindow(month: string): { start: string; end: string } {
  const [y, m] = month.split("-").map(Number) as [number, number];
  return { start: monthStart(y, m), end: monthStart(y, m + 1) };
}
