// HQ's console: one page, its sections chosen by the address's #fragment. Every figure
// comes from HQ's API, which checks the operator's permissions again; what the page
// leaves out for a role (data-needs) is only a courtesy. Money arrives as integer fen
// and is only ever formatted here, never computed with.
"use strict";

const state = { me: null, texts: {}, language: "zh-CN", liveSource: null, seen: new Set() };
const MAX_LIVE_ROWS = 50;

function t(key) {
  return state.texts[key] ?? key;
}

function yuan(fen) {
  const sign = fen < 0 ? "-" : "";
  const abs = Math.abs(fen);
  return `${sign}¥${Math.floor(abs / 100).toLocaleString("en")}.${String(abs % 100).padStart(2, "0")}`;
}

function clock(ms) {
  return ms ? new Date(ms).toLocaleTimeString(state.language, { hour12: false }) : t("never");
}

function duration(ms) {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function row(...cells) {
  const tr = document.createElement("tr");
  for (const c of cells) tr.append(typeof c === "string" ? cell(c) : c);
  return tr;
}

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  if (response.status === 401) {
    location.href = "/login";
    throw new Error("logged out");
  }
  const body = await response.json().catch(() => ({ message: response.statusText }));
  if (!response.ok) throw new Error(body.message || response.statusText);
  return body;
}

function applyTexts() {
  document.documentElement.lang = state.language;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  document.getElementById("language").value = state.language;
}

async function loadTexts() {
  const all = await (await fetch("/console/i18n.json")).json();
  state.texts = all[state.language] || all["zh-CN"];
  applyTexts();
}

function permitted(permission) {
  return state.me.permissions.includes(permission);
}

function trimForRole() {
  for (const el of document.querySelectorAll("[data-needs]")) {
    if (!permitted(el.dataset.needs)) el.remove();
  }
  if (state.me.operator.branch) for (const el of document.querySelectorAll("[data-hq-only]")) el.remove();
}

// -- sections -------------------------------------------------------------------------

const SECTIONS = {
  live: "reports:view",
  reports: "reports:view",
  members: "reports:view",
  purchases: "reports:view",
  inventory: "stock:view",
  conflicts: "conflicts:view",
  transfers: "transfers:view",
};
// The sections the period form serves, and what each shows for it.
const PERIODIC = { reports: () => showReport(), members: () => showMembers(), purchases: () => showPurchases() };

function route() {
  const allowed = Object.keys(SECTIONS).filter(
    (name) => permitted(SECTIONS[name]) && document.querySelector(`nav a[href="#${name}"]`),
  );
  const asked = location.hash.slice(1);
  const shown = allowed.includes(asked) ? asked : allowed[0];
  document.getElementById("nothing").hidden = shown !== undefined;
  for (const name of Object.keys(SECTIONS)) {
    const section = document.getElementById(name);
    if (section) section.hidden = name !== shown;
  }
  for (const link of document.querySelectorAll("nav a")) link.classList.toggle("active", link.hash === `#${shown}`);
  const form = document.getElementById("report-form");
  form.hidden = !(shown in PERIODIC);
  for (const label of form.querySelectorAll(".sales-only")) label.hidden = shown !== "reports";
  state.section = shown;
  if (shown === "live") startLive();
  if (shown in PERIODIC) PERIODIC[shown]();
  if (shown === "inventory") showInventory();
  if (shown === "conflicts") showConflicts();
  if (shown === "transfers") showTransfers();
}

// -- live -----------------------------------------------------------------------------

function startLive() {
  if (state.liveSource) return;
  const source = new EventSource("/api/live");
  state.liveSource = source;
  const status = document.getElementById("connection");
  source.onopen = () => {
    status.textContent = t("live.connected");
    status.className = "ok";
  };
  source.onerror = () => {
    status.textContent = t("live.reconnecting");
    status.className = "warn";
  };
  source.addEventListener("sale", (event) => addSale(JSON.parse(event.data)));
  source.addEventListener("figures", (event) => showFigures(JSON.parse(event.data)));
  source.addEventListener("logged_out", () => {
    source.close();
    location.href = "/login";
  });
}

