// Package accountui holds the two minimal pages the binary serves when no
// front end receives the links of its emails (EMAIL_LINK_BASE_URL unset):
// verify an email address, and choose a new password (or ask for a reset
// link). Each page is one self-contained HTML document whose only script is
// inline, allowed by its hash in the Content-Security-Policy, and calls the
// public JSON API on the same origin. Nothing happens on GET: a link scanner
// that opens the link uses up nothing; the user presses a button.
package accountui

import (
	"crypto/sha256"
	"encoding/base64"
)

// script is the pages' one script: it reads the token from the link and
// posts it, with what the user typed, to the API.
const script = `
const token = new URLSearchParams(location.search).get("token") || "";
const say = (text) => { document.getElementById("result").textContent = text; };
async function post(path, body) {
  const res = await fetch(path, {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
  if (res.ok) { return null; }
  const problem = await res.json().catch(() => ({}));
  return (problem.errors && problem.errors.length ? problem.errors.map((e) => e.message).join(" ") : problem.detail) || ("Error " + res.status);
}
const verify = document.getElementById("verify");
if (verify) {
  verify.addEventListener("submit", async (e) => {
    e.preventDefault();
    const err = await post("/api/v1/email-verifications", {token});
    say(err || "Your email address is verified. You can close this page.");
  });
}
const reset = document.getElementById("reset");
const request = document.getElementById("request");
if (reset && request) {
  (token ? request : reset).hidden = true;
  reset.addEventListener("submit", async (e) => {
    e.preventDefault();
    const err = await post("/api/v1/password-resets", {token, new_password: document.getElementById("password").value});
    say(err || "Your password is changed, and every session was signed out. Sign in with the new password.");
  });
  request.addEventListener("submit", async (e) => {
    e.preventDefault();
    const err = await post("/api/v1/password-reset-requests", {email: document.getElementById("email").value});
    say(err || "If an account has this address, a reset link is on its way.");
  });
}
`

// ContentSecurityPolicy lets the pages run their one inline script and
// nothing else: no other script, frame, plugin or remote resource.
var ContentSecurityPolicy = func() string {
	sum := sha256.Sum256([]byte(script))
	return "default-src 'none'; script-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; " +
		"connect-src 'self'; style-src 'unsafe-inline'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
}()

const head = `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="referrer" content="no-referrer">
  <title>Dashtam</title>
  <style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}input,button{font-size:1rem;padding:.4rem}</style>
</head>
<body>
`

const tail = `  <p id="result" role="status"></p>
  <script>` + script + `</script>
</body>
</html>
`

// VerifyEmailHTML is the page of a verification link (/verify-email?token=).
const VerifyEmailHTML = head + `  <h1>Verify your email</h1>
  <form id="verify"><button type="submit">Verify my email address</button></form>
` + tail

// ResetPasswordHTML is the page of a reset link (/reset-password?token=);
// without a token it asks for a reset link instead.
const ResetPasswordHTML = head + `  <h1>Choose a new password</h1>
  <form id="reset">
    <label>New password <input id="password" type="password" autocomplete="new-password" minlength="8" maxlength="128" required></label>
    <button type="submit">Change my password</button>
  </form>
  <form id="request">
    <label>Email <input id="email" type="email" autocomplete="email" required></label>
    <button type="submit">Send me a reset link</button>
  </form>
` + tail
