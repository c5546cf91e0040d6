// Oversight console (Kompolnas, DPRD): the audit log, browsed and filtered; each entry's
// inclusion proof and the latest checkpoint verified here, in the browser (verify.ts), with the
// log key and witness keys the oversight body pinned in its agent's [oversight] configuration;
// the witnesses' cosignatures; requests and denials per caller, purpose and week; and an
// entry's sealed details, opened by the agent with the body's key where the role allows.
import { Refused } from "./api";
import {
  auditEntries,
  auditSettings,
  auditStatistics,
  inclusionProof,
  latestCheckpoint,
  openDetails,
  type AuditSettings,
  type Count,
  type EntryFilter,
  type EntrySummary,
} from "./auditlog";
import { dayField, el, select } from "./dom";
import { problemPanel } from "./facts";
import { dateTime, lang, num, week } from "./i18n";
import { fromBase64, leafHash, toHex, verifyCheckpoint, verifyInclusion, VerifyError, type VerifiedCheckpoint } from "./verify";

const TEXT = {
  oversight: ["Konsol pengawasan", "Oversight console"],
  log: ["Log audit", "Audit log"],
  caller: ["Pemanggil", "Caller"],
  purpose: ["Tujuan", "Purpose"],
  dataset: ["Dataset", "Dataset"],
  decision: ["Keputusan", "Decision"],
  from: ["Dari tanggal", "From"],
  to: ["Sampai sebelum", "Until before"],
  all: ["Semua", "All"],
  allow: ["Diizinkan", "Allowed"],
  deny: ["Ditolak", "Denied"],
  error: ["Galat", "Error"],
  show: ["Tampilkan", "Show"],
  older: ["Lebih lama", "Older"],
  time: ["Waktu (WIB)", "Time (WIB)"],
  index: ["Entri", "Entry"],
  status: ["Status", "Status"],
  check: ["Periksa bukti", "Check proof"],
  entries: ["entri", "entries"],
  scanned: ["dipindai", "scanned"],
  checkpoint: ["Checkpoint terbaru", "Latest checkpoint"],
  against: ["diperiksa terhadap checkpoint ukuran pohon", "checked against the checkpoint of tree size"],
  treeSize: ["Ukuran pohon", "Tree size"],
  root: ["Akar", "Root"],
  logSignature: ["Tanda tangan log", "Log signature"],
  valid: ["sah, diperiksa di peramban", "valid, checked in the browser"],
  invalid: ["TIDAK SAH", "NOT VALID"],
  noKey: ["tanpa kunci terkonfigurasi, tidak diperiksa", "no key configured, not checked"],
  witnesses: ["Saksi dan kosignatur", "Witnesses and cosignatures"],
  notCosigned: ["belum menandatangani checkpoint ini", "has not cosigned this checkpoint"],
  noCosignature: ["Belum ada kosignatur untuk checkpoint ini", "No cosignature for this checkpoint yet"],
  proof: ["Bukti inklusi", "Inclusion proof"],
  proofOk: ["Bukti inklusi sah: entri ini ada di log yang ditandatangani", "Inclusion proof valid: this entry is in the signed log"],
  proofBad: ["Bukti inklusi GAGAL", "Inclusion proof FAILED"],
  leafHash: ["Hash daun", "Leaf hash"],
  details: ["Rincian tersegel", "Sealed details"],
  openDetails: ["Buka rincian tersegel", "Open sealed details"],
  noDetails: ["Entri ini tanpa rincian tersegel", "This entry has no sealed details"],
  statistics: ["Statistik: permintaan dan penolakan", "Statistics: requests and denials"],
  week: ["Minggu", "Week"],
  requests: ["Permintaan", "Requests"],
  denials: ["Penolakan", "Denials"],
  partial: ["sebagian log (batas pindai)", "part of the log (scan limit)"],
  noEntries: ["Tidak ada entri yang cocok", "No matching entries"],
  noLogKey: ["Agen tidak mengonfigurasi kunci log: tidak ada yang dapat diperiksa", "The agent pins no log key: nothing can be checked"],
} as const;

type Key = keyof typeof TEXT;
const tr = (k: Key): string => TEXT[k][lang() === "id" ? 0 : 1];
export const oversightLabel = (): string => tr("oversight");

