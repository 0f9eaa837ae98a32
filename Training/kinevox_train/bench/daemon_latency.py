"""Latency through kinevoxd: end of speech -> first motion frame on the WebSocket, plus idle CPU and RSS.

    python -m kinevox_train.bench.daemon_latency --binary ../.build/release/kinevoxd --model M.safetensors \
        --audio a.wav b.wav [--uploads 40] [--listen-utterances 6] [--idle-seconds 10]

Push-to-talk: each WAV is uploaded over the WebSocket (`audio.begin`, binary chunks, `audio.end`); the latency
runs from sending `audio.end` (the end of speech) to the first `frame` message of that utterance.
Microphone path: the daemon captures from an ALSA `file:` source playing the same instructions separated by
silence at real-time pace; the energy VAD closes each utterance `hangover_ms` after the speech ends (reported
apart), and the latency runs from the `utterance` message (utterance closed) to its first `frame`.
Idle: CPU time of the daemon (from /proc) while it listens to silence with no utterance in flight.
Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import tempfile
import time
import wave

import numpy as np

from .stats import latency_summary

ROOT = pathlib.Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "Tests" / "Soak"))
from kinevox_ws import WebSocketClient  # noqa: E402

HANGOVER_MS = 400


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _proc_status(pid: int, key: str) -> float:
    """A /proc/PID/status value in kB (VmRSS, VmHWM)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return float(line.split()[1])
    return 0.0


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pcm(path: str) -> tuple[bytes, int]:
    with wave.open(path) as wav:
        if wav.getsampwidth() != 2 or wav.getnchannels() != 1:
            raise ValueError(f"{path}: need 16-bit mono WAV")
        return wav.readframes(wav.getnframes()), wav.getframerate()


def _listening_wav(paths: list[str], count: int, out: pathlib.Path, silence_s: float = 2.0) -> pathlib.Path:
    """16 kHz mono: 3 s of quiet noise, then `count` instructions each followed by `silence_s` of quiet noise."""
    rng = np.random.default_rng(0)
    quiet = lambda seconds: rng.normal(0, 30, int(seconds * 16000))  # noqa: E731
    parts = [quiet(3.0)]
    for i in range(count):
        pcm, rate = _pcm(paths[i % len(paths)])
        assert rate == 16000, "bench WAVs are 16 kHz"
        speech = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
        nonzero = np.flatnonzero(np.abs(speech) > 64)
        speech = speech[: nonzero[-1] + 1] if nonzero.size else speech  # the padding silence is added below
        parts += [speech + quiet(len(speech) / 16000), quiet(silence_s)]
    audio = np.clip(np.round(np.concatenate(parts)), -32768, 32767).astype("<i2")
    with wave.open(str(out), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(audio.tobytes())
    return out


class Daemon:
    """kinevoxd on a scratch config; `client()` connects a WebSocket viewer."""

    def __init__(self, binary: str, model: str, device: str, scratch: pathlib.Path):
        self.port = _free_port()
        config = scratch / f"kinevox-{self.port}.toml"
        config.write_text(f"""[capture]
device = "{device}"
[vad]
hangover_ms = {HANGOVER_MS}
[model]
path = "{model}"
threads = 2
[server]
listen = "127.0.0.1:{self.port}"
viewer_dir = "{ROOT / 'Sources/KinevoxServer/Viewer'}"
max_upload_seconds = 15.0
max_uploads_per_minute = 1000000
[log]
level = "info"
""")
        self.log_path = scratch / f"kinevoxd-{self.port}.log"
        self.log = open(os.environ.get("KINEVOX_BENCH_DAEMON_LOG", self.log_path), "w")
        self.process = subprocess.Popen([binary, "--config", str(config)], stderr=self.log)

    def client(self, timeout: float = 120) -> WebSocketClient:
        deadline = time.time() + 60
        while True:
            try:
                client = WebSocketClient("127.0.0.1", self.port, timeout=timeout)
                assert client.receive_json()["type"] == "hello"
                return client
            except OSError:
                if self.process.poll() is not None or time.time() > deadline:
                    raise SystemExit(f"kinevoxd did not start; see {self.log_path}")
                time.sleep(0.2)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=10)
        self.log.close()


