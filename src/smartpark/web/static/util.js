// Shared helpers: the API client, element building, time formatting in the park's zone.
export const session = { me: null, park: null, enterprises: [] };

export class ApiError extends Error {
  constructor(status, detail) { super(detail); this.status = status; }
}

export async function api(path, { method = "GET", body } = {}) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const res = await fetch(`/api/v1${path}`, init);
  if (res.status === 401 && path !== "/login") {
    window.dispatchEvent(new Event("smartpark:logged-out"));
  }
  if (!res.ok) {
    let detail = res.statusText;
    try { detail = (await res.json()).detail || detail; } catch { /* not JSON */ }
    throw new ApiError(res.status, detail);
  }
  return res.status === 204 ? null : res.json();
}

export function parkPath(rest = "") {
  return `/parks/${encodeURIComponent(session.park.id)}${rest}`;
}

// h("div.card", {onclick}, child, ...) — a tiny element builder (text is never parsed as HTML).
export function h(spec, attrs = {}, ...children) {
  const [tag, ...classes] = spec.split(".");
  const node = document.createElement(tag || "div");
  if (classes.length) node.className = classes.join(" ");
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

export function zone() { return session.park ? session.park.timezone : "UTC"; }

export function fmtTime(value, withDate = true) {
  if (!value) return "–";
  const opts = { timeZone: zone(), hour: "2-digit", minute: "2-digit", hour12: false };
  if (withDate) Object.assign(opts, { month: "2-digit", day: "2-digit" });
  return new Intl.DateTimeFormat("en-GB", opts).format(new Date(value));
}

export function fmtDay(value) {
  return new Intl.DateTimeFormat("en-GB", { timeZone: "UTC", month: "2-digit", day: "2-digit" })
    .format(new Date(`${value}T00:00:00Z`));
}

export function ago(value) {
  if (!value) return "never";
  const s = Math.round((Date.now() - new Date(value)) / 1000);
  if (s < 90) return `${s} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 172800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

export function pct(v) { return v === null || v === undefined ? "–" : `${(v * 100).toFixed(1)}%`; }

export function pill(text, cls = text) { return h(`span.pill.${cls}`, {}, text); }

export function toast(text) {
  const t = h("div.toast", { role: "status" }, text);
  document.getElementById("toasts").append(t);
  setTimeout(() => t.remove(), 6000);
}

export function can(role) {
  const order = ["viewer", "operator", "admin"];
  return order.indexOf(session.me.role) >= order.indexOf(role);
}

export function panel(title, ...children) { return h("section.panel", {}, h("h2", {}, title), ...children); }

export function failure(err) { return h("p.error", { role: "alert" }, err.message || String(err)); }
