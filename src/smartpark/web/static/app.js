// The dashboard shell: login, navigation, live alerts over server-sent events, overview, alerts.
import { api, can, failure, fmtTime, h, panel, parkPath, pct, pill, session, toast } from "./util.js";
import { devicesPage, enterprisePage, evaluationPage } from "./pages.js";

const main = document.getElementById("main");
const live = { source: null, listeners: new Set(), open: 0 };

function show(loggedIn) {
  document.querySelector("header.top").hidden = !loggedIn;
  document.getElementById("login").hidden = loggedIn;
  main.hidden = !loggedIn;
}

async function start() {
  try {
    session.me = await api("/me");
  } catch {
    show(false);
    return;
  }
  const parks = await api("/parks");
  session.park = parks.items[0];
  session.enterprises = (await api(parkPath("/enterprises"))).items;
  document.getElementById("park-name").textContent = session.park.name;
  const scope = session.me.enterprise ? ` · ${session.me.enterprise}` : "";
  document.getElementById("who").textContent = `${session.me.username} (${session.me.role}${scope})`;
  show(true);
  connectLive();
  await refreshBadge();
  route();
}

document.getElementById("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = new FormData(ev.target);
  const error = document.getElementById("login-error");
  error.textContent = "";
  try {
    await api("/login", { method: "POST", body: { username: form.get("username"), password: form.get("password") } });
    ev.target.reset();
    await start();
  } catch (err) {
    error.textContent = err.message;
  }
});

document.getElementById("logout").addEventListener("click", async () => {
  await api("/logout", { method: "POST" }).catch(() => null);
  if (live.source) live.source.close();
  show(false);
});

window.addEventListener("smartpark:logged-out", () => { if (live.source) live.source.close(); show(false); });

// Live alerts: one EventSource for the whole page; pages subscribe while they are shown.
function connectLive() {
  if (live.source) live.source.close();
  const source = new EventSource(`/api/v1${parkPath("/alerts/stream")}`);
  const badge = document.getElementById("live");
  source.addEventListener("ready", () => badge.classList.remove("off"));
  source.addEventListener("error", () => badge.classList.add("off"));
  source.addEventListener("alert", (ev) => {
    const change = JSON.parse(ev.data);
    if (change.from_state === null) toast(`New ${change.severity} alert: ${change.message}`);
    refreshBadge();
    for (const fn of live.listeners) fn(change);
  });
  live.source = source;
}

async function refreshBadge() {
  const open = await api(parkPath("/alerts?state=OPEN&limit=1"));
  const badge = document.getElementById("alert-badge");
  badge.textContent = open.total;
  badge.hidden = open.total === 0;
}

async function act(alert, action, note) {
  try {
    await api(`/alerts/${alert.id}/${action}`, { method: "POST", body: { note: note || null } });
    toast(`Alert ${alert.id} ${action === "acknowledge" ? "acknowledged" : "resolved"}`);
  } catch (err) {
    toast(err.message);
  }
}

function alertRow(a, fresh) {
  const note = h("input", { placeholder: "note", "aria-label": `note for alert ${a.id}`, size: 10 });
  const buttons = [];
  if (can("operator") && a.state === "OPEN") {
    buttons.push(h("button", { onclick: () => act(a, "acknowledge", note.value) }, "Acknowledge"));
  }
  if (can("operator") && a.state !== "RESOLVED") {
    buttons.push(h("button.secondary", { onclick: () => act(a, "resolve", note.value) }, "Resolve"));
  }
  return h(`tr${fresh ? ".fresh" : ""}`, { dataset: { alert: a.id } },
    h("td", {}, fmtTime(a.opened_at)),
    h("td", {}, pill(a.severity)),
    h("td", {}, pill(a.state)),
    h("td", {}, a.enterprise ? h("a", { href: `#/enterprises/${a.enterprise}` }, a.enterprise) : "park"),
    h("td", {}, h("strong", {}, a.rule), h("br"), a.message),
    h("td.actions", {}, buttons.length ? [note, ...buttons] : ""));
}

function alertTable(items, freshIds = new Set()) {
  if (!items.length) return h("p.empty", {}, "No alerts.");
  return h("div.scroll", {}, h("table", { class: "alerts" },
    h("thead", {}, h("tr", {}, ["Opened", "Severity", "State", "Enterprise", "Alert", ""].map((t) => h("th", {}, t)))),
    h("tbody", {}, items.map((a) => alertRow(a, freshIds.has(a.id))))));
}

