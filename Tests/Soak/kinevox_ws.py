"""A minimal WebSocket client (RFC 6455) over the standard library, for the kinevoxd soak benchmark.

Speaks the kinevox.v1 protocol from docs: JSON text messages from the server; push-to-talk uploads as
`audio.begin` + binary s16le chunks + `audio.end`. One client per thread.
"""
import base64
import json
import os
import socket
import struct


def _xor(payload, mask):
    """payload XOR the 4-byte mask repeated (RFC 6455 masking), via big integers for speed."""
    if not payload:
        return payload
    key = (mask * (len(payload) // 4 + 1))[:len(payload)]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(len(payload), "big")


class WebSocketClient:
    def __init__(self, host, port, path="/", subprotocol="kinevox.v1", timeout=30.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        # Small messages (audio.end) go out at once, as browsers send WebSocket frames; with Nagle's algorithm
        # they would wait for the ACK of the audio before them (up to the peer's 40 ms delayed ACK).
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Protocol: {subprotocol}\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("server closed the connection during the handshake")
            self.buffer += chunk
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status = head.split(b"\r\n", 1)[0].decode()
        if " 101 " not in status + " ":
            raise ConnectionError(f"handshake refused: {status}")

    def _read_exact(self, count):
        while len(self.buffer) < count:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def _send_frame(self, opcode, payload):
        header = bytes([0x80 | opcode])
        length = len(payload)
        if length < 126:
            header += bytes([0x80 | length])
        elif length < 65536:
            header += bytes([0x80 | 126]) + struct.pack(">H", length)
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", length)
        mask = os.urandom(4)
        self.sock.sendall(header + mask + _xor(payload, mask))

    def send_text(self, text):
        self._send_frame(0x1, text.encode())

    def send_json(self, message):
        self.send_text(json.dumps(message))

    def send_binary(self, data):
        self._send_frame(0x2, data)

    def receive(self):
        """The next complete data message: str for text, bytes for binary. Answers pings."""
        message, message_opcode = b"", None
        while True:
            first, second = self._read_exact(2)
            opcode, final = first & 0x0F, bool(first & 0x80)
            length = second & 0x7F
            if length == 126:
                length = struct.unpack(">H", self._read_exact(2))[0]
            elif length == 127:
                length = struct.unpack(">Q", self._read_exact(8))[0]
            mask = self._read_exact(4) if second & 0x80 else None
            payload = self._read_exact(length)
            if mask:
                payload = _xor(payload, mask)
            if opcode == 0x9:
                self._send_frame(0xA, payload)
                continue
            if opcode == 0xA:
                continue
            if opcode == 0x8:
                raise ConnectionError("server closed the WebSocket")
            if opcode != 0x0:
                message_opcode = opcode
            message += payload
            if final:
                return message.decode() if message_opcode == 0x1 else message

    def receive_json(self):
        while True:
            message = self.receive()
            if isinstance(message, str):
                return json.loads(message)

    def upload(self, pcm_s16le, sample_rate, chunk_bytes=16384):
        """One push-to-talk utterance."""
        self.send_json({"type": "audio.begin", "sample_rate": sample_rate, "encoding": "s16le"})
        for start in range(0, len(pcm_s16le), chunk_bytes):
            self.send_binary(pcm_s16le[start:start + chunk_bytes])
        self.send_json({"type": "audio.end"})

    def close(self):
        try:
            self._send_frame(0x8, struct.pack(">H", 1000))
        finally:
            self.sock.close()
