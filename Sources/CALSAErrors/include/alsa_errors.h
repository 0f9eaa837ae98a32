#ifndef KINEVOX_ALSA_ERRORS_H
#define KINEVOX_ALSA_ERRORS_H

/// Receives one formatted libasound error line ("pcm.c:2666 snd_pcm_open_noupdate: Unknown PCM hw:99")
/// and ALSA's error code (negative errno, or 0). Called on the thread that made the failing ALSA call.
typedef void (*kinevox_alsa_error_sink)(int err, const char *line);

/// Replaces libasound's default error handler (which prints "ALSA lib …" to stderr) with one that formats
/// each message and hands it to `sink`; NULL restores the default. Returns snd_lib_error_set_handler's result.
/// snd_lib_error_set_handler takes a C variadic function, which Swift cannot define: hence this C file.
int kinevox_alsa_route_errors(kinevox_alsa_error_sink sink);

#endif
