// regassist web interface: plain JavaScript, no build step. Every call goes through the same API as scripts do.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const el = (tag, attrs = {}, ...kids) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) node.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat()) if (kid !== null && kid !== undefined) node.append(kid instanceof Node ? kid : String(kid));
  return node;
};

const state = { token: sessionStorage.getItem("regassist-token"), user: null, source: null, selected: new Set(), conversation: null };

// Which tabs each role sees; the server checks every call again.
const TABS = [
  ["ask", "Ask", ["staff", "consultant", "reviewer"]],
  ["mine", "My answers", ["staff", "consultant", "reviewer"]],
  ["review", "Review queue", ["reviewer"]],
  ["library", "Library", ["staff", "consultant", "reviewer", "admin"]],
  ["documents", "Documents", ["staff", "consultant", "reviewer", "evaluator", "admin"]],
  ["users", "Users", ["admin"]],
  ["audit", "Audit", ["admin"]],
  ["evals", "Evaluations", ["evaluator"]],
];

async function api(path, opts = {}) {
  const headers = { Authorization: `Bearer ${state.token}`, ...(opts.headers || {}) };
  let body = opts.body;
  if (body && !(body instanceof Blob) && typeof body !== "string") {
    body = JSON.stringify(body);
    headers["Content-Type"] = "application/json";
  }
  const res = await fetch(path, { ...opts, headers, body });
  if (!res.ok) {
    let msg = `${res.status}`;
    try { msg = (await res.json()).error || msg; } catch (_) { /* not JSON */ }
    throw new Error(plainError(msg));
  }
  return res;
}
const getJSON = async (path, opts) => (await api(path, opts)).json();

// --- sign in --------------------------------------------------------------------------------------
async function signIn(token) {
  state.token = token;
  try {
    state.user = await getJSON("/api/session", { method: "POST" });
    if (state.user.provisional) {
      // An admin issued this token and has seen it: exchange it for one only this person knows.
      const fresh = await getJSON("/api/me/token", { method: "POST" });
      token = fresh.token;
      state.token = token;
      state.user.provisional = false;
      $("#token-notice").textContent = `Your token was issued by an administrator, so it has been replaced by one only you have seen. Store it now; the old one no longer works: ${token}`;
      $("#token-notice").hidden = false;
    }
  } catch (e) {
    state.token = null;
    sessionStorage.removeItem("regassist-token");
    $("#signin-error").textContent = `Sign-in failed: ${e.message}`;
    return;
  }
  sessionStorage.setItem("regassist-token", token);
  $("#signin").hidden = true;
  $("#tabs").hidden = false;
  $("#views").hidden = false;
  $("#signout").hidden = false;
  $("#who").textContent = `${state.user.name} (${state.user.role})`;
  const nav = $("#tabs");
  nav.replaceChildren();
  const mine = TABS.filter(([, , roles]) => roles.includes(state.user.role));
  for (const [id, label] of mine) nav.append(el("button", { "data-tab": id, onclick: () => go(`#/${id}`) }, label));
  state.home = mine[0][0];
  route();
}

