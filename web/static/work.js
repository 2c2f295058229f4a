// The worklist pages (工作清单): rows from /api/worklists/<list>, actions on the orders.
// Every text goes in with textContent (never HTML); after an action the list is read again.
"use strict";
(function () {
  const root = document.getElementById("work");
  if (!root) return;
  const list = root.dataset.list;
  const {api} = window.hotline;
  const errorBox = document.getElementById("action-error");
  const statusLine = document.getElementById("list-status");
  const STATUS = {pending_dispatch: "待派单", dispatched: "已派单", handling: "办理中",
    replied: "已答复", review: "待复核", redo: "重办", review_form: "审核反馈",
    closed: "办结", awaiting_approval: "待批示"};
  const LEVEL = {very_satisfied: "非常满意", satisfied: "满意",
    basically_satisfied: "基本满意", unsatisfied: "不满意", very_unsatisfied: "非常不满意"};

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null) continue;
      if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    for (const c of children) {
      if (c == null) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }
  const UNITS = JSON.parse(document.getElementById("unit-names").textContent || "{}");
  // A unit by its name, its code after it (the code is what the forms take).
  function unit(code) {
    if (!code) return "";
    return UNITS[code] ? `${UNITS[code]}（${code}）` : code;
  }
  function when(iso) { return iso ? iso.replace("T", " ").slice(0, 16) : ""; }
  function orderCell(o) {
    return el("td", {}, el("strong", {}, "#" + o.id), el("br"),
      el("span", {class: "muted"}, STATUS[o.status] || o.status));
  }
  function matterCell(o) { return el("td", {}, o.matter || "（未选事项）", el("br"), o.locality); }
  function ul(items, cls) {
    return el("ul", {class: cls || ""}, ...items.map((t) => el("li", {}, t)));
  }
  function fill(id, rows) {
    const body = document.querySelector(`#${id} tbody`);
    body.replaceChildren(...rows);
    if (!rows.length) body.append(el("tr", {class: "empty"}, el("td", {colspan: "9"}, "暂无")));
  }
  async function act(method, path, body) {
    errorBox.textContent = "";
    const res = await api(method, path, body);
    if (!res.ok) {
      const why = res.data && res.data.error ? res.data.error : `HTTP ${res.status}`;
      errorBox.textContent = `操作未完成：${why}`;
      return null;
    }
    await load();
    return res.data;
  }
  function reasonInput(name, placeholder) {
    return el("input", {class: "reason", name, placeholder, maxlength: "500"});
  }

  // ---- dispatch: returns to review, new orders, unsatisfied orders
  function returnRow(r) {
    const o = r.order;
    const lead = el("input", {name: "lead", list: "unit-codes", placeholder: "改派单位",
      value: r.suggested_unit || ""});
    const acceptWhy = reasonInput("accept-reason", "改派理由");
    const refuseWhy = reasonInput("refuse-reason", "驳回理由（必填）");
    return el("tr", {"data-order": o.id}, orderCell(o), matterCell(o),
      el("td", {}, unit(r.returned_by), r.late ? el("span", {class: "late"}, " 逾期退单") : null),
      el("td", {}, r.reason), el("td", {}, unit(r.suggested_unit)),
      el("td", {}, when(r.returned_at)),
      el("td", {class: "actions"},
        lead, acceptWhy,
        el("button", {type: "button", class: "accept", onclick: () => act(
          "POST", `/api/workorders/${o.id}/return-review`, {decision: "accept",
            lead: lead.value.trim(), reason: acceptWhy.value})}, "同意退单并改派"),
        el("br"), refuseWhy,
        el("button", {type: "button", class: "refuse", onclick: () => act(
          "POST", `/api/workorders/${o.id}/return-review`,
          {decision: "refuse", reason: refuseWhy.value})}, "驳回退单")));
  }
  function routeCell(route) {
    if (route.error) return el("td", {class: "late"}, route.error);
    return el("td", {}, el("strong", {}, unit(route.lead)),
      route.assists.length ? ` 协办: ${route.assists.map(unit).join("、")}` : "",
      ul(route.reasons, "muted"));
  }
  function newRow(n) {
    const o = n.order;
    const lead = el("input", {name: "lead", list: "unit-codes", placeholder: "指定单位"});
    const why = reasonInput("reason", "指定理由");
    return el("tr", {"data-order": o.id}, orderCell(o), matterCell(o),
      el("td", {}, o.description), routeCell(n.route),
      el("td", {class: "actions"},
        el("button", {type: "button", class: "dispatch", disabled: n.route.error ? "" : null,
          onclick: () => act("POST", `/api/workorders/${o.id}/dispatch`, {})}, "一键派单"),
        el("br"), lead, why,
        el("button", {type: "button", class: "dispatch-to", onclick: () => act(
          "POST", `/api/workorders/${o.id}/dispatch`,
          {lead: lead.value.trim(), reason: why.value})}, "派至指定单位")));
  }
  function unsatisfiedRow(u) {
    const o = u.order;
    const why = reasonInput("review-reason", "复核理由（必填）");
    return el("tr", {"data-order": o.id}, orderCell(o), el("td", {}, unit(o.lead_unit)),
      el("td", {}, LEVEL[u.evaluation] || u.evaluation, el("br"),
        el("span", {class: "muted"}, u.comment)),
      el("td", {}, String(u.redo_count)),
      el("td", {class: "actions"}, why,
        u.redo_allowed ? el("button", {type: "button", class: "redo", onclick: () => act(
          "POST", `/api/workorders/${o.id}/review`, {decision: "redo", reason: why.value})},
          "发回重办") : null,
        el("button", {type: "button", class: "close", onclick: () => act(
          "POST", `/api/workorders/${o.id}/review`, {decision: "close", reason: why.value})},
          "复核办结")));
  }

  // ---- quality check
  function replyRow(r) {
    const o = r.order;
    const why = reasonInput("reason", "退回理由（必填）");
    const findings = r.findings.length ? ul(r.findings, "findings")
      : el("span", {class: "ok"}, "自动检查通过");
    const earlier = r.refused_attempts.length
      ? el("div", {class: "muted"}, `此前被拒 ${r.refused_attempts.length} 次：`,
        ul(r.refused_attempts.map((p) => p.join("；")))) : null;
    return el("tr", {"data-order": o.id}, orderCell(o),
      el("td", {}, unit(r.replied_by), el("br"), when(r.replied_at),
        r.late ? el("span", {class: "late"}, " 逾期答复") : null),
      el("td", {}, ...r.parts.map((p) => el("div", {}, el("strong", {}, p.label + "："), p.text)),
        r.resolved ? null : el("div", {class: "late"}, "未完全解决")),
      el("td", {}, findings, earlier,
        r.send_backs ? el("div", {class: "muted"}, `已退回 ${r.send_backs} 次`) : null),
      el("td", {class: "actions"},
        el("button", {type: "button", class: "approve", onclick: () => act(
          "POST", `/api/workorders/${o.id}/quality-check`, {decision: "approve"})}, "质检通过"),
        el("br"), why,
        el("button", {type: "button", class: "send-back", onclick: () => act(
          "POST", `/api/workorders/${o.id}/quality-check`,
          {decision: "send_back", reason: why.value})}, "退回重新答复")));
  }

  // ---- callback
  function left(seconds) {
    if (seconds == null) return "";
    const late = seconds < 0;
    const s = Math.abs(seconds);
    const text = `${Math.floor(s / 3600)}小时${Math.floor((s % 3600) / 60)}分`;
    return late ? el("span", {class: "late"}, "已超时 " + text) : text;
  }
  function callbackRow(c) {
    const o = c.order;
    const level = el("select", {name: "level"});
    level.append(document.getElementById("levels").content.cloneNode(true));
    const comment = el("input", {name: "comment", placeholder: "群众意见", maxlength: "500"});
    const number = el("span", {class: "number muted"}, o.caller_number);
    // The list masks the number; the order's detail shows it whole to callback staff.
    const show = el("button", {type: "button", class: "show-number", onclick: async () => {
      const res = await api("GET", `/api/workorders/${o.id}`);
      if (res.ok) { number.textContent = res.data.caller_number || "（无号码）"; show.remove(); }
    }}, "显示号码");
    return el("tr", {"data-order": o.id}, orderCell(o),
      el("td", {}, unit(o.lead_unit), el("br"), number, " ", show),
      el("td", {}, when(c.callback_due_at)), el("td", {class: "left"}, left(c.seconds_left)),
      el("td", {class: "automated"}, c.automated || "未开始", el("br"),
        el("span", {class: "muted"}, c.automated_detail)),
      el("td", {class: "actions"}, level, comment,
        el("button", {type: "button", class: "rate", onclick: async () => {
          const done = await act("POST", `/api/workorders/${o.id}/evaluation`,
            {level: level.value, comment: comment.value});
          if (done) {
            document.getElementById("list-status").textContent =
              `工单 #${o.id} 已记录「${LEVEL[done.evaluation] || done.evaluation}」，` +
              `状态：${STATUS[done.status] || done.status}`;
          }
        }}, "记录评价")));
  }

  // ---- monitoring pool, supervision
  function poolRow(p) {
    const o = p.order;
    return el("tr", {"data-order": o.id}, orderCell(o), el("td", {}, o.grade),
      el("td", {}, unit(o.lead_unit)), el("td", {}, p.why.join("；")),
      el("td", {}, p.on_ledger ? p.ledger_criteria : ""),
      el("td", {}, ul(p.reminders.map((r) => `${when(r.at)} ${r.what}`))));
  }
  function supervisedRow(r) {
    const o = r.order;
    const word = {red: "红灯", yellow: "黄灯"}[r.light] || "";
    return el("tr", {"data-order": o.id}, orderCell(o),
      el("td", {class: "light-" + r.light}, word), el("td", {}, unit(o.lead_unit)),
      el("td", {}, when(o.due_at)), el("td", {}, when(r.reminded_at)),
      el("td", {}, r.special_supervision_at ? "专项督办 " + when(r.special_supervision_at) : ""));
  }

  async function load() {
    const res = await api("GET", `/api/worklists/${list}`);
    if (!res.ok) {
      statusLine.textContent = `读取失败：${res.data && res.data.error || res.status}`;
      return;
    }
    const d = res.data;
    if (list === "dispatch") {
      fill("returns", d.returns.map(returnRow));
      fill("new-orders", d.new.map(newRow));
      fill("unsatisfied", d.unsatisfied.map(unsatisfiedRow));
    } else if (list === "quality") {
      fill("replies", d.replies.map(replyRow));
    } else if (list === "callback") {
      fill("callbacks", d.orders.map(callbackRow));
    } else if (list === "monitoring") {
      fill("pool", d.orders.map(poolRow));
    } else if (list === "supervision") {
      fill("supervised", d.orders.map(supervisedRow));
    }
    root.dataset.loaded = String(Date.now());
    statusLine.textContent = "已加载 " + new Date().toLocaleTimeString("zh-CN");
  }
  document.getElementById("reload").addEventListener("click", load);
  const run = document.getElementById("run-supervision");
  if (run) run.addEventListener("click", () => act("POST", "/api/supervision/run"));
  load();
})();
