// The operators' dashboard: the admin's tenant, live, from the admin endpoints
// (`/internal/queues/summary`, `/internal/activity`, `/internal/maintenance`) and `/status`.
// Charts are uPlot (public/build/uplot/, copied by `npm run build:client`), loaded as a global.
/* global uPlot */

const API = "/api/v1/matching";
/** Every 5 s, or every `?every=<seconds>` (at least 1). */
const REFRESH_MS = Math.max(1, Number(new URLSearchParams(location.search).get("every")) || 5) * 1000;
const TOKEN_KEY = "matcher-admin-token";

const $ = (id) => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el;
};

const state = {
  token: sessionStorage.getItem(TOKEN_KEY) ?? "",
  timer: undefined,
  /** @type {Array<{room: string, waiting: number, p50WaitMs: number|null, p95WaitMs: number|null, matchedLastHour: number}>} */
  buckets: [],
  sort: { key: "waiting", descending: true },
  maintenance: undefined,
  charts: { perMinute: undefined, waits: undefined },
  /** The last refresh's failure, so a lasting one is announced once, not every 5 s. */
  failing: "",
};

function announce(text) {
  $("status").textContent = text;
}

// ---- formatting ------------------------------------------------------------------------------

function formatMs(ms) {
  if (ms === null || ms === undefined) return "–";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min ${s % 60} s`;
}

function formatBound(seconds) {
  if (seconds === null) return "longer";
  if (seconds < 1) return `≤ ${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `≤ ${seconds} s`;
  return `≤ ${seconds / 60} min`;
}

const REASONS = {
  declined: "One side declined",
  partner_declined: "Partner declined",
  confirm_timeout: "Not confirmed in time",
  partner_timeout: "Partner did not confirm in time",
  partner_left: "Partner left",
  setup_failed: "Session could not be set up",
};

function roomLabel(room) {
  const dot = room.indexOf(".");
  return dot < 0 ? room : `${room.slice(0, dot)} · ${room.slice(dot + 1)}`;
}

// ---- the API -----------------------------------------------------------------------------------

class Refused extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(method, path, body) {
  const res = await fetch(`${API}${path}`, {
    method,
    headers: {
      ...(path === "/status" ? {} : { authorization: `Bearer ${state.token}` }),
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(8000),
  });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) throw new Refused(res.status, json?.error?.message ?? `${res.status} from ${path}`);
  return json;
}

// ---- the buckets table ---------------------------------------------------------------------------

function sortedBuckets() {
  const { key, descending } = state.sort;
  const dir = descending ? -1 : 1;
  return [...state.buckets].sort((a, b) => {
    const x = a[key];
    const y = b[key];
    // Unknown waits go last whichever way the column is sorted.
    if (x === null && y !== null) return 1;
    if (y === null && x !== null) return -1;
    if (x !== y) return (x < y ? -1 : 1) * dir;
    return a.room < b.room ? -1 : a.room > b.room ? 1 : 0;
  });
}

function renderBuckets() {
  const rows = sortedBuckets().map((b) => {
    const tr = document.createElement("tr");
    tr.dataset.room = b.room;
    const th = document.createElement("th");
    th.scope = "row";
    th.textContent = roomLabel(b.room);
    tr.append(th);
    for (const value of [b.waiting, formatMs(b.p50WaitMs), formatMs(b.p95WaitMs), b.matchedLastHour]) {
      const td = document.createElement("td");
      td.className = "num";
      td.textContent = String(value);
      tr.append(td);
    }
    return tr;
  });
  $("buckets")
    .querySelector("tbody")
    .replaceChildren(...rows);
  $("buckets-empty").hidden = rows.length > 0;
  $("buckets").hidden = rows.length === 0;
  for (const th of $("buckets").querySelectorAll("th[data-key]")) {
    const sorted = th.dataset.key === state.sort.key;
    th.setAttribute("aria-sort", sorted ? (state.sort.descending ? "descending" : "ascending") : "none");
  }
}

for (const th of document.querySelectorAll("#buckets th[data-key]")) {
  th.querySelector("button").addEventListener("click", () => {
    const key = th.dataset.key;
    // A new column starts with its most telling end: names A-Z, figures biggest first.
    state.sort =
      state.sort.key === key
        ? { key, descending: !state.sort.descending }
        : { key, descending: key !== "room" };
    renderBuckets();
    const label = th.textContent.trim();
    announce(`Buckets sorted by ${label}, ${state.sort.descending ? "descending" : "ascending"}.`);
  });
}

// ---- charts ------------------------------------------------------------------------------------

function colours() {
  const css = getComputedStyle(document.documentElement);
  const v = (name) => css.getPropertyValue(name).trim();
  return {
    text: v("--text"),
    muted: v("--muted"),
    grid: v("--border"),
    proposed: v("--accent"),
    confirmed: v("--ok"),
    cancelled: v("--danger"),
    timeout: v("--warn"),
  };
}

function plotWidth(id) {
  return Math.max(260, $(id).clientWidth);
}

function axis(c, extra = {}) {
  return { stroke: c.muted, grid: { stroke: c.grid, width: 1 }, ticks: { stroke: c.grid }, ...extra };
}

function drawPerMinute(minutes) {
  const data = [
    minutes.map((m) => Date.parse(m.at) / 1000),
    minutes.map((m) => m.proposed),
    minutes.map((m) => m.confirmed),
    minutes.map((m) => m.cancelled),
    minutes.map((m) => m.queueTimeouts),
  ];
  if (state.charts.perMinute) {
    state.charts.perMinute.setData(data);
    return;
  }
  const c = colours();
  const line = (label, stroke, dash) => ({ label, stroke, width: 2, dash, points: { show: false } });
  state.charts.perMinute = new uPlot(
    {
      width: plotWidth("c-per-minute"),
      height: 240,
      scales: { y: { range: (_u, _min, max) => [0, Math.max(4, Math.ceil(max * 1.15))] } },
      series: [
        { label: "Minute" },
        line("Proposed", c.proposed),
        line("Confirmed", c.confirmed, [6, 3]),
        line("Cancelled", c.cancelled, [2, 3]),
        line("Queue timeouts", c.timeout, [8, 3, 2, 3]),
      ],
      axes: [axis(c), axis(c, { incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000] })],
    },
    data,
    $("c-per-minute"),
  );
}