function addSale(sale) {
  const key = `${sale.branch}:${sale.seq}:${sale.id}`;
  if (state.seen.has(key)) return; // a resumed stream never repeats one; this is belt and braces
  state.seen.add(key);
  const amount = sale.kind === "return" ? -sale.total_fen : sale.total_fen;
  const tr = row(
    clock(sale.at_ms),
    sale.branch,
    t(`kind.${sale.kind}`),
    sale.id,
    sale.salesperson || "",
    cell(yuan(amount), "n"),
  );
  tr.className = "fresh";
  tr.dataset.sale = sale.id;
  const body = document.querySelector("#sales tbody");
  body.prepend(tr);
  while (body.children.length > MAX_LIVE_ROWS) body.lastElementChild.remove();
}

// A branch's reader and printer as its log last said (hq.live.branch_health): "—" for
// a branch that never said, and in red anything but ready.
function devicesCell(devices) {
  if (!devices) return cell("—");
  const parts = [];
  if (devices.printer) {
    const waiting = devices.receipts_waiting ? ` · ${t("device.waiting")} ${devices.receipts_waiting}` : "";
    parts.push(`${t("device.printer")} ${t(`device.${devices.printer}`)}${waiting}`);
  }
  if (devices.reader) parts.push(`${t("device.reader")} ${t(`device.${devices.reader}`)}`);
  const fine = [devices.printer, devices.reader].every((state) => !state || state === "ready");
  const td = cell(parts.join(" / ") || "—", fine ? "ok" : "bad");
  td.dataset.devices = JSON.stringify(devices);
  return td;
}

function showFigures(data) {
  document.getElementById("live-day").textContent = data.day;
  const body = document.querySelector("#branches tbody");
  body.replaceChildren(
    ...data.branches.map((b) => {
      let stateCell;
      if (b.quarantined) stateCell = cell(`${t("state.quarantined")}: ${b.quarantine_reason}`, "bad");
      else stateCell = cell(t(b.online ? "state.online" : "state.offline"), b.online ? "ok" : "warn");
      const tr = row(
        b.code,
        stateCell,
        clock(b.last_seen),
        cell(b.backlog.toLocaleString("en"), "n"),
        cell(b.lag_ms ? duration(b.lag_ms) : "0", "n"),
        devicesCell(b.devices),
        cell(b.count.toLocaleString("en"), "n"),
        cell(b.returns.toLocaleString("en"), "n"),
        cell(yuan(b.net_fen), "n"),
        cell(yuan(b.gross_profit_fen), "n"),
      );
      tr.dataset.branch = b.code;
      return tr;
    }),
  );
  const notes = document.getElementById("chain-notes");
  notes.replaceChildren();
  if (data.open_conflicts !== undefined) {
    const kinds = Object.entries(data.open_conflicts);
    const p = document.createElement("p");
    p.className = kinds.length ? "warn" : "ok";
    p.textContent = kinds.length
      ? `${t("live.conflicts")}: ${kinds.map(([kind, n]) => `${n} ${kind.replaceAll("_", " ")}`).join(", ")}`
      : t("live.no_conflicts");
    notes.append(p);
  }
  if (data.in_transit !== undefined) {
    const p = document.createElement("p");
    const { transfers, oldest_sent_at_ms: oldest } = data.in_transit;
    p.className = transfers ? "warn" : "ok";
    p.textContent = transfers
      ? `${t("live.in_transit")}: ${transfers}; ${t("live.oldest")} ${duration(Math.max(0, data.at_ms - oldest))}`
      : t("live.none_in_transit");
    notes.append(p);
  }
}

// -- reports --------------------------------------------------------------------------

function reportQuery(sales = true) {
  const form = new FormData(document.getElementById("report-form"));
  const query = new URLSearchParams();
  for (const [name, value] of form.entries()) {
    if (!value) continue;
    if ((name === "from" || name === "to") && form.get("period") !== "custom") continue;
    if (name === "date" && form.get("period") === "custom") continue;
    if (["by", "category", "product", "salesperson", "level"].includes(name) && !sales) continue;
    if ((name === "category" || name === "product") && !["category", "product"].includes(form.get("by"))) continue;
    query.set(name, value);
  }
  return query;
}

function listExport(list, params) {
  // CSV and Excel links for a list report (churn, visit cycle, credit, stock), if shown.
  const holder = document.querySelector(`.list-export[data-list="${list}"]`);
  if (!holder) return;
  holder.replaceChildren(
    ...["csv", "xlsx"].map((format) => {
      const link = document.createElement("a");
      link.href = `/api/reports/${list}/export?${params}${params.toString() ? "&" : ""}format=${format}`;
      link.className = `export-${list}-${format}`;
      link.textContent = format === "csv" ? t("reports.export_csv") : t("reports.export_xlsx");
      return link;
    }),
  );
}

