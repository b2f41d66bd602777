// event-grpc login: posts the admin token as JSON (a marked POST, see the
// operator guard) and goes to the status page once the cookie is set.
"use strict";
document.getElementById("login-form").onsubmit = async (ev) => {
  ev.preventDefault();
  const out = document.getElementById("login-error");
  out.textContent = "";
  try {
    const r = await fetch("/login", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-Requested-By": "event-grpc-console" },
      body: JSON.stringify({ token: document.getElementById("token").value }),
    });
    const a = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(a.error || `HTTP ${r.status}`);
    location.href = "/";
  } catch (e) { out.textContent = "login failed: " + e.message; }
};