// --- addresses: every view, conversation and answer has its own, so Back and reload work -------------
// #/ask, #/mine, … a tab; #/c/<id> a conversation; #/r/<id> one answer record.
function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}
function route() {
  if (!state.user) return;
  const [, kind, id] = (location.hash.match(/^#\/(\w+)(?:\/([0-9a-f]+))?$/) || []);
  if (kind === "c" && id) { show("ask"); openConversation(id); return; }
  if (kind === "r" && id) { openRecord(id); return; }
  const allowed = TABS.filter(([, , roles]) => roles.includes(state.user.role)).map(([v]) => v);
  const view = allowed.includes(kind) ? kind : state.home;
  if (view === "ask" && state.conversation) newConversation();
  show(view);
}
window.addEventListener("hashchange", route);

function show(view) {
  document.querySelectorAll(".view").forEach((v) => v.classList.toggle("active", v.dataset.view === view));
  document.querySelectorAll("nav button").forEach((b) => b.classList.toggle("active", b.dataset.tab === view));
  const load = { ask: loadThreads, mine: loadMine, review: loadQueue, library: loadLibrary, documents: loadDocuments, users: loadUsers, audit: loadAudit, evals: loadEvals }[view];
  if (load) load().catch((e) => alert(e.message));
}

// --- answers --------------------------------------------------------------------------------------
// How a reader names the cited page: "§4.2 Deviations" for a Word section, "p. 3 (OCR)" for a scan.
function pageName(c) {
  const label = c.page_label || `p. ${c.page}`;
  return label.startsWith("§") ? label : `${c.section ? `section ${c.section}, ` : ""}${label}`;
}

function citeButton(n, record, tid) {
  const c = record.citations.find((x) => x.n === n);
  return el("button", { class: "cite", "data-testid": tid(`cite-${n}`), title: c ? `${c.title}, ${pageName(c)}` : "", onclick: () => c && openSource(record, n) }, `[${n}]`);
}

// `past`: an earlier turn of the conversation, shown above the newest answer without its test ids.
function renderAnswer(record, target, { past = false } = {}) {
  const tid = (name) => (past ? undefined : name);
  target.replaceChildren();
  const context = record.context;
  if (context && context.follow_up) {
    target.append(el("p", { class: "context muted", "data-testid": tid("context") },
      "Read as a follow-up: searched for “", context.query, "”."));
  }
  if (record.abstained) {
    target.append(el("div", { class: "abstain", "data-testid": tid("abstained") },
      el("strong", {}, "Not answered. "), el("span", { "data-testid": tid("abstain-reason") }, reasonText(record.abstain_reason)), el("p", {}, record.text)));
  } else {
    const claims = record.claims.length ? record.claims : [{ text: record.text, citations: [], supported: true }];
    for (const c of claims) {
      const p = el("p", { class: `claim${c.supported ? "" : " unsupported"}`, "data-testid": tid("claim") }, c.text.replace(/\s*\(unsupported\)$/, ""), " ");
      for (const n of c.citations) p.append(citeButton(n, record, tid));
      if (!c.supported) p.append(el("span", { class: "flag", title: c.reason || "" }, "unsupported" + (c.reason ? `: ${c.reason}` : "")));
      target.append(p);
    }
  }
  for (const w of record.warnings || []) target.append(el("p", { class: "warning", "data-testid": tid("warning") }, `⚠ ${w}`));
  if (record.citations.length) {
    target.append(el("ol", { class: "citations" }, record.citations.map((c) =>
      el("li", { value: c.n },
        el("a", { href: "#", "data-testid": tid(`source-link-${c.n}`), onclick: (e) => { e.preventDefault(); openSource(record, c.n); } },
          `${c.title}${c.doc_status !== "final" ? ` [${c.doc_status.toUpperCase()}]` : ""}, ${pageName(c)}`),
        el("q", {}, c.quote.replace(/\s+/g, " "))))));
  }
  if (!past && ["staff", "consultant", "reviewer"].includes(state.user.role)) target.append(feedbackBar(record));
  target.append(el("p", { class: "muted" }, el("span", { class: `badge ${record.status}`, "data-testid": tid("status") }, record.status.replace("_", " ")),
    ` version ${record.current_version} · ${record.backend} · ${new Date(record.created_at).toLocaleString()} · `,
    el("a", { href: `#/r/${record.id}`, "data-testid": tid("permalink"), title: "This answer's own address" }, "link")));
}

// Thumbs up or down on an answer; a thumbs down asks what was wrong, for the reviewer who reads it.
function feedbackBar(record) {
  const mine = (record.feedback || []).find((f) => f.user === state.user.name);
  const note = el("span", { class: "muted", "data-testid": "feedback-note" },
    mine ? (mine.helpful ? "You found this helpful." : `You said: “${mine.reason}”`) : "Did this answer help?");
  const reason = el("input", { size: 40, placeholder: "What was wrong or missing?", "data-testid": "feedback-reason", hidden: true });
  const send = el("button", { class: "secondary", "data-testid": "feedback-send", hidden: true, onclick: () => rate(false) }, "Send");
  async function rate(helpful) {
    try {
      const r = await getJSON(`/api/records/${record.id}/feedback`, { method: "PUT", body: { helpful, reason: reason.value } });
      record.feedback = r.feedback;
      reason.hidden = send.hidden = true;
      note.textContent = helpful ? "Thank you: marked as helpful." : `Thank you; a reviewer will see: “${reason.value.trim()}”`;
    } catch (e) { note.textContent = e.message.replace(/^Reason: /, ""); }
  }
  return el("p", { class: "feedback", "data-testid": "feedback" },
    // Words beside the thumbs: a machine without an emoji font draws them as empty boxes.
    el("button", { class: "secondary", "data-testid": "thumbs-up", "aria-label": "Helpful", title: "Helpful", onclick: () => rate(true) }, "👍 Helpful"),
    el("button", { class: "secondary", "data-testid": "thumbs-down", "aria-label": "Not helpful", title: "Not helpful", onclick: () => { reason.hidden = send.hidden = false; reason.focus(); } }, "👎 Not helpful"),
    " ", note, " ", reason, " ", send);
}

const REASONS = {
  no_evidence: "The documents contain nothing on this.",
  low_confidence: "The documents do not answer it closely enough to cite.",
  conflicting_sources: "The sources disagree.",
  only_draft_or_superseded: "Only draft or superseded documents address it.",
};
const reasonText = (r) => REASONS[r] || r || "";

// --- conversations --------------------------------------------------------------------------------
function pastTurn(r) {
  const box = el("div", { class: "turn", "data-testid": "turn", "data-record": r.id }, el("p", { class: "asked" }, r.question));
  const answer = el("article", {});
  renderAnswer(r, answer, { past: true });
  box.append(answer);
  return box;
}
function newConversation() {
  state.conversation = null;
  state.latest = null;
  $("#thread").replaceChildren();
  $("#answer").replaceChildren();
  $("#latest-question").hidden = true;
  $("#thread-title").hidden = true;
  $("#ask-status").textContent = "";
}
async function openConversation(id) {
  if (state.conversation === id && state.latest) return loadThreads();
  let conv;
  try { conv = await getJSON(`/api/conversations/${id}`); } catch (e) {
    newConversation();
    $("#ask-status").textContent = `${e.message}. It may have been deleted.`;
    return;
  }
  state.conversation = conv.id;
  $("#thread-title").textContent = conv.title;
  $("#thread-title").hidden = false;
  const turns = conv.records;
  $("#thread").replaceChildren(...turns.slice(0, -1).map(pastTurn));
  const last = turns[turns.length - 1];
  state.latest = last || null;
  $("#latest-question").hidden = !last;
  if (last) { $("#latest-question").textContent = last.question; renderAnswer(last, $("#answer")); } else $("#answer").replaceChildren();
  $("#ask-status").textContent = "";
  loadThreads();
}
// --- which documents a question searches ---------------------------------------------------------
async function loadLimits() {
  const docs = await getJSON("/api/documents");
  const body = $("#limit-body"), list = $("#limit-docs");
  const keepBodies = new Set([...body.selectedOptions].map((o) => o.value));
  const keepDocs = new Set([...list.selectedOptions].map((o) => o.value));
  body.replaceChildren(...[...new Set(docs.map((d) => d.issuing_body))].sort().map((b) => el("option", { value: b, selected: keepBodies.has(b) }, b)));
  list.replaceChildren(...docs.map((d) => el("option", { value: d.document_id, selected: keepDocs.has(d.document_id), title: d.file }, `${d.title} (${d.issuing_body})`)));
  showLimits();
}
function chosenLimits() {
  const bodies = [...$("#limit-body").selectedOptions].map((o) => o.value);
  const docs = [...$("#limit-docs").selectedOptions].map((o) => o.value);
  if (!bodies.length && !docs.length) return null;
  return { issuing_body: bodies, document_id: docs };
}
function showLimits() {
  const l = chosenLimits();
  $("#limits-summary").textContent = !l ? "Searching all documents"
    : `Searching only: ${[...l.issuing_body, l.document_id.length ? `${l.document_id.length} chosen document${l.document_id.length === 1 ? "" : "s"}` : ""].filter(Boolean).join(" · ")}`;
}
$("#limit-body").onchange = showLimits;
$("#limit-docs").onchange = showLimits;
$("#limit-clear").onclick = () => { for (const o of [...$("#limit-body").options, ...$("#limit-docs").options]) o.selected = false; showLimits(); };

async function loadThreads() {
  loadLimits().catch(() => {});
  const q = $("#threads-q").value.trim();
  const rows = await getJSON(`/api/conversations?limit=100${q ? `&q=${encodeURIComponent(q)}` : ""}`);
  $("#threads-list").replaceChildren(...(rows.length ? rows.map((c) => el("li", { class: c.id === state.conversation ? "current" : "", "data-conversation": c.id, "data-testid": "thread-item" },
    el("a", { href: `#/c/${c.id}`, class: "thread-title" }, c.title),
    el("span", { class: "muted thread-meta" }, `${new Date(c.updated_at).toLocaleString()} · ${c.turns} question${c.turns === 1 ? "" : "s"}`),
    el("span", { class: "muted thread-preview" }, c.preview),
    el("span", { class: "thread-actions" },
      el("button", { class: "secondary", title: "Rename", "aria-label": `Rename ${c.title}`, "data-testid": "rename", onclick: () => renameConversation(c) }, "Rename"),
      el("button", { class: "secondary", title: "Delete", "aria-label": `Delete ${c.title}`, "data-testid": "delete", onclick: () => deleteConversation(c) }, "Delete"))))
    : [el("li", { class: "muted" }, q ? "No conversation matches." : "Your conversations appear here.")]));
}
async function renameConversation(c) {
  const title = prompt("New title for this conversation:", c.title);
  if (title === null || !title.trim()) return;
  try { await api(`/api/conversations/${c.id}`, { method: "PATCH", body: { title } }); } catch (e) { return alert(e.message); }
  if (c.id === state.conversation) $("#thread-title").textContent = title.trim();
  loadThreads();
}
async function deleteConversation(c) {
  if (!confirm(`Delete “${c.title}”? It leaves your list; its answers stay with the review desk.`)) return;
  try { await api(`/api/conversations/${c.id}`, { method: "DELETE" }); } catch (e) { return alert(e.message); }
  if (c.id === state.conversation) go("#/ask");
  loadThreads();
}
$("#new-chat").onclick = () => { newConversation(); go("#/ask"); $("#question").focus(); };
let threadSearch;
$("#threads-q").addEventListener("input", () => { clearTimeout(threadSearch); threadSearch = setTimeout(() => loadThreads().catch((e) => alert(e.message)), 200); });

async function ask(question) {
  const status = $("#ask-status");
  const out = $("#answer");
  // The newest answer moves up into the thread; the new one streams in below it.
  if (state.latest) $("#thread").append(pastTurn(state.latest));
  state.latest = null;
  $("#latest-question").textContent = question;
  $("#latest-question").hidden = false;
  out.replaceChildren(el("p", { class: "streaming", "data-testid": "streaming" }));
  out.dataset.tokens = "0";
  status.textContent = "Searching…";
  $("#ask-form button").disabled = true;
  try {
    const body = state.conversation ? { question, conversation_id: state.conversation } : { question };
    const limits = chosenLimits();
    if (limits) body.filters = limits;
    const res = await api("/api/ask/stream", { method: "POST", body });
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buf.indexOf("\n\n")) >= 0) {
        const chunk = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        const event = (chunk.match(/^event: (.*)$/m) || [])[1];
        const data = JSON.parse(chunk.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n") || "null");
        if (event === "retrieval") status.textContent = `Read ${data.passages.length} passages; writing…`;
        else if (event === "token") { $(".streaming", out).textContent += data.text; out.dataset.tokens = String(Number(out.dataset.tokens || 0) + 1); }
        else if (event === "answer") {
          status.textContent = "Verified. Saved as a draft for review.";
          if ($("#question").value.trim() === question) $("#question").value = "";
          renderAnswer(data, out);
          state.latest = data;
          if (state.conversation !== data.conversation_id) {
            state.conversation = data.conversation_id;
            $("#thread-title").textContent = data.question.length > 80 ? `${data.question.slice(0, 80)}…` : data.question;
            $("#thread-title").hidden = false;
            history.pushState(null, "", `#/c/${data.conversation_id}`);
          }
          loadThreads().catch(() => {});
        }
        else if (event === "error") throw new Error(data.error);
      }
    }
  } catch (e) {
    status.textContent = "";
    out.replaceChildren(el("p", { class: "error" }, e.message));
  } finally {
    $("#ask-form button").disabled = false;
  }
}