/** A caller's SPIFFE ID without the federation's prefix, for reading. */
function short(caller: string): string {
  return caller.replace(/^spiffe:\/\/[^/]+\//, "");
}

function fact(label: string, value: string | Node, testid: string): HTMLElement {
  return el("div", { class: "fact", "data-testid": testid }, el("dt", {}, label), el("dd", {}, value));
}

function statsTable(caption: string, rows: (Count & { key: string })[], testid: string, label: (key: string) => string = short): HTMLElement {
  return el(
    "table",
    { class: "stats", "data-testid": testid },
    el("caption", {}, caption),
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, caption), el("th", { scope: "col" }, tr("requests")), el("th", { scope: "col" }, tr("denials")))),
    el(
      "tbody",
      {},
      ...rows.map((r) =>
        el("tr", { "data-key": r.key }, el("th", { scope: "row" }, label(r.key)), el("td", {}, num(r.requests)), el("td", {}, num(r.denials))),
      ),
    ),
  );
}

function input(id: string, label: string, type: string): HTMLLabelElement {
  return el("label", { for: id }, label, el("input", { id, name: id, type }));
}

function toRfc3339(day: string): string {
  // A date picked in the city's clock: midnight WIB.
  return day ? `${day}T00:00:00+07:00` : "";
}

