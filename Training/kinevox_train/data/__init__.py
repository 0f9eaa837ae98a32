"""Kinevox dataset: Bandai-Namco motion capture -> HumanML3D-263, captions, many-voice speech.

One command per step, run from Training/: ``python -m kinevox_train.data.motion``, ``.captions``,
``.speech``, ``.build`` (all of them). See docs/dataset.md for the on-disk layout.
"""
