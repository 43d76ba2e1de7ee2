// Demo page for the edge matcher. Plain JS on top of the bundled client SDK
// (public/build/match-client.js, built by `npm run build:client`).
import { MatchClient, UserChannel } from "./build/match-client.js";

const API = "/api/v1/matching";
const DEFAULT_TOPICS = ["arrays", "strings", "graphs", "dynamic-programming", "trees"];
const TOKEN_REFRESH_MS = 50 * 60 * 1000; // dev tokens live an hour

const $ = (id) => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el;
};

const state = {
  name: "",
  token: "",
  tokenAt: 0,
  /** @type {MatchClient | undefined} */
  client: undefined,
  /** @type {UserChannel | undefined} */
  channel: undefined,
  bucket: undefined,
  /** What the user last asked to join (home, other topics, widening), for "Join again". */
  wish: undefined,
  screen: "",
  pendingNotice: "",
  timer: undefined,
};

// ---- screens, announcements, countdowns ---------------------------------------------------

function announce(text) {
  $("status").textContent = text;
}

function show(screen, { focus = true } = {}) {
  for (const el of document.querySelectorAll(".screen")) el.hidden = el.id !== `screen-${screen}`;
  document.body.dataset.screen = screen;
  const changed = state.screen !== screen;
  state.screen = screen;
  if (focus && changed) $(`screen-${screen}`).querySelector("h2")?.focus();
}

function stopCountdown() {
  if (state.timer !== undefined) clearInterval(state.timer);
  state.timer = undefined;
}

function formatLeft(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function formatDuration(ms) {
  if (ms === null || ms === undefined) return "not known yet";
  const s = Math.round(ms / 1000);
  if (s < 60) return `about ${s} s`;
  return `about ${Math.round(s / 60)} min`;
}

/** Tick a countdown to `deadline` in `textId`, with a progress bar; not announced every second. */
function countdown(deadline, textId, progressId) {
  stopCountdown();
  const end = Date.parse(deadline);
  const total = Math.max(1, end - Date.now());
  const tick = () => {
    const left = end - Date.now();
    $(textId).textContent = formatLeft(left);
    const bar = $(progressId);
    bar.value = Math.max(0, left / total);
    if (left <= 0) stopCountdown();
  };
  tick();
  state.timer = setInterval(tick, 250);
}

function bucketLabel(b) {
  return `${b.difficulty} · ${b.topic}`;
}

// ---- tokens and topics -----------------------------------------------------------------------

async function fetchToken(name) {
  const res = await fetch(`${API}/dev/token`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ userId: name }),
  });
  if (res.status === 404) throw new Error("Development sign-in is turned off on this server (DEV_TOKENS).");
  const body = await res.json().catch(() => ({}));
  if (!res.ok || typeof body.token !== "string") {
    throw new Error(body?.error?.message ?? `Sign-in failed (${res.status}).`);
  }
  state.token = body.token;
  state.tokenAt = Date.now();
  return body.token;
}

/** The SDK calls this before every (re)connect, so an old token is replaced in time. */
async function getToken() {
  if (!state.token || Date.now() - state.tokenAt > TOKEN_REFRESH_MS) return fetchToken(state.name);
  return state.token;
}

/** Popular topics if the server offers them, else a default list. */
async function loadTopics() {
  let topics = [];
  try {
    const res = await fetch(`${API}/topics/popular`, {
      headers: { authorization: `Bearer ${await getToken()}` },
      signal: AbortSignal.timeout(3000),
    });
    if (res.ok) {
      const body = await res.json();
      const list = Array.isArray(body) ? body : (body.topics ?? body.items ?? []);
      topics = list
        .map((t) => (typeof t === "string" ? t : (t?.topic ?? t?.name)))
        .filter((t) => typeof t === "string" && t.length > 0);
    }
  } catch {
    // Not offered (yet): fall back below.
  }
  const popular = topics.length > 0;
  const all = [...new Set([...topics, ...DEFAULT_TOPICS])];
  $("topics").replaceChildren(
    ...all.map((t) => {
      const o = document.createElement("option");
      o.value = t;
      return o;
    }),
  );
  $("topic-source").textContent = popular ? `popular now: ${topics.slice(0, 5).join(", ")}` : all.join(", ");
}

