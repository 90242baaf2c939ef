// Drives the lab page in headless Chromium for tests/page.rs and tests/page_cluster.rs, one command at a time.
//
// Reads one JSON command per line on stdin and answers one JSON line on stdout:
//   {"cmd": "open", "url": "...", "width": 1280, "height": 800}   a new tab, which the next commands use
//   {"cmd": "back"}                        closes the tab and goes back to the one opened before it
//   {"cmd": "resize", "width": 390, "height": 844}
//   {"cmd": "click", "selector": "#send", "times": 10}
//   {"cmd": "fill", "selector": "#new-consumer", "text": "8084", "press": "Enter"}
//   {"cmd": "state"}                       → what the page shows (see pageState below)
//   {"cmd": "screenshot", "path": "...", "fullPage": false}
//   {"cmd": "close"}
// Answers are {"ok": true, "result": ...} or {"ok": false, "error": "..."}. The Rust test does the asserting.
'use strict';

const readline = require('readline');
const { chromium } = require('playwright-core');

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
let browser;
let page; // the tab the commands act on
const tabs = [];
const pageErrors = []; // uncaught exceptions in the page's script
const requests = []; // every URL the page asked for

async function open({ url, width = 1280, height = 800 }) {
  browser ??= await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // As root, in a machine without internet: no sandbox, no background traffic. Playwright gives the
    // browser a fresh, empty profile directory of its own.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  page = await browser.newPage({ viewport: { width, height } });
  tabs.push(page);
  page.setDefaultTimeout(20000);
  page.on('pageerror', (error) => pageErrors.push(String(error)));
  page.on('request', (request) => requests.push(request.url()));
  await page.goto(url);
  return page.url();
}

// Everything the test checks, read from the page as a person would see it.
function pageState() {
  const text = (el) => (el ? el.textContent.trim() : null);
  const send = document.querySelector('#send');
  return {
    url: location.href,
    title: document.title,
    producer: text(document.querySelector('#producer-status')),
    sendDisabled: send.disabled,
    sendLabel: send.getAttribute('aria-label') || text(send),
    sent: text(document.querySelector('#sent-count')),
    lastSent: text(document.querySelector('#last-sent')),
    unlabelledButtons: [...document.querySelectorAll('button')]
      .filter((b) => !(b.getAttribute('aria-label') || b.textContent.trim())).length,
    liveRegions: document.querySelectorAll('[aria-live]').length,
    cluster: clusterState(),
    guide: [...document.querySelectorAll('#guide .step')].map((step) => ({
      step: step.dataset.step,
      done: step.dataset.done === 'true',
      check: text(step.querySelector('.check')),
    })),
    guideHidden: document.querySelector('#guide') ? document.querySelector('#guide').hidden : null,
    checks: [...document.querySelectorAll('#checks li')].map((li) => ({ id: li.dataset.check, state: li.dataset.state, text: text(li) })),
    consumers: [...document.querySelectorAll('.consumer')].map((panel) => ({
      url: panel.dataset.url,
      status: text(panel.querySelector('.status')),
      group: text(panel.querySelector('.group')),
      groupColour: getComputedStyle(panel.querySelector('.group')).color,
      partitions: text(panel.querySelector('.partitions')),
      generation: text(panel.querySelector('.generation')),
      markers: [...panel.querySelectorAll('.marker')].map(text),
      events: [...panel.querySelectorAll('.event')].map((row) => ({
        id: row.dataset.id === undefined ? null : Number(row.dataset.id),
        partition: row.dataset.partition === undefined ? null : Number(row.dataset.partition),
        offset: row.dataset.offset === undefined ? null : Number(row.dataset.offset),
        text: text(row.querySelector('.fields')),
        times: text(row.querySelector('.times')),
      })),
    })),
  };
}

// The cluster card (diagram, lag table, timeline), from the data-* attributes the page's SVG and table carry.
// Runs in the page, like pageState.
function clusterState() {
  const text = (el) => (el ? el.textContent.trim() : null);
  const number = (value) => (value === undefined || value === '' ? null : Number(value));
  const all = (selector) => [...document.querySelectorAll(selector)];
  return {
    status: text(document.querySelector('#cluster-status')),
    brokers: all('#diagram .broker').map((b) => ({ id: Number(b.dataset.broker), up: b.dataset.up === 'true' })),
    partitions: all('#diagram .partition').map((p) => ({
      partition: Number(p.dataset.partition), leader: number(p.dataset.leader), end: number(p.dataset.end), text: text(p),
    })),
    groups: all('#diagram .group').map((g) => ({ group: g.dataset.group, colour: g.dataset.colour, glyph: g.dataset.glyph })),
    members: all('#diagram .member').map((m) => ({ group: m.dataset.group, member: m.dataset.member, idle: m.dataset.idle })),
    arrows: all('#diagram path.arrow:not(.lost)').map((a) => ({
      group: a.dataset.group, partition: Number(a.dataset.partition), member: a.dataset.member, lag: number(a.dataset.lag),
      stroke: a.getAttribute('stroke'), dash: a.getAttribute('stroke-dasharray'),
    })),
    unassigned: all('#diagram .unassigned').map((u) => ({ group: u.dataset.group, partition: Number(u.dataset.partition), reason: u.dataset.reason })),
    diagramLabel: text(document.querySelector('#diagram desc')),
    lag: all('#lag-table td[data-group]').map((td) => ({
      group: td.dataset.group, partition: Number(td.closest('tr').dataset.partition), lag: number(td.dataset.lag), text: text(td),
    })),
    timeline: all('#timeline .rebalance').map((r) => ({ group: r.dataset.group, pause: number(r.dataset.pause), text: text(r) })),
    timelineBars: all('#timeline .pause').length,
    notes: all('#cluster-notes li').map(text),
  };
}

const commands = {
  open,
  async click({ selector, times = 1 }) {
    for (let i = 0; i < times; i++) await page.click(selector);
  },
  async fill({ selector, text, press }) {
    await page.fill(selector, text);
    if (press) await page.press(selector, press);
  },
  async back() {
    await tabs.pop().close();
    page = tabs[tabs.length - 1];
  },
  async resize({ width, height }) {
    await page.setViewportSize({ width, height });
  },
  async state() {
    await page.evaluate(`window.clusterState = ${clusterState.toString()}`);
    const state = await page.evaluate(pageState);
    state.pageErrors = pageErrors;
    state.requests = requests;
    return state;
  },
  async screenshot({ path, fullPage = false }) {
    await page.screenshot({ path, fullPage });
    return path;
  },
  async close() {
    if (browser) await browser.close();
    browser = undefined;
  },
};

async function main() {
  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (!line.trim()) continue;
    let answer;
    try {
      const command = JSON.parse(line);
      const run = commands[command.cmd];
      if (!run) throw new Error(`unknown command ${command.cmd}`);
      answer = { ok: true, result: (await run(command)) ?? null };
    } catch (error) {
      answer = { ok: false, error: String(error && error.stack ? error.stack : error) };
    }
    process.stdout.write(`${JSON.stringify(answer)}\n`);
  }
  await commands.close();
}

main().catch((error) => {
  process.stderr.write(`drive.js: ${error.stack}\n`);
  process.exit(1);
});
