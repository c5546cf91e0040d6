// The first question of each view with a map, as its form asks it by default. The shell sends
// it as soon as the policy lets the caller open the view, while the view's chunk (MapLibre,
// about 1 MB) is still loading; the view then asks every later question from its form.
import { heatmap, patrolPlan, securityIndex, type HeatmapGeoJson, type PatrolPlanAnswer, type Scope, type SecurityIndexAnswer } from "./api";
import { monthWindow, REGISTRY } from "./registry";

export const HEATMAP_PURPOSE = "spatial_planning";
export const INDEX_PURPOSE = "security_indicators";
export const PATROL_PURPOSE = "patrol_planning";

/** What the crime map's form chooses: a month, a category and a kota ("" for all), a resolution. */
export interface HeatmapChoice {
  month: string;
  category: string;
  kota: string;
  resolution: number;
}

export function latestMonth(): string {
  return REGISTRY.months[REGISTRY.months.length - 1] ?? "";
}

/** The crime map's form as it opens: the latest month, everything, the finest resolution. */
export function heatmapDefaults(): HeatmapChoice {
  const resolutions = REGISTRY.purposes[HEATMAP_PURPOSE].resolutions;
  return { month: latestMonth(), category: "", kota: "", resolution: resolutions[resolutions.length - 1] ?? 8 };
}

export function askHeatmap(c: HeatmapChoice): Promise<HeatmapGeoJson> {
  const purpose = REGISTRY.purposes[HEATMAP_PURPOSE];
  return heatmap(
    {
      purpose: HEATMAP_PURPOSE,
      legal_basis: purpose.legal_basis,
      ...monthWindow(c.month),
      ...(c.category ? { categories: [c.category] } : {}),
      ...(c.kota ? { kota: [c.kota] } : {}),
    },
    c.resolution,
  );
}

/** The security index of the twelve months before `month`'s end (gateway/analytics). */
export function indexScope(month: string): Scope {
  return { purpose: INDEX_PURPOSE, legal_basis: REGISTRY.purposes[INDEX_PURPOSE].legal_basis, end: monthWindow(month).end };
}

export function askIndex(month: string): Promise<SecurityIndexAnswer> {
  return securityIndex(indexScope(month));
}

/** What patrol planning's form chooses: units to place, the cap per kecamatan, a resolution. */
export interface PatrolChoice {
  units: number;
  cap: number;
  resolution: number;
}

/** Patrol planning's form as it opens: 20 units, 2 per kecamatan, the finest resolution. */
export function patrolDefaults(): PatrolChoice {
  const resolutions = REGISTRY.purposes[PATROL_PURPOSE].resolutions;
  return { units: 20, cap: 2, resolution: resolutions[resolutions.length - 1] ?? 8 };
}

/** The plan for the week that starts at the data's end (gateway/analytics). */
export function askPatrol(c: PatrolChoice): Promise<PatrolPlanAnswer> {
  const purpose = REGISTRY.purposes[PATROL_PURPOSE];
  const end = `${REGISTRY.data_end}T00:00:00+07:00`;
  return patrolPlan({ purpose: PATROL_PURPOSE, legal_basis: purpose.legal_basis, end }, c.units, c.cap, c.resolution);
}

const FILES = new Map<string, Promise<unknown>>();

/** A static file of the consoles the map views read (the base layer, the reference areas),
 * fetched once per page: the shell asks for it when a map view opens, before its chunk has
 * loaded, and the view reads the same answer. */
export function consoleFile<T>(path: string): Promise<T> {
  let file = FILES.get(path);
  if (file === undefined) {
    file = fetch(path).then(async (r) => (await r.json()) as unknown);
    FILES.set(path, file);
    file.catch(() => FILES.delete(path)); // asked again next time
  }
  return file as Promise<T>;
}

export const BASEMAP = "/consoles/basemap.geojson";
export const AREAS = "/consoles/areas.geojson";
