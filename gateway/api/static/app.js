// The control room's shell: routing by location.hash, header (health, live state, login,
// language), live refresh driven by the server's event stream.
"use strict";

const ROUTES = [
  [/^#\/alerts$/, (root) => renderAlerts(root), "nav-alerts"],
  // #/alerts/<id> too: the link notifications carry
  [/^#\/alerts?\/(.+)$/, (root, m) => renderAlert(root, decodeURIComponent(m[1])), "nav-alerts"],
  [/^#\/sessions$/, (root) => renderSessions(root), "nav-sessions"],
  [/^#\/port\/([^/]+)\/(\d+)$/, (root, m) => renderPort(root, decodeURIComponent(m[1]), Number(m[2])), "nav-grid"],
  [/^.*$/, (root) => renderGrid(root), "nav-grid"],
];
let rendering = null;
let again = false;
let lastRender = 0;
let timer = null;

function showError(text) {
  const box = document.getElementById("error");
  box.textContent = text;
  box.hidden = !text;
}

// Runs a state-changing call; on 401/403 opens the login box with the reason, then rethrows.
async function guarded(call) {
  try {
    return await call();
  } catch (e) {
    if (e.status === 401 || e.status === 403) {
      document.getElementById("login").hidden = false;
      document.getElementById("login-msg").textContent = t("login.needed") + "（" + e.message + "）";
    }
    throw e;
  }
}

// Renders the current route into a fresh container, then swaps it in (no flicker); calls that
// arrive while one runs are folded into one more run.
async function refreshView() {
  if (rendering) { again = true; return rendering; }
  rendering = (async () => {
    do {
      again = false;
      const hash = location.hash || "#/";
      const [re, render, nav] = ROUTES.find(([r]) => r.test(hash));
      for (const a of document.querySelectorAll("header nav a")) a.classList.toggle("active", a.id === nav);
      const next = el("main", { id: "view" });
      next.style.minHeight = document.getElementById("view").offsetHeight + "px";
      try {
        await render(next, hash.match(re));
        showError("");
      } catch (e) {
        next.appendChild(el("p", { class: "bad" }, t("error.load", { error: e.message })));
        if (e.status === 401) { // this gateway wants a login even to read
          document.getElementById("login").hidden = false;
          document.getElementById("login-msg").textContent = t("login.read");
        }
      }
      document.getElementById("view").replaceWith(next);
      next.style.minHeight = "";
      lastRender = Date.now();
    } while (again);
    rendering = null;
  })();
  return rendering;
}

// At most one refresh per second however fast events arrive, and always one after the last.
function scheduleRefresh() {
  if (timer) return;
  const gap = /^#\/port\//.test(location.hash) ? 5000 : 1000; // charts refetch less often
  const wait = Math.max(0, gap - (Date.now() - lastRender));
  timer = setTimeout(() => { timer = null; refreshView(); refreshHealth(); }, wait);
}

async function refreshHealth() {
  const box = document.getElementById("health");
  try {
    const resp = await api("/health", { raw: true });
    const h = await resp.json();
    box.textContent = h.status === "ok" ? t("health.ok") : `${t("health.degraded")}: ${h.reasons.join("; ")}`;
    box.className = "pill " + (h.status === "ok" ? "ok" : "bad");
  } catch (_e) {
    box.textContent = t("health.unreachable");
    box.className = "pill bad";
  }
}

function showWho() {
  const who = document.getElementById("who");
  // anonymous but allowed to act: a loopback gateway without users ("local access")
  const role = WHO.role === "anonymous" && WHO.can_ack ? "open" : WHO.role;
  who.textContent = (WHO.user ? WHO.user + " · " : "") + t("role." + role);
  document.getElementById("logout").hidden = !authHeader();
}

let live = false;
let streamAbort = new AbortController();

function setLive(on) {
  live = on;
  const box = document.getElementById("live");
  box.textContent = on ? t("live.on") : t("live.off");
  box.className = "pill " + (on ? "ok" : "bad");
  box.dataset.live = on ? "1" : "0";
}

function startStream() {
  streamAbort.abort();
  streamAbort = new AbortController();
  eventStream((kind) => {
    if (kind !== "hello") scheduleRefresh();
    else refreshView();
  }, setLive, streamAbort.signal);
}

async function relogin() {
  await loadWho();
  showWho();
  startStream(); // the stream carries the new Authorization too
  await refreshView();
}

function setupHeader() {
  document.getElementById("lang").addEventListener("click", () => {
    setLang(LANG === "zh" ? "en" : "zh");
    setLive(live);
    showWho();
    refreshHealth();
    refreshView();
  });
  document.getElementById("login-open").addEventListener("click", () => {
    const form = document.getElementById("login");
    form.hidden = !form.hidden;
  });
  document.getElementById("logout").addEventListener("click", () => { setAuth(""); relogin(); });
  document.getElementById("login").addEventListener("submit", async (e) => {
    e.preventDefault();
    const token = document.getElementById("login-token").value.trim();
    const user = document.getElementById("login-user").value.trim();
    const password = document.getElementById("login-password").value;
    const value = token ? "Bearer " + token
      : user ? "Basic " + btoa(String.fromCharCode(...new TextEncoder().encode(user + ":" + password))) : "";
    const previous = authHeader();
    setAuth(value);
    try {
      await api("/api/whoami");
    } catch (err) {
      if (err.status === 401 || err.status === 403) {
        setAuth(previous);
        document.getElementById("login-msg").textContent = t("login.failed");
        return;
      }
    }
    document.getElementById("login-msg").textContent = "";
    document.getElementById("login").hidden = true;
    await relogin();
  });
}

window.addEventListener("hashchange", () => refreshView());
window.addEventListener("DOMContentLoaded", async () => {
  setLang(LANG);
  setupHeader();
  setLive(false);
  try { await loadWho(); } catch (e) { showError(t("error.load", { error: e.message })); }
  try { await loadMessages(); } catch (e) { showError(t("error.load", { error: e.message })); }
  showWho();
  refreshHealth();
  startStream();
  await refreshView();
});