// --- source viewer --------------------------------------------------------------------------------
// The cited page as the page: a PDF page is drawn as an image with every citation of the answer on it
// boxed (the one opened in a stronger colour); other documents show their text with the quotes marked.
// ‹ › step through the document's pages, "‹ [n]" "[n] ›" through the answer's citations.
async function openSource(record, n, page) {
  const c = record.citations.find((x) => x.n === n);
  if (!c) return;
  const token = {};
  state.source = { record, n, current: page, token };
  const order = record.citations.map((x) => x.n).sort((a, b) => a - b);
  const at = order.indexOf(n);
  $("#cite-nav").hidden = false;
  $("#cite-where").textContent = `citation [${n}], ${at + 1} of ${order.length}`;
  $("#cite-prev").disabled = at <= 0;
  $("#cite-next").disabled = at >= order.length - 1;
  showPanel(c.title);
  const query = page ? `?page=${page}` : "";
  const data = await getJSON(`/api/records/${record.id}/citations/${n}/page${query}`).catch((e) => ({ error: e.message }));
  if (state.source.token !== token) return; // a newer click won
  if (data.error) return showMissing(`${data.error}. The answer quoted: “${c.quote.replace(/\s+/g, " ")}”`);
  await renderPage(data, { title: c.title, n, section: data.page === c.page ? c.section : "" });
}
// Any document at any page, from the document browser: no citation, nothing marked.
async function openDocument(d, page) {
  const token = {};
  state.source = { doc: d, current: page, token };
  $("#cite-nav").hidden = true;
  showPanel(d.title);
  const data = await getJSON(`/api/documents/${d.document_id}/pages/${page}`).catch((e) => ({ error: e.message }));
  if (state.source.token !== token) return;
  if (data.error) return showMissing(data.error);
  await renderPage(data, { title: d.title, n: undefined, section: "" });
}
function showPanel(title) {
  document.body.classList.add("with-source");
  $("#source").hidden = false;
  $("#source-title").textContent = title;
}
function showMissing(message) {
  $("#source-where").textContent = "";
  $("#source-note").hidden = true;
  $("#source-missing").hidden = true;
  $("#source-page").hidden = true;
  $("#source-text-box").open = true;
  $("#source-text").replaceChildren(el("span", { class: "error" }, message));
}
async function renderPage(data, { title, n, section }) {
  const token = state.source.token;
  const text = $("#source-text");
  const pageBox = $("#source-page");
  $("#source-note").hidden = !data.note;
  $("#source-note").textContent = data.note || "";
  state.source.current = data.page;
  state.source.pages = data.pages;
  const label = data.label || `p. ${data.page}`;
  $("#source-where").textContent = label.startsWith("§")
    ? `${label} (section ${data.page} of ${data.pages})`
    : `page ${data.page} of ${data.pages}${label.endsWith("(OCR)") ? " (OCR)" : ""}${section ? ` · section ${section}` : ""}`;
  $("#source-prev").disabled = data.page <= 1;
  $("#source-next").disabled = data.page >= data.pages;
  // The text, every cited quote marked.
  const spans = data.marks.flatMap((m) => m.spans.map(([s, e]) => ({ s, e, n: m.n }))).sort((a, b) => a.s - b.s);
  const parts = [];
  let pos = 0;
  for (const { s, e, n: m } of spans) {
    if (s < pos) continue; // two citations of one sentence: marked once
    parts.push(data.text.slice(pos, s), el("mark", { "data-testid": "highlight", "data-n": m, class: m === n ? "current" : "" }, data.text.slice(s, e)));
    pos = e;
  }
  parts.push(data.text.slice(pos));
  text.replaceChildren(...parts);
  const opened = data.marks.find((m) => m.n === n);
  $("#source-missing").hidden = !(opened && !opened.spans.length && !opened.boxes.length);
  if (data.image) {
    const img = $("#source-img");
    const blob = await (await api(data.image)).blob();
    if (state.source.token !== token) return;
    if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
    img.src = URL.createObjectURL(blob);
    img.alt = `${title}, ${label}`;
    pageBox.querySelectorAll(".box").forEach((b) => b.remove());
    for (const m of data.marks) {
      for (const [l, t, r, b] of m.boxes) {
        pageBox.append(el("div", {
          class: `box${m.n === n ? " current" : ""}`, "data-testid": "highlight-box", "data-n": m.n, title: `[${m.n}]`,
          style: `left:${l * 100}%;top:${t * 100}%;width:${(r - l) * 100}%;height:${(b - t) * 100}%`,
        }));
      }
    }
    pageBox.hidden = false;
    $("#source-text-box").open = false;
    $("#source-text-box summary").textContent = "Text of this page";
    await img.decode().catch(() => {});
    const first = $(".box.current", pageBox) || $(".box", pageBox);
    if (first) first.scrollIntoView({ block: "center" });
    else $("#source-body").scrollTop = 0;
  } else {
    pageBox.hidden = true;
    $("#source-text-box").open = true;
    $("#source-text-box summary").textContent = data.image_note || "Text of this page";
    const mark = $("mark.current", text) || $("mark", text);
    if (mark) mark.scrollIntoView({ block: "center" });
  }
}
function closeSource() { $("#source").hidden = true; document.body.classList.remove("with-source"); }
function stepCitation(by) {
  const { record, n } = state.source;
  if (!record) return;
  const order = record.citations.map((x) => x.n).sort((a, b) => a - b);
  const next = order[order.indexOf(n) + by];
  if (next !== undefined) openSource(record, next);
}
$("#source-close").onclick = closeSource;
// Escape closes the source panel, as any side panel closes.
document.addEventListener("keydown", (e) => { if (e.key === "Escape" && !$("#source").hidden) closeSource(); });
function turnPage(by) {
  const src = state.source;
  if (!src || !src.pages) return;
  const page = src.current + by;
  if (page < 1 || page > src.pages) return;
  if (src.record) openSource(src.record, src.n, page); else openDocument(src.doc, page);
}
$("#source-prev").onclick = () => turnPage(-1);
$("#source-next").onclick = () => turnPage(1);
$("#cite-prev").onclick = () => state.source && stepCitation(-1);
$("#cite-next").onclick = () => state.source && stepCitation(1);

