// kafka-lab's lab page: the live diagram, drawn as SVG without a library. Producer → the topic's partitions
// (leader broker, end offset) → the members of each group, an arrow per owned partition in the group's colour,
// glyph and line pattern, with the group's lag on it. Unassigned partitions and idle members say why.
// Wide screens get three columns; narrow ones (phones) two, with shorter words. cluster-model.js computes
// what is drawn; this file only places it.

'use strict';

const SVG_NS = 'http://www.w3.org/2000/svg';

const LAYOUTS = {
  wide: { width: 880, producer: { x: 6, w: 120 }, topic: { x: 160, w: 300 }, groups: { x: 540, w: 334 }, font: 13, wrap: 46 },
  narrow: { width: 360, producer: null, topic: { x: 2, w: 150 }, groups: { x: 196, w: 162 }, font: 12, wrap: 22 },
};

function svg(tag, attributes = {}, text = null) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== null && value !== undefined) node.setAttribute(name, value);
  }
  if (text !== null) node.textContent = text;
  return node;
}

// Splits text into lines of at most `width` characters, at spaces.
function wrapText(text, width) {
  const lines = [''];
  for (const word of String(text).split(' ')) {
    const last = lines[lines.length - 1];
    if (last && last.length + word.length + 1 > width) lines.push(word);
    else lines[lines.length - 1] = last ? `${last} ${word}` : word;
  }
  return lines;
}

// Text lines starting at (x, y), 15 px apart; `title` becomes the tooltip.
function textBlock(parent, x, y, lines, attributes = {}) {
  const text = svg('text', { x, y, ...attributes });
  lines.forEach((line, i) => text.append(svg('tspan', { x, dy: i ? 15 : 0 }, line)));
  parent.append(text);
  return text;
}

// Where everything goes: partition rows on the left, group boxes with member rows on the right.
function placeDiagram(model, layout) {
  const rows = new Map();
  let y = 74;
  for (const p of model.partitions) {
    rows.set(p.partition, { y, h: 58 });
    y += 66;
  }
  const topicBottom = y;
  const groups = [];
  let gy = 8;
  for (const group of model.groups) {
    const box = { group, y: gy, members: [], unassigned: [] };
    let my = gy + 40;
    for (const member of group.members) {
      const reads = member.partitions.map((p) => `P${p}${lagText(group, p)}`).join(', ');
      const lines = wrapText(member.idle ? `idle: ${member.idle}` : `reads ${reads}`, layout.wrap);
      const h = Math.max(26 + lines.length * 15, 18 + member.partitions.length * 10);
      box.members.push({ member, y: my, h, lines });
      my += h + 6;
    }
    for (const lost of group.unassigned) {
      const lines = wrapText(`P${lost.partition} unassigned: ${lost.reason}`, layout.wrap);
      const h = 14 + lines.length * 15;
      box.unassigned.push({ lost, y: my, h, lines });
      my += h + 6;
    }
    box.h = Math.max(my - gy + 2, 48);
    groups.push(box);
    gy += box.h + 16;
  }
  return { rows, groups, height: Math.max(topicBottom, gy, 120) + 8 };
}

function drawDiagram(container, model, moves, narrow) {
  const layout = narrow ? LAYOUTS.narrow : LAYOUTS.wide;
  const place = placeDiagram(model, layout);
  const root = svg('svg', {
    viewBox: `0 0 ${layout.width} ${place.height}`,
    role: 'img',
    'aria-labelledby': 'diagram-title diagram-desc',
    class: `diagram ${narrow ? 'narrow' : 'wide'}`,
    'font-size': layout.font,
  });
  root.append(svg('title', { id: 'diagram-title' }, `How ${model.topic} is read`));
  root.append(svg('desc', { id: 'diagram-desc' }, describeModel(model)));
  root.append(arrowMarkers(model));
  drawProducer(root, layout, place);
  drawTopic(root, layout, model, place, moves);
  for (const box of place.groups) drawGroup(root, layout, box);
  drawArrows(root, layout, model, place);
  container.replaceChildren(root);
}