def _first_frame_after(client: WebSocketClient, started: float | None) -> tuple[float, int]:
    """Waits for the next utterance's first frame: (ms from `started`, or from the utterance message, to the first
    frame; the motion's frame count from motion.begin)."""
    utterance_id, closed, frames = None, None, 0
    while True:
        message = client.receive_json()
        kind = message.get("type")
        if kind == "utterance" and utterance_id is None:
            utterance_id, closed = message["id"], time.monotonic()
        elif kind == "motion.begin" and message.get("id") == utterance_id:
            frames = int(message.get("frames", 0))
        elif kind == "frame" and message.get("id") == utterance_id:
            return (time.monotonic() - (started if started is not None else closed)) * 1000, frames
        elif kind == "error":
            raise SystemExit(f"kinevoxd refused an utterance: {message}")


def push_to_talk(binary: str, model: str, paths: list[str], uploads: int, idle_seconds: float,
                 scratch: pathlib.Path) -> dict:
    silence = scratch / "silence.wav"
    with wave.open(str(silence), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(np.zeros(16000 * 600, dtype="<i2").tobytes())
    daemon = Daemon(binary, model, f"file:{silence}", scratch)
    try:
        client = daemon.client()
        time.sleep(2.0)  # start-up work settles
        cpu0, wall0 = _cpu_seconds(daemon.process.pid), time.monotonic()
        time.sleep(idle_seconds)
        idle = (_cpu_seconds(daemon.process.pid) - cpu0) / (time.monotonic() - wall0)
        rss_idle = _proc_status(daemon.process.pid, "VmRSS") / 1024
        clips = [_pcm(p) for p in paths]
        latencies, motion_frames = [], []
        for number in range(uploads + 2):
            pcm, rate = clips[number % len(clips)]
            client.send_json({"type": "audio.begin", "sample_rate": rate, "encoding": "s16le"})
            for start in range(0, len(pcm), 16384):
                client.send_binary(pcm[start:start + 16384])
            sent = time.monotonic()
            client.send_json({"type": "audio.end"})
            first_frame_ms, frames = _first_frame_after(client, sent)
            if number >= 2:  # the first two warm the daemon up
                latencies.append(first_frame_ms)
                motion_frames.append(frames)
            time.sleep(0.05)
        rss = _proc_status(daemon.process.pid, "VmRSS") / 1024
        peak = _proc_status(daemon.process.pid, "VmHWM") / 1024
        client.close()
    finally:
        daemon.stop()
    return {"end_of_upload_to_first_frame_ms": latency_summary(latencies), "latencies_ms": latencies,
            "motion_frames_mean": float(np.mean(motion_frames)) if motion_frames else 0.0,
            "idle_cpu_fraction_of_core": idle, "idle_seconds": idle_seconds, "rss_idle_mib": rss_idle,
            "rss_after_mib": rss, "peak_rss_mib": peak, "daemon_exit_status": daemon.process.returncode}


def microphone(binary: str, model: str, paths: list[str], count: int, scratch: pathlib.Path) -> dict:
    source = _listening_wav(paths, count, scratch / "listening.wav")
    daemon = Daemon(binary, model, f"file:{source}", scratch)
    try:
        client = daemon.client()
        closed_to_frame = []
        for _ in range(count):
            first_frame_ms, _ = _first_frame_after(client, None)
            closed_to_frame.append(first_frame_ms)
        client.close()
    finally:
        daemon.stop()
    return {"utterance_closed_to_first_frame_ms": latency_summary(closed_to_frame), "latencies_ms": closed_to_frame,
            "vad_hangover_ms": HANGOVER_MS, "utterances": count}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--binary", default=str(ROOT / ".build/release/kinevoxd"))
    p.add_argument("--model", required=True)
    p.add_argument("--audio", nargs="+", required=True)
    p.add_argument("--uploads", type=int, default=40)
    p.add_argument("--listen-utterances", type=int, default=6)
    p.add_argument("--idle-seconds", type=float, default=10.0)
    args = p.parse_args(argv)
    model = str(pathlib.Path(args.model).resolve())
    with tempfile.TemporaryDirectory(prefix="kinevox-bench-") as scratch:
        scratch = pathlib.Path(scratch)
        result = {"push_to_talk": push_to_talk(args.binary, model, args.audio, args.uploads, args.idle_seconds, scratch)}
        if args.listen_utterances > 0:
            result["microphone"] = microphone(args.binary, model, args.audio, args.listen_utterances, scratch)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
