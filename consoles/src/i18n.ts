// Bahasa Indonesia first, English available: every text of the consoles, and numbers and
// dates in Indonesian conventions (Intl with id-ID, the WIB time zone).
export type Lang = "id" | "en";

const TEXT = {
  title: ["Konsol Gerbang", "Gerbang consoles"],
  crimeMap: ["Peta kejadian", "Crime map"],
  dashboard: ["Dasbor eksekutif", "Executive dashboard"],
  signIn: ["Masuk", "Sign in"],
  signOut: ["Keluar", "Sign out"],
  signInAgain: ["Masuk lagi", "Sign in again"],
  signInHint: [
    "Tempel token API klien dan token ID Anda dari penerbit organisasi. Keduanya disimpan di tab ini saja.",
    "Paste the client's API token and your ID token from the organisation's issuer. Both are kept in this tab only.",
  ],
  apiToken: ["Token API", "API token"],
  idToken: ["Token ID (pengguna)", "ID token (user)"],
  signedInAs: ["Masuk sebagai", "Signed in as"],
  month: ["Bulan", "Month"],
  endMonth: ["Sampai bulan", "Up to month"],
  category: ["Kategori", "Category"],
  allCategories: ["Semua kategori", "All categories"],
  kota: ["Kota", "Kota"],
  allKota: ["Semua kota", "All kota"],
  resolution: ["Resolusi H3", "H3 resolution"],
  show: ["Tampilkan", "Show"],
  loading: ["Memuat…", "Loading…"],
  period: ["Periode", "Period"],
  mechanism: ["Mekanisme", "Mechanism"],
  epsilon: ["ε (epsilon)", "ε (epsilon)"],
  k: ["k (ambang minimum)", "k (minimum count)"],
  budgetLeft: ["Sisa anggaran privasi", "Privacy budget left"],
  charged: ["Dibebankan", "Charged"],
  heldRelease: ["rilis tersimpan diulang, tanpa biaya", "held release repeated, no charge"],
  receipt: ["Tanda terima audit", "Audit receipt"],
  entry: ["entri", "entry"],
  withheld: ["Ditahan (di bawah k)", "Withheld (below k)"],
  withheldCells: ["sel ditahan", "cells withheld"],
  released: ["sel dirilis", "cells released"],
  incidents: ["Kejadian", "Incidents"],
  rate: ["Per 100.000 penduduk", "Per 100,000 people"],
  clearance: ["Tingkat penyelesaian", "Clearance rate"],
  trend: ["Tren (3 bln vs 3 bln sebelumnya)", "Trend (3 months vs the 3 before)"],
  vsCity: ["Dibanding kota", "Compared with the city"],
  city: ["Seluruh kota", "Whole city"],
  areas: ["wilayah", "areas"],
  exportCsv: ["Unduh CSV", "Download CSV"],
  denied: ["Permintaan ditolak", "Request denied"],
  reasons: ["Alasan kebijakan", "Policy reasons"],
  approximate: ["Batas kecamatan perkiraan, bukan resmi", "Approximate kecamatan outlines, not official"],
  count: ["Jumlah (berderau)", "Count (noisy)"],
  interval: ["Selang", "Interval"],
  noData: ["Tidak ada data", "No data"],
  language: ["English", "Bahasa Indonesia"],
  // Command centre, patrol planning, dashboard figures, views by purpose (ADR 0020).
  commandCentre: ["Pusat komando", "Command centre"],
  patrol: ["Perencanaan patroli", "Patrol planning"],
  viewDenied: ["Tampilan tidak diizinkan", "View not allowed"],
  viewDeniedDetail: ["Kebijakan tidak memberi organisasi ini tujuan", "The policy does not give this organisation the purpose"],
  observed: ["Teramati", "Observed"],
  expected: ["Diharapkan", "Expected"],
  threshold: ["Ambang", "Threshold"],
  window: ["Jendela", "Window"],
  days: ["hari", "days"],
  alert: ["Peringatan", "Alert"],
  alerts: ["peringatan", "alerts"],
  acknowledge: ["Tandai sudah dilihat", "Acknowledge"],
  acknowledged: ["Sudah dilihat", "Acknowledged"],
  acknowledgedBy: ["Dilihat oleh", "Acknowledged by"],
  fromDay: ["Dari hari", "From day"],
  toDay: ["Sampai hari", "To day"],
  watch: ["Pantau", "Watch"],
  daysScanned: ["Hari yang dipindai", "Days scanned"],
  alertsHeading: ["Peringatan dini", "Early warnings"],
  live: ["Langsung", "Live"],
  pace: ["Jeda antarhari (putar ulang)", "Pause between days (replay)"],
  asFast: ["tanpa jeda", "none"],
  secondsPerDay: ["detik/hari", "s/day"],
  streamEnded: ["Aliran selesai", "Stream ended"],
  noAlerts: ["Tidak ada peringatan pada hari-hari ini", "No alerts on these days"],
  baseline: ["dasar", "baseline"],
  recent: ["terkini", "recent"],
  near_repeat: ["pengulangan dekat", "near repeat"],
  unit: ["Unit", "Unit"],
  units: ["Jumlah unit", "Units"],
  unitsPlaced: ["unit ditempatkan", "units placed"],
  riskScore: ["Skor risiko", "Risk score"],
  kecamatan: ["Kecamatan", "Kecamatan"],
  cell: ["Sel H3", "H3 cell"],
  perDay: ["Kejadian/hari", "Incidents/day"],
  factors: ["Faktor", "Factors"],
  patrolPlan: ["Rencana patroli", "Patrol plan"],
  capPerKecamatan: ["Batas unit per kecamatan", "Units per kecamatan at most"],
  coverage: ["cakupan", "coverage"],
  asOf: ["per", "as of"],
  deploymentBasemap: ["Peta dasar dari penyelenggara", "Base map from the deployment"],
  monthlySeries: ["Kejadian per bulan", "Incidents per month"],
  indexMap: ["Peta indeks: laju dibanding kota", "Index map: rate compared with the city"],
  printReport: ["Cetak laporan", "Print report"],
  printedAt: ["dicetak", "printed"],
  dayFormat: ["hh/bb/tttt", "dd/mm/yyyy"],
  notADay: ["Tulis tanggal sebagai hh/bb/tttt, mis. 03/12/2026", "Write the date as dd/mm/yyyy, e.g. 03/12/2026"],
} as const;