// --- records, review ------------------------------------------------------------------------------
function recordItem(r, { selectable = false } = {}) {
  const li = el("li", { "data-id": r.id },
    el("span", { class: `badge ${r.status}` }, r.status.replace("_", " ")),
    el("a", { href: `#/r/${r.id}`, "data-testid": "record-link" }, r.question),
    el("span", { class: "muted" }, r.asker));
  if (selectable) {
    li.prepend(el("input", { type: "checkbox", "data-testid": "select", checked: state.selected.has(r.id), onchange: (e) => {
      if (e.target.checked) state.selected.add(r.id); else state.selected.delete(r.id);
      renderExport();
    } }));
  }
  return li;
}

async function loadMine() {
  const rows = await getJSON("/api/records?mine=true&limit=100");
  $("#mine-list").replaceChildren(...(rows.length ? rows.map((r) => recordItem(r)) : [el("li", {}, "You have not asked anything yet.")]));
}
// The queue a reviewer works from: filters by status, asker and document, oldest or newest first, and one
// card per question with its drafts under it; answers the reviewer asked are marked, as another decides.
state.queue = [];
async function loadQueue() {
  state.queue = await getJSON("/api/review/queue");
  const fill = (sel, first, values) => {
    const keep = sel.value;
    sel.replaceChildren(el("option", { value: "" }, first), ...values.map(([v, label]) => el("option", { value: v }, label)));
    sel.value = values.some(([v]) => v === keep) ? keep : "";
  };
  fill($("#queue-asker"), "Anyone asking", [...new Set(state.queue.map((r) => r.asker))].sort().map((a) => [a, a]));
  const docs = new Map(state.queue.flatMap((r) => r.citations.map((c) => [c.file, c.title])));
  fill($("#queue-doc"), "Any document", [...docs].sort((a, b) => a[1].localeCompare(b[1])));
  renderQueue();
  // Changes to reviewers' credentials: who could act as a reviewer, and who gave them the means.
  const creds = await getJSON("/api/review/credentials");
  const words = { "user.create": "created reviewer", "user.token": "issued a new token to", "user.token.claim": "exchanged their token:", "user.disable": "disabled" };
  $("#credentials").replaceChildren(...creds.map((c) => el("li", {}, `${new Date(c.at).toLocaleString()}: ${c.by} ${words[c.action] || c.action} ${c.action === "user.token.claim" ? "" : c.reviewer}`)));
  $("#credentials-box").hidden = !creds.length;
}

// The words of `a` and `b` with what was taken out struck through and what came in marked: a word-level
// longest common subsequence (quotes are a few hundred words, so the table is small).
function wordDiff(a, b) {
  const x = a.split(/\s+/).filter(Boolean), y = b.split(/\s+/).filter(Boolean);
  const L = Array.from({ length: x.length + 1 }, () => new Uint16Array(y.length + 1));
  for (let i = x.length - 1; i >= 0; i--) for (let j = y.length - 1; j >= 0; j--) {
    L[i][j] = x[i] === y[j] ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1]);
  }
  const out = [];
  const push = (tag, word) => {
    const last = out[out.length - 1];
    if (last && last.tag === tag) last.words.push(word); else out.push({ tag, words: [word] });
  };
  let i = 0, j = 0;
  while (i < x.length || j < y.length) {
    if (i < x.length && j < y.length && x[i] === y[j]) { push("", x[i]); i++; j++; }
    else if (j < y.length && (i === x.length || L[i][j + 1] >= L[i + 1][j])) { push("ins", y[j]); j++; }
    else { push("del", x[i]); i++; }
  }
  return out.map(({ tag, words }) => (tag ? el(tag, { "data-testid": `word-${tag}` }, words.join(" ")) : words.join(" "))).flatMap((n) => [n, " "]);
}

function renderQueue() {
  const status = $("#queue-status").value, asker = $("#queue-asker").value, doc = $("#queue-doc").value;
  const newest = $("#queue-sort").value === "newest";
  const rows = state.queue.filter((r) => (!status || r.status === status) && (!asker || r.asker === asker)
    && (!doc || r.citations.some((c) => c.file === doc)));
  const key = (q) => q.toLowerCase().replace(/[?.!\s]+/g, " ").trim();
  const groups = new Map();
  for (const r of rows) groups.set(key(r.question), [...(groups.get(key(r.question)) || []), r]);
  const when = (r) => new Date(r.created_at).getTime();
  const ordered = [...groups.values()].map((g) => g.sort((a, b) => (newest ? when(b) - when(a) : when(a) - when(b))))
    .sort((a, b) => (newest ? when(b[0]) - when(a[0]) : when(a[0]) - when(b[0])));
  $("#queue-count").textContent = `${rows.length} answer${rows.length === 1 ? "" : "s"} to ${ordered.length} question${ordered.length === 1 ? "" : "s"}`;
  $("#queue-list").replaceChildren(...(ordered.length ? ordered.map((g) => {
    const mine = g.some((r) => r.asker === state.user.name);
    return el("li", { class: "queue-card", "data-testid": "queue-card" },
      el("div", {}, el("a", { href: `#/r/${g[0].id}`, "data-testid": "record-link" }, g[0].question),
        g.length > 1 ? el("span", { class: "muted", "data-testid": "drafts-count" }, ` · ${g.length} drafts`) : "",
        mine ? el("span", { class: "badge mine", "data-testid": "yours", title: "You asked this: another reviewer decides on it" }, "yours") : ""),
      el("ul", { class: "drafts" }, g.map((r) => el("li", { "data-id": r.id },
        el("span", { class: `badge ${r.status}` }, r.status.replace("_", " ")), " ",
        el("a", { href: `#/r/${r.id}`, "data-testid": "draft-link" }, `version ${r.current_version}, asked by ${r.asker}`),
        el("span", { class: "muted" }, ` · ${new Date(r.created_at).toLocaleString()}`),
        r.asker === state.user.name ? el("span", { class: "muted" }, " · yours: another reviewer decides") : ""))));
  }) : [el("li", {}, state.queue.length ? "Nothing matches these filters." : "Nothing to review.")]));
}
for (const id of ["#queue-status", "#queue-asker", "#queue-doc", "#queue-sort"]) $(id).onchange = renderQueue;

