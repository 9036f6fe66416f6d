// The dashboard: polls the admin API every two seconds (counters, chart, clients, topics); publishes through
// the admin API; subscribes through the broker's own WebSocket listener when one is configured.
"use strict";

const api = (path, options) => fetch(path, Object.assign({ credentials: "same-origin" }, options)).then(async (response) => {
  if (!response.ok) {
    let message = response.status + " " + response.statusText;
    try { message = (await response.json()).error.message; } catch (_) { /* not JSON */ }
    throw new Error(message);
  }
  return response.status === 204 ? null : response.json();
});

const element = (tag, attributes = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value); else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
};

const history = [];          // {received, sent} per second
let previous = null;
let broker = null;

const counters = [
  ["connectedClients", "clients connected"], ["sessions", "sessions"], ["subscriptions", "subscriptions"],
  ["retainedMessages", "retained messages"], ["messagesReceived", "messages received"],
  ["messagesSent", "messages sent"], ["messagesDropped", "messages dropped"], ["inflightMessages", "in flight"],
  ["queuedMessages", "queued"], ["bytesReceived", "bytes received"], ["bytesSent", "bytes sent"],
];

function formatDuration(seconds) {
  const d = Math.floor(seconds / 86400), h = Math.floor(seconds / 3600) % 24, m = Math.floor(seconds / 60) % 60;
  return (d ? d + "d " : "") + (d || h ? h + "h " : "") + m + "m " + (seconds % 60) + "s";
}

function renderBroker(data) {
  document.getElementById("version").textContent = "version " + data.version;
  document.getElementById("uptime").textContent = "up " + formatDuration(data.uptimeSeconds);
  document.getElementById("role").textContent = data.role;
  document.body.classList.toggle("read-only", data.role !== "admin");
  const cards = document.getElementById("counters");
  cards.replaceChildren(...counters.map(([key, name]) =>
    element("div", { class: "card", "data-counter": key },
      element("div", { class: "value" }, String(data[key])), element("div", { class: "name" }, name))));
  const now = performance.now();
  if (previous) {
    const seconds = (now - previous.time) / 1000;
    history.push({ received: (data.messagesReceived - previous.received) / seconds,
                   sent: (data.messagesSent - previous.sent) / seconds });
    if (history.length > 60) history.shift();
  }
  previous = { time: now, received: data.messagesReceived, sent: data.messagesSent };
  drawChart();
}

function drawChart() {
  const canvas = document.getElementById("throughput");
  const scale = window.devicePixelRatio || 1;
  canvas.width = canvas.clientWidth * scale; canvas.height = canvas.clientHeight * scale;
  const context = canvas.getContext("2d");
  context.scale(scale, scale);
  const width = canvas.clientWidth, height = canvas.clientHeight, pad = 30;
  context.clearRect(0, 0, width, height);
  const top = Math.max(1, ...history.map((h) => Math.max(h.received, h.sent)));
  context.strokeStyle = "#e3e6ec"; context.fillStyle = "#6b7385"; context.font = "11px sans-serif";
  for (let i = 0; i <= 4; i++) {
    const y = pad / 2 + (height - pad) * i / 4;
    context.beginPath(); context.moveTo(pad, y); context.lineTo(width, y); context.stroke();
    context.fillText((top * (4 - i) / 4).toFixed(top < 4 ? 2 : 0), 0, y + 4);
  }
  const line = (key, color) => {
    context.strokeStyle = color; context.lineWidth = 2; context.beginPath();
    history.forEach((h, i) => {
      const x = pad + (width - pad) * i / 59, y = pad / 2 + (height - pad) * (1 - h[key] / top);
      if (i === 0) context.moveTo(x, y); else context.lineTo(x, y);
    });
    context.stroke();
  };
  line("received", getComputedStyle(document.documentElement).getPropertyValue("--in"));
  line("sent", getComputedStyle(document.documentElement).getPropertyValue("--out"));
}

function renderClients(sessions) {
  const rows = sessions.map((s) => element("tr", { "data-client-id": s.clientID },
    element("td", { class: "client-id" }, s.clientID),
    element("td", { class: s.connected ? "connected" : "disconnected" }, s.connected ? "connected" : "disconnected"),
    element("td", {}, s.protocolVersion),
    element("td", {}, s.username || ""),
    element("td", {}, s.remoteAddress || ""),
    element("td", {}, s.subscriptions.map((sub) => sub.topicFilter + " (QoS " + sub.qos + ")").join(", ")),
    element("td", {}, String(s.inflight)),
    element("td", {}, String(s.queued)),
    element("td", { class: "admin-only" },
      s.connected ? element("button", { onclick: () => act("POST", s.clientID, "/disconnect") }, "Disconnect") : "",
      " ",
      element("button", { class: "danger", onclick: () => act("DELETE", s.clientID, "") }, "Delete session"))));
  document.querySelector("#clients tbody").replaceChildren(...rows);
}

