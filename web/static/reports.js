// The report pages: /reports (units' 三率 and score, deductions, hot topics and rising
// issues) and /reports/calls (call-centre history). Data from /api/metrics/* and
// /api/call-figures/*; charts with ECharts, labels in Chinese.
"use strict";
(function () {
  const H = window.hotline;
  const pct = (v) => (v == null ? "—" : (100 * v).toFixed(2) + "%");
  const num = (v, d) => (v == null ? "—" : Number(v).toFixed(d));
  function cell(tr, value, cls) {
    const td = document.createElement("td");
    H.text(td, value);
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }
  function localDay(d) {
    return d.getFullYear() + "-" + String(d.getMonth() + 1).padStart(2, "0") + "-" +
      String(d.getDate()).padStart(2, "0");
  }
  function errorOf(res) {
    return (res.data && res.data.error) ? res.data.error : ("HTTP " + res.status);
  }

  // ------------------------------------------------------------------ /reports
  const reportsRoot = document.getElementById("reports");
  if (reportsRoot) {
    const state = {period: "month", start: "", rows: [], loads: 0};
    window.hotlineReports = state;
    const chart = window.echarts ? window.echarts.init(
      document.getElementById("units-chart")) : null;
    const periodSel = document.getElementById("period");
    const startIn = document.getElementById("start");
    const today = new Date();
    // Default: this month from its 1st (a week starts on a Monday).
    startIn.value = localDay(new Date(today.getFullYear(), today.getMonth(), 1));
    document.getElementById("deduction-day").value = localDay(today);
    const params = new URLSearchParams(window.location.search);
    if (params.get("period")) periodSel.value = params.get("period");
    if (params.get("start")) startIn.value = params.get("start");

    function query() {
      return "period=" + encodeURIComponent(periodSel.value) + "&start=" +
        encodeURIComponent(startIn.value);
    }
    function drawChart(rows) {
      if (!chart) return;
      chart.setOption({
        animation: false,
        tooltip: {trigger: "axis"},
        legend: {data: ["响应率", "办结率", "满意率", "得分"]},
        grid: {left: 50, right: 50, bottom: 70, top: 40},
        xAxis: {type: "category", data: rows.map((r) => r.name),
                axisLabel: {interval: 0, rotate: rows.length > 6 ? 30 : 0}},
        yAxis: [{type: "value", name: "%", min: 0, max: 100},
                {type: "value", name: "分", min: 0, max: 100}],
        series: [
          {name: "响应率", type: "bar",
           data: rows.map((r) => r.response.value == null ? null : 100 * r.response.value)},
          {name: "办结率", type: "bar",
           data: rows.map((r) => r.completion.value == null ? null :
             100 * r.completion.value)},
          {name: "满意率", type: "bar",
           data: rows.map((r) => r.satisfaction.value == null ? null :
             100 * r.satisfaction.value)},
          {name: "得分", type: "line", yAxisIndex: 1,
           data: rows.map((r) => Number(r.score.total.toFixed(2)))},
        ],
      }, true);
    }
    function drawTable(rows) {
      const body = document.querySelector("#units tbody");
      body.replaceChildren();
      for (const r of rows) {
        const tr = document.createElement("tr");
        tr.dataset.unit = r.unit;
        cell(tr, r.name, "name");
        cell(tr, r.orders, "num");
        cell(tr, pct(r.response.value) + " (" + r.response.numerator + "/" +
             r.response.denominator + ")", "num response");
        cell(tr, pct(r.completion.value) + " (" + r.completion.numerator + "/" +
             r.completion.denominator + ")", "num completion");
        cell(tr, pct(r.satisfaction.value) + " (" + r.satisfaction.numerator + "/" +
             r.satisfaction.denominator + ")", "num satisfaction");
        cell(tr, num(r.score.base, 2), "num base");
        cell(tr, num(r.score.deducted, 2), "num deducted");
        cell(tr, num(r.score.total, 2), "num score");
        body.appendChild(tr);
      }
      const units = document.getElementById("deduction-unit");
      const chosen = units.value;
      units.replaceChildren();
      for (const r of rows) {
        const opt = document.createElement("option");
        opt.value = r.unit;
        H.text(opt, r.name);
        units.appendChild(opt);
      }
      if (chosen) units.value = chosen;
    }
    async function loadDeductions() {
      const res = await H.api("GET", "/api/metrics/deductions?" + query());
      const body = document.querySelector("#deductions tbody");
      body.replaceChildren();
      if (!res.ok) return;
      for (const d of res.data.deductions) {
        const tr = document.createElement("tr");
        tr.dataset.id = d.id;
        if (d.withdrawn_at) tr.className = "withdrawn";
        cell(tr, d.unit_name);
        cell(tr, d.kind_label);
        cell(tr, "-" + d.points, "num");
        cell(tr, d.reason + (d.order_id ? "（工单 " + d.order_id + "）" : ""));
        cell(tr, d.entered_by + " " + d.entered_at.slice(0, 16).replace("T", " "));
        cell(tr, d.withdrawn_at ? "已撤销：" + d.withdraw_reason + "（" + d.withdrawn_by +
             "）" : "有效", "state");
        const td = cell(tr, "");
        if (!d.withdrawn_at) {
          const b = document.createElement("button");
          b.type = "button";
          H.text(b, "撤销");
          b.addEventListener("click", () => withdraw(d.id));
          td.appendChild(b);
        }
        body.appendChild(tr);
      }
    }
    async function withdraw(id) {
      const reason = window.prompt("撤销理由");
      if (!reason) return;
      const res = await H.api("POST", "/api/metrics/deductions/" + id + "/withdraw",
                              {reason});
      H.text(document.getElementById("deduction-result"), res.ok ? "已撤销" : errorOf(res));
      await load();
    }
    async function loadWeek() {
      // The week of the chosen start (its Monday) for hot topics and rising issues.
      const d = new Date(startIn.value + "T12:00:00");
      d.setDate(d.getDate() - ((d.getDay() + 6) % 7));
      const monday = localDay(d);
      const rising = await H.api("GET", "/api/metrics/rising?start=" + monday);
      const rb = document.querySelector("#rising tbody");
      rb.replaceChildren();
      if (rising.ok) {
        H.text(document.getElementById("rising-min"), rising.data.min_count);
        H.text(document.getElementById("rising-alpha"), rising.data.alpha);
        for (const r of rising.data.rising) {
          const tr = document.createElement("tr");
          cell(tr, r.kind === "matter" ? "事项" : "地点");
          cell(tr, r.name);
          cell(tr, r.this_week, "num");
          cell(tr, r.last_week, "num");
          cell(tr, r.p_value.toPrecision(2), "num");
          rb.appendChild(tr);
        }
      }
      const hot = await H.api("GET", "/api/metrics/hot-topics?days=7&start=" + monday);
      const hb = document.querySelector("#hot tbody");
      hb.replaceChildren();
      if (hot.ok) {
        for (const t of hot.data.topics) {
          const tr = document.createElement("tr");
          cell(tr, t.matter);
          cell(tr, t.count, "num");
          cell(tr, t.previous, "num");
          hb.appendChild(tr);
        }
      }
    }
    async function load() {
      const status = document.getElementById("period-status");
      H.text(status, "加载中…");
      document.getElementById("csv-link").href = "/api/metrics/units.csv?" + query();
      const res = await H.api("GET", "/api/metrics/units?" + query());
      if (!res.ok) {
        H.text(status, errorOf(res));
        status.classList.add("error");
        return;
      }
      status.classList.remove("error");
      state.rows = res.data.units;
      drawChart(state.rows);
      drawTable(state.rows);
      await loadDeductions();
      await loadWeek();
      H.text(status, (periodSel.value === "month" ? "月报 " : "周报 ") + startIn.value);
      state.loads += 1;
    }
    document.getElementById("period-form").addEventListener("submit", (e) => {
      e.preventDefault();
      load();
    });
    document.getElementById("deduction-form").addEventListener("submit", async (e) => {
      e.preventDefault();
      const order = document.getElementById("deduction-order").value;
      const body = {
        unit: document.getElementById("deduction-unit").value,
        kind: document.getElementById("deduction-kind").value,
        occurred_on: document.getElementById("deduction-day").value,
        reason: document.getElementById("deduction-reason").value,
      };
      if (order) body.order_id = Number(order);
      const res = await H.api("POST", "/api/metrics/deductions", body);
      const out = document.getElementById("deduction-result");
      H.text(out, res.ok ? "已录入" : errorOf(res));
      if (res.ok) document.getElementById("deduction-reason").value = "";
      await load();
    });
    window.addEventListener("resize", () => chart && chart.resize());
    load();
  }

  // ------------------------------------------------------------------ /reports/calls
  const callsRoot = document.getElementById("calls-report");
  if (callsRoot) {
    const state = {loads: 0};
    window.hotlineCalls = state;
    const halfChart = window.echarts ? window.echarts.init(
      document.getElementById("halfhour-chart")) : null;
    const monthChart = window.echarts ? window.echarts.init(
      document.getElementById("month-chart")) : null;
    const dayIn = document.getElementById("calls-day");
    const monthIn = document.getElementById("calls-month");
    const params = new URLSearchParams(window.location.search);
    dayIn.value = params.get("date") || localDay(new Date());
    monthIn.value = params.get("month") || dayIn.value.slice(0, 7);

    function totalsRow(label, t) {
      const tr = document.createElement("tr");
      tr.dataset.line = label;
      cell(tr, label);
      cell(tr, t.offered, "num offered");
      cell(tr, t.answered, "num answered");
      cell(tr, t.abandoned, "num abandoned");
      cell(tr, pct(t.service_level), "num service-level");
      cell(tr, t.average_speed_of_answer == null ? "—" :
           num(t.average_speed_of_answer, 1) + " 秒", "num asa");
      cell(tr, pct(t.abandon_rate), "num abandon-rate");
      cell(tr, pct(t.connection_rate), "num connection-rate");
      return tr;
    }
    async function load() {
      const status = document.getElementById("calls-status");
      H.text(status, "加载中…");
      const day = await H.api("GET", "/api/call-figures/day?date=" + dayIn.value);
      const rows = await H.api("GET", "/api/call-figures/intervals?date=" + dayIn.value);
      const month = await H.api("GET", "/api/call-figures/month?month=" + monthIn.value);
      if (!day.ok || !rows.ok || !month.ok) {
        H.text(status, errorOf(!day.ok ? day : !rows.ok ? rows : month));
        return;
      }
      const body = document.querySelector("#day-figures tbody");
      body.replaceChildren();
      for (const [line, t] of Object.entries(day.data.day.lines)) {
        body.appendChild(totalsRow(line, t));
      }
      body.appendChild(totalsRow("合计", day.data.day.total));
      const labels = [], offered = new Array(48).fill(0), answered = new Array(48).fill(0);
      for (let i = 0; i < 48; i++) {
        labels.push(String(Math.floor(i / 2)).padStart(2, "0") + (i % 2 ? ":30" : ":00"));
      }
      for (const r of rows.data.rows) {
        const slot = Number(r.starts_at.slice(11, 13)) * 2 +
          (Number(r.starts_at.slice(14, 16)) >= 30 ? 1 : 0);
        offered[slot] += r.offered;
        answered[slot] += r.answered;
      }
      if (halfChart) {
        halfChart.setOption({
          animation: false, tooltip: {trigger: "axis"},
          legend: {top: 0, data: ["呼入", "接通"]},
          grid: {left: 40, right: 40, bottom: 30, top: 50},
          xAxis: {type: "category", data: labels, name: "时段"},
          yAxis: {type: "value", name: "次数", minInterval: 1},
          series: [{name: "呼入", type: "bar", data: offered},
                   {name: "接通", type: "bar", data: answered}],
        }, true);
      }
      const days = month.data.days;
      if (monthChart) {
        monthChart.setOption({
          animation: false, tooltip: {trigger: "axis"},
          legend: {top: 0, data: ["呼入", "24小时接通率", "15秒服务水平"]},
          grid: {left: 40, right: 50, bottom: 30, top: 50},
          xAxis: {type: "category", data: days.map((d) => d.date.slice(5)), name: "日期"},
          yAxis: [{type: "value", name: "次数", minInterval: 1},
                  {type: "value", name: "%", min: 0, max: 100}],
          series: [
            {name: "呼入", type: "bar", data: days.map((d) => d.offered)},
            {name: "24小时接通率", type: "line", yAxisIndex: 1,
             data: days.map((d) => d.connection_rate == null ? null :
               100 * d.connection_rate),
             markLine: {data: [{yAxis: 100 * month.data.connection_target,
                                name: "目标 95%"}]}},
            {name: "15秒服务水平", type: "line", yAxisIndex: 1,
             data: days.map((d) => d.service_level == null ? null :
               100 * d.service_level)},
          ],
        }, true);
      }
      const t = month.data.total;
      H.text(document.getElementById("month-summary"), "本月 " + month.data.month +
        "：呼入 " + t.offered + "，接通率 " + pct(t.connection_rate) +
        (t.meets_connection_target == null ? "" :
          (t.meets_connection_target ? "（达标 ≥ 95%）" : "（未达标 < 95%）")));
      H.text(status, "日报 " + dayIn.value);
      state.loads += 1;
    }
    document.getElementById("calls-form").addEventListener("submit", (e) => {
      e.preventDefault();
      load();
    });
    window.addEventListener("resize", () => {
      if (halfChart) halfChart.resize();
      if (monthChart) monthChart.resize();
    });
    load();
  }
})();
