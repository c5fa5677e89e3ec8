// The vibepass dashboard: who is present, live. It asks for the model API key once
// and sends it only in the X-API-Key header. It reads the list (who is present, and
// the cursor it reflects), the summary (count and mean preferences) and the last
// hour's history (the chart), then follows /api/model/events from the list's cursor.
// Browsers' EventSource cannot send headers, so the stream is read with fetch and
// parsed here. Plain JavaScript and SVG, with no build step and no third-party code.
'use strict';

(function () {
  // sessionStorage keeps the key across a reload of this tab only, and is cleared
  // when the tab closes; the key never goes into a URL, where logs and history keep it.
  const KEY_STORAGE = 'vibepass.model_key';
  const HISTORY_MS = 60 * 1000; // the chart's points are a minute apart
  const RETRY_MIN_MS = 1000;
  const RETRY_MAX_MS = 30 * 1000;
  const LOG_LIMIT = 50;

  const body = document.body;
  const [form, keyInput, status, live, countEl, chart, logEl, meansEl, forgetButton] =
    ['signin', 'key', 'status', 'live', 'count', 'chart', 'log', 'means', 'forget'].map((id) => document.getElementById(id));

  let key = null;
  let session = null; // the AbortController of everything the current key started
  let cursor = null; // the last change applied: where the stream resumes
  const present = new Map(); // user_id -> the row as the list shows it, for names
  let history = []; // [{at, count}], oldest first
  let summaryBusy = false;
  let summaryAgain = false;

  // RefusedKey is a 401 or 403: retrying with the same key cannot help.
  class RefusedKey extends Error {}

  function show(state, message) {
    body.dataset.state = state;
    status.textContent = message;
    live.hidden = state === 'signed-out' || state === 'refused';
  }

  // api sends one request with the key and returns the response, or throws.
  async function api(path, signal, headers) {
    const response = await fetch(path, {
      headers: Object.assign({ 'X-API-Key': key }, headers),
      cache: 'no-store',
      signal: signal,
    });
    if (response.ok) return response;
    let answer = null;
    try { answer = await response.json(); } catch (err) { /* not JSON: the status says enough */ }
    const reason = answer && answer.error ? answer.error : 'HTTP ' + response.status;
    if (response.status === 401 || response.status === 403) throw new RefusedKey(reason);
    throw new Error(reason);
  }

  async function getJSON(path, signal) {
    return (await api(path, signal)).json();
  }

  // list reads who is present and the cursor the list reflects: the stream resumes there.
  async function list(signal) {
    const answer = await getJSON('/api/model/active-users', signal);
    present.clear();
    for (const row of answer.data) present.set(row.user_id, row);
    cursor = answer.cursor;
    await refreshSummary(signal);
  }

  // refreshSummary reads the count and means; calls made while one is running are
  // folded into one more read after it, so a burst of events costs two reads.
  async function refreshSummary(signal) {
    if (summaryBusy) {
      summaryAgain = true;
      return;
    }
    summaryBusy = true;
    try {
      do {
        summaryAgain = false;
        showSummary(await getJSON('/api/model/summary', signal));
      } while (summaryAgain && !signal.aborted);
    } finally {
      summaryBusy = false;
    }
  }

  function showSummary(summary) {
    countEl.textContent = String(summary.count);
    countEl.dataset.count = String(summary.count);
    if (history.length > 0) { // the chart's last point is now
      history[history.length - 1].count = summary.count;
      drawChart();
    }
    meansEl.replaceChildren();
    if (summary.mean === null) {
      const li = document.createElement('li');
      li.textContent = 'Nobody is present.';
      meansEl.append(li);
      return;
    }
    for (const m of summary.mean) {
      const li = document.createElement('li');
      const meter = document.createElement('meter');
      meter.min = 0;
      meter.max = 1;
      meter.value = m;
      li.append(meter, m.toFixed(2));
      meansEl.append(li);
    }
  }

  async function refreshHistory(signal) {
    try {
      const answer = await getJSON('/api/model/history', signal);
      history = answer.minutes;
      drawChart();
    } catch (err) { /* keep the chart as it was; the stream's loop reports trouble */ }
  }

  // drawChart draws the history as one SVG line: 60 points need no chart library.
  function drawChart() {
    const W = 600, H = 160, left = 36, right = 8, top = 10, bottom = 22;
    const max = Math.max(1, ...history.map((p) => p.count));
    const x = (i) => left + (history.length < 2 ? 0 : i * (W - left - right) / (history.length - 1));
    const y = (n) => top + (H - top - bottom) * (1 - n / max);
    const svg = (name, attrs, text) => {
      const el = document.createElementNS('http://www.w3.org/2000/svg', name);
      for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
      if (text !== undefined) el.textContent = text;
      return el;
    };
    chart.replaceChildren(
      svg('line', { class: 'axis', x1: left, y1: y(0), x2: W - right, y2: y(0) }),
      svg('line', { class: 'axis', x1: left, y1: top, x2: left, y2: y(0) }),
      svg('text', { x: left - 6, y: y(max) + 4, 'text-anchor': 'end' }, String(max)),
      svg('text', { x: left - 6, y: y(0) + 4, 'text-anchor': 'end' }, '0'),
      svg('text', { x: left, y: H - 4 }, '1 hour ago'),
      svg('text', { x: W - right, y: H - 4, 'text-anchor': 'end' }, 'now'),
      svg('polyline', { class: 'line', points: history.map((p, i) => x(i) + ',' + y(p.count)).join(' ') }),
    );
  }

  function addLog(kind, userID, words) {
    const row = present.get(userID);
    const li = document.createElement('li');
    li.dataset.kind = kind;
    li.dataset.user = userID;
    const time = document.createElement('time');
    time.textContent = new Date().toLocaleTimeString();
    li.append(time, (row ? row.display_name : userID) + ' ' + words);
    logEl.prepend(li);
    while (logEl.children.length > LOG_LIMIT) logEl.lastElementChild.remove();
  }

  // apply applies one event and says what the stream should do next: go on
  // (undefined), list again ('reset') or reconnect from the cursor ('reconnect').
  function apply(type, data, signal) {
    switch (type) {
      case 'join':
      case 'renew':
      case 'update': {
        const row = JSON.parse(data);
        present.set(row.user_id, row);
        if (type === 'join') addLog('join', row.user_id, 'joined');
        break;
      }
      case 'leave':
      case 'expire': {
        const change = JSON.parse(data);
        addLog(type, change.user_id, type === 'leave' ? 'left' : 'ran out of time');
        present.delete(change.user_id);
        break;
      }
      case 'reset':
        return 'reset';
      case 'dropped':
        cursor = JSON.parse(data).cursor;
        return 'reconnect';
      default:
        return undefined; // an event this page does not know: ignore it
    }
    refreshSummary(signal).catch(() => { /* the stream's loop reports trouble */ });
    return undefined;
  }

  // follow reads the event stream from the cursor until it ends, with a Server-Sent
  // Events parser for the lines the proxy writes (field: value, a blank line ends an event).
  async function follow(signal) {
    const response = await api('/api/model/events', signal, { 'Last-Event-ID': cursor });
    show('live', 'Live: changes appear as they happen.');
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    let type = '', data = [], id = null;
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return 'reconnect';
        buffer += value;
        let end;
        while ((end = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, end).replace(/\r$/, '');
          buffer = buffer.slice(end + 1);
          if (line === '') {
            const next = data.length > 0 ? apply(type || 'message', data.join('\n'), signal) : undefined;
            if (id !== null) cursor = id;
            type = '';
            data = [];
            id = null;
            if (next) return next;
            continue;
          }
          if (line.startsWith(':')) continue; // a heartbeat
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'event') type = value;
          else if (field === 'data') data.push(value);
          else if (field === 'id') id = value;
        }
      }
    } finally {
      reader.cancel().catch(() => { /* already closed */ });
    }
  }

  function sleep(ms, signal) {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      signal.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
    });
  }

  // run lists, then follows the stream for as long as the key is in use: it
  // reconnects from the cursor when the stream ends or breaks (waiting longer after
  // each failure), and lists again after a reset.
  async function run(signal) {
    let needList = true;
    let delay = RETRY_MIN_MS;
    while (!signal.aborted) {
      try {
        if (needList) {
          await list(signal);
          needList = false;
        }
        needList = (await follow(signal)) === 'reset';
        delay = RETRY_MIN_MS;
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof RefusedKey) {
          stop();
          show('refused', 'The key was not accepted (' + err.message + '). Enter it again.');
          return;
        }
        show('error', 'Lost the connection (' + err.message + '). Trying again…');
        delay = Math.min(delay * 2, RETRY_MAX_MS);
      }
      await sleep(delay, signal);
    }
  }

  function start() {
    session = new AbortController();
    const signal = session.signal;
    show('connecting', 'Connecting…');
    refreshHistory(signal);
    const timer = setInterval(() => refreshHistory(signal), HISTORY_MS);
    signal.addEventListener('abort', () => clearInterval(timer), { once: true });
    run(signal);
  }

  // stop ends everything the key started and forgets it.
  function stop() {
    if (session) session.abort();
    session = null;
    key = null;
    try { sessionStorage.removeItem(KEY_STORAGE); } catch (err) { /* storage disabled */ }
    present.clear();
    logEl.replaceChildren();
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    key = keyInput.value.trim();
    keyInput.value = '';
    if (!key) return;
    try { sessionStorage.setItem(KEY_STORAGE, key); } catch (err) { /* storage disabled: this load only */ }
    start();
  });

  forgetButton.addEventListener('click', () => {
    stop();
    show('signed-out', 'The key is forgotten. Enter it to see who is present.');
  });

  try { key = sessionStorage.getItem(KEY_STORAGE); } catch (err) { /* storage disabled */ }
  if (key) start();
})();
