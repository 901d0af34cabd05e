// Dashboard pages: enterprise charts, devices and dead letters, evaluation.
import { PALETTE, barChart, fmtNum, lineChart } from "./charts.js";
import { ago, api, can, failure, fmtDay, fmtTime, h, panel, parkPath, pct, pill, session, toast } from "./util.js";

const ENERGY = ["energy.electricity.import", "energy.electricity.renewable", "energy.gas", "energy.steam", "energy.coal"];
const WATER = ["water.intake", "water.reused", "water.reclaimed", "wastewater.discharge"];
const HEAT = ["heat.waste.available", "heat.waste.recovered"];
const RANGES = { "24h": 1, "7d": 7, "30d": 30 };

function rangeFrom(params) {
  const days = RANGES[params.get("range")] || 7;
  const end = new Date(Math.ceil(Date.now() / 3600e3) * 3600e3);
  if (params.get("from") && params.get("to")) {
    return { start: new Date(`${params.get("from")}T00:00:00Z`), end: new Date(`${params.get("to")}T00:00:00Z`), key: "custom" };
  }
  return { start: new Date(+end - days * 86400e3), end, key: params.get("range") || "7d" };
}

function query(obj) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(obj)) for (const item of [].concat(v)) if (item !== undefined && item !== null) q.append(k, item);
  return q.toString();
}

async function rollups(enterprise, metrics, range, period) {
  return api(parkPath(`/rollups?${query({ enterprise, metric: metrics, period,
    start: range.start.toISOString(), end: range.end.toISOString() })}`));
}

function pivot(data, metrics, scale = () => 1) {
  const buckets = [...new Set(data.items.map((r) => r.bucket))].sort();
  const label = (b) => (data.period === "day" ? fmtDay(b) : fmtTime(b, false));
  const series = metrics.map((m, i) => {
    const by = new Map(data.items.filter((r) => r.metric === m).map((r) => [r.bucket, r]));
    return { name: `${m} (${data.metrics[m].unit})`, color: PALETTE[i % PALETTE.length],
      values: buckets.map((b) => (by.has(b) && by.get(b).consumed !== null ? by.get(b).consumed * scale(m) : null)) };
  }).filter((s) => s.values.some((v) => v !== null));
  return { categories: buckets.map(label), series };
}

