/**
 * The dashboard page: plain HTML and a little JavaScript that polls `/__staunch/state` and draws each
 * proxied request as a timeline of attempts, plus each breaker's state and buttons for the demo's failures.
 */

export const dashboardHtml = /* html */ `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>staunch · edge resilience demo</title>
<style>
  :root { font-family: system-ui, sans-serif; color: #1d2430; background: #f6f7f9; }
  body { margin: 0 auto; max-width: 1100px; padding: 24px; }
  h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 15px; margin: 24px 0 8px; text-transform: uppercase; letter-spacing: .05em; color: #5a6473; }
  p.lead { margin: 0 0 16px; color: #5a6473; }
  .controls { display: flex; flex-wrap: wrap; gap: 8px; }
  button { font: inherit; font-size: 14px; padding: 7px 12px; border: 1px solid #c9ced6; border-radius: 6px; background: #fff; cursor: pointer; }
  button:hover { border-color: #6b7a90; } button.danger { border-color: #d9534f; color: #b52b27; }
  .breakers { display: flex; gap: 12px; flex-wrap: wrap; }
  .breaker { background: #fff; border: 1px solid #dde1e7; border-radius: 8px; padding: 10px 14px; min-width: 220px; }
  .breaker .state { font-weight: 600; }
  .closed { color: #1e7d32; } .open { color: #c62828; } .half-open { color: #b26a00; } .isolated { color: #6a1b9a; }
  table { width: 100%; border-collapse: collapse; background: #fff; border: 1px solid #dde1e7; border-radius: 8px; overflow: hidden; }
  th, td { text-align: left; padding: 8px 10px; border-bottom: 1px solid #eef0f3; font-size: 13px; vertical-align: top; }
  th { background: #fafbfc; color: #5a6473; font-weight: 600; }
  .chip { display: inline-block; padding: 2px 7px; margin: 0 4px 4px 0; border-radius: 10px; font-size: 12px; background: #eef0f3; white-space: nowrap; }
  .chip.ok { background: #e3f4e5; color: #1e6b2a; } .chip.bad { background: #fbe4e4; color: #9c2020; } .chip.wait { background: #fff4d6; color: #7a5b00; }
  .badge { font-weight: 600; } .badge.origin { color: #1e7d32; } .badge.stale { color: #b26a00; } .badge.error { color: #c62828; }
  code { font-size: 12px; }
  .muted { color: #8a93a0; }
</style>
</head>
<body>
<h1>staunch at the edge</h1>
<p class="lead">Each request to <code>/api/*</code> goes through staunch's <code>createFetch</code> (retries with jitter and a budget, timeouts, a breaker per route of the upstream) and falls back to a stale copy from the Cache API when the upstream fails. Upstream: <code id="upstream">…</code></p>

<h2>Send a request</h2>
<div class="controls">
  <button id="btn-ok" data-path="/api/data">Healthy</button>
  <button id="btn-flaky" data-path="/api/data?fail=0.5">Flaky (50% 503)</button>
  <button id="btn-retry-after" data-path="/api/data?status=503&amp;retryAfter=1">503 + Retry-After: 1</button>
  <button id="btn-stall" data-path="/api/data?stall=1">Stall (attempt timeouts)</button>
  <button id="btn-down" data-path="/api/data?down=1">Origin down</button>
  <button id="btn-outage" class="danger">Take the origin down for 20 s</button>
  <button id="btn-reset">Reset</button>
</div>
<p class="muted" id="last">No request sent yet.</p>

<h2>Circuit breakers</h2>
<div class="breakers" id="breakers"><span class="muted">No upstream called yet.</span></div>
<p class="muted" id="fleet"></p>

<h2>Recent requests</h2>
<table>
  <thead><tr><th>Request</th><th>Attempts (delay before each, outcome, duration)</th><th>Answer</th><th>Total</th></tr></thead>
  <tbody id="timeline"><tr><td colspan="4" class="muted">Nothing yet: press a button above.</td></tr></tbody>
</table>

<script>
const $ = (id) => document.getElementById(id);
// With CONTROL_SECRET set, open the page as /#secret=<secret>: a fragment never leaves the browser.
const secret = new URLSearchParams(location.hash.slice(1)).get("secret");
const control = (path, init = {}) =>
  fetch(path, { ...init, headers: secret ? { authorization: "Bearer " + secret } : {} });
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

async function send(path) {
  $("last").textContent = "Sending " + path + " …";
  const started = performance.now();
  // no-store: the demo origin says max-age=5, and the browser would answer a repeated click itself.
  const res = await fetch(path, { cache: "no-store" });
  await res.text();
  const ms = Math.round(performance.now() - started);
  const stale = res.headers.get("staunch-fallback");
  $("last").textContent = path + " → " + res.status + (stale ? " (stale copy, age " + res.headers.get("age") + " s)" : "") +
    " after " + res.headers.get("staunch-attempts") + " attempt(s), " + ms + " ms";
  refresh();
}

for (const button of document.querySelectorAll("button[data-path]")) {
  button.addEventListener("click", () => send(button.dataset.path));
}
$("btn-outage").addEventListener("click", async () => { await control("/__staunch/outage?seconds=20", { method: "POST" }); refresh(); });
$("btn-reset").addEventListener("click", async () => { await control("/__staunch/reset", { method: "POST" }); refresh(); });

function attemptChip(a) {
  const wait = a.delayBeforeMs > 0 ? '<span class="chip wait">wait ' + a.delayBeforeMs + ' ms</span>' : "";
  const good = a.outcome !== undefined && /^[23]/.test(a.outcome);
  const cls = a.outcome === undefined ? "" : good ? "ok" : "bad";
  const text = "#" + a.attempt + " " + (a.outcome ?? "…") + (a.durationMs !== undefined ? " · " + a.durationMs + " ms" : "");
  return wait + '<span class="chip ' + cls + '" data-outcome="' + esc(a.outcome ?? "") + '">' + esc(text) + "</span>";
}

function answerCell(r) {
  if (!r.result) return '<span class="muted">waiting…</span>';
  const { status, source, reason, ageSeconds } = r.result;
  const label = source === "stale" ? "stale copy" + (ageSeconds !== undefined ? ", age " + ageSeconds + " s" : "") : source === "error" ? "error" : "fresh";
  return '<span class="badge ' + source + '" data-source="' + source + '">' + status + " · " + esc(label) + "</span>" +
    (reason ? '<br><span class="muted">because: ' + esc(reason) + "</span>" : "");
}

function render(state) {
  $("upstream").textContent = state.upstream === "demo" ? "built-in demo origin" : state.upstream;
  $("breakers").innerHTML = state.breakers.length === 0 ? '<span class="muted">No upstream called yet.</span>' :
    state.breakers.map((o) => '<div class="breaker" data-key="' + esc(o.key) + '"><code>' + esc(o.key) + '</code><br>circuit: <span class="state ' + esc(o.circuit) + '">' + esc(o.circuit) + "</span>" +
      (o.circuitRetryAfterMs > 0 ? ' <span class="muted">(probe in ' + Math.ceil(o.circuitRetryAfterMs / 1000) + " s)</span>" : "") +
      (o.pausedForMs > 0 ? '<br><span class="muted">paused by Retry-After for ' + Math.ceil(o.pausedForMs / 1000) + " s</span>" : "") + "</div>").join("") +
    (state.outageUntil ? '<div class="breaker"><span class="state open">demo origin down</span><br><span class="muted">for ' + Math.ceil((state.outageUntil - Date.now()) / 1000) + " s more</span></div>" : "");
  $("fleet").innerHTML = !state.fleet || !state.fleet.bound
    ? "Each isolate keeps its own breaker and budget (no Durable Object bound)."
    : "Shared with every isolate through a Durable Object" + (state.fleet.keys.length === 0 ? "." : ": " +
      state.fleet.keys.map((k) => "<code>" + esc(k.key) + "</code> fleet view " + esc(k.circuit ?? "unknown") +
        (k.viewAgeMs !== undefined ? " (" + k.viewAgeMs + " ms old)" : "") + (k.degraded ? ' <span class="state open">unreachable: deciding locally</span>' : "")).join("; ") + ".");
  $("timeline").innerHTML = state.requests.length === 0 ? '<tr><td colspan="4" class="muted">Nothing yet: press a button above.</td></tr>' :
    state.requests.map((r) => '<tr data-request="' + esc(r.id) + '"><td><code>' + esc(r.method + " " + r.path) + "</code></td><td>" +
      (r.attempts.length ? r.attempts.map(attemptChip).join("") : '<span class="muted">no attempt (failed fast)</span>') + "</td><td>" + answerCell(r) + "</td><td>" +
      (r.result ? r.result.totalMs + " ms" : "…") + "</td></tr>").join("");
}

async function refresh() {
  try {
    const res = await control("/__staunch/state");
    if (!res.ok) throw new Error("the state answered " + res.status + (res.status === 401 ? ": open this page as /#secret=<CONTROL_SECRET>" : ""));
    render(await res.json());
  } catch (error) {
    $("last").textContent = "Could not read the state: " + error;
  }
}
refresh();
setInterval(refresh, 1000);
</script>
</body>
</html>
`;
