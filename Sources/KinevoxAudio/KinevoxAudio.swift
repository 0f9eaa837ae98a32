/// WAV files in, 16 kHz mono Float samples out (libsndfile + libsoxr).