export type Key = keyof typeof TEXT;

const CATEGORY: Record<string, [string, string]> = {
  theft: ["Pencurian", "Theft"],
  motor_vehicle_theft: ["Curanmor", "Motor vehicle theft"],
  burglary: ["Pembobolan rumah", "Burglary"],
  robbery: ["Perampokan", "Robbery"],
  assault: ["Penganiayaan", "Assault"],
  fraud: ["Penipuan", "Fraud"],
  narcotics: ["Narkotika", "Narcotics"],
  vandalism: ["Perusakan", "Vandalism"],
  public_disorder: ["Gangguan ketertiban", "Public disorder"],
  traffic_accident: ["Kecelakaan lalu lintas", "Traffic accident"],
};

const LANG_KEY = "gerbang.lang";

export function lang(): Lang {
  return sessionStorage.getItem(LANG_KEY) === "en" ? "en" : "id";
}

export function setLang(l: Lang): void {
  sessionStorage.setItem(LANG_KEY, l);
  document.documentElement.lang = l;
}

export function t(key: Key): string {
  return TEXT[key][lang() === "id" ? 0 : 1];
}

export function category(name: string): string {
  const c = CATEGORY[name];
  return c ? c[lang() === "id" ? 0 : 1] : name;
}

function locale(): string {
  return lang() === "id" ? "id-ID" : "en-GB";
}

// Making an Intl formatter costs far more than using one (tens of microseconds): a map of a
// thousand cells, three figures each, spent a third of a second making them. One per locale
// and options, kept.
const NUMBER_FORMATS = new Map<string, Intl.NumberFormat>();
const DATE_FORMATS = new Map<string, Intl.DateTimeFormat>();

function numberFormat(options: Intl.NumberFormatOptions): Intl.NumberFormat {
  const key = `${locale()} ${JSON.stringify(options)}`;
  let f = NUMBER_FORMATS.get(key);
  if (f === undefined) NUMBER_FORMATS.set(key, (f = new Intl.NumberFormat(locale(), options)));
  return f;
}

