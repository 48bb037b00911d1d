// Touchline agent desktop: customer search, the 360 view and screen pops. No build step,
// no framework: the hub serves this file as it is.
"use strict";

(() => {
  const KEY_STORAGE = "touchline.apiKey";
  const LAYOUT_STORAGE = "touchline.desktop.layout.v1:";
  const TIMELINE_ROWS = 25;

  const agentId = (() => {
    const match = /^\/ui\/agent\/([^/]+)\/?$/.exec(location.pathname);
    if (!match) return null;
    try {
      return decodeURIComponent(match[1]).trim() || null;
    } catch {
      return null;
    }
  })();

  // -- small DOM helpers (never innerHTML: every value from the API is text) ----------------
  const $ = (id) => document.getElementById(id);

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") el.className = value;
      else if (name === "text") el.textContent = value;
      else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
      else el.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : String(child));
    }
    return el;
  }

  const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
  const present = (v) => v !== null && v !== undefined && v !== "";
  const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/;
  const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  // A date without a time (a birth date) is a calendar day, not midnight UTC in some zone.
  const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeZone: "UTC" });

  function humanise(key) {
    const text = String(key).replace(/_/g, " ");
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  function when(value) {
    if (!present(value)) return h("span", { class: "muted", text: "—" });
    const date = new Date(value);
    if (Number.isNaN(date.getTime())) return String(value);
    const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(String(value));
    return h("time", { datetime: String(value), text: (dateOnly ? dateFormat : timeFormat).format(date) });
  }

  function number(value, digits = 2) {
    if (typeof value !== "number") return present(value) ? String(value) : "—";
    return Number.isInteger(value) ? String(value) : value.toFixed(digits);
  }

  /** Any JSON value, readably: the fallback for shapes this page does not know. */
  function renderAny(value, depth = 0) {
    if (!present(value)) return h("span", { class: "muted", text: "—" });
    if (typeof value === "boolean") return value ? "yes" : "no";
    if (typeof value === "number") return number(value);
    if (typeof value === "string") return ISO_TIME.test(value) ? when(value) : value;
    if (depth > 4) return JSON.stringify(value);
    if (Array.isArray(value)) {
      if (!value.length) return h("span", { class: "muted", text: "none" });
      if (value.every((v) => !isObject(v) && !Array.isArray(v))) {
        return h("ul", { class: "inline-list" }, value.map((v) => h("li", {}, renderAny(v, depth + 1))));
      }
      if (value.every(isObject)) {
        const keys = [...new Set(value.flatMap((v) => Object.keys(v)))].slice(0, 8);
        return table(value, keys.map((key) => ({ key, label: humanise(key) })), depth);
      }
      return h("ul", {}, value.map((v) => h("li", {}, renderAny(v, depth + 1))));
    }
    if (isObject(value)) {
      const entries = Object.entries(value);
      if (!entries.length) return h("span", { class: "muted", text: "none" });
      return h("dl", { class: "facts" }, entries.map(([k, v]) => [
        h("dt", { text: humanise(k) }),
        h("dd", {}, renderAny(v, depth + 1)),
      ]));
    }
    return String(value);
  }

  function facts(pairs) {
    const shown = pairs.filter(([, value]) => value !== undefined);
    if (!shown.length) return h("p", { class: "muted", text: "Nothing recorded." });
    return h("dl", { class: "facts" }, shown.map(([label, value]) => [
      h("dt", { text: label }),
      h("dd", {}, value instanceof Node ? value : renderAny(value, 1)),
    ]));
  }

  function table(rows, columns, depth = 0, caption = null) {
    if (!Array.isArray(rows) || !rows.length) return h("p", { class: "muted", text: "None." });
    return h("div", { class: "table-wrap" }, h("table", {},
      caption ? h("caption", { class: "visually-hidden", text: caption }) : null,
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", text: c.label })))),
      h("tbody", {}, rows.map((row) => h("tr", {}, columns.map((c) => {
        const value = isObject(row) ? row[c.key] : undefined;
        return h("td", {}, c.format ? c.format(value, row) : renderAny(value, depth + 1));
      })))),
    ));
  }

  const list = (items) => (Array.isArray(items) && items.length
    ? h("ul", { class: "inline-list" }, items.map((v) => h("li", {}, renderAny(v, 2))))
    : h("span", { class: "muted", text: "none" }));

  function money(amount, currency) {
    if (!present(amount)) return h("span", { class: "muted", text: "—" });
    return `${amount}${present(currency) ? " " + currency : ""}`;
  }

  // -- the sections of the 360 view ----------------------------------------------------------
  const SECTIONS = [
    { id: "profile", title: "Profile", keys: ["profile"], render: renderProfile },
    { id: "identities", title: "Identities", keys: ["identities", "phones", "emails", "accounts"], render: renderIdentities },
    { id: "purchases", title: "Purchases", keys: ["purchases"], render: renderPurchases },
    { id: "contact_history", title: "Contact history", keys: ["contact_history"], render: renderContactHistory, span: true },
    { id: "flags", title: "Flags", keys: ["flags"], render: renderFlags },
    { id: "offers", title: "Offers", keys: ["offers_by_campaign", "offers"], render: renderOffers, span: true },
    { id: "campaigns", title: "Campaigns and suppressions", keys: ["dial_lists", "suppressed_campaigns", "suppressions"], render: renderCampaigns },
    { id: "consents", title: "Consents", keys: ["consents"], render: renderConsents },
    { id: "contexts", title: "Web and app context", keys: ["contexts"], render: renderContexts },
    { id: "timeline", title: "Timeline", keys: ["timeline"], render: renderTimeline, wide: true },
  ];
  const SECTION_BY_ID = new Map(SECTIONS.map((s) => [s.id, s]));

  function renderProfile(view) {
    const profile = view.profile;
    if (!isObject(profile)) return renderAny(profile);
    const known = ["name", "form_of_address", "birth_date", "age", "city", "country", "language",
      "preferred_channel", "timezone"];
    const pairs = known.filter((k) => present(profile[k])).map((k) => [humanise(k), k === "birth_date" ? when(profile[k]) : profile[k]]);
    for (const [k, v] of Object.entries(profile)) {
      if (!known.includes(k) && k !== "extra" && present(v)) pairs.push([humanise(k), v]);
    }
    if (isObject(profile.extra)) {
      for (const [k, v] of Object.entries(profile.extra)) pairs.push([humanise(k), v]);
    }
    return facts(pairs);
  }

  function renderIdentities(view) {
    const ids = isObject(view.identities)
      ? view.identities
      : { phones: view.phones, emails: view.emails, accounts: view.accounts };
    return facts(Object.entries(ids).map(([kind, values]) => [
      humanise(kind), Array.isArray(values) ? list(values) : renderAny(values, 1),
    ]));
  }

  function renderPurchases(view) {
    const p = view.purchases;
    if (!isObject(p)) return renderAny(p);
    const totals = isObject(p.totals)
      ? h("ul", { class: "inline-list" }, Object.entries(p.totals).map(([cur, amount]) => h("li", {}, money(amount, cur))))
      : renderAny(p.totals, 1);
    const last = isObject(p.last)
      ? h("span", {}, money(p.last.amount, p.last.currency), present(p.last.product) ? ` · ${p.last.product}` : "", " · ", when(p.last.at))
      : h("span", { class: "muted", text: "none" });
    return facts([
      ["Customer since", when(p.customer_since)],
      ["Purchases", number(p.count)],
      ["Totals", totals],
      ["Last purchase", last],
      ["Products", Array.isArray(p.products) ? list(p.products) : renderAny(p.products, 1)],
    ]);
  }

  function renderContactHistory(view) {
    const c = view.contact_history;
    if (!isObject(c)) return renderAny(c);
    const rows = isObject(c.channels)
      ? Object.entries(c.channels).sort(([a], [b]) => a.localeCompare(b)).map(([channel, counts]) => ({ channel, ...(isObject(counts) ? counts : { value: counts }) }))
      : [];
    const preferred = isObject(c.preferred_channel)
      ? `${c.preferred_channel.channel ?? "—"}${present(c.preferred_channel.rule) ? ` (${c.preferred_channel.rule})` : ""}`
      : c.preferred_channel;
    return h("div", {},
      table(rows, [
        { key: "channel", label: "Channel" },
        { key: "inbound", label: "In" },
        { key: "outbound", label: "Out" },
        { key: "last_7d", label: "7 days" },
        { key: "last_30d", label: "30 days" },
        { key: "last_90d", label: "90 days" },
        { key: "last_contact_at", label: "Last contact", format: when },
      ], 1, "Contacts by channel"),
      facts([
        ["Repeat contacts, 24 h", c.repeat_24h],
        ["Repeat contacts, 7 days", c.repeat_7d],
        ["Preferred channel", preferred],
      ]),
    );
  }

  function renderFlags(view) {
    const f = view.flags;
    if (!isObject(f)) return renderAny(f);
    const complaints = f.complaints;
    const abusive = f.abusive_language;
    const overdue = f.overdue;
    const pairs = [];
    if (isObject(complaints)) {
      pairs.push(["Complaints", `${number(complaints.count)} (${number(complaints.open ?? 0)} open)`]);
      if (present(complaints.last_at)) pairs.push(["Last complaint", when(complaints.last_at)]);
      if (Array.isArray(complaints.recent) && complaints.recent.length) pairs.push(["Recent complaints", renderAny(complaints.recent, 1)]);
    } else if (complaints !== undefined) pairs.push(["Complaints", complaints]);
    if (isObject(abusive)) {
      pairs.push(["Abusive language", number(abusive.count)]);
      if (present(abusive.last_at)) pairs.push(["Last abusive contact", when(abusive.last_at)]);
    } else if (abusive !== undefined) pairs.push(["Abusive language", abusive]);
    if (isObject(overdue)) {
      pairs.push(["Overdue", h("span", {}, money(overdue.amount, overdue.currency),
        present(overdue.days) ? ` · ${overdue.days} days` : "",
        present(overdue.since) ? " · since " : "", present(overdue.since) ? when(overdue.since) : "")]);
    } else if ("overdue" in f) pairs.push(["Overdue", overdue === null ? "no" : overdue]);
    for (const [k, v] of Object.entries(f)) {
      if (!["complaints", "abusive_language", "overdue"].includes(k)) pairs.push([humanise(k), v]);
    }
    return facts(pairs);
  }

  const OFFER_COLUMNS = [
    { key: "offer_id", label: "Offer" },
    { key: "channel", label: "Channel" },
    { key: "presented_at", label: "Presented", format: when },
    { key: "response", label: "Response" },
    { key: "responded_at", label: "Responded", format: when },
    { key: "delivery_status", label: "Delivery" },
  ];

  function renderOffers(view) {
    if (isObject(view.offers_by_campaign)) {
      const campaigns = Object.entries(view.offers_by_campaign);
      if (!campaigns.length) return h("p", { class: "muted", text: "No offers." });
      return h("div", {}, campaigns.map(([campaign, offers]) => h("div", { class: "sub" },
        h("h4", { text: campaign }),
        Array.isArray(offers) ? table(offers, OFFER_COLUMNS, 1, `Offers of ${campaign}`) : renderAny(offers, 1))));
    }
    if (Array.isArray(view.offers)) {
      return table(view.offers, [{ key: "campaign_id", label: "Campaign" }, ...OFFER_COLUMNS], 1, "Offers");
    }
    return renderAny(view.offers_by_campaign ?? view.offers);
  }

  function renderCampaigns(view) {
    const parts = [];
    if (view.dial_lists !== undefined || view.suppressed_campaigns !== undefined) {
      parts.push(facts([
        ["On dial lists", view.dial_lists === undefined ? undefined : list(view.dial_lists)],
        ["Suppressed (voice)", view.suppressed_campaigns === undefined ? undefined : list(view.suppressed_campaigns)],
      ]));
    }
    if (view.suppressions !== undefined) {
      parts.push(Array.isArray(view.suppressions) && view.suppressions.length
        ? table(view.suppressions, [
          { key: "campaign_id", label: "Campaign" },
          { key: "reason", label: "Reason" },
          { key: "channels", label: "Channels", format: (v) => (Array.isArray(v) && v.length ? v.join(", ") : "all") },
          { key: "decided_at", label: "Decided", format: when },
        ], 1, "Suppressions")
        : h("p", { class: "muted", text: "No suppressions." }));
    }
    return h("div", {}, parts);
  }

  function renderConsents(view) {
    if (!Array.isArray(view.consents)) return renderAny(view.consents);
    return table(view.consents, [
      { key: "channel", label: "Channel" },
      { key: "purpose", label: "Purpose" },
      { key: "granted", label: "Consent", format: (v) => (v === true ? "granted" : v === false ? "withdrawn" : renderAny(v)) },
      { key: "at", label: "When", format: when },
      { key: "source_event_id", label: "Event" },
    ], 1, "Consents");
  }

  function renderContexts(view) {
    if (!Array.isArray(view.contexts)) return renderAny(view.contexts);
    return table(view.contexts, [
      { key: "requested", label: "Asked for" },
      { key: "channel", label: "Channel" },
      { key: "created_at", label: "When", format: when },
      { key: "locations", label: "Pages visited", format: (v) => (Array.isArray(v) ? list(v) : renderAny(v)) },
      { key: "joined_event_ids", label: "Contacts joined", format: (v) => (Array.isArray(v) ? String(v.length) : renderAny(v)) },
    ], 1, "Contexts");
  }

  function renderTimeline(view) {
    const rows = view.timeline;
    if (!Array.isArray(rows)) return renderAny(rows);
    if (!rows.length) return h("p", { class: "muted", text: "No interactions yet." });
    const columns = [
      { key: "occurred_at", label: "When", format: when },
      { key: "channel", label: "Channel" },
      { key: "direction", label: "Direction", format: (v) => (present(v) ? String(v).toLowerCase() : "—") },
      { key: "type", label: "Type" },
      { key: "summary", label: "Summary" },
      { key: "topic", label: "Topic" },
      { key: "campaign_id", label: "Campaign" },
      { key: "agent_id", label: "Agent" },
    ];
    const holder = h("div", {});
    const draw = (all) => {
      holder.replaceChildren(table(all ? rows : rows.slice(0, TIMELINE_ROWS), columns, 1, "Interactions, newest first"));
      if (!all && rows.length > TIMELINE_ROWS) {
        holder.append(h("button", { type: "button", class: "link-button", onclick: () => draw(true) }, `Show all ${rows.length} interactions`));
      }
    };
    draw(false);
    return holder;
  }

  // -- layout: which sections show, in what order; remembered per agent --------------------
  const layoutKey = LAYOUT_STORAGE + (agentId ?? "");

  function defaultLayout() {
    return { order: SECTIONS.map((s) => s.id), hidden: [] };
  }

  function loadLayout() {
    try {
      const saved = JSON.parse(localStorage.getItem(layoutKey) || "null");
      if (!isObject(saved) || !Array.isArray(saved.order)) return defaultLayout();
      const order = saved.order.filter((id) => SECTION_BY_ID.has(id));
      // Sections added since the layout was saved go where the default puts them.
      SECTIONS.forEach((s, index) => {
        if (!order.includes(s.id)) order.splice(Math.min(index, order.length), 0, s.id);
      });
      const hidden = Array.isArray(saved.hidden) ? saved.hidden.filter((id) => SECTION_BY_ID.has(id)) : [];
      return { order: [...new Set(order)], hidden };
    } catch {
      return defaultLayout();
    }
  }

  let layout = loadLayout();

  function saveLayout() {
    try {
      localStorage.setItem(layoutKey, JSON.stringify(layout));
    } catch {
      // Storage full or disabled: the choice lasts until the page is closed.
    }
  }

  function renderSettings(focus) {
    const listEl = $("section-list");
    listEl.replaceChildren(...layout.order.map((id, index) => {
      const section = SECTION_BY_ID.get(id);
      const checkId = `show-${id}`;
      const shown = !layout.hidden.includes(id);
      return h("li", { class: "section-row", "data-section": id },
        h("input", {
          type: "checkbox", id: checkId, checked: shown,
          onchange: (e) => {
            layout.hidden = e.target.checked ? layout.hidden.filter((x) => x !== id) : [...layout.hidden, id];
            saveLayout();
            renderCustomer();
          },
        }),
        h("label", { for: checkId, text: section.title }),
        h("span", { class: "move" },
          h("button", {
            type: "button", class: "small-button", "data-move": "up", "aria-label": `Move ${section.title} up`,
            disabled: index === 0, onclick: () => move(id, -1),
          }, "↑ Up"),
          h("button", {
            type: "button", class: "small-button", "data-move": "down", "aria-label": `Move ${section.title} down`,
            disabled: index === layout.order.length - 1, onclick: () => move(id, 1),
          }, "↓ Down")));
    }));
    if (focus) {
      const row = listEl.querySelector(`[data-section="${focus.id}"]`);
      let target = row && row.querySelector(`[data-move="${focus.direction}"]`);
      // At the top or bottom the button just pressed is disabled: keep focus in the row.
      if (target && target.disabled) target = row.querySelector(`[data-move="${focus.direction === "up" ? "down" : "up"}"]`);
      if (target) target.focus();
    }
  }

  function move(id, delta) {
    const from = layout.order.indexOf(id);
    const to = from + delta;
    if (from < 0 || to < 0 || to >= layout.order.length) return;
    const order = [...layout.order];
    [order[from], order[to]] = [order[to], order[from]];
    layout = { ...layout, order };
    saveLayout();
    renderSettings({ id, direction: delta < 0 ? "up" : "down" });
    renderCustomer();
    const section = SECTION_BY_ID.get(id);
    status(`${section.title} moved to position ${to + 1} of ${order.length}.`);
  }

  function toggleSettings(open) {
    const panel = $("settings-panel");
    const button = $("settings-toggle");
    const show = open ?? panel.hidden;
    panel.hidden = !show;
    button.setAttribute("aria-expanded", String(show));
    if (show) {
      renderSettings();
      $("section-list").querySelector("input")?.focus();
    } else {
      button.focus();
    }
  }

  // -- the API, with the key asked for when it answers 401 -----------------------------------
  let keyPrompt = null;
  const keyWaiters = []; // streams that stopped for want of a key, resumed when one is saved

  class NoKey extends Error {}

  function askForKey(reason) {
    if (keyPrompt) return keyPrompt;
    const dialog = $("key-dialog");
    const input = $("key-input");
    $("key-reason").textContent = reason;
    input.value = "";
    keyPrompt = new Promise((resolve, reject) => {
      const finish = (ok) => {
        dialog.removeEventListener("close", onClose);
        keyPrompt = null;
        if (ok) resolve();
        else reject(new NoKey("no API key given"));
      };
      const onClose = () => {
        const key = input.value.trim();
        if (dialog.returnValue === "save" && key) {
          sessionStorage.setItem(KEY_STORAGE, key);
          finish(true);
          for (const resume of keyWaiters.splice(0)) resume();
        } else {
          finish(false);
        }
      };
      dialog.addEventListener("close", onClose);
    });
    dialog.returnValue = "";
    dialog.showModal();
    input.focus();
    return keyPrompt;
  }

  async function api(path, { signal, accept = "application/json" } = {}) {
    for (;;) {
      const key = sessionStorage.getItem(KEY_STORAGE);
      const headers = { Accept: accept };
      if (key) headers.Authorization = `Bearer ${key}`;
      const response = await fetch(path, { headers, signal, cache: "no-store" });
      if (response.status !== 401) return response;
      response.body?.cancel();
      if (key) sessionStorage.removeItem(KEY_STORAGE);
      await askForKey(key ? "That API key was not accepted: enter another." : "This hub needs an API key.");
    }
  }

  async function getJson(path) {
    const response = await api(path);
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    return { status: response.status, ok: response.ok, body };
  }

  // -- announcements -----------------------------------------------------------------------
  function status(text) {
    $("search-status").textContent = text;
  }

  function announce(text) {
    const el = $("announcer");
    // A change of text is what screen readers announce: clear first so a repeat is heard.
    el.textContent = "";
    setTimeout(() => { el.textContent = text; }, 50);
  }

  // -- search ------------------------------------------------------------------------------
  const PHONE = /^\+?[\d\s().-]{6,}$/;

  function identityKind(query) {
    if (query.includes("@")) return "email";
    if (PHONE.test(query) && query.replace(/\D/g, "").length >= 6) return "phone";
    return "account";
  }

  function resultFromView(view) {
    const ids = isObject(view.identities) ? view.identities : view;
    return {
      customer_id: view.customer_id,
      name: isObject(view.profile) ? view.profile.name : null,
      phones: ids.phones || [],
      emails: ids.emails || [],
      accounts: ids.accounts || [],
    };
  }

  async function findCustomers(query) {
    const found = await getJson(`/v1/customers/search?q=${encodeURIComponent(query)}`);
    let results = [];
    if (found.ok && isObject(found.body) && Array.isArray(found.body.results)) {
      results = found.body.results.filter(isObject);
    } else if (found.status !== 404) {
      throw new Error(errorText(found, "the search failed"));
    } else {
      // No search on this hub (it never answers 404 otherwise): look the identity up.
      const byIdentity = await getJson(`/v1/customers/by-identity?${identityKind(query)}=${encodeURIComponent(query)}`);
      if (byIdentity.ok && isObject(byIdentity.body)) results = [resultFromView(byIdentity.body)];
    }
    if (!results.length && !/\s/.test(query)) {
      // An agent may type a customer id outright.
      const direct = await getJson(`/v1/customers/${encodeURIComponent(query)}`);
      if (direct.ok && isObject(direct.body)) results = [resultFromView(direct.body)];
    }
    return results;
  }

  function errorText(answer, fallback) {
    return isObject(answer.body) && present(answer.body.error) ? `${fallback}: ${answer.body.error}` : `${fallback} (HTTP ${answer.status})`;
  }

  async function onSearch(event) {
    event.preventDefault();
    const query = $("search-input").value.trim();
    const results = $("search-results");
    if (!query) {
      status("Type a name, phone number, e-mail address or account number.");
      $("search-input").focus();
      return;
    }
    status("Searching…");
    results.replaceChildren();
    try {
      const found = await findCustomers(query);
      results.replaceChildren(...found.map((r) => {
        const details = [...(r.phones || []), ...(r.emails || []), ...(r.accounts || [])].filter(present).join(" · ");
        return h("li", {}, h("button", {
          type: "button", class: "result", "data-customer-id": r.customer_id,
          onclick: () => showCustomer(String(r.customer_id), { focus: true }),
        },
        h("span", { class: "result-name", text: present(r.name) ? r.name : r.customer_id }),
        h("span", { class: "result-id", text: present(r.name) ? r.customer_id : "" }),
        details ? h("span", { class: "result-details", text: details }) : null));
      }));
      status(found.length === 1 ? "1 customer found." : `${found.length} customers found.`);
    } catch (err) {
      status(err instanceof NoKey ? "An API key is needed to search." : `Search failed: ${err.message}`);
    }
  }

  // -- the customer view -------------------------------------------------------------------
  let current = null; // { view, pop }
  let opening = 0; // the latest request wins when a pop and a click race

  async function showCustomer(customerId, { pop = null, focus = false } = {}) {
    const main = $("customer");
    const mine = ++opening;
    main.setAttribute("aria-busy", "true");
    try {
      const answer = await getJson(`/v1/customers/${encodeURIComponent(customerId)}`);
      if (mine !== opening) return null;
      if (answer.status === 404) {
        current = { view: { customer_id: customerId }, pop, missing: true };
      } else if (!answer.ok || !isObject(answer.body)) {
        throw new Error(errorText(answer, "the customer view failed"));
      } else {
        current = { view: answer.body, pop };
      }
      renderCustomer();
      // In the address, so a reload (or a colleague given the link) shows the same customer.
      history.replaceState(null, "", `${location.pathname}#customer=${encodeURIComponent(customerId)}`);
      if (focus) main.focus();
      return current.view;
    } catch (err) {
      status(err instanceof NoKey ? "An API key is needed to open a customer." : `Could not open ${customerId}: ${err.message}`);
      return null;
    } finally {
      if (mine === opening) main.removeAttribute("aria-busy");
    }
  }

  function renderHeader(view) {
    const name = isObject(view.profile) && present(view.profile.name) ? view.profile.name : null;
    const insights = isObject(view.insights) ? view.insights : {};
    const badge = (label, insight, valueKey, cls) => {
      if (!isObject(insight)) return null;
      const value = insight[valueKey];
      const reasons = Array.isArray(insight.reasons) ? insight.reasons.filter(present) : [];
      return h("div", { class: `badge ${cls}` },
        h("span", { class: "badge-label", text: label }),
        h("span", { class: "badge-value", text: valueKey === "score" ? number(value) : present(value) ? String(value) : "—" }),
        reasons.length ? h("details", { class: "reasons" }, h("summary", { text: "Why" }), h("ul", {}, reasons.map((r) => h("li", {}, renderAny(r, 3))))) : null);
    };
    return h("header", { class: "customer-header" },
      h("div", { class: "who" },
        h("h2", { id: "customer-heading", text: name ?? view.customer_id }),
        h("p", { class: "customer-id" }, "Customer ", h("span", { class: "mono", "data-field": "customer-id", text: view.customer_id }))),
      h("div", { class: "badges" },
        badge("Value tier", insights.value_tier, "tier", "tier"),
        badge("Churn risk", insights.churn_risk, "score", "churn"),
        badge("Upsell", insights.upsell, "score", "upsell")));
  }

  function renderAlerts(view) {
    if (!Array.isArray(view.alerts) || !view.alerts.length) return null;
    return h("section", { class: "alerts", "aria-labelledby": "alerts-heading" },
      h("h3", { id: "alerts-heading", class: "visually-hidden", text: "Alerts" }),
      h("ul", {}, view.alerts.map((alert) => {
        const a = isObject(alert) ? alert : { message: alert };
        const severity = String(a.severity ?? "info").toLowerCase();
        const cls = ["high", "critical", "error"].includes(severity) ? "high" : ["medium", "warning", "warn"].includes(severity) ? "medium" : "info";
        return h("li", { class: `alert alert-${cls}`, "data-code": a.code ?? null },
          h("strong", { text: `${humanise(severity)}: ` }),
          present(a.message) ? String(a.message) : present(a.code) ? String(a.code) : renderAny(a, 2));
      })));
  }

  function renderCustomer() {
    const body = $("customer-body");
    if (!current) return;
    const { view, missing } = current;
    const parts = [renderHeader(view)];
    if (missing) {
      parts.push(h("p", { class: "muted", text: "The hub has no record of this customer yet." }));
    } else {
      parts.push(renderAlerts(view));
      const grid = h("div", { class: "sections" });
      for (const id of layout.order) {
        const section = SECTION_BY_ID.get(id);
        if (!section || layout.hidden.includes(id)) continue;
        if (!section.keys.some((k) => view[k] !== undefined)) continue;
        let content;
        try {
          content = section.render(view);
        } catch {
          // A shape this page does not know: show it as it is rather than nothing.
          content = renderAny(Object.fromEntries(section.keys.filter((k) => k in view).map((k) => [k, view[k]])));
        }
        grid.append(h("section", {
          class: `card${section.wide ? " wide" : section.span ? " span" : ""}`, "data-section": id, "aria-labelledby": `section-${id}`,
        }, h("h3", { id: `section-${id}`, text: section.title }), content));
      }
      parts.push(grid);
    }
    body.replaceChildren(...parts.filter(Boolean));
  }

  // -- screen pops: a Server-Sent Events stream read with fetch (EventSource sends no headers)
  class SseParser {
    constructor(onEvent) {
      this.onEvent = onEvent;
      this.buffer = "";
      this.reset();
      this.retry = null;
    }

    reset() {
      this.event = "";
      this.data = [];
      this.id = null;
    }

    push(text) {
      this.buffer += text;
      for (;;) {
        const match = /\r\n|\r|\n/.exec(this.buffer);
        if (!match) return;
        // A lone CR at the very end may be the first half of a CRLF: wait for more.
        if (match[0] === "\r" && match.index === this.buffer.length - 1) return;
        const line = this.buffer.slice(0, match.index);
        this.buffer = this.buffer.slice(match.index + match[0].length);
        this.line(line);
      }
    }

    line(line) {
      if (line === "") {
        if (this.data.length) this.onEvent(this.event || "message", this.data.join("\n"), this.id);
        this.reset();
        return;
      }
      if (line.startsWith(":")) return; // a comment: the heartbeat
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") this.event = value;
      else if (field === "data") this.data.push(value);
      else if (field === "id") this.id = value;
      else if (field === "retry" && /^\d+$/.test(value)) this.retry = Number(value);
    }
  }

  const STALL_MS = 45000; // three missed heartbeats: the connection is dead
  let lastPop = null;

  function setLive(state, text) {
    const el = $("live-state");
    el.dataset.state = state;
    el.textContent = text;
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  async function onPop(pop) {
    if (!isObject(pop) || !present(pop.customer_id)) return;
    const sameCall = lastPop && present(pop.call_id) && pop.call_id === lastPop.call_id && pop.customer_id === lastPop.customer_id;
    lastPop = pop;
    const banner = $("pop-banner");
    const channel = present(pop.channel) ? String(pop.channel) : "contact";
    banner.replaceChildren(
      h("strong", { text: `${channel === "VOICE" ? "Call" : channel === "CHAT" ? "Chat" : channel}` }),
      present(pop.call_id) ? h("span", { class: "mono", text: ` ${pop.call_id}` }) : null,
      " · ", when(pop.occurred_at), " · customer ",
      h("span", { class: "mono", "data-field": "pop-customer", text: pop.customer_id }));
    banner.hidden = false;
    banner.dataset.eventId = pop.event_id ?? "";
    const view = await showCustomer(String(pop.customer_id), { pop });
    if (sameCall) return; // the same call again (a later status): refreshed, not re-announced
    const name = view && isObject(view.profile) && present(view.profile.name) ? view.profile.name : pop.customer_id;
    announce(`Screen pop: ${channel === "VOICE" ? "call" : channel.toLowerCase()} from ${name}.`);
  }

  async function followScreenPops() {
    let delay = 1000;
    for (;;) {
      const controller = new AbortController();
      let retryAfter = null;
      try {
        setLive("connecting", "connecting…");
        const response = await api(`/v1/agents/${encodeURIComponent(agentId)}/screen-pops`, {
          signal: controller.signal, accept: "text/event-stream",
        });
        if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        const parser = new SseParser((event, data) => {
          if (event === "ready") {
            delay = 1000;
            setLive("live", "live: waiting for calls");
          } else if (event === "screen-pop") {
            let pop = null;
            try {
              pop = JSON.parse(data);
            } catch {
              return;
            }
            onPop(pop);
          }
        });
        for (;;) {
          let timer;
          const stalled = new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error("no heartbeat")), STALL_MS);
          });
          let chunk;
          try {
            chunk = await Promise.race([reader.read(), stalled]);
          } finally {
            clearTimeout(timer);
          }
          if (chunk.done) break;
          parser.push(chunk.value);
        }
        retryAfter = parser.retry;
      } catch (err) {
        if (err instanceof NoKey) {
          setLive("off", "needs an API key");
          await new Promise((resolve) => { keyWaiters.push(resolve); });
          continue;
        }
      } finally {
        controller.abort();
      }
      const wait = Math.max(retryAfter ?? 0, delay) + Math.floor(Math.random() * 500);
      setLive("off", `disconnected: retrying in ${Math.round(wait / 1000)} s`);
      await sleep(wait);
      delay = Math.min(delay * 2, 30000);
    }
  }

  // -- start -------------------------------------------------------------------------------
  function start() {
    $("search-form").addEventListener("submit", onSearch);
    $("settings-toggle").addEventListener("click", () => toggleSettings());
    $("settings-done").addEventListener("click", () => toggleSettings(false));
    $("settings-reset").addEventListener("click", () => {
      layout = defaultLayout();
      saveLayout();
      renderSettings();
      renderCustomer();
      status("Sections reset to the default order.");
    });
    $("key-cancel").addEventListener("click", () => $("key-dialog").close("cancel"));
    $("key-button").addEventListener("click", () => {
      askForKey("Enter the API key for this hub.").catch(() => {
        // cancelled: nothing changes
      });
    });
    $("settings-scope").textContent = agentId
      ? `Remembered in this browser for agent ${agentId}.`
      : "Remembered in this browser for the desktop without an agent.";
    const openLinked = () => {
      const linked = /(?:^#|&)customer=([^&]+)/.exec(location.hash);
      if (!linked) return;
      let customerId;
      try {
        customerId = decodeURIComponent(linked[1]);
      } catch {
        return; // a malformed link: leave the view as it is
      }
      if (!current || current.view.customer_id !== customerId) showCustomer(customerId);
    };
    window.addEventListener("hashchange", openLinked);
    openLinked();
    if (agentId) {
      $("agent-line").hidden = false;
      $("agent-name").textContent = agentId;
      document.title = `${agentId} · Touchline agent desktop`;
      followScreenPops();
    } else {
      $("bind-panel").hidden = false;
      $("bind-form").addEventListener("submit", (event) => {
        event.preventDefault();
        const id = $("bind-input").value.trim();
        if (id) location.assign(`/ui/agent/${encodeURIComponent(id)}`);
      });
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