function groupResults(items) {
  const groups = new Map();
  for (const r of items) {
    const key = `${r.subject} · ${r.check}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(r);
  }
  return groups;
}

function limitChart(title, rows, unit) {
  const box = h("div");
  const points = (f) => rows.map((r) => [new Date(r.window_end), f(r)]);
  lineChart(box, { label: title, timeLabel: (t) => fmtTime(t),
    series: [{ name: `value (${unit})`, color: PALETTE[1], points: points((r) => r.value) },
      { name: "limit", color: PALETTE[4], dashed: true, points: points((r) => r.limit) }] });
  const breaches = rows.filter((r) => r.status === "violation").length;
  return h("div", { class: "limit-chart" }, h("h3", {}, title), box, h("p.muted", {}, `${rows.length} result(s), ${breaches} above the limit`));
}

export async function enterprisePage(code) {
  if (!code) {
    main().replaceChildren(h("h1", {}, "Enterprises"), h("div.grid", {}, session.enterprises.map((e) =>
      h("a.card", { href: `#/enterprises/${e.id}` }, h("h3", {}, e.name), h("div.muted", {}, e.industry || "")))));
    return null;
  }
  const ent = session.enterprises.find((e) => e.id === code);
  if (!ent) throw new Error(`no enterprise ${code}`);
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const range = rangeFrom(params);
  const period = (range.end - range.start) <= 2 * 86400e3 ? "hour" : "day";
  const go = (extra) => { location.hash = `#/enterprises/${code}?${query(extra)}`; };
  const picker = h("div.seg", { role: "group", "aria-label": "range" }, Object.keys(RANGES).map((k) =>
    h(`button${range.key === k ? ".on" : ""}`, { onclick: () => go({ range: k }) }, k)));
  const from = h("input", { type: "date", "aria-label": "from", value: range.start.toISOString().slice(0, 10) });
  const to = h("input", { type: "date", "aria-label": "to", value: range.end.toISOString().slice(0, 10) });
  const boxes = { energy: h("div"), water: h("div"), heat: h("div"), stacks: h("div"), permits: h("div") };
  main().replaceChildren(h("h1", {}, ent.name),
    h("div.toolbar", {}, picker, from, to, h("button.secondary", { onclick: () => go({ from: from.value, to: to.value }) }, "Show"),
      h("span.sp"), h("span.muted", {}, `${fmtTime(range.start)} – ${fmtTime(range.end)} (${session.park.timezone})`)),
    h("div.cols", {},
      panel("Energy by carrier (tce)", boxes.energy), panel("Water balance (m³)", boxes.water),
      panel("Waste-heat recovery (GJ)", boxes.heat), panel("Permitted amounts against pace", boxes.permits)),
    panel("Stack and outlet concentrations against limits (hourly, O₂-corrected)", boxes.stacks));
  const span = { start: range.start.toISOString(), end: range.end.toISOString() };
  const tasks = [
    rollups(code, ENERGY, range, period).then((d) => {
      const kg = (m) => (d.metrics[m].kgce_per_unit || 0) / 1000;
      const p = pivot(d, ENERGY, kg);
      p.series.forEach((s) => { s.name = s.name.replace(/ \(.*\)$/, ""); });
      barChart(boxes.energy, { ...p, stacked: true, label: "energy by carrier" });
    }),
    rollups(code, WATER, range, period).then((d) => barChart(boxes.water, { ...pivot(d, WATER), label: "water balance" })),
    rollups(code, HEAT, range, period).then((d) => {
      const p = pivot(d, HEAT);
      barChart(boxes.heat, { ...p, label: "waste heat" });
      const sum = (m) => d.items.filter((r) => r.metric === m).reduce((a, r) => a + (r.consumed || 0), 0);
      if (sum(HEAT[0]) > 0) boxes.heat.append(h("p", {}, `Recovered ${pct(sum(HEAT[1]) / sum(HEAT[0]))} of the available heat in this range.`));
    }),
    api(parkPath(`/check-series?${query({ check: "concentration.hourly.", enterprise: code, ...span })}`)).then((d) => {
      const groups = groupResults(d.items);
      boxes.stacks.replaceChildren(...(groups.size ? [h("div.cols", {}, [...groups].map(([k, rows]) =>
        limitChart(k.replace("concentration.hourly.", ""), rows, rows[0].check.startsWith("concentration.hourly.wastewater") ? "mg/L" : "mg/m³")))]
        : [h("p.empty", {}, "No outlet of this enterprise has hourly results in this range.")]));
    }),
    api(parkPath("/check-results?check=permit.&limit=500")).then((d) => {
      // One verdict per permit period, updated every run: used so far against the permit and
      // against an even pace through the period.
      const latest = new Map();
      for (const r of d.items.filter((x) => x.enterprise === code)) {
        if (!latest.has(r.subject + r.check)) latest.set(r.subject + r.check, r);
      }
      boxes.permits.replaceChildren(...(latest.size ? [...latest.values()].map(permitBar)
        : [h("p.empty", {}, "No discharge permit for this enterprise.")]));
    }),
  ];
  const results = await Promise.allSettled(tasks);
  const boxList = Object.values(boxes);
  results.forEach((r, i) => { if (r.status === "rejected") boxList[i].replaceChildren(failure(r.reason)); });
  return null;
}

function main() { return document.getElementById("main"); }

function permitBar(r) {
  const s = new Date(r.window_start), e = new Date(r.window_end);
  const elapsed = Math.min(Math.max((Date.now() - s) / (e - s), 0), 1);
  const used = r.value || 0, permitted = r.limit || 0;
  const scale = Math.max(permitted, used) || 1;
  const fill = h(`span${used > permitted * elapsed ? ".short" : ""}`);
  fill.style.width = `${((used / scale) * 100).toFixed(1)}%`;
  const pace = h("i", { title: "even pace" });
  pace.style.left = `${((permitted * elapsed / scale) * 100).toFixed(1)}%`;
  const pollutant = r.check.split(".").slice(2).join(".");
  return h("div", { class: "permit" },
    h("h3", {}, `${r.subject} · ${pollutant} (${r.check.split(".")[1]})`),
    h("div.bar.wide", { role: "img", "aria-label": `permit ${r.subject}` }, fill, pace),
    h("p.muted", {}, `${fmtNum(used)} t used of ${fmtNum(permitted)} t permitted; an even pace is ` +
      `${fmtNum(permitted * elapsed)} t by now (${pct(elapsed)} of the period) · `, pill(r.status)));
}