function exportLinks(query) {
  // One CSV and one Excel link per section of a report, with the page's filters.
  for (const holder of document.querySelectorAll(".exports")) {
    holder.replaceChildren();
    for (const section of holder.dataset.sections.split(" ")) {
      for (const format of ["csv", "xlsx"]) {
        const link = document.createElement("a");
        link.href = `/api/reports/${holder.dataset.report}/export?${query}&section=${section}&format=${format}`;
        link.download = "";
        link.className = `export-${holder.dataset.report}-${section}-${format}`;
        link.textContent = `${t(`export.${section}`)} ${format === "csv" ? "CSV" : "Excel"}`;
        holder.append(link);
      }
    }
  }
}

function chart(lines, trend) {
  // Bars of net takings, one per line: a trend left to right by day, a ranking top down.
  const values = lines.map((l) => l.net_fen);
  const max = Math.max(1, ...values.map(Math.abs));
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.classList.add("chart");
  const add = (name, attrs, text) => {
    const el = document.createElementNS(ns, name);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    if (text !== undefined) el.textContent = text;
    svg.append(el);
  };
  if (trend) {
    const width = Math.max(320, lines.length * 28);
    svg.setAttribute("viewBox", `0 0 ${width} 180`);
    svg.setAttribute("width", width);
    lines.forEach((l, i) => {
      const h = Math.round((Math.abs(l.net_fen) / max) * 140);
      add("rect", { x: i * 28 + 4, y: 150 - h, width: 20, height: h, class: l.net_fen < 0 ? "neg" : "" });
      add("text", { x: i * 28 + 4, y: 166 }, l.key.slice(5));
    });
  } else {
    const shown = lines.slice(0, 20);
    svg.setAttribute("viewBox", `0 0 620 ${shown.length * 22 + 4}`);
    svg.setAttribute("width", 620);
    shown.forEach((l, i) => {
      const w = Math.round((Math.abs(l.net_fen) / max) * 380);
      add("text", { x: 0, y: i * 22 + 15 }, (l.label || t("none")).slice(0, 16));
      add("rect", { x: 130, y: i * 22 + 4, width: w, height: 16, class: l.net_fen < 0 ? "neg" : "" });
      add("text", { x: 136 + w, y: i * 22 + 15 }, yuan(l.net_fen));
    });
  }
  return svg;
}

function compareBox(label, figures) {
  const div = document.createElement("div");
  const b = document.createElement("b");
  b.textContent = yuan(figures.net_fen);
  div.append(`${label} (${figures.from} … ${figures.to})`, b, `${t("col.profit")} ${yuan(figures.gross_profit_fen)}`);
  return div;
}

