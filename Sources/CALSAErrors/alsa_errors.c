#include "alsa_errors.h"

#include <alsa/asoundlib.h>
#include <stdarg.h>
#include <stdio.h>

static kinevox_alsa_error_sink current_sink = NULL;

static void forward_alsa_error(const char *file, int line, const char *function, int err, const char *fmt, ...) {
    kinevox_alsa_error_sink sink = current_sink;
    if (sink == NULL) return;
    char message[512];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    char formatted[768];
    if (err != 0) {
        snprintf(formatted, sizeof formatted, "%s:%d %s: %s: %s", file, line, function, message, snd_strerror(err));
    } else {
        snprintf(formatted, sizeof formatted, "%s:%d %s: %s", file, line, function, message);
    }
    sink(err, formatted);
}

int kinevox_alsa_route_errors(kinevox_alsa_error_sink sink) {
    current_sink = sink;
    return snd_lib_error_set_handler(sink == NULL ? NULL : forward_alsa_error);
}
