import { createFetch, on } from "staunch";

const log = document.getElementById("log");
const result = document.getElementById("result");

const note = (text, cls) => {
  const li = document.createElement("li");
  li.textContent = text;
  if (cls) li.className = cls;
  log.append(li);
};

// Every retry is shown as it happens: staunch emits a fetch-retry event before each backoff sleep.
const fetchWithRetries = createFetch({
  attempts: 4,
  backoff: { initialMs: 100, maxMs: 1_000 },
  totalTimeoutMs: 10_000,
  telemetry: on("fetch-retry", ({ attempt, status, errorName, delayMs }) =>
    note(`attempt ${attempt} failed (${status ?? errorName}); retrying in ${delayMs} ms`, "bad"),
  ),
});

document.getElementById("go").addEventListener("click", async () => {
  log.replaceChildren();
  result.textContent = "…";
  const session = crypto.randomUUID();
  const started = performance.now();
  try {
    const res = await fetchWithRetries(`/flaky?session=${session}`);
    const body = await res.text();
    note(`answered ${res.status}: ${body}`, "ok");
    result.textContent = `${res.status} after ${log.children.length} attempts in ${Math.round(performance.now() - started)} ms`;
    result.dataset.session = session;
  } catch (error) {
    result.textContent = `failed: ${error}`;
  }
});
