// The consoles' shell: sign-in, language, and a hash route per view (#/peta, #/dasbor).
import "./style.css";
import { gate } from "./access";
import { el } from "./dom";
import { lang, setLang, t } from "./i18n";
import { oversight, oversightLabel } from "./oversight";
import { AREAS, askHeatmap, askIndex, askPatrol, BASEMAP, consoleFile, heatmapDefaults, latestMonth, patrolDefaults } from "./questions";
import { credentials, signIn, signOut, subject } from "./session";

type Render = (root: HTMLElement) => Promise<void>;
/** Sends the view's first question once the policy lets the caller open the view (`allowed`). */
function first<T>(allowed: Promise<void>, ask: () => Promise<T>): Promise<T> {
  const asked = allowed.then(ask);
  asked.catch(() => undefined); // the view shows a refusal
  return asked;
}
/** The static files a map view reads, asked for with its chunk (public files: no audit). */
function prefetch(...paths: string[]): void {
  for (const path of paths) consoleFile(path).catch(() => undefined); // the view reports it
}
// The views with a map load MapLibre GL (most of the bundle) only when opened:
// each is its own chunk, asked for at once, while the agent is asked what the caller may see;
// their first question goes out when the answer allows it, not when the chunk has loaded.
const VIEWS: Record<string, { label: () => string; load: (allowed: Promise<void>) => Promise<Render> }> = {
  peta: {
    label: () => t("crimeMap"),
    load: (allowed) => {
      prefetch(BASEMAP, AREAS);
      const asked = first(allowed, () => askHeatmap(heatmapDefaults()));
      return import("./crimemap").then((m) => (root) => m.crimeMap(root, asked));
    },
  },
  dasbor: {
    label: () => t("dashboard"),
    load: (allowed) => {
      prefetch(BASEMAP);
      const asked = first(allowed, () => askIndex(latestMonth()));
      return import("./dashboard").then((m) => (root) => m.dashboard(root, asked));
    },
  },
  komando: { label: () => t("commandCentre"), load: () => import("./commandcentre").then((m) => m.commandCentre) },
  patroli: {
    label: () => t("patrol"),
    load: (allowed) => {
      prefetch(BASEMAP);
      const asked = first(allowed, () => askPatrol(patrolDefaults()));
      return import("./patrol").then((m) => (root) => m.patrol(root, asked));
    },
  },
  pengawasan: { label: oversightLabel, load: () => Promise.resolve(oversight) },
};

function loginForm(app: HTMLElement): void {
  const token = el("textarea", { id: "api-token", name: "token", rows: "2", required: "", autocomplete: "off" });
  const idToken = el("textarea", { id: "id-token", name: "idToken", rows: "5", required: "", autocomplete: "off" });
  const form = el(
    "form",
    { class: "login", "data-testid": "login" },
    el("h1", {}, t("title")),
    el("p", {}, t("signInHint")),
    el("label", { for: "api-token" }, t("apiToken"), token),
    el("label", { for: "id-token" }, t("idToken"), idToken),
    el("button", { type: "submit" }, t("signIn")),
    el("button", { type: "button", id: "lang" }, t("language")),
  );
  form.querySelector("#lang")?.addEventListener("click", () => {
    setLang(lang() === "id" ? "en" : "id");
    render(app);
  });
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    signIn({ token: token.value, idToken: idToken.value });
    render(app);
  });
  app.replaceChildren(el("main", {}, form));
}

function render(app: HTMLElement): void {
  document.documentElement.lang = lang();
  document.title = t("title");
  const who = credentials();
  if (who === null) {
    loginForm(app);
    return;
  }
  const name = location.hash.replace(/^#\/?/, "") || "peta";
  const view = VIEWS[name] ?? VIEWS["peta"]!;
  const nav = el(
    "nav",
    { "aria-label": t("title") },
    el("strong", {}, t("title")),
    ...Object.entries(VIEWS).map(([k, v]) => el("a", { href: `#/${k}`, ...(k === name ? { "aria-current": "page" } : {}) }, v.label())),
    el("span", { class: "who" }, `${t("signedInAs")} ${subject(who)}`),
    el("button", { type: "button", id: "lang" }, t("language")),
    el("button", { type: "button", id: "sign-out" }, t("signOut")),
  );
  const main = el("main", { id: "view", "data-view": name });
  app.replaceChildren(el("header", {}, nav), main);
  nav.querySelector("#lang")?.addEventListener("click", () => {
    setLang(lang() === "id" ? "en" : "id");
    render(app);
  });
  nav.querySelector("#sign-out")?.addEventListener("click", () => {
    signOut();
    render(app);
  });
  let allow = (): void => undefined;
  const allowed = new Promise<void>((done) => (allow = done));
  const loading = view.load(allowed);
  loading.catch(() => undefined); // reported below, when the gate lets the view render
  gate(name, nav, main, async () => {
    allow();
    return (await loading)(main);
  }).catch((e: unknown) => {
    main.append(el("p", { class: "problem", role: "alert" }, String(e)));
  });
}

const app = document.getElementById("app");
if (app) {
  window.addEventListener("hashchange", () => render(app));
  render(app);
}
