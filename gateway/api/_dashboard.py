"""The dashboard page: plain HTML and fetch against the JSON API, no build step.

Kept as a Python constant so it ships inside the package without package-data rules.
Every value from the API is inserted with ``textContent`` (never ``innerHTML``), so device ids
or alert messages cannot inject markup. State-changing requests send ``X-ChargeWatch-CSRF: 1``
(the server's guard against cross-site form posts) and the bearer token when one was given.
"""

DASHBOARD_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ChargeWatch gateway</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
 h1{font-size:1.3em} h2{font-size:1.1em;margin-top:1.5em}
 table{border-collapse:collapse;min-width:40em}
 td,th{border-bottom:1px solid #ddd;padding:.3em .6em;text-align:left}
 .ok{color:#176d2c} .bad{color:#b00020;font-weight:600} .muted{color:#777}
 button{font:inherit}
</style></head>
<body>
<h1>ChargeWatch gateway <span id="status" class="muted">…</span></h1>
<div id="health" class="muted"></div>
<h2>Fleet</h2>
<table><thead><tr><th>device</th><th>state</th><th>last seen (s ago)</th><th>model</th>
<th>max socket °C</th><th>total power W</th></tr></thead><tbody id="devices"></tbody></table>
<h2>Alerts</h2>
<table><thead><tr><th>id</th><th>state</th><th>severity</th><th>message</th><th>ack</th></tr></thead>
<tbody id="alerts"></tbody></table>
<script>
function cell(tr, text, cls){
  const td=document.createElement('td'); td.textContent=text;
  if(cls) td.className=cls;
  tr.appendChild(td); return td}
function fmt(x){return (x===null||x===undefined)?'–':(typeof x==='number'?x.toFixed(1):String(x))}
async function ack(id){
  const post=()=>fetch('/api/alerts/'+encodeURIComponent(id)+'/ack',
    {method:'POST',headers:{'content-type':'application/json','x-chargewatch-csrf':'1',
      'authorization':'Bearer '+(sessionStorage.getItem('cw-token')||'')},
     body:JSON.stringify({user:'dashboard'})});
  let r=await post();
  if(r.status===401){
    sessionStorage.setItem('cw-token', prompt('API token to acknowledge alerts')||'');
    r=await post();
  }
  refresh();
}
async function refresh(){
  try{
    const h=await (await fetch('/health')).json();
    const s=document.getElementById('status');
    s.textContent=h.status; s.className=h.status==='ok'?'ok':'bad';
    document.getElementById('health').textContent=
      'mqtt '+(h.mqtt_connected?'connected':'DOWN')+' · spool depth '+h.spool_depth+
      ' · degraded '+h.degraded+' · dead letters '+h.dead_letters;
    const devs=await (await fetch('/api/devices')).json();
    const tb=document.getElementById('devices'); tb.replaceChildren();
    for(const d of devs){const tr=document.createElement('tr');
      cell(tr,d.device); cell(tr,d.online?'online':'offline',d.online?'ok':'bad');
      cell(tr,fmt(d.last_seen_s)); cell(tr,d.model||'–');
      cell(tr,fmt(d.max_socket_temp)); cell(tr,fmt(d.total_power));
      tb.appendChild(tr)}
    const alerts=await (await fetch('/api/alerts')).json();
    const ta=document.getElementById('alerts'); ta.replaceChildren();
    for(const a of alerts){const tr=document.createElement('tr');
      cell(tr,a.id); cell(tr,a.state,a.state==='firing'?'bad':''); cell(tr,a.severity); cell(tr,a.message);
      const td=cell(tr,a.acked_by?('by '+a.acked_by):'');
      if(!a.acked_by){
        const b=document.createElement('button'); b.textContent='acknowledge';
        b.onclick=()=>ack(a.id); td.appendChild(b)}
      ta.appendChild(tr)}
  }catch(e){document.getElementById('status').textContent='unreachable'}
}
refresh(); setInterval(refresh, 2000);
</script></body></html>
"""
