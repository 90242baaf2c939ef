// kafka-lab's lab page: the rebalance history in words and on a time axis. Pure functions (tested with
// `node --test tests/page-model/`); cluster-view.js draws them. In the browser these are plain globals and
// cluster-model.js is loaded first; in node it is required.

'use strict';

const timelineLib = typeof module === 'object' ? require('./cluster-model.js') : { seconds, groupStyle };

// How long a partition went unread, as the producer measured it: between two bounds, since it looks at the
// cluster every half second.
function pauseText(pause) {
  if (pause.still_unread) return 'nobody reads it now';
  if (pause.unread_ms === null || pause.unread_ms === undefined) return 'not seen read before';
  const most = timelineLib.seconds(pause.unread_ms);
  const least = pause.unread_at_least_ms || 0;
  const text = least > 0 && least < pause.unread_ms ? `unread ${timelineLib.seconds(least)}–${most}` : `unread ≤ ${most}`;
  return pause.backlog ? `${text}, ${pause.backlog} event${pause.backlog === 1 ? '' : 's'} waited` : text;
}

// One partition's fate: "P1 Consumer :8001 → Consumer :8000, unread 1.5–2.5 s".
function moveText(pause, labelOf) {
  const who = (id) => (id ? labelOf(id) : 'nobody');
  const head = pause.from === pause.to
    ? `P${pause.partition} stayed with ${who(pause.to)} (paused)`
    : `P${pause.partition} ${who(pause.from)} → ${who(pause.to)}`;
  return `${head}, ${pauseText(pause)}`;
}

// What changed, in one line: who came, who went, and where each partition went.
function rebalanceText(entry, labelOf) {
  const parts = [];
  if (entry.before_ms === null || entry.before_ms === undefined) parts.push(`${entry.group} formed`);
  else if (!entry.after.length) parts.push('every member left');
  for (const id of entry.joined) parts.push(`${labelOf(id)} joined`);
  for (const id of entry.left) parts.push(`${labelOf(id)} left`);
  if (entry.generation_before !== entry.generation_after && entry.generation_after !== null) {
    parts.push(`${entry.protocol === 'consumer' ? 'epoch' : 'generation'} ${entry.generation_before ?? '?'} → ${entry.generation_after}`);
  }
  for (const pause of entry.partitions) parts.push(moveText(pause, labelOf));
  return parts.join(' · ');
}

// The longest a partition may have gone unread across a rebalance (what the timeline draws as its pause).
function longestPause(entry) {
  return Math.max(0, ...entry.partitions.map((p) => p.unread_ms || 0));
}

// Per group, its rebalances newest first, with where to draw them on an axis ending at `now` and spanning
// `windowMs`: { name, style, entries: [{ seq, at, text, x, width }] } (x and width in 0..1 of the axis).
function timelineModel(history, labelOf, now, windowMs) {
  const groups = new Map();
  for (const entry of history || []) {
    if (!groups.has(entry.group)) {
      groups.set(entry.group, { name: entry.group, style: timelineLib.groupStyle(entry.group), entries: [] });
    }
    const pause = longestPause(entry);
    const start = Math.max(entry.at_ms - pause, now - windowMs);
    const x = Math.min(1, Math.max(0, (start - (now - windowMs)) / windowMs));
    const end = Math.min(1, Math.max(0, (entry.at_ms - (now - windowMs)) / windowMs));
    groups.get(entry.group).entries.unshift({
      seq: entry.seq,
      at: String(entry.at).slice(0, 8),
      atMs: entry.at_ms,
      pauseMs: pause,
      text: rebalanceText(entry, labelOf),
      x,
      width: Math.max(end - x, 0),
      visible: entry.at_ms >= now - windowMs,
    });
  }
  return [...groups.values()].sort((a, b) => a.name.localeCompare(b.name));
}

if (typeof module === 'object') {
  module.exports = { pauseText, moveText, rebalanceText, longestPause, timelineModel };
}