async function showReport() {
  const error = document.getElementById("report-error");
  error.textContent = "";
  const query = reportQuery();
  let report;
  try {
    report = await api(`/api/reports/sales?${query}`);
  } catch (exc) {
    error.textContent = exc.message;
    return;
  }
  const units = report.by === "category" || report.by === "product";
  const compare = document.getElementById("report-compare");
  compare.className = "compare";
  compare.replaceChildren(
    compareBox(t("reports.this"), { ...report.totals, ...report.period }),
    compareBox(t("reports.previous"), report.previous),
    compareBox(t("reports.year_earlier"), report.year_earlier),
  );
  document.getElementById("report-chart").replaceChildren(chart(report.lines, report.by === "day"));
  const moved = Object.entries(report.points).map(([kind, points]) => `${t(`points.${kind}`)} ${points.toLocaleString("en")}`);
  document.getElementById("points-moved").textContent = `${t("points.moved")}: ${moved.join(" · ") || "0"}`;
  const branch = query.get("branch");
  const liability = await api(`/api/liability${branch ? `?branch=${encodeURIComponent(branch)}` : ""}`);
  document.getElementById("liability").textContent = `${t("reports.liability")}: ${yuan(liability.total_fen)}`;
  if (!state.me.operator.branch) {
    const points = await api("/api/liability/points");
    document.querySelector("#points-liability tbody").replaceChildren(
      ...points.months.map((m) => {
        const tr = row(m.month === "never" ? t("points.never") : m.month, cell(m.points.toLocaleString("en"), "n"), cell(yuan(m.value_fen), "n"));
        tr.dataset.key = m.month;
        return tr;
      }),
    );
  }
  const headings = [
    t(`by.${report.by}`),
    ...(report.by === "product" ? [t("col.name"), t("col.category")] : report.by === "day" ? [] : [t("col.name")]),
    t(units ? "col.units" : "col.sales"),
    t(units ? "col.units_returned" : "col.returns"),
    t("col.takings"),
    t("col.returned"),
    t("col.net"),
    t("col.cost"),
    t("col.profit"),
  ];
  const table = document.getElementById("report-table");
  const head = document.createElement("tr");
  for (const h of headings) {
    const th = document.createElement("th");
    th.textContent = h;
    head.append(th);
  }
  table.tHead.replaceChildren(head);
  const figures = (f) => [
    cell(f.count.toLocaleString("en"), "n"),
    cell(f.returns.toLocaleString("en"), "n"),
    cell(yuan(f.total_fen), "n"),
    cell(yuan(f.returned_fen), "n"),
    cell(yuan(f.net_fen), "n"),
    cell(yuan(f.cost_fen), "n"),
    cell(yuan(f.gross_profit_fen), "n"),
  ];
  table.tBodies[0].replaceChildren(
    ...report.lines.map((l) => {
      const names = report.by === "product" ? [l.label, l.category] : report.by === "day" ? [] : [l.label || t("none")];
      const tr = row(l.key || t("none"), ...names, ...figures(l));
      tr.dataset.key = l.key;
      return tr;
    }),
  );
  const total = row(t("reports.total"), ...headings.slice(1, headings.length - 7).map(() => ""), ...figures(report.totals));
  total.id = "report-total";
  table.tFoot.replaceChildren(total);
  if (!report.lines.length) error.textContent = t("reports.empty");
  for (const format of ["csv", "xlsx"]) {
    const link = document.getElementById(`export-${format}`);
    if (link) link.href = `/api/reports/sales/export?${query}&format=${format}`;
  }
}

// -- members, purchases, inventory ------------------------------------------------------

async function showMembers() {
  const error = document.getElementById("members-error");
  error.textContent = "";
  const query = reportQuery(false);
  let report;
  try {
    report = await api(`/api/reports/members?${query}`);
  } catch (exc) {
    error.textContent = exc.message;
    return;
  }
  const box = (label, figures) => {
    const div = document.createElement("div");
    const b = document.createElement("b");
    b.textContent = figures.joined.toLocaleString("en");
    div.append(`${label} (${figures.from} … ${figures.to})`, b, t("members.joined"));
    return div;
  };
  document.getElementById("members-compare").replaceChildren(
    box(t("reports.this"), { ...report.period, joined: report.joined }),
    box(t("reports.previous"), report.previous),
    box(t("reports.year_earlier"), report.year_earlier),
  );
  const trend = report.trend.map((d) => ({ key: d.day, label: d.day, net_fen: d.joined * 100 }));
  document.getElementById("members-chart").replaceChildren(chart(trend, true));
  document.querySelector("#members-salespeople tbody").replaceChildren(
    ...report.salespeople.map((r) => row(r.salesperson || t("none"), r.name || t("none"), cell(r.joined.toLocaleString("en"), "n"))),
  );
  document.querySelector("#members-cards tbody").replaceChildren(
    ...report.card_types.map((r) => {
      const tr = row(r.card_type, r.name, cell(r.cards.toLocaleString("en"), "n"), cell(yuan(r.price_fen), "n"));
      tr.dataset.key = r.card_type;
      return tr;
    }),
  );
  for (const dimension of ["gender", "age_band", "region"]) {
    document.querySelector(`#members-${dimension} tbody`).replaceChildren(
      ...report[dimension].map((r) => {
        const label = dimension === "gender" && r.key ? t(`gender.${r.key}`) : r.key || t("none");
        const tr = row(label, cell(r.joined.toLocaleString("en"), "n"));
        tr.dataset.key = r.key;
        return tr;
      }),
    );
  }
  document.querySelector("#members-referrers tbody").replaceChildren(
    ...report.referrers.map((r) => row(r.name || r.member_id, cell(r.referred.toLocaleString("en"), "n"))),
  );
  exportLinks(query);
  if (permitted("members:view")) {
    await Promise.all([showChurn(query.get("branch")), showCycle(query.get("branch")), showCredit()]);
  }
}

