// The control room's views: site grid, port page, alert list, alert detail, sessions and fees.
// Every value from the API goes into the page as textContent (el() never parses markup).
"use strict";

const STATES = ["idle", "charging", "full", "hot", "tripped", "fault", "offline"];
let NOW = Date.now() / 1000; // the gateway's clock (simulated time in the demo), from /api/ports
const alertFilter = { state: "all", severity: "all", device: "", unacked: false, sort: "first_ts", desc: true };
let portWindow = 3600;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "on") for (const [ev, fn] of Object.entries(v)) node.addEventListener(ev, fn);
    else if (k === "data") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    node.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function pad(n) { return String(n).padStart(2, "0"); }

function fmtTime(ts) {
  if (ts === null || ts === undefined) return "–";
  const d = new Date(seconds(ts) * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function fmtNum(x, digits = 1) {
  return x === null || x === undefined || Number.isNaN(x) ? "–" : Number(x).toFixed(digits);
}

function portLabel(wire) {
  return wire === null || wire === undefined ? "–" : t("port.n", { n: wire + 1 });
}

function yesNo(v, goodWhen = true) {
  if (v === null || v === undefined) return el("span", { class: "muted" }, t("unknown"));
  const good = Boolean(v) === goodWhen;
  return el("span", { class: good ? "good" : "bad" }, v ? t("yes") : t("no"));
}

function table(headers, rows) {
  const head = el("tr", {}, ...headers.map((h) => (h instanceof Node ? h : el("th", {}, h))));
  return el("table", {}, el("thead", {}, head), el("tbody", {}, ...rows));
}

async function loadGrid() {
  const grid = await api("/api/ports");
  NOW = grid.ts;
  return grid;
}

// --- site grid ------------------------------------------------------------------------------
async function renderGrid(root) {
  const grid = await loadGrid();
  root.appendChild(el("div", { class: "legend", id: "legend" },
    el("strong", {}, t("grid.legend") + "："),
    ...STATES.map((s) => el("span", { class: "s-" + s }, t("state." + s)))));
  root.appendChild(el("h2", {}, `${t("grid.piles")} · ${grid.site}`));
  if (grid.piles.length === 0) root.appendChild(el("p", { class: "muted" }, t("grid.empty")));
  const piles = el("div", { class: "piles" });
  for (const pile of grid.piles) {
    const ports = el("div", { class: "ports" });
    for (const p of pile.ports) {
      ports.appendChild(el("button", {
        type: "button", class: `port s-${p.state} ${p.state}`, title: p.alerts.map((k) => tr("kind", k)).join("，"),
        data: { device: pile.device, port: String(p.port), state: p.state },
        on: { click: () => { location.hash = `#/port/${encodeURIComponent(pile.device)}/${p.port}`; } },
      },
      el("div", { class: "n" }, String(p.label)),
      el("div", {}, t("state." + p.state)),
      el("div", {}, `${fmtNum(p.socket_temp)} °C`),
      el("div", {}, `${fmtNum(p.power, 0)} W`)));
    }
    piles.appendChild(el("section", { class: "pile", data: { device: pile.device } },
      el("h3", {}, el("span", {}, pile.device), pile.online
        ? el("span", { class: "good" }, t("blocker.online"))
        : el("span", { class: "bad" }, t("state.offline"))),
      el("div", { class: "facts" },
        `${t("grid.ambient")} ${fmtNum(pile.ambient_temp)} °C · ${t("grid.total_power")} ${fmtNum(pile.total_power, 0)} W · `
        + `${t("grid.last_seen")} ${fmtNum(pile.last_seen_s, 0)} ${t("grid.seconds_ago")}`,
        pile.smoke_alarm ? el("span", { class: "bad" }, " · " + t("grid.smoke")) : null),
      ports));
  }
  root.appendChild(piles);
  root.appendChild(el("h2", {}, t("grid.blockers")));
  root.appendChild(table(
    [t("col.device"), t("blocker.online"), t("blocker.camera"), t("blocker.relay"), t("blocker.door_hold"), t("blocker.blocked_today")],
    grid.blockers.map((b) => el("tr", { data: { device: b.device } },
      el("td", {}, b.device), el("td", {}, yesNo(b.online)), el("td", {}, yesNo(b.camera_online)),
      el("td", {}, b.relay_closed === null || b.relay_closed === undefined ? t("unknown") : (b.relay_closed ? t("yes") : t("no"))),
      el("td", {}, yesNo(b.door_hold, false)),
      el("td", {}, b.blocked_today === null || b.blocked_today === undefined ? "–" : String(b.blocked_today))))));
}

// --- alerts ---------------------------------------------------------------------------------
function ackCell(a, after) {
  if (a.acked_by) return el("span", { class: "muted" }, t("ack.done", { user: a.acked_by }));
  if (!WHO.can_ack) return el("span", { class: "muted" }, t("ack.not_allowed"));
  return el("button", { type: "button", class: "ack", data: { id: a.id }, on: { click: async (ev) => {
    ev.stopPropagation();
    await guarded(() => api(`/api/alerts/${encodeURIComponent(a.id)}/ack`, { method: "POST", json: actorField("user") }));
    await after();
  } } }, t("ack.button"));
}

function alertRows(alerts, after) {
  return alerts.map((a) => el("tr", {
    class: `clickable sev-${a.severity}`, data: { id: a.id, kind: a.kind, state: a.state },
    on: { click: () => { location.hash = `#/alert/${encodeURIComponent(a.id)}`; } },
  },
  el("td", {}, fmtTime(a.first_ts)), el("td", {}, fmtTime(a.ts)), el("td", {}, a.device),
  el("td", {}, portLabel(a.port)), el("td", {}, tr("kind", a.kind)),
  el("td", {}, tr("severity", a.severity)),
  el("td", { class: a.state === "firing" ? "bad" : "" }, tr("alertstate", a.state)),
  el("td", { title: LANG === "zh" ? a.message : undefined }, trMessage(a.message)), el("td", {}, ackCell(a, after))));
}

const ALERT_COLS = [
  ["first_ts", "col.first_ts"], ["ts", "col.ts"], ["device", "col.device"], ["port", "col.port"],
  ["kind", "col.kind"], ["severity", "col.severity"], ["state", "col.state"], ["message", "col.message"],
  ["acked_by", "col.ack"],
];

function sortedAlerts(alerts) {
  const f = alertFilter;
  const rank = { info: 0, warning: 1, critical: 2 };
  const key = (a) => (f.sort === "severity" ? rank[a.severity] : a[f.sort] ?? "");
  return alerts
    .filter((a) => f.state === "all" || (f.state === "open" ? a.state !== "resolved" : a.state === "resolved"))
    .filter((a) => f.severity === "all" || a.severity === f.severity)
    .filter((a) => !f.device || a.device.includes(f.device))
    .filter((a) => !f.unacked || !a.acked_by)
    .sort((x, y) => {
      const a = key(x), b = key(y);
      const c = a < b ? -1 : a > b ? 1 : 0;
      return f.desc ? -c : c;
    });
}

function select(id, value, options, onChange) {
  return el("select", { id, on: { change: (e) => onChange(e.target.value) } },
    ...options.map(([v, label]) => el("option", { value: v, selected: v === value }, label)));
}

async function renderAlerts(root) {
  const alerts = await api("/api/alerts");
  const rerender = () => refreshView();
  const f = alertFilter;
  root.appendChild(el("h2", {}, t("alerts.title")));
  root.appendChild(el("div", { class: "filters" },
    el("label", {}, t("alerts.filter.state") + " ", select("f-state", f.state,
      [["all", t("alerts.filter.all")], ["open", t("alerts.filter.open")], ["closed", t("alerts.filter.closed")]],
      (v) => { f.state = v; rerender(); })),
    el("label", {}, t("alerts.filter.severity") + " ", select("f-severity", f.severity,
      [["all", t("alerts.filter.all")], ...["critical", "warning", "info"].map((s) => [s, tr("severity", s)])],
      (v) => { f.severity = v; rerender(); })),
    el("label", {}, t("alerts.filter.device") + " ", el("input", { id: "f-device", value: f.device,
      on: { change: (e) => { f.device = e.target.value.trim(); rerender(); } } })),
    el("label", {}, el("input", { id: "f-unacked", type: "checkbox", checked: f.unacked,
      on: { change: (e) => { f.unacked = e.target.checked; rerender(); } } }), " " + t("alerts.filter.unacked"))));
  const shown = sortedAlerts(alerts);
  root.appendChild(el("p", { class: "muted", id: "alert-count" }, t("alerts.count", { n: shown.length })));
  const heads = ALERT_COLS.map(([key, label]) => el("th", {
    class: "sortable" + (f.sort === key ? (f.desc ? " sorted-desc" : " sorted-asc") : ""), data: { sort: key },
    on: { click: () => { f.desc = f.sort === key ? !f.desc : true; f.sort = key; rerender(); } },
  }, t(label)));
  root.appendChild(table(heads, alertRows(shown, rerender)));
  if (shown.length === 0) root.appendChild(el("p", { class: "muted" }, t("alerts.empty")));
}

async function renderAlert(root, id) {
  const alerts = await api("/api/alerts");
  const a = alerts.find((x) => x.id === id);
  root.appendChild(el("h2", {}, t("alert.title")));
  if (!a) { root.appendChild(el("p", { class: "bad" }, t("alert.not_found"))); return; }
  const heads = ALERT_COLS.map(([, label]) => t(label));
  root.appendChild(table(heads, alertRows([a], () => refreshView())));
  if (a.port !== null && a.port !== undefined) {
    root.appendChild(el("p", {}, el("a", { href: `#/port/${encodeURIComponent(a.device)}/${a.port}` },
      t("port.title", { device: a.device, n: a.port + 1 }))));
  }
  root.appendChild(el("h2", {}, t("alert.evidence")));
  const box = el("div", { id: "evidence" });
  root.appendChild(box);
  let ev;
  try {
    ev = await api(`/api/alerts/${encodeURIComponent(id)}/evidence`);
  } catch (e) {
    if (e.status !== 404) throw e;
    box.appendChild(el("p", { class: "muted", id: "no-evidence" }, t("alert.no_evidence")));
    return;
  }
  const base = `/api/alerts/${encodeURIComponent(id)}/evidence`;
  box.appendChild(el("p", {},
    downloadLink(base + ".csv", `evidence-${id}.csv`, t("alert.download_csv")), " · ",
    downloadLink(base, `evidence-${id}.json`, t("alert.download_json")), " · ",
    ev.sealed ? t("alert.sealed") : t("alert.unsealed"), ev.sha256 ? ` · ${t("alert.checksum")} ${ev.sha256}` : "",
    ev.rebuilt ? ` · ${t("alert.rebuilt", { missing: ev.rebuilt.seqs_missing })}` : ""));
  // one chart per physical quantity (codes and counters stay in the downloads)
  const markers = [{ ts: seconds(ev.alert_ts), color: "#c62828" },
    ...(ev.events || []).map((e) => ({ ts: seconds(e.ts), color: "#757575", dash: true }))];
  const range = [seconds(ev.window.start), seconds(ev.window.end)];
  for (const [unit, shown] of EVIDENCE_UNITS) {
    const lines = ev.series.filter((s) => s.unit === unit && s.points.length > 0).map((s) => ({
      label: tr("field", s.name) + (s.scope === "port" && s.port !== null ? ` (${portLabel(s.port)})` : ""),
      unit: shown, points: s.points,
    }));
    if (lines.length > 0) timeChart(box, `${t("alert.evidence_chart")} (${shown})`, lines, markers, range);
  }
}

const EVIDENCE_UNITS = [["degC", "°C"], ["W", "W"], ["A", "A"], ["V", "V"]];

// --- port page --------------------------------------------------------------------------------
async function renderPort(root, device, wire) {
  const grid = await loadGrid();
  const pile = grid.piles.find((p) => p.device === device);
  const port = pile && pile.ports.find((p) => p.port === wire);
  root.appendChild(el("p", {}, el("a", { href: "#/" }, t("port.back"))));
  root.appendChild(el("h2", { id: "port-title" }, t("port.title", { device, n: wire + 1 }), " · ",
    el("span", { class: "port-state s-" + (port ? port.state : "offline") }, t("state." + (port ? port.state : "offline")))));
  if (WHO.can_command) root.appendChild(stopButton(device, wire));
  root.appendChild(el("p", {}, el("label", {}, t("port.window") + " ", select("f-window", String(portWindow),
    [["3600", t("port.window.h1")], ["21600", t("port.window.h6")], ["86400", t("port.window.d1")]],
    (v) => { portWindow = Number(v); refreshView(); }))));
  const q = `device=${encodeURIComponent(device)}&port=${wire}&since=${portWindow}`;
  const [temp, power, alerts, sessions] = await Promise.all([
    api(`/api/series?${q}&field=socket_temp`), api(`/api/series?${q}&field=power`),
    api("/api/alerts"), api(`/api/sessions?device=${encodeURIComponent(device)}&since=${NOW - portWindow}&until=${NOW + 1}`),
  ]);
  const mine = alerts.filter((a) => a.device === device && (a.port === wire || a.port === null));
  const ses = sessions.filter((s) => s.port_index === wire);
  const markers = [
    ...mine.map((a) => ({ ts: seconds(a.first_ts), color: "#c62828" })),
    ...ses.map((s) => ({ ts: seconds(s.start), color: "#2e7d32", dash: true })),
    ...ses.map((s) => ({ ts: seconds(s.end), color: "#757575", dash: true })),
  ];
  const range = [NOW - portWindow, NOW];
  timeChart(root, t("port.temp_chart"), [{ label: t("port.temp_chart"), unit: "°C", points: temp.points, color: "#e53935" }], markers, range);
  timeChart(root, t("port.power_chart"), [{ label: t("port.power_chart"), unit: "W", points: power.points, color: "#1e88e5" }], markers, range);
  root.appendChild(el("p", { class: "muted" }, t("port.markers")));
  root.appendChild(el("h2", {}, t("nav.alerts")));
  root.appendChild(table(ALERT_COLS.map(([, l]) => t(l)), alertRows(mine, () => refreshView())));
  root.appendChild(el("h2", {}, t("nav.sessions")));
  root.appendChild(sessionTable(ses));
  root.appendChild(el("h2", {}, t("port.commands")));
  const cmds = await api(`/api/commands?device=${encodeURIComponent(device)}`);
  root.appendChild(table([t("col.time"), t("col.port"), t("col.point"), t("col.value"), t("col.result"), t("col.operator")],
    cmds.filter((c) => c.port === undefined || c.port === null || String(c.port) === String(wire)).map((c) => el("tr", { class: "command", data: { id: c.id || "" } },
      el("td", {}, fmtTime(c.ts)), el("td", {}, c.port === undefined || c.port === null ? "–" : portLabel(Number(c.port))),
      el("td", {}, c.point || ""), el("td", {}, c.value === undefined ? "" : String(c.value)),
      el("td", {}, c.result || ""), el("td", {}, c.operator || "")))));
}

// survives the page's live re-renders: the armed (confirm) step and the last result
const stopState = { key: "", armedUntil: 0, note: "", cls: "" };

function stopButton(device, wire) {
  const key = `${device}/${wire}`;
  if (stopState.key !== key) Object.assign(stopState, { key, armedUntil: 0, note: "", cls: "" });
  const armed = () => Date.now() < stopState.armedUntil;
  const msg = el("span", { id: "stop-msg", class: stopState.cls }, stopState.note);
  const btn = el("button", { type: "button", class: "stop" + (armed() ? " confirm" : ""), id: "stop", on: { click: async () => {
    if (!armed()) {
      stopState.armedUntil = Date.now() + 5000;
      btn.textContent = t("port.stop_confirm");
      btn.classList.add("confirm");
      return;
    }
    stopState.armedUntil = 0;
    btn.disabled = true;
    try {
      const sent = await guarded(() => api("/api/commands", { method: "POST",
        json: { device, point: "relay_on", port: wire, value: 0, ...actorField("operator") } }));
      Object.assign(stopState, { note: t("port.stop_sent", { id: sent.id }), cls: "good" });
    } catch (e) {
      Object.assign(stopState, { note: t("port.stop_failed", { error: e.message }), cls: "bad" });
    }
    msg.textContent = stopState.note;
    msg.className = stopState.cls;
    btn.disabled = false;
    btn.textContent = t("port.stop");
    btn.classList.remove("confirm");
  } } }, armed() ? t("port.stop_confirm") : t("port.stop"));
  return el("p", {}, btn, " ", msg);
}

// --- sessions -----------------------------------------------------------------------------------
function money(amount, currency) {
  return `${Number(amount).toFixed(2)} ${currency === "CNY" && LANG === "zh" ? "元" : currency}`;
}

function fee(s) {
  return s.fee ? money(s.fee.total, s.fee.currency) : "–";
}

// A link that downloads with the login's Authorization header (a plain href would not send it).
function downloadLink(href, filename, label) {
  return el("a", { href, download: filename, on: { click: async (e) => {
    e.preventDefault();
    const resp = await guarded(() => api(href, { raw: true }));
    if (!resp.ok) { showError(t("error.load", { error: resp.status })); return; }
    const url = URL.createObjectURL(await resp.blob());
    const a = el("a", { href: url, download: filename });
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } } }, label);
}

function sessionTable(sessions) {
  return table(
    [t("col.device"), t("col.port"), t("col.start"), t("col.end"), t("col.duration"), t("col.reason"),
      t("col.energy"), t("col.peak_w"), t("col.peak_temp"), t("col.alerts"), t("col.fee")],
    sessions.slice().reverse().map((s) => el("tr", { class: "session", data: { device: s.device, port: String(s.port_index) } },
      el("td", {}, s.device), el("td", {}, t("port.n", { n: s.port })), el("td", {}, fmtTime(s.start)),
      el("td", {}, fmtTime(s.end)), el("td", {}, fmtNum((s.duration_s || 0) / 60)),
      el("td", {}, tr("reason", s.end_reason)), el("td", {}, fmtNum(s.energy_kwh, 3)),
      el("td", {}, fmtNum(s.peak_w, 0)), el("td", {}, fmtNum(s.peak_temp_c)),
      el("td", {}, String(s.alerts ? s.alerts.count : 0)), el("td", { class: "fee" }, fee(s)))));
}

async function renderSessions(root) {
  await loadGrid();
  const range = `since=${NOW - 7 * 86400}&until=${NOW + 1}`;
  const sessions = await api(`/api/sessions?${range}`);
  root.appendChild(el("h2", {}, t("sessions.title")));
  const kwh = sessions.reduce((a, s) => a + (s.energy_kwh || 0), 0);
  const total = sessions.reduce((a, s) => a + (s.fee ? s.fee.total : 0), 0);
  root.appendChild(el("p", { id: "sessions-total" },
    t("sessions.total", { n: sessions.length, kwh: kwh.toFixed(3), fee: money(total, sessions.length ? sessions[0].fee.currency : "CNY") }), " · ",
    downloadLink(`/api/sessions.csv?${range}&lang=${LANG}`, "sessions.csv", t("sessions.export"))));
  root.appendChild(sessionTable(sessions));
  if (sessions.length === 0) root.appendChild(el("p", { class: "muted" }, t("sessions.empty")));
}