function drawWaits(waits) {
  const labels = waits.leSeconds.map(formatBound);
  const data = [labels.map((_, i) => i), waits.counts];
  if (state.charts.waits) {
    state.charts.waits.setData(data);
    return;
  }
  const c = colours();
  state.charts.waits = new uPlot(
    {
      width: plotWidth("c-waits"),
      height: 240,
      legend: { show: false },
      cursor: { points: { show: false } },
      scales: {
        x: { time: false, range: [-0.6, labels.length - 0.4] },
        y: { range: (_u, _min, max) => [0, Math.max(4, Math.ceil(max * 1.15))] },
      },
      series: [
        { label: "Waited" },
        {
          label: "People",
          stroke: c.proposed,
          fill: `${c.proposed}99`,
          width: 1,
          paths: uPlot.paths.bars({ size: [0.7, 60] }),
          points: { show: false },
        },
      ],
      axes: [
        axis(c, {
          grid: { show: false },
          incrs: [1, 2, 3],
          space: 34,
          values: (_u, splits) => splits.map((i) => labels[i] ?? ""),
          rotate: -45,
          size: 64,
        }),
        axis(c, { incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000] }),
      ],
    },
    data,
    $("c-waits"),
  );
}

window.addEventListener("resize", () => {
  for (const [chart, id] of [
    [state.charts.perMinute, "c-per-minute"],
    [state.charts.waits, "c-waits"],
  ]) {
    chart?.setSize({ width: plotWidth(id), height: 240 });
  }
});

function fillTable(id, rows) {
  $(id)
    .querySelector("tbody")
    .replaceChildren(
      ...rows.map((cells) => {
        const tr = document.createElement("tr");
        cells.forEach((value, i) => {
          const cell = document.createElement(i === 0 ? "th" : "td");
          if (i === 0) cell.scope = "row";
          else cell.className = "num";
          cell.textContent = String(value);
          tr.append(cell);
        });
        return tr;
      }),
    );
}

