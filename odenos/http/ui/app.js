// The live cluster page: the REST API once, then the system manager's lifecycle events (SSE).
"use strict";
const LIFECYCLE = ["ComponentChanged", "ComponentManagerChanged", "ComponentConnectionChanged"];
const token = new URLSearchParams(location.hash.slice(1)).get("token");
const state = { managers: {}, gates: {}, components: {}, connections: {}, events: [] };

async function api(method, path, body) {
  const headers = { "Accept": "application/json" };
  if (token) headers["Authorization"] = "Bearer " + token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const reply = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (reply.status === 401) throw new Error("this REST port wants a token: open the page as /_cluster/#token=<token>");
  const text = await reply.text();
  return { status: reply.status, body: text ? JSON.parse(text) : null };
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const child of children) {
    node.append(child instanceof Node ? child : child === null || child === undefined ? "-" : String(child));
  }
  return node;
}

function cell(text, cls) { return el("td", cls ? { class: cls } : {}, text); }

function render() {
  const managers = document.querySelector("#managers tbody");
  managers.replaceChildren();
  const owned = {};
  for (const c of Object.values(state.components)) owned[c.cm_id] = (owned[c.cm_id] || 0) + 1;
  // A manager that holds components but is gone stays on the page, as down.
  const ids = new Set([...Object.keys(state.managers), ...Object.keys(owned)]);
  for (const id of [...ids].sort()) {
    const m = state.managers[id] || { state: "down", host: null, approved: null };
    const gate = state.managers[id] ? state.gates[id] || "-" : "DOWN";
    managers.append(el("tr", { "data-id": id }, ...[
      cell(id), cell(m.state, "state " + m.state), cell(m.host), cell(m.approved),
      cell(gate, gate), cell(owned[id] || 0)]));
  }
  const conns = {};
  for (const [id, c] of Object.entries(state.connections)) {
    for (const end of [c.logic_id, c.network_id]) (conns[end] = conns[end] || []).push(`${id} (${c.connection_type}, ${c.state})`);
  }
  const components = document.querySelector("#components tbody");
  components.replaceChildren();
  for (const id of Object.keys(state.components).sort()) {
    const c = state.components[id];
    const st = el("td", { class: "state " + c.state }, c.state);
    if (c.reason) st.append(el("div", { class: "reason" }, c.reason));
    components.append(el("tr", { "data-id": id, "data-state": c.state }, cell(id), cell(c.type),
      cell(c.cm_id), st, cell((conns[id] || []).join(", ") || "-"), cell(c.restart_policy)));
  }
  const select = document.getElementById("network");
  const networks = Object.keys(state.components).filter((id) => state.components[id].type === "Network").sort();
  const chosen = select.value;
  select.replaceChildren(...networks.map((id) => el("option", { value: id }, id)));
  if (networks.includes(chosen)) select.value = chosen;
  const events = document.getElementById("events");
  events.replaceChildren(...state.events.map((e) => el("li", {}, e)));
}

async function drawTopology() {
  const svg = document.getElementById("topology");
  const id = document.getElementById("network").value;
  svg.replaceChildren();
  if (!id || !state.components[id] || state.components[id].state !== "running") return;
  const reply = await api("GET", `/${encodeURIComponent(id)}/topology`);
  if (reply.status !== 200) return;
  const ns = "http://www.w3.org/2000/svg";
  const shape = (tag, attrs, text) => {
    const node = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    svg.append(node);
    return node;
  };
  const nodes = Object.values(reply.body.nodes || {});
  const where = {};
  nodes.forEach((n, i) => {
    const a = (2 * Math.PI * i) / Math.max(nodes.length, 1);
    where[n.node_id] = { x: 300 + 160 * Math.cos(a) * (nodes.length > 1), y: 200 + 140 * Math.sin(a) * (nodes.length > 1) };
  });
  const portAt = {};
  for (const n of nodes) {
    const ports = Object.values(n.ports || {});
    ports.forEach((p, i) => {
      const a = (2 * Math.PI * i) / Math.max(ports.length, 1);
      portAt[n.node_id + "/" + p.port_id] = { x: where[n.node_id].x + 34 * Math.cos(a), y: where[n.node_id].y + 34 * Math.sin(a), p };
    });
  }
  for (const l of Object.values(reply.body.links || {})) {
    const s = portAt[l.src_node + "/" + l.src_port], d = portAt[l.dst_node + "/" + l.dst_port];
    if (s && d) shape("line", { x1: s.x, y1: s.y, x2: d.x, y2: d.y, class: "link " + ((l.attributes || {}).oper_status || "") }).append(
      Object.assign(document.createElementNS(ns, "title"), { textContent: l.link_id }));
  }
  for (const n of nodes) {
    const w = where[n.node_id];
    shape("circle", { cx: w.x, cy: w.y, r: 26, class: "node" });
    shape("text", { x: w.x, y: w.y + 4, "text-anchor": "middle" }, n.node_id);
  }
  for (const { x, y, p } of Object.values(portAt)) {
    shape("circle", { cx: x, cy: y, r: 6, class: "port " + ((p.attributes || {}).oper_status || "") }).append(
      Object.assign(document.createElementNS(ns, "title"), { textContent: p.port_id }));
  }
}

