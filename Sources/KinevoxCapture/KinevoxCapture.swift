/// ALSA capture thread, ring buffer and energy VAD.
