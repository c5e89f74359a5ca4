// Alert messages in the operator's language. The analytics and the gateway write each alert's
// message once, in English (logs, API, MQTT and stored history keep that one text); the control
// room shows it in Chinese through the patterns of messages_zh.json, which notifications and the
// daily report use too (gateway/alert_text.py). A message is split at "; " and each part matched
// on its own; {n} in a template is the n-th group, {n:dict} its name in that dictionary. A part
// no pattern knows is shown as it came, so a new message form is never hidden, only untranslated.
"use strict";

let MESSAGE_ZH = { patterns: [], dicts: {} };

async function loadMessages() {
  const resp = await fetch("/static/messages_zh.json", { cache: "no-cache" });
  if (!resp.ok) throw new Error(`messages_zh.json: HTTP ${resp.status}`);
  const doc = await resp.json();
  MESSAGE_ZH = { patterns: doc.patterns.map(([p, zh]) => [new RegExp(p), zh]), dicts: doc.dicts };
}

function zhPart(part) {
  for (const [re, template] of MESSAGE_ZH.patterns) {
    const m = re.exec(part);
    if (m === null || m[0] !== part) continue;
    return template.replace(/\{(\d+)(?::(\w+))?\}/g, (_ph, n, dict) => {
      const value = m[Number(n)] ?? "";
      return (MESSAGE_ZH.dicts[dict] || {})[value] ?? value;
    });
  }
  return part;
}

// `message` in the current language (Chinese through messages_zh.json; English as written).
function trMessage(message) {
  if (!message || LANG !== "zh") return message || "";
  return message.split("; ").map(zhPart).join("；");
}
