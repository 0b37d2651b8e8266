// The path as a picture: ingress port → bridge → router → … → disposition. Interior port pairs that
// only hand the packet to their peer are written on the arrow; whatever decided something is on the box.
import type { JSX } from 'preact';
import type { Highlight, Hop, TraceModel } from './trace-model.js';
import { endpointText } from './trace-model.js';

function Chip({ h }: { h: Highlight }) {
  switch (h.kind) {
    case 'rule':
      return (
        <li class={`chip rule${h.deciding ? ' deciding' : ''}`} title={h.text}>
          <span class="chip-kind">{h.deciding ? 'deciding rule' : 'rule'}</span> {h.name}: <strong>{h.action}</strong>
        </li>
      );
    case 'nat':
      return <li class="chip nat"><span class="chip-kind">NAT</span> {endpointText(h.before)} ⇒ {endpointText(h.after)}</li>;
    case 'route':
      return <li class="chip route"><span class="chip-kind">route</span> {h.text}</li>;
    case 'drop':
      return <li class="chip drop" title={h.text}><span class="chip-kind">dropped</span> {h.reason}</li>;
  }
}

function focusHop(anchor: string): void {
  const el = document.getElementById(anchor);
  if (el === null) return;
  el.scrollIntoView({ block: 'start', behavior: 'smooth' });
  el.focus({ preventScroll: true });
}

function Node({ hop }: { hop: Hop }) {
  return (
    <li class={`node node-${hop.deviceType}`}>
      <button type="button" class="node-box" onClick={() => focusHop(hop.anchor)}
        aria-label={`${hop.deviceType} ${hop.deviceName || hop.deviceId}: show its steps`}>
        <span class="node-type">{hop.deviceType}</span>
        <span class="node-name">{hop.deviceName || hop.deviceId.slice(0, 8)}</span>
      </button>
      {hop.highlights.length > 0 ? <ul class="chips">{hop.highlights.map((h) => <Chip h={h} />)}</ul> : null}
    </li>
  );
}

export function PathDiagram({ model, result, ingressPortId, complete }: {
  model: TraceModel; result: string; ingressPortId: string; complete: boolean;
}) {
  const items: JSX.Element[] = [];
  let via: string[] = [];
  const arrow = (key: string) => {
    items.push(<li class="arrow" key={key} aria-hidden={via.length === 0 ? 'true' : undefined}>
      {via.length > 0 ? <span class="via">via {via.join(' ⇄ ')}</span> : null}
    </li>);
    via = [];
  };
  if (model.hops.length === 0) {
    // Nothing recorded: the summary still names where the packet came in.
    items.push(
      <li class="node node-port" key="ingress">
        <div class="node-box"><span class="node-type">ingress port</span><span class="node-name">{ingressPortId.slice(0, 8) || '?'}</span></div>
      </li>,
    );
  }
  model.hops.forEach((hop, i) => {
    if (hop.link) { via.push(hop.deviceName || hop.deviceId.slice(0, 8)); return; }
    if (i > 0) arrow(`a${i}`);
    items.push(<Node key={hop.anchor} hop={hop} />);
  });
  if (!complete) {
    arrow('lost-in');
    items.push(
      <li class="node node-lost" key="lost">
        <div class="node-box"><span class="node-type">not recorded</span><span class="node-name">steps lost</span></div>
      </li>,
    );
  }
  arrow('end');
  items.push(
    <li class="node node-disposition" key="disposition">
      <div class={`node-box result-${result}`}>
        <span class="node-type">disposition</span>
        <span class="node-name">{result}</span>
      </div>
      <p class="outcome">{model.hops.length > 0 ? model.outcome : 'the result of the simulation; how it got there was not recorded'}</p>
    </li>,
  );
  return <ol class="path" aria-label="Path of the packet">{items}</ol>;
}
