// The store manager's back office at the till: returns, stock, receiving, transfers,
// stocktake, settlement and the branch's reports. Each section builds its own DOM into
// its empty <section> of index.html, afresh every time it is opened (so the operator's
// language applies), and reads every figure from the node's API, which checks the
// permissions again: a button left out for a role (Till.permitted) is a courtesy.
// Every text is a t() call with a literal key, so a test can hold each key to both languages.
// Money stays integer fen: typed amounts go through Till.parseYuan, shown through Till.yuan.
"use strict";

const Office = (() => {
  const { t, yuan, parseYuan, el, api } = Till;
  const $ = (id) => document.getElementById(id);
  let catalogue = new Map(); // sku -> product, for names; GET /api/products
  let warehouses = null; // GET /api/warehouses

  // -- shared helpers ---------------------------------------------------------------------

  // One Idempotency-Key per attempt: a retried request of the same attempt would book
  // once. randomUUID exists only in a secure context; a till on the shop's LAN over
  // plain http is none, so the key is made from getRandomValues there (a v4 UUID).
  function newKey() {
    if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  // A POST that writes: its button is off while it runs (a double click books once), a
  // refusal is the server's own message on the flash line, and null says nothing booked.
  async function write(path, body, button, { keyed = true } = {}) {
    if (button) button.disabled = true;
    try {
      return await api(path, { method: "POST", body, headers: keyed ? { "Idempotency-Key": newKey() } : {} });
    } catch (error) {
      Till.flash(error.message, true);
      return null;
    } finally {
      if (button) button.disabled = false;
    }
  }

  // show() and feed() are called without a catch by till.js: a failure is flashed here.
  function guarded(fn) {
    return async (...args) => {
      try {
        await fn(...args);
      } catch (error) {
        Till.flash(error.message, true);
      }
    };
  }

  async function loadCatalogue() {
    const found = await api("/api/products");
    catalogue = new Map(found.products.map((p) => [p.sku, p]));
    const list = $("office-skus") ?? document.body.appendChild(el("datalist", { id: "office-skus" }));
    list.replaceChildren(...found.products.filter((p) => !p.service).map((p) => el("option", { value: p.sku, label: p.name })));
  }

  const nameOf = (sku) => catalogue.get(sku)?.name ?? sku;
  const product = (sku) => el("span", {}, `${nameOf(sku)} `, el("small", {}, sku));

  // The warehouses this branch keeps (its main one first), and all the chain's.
  async function loadWarehouses() {
    warehouses = await api("/api/warehouses"); // read each time: HQ may have added one
    const branch = Till.state.me.operator.branch;
    const own = [warehouses.default, ...warehouses.warehouses.filter((w) => w.branch === branch && w.code !== warehouses.default).map((w) => w.code)];
    return { own, all: warehouses.warehouses.map((w) => w.code) };
  }

  function th(text, numeric = false) {
    return el("th", { className: numeric ? "n" : "" }, text);
  }

  // A table with its header cells: [text, numeric?] pairs or plain texts.
  function table(id, ...heads) {
    const cells = heads.map((h) => (Array.isArray(h) ? th(h[0], h[1]) : th(h)));
    return el("table", { id }, el("thead", {}, el("tr", {}, ...cells)), el("tbody"));
  }

  const num = (text, className = "") => el("td", { className: `n ${className}`.trim() }, String(text));
  const field = (text, input) => el("label", {}, el("span", {}, text), input);
  const short = (id) => el("code", { title: id }, id.length > 12 ? `…${id.slice(-8)}` : id);

  function select(id, values, chosen) {
    const node = el("select", { id }, ...values.map((v) => el("option", { value: v, textContent: v })));
    if (chosen !== undefined) node.value = chosen;
    return node;
  }

  function skuInput(className = "sku") {
    const input = el("input", { className, autocomplete: "off", placeholder: t("office.sku_placeholder") });
    input.setAttribute("list", "office-skus"); // `list` is read-only as a property
    return input;
  }

  // Rows of product and quantity (and unit cost in yuan when `withCost`) typed in.
  function lineEditor(id, withCost) {
    const box = table(id, t("col.product"), [t("col.qty"), true], ...(withCost ? [[t("office.col.unit_cost"), true]] : []), "");
    const body = box.querySelector("tbody");
    function addRow() {
      const row = el(
        "tr",
        {},
        el("td", {}, skuInput()),
        el("td", { className: "n" }, el("input", { className: "qty", inputMode: "numeric", size: 5 })),
        withCost ? el("td", { className: "n" }, el("input", { className: "cost", inputMode: "decimal", size: 8, placeholder: "0.00" })) : null,
        el("td", {}, el("button", { type: "button", textContent: "×", title: t("office.remove"), onclick: () => row.remove() })),
      );
      body.append(row);
    }
    addRow();
    const add = el("button", { type: "button", textContent: t("office.add_line"), onclick: addRow });
    // The lines typed, or a message saying what is wrong with them.
    function lines() {
      const found = [];
      for (const row of body.rows) {
        const sku = row.querySelector(".sku").value.trim();
        const qtyText = row.querySelector(".qty").value.trim();
        if (!sku && !qtyText) continue;
        const qty = /^\d{1,6}$/.test(qtyText) ? Number(qtyText) : 0;
        if (!sku || qty < 1) return { error: `${t("office.bad_line")} ${sku}` };
        const line = { sku, qty };
        if (withCost) {
          const cost = parseYuan(row.querySelector(".cost").value);
          if (cost === null) return { error: `${t("office.bad_cost")} ${sku}` };
          line.unit_cost_fen = cost;
        }
        found.push(line);
      }
      return found.length ? { lines: found } : { error: t("office.no_lines") };
    }
    function clear() {
      body.replaceChildren();
      addRow();
    }
    return { node: el("div", {}, box, add), lines, clear };
  }

  // Whole units typed in a quantity box: a number, or null for blank, NaN for nonsense.
  function units(text) {
    const trimmed = text.trim();
    if (!trimmed) return null;
    return /^\d{1,6}$/.test(trimmed) ? Number(trimmed) : Number.NaN;
  }

  function tenderText(kind) {
    return t(`tender.${kind}`);
  }

  function causeText(cause) {
    const texts = {
      sale: t("stock.cause_sale"),
      sale_return: t("stock.cause_sale_return"),
      purchase: t("stock.cause_purchase"),
      purchase_return: t("stock.cause_purchase_return"),
      stocktake: t("stock.cause_stocktake"),
      transfer_out: t("stock.cause_transfer_out"),
      transfer_in: t("stock.cause_transfer_in"),
      transfer_discrepancy: t("stock.cause_transfer_discrepancy"),
    };
    return texts[cause] ?? cause;
  }

  // -- returns ----------------------------------------------------------------------------

  const ret = { saleId: "", sale: null, returns: [], last: null };

  function buildReturns() {
    const input = el("input", { id: "return-sale-id", autocomplete: "off", size: 40, value: ret.saleId, placeholder: t("returns.sale_placeholder") });
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") guarded(findSale)();
    });
    $("returns").replaceChildren(
      el("h2", {}, t("nav.returns")),
      el("div", { className: "panel" }, field(t("returns.sale_id"), input), el("button", { type: "button", id: "return-find", textContent: t("returns.find"), onclick: guarded(findSale) })),
      el("p", { className: "hint" }, t("returns.hint")),
      el(
        "div",
        { id: "return-sale", hidden: true },
        el("p", { id: "return-sale-head" }),
        table("return-lines", t("col.product"), [t("returns.sold"), true], [t("returns.returned"), true], [t("col.price"), true], [t("col.amount"), true], [t("returns.qty_back"), true]),
        el("h3", {}, t("returns.paid_with")),
        table("return-tenders", t("col.tender"), t("col.detail"), [t("col.amount"), true]),
        el("button", { type: "button", id: "return-post", className: "primary", textContent: t("returns.refund"), onclick: guarded(postReturn) }),
      ),
      el("div", { id: "return-result", hidden: true }, el("h3", {}, t("returns.refunded")), table("return-refunds", t("col.tender"), t("col.detail"), [t("col.amount"), true]), el("p", { id: "return-result-note" })),
      el("div", { id: "return-history", hidden: true }, el("h3", {}, t("returns.earlier")), table("return-history-table", t("office.col.time"), t("returns.lines"), t("col.tender"), [t("returns.refund_total"), true])),
      el("h3", {}, t("returns.todays_sales")),
      table("return-today", t("office.col.time"), t("returns.items"), [t("sale.total"), true], [t("returns.refund_total"), true]),
    );
  }

  // The branch's sales today, newest first: the cashier picks the one coming back
  // instead of typing its number.
  async function loadToday() {
    if (!Till.permitted("sales:view")) return;
    const found = await api("/api/sales?limit=50");
    $("return-today").querySelector("tbody").replaceChildren(
      ...found.sales.map((sale) =>
        el(
          "tr",
          { dataset: { sale: sale.id }, style: "cursor: pointer", onclick: guarded(() => pick(sale.id)) },
          el("td", {}, Till.when(sale.at_ms)),
          el("td", {}, sale.lines.map((line) => `${nameOf(line.sku)} ×${line.qty}`).join("，")),
          num(yuan(sale.total_fen)),
          num(sale.refunded_fen ? yuan(sale.refunded_fen) : ""),
        ),
      ),
    );
  }

  async function pick(saleId) {
    $("return-sale-id").value = saleId;
    await findSale();
  }

  async function findSale() {
    const id = $("return-sale-id").value.trim();
    if (!id) return;
    ret.saleId = id;
    ret.last = null;
    await loadSale();
  }

  async function loadSale() {
    try {
      ret.sale = await api(`/api/sales/${encodeURIComponent(ret.saleId)}`);
    } catch (error) {
      ret.sale = null;
      renderSale();
      throw error;
    }
    ret.returns = Till.permitted("returns:view") ? (await api(`/api/sales/${encodeURIComponent(ret.saleId)}/returns`)).returns : [];
    renderSale();
  }

  function refundDetail(refund) {
    if (refund.kind === "points") return `${refund.card ?? ""} · ${refund.points} ${t("returns.points_unit")}`;
    if (refund.qty) return `${refund.card ?? ""} · ${refund.sku ?? ""} × ${refund.qty}`;
    return refund.card ?? "";
  }

  function refundRow(refund) {
    return el("tr", { dataset: { kind: refund.kind } }, el("td", {}, tenderText(refund.kind)), el("td", {}, refundDetail(refund)), num(yuan(refund.amount_fen)));
  }

  function renderSale() {
    const sale = ret.sale;
    $("return-sale").hidden = !sale;
    $("return-history").hidden = !sale || !ret.returns.length;
    renderResult();
    if (!sale) return;
    const back = new Map();
    for (const done of ret.returns) for (const line of done.lines) back.set(line.line_no, (back.get(line.line_no) ?? 0) + line.qty);
    $("return-sale-head").replaceChildren(`${t("returns.sale")} `, el("code", {}, sale.id), ` · ${t("sale.total")} ${yuan(sale.total_fen)} · ${t("sale.change")} ${yuan(sale.change_fen)}`);
    $("return-lines").tBodies[0].replaceChildren(
      ...sale.lines.map((line) => {
        const left = line.qty - (back.get(line.line_no) ?? 0);
        const qty = el("input", { className: "qty", inputMode: "numeric", size: 4, value: "0", disabled: left === 0, ariaLabel: `qty ${line.sku}` });
        return el(
          "tr",
          { dataset: { line: String(line.line_no), sku: line.sku, left: String(left) } },
          el("td", {}, product(line.sku)),
          num(line.qty),
          num(back.get(line.line_no) ?? 0),
          num(yuan(line.unit_price_fen)),
          num(yuan(line.amount_fen)),
          el("td", { className: "n" }, qty),
        );
      }),
    );
    $("return-tenders").tBodies[0].replaceChildren(
      ...sale.tenders.map((tender) => el("tr", { dataset: { kind: tender.kind } }, el("td", {}, tenderText(tender.kind)), el("td", {}, tender.card ?? tender.voucher ?? ""), num(yuan(tender.amount_fen)))),
    );
    $("return-history-table").tBodies[0].replaceChildren(
      ...ret.returns.map((done) =>
        el(
          "tr",
          { dataset: { return: done.id } },
          el("td", {}, Till.when(done.at_ms)),
          el("td", {}, done.lines.map((line) => `${nameOf(line.sku)} × ${line.qty}`).join("、")),
          el("td", {}, done.refunds.map((refund) => `${tenderText(refund.kind)} ${yuan(refund.amount_fen)}`).join("、") || tenderText(done.refund_kind)),
          num(yuan(done.refund_fen)),
        ),
      ),
    );
  }

  function renderResult() {
    const done = ret.last;
    $("return-result").hidden = !done;
    if (!done) return;
    $("return-result").dataset.return = done.id;
    $("return-refunds").tBodies[0].replaceChildren(...done.refunds.map(refundRow));
    const notes = [`${t("returns.refund_total")} ${yuan(done.refund_fen)}`];
    if (done.points_taken_back) notes.push(`${t("returns.points_taken_back")} ${done.points_taken_back}`);
    if (done.rebate_taken_back_fen) notes.push(`${t("returns.rebate_taken_back")} ${yuan(done.rebate_taken_back_fen)}`);
    if (done.vouchers_reinstated?.length) notes.push(`${t("returns.vouchers_reinstated")} ${done.vouchers_reinstated.join("、")}`);
    $("return-result-note").textContent = notes.join(" · ");
  }

  async function postReturn() {
    const lines = [];
    for (const row of $("return-lines").tBodies[0].rows) {
      const qty = units(row.querySelector("input").value);
      if (qty === null || qty === 0) continue;
      if (Number.isNaN(qty) || qty > Number(row.dataset.left)) return Till.flash(`${t("returns.bad_qty")} ${row.dataset.sku}`, true);
      lines.push({ line_no: Number(row.dataset.line), qty });
    }
    if (!lines.length) return Till.flash(t("returns.nothing_chosen"), true);
    const done = await write(`/api/sales/${encodeURIComponent(ret.sale.id)}/returns`, { lines }, $("return-post"));
    if (!done) return;
    ret.last = done;
    await loadSale();
    Till.flash(`${t("returns.done")} ${yuan(done.refund_fen)}`);
    await loadToday();
  }

  Till.section("returns", {
    needs: "returns:add",
    show: guarded(async () => {
      buildReturns();
      await loadCatalogue();
      await loadToday();
      if (ret.saleId) await loadSale();
    }),
  });

  // -- stock ------------------------------------------------------------------------------

  const stock = { seq: 0, levels: [], alerts: [], moves: [] };

  function buildStock() {
    const filter = el("input", { id: "stock-filter", autocomplete: "off", placeholder: t("office.filter_placeholder") });
    filter.addEventListener("input", renderStock);
    $("stock").replaceChildren(
      el("h2", {}, t("nav.stock")),
      el("div", { className: "panel" }, field(t("office.filter"), filter), el("button", { type: "button", id: "stock-reload", textContent: t("office.reload"), onclick: guarded(loadStock) })),
      el("h3", {}, t("stock.alerts")),
      el("p", { id: "stock-no-alerts", hidden: true }, t("stock.no_alerts")),
      table("stock-alerts", t("office.col.warehouse"), t("col.product"), [t("col.qty"), true], [t("stock.lower"), true], [t("stock.upper"), true], t("stock.alert")),
      el("h3", {}, t("stock.levels")),
      table("stock-levels", t("office.col.warehouse"), t("col.product"), [t("col.qty"), true], t("stock.unit"), [t("stock.value"), true], [t("stock.lower"), true], [t("stock.upper"), true], t("stock.alert")),
      el("h3", {}, t("stock.moves")),
      table("stock-moves", t("office.col.time"), t("office.col.warehouse"), t("col.product"), t("stock.cause"), [t("col.qty"), true], [t("stock.value"), true]),
    );
  }

  async function loadStock() {
    const seq = ++stock.seq;
    const [levels, alerts, moves] = await Promise.all([api("/api/stock"), api("/api/stock/alerts"), api("/api/stock/moves?limit=30")]);
    if (seq !== stock.seq) return; // a later load overtook this one
    Object.assign(stock, { levels: levels.stock, alerts: alerts.alerts, moves: moves.moves });
    renderStock();
  }

  const alertText = (alert) => (alert === "low" ? t("stock.low") : alert === "high" ? t("stock.high") : "");
  const alertClass = (alert) => (alert === "low" ? "bad" : alert === "high" ? "warn" : "");
  const limit = (value) => (value === null || value === undefined ? "" : value);

  function renderStock() {
    if (!$("stock-levels")) return;
    const needle = $("stock-filter").value.trim().toLowerCase();
    const shown = (row) => !needle || row.sku.toLowerCase().includes(needle) || (row.name ?? "").toLowerCase().includes(needle);
    // Highlighted by what /api/stock/alerts says, the node's one judgement of the limits.
    const alerted = new Map(stock.alerts.map((a) => [`${a.warehouse}|${a.sku}`, a.alert]));
    $("stock-no-alerts").hidden = stock.alerts.length > 0;
    $("stock-alerts").hidden = stock.alerts.length === 0;
    $("stock-alerts").tBodies[0].replaceChildren(
      ...stock.alerts.map((a) =>
        el("tr", { className: alertClass(a.alert), dataset: { sku: a.sku, warehouse: a.warehouse, alert: a.alert } }, el("td", {}, a.warehouse), el("td", {}, product(a.sku)), num(a.qty), num(limit(a.lower_limit)), num(limit(a.upper_limit)), el("td", {}, alertText(a.alert))),
      ),
    );
    $("stock-levels").tBodies[0].replaceChildren(
      ...stock.levels.filter(shown).map((row) => {
        const alert = alerted.get(`${row.warehouse}|${row.sku}`) ?? "";
        return el(
          "tr",
          { className: alertClass(alert), dataset: { sku: row.sku, warehouse: row.warehouse, alert } },
          el("td", {}, row.warehouse),
          el("td", {}, `${row.name} `, el("small", {}, row.sku)),
          num(row.qty, "qty"),
          el("td", {}, row.unit ?? ""),
          num(yuan(row.cost_fen)),
          num(limit(row.lower_limit)),
          num(limit(row.upper_limit)),
          el("td", {}, alertText(alert)),
        );
      }),
    );
    $("stock-moves").tBodies[0].replaceChildren(
      ...stock.moves.map((move) =>
        el("tr", { dataset: { cause: move.cause, sku: move.sku } }, el("td", {}, Till.when(move.at_ms)), el("td", {}, move.warehouse), el("td", {}, product(move.sku)), el("td", {}, causeText(move.cause)), num(move.qty > 0 ? `+${move.qty}` : move.qty), num(yuan(move.cost_fen))),
      ),
    );
  }

  Till.section("stock", {
    needs: "stock:view",
    show: guarded(async () => {
      buildStock();
      await loadCatalogue();
      await loadStock();
    }),
    // HQ's feed brought something (a transfer's goods): the levels are read again.
    feed: guarded(loadStock),
  });

  // -- receiving --------------------------------------------------------------------------

  const receiving = { orders: [], last: null, direct: null };

  function buildReceiving(own) {
    receiving.direct = lineEditor("receipt-lines", true);
    $("receiving").replaceChildren(
      el("h2", {}, t("nav.receiving")),
      el("h3", {}, t("receiving.open_orders")),
      el("p", { id: "receiving-none", hidden: true }, t("receiving.no_orders")),
      el("div", { id: "receiving-orders" }),
      el("h3", {}, t("receiving.direct")),
      el(
        "div",
        { className: "panel" },
        field(t("receiving.supplier"), (() => {
          const input = el("input", { id: "receipt-supplier", autocomplete: "off", placeholder: t("receiving.supplier_placeholder") });
          input.setAttribute("list", "receiving-suppliers");
          return input;
        })()),
        el("datalist", { id: "receiving-suppliers" }),
        field(t("office.col.warehouse"), select("receipt-warehouse", own)),
      ),
      receiving.direct.node,
      el("button", { type: "button", id: "receipt-post", className: "primary", textContent: t("receiving.post_direct"), onclick: guarded(postDirect) }),
      el("div", { id: "receiving-result", hidden: true }, el("h3", {}, t("receiving.received")), el("p", { id: "receiving-result-head" }), table("receiving-result-lines", t("col.product"), [t("col.qty"), true], [t("office.col.unit_cost"), true], [t("col.amount"), true])),
    );
    $("receipt-post").hidden = !Till.permitted("purchasing:add");
  }

  const orderState = (state) => ({ open: t("receiving.state_open"), partial: t("receiving.state_partial"), received: t("receiving.state_received"), closed: t("receiving.state_closed") })[state] ?? state;

  async function loadOrders() {
    if (!Till.permitted("purchasing:view")) return; // a grant of add alone: receipts without orders
    const [open, partial] = await Promise.all([api("/api/purchase-orders?state=open"), api("/api/purchase-orders?state=partial")]);
    receiving.orders = [...open.orders, ...partial.orders].sort((a, b) => b.seq - a.seq);
    renderOrders();
  }

  function renderOrders() {
    $("receiving-none").hidden = receiving.orders.length > 0;
    const suppliers = [...new Set(receiving.orders.map((o) => o.supplier))];
    $("receiving-suppliers").replaceChildren(...suppliers.map((code) => el("option", { value: code })));
    $("receiving-orders").replaceChildren(...receiving.orders.map(orderBlock));
  }

  function orderBlock(order) {
    const lines = table(`order-${order.id}`, t("col.product"), [t("receiving.ordered"), true], [t("receiving.received_qty"), true], [t("receiving.outstanding"), true], [t("office.col.unit_cost"), true], [t("receiving.receive_now"), true]);
    lines.tBodies[0].replaceChildren(
      ...order.lines.map((line) =>
        el(
          "tr",
          { dataset: { sku: line.sku, outstanding: String(line.outstanding_qty) } },
          el("td", {}, product(line.sku)),
          num(line.qty),
          num(line.received_qty),
          num(line.outstanding_qty),
          num(yuan(line.unit_cost_fen)),
          el("td", { className: "n" }, el("input", { className: "qty", inputMode: "numeric", size: 5, value: String(line.outstanding_qty), disabled: line.outstanding_qty === 0 })),
        ),
      ),
    );
    const button = el("button", { type: "button", className: "primary", textContent: t("receiving.receive") });
    button.addEventListener("click", guarded(() => receiveOrder(order, lines, button)));
    button.hidden = !Till.permitted("purchasing:add");
    return el(
      "div",
      { className: "order", dataset: { order: order.id, state: order.state } },
      el("h4", {}, `${t("receiving.order")} `, short(order.id), ` · ${order.supplier} · ${order.warehouse} · ${orderState(order.state)} · ${yuan(order.total_fen)}${order.note ? ` · ${order.note}` : ""}`),
      lines,
      button,
    );
  }

  async function receiveOrder(order, lines, button) {
    const asked = [];
    for (const row of lines.tBodies[0].rows) {
      const qty = units(row.querySelector("input").value);
      if (qty === null || qty === 0) continue;
      if (Number.isNaN(qty) || qty > Number(row.dataset.outstanding)) return Till.flash(`${t("receiving.bad_qty")} ${row.dataset.sku}`, true);
      asked.push({ sku: row.dataset.sku, qty });
    }
    if (!asked.length) return Till.flash(t("office.no_lines"), true);
    const receipt = await write(`/api/purchase-orders/${encodeURIComponent(order.id)}/receipts`, { lines: asked }, button);
    if (receipt) await received(receipt);
  }

  async function postDirect() {
    const supplier = $("receipt-supplier").value.trim();
    if (!supplier) return Till.flash(t("receiving.supplier_needed"), true);
    const typed = receiving.direct.lines();
    if (typed.error) return Till.flash(typed.error, true);
    const receipt = await write("/api/receipts", { supplier, warehouse: $("receipt-warehouse").value, lines: typed.lines }, $("receipt-post"));
    if (!receipt) return;
    receiving.direct.clear();
    await received(receipt);
  }

  async function received(receipt) {
    receiving.last = receipt;
    renderReceipt();
    await loadOrders();
    Till.flash(`${t("receiving.done")} ${yuan(receipt.amount_fen)}`);
  }

  function renderReceipt() {
    const receipt = receiving.last;
    $("receiving-result").hidden = !receipt;
    if (!receipt) return;
    $("receiving-result").dataset.receipt = receipt.id;
    $("receiving-result-head").replaceChildren(short(receipt.id), ` · ${receipt.supplier} · ${receipt.warehouse} · ${yuan(receipt.amount_fen)}${receipt.order_state ? ` · ${orderState(receipt.order_state)}` : ""}`);
    $("receiving-result-lines").tBodies[0].replaceChildren(
      ...receipt.lines.map((line) => el("tr", { dataset: { sku: line.sku } }, el("td", {}, product(line.sku)), num(line.qty), num(yuan(line.unit_cost_fen)), num(yuan(line.amount_fen)))),
    );
  }

  Till.section("receiving", {
    needs: "purchasing:add",
    show: guarded(async () => {
      const [{ own }] = await Promise.all([loadWarehouses(), loadCatalogue()]);
      buildReceiving(own);
      renderReceipt();
      await loadOrders();
    }),
  });

  // -- transfers --------------------------------------------------------------------------

  const transfers = { list: [], editor: null, seq: 0 };

  function buildTransfers(own, all) {
    const parts = [el("h2", {}, t("nav.transfers"))];
    if (Till.permitted("transfers:add")) {
      transfers.editor = lineEditor("transfer-lines", false);
      const from = select("transfer-from", own);
      const to = el("select", { id: "transfer-to" });
      // Anywhere but where the goods are: a transfer to itself moves nothing.
      const destinations = () => to.replaceChildren(...all.filter((code) => code !== from.value).map((code) => el("option", { value: code, textContent: code })));
      from.addEventListener("change", destinations);
      destinations();
      parts.push(
        el("h3", {}, t("transfers.send")),
        el(
          "div",
          { className: "panel", id: "transfer-send-form" },
          field(t("transfers.from"), from),
          field(t("transfers.to"), to),
          field(t("transfers.note"), el("input", { id: "transfer-note", autocomplete: "off", maxLength: 200 })),
        ),
        transfers.editor.node,
        el("button", { type: "button", id: "transfer-send", className: "primary", textContent: t("transfers.send_button"), onclick: guarded(sendTransfer) }),
      );
    }
    parts.push(el("h3", {}, t("transfers.list")), el("p", { id: "transfers-none", hidden: true }, t("transfers.none")), el("div", { id: "transfer-list" }));
    $("transfers").replaceChildren(...parts);
  }

  async function loadTransfers() {
    const seq = ++transfers.seq;
    const found = await api("/api/transfers");
    if (seq !== transfers.seq) return;
    transfers.list = found.transfers.slice().reverse(); // newest first
    renderTransfers();
  }

  const transferState = (state) => (state === "in_transit" ? t("transfers.in_transit") : state === "received" ? t("transfers.received") : state);

  function renderTransfers() {
    if (!$("transfer-list")) return;
    $("transfers-none").hidden = transfers.list.length > 0;
    $("transfer-list").replaceChildren(...transfers.list.map(transferBlock));
  }

  function transferBlock(transfer) {
    // A discrepancy is recorded by the branch that received the goods, once per line.
    const counting = transfer.direction === "in" && transfer.state === "received" && Till.permitted("transfers:edit");
    const noted = new Set(transfer.discrepancies.map((d) => d.sku));
    const lines = table(`transfer-${transfer.id}`, t("col.product"), [t("transfers.sent_qty"), true], [t("transfers.received_qty"), true], [t("stock.value"), true], ...(counting ? [[t("transfers.counted"), true]] : []));
    lines.tBodies[0].replaceChildren(
      ...transfer.lines.map((line) =>
        el(
          "tr",
          { dataset: { sku: line.sku, sent: String(line.qty) } },
          el("td", {}, product(line.sku)),
          num(line.qty),
          num(line.received_qty ?? ""),
          num(yuan(line.cost_fen)),
          counting ? el("td", { className: "n" }, el("input", { className: "qty", inputMode: "numeric", size: 5, value: String(line.received_qty ?? line.qty), disabled: noted.has(line.sku) })) : null,
        ),
      ),
    );
    const block = el(
      "div",
      { className: "transfer", dataset: { transfer: transfer.id, direction: transfer.direction, state: transfer.state } },
      el(
        "h4",
        {},
        `${transfer.direction === "in" ? t("transfers.in") : t("transfers.out")} `,
        short(transfer.id),
        ` · ${transfer.from_warehouse} → ${transfer.to_warehouse} · `,
        el("span", { className: `state ${transfer.state === "received" ? "ok" : "warn"}` }, transferState(transfer.state)),
        ` · ${t("transfers.sent_at")} ${Till.when(transfer.sent_at_ms)}${transfer.received_at_ms ? ` · ${t("transfers.received_at")} ${Till.when(transfer.received_at_ms)}` : ""}${transfer.note ? ` · ${transfer.note}` : ""}`,
      ),
      lines,
    );
    if (transfer.discrepancies.length) {
      block.append(
        el(
          "ul",
          { className: "discrepancies" },
          ...transfer.discrepancies.map((d) => el("li", { className: "warn", dataset: { sku: d.sku } }, `${t("transfers.discrepancy")}: ${nameOf(d.sku)} ${t("transfers.sent_qty")} ${d.sent_qty} · ${t("transfers.received_qty")} ${d.received_qty} · ${yuan(d.cost_fen)}${d.note ? ` · ${d.note}` : ""}`)),
        ),
      );
    }
    if (counting && noted.size < transfer.lines.length) {
      const note = el("input", { className: "note", autocomplete: "off", maxLength: 200 });
      const button = el("button", { type: "button", className: "record", textContent: t("transfers.record") });
      button.addEventListener("click", guarded(() => recordDiscrepancy(transfer, lines, note, button)));
      block.append(el("div", { className: "panel" }, field(t("transfers.note"), note), button));
    }
    return block;
  }

  async function sendTransfer() {
    const typed = transfers.editor.lines();
    if (typed.error) return Till.flash(typed.error, true);
    const note = $("transfer-note").value.trim();
    const body = { from_warehouse: $("transfer-from").value, to_warehouse: $("transfer-to").value, lines: typed.lines, ...(note ? { note } : {}) };
    const sent = await write("/api/transfers", body, $("transfer-send"));
    if (!sent) return;
    transfers.editor.clear();
    $("transfer-note").value = "";
    await loadTransfers();
    Till.flash(`${t("transfers.sent")} ${sent.to_warehouse}`);
  }

  async function recordDiscrepancy(transfer, lines, note, button) {
    const counted = [];
    for (const row of lines.tBodies[0].rows) {
      const input = row.querySelector("input");
      if (!input || input.disabled) continue;
      const qty = units(input.value);
      if (qty === null || Number.isNaN(qty)) return Till.flash(`${t("transfers.bad_qty")} ${row.dataset.sku}`, true);
      if (qty !== Number(row.dataset.sent)) counted.push({ sku: row.dataset.sku, received_qty: qty });
    }
    if (!counted.length) return Till.flash(t("transfers.no_difference"), true);
    const text = note.value.trim();
    // The route reads no Idempotency-Key: a second try of a line is refused as recorded.
    const done = await write(`/api/transfers/${encodeURIComponent(transfer.id)}/discrepancies`, { lines: counted, ...(text ? { note: text } : {}) }, button, { keyed: false });
    if (!done) return;
    await loadTransfers();
    Till.flash(t("transfers.recorded"));
  }

  Till.section("transfers", {
    needs: "transfers:view",
    show: guarded(async () => {
      const [{ own, all }] = await Promise.all([loadWarehouses(), loadCatalogue()]);
      buildTransfers(own, all);
      await loadTransfers();
    }),
    // A transfer arrived (or the source heard it was received): its state changed.
    feed: guarded(loadTransfers),
  });

  // -- stocktake --------------------------------------------------------------------------

  const take = { warehouse: null, counted: new Map(), rows: [], result: null, history: [] }; // counted: sku -> text typed

  function buildStocktake(own) {
    const filter = el("input", { id: "stocktake-filter", autocomplete: "off", placeholder: t("office.filter_placeholder") });
    filter.addEventListener("input", renderCount);
    if (!own.includes(take.warehouse)) take.warehouse = own[0];
    const warehouse = select("stocktake-warehouse", own, take.warehouse);
    warehouse.addEventListener("change", guarded(async () => {
      take.warehouse = warehouse.value;
      take.counted.clear(); // counts belong to the warehouse they were taken in
      await loadBook();
    }));
    $("stocktake").replaceChildren(
      el("h2", {}, t("nav.stocktake")),
      el("div", { className: "panel" }, field(t("office.col.warehouse"), warehouse), field(t("office.filter"), filter)),
      el("p", { className: "hint" }, t("stocktake.hint")),
      table("stocktake-count", t("col.product"), [t("stocktake.book"), true], [t("stocktake.counted"), true]),
      el(
        "div",
        { className: "panel" },
        el("button", { type: "button", id: "stocktake-preview", textContent: t("stocktake.preview"), onclick: guarded(() => postCount(false)) }),
        el("button", { type: "button", id: "stocktake-post", className: "primary", textContent: t("stocktake.post"), onclick: guarded(() => postCount(true)) }),
      ),
      el("div", { id: "stocktake-result", hidden: true }, el("h3", { id: "stocktake-result-title" }), table("stocktake-result-lines", t("col.product"), [t("stocktake.book"), true], [t("stocktake.counted"), true], [t("stocktake.variance"), true], [t("stock.value"), true]), el("p", { id: "stocktake-result-total" })),
      el("h3", {}, t("stocktake.history")),
      table("stocktake-history", t("office.col.time"), t("office.col.warehouse"), [t("stocktake.lines"), true], [t("stocktake.variance_value"), true], ""),
    );
  }

  async function loadBook() {
    const found = await api(`/api/stock?warehouse=${encodeURIComponent($("stocktake-warehouse").value)}`);
    // Services are never stocked, so never counted.
    take.rows = found.stock.filter((row) => !catalogue.get(row.sku)?.service);
    renderCount();
  }

  function renderCount() {
    const needle = $("stocktake-filter").value.trim().toLowerCase();
    const shown = take.rows.filter((row) => !needle || row.sku.toLowerCase().includes(needle) || row.name.toLowerCase().includes(needle));
    $("stocktake-count").tBodies[0].replaceChildren(
      ...shown.map((row) => {
        const input = el("input", { className: "qty", inputMode: "numeric", size: 6, value: take.counted.get(row.sku) ?? "", ariaLabel: `counted ${row.sku}` });
        input.addEventListener("input", () => (input.value.trim() ? take.counted.set(row.sku, input.value) : take.counted.delete(row.sku)));
        return el("tr", { dataset: { sku: row.sku } }, el("td", {}, `${row.name} `, el("small", {}, row.sku)), num(row.qty, "book"), el("td", { className: "n" }, input));
      }),
    );
  }

  async function loadHistory() {
    take.history = (await api("/api/stocktakes?limit=20")).stocktakes;
    $("stocktake-history").tBodies[0].replaceChildren(
      ...take.history.map((done) =>
        el(
          "tr",
          { dataset: { stocktake: done.id } },
          el("td", {}, Till.when(done.at_ms)),
          el("td", {}, done.warehouse),
          num(done.lines),
          num(yuan(done.variance_cost_fen)),
          el("td", {}, el("button", { type: "button", textContent: t("stocktake.details"), onclick: guarded(async () => showTake(await api(`/api/stocktakes/${encodeURIComponent(done.id)}`), true)) })),
        ),
      ),
    );
  }

  function showTake(result, booked) {
    take.result = { result, booked };
    $("stocktake-result").hidden = false;
    $("stocktake-result").dataset.stocktake = result.id ?? "";
    $("stocktake-result-title").textContent = booked ? `${t("stocktake.booked")} ${result.at_ms ? Till.when(result.at_ms) : ""}` : t("stocktake.previewed");
    $("stocktake-result-lines").tBodies[0].replaceChildren(
      ...result.lines.map((line) => {
        const variance = line.variance_qty > 0 ? `+${line.variance_qty}` : String(line.variance_qty);
        const className = line.variance_qty < 0 ? "bad" : line.variance_qty > 0 ? "warn" : "";
        return el("tr", { dataset: { sku: line.sku, variance: String(line.variance_qty) } }, el("td", {}, product(line.sku)), num(line.book_qty), num(line.counted_qty), num(variance, className), num(yuan(line.cost_fen)));
      }),
    );
    $("stocktake-result-total").textContent = `${t("stocktake.variance_value")} ${yuan(result.variance_cost_fen)}`;
  }

  async function postCount(post) {
    const lines = [];
    for (const [sku, text] of take.counted) {
      const qty = units(text);
      if (qty === null) continue;
      if (Number.isNaN(qty)) return Till.flash(`${t("stocktake.bad_qty")} ${sku}`, true);
      lines.push({ sku, counted_qty: qty });
    }
    if (!lines.length) return Till.flash(t("stocktake.nothing_counted"), true);
    const body = { warehouse: $("stocktake-warehouse").value, lines, post };
    // A preview books nothing and takes no key.
    const button = post ? $("stocktake-post") : $("stocktake-preview");
    const result = await write("/api/stocktakes", body, button, { keyed: post });
    if (!result) return;
    showTake(result, post);
    if (!post) return;
    take.counted.clear();
    await Promise.all([loadBook(), loadHistory()]);
    Till.flash(t("stocktake.done"));
  }

  Till.section("stocktake", {
    needs: "stocktake:add",
    show: guarded(async () => {
      const [{ own }] = await Promise.all([loadWarehouses(), loadCatalogue()]);
      buildStocktake(own);
      if (take.result) showTake(take.result.result, take.result.booked);
      await Promise.all([loadBook(), Till.permitted("stocktake:view") ? loadHistory() : null]);
    }),
    feed: guarded(async () => {
      if ($("stocktake-warehouse")) await loadBook(); // book quantities moved; what was typed stays
    }),
  });

  // -- settlement -------------------------------------------------------------------------

  const settle = { day: null, found: null };

  function buildSettlement() {
    settle.day ??= Till.state.me.today;
    const day = el("input", { id: "settlement-day", type: "date", value: settle.day });
    $("settlement").replaceChildren(
      el("h2", {}, t("nav.settlement")),
      el(
        "div",
        { className: "panel" },
        field(t("settlement.day"), day),
        el("button", { type: "button", id: "settlement-load", textContent: t("settlement.show"), onclick: guarded(async () => {
          settle.day = day.value || Till.state.me.today;
          await loadSettlement();
        }) }),
      ),
      el("div", { id: "settlement-body" }),
    );
  }

  async function loadSettlement() {
    settle.found = await api(`/api/settlement?day=${encodeURIComponent(settle.day)}`);
    renderSettlement();
  }

  // Label and value rows; a value is fen unless given as text.
  function figures(id, title, rows) {
    return el(
      "div",
      { className: "figures" },
      el("h3", {}, title),
      el("table", { id }, el("tbody", {}, ...rows.map(([label, value, key]) => el("tr", { dataset: { figure: key ?? "" } }, el("td", {}, label), num(typeof value === "number" ? yuan(value) : value))))),
    );
  }

  function renderSettlement() {
    const s = settle.found;
    const body = $("settlement-body");
    body.dataset.day = s.day;
    const cards = s.paid_by_cards;
    // How many tenders, and the uses, visits or points they took.
    const cardRow = (kind) => {
      const unit = kind === "points" ? t("returns.points_unit") : t("settlement.uses_unit");
      return [`${tenderText(kind)} (${cards[kind].tenders} ${t("settlement.times")} · ${cards[kind].qty} ${unit})`, cards[kind].amount_fen, kind];
    };
    body.replaceChildren(
      el("p", {}, `${s.branch} · ${s.day} · ${s.timezone} · ${Till.when(s.from_ms)} – ${Till.when(s.to_ms)}`),
      el(
        "div",
        { className: "office-columns", style: "display: flex; flex-wrap: wrap; gap: 0 2rem; align-items: flex-start" },
        el(
          "div",
          {},
          figures("settlement-sales", t("settlement.sales"), [
            [t("settlement.count"), String(s.sales.count), "sales_count"],
            [t("settlement.sales_total"), s.sales.total_fen, "sales_total"],
          ]),
          figures("settlement-takings", t("settlement.takings"), [
            [tenderText("cash"), s.takings.cash_fen, "cash"],
            [tenderText("stored_value"), s.takings.stored_value_fen, "stored_value"],
            [tenderText("voucher"), s.takings.voucher_fen, "voucher"],
            [tenderText("credit"), s.takings.credit_fen, "credit"],
            [t("settlement.total"), s.takings.total_fen, "total"],
          ]),
          figures("settlement-cards", t("settlement.paid_by_cards"), [cardRow("uses"), cardRow("time_card"), cardRow("points"), [t("settlement.total"), cards.total_fen, "total"]]),
        ),
        el(
          "div",
          {},
          figures("settlement-other", t("settlement.other"), [
            [`${t("settlement.card_sales")} (${s.card_sales.count})`, s.card_sales.price_fen, "card_sales"],
            [`${t("settlement.top_ups")} (${s.top_ups.count})`, s.top_ups.amount_fen, "top_ups"],
            [`${t("settlement.payouts")} (${s.payouts.count})`, s.payouts.amount_fen, "payouts"],
            [`${t("settlement.credit_repaid")} (${s.credit_repaid.count})`, s.credit_repaid.amount_fen, "credit_repaid"],
          ]),
          figures("settlement-refunds", `${t("settlement.refunds")} (${s.refunds.count})`, [
            ...["cash", "stored_value", "credit", "voucher", "uses", "time_card", "points"].filter((kind) => s.refunds[`${kind}_fen`]).map((kind) => [tenderText(kind), s.refunds[`${kind}_fen`], kind]),
            [t("settlement.total"), s.refunds.total_fen, "total"],
          ]),
        ),
        el(
          "div",
          {},
          figures("settlement-drawer", t("settlement.drawer"), [
            [t("settlement.cash_tendered"), s.drawer.cash_tendered_fen, "cash_tendered"],
            [t("settlement.change"), -s.drawer.change_fen, "change"],
            [t("settlement.card_sales_cash"), s.drawer.card_sales_cash_fen, "card_sales_cash"],
            [t("settlement.top_ups"), s.drawer.top_ups_fen, "top_ups"],
            [t("settlement.credit_repaid"), s.drawer.credit_repaid_fen, "credit_repaid"],
            [t("settlement.cash_refunds"), -s.drawer.cash_refunds_fen, "cash_refunds"],
            [t("settlement.payouts"), -s.drawer.payouts_fen, "payouts"],
            [t("settlement.expected_cash"), s.drawer.expected_cash_fen, "expected_cash"],
          ]),
          s.close ? closedBox(s.close) : closeForm(s),
        ),
      ),
    );
  }

  const differenceClass = (fen) => (fen === 0 ? "ok" : fen < 0 ? "bad" : "warn");
  const signed = (fen) => (fen > 0 ? `+${yuan(fen)}` : yuan(fen));

  function closedBox(close) {
    return el(
      "div",
      { id: "settlement-closed", dataset: { closed: "true" } },
      el("h3", { className: "ok" }, t("settlement.closed")),
      el(
        "table",
        {},
        el(
          "tbody",
          {},
          Till.row(t("settlement.closed_by"), `${close.closed_by_login} · ${Till.when(close.closed_at_ms)}`),
          Till.row(t("settlement.expected_cash"), num(yuan(close.expected_cash_fen))),
          el("tr", { dataset: { figure: "counted" } }, el("td", {}, t("settlement.counted")), num(yuan(close.counted_cash_fen))),
          el("tr", { dataset: { figure: "difference" } }, el("td", {}, t("settlement.difference")), num(signed(close.difference_fen), differenceClass(close.difference_fen))),
          ...(close.note ? [Till.row(t("settlement.note"), close.note)] : []),
        ),
      ),
    );
  }

  function closeForm(s) {
    if (!Till.permitted("sales:edit")) return el("p", { id: "settlement-open" }, t("settlement.not_closed"));
    const counted = el("input", { id: "settlement-counted", inputMode: "decimal", autocomplete: "off", placeholder: "0.00", size: 10 });
    const note = el("input", { id: "settlement-note", autocomplete: "off", maxLength: 200 });
    const difference = el("b", { id: "settlement-difference" });
    // What the count says against what the drawer should hold, before the close is final;
    // the close itself records the difference against the expected cash at that moment.
    counted.addEventListener("input", () => {
      const fen = parseYuan(counted.value);
      difference.textContent = fen === null ? "" : signed(fen - s.drawer.expected_cash_fen);
      difference.className = fen === null ? "" : differenceClass(fen - s.drawer.expected_cash_fen);
    });
    const button = el("button", { type: "button", id: "settlement-close", className: "primary", textContent: t("settlement.close") });
    button.addEventListener("click", guarded(async () => {
      const fen = parseYuan(counted.value);
      if (fen === null) return Till.flash(t("settlement.bad_count"), true);
      const text = note.value.trim();
      const closed = await write(`/api/settlement/${encodeURIComponent(s.day)}/close`, { counted_cash_fen: fen, ...(text ? { note: text } : {}) }, button);
      if (!closed) return;
      settle.found = closed; // the close answers with the day's settlement, its close in it
      renderSettlement();
      Till.flash(`${t("settlement.closed")} ${s.day}`);
    }));
    return el(
      "div",
      { id: "settlement-open" },
      el("h3", {}, t("settlement.count_drawer")),
      el("div", { className: "panel" }, field(t("settlement.counted_yuan"), counted), field(t("settlement.note"), note)),
      el("p", {}, `${t("settlement.difference")} `, difference),
      button,
    );
  }

  Till.section("settlement", {
    needs: "sales:edit",
    show: guarded(async () => {
      buildSettlement();
      await loadSettlement();
    }),
  });

  // -- reports ----------------------------------------------------------------------------

  const report = { from: null, to: null };

  // A YYYY-MM-DD day moved by whole days, in UTC so no clock change shifts it.
  function shiftDay(day, days) {
    const [y, m, d] = day.split("-").map(Number);
    return new Date(Date.UTC(y, m - 1, d + days)).toISOString().slice(0, 10);
  }

  function buildReports() {
    const today = Till.state.me.today;
    report.from ??= today;
    report.to ??= today;
    const from = el("input", { id: "reports-from", type: "date", value: report.from });
    const to = el("input", { id: "reports-to", type: "date", value: report.to });
    const period = (first, last) =>
      guarded(async () => {
        from.value = first;
        to.value = last;
        await loadReport();
      });
    $("reports").replaceChildren(
      el("h2", {}, t("nav.reports")),
      el(
        "div",
        { className: "panel" },
        field(t("reports.from"), from),
        field(t("reports.to"), to),
        el("button", { type: "button", id: "reports-show", textContent: t("reports.show"), onclick: guarded(loadReport) }),
        el("button", { type: "button", textContent: t("reports.today"), onclick: period(today, today) }),
        el("button", { type: "button", textContent: t("reports.last_7_days"), onclick: period(shiftDay(today, -6), today) }),
        el("button", { type: "button", textContent: t("reports.this_month"), onclick: period(`${today.slice(0, 8)}01`, today) }),
      ),
      el("table", { id: "reports-summary" }, el("tbody")),
      el("a", { id: "reports-export", hidden: true, textContent: t("reports.export") }),
    );
  }

  async function loadReport() {
    report.from = $("reports-from").value || Till.state.me.today;
    report.to = $("reports-to").value || report.from;
    const query = `from=${encodeURIComponent(report.from)}&to=${encodeURIComponent(report.to)}`;
    const summary = await api(`/api/sales/summary?${query}`);
    const line = (label, value, key) => el("tr", { dataset: { figure: key } }, el("td", {}, label), num(value));
    $("reports-summary").tBodies[0].replaceChildren(
      line(t("reports.sales_count"), summary.count, "count"),
      line(t("reports.sales_total"), yuan(summary.total_fen), "total"),
      line(t("reports.returns_count"), summary.returns, "returns"),
      line(t("reports.returned"), yuan(summary.returned_fen), "returned"),
      line(t("reports.net"), yuan(summary.net_fen), "net"),
    );
    await exportLink();
  }

  // The export takes epoch milliseconds, not business days: the days' bounds are the
  // settlement's (the node's own zone and day start), never the browser's clock.
  async function exportLink() {
    const link = $("reports-export");
    link.hidden = true;
    if (!Till.permitted("sales:export")) return;
    const [first, last] = await Promise.all([api(`/api/settlement?day=${encodeURIComponent(report.from)}`), api(`/api/settlement?day=${encodeURIComponent(report.to)}`)]);
    link.href = `/api/sales/export?from_ms=${first.from_ms}&to_ms=${last.to_ms}`;
    link.download = `sales-${Till.state.me.operator.branch}-${report.from}-${report.to}.csv`;
    link.hidden = false;
  }

  Till.section("reports", {
    needs: "sales:view",
    show: guarded(async () => {
      buildReports();
      await loadReport();
    }),
  });

  return { newKey };
})();