// ---- matching ------------------------------------------------------------------------------

/** Close the current session's socket without reacting to its close any more. */
function dropClient() {
  const client = state.client;
  state.client = undefined;
  client?.close();
}

function join(bucket) {
  dropClient();
  const client = new MatchClient({ host: location.origin, getToken });
  state.client = client;
  state.pendingNotice = "";
  let announcedQueue = false;
  // Events of a client the page has moved on from are ignored.
  const on = (type, listener) => client.on(type, (event) => state.client === client && listener(event));

  on("open", ({ resumed }) => {
    $("q-connection").hidden = true;
    if (resumed) announce("Reconnected; your place in the queue is kept.");
  });
  on("queued", (f) => {
    state.bucket = { difficulty: f.difficulty, topic: f.topic };
    $("q-bucket").textContent = bucketLabel(f);
    $("q-buckets").textContent = (f.buckets ?? []).map((room) => room.replace(".", " · ")).join(", ");
    $("q-position").textContent = `${f.position}`;
    $("q-waiting").textContent = `${f.waiting} ${f.waiting === 1 ? "person" : "people"}`;
    $("q-estimate").textContent = formatDuration(f.estimatedWaitMs);
    const notice = $("queued-notice");
    notice.hidden = !state.pendingNotice;
    notice.textContent = state.pendingNotice;
    const wasQueued = state.screen === "queued";
    show("queued", { focus: !wasQueued });
    if (!wasQueued || !announcedQueue || state.pendingNotice) {
      announcedQueue = true;
      announce(
        `${state.pendingNotice ? `${state.pendingNotice} ` : ""}Waiting for a partner: position ${f.position}.`,
      );
    }
    state.pendingNotice = "";
    countdown(f.expiresAt, "q-countdown", "q-progress");
  });
  on("match_found", (f) => {
    $("f-partner").textContent = f.partnerId;
    $("f-bucket").textContent = bucketLabel(f);
    $("f-state").hidden = true;
    $("confirm").disabled = false;
    $("decline").disabled = false;
    show("found");
    announce(`Partner found: ${f.partnerId}. Confirm or decline.`);
    countdown(f.confirmBy, "f-countdown", "f-progress");
  });
  on("partner_confirmed", () => {
    const note = $("f-state");
    note.hidden = false;
    note.textContent = $("confirm").disabled
      ? "Your partner confirmed too; setting up the session…"
      : "Your partner confirmed. Confirm to start.";
    announce(note.textContent);
  });
  on("match_ready", (f) => showReady(f));
  on("match_cancelled", (f) => {
    stopCountdown();
    const requeued = {
      partner_declined: "Your partner declined. You're back in the queue, keeping your place.",
      partner_timeout: "Your partner didn't confirm in time. You're back in the queue, keeping your place.",
      partner_left: "Your partner left. You're back in the queue, keeping your place.",
      setup_failed: "The session could not be set up. You're back in the queue.",
    }[f.reason];
    if (requeued) {
      state.pendingNotice = requeued;
      announce(requeued);
    } else {
      ended(
        f.reason === "declined"
          ? "You declined the match."
          : "You didn't confirm in time, so the match was cancelled.",
      );
    }
  });
  on("timeout", () => ended("No partner was found in time. Try again, or pick a busier topic."));
  on("cancelled", () => ended("You left the queue."));
  on("error", (f) => announce(`The server refused that: ${f.message}`));
  on("closed", ({ code, willReconnect }) => {
    if (willReconnect) {
      const note = $("q-connection");
      note.hidden = false;
      note.textContent = "Connection lost; reconnecting…";
      announce("Connection lost; reconnecting…");
      return;
    }
    if (state.screen === "ready" || state.screen === "ended") return;
    const reasons = {
      4001: "Your sign-in expired. Join again to continue.",
      4008: "No partner was found in time.",
      4009: "This request is now open in another tab or window.",
      4029: "Too many attempts; please wait a moment before joining again.",
      4409: "You already wait for a partner in another bucket. Leave it there first.",
    };
    ended(reasons[code] ?? `The connection closed (code ${code}).`);
  });

  try {
    state.bucket = client.join(bucket);
    // "Join again" asks for the same thing: the other topics and widening included.
    state.wish = bucket;
  } catch (error) {
    state.client = undefined;
    announce(`Can't join: ${error instanceof Error ? error.message : String(error)}`);
    $("topic").focus();
    return;
  }
  $("q-bucket").textContent = bucketLabel(state.bucket);
  for (const id of ["q-position", "q-waiting", "q-estimate", "q-countdown", "q-buckets"])
    $(id).textContent = "…";
  $("queued-notice").hidden = true;
  $("q-connection").hidden = true;
  show("queued");
  announce(`Joining ${bucketLabel(state.bucket)}…`);
}

