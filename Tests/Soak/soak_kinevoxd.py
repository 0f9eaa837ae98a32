"""Soak benchmark for kinevoxd: many push-to-talk utterances through ONE daemon process.

Starts the release kinevoxd on a scratch configuration (capture from an ALSA device that never opens,
`hw:99`, as on a machine without a sound card, so the capture thread keeps retrying; upload rate limit
raised), uploads spoken instructions
(made with espeak-ng) over one WebSocket one after another, and for each waits until the daemon answers
it (`utterance`, then `motion.begin` with the same id). Samples the daemon's RSS from /proc after a
warm-up and at the end. Prints the numbers and, with --report, writes them into docs/daemon.md.

Usage (from the repository root, after `swift build -c release`):
    .venv/bin/python Tests/Soak/soak_kinevoxd.py --utterances 10000 [--model PATH] [--report docs/daemon.md]
"""
import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import wave

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kinevox_ws import WebSocketClient  # noqa: E402

TIMEOUT_S = 30
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PHRASES = [
    "walk forward", "turn left and wave", "jump twice", "sit down", "run in a circle",
    "kick with the right leg", "raise both arms", "walk backwards slowly",
]


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def speak(folder):
    clips = []
    for index, phrase in enumerate(PHRASES):
        path = os.path.join(folder, f"phrase{index}.wav")
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "160", "-w", path, phrase], check=True)
        with wave.open(path) as wav:
            assert wav.getsampwidth() == 2 and wav.getnchannels() == 1
            clips.append((phrase, wav.readframes(wav.getnframes()), wav.getframerate()))
    return clips


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--utterances", type=int, default=10000)
    parser.add_argument("--model", default="", help="model file (default: the bundled model)")
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build/release/kinevoxd"))
    parser.add_argument("--warmup", type=int, default=100, help="utterances before the first RSS sample")
    parser.add_argument("--report", help="write the results into this markdown file's soak section")
    args = parser.parse_args()

    scratch = tempfile.mkdtemp(prefix="kinevoxd-soak-")
    clips = speak(scratch)
    port = free_port()
    config = os.path.join(scratch, "kinevox.toml")
    model_path = os.path.abspath(args.model) if args.model else os.path.join(ROOT, "Models/kinevox-default.safetensors")
    with open(config, "w") as out:
        out.write(f"""[capture]
device = "hw:99"
[model]
path = "{model_path}"
threads = 2
[server]
listen = "127.0.0.1:{port}"
viewer_dir = "{os.path.join(ROOT, 'Sources/KinevoxServer/Viewer')}"
max_upload_seconds = 15.0
max_uploads_per_minute = 1000000
[log]
level = "info"
""")
    log_path = os.path.join(scratch, "kinevoxd.log")
    log = open(log_path, "w")
    daemon = subprocess.Popen([args.binary, "--config", config], stderr=log)
    try:
        deadline = time.time() + 60
        client = None
        while client is None:
            try:
                client = WebSocketClient("127.0.0.1", port, timeout=TIMEOUT_S)
            except OSError:
                if daemon.poll() is not None or time.time() > deadline:
                    raise SystemExit(f"kinevoxd did not start; see {log_path}")
                time.sleep(0.2)
        hello = client.receive_json()
        assert hello["type"] == "hello", hello

        latencies, answered, rss_start, started = [], 0, None, time.time()
        out_of_order = 0  # motion.begin received before its utterance message
        begun = set()
        for number in range(args.utterances):
            phrase, pcm, rate = clips[number % len(clips)]
            sent = time.monotonic()
            client.upload(pcm, rate)
            utterance_id = None
            try:
                while True:
                    message = client.receive_json()
                    kind = message.get("type")
                    if kind == "motion.begin":
                        begun.add(message["id"])
                    if kind == "utterance" and utterance_id is None:
                        utterance_id = message["id"]
                        if utterance_id in begun:
                            out_of_order += 1
                            break
                    elif kind == "motion.begin" and message.get("id") == utterance_id:
                        break
                    elif kind == "error":
                        raise SystemExit(f"utterance {number} ({phrase!r}) refused: {message}")
            except TimeoutError:
                raise SystemExit(f"utterance {number} ({phrase!r}): no answer within {TIMEOUT_S} s "
                                 f"(utterance id {utterance_id}); see {log_path}")
            latencies.append((time.monotonic() - sent) * 1000)
            answered += 1
            if daemon.poll() is not None:
                raise SystemExit(f"kinevoxd exited with {daemon.returncode} after {answered} utterances")
            if number + 1 == args.warmup:
                rss_start = rss_kib(daemon.pid)
            if (number + 1) % 500 == 0:
                print(f"{number + 1} answered, RSS {rss_kib(daemon.pid) / 1024:.1f} MiB, "
                      f"p50 {statistics.median(latencies[-500:]):.0f} ms", flush=True)
        rss_end = rss_kib(daemon.pid)
        elapsed = time.time() - started
        client.close()
    finally:
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=10)
        log.close()

    if rss_start is None:
        rss_start = rss_end
    growth = (rss_end - rss_start) / rss_start * 100
    latencies.sort()
    results = {
        "utterances sent": args.utterances,
        "utterances answered (utterance + motion.begin)": answered,
        "motion.begin before its utterance message": out_of_order,
        "daemon exit status after SIGTERM": daemon.returncode,
        "wall time": f"{elapsed:.0f} s ({answered / elapsed:.2f} utterances/s)",
        "upload → motion.begin latency": f"p50 {latencies[len(latencies) // 2]:.0f} ms, "
                                         f"p99 {latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]:.0f} ms",
        f"RSS after {min(args.warmup, answered)} utterances": f"{rss_start / 1024:.1f} MiB",
        "RSS at the end": f"{rss_end / 1024:.1f} MiB",
        "RSS growth": f"{growth:+.2f} % (limit 5 %)",
    }
    for key, value in results.items():
        print(f"{key}: {value}")
    passed = answered == args.utterances and growth < 5 and daemon.returncode == 0
    print("soak:", "PASS" if passed else "FAIL")
    if args.report:
        write_report(args, results, passed)
    return 0 if passed else 1


def write_report(args, results, passed):
    marker_begin, marker_end = "<!-- soak:begin -->", "<!-- soak:end -->"
    command = "python Tests/Soak/soak_kinevoxd.py --utterances " + str(args.utterances) + \
              (" --model " + args.model if args.model else "") + " --report " + args.report
    lines = [marker_begin, f"Command: `{command}` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
             f"{os.cpu_count()} CPU cores shared with other jobs)", "", "| measure | value |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in results.items()]
    lines += ["", f"Result: **{'PASS' if passed else 'FAIL'}**", marker_end]
    text = open(args.report).read() if os.path.exists(args.report) else ""
    if marker_begin in text and marker_end in text:
        head, rest = text.split(marker_begin, 1)
        text = head + "\n".join(lines) + rest.split(marker_end, 1)[1]
    else:
        text += "\n" + "\n".join(lines) + "\n"
    with open(args.report, "w") as out:
        out.write(text)


if __name__ == "__main__":
    sys.exit(main())
