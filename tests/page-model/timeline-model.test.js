// The rebalance history in words and on the time axis: run with `node --test tests/page-model/`.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const timeline = require('../../static/timeline-model.js');

const names = { a: 'Consumer :8000', b: 'Consumer :8001' };
const labelOf = (id) => names[id] || id;

function handOver(extra = {}) {
  return {
    seq: 3, group: 'first-group', protocol: 'classic', at: '10:00:05:000', at_ms: 65000, before_ms: 62500,
    generation_before: 2, generation_after: 3,
    before: [{ member_id: 'a', partitions: [0] }, { member_id: 'b', partitions: [1] }],
    after: [{ member_id: 'a', partitions: [0, 1] }], joined: [], left: ['b'],
    partitions: [
      { partition: 0, from: 'a', to: 'a', unread_ms: 2500, unread_at_least_ms: 1500, still_unread: false, backlog: 0 },
      { partition: 1, from: 'b', to: 'a', unread_ms: 2500, unread_at_least_ms: 1500, still_unread: false, backlog: 3 },
    ],
    ...extra,
  };
}

test('a pause is told between its bounds', () => {
  assert.equal(timeline.pauseText({ unread_ms: 2500, unread_at_least_ms: 1500 }), 'unread 1.5 s–2.5 s');
  assert.equal(timeline.pauseText({ unread_ms: 800, unread_at_least_ms: 0 }), 'unread ≤ 0.8 s');
  assert.equal(timeline.pauseText({ unread_ms: 800, unread_at_least_ms: 0, backlog: 1 }), 'unread ≤ 0.8 s, 1 event waited');
  assert.equal(timeline.pauseText({ still_unread: true }), 'nobody reads it now');
  assert.equal(timeline.pauseText({ unread_ms: null }), 'not seen read before');
});

test('a hand-over in words: who left, where each partition went, how long it went unread', () => {
  const text = timeline.rebalanceText(handOver(), labelOf);
  assert.equal(text, 'Consumer :8001 left · generation 2 → 3 · ' +
    'P0 stayed with Consumer :8000 (paused), unread 1.5 s–2.5 s · ' +
    'P1 Consumer :8001 → Consumer :8000, unread 1.5 s–2.5 s, 3 events waited');
});

test('a group that formed while watched says so', () => {
  const formed = handOver({ before_ms: null, before: [], joined: ['b'], left: [], generation_before: null,
    partitions: [{ partition: 0, from: null, to: 'b', unread_ms: null, unread_at_least_ms: 0, still_unread: false }] });
  assert.match(timeline.rebalanceText(formed, labelOf), /^first-group formed · Consumer :8001 joined/);
});

test('the timeline places each pause on a five-minute axis ending now, newest first', () => {
  const window = 300000;
  const now = 65000 + 60000;
  const groups = timeline.timelineModel([handOver({ seq: 1, at_ms: 5000 }), handOver()], labelOf, now, window);
  assert.equal(groups.length, 1);
  const [newest, oldest] = groups[0].entries;
  assert.equal(newest.seq, 3);
  assert.equal(newest.pauseMs, 2500);
  assert.ok(Math.abs(newest.x - (62500 - (now - window)) / window) < 1e-9);
  assert.ok(Math.abs(newest.width - 2500 / window) < 1e-9);
  assert.equal(oldest.visible, true);
  const later = timeline.timelineModel([handOver()], labelOf, 65000 + window + 1000, window);
  assert.equal(later[0].entries[0].visible, false, 'older than the axis: listed, not drawn');
});