function ended(message) {
  stopCountdown();
  $("ended-message").textContent = message;
  show("ended");
  announce(message);
}

// ---- challenges ----------------------------------------------------------------------------

async function api(method, path, body) {
  const res = await fetch(`${API}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${await getToken()}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json().catch(() => ({}));
  return { ok: res.ok, status: res.status, json };
}

/** The ready screen for a match, from a bucket's `match_ready` or an accepted challenge. */
function showReady(match) {
  stopCountdown();
  $("r-partner").textContent = match.partnerId;
  $("r-bucket").textContent = bucketLabel(match);
  $("r-match").textContent = match.matchId;
  $("r-question").textContent = match.questionId ?? "not assigned";
  $("r-session").textContent = match.collaborationSessionId ?? "not assigned";
  show("ready");
  announce(`Matched with ${match.partnerId}. Your session is ready.`);
}

function challengeItem(c, incoming) {
  const li = document.createElement("li");
  li.dataset.challenge = c.id;
  const label = document.createElement("span");
  const who = incoming ? `${c.challengerId} challenges you` : `You challenged ${c.opponentId}`;
  label.textContent = `${who}: ${bucketLabel(c)}`;
  li.append(label);
  const button = (text, className, action) => {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = text;
    if (className) b.className = className;
    b.setAttribute("aria-label", `${text}: ${who}`);
    b.addEventListener("click", () => void action(b));
    li.append(b);
  };
  if (incoming) {
    button("Accept", "primary accept", async (b) => {
      b.disabled = true;
      announce(`Accepting ${c.challengerId}'s challenge; setting up the session…`);
      const res = await api("POST", `/challenges/${c.id}/accept`);
      if (!res.ok) {
        announce(`Could not accept: ${res.json?.error?.message ?? res.status}`);
        await refreshChallenges();
        return;
      }
      const a = res.json;
      showReady({
        matchId: a.match_id,
        partnerId: a.partner_id,
        difficulty: c.difficulty,
        topic: c.topic,
        questionId: a.question_id,
        collaborationSessionId: a.collaboration_session_id,
      });
      await refreshChallenges();
    });
    button("Decline", "danger decline", async () => {
      await api("POST", `/challenges/${c.id}/decline`);
      announce(`You declined ${c.challengerId}'s challenge.`);
      await refreshChallenges();
    });
  } else {
    button("Cancel", "cancel", async () => {
      await api("DELETE", `/challenges/${c.id}`);
      announce(`You cancelled your challenge to ${c.opponentId}.`);
      await refreshChallenges();
    });
  }
  return li;
}

async function refreshChallenges() {
  const [incoming, outgoing] = await Promise.all([
    api("GET", "/challenges/incoming"),
    api("GET", "/challenges/outgoing"),
  ]);
  const received = incoming.ok ? incoming.json : [];
  const sent = outgoing.ok ? outgoing.json : [];
  $("incoming").replaceChildren(...received.map((c) => challengeItem(c, true)));
  $("outgoing").replaceChildren(...sent.map((c) => challengeItem(c, false)));
  $("incoming-empty").hidden = received.length > 0;
  $("outgoing-empty").hidden = sent.length > 0;
}

