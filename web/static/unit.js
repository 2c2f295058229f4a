// The unit portal (承办单位工作台): actions on one order, the reply check before submit,
// the unit's liaisons. Every call goes to the API with the session's CSRF token
// (window.hotline.api); what the API refuses is shown as it says it.
"use strict";
(function () {
  const api = window.hotline.api;

  function reasonOf(res) {
    if (res.data && res.data.error) return res.data.error;
    return "请求失败（" + res.status + "）";
  }
  function showError(id, res) {
    const el = document.getElementById(id);
    if (el) window.hotline.text(el, reasonOf(res));
  }
  function value(id) {
    const el = document.getElementById(id);
    return el ? el.value : "";
  }
  // datetime-local gives wall-clock time without an offset: the API reads it in the
  // hotline's zone.
  function localTime(id) {
    const v = value(id);
    return v ? (v.length === 16 ? v + ":00" : v) : "";
  }

  const order = document.getElementById("unit-order");
  if (order) {
    const base = "/api/workorders/" + order.dataset.order;
    async function act(path, body) {
      const res = await api("POST", base + path, body);
      if (res.ok) { window.location.reload(); } else { showError("action-error", res); }
      return res;
    }
    const sign = document.getElementById("btn-sign-off");
    if (sign) sign.addEventListener("click", () => act("/sign-off"));

    const ret = document.getElementById("return-form");
    if (ret) ret.addEventListener("submit", (ev) => {
      ev.preventDefault();
      act("/return", {reason: value("return-reason"), suggested_unit: value("return-unit")});
    });

    const ext = document.getElementById("extension-form");
    if (ext) ext.addEventListener("submit", (ev) => {
      ev.preventDefault();
      act("/extension", {new_due_at: localTime("ext-due"), reason: value("ext-reason"),
                         signed_by: value("ext-signed")});
    });

    const review = document.getElementById("review-form");
    if (review) review.addEventListener("submit", (ev) => {
      ev.preventDefault();
      act("/review-form", {signer: value("review-signer"), text: value("review-text")});
    });

    const reply = document.getElementById("reply-form");
    if (reply) reply.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const all = {};
      const labels = {};
      reply.querySelectorAll("label.part").forEach((label) => {
        const part = label.dataset.part;
        labels[part] = label.dataset.label;
        all[part] = label.querySelector("textarea").value;
        label.classList.remove("missing");
      });
      const resolved = document.getElementById("reply-resolved").checked;
      const citizenAt = localTime("reply-citizen-at");
      const box = document.getElementById("reply-check");
      const list = document.getElementById("reply-problems");
      list.replaceChildren();
      box.hidden = true;
      function draft(parts) {
        const body = {parts, resolved};
        if (citizenAt) body.citizen_replied_at = citizenAt;
        return body;
      }
      // The preset's own check, on the server, before anything is submitted (empty parts
      // included, so that each one missing is named).
      const check = await api("POST", base + "/reply-check", draft(all));
      if (!check.ok) { showError("action-error", check); return; }
      if (!check.data.accepted) {
        check.data.missing.forEach((part) => {
          const li = document.createElement("li");
          li.dataset.part = part;
          li.className = "missing-part";
          li.textContent = "缺少「" + (labels[part] || part) + "」";
          list.appendChild(li);
          const label = reply.querySelector('label.part[data-part="' + part + '"]');
          if (label) label.classList.add("missing");
        });
        // The other findings (too short, a list of laws, the citizen first) as the check
        // words them.
        check.data.problems.filter((p) => !/^(not fully solved: )?missing /.test(p))
          .forEach((p) => {
            const li = document.createElement("li");
            li.className = "problem";
            li.textContent = p;
            list.appendChild(li);
          });
        box.hidden = false;
        return;
      }
      const filled = {};
      Object.keys(all).forEach((p) => { if (all[p].trim()) filled[p] = all[p]; });
      const body = draft(filled);
      await act("/reply", body);
    });
  }

  const contacts = document.getElementById("contacts-form");
  if (contacts) contacts.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const unit = document.getElementById("unit-portal").dataset.unit;
    const body = {};
    ["lead", "A", "B"].forEach((role) => {
      body[role] = {name: contacts.elements[role + "-name"].value,
                    phone: contacts.elements[role + "-phone"].value};
    });
    const res = await api("PUT", "/api/units/" + encodeURIComponent(unit) + "/contacts", body);
    const status = document.getElementById("contacts-status");
    const error = document.getElementById("contacts-error");
    if (res.ok) {
      window.hotline.text(status, "已保存");
      window.hotline.text(error, "");
    } else {
      window.hotline.text(status, "");
      showError("contacts-error", res);
    }
  });
})();