export async function oversight(root: HTMLElement): Promise<void> {
  const settings: AuditSettings = await auditSettings();
  const from = dayField("from", tr("from"), "");
  const to = dayField("to", tr("to"), "");
  const form = el(
    "form",
    { class: "controls", "aria-label": tr("log") },
    select("caller", tr("caller"), [["", tr("all")]], ""),
    select("purpose", tr("purpose"), [["", tr("all")]], ""),
    input("dataset", tr("dataset"), "text"),
    select("decision", tr("decision"), [["", tr("all")], ["allow", tr("allow")], ["deny", tr("deny")], ["error", tr("error")]], ""),
    from.field,
    to.field,
    el("button", { type: "submit" }, tr("show")),
  );
  const status = el("div", { class: "status", "aria-live": "polite", "data-testid": "status" });
  const rows = el("tbody", {});
  const table = el(
    "table",
    { class: "log", "data-testid": "entries" },
    el("caption", {}, tr("log")),
    el(
      "thead",
      {},
      el("tr", {}, ...(["index", "time", "caller", "purpose", "dataset", "decision", "status", "check"] as const).map((k) => el("th", { scope: "col" }, tr(k)))),
    ),
    rows,
  );
  const older = el("button", { type: "button", "data-testid": "older", hidden: "" }, tr("older"));
  const checkpointBox = el("section", { class: "facts", "data-testid": "checkpoint", "aria-label": tr("checkpoint") });
  const proofBox = el("section", { class: "facts", "data-testid": "proof", "aria-label": tr("proof"), hidden: "" });
  const statsBox = el("section", { class: "statistics", "data-testid": "statistics", "aria-label": tr("statistics") });
  const side = el("aside", { class: "side" }, checkpointBox, proofBox);
  root.replaceChildren(
    el("h1", {}, tr("oversight")),
    form,
    status,
    el("div", { class: "split" }, el("div", { class: "log-wrap" }, table, older), side),
    statsBox,
  );

  let next: number | null = null;
  // The checkpoint the panel shows: the latest one this page verified, whether it came with
  // the panel's own request or with an inclusion proof (the gateway proves against its latest).
  let shown: VerifiedCheckpoint | null = null;

  function filter(): EntryFilter {
    const f = new FormData(form);
    const get = (k: string): string => String(f.get(k) ?? "");
    return { caller: get("caller"), purpose: get("purpose"), dataset: get("dataset").trim(), decision: get("decision"), from: toRfc3339(from.day()), to: toRfc3339(to.day()) };
  }

  function row(e: EntrySummary): HTMLElement {
    const button = el("button", { type: "button", "data-testid": "check", "aria-label": `${tr("check")} #${e.index}` }, tr("check"));
    button.addEventListener("click", () => void check(e.index));
    return el(
      "tr",
      { "data-testid": "entry", "data-index": String(e.index), "data-decision": e.decision },
      el("td", {}, `#${e.index}`),
      el("td", {}, dateTime(e.time)),
      el("td", {}, short(e.caller)),
      el("td", {}, e.purpose || "–"),
      el("td", {}, e.dataset || "–"),
      el("td", { class: `decision ${e.decision}` }, e.decision === "allow" ? tr("allow") : e.decision === "deny" ? tr("deny") : e.decision || e.kind),
      el("td", {}, e.status),
      el("td", {}, button),
    );
  }

  async function list(before?: number): Promise<void> {
    const page = await auditEntries({ ...filter(), ...(before === undefined ? {} : { before }), limit: 50 });
    if (before === undefined) rows.replaceChildren();
    rows.append(...page.entries.map(row));
    next = page.next_before;
    older.hidden = next === null;
    const shown = rows.children.length;
    status.textContent = shown ? `${num(shown)} ${tr("entries")} · ${num(page.scanned)} ${tr("scanned")} / ${num(page.size)}` : tr("noEntries");
    status.dataset.count = String(shown);
  }

  async function statistics(): Promise<void> {
    const s = await auditStatistics({ from: filter().from ?? "", to: filter().to ?? "" });
    statsBox.replaceChildren(
      el("h2", {}, tr("statistics"), s.complete ? "" : ` (${tr("partial")})`),
      el(
        "div",
        { class: "stats-grid" },
        statsTable(tr("caller"), s.by_caller.map((r) => ({ ...r, key: r.caller })), "by-caller"),
        statsTable(tr("purpose"), s.by_purpose.map((r) => ({ ...r, key: r.purpose })), "by-purpose"),
        statsTable(tr("week"), s.by_week.map((r) => ({ ...r, key: r.week })), "by-week", week),
      ),
    );
    // The filters offer what the log holds.
    for (const [id, values] of [["caller", s.by_caller.map((r) => r.caller)], ["purpose", s.by_purpose.map((r) => r.purpose).filter((p) => p !== "-")]] as const) {
      const sel = form.querySelector<HTMLSelectElement>(`#${id}`);
      if (sel === null) continue;
      const keep = sel.value;
      sel.replaceChildren(el("option", { value: "" }, tr("all")), ...values.map((v) => el("option", { value: v }, short(v))));
      sel.value = keep;
    }
  }

  function verdict(ok: boolean | null): string {
    return ok === null ? tr("noKey") : ok ? `✓ ${tr("valid")}` : `✗ ${tr("invalid")}`;
  }

  /** Show `cp` unless the panel already shows a larger tree. */
  function showCheckpoint(cp: VerifiedCheckpoint): void {
    if (shown !== null && shown.size > cp.size) return;
    shown = cp;
    const cos = cp.cosignatures.map((c) =>
      el(
        "li",
        { "data-testid": "cosignature", "data-witness": c.name, "data-valid": String(c.valid) },
        `${c.name} (${c.keyId})`,
        c.timestamp === null ? "" : ` · ${dateTime(new Date(c.timestamp * 1000).toISOString())}`,
        ` · ${verdict(c.valid)}`,
      ),
    );
    // A configured witness with no line on this checkpoint has not cosigned it (yet).
    for (const w of settings.witnesses) {
      const name = w.split("+")[0] ?? w;
      if (!cp.cosignatures.some((c) => c.name === name)) {
        cos.push(el("li", { "data-testid": "cosignature", "data-witness": name, "data-valid": "missing" }, `${name} · ${tr("notCosigned")}`));
      }
    }
    checkpointBox.dataset.verified = "true";
    checkpointBox.dataset.size = String(cp.size);
    checkpointBox.replaceChildren(
      el("h2", {}, `${tr("checkpoint")} · ${tr("treeSize").toLowerCase()} ${num(Number(cp.size))}`),
      el(
        "dl",
        {},
        fact(tr("treeSize"), num(Number(cp.size)), "checkpoint-size"),
        fact(tr("root"), toHex(cp.root), "checkpoint-root"),
        fact(tr("logSignature"), `✓ ${tr("valid")} (${cp.origin})`, "log-signature"),
      ),
      el("h3", {}, tr("witnesses")),
      cos.length ? el("ul", { "data-testid": "cosignatures" }, ...cos) : el("p", {}, tr("noCosignature")),
    );
  }

  async function checkpoint(): Promise<void> {
    if (settings.log_key === null) {
      checkpointBox.replaceChildren(el("h2", {}, tr("checkpoint")), el("p", { role: "alert" }, tr("noLogKey")));
      return;
    }
    const latest = await latestCheckpoint();
    try {
      showCheckpoint(await verifyCheckpoint(latest.note, settings.log_key, settings.witnesses));
    } catch (e) {
      checkpointBox.dataset.verified = "false";
      checkpointBox.replaceChildren(el("h2", {}, tr("checkpoint")), el("p", { class: "problem", role: "alert" }, `✗ ${String(e instanceof Error ? e.message : e)}`));
    }
  }

  async function check(index: number): Promise<void> {
    proofBox.hidden = false;
    delete proofBox.dataset.verified;
    proofBox.replaceChildren(el("h2", {}, `${tr("proof")} #${index}`), el("p", {}, "…"));
    let leafDoc: Record<string, unknown> = {};
    const out: HTMLElement[] = [el("h2", {}, `${tr("proof")} #${index}`)];
    try {
      if (settings.log_key === null) throw new VerifyError(tr("noLogKey"));
      const p = await inclusionProof(index);
      const leaf = fromBase64(p.leaf);
      const cp = await verifyCheckpoint(p.checkpoint, settings.log_key, settings.witnesses);
      const hash = await leafHash(leaf);
      await verifyInclusion(BigInt(p.leaf_index), cp.size, hash, p.proof.map(fromBase64), cp.root);
      // The panel follows: it shows the checkpoint this proof was checked against, never an
      // older one fetched when the page opened.
      showCheckpoint(cp);
      leafDoc = JSON.parse(new TextDecoder().decode(leaf)) as Record<string, unknown>;
      if (leafDoc["index"] !== index || p.leaf_index !== index) throw new VerifyError(`the proven leaf is not entry ${index}`);
      proofBox.dataset.verified = "true";
      proofBox.dataset.size = String(cp.size);
      out.push(
        el("p", { class: "ok", role: "status", "data-testid": "proof-result" }, `✓ ${tr("proofOk")}`),
        el("p", { "data-testid": "proof-checkpoint" }, `${tr("against")} ${num(Number(cp.size))}`),
        el(
          "dl",
          {},
          fact(tr("leafHash"), toHex(hash), "leaf-hash"),
          fact(tr("caller"), short(String(leafDoc["caller"] ?? "")), "leaf-caller"),
          fact(tr("purpose"), String(leafDoc["purpose"] ?? ""), "leaf-purpose"),
          fact(tr("decision"), String(leafDoc["decision"] ?? ""), "leaf-decision"),
        ),
      );
      const reasons = Array.isArray(leafDoc["reasons"]) ? (leafDoc["reasons"] as unknown[]).map(String) : [];
      if (reasons.length) out.push(el("ul", { "data-testid": "leaf-reasons" }, ...reasons.map((r) => el("li", {}, r))));
      out.push(detailsPart(index, leafDoc["details"] !== null && leafDoc["details"] !== undefined));
    } catch (e) {
      if (e instanceof Refused) {
        out.push(problemPanel(e.problem));
      } else {
        proofBox.dataset.verified = "false";
        out.push(el("p", { class: "problem", role: "alert", "data-testid": "proof-result" }, `✗ ${tr("proofBad")}: ${e instanceof Error ? e.message : String(e)}`));
      }
    }
    proofBox.replaceChildren(...out);
  }

  function detailsPart(index: number, sealed: boolean): HTMLElement {
    const box = el("div", { "data-testid": "details-box" }, el("h3", {}, tr("details")));
    if (!sealed) {
      box.append(el("p", {}, tr("noDetails")));
      return box;
    }
    if (!settings.details.allowed && settings.details.reason) box.append(el("p", { "data-testid": "details-role" }, settings.details.reason));
    const b = el("button", { type: "button", "data-testid": "open-details" }, tr("openDetails"));
    b.addEventListener("click", () => {
      openDetails(index).then(
        (d) => box.replaceChildren(el("h3", {}, tr("details")), el("pre", { "data-testid": "details", tabindex: "0" }, JSON.stringify(d.details, null, 2))),
        (e: unknown) => box.append(e instanceof Refused ? problemPanel(e.problem) : el("p", { role: "alert" }, String(e))),
      );
    });
    box.append(b);
    return box;
  }

  /** The log's state now: its latest checkpoint, verified again, then the entries asked for. */
  async function refresh(): Promise<void> {
    delete root.dataset.ready;
    try {
      await checkpoint();
    } catch (e) {
      if (!(e instanceof Refused)) throw e;
      checkpointBox.replaceChildren(problemPanel(e.problem));
    }
    try {
      await list();
      await statistics();
    } catch (e) {
      if (!(e instanceof Refused)) throw e;
      status.textContent = "";
      root.querySelector(".split")?.replaceWith(problemPanel(e.problem));
      statsBox.replaceChildren();
    }
    root.dataset.ready = "true";
  }

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    void refresh();
  });
  older.addEventListener("click", () => {
    if (next !== null) void list(next);
  });
  await refresh();
}
