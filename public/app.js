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
  /** What the user last asked to join (home, other topics, widening, role), for "Join again". */
  wish: undefined,
  connectionTimer: undefined,
  /** Who the user has blocked (user ids), and the history's next page. */
  blocked: new Set(),
  historyCursor: null,
  screen: "",
  pendingNotice: "",
  timer: undefined,
};

// ---- screens, announcements, countdowns ---------------------------------------------------

/** Read out to screen readers: for what the screen already shows, so it is not written twice. */
function announce(text) {
  $("announcer").textContent = text;
}

/** Shown above the cards and read out: for what no card says (a refusal, a challenge arriving). */
function notify(text) {
  const status = $("status");
  status.textContent = text;
  status.hidden = !text;
  announce(text);
}

function show(screen, { focus = true } = {}) {
  for (const el of document.querySelectorAll(".screen")) el.hidden = el.id !== `screen-${screen}`;
  document.body.dataset.screen = screen;
  const changed = state.screen !== screen;
  state.screen = screen;
  // A notice belongs to the screen it was given on.
  if (changed) $("status").hidden = true;
  if (focus && changed) $(`screen-${screen}`).querySelector("h2")?.focus();
}

/** The connection notice: lost (reconnecting), back, or gone. */
function connection(kind) {
  const note = $("connection");
  clearTimeout(state.connectionTimer);
  if (kind === "lost") {
    note.textContent = "Connection lost; reconnecting… Your request is kept meanwhile.";
  } else if (kind === "back") {
    note.textContent = "Reconnected. Anything that happened meanwhile is shown below.";
    state.connectionTimer = setTimeout(() => connection("none"), 6000);
  }
  note.dataset.state = kind;
  note.hidden = kind === "none";
  if (kind !== "none") announce(note.textContent);
}

function stopCountdown() {
  if (state.timer !== undefined) clearInterval(state.timer);
  state.timer = undefined;
}