function renderActivity(a) {
  drawPerMinute(a.minutes);
  drawWaits(a.waits);
  const time = (iso) => new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  // Newest first, and only minutes in which something happened.
  fillTable(
    "per-minute-table",
    a.minutes
      .filter((m) => m.proposed + m.confirmed + m.cancelled + m.queueTimeouts > 0)
      .reverse()
      .map((m) => [time(m.at), m.proposed, m.confirmed, m.cancelled, m.queueTimeouts]),
  );
  fillTable(
    "waits-table",
    a.waits.counts.map((n, i) => [formatBound(a.waits.leSeconds[i]), n]),
  );

  const sum = (k) => a.minutes.reduce((total, m) => total + m[k], 0);
  $("t-matches").textContent = String(sum("proposed"));
  $("t-confirmed").textContent = String(sum("confirmed"));
  $("t-timeouts").textContent = String(a.queueTimeouts);
  $("o-timeouts").textContent = String(a.queueTimeouts);
  $("o-granted").textContent = String(a.handOvers.granted);
  $("o-refused").textContent = String(a.handOvers.refused);

  const reasons = Object.entries(a.cancellations).sort((x, y) => y[1] - x[1]);
  const most = Math.max(1, ...reasons.map(([, n]) => n));
  $("cancellations").replaceChildren(
    ...reasons.map(([reason, n]) => {
      const li = document.createElement("li");
      li.dataset.reason = reason;
      const label = document.createElement("span");
      label.className = "bar-label";
      label.textContent = REASONS[reason] ?? reason;
      const bar = document.createElement("span");
      bar.className = "bar";
      bar.style.setProperty("--share", String(n / most));
      bar.setAttribute("aria-hidden", "true");
      const value = document.createElement("span");
      value.className = "bar-value";
      value.textContent = String(n);
      li.append(label, bar, value);
      return li;
    }),
  );
  $("cancellations-empty").hidden = reasons.length > 0;
}

// ---- maintenance ------------------------------------------------------------------------------

function renderMaintenance(m) {
  const changed = state.maintenance !== undefined && state.maintenance.on !== m.on;
  state.maintenance = m;
  const text = $("m-state");
  text.dataset.on = String(m.on);
  const since = m.since ? ` since ${new Date(m.since).toLocaleString()}` : " (as deployed)";
  text.textContent = m.on
    ? `Matching is paused${since}: new requests are refused; those under way finish.`
    : `Matching is running${m.since ? since : ""}.`;
  const button = $("m-switch");
  button.disabled = false;
  button.textContent = m.on ? "Resume matching…" : "Pause matching…";
  button.className = m.on ? "primary" : "danger";
  if (changed) announce(m.on ? "Matching was paused." : "Matching was resumed.");
}

$("m-switch").addEventListener("click", () => {
  if (!state.maintenance) return;
  const on = !state.maintenance.on;
  $("h-confirm").textContent = on ? "Pause matching?" : "Resume matching?";
  $("confirm-text").textContent = on
    ? "Every new request of this tenant will be refused (HTTP 503, sockets closed with 1013) until you resume. People already waiting or matched finish as usual."
    : "New requests will be accepted again at once.";
  const confirm = $("confirm-switch");
  confirm.textContent = on ? "Pause matching" : "Resume matching";
  confirm.className = on ? "danger" : "primary";
  $("confirm-maintenance").showModal();
});

$("confirm-maintenance").addEventListener("close", async () => {
  const dialog = $("confirm-maintenance");
  $("m-switch").focus();
  if (dialog.returnValue !== "switch" || !state.maintenance) return;
  dialog.returnValue = "";
  const on = !state.maintenance.on;
  $("m-switch").disabled = true;
  try {
    renderMaintenance(await api("PUT", "/internal/maintenance", { on }));
  } catch (error) {
    announce(`Could not switch maintenance: ${error.message}`);
    $("m-switch").disabled = false;
  }
});

