/// Speech front ends and the audio encoder.