function diffView(diff) {
  return el("pre", { class: "diff", "data-testid": "diff" }, diff.split("\n").filter((l) => !l.startsWith("---") && !l.startsWith("+++"))
    .map((l) => el("span", { class: l.startsWith("+") ? "add" : l.startsWith("-") ? "del" : "" }, l + "\n")));
}

async function openRecord(id) {
  const r = await getJSON(`/api/records/${id}`);
  show("record");
  const box = $("#record");
  const answer = el("article", { "data-testid": "record-answer" });
  renderAnswer(r, answer);
  box.replaceChildren(el("h2", {}, r.question), el("p", { class: "muted" }, `Asked by ${r.asker} · ${new Date(r.created_at).toLocaleString()}`), answer);
  if (r.rereview) {
    box.append(el("div", { class: "card", "data-testid": "rereview" }, el("strong", {}, "Sources changed since approval"),
      r.rereview.map((ch) => el("div", { class: "change" }, el("p", {}, `[${ch.n}] ${ch.file}: ${ch.change === "removed" ? "removed from the library" : "the cited passage changed"}.`,
        ch.change === "changed" ? [" ", el("a", { href: "#", "data-testid": "rereview-open", onclick: (e) => { e.preventDefault(); openSource(r, ch.n); } }, "Open the current version")] : []),
        ch.now_reads
          ? el("p", { class: "diff-words", "data-testid": "rereview-diff" }, el("span", { class: "muted" }, "Was → now: "), ...wordDiff(ch.old_quote, ch.now_reads))
          : el("p", {}, el("span", { class: "muted" }, "Was: "), `“${ch.old_quote.replace(/\s+/g, " ")}”`)))));
  }
  for (const v of r.versions.slice(1).reverse()) {
    box.append(el("div", { class: "card" }, el("strong", {}, `Version ${v.version} by ${v.author}`), v.note ? ` — ${v.note}` : "", diffView(v.diff)));
  }
  for (const rv of r.reviews) box.append(el("p", { class: "muted" }, `${rv.decision} (version ${rv.version}) by ${rv.reviewer}: ${rv.reason || "no reason given"}`));
  if (state.user.role === "reviewer" && r.feedback.length) {
    box.append(el("div", { class: "card", "data-testid": "feedback-list" }, el("strong", {}, `Readers' ratings: ${r.helpful} helpful, ${r.unhelpful} not`),
      el("ul", {}, r.feedback.map((f) => el("li", {}, `${f.helpful ? "Helpful" : "Not helpful"}: ${f.user} (version ${f.version}, ${new Date(f.created_at).toLocaleString()})${f.reason ? `: “${f.reason}”` : ""}`)))));
  }
  const role = state.user.role;
  const canEdit = role === "reviewer" || (role === "consultant" && r.asker === state.user.name);
  if (canEdit) {
    const ta = el("textarea", { rows: 5, "data-testid": "edit-text" });
    ta.value = r.text;
    const note = el("input", { placeholder: "What you changed and why", "data-testid": "edit-note", size: 50 });
    box.append(el("div", { class: "card" }, el("strong", {}, "Edit (cite sources as [n]; every sentence is verified again)"), ta, note,
      el("button", { "data-testid": "save-edit", onclick: async () => {
        try { await api(`/api/records/${id}/edit`, { method: "POST", body: { text: ta.value, note: note.value, version: r.current_version } }); openRecord(id); } catch (e) { alert(e.message); }
      } }, "Save edit")));
  }
  const mine = r.asker === state.user.name || r.versions.some((v) => v.author === state.user.name);
  if (role === "reviewer" && (r.status === "draft" || r.status === "needs_rereview") && mine) {
    box.append(el("p", { class: "muted", "data-testid": "four-eyes" }, "Four eyes: you asked this question or wrote a version of this answer, so another reviewer decides on it."));
  } else if (role === "reviewer" && (r.status === "draft" || r.status === "needs_rereview")) {
    const reason = el("input", { placeholder: "Reason (required to reject)", size: 50, "data-testid": "review-reason" });
    const ack = el("input", { type: "checkbox", "data-testid": "ack" });
    const err = el("p", { class: "error", "data-testid": "review-error" });
    const decide = async (what) => {
      try {
        const body = what === "approve" ? { reason: reason.value, acknowledge_unsupported: ack.checked } : { reason: reason.value };
        await api(`/api/records/${id}/${what}`, { method: "POST", body: { ...body, version: r.current_version } });
        openRecord(id);
      } catch (e) { err.textContent = e.message; }
    };
    box.append(el("div", { class: "card" }, el("strong", {}, "Decision"), el("br"), reason, " ",
      el("label", {}, ack, " I have checked the unsupported or changed sentences"), el("br"),
      r.abstained ? el("span", { class: "muted" }, "A refusal cannot be approved into the library. ") : el("button", { "data-testid": "approve", onclick: () => decide("approve") }, "Approve"), " ",
      el("button", { class: "danger", "data-testid": "reject", onclick: () => decide("reject") }, "Reject"), err));
  }
}
document.querySelectorAll("[data-back]").forEach((b) => { b.onclick = () => (history.length > 1 ? history.back() : go(`#/${state.home}`)); });

