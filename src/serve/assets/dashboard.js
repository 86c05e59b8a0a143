// The limbo dashboard. Every name from the system (file names, commands, mounts) reaches the page
// through textContent, never as HTML, so a file named <script> shows as text.
(function () {
  'use strict';
  const token = new URLSearchParams(location.search).get('token');
  const withToken = (path) =>
    token ? `${path}${path.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}` : path;
  const charts = {};

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function bytes(n) {
    if (n === null || n === undefined) return '–';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
    let i = 0;
    let v = n;
    while (Math.abs(v) >= 1024 && i < units.length - 1) {
      v /= 1024;
      i++;
    }
    return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return '–';
    if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
    if (seconds < 172800) return `${(seconds / 3600).toFixed(1)} h`;
    return `${(seconds / 86400).toFixed(1)} d`;
  }

  async function get(path) {
    const response = await fetch(withToken(path));
    if (!response.ok) throw new Error(`${path}: ${response.status}`);
    return response.json();
  }

  function renderStatus(report) {
    const status = document.getElementById('status');
    status.textContent = report.status;
    status.className = `status ${report.status}`;
    document.getElementById('updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
    const list = document.getElementById('findings');
    list.replaceChildren();
    if (report.findings.length === 0) list.append(el('li', 'Nothing held, nothing leaking.'));
    for (const finding of report.findings) {
      const item = el('li', finding.message, finding.severity);
      if (finding.command) {
        item.append(' → ');
        item.append(el('code', finding.command));
      }
      list.append(item);
    }
  }

  function renderFilesystems(df) {
    const box = document.getElementById('filesystems');
    box.replaceChildren();
    for (const fs of df.filesystems) {
      if (!fs.size) continue;
      const row = el('div', null, 'fs');
      row.append(el('div', `${fs.mount} (${fs.fstype})`));
      const bar = el('div', null, 'bar');
      bar.title = `used ${bytes(fs.used)}, held by deleted files ${bytes(fs.heldByDeleted)}, available ${bytes(fs.available)}`;
      const used = el('div', null, 'used');
      used.style.width = `${(100 * Math.max(0, fs.used - fs.heldByDeleted)) / fs.size}%`;
      const held = el('div', null, 'held');
      held.style.width = `${(100 * fs.heldByDeleted) / fs.size}%`;
      bar.append(used, held);
      row.append(bar);
      row.append(
        el(
          'div',
          `${bytes(fs.used)} used, ${bytes(fs.heldByDeleted)} deleted, ${bytes(fs.available)} free`,
          'muted',
        ),
      );
      box.append(row);
    }
  }

  function renderHolders(deleted) {
    const body = document.querySelector('#holders tbody');
    body.replaceChildren();
    for (const file of deleted.files.slice(0, 10)) {
      const row = el('tr');
      row.append(el('td', bytes(file.allocated), 'num'));
      row.append(el('td', file.path === null ? '(name longer than PATH_MAX)' : file.path));
      row.append(el('td', file.holders.map((h) => `${h.pid} ${h.comm}`).join(', ')));
      const next = el('td');
      const holder = file.holders[0];
      next.append(
        el(
          'code',
          holder && holder.unit
            ? `systemctl restart ${holder.unit}`
            : `limbo deleted --pid ${holder ? holder.pid : ''}`,
        ),
      );
      row.append(next);
      body.append(row);
    }
    if (deleted.files.length === 0) {
      const row = el('tr');
      const cell = el('td', 'No deleted file is held open.');
      cell.colSpan = 4;
      row.append(cell);
      body.append(row);
    }
  }

  function renderLeaks(leaks) {
    const body = document.querySelector('#leaks tbody');
    body.replaceChildren();
    const suspected = (leaks || []).filter((l) => l.suspected);
    for (const leak of suspected) {
      const row = el('tr');
      row.append(el('td', leak.label || leak.key));
      row.append(el('td', leak.resource));
      row.append(
        el(
          'td',
          leak.resource === 'heldBytes' ? bytes(leak.slopePerHour) : Math.round(leak.slopePerHour),
          'num',
        ),
      );
      row.append(el('td', duration(leak.etaSeconds), 'num'));
      const next = el('td');
      next.append(el('code', leak.command || 'limbo'));
      row.append(next);
      body.append(row);
    }
    if (suspected.length === 0) {
      const row = el('tr');
      const cell = el('td', 'No steady rise in fds, deleted bytes, mappings or shm attaches.');
      cell.colSpan = 5;
      row.append(cell);
      body.append(row);
    }
  }

  function series(samples, pick) {
    const names = new Set();
    for (const s of samples) for (const name of Object.keys(pick(s))) names.add(name);
    const keys = [...names].slice(0, 8);
    const data = [samples.map((s) => s.t / 1000), ...keys.map((k) => samples.map((s) => pick(s)[k] ?? null))];
    return { keys, data };
  }

  const palette = ['#5c6bc0', '#e53935', '#43a047', '#fb8c00', '#8e24aa', '#00897b', '#6d4c41', '#546e7a'];

  function chart(id, keys, data, format, labelOf = (key) => key) {
    const target = document.getElementById(id);
    const width = Math.max(320, target.clientWidth || 380);
    const opts = {
      width,
      height: 220,
      series: [
        {},
        ...keys.map((k, i) => ({
          label: labelOf(k),
          stroke: palette[i % palette.length],
          width: 2,
          value: (u, v) => (v === null ? '–' : format(v)),
        })),
      ],
      axes: [{}, { values: (u, vals) => vals.map(format), size: 84 }],
      legend: { live: true },
    };
    if (charts[id] && charts[id].keys.join('\n') === keys.join('\n')) {
      charts[id].plot.setData(data);
      return;
    }
    if (charts[id]) charts[id].plot.destroy();
    target.replaceChildren();
    charts[id] = { keys, plot: new uPlot(opts, data, target) };
  }

  function renderCharts(history) {
    const samples = history.samples;
    const held = series(samples, (s) => s.heldByMount);
    chart('chart-held', held.keys, held.data, bytes);
    const handles = {
      keys: ['allocated', 'max'],
      data: [
        samples.map((s) => s.t / 1000),
        samples.map((s) => s.handlesAllocated),
        samples.map((s) => s.handlesMax),
      ],
    };
    chart('chart-handles', handles.keys, handles.data, (v) => Math.round(v).toLocaleString());
    const fds = series(samples, (s) => s.topFds);
    // A key is "PID:START COMM" (START in clock ticks since boot), so a reused pid draws a new
    // line; the legend says "PID COMM".
    chart(
      'chart-fds',
      fds.keys,
      fds.data,
      (v) => Math.round(v).toLocaleString(),
      (key) => key.replace(/^(\d+):\d+ /, '$1 '),
    );
  }

  // The history is fetched whole (downsampled by the server) once, then only what is new.
  let samples = null;
  let spanMs = 0;

  async function fetchHistory() {
    if (samples === null || samples.length === 0) {
      const history = await get('/api/history');
      samples = history.samples;
      spanMs = Math.max(3600e3, samples.length > 1 ? samples[samples.length - 1].t - samples[0].t : 0);
      return history;
    }
    const history = await get(`/api/history?since=${samples[samples.length - 1].t}`);
    samples.push(...history.samples);
    const oldest = samples[samples.length - 1].t - spanMs;
    const keep = samples.findIndex((s) => s.t >= oldest);
    if (keep > 0) samples.splice(0, keep);
    return history;
  }

  async function refresh() {
    try {
      const [report, df, deleted, history] = await Promise.all([
        get('/api/report'),
        get('/api/df'),
        get('/api/deleted'),
        fetchHistory(),
      ]);
      renderStatus(report);
      renderFilesystems(df);
      renderHolders(deleted);
      renderLeaks(history.leaks);
      renderCharts({ samples });
      document.body.dataset.ready = 'true';
    } catch (error) {
      document.getElementById('status').textContent = `error: ${error.message}`;
    }
  }

  // One refresh at a time, so two scan events never fetch the same new samples twice.
  let running = false;
  let again = false;
  async function refreshOnce() {
    if (running) {
      again = true;
      return;
    }
    running = true;
    do {
      again = false;
      await refresh();
    } while (again);
    running = false;
  }

  refreshOnce();
  const events = new EventSource(withToken('/events'));
  events.addEventListener('scan', () => refreshOnce());
})();