// A list of alerts that reloads on every live change while it is on screen.
function liveAlerts(container, query) {
  const fresh = new Set();
  const load = async () => {
    try {
      const data = await api(parkPath(`/alerts?${query}`));
      container.replaceChildren(alertTable(data.items, fresh),
        h("p.muted", {}, `${data.total} alert(s)`));
    } catch (err) {
      container.replaceChildren(failure(err));
    }
  };
  const listener = (change) => { fresh.add(change.id); load(); };
  live.listeners.add(listener);
  return { load, stop: () => live.listeners.delete(listener) };
}

async function overviewPage() {
  const data = await api(parkPath("/overview"));
  const cards = data.enterprises.map((e) => {
    const level = e.critical_alerts > 0 ? "bad" : e.open_alerts > 0 || e.offline > 0 ? "warn" : "";
    return h(`a.card${level ? "." + level : ""}`, { href: `#/enterprises/${e.id}`, dataset: { enterprise: e.id } },
      h("h3", {}, e.name), h("div.muted", {}, e.industry || ""),
      h("div.stats", {},
        h("span", {}, `${e.online}/${e.devices} devices online`),
        h("span", {}, `${e.open_alerts} open alert(s)`)));
  });
  const ratios = data.ratios.length ? h("div.scroll", {}, h("table", {},
    h("thead", {}, h("tr", {}, ["Ratio", "For", "Day ending", "Value", "Target", ""].map((t) => h("th", {}, t)))),
    h("tbody", {}, data.ratios.map((r) => {
      const name = r.check.replace(/^ratio\./, "").replace(/\.day$/, "").replaceAll("_", " ");
      const share = r.value === null || !r.limit ? 0 : Math.min(r.value / r.limit, 1);
      const fill = h("span", { class: share >= 1 ? "" : "short" });
      fill.style.width = `${(share * 100).toFixed(0)}%`;
      return h("tr", {}, h("td", {}, name), h("td", {}, r.subject), h("td", {}, fmtTime(r.window_end)),
        h("td.num", {}, r.value === null ? r.status.replaceAll("_", " ") : pct(r.value)),
        h("td.num", {}, pct(r.limit)), h("td", {}, h("div.bar", {}, fill)));
    })))) : h("p.empty", {}, "No ratio has been computed yet.");
  const alertsBox = h("div");
  const list = liveAlerts(alertsBox, "state=OPEN&limit=10");
  main.replaceChildren(
    h("h1", {}, `${data.park.name} — overview`),
    h("p.muted", {}, `${data.open_alerts} open alert(s) · times in ${data.park.timezone}`),
    h("div.grid", {}, cards),
    h("div.cols", {}, panel("Open alerts (live)", alertsBox), panel("Key ratios against targets", ratios)));
  await list.load();
  return list.stop;
}

async function alertsPage() {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const state = params.get("state") || "";
  const filter = h("select", { "aria-label": "state", onchange: (ev) => { location.hash = `#/alerts?state=${ev.target.value}`; } },
    ["", "OPEN", "ACKNOWLEDGED", "RESOLVED"].map((s) => h("option", { value: s, selected: s === state }, s || "all states")));
  const box = h("div");
  const list = liveAlerts(box, `limit=100${state ? `&state=${state}` : ""}`);
  main.replaceChildren(h("h1", {}, "Alerts"), h("div.toolbar", {}, filter, h("span.muted", {}, "updates live")), panel("Alerts", box));
  await list.load();
  return list.stop;
}

const pages = { overview: overviewPage, alerts: alertsPage, enterprises: enterprisePage, devices: devicesPage, evaluation: evaluationPage };
let leave = null;

async function route() {
  if (!session.me) return;
  const [name, arg] = location.hash.replace(/^#\//, "").split("?")[0].split("/");
  const page = pages[name] ? name : "overview";
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.getAttribute("href") === `#/${page}`);
  if (leave) { leave(); leave = null; }
  main.replaceChildren(h("p.muted", {}, "Loading…"));
  try {
    leave = (await pages[page](arg ? decodeURIComponent(arg) : undefined)) || null;
  } catch (err) {
    main.replaceChildren(failure(err));
  }
}

window.addEventListener("hashchange", route);
start();
