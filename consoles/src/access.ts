// Which views a role sees: each view serves one purpose, and the live policy's Capabilities
// (GET /v1/capabilities) name the purposes this organisation holds. A view outside them is
// hidden from the navigation and, opened directly, shows the policy's reason instead.
import { capabilities, Refused, type Capabilities, type Problem } from "./api";
import { auditSettings } from "./auditlog";
import { el } from "./dom";
import { problemPanel } from "./facts";
import { t } from "./i18n";
import { credentials } from "./session";

/** The purpose each view asks under (views not named here are not limited by purpose). */
export const PURPOSE_OF: Record<string, string> = {
  peta: "spatial_planning",
  dasbor: "security_indicators",
  komando: "public_order_early_warning",
  patroli: "patrol_planning",
};

let cached: { key: string; caps: Promise<Capabilities> } | null = null;

/** The capabilities for the tokens signed in, asked once per sign-in. */
export function caps(): Promise<Capabilities> {
  const key = `${credentials()?.token ?? ""}\n${credentials()?.idToken ?? ""}`;
  if (cached === null || cached.key !== key) {
    const asked = capabilities();
    cached = { key, caps: asked };
    asked.catch(() => (cached = null));
  }
  return cached.caps;
}

/** The oversight view is not a purpose but an identity: the agent's audit settings answer
 * only an oversight body's agent (gateway/agent/oversight.py). Asked once per sign-in. */
const OVERSIGHT_VIEW = "pengawasan";
let oversightCached: { key: string; allowed: Promise<boolean> } | null = null;

function oversightAllowed(): Promise<boolean> {
  const key = `${credentials()?.token ?? ""}\n${credentials()?.idToken ?? ""}`;
  if (oversightCached === null || oversightCached.key !== key) {
    const allowed = auditSettings().then(
      (settings) => settings.log_key !== null,
      (e: unknown) => {
        if (e instanceof Refused) return false;
        oversightCached = null;
        throw e;
      },
    );
    oversightCached = { key, allowed };
  }
  return oversightCached.allowed;
}

/** Why the policy does not let this caller open the view, or null when it does. */
export function denial(c: Capabilities, view: string): Problem | null {
  const purpose = PURPOSE_OF[view];
  if (purpose === undefined || c.purposes.some((p) => p.name === purpose)) return null;
  const held = c.purposes.map((p) => p.name).join(", ") || "–";
  return {
    type: "https://gerbang.jakarta.go.id/problems/purpose-not-allowed",
    title: t("viewDenied"),
    status: 403,
    detail: `${t("viewDeniedDetail")} ${purpose}`,
    reasons: [
      `purpose ${purpose} is not among the purposes of caller ${c.caller} in policy revision ${c.policy_revision.slice(0, 12)} (held: ${held})`,
    ],
    request_id: "",
  };
}

/** Hide the links the caller may not follow, then render the view or the reason it may not. */
export async function gate(view: string, nav: HTMLElement, main: HTMLElement, render: () => Promise<void>): Promise<void> {
  // Both questions go out together; the second is only awaited when its link is shown.
  const overseer = oversightAllowed();
  overseer.catch(() => undefined);
  let c: Capabilities;
  try {
    c = await caps();
  } catch (e) {
    if (!(e instanceof Refused)) throw e;
    main.replaceChildren(el("h1", {}, t("title")), problemPanel(e.problem));
    main.dataset.ready = "true";
    return;
  }
  const links = async (): Promise<void> => {
    for (const a of nav.querySelectorAll<HTMLAnchorElement>("a[href^='#/']")) {
      const target = a.getAttribute("href")?.slice(2) ?? "";
      if (denial(c, target) !== null) a.hidden = true;
      // The view itself says why when opened directly; the link is only hidden.
      if (target === OVERSIGHT_VIEW && !(await overseer)) a.hidden = true;
    }
  };
  const refused = denial(c, view);
  // An allowed view starts at once; the oversight link waits for its own answer meanwhile.
  if (refused === null) {
    await Promise.all([render(), links()]);
    return;
  }
  await links();
  main.replaceChildren(el("h1", {}, t("viewDenied")), problemPanel(refused));
  main.dataset.denied = "true";
  main.dataset.ready = "true";
}