export async function devicesPage() {
  const data = await api(parkPath("/devices"));
  const detail = async (row, d) => {
    const events = await api(parkPath(`/devices/${encodeURIComponent(d.id)}/quality-events?limit=20`));
    const cell = h("td", { colspan: 8 }, events.items.length ? h("table", {}, events.items.map((e) =>
      h("tr", {}, h("td", {}, fmtTime(e.detected_at)), h("td", {}, e.kind.replace("seq_", "")),
        h("td", {}, `sequence ${e.seq_from}–${e.seq_to}`), h("td", {}, e.kind === "seq_gap" ? `${e.filled} filled late` : ""))))
      : "No data-quality events.");
    row.after(h("tr", {}, cell));
  };
  const rows = data.items.map((d) => {
    const q = d.quality_events || {};
    const count = Object.values(q).reduce((a, b) => a + b, 0);
    const row = h("tr", { dataset: { device: d.id } },
      h("td", {}, h("strong", {}, d.id), h("br"), h("span.muted", {}, d.name || d.kind)),
      h("td", {}, h("a", { href: `#/enterprises/${d.enterprise}` }, d.enterprise)),
      h("td", {}, pill(d.status)), h("td", {}, ago(d.last_seen_at)), h("td.num", {}, d.last_seq ?? "–"),
      h("td", {}, `${q.seq_gap || 0} gaps · ${q.seq_repeat || 0} repeats · ${q.seq_reset || 0} restarts`),
      h("td", { title: d.dead_letters_dropped ? `over the per-minute budget since ${fmtTime(d.dead_letters_dropped_at)}` : "" },
        `${d.dead_letters} stored` + (d.dead_letters_dropped ? ` · ${d.dead_letters_dropped} only counted` : "")),
      h("td", {}, count ? h("button.link", { onclick: (ev) => { ev.target.disabled = true; detail(row, d); } }, "events") : ""));
    return row;
  });
  const online = data.items.filter((d) => d.status === "online").length;
  const parts = [h("h1", {}, "Devices"), h("p.muted", {}, `${online} of ${data.items.length} online`),
    panel("Devices", h("div.scroll", {}, h("table", {}, h("thead", {}, h("tr", {},
      ["Device", "Enterprise", "Status", "Last seen", "Sequence", "Data quality", "Dead-lettered", ""].map((t) => h("th", {}, t)))), h("tbody", {}, rows))))];
  if (can("admin") && !session.me.enterprise) parts.push(await deadLetters());
  main().replaceChildren(...parts);
  return null;
}

async function deadLetters() {
  const data = await api("/dead-letters?limit=50");
  const reprocess = async (d) => {
    try {
      const r = await api(`/dead-letters/${d.id}/reprocess`, { method: "POST" });
      toast(`dead letter ${d.id}: ${r.inserted} reading(s) stored, ${r.still_failing.length} still failing` +
        (r.still_failing.length ? ` (${r.still_failing[0]})` : ""));
    } catch (err) { toast(err.message); }
  };
  const rows = data.items.map((d) => h("tr", {}, h("td", {}, d.id), h("td", {}, fmtTime(d.received_at)),
    h("td", {}, d.topic), h("td", {}, d.reason, d.rejected > 1 ? h("ul", {}, d.rejections.map((r) =>
      h("li", {}, r.index === null ? r.reason : `reading ${r.index}: ${r.reason}`))) : ""),
    h("td", {}, h("pre", {}, d.payload.slice(0, 400)), h("span.muted", {}, `${d.payload_size} bytes` +
      (d.payload_truncated ? `, first ${d.payload.length} kept` : ""))),
    h("td", {}, d.reprocessed_at ? `reprocessed ${fmtTime(d.reprocessed_at)}` : h("button.secondary", { onclick: () => reprocess(d) }, "Reprocess"))));
  return panel(`Dead letters (${data.total})`, data.items.length ? h("div.scroll", {}, h("table", {},
    h("thead", {}, h("tr", {}, ["#", "Received", "Topic", "Reason", "Payload", ""].map((t) => h("th", {}, t)))), h("tbody", {}, rows)))
    : h("p.empty", {}, "Nothing could not be stored."));
}