async function showCycle(branch) {
  const params = new URLSearchParams(branch ? { branch } : {});
  const { members } = await api(`/api/reports/visit-cycle?${params}`);
  listExport("visit-cycle", params);
  document.querySelector("#visit-cycle tbody").replaceChildren(
    ...members.map((m) =>
      row(m.member_id, m.name, cell(String(m.visits), "n"), cell(String(m.usual_days), "n"), cell(String(m.days_since), "n bad")),
    ),
  );
}

async function showCredit() {
  const { cards } = await api("/api/reports/credit-overdue");
  listExport("credit-overdue", new URLSearchParams());
  document.querySelector("#credit-overdue tbody").replaceChildren(
    ...cards.map((c) => row(c.card, c.member_id || "", cell(yuan(c.owed_fen), "n bad"), cell(String(c.days), "n"))),
  );
}

async function showChurn(branch) {
  const days = document.getElementById("churn-days").value || "90";
  const params = new URLSearchParams({ days });
  if (branch) params.set("branch", branch);
  const { members } = await api(`/api/reports/churn?${params}`);
  listExport("churn", params);
  document.querySelector("#churn tbody").replaceChildren(
    ...members.map((m) => {
      const tr = row(
        m.member_id,
        m.name,
        m.home_branch,
        new Date(m.last_visit_ms).toISOString().slice(0, 10),
        cell(String(m.days_since), "n bad"),
        cell(String(m.visits), "n"),
      );
      tr.dataset.key = m.member_id;
      return tr;
    }),
  );
}

async function showPurchases() {
  const error = document.getElementById("purchases-error");
  error.textContent = "";
  const query = reportQuery(false);
  let report;
  try {
    report = await api(`/api/reports/purchases?${query}`);
  } catch (exc) {
    error.textContent = exc.message;
    return;
  }
  document.querySelector("#purchases-suppliers tbody").replaceChildren(
    ...report.suppliers.map((s) => {
      const tr = row(
        s.supplier,
        s.name,
        cell(String(s.receipts), "n"),
        cell(yuan(s.received_fen), "n"),
        cell(String(s.returns), "n"),
        cell(yuan(s.returned_fen), "n"),
        cell(yuan(s.net_fen), "n"),
      );
      tr.dataset.key = s.supplier;
      return tr;
    }),
  );
  document.querySelector("#purchases-documents tbody").replaceChildren(
    ...report.documents.map((d) =>
      row(clock(d.at_ms), t(`purchases.${d.doc_kind}`), d.doc_id, d.supplier, d.branch, cell(yuan(d.amount_fen), "n"), d.operator || t("none")),
    ),
  );
  exportLinks(query);
}

async function showInventory() {
  const [{ warehouses, in_transit: transit }, { alerts }, ranking] = await Promise.all([
    api("/api/stock"),
    api("/api/stock/alerts"),
    api("/api/reports/stock"),
  ]);
  listExport("stock", new URLSearchParams());
  document.querySelector("#stock-ranking tbody").replaceChildren(
    ...ranking.lines.map((l) => {
      const tr = row(
        l.sku,
        l.name,
        cell(l.qty.toLocaleString("en"), "n"),
        cell(l.sold.toLocaleString("en"), "n"),
        cell(l.days_of_cover == null ? "" : String(l.days_of_cover), "n"),
        cell(l.warning_date ?? "", l.warning_date && l.warning_date <= ranking.today ? "bad" : ""),
        cell(l.turnover_permille == null ? "" : (l.turnover_permille / 1000).toFixed(3), "n"),
      );
      tr.dataset.key = l.sku;
      return tr;
    }),
  );
  const body = document.querySelector("#inventory-warehouses tbody");
  body.replaceChildren(
    ...warehouses.map((w) => {
      const tr = row(w.warehouse, w.name || "", w.branch || "", cell(w.qty.toLocaleString("en"), "n"), cell(yuan(w.cost_fen), "n"));
      tr.dataset.key = w.warehouse;
      return tr;
    }),
  );
  const total = row(
    t("reports.total"),
    "",
    "",
    cell(warehouses.reduce((n, w) => n + w.qty, 0).toLocaleString("en"), "n"),
    cell(yuan(warehouses.reduce((n, w) => n + w.cost_fen, 0)), "n"),
  );
  total.id = "inventory-total";
  document.querySelector("#inventory-warehouses tfoot").replaceChildren(total);
  document.getElementById("inventory-transit").textContent =
    `${t("inventory.in_transit")}: ${transit.qty.toLocaleString("en")} · ${yuan(transit.cost_fen)}`;
  document.querySelector("#inventory-alerts tbody").replaceChildren(
    ...alerts.map((a) =>
      row(a.warehouse, `${a.sku} ${a.name}`, cell(a.qty.toLocaleString("en"), a.state === "under" ? "n bad" : "n warn"), `${a.lower_limit ?? ""} … ${a.upper_limit ?? ""}`),
    ),
  );
}

