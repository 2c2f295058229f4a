// The agent desktop: the screen pop arrives over the /api/live web socket (no reload, no
// polling); the agent's state is re-read when the socket says the distribution changed;
// the state's time and the wrap-up countdown tick locally.
"use strict";
(function () {
  const H = window.hotline;
  const $ = (id) => document.getElementById(id);
  const STATES = {READY: "空闲", RINGING: "振铃", ON_CALL: "通话", WRAP_UP: "话后处理",
                  PAUSED: "示忙", LOGGED_OUT: "未签入"};
  const RESULTS = {answered: "已接听", abandoned: "放弃", offered: "呼入",
                   "voice-message": "留言", restricted: "限呼"};
  const ORDER_STATES = {pending_dispatch: "待派单", dispatched: "已派单", handling: "办理中",
                        replied: "已回复", closed: "办结", redo: "重办", review: "复核",
                        not_accepted: "不予受理", awaiting_approval: "待批示",
                        review_form: "审核反馈"};
  let desk = null;            // GET /api/desk
  let call = null;            // the popped call: {call_id, ...}
  // Labels of the pause reasons this desk may show: the console's (a supervisor's pause,
  // e.g. 主管置忙, rendered into the page) and, from /api/desk, the ones the agent may pick.
  const pauseLabels = JSON.parse($("desk").dataset.pauseLabels || "{}");
  let reasonsOffered = false;
  let clockOffset = 0;        // server clock minus this page's (from each figures "at")
  const serverNow = () => Date.now() / 1000 + clockOffset;
  // For tests and the latency benches: pops drawn and when; when (performance.now(), from
  // the navigation's start) the state, the inbox and the socket were first there.
  window.hotlineDesk = {pops: 0, renders: [], states: 0, inboxLoads: 0, transferLoads: 0,
                        firstState: null, firstInbox: null, firstLive: null};

  function row(tbody, values) {
    const tr = tbody.insertRow();
    for (const v of values) H.text(tr.insertCell(), v);
    return tr;
  }
  function when(iso) { return iso ? new Date(iso).toLocaleString("zh-CN", {hour12: false}) : ""; }
  function duration(s) {
    s = Math.max(0, Math.floor(s));
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }

  // -- state ---------------------------------------------------------------------------
  async function refreshState() {
    const res = await H.api("GET", "/api/desk");
    if (!res.ok) { H.text($("state-error"), res.data && res.data.error); return; }
    desk = res.data;
    if (!reasonsOffered) {
      reasonsOffered = true;
      for (const r of desk.pause_reasons) {
        pauseLabels[r.code] = r.label;
        const o = document.createElement("option");
        o.value = r.code; o.textContent = r.label;
        $("pause-reason").appendChild(o);
      }
    }
    const label = STATES[desk.state] || desk.state;
    const reason = desk.state === "PAUSED" ? "（" + (pauseLabels[desk.pause_reason] ||
      desk.pause_reason) + "）" : "";
    H.text($("state"), label + reason);
    $("state").dataset.state = desk.state;
    if (desk.current_call && (!call || call.call_id !== desk.current_call)) {
      fetchPop(desk.current_call);      // a pop the socket could not send
    }
    window.hotlineDesk.states += 1;
    if (window.hotlineDesk.firstState === null) window.hotlineDesk.firstState = performance.now();
    tick();
  }
  function tick() {
    if (!desk) return;
    // "since" is the distributor's clock: counted against the server's time.
    const inState = serverNow() - desk.since;
    if (desk.state === "WRAP_UP") {
      H.text($("state-time"), "剩余 " + duration(desk.wrapup_seconds - inState));
    } else {
      H.text($("state-time"), desk.state === "LOGGED_OUT" ? "" : duration(inState));
    }
  }
  setInterval(tick, 1000);
  async function act(path, body) {
    H.text($("state-error"), "");
    const res = await H.api("POST", path, body);
    if (!res.ok) H.text($("state-error"), res.data && res.data.error);
    await refreshState();
  }
  $("btn-ready").addEventListener("click", () => act("/api/desk/ready"));
  $("btn-pause").addEventListener("click",
    () => act("/api/desk/pause", {reason: $("pause-reason").value}));
  $("btn-logout").addEventListener("click", () => act("/api/desk/logout"));

  // -- the screen pop ------------------------------------------------------------------
  async function fetchPop(callId) {
    const res = await H.api("GET", "/api/calls/" + encodeURIComponent(callId) + "/pop");
    if (res.ok) drawPop(res.data);
  }
  function drawPop(pop) {
    if (call && call.call_id === pop.call_id) return;
    call = pop;
    $("pop").dataset.call = pop.call_id;
    $("pop").classList.add("ringing");
    $("pop-empty").hidden = true;
    $("pop-body").hidden = false;
    H.text($("pop-line"), pop.line);
    H.text($("pop-department"), pop.department ? "（" + pop.department + "）" : "");
    H.text($("pop-caller"), pop.caller);
    const flags = $("pop-flags");
    flags.replaceChildren();
    if (pop.needs_help) flag(flags, "需帮扶", "needs-help");
    if (pop.restricted) flag(flags, "限呼：" + pop.restricted.reason, "restricted bad");
    const overdue = $("pop-overdue");
    overdue.hidden = !pop.overdue_orders.length;
    H.text(overdue, pop.overdue_orders.length ? "超期工单：" + pop.overdue_orders.map(
      (o) => "#" + o.id + " " + o.matter).join("，") : "");
    const calls = document.querySelector("#pop-calls tbody");
    calls.replaceChildren();
    for (const c of pop.calls) {
      row(calls, [when(c.offered_at), c.line, RESULTS[c.disposition] || c.disposition,
                  c.agent_id || ""]).dataset.call = c.id;
    }
    const orders = document.querySelector("#pop-orders tbody");
    orders.replaceChildren();
    for (const o of pop.orders) {
      const tr = row(orders, ["#" + o.id, when(o.received_at), o.matter,
                              (ORDER_STATES[o.status] || o.status) + (o.overdue ? " 超期" : "")]);
      tr.dataset.order = o.id;
      if (o.overdue) tr.className = "overdue";
    }
    // A new call: a fresh form, its facts shown (they are linked on the server).
    $("order-form").reset();
    $("dup-warning").hidden = true;
    H.text($("order-result"), "");
    $("order-result").dataset.orderId = "";
    $("save-order").disabled = false;
    for (const b of document.querySelectorAll("button.transfer")) b.disabled = false;
    transfersOf = null;
    $("transfer-rows").hidden = true;
    document.querySelector("#transfer-rows tbody").replaceChildren();
    H.text($("transfer-result"), "");
    H.text($("transcript"), "");
    window.hotlineDesk.pops += 1;
    window.hotlineDesk.renders.push({call: pop.call_id, drawn: Date.now() / 1000});
    if (window.hotlineDesk.renders.length > 1000) window.hotlineDesk.renders.shift();
  }
  function flag(parent, label, cls) {
    const s = document.createElement("span");
    s.className = "flag " + cls;
    H.text(s, label);
    parent.appendChild(s);
  }

  // -- the order from the call ---------------------------------------------------------
  function orderBody(extra) {
    return Object.assign({
      category: $("category").value, description: $("description").value,
      matter: $("matter").value, locality: $("locality").value, address: $("address").value,
      caller_name: $("caller-name").value, confidential: $("confidential").checked,
      publish_consent: $("publish-consent").checked}, extra || {});
  }
  async function saveOrder(extra) {
    if (!call) return;
    H.text($("order-error"), "");
    const res = await H.api("POST", "/api/desk/calls/" + encodeURIComponent(call.call_id) +
                            "/order", orderBody(extra));
    if (!res.ok) { H.text($("order-error"), res.data && res.data.error); return; }
    if (!res.data.saved) {                  // the duplicate warning comes first
      const list = $("dup-list");
      list.replaceChildren();
      for (const c of res.data.candidates) {
        const li = document.createElement("li");
        H.text(li, "#" + c.id + " " + when(c.received_at) + " " + c.matter + " " +
          (ORDER_STATES[c.status] || c.status));
        list.appendChild(li);
      }
      $("dup-warning").hidden = false;
      return;
    }
    $("dup-warning").hidden = true;
    const r = res.data;
    $("order-result").dataset.orderId = r.order_id;
    H.text($("order-result"), r.created ?
      "已保存工单 #" + r.order_id + "（" + (ORDER_STATES[r.status] || r.status) + "）" :
      "已关联到工单 #" + r.duplicate_of);
  }
  $("order-form").addEventListener("submit", (e) => { e.preventDefault(); saveOrder(); });
  $("dup-link").addEventListener("click", () => saveOrder({confirm: "duplicate"}));
  $("dup-new").addEventListener("click", () => saveOrder({confirm: "new"}));

  async function loadMatters() {
    const res = await H.api("GET", "/api/desk/matters");
    if (!res.ok) return;
    for (const m of res.data.matters) {
      const o = document.createElement("option");
      o.value = m.name; o.textContent = m.name;
      $("matter").appendChild(o);
    }
  }
  async function previewRoute() {
    const q = new URLSearchParams({matter: $("matter").value, locality: $("locality").value,
                                   address: $("address").value});
    if (!$("matter").value) { H.text($("route-preview"), ""); return; }
    const res = await H.api("GET", "/api/dispatch/route?" + q);
    H.text($("route-preview"), res.ok ?
      "派单预览：主办 " + res.data.lead + (res.data.assists.length ? "，协办 " +
        res.data.assists.join("、") : "") : (res.data && res.data.error));
  }
  for (const id of ["matter", "locality", "address"]) {
    $(id).addEventListener("change", previewRoute);
  }

  // -- knowledge base: a consult answered on the spot ----------------------------------
  $("kb-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const q = $("kb-q").value.trim();
    if (!q) return;
    const res = await H.api("GET", "/api/desk/kb?q=" + encodeURIComponent(q));
    const list = $("kb-results");
    list.replaceChildren();
    if (!res.ok) return;
    for (const hit of res.data.results) {
      const li = document.createElement("li");
      li.dataset.entry = hit.id;
      const qa = document.createElement("div");
      H.text(qa, hit.question);
      const ans = document.createElement("div");
      ans.className = "answer";
      H.text(ans, hit.answer);
      const b = document.createElement("button");
      b.type = "button"; b.className = "kb-answer"; b.textContent = "以此答复并办结";
      b.addEventListener("click", () => {
        if (!$("description").value) $("description").value = hit.question;
        if (!["consult", "help"].includes($("category").value)) $("category").value = "consult";
        saveOrder({kb_entry_id: hit.id});
      });
      li.append(qa, ans, b);
      list.appendChild(li);
    }
  });

  // -- transfers to the emergency centres ----------------------------------------------
  // The call's transfer rows are re-read after each action and whenever the socket says
  // one of its rows changed (the centre answered, the transfer ended).
  const MODES = {blind: "直接转接", attended: "咨询转接", "three-way": "三方通话"};
  const OUTCOMES = {requested: "已发起", consulting: "咨询中", connected: "已接通",
                    completed: "已完成", cancelled: "已取消", busy: "对方忙",
                    "no-answer": "无应答", failed: "失败", refused: "被拒绝"};
  let transfersOf = null;     // the call whose transfer rows are shown
  async function loadTransfers() {
    if (!transfersOf) return;
    const callId = transfersOf;
    const res = await H.api("GET", "/api/calls/" + encodeURIComponent(callId) + "/transfers");
    if (!res.ok || callId !== transfersOf) return;
    const tbody = document.querySelector("#transfer-rows tbody");
    tbody.replaceChildren();
    for (const t of res.data.transfers) {
      const tr = row(tbody, [t.target, MODES[t.mode] || t.mode, OUTCOMES[t.outcome] || t.outcome]);
      tr.dataset.transfer = t.id;
      tr.dataset.outcome = t.outcome;
      const cell = tr.insertCell();
      if (t.mode === "attended" && ["requested", "consulting"].includes(t.outcome)) {
        cell.append(transferAction(t.id, "complete", "完成转接"),
                    transferAction(t.id, "cancel", "取消"));
      }
    }
    $("transfer-rows").hidden = !res.data.transfers.length;
    window.hotlineDesk.transferLoads += 1;
  }
  function transferAction(id, action, label) {
    const b = document.createElement("button");
    b.type = "button"; b.className = "transfer-" + action; b.textContent = label;
    b.addEventListener("click", async () => {
      const res = await H.api("POST", "/api/transfers/" + id + "/" + action);
      H.text($("transfer-result"), res.ok ? label + "：" + (OUTCOMES[res.data.outcome] ||
        res.data.outcome) : (res.data && res.data.error));
      await loadTransfers();
    });
    return b;
  }
  for (const b of document.querySelectorAll("button.transfer")) {
    b.addEventListener("click", async () => {
      if (!call) return;
      const res = await H.api("POST", "/api/calls/" + encodeURIComponent(call.call_id) +
                              "/transfer", {target: b.dataset.target, mode: b.dataset.mode});
      H.text($("transfer-result"), res.ok ? "已转 " + res.data.target + "（" + b.textContent +
        "）" : (res.data && res.data.error));
      transfersOf = call.call_id;
      await loadTransfers();
    });
  }

  // -- the voice-message inbox (语音留言箱) ---------------------------------------------
  // Read over HTTP on opening and whenever the socket says a message arrived or left.
  async function loadInbox() {
    const res = await H.api("GET", "/api/desk/voice-messages");
    if (!res.ok) { H.text($("inbox-error"), res.data && res.data.error); return; }
    const tbody = document.querySelector("#inbox-table tbody");
    tbody.replaceChildren();
    for (const m of res.data.messages) {
      const tr = row(tbody, [m.line + (m.department ? "（" + m.department + "）" : ""),
                             m.caller, when(m.left_at), m.transcript || "（尚无转写）"]);
      tr.dataset.message = m.call_id;
      tr.cells[3].className = "words";
      const audio = document.createElement("audio");
      audio.controls = true; audio.preload = "none"; audio.src = m.recording_url;
      tr.insertCell().appendChild(audio);
      const pick = document.createElement("select");
      pick.className = "inbox-category";
      for (const o of $("category").options) pick.add(new Option(o.textContent, o.value));
      tr.insertCell().appendChild(pick);
      const b = document.createElement("button");
      b.type = "button"; b.className = "inbox-convert"; b.textContent = "转为工单";
      b.addEventListener("click", () => convert(m.call_id, pick.value, b));
      tr.insertCell().appendChild(b);
    }
    const n = res.data.messages.length;
    $("inbox-table").hidden = !n;
    $("inbox-empty").hidden = !!n;
    H.text($("inbox-count"), n ? n + " 条" : "");
    window.hotlineDesk.inboxLoads += 1;
    if (window.hotlineDesk.firstInbox === null) window.hotlineDesk.firstInbox = performance.now();
  }
  async function convert(callId, category, button) {
    button.disabled = true;
    H.text($("inbox-error"), "");
    const res = await H.api("POST", "/api/desk/voice-messages/" + encodeURIComponent(callId) +
                            "/order", {category: category});
    if (res.ok) {
      const r = res.data;
      $("inbox-result").dataset.orderId = r.order_id;
      H.text($("inbox-result"), r.created ? "留言已转为工单 #" + r.order_id :
        "留言已关联到工单 #" + r.duplicate_of);
    } else {
      H.text($("inbox-error"), res.data && res.data.error);
    }
    await loadInbox();
  }

  // -- the live socket -----------------------------------------------------------------
  let retry = 1;
  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(scheme + location.host + "/api/live");
    ws.onopen = () => {
      retry = 1; H.text($("live-status"), "已连接");
      if (window.hotlineDesk.firstLive === null) window.hotlineDesk.firstLive = performance.now();
    };
    ws.onmessage = (ev) => {
      const msg = JSON.parse(ev.data);
      if (msg.type === "pop") drawPop(msg.pop);
      else if (msg.type === "voice_message") loadInbox();
      else if (msg.type === "figures") {
        clockOffset = msg.figures.at - Date.now() / 1000;
        refreshState();
      }
      else if (msg.type === "transfer") {
        // Also a transfer a supervisor started on this agent's call.
        if (call && msg.transfer.call_id === call.call_id) transfersOf = call.call_id;
        if (msg.transfer.call_id === transfersOf) loadTransfers();
      }
      else if (msg.type === "transcript" && call && msg.transcript.call_id === call.call_id) {
        H.text($("transcript"), msg.transcript.text || "");
      } else if (msg.type === "alert") {
        // Speech alerts of this agent's calls: a keyword with the centre it suggests (its
        // line), or a category hint, which pre-selects the form's category.
        const a = msg.alert, li = document.createElement("li");
        if (a.type === "category_hint") {
          H.text(li, "类别提示：" + a.category + "（" + a.word + "）");
          if ($("category").querySelector('option[value="' + a.category + '"]')) {
            $("category").value = a.category;
          }
        } else {
          H.text(li, "关键词告警：" + a.keyword + (a.topic ? "（" + a.topic + "）" : "") +
            (a.line ? "，建议转 " + a.line : ""));
        }
        li.className = "alert";
        $("alerts").prepend(li);
      }
    };
    ws.onclose = () => {         // back off: 1, 2, 4 … 30 s
      H.text($("live-status"), "连接断开，重连中…");
      setTimeout(connect, retry * 1000);
      retry = Math.min(retry * 2, 30);
    };
  }
  loadMatters();
  refreshState();
  loadInbox();
  connect();
})();