// --- library and export ---------------------------------------------------------------------------
// The export panel lists exactly what will be exported, in order: a selection hidden by a search is
// still listed here (and can be taken out), so nothing unseen goes to a client.
state.exportOrder = [];
state.exportRows = new Map();
state.headings = new Map();
async function loadLibrary() {
  const q = $("#library-q").value;
  const rows = await getJSON(`/api/library?q=${encodeURIComponent(q)}`);
  const canExport = state.user.role === "consultant";
  for (const r of rows) state.exportRows.set(r.id, r);
  $("#library-list").replaceChildren(...(rows.length ? rows.map((r) => recordItem(r, { selectable: canExport })) : [el("li", {}, "No approved answers match.")]));
  $("#export-bar").hidden = !canExport;
  renderExport();
}
$("#library-form").onsubmit = (e) => { e.preventDefault(); loadLibrary(); };
function renderExport() {
  state.exportOrder = [...state.exportOrder.filter((id) => state.selected.has(id)), ...[...state.selected].filter((id) => !state.exportOrder.includes(id))];
  const list = $("#export-items");
  if (!state.exportOrder.length) { list.replaceChildren(el("li", { class: "muted" }, "Tick approved answers above to add them.")); return; }
  list.replaceChildren(...state.exportOrder.map((id, i) => {
    const r = state.exportRows.get(id);
    const heading = el("input", { size: 50, "data-testid": "export-heading", "aria-label": "Heading", value: state.headings.get(id) ?? (r ? r.question : id) });
    heading.oninput = () => state.headings.set(id, heading.value);
    const move = (by) => { const o = state.exportOrder; [o[i], o[i + by]] = [o[i + by], o[i]]; renderExport(); };
    return el("li", { "data-id": id, "data-testid": "export-item" }, heading,
      el("button", { class: "secondary", "aria-label": "Move up", "data-testid": "export-up", disabled: i === 0, onclick: () => move(-1) }, "↑"),
      el("button", { class: "secondary", "aria-label": "Move down", "data-testid": "export-down", disabled: i === state.exportOrder.length - 1, onclick: () => move(1) }, "↓"),
      el("button", { class: "secondary", "aria-label": "Take out", "data-testid": "export-remove", onclick: () => {
        state.selected.delete(id);
        const box = $(`#library-list li[data-id="${id}"] input[type=checkbox]`);
        if (box) box.checked = false;
        renderExport();
      } }, "✕"),
      r && r.question !== heading.value ? el("div", { class: "muted" }, `Question: ${r.question}`) : "");
  }));
}
async function exportAs(format) {
  const ids = [...state.exportOrder];
  if (!ids.length) { $("#export-status").textContent = "Tick one or more approved answers first."; return; }
  const version = document.querySelector("input[name=export-version]:checked").value;
  const headings = Object.fromEntries(ids.filter((id) => state.headings.has(id) && state.headings.get(id).trim()).map((id) => [id, state.headings.get(id).trim()]));
  const body = { ids, format, version, headings, title: $("#export-title").value.trim() || "Drafted response", introduction: $("#export-intro").value };
  try {
    const res = await api("/api/export", { method: "POST", body });
    const blob = await res.blob();
    const name = `regassist-response${version === "client" ? "-client" : ""}.${format === "docx" ? "docx" : "md"}`;
    const a = el("a", { href: URL.createObjectURL(blob), download: name });
    document.body.append(a);
    a.click();
    a.remove();
    $("#export-status").textContent = `Exported ${ids.length} answer${ids.length === 1 ? "" : "s"} (${version} version).`;
  } catch (e) { $("#export-status").textContent = `Not exported: ${e.message}`; }
}
$("#export-md").onclick = () => exportAs("markdown");
$("#export-docx").onclick = () => exportAs("docx");

// --- documents: browse, open at any page, correct what the catalog says (admins) --------------------
let docsCache = [];
async function loadDocuments() {
  docsCache = await getJSON("/api/documents");
  $("#upload").hidden = state.user.role !== "admin";
  const sel = $("#docs-body");
  const keep = sel.value;
  sel.replaceChildren(el("option", { value: "" }, "All issuing bodies"),
    ...[...new Set(docsCache.map((d) => d.issuing_body))].sort().map((b) => el("option", { value: b }, b)));
  sel.value = keep;
  renderDocuments();
}
function renderDocuments() {
  const words = $("#docs-q").value.toLowerCase().split(/\s+/).filter(Boolean);
  const body = $("#docs-body").value, status = $("#docs-status").value;
  const rows = docsCache.filter((d) => (!body || d.issuing_body === body) && (!status || d.status === status)
    && words.every((w) => `${d.title} ${d.file}`.toLowerCase().includes(w)));
  $("#docs-count").textContent = `${rows.length} of ${docsCache.length} documents`;
  const admin = state.user.role === "admin";
  $("#documents tbody").replaceChildren(...rows.map((d) => {
    const at = el("input", { type: "number", min: 1, max: d.pages, value: 1, class: "page-at", "data-testid": "doc-page", "aria-label": "Page" });
    const tr = el("tr", { "data-file": d.file },
      el("td", {}, d.title, d.edited.length ? el("span", { class: "muted", title: `Corrected by an admin: ${d.edited.join(", ")}` }, " ✎") : ""),
      el("td", {}, d.issuing_body), el("td", {}, d.status), el("td", {}, d.year ?? ""), el("td", {}, d.pages), el("td", {}, d.file),
      el("td", { class: "actions" }, at,
        el("button", { class: "secondary", "data-testid": "doc-open", onclick: () => openDocument(d, Math.min(d.pages, Math.max(1, Number(at.value) || 1))) }, "Open"),
        admin ? el("button", { class: "secondary", "data-testid": "doc-edit", onclick: () => editDocument(d, tr) }, "Edit") : "",
        admin ? el("button", { class: "secondary", "data-testid": "remove", onclick: async () => {
          if (!confirm(`Remove ${d.file}? Approved answers citing it go back to review.`)) return;
          const job = await getJSON(`/api/documents/${d.document_id}`, { method: "DELETE" });
          await showJobResult(await waitJob(job.id, $("#upload-status")), d.file);
          loadDocuments();
        } }, "Remove") : ""));
    return tr;
  }));
}
$("#docs-q").oninput = renderDocuments;
$("#docs-body").onchange = renderDocuments;
$("#docs-status").onchange = renderDocuments;

const DOC_FIELDS = [["title", "Title"], ["issuing_body", "Issuing body"], ["jurisdiction", "Jurisdiction"], ["doc_type", "Type"],
  ["status", "Status"], ["year", "Year"], ["source", "Source URL"]];
