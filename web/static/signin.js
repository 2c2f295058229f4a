// The sign-in form: POST /api/session, then the page asked for or the role's home.
"use strict";
(function () {
  const form = document.getElementById("signin-form");
  const error = document.getElementById("signin-error");
  const reasons = {401: "用户名或密码错误", 423: "账号已锁定，请稍后再试",
                   429: "尝试次数过多，请稍后再试"};
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const res = await window.hotline.api("POST", "/api/session", {
      user: form.elements.user.value, password: form.elements.password.value});
    if (!res.ok) {
      error.textContent = reasons[res.status] || ("登录失败（" + res.status + "）");
      return;
    }
    const homes = JSON.parse(form.dataset.homes || "{}");
    window.location.assign(form.dataset.next || homes[res.data.role] || "/");
  });
})();