// ---- refreshing -----------------------------------------------------------------------------

const EVERY = REFRESH_MS === 1000 ? "every second" : `every ${REFRESH_MS / 1000} s`;
$("every").textContent = `Updates ${EVERY}.`;

async function refresh() {
  try {
    const [buckets, activity, maintenance, status] = await Promise.all([
      api("GET", "/internal/queues/summary"),
      api("GET", "/internal/activity"),
      api("GET", "/internal/maintenance"),
      api("GET", "/status").catch(() => undefined),
    ]);
    state.buckets = buckets;
    renderBuckets();
    $("t-active").textContent = String(buckets.length);
    $("t-waiting").textContent = String(buckets.reduce((sum, b) => sum + b.waiting, 0));
    renderActivity(activity);
    renderMaintenance(maintenance);
    $("t-service").textContent = status ? `v${status.version}, database ${status.db}` : "unknown";
    $("updated").textContent = `Updated at ${new Date().toLocaleTimeString()}.`;
    if (state.failing) announce("Connected again; the figures are current.");
    state.failing = "";
    document.body.dataset.loaded = "true";
  } catch (error) {
    if (error instanceof Refused && (error.status === 401 || error.status === 403)) {
      signOut(`${error.message} Sign in with an admin token.`);
      return;
    }
    const message = `Could not update: ${error instanceof Error ? error.message : String(error)}. Retrying.`;
    if (message !== state.failing) announce(message);
    state.failing = message;
  }
}

function schedule() {
  clearTimeout(state.timer);
  state.timer = setTimeout(async () => {
    if (!document.hidden) await refresh();
    if (state.token) schedule();
  }, REFRESH_MS);
}

// A tab in the background asks nothing; coming back it updates at once.
document.addEventListener("visibilitychange", () => {
  if (!document.hidden && state.token) void refresh();
});

// ---- signing in --------------------------------------------------------------------------------

function claimsOf(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part));
  } catch {
    return {};
  }
}

async function signIn(token) {
  state.token = token.trim();
  announce("Opening the dashboard…");
  try {
    await api("GET", "/internal/maintenance");
  } catch (error) {
    signOut(error instanceof Error ? error.message : String(error));
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, state.token);
  const claims = claimsOf(state.token);
  $("who").hidden = false;
  $("who").textContent =
    `Signed in as ${claims.sub ?? "an admin"}${claims.tenant_id ? `, tenant ${claims.tenant_id}` : ""}`;
  $("signin").hidden = true;
  $("board").hidden = false;
  document.body.dataset.screen = "board";
  await refresh();
  announce(`Dashboard open; it updates ${EVERY}.`);
  schedule();
}

function signOut(message) {
  clearTimeout(state.timer);
  state.token = "";
  sessionStorage.removeItem(TOKEN_KEY);
  $("board").hidden = true;
  $("who").hidden = true;
  $("signin").hidden = false;
  document.body.dataset.screen = "signin";
  announce(message);
  $("token").focus();
}

$("token-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const token = $("token").value.trim();
  if (token) void signIn(token);
});

$("signout").addEventListener("click", () => signOut("Signed out."));

// Under `npm start` (DEV_TOKENS=1) the server mints tokens; elsewhere this answers 404.
$("dev-token").addEventListener("click", async () => {
  const res = await fetch(`${API}/dev/token`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ userId: "ops", admin: true }),
  });
  const body = await res.json().catch(() => ({}));
  if (res.ok && typeof body.token === "string") void signIn(body.token);
  else announce("Development tokens are turned off on this server (DEV_TOKENS).");
});

async function offerDevToken() {
  // An empty body is a 400 where the endpoint exists and a 404 where it does not.
  const res = await fetch(`${API}/dev/token`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "{}",
  }).catch(() => undefined);
  $("dev-token").hidden = res?.status !== 400;
}

if (state.token) {
  void signIn(state.token);
} else {
  $("signin").hidden = false;
  document.body.dataset.screen = "signin";
  announce("Sign in with an admin token.");
}
void offerDevToken();