function formatLeft(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/**
 * What the `queued` frame lets us honestly say about the wait: nothing when nobody else waits
 * (the estimate is then last hour's wait of others, not this one's), else recent matches' median.
 */
function estimateText(f) {
  if (f.waiting <= 1) return "None: nobody else is waiting here yet. You're paired as soon as someone joins.";
  const ms = f.estimatedWaitMs;
  if (ms === null || ms === undefined) return "Not known yet: no recent matches here.";
  if (ms < 1000) return "Under a second, going by recent matches.";
  const s = Math.round(ms / 1000);
  return `About ${s < 60 ? `${s} s` : `${Math.round(s / 60)} min`}, going by recent matches.`;
}

const PARTS = {
  interviewer: "Interviewer first",
  interviewee: "Interviewee first",
  either: "Either (whichever your partner does not ask for)",
};

function partText(part, partner) {
  const other = part === "interviewer" ? "interviewee" : "interviewer";
  return `You start as the ${part}; ${partner} as the ${other}.`;
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
    // Whatever the bucket owes this request since the drop (a match, its end) follows as frames.
    if (resumed) connection("back");
  });
  on("queued", (f) => {
    state.bucket = { difficulty: f.difficulty, topic: f.topic };
    $("q-buckets").textContent = (f.buckets ?? []).map((room) => room.replace(".", " · ")).join(", ");
    $("q-position").textContent = `${f.position}`;
    const others = Math.max(0, f.waiting - 1);
    $("q-waiting").textContent =
      others === 0 ? "Nobody else" : `${others} ${others === 1 ? "person" : "people"}`;
    $("q-estimate").textContent = estimateText(f);
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
    $("f-role").textContent = partText(f.role, f.partnerId);
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
  on("error", (f) => notify(`The server refused that: ${f.message}`));
  on("closed", ({ code, willReconnect }) => {
    if (willReconnect) {
      connection("lost");
      return;
    }
    connection("none");
    if (state.screen === "ready" || state.screen === "ended") return;
    const reasons = {
      1013: "Matching is paused for maintenance. Please try again in a little while.",
      4404: "That request is no longer known to the server. Join again to continue.",
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
    notify(`Can't join: ${error instanceof Error ? error.message : String(error)}`);
    $("topic").focus();
    return;
  }
  for (const id of ["q-position", "q-waiting", "q-estimate", "q-countdown"]) $(id).textContent = "…";
  $("q-buckets").textContent = bucketLabel(state.bucket);
  $("q-role").textContent = PARTS[bucket.role ?? "either"];
  $("queued-notice").hidden = true;
  connection("none");
  show("queued");
  announce(`Joining ${bucketLabel(state.bucket)}…`);
}

function ended(message) {
  stopCountdown();
  connection("none");
  // A match that fell through is in the history too, once recorded (a moment later).
  setTimeout(() => void loadHistory(), 1500);
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
  connection("none");
  $("r-partner").textContent = match.partnerId;
  $("r-bucket").textContent = bucketLabel(match);
  $("r-role").textContent = match.role ? partText(match.role, match.partnerId) : "Agree between you.";
  $("r-match").textContent = match.matchId;
  // Locally no question or collaboration service is configured: say what a deployment adds.
  $("r-question").textContent = match.questionId
    ? `Question ${match.questionId}, the same for both of you.`
    : "No question: none is picked here. A deployment with a question service (QUESTION_SERVICE_URL) picks one for both of you.";
  $("r-session").textContent = match.collaborationSessionId
    ? `Collaboration session ${match.collaborationSessionId}, shared by both of you.`
    : "No shared editor: none is set up here. A deployment with a collaboration service (COLLAB_SERVICE_URL) opens a session for the two of you.";
  show("ready");
  announce(`Matched with ${match.partnerId}. ${$("r-role").textContent}`);
  void waitForHistory(match.matchId);
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
        notify(`Could not accept: ${res.json?.error?.message ?? res.status}`);
        await refreshChallenges();
        return;
      }
      const a = res.json;
      showReady({
        matchId: a.match_id,
        partnerId: a.partner_id,
        difficulty: c.difficulty,
        topic: c.topic,
        role: a.role,
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
    notify(
      `${f.challenge.challengerId} challenges you to ${bucketLabel(f.challenge)}. See Challenges below.`,
    );
    void refreshChallenges();
  });
  on("challenge_accepted", (f) => {
    showReady(f.match);
    void refreshChallenges();
  });
  on("challenge_declined", (f) => {
    if (f.challenge.challengerId === state.name) notify(`${f.challenge.opponentId} declined your challenge.`);
    void refreshChallenges();
  });
  on("challenge_cancelled", (f) => {
    if (f.challenge.opponentId === state.name)
      notify(`${f.challenge.challengerId} cancelled their challenge.`);
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
    difficulty: $("challenge-difficulty").value,
    topic: $("challenge-topic").value,
  });
  if (res.ok) {
    $("opponent").value = "";
    announce(`Challenge sent to ${opponentId}; waiting for their answer.`);
  } else {
    notify(`Could not challenge ${opponentId}: ${res.json?.error?.message ?? res.status}`);
  }
  await refreshChallenges();
});

// ---- history and blocks --------------------------------------------------------------------

const OUTCOMES = {
  confirmed: "Confirmed",
  proposed: "Proposed",
  cancelled: "Fell through",
};

function matchItem(m) {
  const li = document.createElement("li");
  li.dataset.match = m.id;
  li.dataset.partner = m.partnerId;
  const what = document.createElement("span");
  what.className = "what";
  const title = document.createElement("strong");
  title.textContent = m.partnerId;
  const when = document.createElement("span");
  when.className = "when";
  const at = new Date(m.confirmedAt ?? m.createdAt).toLocaleString([], {
    dateStyle: "medium",
    timeStyle: "short",
  });
  const outcome =
    m.status === "cancelled" && m.reason
      ? `${OUTCOMES.cancelled} (${m.reason.replaceAll("_", " ")})`
      : OUTCOMES[m.status];
  const part = m.role ? `, you ${m.role}` : "";
  when.textContent = `${bucketLabel(m)} · ${outcome}${part} · ${at}`;
  what.append(title, " ", when);
  const mark = document.createElement("span");
  mark.className = "blocked";
  mark.textContent = "Blocked";
  const button = document.createElement("button");
  button.type = "button";
  button.className = "block";
  button.addEventListener("click", () => void toggleBlock(m.partnerId));
  li.append(what, mark, button);
  paintBlock(li);
  return li;
}

/** A history row as the partner's block state says. */
function paintBlock(li) {
  const partner = li.dataset.partner;
  const blocked = state.blocked.has(partner);
  li.querySelector(".blocked").hidden = !blocked;
  const button = li.querySelector("button.block");
  button.textContent = blocked ? "Unblock" : "Block";
  button.className = blocked ? "block" : "block danger";
  button.setAttribute("aria-label", `${blocked ? "Unblock" : "Block"} ${partner}`);
}

async function toggleBlock(partner) {
  const blocking = !state.blocked.has(partner);
  const res = await api(blocking ? "PUT" : "DELETE", `/me/blocks/${encodeURIComponent(partner)}`);
  if (!res.ok) {
    notify(
      `Could not ${blocking ? "block" : "unblock"} ${partner}: ${res.json?.error?.message ?? res.status}`,
    );
    return;
  }
  if (blocking) state.blocked.add(partner);
  else state.blocked.delete(partner);
  for (const li of $("matches").querySelectorAll("li")) if (li.dataset.partner === partner) paintBlock(li);
  announce(
    blocking
      ? `You blocked ${partner}: you won't be paired with or challenged by them again.`
      : `You unblocked ${partner}.`,
  );
}

/** The first page of the history (or, with `more`, the next one) and the block list. */
async function loadHistory({ more = false } = {}) {
  const cursor = more && state.historyCursor ? `&cursor=${encodeURIComponent(state.historyCursor)}` : "";
  const [history, blocks] = await Promise.all([
    api("GET", `/me/matches?limit=10${cursor}`),
    more ? Promise.resolve(undefined) : api("GET", "/me/blocks"),
  ]);
  if (blocks?.ok) state.blocked = new Set(blocks.json.blocked.map((b) => b.userId));
  if (!history.ok) {
    $("matches-empty").hidden = false;
    $("matches-empty").textContent = "Your history is not available right now; try Refresh in a moment.";
    return [];
  }
  const items = history.json.matches.map(matchItem);
  if (more) $("matches").append(...items);
  else $("matches").replaceChildren(...items);
  state.historyCursor = history.json.nextCursor;
  $("matches-more").hidden = !history.json.nextCursor;
  $("matches-empty").hidden = $("matches").children.length > 0;
  $("matches-empty").textContent = "No matches yet.";
  return history.json.matches;
}

/**
 * A match's record reaches the history a moment after the match is ready (it is written on the
 * way, first as proposed): look again a few times until it shows its outcome.
 */
async function waitForHistory(matchId) {
  for (let i = 0; i < 10; i++) {
    const matches = await loadHistory();
    if (matches.some((m) => m.id === matchId && m.status !== "proposed")) return;
    await new Promise((r) => setTimeout(r, 750));
  }
}

$("matches-refresh").addEventListener("click", async () => {
  await loadHistory();
  announce("Your matches are up to date.");
});
$("matches-more").addEventListener("click", () => void loadHistory({ more: true }));

// ---- wiring --------------------------------------------------------------------------------

async function signIn(name) {
  state.name = name;
  state.token = "";
  announce("Signing in…");
  try {
    await fetchToken(name);
  } catch (error) {
    show("signin");
    notify(error instanceof Error ? error.message : String(error));
    return;
  }
  sessionStorage.setItem("matcher-name", name);
  $("who").hidden = false;
  $("who").textContent = `Signed in as ${name}`;
  $("challenges").hidden = false;
  $("history").hidden = false;
  openChannel();
  show("join");
  announce(`Signed in as ${name}. Choose a difficulty and topic.`);
  await Promise.all([loadTopics(), loadHistory()]);
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
  const role = new FormData($("join-form")).get("role") ?? "either";
  join({ difficulty, topic: $("topic").value, role, also, widen: $("widen").checked });
});

$("signout").addEventListener("click", () => {
  dropClient();
  state.channel?.close();
  state.channel = undefined;
  $("challenges").hidden = true;
  $("history").hidden = true;
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
