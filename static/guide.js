// kafka-lab's lab page: the section-3 lab, guided. A side panel with the section's steps; each turns checked
// when the page sees it done (guide-model.js decides, from the cluster view and its rebalance history). The
// commands are the exact ones for this setup (the producer's brokers, the next free port), with a copy
// button. A student can hide the panel and use the page as before; the choice is kept in this browser.

'use strict';

const guide = { progress: newProgress(), hidden: localStorage.getItem('kafka-lab-guide') === 'hidden' };

function setGuideHidden(hidden) {
  guide.hidden = hidden;
  localStorage.setItem('kafka-lab-guide', hidden ? 'hidden' : 'shown');
  $('#guide').hidden = hidden;
  document.body.classList.toggle('with-guide', !hidden);
  $('#show-guide').hidden = !hidden;
  (hidden ? $('#show-guide') : $('#hide-guide')).focus({ preventScroll: true });
}

// The consumers the page shows, as the command's port needs them.
function shownConsumers() {
  return consumers.map((c) => ({ port: new URL(c.url).port, online: c.online, group: c.group }));
}

function updateGuide(model, answer) {
  const bootstrap = answer.bootstrap_servers || 'localhost:9093,localhost:9094';
  const port = nextPort(shownConsumers());
  setCommand('#command-first', consumerCommand({ topic: model.topic, bootstrap, group: FIRST, port }));
  const restart = shownConsumers().find((c) => c.online === false);
  setCommand('#command-second', consumerCommand({ topic: model.topic, bootstrap, group: 'second-group', port: restart ? restart.port : port }));
  const steps = guideSteps(model, answer.history || [], guide.progress, labelOf);
  let current = steps.findIndex((s) => !s.done);
  if (current < 0) current = steps.length;
  steps.forEach((step, i) => showStep(step, i === current));
  if (current !== guide.current) followStep(current);
  showTroubleshooting(troubleshooting(model));
  $('#guide-progress').textContent = `${steps.filter((s) => s.done).length} of ${steps.length} steps done`;
}

// Keeps the step to do next in sight when the side panel scrolls (it does not move the page).
function followStep(current) {
  const first = guide.current === undefined;
  guide.current = current;
  const box = $('#guide');
  const item = document.querySelectorAll('#guide .step')[current];
  if (first || !item || box.scrollHeight <= box.clientHeight) return;
  box.scrollTo({ top: item.offsetTop - box.offsetTop - 8, behavior: 'smooth' });
}

function setCommand(selector, text) {
  const code = $(selector);
  if (code.textContent !== text) code.textContent = text;
}

function showStep(step, current) {
  const item = $(`#guide [data-step="${step.id}"]`);
  item.dataset.done = step.done;
  item.classList.toggle('current', current);
  $('.mark', item).textContent = step.done ? '✓' : current ? '▶' : '○';
  $('.state', item).textContent = step.done ? 'Done:' : current ? 'Now:' : 'Later:';
  const check = $('.check', item);
  const text = step.done ? `✓ ${step.detail}` : step.detail;
  if (check.textContent !== text) check.textContent = text;
  check.className = `check ${step.done ? 'ok' : 'waiting'}`;
}

function showTroubleshooting(checks) {
  const key = JSON.stringify(checks);
  if (guide.checks === key) return; // unchanged: leave the list (and a screen reader) alone
  guide.checks = key;
  const list = $('#checks');
  const marks = { ok: '✓', warn: 'ℹ', bad: '✗' };
  list.replaceChildren(...checks.map((check) => {
    const item = document.createElement('li');
    item.className = `check-item ${check.state}`;
    item.dataset.check = check.id;
    item.dataset.state = check.state;
    const mark = document.createElement('span');
    mark.className = 'mark';
    mark.setAttribute('aria-hidden', 'true');
    mark.textContent = marks[check.state];
    const said = document.createElement('span');
    said.className = 'visually-hidden';
    said.textContent = { ok: 'Fine:', warn: 'Note:', bad: 'Problem:' }[check.state];
    item.append(mark, said, ` ${check.text}`);
    return item;
  }));
}

// Copies a command; where the clipboard API is not allowed, selects it so Ctrl+C copies it.
async function copyCommand(button) {
  const code = $(`#${button.dataset.copy}`);
  const status = button.nextElementSibling;
  try {
    await navigator.clipboard.writeText(code.textContent);
    status.textContent = 'Copied';
  } catch {
    const range = document.createRange();
    range.selectNodeContents(code);
    getSelection().removeAllRanges();
    getSelection().addRange(range);
    status.textContent = 'Selected: press Ctrl+C';
  }
  setTimeout(() => { status.textContent = ''; }, 4000);
}

for (const button of document.querySelectorAll('#guide [data-copy]')) {
  button.addEventListener('click', () => copyCommand(button));
}
$('#hide-guide').addEventListener('click', () => setGuideHidden(true));
$('#show-guide').addEventListener('click', () => setGuideHidden(false));
$('#guide').hidden = guide.hidden;
$('#show-guide').hidden = !guide.hidden;
document.body.classList.toggle('with-guide', !guide.hidden);
