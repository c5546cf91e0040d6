// The agent's interactive documentation: operations from /openapi.json, sent with fetch.
"use strict";

const EXAMPLES = {
  query: {
    dataset: "incidents", fields: ["kecamatan"], filters: [],
    aggregation: { group_by: [{ field: "kecamatan" }] },
    purpose: "traffic_planning", legal_basis: "",
  },
};

function scopeExample() {
  return { purpose: "", legal_basis: "", start: "2026-10-01T00:00:00+07:00", end: "2026-11-01T00:00:00+07:00" };
}

function element(tag, attrs, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, attrs);
  for (const child of children) node.append(child);
  return node;
}

async function send(method, path, body, format, output) {
  const headers = { Authorization: "Bearer " + document.getElementById("token").value.trim() };
  const user = document.getElementById("user").value.trim();
  if (user) headers["Gerbang-End-User"] = user;
  if (body !== null) headers["Content-Type"] = "application/json";
  const url = format ? `${path}?format=${format}` : path;
  output.textContent = "…";
  try {
    const response = await fetch(url, { method, headers, body });
    const text = await response.text();
    let shown = text;
    try { shown = JSON.stringify(JSON.parse(text), null, 1); } catch (_) { /* CSV or SSE */ }
    output.textContent = `${response.status} ${response.headers.get("content-type") || ""}\n\n${shown}`;
  } catch (error) {
    output.textContent = String(error);
  }
}

function render(doc) {
  const root = document.getElementById("operations");
  root.textContent = "";
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const name = path.split("/")[2];
      const hasBody = method === "post";
      const body = element("textarea", {
        value: JSON.stringify(EXAMPLES[name] || scopeExample(), null, 1),
      });
      const format = element("select", {},
        ...["json", "csv", "geojson"].map((f) => element("option", { value: f, textContent: f })));
      const output = element("pre", { textContent: "" });
      const target = element("input", { type: "text", placeholder: "request_id" });
      const button = element("button", { textContent: "Kirim / Send" });
      button.addEventListener("click", () => {
        const url = path.replace("{request_id}", encodeURIComponent(target.value.trim()));
        send(method.toUpperCase(), url, hasBody ? body.value : null,
          hasBody && name !== "watch-warnings" ? format.value : "", output);
      });
      const codes = Object.entries(op.responses).map(([c, r]) => `${c}: ${r.description}`).join("\n");
      root.append(element("section", {},
        element("h2", {}, element("span", { className: "method", textContent: method.toUpperCase() }), path),
        element("p", { textContent: op.summary + (op.description ? ". " + op.description : "") }),
        ...(hasBody ? [body] : path.includes("{") ? [target] : []),
        ...(hasBody && name !== "watch-warnings" ? [format] : []),
        button,
        element("details", {}, element("summary", { textContent: "responses" }), element("pre", { textContent: codes })),
        output));
    }
  }
}

fetch("/openapi.json").then((r) => r.json()).then(render).catch((e) => {
  document.getElementById("operations").textContent = String(e);
});
