// Shared by every page: the CSRF header on state changes, sign-out.
"use strict";
window.hotline = (function () {
  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }
  // JSON call to the API with the session cookie; state changes carry X-CSRF-Token.
  async function api(method, path, body) {
    const headers = {"Accept": "application/json"};
    if (method !== "GET") headers["X-CSRF-Token"] = csrfToken();
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const resp = await fetch(path, {method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body)});
    let data = null;
    try { data = await resp.json(); } catch (e) { data = null; }
    return {ok: resp.ok, status: resp.status, data};
  }
  function text(el, value) { el.textContent = value == null ? "" : String(value); }
  const out = document.getElementById("signout");
  if (out) {
    out.addEventListener("click", async () => {
      await api("DELETE", "/api/session");
      window.location.assign("/signin");
    });
  }
  return {api, csrfToken, text};
})();