function editDocument(d, tr) {
  const inputs = {};
  const form = el("div", { class: "doc-edit", "data-testid": "doc-edit-form" }, ...DOC_FIELDS.map(([k, label]) => {
    const input = k === "status"
      ? el("select", {}, ...["final", "draft", "superseded", "unknown"].map((v) => el("option", { value: v }, v)))
      : el("input", { type: k === "year" ? "number" : "text", size: k === "title" || k === "source" ? 40 : 14 });
    input.value = d[k] ?? "";
    input.dataset.testid = `edit-${k}`;
    inputs[k] = input;
    return el("label", {}, `${label} `, input);
  }));
  const status = el("p", { class: "muted", "data-testid": "doc-edit-status" });
  const save = el("button", { "data-testid": "doc-edit-save", onclick: async () => {
    const body = {};
    for (const [k] of DOC_FIELDS) {
      const v = inputs[k].value.trim();
      const was = d[k] ?? "";
      if (String(was) === v) continue;
      body[k] = k === "year" ? (v ? Number(v) : null) : v;
    }
    if (!Object.keys(body).length) { status.textContent = "Nothing changed."; return; }
    save.disabled = true;
    try {
      const job = await getJSON(`/api/documents/${d.document_id}`, { method: "PATCH", body });
      status.textContent = "Saved; indexing the document again with the corrected details…";
      await showJobResult(await waitJob(job.id, status), d.file);
      loadDocuments();
    } catch (e) { status.textContent = e.message; save.disabled = false; }
  } }, "Save");
  const cell = el("td", { colspan: 7 }, form, save, " ", el("button", { class: "secondary", onclick: () => renderDocuments() }, "Cancel"), status);
  tr.after(el("tr", { class: "edit-row" }, cell));
}
// Every error the app shows is in words a person reads, never the API's field names or validator jargon:
// "reason: String should have at least 1 character" reads "Reason: cannot be empty".
const FIELD_WORDS = {
  title: "Title", issuing_body: "Issuing body", jurisdiction: "Jurisdiction", doc_type: "Type", status: "Status",
  year: "Year", source: "Source URL", reason: "Reason", text: "Answer text", note: "Note", question: "Question",
  name: "Name", role: "Role", ids: "Answers", headings: "Headings", introduction: "Introduction",
  filename: "File name", "content-type": "File type", "filters.document_id": "Documents", set: "Question set",
  version: "Version", conversation_id: "Conversation",
};
function plainError(msg) {
  let out = String(msg || "")
    .replace(/approve with acknowledge_unsupported=true( after checking the new text)?/g, "tick “I have checked the unsupported or changed sentences”$1 and approve")
    .replace(/\backnowledge_unsupported\b/g, "the “I have checked” box");
  const m = /^([a-z_.-]+): (.*)$/s.exec(out);
  if (m && FIELD_WORDS[m[1]]) {
    const rest = m[2]
      .replace(/^String should have at least 1 character/, "cannot be empty")
      .replace(/^String should have at most (\d+) characters?/, "is too long (at most $1 characters)")
      .replace(/^String should match pattern .*/, "cannot be only spaces")
      .replace(/^Input should be (less|greater) than or equal to (\d+)/, "should be $1 than or equal to $2")
      .replace(/^Input should be /, "should be ")
      .replace(/^Field required/, "is needed");
    out = `${FIELD_WORDS[m[1]]}: ${rest}`;
  }
  return out;
}
// What a finished upload, edit or removal did, in words, naming the approved answers it sent back to review.
async function showJobResult(job, file) {
  const box = $("#upload-result");
  box.hidden = false;
  if (job.status === "failed") { box.replaceChildren(el("p", { class: "error" }, `${file}: ${job.error}`)); return; }
  const r = job.result || {};
  const what = r.added ? "added" : r.updated ? "updated" : r.unchanged ? "unchanged (the same bytes are indexed already)" : job.kind === "remove" ? "removed" : "done";
  const back = r.rereview || [];
  const items = await Promise.all(back.map((id) => getJSON(`/api/records/${id}`).then((x) => x.question).catch(() => id)));
  box.replaceChildren(el("p", { "data-testid": "upload-outcome" }, `${file}: ${what}.`),
    back.length
      ? [el("p", {}, `${back.length} approved answer${back.length === 1 ? "" : "s"} went back to review, because the passages they cite changed:`),
        el("ul", { "data-testid": "rereview-list" }, back.map((id, i) => el("li", {}, el("a", { href: `#/r/${id}` }, items[i]))))]
      : el("p", { class: "muted" }, "No approved answer cites a passage that changed."));
}
async function waitJob(id, statusEl) {
  for (;;) {
    const job = await getJSON(`/api/jobs/${id}`);
    statusEl.textContent = `${job.kind}: ${job.status}${job.total ? ` (${job.done}/${job.total})` : ""}${job.error ? ` — ${job.error}` : ""}`;
    if (job.status === "done" || job.status === "failed") return job;
    await new Promise((r) => setTimeout(r, 700));
  }
}
$("#upload-go").onclick = () => {
  const file = $("#upload-file").files[0];
  if (!file) return;
  const ext = file.name.toLowerCase().split(".").pop();
  const type = { pdf: "application/pdf", md: "text/markdown", html: "text/html", htm: "text/html",
    docx: "application/vnd.openxmlformats-officedocument.wordprocessingml.document" }[ext] || "text/plain";
  const xhr = new XMLHttpRequest();
  const bar = $("#upload-progress");
  bar.hidden = false;
  xhr.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = (100 * e.loaded) / e.total; };
  xhr.onload = async () => {
    let body = {};
    try { body = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
    if (xhr.status !== 202) { $("#upload-status").textContent = `Upload refused: ${plainError(body.error || String(xhr.status))}`; return; }
    await showJobResult(await waitJob(body.id, $("#upload-status")), file.name);
    loadDocuments();
  };
  // What the catalog says about the document comes from this form, never from the file's own text.
  const params = new URLSearchParams({ filename: file.name });
  for (const [key, id] of [["title", "upload-title"], ["issuing_body", "upload-body"], ["status", "upload-doc-status"], ["year", "upload-year"]]) {
    const v = $(`#${id}`).value.trim();
    if (v) params.set(key, v);
  }
  xhr.open("POST", `/api/documents?${params}`);
  xhr.setRequestHeader("Authorization", `Bearer ${state.token}`);
  xhr.setRequestHeader("Content-Type", type);
  xhr.send(file);
};

// --- users and audit ------------------------------------------------------------------------------
async function loadUsers() {
  const users = await getJSON("/api/users");
  $("#users tbody").replaceChildren(...users.map((u) => el("tr", {}, el("td", {}, u.name), el("td", {}, u.role), el("td", {}, u.active ? "yes" : "no"),
    el("td", {}, u.active && u.id !== state.user.id ? [
      el("button", { class: "secondary", onclick: async () => { const t = await getJSON(`/api/users/${u.id}/token`, { method: "POST" }); showToken(t); } }, "New token"), " ",
      el("button", { class: "danger", onclick: async () => { await api(`/api/users/${u.id}`, { method: "DELETE" }); loadUsers(); } }, "Disable")] : ""))));
}
function showToken(t) {
  const p = $("#new-token");
  p.hidden = false;
  p.textContent = `Token for ${t.user.name} (${t.user.role}), shown once — pass it on now: ${t.token}`;
}
$("#user-form").onsubmit = async (e) => {
  e.preventDefault();
  try { showToken(await getJSON("/api/users", { method: "POST", body: { name: $("#user-name").value, role: $("#user-role").value } })); loadUsers(); } catch (err) { alert(err.message); }
};
async function loadAudit() {
  const rows = await getJSON("/api/audit?limit=200");
  $("#audit tbody").replaceChildren(...rows.map((a) => el("tr", {}, el("td", {}, a.id), el("td", {}, a.at.replace("T", " ").slice(0, 19)), el("td", {}, a.user_name),
    el("td", {}, a.action), el("td", {}, a.target), el("td", { class: "muted" }, a.detail.slice(0, 160)))));
}
$("#audit-verify").onclick = async () => {
  const c = await getJSON("/api/audit/verify");
  $("#audit-result").textContent = c.ok ? `Chain intact: ${c.entries} entries.` : `Chain broken: ${c.problem}`;
};
$("#audit-export").onclick = async () => {
  const blob = await (await api("/api/audit/export")).blob();
  const a = el("a", { href: URL.createObjectURL(blob), download: "regassist-audit.jsonl" });
  document.body.append(a); a.click(); a.remove();
};