function openChannel() {
  state.channel?.close();
  const channel = new UserChannel({ host: location.origin, userId: state.name, getToken });
  state.channel = channel;
  const on = (type, listener) => channel.on(type, (event) => state.channel === channel && listener(event));
  on("open", () => void refreshChallenges());
  on("challenge_received", (f) => {
    announce(`${f.challenge.challengerId} challenges you to ${bucketLabel(f.challenge)}.`);
    void refreshChallenges();
  });
  on("challenge_accepted", (f) => {
    showReady(f.match);
    void refreshChallenges();
  });
  on("challenge_declined", (f) => {
    if (f.challenge.challengerId === state.name)
      announce(`${f.challenge.opponentId} declined your challenge.`);
    void refreshChallenges();
  });
  on("challenge_cancelled", (f) => {
    if (f.challenge.opponentId === state.name)
      announce(`${f.challenge.challengerId} cancelled their challenge.`);
    void refreshChallenges();
  });
  on("challenge_expired", () => void refreshChallenges());
  channel.open();
}

$("challenge-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const opponentId = $("opponent").value.trim();
  if (!opponentId) return;
  const res = await api("POST", "/challenges", {
    opponentId,
    difficulty: $("difficulty").value,
    topic: $("topic").value,
  });
  if (res.ok) {
    $("opponent").value = "";
    announce(`Challenge sent to ${opponentId}; waiting for their answer.`);
  } else {
    announce(`Could not challenge ${opponentId}: ${res.json?.error?.message ?? res.status}`);
  }
  await refreshChallenges();
});

// ---- wiring --------------------------------------------------------------------------------

async function signIn(name) {
  state.name = name;
  state.token = "";
  announce("Signing in…");
  try {
    await fetchToken(name);
  } catch (error) {
    announce(error instanceof Error ? error.message : String(error));
    show("signin");
    return;
  }
  sessionStorage.setItem("matcher-name", name);
  $("who").hidden = false;
  $("who").textContent = `Signed in as ${name}`;
  $("challenges").hidden = false;
  openChannel();
  show("join");
  announce(`Signed in as ${name}. Choose a difficulty and topic.`);
  await loadTopics();
}

$("signin-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const name = $("name").value.trim();
  if (name) void signIn(name);
});

$("join-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const difficulty = $("difficulty").value;
  const also = $("also")
    .value.split(",")
    .map((t) => t.trim())
    .filter(Boolean)
    .map((topic) => ({ difficulty, topic }));
  join({ difficulty, topic: $("topic").value, also, widen: $("widen").checked });
});

$("signout").addEventListener("click", () => {
  dropClient();
  state.channel?.close();
  state.channel = undefined;
  $("challenges").hidden = true;
  sessionStorage.removeItem("matcher-name");
  state.token = "";
  $("who").hidden = true;
  show("signin");
  announce("Enter a name to sign in.");
});

$("leave").addEventListener("click", () => {
  if (state.client?.active) state.client.leave();
  else ended("You left the queue.");
});

$("confirm").addEventListener("click", () => {
  try {
    state.client?.confirm();
  } catch {
    return;
  }
  $("confirm").disabled = true;
  $("decline").disabled = true;
  const note = $("f-state");
  note.hidden = false;
  note.textContent = "You confirmed. Waiting for your partner…";
  announce(note.textContent);
});

$("decline").addEventListener("click", () => {
  try {
    state.client?.decline();
  } catch {
    return;
  }
  $("confirm").disabled = true;
  $("decline").disabled = true;
});

$("rejoin").addEventListener("click", () => {
  if (state.wish) join(state.wish);
  else show("join");
});

for (const button of document.querySelectorAll("button.again")) {
  button.addEventListener("click", () => {
    dropClient();
    show("join");
    announce("Choose a difficulty and topic.");
  });
}

const remembered = sessionStorage.getItem("matcher-name");
if (remembered) {
  $("name").value = remembered;
  void signIn(remembered);
} else {
  show("signin", { focus: false });
  announce("Enter a name to sign in.");
}
