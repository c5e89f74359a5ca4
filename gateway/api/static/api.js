// The gateway's API as the page uses it: every request carries the login (Authorization) when
// there is one, state-changing requests also the anti-CSRF header; live updates arrive over
// GET /api/events read with fetch() (EventSource cannot send an Authorization header).
"use strict";

const AUTH_KEY = "cw-auth";
// What the server lets this user do; /api/whoami answers it (404: a gateway without roles,
// where the optional API token is the only guard and the page may try everything).
let WHO = { user: null, role: "open", can_ack: true, can_command: true };

function authHeader() {
  return sessionStorage.getItem(AUTH_KEY) || "";
}

function setAuth(value) {
  if (value) sessionStorage.setItem(AUTH_KEY, value);
  else sessionStorage.removeItem(AUTH_KEY);
}

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  const auth = authHeader();
  if (auth) headers["Authorization"] = auth;
  const method = options.method || "GET";
  let body;
  if (method !== "GET") {
    headers["X-ChargeWatch-CSRF"] = "1";
    if (options.json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(options.json);
    }
  }
  const resp = await fetch(path, { method, headers, body, signal: options.signal });
  if (options.raw) return resp;
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_e) { data = { error: text.slice(0, 200) }; }
  if (!resp.ok) throw new ApiError(resp.status, (data && data.error) || resp.statusText);
  return data;
}

async function loadWho() {
  try {
    WHO = await api("/api/whoami");
  } catch (e) {
    if (e.status === 404) WHO = { user: null, role: "open", can_ack: true, can_command: true };
    else if (e.status === 401) { setAuth(""); WHO = { user: null, role: "anonymous", can_ack: false, can_command: false }; }
    else throw e;
  }
  return WHO;
}

// The name field of an acknowledgement or command: none when signed in (the server records the
// authenticated user and refuses another name), else "dashboard".
function actorField(key) {
  return WHO.user ? {} : { [key]: "dashboard" };
}

// Reads the server's event stream until `signal` aborts; calls onEvent(kind, data) per event and
// onState(true/false) when the stream opens or drops; reconnects after a pause.
async function eventStream(onEvent, onState, signal) {
  while (!signal.aborted) {
    try {
      const resp = await api("/api/events", { raw: true, signal });
      if (!resp.ok || !resp.body) throw new ApiError(resp.status, "event stream refused");
      onState(true);
      const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let cut;
        while ((cut = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          let kind = "message";
          let data = "";
          for (const line of block.split("\n")) {
            if (line.startsWith("event: ")) kind = line.slice(7);
            else if (line.startsWith("data: ")) data += line.slice(6);
          }
          if (data) onEvent(kind, JSON.parse(data));
        }
      }
    } catch (e) {
      if (signal.aborted) return;
      console.warn("event stream", e);
    }
    onState(false);
    await new Promise((r) => setTimeout(r, 2000));
  }
}