// --- evaluations ----------------------------------------------------------------------------------
async function loadEvals() {
  const runs = await getJSON("/api/evals");
  $("#eval-runs tbody").replaceChildren(...runs.map((j) => el("tr", { "data-run": j.id },
    el("td", {}, new Date(j.created_at).toLocaleString()), el("td", {}, j.params.set), el("td", { "data-testid": "run-status" }, j.status),
    el("td", {}, el("progress", { max: j.total || 1, value: j.done }), ` ${j.done}/${j.total}`),
    el("td", {}, j.result ? `correct ${fmt(j.result.summary.correct)}, page hit@5 ${fmt(j.result.summary["page_hit@5"])}, abstention MCC ${fmt(j.result.summary.abstention_mcc)}${j.result.failures.length ? ` — ${j.result.failures.length} threshold(s) missed` : " — thresholds met"}` : j.error || ""),
    el("td", { class: "actions" }, j.status === "done" ? [
      el("button", { class: "secondary", "data-testid": "open-report", onclick: () => openReport(j.id) }, "Report"),
      el("button", { class: "secondary", "data-testid": "download-report", onclick: () => download(`/api/evals/${j.id}/report?download=true`, `regassist-eval-${j.params.set}-${j.id.slice(0, 8)}.html`) }, "Download"),
      el("button", { class: "secondary", "data-testid": "download-results", onclick: () => download(`/api/evals/${j.id}/results`, `regassist-eval-${j.params.set}-${j.id.slice(0, 8)}.json`) }, "Results (JSON)"),
    ] : ""))));
  const done = runs.filter((j) => j.status === "done");
  // By default B is the newest finished run and A the one before; a choice made is kept until a run finishes.
  const fresh = state.doneRuns !== done.length;
  state.doneRuns = done.length;
  for (const [sel, pick] of [["#compare-a", 1], ["#compare-b", 0]]) {
    const keep = $(sel).value;
    $(sel).replaceChildren(...done.map((j) => el("option", { value: j.id }, `${j.params.set} · ${new Date(j.created_at).toLocaleString()}`)));
    $(sel).value = !fresh && done.some((j) => j.id === keep) ? keep : (done[pick] || done[0] || {}).id || "";
  }
  $("#compare").hidden = done.length < 2;
  if (runs.some((j) => j.status === "queued" || j.status === "running")) setTimeout(() => $('[data-view="evals"]').classList.contains("active") && loadEvals(), 1500);
  loadRatings().catch(() => {});
}
// What readers said of the answers they got: counted next to the measured runs, complaints in their words.
async function loadRatings() {
  const f = await getJSON("/api/feedback?limit=10");
  const total = f.helpful + f.unhelpful;
  $("#ratings").replaceChildren(el("strong", {}, "Readers' ratings"),
    el("p", { "data-testid": "ratings-counts" }, total
      ? `${f.helpful} helpful, ${f.unhelpful} not helpful (${Math.round((100 * f.helpful) / total)}% helpful) on ${f.answers_rated} answer${f.answers_rated === 1 ? "" : "s"}.`
      : "No answer has been rated yet."),
    f.recent_unhelpful.length ? el("ul", {}, f.recent_unhelpful.map((x) => el("li", {}, `“${x.reason}” on “${x.question}” (version ${x.version})`))) : "",
    el("p", { class: "muted" }, "Ratings are what readers said, not a measurement: they are shown beside the runs, never mixed into their metrics."));
}
const fmt = (x) => (x === undefined || x === null ? "–" : Number(x).toFixed(3));
async function download(path, name) {
  const blob = await (await api(path)).blob();
  const a = el("a", { href: URL.createObjectURL(blob), download: name });
  document.body.append(a);
  a.click();
  a.remove();
}
$("#compare-go").onclick = async () => {
  const a = $("#compare-a").value, b = $("#compare-b").value;
  const out = $("#compare-out");
  if (!a || !b || a === b) { out.replaceChildren(el("p", { class: "error" }, "Choose two different finished runs.")); return; }
  try {
    const c = await getJSON(`/api/evals/compare?a=${a}&b=${b}`);
    const changed = Object.entries(c.changed);
    out.replaceChildren(
      el("p", { "data-testid": "compare-changed" }, changed.length
        ? `What differed: ${changed.map(([k, [x, y]]) => `${k} (${JSON.stringify(x)} → ${JSON.stringify(y)})`).join("; ")}`
        : "No difference in code, model, settings, corpus or question set."),
      el("table", { "data-testid": "compare-table" }, el("thead", {}, el("tr", {}, ...["metric", "A", "A's 95% interval", "B", "change", "verdict"].map((h) => el("th", {}, h)))),
        el("tbody", {}, c.metrics.map((m) => el("tr", { class: m.verdict === "REGRESSION" ? "bad" : m.verdict === "improved" ? "ok" : "" },
          el("td", { title: m.explain }, m.metric), el("td", {}, fmt(m.a)), el("td", {}, `[${fmt(m.a_low)}, ${fmt(m.a_high)}]`),
          el("td", {}, fmt(m.b)), el("td", {}, `${m.delta >= 0 ? "+" : ""}${fmt(m.delta)}`), el("td", { "data-testid": "verdict" }, m.verdict))))));
  } catch (e) { out.replaceChildren(el("p", { class: "error" }, e.message)); }
};
async function openReport(id) {
  const html = await (await api(`/api/evals/${id}/report`)).text();
  const frame = $("#eval-report");
  frame.hidden = false;
  frame.srcdoc = html;
}
$("#eval-form").onsubmit = async (e) => {
  e.preventDefault();
  const button = $("#eval-form button");
  button.disabled = true; // a double click starts one run (the server refuses a second anyway)
  try { await getJSON("/api/evals", { method: "POST", body: { set: $("#eval-set").value } }); await loadEvals(); } catch (err) { alert(err.message); } finally { button.disabled = false; }
};

// --- start ----------------------------------------------------------------------------------------
$("#signin-form").onsubmit = (e) => { e.preventDefault(); signIn($("#token").value.trim()); };
$("#signout").onclick = () => { sessionStorage.removeItem("regassist-token"); location.reload(); };
$("#ask-form").onsubmit = (e) => { e.preventDefault(); const q = $("#question").value.trim(); if (q) ask(q); };
// Enter sends the question, as chats do; Shift+Enter starts a new line.
$("#question").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); $("#ask-form").requestSubmit(); }
});
if (state.token) signIn(state.token);