async function load() {
  const sm = await api("GET", "/systemmanager/property");
  const instances = (sm.body && sm.body.instances) || [];
  document.getElementById("sm").textContent = "system managers: " +
    (instances.map((i) => `${i.instance} (${i.role})`).join(", ") || "none");
  const managers = await api("GET", "/systemmanager/component_managers");
  state.managers = {};
  for (const m of managers.body || []) state.managers[m.id] = m;
  state.components = (await api("GET", "/systemmanager/components")).body || {};
  state.connections = (await api("GET", "/systemmanager/connections")).body || {};
  await Promise.all(Object.keys(state.managers).map(async (id) => {
    const p = await api("GET", `/${encodeURIComponent(id)}/property`);
    state.gates[id] = p.status === 200 && p.body.zookeeper ? p.body.zookeeper.gate : "DOWN";
  }));
  render();
  await drawTopology();
}

function apply(event) {
  const body = event.body || {}, obj = body.curr || body.prev || {};
  const map = { ComponentChanged: state.components, ComponentManagerChanged: state.managers,
                ComponentConnectionChanged: state.connections }[event.event_type];
  if (!map) return;
  if (event.event_type === "ComponentChanged" && event.publisher_id !== "systemmanager") return;
  if (body.action === "delete") delete map[obj.id]; else map[obj.id] = obj;
  if (event.event_type === "ComponentManagerChanged") state.gates[obj.id] = body.action === "delete" ? "DOWN" : state.gates[obj.id];
  const time = new Date().toLocaleTimeString();
  state.events.unshift(`${time} ${event.event_type} ${body.action} ${obj.id}${obj.state ? " " + obj.state : ""}`);
  state.events.length = Math.min(state.events.length, 50);
  render();
}

async function follow() {
  const opened = await api("GET", "/event/stream");
  const sid = opened.body.subscription_id;
  await api("PUT", `/event/subscriptions/${sid}`, { systemmanager: LIFECYCLE });
  const live = document.getElementById("live");
  if (!token && window.EventSource) {
    const source = new EventSource(`/event/stream?subscription_id=${sid}`);
    source.onopen = () => { live.textContent = "live (server-sent events)"; };
    for (const type of LIFECYCLE) source.addEventListener(type, (m) => apply(JSON.parse(m.data)));
    source.onerror = () => { live.textContent = "reconnecting..."; };
    return;
  }
  live.textContent = "live (long poll)";
  for (;;) {
    const reply = await api("GET", `/event/stream?subscription_id=${sid}&timeout=25`);
    if (reply.status !== 200) { await new Promise((r) => setTimeout(r, 1000)); continue; }
    for (const event of reply.body) apply(event);
  }
}

async function start() {
  try {
    await load();
    await follow();
    document.getElementById("network").addEventListener("change", drawTopology);
    // Everything again now and then: what a lost event would have missed, the gates, the topology.
    setInterval(() => load().catch((e) => { document.getElementById("error").textContent = e.message; }), 10000);
  } catch (e) {
    document.getElementById("error").textContent = e.message;
  }
}
start();
