// The vibepass check-in page. On load it checks the signed-in user in, shows how
// many minutes their vibe pass has left (asked again every minute) and lets them
// check out. Plain JavaScript with no build step and no third-party code.
'use strict';

(function () {
  const REFRESH_MS = 60 * 1000;
  // sessionStorage keeps the token across a reload of this tab only, and is
  // cleared when the tab closes.
  const TOKEN_KEY = 'vibepass.access_token';

  const body = document.body;
  const who = document.getElementById('who');
  const timer = document.getElementById('timer');
  const status = document.getElementById('status');
  const checkoutButton = document.getElementById('checkout');
  const checkinButton = document.getElementById('checkin');

  let token = null;
  let claims = null;
  let refreshTimer = null;
  let hadPass = false; // whether this page has seen a live pass, to word "ended" right

  // show puts the page in one state: the body's data-state, the status line, the
  // timer (when minutes is a number, 0 included) and the button that fits.
  function show(state, message, minutes) {
    body.dataset.state = state;
    status.textContent = message;
    const hasMinutes = typeof minutes === 'number';
    timer.hidden = !hasMinutes;
    if (hasMinutes) timer.textContent = 'Vibe Pass: ' + minutes + ' min remaining';
    checkoutButton.hidden = state !== 'active';
    checkinButton.hidden = state !== 'ended';
    if (state === 'active') hadPass = true;
    checkinButton.textContent = hadPass ? 'Check in again' : 'Check in';
  }

  // showProblem reports a passing failure and keeps the timer as it was, so the
  // next refresh can put things right.
  function showProblem(message) {
    body.dataset.state = 'error';
    status.textContent = message;
  }

  // showExpired stops everything that would use the token: it has expired (detail
  // empty) or the proxy refused it (detail is the proxy's reason).
  function showExpired(detail) {
    stopRefreshing();
    forgetToken();
    show('expired', (detail ? 'Your sign-in was not accepted (' + detail + ')' : 'Your sign-in has expired') +
      '. Sign in again to get your vibe pass.');
  }

  // readToken takes the access token from the URL fragment, where Supabase Auth
  // puts it after sign-in, and removes the fragment from the address bar so the
  // token does not linger in history or get copied with the link.
  function readToken() {
    const fragment = new URLSearchParams(location.hash.slice(1));
    const fromFragment = fragment.get('access_token');
    const signInError = fragment.get('error_description') || fragment.get('error');
    if (fromFragment || signInError) {
      history.replaceState(null, '', location.pathname + location.search);
    }
    if (signInError) return { error: signInError };
    try {
      if (fromFragment) sessionStorage.setItem(TOKEN_KEY, fromFragment);
      return { token: fromFragment || sessionStorage.getItem(TOKEN_KEY) };
    } catch (err) { // storage can be disabled; the fragment still works for this load
      return { token: fromFragment };
    }
  }

  function forgetToken() {
    try { sessionStorage.removeItem(TOKEN_KEY); } catch (err) { /* storage disabled */ }
  }

  // decodeClaims reads the JWT payload without verifying it: the proxy verifies;
  // the page only needs exp (to never send an expired token) and the email.
  function decodeClaims(jwt) {
    const parts = jwt.split('.');
    if (parts.length !== 3) return null;
    try {
      const base64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
      const padded = base64 + '='.repeat((4 - base64.length % 4) % 4);
      const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
      const payload = JSON.parse(new TextDecoder().decode(bytes));
      return typeof payload.exp === 'number' ? payload : null;
    } catch (err) {
      return null;
    }
  }

  function tokenExpired() {
    return claims.exp * 1000 <= Date.now();
  }

  // call sends one API request with the user's token and returns the parsed
  // answer, or null after showing what went wrong. An expired token is never sent.
  async function call(method, path) {
    if (tokenExpired()) {
      showExpired();
      return null;
    }
    let response;
    try {
      response = await fetch(path, {
        method: method,
        headers: { Authorization: 'Bearer ' + token },
        cache: 'no-store',
      });
    } catch (err) {
      showProblem('Can’t reach vibepass right now. Trying again in a minute.');
      return null;
    }
    let answer = null;
    try { answer = await response.json(); } catch (err) { /* not JSON: reported below */ }
    if (response.status === 401) {
      showExpired(answer && answer.error);
      return null;
    }
    if (!response.ok || !answer || answer.success !== true) {
      showProblem(problemMessage(response.status, answer));
      return null;
    }
    return answer;
  }

  function problemMessage(statusCode, answer) {
    const detail = answer && answer.error ? ' (' + answer.error + ')' : '';
    if (statusCode === 429) return 'Too many requests' + detail + '. Trying again in a minute.';
    if (statusCode >= 500) return 'vibepass is having trouble' + detail + '. Trying again in a minute.';
    return 'Something went wrong' + detail + '.';
  }

  function untilText(expiresAt) {
    const at = new Date(expiresAt);
    return isNaN(at) ? '' : ' until ' + at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  }

  async function checkin() {
    const answer = await call('POST', '/api/checkin');
    if (!answer) return;
    const pass = answer.data;
    show('active', answer.message + '. You’re checked in' + untilText(pass.expires_at) + '.',
      pass.expires_in_minutes);
  }

  async function refresh() {
    const answer = await call('GET', '/api/session');
    if (!answer) return;
    if (answer.active) {
      const pass = answer.data;
      show('active', 'You’re checked in' + untilText(pass.expires_at) + '.', pass.minutes_remaining);
    } else {
      show('ended', hadPass ? 'Your vibe pass has ended.' : 'You don’t have a vibe pass right now.');
    }
  }

  async function checkout() {
    const answer = await call('POST', '/api/checkout');
    if (!answer) return;
    show('ended', 'You checked out. Your vibe pass has ended.');
  }

  // whileBusy disables the buttons during an action so a double click sends one request.
  async function whileBusy(action) {
    checkoutButton.disabled = true;
    checkinButton.disabled = true;
    try {
      await action();
    } finally {
      checkoutButton.disabled = false;
      checkinButton.disabled = false;
    }
  }

  function stopRefreshing() {
    clearInterval(refreshTimer);
    refreshTimer = null;
  }

  function start() {
    const found = readToken();
    if (found.error) {
      show('signed-out', 'Sign-in failed: ' + found.error);
      return;
    }
    if (!found.token) {
      show('signed-out', 'You’re not signed in. Sign in to get your vibe pass' +
        ' (for local testing, open a link that `vibepass dev` prints).');
      return;
    }
    token = found.token;
    claims = decodeClaims(token);
    if (!claims) {
      forgetToken();
      show('signed-out', 'Your sign-in link is not valid. Sign in again to get your vibe pass.');
      return;
    }
    if (claims.email) {
      who.textContent = 'Signed in as ' + claims.email;
      who.hidden = false;
    }
    if (tokenExpired()) {
      showExpired();
      return;
    }
    checkoutButton.addEventListener('click', () => whileBusy(checkout));
    checkinButton.addEventListener('click', () => whileBusy(checkin));
    // Browsers slow down timers in background tabs: refresh when the tab is seen again.
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible' && refreshTimer !== null) refresh();
    });
    refreshTimer = setInterval(refresh, REFRESH_MS);
    whileBusy(checkin);
  }

  start();
})();