// -- conflicts and transfers ------------------------------------------------------------

async function showConflicts() {
  const { conflicts } = await api("/api/conflicts?state=open");
  const body = document.querySelector("#conflict-table tbody");
  if (!conflicts.length) {
    body.replaceChildren(row(cell(t("conflicts.none"))));
    return;
  }
  body.replaceChildren(
    ...conflicts.map((c) => {
      const actions = document.createElement("td");
      if (permitted("conflicts:edit")) {
        for (const action of c.actions) {
          const button = document.createElement("button");
          button.type = "button";
          button.textContent = action.replaceAll("_", " ");
          button.addEventListener("click", async () => {
            const note = prompt(`${action}: note`) ?? "";
            try {
              await api(`/api/conflicts/${encodeURIComponent(c.id)}/resolve`, {
                method: "POST",
                headers: { "Content-Type": "application/json" },
                body: JSON.stringify({ action, note }),
              });
              showConflicts();
            } catch (exc) {
              document.getElementById("conflict-error").textContent = exc.message;
            }
          });
          actions.append(button);
        }
      }
      return row(c.id, c.kind.replaceAll("_", " "), c.branches.join(", "), c.summary, cell(c.amount_fen == null ? "" : yuan(c.amount_fen), "n"), actions);
    }),
  );
}

async function showTransfers() {
  const { transfers } = await api("/api/transfers?state=in_transit");
  const body = document.querySelector("#transfer-table tbody");
  if (!transfers.length) {
    body.replaceChildren(row(cell(t("transfers.none"))));
    return;
  }
  body.replaceChildren(
    ...transfers.map((x) =>
      row(
        x.id,
        `${x.source_branch} ${x.from_warehouse}`,
        `${x.to_branch} ${x.to_warehouse}`,
        x.age_ms == null ? "" : duration(x.age_ms),
        cell(yuan(x.cost_fen), "n"),
        x.lines.map((l) => `${l.sku} × ${l.qty}`).join(", "),
      ),
    ),
  );
}

// -- exports ----------------------------------------------------------------------------

async function download(href) {
  // A large export answers 202 and is built in the background: ask again until it is there.
  let response = await fetch(href, { credentials: "same-origin" });
  if (response.status === 202) {
    const { url } = await response.json();
    do {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      response = await fetch(url, { credentials: "same-origin" });
    } while (response.status === 202);
  }
  if (!response.ok) {
    const body = await response.json().catch(() => ({ message: response.statusText }));
    alert(body.message);
    return;
  }
  const name = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "")?.[1] || "export";
  const link = document.createElement("a");
  link.href = URL.createObjectURL(await response.blob());
  link.download = name;
  link.click();
  URL.revokeObjectURL(link.href);
}

document.addEventListener("click", (event) => {
  const link = event.target.closest("a[href*='/export?']");
  if (!link) return;
  event.preventDefault();
  download(link.href);
});

// -- start ----------------------------------------------------------------------------

async function start() {
  state.me = await api("/api/me");
  state.language = state.me.language;
  await loadTexts();
  trimForRole();
  const { operator } = state.me;
  document.getElementById("who").textContent = `${operator.login} · ${operator.role}${operator.branch ? ` · ${operator.branch}` : ""}`;
  document.getElementById("language").addEventListener("change", async (event) => {
    await api("/api/me/language", {
      method: "PUT",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ language: event.target.value }),
    });
    state.language = event.target.value;
    await loadTexts();
    route();
  });
  document.getElementById("logout").addEventListener("click", async () => {
    await api("/api/logout", { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
    location.href = "/login";
  });
  const form = document.getElementById("report-form");
  form.date.value = state.me.today; // HQ's business day, not the browser's date
  const custom = () => {
    const isCustom = form.period.value === "custom";
    for (const label of form.querySelectorAll(".custom")) label.hidden = !isCustom;
    form.date.parentElement.hidden = isCustom;
  };
  form.period.addEventListener("change", custom);
  custom();
  document.getElementById("churn-days")?.addEventListener("change", () => showMembers());
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    PERIODIC[state.section]?.();
  });
  window.addEventListener("hashchange", route);
  route();
}

start();
