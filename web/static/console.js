// The supervisor console: live figures over the /api/live web socket (no polling); the
// agents table is re-read when the socket says something changed; waits tick locally.
"use strict";
(function () {
  const H = window.hotline;
  const STATES = {ready: "空闲", ringing: "振铃", on_call: "通话", wrap_up: "话后处理",
                  paused: "示忙", logged_out: "未签入"};
  const queuesBody = document.querySelector("#queues tbody");
  const agentsBody = document.querySelector("#agents tbody");
  const liveStatus = document.getElementById("live-status");
  const actionError = document.getElementById("action-error");
  const reasonOptions = document.getElementById("pause-reasons").innerHTML;
  const reasonLabels = {};
  for (const o of document.getElementById("pause-reasons").content.querySelectorAll("option")) {
    reasonLabels[o.value] = o.textContent;
  }
  // Server clock minus this page's clock (seconds), from each figures snapshot's "at".
  let clockOffset = 0;
  let figuresAt = 0;          // server time of the last snapshot
  // For tests and the latency bench: how many snapshots were drawn, and when.
  window.hotlineConsole = {figures: 0, agents: 0, lights: 0, renders: []};

  const now = () => Date.now() / 1000 + clockOffset;
  function duration(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const m = Math.floor(s / 60);
    return m + ":" + String(s % 60).padStart(2, "0");
  }
  function percent(x) { return x == null ? "—" : (x * 100).toFixed(1) + "%"; }
  function seconds(x) { return x == null ? "—" : x.toFixed(1) + " 秒"; }
  function cell(row, value, cls) {
    const td = row.insertCell();
    H.text(td, value);
    if (cls) td.className = cls;
    return td;
  }

  // -- queue figures -------------------------------------------------------------------
  function drawFigures(fig) {
    figuresAt = fig.at;
    clockOffset = fig.at - Date.now() / 1000;
    queuesBody.replaceChildren();
    const groups = [["line", "线路 ", fig.lines], ["skill", "技能 ", fig.skills]];
    for (const [kind, label, table] of groups) {
      for (const name of Object.keys(table).sort()) {
        const f = table[name];
        const row = queuesBody.insertRow();
        row.dataset.queue = kind + ":" + name;
        cell(row, label + name);
        cell(row, f.waiting, "waiting" + (f.waiting > 0 ? " waiting-some" : ""));
        const wait = cell(row, duration(f.longest_wait), "longest-wait");
        wait.dataset.base = f.longest_wait;
        wait.dataset.ticks = f.waiting > 0 ? "1" : "0";
        cell(row, percent(f.service_level), "service-level");
        cell(row, seconds(f.average_speed_of_answer), "asa");
        cell(row, f.answered, "answered");
        cell(row, f.abandoned, "abandoned");
      }
    }
    window.hotlineConsole.figures += 1;
    window.hotlineConsole.renders.push({at: fig.at, drawn: Date.now() / 1000});
    if (window.hotlineConsole.renders.length > 1000) window.hotlineConsole.renders.shift();
  }

  // -- agents --------------------------------------------------------------------------
  let agentsBusy = false, agentsAgain = false;
  async function refreshAgents() {
    if (agentsBusy) { agentsAgain = true; return; }
    agentsBusy = true;
    try {
      const res = await H.api("GET", "/api/agents");
      if (res.ok) drawAgents(res.data.agents);
    } finally {
      agentsBusy = false;
      if (agentsAgain) { agentsAgain = false; refreshAgents(); }
    }
  }
  function actionButton(label, handler) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    b.addEventListener("click", handler);
    return b;
  }
  function drawAgents(agents) {
    agentsBody.replaceChildren();
    for (const a of agents) {
      const row = agentsBody.insertRow();
      row.dataset.agent = a.agent_id;
      cell(row, a.agent_id);
      const st = cell(row, STATES[a.state] || a.state, "state state-" + a.state);
      st.dataset.state = a.state;
      const t = cell(row, duration(now() - a.since), "in-state");
      t.dataset.since = a.since;
      const reason = cell(row, reasonLabels[a.pause_reason] || a.pause_reason, "pause-reason");
      reason.dataset.reason = a.pause_reason;
      cell(row, a.current_call || "", "current-call");
      cell(row, a.calls_taken, "calls-today");
      const acts = row.insertCell();
      acts.className = "actions";
      if (a.state === "paused") {
        acts.append(actionButton("恢复", () => act(a.agent_id, "ready")));
      } else if (a.state !== "logged_out") {
        const sel = document.createElement("select");
        sel.className = "pause-reason-choice";
        sel.innerHTML = reasonOptions;
        acts.append(sel, actionButton("示忙", () => act(a.agent_id, "pause",
                                                     {reason: sel.value})));
      }
      if (a.state !== "logged_out") {
        acts.append(actionButton("签出", () => act(a.agent_id, "logout")));
      }
      if (a.state === "on_call" && a.current_call) {
        for (const [mode, label] of SPY_MODES) {
          const b = actionButton(label, () => spy(a.current_call, mode));
          b.className = "spy spy-" + mode;
          acts.append(b);
        }
      }
    }
    window.hotlineConsole.agents += 1;
  }
  async function act(agent, action, body) {
    actionError.textContent = "";
    const res = await H.api("POST", "/api/agents/" + encodeURIComponent(agent) + "/" + action,
                            body);
    if (!res.ok) {
      actionError.textContent = "操作失败（" + res.status + "）：" +
        ((res.data && res.data.error) || "");
    }
    refreshAgents();
  }

  // -- listen, whisper, barge: the supervisor's own phone rings into the call ----------
  const SPY_MODES = [["listen", "监听"], ["whisper", "密语"], ["barge", "强插"]];
  const spyStatus = document.getElementById("spy-status");
  async function spy(call, mode) {
    actionError.textContent = "";
    const res = await H.api("POST", "/api/calls/" + encodeURIComponent(call) + "/spy",
                            {mode: mode});
    if (!res.ok) {
      actionError.textContent = "监听失败（" + res.status + "）：" +
        ((res.data && res.data.error) || "");
      return;
    }
    const label = SPY_MODES.find((m) => m[0] === mode)[1];
    spyStatus.replaceChildren();
    H.text(spyStatus, label + "：您的电话 " + res.data.phone + " 正在振铃，接起后加入坐席 " +
           res.data.agent_id + " 的通话 " + call + " ");
    spyStatus.dataset.mode = mode;
    spyStatus.dataset.call = call;
    spyStatus.append(actionButton("结束监听", async () => {
      const done = await H.api("DELETE", "/api/calls/" + encodeURIComponent(call) + "/spy");
      spyStatus.replaceChildren();
      spyStatus.dataset.mode = "";
      H.text(spyStatus, done.ok ? "已结束监听" : "结束失败（" + done.status + "）");
    }));
  }

  // -- work-order lights per unit (工单亮灯), counted per lead unit -------------------
  const lightsBody = document.querySelector("#lights tbody");
  let lightsLoaded = 0;
  async function loadLights() {
    lightsLoaded = Date.now();
    const res = await H.api("GET", "/api/supervision/lights");
    if (!res.ok) {
      H.text(document.getElementById("lights-status"), "读取失败（" + res.status + "）");
      return;
    }
    const units = {};
    for (const l of res.data.lights) {
      const unit = l.lead_unit || "（未派）";
      const u = units[unit] || (units[unit] = {green: 0, yellow: 0, red: 0});
      u[l.light] += 1;
    }
    lightsBody.replaceChildren();
    for (const unit of Object.keys(units).sort()) {
      const u = units[unit];
      const row = lightsBody.insertRow();
      row.dataset.unit = unit;
      cell(row, unit);
      cell(row, u.green, "light-green");
      cell(row, u.yellow, "light-yellow" + (u.yellow ? " light-some" : ""));
      cell(row, u.red, "light-red" + (u.red ? " light-some" : ""));
      cell(row, u.green + u.yellow + u.red, "light-total");
    }
    H.text(document.getElementById("lights-status"),
           "更新于 " + new Date().toLocaleTimeString("zh-CN", {hour12: false}));
    window.hotlineConsole.lights += 1;
  }
  // Lights change with orders and with time, neither of which the socket announces: a
  // socket message re-reads them, at most once every 10 s (a later message waits its turn).
  let lightsTimer = null;
  function lightsMaybe() {
    if (lightsTimer !== null) return;
    const wait = Math.max(0, lightsLoaded + 10000 - Date.now());
    lightsTimer = setTimeout(() => { lightsTimer = null; loadLights(); }, wait);
  }

  // -- ticking waits -------------------------------------------------------------------
  setInterval(() => {
    const since = now() - figuresAt;
    for (const td of queuesBody.querySelectorAll("td.longest-wait")) {
      const base = Number(td.dataset.base);
      H.text(td, duration(td.dataset.ticks === "1" ? base + since : base));
    }
    for (const td of agentsBody.querySelectorAll("td.in-state")) {
      H.text(td, duration(now() - Number(td.dataset.since)));
    }
  }, 1000);

  // -- speech alerts -------------------------------------------------------------------
  const alerts = document.getElementById("alerts");
  function drawAlert(a) {
    const li = document.createElement("li");
    li.dataset.call = a.call_id || "";
    const what = a.type === "category_hint" ? "类别提示 " + (a.category || "")
      : "关键词 " + (a.keyword || "") + (a.topic ? "（" + a.topic + "）" : "");
    H.text(li, what + " · 线路 " + (a.line || "—") + " · 通话 " + (a.call_id || "—"));
    alerts.prepend(li);
    while (alerts.children.length > 50) alerts.lastChild.remove();
  }

  // -- the web socket (reconnects with a growing pause) --------------------------------
  let retry = 1;
  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(scheme + window.location.host + "/api/live");
    ws.onopen = () => { retry = 1; H.text(liveStatus, "实时"); };
    ws.onmessage = (event) => {
      const msg = JSON.parse(event.data);
      if (msg.type === "figures") {
        drawFigures(msg.figures);
        refreshAgents();
        chartMaybe();
        lightsMaybe();
      } else if (msg.type === "alert") {
        drawAlert(msg.alert);
      }
    };
    ws.onclose = () => {
      H.text(liveStatus, "连接断开，" + retry + " 秒后重连");
      setTimeout(connect, retry * 1000);
      retry = Math.min(retry * 2, 30);
    };
  }

  // -- calls per half hour, today against yesterday ------------------------------------
  const chartBox = document.getElementById("interval-chart");
  const chart = window.echarts ? window.echarts.init(chartBox) : null;
  let chartLoaded = 0;
  function slots(rows) {
    const counts = new Array(48).fill(0);
    for (const r of rows) {
      const hh = Number(r.starts_at.slice(11, 13)), mm = Number(r.starts_at.slice(14, 16));
      counts[hh * 2 + (mm >= 30 ? 1 : 0)] += r.offered;
    }
    return counts;
  }
  function dayBefore(iso) {
    const d = new Date(iso + "T12:00:00Z");
    d.setUTCDate(d.getUTCDate() - 1);
    return d.toISOString().slice(0, 10);
  }
  async function loadChart() {
    chartLoaded = Date.now();
    const today = await H.api("GET", "/api/call-figures/intervals");
    if (!today.ok || !chart) return;
    const before = await H.api("GET", "/api/call-figures/intervals?date=" +
                                dayBefore(today.data.date));
    const labels = [];
    for (let i = 0; i < 48; i++) {
      labels.push(String(Math.floor(i / 2)).padStart(2, "0") + (i % 2 ? ":30" : ":00"));
    }
    chart.setOption({
      animation: false,
      textStyle: {fontFamily: "Noto Sans CJK SC, sans-serif"},
      grid: {left: 36, right: 10, top: 28, bottom: 24},
      legend: {data: ["今日", "昨日"], top: 0, right: 10},
      tooltip: {trigger: "axis"},
      xAxis: {type: "category", data: labels},
      yAxis: {type: "value", minInterval: 1},
      series: [
        {name: "今日", type: "bar", data: slots(today.data.rows)},
        {name: "昨日", type: "line", data: before.ok ? slots(before.data.rows) : []},
      ],
    });
    chartBox.dataset.day = today.data.date;
  }
  // Stored rows change at most every half hour: re-read on a figures event once a minute.
  function chartMaybe() { if (Date.now() - chartLoaded > 60000) loadChart(); }

  // -- restriction list ----------------------------------------------------------------
  const restrict = document.getElementById("restrict-form");
  restrict.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {number: restrict.elements.number.value,
                  reason: restrict.elements.reason.value};
    if (restrict.elements.days.value) body.days = Number(restrict.elements.days.value);
    const res = await H.api("POST", "/api/restrictions", body);
    H.text(document.getElementById("restrict-result"), res.ok
      ? "已限呼 " + res.data.number : "未加入（" + res.status + "）：" +
        ((res.data && res.data.error) || ""));
  });

  window.addEventListener("resize", () => chart && chart.resize());
  loadChart();
  loadLights();
  refreshAgents();
  connect();
})();
