"""Latency through kinevoxd: end of speech -> first motion frame on the WebSocket, plus idle CPU and RSS.

    python -m kinevox_train.bench.daemon_latency --binary ../.build/release/kinevoxd --model M.safetensors \
        --audio a.wav b.wav [--uploads 40] [--listen-utterances 44] [--idle-seconds 10] [--microphone-only]

Push-to-talk: each WAV is uploaded over the WebSocket (`audio.begin`, binary chunks, `audio.end`); the latency
runs from sending `audio.end` (the end of speech) to the first `frame` message of that utterance.
Microphone path (`microphone_stream`): `--listen-utterances` spoken commands in three voices (espeak-ng,
flite, Pico), a third of them two-step commands with a natural 300–600 ms pause inside ("walk forward …
then wave"), 2 s of quiet room noise after each, played by the daemon's ALSA `file:` source at real-time
pace. The stream's time origin is the daemon's "capture: opened" log line (CLOCK_REALTIME, ms), so each
first `frame` is placed on the file's timeline: latency = first frame − the command's true end of speech
(from the clean TTS). A command cut early is one whose first motion started more than 200 ms before its end
of speech, or a two-step command that got more than one motion (cut at its inner pause). A command with no
motion at all (the model did not understand it, or the VAD missed it) is counted apart. It runs once with the
shipped `[vad]` settings and once per extra setting in `MICROPHONE_VARIANTS`. CPU while listening: the
daemon's CPU time (from /proc) over the stream's 8 s lead-in of room noise, before the first command.
Idle: CPU time of the daemon while it listens to digital silence with no utterance in flight.
Prints one JSON object.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import wave

import numpy as np

from .stats import latency_summary

ROOT = pathlib.Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "Tests" / "Soak"))
from kinevox_ws import WebSocketClient  # noqa: E402

# Microphone stream: single commands, and two-step commands whose parts are spoken apart with a pause inside.
# Commands inside the bundled model's vocabulary (its understanding head refuses the rest, as it should), in
# everyday words rather than the command list's own phrasings.
SINGLE_COMMANDS = ["walk forward", "wave your right hand", "take a bow", "raise both hands up", "kick forward with one leg",
                   "run forward", "walk backward", "punch forward", "wave goodbye with both hands",
                   "turn to the left while walking", "raise your left hand", "sprint forward"]
TWO_STEP_COMMANDS = [("walk forward", "then wave your right hand"), ("take a bow", "then raise both hands"),
                     ("run forward", "and then kick"), ("walk backward", "then bow"),
                     ("raise your right hand", "then wave goodbye")]
LEAD_IN_S, GAP_S, INNER_PAUSE_S = 8.0, 2.0, (0.3, 0.6)
EARLY_TOLERANCE_S = 0.2
# Extra runs of the microphone stream next to the shipped settings: [vad] overrides and what they show.
MICROPHONE_VARIANTS = {"confirmed pause only (early_end_confidence = 0)": {"early_end_confidence": 0.0},
                       "hangover 700 ms (hangover_ms = 700)": {"hangover_ms": 700}}


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


def _quiet(rng: np.random.Generator, seconds: float) -> np.ndarray:
    return rng.normal(0, 30, int(seconds * 16000))  # about -61 dBFS of room noise


def microphone_stream(count: int, out: pathlib.Path, seed: int = 0) -> list[dict]:
    """Writes the microphone stream (16 kHz mono WAV) and returns one truth entry per command: text, voice,
    start_s, end_s and, for two-step commands, pause_s (the inner pause's start and end)."""
    from ..data import voices
    from ..vadbench.corpus import speech_span

    speakers = [voices.Voice("espeak-ng", "en-us", 50, 160), voices.Voice("flite", "slt"), voices.Voice("pico", "en-US")]
    rng = np.random.default_rng(seed)

    def spoken(text: str, voice) -> np.ndarray:
        audio = voices.synthesize(voice, text).astype(np.float64)
        start, end = speech_span(audio)
        audio = audio[start:end]
        level = -26 + rng.uniform(-3, 3)
        return audio * 32768 * 10 ** ((level - 10 * np.log10(np.mean(audio ** 2) + 1e-20)) / 20)

    parts, truth, position = [_quiet(rng, LEAD_IN_S)], [], int(LEAD_IN_S * 16000)
    for i in range(count):
        voice = speakers[i % len(speakers)]
        entry: dict = {"voice": voice.id, "start_s": position / 16000}
        if i % 3 == 2:
            first, second = TWO_STEP_COMMANDS[(i // 3) % len(TWO_STEP_COMMANDS)]
            a, b = spoken(first, voice), spoken(second, voice)
            pause = np.zeros(int(rng.uniform(*INNER_PAUSE_S) * 16000))
            speech = np.concatenate([a, pause, b])
            entry.update(text=f"{first} … {second}", pause_s=[(position + len(a)) / 16000, (position + len(a) + len(pause)) / 16000])
        else:
            speech = spoken(SINGLE_COMMANDS[i % len(SINGLE_COMMANDS)], voice)
            entry["text"] = SINGLE_COMMANDS[i % len(SINGLE_COMMANDS)]
        parts += [speech + _quiet(rng, len(speech) / 16000), _quiet(rng, GAP_S)]
        position += len(speech)
        entry["end_s"] = position / 16000
        truth.append(entry)
        position += int(GAP_S * 16000)
    audio = np.clip(np.round(np.concatenate(parts)), -32768, 32767).astype("<i2")
    with wave.open(str(out), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(audio.tobytes())
    return truth


class Daemon:
    """kinevoxd on a scratch config; `client()` connects a WebSocket viewer."""

    def __init__(self, binary: str, model: str, device: str, scratch: pathlib.Path, vad: dict | None = None):
        self.port = _free_port()
        config = scratch / f"kinevox-{self.port}.toml"
        vad_lines = "".join(f"{key} = {value}\n" for key, value in (vad or {}).items())
        config.write_text(f"""[capture]
device = "{device}"
[vad]
{vad_lines}[model]
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
        self.log_path = pathlib.Path(os.environ.get("KINEVOX_BENCH_DAEMON_LOG", scratch / f"kinevoxd-{self.port}.log"))
        self.log = open(self.log_path, "w")
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


def _capture_opened_at(log_path: pathlib.Path, timeout: float = 30) -> float:
    """Wall-clock time (time.time()) of the daemon's "capture: opened" log line: sample 0 of the file source."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for line in log_path.read_text().splitlines():
            if "capture: opened" in line:
                stamp = line.split()[0]
                return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp()
        time.sleep(0.05)
    raise SystemExit(f"kinevoxd never logged 'capture: opened'; see {log_path}")


def score_microphone(truth: list[dict], first_frames_s: list[float]) -> dict:
    """Places each motion's first frame (seconds on the stream's timeline) on the command it answers (the last
    command that started before it) and scores latency, early cuts and misses."""
    starts = [t["start_s"] for t in truth]
    motions: list[list[float]] = [[] for _ in truth]
    for f in sorted(first_frames_s):
        index = int(np.searchsorted(starts, f, side="right")) - 1
        if index >= 0:
            motions[index].append(f)
    latencies, cuts, missed, two_step_cuts = [], [], [], 0
    for t, frames in zip(truth, motions):
        answers = [f for f in frames if f >= t["end_s"] - EARLY_TOLERANCE_S]
        early = len(answers) < len(frames) or ("pause_s" in t and len(frames) > 1)
        if early:
            cuts.append(t["text"])
            two_step_cuts += "pause_s" in t
        if answers:
            latencies.append((answers[0] - t["end_s"]) * 1000)
        else:
            missed.append(t["text"])
    two_step = sum("pause_s" in t for t in truth)
    return {"end_of_speech_to_first_frame_ms": latency_summary(latencies), "latencies_ms": latencies,
            "commands": len(truth), "two_step_commands": two_step, "voices": sorted({t["voice"] for t in truth}),
            "early_cuts": len(cuts), "early_cut_percent": 100 * len(cuts) / len(truth),
            "two_step_cut_percent": 100 * two_step_cuts / max(two_step, 1), "cut_commands": cuts,
            "missed": missed, "motions": sum(len(m) for m in motions)}


def microphone(binary: str, model: str, count: int, scratch: pathlib.Path, vad: dict | None = None) -> dict:
    source = scratch / "microphone.wav"
    if not source.exists():
        (scratch / "microphone.json").write_text(json.dumps(microphone_stream(count, source)))
    truth = json.loads((scratch / "microphone.json").read_text())
    stream_s = truth[-1]["end_s"] + GAP_S
    daemon = Daemon(binary, model, f"file:{source}", scratch, vad)
    try:
        client = daemon.client()
        origin = _capture_opened_at(daemon.log_path)
        first_frames, seen = [], set()

        def read() -> None:  # timestamps each motion's first frame as it arrives
            try:
                while True:
                    message = client.receive_json()
                    if message.get("type") == "frame" and message["id"] not in seen:
                        seen.add(message["id"])
                        first_frames.append(time.time() - origin)
            except (OSError, ConnectionError, ValueError):
                return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        cpu = []
        for mark in (1.0, LEAD_IN_S - 1.0):
            time.sleep(max(0.0, origin + mark - time.time()))
            cpu.append((_cpu_seconds(daemon.process.pid), time.time()))
        time.sleep(max(0.0, origin + stream_s + 3 - time.time()))
        client.close()
        metrics = _speculative_metrics(daemon.port)
    finally:
        daemon.stop()
    (c0, w0), (c1, w1) = cpu
    result = score_microphone(truth, first_frames)
    result.update(vad_overrides=vad or {}, listening_cpu_fraction_of_core=(c1 - c0) / (w1 - w0),
                  speculative_runs=metrics, stream_seconds=stream_s)
    return result


def microphone_table(result: dict) -> str:
    """Markdown: one row per microphone run (shipped settings, then the variants)."""
    lines = ["| `[vad]` | end of speech → first frame p50 / p99 / max ms | cut early (two-step) | no motion | "
             "speculative runs started / used / dropped | CPU while listening |", "|---|---|---|---|---|---|"]
    runs = [("shipped defaults", result["microphone"])] + list(result.get("microphone_variants", {}).items())
    for name, run in runs:
        m, spec = run["end_of_speech_to_first_frame_ms"], run["speculative_runs"]
        lines.append(f"| {name} | {m['p50']:.0f} / {m['p99']:.0f} / {m['max']:.0f} | {run['early_cut_percent']:.1f} % "
                     f"({run['two_step_cut_percent']:.0f} %) | {len(run['missed'])} | {spec.get('started', 0)} / "
                     f"{spec.get('used', 0)} / {spec.get('dropped', 0)} | "
                     f"{run['listening_cpu_fraction_of_core'] * 100:.2f} % of a core |")
    first = result["microphone"]
    lines += ["", f"{first['commands']} commands ({first['two_step_commands']} two-step) in {', '.join(first['voices'])}; "
              "targets: p50 ≤ 250 ms, p99 ≤ 450 ms, ≤ 2 % cut early, ≤ 2 % of a core."]
    return "\n".join(lines) + "\n"


def _speculative_metrics(port: int) -> dict:
    """kinevox_speculative_runs_total by outcome, from /metrics."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    counts = {}
    for line in data.decode(errors="replace").splitlines():
        if line.startswith("kinevox_speculative_runs_total{"):
            outcome = line.split('outcome="')[1].split('"')[0]
            counts[outcome] = int(float(line.split()[-1]))
    return counts


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--binary", default=str(ROOT / ".build/release/kinevoxd"))
    p.add_argument("--model", required=True)
    p.add_argument("--audio", nargs="*", default=[], help="WAVs to upload (push-to-talk)")
    p.add_argument("--uploads", type=int, default=40)
    p.add_argument("--listen-utterances", type=int, default=44, help="commands in the microphone stream (0: skip it)")
    p.add_argument("--idle-seconds", type=float, default=10.0)
    p.add_argument("--microphone-only", action="store_true", help="skip push-to-talk (prints only the microphone runs)")
    p.add_argument("--markdown", type=pathlib.Path,
                   help="also put the microphone table between the micbench markers of this file (e.g. ../docs/vad.md)")
    args = p.parse_args(argv)
    if not args.microphone_only and not args.audio:
        p.error("--audio is needed for push-to-talk (or pass --microphone-only)")
    model = str(pathlib.Path(args.model).resolve())
    with tempfile.TemporaryDirectory(prefix="kinevox-bench-") as scratch:
        scratch = pathlib.Path(scratch)
        result = {} if args.microphone_only else \
            {"push_to_talk": push_to_talk(args.binary, model, args.audio, args.uploads, args.idle_seconds, scratch)}
        if args.listen_utterances > 0:
            result["microphone"] = microphone(args.binary, model, args.listen_utterances, scratch)
            result["microphone_variants"] = {name: microphone(args.binary, model, args.listen_utterances, scratch, vad)
                                             for name, vad in MICROPHONE_VARIANTS.items()}
            if args.markdown:
                from ..vadbench.__main__ import write_table
                write_table(args.markdown, microphone_table(result), "<!-- micbench:begin -->", "<!-- micbench:end -->")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