function act(method, clientID, suffix) {
  api("api/v1/sessions/" + encodeURIComponent(clientID) + suffix, { method }).then(refresh, showError);
}

function renderTopics(messages) {
  const root = {};
  for (const message of messages) {
    let node = root;
    for (const level of message.topic.split("/")) node = (node[level] = node[level] || {});
    node["\u0000"] = message.payload !== undefined && message.payload !== null ? message.payload : "(binary, base64) " + message.payloadBase64;
  }
  const build = (node, depth) => Object.keys(node).filter((k) => k !== "\u0000").sort().map((level) => {
    const child = node[level];
    const value = child["\u0000"];
    const childKeys = Object.keys(child).filter((k) => k !== "\u0000");
    const label = [element("span", {}, level === "" ? "(empty)" : level)];
    if (value !== undefined) label.push(element("span", { class: "value" }, value));
    if (childKeys.length === 0) return element("div", { class: "leaf" }, ...label);
    const details = element("details", depth < 2 ? { open: "" } : {}, element("summary", {}, ...label), ...build(child, depth + 1));
    return details;
  });
  document.getElementById("topic-tree").replaceChildren(...build(root, 0));
}

function showError(error) {
  document.getElementById("status").textContent = "⚠ " + error.message;
}

async function refresh() {
  try {
    broker = await api("api/v1/broker");
    renderBroker(broker);
    const search = document.getElementById("client-search").value;
    renderClients((await api("api/v1/sessions?search=" + encodeURIComponent(search))).sessions);
    const retained = (await api("api/v1/retained?filter=%23")).messages;
    if (document.getElementById("show-sys").checked) {
      retained.push(...(await api("api/v1/retained?filter=" + encodeURIComponent("$SYS/#"))).messages);
    }
    renderTopics(retained);
    document.getElementById("status").textContent = "live";
    setupSubscribe();
  } catch (error) {
    showError(error);
  }
}

document.getElementById("client-search").addEventListener("input", refresh);
document.getElementById("show-sys").addEventListener("change", refresh);

document.getElementById("publish-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.target;
  const body = { topic: form.topic.value, payload: form.payload.value, qos: Number(form.qos.value), retain: form.retain.checked };
  api("api/v1/publish", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) })
    .then((result) => { document.getElementById("publish-result").textContent = "delivered to " + result.deliveredTo; refresh(); },
          (error) => { document.getElementById("publish-result").textContent = error.message; });
});

let subscribeReady = false;
let client = null;
function setupSubscribe() {
  if (subscribeReady || !broker) return;
  subscribeReady = true;
  const status = document.getElementById("subscribe-status");
  const listener = broker.webSocketListeners[0];
  if (!listener) {
    status.textContent = "The broker has no WebSocket listener (listener PORT + protocol websockets): subscribing from here needs one.";
    document.getElementById("subscribe-form").hidden = true;
    return;
  }
  const form = document.getElementById("subscribe-form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const filter = form.filter.value;
    const subscribeNow = () => client.subscribe(filter);
    if (client) { subscribeNow(); return; }
    const url = (listener.tls ? "wss://" : "ws://") + location.hostname + ":" + listener.port + "/mqtt";
    client = new MQTTWebSocket(url, "tern-dashboard-" + Math.random().toString(16).slice(2, 10),
      (topic, payload, retained) => {
        const list = document.getElementById("subscribe-messages");
        list.prepend(element("li", {}, topic + (retained ? " (retained)" : "") + ": " + payload));
        while (list.children.length > 200) list.lastChild.remove();
      },
      (state) => { status.textContent = state; if (state === "connected") subscribeNow(); });
  });
  // A link to the dashboard can subscribe at once: /#subscribe=sensors%2F%23
  const linked = new URLSearchParams(location.hash.slice(1)).get("subscribe");
  if (linked) {
    form.filter.value = linked;
    form.requestSubmit();
  }
}

refresh();
setInterval(refresh, 2000);