export async function evaluationPage(id) {
  const list = (await api(parkPath("/evaluations"))).items;
  const runForm = can("operator") ? h("form.toolbar", { onsubmit: async (ev) => {
    ev.preventDefault();
    try {
      const made = await api(parkPath("/evaluations"), { method: "POST", body: { period: ev.target.period.value, enterprise: session.me.enterprise } });
      location.hash = `#/evaluation/${made.id}`;
    } catch (err) { toast(err.message); }
  } }, h("label", {}, "Period ", h("input", { name: "period", value: new Date().toISOString().slice(0, 7), size: 8, "aria-label": "period" })),
  h("button", { type: "submit" }, "Run evaluation")) : "";
  if (!list.length) {
    main().replaceChildren(h("h1", {}, "Evaluation"), runForm, h("p.empty", {}, "No evaluation yet."));
    return null;
  }
  const chosen = list.find((e) => String(e.id) === id) || list[0];
  const report = await api(`/evaluations/${chosen.id}/report.json`);
  const r = report.result;
  const index = r.green_index === null ? "withheld" : fmtNum(r.green_index);
  const links = ["html", "pdf", "csv", "json"].map((f) => h("a", { href: `/api/v1/evaluations/${chosen.id}/report.${f}`, download: `evaluation-${chosen.id}.${f}` }, f.toUpperCase()));
  const history = h("select", { "aria-label": "evaluation", onchange: (ev) => { location.hash = `#/evaluation/${ev.target.value}`; } },
    list.map((e) => h("option", { value: e.id, selected: e.id === chosen.id }, `#${e.id} ${e.period_label}${e.enterprise ? " · " + e.enterprise : ""}`)));
  const indicators = h("div.scroll", {}, h("table", {}, h("thead", {}, h("tr", {},
    ["Indicator", "Category", "Value", "Lead", "Score", "Used"].map((t) => h("th", {}, t)))),
  h("tbody", {}, r.indicators.map((i) => h("tr", {}, h("td", {}, h("strong", {}, i.id), " ", i.zh, h("br"), h("span.muted", {}, i.en)),
    h("td", {}, i.category), h("td.num", {}, i.value === null ? h("span.muted", { title: i.missing.join("; ") }, "missing") : `${fmtNum(i.value)} ${i.unit}`),
    h("td.num", {}, `${fmtNum(i.lead)} ${i.unit}`), h("td.num", {}, i.score === null ? "–" : fmtNum(i.score)), h("td", {}, i.used ? "yes" : "no"))))));
  main().replaceChildren(h("h1", {}, "Green evaluation"), h("div.toolbar", {}, history, h("span.sp"), runForm),
    h("div.cols", {},
      panel(`Green index — ${report.period_label}${report.enterprise ? " · " + report.enterprise : ""}`,
        h("div.big", { id: "green-index" }, index),
        h("p", {}, "Basic requirements: ", pill(r.gate.passed ? "passed" : "failed")),
        r.green_index === null && r.index_if_gate_passed !== null ? h("p.muted", {}, `Index if the requirements were met: ${fmtNum(r.index_if_gate_passed)}`) : "",
        h("ul", {}, r.gate.items.filter((g) => g.passed !== true).map((g) => h("li", {}, `${g.text}: ${g.actual === null ? "no value entered" : fmtNum(g.actual)} (required ${g.required})`))),
        h("p", {}, "Download: ", ...links.flatMap((a) => [a, " "]))),
      panel("Weakest indicators", h("ol", {}, r.weakest.map((w) => h("li", {}, h("strong", {}, `${w.id} ${w.en}`), `: ${w.to_reach_lead}`))))),
    panel(`Indicators (${report.indicator_set} v${report.set_version}, factors ${report.factor_version || "–"})`, indicators));
  return null;
}
