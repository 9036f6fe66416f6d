// A minimal MQTT 3.1.1 client over WebSocket for the dashboard's subscribe panel: CONNECT, SUBSCRIBE (QoS 0),
// incoming PUBLISH (QoS 0 and 1, acknowledged), PINGREQ. Nothing else is needed to watch topics.
"use strict";

class MQTTWebSocket {
  constructor(url, clientId, onMessage, onStatus) {
    this.onMessage = onMessage;
    this.onStatus = onStatus;
    this.buffer = new Uint8Array(0);
    this.nextId = 1;
    this.socket = new WebSocket(url, ["mqtt"]);
    this.socket.binaryType = "arraybuffer";
    this.socket.onopen = () => this.send(this.connectPacket(clientId));
    this.socket.onmessage = (event) => this.receive(new Uint8Array(event.data));
    this.socket.onclose = () => { clearInterval(this.ping); this.onStatus("disconnected"); };
    this.socket.onerror = () => this.onStatus("WebSocket error");
  }

  static utf8(text) { return new TextEncoder().encode(text); }
  static withLength(bytes) { return [bytes.length >> 8, bytes.length & 255, ...bytes]; }

  static remainingLength(length) {
    const out = [];
    do {
      let byte = length % 128;
      length = Math.floor(length / 128);
      if (length > 0) byte |= 128;
      out.push(byte);
    } while (length > 0);
    return out;
  }

  packet(type, body) { return new Uint8Array([type, ...MQTTWebSocket.remainingLength(body.length), ...body]); }

  connectPacket(clientId) {
    const body = [...MQTTWebSocket.withLength(MQTTWebSocket.utf8("MQTT")), 4, 2, 0, 60,
                  ...MQTTWebSocket.withLength(MQTTWebSocket.utf8(clientId))];
    return this.packet(0x10, body);
  }

  subscribe(filter) {
    const id = this.nextId++;
    this.send(this.packet(0x82, [id >> 8, id & 255, ...MQTTWebSocket.withLength(MQTTWebSocket.utf8(filter)), 0]));
  }

  send(bytes) { if (this.socket.readyState === WebSocket.OPEN) this.socket.send(bytes); }

  close() { this.send(new Uint8Array([0xe0, 0])); this.socket.close(); }

  receive(bytes) {
    const joined = new Uint8Array(this.buffer.length + bytes.length);
    joined.set(this.buffer); joined.set(bytes, this.buffer.length);
    this.buffer = joined;
    for (;;) {
      let length = 0, multiplier = 1, index = 1, byte;
      do {
        if (index >= this.buffer.length) return;
        byte = this.buffer[index++];
        length += (byte & 127) * multiplier;
        multiplier *= 128;
      } while (byte & 128);
      if (this.buffer.length < index + length) return;
      this.handle(this.buffer[0], this.buffer.slice(index, index + length));
      this.buffer = this.buffer.slice(index + length);
    }
  }

  handle(header, body) {
    switch (header >> 4) {
      case 2:  // CONNACK
        if (body[1] === 0) {
          this.onStatus("connected");
          this.ping = setInterval(() => this.send(new Uint8Array([0xc0, 0])), 30000);
        } else {
          this.onStatus("refused (return code " + body[1] + ")");
        }
        break;
      case 3: {  // PUBLISH
        const qos = (header >> 1) & 3;
        const topicLength = (body[0] << 8) | body[1];
        const topic = new TextDecoder().decode(body.slice(2, 2 + topicLength));
        let offset = 2 + topicLength;
        if (qos > 0) {
          const id = [body[offset], body[offset + 1]];
          offset += 2;
          if (qos === 1) this.send(new Uint8Array([0x40, 2, ...id]));
          if (qos === 2) this.send(new Uint8Array([0x50, 2, ...id]));
        }
        this.onMessage(topic, new TextDecoder().decode(body.slice(offset)), (header & 1) === 1);
        break;
      }
      case 6:  // PUBREL
        this.send(new Uint8Array([0x70, 2, body[0], body[1]]));
        break;
      case 9:  // SUBACK
        this.onStatus(body[2] === 0x80 ? "subscription refused" : "subscribed");
        break;
    }
  }
}
