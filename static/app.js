// kafka-lab's lab page: the workshop's section 3 page, plus what Kafka does behind it.
//
// Every second the page asks the producer and each consumer how they are:
//   producer  GET /ping            "pong" means online; the Send Event button is disabled otherwise
//             GET /status          whether the producer reaches Kafka ("Online, Kafka unreachable" if not)
//   consumer  GET /ping            "pong:<group>": online, and the name of its consumer group
//             GET /status          which partitions it owns, in which generation of the group
//             GET /events?after=N  the events it consumed after number N (nothing is removed, so two open
//                                  tabs both see everything); an old consumer without it gets GET /
// Which services to ask is kept in the page's address: ?producer=URL&consumers=8000,8001,http://host:8084
//   producer  GET /cluster         the cluster as Kafka sees it, with the rebalance history
// Plain JavaScript, no build step, no request to any other host. Loaded in this order:
//   cluster-model.js, timeline-model.js, guide-model.js
//                      what the page computes (no page access; tested with node --test tests/page-model/)
//   helpers.js         settings, small helpers, which services to ask (from the page's address)
//   consumers.js       one panel per consumer
//   cluster-diagram.js the SVG diagram; cluster-view.js polls /cluster and draws the lag and the timeline
//   guide.js           the section-3 lab's steps, checked live
//   app.js             the producer, and starting it all

'use strict';

// ---------------------------------------------------------------------------------------------------------
// The producer

let nextId = 1;
let sentCount = 0;
let producerBusy = false;

async function pollProducer() {
  if (producerBusy) return;
  producerBusy = true;
  let online = false;
  let kafka = null;
  try {
    const response = await get(`${producerUrl}/ping`);
    online = response.ok && (await response.text()) === 'pong';
    if (online) kafka = await producerKafka();
  } catch {
    online = false;
  }
  producerBusy = false;
  // The producer process answers /ping even while Kafka does not; its /status says which.
  const unreachable = kafka?.kafka === 'unreachable';
  const status = $('#producer-status');
  status.textContent = !online ? 'Offline' : unreachable ? 'Online, Kafka unreachable' : 'Online';
  status.className = `status ${!online ? 'offline' : unreachable ? 'degraded' : 'online'}`;
  status.title = unreachable ? `Events are not sent: ${kafka.last_error}` : '';
  $('#send').disabled = !online;
}

// The producer's view of Kafka ({ kafka, last_error }), or null (an older producer has no /status).
async function producerKafka() {
  try {
    const response = await get(`${producerUrl}/status`);
    return response.ok ? await response.json() : null;
  } catch {
    return null;
  }
}

async function sendEvent() {
  const event = { id: nextId++, clicked: clock() };
  const last = $('#last-sent');
  try {
    const response = await fetch(`${producerUrl}/`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(event),
      signal: AbortSignal.timeout(10 * TIMEOUT_MS),
    });
    const answer = await response.json().catch(() => ({}));
    // 503: not sent, nothing was written. 504: sent, but it may or may not be in Kafka. The error says which.
    if (!response.ok) throw new Error(answer.error || `HTTP ${response.status}`);
    sentCount += 1;
    $('#sent-count').textContent = `Events sent: ${sentCount}`;
    last.replaceChildren(`id ${event.id} → `, partitionChip(answer.partition), ` offset ${answer.offset}`);
    last.className = 'muted';
  } catch (error) {
    last.textContent = `id ${event.id}: ${error.message}`;
    last.className = 'error';
  }
}
// ---------------------------------------------------------------------------------------------------------
// Start: wire the controls, build the panels, poll every second.

function pollAll() {
  pollProducer();
  consumers.forEach(pollConsumer);
  pollCluster();
}

$('#send').addEventListener('click', sendEvent);

const producerInput = $('#producer-url');
producerInput.value = producerUrl;
producerInput.addEventListener('change', () => {
  const url = toUrl(producerInput.value);
  producerInput.toggleAttribute('aria-invalid', !url);
  if (!url) return;
  producerUrl = url;
  producerInput.value = url;
  saveToAddress();
  pollProducer();
});

$('#add-consumer').addEventListener('submit', (submit) => {
  submit.preventDefault();
  const input = $('#new-consumer');
  const url = toUrl(input.value);
  input.toggleAttribute('aria-invalid', !url);
  if (!url) return;
  input.value = '';
  addConsumer(url);
  saveToAddress();
});

startUrls.forEach(addConsumer);
saveToAddress();
setInterval(pollAll, POLL_MS);
pollProducer();
pollCluster();
