"""VAD benchmark: a labelled synthetic corpus (instructions in several voices in white/pink/brown/babble noise) and a
scorer that runs Kinevox's VAD (`kinevox vad --json`), webrtcvad and Silero VAD v6 on the same files.

Run from Training/:  python -m kinevox_train.vadbench --kinevox ../.build/release/kinevox
"""
