// Members and cards at the till (Till.section "members"): look a member up by phone or
// card (or a swipe at the reader), register one with a photo, edit the profile, and act
// on the member's cards. Every figure is the node's (GET /api/members/{id} and the routes
// beside it), re-read after each change; what a role may not do is left out of the page
// as a courtesy, and refused by the node all the same. Money is integer fen throughout.
"use strict";

const TillMembers = (() => {
  const { t, yuan, parseYuan, el, api } = Till;
  // protocol.limits.MAX_PHOTO_BYTES: the node refuses a bigger photo, so a camera's
  // picture is shrunk here first (a 480 x 480 JPEG is 30 to 50 KiB).
  const MAX_PHOTO_BYTES = 60 * 1024;
  const PHOTO_TYPES = ["image/jpeg", "image/png", "image/webp"];
  const PHOTO_SIDES = [480, 400, 320, 240];
  const PHOTO_QUALITIES = [0.82, 0.65, 0.5];
  const PHONE = /^\+?[0-9]{5,20}$/; // node.services.fields
  const CARD = /^[0-9A-Za-z-]{4,40}$/;
  const MAX_CARDS_PER_REGISTRATION = 32; // conflict.duplicates
  const BIRTHDAY_AHEAD_DAYS = 7;
  const CONTACTS_PAGE = 20;
  const PURCHASES_SHOWN = 10;
  const OVERDUE_SHOWN = 20;
  const OUTBOX_LOOKED_AT = 200;
  const DAY_MS = 86_400_000;
  const view = {
    root: null,
    member: null, // GET /api/members/{id}
    extra: {}, // its level, vouchers, stats, contacts, referrer, as last read
    card: null, // the card number the actions act on
    action: null, // the open action form: {name, key}
    photo: { ref: null, url: null },
    seq: 0, // the latest member read: an older answer arriving late is dropped
    lists: null, // card types, top-up rules, services, employees, levels: read once per show
    listsRead: null, // the promise of the lists being read, which a member's page waits for
    form: null, // the registration or edit form open: {mode, key}
  };
  const $ = (id) => document.getElementById(id);

  // A fresh Idempotency-Key for one attempt of an action. crypto.randomUUID exists only in
  // a secure context; a till reaching its node at http://192.168.x.y is not one, and
  // getRandomValues (which exists everywhere) makes the same kind of key.
  function newKey() {
    if (crypto.randomUUID) return crypto.randomUUID();
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  function refused(error) {
    return error instanceof Till.ApiError && error.status >= 400 && error.status < 500;
  }

  // -- texts that depend on a value (literal keys, so every one is checked to exist) ----

  function genderText(gender) {
    return { female: t("members.gender_female"), male: t("members.gender_male"), other: t("members.gender_other") }[gender] ?? "";
  }

  function channelText(channel) {
    return (
      {
        phone: t("members.channel_phone"),
        sms: t("members.channel_sms"),
        wechat: t("members.channel_wechat"),
        visit: t("members.channel_visit"),
        email: t("members.channel_email"),
        other: t("members.channel_other"),
      }[channel] ?? channel
    );
  }

  function voucherStateText(state) {
    return { unused: t("members.voucher_unused"), used: t("members.voucher_used"), expired: t("members.voucher_expired") }[state] ?? state;
  }

  // -- dates: the branch's business day (Till.state.me.today), never the browser's ------

  function dayNumber(day) {
    const [y, m, d] = day.split("-").map(Number);
    return Date.UTC(y, m - 1, d) / DAY_MS;
  }

  function isLeap(year) {
    return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  }

  // Days from `today` to the next birthday (0: today). 29 February is kept on 28 February
  // in a common year, as the birthday greetings do (node.services.birthdays).
  function daysToBirthday(birthday, today) {
    const [, month, day] = birthday.split("-").map(Number);
    const year = Number(today.slice(0, 4));
    for (const y of [year, year + 1]) {
      const d = month === 2 && day === 29 && !isLeap(y) ? 28 : day;
      const days = Date.UTC(y, month - 1, d) / DAY_MS - dayNumber(today);
      if (days >= 0) return days;
    }
    return null;
  }

  function today() {
    return Till.state.me.today;
  }

  // -- the section's frame ---------------------------------------------------------------

  function build() {
    const root = $("members");
    const lookup = el(
      "div",
      { className: "panel", id: "m-lookup" },
      el(
        "label",
        {},
        el("span", { dataset: { i18n: "members.find_label" } }),
        el("input", { id: "m-key", autocomplete: "off", dataset: { i18nPlaceholder: "members.find_placeholder" }, size: 24 }),
      ),
      el("button", { type: "button", id: "m-find", dataset: { i18n: "members.find" }, onclick: () => find($("m-key").value) }),
      Till.permitted("members:add") ? el("button", { type: "button", id: "m-new", dataset: { i18n: "members.register" }, onclick: () => openForm("register") }) : null,
    );
    const main = el(
      "div",
      { id: "m-main", style: "flex: 3; min-width: 0" },
      el("div", { id: "m-found", hidden: true }),
      el("form", { id: "m-form", hidden: true }),
      el("article", { id: "m-page", hidden: true }),
    );
    const side = el(
      "aside",
      { id: "m-side", style: "flex: 1; min-width: 16rem; background: #f6f8fa; padding: .6rem .9rem; border-radius: 8px" },
      el("h3", { dataset: { i18n: "members.birthdays_today" } }),
      el("p", { className: "note", dataset: { i18n: "members.birthdays_note" }, style: "color: #57606a; font-size: .85rem" }),
      el("ul", { id: "m-birthdays" }),
      el(
        "h3",
        {},
        el("span", { dataset: { i18n: "members.overdue" } }),
        " ",
        el("input", { id: "m-overdue-days", value: "30", size: 3, inputMode: "numeric", ariaLabel: "days", onchange: loadOverdue }),
        " ",
        el("span", { dataset: { i18n: "members.days_unit" } }),
      ),
      el("table", { id: "m-overdue" }, el("tbody")),
    );
    root.replaceChildren(lookup, el("div", { style: "display: flex; gap: 1.2rem; align-items: flex-start" }, main, side));
    $("m-key").addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        find($("m-key").value);
      }
    });
    view.root = root;
  }

  // What the forms and actions choose from, read once each time the section opens; a list
  // the operator may not read is left empty (its form then asks for a code typed in).
  async function loadLists() {
    const get = async (permission, path, pick) => (Till.permitted(permission) ? pick(await api(path).catch(() => null)) : []);
    const [types, rules, products, employees, levels] = await Promise.all([
      get("cards:view", "/api/card-types", (x) => x?.card_types ?? []),
      get("cards:view", "/api/top-up-rules", (x) => x?.top_up_rules ?? []),
      get("catalogue:view", "/api/products", (x) => x?.products ?? []),
      get("catalogue:view", "/api/employees", (x) => x?.employees ?? []),
      get("members:view", "/api/levels", (x) => x?.levels ?? []),
    ]);
    view.lists = {
      types,
      rules,
      products: new Map(products.map((p) => [p.sku, p])),
      services: products.filter((p) => p.service),
      employees,
      levels: new Map(levels.map((l) => [l.code, l])),
    };
  }

  function flashError(error) {
    Till.flash(error.message, true);
  }

  // -- lookup ---------------------------------------------------------------------------

  // A phone or a card number (a number may be either: both are asked), one member opened,
  // several listed to choose from, none offered to register with that card.
  async function find(text) {
    const key = text.replace(/\s+/g, "");
    if (!key) return;
    const asks = [];
    if (PHONE.test(key)) asks.push(api(`/api/members?phone=${encodeURIComponent(key)}`));
    if (CARD.test(key)) asks.push(api(`/api/members?card=${encodeURIComponent(key)}`));
    if (!asks.length) return showFound([], key, t("members.bad_key"));
    const answers = await Promise.allSettled(asks);
    const failed = answers.find((a) => a.status === "rejected");
    const byId = new Map();
    for (const answer of answers) if (answer.status === "fulfilled") for (const m of answer.value.members) byId.set(m.id, m);
    if (!byId.size && CARD.test(key) && Till.permitted("cards:view")) {
      // ?card= finds the cards handed over at registration only; a card sold later or a
      // replacement's number is known to GET /api/cards/{card}, which names its member.
      const card = await api(`/api/cards/${encodeURIComponent(key)}`).catch(() => null);
      if (card) {
        $("m-key").value = "";
        return openMember(card.member_id, card.card);
      }
    }
    if (!byId.size && failed) return showFound([], key, failed.reason.message);
    const found = [...byId.values()];
    if (found.length === 1) {
      $("m-key").value = "";
      const card = found[0].cards.find((c) => c.card === key);
      return openMember(found[0].id, card ? card.card : null);
    }
    showFound(found, key);
  }

  // `swiped`: the key is a card read at the reader, whatever its digits look like.
  function showFound(found, key, problem = null, swiped = false) {
    const box = $("m-found");
    box.hidden = false;
    if (!found.length) {
      const may = Till.permitted("members:add");
      const offer = (id, text, preset) => el("button", { type: "button", id, textContent: text, onclick: () => openForm("register", preset) });
      const byCard = may && CARD.test(key) ? offer("m-register-card", t("members.register_with_card"), { cards: key }) : null;
      const byPhone = may && PHONE.test(key) && !swiped ? offer("m-register-phone", t("members.register_with_phone"), { phone: key }) : null;
      box.replaceChildren(el("p", { className: "bad", role: "alert" }, problem ?? `${t("members.not_found")} ${key}`, " ", byCard, " ", byPhone));
      return;
    }
    box.replaceChildren(
      el("p", {}, t("members.several_found")),
      el(
        "ul",
        {},
        ...found.map((m) => el("li", {}, el("button", { type: "button", dataset: { member: m.id }, textContent: `${m.name} · ${m.phone}`, onclick: () => openMember(m.id) }))),
      ),
    );
  }

  function hideFound() {
    $("m-found").hidden = true;
    $("m-found").replaceChildren();
  }

  // -- registration and edit -------------------------------------------------------------

  function field(name, label, input) {
    input.name = name;
    return el("label", {}, el("span", { textContent: label }), input);
  }

  function openForm(mode, preset = {}) {
    const member = mode === "edit" ? view.member : null;
    const value = (name) => (member ? member[name] ?? "" : preset[name] ?? "");
    const form = $("m-form");
    view.form = { mode };
    hideFound();
    closeAction();
    $("m-page").hidden = true;
    const gender = el(
      "select",
      {},
      el("option", { value: "", textContent: "—" }),
      ...["female", "male", "other"].map((g) => el("option", { value: g, textContent: genderText(g) })),
    );
    gender.value = value("gender");
    const birthday = el("input", { type: "date", value: value("birthday"), max: today() });
    const salesperson = el("input", { value: value("salesperson"), autocomplete: "off", size: 10 });
    salesperson.setAttribute("list", "m-employees");
    const employees = el("datalist", { id: "m-employees" }, ...view.lists.employees.map((e) => el("option", { value: e.code, textContent: e.name })));
    const canPhoto = Till.permitted("members:edit"); // the photo's PUT needs it, registering or not
    const photo = el("input", { type: "file", accept: "image/*" });
    // On a till or tablet the picker offers the front camera as well as the files.
    photo.setAttribute("capture", "user");
    const preview = el("img", { id: "m-form-preview", alt: "", hidden: true, style: "max-width: 120px; max-height: 120px; border-radius: 6px" });
    photo.addEventListener("change", () => {
      if (preview.src) URL.revokeObjectURL(preview.src);
      const file = photo.files[0];
      preview.hidden = !file;
      preview.src = file ? URL.createObjectURL(file) : "";
    });
    const referrerPhone = (member ? view.extra.referrerPhone : preset.referrer_phone) ?? "";
    const removePhoto = member && member.photo && canPhoto ? field("remove_photo", t("members.remove_photo"), el("input", { type: "checkbox" })) : null;
    form.replaceChildren(
      el("h2", { textContent: (mode === "edit" ? t("members.edit_title") : t("members.register_title")) }),
      el(
        "div",
        { className: "panel" },
        field("name", t("members.name"), el("input", { value: value("name"), required: true, maxLength: 64, autocomplete: "off" })),
        field("phone", t("members.phone"), el("input", { value: value("phone"), required: true, inputMode: "tel", autocomplete: "off", pattern: "\\+?[0-9]{5,20}" })),
        field("gender", t("members.gender"), gender),
        field("birthday", t("members.birthday"), birthday),
        field("region", t("members.region"), el("input", { value: value("region"), maxLength: 64 })),
        field("address", t("members.address"), el("input", { value: value("address"), maxLength: 200, size: 30 })),
        field("car_plate", t("members.car_plate"), el("input", { value: value("car_plate"), maxLength: 16, size: 10 })),
      ),
      el(
        "div",
        { className: "panel" },
        mode === "register"
          ? field("cards", t("members.cards_handed"), el("input", { value: value("cards"), autocomplete: "off", size: 24, placeholder: t("members.cards_placeholder") }))
          : null,
        field("salesperson", t("members.salesperson"), salesperson),
        employees,
        field("referrer_phone", t("members.referrer_phone"), el("input", { value: referrerPhone, inputMode: "tel", autocomplete: "off", size: 14 })),
        canPhoto ? field("photo", t("members.photo"), photo) : el("span", { className: "warn", textContent: t("members.photo_needs_edit") }),
        preview,
        removePhoto,
      ),
      el(
        "div",
        { className: "panel" },
        field("family_notes", t("members.family_notes"), el("textarea", { value: value("family_notes"), rows: 2, cols: 40, maxLength: 500 })),
        field("notes", t("members.notes"), el("textarea", { value: value("notes"), rows: 2, cols: 40, maxLength: 500 })),
      ),
      el(
        "div",
        { className: "panel" },
        el("button", { type: "submit", id: "m-form-save", className: "primary", textContent: (mode === "edit" ? t("members.save") : t("members.register_save")) }),
        el("button", { type: "button", id: "m-form-cancel", textContent: t("members.cancel"), onclick: closeForm }),
      ),
      el("p", { id: "m-form-error", className: "bad", role: "alert" }),
    );
    if (mode === "edit" && !view.extra.referrerPhone && member.referrer) form.elements.referrer_phone.placeholder = member.referrer;
    form.onsubmit = (event) => {
      event.preventDefault();
      saveForm();
    };
    form.hidden = false;
    form.elements.name.focus();
  }

  function closeForm() {
    $("m-form").hidden = true;
    view.form = null;
    if (view.member) $("m-page").hidden = false;
  }

  // The profile as the form holds it: every field, "" read as not given (null).
  function formProfile(form) {
    const text = (name) => form.elements[name].value.trim() || null;
    return {
      name: text("name"),
      phone: form.elements.phone.value.replace(/\s+/g, "") || null,
      gender: text("gender"),
      birthday: text("birthday"),
      region: text("region"),
      address: text("address"),
      car_plate: text("car_plate"),
      salesperson: text("salesperson"),
      family_notes: text("family_notes"),
      notes: text("notes"),
    };
  }

  // The referrer is named by phone at the counter; the node takes the member's id.
  async function referrerId(phone) {
    if (!phone) return null;
    const found = await api(`/api/members?phone=${encodeURIComponent(phone)}`);
    if (!found.members.length) throw new Error(`${t("members.no_referrer")} ${phone}`);
    return found.members[0].id;
  }

  async function saveForm() {
    const form = $("m-form");
    const error = $("m-form-error");
    const save = $("m-form-save");
    error.textContent = "";
    const profile = formProfile(form);
    if (!profile.name || !profile.phone) return (error.textContent = t("members.name_phone_needed"));
    if (!PHONE.test(profile.phone)) return (error.textContent = t("members.bad_phone"));
    const photoFile = form.elements.photo?.files[0] ?? null;
    save.disabled = true;
    try {
      const referrerPhone = form.elements.referrer_phone.value.replace(/\s+/g, "");
      const referrer = await referrerId(referrerPhone);
      let member;
      if (view.form.mode === "register") {
        const cards = form.elements.cards.value.split(/[\s,，、]+/).filter(Boolean);
        const bad = cards.find((c) => !CARD.test(c));
        if (bad) throw new Error(`${t("members.bad_card")} ${bad}`);
        if (cards.length > MAX_CARDS_PER_REGISTRATION) throw new Error(t("members.too_many_cards"));
        const body = { ...Object.fromEntries(Object.entries(profile).filter(([, v]) => v !== null)), ...(referrer ? { referrer } : {}), ...(cards.length ? { cards } : {}) };
        member = await api("/api/members", { method: "POST", body });
      } else {
        const before = view.member;
        const changes = Object.fromEntries(Object.entries(profile).filter(([name, v]) => (before[name] ?? null) !== v));
        // A referrer left blank keeps the one on file: the form shows it only as a hint.
        if (referrerPhone && referrer !== before.referrer) changes.referrer = referrer;
        if (form.elements.remove_photo?.checked) changes.photo = null;
        member = Object.keys(changes).length ? await api(`/api/members/${encodeURIComponent(before.id)}`, { method: "PATCH", body: changes }) : before;
      }
      if (photoFile) {
        try {
          await uploadPhoto(member.id, photoFile);
        } catch (problem) {
          // The member is registered (or edited) already; only the photo is missing.
          Till.flash(`${t("members.photo_failed")} ${problem.message}`, true);
          closeForm();
          return openMember(member.id, null, true);
        }
      }
      Till.flash((view.form.mode === "register" ? t("members.registered") : t("members.saved")));
      closeForm();
      await openMember(member.id, null, true);
    } catch (problem) {
      error.textContent = problem.message;
    } finally {
      save.disabled = false;
    }
  }

  // -- photo -----------------------------------------------------------------------------

  // A file the node takes as it is, or the picture redrawn as a JPEG small enough.
  async function photoBody(file) {
    if (PHOTO_TYPES.includes(file.type) && file.size <= MAX_PHOTO_BYTES) return { type: file.type, data: file };
    let bitmap;
    try {
      bitmap = await createImageBitmap(file);
    } catch {
      throw new Error(t("members.photo_unreadable"));
    }
    for (const side of PHOTO_SIDES) {
      const scale = Math.min(1, side / Math.max(bitmap.width, bitmap.height));
      const canvas = el("canvas", { width: Math.round(bitmap.width * scale), height: Math.round(bitmap.height * scale) });
      canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      for (const quality of PHOTO_QUALITIES) {
        const blob = await new Promise((done) => canvas.toBlob(done, "image/jpeg", quality));
        if (blob && blob.size <= MAX_PHOTO_BYTES) return { type: "image/jpeg", data: blob };
      }
    }
    throw new Error(t("members.photo_too_large"));
  }

  // PUT /api/members/{id}/photo takes the raw image with its type (node.routes.photos),
  // not JSON, so it is sent here rather than through Till.api.
  async function uploadPhoto(memberId, file) {
    const { type, data } = await photoBody(file);
    const response = await fetch(`/api/members/${encodeURIComponent(memberId)}/photo`, {
      method: "PUT",
      credentials: "same-origin",
      headers: { "Content-Type": type },
      body: data,
    });
    if (response.status === 401) location.href = "/login";
    const answer = await response.json().catch(() => ({ message: response.statusText }));
    if (!response.ok) throw new Till.ApiError(response.status, answer.error || "error", answer.message || response.statusText);
    return answer;
  }

  // The photo is fetched with the session's cookie and shown from a blob URL; its bytes
  // never change under their ref, so the same ref is not fetched again.
  async function showPhoto(member) {
    // The page may be redrawn while the photo is fetched: its elements are looked up after.
    const shown = (text, url = null) => {
      const img = $("m-photo");
      if (!img || view.member?.id !== member.id) return;
      img.hidden = !url;
      if (url) img.src = url;
      $("m-photo-note").textContent = text;
    };
    if (!member.photo) {
      setPhotoUrl(null, null);
      return shown(t("members.no_photo"));
    }
    if (view.photo.ref !== member.photo) {
      const response = await fetch(`/api/members/${encodeURIComponent(member.id)}/photo`, { credentials: "same-origin" });
      if (!response.ok) {
        const answer = await response.json().catch(() => ({}));
        return shown(`${t("members.photo_unavailable")} ${answer.message ?? ""}`);
      }
      const url = URL.createObjectURL(await response.blob());
      if (view.photo.ref === member.photo) URL.revokeObjectURL(url); // fetched twice at once
      else setPhotoUrl(member.photo, url);
    }
    shown("", view.photo.url);
  }

  function setPhotoUrl(ref, url) {
    if (view.photo.url) URL.revokeObjectURL(view.photo.url);
    view.photo = { ref, url };
  }

  // -- the member's page -------------------------------------------------------------------

  // Read the member and all beside it, then draw the page. `card`: the card to act on.
  async function openMember(memberId, card = null, keepCard = false) {
    const seq = ++view.seq;
    hideFound();
    try {
      const member = await api(`/api/members/${encodeURIComponent(memberId)}`);
      const id = encodeURIComponent(member.id);
      const ask = (permission, path) => (Till.permitted(permission) ? api(path).catch((error) => ({ error })) : Promise.resolve(null));
      const [level, vouchers, stats, contacts, referrer, purchases] = await Promise.all([
        ask("members:view", `/api/members/${id}/level`),
        ask("members:view", `/api/members/${id}/vouchers`),
        ask("members:view", `/api/members/${id}/stats`),
        ask("members:view", `/api/members/${id}/contacts?limit=${CONTACTS_PAGE}`),
        member.referrer ? ask("members:view", `/api/members/${encodeURIComponent(member.referrer)}`) : Promise.resolve(null),
        ask("members:view", `/api/members/${id}/sales?limit=${PURCHASES_SHOWN}`),
      ]);
      await view.listsRead; // a swipe may come while the section is still opening
      if (seq !== view.seq) return; // another member was asked for meanwhile
      if (view.member?.id !== member.id) view.action = null;
      view.member = member;
      view.extra = { level, vouchers, stats, contacts, referrer, purchases, referrerPhone: referrer && !referrer.error ? referrer.phone : null };
      const numbers = member.cards.map((c) => c.card);
      if (card && numbers.includes(card)) view.card = card;
      else if (!(keepCard && numbers.includes(view.card))) view.card = (member.cards.find((c) => c.status === "active") ?? member.cards[0] ?? {}).card ?? null;
      render();
    } catch (error) {
      if (seq === view.seq) flashError(error);
    }
  }

  function reload() {
    return view.member ? openMember(view.member.id, null, true) : Promise.resolve();
  }

  function render() {
    const member = view.member;
    const page = $("m-page");
    if (!member || !view.lists) return;
    page.dataset.member = member.id;
    page.replaceChildren(
      head(member),
      el("h3", { textContent: t("members.cards_title") }),
      cardsTable(member),
      cardActions(member),
      el("form", { id: "m-action", hidden: true, className: "panel", style: "background: #f6f8fa; padding: .6rem .9rem; border-radius: 8px" }),
      vouchersBlock(),
      statsBlock(),
      purchasesBlock(),
      contactsBlock(),
    );
    page.hidden = !!view.form;
    if (view.action) openAction(view.action.name);
    showPhoto(member).catch(() => {});
  }

  function levelText(member) {
    const level = view.extra.level && !view.extra.level.error ? view.extra.level.level : member.level?.code;
    if (!level) return t("members.no_level");
    return view.lists.levels.get(level)?.name ?? level;
  }

  function birthdayNote(member) {
    if (!member.birthday) return null;
    const days = daysToBirthday(member.birthday, today());
    if (days === null || days > BIRTHDAY_AHEAD_DAYS) return null;
    const text = days === 0 ? t("members.birthday_today") : `${t("members.birthday_in")} ${days} ${t("members.birthday_days")}（${member.birthday.slice(5)}）`;
    return el("p", { id: "m-birthday-note", className: days === 0 ? "ok" : "warn", style: "font-weight: bold" }, text);
  }

  function profileRow(label, value) {
    if (value === null || value === undefined || value === "") return null;
    return el("div", {}, el("dt", { textContent: label, style: "color: #57606a" }), el("dd", { textContent: value, style: "margin: 0 0 .3rem" }));
  }

  function head(member) {
    const referrer = view.extra.referrer && !view.extra.referrer.error ? `${view.extra.referrer.name} · ${view.extra.referrer.phone}` : member.referrer;
    const salesperson = member.salesperson ? `${member.salesperson} ${view.lists.employees.find((e) => e.code === member.salesperson)?.name ?? ""}`.trim() : null;
    return el(
      "div",
      { style: "display: flex; gap: 1.2rem; align-items: flex-start" },
      el(
        "div",
        { style: "width: 128px; text-align: center" },
        el("img", { id: "m-photo", alt: member.name, hidden: true, style: "width: 128px; height: 128px; object-fit: cover; border-radius: 8px; background: #eaeef2" }),
        el("small", { id: "m-photo-note", style: "color: #57606a" }),
      ),
      el(
        "div",
        { style: "flex: 1" },
        el(
          "h2",
          { style: "margin: 0" },
          el("span", { id: "m-name", textContent: member.name }),
          " ",
          el("small", { id: "m-level", style: "color: #57606a", textContent: levelText(member) }),
        ),
        birthdayNote(member),
        el(
          "p",
          { id: "m-totals" },
          `${t("tender.stored_value")} `,
          el("b", { textContent: yuan(member.balances.stored_value) }),
          ` · ${t("tender.points")} `,
          el("b", { textContent: String(member.balances.points) }),
        ),
        el(
          "dl",
          { id: "m-profile", style: "display: grid; grid-template-columns: repeat(auto-fill, minmax(12rem, 1fr)); gap: 0 1rem; margin: .3rem 0" },
          profileRow(t("members.phone"), member.phone),
          profileRow(t("members.gender"), genderText(member.gender)),
          profileRow(t("members.birthday"), member.birthday),
          profileRow(t("members.region"), member.region),
          profileRow(t("members.address"), member.address),
          profileRow(t("members.car_plate"), member.car_plate),
          profileRow(t("members.salesperson"), salesperson),
          profileRow(t("members.referrer"), referrer),
          profileRow(t("members.home_branch"), member.home_branch),
          profileRow(t("members.family_notes"), member.family_notes),
          profileRow(t("members.notes"), member.notes),
        ),
        Till.permitted("members:edit") ? el("button", { type: "button", id: "m-edit", textContent: t("members.edit"), onclick: () => openForm("edit") }) : null,
        " ",
        Till.permitted("cards:add") ? el("button", { type: "button", id: "m-sell", textContent: t("members.sell_card"), onclick: () => openAction("sell") }) : null,
      ),
    );
  }

  function typeName(code) {
    return view.lists.types.find((x) => x.code === code)?.name ?? code;
  }

  function productName(sku) {
    return view.lists.products.get(sku)?.name ?? sku;
  }

  function validityCell(card) {
    const kind = card.card_type;
    if (!kind || (!kind.valid_until && !kind.valid_from)) return el("td", { textContent: t("members.never_expires") });
    const until = kind.valid_until;
    const left = until ? dayNumber(until) - dayNumber(today()) : null;
    const state = left === null ? "" : left < 0 ? ` ${t("members.expired")}` : left <= BIRTHDAY_AHEAD_DAYS ? ` ${t("members.expires_soon")}` : "";
    const className = left === null ? "" : left < 0 ? "bad" : left <= BIRTHDAY_AHEAD_DAYS ? "warn" : "";
    return el("td", { className }, `${kind.valid_from ?? ""} – ${until ?? t("members.no_end")}${state}`);
  }

  function usesCell(card) {
    const uses = Object.entries(card.uses ?? {}).map(([sku, n]) => `${productName(sku)} ×${n}`);
    const services = card.card_type?.services ?? [];
    if (services.length) uses.push(`${t("members.time_card_for")} ${services.map(productName).join("、")}`);
    return el("td", {}, uses.join("；"));
  }

  function cardsTable(member) {
    const header = [
      t("members.col_card"),
      t("members.col_type"),
      t("members.col_status"),
      t("tender.stored_value"),
      t("tender.points"),
      t("members.col_credit"),
      t("members.col_uses"),
      t("members.col_validity"),
      t("members.col_password"),
    ];
    return el(
      "table",
      { id: "m-cards" },
      el("thead", {}, el("tr", {}, ...header.map((text, i) => el("th", { textContent: text, className: i >= 3 && i <= 5 ? "n" : "" })))),
      el(
        "tbody",
        {},
        ...member.cards.map((card) => {
          const chosen = card.card === view.card;
          const number = el(
            "td",
            {},
            el("b", { textContent: card.card }),
            card.replaces ? el("small", {}, ` ← ${card.replaces}`) : null,
            card.replaced_by ? el("small", {}, ` → ${card.replaced_by}`) : null,
          );
          const debt = card.debt_fen > 0 ? el("div", { className: "bad" }, `${t("members.debt")} ${yuan(card.debt_fen)}`) : null;
          return el(
            "tr",
            {
              dataset: { card: card.card, status: card.status },
              style: `cursor: pointer${chosen ? "; background: #ddf4ff" : ""}`,
              className: chosen ? "chosen" : "",
              onclick: () => chooseCard(card.card),
            },
            number,
            el("td", { textContent: card.card_type ? typeName(card.card_type.code) : t("members.plain_card") }),
            el("td", { className: `status ${card.status === "active" ? "ok" : "bad"}`, textContent: t(`card_status.${card.status}`) }),
            el("td", { className: "n stored" }, yuan(card.balances.stored_value), debt),
            el("td", { className: "n points", textContent: String(card.balances.points) }),
            el("td", { className: "n credit", textContent: yuan(card.balances.credit) }),
            usesCell(card),
            validityCell(card),
            el("td", { textContent: card.has_password ? t("members.password_set") : t("members.password_none") }),
          );
        }),
      ),
    );
  }

  function chooseCard(number) {
    if (view.card === number) return;
    view.card = number;
    view.action = null;
    render();
  }

  function chosenCard() {
    return view.member?.cards.find((c) => c.card === view.card) ?? null;
  }

  // -- card actions ------------------------------------------------------------------------
  //
  // Each: the permission its route requires (@requires in node/routes/cards.py), the
  // card states it applies to, whether the route reads an Idempotency-Key, the form's
  // fields, and the request it makes from them.

  const USABLE = ["active"];
  const HELD = ["active", "lost", "suspended"]; // not returned, not replaced by a new number

  const ACTIONS = {
    top_up: {
      label: () => t("members.act_top_up"),
      needs: "cards:add",
      states: USABLE,
      keyed: true,
      fields: topUpFields,
      request: topUpRequest,
      done: topUpDone,
    },
    uses: {
      label: () => t("members.act_uses"),
      needs: "cards:add",
      states: USABLE,
      keyed: true,
      fields: usesFields,
      request: usesRequest,
      done: () => t("members.uses_done"),
    },
    credit: {
      label: () => t("members.act_credit"),
      needs: "cards:edit",
      states: USABLE,
      keyed: true,
      fields: creditFields,
      request: creditRequest,
      done: creditDone,
    },
    report_lost: {
      label: () => t("members.act_report_lost"),
      needs: "cards:edit",
      states: ["active", "suspended"],
      fields: confirmFields(() => t("members.confirm_lost")),
      request: statusRequest("report_lost"),
      done: statusDone,
    },
    unlock: {
      label: () => t("members.act_unlock"),
      needs: "cards:edit",
      states: ["lost"],
      fields: confirmFields(() => t("members.confirm_unlock")),
      request: statusRequest("unlock"),
      done: statusDone,
    },
    suspend: {
      label: () => t("members.act_suspend"),
      needs: "cards:edit",
      states: ["active"],
      fields: confirmFields(() => t("members.confirm_suspend")),
      request: statusRequest("suspend"),
      done: statusDone,
    },
    resume: {
      label: () => t("members.act_resume"),
      needs: "cards:edit",
      states: ["suspended"],
      fields: confirmFields(() => t("members.confirm_resume")),
      request: statusRequest("resume"),
      done: statusDone,
    },
    replace: {
      label: () => t("members.act_replace"),
      needs: "cards:edit",
      states: HELD,
      keyed: true,
      fields: replaceFields,
      request: replaceRequest,
      done: changeDone,
    },
    renew: {
      label: () => t("members.act_renew"),
      needs: "cards:add",
      states: USABLE,
      keyed: true,
      when: (card) => !!card.card_type?.valid_until,
      fields: renewFields,
      request: renewRequest,
      done: changeDone,
    },
    upgrade: {
      label: () => t("members.act_upgrade"),
      needs: "cards:add",
      states: USABLE,
      keyed: true,
      when: (card) => !!card.card_type && dearerTypes(card).length > 0,
      fields: upgradeFields,
      request: upgradeRequest,
      done: changeDone,
    },
    password: {
      label: () => t("members.act_password"),
      needs: "cards:edit",
      states: HELD,
      fields: passwordFields(false),
      request: passwordRequest(false),
      done: () => t("members.password_done"),
    },
    password_reset: {
      label: () => t("members.act_password_reset"),
      needs: "cards:delete",
      states: HELD,
      fields: passwordFields(true),
      request: passwordRequest(true),
      done: () => t("members.password_done"),
    },
    // Not a card's: a new card of a type sold to the member (POST /api/card-sales).
    sell: {
      label: () => t("members.sell_card"),
      needs: "cards:add",
      member: true,
      keyed: true,
      fields: sellFields,
      request: sellRequest,
      done: sellDone,
    },
  };

  function offered(name, card) {
    const spec = ACTIONS[name];
    if (spec.member || !Till.permitted(spec.needs) || !card) return false;
    return spec.states.includes(card.status) && (!spec.when || spec.when(card));
  }

  function cardActions(member) {
    const card = chosenCard();
    if (!card) return el("p", { id: "m-card-actions", textContent: t("members.no_cards") });
    const names = Object.keys(ACTIONS).filter((name) => offered(name, card));
    return el(
      "div",
      { id: "m-card-actions", className: "panel", dataset: { card: card.card } },
      el("span", {}, `${t("members.chosen_card")} `, el("b", { textContent: card.card })),
      ...names.map((name) => el("button", { type: "button", dataset: { action: name }, textContent: ACTIONS[name].label(), onclick: () => openAction(name) })),
      names.length ? null : el("span", { className: "warn", textContent: t("members.no_actions") }),
    );
  }

  function openAction(name) {
    const spec = ACTIONS[name];
    const card = spec.member ? null : chosenCard();
    const form = $("m-action");
    if (!form || (!spec.member && !offered(name, card))) return;
    // The same action opened again (the page redrawn) keeps its key: a retry after no
    // answer is the same attempt.
    if (view.action?.name !== name) view.action = { name, key: null };
    const error = el("p", { id: "m-action-error", className: "bad", role: "alert", style: "flex-basis: 100%; margin: 0" });
    const go = el("button", { type: "submit", id: "m-action-go", className: "primary", textContent: spec.label() });
    form.replaceChildren(
      el("b", { style: "flex-basis: 100%", textContent: spec.member ? spec.label() : `${spec.label()} · ${card.card}` }),
      ...spec.fields(card, form),
      go,
      el("button", { type: "button", id: "m-action-cancel", textContent: t("members.cancel"), onclick: closeAction }),
      error,
    );
    form.dataset.action = name;
    form.hidden = false;
    form.onsubmit = (event) => {
      event.preventDefault();
      submitAction(name, card);
    };
    form.querySelector("input, select")?.focus();
  }

  function closeAction() {
    view.action = null;
    const form = $("m-action");
    if (form) {
      form.hidden = true;
      form.replaceChildren();
    }
  }

  async function submitAction(name, card) {
    const spec = ACTIONS[name];
    const form = $("m-action");
    const error = $("m-action-error");
    const go = $("m-action-go");
    error.textContent = "";
    let request;
    try {
      request = spec.request(card, form);
    } catch (problem) {
      error.textContent = problem.message;
      return;
    }
    const attempt = view.action;
    attempt.key ??= newKey();
    go.disabled = true;
    try {
      const headers = spec.keyed ? { "Idempotency-Key": attempt.key } : {};
      const answer = await api(request.path, { method: "POST", body: request.body, headers });
      view.action = null;
      Till.flash(spec.done(answer, card));
      // A replacement's answer names the new number, which the actions then act on.
      const next = answer.card && typeof answer.card === "object" ? answer.card.card : null;
      await openMember(view.member.id, next, true);
    } catch (problem) {
      // Refused: nothing was booked, and trying again is a new attempt with a new key.
      // Unanswered: it may have been, and the same key books it once.
      if (refused(problem)) attempt.key = null;
      if ($("m-action-error")) $("m-action-error").textContent = problem.message;
      go.disabled = false;
    }
  }

  function cardPath(card, tail) {
    return `/api/cards/${encodeURIComponent(card.card)}/${tail}`;
  }

  function moneyField(name, label, fen = null) {
    return field(name, label, el("input", { inputMode: "decimal", autocomplete: "off", size: 10, value: fen === null ? "" : (fen / 100).toFixed(2), placeholder: "0.00" }));
  }

  function readMoney(form, name, { required = true, zero = false } = {}) {
    const text = form.elements[name].value;
    if (!text.trim() && !required) return 0;
    const fen = parseYuan(text);
    if (fen === null || (!zero && fen === 0)) throw new Error(t("members.bad_amount"));
    return fen;
  }

  // A card sale or a change to a card is paid in cash: one cash tender, or none if free.
  function cashTenders(fen) {
    return fen > 0 ? [{ kind: "cash", amount_fen: fen }] : [];
  }

  function feeNote(fee) {
    return el("span", { className: "fee" }, `${t("members.fee")} `, el("b", { textContent: yuan(fee) }));
  }

  // The top-up bonus the node will give (node.services.card_types.top_up_bonus): of the
  // rules for any card or for this card's type valid today whose threshold the amount
  // reaches, the highest threshold, then the largest bonus, then the code.
  function bonusFor(card, fen) {
    const type = card.card_type?.code ?? null;
    const day = today();
    const rules = view.lists.rules
      .filter((r) => r.paid_fen <= fen && (r.card_type === null || r.card_type === type))
      .filter((r) => (!r.valid_from || r.valid_from <= day) && (!r.valid_until || r.valid_until >= day))
      .sort((a, b) => b.paid_fen - a.paid_fen || b.bonus_fen - a.bonus_fen || (a.code < b.code ? -1 : 1));
    return rules.length && rules[0].bonus_fen > 0 ? rules[0] : null;
  }

  function topUpFields(card, form) {
    const amount = moneyField("amount", t("members.amount"));
    const bonus = el("span", { id: "m-bonus" });
    const showBonus = () => {
      const fen = parseYuan(amount.querySelector("input").value);
      const rule = fen ? bonusFor(card, fen) : null;
      bonus.className = rule ? "ok" : "";
      bonus.textContent = rule ? `${t("members.bonus")} ${yuan(rule.bonus_fen)}（${rule.name}）` : fen ? t("members.no_bonus") : "";
    };
    amount.querySelector("input").addEventListener("input", showBonus);
    const rules = view.lists.rules.filter((r) => r.card_type === null || r.card_type === card.card_type?.code);
    return [
      amount,
      bonus,
      rules.length
        ? el(
            "ul",
            { id: "m-rules", style: "flex-basis: 100%; margin: 0; color: #57606a; font-size: .85rem" },
            ...rules.map((r) => el("li", {}, `${r.name}：${t("members.rule_pay")} ${yuan(r.paid_fen)} ${t("members.rule_get")} ${yuan(r.bonus_fen)}`)),
          )
        : null,
    ].filter(Boolean);
  }

  function topUpRequest(card, form) {
    return { path: cardPath(card, "top-up"), body: { amount_fen: readMoney(form, "amount") } };
  }

  function topUpDone(answer) {
    const bonus = answer.bonus_fen ? `，${t("members.bonus")} ${yuan(answer.bonus_fen)}` : "";
    return `${t("members.topped_up")} ${yuan(answer.paid_fen)}${bonus}，${t("members.balance_now")} ${yuan(answer.balances.stored_value)}`;
  }

  function usesFields() {
    const sku = el("select", {}, ...view.lists.services.map((p) => el("option", { value: p.sku, textContent: `${p.name} · ${yuan(p.price_fen)}` })));
    return [
      view.lists.services.length ? field("sku", t("members.service"), sku) : field("sku", t("members.service_code"), el("input", { autocomplete: "off" })),
      field("qty", t("members.qty"), el("input", { inputMode: "numeric", value: "10", size: 5 })),
      moneyField("amount", t("members.bundle_price")),
      el("small", { style: "color: #57606a", textContent: t("members.bundle_note") }),
    ];
  }

  function usesRequest(card, form) {
    const qty = Number.parseInt(form.elements.qty.value, 10);
    if (!(qty >= 1)) throw new Error(t("members.bad_qty"));
    const sku = form.elements.sku.value.trim();
    if (!sku) throw new Error(t("members.service_needed"));
    const amount = form.elements.amount.value.trim() ? readMoney(form, "amount", { zero: true }) : null;
    return { path: cardPath(card, "uses"), body: { sku, qty, ...(amount === null ? {} : { amount_fen: amount }) } };
  }

  function creditFields() {
    return [moneyField("amount", t("members.repay_amount")), el("small", { style: "color: #57606a", textContent: t("members.repay_note") })];
  }

  function creditRequest(card, form) {
    return { path: cardPath(card, "credit"), body: { action: "repay", amount_fen: readMoney(form, "amount") } };
  }

  function creditDone(answer) {
    return `${t("members.repaid")}，${t("members.still_owed")} ${yuan(Math.max(0, answer.credit.owed_fen))}`;
  }

  function confirmFields(text) {
    return () => [el("span", { textContent: text() })];
  }

  function statusRequest(action) {
    return (card) => ({ path: cardPath(card, "status"), body: { action } });
  }

  function statusDone(answer) {
    return `${answer.card} ${t(`card_status.${answer.status}`)}`;
  }

  function typeOf(card) {
    return card.card_type ? view.lists.types.find((x) => x.code === card.card_type.code) ?? null : null;
  }

  function replaceFields(card) {
    const fee = typeOf(card)?.replace_fen ?? 0;
    return [field("new_card", t("members.new_card"), el("input", { autocomplete: "off", size: 16 })), feeNote(fee), moneyField("cash", t("members.cash"), fee)];
  }

  function replaceRequest(card, form) {
    const newCard = form.elements.new_card.value.trim();
    if (!CARD.test(newCard)) throw new Error(`${t("members.bad_card")} ${newCard}`);
    return { path: cardPath(card, "replace"), body: { new_card: newCard, tenders: cashTenders(readMoney(form, "cash", { required: false, zero: true })) } };
  }

  function changeDone(answer) {
    const change = answer.change_fen ? `，${t("members.change")} ${yuan(answer.change_fen)}` : "";
    return `${t("members.done")} ${answer.card.card}${change}`;
  }

  function renewFields(card) {
    const kind = typeOf(card);
    const fee = kind?.renew_fen ?? 0;
    // A type of a fixed last day has no days of its own: the renewal says how many.
    const days = kind?.validity_days
      ? el("span", {}, `${t("members.renew_by")} ${kind.validity_days} ${t("members.days_unit")}`)
      : field("days", t("members.renew_days"), el("input", { inputMode: "numeric", size: 5 }));
    return [days, feeNote(fee), moneyField("cash", t("members.cash"), fee)];
  }

  function renewRequest(card, form) {
    const body = { tenders: cashTenders(readMoney(form, "cash", { required: false, zero: true })) };
    if (form.elements.days) {
      const days = Number.parseInt(form.elements.days.value, 10);
      if (!(days >= 1)) throw new Error(t("members.bad_days"));
      body.days = days;
    }
    return { path: cardPath(card, "renew"), body };
  }

  function dearerTypes(card) {
    const current = typeOf(card);
    return current ? view.lists.types.filter((x) => x.code !== current.code && x.price_fen >= current.price_fen) : [];
  }

  // What an upgrade costs (node.services.card_life._upgrade): the difference in price, or
  // at least the stored value the dearer type adds.
  function upgradeFee(card, code) {
    const current = typeOf(card);
    const target = view.lists.types.find((x) => x.code === code);
    if (!current || !target) return 0;
    return Math.max(target.price_fen - current.price_fen, Math.max(0, target.stored_value_fen - current.stored_value_fen));
  }

  function upgradeFields(card, form) {
    const types = dearerTypes(card);
    const select = el("select", {}, ...types.map((x) => el("option", { value: x.code, textContent: `${x.name} · ${yuan(x.price_fen)}` })));
    const fee = el("span", {});
    const cash = moneyField("cash", t("members.cash"));
    const update = () => {
      const fen = upgradeFee(card, select.value);
      fee.replaceChildren(feeNote(fen));
      cash.querySelector("input").value = (fen / 100).toFixed(2);
    };
    select.addEventListener("change", update);
    const nodes = [field("card_type", t("members.card_type"), select), fee, cash];
    update();
    return nodes;
  }

  function upgradeRequest(card, form) {
    return { path: cardPath(card, "upgrade"), body: { card_type: form.elements.card_type.value, tenders: cashTenders(readMoney(form, "cash", { required: false, zero: true })) } };
  }

  function passwordFields(reset) {
    return (card) => [
      !reset && card.has_password ? field("old_password", t("members.old_password"), el("input", { type: "password", autocomplete: "off", size: 10 })) : null,
      field("password", t("members.new_password"), el("input", { type: "password", autocomplete: "new-password", size: 10, minLength: 6, maxLength: 32 })),
      field("password_again", t("members.password_again"), el("input", { type: "password", autocomplete: "new-password", size: 10 })),
      card.has_password ? field("clear", t("members.clear_password"), el("input", { type: "checkbox" })) : null,
      reset ? el("small", { className: "warn", textContent: t("members.reset_note") }) : null,
    ].filter(Boolean);
  }

  function passwordRequest(reset) {
    return (card, form) => {
      const clear = form.elements.clear?.checked;
      const password = form.elements.password.value;
      if (!clear && (password.length < 6 || password.length > 32)) throw new Error(t("members.bad_password"));
      if (!clear && password !== form.elements.password_again.value) throw new Error(t("members.passwords_differ"));
      const body = { password: clear ? null : password };
      if (!reset && card.has_password) body.old_password = form.elements.old_password.value;
      return { path: cardPath(card, reset ? "password/reset" : "password"), body };
    };
  }

  function typeSummary(kind) {
    const parts = [`${t("members.price")} ${yuan(kind.price_fen)}`];
    if (kind.stored_value_fen) parts.push(`${t("tender.stored_value")} ${yuan(kind.stored_value_fen)}`);
    if (kind.discount_rate !== 100) parts.push(`${t("members.discount_rate")} ${kind.discount_rate}%`);
    if (kind.credit_limit_fen) parts.push(`${t("members.col_credit")} ${yuan(kind.credit_limit_fen)}`);
    for (const line of kind.uses) parts.push(`${productName(line.sku)} ×${line.qty}`);
    if (kind.services.length) parts.push(`${t("members.time_card_for")} ${kind.services.map(productName).join("、")}`);
    if (kind.validity_days) parts.push(`${t("members.valid_for")} ${kind.validity_days} ${t("members.days_unit")}`);
    if (kind.valid_until) parts.push(`${t("members.valid_until")} ${kind.valid_until}`);
    for (const line of kind.gifts) parts.push(`${t("members.gift")} ${productName(line.sku)} ×${line.qty}`);
    return parts.join(" · ");
  }

  function sellFields() {
    const types = view.lists.types;
    if (!types.length) return [el("span", { className: "warn", textContent: t("members.no_card_types") })];
    const select = el("select", {}, ...types.map((x) => el("option", { value: x.code, textContent: `${x.name} · ${yuan(x.price_fen)}` })));
    const summary = el("small", { id: "m-type-summary", style: "flex-basis: 100%; color: #57606a" });
    const cash = moneyField("cash", t("members.cash"));
    const salesperson = el("input", { autocomplete: "off", size: 10 });
    salesperson.setAttribute("list", "m-sell-employees");
    const update = () => {
      const kind = types.find((x) => x.code === select.value);
      summary.textContent = typeSummary(kind);
      cash.querySelector("input").value = (kind.price_fen / 100).toFixed(2);
    };
    select.addEventListener("change", update);
    update();
    return [
      field("card_type", t("members.card_type"), select),
      field("card", t("members.new_card"), el("input", { autocomplete: "off", size: 16 })),
      cash,
      field("salesperson", t("members.salesperson"), salesperson),
      el("datalist", { id: "m-sell-employees" }, ...view.lists.employees.map((e) => el("option", { value: e.code, textContent: e.name }))),
      summary,
    ];
  }

  function sellRequest(card, form) {
    const number = form.elements.card.value.trim();
    if (!CARD.test(number)) throw new Error(`${t("members.bad_card")} ${number}`);
    const salesperson = form.elements.salesperson.value.trim();
    return {
      path: "/api/card-sales",
      body: {
        member_id: view.member.id,
        card_type: form.elements.card_type.value,
        card: number,
        tenders: cashTenders(readMoney(form, "cash")),
        ...(salesperson ? { salesperson } : {}),
      },
    };
  }

  function sellDone(answer) {
    view.card = answer.card_id;
    const change = answer.change_fen ? `，${t("members.change")} ${yuan(answer.change_fen)}` : "";
    return `${t("members.card_sold")} ${answer.card_id}${change}`;
  }

  // -- vouchers, figures, contacts -----------------------------------------------------------

  function failedNote(answer) {
    return answer && answer.error ? el("p", { className: "bad", textContent: answer.error.message }) : null;
  }

  function vouchersBlock() {
    const answer = view.extra.vouchers;
    if (!answer) return null;
    const vouchers = answer.error ? [] : answer.vouchers;
    return el(
      "section",
      { id: "m-vouchers" },
      el("h3", { textContent: t("members.vouchers") }),
      failedNote(answer),
      vouchers.length
        ? el(
            "table",
            {},
            el(
              "thead",
              {},
              el(
                "tr",
                {},
                ...[t("members.voucher"), t("members.voucher_value"), t("members.min_spend"), t("members.col_validity"), t("members.col_status")].map((text) =>
                  el("th", { textContent: text }),
                ),
              ),
            ),
            el(
              "tbody",
              {},
              ...vouchers.map((v) =>
                el(
                  "tr",
                  { dataset: { voucher: v.voucher_id, state: v.state } },
                  el("td", {}, `${v.name ?? v.campaign} `, el("small", { textContent: v.voucher_id })),
                  el("td", { className: "n", textContent: yuan(v.value_fen) }),
                  el("td", { className: "n", textContent: yuan(v.min_spend_fen) }),
                  el("td", { textContent: `${v.valid_from} – ${v.valid_until}` }),
                  el("td", { className: v.state === "unused" ? "ok" : "", textContent: voucherStateText(v.state) + (v.used_at ? ` · ${v.used_at}` : "") }),
                ),
              ),
            ),
          )
        : answer.error
          ? null
          : el("p", { textContent: t("members.no_vouchers") }),
    );
  }

  function statsBlock() {
    const stats = view.extra.stats;
    if (!stats) return null;
    if (stats.error) return el("section", { id: "m-stats" }, el("h3", { textContent: t("members.stats") }), failedNote(stats));
    const tenders = Object.entries(stats.tenders).filter(([, x]) => x.net_fen !== 0);
    const item = (label, value) =>
      el("div", {}, el("dt", { textContent: label, style: "color: #57606a" }), el("dd", { textContent: value, style: "margin: 0 0 .3rem; font-weight: 600" }));
    return el(
      "section",
      { id: "m-stats" },
      el("h3", { textContent: t("members.stats") }),
      el(
        "dl",
        { style: "display: grid; grid-template-columns: repeat(auto-fill, minmax(10rem, 1fr)); gap: 0 1rem" },
        item(t("members.visits"), `${stats.visits.days}`),
        item(t("members.sales_count"), `${stats.sales.count}`),
        item(t("members.spend"), yuan(stats.spend_fen)),
        item(t("members.returns"), `${stats.returns.count} · ${yuan(stats.returns.refund_fen)}`),
        item(t("members.last_visit"), stats.last_visit ? Till.when(stats.last_visit.at_ms) : t("members.never")),
      ),
      stats.favourites.length
        ? el("p", {}, `${t("members.favourites")}：`, stats.favourites.map((f) => `${f.name ?? f.sku} ×${f.qty}（${yuan(f.amount_fen)}）`).join("，"))
        : null,
      tenders.length ? el("p", {}, `${t("members.paid_with")}：`, tenders.map(([kind, x]) => `${t(`tender.${kind}`)} ${yuan(x.net_fen)}`).join("，")) : null,
      el("small", { style: "color: #57606a", textContent: t("members.stats_scope") }),
    );
  }

  // The member's latest purchases here: when, what, how much, what came back.
  function purchasesBlock() {
    const answer = view.extra.purchases;
    if (!answer) return null;
    if (answer.error) return el("section", { id: "m-purchases" }, el("h3", { textContent: t("members.purchases") }), failedNote(answer));
    const rows = answer.sales.map((sale) =>
      el(
        "tr",
        { dataset: { sale: sale.id } },
        el("td", { textContent: Till.when(sale.at_ms) }),
        el("td", { textContent: sale.lines.map((line) => `${productName(line.sku)} ×${line.qty}`).join("，") }),
        el("td", { className: "n", textContent: yuan(sale.total_fen) }),
        el("td", { className: "n", textContent: sale.refunded_fen ? `-${yuan(sale.refunded_fen)}` : "" }),
      ),
    );
    return el(
      "section",
      { id: "m-purchases" },
      el("h3", { textContent: t("members.purchases") }),
      rows.length
        ? el(
            "table",
            {},
            el("thead", {}, el("tr", {}, ...["members.purchase_time", "members.purchase_items", "members.purchase_total", "members.purchase_refunded"].map((key) => el("th", { textContent: t(key) })))),
            el("tbody", {}, ...rows),
          )
        : el("p", { textContent: t("members.no_purchases") }),
    );
  }

  function contactRow(c) {
    const who = `${Till.when(c.at_ms)} · ${channelText(c.channel)} · ${c.operator_login ?? ""} · ${c.branch}`;
    return el("li", { dataset: { contact: c.id } }, el("small", { style: "color: #57606a" }, who), el("div", { textContent: c.note, style: "white-space: pre-wrap" }));
  }

  function contactsBlock() {
    const answer = view.extra.contacts;
    if (!answer) return null;
    const contacts = answer.error ? [] : answer.contacts;
    const list = el("ul", { id: "m-contacts", style: "padding-left: 1.2rem" }, ...contacts.map(contactRow));
    const more = answer.next ? el("button", { type: "button", id: "m-contacts-more", textContent: t("members.more"), onclick: () => moreContacts(answer, list, more) }) : null;
    return el(
      "section",
      { id: "m-history" },
      el("h3", { textContent: t("members.contacts") }),
      Till.permitted("members:edit") ? contactForm() : null,
      failedNote(answer),
      contacts.length ? list : el("p", { textContent: t("members.no_contacts") }),
      more,
    );
  }

  async function moreContacts(answer, list, button) {
    try {
      const page = await api(`/api/members/${encodeURIComponent(view.member.id)}/contacts?limit=${CONTACTS_PAGE}&before=${encodeURIComponent(answer.next)}`);
      list.append(...page.contacts.map(contactRow));
      answer.contacts.push(...page.contacts);
      answer.next = page.next;
      button.hidden = !page.next;
    } catch (error) {
      flashError(error);
    }
  }

  function contactForm() {
    const channels = ["phone", "sms", "wechat", "visit", "email", "other"];
    const form = el(
      "form",
      { id: "m-contact-form", className: "panel" },
      field("channel", t("members.channel"), el("select", {}, ...channels.map((c) => el("option", { value: c, textContent: channelText(c) })))),
      field("note", t("members.contact_note"), el("textarea", { rows: 2, cols: 40, maxLength: 500 })),
      el("button", { type: "submit", textContent: t("members.add_contact") }),
    );
    let key = null;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const note = form.elements.note.value.trim();
      if (!note) return Till.flash(t("members.note_needed"), true);
      key ??= newKey();
      try {
        const body = { channel: form.elements.channel.value, note };
        await api(`/api/members/${encodeURIComponent(view.member.id)}/contacts`, { method: "POST", body, headers: { "Idempotency-Key": key } });
        key = null;
        await reload();
      } catch (error) {
        if (refused(error)) key = null;
        flashError(error);
      }
    });
    return form;
  }

  // -- the side panel: today's birthdays, overdue credit ------------------------------------

  // Today's birthdays as the node greeted them: the outbox's birthday messages, written
  // each morning for the members whose home is this branch (node.services.birthdays),
  // kept if the member's birthday is the branch's today. The node lists no members by
  // birthday otherwise.
  async function loadBirthdays() {
    const list = $("m-birthdays");
    try {
      const { messages } = await api(`/api/outbox?limit=${OUTBOX_LOOKED_AT}`);
      const year = Number(today().slice(0, 4));
      const ids = [...new Set(messages.filter((m) => m.kind === "birthday" && m.year === year).map((m) => m.member_id))];
      const members = await Promise.all(ids.map((id) => api(`/api/members/${encodeURIComponent(id)}`).catch(() => null)));
      const todays = members.filter((m) => m && m.birthday && daysToBirthday(m.birthday, today()) === 0);
      const sent = new Map(messages.filter((m) => m.kind === "birthday" && m.year === year).map((m) => [m.member_id, m.state]));
      list.replaceChildren(
        ...todays.map((m) =>
          el(
            "li",
            { dataset: { member: m.id } },
            el("a", { href: "#members", textContent: `${m.name} · ${m.phone}`, onclick: (event) => { event.preventDefault(); openMember(m.id); } }),
            el("small", { className: "ok" }, ` ${sent.get(m.id) === "delivered" ? t("members.greeting_sent") : t("members.greeting_pending")}`),
          ),
        ),
      );
      if (!todays.length) list.replaceChildren(el("li", { textContent: t("members.none") }));
    } catch (error) {
      list.replaceChildren(el("li", { className: "bad", textContent: error.message }));
    }
  }

  async function loadOverdue() {
    const body = $("m-overdue").querySelector("tbody");
    const days = Number.parseInt($("m-overdue-days").value, 10);
    try {
      const found = await api(`/api/credit/overdue${days >= 1 ? `?days=${days}` : ""}`);
      const shown = found.cards.slice(0, OVERDUE_SHOWN);
      const members = await Promise.all(shown.map((row) => (row.member_id ? api(`/api/members/${encodeURIComponent(row.member_id)}`).catch(() => null) : null)));
      body.replaceChildren(
        ...shown.map((row, i) =>
          el(
            "tr",
            { dataset: { card: row.card }, style: "cursor: pointer", onclick: () => row.member_id && openMember(row.member_id, row.card) },
            el("td", {}, members[i] ? `${members[i].name} ` : "", el("small", { textContent: row.card })),
            el("td", { className: "n bad", textContent: yuan(row.owed_fen) }),
            el("td", { className: "n", textContent: `${row.days} ${t("members.days_unit")}` }),
          ),
        ),
      );
      if (!shown.length) body.replaceChildren(Till.row(t("members.none")));
      else if (found.cards.length > shown.length) body.append(Till.row(`… ${found.cards.length - shown.length} ${t("members.more_rows")}`));
    } catch (error) {
      body.replaceChildren(Till.row(error.message));
    }
  }

  // -- wiring ----------------------------------------------------------------------------------

  // A card read at the branch's reader while this section is shown opens its member; a
  // card the branch does not know is offered for a registration.
  async function onSwipe(swiped) {
    if (Till.state.shown !== "members") return;
    // A blank card swiped while a member is being registered is the card handed over.
    const cards = view.form?.mode === "register" ? $("m-form").elements.cards : null;
    if (cards && !swiped.member_id) {
      const held = cards.value.split(/[\s,，、]+/).filter(Boolean);
      if (!held.includes(swiped.card)) cards.value = [...held, swiped.card].join(" ");
      return;
    }
    if (view.form) closeForm();
    if (swiped.member_id) return openMember(swiped.member_id, swiped.card);
    showFound([], swiped.card, null, true);
  }

  let wired = false;

  Till.section("members", {
    needs: "members:view",
    async show() {
      try {
        if (!wired) {
          wired = true;
          build();
          Till.on("swipe", (swiped) => onSwipe(swiped).catch(flashError));
        }
        Till.applyTexts(view.root); // the language may have changed since
        view.listsRead = loadLists();
        await view.listsRead;
        loadBirthdays();
        loadOverdue();
        // An open form keeps what was typed in it; the member's figures are read again.
        if (view.member && !view.form) await reload();
        $("m-key").focus();
      } catch (error) {
        flashError(error);
      }
    },
    async feed() {
      // HQ's feed may have brought this member's changes from another branch.
      // An open form or action is left alone: a redraw would lose what is being typed.
      if (view.member && !view.form && !view.action) await reload().catch(flashError);
    },
  });

  return { view, daysToBirthday, bonusFor };
})();
