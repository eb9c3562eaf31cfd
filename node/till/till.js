// The till: one page served by the branch's node, its sections chosen by the address's
// #fragment. Every figure comes from the node's API, which checks the operator's
// permissions again; what the page leaves out for a role (data-needs) is a courtesy.
// Money arrives and leaves as integer fen: it is parsed from what the cashier types
// into fen with integer arithmetic and only formatted for display, never computed in
// floating point. members.js and office.js add their sections through `Till`.
"use strict";

const Till = (() => {
  const state = { me: null, texts: {}, language: "zh-CN", sections: {}, listeners: {}, shown: null };
  const TEXT_FILES = ["i18n.json", "i18n-members.json", "i18n-office.json"];

  function t(key) {
    return state.texts[key] ?? key;
  }

  function yuan(fen) {
    const sign = fen < 0 ? "-" : "";
    const abs = Math.abs(fen);
    return `${sign}¥${Math.floor(abs / 100).toLocaleString("en")}.${String(abs % 100).padStart(2, "0")}`;
  }

  // "12", "12.5", "12.50" or "¥1,234.05" to fen; null for anything else. Integers only.
  function parseYuan(text) {
    const match = /^\s*¥?\s*(\d{1,9}(?:,\d{3})*|\d+)(?:\.(\d{1,2}))?\s*$/.exec(text ?? "");
    if (!match) return null;
    return Number(match[1].replaceAll(",", "")) * 100 + Number((match[2] ?? "").padEnd(2, "0"));
  }

  function when(ms) {
    return ms ? new Date(ms).toLocaleString(state.language, { hour12: false }) : "";
  }

  // el("td", {className: "n"}, "text", child...): a DOM element with its properties and children.
  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(props)) {
      if (name === "dataset") Object.assign(node.dataset, value);
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node[name] = value;
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  }

  function row(...cells) {
    return el("tr", {}, ...cells.map((c) => (typeof c === "string" || typeof c === "number" ? el("td", {}, String(c)) : c)));
  }

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function api(path, { method = "GET", body, headers = {} } = {}) {
    const options = { method, credentials: "same-origin", headers: { ...headers } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(path, options);
    if (response.status === 401) {
      location.href = "/login";
      throw new ApiError(401, "not_logged_in", t("logged_out"));
    }
    const answer = await response.json().catch(() => ({ message: response.statusText }));
    if (!response.ok) throw new ApiError(response.status, answer.error || "error", answer.message || response.statusText);
    return answer;
  }

  function flash(message, bad = false) {
    const box = document.getElementById("flash");
    box.textContent = message;
    box.className = bad ? "bad" : "";
    box.hidden = !message;
  }

  // A fresh key for a write that must happen once (Idempotency-Key). crypto.randomUUID
  // exists only on secure origins, and a till reached at the branch's LAN address over
  // plain HTTP is not one; getRandomValues is there on every origin.
  function newKey() {
    if (crypto.randomUUID) return crypto.randomUUID();
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function permitted(permission) {
    return state.me.permissions.includes(permission);
  }

  function applyTexts(root = document) {
    document.documentElement.lang = state.language;
    for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
    for (const node of root.querySelectorAll("[data-i18n-placeholder]")) node.placeholder = t(node.dataset.i18nPlaceholder);
  }

  async function loadTexts() {
    const files = await Promise.all(TEXT_FILES.map(async (name) => (await fetch(`/till/${name}`)).json()));
    state.texts = {};
    for (const all of files) Object.assign(state.texts, all[state.language] || all["zh-CN"]);
    applyTexts();
    document.getElementById("language").value = state.language;
    if (state.me) document.getElementById("who").textContent = `${state.me.operator.login} · ${t(`role.${state.me.operator.role}`)}`;
    if (state.status) showStatus(state.status);
  }

  // A section: {needs: permission, show(), feed()?}; members.js and office.js add theirs.
  function section(name, spec) {
    state.sections[name] = spec;
  }

  function on(kind, listener) {
    (state.listeners[kind] ??= []).push(listener);
  }

  function route() {
    const allowed = Object.keys(state.sections).filter(
      (name) => permitted(state.sections[name].needs) && document.querySelector(`nav a[href="#${name}"]`),
    );
    const asked = location.hash.slice(1);
    const shown = allowed.includes(asked) ? asked : allowed[0];
    document.getElementById("nothing").hidden = shown !== undefined;
    for (const name of Object.keys(state.sections)) {
      const node = document.getElementById(name);
      if (node) node.hidden = name !== shown;
    }
    for (const link of document.querySelectorAll("nav a")) link.classList.toggle("active", link.hash === `#${shown}`);
    state.shown = shown;
    document.getElementById("shortcuts").hidden = shown !== "sale";
    flash("");
    if (shown) guarded(() => state.sections[shown].show());
  }

  // A section that fails says so on the page, never only in the console.
  function guarded(run) {
    Promise.resolve()
      .then(run)
      .catch((error) => flash(error.message, true));
  }

  function trimForRole() {
    for (const node of document.querySelectorAll("[data-needs]")) if (!permitted(node.dataset.needs)) node.remove();
  }

  // -- status bar and live events -------------------------------------------------------

  function showStatus(status) {
    const bar = document.getElementById("status-bar");
    const hq = document.getElementById("hq-state");
    bar.classList.toggle("offline", !status.hq_reachable);
    hq.textContent = t(status.hq_reachable ? "status.hq_online" : "status.hq_offline");
    hq.className = status.hq_reachable ? "ok" : "bad";
    hq.dataset.reachable = String(status.hq_reachable);
    document.getElementById("backlog").textContent = String(status.backlog);
    document.getElementById("offline-note").hidden = status.offline_tenders.length === 0;
    document.getElementById("offline-tenders").textContent = status.offline_tenders.map((k) => t(`tender.${k}`)).join("、");
    showDevice("printer-state", status.devices?.printer, (printer) =>
      printer.waiting ? ` · ${t("status.waiting_receipts")} ${printer.waiting}` : "",
    );
    showDevice("reader-state", status.devices?.reader, () => "");
    state.status = status;
    for (const listener of state.listeners.status ?? []) listener(status);
  }

  // A device's state in the status bar: hidden for a device the branch has none of.
  function showDevice(id, device, more) {
    const box = document.getElementById(id);
    box.hidden = !device;
    if (!device) return;
    const shown = box.querySelector("b");
    shown.textContent = `${t(`device.${device.state}`)}${device.paper_near_end ? ` · ${t("device.paper_near_end")}` : ""}${more(device)}`;
    shown.className = device.state === "ready" ? "ok" : "bad";
    box.dataset.state = device.state;
  }

  function startEvents() {
    document.getElementById("hq-state").textContent = t("status.connecting");
    const source = new EventSource("/api/till/events");
    source.addEventListener("status", (event) => showStatus(JSON.parse(event.data)));
    for (const kind of ["swipe", "feed", "overflow"]) {
      source.addEventListener(kind, (event) => {
        const data = JSON.parse(event.data);
        for (const listener of state.listeners[kind] ?? []) listener(data);
        const section = state.shown && state.sections[state.shown];
        if (kind !== "swipe" && section && section.feed) guarded(() => section.feed());
      });
    }
    source.addEventListener("logged_out", () => {
      source.close();
      location.href = "/login";
    });
    source.onerror = () => {
      const hq = document.getElementById("hq-state");
      hq.textContent = t("status.node_unreachable");
      hq.className = "bad";
    };
  }

  async function start() {
    state.me = await api("/api/me");
    state.language = state.me.language;
    await loadTexts();
    document.getElementById("branch").textContent = state.me.operator.branch;
    trimForRole();
    document.getElementById("language").addEventListener("change", async (event) => {
      await api("/api/me/language", { method: "PUT", body: { language: event.target.value } });
      state.language = event.target.value;
      await loadTexts();
      route();
    });
    document.getElementById("logout").addEventListener("click", async () => {
      await api("/api/logout", { method: "POST" });
      location.href = "/login";
    });
    window.addEventListener("hashchange", route);
    startEvents();
    route();
    document.body.dataset.ready = "true";
  }

  return { state, t, yuan, parseYuan, when, el, row, api, ApiError, flash, newKey, permitted, applyTexts, section, on, start };
})();

// -- checkout -----------------------------------------------------------------------------

const Sale = (() => {
  const { t, yuan, parseYuan, el, api } = Till;
  const PREVIEW_DELAY_MS = 120;
  const MAX_RESULTS = 12;
  const sale = {
    products: [],
    bySku: new Map(),
    byCode: new Map(),
    lines: [], // {sku, qty, discount_fen}
    member: null,
    tenders: [], // as POST /api/sales takes them
    preview: null,
    key: null, // this sale's Idempotency-Key: a retry or a double click books it once
    chosenResult: 0,
    chosenLine: -1,
    busy: false,
    previewTimer: null,
    previewing: Promise.resolve(),
    turn: Promise.resolve(),
    previewSeq: 0,
  };
  const $ = (id) => document.getElementById(id);

  async function loadProducts() {
    const found = await api("/api/products");
    sale.products = found.products;
    sale.bySku = new Map(found.products.map((p) => [p.sku, p]));
    sale.byCode = new Map();
    for (const product of found.products) {
      sale.byCode.set(product.sku.toUpperCase(), product);
      if (product.barcode) sale.byCode.set(product.barcode.toUpperCase(), product);
    }
  }

  function matches(text) {
    const needle = text.trim().toLowerCase();
    if (!needle) return [];
    return sale.products
      .filter((p) => [p.sku, p.name, p.barcode ?? ""].some((field) => field.toLowerCase().includes(needle)))
      .slice(0, MAX_RESULTS);
  }

  function showResults() {
    const list = $("results");
    const found = matches(scanText().code);
    list.replaceChildren(
      ...found.map((product, index) =>
        el(
          "li",
          { dataset: { sku: product.sku }, className: index === sale.chosenResult ? "chosen" : "", onmousedown: (e) => { e.preventDefault(); add(product, scanText().qty); } },
          el("span", {}, `${product.name} · ${product.sku}`),
          el("span", { className: "n" }, `${yuan(product.price_fen)}${product.stock_qty === null ? "" : ` · ${t("sale.in_stock")} ${product.stock_qty}`}`),
        ),
      ),
    );
    list.hidden = found.length === 0;
    return found;
  }

  // What the scan box holds: "3*6901234567892" is three of that code.
  function scanText() {
    const text = $("scan").value;
    const match = /^\s*(\d{1,4})\s*\*\s*(.+)$/.exec(text);
    return match ? { qty: Number(match[1]), code: match[2].trim() } : { qty: 1, code: text.trim() };
  }

  function add(product, qty = 1) {
    const held = sale.lines.find((line) => line.sku === product.sku && !line.discount_fen);
    if (held) held.qty += qty;
    else sale.lines.push({ sku: product.sku, qty, discount_fen: 0 });
    sale.chosenLine = sale.lines.findIndex((line) => line.sku === product.sku);
    $("scan").value = "";
    $("results").hidden = true;
    sale.chosenResult = 0;
    changed();
  }

  function onScanKey(event) {
    const found = matches(scanText().code);
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      sale.chosenResult = Math.max(0, Math.min(found.length - 1, sale.chosenResult + step));
      showResults();
    } else if (event.key === "Enter") {
      event.preventDefault();
      const { qty, code } = scanText();
      if (!code) {
        if (sale.lines.length) focusTender("cash");
        return;
      }
      const exact = sale.byCode.get(code.toUpperCase());
      const product = exact ?? found[sale.chosenResult];
      if (product) add(product, qty);
      else saleError(`${t("sale.no_product")} ${code}`);
    } else if (event.key === "Escape") {
      $("scan").value = "";
      $("results").hidden = true;
    } else if ((event.key === "+" || event.key === "-") && !$("scan").value && sale.lines.length) {
      event.preventDefault();
      const line = sale.lines[sale.chosenLine >= 0 ? sale.chosenLine : sale.lines.length - 1];
      line.qty = Math.max(1, line.qty + (event.key === "+" ? 1 : -1));
      changed();
    }
  }

  function renderLines() {
    const preview = sale.preview;
    const body = $("lines").querySelector("tbody");
    body.replaceChildren(
      ...sale.lines.map((line, index) => {
        const product = sale.bySku.get(line.sku);
        const priced = preview && preview.lines[index];
        const qty = el("input", { value: String(line.qty), inputMode: "numeric", ariaLabel: "qty" });
        qty.addEventListener("change", () => {
          const value = Number.parseInt(qty.value, 10);
          if (Number.isInteger(value) && value >= 1) line.qty = value;
          changed();
        });
        const off = el("input", { value: line.discount_fen ? (line.discount_fen / 100).toFixed(2) : "", inputMode: "decimal", ariaLabel: "discount", placeholder: "0.00" });
        off.addEventListener("change", () => {
          const fen = off.value.trim() === "" ? 0 : parseYuan(off.value);
          if (fen === null) return saleError(t("sale.bad_amount"));
          line.discount_fen = fen;
          changed();
        });
        const remove = el("button", { type: "button", textContent: "×", title: t("sale.remove"), onclick: () => { sale.lines.splice(index, 1); changed(); } });
        return el(
          "tr",
          { dataset: { sku: line.sku }, className: index === sale.chosenLine ? "chosen" : "" },
          el("td", {}, `${product ? product.name : line.sku} `, el("small", {}, line.sku)),
          el("td", { className: "n" }, qty),
          el("td", { className: "n" }, yuan(product ? product.price_fen : 0)),
          el("td", { className: "n" }, off),
          el("td", { className: "n amount" }, priced ? yuan(priced.amount_fen) : ""),
          el("td", { className: "n" }, priced ? String(priced.points) : ""),
          el("td", {}, remove),
        );
      }),
    );
    $("empty-basket").hidden = sale.lines.length > 0;
  }

  function tenderDetail(tender) {
    if (tender.kind === "voucher") return tender.voucher;
    if (tender.kind === "points") return `${tender.card} · ${tender.points} ${t("sale.points_unit")}`;
    if (tender.kind === "uses" || tender.kind === "time_card") return `${tender.card} · ${tender.sku} × ${tender.qty}`;
    return tender.card ?? "";
  }

  function renderTenders() {
    $("tenders").querySelector("tbody").replaceChildren(
      ...sale.tenders.map((tender, index) =>
        el(
          "tr",
          { dataset: { kind: tender.kind } },
          el("td", {}, t(`tender.${tender.kind}`)),
          el("td", {}, tenderDetail(tender)),
          el("td", { className: "n" }, tender.amount_fen ? yuan(tender.amount_fen) : ""),
          el("td", {}, el("button", { type: "button", textContent: "×", onclick: () => { sale.tenders.splice(index, 1); changed(); } })),
        ),
      ),
    );
  }

  // What is still to pay, by the node's own reckoning (its preview); null while it has
  // none for this basket (refused: the cashier reads why in #sale-error).
  function due() {
    if (!sale.preview) return sale.lines.length ? null : 0;
    if (sale.preview.change_fen === null) return sale.preview.total_fen;
    return Math.max(0, -sale.preview.change_fen);
  }

  function renderTotals() {
    const preview = sale.preview;
    $("total").textContent = yuan(preview ? preview.total_fen : 0);
    $("discount").textContent = yuan(preview ? preview.discount_fen : 0);
    $("points").textContent = String(preview ? preview.points_earned : 0);
    $("due").textContent = due() === null ? "—" : yuan(due());
    $("change").textContent = yuan(preview && preview.change_fen !== null ? Math.max(0, preview.change_fen) : 0);
    const words = (reason) => (Till.state.language === "zh-CN" ? reason.text_zh : reason.text);
    $("points-reasons").replaceChildren(...(preview ? preview.points_reasons : []).map((r) => el("li", {}, words(r))));
    $("discount-reasons").replaceChildren(
      ...(preview ? [...preview.discounts, ...(preview.rebate ? [preview.rebate] : [])] : []).map((r) => el("li", {}, words(r))),
    );
    $("pay").disabled = !(sale.lines.length && sale.tenders.length && preview && preview.change_fen !== null && preview.change_fen >= 0) || sale.busy;
  }

  function saleError(message) {
    $("sale-error").textContent = message;
  }

  function changed() {
    saleError("");
    renderLines();
    renderTenders();
    clearTimeout(sale.previewTimer);
    sale.previewTimer = setTimeout(() => {
      sale.previewTimer = null;
      sale.previewing = refreshPreview();
    }, PREVIEW_DELAY_MS);
    renderTotals();
  }

  // The preview of the basket as it is now: what is due is judged on it, never on one
  // a keystroke has overtaken.
  async function settled() {
    if (sale.previewTimer !== null) {
      clearTimeout(sale.previewTimer);
      sale.previewTimer = null;
      sale.previewing = refreshPreview();
    }
    await sale.previewing;
  }

  function body() {
    const lines = sale.lines.map((line) => ({ sku: line.sku, qty: line.qty, ...(line.discount_fen ? { discount_fen: line.discount_fen } : {}) }));
    const salesperson = $("salesperson").value.trim();
    return {
      lines,
      ...(sale.member ? { member_id: sale.member.id } : {}),
      ...(salesperson ? { salesperson } : {}),
    };
  }

  async function refreshPreview() {
    if (!sale.lines.length) {
      sale.preview = null;
      renderLines();
      renderTotals();
      return;
    }
    const seq = ++sale.previewSeq;
    const asked = body();
    if (sale.tenders.length) asked.tenders = sale.tenders;
    try {
      const found = await api("/api/sales/preview", { method: "POST", body: asked });
      if (seq !== sale.previewSeq) return; // a later change asked again
      sale.preview = found;
      document.body.dataset.previewed = String(seq);
    } catch (error) {
      if (seq !== sale.previewSeq) return;
      sale.preview = null;
      saleError(error.message);
    }
    renderLines();
    renderTotals();
  }

  // -- member -------------------------------------------------------------------------

  async function findMember(key) {
    const text = key.trim();
    if (!text) return;
    const query = /^1\d{10}$/.test(text) || /^\+/.test(text) ? `phone=${encodeURIComponent(text)}` : `card=${encodeURIComponent(text)}`;
    try {
      const found = await api(`/api/members?${query}`);
      if (!found.members.length) {
        // A number that is no card may still be a phone in another format.
        const byPhone = query.startsWith("card=") ? await api(`/api/members?phone=${encodeURIComponent(text)}`).catch(() => ({ members: [] })) : { members: [] };
        if (!byPhone.members.length) return saleError(`${t("sale.no_member")} ${text}`);
        return setMember(byPhone.members[0]);
      }
      setMember(found.members[0]);
    } catch (error) {
      saleError(error.message);
    }
  }

  function setMember(member, swipedCard = null) {
    sale.member = member;
    $("member").hidden = !member;
    $("member-key").value = "";
    if (member) {
      $("member-name").textContent = `${member.name} · ${member.phone}`;
      $("member-level").textContent = member.level ? member.level.code : "";
      $("member-cards").replaceChildren(
        ...member.cards.map((card) =>
          el(
            "li",
            { dataset: { card: card.card }, className: card.card === swipedCard ? "ok" : "" },
            `${card.card} · ${t(`card_status.${card.status}`)} · ${t("tender.stored_value")} ${yuan(card.balances.stored_value)} · ${t("tender.points")} ${card.balances.points}`,
          ),
        ),
      );
      const first = swipedCard ?? (member.cards.find((card) => card.status === "active") ?? member.cards[0] ?? {}).card;
      sale.card = first ?? null;
      showCardLimit();
    } else {
      sale.card = null;
      $("card-limit").hidden = true;
    }
    changed();
  }

  async function showCardLimit() {
    if (!sale.card || !Till.permitted("cards:view")) return;
    const found = await api(`/api/till/status?card=${encodeURIComponent(sale.card)}`).catch(() => null);
    if (!found) return;
    $("card-limit").hidden = found.hq_reachable;
    $("card-limit-left").textContent = `${sale.card} ${yuan(found.card.offline_left_fen)}`;
  }

  // -- tenders ------------------------------------------------------------------------

  const NEEDS_CARD = ["stored_value", "points", "uses", "time_card", "credit"];

  function kindChanged() {
    const kind = $("tender-kind").value;
    const extra = $("tender-extra");
    extra.hidden = !(kind === "voucher" || NEEDS_CARD.includes(kind));
    extra.placeholder = t(kind === "voucher" ? "sale.voucher_placeholder" : "sale.card_placeholder");
    extra.value = kind === "voucher" ? "" : sale.card ?? "";
    $("tender-amount").hidden = kind === "uses" || kind === "time_card";
    $("tender-amount").placeholder = t(kind === "points" ? "sale.points_placeholder" : "sale.amount_placeholder");
  }

  function focusTender(kind) {
    $("tender-kind").value = kind;
    kindChanged();
    $("tender-amount").value = "";
    $("tender-amount").focus();
  }

  // What the tender form holds now, read when the cashier acts: the form may change
  // (the next key pressed) before the action has its preview.
  function tenderForm() {
    return { kind: $("tender-kind").value, amountText: $("tender-amount").value.trim(), extra: $("tender-extra").value.trim() };
  }

  // The cashier's actions run one after another, in the order keys were pressed: an
  // action waiting for its preview never lets a later one judge what is due before it.
  function inTurn(action) {
    sale.turn = sale.turn.then(action).catch((error) => saleError(error.message));
    return sale.turn;
  }

  async function addTender(form) {
    await settled();
    const { kind, amountText, extra } = form;
    const rest = due();
    let tender;
    if (kind === "points") {
      const points = Number.parseInt(amountText, 10);
      if (!(points > 0)) return saleError(t("sale.bad_points"));
      tender = { kind, card: extra, points };
    } else if (kind === "uses" || kind === "time_card") {
      const covered = new Set(sale.tenders.filter((x) => x.kind === kind).map((x) => x.sku));
      const line = sale.lines.find((l) => sale.bySku.get(l.sku)?.service && !covered.has(l.sku));
      if (!line) return saleError(t("sale.no_service_line"));
      tender = { kind, card: extra, sku: line.sku, qty: line.qty };
    } else {
      if (amountText === "" && rest === null) return saleError(t("sale.no_total"));
      if (amountText === "" && rest === 0) return saleError(t("sale.nothing_due"));
      const amount = amountText === "" ? rest : parseYuan(amountText);
      if (!amount) return saleError(t("sale.bad_amount"));
      tender = { kind, amount_fen: amount };
      if (kind === "voucher") tender.voucher = extra;
      if (kind === "stored_value" || kind === "credit") tender.card = extra;
    }
    if (NEEDS_CARD.includes(kind) && !extra) return saleError(t("sale.card_needed"));
    sale.tenders.push(tender);
    changed();
  }

  // Enter in the amount: add the tender; with nothing typed and nothing left to pay, pay.
  function onAmountKey(event) {
    if (event.key !== "Enter") return;
    event.preventDefault();
    const form = tenderForm();
    $("tender-amount").value = "";
    inTurn(async () => {
      await settled();
      if (form.amountText === "" && sale.tenders.length && due() === 0) await pay();
      else await addTender(form);
    });
  }

  function onAddTender() {
    const form = tenderForm();
    $("tender-amount").value = "";
    inTurn(() => addTender(form));
  }

  // -- paying -------------------------------------------------------------------------

  async function pay() {
    if (sale.busy || sale.booked || !sale.lines.length || !sale.tenders.length) return;
    sale.busy = true;
    renderTotals();
    await settled();
    sale.key ??= Till.newKey();
    try {
      const booked = await api("/api/sales", { method: "POST", body: { ...body(), tenders: sale.tenders }, headers: { "Idempotency-Key": sale.key } });
      sale.booked = booked.id; // a second click queued behind the first has nothing to do
      showReceipt(booked);
    } catch (error) {
      // Refused: nothing was booked, and the next try is a new sale. Unanswered: it may
      // have been, and the same key books it once whatever the cashier does next.
      if (error instanceof Till.ApiError && error.status >= 400 && error.status < 500) sale.key = null;
      saleError(error.message);
    } finally {
      sale.busy = false;
      renderTotals();
    }
  }

  function showReceipt(booked) {
    const words = (reason) => (Till.state.language === "zh-CN" ? reason.text_zh : reason.text);
    $("receipt-id").textContent = booked.id;
    $("receipt-time").textContent = Till.when(Date.now());
    $("receipt-lines").querySelector("tbody").replaceChildren(
      ...booked.lines.map((line) =>
        Till.row(sale.bySku.get(line.sku)?.name ?? line.sku, `× ${line.qty}`, line.discount_fen ? `-${yuan(line.discount_fen)}` : "", el("td", { className: "n" }, yuan(line.amount_fen))),
      ),
    );
    $("receipt-tenders").querySelector("tbody").replaceChildren(
      ...booked.tenders.map((tender) =>
        el(
          "tr",
          { dataset: { kind: tender.kind, mode: tender.mode ?? "" } },
          el("td", {}, t(`tender.${tender.kind}`)),
          el("td", {}, tender.mode ? t(`mode.${tender.mode}`) : ""),
          el("td", { className: "n" }, yuan(tender.amount_fen)),
        ),
      ),
    );
    $("receipt-who").textContent = `${Till.state.me.operator.branch} · ${Till.state.me.operator.login}`;
    $("receipt-member").textContent = sale.member ? `${sale.member.name} · ${sale.member.phone}` : t("receipt.walk_in");
    $("receipt-balance").textContent = "";
    showBalancesAfter(booked);
    $("receipt-total").textContent = yuan(booked.total_fen);
    $("receipt-change").textContent = yuan(booked.change_fen);
    $("receipt-points").textContent = String(booked.points_earned);
    $("receipt-reasons").replaceChildren(...[...booked.points_reasons, ...booked.discounts, ...(booked.rebate ? [booked.rebate] : [])].map((r) => el("li", {}, words(r))));
    document.querySelector(".till").hidden = true;
    $("receipt").hidden = false;
    $("receipt").dataset.sale = booked.id;
    const reprint = $("reprint");
    if (reprint) reprint.hidden = !Till.state.status?.devices?.printer;
    $("next-sale").focus();
  }

  // The cards the sale spent from, with what they hold now: the member asks.
  async function showBalancesAfter(booked) {
    const cards = [...new Set(booked.tenders.filter((x) => x.card).map((x) => x.card))];
    const held = await Promise.all(cards.map((card) => api(`/api/cards/${encodeURIComponent(card)}`).catch(() => null)));
    $("receipt-balance").textContent = held
      .filter(Boolean)
      .map((card) => `${card.card} · ${t("tender.stored_value")} ${yuan(card.balances.stored_value)} · ${t("tender.points")} ${card.balances.points}`)
      .join("；");
  }

  // A copy of the sale's receipt, marked as one on the paper.
  async function reprint() {
    const saleId = $("receipt").dataset.sale;
    const found = await api(`/api/printouts?ref=${encodeURIComponent(saleId)}`);
    const original = [...found.waiting, ...found.printed].find((job) => !job.copy);
    if (!original) return Till.flash(t("receipt.no_printout"), true);
    await api(`/api/printouts/${original.id}/reprint`, { method: "POST" });
    Till.flash(t("receipt.reprinted"));
  }

  function newSale() {
    Object.assign(sale, { lines: [], member: null, card: null, tenders: [], preview: null, key: null, booked: null, chosenLine: -1 });
    $("receipt").hidden = true;
    document.querySelector(".till").hidden = false;
    $("salesperson").value = "";
    setMember(null);
    $("scan").focus();
  }

  function onKey(event) {
    if (Till.state.shown !== "sale") return;
    const keys = {
      F2: () => $("member-key").focus(),
      F4: () => $("tender-kind").focus(),
      F6: () => focusTender("cash"),
      F7: () => focusTender("stored_value"),
      F8: () => focusTender("points"),
      F9: () => inTurn(pay),
    };
    if (keys[event.key]) {
      event.preventDefault();
      keys[event.key]();
    } else if (event.key === "Escape" && document.activeElement !== $("scan")) {
      $("scan").focus();
    }
  }

  let ready = null;

  function wire() {
    $("scan").addEventListener("input", () => {
      sale.chosenResult = 0;
      showResults();
    });
    $("scan").addEventListener("keydown", onScanKey);
    $("scan").addEventListener("blur", () => setTimeout(() => ($("results").hidden = true), 150));
    $("member-key").addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        findMember($("member-key").value).then(() => $("scan").focus());
      }
    });
    $("member-clear").addEventListener("click", () => setMember(null));
    $("tender-kind").addEventListener("change", kindChanged);
    $("tender-amount").addEventListener("keydown", onAmountKey);
    $("tender-extra").addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        onAddTender();
      }
    });
    $("tender-add").addEventListener("click", onAddTender);
    $("pay").addEventListener("click", () => inTurn(pay));
    $("next-sale").addEventListener("click", newSale);
    $("reprint")?.addEventListener("click", () => inTurn(reprint));
    $("salesperson").addEventListener("change", changed);
    document.addEventListener("keydown", onKey);
    // A card read at the branch's reader fills the member in (node.routes.till).
    Till.on("swipe", async (swiped) => {
      if (Till.state.shown !== "sale" || !swiped.member_id) return;
      try {
        setMember(await api(`/api/members/${encodeURIComponent(swiped.member_id)}`), swiped.card);
      } catch (error) {
        saleError(error.message);
      }
    });
    Till.on("status", () => showCardLimit());
    kindChanged();
  }

  Till.section("sale", {
    needs: "sales:add",
    async show() {
      ready ??= (async () => {
        wire();
        await loadProducts();
      })();
      await ready;
      renderLines();
      renderTotals();
      $("scan").focus();
    },
    async feed() {
      await loadProducts(); // stock on hand changed
      if (!$("results").hidden) showResults();
    },
  });

  return { sale, setMember, newSale };
})();

document.addEventListener("DOMContentLoaded", () => {
  Till.start().catch((error) => Till.flash(error.message, true));
});
