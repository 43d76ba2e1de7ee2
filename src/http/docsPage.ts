/**
 * An interactive API page with no outside scripts (a CDN-hosted viewer would not load on an
 * offline laptop or behind a strict CSP): it reads openapi.json, lists every operation, and
 * lets you send requests with your token.
 */
export const docsPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Edge matcher API</title>
<style>
 body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:0 auto;padding:1rem;color:#1b1f24}
 h1{font-size:1.4rem} details{border:1px solid #d0d7de;border-radius:6px;margin:.5rem 0;padding:.4rem .8rem}
 summary{cursor:pointer;font-weight:600} code,pre,textarea,input{font:13px ui-monospace,monospace}
 .m{display:inline-block;min-width:4.2rem;text-transform:uppercase} textarea{width:100%;min-height:4rem}
 input{width:100%} pre{background:#f6f8fa;padding:.5rem;overflow:auto;max-height:20rem}
 button{margin:.3rem 0;padding:.3rem .9rem} :focus-visible{outline:3px solid #0969da;outline-offset:2px}
</style></head><body>
<h1>Edge matcher API</h1>
<p>Generated from <a href="/api/v1/matching/openapi.json">openapi.json</a>. Paste a token (locally: <code>npm run token -- alice</code>) to try requests.</p>
<label for="token">Bearer token</label><input id="token" autocomplete="off">
<div id="ops" aria-live="polite">Loading…</div>
<script>
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;"}[c]));
fetch("/api/v1/matching/openapi.json").then((r) => r.json()).then((doc) => {
  const base = doc.servers[0].url, ops = document.getElementById("ops");
  ops.innerHTML = "";
  let n = 0;
  for (const [path, item] of Object.entries(doc.paths)) for (const [method, op] of Object.entries(item)) {
    if (method === "parameters") continue;
    const id = "op" + n++, params = item.parameters || [];
    const el = document.createElement("details");
    el.innerHTML = '<summary><span class="m">' + method + '</span> <code>' + esc(base + path) + '</code> — ' + esc(op.summary) + '</summary>'
      + params.map((p, i) => '<label for="' + id + 'p' + i + '">' + esc(p.name) + '</label><input id="' + id + 'p' + i + '">').join("")
      + (op.requestBody ? '<label for="' + id + 'b">JSON body</label><textarea id="' + id + 'b">' + esc(JSON.stringify(example(op.requestBody.content["application/json"].schema), null, 1)) + '</textarea>' : "")
      + '<button type="button">Send</button><pre aria-label="response"></pre>'
      + '<p>Responses: ' + Object.entries(op.responses).map(([k, v]) => '<b>' + k + '</b> ' + esc(v.description)).join("; ") + '</p>';
    el.querySelector("button").onclick = async () => {
      let url = base + path;
      params.forEach((p, i) => { url = url.replace("{" + p.name + "}", encodeURIComponent(document.getElementById(id + "p" + i).value)); });
      const headers = { "content-type": "application/json" }, token = document.getElementById("token").value.trim();
      if (token) headers.authorization = "Bearer " + token;
      const body = op.requestBody ? document.getElementById(id + "b").value : undefined;
      const res = await fetch(url, { method: method.toUpperCase(), headers, body });
      el.querySelector("pre").textContent = res.status + " " + res.statusText + "\\n" + await res.text();
    };
    ops.append(el);
  }
});
function example(schema) {
  const out = {};
  for (const [k, v] of Object.entries(schema.properties || {})) out[k] = v.type === "boolean" ? true : k === "difficulty" ? "easy" : k === "topic" ? "arrays" : "";
  return out;
}
</script></body></html>`;