function dateFormat(options: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  const key = `${locale()} ${JSON.stringify(options)}`;
  let f = DATE_FORMATS.get(key);
  if (f === undefined) DATE_FORMATS.set(key, (f = new Intl.DateTimeFormat(locale(), options)));
  return f;
}

export function num(n: number, digits = 0): string {
  return numberFormat({ maximumFractionDigits: digits, minimumFractionDigits: digits }).format(n);
}

export function percent(x: number): string {
  return numberFormat({ style: "percent", maximumFractionDigits: 1 }).format(x);
}

/** A month "2026-10" as "Oktober 2026". */
export function monthName(month: string): string {
  const [y, m] = month.split("-").map(Number);
  const d = new Date(Date.UTC(y ?? 1970, (m ?? 1) - 1, 15));
  return dateFormat({ month: "long", year: "numeric", timeZone: "UTC" }).format(d);
}

/** An RFC 3339 time as a date in WIB, e.g. "1 Oktober 2026". */
export function date(iso: string | null): string {
  if (iso === null) return "–";
  return dateFormat({ dateStyle: "long", timeZone: "Asia/Jakarta" }).format(new Date(iso));
}

/** A time as day and clock in WIB, e.g. "3 Des 2026, 14.05.09". */
export function dateTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return dateFormat({ dateStyle: "medium", timeStyle: "medium", timeZone: "Asia/Jakarta" }).format(d);
}

/** "Okt 26": a month (given as UTC seconds), short, for a chart's ticks. */
export function shortMonth(seconds: number): string {
  return dateFormat({ month: "short", year: "2-digit", timeZone: "UTC" }).format(new Date(seconds * 1000));
}

/** A small probability as "1,2E-5" (id) or "1.2E-5" (en). */
export function scientific(x: number): string {
  return numberFormat({ notation: "scientific", maximumFractionDigits: 1 }).format(x);
}

/** A budget's periods for reading: each day "2026-10-04" as "4 Okt 2026", each month
 * "2026-10" as "Oktober 2026", each ISO week with its Monday ("2026-W43 (19 Okt 2026)"). */
export function periods(text: string): string {
  return text.replace(/\b\d{4}-(W\d{2}|\d{2}-\d{2}|\d{2})\b/g, (m, part: string) =>
    part.startsWith("W") ? week(m) : part.length === 5 ? dayShort(m) : monthName(m),
  );
}

function utcDay(day: string): Date | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  if (!m) return null;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return d.toISOString().slice(0, 10) === day ? d : null;
}

/** A day "YYYY-MM-DD" as typed in the day fields: "03/12/2026" (dd/mm/yyyy, id and en-GB alike). */
export function dayNumeric(day: string): string {
  const d = utcDay(day);
  return d === null ? "" : dateFormat({ day: "2-digit", month: "2-digit", year: "numeric", timeZone: "UTC" }).format(d);
}

/** A day "YYYY-MM-DD" as "3 Des 2026" (id) or "3 Dec 2026" (en). */
export function dayShort(day: string): string {
  const d = utcDay(day);
  return d === null ? day : dateFormat({ day: "numeric", month: "short", year: "numeric", timeZone: "UTC" }).format(d);
}

/** "3/12/2026" or "03-12-2026" (day first, as both languages write it) as "2026-12-03"; null
 * when it is no such day. */
export function parseDay(text: string): string | null {
  const m = /^\s*(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})\s*$/.exec(text);
  if (!m) return null;
  const day = `${m[3]}-${m[2]!.padStart(2, "0")}-${m[1]!.padStart(2, "0")}`;
  return utcDay(day) === null ? null : day;
}

/** An ISO week "2026-W43" with its Monday: "2026-W43 (19 Okt 2026)". */
export function week(key: string): string {
  const m = /^(\d{4})-W(\d{2})$/.exec(key);
  if (!m) return key;
  const jan4 = Date.UTC(Number(m[1]), 0, 4);
  const monday = jan4 - (((new Date(jan4).getUTCDay() + 6) % 7) * 86_400_000) + (Number(m[2]) - 1) * 7 * 86_400_000;
  return `${key} (${dayShort(new Date(monday).toISOString().slice(0, 10))})`;
}