// One arrowhead per group colour.
function arrowMarkers(model) {
  const defs = svg('defs');
  const colours = [{ name: 'none', colour: '#6b7280' }, ...model.groups.map((g) => ({ name: g.name, colour: g.style.colour }))];
  colours.forEach(({ colour }, i) => {
    const marker = svg('marker', { id: `head-${i}`, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' });
    marker.append(svg('path', { d: 'M 0 0 L 10 5 L 0 10 z', fill: colour }));
    defs.append(marker);
  });
  return defs;
}

function drawProducer(root, layout, place) {
  if (!layout.producer) return; // narrow: the topic's title says where events come from
  const { x, w } = layout.producer;
  const y = Math.max(74, (place.rows.size ? [...place.rows.values()][0].y : 74));
  const g = svg('g', { class: 'producer-box' });
  g.append(svg('rect', { x, y, width: w, height: 56, rx: 8 }));
  textBlock(g, x + 12, y + 24, ['Producer'], { class: 'strong' });
  textBlock(g, x + 12, y + 42, ['POST / → Kafka'], { class: 'muted' });
  root.append(g);
  root.append(svg('path', { d: `M ${x + w} ${y + 28} L ${layout.topic.x - 4} ${y + 28}`, class: 'flow', 'marker-end': 'url(#head-0)' }));
}

function drawTopic(root, layout, model, place, moves) {
  const { x, w } = layout.topic;
  const g = svg('g', { class: 'topic' });
  const height = Math.max(place.height - 16, 80);
  g.append(svg('rect', { x, y: 8, width: w, height, rx: 10, class: 'topic-box' }));
  textBlock(g, x + 12, 30, [layout.producer ? model.topic : `${model.topic} ← producer`], { class: 'strong' });
  let bx = x + 12;
  for (const broker of model.brokers) {
    const chip = svg('g', { class: `broker ${broker.up ? 'up' : 'down'}`, 'data-broker': broker.id, 'data-up': broker.up });
    const label = `${broker.up ? '✓' : '✗'} ${layout.producer ? broker.label : `b${broker.id}`}${broker.up ? '' : ' down'}`;
    const width = label.length * (layout.font * 0.62) + 12;
    chip.append(svg('title', {}, `${broker.label}${broker.address ? ` at ${broker.address}` : ''}: ${broker.up ? 'up' : broker.problem || 'down'}`));
    chip.append(svg('rect', { x: bx, y: 40, width, height: 22, rx: 11 }));
    textBlock(chip, bx + 6, 56, [label]);
    g.append(chip);
    bx += width + 6;
  }
  for (const p of model.partitions) g.append(partitionRow(layout, p, place.rows.get(p.partition), moves[p.partition]));
  if (!model.partitions.length) {
    textBlock(g, x + 12, 96, wrapText(model.exists === false ? `${model.topic} does not exist` : 'no partitions', layout.wrap / 1.6), { class: 'warn' });
  }
  root.append(g);
}

function partitionRow(layout, p, row, move) {
  const { x, w } = layout.topic;
  const g = svg('g', { class: `partition${p.offline ? ' offline' : ''}`, 'data-partition': p.partition, 'data-leader': p.leader ?? '', 'data-end': p.end ?? '' });
  g.append(svg('rect', { x: x + 8, y: row.y, width: w - 16, height: row.h, rx: 6, fill: `hsl(${partitionHue(p.partition)} 85% 93%)` }));
  const leader = p.leader === null || p.leader === undefined ? 'no leader' : `leader broker ${p.leader}`;
  const narrow = !layout.producer;
  textBlock(g, x + 18, row.y + 22, [`P${p.partition}  ${narrow ? `leader ${p.leader ?? '–'}` : leader}`], { class: 'strong' });
  const detail = narrow ? `end ${p.end ?? '?'}` : `end offset ${p.end ?? '?'} · replicas ${p.replicas.join(',')} · ISR ${p.isr.join(',') || 'none'}`;
  textBlock(g, x + 18, row.y + 42, [p.offline ? 'offline: no leader' : detail], { class: p.offline ? 'warn' : 'muted' });
  if (move) textBlock(g, x + w - 14, row.y + 22, [`⚠ was ${move.from ?? 'none'}`], { class: 'moved', 'text-anchor': 'end' });
  g.append(svg('title', {}, `Partition ${p.partition}: ${leader}, end offset ${p.end ?? 'unknown'}, replicas ${p.replicas.join(', ')}, in-sync ${p.isr.join(', ') || 'none'}${p.problem ? `; ${p.problem}` : ''}`));
  return g;
}

function drawGroup(root, layout, box) {
  const { x, w } = layout.groups;
  const { group } = box;
  const g = svg('g', { class: 'group', 'data-group': group.name, 'data-colour': group.style.colour, 'data-glyph': group.style.glyph });
  g.append(svg('rect', { x, y: box.y, width: w, height: box.h, rx: 10, class: 'group-box', stroke: group.style.colour, 'stroke-dasharray': group.style.dash || null }));
  const generation = group.generation === null || group.generation === undefined ? '' : ` · ${group.protocol === 'consumer' ? 'epoch' : 'gen'} ${group.generation}`;
  textBlock(g, x + 10, box.y + 22, [`${group.style.glyph} ${group.name}`], { class: 'strong', fill: group.style.colour });
  textBlock(g, x + w - 10, box.y + 22, [`${group.state}${layout.producer ? generation : ''}`], { class: 'muted', 'text-anchor': 'end' });
  for (const row of box.members) g.append(memberRow(layout, group, row));
  for (const row of box.unassigned) {
    const lost = svg('g', { class: 'unassigned', 'data-group': group.name, 'data-partition': row.lost.partition, 'data-reason': row.lost.reason });
    lost.append(svg('rect', { x: x + 8, y: row.y, width: w - 16, height: row.h, rx: 6 }));
    textBlock(lost, x + 16, row.y + 18, row.lines, { class: 'warn' });
    g.append(lost);
  }
  root.append(g);
}

function memberRow(layout, group, row) {
  const { x, w } = layout.groups;
  const { member } = row;
  const g = svg('g', { class: `member${member.idle ? ' idle' : ''}`, 'data-group': group.name, 'data-member': member.label, 'data-idle': member.idle || '' });
  g.append(svg('rect', { x: x + 8, y: row.y, width: w - 16, height: row.h, rx: 6 }));
  const tag = member.kafkaLab ? '' : ' (not kafka-lab)';
  textBlock(g, x + 16, row.y + 17, [`${member.label}${layout.producer ? tag : ''}`], { class: 'strong' });
  textBlock(g, x + 16, row.y + 33, row.lines, { class: member.idle ? 'warn' : 'muted' });
  g.append(svg('title', {}, `${member.label} (member id ${member.id})${member.idle ? `: idle, ${member.idle}` : ''}`));
  return g;
}

const lagText = (group, partition) => {
  const lag = group.lag[partition] ? group.lag[partition].lag : null;
  return lag === null || lag === undefined ? '' : ` lag ${lag}`;
};

// An arrow per owned partition, from its row to its member, ending a little apart for each partition.
function drawArrows(root, layout, model, place) {
  const from = layout.topic.x + layout.topic.w - 8;
  const to = layout.groups.x + 6;
  place.groups.forEach((box, gi) => {
    const { group } = box;
    for (const row of box.members) {
      row.member.partitions.forEach((partition, i) => {
        const source = place.rows.get(partition);
        if (!source) return;
        const y1 = source.y + source.h / 2 + (gi % 3) * 6 - 6;
        const y2 = row.y + 12 + i * 10;
        root.append(svg('path', {
          d: `M ${from} ${y1} C ${from + 60} ${y1}, ${to - 60} ${y2}, ${to} ${y2}`,
          class: 'arrow', stroke: group.style.colour, 'stroke-dasharray': group.style.dash || null,
          'marker-end': `url(#head-${gi + 1})`,
          'data-group': group.name, 'data-partition': partition, 'data-member': row.member.label,
          'data-lag': group.lag[partition] ? group.lag[partition].lag ?? '' : '',
        }));
      });
    }
    for (const row of box.unassigned) {
      const source = place.rows.get(row.lost.partition);
      if (!source) continue;
      const y1 = source.y + source.h / 2;
      root.append(svg('path', { d: `M ${from} ${y1} C ${from + 60} ${y1}, ${to - 60} ${row.y + 12}, ${to} ${row.y + 12}`, class: 'arrow lost', 'marker-end': 'url(#head-0)' }));
    }
  });
}
