"""VAD benchmark: a labelled synthetic corpus (espeak-ng speech in white/pink/babble noise) and a
scorer that runs Kinevox's VAD (`kinevox vad --json`), webrtcvad and silero-vad on the same files.

Run from Training/:  python -m kinevox_train.vadbench --kinevox ../.build/release/kinevox
"""
